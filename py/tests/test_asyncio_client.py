"""libmqtt.asyncio.Client against a real mosquitto and against our asyncio
Broker, MQTT 3.1.1 and 5.0, on 127.0.0.1; each test bounded in time."""

from __future__ import annotations

import asyncio
import uuid

import pytest

import libmqtt
from libmqtt.asyncio import Client, ConnectError, PublishError

TIMEOUT = 20.0


def run(coro):
    """Runs a test coroutine with a hard time bound."""
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=[4, 5], ids=["v311", "v5"])
def version(request: pytest.FixtureRequest) -> int:
    return request.param


def test_pub_sub_every_qos_and_retained(broker_port: int, version: int) -> None:
    """[MQTT-3.3.1-5] retained messages reach new subscribers; QoS 0, 1, 2 round-trip."""

    async def main() -> None:
        base = uid("t")
        async with Client("127.0.0.1", broker_port, version=version, client_id=uid("pub")) as pub:
            done = await pub.publish(f"{base}/retained", b"kept", qos=1, retain=True)
            assert done is not None and done.reason_code < 0x80  # Success or 0x10 No matching subscribers
            async with Client("127.0.0.1", broker_port, version=version, client_id=uid("sub")) as sub:
                granted = await sub.subscribe(f"{base}/#", qos=2)
                assert list(granted.reason_codes) == [libmqtt.ReasonCode.GRANTED_QOS_2]
                retained = await sub.messages.get(5)
                assert (retained.topic, retained.payload, retained.retain) == (f"{base}/retained", b"kept", True)
                for qos in (0, 1, 2):
                    result = await pub.publish(f"{base}/q{qos}", b"x" * (qos + 1), qos=qos)
                    assert (result is None) == (qos == 0)
                    message = await sub.messages.get(5)
                    assert (message.topic, message.payload, message.qos, message.retain) == (
                        f"{base}/q{qos}",
                        b"x" * (qos + 1),
                        qos,
                        False,
                    )
            await pub.publish(f"{base}/retained", b"", qos=1, retain=True)  # clear it

    run(main())


def test_user_properties_v5(broker_port: int) -> None:
    """[MQTT-3.3.2-17] user properties are forwarded unaltered, in order."""

    async def main() -> None:
        topic = uid("props")
        async with Client("127.0.0.1", broker_port, client_id=uid("c")) as c:
            await c.subscribe(topic, qos=1)
            props = [("k", "v1"), ("k", "v2"), ("unit", "°C")]
            await c.publish(topic, b"21.5", qos=1, user_properties=props, content_type="text/plain")
            message = await c.messages.get(5)
            assert message.properties.user_properties == tuple(props)
            assert message.properties.content_type == "text/plain"

    run(main())


def test_will_on_abrupt_close(broker_port: int, version: int) -> None:
    """[MQTT-3.1.2-8] the will is published when the network connection
    closes without DISCONNECT."""

    async def main() -> None:
        topic = uid("will")
        async with Client("127.0.0.1", broker_port, version=version, client_id=uid("w")) as watcher:
            await watcher.subscribe(topic, qos=1)
            will = libmqtt.Will(topic, b"gone", qos=1)
            dying = Client("127.0.0.1", broker_port, version=version, client_id=uid("d"), will=will)
            await dying.connect()
            await dying.close(abrupt=True)
            message = await watcher.messages.get(5)
            assert (message.topic, message.payload) == (topic, b"gone")

    run(main())


def test_no_will_on_clean_disconnect(broker_port: int) -> None:
    """[MQTT-3.1.2-10] a normal DISCONNECT discards the will."""

    async def main() -> None:
        topic = uid("will")
        async with Client("127.0.0.1", broker_port, client_id=uid("w")) as watcher:
            await watcher.subscribe(topic, qos=1)
            async with Client("127.0.0.1", broker_port, client_id=uid("d"), will=libmqtt.Will(topic, b"gone")):
                pass
            with pytest.raises(asyncio.TimeoutError):
                await watcher.messages.get(0.5)

    run(main())


