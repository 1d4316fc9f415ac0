//! [`ClientOptions`]: everything a [`Client`](super::Client) is configured
//! with, its limits included.

use bytes::Bytes;

use super::ClientError;
use crate::codec::{ConnectProperties, Error, MqttString, ProtocolVersion, UserProperty, Will};
use crate::time::Duration;

/// Why [`Client::connect`](super::Client::connect) (and
/// [`ClientOptions::check`]) refuses a 3.1.1 client with an empty Client
/// Identifier and Clean Session 0.
pub const EMPTY_CLIENT_ID_NEEDS_CLEAN_SESSION: &str =
    "MQTT 3.1.1: an empty Client Identifier needs Clean Session 1 [MQTT-3.1.3-7]";

/// [MQTT-3.1.3-7] (3.1.1): a client that sends a zero-byte Client
/// Identifier must also set Clean Session 1 (5.0 has no such rule: the
/// server assigns an identifier and the session can resume with it).
/// MQTT 3.1 takes 1 to 23 characters only (a 3.1 server answers any other
/// with Identifier Rejected).
pub(crate) fn check_client_id(
    version: ProtocolVersion,
    client_id: &MqttString,
    clean_start: bool,
) -> Result<(), ClientError> {
    if version.is_v31() && !crate::codec::is_valid_v31_client_id(client_id.as_str()) {
        return Err(ClientError::InvalidState(
            "MQTT 3.1 needs a Client Identifier of 1 to 23 characters",
        ));
    }
    if !version.is_v5() && client_id.is_empty() && !clean_start {
        return Err(ClientError::InvalidState(
            EMPTY_CLIENT_ID_NEEDS_CLEAN_SESSION,
        ));
    }
    Ok(())
}

/// What a command does when the queue of messages waiting to be sent is
/// full ([`ClientOptions::max_queued`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueueFullPolicy {
    /// Refuse the new command with
    /// [`ClientError::QueueFull`](super::ClientError::QueueFull); nothing
    /// queued is lost. The default, and the one to build back-pressure on.
    #[default]
    RejectNew,
    /// Drop the oldest queued command to make room; a dropped publish is
    /// reported with [`Event::PublishDropped`](super::Event::PublishDropped)
    /// and [`DropReason::QueueFull`](super::DropReason::QueueFull).
    DropOldest,
}

/// What happens to in-flight messages when the server answers a reconnect
/// without the session (Session Present 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionLostPolicy {
    /// Send them again as new messages, in their original order (at least
    /// once: a QoS 2 message the server had received may arrive twice).
    /// Each is reported with [`Event::PublishRequeued`](super::Event::PublishRequeued).
    #[default]
    Requeue,
    /// Drop them, each reported with
    /// [`Event::PublishDropped`](super::Event::PublishDropped) and
    /// [`DropReason::SessionLost`](super::DropReason::SessionLost).
    Drop,
}

/// Deliberate departures from the specifications, for brokers known to
/// break a rule. All off by default: the client is strict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Leniency {
    /// Ignore a PUBACK, PUBREC or PUBCOMP for a packet identifier that is
    /// not in flight instead of closing the connection with a Protocol
    /// Error (some brokers repeat acknowledgements after a reconnect).
    pub ignore_unknown_acks: bool,
}

