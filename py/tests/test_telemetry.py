"""OpenTelemetry (libmqtt.telemetry): one trace from publisher to
subscriber through our broker and through mosquitto, with the SDK's
in-memory span exporter and metric reader; QoS 0, 1 and 2; MQTT 3.1.1 with
the payload envelope; a refused publish; the asyncio and the sync client;
nothing recorded or added when off. The formats are the Rust core's
(trace context in User Properties, the envelope), checked here through
the extension."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Dict, List, Tuple

import pytest

import libmqtt
import libmqtt.sync as mqtt
from libmqtt import telemetry as T
from libmqtt.asyncio import Client, ConnectedEvent, PublishError

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from conftest import ThreadBroker  # noqa: E402

WAIT = 10.0
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Otel:
    """An SDK tracer provider and meter provider recording in memory, and
    a Telemetry on them."""

    def __init__(self, **options: Any) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = sdk_trace.TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = T.Telemetry(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options)

    def finished(self) -> List[Any]:
        return list(self.spans.get_finished_spans())

    def span(self, kind: SpanKind, op: str) -> Any:
        found = [s for s in self.finished() if s.kind == kind and s.attributes.get(T.MESSAGING_OPERATION_NAME) == op]
        assert len(found) == 1, [s.name for s in self.finished()]
        return found[0]

    def metrics(self) -> Dict[str, List[Any]]:
        out: Dict[str, List[Any]] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data is not None else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).extend(m.data.data_points)
        return out


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def check_plausible(span: Any, started_ns: int) -> None:
    now = time.time_ns()
    assert started_ns <= span.start_time <= span.end_time <= now
    assert 0 < span.end_time - span.start_time < now - started_ns


def check_client_attributes(span: Any, client_id: str, port: int, version: str) -> None:
    a = span.attributes
    assert a[T.MESSAGING_SYSTEM] == "mqtt"
    assert a[T.MESSAGING_CLIENT_ID] == client_id
    assert a[T.SERVER_ADDRESS] == "127.0.0.1"
    assert a[T.SERVER_PORT] == port
    assert a[T.NETWORK_PROTOCOL_NAME] == "mqtt"
    assert a[T.NETWORK_PROTOCOL_VERSION] == version


def check_one_trace(otel: Otel, topic: str, template: str, qos: int, payload: bytes, started_ns: int) -> Tuple[Any, Any]:
    """The PRODUCER span and the CONSUMER receive span are one trace, the
    receive span the publish span's child; attributes as the conventions
    and semconv.rs say."""
    pub = otel.span(SpanKind.PRODUCER, "publish")
    rec = otel.span(SpanKind.CONSUMER, "receive")
    assert pub.name == f"publish {topic}"
    assert rec.name == f"receive {template}"
    assert rec.context.trace_id == pub.context.trace_id
    assert rec.parent is not None and rec.parent.span_id == pub.context.span_id
    assert pub.parent is None
    for span, op_type in ((pub, "send"), (rec, "receive")):
        a = span.attributes
        assert a[T.MESSAGING_OPERATION_TYPE] == op_type
        assert a[T.MESSAGING_DESTINATION_NAME] == topic
        assert a[T.MESSAGING_MESSAGE_BODY_SIZE] == len(payload)
        assert a[T.MQTT_QOS] == qos
        assert a[T.MQTT_RETAIN] is False
        check_plausible(span, started_ns)
    assert T.MESSAGING_DESTINATION_TEMPLATE not in pub.attributes
    assert rec.attributes[T.MESSAGING_DESTINATION_TEMPLATE] == template
    assert rec.attributes[T.MQTT_DUP] is False
    assert pub.status.status_code == StatusCode.UNSET
    return pub, rec


# ------------------------------------------------------------- the formats


def test_names_are_the_cores() -> None:
    assert (T.MESSAGING_SYSTEM, T.SYSTEM) == ("messaging.system", "mqtt")
    assert T.MESSAGING_DESTINATION_TEMPLATE == "messaging.destination.template"
    assert T.MQTT_QOS == "messaging.mqtt.message.qos"
    assert T.METRIC_OPERATION_DURATION == "messaging.client.operation.duration"
    assert T.DURATION_BUCKETS[0] == 0.005 and T.DURATION_BUCKETS[-1] == 10.0
    assert ("net.peer.name", "server.address") in T.LEGACY_NAMES
    assert T.error_type(libmqtt.ReasonCode.NOT_AUTHORIZED) == "not_authorized"
    assert T.error_type(0x97) == "quota_exceeded"
    assert T.span_name("publish", "a/+/b") == "publish a/+/b"
    assert T.protocol_version(4) == "3.1.1" and T.protocol_version(5) == "5.0"
    assert T.consumer_group("$share/g/a/#") == "g"


def test_inject_extract_keep_other_user_properties() -> None:
    ctx = T.TraceContext(TRACEPARENT, "congo=t61rcWkgMzE")
    props = [("a", "1"), ("tracestate", "old=1"), ("b", "2"), ("traceparent", "junk"), ("traceparent", "junk2")]
    out = T.inject(props, ctx)
    assert out == [("a", "1"), ("tracestate", "congo=t61rcWkgMzE"), ("b", "2"), ("traceparent", TRACEPARENT)]
    assert T.extract(out) == ctx
    assert T.inject(None, T.TraceContext(TRACEPARENT)) == [("traceparent", TRACEPARENT)]
    assert ctx.trace_id_hex == "0af7651916cd43dd8448eb211c80319c" and ctx.span_id_hex == "b7ad6b7169203331"
    assert T.TraceContext.from_ids(ctx.trace_id, ctx.span_id, 1) == T.TraceContext(TRACEPARENT)
    # Invalid values are ignored (W3C test cases), never an error.
    for bad in (TRACEPARENT.upper(), "ff" + TRACEPARENT[2:], TRACEPARENT[:-1], "00-" + "0" * 32 + TRACEPARENT[35:]):
        assert T.extract([("traceparent", bad)]) is None
        with pytest.raises(ValueError):
            T.TraceContext(bad)
    assert T.extract([("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT.replace("01", "00", 1)[:-2] + "00")]) is None
    assert T.extract(None) is None and T.extract([]) is None


def test_envelope_round_trip_and_typed_errors() -> None:
    ctx = T.TraceContext(TRACEPARENT, "congo=t61rcWkgMzE")
    wrapped = T.wrap_envelope(b"21.5", ctx)
    assert wrapped[:4] == b"\xffTC\x01" and T.is_envelope(wrapped)
    assert T.open_envelope(wrapped) == (ctx, b"21.5")
    with pytest.raises(T.NotAnEnvelope) as info:
        T.open_envelope(b'{"temp": 21.5}')
    assert isinstance(info.value, T.EnvelopeError) and isinstance(info.value, ValueError)
    assert isinstance(info.value, libmqtt.MQTTError) and info.value.kind == "NotAnEnvelope"
    with pytest.raises(T.UnsupportedEnvelopeVersion):
        T.open_envelope(b"\xffTC\x02" + wrapped[4:])
    with pytest.raises(T.TruncatedEnvelope):
        T.open_envelope(wrapped[:20])
    assert libmqtt.EnvelopeError is T.EnvelopeError


# ----------------------------------------------------------- asyncio, 5.0


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_one_trace_through_the_broker(broker_port: int, qos: int) -> None:
    """Publisher -> broker (ours and mosquitto) -> subscriber: one trace;
    the broker forwards the User Properties untouched, in order."""
    otel = Otel()
    base = uid("tel")
    topic, template = f"{base}/7/temp", f"{base}/+/temp"
    started = time.time_ns()

    async def main() -> None:
        async with Client("127.0.0.1", broker_port, client_id=uid("sub"), telemetry=otel.telemetry) as sub, Client(
            "127.0.0.1", broker_port, client_id=uid("pub"), telemetry=otel.telemetry
        ) as pub:
            await sub.subscribe(template, qos=qos)
            await pub.publish(topic, b"21.5", qos=qos, user_properties=[("unit", "celsius"), ("z", "1")])
            message = await sub.messages.get(WAIT)
            assert message.payload == b"21.5"
            props = message.properties.user_properties
            assert props[:2] == (("unit", "celsius"), ("z", "1"))
            assert [k for k, _ in props[2:]] == ["traceparent"]
            with otel.telemetry.process(message, sub) as span:
                assert span.is_recording()
            p, r = check_one_trace(otel, topic, template, qos, b"21.5", started)
            check_client_attributes(p, pub.client_id, broker_port, "5.0")
            check_client_attributes(r, sub.client_id, broker_port, "5.0")
            assert props[2][1] == T.TraceContext.from_ids(p.context.trace_id, p.context.span_id, int(p.context.trace_flags)).traceparent

    run(main())
    pub = otel.span(SpanKind.PRODUCER, "publish")
    proc = otel.span(SpanKind.CONSUMER, "process")
    assert proc.name == f"process {template}"
    assert proc.parent.span_id == pub.context.span_id
    assert proc.attributes[T.MESSAGING_OPERATION_TYPE] == "process"
    check_plausible(proc, started)
    m = otel.metrics()
    (sent,) = m[T.METRIC_SENT_MESSAGES]
    assert sent.value == 1 and sent.attributes[T.MESSAGING_DESTINATION_NAME] == topic
    assert T.ERROR_TYPE not in sent.attributes
    (consumed,) = m[T.METRIC_CONSUMED_MESSAGES]
    assert consumed.value == 1 and consumed.attributes[T.MESSAGING_DESTINATION_TEMPLATE] == template
    (duration,) = m[T.METRIC_OPERATION_DURATION]
    assert duration.count == 1 and 0 < duration.sum < (time.time_ns() - started) / 1e9
    assert tuple(duration.explicit_bounds) == T.DURATION_BUCKETS
    (processing,) = m[T.METRIC_PROCESS_DURATION]
    assert processing.count == 1
    if qos:
        (inflight,) = m[T.METRIC_INFLIGHT]
        assert inflight.value == 0
    assert sum(p.count for p in m[T.METRIC_CONNECTION_DURATION]) == 2


def test_consumer_span_linked_when_asked(our_broker: int) -> None:
    otel = Otel(consumer_context="link")
    topic = uid("link")

    async def main() -> None:
        async with Client("127.0.0.1", our_broker, telemetry=otel.telemetry) as c:
            await c.subscribe(topic, qos=1)
            await c.publish(topic, b"x", qos=1)
            await c.messages.get(WAIT)

    run(main())
    pub = otel.span(SpanKind.PRODUCER, "publish")
    rec = otel.span(SpanKind.CONSUMER, "receive")
    assert rec.parent is None and rec.context.trace_id != pub.context.trace_id
    (link,) = rec.links
    assert link.context.span_id == pub.context.span_id and link.context.trace_id == pub.context.trace_id


def test_refused_publish_has_error_status(our_broker: int) -> None:
    """Our broker with an ACL that denies the topic: PUBACK 0x87, the span
    has error status and error.type = not_authorized, so has the metric."""
    otel = Otel()
    broker = ThreadBroker(acl="topic read #\n").start()
    try:

        async def main() -> None:
            async with Client("127.0.0.1", broker.port, client_id="ro", telemetry=otel.telemetry) as c:
                with pytest.raises(PublishError):
                    await c.publish("denied/1", b"x", qos=1)

        run(main())
    finally:
        broker.stop()
    pub = otel.span(SpanKind.PRODUCER, "publish")
    assert pub.status.status_code == StatusCode.ERROR
    assert pub.attributes[T.ERROR_TYPE] == "not_authorized"
    (sent,) = otel.metrics()[T.METRIC_SENT_MESSAGES]
    assert sent.attributes[T.ERROR_TYPE] == "not_authorized"
    (duration,) = otel.metrics()[T.METRIC_OPERATION_DURATION]
    assert duration.attributes[T.ERROR_TYPE] == "not_authorized"


def test_reconnect_metrics(our_broker: int) -> None:
    otel = Otel()

    async def main() -> None:
        async with Client("127.0.0.1", our_broker, client_id=uid("re"), reconnect_delay=0.05, telemetry=otel.telemetry) as c:
            c.drop_connection()
            connected = 0
            while connected < 2:  # the first connection's event, then the new one
                event = await c.connection_events.get(WAIT)
                connected += isinstance(event, ConnectedEvent)

    run(main())
    m = otel.metrics()
    (reconnects,) = m[T.METRIC_RECONNECTS]
    assert reconnects.value == 1
    assert sum(p.count for p in m[T.METRIC_CONNECTION_DURATION]) == 2


# --------------------------------------------------------------- 3.1.1


@pytest.mark.parametrize("qos", [0, 1])
def test_v311_envelope_carries_the_trace(broker_port: int, qos: int) -> None:
    otel = Otel(envelope=True)
    topic = uid("env") + "/a"
    started = time.time_ns()

    async def main() -> None:
        async with Client("127.0.0.1", broker_port, version=4, client_id=uid("s"), telemetry=otel.telemetry) as sub, Client(
            "127.0.0.1", broker_port, version=4, client_id=uid("p"), telemetry=otel.telemetry
        ) as pub:
            await sub.subscribe(topic, qos=qos)
            await pub.publish(topic, b"21.5", qos=qos)
            message = await sub.messages.get(WAIT)
            assert message.payload == b"21.5"  # the envelope opened
            assert T.extract(message.properties.user_properties) is not None

    run(main())
    pub, rec = check_one_trace(otel, topic, topic, qos, b"21.5", started)
    assert pub.attributes[T.NETWORK_PROTOCOL_VERSION] == "3.1.1"


def test_v311_without_envelope_propagates_nothing(our_broker: int) -> None:
    otel = Otel()
    topic = uid("plain")

    async def main() -> None:
        async with Client("127.0.0.1", our_broker, version=4, client_id=uid("c"), telemetry=otel.telemetry) as c:
            await c.subscribe(topic, qos=1)
            await c.publish(topic, b"raw", qos=1)
            message = await c.messages.get(WAIT)
            assert message.payload == b"raw"

    run(main())
    rec = otel.span(SpanKind.CONSUMER, "receive")
    assert rec.parent is None
    assert rec.context.trace_id != otel.span(SpanKind.PRODUCER, "publish").context.trace_id


# ------------------------------------------------------------------ off


def test_off_records_nothing_and_adds_nothing(broker_port: int) -> None:
    otel = Otel()  # exists, but no client is given it
    topic = uid("off")

    async def main() -> None:
        async with Client("127.0.0.1", broker_port) as c:
            await c.subscribe(topic, qos=1)
            await c.publish(topic, b"x", qos=1, user_properties=[("a", "b")])
            message = await c.messages.get(WAIT)
            assert message.properties.user_properties == (("a", "b"),)

    run(main())
    assert otel.finished() == []
    assert otel.metrics() == {}


def test_off_does_not_import_opentelemetry(our_broker: int) -> None:
    code = f"""
