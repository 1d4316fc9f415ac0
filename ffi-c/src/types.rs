//! Plain data shared by every part of the API: byte views, optional
//! numbers, user properties, the property view of received packets, and
//! the helpers that read C arguments safely.

use crate::prelude::*;
use bytes::Bytes;
use mqtt_core::codec::{MqttString, Publish, UserProperty};

use crate::mqtt_status;

/// A borrowed run of bytes: `len` bytes at `ptr`, not NUL-terminated.
/// Strings are UTF-8. `ptr` may be NULL only when `len` is 0; a NULL
/// pointer marks an optional field as absent.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_bytes_view {
    /// The first byte (NULL: absent, or empty).
    pub ptr: *const u8,
    /// The number of bytes.
    pub len: usize,
}

impl mqtt_bytes_view {
    /// The absent view: NULL, 0.
    pub const NONE: Self = mqtt_bytes_view {
        ptr: core::ptr::null(),
        len: 0,
    };

    /// A view of `bytes` (present, possibly empty).
    pub fn of(bytes: &[u8]) -> Self {
        mqtt_bytes_view {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// A view of an optional value: absent when `None`.
    pub fn of_opt(bytes: Option<&[u8]>) -> Self {
        bytes.map_or(Self::NONE, Self::of)
    }

    /// Whether the view is absent (NULL pointer).
    pub fn is_absent(&self) -> bool {
        self.ptr.is_null()
    }
}

/// A User Property (5.0): a UTF-8 key and value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_user_property {
    /// The key.
    pub key: mqtt_bytes_view,
    /// The value.
    pub value: mqtt_bytes_view,
}

/// A borrowed array of User Properties: `len` entries at `ptr` (NULL
/// when `len` is 0).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_user_properties {
    /// The first entry.
    pub ptr: *const mqtt_user_property,
    /// The number of entries.
    pub len: usize,
}

impl mqtt_user_properties {
    /// No user properties.
    pub const EMPTY: Self = mqtt_user_properties {
        ptr: core::ptr::null(),
        len: 0,
    };
}

/// An optional 32-bit number.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mqtt_opt_u32 {
    /// Whether `value` is set.
    pub present: bool,
    /// The value, when `present`.
    pub value: u32,
}

/// An optional 16-bit number.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mqtt_opt_u16 {
    /// Whether `value` is set.
    pub present: bool,
    /// The value, when `present`.
    pub value: u16,
}

/// An optional byte (also used for optional booleans: 0 or 1).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mqtt_opt_u8 {
    /// Whether `value` is set.
    pub present: bool,
    /// The value, when `present`.
    pub value: u8,
}

impl From<Option<u32>> for mqtt_opt_u32 {
    fn from(v: Option<u32>) -> Self {
        mqtt_opt_u32 {
            present: v.is_some(),
            value: v.unwrap_or(0),
        }
    }
}

impl From<Option<u16>> for mqtt_opt_u16 {
    fn from(v: Option<u16>) -> Self {
        mqtt_opt_u16 {
            present: v.is_some(),
            value: v.unwrap_or(0),
        }
    }
}

impl From<Option<u8>> for mqtt_opt_u8 {
    fn from(v: Option<u8>) -> Self {
        mqtt_opt_u8 {
            present: v.is_some(),
            value: v.unwrap_or(0),
        }
    }
}

impl mqtt_opt_u32 {
    /// The value as an `Option`.
    pub fn get(self) -> Option<u32> {
        self.present.then_some(self.value)
    }
}

