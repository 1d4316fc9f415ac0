//! `libmqtt.server.ServerConnection`: the core's server role (one client's
//! connection, as a broker sees it) as a Python class.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use mqtt_core::codec::{AckProperties, Packet, ReasonCode};
use mqtt_core::server::{
    self as core_server, Accept, CloseReason, DropReason, ServerEvent, ServerOptions, ServerState,
};
use mqtt_core::time::Instant;

use crate::client::{seconds_to_ms, to_instant, to_seconds};
use crate::convert::{
    ack_props_from_py, ack_props_to_py, auth_props_from_py, bytes_from_py, connack_props_from_py,
    connack_to_py, disconnect_props_from_py, disconnect_to_py, drain_py_events,
    mqtt_string_from_py, next_py_event, opt_int, packet_to_py, publish_from_py,
    publish_props_from_py, publish_to_py, qos_from_int, reason_code_from_py, will_to_py,
    with_bytes, Int,
};
use crate::errors::IntoPyResult;
use crate::types::{types, Types};

/// What must outlive one network connection of a client: messages in
/// flight and queued to it, and QoS 2 state. Taken from an ended
/// connection with ``ServerConnection.take_session()`` and given to the
/// next one with ``accept(session=...)`` (which consumes it).
#[pyclass(module = "libmqtt.server")]
pub(crate) struct ServerSession {
    inner: Option<core_server::ServerSession>,
}

#[pymethods]
impl ServerSession {
    #[new]
    fn new() -> Self {
        ServerSession {
            inner: Some(core_server::ServerSession::new()),
        }
    }

    /// Queues a message for the client (sent after the session resumes).
    fn queue(&mut self, py: Python<'_>, publish: &Bound<'_, PyAny>) -> PyResult<()> {
        let p = publish_from_py(py, types(py)?, publish)?;
        match &mut self.inner {
            Some(s) => {
                s.queue(p);
                Ok(())
            }
            None => Err(PyValueError::new_err("this session was already resumed")),
        }
    }

    /// Whether nothing is in flight or queued.
    #[getter]
    fn is_empty(&self) -> bool {
        self.inner.as_ref().is_none_or(|s| s.is_empty())
    }
}

/// The server side of one MQTT connection, sans-IO: bytes, commands and
/// the time in; bytes, events and the next deadline out. Answer
/// ``ConnectRequested`` with ``accept()`` or ``reject(code)``,
/// ``SubscribeRequested`` with ``suback(packet_id, codes)``,
/// ``UnsubscribeRequested`` with ``unsuback``; send messages with
/// ``publish``. Time is float seconds from any monotonic origin.
#[pyclass(module = "libmqtt.server")]
pub(crate) struct ServerConnection {
    inner: core_server::ServerConnection,
    now: Instant,
}

impl ServerConnection {
    fn at(&mut self, now: Option<f64>) -> PyResult<Instant> {
        if let Some(now) = now {
            self.now = to_instant(now)?;
        }
        Ok(self.now)
    }
}

fn reason_codes(py: Python<'_>, codes: &Bound<'_, PyAny>) -> PyResult<Vec<ReasonCode>> {
    codes
        .try_iter()?
        .map(|c| reason_code_from_py(py, &c?))
        .collect()
}

