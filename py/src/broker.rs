//! `libmqtt.Broker`: the core's sans-IO broker engine as a Python class.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use mqtt_core::broker::persist::{FrameError, RestoreError, RestoreReport};

use mqtt_core::broker::{
    Acl, Broker as CoreBroker, BrokerLimits, BrokerOptions, ConnectionId, PasswordTable,
};

use crate::client::{to_instant, to_seconds};
use crate::convert::{bytes_from_py, Int};
use crate::errors::mqtt_error;
use crate::hooks::{decision_from_py, HookError, PyAuthenticator, PyAuthorizer};

/// The sans-IO MQTT 3.1.1 and 5.0 broker engine: many connections,
/// sessions with offline queues, retained messages, wills, passwords and
/// an ACL, every table bounded. It reads no clock and touches no socket:
/// a driver accepts transports and moves bytes and time.
///
/// For each accepted transport call ``connection_opened(now)`` (an int
/// id); pass its bytes to ``receive_data(conn, data, now)``; when it
/// closes, ``connection_closed(conn, now)``. After every input, write
/// every ``(conn, data)`` of ``outputs()`` to its transport, close each
/// connection of ``connections_to_close()`` (after writing its bytes; then
/// call ``connection_closed``), and wait for input or until
/// ``next_timeout()`` to call ``handle_timeout(now)``. Time is float
/// seconds from any monotonic origin.
///
/// Authentication: ``passwords`` (a mapping of user name to password) or
/// ``password_file`` (the text of a ``user:password`` file); clients
/// without a user name are accepted when ``allow_anonymous``. ``acl`` is
/// the text of a mosquitto-style ``acl_file``. A 5.0 QoS 1 or 2 message
/// that matches no subscription is acknowledged with 0x10 No matching
/// subscribers unless ``no_matching_subscribers`` is false (then 0x00).
///
/// Slow subscribers: when a transport stops taking bytes (asyncio's
/// ``pause_writing``), call ``set_writable(conn, False, now)``, and
/// ``set_writable(conn, True, now)`` when it takes them again. Meanwhile
/// ``outputs()`` gives nothing for it and the engine keeps its bytes; past
/// ``max_output_bytes_per_connection`` QoS 0 messages for it are dropped
/// (``congestion_dropped_messages``) and QoS 1 and 2 ones wait within
/// ``max_queued_messages`` and ``max_queued_bytes``. The client is not
/// disconnected. ``maximum_packet_size`` (announced in CONNACK; 0: the
/// protocol's 256 MiB) bounds one message; ``max_payload_bytes`` (None:
/// no bound) refuses larger payloads (QoS 1/2: 0x97 in 5.0);
/// ``max_session_expiry_interval`` (seconds, None: no bound) bounds how
/// long an offline session is kept, 3.1.1 ones included.
///
/// Durability: with ``persistence=True`` the engine records every change
/// of its durable state; take ``poll_store(now)`` before ``outputs()`` and
/// make it durable before writing them; ``snapshot(now)`` compacts,
/// ``restore(data, now)`` rebuilds (see :mod:`libmqtt.broker`).
#[pyclass(module = "libmqtt")]
pub(crate) struct Broker {
    /// In a mutex only to make the class `Sync` (the engine's hook trait
    /// objects are `Send` only); `&mut self` methods take it unlocked.
    inner: Mutex<CoreBroker>,
    /// The engine's connection identifiers by their number (the engine
    /// makes them; Python sees the number).
    conns: HashMap<u64, ConnectionId>,
    /// The first exception a Python hook raised during an engine call.
    hook_error: HookError,
}

