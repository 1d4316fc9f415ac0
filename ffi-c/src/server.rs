//! The server role for one connection: an opaque `mqtt_server` handle
//! over the core's sans-IO `ServerConnection`, for applications that
//! write their own broker logic (or a gateway) instead of using
//! `mqtt_broker`. The caller decides: it accepts or rejects CONNECT,
//! answers SUBSCRIBE and UNSUBSCRIBE, acknowledges messages (when
//! `manual_ack`) and publishes to the client.

use crate::prelude::*;
use mqtt_core::codec::{
    AckProperties, ConnAckProperties, DecodeOptions, DisconnectProperties, MqttString, Packet,
    PacketRef, ProtocolVersion, Publish, ReasonCode, Will,
};
use mqtt_core::server::{
    Accept, CloseReason, DropReason, ServerConnection, ServerError, ServerEvent,
};

use crate::codec::{mqtt_packet_view, view_of};
use crate::types::*;
use crate::{free_handle, last_error_of, new_handle, with_handle, Handle, HandleState};
use crate::{mqtt_broker_options, mqtt_status};

/// One server-side connection. Opaque; create it with `mqtt_server_new`
/// for each accepted transport, destroy it with `mqtt_server_free`. Use it
/// from one thread at a time.
pub struct mqtt_server {
    server: ServerConnection,
    /// The packet behind the current event, encoded; the event's views
    /// point into it.
    event_bytes: Vec<u8>,
    text: String,
    state: HandleState,
}

impl Handle for mqtt_server {
    fn state(&self) -> &HandleState {
        &self.state
    }
    fn state_mut(&mut self) -> &mut HandleState {
        &mut self.state
    }
    fn forget_borrowed(&mut self) {
        self.event_bytes.clear();
    }
}

fn server_error(e: ServerError) -> Failure {
    let status = match &e {
        ServerError::Invalid(_)
        | ServerError::InvalidReasonCode(_)
        | ServerError::ReasonCodeCount { .. }
        | ServerError::MissingClientId => mqtt_status::MQTT_STATUS_INVALID_ARGUMENT,
        ServerError::PacketTooLarge { .. } => mqtt_status::MQTT_STATUS_PACKET_TOO_LARGE,
        ServerError::QueueFull => mqtt_status::MQTT_STATUS_QUEUE_FULL,
        ServerError::NoPacketIdentifier => mqtt_status::MQTT_STATUS_NO_PACKET_IDENTIFIER,
        ServerError::NotConnected => mqtt_status::MQTT_STATUS_NOT_CONNECTED,
        _ => mqtt_status::MQTT_STATUS_INVALID_STATE,
    };
    (status, error_text(&e, status))
}

/// Creates a server connection for a freshly accepted transport (its
/// connect timeout starts at `now_ms`) and stores it in `*out` (NULL on
/// error). `options` (NULL: the defaults) gives the capabilities and
/// limits announced to and enforced on the client: only the
/// per-connection fields of `mqtt_broker_options` (`receive_maximum` to
/// `max_input_before_accept`) are read. With `manual_ack`, each received
/// QoS 1 and 2 message waits for `mqtt_server_acknowledge`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_new(
    options: *const mqtt_broker_options,
    manual_ack: bool,
    now_ms: u64,
    out: *mut *mut mqtt_server,
) -> mqtt_status {
    let make = || {
        let mut opts = if options.is_null() {
            mqtt_core::server::ServerOptions::new()
        } else {
            // SAFETY: checked non-NULL; valid by the caller's promise.
            crate::broker::server_options(unsafe { &*options }).map_err(|(s, _)| s)?
        };
        opts.manual_ack = manual_ack;
        let mut server = ServerConnection::new(opts);
        server.handle_timeout(now_ms);
        Ok(mqtt_server {
            server,
            event_bytes: Vec::new(),
            text: String::new(),
            state: HandleState::default(),
        })
    };
    // SAFETY: `out` as new_handle.
    unsafe { new_handle(out, make) }
}

/// Destroys a server connection. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_free(s: *mut mqtt_server) {
    // SAFETY: forwarded (the caller's promise).
    unsafe { free_handle(s) }
}