/// The configuration of a [`Client`](super::Client).
///
/// Build with [`ClientOptions::new`] and the `with_*` methods; every field
/// is public for reading. The defaults are those of the specifications
/// where they state one.
///
/// ```
/// use mqtt_core::client::ClientOptions;
/// use mqtt_core::codec::ProtocolVersion;
/// let options = ClientOptions::new(ProtocolVersion::V5, "sensor-7")
///     .unwrap()
///     .with_keep_alive(30)
///     .with_session_expiry_interval(3600)
///     .with_max_inflight(32);
/// assert_eq!(options.keep_alive, 30);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The protocol version to speak.
    pub version: ProtocolVersion,
    /// The client identifier; empty asks the server to assign one.
    pub client_id: MqttString,
    /// Keep alive in seconds (0 turns it off). The server's Server Keep
    /// Alive (5.0) overrides it.
    pub keep_alive: u16,
    /// Clean Start (Clean Session in 3.1.1) for the first connection. In
    /// 5.0 later connections send 0 so that the session (kept for
    /// [`session_expiry_interval`](Self::session_expiry_interval)) resumes;
    /// in 3.1.1 every connection sends this value.
    pub clean_start: bool,
    /// Session Expiry Interval in seconds (5.0).
    pub session_expiry_interval: u32,
    /// User Name.
    pub username: Option<MqttString>,
    /// Password.
    pub password: Option<Bytes>,
    /// The will message.
    pub will: Option<Will>,
    /// Receive Maximum we announce (5.0), and in both versions the most
    /// QoS 1 and 2 messages from the server we hold unacknowledged. A
    /// server exceeding it is disconnected with 0x93.
    pub receive_maximum: u16,
    /// Maximum Packet Size we accept (0: no limit beyond the protocol's).
    /// Larger packets close the connection with 0x95.
    pub maximum_packet_size: u32,
    /// Topic Alias Maximum we announce (5.0): aliases the server may use.
    pub topic_alias_maximum: u16,
    /// Request Response Information (5.0).
    pub request_response_information: bool,
    /// Request Problem Information (5.0; `None` leaves the default, true).
    pub request_problem_information: Option<bool>,
    /// Authentication Method for enhanced authentication (5.0).
    pub authentication_method: Option<MqttString>,
    /// Authentication Data sent in CONNECT with the method.
    pub authentication_data: Option<Bytes>,
    /// User Properties sent in CONNECT (5.0).
    pub user_properties: alloc::vec::Vec<UserProperty>,
    /// Our limit on QoS 1 and 2 publishes in flight; the window used is the
    /// smaller of this and the server's Receive Maximum.
    ///
    /// A 3.1.1 server cannot announce its limit, and some (mosquitto's
    /// `max_inflight_messages`, 20 by default) answer publishes beyond it
    /// with a PUBACK and drop them, which 3.1.1 cannot report. So the
    /// 3.1.1 default is 20, mosquitto's default; set it to your broker's
    /// limit. The 5.0 default is 64, bounded further by Receive Maximum.
    pub max_inflight: u16,
    /// Commands (publishes, subscribes, unsubscribes) waiting to be sent,
    /// while disconnected or while the window is full.
    pub max_queued: usize,
    /// What a command does when that queue is full.
    pub queue_full: QueueFullPolicy,
    /// Whether QoS 0 publishes are queued while disconnected (otherwise
    /// they are refused with [`ClientError::NotConnected`](super::ClientError::NotConnected)).
    pub queue_qos0_offline: bool,
    /// What happens to in-flight messages when a session is lost.
    pub session_lost: SessionLostPolicy,
    /// Re-send the subscriptions the client holds when a connection starts
    /// without a session.
    pub resubscribe_on_session_lost: bool,
    /// Choose outbound topic aliases automatically (5.0, within the
    /// server's Topic Alias Maximum; least recently used replaced).
    pub auto_topic_alias: bool,
    /// The application acknowledges each QoS 1 and 2 message with
    /// [`Client::acknowledge`](super::Client::acknowledge); otherwise the
    /// client acknowledges on delivery.
    pub manual_ack: bool,
    /// How long to wait for CONNACK (and any AUTH exchange) after
    /// [`Client::connect`](super::Client::connect), in milliseconds.
    pub connect_timeout: Duration,
    /// How long to wait for PINGRESP, in milliseconds (0: the keep-alive
    /// interval).
    pub ping_timeout: Duration,
    /// Bytes of encoded packets the client holds for
    /// [`Client::poll_transmit`](super::Client::poll_transmit) before new
    /// publishes wait in the queue instead.
    pub max_transmit_buffer: usize,
    /// Departures from strictness.
    pub leniency: Leniency,
}

