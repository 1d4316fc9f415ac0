"""Type stubs of the extension module ``libmqtt._core`` (Rust)."""

from typing import Any, ClassVar, Iterable, Mapping, Iterator, List, Optional, Sequence, Tuple, Union

from ._enums import ReasonCode
from ._events import Event
from ._packets import Packet, Properties, SubscribeFilter, Will
from .broker import RestoreReport

__version__: str

_Bytes = Union[bytes, bytearray, memoryview, str]
_Buffer = Union[bytes, bytearray, memoryview]
_UserProperties = Optional[Iterable[Tuple[str, str]]]
_Filter = Union[str, SubscribeFilter, Tuple[str, int]]

class Publish:
    """PUBLISH (spec 3.3): immutable, compared by value."""

    __match_args__: ClassVar[Tuple[str, ...]]
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int
    properties: Properties
    def __init__(
        self,
        topic: str,
        payload: Optional[_Bytes] = None,
        qos: int = 0,
        retain: bool = False,
        dup: bool = False,
        packet_id: int = 0,
        properties: Optional[Properties] = None,
    ) -> None: ...

class Message:
    """A message the server delivered (a client event)."""

    __match_args__: ClassVar[Tuple[str, ...]]
    publish: Publish
    ack_token: Optional[int]
    def __init__(self, publish: Publish, ack_token: Optional[int] = None) -> None: ...
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def qos(self) -> int: ...
    @property
    def retain(self) -> bool: ...
    @property
    def properties(self) -> Properties: ...

def decode(data: bytes, version: int = 5, *, max_packet_size: int = 0) -> Packet:
    """Decodes one whole packet; raises MQTTError subclasses on bad input."""

def encode(packet: Packet, version: int = 5) -> bytes:
    """Encodes a packet object into its bytes."""

def topic_matches(filter: str, topic: str) -> bool:
    """Whether the topic name matches the filter (``+``, ``#``; the ``$`` rule)."""

def validate_topic_name(topic: str) -> None:
    """Raises TopicNameInvalid for an invalid topic name."""

def validate_topic_filter(filter: str) -> None:
    """Raises TopicFilterInvalid for an invalid topic filter."""

class Decoder:
    """Turns a byte stream, fed in any chunking, into packet objects."""

    def __init__(self, version: int = 5, *, max_packet_size: int = 0) -> None: ...
    def feed(self, data: _Buffer) -> None: ...
    def next_packet(self) -> Optional[Packet]: ...
    def set_version(self, version: int) -> None: ...
    def set_max_packet_size(self, max_packet_size: int) -> None: ...
    @property
    def buffered(self) -> int: ...
    def __iter__(self) -> Iterator[Packet]: ...
    def __next__(self) -> Packet: ...

