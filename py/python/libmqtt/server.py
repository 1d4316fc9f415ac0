"""The server role: one network connection of one client, as a broker sees
it (the core's ``server::ServerConnection``), and its events.

:class:`ServerConnection` mirrors :class:`libmqtt.Client`: it takes bytes,
commands and the time, and gives back bytes, events and its next
deadline. It enforces the rules a server enforces (CONNECT first, keep
alive at 1.5 times, Receive Maximum, Maximum QoS, Topic Alias Maximum,
Maximum Packet Size, subscription features) and leaves routing, retained
messages and sessions to the application (or use :class:`libmqtt.Broker`,
which does all of that).

The loop: after every input or command write ``data_to_send()``, handle
every ``next_event()`` (answer ``ConnectRequested`` with ``accept`` or
``reject``, ``SubscribeRequested`` with ``suback``, ...), then wait for
input or until ``next_timeout()``.
"""

from __future__ import annotations

import enum
from typing import Optional, Tuple, Union

from ._core import ServerConnection, ServerSession
from ._enums import ReasonCode
from ._packets import NO_PROPERTIES, Auth, ConnAck, Connect, Disconnect, Properties, Publish, Subscribe, Unsubscribe, Will, _frozen

__all__ = [
    "ServerConnection",
    "ServerSession",
    "ServerEvent",
    "ConnectRequested",
    "AuthReceived",
    "MessageReceived",
    "SubscribeRequested",
    "UnsubscribeRequested",
    "PublishCompleted",
    "PublishDropped",
    "Ping",
    "WillPublish",
    "Disconnected",
    "CloseKind",
]



class CloseKind(str, enum.Enum):
    """Why a server connection ended (the core's ``CloseReason``)."""

    BY_CLIENT = "by_client"
    """The client sent DISCONNECT (``packet`` is it)."""
    PROTOCOL_VIOLATION = "protocol_violation"
    """The client broke a rule; a DISCONNECT with ``reason_code`` was queued."""
    KEEP_ALIVE_TIMEOUT = "keep_alive_timeout"
    """Nothing from the client within 1.5 times the keep alive."""
    CONNECT_TIMEOUT = "connect_timeout"
    """The connection was not accepted in time."""
    REJECTED = "rejected"
    """Refused with a CONNACK (``packet`` is it)."""
    TRANSPORT_CLOSED = "transport_closed"
    """The transport closed (:meth:`ServerConnection.connection_lost`)."""
    LOCAL = "local"
    """The application called :meth:`ServerConnection.disconnect`."""


@_frozen
class ConnectRequested:
    """A valid CONNECT arrived: answer with ``accept`` or ``reject`` (or
    continue an enhanced authentication with ``auth``)."""

    connect: Connect


@_frozen
class AuthReceived:
    """The client sent AUTH (0x18 continuing, 0x19 re-authenticating)."""

    auth: Auth


@_frozen
class MessageReceived:
    """A PUBLISH from the client (topic alias resolved). With
    ``manual_ack``, QoS 1 and 2 wait for ``acknowledge(packet_id)``."""

    publish: Publish


@_frozen
class SubscribeRequested:
    """SUBSCRIBE: answer with ``suback(packet_id, reason_codes)``."""

    subscribe: Subscribe


@_frozen
class UnsubscribeRequested:
    """UNSUBSCRIBE: answer with ``unsuback(packet_id, reason_codes)``."""

    unsubscribe: Unsubscribe


@_frozen
class PublishCompleted:
    """A QoS 1 or 2 message to the client was acknowledged."""

    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@_frozen
class PublishDropped:
    """A message to the client was discarded unsent: ``"packet_too_large"``
    or ``"expired"``."""

    packet_id: int
    reason: str


@_frozen
class Ping:
    """PINGREQ arrived (PINGRESP was sent)."""


@_frozen
class WillPublish:
    """The will must be published now (or after its Will Delay Interval):
    the connection ended otherwise than by a normal DISCONNECT."""

    will: Will


@_frozen
class Disconnected:
    """The connection ended. Send what ``data_to_send()`` still returns,
    then close the transport; ``take_session()`` hands over the session."""

    kind: CloseKind
    reason_code: Optional[ReasonCode] = None
    packet: Optional[Union[ConnAck, Disconnect]] = None
    message: str = ""
    publishes_will: bool = True


#: Any server event.
ServerEvent = Union[
    ConnectRequested,
    AuthReceived,
    MessageReceived,
    SubscribeRequested,
    UnsubscribeRequested,
    PublishCompleted,
    PublishDropped,
    Ping,
    WillPublish,
    Disconnected,
]

del Tuple
