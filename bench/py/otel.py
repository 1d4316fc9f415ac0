"""Cost of the OpenTelemetry instrumentation (issue 16's benchmark; not a test).

    python bench/py/otel.py --port PORT [--count N]     # a broker on 127.0.0.1:PORT (mosquitto)

Publishes N messages of 32 bytes at QoS 0 and 1, in one process, and prints
msg/s and CPU microseconds per message for: ``libmqtt.asyncio`` off, on with
OpenTelemetry's no-op providers, on with the SDK (batch span processor to an
exporter that drops, metrics read in memory); ``libmqtt.sync`` off and on
with the SDK; paho-mqtt 2.x off and with the same spans and metrics made by
hand (the PRODUCER span, ``traceparent`` injected with OpenTelemetry's
propagator into the User Properties, ended in ``on_publish``; sent counter,
duration histogram, in-flight counter). Needs ``opentelemetry-sdk`` and
``paho-mqtt``. At QoS 0 the asyncio figures count until ``publish`` returns
(the last write happens just after).
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from typing import Any, Callable, Dict, Tuple

from opentelemetry import propagate, trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NoOpTracerProvider, SpanKind

import libmqtt.sync
from libmqtt.asyncio import Client
from libmqtt.telemetry import DURATION_BUCKETS, Telemetry

PAYLOAD = b"x" * 32
TOPIC = "bench/otel/1"


class Drop(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def sdk() -> Tuple[Any, Any]:
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=200_000))
    return tp, MeterProvider(metric_readers=[InMemoryMetricReader()])


def telemetry(mode: str) -> Any:
    if mode == "off":
        return None
    if mode == "noop":
        return Telemetry(tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider())
    tp, mp = sdk()
    return Telemetry(tracer_provider=tp, meter_provider=mp)


async def asyncio_run(port: int, qos: int, n: int, mode: str) -> Tuple[float, float]:
    async with Client("127.0.0.1", port, telemetry=telemetry(mode), max_inflight=100) as c:
        cpu, t0 = time.process_time(), time.perf_counter()
        if qos == 0:
            for _ in range(n):
                await c.publish(TOPIC, PAYLOAD, qos=0)
        else:
            window = asyncio.Semaphore(100)

            async def one() -> None:
                async with window:
                    await c.publish(TOPIC, PAYLOAD, qos=qos)

            await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - t0, time.process_time() - cpu


def threaded_run(port: int, qos: int, n: int, make: Callable[[], Any], publish: Callable[..., Any]) -> Tuple[float, float]:
    """paho-mqtt's API (paho itself or libmqtt.sync): publish n, wait for
    every on_publish."""
    client = make()
    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    def on_publish(c: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with lock:
            count[0] += 1
            if count[0] == n:
                done.set()

    client.on_publish = on_publish
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", port)
    client.loop_start()
    cpu, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        publish(client, qos)
    assert done.wait(120), f"{count[0]} of {n} acknowledged"
    took = time.perf_counter() - t0, time.process_time() - cpu
    client.disconnect()
    client.loop_stop()
    return took


def paho_manual(port: int, qos: int, n: int) -> Tuple[float, float]:
    """paho-mqtt with the same spans and metrics made by hand."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    tp, mp = sdk()
    tracer = tp.get_tracer("bench")
    meter = mp.get_meter("bench")
    sent = meter.create_counter("messaging.client.sent.messages")
    duration = meter.create_histogram("messaging.client.operation.duration", unit="s", explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
    inflight = meter.create_up_down_counter("mqtt.client.inflight.messages")
    pending: Dict[int, Tuple[Any, float]] = {}
    lock = threading.Lock()
    mattrs = {"messaging.system": "mqtt", "messaging.operation.name": "publish", "messaging.destination.name": TOPIC, "server.address": "127.0.0.1", "server.port": port}
    done = threading.Event()
    count = [0]

    early: set = set()

    def finish(span: Any, t0: float) -> None:
        span.end()
        sent.add(1, mattrs)
        duration.record(time.perf_counter() - t0, mattrs)
        if qos:
            inflight.add(-1, mattrs)
        with lock:
            count[0] += 1
            if count[0] == n:
                done.set()

    def on_publish(c: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with lock:
            got = pending.pop(mid, None)
            if got is None:
                early.add(mid)  # before publish() returned: its caller finishes it
                return
        finish(*got)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "paho-otel", protocol=mqtt.MQTTv5)
    client.on_publish = on_publish
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", port)
    client.loop_start()
    cpu, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        attrs = {
            "messaging.system": "mqtt", "messaging.operation.type": "send", "messaging.operation.name": "publish",
            "messaging.destination.name": TOPIC, "messaging.message.body.size": len(PAYLOAD), "messaging.client.id": "paho-otel",
            "server.address": "127.0.0.1", "server.port": port, "network.protocol.name": "mqtt", "network.protocol.version": "5.0",
            "messaging.mqtt.message.qos": qos, "messaging.mqtt.message.retain": False,
        }
        span = tracer.start_span(f"publish {TOPIC}", kind=SpanKind.PRODUCER, attributes=attrs)
        carrier: Dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = list(carrier.items())
        if qos:
            inflight.add(1, mattrs)
        t1 = time.perf_counter()
        info = client.publish(TOPIC, PAYLOAD, qos, properties=props)
        with lock:
            now = info.mid in early
            early.discard(info.mid)
            if not now:
                pending[info.mid] = (span, t1)
        if now:
            finish(span, t1)
    assert done.wait(120), f"{count[0]} of {n} acknowledged"
    took = time.perf_counter() - t0, time.process_time() - cpu
    client.disconnect()
    client.loop_stop()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    n, port = args.count, args.port
    import paho.mqtt.client as paho

    def plain_publish(c: Any, qos: int) -> None:
        c.publish(TOPIC, PAYLOAD, qos)

    print(f"{'client':28} {'qos':>3} {'msg/s':>10} {'CPU us/msg':>11}")
    def row(name: str, took: Tuple[float, float]) -> None:
        wall, cpu = took
        print(f"{name:28} {qos:>3} {n / wall:>10.0f} {cpu / n * 1e6:>11.1f}", flush=True)

    for qos in (0, 1):
        for mode in ("off", "noop", "sdk"):
            row(f"libmqtt.asyncio {mode}", asyncio.run(asyncio_run(port, qos, n, mode)))
        for mode in ("off", "sdk"):
            make = lambda mode=mode: libmqtt.sync.Client("sync-otel", protocol=libmqtt.sync.MQTTv5, telemetry=telemetry(mode))  # noqa: E731
            row(f"libmqtt.sync {mode}", threaded_run(port, qos, n, make, plain_publish))
        make_paho = lambda: paho.Client(paho.CallbackAPIVersion.VERSION2, "paho", protocol=paho.MQTTv5)  # noqa: E731
        row("paho-mqtt off", threaded_run(port, qos, n, make_paho, plain_publish))
        row("paho-mqtt + manual OTel sdk", paho_manual(port, qos, n))


if __name__ == "__main__":
    main()