class Client:
    """A sans-IO MQTT 3.1.1 and 5.0 client (see ``help(libmqtt.Client)``)."""

    def __init__(
        self,
        client_id: str = "",
        *,
        version: int = 5,
        keep_alive: int = 60,
        clean_start: bool = True,
        session_expiry_interval: int = 0,
        username: Optional[str] = None,
        password: Optional[_Bytes] = None,
        will: Optional[Will] = None,
        receive_maximum: int = 65535,
        maximum_packet_size: int = 0,
        topic_alias_maximum: int = 0,
        request_response_information: bool = False,
        request_problem_information: Optional[bool] = None,
        authentication_method: Optional[str] = None,
        authentication_data: Optional[_Bytes] = None,
        user_properties: _UserProperties = None,
        max_inflight: Optional[int] = None,
        max_queued: int = 1024,
        queue_full: str = "reject_new",
        queue_qos0_offline: bool = False,
        session_lost: str = "requeue",
        resubscribe_on_session_lost: bool = True,
        auto_topic_alias: bool = True,
        manual_ack: bool = False,
        connect_timeout: float = 30.0,
        ping_timeout: float = 0.0,
        max_transmit_buffer: int = 1048576,
        ignore_unknown_acks: bool = False,
    ) -> None: ...
    # inputs
    def connect(self, now: float) -> None: ...
    def receive_data(self, data: _Buffer, now: float) -> None: ...
    def handle_timeout(self, now: float) -> None: ...
    def set_input_paused(self, paused: bool, now: float) -> None: ...
    def connection_lost(self, now: float) -> None: ...
    # commands
    def publish(
        self,
        topic: str,
        payload: Optional[_Bytes] = None,
        qos: int = 0,
        retain: bool = False,
        *,
        properties: Optional[Properties] = None,
        message_expiry_interval: Optional[int] = None,
        content_type: Optional[str] = None,
        response_topic: Optional[str] = None,
        correlation_data: Optional[_Bytes] = None,
        payload_format_indicator: Optional[bool] = None,
        user_properties: _UserProperties = None,
        now: Optional[float] = None,
    ) -> int: ...
    def subscribe(
        self,
        topic_filter: Union[_Filter, Sequence[_Filter]],
        qos: int = 0,
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
        subscription_identifier: Optional[int] = None,
        user_properties: _UserProperties = None,
        now: Optional[float] = None,
    ) -> int: ...
    def unsubscribe(
        self,
        topic_filter: Union[str, Sequence[str]],
        *,
        user_properties: _UserProperties = None,
        now: Optional[float] = None,
    ) -> int: ...
    def disconnect(
        self,
        reason_code: Optional[Union[ReasonCode, int]] = None,
        *,
        session_expiry_interval: Optional[int] = None,
        reason_string: Optional[str] = None,
        user_properties: _UserProperties = None,
        now: Optional[float] = None,
    ) -> None: ...
    def authenticate(
        self,
        data: Optional[_Bytes] = None,
        *,
        reason_string: Optional[str] = None,
        user_properties: _UserProperties = None,
        now: Optional[float] = None,
    ) -> None: ...
    def acknowledge(self, ack_token: int, *, now: Optional[float] = None) -> None: ...
    # outputs
    def data_to_send(self) -> bytes: ...
    def next_event(self) -> Optional[Event]: ...
    def events(self) -> List[Event]: ...
    def next_timeout(self) -> Optional[float]: ...
    # getters
    @property
    def state(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def client_id(self) -> str: ...
    @property
    def keep_alive(self) -> int: ...
    @property
    def send_quota(self) -> int: ...
    @property
    def can_queue(self) -> bool: ...
    def stats(self) -> dict: ...
    def subscriptions(self) -> List[SubscribeFilter]: ...
    def export_session(self) -> bytes: ...
    def import_session(self, data: bytes, *, now: Optional[float] = None) -> None: ...

class Broker:
    """The sans-IO broker engine (see ``help(libmqtt.Broker)``)."""

    def __init__(
        self,
        *,
        passwords: Optional[Mapping[str, _Bytes]] = None,
        password_file: Optional[str] = None,
        allow_anonymous: bool = True,
        acl: Optional[str] = None,
        max_connections: int = 10000,
        max_sessions: int = 100000,
        max_subscriptions_per_client: int = 256,
        max_queued_messages: int = 1000,
        max_retained_messages: int = 10000,
        max_retained_bytes: int = 16777216,
        max_topic_levels: int = 64,
        no_matching_subscribers: bool = True,
        max_queued_bytes: int = 67108864,
        max_output_bytes_per_connection: int = 1048576,
        max_payload_bytes: Optional[int] = None,
        max_session_expiry_interval: Optional[int] = None,
        maximum_packet_size: int = 1048576,
        persistence: bool = False,
    ) -> None: ...
    def poll_store(self, now: float) -> Optional[bytes]: ...
    def snapshot(self, now: float) -> bytes: ...
    def restore(self, data: _Buffer, now: float) -> RestoreReport: ...
    def set_authenticator(self, authenticator: Any) -> None: ...
    def set_authorizer(self, authorizer: Any) -> None: ...
    def complete_authentication(self, conn: int, decision: Any, now: float) -> None: ...
    def connection_opened(self, now: float) -> int: ...
    def receive_data(self, conn: int, data: _Buffer, now: float) -> None: ...
    def handle_timeout(self, now: float) -> None: ...
    def connection_closed(self, conn: int, now: float) -> None: ...
    def set_writable(self, conn: int, writable: bool, now: float) -> None: ...
    def output_backlog(self, conn: int) -> int: ...
    def next_output(self) -> Optional[Tuple[int, bytes]]: ...
    def outputs(self) -> List[Tuple[int, bytes]]: ...
    def next_close(self) -> Optional[int]: ...
    def connections_to_close(self) -> List[int]: ...
    def next_timeout(self) -> Optional[float]: ...
    @property
    def connection_count(self) -> int: ...
    @property
    def session_count(self) -> int: ...
    @property
    def dropped_messages(self) -> int: ...
    @property
    def congestion_dropped_messages(self) -> int: ...
    @property
    def expired_messages(self) -> int: ...
    @property
    def evicted_sessions(self) -> int: ...
    def queued_for(self, client_id: str) -> int: ...

class ServerSession:
    """A client's session between connections (see ``libmqtt.server``)."""

    def __init__(self) -> None: ...
    def queue(self, publish: Publish) -> None: ...
    @property
    def is_empty(self) -> bool: ...

class ServerConnection:
    """The server role for one connection (see ``help(libmqtt.server)``)."""

    def __init__(
        self,
        *,
        receive_maximum: int = 65535,
        maximum_packet_size: int = 0,
        topic_alias_maximum: int = 0,
        maximum_qos: int = 2,
        retain_available: bool = True,
        wildcard_subscription_available: bool = True,
        subscription_identifiers_available: bool = True,
        shared_subscription_available: bool = True,
        server_keep_alive: Optional[int] = None,
        connect_timeout: float = 10.0,
        assign_client_ids: bool = True,
        manual_ack: bool = False,
        max_queued: int = 1000,
        max_inflight: int = 65535,
        outbound_topic_aliases: bool = True,
        max_input_before_accept: int = 1048576,
    ) -> None: ...
    def receive_data(self, data: _Buffer, now: float) -> None: ...
    def handle_timeout(self, now: float) -> None: ...
    def connection_lost(self, now: float) -> None: ...
    def accept(
        self,
        *,
        session: Optional[ServerSession] = None,
        session_present: bool = False,
        assigned_client_id: Optional[str] = None,
        properties: Optional[Properties] = None,
        now: Optional[float] = None,
    ) -> None: ...
    def reject(self, reason_code: Union[ReasonCode, int], *, properties: Optional[Properties] = None, now: Optional[float] = None) -> None: ...
    def auth(self, reason_code: Union[ReasonCode, int], *, properties: Optional[Properties] = None, now: Optional[float] = None) -> None: ...
    def acknowledge(self, packet_id: int, reason_code: Optional[Union[ReasonCode, int]] = None, *, now: Optional[float] = None) -> None: ...
    def suback(self, packet_id: int, reason_codes: Iterable[Union[ReasonCode, int]], *, properties: Optional[Properties] = None, now: Optional[float] = None) -> None: ...
    def unsuback(self, packet_id: int, reason_codes: Iterable[Union[ReasonCode, int]], *, properties: Optional[Properties] = None, now: Optional[float] = None) -> None: ...
    def publish(
        self,
        topic: Union[str, Publish],
        payload: Optional[_Bytes] = None,
        qos: int = 0,
        retain: bool = False,
        *,
        properties: Optional[Properties] = None,
        now: Optional[float] = None,
    ) -> int: ...
    def disconnect(self, reason_code: Optional[Union[ReasonCode, int]] = None, *, properties: Optional[Properties] = None, now: Optional[float] = None) -> None: ...
    def take_session(self) -> ServerSession: ...
    def data_to_send(self) -> bytes: ...
    def next_event(self) -> Optional[object]: ...
    def events(self) -> List[object]: ...
    def next_timeout(self) -> Optional[float]: ...
    @property
    def state(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def client_id(self) -> str: ...
    @property
    def keep_alive(self) -> int: ...
    @property
    def inflight_len(self) -> int: ...
    @property
    def queued_len(self) -> int: ...

# ------------------------------------------------------------- telemetry

_semconv: Mapping[str, Any]

class TraceContext:
    """A W3C trace context (``traceparent``, optional ``tracestate``)."""

    traceparent: str
    tracestate: Optional[str]
    trace_id: int
    span_id: int
    trace_id_hex: str
    span_id_hex: str
    flags: int
    sampled: bool
    def __init__(self, traceparent: str, tracestate: Optional[str] = None) -> None: ...
    @staticmethod
    def from_ids(trace_id: int, span_id: int, flags: int = 1, tracestate: Optional[str] = None) -> "TraceContext": ...

def inject(user_properties: _UserProperties, context: TraceContext) -> List[Tuple[str, str]]:
    """``user_properties`` with ``traceparent`` / ``tracestate`` written in."""

def extract(user_properties: _UserProperties) -> Optional[TraceContext]:
    """The trace context in ``user_properties``, or ``None``."""

def wrap_envelope(payload: _Buffer, context: TraceContext) -> bytes:
    """``payload`` in the trace context envelope (version 1)."""

def open_envelope(payload: _Buffer) -> Tuple[Optional[TraceContext], bytes]:
    """``(context, payload)``; raises an ``EnvelopeError``."""

def is_envelope(payload: _Buffer) -> bool:
    """Whether ``payload`` starts with the envelope's magic."""

def error_type(reason_code: int) -> str:
    """``error.type`` of a reason code (``"not_authorized"``)."""

def span_name(operation_name: str, destination: str) -> str:
    """``"{operation_name} {destination}"``."""

def protocol_version(version: int) -> str:
    """``network.protocol.version`` of a protocol level."""

def consumer_group(filter: str) -> Optional[str]:
    """The group of a ``$share/<group>/...`` filter."""