/// The text of the last error returned on this handle, as a view valid
/// until the next call on the handle (empty if none).
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_last_error(
    s: *const mqtt_server,
    out: *mut mqtt_bytes_view,
) -> mqtt_status {
    // SAFETY: forwarded (the caller's promise).
    unsafe { last_error_of(s, out) }
}

// ----- inputs and outputs ------------------------------------------------------

/// Feeds `len` bytes received from the client (any chunking).
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_handle_input(
    s: *mut mqtt_server,
    data: *const u8,
    len: usize,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: `s` checked by with_handle; `data` holds `len` bytes by the
    // caller's promise, checked by slice_arg.
    unsafe {
        with_handle(s, |h| {
            let data = slice_arg(data, len).map_err(bare)?;
            h.server.handle_input(now_ms, data);
            Ok(())
        })
    }
}

/// The time passed: call it at the deadline of `mqtt_server_poll_timeout`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_handle_timeout(
    s: *mut mqtt_server,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(s, |h| {
            h.server.handle_timeout(now_ms);
            Ok(())
        })
    }
}

/// The transport closed: the will (if due) and `MQTT_SERVER_EVENT_DISCONNECTED`
/// follow as events.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_transport_closed(
    s: *mut mqtt_server,
    now_ms: u64,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(s, |h| {
            h.server.handle_transport_closed(now_ms);
            Ok(())
        })
    }
}

/// Copies up to `cap` bytes to send to the client into `buf` and stores
/// how many in `*written` (0: nothing). A byte stream: call it until
/// `*written` is 0. `buf` may be NULL only when `cap` is 0.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_poll_transmit(
    s: *mut mqtt_server,
    buf: *mut u8,
    cap: usize,
    written: *mut usize,
) -> mqtt_status {
    if written.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL and writable.
    unsafe { written.write(0) };
    // SAFETY: `s` checked by with_handle; `buf` holds `cap` writable bytes
    // by the caller's promise (NULL and the size checked).
    unsafe {
        with_handle(s, |h| {
            let out = out_buf(buf, cap)?;
            if out.is_empty() {
                return Ok(());
            }
            written.write(h.server.poll_transmit(out));
            Ok(())
        })
    }
}

/// Stores in `*deadline` when `mqtt_server_handle_timeout` must be
/// called, or `MQTT_NO_DEADLINE`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_poll_timeout(
    s: *mut mqtt_server,
    deadline: *mut u64,
) -> mqtt_status {
    if deadline.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `s` checked by with_handle; `deadline` checked non-NULL.
    unsafe {
        with_handle(s, |h| {
            deadline.write(h.server.poll_timeout().unwrap_or(MQTT_NO_DEADLINE));
            Ok(())
        })
    }
}

// ----- events ---------------------------------------------------------------

/// What an `mqtt_server_event` reports.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_server_event_kind {
    /// No event.
    MQTT_SERVER_EVENT_NONE = 0,
    /// A valid CONNECT arrived (`packet`): answer with
    /// `mqtt_server_accept` or `mqtt_server_reject`.
    MQTT_SERVER_EVENT_CONNECT = 1,
    /// AUTH arrived (`packet`, 5.0 enhanced authentication).
    MQTT_SERVER_EVENT_AUTH = 2,
    /// A message from the client (`packet`: the PUBLISH, topic alias
    /// resolved). With `manual_ack`, QoS 1 and 2 wait for
    /// `mqtt_server_acknowledge(packet.packet_id)`.
    MQTT_SERVER_EVENT_MESSAGE = 3,
    /// SUBSCRIBE (`packet`): answer with `mqtt_server_suback`.
    MQTT_SERVER_EVENT_SUBSCRIBE = 4,
    /// UNSUBSCRIBE (`packet`): answer with `mqtt_server_unsuback`.
    MQTT_SERVER_EVENT_UNSUBSCRIBE = 5,
    /// A message to the client was acknowledged: `packet_id`,
    /// `reason_code`.
    MQTT_SERVER_EVENT_PUBLISH_COMPLETED = 6,
    /// A message to the client was dropped unsent: `packet_id`,
    /// `drop_reason`.
    MQTT_SERVER_EVENT_PUBLISH_DROPPED = 7,
    /// PINGREQ arrived (PINGRESP was sent).
    MQTT_SERVER_EVENT_PING = 8,
    /// The will must be published now (`packet`: the will as a PUBLISH;
    /// its Will Delay Interval, if any, is the application's to apply).
    MQTT_SERVER_EVENT_WILL = 9,
    /// The connection ended: `close_reason`, `reason_code` when there is
    /// one, `packet` (the client's DISCONNECT, or the refusing CONNACK),
    /// `text`. Send what is left, then close the transport.
    MQTT_SERVER_EVENT_DISCONNECTED = 10,
}

