//! The records of the durable broker state and their encoding in a store
//! (see the [module docs](super) for how a store is used).
//!
//! # Frames
//!
//! After [`STORE_HEADER`], a store is a sequence of frames, one record
//! each:
//!
//! | Bytes | Field |
//! |-------|-------|
//! | 4 | body length `n`, `u32` little-endian, at most [`MAX_FRAME_LEN`] |
//! | 4 | [`crc32c`] of the body, `u32` little-endian |
//! | `n` | body: the record's kind byte, then its fields |
//!
//! [`Record::encode_frame`] appends one, [`Frames`] reads them back and
//! stops at the first frame that is cut short, too long, fails its
//! checksum or does not decode.
//!
//! # Field types
//!
//! | Type | Encoding |
//! |------|----------|
//! | `u8` | one byte |
//! | `bool` | one byte, 0 or 1 |
//! | `u16` | two bytes, little-endian |
//! | `v32`, `v64` | unsigned LEB128: seven bits a byte, least significant group first, high bit set when more follow; the shortest form only (an overlong form, or a value over `u32::MAX` / `u64::MAX`, is invalid) |
//! | `str` | `v32` byte length, then well-formed UTF-8 without U+0000 (an MQTT string, [MQTT-1.5.4-1] [MQTT-1.5.4-2]) |
//! | `bin` | `v32` byte length, then the bytes |
//! | `msg` | a [`Publish`], below |
//!
//! Fields in `[brackets]` are present only when a flag says so. Times
//! (`now`, `expires_at`, `queued_at`, `at`, `stored_at`) are
//! [`Instant`]s, `v64`. Every record has a fixed form: a body that is
//! valid decodes to a record that encodes back to the same bytes.
//!
//! # Records
//!
//! | Kind | Record | Fields after the kind byte |
//! |------|--------|----------------------------|
//! | 1 | [`Commit`](Record::Commit) | `now` v64 |
//! | 2 | [`Session`](Record::Session) | `session` v32, `client_id` str, `expiry` v32, flags u8 (bit 0: `username` follows, bit 1: `expires_at` follows, others 0), [`username` str], [`expires_at` v64] |
//! | 3 | [`SessionGone`](Record::SessionGone) | `session` v32 |
//! | 4 | [`Subscription`](Record::Subscription) | `session` v32, options u8 (the MQTT 5.0 Subscription Options byte: bits 0-1 QoS, bit 2 No Local, bit 3 Retain As Published, bits 4-5 Retain Handling; bit 6 0; bit 7: `identifier` follows), [`identifier` v32], `filter` str (a valid topic filter, `$share/...` included) |
//! | 5 | [`SubscriptionGone`](Record::SubscriptionGone) | `session` v32, `filter` str (a valid topic filter) |
//! | 6 | [`Message`](Record::Message) | `session` v32, `seq` v64, `queued_at` v64, `packet_id` u16, `released` bool, `publish` msg |
//! | 7 | [`MessageState`](Record::MessageState) | `session` v32, `seq` v64, `packet_id` u16, `released` bool |
//! | 8 | [`MessageGone`](Record::MessageGone) | `session` v32, `seq` v64 |
//! | 9 | [`InboundQos2`](Record::InboundQos2) | `session` v32, `packet_id` u16 |
//! | 10 | [`InboundQos2Gone`](Record::InboundQos2Gone) | `session` v32, `packet_id` u16 |
//! | 11 | [`Will`](Record::Will) | `session` v32, `at` v64, `publish` msg |
//! | 12 | [`WillGone`](Record::WillGone) | `session` v32 |
//! | 13 | [`Retained`](Record::Retained) | `stored_at` v64, `publish` msg |
//! | 14 | [`RetainedGone`](Record::RetainedGone) | `topic` str (a valid, non-empty topic name) |
//!
//! Kind 0 and kinds above 14 are unknown ([`RecordError::UnknownKind`]).
//!
//! # Messages (`msg`)
//!
//! A [`Publish`] is kept whole except for its DUP flag (restored as
//! `false`) and its Topic Alias (a property of one connection, restored
//! as absent). It is always last in its record: the payload runs to the
//! end of the body.
//!
//! | Field | Encoding |
//! |-------|----------|
//! | flags | u8: bits 0-1 QoS (0 to 2), bit 2 RETAIN, others 0 |
//! | `packet_id` | u16, as held (also at QoS 0) |
//! | `topic` | str: a valid topic name, or empty for [`TopicName::EMPTY`](crate::codec::TopicName::EMPTY) |
//! | properties | u8, one bit per property present (0: none, as in every 3.1.1 message): bit 0 Payload Format Indicator, bit 1 its value (0 unless bit 0), bit 2 Message Expiry Interval, bit 3 Content Type, bit 4 Response Topic, bit 5 Correlation Data, bit 6 Subscription Identifiers, bit 7 User Properties |
//! | [Message Expiry Interval] | v32 |
//! | [Content Type] | str |
//! | [Response Topic] | str |
//! | [Correlation Data] | bin |
//! | [Subscription Identifiers] | v32 count (at least 1), then each v32, in order |
//! | [User Properties] | v32 count (at least 1), then each name str and value str, in order, duplicates kept |
//! | payload | the rest of the body |
//!
//! Property values are kept as their types hold them: the decoder checks
//! what the types guarantee (strings are MQTT strings, the topic a topic
//! name), not the rules the MQTT codec adds on top (a Subscription
//! Identifier of 0, a Response Topic with a wildcard, a payload that is
//! not UTF-8 with a Payload Format Indicator of 1 all round-trip), so
//! whatever the engine holds comes back.
//!
//! The MQTT PUBLISH encoding itself is not used: it refuses some values a
//! [`Publish`] can hold (a packet identifier at QoS 0, the properties
//! above), and encoding a record cannot fail.