import asyncio, sys
import libmqtt.telemetry
import libmqtt.sync
from libmqtt.asyncio import Client
async def main():
    async with Client("127.0.0.1", {our_broker}) as c:
        await c.subscribe("offimport", qos=1)
        await c.publish("offimport", b"x", qos=1)
        m = await c.messages.get(10)
        assert m.properties.user_properties == ()
asyncio.run(main())
s = libmqtt.sync.Client("offsync", protocol=libmqtt.sync.MQTTv5)
s.connect("127.0.0.1", {our_broker})
s.loop_start()
assert s.publish("offimport", b"y", 1).wait_for_publish(10)
s.disconnect()
s.loop_stop()
assert not [m for m in sys.modules if m.startswith("opentelemetry")], sorted(sys.modules)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ----------------------------------------------------------------- sync


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_sync_client_one_trace(broker_port: int, qos: int) -> None:
    otel = Otel()
    base = uid("sync")
    topic, template = f"{base}/dev-1", f"{base}/+"
    started = time.time_ns()
    got = threading.Event()
    seen: Dict[str, Any] = {}

    @otel.telemetry.processor
    def on_message(client: Any, userdata: Any, message: Any) -> None:
        seen["payload"] = message.payload
        got.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, uid("ss"), protocol=mqtt.MQTTv5, telemetry=otel.telemetry)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, uid("sp"), protocol=mqtt.MQTTv5, telemetry=otel.telemetry)
    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", broker_port)
    sub.loop_start()
    pub.connect("127.0.0.1", broker_port)
    pub.loop_start()
    try:
        sub.subscribe(template, qos)
        assert subscribed.wait(WAIT)
        assert pub.publish(topic, b"21.5", qos).wait_for_publish(WAIT)
        assert got.wait(WAIT)
    finally:
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()
    assert seen["payload"] == b"21.5"
    p, r = check_one_trace(otel, topic, template, qos, b"21.5", started)
    check_client_attributes(p, pub.client_id, broker_port, "5.0")
    proc = otel.span(SpanKind.CONSUMER, "process")
    assert proc.parent.span_id == p.context.span_id
    assert proc.attributes[T.MESSAGING_CLIENT_ID] == sub.client_id