@pytest.mark.parametrize("qos", [1, 2])
def test_reconnect_resumes_session_nothing_lost(broker_port: int, version: int, qos: int) -> None:
    """Connections cut mid-stream on both sides: the clients reconnect and
    resume their sessions; every QoS 1/2 message arrives, QoS 2 exactly once
    [MQTT-4.3.3-1], [MQTT-4.4.0-1]."""

    async def main() -> None:
        topic = uid("resume")
        count = 60
        persistent = dict(version=version, clean_start=False, session_expiry=300, reconnect_delay=0.05)
        sub = Client("127.0.0.1", broker_port, client_id=uid("rs"), **persistent)
        pub = Client("127.0.0.1", broker_port, client_id=uid("rp"), **persistent)
        async with sub, pub:
            await sub.subscribe(topic, qos=qos)
            received = []

            async def consume() -> None:
                async for message in sub.messages:
                    received.append(int(message.payload))
                    if len(set(received)) == count:
                        return

            consumer = asyncio.ensure_future(consume())
            sends = [asyncio.ensure_future(pub.publish(topic, b"%d" % i, qos=qos)) for i in range(count)]
            await asyncio.sleep(0)
            pub.drop_connection()
            await asyncio.sleep(0.02)
            sub.drop_connection()
            await asyncio.wait_for(asyncio.gather(*sends), 15)
            await asyncio.wait_for(consumer, 15)
            for _ in range(100):  # both reconnect (after their backoff delay)
                if pub.is_connected and sub.is_connected and sub.connection_count >= 2:
                    break
                await asyncio.sleep(0.05)
            assert pub.connection_count >= 2 and sub.connection_count >= 2
            assert set(received) == set(range(count))
            if qos == 2:
                assert len(received) == count, "a QoS 2 message was delivered twice"

    run(main())


def test_request_response(broker_port: int) -> None:
    """[MQTT-4.10] 5.0 request/response: Response Topic and Correlation Data."""

    async def main() -> None:
        service = uid("svc")
        async with Client("127.0.0.1", broker_port, client_id=uid("server")) as server, Client(
            "127.0.0.1", broker_port, client_id=uid("requester")
        ) as requester:
            await server.subscribe(service, qos=1)

            async def serve() -> None:
                async for request in server.messages:
                    await server.respond(request, b"pong:" + request.payload)

            task = asyncio.ensure_future(serve())
            try:
                answers = await asyncio.gather(*(requester.request(service, b"%d" % i, timeout=5) for i in range(3)))
                assert [a.payload for a in answers] == [b"pong:0", b"pong:1", b"pong:2"]
            finally:
                task.cancel()

    run(main())


def test_manual_ack_redelivers_unacknowledged(broker_port: int, version: int) -> None:
    """With manual acknowledgement a QoS 1 message not acknowledged before
    the connection drops is delivered again with DUP on reconnect
    [MQTT-4.4.0-1]; once acknowledged it is not."""

    async def main() -> None:
        topic = uid("ack")
        async with Client(
            "127.0.0.1",
            broker_port,
            version=version,
            client_id=uid("m"),
            manual_ack=True,
            clean_start=False,
            session_expiry=300,
            reconnect_delay=0.05,
        ) as sub, Client("127.0.0.1", broker_port, version=version, client_id=uid("p")) as pub:
            await sub.subscribe(topic, qos=1)
            await pub.publish(topic, b"one", qos=1)
            first = await sub.messages.get(5)
            assert first.ack_token is not None and not first.publish.dup
            sub.drop_connection()
            again = await sub.messages.get(5)
            assert again.payload == b"one" and again.publish.dup
            sub.acknowledge(again)
            await pub.publish(topic, b"two", qos=1)
            second = await sub.messages.get(5)
            assert second.payload == b"two"
            sub.acknowledge(second)

    run(main())