use alloc::boxed::Box;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::codec::{
    LazyPublishProperties, MqttString, ProtocolVersion, Publish, QoS, SubscriptionOptions,
    TopicName, UserProperty,
};
use crate::time::Instant;
use crate::topic::{check_topic_filter_bytes, check_topic_name_bytes};

/// The first bytes of every store.
pub const STORE_MAGIC: [u8; 8] = *b"LMQTSTOR";

/// The format version this build writes and the newest it reads.
pub const STORE_FORMAT_VERSION: u32 = 1;

/// The header of a store: [`STORE_MAGIC`], [`STORE_FORMAT_VERSION`]
/// (little-endian) and four reserved zero bytes.
pub const STORE_HEADER: [u8; 16] = {
    let mut h = [0u8; 16];
    let mut i = 0;
    while i < 8 {
        h[i] = STORE_MAGIC[i];
        i += 1;
    }
    let v = STORE_FORMAT_VERSION.to_le_bytes();
    h[8] = v[0];
    h[9] = v[1];
    h[10] = v[2];
    h[11] = v[3];
    h
};

/// One change of the broker's durable state. Sessions are named by their
/// number (the engine's [`ClientKey`](crate::broker::ClientKey) value),
/// given with the Client Identifier in [`Record::Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// The end of a batch: its records apply together. `now` is the
    /// engine time the batch was taken at.
    Commit {
        /// The engine time.
        now: Instant,
    },
    /// A persistent session was created or changed.
    Session {
        /// The session's number.
        session: u32,
        /// Its Client Identifier.
        client_id: Box<str>,
        /// Session Expiry Interval in seconds (`u32::MAX`: never).
        expiry: u32,
        /// The User Name it connected with (for authorization).
        username: Option<Box<str>>,
        /// When it expires: `None` while its client is connected.
        expires_at: Option<Instant>,
    },
    /// A session ended: it, its subscriptions, messages, inbound QoS 2
    /// state and will are gone.
    SessionGone {
        /// The session's number.
        session: u32,
    },
    /// A subscription was made or replaced.
    Subscription {
        /// The session's number.
        session: u32,
        /// The topic filter (with `$share/...` for a shared one).
        filter: Box<str>,
        /// Its options.
        options: SubscriptionOptions,
        /// Its Subscription Identifier.
        identifier: Option<u32>,
    },
    /// A subscription was removed.
    SubscriptionGone {
        /// The session's number.
        session: u32,
        /// The topic filter.
        filter: Box<str>,
    },
    /// A QoS 1 or 2 message for a session: queued (packet identifier 0)
    /// or sent.
    Message {
        /// The session's number.
        session: u32,
        /// The message's number within the engine (increasing).
        seq: u64,
        /// When it was queued (for its Message Expiry Interval).
        queued_at: Instant,
        /// The packet identifier it was sent with, 0 while unsent.
        packet_id: u16,
        /// PUBREC arrived and PUBREL was sent (QoS 2).
        released: bool,
        /// The message as it goes to this client (its QoS, RETAIN flag
        /// and Subscription Identifiers).
        publish: Publish,
    },
    /// A message was sent (`packet_id`) or released (PUBREL sent).
    MessageState {
        /// The session's number.
        session: u32,
        /// The message's number.
        seq: u64,
        /// The packet identifier it was sent with.
        packet_id: u16,
        /// PUBREC arrived and PUBREL was sent (QoS 2).
        released: bool,
    },
    /// A message was completed, dropped or expired.
    MessageGone {
        /// The session's number.
        session: u32,
        /// The message's number.
        seq: u64,
    },
    /// An inbound QoS 2 message was accepted (PUBREC sent): its resends
    /// are not routed again.
    InboundQos2 {
        /// The session's number.
        session: u32,
        /// Its packet identifier.
        packet_id: u16,
    },
    /// PUBREL arrived for an inbound QoS 2 message.
    InboundQos2Gone {
        /// The session's number.
        session: u32,
        /// Its packet identifier.
        packet_id: u16,
    },
    /// A will waits for its Will Delay Interval.
    Will {
        /// The session's number.
        session: u32,
        /// When it is published.
        at: Instant,
        /// The will as a message.
        publish: Publish,
    },
    /// A delayed will was published or cancelled.
    WillGone {
        /// The session's number.
        session: u32,
    },
    /// A retained message was stored (replacing any on its topic).
    Retained {
        /// When it was stored (for its Message Expiry Interval).
        stored_at: Instant,
        /// The message.
        publish: Publish,
    },
    /// The retained message of a topic was cleared.
    RetainedGone {
        /// The topic name.
        topic: Box<str>,
    },
}

