//! The broker's bounds: how many of everything it keeps, and the reason
//! code it answers with when a bound would be exceeded.
//!
//! A broker that accepts connections from the network must not let any
//! peer grow its memory without limit. Every table of the engine is
//! bounded by one field of [`BrokerLimits`]; every refusal is a
//! [`LimitExceeded`] that names the MQTT 5.0 reason code to send
//! ([`LimitExceeded::reason_code`]). MQTT 3.1.1 has fewer codes; the
//! engine maps them (a refused SUBSCRIBE is SUBACK 0x80, a refused
//! connection is CONNACK return code 3, Server unavailable; a refused
//! PUBLISH is acknowledged positively and not routed, as 3.1.1 allows).

use core::fmt;

use crate::codec::ReasonCode;

/// What happens to a message for an offline session whose queue is full
/// (see [`BrokerLimits::max_queued_messages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueueFullPolicy {
    /// The new message is dropped; the queue keeps the oldest messages
    /// (mosquitto's behaviour). The default.
    #[default]
    DropNewest,
    /// The oldest queued message is dropped to make room for the new one.
    DropOldest,
}

/// The bounds of a broker. Every table the engine keeps is limited by one
/// of these fields; [`BrokerLimits::default`] gives values suitable for a
/// development broker or an edge device, and every field can be changed.
///
/// A limit of `0` means "none allowed" (for example `max_retained_messages
/// = 0` disables retained messages), never "unlimited"; use `usize::MAX`
/// for a bound that is effectively absent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerLimits {
    /// Connections past CONNECT (being authenticated or accepted) at once.
    /// A CONNECT beyond it is refused with 0x97 Quota exceeded (3.1.1:
    /// return code 3, Server unavailable), unless it takes over the
    /// session of a connected client. Transports that have not sent
    /// CONNECT are bounded by the driver and the connect timeout.
    /// Default 10 000.
    pub max_connections: usize,
    /// Sessions (connected or kept for an offline client) at once. A new
    /// session beyond it evicts the kept session whose client has been
    /// offline longest (oldest disconnected first; counted by
    /// [`Broker::evicted_sessions`](super::Broker::evicted_sessions)).
    /// Only when every session is connected is a CONNECT refused, with
    /// 0x89 Server busy, and only one that would keep its session; a
    /// client whose session ends with its connection is never refused for
    /// it. Default 100 000 (a kept session without queued messages or
    /// subscriptions takes a few hundred bytes).
    pub max_sessions: usize,
    /// Subscriptions one client may hold. A SUBSCRIBE entry beyond it is
    /// refused with 0x97 Quota exceeded in its SUBACK. Default 256.
    pub max_subscriptions_per_client: usize,
    /// Messages queued for one session beyond what is sent: for an
    /// offline session (QoS 1 and 2), and for a connected one the
    /// messages waiting for room in its window (the client's Receive
    /// Maximum and [`ServerOptions::max_inflight`](crate::server::ServerOptions::max_inflight))
    /// or held while its connection is congested (see
    /// [`max_output_bytes_per_connection`](BrokerLimits::max_output_bytes_per_connection)).
    /// The queue is full when this count or
    /// [`max_queued_bytes`](BrokerLimits::max_queued_bytes) is reached
    /// (mosquitto's `max_queued_messages`); what happens beyond it is
    /// [`queue_full_policy`](BrokerLimits::queue_full_policy). Default 1 000.
    pub max_queued_messages: usize,
    /// Bytes of messages (topic and payload lengths) queued for one
    /// session, counted like
    /// [`max_queued_messages`](BrokerLimits::max_queued_messages): the
    /// queue is full when either bound is reached (mosquitto's
    /// `max_queued_bytes`, whose 0 means no bound: map it to
    /// `usize::MAX`). Default 64 MiB.
    pub max_queued_bytes: usize,
    /// What to drop when a session's queue is full. Default
    /// [`QueueFullPolicy::DropNewest`].
    pub queue_full_policy: QueueFullPolicy,
    /// Bytes the engine holds for one connection, encoded and not taken by
    /// the driver, beyond which the connection is *congested* while the
    /// driver reports its transport not writable
    /// ([`Broker::set_writable`](super::Broker::set_writable)): QoS 0
    /// messages for it are then dropped (counted by
    /// [`Broker::congestion_dropped_messages`](super::Broker::congestion_dropped_messages)),
    /// and QoS 1 and 2 messages wait in its queue (bounded by
    /// [`max_queued_messages`](BrokerLimits::max_queued_messages) and
    /// [`max_queued_bytes`](BrokerLimits::max_queued_bytes)) until it is
    /// writable again. The subscriber is never disconnected for it. A
    /// message is added whenever the backlog is below this bound, so one
    /// message larger than it is still delivered: the backlog stays
    /// below this bound plus one packet (see
    /// [`BrokerOptions::DEFAULT_MAXIMUM_PACKET_SIZE`](super::BrokerOptions::DEFAULT_MAXIMUM_PACKET_SIZE)).
    /// Default 1 MiB: a thousand 1 KB messages, as mosquitto's default
    /// queue of 1 000 messages, and the same as the default largest
    /// packet, so a congested subscriber costs at most about 2 MiB.
    pub max_output_bytes_per_connection: usize,
    /// The largest payload accepted in a PUBLISH or a will (mosquitto's
    /// `message_size_limit`, whose 0 means no bound: map it to
    /// `usize::MAX`). A larger PUBLISH is neither routed nor retained; at
    /// QoS 1 and 2 it is answered 0x97 Quota exceeded in the PUBACK or
    /// PUBREC (5.0; 3.1.1 acknowledges positively, as for a refused
    /// message; mosquitto sends 0x95, which the 5.0 specification does not
    /// allow there). A CONNECT with a larger will payload is refused with
    /// CONNACK 0x95 Packet too large (3.1.1: return code 3). Checked on
    /// the decoded packet, whose size [`ServerOptions::maximum_packet_size`](crate::server::ServerOptions::maximum_packet_size)
    /// bounds before it is read. Default `usize::MAX` (the packet size
    /// is the bound).
    pub max_payload_bytes: usize,
    /// The longest time, in seconds, a session is kept while its client
    /// is offline, whatever Session Expiry Interval the client asked for;
    /// it also bounds 3.1.1 sessions (Clean Session 0), which otherwise
    /// never expire (mosquitto's `persistent_client_expiration`). Default
    /// `u32::MAX`: no bound.
    pub max_session_expiry_interval: u32,
    /// Retained messages kept at once. A new retained topic beyond it is
    /// refused with 0x97 Quota exceeded. Default 10 000.
    pub max_retained_messages: usize,
    /// Bytes of retained messages kept at once, counting each message's
    /// topic and payload lengths. A retained message that would exceed it
    /// is refused with 0x97 Quota exceeded. Default 16 MiB.
    pub max_retained_bytes: usize,
    /// Levels of a topic name or filter the broker accepts (a topic of `n`
    /// separators has `n + 1` levels). Deeper topics are refused with 0x90
    /// Topic Name invalid or 0x8F Topic Filter invalid. Default 64.
    pub max_topic_levels: usize,
}