impl ClientOptions {
    /// Options for `version` and `client_id` (validated as an MQTT string),
    /// with the defaults: keep alive 60 s, clean start, no session expiry,
    /// Receive Maximum 65,535, no packet size limit, no topic aliases from
    /// the server, 64 publishes in flight (20 in 3.1.1), 1,024 queued, queue refusal when
    /// full, QoS 0 not queued offline, session loss requeues, resubscribe,
    /// automatic outbound topic aliases, automatic acknowledgement, 30 s
    /// connect timeout, 1 MiB transmit buffer, strict.
    pub fn new(version: ProtocolVersion, client_id: &str) -> Result<Self, Error> {
        Ok(ClientOptions {
            version,
            client_id: MqttString::from_str(client_id)?,
            keep_alive: 60,
            clean_start: true,
            session_expiry_interval: 0,
            username: None,
            password: None,
            will: None,
            receive_maximum: u16::MAX,
            maximum_packet_size: 0,
            topic_alias_maximum: 0,
            request_response_information: false,
            request_problem_information: None,
            authentication_method: None,
            authentication_data: None,
            user_properties: alloc::vec::Vec::new(),
            max_inflight: if version.is_v5() { 64 } else { 20 },
            max_queued: 1024,
            queue_full: QueueFullPolicy::RejectNew,
            queue_qos0_offline: false,
            session_lost: SessionLostPolicy::Requeue,
            resubscribe_on_session_lost: true,
            auto_topic_alias: true,
            manual_ack: false,
            connect_timeout: 30_000,
            ping_timeout: 0,
            max_transmit_buffer: 1 << 20,
            leniency: Leniency::default(),
        })
    }

    /// Sets the keep alive in seconds.
    pub fn with_keep_alive(mut self, seconds: u16) -> Self {
        self.keep_alive = seconds;
        self
    }
    /// Sets Clean Start for the first connection.
    pub fn with_clean_start(mut self, clean_start: bool) -> Self {
        self.clean_start = clean_start;
        self
    }
    /// Sets the Session Expiry Interval (5.0).
    pub fn with_session_expiry_interval(mut self, seconds: u32) -> Self {
        self.session_expiry_interval = seconds;
        self
    }
    /// Sets the user name.
    pub fn with_username(mut self, username: &str) -> Result<Self, Error> {
        self.username = Some(MqttString::from_str(username)?);
        Ok(self)
    }
    /// Sets the password.
    pub fn with_password(mut self, password: impl Into<Bytes>) -> Self {
        self.password = Some(password.into());
        self
    }
    /// Sets the will.
    pub fn with_will(mut self, will: Will) -> Self {
        self.will = Some(will);
        self
    }
    /// Sets our Receive Maximum (at least 1).
    pub fn with_receive_maximum(mut self, max: u16) -> Self {
        self.receive_maximum = max.max(1);
        self
    }
    /// Sets our Maximum Packet Size (0: no limit).
    pub fn with_maximum_packet_size(mut self, max: u32) -> Self {
        self.maximum_packet_size = max;
        self
    }
    /// Sets our Topic Alias Maximum (5.0).
    pub fn with_topic_alias_maximum(mut self, max: u16) -> Self {
        self.topic_alias_maximum = max;
        self
    }
    /// Asks for Response Information in CONNACK (5.0).
    pub fn with_request_response_information(mut self, on: bool) -> Self {
        self.request_response_information = on;
        self
    }
    /// Sets Request Problem Information (5.0). With `false` the server may
    /// put a Reason String or User Properties only on PUBLISH, CONNACK and
    /// DISCONNECT; elsewhere the client closes with 0x82 [MQTT-3.1.2-29].
    pub fn with_request_problem_information(mut self, on: bool) -> Self {
        self.request_problem_information = Some(on);
        self
    }
    /// Sets enhanced authentication (5.0): the method and optional initial
    /// data.
    pub fn with_authentication(mut self, method: &str, data: Option<Bytes>) -> Result<Self, Error> {
        self.authentication_method = Some(MqttString::from_str(method)?);
        self.authentication_data = data;
        Ok(self)
    }
    /// Adds a User Property to CONNECT (5.0).
    pub fn with_user_property(mut self, key: &str, value: &str) -> Result<Self, Error> {
        self.user_properties.push(UserProperty::new(key, value)?);
        Ok(self)
    }
    /// Sets our in-flight limit (at least 1).
    pub fn with_max_inflight(mut self, max: u16) -> Self {
        self.max_inflight = max.max(1);
        self
    }
    /// Sets the queue bound and what happens when it is full.
    pub fn with_queue(mut self, max_queued: usize, policy: QueueFullPolicy) -> Self {
        self.max_queued = max_queued;
        self.queue_full = policy;
        self
    }
    /// Whether QoS 0 publishes are queued while disconnected.
    pub fn with_queue_qos0_offline(mut self, on: bool) -> Self {
        self.queue_qos0_offline = on;
        self
    }
    /// Sets the session loss policy.
    pub fn with_session_lost(mut self, policy: SessionLostPolicy) -> Self {
        self.session_lost = policy;
        self
    }
    /// Whether subscriptions are sent again when a session was lost.
    pub fn with_resubscribe_on_session_lost(mut self, on: bool) -> Self {
        self.resubscribe_on_session_lost = on;
        self
    }
    /// Turns automatic outbound topic aliases on or off (5.0).
    pub fn with_auto_topic_alias(mut self, on: bool) -> Self {
        self.auto_topic_alias = on;
        self
    }
    /// Turns manual acknowledgement on or off.
    pub fn with_manual_ack(mut self, on: bool) -> Self {
        self.manual_ack = on;
        self
    }
    /// Sets the connect timeout in milliseconds.
    pub fn with_connect_timeout(mut self, ms: Duration) -> Self {
        self.connect_timeout = ms;
        self
    }
    /// Sets the PINGRESP timeout in milliseconds (0: the keep alive).
    pub fn with_ping_timeout(mut self, ms: Duration) -> Self {
        self.ping_timeout = ms;
        self
    }
    /// Sets the transmit buffer bound in bytes.
    pub fn with_max_transmit_buffer(mut self, bytes: usize) -> Self {
        self.max_transmit_buffer = bytes;
        self
    }
    /// Sets the leniency options.
    pub fn with_leniency(mut self, leniency: Leniency) -> Self {
        self.leniency = leniency;
        self
    }

