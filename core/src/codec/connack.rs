//! CONNACK (spec 3.2): the server's answer to CONNECT, with the Session
//! Present flag, a reason code (a return code in 3.1.1) and, in 5.0, the
//! server's limits and capabilities as properties.

use bytes::{BufMut, Bytes};

use super::ack::read_reason_code;
use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::property::{properties, with_len_prefix, Context};
use super::reason_code::ReasonCode;
use super::version::ProtocolVersion;
use super::wire::Reader;

/// Connect Acknowledge Flags: bit 0 is Session Present, bits 7-1 are
/// reserved [MQTT-3.2.2-1].
const SESSION_PRESENT: u8 = 0b0000_0001;

properties! {
    /// CONNACK properties (spec 3.2.2.3).
    owned ConnAckProperties;
    /// A borrowed view of [`ConnAckProperties`].
    view ConnAckPropertiesRef;
    context Context::packet(PacketType::ConnAck);
    /// Session Expiry Interval the server uses instead of the client's.
    session_expiry_interval: U32 = SessionExpiryInterval,
    /// Receive Maximum: QoS 1 and 2 publishes the server accepts in flight.
    receive_maximum: U16 = ReceiveMaximum,
    /// Maximum QoS the server supports (0 or 1; absent means 2).
    maximum_qos: MaxQoS = MaximumQoS,
    /// Retain Available: whether the server supports retained messages.
    retain_available: Bool = RetainAvailable,
    /// Maximum Packet Size the server accepts.
    maximum_packet_size: U32 = MaximumPacketSize,
    /// Assigned Client Identifier, when the client sent an empty one.
    assigned_client_identifier: Str = AssignedClientIdentifier,
    /// Topic Alias Maximum: the highest topic alias the server accepts.
    topic_alias_maximum: U16 = TopicAliasMaximum,
    /// Reason String: a human-readable diagnostic.
    reason_string: Str = ReasonString,
    /// Wildcard Subscription Available.
    wildcard_subscription_available: Bool = WildcardSubscriptionAvailable,
    /// Subscription Identifiers Available.
    subscription_identifiers_available: Bool = SubscriptionIdentifierAvailable,
    /// Shared Subscription Available.
    shared_subscription_available: Bool = SharedSubscriptionAvailable,
    /// Server Keep Alive: the keep alive the client must use instead of its
    /// own.
    server_keep_alive: U16 = ServerKeepAlive,
    /// Response Information: basis for the client's response topics.
    response_information: Str = ResponseInformation,
    /// Server Reference: another server to use.
    server_reference: Str = ServerReference,
    /// Authentication Method, as in CONNECT.
    authentication_method: Str = AuthenticationMethod,
    /// Authentication Data of that method.
    authentication_data: Bin = AuthenticationData,
}

/// A CONNACK packet.
///
/// In 3.1.1 the reason code travels as a return code (0 to 5), so only the
/// six codes with a 3.1.1 equivalent can be encoded
/// ([`ReasonCode::to_v311_connack`]), and there are no properties. Session
/// Present must be false unless the code is Success [MQTT-3.2.2-6].
///
/// A 3.1 CONNACK has no Session Present flag: its first byte is reserved
/// (sent as 0, ignored when received), so `session_present` must be false
/// to encode it and is false when decoded. The return codes are 3.1.1's.
///
/// ```
/// use bytes::BytesMut;
/// use mqtt_core::codec::{ConnAck, Packet, ProtocolVersion, ReasonCode};
/// let connack = ConnAck::new(false, ReasonCode::NotAuthorized);
/// let mut buf = BytesMut::new();
/// Packet::from(connack).encode(ProtocolVersion::V311, &mut buf).unwrap();
/// assert_eq!(&buf[..], &[0x20, 0x02, 0x00, 0x05]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAck {
    /// Session Present: the server resumed a stored session.
    pub session_present: bool,
    /// The reason code (Success when the connection is accepted).
    pub reason_code: ReasonCode,
    /// 5.0 properties; empty in 3.1.1.
    pub properties: ConnAckProperties,
}

/// A borrowed view of a [`ConnAck`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ConnAckRef<'a> {
    /// Session Present.
    pub session_present: bool,
    /// The reason code.
    pub reason_code: ReasonCode,
    /// 5.0 properties.
    pub properties: ConnAckPropertiesRef<'a>,
}

