"""asyncio drivers on the sans-IO core: :class:`Client` and :class:`Broker`.

The drivers only move bytes and time: every protocol decision (packet
identifiers, retransmission, keep alive, QoS 2 state, session resume,
routing, retained messages, wills) is made by the Rust core
(:class:`libmqtt.Client`, :class:`libmqtt.Broker`). After every input or
command a driver writes what the core has to send in one ``write`` call,
dispatches the core's events, and arms one timer at the core's next
deadline.

Client::

    from libmqtt.asyncio import Client

    async with Client("127.0.0.1", 1883, client_id="sensor-7") as client:
        await client.subscribe("sensors/#", qos=1)
        await client.publish("sensors/7/temp", b"21.5", qos=1)
        async for message in client.messages:
            print(message.topic, message.payload)

The connection: ``await client.connect()`` returns the CONNACK's
:class:`ConnectionInfo` (``client.connection_info``, replaced at every
reconnection); ``client.connection_events`` is an async iterator of
:class:`ConnectedEvent`, :class:`DisconnectedEvent` and
:class:`ReconnectingEvent`. Incoming messages are bounded
(``max_incoming_messages``: the socket is not read while the streams hold
that many) and can be split by filter (:meth:`Client.filtered_messages`).
Enhanced authentication: the ``authenticate`` hook answers the server's
AUTH challenges; :meth:`Client.reauthenticate` re-authenticates.

Broker::

    from libmqtt.asyncio import Broker

    async with Broker(port=0) as broker:     # 127.0.0.1, a free port
        print(broker.port)
        await broker.serve_forever()

Logging goes to the ``libmqtt.asyncio`` logger.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import ssl as _ssl
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import (
    Any,
    Awaitable,
    Callable,
    Deque,
    Dict,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)
from urllib.parse import unquote

from . import _core
from ._backoff import Backoff as _Backoff
from ._enums import ReasonCode
from ._errors import ClientError, InvalidArgument, InvalidState, MQTTError
from ._events import (
    AuthChallenge,
    Connected,
    Disconnected,
    DisconnectKind,
    Message,
    PublishCompleted,
    PublishDropped,
    PublishRequeued,
    Reauthenticated,
    Redirect,
    Subscribed,
    Unsubscribed,
)
from ._packets import NO_PROPERTIES, Auth, ConnAck, Disconnect, Properties, Will

__all__ = [
    "Client",
    "Broker",
    "Messages",
    "FilteredMessages",
    "ConnectionInfo",
    "ConnectionEvents",
    "ConnectionEvent",
    "ConnectedEvent",
    "DisconnectedEvent",
    "ReconnectingEvent",
    "ConnectError",
    "PublishError",
    "SubscribeError",
    "AuthenticationError",
    "ConnectionClosed",
]

log = logging.getLogger("libmqtt.asyncio")

_READ_SIZE = 65536


class ConnectError(MQTTError):
    """The connection could not be made: the server refused it (``reason_code``
    is the CONNACK's, ``connack`` the packet) or the transport failed
    (``reason_code`` is ``None``). ``redirect`` is the server's
    :class:`libmqtt.Redirect` when it refused with 0x9C Use another server
    or 0x9D Server moved and a Server Reference."""

    connack: Optional[ConnAck] = None
    redirect: Optional[Redirect] = None

    @property
    def server_reference(self) -> Optional[str]:
        """The CONNACK's Server Reference (5.0), or ``None``."""
        if self.connack is None:
            return None
        return self.connack.properties.server_reference


class PublishError(MQTTError):
    """The server refused a QoS 1 or 2 publish (an error reason code in
    PUBACK or PUBREC, ``reason_code``), or it was dropped before being
    acknowledged (``kind`` names the drop reason)."""


class SubscribeError(MQTTError):
    """The server refused a subscription (``reason_code`` is the first error
    code of the SUBACK; ``reason_codes`` has them all)."""

    reason_codes: Tuple[ReasonCode, ...] = ()


class AuthenticationError(MQTTError):
    """Enhanced authentication (5.0 AUTH) failed: the server refused a
    re-authentication (``reason_code`` is its DISCONNECT's), the connection
    ended during one, or the ``authenticate`` hook raised or is missing
    (the hook's exception is the ``__cause__``)."""


class ConnectionClosed(ClientError):
    """The client was closed while the operation was waiting."""


# ------------------------------------------------------------ connection state


@dataclass(frozen=True)
class ConnectionInfo:
    """What the server said in the CONNACK that accepted a connection
    (``client.connection_info``, returned by :meth:`Client.connect`).
    Absent 5.0 properties take their specified defaults; 3.1.1 servers
    send none of them."""

    session_present: bool
    """Whether the server resumed a session (``False``: it had none, so
    subscriptions made before are gone unless the core re-subscribed:
    option ``resubscribe_on_session_lost``, on by default)."""
    reason_code: ReasonCode
    """The CONNACK's reason code (Success; 0x00 in 3.1.1)."""
    client_id: str
    """The client identifier in use (the assigned one, if any)."""
    assigned_client_identifier: Optional[str]
    """The identifier the server assigned (when ours was empty), or ``None``."""
    keep_alive: int
    """The keep alive in force, in seconds (the server's if it sent one)."""
    server_keep_alive: Optional[int]
    """The Server Keep Alive the server imposed, or ``None``."""
    receive_maximum: int
    """QoS 1/2 publishes the server accepts in flight (default 65,535)."""
    maximum_qos: int
    """The highest QoS the server supports (default 2)."""
    retain_available: bool
    wildcard_subscription_available: bool
    subscription_identifiers_available: bool
    shared_subscription_available: bool
    maximum_packet_size: Optional[int]
    """The largest packet the server accepts, or ``None`` (no limit but the
    protocol's)."""
    topic_alias_maximum: int
    """Topic aliases the server accepts from us (default 0)."""
    session_expiry_interval: Optional[int]
    """The Session Expiry Interval the server imposed, or ``None``."""
    server_reference: Optional[str]
    """Another server to use (5.0 Server Reference), or ``None``."""
    response_information: Optional[str]
    """The basis of response topics (asked with
    ``request_response_information=True``), or ``None``."""
    reason_string: Optional[str]
    user_properties: Tuple[Tuple[str, str], ...]
    authentication_data: Optional[bytes]
    """The server's last Authentication Data (enhanced authentication)."""
    connack: ConnAck
    """The CONNACK itself."""
    connection: int
    """Which connection of this client it was (1 the first, 2 after the
    first reconnect, ...)."""

    @classmethod
    def _from_event(cls, event: Connected, connection: int) -> "ConnectionInfo":
        c = event.connack
        p = c.properties
        return cls(
            session_present=event.session_present,
            reason_code=ReasonCode(c.reason_code),
            client_id=event.client_id,
            assigned_client_identifier=p.assigned_client_identifier,
            keep_alive=event.keep_alive,
            server_keep_alive=p.server_keep_alive,
            receive_maximum=65535 if p.receive_maximum is None else p.receive_maximum,
            maximum_qos=2 if p.maximum_qos is None else int(p.maximum_qos),
            retain_available=p.retain_available is not False,
            wildcard_subscription_available=p.wildcard_subscription_available is not False,
            subscription_identifiers_available=p.subscription_identifiers_available is not False,
            shared_subscription_available=p.shared_subscription_available is not False,
            maximum_packet_size=p.maximum_packet_size,
            topic_alias_maximum=p.topic_alias_maximum or 0,
            session_expiry_interval=p.session_expiry_interval,
            server_reference=p.server_reference,
            response_information=p.response_information,
            reason_string=p.reason_string,
            user_properties=p.user_properties,
            authentication_data=p.authentication_data,
            connack=c,
            connection=connection,
        )


@dataclass(frozen=True)
class ConnectedEvent:
    """A connection was accepted (the first one or a reconnection)."""

    info: ConnectionInfo


@dataclass(frozen=True)
class DisconnectedEvent:
    """A connection ended (or, ``kind`` ``refused``, was refused)."""

    kind: DisconnectKind
    """Why: ``by_server`` (a 5.0 DISCONNECT), ``refused`` (CONNACK),
    ``transport_closed``, ``keep_alive_timeout``, ``connect_timeout``,
    ``protocol_violation`` or ``local`` (:meth:`Client.close`)."""
    reason_code: Optional[ReasonCode]
    """The server's reason code (DISCONNECT or CONNACK), the one we sent
    on a violation, or ``None``."""
    properties: Properties
    """The server's DISCONNECT or refusing CONNACK properties (reason
    string, user properties, server reference), else empty."""
    redirect: Optional[Redirect]
    """The server's redirection (0x9C / 0x9D with a Server Reference)."""
    message: str
    """What happened, for people."""
    packet: Optional[Union[ConnAck, Disconnect]] = None
    """The server's DISCONNECT or refusing CONNACK, if any."""


@dataclass(frozen=True)
class ReconnectingEvent:
    """The client will try to connect again after ``delay`` seconds;
    ``attempt`` counts the attempts since the last accepted connection
    (1 the first)."""

    attempt: int
    delay: float


#: A change of the connection's state, from ``client.connection_events``.
ConnectionEvent = Union[ConnectedEvent, DisconnectedEvent, ReconnectingEvent]


class _Stream:
    """An async iterator over a deque that the client fills (``_put``) and
    closes (``_close``); iteration ends once it is closed and empty. The
    base of :class:`ConnectionEvents` and :class:`Messages`."""

    def __init__(self, queue: Deque[Any]) -> None:
        self._queue = queue
        self._waiter: Optional[asyncio.Future] = None
        self._closed = False

    def _close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __len__(self) -> int:
        return len(self._queue)

    def __aiter__(self) -> "_Stream":
        return self

    async def _wait(self) -> None:
        """Returns once the queue holds an item; raises
        ``StopAsyncIteration`` when it is closed and empty."""
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class ConnectionEvents(_Stream):
    """The client's connection state changes (``client.connection_events``)
    as an async iterator of :class:`ConnectedEvent`,
    :class:`DisconnectedEvent` and :class:`ReconnectingEvent`, in order,
    from the client's creation on; iteration ends after the client is
    closed. The last ``maxlen`` (100) unread changes are kept: a program
    that never reads them holds at most that many (the current state is
    always in ``client.is_connected`` and ``client.connection_info``)."""

    maxlen = 100

    def __init__(self) -> None:
        super().__init__(deque(maxlen=self.maxlen))

    def _put(self, event: ConnectionEvent) -> None:
        self._queue.append(event)
        self._wake()

    def __aiter__(self) -> "ConnectionEvents":
        return self

    async def __anext__(self) -> ConnectionEvent:
        await self._wait()
        return self._queue.popleft()

    async def get(self, timeout: Optional[float] = None) -> ConnectionEvent:
        """The next change; raises ``asyncio.TimeoutError`` after ``timeout``
        seconds and :class:`ConnectionClosed` once the client is closed and
        every change was read."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except StopAsyncIteration:
            raise ConnectionClosed("the client is closed") from None


# -------------------------------------------------------------------- messages


class _Inbox:
    """The bound shared by a client's message streams: ``held`` messages
    wait in them; at ``limit`` the client stops reading its socket until a
    read brings ``held`` below it again (``resume``)."""

    __slots__ = ("held", "limit", "resume")

    def __init__(self, limit: Optional[int]) -> None:
        self.held = 0
        self.limit = limit if limit is not None else float("inf")
        self.resume: Optional[asyncio.Future] = None

    def wake(self) -> None:
        fut, self.resume = self.resume, None
        if fut is not None and not fut.done():
            fut.set_result(None)

    @property
    def full(self) -> bool:
        return self.held >= self.limit


class Messages(_Stream):
    """The messages the server delivers, as an async iterator
    (``client.messages``, and the streams of
    :meth:`Client.filtered_messages`). Iteration ends when the client is
    closed (after the messages still held are read).

    The streams of one client share its bound, ``max_incoming_messages``:
    when they hold that many messages the client stops reading its socket
    (TCP flow control then slows the server down) until one is read.
    Nothing is ever dropped."""

    def __init__(self, inbox: Optional[_Inbox] = None) -> None:
        super().__init__(deque())
        self._inbox = inbox if inbox is not None else _Inbox(None)

    def _put(self, message: Message) -> None:
        self._queue.append(message)
        self._inbox.held += 1
        self._wake()

    def __aiter__(self) -> "Messages":
        return self

    async def __anext__(self) -> Message:
        if not self._queue:
            await self._wait()
        inbox = self._inbox
        inbox.held -= 1
        if inbox.resume is not None and inbox.held < inbox.limit:
            inbox.wake()
        return self._queue.popleft()

    async def get(self, timeout: Optional[float] = None) -> Message:
        """The next message; raises ``asyncio.TimeoutError`` after ``timeout``
        seconds and :class:`ConnectionClosed` once the stream is closed and
        empty."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except StopAsyncIteration:
            raise ConnectionClosed("the message stream is closed") from None


class FilteredMessages(Messages):
    """The messages whose topic matches ``topic_filter``
    (:meth:`Client.filtered_messages`); the others stay for the other
    streams. An async context manager: leaving it (or :meth:`close`)
    unregisters the stream and hands the messages it still holds to
    ``client.messages``, so none is lost."""

    def __init__(self, client: "Client", topic_filter: str) -> None:
        super().__init__(client._inbox)
        self.topic_filter = topic_filter
        """The filter as given (a ``$share/{group}/`` prefix is allowed)."""
        self._match = _core.topic_matches
        self._pattern = _strip_share(topic_filter)
        self._client = client

    def _matches(self, topic: str) -> bool:
        return self._match(self._pattern, topic)

    def close(self) -> None:
        """Unregisters the stream: new matching messages go to the other
        streams, the ones it holds move to ``client.messages`` and its
        iteration ends."""
        if self._closed:
            return
        self._client._remove_stream(self)
        main = self._client.messages
        while self._queue:
            message = self._queue.popleft()
            self._inbox.held -= 1
            main._put(message)
        self._close()

    async def __aenter__(self) -> "FilteredMessages":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


def _strip_share(topic_filter: str) -> str:
    """The filter without a ``$share/{ShareName}/`` prefix (what topics are
    matched against)."""
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        if len(parts) == 3:
            return parts[2]
    return topic_filter


# ------------------------------------------------------------------ transports


class _Transport:
    """What the drivers need of a byte stream: ``read`` (``b""`` at the
    end), ``write`` (never blocks), ``drain``, ``close`` and ``abort``."""

    high_water = 1 << 20
    blocked = True
    """Whether a publisher must call ``drain`` (always, unless the
    transport knows better)."""

    async def read(self) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def write(self, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def drain(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def buffered(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def aclose(self, timeout: float = 2.0) -> None:
        """Closes after sending what is buffered (aborts after ``timeout``)."""
        self.close()
        try:
            await asyncio.wait_for(self._closed(), timeout)
        except (asyncio.TimeoutError, OSError, Exception):
            pass
        self.abort()

    async def _closed(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def _tune(transport: Any) -> None:
    """TCP_NODELAY on a TCP socket, and 64 KiB reads: CPython's selector
    transport reads up to 256 KiB per recv() and pays an mmap/munmap for
    that buffer on every read; MQTT reads are small, and 64 KiB keeps them
    in the ordinary allocator (about 3x cheaper per read, measured on a
    socketpair)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    if isinstance(getattr(transport, "max_size", None), int):
        transport.max_size = _READ_SIZE


class _StreamTransport(_Transport):
    """TCP or TLS through asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        _tune(writer.transport)

    async def read(self) -> bytes:
        return await self.reader.read(_READ_SIZE)

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def buffered(self) -> int:
        return self.writer.transport.get_write_buffer_size()

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        self.writer.transport.abort()

    async def _closed(self) -> None:
        await self.writer.wait_closed()

    def peer(self) -> Any:
        return self.writer.get_extra_info("peername")


class _ProtocolTransport(_Transport, asyncio.Protocol):
    """TCP or TLS for the client, as an ``asyncio.Protocol``: the event loop
    hands each read straight to the driver (``data_received`` calls
    ``on_data``), with no StreamReader buffer, no awaited read and no task
    switch per read. ``blocked`` tells publishers when to call ``drain``
    (writing paused, or the transport closing)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: Any = None
        self.on_data: Optional[Callable[[bytes], None]] = None
        self._early: List[bytes] = []  # data received before on_data was set
        self.blocked = False
        self._paused = False
        self._drain_waiter: Optional[asyncio.Future] = None
        self._lost: asyncio.Future = loop.create_future()  # result: connection_lost's exception

    # -- asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        _tune(transport)

    def data_received(self, data: bytes) -> None:
        on_data = self.on_data
        if on_data is None:
            self._early.append(data)
        else:
            on_data(data)

    def eof_received(self) -> None:
        return None  # the transport closes itself

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.blocked = True
        if not self._lost.done():
            self._lost.set_result(exc)
        self._wake_drain()

    def pause_writing(self) -> None:
        self._paused = True
        self.blocked = True

    def resume_writing(self) -> None:
        self._paused = False
        self.blocked = self._lost.done() or self.transport.is_closing()
        self._wake_drain()

    def _wake_drain(self) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the driver's side

    async def run(self, on_data: Callable[[bytes], None]) -> Optional[Exception]:
        """Feeds every read to ``on_data`` until the connection is lost;
        returns the transport's error (``None`` at a clean end)."""
        self.on_data = on_data
        early, self._early = self._early, []
        for data in early:
            on_data(data)
        return await asyncio.shield(self._lost)

    async def read(self) -> bytes:  # pragma: no cover - the client uses run()
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        transport = self.transport
        transport.write(data)
        if transport.is_closing():
            self.blocked = True

    async def drain(self) -> None:
        # As StreamWriter.drain: yield once on a closing transport (so
        # connection_lost can run), fail once lost, wait while paused.
        if self.transport.is_closing():
            await asyncio.sleep(0)
        if self._lost.done():
            raise ConnectionResetError("Connection lost")
        if not self._paused:
            return
        waiter = self._drain_waiter
        if waiter is None or waiter.done():
            waiter = self._drain_waiter = self._loop.create_future()
        await asyncio.shield(waiter)

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size()

    def pause_reading(self) -> None:
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.transport.is_closing():
            try:
                self.transport.resume_reading()
            except RuntimeError:  # pragma: no cover - not paused
                pass

    def close(self) -> None:
        self.blocked = True
        self.transport.close()

    def abort(self) -> None:
        self.blocked = True
        self.transport.abort()

    async def _closed(self) -> None:
        await asyncio.shield(self._lost)

    def peer(self) -> Any:
        return self.transport.get_extra_info("peername")


class _WebSocketTransport(_Transport):
    """MQTT over WebSocket (subprotocol ``mqtt``, binary messages) on a
    ``websockets`` connection. Writes made together leave as one message,
    sent in order by one sender task."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._out: Deque[bytes] = deque()
        self._size = 0
        self._kick = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._sender = asyncio.ensure_future(self._send_loop())

    async def _send_loop(self) -> None:
        try:
            while True:
                await self._kick.wait()
                self._kick.clear()
                while self._out:
                    chunk = b"".join(self._out)
                    self._out.clear()
                    await self.ws.send(chunk)
                    self._size = sum(map(len, self._out))
                self._idle.set()
                if self._closing:
                    await self.ws.close()
                    return
        except Exception as exc:  # the reader sees the closed connection
            log.debug("websocket send failed: %r", exc)
            self._idle.set()

    async def read(self) -> bytes:
        import websockets

        while True:
            try:
                message = await self.ws.recv()
            except websockets.ConnectionClosed:
                return b""
            if isinstance(message, str):
                # [MQTT-6.0.0-1] MQTT travels in binary frames only.
                log.warning("websocket text frame received: closing")
                self.abort()
                return b""
            if message:
                return message

    def write(self, data: bytes) -> None:
        if self._closing:
            return
        self._out.append(data)
        self._size += len(data)
        self._idle.clear()
        self._kick.set()

    async def drain(self) -> None:
        if self._size > self.high_water:
            await self._idle.wait()

    def buffered(self) -> int:
        return self._size

    def close(self) -> None:
        self._closing = True
        self._kick.set()

    def abort(self) -> None:
        self._closing = True
        self._sender.cancel()
        self.ws.transport.abort()

    async def _closed(self) -> None:
        await asyncio.wait([self._sender])

    def peer(self) -> Any:
        return self.ws.remote_address


def _ws_errors() -> Tuple[type, ...]:
    """The exceptions of a failed WebSocket handshake (none without the library)."""
    try:
        from websockets.exceptions import InvalidHandshake, InvalidURI
    except ImportError:  # pragma: no cover - websockets not installed
        return ()
    return (InvalidHandshake, InvalidURI)


class _URL(NamedTuple):
    """A parsed ``mqtt://``, ``mqtts://``, ``ws://`` or ``wss://`` URL."""

    scheme: str
    host: str
    port: int
    username: Optional[str]
    password: Optional[str]
    path: Optional[str]  # mqtt(s): the topic; ws(s): the WebSocket path (with its "/")
    transport: str  # "tcp" or "websockets"
    tls: bool


_URL_SCHEMES = {
    "mqtt": ("tcp", False, 1883),
    "mqtts": ("tcp", True, 8883),
    "ws": ("websockets", False, 80),
    "wss": ("websockets", True, 443),
}


def _parse_url(url: str) -> _URL:
    """Parses ``scheme://[user[:password]@]host[:port][/rest]`` (raises
    ``ValueError``). The user and password are percent-decoded; ``rest`` is
    kept as written, so ``mqtt://host/a/#`` names the filter ``a/#`` as in
    mosquitto_sub's ``-L``. Default ports: 1883, 8883, 80, 443."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a URL: {url!r} (expected mqtt://, mqtts://, ws:// or wss://)")
    if scheme.lower() not in _URL_SCHEMES:
        raise ValueError(f"unsupported URL scheme {scheme + '://'!r} (use mqtt://, mqtts://, ws:// or wss://)")
    scheme = scheme.lower()
    transport, tls, port = _URL_SCHEMES[scheme]
    authority, slash, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        if not user:
            raise ValueError(f"empty user name in URL {url!r}")
        username = unquote(user)
        password = unquote(secret) if colon else None
    port_text: Optional[str] = None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in the host of URL {url!r}")
        host, after = hostport[1:end], hostport[end + 1 :]
        if after:
            if not after.startswith(":"):
                raise ValueError(f"bad host in URL {url!r}")
            port_text = after[1:]
    else:
        host, colon, text = hostport.partition(":")
        if colon:
            port_text = text
    if not host:
        raise ValueError(f"no host in URL {url!r}")
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port {port_text!r} in URL {url!r}")
        port = int(port_text)
    if transport == "websockets":
        full: Optional[str] = "/" + path if slash else None
    else:
        full = path or None
    return _URL(scheme, host, port, username, password, full, transport, tls)


class Client:
    """An MQTT 3.1.1 / 5.0 client on asyncio, over TCP or TLS.

    ``async with Client(host, port, ...) as client`` connects (raising
    :class:`ConnectError` when the first connection fails) and, on exit,
    sends DISCONNECT and closes. In between the client reconnects by
    itself after a dropped connection (exponential backoff with jitter,
    ``reconnect_delay`` to ``reconnect_max_delay`` seconds), resuming the
    session: QoS 1 and 2 messages in flight are sent again by the core, so
    nothing is lost (use a fixed ``client_id`` and, in 5.0, a
    ``session_expiry`` above 0, or ``clean_start=False`` in 3.1.1, so the
    server keeps the session too).

    Options: ``version`` 3 (3.1: ``client_id`` of 1 to 23 characters), 4
    (3.1.1) or 5; ``client_id``; ``username``,
    ``password``; ``will`` (a :class:`libmqtt.Will`); ``keep_alive``
    seconds; ``clean_start``; ``session_expiry`` seconds (5.0);
    ``ssl`` an :class:`ssl.SSLContext` (or ``True`` for the default
    context); ``server_hostname`` for TLS; ``manual_ack`` (acknowledge each
    message with :meth:`acknowledge`); ``reconnect`` (``False``: a dropped
    connection ends the client); ``connect_timeout``;
    ``max_incoming_messages`` (default 1000; ``None``: no bound), the
    messages the streams may hold before the client stops reading its
    socket (see :class:`Messages`); ``authenticate``, the enhanced
    authentication hook (with ``authentication_method`` and
    ``authentication_data``): called with each AUTH challenge of the
    server (a :class:`libmqtt.Auth`), it returns the Authentication Data
    to answer with (``bytes`` or ``None``), or an awaitable of it;
    ``telemetry``, a :class:`libmqtt.telemetry.Telemetry`: OpenTelemetry
    spans and metrics, trace context in the messages (off by default); any
    other keyword goes to :class:`libmqtt.Client` (``max_inflight``,
    ``max_queued``, ``receive_maximum``, ``user_properties``, ...).
    :meth:`from_url` makes one from ``mqtt://``, ``mqtts://``, ``ws://`` or
    ``wss://`` URLs.

    The connection as it is: :attr:`connection_info` (the last CONNACK's
    information, also returned by :meth:`connect`), :attr:`is_connected`,
    and :attr:`connection_events`, an async iterator of state changes
    (connected, disconnected with the reason, reconnecting with the
    attempt and delay).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        version: int = 5,
        client_id: str = "",
        username: Optional[str] = None,
        password: Optional[Union[str, bytes]] = None,
        will: Optional[Will] = None,
        keep_alive: int = 60,
        clean_start: bool = True,
        session_expiry: int = 0,
        ssl: Optional[Union[_ssl.SSLContext, bool]] = None,
        server_hostname: Optional[str] = None,
        manual_ack: bool = False,
        reconnect: bool = True,
        reconnect_delay: float = 0.1,
        reconnect_max_delay: float = 30.0,
        connect_timeout: float = 10.0,
        transport: str = "tcp",
        websocket_path: str = "/mqtt",
        websocket_headers: Optional[Dict[str, str]] = None,
        max_incoming_messages: Optional[int] = 1000,
        authenticate: Optional[Callable[[Auth], Union[Optional[bytes], Awaitable[Optional[bytes]]]]] = None,
        telemetry: Optional[Any] = None,
        **options: Any,
    ) -> None:
        if transport not in ("tcp", "websockets"):
            raise ValueError("transport is 'tcp' or 'websockets'")
        if max_incoming_messages is not None and (
            isinstance(max_incoming_messages, bool)
            or not isinstance(max_incoming_messages, int)
            or max_incoming_messages < 1
        ):
            raise InvalidArgument(
                f"max_incoming_messages must be an int >= 1 or None, not {max_incoming_messages!r}",
                kind="OutOfRange",
                field="max_incoming_messages",
            )
        self.host = host
        self._transport_kind = transport
        self._ws_path = websocket_path
        self._ws_headers = websocket_headers
        self.port = port
        self._ssl = ssl
        self._server_hostname = server_hostname
        self._reconnect = reconnect
        self._backoff = _Backoff(reconnect_delay, reconnect_max_delay)
        self._connect_timeout = connect_timeout
        self._manual_ack = manual_ack
        self._core = _core.Client(
            client_id,
            version=version,
            keep_alive=keep_alive,
            clean_start=clean_start,
            session_expiry_interval=session_expiry,
            username=username,
            password=password,
            will=will,
            manual_ack=manual_ack,
            connect_timeout=connect_timeout,
            **options,
        )
        self._inbox = _Inbox(max_incoming_messages)
        self.messages = Messages(self._inbox)
        """The messages no :meth:`filtered_messages` stream takes."""
        self._streams: List[FilteredMessages] = []
        self.connection_events = ConnectionEvents()
        """The connection's state changes (:class:`ConnectionEvents`)."""
        self.connection_info: Optional[ConnectionInfo] = None
        """The last accepted connection's CONNACK information
        (:class:`ConnectionInfo`), ``None`` before the first; it stays
        after a disconnection until the next CONNACK replaces it."""
        self._auth_hook = authenticate
        self._auth_tasks: set = set()
        self._reauth: Optional[asyncio.Future] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._transport: Optional[_Transport] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._runner: Optional[asyncio.Task] = None
        self._closing = False
        self._closed = False
        self._connected: Optional[asyncio.Event] = None
        self._first: Optional[asyncio.Future] = None
        self._pending: Dict[int, asyncio.Future] = {}  # publish id / packet id -> future
        self._acks: Dict[int, asyncio.Future] = {}  # SUBSCRIBE / UNSUBSCRIBE packet id -> future
        self._window_waiters: Deque[asyncio.Future] = deque()
        self._requests: Dict[bytes, asyncio.Future] = {}
        self._response_topic: Optional[str] = None
        self._response_sub: Optional[asyncio.Future] = None
        self.connection_count = 0
        """Connections made so far (1 after the first, more after reconnects)."""
        # OpenTelemetry hooks (libmqtt._telemetry), None when off: then
        # nothing of it runs and opentelemetry is never imported. When on,
        # the instance's publish is the traced one (the class's stays as
        # it is: no cost when off).
        self._telemetry = None
        if telemetry is not None:
            self._telemetry = telemetry._bind(self._describe)
            self.publish = self._traced_publish  # type: ignore[method-assign]

    def _describe(self) -> Tuple[str, str, int, int]:
        return self._core.client_id, self.host, self.port, self._core.version

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "Client":
        """A client for ``mqtt://[user[:password]@]host[:port]``, ``mqtts://``
        (TLS), ``ws://host[:port][/path]`` or ``wss://`` (WebSocket, plain or
        TLS). Default ports 1883, 8883, 80 and 443; a WebSocket URL without a
        path uses ``/mqtt``. The user name and password may be
        percent-encoded. Other keywords are the constructor's; for TLS pass
        ``ssl=`` an :class:`ssl.SSLContext` (default: the system's trusted
        CAs). Raises ``ValueError`` for a bad URL, a topic in an ``mqtt://``
        URL (a client has no topic: that part is for the command line), or
        a keyword contradicting the URL (``username=`` when the URL has one,
        ``ssl=`` with ``mqtt://`` or ``ws://``)."""
        u = _parse_url(url)
        if u.transport == "tcp" and u.path:
            raise ValueError(f"Client.from_url: {url!r} names a topic ({u.path!r}); give only mqtt://host:port")
        given: Dict[str, Any] = {"transport": u.transport}
        if u.transport == "websockets" and u.path is not None:
            given["websocket_path"] = u.path
        if u.username is not None:
            given["username"] = u.username
        if u.password is not None:
            given["password"] = u.password
        for key in given:
            if key in options:
                raise ValueError(f"Client.from_url: {key}= contradicts the URL {url!r}")
        ssl = options.pop("ssl", None)
        if u.tls:
            if ssl is False:
                raise ValueError(f"Client.from_url: ssl=False contradicts the URL {url!r}")
            ssl = ssl or True
        elif ssl:
            raise ValueError(f"Client.from_url: {u.scheme}:// is not TLS; use {u.scheme}s:// with ssl=")
        else:
            ssl = None
        return cls(u.host, u.port, ssl=ssl, **given, **options)

    # ----------------------------------------------------------------- life

    async def __aenter__(self) -> "Client":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def core(self) -> _core.Client:
        """The sans-IO :class:`libmqtt.Client` underneath (for inspection)."""
        return self._core

    @property
    def client_id(self) -> str:
        """The client identifier in use (the server's assigned one once given)."""
        return self._core.client_id

    @property
    def is_connected(self) -> bool:
        """Whether the server has accepted the current connection."""
        return self._core.state == "connected"

    async def connect(self) -> ConnectionInfo:
        """Connects (once); returns the CONNACK's :class:`ConnectionInfo`
        when the server has accepted (also in :attr:`connection_info`,
        replaced at each reconnection). Raises :class:`ConnectError` if the
        first attempt fails."""
        if self._runner is not None:
            raise ClientError("already connected or connecting", kind="InvalidState")
        self._loop = loop = asyncio.get_running_loop()
        # loop.time() is time.monotonic() in asyncio's own loops: called
        # directly on the hot paths (a Python method call less).
        self._clock = time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time
        self._connected = asyncio.Event()
        self._first = self._loop.create_future()
        self._runner = self._loop.create_task(self._run(), name=f"libmqtt-client-{self.client_id}")
        try:
            return await self._first
        except BaseException:
            await self._shutdown()
            raise

    async def wait_connected(self, timeout: Optional[float] = None) -> None:
        """Waits until a connection is accepted (again, after a drop)."""
        if self._connected is None:
            raise ConnectionClosed("the client is not running (use `async with Client(...)`)")
        await asyncio.wait_for(self._connected.wait(), timeout)

    def drop_connection(self) -> None:
        """Closes the transport abruptly, without DISCONNECT, as a network
        failure would (the server publishes the will). With ``reconnect``
        the client connects again and resumes the session."""
        if self._transport is not None:
            log.info("%s: dropping the connection abruptly", self.client_id)
            self._transport.abort()
            self._transport = None  # a read loop paused by a full inbox reads on to the end
            self._inbox.wake()

    async def close(self, *, abrupt: bool = False) -> None:
        """Ends the client: sends DISCONNECT (unless ``abrupt``, which just
        closes the transport so the server publishes the will), closes the
        transport and fails operations still waiting with
        :class:`ConnectionClosed`."""
        if self._closed:
            return
        self._closing = True
        writer = self._transport
        if writer is not None and not abrupt and self._core.state != "disconnected":
            try:
                self._core.disconnect(now=self._now())
            except MQTTError:
                pass
            self._process()
            try:
                await asyncio.wait_for(writer.drain(), 5)
            except (OSError, asyncio.TimeoutError):
                pass
        if writer is not None:
            if abrupt:
                writer.abort()
            else:
                await writer.aclose()
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._closing = True
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()
            try:
                await runner
            except (asyncio.CancelledError, Exception):
                pass
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        closed = ConnectionClosed("the client is closed")
        for fut in [*self._pending.values(), *self._acks.values(), *self._requests.values()]:
            if not fut.done():
                fut.set_exception(closed)
        if self._reauth is not None and not self._reauth.done():
            self._reauth.set_exception(closed)
        self._pending.clear()
        self._acks.clear()
        self._requests.clear()
        for task in list(self._auth_tasks):
            task.cancel()
        self._wake_window(everyone=True)
        self.messages._close()
        for stream in list(self._streams):
            stream._close()
        self.connection_events._close()

    # -------------------------------------------------------------- driving

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    _clock: Callable[[], float] = staticmethod(time.monotonic)  # loop.time, set by connect()

    async def _open(self) -> _Transport:
        ctx = self._ssl
        if ctx is True:
            ctx = _ssl.create_default_context()
        kwargs: Dict[str, Any] = {}
        if ctx:
            kwargs["ssl"] = ctx
            if self._server_hostname is not None:
                kwargs["server_hostname"] = self._server_hostname
        if self._transport_kind == "websockets":
            from websockets.asyncio.client import connect as ws_connect

            scheme = "wss" if ctx else "ws"
            ws = await ws_connect(
                f"{scheme}://{self.host}:{self.port}{self._ws_path}",
                subprotocols=["mqtt"],
                additional_headers=self._ws_headers,
                compression=None,
                open_timeout=self._connect_timeout,
                ping_interval=None,
                proxy=None,
                max_size=None,
                **kwargs,
            )
            return _WebSocketTransport(ws)
        loop = asyncio.get_running_loop()
        protocol = _ProtocolTransport(loop)
        await asyncio.wait_for(
            loop.create_connection(lambda: protocol, self.host, self.port, **kwargs), self._connect_timeout
        )
        return protocol

    async def _run(self) -> None:
        """The whole life; a bug surfaces in ``connect()`` or the log."""
        try:
            await self._life()
        except Exception as exc:
            log.exception("%s: the client failed", self.client_id)
            if self._first is not None and not self._first.done():
                self._first.set_exception(exc)
            self._loop.create_task(self._shutdown())  # type: ignore[union-attr]

    async def _life(self) -> None:
        """Connect, read until the connection ends, reconnect."""
        while not self._closing:
            try:
                writer = await self._open()
            except (OSError, asyncio.TimeoutError) + _ws_errors() as exc:
                log.warning("%s: cannot connect to %s:%s: %r", self.client_id, self.host, self.port, exc)
                if not self._retry(ConnectError(f"cannot connect to {self.host}:{self.port}: {exc!r}")):
                    return
                await self._reconnect_delay()
                continue
            self._transport = writer
            self.connection_count += 1
            log.debug("%s: transport open to %s:%s", self.client_id, self.host, self.port)
            try:
                self._core.connect(self._now())
                self._process()
                if isinstance(writer, _ProtocolTransport):
                    # Each read is handled in data_received (_on_data).
                    self._failure = None
                    lost = await writer.run(self._on_data)
                    failure, self._failure = self._failure, None
                    if failure is not None:
                        raise failure
                    if lost is not None:
                        raise lost
                else:
                    core = self._core
                    inbox = self._inbox
                    while True:
                        data = await writer.read()
                        if not data:
                            break
                        core.receive_data(data, self._now())
                        self._process()
                        if inbox.held >= inbox.limit:
                            await self._wait_for_room(writer)
            except (OSError, asyncio.IncompleteReadError) as exc:
                log.info("%s: transport error: %r", self.client_id, exc)
            finally:
                self._transport = None
                writer.abort()
                self._connected.clear()  # type: ignore[union-attr]
                if self._core.state != "disconnected":
                    self._core.connection_lost(self._now())
                    self._process()
            if self._closing:
                return
            refused = self._refused
            self._refused = None
            if refused is not None:
                err: MQTTError = refused
            else:
                err = ConnectError("the connection closed before CONNACK")
            if not self._retry(err):
                return
            await self._reconnect_delay()

    _refused: Optional[MQTTError] = None
    _failure: Optional[BaseException] = None

    def _on_data(self, data: bytes) -> None:
        """One read of a :class:`_ProtocolTransport` (called by the event
        loop): into the core, then drained; reading pauses while the
        streams are full. A failure here (a bug) ends the connection and
        surfaces from the read loop, as an exception in a read would."""
        try:
            self._core.receive_data(data, self._clock())
            self._process()
            inbox = self._inbox
            if inbox.held >= inbox.limit:
                self._pause_for_room()
        except Exception as exc:
            if self._failure is None:
                self._failure = exc
            writer = self._transport
            if writer is not None:
                writer.abort()

    def _pause_for_room(self) -> None:
        """Backpressure of a :class:`_ProtocolTransport` (see
        :meth:`_wait_for_room`): reading pauses until a message is taken
        below the bound, or the connection ends."""
        inbox = self._inbox
        writer = self._transport
        if inbox.resume is not None or self._core.state != "connected" or not isinstance(writer, _ProtocolTransport):
            return
        log.debug("%s: %d messages unread: reading paused", self.client_id, inbox.held)
        writer.pause_reading()
        self._input_paused(True)
        resume = inbox.resume = self._loop.create_future()  # type: ignore[union-attr]

        def resumed(_: "asyncio.Future[None]") -> None:
            writer.resume_reading()
            if self._transport is writer:
                self._input_paused(False)

        resume.add_done_callback(resumed)

    def _input_paused(self, paused: bool) -> None:
        """Tells the core that reading stopped (or goes on), so that an
        unread PINGRESP is not a keep alive timeout, and re-arms the timer."""
        self._core.set_input_paused(paused, self._now())
        self._arm_timer()

    async def _reconnect_delay(self) -> None:
        """Reports the coming attempt (:class:`ReconnectingEvent`) and waits."""
        delay = self._backoff.next_delay()
        log.info("%s: reconnecting in %.2fs (attempt %d)", self.client_id, delay, self._backoff.attempts)
        self.connection_events._put(ReconnectingEvent(self._backoff.attempts, delay))
        await asyncio.sleep(delay)

    async def _wait_for_room(self, writer: _Transport) -> None:
        """Backpressure: the streams hold ``max_incoming_messages``, so the
        socket is not read (the server's sends wait in the TCP buffers, then
        in the server) until the application takes a message. Writing and
        the timers go on. Only once connected: CONNACK is always read."""
        inbox = self._inbox
        if inbox.held >= inbox.limit and self._core.state == "connected" and self._transport is writer:
            log.debug("%s: %d messages unread: reading paused", self.client_id, inbox.held)
            # Woken when a message is taken below the bound, or when the
            # connection ends or is dropped (the next read then sees it).
            inbox.resume = self._loop.create_future()  # type: ignore[union-attr]
            self._input_paused(True)
            try:
                await inbox.resume
            finally:
                if self._transport is writer:
                    self._input_paused(False)

    def _retry(self, err: MQTTError) -> bool:
        """After a failed or ended connection: whether to try again."""
        if self._first is not None and not self._first.done():
            self._first.set_exception(err)
            return False
        if not self._reconnect:
            self._loop.create_task(self._shutdown())  # type: ignore[union-attr]
            return False
        return True

    def _process(self) -> None:
        """Drains the core: one write of everything to send, then events,
        then the timer."""
        core = self._core
        self._unflushed = 0
        data = core.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)
        if self._telemetry is not None and self._telemetry.unwritten:
            self._telemetry.written()
        close = False
        events = core.events()
        while events:
            # The common delivery inline: no response topic, no filtered
            # streams (else _dispatch routes each message).
            put = self.messages._put if self._response_topic is None and not self._streams and self._telemetry is None else None
            pending = self._pending
            for event in events:
                kind = event.__class__
                if kind is Message and put is not None:
                    put(event)
                elif kind is PublishCompleted and event.reason_code < 0x80:
                    # An acknowledged publish (the common completion, inline).
                    fut = pending.pop(event.id, None)
                    if fut is not None and not fut.done():
                        fut.set_result(event)
                elif self._dispatch(event):
                    close = True
            events = core.events()  # those the dispatch caused, if any
        data = core.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)
        if close and self._transport is not None:
            self._transport.close()
        self._arm_timer()
        self._wake_window()

    _unflushed = 0
    _flush_scheduled = False
    _FLUSH_EVERY = 64

    def _flush_soon(self) -> None:
        """After a publish: drain the core at the end of this loop iteration,
        so that publishes made together leave in one write (or now, every
        ``_FLUSH_EVERY`` publishes, for a loop that never yields)."""
        self._unflushed += 1
        if self._unflushed >= self._FLUSH_EVERY:
            self._process()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush_cb)  # type: ignore[union-attr]

    def _flush_cb(self) -> None:
        self._flush_scheduled = False
        if self._unflushed:
            self._process()

    def _dispatch(self, event: Any) -> bool:
        """Handles one event; returns True when the transport must close."""
        if isinstance(event, Message):
            if self._telemetry is not None:
                event = self._telemetry.received(event)
            if self._response_topic is not None and event.topic == self._response_topic:
                cd = event.publish.properties.correlation_data
                fut = self._requests.pop(cd, None) if cd is not None else None
                if fut is not None and not fut.done():
                    fut.set_result(event)
                else:
                    log.debug("%s: a late or unknown response on %s dropped", self.client_id, event.topic)
                return False
            if self._streams:
                topic = event.topic
                taken = False
                for stream in self._streams:
                    if stream._matches(topic):
                        stream._put(event)
                        taken = True
                if taken:
                    return False
            self.messages._put(event)
        elif isinstance(event, PublishCompleted):
            fut = self._pending.pop(event.id, None)
            if fut is not None and not fut.done():
                code = event.reason_code
                if code < 0x80:
                    fut.set_result(event)
                elif code == 0x92:  # ReasonCode.PACKET_IDENTIFIER_NOT_FOUND
                    # Only PUBCOMP may carry 0x92 (the codec refuses it in
                    # PUBACK and PUBREC): the server answered our PUBREL,
                    # resent after a reconnect, for an exchange it had
                    # already completed. The PUBREC said it had the message:
                    # delivered once, not an error (MQTT 5.0 3.7.2.1, 4.3.3).
                    log.info("%s: PUBCOMP 0x92 for publish %d: it had completed before", self.client_id, event.id)
                    fut.set_result(event)
                else:
                    fut.set_exception(
                        PublishError(
                            f"publish refused: {ReasonCode(event.reason_code).name}",
                            reason_code=event.reason_code,
                        )
                    )
        elif isinstance(event, Connected):
            log.info(
                "%s: connected to %s:%s (session present: %s)",
                event.client_id,
                self.host,
                self.port,
                event.session_present,
            )
            info = ConnectionInfo._from_event(event, self.connection_count)
            self.connection_info = info
            if self._telemetry is not None:
                self._telemetry.connected()
            self._backoff.reset()
            self._connected.set()  # type: ignore[union-attr]
            self.connection_events._put(ConnectedEvent(info))
            if self._first is not None and not self._first.done():
                self._first.set_result(info)
        elif isinstance(event, (Subscribed, Unsubscribed)):
            fut = self._acks.pop(event.packet_id, None)
            if fut is not None and not fut.done():
                fut.set_result(event)
        elif isinstance(event, PublishDropped):
            fut = self._pending.pop(event.id, None)
            if fut is not None and not fut.done():
                fut.set_exception(PublishError(f"publish dropped: {event.reason.value}", kind=event.reason.value))
        elif isinstance(event, PublishRequeued):
            fut = self._pending.pop(event.old, None)
            if fut is not None:
                self._pending[event.new] = fut
        elif isinstance(event, Disconnected):
            log.info("%s: disconnected (%s) %s", self.client_id, event.kind.value, event.message)
            self._connected.clear()  # type: ignore[union-attr]
            if self._telemetry is not None:
                self._telemetry.disconnected()
            packet = event.packet
            self.connection_events._put(
                DisconnectedEvent(
                    kind=event.kind,
                    reason_code=event.reason_code,
                    properties=packet.properties if packet is not None else NO_PROPERTIES,
                    redirect=event.redirect,
                    message=event.message,
                    packet=packet,
                )
            )
            if event.kind == DisconnectKind.REFUSED:
                refused = ConnectError(
                    f"connection refused: {event.message}",
                    reason_code=event.reason_code,
                )
                refused.connack = packet  # type: ignore[assignment]
                refused.redirect = event.redirect
                if self._refused is None:
                    self._refused = refused
            reauth = self._reauth
            if reauth is not None and not reauth.done():
                reauth.set_exception(
                    AuthenticationError(
                        f"the connection ended during the re-authentication: {event.message}",
                        reason_code=event.reason_code,
                    )
                )
            self._inbox.wake()  # a read loop paused by a full inbox sees the end
            return event.kind != DisconnectKind.TRANSPORT_CLOSED
        elif isinstance(event, AuthChallenge):
            self._answer_challenge(event.auth)
        elif isinstance(event, Reauthenticated):
            log.info("%s: re-authenticated", self.client_id)
            reauth = self._reauth
            if reauth is not None and not reauth.done():
                reauth.set_result(event.auth)
        else:
            log.debug("%s: %r", self.client_id, event)
        return False

    _timer_when = 0.0

    def _arm_timer(self) -> None:
        # A timer due no later than the core's deadline stays: firing early
        # is harmless (handle_timeout does nothing, _on_timer re-arms), and
        # the keep alive deadline moves later at every packet sent, which
        # would otherwise cost a cancel and a new timer per write.
        deadline = self._core.next_timeout()
        if self._timer is not None:
            if deadline is not None and self._timer_when <= deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None and not self._closed and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)
            self._timer_when = deadline

    def _on_timer(self) -> None:
        self._timer = None
        self._core.handle_timeout(self._now())
        self._process()

    def _wake_window(self, everyone: bool = False) -> None:
        """Wakes the first publishers waiting for room (FIFO), as many as
        the inflight window has room for (at least one); their publishes
        drain the core again and wake the next, so n waiters cost O(n)."""
        waiters = self._window_waiters
        if not waiters:
            return
        core = self._core
        room = core.send_quota if core.state == "connected" else 1
        count = len(waiters) if everyone else max(1, room)
        while waiters and count > 0:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                count -= 1

    async def _wait_window(self, first: bool) -> None:
        assert self._loop is not None
        fut = self._loop.create_future()
        if first:
            self._window_waiters.appendleft(fut)
        else:
            self._window_waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._wake_window()  # pass the wake-up on
            raise

    async def _drain(self) -> None:
        writer = self._transport
        if writer is not None:
            try:
                await writer.drain()
            except OSError:
                pass  # the read loop sees the failure and reconnects

    def _check_open(self) -> None:
        if self._closed or self._runner is None:
            raise ConnectionClosed("the client is not running (use `async with Client(...)`)")

    # ------------------------------------------------------------- commands

    async def publish(
        self,
        topic: str,
        payload: Union[bytes, bytearray, memoryview, str, None] = b"",
        qos: int = 0,
        retain: bool = False,
        **properties: Any,
    ) -> Optional[PublishCompleted]:
        """Publishes; for QoS 1 and 2 returns the :class:`PublishCompleted`
        once PUBACK / PUBCOMP arrives (raising :class:`PublishError` for an
        error reason code), across reconnects. Waits, instead of queuing
        without bound, while the inflight window is full. 5.0 properties as
        keywords: ``user_properties``, ``response_topic``,
        ``correlation_data``, ``content_type``, ``message_expiry_interval``,
        ``payload_format_indicator`` or ``properties=``.

        With ``telemetry=``, a PRODUCER span covers the call and its trace
        context goes into the message (5.0: ``traceparent`` /
        ``tracestate`` User Properties; 3.1.1: the envelope, if enabled)."""
        if self._closed or self._runner is None:
            self._check_open()  # raises
        core = self._core
        if self._window_waiters or not core.can_queue or (qos > 0 and core.send_quota == 0 and core.state == "connected"):
            await self._wait_for_publish_room(qos)
        ident = core.publish(topic, payload, qos, retain, now=self._clock(), **properties)
        fut = None
        if qos > 0:
            fut = self._loop.create_future()  # type: ignore[union-attr]
            self._pending[ident] = fut
        # _flush_soon(), inline
        self._unflushed += 1
        if self._unflushed >= self._FLUSH_EVERY:
            self._process()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush_cb)  # type: ignore[union-attr]
        transport = self._transport
        if transport is not None and transport.blocked:
            await self._drain()
        if fut is None:
            return None
        return await fut

    async def _traced_publish(
        self,
        topic: str,
        payload: Union[bytes, bytearray, memoryview, str, None] = b"",
        qos: int = 0,
        retain: bool = False,
        **properties: Any,
    ) -> Optional[PublishCompleted]:
        """:meth:`publish` with ``telemetry=``: in a PRODUCER span (until
        PUBACK / PUBCOMP; QoS 0: until written), the trace context in the
        message."""
        tel = self._telemetry
        handle, payload, properties = tel.publish_start_kw(topic, payload, qos, retain, properties)  # type: ignore[union-attr]
        try:
            result = await type(self).publish(self, topic, payload, qos, retain, **properties)
        except BaseException as exc:
            tel.publish_end(handle, exc)  # type: ignore[union-attr]
            raise
        if qos == 0 and self._unflushed:
            tel.unwritten.append(handle)  # type: ignore[union-attr]  # ended by the coming _process()
        else:
            tel.publish_end(handle)  # type: ignore[union-attr]
        return result

    async def _wait_for_publish_room(self, qos: int) -> None:
        """A publish waits (FIFO) while others wait, while the core's queue
        is full, or (QoS 1 and 2) while the inflight window is."""
        core = self._core
        woken = False
        while (
            self._window_waiters and not woken
        ) or not core.can_queue or (qos > 0 and core.state == "connected" and core.send_quota == 0):
            await self._wait_window(first=woken)
            woken = True
            self._check_open()

    async def subscribe(
        self,
        topic_filter: Union[str, Sequence[Any]],
        qos: int = 0,
        *,
        timeout: Optional[float] = None,
        **options: Any,
    ) -> Subscribed:
        """Subscribes and returns the SUBACK (:class:`libmqtt.Subscribed`);
        raises :class:`SubscribeError` when the server refuses a filter.
        Options: ``no_local``, ``retain_as_published``, ``retain_handling``,
        ``subscription_identifier``, ``user_properties``."""
        self._check_open()
        packet_id = self._core.subscribe(topic_filter, qos, now=self._now(), **options)
        event = await self._await_ack(packet_id, timeout)
        bad = [c for c in event.reason_codes if c >= 0x80]
        if bad:
            err = SubscribeError(f"subscription refused: {ReasonCode(bad[0]).name}", reason_code=bad[0])
            err.reason_codes = event.reason_codes
            raise err
        if self._telemetry is not None:
            from ._telemetry import filter_names

            self._telemetry.subscribed(filter_names(topic_filter))
        return event

    async def unsubscribe(self, topic_filter: Union[str, Sequence[str]], *, timeout: Optional[float] = None, **options: Any) -> Unsubscribed:
        """Unsubscribes and returns the UNSUBACK (:class:`libmqtt.Unsubscribed`)."""
        self._check_open()
        packet_id = self._core.unsubscribe(topic_filter, now=self._now(), **options)
        event = await self._await_ack(packet_id, timeout)
        if self._telemetry is not None:
            from ._telemetry import filter_names

            self._telemetry.unsubscribed(filter_names(topic_filter))
        return event

    async def _await_ack(self, packet_id: int, timeout: Optional[float]) -> Any:
        fut = self._loop.create_future()  # type: ignore[union-attr]
        self._acks[packet_id] = fut
        self._process()
        await self._drain()
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._acks.pop(packet_id, None)

    def acknowledge(self, message: Union[Message, int]) -> None:
        """Acknowledges a message (``manual_ack=True``): PUBACK or PUBREC goes
        out (in arrival order). Without manual ack this does nothing."""
        token = message if isinstance(message, int) else message.ack_token
        if token is None:
            return
        self._core.acknowledge(token, now=self._now())
        self._process()

    async def request(
        self,
        topic: str,
        payload: Union[bytes, str, None] = b"",
        *,
        qos: int = 1,
        timeout: float = 10.0,
        **properties: Any,
    ) -> Message:
        """MQTT 5.0 request/response: publishes with a Response Topic (this
        client's, subscribed on first use) and a fresh Correlation Data, and
        returns the response :class:`libmqtt.Message` (the one carrying the
        same Correlation Data). Raises ``asyncio.TimeoutError`` after
        ``timeout`` seconds."""
        self._check_open()
        if self._core.version != 5:
            raise ClientError("request/response needs MQTT 5.0", kind="FeatureNotSupported")
        if self._response_topic is None:
            topic_r = f"libmqtt/response/{uuid.uuid4().hex}"
            if self._response_sub is None:
                self._response_sub = self._loop.create_future()  # type: ignore[union-attr]
                try:
                    await self.subscribe(topic_r, qos=1, timeout=timeout)
                except BaseException as exc:
                    self._response_sub.set_exception(exc)
                    self._response_sub.exception()
                    self._response_sub = None
                    raise
                self._response_topic = topic_r
                self._response_sub.set_result(None)
            else:
                await self._response_sub
        correlation = uuid.uuid4().bytes
        fut = self._loop.create_future()  # type: ignore[union-attr]
        self._requests[correlation] = fut
        try:
            await self.publish(
                topic,
                payload,
                qos,
                response_topic=self._response_topic,
                correlation_data=correlation,
                **properties,
            )
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._requests.pop(correlation, None)

    async def respond(self, request: Message, payload: Union[bytes, str, None] = b"", *, qos: int = 1, **properties: Any) -> None:
        """Answers a 5.0 request: publishes ``payload`` to its Response Topic
        with its Correlation Data. Raises :class:`ClientError` if the
        message has no Response Topic."""
        props = request.publish.properties
        if not props.response_topic:
            raise ClientError("the message has no Response Topic", kind="InvalidState")
        if props.correlation_data is not None:
            properties.setdefault("correlation_data", props.correlation_data)
        await self.publish(props.response_topic, payload, qos, **properties)

    # -------------------------------------------------- per-filter streams

    def filtered_messages(self, topic_filter: str) -> FilteredMessages:
        """A stream (:class:`FilteredMessages`) of the messages whose topic
        matches ``topic_filter`` (``+`` and ``#``; a ``$share/{group}/``
        prefix is ignored). It does not subscribe: subscribe too. Each
        message goes to every stream whose filter matches it, and to
        ``client.messages`` when none does. The streams share the bound of
        ``max_incoming_messages``: read every stream that can receive
        messages (or close it), or the client stops reading the socket.
        Use it as ``async with client.filtered_messages("a/#") as
        stream:``, or call ``stream.close()``. Raises
        :class:`libmqtt.TopicFilterInvalid` for an invalid filter."""
        if self._closed:
            raise ConnectionClosed("the client is closed")
        _core.validate_topic_filter(topic_filter)
        stream = FilteredMessages(self, topic_filter)
        self._streams.append(stream)
        return stream

    def _remove_stream(self, stream: FilteredMessages) -> None:
        try:
            self._streams.remove(stream)
        except ValueError:
            pass

    # ------------------------------------------------ enhanced authentication

    def _answer_challenge(self, auth: Auth) -> None:
        """The server's AUTH 0x18: asks the ``authenticate`` hook for the
        answer (at once, or when its awaitable completes)."""
        hook = self._auth_hook
        if hook is None:
            self._auth_failed(AuthenticationError("the server sent an AUTH challenge and no authenticate hook is set"))
            return
        try:
            answer = hook(auth)
        except Exception as exc:
            self._auth_failed(exc)
            return
        if inspect.isawaitable(answer):
            task = self._loop.create_task(self._answer_later(answer, self.connection_count))  # type: ignore[union-attr]
            self._auth_tasks.add(task)
            task.add_done_callback(self._auth_tasks.discard)
        else:
            self._send_auth(answer)

    async def _answer_later(self, answer: Awaitable[Optional[bytes]], connection: int) -> None:
        try:
            data = await answer
        except Exception as exc:
            if connection == self.connection_count:
                self._auth_failed(exc)
                self._process()
            return
        if connection != self.connection_count or self._core.state == "disconnected":
            log.debug("%s: an AUTH answer for an ended connection dropped", self.client_id)
            return
        self._send_auth(data)
        self._process()

    def _send_auth(self, data: Optional[bytes]) -> None:
        try:
            self._core.authenticate(data, now=self._now())
        except MQTTError as exc:
            self._auth_failed(exc)

    def _auth_failed(self, exc: BaseException) -> None:
        """The hook could not answer: the connection ends with DISCONNECT
        0x80; a waiting :meth:`connect` raises :class:`ConnectError`, a
        waiting :meth:`reauthenticate` :class:`AuthenticationError`."""
        log.warning("%s: enhanced authentication failed: %r", self.client_id, exc)
        err = exc if isinstance(exc, AuthenticationError) else AuthenticationError(f"the authenticate hook failed: {exc!r}")
        if err is not exc:
            err.__cause__ = exc
        refused = ConnectError(f"enhanced authentication failed: {err}")
        refused.__cause__ = err
        self._refused = refused
        reauth = self._reauth
        if reauth is not None and not reauth.done():
            reauth.set_exception(err)
        if self._core.state != "disconnected":
            try:
                self._core.disconnect(ReasonCode.UNSPECIFIED_ERROR, now=self._now())
            except MQTTError:
                pass

    async def reauthenticate(self, data: Optional[bytes] = None, *, timeout: Optional[float] = None) -> Auth:
        """Re-authenticates (5.0, enhanced authentication): sends AUTH 0x19
        with ``data`` as the Authentication Data (the method is the
        ``authentication_method`` option); the server's challenges go to
        the ``authenticate`` hook, as when connecting. Returns the server's
        final AUTH (0x00 Success, a :class:`libmqtt.Auth`). Raises
        :class:`AuthenticationError` when the server refuses (it then
        disconnects, ``reason_code`` is its DISCONNECT's; the client
        reconnects) or the connection ends, ``asyncio.TimeoutError`` after
        ``timeout`` seconds, :class:`libmqtt.InvalidState` without an
        authentication method or with a re-authentication under way, and
        :class:`libmqtt.NotConnected` when not connected."""
        self._check_open()
        if self._reauth is not None and not self._reauth.done():
            raise InvalidState("a re-authentication is under way", kind="InvalidState")
        self._core.authenticate(data, now=self._now())
        fut = self._loop.create_future()  # type: ignore[union-attr]
        self._reauth = fut
        self._process()
        await self._drain()
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        finally:
            if fut.done() and not fut.cancelled():
                fut.exception()  # retrieved: no "never retrieved" warning
            if self._reauth is fut:
                self._reauth = None