impl BrokerLimits {
    /// The default limits (see each field).
    pub const DEFAULT: BrokerLimits = BrokerLimits {
        max_connections: 10_000,
        max_sessions: 100_000,
        max_subscriptions_per_client: 256,
        max_queued_messages: 1_000,
        max_queued_bytes: 64 * 1024 * 1024,
        queue_full_policy: QueueFullPolicy::DropNewest,
        max_output_bytes_per_connection: 1024 * 1024,
        max_payload_bytes: usize::MAX,
        max_session_expiry_interval: u32::MAX,
        max_retained_messages: 10_000,
        max_retained_bytes: 16 * 1024 * 1024,
        max_topic_levels: 64,
    };

    /// Returns `true` if `topic` (a name or a filter) has at most
    /// [`max_topic_levels`](BrokerLimits::max_topic_levels) levels.
    ///
    /// ```
    /// use mqtt_core::broker::BrokerLimits;
    /// let mut limits = BrokerLimits::default();
    /// limits.max_topic_levels = 2;
    /// assert!(limits.topic_depth_allowed("a/b"));
    /// assert!(!limits.topic_depth_allowed("a/b/c"));
    /// ```
    pub fn topic_depth_allowed(&self, topic: &str) -> bool {
        let separators = topic.bytes().filter(|&b| b == b'/').count();
        separators < self.max_topic_levels
    }
}

