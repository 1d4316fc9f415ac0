//! C ABI for libmqtt: `libmqtt.a` / `libmqtt.so` and the header
//! `include/mqtt.h` (generated from this crate by cbindgen).
//!
//! Rules every function follows:
//! - It returns an [`mqtt_status`] (or a value documented otherwise) and
//!   never lets a Rust panic cross into C: a panic is caught and reported
//!   as `MQTT_STATUS_PANIC`, and the handle it happened on refuses every
//!   later call with the same status (free it and start again).
//! - Every pointer is checked: NULL where a value is required is
//!   `MQTT_STATUS_NULL_ARGUMENT`; a length above `PTRDIFF_MAX`, an unknown
//!   enum value or invalid MQTT content is `MQTT_STATUS_INVALID_ARGUMENT`.
//! - Byte strings are passed as [`mqtt_bytes_view`] (pointer + length, no
//!   terminating NUL). A view with a NULL pointer and length 0 is "absent"
//!   where a field is optional and "empty" where it is required.
//! - Borrowed views handed out (events) stay valid until the next call on
//!   the same handle. A handle is used from one thread at a time (it may
//!   move between threads). There is no global state.
//!
//! ## Builds
//! - **Hosted** (default features: `std`, `error-text` and every role):
//!   `libmqtt.a` / `libmqtt.so` for programs with an operating system.
//!   Panics are caught (`MQTT_STATUS_PANIC`).
//! - **Bare metal** (`--no-default-features --features firmware,client`,
//!   for example on `thumbv7m-none-eabi`): no `std`, the memory comes from
//!   an allocator the firmware registers with `mqtt_set_allocator`, and a
//!   panic (a bug, never caused by input) calls the hook registered with
//!   `mqtt_set_panic_hook` and then stops. Features pick what is compiled
//!   in: `client`, `server` (the server role and the broker engine),
//!   `codec` (`mqtt_decode`, `mqtt_encode`), and
//!   `error-text` (formatted error texts; without it `*_last_error` gives
//!   fixed texts and no formatting code is linked).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
// The C names (`mqtt_status`, `MQTT_STATUS_OK`) are the API.
#![allow(non_camel_case_types)]
// Pointer requirements are stated once above and on each function.
#![allow(clippy::missing_safety_doc)]
// A codec-only build has no handles.
#![cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
// Without `error-text`, error templates are not formatted, so the values
// they name go unused.
#![cfg_attr(not(feature = "error-text"), allow(unused_variables))]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(all(feature = "std", feature = "firmware"))]
compile_error!("the `firmware` feature is for builds without `std`: use --no-default-features");

/// An error text: `format!` with the `error-text` feature; without it the
/// template itself, unformatted, so that no formatting code is linked.
#[cfg(feature = "error-text")]
macro_rules! text {
    ($($arg:tt)*) => { alloc::format!($($arg)*) };
}
/// An error text: `format!` with the `error-text` feature; without it the
/// template with its `{...}` placeholders left out ("QoS {qos} is not 0,
/// 1 or 2" reads "QoS is not 0, 1 or 2"), so that no formatting code is
/// linked.
#[cfg(not(feature = "error-text"))]
macro_rules! text {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {{
        $( let _ = &$arg; )*
        $crate::types::without_placeholders($fmt)
    }};
}

/// The `alloc` names every module uses (the `std` prelude is not there in
/// bare-metal builds).
mod prelude {
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::String;
    pub(crate) use alloc::vec::Vec;
}
use prelude::*;

#[cfg(feature = "server")]
mod broker;
#[cfg(feature = "client")]
mod client;
// The packet views are shared with the server role; the functions of the
// handle-less codec API are compiled with the `codec` feature only.
#[cfg_attr(not(feature = "codec"), allow(dead_code))]
mod codec;
mod platform;
#[cfg(feature = "server")]
mod server;
mod types;
mod util;

#[cfg(feature = "server")]
pub use broker::*;
#[cfg(feature = "client")]
pub use client::*;
pub use codec::*;
pub use platform::*;
#[cfg(feature = "server")]
pub use server::*;
pub use types::*;
pub use util::*;

