//! What PUBACK, PUBREC, PUBREL and PUBCOMP share (spec 3.4 to 3.7): a
//! packet identifier, in 5.0 a reason code and Reason String / User
//! Properties, with the short forms the specification allows.
//!
//! DISCONNECT and AUTH (spec 3.14, 3.15) end the same way: a reason code
//! and a property block, with the same short forms.

use super::fixed_header::PacketType;
use super::property::{properties, Context, PropertiesView};

properties! {
    /// Properties of the acknowledgement packets (PUBACK, PUBREC, PUBREL,
    /// PUBCOMP, SUBACK, UNSUBACK): a Reason String and User Properties.
    owned AckProperties;
    /// A borrowed view of [`AckProperties`].
    view AckPropertiesRef;
    context Context::packet(PacketType::PubAck);
    /// Reason String: a human-readable diagnostic.
    reason_string: Str = ReasonString,
}

/// Defines one of the four publish acknowledgement packets.
macro_rules! publish_ack {
    ($(#[$doc:meta])* $Owned:ident, $Ref:ident, $packet:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $Owned {
            /// The packet identifier of the PUBLISH (or PUBREL) acknowledged.
            pub packet_id: u16,
            /// The reason code; always Success in 3.1.1.
            pub reason_code: $crate::codec::ReasonCode,
            /// 5.0 properties; empty in 3.1.1.
            pub properties: $crate::codec::AckProperties,
        }

        #[doc = concat!("A borrowed view of [`", stringify!($Owned), "`].")]
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $Ref<'a> {
            /// The packet identifier.
            pub packet_id: u16,
            /// The reason code.
            pub reason_code: $crate::codec::ReasonCode,
            /// 5.0 properties.
            pub properties: $crate::codec::AckPropertiesRef<'a>,
        }

        impl $Owned {
            /// A successful acknowledgement of `packet_id` without properties.
            pub fn new(packet_id: u16) -> Self {
                $Owned { packet_id, reason_code: $crate::codec::ReasonCode::Success, properties: Default::default() }
            }

            /// Sets the reason code.
            pub fn with_reason_code(mut self, reason_code: $crate::codec::ReasonCode) -> Self {
                self.reason_code = reason_code;
                self
            }

            /// A borrowed view, for encoding.
            pub fn as_view(&self) -> $Ref<'_> {
                $Ref { packet_id: self.packet_id, reason_code: self.reason_code, properties: self.properties.as_view() }
            }
        }

        impl<'a> $Ref<'a> {
            pub(crate) fn decode(
                body: &'a [u8],
                opts: &$crate::codec::DecodeOptions,
            ) -> Result<Self, $crate::codec::Error> {
                let (packet_id, reason_code, properties) = $crate::codec::ack::decode_ack(
                    body,
                    opts,
                    $crate::codec::PacketType::$packet,
                )?;
                Ok($Ref { packet_id, reason_code, properties })
            }

            pub(crate) fn sizes(
                &self,
                version: $crate::codec::ProtocolVersion,
            ) -> Result<$crate::codec::packet::Sizes, $crate::codec::Error> {
                $crate::codec::ack::ack_sizes(
                    self.packet_id,
                    self.reason_code,
                    &self.properties,
                    version,
                    $crate::codec::PacketType::$packet,
                )
            }

            pub(crate) fn put<B: ::bytes::BufMut>(
                &self,
                _version: $crate::codec::ProtocolVersion,
                sizes: &$crate::codec::packet::Sizes,
                buf: &mut B,
            ) {
                $crate::codec::ack::put_ack(self.packet_id, self.reason_code, &self.properties, sizes, buf)
            }

            pub(crate) fn owned_in(&self, src: &::bytes::Bytes) -> $Owned {
                $Owned {
                    packet_id: self.packet_id,
                    reason_code: self.reason_code,
                    properties: self.properties.owned_in(src),
                }
            }
        }
    };
}

pub(crate) use publish_ack;

use super::error::Error;
use super::packet::{DecodeOptions, Sizes};
use super::property::with_len_prefix;
use super::reason_code::ReasonCode;
use super::version::ProtocolVersion;
use super::wire::Reader;
use bytes::BufMut;

/// Reads a reason code byte and checks it belongs in `packet`.
pub(crate) fn read_reason_code(
    r: &mut Reader<'_>,
    packet: PacketType,
) -> Result<ReasonCode, Error> {
    let code = r.u8()?;
    match ReasonCode::from_u8(code) {
        Some(rc) if rc.allowed_in(packet) => Ok(rc),
        _ => Err(Error::InvalidReasonCode { packet, code }),
    }
}

