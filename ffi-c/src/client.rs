//! The client: an opaque `mqtt_client` handle over the core's sans-IO
//! `Client`. The caller owns the transport and the clock: it feeds received
//! bytes in, copies bytes to send out, reads events, and calls
//! `mqtt_client_handle_timeout` at the deadline it is given.

use crate::prelude::*;
use bytes::Bytes;
use mqtt_core::client::{
    Client, ClientError, ClientOptions, ConnectionState, DisconnectReason, DropReason, Event,
    QueueFullPolicy, SessionLostPolicy,
};
use mqtt_core::codec::{
    AckProperties, AuthProperties, ConnAckProperties, Disconnect, DisconnectProperties, MqttString,
    ProtocolVersion, PublishProperties, ReasonCode, RetainHandling, Subscribe, SubscribeFilter,
    SubscriptionOptions, Unsubscribe, UserProperty, Will,
};

use crate::types::*;
use crate::{
    free_handle, last_error_of, new_handle, report_check, with_handle, Handle, HandleState,
};
use crate::{mqtt_reason_code, mqtt_status};

/// `mqtt_client_options.queue_full_policy`: refuse the new message.
pub const MQTT_QUEUE_FULL_REJECT_NEW: u8 = 0;
/// `mqtt_client_options.queue_full_policy`: drop the oldest queued message.
pub const MQTT_QUEUE_FULL_DROP_OLDEST: u8 = 1;
/// `mqtt_client_options.session_lost_policy`: send unacknowledged
/// messages again in the new session.
pub const MQTT_SESSION_LOST_REQUEUE: u8 = 0;
/// `mqtt_client_options.session_lost_policy`: drop them.
pub const MQTT_SESSION_LOST_DROP: u8 = 1;

/// A client connection state machine. Opaque; create it with
/// `mqtt_client_new`, destroy it with `mqtt_client_free`. Use it from one
/// thread at a time.
///
/// Memory: the handle allocates through the platform allocator. In steady
/// state it holds the options, the outgoing bytes not yet taken with
/// `mqtt_client_poll_transmit` (at most `max_transmit_buffer`), the
/// messages in flight (at most `max_inflight`) and queued (at most
/// `max_queued`), one partly received packet (at most
/// `maximum_packet_size` when set) and the current event.
pub struct mqtt_client {
    client: Client,
    /// Bytes taken from the client for `mqtt_client_transmit_len`, sent
    /// before anything the client has since.
    pending: Bytes,
    /// The event the last `mqtt_client_poll_event` returned, which its
    /// views borrow from.
    event: Option<Event>,
    user_properties: Vec<mqtt_user_property>,
    reason_codes: Vec<u8>,
    text: String,
    state: HandleState,
}

impl Handle for mqtt_client {
    fn state(&self) -> &HandleState {
        &self.state
    }
    fn state_mut(&mut self) -> &mut HandleState {
        &mut self.state
    }
    fn forget_borrowed(&mut self) {
        self.event = None;
    }
}

/// Writes `value` to an output pointer (NULL allowed: nothing written).
///
/// # Safety
/// `out` is NULL or valid for writing a `T`.
unsafe fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: the caller's promise above.
        unsafe { out.write(value) }
    }
}

fn client_error(e: ClientError) -> Failure {
    let status = match &e {
        ClientError::Invalid(_) => mqtt_status::MQTT_STATUS_INVALID_ARGUMENT,
        ClientError::PacketTooLarge { .. } => mqtt_status::MQTT_STATUS_PACKET_TOO_LARGE,
        ClientError::QueueFull => mqtt_status::MQTT_STATUS_QUEUE_FULL,
        ClientError::NotConnected => mqtt_status::MQTT_STATUS_NOT_CONNECTED,
        ClientError::NoPacketIdentifier => mqtt_status::MQTT_STATUS_NO_PACKET_IDENTIFIER,
        ClientError::QoSNotSupported { .. } => mqtt_status::MQTT_STATUS_QOS_NOT_SUPPORTED,
        ClientError::RetainNotSupported => mqtt_status::MQTT_STATUS_RETAIN_NOT_SUPPORTED,
        ClientError::FeatureNotSupported(_) => mqtt_status::MQTT_STATUS_FEATURE_NOT_SUPPORTED,
        ClientError::UnknownAckToken => mqtt_status::MQTT_STATUS_UNKNOWN_ACK_TOKEN,
        _ => mqtt_status::MQTT_STATUS_INVALID_STATE,
    };
    (status, error_text(&e, status))
}

// ----- options ---------------------------------------------------------------

/// A will message, published by the server if the connection ends
/// without DISCONNECT (or with reason code 0x04).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_will {
    /// The topic name (required).
    pub topic: mqtt_bytes_view,
    /// The payload (may be empty).
    pub payload: mqtt_bytes_view,
    /// QoS 0, 1 or 2.
    pub qos: u8,
    /// Whether the will is retained.
    pub retain: bool,
    /// Will Delay Interval, seconds (5.0).
    pub will_delay_interval: mqtt_opt_u32,
    /// Payload Format Indicator, 0 or 1 (5.0).
    pub payload_format_indicator: mqtt_opt_u8,
    /// Message Expiry Interval, seconds (5.0).
    pub message_expiry_interval: mqtt_opt_u32,
    /// Content Type (5.0; NULL: absent).
    pub content_type: mqtt_bytes_view,
    /// Response Topic (5.0; NULL: absent).
    pub response_topic: mqtt_bytes_view,
    /// Correlation Data (5.0; NULL: absent).
    pub correlation_data: mqtt_bytes_view,
    /// User Properties (5.0).
    pub user_properties: mqtt_user_properties,
}