/// Runs `f`, catching a panic in hosted builds (it cannot unwind into C).
#[cfg(feature = "std")]
fn catch<R>(f: impl FnOnce() -> R) -> Result<R, ()> {
    std::panic::catch_unwind(core::panic::AssertUnwindSafe(f)).map_err(|_| platform::panicked())
}

/// Runs `f`; bare-metal builds abort on panic (the panic hook runs, then
/// the library stops), so there is nothing to catch.
#[cfg(not(feature = "std"))]
fn catch<R>(f: impl FnOnce() -> R) -> Result<R, ()> {
    Ok(f())
}

/// Runs `f`, turning a panic into `MQTT_STATUS_PANIC`.
pub(crate) fn guard(f: impl FnOnce() -> Result<(), mqtt_status>) -> mqtt_status {
    match catch(f) {
        Ok(Ok(())) => mqtt_status::MQTT_STATUS_OK,
        Ok(Err(status)) => status,
        Err(()) => mqtt_status::MQTT_STATUS_PANIC,
    }
}

/// The error state every handle (client, server, broker) carries.
#[derive(Default)]
pub(crate) struct HandleState {
    /// The text of the last error, for `mqtt_*_last_error`.
    last_error: String,
    /// Set by a caught panic: every later call is `MQTT_STATUS_PANIC`.
    poisoned: bool,
}

/// A handle type `with_handle` can run calls on.
pub(crate) trait Handle {
    /// The handle's error state.
    fn state(&self) -> &HandleState;
    /// The handle's error state, writable.
    fn state_mut(&mut self) -> &mut HandleState;
    /// Drops what event views borrow from, after a panic.
    fn forget_borrowed(&mut self);
}

/// Runs `f` on the handle at `p`: NULL is `MQTT_STATUS_NULL_ARGUMENT`, a
/// panic poisons the handle and is `MQTT_STATUS_PANIC`, an error's text is
/// kept for `mqtt_*_last_error`.
///
/// # Safety
/// `p` is NULL or a live handle from its `mqtt_*_new` not used elsewhere
/// during the call.
pub(crate) unsafe fn with_handle<H: Handle>(
    p: *mut H,
    f: impl FnOnce(&mut H) -> Result<(), types::Failure>,
) -> mqtt_status {
    if p.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: the caller's promise above.
    let h = unsafe { &mut *p };
    if h.state().poisoned {
        return mqtt_status::MQTT_STATUS_PANIC;
    }
    match catch(|| f(h)) {
        Ok(Ok(())) => mqtt_status::MQTT_STATUS_OK,
        Ok(Err((status, text))) => {
            platform::log(crate::MQTT_LOG_WARN, text.as_bytes());
            h.state_mut().last_error = text;
            status
        }
        Err(()) => {
            h.forget_borrowed();
            let state = h.state_mut();
            state.poisoned = true;
            state.last_error = "internal error: a panic was caught; free this handle".into();
            mqtt_status::MQTT_STATUS_PANIC
        }
    }
}