/// Checks a reason code given for encoding into `packet`.
pub(crate) fn check_reason_code(
    rc: ReasonCode,
    packet: PacketType,
    version: ProtocolVersion,
) -> Result<(), Error> {
    if !rc.allowed_in(packet) || (!version.is_v5() && rc != ReasonCode::Success) {
        return Err(Error::InvalidReasonCode {
            packet,
            code: rc.as_u8(),
        });
    }
    Ok(())
}

/// Reads what ends a 5.0 acknowledgement, DISCONNECT or AUTH: a reason
/// code and a property block. The packet may end before either: then the
/// reason code is Success (Normal disconnection) and there are no
/// properties. In 3.1.1 there is neither and nothing is read.
fn read_reason_and_properties<'a, P: PropertiesView<'a>>(
    r: &mut Reader<'a>,
    version: ProtocolVersion,
    packet: PacketType,
) -> Result<(ReasonCode, P), Error> {
    let mut reason_code = ReasonCode::Success;
    let mut properties = P::default();
    if version.is_v5() {
        if !r.is_empty() {
            reason_code = read_reason_code(r, packet)?;
        }
        if !r.is_empty() {
            properties = P::read_in(r, Context::packet(packet))?;
        }
    }
    Ok((reason_code, properties))
}

/// Decodes the body of a DISCONNECT or AUTH.
pub(crate) fn decode_reason<'a, P: PropertiesView<'a>>(
    body: &'a [u8],
    opts: &DecodeOptions,
    packet: PacketType,
) -> Result<(ReasonCode, P), Error> {
    let mut r = Reader::new(body);
    // 5.0 remaining length 0: Success (Normal disconnection), no
    // properties; 1: no properties.
    let out = read_reason_and_properties(&mut r, opts.version(), packet)?;
    r.finish()?;
    Ok(out)
}

/// The 5.0 size of a reason code and property block (the whole body of a
/// DISCONNECT or AUTH): the shortest form the specification allows, nothing
/// for Success without properties.
pub(crate) fn reason_sizes<'a, P: PropertiesView<'a>>(
    reason_code: ReasonCode,
    properties: &P,
) -> Result<Sizes, Error> {
    if properties.is_empty() {
        let remaining = usize::from(reason_code != ReasonCode::Success);
        return Ok(Sizes {
            remaining,
            ..Sizes::default()
        });
    }
    let props = properties.block_len()?;
    Ok(Sizes {
        remaining: 1 + with_len_prefix(props)?,
        props,
        ..Sizes::default()
    })
}

/// Writes the reason code and property block that [`reason_sizes`] sized.
pub(crate) fn put_reason<'a, P: PropertiesView<'a>, B: BufMut>(
    reason_code: ReasonCode,
    properties: &P,
    sizes: &Sizes,
    buf: &mut B,
) {
    if sizes.remaining >= 1 {
        buf.put_u8(reason_code.as_u8());
    }
    if sizes.remaining > 1 {
        properties.put(buf, sizes.props);
    }
}

pub(crate) fn decode_ack<'a>(
    body: &'a [u8],
    opts: &DecodeOptions,
    packet: PacketType,
) -> Result<(u16, ReasonCode, AckPropertiesRef<'a>), Error> {
    let mut r = Reader::new(body);
    let packet_id = r.u16()?;
    if packet_id == 0 {
        return Err(Error::InvalidPacketIdentifier); // [MQTT-2.2.1-3]
    }
    // 5.0 remaining length 2: Success, no properties; 3: no properties.
    let (reason_code, properties) = read_reason_and_properties(&mut r, opts.version(), packet)?;
    r.finish()?;
    Ok((packet_id, reason_code, properties))
}

pub(crate) fn ack_sizes(
    packet_id: u16,
    reason_code: ReasonCode,
    properties: &AckPropertiesRef<'_>,
    version: ProtocolVersion,
    packet: PacketType,
) -> Result<Sizes, Error> {
    if packet_id == 0 {
        return Err(Error::InvalidPacketIdentifier);
    }
    check_reason_code(reason_code, packet, version)?;
    if !version.is_v5() {
        if !properties.is_empty() {
            return Err(Error::PropertiesInV311);
        }
        return Ok(Sizes {
            remaining: 2,
            ..Sizes::default()
        });
    }
    // The packet identifier, then the shortest form the specification
    // allows.
    let tail = reason_sizes(reason_code, properties)?;
    Ok(Sizes {
        remaining: 2 + tail.remaining,
        ..tail
    })
}

pub(crate) fn put_ack<B: BufMut>(
    packet_id: u16,
    reason_code: ReasonCode,
    properties: &AckPropertiesRef<'_>,
    sizes: &Sizes,
    buf: &mut B,
) {
    buf.put_u16(packet_id);
    // The rest as `reason_sizes` sized it (without the packet identifier).
    let tail = Sizes {
        remaining: sizes.remaining - 2,
        ..*sizes
    };
    put_reason(reason_code, properties, &tail, buf);
}
