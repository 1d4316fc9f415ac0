//! The broker: an opaque `mqtt_broker` handle over the core's sans-IO
//! `Broker` engine (many connections, sessions, routing, retained
//! messages, wills, offline queues, password authentication and ACLs).
//! The caller owns the transports and the clock: it reports each opened
//! transport, feeds received bytes in, sends what the broker hands out,
//! closes the transports the broker names, and calls
//! `mqtt_broker_handle_timeout` at the deadline it is given.

use alloc::collections::BTreeMap;

use bytes::Bytes;
use mqtt_core::broker::persist::{FrameError, RestoreError, RestoreReport};
use mqtt_core::broker::{
    Acl, Broker, BrokerLimits, BrokerOptions, ConnectionId, PasswordTable, QueueFullPolicy,
};
use mqtt_core::codec::QoS;
use mqtt_core::server::ServerOptions;

use crate::mqtt_status;
use crate::prelude::*;
use crate::types::*;
use crate::{
    free_handle, last_error_of, new_handle, report_check, with_handle, Handle, HandleState,
};

/// `mqtt_broker_options.queue_full_policy`: a message for an offline
/// session whose queue is full is dropped (the queue keeps the oldest).
pub const MQTT_BROKER_QUEUE_DROP_NEWEST: u8 = 0;
/// `mqtt_broker_options.queue_full_policy`: the oldest queued message is
/// dropped to make room for the new one.
pub const MQTT_BROKER_QUEUE_DROP_OLDEST: u8 = 1;

/// Everything a broker is created with: the capabilities and limits of
/// each connection, the bounds of the broker's tables, and optional
/// password authentication and access control. Fill it with
/// `mqtt_broker_options_default` and change what you need. Only read
/// during `mqtt_broker_new`: the views need not outlive that call.
///
/// A table limit of 0 means "none allowed" (for example
/// `max_retained_messages = 0` disables retained messages), never
/// "unlimited"; use `SIZE_MAX` for a bound that is effectively absent.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_broker_options {
    /// Receive Maximum: QoS 1 and 2 messages a client may have
    /// unacknowledged at once, 1 to 65535 (default 65535).
    pub receive_maximum: u16,
    /// Maximum Packet Size accepted from clients, announced in CONNACK; 0
    /// for no limit beyond the protocol's 256 MiB (default 1048576, 1
    /// MiB). Larger packets close the connection with 0x95.
    pub maximum_packet_size: u32,
    /// Topic aliases a client may use (5.0; default 0).
    pub topic_alias_maximum: u16,
    /// The highest QoS clients may publish with, 0 to 2 (default 2).
    pub maximum_qos: u8,
    /// Whether retained messages are supported (default true).
    pub retain_available: bool,
    /// Whether wildcard subscriptions are supported (default true).
    pub wildcard_subscription_available: bool,
    /// Whether Subscription Identifiers are supported (default true).
    pub subscription_identifiers_available: bool,
    /// Whether shared subscriptions are supported (default true).
    pub shared_subscription_available: bool,
    /// Server Keep Alive, seconds, imposed on every 5.0 client (default
    /// absent: the client's own).
    pub server_keep_alive: mqtt_opt_u16,
    /// Milliseconds from `mqtt_broker_connection_opened` until the
    /// connection must be accepted; 0 turns the limit off (default 10000).
    pub connect_timeout_ms: u64,
    /// Whether a client with an empty Client Identifier is given one
    /// (default true; else it is refused with 0x85).
    pub assign_client_ids: bool,
    /// Messages to one connected client waiting for room in its Receive
    /// Maximum (default 1000).
    pub max_queued_per_connection: usize,
    /// Our limit of QoS 1 and 2 messages in flight to one client, 1 to
    /// 65535 (default 65535; set it for 3.1.1 clients, which cannot
    /// announce theirs).
    pub max_inflight: u16,
    /// Whether messages to 5.0 clients use topic aliases within the
    /// client's Topic Alias Maximum (default true).
    pub outbound_topic_aliases: bool,
    /// Bytes of input held before a connection is accepted (default 1 MiB).
    pub max_input_before_accept: usize,
    /// Connections past CONNECT at once; beyond, CONNACK 0x97 (3.1.1:
    /// return code 3). Default 10000.
    pub max_connections: usize,
    /// Sessions, connected or kept, at once; beyond, the session offline
    /// longest is evicted; with none offline, a client keeping its session
    /// gets CONNACK 0x89 (3.1.1: return code 3). Default 100000.
    pub max_sessions: usize,
    /// Subscriptions one client may hold; beyond, 0x97 in the SUBACK
    /// (3.1.1: 0x80). Default 256.
    pub max_subscriptions_per_client: usize,
    /// Messages queued for one session: QoS 1 and 2 while it is offline,
    /// and while connected those beyond its window or held while its
    /// connection is congested (default 1000). The queue is full when
    /// this or `max_queued_bytes` is reached.
    pub max_queued_messages: usize,
    /// `MQTT_BROKER_QUEUE_DROP_NEWEST` (default) or
    /// `MQTT_BROKER_QUEUE_DROP_OLDEST`.
    pub queue_full_policy: u8,
    /// Retained messages kept at once (default 10000).
    pub max_retained_messages: usize,
    /// Bytes of retained topics and payloads kept at once (default 16 MiB).
    pub max_retained_bytes: usize,
    /// Levels of a topic name or filter accepted (default 64).
    pub max_topic_levels: usize,
    /// A password table as text, one `username:password` per line (`#`
    /// starts a comment), in plain text (NULL: no password check, every
    /// client is accepted). A client giving a User Name must give its
    /// password, else CONNACK 0x86.
    pub passwords: mqtt_bytes_view,
    /// With `passwords`: whether a client without a User Name is accepted
    /// (default true; else CONNACK 0x87).
    pub allow_anonymous: bool,
    /// An access control list in the text format of mosquitto's
    /// `acl_file` (NULL: everything allowed). Checked for every publish,
    /// will, subscription and delivery.
    pub acl: mqtt_bytes_view,
    /// Whether a 5.0 QoS 1 or 2 PUBLISH that matches no subscription is
    /// acknowledged with 0x10 No matching subscribers (default true; false:
    /// 0x00 Success).
    pub no_matching_subscribers: bool,
    /// Bytes (topic and payload) queued for one session, like
    /// `max_queued_messages`: the queue is full when either is reached
    /// (default 64 MiB; mosquitto's `max_queued_bytes`).
    pub max_queued_bytes: usize,
    /// Bytes the broker holds for a connection the caller reported not
    /// writable (`mqtt_broker_set_writable`) beyond which it is congested:
    /// QoS 0 messages for it are dropped and counted
    /// (`mqtt_broker_stats.congestion_dropped_messages`), QoS 1 and 2 wait
    /// within the queue limits. A message is added whenever the backlog
    /// is below this, so one larger message still goes (default 1 MiB).
    pub max_output_bytes_per_connection: usize,
    /// The largest PUBLISH or will payload accepted (default `SIZE_MAX`;
    /// mosquitto's `message_size_limit`). A larger PUBLISH is not routed
    /// (QoS 1 and 2: 0x97 in the 5.0 PUBACK or PUBREC); a larger will
    /// refuses the CONNECT with 0x95.
    pub max_payload_bytes: usize,
    /// Seconds an offline session is kept at most, whatever the client
    /// asked, 3.1.1 sessions included (default `UINT32_MAX`: no bound;
    /// mosquitto's `persistent_client_expiration`).
    pub max_session_expiry_interval: u32,
    /// Whether the broker describes its durable state (persistent
    /// sessions, their subscriptions, queued and in-flight QoS 1 and 2
    /// messages, delayed wills, retained messages) as records for the
    /// caller to store: `mqtt_broker_poll_store`, `mqtt_broker_snapshot`,
    /// `mqtt_broker_restore` (default false: nothing is recorded and
    /// nothing costs).
    pub persistence: bool,
}

