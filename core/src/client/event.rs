//! What the client reports: [`Event`]s, and the errors of commands
//! ([`ClientError`], local misuse) and of the server
//! ([`ProtocolViolation`], remote misbehaviour).

use alloc::vec::Vec;

use crate::codec::{
    AckProperties, Auth, ConnAck, Disconnect, Error, MqttString, PacketType, Publish, QoS,
    ReasonCode,
};

/// Identifies a publish from [`Client::publish`](super::Client::publish)
/// until its outcome is reported.
///
/// For QoS 1 and 2 it is the packet identifier the message is sent with
/// ([`packet_id`](Self::packet_id)); for QoS 0 a local token above 65,535
/// that no other publish of this client shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublishId(pub u64);

impl PublishId {
    /// The packet identifier, for QoS 1 and 2 publishes.
    pub const fn packet_id(self) -> Option<u16> {
        if self.0 >= 1 && self.0 <= u16::MAX as u64 {
            Some(self.0 as u16)
        } else {
            None
        }
    }
}

/// Identifies a received QoS 1 or 2 message to acknowledge with
/// [`Client::acknowledge`](super::Client::acknowledge) (manual
/// acknowledgement only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AckToken(pub u64);

/// A message the server delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The PUBLISH, its topic resolved when it came with a Topic Alias.
    /// Topic and payload share the received bytes.
    pub publish: Publish,
    /// With manual acknowledgement, the token to acknowledge a QoS 1 or 2
    /// message with; `None` otherwise.
    pub ack_token: Option<AckToken>,
}

/// The server accepted the connection (CONNACK with Success).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// Session Present: the server resumed a session. A 3.1 CONNACK has
    /// no such flag: always false there (after Clean Session 0 the client
    /// still keeps and resends what was in flight).
    pub session_present: bool,
    /// The CONNACK as received (all its 5.0 properties).
    pub connack: ConnAck,
    /// The client identifier in use (the server's Assigned Client
    /// Identifier when it gave one).
    pub client_id: MqttString,
    /// The keep alive in force, in seconds (the Server Keep Alive when
    /// present).
    pub keep_alive: u16,
}

/// Why a message was dropped without an acknowledgement from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Its Message Expiry Interval passed before it could be sent.
    Expired,
    /// The queue was full and [`QueueFullPolicy::DropOldest`](super::QueueFullPolicy::DropOldest) made room.
    QueueFull,
    /// The server had no session and the policy is
    /// [`SessionLostPolicy::Drop`](super::SessionLostPolicy::Drop).
    SessionLost,
    /// It is larger than the server's Maximum Packet Size (learned after
    /// it was queued).
    PacketTooLarge,
    /// Its QoS is above the server's Maximum QoS, or it is retained and the
    /// server has no retain (learned after it was queued).
    NotSupported,
}

/// Why the connection ended. After [`Event::Disconnected`], send what
/// [`Client::poll_transmit`](super::Client::poll_transmit) still returns
/// (a DISCONNECT, when one is due) and close the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server refused the connection in CONNACK (the reason code, with
    /// a 3.1.1 return code mapped to its 5.0 equivalent).
    Refused(ConnAck),
    /// The server sent DISCONNECT (5.0).
    ByServer(Disconnect),
    /// The server broke a rule; a DISCONNECT with
    /// [`ProtocolViolation::reason_code`] was queued (5.0).
    ProtocolViolation(ProtocolViolation),
    /// No PINGRESP in time.
    KeepAliveTimeout,
    /// No CONNACK in time.
    ConnectTimeout,
    /// The transport closed (reported by
    /// [`Client::handle_transport_closed`](super::Client::handle_transport_closed)).
    TransportClosed,
    /// The application called [`Client::disconnect`](super::Client::disconnect).
    Local,
}

/// A server redirection (5.0 reason codes 0x9C and 0x9D with a Server
/// Reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// True for 0x9D Server moved (use the other server from now on), false
    /// for 0x9C Use another server (this time).
    pub permanent: bool,
    /// The Server Reference, as the server wrote it.
    pub server_reference: MqttString,
}

impl DisconnectReason {
    /// The reason code the server gave (CONNACK or DISCONNECT), or the one
    /// we sent on a protocol violation.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        match self {
            DisconnectReason::Refused(c) => Some(c.reason_code),
            DisconnectReason::ByServer(d) => Some(d.reason_code),
            DisconnectReason::ProtocolViolation(v) => Some(v.reason_code()),
            DisconnectReason::KeepAliveTimeout => Some(ReasonCode::KeepAliveTimeout),
            _ => None,
        }
    }

    /// The redirection the server asked for, if it did.
    pub fn redirect(&self) -> Option<Redirect> {
        let (code, reference) = match self {
            DisconnectReason::Refused(c) => (c.reason_code, c.properties.server_reference.as_ref()),
            DisconnectReason::ByServer(d) => {
                (d.reason_code, d.properties.server_reference.as_ref())
            }
            _ => return None,
        };
        let permanent = match code {
            ReasonCode::UseAnotherServer => false,
            ReasonCode::ServerMoved => true,
            _ => return None,
        };
        reference.map(|r| Redirect {
            permanent,
            server_reference: r.clone(),
        })
    }
}

