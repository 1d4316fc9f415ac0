//! MQTT 5.0 reason codes (spec section 2.4), with their meanings and the
//! packets each may appear in, and the MQTT 3.1.1 return codes they map to.

use super::fixed_header::PacketType;

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $text:literal, [$($pkt:ident),*]; )*) => {
        /// An MQTT 5.0 reason code.
        ///
        /// `0x00` means "Success" in most packets, "Normal disconnection" in
        /// DISCONNECT and "Granted QoS 0" in SUBACK; those names are
        /// associated constants. Codes of `0x80` and above are failures.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum ReasonCode {
            $( $(#[$doc])* $name = $value, )*
        }

        impl ReasonCode {
            /// Every reason code, in numeric order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$name),*];

            /// The reason code for a byte, if the specification defines it.
            pub const fn from_u8(value: u8) -> Option<Self> {
                match value {
                    $( $value => Some(ReasonCode::$name), )*
                    _ => None,
                }
            }

            /// The name the specification gives this code (for 0x00,
            /// "Success").
            pub const fn description(self) -> &'static str {
                match self {
                    $( ReasonCode::$name => $text, )*
                }
            }

            /// Whether the specification allows this code in `packet`
            /// (table 2-6 of MQTT 5.0).
            pub const fn allowed_in(self, packet: PacketType) -> bool {
                match self {
                    $( ReasonCode::$name => matches!(packet, $(PacketType::$pkt)|*), )*
                }
            }
        }
    };
}