/// A record body that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The body ended inside a field.
    Truncated,
    /// An unknown record kind byte.
    UnknownKind(u8),
    /// A field holds a value no record can have (a bad UTF-8 string, a
    /// QoS of 3, a PUBLISH that does not decode, bytes left over).
    Invalid(&'static str),
}

impl core::fmt::Display for RecordError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RecordError::Truncated => f.write_str("record cut short"),
            RecordError::UnknownKind(k) => write!(f, "unknown record kind {k}"),
            RecordError::Invalid(what) => write!(f, "invalid record: {what}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RecordError {}

/// Why a frame of a store could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The store ends inside a frame's length, checksum or body.
    Truncated,
    /// The body's CRC-32C is not the one stored.
    Checksum,
    /// The length is larger than any record can be.
    TooLong(u32),
    /// The checksum matched but the body is not a valid record.
    Record(RecordError),
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::Truncated => f.write_str("frame cut short"),
            FrameError::Checksum => f.write_str("checksum mismatch"),
            FrameError::TooLong(n) => write!(f, "frame length {n} too large"),
            FrameError::Record(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FrameError {}

/// The size of a frame's length and checksum fields, before its body.
pub const FRAME_HEADER_LEN: usize = 8;

/// The largest body length a frame may declare: 256 MiB (the largest MQTT
/// packet) plus 64 KiB for the record's other fields. A length above it is
/// [`FrameError::TooLong`], so a reader never waits for or buffers more
/// than this for one frame. (The broker's limits keep every record under
/// it; a record encoded over it would read back as `TooLong`.)
pub const MAX_FRAME_LEN: u32 = (256 << 20) + (64 << 10);

/// The reflected CRC-32C (Castagnoli) polynomial.
const CRC32C_POLY: u32 = 0x82F6_3B78;

/// Slicing-by-8 tables: `CRC_TABLES[0]` is the byte-at-a-time table,
/// `CRC_TABLES[k][b]` the CRC of byte `b` followed by `k` zero bytes.
static CRC_TABLES: [[u32; 256]; 8] = crc_tables();

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ CRC32C_POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// CRC-32C (Castagnoli) of `data`: reflected polynomial `0x82F63B78`,
/// initial value and final XOR `0xFFFFFFFF` (the CRC of iSCSI, ext4 and
/// SSE 4.2's `crc32` instruction).
///
/// ```
/// use mqtt_core::broker::persist::crc32c;
/// assert_eq!(crc32c(b"123456789"), 0xE306_9283);
/// ```
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c_append(0, data)
}

/// Continues a CRC-32C: `crc32c_append(crc32c(a), b)` is the CRC-32C of
/// `a` followed by `b` (start from 0), for data read in pieces.
///
/// ```
/// use mqtt_core::broker::persist::{crc32c, record::crc32c_append};
/// assert_eq!(crc32c_append(crc32c(b"1234"), b"56789"), crc32c(b"123456789"));
/// ```
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    let t = &CRC_TABLES;
    let mut crc = !crc;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(lo & 0xFF) as usize]
            ^ t[6][((lo >> 8) & 0xFF) as usize]
            ^ t[5][((lo >> 16) & 0xFF) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xFF) as usize]
            ^ t[2][((hi >> 8) & 0xFF) as usize]
            ^ t[1][((hi >> 16) & 0xFF) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ u32::from(b)) & 0xFF) as usize];
    }
    !crc
}

// ---- record kinds (see the table in the module docs) ----

