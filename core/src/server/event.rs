//! What a [`ServerConnection`](super::ServerConnection) reports:
//! [`ServerEvent`]s, the errors of commands ([`ServerError`], local
//! misuse) and of the client ([`ClientViolation`], remote misbehaviour).

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::codec::{
    AckProperties, Auth, ConnAck, Connect, Disconnect, Error, PacketType, Publish, ReasonCode,
    Subscribe, Unsubscribe, Will,
};

/// Something the client did that the specifications forbid. The server
/// answers with DISCONNECT (5.0) carrying [`reason_code`](Self::reason_code)
/// and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientViolation {
    /// The bytes were not a valid packet (or were too large: 0x95).
    Decode(Error),
    /// The first packet was not CONNECT [MQTT-3.1.0-1] (no DISCONNECT is
    /// sent: nothing is sent before CONNECT).
    FirstPacketNotConnect(PacketType),
    /// A second CONNECT [MQTT-3.1.0-2].
    SecondConnect,
    /// A packet a client never sends (CONNACK, SUBACK, ...), or one out of
    /// place (anything but AUTH during an authentication exchange).
    UnexpectedPacket(PacketType),
    /// More unacknowledged QoS 1 and 2 messages than our Receive Maximum
    /// [MQTT-3.3.4-7] (0x93).
    ReceiveMaximumExceeded,
    /// A Topic Alias of 0 or above our maximum, or unknown (0x94 or 0x82).
    TopicAlias(Error),
    /// A PUBLISH with a QoS above our Maximum QoS [MQTT-3.2.2-11] (0x9B).
    QoSNotSupported,
    /// A retained PUBLISH although retain is not available [MQTT-3.2.2-14]
    /// (0x9A).
    RetainNotSupported,
    /// A SUBSCRIBE with a Subscription Identifier although they are not
    /// available (0xA1).
    SubscriptionIdentifiersNotSupported,
    /// A SUBSCRIBE with a shared subscription although they are not
    /// available (0x9E).
    SharedSubscriptionsNotSupported,
    /// A SUBSCRIBE with a wildcard although they are not available (0xA2).
    WildcardSubscriptionsNotSupported,
    /// An AUTH without enhanced authentication, out of turn, or naming
    /// another method [MQTT-4.12.0-7].
    Authentication,
    /// A PUBREL for a QoS 2 message we have not answered with PUBREC yet.
    UnexpectedPubRel(u16),
    /// An acknowledgement of the wrong kind for a message we have in
    /// flight: a PUBACK for a QoS 2 message, a PUBREC or PUBCOMP for a
    /// QoS 1 message, a PUBCOMP before our PUBREL (0x82). An
    /// acknowledgement for an identifier not in flight is not one (it is
    /// ignored; a PUBREC for one gets PUBREL, 0x92 in 5.0).
    UnexpectedAcknowledgement {
        /// The acknowledgement (PUBACK, PUBREC or PUBCOMP).
        packet: PacketType,
        /// Its packet identifier.
        packet_id: u16,
    },
    /// A DISCONNECT setting a Session Expiry Interval although CONNECT set
    /// 0 (a Protocol Error by MQTT 5.0 §3.14.2.2.2, a statement without an id;
    /// [MQTT-3.14.2-2] is the server-side rule).
    SessionExpiryAfterZero,
    /// A packet identifier already in use by an unacknowledged SUBSCRIBE or
    /// UNSUBSCRIBE.
    PacketIdInUse(u16),
    /// A PUBLISH carrying a Subscription Identifier, which only a server
    /// sends [MQTT-3.3.4-6] (0x82).
    SubscriptionIdentifierInPublish,
    /// More than [`ServerOptions::max_input_before_accept`](super::ServerOptions::max_input_before_accept)
    /// bytes arrived before the connection was accepted (0x97 Quota
    /// exceeded).
    InputBeforeAccept {
        /// The limit.
        limit: usize,
    },
}

impl ClientViolation {
    /// The reason code of the DISCONNECT sent for it.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            ClientViolation::Decode(e) | ClientViolation::TopicAlias(e) => e.reason_code(),
            ClientViolation::ReceiveMaximumExceeded => ReasonCode::ReceiveMaximumExceeded,
            ClientViolation::QoSNotSupported => ReasonCode::QoSNotSupported,
            ClientViolation::RetainNotSupported => ReasonCode::RetainNotSupported,
            ClientViolation::SubscriptionIdentifiersNotSupported => {
                ReasonCode::SubscriptionIdentifiersNotSupported
            }
            ClientViolation::SharedSubscriptionsNotSupported => {
                ReasonCode::SharedSubscriptionsNotSupported
            }
            ClientViolation::WildcardSubscriptionsNotSupported => {
                ReasonCode::WildcardSubscriptionsNotSupported
            }
            ClientViolation::InputBeforeAccept { .. } => ReasonCode::QuotaExceeded,
            _ => ReasonCode::ProtocolError,
        }
    }
}