def test_sync_refused_publish() -> None:
    otel = Otel()
    broker = ThreadBroker(acl="topic read #\n").start()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, uid("ro"), protocol=mqtt.MQTTv5, telemetry=otel.telemetry)
    try:
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        with pytest.raises(mqtt.PublishError):
            c.publish("denied/2", b"x", 1).wait_for_publish(WAIT)
    finally:
        c.disconnect()
        c.loop_stop()
        broker.stop()
    pub = otel.span(SpanKind.PRODUCER, "publish")
    assert pub.status.status_code == StatusCode.ERROR
    assert pub.attributes[T.ERROR_TYPE] == "not_authorized"


def test_noop_provider_adds_nothing(our_broker: int) -> None:
    """On with OpenTelemetry's no-op providers (the API without an SDK):
    no valid span context, so nothing is injected and nothing fails."""
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    telemetry = T.Telemetry(tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider())
    topic = uid("noop")

    async def main() -> None:
        async with Client("127.0.0.1", our_broker, telemetry=telemetry) as c:
            await c.subscribe(topic, qos=1)
            await c.publish(topic, b"x", qos=1, user_properties=[("a", "b")])
            message = await c.messages.get(WAIT)
            assert message.properties.user_properties == (("a", "b"),)
            with telemetry.process(message, c):
                pass

    run(main())


