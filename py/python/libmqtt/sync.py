"""A synchronous, thread-safe MQTT client in the style of paho-mqtt 2.x, on
the sans-IO core: :class:`Client`, and the one-shot helpers :func:`single`,
:func:`multiple` and :func:`simple`.

The core (:class:`libmqtt.Client`, in Rust) makes every protocol decision:
packet identifiers, keep alive, retransmission, QoS 2 state, flow control,
session resume. This module moves bytes and time: one network thread
(:meth:`Client.loop_start`, or your thread in :meth:`Client.loop_forever`)
reads the socket, feeds the core, writes what the core has to send, fires
its timers and runs your callbacks. Any thread may publish, subscribe or
disconnect: a lock guards the core, and a socket pair wakes the network
thread, which then writes everything queued meanwhile in one ``send``.

A paho-mqtt 2.x program moves over by changing its imports::

    import libmqtt.sync as mqtt              # was: import paho.mqtt.client as mqtt

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe("sensors/#", qos=1)

    def on_message(client, userdata, message):
        print(message.topic, message.payload)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect("127.0.0.1", 1883)
    client.loop_forever()

Differences from paho-mqtt, all deliberate:

* :meth:`Client.connect` returns once the CONNACK is in (``on_connect``
  has run) and raises :class:`ConnectError` when the transport fails or the
  server refuses (with the CONNACK's ``reason_code``), instead of returning
  before the CONNACK.
* Errors are :class:`libmqtt.MQTTError` subclasses: an invalid topic raises
  :class:`libmqtt.TopicNameInvalid`, a bad QoS
  :class:`libmqtt.MalformedPacket`, :meth:`MQTTMessageInfo.wait_for_publish`
  raises :class:`PublishError` when the server refused the message or it was
  dropped, :class:`libmqtt.QueueFull` when it was never queued.
* Reconnects use exponential backoff with jitter and resume the session:
  QoS 1 and 2 messages in flight or queued while offline are sent again by
  the core (set a ``SessionExpiryInterval`` in 5.0, or
  ``clean_session=False`` in 3.1.1, so the server keeps its side).
* :meth:`MQTTMessageInfo.wait_for_publish` called on the network thread (in
  a callback) before the message is acknowledged raises
  :class:`libmqtt.InvalidState` instead of hanging; called with no network
  loop running, it runs the loop itself until the acknowledgement.
* Memory is bounded everywhere: outgoing messages beyond the inflight window
  wait in the core's queue (``max_queued_messages``, 1024 by default, never
  unlimited); when it is full :meth:`Client.publish` blocks until there is
  room if a network loop runs in another thread (backpressure), and returns
  a handle with ``rc == MQTT_ERR_QUEUE_SIZE`` otherwise. Incoming messages
  are handed to the callbacks by the network thread itself: while a
  callback runs, nothing more is read from the socket (TCP backpressure).
  Messages that no callback takes go to the bounded pull queue
  (:meth:`Client.get_message`) when ``max_incoming_messages`` is above 0;
  when it is full the network thread stops reading the socket until
  :meth:`Client.get_message` makes room (it still writes and keeps its
  timers), otherwise they are dropped as paho-mqtt does.
* Callbacks get :class:`libmqtt.ReasonCode` members (``is_failure``,
  ``value``, ``getName()`` as in paho) and a :class:`Properties` view that
  answers both paho's names (``UserProperty``) and libmqtt's
  (``user_properties``). An exception raised by a callback is logged (the
  ``libmqtt.sync`` logger) and the loop goes on.

Logging goes to the ``libmqtt.sync`` logger, and to ``on_log`` when set.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import select
import socket
import ssl as _ssl
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import _core
from ._enums import ReasonCode
from ._backoff import Backoff as _Backoff
from ._errors import ClientError, InvalidArgument, InvalidState, MQTTError, NotConnected, QueueFull, UnsupportedProtocolVersion
from ._events import (
    Connected,
    Disconnected,
    DisconnectKind,
    Message,
    PublishCompleted,
    PublishDropped,
    PublishRequeued,
    Subscribed,
    Unsubscribed,
)
from ._packets import Properties as _Properties
from ._packets import SubscribeFilter, Will

__all__ = [
    "Client",
    "MQTTMessage",
    "MQTTMessageInfo",
    "Properties",
    "PacketTypes",
    "SubscribeOptions",
    "CallbackAPIVersion",
    "ConnectFlags",
    "DisconnectFlags",
    "MQTTErrorCode",
    "ConnectError",
    "PublishError",
    "ReasonCode",
    "single",
    "multiple",
    "simple",
    "topic_matches_sub",
    "error_string",
    "MQTTv31",
    "MQTTv311",
    "MQTTv5",
    "MQTT_CLEAN_START_FIRST_ONLY",
    "MQTT_LOG_INFO",
    "MQTT_LOG_NOTICE",
    "MQTT_LOG_WARNING",
    "MQTT_LOG_ERR",
    "MQTT_LOG_DEBUG",
    "MQTT_ERR_AGAIN",
    "MQTT_ERR_SUCCESS",
    "MQTT_ERR_NOMEM",
    "MQTT_ERR_PROTOCOL",
    "MQTT_ERR_INVAL",
    "MQTT_ERR_NO_CONN",
    "MQTT_ERR_CONN_REFUSED",
    "MQTT_ERR_NOT_FOUND",
    "MQTT_ERR_CONN_LOST",
    "MQTT_ERR_TLS",
    "MQTT_ERR_PAYLOAD_SIZE",
    "MQTT_ERR_NOT_SUPPORTED",
    "MQTT_ERR_AUTH",
    "MQTT_ERR_ACL_DENIED",
    "MQTT_ERR_UNKNOWN",
    "MQTT_ERR_ERRNO",
    "MQTT_ERR_QUEUE_SIZE",
    "MQTT_ERR_KEEPALIVE",
]

log = logging.getLogger("libmqtt.sync")

_READ_SIZE = 65536
_HIGH_WATER = 1 << 20  # bytes buffered for the socket before publishers wait
_WS_POLL = 0.1  # longest WebSocket read wait (commands wake a TCP loop at once)

# --------------------------------------------------------------- constants

#: MQTT 3.1 (protocol name ``MQIsdp``; ``31`` is accepted too). Without
#: a client id one is made up, as paho does: 3.1 needs 1 to 23 characters.
MQTTv31 = 3
#: MQTT 3.1.1 (paho's value; ``311`` is accepted too).
MQTTv311 = 4
#: MQTT 5.0.
MQTTv5 = 5
#: ``connect(clean_start=...)`` in 5.0: a clean start on the first
#: connection only, then resume (the default, as in paho).
MQTT_CLEAN_START_FIRST_ONLY = 3

#: ``on_log`` levels (paho's values).
MQTT_LOG_INFO = 0x01
MQTT_LOG_NOTICE = 0x02
MQTT_LOG_WARNING = 0x04
MQTT_LOG_ERR = 0x08
MQTT_LOG_DEBUG = 0x10
_LOGGING_LEVEL = {
    MQTT_LOG_DEBUG: logging.DEBUG,
    MQTT_LOG_INFO: logging.INFO,
    MQTT_LOG_NOTICE: logging.INFO,
    MQTT_LOG_WARNING: logging.WARNING,
    MQTT_LOG_ERR: logging.ERROR,
}


class MQTTErrorCode(enum.IntEnum):
    """The result codes of paho-mqtt (``publish().rc``, ``subscribe()[0]``,
    ``connect()``...), same names and values."""

    MQTT_ERR_AGAIN = -1
    MQTT_ERR_SUCCESS = 0
    MQTT_ERR_NOMEM = 1
    MQTT_ERR_PROTOCOL = 2
    MQTT_ERR_INVAL = 3
    MQTT_ERR_NO_CONN = 4
    MQTT_ERR_CONN_REFUSED = 5
    MQTT_ERR_NOT_FOUND = 6
    MQTT_ERR_CONN_LOST = 7
    MQTT_ERR_TLS = 8
    MQTT_ERR_PAYLOAD_SIZE = 9
    MQTT_ERR_NOT_SUPPORTED = 10
    MQTT_ERR_AUTH = 11
    MQTT_ERR_ACL_DENIED = 12
    MQTT_ERR_UNKNOWN = 13
    MQTT_ERR_ERRNO = 14
    MQTT_ERR_QUEUE_SIZE = 15
    MQTT_ERR_KEEPALIVE = 16


MQTT_ERR_AGAIN = MQTTErrorCode.MQTT_ERR_AGAIN
MQTT_ERR_SUCCESS = MQTTErrorCode.MQTT_ERR_SUCCESS
MQTT_ERR_NOMEM = MQTTErrorCode.MQTT_ERR_NOMEM
MQTT_ERR_PROTOCOL = MQTTErrorCode.MQTT_ERR_PROTOCOL
MQTT_ERR_INVAL = MQTTErrorCode.MQTT_ERR_INVAL
MQTT_ERR_NO_CONN = MQTTErrorCode.MQTT_ERR_NO_CONN
MQTT_ERR_CONN_REFUSED = MQTTErrorCode.MQTT_ERR_CONN_REFUSED
MQTT_ERR_NOT_FOUND = MQTTErrorCode.MQTT_ERR_NOT_FOUND
MQTT_ERR_CONN_LOST = MQTTErrorCode.MQTT_ERR_CONN_LOST
MQTT_ERR_TLS = MQTTErrorCode.MQTT_ERR_TLS
MQTT_ERR_PAYLOAD_SIZE = MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE
MQTT_ERR_NOT_SUPPORTED = MQTTErrorCode.MQTT_ERR_NOT_SUPPORTED
MQTT_ERR_AUTH = MQTTErrorCode.MQTT_ERR_AUTH
MQTT_ERR_ACL_DENIED = MQTTErrorCode.MQTT_ERR_ACL_DENIED
MQTT_ERR_UNKNOWN = MQTTErrorCode.MQTT_ERR_UNKNOWN
MQTT_ERR_ERRNO = MQTTErrorCode.MQTT_ERR_ERRNO
MQTT_ERR_QUEUE_SIZE = MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
MQTT_ERR_KEEPALIVE = MQTTErrorCode.MQTT_ERR_KEEPALIVE


def error_string(mqtt_errno: int) -> str:
    """A description of an :class:`MQTTErrorCode` (paho's helper)."""
    try:
        return MQTTErrorCode(mqtt_errno).name
    except ValueError:
        return "Unknown error."


class CallbackAPIVersion(enum.Enum):
    """paho-mqtt 2.x's callback API selector. Only ``VERSION2`` (the
    signatures documented on :class:`Client`) is supported."""

    VERSION1 = 1
    VERSION2 = 2


class ConnectFlags(NamedTuple):
    """The ``flags`` of ``on_connect``."""

    session_present: bool
    """Whether the server resumed a session (CONNACK Session Present)."""

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        """``flags["session present"]`` as paho 1.x had it, and indexing."""
        if key == "session present":
            return int(self.session_present)
        return tuple.__getitem__(self, key)


class DisconnectFlags(NamedTuple):
    """The ``flags`` of ``on_disconnect``."""

    is_disconnect_packet_from_server: bool
    """Whether the server ended the connection with a DISCONNECT (5.0)."""


class ConnectError(MQTTError, ConnectionError):
    """The connection could not be made: the server refused it
    (``reason_code`` is the CONNACK's) or the transport failed
    (``reason_code`` is ``None``; it is also a :class:`ConnectionError`, as
    paho's socket errors were)."""


class PublishError(MQTTError):
    """The server refused a QoS 1 or 2 message (``reason_code`` is the PUBACK
    or PUBREC code) or it was dropped before being acknowledged (``kind``
    names why: ``"expired"``, ``"queue_full"``, ...)."""


# -------------------------------------------------------------- properties


class PacketTypes:
    """paho-mqtt's packet type numbers, for ``Properties(PacketTypes.PUBLISH)``."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15
    WILLMESSAGE = 99


# paho's property names -> libmqtt.Properties field names
_PAHO_NAMES = {
    "PayloadFormatIndicator": "payload_format_indicator",
    "MessageExpiryInterval": "message_expiry_interval",
    "ContentType": "content_type",
    "ResponseTopic": "response_topic",
    "CorrelationData": "correlation_data",
    "SubscriptionIdentifier": "subscription_identifiers",
    "SessionExpiryInterval": "session_expiry_interval",
    "AssignedClientIdentifier": "assigned_client_identifier",
    "ServerKeepAlive": "server_keep_alive",
    "AuthenticationMethod": "authentication_method",
    "AuthenticationData": "authentication_data",
    "RequestProblemInformation": "request_problem_information",
    "WillDelayInterval": "will_delay_interval",
    "RequestResponseInformation": "request_response_information",
    "ResponseInformation": "response_information",
    "ServerReference": "server_reference",
    "ReasonString": "reason_string",
    "ReceiveMaximum": "receive_maximum",
    "TopicAliasMaximum": "topic_alias_maximum",
    "TopicAlias": "topic_alias",
    "MaximumQoS": "maximum_qos",
    "RetainAvailable": "retain_available",
    "UserProperty": "user_properties",
    "MaximumPacketSize": "maximum_packet_size",
    "WildcardSubscriptionAvailable": "wildcard_subscription_available",
    "SubscriptionIdentifierAvailable": "subscription_identifiers_available",
    "SharedSubscriptionAvailable": "shared_subscription_available",
}
_FIELDS = frozenset(_Properties.__dataclass_fields__)
_EMPTY_PROPS = _Properties()
_BOOL_FIELDS = frozenset(
    n for n, f in _Properties.__dataclass_fields__.items() if "bool" in str(f.type)
)


class Properties:
    """MQTT 5.0 properties as paho-mqtt spells them, mutable:
    ``p = Properties(PacketTypes.PUBLISH); p.UserProperty = ("unit", "C");
    p.MessageExpiryInterval = 30``. Assigning ``UserProperty`` appends (a
    pair) or extends (a list), as in paho. libmqtt's own names
    (``p.user_properties``) read and write the same values, and a
    :class:`libmqtt.Properties` is accepted wherever this class is.

    The callbacks get one of these (built from what the server sent);
    reading a property that is absent raises ``AttributeError``, as in paho.
    """

    def __init__(self, packetType: int = PacketTypes.PUBLISH, *, _values: Optional[Dict[str, Any]] = None) -> None:  # noqa: N803
        object.__setattr__(self, "packetType", packetType)
        object.__setattr__(self, "_values", {} if _values is None else _values)

    @classmethod
    def _from(cls, props: _Properties, packet_type: int) -> "Properties":
        """A view of received properties, converted on first use (the
        callbacks' hot path rarely reads them)."""
        view = cls.__new__(cls)
        object.__setattr__(view, "packetType", packet_type)
        object.__setattr__(view, "_src", props)
        return view

    @staticmethod
    def _field(name: str) -> str:
        field = _PAHO_NAMES.get(name, name)
        if field not in _FIELDS and field != "subscription_identifier":
            raise AttributeError(f"{name} is not an MQTT 5.0 property name")
        return field

    def __setattr__(self, name: str, value: Any) -> None:
        field = self._field(name)
        values: Dict[str, Any] = self._values  # type: ignore[attr-defined]
        if field == "user_properties":
            pairs = [value] if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) else list(value)
            values[field] = tuple(values.get(field, ())) + tuple((str(k), str(v)) for k, v in pairs)
            return
        if field == "subscription_identifiers" and name == "SubscriptionIdentifier":
            if self.packetType == PacketTypes.SUBSCRIBE:  # type: ignore[attr-defined]
                values["subscription_identifier"] = int(value)
                return
            value = tuple(value) if isinstance(value, (list, tuple)) else (int(value),)
        if field in _BOOL_FIELDS and value is not None:
            value = bool(value)
        if field == "correlation_data" and isinstance(value, str):
            value = value.encode()
        values[field] = value

    def __getattr__(self, name: str) -> Any:
        if name == "_values":  # a received view, converted on first use
            values: Dict[str, Any] = {}
            src = self.__dict__.get("_src")
            if src is not None and src != _EMPTY_PROPS:
                for field in _FIELDS:
                    v = getattr(src, field)
                    if v is not None and v != ():
                        values[field] = v
            self.__dict__["_values"] = values
            return values
        if name.startswith("__") or name == "_src":
            raise AttributeError(name)
        field = self._field(name)
        values = self._values
        if name == "SubscriptionIdentifier" and self.packetType == PacketTypes.SUBSCRIBE:
            field = "subscription_identifier"
        if field not in values:
            if name in _PAHO_NAMES:
                raise AttributeError(f"property {name} is not set")
            return () if field in ("user_properties", "subscription_identifiers") else None
        v = values[field]
        if name in ("UserProperty", "SubscriptionIdentifier") and isinstance(v, tuple):
            return list(v)
        return v

    def isEmpty(self) -> bool:  # noqa: N802 - paho's name
        """Whether no property is set."""
        return not self._values

    def clear(self) -> None:
        """Removes every property."""
        self._values.clear()

    def json(self) -> Dict[str, Any]:
        """The properties set, by paho's names, as a dict."""
        back = {v: k for k, v in _PAHO_NAMES.items()}
        return {back.get(k, k): v for k, v in self._values.items()}

    def to_properties(self) -> _Properties:
        """The same, as an immutable :class:`libmqtt.Properties`."""
        return _Properties(**self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Properties):
            return self._values == other._values
        if isinstance(other, _Properties):
            return self.to_properties() == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"[{', '.join(f'{k} : {v!r}' for k, v in self.json().items())}]"


def _as_properties(props: Any) -> Optional[_Properties]:
    """A libmqtt.Properties from ours, libmqtt's, a paho-mqtt one or None."""
    if props is None:
        return None
    if isinstance(props, _Properties):
        return props
    if isinstance(props, Properties):
        return props.to_properties()
    # A paho-mqtt Properties object: its attributes by paho's names.
    values: Dict[str, Any] = {}
    for paho_name, field in _PAHO_NAMES.items():
        if hasattr(props, paho_name):
            v = getattr(props, paho_name)
            if field == "user_properties":
                v = tuple((str(k), str(x)) for k, x in v)
            elif field == "subscription_identifiers":
                if getattr(props, "packetType", None) == PacketTypes.SUBSCRIBE:
                    values["subscription_identifier"] = v[0] if isinstance(v, list) else v
                    continue
                v = tuple(v) if isinstance(v, (list, tuple)) else (v,)
            elif field in _BOOL_FIELDS:
                v = bool(v)
            values[field] = v
    return _Properties(**values)


class SubscribeOptions:
    """paho-mqtt's subscription options (5.0): ``SubscribeOptions(qos=1,
    noLocal=True, retainAsPublished=False, retainHandling=0)``."""

    RETAIN_SEND_ON_SUBSCRIBE = 0
    RETAIN_SEND_IF_NEW_SUB = 1
    RETAIN_DO_NOT_SEND = 2

    def __init__(self, qos: int = 0, noLocal: bool = False, retainAsPublished: bool = False, retainHandling: int = 0) -> None:  # noqa: N803
        self.QoS = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling

    def _filter(self, topic: str) -> SubscribeFilter:
        return SubscribeFilter(topic, self.QoS, self.noLocal, self.retainAsPublished, self.retainHandling)


# ------------------------------------------------------------------ messages


class MQTTMessage:
    """A message the server delivered, as ``on_message`` gets it: ``topic``
    (str), ``payload`` (bytes), ``qos``, ``retain``, ``dup``, ``mid`` (the
    packet identifier, 0 at QoS 0), ``properties`` (a :class:`Properties`)
    and ``timestamp`` (``time.monotonic()`` at arrival)."""

    __slots__ = ("_msg", "timestamp", "_props")

    def __init__(self, msg: Message, timestamp: float) -> None:
        self._msg = msg
        self.timestamp = timestamp
        self._props: Optional[Properties] = None

    @property
    def topic(self) -> str:
        """The topic name."""
        return self._msg.topic

    @property
    def payload(self) -> bytes:
        """The payload."""
        return self._msg.payload

    @property
    def qos(self) -> int:
        """The QoS it was delivered at."""
        return self._msg.qos

    @property
    def retain(self) -> bool:
        """Whether it is a retained message."""
        return self._msg.retain

    @property
    def dup(self) -> bool:
        """The DUP flag (a redelivery)."""
        return self._msg.publish.dup

    @property
    def mid(self) -> int:
        """The packet identifier (0 at QoS 0)."""
        return self._msg.publish.packet_id

    @property
    def properties(self) -> Properties:
        """Its 5.0 properties (empty in 3.1.1)."""
        if self._props is None:
            self._props = Properties._from(self._msg.properties, PacketTypes.PUBLISH)
        return self._props

    @property
    def message(self) -> Message:
        """The core's :class:`libmqtt.Message` underneath."""
        return self._msg

    def __repr__(self) -> str:
        return f"MQTTMessage(topic={self.topic!r}, payload={self.payload!r}, qos={self.qos}, retain={self.retain})"


class MQTTMessageInfo:
    """What :meth:`Client.publish` returns: ``mid``, ``rc`` (an
    :class:`MQTTErrorCode`; ``MQTT_ERR_SUCCESS`` once queued or sent),
    :meth:`wait_for_publish` and :meth:`is_published`. Unpacks as
    ``(rc, mid)`` like paho's. ``reason_code`` is the PUBACK / PUBREC /
    PUBCOMP reason code once acknowledged."""

    __slots__ = ("mid", "rc", "_client", "_published", "_error", "reason_code", "qos", "_seq", "_tel")

    def __init__(self, client: "Client", mid: int, qos: int, rc: MQTTErrorCode = MQTT_ERR_SUCCESS) -> None:
        self.mid = mid
        self.rc = rc
        self.qos = qos
        self.reason_code: Optional[ReasonCode] = None
        self._client = client
        self._published = False
        self._error: Optional[MQTTError] = None
        self._seq = 0
        self._tel: Any = None  # the telemetry's publish in progress

    def __iter__(self) -> Iterator[int]:
        return iter((self.rc, self.mid))

    def __getitem__(self, index: int) -> int:
        return (self.rc, self.mid)[index]

    def __repr__(self) -> str:
        return f"MQTTMessageInfo(mid={self.mid}, rc={self.rc!r}, published={self._published})"

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def is_published(self) -> bool:
        """Whether the message is out: QoS 0 written to the socket, QoS 1
        PUBACK or QoS 2 PUBCOMP received. Raises like
        :meth:`wait_for_publish` when it never will be."""
        self._raise()
        return self._published

    def wait_for_publish(self, timeout: Optional[float] = None) -> bool:
        """Blocks until :meth:`is_published` (returns ``True``) or
        ``timeout`` seconds pass (returns ``False``). Raises
        :class:`PublishError` when the server refused the message (an error
        reason code) or it was dropped, :class:`libmqtt.QueueFull` /
        :class:`libmqtt.NotConnected` when it was never queued, and
        :class:`libmqtt.InvalidState` when called on the network thread (in
        a callback) before it is published (it would wait forever). With no
        network loop running, it runs the loop itself meanwhile."""
        self._raise()
        if self._published:
            return True
        return self._client._wait_published(self, timeout)


# ----------------------------------------------------------------- transports


class _SocketTransport:
    """TCP or TLS, non-blocking once open."""

    ws = False

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.tls = isinstance(sock, _ssl.SSLSocket)
        sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self) -> Optional[bytes]:
        """Bytes read, ``b""`` at the end, ``None`` when nothing is ready."""
        try:
            data = self.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError, _ssl.SSLWantReadError, _ssl.SSLWantWriteError):
            return None
        except OSError as exc:  # reset, TLS failure: the connection is over
            log.debug("recv failed: %r", exc)
            return b""
        if data and self.tls and self.sock.pending():  # type: ignore[attr-defined]
            chunks = [data]
            while self.sock.pending():  # type: ignore[attr-defined]
                try:
                    more = self.sock.recv(_READ_SIZE)
                except OSError:  # want read/write, or the end: the next turn sees it
                    break
                if not more:
                    break
                chunks.append(more)
            data = b"".join(chunks)
        return data

    def send(self, data: Union[bytes, bytearray, memoryview]) -> int:
        """Writes what the socket takes now; returns the count."""
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError, _ssl.SSLWantWriteError, _ssl.SSLWantReadError):
            return 0

    def send_all(self, data: bytes, timeout: float) -> None:
        """Writes everything, waiting up to ``timeout`` (closing only)."""
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        finally:
            try:
                self.sock.setblocking(False)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _WebSocketTransport:
    """MQTT over WebSocket (subprotocol ``mqtt``, binary messages) on the
    ``websockets`` package's synchronous client. Its writes block the
    writing thread (they happen outside the core's lock)."""

    ws = True

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def recv_wait(self, timeout: float) -> Optional[bytes]:
        from websockets.exceptions import ConnectionClosed

        try:
            message = self.conn.recv(timeout=timeout)
        except TimeoutError:
            return None
        except (ConnectionClosed, OSError):
            return b""
        if isinstance(message, str):  # [MQTT-6.0.0-1] binary frames only
            log.warning("websocket text frame received: closing")
            return b""
        return message

    def send_all(self, data: bytes, timeout: float = 0.0) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            self.conn.send(data)
        except ConnectionClosed as exc:
            raise ConnectionResetError(str(exc)) from None

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing anyway
            pass


