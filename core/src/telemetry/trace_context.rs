//! W3C Trace Context (`traceparent`, `tracestate`) in MQTT messages.
//!
//! The values follow the W3C Trace Context recommendation (Level 1, with
//! the Level 2 rule for future versions); their place in a message follows
//! the W3C "Trace Context: MQTT" mapping: two MQTT 5.0 User Properties named
//! `traceparent` and `tracestate`, all lower case.
//!
//! Reading is forgiving of the message and strict about the values: a
//! malformed `traceparent` (wrong version `ff`, wrong lengths, upper-case
//! hex, all-zero ids) makes [`extract`] return `None`, and a malformed
//! `tracestate` is dropped while the `traceparent` is kept. Nothing here
//! fails a message.
//!
//! Several User Properties with the same name are allowed by MQTT. Two
//! `traceparent`s that differ make the context ambiguous: it is ignored.
//! Several `tracestate`s are joined in order with `,`, as HTTP joins
//! repeated header fields, and the result is checked as one list.
//!
//! ```
//! use mqtt_core::codec::PublishProperties;
//! use mqtt_core::telemetry::trace_context::{self, TraceContext, TraceParent};
//!
//! let parent = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
//! let mut props = PublishProperties::default();
//! trace_context::inject(&mut props, &TraceContext::new(parent));
//! let back = trace_context::extract(&props).unwrap();
//! assert_eq!(back.parent, parent);
//! assert!(back.parent.sampled());
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::codec::{MqttString, PublishProperties, UserPropertiesRef, UserProperty};

/// The User Property name of the `traceparent` field.
pub const TRACEPARENT: &str = "traceparent";
/// The User Property name of the `tracestate` field.
pub const TRACESTATE: &str = "tracestate";

/// Most list members a `tracestate` may hold (W3C: 32).
pub const TRACESTATE_MAX_MEMBERS: usize = 32;
/// Longest `tracestate` this crate reads or writes, in bytes. W3C asks
/// vendors to propagate at least 512 characters; 32 members of the longest
/// key and value fit in 16,384.
pub const TRACESTATE_MAX_LEN: usize = 16_384;

/// The `traceparent` field: trace id, parent (span) id and trace flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id: 16 bytes, never all zero.
    pub trace_id: [u8; 16],
    /// The id of the span that sent the message: 8 bytes, never all zero.
    pub parent_id: [u8; 8],
    /// Trace flags; bit 0 is "sampled", bit 1 (Level 2) "random".
    pub flags: u8,
}

/// Why a value is not a valid `traceparent` (see [`TraceParent::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceParentError {
    /// Too short, too long for version 00, or a future version not
    /// followed by `-`.
    Length,
    /// The version is not two lower-case hex digits, or is `ff`.
    Version,
    /// A `-` is missing between the fields.
    Delimiter,
    /// A field is not lower-case hex.
    Hex,
    /// The trace id is all zero.
    ZeroTraceId,
    /// The parent id is all zero.
    ZeroParentId,
}

impl fmt::Display for TraceParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceParentError::Length => "traceparent has the wrong length",
            TraceParentError::Version => "traceparent version is not valid",
            TraceParentError::Delimiter => "traceparent fields are not separated by '-'",
            TraceParentError::Hex => "traceparent field is not lower-case hex",
            TraceParentError::ZeroTraceId => "traceparent trace id is all zero",
            TraceParentError::ZeroParentId => "traceparent parent id is all zero",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TraceParentError {}

/// The value of one lower-case hex digit.
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes lower-case hex into `out` (`hex.len() == 2 * out.len()`).
fn decode_hex(hex: &[u8], out: &mut [u8]) -> Result<(), TraceParentError> {
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let hi = hex_digit(pair[0]).ok_or(TraceParentError::Hex)?;
        let lo = hex_digit(pair[1]).ok_or(TraceParentError::Hex)?;
        *byte = hi << 4 | lo;
    }
    Ok(())
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

impl TraceParent {
    /// Length of a version-00 `traceparent`.
    pub const LEN: usize = 55;

