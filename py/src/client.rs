//! `libmqtt.Client`: the core's sans-IO client as a Python class.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use mqtt_core::client::{
    self as core_client, AckToken, ClientOptions, ConnectionState, DisconnectReason, DropReason,
    Event, Leniency, QueueFullPolicy, SessionLostPolicy, SessionState,
};
use mqtt_core::codec::{
    AuthProperties, Disconnect, MqttString, Publish, ReasonCode, Subscribe, SubscriptionOptions,
    Unsubscribe,
};
use mqtt_core::time::Instant;

use crate::convert::{
    ack_props_to_py, auth_to_py, bytes_from_py, connack_to_py, disconnect_to_py, drain_py_events,
    filter_from_py, filter_to_py, mqtt_string_from_py, next_py_event, opt_int,
    publish_props_from_py, publish_to_py, qos_from_int, reason_code_from_py,
    retain_handling_from_int, topic_name_from_py, user_properties_from_py, version_from_int,
    will_from_py, with_bytes, Int,
};
use crate::errors::{invalid_argument, IntoPyResult};
use crate::types::{types, Types};

/// Seconds (float, any monotonic origin) to the core's milliseconds,
/// rounded to the nearest millisecond.
pub(crate) fn to_instant(now: f64) -> PyResult<Instant> {
    if !now.is_finite() || now < 0.0 {
        return Err(Python::attach(|py| {
            invalid_argument(
                py,
                "now",
                "OutOfRange",
                format!("now (the time) must be a finite number of seconds >= 0, not {now}"),
            )
        }));
    }
    Ok((now * 1000.0).round() as Instant)
}

/// The core's milliseconds to float seconds.
pub(crate) fn to_seconds(instant: Instant) -> f64 {
    instant as f64 / 1000.0
}

pub(crate) fn seconds_to_ms(py: Python<'_>, seconds: f64, what: &str) -> PyResult<u64> {
    if !seconds.is_finite() || seconds < 0.0 || seconds * 1000.0 > u64::MAX as f64 {
        return Err(invalid_argument(
            py,
            what,
            "OutOfRange",
            format!("{what} must be a finite number of seconds >= 0, not {seconds}"),
        ));
    }
    Ok((seconds * 1000.0).round() as u64)
}

/// A sans-IO MQTT 3.1.1 and 5.0 client: one session across any number of
/// network connections. It reads no clock and touches no socket: you own
/// the transport and the time; it takes bytes, commands and the current
/// time, and gives back bytes to send, events and its next deadline.
///
/// Time is a float number of seconds from any monotonic origin you choose
/// (``time.monotonic()``, ``loop.time()``, or virtual time in a test),
/// rounded to the millisecond. Commands take ``now=`` too; left out, it
/// is the last time the client was given.
///
/// Inputs:
///     ``connect(now)`` when a fresh transport is open (queues CONNECT);
///     ``receive_data(data, now)`` with bytes received, in any chunking;
///     ``handle_timeout(now)`` when ``next_timeout()`` is reached (early
///     or repeated calls are harmless); ``connection_lost(now)`` when the
///     transport closed.
/// Commands (answer at once, never block):
///     ``publish`` (returns an id named again by ``PublishCompleted``),
///     ``subscribe`` and ``unsubscribe`` (return the packet id named by
///     ``Subscribed`` / ``Unsubscribed``), ``disconnect``,
///     ``authenticate``, ``acknowledge`` (manual acknowledgement). A
///     refused command raises :class:`ClientError` (or the codec's
///     exception for an invalid packet) and changes nothing.
/// Outputs, to drain after every input or command, in this order:
///     ``data_to_send()`` (bytes to write; ``b""`` when none),
///     ``next_event()`` until ``None`` (or ``events()``), then wait for
///     input or until ``next_timeout()``.
///
/// Example::
///
///     client = Client("sensor-7", keep_alive=30)
///     client.connect(now=0.0)
///     sock.sendall(client.data_to_send())          # CONNECT
///     client.receive_data(sock.recv(4096), now=0.1)
///     for event in client.events():
///         print(event)                              # Connected(...)
///     client.publish("sensors/7/temp", b"21.5", qos=1)
///     sock.sendall(client.data_to_send())
///
/// Options (keyword-only; the core's ``ClientOptions``): ``version`` 3
/// (3.1), 4 (3.1.1) or 5; ``keep_alive`` seconds (0: off); ``clean_start`` for the
/// first connection (in 3.1.1 an empty ``client_id`` needs it: else
/// :class:`InvalidArgument` [MQTT-3.1.3-7]); ``session_expiry_interval``
/// seconds (5.0);
/// ``username``, ``password``, ``will`` (a :class:`Will`);
/// ``receive_maximum``, ``maximum_packet_size`` (0: none),
/// ``topic_alias_maximum``, ``request_response_information``,
/// ``request_problem_information``, ``authentication_method`` and
/// ``authentication_data`` (enhanced authentication),
/// ``user_properties`` of CONNECT (5.0); ``max_inflight`` (default 64 in
/// 5.0, 20 in 3.1.1), ``max_queued`` and ``queue_full``
/// (``"reject_new"`` or ``"drop_oldest"``), ``queue_qos0_offline``,
/// ``session_lost`` (``"requeue"`` or ``"drop"``),
/// ``resubscribe_on_session_lost``, ``auto_topic_alias``, ``manual_ack``,
/// ``connect_timeout`` and ``ping_timeout`` in seconds (ping 0: the keep
/// alive), ``max_transmit_buffer`` bytes, ``ignore_unknown_acks``.
#[pyclass(module = "libmqtt")]
pub(crate) struct Client {
    inner: core_client::Client,
    /// The last time given, in the core's milliseconds (for commands
    /// called without `now`).
    now: Instant,
}

