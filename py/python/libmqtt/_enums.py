"""Enumerations: MQTT 5.0 reason codes, QoS levels, Retain Handling."""

from __future__ import annotations

import enum

__all__ = ["ReasonCode", "QoS", "RetainHandling"]


class ReasonCode(enum.IntEnum):
    """An MQTT 5.0 reason code (spec section 2.4), named as the specification
    names it. ``0x00`` has three names: ``SUCCESS``, ``NORMAL_DISCONNECTION``
    (DISCONNECT) and ``GRANTED_QOS_0`` (SUBACK); they are one member.
    Codes of ``0x80`` and above are failures (:attr:`is_error`).
    """

    SUCCESS = 0x00
    """0x00: Success."""
    NORMAL_DISCONNECTION = 0x00
    """0x00: Normal disconnection (DISCONNECT)."""
    GRANTED_QOS_0 = 0x00
    """0x00: Granted QoS 0 (SUBACK)."""
    GRANTED_QOS_1 = 0x01
    """0x01: Granted QoS 1."""
    GRANTED_QOS_2 = 0x02
    """0x02: Granted QoS 2."""
    DISCONNECT_WITH_WILL_MESSAGE = 0x04
    """0x04: Disconnect with Will Message."""
    NO_MATCHING_SUBSCRIBERS = 0x10
    """0x10: No matching subscribers."""
    NO_SUBSCRIPTION_EXISTED = 0x11
    """0x11: No subscription existed."""
    CONTINUE_AUTHENTICATION = 0x18
    """0x18: Continue authentication."""
    RE_AUTHENTICATE = 0x19
    """0x19: Re-authenticate."""
    UNSPECIFIED_ERROR = 0x80
    """0x80: Unspecified error."""
    MALFORMED_PACKET = 0x81
    """0x81: Malformed Packet."""
    PROTOCOL_ERROR = 0x82
    """0x82: Protocol Error."""
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    """0x83: Implementation specific error."""
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    """0x84: Unsupported Protocol Version."""
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    """0x85: Client Identifier not valid."""
    BAD_USER_NAME_OR_PASSWORD = 0x86
    """0x86: Bad User Name or Password."""
    NOT_AUTHORIZED = 0x87
    """0x87: Not authorized."""
    SERVER_UNAVAILABLE = 0x88
    """0x88: Server unavailable."""
    SERVER_BUSY = 0x89
    """0x89: Server busy."""
    BANNED = 0x8A
    """0x8A: Banned."""
    SERVER_SHUTTING_DOWN = 0x8B
    """0x8B: Server shutting down."""
    BAD_AUTHENTICATION_METHOD = 0x8C
    """0x8C: Bad authentication method."""
    KEEP_ALIVE_TIMEOUT = 0x8D
    """0x8D: Keep Alive timeout."""
    SESSION_TAKEN_OVER = 0x8E
    """0x8E: Session taken over."""
    TOPIC_FILTER_INVALID = 0x8F
    """0x8F: Topic Filter invalid."""
    TOPIC_NAME_INVALID = 0x90
    """0x90: Topic Name invalid."""
    PACKET_IDENTIFIER_IN_USE = 0x91
    """0x91: Packet Identifier in use."""
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    """0x92: Packet Identifier not found."""
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    """0x93: Receive Maximum exceeded."""
    TOPIC_ALIAS_INVALID = 0x94
    """0x94: Topic Alias invalid."""
    PACKET_TOO_LARGE = 0x95
    """0x95: Packet too large."""
    MESSAGE_RATE_TOO_HIGH = 0x96
    """0x96: Message rate too high."""
    QUOTA_EXCEEDED = 0x97
    """0x97: Quota exceeded."""
    ADMINISTRATIVE_ACTION = 0x98
    """0x98: Administrative action."""
    PAYLOAD_FORMAT_INVALID = 0x99
    """0x99: Payload format invalid."""
    RETAIN_NOT_SUPPORTED = 0x9A
    """0x9A: Retain not supported."""
    QOS_NOT_SUPPORTED = 0x9B
    """0x9B: QoS not supported."""
    USE_ANOTHER_SERVER = 0x9C
    """0x9C: Use another server."""
    SERVER_MOVED = 0x9D
    """0x9D: Server moved."""
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    """0x9E: Shared Subscriptions not supported."""
    CONNECTION_RATE_EXCEEDED = 0x9F
    """0x9F: Connection rate exceeded."""
    MAXIMUM_CONNECT_TIME = 0xA0
    """0xA0: Maximum connect time."""
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    """0xA1: Subscription Identifiers not supported."""
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2
    """0xA2: Wildcard Subscriptions not supported."""

    @property
    def is_error(self) -> bool:
        """Whether this code reports a failure (0x80 and above)."""
        return self.value >= 0x80

    @property
    def is_failure(self) -> bool:
        """The same as :attr:`is_error`, by paho-mqtt's name (for programs
        moved to :mod:`libmqtt.sync`)."""
        return self.value >= 0x80

    def getName(self) -> str:  # noqa: N802 - paho-mqtt's name
        """The specification's name (:attr:`description`), by paho-mqtt's
        method name."""
        return _DESCRIPTIONS[self.value]

    @property
    def description(self) -> str:
        """The specification's name for the code, e.g. ``"Malformed Packet"``."""
        return _DESCRIPTIONS[self.value]