const K_COMMIT: u8 = 1;
const K_SESSION: u8 = 2;
const K_SESSION_GONE: u8 = 3;
const K_SUBSCRIPTION: u8 = 4;
const K_SUBSCRIPTION_GONE: u8 = 5;
const K_MESSAGE: u8 = 6;
const K_MESSAGE_STATE: u8 = 7;
const K_MESSAGE_GONE: u8 = 8;
const K_INBOUND_QOS2: u8 = 9;
const K_INBOUND_QOS2_GONE: u8 = 10;
const K_WILL: u8 = 11;
const K_WILL_GONE: u8 = 12;
const K_RETAINED: u8 = 13;
const K_RETAINED_GONE: u8 = 14;

// Session flags.
const SESSION_USERNAME: u8 = 1;
const SESSION_EXPIRES_AT: u8 = 2;

/// Bit 7 of a Subscription's options byte: an identifier follows.
const SUB_IDENTIFIER: u8 = 0x80;
/// Bit 6 of a Subscription's options byte, reserved (0).
const SUB_RESERVED: u8 = 0x40;

// Message flags.
const MSG_QOS: u8 = 0b011;
const MSG_RETAIN: u8 = 0b100;

// Message property bits.
const P_FORMAT: u8 = 1;
const P_FORMAT_UTF8: u8 = 1 << 1;
const P_EXPIRY: u8 = 1 << 2;
const P_CONTENT_TYPE: u8 = 1 << 3;
const P_RESPONSE_TOPIC: u8 = 1 << 4;
const P_CORRELATION: u8 = 1 << 5;
const P_SUB_IDS: u8 = 1 << 6;
const P_USER: u8 = 1 << 7;

// ---- encoding ----

