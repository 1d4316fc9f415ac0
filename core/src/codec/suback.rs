//! SUBACK (spec 3.9): the server's answer to a SUBSCRIBE, one reason code
//! per topic filter. Also the reason-code list shared with UNSUBACK.

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use super::ack::{AckProperties, AckPropertiesRef};
use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::property::{list_view_impls, Context};
use super::reason_code::ReasonCode;
use super::version::{ProtocolVersion, QoS};
use super::wire::Reader;

/// The reason codes of a SUBACK or UNSUBACK payload as a borrowed list:
/// over the validated wire bytes (after decoding) or over a slice of
/// [`ReasonCode`]s (checked when encoding).
#[derive(Clone, Copy, Default)]
pub struct ReasonCodesRef<'a> {
    repr: CodesRepr<'a>,
}

#[derive(Clone, Copy)]
enum CodesRepr<'a> {
    /// Bytes each known to be a reason code allowed in the packet.
    Block(&'a [u8]),
    Codes(&'a [ReasonCode]),
}

impl Default for CodesRepr<'_> {
    fn default() -> Self {
        CodesRepr::Codes(&[])
    }
}

/// Whether `code` may appear in the payload of `packet` (SUBACK or
/// UNSUBACK) in `version`. 3.1.1 SUBACK return codes are 0x00, 0x01, 0x02
/// and 0x80 only [MQTT-3.9.3-2 (3.1.1)]; 3.1 has only the granted QoS
/// (0x00 to 0x02), no Failure code; a 3.1.1 or 3.1 UNSUBACK has no payload.
fn code_allowed(code: u8, packet: PacketType, version: ProtocolVersion) -> bool {
    match version {
        ProtocolVersion::V5 => ReasonCode::from_u8(code).is_some_and(|rc| rc.allowed_in(packet)),
        ProtocolVersion::V311 => {
            packet == PacketType::SubAck && matches!(code, 0x00 | 0x01 | 0x02 | 0x80)
        }
        ProtocolVersion::V31 => packet == PacketType::SubAck && code <= 0x02,
    }
}

impl<'a> ReasonCodesRef<'a> {
    /// A view over a slice of reason codes.
    pub const fn from_slice(codes: &'a [ReasonCode]) -> Self {
        ReasonCodesRef {
            repr: CodesRepr::Codes(codes),
        }
    }