#[pymethods]
impl ServerConnection {
    #[new]
    #[pyo3(
        text_signature = "(*, receive_maximum=65535, maximum_packet_size=0, topic_alias_maximum=0, maximum_qos=2, retain_available=True, wildcard_subscription_available=True, subscription_identifiers_available=True, shared_subscription_available=True, server_keep_alive=None, connect_timeout=10.0, assign_client_ids=True, manual_ack=False, max_queued=1000, max_inflight=65535, outbound_topic_aliases=True, max_input_before_accept=1048576)"
    )]
    #[pyo3(signature = (
        *, receive_maximum = Int(65535), maximum_packet_size = Int(0), topic_alias_maximum = Int(0),
        maximum_qos = Int(2), retain_available = true, wildcard_subscription_available = true,
        subscription_identifiers_available = true, shared_subscription_available = true,
        server_keep_alive = None, connect_timeout = 10.0, assign_client_ids = true,
        manual_ack = false, max_queued = Int(1000), max_inflight = Int(65535),
        outbound_topic_aliases = true, max_input_before_accept = Int(1048576)
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        receive_maximum: Int,
        maximum_packet_size: Int,
        topic_alias_maximum: Int,
        maximum_qos: Int,
        retain_available: bool,
        wildcard_subscription_available: bool,
        subscription_identifiers_available: bool,
        shared_subscription_available: bool,
        server_keep_alive: Option<Int>,
        connect_timeout: f64,
        assign_client_ids: bool,
        manual_ack: bool,
        max_queued: Int,
        max_inflight: Int,
        outbound_topic_aliases: bool,
        max_input_before_accept: Int,
    ) -> PyResult<Self> {
        let mut o = ServerOptions::new();
        o.receive_maximum = receive_maximum.get::<u16>(py, "receive_maximum")?.max(1);
        o.maximum_packet_size = maximum_packet_size.get(py, "maximum_packet_size")?;
        o.topic_alias_maximum = topic_alias_maximum.get(py, "topic_alias_maximum")?;
        o.maximum_qos = qos_from_int(py, maximum_qos)?;
        o.retain_available = retain_available;
        o.wildcard_subscription_available = wildcard_subscription_available;
        o.subscription_identifiers_available = subscription_identifiers_available;
        o.shared_subscription_available = shared_subscription_available;
        o.server_keep_alive = opt_int(py, server_keep_alive, "server_keep_alive")?;
        o.connect_timeout = seconds_to_ms(py, connect_timeout, "connect_timeout")?;
        o.assign_client_ids = assign_client_ids;
        o.manual_ack = manual_ack;
        o.max_queued = max_queued.get(py, "max_queued")?;
        o.max_inflight = max_inflight.get::<u16>(py, "max_inflight")?.max(1);
        o.outbound_topic_aliases = outbound_topic_aliases;
        o.max_input_before_accept = max_input_before_accept.get(py, "max_input_before_accept")?;
        Ok(ServerConnection {
            inner: core_server::ServerConnection::new(o),
            now: 0,
        })
    }

    /// Bytes received from the client, in any chunking.
    fn receive_data(&mut self, data: &Bound<'_, PyAny>, now: f64) -> PyResult<()> {
        let now = self.at(Some(now))?;
        with_bytes(data, |d| self.inner.handle_input(now, d))
    }

    /// The time passed (keep alive, connect timeout, message expiry).
    fn handle_timeout(&mut self, now: f64) -> PyResult<()> {
        let now = self.at(Some(now))?;
        self.inner.handle_timeout(now);
        Ok(())
    }

    /// The transport closed or failed.
    fn connection_lost(&mut self, now: f64) -> PyResult<()> {
        let now = self.at(Some(now))?;
        self.inner.handle_transport_closed(now);
        Ok(())
    }

    /// Accepts the connection: CONNACK with Success. ``session`` (a
    /// ``ServerSession``) resumes one (Session Present 1);
    /// ``assigned_client_id`` answers an empty Client Identifier;
    /// ``properties`` adds CONNACK properties (5.0).
    #[pyo3(signature = (*, session = None, session_present = false, assigned_client_id = None, properties = None, now = None))]
    fn accept(
        &mut self,
        py: Python<'_>,
        session: Option<&Bound<'_, ServerSession>>,
        session_present: bool,
        assigned_client_id: Option<&Bound<'_, PyAny>>,
        properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let now = self.at(now)?;
        let t = types(py)?;
        let mut accept = Accept::new().with_session_present(session_present);
        if let Some(s) = session {
            let taken = s
                .borrow_mut()
                .inner
                .take()
                .ok_or_else(|| PyValueError::new_err("this session was already resumed"))?;
            accept = accept.with_session(taken);
        }
        if let Some(id) = assigned_client_id.filter(|i| !i.is_none()) {
            accept = accept.with_assigned_client_id(mqtt_string_from_py(py, id)?);
        }
        if let Some(p) = properties {
            accept = accept.with_properties(connack_props_from_py(py, t, p)?);
        }
        self.inner.accept(now, accept).py_err(py)
    }

    /// Refuses the connection with CONNACK ``reason_code`` (mapped to a
    /// 3.1.1 return code when the client speaks 3.1.1).
    #[pyo3(signature = (reason_code, *, properties = None, now = None))]
    fn reject(
        &mut self,
        py: Python<'_>,
        reason_code: &Bound<'_, PyAny>,
        properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let now = self.at(now)?;
        let code = reason_code_from_py(py, reason_code)?;
        let props = match properties {
            Some(p) => connack_props_from_py(py, types(py)?, p)?,
            None => Default::default(),
        };
        self.inner.reject(now, code, props).py_err(py)
    }

    /// Sends AUTH (5.0 enhanced authentication): ``reason_code`` 0x18 to
    /// continue the exchange, 0x00 to end a re-authentication.
    #[pyo3(signature = (reason_code, *, properties = None, now = None))]
    fn auth(
        &mut self,
        py: Python<'_>,
        reason_code: &Bound<'_, PyAny>,
        properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let now = self.at(now)?;
        let mut auth = mqtt_core::codec::Auth::new(reason_code_from_py(py, reason_code)?);
        if let Some(p) = properties {
            auth.properties = auth_props_from_py(py, types(py)?, p)?;
        }
        self.inner.auth(now, auth).py_err(py)
    }

    /// Acknowledges a QoS 1 or 2 message from the client (``manual_ack``).
    #[pyo3(signature = (packet_id, reason_code = None, *, now = None))]
    fn acknowledge(
        &mut self,
        py: Python<'_>,
        packet_id: Int,
        reason_code: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let now = self.at(now)?;
        let packet_id: u16 = packet_id.get(py, "packet_id")?;
        let code = match reason_code {
            Some(c) if !c.is_none() => reason_code_from_py(py, c)?,
            _ => ReasonCode::Success,
        };
        self.inner.acknowledge(now, packet_id, code).py_err(py)
    }

    /// Answers SUBSCRIBE ``packet_id`` with one reason code per filter.
    #[pyo3(signature = (packet_id, reason_codes, *, properties = None, now = None))]
    fn suback(
        &mut self,
        py: Python<'_>,
        packet_id: Int,
        reason_codes: &Bound<'_, PyAny>,
        properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let now = self.at(now)?;
        let packet_id: u16 = packet_id.get(py, "packet_id")?;
        let codes = self::reason_codes(py, reason_codes)?;
        let props = optional_ack_props(py, properties)?;
        self.inner
            .suback_with_properties(now, packet_id, &codes, props)
            .py_err(py)
    }

    /// Answers UNSUBSCRIBE ``packet_id`` with one reason code per filter.
    #[pyo3(signature = (packet_id, reason_codes, *, properties = None, now = None))]
    fn unsuback(
        &mut self,
        py: Python<'_>,
        packet_id: Int,
        reason_codes: &Bound<'_, PyAny>,
        properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let now = self.at(now)?;
        let packet_id: u16 = packet_id.get(py, "packet_id")?;
        let codes = self::reason_codes(py, reason_codes)?;
        let props = optional_ack_props(py, properties)?;
        self.inner
            .unsuback_with_properties(now, packet_id, &codes, props)
            .py_err(py)
    }

    /// Sends (or queues) a message to the client: a ``Publish``, or
    /// ``topic`` with ``payload``, ``qos``, ``retain`` and ``properties``.
    /// Returns the packet identifier chosen (0 for QoS 0).
    #[pyo3(
        text_signature = "($self, topic, payload=None, qos=0, retain=False, *, properties=None, now=None)"
    )]
    #[pyo3(signature = (topic, payload = None, qos = Int(0), retain = false, *, properties = None, now = None))]
    #[allow(clippy::too_many_arguments)]
    fn publish(
        &mut self,
        py: Python<'_>,
        topic: &Bound<'_, PyAny>,
        payload: Option<&Bound<'_, PyAny>>,
        qos: Int,
        retain: bool,
        properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<u16> {
        let now = self.at(now)?;
        let t = types(py)?;
        let publish = if topic.is_instance_of::<crate::packets::Publish>() {
            publish_from_py(py, t, topic)?
        } else {
            let payload = match payload {
                Some(p) if !p.is_none() => bytes_from_py(p)?,
                _ => bytes::Bytes::new(),
            };
            let mut p = mqtt_core::codec::Publish::new("-", payload).py_err(py)?;
            p.topic = crate::convert::topic_name_from_py(py, topic)?;
            p.qos = qos_from_int(py, qos)?;
            p.retain = retain;
            if let Some(pr) = properties {
                p.properties = publish_props_from_py(py, t, pr)?.into();
            }
            p
        };
        self.inner.publish(now, publish).py_err(py)
    }

    /// Ends the connection: DISCONNECT with ``reason_code`` (5.0; in
    /// 3.1.1 the transport is just closed).
    #[pyo3(signature = (reason_code = None, *, properties = None, now = None))]
    fn disconnect(
        &mut self,
        py: Python<'_>,
        reason_code: Option<&Bound<'_, PyAny>>,
        properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let now = self.at(now)?;
        let code = match reason_code {
            Some(c) if !c.is_none() => reason_code_from_py(py, c)?,
            _ => ReasonCode::Success,
        };
        let props = match properties {
            Some(p) => disconnect_props_from_py(py, types(py)?, p)?,
            None => Default::default(),
        };
        self.inner.disconnect(now, code, props).py_err(py)
    }

    /// The session of an ended connection, for the next one.
    fn take_session(&mut self, py: Python<'_>) -> PyResult<ServerSession> {
        Ok(ServerSession {
            inner: Some(self.inner.take_session().py_err(py)?),
        })
    }

    /// Every byte waiting to be sent (``b""`` when none).
    fn data_to_send<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.take_transmit())
    }

    /// The next event, or ``None``.
    fn next_event<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        next_py_event(py, || self.inner.poll_event(), server_event_to_py)
    }

    /// Every pending event, drained, as a list.
    fn events<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        drain_py_events(py, || self.inner.poll_event(), server_event_to_py)
    }

    /// The earliest time (seconds) ``handle_timeout`` must be called.
    fn next_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(to_seconds)
    }

    /// ``"awaiting_connect"``, ``"connecting"``, ``"connected"`` or ``"closed"``.
    #[getter]
    fn state(&self) -> &'static str {
        match self.inner.state() {
            ServerState::AwaitingConnect => "awaiting_connect",
            ServerState::Connecting => "connecting",
            ServerState::Connected => "connected",
            ServerState::Closed => "closed",
            #[allow(unreachable_patterns)]
            _ => "unknown",
        }
    }

    /// The protocol version the client speaks (4 or 5).
    #[getter]
    fn version(&self) -> u8 {
        self.inner.version().level()
    }

    /// The client identifier (assigned one included).
    #[getter]
    fn client_id(&self) -> String {
        self.inner.client_id().as_str().to_owned()
    }

    /// The keep alive in force, in seconds.
    #[getter]
    fn keep_alive(&self) -> u16 {
        self.inner.keep_alive()
    }

    /// Messages to the client in flight.
    #[getter]
    fn inflight_len(&self) -> usize {
        self.inner.inflight_len()
    }

    /// Messages to the client queued.
    #[getter]
    fn queued_len(&self) -> usize {
        self.inner.queued_len()
    }
}