/// Fills `*out` with the defaults (documented on each field of
/// `mqtt_broker_options`).
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_options_default(out: *mut mqtt_broker_options) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    crate::guard(|| {
        let s = ServerOptions::new();
        let l = BrokerLimits::default();
        let d = BrokerOptions::new();
        let opts = mqtt_broker_options {
            receive_maximum: s.receive_maximum,
            maximum_packet_size: d.server.maximum_packet_size,
            topic_alias_maximum: s.topic_alias_maximum,
            maximum_qos: s.maximum_qos.as_u8(),
            retain_available: s.retain_available,
            wildcard_subscription_available: s.wildcard_subscription_available,
            subscription_identifiers_available: s.subscription_identifiers_available,
            shared_subscription_available: s.shared_subscription_available,
            server_keep_alive: s.server_keep_alive.into(),
            connect_timeout_ms: s.connect_timeout,
            assign_client_ids: s.assign_client_ids,
            max_queued_per_connection: s.max_queued,
            max_inflight: s.max_inflight,
            outbound_topic_aliases: s.outbound_topic_aliases,
            max_input_before_accept: s.max_input_before_accept,
            max_connections: l.max_connections,
            max_sessions: l.max_sessions,
            max_subscriptions_per_client: l.max_subscriptions_per_client,
            max_queued_messages: l.max_queued_messages,
            queue_full_policy: MQTT_BROKER_QUEUE_DROP_NEWEST,
            max_retained_messages: l.max_retained_messages,
            max_retained_bytes: l.max_retained_bytes,
            max_topic_levels: l.max_topic_levels,
            passwords: mqtt_bytes_view::NONE,
            allow_anonymous: d.allow_anonymous,
            acl: mqtt_bytes_view::NONE,
            no_matching_subscribers: d.no_matching_subscribers,
            max_queued_bytes: l.max_queued_bytes,
            max_output_bytes_per_connection: l.max_output_bytes_per_connection,
            max_payload_bytes: l.max_payload_bytes,
            max_session_expiry_interval: l.max_session_expiry_interval,
            persistence: d.persistence,
        };
        // SAFETY: checked non-NULL; the caller provides a writable struct.
        unsafe { out.write(opts) };
        Ok(())
    })
}