/// Everything a client is created with. Fill it with
/// `mqtt_client_options_default` and change what you need. Only read
/// during `mqtt_client_new`: the views need not outlive that call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_client_options {
    /// `MQTT_VERSION_3_1`, `MQTT_VERSION_3_1_1` or `MQTT_VERSION_5`
    /// (default 5).
    pub version: u8,
    /// The Client Identifier (default empty: the server assigns one; in
    /// 3.1.1 that needs `clean_start`, else `mqtt_client_new` refuses the
    /// options with `MQTT_STATUS_INVALID_ARGUMENT` [MQTT-3.1.3-7]).
    pub client_id: mqtt_bytes_view,
    /// Keep Alive, seconds; 0 turns it off (default 60).
    pub keep_alive: u16,
    /// Clean Start / Clean Session (default true).
    pub clean_start: bool,
    /// Session Expiry Interval, seconds (5.0; default 0).
    pub session_expiry_interval: u32,
    /// User Name (NULL: none).
    pub username: mqtt_bytes_view,
    /// Password (NULL: none).
    pub password: mqtt_bytes_view,
    /// The will (NULL: none). Read during `mqtt_client_new` only.
    pub will: *const mqtt_will,
    /// Receive Maximum: QoS 1 and 2 messages the server may have in flight
    /// to us, 1 to 65535 (5.0; default 65535).
    pub receive_maximum: u16,
    /// Maximum Packet Size we accept; 0 for no limit other than the
    /// protocol's (default 0). Bounds the memory of a partly received
    /// packet.
    pub maximum_packet_size: u32,
    /// Topic Alias Maximum we accept from the server (5.0; default 0).
    pub topic_alias_maximum: u16,
    /// Request Response Information (5.0; default false).
    pub request_response_information: bool,
    /// Request Problem Information, 0 or 1 (5.0; default absent, meaning 1).
    pub request_problem_information: mqtt_opt_u8,
    /// Authentication Method for enhanced authentication (5.0; NULL: none).
    pub authentication_method: mqtt_bytes_view,
    /// Authentication Data (5.0; NULL: none).
    pub authentication_data: mqtt_bytes_view,
    /// User Properties of CONNECT (5.0).
    pub user_properties: mqtt_user_properties,
    /// Our own limit of QoS 1 and 2 messages in flight; 0 for the default
    /// (64 in 5.0, 20 in 3.1.1). The server's Receive Maximum also applies.
    pub max_inflight: u16,
    /// Messages queued while disconnected or while the window is full
    /// (default 1024).
    pub max_queued: usize,
    /// `MQTT_QUEUE_FULL_REJECT_NEW` (default) or `MQTT_QUEUE_FULL_DROP_OLDEST`.
    pub queue_full_policy: u8,
    /// Whether QoS 0 messages are queued while disconnected (default false).
    pub queue_qos0_offline: bool,
    /// `MQTT_SESSION_LOST_REQUEUE` (default) or `MQTT_SESSION_LOST_DROP`.
    pub session_lost_policy: u8,
    /// Subscribe again when the server lost the session (default true).
    pub resubscribe_on_session_lost: bool,
    /// Choose outgoing topic aliases automatically (5.0; default true).
    pub auto_topic_alias: bool,
    /// Acknowledge received QoS 1 and 2 messages only when
    /// `mqtt_client_acknowledge` is called (default false: at once).
    pub manual_ack: bool,
    /// Milliseconds to wait for CONNACK; 0 waits forever (default 30000).
    pub connect_timeout_ms: u64,
    /// Milliseconds to wait for PINGRESP; 0 waits one keep alive
    /// (default 0).
    pub ping_timeout_ms: u64,
    /// Bytes of output held before commands are refused (default 1 MiB).
    pub max_transmit_buffer: usize,
    /// Ignore acknowledgements for unknown packet identifiers instead of
    /// closing the connection (default false).
    pub ignore_unknown_acks: bool,
}

/// Fills `*out` with the defaults (MQTT 5.0, empty client id, keep alive
/// 60 s, clean start, limits as documented on each field).
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_options_default(out: *mut mqtt_client_options) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    crate::guard(|| {
        let d = ClientOptions::new(ProtocolVersion::V5, "")
            .map_err(|_| mqtt_status::MQTT_STATUS_PANIC)?;
        let opts = mqtt_client_options {
            version: MQTT_VERSION_5,
            client_id: mqtt_bytes_view::NONE,
            keep_alive: d.keep_alive,
            clean_start: d.clean_start,
            session_expiry_interval: d.session_expiry_interval,
            username: mqtt_bytes_view::NONE,
            password: mqtt_bytes_view::NONE,
            will: core::ptr::null(),
            receive_maximum: d.receive_maximum,
            maximum_packet_size: d.maximum_packet_size,
            topic_alias_maximum: d.topic_alias_maximum,
            request_response_information: d.request_response_information,
            request_problem_information: mqtt_opt_u8::default(),
            authentication_method: mqtt_bytes_view::NONE,
            authentication_data: mqtt_bytes_view::NONE,
            user_properties: mqtt_user_properties::EMPTY,
            max_inflight: 0,
            max_queued: d.max_queued,
            queue_full_policy: MQTT_QUEUE_FULL_REJECT_NEW,
            queue_qos0_offline: d.queue_qos0_offline,
            session_lost_policy: MQTT_SESSION_LOST_REQUEUE,
            resubscribe_on_session_lost: d.resubscribe_on_session_lost,
            auto_topic_alias: d.auto_topic_alias,
            manual_ack: d.manual_ack,
            connect_timeout_ms: d.connect_timeout,
            ping_timeout_ms: d.ping_timeout,
            max_transmit_buffer: d.max_transmit_buffer,
            ignore_unknown_acks: d.leniency.ignore_unknown_acks,
        };
        // SAFETY: checked non-NULL; the caller provides a writable struct.
        unsafe { out.write(opts) };
        Ok(())
    })
}

/// The core's options from the C struct.
///
/// # Safety
/// Every view and pointer in `o` as [`slice_arg`].
unsafe fn client_options(o: &mqtt_client_options) -> Result<ClientOptions, Failure> {
    let version = match o.version {
        MQTT_VERSION_3_1 => ProtocolVersion::V31,
        MQTT_VERSION_3_1_1 => ProtocolVersion::V311,
        MQTT_VERSION_5 => ProtocolVersion::V5,
        v => return Err(invalid(text!("version {v} is not 3 (3.1), 4 (3.1.1) or 5"))),
    };
    // SAFETY (every block below): the views come from `o`, valid by the
    // caller's promise.
    let client_id = unsafe { view_str(o.client_id, "client id") }?;
    let mut opts = ClientOptions::new(version, client_id)
        .map_err(|e| invalid(detail_text("client id", &e)))?;
    opts.keep_alive = o.keep_alive;
    opts.clean_start = o.clean_start;
    opts.session_expiry_interval = o.session_expiry_interval;
    opts.username = unsafe { opt_mqtt_string(o.username, "username") }?;
    opts.password = unsafe { opt_binary(o.password, "password") }?;
    if !o.will.is_null() {
        // SAFETY: non-NULL; valid by the caller's promise.
        let w = unsafe { &*o.will };
        opts.will = Some(unsafe { will_arg(w) }?);
    }
    if o.receive_maximum == 0 {
        // Receive Maximum 0 is a Protocol Error (5.0 3.1.2.11.3).
        return Err(invalid("receive_maximum must be at least 1"));
    }
    opts.receive_maximum = o.receive_maximum;
    opts.maximum_packet_size = o.maximum_packet_size;
    opts.topic_alias_maximum = o.topic_alias_maximum;
    opts.request_response_information = o.request_response_information;
    opts.request_problem_information = match o.request_problem_information {
        mqtt_opt_u8 { present: false, .. } => None,
        mqtt_opt_u8 { value: 0, .. } => Some(false),
        mqtt_opt_u8 { value: 1, .. } => Some(true),
        _ => return Err(invalid("request_problem_information must be 0 or 1")),
    };
    opts.authentication_method =
        unsafe { opt_mqtt_string(o.authentication_method, "authentication method") }?;
    opts.authentication_data = unsafe { opt_binary(o.authentication_data, "authentication data") }?;
    opts.user_properties = unsafe { user_properties_arg(o.user_properties) }?;
    if o.max_inflight != 0 {
        opts.max_inflight = o.max_inflight;
    }
    opts.max_queued = o.max_queued;
    opts.queue_full = match o.queue_full_policy {
        MQTT_QUEUE_FULL_REJECT_NEW => QueueFullPolicy::RejectNew,
        MQTT_QUEUE_FULL_DROP_OLDEST => QueueFullPolicy::DropOldest,
        p => return Err(invalid(text!("queue_full_policy {p} is unknown"))),
    };
    opts.queue_qos0_offline = o.queue_qos0_offline;
    opts.session_lost = match o.session_lost_policy {
        MQTT_SESSION_LOST_REQUEUE => SessionLostPolicy::Requeue,
        MQTT_SESSION_LOST_DROP => SessionLostPolicy::Drop,
        p => return Err(invalid(text!("session_lost_policy {p} is unknown"))),
    };
    opts.resubscribe_on_session_lost = o.resubscribe_on_session_lost;
    opts.auto_topic_alias = o.auto_topic_alias;
    opts.manual_ack = o.manual_ack;
    opts.connect_timeout = o.connect_timeout_ms;
    opts.ping_timeout = o.ping_timeout_ms;
    opts.max_transmit_buffer = o.max_transmit_buffer;
    opts.leniency.ignore_unknown_acks = o.ignore_unknown_acks;
    // Options that could never connect are refused here, with the core's
    // reason ([MQTT-3.1.3-7]: 3.1.1, empty client id, clean_start false).
    if let Err(e) = opts.check() {
        return Err(invalid(match e {
            ClientError::InvalidState(why) => why,
            _ => "options refused",
        }));
    }
    Ok(opts)
}