impl Client {
    fn at(&mut self, now: Option<f64>) -> PyResult<Instant> {
        if let Some(now) = now {
            self.now = to_instant(now)?;
        }
        Ok(self.now)
    }
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(
        text_signature = "(client_id='', *, version=5, keep_alive=60, clean_start=True, session_expiry_interval=0, username=None, password=None, will=None, receive_maximum=65535, maximum_packet_size=0, topic_alias_maximum=0, request_response_information=False, request_problem_information=None, authentication_method=None, authentication_data=None, user_properties=None, max_inflight=None, max_queued=1024, queue_full='reject_new', queue_qos0_offline=False, session_lost='requeue', resubscribe_on_session_lost=True, auto_topic_alias=True, manual_ack=False, connect_timeout=30.0, ping_timeout=0.0, max_transmit_buffer=1048576, ignore_unknown_acks=False)"
    )]
    #[pyo3(signature = (
        client_id = String::new(),
        *,
        version = Int(5),
        keep_alive = Int(60),
        clean_start = true,
        session_expiry_interval = Int(0),
        username = None,
        password = None,
        will = None,
        receive_maximum = Int(65535),
        maximum_packet_size = Int(0),
        topic_alias_maximum = Int(0),
        request_response_information = false,
        request_problem_information = None,
        authentication_method = None,
        authentication_data = None,
        user_properties = None,
        max_inflight = None,
        max_queued = Int(1024),
        queue_full = "reject_new".to_owned(),
        queue_qos0_offline = false,
        session_lost = "requeue".to_owned(),
        resubscribe_on_session_lost = true,
        auto_topic_alias = true,
        manual_ack = false,
        connect_timeout = 30.0,
        ping_timeout = 0.0,
        max_transmit_buffer = Int(1048576),
        ignore_unknown_acks = false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        client_id: String,
        version: Int,
        keep_alive: Int,
        clean_start: bool,
        session_expiry_interval: Int,
        username: Option<&Bound<'_, PyAny>>,
        password: Option<&Bound<'_, PyAny>>,
        will: Option<&Bound<'_, PyAny>>,
        receive_maximum: Int,
        maximum_packet_size: Int,
        topic_alias_maximum: Int,
        request_response_information: bool,
        request_problem_information: Option<bool>,
        authentication_method: Option<&Bound<'_, PyAny>>,
        authentication_data: Option<&Bound<'_, PyAny>>,
        user_properties: Option<&Bound<'_, PyAny>>,
        max_inflight: Option<Int>,
        max_queued: Int,
        queue_full: String,
        queue_qos0_offline: bool,
        session_lost: String,
        resubscribe_on_session_lost: bool,
        auto_topic_alias: bool,
        manual_ack: bool,
        connect_timeout: f64,
        ping_timeout: f64,
        max_transmit_buffer: Int,
        ignore_unknown_acks: bool,
    ) -> PyResult<Self> {
        let t = types(py)?;
        let version = version_from_int(py, version, "version")?;
        let mut o = ClientOptions::new(version, &client_id).py_err(py)?;
        o = o
            .with_keep_alive(keep_alive.get(py, "keep_alive")?)
            .with_clean_start(clean_start)
            .with_session_expiry_interval(
                session_expiry_interval.get(py, "session_expiry_interval")?,
            )
            .with_receive_maximum(receive_maximum.get(py, "receive_maximum")?)
            .with_maximum_packet_size(maximum_packet_size.get(py, "maximum_packet_size")?)
            .with_topic_alias_maximum(topic_alias_maximum.get(py, "topic_alias_maximum")?)
            .with_request_response_information(request_response_information)
            .with_queue_qos0_offline(queue_qos0_offline)
            .with_resubscribe_on_session_lost(resubscribe_on_session_lost)
            .with_auto_topic_alias(auto_topic_alias)
            .with_manual_ack(manual_ack)
            .with_connect_timeout(seconds_to_ms(py, connect_timeout, "connect_timeout")?)
            .with_ping_timeout(seconds_to_ms(py, ping_timeout, "ping_timeout")?)
            .with_max_transmit_buffer(max_transmit_buffer.get(py, "max_transmit_buffer")?);
        if let Some(u) = username.filter(|u| !u.is_none()) {
            o.username = Some(mqtt_string_from_py(py, u)?);
        }
        if let Some(p) = password.filter(|p| !p.is_none()) {
            o.password = Some(bytes_from_py(p)?);
        }
        if let Some(w) = will.filter(|w| !w.is_none()) {
            o.will = Some(will_from_py(py, t, w)?);
        }
        if let Some(on) = request_problem_information {
            o = o.with_request_problem_information(on);
        }
        if let Some(m) = authentication_method.filter(|m| !m.is_none()) {
            o.authentication_method = Some(mqtt_string_from_py(py, m)?);
        }
        if let Some(d) = authentication_data.filter(|d| !d.is_none()) {
            o.authentication_data = Some(bytes_from_py(d)?);
        }
        if let Some(u) = user_properties {
            o.user_properties = user_properties_from_py(py, u)?;
        }
        if let Some(m) = opt_int(py, max_inflight, "max_inflight")? {
            o = o.with_max_inflight(m);
        }
        let policy = match queue_full.as_str() {
            "reject_new" => QueueFullPolicy::RejectNew,
            "drop_oldest" => QueueFullPolicy::DropOldest,
            other => {
                return Err(invalid_argument(
                    py,
                    "queue_full",
                    "InvalidValue",
                    format!("queue_full must be \"reject_new\" or \"drop_oldest\", not {other:?}"),
                ))
            }
        };
        o = o.with_queue(max_queued.get(py, "max_queued")?, policy);
        o = o.with_session_lost(match session_lost.as_str() {
            "requeue" => SessionLostPolicy::Requeue,
            "drop" => SessionLostPolicy::Drop,
            other => {
                return Err(invalid_argument(
                    py,
                    "session_lost",
                    "InvalidValue",
                    format!("session_lost must be \"requeue\" or \"drop\", not {other:?}"),
                ))
            }
        });
        let mut leniency = Leniency::default();
        leniency.ignore_unknown_acks = ignore_unknown_acks;
        o = o.with_leniency(leniency);
        // Options that could never connect ([MQTT-3.1.3-7]: 3.1.1, empty
        // client id, clean_start=False) are refused here, with the core's
        // reason, rather than at every connect.
        if let Err(e) = o.check() {
            return Err(invalid_argument(
                py,
                "client_id",
                "InvalidValue",
                e.to_string(),
            ));
        }
        Ok(Client {
            inner: core_client::Client::new(o),
            now: 0,
        })
    }

    // ----- inputs ------------------------------------------------------

    /// A fresh transport is open: queues CONNECT (send it with
    /// ``data_to_send()``) and arms the CONNACK timer. Commands queued
    /// while disconnected go out after CONNACK. Raises
    /// :class:`InvalidState` when already connected or connecting.
    fn connect(&mut self, py: Python<'_>, now: f64) -> PyResult<()> {
        let now = self.at(Some(now))?;
        self.inner.connect(now).py_err(py)
    }

    /// Bytes received from the transport, in any chunking (the core's
    /// ``handle_input``). Packets are handled as they complete; a server
    /// breaking a rule ends the connection (a ``Disconnected`` event, and a
    /// DISCONNECT with the reason code to send in 5.0). Never raises for
    /// bad input.
    fn receive_data(&mut self, data: &Bound<'_, PyAny>, now: f64) -> PyResult<()> {
        let now = self.at(Some(now))?;
        with_bytes(data, |d| self.inner.handle_input(now, d))
    }

    /// The time passed: sends PINGREQ when due and ends the connection
    /// when CONNACK or PINGRESP is late. Calling it early does nothing.
    fn handle_timeout(&mut self, now: f64) -> PyResult<()> {
        let now = self.at(Some(now))?;
        self.inner.handle_timeout(now);
        Ok(())
    }

    /// The driver stopped reading the transport (``paused``: backpressure
    /// while the application is not taking messages), or reads again (the
    /// core's ``set_input_paused``). While paused PINGREQ still goes out
    /// every keep alive and an unread PINGRESP is not a timeout; on resume
    /// the wait for it starts again. A new connection starts unpaused.
    fn set_input_paused(&mut self, paused: bool, now: f64) -> PyResult<()> {
        let now = self.at(Some(now))?;
        self.inner.set_input_paused(now, paused);
        Ok(())
    }

    /// The transport closed or failed (the core's
    /// ``handle_transport_closed``). Reports ``Disconnected`` (kind
    /// ``transport_closed``) unless the connection had already ended; the
    /// session stays for the next ``connect``.
    fn connection_lost(&mut self, now: f64) -> PyResult<()> {
        let now = self.at(Some(now))?;
        self.inner.handle_transport_closed(now);
        Ok(())
    }

    // ----- commands ----------------------------------------------------

    /// Publishes a message; returns its id. For QoS 1 and 2 the id is the
    /// packet identifier and a ``PublishCompleted`` with the same id
    /// reports the acknowledgement (or ``PublishDropped`` if it never goes
    /// out); QoS 0 ids are local tokens above 65,535 with no completion.
    ///
    /// Sent at once when connected and the inflight window allows,
    /// otherwise queued. ``payload`` is bytes (a ``str`` is encoded as
    /// UTF-8). 5.0 properties come as a :class:`Properties` or as keyword
    /// arguments (which win). Topic aliases are chosen by the client.
    #[pyo3(
        text_signature = "($self, topic, payload=None, qos=0, retain=False, *, properties=None, message_expiry_interval=None, content_type=None, response_topic=None, correlation_data=None, payload_format_indicator=None, user_properties=None, now=None)"
    )]
    #[pyo3(signature = (
        topic, payload = None, qos = Int(0), retain = false, *, properties = None,
        message_expiry_interval = None, content_type = None, response_topic = None,
        correlation_data = None, payload_format_indicator = None, user_properties = None,
        now = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn publish(
        &mut self,
        py: Python<'_>,
        topic: &Bound<'_, PyAny>,
        payload: Option<&Bound<'_, PyAny>>,
        qos: Int,
        retain: bool,
        properties: Option<&Bound<'_, PyAny>>,
        message_expiry_interval: Option<Int>,
        content_type: Option<&Bound<'_, PyAny>>,
        response_topic: Option<&Bound<'_, PyAny>>,
        correlation_data: Option<&Bound<'_, PyAny>>,
        payload_format_indicator: Option<bool>,
        user_properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<u64> {
        let now = self.at(now)?;
        let no_properties = properties.is_none()
            && message_expiry_interval.is_none()
            && content_type.is_none()
            && response_topic.is_none()
            && correlation_data.is_none()
            && payload_format_indicator.is_none()
            && user_properties.is_none();
        if no_properties {
            // The common message: topic and payload borrowed from the
            // Python objects (no copy when it goes out at once).
            if let (Ok(t), Some(Ok(p))) = (
                topic.cast::<PyString>(),
                payload.map(|p| p.cast::<PyBytes>()),
            ) {
                let qos = qos_from_int(py, qos)?;
                return self
                    .inner
                    .publish_slice(now, t.to_str()?, p.as_bytes(), qos, retain)
                    .py_err(py)
                    .map(|id| id.0);
            }
        }
        let t = types(py)?;
        let topic = topic_name_from_py(py, topic)?;
        let payload = match payload {
            Some(p) if !p.is_none() => bytes_from_py(p)?,
            _ => bytes::Bytes::new(),
        };
        let mut publish = Publish::new("-", payload).py_err(py)?;
        publish.topic = topic;
        publish.qos = qos_from_int(py, qos)?;
        publish.retain = retain;
        if let Some(p) = properties {
            publish.properties = publish_props_from_py(py, t, p)?.into();
        }
        let props = &mut publish.properties;
        if let Some(e) = opt_int(py, message_expiry_interval, "message_expiry_interval")? {
            props.message_expiry_interval = Some(e);
        }
        if let Some(c) = content_type.filter(|c| !c.is_none()) {
            props.content_type = Some(mqtt_string_from_py(py, c)?);
        }
        if let Some(r) = response_topic.filter(|r| !r.is_none()) {
            props.response_topic = Some(mqtt_string_from_py(py, r)?);
        }
        if let Some(c) = correlation_data.filter(|c| !c.is_none()) {
            props.correlation_data = Some(bytes_from_py(c)?);
        }
        if payload_format_indicator.is_some() {
            props.payload_format_indicator = payload_format_indicator;
        }
        if let Some(u) = user_properties {
            props.user_properties = user_properties_from_py(py, u)?;
        }
        self.inner.publish(now, publish).py_err(py).map(|id| id.0)
    }

    /// Subscribes; returns the packet identifier that the ``Subscribed``
    /// event (the SUBACK) names. ``topic_filter`` is a ``str``, a
    /// :class:`SubscribeFilter`, or a list of them or of ``(filter, qos)``
    /// pairs; the keyword options apply to plain ``str`` filters. Queued
    /// while disconnected.
    #[pyo3(
        text_signature = "($self, topic_filter, qos=0, *, no_local=False, retain_as_published=False, retain_handling=0, subscription_identifier=None, user_properties=None, now=None)"
    )]
    #[pyo3(signature = (
        topic_filter, qos = Int(0), *, no_local = false, retain_as_published = false,
        retain_handling = Int(0), subscription_identifier = None, user_properties = None, now = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn subscribe(
        &mut self,
        py: Python<'_>,
        topic_filter: &Bound<'_, PyAny>,
        qos: Int,
        no_local: bool,
        retain_as_published: bool,
        retain_handling: Int,
        subscription_identifier: Option<Int>,
        user_properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<u16> {
        let now = self.at(now)?;
        let default = SubscriptionOptions::new(qos_from_int(py, qos)?)
            .with_no_local(no_local)
            .with_retain_as_published(retain_as_published)
            .with_retain_handling(retain_handling_from_int(py, retain_handling)?);
        let filters = if topic_filter.is_instance_of::<PyString>()
            || topic_filter.is_instance_of::<PyTuple>()
            || topic_filter.hasattr("filter")?
        {
            vec![filter_from_py(py, topic_filter, default)?]
        } else {
            topic_filter
                .try_iter()?
                .map(|f| filter_from_py(py, &f?, default))
                .collect::<PyResult<Vec<_>>>()?
        };
        let mut subscribe = Subscribe::new(0, filters);
        subscribe.properties.subscription_identifier =
            opt_int(py, subscription_identifier, "subscription_identifier")?;
        if let Some(u) = user_properties {
            subscribe.properties.user_properties = user_properties_from_py(py, u)?;
        }
        self.inner.subscribe(now, subscribe).py_err(py)
    }

    /// Unsubscribes from a filter (``str``) or a list of filters; returns
    /// the packet identifier that the ``Unsubscribed`` event names.
    #[pyo3(signature = (topic_filter, *, user_properties = None, now = None))]
    fn unsubscribe(
        &mut self,
        py: Python<'_>,
        topic_filter: &Bound<'_, PyAny>,
        user_properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<u16> {
        let now = self.at(now)?;
        let filters: Vec<MqttString> = if topic_filter.is_instance_of::<PyString>() {
            vec![mqtt_string_from_py(py, topic_filter)?]
        } else {
            topic_filter
                .try_iter()?
                .map(|f| mqtt_string_from_py(py, &f?))
                .collect::<PyResult<Vec<_>>>()?
        };
        let mut unsubscribe = Unsubscribe::new(0, filters);
        if let Some(u) = user_properties {
            unsubscribe.properties.user_properties = user_properties_from_py(py, u)?;
        }
        self.inner.unsubscribe(now, unsubscribe).py_err(py)
    }

    /// Ends the connection normally: queues DISCONNECT (reason code and
    /// properties in 5.0; 0x04 asks the server to publish the will) and
    /// reports ``Disconnected`` (kind ``local``). Send the remaining bytes,
    /// then close the transport. The session is kept.
    #[pyo3(signature = (
        reason_code = None, *, session_expiry_interval = None, reason_string = None,
        user_properties = None, now = None
    ))]
    fn disconnect(
        &mut self,
        py: Python<'_>,
        reason_code: Option<&Bound<'_, PyAny>>,
        session_expiry_interval: Option<Int>,
        reason_string: Option<&Bound<'_, PyAny>>,
        user_properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let now = self.at(now)?;
        let code = match reason_code {
            Some(c) if !c.is_none() => reason_code_from_py(py, c)?,
            _ => ReasonCode::Success,
        };
        let mut d = Disconnect::new(code);
        d.properties.session_expiry_interval =
            opt_int(py, session_expiry_interval, "session_expiry_interval")?;
        if let Some(r) = reason_string.filter(|r| !r.is_none()) {
            d.properties.reason_string = Some(mqtt_string_from_py(py, r)?);
        }
        if let Some(u) = user_properties {
            d.properties.user_properties = user_properties_from_py(py, u)?;
        }
        self.inner.disconnect(now, d).py_err(py)
    }

    /// Sends AUTH (5.0 enhanced authentication) with ``data`` as the
    /// Authentication Data: the answer to an ``AuthChallenge`` event, or,
    /// when connected and no exchange is under way, the start of a
    /// re-authentication. The method is the ``authentication_method``
    /// option.
    #[pyo3(signature = (data = None, *, reason_string = None, user_properties = None, now = None))]
    fn authenticate(
        &mut self,
        py: Python<'_>,
        data: Option<&Bound<'_, PyAny>>,
        reason_string: Option<&Bound<'_, PyAny>>,
        user_properties: Option<&Bound<'_, PyAny>>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let now = self.at(now)?;
        let data = match data {
            Some(d) if !d.is_none() => Some(bytes_from_py(d)?),
            _ => None,
        };
        let mut props = AuthProperties::default();
        if let Some(r) = reason_string.filter(|r| !r.is_none()) {
            props.reason_string = Some(mqtt_string_from_py(py, r)?);
        }
        if let Some(u) = user_properties {
            props.user_properties = user_properties_from_py(py, u)?;
        }
        self.inner.authenticate(now, data, props).py_err(py)
    }

    /// Acknowledges a message delivered with an ``ack_token`` (option
    /// ``manual_ack=True``). Acknowledgements leave in the order the
    /// messages arrived: an early one waits for those before it.
    #[pyo3(signature = (ack_token, *, now = None))]
    fn acknowledge(&mut self, py: Python<'_>, ack_token: Int, now: Option<f64>) -> PyResult<()> {
        let now = self.at(now)?;
        let token = ack_token.get(py, "ack_token")?;
        self.inner.acknowledge(now, AckToken(token)).py_err(py)
    }

    // ----- outputs -----------------------------------------------------

    /// Every byte waiting to be sent (``b""`` when none): write it all to
    /// the transport. Packets ready together come out in one ``bytes``.
    fn data_to_send<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let out = self.inner.take_transmit();
        PyBytes::new(py, &out)
    }

    /// The next event (``Connected``, ``Message``, ``PublishCompleted``,
    /// ...), or ``None`` when there is none.
    fn next_event<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        next_py_event(py, || self.inner.poll_event(), event_to_py)
    }

    /// Every pending event, drained, as a list.
    fn events<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        drain_py_events(py, || self.inner.poll_event(), event_to_py)
    }

    /// The earliest time (seconds, on the caller's clock) at which
    /// ``handle_timeout`` must be called, or ``None`` when no timer runs.
    fn next_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(to_seconds)
    }

    // ----- getters -----------------------------------------------------

    /// ``"disconnected"``, ``"connecting"`` or ``"connected"``.
    #[getter]
    fn state(&self) -> &'static str {
        match self.inner.state() {
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            #[allow(unreachable_patterns)]
            _ => "unknown",
        }
    }

    /// The protocol version: 3 (3.1), 4 (3.1.1) or 5.
    #[getter]
    fn version(&self) -> u8 {
        self.inner.version().level()
    }

    /// The client identifier in use (the server's assigned one once given).
    #[getter]
    fn client_id(&self) -> String {
        self.inner.client_id().as_str().to_owned()
    }

    /// The keep alive in force, in seconds.
    #[getter]
    fn keep_alive(&self) -> u16 {
        self.inner.keep_alive()
    }

    /// QoS 1 and 2 publishes that can still go out before the inflight
    /// window is full.
    #[getter]
    fn send_quota(&self) -> usize {
        self.inner.send_quota()
    }

    /// Whether a publish now would be accepted without hitting the queue
    /// bound (for drivers that wait instead of failing).
    #[getter]
    fn can_queue(&self) -> bool {
        self.inner.can_queue()
    }

    /// Counters and queue sizes, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("packets_sent", s.packets_sent)?;
        d.set_item("packets_received", s.packets_received)?;
        d.set_item("bytes_sent", s.bytes_sent)?;
        d.set_item("bytes_received", s.bytes_received)?;
        d.set_item("messages_sent", s.messages_sent.to_vec())?;
        d.set_item("messages_received", s.messages_received.to_vec())?;
        d.set_item("retransmits", s.retransmits)?;
        d.set_item("connections", s.connections)?;
        d.set_item("inflight", s.inflight)?;
        d.set_item("queued", s.queued)?;
        Ok(d)
    }

    /// The subscriptions the server acknowledged, as
    /// :class:`SubscribeFilter` objects.
    fn subscriptions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let t = types(py)?;
        let list = PyList::empty(py);
        for s in self.inner.subscriptions() {
            list.append(filter_to_py(py, t, &s.filter)?)?;
        }
        Ok(list)
    }

    /// The session (in-flight and queued messages, QoS 2 state,
    /// subscriptions) as bytes, to survive a restart with
    /// ``import_session``.
    fn export_session<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.inner.export_session().to_bytes().py_err(py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Restores a session saved by ``export_session`` (before ``connect``).
    #[pyo3(signature = (data, *, now = None))]
    fn import_session(&mut self, py: Python<'_>, data: &[u8], now: Option<f64>) -> PyResult<()> {
        let now = self.at(now)?;
        let state = SessionState::from_bytes(data).py_err(py)?;
        self.inner.import_session(now, state).py_err(py)
    }

    fn __repr__(&self) -> String {
        format!(
            "<libmqtt.Client client_id={:?} version={} state={}>",
            self.inner.client_id().as_str(),
            self.version(),
            self.state()
        )
    }
}

