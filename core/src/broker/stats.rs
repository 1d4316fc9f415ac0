//! What the engine has done since it started, for statistics (a broker's
//! `$SYS` topics, metrics): [`BrokerStats`], from
//! [`Broker::stats`](super::Broker::stats).

/// Counters and gauges of a [`Broker`](super::Broker).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerStats {
    /// MQTT packets of every kind received from clients.
    pub packets_received: u64,
    /// MQTT packets of every kind sent to clients.
    pub packets_sent: u64,
    /// PUBLISH packets received from clients.
    pub publish_received: u64,
    /// PUBLISH packets handed to connected clients (queued deliveries are
    /// counted when they are sent).
    pub publish_sent: u64,
    /// Messages dropped (full queues, refused deliveries); see
    /// [`Broker::dropped_messages`](super::Broker::dropped_messages).
    pub publish_dropped: u64,
    /// Sessions with a connected client.
    pub clients_connected: usize,
    /// Kept sessions whose client is offline.
    pub clients_disconnected: usize,
    /// The most transport connections open at once since the start
    /// (counted when a connection opens, before its CONNECT).
    pub clients_maximum: usize,
    /// Sessions removed because they expired (Session Expiry Interval).
    pub clients_expired: u64,
    /// Subscriptions held, over all sessions.
    pub subscriptions: usize,
    /// Retained messages held.
    pub retained_messages: usize,
    /// Messages queued for offline sessions.
    pub queued_messages: usize,
}