/// Something the server did that the specifications forbid. The client
/// answers with DISCONNECT (5.0) carrying [`reason_code`](Self::reason_code)
/// and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// The bytes were not a valid packet (or were too large: 0x95).
    Decode(Error),
    /// A packet a server never sends, or one out of place (anything but
    /// CONNACK or AUTH first [MQTT-3.2.0-1]).
    UnexpectedPacket(PacketType),
    /// An acknowledgement for a packet identifier not in flight.
    UnknownPacketId {
        /// The acknowledgement.
        packet: PacketType,
        /// Its packet identifier.
        packet_id: u16,
    },
    /// More unacknowledged QoS 1 and 2 messages than our Receive Maximum
    /// [MQTT-3.3.4-9].
    ReceiveMaximumExceeded,
    /// A Topic Alias of 0 or above our maximum, or unknown.
    TopicAlias(Error),
    /// Session Present 1 answering Clean Start 1 [MQTT-3.2.2-2].
    SessionPresentOnCleanStart,
    /// A SUBACK or UNSUBACK with a number of reason codes other than the
    /// number of filters [MQTT-3.9.3-1] [MQTT-3.11.3-1].
    ReasonCodeCount {
        /// The acknowledgement.
        packet: PacketType,
        /// Filters sent.
        expected: usize,
        /// Codes received.
        got: usize,
    },
    /// An AUTH without an enhanced authentication in progress, or naming
    /// another method [MQTT-4.12.0-5].
    Authentication,
    /// A Reason String or User Property on this packet although we sent
    /// Request Problem Information 0 [MQTT-3.1.2-29].
    ProblemInformation(PacketType),
    /// A 5.0 CONNACK without an Assigned Client Identifier in answer to an
    /// empty Client Identifier [MQTT-3.2.2-16].
    MissingAssignedClientId,
    /// A PUBREL for a QoS 2 message we have not answered with PUBREC yet
    /// (the server cannot have received a PUBREC for it).
    UnexpectedPubRel(u16),
    /// A DISCONNECT from the server with a Session Expiry Interval
    /// [MQTT-3.14.2-2]: the property is valid in DISCONNECT (so the packet
    /// is not malformed), but only the client may send it.
    SessionExpiryInServerDisconnect,
}

impl ProtocolViolation {
    /// The reason code of the DISCONNECT sent for it.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            ProtocolViolation::Decode(e) | ProtocolViolation::TopicAlias(e) => e.reason_code(),
            ProtocolViolation::ReceiveMaximumExceeded => ReasonCode::ReceiveMaximumExceeded,
            _ => ReasonCode::ProtocolError,
        }
    }
}

impl core::fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProtocolViolation::Decode(e) => write!(f, "invalid packet from the server: {e}"),
            ProtocolViolation::UnexpectedPacket(t) => write!(f, "unexpected {t:?} from the server"),
            ProtocolViolation::UnknownPacketId { packet, packet_id } => {
                write!(
                    f,
                    "{packet:?} for packet identifier {packet_id}, which is not in flight"
                )
            }
            ProtocolViolation::ReceiveMaximumExceeded => f.write_str("Receive Maximum exceeded"),
            ProtocolViolation::TopicAlias(e) => write!(f, "topic alias: {e}"),
            ProtocolViolation::SessionPresentOnCleanStart => {
                f.write_str("Session Present 1 in answer to Clean Start 1")
            }
            ProtocolViolation::ReasonCodeCount {
                packet,
                expected,
                got,
            } => write!(
                f,
                "{packet:?} with {got} reason codes for {expected} filters"
            ),
            ProtocolViolation::Authentication => f.write_str("unexpected AUTH"),
            ProtocolViolation::ProblemInformation(t) => write!(
                f,
                "Reason String or User Property on {t:?} after Request Problem Information 0"
            ),
            ProtocolViolation::MissingAssignedClientId => {
                f.write_str("no Assigned Client Identifier for an empty Client Identifier")
            }
            ProtocolViolation::UnexpectedPubRel(id) => {
                write!(f, "PUBREL for packet identifier {id} before our PUBREC")
            }
            ProtocolViolation::SessionExpiryInServerDisconnect => f.write_str(
                "Session Expiry Interval in a DISCONNECT from the server [MQTT-3.14.2-2]",
            ),
        }
    }
}