/// # Safety
/// Every view in `w` as [`slice_arg`].
unsafe fn will_arg(w: &mqtt_will) -> Result<Will, Failure> {
    // SAFETY (every block below): views from `w`, valid by the caller's
    // promise.
    let topic = unsafe { view_str(w.topic, "will topic") }?;
    let payload = Bytes::copy_from_slice(unsafe { view_bytes(w.payload) }.map_err(bare)?);
    let mut will = Will::new(topic, payload, qos_arg(w.qos)?)
        .map_err(|e| invalid(detail_text("will", &e)))?
        .with_retain(w.retain);
    let p = &mut will.properties;
    p.will_delay_interval = w.will_delay_interval.get();
    p.payload_format_indicator = bool_arg(w.payload_format_indicator, "payload_format_indicator")?;
    p.message_expiry_interval = w.message_expiry_interval.get();
    p.content_type = unsafe { opt_mqtt_string(w.content_type, "will content type") }?;
    p.response_topic = unsafe { opt_mqtt_string(w.response_topic, "will response topic") }?;
    p.correlation_data = unsafe { opt_binary(w.correlation_data, "will correlation data") }?;
    p.user_properties = unsafe { user_properties_arg(w.user_properties) }?;
    Ok(will)
}

fn bool_arg(v: mqtt_opt_u8, what: &str) -> Result<Option<bool>, Failure> {
    match v {
        mqtt_opt_u8 { present: false, .. } => Ok(None),
        mqtt_opt_u8 { value: 0, .. } => Ok(Some(false)),
        mqtt_opt_u8 { value: 1, .. } => Ok(Some(true)),
        _ => Err(invalid(joined(what, " must be 0 or 1"))),
    }
}

// ----- life cycle ---------------------------------------------------------------

/// Creates a client from `options` and stores the handle in `*out`
/// (NULL on error). Nothing is sent until `mqtt_client_connect`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_new(
    options: *const mqtt_client_options,
    out: *mut *mut mqtt_client,
) -> mqtt_status {
    if options.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `out` as new_handle; `options` checked non-NULL, it and its
    // views valid by the caller's promise.
    unsafe {
        new_handle(out, || {
            let opts = client_options(&*options).map_err(|(s, _)| s)?;
            Ok(mqtt_client {
                client: Client::new(opts),
                pending: Bytes::new(),
                event: None,
                user_properties: Vec::new(),
                reason_codes: Vec::new(),
                text: String::new(),
                state: HandleState::default(),
            })
        })
    }
}

/// Why `mqtt_client_new` refused `options`, as a NUL-terminated string
/// written into `buf` (at most `cap` bytes, truncated). Returns the status
/// `mqtt_client_new` would return for these options.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_options_check(
    options: *const mqtt_client_options,
    buf: *mut core::ffi::c_char,
    cap: usize,
) -> mqtt_status {
    if options.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    crate::guard(|| {
        // SAFETY: checked non-NULL; valid by the caller's promise.
        let o = unsafe { &*options };
        // SAFETY: as above, for the views in `o`; `buf` holds `cap` bytes
        // by the caller's promise.
        unsafe { report_check(client_options(o), buf, cap) }
    })
}

/// Destroys a client and everything it holds. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_free(c: *mut mqtt_client) {
    // SAFETY: forwarded (the caller's promise).
    unsafe { free_handle(c) }
}

/// The text of the last error returned on this handle, as a view valid
/// until the next call on the handle (empty if none).
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_last_error(
    c: *const mqtt_client,
    out: *mut mqtt_bytes_view,
) -> mqtt_status {
    // SAFETY: forwarded (the caller's promise).
    unsafe { last_error_of(c, out) }
}

/// The connection state: disconnected, connecting or connected.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_connection_state {
    /// No connection: call `mqtt_client_connect` once a transport is open.
    MQTT_CONNECTION_STATE_DISCONNECTED = 0,
    /// CONNECT sent, waiting for CONNACK.
    MQTT_CONNECTION_STATE_CONNECTING = 1,
    /// Connected.
    MQTT_CONNECTION_STATE_CONNECTED = 2,
}

/// Writes the connection state to `*out`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_state(
    c: *mut mqtt_client,
    out: *mut mqtt_connection_state,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `c` checked by with_handle; `out` checked non-NULL.
    unsafe {
        with_handle(c, |h| {
            let state = match h.client.state() {
                ConnectionState::Disconnected => {
                    mqtt_connection_state::MQTT_CONNECTION_STATE_DISCONNECTED
                }
                ConnectionState::Connecting => {
                    mqtt_connection_state::MQTT_CONNECTION_STATE_CONNECTING
                }
                _ => mqtt_connection_state::MQTT_CONNECTION_STATE_CONNECTED,
            };
            out.write(state);
            Ok(())
        })
    }
}

/// Test-only: panics inside a call on `c`, to show the handle is then
/// refused with `MQTT_STATUS_PANIC`. Only with the `test-panic` feature;
/// not in the header.
#[cfg(feature = "test-panic")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_test_panic(c: *mut mqtt_client) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe { with_handle(c, |_| panic!("mqtt_client_test_panic: provoked on purpose")) }
}

// ----- inputs ---------------------------------------------------------------

/// Starts a connection on a freshly opened transport: queues CONNECT
/// (take it with `mqtt_client_poll_transmit`) and arms the CONNACK timer.
/// `MQTT_STATUS_INVALID_STATE` when already connected or connecting.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_connect(c: *mut mqtt_client, now_ms: u64) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(c, |h| {
            h.pending = Bytes::new();
            h.client.connect(now_ms).map_err(client_error)
        })
    }
}

/// Feeds `len` bytes received from the transport (any chunking). Events
/// and bytes to send may follow.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_handle_input(
    c: *mut mqtt_client,
    data: *const u8,
    len: usize,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: `c` checked by with_handle; `data` holds `len` bytes by the
    // caller's promise, checked by slice_arg.
    unsafe {
        with_handle(c, |h| {
            let data = slice_arg(data, len).map_err(bare)?;
            h.client.handle_input(now_ms, data);
            Ok(())
        })
    }
}

