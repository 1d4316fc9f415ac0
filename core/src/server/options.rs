//! [`ServerOptions`]: the limits and capabilities a
//! [`ServerConnection`](super::ServerConnection) announces and enforces.

use crate::codec::QoS;
use crate::time::Duration;

/// The configuration of a [`ServerConnection`](super::ServerConnection).
///
/// Build with [`ServerOptions::new`] and the `with_*` methods; every field
/// is public for reading. What the server announces in CONNACK (5.0) is
/// also what it enforces on the client, in both versions.
///
/// ```
/// use mqtt_core::server::ServerOptions;
/// use mqtt_core::codec::QoS;
/// let options = ServerOptions::new()
///     .with_receive_maximum(32)
///     .with_maximum_qos(QoS::AtLeastOnce)
///     .with_topic_alias_maximum(10);
/// assert_eq!(options.receive_maximum, 32);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Receive Maximum: QoS 1 and 2 messages from the client held
    /// unacknowledged at once. More closes the connection with 0x93
    /// [MQTT-3.3.4-7] (5.0 only: a 3.1.1 client cannot know it).
    pub receive_maximum: u16,
    /// Maximum Packet Size we accept (0: no limit beyond the protocol's).
    /// Larger packets close the connection with 0x95.
    pub maximum_packet_size: u32,
    /// Topic Alias Maximum: aliases the client may use (5.0).
    pub topic_alias_maximum: u16,
    /// The highest QoS the client may publish with; above it the
    /// connection is closed with 0x9B.
    pub maximum_qos: QoS,
    /// Whether retained messages are supported; a retained PUBLISH when
    /// not closes the connection with 0x9A.
    pub retain_available: bool,
    /// Whether wildcard subscriptions are supported (else 0xA2).
    pub wildcard_subscription_available: bool,
    /// Whether Subscription Identifiers are supported (else 0xA1).
    pub subscription_identifiers_available: bool,
    /// Whether shared subscriptions are supported (else 0x9E).
    pub shared_subscription_available: bool,
    /// Server Keep Alive (5.0): the keep alive imposed on the client
    /// instead of its own. `None` keeps the client's.
    pub server_keep_alive: Option<u16>,
    /// The longest keep alive allowed (mosquitto's `max_keepalive`): a 5.0
    /// client asking for more, or for none (0), is given this as its
    /// Server Keep Alive. `u16::MAX` (the default) allows any. A 3.1.1
    /// client cannot be told: a broker refuses it at authentication.
    pub max_keep_alive: u16,
    /// Time allowed from the transport opening until the connection is
    /// accepted (CONNECT, any authentication exchange and the
    /// application's decision); 0 turns the limit off.
    pub connect_timeout: Duration,
    /// Whether an empty Client Identifier may be given an Assigned Client
    /// Identifier ([`Accept::with_assigned_client_id`](super::Accept::with_assigned_client_id)).
    /// When false it is refused with 0x85 (3.1.1 return code 2).
    pub assign_client_ids: bool,
    /// The application acknowledges each received QoS 1 and 2 message
    /// with [`ServerConnection::acknowledge`](super::ServerConnection::acknowledge)
    /// (e.g. with 0x87 Not authorized). Off: Success is sent at once.
    pub manual_ack: bool,
    /// Whether the middle steps of QoS 2 are reported too:
    /// [`ServerEvent::PublishReleased`](super::ServerEvent::PublishReleased)
    /// (PUBREC arrived for a message to the client, PUBREL sent) and
    /// [`ServerEvent::ReleaseReceived`](super::ServerEvent::ReleaseReceived)
    /// (PUBREL arrived for a message from the client). A broker that
    /// stores its sessions needs them; default off.
    pub report_qos2_steps: bool,
    /// Messages to the client waiting for room in its Receive Maximum;
    /// beyond, [`ServerConnection::publish`](super::ServerConnection::publish)
    /// fails with [`ServerError::QueueFull`](super::ServerError::QueueFull).
    pub max_queued: usize,
    /// Our limit on QoS 1 and 2 messages to the client in flight; the
    /// window used is the smaller of this and the client's Receive Maximum.
    /// A 3.1.1 client cannot announce its limit: set this for those (like
    /// mosquitto's `max_inflight_messages`).
    pub max_inflight: u16,
    /// Whether outbound PUBLISH packets use topic aliases, within the
    /// client's Topic Alias Maximum (5.0).
    pub outbound_topic_aliases: bool,
    /// The most bytes held, unhandled, before the connection is accepted:
    /// an incomplete CONNECT, or what the client sends after CONNECT while
    /// the application decides (only AUTH is handled then
    /// [MQTT-3.1.4-6]). Beyond it the connection is closed with
    /// [`ClientViolation::InputBeforeAccept`](super::ClientViolation::InputBeforeAccept)
    /// (CONNACK 0x97 Quota exceeded in 5.0 once CONNECT has arrived,
    /// nothing before). A driver that would rather apply back-pressure
    /// stops reading while
    /// [`buffered_input`](super::ServerConnection::buffered_input) is
    /// large. Default 1 MiB.
    pub max_input_before_accept: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions::new()
    }
}

