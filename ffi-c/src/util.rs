//! Helpers a device needs beside the state machines, with no handle:
//! topic validation and matching, and the reconnect backoff.

use crate::mqtt_status;
use crate::types::{mqtt_bytes_view, view_bytes};
use mqtt_core::topic::{topic_matches, validate_topic_filter, validate_topic_name};

/// The topic text of a view: not UTF-8 (or a bad view) is an error.
///
/// # Safety
/// As `slice_arg`.
unsafe fn topic_text<'a>(v: mqtt_bytes_view) -> Result<&'a str, mqtt_status> {
    // SAFETY: forwarded.
    let bytes = unsafe { view_bytes(v) }?;
    core::str::from_utf8(bytes).map_err(|_| mqtt_status::MQTT_STATUS_INVALID_ARGUMENT)
}

/// Whether `topic` is a valid Topic Name to publish to: not empty, at most
/// 65,535 bytes of UTF-8, no NUL, no wildcard (`+`, `#`). Returns
/// `MQTT_STATUS_OK` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// The view points to `len` readable bytes (or is NULL with length 0).
#[no_mangle]
pub unsafe extern "C" fn mqtt_topic_name_check(topic: mqtt_bytes_view) -> mqtt_status {
    // SAFETY: forwarded.
    match unsafe { topic_text(topic) }.map(validate_topic_name) {
        Ok(Ok(())) => mqtt_status::MQTT_STATUS_OK,
        Ok(Err(_)) => mqtt_status::MQTT_STATUS_INVALID_ARGUMENT,
        Err(s) => s,
    }
}

/// Whether `filter` is a valid Topic Filter to subscribe to: as a name,
/// but `+` may fill a whole level and `#` only the last, and a
/// `$share/{group}/{filter}` must name a group and a filter. Returns
/// `MQTT_STATUS_OK` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// As `mqtt_topic_name_check`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_topic_filter_check(filter: mqtt_bytes_view) -> mqtt_status {
    // SAFETY: forwarded.
    match unsafe { topic_text(filter) }.map(validate_topic_filter) {
        Ok(Ok(())) => mqtt_status::MQTT_STATUS_OK,
        Ok(Err(_)) => mqtt_status::MQTT_STATUS_INVALID_ARGUMENT,
        Err(s) => s,
    }
}

/// Whether the Topic Name `topic` matches the Topic Filter `filter` (the
/// broker's rule: `+` one level, `#` the parent and every level below,
/// wildcards at the start never match a topic beginning with `$`).
/// `*out` is written on success. An invalid filter or topic is
/// `MQTT_STATUS_INVALID_ARGUMENT`. No allocation.
///
/// # Safety
/// The views as `mqtt_topic_name_check`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mqtt_topic_matches(
    filter: mqtt_bytes_view,
    topic: mqtt_bytes_view,
    out: *mut bool,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: forwarded.
    let (f, t) = match unsafe { (topic_text(filter), topic_text(topic)) } {
        (Ok(f), Ok(t)) => (f, t),
        (Err(s), _) | (_, Err(s)) => return s,
    };
    if validate_topic_filter(f).is_err() || validate_topic_name(t).is_err() {
        return mqtt_status::MQTT_STATUS_INVALID_ARGUMENT;
    }
    // SAFETY: checked non-NULL; writable by the caller's promise.
    unsafe { out.write(topic_matches(f, t)) };
    mqtt_status::MQTT_STATUS_OK
}

/// Exponential reconnect backoff with "equal jitter": attempt 0 waits
/// about `initial_ms`, each further attempt `multiplier` times longer,
/// never more than `max_ms`; half of each capped delay is fixed and the
/// other half spread by a random number the caller supplies (the library
/// has no randomness). Fill it with `mqtt_backoff_init`; the fields may be
/// changed between calls.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_backoff {
    /// The delay cap of attempt 0, milliseconds.
    pub initial_ms: u64,
    /// The largest delay, milliseconds.
    pub max_ms: u64,
    /// Growth per attempt (2 doubles it).
    pub multiplier: u32,
    /// Failed attempts since the last `mqtt_backoff_reset`.
    pub attempt: u32,
}

/// Sets `*b` to double from `initial_ms` up to `max_ms`, at attempt 0
/// (`initial_ms` 0 or above `max_ms` is `MQTT_STATUS_INVALID_ARGUMENT`).
///
/// # Safety
/// `b` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mqtt_backoff_init(
    b: *mut mqtt_backoff,
    initial_ms: u64,
    max_ms: u64,
) -> mqtt_status {
    if b.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    if initial_ms == 0 || initial_ms > max_ms {
        return mqtt_status::MQTT_STATUS_INVALID_ARGUMENT;
    }
    let d = mqtt_core::client::Backoff::new(initial_ms, max_ms);
    // SAFETY: checked non-NULL; writable by the caller's promise.
    unsafe {
        b.write(mqtt_backoff {
            initial_ms: d.initial,
            max_ms: d.max,
            multiplier: d.multiplier,
            attempt: 0,
        })
    };
    mqtt_status::MQTT_STATUS_OK
}

/// The delay before the next reconnect attempt, in `*delay_ms`, between
/// half the current cap and the cap, placed by `random` (any 32 random
/// bits: from a hardware RNG, or the device id mixed with a counter); then
/// counts the attempt.
///
/// # Safety
/// `b` is NULL or a readable and writable `mqtt_backoff`; `delay_ms` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mqtt_backoff_next(
    b: *mut mqtt_backoff,
    random: u32,
    delay_ms: *mut u64,
) -> mqtt_status {
    if b.is_null() || delay_ms.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL; valid by the caller's promise.
    let state = unsafe { &mut *b };
    let backoff = mqtt_core::client::Backoff {
        initial: state.initial_ms,
        max: state.max_ms,
        multiplier: state.multiplier,
    };
    // SAFETY: as above.
    unsafe { delay_ms.write(backoff.delay(state.attempt, random)) };
    state.attempt = state.attempt.saturating_add(1);
    mqtt_status::MQTT_STATUS_OK
}

/// Starts over at attempt 0 (call it once a connection succeeded).
///
/// # Safety
/// `b` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mqtt_backoff_reset(b: *mut mqtt_backoff) -> mqtt_status {
    if b.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL; writable by the caller's promise.
    unsafe { (*b).attempt = 0 };
    mqtt_status::MQTT_STATUS_OK
}
