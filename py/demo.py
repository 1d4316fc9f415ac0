"""The libmqtt demo: MQTT 5.0 end to end, step by step.

    make demo                        # starts the embedded broker on 127.0.0.1
    make demo BROKER=127.0.0.1:1883  # uses that broker instead (e.g. mosquitto)

or directly: ``python py/demo.py [--broker HOST:PORT]``. Bounded in time;
exits non-zero if anything does not happen as it should.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid

import libmqtt
from libmqtt.asyncio import Broker, Client

START = time.monotonic()
TIMEOUT = 5.0  # seconds allowed for each step's message to arrive


def say(text: str = "") -> None:
    print(f"[{time.monotonic() - START:6.3f}s] {text}" if text else "", flush=True)


def step(number: int, title: str) -> None:
    print(flush=True)
    say(f"── Step {number}: {title}")


def show(message: libmqtt.Message) -> None:
    props = message.properties
    extra = []
    if props.user_properties:
        extra.append(f"user properties {list(props.user_properties)}")
    if props.content_type:
        extra.append(f"content type {props.content_type!r}")
    say(
        f"   received on {message.topic!r}: {message.payload!r} (QoS {message.qos}"
        f"{', retained' if message.retain else ''}{', ' + ', '.join(extra) if extra else ''})"
    )


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)
    say(f"   ✓ {what}")


async def demo(host: str, port: int) -> None:
    base = f"demo/{uuid.uuid4().hex[:8]}"
    say(f"Topics of this run start with {base!r}.")

    step(1, "connect two clients with MQTT 5.0")
    async with Client(host, port, client_id=f"{base}-listener".replace("/", "-")) as listener, Client(
        host, port, client_id=f"{base}-sensor".replace("/", "-")
    ) as sensor:
        say(f"   'listener' and 'sensor' are connected to {host}:{port}")
        granted = await listener.subscribe(f"{base}/sensors/#", qos=2)
        say(f"   listener subscribed to {base}/sensors/# ; the broker granted {granted.reason_codes[0].name}")

        step(2, "publish at QoS 0, 1 and 2, with user properties")
        for qos, meaning in ((0, "at most once: no acknowledgement"), (1, "at least once: PUBLISH → PUBACK"), (2, "exactly once: PUBLISH → PUBREC → PUBREL → PUBCOMP")):
            payload = f"{20 + qos}.5".encode()
            say(f"   sensor publishes {payload!r} at QoS {qos} ({meaning})")
            done = await sensor.publish(
                f"{base}/sensors/temp",
                payload,
                qos=qos,
                user_properties=[("unit", "celsius"), ("qos", str(qos))],
                content_type="text/plain",
            )
            if done is not None:
                say(f"   sensor: the broker acknowledged it ({done.reason_code.name})")
            message = await listener.messages.get(TIMEOUT)
            show(message)
            check(
                message.payload == payload
                and message.qos == qos
                and dict(message.properties.user_properties) == {"unit": "celsius", "qos": str(qos)},
                f"QoS {qos} message arrived intact with its user properties",
            )

        step(3, "a retained message: the broker keeps the last one for new subscribers")
        await sensor.publish(f"{base}/status", b"online", qos=1, retain=True)
        say("   sensor published 'online' to status with the retain flag")
        async with Client(host, port, client_id=f"{base}-latecomer".replace("/", "-")) as latecomer:
            await latecomer.subscribe(f"{base}/status", qos=1)
            say("   a new client 'latecomer' subscribes to status afterwards ...")
            message = await latecomer.messages.get(TIMEOUT)
            show(message)
            check(message.payload == b"online" and message.retain, "the latecomer got the retained message at once")
        await sensor.publish(f"{base}/status", b"", qos=1, retain=True)
        say("   (an empty retained message clears it again)")

        step(4, "request / response (MQTT 5.0 Response Topic + Correlation Data)")
        await listener.subscribe(f"{base}/service/double", qos=1)
        say("   listener now also serves requests on service/double")

        async def serve() -> None:
            while True:
                request = await listener.messages.get()
                if request.topic != f"{base}/service/double":
                    continue
                props = request.properties
                say(f"   listener got request {request.payload!r}, response topic {props.response_topic!r}, correlation {props.correlation_data.hex()[:8]}...")
                await listener.respond(request, str(2 * int(request.payload)).encode())

        server = asyncio.ensure_future(serve())
        try:
            say("   sensor asks: double 21?")
            answer = await sensor.request(f"{base}/service/double", b"21", timeout=TIMEOUT)
            say(f"   sensor got the answer {answer.payload!r} on its response topic")
            check(answer.payload == b"42", "the response matched the request by its correlation data")
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server

        step(5, "the will: a message the broker publishes when a client vanishes")
        await listener.subscribe(f"{base}/alerts", qos=1)
        will = libmqtt.Will(f"{base}/alerts", b"device-9 went offline unexpectedly", qos=1)
        device = Client(host, port, client_id=f"{base}-device-9".replace("/", "-"), will=will)
        await device.connect()
        say("   'device-9' connected with a will on alerts, then its connection breaks (no DISCONNECT) ...")
        await device.close(abrupt=True)
        message = await listener.messages.get(TIMEOUT)
        show(message)
        check(message.topic == f"{base}/alerts", "the broker published device-9's will")

        step(6, "disconnect cleanly")
    say("   both clients sent DISCONNECT and closed their connections")


async def main(broker: str | None) -> None:
    if broker:
        host, _, port = broker.rpartition(":")
        say(f"Using the broker at {host}:{port}.")
        await demo(host or "127.0.0.1", int(port))
        return
    async with Broker(port=0) as embedded:
        say(f"Started libmqtt's embedded asyncio broker on 127.0.0.1:{embedded.port} (give BROKER=host:port to use another).")
        await demo("127.0.0.1", embedded.port)
    say("Stopped the embedded broker.")


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", help="HOST:PORT of an MQTT broker (default: start the embedded one)")
    parser.add_argument("--timeout", type=float, default=60.0, help="overall time bound in seconds")
    args = parser.parse_args()
    print(f"libmqtt {libmqtt.__version__} demo: MQTT 5.0 on the sans-IO Rust core, driven by asyncio.")
    try:
        asyncio.run(asyncio.wait_for(main(args.broker), args.timeout))
    except asyncio.TimeoutError:
        print("\nDEMO FAILED: a step did not complete in time", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the demo reports any failure
        print(f"\nDEMO FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\nDemo complete: every step worked.")
    return 0


if __name__ == "__main__":
    sys.exit(run())
