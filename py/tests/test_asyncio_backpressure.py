"""libmqtt.asyncio.Client's incoming bound and per-filter streams (issue
13): a slow consumer's memory stays bounded while a fast publisher runs
(the client stops reading its socket, nothing is dropped), and
``filtered_messages`` streams share that bound. Against mosquitto and our
broker on 127.0.0.1; each test bounded in time."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import tracemalloc
import uuid
from typing import Iterator

import pytest

import libmqtt
from libmqtt.asyncio import Client, FilteredMessages

TIMEOUT = 30.0


def run(coro):
    """Runs a test coroutine with a hard time bound."""
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["mosquitto", "libmqtt"])
def separate_broker(request: pytest.FixtureRequest) -> Iterator[int]:
    """mosquitto, or our broker in its own process (``python -m libmqtt
    broker``), so that what this process allocates is the subscriber's."""
    if request.param == "mosquitto":
        yield request.getfixturevalue("mosquitto")
        return
    from conftest import free_port, serving

    port = free_port()
    with serving([sys.executable, "-m", "libmqtt", "broker", "--port", str(port)], port):
        yield port


PUBLISHER = textwrap.dedent(
    """
    import asyncio, sys
    from libmqtt.asyncio import Client

    async def main(port, topic, count, size):
        async with Client("127.0.0.1", port, client_id=topic + "-pub") as c:
            payload = b"x" * size
            for i in range(count):
                await c.publish(topic, b"%08d" % i + payload, qos=0)
            await c.publish(topic + "/end", b"", qos=1)

    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    """
)


def test_slow_consumer_memory_stays_bounded(separate_broker: int) -> None:
    """A publisher in another process sends 20,000 QoS 0 messages of 1 KiB
    (20 MB) as fast as it can; the subscriber (max_incoming_messages=50)
    reads slowly. Its streams never hold more than the bound plus one
    read's worth of messages (64 KiB of packets), the memory it allocates
    meanwhile stays far below what was published, and every message the
    core delivered was handed to the application (none dropped by the
    driver): those read plus those still held equal the core's count.
    (mosquitto drops QoS 0 messages for a client whose queue is full, so
    fewer than all may arrive through it; our broker delivers them all.)"""

    async def main() -> None:
        topic = uid("flood")
        count, size, bound = 20000, 1024, 50
        per_read = 65536 // size + 1
        async with Client("127.0.0.1", separate_broker, client_id=uid("slow"), max_incoming_messages=bound) as sub:
            await sub.subscribe(topic, qos=0)
            await sub.subscribe(topic + "/end", qos=1)
            peak = 0
            process = sub._process

            def measured_process() -> None:  # after every read: what is held
                nonlocal peak
                process()
                peak = max(peak, len(sub.messages))

            sub._process = measured_process  # type: ignore[method-assign]
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                publisher = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    PUBLISHER,
                    str(separate_broker),
                    topic,
                    str(count),
                    str(size),
                    env={**os.environ},
                )
                read, last = 0, -1
                growth = 0
                while True:
                    try:
                        message = await sub.messages.get(2 if publisher.returncode is not None else 15)
                    except asyncio.TimeoutError:
                        if publisher.returncode is None:
                            raise
                        break  # the publisher is done and nothing more comes
                    if message.topic == topic + "/end":
                        break
                    seq = int(message.payload[:8])
                    assert seq > last, "out of order"
                    last = seq
                    read += 1
                    if read % 20 == 0:
                        await asyncio.sleep(0.002)  # slower than the publisher
                        growth = max(growth, tracemalloc.get_traced_memory()[0] - base)
                assert await asyncio.wait_for(publisher.wait(), 20) == 0
            finally:
                tracemalloc.stop()
            received = sub.core.stats()["messages_received"][0]
            assert read + len(sub.messages) == received, "the driver dropped messages"
            assert read > count // 10, f"only {read} of {count} arrived"
            assert peak <= bound + per_read, f"{peak} messages held (bound {bound})"
            assert growth < 4 * 1024 * 1024, f"{growth} bytes allocated while {count * size} were published"

    run(main())


def test_pause_resumes_and_nothing_is_lost(broker_port: int) -> None:
    """QoS 1 with a bound of 10: the client stops reading while 10 are
    unread (measured: the core received no more), resumes when the
    application reads, and every message arrives once, in order."""

    async def main() -> None:
        topic = uid("pause")
        count = 200
        async with Client("127.0.0.1", broker_port, client_id=uid("s"), max_incoming_messages=10) as sub, Client(
            "127.0.0.1", broker_port, client_id=uid("p")
        ) as pub:
            await sub.subscribe(topic, qos=1)
            sends = asyncio.gather(*(pub.publish(topic, b"%d" % i, qos=1) for i in range(count)))
            await asyncio.sleep(0.5)
            held = len(sub.messages)
            received = sub.core.stats()["messages_received"][1]
            assert 10 <= held < count and received == held, (held, received)
            got = [int((await sub.messages.get(5)).payload) for _ in range(count)]
            assert got == list(range(count))
            await asyncio.wait_for(sends, 10)

    run(main())