/// The per-connection part of the options (everything up to
/// `max_input_before_accept`).
pub(crate) fn server_options(o: &mqtt_broker_options) -> Result<ServerOptions, Failure> {
    if o.receive_maximum == 0 {
        return Err(invalid("receive_maximum must be at least 1"));
    }
    if o.max_inflight == 0 {
        return Err(invalid("max_inflight must be at least 1"));
    }
    let maximum_qos = match QoS::from_u8(o.maximum_qos) {
        Some(q) => q,
        None => {
            return Err(invalid(text!(
                "maximum_qos {} is not 0, 1 or 2",
                o.maximum_qos
            )))
        }
    };
    Ok(ServerOptions::new()
        .with_receive_maximum(o.receive_maximum)
        .with_maximum_packet_size(o.maximum_packet_size)
        .with_topic_alias_maximum(o.topic_alias_maximum)
        .with_maximum_qos(maximum_qos)
        .with_retain_available(o.retain_available)
        .with_wildcard_subscription_available(o.wildcard_subscription_available)
        .with_subscription_identifiers_available(o.subscription_identifiers_available)
        .with_shared_subscription_available(o.shared_subscription_available)
        .with_server_keep_alive(
            o.server_keep_alive
                .present
                .then_some(o.server_keep_alive.value),
        )
        .with_connect_timeout(o.connect_timeout_ms)
        .with_assign_client_ids(o.assign_client_ids)
        .with_max_queued(o.max_queued_per_connection)
        .with_max_inflight(o.max_inflight)
        .with_outbound_topic_aliases(o.outbound_topic_aliases)
        .with_max_input_before_accept(o.max_input_before_accept))
}

/// The core's options from the C struct.
///
/// # Safety
/// Every view in `o` as [`slice_arg`].
unsafe fn broker_options(o: &mqtt_broker_options) -> Result<BrokerOptions, Failure> {
    let server = server_options(o)?;
    let mut limits = BrokerLimits::default();
    limits.max_connections = o.max_connections;
    limits.max_sessions = o.max_sessions;
    limits.max_subscriptions_per_client = o.max_subscriptions_per_client;
    limits.max_queued_messages = o.max_queued_messages;
    limits.queue_full_policy = match o.queue_full_policy {
        MQTT_BROKER_QUEUE_DROP_NEWEST => QueueFullPolicy::DropNewest,
        MQTT_BROKER_QUEUE_DROP_OLDEST => QueueFullPolicy::DropOldest,
        p => return Err(invalid(text!("queue_full_policy {p} is unknown"))),
    };
    limits.max_retained_messages = o.max_retained_messages;
    limits.max_retained_bytes = o.max_retained_bytes;
    limits.max_topic_levels = o.max_topic_levels;
    limits.max_queued_bytes = o.max_queued_bytes;
    limits.max_output_bytes_per_connection = o.max_output_bytes_per_connection;
    limits.max_payload_bytes = o.max_payload_bytes;
    limits.max_session_expiry_interval = o.max_session_expiry_interval;
    let mut opts = BrokerOptions::new()
        .with_server_options(server)
        .with_limits(limits)
        .with_no_matching_subscribers(o.no_matching_subscribers)
        .with_persistence(o.persistence);
    if !o.passwords.is_absent() {
        // SAFETY: a view of `o`, valid by the caller's promise.
        let text = unsafe { view_str(o.passwords, "passwords") }?;
        let table =
            PasswordTable::parse(text).map_err(|e| invalid(detail_text("passwords", &e)))?;
        opts = opts.with_passwords(table, o.allow_anonymous);
    } else if o.passwords.len != 0 {
        return Err(bare(mqtt_status::MQTT_STATUS_NULL_ARGUMENT));
    }
    if !o.acl.is_absent() {
        // SAFETY: as above.
        let text = unsafe { view_str(o.acl, "acl") }?;
        let acl = Acl::parse(text).map_err(|e| invalid(detail_text("acl", &e)))?;
        opts = opts.with_acl(acl);
    } else if o.acl.len != 0 {
        return Err(bare(mqtt_status::MQTT_STATUS_NULL_ARGUMENT));
    }
    Ok(opts)
}

/// A broker: the sessions, subscriptions, retained messages and every
/// connection's protocol state. Opaque; create it with `mqtt_broker_new`,
/// destroy it with `mqtt_broker_free`. Use it from one thread at a time.
///
/// Connection identifiers are never 0; an identifier stays valid from
/// `mqtt_broker_connection_opened` until `mqtt_broker_connection_closed`.
pub struct mqtt_broker {
    broker: Broker,
    /// The connections opened and not closed yet, by number.
    open: BTreeMap<u64, ConnectionId>,
    /// Output taken from the engine and not yet copied out: its connection
    /// and the rest of its bytes.
    pending: Option<(u64, Bytes)>,
    /// Store bytes (a batch of records, or a snapshot) taken from the
    /// engine and not yet copied out, from `store_at` on.
    store: Vec<u8>,
    /// How much of `store` was copied out.
    store_at: usize,
    state: HandleState,
}

impl Handle for mqtt_broker {
    fn state(&self) -> &HandleState {
        &self.state
    }
    fn state_mut(&mut self) -> &mut HandleState {
        &mut self.state
    }
    fn forget_borrowed(&mut self) {
        self.pending = None;
    }
}

impl mqtt_broker {
    /// The engine's identifier for an open connection.
    fn conn(&self, id: u64) -> Result<ConnectionId, Failure> {
        self.open.get(&id).copied().ok_or_else(|| {
            (
                mqtt_status::MQTT_STATUS_UNKNOWN_CONNECTION,
                text!("connection {id} is not open"),
            )
        })
    }
}

// ----- life cycle ---------------------------------------------------------

