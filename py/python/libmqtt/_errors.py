"""The exception hierarchy.

Every exception libmqtt raises for a protocol reason is an :class:`MQTTError`
and carries :attr:`MQTTError.reason_code`, the MQTT 5.0 reason code a
receiver reports for it (in CONNACK or DISCONNECT), or ``None`` when none
applies. :attr:`MQTTError.kind` names the precise rule, as the Rust core
names it (``"InvalidQoS"``, ``"Truncated"``, ...).

Codec errors (from :func:`libmqtt.decode`, :func:`libmqtt.encode`,
:class:`libmqtt.Decoder` and invalid command arguments)::

    MQTTError
    ├── MalformedPacket              0x81
    ├── ProtocolError                0x82
    ├── UnsupportedProtocolVersion   0x84
    ├── TopicFilterInvalid           0x8F
    ├── TopicNameInvalid             0x90
    ├── TopicAliasInvalid            0x94
    ├── PacketTooLarge               0x95
    ├── PayloadFormatInvalid         0x99
    ├── InvalidArgument              an argument out of range (also a ValueError)
    ├── ServerError                  a command the server role refused
    └── ClientError                  a command the client refused
        ├── QueueFull
        ├── NotConnected
        ├── NoPacketIdentifier
        ├── QoSNotSupported          0x9B
        ├── RetainNotSupported       0x9A
        ├── FeatureNotSupported      0x9E, 0xA1 or 0xA2
        ├── InvalidState
        └── UnknownAckToken

The trace context envelope of MQTT 3.1.1 (:mod:`libmqtt.telemetry`)::

    EnvelopeError                    also a ValueError
    ├── NotAnEnvelope                the payload lacks the FF 54 43 magic
    ├── UnsupportedEnvelopeVersion   an envelope of another format version
    └── TruncatedEnvelope            cut short

The broker's durable store (:meth:`libmqtt.Broker.restore`)::

    StoreError
    ├── NotAStore                    not a libmqtt store (also a ValueError)
    ├── StoreTooNew                  a newer store format (also a ValueError)
    └── BrokerNotEmpty               restore needs a new, empty broker

A command whose packet is invalid raises the codec's exception (a
PUBLISH to ``"a/#"`` raises :class:`TopicNameInvalid`), and one larger than
the server's Maximum Packet Size raises :class:`PacketTooLarge`, as
:func:`libmqtt.encode` would. An argument outside its field's range (a
negative ``keep_alive``, a ``topic_alias`` above 65,535, a time below 0,
...) raises :class:`InvalidArgument`, naming the field; an argument of the
wrong type raises ``TypeError``.
"""

from __future__ import annotations

from typing import Optional

from ._enums import ReasonCode

__all__ = [
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
    "InvalidArgument",
    "ServerError",
    "EnvelopeError",
    "NotAnEnvelope",
    "UnsupportedEnvelopeVersion",
    "TruncatedEnvelope",
    "StoreError",
    "NotAStore",
    "StoreTooNew",
    "BrokerNotEmpty",
]


class MQTTError(Exception):
    """Base of every libmqtt protocol error.

    Attributes:
        reason_code: the MQTT 5.0 reason code for the error, or ``None``.
        kind: the core's name for the precise error (e.g. ``"InvalidQoS"``).
    """

    #: The reason code of the class; instances may carry a more precise one.
    default_reason_code: Optional[ReasonCode] = None

    def __init__(
        self,
        message: str = "",
        reason_code: Optional[int] = None,
        kind: str = "",
    ) -> None:
        super().__init__(message)
        code = self.default_reason_code if reason_code is None else reason_code
        self.reason_code: Optional[ReasonCode] = None if code is None else ReasonCode(code)
        self.kind: str = kind

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.args[0]) if self.args else ""


class MalformedPacket(MQTTError):
    """The bytes are not a valid packet (0x81 Malformed Packet)."""

    default_reason_code = ReasonCode.MALFORMED_PACKET


class ProtocolError(MQTTError):
    """The packet parsed but breaks a protocol rule (0x82 Protocol Error)."""

    default_reason_code = ReasonCode.PROTOCOL_ERROR


class UnsupportedProtocolVersion(MQTTError):
    """CONNECT names another protocol or version (0x84)."""

    default_reason_code = ReasonCode.UNSUPPORTED_PROTOCOL_VERSION


class TopicFilterInvalid(MQTTError):
    """A topic filter is invalid (0x8F)."""

    default_reason_code = ReasonCode.TOPIC_FILTER_INVALID