/// The time passed: call it at (or after) the deadline from
/// `mqtt_client_poll_timeout`. Calling it early does nothing.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_handle_timeout(
    c: *mut mqtt_client,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(c, |h| {
            h.client.handle_timeout(now_ms);
            Ok(())
        })
    }
}

/// Tells the client that the driver stopped reading the transport
/// (`paused` non-zero: backpressure, the application's buffer is full) or
/// reads again (`paused` 0). While paused, PINGREQ still goes out every
/// keep alive and a PINGRESP that may be waiting unread is not a keep
/// alive timeout; on resume the wait for it starts again from `now_ms`. A
/// new connection starts unpaused.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_set_input_paused(
    c: *mut mqtt_client,
    now_ms: u64,
    paused: u8,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(c, |h| {
            h.client.set_input_paused(now_ms, paused != 0);
            Ok(())
        })
    }
}

/// The transport closed or failed. The session stays for the next
/// `mqtt_client_connect`; unsent bytes are discarded.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_transport_closed(
    c: *mut mqtt_client,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(c, |h| {
            h.pending = Bytes::new();
            h.client.handle_transport_closed(now_ms);
            Ok(())
        })
    }
}

// ----- outputs ---------------------------------------------------------------

/// Copies up to `cap` bytes to send into `buf` and stores how many in
/// `*written` (0: nothing to send). The output is a byte stream: call it
/// until `*written` is 0. `buf` may be NULL only when `cap` is 0.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_poll_transmit(
    c: *mut mqtt_client,
    buf: *mut u8,
    cap: usize,
    written: *mut usize,
) -> mqtt_status {
    if written.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `written` checked non-NULL and writable.
    unsafe { written.write(0) };
    // SAFETY: `c` checked by with_handle; `buf` holds `cap` writable bytes
    // by the caller's promise (NULL checked).
    unsafe {
        with_handle(c, |h| {
            let out = out_buf(buf, cap)?;
            let mut n = h.pending.len().min(cap);
            out[..n].copy_from_slice(&h.pending[..n]);
            bytes::Buf::advance(&mut h.pending, n);
            if n < cap {
                n += h.client.poll_transmit(&mut out[n..]);
            }
            written.write(n);
            Ok(())
        })
    }
}

/// Stores in `*len` how many bytes are ready to send now: a buffer of that
/// size takes them in one `mqtt_client_poll_transmit`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_transmit_len(
    c: *mut mqtt_client,
    len: *mut usize,
) -> mqtt_status {
    if len.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `c` checked by with_handle; `len` checked non-NULL.
    unsafe {
        with_handle(c, |h| {
            if h.pending.is_empty() {
                // Takes what the client has, pending packets included, so
                // the number is exact.
                h.pending = h.client.take_transmit();
            }
            len.write(h.pending.len() + h.client.transmit_len());
            Ok(())
        })
    }
}

/// Stores in `*deadline` the time (same clock as `now_ms`) at which
/// `mqtt_client_handle_timeout` must be called, or `MQTT_NO_DEADLINE`
/// (`UINT64_MAX`) when there is none.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_poll_timeout(
    c: *mut mqtt_client,
    deadline: *mut u64,
) -> mqtt_status {
    if deadline.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `c` checked by with_handle; `deadline` checked non-NULL.
    unsafe {
        with_handle(c, |h| {
            deadline.write(h.client.poll_timeout().unwrap_or(MQTT_NO_DEADLINE));
            Ok(())
        })
    }
}

// ----- events ---------------------------------------------------------------

/// What an `mqtt_event` reports.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_event_kind {
    /// No event: nothing more to read now.
    MQTT_EVENT_NONE = 0,
    /// CONNACK accepted the connection: `session_present`, `reason_code`,
    /// `client_id` (assigned or ours), `keep_alive` (the server's if it set
    /// one), CONNACK `properties`.
    MQTT_EVENT_CONNECTED = 1,
    /// The connection ended: `disconnect_reason`, `reason_code` when
    /// there is one, `properties` of the CONNACK or DISCONNECT, `text`.
    MQTT_EVENT_DISCONNECTED = 2,
    /// A message arrived: `message`, PUBLISH `properties`.
    MQTT_EVENT_MESSAGE = 3,
    /// A QoS 1 or 2 publish was acknowledged: `publish_id`, `reason_code`,
    /// acknowledgement `properties`.
    MQTT_EVENT_PUBLISH_COMPLETED = 4,
    /// A publish will never go out: `publish_id`, `drop_reason`.
    MQTT_EVENT_PUBLISH_DROPPED = 5,
    /// A publish was requeued under a new id after the session was lost:
    /// `old_publish_id`, `publish_id`.
    MQTT_EVENT_PUBLISH_REQUEUED = 6,
    /// SUBACK: `packet_id`, `reason_codes` (one per filter), `properties`.
    MQTT_EVENT_SUBSCRIBED = 7,
    /// UNSUBACK: `packet_id`, `reason_codes` (5.0; empty in 3.1.1),
    /// `properties`.
    MQTT_EVENT_UNSUBSCRIBED = 8,
    /// The server sent AUTH during enhanced authentication: `reason_code`,
    /// AUTH `properties`.
    MQTT_EVENT_AUTH_CHALLENGE = 9,
    /// Re-authentication succeeded: `reason_code`, AUTH `properties`.
    MQTT_EVENT_REAUTHENTICATED = 10,
    /// PINGRESP arrived.
    MQTT_EVENT_PONG = 11,
}

/// Why the connection ended (`MQTT_EVENT_DISCONNECTED`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_disconnect_reason {
    /// Not a disconnection event.
    MQTT_DISCONNECT_NONE = 0,
    /// CONNACK refused the connection (`reason_code`).
    MQTT_DISCONNECT_REFUSED = 1,
    /// The server sent DISCONNECT (`reason_code`).
    MQTT_DISCONNECT_BY_SERVER = 2,
    /// The server broke the protocol; we sent DISCONNECT with
    /// `reason_code` (5.0). `text` says what happened.
    MQTT_DISCONNECT_PROTOCOL_VIOLATION = 3,
    /// No PINGRESP in time.
    MQTT_DISCONNECT_KEEP_ALIVE_TIMEOUT = 4,
    /// No CONNACK in time.
    MQTT_DISCONNECT_CONNECT_TIMEOUT = 5,
    /// `mqtt_client_transport_closed` was called.
    MQTT_DISCONNECT_TRANSPORT_CLOSED = 6,
    /// `mqtt_client_disconnect` was called.
    MQTT_DISCONNECT_LOCAL = 7,
}

/// A received application message (`MQTT_EVENT_MESSAGE`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_message {
    /// The topic name (topic aliases already resolved).
    pub topic: mqtt_bytes_view,
    /// The payload.
    pub payload: mqtt_bytes_view,
    /// QoS 0, 1 or 2.
    pub qos: u8,
    /// RETAIN.
    pub retain: bool,
    /// DUP.
    pub dup: bool,
    /// The packet identifier (0 for QoS 0).
    pub packet_id: u16,
    /// Whether `ack_token` is set (QoS 1 and 2 with `manual_ack`).
    pub has_ack_token: bool,
    /// Pass to `mqtt_client_acknowledge` to acknowledge the message.
    pub ack_token: u64,
}

