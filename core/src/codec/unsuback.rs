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
    /// 5.0: one code per topic filter, never empty. 3.1.1: empty.
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

    pub(crate) fn to_owned_in(&self, src: &Bytes) -> UnsubAck {
        UnsubAck {
            packet_id: self.packet_id,
            properties: self.properties.to_owned_in(src),
            reason_codes: self.reason_codes.to_vec(),
        }
    }
}