/// Why a server connection ended (`MQTT_SERVER_EVENT_DISCONNECTED`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_close_reason {
    /// Not a disconnection event.
    MQTT_CLOSE_NONE = 0,
    /// The client sent DISCONNECT.
    MQTT_CLOSE_BY_CLIENT = 1,
    /// The client broke the protocol (`reason_code`, `text`).
    MQTT_CLOSE_PROTOCOL_VIOLATION = 2,
    /// Nothing from the client within 1.5 times the keep alive.
    MQTT_CLOSE_KEEP_ALIVE_TIMEOUT = 3,
    /// The connection was not accepted in time.
    MQTT_CLOSE_CONNECT_TIMEOUT = 4,
    /// The connection was refused (`reason_code` of the CONNACK).
    MQTT_CLOSE_REJECTED = 5,
    /// `mqtt_server_transport_closed` was called.
    MQTT_CLOSE_TRANSPORT_CLOSED = 6,
    /// `mqtt_server_disconnect` was called (`reason_code`).
    MQTT_CLOSE_LOCAL = 7,
}

/// An event, written by `mqtt_server_poll_event`. Its views are valid
/// until the next call on the handle.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_server_event {
    /// What happened.
    pub kind: mqtt_server_event_kind,
    /// The packet behind the event (see each kind), as `mqtt_decode`
    /// would show it; `packet.packet_type` is 0 when there is none. Its
    /// accessors (`mqtt_packet_view_filter`, ...) work on it until the
    /// next call on the handle.
    pub packet: mqtt_packet_view,
    /// The packet identifier (`PUBLISH_COMPLETED`, `PUBLISH_DROPPED`).
    pub packet_id: u16,
    /// Whether `reason_code` is set.
    pub has_reason_code: bool,
    /// The reason code (`mqtt_reason_code`).
    pub reason_code: u8,
    /// Why the connection ended (`DISCONNECTED`).
    pub close_reason: mqtt_close_reason,
    /// Why a message was dropped (`PUBLISH_DROPPED`).
    pub drop_reason: mqtt_drop_reason,
    /// A human-readable explanation (`DISCONNECTED`), UTF-8.
    pub text: mqtt_bytes_view,
}

/// The will as the PUBLISH that delivers it.
fn will_publish(w: &Will) -> Option<Publish> {
    let qos = w.qos;
    let mut p = Publish::new(w.topic.as_str(), w.payload.clone())
        .ok()?
        .with_qos(qos, if qos.as_u8() == 0 { 0 } else { 1 })
        .with_retain(w.retain);
    let wp = &w.properties;
    let pp = &mut p.properties;
    pp.payload_format_indicator = wp.payload_format_indicator;
    pp.message_expiry_interval = wp.message_expiry_interval;
    pp.content_type.clone_from(&wp.content_type);
    pp.response_topic.clone_from(&wp.response_topic);
    pp.correlation_data.clone_from(&wp.correlation_data);
    pp.user_properties.clone_from(&wp.user_properties);
    Some(p)
}

impl mqtt_server {
    /// Encodes `packet` into `event_bytes` and returns its view.
    fn packet_view(&mut self, packet: &Packet, version: ProtocolVersion) -> mqtt_packet_view {
        let mut view = crate::codec::mqtt_packet_view_none();
        let Ok(len) = packet.encoded_len(version) else {
            return view;
        };
        self.event_bytes.clear();
        self.event_bytes.resize(len, 0);
        if packet
            .encode_to_slice(version, &mut self.event_bytes)
            .is_err()
        {
            return view;
        }
        if let Ok(Some((p, n))) = PacketRef::decode(&self.event_bytes, &DecodeOptions::new(version))
        {
            view = view_of(&p, version, &self.event_bytes[..n]);
        }
        view
    }