/// Where a body is written: a buffer, or a counter that sizes it first.
trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn byte(&mut self, b: u8) {
        self.put(&[b]);
    }

    fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }

    fn v64(&mut self, mut v: u64) {
        let mut buf = [0u8; 10];
        let mut n = 0;
        while v >= 0x80 {
            buf[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        buf[n] = v as u8;
        self.put(&buf[..=n]);
    }

    fn v32(&mut self, v: u32) {
        self.v64(u64::from(v));
    }

    /// A length: `v32` (a length over `u32::MAX` cannot come from MQTT;
    /// it is written saturated and fails to decode).
    fn length(&mut self, n: usize) {
        self.v32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn bin(&mut self, b: &[u8]) {
        self.length(b.len());
        self.put(b);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Counts the bytes a body takes.
struct Count(usize);

impl Sink for Count {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

fn put_msg<S: Sink>(s: &mut S, p: &Publish) {
    s.byte(p.qos.as_u8() | if p.retain { MSG_RETAIN } else { 0 });
    s.u16(p.packet_id);
    s.bin(p.topic.as_bytes());
    let props = &*p.properties;
    let mut bits = 0u8;
    match props.payload_format_indicator {
        Some(true) => bits |= P_FORMAT | P_FORMAT_UTF8,
        Some(false) => bits |= P_FORMAT,
        None => {}
    }
    if props.message_expiry_interval.is_some() {
        bits |= P_EXPIRY;
    }
    if props.content_type.is_some() {
        bits |= P_CONTENT_TYPE;
    }
    if props.response_topic.is_some() {
        bits |= P_RESPONSE_TOPIC;
    }
    if props.correlation_data.is_some() {
        bits |= P_CORRELATION;
    }
    if !props.subscription_identifiers.is_empty() {
        bits |= P_SUB_IDS;
    }
    if !props.user_properties.is_empty() {
        bits |= P_USER;
    }
    s.byte(bits);
    if let Some(v) = props.message_expiry_interval {
        s.v32(v);
    }
    if let Some(v) = &props.content_type {
        s.bin(v.as_bytes());
    }
    if let Some(v) = &props.response_topic {
        s.bin(v.as_bytes());
    }
    if let Some(v) = &props.correlation_data {
        s.bin(v);
    }
    if !props.subscription_identifiers.is_empty() {
        s.length(props.subscription_identifiers.len());
        for &id in &props.subscription_identifiers {
            s.v32(id);
        }
    }
    if !props.user_properties.is_empty() {
        s.length(props.user_properties.len());
        for u in &props.user_properties {
            s.bin(u.key.as_bytes());
            s.bin(u.value.as_bytes());
        }
    }
    s.put(&p.payload);
}

impl Record {
    fn put_body<S: Sink>(&self, s: &mut S) {
        match self {
            Record::Commit { now } => {
                s.byte(K_COMMIT);
                s.v64(*now);
            }
            Record::Session {
                session,
                client_id,
                expiry,
                username,
                expires_at,
            } => {
                s.byte(K_SESSION);
                s.v32(*session);
                s.bin(client_id.as_bytes());
                s.v32(*expiry);
                let mut flags = 0;
                if username.is_some() {
                    flags |= SESSION_USERNAME;
                }
                if expires_at.is_some() {
                    flags |= SESSION_EXPIRES_AT;
                }
                s.byte(flags);
                if let Some(u) = username {
                    s.bin(u.as_bytes());
                }
                if let Some(t) = expires_at {
                    s.v64(*t);
                }
            }
            Record::SessionGone { session } => {
                s.byte(K_SESSION_GONE);
                s.v32(*session);
            }
            Record::Subscription {
                session,
                filter,
                options,
                identifier,
            } => {
                s.byte(K_SUBSCRIPTION);
                s.v32(*session);
                let id_bit = if identifier.is_some() {
                    SUB_IDENTIFIER
                } else {
                    0
                };
                s.byte(options.to_byte() | id_bit);
                if let Some(id) = identifier {
                    s.v32(*id);
                }
                s.bin(filter.as_bytes());
            }
            Record::SubscriptionGone { session, filter } => {
                s.byte(K_SUBSCRIPTION_GONE);
                s.v32(*session);
                s.bin(filter.as_bytes());
            }
            Record::Message {
                session,
                seq,
                queued_at,
                packet_id,
                released,
                publish,
            } => {
                s.byte(K_MESSAGE);
                s.v32(*session);
                s.v64(*seq);
                s.v64(*queued_at);
                s.u16(*packet_id);
                s.byte(u8::from(*released));
                put_msg(s, publish);
            }
            Record::MessageState {
                session,
                seq,
                packet_id,
                released,
            } => {
                s.byte(K_MESSAGE_STATE);
                s.v32(*session);
                s.v64(*seq);
                s.u16(*packet_id);
                s.byte(u8::from(*released));
            }
            Record::MessageGone { session, seq } => {
                s.byte(K_MESSAGE_GONE);
                s.v32(*session);
                s.v64(*seq);
            }
            Record::InboundQos2 { session, packet_id } => {
                s.byte(K_INBOUND_QOS2);
                s.v32(*session);
                s.u16(*packet_id);
            }
            Record::InboundQos2Gone { session, packet_id } => {
                s.byte(K_INBOUND_QOS2_GONE);
                s.v32(*session);
                s.u16(*packet_id);
            }
            Record::Will {
                session,
                at,
                publish,
            } => {
                s.byte(K_WILL);
                s.v32(*session);
                s.v64(*at);
                put_msg(s, publish);
            }
            Record::WillGone { session } => {
                s.byte(K_WILL_GONE);
                s.v32(*session);
            }
            Record::Retained { stored_at, publish } => {
                s.byte(K_RETAINED);
                s.v64(*stored_at);
                put_msg(s, publish);
            }
            Record::RetainedGone { topic } => {
                s.byte(K_RETAINED_GONE);
                s.bin(topic.as_bytes());
            }
        }
    }

    /// The length of this record's body (without the frame header).
    pub fn body_len(&self) -> usize {
        let mut c = Count(0);
        self.put_body(&mut c);
        c.0
    }

    /// The length of this record's frame: [`FRAME_HEADER_LEN`] plus its
    /// [`body_len`](Self::body_len).
    pub fn frame_len(&self) -> usize {
        FRAME_HEADER_LEN + self.body_len()
    }

    /// Appends this record as one frame (length, CRC-32C, body) to `out`.
    ///
    /// The frame is sized first, so `out` grows at most once; the body is
    /// written in place and its length and checksum patched in front.
    /// Encoding cannot fail: every value a record can hold has a body
    /// (see the [module docs](self) for the layout).
    pub fn encode_frame(&self, out: &mut Vec<u8>) {
        let body_len = self.body_len();
        out.reserve(FRAME_HEADER_LEN + body_len);
        let start = out.len();
        out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
        self.put_body(out);
        let body = &out[start + FRAME_HEADER_LEN..];
        debug_assert_eq!(body.len(), body_len);
        let crc = crc32c(body);
        // Saturated: a body over 4 GiB reads back as `TooLong`, never as
        // a shorter frame.
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decodes a frame body (without length and checksum).
    ///
    /// Every body [`encode_frame`](Self::encode_frame) writes decodes back
    /// to an equal record (up to what the [module docs](self) say is not
    /// kept: a message's DUP flag and Topic Alias); anything else is an
    /// error: a body cut short, an unknown kind, an overlong integer, a
    /// flag or field out of range, a string that is not an MQTT string, an
    /// invalid topic name or filter, bytes left over. Nothing is allocated
    /// beyond what the body's own bytes hold.
    pub fn decode_body(body: &[u8]) -> Result<Record, RecordError> {
        let mut r = Rd(body);
        let kind = r.byte()?;
        let record = match kind {
            K_COMMIT => Record::Commit { now: r.v64()? },
            K_SESSION => {
                let session = r.v32()?;
                let client_id = r.boxed_str()?;
                let expiry = r.v32()?;
                let flags = r.byte()?;
                if flags & !(SESSION_USERNAME | SESSION_EXPIRES_AT) != 0 {
                    return Err(RecordError::Invalid("reserved session flag set"));
                }
                let username = if flags & SESSION_USERNAME != 0 {
                    Some(r.boxed_str()?)
                } else {
                    None
                };
                let expires_at = if flags & SESSION_EXPIRES_AT != 0 {
                    Some(r.v64()?)
                } else {
                    None
                };
                Record::Session {
                    session,
                    client_id,
                    expiry,
                    username,
                    expires_at,
                }
            }
            K_SESSION_GONE => Record::SessionGone { session: r.v32()? },
            K_SUBSCRIPTION => {
                let session = r.v32()?;
                let byte = r.byte()?;
                if byte & SUB_RESERVED != 0 {
                    return Err(RecordError::Invalid("reserved subscription option set"));
                }
                let options =
                    SubscriptionOptions::from_byte(byte & !SUB_IDENTIFIER, ProtocolVersion::V5)
                        .map_err(|_| RecordError::Invalid("subscription options"))?;
                let identifier = if byte & SUB_IDENTIFIER != 0 {
                    Some(r.v32()?)
                } else {
                    None
                };
                let filter = r.filter()?;
                Record::Subscription {
                    session,
                    filter,
                    options,
                    identifier,
                }
            }
            K_SUBSCRIPTION_GONE => Record::SubscriptionGone {
                session: r.v32()?,
                filter: r.filter()?,
            },
            K_MESSAGE => Record::Message {
                session: r.v32()?,
                seq: r.v64()?,
                queued_at: r.v64()?,
                packet_id: r.u16()?,
                released: r.bool()?,
                publish: r.msg()?,
            },
            K_MESSAGE_STATE => Record::MessageState {
                session: r.v32()?,
                seq: r.v64()?,
                packet_id: r.u16()?,
                released: r.bool()?,
            },
            K_MESSAGE_GONE => Record::MessageGone {
                session: r.v32()?,
                seq: r.v64()?,
            },
            K_INBOUND_QOS2 => Record::InboundQos2 {
                session: r.v32()?,
                packet_id: r.u16()?,
            },
            K_INBOUND_QOS2_GONE => Record::InboundQos2Gone {
                session: r.v32()?,
                packet_id: r.u16()?,
            },
            K_WILL => Record::Will {
                session: r.v32()?,
                at: r.v64()?,
                publish: r.msg()?,
            },
            K_WILL_GONE => Record::WillGone { session: r.v32()? },
            K_RETAINED => Record::Retained {
                stored_at: r.v64()?,
                publish: r.msg()?,
            },
            K_RETAINED_GONE => {
                let s = r.str()?;
                check_topic_name_bytes(s.as_bytes())
                    .map_err(|_| RecordError::Invalid("invalid topic name"))?;
                Record::RetainedGone { topic: s.into() }
            }
            other => return Err(RecordError::UnknownKind(other)),
        };
        if !r.0.is_empty() {
            return Err(RecordError::Invalid("bytes after the record"));
        }
        Ok(record)
    }

    /// Decodes the frame at the start of `data`: the record and the
    /// frame's length. Bytes after the frame are not looked at.
    pub fn decode_frame(data: &[u8]) -> Result<(Record, usize), FrameError> {
        let Some(len) = data.get(..4) else {
            return Err(FrameError::Truncated);
        };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLong(len));
        }
        // At most MAX_FRAME_LEN + 8: no overflow where `usize` has 32 bits
        // or more; where it has 16, such a frame cannot be in memory.
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_add(FRAME_HEADER_LEN))
        else {
            return Err(FrameError::Truncated);
        };
        let Some(frame) = data.get(..end) else {
            return Err(FrameError::Truncated);
        };
        let stored = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let body = &frame[FRAME_HEADER_LEN..];
        if crc32c(body) != stored {
            return Err(FrameError::Checksum);
        }
        let record = Record::decode_body(body).map_err(FrameError::Record)?;
        Ok((record, end))
    }
}

// ---- decoding ----

/// A reader over a body; every read past its end is
/// [`RecordError::Truncated`].
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if n > self.0.len() {
            return Err(RecordError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }

    fn bool(&mut self) -> Result<bool, RecordError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(RecordError::Invalid("boolean not 0 or 1")),
        }
    }

    fn u16(&mut self) -> Result<u16, RecordError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    /// LEB128, shortest form only.
    fn v64(&mut self) -> Result<u64, RecordError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err(RecordError::Invalid("integer over 64 bits"));
            }
            v |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(RecordError::Invalid("integer not in its shortest form"));
                }
                return Ok(v);
            }
        }
        // The tenth byte is 0 or 1 (checked above), so the loop returned.
        Err(RecordError::Invalid("integer over 64 bits"))
    }

    fn v32(&mut self) -> Result<u32, RecordError> {
        u32::try_from(self.v64()?).map_err(|_| RecordError::Invalid("integer over 32 bits"))
    }

    /// A `v32` count of items of at least `min_size` bytes each, no more
    /// than the bytes left can hold.
    fn count(&mut self, min_size: usize) -> Result<usize, RecordError> {
        let n = usize::try_from(self.v32()?).map_err(|_| RecordError::Truncated)?;
        if n == 0 {
            return Err(RecordError::Invalid("empty list marked present"));
        }
        if n > self.0.len() / min_size {
            return Err(RecordError::Truncated);
        }
        Ok(n)
    }

    fn bin(&mut self) -> Result<&'a [u8], RecordError> {
        let n = self.v32()?;
        self.take(usize::try_from(n).map_err(|_| RecordError::Truncated)?)
    }

    /// An MQTT string: UTF-8 without U+0000.
    fn str(&mut self) -> Result<&'a str, RecordError> {
        let b = self.bin()?;
        let s = core::str::from_utf8(b).map_err(|_| RecordError::Invalid("string not UTF-8"))?;
        if b.contains(&0) {
            return Err(RecordError::Invalid("U+0000 in a string"));
        }
        Ok(s)
    }

    fn boxed_str(&mut self) -> Result<Box<str>, RecordError> {
        Ok(self.str()?.into())
    }

    fn mqtt_string(&mut self) -> Result<MqttString, RecordError> {
        MqttString::from_str(self.str()?).map_err(|_| RecordError::Invalid("invalid string"))
    }

    fn filter(&mut self) -> Result<Box<str>, RecordError> {
        let s = self.str()?;
        check_topic_filter_bytes(s.as_bytes())
            .map_err(|_| RecordError::Invalid("invalid topic filter"))?;
        Ok(s.into())
    }

    fn msg(&mut self) -> Result<Publish, RecordError> {
        let flags = self.byte()?;
        if flags & !(MSG_QOS | MSG_RETAIN) != 0 {
            return Err(RecordError::Invalid("reserved message flag set"));
        }
        let qos = QoS::from_u8(flags & MSG_QOS).ok_or(RecordError::Invalid("QoS 3"))?;
        let packet_id = self.u16()?;
        let topic = match self.str()? {
            "" => TopicName::EMPTY,
            t => TopicName::from_str(t).map_err(|_| RecordError::Invalid("invalid topic name"))?,
        };
        let bits = self.byte()?;
        let mut properties = LazyPublishProperties::new();
        if bits != 0 {
            if bits & (P_FORMAT | P_FORMAT_UTF8) == P_FORMAT_UTF8 {
                return Err(RecordError::Invalid(
                    "payload format value without the property",
                ));
            }
            let p = &mut *properties;
            if bits & P_FORMAT != 0 {
                p.payload_format_indicator = Some(bits & P_FORMAT_UTF8 != 0);
            }
            if bits & P_EXPIRY != 0 {
                p.message_expiry_interval = Some(self.v32()?);
            }
            if bits & P_CONTENT_TYPE != 0 {
                p.content_type = Some(self.mqtt_string()?);
            }
            if bits & P_RESPONSE_TOPIC != 0 {
                p.response_topic = Some(self.mqtt_string()?);
            }
            if bits & P_CORRELATION != 0 {
                p.correlation_data = Some(Bytes::copy_from_slice(self.bin()?));
            }
            if bits & P_SUB_IDS != 0 {
                let n = self.count(1)?;
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(self.v32()?);
                }
                p.subscription_identifiers = ids;
            }
            if bits & P_USER != 0 {
                let n = self.count(2)?;
                let mut users = Vec::with_capacity(n);
                for _ in 0..n {
                    users.push(UserProperty {
                        key: self.mqtt_string()?,
                        value: self.mqtt_string()?,
                    });
                }
                p.user_properties = users;
            }
        }
        let payload = Bytes::copy_from_slice(self.take(self.0.len())?);
        Ok(Publish {
            dup: false,
            qos,
            retain: flags & MSG_RETAIN != 0,
            topic,
            packet_id,
            properties,
            payload,
        })
    }
}