def test_filtered_streams_dispatch_without_loss(broker_port: int) -> None:
    """filtered_messages: each message goes to every stream whose filter
    matches, the rest to client.messages; closing a stream hands what it
    holds to client.messages."""

    async def main() -> None:
        base = uid("f")
        async with Client("127.0.0.1", broker_port, client_id=uid("c")) as c:
            await c.subscribe(f"{base}/#", qos=1)
            temps = c.filtered_messages(f"{base}/+/temp")
            sensor7 = c.filtered_messages(f"{base}/7/#")
            assert isinstance(temps, FilteredMessages) and temps.topic_filter == f"{base}/+/temp"
            for topic in ("7/temp", "8/temp", "7/hum", "9/hum"):
                await c.publish(f"{base}/{topic}", topic.encode(), qos=1)
            assert [(await temps.get(5)).payload for _ in range(2)] == [b"7/temp", b"8/temp"]
            assert [(await sensor7.get(5)).payload for _ in range(2)] == [b"7/temp", b"7/hum"]
            assert (await c.messages.get(5)).payload == b"9/hum"
            assert len(c.messages) == len(temps) == len(sensor7) == 0

            async with c.filtered_messages(f"{base}/late") as late:
                await c.publish(f"{base}/late", b"held", qos=1)
                for _ in range(100):
                    if len(late):
                        break
                    await asyncio.sleep(0.02)
                assert len(late) == 1
            assert (await c.messages.get(5)).payload == b"held"  # not lost
            assert [m async for m in late] == []  # the closed stream ends
            temps.close()
            sensor7.close()
            await c.publish(f"{base}/7/temp", b"main", qos=1)
            assert (await c.messages.get(5)).payload == b"main"
            with pytest.raises(libmqtt.TopicFilterInvalid):
                c.filtered_messages("a/#/b")

    run(main())


def test_streams_share_the_bound(broker_port: int) -> None:
    """The bound is shared: an unread filtered stream holding
    max_incoming_messages stops the reading, so client.messages gets
    nothing more until that stream is read (as TCP flow control would);
    then everything arrives."""

    async def main() -> None:
        base = uid("b")
        async with Client("127.0.0.1", broker_port, client_id=uid("c"), max_incoming_messages=5) as c, Client(
            "127.0.0.1", broker_port, client_id=uid("p")
        ) as pub:
            await c.subscribe(f"{base}/#", qos=1)
            slow = c.filtered_messages(f"{base}/slow")
            for i in range(5):
                await pub.publish(f"{base}/slow", b"%d" % i, qos=1)
            for _ in range(100):
                if len(slow) == 5:
                    break
                await asyncio.sleep(0.02)
            assert len(slow) == 5
            await pub.publish(f"{base}/other", b"waits", qos=1)
            with pytest.raises(asyncio.TimeoutError):
                await c.messages.get(0.3)
            assert [(await slow.get(1)).payload for _ in range(5)] == [b"0", b"1", b"2", b"3", b"4"]
            assert (await c.messages.get(5)).payload == b"waits"

    run(main())


def test_max_incoming_messages_is_checked() -> None:
    """An invalid bound raises InvalidArgument (a ValueError)."""
    for bad in (0, -1, 1.5, True):
        with pytest.raises(libmqtt.InvalidArgument) as info:
            Client("127.0.0.1", 1883, max_incoming_messages=bad)
        assert "max_incoming_messages" in str(info.value) and isinstance(info.value, ValueError)
    Client("127.0.0.1", 1883, max_incoming_messages=None)  # unbounded, on request


def test_drop_while_paused_reconnects_and_keeps_messages(broker_port: int) -> None:
    """A connection dropped while reading is paused: the client notices,
    reconnects (session kept), and the held messages plus those resent or
    sent later all reach the application, QoS 1 at least once, in order of
    first arrival."""

    async def main() -> None:
        topic = uid("dp")
        persistent = dict(session_expiry=300, clean_start=False, reconnect_delay=0.05)
        async with Client(
            "127.0.0.1", broker_port, client_id=uid("s"), max_incoming_messages=5, **persistent
        ) as sub, Client("127.0.0.1", broker_port, client_id=uid("p")) as pub:
            await sub.subscribe(topic, qos=1)
            for i in range(20):
                await pub.publish(topic, b"%d" % i, qos=1)
            for _ in range(100):
                if len(sub.messages) >= 5:
                    break
                await asyncio.sleep(0.02)
            assert len(sub.messages) >= 5
            sub.drop_connection()
            for _ in range(200):
                if sub.connection_count >= 2 and sub.is_connected:
                    break
                await asyncio.sleep(0.02)
            assert sub.connection_count >= 2 and sub.is_connected
            seen = set()
            while len(seen) < 20:
                seen.add(int((await sub.messages.get(5)).payload))
            assert seen == set(range(20))

    run(main())


def test_a_stalled_reader_keeps_its_connection(broker_port: int) -> None:
    """Reading paused for a full inbox for longer than the keep alive: the
    core is told (set_input_paused), so PINGREQ still goes out and the
    unread PINGRESP is not a keep alive timeout: no disconnection, and
    every message arrives once the application reads again."""

    async def main() -> None:
        base = uid("stall")
        async with Client(
            "127.0.0.1", broker_port, client_id=uid("c"), keep_alive=1, max_incoming_messages=2
        ) as c, Client("127.0.0.1", broker_port, client_id=uid("p")) as pub:
            connected = await c.connection_events.get(5)
            assert type(connected).__name__ == "ConnectedEvent"
            await c.subscribe(f"{base}/#", qos=1)
            for i in range(6):
                await pub.publish(f"{base}/t", b"%d" % i, qos=1)
            await asyncio.sleep(3.5)  # three keep alive intervals, nothing read
            with pytest.raises(asyncio.TimeoutError):
                event = await c.connection_events.get(0.1)
                pytest.fail(f"the connection changed while stalled: {event!r}")
            got = [(await c.messages.get(5)).payload for _ in range(6)]
            assert got == [b"%d" % i for i in range(6)]

    run(main())
