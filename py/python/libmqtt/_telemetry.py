"""OpenTelemetry instrumentation of the clients (imported only when a
:class:`Telemetry` is made; it needs ``opentelemetry-api``).

The clients call the hooks of :class:`_ClientHooks` at a few points and
only when they were given ``telemetry=``: a publish (start, and its end at
PUBACK / PUBCOMP, or once handed to the transport at QoS 0), a message's
arrival, SUBACK / UNSUBACK (the filters, for ``messaging.destination.template``),
and the connection's start and end. Names, formats and the trace context
come from the Rust core (:mod:`libmqtt.telemetry`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from opentelemetry import metrics, trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from . import _core
from . import telemetry as N
from ._core import Message, Publish

__all__ = ["Telemetry"]

_SCHEMA_URL = "https://opentelemetry.io/schemas/1.27.0"


def _body_size(payload: Any) -> int:
    if payload is None:
        return 0
    if isinstance(payload, str):
        return len(payload.encode())
    if isinstance(payload, memoryview):
        return payload.nbytes
    return len(payload)


def _error_type(exc: Optional[BaseException], reason_code: Optional[int]) -> Optional[str]:
    """``error.type``: the reason code's name for a refusal, the drop
    reason for a dropped message, else the exception's class name."""
    code = reason_code
    if code is None and exc is not None:
        code = getattr(exc, "reason_code", None)
    if code is not None and code >= 0x80:
        try:
            return _core.error_type(int(code))
        except Exception:  # noqa: BLE001 - an undefined code
            return f"0x{int(code):02x}"
    if exc is None:
        return None
    kind = getattr(exc, "kind", "")
    if kind and type(exc).__name__ == "PublishError":
        return str(kind)
    return type(exc).__qualname__


def _span_context(tc: Any) -> SpanContext:
    """An OpenTelemetry remote span context from the core's TraceContext."""
    state = TraceState.from_header([tc.tracestate]) if tc.tracestate else TraceState()
    return SpanContext(
        trace_id=tc.trace_id,
        span_id=tc.span_id,
        is_remote=True,
        trace_flags=TraceFlags(tc.flags),
        trace_state=state,
    )


def _core_message(message: Any) -> Any:
    """The core :class:`libmqtt.Message` of a message (the sync client's
    ``MQTTMessage`` wraps one)."""
    return message if type(message) is Message else getattr(message, "message", message)