/// An event, written by `mqtt_client_poll_event`. `kind` says which
/// fields mean something; the others are zero / absent. Every view
/// borrows from the handle and is valid until the next call on it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_event {
    /// What happened.
    pub kind: mqtt_event_kind,
    /// Whether `reason_code` is set.
    pub has_reason_code: bool,
    /// The reason code of the CONNACK, DISCONNECT, acknowledgement or AUTH.
    pub reason_code: mqtt_reason_code,
    /// Session Present of CONNACK.
    pub session_present: bool,
    /// The keep alive in force, seconds (`MQTT_EVENT_CONNECTED`).
    pub keep_alive: u16,
    /// The client identifier in use (`MQTT_EVENT_CONNECTED`).
    pub client_id: mqtt_bytes_view,
    /// Why the connection ended (`MQTT_EVENT_DISCONNECTED`).
    pub disconnect_reason: mqtt_disconnect_reason,
    /// Why a publish was dropped (`MQTT_EVENT_PUBLISH_DROPPED`).
    pub drop_reason: mqtt_drop_reason,
    /// The publish concerned (completed, dropped, requeued: the new id).
    pub publish_id: u64,
    /// The old id of a requeued publish.
    pub old_publish_id: u64,
    /// The packet identifier of a SUBACK or UNSUBACK.
    pub packet_id: u16,
    /// SUBACK / UNSUBACK reason codes, one byte (`mqtt_reason_code`) per
    /// filter.
    pub reason_codes: mqtt_bytes_view,
    /// The received message (`MQTT_EVENT_MESSAGE`).
    pub message: mqtt_message,
    /// The 5.0 properties of the packet behind the event.
    pub properties: mqtt_properties,
    /// A human-readable explanation (disconnection), UTF-8.
    pub text: mqtt_bytes_view,
}

impl mqtt_event {
    const NONE: Self = mqtt_event {
        kind: mqtt_event_kind::MQTT_EVENT_NONE,
        has_reason_code: false,
        reason_code: mqtt_reason_code::MQTT_RC_SUCCESS,
        session_present: false,
        keep_alive: 0,
        client_id: mqtt_bytes_view::NONE,
        disconnect_reason: mqtt_disconnect_reason::MQTT_DISCONNECT_NONE,
        drop_reason: mqtt_drop_reason::MQTT_DROP_NONE,
        publish_id: 0,
        old_publish_id: 0,
        packet_id: 0,
        reason_codes: mqtt_bytes_view::NONE,
        message: mqtt_message {
            topic: mqtt_bytes_view::NONE,
            payload: mqtt_bytes_view::NONE,
            qos: 0,
            retain: false,
            dup: false,
            packet_id: 0,
            has_ack_token: false,
            ack_token: 0,
        },
        properties: mqtt_properties::EMPTY,
        text: mqtt_bytes_view::NONE,
    };

    fn with_code(mut self, code: ReasonCode) -> Self {
        self.has_reason_code = true;
        self.reason_code = mqtt_reason_code::from_core(code);
        self
    }
}

fn s(v: &Option<MqttString>) -> mqtt_bytes_view {
    mqtt_bytes_view::of_opt(v.as_ref().map(MqttString::as_bytes))
}

fn b(v: &Option<Bytes>) -> mqtt_bytes_view {
    mqtt_bytes_view::of_opt(v.as_deref())
}

/// The views of user properties, kept in `store` (cleared first).
fn user_views(store: &mut Vec<mqtt_user_property>, props: &[UserProperty]) -> mqtt_user_properties {
    store.clear();
    store.extend(props.iter().map(|p| mqtt_user_property {
        key: mqtt_bytes_view::of(p.key.as_bytes()),
        value: mqtt_bytes_view::of(p.value.as_bytes()),
    }));
    if store.is_empty() {
        return mqtt_user_properties::EMPTY;
    }
    mqtt_user_properties {
        ptr: store.as_ptr(),
        len: store.len(),
    }
}

fn connack_props(p: &ConnAckProperties, store: &mut Vec<mqtt_user_property>) -> mqtt_properties {
    mqtt_properties {
        session_expiry_interval: p.session_expiry_interval.into(),
        receive_maximum: p.receive_maximum.into(),
        maximum_qos: p.maximum_qos.map(|q| q.as_u8()).into(),
        retain_available: flag(p.retain_available),
        maximum_packet_size: p.maximum_packet_size.into(),
        assigned_client_identifier: s(&p.assigned_client_identifier),
        topic_alias_maximum: p.topic_alias_maximum.into(),
        reason_string: s(&p.reason_string),
        wildcard_subscription_available: flag(p.wildcard_subscription_available),
        subscription_identifiers_available: flag(p.subscription_identifiers_available),
        shared_subscription_available: flag(p.shared_subscription_available),
        server_keep_alive: p.server_keep_alive.into(),
        response_information: s(&p.response_information),
        server_reference: s(&p.server_reference),
        authentication_method: s(&p.authentication_method),
        authentication_data: b(&p.authentication_data),
        user_properties: user_views(store, &p.user_properties),
        ..mqtt_properties::EMPTY
    }
}

fn disconnect_props(
    p: &DisconnectProperties,
    store: &mut Vec<mqtt_user_property>,
) -> mqtt_properties {
    mqtt_properties {
        session_expiry_interval: p.session_expiry_interval.into(),
        reason_string: s(&p.reason_string),
        server_reference: s(&p.server_reference),
        user_properties: user_views(store, &p.user_properties),
        ..mqtt_properties::EMPTY
    }
}

fn ack_props(p: &AckProperties, store: &mut Vec<mqtt_user_property>) -> mqtt_properties {
    mqtt_properties {
        reason_string: s(&p.reason_string),
        user_properties: user_views(store, &p.user_properties),
        ..mqtt_properties::EMPTY
    }
}

fn auth_props(p: &AuthProperties, store: &mut Vec<mqtt_user_property>) -> mqtt_properties {
    mqtt_properties {
        authentication_method: s(&p.authentication_method),
        authentication_data: b(&p.authentication_data),
        reason_string: s(&p.reason_string),
        user_properties: user_views(store, &p.user_properties),
        ..mqtt_properties::EMPTY
    }
}

fn publish_props(p: &PublishProperties, store: &mut Vec<mqtt_user_property>) -> mqtt_properties {
    mqtt_properties {
        payload_format_indicator: flag(p.payload_format_indicator),
        message_expiry_interval: p.message_expiry_interval.into(),
        topic_alias: p.topic_alias.into(),
        response_topic: s(&p.response_topic),
        correlation_data: b(&p.correlation_data),
        content_type: s(&p.content_type),
        subscription_identifiers: if p.subscription_identifiers.is_empty() {
            core::ptr::null()
        } else {
            p.subscription_identifiers.as_ptr()
        },
        subscription_identifiers_len: p.subscription_identifiers.len(),
        user_properties: user_views(store, &p.user_properties),
        ..mqtt_properties::EMPTY
    }
}