/// The frames of a store's bytes after its header, in order: each item is
/// the frame's byte offset (from the start of the slice given) and its
/// record, or the error that ends the valid part (after which the
/// iterator ends).
///
/// At the exact end of the bytes the iterator ends with `None`; bytes
/// that end inside a frame's header or body give
/// [`FrameError::Truncated`] (a torn append), a declared length over
/// [`MAX_FRAME_LEN`] [`FrameError::TooLong`], a body whose CRC-32C is not
/// the stored one [`FrameError::Checksum`], and a body that does not
/// decode [`FrameError::Record`]. [`position`](Self::position) is then
/// the end of the last good frame: where a driver truncates its store
/// before appending.
///
/// ```
/// use mqtt_core::broker::persist::{FrameError, Frames, Record, STORE_HEADER};
/// let mut store = STORE_HEADER.to_vec();
/// Record::SessionGone { session: 7 }.encode_frame(&mut store);
/// Record::Commit { now: 1_000 }.encode_frame(&mut store);
/// let whole = store.len();
/// store.extend_from_slice(&[9, 0, 0]); // a torn append
///
/// let mut frames = Frames::new(&store, STORE_HEADER.len());
/// assert_eq!(frames.next(), Some(Ok((16, Record::SessionGone { session: 7 }))));
/// assert!(matches!(frames.next(), Some(Ok((_, Record::Commit { now: 1_000 })))));
/// assert_eq!(frames.next(), Some(Err((whole, FrameError::Truncated))));
/// assert_eq!(frames.next(), None);
/// assert_eq!(frames.position(), whole);
/// ```
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Frames<'a> {
    /// Frames of `data`, starting at byte `start` (after the header).
    pub fn new(data: &'a [u8], start: usize) -> Self {
        Frames {
            data,
            pos: start,
            done: false,
        }
    }

    /// The offset of the next frame (the end of the last one read).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for Frames<'_> {
    type Item = Result<(usize, Record), (usize, FrameError)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.pos;
        let result = match self.data.get(at..) {
            Some([]) => {
                self.done = true;
                return None;
            }
            Some(rest) => Record::decode_frame(rest),
            // A start beyond the end: the bytes end before the frame.
            None => Err(FrameError::Truncated),
        };
        Some(match result {
            Ok((record, len)) => {
                self.pos += len;
                Ok((at, record))
            }
            Err(e) => {
                self.done = true;
                Err((at, e))
            }
        })
    }
}