impl ConnAck {
    /// A CONNACK with these flag and code and no properties.
    pub fn new(session_present: bool, reason_code: ReasonCode) -> Self {
        ConnAck {
            session_present,
            reason_code,
            properties: ConnAckProperties::default(),
        }
    }

    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> ConnAckRef<'_> {
        ConnAckRef {
            session_present: self.session_present,
            reason_code: self.reason_code,
            properties: self.properties.as_view(),
        }
    }
}

impl<'a> ConnAckRef<'a> {
    pub(crate) fn decode(body: &'a [u8], opts: &DecodeOptions) -> Result<Self, Error> {
        let v5 = opts.version().is_v5();
        let mut r = Reader::new(body);
        let flags = r.u8()?;
        // 3.1: the byte is reserved ("topic name compression response",
        // not used); it carries no Session Present.
        let flags = if opts.version().is_v31() { 0 } else { flags };
        if flags & !SESSION_PRESENT != 0 {
            return Err(Error::InvalidConnAckFlags); // [MQTT-3.2.2-1]
        }
        let session_present = flags & SESSION_PRESENT != 0;
        let reason_code = if v5 {
            read_reason_code(&mut r, PacketType::ConnAck)?
        } else {
            let code = r.u8()?;
            ReasonCode::from_v311_connack(code).ok_or(Error::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code,
            })?
        };
        check_session_present(session_present, reason_code)?;
        // In 5.0 the property length is always there, 0 when empty.
        let properties = if v5 {
            ConnAckPropertiesRef::read(&mut r)?
        } else {
            ConnAckPropertiesRef::default()
        };
        r.finish()?;
        Ok(ConnAckRef {
            session_present,
            reason_code,
            properties,
        })
    }

    pub(crate) fn sizes(&self, version: ProtocolVersion) -> Result<Sizes, Error> {
        let valid_code = if version.is_v5() {
            self.reason_code.allowed_in(PacketType::ConnAck)
        } else {
            self.reason_code.to_v311_connack().is_some()
        };
        if !valid_code {
            return Err(Error::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code: self.reason_code.as_u8(),
            });
        }
        check_session_present(self.session_present, self.reason_code)?;
        if self.session_present && version.is_v31() {
            // 3.1 has no Session Present flag.
            return Err(Error::InvalidConnAckFlags);
        }
        if !version.is_v5() {
            if !self.properties.is_empty() {
                return Err(Error::PropertiesInV311);
            }
            return Ok(Sizes {
                remaining: 2,
                ..Sizes::default()
            });
        }
        let props = self.properties.block_len()?;
        Ok(Sizes {
            remaining: 2 + with_len_prefix(props)?,
            props,
            ..Sizes::default()
        })
    }

    pub(crate) fn put<B: BufMut>(&self, version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
        buf.put_u8(if self.session_present {
            SESSION_PRESENT
        } else {
            0
        });
        if version.is_v5() {
            buf.put_u8(self.reason_code.as_u8());
            self.properties.put(buf, sizes.props);
        } else {
            // `sizes` checked that the code has a 3.1.1 equivalent.
            buf.put_u8(self.reason_code.to_v311_connack().unwrap_or(0));
        }
    }

    // `&self` is the signature every packet view shares (see packet.rs).
    pub(crate) fn owned_in(&self, src: &Bytes) -> ConnAck {
        ConnAck {
            session_present: self.session_present,
            reason_code: self.reason_code,
            properties: self.properties.owned_in(src),
        }
    }
}