impl Broker {
    fn engine(&mut self) -> &mut CoreBroker {
        self.inner.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    fn engine_ref(&self) -> MutexGuard<'_, CoreBroker> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Raises the exception a hook raised during the last engine call.
    fn hook_result(&self) -> PyResult<()> {
        let mut slot = self.hook_error.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn conn(&self, conn: u64) -> Option<ConnectionId> {
        self.conns.get(&conn).copied()
    }
}

#[pymethods]
impl Broker {
    #[new]
    #[pyo3(signature = (
        *, passwords = None, password_file = None, allow_anonymous = true, acl = None,
        max_connections = Int(10000), max_sessions = Int(100000), max_subscriptions_per_client = Int(256),
        max_queued_messages = Int(1000), max_retained_messages = Int(10000),
        max_retained_bytes = Int(16777216), max_topic_levels = Int(64),
        no_matching_subscribers = true, max_queued_bytes = Int(67108864),
        max_output_bytes_per_connection = Int(1048576), max_payload_bytes = None,
        max_session_expiry_interval = None, maximum_packet_size = Int(1048576),
        persistence = false
    ))]
    #[pyo3(
        text_signature = "(*, passwords=None, password_file=None, allow_anonymous=True, acl=None, max_connections=10000, max_sessions=100000, max_subscriptions_per_client=256, max_queued_messages=1000, max_retained_messages=10000, max_retained_bytes=16777216, max_topic_levels=64, no_matching_subscribers=True, max_queued_bytes=67108864, max_output_bytes_per_connection=1048576, max_payload_bytes=None, max_session_expiry_interval=None, maximum_packet_size=1048576, persistence=False)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        passwords: Option<&Bound<'_, PyAny>>,
        password_file: Option<String>,
        allow_anonymous: bool,
        acl: Option<String>,
        max_connections: Int,
        max_sessions: Int,
        max_subscriptions_per_client: Int,
        max_queued_messages: Int,
        max_retained_messages: Int,
        max_retained_bytes: Int,
        max_topic_levels: Int,
        no_matching_subscribers: bool,
        max_queued_bytes: Int,
        max_output_bytes_per_connection: Int,
        max_payload_bytes: Option<Int>,
        max_session_expiry_interval: Option<Int>,
        maximum_packet_size: Int,
        persistence: bool,
    ) -> PyResult<Self> {
        let mut limits = BrokerLimits::default();
        limits.max_connections = max_connections.get(py, "max_connections")?;
        limits.max_sessions = max_sessions.get(py, "max_sessions")?;
        limits.max_subscriptions_per_client =
            max_subscriptions_per_client.get(py, "max_subscriptions_per_client")?;
        limits.max_queued_messages = max_queued_messages.get(py, "max_queued_messages")?;
        limits.max_retained_messages = max_retained_messages.get(py, "max_retained_messages")?;
        limits.max_retained_bytes = max_retained_bytes.get(py, "max_retained_bytes")?;
        limits.max_topic_levels = max_topic_levels.get(py, "max_topic_levels")?;
        limits.max_queued_bytes = max_queued_bytes.get(py, "max_queued_bytes")?;
        limits.max_output_bytes_per_connection =
            max_output_bytes_per_connection.get(py, "max_output_bytes_per_connection")?;
        if let Some(v) = max_payload_bytes {
            limits.max_payload_bytes = v.get(py, "max_payload_bytes")?;
        }
        if let Some(v) = max_session_expiry_interval {
            limits.max_session_expiry_interval = v.get(py, "max_session_expiry_interval")?;
        }
        let mut options = BrokerOptions::new()
            .with_limits(limits)
            .with_no_matching_subscribers(no_matching_subscribers)
            .with_persistence(persistence);
        options.server.maximum_packet_size = maximum_packet_size.get(py, "maximum_packet_size")?;
        let mut table: Option<PasswordTable> = None;
        if let Some(text) = password_file {
            table = Some(
                PasswordTable::parse(&text)
                    .map_err(|e| PyValueError::new_err(format!("password_file: {e}")))?,
            );
        }
        if let Some(map) = passwords.filter(|p| !p.is_none()) {
            let t = table.get_or_insert_with(PasswordTable::new);
            for item in map.call_method0("items")?.try_iter()? {
                let (user, password): (String, Bound<'_, PyAny>) = item?.extract()?;
                t.insert(&user, &bytes_from_py(&password)?);
            }
        }
        if let Some(t) = table {
            options = options.with_passwords(t, allow_anonymous);
        }
        if let Some(text) = acl {
            options = options.with_acl(
                Acl::parse(&text).map_err(|e| PyValueError::new_err(format!("acl: {e}")))?,
            );
        }
        Ok(Broker {
            inner: Mutex::new(CoreBroker::new(options)),
            conns: HashMap::new(),
            hook_error: HookError::default(),
        })
    }

    /// A new transport connection was accepted; returns its id.
    fn connection_opened(&mut self, now: f64) -> PyResult<u64> {
        let id = self.engine().connection_opened(to_instant(now)?);
        self.conns.insert(id.get(), id);
        Ok(id.get())
    }

    /// Bytes received on connection ``conn``, in any chunking. Unknown
    /// connections are ignored.
    fn receive_data(
        &mut self,
        py: Python<'_>,
        conn: Int,
        data: &Bound<'_, PyAny>,
        now: f64,
    ) -> PyResult<()> {
        let conn: u64 = conn.get(py, "conn")?;
        let now = to_instant(now)?;
        if let Some(id) = self.conn(conn) {
            crate::convert::with_bytes(data, |d| self.engine().handle_input(id, now, d))?;
        }
        self.hook_result()
    }

    /// Whether the transport of ``conn`` takes bytes: ``False`` when it
    /// stopped (asyncio's ``pause_writing``), ``True`` when it takes them
    /// again (``resume_writing``). While not writable ``outputs()`` gives
    /// nothing for ``conn`` (unless the engine is closing it) and the
    /// engine keeps its bytes; past ``max_output_bytes_per_connection`` of
    /// them, QoS 0 messages for it are dropped and counted
    /// (``congestion_dropped_messages``), QoS 1 and 2 ones wait within the
    /// queue limits and follow once it is writable. The client is not
    /// disconnected. Read nothing from it meanwhile (its input makes
    /// output too: acknowledgements, PINGRESP). Unknown connections are
    /// ignored.
    fn set_writable(
        &mut self,
        py: Python<'_>,
        conn: Int,
        writable: bool,
        now: f64,
    ) -> PyResult<()> {
        let conn: u64 = conn.get(py, "conn")?;
        let now = to_instant(now)?;
        if let Some(id) = self.conn(conn) {
            self.engine().set_writable(id, now, writable);
        }
        self.hook_result()
    }

    /// Bytes the engine holds for ``conn``, encoded and not handed out by
    /// ``outputs()`` yet (0 for an unknown connection).
    fn output_backlog(&self, py: Python<'_>, conn: Int) -> PyResult<usize> {
        let conn: u64 = conn.get(py, "conn")?;
        Ok(self
            .conn(conn)
            .map_or(0, |id| self.engine_ref().output_backlog(id)))
    }

    /// The time passed: keep alive and connect timeouts, message, session
    /// and will delays. Calling it early does nothing.
    fn handle_timeout(&mut self, now: f64) -> PyResult<()> {
        self.engine().handle_timeout(to_instant(now)?);
        self.hook_result()
    }

    /// The transport of ``conn`` closed (on either side's initiative): the
    /// will is published if due, the session kept or discarded.
    fn connection_closed(&mut self, py: Python<'_>, conn: Int, now: f64) -> PyResult<()> {
        let conn: u64 = conn.get(py, "conn")?;
        let now = to_instant(now)?;
        if let Some(id) = self.conns.remove(&conn) {
            self.engine().connection_closed(id, now);
        }
        self.hook_result()
    }

    /// Installs a Python authenticator (see :mod:`libmqtt.broker`): an
    /// object with ``authenticate_connect(info)`` and optionally
    /// ``authenticate_auth(info)`` and ``connection_closed(conn)``,
    /// returning decisions. Replaces ``passwords``.
    fn set_authenticator(&mut self, authenticator: Py<PyAny>) {
        let hook = PyAuthenticator {
            obj: authenticator,
            error: self.hook_error.clone(),
        };
        self.engine().set_authenticator(Box::new(hook));
    }

    /// Installs a Python authorizer (see :mod:`libmqtt.broker`): an object
    /// with ``authorize(client_id, username, topic, access) -> bool`` and
    /// optionally ``authorize_subscription(client_id, username, filter)``.
    /// Replaces ``acl``.
    fn set_authorizer(&mut self, authorizer: Py<PyAny>) {
        let hook = PyAuthorizer {
            obj: authorizer,
            error: self.hook_error.clone(),
        };
        self.engine().set_authorizer(Box::new(hook));
    }

    /// Answers an authentication the authenticator left ``PENDING``.
    /// Raises ``ValueError`` when nothing is pending on ``conn``.
    fn complete_authentication(
        &mut self,
        py: Python<'_>,
        conn: Int,
        decision: &Bound<'_, PyAny>,
        now: f64,
    ) -> PyResult<()> {
        let conn: u64 = conn.get(py, "conn")?;
        let now = to_instant(now)?;
        let decision = decision_from_py(py, decision)?;
        let id = self
            .conn(conn)
            .ok_or_else(|| PyValueError::new_err(format!("unknown connection {conn}")))?;
        self.engine()
            .complete_authentication(id, now, decision)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        self.hook_result()
    }

    /// The next ``(conn, data)`` to write, or ``None``: every byte ready
    /// for one connection, connections served in turn.
    fn next_output<'py>(&mut self, py: Python<'py>) -> Option<(u64, Bound<'py, PyBytes>)> {
        self.engine()
            .poll_output()
            .map(|(id, bytes)| (id.get(), PyBytes::new(py, &bytes)))
    }

    /// Every ``(conn, data)`` ready, drained, as a list.
    fn outputs<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        while let Some((id, bytes)) = self.engine().poll_output() {
            list.append(PyTuple::new(
                py,
                [
                    id.get().into_pyobject(py)?.into_any(),
                    PyBytes::new(py, &bytes).into_any(),
                ],
            )?)?;
        }
        Ok(list)
    }

    /// The next connection the engine wants closed, or ``None``: write
    /// what ``outputs()`` has for it, close its transport, then call
    /// ``connection_closed``.
    fn next_close(&mut self) -> Option<u64> {
        self.engine().poll_close().map(|id| id.get())
    }

    /// Every connection the engine wants closed, drained, as a list.
    fn connections_to_close(&mut self) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(id) = self.engine().poll_close() {
            out.push(id.get());
        }
        out
    }

    /// The earliest time (seconds) ``handle_timeout`` must be called, or
    /// ``None``.
    fn next_timeout(&self) -> Option<f64> {
        self.engine_ref().poll_timeout().map(to_seconds)
    }

    /// The records of every change of the durable state since the last
    /// call, as one batch committed at ``now``, to append to the store, or
    /// ``None`` when nothing changed (always ``None`` without
    /// ``persistence``). Take it after each input, close or timeout and
    /// **before** ``outputs()``, and make it durable (``os.fsync``) before
    /// writing those: no acknowledgement then precedes its record.
    fn poll_store<'py>(
        &mut self,
        py: Python<'py>,
        now: f64,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let now = to_instant(now)?;
        Ok(self
            .engine()
            .poll_store(now)
            .map(|batch| PyBytes::new(py, &batch)))
    }

    /// The whole durable state at ``now`` as a new store (header and one
    /// batch): write it to a new file, fsync, and ``os.replace`` the old
    /// store with it. Records not taken by ``poll_store`` yet are in it
    /// (and dropped from ``poll_store``). Without ``persistence`` it has
    /// no retained messages.
    fn snapshot<'py>(&mut self, py: Python<'py>, now: f64) -> PyResult<Bound<'py, PyBytes>> {
        let now = to_instant(now)?;
        Ok(PyBytes::new(py, &self.engine().snapshot(now)))
    }

    /// Rebuilds the durable state from a store's bytes (``b""``: an empty
    /// store) on a new broker, and returns a
    /// :class:`libmqtt.broker.RestoreReport`. Whole batches of the valid
    /// prefix apply; a damaged or torn tail is reported, not raised.
    /// Sessions, messages and wills whose time passed during the downtime
    /// end at the first ``handle_timeout``. Raises ``NotAStore``,
    /// ``StoreTooNew`` or ``BrokerNotEmpty`` (``StoreError``); nothing is
    /// restored then.
    fn restore<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        now: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = to_instant(now)?;
        let result = crate::convert::with_bytes(data, |d| self.engine().restore(d, now))?;
        match result {
            Ok(report) => report_to_py(py, &report),
            Err(e) => Err(restore_error(py, &e)),
        }
    }

    /// Open connections.
    #[getter]
    fn connection_count(&self) -> usize {
        self.engine_ref().connection_count()
    }

    /// Sessions held (connected or not).
    #[getter]
    fn session_count(&self) -> usize {
        self.engine_ref().session_count()
    }

    /// Messages not delivered to a subscriber: a queue was full, or QoS 0
    /// for a congested connection (also in
    /// ``congestion_dropped_messages``).
    #[getter]
    fn dropped_messages(&self) -> u64 {
        self.engine_ref().dropped_messages()
    }

    /// QoS 0 messages dropped because the subscriber's connection was not
    /// writable with ``max_output_bytes_per_connection`` bytes waiting.
    #[getter]
    fn congestion_dropped_messages(&self) -> u64 {
        self.engine_ref().congestion_dropped_messages()
    }

    /// Messages dropped because their Message Expiry passed.
    #[getter]
    fn expired_messages(&self) -> u64 {
        self.engine_ref().expired_messages()
    }

    /// Kept sessions of offline clients evicted (offline longest first) to
    /// make room under ``max_sessions``.
    #[getter]
    fn evicted_sessions(&self) -> u64 {
        self.engine_ref().evicted_sessions()
    }

    /// Messages queued for the session of ``client_id``.
    fn queued_for(&self, client_id: &str) -> usize {
        self.engine_ref().queued_for(client_id)
    }

    fn __repr__(&self) -> String {
        let engine = self.engine_ref();
        format!(
            "<libmqtt.Broker connections={} sessions={}>",
            engine.connection_count(),
            engine.session_count()
        )
    }
}