/// Creates a broker from `options` (NULL: the defaults) and stores the
/// handle in `*out` (NULL on error; `mqtt_broker_options_check` says why).
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_new(
    options: *const mqtt_broker_options,
    out: *mut *mut mqtt_broker,
) -> mqtt_status {
    let make = || {
        let opts = if options.is_null() {
            BrokerOptions::new()
        } else {
            // SAFETY: checked non-NULL; `options` and its views are valid
            // by the caller's promise.
            unsafe { broker_options(&*options) }.map_err(|(s, _)| s)?
        };
        Ok(mqtt_broker {
            broker: Broker::new(opts),
            open: BTreeMap::new(),
            pending: None,
            store: Vec::new(),
            store_at: 0,
            state: HandleState::default(),
        })
    };
    // SAFETY: `out` as new_handle.
    unsafe { new_handle(out, make) }
}

/// Why `mqtt_broker_new` would refuse `options` (a bad limit, a password
/// table or ACL that does not parse, with its line), as a NUL-terminated
/// string written into `buf` (at most `cap` bytes, truncated; `buf` may be
/// NULL). Returns the status `mqtt_broker_new` would return.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_options_check(
    options: *const mqtt_broker_options,
    buf: *mut core::ffi::c_char,
    cap: usize,
) -> mqtt_status {
    if options.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    crate::guard(|| {
        // SAFETY: checked non-NULL; `options` and its views are valid by
        // the caller's promise, and `buf` holds `cap` bytes.
        unsafe { report_check(broker_options(&*options), buf, cap) }
    })
}

/// Destroys a broker and everything it holds (sessions, retained
/// messages, connections: close their transports yourself). NULL is
/// ignored.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_free(b: *mut mqtt_broker) {
    // SAFETY: forwarded (the caller's promise).
    unsafe { free_handle(b) }
}

/// The text of the last error returned on this handle, as a view valid
/// until the next call on the handle (empty if none).
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_last_error(
    b: *const mqtt_broker,
    out: *mut mqtt_bytes_view,
) -> mqtt_status {
    // SAFETY: forwarded (the caller's promise).
    unsafe { last_error_of(b, out) }
}

/// Test-only: panics inside a call on `b`. Only with the `test-panic`
/// feature; not in the header.
#[cfg(feature = "test-panic")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_test_panic(b: *mut mqtt_broker) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe { with_handle(b, |_| panic!("mqtt_broker_test_panic: provoked on purpose")) }
}

// ----- inputs ---------------------------------------------------------------

/// A transport connection was opened (accepted): stores its identifier
/// (never 0) in `*conn_id`. The connect timeout starts now.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_connection_opened(
    b: *mut mqtt_broker,
    now_ms: u64,
    conn_id: *mut u64,
) -> mqtt_status {
    if conn_id.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `b` checked by with_handle; `conn_id` checked non-NULL.
    unsafe {
        with_handle(b, |h| {
            let id = h.broker.connection_opened(now_ms);
            h.open.insert(id.get(), id);
            conn_id.write(id.get());
            Ok(())
        })
    }
}

/// Feeds `len` bytes received on connection `conn` (any chunking).
/// Output, closes and deliveries to other connections may follow.
/// `MQTT_STATUS_UNKNOWN_CONNECTION` for an identifier not open.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_handle_input(
    b: *mut mqtt_broker,
    conn: u64,
    data: *const u8,
    len: usize,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: `b` checked by with_handle; `data` holds `len` bytes by the
    // caller's promise, checked by slice_arg.
    unsafe {
        with_handle(b, |h| {
            let id = h.conn(conn)?;
            let data = slice_arg(data, len).map_err(bare)?;
            h.broker.handle_input(id, now_ms, data);
            Ok(())
        })
    }
}

/// The time passed: call it at (or after) the deadline from
/// `mqtt_broker_poll_timeout` (keep alives, connect timeouts, session and
/// message expiry, delayed wills). Calling it early does nothing harmful.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_handle_timeout(
    b: *mut mqtt_broker,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(b, |h| {
            h.broker.handle_timeout(now_ms);
            Ok(())
        })
    }
}

/// Whether the transport of `conn` takes bytes: `false` when a write
/// would block (the socket's buffer is full), `true` when it takes them
/// again. Connections start writable. While not writable,
/// `mqtt_broker_poll_output` hands out nothing for `conn` (unless the
/// broker is closing it) and the broker keeps its bytes: past
/// `max_output_bytes_per_connection` of them the connection is congested,
/// QoS 0 messages for it are dropped (counted in
/// `mqtt_broker_stats.congestion_dropped_messages`) and QoS 1 and 2 ones
/// wait within `max_queued_messages` and `max_queued_bytes`, sent once it
/// is writable again. The client is not disconnected for being slow. Keep
/// what a write did not take and send it first when the socket is
/// writable, then call this with `true`; do not read from the socket
/// meanwhile (its input makes output too: acknowledgements, PINGRESP).
/// `MQTT_STATUS_UNKNOWN_CONNECTION` for an identifier not open.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_set_writable(
    b: *mut mqtt_broker,
    conn: u64,
    writable: bool,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(b, |h| {
            let id = h.conn(conn)?;
            h.broker.set_writable(id, now_ms, writable);
            Ok(())
        })
    }
}