impl mqtt_client {
    /// The C view of the current event.
    fn event_view(&mut self) -> mqtt_event {
        let Some(event) = &self.event else {
            return mqtt_event::NONE;
        };
        let store = &mut self.user_properties;
        let mut ev = mqtt_event::NONE;
        match event {
            Event::Connected(c) => {
                ev = ev.with_code(c.connack.reason_code);
                ev.kind = mqtt_event_kind::MQTT_EVENT_CONNECTED;
                crate::platform::log(
                    crate::MQTT_LOG_INFO,
                    if c.session_present {
                        b"connected, session resumed"
                    } else {
                        b"connected, new session"
                    },
                );
                ev.session_present = c.session_present;
                ev.keep_alive = c.keep_alive;
                ev.client_id = mqtt_bytes_view::of(c.client_id.as_bytes());
                ev.properties = connack_props(&c.connack.properties, store);
            }
            Event::Disconnected(reason) => {
                use mqtt_disconnect_reason as D;
                if let Some(code) = reason.reason_code() {
                    ev = ev.with_code(code);
                }
                ev.kind = mqtt_event_kind::MQTT_EVENT_DISCONNECTED;
                self.text.clear();
                ev.disconnect_reason = match reason {
                    DisconnectReason::Refused(c) => {
                        ev.properties = connack_props(&c.properties, store);
                        self.text = code_text("connection refused", c.reason_code);
                        D::MQTT_DISCONNECT_REFUSED
                    }
                    DisconnectReason::ByServer(d) => {
                        ev.properties = disconnect_props(&d.properties, store);
                        self.text = code_text("disconnected by the server", d.reason_code);
                        D::MQTT_DISCONNECT_BY_SERVER
                    }
                    DisconnectReason::ProtocolViolation(v) => {
                        self.text = detail_text("protocol violation", v);
                        D::MQTT_DISCONNECT_PROTOCOL_VIOLATION
                    }
                    DisconnectReason::KeepAliveTimeout => {
                        self.text = "no PINGRESP in time".into();
                        D::MQTT_DISCONNECT_KEEP_ALIVE_TIMEOUT
                    }
                    DisconnectReason::ConnectTimeout => {
                        self.text = "no CONNACK in time".into();
                        D::MQTT_DISCONNECT_CONNECT_TIMEOUT
                    }
                    DisconnectReason::TransportClosed => {
                        self.text = "transport closed".into();
                        D::MQTT_DISCONNECT_TRANSPORT_CLOSED
                    }
                    _ => {
                        self.text = "disconnected locally".into();
                        D::MQTT_DISCONNECT_LOCAL
                    }
                };
                crate::platform::log(crate::MQTT_LOG_INFO, self.text.as_bytes());
                ev.text = mqtt_bytes_view::of(self.text.as_bytes());
            }
            Event::Message(m) => {
                let p = &m.publish;
                ev.kind = mqtt_event_kind::MQTT_EVENT_MESSAGE;
                ev.message = mqtt_message {
                    topic: mqtt_bytes_view::of(p.topic.as_bytes()),
                    payload: mqtt_bytes_view::of(&p.payload),
                    qos: p.qos.as_u8(),
                    retain: p.retain,
                    dup: p.dup,
                    packet_id: p.packet_id,
                    has_ack_token: m.ack_token.is_some(),
                    ack_token: m.ack_token.map_or(0, |t| t.0),
                };
                ev.properties = publish_props(&p.properties, store);
            }
            Event::PublishCompleted {
                id,
                reason_code,
                properties,
            } => {
                ev = ev.with_code(*reason_code);
                ev.kind = mqtt_event_kind::MQTT_EVENT_PUBLISH_COMPLETED;
                ev.publish_id = id.0;
                ev.properties = ack_props(properties, store);
            }
            Event::PublishDropped { id, reason } => {
                use mqtt_drop_reason as R;
                ev.kind = mqtt_event_kind::MQTT_EVENT_PUBLISH_DROPPED;
                ev.publish_id = id.0;
                ev.drop_reason = match reason {
                    DropReason::Expired => R::MQTT_DROP_EXPIRED,
                    DropReason::QueueFull => R::MQTT_DROP_QUEUE_FULL,
                    DropReason::SessionLost => R::MQTT_DROP_SESSION_LOST,
                    DropReason::PacketTooLarge => R::MQTT_DROP_PACKET_TOO_LARGE,
                    _ => R::MQTT_DROP_NOT_SUPPORTED,
                };
            }
            Event::PublishRequeued { old, new } => {
                ev.kind = mqtt_event_kind::MQTT_EVENT_PUBLISH_REQUEUED;
                ev.old_publish_id = old.0;
                ev.publish_id = new.0;
            }
            Event::Subscribed {
                packet_id,
                reason_codes,
                properties,
            }
            | Event::Unsubscribed {
                packet_id,
                reason_codes,
                properties,
            } => {
                ev.kind = if matches!(event, Event::Subscribed { .. }) {
                    mqtt_event_kind::MQTT_EVENT_SUBSCRIBED
                } else {
                    mqtt_event_kind::MQTT_EVENT_UNSUBSCRIBED
                };
                ev.packet_id = *packet_id;
                self.reason_codes.clear();
                self.reason_codes
                    .extend(reason_codes.iter().map(|c| c.as_u8()));
                ev.reason_codes = mqtt_bytes_view::of(&self.reason_codes);
                ev.properties = ack_props(properties, store);
            }
            Event::AuthChallenge(a) | Event::Reauthenticated(a) => {
                ev = ev.with_code(a.reason_code);
                ev.kind = if matches!(event, Event::AuthChallenge(_)) {
                    mqtt_event_kind::MQTT_EVENT_AUTH_CHALLENGE
                } else {
                    mqtt_event_kind::MQTT_EVENT_REAUTHENTICATED
                };
                ev.properties = auth_props(&a.properties, store);
            }
            Event::Pong => ev.kind = mqtt_event_kind::MQTT_EVENT_PONG,
            _ => {}
        }
        ev
    }
}

/// Writes the next event to `*out`; `out->kind` is `MQTT_EVENT_NONE` when
/// there is none. Its views are valid until the next call on this handle.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_poll_event(
    c: *mut mqtt_client,
    out: *mut mqtt_event,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `c` checked by with_handle; `out` checked non-NULL.
    unsafe {
        with_handle(c, |h| {
            loop {
                h.event = h.client.poll_event();
                let ev = h.event_view();
                // An event kind this version of the C API does not know is
                // skipped rather than reported as NONE.
                if ev.kind != mqtt_event_kind::MQTT_EVENT_NONE || h.event.is_none() {
                    out.write(ev);
                    return Ok(());
                }
            }
        })
    }
}

// ----- commands ---------------------------------------------------------------

