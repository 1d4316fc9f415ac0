"""What a :class:`~libmqtt.Client` reports: events as small immutable
classes (in the manner of h11), one per variant of the Rust core's
``client::Event``. Drain them with :meth:`Client.next_event` after every
input or command; match on their class::

    while (event := client.next_event()) is not None:
        match event:
            case Message(publish=p):
                print(p.topic, p.payload)
            case Disconnected(kind=kind):
                ...
"""

from __future__ import annotations

import enum
from typing import Optional, Tuple, Union

from ._enums import ReasonCode
from ._packets import Auth, ConnAck, Disconnect, Properties, Publish, NO_PROPERTIES, _frozen

__all__ = [
    "Event",
    "Connected",
    "Disconnected",
    "DisconnectKind",
    "Redirect",
    "Message",
    "PublishCompleted",
    "PublishDropped",
    "DropReason",
    "PublishRequeued",
    "Subscribed",
    "Unsubscribed",
    "AuthChallenge",
    "Reauthenticated",
    "Pong",
]



class DisconnectKind(str, enum.Enum):
    """Why a connection ended (the core's ``DisconnectReason``)."""

    REFUSED = "refused"
    """The server refused the connection in CONNACK (``packet`` is it)."""
    BY_SERVER = "by_server"
    """The server sent DISCONNECT (5.0; ``packet`` is it)."""
    PROTOCOL_VIOLATION = "protocol_violation"
    """The server broke a rule; a DISCONNECT with ``reason_code`` was queued."""
    KEEP_ALIVE_TIMEOUT = "keep_alive_timeout"
    """No PINGRESP in time."""
    CONNECT_TIMEOUT = "connect_timeout"
    """No CONNACK in time."""
    TRANSPORT_CLOSED = "transport_closed"
    """The transport closed (:meth:`Client.connection_lost`)."""
    LOCAL = "local"
    """The application called :meth:`Client.disconnect`."""


class DropReason(str, enum.Enum):
    """Why a publish was dropped before the server acknowledged it."""

    EXPIRED = "expired"
    """Its Message Expiry Interval passed before it could be sent."""
    QUEUE_FULL = "queue_full"
    """The queue was full and the policy made room by dropping it."""
    SESSION_LOST = "session_lost"
    """The server had no session and the policy drops in-flight messages."""
    PACKET_TOO_LARGE = "packet_too_large"
    """Larger than the server's Maximum Packet Size (learned later)."""
    NOT_SUPPORTED = "not_supported"
    """QoS or retain the server does not support (learned later)."""


@_frozen
class Redirect:
    """A server redirection (0x9C Use another server, 0x9D Server moved)."""

    permanent: bool
    server_reference: str


@_frozen
class Connected:
    """The server accepted the connection (CONNACK with Success)."""

    session_present: bool
    connack: ConnAck
    client_id: str
    """The client identifier in use (the server's assigned one if any)."""
    keep_alive: int
    """The keep alive in force, in seconds."""


@_frozen
class Disconnected:
    """The connection ended. Send what :meth:`Client.data_to_send` still
    returns (a DISCONNECT, when one is due), then close the transport."""

    kind: DisconnectKind
    reason_code: Optional[ReasonCode] = None
    """The code the server gave, or the one we sent on a violation."""
    packet: Optional[Union[ConnAck, Disconnect]] = None
    """The refusing CONNACK or the server's DISCONNECT."""
    message: str = ""
    """What happened, for people."""
    redirect: Optional[Redirect] = None


# Message is the hot path of delivery: implemented in Rust, with
# attributes ``publish`` and ``ack_token`` and the shortcuts ``topic``,
# ``payload``, ``qos``, ``retain`` and ``properties``.
from ._core import Message  # noqa: E402


@_frozen
class PublishCompleted:
    """A QoS 1 or 2 publish was acknowledged (PUBACK, PUBCOMP, or a PUBREC
    with an error code). An error ``reason_code`` in PUBACK or PUBREC means
    the server refused the message."""

    id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@_frozen
class PublishDropped:
    """A publish was dropped before the server acknowledged it."""

    id: int
    reason: DropReason


@_frozen
class PublishRequeued:
    """An in-flight publish was queued again under a new identifier because
    the server lost the session."""

    old: int
    new: int


@_frozen
class Subscribed:
    """SUBACK: one reason code per filter (the granted QoS, or an error)."""

    packet_id: int
    reason_codes: Tuple[ReasonCode, ...]
    properties: Properties = NO_PROPERTIES


@_frozen
class Unsubscribed:
    """UNSUBACK: one reason code per filter (Success in 3.1.1)."""

    packet_id: int
    reason_codes: Tuple[ReasonCode, ...]
    properties: Properties = NO_PROPERTIES


@_frozen
class AuthChallenge:
    """The server continues an enhanced authentication (AUTH 0x18); answer
    with :meth:`Client.authenticate`."""

    auth: Auth


@_frozen
class Reauthenticated:
    """A re-authentication succeeded (AUTH 0x00)."""

    auth: Auth


@_frozen
class Pong:
    """PINGRESP arrived."""


#: Any client event.
Event = Union[
    Connected,
    Disconnected,
    Message,
    PublishCompleted,
    PublishDropped,
    PublishRequeued,
    Subscribed,
    Unsubscribed,
    AuthChallenge,
    Reauthenticated,
    Pong,
]