/// The transport of `conn` closed (by the peer, on error, or because
/// `mqtt_broker_poll_close` asked for it). The will is published if the
/// client did not end with DISCONNECT; the session stays if it was asked
/// for. Its identifier is no longer valid; output not taken yet is
/// discarded. `MQTT_STATUS_UNKNOWN_CONNECTION` for an identifier not open.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_connection_closed(
    b: *mut mqtt_broker,
    conn: u64,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(b, |h| {
            let id = h.conn(conn)?;
            h.open.remove(&conn);
            if h.pending.as_ref().is_some_and(|(c, _)| *c == conn) {
                h.pending = None;
            }
            h.broker.connection_closed(id, now_ms);
            Ok(())
        })
    }
}

// ----- outputs ---------------------------------------------------------------

impl mqtt_broker {
    /// Makes `pending` hold the next output (of an open connection), if
    /// there is any.
    fn fill_pending(&mut self) {
        while self.pending.is_none() {
            let Some((id, bytes)) = self.broker.poll_output() else {
                return;
            };
            if !bytes.is_empty() && self.open.contains_key(&id.get()) {
                self.pending = Some((id.get(), bytes));
            }
        }
    }
}

/// Copies bytes to send into `buf` (up to `cap`), stores their connection
/// in `*conn` and their number in `*written`; `*conn` and `*written` are 0
/// when nothing is waiting. Call it until `*written` is 0, sending each
/// chunk on its connection. A connection's output is a byte stream: when
/// it does not fit in `cap`, the rest comes in the next calls (for the
/// same connection) before any other connection's bytes.
/// `mqtt_broker_output_len` gives the size needed to take it in one call.
/// `buf` may be NULL only when `cap` is 0.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_poll_output(
    b: *mut mqtt_broker,
    conn: *mut u64,
    buf: *mut u8,
    cap: usize,
    written: *mut usize,
) -> mqtt_status {
    if conn.is_null() || written.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: both checked non-NULL and writable (the caller's promise).
    unsafe {
        conn.write(0);
        written.write(0);
    }
    // SAFETY: `b` checked by with_handle; `buf` holds `cap` writable bytes
    // by the caller's promise (NULL and the size checked).
    unsafe {
        with_handle(b, |h| {
            let out = out_buf(buf, cap)?;
            if out.is_empty() {
                return Ok(());
            }
            h.fill_pending();
            let Some((id, bytes)) = h.pending.as_mut() else {
                return Ok(());
            };
            let n = bytes.len().min(cap);
            out[..n].copy_from_slice(&bytes[..n]);
            bytes::Buf::advance(bytes, n);
            conn.write(*id);
            written.write(n);
            if bytes.is_empty() {
                h.pending = None;
            }
            Ok(())
        })
    }
}

/// Stores in `*conn` the connection whose bytes `mqtt_broker_poll_output`
/// gives next and in `*len` how many there are (both 0 when nothing is
/// waiting): a buffer of `*len` bytes takes them in one call.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_output_len(
    b: *mut mqtt_broker,
    conn: *mut u64,
    len: *mut usize,
) -> mqtt_status {
    if conn.is_null() || len.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: both checked non-NULL and writable (the caller's promise).
    unsafe {
        conn.write(0);
        len.write(0);
    }
    // SAFETY: `b` checked by with_handle; the outputs as above.
    unsafe {
        with_handle(b, |h| {
            h.fill_pending();
            if let Some((id, bytes)) = &h.pending {
                conn.write(*id);
                len.write(bytes.len());
            }
            Ok(())
        })
    }
}

/// Stores in `*conn` a connection the broker wants closed (0: none): send
/// the output `mqtt_broker_poll_output` still has for it, close its
/// transport, then call `mqtt_broker_connection_closed`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_poll_close(
    b: *mut mqtt_broker,
    conn: *mut u64,
) -> mqtt_status {
    if conn.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL and writable.
    unsafe { conn.write(0) };
    // SAFETY: `b` checked by with_handle; `conn` as above.
    unsafe {
        with_handle(b, |h| {
            while let Some(id) = h.broker.poll_close() {
                if h.open.contains_key(&id.get()) {
                    conn.write(id.get());
                    break;
                }
            }
            Ok(())
        })
    }
}

/// Stores in `*deadline` the time (same clock as `now_ms`) at which
/// `mqtt_broker_handle_timeout` must be called, or `MQTT_NO_DEADLINE`
/// (`UINT64_MAX`) when there is none.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_poll_timeout(
    b: *mut mqtt_broker,
    deadline: *mut u64,
) -> mqtt_status {
    if deadline.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `b` checked by with_handle; `deadline` checked non-NULL.
    unsafe {
        with_handle(b, |h| {
            deadline.write(h.broker.poll_timeout().unwrap_or(MQTT_NO_DEADLINE));
            Ok(())
        })
    }
}

// ----- durability --------------------------------------------------------------

impl mqtt_broker {
    /// Makes `store` hold the engine's next batch of records when it holds
    /// nothing more to copy out.
    fn fill_store(&mut self, now_ms: u64) {
        if self.store_at < self.store.len() {
            return;
        }
        self.store.clear();
        self.store_at = 0;
        if let Some(batch) = self.broker.poll_store(now_ms) {
            self.store = batch;
        }
    }

    /// Frees the store bytes once all were copied out (a snapshot can be
    /// large: it is not kept as spare capacity).
    fn drop_store_if_done(&mut self) {
        if self.store_at >= self.store.len() {
            self.store = Vec::new();
            self.store_at = 0;
        }
    }
}