/// Publishes a message: sent at once when connected and the window
/// allows, otherwise queued. `*publish_id` (NULL allowed) names it in
/// later `MQTT_EVENT_PUBLISH_COMPLETED` / `_DROPPED` events; QoS 0 has no
/// completion event.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_publish(
    c: *mut mqtt_client,
    options: *const mqtt_publish_options,
    now_ms: u64,
    publish_id: *mut u64,
) -> mqtt_status {
    if options.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `c` checked by with_handle; `options` non-NULL and valid, its
    // views as slice_arg, `publish_id` NULL or writable (the caller's
    // promise).
    unsafe {
        with_handle(c, |h| {
            let o = &*options;
            let id = if without_properties(o) {
                // Topic and payload borrowed: a QoS 0 message that goes
                // out at once is encoded from them with no allocation.
                let topic = view_str(o.topic, "topic")?;
                let payload = view_bytes(o.payload).map_err(bare)?;
                h.client
                    .publish_slice(now_ms, topic, payload, qos_arg(o.qos)?, o.retain)
                    .map_err(client_error)?
            } else {
                // The client assigns the packet identifier; 1 is a
                // placeholder.
                let publish = publish_arg(o, 1, false)?;
                h.client.publish(now_ms, publish).map_err(client_error)?
            };
            put(publish_id, id.0);
            Ok(())
        })
    }
}

/// Whether a PUBLISH's options carry no 5.0 property at all.
fn without_properties(o: &mqtt_publish_options) -> bool {
    let none = |v: mqtt_bytes_view| v.ptr.is_null() && v.len == 0;
    !o.payload_format_indicator.present
        && !o.message_expiry_interval.present
        && none(o.content_type)
        && none(o.response_topic)
        && none(o.correlation_data)
        && o.user_properties.len == 0
}

/// Subscribes; `*packet_id` (NULL allowed) is the identifier the
/// `MQTT_EVENT_SUBSCRIBED` event will carry. Queued while disconnected.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_subscribe(
    c: *mut mqtt_client,
    options: *const mqtt_subscribe_options,
    now_ms: u64,
    packet_id: *mut u16,
) -> mqtt_status {
    if options.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: as mqtt_client_publish.
    unsafe {
        with_handle(c, |h| {
            let o = &*options;
            let items = slice_arg(o.filters, o.filters_len).map_err(bare)?;
            if items.is_empty() {
                return Err(invalid("SUBSCRIBE needs at least one filter"));
            }
            let mut filters = Vec::with_capacity(items.len());
            for f in items {
                let filter = view_str(f.filter, "topic filter")?;
                let retain_handling = match f.retain_handling {
                    0 => RetainHandling::SendAtSubscribe,
                    1 => RetainHandling::SendAtSubscribeIfNew,
                    2 => RetainHandling::DoNotSend,
                    r => return Err(invalid(text!("retain_handling {r} is not 0, 1 or 2"))),
                };
                let options = SubscriptionOptions {
                    qos: qos_arg(f.qos)?,
                    ..SubscriptionOptions::default()
                }
                .with_no_local(f.no_local)
                .with_retain_as_published(f.retain_as_published)
                .with_retain_handling(retain_handling);
                filters.push(
                    SubscribeFilter::new(filter, options)
                        .map_err(|e| invalid(detail_text("filter", &e)))?,
                );
            }
            let mut subscribe = Subscribe::new(1, filters);
            if let Some(id) = o.subscription_identifier.get() {
                subscribe = subscribe.with_subscription_identifier(id);
            }
            subscribe.properties.user_properties = user_properties_arg(o.user_properties)?;
            let id = h
                .client
                .subscribe(now_ms, subscribe)
                .map_err(client_error)?;
            put(packet_id, id);
            Ok(())
        })
    }
}

/// Unsubscribes; `*packet_id` (NULL allowed) is the identifier the
/// `MQTT_EVENT_UNSUBSCRIBED` event will carry. Queued while disconnected.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_unsubscribe(
    c: *mut mqtt_client,
    options: *const mqtt_unsubscribe_options,
    now_ms: u64,
    packet_id: *mut u16,
) -> mqtt_status {
    if options.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: as mqtt_client_publish.
    unsafe {
        with_handle(c, |h| {
            let o = &*options;
            let items = slice_arg(o.filters, o.filters_len).map_err(bare)?;
            if items.is_empty() {
                return Err(invalid("UNSUBSCRIBE needs at least one filter"));
            }
            let mut filters = Vec::with_capacity(items.len());
            for f in items {
                filters.push(mqtt_string(*f, "topic filter")?);
            }
            let mut unsubscribe = Unsubscribe::new(1, filters);
            unsubscribe.properties.user_properties = user_properties_arg(o.user_properties)?;
            let id = h
                .client
                .unsubscribe(now_ms, unsubscribe)
                .map_err(client_error)?;
            put(packet_id, id);
            Ok(())
        })
    }
}

/// A DISCONNECT (5.0 fields; 3.1.1 sends an empty DISCONNECT).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_disconnect_options {
    /// The reason code (`mqtt_reason_code`): 0x00 normal, 0x04 publish the
    /// will.
    pub reason_code: u8,
    /// Session Expiry Interval, seconds.
    pub session_expiry_interval: mqtt_opt_u32,
    /// Reason String (NULL: absent).
    pub reason_string: mqtt_bytes_view,
    /// User Properties.
    pub user_properties: mqtt_user_properties,
}

/// Ends the connection normally: queues DISCONNECT and reports
/// `MQTT_EVENT_DISCONNECTED` (`MQTT_DISCONNECT_LOCAL`). Send the remaining
/// bytes, then close the transport. `options` may be NULL (normal
/// disconnection). `MQTT_STATUS_NOT_CONNECTED` when there is no
/// connection.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_disconnect(
    c: *mut mqtt_client,
    options: *const mqtt_disconnect_options,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: as mqtt_client_publish; `options` may be NULL.
    unsafe {
        with_handle(c, |h| {
            let mut d = Disconnect::new(ReasonCode::Success);
            if !options.is_null() {
                let o = &*options;
                d.reason_code = code_arg(o.reason_code)?;
                d.properties.session_expiry_interval = o.session_expiry_interval.get();
                d.properties.reason_string = opt_mqtt_string(o.reason_string, "reason string")?;
                d.properties.user_properties = user_properties_arg(o.user_properties)?;
            }
            h.client.disconnect(now_ms, d).map_err(client_error)
        })
    }
}

/// Sends AUTH (5.0 enhanced authentication) with `data` as the
/// Authentication Data (NULL: none) and the method of the options: the
/// answer to `MQTT_EVENT_AUTH_CHALLENGE`, or, when connected, the start of
/// a re-authentication. `reason_string` (NULL: none) and `user_properties`
/// go in the AUTH properties. `MQTT_STATUS_INVALID_STATE` in 3.1.1,
/// without an authentication method, or with nothing to answer.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_authenticate(
    c: *mut mqtt_client,
    data: mqtt_bytes_view,
    reason_string: mqtt_bytes_view,
    user_properties: mqtt_user_properties,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: `c` checked by with_handle; the views as slice_arg.
    unsafe {
        with_handle(c, |h| {
            let data = opt_binary(data, "authentication data")?;
            let mut props = AuthProperties::default();
            props.reason_string = opt_mqtt_string(reason_string, "reason string")?;
            props.user_properties = user_properties_arg(user_properties)?;
            h.client
                .authenticate(now_ms, data, props)
                .map_err(client_error)
        })
    }
}

/// Acknowledges a message received with `manual_ack` (its
/// `message.ack_token`). Acknowledgements go out in order of arrival.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_acknowledge(
    c: *mut mqtt_client,
    ack_token: u64,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(c, |h| {
            h.client
                .acknowledge(now_ms, mqtt_core::client::AckToken(ack_token))
                .map_err(client_error)
        })
    }
}