    /// Checks the rules between options that
    /// [`Client::connect`](super::Client::connect) enforces, so that a
    /// configuration that can never connect is refused where it is made:
    /// in 3.1.1 an empty Client Identifier needs Clean Session 1
    /// [MQTT-3.1.3-7] ([`ClientError::InvalidState`] with
    /// [`EMPTY_CLIENT_ID_NEEDS_CLEAN_SESSION`]).
    ///
    /// ```
    /// use mqtt_core::client::ClientOptions;
    /// use mqtt_core::codec::ProtocolVersion;
    /// let o = ClientOptions::new(ProtocolVersion::V311, "").unwrap();
    /// assert!(o.check().is_ok());
    /// assert!(o.with_clean_start(false).check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), ClientError> {
        check_client_id(self.version, &self.client_id, self.clean_start)
    }

    /// The CONNECT properties these options produce (5.0).
    pub(crate) fn connect_properties(&self) -> ConnectProperties {
        let mut p = ConnectProperties::default();
        if self.session_expiry_interval != 0 {
            p.session_expiry_interval = Some(self.session_expiry_interval);
        }
        if self.receive_maximum != u16::MAX {
            p.receive_maximum = Some(self.receive_maximum);
        }
        if self.maximum_packet_size != 0 {
            p.maximum_packet_size = Some(self.maximum_packet_size);
        }
        if self.topic_alias_maximum != 0 {
            p.topic_alias_maximum = Some(self.topic_alias_maximum);
        }
        if self.request_response_information {
            p.request_response_information = Some(true);
        }
        p.request_problem_information = self.request_problem_information;
        p.authentication_method = self.authentication_method.clone();
        p.authentication_data = self.authentication_data.clone();
        p.user_properties = self.user_properties.clone();
        p
    }
}