class TopicNameInvalid(MQTTError):
    """A topic name is invalid, e.g. contains a wildcard (0x90)."""

    default_reason_code = ReasonCode.TOPIC_NAME_INVALID


class TopicAliasInvalid(MQTTError):
    """A Topic Alias of 0 or above the maximum (0x94)."""

    default_reason_code = ReasonCode.TOPIC_ALIAS_INVALID


class PacketTooLarge(MQTTError):
    """The packet exceeds the maximum packet size in force (0x95)."""

    default_reason_code = ReasonCode.PACKET_TOO_LARGE


class PayloadFormatInvalid(MQTTError):
    """The payload is not UTF-8 although its Payload Format Indicator says
    it is (0x99)."""

    default_reason_code = ReasonCode.PAYLOAD_FORMAT_INVALID


class ClientError(MQTTError):
    """A command the client refused. Nothing was queued or sent. Always
    caused by the caller (or by limits the server announced), never by
    bytes from the network."""


class QueueFull(ClientError):
    """The queue of commands waiting to be sent is full."""


class NotConnected(ClientError):
    """Not connected, and this command is not queued while offline."""


class NoPacketIdentifier(ClientError):
    """All 65,535 packet identifiers are in use."""


class QoSNotSupported(ClientError):
    """The QoS is above the server's Maximum QoS (0x9B)."""

    default_reason_code = ReasonCode.QOS_NOT_SUPPORTED


class RetainNotSupported(ClientError):
    """Retain requested from a server without retain (0x9A)."""

    default_reason_code = ReasonCode.RETAIN_NOT_SUPPORTED


class FeatureNotSupported(ClientError):
    """The server said in CONNACK it lacks a feature this command uses:
    wildcards (0xA2), Subscription Identifiers (0xA1) or shared
    subscriptions (0x9E)."""


class InvalidState(ClientError):
    """The command makes no sense now (e.g. ``connect`` while connected)."""


class UnknownAckToken(ClientError):
    """The acknowledgement token is unknown or already used."""


class InvalidArgument(MQTTError, ValueError):
    """An argument is out of its range or not one of its allowed values: a
    negative or too large integer (``keep_alive=-1``, ``topic_alias=70000``,
    ``qos=-1`` raises :class:`MalformedPacket` as ``qos=3`` does), a
    negative time, an unknown option name. A ``ValueError`` too. Nothing was
    queued or sent.

    Attributes:
        field: the argument or property at fault (``"keep_alive"``,
            ``"properties.topic_alias"``, ...), also named in the message.
    """

    def __init__(self, message: str = "", reason_code: Optional[int] = None, kind: str = "", field: str = "") -> None:
        super().__init__(message, reason_code, kind)
        self.field: str = field


class ServerError(MQTTError):
    """A command the server connection (:class:`libmqtt.server.ServerConnection`)
    refused. Nothing was queued or sent. :attr:`kind` names the reason
    (``"NotConnected"``, ``"QueueFull"``, ``"InvalidState"``,
    ``"ReasonCodeCount"``, ...)."""


class EnvelopeError(MQTTError, ValueError):
    """A payload could not be read as a trace context envelope
    (:func:`libmqtt.telemetry.open_envelope`). A ``ValueError`` too;
    ``reason_code`` is ``None``."""


class NotAnEnvelope(EnvelopeError):
    """The payload does not start with the envelope's magic bytes
    (``FF 54 43``): it is not an envelope."""


class UnsupportedEnvelopeVersion(EnvelopeError):
    """An envelope of a format version this library does not read (it
    reads 1)."""


class TruncatedEnvelope(EnvelopeError):
    """The envelope ends before its fields do."""


class StoreError(MQTTError):
    """:meth:`libmqtt.Broker.restore` refused a store; nothing was
    restored. A damaged or torn tail is not an error (see
    :class:`libmqtt.broker.RestoreReport`). ``reason_code`` is ``None``."""


class NotAStore(StoreError, ValueError):
    """The bytes do not start with the store header (``LMQTSTOR``): not a
    libmqtt store. A ``ValueError`` too."""


class StoreTooNew(StoreError, ValueError):
    """The store was written by a newer format version than this library
    reads. A ``ValueError`` too.

    Attributes:
        found: the store's format version.
        supported: the newest version this library reads.
    """

    def __init__(
        self, message: str = "", reason_code: Optional[int] = None, kind: str = "", found: int = 0, supported: int = 0
    ) -> None:
        super().__init__(message, reason_code, kind)
        self.found: int = found
        self.supported: int = supported


class BrokerNotEmpty(StoreError):
    """The broker already has connections, sessions or retained messages:
    restore into a new :class:`libmqtt.Broker`."""