# ---------------------------------------------------------------------- broker


class Broker:
    """The embedded MQTT broker: the broker engine (:class:`libmqtt.Broker`)
    on ``asyncio.start_server``.

    ``async with Broker(port=0) as broker`` listens on ``host``
    (default 127.0.0.1) and ``port`` (0: a free one, then in
    ``broker.port``); ``ssl`` an :class:`ssl.SSLContext` serves TLS.
    ``authenticator`` and ``authorizer`` are the engine's hooks (see
    :mod:`libmqtt.broker`); any other keyword configures the engine
    (``passwords``, ``password_file``, ``allow_anonymous``, ``acl``,
    limits). ``broker.engine`` is the engine itself. :meth:`listen` adds
    listeners (TLS, WebSocket) on the same engine.

    A client that does not read what it is sent is not disconnected:
    once its transport holds more than its high-water mark (1 MiB) the
    engine is told it is not writable (``set_writable``) and keeps its
    bytes, applying its policy for slow subscribers (QoS 0 dropped past
    ``max_output_bytes_per_connection``, counted by
    ``engine.congestion_dropped_messages``; QoS 1 and 2 queued within
    ``max_queued_messages`` and ``max_queued_bytes``) until the transport
    has drained.

    ``store_path`` makes the broker durable: persistent sessions, their
    subscriptions, queued and in-flight QoS 1 and 2 messages, delayed wills
    and retained messages survive a restart or a crash. At :meth:`start` the
    store is read (a missing file is an empty store; a damaged tail is
    logged and dropped) and replaced by a snapshot (written to a temporary
    file, fsynced, moved over it with ``os.replace``); then every change is
    appended and fsynced before the output that depends on it is written, so
    no acknowledgement precedes its record (one fsync per batch of input).
    :meth:`close` compacts the store again. The engine's clock is then Unix
    time, so expiry counts the downtime. A file that is not a store, or of a
    newer format, makes :meth:`start` raise (:class:`~libmqtt.StoreError`)
    rather than overwrite it.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        ssl: Optional[_ssl.SSLContext] = None,
        transport: str = "tcp",
        authenticator: Any = None,
        authorizer: Any = None,
        store_path: Optional[Union[str, "os.PathLike[str]"]] = None,
        **engine_options: Any,
    ) -> None:
        if transport not in ("tcp", "websockets"):
            raise ValueError("transport is 'tcp' or 'websockets'")
        self.store_path: Optional[str] = None if store_path is None else os.fspath(store_path)
        if self.store_path is not None:
            engine_options["persistence"] = True
        self._store_fd: Optional[int] = None
        #: The error that stopped the store, after which nothing is sent.
        self.store_error: Optional[OSError] = None
        # Engine time = loop time + this: 0, or (durable) the offset to Unix
        # time, so that the engine's clock goes on across restarts.
        self._clock_offset = 0.0
        #: What :meth:`start` restored from ``store_path`` (else ``None``).
        self.restore_report: Any = None
        self.host = host
        self.port = port
        self._ssl = ssl
        self._transport_kind = transport
        self.engine = _core.Broker(**engine_options)
        if authenticator is not None:
            self.engine.set_authenticator(authenticator)
        if authorizer is not None:
            self.engine.set_authorizer(authorizer)
        self._server: Any = None
        self._extra_servers: List[Any] = []  # listen()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._writers: Dict[int, _Transport] = {}
        self._unwritable: set = set()  # connections whose transport is draining
        self._tasks: set = set()
        self._timer: Optional[asyncio.TimerHandle] = None
        self._deadline: Optional[float] = None  # engine time of self._timer

    async def __aenter__(self) -> "Broker":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def start(self) -> None:
        """Restores the store (with ``store_path``), then starts listening."""
        self._loop = asyncio.get_running_loop()
        if self.store_path is not None and self._store_fd is None:
            self._open_store()
        if self._transport_kind == "websockets":
            from websockets.asyncio.server import serve as ws_serve

            self._server = await ws_serve(
                self._serve_websocket,
                self.host,
                self.port,
                ssl=self._ssl,
                subprotocols=["mqtt"],
                compression=None,
                ping_interval=None,
                max_size=None,
            )
        else:
            self._server = await asyncio.start_server(
                self._serve_stream, self.host, self.port, ssl=self._ssl, limit=_READ_SIZE
            )
        self.port = list(self._server.sockets)[0].getsockname()[1]
        log.info(
            "broker listening on %s:%s (%s%s)",
            self.host,
            self.port,
            "WebSocket" if self._transport_kind == "websockets" else "TCP",
            ", TLS" if self._ssl else "",
        )

    async def listen(
        self,
        host: Optional[str] = None,
        port: int = 0,
        *,
        ssl: Optional[_ssl.SSLContext] = None,
        transport: str = "tcp",
    ) -> int:
        """Opens another listener on the same engine (after :meth:`start`),
        e.g. TLS or WebSocket beside plain TCP: ``host`` (default the
        broker's), ``port`` (0: a free one), ``ssl``, ``transport``
        ``"tcp"`` or ``"websockets"``. Returns the port; :meth:`close`
        closes it."""
        if transport not in ("tcp", "websockets"):
            raise ValueError("transport is 'tcp' or 'websockets'")
        assert self._loop is not None, "start() first"
        host = self.host if host is None else host
        if transport == "websockets":
            from websockets.asyncio.server import serve as ws_serve

            server: Any = await ws_serve(
                self._serve_websocket,
                host,
                port,
                ssl=ssl,
                subprotocols=["mqtt"],
                compression=None,
                ping_interval=None,
                max_size=None,
            )
        else:
            server = await asyncio.start_server(self._serve_stream, host, port, ssl=ssl, limit=_READ_SIZE)
        self._extra_servers.append(server)
        bound = list(server.sockets)[0].getsockname()[1]
        log.info(
            "broker listening on %s:%s (%s%s)",
            host,
            bound,
            "WebSocket" if transport == "websockets" else "TCP",
            ", TLS" if ssl else "",
        )
        return bound

    async def serve_forever(self) -> None:
        """Serves until cancelled."""
        assert self._server is not None, "start() first"
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stops listening and closes every connection."""
        if self._server is not None:
            self._server.close()
        extra, self._extra_servers = self._extra_servers, []
        for server in extra:
            server.close()
        for writer in list(self._writers.values()):
            writer.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        for server in extra:
            await server.wait_closed()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._store_fd is not None and self.store_error is None:
            self._persist()
            os.close(self._store_fd)
            self._store_fd = None
            self._write_snapshot()

    # ------------------------------------------------------------ durability

    def _open_store(self) -> None:
        """Restores the engine from ``store_path``, replaces the store with
        a snapshot and opens it for appending."""
        assert self.store_path is not None and self._loop is not None
        self._clock_offset = time.time() - self._loop.time()
        try:
            with open(self.store_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        if self.restore_report is not None:
            # Started again after close(): the engine holds the state.
            self._write_snapshot()
            self._store_fd = os.open(self.store_path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0))
            return
        report = self.engine.restore(data, self._now())
        self.restore_report = report
        if report.damage is not None or report.discarded_bytes:
            log.warning(
                "broker: store %s: %d bytes after offset %d discarded (%s)",
                self.store_path,
                report.discarded_bytes,
                report.valid_len,
                report.damage.message if report.damage is not None else "a batch without its commit",
            )
        if data:
            log.info(
                "broker: restored %d sessions, %d messages, %d retained from %s",
                report.sessions,
                report.messages,
                report.retained,
                self.store_path,
            )
        self._write_snapshot()
        self._store_fd = os.open(self.store_path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0))

    def _write_snapshot(self) -> None:
        """Writes the engine's snapshot to a temporary file, fsyncs it and
        replaces the store with it (then fsyncs the directory)."""
        assert self.store_path is not None
        data = self.engine.snapshot(self._now())
        tmp = self.store_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.store_path)
        _fsync_dir(os.path.dirname(os.path.abspath(self.store_path)))

    def _persist(self) -> None:
        """Appends the engine's pending records to the store and fsyncs
        them: called before any output is written."""
        if self._store_fd is None:
            return
        batch = self.engine.poll_store(self._now())
        if batch is None:
            return
        view = memoryview(batch)
        while view:
            view = view[os.write(self._store_fd, view) :]
        os.fsync(self._store_fd)

    def _store_failed(self, exc: OSError) -> None:
        """The store could not be written: nothing more is sent (an
        acknowledgement would promise what is not stored), every connection
        and listener is closed; :attr:`store_error` says why."""
        self.store_error = exc
        log.error("broker: store %s cannot be written (%s): stopping", self.store_path, exc)
        if self._server is not None:
            self._server.close()
        for server in self._extra_servers:
            server.close()
        for writer in list(self._writers.values()):
            writer.abort()
        if self._store_fd is not None:
            os.close(self._store_fd)
            self._store_fd = None

    @property
    def connection_count(self) -> int:
        """Open connections."""
        return self.engine.connection_count

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time() + self._clock_offset

    async def _serve_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(_StreamTransport(reader, writer))

    async def _serve_websocket(self, ws: Any) -> None:
        if ws.subprotocol != "mqtt":
            # [MQTT-6.0.0-3]/[MQTT-6.0.0-4]: the subprotocol is "mqtt".
            await ws.close(1002, "the WebSocket subprotocol must be mqtt")
            return
        await self._serve(_WebSocketTransport(ws))

    async def _serve(self, writer: _Transport) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        engine = self.engine
        conn = engine.connection_opened(self._now())
        self._writers[conn] = writer
        peer = writer.peer()
        log.debug("broker: connection %d from %s", conn, peer)
        try:
            while True:
                data = await writer.read()
                if not data:
                    break
                try:
                    engine.receive_data(conn, data, self._now())
                except Exception:
                    log.exception("broker: a hook raised (connection %d)", conn)
                self._pump()
                if conn not in self._writers:
                    await writer.aclose()
                    break
                if writer.buffered() > writer.high_water:
                    await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            if self._writers.pop(conn, None) is not None:
                writer.abort()
                try:
                    engine.connection_closed(conn, self._now())
                except Exception:
                    log.exception("broker: a hook raised (connection %d)", conn)
                self._pump()
            log.debug("broker: connection %d closed", conn)

    def _pump(self) -> None:
        """Writes each connection's output in one write, closes what the
        engine closed, arms the timer. With a store, the engine's records
        are appended and fsynced first: no output precedes its record."""
        engine = self.engine
        if self.store_error is not None:
            return
        try:
            self._persist()
        except OSError as exc:
            self._store_failed(exc)
            return
        out: Dict[int, List[bytes]] = {}
        for conn, data in engine.outputs():
            out.setdefault(conn, []).append(data)
        for conn, chunks in out.items():
            writer = self._writers.get(conn)
            if writer is not None:
                writer.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
                if writer.buffered() > writer.high_water and conn not in self._unwritable:
                    self._stop_writing(conn, writer)
        closes = engine.connections_to_close()
        for conn in closes:
            writer = self._writers.pop(conn, None)
            if writer is not None:
                writer.close()
        for conn in closes:
            try:
                engine.connection_closed(conn, self._now())
            except Exception:
                log.exception("broker: a hook raised (connection %d)", conn)
        if closes:
            self._pump()
            return
        deadline = engine.next_timeout()
        if self._timer is not None:
            if deadline is not None and self._deadline == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None and self._loop is not None:
            self._deadline = deadline
            self._timer = self._loop.call_at(deadline - self._clock_offset, self._on_timer)

    def _stop_writing(self, conn: int, writer: _Transport) -> None:
        """The transport of ``conn`` holds more than its high-water mark:
        the engine keeps what comes next (and decides what a slow
        subscriber loses) until the transport has drained."""
        assert self._loop is not None
        self._unwritable.add(conn)
        self.engine.set_writable(conn, False, self._now())
        task = self._loop.create_task(self._resume_writing(conn, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resume_writing(self, conn: int, writer: _Transport) -> None:
        try:
            await writer.drain()
        except Exception:  # the connection ended: its reader cleans up
            pass
        self._unwritable.discard(conn)
        if self._writers.get(conn) is writer:
            self.engine.set_writable(conn, True, self._now())
            self._pump()

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.engine.handle_timeout(self._now())
        except Exception:
            log.exception("broker: a hook raised in a timer")
        self._pump()


def _fsync_dir(path: str) -> None:
    """Makes a rename in ``path`` durable (where directories can be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