reason_codes! {
    /// 0x00: Success; Normal disconnection; Granted QoS 0.
    #[default]
    Success = 0x00, "Success", [ConnAck, PubAck, PubRec, PubRel, PubComp, UnsubAck, Auth, Disconnect, SubAck];
    /// 0x01: Granted QoS 1 (SUBACK).
    GrantedQoS1 = 0x01, "Granted QoS 1", [SubAck];
    /// 0x02: Granted QoS 2 (SUBACK).
    GrantedQoS2 = 0x02, "Granted QoS 2", [SubAck];
    /// 0x04: the client disconnects but wants its will published.
    DisconnectWithWillMessage = 0x04, "Disconnect with Will Message", [Disconnect];
    /// 0x10: the message was accepted but nobody is subscribed.
    NoMatchingSubscribers = 0x10, "No matching subscribers", [PubAck, PubRec];
    /// 0x11: no subscription existed for the filter (UNSUBACK).
    NoSubscriptionExisted = 0x11, "No subscription existed", [UnsubAck];
    /// 0x18: continue the authentication exchange (AUTH).
    ContinueAuthentication = 0x18, "Continue authentication", [Auth];
    /// 0x19: start re-authentication (AUTH).
    ReAuthenticate = 0x19, "Re-authenticate", [Auth];
    /// 0x80: unspecified error.
    UnspecifiedError = 0x80, "Unspecified error", [ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect];
    /// 0x81: the packet could not be parsed.
    MalformedPacket = 0x81, "Malformed Packet", [ConnAck, Disconnect];
    /// 0x82: the packet parsed but breaks a protocol rule.
    ProtocolError = 0x82, "Protocol Error", [ConnAck, Disconnect];
    /// 0x83: valid, but not accepted by this implementation.
    ImplementationSpecificError = 0x83, "Implementation specific error", [ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect];
    /// 0x84: the server does not speak the requested protocol version.
    UnsupportedProtocolVersion = 0x84, "Unsupported Protocol Version", [ConnAck];
    /// 0x85: the client identifier is not valid.
    ClientIdentifierNotValid = 0x85, "Client Identifier not valid", [ConnAck];
    /// 0x86: bad user name or password.
    BadUserNameOrPassword = 0x86, "Bad User Name or Password", [ConnAck];
    /// 0x87: not authorized.
    NotAuthorized = 0x87, "Not authorized", [ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect];
    /// 0x88: the server is unavailable.
    ServerUnavailable = 0x88, "Server unavailable", [ConnAck];
    /// 0x89: the server is busy.
    ServerBusy = 0x89, "Server busy", [ConnAck, Disconnect];
    /// 0x8A: this client is banned.
    Banned = 0x8A, "Banned", [ConnAck];
    /// 0x8B: the server is shutting down.
    ServerShuttingDown = 0x8B, "Server shutting down", [Disconnect];
    /// 0x8C: the authentication method is not supported or does not match.
    /// CONNACK only: §2.4's Table 2-6 also names DISCONNECT, but the
    /// DISCONNECT table (§3.14.2.1), which [MQTT-3.14.2-1] makes binding,
    /// does not list it, and established implementations refuse it there.
    BadAuthenticationMethod = 0x8C, "Bad authentication method", [ConnAck];
    /// 0x8D: no packet arrived within 1.5 times the keep alive.
    KeepAliveTimeout = 0x8D, "Keep Alive timeout", [Disconnect];
    /// 0x8E: another connection took over this session.
    SessionTakenOver = 0x8E, "Session taken over", [Disconnect];
    /// 0x8F: the topic filter is not accepted.
    TopicFilterInvalid = 0x8F, "Topic Filter invalid", [SubAck, UnsubAck, Disconnect];
    /// 0x90: the topic name is not accepted.
    TopicNameInvalid = 0x90, "Topic Name invalid", [ConnAck, PubAck, PubRec, Disconnect];
    /// 0x91: the packet identifier is already in use.
    PacketIdentifierInUse = 0x91, "Packet Identifier in use", [PubAck, PubRec, SubAck, UnsubAck];
    /// 0x92: the packet identifier is not known.
    PacketIdentifierNotFound = 0x92, "Packet Identifier not found", [PubRel, PubComp];
    /// 0x93: more QoS 1/2 publishes in flight than Receive Maximum allows.
    ReceiveMaximumExceeded = 0x93, "Receive Maximum exceeded", [Disconnect];
    /// 0x94: the topic alias is 0 or above the maximum.
    TopicAliasInvalid = 0x94, "Topic Alias invalid", [Disconnect];
    /// 0x95: the packet exceeds the maximum packet size.
    PacketTooLarge = 0x95, "Packet too large", [ConnAck, Disconnect];
    /// 0x96: the message rate is too high.
    MessageRateTooHigh = 0x96, "Message rate too high", [Disconnect];
    /// 0x97: a quota was exceeded.
    QuotaExceeded = 0x97, "Quota exceeded", [ConnAck, PubAck, PubRec, SubAck, Disconnect];
    /// 0x98: closed by an administrative action.
    AdministrativeAction = 0x98, "Administrative action", [Disconnect];
    /// 0x99: the payload does not match the payload format indicator.
    PayloadFormatInvalid = 0x99, "Payload format invalid", [ConnAck, PubAck, PubRec, Disconnect];
    /// 0x9A: retained messages are not supported.
    RetainNotSupported = 0x9A, "Retain not supported", [ConnAck, Disconnect];
    /// 0x9B: the QoS is not supported.
    QoSNotSupported = 0x9B, "QoS not supported", [ConnAck, Disconnect];
    /// 0x9C: use another server, temporarily.
    UseAnotherServer = 0x9C, "Use another server", [ConnAck, Disconnect];
    /// 0x9D: the server has moved, permanently.
    ServerMoved = 0x9D, "Server moved", [ConnAck, Disconnect];
    /// 0x9E: shared subscriptions are not supported.
    SharedSubscriptionsNotSupported = 0x9E, "Shared Subscriptions not supported", [SubAck, Disconnect];
    /// 0x9F: the connection rate is too high.
    ConnectionRateExceeded = 0x9F, "Connection rate exceeded", [ConnAck, Disconnect];
    /// 0xA0: the maximum connect time was reached.
    MaximumConnectTime = 0xA0, "Maximum connect time", [Disconnect];
    /// 0xA1: subscription identifiers are not supported.
    SubscriptionIdentifiersNotSupported = 0xA1, "Subscription Identifiers not supported", [SubAck, Disconnect];
    /// 0xA2: wildcard subscriptions are not supported.
    WildcardSubscriptionsNotSupported = 0xA2, "Wildcard Subscriptions not supported", [SubAck, Disconnect];
}

