"""libmqtt.asyncio.Client's view of the connection (issue 13): the CONNACK's
information, the connection state events, redirects, enhanced
authentication and re-authentication, and the PUBCOMP 0x92 defect.
Against mosquitto and our broker on 127.0.0.1, and against small scripted
servers (asyncio servers in the test that speak the bytes) where a real
broker cannot be made to send what is tested; each test bounded in time."""

from __future__ import annotations

import asyncio
import uuid
from typing import Awaitable, Callable, List

import pytest

import libmqtt
from libmqtt import ReasonCode
from libmqtt.asyncio import (
    AuthenticationError,
    Client,
    ConnectedEvent,
    ConnectError,
    ConnectionClosed,
    ConnectionInfo,
    DisconnectedEvent,
    PublishError,
    ReconnectingEvent,
)
from libmqtt.broker import Accept, Continue, Reject

TIMEOUT = 20.0


def run(coro):
    """Runs a test coroutine with a hard time bound."""
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------ scripted server


class Peer:
    """One connection to a scripted server: packets in, bytes out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, version: int = 5) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = libmqtt.Decoder(version)
        self.received: List[object] = []

    async def packet(self, timeout: float = 5.0) -> object:
        """The next packet from the client (``None`` when it closed)."""
        while True:
            packet = self.decoder.next_packet()
            if packet is not None:
                self.received.append(packet)
                return packet
            data = await asyncio.wait_for(self.reader.read(4096), timeout)
            if not data:
                return None
            self.decoder.feed(data)

    def send(self, packet_or_bytes) -> None:
        data = packet_or_bytes if isinstance(packet_or_bytes, bytes) else libmqtt.encode(packet_or_bytes)
        self.writer.write(data)

    async def wait_closed(self, timeout: float = 5.0) -> None:
        while await self.packet(timeout) is not None:
            pass


async def scripted_server(script: Callable[[int, Peer], Awaitable[None]]):
    """An asyncio server on 127.0.0.1 running ``script(n, peer)`` for its
    n-th connection (0 the first); the connection closes when it returns."""
    count = 0

    async def serve(reader, writer):
        nonlocal count
        n = count
        count += 1
        try:
            await script(n, Peer(reader, writer))
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def port_of(server) -> int:
    return server.sockets[0].getsockname()[1]


# ----------------------------------------------------------- CONNACK information


@pytest.mark.parametrize("persistent", [False, True], ids=["session-lost", "session-kept"])
@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_connack_information_after_each_reconnect(broker_port: int, version: int, persistent: bool) -> None:
    """connect() returns the CONNACK's information; after a cut the client
    reconnects and ``connection_info`` is the new CONNACK's: the session was
    lost (5.0 Session Expiry 0, 3.1.1 clean session) or kept
    [MQTT-3.2.2-2] [MQTT-3.2.2-3]. The state events come in order:
    connected, disconnected (transport closed), reconnecting (attempt 1),
    connected; then disconnected (local) and the end of the iteration."""

    async def main() -> None:
        options = dict(session_expiry=300, clean_start=False) if persistent else dict(session_expiry=0)
        c = Client("127.0.0.1", broker_port, version=version, client_id=uid("ci"), reconnect_delay=0.05, **options)
        events = c.connection_events
        info = await c.connect()
        try:
            assert isinstance(info, ConnectionInfo) and c.connection_info is info
            assert info.connection == 1 and info.reason_code == ReasonCode.SUCCESS
            assert info.client_id == c.client_id and info.keep_alive == 60
            assert info.maximum_qos in (0, 1, 2) and info.receive_maximum >= 1
            first = await events.get(5)
            assert isinstance(first, ConnectedEvent) and first.info is info
            await c.subscribe(uid("t"), qos=1)

            c.drop_connection()
            lost = await events.get(5)
            assert isinstance(lost, DisconnectedEvent) and lost.kind == libmqtt.DisconnectKind.TRANSPORT_CLOSED
            again = await events.get(5)
            assert isinstance(again, ReconnectingEvent) and again.attempt == 1 and again.delay > 0
            back = await events.get(5)
            assert isinstance(back, ConnectedEvent)
            second = back.info
            assert c.connection_info is second and second.connection == 2 and c.connection_count == 2
            assert second.session_present is persistent
            assert second.client_id == info.client_id
        finally:
            await c.close()
        closed = await events.get(5)
        assert isinstance(closed, DisconnectedEvent) and closed.kind == libmqtt.DisconnectKind.LOCAL
        assert [e async for e in events] == []  # iteration ends with the client
        assert c.connection_info is second  # kept after the close

    run(main())


def test_assigned_client_identifier(broker_port: int) -> None:
    """[MQTT-3.2.2-16] an empty Client Identifier is answered with an
    Assigned Client Identifier, reported in the CONNACK information and used
    from then on."""

    async def main() -> None:
        async with Client("127.0.0.1", broker_port, client_id="") as c:
            info = c.connection_info
            assert info is not None and info.assigned_client_identifier
            assert info.client_id == info.assigned_client_identifier == c.client_id

    run(main())


def test_every_connack_property_is_reported() -> None:
    """A scripted server's CONNACK with every 5.0 property: each is in
    ConnectionInfo (and the client obeys the server keep alive)."""

    async def script(n: int, peer: Peer) -> None:
        assert isinstance(await peer.packet(), libmqtt.Connect)
        props = libmqtt.Properties(
            receive_maximum=10,
            maximum_qos=1,
            retain_available=False,
            wildcard_subscription_available=False,
            subscription_identifiers_available=False,
            shared_subscription_available=False,
            maximum_packet_size=4096,
            server_keep_alive=7,
            assigned_client_identifier="given-1",
            topic_alias_maximum=5,
            session_expiry_interval=30,
            response_information="resp/given-1",
            server_reference="other.example:1883",
            reason_string="welcome",
            user_properties=(("region", "eu"),),
        )
        peer.send(libmqtt.ConnAck(False, ReasonCode.SUCCESS, props))
        await peer.wait_closed(10)

    async def main() -> None:
        server = await scripted_server(script)
        async with server:
            async with Client("127.0.0.1", port_of(server), client_id="", request_response_information=True) as c:
                i = c.connection_info
                assert i is not None
                assert (i.session_present, i.reason_code, i.client_id, i.assigned_client_identifier) == (
                    False,
                    ReasonCode.SUCCESS,
                    "given-1",
                    "given-1",
                )
                assert (i.keep_alive, i.server_keep_alive, i.receive_maximum, i.maximum_qos) == (7, 7, 10, 1)
                assert not (
                    i.retain_available
                    or i.wildcard_subscription_available
                    or i.subscription_identifiers_available
                    or i.shared_subscription_available
                )
                assert (i.maximum_packet_size, i.topic_alias_maximum, i.session_expiry_interval) == (4096, 5, 30)
                assert (i.server_reference, i.response_information, i.reason_string) == (
                    "other.example:1883",
                    "resp/given-1",
                    "welcome",
                )
                assert i.user_properties == (("region", "eu"),)
                assert c.client_id == "given-1" and c.core.keep_alive == 7
                # The core enforces what the CONNACK said: QoS 2 is refused.
                with pytest.raises(libmqtt.QoSNotSupported):
                    await c.publish("t", b"x", qos=2)

    run(main())


# ------------------------------------------------------------------- redirects


def test_redirect_in_connack_raises_connect_error_with_reference() -> None:
    """CONNACK 0x9C Use another server with a Server Reference: connect()
    raises ConnectError carrying the reference (spec 4.11); the state
    events report the refusal with its redirect."""

    async def script(n: int, peer: Peer) -> None:
        await peer.packet()
        props = libmqtt.Properties(server_reference="127.0.0.1:1999", reason_string="go away")
        peer.send(libmqtt.ConnAck(False, ReasonCode.USE_ANOTHER_SERVER, props))
        await peer.wait_closed()

    async def main() -> None:
        server = await scripted_server(script)
        async with server:
            c = Client("127.0.0.1", port_of(server), client_id="r")
            with pytest.raises(ConnectError) as info:
                await c.connect()
            err = info.value
            assert err.reason_code == ReasonCode.USE_ANOTHER_SERVER
            assert err.server_reference == "127.0.0.1:1999"
            assert err.redirect == libmqtt.Redirect(permanent=False, server_reference="127.0.0.1:1999")
            assert err.connack is not None and err.connack.properties.reason_string == "go away"
            refused = await c.connection_events.get(1)
            assert isinstance(refused, DisconnectedEvent) and refused.kind == libmqtt.DisconnectKind.REFUSED
            assert refused.redirect == err.redirect and refused.properties.server_reference == "127.0.0.1:1999"

    run(main())


def test_redirect_by_disconnect_reported_then_reconnects() -> None:
    """A connected client receives DISCONNECT 0x9D Server moved with a Server
    Reference: the DisconnectedEvent carries the reason code, properties and
    a permanent redirect; the client then reconnects (following the
    redirect is the application's choice)."""

    async def script(n: int, peer: Peer) -> None:
        await peer.packet()
        peer.send(libmqtt.ConnAck())
        if n == 0:
            props = libmqtt.Properties(server_reference="new.example:8883", reason_string="moved")
            peer.send(libmqtt.Disconnect(ReasonCode.SERVER_MOVED, props))
        await peer.wait_closed()

    async def main() -> None:
        server = await scripted_server(script)
        async with server:
            async with Client("127.0.0.1", port_of(server), client_id="m", reconnect_delay=0.05) as c:
                events = c.connection_events
                assert isinstance(await events.get(5), ConnectedEvent)
                gone = await events.get(5)
                assert isinstance(gone, DisconnectedEvent)
                assert gone.kind == libmqtt.DisconnectKind.BY_SERVER
                assert gone.reason_code == ReasonCode.SERVER_MOVED
                assert gone.properties.reason_string == "moved"
                assert gone.redirect == libmqtt.Redirect(permanent=True, server_reference="new.example:8883")
                assert isinstance(gone.packet, libmqtt.Disconnect)
                assert isinstance(await events.get(5), ReconnectingEvent)
                back = await events.get(5)
                assert isinstance(back, ConnectedEvent) and back.info.connection == 2

    run(main())


def test_our_broker_refusing_with_server_moved() -> None:
    """Our broker's Python authenticator refuses with 0x9D Server moved: the
    client's ConnectError has that reason code (the engine's Reject carries
    no Server Reference, so there is no redirect target)."""
    from conftest import ThreadBroker

    class Moved:
        def authenticate_connect(self, info):
            return Reject(ReasonCode.SERVER_MOVED)

    broker = ThreadBroker(authenticator=Moved()).start()
    try:

        async def main() -> None:
            with pytest.raises(ConnectError) as info:
                async with Client("127.0.0.1", broker.port, client_id="x"):
                    pass
            assert info.value.reason_code == ReasonCode.SERVER_MOVED
            assert info.value.redirect is None and info.value.server_reference is None

        run(main())
    finally:
        broker.stop()


# ------------------------------------------------------ enhanced authentication


class ScramLike:
    """A two-round challenge-response in the manner of SCRAM (not its
    cryptography): client-first (in CONNECT) -> server-first (AUTH 0x18) ->
    client-final -> server-continue (AUTH 0x18) -> client-proof -> accepted
    with server-final; re-authentication runs the same rounds from AUTH
    0x19. A wrong answer refuses (0x87 Not authorized)."""

    METHOD = "SCRAM-LIKE"

    def __init__(self) -> None:
        self.rounds: dict = {}
        self.log: List[tuple] = []

    def authenticate_connect(self, info):
        if info.authentication_method != self.METHOD:
            return Reject(ReasonCode.BAD_AUTHENTICATION_METHOD)
        self.log.append(("connect", info.authentication_data))
        return self._first(info.connection, info.authentication_data)

    def _first(self, conn, data):
        if not data or not data.startswith(b"client-first:"):
            return Reject(ReasonCode.NOT_AUTHORIZED)
        nonce = data.split(b":", 1)[1]
        self.rounds[conn] = (1, nonce)
        return Continue(b"server-first:" + nonce + b"-s1")

    def authenticate_auth(self, info):
        self.log.append(("auth", int(info.reason_code), info.reauthentication, info.authentication_data))
        data = info.authentication_data or b""
        if info.reason_code == ReasonCode.RE_AUTHENTICATE:
            return self._first(info.connection, data)
        step, nonce = self.rounds.get(info.connection, (0, b""))
        if step == 1 and data == b"client-final:" + nonce + b"-s1":
            self.rounds[info.connection] = (2, nonce)
            return Continue(b"server-continue:" + nonce + b"-s2")
        if step == 2 and data == b"client-proof:" + nonce + b"-s2":
            del self.rounds[info.connection]
            return Accept(b"server-final:" + nonce)
        return Reject(ReasonCode.NOT_AUTHORIZED)


def scram_client_hook(seen: list, corrupt: Callable[[], bool] = lambda: False, asynchronous: bool = False):
    """The client's side: answers each challenge (as bytes, or later)."""

    def answer(auth: libmqtt.Auth) -> bytes:
        data = auth.properties.authentication_data or b""
        seen.append(data)
        kind, rest = data.split(b":", 1)
        if kind == b"server-first":
            reply = b"client-final:" + rest
        elif kind == b"server-continue":
            reply = b"client-proof:" + rest
        else:
            raise ValueError(f"unexpected challenge {data!r}")
        return reply + b"-corrupted" if corrupt() else reply

    if not asynchronous:
        return answer

    async def later(auth: libmqtt.Auth) -> bytes:
        await asyncio.sleep(0.01)
        return answer(auth)

    return later


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-hook", "async-hook"])
def test_two_round_auth_and_reauthentication_with_our_broker(asynchronous: bool) -> None:
    """[MQTT-4.12.0-1] .. [MQTT-4.12.1-2] against our broker and a Python
    authenticator: a two-round AUTH exchange when connecting (the hook gets
    each challenge and returns the answer, at once or as an awaitable), a
    re-authentication started by the client (AUTH 0x19, two rounds again,
    reauthenticate() returns the server's final AUTH), then a refused one:
    AuthenticationError with the DISCONNECT's 0x87 and a reconnection that
    authenticates again."""
    from conftest import ThreadBroker

    authenticator = ScramLike()
    broker = ThreadBroker(authenticator=authenticator).start()
    try:

        async def main() -> None:
            seen: list = []
            corrupt = [False]
            hook = scram_client_hook(seen, lambda: corrupt[0], asynchronous)
            async with Client(
                "127.0.0.1",
                broker.port,
                client_id=uid("scram"),
                authentication_method=ScramLike.METHOD,
                authentication_data=b"client-first:n1",
                authenticate=hook,
                reconnect_delay=0.05,
            ) as c:
                info = c.connection_info
                assert info is not None and info.authentication_data == b"server-final:n1"
                assert seen == [b"server-first:n1-s1", b"server-continue:n1-s2"]
                # Still usable: a round trip through the broker.
                topic = uid("t")
                await c.subscribe(topic, qos=1)
                await c.publish(topic, b"after auth", qos=1)
                assert (await c.messages.get(5)).payload == b"after auth"

                final = await c.reauthenticate(b"client-first:n2", timeout=5)
                assert isinstance(final, libmqtt.Auth) and final.reason_code == ReasonCode.SUCCESS
                assert final.properties.authentication_data == b"server-final:n2"
                assert seen[2:] == [b"server-first:n2-s1", b"server-continue:n2-s2"]
                assert c.is_connected and c.connection_count == 1
                reauth = [e for e in authenticator.log if e[0] == "auth" and e[2]]
                assert [e[1] for e in reauth] == [0x19, 0x18, 0x18]

                corrupt[0] = True
                with pytest.raises(AuthenticationError) as err:
                    await c.reauthenticate(b"client-first:n3", timeout=5)
                assert err.value.reason_code == ReasonCode.NOT_AUTHORIZED
                corrupt[0] = False
                events = [await c.connection_events.get(5) for _ in range(4)]
                gone = events[1]
                assert isinstance(gone, DisconnectedEvent) and gone.reason_code == ReasonCode.NOT_AUTHORIZED
                assert isinstance(events[2], ReconnectingEvent)
                back = events[3]
                assert isinstance(back, ConnectedEvent) and back.info.authentication_data == b"server-final:n1"
                await c.publish(topic, b"again", qos=1)
                assert (await c.messages.get(5)).payload == b"again"

        run(main())
    finally:
        broker.stop()


def test_auth_hook_failure_fails_connect() -> None:
    """The hook raises on the first challenge: the client sends DISCONNECT
    (0x80) and connect() raises ConnectError whose cause is an
    AuthenticationError caused by the hook's exception."""
    from conftest import ThreadBroker

    broker = ThreadBroker(authenticator=ScramLike()).start()
    try:

        def hook(auth):
            raise RuntimeError("no credentials")

        async def main() -> None:
            c = Client(
                "127.0.0.1",
                broker.port,
                client_id="h",
                authentication_method=ScramLike.METHOD,
                authentication_data=b"client-first:x",
                authenticate=hook,
            )
            with pytest.raises(ConnectError) as info:
                await c.connect()
            cause = info.value.__cause__
            assert isinstance(cause, AuthenticationError)
            assert isinstance(cause.__cause__, RuntimeError)

        run(main())
    finally:
        broker.stop()


def test_reauthenticate_without_method_or_connection() -> None:
    """reauthenticate() needs an authentication method (InvalidState) and a
    running client (ConnectionClosed)."""
    from conftest import ThreadBroker

    broker = ThreadBroker().start()
    try:

        async def main() -> None:
            c = Client("127.0.0.1", broker.port, client_id="n")
            with pytest.raises(ConnectionClosed):
                await c.reauthenticate(b"x")
            async with c:
                with pytest.raises(libmqtt.InvalidState):
                    await c.reauthenticate(b"x")

        run(main())
    finally:
        broker.stop()


def test_mosquitto_refuses_unknown_authentication_method(mosquitto: int) -> None:
    """mosquitto without an authentication plugin refuses an Authentication
    Method with 0x8C Bad authentication method: ConnectError says so."""

    async def main() -> None:
        with pytest.raises(ConnectError) as info:
            async with Client(
                "127.0.0.1",
                mosquitto,
                client_id=uid("m"),
                authentication_method=ScramLike.METHOD,
                authentication_data=b"client-first:n",
                authenticate=scram_client_hook([]),
            ):
                pass
        assert info.value.reason_code == ReasonCode.BAD_AUTHENTICATION_METHOD

    run(main())


# ------------------------------------------------------------- PUBCOMP 0x92


def test_pubcomp_0x92_after_resent_pubrel_is_success() -> None:
    """A connection cut just before PUBCOMP: on reconnect (session present)
    the client resends PUBREL [MQTT-4.4.0-1], the server, which had
    completed the exchange, answers PUBCOMP 0x92 Packet Identifier not
    found. The message was delivered exactly once (one PUBLISH reached the
    server): publish() returns the completion, no PublishError
    (MQTT 5.0 3.7.2.1)."""

    publishes = []

    async def script(n: int, peer: Peer) -> None:
        connect = await peer.packet()
        assert isinstance(connect, libmqtt.Connect)
        if n == 0:
            peer.send(libmqtt.ConnAck())
            publish = await peer.packet()
            assert isinstance(publish, libmqtt.Publish) and publish.qos == 2
            publishes.append(publish)
            peer.send(libmqtt.PubRec(publish.packet_id))
            rel = await peer.packet()
            assert isinstance(rel, libmqtt.PubRel)
            return  # the cut: no PUBCOMP
        assert not connect.clean_start
        peer.send(libmqtt.ConnAck(session_present=True))
        packet = await peer.packet()
        if isinstance(packet, libmqtt.Publish):
            publishes.append(packet)
        assert isinstance(packet, libmqtt.PubRel), packet
        peer.send(libmqtt.PubComp(packet.packet_id, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND))
        await peer.wait_closed()

    async def main() -> None:
        server = await scripted_server(script)
        async with server:
            async with Client(
                "127.0.0.1", port_of(server), client_id="q2", session_expiry=300, reconnect_delay=0.05
            ) as c:
                done = await asyncio.wait_for(c.publish("t", b"once", qos=2), 10)
                assert isinstance(done, libmqtt.PublishCompleted)
                assert done.reason_code == ReasonCode.PACKET_IDENTIFIER_NOT_FOUND
                assert c.connection_count == 2
        assert len(publishes) == 1 and publishes[0].payload == b"once"

    run(main())


@pytest.mark.parametrize("ack", ["puback", "pubrec"])
def test_0x92_in_puback_or_pubrec_is_still_an_error(ack: str) -> None:
    """0x92 is not a PUBACK or PUBREC reason code: the client treats the
    packet as malformed and ends the connection (DISCONNECT 0x81), and the
    publish does not succeed (without reconnection it fails with
    ConnectionClosed)."""

    received: list = []

    async def script(n: int, peer: Peer) -> None:
        await peer.packet()
        peer.send(libmqtt.ConnAck())
        publish = await peer.packet()
        first = 0x40 if ack == "puback" else 0x50
        peer.send(bytes([first, 4, publish.packet_id >> 8, publish.packet_id & 0xFF, 0x92, 0]))
        await peer.wait_closed()
        received.extend(peer.received)

    async def main() -> None:
        server = await scripted_server(script)
        async with server:
            c = Client("127.0.0.1", port_of(server), client_id="e", reconnect=False)
            await c.connect()
            try:
                with pytest.raises((PublishError, ConnectionClosed)):
                    await asyncio.wait_for(c.publish("t", b"x", qos=1 if ack == "puback" else 2), 10)
            finally:
                await c.close()
            for _ in range(100):
                if received:
                    break
                await asyncio.sleep(0.02)
        assert [type(p).__name__ for p in received] == ["Connect", "Publish", "Disconnect"]
        assert received[-1].reason_code == ReasonCode.MALFORMED_PACKET

    run(main())