    fn event_view(&mut self, event: ServerEvent) -> mqtt_server_event {
        use mqtt_server_event_kind as K;
        let version = self.server.version();
        let mut ev = mqtt_server_event {
            kind: K::MQTT_SERVER_EVENT_NONE,
            packet: crate::codec::mqtt_packet_view_none(),
            packet_id: 0,
            has_reason_code: false,
            reason_code: 0,
            close_reason: mqtt_close_reason::MQTT_CLOSE_NONE,
            drop_reason: mqtt_drop_reason::MQTT_DROP_NONE,
            text: mqtt_bytes_view::NONE,
        };
        match event {
            ServerEvent::ConnectRequested(c) => {
                ev.kind = K::MQTT_SERVER_EVENT_CONNECT;
                let v = c.protocol_version;
                ev.packet = self.packet_view(&Packet::Connect(c), v);
            }
            ServerEvent::AuthReceived(a) => {
                ev.kind = K::MQTT_SERVER_EVENT_AUTH;
                ev.packet = self.packet_view(&Packet::Auth(a), version);
            }
            ServerEvent::Message(p) => {
                ev.kind = K::MQTT_SERVER_EVENT_MESSAGE;
                ev.packet = self.packet_view(&Packet::Publish(p), version);
            }
            ServerEvent::Subscribe(s) => {
                ev.kind = K::MQTT_SERVER_EVENT_SUBSCRIBE;
                ev.packet = self.packet_view(&Packet::Subscribe(s), version);
            }
            ServerEvent::Unsubscribe(u) => {
                ev.kind = K::MQTT_SERVER_EVENT_UNSUBSCRIBE;
                ev.packet = self.packet_view(&Packet::Unsubscribe(u), version);
            }
            ServerEvent::PublishCompleted {
                packet_id,
                reason_code,
                ..
            } => {
                ev.kind = K::MQTT_SERVER_EVENT_PUBLISH_COMPLETED;
                ev.packet_id = packet_id;
                ev.has_reason_code = true;
                ev.reason_code = reason_code.as_u8();
            }
            ServerEvent::PublishDropped { packet_id, reason } => {
                ev.kind = K::MQTT_SERVER_EVENT_PUBLISH_DROPPED;
                ev.packet_id = packet_id;
                ev.drop_reason = match reason {
                    DropReason::Expired => mqtt_drop_reason::MQTT_DROP_EXPIRED,
                    _ => mqtt_drop_reason::MQTT_DROP_PACKET_TOO_LARGE,
                };
            }
            ServerEvent::Ping => ev.kind = K::MQTT_SERVER_EVENT_PING,
            ServerEvent::WillPublish(w) => {
                ev.kind = K::MQTT_SERVER_EVENT_WILL;
                if let Some(p) = will_publish(&w) {
                    ev.packet = self.packet_view(&Packet::Publish(p), version);
                }
            }
            ServerEvent::Disconnected(reason) => {
                use mqtt_close_reason as C;
                ev.kind = K::MQTT_SERVER_EVENT_DISCONNECTED;
                let mut code = None;
                let (close, text) = match reason {
                    CloseReason::ByClient(d) => {
                        code = Some(d.reason_code);
                        ev.packet = self.packet_view(&Packet::Disconnect(d), version);
                        (C::MQTT_CLOSE_BY_CLIENT, "DISCONNECT from the client".into())
                    }
                    CloseReason::ProtocolViolation(v) => {
                        code = Some(v.reason_code());
                        (
                            C::MQTT_CLOSE_PROTOCOL_VIOLATION,
                            detail_text("protocol violation", &v),
                        )
                    }
                    CloseReason::KeepAliveTimeout => (
                        C::MQTT_CLOSE_KEEP_ALIVE_TIMEOUT,
                        "keep alive timeout".into(),
                    ),
                    CloseReason::ConnectTimeout => {
                        (C::MQTT_CLOSE_CONNECT_TIMEOUT, "connect timeout".into())
                    }
                    CloseReason::Rejected(c) => {
                        code = Some(c.reason_code);
                        let text = code_text("connection refused", c.reason_code);
                        ev.packet = self.packet_view(&Packet::ConnAck(Box::new(c)), version);
                        (C::MQTT_CLOSE_REJECTED, text)
                    }
                    CloseReason::TransportClosed => {
                        (C::MQTT_CLOSE_TRANSPORT_CLOSED, "transport closed".into())
                    }
                    CloseReason::Local(rc) => {
                        code = Some(rc);
                        (C::MQTT_CLOSE_LOCAL, "disconnected locally".into())
                    }
                    _ => (C::MQTT_CLOSE_LOCAL, "connection ended".into()),
                };
                ev.close_reason = close;
                if let Some(c) = code {
                    ev.has_reason_code = true;
                    ev.reason_code = c.as_u8();
                }
                self.text = text;
                ev.text = mqtt_bytes_view::of(self.text.as_bytes());
            }
            _ => {}
        }
        ev
    }
}