/// Session Present must be 0 with a failure code: 5.0 [MQTT-3.2.2-6],
/// 3.1.1 [MQTT-3.2.2-4].
fn check_session_present(session_present: bool, reason_code: ReasonCode) -> Result<(), Error> {
    if session_present && reason_code != ReasonCode::Success {
        return Err(Error::InvalidConnAckFlags);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{assert_err, decode, encode, round_trip};
    use crate::codec::{MqttString, PropertyId, QoS, UserProperty};
    use alloc::vec;
    use alloc::vec::Vec;

    /// Every CONNACK property set.
    fn v5_full() -> (ConnAck, Vec<u8>) {
        let mut connack = ConnAck::new(true, ReasonCode::Success);
        let p = &mut connack.properties;
        p.session_expiry_interval = Some(3600);
        p.receive_maximum = Some(20);
        p.maximum_qos = Some(QoS::AtLeastOnce);
        p.retain_available = Some(false);
        p.maximum_packet_size = Some(0x0001_0000);
        p.assigned_client_identifier = Some(MqttString::from_static("abc").unwrap());
        p.topic_alias_maximum = Some(10);
        p.reason_string = Some(MqttString::from_static("ok").unwrap());
        p.wildcard_subscription_available = Some(true);
        p.subscription_identifiers_available = Some(false);
        p.shared_subscription_available = Some(true);
        p.server_keep_alive = Some(120);
        p.response_information = Some(MqttString::from_static("resp").unwrap());
        p.server_reference = Some(MqttString::from_static("srv").unwrap());
        p.authentication_method = Some(MqttString::from_static("SCRAM").unwrap());
        p.authentication_data = Some(Bytes::from_static(&[0xAA]));
        p.user_properties = vec![UserProperty::new("k", "v").unwrap()];
        let bytes = [
            &[0x20, 0x4B][..],               // CONNACK, remaining length 75
            &[0x01],                         // Session Present
            &[0x00],                         // Success
            &[72],                           // property length
            &[0x11, 0x00, 0x00, 0x0E, 0x10], // Session Expiry Interval 3600
            &[0x21, 0x00, 0x14],             // Receive Maximum 20
            &[0x24, 0x01],                   // Maximum QoS 1
            &[0x25, 0x00],                   // Retain Available 0
            &[0x27, 0x00, 0x01, 0x00, 0x00], // Maximum Packet Size 65536
            &[0x12, 0x00, 0x03, b'a', b'b', b'c'],
            &[0x22, 0x00, 0x0A], // Topic Alias Maximum 10
            &[0x1F, 0x00, 0x02, b'o', b'k'],
            &[0x28, 0x01],       // Wildcard Subscription Available
            &[0x29, 0x00],       // Subscription Identifiers Available
            &[0x2A, 0x01],       // Shared Subscription Available
            &[0x13, 0x00, 0x78], // Server Keep Alive 120
            &[0x1A, 0x00, 0x04, b'r', b'e', b's', b'p'],
            &[0x1C, 0x00, 0x03, b's', b'r', b'v'],
            &[0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M'],
            &[0x16, 0x00, 0x01, 0xAA],
            &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v'],
        ]
        .concat();
        (connack, bytes)
    }

    #[test]
    fn minimal_v311_connack_matches_golden_bytes() {
        let connack = ConnAck::new(false, ReasonCode::Success);
        let bytes = [0x20, 0x02, 0x00, 0x00];
        assert_eq!(encode(&connack, ProtocolVersion::V311).unwrap(), bytes);
        assert_eq!(
            decode::<ConnAck>(&bytes, ProtocolVersion::V311).unwrap(),
            connack
        );
    }

    #[test]
    fn v311_connack_flags_and_return_codes_match_golden_bytes() {
        for (connack, bytes) in [
            (
                ConnAck::new(true, ReasonCode::Success),
                [0x20, 0x02, 0x01, 0x00],
            ),
            (
                ConnAck::new(false, ReasonCode::UnsupportedProtocolVersion),
                [0x20, 0x02, 0x00, 0x01],
            ),
            (
                ConnAck::new(false, ReasonCode::ClientIdentifierNotValid),
                [0x20, 0x02, 0x00, 0x02],
            ),
            (
                ConnAck::new(false, ReasonCode::ServerUnavailable),
                [0x20, 0x02, 0x00, 0x03],
            ),
            (
                ConnAck::new(false, ReasonCode::BadUserNameOrPassword),
                [0x20, 0x02, 0x00, 0x04],
            ),
            (
                ConnAck::new(false, ReasonCode::NotAuthorized),
                [0x20, 0x02, 0x00, 0x05],
            ),
        ] {
            assert_eq!(encode(&connack, ProtocolVersion::V311).unwrap(), bytes);
            assert_eq!(
                decode::<ConnAck>(&bytes, ProtocolVersion::V311).unwrap(),
                connack
            );
        }
    }

    #[test]
    fn minimal_v5_connack_matches_golden_bytes() {
        // The property length is present even when there are none.
        let connack = ConnAck::new(false, ReasonCode::Success);
        let bytes = [0x20, 0x03, 0x00, 0x00, 0x00];
        assert_eq!(encode(&connack, ProtocolVersion::V5).unwrap(), bytes);
        assert_eq!(
            decode::<ConnAck>(&bytes, ProtocolVersion::V5).unwrap(),
            connack
        );
        let refused = ConnAck::new(false, ReasonCode::Banned);
        let bytes = [0x20, 0x03, 0x00, 0x8A, 0x00];
        assert_eq!(encode(&refused, ProtocolVersion::V5).unwrap(), bytes);
        assert_eq!(
            decode::<ConnAck>(&bytes, ProtocolVersion::V5).unwrap(),
            refused
        );
    }

    #[test]
    fn full_v5_connack_matches_golden_bytes() {
        let (connack, bytes) = v5_full();
        assert_eq!(encode(&connack, ProtocolVersion::V5).unwrap(), bytes);
        assert_eq!(
            decode::<ConnAck>(&bytes, ProtocolVersion::V5).unwrap(),
            connack
        );
    }

    #[test]
    fn connacks_round_trip_in_both_versions() {
        round_trip(&v5_full().0, ProtocolVersion::V5);
        for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
            round_trip(&ConnAck::default(), version);
            round_trip(&ConnAck::new(true, ReasonCode::Success), version);
            round_trip(&ConnAck::new(false, ReasonCode::NotAuthorized), version);
        }
        let mut refused = ConnAck::new(false, ReasonCode::UseAnotherServer);
        refused.properties.server_reference = Some(MqttString::from_static("other").unwrap());
        refused.properties.reason_string = Some(MqttString::from_static("moving").unwrap());
        round_trip(&refused, ProtocolVersion::V5);
    }

    #[test]
    fn reserved_acknowledge_flags_are_malformed() {
        // [MQTT-3.2.2-1] bits 7-1 are reserved (3.1.1 states it unnumbered).
        for flags in [0x02, 0x80, 0xFF] {
            assert_err(
                &[0x20, 0x02, flags, 0x00],
                ProtocolVersion::V311,
                Error::InvalidConnAckFlags,
                ReasonCode::MalformedPacket,
            );
            assert_err(
                &[0x20, 0x03, flags, 0x00, 0x00],
                ProtocolVersion::V5,
                Error::InvalidConnAckFlags,
                ReasonCode::MalformedPacket,
            );
        }
    }

    #[test]
    fn session_present_with_failure_code_is_malformed() {
        // 5.0 [MQTT-3.2.2-6], 3.1.1 [MQTT-3.2.2-4]
        assert_err(
            &[0x20, 0x02, 0x01, 0x05],
            ProtocolVersion::V311,
            Error::InvalidConnAckFlags,
            ReasonCode::MalformedPacket,
        );
        assert_err(
            &[0x20, 0x03, 0x01, 0x87, 0x00],
            ProtocolVersion::V5,
            Error::InvalidConnAckFlags,
            ReasonCode::MalformedPacket,
        );
        for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
            assert_eq!(
                encode(&ConnAck::new(true, ReasonCode::NotAuthorized), version),
                Err(Error::InvalidConnAckFlags)
            );
        }
    }

    #[test]
    fn v311_return_code_above_5_is_malformed() {
        // 3.1.1 table 3.1: 6-255 are reserved.
        for code in [6, 0x80, 0xFF] {
            assert_err(
                &[0x20, 0x02, 0x00, code],
                ProtocolVersion::V311,
                Error::InvalidReasonCode {
                    packet: PacketType::ConnAck,
                    code,
                },
                ReasonCode::MalformedPacket,
            );
        }
    }

    #[test]
    fn v5_reason_code_not_for_connack_is_malformed() {
        // Table 2-6 / 3.2.2.2: 0x04 and 0x8B are DISCONNECT-only, 0x03 is
        // undefined.
        for code in [0x03, 0x04, 0x8B] {
            assert_err(
                &[0x20, 0x03, 0x00, code, 0x00],
                ProtocolVersion::V5,
                Error::InvalidReasonCode {
                    packet: PacketType::ConnAck,
                    code,
                },
                ReasonCode::MalformedPacket,
            );
        }
        assert_eq!(
            encode(
                &ConnAck::new(false, ReasonCode::ServerShuttingDown),
                ProtocolVersion::V5
            ),
            Err(Error::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code: 0x8B
            })
        );
    }

    #[test]
    fn v5_only_reason_codes_cannot_be_encoded_in_v311() {
        let err = encode(
            &ConnAck::new(false, ReasonCode::QuotaExceeded),
            ProtocolVersion::V311,
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code: 0x97
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn v311_connack_cannot_carry_properties() {
        let mut connack = ConnAck::new(false, ReasonCode::Success);
        connack.properties.server_keep_alive = Some(10);
        let err = encode(&connack, ProtocolVersion::V311).unwrap_err();
        assert_eq!(err, Error::PropertiesInV311);
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    }

    #[test]
    fn v5_connack_without_property_length_is_truncated() {
        assert_err(
            &[0x20, 0x02, 0x00, 0x00],
            ProtocolVersion::V5,
            Error::Truncated,
            ReasonCode::MalformedPacket,
        );
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        assert_err(
            &[0x20, 0x03, 0x00, 0x00, 0x00],
            ProtocolVersion::V311,
            Error::TrailingBytes,
            ReasonCode::MalformedPacket,
        );
        assert_err(
            &[0x20, 0x04, 0x00, 0x00, 0x00, 0x00],
            ProtocolVersion::V5,
            Error::TrailingBytes,
            ReasonCode::MalformedPacket,
        );
    }

    // 5.0 2.2.2.2: a property not valid for CONNACK is a Malformed Packet.
    #[test]
    fn properties_outside_connack_are_malformed() {
        // Topic Alias (a PUBLISH property) in CONNACK.
        let err = decode::<ConnAck>(
            &[0x20, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01],
            ProtocolVersion::V5,
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::PropertyNotAllowed {
                property: PropertyId::TopicAlias,
                packet: PacketType::ConnAck,
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn maximum_qos_2_is_a_protocol_error() {
        // Spec 3.2.2.3.4: Maximum QoS is 0 or 1.
        let err = decode::<ConnAck>(
            &[0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02],
            ProtocolVersion::V5,
        )
        .unwrap_err();
        assert_eq!(err, Error::InvalidPropertyValue(PropertyId::MaximumQoS));
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
        let mut connack = ConnAck::default();
        connack.properties.maximum_qos = Some(QoS::ExactlyOnce);
        assert_eq!(
            encode(&connack, ProtocolVersion::V5),
            Err(Error::InvalidPropertyValue(PropertyId::MaximumQoS))
        );
    }

    #[test]
    fn v31_connack_has_no_session_present_and_3_1_1_return_codes() {
        // MQTT 3.1 CONNACK: byte 1 reserved (not used), byte 2 the return
        // code 0 to 5 as in 3.1.1.
        let v = ProtocolVersion::V31;
        for code in 0..=5u8 {
            let rc = ReasonCode::from_v311_connack(code).unwrap();
            let connack = ConnAck::new(false, rc);
            let bytes = [0x20, 0x02, 0x00, code];
            assert_eq!(encode(&connack, v).unwrap(), bytes);
            assert_eq!(decode::<ConnAck>(&bytes, v).unwrap(), connack);
        }
        // The first byte is ignored whatever it holds: no Session Present.
        for first in [0x01, 0x80, 0xFF] {
            let c = decode::<ConnAck>(&[0x20, 0x02, first, 0x00], v).unwrap();
            assert!(!c.session_present);
        }
        // Return codes above 5 are reserved.
        assert_err(
            &[0x20, 0x02, 0x00, 0x06],
            v,
            Error::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code: 6,
            },
            ReasonCode::MalformedPacket,
        );
        // Session Present cannot be sent in 3.1, nor can properties or a
        // 5.0-only code.
        assert_eq!(
            encode(&ConnAck::new(true, ReasonCode::Success), v),
            Err(Error::InvalidConnAckFlags)
        );
        assert!(encode(&ConnAck::new(false, ReasonCode::QuotaExceeded), v).is_err());
        let (v5, _) = v5_full();
        assert!(encode(&v5, v).is_err());
    }
}
