//! The trace context envelope for MQTT 3.1.1 and 3.1: an opt-in payload
//! format that carries `traceparent` and `tracestate` in front of the
//! application's payload, since those versions have no User Properties.
//!
//! Both ends must agree to use it (a subscriber that does not know it sees
//! the envelope's bytes). The W3C "Trace Context: MQTT" draft only
//! recommends JSON fields for JSON payloads; this format works for any
//! payload and is cheap to recognise. Version 1, byte by byte:
//!
//! | bytes | value |
//! |---|---|
//! | 0..3 | magic `FF 54 43` (`0xFF` never starts UTF-8 text, then `TC`) |
//! | 3 | format version, `01` |
//! | 4 | `n`, length of the `traceparent` value (55 for its version 00) |
//! | 5..5+n | `traceparent`, ASCII |
//! | 5+n..7+n | `m`, length of the `tracestate` value, big-endian u16 (0: none) |
//! | 7+n..7+n+m | `tracestate`, ASCII |
//! | 7+n+m.. | the application payload, unchanged |
//!
//! A reader refuses a payload without the magic ([`EnvelopeError::NotAnEnvelope`]),
//! with another format version ([`EnvelopeError::UnsupportedVersion`]) or
//! cut short ([`EnvelopeError::Truncated`]). An envelope whose
//! `traceparent` is invalid still yields its payload, without a context;
//! an invalid `tracestate` is dropped (as in [`super::trace_context`]).
//!
//! ```
//! use bytes::Bytes;
//! use mqtt_core::telemetry::envelope;
//! use mqtt_core::telemetry::trace_context::{TraceContext, TraceParent};
//!
//! let parent = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
//! let wrapped = envelope::wrap(&TraceContext::new(parent), b"21.5");
//! let opened = envelope::open(&wrapped).unwrap();
//! assert_eq!(opened.context.unwrap().parent, parent);
//! assert_eq!(&opened.payload[..], b"21.5");
//! assert!(envelope::open(&Bytes::from_static(b"21.5")).is_err());
//! ```

use alloc::string::ToString;
use bytes::{BufMut, Bytes, BytesMut};
use core::fmt;

use super::trace_context::{TraceContext, TRACESTATE_MAX_LEN};

/// The first three bytes of an envelope.
pub const MAGIC: [u8; 3] = [0xFF, b'T', b'C'];
/// The format version this crate writes and reads.
pub const VERSION: u8 = 1;

/// Why a payload could not be read as an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The payload does not start with [`MAGIC`]: it is not an envelope.
    NotAnEnvelope,
    /// An envelope of a format version this crate does not know.
    UnsupportedVersion(u8),
    /// The envelope ends before its fields do.
    Truncated,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::NotAnEnvelope => {
                f.write_str("the payload is not a trace context envelope (no FF 54 43 magic)")
            }
            EnvelopeError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "trace context envelope version {v} is not supported (1 is)"
                )
            }
            EnvelopeError::Truncated => f.write_str("the trace context envelope is cut short"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EnvelopeError {}

/// An opened envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The trace context; `None` when its `traceparent` was invalid.
    pub context: Option<TraceContext>,
    /// The application payload (a slice of the envelope, not a copy).
    pub payload: Bytes,
}

/// True when `payload` starts with the envelope's magic.
pub fn is_envelope(payload: &[u8]) -> bool {
    payload.starts_with(&MAGIC)
}

/// Wraps `payload` with `context` (format version 1).
pub fn wrap(context: &TraceContext, payload: &[u8]) -> Bytes {
    let parent = context.parent.to_string();
    let state = context
        .state
        .as_ref()
        .map(|s| s.as_str())
        .filter(|s| s.len() <= TRACESTATE_MAX_LEN)
        .unwrap_or("");
    let mut out = BytesMut::with_capacity(7 + parent.len() + state.len() + payload.len());
    out.put_slice(&MAGIC);
    out.put_u8(VERSION);
    // A version-00 traceparent is 55 bytes: it fits the length byte.
    out.put_u8(parent.len() as u8);
    out.put_slice(parent.as_bytes());
    // At most TRACESTATE_MAX_LEN (16,384): fits a u16.
    out.put_u16(state.len() as u16);
    out.put_slice(state.as_bytes());
    out.put_slice(payload);
    out.freeze()
}

/// Opens an envelope: its trace context and the application payload.
pub fn open(payload: &Bytes) -> Result<Opened, EnvelopeError> {
    if !is_envelope(payload) {
        return Err(EnvelopeError::NotAnEnvelope);
    }
    let b = &payload[..];
    let version = *b.get(3).ok_or(EnvelopeError::Truncated)?;
    if version != VERSION {
        return Err(EnvelopeError::UnsupportedVersion(version));
    }
    let n = usize::from(*b.get(4).ok_or(EnvelopeError::Truncated)?);
    let parent = b.get(5..5 + n).ok_or(EnvelopeError::Truncated)?;
    let m_at = 5 + n;
    let m = b.get(m_at..m_at + 2).ok_or(EnvelopeError::Truncated)?;
    let m = usize::from(u16::from_be_bytes([m[0], m[1]]));
    let state_at = m_at + 2;
    let state = b
        .get(state_at..state_at + m)
        .ok_or(EnvelopeError::Truncated)?;
    let parent = core::str::from_utf8(parent).ok();
    let state = core::str::from_utf8(state).ok().filter(|s| !s.is_empty());
    let context = parent.and_then(|p| TraceContext::from_values(p, state));
    Ok(Opened {
        context,
        payload: payload.slice(state_at + m..),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::trace_context::{TraceParent, TraceState};

    fn ctx() -> TraceContext {
        TraceContext::new(
            TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap(),
        )
        .with_state(TraceState::parse("congo=t61rcWkgMzE").unwrap())
    }

    #[test]
    fn round_trip_with_state_and_empty_payload() {
        for payload in [&b""[..], b"x", &[0xFF, b'T', b'C', 1][..]] {
            let w = wrap(&ctx(), payload);
            assert_eq!(w.len(), 7 + 55 + 17 + payload.len());
            let o = open(&w).unwrap();
            assert_eq!(o.context, Some(ctx()));
            assert_eq!(&o.payload[..], payload);
        }
    }

    #[test]
    fn not_an_envelope_other_version_and_truncation_are_errors() {
        assert_eq!(
            open(&Bytes::from_static(b"{\"a\":1}")),
            Err(EnvelopeError::NotAnEnvelope)
        );
        assert_eq!(open(&Bytes::new()), Err(EnvelopeError::NotAnEnvelope));
        let w = wrap(&ctx(), b"payload");
        let mut v2 = w.to_vec();
        v2[3] = 2;
        assert_eq!(
            open(&Bytes::from(v2)),
            Err(EnvelopeError::UnsupportedVersion(2))
        );
        // Cut anywhere inside the header: truncated; cut in the payload: a
        // shorter payload (MQTT frames the whole, so that cannot happen on
        // the wire).
        let header = 7 + 55 + 17;
        for cut in 3..header {
            assert_eq!(
                open(&w.slice(..cut)),
                Err(EnvelopeError::Truncated),
                "{cut}"
            );
        }
        assert_eq!(&open(&w.slice(..header)).unwrap().payload[..], b"");
    }

    #[test]
    fn an_invalid_traceparent_keeps_the_payload() {
        let mut w = wrap(&ctx(), b"data").to_vec();
        w[5] = b'f';
        w[6] = b'f'; // version ff
        let o = open(&Bytes::from(w)).unwrap();
        assert_eq!(o.context, None);
        assert_eq!(&o.payload[..], b"data");
    }
}
