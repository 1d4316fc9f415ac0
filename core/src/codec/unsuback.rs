//! UNSUBACK (spec 3.11): the server's answer to an UNSUBSCRIBE. In 5.0 it
//! carries one reason code per topic filter; in 3.1.1 only the packet
//! identifier.

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use super::ack::{AckProperties, AckPropertiesRef};
use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::reason_code::ReasonCode;
use super::suback::{codes_ack_sizes, decode_codes_ack, put_codes_ack, ReasonCodesRef};
use super::version::ProtocolVersion;
use super::wire::Reader;

/// An UNSUBACK packet.
///
/// In 5.0, one reason code per topic filter of the UNSUBSCRIBE, in the
/// same order. In 3.1.1 the packet is only the packet identifier
/// (remaining length 2): `reason_codes` and `properties` are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The packet identifier of the UNSUBSCRIBE acknowledged.
    pub packet_id: u16,
    /// 5.0 properties; empty in 3.1.1.
    pub properties: AckProperties,
    /// 5.0: one code per topic filter, never empty ([`Error::EmptyReasonCodes`]
    /// otherwise). 3.1.1: empty ([`Error::PropertiesInV311`] otherwise).
    pub reason_codes: Vec<ReasonCode>,
}

/// A borrowed view of an [`UnsubAck`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnsubAckRef<'a> {
    /// The packet identifier.
    pub packet_id: u16,
    /// 5.0 properties.
    pub properties: AckPropertiesRef<'a>,
    /// One code per topic filter (5.0); empty in 3.1.1.
    pub reason_codes: ReasonCodesRef<'a>,
}

impl UnsubAck {
    /// An UNSUBACK of `packet_id` with `reason_codes` (empty for 3.1.1)
    /// and no properties.
    pub fn new(packet_id: u16, reason_codes: Vec<ReasonCode>) -> Self {
        UnsubAck {
            packet_id,
            properties: AckProperties::default(),
            reason_codes,
        }
    }

    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> UnsubAckRef<'_> {
        UnsubAckRef {
            packet_id: self.packet_id,
            properties: self.properties.as_view(),
            reason_codes: ReasonCodesRef::from_slice(&self.reason_codes),
        }
    }
}

impl<'a> UnsubAckRef<'a> {
    pub(crate) fn decode(body: &'a [u8], opts: &DecodeOptions) -> Result<Self, Error> {
        if !opts.version().is_v5() {
            // 3.1.1: the packet identifier and nothing else.
            let mut r = Reader::new(body);
            let packet_id = r.u16()?;
            if packet_id == 0 {
                return Err(Error::InvalidPacketIdentifier); // [MQTT-2.2.1-3]
            }
            r.finish()?;
            return Ok(UnsubAckRef {
                packet_id,
                properties: AckPropertiesRef::default(),
                reason_codes: ReasonCodesRef::default(),
            });
        }
        let (packet_id, properties, reason_codes) =
            decode_codes_ack(body, opts, PacketType::UnsubAck)?;
        Ok(UnsubAckRef {
            packet_id,
            properties,
            reason_codes,
        })
    }

    pub(crate) fn sizes(&self, version: ProtocolVersion) -> Result<Sizes, Error> {
        if !version.is_v5() {
            if self.packet_id == 0 {
                return Err(Error::InvalidPacketIdentifier);
            }
            // 3.1.1 carries neither properties nor reason codes.
            if !self.properties.is_empty() || !self.reason_codes.is_empty() {
                return Err(Error::PropertiesInV311);
            }
            return Ok(Sizes {
                remaining: 2,
                ..Sizes::default()
            });
        }
        codes_ack_sizes(
            self.packet_id,
            &self.properties,
            &self.reason_codes,
            version,
            PacketType::UnsubAck,
        )
    }

    pub(crate) fn put<B: BufMut>(&self, version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
        if !version.is_v5() {
            buf.put_u16(self.packet_id);
            return;
        }
        put_codes_ack(
            self.packet_id,
            &self.properties,
            &self.reason_codes,
            version,
            sizes,
            buf,
        );
    }

