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

Durability: ``Broker(persistence=True)`` describes every change of what
must survive a restart (persistent sessions, their subscriptions, queued
and in-flight QoS 1 and 2 messages, inbound QoS 2 state, delayed wills,
retained messages) as records. After each input, close or timeout, take
``poll_store(now)`` **before** ``outputs()``, append it to the store and
make it durable (``os.fsync``) before writing the output: an
acknowledgement follows the records that make it true. ``snapshot(now)``
is the whole state as a fresh store (write it to a new file and
``os.replace`` the old one: compaction); ``restore(data, now)`` rebuilds a
new broker from a store and returns a :class:`RestoreReport`, raising
:class:`~libmqtt.NotAStore`, :class:`~libmqtt.StoreTooNew` or
:class:`~libmqtt.BrokerNotEmpty` (all :class:`~libmqtt.StoreError`).
Expiry counts the downtime when ``now`` is a clock that goes on across
restarts (Unix time). :class:`libmqtt.asyncio.Broker` does all this with
``store_path=``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar, Optional

from ._core import Broker
from ._enums import ReasonCode
from ._packets import Connect

__all__ = [
    "Broker",
    "ConnectInfo",
    "AuthInfo",
    "Accept",
    "Reject",
    "Continue",
    "PENDING",
    "Pending",
    "RestoreReport",
    "StoreDamage",
]

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


@_frozen
class StoreDamage:
    """Where the valid prefix of a store ends, and why."""

    #: Byte offset of the first frame not applied.
    offset: int
    #: ``"truncated"`` (the store ends inside a frame: a write cut short),
    #: ``"checksum"`` (a frame's CRC does not match), ``"too_long"`` (an
    #: impossible frame length) or ``"record"`` (a frame whose body is not
    #: a valid record).
    kind: str
    #: The core's description.
    message: str


@_frozen
class RestoreReport:
    """What :meth:`Broker.restore` rebuilt, and what it could not."""

    #: Bytes applied (header and whole batches): truncate the store here,
    #: or better write a fresh ``snapshot()``, before appending.
    valid_len: int
    #: Bytes after ``valid_len`` discarded: a torn last batch, or
    #: everything from a damaged frame on.
    discarded_bytes: int
    #: Records in the discarded bytes that still decoded.
    discarded_records: int
    #: Why bytes were discarded (``None``: read to the end, or only a
    #: batch without its commit was left out).
    damage: Optional[StoreDamage]
    #: Batches applied.
    batches: int
    #: Records applied.
    records: int
    #: The time (seconds, the ``now`` clock) of the last batch applied;
    #: ``None`` for an empty store.
    last_commit: Optional[float]
    #: Persistent sessions rebuilt.
    sessions: int
    #: Sessions whose expiry passed during the downtime, not rebuilt.
    expired_sessions: int
    #: Subscriptions rebuilt.
    subscriptions: int
    #: Messages rebuilt for sessions (queued or in flight).
    messages: int
    #: Queued messages whose Message Expiry Interval passed, dropped.
    expired_messages: int
    #: Retained messages rebuilt.
    retained: int
    #: Delayed wills rebuilt.
    wills: int