/// Copies store bytes into `buf` (up to `cap`) and stores their number in
/// `*written` (0 when there are none): with `persistence` on, the records
/// of every change of the durable state since the last call, as one batch
/// ending with a commit record at `now_ms`, to append to the store (a
/// file, flash); after `mqtt_broker_snapshot`, the snapshot. Call it
/// until `*written` is 0, like `mqtt_broker_poll_output`: a batch larger
/// than `cap` comes over several calls, in order, and nothing is lost.
///
/// The rule that makes the store durable: after each input, close or
/// timeout, take the store bytes **before** `mqtt_broker_poll_output`,
/// make them durable (write and fsync, or program the flash) and only
/// then send the output: an acknowledgement (PUBACK, PUBREC, SUBACK)
/// follows the records that make it true. A batch cut short by a crash is
/// discarded whole by `mqtt_broker_restore`. `mqtt_broker_store_len` gives
/// the size to take it in one call. `buf` may be NULL only when `cap` is 0.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_poll_store(
    b: *mut mqtt_broker,
    now_ms: u64,
    buf: *mut u8,
    cap: usize,
    written: *mut usize,
) -> mqtt_status {
    if written.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL and writable (the caller's promise).
    unsafe { written.write(0) };
    // SAFETY: `b` checked by with_handle; `buf` holds `cap` writable bytes
    // by the caller's promise (NULL and the size checked).
    unsafe {
        with_handle(b, |h| {
            let out = out_buf(buf, cap)?;
            if out.is_empty() {
                return Ok(());
            }
            h.fill_store(now_ms);
            let rest = &h.store[h.store_at..];
            let n = rest.len().min(out.len());
            out[..n].copy_from_slice(&rest[..n]);
            h.store_at += n;
            h.drop_store_if_done();
            written.write(n);
            Ok(())
        })
    }
}

/// Stores in `*len` how many store bytes `mqtt_broker_poll_store` gives
/// next (0: none): a buffer of `*len` bytes takes them in one call. It
/// takes the engine's pending batch (committed at `now_ms`) if no bytes
/// are waiting.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_store_len(
    b: *mut mqtt_broker,
    now_ms: u64,
    len: *mut usize,
) -> mqtt_status {
    if len.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL and writable.
    unsafe { len.write(0) };
    // SAFETY: `b` checked by with_handle; `len` as above.
    unsafe {
        with_handle(b, |h| {
            h.fill_store(now_ms);
            len.write(h.store.len() - h.store_at);
            h.drop_store_if_done();
            Ok(())
        })
    }
}

/// Takes a snapshot: the whole durable state at `now_ms` as a new store
/// (store header and one batch), which `mqtt_broker_poll_store` then
/// hands out, and stores its size in `*len`. Write it to a new file (or
/// flash area) and replace the old store with it: this compacts the
/// store. Store bytes not copied out yet are dropped (the snapshot
/// contains what they describe). Works with `persistence` off too (then
/// without retained messages: the engine keeps no record of them); write
/// one after `mqtt_broker_restore`, before appending batches.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_snapshot(
    b: *mut mqtt_broker,
    now_ms: u64,
    len: *mut usize,
) -> mqtt_status {
    if len.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL and writable.
    unsafe { len.write(0) };
    // SAFETY: `b` checked by with_handle; `len` as above.
    unsafe {
        with_handle(b, |h| {
            h.store = h.broker.snapshot(now_ms);
            h.store_at = 0;
            len.write(h.store.len());
            Ok(())
        })
    }
}

/// `mqtt_restore_report.damage`: the store was read to its end.
pub const MQTT_STORE_DAMAGE_NONE: u8 = 0;
/// `mqtt_restore_report.damage`: the store ends inside a frame (a write
/// cut short by a crash).
pub const MQTT_STORE_DAMAGE_TRUNCATED: u8 = 1;
/// `mqtt_restore_report.damage`: a frame's checksum does not match.
pub const MQTT_STORE_DAMAGE_CHECKSUM: u8 = 2;
/// `mqtt_restore_report.damage`: a frame's length is larger than any
/// record can be.
pub const MQTT_STORE_DAMAGE_TOO_LONG: u8 = 3;
/// `mqtt_restore_report.damage`: a frame's checksum matched but its body
/// is not a valid record.
pub const MQTT_STORE_DAMAGE_RECORD: u8 = 4;

/// What `mqtt_broker_restore` rebuilt from a store, and what it could not.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mqtt_restore_report {
    /// Bytes of the store that were applied (header and whole batches).
    /// Truncate the store here, or better write a fresh
    /// `mqtt_broker_snapshot`, before appending batches.
    pub valid_len: usize,
    /// Bytes after `valid_len` that were discarded: a batch torn by a
    /// crash, or everything from a damaged frame on.
    pub discarded_bytes: usize,
    /// Records in the discarded bytes that still decoded (0 when the
    /// damage is at the end).
    pub discarded_records: usize,
    /// Why bytes were discarded: `MQTT_STORE_DAMAGE_NONE` (a torn last
    /// batch without a damaged frame, or nothing discarded) or another
    /// `MQTT_STORE_DAMAGE_*`.
    pub damage: u8,
    /// With `damage`: the byte offset of the damaged frame.
    pub damage_offset: usize,
    /// Batches applied.
    pub batches: u64,
    /// Records applied.
    pub records: u64,
    /// Whether `last_commit_ms` is set (false for an empty store).
    pub has_last_commit: bool,
    /// The time (the `now_ms` clock) of the last batch applied.
    pub last_commit_ms: u64,
    /// Persistent sessions rebuilt.
    pub sessions: usize,
    /// Sessions whose expiry passed during the downtime, not rebuilt.
    pub expired_sessions: usize,
    /// Subscriptions rebuilt.
    pub subscriptions: usize,
    /// Messages rebuilt for sessions (queued or in flight).
    pub messages: usize,
    /// Queued messages whose Message Expiry Interval passed, dropped.
    pub expired_messages: usize,
    /// Retained messages rebuilt.
    pub retained: usize,
    /// Delayed wills rebuilt.
    pub wills: usize,
}