impl core::fmt::Display for ClientViolation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClientViolation::Decode(e) => write!(f, "invalid packet from the client: {e}"),
            ClientViolation::FirstPacketNotConnect(t) => {
                write!(f, "first packet is {t:?}, not CONNECT")
            }
            ClientViolation::SecondConnect => f.write_str("second CONNECT"),
            ClientViolation::UnexpectedPacket(t) => write!(f, "unexpected {t:?} from the client"),
            ClientViolation::ReceiveMaximumExceeded => f.write_str("Receive Maximum exceeded"),
            ClientViolation::TopicAlias(e) => write!(f, "topic alias: {e}"),
            ClientViolation::QoSNotSupported => f.write_str("QoS above the Maximum QoS"),
            ClientViolation::RetainNotSupported => f.write_str("retain is not available"),
            ClientViolation::SubscriptionIdentifiersNotSupported => {
                f.write_str("subscription identifiers are not available")
            }
            ClientViolation::SharedSubscriptionsNotSupported => {
                f.write_str("shared subscriptions are not available")
            }
            ClientViolation::WildcardSubscriptionsNotSupported => {
                f.write_str("wildcard subscriptions are not available")
            }
            ClientViolation::Authentication => f.write_str("unexpected AUTH"),
            ClientViolation::UnexpectedPubRel(id) => {
                write!(f, "PUBREL for packet identifier {id} before our PUBREC")
            }
            ClientViolation::UnexpectedAcknowledgement { packet, packet_id } => write!(
                f,
                "{packet:?} for packet identifier {packet_id}, in flight as another kind"
            ),
            ClientViolation::SessionExpiryAfterZero => {
                f.write_str("Session Expiry Interval set in DISCONNECT after 0 in CONNECT")
            }
            ClientViolation::PacketIdInUse(id) => {
                write!(f, "packet identifier {id} already in use")
            }
            ClientViolation::SubscriptionIdentifierInPublish => {
                f.write_str("Subscription Identifier in a PUBLISH from the client")
            }
            ClientViolation::InputBeforeAccept { limit } => write!(
                f,
                "more than {limit} bytes received before the connection was accepted"
            ),
        }
    }
}

/// Why the connection ended. After [`ServerEvent::Disconnected`], send
/// what [`ServerConnection::poll_transmit`](super::ServerConnection::poll_transmit)
/// still returns (a CONNACK or DISCONNECT, when one is due) and close the
/// transport.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DISCONNECT (a 3.1.1 DISCONNECT is reported as
    /// Success).
    ByClient(Disconnect),
    /// The client broke a rule; a DISCONNECT with
    /// [`ClientViolation::reason_code`] was queued (5.0, once connected).
    ProtocolViolation(ClientViolation),
    /// Nothing from the client within 1.5 times the keep alive
    /// [MQTT-3.1.2-22] (3.1.1: [MQTT-3.1.2-24]) (DISCONNECT 0x8D in 5.0).
    KeepAliveTimeout,
    /// The connection was not accepted within
    /// [`ServerOptions::connect_timeout`](super::ServerOptions::connect_timeout).
    ConnectTimeout,
    /// The connection was refused with this CONNACK (by
    /// [`ServerConnection::reject`](super::ServerConnection::reject), or
    /// automatically: unsupported protocol version, client identifier).
    Rejected(ConnAck),
    /// The transport closed (reported by
    /// [`ServerConnection::handle_transport_closed`](super::ServerConnection::handle_transport_closed)).
    TransportClosed,
    /// The application called
    /// [`ServerConnection::disconnect`](super::ServerConnection::disconnect)
    /// with this reason code.
    Local(ReasonCode),
}

impl CloseReason {
    /// Whether the will must be published [MQTT-3.1.2-8]: every end except
    /// a DISCONNECT from the client with reason code 0x00 [MQTT-3.1.2-10]
    /// (a DISCONNECT with 0x04 asks for it).
    pub fn publishes_will(&self) -> bool {
        !matches!(self, CloseReason::ByClient(d) if d.reason_code == ReasonCode::Success)
    }
}

/// Why a message to the client was dropped without being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Larger than the client's Maximum Packet Size: discarded as if sent
    /// [MQTT-3.1.2-25].
    PacketTooLarge,
    /// Its Message Expiry Interval passed while it waited in the queue
    /// [MQTT-3.3.2-5].
    Expired,
}