/// The exception for a store `restore` refused.
fn restore_error(py: Python<'_>, e: &RestoreError) -> PyErr {
    match e {
        RestoreError::NotAStore => mqtt_error(py, "NotAStore", e.to_string(), None, "NotAStore"),
        RestoreError::NewerVersion { found, supported } => {
            let err = mqtt_error(py, "StoreTooNew", e.to_string(), None, "NewerVersion");
            let value = err.value(py);
            // The attributes are a convenience: the message has them too.
            let _ = value.setattr("found", *found);
            let _ = value.setattr("supported", *supported);
            err
        }
        RestoreError::NotEmpty => mqtt_error(py, "BrokerNotEmpty", e.to_string(), None, "NotEmpty"),
        _ => mqtt_error(py, "StoreError", e.to_string(), None, "StoreError"),
    }
}

/// A `libmqtt.broker.RestoreReport` from the core's report.
fn report_to_py<'py>(py: Python<'py>, r: &RestoreReport) -> PyResult<Bound<'py, PyAny>> {
    let module = py.import("libmqtt.broker")?;
    let damage = match &r.damage {
        None => py.None().into_bound(py),
        Some(d) => {
            let kind = match d.error {
                FrameError::Truncated => "truncated",
                FrameError::Checksum => "checksum",
                FrameError::TooLong(_) => "too_long",
                _ => "record",
            };
            module
                .getattr("StoreDamage")?
                .call1((d.offset, kind, d.error.to_string()))?
        }
    };
    let kw = PyDict::new(py);
    kw.set_item("valid_len", r.valid_len)?;
    kw.set_item("discarded_bytes", r.discarded_bytes)?;
    kw.set_item("discarded_records", r.discarded_records)?;
    kw.set_item("damage", damage)?;
    kw.set_item("batches", r.batches)?;
    kw.set_item("records", r.records)?;
    kw.set_item("last_commit", r.last_commit.map(to_seconds))?;
    kw.set_item("sessions", r.sessions)?;
    kw.set_item("expired_sessions", r.expired_sessions)?;
    kw.set_item("subscriptions", r.subscriptions)?;
    kw.set_item("messages", r.messages)?;
    kw.set_item("expired_messages", r.expired_messages)?;
    kw.set_item("retained", r.retained)?;
    kw.set_item("wills", r.wills)?;
    module.getattr("RestoreReport")?.call((), Some(&kw))
}