impl core::iter::FusedIterator for Frames<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Bit by bit, straight from the definition.
    fn crc32c_bitwise(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ CRC32C_POLY
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn crc32c_check_values() {
        // The catalogue's check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // RFC 3720 (iSCSI) appendix B.4.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let up: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&up), 0x46DD_794E);
        let down: Vec<u8> = (0..32).rev().collect();
        assert_eq!(crc32c(&down), 0x113F_DB5C);
    }

    #[test]
    fn crc32c_slicing_matches_bitwise_at_every_length_and_split() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + i / 5) as u8).collect();
        for len in 0..data.len() {
            let d = &data[..len];
            let want = crc32c_bitwise(d);
            assert_eq!(crc32c(d), want, "length {len}");
            let cut = len / 3;
            assert_eq!(crc32c_append(crc32c(&d[..cut]), &d[cut..]), want);
        }
    }

    #[test]
    fn varints_are_shortest_form_only() {
        let mut out = vec![];
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            out.clear();
            out.v64(v);
            assert_eq!(Rd(&out).v64(), Ok(v));
        }
        assert_eq!(out.len(), 10);
        // Overlong zero, overlong one.
        assert!(matches!(Rd(&[0x80, 0]).v64(), Err(RecordError::Invalid(_))));
        assert!(matches!(
            Rd(&[0x81, 0x80, 0]).v64(),
            Err(RecordError::Invalid(_))
        ));
        // Eleven bytes / a tenth byte over 1.
        let mut big = vec![0xFF; 9];
        big.push(2);
        assert!(matches!(Rd(&big).v64(), Err(RecordError::Invalid(_))));
        assert_eq!(Rd(&[0x80, 0x80]).v64(), Err(RecordError::Truncated));
        // u32::MAX + 1 is not a v32.
        out.clear();
        out.v64(1 << 32);
        assert!(matches!(Rd(&out).v32(), Err(RecordError::Invalid(_))));
    }
}