/// Something the server connection reports, drained with
/// [`ServerConnection::poll_event`](super::ServerConnection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A valid CONNECT arrived: answer with
    /// [`accept`](super::ServerConnection::accept) or
    /// [`reject`](super::ServerConnection::reject) (or, when it names an
    /// Authentication Method, continue with
    /// [`auth`](super::ServerConnection::auth)). Nothing else the client
    /// sends is handled before.
    ConnectRequested(Box<Connect>),
    /// The client sent AUTH: 0x18 continuing the exchange during connect,
    /// 0x19 starting a re-authentication. Answer with
    /// [`auth`](super::ServerConnection::auth), or end it with
    /// [`accept`](super::ServerConnection::accept) /
    /// [`reject`](super::ServerConnection::reject) during connect.
    AuthReceived(Auth),
    /// A message from the client, its topic resolved when it came with a
    /// Topic Alias. With [`ServerOptions::manual_ack`](super::ServerOptions::manual_ack),
    /// a QoS 1 or 2 message waits for
    /// [`acknowledge`](super::ServerConnection::acknowledge). A QoS 2
    /// message is reported once, however often it is resent before PUBREL
    /// [MQTT-4.3.3-10].
    Message(Publish),
    /// SUBSCRIBE: answer with [`suback`](super::ServerConnection::suback).
    Subscribe(Subscribe),
    /// UNSUBSCRIBE: answer with [`unsuback`](super::ServerConnection::unsuback).
    Unsubscribe(Unsubscribe),
    /// A QoS 1 or 2 message to the client was acknowledged (PUBACK or
    /// PUBCOMP, or a PUBREC with an error code); its packet identifier is
    /// free again.
    PublishCompleted {
        /// The packet identifier it was sent with.
        packet_id: u16,
        /// The acknowledgement's reason code (Success in 3.1.1).
        reason_code: ReasonCode,
        /// The acknowledgement's properties (5.0).
        properties: AckProperties,
    },
    /// PUBREC (success) arrived for a QoS 2 message to the client and
    /// PUBREL was sent: from now on only PUBREL is resent. Reported only
    /// with [`ServerOptions::report_qos2_steps`](super::ServerOptions::report_qos2_steps).
    PublishReleased {
        /// Its packet identifier.
        packet_id: u16,
    },
    /// PUBREL arrived for a QoS 2 message from the client (PUBCOMP was
    /// sent): a PUBLISH with this packet identifier is a new message
    /// again. Reported only with
    /// [`ServerOptions::report_qos2_steps`](super::ServerOptions::report_qos2_steps).
    ReleaseReceived {
        /// Its packet identifier.
        packet_id: u16,
    },
    /// A queued or resumed message to the client was discarded unsent.
    PublishDropped {
        /// Its packet identifier (0 for QoS 0).
        packet_id: u16,
        /// Why.
        reason: DropReason,
    },
    /// PINGREQ arrived (PINGRESP was sent).
    Ping,
    /// The will must be published now (or after its Will Delay Interval,
    /// which the broker handles): the connection ended otherwise than by
    /// a normal DISCONNECT [MQTT-3.1.2-8]. Reported just before
    /// [`Disconnected`](Self::Disconnected).
    WillPublish(Will),
    /// The connection ended; see [`CloseReason`]. The session (messages
    /// in flight and queued) can be taken with
    /// [`take_session`](super::ServerConnection::take_session).
    Disconnected(CloseReason),
}

/// A command the server connection refused; nothing was queued or sent.
/// Always caused by the caller, never by untrusted input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerError {
    /// The packet is invalid (the codec's reason).
    Invalid(Error),
    /// The encoded packet is larger than the client's Maximum Packet Size;
    /// as [MQTT-3.1.2-25] says, treat the message as sent.
    PacketTooLarge {
        /// Its size in bytes.
        size: usize,
        /// The client's limit.
        maximum: u32,
    },
    /// [`ServerOptions::max_queued`](super::ServerOptions::max_queued)
    /// messages wait already.
    QueueFull,
    /// Every packet identifier is in use.
    NoPacketIdentifier,
    /// The connection is not accepted yet, or has ended.
    NotConnected,
    /// The command makes no sense now (accepting twice, answering a
    /// SUBSCRIBE nobody sent, 5.0 features in 3.1.1, ...).
    InvalidState(&'static str),
    /// A SUBACK or UNSUBACK with a number of reason codes other than the
    /// number of filters [MQTT-3.9.3-1].
    ReasonCodeCount {
        /// Filters received.
        expected: usize,
        /// Codes given.
        got: usize,
    },
    /// A reason code not allowed in this packet.
    InvalidReasonCode(ReasonCode),
    /// The client sent an empty Client Identifier and no Assigned Client
    /// Identifier was given.
    MissingClientId,
}

