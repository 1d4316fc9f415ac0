"""One trace from publisher to subscriber, through a broker.

    pip install libmqtt[otel] opentelemetry-sdk
    python py/examples/otel_trace.py                         # embedded broker
    python py/examples/otel_trace.py --broker 127.0.0.1:1883 # e.g. mosquitto
    python py/examples/otel_trace.py --v311                  # 3.1.1: the envelope

The publisher's PRODUCER span puts its trace context into the message (5.0:
the ``traceparent`` User Property; 3.1.1: the payload envelope); the
subscriber's ``receive`` and ``process`` spans continue the same trace.
Prints every span as it ends and the trace id on each side; exits 1 if they
differ.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any, Sequence

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from libmqtt.asyncio import Broker, Client
from libmqtt.telemetry import Telemetry, extract


class PrintSpans(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        for s in spans:
            parent = f"{s.parent.span_id:016x}" if s.parent else "-"
            print(f"  span {s.name!r:28} {s.kind.name:8} trace {s.context.trace_id:032x} "
                  f"span {s.context.span_id:016x} parent {parent}")
        return SpanExportResult.SUCCESS


async def main(broker: str | None, v311: bool) -> int:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(PrintSpans()))
    telemetry = Telemetry(tracer_provider=provider, envelope=v311)
    version = 4 if v311 else 5
    async with contextlib.AsyncExitStack() as stack:
        if broker is None:
            host, port = "127.0.0.1", (await stack.enter_async_context(Broker(port=0))).port
        else:
            host, _, p = broker.rpartition(":")
            port = int(p)
        sub = await stack.enter_async_context(Client(host, port, version=version, telemetry=telemetry))
        pub = await stack.enter_async_context(Client(host, port, version=version, telemetry=telemetry))
        await sub.subscribe("demo/otel/+/temp", qos=1)

        with provider.get_tracer("example").start_as_current_span("read sensor") as root:
            sent = f"{root.get_span_context().trace_id:032x}"
            await pub.publish("demo/otel/7/temp", b"21.5", qos=1)
        message = await sub.messages.get(5)
        with telemetry.process(message, sub) as span:  # the application's work
            received = f"{span.get_span_context().trace_id:032x}"
        carried = extract(message.properties.user_properties)
        print(f"publisher trace id   {sent}")
        print(f"in the message       {carried.traceparent if carried else None}")
        print(f"subscriber trace id  {received}")
        print("one trace" if sent == received else "TWO TRACES: the context was lost")
        return 0 if sent == received else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", help="HOST:PORT (default: an embedded broker)")
    parser.add_argument("--v311", action="store_true", help="MQTT 3.1.1 with the trace context envelope")
    args = parser.parse_args()
    sys.exit(asyncio.run(asyncio.wait_for(main(args.broker, args.v311), 30)))