/// Every MQTT 5.0 property a received packet can carry, as borrowed views.
/// Absent properties have `present == false` or a NULL `ptr`; properties
/// the packet kind cannot carry are always absent. In 3.1.1 everything is
/// absent.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_properties {
    /// Payload Format Indicator (0: bytes, 1: UTF-8).
    pub payload_format_indicator: mqtt_opt_u8,
    /// Message Expiry Interval, seconds.
    pub message_expiry_interval: mqtt_opt_u32,
    /// Content Type.
    pub content_type: mqtt_bytes_view,
    /// Response Topic.
    pub response_topic: mqtt_bytes_view,
    /// Correlation Data.
    pub correlation_data: mqtt_bytes_view,
    /// Subscription Identifiers (PUBLISH): `subscription_identifiers_len`
    /// numbers.
    pub subscription_identifiers: *const u32,
    /// How many Subscription Identifiers.
    pub subscription_identifiers_len: usize,
    /// Session Expiry Interval, seconds.
    pub session_expiry_interval: mqtt_opt_u32,
    /// Assigned Client Identifier (CONNACK).
    pub assigned_client_identifier: mqtt_bytes_view,
    /// Server Keep Alive, seconds (CONNACK).
    pub server_keep_alive: mqtt_opt_u16,
    /// Authentication Method.
    pub authentication_method: mqtt_bytes_view,
    /// Authentication Data.
    pub authentication_data: mqtt_bytes_view,
    /// Response Information (CONNACK).
    pub response_information: mqtt_bytes_view,
    /// Server Reference (CONNACK, DISCONNECT).
    pub server_reference: mqtt_bytes_view,
    /// Reason String.
    pub reason_string: mqtt_bytes_view,
    /// Receive Maximum (CONNACK).
    pub receive_maximum: mqtt_opt_u16,
    /// Topic Alias Maximum (CONNACK).
    pub topic_alias_maximum: mqtt_opt_u16,
    /// Topic Alias (PUBLISH; the client resolves it, so `topic` is always
    /// the full name).
    pub topic_alias: mqtt_opt_u16,
    /// Maximum QoS (CONNACK).
    pub maximum_qos: mqtt_opt_u8,
    /// Retain Available (CONNACK).
    pub retain_available: mqtt_opt_u8,
    /// Maximum Packet Size (CONNACK).
    pub maximum_packet_size: mqtt_opt_u32,
    /// Wildcard Subscription Available (CONNACK).
    pub wildcard_subscription_available: mqtt_opt_u8,
    /// Subscription Identifiers Available (CONNACK).
    pub subscription_identifiers_available: mqtt_opt_u8,
    /// Shared Subscription Available (CONNACK).
    pub shared_subscription_available: mqtt_opt_u8,
    /// User Properties, in order, duplicates kept.
    pub user_properties: mqtt_user_properties,
}

impl mqtt_properties {
    /// No properties at all.
    pub const EMPTY: Self = mqtt_properties {
        payload_format_indicator: mqtt_opt_u8 {
            present: false,
            value: 0,
        },
        message_expiry_interval: mqtt_opt_u32 {
            present: false,
            value: 0,
        },
        content_type: mqtt_bytes_view::NONE,
        response_topic: mqtt_bytes_view::NONE,
        correlation_data: mqtt_bytes_view::NONE,
        subscription_identifiers: core::ptr::null(),
        subscription_identifiers_len: 0,
        session_expiry_interval: mqtt_opt_u32 {
            present: false,
            value: 0,
        },
        assigned_client_identifier: mqtt_bytes_view::NONE,
        server_keep_alive: mqtt_opt_u16 {
            present: false,
            value: 0,
        },
        authentication_method: mqtt_bytes_view::NONE,
        authentication_data: mqtt_bytes_view::NONE,
        response_information: mqtt_bytes_view::NONE,
        server_reference: mqtt_bytes_view::NONE,
        reason_string: mqtt_bytes_view::NONE,
        receive_maximum: mqtt_opt_u16 {
            present: false,
            value: 0,
        },
        topic_alias_maximum: mqtt_opt_u16 {
            present: false,
            value: 0,
        },
        topic_alias: mqtt_opt_u16 {
            present: false,
            value: 0,
        },
        maximum_qos: mqtt_opt_u8 {
            present: false,
            value: 0,
        },
        retain_available: mqtt_opt_u8 {
            present: false,
            value: 0,
        },
        maximum_packet_size: mqtt_opt_u32 {
            present: false,
            value: 0,
        },
        wildcard_subscription_available: mqtt_opt_u8 {
            present: false,
            value: 0,
        },
        subscription_identifiers_available: mqtt_opt_u8 {
            present: false,
            value: 0,
        },
        shared_subscription_available: mqtt_opt_u8 {
            present: false,
            value: 0,
        },
        user_properties: mqtt_user_properties::EMPTY,
    };
}

// ----- shared by the client, the server role and the codec ---------------

/// `*deadline` when there is no deadline.
pub const MQTT_NO_DEADLINE: u64 = u64::MAX;

/// MQTT 3.1 (protocol name `MQIsdp`, level 3), for
/// `mqtt_client_options.version`: as 3.1.1, with a Client Identifier of 1
/// to 23 characters, no Session Present in CONNACK, no SUBACK failure code.
pub const MQTT_VERSION_3_1: u8 = 3;
/// MQTT 3.1.1 (protocol level 4), for `mqtt_client_options.version`.
pub const MQTT_VERSION_3_1_1: u8 = 4;
/// MQTT 5.0 (protocol level 5), for `mqtt_client_options.version`.
pub const MQTT_VERSION_5: u8 = 5;

