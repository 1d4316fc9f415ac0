//! SUBACK (spec 3.9): the server's answer to a SUBSCRIBE, one reason code
//! per topic filter. Also the reason-code list shared with UNSUBACK.

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use super::ack::{AckProperties, AckPropertiesRef};
use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::property::{with_len_prefix, Context};
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
/// and 0x80 only [MQTT-3.9.3-2 (3.1.1)]; a 3.1.1 UNSUBACK has no payload.
fn code_allowed(code: u8, packet: PacketType, version: ProtocolVersion) -> bool {
    if version.is_v5() {
        ReasonCode::from_u8(code).is_some_and(|rc| rc.allowed_in(packet))
    } else {
        packet == PacketType::SubAck && matches!(code, 0x00 | 0x01 | 0x02 | 0x80)
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

impl<'a> IntoIterator for ReasonCodesRef<'a> {
    type Item = ReasonCode;
    type IntoIter = ReasonCodesIter<'a>;
    fn into_iter(self) -> ReasonCodesIter<'a> {
        self.iter()
    }
}

impl core::fmt::Debug for ReasonCodesRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for ReasonCodesRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

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
        return Err(Error::Truncated);
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
        return Err(Error::Truncated);
    }
    codes.check(packet, version)?;
    let mut remaining = 2 + codes.len();
    let props = if version.is_v5() {
        let props = properties.block_len()?;
        remaining += with_len_prefix(props)?;
        props
    } else if !properties.is_empty() {
        return Err(Error::PropertiesInV311);
    } else {
        0
    };
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
    /// One code per topic filter; never empty.
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

    pub(crate) fn to_owned_in(&self, src: &Bytes) -> SubAck {
        SubAck {
            packet_id: self.packet_id,
            properties: self.properties.to_owned_in(src),
            reason_codes: self.reason_codes.to_vec(),
        }
    }
}