/// Writes the next event to `*out` (`out->kind` is
/// `MQTT_SERVER_EVENT_NONE` when there is none). Its views are valid until
/// the next call on this handle.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_poll_event(
    s: *mut mqtt_server,
    out: *mut mqtt_server_event,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `s` checked by with_handle; `out` checked non-NULL.
    unsafe {
        with_handle(s, |h| {
            loop {
                let Some(event) = h.server.poll_event() else {
                    out.write(h.event_view_none());
                    return Ok(());
                };
                let ev = h.event_view(event);
                // Kinds this version of the C API does not know are
                // skipped rather than reported as NONE.
                if ev.kind != mqtt_server_event_kind::MQTT_SERVER_EVENT_NONE {
                    out.write(ev);
                    return Ok(());
                }
            }
        })
    }
}

impl mqtt_server {
    fn event_view_none(&self) -> mqtt_server_event {
        mqtt_server_event {
            kind: mqtt_server_event_kind::MQTT_SERVER_EVENT_NONE,
            packet: crate::codec::mqtt_packet_view_none(),
            packet_id: 0,
            has_reason_code: false,
            reason_code: 0,
            close_reason: mqtt_close_reason::MQTT_CLOSE_NONE,
            drop_reason: mqtt_drop_reason::MQTT_DROP_NONE,
            text: mqtt_bytes_view::NONE,
        }
    }
}

// ----- commands ---------------------------------------------------------------

/// Accepts the connection after `MQTT_SERVER_EVENT_CONNECT`: sends CONNACK
/// (Success, `session_present`, the limits of the options). For a client
/// that sent an empty Client Identifier, `assigned_client_id` (NULL:
/// none) is the one it gets. Session state is not resumed here (use
/// `mqtt_broker` for sessions).
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_accept(
    s: *mut mqtt_server,
    now_ms: u64,
    session_present: bool,
    assigned_client_id: mqtt_bytes_view,
) -> mqtt_status {
    // SAFETY: `s` checked by with_handle; the view as slice_arg.
    unsafe {
        with_handle(s, |h| {
            let mut accept = Accept::new().with_session_present(session_present);
            let id: Option<MqttString> = opt_mqtt_string(assigned_client_id, "assigned client id")?;
            if let Some(id) = id {
                accept = accept.with_assigned_client_id(id);
            }
            h.server.accept(now_ms, accept).map_err(server_error)
        })
    }
}

/// Refuses the connection after `MQTT_SERVER_EVENT_CONNECT` with CONNACK
/// `reason_code` (an error code, e.g. 0x87 Not authorized; mapped to a
/// 3.1.1 return code). The connection then ends.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_reject(
    s: *mut mqtt_server,
    now_ms: u64,
    reason_code: u8,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(s, |h| {
            let code = code_arg(reason_code)?;
            h.server
                .reject(now_ms, code, ConnAckProperties::default())
                .map_err(server_error)
        })
    }
}

/// Acknowledges a QoS 1 or 2 message (with `manual_ack`): PUBACK or PUBREC
/// with `reason_code` (0 Success; 5.0 error codes such as 0x87).
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_acknowledge(
    s: *mut mqtt_server,
    now_ms: u64,
    packet_id: u16,
    reason_code: u8,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(s, |h| {
            let code = code_arg(reason_code)?;
            h.server
                .acknowledge(now_ms, packet_id, code)
                .map_err(server_error)
        })
    }
}

