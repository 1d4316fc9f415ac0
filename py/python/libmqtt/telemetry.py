"""Observability: W3C Trace Context in MQTT messages, and OpenTelemetry
spans and metrics for the clients.

The formats and names come from the Rust core (``mqtt_core::telemetry``),
so every libmqtt driver writes and reads the same bytes and names alike:

* :class:`TraceContext`, :func:`inject` and :func:`extract`: ``traceparent``
  and ``tracestate`` in a PUBLISH's 5.0 User Properties (the W3C "Trace
  Context: MQTT" mapping), checked as the W3C recommendation says; an
  invalid value is ignored, never an error; the other User Properties keep
  their values and order.
* :func:`wrap_envelope` and :func:`open_envelope`: MQTT 3.1.1 and 3.1 have
  no properties, so the context can travel in an opt-in, versioned envelope
  in front of the payload (magic ``FF 54 43``, version 1). A payload that
  is not one raises :class:`NotAnEnvelope` (an :class:`EnvelopeError`, a
  ``ValueError``).
* The attribute and metric names of OpenTelemetry's messaging semantic
  conventions as MQTT uses them (``MESSAGING_SYSTEM`` ... ``MQTT_DUP``,
  ``METRIC_*``, ``DURATION_BUCKETS``, ``LEGACY_NAMES``), and
  :func:`error_type` (a reason code's ``error.type``, ``0x87`` ->
  ``"not_authorized"``).
* :class:`Telemetry` (needs ``opentelemetry-api``: ``pip install
  libmqtt[otel]``): give one to a client and it records spans and metrics::

      from libmqtt.asyncio import Client
      from libmqtt.telemetry import Telemetry

      telemetry = Telemetry(tracer_provider=provider, meter_provider=meter_provider)
      async with Client("broker", 1883, telemetry=telemetry) as client:
          await client.publish("sensors/7/temp", b"21.5", qos=1)

Importing this module does not import OpenTelemetry; only :class:`Telemetry`
does. A client without ``telemetry=`` records nothing and adds nothing to
its messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Tuple

from . import _core
from ._core import (
    TraceContext,
    consumer_group,
    error_type,
    extract,
    inject,
    is_envelope,
    open_envelope,
    protocol_version,
    span_name,
    wrap_envelope,
)
from ._errors import EnvelopeError, NotAnEnvelope, TruncatedEnvelope, UnsupportedEnvelopeVersion

if TYPE_CHECKING:  # pragma: no cover
    from ._telemetry import Telemetry

__all__ = [
    "Telemetry",
    "TraceContext",
    "inject",
    "extract",
    "wrap_envelope",
    "open_envelope",
    "is_envelope",
    "error_type",
    "span_name",
    "protocol_version",
    "consumer_group",
    "EnvelopeError",
    "NotAnEnvelope",
    "UnsupportedEnvelopeVersion",
    "TruncatedEnvelope",
    "NAMES",
]

#: Every name of ``mqtt_core::telemetry::semconv`` (and the envelope's
#: constants), by the core's constant name.
NAMES: Dict[str, Any] = dict(_core._semconv)

TRACEPARENT: str = NAMES["TRACEPARENT"]
TRACESTATE: str = NAMES["TRACESTATE"]
MESSAGING_SYSTEM: str = NAMES["MESSAGING_SYSTEM"]
SYSTEM: str = NAMES["SYSTEM"]
MESSAGING_OPERATION_TYPE: str = NAMES["MESSAGING_OPERATION_TYPE"]
MESSAGING_OPERATION_NAME: str = NAMES["MESSAGING_OPERATION_NAME"]
MESSAGING_DESTINATION_NAME: str = NAMES["MESSAGING_DESTINATION_NAME"]
MESSAGING_DESTINATION_TEMPLATE: str = NAMES["MESSAGING_DESTINATION_TEMPLATE"]
MESSAGING_CONSUMER_GROUP_NAME: str = NAMES["MESSAGING_CONSUMER_GROUP_NAME"]
MESSAGING_MESSAGE_BODY_SIZE: str = NAMES["MESSAGING_MESSAGE_BODY_SIZE"]
MESSAGING_CLIENT_ID: str = NAMES["MESSAGING_CLIENT_ID"]
SERVER_ADDRESS: str = NAMES["SERVER_ADDRESS"]
SERVER_PORT: str = NAMES["SERVER_PORT"]
NETWORK_PROTOCOL_NAME: str = NAMES["NETWORK_PROTOCOL_NAME"]
NETWORK_PROTOCOL_VERSION: str = NAMES["NETWORK_PROTOCOL_VERSION"]
ERROR_TYPE: str = NAMES["ERROR_TYPE"]
MQTT_QOS: str = NAMES["MQTT_QOS"]
MQTT_RETAIN: str = NAMES["MQTT_RETAIN"]
MQTT_DUP: str = NAMES["MQTT_DUP"]
OPERATION_SEND: str = NAMES["OPERATION_SEND"]
OPERATION_RECEIVE: str = NAMES["OPERATION_RECEIVE"]
OPERATION_PROCESS: str = NAMES["OPERATION_PROCESS"]
OPERATION_NAME_PUBLISH: str = NAMES["OPERATION_NAME_PUBLISH"]
OPERATION_NAME_RECEIVE: str = NAMES["OPERATION_NAME_RECEIVE"]
OPERATION_NAME_PROCESS: str = NAMES["OPERATION_NAME_PROCESS"]
METRIC_SENT_MESSAGES: str = NAMES["METRIC_SENT_MESSAGES"]
METRIC_CONSUMED_MESSAGES: str = NAMES["METRIC_CONSUMED_MESSAGES"]
METRIC_OPERATION_DURATION: str = NAMES["METRIC_OPERATION_DURATION"]
METRIC_PROCESS_DURATION: str = NAMES["METRIC_PROCESS_DURATION"]
METRIC_RECONNECTS: str = NAMES["METRIC_RECONNECTS"]
METRIC_CONNECTION_DURATION: str = NAMES["METRIC_CONNECTION_DURATION"]
METRIC_INFLIGHT: str = NAMES["METRIC_INFLIGHT"]
#: The bucket boundaries (s) of the duration histograms.
DURATION_BUCKETS: Tuple[float, ...] = NAMES["DURATION_BUCKETS"]
#: Older attribute names and what replaced them, ``(old, current)``.
LEGACY_NAMES: Tuple[Tuple[str, str], ...] = NAMES["LEGACY_NAMES"]


def __getattr__(name: str) -> Any:
    # Telemetry imports opentelemetry: only when asked for.
    if name == "Telemetry":
        from ._telemetry import Telemetry

        return Telemetry
    raise AttributeError(f"module 'libmqtt.telemetry' has no attribute {name!r}")