/// The acknowledgement properties a SUBACK or UNSUBACK command was given,
/// or none.
fn optional_ack_props(
    py: Python<'_>,
    properties: Option<&Bound<'_, PyAny>>,
) -> PyResult<AckProperties> {
    match properties {
        Some(p) => ack_props_from_py(py, types(py)?, p),
        None => Ok(Default::default()),
    }
}

fn server_event_to_py<'py>(
    py: Python<'py>,
    t: &Types,
    event: ServerEvent,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let server = py.import("libmqtt.server")?;
    let class = |name: &str| server.getattr(name);
    let ev = match event {
        ServerEvent::Message(p) => class("MessageReceived")?.call1((publish_to_py(py, t, &p)?,))?,
        ServerEvent::ConnectRequested(c) => {
            class("ConnectRequested")?.call1((packet_to_py(py, &Packet::Connect(c))?,))?
        }
        ServerEvent::AuthReceived(a) => {
            class("AuthReceived")?.call1((packet_to_py(py, &Packet::Auth(a))?,))?
        }
        ServerEvent::Subscribe(s) => {
            class("SubscribeRequested")?.call1((packet_to_py(py, &Packet::Subscribe(s))?,))?
        }
        ServerEvent::Unsubscribe(u) => {
            class("UnsubscribeRequested")?.call1((packet_to_py(py, &Packet::Unsubscribe(u))?,))?
        }
        ServerEvent::PublishCompleted {
            packet_id,
            reason_code,
            properties,
        } => class("PublishCompleted")?.call1((
            packet_id,
            t.reason_code(py, reason_code),
            ack_props_to_py(py, t, &properties)?,
        ))?,
        ServerEvent::PublishDropped { packet_id, reason } => {
            let reason = match reason {
                DropReason::PacketTooLarge => "packet_too_large",
                DropReason::Expired => "expired",
                _ => "unknown",
            };
            class("PublishDropped")?.call1((packet_id, reason))?
        }
        ServerEvent::Ping => class("Ping")?.call0()?,
        ServerEvent::WillPublish(w) => class("WillPublish")?.call1((will_to_py(py, t, &w)?,))?,
        ServerEvent::Disconnected(reason) => {
            let none = || py.None().into_bound(py);
            let (kind, code, packet, message) = match &reason {
                CloseReason::ByClient(d) => (
                    "by_client",
                    Some(d.reason_code),
                    disconnect_to_py(py, t, d)?,
                    "DISCONNECT from the client".to_owned(),
                ),
                CloseReason::ProtocolViolation(v) => (
                    "protocol_violation",
                    Some(v.reason_code()),
                    none(),
                    v.to_string(),
                ),
                CloseReason::KeepAliveTimeout => (
                    "keep_alive_timeout",
                    Some(ReasonCode::KeepAliveTimeout),
                    none(),
                    "nothing from the client within 1.5 times the keep alive".to_owned(),
                ),
                CloseReason::ConnectTimeout => (
                    "connect_timeout",
                    None,
                    none(),
                    "not accepted in time".to_owned(),
                ),
                CloseReason::Rejected(c) => (
                    "rejected",
                    Some(c.reason_code),
                    connack_to_py(py, t, c)?,
                    format!("rejected: {}", c.reason_code.description()),
                ),
                CloseReason::TransportClosed => (
                    "transport_closed",
                    None,
                    none(),
                    "the transport closed".to_owned(),
                ),
                CloseReason::Local(c) => (
                    "local",
                    Some(*c),
                    none(),
                    "disconnected by the application".to_owned(),
                ),
                _ => ("transport_closed", None, none(), format!("{reason:?}")),
            };
            let code = match code {
                Some(c) => t.reason_code(py, c),
                None => none(),
            };
            class("Disconnected")?.call1((
                class("CloseKind")?.call1((kind,))?,
                code,
                packet,
                PyString::new(py, &message),
                reason.publishes_will(),
            ))?
        }
        _ => return Ok(None),
    };
    Ok(Some(ev))
}
