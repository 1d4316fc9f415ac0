//! Codec errors. Each carries the MQTT 5.0 reason code a receiver reports
//! for it (in CONNACK or DISCONNECT), via [`Error::reason_code`].
//!
//! Decoding errors are caused by the peer's bytes; encoding errors by the
//! local caller (a value the protocol cannot carry). The same rule gives the
//! same variant either way, so a test can check both directions.

use super::fixed_header::PacketType;
use super::property::PropertyId;
use super::reason_code::ReasonCode;
use crate::topic::TopicError;

/// Why a packet could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The remaining length, or another variable byte integer, needed a
    /// fifth byte [MQTT-1.5.5-1]. (0x81)
    MalformedRemainingLength,
    /// A variable byte integer inside the packet needed a fifth byte. (0x81)
    MalformedVariableInteger,
    /// The packet type nibble is reserved (0, or 15 in 3.1.1). (0x81)
    InvalidPacketType(u8),
    /// The fixed-header flags differ from those the packet type requires
    /// [MQTT-2.1.3-1]. (0x81)
    ReservedFlags {
        /// The packet type.
        packet_type: PacketType,
        /// The flags found.
        flags: u8,
    },
    /// A PUBLISH's QoS field holds 3 [MQTT-3.3.1-4]. (0x81) (QoS 3 in
    /// SUBSCRIBE options is [`Error::InvalidSubscriptionOptions`] in 3.1.1
    /// and [`Error::InvalidSubscriptionQoS`] in 5.0.)
    InvalidQoS,
    /// DUP is set on a QoS 0 PUBLISH [MQTT-3.3.1-2]. (0x81)
    DupWithQoS0,
    /// The packet's content runs past its remaining length. (0x81)
    Truncated,
    /// Bytes are left over inside the remaining length after the last
    /// field. (0x81)
    TrailingBytes,
    /// A string is not well-formed UTF-8, or encodes a surrogate
    /// [MQTT-1.5.4-1]. (0x81)
    InvalidUtf8,
    /// A string contains U+0000 [MQTT-1.5.4-2]. (0x81)
    NullCharacter,
    /// A string or binary field is longer than 65,535 bytes (encode). (0x81)
    FieldTooLong,
    /// A topic name is invalid, e.g. contains a wildcard [MQTT-3.3.2-2].
    /// (0x90)
    InvalidTopicName(TopicError),
    /// A topic filter is invalid [MQTT-4.7.1-1] [MQTT-4.7.1-2]. (0x8F)
    InvalidTopicFilter(TopicError),
    /// A PUBLISH has an empty topic name and no Topic Alias
    /// [MQTT-3.3.2-1]; in 3.1.1 an empty topic is always invalid. (0x82)
    EmptyTopicWithoutAlias,
    /// A PUBLISH has an empty topic name and a Topic Alias the receiver
    /// has no mapping for (spec 3.3.2.3.4: "It is a Protocol Error if the
    /// receiver does not already have a mapping for this Topic Alias").
    /// Detected by the connection's alias state, not the codec. (0x82)
    UnknownTopicAlias,
    /// A packet identifier of 0 where one is required [MQTT-2.2.1-3]; or a
    /// QoS 0 PUBLISH given one (encode) [MQTT-2.2.1-2]. (0x82)
    InvalidPacketIdentifier,
    /// A SUBSCRIBE without any topic filter [MQTT-3.8.3-2]. (0x82)
    EmptySubscribe,
    /// An UNSUBSCRIBE without any topic filter [MQTT-3.10.3-2]. (0x82)
    EmptyUnsubscribe,
    /// A SUBACK (or 5.0 UNSUBACK) without any reason code: it needs one per
    /// filter of the request, which has at least one. (0x81)
    EmptyReasonCodes,
    /// A property identifier the specification does not define. (0x81)
    UnknownProperty(u8),
    /// A property that may not appear in this packet type: a Malformed
    /// Packet (5.0 2.2.2.2: "A Control Packet which contains an Identifier
    /// which is not valid for its packet type ... is a Malformed Packet").
    /// (0x81)
    PropertyNotAllowed {
        /// The property.
        property: PropertyId,
        /// The packet it appeared in (PUBLISH for will properties too).
        packet: PacketType,
    },
    /// A property that may appear once appears twice. (0x82)
    DuplicateProperty(PropertyId),
    /// A property value outside its range, e.g. Receive Maximum 0.
    /// (0x82; 0x94 for a Topic Alias of 0)
    InvalidPropertyValue(PropertyId),
    /// Properties were given for a 3.1.1 packet (encode). (0x82)
    PropertiesInV311,
    /// CONNECT's protocol name is not `MQTT` [MQTT-3.1.2-1]. (0x84)
    InvalidProtocolName,
    /// CONNECT's protocol level is not 4 or 5 [MQTT-3.1.2-2]. (0x84)
    UnsupportedProtocolVersion(u8),
    /// CONNECT's reserved flag is set [MQTT-3.1.2-3]. (0x81)
    ReservedConnectFlag,
    /// Will QoS or Will Retain set without the Will Flag, or Will QoS 3
    /// [MQTT-3.1.2-11] [MQTT-3.1.2-12] [MQTT-3.1.2-13]. (0x81)
    InvalidWillFlags,
    /// 3.1.1 CONNECT with a password but no user name [MQTT-3.1.2-22].
    /// (0x81)
    PasswordWithoutUserName,
    /// A reason code the specification does not allow in this packet, or
    /// (encode) one that 3.1.1 cannot express. (0x81)
    InvalidReasonCode {
        /// The packet.
        packet: PacketType,
        /// The code found or given.
        code: u8,
    },
    /// A CONNACK's Session Present flag set with a failure code
    /// [MQTT-3.2.2-6], or its reserved flag bits set [MQTT-3.2.2-1]. (0x81)
    InvalidConnAckFlags,
    /// Subscription options with reserved bits set [MQTT-3.8.3-5]; in
    /// 3.1.1 also a requested QoS of 3 (3.1.1 [MQTT-3.8.3-4]: reserved
    /// bits, or a QoS other than 0, 1 or 2, make SUBSCRIBE malformed).
    /// (0x81)
    InvalidSubscriptionOptions,
    /// A Retain Handling of 3 in subscription options. (0x82)
    InvalidRetainHandling,
    /// A Maximum QoS of 3 in 5.0 subscription options (spec 3.8.3.1: "It is
    /// a Protocol Error if the Maximum QoS field has the value 3"). In 3.1.1
    /// the same byte is malformed ([`Error::InvalidQoS`]). (0x82)
    InvalidSubscriptionQoS,
    /// No Local set on a shared subscription [MQTT-3.8.3-4]. (0x82)
    NoLocalOnSharedSubscription,
    /// The packet is larger than the maximum packet size. Detected from
    /// the fixed header, before the body is buffered. (0x95)
    PacketTooLarge {
        /// The whole packet's size in bytes.
        size: usize,
        /// The limit in force.
        max: u32,
    },
    /// The payload is not UTF-8 although its Payload Format Indicator says
    /// it is. (0x99)
    PayloadFormatInvalid,
    /// The output buffer is too small (encode into a slice). Nothing was
    /// written that the caller should use.
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl Error {
    /// The MQTT 5.0 reason code a receiver sends for this error, in CONNACK
    /// (while connecting) or DISCONNECT.
    pub const fn reason_code(&self) -> ReasonCode {
        use Error::*;
        match self {
            MalformedRemainingLength
            | MalformedVariableInteger
            | InvalidPacketType(_)
            | ReservedFlags { .. }
            | InvalidQoS
            | DupWithQoS0
            | Truncated
            | TrailingBytes
            | InvalidUtf8
            | NullCharacter
            | FieldTooLong
            | UnknownProperty(_)
            | ReservedConnectFlag
            | InvalidWillFlags
            | PasswordWithoutUserName
            | InvalidReasonCode { .. }
            | InvalidConnAckFlags
            | EmptyReasonCodes
            | PropertyNotAllowed { .. }
            | InvalidSubscriptionOptions => ReasonCode::MalformedPacket,
            InvalidTopicName(_) => ReasonCode::TopicNameInvalid,
            InvalidTopicFilter(_) => ReasonCode::TopicFilterInvalid,
            InvalidPropertyValue(PropertyId::TopicAlias) => ReasonCode::TopicAliasInvalid,
            EmptyTopicWithoutAlias
            | UnknownTopicAlias
            | InvalidPacketIdentifier
            | EmptySubscribe
            | EmptyUnsubscribe
            | DuplicateProperty(_)
            | InvalidPropertyValue(_)
            | PropertiesInV311
            | NoLocalOnSharedSubscription
            | InvalidRetainHandling
            | InvalidSubscriptionQoS => ReasonCode::ProtocolError,
            InvalidProtocolName | UnsupportedProtocolVersion(_) => {
                ReasonCode::UnsupportedProtocolVersion
            }
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            PayloadFormatInvalid => ReasonCode::PayloadFormatInvalid,
            BufferTooSmall { .. } => ReasonCode::ImplementationSpecificError,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use Error::*;
        match self {
            MalformedRemainingLength => f.write_str("remaining length needs a fifth byte [MQTT-1.5.5-1]"),
            MalformedVariableInteger => f.write_str("variable byte integer needs a fifth byte"),
            InvalidPacketType(t) => write!(f, "reserved packet type {t}"),
            ReservedFlags { packet_type, flags } => {
                write!(f, "{packet_type} with reserved flags {flags:#06b} [MQTT-2.1.3-1]")
            }
            InvalidQoS => f.write_str("PUBLISH with QoS 3 [MQTT-3.3.1-4]"),
            DupWithQoS0 => f.write_str("DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2]"),
            Truncated => f.write_str("packet content runs past its remaining length"),
            TrailingBytes => f.write_str("bytes left over after the packet's last field"),
            InvalidUtf8 => f.write_str("string is not well-formed UTF-8 [MQTT-1.5.4-1]"),
            NullCharacter => f.write_str("string contains U+0000 [MQTT-1.5.4-2]"),
            FieldTooLong => f.write_str("string or binary field longer than 65535 bytes"),
            InvalidTopicName(e) => write!(f, "invalid topic name: {e}"),
            InvalidTopicFilter(e) => write!(f, "invalid topic filter: {e}"),
            EmptyTopicWithoutAlias => f.write_str("empty topic name without a topic alias [MQTT-3.3.2-1]"),
            UnknownTopicAlias => f.write_str("empty topic name with a topic alias that has no mapping (spec 3.3.2.3.4)"),
            InvalidPacketIdentifier => f.write_str("packet identifier 0 where one is required, or one on QoS 0 [MQTT-2.2.1-2] [MQTT-2.2.1-3]"),
            EmptySubscribe => f.write_str("SUBSCRIBE without a topic filter [MQTT-3.8.3-2]"),
            EmptyUnsubscribe => f.write_str("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]"),
            EmptyReasonCodes => f.write_str("SUBACK/UNSUBACK without a reason code"),
            UnknownProperty(id) => write!(f, "unknown property identifier {id:#04x}"),
            PropertyNotAllowed { property, packet } => write!(f, "property {property} not allowed in {packet} (spec 2.2.2.2: malformed)"),
            DuplicateProperty(p) => write!(f, "property {p} included more than once"),
            InvalidPropertyValue(p) => write!(f, "invalid value for property {p}"),
            PropertiesInV311 => f.write_str("MQTT 3.1.1 and 3.1 packets carry no properties or reason codes"),
            InvalidProtocolName => {
                f.write_str("protocol name is not \"MQTT\" (nor 3.1's \"MQIsdp\") [MQTT-3.1.2-1]")
            }
            UnsupportedProtocolVersion(l) => write!(f, "unsupported protocol level {l} [MQTT-3.1.2-2]"),
            ReservedConnectFlag => f.write_str("CONNECT reserved flag set [MQTT-3.1.2-3]"),
            InvalidWillFlags => f.write_str("will QoS/retain inconsistent with the will flag [MQTT-3.1.2-11..13]"),
            PasswordWithoutUserName => f.write_str("password without user name in 3.1.1 [MQTT-3.1.2-22]"),
            InvalidReasonCode { packet, code } => write!(f, "reason code {code:#04x} not allowed in {packet}"),
            InvalidConnAckFlags => f.write_str("invalid CONNACK acknowledge flags [MQTT-3.2.2-1] [MQTT-3.2.2-6]"),
            InvalidSubscriptionOptions => f.write_str(
                "subscription options with reserved bits set [MQTT-3.8.3-5], or in 3.1.1 with reserved bits or QoS 3 (3.1.1 [MQTT-3.8.3-4])",
            ),
            InvalidSubscriptionQoS => f.write_str("Maximum QoS 3 in subscription options"),
            InvalidRetainHandling => f.write_str("Retain Handling 3 is not a valid value"),
            NoLocalOnSharedSubscription => f.write_str("No Local on a shared subscription [MQTT-3.8.3-4]"),
            PacketTooLarge { size, max } => write!(f, "packet of {size} bytes exceeds the maximum packet size {max}"),
            PayloadFormatInvalid => f.write_str("payload is not UTF-8 although marked so"),
            BufferTooSmall { needed, available } => write!(f, "buffer of {available} bytes too small for {needed}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

impl From<Error> for ReasonCode {
    fn from(e: Error) -> ReasonCode {
        e.reason_code()
    }
}
