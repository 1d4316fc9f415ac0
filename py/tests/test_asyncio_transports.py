"""TLS (a CA generated at test time) and MQTT over WebSocket, for the
asyncio client and broker, on 127.0.0.1, bounded in time."""

from __future__ import annotations

import asyncio
import ssl
import uuid

import pytest

import libmqtt
from libmqtt.asyncio import Broker, Client, ConnectError


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def client_context(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def server_context(test_ca: dict) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(test_ca["cert"], test_ca["key"])
    return ctx


async def round_trip(port: int, *, version: int = 5, **kw) -> None:
    topic = f"tr/{uuid.uuid4().hex[:8]}"
    async with Client("127.0.0.1", port, version=version, client_id=f"t-{uuid.uuid4().hex[:6]}", **kw) as c:
        await c.subscribe(topic, qos=2)
        for qos in (0, 1, 2):
            await c.publish(topic, b"secret %d" % qos, qos=qos)
            message = await c.messages.get(5)
            assert (message.payload, message.qos) == (b"secret %d" % qos, qos)


@pytest.mark.parametrize("version", [4, 5])
def test_tls_client_against_mosquitto(mosquitto_tls: int, test_ca: dict, version: int) -> None:
    """The client verifies mosquitto's certificate (test CA) and round-trips."""
    run(round_trip(mosquitto_tls, version=version, ssl=client_context(test_ca["ca"])))


def test_tls_client_and_broker(test_ca: dict) -> None:
    """Our broker serves TLS with a context; our client connects to it."""

    async def main() -> None:
        async with Broker(port=0, ssl=server_context(test_ca)) as broker:
            await round_trip(broker.port, ssl=client_context(test_ca["ca"]))

    run(main())


def test_tls_untrusted_certificate_refused(test_ca: dict) -> None:
    """A client that does not trust the test CA fails to connect: ConnectError."""

    async def main() -> None:
        async with Broker(port=0, ssl=server_context(test_ca)) as broker:
            with pytest.raises(ConnectError):
                async with Client("127.0.0.1", broker.port, client_id="x", ssl=ssl.create_default_context()):
                    pass

    run(main())


websockets = pytest.importorskip("websockets")


@pytest.mark.parametrize("version", [4, 5])
def test_websocket_client_and_broker(version: int) -> None:
    """MQTT over WebSocket (subprotocol mqtt, binary frames) between our
    client and our broker. (mosquitto as installed by apt here is built
    without websockets support, so the peer is our broker.)"""

    async def main() -> None:
        async with Broker(port=0, transport="websockets") as broker:
            await round_trip(broker.port, version=version, transport="websockets")

    run(main())


def test_websocket_over_tls(test_ca: dict) -> None:
    async def main() -> None:
        async with Broker(port=0, transport="websockets", ssl=server_context(test_ca)) as broker:
            await round_trip(broker.port, transport="websockets", ssl=client_context(test_ca["ca"]))

    run(main())


def test_websocket_broker_refuses_other_subprotocol() -> None:
    """[MQTT-6.0.0-4] the server closes a WebSocket without subprotocol mqtt."""
    from websockets.asyncio.client import connect

    async def main() -> None:
        async with Broker(port=0, transport="websockets") as broker:
            with pytest.raises(websockets.InvalidStatus) as info:  # the handshake is refused
                async with connect(f"ws://127.0.0.1:{broker.port}/mqtt", proxy=None, subprotocols=["chat"]):
                    pass
            assert info.value.response.status_code == 400
            async with connect(f"ws://127.0.0.1:{broker.port}/mqtt", proxy=None, subprotocols=["mqtt"]) as ws:
                assert ws.subprotocol == "mqtt"

    run(main())


def test_websocket_text_frame_closes_the_connection() -> None:
    """[MQTT-6.0.0-1] MQTT travels in binary frames: the broker closes a
    WebSocket connection on which a text frame arrives, even one between
    valid packets; the binary CONNECT before it was answered."""
    from websockets.asyncio.client import connect

    async def main() -> None:
        async with Broker(port=0, transport="websockets") as broker:
            async with connect(f"ws://127.0.0.1:{broker.port}/mqtt", proxy=None, subprotocols=["mqtt"]) as ws:
                # CONNECT, 3.1.1, clean session, keep alive 60, client id "t"
                await ws.send(bytes.fromhex("100d00044d5154540402003c000174"))
                assert await asyncio.wait_for(ws.recv(), 5) == bytes.fromhex("20020000")
                # A valid QoS 0 PUBLISH whose bytes are also valid UTF-8,
                # sent as text: taken as binary it would be accepted and the
                # connection would stay open (a timeout, not a close).
                await ws.send(bytes.fromhex("30050001747879").decode())
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)

    run(main())


def test_websocket_client_closes_on_a_text_frame() -> None:
    """[MQTT-6.0.0-1], the client side: a server answering CONNECT with a
    text frame holding a valid CONNACK's bytes (valid UTF-8 too) is not
    connected to; the client closes."""
    from websockets.asyncio.server import serve

    closed = asyncio.Event()

    async def handler(ws) -> None:
        await ws.recv()  # CONNECT
        await ws.send(bytes.fromhex("20020000").decode())
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            closed.set()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, subprotocols=["mqtt"]) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(ConnectError):
                async with Client("127.0.0.1", port, version=4, client_id="t", transport="websockets", reconnect=False):
                    pass
            await asyncio.wait_for(closed.wait(), 5)

    run(main())


def test_websocket_reconnect_and_will(test_ca: dict) -> None:
    """Will on an abrupt WebSocket close; the reconnecting client resumes."""

    async def main() -> None:
        topic = f"ws/{uuid.uuid4().hex[:8]}"
        async with Broker(port=0, transport="websockets") as broker:
            async with Client("127.0.0.1", broker.port, client_id="watch", transport="websockets") as watcher:
                await watcher.subscribe(topic, qos=1)
                dying = Client(
                    "127.0.0.1", broker.port, client_id="dying", transport="websockets", will=libmqtt.Will(topic, b"bye", qos=1)
                )
                await dying.connect()
                await dying.close(abrupt=True)
                assert (await watcher.messages.get(5)).payload == b"bye"
                watcher.drop_connection()
                await asyncio.sleep(0.3)
                await watcher.wait_connected(5)
                assert watcher.connection_count == 2

    run(main())
