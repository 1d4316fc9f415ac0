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
* Topics: :func:`topic_matches` (filter against name, ``+`` and ``#``),
  :func:`validate_topic_name` and :func:`validate_topic_filter` (raising
  :class:`TopicNameInvalid` / :class:`TopicFilterInvalid`).
* Errors: :class:`MQTTError` and below, each with ``.reason_code`` (a
  :class:`ReasonCode`).

Time is float seconds from any monotonic origin you choose, rounded to the
core's millisecond.

Observability: :mod:`libmqtt.telemetry` (W3C trace context in User
Properties or the 3.1.1 envelope, the OpenTelemetry names, and
``Telemetry`` for the clients' ``telemetry=``: spans and metrics with
``pip install libmqtt[otel]``).

Ready drivers: :mod:`libmqtt.asyncio` (``Client`` and ``Broker`` on
asyncio, TCP, TLS or WebSocket), :mod:`libmqtt.sync` (a thread-safe
client with paho-mqtt 2.x's API, and ``single`` / ``multiple`` /
``simple``) and the command line ``python -m libmqtt
pub | sub | broker | decode``.
"""

from __future__ import annotations

from ._core import (
    Broker,
    Client,
    Decoder,
    __version__,
    decode,
    encode,
    topic_matches,
    validate_topic_filter,
    validate_topic_name,
)
from . import _enums, _errors, _events, _packets
from ._enums import *  # noqa: F401,F403 - re-exported, listed in __all__
from ._errors import *  # noqa: F401,F403
from ._events import *  # noqa: F401,F403
from ._packets import *  # noqa: F401,F403
from ._packets import NO_PROPERTIES

__all__ = [
    "__version__",
    # codec
    "decode",
    "encode",
    "Decoder",
    # topics
    "topic_matches",
    "validate_topic_name",
    "validate_topic_filter",
    # client and broker engine
    "Client",
    "Broker",
    *_enums.__all__,
    *_packets.__all__,
    "NO_PROPERTIES",
    *_events.__all__,
    *_errors.__all__,
]