def _payload_bytes(payload: Any) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload) if not isinstance(payload, bytes) else payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (int, float)):
        return str(payload).encode("ascii")
    raise InvalidArgument("payload must be a string, bytearray, int, float or None", field="payload")


def _version(protocol: Any) -> int:
    p = int(protocol)
    if p in (3, 31):
        return 3
    if p in (4, 311):
        return 4
    if p == 5:
        return 5
    raise UnsupportedProtocolVersion(f"protocol {protocol!r} is not supported (MQTTv31, MQTTv311 or MQTTv5)")


def topic_matches_sub(sub: str, topic: str) -> bool:
    """Whether ``topic`` matches the subscription filter ``sub`` (paho's
    name for :func:`libmqtt.topic_matches`)."""
    return _core.topic_matches(sub, topic)


# -------------------------------------------------------------------- client

_Callback = Optional[Callable[..., Any]]


class Client:
    """An MQTT 3.1 / 3.1.1 / 5.0 client with paho-mqtt 2.x's API, thread-safe, on
    the sans-IO core.

    ``Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="",
    clean_session=None, userdata=None, protocol=MQTTv311, transport="tcp",
    reconnect_on_failure=True, manual_ack=False, *, max_inflight_messages=None,
    max_queued_messages=1024, max_incoming_messages=0, connect_timeout=10.0,
    telemetry=None, **core_options)``. ``telemetry``: a
    :class:`libmqtt.telemetry.Telemetry` for OpenTelemetry spans and
    metrics (off by default). The first argument may be left out (``Client("id")``
    or ``Client(client_id="id")``). ``protocol``: ``MQTTv31`` (3, or 31),
    ``MQTTv311`` (4, or 311) or ``MQTTv5`` (5). ``clean_session`` (3.1 and
    3.1.1) is ``True`` by default;
    in 5.0 use ``connect(clean_start=...)``. ``transport``: ``"tcp"`` or
    ``"websockets"`` (``pip install libmqtt[websockets]``). Other keywords
    go to :class:`libmqtt.Client` (``receive_maximum``,
    ``topic_alias_maximum``, ``queue_qos0_offline``, ...).

    Callbacks (attributes, paho's VERSION2 signatures), run by the network
    thread:

    * ``on_connect(client, userdata, flags, reason_code, properties)``
      (``flags.session_present``; a refusal comes with a failure code);
    * ``on_disconnect(client, userdata, flags, reason_code, properties)``;
    * ``on_message(client, userdata, message)`` (:class:`MQTTMessage`), and
      per filter with :meth:`message_callback_add`;
    * ``on_publish(client, userdata, mid, reason_code, properties)``: QoS 0
      once written to the socket, QoS 1 at PUBACK, QoS 2 at PUBCOMP;
    * ``on_subscribe(client, userdata, mid, reason_code_list, properties)``,
      ``on_unsubscribe(...)`` likewise;
    * ``on_log(client, userdata, level, buf)``.
    """

    def __init__(
        self,
        callback_api_version: Any = CallbackAPIVersion.VERSION2,
        client_id: Optional[str] = "",
        clean_session: Optional[bool] = None,
        userdata: Any = None,
        protocol: int = MQTTv311,
        transport: str = "tcp",
        reconnect_on_failure: bool = True,
        manual_ack: bool = False,
        *,
        clean_start: Optional[bool] = None,
        max_inflight_messages: Optional[int] = None,
        max_queued_messages: int = 1024,
        max_incoming_messages: int = 0,
        connect_timeout: float = 10.0,
        telemetry: Optional[Any] = None,
        **core_options: Any,
    ) -> None:
        if isinstance(callback_api_version, str) or callback_api_version is None:
            # Client("id") / Client(None): no API version given.
            client_id, callback_api_version = callback_api_version, CallbackAPIVersion.VERSION2
        if callback_api_version not in (CallbackAPIVersion.VERSION2, 2):
            raise InvalidArgument("only CallbackAPIVersion.VERSION2 callbacks are supported", field="callback_api_version")
        transport = transport.lower()
        if transport not in ("tcp", "websockets"):
            raise InvalidArgument("transport is 'tcp' or 'websockets'", field="transport")
        self._version = _version(protocol)
        if clean_session is not None and clean_start is None:
            if self._version == 5:
                raise InvalidArgument("clean_session is for MQTT 3.1.1; in 5.0 use connect(clean_start=...)", field="clean_session")
            clean_start = clean_session
        self._clean_start = True if clean_start is None else bool(clean_start)
        if not client_id and not self._clean_start and self._version == 4:
            raise InvalidArgument("a client id is required with clean_session=False", field="client_id")
        if not client_id and self._version == 3:
            # MQTT 3.1: 1 to 23 characters, never assigned by the server.
            client_id = "paho-" + os.urandom(8).hex()
        self._client_id = client_id or ""
        self._userdata = userdata
        self._transport_kind = transport
        self._reconnect_on_failure = reconnect_on_failure
        self._manual_ack = manual_ack
        self._max_inflight = max_inflight_messages
        self._max_queued = max_queued_messages
        self._incoming_max = max_incoming_messages
        # The transport whose reading is paused for a full inbox, if any.
        self._paused_transport: Optional[object] = None
        self.connect_timeout = connect_timeout
        self._core_options = core_options
        # connection settings
        self._host = ""
        self._port = 1883
        self._keepalive = 60
        self._bind: Optional[Tuple[str, int]] = None
        self._connect_props: Optional[_Properties] = None
        self._username: Optional[str] = None
        self._password: Optional[bytes] = None
        self._will: Optional[Will] = None
        self._ssl_context: Optional[_ssl.SSLContext] = None
        self._tls_insecure = False
        self._ws_path = "/mqtt"
        self._ws_headers: Any = None
        self._backoff = _Backoff(1.0, 120.0)
        # callbacks
        self.on_connect: _Callback = None
        """``on_connect(client, userdata, flags, reason_code, properties)``."""
        self.on_connect_fail: _Callback = None
        """``on_connect_fail(client, userdata)``: a (re)connection attempt by
        the network loop failed before CONNACK."""
        self.on_disconnect: _Callback = None
        """``on_disconnect(client, userdata, flags, reason_code, properties)``."""
        self.on_message: _Callback = None
        """``on_message(client, userdata, message)``."""
        self.on_publish: _Callback = None
        """``on_publish(client, userdata, mid, reason_code, properties)``."""
        self.on_subscribe: _Callback = None
        """``on_subscribe(client, userdata, mid, reason_code_list, properties)``."""
        self.on_unsubscribe: _Callback = None
        """``on_unsubscribe(client, userdata, mid, reason_code_list, properties)``."""
        self.on_log: _Callback = None
        """``on_log(client, userdata, level, buf)``."""
        self._filter_callbacks: Dict[str, Callable[..., Any]] = {}
        self._logger: Optional[logging.Logger] = None
        # the machinery
        self._core: Optional[_core.Client] = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        self._wlock = threading.Lock()  # WebSocket writes, in drain order
        self._loop_mutex = threading.Lock()  # held by whoever runs the loop
        self._loop_owner: Optional[int] = None
        self._thread: Optional[threading.Thread] = None
        self._thread_stop = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sleeping = False
        self._dirty = False
        self._transport: Optional[Any] = None
        self._out = bytearray()
        self._want_connect = False
        self._next_attempt = 0.0
        self._ever_connected = False
        self._retry_first = False
        self._user_disconnect = False
        self._attempt_gen = 0
        self._attempt_error: Optional[BaseException] = None
        self._pending: Dict[int, MQTTMessageInfo] = {}
        self._q0_seq = 0  # QoS 0 messages drained into _out
        self._q0_written = 0  # ... of which fully written
        self._q0_waiting: Deque[MQTTMessageInfo] = deque()
        self._q0_callbacks: List[Tuple[Callable[..., Any], int]] = []
        self._ack_tokens: Dict[int, int] = {}
        self._inbox: Deque[MQTTMessage] = deque()
        self._accepted = False  # the current transport got its CONNACK
        self._drop_transport = False  # the owner must close the transport
        # OpenTelemetry hooks (libmqtt._telemetry), None when off: then
        # nothing of it runs and opentelemetry is never imported.
        self._telemetry = None
        if telemetry is not None:
            self._telemetry = telemetry._bind(self._describe)
            self.publish = self._traced_publish  # type: ignore[method-assign]

    def _describe(self) -> Tuple[str, str, int, int]:
        core = self._core
        return (core.client_id if core is not None else self._client_id), self._host, self._port, self._version

    # ------------------------------------------------------------- settings

    def __del__(self) -> None:
        try:
            self._wake_r.close()
            self._wake_w.close()
        except Exception:  # noqa: BLE001
            pass

    @property
    def host(self) -> str:
        """The host of the last ``connect``."""
        return self._host

    @property
    def port(self) -> int:
        """The port of the last ``connect``."""
        return self._port

    @property
    def keepalive(self) -> int:
        """The keep alive, seconds."""
        return self._keepalive

    @property
    def protocol(self) -> int:
        """``MQTTv31`` (3), ``MQTTv311`` (4) or ``MQTTv5`` (5)."""
        return self._version

    @property
    def transport(self) -> str:
        """``"tcp"`` or ``"websockets"``."""
        return self._transport_kind

    @property
    def client_id(self) -> str:
        """The client identifier (the server's assigned one once known)."""
        return self._core.client_id if self._core is not None else self._client_id

    @property
    def core(self) -> Optional[_core.Client]:
        """The sans-IO :class:`libmqtt.Client` (after the first connect)."""
        return self._core

    def user_data_set(self, userdata: Any) -> None:
        """Sets the ``userdata`` passed to every callback."""
        self._userdata = userdata

    def user_data_get(self) -> Any:
        """The ``userdata`` passed to every callback."""
        return self._userdata

    def username_pw_set(self, username: Optional[str], password: Union[str, bytes, None] = None) -> None:
        """Credentials for the next connection (before ``connect``)."""
        self._username = username
        self._password = password.encode() if isinstance(password, str) else password
        self._reset_core_if_idle()

    def will_set(self, topic: str, payload: Any = None, qos: int = 0, retain: bool = False, properties: Any = None) -> None:
        """The will message (before ``connect``). Raises
        :class:`libmqtt.TopicNameInvalid` for a bad topic and
        :class:`libmqtt.MalformedPacket` for a QoS outside 0..2."""
        _core.validate_topic_name(topic)
        if qos not in (0, 1, 2):
            from ._errors import MalformedPacket

            raise MalformedPacket(f"QoS {qos} is not a valid QoS", kind="InvalidQoS")
        self._will = Will(topic, _payload_bytes(payload), qos, bool(retain), _as_properties(properties) or _Properties())
        self._reset_core_if_idle()

    def will_clear(self) -> None:
        """Removes the will (before ``connect``)."""
        self._will = None
        self._reset_core_if_idle()

    def reconnect_delay_set(self, min_delay: float = 1, max_delay: float = 120) -> None:
        """Reconnect delays: from ``min_delay``, doubling up to ``max_delay``
        seconds, each one drawn at random in ``[d/2, d]`` (jitter); back to
        ``min_delay`` after a successful CONNACK."""
        self._backoff = _Backoff(float(min_delay), float(max_delay))

    def max_inflight_messages_set(self, inflight: int) -> "Client":
        """QoS 1 / 2 messages in flight at most (before ``connect``)."""
        if inflight < 0:
            raise InvalidArgument("inflight must be >= 0", field="inflight")
        self._max_inflight = inflight or None
        self._reset_core_if_idle()
        return self

    def max_queued_messages_set(self, queue_size: int) -> "Client":
        """Messages waiting beyond the inflight window at most (before
        ``connect``); 0 means 65,535, never unbounded."""
        if queue_size < 0:
            raise InvalidArgument("queue_size must be >= 0", field="queue_size")
        self._max_queued = queue_size or 65535
        self._reset_core_if_idle()
        return self

    def tls_set(
        self,
        ca_certs: Optional[str] = None,
        certfile: Optional[str] = None,
        keyfile: Optional[str] = None,
        cert_reqs: Optional[_ssl.VerifyMode] = None,
        tls_version: Optional[int] = None,
        ciphers: Optional[str] = None,
        keyfile_password: Any = None,
        alpn_protocols: Optional[List[str]] = None,
    ) -> None:
        """TLS with certificate checks: ``ca_certs`` the CA file (None: the
        system's), ``certfile`` / ``keyfile`` a client certificate,
        ``cert_reqs`` (``ssl.CERT_NONE`` disables verification),
        ``tls_version`` (an ``ssl.PROTOCOL_*``; the default negotiates
        TLS 1.2 or later), ``ciphers``, ``alpn_protocols``."""
        if tls_version is not None and tls_version not in (_ssl.PROTOCOL_TLS, _ssl.PROTOCOL_TLS_CLIENT):
            ctx = _ssl.SSLContext(tls_version)
            if ca_certs:
                ctx.load_verify_locations(ca_certs)
            else:
                ctx.load_default_certs()
        else:
            ctx = _ssl.create_default_context(cafile=ca_certs)
        if certfile is not None:
            ctx.load_cert_chain(certfile, keyfile, keyfile_password)
        if cert_reqs == _ssl.CERT_NONE:
            ctx.check_hostname = False
        if cert_reqs is not None:
            ctx.verify_mode = cert_reqs
        if ciphers is not None:
            ctx.set_ciphers(ciphers)
        if alpn_protocols is not None:
            ctx.set_alpn_protocols(alpn_protocols)
        self.tls_set_context(ctx)

    def tls_set_context(self, context: Optional[_ssl.SSLContext] = None) -> None:
        """TLS with this ``ssl.SSLContext`` (None: the default context)."""
        self._ssl_context = context if context is not None else _ssl.create_default_context()
        if self._tls_insecure:
            self._ssl_context.check_hostname = False

    def tls_insecure_set(self, value: bool) -> None:
        """``True``: do not check that the certificate names the host (the
        chain is still verified). For tests only."""
        self._tls_insecure = bool(value)
        if self._ssl_context is not None:
            self._ssl_context.check_hostname = not value

    def ws_set_options(self, path: str = "/mqtt", headers: Any = None) -> None:
        """WebSocket request path and extra headers (a dict, or a callable
        taking the default headers and returning them)."""
        self._ws_path = path
        self._ws_headers = headers

    def message_callback_add(self, sub: str, callback: Callable[..., Any]) -> None:
        """Calls ``callback(client, userdata, message)`` instead of
        ``on_message`` for messages whose topic matches the filter ``sub``
        (every matching callback runs). Raises
        :class:`libmqtt.TopicFilterInvalid` for an invalid filter."""
        _core.validate_topic_filter(sub)
        with self._lock:
            self._filter_callbacks = {**self._filter_callbacks, sub: callback}

    def message_callback_remove(self, sub: str) -> None:
        """Removes the callback of ``sub`` (nothing if there is none)."""
        with self._lock:
            callbacks = dict(self._filter_callbacks)
            callbacks.pop(sub, None)
            self._filter_callbacks = callbacks

    def enable_logger(self, logger: Optional[logging.Logger] = None) -> None:
        """Sends the client's log to ``logger`` (default: ``libmqtt.sync``)."""
        self._logger = logger or log

    def disable_logger(self) -> None:
        """Stops :meth:`enable_logger`'s logging."""
        self._logger = None

    def socket(self) -> Optional[socket.socket]:
        """The TCP/TLS socket of the current connection (None otherwise)."""
        t = self._transport
        return t.sock if t is not None and not t.ws else None

    def want_write(self) -> bool:
        """Whether bytes wait to be written."""
        return bool(self._out)

    def is_connected(self) -> bool:
        """Whether the server has accepted the current connection."""
        core = self._core
        return core is not None and core.state == "connected"

    # ------------------------------------------------------------------ core

    def _reset_core_if_idle(self) -> None:
        """Settings changed before any connection: the core is made anew at
        the next connect (after the first connection it keeps the session)."""
        with self._lock:
            if self._core is not None and not self._ever_connected and self._transport is None:
                self._core = None

    def _make_core(self) -> _core.Client:
        options = dict(self._core_options)
        props = self._connect_props
        if props is not None and self._version == 5:
            for field in (
                "session_expiry_interval",
                "receive_maximum",
                "maximum_packet_size",
                "topic_alias_maximum",
                "authentication_method",
                "authentication_data",
            ):
                v = getattr(props, field)
                if v is not None:
                    options.setdefault(field, v)
            if props.request_response_information is not None:
                options.setdefault("request_response_information", props.request_response_information)
            if props.request_problem_information is not None:
                options.setdefault("request_problem_information", props.request_problem_information)
            if props.user_properties:
                options.setdefault("user_properties", props.user_properties)
        if self._max_inflight:
            options.setdefault("max_inflight", self._max_inflight)
        return _core.Client(
            self._client_id,
            version=self._version,
            keep_alive=self._keepalive,
            clean_start=self._clean_start,
            username=self._username,
            password=self._password,
            will=self._will,
            manual_ack=self._manual_ack,
            max_queued=self._max_queued,
            connect_timeout=self.connect_timeout,
            **options,
        )

    # --------------------------------------------------------------- connect

    def connect(
        self,
        host: str,
        port: int = 1883,
        keepalive: int = 60,
        bind_address: str = "",
        bind_port: int = 0,
        clean_start: Any = MQTT_CLEAN_START_FIRST_ONLY,
        properties: Any = None,
    ) -> MQTTErrorCode:
        """Connects and returns ``MQTT_ERR_SUCCESS`` once the server has
        accepted (``on_connect`` has run). Raises :class:`ConnectError` when
        the transport cannot be opened (also a ``ConnectionError``) or the
        server refuses (``reason_code`` from CONNACK; ``on_connect`` got it
        first). ``clean_start`` (5.0): ``True``, ``False`` or
        ``MQTT_CLEAN_START_FIRST_ONLY``; ``properties`` the CONNECT's (5.0:
        ``SessionExpiryInterval``, ``ReceiveMaximum``, ``UserProperty``...).
        Called from a callback on the network thread, it returns once
        CONNECT is sent."""
        self.connect_async(host, port, keepalive, bind_address, bind_port, clean_start, properties)
        return self._connect_now()

    def connect_async(
        self,
        host: str,
        port: int = 1883,
        keepalive: int = 60,
        bind_address: str = "",
        bind_port: int = 0,
        clean_start: Any = MQTT_CLEAN_START_FIRST_ONLY,
        properties: Any = None,
    ) -> None:
        """Records where to connect; the network loop (:meth:`loop_start`,
        :meth:`loop_forever`) connects, and retries with backoff."""
        if keepalive < 0:
            raise InvalidArgument("keepalive must be >= 0", field="keepalive")
        with self._lock:
            changed = (host, port, keepalive) != (self._host, self._port, self._keepalive)
            self._host, self._port, self._keepalive = host, int(port), int(keepalive)
            self._bind = (bind_address, bind_port) if bind_address or bind_port else None
            if self._version == 5 and clean_start != MQTT_CLEAN_START_FIRST_ONLY and not self._ever_connected:
                self._clean_start = bool(clean_start)
            new_props = _as_properties(properties)
            if new_props != self._connect_props:
                self._connect_props = new_props
                changed = True
            if changed and not self._ever_connected:
                self._core = None
            if self._transport is not None and changed:
                self._drop_transport = True
            self._want_connect = True
            self._user_disconnect = False
            self._next_attempt = 0.0
            self._retry_first = False
        self._wake()

    def reconnect(self) -> MQTTErrorCode:
        """Closes the current connection (if any, without DISCONNECT) and
        connects again to the same server, resuming the session; returns
        like :meth:`connect`."""
        if not self._host:
            raise InvalidState("reconnect() before connect()", kind="InvalidState")
        with self._lock:
            self._want_connect = True
            self._user_disconnect = False
            self._next_attempt = 0.0
            if self._transport is not None:
                self._drop_transport = True
        return self._connect_now()

    def _connect_now(self) -> MQTTErrorCode:
        me = threading.get_ident()
        owner = self._loop_owner
        if owner == me:  # from a callback: the loop connects on its next turn
            return MQTT_ERR_SUCCESS
        with self._lock:
            if self.is_connected() and not self._drop_transport:
                return MQTT_ERR_SUCCESS
            gen = self._attempt_gen
        if owner is None and self._loop_mutex.acquire(blocking=False):
            self._loop_owner = me
            try:
                deadline = time.monotonic() + self.connect_timeout + 5
                while self._attempt_gen == gen and time.monotonic() < deadline:
                    self._iterate(0.5)
            finally:
                self._loop_owner = None
                self._loop_mutex.release()
        else:
            self._wake()
            with self._lock:
                self._waiters += 1
                try:
                    self._cond.wait_for(lambda: self._attempt_gen != gen, self.connect_timeout + 5)
                finally:
                    self._waiters -= 1
        with self._lock:
            if self._attempt_gen == gen:
                raise ConnectError(f"no answer from {self._host}:{self._port}")
            err = self._attempt_error
        if err is not None:
            raise err
        return MQTT_ERR_SUCCESS

    def _open_transport(self) -> Any:
        timeout = self.connect_timeout
        ctx = self._ssl_context
        if self._transport_kind == "websockets":
            try:
                from websockets.sync.client import connect as ws_connect
            except ImportError as exc:  # pragma: no cover - optional dependency
                raise ConnectError("transport='websockets' needs the websockets package (pip install libmqtt[websockets])") from exc
            scheme = "wss" if ctx is not None else "ws"
            headers = self._ws_headers
            if callable(headers):
                headers = headers({})
            kwargs: Dict[str, Any] = dict(
                subprotocols=["mqtt"],
                additional_headers=headers,
                compression=None,
                open_timeout=timeout,
                ping_interval=None,
                max_size=None,
            )
            if ctx is not None:
                kwargs["ssl"] = ctx
            uri = f"{scheme}://{self._host}:{self._port}{self._ws_path}"
            try:  # websockets >= 17 wants legacy=True outside a with block
                conn = ws_connect(uri, proxy=None, legacy=True, **kwargs)
            except TypeError:
                try:  # websockets 15, 16: no legacy argument
                    conn = ws_connect(uri, proxy=None, **kwargs)
                except TypeError:  # websockets < 15: no proxy argument
                    conn = ws_connect(uri, **kwargs)
            return _WebSocketTransport(conn)
        sock = socket.create_connection((self._host, self._port), timeout=timeout, source_address=self._bind)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ctx is not None:
                sock = ctx.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise
        return _SocketTransport(sock)

    def _attempt(self) -> None:
        """Opens a transport and sends CONNECT (on the loop's thread)."""
        with self._lock:
            self._want_connect = True
            if self._core is None:
                self._core = self._make_core()
        self._log(MQTT_LOG_DEBUG, "connecting to %s:%s", self._host, self._port)
        try:
            transport = self._open_transport()
        except Exception as exc:  # noqa: BLE001 - OSError, ssl, websockets
            self._log(MQTT_LOG_WARNING, "cannot connect to %s:%s: %r", self._host, self._port, exc)
            err = ConnectError(f"cannot connect to {self._host}:{self._port}: {exc}")
            err.__cause__ = exc
            self._attempt_failed(err)
            if self.on_connect_fail is not None:
                self._call(self.on_connect_fail, self, self._userdata)
            return
        with self._lock:
            self._transport = transport
            self._out.clear()
            self._accepted = False
            self._core.connect(time.monotonic())  # type: ignore[union-attr]
        self._flush()

    def _attempt_failed(self, err: BaseException) -> None:
        """A connection attempt ended before CONNACK (or was refused)."""
        with self._lock:
            self._attempt_gen += 1
            self._attempt_error = err
            if self._ever_connected or self._retry_first:
                if self._reconnect_on_failure and not self._user_disconnect:
                    self._next_attempt = time.monotonic() + self._backoff.next_delay()
                else:
                    self._want_connect = False
            else:
                self._want_connect = False
            if self._waiters:
                self._cond.notify_all()

    # ------------------------------------------------------------- the loop

    def _wake(self) -> None:
        """Makes the network thread look at the core again (at most one
        byte in flight per sleep)."""
        self._dirty = True
        if self._sleeping:
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass

    def _iterate(self, timeout: float) -> None:
        """One turn of the network loop (by the loop's owner)."""
        if self._drop_transport:
            self._drop_now()
        now = time.monotonic()
        transport = self._transport
        if transport is None:
            if self._want_connect and now >= self._next_attempt:
                self._attempt()
                return
            wait = timeout
            if self._want_connect:
                wait = min(wait, max(0.0, self._next_attempt - now))
            self._sleep(wait, None, False)
            return
        core = self._core
        assert core is not None
        paused = self._incoming_max > 0 and len(self._inbox) >= self._incoming_max
        if paused != (self._paused_transport is transport):
            # Reading stops while the inbox is full: the core then keeps
            # sending PINGREQ and does not count an unread PINGRESP as a
            # keep alive timeout (a new connection starts unpaused).
            self._paused_transport = transport if paused else None
            with self._lock:
                core.set_input_paused(paused, now)
        deadline = core.next_timeout()
        wait = timeout if deadline is None else min(timeout, max(0.0, deadline - now))
        data: Optional[bytes] = None
        if transport.ws:
            if paused:
                self._sleep(min(wait, _WS_POLL), None, False)
            else:
                data = transport.recv_wait(0 if self._dirty else min(wait, _WS_POLL))
        else:
            readable = self._sleep(wait, transport, not paused)
            if readable:
                data = transport.recv()
        now = time.monotonic()
        with self._lock:
            if self._transport is not transport:
                return
            if data is not None and not data:
                self._lost_locked("closed by the server")
                events = core.events()
                lost = True
            else:
                lost = False
                if data:
                    core.receive_data(data, now)
                deadline = core.next_timeout()
                if deadline is not None and deadline <= now:
                    core.handle_timeout(now)
                self._dirty = False
                events = core.events()
        if lost:
            self._handle_events(events)
            return
        self._flush()
        if events or self._q0_due():
            self._handle_events(events)
            self._flush()

    def _q0_due(self) -> bool:
        """Whether QoS 0 ``on_publish`` calls are due (written)."""
        pending = self._q0_callbacks
        return bool(pending) and pending[0][1][0] <= self._q0_written  # type: ignore[index]

    def _drop_now(self) -> None:
        """Closes the transport as :meth:`reconnect` or :meth:`disconnect`
        asked (by the loop's owner)."""
        with self._lock:
            self._drop_transport = False
            if self._transport is not None:
                self._lost_locked("closed by the application")
            events = self._core.events() if self._core is not None else []
        if events:
            self._handle_events(events)

    def _sleep(self, wait: float, transport: Any, read: bool) -> bool:
        """Waits for the wake-up socket, the transport (readable when
        ``read``, writable when bytes wait) or ``wait`` seconds. Returns
        whether the transport is readable."""
        rlist: List[Any] = [self._wake_r]
        wlist: List[Any] = []
        if transport is not None:
            if read:
                rlist.append(transport)
            if self._out:
                wlist.append(transport)
        self._sleeping = True
        if self._dirty:
            wait = 0.0
        try:
            r, w, _ = select.select(rlist, wlist, [], wait)
        except (OSError, ValueError):
            r, w = [], []
        finally:
            self._sleeping = False
        if self._wake_r in r:
            try:
                self._wake_r.recv(4096)
            except OSError:
                pass
        return transport is not None and transport in r

    def _flush(self) -> None:
        """Writes what the core has to send (never blocks on TCP: what the
        socket does not take waits in ``_out`` for the loop)."""
        transport = self._transport
        if transport is None:
            return
        if transport.ws:
            self._lock.acquire()
            try:
                core = self._core
                data = core.data_to_send() if core is not None else b""
                if not data:
                    self._q0_done_locked()
                    return
                self._wlock.acquire()
            finally:
                self._lock.release()
            try:
                transport.send_all(data)
            except OSError as exc:
                self._wlock.release()
                events = []
                with self._lock:
                    if self._transport is transport:
                        self._lost_locked(f"write failed: {exc!r}")
                        events = self._core.events()  # type: ignore[union-attr]
                if events:
                    self._handle_events(events)
                return
            self._wlock.release()
            with self._lock:
                self._q0_done_locked()
            return
        events = None
        with self._lock:
            if self._transport is not transport:
                return
            core = self._core
            out = self._out
            # Above the high-water mark the core keeps its bytes: its own
            # bounded buffer and queue then make publishers wait.
            data = core.data_to_send() if len(out) < _HIGH_WATER else b""  # type: ignore[union-attr]
            try:
                if out:
                    if data:
                        out += data
                    n = transport.send(out)
                    del out[:n]
                elif data:
                    n = transport.send(data)
                    if n < len(data):
                        out += memoryview(data)[n:]
                if not out:
                    self._q0_done_locked()
                if self._waiters:
                    self._cond.notify_all()
            except OSError as exc:
                self._lost_locked(f"write failed: {exc!r}")
                events = core.events()  # type: ignore[union-attr]
        if events:
            self._handle_events(events)

    def _q0_done_locked(self) -> None:
        """Every QoS 0 message drained so far is written."""
        if self._q0_written != self._q0_seq:
            self._q0_written = self._q0_seq
            waiting = self._q0_waiting
            while waiting:
                info = waiting.popleft()
                info._published = True
                if info._tel is not None:
                    self._telemetry.publish_end(info._tel)  # type: ignore[union-attr]
            if self._waiters:
                self._cond.notify_all()

    def _lost_locked(self, why: str) -> None:
        """The transport failed or closed: tell the core, close it, plan
        the reconnect. Caller holds the lock and handles the core's events."""
        transport = self._transport
        self._transport = None
        self._out.clear()
        if transport is not None:
            transport.close()
        core = self._core
        if core is not None and core.state != "disconnected":
            core.connection_lost(time.monotonic())
        self._log(MQTT_LOG_INFO, "connection lost: %s", why)
        self._after_close_locked()

    def _after_close_locked(self) -> None:
        if self._user_disconnect or not self._reconnect_on_failure:
            self._want_connect = False
        elif self._ever_connected or self._retry_first:
            self._want_connect = True
            self._next_attempt = time.monotonic() + self._backoff.next_delay()
        if self._waiters:
            self._cond.notify_all()

    def _close_after_disconnect(self) -> None:
        """After a Disconnected event other than a transport failure: send
        what is left (the DISCONNECT), close."""
        with self._lock:
            transport = self._transport
            if transport is None:
                return
            data = bytes(self._out) + self._core.data_to_send()  # type: ignore[union-attr]
            self._out.clear()
            self._transport = None
        try:
            if data:
                transport.send_all(data, 5.0)
            with self._lock:
                self._q0_done_locked()
        except OSError:
            pass
        transport.close()
        with self._lock:
            self._after_close_locked()

    # ----------------------------------------------------------------- events

    def _handle_events(self, events: List[Any]) -> None:
        """Updates state for the core's events (under the lock), then runs
        the callbacks (outside it)."""
        calls: List[Tuple[Callable[..., Any], tuple]] = []
        done: List[MQTTMessageInfo] = []  # published once on_publish ran (as paho)
        close = False
        ud = self._userdata
        with self._lock:
            for event in events:
                if type(event) is Message:
                    self._on_message_locked(event, calls)
                elif type(event) is PublishCompleted:
                    info = self._pending.pop(event.id, None)
                    code = ReasonCode(event.reason_code)
                    if info is not None:
                        info.reason_code = code
                        if code >= 0x80:
                            info._error = PublishError(f"publish refused: {code.name}", reason_code=code)
                        done.append(info)
                        if info._tel is not None:
                            self._telemetry.publish_end(info._tel, info._error, code)  # type: ignore[union-attr]
                    cb = self.on_publish
                    if cb is not None:
                        calls.append((cb, (self, ud, info.mid if info else event.id, code, Properties._from(event.properties, PacketTypes.PUBACK))))
                elif isinstance(event, Connected):
                    self._ever_connected = True
                    self._accepted = True
                    self._backoff.reset()
                    self._attempt_gen += 1
                    self._attempt_error = None
                    if self._telemetry is not None:
                        self._telemetry.connected()
                    self._log(MQTT_LOG_INFO, "connected to %s:%s (session present: %s)", self._host, self._port, event.session_present)
                    cb = self.on_connect
                    if cb is not None:
                        calls.append((cb, (self, ud, ConnectFlags(event.session_present), ReasonCode.SUCCESS, Properties._from(event.connack.properties, PacketTypes.CONNACK))))
                elif isinstance(event, Disconnected):
                    if self._telemetry is not None:
                        self._telemetry.disconnected()
                    calls.extend(self._on_disconnected_locked(event))
                    if event.kind != DisconnectKind.TRANSPORT_CLOSED:
                        close = True
                elif isinstance(event, Subscribed):
                    cb = self.on_subscribe
                    if cb is not None:
                        calls.append((cb, (self, ud, event.packet_id, list(event.reason_codes), Properties._from(event.properties, PacketTypes.SUBACK))))
                elif isinstance(event, Unsubscribed):
                    cb = self.on_unsubscribe
                    if cb is not None:
                        calls.append((cb, (self, ud, event.packet_id, list(event.reason_codes), Properties._from(event.properties, PacketTypes.UNSUBACK))))
                elif isinstance(event, PublishDropped):
                    info = self._pending.pop(event.id, None)
                    if info is not None:
                        info._error = PublishError(f"publish dropped: {event.reason.value}", kind=event.reason.value)
                        if info._tel is not None:
                            self._telemetry.publish_end(info._tel, info._error)  # type: ignore[union-attr]
                    self._log(MQTT_LOG_WARNING, "publish %d dropped: %s", event.id, event.reason.value)
                elif isinstance(event, PublishRequeued):
                    info = self._pending.pop(event.old, None)
                    if info is not None:
                        self._pending[event.new] = info
                else:
                    self._log(MQTT_LOG_DEBUG, "event %r", event)
            if self._q0_callbacks and self._q0_written:
                self._q0_callbacks_locked(calls)
            if self._waiters:
                self._cond.notify_all()
        if close:
            self._close_after_disconnect()
        for cb, args in calls:
            self._call(cb, *args)
        if done:
            with self._lock:
                for info in done:
                    info._published = True
                if self._waiters:
                    self._cond.notify_all()

    def _q0_callbacks_locked(self, calls: List[Tuple[Callable[..., Any], tuple]]) -> None:
        pending = self._q0_callbacks
        written = self._q0_written
        keep = []
        for cb, seq_mid in pending:
            seq, mid = seq_mid  # type: ignore[misc]
            if seq <= written:
                calls.append((cb, (self, self._userdata, mid, ReasonCode.SUCCESS, Properties(PacketTypes.PUBACK))))
            else:
                keep.append((cb, seq_mid))
        self._q0_callbacks = keep

    def _on_message_locked(self, event: Message, calls: List[Tuple[Callable[..., Any], tuple]]) -> None:
        if self._telemetry is not None:
            event = self._telemetry.received(event)
        message = MQTTMessage(event, time.monotonic())
        if event.ack_token is not None:
            self._ack_tokens[event.publish.packet_id] = event.ack_token
        taken = False
        if self._filter_callbacks:
            topic = event.topic
            for sub, cb in self._filter_callbacks.items():
                if _core.topic_matches(sub, topic):
                    calls.append((cb, (self, self._userdata, message)))
                    taken = True
        if not taken:
            cb = self.on_message
            if cb is not None:
                calls.append((cb, (self, self._userdata, message)))
            elif self._incoming_max > 0:
                self._inbox.append(message)
                if self._waiters:
                    self._cond.notify_all()

    def _on_disconnected_locked(self, event: Disconnected) -> List[Tuple[Callable[..., Any], tuple]]:
        calls: List[Tuple[Callable[..., Any], tuple]] = []
        ud = self._userdata
        props = Properties._from(event.packet.properties, PacketTypes.DISCONNECT) if event.packet is not None else Properties(PacketTypes.DISCONNECT)
        kind = event.kind
        if event.reason_code is not None:
            code = ReasonCode(event.reason_code)
        elif kind == DisconnectKind.LOCAL:
            code = ReasonCode.NORMAL_DISCONNECTION
        elif kind == DisconnectKind.KEEP_ALIVE_TIMEOUT:
            code = ReasonCode.KEEP_ALIVE_TIMEOUT
        else:
            code = ReasonCode.UNSPECIFIED_ERROR
        self._log(MQTT_LOG_INFO, "disconnected (%s) %s", kind.value, event.message)
        if kind == DisconnectKind.REFUSED:
            err = ConnectError(f"connection refused: {code.getName()}", reason_code=code)
            if self.on_connect is not None:
                calls.append((self.on_connect, (self, ud, ConnectFlags(False), code, props)))
            self._fail_attempt_locked(err)
        elif not self._accepted:
            self._fail_attempt_locked(ConnectError(f"no CONNACK from {self._host}:{self._port} ({event.message or kind.value})"))
        self._accepted = False
        if self.on_disconnect is not None:
            flags = DisconnectFlags(kind == DisconnectKind.BY_SERVER)
            calls.append((self.on_disconnect, (self, ud, flags, code, props)))
        return calls

    def _fail_attempt_locked(self, err: BaseException) -> None:
        self._attempt_gen += 1
        self._attempt_error = err
        if not (self._ever_connected or self._retry_first):
            self._want_connect = False
        if self._waiters:
            self._cond.notify_all()

    def _call(self, cb: Callable[..., Any], *args: Any) -> None:
        try:
            cb(*args)
        except Exception:  # noqa: BLE001 - a callback's bug must not stop the loop
            log.exception("libmqtt.sync: callback %s raised", getattr(cb, "__name__", cb))
            if self.on_log is not None:
                try:
                    self.on_log(self, self._userdata, MQTT_LOG_ERR, f"callback {getattr(cb, '__name__', cb)} raised")
                except Exception:  # noqa: BLE001
                    pass

    def _log(self, level: int, fmt: str, *args: Any) -> None:
        on_log = self.on_log
        logger = self._logger
        if on_log is None and logger is None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(fmt, *args)
            return
        text = fmt % args if args else fmt
        if on_log is not None:
            try:
                on_log(self, self._userdata, level, text)
            except Exception:  # noqa: BLE001
                log.exception("on_log raised")
        if logger is not None:
            logger.log(_LOGGING_LEVEL.get(level, logging.DEBUG), text)

    # ------------------------------------------------------------- commands

    def _after_command(self) -> None:
        """After a command: the loop's owner writes at once; another thread
        wakes the network thread, which writes everything queued meanwhile
        in one send; with no loop running, the caller drives it."""
        owner = self._loop_owner
        me = threading.get_ident()
        if owner == me:
            self._flush()
        elif owner is not None:
            self._wake()
        elif self._loop_mutex.acquire(blocking=False):
            self._loop_owner = me
            try:
                if self._drop_transport:
                    self._drop_now()
                self._flush()
                with self._lock:
                    events = self._core.events() if self._core is not None else []
                if events or self._q0_due():
                    self._handle_events(events)
                    self._flush()
            finally:
                self._loop_owner = None
                self._loop_mutex.release()
        else:
            self._wake()

    def publish(self, topic: str, payload: Any = None, qos: int = 0, retain: bool = False, properties: Any = None) -> MQTTMessageInfo:
        """Publishes; returns an :class:`MQTTMessageInfo` (``.mid``, ``.rc``,
        ``wait_for_publish()``). QoS 1 and 2 messages are queued while
        offline and sent after the (re)connection; QoS 0 ones are not
        (``rc == MQTT_ERR_NO_CONN``). When the core's queue is full the call
        waits for room if a network loop runs in another thread, else
        returns ``rc == MQTT_ERR_QUEUE_SIZE``. Raises
        :class:`libmqtt.TopicNameInvalid`, :class:`libmqtt.MalformedPacket`
        (QoS), :class:`libmqtt.PacketTooLarge` at once."""
        data = _payload_bytes(payload)
        props = _as_properties(properties) if properties is not None else None
        with self._lock:
            core = self._core
            if core is None:
                _core.validate_topic_name(topic)
                return self._refused_info(qos, MQTT_ERR_NO_CONN, NotConnected("not connected (call connect() first)"))
            if not core.can_queue:
                if not self._wait_room_locked():
                    return self._refused_info(qos, MQTT_ERR_QUEUE_SIZE, QueueFull("the outgoing queue is full"))
            try:
                if props is None:
                    mid = core.publish(topic, data, qos, retain)
                else:
                    mid = core.publish(topic, data, qos, retain, properties=props)
            except NotConnected as exc:
                return self._refused_info(qos, MQTT_ERR_NO_CONN, exc)
            except QueueFull as exc:
                return self._refused_info(qos, MQTT_ERR_QUEUE_SIZE, exc)
            info = MQTTMessageInfo(self, mid, qos)
            if qos:
                self._pending[mid] = info
            else:
                self._q0_seq += 1
                info._seq = self._q0_seq
                self._q0_waiting.append(info)
                cb = self.on_publish
                if cb is not None:
                    self._q0_callbacks.append((cb, (self._q0_seq, mid)))  # type: ignore[arg-type]
            self._dirty = True
        self._after_command()
        return info

    def _traced_publish(self, topic: str, payload: Any = None, qos: int = 0, retain: bool = False, properties: Any = None) -> MQTTMessageInfo:
        """:meth:`publish` with ``telemetry=``: a PRODUCER span (ended in
        _handle_events, or once written at QoS 0), the trace context in the
        message."""
        tel = self._telemetry
        data = _payload_bytes(payload)
        props = _as_properties(properties) if properties is not None else None
        handle, data, injected = tel.publish_start(topic, data, qos, retain, props.user_properties if props is not None else None)  # type: ignore[union-attr]
        if injected is not None:
            props = _Properties(user_properties=tuple(injected)) if props is None else dataclasses.replace(props, user_properties=tuple(injected))
        try:
            info = type(self).publish(self, topic, data, qos, retain, props)
        except BaseException as exc:
            tel.publish_end(handle, exc)  # type: ignore[union-attr]
            raise
        with self._lock:  # completions are marked under the lock
            if info._error is None and not info._published and info.reason_code is None:
                info._tel = handle  # ended by _handle_events or _q0_done_locked
                return info
        tel.publish_end(handle, info._error, info.reason_code)  # type: ignore[union-attr]
        return info

    def _refused_info(self, qos: int, rc: MQTTErrorCode, err: MQTTError) -> MQTTMessageInfo:
        info = MQTTMessageInfo(self, 0, qos, rc)
        info._error = err
        return info

    def _wait_room_locked(self) -> bool:
        """Waits (lock held, released while waiting) until the core can
        queue a publish; False when waiting is impossible."""
        owner = self._loop_owner
        if owner is None or owner == threading.get_ident():
            self._lock.release()
            try:
                self._after_command()
            finally:
                self._lock.acquire()
            return self._core is not None and self._core.can_queue
        self._waiters += 1
        try:
            while not self._core.can_queue:  # type: ignore[union-attr]
                if self._loop_owner is None:
                    return False
                self._wake()
                self._cond.wait(0.5)
        finally:
            self._waiters -= 1
        return True

    def _wait_published(self, info: MQTTMessageInfo, timeout: Optional[float]) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        me = threading.get_ident()
        while True:
            if info._published or info._error is not None:
                info._raise()
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            owner = self._loop_owner
            if owner == me:
                raise InvalidState("wait_for_publish() on the network thread would wait forever", kind="InvalidState")
            if owner is None and self._loop_mutex.acquire(blocking=False):
                self._loop_owner = me
                try:
                    if self._transport is None and not self._want_connect:
                        raise NotConnected("not connected and no network loop is running")
                    self._iterate(0.1 if remaining is None else min(0.1, remaining))
                finally:
                    self._loop_owner = None
                    self._loop_mutex.release()
                continue
            with self._lock:
                self._waiters += 1
                try:
                    if not (info._published or info._error is not None):
                        self._cond.wait(0.5 if remaining is None else min(0.5, remaining))
                finally:
                    self._waiters -= 1

    def subscribe(self, topic: Any, qos: int = 0, options: Optional[SubscribeOptions] = None, properties: Any = None) -> Tuple[MQTTErrorCode, Optional[int]]:
        """Subscribes: ``subscribe("a/b", 1)``, ``subscribe(("a/b", 1))``,
        ``subscribe([("a/b", 1), ("c/#", 2)])``, ``subscribe("a/b",
        options=SubscribeOptions(qos=1, noLocal=True))`` (5.0), with
        ``properties`` (``SubscriptionIdentifier``, ``UserProperty``).
        Returns ``(MQTT_ERR_SUCCESS, mid)``; ``on_subscribe`` gets the
        SUBACK's codes. Queued while offline once connected before; before
        the first ``connect`` returns ``(MQTT_ERR_NO_CONN, None)``. Raises
        :class:`libmqtt.TopicFilterInvalid` for a bad filter."""
        filters: List[SubscribeFilter] = []

        def one(t: Any, q: Any) -> SubscribeFilter:
            if isinstance(q, SubscribeOptions):
                return q._filter(t)
            return SubscribeFilter(t, int(q))

        if isinstance(topic, str):
            filters.append(options._filter(topic) if options is not None else one(topic, qos))
        elif isinstance(topic, tuple):
            filters.append(one(topic[0], topic[1]))
        elif isinstance(topic, list):
            for item in topic:
                filters.append(one(item[0], item[1]) if isinstance(item, tuple) else one(item, qos))
        else:
            raise InvalidArgument("topic is a string, a (topic, qos) tuple or a list of them", field="topic")
        if not filters:
            raise InvalidArgument("no topic to subscribe to", field="topic")
        for f in filters:
            _core.validate_topic_filter(f.filter)
        kwargs: Dict[str, Any] = {}
        props = _as_properties(properties)
        if props is not None:
            if props.subscription_identifier is not None:
                kwargs["subscription_identifier"] = props.subscription_identifier
            elif props.subscription_identifiers:
                kwargs["subscription_identifier"] = props.subscription_identifiers[0]
            if props.user_properties:
                kwargs["user_properties"] = props.user_properties
        with self._lock:
            if self._core is None:
                return MQTT_ERR_NO_CONN, None
            mid = self._core.subscribe(filters, **kwargs)
            self._dirty = True
            if self._telemetry is not None:
                self._telemetry.subscribed([f.filter for f in filters])
        self._after_command()
        return MQTT_ERR_SUCCESS, mid

    def unsubscribe(self, topic: Union[str, Sequence[str]], properties: Any = None) -> Tuple[MQTTErrorCode, Optional[int]]:
        """Unsubscribes from a filter or a list; returns ``(rc, mid)`` like
        :meth:`subscribe`; ``on_unsubscribe`` gets the UNSUBACK's codes."""
        topics = [topic] if isinstance(topic, str) else list(topic)
        for t in topics:
            _core.validate_topic_filter(t)
        kwargs: Dict[str, Any] = {}
        props = _as_properties(properties)
        if props is not None and props.user_properties:
            kwargs["user_properties"] = props.user_properties
        with self._lock:
            if self._core is None:
                return MQTT_ERR_NO_CONN, None
            mid = self._core.unsubscribe(topics, **kwargs)
            self._dirty = True
            if self._telemetry is not None:
                self._telemetry.unsubscribed(topics)
        self._after_command()
        return MQTT_ERR_SUCCESS, mid

    def ack(self, mid: int, qos: int) -> MQTTErrorCode:
        """With ``manual_ack=True``: acknowledges the message ``mid`` (PUBACK
        or PUBREC goes out, in arrival order)."""
        if qos == 0:
            return MQTT_ERR_SUCCESS
        with self._lock:
            token = self._ack_tokens.pop(mid, None)
            if token is None or self._core is None:
                return MQTT_ERR_SUCCESS
            self._core.acknowledge(token)
            self._dirty = True
        self._after_command()
        return MQTT_ERR_SUCCESS

    def disconnect(self, reasoncode: Any = None, properties: Any = None) -> MQTTErrorCode:
        """Sends DISCONNECT (5.0: ``reasoncode``, e.g. 0x04 to have the will
        published, and ``properties``: ``SessionExpiryInterval``,
        ``ReasonString``, ``UserProperty``) and closes; no reconnect
        follows, :meth:`loop_forever` returns. Returns
        ``MQTT_ERR_NO_CONN`` when not connected."""
        code = None if reasoncode is None else int(getattr(reasoncode, "value", reasoncode))
        props = _as_properties(properties)
        kwargs: Dict[str, Any] = {}
        if props is not None:
            if props.session_expiry_interval is not None:
                kwargs["session_expiry_interval"] = props.session_expiry_interval
            if props.reason_string is not None:
                kwargs["reason_string"] = props.reason_string
            if props.user_properties:
                kwargs["user_properties"] = props.user_properties
        with self._lock:
            self._user_disconnect = True
            self._want_connect = False
            core = self._core
            if core is None or core.state != "connected" or self._transport is None:
                if self._transport is not None:
                    self._drop_transport = True
                if self._waiters:
                    self._cond.notify_all()
                self._dirty = True
                rc = MQTT_ERR_NO_CONN
            else:
                core.disconnect(code, **kwargs)
                self._dirty = True
                rc = MQTT_ERR_SUCCESS
        self._after_command()
        return rc

    # ------------------------------------------------------------ incoming

    def get_message(self, timeout: Optional[float] = None) -> Optional[MQTTMessage]:
        """The next message that no callback took (with
        ``max_incoming_messages > 0``), or ``None`` after ``timeout``
        seconds. Taking one lets a network thread paused by a full queue
        read again. With no network loop running, it runs the loop itself."""
        if self._incoming_max <= 0:
            raise InvalidState("the incoming queue is off (Client(max_incoming_messages=N))", kind="InvalidState")
        deadline = None if timeout is None else time.monotonic() + timeout
        me = threading.get_ident()
        while True:
            with self._lock:
                if self._inbox:
                    full = len(self._inbox) >= self._incoming_max
                    message = self._inbox.popleft()
                    if full:
                        self._wake()
                    return message
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            owner = self._loop_owner
            if owner == me:
                return None
            if owner is None and self._loop_mutex.acquire(blocking=False):
                self._loop_owner = me
                try:
                    if self._transport is None and not self._want_connect:
                        return None
                    self._iterate(0.1 if remaining is None else min(0.1, remaining))
                finally:
                    self._loop_owner = None
                    self._loop_mutex.release()
                continue
            with self._lock:
                self._waiters += 1
                try:
                    if not self._inbox:
                        self._cond.wait(0.5 if remaining is None else min(0.5, remaining))
                finally:
                    self._waiters -= 1

    # ---------------------------------------------------------------- loops

    def loop(self, timeout: float = 1.0) -> MQTTErrorCode:
        """One turn of the network loop in the calling thread: waits up to
        ``timeout`` seconds for input, handles it and the timers, writes.
        Returns ``MQTT_ERR_NO_CONN`` when not connected (and not about to
        reconnect). Raises :class:`libmqtt.InvalidState` while another
        thread runs the loop."""
        me = threading.get_ident()
        if self._loop_owner == me:
            self._iterate(timeout)
        elif not self._loop_mutex.acquire(blocking=False):
            raise InvalidState("the network loop runs in another thread", kind="InvalidState")
        else:
            self._loop_owner = me
            try:
                self._iterate(timeout)
            finally:
                self._loop_owner = None
                self._loop_mutex.release()
        if self._transport is None and not self._want_connect:
            return MQTT_ERR_NO_CONN
        return MQTT_ERR_SUCCESS

    def loop_forever(self, timeout: float = 1.0, retry_first_connection: bool = False) -> MQTTErrorCode:
        """Runs the network loop in the calling thread until
        :meth:`disconnect` (from a callback or another thread), or until the
        connection ends with ``reconnect_on_failure=False``. Reconnects
        with backoff otherwise. With ``retry_first_connection`` a first
        connection that fails (after :meth:`connect_async`) is retried;
        without, its :class:`ConnectError` is raised."""
        if not self._loop_mutex.acquire(blocking=False):
            raise InvalidState("the network loop already runs in another thread", kind="InvalidState")
        me = threading.get_ident()
        self._loop_owner = me
        try:
            with self._lock:
                self._retry_first = retry_first_connection
                gen = self._attempt_gen
            while True:
                if self._transport is None and not self._want_connect:
                    break
                self._iterate(timeout)
                if not self._ever_connected and not retry_first_connection and self._attempt_gen != gen:
                    err = self._attempt_error
                    if err is not None:
                        raise err
            return MQTT_ERR_SUCCESS
        finally:
            self._loop_owner = None
            self._loop_mutex.release()

    def loop_start(self) -> MQTTErrorCode:
        """Starts the network thread (a daemon); it connects (after
        :meth:`connect_async`), reconnects with backoff and runs the
        callbacks. Returns ``MQTT_ERR_INVAL`` if it already runs."""
        if self._thread is not None:
            return MQTT_ERR_INVAL
        started = threading.Event()
        self._thread_stop = False

        def run() -> None:
            with self._loop_mutex:
                self._loop_owner = threading.get_ident()
                started.set()
                try:
                    with self._lock:
                        self._retry_first = True
                    while not self._thread_stop:
                        try:
                            self._iterate(1.0)
                        except Exception:  # noqa: BLE001 - a bug: report it, keep the client alive
                            log.exception("libmqtt.sync: the network loop failed")
                            time.sleep(0.1)
                finally:
                    self._loop_owner = None

        self._thread = threading.Thread(target=run, name=f"libmqtt-sync-{self._client_id or 'client'}", daemon=True)
        self._thread.start()
        started.wait(5)
        return MQTT_ERR_SUCCESS

    def loop_stop(self) -> MQTTErrorCode:
        """Stops the network thread (after it has written what is queued,
        e.g. a DISCONNECT) and waits for it, unless called from it. Does
        not disconnect. Returns ``MQTT_ERR_INVAL`` if it is not running."""
        thread = self._thread
        if thread is None:
            return MQTT_ERR_INVAL
        self._thread_stop = True
        self._wake()
        if thread is not threading.current_thread():
            thread.join()
        self._thread = None
        return MQTT_ERR_SUCCESS