/// Answers a SUBSCRIBE / UNSUBSCRIBE on `s` with the reason codes at
/// `codes`.
///
/// # Safety
/// `s` as [`with_handle`]; `codes` holds `len` bytes (as [`slice_arg`]).
unsafe fn answer_with_codes(
    s: *mut mqtt_server,
    codes: *const u8,
    len: usize,
    answer: impl FnOnce(&mut ServerConnection, &[ReasonCode]) -> Result<(), ServerError>,
) -> mqtt_status {
    // SAFETY: the caller's promise.
    unsafe {
        with_handle(s, |h| {
            let bytes = slice_arg(codes, len).map_err(bare)?;
            let codes: Vec<ReasonCode> = bytes
                .iter()
                .map(|&c| code_arg(c))
                .collect::<Result<_, _>>()?;
            answer(&mut h.server, &codes).map_err(server_error)
        })
    }
}

/// Answers `MQTT_SERVER_EVENT_SUBSCRIBE` (packet identifier `packet_id`)
/// with one reason code per filter, in order: the granted QoS (0, 1, 2)
/// or an error code.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_suback(
    s: *mut mqtt_server,
    now_ms: u64,
    packet_id: u16,
    codes: *const u8,
    codes_len: usize,
) -> mqtt_status {
    // SAFETY: forwarded (the caller's promise).
    unsafe {
        answer_with_codes(s, codes, codes_len, |server, codes| {
            server.suback_with_properties(now_ms, packet_id, codes, AckProperties::default())
        })
    }
}

/// Answers `MQTT_SERVER_EVENT_UNSUBSCRIBE` with one reason code per
/// filter (0x00 Success, 0x11 No subscription existed, ...; not sent in
/// 3.1.1).
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_unsuback(
    s: *mut mqtt_server,
    now_ms: u64,
    packet_id: u16,
    codes: *const u8,
    codes_len: usize,
) -> mqtt_status {
    // SAFETY: forwarded (the caller's promise).
    unsafe {
        answer_with_codes(s, codes, codes_len, |server, codes| {
            server.unsuback_with_properties(now_ms, packet_id, codes, AckProperties::default())
        })
    }
}

/// Sends a message to the client (queued while its Receive Maximum is
/// full); `*packet_id` (NULL allowed) is the identifier it goes with (0 at
/// QoS 0), named again by `MQTT_SERVER_EVENT_PUBLISH_COMPLETED`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_publish(
    s: *mut mqtt_server,
    now_ms: u64,
    options: *const mqtt_publish_options,
    packet_id: *mut u16,
) -> mqtt_status {
    if options.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `s` checked by with_handle; `options` non-NULL and valid with
    // its views; `packet_id` NULL or writable (the caller's promise).
    unsafe {
        with_handle(s, |h| {
            let publish = publish_arg(&*options, 1, false)?;
            let id = h.server.publish(now_ms, publish).map_err(server_error)?;
            if !packet_id.is_null() {
                packet_id.write(id);
            }
            Ok(())
        })
    }
}

/// Ends the connection from the server's side: DISCONNECT with
/// `reason_code` in 5.0 (nothing in 3.1.1), then the will (if any) and
/// `MQTT_SERVER_EVENT_DISCONNECTED`. Send the remaining bytes, then close
/// the transport.
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_disconnect(
    s: *mut mqtt_server,
    now_ms: u64,
    reason_code: u8,
) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe {
        with_handle(s, |h| {
            let code = code_arg(reason_code)?;
            h.server
                .disconnect(now_ms, code, DisconnectProperties::default())
                .map_err(server_error)
        })
    }
}

/// Test-only: panics inside a call on `s`. Only with the `test-panic`
/// feature; not in the header.
#[cfg(feature = "test-panic")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_server_test_panic(s: *mut mqtt_server) -> mqtt_status {
    // SAFETY: checked by with_handle.
    unsafe { with_handle(s, |_| panic!("mqtt_server_test_panic: provoked on purpose")) }
}