    /// Validates `bytes` as the payload of `packet` in `version` and
    /// returns a view over them. Iterating the view cannot fail.
    pub(crate) fn read(
        bytes: &'a [u8],
        packet: PacketType,
        version: ProtocolVersion,
    ) -> Result<Self, Error> {
        if let Some(&code) = bytes.iter().find(|&&c| !code_allowed(c, packet, version)) {
            return Err(Error::InvalidReasonCode { packet, code });
        }
        Ok(ReasonCodesRef {
            repr: CodesRepr::Block(bytes),
        })
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        match self.repr {
            CodesRepr::Block(b) => b.len(),
            CodesRepr::Codes(c) => c.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The code at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<ReasonCode> {
        match self.repr {
            CodesRepr::Block(b) => b.get(index).copied().and_then(ReasonCode::from_u8),
            CodesRepr::Codes(c) => c.get(index).copied(),
        }
    }

    /// The codes, in order.
    pub fn iter(&self) -> ReasonCodesIter<'a> {
        ReasonCodesIter {
            inner: match self.repr {
                CodesRepr::Block(b) => CodesIterRepr::Block(b.iter()),
                CodesRepr::Codes(c) => CodesIterRepr::Codes(c.iter()),
            },
        }
    }

    /// Checks every code for sending in `packet` with `version`.
    pub(crate) fn check(&self, packet: PacketType, version: ProtocolVersion) -> Result<(), Error> {
        for rc in self.iter() {
            if !code_allowed(rc.as_u8(), packet, version) {
                return Err(Error::InvalidReasonCode {
                    packet,
                    code: rc.as_u8(),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn put<B: BufMut>(&self, buf: &mut B) {
        match self.repr {
            CodesRepr::Block(b) => buf.put_slice(b),
            CodesRepr::Codes(c) => c.iter().for_each(|rc| buf.put_u8(rc.as_u8())),
        }
    }

    /// The codes as a vector.
    pub fn to_vec(&self) -> Vec<ReasonCode> {
        self.iter().collect()
    }
}

list_view_impls!(ReasonCodesRef, ReasonCodesIter, ReasonCode);

/// Iterator over the codes of a [`ReasonCodesRef`].
#[derive(Debug, Clone)]
pub struct ReasonCodesIter<'a> {
    inner: CodesIterRepr<'a>,
}

#[derive(Debug, Clone)]
enum CodesIterRepr<'a> {
    Block(core::slice::Iter<'a, u8>),
    Codes(core::slice::Iter<'a, ReasonCode>),
}

impl Iterator for ReasonCodesIter<'_> {
    type Item = ReasonCode;

    fn next(&mut self) -> Option<ReasonCode> {
        match &mut self.inner {
            // Validated when decoded: every byte is a known code.
            CodesIterRepr::Block(it) => it.next().copied().and_then(ReasonCode::from_u8),
            CodesIterRepr::Codes(it) => it.next().copied(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.inner {
            CodesIterRepr::Block(it) => it.len(),
            CodesIterRepr::Codes(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for ReasonCodesIter<'_> {}

/// Decodes the body shared by SUBACK and 5.0 UNSUBACK: packet identifier,
/// (5.0) properties, then at least one reason code, nothing after.
pub(crate) fn decode_codes_ack<'a>(
    body: &'a [u8],
    opts: &DecodeOptions,
    packet: PacketType,
) -> Result<(u16, AckPropertiesRef<'a>, ReasonCodesRef<'a>), Error> {
    let version = opts.version();
    let mut r = Reader::new(body);
    let packet_id = r.u16()?;
    if packet_id == 0 {
        return Err(Error::InvalidPacketIdentifier); // [MQTT-2.2.1-3]
    }
    let properties = if version.is_v5() {
        AckPropertiesRef::read_in(&mut r, Context::packet(packet))?
    } else {
        AckPropertiesRef::default()
    };
    // One code per filter of the SUBSCRIBE / UNSUBSCRIBE, which has at
    // least one: an empty list means the payload is missing.
    if r.is_empty() {
        return Err(Error::EmptyReasonCodes);
    }
    let codes = ReasonCodesRef::read(r.rest(), packet, version)?;
    Ok((packet_id, properties, codes))
}

/// Validates and sizes the body shared by SUBACK and 5.0 UNSUBACK.
pub(crate) fn codes_ack_sizes(
    packet_id: u16,
    properties: &AckPropertiesRef<'_>,
    codes: &ReasonCodesRef<'_>,
    version: ProtocolVersion,
    packet: PacketType,
) -> Result<Sizes, Error> {
    if packet_id == 0 {
        return Err(Error::InvalidPacketIdentifier);
    }
    if codes.is_empty() {
        return Err(Error::EmptyReasonCodes);
    }
    codes.check(packet, version)?;
    let mut remaining = 2 + codes.len();
    let (props, props_len) = properties.sized_for(version)?;
    remaining += props_len;
    Ok(Sizes {
        remaining,
        props,
        ..Sizes::default()
    })
}

/// Writes the body sized by [`codes_ack_sizes`].
pub(crate) fn put_codes_ack<B: BufMut>(
    packet_id: u16,
    properties: &AckPropertiesRef<'_>,
    codes: &ReasonCodesRef<'_>,
    version: ProtocolVersion,
    sizes: &Sizes,
    buf: &mut B,
) {
    buf.put_u16(packet_id);
    if version.is_v5() {
        properties.put(buf, sizes.props);
    }
    codes.put(buf);
}

/// A SUBACK packet: one reason code per topic filter of the SUBSCRIBE it
/// acknowledges, in the same order.
///
/// In 3.1.1 the codes are return codes: Granted QoS 0, 1 or 2
/// ([`ReasonCode::Success`], [`ReasonCode::GrantedQoS1`],
/// [`ReasonCode::GrantedQoS2`]) or Failure ([`ReasonCode::UnspecifiedError`],
/// 0x80).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The packet identifier of the SUBSCRIBE acknowledged.
    pub packet_id: u16,
    /// 5.0 properties; empty in 3.1.1.
    pub properties: AckProperties,
    /// One code per topic filter; never empty (an empty list is refused
    /// with [`Error::EmptyReasonCodes`] in both directions).
    pub reason_codes: Vec<ReasonCode>,
}

/// A borrowed view of a [`SubAck`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubAckRef<'a> {
    /// The packet identifier.
    pub packet_id: u16,
    /// 5.0 properties.
    pub properties: AckPropertiesRef<'a>,
    /// One code per topic filter.
    pub reason_codes: ReasonCodesRef<'a>,
}

impl SubAck {
    /// A SUBACK of `packet_id` with `reason_codes` and no properties.
    pub fn new(packet_id: u16, reason_codes: Vec<ReasonCode>) -> Self {
        SubAck {
            packet_id,
            properties: AckProperties::default(),
            reason_codes,
        }
    }

    /// The reason code granting `qos`: 0x00, 0x01 or 0x02.
    pub const fn granted(qos: QoS) -> ReasonCode {
        match qos {
            QoS::AtMostOnce => ReasonCode::GRANTED_QOS_0,
            QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
            QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
        }
    }

    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> SubAckRef<'_> {
        SubAckRef {
            packet_id: self.packet_id,
            properties: self.properties.as_view(),
            reason_codes: ReasonCodesRef::from_slice(&self.reason_codes),
        }
    }
}

impl<'a> SubAckRef<'a> {
    pub(crate) fn decode(body: &'a [u8], opts: &DecodeOptions) -> Result<Self, Error> {
        let (packet_id, properties, reason_codes) =
            decode_codes_ack(body, opts, PacketType::SubAck)?;
        Ok(SubAckRef {
            packet_id,
            properties,
            reason_codes,
        })
    }

    pub(crate) fn sizes(&self, version: ProtocolVersion) -> Result<Sizes, Error> {
        codes_ack_sizes(
            self.packet_id,
            &self.properties,
            &self.reason_codes,
            version,
            PacketType::SubAck,
        )
    }

    pub(crate) fn put<B: BufMut>(&self, version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
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
    pub(crate) fn owned_in(&self, src: &Bytes) -> SubAck {
        SubAck {
            packet_id: self.packet_id,
            properties: self.properties.owned_in(src),
            reason_codes: self.reason_codes.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{self, assert_encode_err, assert_err, encode, golden};
    use crate::codec::MqttString;
    use crate::codec::{PropertyId, UserProperty};
    use alloc::vec;
    use ProtocolVersion::{V311, V5};

    /// A whole SUBACK packet around `body` (remaining length < 128).
    fn packet(body: &[u8]) -> Vec<u8> {
        testing::packet::<SubAck>(body)
    }

    const V5_ALL_CODES: [ReasonCode; 12] = [
        ReasonCode::GRANTED_QOS_0,
        ReasonCode::GrantedQoS1,
        ReasonCode::GrantedQoS2,
        ReasonCode::UnspecifiedError,
        ReasonCode::ImplementationSpecificError,
        ReasonCode::NotAuthorized,
        ReasonCode::TopicFilterInvalid,
        ReasonCode::PacketIdentifierInUse,
        ReasonCode::QuotaExceeded,
        ReasonCode::SharedSubscriptionsNotSupported,
        ReasonCode::SubscriptionIdentifiersNotSupported,
        ReasonCode::WildcardSubscriptionsNotSupported,
    ];

    #[test]
    fn golden_v311_smallest() {
        let ack = SubAck::new(1, vec![ReasonCode::GRANTED_QOS_0]);
        golden(&ack, V311, &[0x90, 0x03, 0x00, 0x01, 0x00]);
    }

    #[test]
    fn golden_v311_every_return_code() {
        let ack = SubAck::new(
            10,
            vec![
                SubAck::granted(QoS::AtMostOnce),
                SubAck::granted(QoS::AtLeastOnce),
                SubAck::granted(QoS::ExactlyOnce),
                ReasonCode::UnspecifiedError, // 3.1.1 "Failure"
            ],
        );
        golden(
            &ack,
            V311,
            &[
                0x90, 0x06, // SUBACK, remaining length 6
                0x00, 0x0A, // packet identifier 10
                0x00, 0x01, 0x02, 0x80, // return codes
            ],
        );
    }

    #[test]
    fn golden_v5_smallest() {
        let ack = SubAck::new(1, vec![ReasonCode::GRANTED_QOS_0]);
        golden(&ack, V5, &[0x90, 0x04, 0x00, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn golden_v5_with_properties_and_every_code() {
        let mut ack = SubAck::new(0x1234, V5_ALL_CODES.to_vec());
        ack.properties.reason_string = Some(MqttString::from_str("ok").unwrap());
        ack.properties
            .user_properties
            .push(UserProperty::new("k", "v").unwrap());
        golden(
            &ack,
            V5,
            &[
                0x90, 0x1B, // SUBACK, remaining length 27
                0x12, 0x34, // packet identifier
                0x0C, // property length 12
                0x1F, 0x00, 0x02, b'o', b'k', // Reason String "ok"
                0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property
                0x00, 0x01, 0x02, 0x80, 0x83, 0x87, // reason codes
                0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
            ],
        );
    }

    #[test]
    fn reason_code_views_compare_by_content() {
        let bytes = [0x00, 0x02, 0x80];
        let block = ReasonCodesRef::read(&bytes, PacketType::SubAck, V311).unwrap();
        let codes = [
            ReasonCode::Success,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ];
        assert_eq!(block, ReasonCodesRef::from_slice(&codes));
        assert_eq!(block.len(), 3);
        assert_eq!(block.get(1), Some(ReasonCode::GrantedQoS2));
        assert_eq!(block.get(3), None);
        assert_eq!(block.iter().len(), 3);
        assert_eq!(block.to_vec(), codes);
        assert_ne!(block, ReasonCodesRef::from_slice(&codes[..2]));
        assert!(ReasonCodesRef::default().is_empty());
    }

    // [MQTT-2.2.1-3]
    #[test]
    fn packet_identifier_zero_is_a_protocol_error_mqtt_2_2_1_3() {
        assert_err(
            &packet(&[0, 0, 0]),
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
            &SubAck::new(0, vec![ReasonCode::Success]),
            V5,
            Error::InvalidPacketIdentifier,
        );
    }

    // A SUBACK holds one code per filter of a SUBSCRIBE, which has at least
    // one [MQTT-3.8.3-2]: without any the packet is malformed.
    #[test]
    fn suback_without_reason_code_is_malformed() {
        assert_err(
            &packet(&[0, 1]),
            V311,
            Error::EmptyReasonCodes,
            ReasonCode::MalformedPacket,
        );
        assert_err(
            &packet(&[0, 1, 0]),
            V5,
            Error::EmptyReasonCodes,
            ReasonCode::MalformedPacket,
        );
        // 5.0 has no short form: the property length is required.
        assert_err(
            &packet(&[0, 1]),
            V5,
            Error::Truncated,
            ReasonCode::MalformedPacket,
        );
        assert_encode_err(&SubAck::new(1, vec![]), V5, Error::EmptyReasonCodes);
        assert_encode_err(&SubAck::new(1, vec![]), V311, Error::EmptyReasonCodes);
    }

    // [MQTT-3.9.3-2] (3.1.1): return codes other than 0x00, 0x01, 0x02 and
    // 0x80 are reserved and must not be used.
    #[test]
    fn v311_reserved_return_codes_are_rejected_mqtt_3_9_3_2_v311() {
        for code in [0x03, 0x11, 0x81, 0x83, 0x97, 0xFF] {
            assert_err(
                &packet(&[0, 1, 0x00, code]),
                V311,
                Error::InvalidReasonCode {
                    packet: PacketType::SubAck,
                    code,
                },
                ReasonCode::MalformedPacket,
            );
        }
        assert_encode_err(
            &SubAck::new(1, vec![ReasonCode::QuotaExceeded]),
            V311,
            Error::InvalidReasonCode {
                packet: PacketType::SubAck,
                code: 0x97,
            },
        );
    }

    // 5.0 3.9.3: only the Subscribe Reason Codes of the table may appear.
    #[test]
    fn v5_codes_not_allowed_in_suback_are_rejected() {
        for code in [0x03, 0x04, 0x11, 0x81, 0x82, 0x8E, 0xFF] {
            assert_err(
                &packet(&[0, 1, 0, 0x01, code]),
                V5,
                Error::InvalidReasonCode {
                    packet: PacketType::SubAck,
                    code,
                },
                ReasonCode::MalformedPacket,
            );
        }
        assert_encode_err(
            &SubAck::new(1, vec![ReasonCode::NoSubscriptionExisted]),
            V5,
            Error::InvalidReasonCode {
                packet: PacketType::SubAck,
                code: 0x11,
            },
        );
        for code in V5_ALL_CODES {
            assert!(ReasonCodesRef::read(&[code.as_u8()], PacketType::SubAck, V5).is_ok());
        }
    }

    // 5.0 3.9.2.1: SUBACK carries only Reason String and User Property;
    // 2.2.2.2: another is a Malformed Packet.
    #[test]
    fn property_not_allowed_in_suback_is_malformed() {
        assert_err(
            &packet(&[0, 1, 2, 0x0B, 0x01, 0x00]),
            V5,
            Error::PropertyNotAllowed {
                property: PropertyId::SubscriptionIdentifier,
                packet: PacketType::SubAck,
            },
            ReasonCode::MalformedPacket,
        );
    }

    #[test]
    fn properties_cannot_be_encoded_for_v311() {
        let mut ack = SubAck::new(1, vec![ReasonCode::Success]);
        ack.properties.reason_string = Some(MqttString::from_str("x").unwrap());
        assert_encode_err(&ack, V311, Error::PropertiesInV311);
        assert!(encode(&ack, V5).is_ok());
    }

    #[test]
    fn v31_suback_has_granted_qos_only() {
        // MQTT 3.1 SUBACK: one Granted QoS (0 to 2) per topic; no Failure
        // code 0x80.
        let ack = SubAck::new(
            7,
            vec![
                SubAck::granted(QoS::AtMostOnce),
                SubAck::granted(QoS::AtLeastOnce),
                SubAck::granted(QoS::ExactlyOnce),
            ],
        );
        golden(
            &ack,
            ProtocolVersion::V31,
            &[0x90, 0x05, 0x00, 0x07, 0x00, 0x01, 0x02],
        );
        assert_err(
            &packet(&[0x00, 0x07, 0x00, 0x80]),
            ProtocolVersion::V31,
            Error::InvalidReasonCode {
                packet: PacketType::SubAck,
                code: 0x80,
            },
            ReasonCode::MalformedPacket,
        );
        // The same bytes are a valid 3.1.1 SUBACK.
        assert!(testing::decode::<SubAck>(&packet(&[0x00, 0x07, 0x00, 0x80]), V311).is_ok());
        assert_encode_err(
            &SubAck::new(7, vec![ReasonCode::UnspecifiedError]),
            ProtocolVersion::V31,
            Error::InvalidReasonCode {
                packet: PacketType::SubAck,
                code: 0x80,
            },
        );
    }
}