fn drop_reason(r: DropReason) -> &'static str {
    match r {
        DropReason::Expired => "expired",
        DropReason::QueueFull => "queue_full",
        DropReason::SessionLost => "session_lost",
        DropReason::PacketTooLarge => "packet_too_large",
        DropReason::NotSupported => "not_supported",
        _ => "unknown",
    }
}

fn disconnected_to_py<'py>(
    py: Python<'py>,
    t: &Types,
    reason: &DisconnectReason,
) -> PyResult<Bound<'py, PyAny>> {
    let none = || py.None().into_bound(py);
    let (kind, packet, message) = match reason {
        DisconnectReason::Refused(c) => (
            "refused",
            connack_to_py(py, t, c)?,
            format!("connection refused: {}", c.reason_code.description()),
        ),
        DisconnectReason::ByServer(d) => (
            "by_server",
            disconnect_to_py(py, t, d)?,
            format!(
                "DISCONNECT from the server: {}",
                d.reason_code.description()
            ),
        ),
        DisconnectReason::ProtocolViolation(v) => ("protocol_violation", none(), v.to_string()),
        DisconnectReason::KeepAliveTimeout => (
            "keep_alive_timeout",
            none(),
            "no PINGRESP in time".to_owned(),
        ),
        DisconnectReason::ConnectTimeout => {
            ("connect_timeout", none(), "no CONNACK in time".to_owned())
        }
        DisconnectReason::TransportClosed => (
            "transport_closed",
            none(),
            "the transport closed".to_owned(),
        ),
        DisconnectReason::Local => (
            "local",
            none(),
            "disconnected by the application".to_owned(),
        ),
        _ => ("transport_closed", none(), format!("{reason:?}")),
    };
    let kind = t.event_class(py, "DisconnectKind")?.call1((kind,))?;
    let code = match reason.reason_code() {
        Some(c) => t.reason_code(py, c),
        None => none(),
    };
    let redirect = match reason.redirect() {
        Some(r) => t
            .event_class(py, "Redirect")?
            .call1((r.permanent, PyString::new(py, r.server_reference.as_str())))?,
        None => none(),
    };
    t.event_class(py, "Disconnected")?
        .call1((kind, code, packet, message, redirect))
}