/// The body of an `mqtt_*_new` function: `*out` is NULL until `make`
/// succeeds, then the boxed handle; a panic is `MQTT_STATUS_PANIC`.
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn new_handle<H>(
    out: *mut *mut H,
    make: impl FnOnce() -> Result<H, mqtt_status>,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL, writable by the caller's promise.
    unsafe { out.write(core::ptr::null_mut()) };
    guard(|| {
        let handle = Box::new(make()?);
        // SAFETY: as above.
        unsafe { out.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Destroys a boxed handle; NULL is ignored, a panic while dropping is
/// caught (it cannot unwind into C).
///
/// # Safety
/// `p` is NULL or a handle from its `mqtt_*_new`, not used again.
pub(crate) unsafe fn free_handle<H>(p: *mut H) {
    if p.is_null() {
        return;
    }
    // SAFETY: the caller's promise above.
    let boxed = unsafe { Box::from_raw(p) };
    let _ = catch(move || drop(boxed));
}

/// Stores a view of the handle's last error text in `*out`.
///
/// # Safety
/// `p` is NULL or a live handle; `out` is NULL or writable.
pub(crate) unsafe fn last_error_of<H: Handle>(
    p: *const H,
    out: *mut types::mqtt_bytes_view,
) -> mqtt_status {
    if p.is_null() || out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: the caller's promise above.
    unsafe {
        out.write(types::mqtt_bytes_view::of(
            (*p).state().last_error.as_bytes(),
        ))
    };
    mqtt_status::MQTT_STATUS_OK
}

/// Ends an `mqtt_*_check` function: writes why `result` failed (empty
/// when it is `Ok`) into `buf` as a NUL-terminated string truncated to
/// `cap` bytes, and gives its status.
///
/// # Safety
/// `buf` is NULL or holds `cap` writable bytes.
pub(crate) unsafe fn report_check<T>(
    result: Result<T, types::Failure>,
    buf: *mut core::ffi::c_char,
    cap: usize,
) -> Result<(), mqtt_status> {
    let (status, text) = match result {
        Ok(_) => (mqtt_status::MQTT_STATUS_OK, String::new()),
        Err(f) => f,
    };
    if !buf.is_null() && cap > 0 {
        let n = text.len().min(cap - 1);
        // SAFETY: the caller's promise; n + 1 <= cap.
        unsafe {
            core::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
            buf.add(n).write(0);
        }
    }
    match status {
        mqtt_status::MQTT_STATUS_OK => Ok(()),
        s => Err(s),
    }
}

/// A test-only path that panics inside the library, to show that the panic
/// becomes `MQTT_STATUS_PANIC` and not an abort of the C program. Only in
/// builds with the `test-panic` feature; not in the header.
#[cfg(feature = "test-panic")]
#[no_mangle]
pub extern "C" fn mqtt_test_panic() -> mqtt_status {
    guard(|| panic!("mqtt_test_panic: a panic provoked on purpose"))
}

/// The return code of every fallible function.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_status {
    /// Success.
    MQTT_STATUS_OK = 0,
    /// A required pointer argument was NULL.
    MQTT_STATUS_NULL_ARGUMENT = 1,
    /// An argument was invalid: an impossible length, an unknown enum
    /// value, a string that is not valid UTF-8 or not allowed by MQTT
    /// (see `mqtt_client_last_error` for the details).
    MQTT_STATUS_INVALID_ARGUMENT = 2,
    /// The operation needs a connection (or a connection attempt).
    MQTT_STATUS_NOT_CONNECTED = 3,
    /// The operation is not possible in the current state (for example
    /// `mqtt_client_connect` while already connected).
    MQTT_STATUS_INVALID_STATE = 4,
    /// The offline queue is full (`max_queued`).
    MQTT_STATUS_QUEUE_FULL = 5,
    /// The packet exceeds the server's Maximum Packet Size.
    MQTT_STATUS_PACKET_TOO_LARGE = 6,
    /// Every packet identifier is in use.
    MQTT_STATUS_NO_PACKET_IDENTIFIER = 7,
    /// The QoS is above the server's Maximum QoS.
    MQTT_STATUS_QOS_NOT_SUPPORTED = 8,
    /// The server does not support retained messages.
    MQTT_STATUS_RETAIN_NOT_SUPPORTED = 9,
    /// The server said it lacks a feature this request needs (wildcards,
    /// subscription identifiers, shared subscriptions).
    MQTT_STATUS_FEATURE_NOT_SUPPORTED = 10,
    /// No received message has this acknowledgement token.
    MQTT_STATUS_UNKNOWN_ACK_TOKEN = 11,
    /// A Rust panic was caught inside the library (a bug: please report
    /// it). The handle involved is unusable from then on; free it.
    MQTT_STATUS_PANIC = 12,
    /// The connection identifier is not open on this broker (never
    /// returned by `mqtt_broker_connection_opened`, or already closed).
    MQTT_STATUS_UNKNOWN_CONNECTION = 13,
    /// The output buffer is too small; the size needed is reported where
    /// the function says.
    MQTT_STATUS_BUFFER_TOO_SMALL = 14,
    /// The bytes are not a valid MQTT packet (`mqtt_decode`; the reason
    /// code to answer with is in the view).
    MQTT_STATUS_MALFORMED = 15,
    /// The bytes given to `mqtt_broker_restore` are not a libmqtt store
    /// (no store header).
    MQTT_STATUS_NOT_A_STORE = 16,
    /// The store was written by a newer format version than this library
    /// reads (`mqtt_broker_last_error` names both versions).
    MQTT_STATUS_STORE_TOO_NEW = 17,
    /// `mqtt_broker_restore` needs a broker with no connections, sessions
    /// or retained messages: restore into a new broker.
    MQTT_STATUS_NOT_EMPTY = 18,
}

/// A static, NUL-terminated English description of a status code
/// (`"unknown status"` for a value that is not an `mqtt_status`). Never
/// NULL; do not free it.
#[no_mangle]
pub extern "C" fn mqtt_status_str(status: u32) -> *const core::ffi::c_char {
    let s: &'static core::ffi::CStr = match status {
        0 => c"ok",
        1 => c"a required pointer argument was NULL",
        2 => c"invalid argument",
        3 => c"not connected",
        4 => c"not possible in the current state",
        5 => c"queue full",
        6 => c"packet exceeds the server's maximum packet size",
        7 => c"no free packet identifier",
        8 => c"QoS not supported by the server",
        9 => c"retain not supported by the server",
        10 => c"feature not supported by the server",
        11 => c"unknown acknowledgement token",
        12 => c"internal error (panic caught)",
        13 => c"unknown connection",
        14 => c"buffer too small",
        15 => c"not a valid MQTT packet",
        16 => c"not a libmqtt store",
        17 => c"store written by a newer format version",
        18 => c"restore needs an empty broker",
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// An MQTT reason code (5.0 table 2-6). One byte in C.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_reason_code {
    /// 0x00: Success, Normal disconnection, Granted QoS 0.
    MQTT_RC_SUCCESS = 0x00,
    /// 0x01: Granted QoS 1.
    MQTT_RC_GRANTED_QOS_1 = 0x01,
    /// 0x02: Granted QoS 2.
    MQTT_RC_GRANTED_QOS_2 = 0x02,
    /// 0x04: Disconnect with Will Message.
    MQTT_RC_DISCONNECT_WITH_WILL_MESSAGE = 0x04,
    /// 0x10: No matching subscribers.
    MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    /// 0x11: No subscription existed.
    MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    /// 0x18: Continue authentication.
    MQTT_RC_CONTINUE_AUTHENTICATION = 0x18,
    /// 0x19: Re-authenticate.
    MQTT_RC_RE_AUTHENTICATE = 0x19,
    /// 0x80: Unspecified error.
    MQTT_RC_UNSPECIFIED_ERROR = 0x80,
    /// 0x81: Malformed Packet.
    MQTT_RC_MALFORMED_PACKET = 0x81,
    /// 0x82: Protocol Error.
    MQTT_RC_PROTOCOL_ERROR = 0x82,
    /// 0x83: Implementation specific error.
    MQTT_RC_IMPLEMENTATION_SPECIFIC_ERROR = 0x83,
    /// 0x84: Unsupported Protocol Version.
    MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84,
    /// 0x85: Client Identifier not valid.
    MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID = 0x85,
    /// 0x86: Bad User Name or Password.
    MQTT_RC_BAD_USER_NAME_OR_PASSWORD = 0x86,
    /// 0x87: Not authorized.
    MQTT_RC_NOT_AUTHORIZED = 0x87,
    /// 0x88: Server unavailable.
    MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    /// 0x89: Server busy.
    MQTT_RC_SERVER_BUSY = 0x89,
    /// 0x8A: Banned.
    MQTT_RC_BANNED = 0x8A,
    /// 0x8B: Server shutting down.
    MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
    /// 0x8C: Bad authentication method.
    MQTT_RC_BAD_AUTHENTICATION_METHOD = 0x8C,
    /// 0x8D: Keep Alive timeout.
    MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    /// 0x8E: Session taken over.
    MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    /// 0x8F: Topic Filter invalid.
    MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
    /// 0x90: Topic Name invalid.
    MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    /// 0x91: Packet Identifier in use.
    MQTT_RC_PACKET_IDENTIFIER_IN_USE = 0x91,
    /// 0x92: Packet Identifier not found.
    MQTT_RC_PACKET_IDENTIFIER_NOT_FOUND = 0x92,
    /// 0x93: Receive Maximum exceeded.
    MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
    /// 0x94: Topic Alias invalid.
    MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    /// 0x95: Packet too large.
    MQTT_RC_PACKET_TOO_LARGE = 0x95,
    /// 0x96: Message rate too high.
    MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    /// 0x97: Quota exceeded.
    MQTT_RC_QUOTA_EXCEEDED = 0x97,
    /// 0x98: Administrative action.
    MQTT_RC_ADMINISTRATIVE_ACTION = 0x98,
    /// 0x99: Payload format invalid.
    MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    /// 0x9A: Retain not supported.
    MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    /// 0x9B: QoS not supported.
    MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
    /// 0x9C: Use another server.
    MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
    /// 0x9D: Server moved.
    MQTT_RC_SERVER_MOVED = 0x9D,
    /// 0x9E: Shared Subscriptions not supported.
    MQTT_RC_SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E,
    /// 0x9F: Connection rate exceeded.
    MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    /// 0xA0: Maximum connect time.
    MQTT_RC_MAXIMUM_CONNECT_TIME = 0xA0,
    /// 0xA1: Subscription Identifiers not supported.
    MQTT_RC_SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1,
    /// 0xA2: Wildcard Subscriptions not supported.
    MQTT_RC_WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2,
}

impl mqtt_reason_code {
    /// Every code, in numeric order.
    const ALL: [mqtt_reason_code; 43] = [
        mqtt_reason_code::MQTT_RC_SUCCESS,
        mqtt_reason_code::MQTT_RC_GRANTED_QOS_1,
        mqtt_reason_code::MQTT_RC_GRANTED_QOS_2,
        mqtt_reason_code::MQTT_RC_DISCONNECT_WITH_WILL_MESSAGE,
        mqtt_reason_code::MQTT_RC_NO_MATCHING_SUBSCRIBERS,
        mqtt_reason_code::MQTT_RC_NO_SUBSCRIPTION_EXISTED,
        mqtt_reason_code::MQTT_RC_CONTINUE_AUTHENTICATION,
        mqtt_reason_code::MQTT_RC_RE_AUTHENTICATE,
        mqtt_reason_code::MQTT_RC_UNSPECIFIED_ERROR,
        mqtt_reason_code::MQTT_RC_MALFORMED_PACKET,
        mqtt_reason_code::MQTT_RC_PROTOCOL_ERROR,
        mqtt_reason_code::MQTT_RC_IMPLEMENTATION_SPECIFIC_ERROR,
        mqtt_reason_code::MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION,
        mqtt_reason_code::MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID,
        mqtt_reason_code::MQTT_RC_BAD_USER_NAME_OR_PASSWORD,
        mqtt_reason_code::MQTT_RC_NOT_AUTHORIZED,
        mqtt_reason_code::MQTT_RC_SERVER_UNAVAILABLE,
        mqtt_reason_code::MQTT_RC_SERVER_BUSY,
        mqtt_reason_code::MQTT_RC_BANNED,
        mqtt_reason_code::MQTT_RC_SERVER_SHUTTING_DOWN,
        mqtt_reason_code::MQTT_RC_BAD_AUTHENTICATION_METHOD,
        mqtt_reason_code::MQTT_RC_KEEP_ALIVE_TIMEOUT,
        mqtt_reason_code::MQTT_RC_SESSION_TAKEN_OVER,
        mqtt_reason_code::MQTT_RC_TOPIC_FILTER_INVALID,
        mqtt_reason_code::MQTT_RC_TOPIC_NAME_INVALID,
        mqtt_reason_code::MQTT_RC_PACKET_IDENTIFIER_IN_USE,
        mqtt_reason_code::MQTT_RC_PACKET_IDENTIFIER_NOT_FOUND,
        mqtt_reason_code::MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED,
        mqtt_reason_code::MQTT_RC_TOPIC_ALIAS_INVALID,
        mqtt_reason_code::MQTT_RC_PACKET_TOO_LARGE,
        mqtt_reason_code::MQTT_RC_MESSAGE_RATE_TOO_HIGH,
        mqtt_reason_code::MQTT_RC_QUOTA_EXCEEDED,
        mqtt_reason_code::MQTT_RC_ADMINISTRATIVE_ACTION,
        mqtt_reason_code::MQTT_RC_PAYLOAD_FORMAT_INVALID,
        mqtt_reason_code::MQTT_RC_RETAIN_NOT_SUPPORTED,
        mqtt_reason_code::MQTT_RC_QOS_NOT_SUPPORTED,
        mqtt_reason_code::MQTT_RC_USE_ANOTHER_SERVER,
        mqtt_reason_code::MQTT_RC_SERVER_MOVED,
        mqtt_reason_code::MQTT_RC_SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
        mqtt_reason_code::MQTT_RC_CONNECTION_RATE_EXCEEDED,
        mqtt_reason_code::MQTT_RC_MAXIMUM_CONNECT_TIME,
        mqtt_reason_code::MQTT_RC_SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
        mqtt_reason_code::MQTT_RC_WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
    ];

    /// The C code for a core reason code (the same byte).
    pub fn from_core(code: mqtt_core::codec::ReasonCode) -> Self {
        let byte = code.as_u8();
        Self::ALL
            .into_iter()
            .find(|c| *c as u8 == byte)
            .unwrap_or(mqtt_reason_code::MQTT_RC_UNSPECIFIED_ERROR)
    }
}

/// A static, NUL-terminated name of a reason code byte, as the
/// specification names it (`"unknown reason code"` otherwise). Never NULL.
#[no_mangle]
pub extern "C" fn mqtt_reason_code_str(code: u8) -> *const core::ffi::c_char {
    reason_code_name(code).as_ptr()
}

/// The NUL-terminated description of a reason code byte.
fn reason_code_name(code: u8) -> &'static core::ffi::CStr {
    match code {
        0x00 => c"Success",
        0x01 => c"Granted QoS 1",
        0x02 => c"Granted QoS 2",
        0x04 => c"Disconnect with Will Message",
        0x10 => c"No matching subscribers",
        0x11 => c"No subscription existed",
        0x18 => c"Continue authentication",
        0x19 => c"Re-authenticate",
        0x80 => c"Unspecified error",
        0x81 => c"Malformed Packet",
        0x82 => c"Protocol Error",
        0x83 => c"Implementation specific error",
        0x84 => c"Unsupported Protocol Version",
        0x85 => c"Client Identifier not valid",
        0x86 => c"Bad User Name or Password",
        0x87 => c"Not authorized",
        0x88 => c"Server unavailable",
        0x89 => c"Server busy",
        0x8A => c"Banned",
        0x8B => c"Server shutting down",
        0x8C => c"Bad authentication method",
        0x8D => c"Keep Alive timeout",
        0x8E => c"Session taken over",
        0x8F => c"Topic Filter invalid",
        0x90 => c"Topic Name invalid",
        0x91 => c"Packet Identifier in use",
        0x92 => c"Packet Identifier not found",
        0x93 => c"Receive Maximum exceeded",
        0x94 => c"Topic Alias invalid",
        0x95 => c"Packet too large",
        0x96 => c"Message rate too high",
        0x97 => c"Quota exceeded",
        0x98 => c"Administrative action",
        0x99 => c"Payload format invalid",
        0x9A => c"Retain not supported",
        0x9B => c"QoS not supported",
        0x9C => c"Use another server",
        0x9D => c"Server moved",
        0x9E => c"Shared Subscriptions not supported",
        0x9F => c"Connection rate exceeded",
        0xA0 => c"Maximum connect time",
        0xA1 => c"Subscription Identifiers not supported",
        0xA2 => c"Wildcard Subscriptions not supported",
        _ => c"unknown reason code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt_core::codec::ReasonCode;

    #[test]
    fn reason_codes_match_the_core() {
        for &code in ReasonCode::ALL {
            assert_eq!(mqtt_reason_code::from_core(code) as u8, code as u8);
            let name = reason_code_name(code as u8).to_str().unwrap();
            assert_eq!(name, code.description(), "{code:?}");
        }
        assert_eq!(ReasonCode::ALL.len(), 43);
    }

    #[test]
    fn every_status_has_a_description() {
        for s in 0..=18u32 {
            // SAFETY: mqtt_status_str returns a static C string.
            let text = unsafe { core::ffi::CStr::from_ptr(mqtt_status_str(s)) };
            assert_ne!(text.to_str().unwrap(), "unknown status", "{s}");
        }
        // SAFETY: as above.
        let text = unsafe { core::ffi::CStr::from_ptr(mqtt_status_str(19)) };
        assert_eq!(text.to_str().unwrap(), "unknown status");
    }
}