/// Why a publish was dropped (`MQTT_EVENT_PUBLISH_DROPPED`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_drop_reason {
    /// Not a drop event.
    MQTT_DROP_NONE = 0,
    /// Its Message Expiry Interval passed while queued.
    MQTT_DROP_EXPIRED = 1,
    /// The queue was full (`MQTT_QUEUE_FULL_DROP_OLDEST`).
    MQTT_DROP_QUEUE_FULL = 2,
    /// The server lost the session (`MQTT_SESSION_LOST_DROP`).
    MQTT_DROP_SESSION_LOST = 3,
    /// Larger than the server's Maximum Packet Size.
    MQTT_DROP_PACKET_TOO_LARGE = 4,
    /// The server does not support its QoS or retain.
    MQTT_DROP_NOT_SUPPORTED = 5,
}

/// A message to publish.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_publish_options {
    /// The topic name (required, no wildcards).
    pub topic: mqtt_bytes_view,
    /// The payload (copied).
    pub payload: mqtt_bytes_view,
    /// QoS 0, 1 or 2.
    pub qos: u8,
    /// RETAIN.
    pub retain: bool,
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

/// One filter of a SUBSCRIBE.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_subscription {
    /// The topic filter (wildcards allowed).
    pub filter: mqtt_bytes_view,
    /// Maximum QoS, 0, 1 or 2.
    pub qos: u8,
    /// No Local (5.0).
    pub no_local: bool,
    /// Retain As Published (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0): 0 send retained at subscribe, 1 only if the
    /// subscription is new, 2 never.
    pub retain_handling: u8,
}

/// A SUBSCRIBE.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_subscribe_options {
    /// The filters: `filters_len` entries (at least one).
    pub filters: *const mqtt_subscription,
    /// How many filters.
    pub filters_len: usize,
    /// Subscription Identifier, 1 to 268,435,455 (5.0).
    pub subscription_identifier: mqtt_opt_u32,
    /// User Properties (5.0).
    pub user_properties: mqtt_user_properties,
}

/// An UNSUBSCRIBE.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_unsubscribe_options {
    /// The topic filters: `filters_len` views (at least one).
    pub filters: *const mqtt_bytes_view,
    /// How many filters.
    pub filters_len: usize,
    /// User Properties (5.0).
    pub user_properties: mqtt_user_properties,
}

// ----- reading C arguments ----------------------------------------------