# ------------------------------------------------------------------ helpers


def _helper_client(
    client_id: str,
    protocol: int,
    transport: str,
    will: Optional[Dict[str, Any]],
    auth: Optional[Dict[str, Any]],
    tls: Any,
    clean_session: Optional[bool] = None,
    **kwargs: Any,
) -> Client:
    c = Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, transport=transport, clean_session=clean_session if protocol != MQTTv5 else None, **kwargs)
    if will is not None:
        c.will_set(**will)
    if auth is not None:
        c.username_pw_set(auth["username"], auth.get("password"))
    if tls is not None:
        if isinstance(tls, _ssl.SSLContext):
            c.tls_set_context(tls)
        else:
            tls = dict(tls)
            insecure = tls.pop("insecure", False)
            c.tls_set(**tls)
            if insecure:
                c.tls_insecure_set(True)
    return c


def multiple(
    msgs: Iterable[Any],
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: Optional[Dict[str, Any]] = None,
    auth: Optional[Dict[str, Any]] = None,
    tls: Any = None,
    protocol: int = MQTTv311,
    transport: str = "tcp",
    proxy_args: Any = None,
    *,
    timeout: Optional[float] = 30.0,
) -> None:
    """Connects, publishes every message, waits until each is published
    (QoS 1 / 2 acknowledged), disconnects: paho's ``publish.multiple``.
    ``msgs`` holds dicts (``topic``, ``payload``, ``qos``, ``retain``) or
    tuples ``(topic, payload, qos, retain)``. Raises :class:`ConnectError`,
    :class:`PublishError`, or ``TimeoutError`` after ``timeout`` seconds."""
    if proxy_args is not None:
        raise ClientError("proxies are not supported", kind="FeatureNotSupported")
    c = _helper_client(client_id, protocol, transport, will, auth, tls)
    c.connect(hostname, port, keepalive)
    try:
        infos = []
        for m in msgs:
            if isinstance(m, dict):
                infos.append(c.publish(m["topic"], m.get("payload"), m.get("qos", 0), m.get("retain", False)))
            else:
                m = tuple(m)
                infos.append(c.publish(*m))
        deadline = None if timeout is None else time.monotonic() + timeout
        for info in infos:
            if info._error is not None:
                raise info._error
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not info.wait_for_publish(left):
                raise TimeoutError("messages not acknowledged in time")
    finally:
        c.disconnect()