def test_publish_waits_for_inflight_window(broker_port: int) -> None:
    """Flow control: with max_inflight=2, 40 concurrent publishes never
    queue in the core beyond the window, and all complete."""

    async def main() -> None:
        topic = uid("flow")
        async with Client("127.0.0.1", broker_port, client_id=uid("f"), max_inflight=2) as c:
            tasks = [asyncio.ensure_future(c.publish(topic, b"m", qos=1)) for _ in range(40)]
            peak = 0
            while not all(t.done() for t in tasks):
                stats = c.core.stats()
                assert stats["queued"] == 0
                peak = max(peak, stats["inflight"])
                await asyncio.sleep(0)
            await asyncio.gather(*tasks)
            assert 1 <= peak <= 2

    run(main())


def test_connect_refused_raises(tmp_path) -> None:
    """Bad credentials: the first connection fails with ConnectError and the
    CONNACK's reason code (0x86 Bad user name or password)."""
    from conftest import ThreadBroker

    broker = ThreadBroker(passwords={"alice": "secret"}, allow_anonymous=False).start()
    try:

        async def main() -> None:
            with pytest.raises(ConnectError) as info:
                async with Client("127.0.0.1", broker.port, client_id="x", username="alice", password="wrong"):
                    pass
            assert info.value.reason_code == libmqtt.ReasonCode.BAD_USER_NAME_OR_PASSWORD
            async with Client("127.0.0.1", broker.port, client_id="y", username="alice", password="secret") as ok:
                assert ok.is_connected

        run(main())
    finally:
        broker.stop()


def test_publish_refused_raises_publish_error() -> None:
    """A PUBACK with 0x87 Not authorized raises PublishError with that code."""
    from conftest import ThreadBroker

    broker = ThreadBroker(acl="topic read #\n").start()
    try:

        async def main() -> None:
            async with Client("127.0.0.1", broker.port, client_id="ro") as c:
                with pytest.raises(PublishError) as info:
                    await c.publish("denied", b"x", qos=1)
                assert info.value.reason_code == libmqtt.ReasonCode.NOT_AUTHORIZED

        run(main())
    finally:
        broker.stop()


def test_connect_failure_no_server() -> None:
    """Nothing listening: ConnectError at once (no endless retry)."""
    from conftest import free_port

    async def main() -> None:
        with pytest.raises(ConnectError):
            async with Client("127.0.0.1", free_port(), client_id="nobody", connect_timeout=2):
                pass

    run(main())


def test_keep_alive_pings(broker_port: int) -> None:
    """The core's deadline drives PINGREQ: with keep_alive=1 the connection
    stays up over 2.5 s of silence and pings were exchanged."""

    async def main() -> None:
        async with Client("127.0.0.1", broker_port, client_id=uid("ka"), keep_alive=1) as c:
            await asyncio.sleep(2.5)
            assert c.is_connected and c.connection_count == 1
            assert c.core.stats()["packets_received"] >= 3  # CONNACK + 2 PINGRESP

    run(main())


async def silent_server(received: bytearray, done: asyncio.Event):
    """A minimal MQTT 5.0 peer on 127.0.0.1 that accepts CONNECT and then
    never acknowledges anything; records every byte received."""

    async def serve(reader, writer):
        decoder = libmqtt.Decoder(5)
        while True:
            data = await reader.read(4096)
            if not data:
                break
            received.extend(data)
            decoder.feed(data)
            for packet in decoder:
                if isinstance(packet, libmqtt.Connect):
                    writer.write(libmqtt.encode(libmqtt.ConnAck()))
        done.set()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def packet_names(data: bytes) -> list:
    decoder = libmqtt.Decoder(5)
    decoder.feed(bytes(data))
    return [type(p).__name__ for p in decoder]