    /// A trace parent from its ids; `None` when either id is all zero.
    pub fn new(trace_id: [u8; 16], parent_id: [u8; 8], flags: u8) -> Option<Self> {
        (trace_id != [0; 16] && parent_id != [0; 8]).then_some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Parses a `traceparent` value as W3C Trace Context says:
    /// `version-traceid-parentid-flags`, lower-case hex only, version `ff`
    /// invalid, ids not all zero; version 00 is exactly 55 characters; a
    /// higher version may be longer when character 55 is `-` (its first four
    /// fields are read as version 00's, and it is written back as 00).
    pub fn parse(value: &str) -> Result<Self, TraceParentError> {
        let b = value.as_bytes();
        if b.len() < Self::LEN {
            return Err(TraceParentError::Length);
        }
        let (hi, lo) = (hex_digit(b[0]), hex_digit(b[1]));
        let version = match (hi, lo) {
            (Some(h), Some(l)) => h << 4 | l,
            _ => return Err(TraceParentError::Version),
        };
        if version == 0xff {
            return Err(TraceParentError::Version);
        }
        if version == 0 && b.len() != Self::LEN {
            return Err(TraceParentError::Length);
        }
        if version != 0 && b.len() > Self::LEN && b[Self::LEN] != b'-' {
            return Err(TraceParentError::Length);
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(TraceParentError::Delimiter);
        }
        let mut trace_id = [0; 16];
        decode_hex(&b[3..35], &mut trace_id)?;
        let mut parent_id = [0; 8];
        decode_hex(&b[36..52], &mut parent_id)?;
        let mut flags = [0; 1];
        decode_hex(&b[53..55], &mut flags)?;
        if trace_id == [0; 16] {
            return Err(TraceParentError::ZeroTraceId);
        }
        if parent_id == [0; 8] {
            return Err(TraceParentError::ZeroParentId);
        }
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags: flags[0],
        })
    }

    /// The sampled flag (bit 0).
    pub fn sampled(&self) -> bool {
        self.flags & 1 != 0
    }

    /// The trace id as 32 lower-case hex digits.
    pub fn trace_id_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        push_hex(&mut s, &self.trace_id);
        s
    }

    /// The parent id as 16 lower-case hex digits.
    pub fn parent_id_hex(&self) -> String {
        let mut s = String::with_capacity(16);
        push_hex(&mut s, &self.parent_id);
        s
    }
}

impl fmt::Display for TraceParent {
    /// The version-00 form, `00-<trace id>-<parent id>-<flags>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(Self::LEN);
        s.push_str("00-");
        push_hex(&mut s, &self.trace_id);
        s.push('-');
        push_hex(&mut s, &self.parent_id);
        s.push('-');
        push_hex(&mut s, &[self.flags]);
        f.write_str(&s)
    }
}

/// A checked `tracestate`: at most 32 `key=value` members, keys unique,
/// in the order given, kept in a normal form (members joined by `,`,
/// empty members and optional white space dropped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TraceState(String);

/// Why a value is not a valid `tracestate` (see [`TraceState::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceStateError {
    /// Longer than [`TRACESTATE_MAX_LEN`].
    TooLong,
    /// More than 32 members.
    TooManyMembers,
    /// A member is not `key=value`, or its key or value breaks the grammar.
    Member,
    /// Two members have the same key.
    DuplicateKey,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceStateError::TooLong => "tracestate is too long",
            TraceStateError::TooManyMembers => "tracestate has more than 32 members",
            TraceStateError::Member => "tracestate member is not key=value per W3C",
            TraceStateError::DuplicateKey => "tracestate has a key twice",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TraceStateError {}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

/// `simple-key` or `tenant-id@system-id`.
fn valid_key(key: &[u8]) -> bool {
    match key.iter().position(|&c| c == b'@') {
        None => {
            // lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")
            !key.is_empty()
                && key.len() <= 256
                && key[0].is_ascii_lowercase()
                && key.iter().all(|&c| is_key_char(c))
        }
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            // (lcalpha / DIGIT) 0*240(...) "@" lcalpha 0*13(...)
            !tenant.is_empty()
                && tenant.len() <= 241
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && tenant.iter().all(|&c| is_key_char(c))
                && !system.is_empty()
                && system.len() <= 14
                && system[0].is_ascii_lowercase()
                && system.iter().all(|&c| is_key_char(c))
        }
    }
}