_DESCRIPTIONS = {
    0x00: "Success",
    0x01: "Granted QoS 1",
    0x02: "Granted QoS 2",
    0x04: "Disconnect with Will Message",
    0x10: "No matching subscribers",
    0x11: "No subscription existed",
    0x18: "Continue authentication",
    0x19: "Re-authenticate",
    0x80: "Unspecified error",
    0x81: "Malformed Packet",
    0x82: "Protocol Error",
    0x83: "Implementation specific error",
    0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid",
    0x86: "Bad User Name or Password",
    0x87: "Not authorized",
    0x88: "Server unavailable",
    0x89: "Server busy",
    0x8A: "Banned",
    0x8B: "Server shutting down",
    0x8C: "Bad authentication method",
    0x8D: "Keep Alive timeout",
    0x8E: "Session taken over",
    0x8F: "Topic Filter invalid",
    0x90: "Topic Name invalid",
    0x91: "Packet Identifier in use",
    0x92: "Packet Identifier not found",
    0x93: "Receive Maximum exceeded",
    0x94: "Topic Alias invalid",
    0x95: "Packet too large",
    0x96: "Message rate too high",
    0x97: "Quota exceeded",
    0x98: "Administrative action",
    0x99: "Payload format invalid",
    0x9A: "Retain not supported",
    0x9B: "QoS not supported",
    0x9C: "Use another server",
    0x9D: "Server moved",
    0x9E: "Shared Subscriptions not supported",
    0x9F: "Connection rate exceeded",
    0xA0: "Maximum connect time",
    0xA1: "Subscription Identifiers not supported",
    0xA2: "Wildcard Subscriptions not supported",
}


class QoS(enum.IntEnum):
    """Quality of service of a delivery. Plain ints 0, 1 and 2 work wherever a
    QoS is taken."""

    AT_MOST_ONCE = 0
    """QoS 0: at most once, no acknowledgement."""
    AT_LEAST_ONCE = 1
    """QoS 1: at least once, acknowledged by PUBACK."""
    EXACTLY_ONCE = 2
    """QoS 2: exactly once, by PUBREC / PUBREL / PUBCOMP."""


class RetainHandling(enum.IntEnum):
    """Retain Handling of a 5.0 subscription (spec 3.8.3.1)."""

    SEND_AT_SUBSCRIBE = 0
    """Send retained messages when the subscription is made."""
    SEND_AT_SUBSCRIBE_IF_NEW = 1
    """Send them only if the subscription did not exist."""
    DO_NOT_SEND = 2
    """Do not send retained messages when subscribing."""