impl ReasonCode {
    /// 0x00 in DISCONNECT.
    pub const NORMAL_DISCONNECTION: ReasonCode = ReasonCode::Success;
    /// 0x00 in SUBACK.
    pub const GRANTED_QOS_0: ReasonCode = ReasonCode::Success;

    /// The byte on the wire.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether this code reports a failure (0x80 and above).
    pub const fn is_error(self) -> bool {
        (self as u8) >= 0x80
    }

    /// The MQTT 3.1.1 CONNACK return code (0..=5) for this reason code, if
    /// 3.1.1 can express it.
    pub const fn to_v311_connack(self) -> Option<u8> {
        match self {
            ReasonCode::Success => Some(0),
            ReasonCode::UnsupportedProtocolVersion => Some(1),
            ReasonCode::ClientIdentifierNotValid => Some(2),
            ReasonCode::ServerUnavailable => Some(3),
            ReasonCode::BadUserNameOrPassword => Some(4),
            ReasonCode::NotAuthorized => Some(5),
            _ => None,
        }
    }

    /// The reason code for an MQTT 3.1.1 CONNACK return code.
    pub const fn from_v311_connack(code: u8) -> Option<Self> {
        match code {
            0 => Some(ReasonCode::Success),
            1 => Some(ReasonCode::UnsupportedProtocolVersion),
            2 => Some(ReasonCode::ClientIdentifierNotValid),
            3 => Some(ReasonCode::ServerUnavailable),
            4 => Some(ReasonCode::BadUserNameOrPassword),
            5 => Some(ReasonCode::NotAuthorized),
            _ => None,
        }
    }
}

impl core::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (0x{:02X})", self.description(), self.as_u8())
    }
}

impl From<ReasonCode> for u8 {
    fn from(code: ReasonCode) -> u8 {
        code.as_u8()
    }
}

impl TryFrom<u8> for ReasonCode {
    type Error = u8;
    fn try_from(value: u8) -> Result<Self, u8> {
        ReasonCode::from_u8(value).ok_or(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_byte() {
        for &code in ReasonCode::ALL {
            assert_eq!(ReasonCode::from_u8(code.as_u8()), Some(code));
        }
        assert_eq!(ReasonCode::ALL.len(), 43);
        assert_eq!(ReasonCode::from_u8(0x03), None);
        assert_eq!(ReasonCode::from_u8(0xA3), None);
    }

    #[test]
    fn allowed_packets_follow_the_spec_table() {
        assert!(ReasonCode::NoMatchingSubscribers.allowed_in(PacketType::PubAck));
        assert!(!ReasonCode::NoMatchingSubscribers.allowed_in(PacketType::PubComp));
        assert!(ReasonCode::PacketIdentifierNotFound.allowed_in(PacketType::PubRel));
        assert!(!ReasonCode::GrantedQoS1.allowed_in(PacketType::PubAck));
        assert!(ReasonCode::ReAuthenticate.allowed_in(PacketType::Auth));
        assert!(!ReasonCode::ReAuthenticate.allowed_in(PacketType::Disconnect));
    }

    #[test]
    fn v311_connack_codes_map_both_ways() {
        for code in 0..=5u8 {
            let rc = ReasonCode::from_v311_connack(code).unwrap();
            assert_eq!(rc.to_v311_connack(), Some(code));
        }
        assert_eq!(ReasonCode::from_v311_connack(6), None);
        assert_eq!(ReasonCode::QuotaExceeded.to_v311_connack(), None);
    }
}