// ----- persistence and statistics ---------------------------------------------

/// Writes the client's session (subscriptions, messages in flight and
/// queued, packet identifiers; the format of the core's
/// `SessionState::to_bytes`) into `buf`, so that QoS 1 and 2 promises
/// survive a reboot: store it (flash, a file) and give it to
/// `mqtt_client_session_import` of a new client with the same options.
/// Works in any state; export again after each change you want to keep.
/// `*written` gets the length; when `cap` is too small it gets the length
/// needed and the status is `MQTT_STATUS_BUFFER_TOO_SMALL` (nothing
/// written). `buf` may be NULL when `cap` is 0.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_session_export(
    c: *mut mqtt_client,
    buf: *mut u8,
    cap: usize,
    written: *mut usize,
) -> mqtt_status {
    if written.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked by with_handle; `buf` holds `cap` bytes and
    // `written` is writable by the caller's promise.
    unsafe {
        with_handle(c, |h| {
            let out = out_buf(buf, cap)?;
            let bytes = h
                .client
                .export_session()
                .to_bytes()
                .map_err(|e| invalid(detail_text("session", &e)))?;
            written.write(bytes.len());
            if bytes.len() > out.len() {
                return Err(bare(mqtt_status::MQTT_STATUS_BUFFER_TOO_SMALL));
            }
            out[..bytes.len()].copy_from_slice(&bytes);
            Ok(())
        })
    }
}

/// Restores a session written by `mqtt_client_session_export` into a
/// client that has not connected yet (or is disconnected). Messages that
/// were in flight are sent again (PUBLISH with DUP, PUBREL) after the next
/// CONNACK that resumes the session. Bytes that are not a whole session
/// (damaged, cut short) are `MQTT_STATUS_INVALID_ARGUMENT` and change
/// nothing; while connected it is `MQTT_STATUS_INVALID_STATE`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_session_import(
    c: *mut mqtt_client,
    now_ms: u64,
    buf: *const u8,
    len: usize,
) -> mqtt_status {
    // SAFETY: checked by with_handle; `buf` holds `len` bytes by the
    // caller's promise.
    unsafe {
        with_handle(c, |h| {
            let bytes = slice_arg(buf, len).map_err(bare)?;
            let state = mqtt_core::client::SessionState::from_bytes(bytes)
                .map_err(|e| invalid(detail_text("session bytes", &e)))?;
            h.client.import_session(now_ms, state).map_err(client_error)
        })
    }
}

/// Counters of a client since it was created (`mqtt_client_get_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mqtt_client_stats {
    /// Packets encoded for sending.
    pub packets_sent: u64,
    /// Packets received and decoded.
    pub packets_received: u64,
    /// Bytes encoded for sending.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// PUBLISH packets sent, by QoS (retransmissions included).
    pub messages_sent: [u64; 3],
    /// PUBLISH packets received, by QoS (duplicates included).
    pub messages_received: [u64; 3],
    /// PUBLISH (DUP) and PUBREL packets sent again on session resume.
    pub retransmits: u64,
    /// Connections that reached CONNACK Success.
    pub connections: u64,
    /// QoS 1 and 2 publishes in flight now.
    pub inflight: u32,
    /// Commands waiting to be sent now.
    pub queued: u32,
}

/// Fills `*out` with the client's counters.
#[no_mangle]
pub unsafe extern "C" fn mqtt_client_get_stats(
    c: *mut mqtt_client,
    out: *mut mqtt_client_stats,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked by with_handle; `out` checked non-NULL, writable by
    // the caller's promise.
    unsafe {
        with_handle(c, |h| {
            let s = h.client.stats();
            out.write(mqtt_client_stats {
                packets_sent: s.packets_sent,
                packets_received: s.packets_received,
                bytes_sent: s.bytes_sent,
                bytes_received: s.bytes_received,
                messages_sent: s.messages_sent,
                messages_received: s.messages_received,
                retransmits: s.retransmits,
                connections: s.connections,
                inflight: s.inflight,
                queued: s.queued,
            });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_client() -> *mut mqtt_client {
        let mut o = core::mem::MaybeUninit::<mqtt_client_options>::uninit();
        let mut c = core::ptr::null_mut();
        // SAFETY: valid pointers to locals.
        unsafe {
            assert_eq!(
                mqtt_client_options_default(o.as_mut_ptr()),
                mqtt_status::MQTT_STATUS_OK
            );
            let mut o = o.assume_init();
            o.client_id = mqtt_bytes_view::of(b"rust-test");
            assert_eq!(mqtt_client_new(&o, &mut c), mqtt_status::MQTT_STATUS_OK);
        }
        assert!(!c.is_null());
        c
    }

    #[test]
    fn transmit_len_is_exact_and_poll_transmit_streams_it() {
        let c = new_client();
        let mut len = 0usize;
        let mut buf = [0u8; 3];
        let mut all = Vec::new();
        // SAFETY: a live handle and valid out pointers.
        unsafe {
            assert_eq!(mqtt_client_connect(c, 0), mqtt_status::MQTT_STATUS_OK);
            assert_eq!(
                mqtt_client_transmit_len(c, &mut len),
                mqtt_status::MQTT_STATUS_OK
            );
            assert!(len > 10);
            loop {
                let mut n = 0;
                let status = mqtt_client_poll_transmit(c, buf.as_mut_ptr(), buf.len(), &mut n);
                assert_eq!(status, mqtt_status::MQTT_STATUS_OK);
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
            }
            mqtt_client_free(c);
        }
        assert_eq!(all.len(), len);
        assert_eq!(all[0], 0x10, "CONNECT");
    }

    #[test]
    fn receive_maximum_zero_is_refused() {
        let mut o = core::mem::MaybeUninit::<mqtt_client_options>::uninit();
        let mut c = core::ptr::null_mut();
        // SAFETY: valid pointers to locals.
        unsafe {
            mqtt_client_options_default(o.as_mut_ptr());
            let mut o = o.assume_init();
            o.receive_maximum = 0;
            assert_eq!(
                mqtt_client_new(&o, &mut c),
                mqtt_status::MQTT_STATUS_INVALID_ARGUMENT
            );
        }
        assert!(c.is_null());
    }

    #[test]
    fn event_views_point_into_the_handle() {
        let c = new_client();
        let mut ev = core::mem::MaybeUninit::<mqtt_event>::uninit();
        // SAFETY: a live handle, valid pointers; the views are read before
        // the next call on the handle.
        unsafe {
            mqtt_client_connect(c, 0);
            let connack = [0x20, 0x03, 0x00, 0x00, 0x00];
            mqtt_client_handle_input(c, connack.as_ptr(), connack.len(), 1);
            assert_eq!(
                mqtt_client_poll_event(c, ev.as_mut_ptr()),
                mqtt_status::MQTT_STATUS_OK
            );
            let ev = ev.assume_init();
            assert_eq!(ev.kind, mqtt_event_kind::MQTT_EVENT_CONNECTED);
            let id = core::slice::from_raw_parts(ev.client_id.ptr, ev.client_id.len);
            assert_eq!(id, b"rust-test");
            mqtt_client_free(c);
        }
    }
}