impl ServerOptions {
    /// The defaults: everything supported, no limits beyond the protocol's
    /// (Receive Maximum 65,535), no topic aliases, a connect timeout of
    /// 10 s, automatic acknowledgements, up to 1,000 queued messages, at
    /// most 1 MiB of input held before the connection is accepted.
    pub const fn new() -> Self {
        ServerOptions {
            receive_maximum: u16::MAX,
            maximum_packet_size: 0,
            topic_alias_maximum: 0,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
            server_keep_alive: None,
            max_keep_alive: u16::MAX,
            connect_timeout: 10_000,
            assign_client_ids: true,
            manual_ack: false,
            report_qos2_steps: false,
            max_queued: 1000,
            max_inflight: u16::MAX,
            outbound_topic_aliases: true,
            max_input_before_accept: 1 << 20,
        }
    }

    /// Sets [`receive_maximum`](Self::receive_maximum) (0 is taken as 1).
    pub const fn with_receive_maximum(mut self, v: u16) -> Self {
        self.receive_maximum = if v == 0 { 1 } else { v };
        self
    }

    /// Sets [`maximum_packet_size`](Self::maximum_packet_size).
    pub const fn with_maximum_packet_size(mut self, v: u32) -> Self {
        self.maximum_packet_size = v;
        self
    }

    /// Sets [`topic_alias_maximum`](Self::topic_alias_maximum).
    pub const fn with_topic_alias_maximum(mut self, v: u16) -> Self {
        self.topic_alias_maximum = v;
        self
    }

    /// Sets [`maximum_qos`](Self::maximum_qos).
    pub const fn with_maximum_qos(mut self, v: QoS) -> Self {
        self.maximum_qos = v;
        self
    }

    /// Sets [`retain_available`](Self::retain_available).
    pub const fn with_retain_available(mut self, v: bool) -> Self {
        self.retain_available = v;
        self
    }

    /// Sets [`wildcard_subscription_available`](Self::wildcard_subscription_available).
    pub const fn with_wildcard_subscription_available(mut self, v: bool) -> Self {
        self.wildcard_subscription_available = v;
        self
    }

    /// Sets [`subscription_identifiers_available`](Self::subscription_identifiers_available).
    pub const fn with_subscription_identifiers_available(mut self, v: bool) -> Self {
        self.subscription_identifiers_available = v;
        self
    }

    /// Sets [`shared_subscription_available`](Self::shared_subscription_available).
    pub const fn with_shared_subscription_available(mut self, v: bool) -> Self {
        self.shared_subscription_available = v;
        self
    }

    /// Sets [`server_keep_alive`](Self::server_keep_alive).
    pub const fn with_server_keep_alive(mut self, v: Option<u16>) -> Self {
        self.server_keep_alive = v;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub const fn with_connect_timeout(mut self, v: Duration) -> Self {
        self.connect_timeout = v;
        self
    }

    /// Sets [`assign_client_ids`](Self::assign_client_ids).
    pub const fn with_assign_client_ids(mut self, v: bool) -> Self {
        self.assign_client_ids = v;
        self
    }

    /// Sets [`manual_ack`](Self::manual_ack).
    pub const fn with_manual_ack(mut self, v: bool) -> Self {
        self.manual_ack = v;
        self
    }

    /// Sets [`max_queued`](Self::max_queued).
    pub const fn with_max_queued(mut self, v: usize) -> Self {
        self.max_queued = v;
        self
    }

    /// Sets [`max_inflight`](Self::max_inflight) (0 is taken as 1).
    pub const fn with_max_inflight(mut self, v: u16) -> Self {
        self.max_inflight = if v == 0 { 1 } else { v };
        self
    }

    /// Sets [`outbound_topic_aliases`](Self::outbound_topic_aliases).
    pub const fn with_outbound_topic_aliases(mut self, v: bool) -> Self {
        self.outbound_topic_aliases = v;
        self
    }

    /// Sets [`max_input_before_accept`](Self::max_input_before_accept).
    pub const fn with_max_input_before_accept(mut self, v: usize) -> Self {
        self.max_input_before_accept = v;
        self
    }
}