    // `&self` like every view in the codec (the dispatch in packet.rs).
    pub(crate) fn owned_in(&self, src: &Bytes) -> UnsubAck {
        UnsubAck {
            packet_id: self.packet_id,
            properties: self.properties.owned_in(src),
            reason_codes: self.reason_codes.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{self, assert_encode_err, assert_err, golden};
    use crate::codec::{MqttString, PropertyId, UserProperty};
    use alloc::vec;
    use ProtocolVersion::{V311, V5};

    /// A whole UNSUBACK packet around `body` (remaining length < 128).
    fn packet(body: &[u8]) -> Vec<u8> {
        testing::packet::<UnsubAck>(body)
    }

    // 3.1.1 3.11: remaining length 2, the packet identifier only.
    #[test]
    fn golden_v311_only_form() {
        golden(&UnsubAck::new(1, vec![]), V311, &[0xB0, 0x02, 0x00, 0x01]);
        golden(
            &UnsubAck::new(0xFFFF, vec![]),
            V311,
            &[0xB0, 0x02, 0xFF, 0xFF],
        );
    }

    #[test]
    fn golden_v5_smallest() {
        let ack = UnsubAck::new(1, vec![ReasonCode::Success]);
        golden(&ack, V5, &[0xB0, 0x04, 0x00, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn golden_v5_with_properties_and_every_code() {
        let mut ack = UnsubAck::new(
            0x1234,
            vec![
                ReasonCode::Success,
                ReasonCode::NoSubscriptionExisted,
                ReasonCode::UnspecifiedError,
                ReasonCode::ImplementationSpecificError,
                ReasonCode::NotAuthorized,
                ReasonCode::TopicFilterInvalid,
                ReasonCode::PacketIdentifierInUse,
            ],
        );
        ack.properties.reason_string = Some(MqttString::from_str("gone").unwrap());
        ack.properties
            .user_properties
            .push(UserProperty::new("k", "v").unwrap());
        golden(
            &ack,
            V5,
            &[
                0xB0, 0x18, // UNSUBACK, remaining length 24
                0x12, 0x34, // packet identifier
                0x0E, // property length 14
                0x1F, 0x00, 0x04, b'g', b'o', b'n', b'e', // Reason String
                0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property
                0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91, // reason codes
            ],
        );
    }

    // [MQTT-2.2.1-3]
    #[test]
    fn packet_identifier_zero_is_a_protocol_error_mqtt_2_2_1_3() {
        assert_err(
            &packet(&[0, 0]),
            V311,
            Error::InvalidPacketIdentifier,
            ReasonCode::ProtocolError,
        );
        assert_err(
            &packet(&[0, 0, 0, 0]),
            V5,
            Error::InvalidPacketIdentifier,
            ReasonCode::ProtocolError,
        );
        assert_encode_err(
            &UnsubAck::new(0, vec![]),
            V311,
            Error::InvalidPacketIdentifier,
        );
        assert_encode_err(
            &UnsubAck::new(0, vec![ReasonCode::Success]),
            V5,
            Error::InvalidPacketIdentifier,
        );
    }

    // 3.1.1 3.11.3: "The UNSUBACK Packet has no payload."
    #[test]
    fn v311_unsuback_with_payload_has_trailing_bytes() {
        assert_err(
            &packet(&[0, 1, 0]),
            V311,
            Error::TrailingBytes,
            ReasonCode::MalformedPacket,
        );
        assert_err(
            &packet(&[0]),
            V311,
            Error::Truncated,
            ReasonCode::MalformedPacket,
        );
    }

    #[test]
    fn v311_cannot_carry_reason_codes_or_properties() {
        assert_encode_err(
            &UnsubAck::new(1, vec![ReasonCode::Success]),
            V311,
            Error::PropertiesInV311,
        );
        let mut ack = UnsubAck::new(1, vec![]);
        ack.properties.reason_string = Some(MqttString::from_str("x").unwrap());
        assert_encode_err(&ack, V311, Error::PropertiesInV311);
    }

    // An UNSUBACK holds one code per filter of an UNSUBSCRIBE, which has at
    // least one [MQTT-3.10.3-2]; 5.0 also requires the property length.
    #[test]
    fn v5_unsuback_without_reason_code_is_malformed() {
        assert_err(
            &packet(&[0, 1, 0]),
            V5,
            Error::EmptyReasonCodes,
            ReasonCode::MalformedPacket,
        );
        assert_err(
            &packet(&[0, 1]),
            V5,
            Error::Truncated,
            ReasonCode::MalformedPacket,
        );
        assert_encode_err(&UnsubAck::new(1, vec![]), V5, Error::EmptyReasonCodes);
    }

    // 5.0 3.11.3: only the Unsubscribe Reason Codes of the table may appear.
    #[test]
    fn v5_codes_not_allowed_in_unsuback_are_rejected() {
        for code in [0x01, 0x02, 0x03, 0x10, 0x81, 0x97, 0xA2] {
            assert_err(
                &packet(&[0, 1, 0, 0x00, code]),
                V5,
                Error::InvalidReasonCode {
                    packet: PacketType::UnsubAck,
                    code,
                },
                ReasonCode::MalformedPacket,
            );
        }
        assert_encode_err(
            &UnsubAck::new(1, vec![ReasonCode::GrantedQoS1]),
            V5,
            Error::InvalidReasonCode {
                packet: PacketType::UnsubAck,
                code: 0x01,
            },
        );
    }

    // 5.0 3.11.2.1: UNSUBACK carries only Reason String and User Property;
    // 2.2.2.2: another is a Malformed Packet.
    #[test]
    fn property_not_allowed_in_unsuback_is_malformed() {
        assert_err(
            &packet(&[0, 1, 5, 0x11, 0, 0, 0, 1, 0x00]),
            V5,
            Error::PropertyNotAllowed {
                property: PropertyId::SessionExpiryInterval,
                packet: PacketType::UnsubAck,
            },
            ReasonCode::MalformedPacket,
        );
    }
}