/// `0*255(chr) nblk-chr`: printable ASCII without `,` and `=`, spaces
/// allowed except at the end.
fn valid_value(value: &[u8]) -> bool {
    let nblk = |c: u8| (0x21..=0x7e).contains(&c) && c != b',' && c != b'=';
    !value.is_empty()
        && value.len() <= 256
        && value.iter().all(|&c| c == b' ' || nblk(c))
        && value.last().is_some_and(|&c| nblk(c))
}

impl TraceState {
    /// Parses and checks a `tracestate` value (W3C grammar: list members
    /// separated by `,` with optional spaces or tabs around them, empty
    /// members allowed and dropped, at most 32 members, unique keys).
    pub fn parse(value: &str) -> Result<Self, TraceStateError> {
        if value.len() > TRACESTATE_MAX_LEN {
            return Err(TraceStateError::TooLong);
        }
        let mut out = String::with_capacity(value.len());
        let mut keys: Vec<&str> = Vec::new();
        for member in value.split(',') {
            let member = member.trim_matches(|c| c == ' ' || c == '\t');
            if member.is_empty() {
                continue;
            }
            let (key, val) = member.split_once('=').ok_or(TraceStateError::Member)?;
            if !valid_key(key.as_bytes()) || !valid_value(val.as_bytes()) {
                return Err(TraceStateError::Member);
            }
            if keys.contains(&key) {
                return Err(TraceStateError::DuplicateKey);
            }
            if keys.len() == TRACESTATE_MAX_MEMBERS {
                return Err(TraceStateError::TooManyMembers);
            }
            keys.push(key);
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(member);
        }
        Ok(TraceState(out))
    }

    /// The normal form, as written into a message.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when it has no member.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members, `(key, value)`, in order.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .split(',')
            .filter(|m| !m.is_empty())
            .filter_map(|m| m.split_once('='))
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A trace context as a message carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// `traceparent`.
    pub parent: TraceParent,
    /// `tracestate`; `None` when absent, empty or invalid.
    pub state: Option<TraceState>,
}

impl TraceContext {
    /// A context without `tracestate`.
    pub fn new(parent: TraceParent) -> Self {
        TraceContext {
            parent,
            state: None,
        }
    }

    /// With a `tracestate` (an empty one is not written).
    pub fn with_state(mut self, state: TraceState) -> Self {
        self.state = (!state.is_empty()).then_some(state);
        self
    }

    /// Reads a context from a `traceparent` value and an optional
    /// `tracestate` value, as [`extract`] does: `None` when the
    /// `traceparent` is invalid; an invalid `tracestate` is dropped.
    pub fn from_values(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let parent = TraceParent::parse(traceparent).ok()?;
        let state = tracestate
            .and_then(|s| TraceState::parse(s).ok())
            .filter(|s| !s.is_empty());
        Some(TraceContext { parent, state })
    }
}

/// Extracts the trace context from User Properties (a borrowed PUBLISH's
/// `publish.properties.user_properties()`, or
/// `UserPropertiesRef::from_owned(&owned.user_properties)`). `None` when there is no valid
/// `traceparent`, or when two differ.
pub fn extract_from(user_properties: UserPropertiesRef<'_>) -> Option<TraceContext> {
    let mut parent: Option<&str> = None;
    let mut states: Vec<&str> = Vec::new();
    for (key, value) in user_properties.iter() {
        match key.as_str() {
            TRACEPARENT => match parent {
                None => parent = Some(value.as_str()),
                Some(p) if p == value.as_str() => {}
                Some(_) => return None,
            },
            TRACESTATE => states.push(value.as_str()),
            _ => {}
        }
    }
    let parent = parent?;
    let joined: String;
    let state = match states.as_slice() {
        [] => None,
        [one] => Some(*one),
        many => {
            joined = many.join(",");
            Some(joined.as_str())
        }
    };
    TraceContext::from_values(parent, state)
}

