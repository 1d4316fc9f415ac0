"""libmqtt: MQTT 3.1.1 and 5.0 for Python, on a sans-IO Rust core.

The protocol engine (``mqtt-core``, in Rust) reads no clock and touches no
socket: the classes here take bytes, commands and the time, and give back
bytes, events and deadlines, so any driver (asyncio, threads, a test in
virtual time) can run them.

* The codec: :func:`decode` and :func:`encode` between bytes and packet
  objects (:class:`Publish`, :class:`Connect`, ... with :class:`Properties`),
  and the streaming :class:`Decoder`.
* The client: :class:`Client`, one MQTT session across connections, with
  events (:class:`Connected`, :class:`Message`, :class:`PublishCompleted`,
  ...) in the manner of h11.
* The server role: :mod:`libmqtt.server` (:class:`ServerConnection`, one
  client's connection as a broker sees it, and its events).
* The broker engine: :class:`Broker`, many connections, sessions,
  retained messages, wills, passwords and an ACL, or Python hooks for
  authentication and authorization (:mod:`libmqtt.broker`); a driver only
  moves bytes between its transports and the engine.
* Errors: :class:`MQTTError` and below, each with ``.reason_code`` (a
  :class:`ReasonCode`).

Time is float seconds from any monotonic origin you choose, rounded to the
core's millisecond.

Ready drivers: :mod:`libmqtt.asyncio` (``Client`` and ``Broker`` on
asyncio, TCP, TLS or WebSocket) and the command line ``python -m libmqtt
pub | sub | broker | decode``.
"""

from __future__ import annotations

from ._core import Broker, Client, Decoder, __version__, decode, encode
from ._enums import QoS, ReasonCode, RetainHandling
from ._errors import (
    ClientError,
    FeatureNotSupported,
    InvalidState,
    MalformedPacket,
    MQTTError,
    NoPacketIdentifier,
    NotConnected,
    PacketTooLarge,
    PayloadFormatInvalid,
    ProtocolError,
    QoSNotSupported,
    QueueFull,
    RetainNotSupported,
    ServerError,
    TopicAliasInvalid,
    TopicFilterInvalid,
    TopicNameInvalid,
    UnknownAckToken,
    UnsupportedProtocolVersion,
)
from ._events import (
    AuthChallenge,
    Connected,
    Disconnected,
    DisconnectKind,
    DropReason,
    Event,
    Message,
    Pong,
    PublishCompleted,
    PublishDropped,
    PublishRequeued,
    Reauthenticated,
    Redirect,
    Subscribed,
    Unsubscribed,
)
from ._packets import (
    NO_PROPERTIES,
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    PubComp,
    PubRec,
    PubRel,
    Publish,
    SubAck,
    Subscribe,
    SubscribeFilter,
    UnsubAck,
    Unsubscribe,
    Will,
)

__all__ = [
    "__version__",
    # codec
    "decode",
    "encode",
    "Decoder",
    # client and broker engine
    "Client",
    "Broker",
    # enums
    "ReasonCode",
    "QoS",
    "RetainHandling",
    # packets
    "Packet",
    "Properties",
    "NO_PROPERTIES",
    "Will",
    "SubscribeFilter",
    "Connect",
    "ConnAck",
    "Publish",
    "PubAck",
    "PubRec",
    "PubRel",
    "PubComp",
    "Subscribe",
    "SubAck",
    "Unsubscribe",
    "UnsubAck",
    "PingReq",
    "PingResp",
    "Disconnect",
    "Auth",
    # events
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
    # errors
    "MQTTError",
    "MalformedPacket",
    "ProtocolError",
    "UnsupportedProtocolVersion",
    "TopicFilterInvalid",
    "TopicNameInvalid",
    "TopicAliasInvalid",
    "PacketTooLarge",
    "PayloadFormatInvalid",
    "ClientError",
    "QueueFull",
    "NotConnected",
    "NoPacketIdentifier",
    "QoSNotSupported",
    "RetainNotSupported",
    "FeatureNotSupported",
    "InvalidState",
    "UnknownAckToken",
    "ServerError",
]