impl From<Error> for ServerError {
    fn from(e: Error) -> Self {
        ServerError::Invalid(e)
    }
}

impl core::fmt::Display for ServerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ServerError::Invalid(e) => write!(f, "invalid packet: {e}"),
            ServerError::PacketTooLarge { size, maximum } => write!(
                f,
                "packet of {size} bytes exceeds the client's maximum of {maximum}"
            ),
            ServerError::QueueFull => f.write_str("queue full"),
            ServerError::NoPacketIdentifier => f.write_str("no free packet identifier"),
            ServerError::NotConnected => f.write_str("not connected"),
            ServerError::InvalidState(why) => f.write_str(why),
            ServerError::ReasonCodeCount { expected, got } => {
                write!(f, "{got} reason codes for {expected} filters")
            }
            ServerError::InvalidReasonCode(c) => write!(f, "reason code {c} not allowed here"),
            ServerError::MissingClientId => {
                f.write_str("empty Client Identifier and no Assigned Client Identifier")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ServerError {}

#[cfg(feature = "std")]
impl std::error::Error for ClientViolation {}

/// An outbound QoS 1 or 2 message in flight, as kept in a
/// [`ServerSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InflightDelivery {
    /// The PUBLISH as sent (its packet identifier set, no Topic Alias).
    pub publish: Publish,
    /// PUBREC arrived and PUBREL was sent (QoS 2): only PUBREL is resent.
    pub released: bool,
}

/// The part of a session that lives in the connection state machine, as
/// plain data: what a broker keeps when the network connection ends
/// ([`ServerConnection::take_session`](super::ServerConnection::take_session))
/// and hands to the next connection of the same client
/// ([`Accept::with_session`](super::Accept::with_session)), which resends
/// it with DUP [MQTT-4.4.0-1].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerSession {
    /// Outbound QoS 1 and 2 messages sent and not completed, in order.
    pub inflight: Vec<InflightDelivery>,
    /// Outbound messages not sent yet, in order (packet identifiers are
    /// assigned when they are sent; a Message Expiry Interval is what was
    /// left when the session was taken).
    pub queued: Vec<Publish>,
    /// Inbound QoS 2 messages received (reported to the application and
    /// not refused with an error code: answered with PUBREC, or due to be)
    /// and not released yet: their resends are answered with PUBREC and
    /// not delivered again [MQTT-4.3.3-10].
    pub inbound_qos2: Vec<u16>,
}

impl ServerSession {
    /// An empty session.
    pub fn new() -> Self {
        ServerSession::default()
    }

    /// Queues a message for the client while it is offline (the broker
    /// bounds how many).
    pub fn queue(&mut self, publish: Publish) {
        self.queued.push(publish);
    }

    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.inflight.is_empty() && self.queued.is_empty() && self.inbound_qos2.is_empty()
    }
}

/// How the application accepts a connection, given to
/// [`ServerConnection::accept`](super::ServerConnection::accept).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Accept {
    /// Session Present in CONNACK.
    pub session_present: bool,
    /// The session to resume (messages in flight are resent).
    pub session: Option<ServerSession>,
    /// The Assigned Client Identifier, for an empty Client Identifier.
    pub assigned_client_id: Option<crate::codec::MqttString>,
    /// Extra CONNACK properties (5.0): Session Expiry Interval, Response
    /// Information, Reason String, Authentication Method and Data, User
    /// Properties... The limits from [`ServerOptions`](super::ServerOptions)
    /// are filled in unless set here.
    pub properties: crate::codec::ConnAckProperties,
}

impl Accept {
    /// Accept without a session (Session Present 0).
    pub fn new() -> Self {
        Accept::default()
    }

    /// Resumes `session` (Session Present 1).
    pub fn with_session(mut self, session: ServerSession) -> Self {
        self.session_present = true;
        self.session = Some(session);
        self
    }

    /// Sets Session Present without session state to resume.
    pub fn with_session_present(mut self, present: bool) -> Self {
        self.session_present = present;
        self
    }

    /// The Assigned Client Identifier for an empty Client Identifier.
    pub fn with_assigned_client_id(mut self, id: crate::codec::MqttString) -> Self {
        self.assigned_client_id = Some(id);
        self
    }

    /// Sets the CONNACK properties.
    pub fn with_properties(mut self, properties: crate::codec::ConnAckProperties) -> Self {
        self.properties = properties;
        self
    }
}