/// Something the client reports, drained with
/// [`Client::poll_event`](super::Client::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// CONNACK accepted the connection; queued commands are being sent.
    Connected(Connected),
    /// The connection ended; see [`DisconnectReason`].
    Disconnected(DisconnectReason),
    /// A message arrived.
    Message(Message),
    /// A QoS 1 or 2 publish was acknowledged (PUBACK, or PUBCOMP; or a
    /// PUBREC with an error code, which ends a QoS 2 exchange). An error
    /// `reason_code` (0x80 and above) in a PUBACK or PUBREC means the
    /// server refused the message. PUBCOMP's only error, 0x92 Packet
    /// Identifier not found, is not a refusal: the server had received the
    /// message (its PUBREC said so) and had already released the
    /// identifier, e.g. when our PUBREL was resent after a reconnect.
    PublishCompleted {
        /// The publish.
        id: PublishId,
        /// The acknowledgement's reason code (Success in 3.1.1).
        reason_code: ReasonCode,
        /// The acknowledgement's properties (5.0).
        properties: AckProperties,
    },
    /// A publish was dropped before the server acknowledged it.
    PublishDropped {
        /// The publish.
        id: PublishId,
        /// Why.
        reason: DropReason,
    },
    /// An in-flight publish was put back in the queue as a new message
    /// (new packet identifier) because the server lost the session.
    PublishRequeued {
        /// The identifier it had.
        old: PublishId,
        /// The identifier it has now.
        new: PublishId,
    },
    /// SUBACK: one reason code per filter, in order (the granted QoS, or
    /// an error). Also reported, with 0x95 Packet too large for every
    /// filter and no SUBACK, for a SUBSCRIBE the client could not send:
    /// larger than a Maximum Packet Size the server announced after it
    /// was queued; and with 0xA1, 0xA2 or 0x9E for one using Subscription
    /// Identifiers, wildcards or shared subscriptions that the server's
    /// CONNACK then said it lacks.
    Subscribed {
        /// The SUBSCRIBE's packet identifier.
        packet_id: u16,
        /// The reason codes.
        reason_codes: Vec<ReasonCode>,
        /// The SUBACK's properties (5.0).
        properties: AckProperties,
    },
    /// UNSUBACK: one reason code per filter (Success in 3.1.1). Like
    /// [`Subscribed`](Self::Subscribed), 0x95 for every filter for an
    /// UNSUBSCRIBE too large to send.
    Unsubscribed {
        /// The UNSUBSCRIBE's packet identifier.
        packet_id: u16,
        /// The reason codes.
        reason_codes: Vec<ReasonCode>,
        /// The UNSUBACK's properties (5.0).
        properties: AckProperties,
    },
    /// The server continues an enhanced authentication (AUTH 0x18):
    /// answer with [`Client::authenticate`](super::Client::authenticate).
    AuthChallenge(Auth),
    /// A re-authentication succeeded (AUTH 0x00).
    Reauthenticated(Auth),
    /// PINGRESP arrived.
    Pong,
}

/// A command the client refused; nothing was queued or sent. These are
/// always caused by the caller (or by limits the server announced), never
/// by untrusted input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The packet is invalid (the codec's reason).
    Invalid(Error),
    /// The encoded packet is larger than the server's Maximum Packet Size.
    PacketTooLarge {
        /// Its size in bytes.
        size: usize,
        /// The server's limit.
        maximum: u32,
    },
    /// The queue is full ([`QueueFullPolicy::RejectNew`](super::QueueFullPolicy::RejectNew)).
    QueueFull,
    /// Not connected, and this is not queued offline (QoS 0 publishes
    /// unless [`ClientOptions::queue_qos0_offline`](super::ClientOptions::queue_qos0_offline);
    /// AUTH).
    NotConnected,
    /// Every packet identifier is in use.
    NoPacketIdentifier,
    /// Above the server's Maximum QoS [MQTT-3.2.2-11].
    QoSNotSupported {
        /// The server's Maximum QoS.
        maximum: QoS,
    },
    /// A retained message to a server without retain [MQTT-3.2.2-14].
    RetainNotSupported,
    /// A wildcard filter, a Subscription Identifier or a shared
    /// subscription to a server that said it has none (CONNACK).
    FeatureNotSupported(ReasonCode),
    /// The command makes no sense now (connecting twice, answering an AUTH
    /// nobody sent, 5.0 features in 3.1.1, ...).
    InvalidState(&'static str),
    /// An acknowledgement token that is not pending.
    UnknownAckToken,
}

impl From<Error> for ClientError {
    fn from(e: Error) -> Self {
        ClientError::Invalid(e)
    }
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClientError::Invalid(e) => write!(f, "invalid packet: {e}"),
            ClientError::PacketTooLarge { size, maximum } => write!(
                f,
                "packet of {size} bytes exceeds the server's maximum of {maximum}"
            ),
            ClientError::QueueFull => f.write_str("queue full"),
            ClientError::NotConnected => f.write_str("not connected"),
            ClientError::NoPacketIdentifier => f.write_str("no free packet identifier"),
            ClientError::QoSNotSupported { maximum } => {
                write!(f, "QoS above the server's maximum ({})", *maximum as u8)
            }
            ClientError::RetainNotSupported => f.write_str("the server does not support retain"),
            ClientError::FeatureNotSupported(code) => {
                write!(f, "not supported by the server: {code}")
            }
            ClientError::InvalidState(why) => f.write_str(why),
            ClientError::UnknownAckToken => f.write_str("unknown acknowledgement token"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ClientError {}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolViolation {}