impl mqtt_restore_report {
    fn from_core(r: &RestoreReport) -> Self {
        let (damage, damage_offset) = match &r.damage {
            None => (MQTT_STORE_DAMAGE_NONE, 0),
            Some(d) => (
                match d.error {
                    FrameError::Truncated => MQTT_STORE_DAMAGE_TRUNCATED,
                    FrameError::Checksum => MQTT_STORE_DAMAGE_CHECKSUM,
                    FrameError::TooLong(_) => MQTT_STORE_DAMAGE_TOO_LONG,
                    _ => MQTT_STORE_DAMAGE_RECORD,
                },
                d.offset,
            ),
        };
        mqtt_restore_report {
            valid_len: r.valid_len,
            discarded_bytes: r.discarded_bytes,
            discarded_records: r.discarded_records,
            damage,
            damage_offset,
            batches: r.batches,
            records: r.records,
            has_last_commit: r.last_commit.is_some(),
            last_commit_ms: r.last_commit.unwrap_or(0),
            sessions: r.sessions,
            expired_sessions: r.expired_sessions,
            subscriptions: r.subscriptions,
            messages: r.messages,
            expired_messages: r.expired_messages,
            retained: r.retained,
            wills: r.wills,
        }
    }
}

/// Rebuilds the broker's durable state from `len` bytes of a store (what
/// `mqtt_broker_poll_store` handed out, appended, or a snapshot) at
/// `now_ms`, on a new broker (no connections opened yet). Whole batches
/// of the valid prefix apply; a damaged or torn tail is not an error but
/// reported in `*report` (NULL: not wanted), which is written on success
/// only. Empty data (`len` 0; `data` may then be NULL) is an empty store.
/// Sessions, messages and wills whose time passed during the downtime end
/// at the first `mqtt_broker_handle_timeout`, so use a clock that goes on
/// across restarts (Unix time in milliseconds). After it, write a
/// `mqtt_broker_snapshot` as the new store before appending batches.
///
/// `MQTT_STATUS_NOT_A_STORE`: the bytes are not a store;
/// `MQTT_STATUS_STORE_TOO_NEW`: a newer format version;
/// `MQTT_STATUS_NOT_EMPTY`: the broker has connections, sessions or
/// retained messages already. Nothing changes then.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_restore(
    b: *mut mqtt_broker,
    data: *const u8,
    len: usize,
    now_ms: u64,
    report: *mut mqtt_restore_report,
) -> mqtt_status {
    // SAFETY: `b` checked by with_handle; `data` holds `len` bytes by the
    // caller's promise, checked by slice_arg; `report` is NULL or
    // writable.
    unsafe {
        with_handle(b, |h| {
            let data = slice_arg(data, len).map_err(bare)?;
            let r = h.broker.restore(data, now_ms).map_err(|e| {
                let status = match e {
                    RestoreError::NotAStore => mqtt_status::MQTT_STATUS_NOT_A_STORE,
                    RestoreError::NewerVersion { .. } => mqtt_status::MQTT_STATUS_STORE_TOO_NEW,
                    _ => mqtt_status::MQTT_STATUS_NOT_EMPTY,
                };
                (status, error_text(&e, status))
            })?;
            if !report.is_null() {
                report.write(mqtt_restore_report::from_core(&r));
            }
            Ok(())
        })
    }
}

/// Counters of a broker (`mqtt_broker_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mqtt_broker_stats {
    /// Connections open, as far as the engine knows.
    pub connections: usize,
    /// Sessions, connected or kept for offline clients.
    pub sessions: usize,
    /// Subscriptions, all clients together.
    pub subscriptions: usize,
    /// Retained messages.
    pub retained_messages: usize,
    /// Messages not delivered to a subscriber because its session's queue
    /// was full, or QoS 0 ones for a congested connection (also in
    /// `congestion_dropped_messages`), since the start.
    pub dropped_messages: u64,
    /// Queued messages dropped because their Message Expiry Interval
    /// passed, since the start.
    pub expired_messages: u64,
    /// Kept sessions of offline clients evicted (offline longest first)
    /// to make room under `max_sessions`, since the start.
    pub evicted_sessions: u64,
    /// QoS 0 messages dropped because the subscriber's connection was not
    /// writable (`mqtt_broker_set_writable`) with
    /// `max_output_bytes_per_connection` bytes or more waiting, since the
    /// start.
    pub congestion_dropped_messages: u64,
}