def single(
    topic: str,
    payload: Any = None,
    qos: int = 0,
    retain: bool = False,
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: Optional[Dict[str, Any]] = None,
    auth: Optional[Dict[str, Any]] = None,
    tls: Any = None,
    protocol: int = MQTTv311,
    transport: str = "tcp",
    proxy_args: Any = None,
    *,
    timeout: Optional[float] = 30.0,
) -> None:
    """Publishes one message and disconnects: paho's ``publish.single``
    (see :func:`multiple`)."""
    multiple(
        [{"topic": topic, "payload": payload, "qos": qos, "retain": retain}],
        hostname, port, client_id, keepalive, will, auth, tls, protocol, transport, proxy_args,
        timeout=timeout,
    )


def simple(
    topics: Union[str, List[str]],
    qos: int = 0,
    msg_count: int = 1,
    retained: bool = True,
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: Optional[Dict[str, Any]] = None,
    auth: Optional[Dict[str, Any]] = None,
    tls: Any = None,
    protocol: int = MQTTv311,
    transport: str = "tcp",
    clean_session: bool = True,
    proxy_args: Any = None,
    *,
    timeout: Optional[float] = None,
) -> Union[MQTTMessage, List[MQTTMessage]]:
    """Subscribes to ``topics``, returns the first ``msg_count`` messages
    (one :class:`MQTTMessage` when ``msg_count == 1``, else a list),
    disconnects: paho's ``subscribe.simple``. ``retained=False`` skips
    retained messages. Raises ``TimeoutError`` after ``timeout`` seconds
    (None: wait for ever)."""
    if proxy_args is not None:
        raise ClientError("proxies are not supported", kind="FeatureNotSupported")
    if msg_count < 1:
        raise InvalidArgument("msg_count must be positive", field="msg_count")
    c = _helper_client(client_id, protocol, transport, will, auth, tls, clean_session, max_incoming_messages=max(msg_count, 16))
    c.connect(hostname, port, keepalive)
    try:
        topic_list = [topics] if isinstance(topics, str) else list(topics)
        c.subscribe([(t, qos) for t in topic_list])
        got: List[MQTTMessage] = []
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(got) < msg_count:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"{len(got)} of {msg_count} messages in {timeout} s")
            m = c.get_message(left)
            if m is None:
                continue
            if m.retain and not retained:
                continue
            got.append(m)
    finally:
        c.disconnect()
    return got[0] if msg_count == 1 else got