def test_full_window_makes_publish_wait_not_send() -> None:
    """max_inflight=1 and no PUBACK: the second and third publishes wait
    (nothing more is sent or queued), a cancelled waiter leaves cleanly, and
    closing fails the rest with ConnectionClosed."""
    from libmqtt.asyncio import ConnectionClosed

    async def main() -> None:
        received, done = bytearray(), asyncio.Event()
        server = await silent_server(received, done)
        async with server:
            c = Client("127.0.0.1", server.sockets[0].getsockname()[1], client_id="w", max_inflight=1)
            await c.connect()
            first = asyncio.ensure_future(c.publish("t", b"1", qos=1))
            second = asyncio.ensure_future(c.publish("t", b"2", qos=1))
            third = asyncio.ensure_future(c.publish("t", b"3", qos=1))
            await asyncio.sleep(0.1)
            assert c.core.stats()["inflight"] == 1 and c.core.stats()["queued"] == 0
            second.cancel()
            await asyncio.sleep(0.05)
            assert c.core.stats()["queued"] == 0 and not third.done()
            await c.close()
            for task in (first, third):
                with pytest.raises(ConnectionClosed):
                    await task
            assert second.cancelled()
            await asyncio.wait_for(done.wait(), 5)
        assert packet_names(received) == ["Connect", "Publish", "Disconnect"]

    run(main())


def test_close_sends_disconnect_and_fails_waiting_publish() -> None:
    """Against a minimal server that never acknowledges: closing the client
    sends DISCONNECT [MQTT-3.14.4-1] and the waiting QoS 1 publish raises
    ConnectionClosed; a cancelled publish leaves the client usable."""
    from libmqtt.asyncio import ConnectionClosed

    async def main() -> None:
        received = bytearray()
        done = asyncio.Event()

        async def serve(reader, writer):
            decoder = libmqtt.Decoder(5)
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                received.extend(data)
                decoder.feed(data)
                for packet in decoder:
                    if isinstance(packet, libmqtt.Connect):
                        writer.write(libmqtt.encode(libmqtt.ConnAck()))
            done.set()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            c = Client("127.0.0.1", port, client_id="c")
            await c.connect()
            cancelled = asyncio.ensure_future(c.publish("t", b"1", qos=1))
            await asyncio.sleep(0.05)
            cancelled.cancel()
            waiting = asyncio.ensure_future(c.publish("t", b"2", qos=1))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            await c.close()
            with pytest.raises(ConnectionClosed):
                await waiting
            await asyncio.wait_for(done.wait(), 5)
        packets = []
        decoder = libmqtt.Decoder(5)
        decoder.feed(bytes(received))
        packets = [type(p).__name__ for p in decoder]
        assert packets == ["Connect", "Publish", "Publish", "Disconnect"]

    run(main())


def test_unsubscribe_stops_delivery(broker_port: int) -> None:
    async def main() -> None:
        topic = uid("unsub")
        async with Client("127.0.0.1", broker_port, client_id=uid("u")) as c:
            await c.subscribe(topic, qos=1)
            await c.publish(topic, b"1", qos=1)
            assert (await c.messages.get(5)).payload == b"1"
            unsub = await c.unsubscribe(topic)
            assert list(unsub.reason_codes) == [libmqtt.ReasonCode.SUCCESS]
            await c.publish(topic, b"2", qos=1)
            with pytest.raises(asyncio.TimeoutError):
                await c.messages.get(0.3)

    run(main())


def test_keep_alive_timeout_reconnects() -> None:
    """[MQTT-3.1.2-24] analogue on the client side: no PINGRESP within the
    keep alive, the core ends the connection and the driver reconnects."""

    async def main() -> None:
        received, done = bytearray(), asyncio.Event()
        server = await silent_server(received, done)
        async with server:
            port = server.sockets[0].getsockname()[1]
            async with Client("127.0.0.1", port, client_id="ka", keep_alive=1, reconnect_delay=0.05) as c:
                for _ in range(100):
                    if c.connection_count >= 2 and c.is_connected:
                        break
                    await asyncio.sleep(0.05)
                assert c.connection_count >= 2
        assert "PingReq" in packet_names(received)

    run(main())