class Telemetry:
    """OpenTelemetry instrumentation for :class:`libmqtt.asyncio.Client` and
    :class:`libmqtt.sync.Client`: ``Client(..., telemetry=Telemetry(...))``.

    ``tracer_provider`` and ``meter_provider`` are OpenTelemetry providers
    (``None``: the global ones, as OpenTelemetry's instrumentations do).
    ``consumer_context``: ``"parent"`` (default) makes a received message's
    CONSUMER span a child of the producer's span carried in the message;
    ``"link"`` starts a new trace linked to it. ``envelope=True``: in MQTT
    3.1.1 and 3.1, publishes carry the trace context in the payload
    envelope and received envelopes are opened (both ends must opt in;
    the opened context then appears in the message's
    ``properties.user_properties`` as ``traceparent`` / ``tracestate``).
    5.0 always uses User Properties. One ``Telemetry`` may serve many
    clients.

    Spans: ``publish {topic}`` (PRODUCER) from the call until PUBACK /
    PUBCOMP (QoS 0: handed to the transport), with error status and
    ``error.type`` on refusal; ``receive {filter or topic}`` (CONSUMER)
    per message; ``process {filter or topic}`` (CONSUMER) around the
    application's handling with :meth:`process` or :meth:`processor`.
    Metrics: ``messaging.client.sent.messages``,
    ``messaging.client.consumed.messages``,
    ``messaging.client.operation.duration``, ``messaging.process.duration``,
    ``mqtt.client.reconnects``, ``mqtt.client.connection.duration`` and
    ``mqtt.client.inflight.messages``.
    """

    def __init__(
        self,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        *,
        consumer_context: str = "parent",
        envelope: bool = False,
    ) -> None:
        if consumer_context not in ("parent", "link"):
            raise ValueError("consumer_context is 'parent' or 'link'")
        self.consumer_context = consumer_context
        self.envelope = bool(envelope)
        version = _core.__version__
        self.tracer = trace.get_tracer("libmqtt", version, tracer_provider, schema_url=_SCHEMA_URL)
        meter = metrics.get_meter("libmqtt", version, meter_provider, schema_url=_SCHEMA_URL)
        self.meter = meter
        self.sent = meter.create_counter(N.METRIC_SENT_MESSAGES, unit="{message}", description="Messages the client attempted to send.")
        self.consumed = meter.create_counter(N.METRIC_CONSUMED_MESSAGES, unit="{message}", description="Messages delivered to the application.")
        self.operation_duration = self._histogram(N.METRIC_OPERATION_DURATION, "A publish until it is complete for its QoS.")
        self.process_duration = self._histogram(N.METRIC_PROCESS_DURATION, "The application's processing of a message.")
        self.reconnects = meter.create_counter(N.METRIC_RECONNECTS, unit="{reconnect}", description="Connections after the first.")
        self.connection_duration = self._histogram(N.METRIC_CONNECTION_DURATION, "How long connections lasted.")
        self.inflight = meter.create_up_down_counter(N.METRIC_INFLIGHT, unit="{message}", description="QoS 1 and 2 messages published and not yet acknowledged.")

    def _histogram(self, name: str, description: str) -> Any:
        try:
            return self.meter.create_histogram(
                name, unit="s", description=description, explicit_bucket_boundaries_advisory=list(N.DURATION_BUCKETS)
            )
        except TypeError:  # pragma: no cover - opentelemetry-api < 1.23
            return self.meter.create_histogram(name, unit="s", description=description)

    def _bind(self, describe: Callable[[], Tuple[str, str, int, int]]) -> "_ClientHooks":
        """The hooks of one client; ``describe()`` returns its client id,
        host, port and protocol level."""
        return _ClientHooks(self, describe)

    # ----------------------------------------------------------- processing

    def _consumer_context(self, message: Any) -> Tuple[Any, Sequence[Link]]:
        """The parent context and links of a consumer span for ``message``."""
        tc = _core.extract(message.properties.user_properties)
        if tc is None:
            return None, ()
        sc = _span_context(tc)
        if self.consumer_context == "link":
            return None, (Link(sc),)
        return trace.set_span_in_context(trace.NonRecordingSpan(sc)), ()

    @contextlib.contextmanager
    def process(self, message: Any, client: Any = None) -> Iterator[Any]:
        """``with telemetry.process(message, client):`` wraps the
        application's handling of a received message in a ``process`` span
        (CONSUMER, current inside the block; child of, or linked to, the
        producer's span) and records ``messaging.process.duration``. An
        exception sets the error status and ``error.type``, and goes on.
        ``client`` (optional) adds its attributes and the subscription
        filter that matched."""
        msg = _core_message(message)
        hooks = getattr(client, "_telemetry", None) if client is not None else None
        attrs: Dict[str, Any] = dict(hooks.attributes()) if hooks is not None else {N.MESSAGING_SYSTEM: N.SYSTEM}
        template, group = hooks.template(msg.topic) if hooks is not None else (None, None)
        attrs.update(_message_attributes(msg, N.OPERATION_PROCESS, N.OPERATION_NAME_PROCESS, template, group))
        parent, links = self._consumer_context(msg)
        name = _core.span_name(N.OPERATION_NAME_PROCESS, template or msg.topic)
        start = time.perf_counter()
        error: Optional[str] = None
        try:
            with self.tracer.start_as_current_span(
                name, context=parent, kind=SpanKind.CONSUMER, attributes=attrs, links=links
            ) as span:
                try:
                    yield span
                except BaseException as exc:
                    error = _error_type(exc, None)
                    span.set_attribute(N.ERROR_TYPE, error)
                    raise
        finally:
            m = _metric_attributes(attrs, N.OPERATION_NAME_PROCESS)
            if error is not None:
                m[N.ERROR_TYPE] = error
            self.process_duration.record(time.perf_counter() - start, m)

    def processor(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """A decorator: runs ``func`` inside :meth:`process` for the message
        among its arguments (a :class:`libmqtt.Message` or the sync client's
        ``MQTTMessage``), with the client among them if any (paho-style
        ``on_message(client, userdata, message)`` works as it is). Plain and
        ``async`` functions."""

        def find(args: Sequence[Any], kwargs: Dict[str, Any]) -> Tuple[Any, Any]:
            message = client = None
            for a in (*args, *kwargs.values()):
                if message is None and (type(a) is Message or type(getattr(a, "message", None)) is Message):
                    message = a
                elif client is None and getattr(a, "_telemetry", None) is not None:
                    client = a
            if message is None:
                raise TypeError(f"{func.__qualname__}: no message among the arguments")
            return message, client

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                message, client = find(args, kwargs)
                with self.process(message, client):
                    return await func(*args, **kwargs)

            return run_async

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            message, client = find(args, kwargs)
            with self.process(message, client):
                return func(*args, **kwargs)

        return run


def _message_attributes(msg: Any, op_type: str, op_name: str, template: Optional[str], group: Optional[str]) -> Dict[str, Any]:
    publish = msg.publish
    attrs: Dict[str, Any] = {
        N.MESSAGING_OPERATION_TYPE: op_type,
        N.MESSAGING_OPERATION_NAME: op_name,
        N.MESSAGING_DESTINATION_NAME: publish.topic,
        N.MESSAGING_MESSAGE_BODY_SIZE: len(publish.payload),
        N.MQTT_QOS: publish.qos,
        N.MQTT_RETAIN: publish.retain,
        N.MQTT_DUP: publish.dup,
    }
    if template is not None:
        attrs[N.MESSAGING_DESTINATION_TEMPLATE] = template
    if group is not None:
        attrs[N.MESSAGING_CONSUMER_GROUP_NAME] = group
    return attrs


_METRIC_KEYS = (
    N.MESSAGING_SYSTEM,
    N.MESSAGING_DESTINATION_NAME,
    N.MESSAGING_DESTINATION_TEMPLATE,
    N.MESSAGING_CONSUMER_GROUP_NAME,
    N.SERVER_ADDRESS,
    N.SERVER_PORT,
)


def _metric_attributes(span_attrs: Dict[str, Any], op_name: str) -> Dict[str, Any]:
    """The metric attributes: those of the conventions' metrics (no client
    id, body size or flags: they would multiply the series)."""
    m = {k: span_attrs[k] for k in _METRIC_KEYS if k in span_attrs}
    m[N.MESSAGING_OPERATION_NAME] = op_name
    return m


class _Publishing:
    """One publish in progress."""

    __slots__ = ("span", "start", "attrs", "qos")

    def __init__(self, span: Any, start: float, attrs: Dict[str, Any], qos: int) -> None:
        self.span = span
        self.start = start
        self.attrs = attrs
        self.qos = qos


class _ClientHooks:
    """What one client calls; built by :meth:`Telemetry._bind`."""

    def __init__(self, telemetry: Telemetry, describe: Callable[[], Tuple[str, str, int, int]]) -> None:
        self.telemetry = telemetry
        self._describe = describe
        self._attrs: Optional[Dict[str, Any]] = None
        self._filters: List[str] = []
        self._connected_at: Optional[float] = None
        self._connections = 0
        self.unwritten: List[_Publishing] = []  # QoS 0 publishes until the next write

    # ---------------------------------------------------------- attributes

    def attributes(self) -> Dict[str, Any]:
        """The client's own attributes (computed again at each connection:
        the server may assign the client id)."""
        attrs = self._attrs
        if attrs is None:
            client_id, host, port, level = self._describe()
            attrs = {
                N.MESSAGING_SYSTEM: N.SYSTEM,
                N.SERVER_ADDRESS: host,
                N.SERVER_PORT: port,
                N.NETWORK_PROTOCOL_NAME: N.SYSTEM,
                N.NETWORK_PROTOCOL_VERSION: _core.protocol_version(level),
            }
            if client_id:
                attrs[N.MESSAGING_CLIENT_ID] = client_id
            self._attrs = attrs
        return attrs

    _level_cache = 0

    def _level(self) -> int:
        """The protocol level (fixed for a client)."""
        level = self._level_cache
        if not level:
            level = self._level_cache = self._describe()[3]
        return level

    # -------------------------------------------------------------- publish

    def publish_start(self, topic: str, payload: Any, qos: int, retain: bool, user_properties: Any) -> Tuple[_Publishing, Any, Any]:
        """Starts the PRODUCER span; returns it, the payload to send (an
        envelope in 3.1.1 when enabled) and the User Properties to send
        (``None``: leave them as they are)."""
        tel = self.telemetry
        attrs = dict(self.attributes())
        attrs[N.MESSAGING_OPERATION_TYPE] = N.OPERATION_SEND
        attrs[N.MESSAGING_OPERATION_NAME] = N.OPERATION_NAME_PUBLISH
        attrs[N.MESSAGING_DESTINATION_NAME] = topic
        attrs[N.MESSAGING_MESSAGE_BODY_SIZE] = _body_size(payload)
        attrs[N.MQTT_QOS] = int(qos)
        attrs[N.MQTT_RETAIN] = bool(retain)
        span = tel.tracer.start_span(_core.span_name(N.OPERATION_NAME_PUBLISH, topic), kind=SpanKind.PRODUCER, attributes=attrs)
        handle = _Publishing(span, time.perf_counter(), attrs, int(qos))
        if qos:
            tel.inflight.add(1, _metric_attributes(attrs, N.OPERATION_NAME_PUBLISH))
        new_props = None
        sc = span.get_span_context()
        if sc.is_valid:
            tc = _core.TraceContext.from_ids(sc.trace_id, sc.span_id, int(sc.trace_flags), sc.trace_state.to_header() or None)
            if self._level() == 5:
                new_props = _core.inject(user_properties, tc)
            elif tel.envelope:
                payload = _core.wrap_envelope(payload if payload is not None else b"", tc)
        return handle, payload, new_props

    def publish_end(self, handle: Optional[_Publishing], exc: Optional[BaseException] = None, reason_code: Optional[int] = None) -> None:
        """Ends the PRODUCER span: acknowledged, refused (``reason_code``
        >= 0x80) or failed (``exc``)."""
        if handle is None or handle.span is None:
            return
        tel = self.telemetry
        span, handle.span = handle.span, None
        error = _error_type(exc, reason_code) if (exc is not None or (reason_code is not None and reason_code >= 0x80)) else None
        m = _metric_attributes(handle.attrs, N.OPERATION_NAME_PUBLISH)
        if handle.qos:
            tel.inflight.add(-1, m)
        if error is not None:
            span.set_attribute(N.ERROR_TYPE, error)
            span.set_status(Status(StatusCode.ERROR, str(exc) if exc is not None else error))
            m[N.ERROR_TYPE] = error
        span.end()
        tel.sent.add(1, m)
        m[N.MESSAGING_OPERATION_TYPE] = N.OPERATION_SEND
        tel.operation_duration.record(time.perf_counter() - handle.start, m)

    def publish_start_kw(self, topic: str, payload: Any, qos: int, retain: bool, options: Dict[str, Any]) -> Tuple[_Publishing, Any, Dict[str, Any]]:
        """:meth:`publish_start` for the asyncio client's keywords
        (``user_properties=`` or ``properties=``)."""
        props = options.get("user_properties")
        if props is None and options.get("properties") is not None:
            props = options["properties"].user_properties
        handle, payload, new_props = self.publish_start(topic, payload, qos, retain, props)
        if new_props is not None:
            options = {**options, "user_properties": new_props}
        return handle, payload, options

    def written(self) -> None:
        """The client wrote what it had: QoS 0 publishes are complete."""
        unwritten, self.unwritten = self.unwritten, []
        for handle in unwritten:
            self.publish_end(handle)

    # -------------------------------------------------------------- receive

    def template(self, topic: str) -> Tuple[Optional[str], Optional[str]]:
        """The subscription filter that matches ``topic`` (the first
        subscribed, if several) and its shared subscription group."""
        for f in self._filters:
            group = _core.consumer_group(f)
            bare = f.split("/", 2)[2] if group is not None else f
            if _core.topic_matches(bare, topic):
                return bare, group
        return None, None

    def received(self, message: Any) -> Any:
        """A message arrived: the CONSUMER ``receive`` span and the
        ``consumed`` counter. Returns the message to deliver (with the
        envelope opened in 3.1.1 when enabled)."""
        tel = self.telemetry
        if tel.envelope and self._level() < 5 and _core.is_envelope(message.publish.payload):
            message = self._open(message)
        template, group = self.template(message.topic)
        attrs = dict(self.attributes())
        attrs.update(_message_attributes(message, N.OPERATION_RECEIVE, N.OPERATION_NAME_RECEIVE, template, group))
        parent, links = tel._consumer_context(message)
        span = tel.tracer.start_span(
            _core.span_name(N.OPERATION_NAME_RECEIVE, template or message.topic),
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attrs,
            links=links,
        )
        span.end()
        tel.consumed.add(1, _metric_attributes(attrs, N.OPERATION_NAME_RECEIVE))
        return message

    def _open(self, message: Any) -> Any:
        """The message with its envelope opened; the context goes to its
        properties' User Properties. A broken envelope is delivered as it
        came."""
        publish = message.publish
        try:
            tc, payload = _core.open_envelope(publish.payload)
        except ValueError:
            return message
        props = publish.properties
        if tc is not None:
            props = dataclasses.replace(props, user_properties=tuple(_core.inject(props.user_properties, tc)))
        opened = Publish(
            publish.topic,
            payload,
            qos=publish.qos,
            retain=publish.retain,
            dup=publish.dup,
            packet_id=publish.packet_id,
            properties=props,
        )
        return Message(opened, message.ack_token)

    # ------------------------------------------------------- subscriptions

    def subscribed(self, filters: Sequence[str]) -> None:
        for f in filters:
            if f not in self._filters:
                self._filters.append(f)

    def unsubscribed(self, filters: Sequence[str]) -> None:
        for f in filters:
            if f in self._filters:
                self._filters.remove(f)

    # ----------------------------------------------------------- connection

    def connected(self) -> None:
        self._attrs = None  # the client id may be the server's now
        self._connected_at = time.perf_counter()
        self._connections += 1
        if self._connections > 1:
            self.telemetry.reconnects.add(1, self._connection_attributes())

    def disconnected(self) -> None:
        at, self._connected_at = self._connected_at, None
        if at is not None:
            self.telemetry.connection_duration.record(time.perf_counter() - at, self._connection_attributes())

    def _connection_attributes(self) -> Dict[str, Any]:
        a = self.attributes()
        return {k: a[k] for k in (N.MESSAGING_SYSTEM, N.SERVER_ADDRESS, N.SERVER_PORT) if k in a}


def filter_names(topic_filter: Any) -> List[str]:
    """The filter strings of a subscribe / unsubscribe argument: a ``str``,
    a :class:`libmqtt.SubscribeFilter`, a ``(filter, qos)`` tuple, or a
    list of them."""
    if isinstance(topic_filter, str):
        return [topic_filter]
    if isinstance(topic_filter, tuple) and topic_filter and isinstance(topic_filter[0], str) and not all(isinstance(x, str) for x in topic_filter):
        return [topic_filter[0]]
    out: List[str] = []
    try:
        items = list(topic_filter)
    except TypeError:
        items = [topic_filter]
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, tuple) and item:
            out.append(str(item[0]))
        elif hasattr(item, "filter"):
            out.append(item.filter)
    return out
