//! Protocol versions and quality of service levels.

/// The protocol version spoken on a connection.
///
/// The codec is version-aware: the same packet types serve every version,
/// and fields that exist only in 5.0 (properties, most reason codes) must be
/// empty or successful when encoding for 3.1.1 or 3.1.
///
/// MQTT 3.1 (IBM's "MQTT V3.1 Protocol Specification", protocol name
/// `MQIsdp`, level 3) follows the 3.1.1 rules except where it differs: the
/// CONNECT protocol name, a Client Identifier of 1 to 23 characters, a
/// CONNACK without Session Present, SUBACK without the Failure code 0x80,
/// and fixed-header flags of packets other than PUBLISH not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// MQTT 3.1 (protocol name `MQIsdp`, protocol level 3).
    V31,
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte carried in CONNECT.
    pub const fn level(self) -> u8 {
        match self {
            ProtocolVersion::V31 => 3,
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    /// The version for a protocol level byte, if we speak it.
    pub const fn from_level(level: u8) -> Option<Self> {
        match level {
            3 => Some(ProtocolVersion::V31),
            4 => Some(ProtocolVersion::V311),
            5 => Some(ProtocolVersion::V5),
            _ => None,
        }
    }

    /// Whether this version has properties and reason codes (5.0).
    pub const fn is_v5(self) -> bool {
        matches!(self, ProtocolVersion::V5)
    }

    /// Whether this is MQTT 3.1 (protocol name `MQIsdp`, level 3).
    pub const fn is_v31(self) -> bool {
        matches!(self, ProtocolVersion::V31)
    }

    /// The protocol name CONNECT carries: `MQIsdp` for 3.1, `MQTT` for
    /// 3.1.1 and 5.0 [MQTT-3.1.2-1].
    pub const fn protocol_name(self) -> &'static str {
        match self {
            ProtocolVersion::V31 => "MQIsdp",
            ProtocolVersion::V311 | ProtocolVersion::V5 => "MQTT",
        }
    }
}

/// The longest Client Identifier MQTT 3.1 allows, in characters (it
/// requires 1 to 23; a server answers any other with return code 2,
/// Identifier Rejected).
pub const V31_MAX_CLIENT_ID_CHARS: usize = 23;

/// Whether `client_id` is a valid MQTT 3.1 Client Identifier: 1 to
/// [`V31_MAX_CLIENT_ID_CHARS`] characters.
pub fn is_valid_v31_client_id(client_id: &str) -> bool {
    (1..=V31_MAX_CLIENT_ID_CHARS).contains(&client_id.chars().count())
}

/// Quality of service of a message delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum QoS {
    /// QoS 0: at most once, no acknowledgement.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: at least once, acknowledged by PUBACK.
    AtLeastOnce = 1,
    /// QoS 2: exactly once, by PUBREC / PUBREL / PUBCOMP.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for its two-bit value; `None` for 3, which no packet may
    /// carry (in PUBLISH a Malformed Packet, [MQTT-3.3.1-4]).
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }

    /// The numeric value (0, 1 or 2).
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}