def test_async_processor_decorator(our_broker: int) -> None:
    otel = Otel()
    topic = uid("deco")
    handled: List[bytes] = []

    @otel.telemetry.processor
    async def handle(message: Any, client: Any) -> str:
        handled.append(message.payload)
        raise ValueError("bad reading")

    async def main() -> None:
        async with Client("127.0.0.1", our_broker, telemetry=otel.telemetry) as c:
            await c.subscribe(topic, qos=1)
            await c.publish(topic, b"x", qos=1)
            with pytest.raises(ValueError):
                await handle(await c.messages.get(WAIT), c)

    run(main())
    assert handled == [b"x"]
    proc = otel.span(SpanKind.CONSUMER, "process")
    assert proc.parent.span_id == otel.span(SpanKind.PRODUCER, "publish").context.span_id
    assert proc.status.status_code == StatusCode.ERROR and proc.attributes[T.ERROR_TYPE] == "ValueError"
    (processing,) = otel.metrics()[T.METRIC_PROCESS_DURATION]
    assert processing.attributes[T.ERROR_TYPE] == "ValueError"


def test_sync_v311_envelope(broker_port: int) -> None:
    otel = Otel(envelope=True)
    topic = uid("senv")
    started = time.time_ns()
    got: List[Any] = []
    arrived = threading.Event()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        got.append(message)
        arrived.set()

    sub = mqtt.Client(uid("s"), protocol=mqtt.MQTTv311, telemetry=otel.telemetry)
    pub = mqtt.Client(uid("p"), protocol=mqtt.MQTTv311, telemetry=otel.telemetry)
    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    try:
        for c in (sub, pub):
            c.connect("127.0.0.1", broker_port)
            c.loop_start()
        sub.subscribe(topic, 1)
        assert subscribed.wait(WAIT)
        assert pub.publish(topic, b"21.5", 1).wait_for_publish(WAIT)
        assert arrived.wait(WAIT)
    finally:
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()
    assert got[0].payload == b"21.5"
    check_one_trace(otel, topic, topic, 1, b"21.5", started)


# -------------------------------------------------------------- example

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "otel_trace.py")


@pytest.mark.parametrize("args", [[], ["--v311"]], ids=["v5", "v311"])
def test_example_shows_one_trace_id(mosquitto: int, args: List[str]) -> None:
    """py/examples/otel_trace.py: the same trace id on both sides, on the
    embedded broker and on mosquitto."""
    for broker in ([], ["--broker", f"127.0.0.1:{mosquitto}"]):
        out = subprocess.run([sys.executable, EXAMPLE, *broker, *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        sent = [l.split()[-1] for l in out.stdout.splitlines() if l.startswith("publisher trace id")]
        got = [l.split()[-1] for l in out.stdout.splitlines() if l.startswith("subscriber trace id")]
        assert sent == got and len(sent[0]) == 32
        assert "one trace" in out.stdout
