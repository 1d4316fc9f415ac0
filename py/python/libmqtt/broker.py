"""The broker engine (:class:`Broker`) and the types of its hooks.

Authentication: ``Broker.set_authenticator(obj)`` where ``obj`` has
``authenticate_connect(info: ConnectInfo)`` and, for MQTT 5.0 enhanced
authentication, ``authenticate_auth(info: AuthInfo)``, each returning a
decision: :class:`Accept`, :class:`Reject`, :class:`Continue` or
:data:`PENDING` (answer later with ``Broker.complete_authentication``).
``True``/``None`` mean accept, ``False`` reject with 0x87 Not authorized,
and a :class:`~libmqtt.ReasonCode` reject with that code.

Authorization: ``Broker.set_authorizer(obj)`` where ``obj`` has
``authorize(client_id, username, topic, access) -> bool`` (``access`` is
``"read"`` or ``"write"``) and optionally
``authorize_subscription(client_id, username, topic_filter) -> bool``.

A hook that raises refuses (the client is rejected with 0x80, the access
denied) and the exception is raised again from the ``Broker`` method that
ran the hook, once the engine is consistent again.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar, Optional

from ._core import Broker
from ._enums import ReasonCode
from ._packets import Connect

__all__ = ["Broker", "ConnectInfo", "AuthInfo", "Accept", "Reject", "Continue", "PENDING", "Pending"]

if sys.version_info >= (3, 10):
    _frozen = dataclass(frozen=True, slots=True)
else:  # pragma: no cover - Python 3.9
    _frozen = dataclass(frozen=True)


@_frozen
class ConnectInfo:
    """What a client presented in CONNECT."""

    connection: int
    protocol_version: int
    client_id: str
    username: Optional[str]
    password: Optional[bytes]
    authentication_method: Optional[str]
    authentication_data: Optional[bytes]
    connect: Connect


@_frozen
class AuthInfo:
    """An AUTH packet from a client (enhanced authentication)."""

    connection: int
    client_id: str
    username: Optional[str]
    authentication_method: str
    authentication_data: Optional[bytes]
    reason_code: ReasonCode
    reauthentication: bool


@_frozen
class Accept:
    """Authenticated; ``data`` goes in the CONNACK's (or AUTH's)
    Authentication Data."""

    kind: ClassVar[str] = "accept"
    data: Optional[bytes] = None


@_frozen
class Reject:
    """Refused with ``reason_code`` (CONNACK, or DISCONNECT when
    re-authenticating)."""

    kind: ClassVar[str] = "reject"
    reason_code: int = ReasonCode.NOT_AUTHORIZED


@_frozen
class Continue:
    """Enhanced authentication goes on: AUTH 0x18 with ``data``."""

    kind: ClassVar[str] = "continue"
    data: Optional[bytes] = None


@_frozen
class Pending:
    """The decision comes later, through ``Broker.complete_authentication``."""

    kind: ClassVar[str] = "pending"


#: The decision "later".
PENDING = Pending()