/// Extracts the trace context from a PUBLISH's properties (see
/// [`extract_from`]).
pub fn extract(properties: &PublishProperties) -> Option<TraceContext> {
    extract_from(UserPropertiesRef::from_owned(&properties.user_properties))
}

/// Writes `context` into the User Properties: the first `traceparent`
/// (and `tracestate`) keeps its place and gets the new value, any further
/// ones are removed, a missing one is appended at the end; every other
/// User Property stays as it was, in order. Without a `tracestate` in
/// `context`, existing `tracestate`s are removed (they belonged to the old
/// parent).
pub fn inject_into(user_properties: &mut Vec<UserProperty>, context: &TraceContext) {
    let parent = context.parent.to_string();
    let state = context.state.as_ref().map(|s| s.as_str());
    let mut parent_done = false;
    let mut state_done = false;
    user_properties.retain_mut(|p| match p.key.as_str() {
        TRACEPARENT if !parent_done => {
            parent_done = true;
            p.value = string(&parent);
            true
        }
        TRACESTATE if !state_done && state.is_some() => {
            state_done = true;
            p.value = string(state.unwrap_or_default());
            true
        }
        TRACEPARENT | TRACESTATE => false,
        _ => true,
    });
    if !parent_done {
        user_properties.push(UserProperty {
            key: MqttString::from_validated(bytes::Bytes::from_static(TRACEPARENT.as_bytes())),
            value: string(&parent),
        });
    }
    if let (Some(state), false) = (state, state_done) {
        user_properties.push(UserProperty {
            key: MqttString::from_validated(bytes::Bytes::from_static(TRACESTATE.as_bytes())),
            value: string(state),
        });
    }
}

/// Writes `context` into a PUBLISH's properties (see [`inject_into`]).
pub fn inject(properties: &mut PublishProperties, context: &TraceContext) {
    inject_into(&mut properties.user_properties, context);
}

/// Removes every `traceparent` and `tracestate` User Property; returns
/// whether there was one.
pub fn remove(properties: &mut PublishProperties) -> bool {
    let before = properties.user_properties.len();
    properties
        .user_properties
        .retain(|p| !matches!(p.key.as_str(), TRACEPARENT | TRACESTATE));
    properties.user_properties.len() != before
}

