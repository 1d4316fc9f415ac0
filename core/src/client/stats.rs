//! [`Stats`]: counters of what the client did, cheap to read.

/// Counters since the client was created, and current queue sizes.
/// Read with [`Client::stats`](super::Client::stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
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
