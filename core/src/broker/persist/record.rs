//! The records of the durable broker state and their encoding in a store
//! (see the [module docs](super) for the framing).

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::codec::{Publish, SubscriptionOptions};
use crate::time::Instant;

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

/// CRC-32C (Castagnoli) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    let _ = data;
    unimplemented!("helper: record codec")
}

impl Record {
    /// Appends this record as one frame (length, CRC-32C, body) to `out`.
    pub fn encode_frame(&self, out: &mut Vec<u8>) {
        let _ = out;
        unimplemented!("helper: record codec")
    }

    /// Decodes a frame body (without length and checksum).
    pub fn decode_body(body: &[u8]) -> Result<Record, RecordError> {
        let _ = body;
        unimplemented!("helper: record codec")
    }
}

/// The frames of a store's bytes after its header, in order: each item is
/// the frame's byte offset (from the start of the slice given) and its
/// record, or the error that ends the valid part (after which the
/// iterator ends).
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
        let _ = (self.data, self.done);
        unimplemented!("helper: record codec")
    }
}