/// An MQTT string from text this module made or checked: ASCII without
/// U+0000, so valid.
fn string(s: &str) -> MqttString {
    MqttString::from_validated(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn parses_and_writes_back_the_w3c_example() {
        let p = TraceParent::parse(VALID).unwrap();
        assert_eq!(p.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(p.parent_id_hex(), "b7ad6b7169203331");
        assert!(p.sampled());
        assert_eq!(p.to_string(), VALID);
    }

    /// The W3C test suite's classes of invalid `traceparent`s.
    #[test]
    fn invalid_traceparents_are_refused() {
        let cases: &[(&str, TraceParentError)] = &[
            ("", TraceParentError::Length),
            (&VALID[..54], TraceParentError::Length),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
                TraceParentError::Length,
            ),
            (
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                TraceParentError::Version,
            ),
            (
                "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                TraceParentError::Version,
            ),
            (
                "0A-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                TraceParentError::Version,
            ),
            (
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                TraceParentError::Hex,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
                TraceParentError::Hex,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0X",
                TraceParentError::Hex,
            ),
            (
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                TraceParentError::ZeroTraceId,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                TraceParentError::ZeroParentId,
            ),
            (
                "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                TraceParentError::Delimiter,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",
                TraceParentError::Delimiter,
            ),
            (
                "00-0af7651916cd43dd8448eb211c8031-9cb7ad6b7169203331-01",
                TraceParentError::Delimiter,
            ),
            (
                "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
                TraceParentError::Length,
            ),
        ];
        for (value, why) in cases {
            assert_eq!(TraceParent::parse(value), Err(*why), "{value}");
        }
    }

    #[test]
    fn a_future_version_is_read_as_00() {
        let p = TraceParent::parse(
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds",
        )
        .unwrap();
        assert_eq!(p.to_string(), VALID);
        assert!(TraceParent::parse(&VALID.replacen("00", "02", 1)).is_ok());
    }

    #[test]
    fn tracestate_grammar() {
        let s = TraceState::parse(" congo=t61rcWkgMzE ,\t, rojo=00f067aa0ba902b7 ").unwrap();
        assert_eq!(s.as_str(), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
        assert_eq!(s.get("rojo"), Some("00f067aa0ba902b7"));
        assert!(TraceState::parse("tenant1@vendor=x").is_ok());
        assert!(TraceState::parse("a=b c").is_ok());
        assert_eq!(TraceState::parse("").unwrap(), TraceState::default());
        for bad in [
            "Congo=x",
            "congo",
            "congo=",
            "congo=a=b",
            "1congo=x",
            "@vendor=x",
            "t@=x",
            "t@Vendor=x",
            "t@vendor123456789=x",
            "congo=x\u{7f}",
        ] {
            assert_eq!(
                TraceState::parse(bad),
                Err(TraceStateError::Member),
                "{bad}"
            );
        }
        assert_eq!(
            TraceState::parse("a=1,a=2"),
            Err(TraceStateError::DuplicateKey)
        );
        let many: Vec<String> = (0..33).map(|i| alloc::format!("k{i}=v")).collect();
        assert_eq!(
            TraceState::parse(&many.join(",")),
            Err(TraceStateError::TooManyMembers)
        );
        assert!(TraceState::parse(&many[..32].join(",")).is_ok());
    }

    fn props(pairs: &[(&str, &str)]) -> PublishProperties {
        let mut p = PublishProperties::default();
        for (k, v) in pairs {
            p.user_properties.push(UserProperty::new(k, v).unwrap());
        }
        p
    }

    fn pairs(p: &PublishProperties) -> Vec<(String, String)> {
        p.user_properties
            .iter()
            .map(|u| (u.key.as_str().into(), u.value.as_str().into()))
            .collect()
    }

    #[test]
    fn inject_keeps_other_properties_in_place() {
        let mut p = props(&[
            ("a", "1"),
            ("traceparent", "garbage"),
            ("b", "2"),
            ("tracestate", "old=1"),
            ("traceparent", "another"),
            ("a", "3"),
        ]);
        let ctx = TraceContext::new(TraceParent::parse(VALID).unwrap())
            .with_state(TraceState::parse("new=2").unwrap());
        inject(&mut p, &ctx);
        let want: Vec<(String, String)> = [
            ("a", "1"),
            ("traceparent", VALID),
            ("b", "2"),
            ("tracestate", "new=2"),
            ("a", "3"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        assert_eq!(pairs(&p), want);
        assert_eq!(extract(&p), Some(ctx));
    }

    #[test]
    fn extract_ignores_what_is_invalid_or_ambiguous() {
        assert_eq!(extract(&props(&[("traceparent", "00-xyz")])), None);
        let ctx = extract(&props(&[("traceparent", VALID), ("tracestate", "Bad")])).unwrap();
        assert_eq!(ctx.state, None);
        let other = VALID.replace("b7ad", "c7ad");
        assert_eq!(
            extract(&props(&[("traceparent", VALID), ("traceparent", &other)])),
            None
        );
        let ctx = extract(&props(&[
            ("tracestate", "a=1"),
            ("traceparent", VALID),
            ("tracestate", "b=2"),
        ]))
        .unwrap();
        assert_eq!(ctx.state.unwrap().as_str(), "a=1,b=2");
        assert_eq!(
            extract(&props(&[
                ("tracestate", "a=1"),
                ("tracestate", "a=2"),
                ("traceparent", VALID)
            ]))
            .unwrap()
            .state,
            None
        );
        assert_eq!(extract(&props(&[("TraceParent", VALID)])), None);
    }

    #[test]
    fn inject_without_state_removes_the_old_state() {
        let mut p = props(&[("tracestate", "old=1"), ("x", "y")]);
        inject(
            &mut p,
            &TraceContext::new(TraceParent::parse(VALID).unwrap()),
        );
        assert_eq!(
            pairs(&p),
            vec![
                ("x".into(), "y".into()),
                ("traceparent".into(), VALID.into())
            ]
        );
        assert!(remove(&mut p));
        assert_eq!(pairs(&p), vec![("x".into(), "y".into())]);
        assert!(!remove(&mut p));
    }
}