/// An event as its Python object; `None` for a kind this binding does not
/// know (the core's enum is non-exhaustive).
fn event_to_py<'py>(
    py: Python<'py>,
    t: &Types,
    event: Event,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let ev = match event {
        Event::Message(m) => Bound::new(
            py,
            crate::packets::Message {
                publish: publish_to_py(py, t, &m.publish)?
                    .cast_into::<crate::packets::Publish>()?
                    .unbind(),
                ack_token: m.ack_token.map(|a| a.0),
            },
        )?
        .into_any(),
        Event::PublishCompleted {
            id,
            reason_code,
            properties,
        } => t.event_class(py, "PublishCompleted")?.call1((
            id.0,
            t.reason_code(py, reason_code),
            ack_props_to_py(py, t, &properties)?,
        ))?,
        Event::Connected(c) => t.event_class(py, "Connected")?.call1((
            c.session_present,
            connack_to_py(py, t, &c.connack)?,
            PyString::new(py, c.client_id.as_str()),
            c.keep_alive,
        ))?,
        Event::Disconnected(reason) => disconnected_to_py(py, t, &reason)?,
        Event::PublishDropped { id, reason } => {
            let reason = t
                .event_class(py, "DropReason")?
                .call1((drop_reason(reason),))?;
            t.event_class(py, "PublishDropped")?.call1((id.0, reason))?
        }
        Event::PublishRequeued { old, new } => t
            .event_class(py, "PublishRequeued")?
            .call1((old.0, new.0))?,
        Event::Subscribed {
            packet_id,
            reason_codes,
            properties,
        } => t.event_class(py, "Subscribed")?.call1((
            packet_id,
            PyTuple::new(py, reason_codes.iter().map(|c| t.reason_code(py, *c)))?,
            ack_props_to_py(py, t, &properties)?,
        ))?,
        Event::Unsubscribed {
            packet_id,
            reason_codes,
            properties,
        } => t.event_class(py, "Unsubscribed")?.call1((
            packet_id,
            PyTuple::new(py, reason_codes.iter().map(|c| t.reason_code(py, *c)))?,
            ack_props_to_py(py, t, &properties)?,
        ))?,
        Event::AuthChallenge(a) => t
            .event_class(py, "AuthChallenge")?
            .call1((auth_to_py(py, t, &a)?,))?,
        Event::Reauthenticated(a) => t
            .event_class(py, "Reauthenticated")?
            .call1((auth_to_py(py, t, &a)?,))?,
        Event::Pong => t.event_class(py, "Pong")?.call0()?,
        _ => return Ok(None),
    };
    Ok(Some(ev))
}