/// Writes the broker's counters to `*out`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_broker_get_stats(
    b: *mut mqtt_broker,
    out: *mut mqtt_broker_stats,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `b` checked by with_handle; `out` checked non-NULL.
    unsafe {
        with_handle(b, |h| {
            let br = &h.broker;
            out.write(mqtt_broker_stats {
                connections: br.connection_count(),
                sessions: br.session_count(),
                subscriptions: br.subscriptions().len(),
                retained_messages: br.retained().len(),
                dropped_messages: br.dropped_messages(),
                expired_messages: br.expired_messages(),
                evicted_sessions: br.evicted_sessions(),
                congestion_dropped_messages: br.congestion_dropped_messages(),
            });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_the_options() {
        let mut o = core::mem::MaybeUninit::<mqtt_broker_options>::uninit();
        let mut b = core::ptr::null_mut();
        // SAFETY: valid pointers to locals.
        unsafe {
            assert_eq!(
                mqtt_broker_options_default(o.as_mut_ptr()),
                mqtt_status::MQTT_STATUS_OK
            );
            let o = o.assume_init();
            let opts = broker_options(&o).unwrap();
            assert_eq!(opts.limits, BrokerLimits::default());
            assert!(o.no_matching_subscribers && opts.no_matching_subscribers);
            let mut server = BrokerOptions::new().server;
            server.manual_ack = opts.server.manual_ack;
            assert_eq!(opts.server, server);
            assert_eq!(
                o.maximum_packet_size,
                BrokerOptions::DEFAULT_MAXIMUM_PACKET_SIZE
            );
            assert_eq!(mqtt_broker_new(&o, &mut b), mqtt_status::MQTT_STATUS_OK);
            mqtt_broker_free(b);
        }
    }

    #[test]
    fn a_connection_not_writable_gets_nothing_and_its_qos0_is_dropped_past_the_cap() {
        let mut o = core::mem::MaybeUninit::<mqtt_broker_options>::uninit();
        let mut b = core::ptr::null_mut();
        let (mut sub, mut publ) = (0u64, 0u64);
        let connect = |id: u8| {
            [
                0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 1, id,
            ]
        };
        let subscribe = [0x82, 6, 0, 1, 0, 1, b't', 0];
        let publish = [0x30, 5, 0, 1, b't', b'x', b'y'];
        // SAFETY: valid pointers to locals and a live handle.
        unsafe {
            mqtt_broker_options_default(o.as_mut_ptr());
            let mut o = o.assume_init();
            o.max_output_bytes_per_connection = 20;
            assert_eq!(mqtt_broker_new(&o, &mut b), mqtt_status::MQTT_STATUS_OK);
            let drain = |b: *mut mqtt_broker| {
                let mut got = Vec::new();
                let mut buf = [0u8; 256];
                loop {
                    let (mut c, mut n) = (0u64, 0usize);
                    mqtt_broker_poll_output(b, &mut c, buf.as_mut_ptr(), buf.len(), &mut n);
                    if n == 0 {
                        return got;
                    }
                    got.push((c, n));
                }
            };
            mqtt_broker_connection_opened(b, 0, &mut sub);
            mqtt_broker_connection_opened(b, 0, &mut publ);
            mqtt_broker_handle_input(b, sub, connect(b's').as_ptr(), 15, 1);
            mqtt_broker_handle_input(b, sub, subscribe.as_ptr(), subscribe.len(), 1);
            mqtt_broker_handle_input(b, publ, connect(b'p').as_ptr(), 15, 1);
            drain(b);
            assert_eq!(
                mqtt_broker_set_writable(b, sub, false, 2),
                mqtt_status::MQTT_STATUS_OK
            );
            for _ in 0..10 {
                mqtt_broker_handle_input(b, publ, publish.as_ptr(), publish.len(), 3);
            }
            assert!(drain(b).is_empty(), "nothing for a connection not writable");
            let mut stats = mqtt_broker_stats::default();
            mqtt_broker_get_stats(b, &mut stats);
            // 7 bytes each: 3 fit under the cap of 20, the rest dropped.
            assert_eq!(stats.congestion_dropped_messages, 7);
            assert_eq!(stats.dropped_messages, 7);
            mqtt_broker_set_writable(b, sub, true, 4);
            assert_eq!(drain(b), [(sub, 21)]);
            assert_eq!(
                mqtt_broker_set_writable(b, 999, true, 4),
                mqtt_status::MQTT_STATUS_UNKNOWN_CONNECTION
            );
            mqtt_broker_free(b);
        }
    }

    #[test]
    fn a_connection_larger_than_the_buffer_streams_in_order() {
        let mut b = core::ptr::null_mut();
        let mut conn = 0u64;
        // SAFETY: valid pointers to locals and a live handle.
        unsafe {
            assert_eq!(
                mqtt_broker_new(core::ptr::null(), &mut b),
                mqtt_status::MQTT_STATUS_OK
            );
            mqtt_broker_connection_opened(b, 0, &mut conn);
            // CONNECT 3.1.1, client id "a", clean session.
            let connect = [
                0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 1, b'a',
            ];
            assert_eq!(
                mqtt_broker_handle_input(b, conn, connect.as_ptr(), connect.len(), 1),
                mqtt_status::MQTT_STATUS_OK
            );
            let (mut c, mut len) = (0u64, 0usize);
            mqtt_broker_output_len(b, &mut c, &mut len);
            assert_eq!((c, len), (conn, 4), "CONNACK");
            let mut out = Vec::new();
            let mut buf = [0u8; 3];
            loop {
                let mut n = 0;
                mqtt_broker_poll_output(b, &mut c, buf.as_mut_ptr(), buf.len(), &mut n);
                if n == 0 {
                    break;
                }
                assert_eq!(c, conn);
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, [0x20, 2, 0, 0]);
            mqtt_broker_free(b);
        }
    }
}
