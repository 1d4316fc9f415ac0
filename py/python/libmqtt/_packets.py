"""Packets, properties and their parts, as small immutable classes.

Every MQTT control packet is a frozen dataclass whose attributes carry the
names of the Rust core's fields (``Publish.topic``, ``Publish.packet_id``,
``ConnAck.session_present``, ...). Strings are ``str``, binary fields
``bytes``, lists tuples, reason codes :class:`~libmqtt.ReasonCode`. The
same classes go into :func:`~libmqtt.encode` and come out of
:func:`~libmqtt.decode`, so ``decode(encode(p)) == p``.

MQTT 5.0 properties of every packet are one :class:`Properties` object;
an attribute is ``None`` (or an empty tuple) when the property is absent.
Which properties a packet may carry is checked when encoding: a property
a packet may not carry raises :class:`~libmqtt.ProtocolError`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

from ._enums import ReasonCode

__all__ = [
    "Properties",
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
    "Packet",
]

if sys.version_info >= (3, 10):
    _frozen = dataclass(frozen=True, slots=True)
else:  # pragma: no cover - Python 3.9
    _frozen = dataclass(frozen=True)

UserProperties = Tuple[Tuple[str, str], ...]


@_frozen
class Properties:
    """MQTT 5.0 properties (spec 2.2.2 and each packet's section).

    One class serves every packet; each packet may carry only some of the
    properties (checked by :func:`~libmqtt.encode`). ``user_properties`` is a
    tuple of ``(key, value)`` string pairs, in order, repeats allowed.
    ``subscription_identifiers`` is PUBLISH's (repeatable) list;
    ``subscription_identifier`` SUBSCRIBE's single one.
    """

    payload_format_indicator: Optional[bool] = None
    message_expiry_interval: Optional[int] = None
    content_type: Optional[str] = None
    response_topic: Optional[str] = None
    correlation_data: Optional[bytes] = None
    subscription_identifiers: Tuple[int, ...] = ()
    subscription_identifier: Optional[int] = None
    session_expiry_interval: Optional[int] = None
    assigned_client_identifier: Optional[str] = None
    server_keep_alive: Optional[int] = None
    authentication_method: Optional[str] = None
    authentication_data: Optional[bytes] = None
    request_problem_information: Optional[bool] = None
    will_delay_interval: Optional[int] = None
    request_response_information: Optional[bool] = None
    response_information: Optional[str] = None
    server_reference: Optional[str] = None
    reason_string: Optional[str] = None
    receive_maximum: Optional[int] = None
    topic_alias_maximum: Optional[int] = None
    topic_alias: Optional[int] = None
    maximum_qos: Optional[int] = None
    retain_available: Optional[bool] = None
    maximum_packet_size: Optional[int] = None
    wildcard_subscription_available: Optional[bool] = None
    subscription_identifiers_available: Optional[bool] = None
    shared_subscription_available: Optional[bool] = None
    user_properties: UserProperties = ()

    def __bool__(self) -> bool:
        """False when no property is set."""
        return self != _EMPTY

    def __repr__(self) -> str:
        """Only the properties that are set."""
        parts = []
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is not None and value != ():
                parts.append(f"{name}={value!r}")
        return f"Properties({', '.join(parts)})"


_EMPTY = Properties()
#: Properties with nothing set (the default of every packet).
NO_PROPERTIES = _EMPTY


@_frozen
class Will:
    """The will message of a CONNECT (spec 3.1.3.2-3.1.3.4)."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Properties = _EMPTY


@_frozen
class SubscribeFilter:
    """One topic filter of a SUBSCRIBE with its subscription options
    (the core's ``SubscribeFilter { filter, options }``, flattened)."""

    filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@_frozen
class Connect:
    """CONNECT (spec 3.1). ``protocol_version`` is 3 (3.1), 4 (3.1.1) or 5."""

    client_id: str = ""
    protocol_version: int = 5
    clean_start: bool = True
    keep_alive: int = 60
    will: Optional[Will] = None
    username: Optional[str] = None
    password: Optional[bytes] = None
    properties: Properties = _EMPTY


@_frozen
class ConnAck:
    """CONNACK (spec 3.2). In 3.1.1 the return code is mapped to its 5.0
    reason code."""

    session_present: bool = False
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = _EMPTY


# PUBLISH is the hot path: implemented in Rust with the same interface
# (frozen, compared by value, ``match`` positional attributes).
from ._core import Publish  # noqa: E402

Publish.__doc__ = (Publish.__doc__ or "").strip() or "PUBLISH (spec 3.3)."


@_frozen
class PubAck:
    """PUBACK (spec 3.4): acknowledges a QoS 1 PUBLISH."""

    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = _EMPTY


@_frozen
class PubRec:
    """PUBREC (spec 3.5): first answer to a QoS 2 PUBLISH."""

    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = _EMPTY


@_frozen
class PubRel:
    """PUBREL (spec 3.6): releases a QoS 2 message."""

    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = _EMPTY


@_frozen
class PubComp:
    """PUBCOMP (spec 3.7): ends a QoS 2 exchange."""

    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = _EMPTY


@_frozen
class Subscribe:
    """SUBSCRIBE (spec 3.8): at least one filter."""

    packet_id: int
    filters: Tuple[SubscribeFilter, ...] = ()
    properties: Properties = _EMPTY


@_frozen
class SubAck:
    """SUBACK (spec 3.9): one reason code per filter, in order."""

    packet_id: int
    reason_codes: Tuple[ReasonCode, ...] = ()
    properties: Properties = _EMPTY


@_frozen
class Unsubscribe:
    """UNSUBSCRIBE (spec 3.10): at least one filter."""

    packet_id: int
    filters: Tuple[str, ...] = ()
    properties: Properties = _EMPTY


@_frozen
class UnsubAck:
    """UNSUBACK (spec 3.11): one reason code per filter (5.0)."""

    packet_id: int
    reason_codes: Tuple[ReasonCode, ...] = ()
    properties: Properties = _EMPTY


@_frozen
class PingReq:
    """PINGREQ (spec 3.12)."""


@_frozen
class PingResp:
    """PINGRESP (spec 3.13)."""


@_frozen
class Disconnect:
    """DISCONNECT (spec 3.14)."""

    reason_code: ReasonCode = ReasonCode.NORMAL_DISCONNECTION
    properties: Properties = _EMPTY


@_frozen
class Auth:
    """AUTH (spec 3.15, 5.0 only)."""

    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = _EMPTY


#: Any control packet.
Packet = Union[
    Connect,
    ConnAck,
    Publish,
    PubAck,
    PubRec,
    PubRel,
    PubComp,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    PingReq,
    PingResp,
    Disconnect,
    Auth,
]

del field