impl Default for BrokerLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A request refused because it would exceed one of the [`BrokerLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// [`BrokerLimits::max_connections`].
    Connections,
    /// [`BrokerLimits::max_sessions`].
    Sessions,
    /// [`BrokerLimits::max_subscriptions_per_client`].
    SubscriptionsPerClient,
    /// [`BrokerLimits::max_queued_messages`].
    QueuedMessages,
    /// [`BrokerLimits::max_retained_messages`].
    RetainedMessages,
    /// [`BrokerLimits::max_retained_bytes`].
    RetainedBytes,
    /// [`BrokerLimits::max_topic_levels`].
    TopicLevels,
}

impl LimitExceeded {
    /// The MQTT 5.0 reason code that reports this refusal: 0x89 Server
    /// busy for a session the broker cannot take (in a CONNACK), 0x97
    /// Quota exceeded for a connection beyond the limit (in a CONNACK), 0x90
    /// Topic Name invalid for a topic that is too deep, and 0x97 Quota
    /// exceeded for the rest (in a SUBACK, PUBACK or PUBREC).
    ///
    /// A too-deep topic *filter* is reported as 0x8F Topic Filter invalid
    /// instead; the engine knows which one it is checking.
    pub const fn reason_code(self) -> ReasonCode {
        match self {
            LimitExceeded::Sessions => ReasonCode::ServerBusy,
            LimitExceeded::TopicLevels => ReasonCode::TopicNameInvalid,
            LimitExceeded::Connections
            | LimitExceeded::SubscriptionsPerClient
            | LimitExceeded::QueuedMessages
            | LimitExceeded::RetainedMessages
            | LimitExceeded::RetainedBytes => ReasonCode::QuotaExceeded,
        }
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            LimitExceeded::Connections => "too many connections",
            LimitExceeded::Sessions => "too many sessions",
            LimitExceeded::SubscriptionsPerClient => "too many subscriptions for this client",
            LimitExceeded::QueuedMessages => "too many messages queued for this session",
            LimitExceeded::RetainedMessages => "too many retained messages",
            LimitExceeded::RetainedBytes => "retained messages would take too many bytes",
            LimitExceeded::TopicLevels => "topic has too many levels",
        };
        f.write_str(what)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LimitExceeded {}

#[cfg(test)]
mod tests {
    use super::{BrokerLimits, LimitExceeded, QueueFullPolicy};
    use crate::codec::{PacketType, ReasonCode};

    #[test]
    fn default_limits_are_documented_values() {
        let limits = BrokerLimits::default();
        assert_eq!(limits.max_connections, 10_000);
        assert_eq!(limits.max_sessions, 100_000);
        assert_eq!(limits.max_subscriptions_per_client, 256);
        assert_eq!(limits.max_queued_messages, 1_000);
        assert_eq!(limits.max_queued_bytes, 64 * 1024 * 1024);
        assert_eq!(limits.queue_full_policy, QueueFullPolicy::DropNewest);
        assert_eq!(limits.max_output_bytes_per_connection, 1024 * 1024);
        assert_eq!(limits.max_payload_bytes, usize::MAX);
        assert_eq!(limits.max_session_expiry_interval, u32::MAX);
        assert_eq!(limits.max_retained_messages, 10_000);
        assert_eq!(limits.max_retained_bytes, 16 * 1024 * 1024);
        assert_eq!(limits.max_topic_levels, 64);
    }

    #[test]
    fn refused_session_is_server_busy_and_quotas_are_quota_exceeded() {
        assert_eq!(
            LimitExceeded::Sessions.reason_code(),
            ReasonCode::ServerBusy
        );
        for quota in [
            LimitExceeded::Connections,
            LimitExceeded::SubscriptionsPerClient,
            LimitExceeded::QueuedMessages,
            LimitExceeded::RetainedMessages,
            LimitExceeded::RetainedBytes,
        ] {
            assert_eq!(quota.reason_code(), ReasonCode::QuotaExceeded);
        }
    }

    #[test]
    fn each_refusal_code_is_allowed_in_the_packet_that_reports_it() {
        assert!(LimitExceeded::Sessions
            .reason_code()
            .allowed_in(PacketType::ConnAck));
        assert!(LimitExceeded::Connections
            .reason_code()
            .allowed_in(PacketType::ConnAck));
        assert!(LimitExceeded::SubscriptionsPerClient
            .reason_code()
            .allowed_in(PacketType::SubAck));
        assert!(LimitExceeded::RetainedBytes
            .reason_code()
            .allowed_in(PacketType::PubAck));
        assert!(LimitExceeded::TopicLevels
            .reason_code()
            .allowed_in(PacketType::PubAck));
    }

    #[test]
    fn topic_depth_counts_levels_including_empty_ones() {
        let limits = BrokerLimits {
            max_topic_levels: 3,
            ..BrokerLimits::default()
        };
        assert!(limits.topic_depth_allowed("a"));
        assert!(limits.topic_depth_allowed("//"));
        assert!(!limits.topic_depth_allowed("///"));
        assert!(!limits.topic_depth_allowed("a/b/c/#"));
    }
}