/// Reads `len` items at `ptr`: NULL with a non-zero length is
/// `MQTT_STATUS_NULL_ARGUMENT`, a length no allocation can have is
/// `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// When `ptr` is not NULL it must point to `len` initialized items that
/// stay valid and unchanged for `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], mqtt_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(mqtt_status::MQTT_STATUS_NULL_ARGUMENT);
    }
    if len.saturating_mul(core::mem::size_of::<T>().max(1)) > isize::MAX as usize {
        return Err(mqtt_status::MQTT_STATUS_INVALID_ARGUMENT);
    }
    if !ptr.is_aligned() {
        return Err(mqtt_status::MQTT_STATUS_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL, aligned, length bounded; validity is the caller's
    // promise above.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// The bytes of a view (empty when absent).
///
/// # Safety
/// As [`slice_arg`].
pub(crate) unsafe fn view_bytes<'a>(v: mqtt_bytes_view) -> Result<&'a [u8], mqtt_status> {
    // SAFETY: forwarded.
    unsafe { slice_arg(v.ptr, v.len) }
}

/// An error with its text, kept for `mqtt_client_last_error`.
pub(crate) type Failure = (mqtt_status, String);

/// A status with an explanation.
pub(crate) fn invalid(why: impl Into<String>) -> Failure {
    (mqtt_status::MQTT_STATUS_INVALID_ARGUMENT, why.into())
}

/// Adds the generic text to a bare status.
pub(crate) fn bare(status: mqtt_status) -> Failure {
    // SAFETY: mqtt_status_str returns a static C string.
    let text = unsafe { core::ffi::CStr::from_ptr(crate::mqtt_status_str(status as u32)) };
    // The texts are ASCII; `to_str` links no lossy-conversion code.
    (status, String::from(text.to_str().unwrap_or_default()))
}

/// The text of a core error: its `Display` with the `error-text` feature,
/// else the status's fixed description (no formatting code linked).
#[cfg(feature = "error-text")]
pub(crate) fn error_text(e: &impl core::fmt::Display, _status: mqtt_status) -> String {
    alloc::string::ToString::to_string(e)
}

/// The text of a core error: its `Display` with the `error-text` feature,
/// else the status's fixed description (no formatting code linked).
#[cfg(not(feature = "error-text"))]
pub(crate) fn error_text<E>(_e: &E, status: mqtt_status) -> String {
    bare(status).1
}

/// `what: <the reason code's name>`, without formatting code.
pub(crate) fn code_text(what: &str, code: mqtt_core::codec::ReasonCode) -> String {
    let mut s = String::from(what);
    s.push_str(": ");
    s.push_str(code.description());
    s
}

/// `what: <the error's Display>` with the `error-text` feature, else
/// `what` alone.
pub(crate) fn detail_text(what: &str, e: &impl core::fmt::Display) -> String {
    if cfg!(feature = "error-text") {
        text!("{what}: {e}")
    } else {
        String::from(what)
    }
}

/// `template` without its `{...}` placeholders and the space before each
/// (the error texts of builds without `error-text`).
#[cfg_attr(feature = "error-text", allow(dead_code))]
pub(crate) fn without_placeholders(template: &str) -> String {
    // By characters, not by slicing: no slicing panic (and its formatting
    // code) is linked.
    let mut out = String::with_capacity(template.len());
    let mut inside = false;
    for c in template.chars() {
        match c {
            '{' => {
                inside = true;
                while out.ends_with(' ') {
                    out.pop();
                }
            }
            '}' if inside => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// `what` followed by `rest`, without formatting code.
pub(crate) fn joined(what: &str, rest: &str) -> String {
    let mut s = String::from(what);
    s.push_str(rest);
    s
}

/// A UTF-8 string argument.
///
/// # Safety
/// As [`slice_arg`].
pub(crate) unsafe fn view_str<'a>(v: mqtt_bytes_view, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded.
    let bytes = unsafe { view_bytes(v) }.map_err(bare)?;
    core::str::from_utf8(bytes).map_err(|_| invalid(joined(what, ": not valid UTF-8")))
}

/// An MQTT string argument (UTF-8, no NUL, at most 65,535 bytes).
///
/// # Safety
/// As [`slice_arg`].
pub(crate) unsafe fn mqtt_string(v: mqtt_bytes_view, what: &str) -> Result<MqttString, Failure> {
    // SAFETY: forwarded.
    let s = unsafe { view_str(v, what) }?;
    MqttString::from_str(s).map_err(|e| invalid(detail_text(what, &e)))
}

/// An optional MQTT string (absent when the pointer is NULL).
///
/// # Safety
/// As [`slice_arg`].
pub(crate) unsafe fn opt_mqtt_string(
    v: mqtt_bytes_view,
    what: &str,
) -> Result<Option<MqttString>, Failure> {
    if v.is_absent() {
        if v.len != 0 {
            return Err(bare(mqtt_status::MQTT_STATUS_NULL_ARGUMENT));
        }
        return Ok(None);
    }
    // SAFETY: forwarded.
    unsafe { mqtt_string(v, what) }.map(Some)
}

/// Optional binary data (absent when the pointer is NULL), copied.
///
/// # Safety
/// As [`slice_arg`].
pub(crate) unsafe fn opt_binary(v: mqtt_bytes_view, what: &str) -> Result<Option<Bytes>, Failure> {
    if v.is_absent() {
        if v.len != 0 {
            return Err(bare(mqtt_status::MQTT_STATUS_NULL_ARGUMENT));
        }
        return Ok(None);
    }
    // SAFETY: forwarded.
    let bytes = unsafe { view_bytes(v) }.map_err(bare)?;
    if bytes.len() > usize::from(u16::MAX) {
        return Err(invalid(joined(what, ": longer than 65,535 bytes")));
    }
    Ok(Some(Bytes::copy_from_slice(bytes)))
}

/// User properties from a C array.
///
/// # Safety
/// `props.ptr` and every view in it as [`slice_arg`].
pub(crate) unsafe fn user_properties_arg(
    props: mqtt_user_properties,
) -> Result<Vec<UserProperty>, Failure> {
    // SAFETY: forwarded.
    let items = unsafe { slice_arg(props.ptr, props.len) }.map_err(bare)?;
    let mut out = Vec::with_capacity(items.len());
    for p in items {
        // SAFETY: forwarded.
        let key = unsafe { view_str(p.key, "user property key") }?;
        // SAFETY: forwarded.
        let value = unsafe { view_str(p.value, "user property value") }?;
        out.push(
            UserProperty::new(key, value).map_err(|e| invalid(detail_text("user property", &e)))?,
        );
    }
    Ok(out)
}

/// The QoS for a C byte.
pub(crate) fn qos_arg(qos: u8) -> Result<mqtt_core::codec::QoS, Failure> {
    mqtt_core::codec::QoS::from_u8(qos).ok_or_else(|| invalid(text!("QoS {qos} is not 0, 1 or 2")))
}

/// The caller's output buffer of `cap` bytes: empty when `cap` is 0 (then
/// `buf` may be NULL); otherwise NULL is `MQTT_STATUS_NULL_ARGUMENT` and a
/// `cap` above `PTRDIFF_MAX` is `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// When `cap` is not 0 and `buf` not NULL, `buf` holds `cap` writable
/// bytes, not used elsewhere for `'a`.
pub(crate) unsafe fn out_buf<'a>(buf: *mut u8, cap: usize) -> Result<&'a mut [u8], Failure> {
    if cap == 0 {
        return Ok(&mut []);
    }
    if buf.is_null() {
        return Err(bare(mqtt_status::MQTT_STATUS_NULL_ARGUMENT));
    }
    if cap > isize::MAX as usize {
        return Err(invalid("cap is larger than any buffer"));
    }
    // SAFETY: non-NULL, size bounded; the rest is the caller's promise.
    Ok(unsafe { core::slice::from_raw_parts_mut(buf, cap) })
}

/// A reason code from its byte; an unknown value is
/// `MQTT_STATUS_INVALID_ARGUMENT`.
pub(crate) fn code_arg(code: u8) -> Result<mqtt_core::codec::ReasonCode, Failure> {
    mqtt_core::codec::ReasonCode::from_u8(code)
        .ok_or_else(|| invalid(text!("reason code {code:#04X} is unknown")))
}

/// An optional flag as an `mqtt_opt_u8` (1 for true, 0 for false).
pub(crate) fn flag(v: Option<bool>) -> mqtt_opt_u8 {
    v.map(u8::from).into()
}

/// The core's PUBLISH from the C options.
///
/// # Safety
/// Every view in `o` as [`slice_arg`].
pub(crate) unsafe fn publish_arg(
    o: &mqtt_publish_options,
    packet_id: u16,
    dup: bool,
) -> Result<Publish, Failure> {
    // SAFETY (every block below): views of `o`, valid by the caller's
    // promise.
    let topic = unsafe { view_str(o.topic, "topic") }?;
    let payload = Bytes::copy_from_slice(unsafe { view_bytes(o.payload) }.map_err(bare)?);
    let qos = qos_arg(o.qos)?;
    let mut publish = Publish::new(topic, payload)
        .map_err(|e| invalid(detail_text("publish", &e)))?
        .with_qos(qos, if o.qos == 0 { 0 } else { packet_id })
        .with_retain(o.retain);
    publish.dup = dup;
    let p = &mut publish.properties;
    p.payload_format_indicator = match o.payload_format_indicator {
        mqtt_opt_u8 { present: false, .. } => None,
        mqtt_opt_u8 { value: 0, .. } => Some(false),
        mqtt_opt_u8 { value: 1, .. } => Some(true),
        _ => return Err(invalid("payload_format_indicator must be 0 or 1")),
    };
    p.message_expiry_interval = o.message_expiry_interval.get();
    p.content_type = unsafe { opt_mqtt_string(o.content_type, "content type") }?;
    p.response_topic = unsafe { opt_mqtt_string(o.response_topic, "response topic") }?;
    p.correlation_data = unsafe { opt_binary(o.correlation_data, "correlation data") }?;
    p.user_properties = unsafe { user_properties_arg(o.user_properties) }?;
    Ok(publish)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lean_error_texts_leave_the_placeholders_out() {
        assert_eq!(
            without_placeholders("QoS {qos} is not 0, 1 or 2"),
            "QoS is not 0, 1 or 2"
        );
        assert_eq!(
            without_placeholders("reason code {code:#04X} is unknown"),
            "reason code is unknown"
        );
        assert_eq!(
            without_placeholders("connection {id} is not open"),
            "connection is not open"
        );
        assert_eq!(without_placeholders("no placeholder"), "no placeholder");
        assert_eq!(without_placeholders("cut {short"), "cut");
        assert_eq!(
            joined("topic", ": not valid UTF-8"),
            "topic: not valid UTF-8"
        );
    }
}
