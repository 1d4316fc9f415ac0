//! Durable broker state, sans-IO: the engine describes every change of
//! what must survive a restart as a [`Record`], encoded into frames that
//! the driver appends to its store (a file, flash, a database row); on
//! start, the driver hands the stored bytes back and the engine rebuilds
//! its sessions, subscriptions, queued and in-flight messages, inbound
//! QoS 2 state, delayed wills and retained messages from them.
//!
//! # The store's bytes
//!
//! A store is [`STORE_HEADER`] (magic and format version) followed by
//! frames: a 4-byte little-endian body length, the CRC-32C of the body
//! (little-endian), then the body (a record kind byte and its fields).
//! Records come in batches ended by a [`Record::Commit`] frame; at
//! recovery only whole batches apply, so a batch torn by a crash is
//! discarded as one. A frame that is cut short or whose checksum fails
//! ends the valid prefix: what follows is reported lost
//! ([`RestoreReport`]), never trusted.
//!
//! # The driver's duty
//!
//! With [`BrokerOptions::persistence`](super::BrokerOptions::persistence)
//! on, after handling input or time the driver takes
//! [`Broker::poll_store`](super::Broker::poll_store) **before**
//! [`Broker::poll_output`](super::Broker::poll_output): an acknowledgement
//! the engine made (PUBACK, PUBREC, SUBACK) follows the records that make
//! it true, so a driver that makes the batch durable (fsync) before it
//! sends the bytes that follow never acknowledges what a crash could
//! lose. [`Broker::snapshot`](super::Broker::snapshot) writes the whole
//! live state as a fresh store (compaction);
//! [`Broker::restore`](super::Broker::restore) rebuilds an engine from one.
//!
//! Times in records are the driver's [`Instant`]s: a driver that wants
//! session and message expiry to count the downtime passes a clock that
//! continues across restarts (for example Unix time in milliseconds).

pub mod record;

pub use record::{
    crc32c, crc32c_append, FrameError, Frames, Record, RecordError, FRAME_HEADER_LEN,
    MAX_FRAME_LEN, STORE_FORMAT_VERSION, STORE_HEADER, STORE_MAGIC,
};

use crate::time::Instant;

/// Why a store could not be restored at all (a damaged tail is not an
/// error: see [`RestoreReport::damage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreError {
    /// The bytes do not start with [`STORE_MAGIC`]: not a store of ours.
    NotAStore,
    /// The store was written by a newer format version than this build
    /// reads ([`STORE_FORMAT_VERSION`]).
    NewerVersion {
        /// The store's version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The engine already has sessions, connections or retained
    /// messages: restore into a new [`Broker`](super::Broker).
    NotEmpty,
}

impl core::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RestoreError::NotAStore => f.write_str("not a libmqtt store (bad magic)"),
            RestoreError::NewerVersion { found, supported } => write!(
                f,
                "store format version {found} is newer than this build reads ({supported})"
            ),
            RestoreError::NotEmpty => f.write_str("restore needs an empty broker"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RestoreError {}

/// Where the valid prefix of a store ends, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Damage {
    /// Byte offset of the first frame not applied.
    pub offset: usize,
    /// What was wrong there.
    pub error: FrameError,
}

/// What [`Broker::restore`](super::Broker::restore) rebuilt and what it
/// could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreReport {
    /// Bytes of the store that were applied: header and whole batches. A
    /// driver truncates its file here (or writes a fresh
    /// [`snapshot`](super::Broker::snapshot)) before appending.
    pub valid_len: usize,
    /// Bytes after `valid_len` that were discarded: a torn last batch, or
    /// everything from a damaged frame on.
    pub discarded_bytes: usize,
    /// Records in the discarded bytes that still decoded (an estimate of
    /// what was lost; 0 when the damage is at the end).
    pub discarded_records: usize,
    /// Why the bytes after `valid_len` were discarded, if any were.
    pub damage: Option<Damage>,
    /// Batches applied.
    pub batches: u64,
    /// Records applied (commit frames not counted).
    pub records: u64,
    /// The engine time of the last batch applied (its
    /// [`Record::Commit`]); `None` for an empty store.
    pub last_commit: Option<Instant>,
    /// Persistent sessions rebuilt.
    pub sessions: usize,
    /// Of `sessions`, those whose Session Expiry Interval passed during
    /// the downtime (counted from the last batch when their client was
    /// connected then): the restore ended them, publishing their wills.
    pub expired_sessions: usize,
    /// Subscriptions rebuilt.
    pub subscriptions: usize,
    /// Messages rebuilt for sessions (queued or in flight).
    pub messages: usize,
    /// Of `messages`, queued ones whose Message Expiry Interval passed
    /// during the downtime: dropped unsent when their client comes back
    /// [MQTT-3.3.2-5].
    pub expired_messages: usize,
    /// Retained messages rebuilt.
    pub retained: usize,
    /// Delayed wills rebuilt (one whose time came during the downtime was
    /// published by the restore).
    pub wills: usize,
}
