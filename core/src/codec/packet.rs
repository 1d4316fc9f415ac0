//! The [`Packet`] and [`PacketRef`] enums over all fifteen control packets,
//! with decoding and encoding dispatch.

use alloc::boxed::Box;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::auth::{Auth, AuthRef};
use super::connack::{ConnAck, ConnAckRef};
use super::connect::{Connect, ConnectRef};
use super::disconnect::{Disconnect, DisconnectRef};
use super::error::Error;
use super::fixed_header::{FixedHeader, PacketType, MAX_REMAINING_LENGTH};
use super::puback::{PubAck, PubAckRef};
use super::pubcomp::{PubComp, PubCompRef};
use super::publish::{Publish, PublishRef};
use super::pubrec::{PubRec, PubRecRef};
use super::pubrel::{PubRel, PubRelRef};
use super::suback::{SubAck, SubAckRef};
use super::subscribe::{Subscribe, SubscribeRef};
use super::unsuback::{UnsubAck, UnsubAckRef};
use super::unsubscribe::{Unsubscribe, UnsubscribeRef};
use super::version::ProtocolVersion;
use super::wire::{put_varint, varint_len};

/// The largest packet MQTT can frame: a five-byte fixed header plus the
/// largest remaining length.
pub const MAX_PACKET_SIZE: u32 = MAX_REMAINING_LENGTH + 5;

/// How to decode: the protocol version of the connection and the limits.
///
/// ```
/// use mqtt_core::codec::{DecodeOptions, ProtocolVersion};
/// let options = DecodeOptions::new(ProtocolVersion::V5).with_max_packet_size(1 << 20);
/// assert_eq!(options.max_packet_size(), 1 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    version: ProtocolVersion,
    max_packet_size: u32,
    validate_payload_format: bool,
}

impl DecodeOptions {
    /// Options for `version`, with no limit beyond the protocol's own
    /// ([`MAX_PACKET_SIZE`]) and payload format validation on. CONNECT is
    /// always decoded by the version it names itself.
    pub const fn new(version: ProtocolVersion) -> Self {
        DecodeOptions {
            version,
            max_packet_size: MAX_PACKET_SIZE,
            validate_payload_format: true,
        }
    }

    /// Rejects packets larger than `max` bytes in all (header included)
    /// with [`Error::PacketTooLarge`], as soon as the fixed header shows the
    /// size and before the body is buffered. A `max` of 0 means no limit.
    pub const fn with_max_packet_size(mut self, max: u32) -> Self {
        self.max_packet_size = if max == 0 { MAX_PACKET_SIZE } else { max };
        self
    }

    /// Whether to reject a PUBLISH (or will) whose Payload Format Indicator
    /// says UTF-8 when its payload is not ([`Error::PayloadFormatInvalid`],
    /// 0x99). On by default; the specification allows receivers to skip it.
    pub const fn with_payload_format_validation(mut self, on: bool) -> Self {
        self.validate_payload_format = on;
        self
    }

    /// Sets the protocol version (after CONNECT negotiated it).
    pub const fn with_version(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
        self
    }

    /// The protocol version.
    pub const fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The maximum packet size.
    pub const fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    /// Whether payload format validation is on.
    pub const fn validates_payload_format(&self) -> bool {
        self.validate_payload_format
    }
}

/// Sizes computed while validating a packet for encoding, reused when
/// writing it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sizes {
    /// The remaining length.
    pub remaining: usize,
    /// The property block's length (without its prefix).
    pub props: usize,
    /// The will property block's length (CONNECT only).
    pub will_props: usize,
}

macro_rules! packets {
    ($( $(#[$doc:meta])* $variant:ident($Owned:ty, $Ref:ident), )*) => {
        /// An MQTT control packet, owned. Strings and binary fields are
        /// [`Bytes`] slices that share the decoded input.
        ///
        /// CONNECT and CONNACK, large and rare, are boxed so that the enum
        /// (moved on every decode) stays the size of a PUBLISH.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Packet {
            $( $(#[$doc])* $variant($Owned), )*
            /// PINGREQ (spec 3.12).
            PingReq,
            /// PINGRESP (spec 3.13).
            PingResp,
        }

        /// An MQTT control packet as a borrowed view: decoded from a `&[u8]`
        /// or built from borrowed data, with no heap use.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum PacketRef<'a> {
            $( $(#[$doc])* $variant($Ref<'a>), )*
            /// PINGREQ (spec 3.12).
            PingReq,
            /// PINGRESP (spec 3.13).
            PingResp,
        }

        impl Packet {
            /// The packet type.
            pub fn packet_type(&self) -> PacketType {
                match self {
                    $( Packet::$variant(_) => PacketType::$variant, )*
                    Packet::PingReq => PacketType::PingReq,
                    Packet::PingResp => PacketType::PingResp,
                }
            }

            /// A borrowed view of this packet, for encoding.
            pub fn as_view(&self) -> PacketRef<'_> {
                match self {
                    $( Packet::$variant(p) => PacketRef::$variant(p.as_view()), )*
                    Packet::PingReq => PacketRef::PingReq,
                    Packet::PingResp => PacketRef::PingResp,
                }
            }
        }

        impl<'a> PacketRef<'a> {
            /// The packet type.
            pub fn packet_type(&self) -> PacketType {
                match self {
                    $( PacketRef::$variant(_) => PacketType::$variant, )*
                    PacketRef::PingReq => PacketType::PingReq,
                    PacketRef::PingResp => PacketType::PingResp,
                }
            }

            fn sizes(&self, version: ProtocolVersion) -> Result<Sizes, Error> {
                match self {
                    $( PacketRef::$variant(p) => p.sizes(version), )*
                    PacketRef::PingReq | PacketRef::PingResp => Ok(Sizes::default()),
                }
            }

            /// Writes the body, except a PUBLISH payload (see
            /// `trailing_payload`).
            fn put_body<B: BufMut>(&self, version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
                match self {
                    $( PacketRef::$variant(p) => p.put(version, sizes, buf), )*
                    PacketRef::PingReq | PacketRef::PingResp => {}
                }
            }

            /// The owned packet, sharing bytes with `src` where this view
            /// points into it and copying otherwise.
        #[inline]
            pub(crate) fn owned_in(&self, src: &Bytes) -> Packet {
                match self {
                    $( PacketRef::$variant(p) => Packet::$variant(p.owned_in(src).into()), )*
                    PacketRef::PingReq => Packet::PingReq,
                    PacketRef::PingResp => Packet::PingResp,
                }
            }
        }
    };
}

packets! {
    /// CONNECT (spec 3.1).
    Connect(Box<Connect>, ConnectRef),
    /// CONNACK (spec 3.2).
    ConnAck(Box<ConnAck>, ConnAckRef),
    /// PUBLISH (spec 3.3).
    Publish(Publish, PublishRef),
    /// PUBACK (spec 3.4).
    PubAck(PubAck, PubAckRef),
    /// PUBREC (spec 3.5).
    PubRec(PubRec, PubRecRef),
    /// PUBREL (spec 3.6).
    PubRel(PubRel, PubRelRef),
    /// PUBCOMP (spec 3.7).
    PubComp(PubComp, PubCompRef),
    /// SUBSCRIBE (spec 3.8).
    Subscribe(Subscribe, SubscribeRef),
    /// SUBACK (spec 3.9).
    SubAck(SubAck, SubAckRef),
    /// UNSUBSCRIBE (spec 3.10).
    Unsubscribe(Unsubscribe, UnsubscribeRef),
    /// UNSUBACK (spec 3.11).
    UnsubAck(UnsubAck, UnsubAckRef),
    /// DISCONNECT (spec 3.14).
    Disconnect(Disconnect, DisconnectRef),
    /// AUTH (spec 3.15, 5.0 only).
    Auth(Auth, AuthRef),
}

macro_rules! from_packet {
    ($($variant:ident($T:ty) => $wrap:expr;)*) => {
        $(
            impl From<$T> for Packet {
                fn from(p: $T) -> Packet {
                    #[allow(clippy::redundant_closure_call)]
                    Packet::$variant(($wrap)(p))
                }
            }
        )*
    };
}

from_packet! {
    Connect(Connect) => Box::new;
    ConnAck(ConnAck) => Box::new;
    Publish(Publish) => core::convert::identity;
    PubAck(PubAck) => core::convert::identity;
    PubRec(PubRec) => core::convert::identity;
    PubRel(PubRel) => core::convert::identity;
    PubComp(PubComp) => core::convert::identity;
    Subscribe(Subscribe) => core::convert::identity;
    SubAck(SubAck) => core::convert::identity;
    Unsubscribe(Unsubscribe) => core::convert::identity;
    UnsubAck(UnsubAck) => core::convert::identity;
    Disconnect(Disconnect) => core::convert::identity;
    Auth(Auth) => core::convert::identity;
}

impl<'a> PacketRef<'a> {
    /// Decodes one packet from the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a packet (nothing
    /// is consumed; call again with more bytes), or the packet and the
    /// number of bytes it used. The size limit is checked from the fixed
    /// header alone, so an oversized packet fails after at most five bytes.
    pub fn decode(
        buf: &'a [u8],
        options: &DecodeOptions,
    ) -> Result<Option<(PacketRef<'a>, usize)>, Error> {
        let Some(header) = check_header(buf, options)? else {
            return Ok(None);
        };
        let len = header.packet_len();
        let Some(body) = buf.get(usize::from(header.header_len)..len) else {
            return Ok(None);
        };
        Ok(Some((Self::decode_body(&header, body, options)?, len)))
    }

    /// Decodes a packet whose fixed header was already parsed and whose
    /// body is complete.
    #[inline]
    pub fn decode_body(
        header: &FixedHeader,
        body: &'a [u8],
        options: &DecodeOptions,
    ) -> Result<Self, Error> {
        use PacketType as T;
        Ok(match header.packet_type {
            T::Connect => PacketRef::Connect(ConnectRef::decode(body, options)?),
            T::ConnAck => PacketRef::ConnAck(ConnAckRef::decode(body, options)?),
            T::Publish => PacketRef::Publish(PublishRef::decode(header.flags, body, options)?),
            T::PubAck => PacketRef::PubAck(PubAckRef::decode(body, options)?),
            T::PubRec => PacketRef::PubRec(PubRecRef::decode(body, options)?),
            T::PubRel => PacketRef::PubRel(PubRelRef::decode(body, options)?),
            T::PubComp => PacketRef::PubComp(PubCompRef::decode(body, options)?),
            T::Subscribe => PacketRef::Subscribe(SubscribeRef::decode(body, options)?),
            T::SubAck => PacketRef::SubAck(SubAckRef::decode(body, options)?),
            T::Unsubscribe => PacketRef::Unsubscribe(UnsubscribeRef::decode(body, options)?),
            T::UnsubAck => PacketRef::UnsubAck(UnsubAckRef::decode(body, options)?),
            T::PingReq | T::PingResp => {
                if !body.is_empty() {
                    return Err(Error::TrailingBytes);
                }
                if header.packet_type == T::PingReq {
                    PacketRef::PingReq
                } else {
                    PacketRef::PingResp
                }
            }
            T::Disconnect => PacketRef::Disconnect(DisconnectRef::decode(body, options)?),
            T::Auth => PacketRef::Auth(AuthRef::decode(body, options)?),
        })
    }

    /// The first byte of the fixed header.
    fn first_byte(&self) -> u8 {
        let flags = match self {
            PacketRef::Publish(p) => p.flags(),
            _ => self.packet_type().required_flags().unwrap_or(0),
        };
        ((self.packet_type() as u8) << 4) | flags
    }

    /// The exact encoded size in bytes, validating the packet for `version`.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, Error> {
        total_len(self.sizes(version)?.remaining)
    }

    /// Encodes into any [`BufMut`] with room for the whole packet (the
    /// caller checked [`encoded_len`](Self::encoded_len)); returns the size.
    fn write<B: BufMut>(&self, version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
        self.write_head(version, sizes, buf);
        buf.put_slice(self.trailing_payload());
    }

    /// Writes all but [`trailing_payload`](Self::trailing_payload).
    fn write_head<B: BufMut>(&self, version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
        buf.put_u8(self.first_byte());
        put_varint(buf, sizes.remaining as u32);
        self.put_body(version, sizes, buf);
    }

    /// The bytes that end the packet and are copied as they are: a
    /// PUBLISH payload (empty for other packets).
    fn trailing_payload(&self) -> &'a [u8] {
        match self {
            PacketRef::Publish(p) => p.payload,
            _ => &[],
        }
    }

    /// Encodes the packet at the end of `buf`, reserving exactly what it
    /// needs. Validates first: on error nothing is written.
    #[inline]
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<usize, Error> {
        match self {
            PacketRef::Publish(p) => p.encode_bytes(version, buf),
            PacketRef::Subscribe(s) => s.encode_bytes(version, buf),
            _ => self.encode_other(version, buf),
        }
    }

    /// [`encode`](Self::encode) of every packet but PUBLISH.
    fn encode_other(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<usize, Error> {
        let sizes = self.sizes(version)?;
        let len = total_len(sizes.remaining)?;
        // Write the head through a plain slice (cheaper per field than
        // `BufMut for BytesMut`, and no unsafe), then append the payload
        // without zero-filling room for it first.
        let payload = self.trailing_payload();
        buf.reserve(len);
        let start = buf.len();
        buf.resize(start + len - payload.len(), 0);
        let mut w = &mut buf[start..];
        self.write_head(version, &sizes, &mut w);
        buf.extend_from_slice(payload);
        Ok(len)
    }

    /// Encodes the packet into the front of `out` without allocating;
    /// returns the number of bytes written, or
    /// [`Error::BufferTooSmall`] (nothing written) if it does not fit.
    #[inline]
    pub fn encode_to_slice(
        &self,
        version: ProtocolVersion,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        match self {
            PacketRef::Publish(p) => p.encode_slice(version, out),
            PacketRef::Subscribe(s) => s.encode_slice(version, out),
            _ => self.encode_other_to_slice(version, out),
        }
    }

    /// [`encode_to_slice`](Self::encode_to_slice) of every packet but
    /// PUBLISH.
    fn encode_other_to_slice(
        &self,
        version: ProtocolVersion,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let sizes = self.sizes(version)?;
        let mut w = packet_slice(out, sizes.remaining)?;
        let len = w.len();
        self.write(version, &sizes, &mut w);
        Ok(len)
    }

    /// An owned copy of this packet (copies every borrowed field).
    pub fn into_owned(self) -> Packet {
        self.owned_in(&Bytes::new())
    }
}

impl Packet {
    /// Decodes one packet from the front of `buf`, advancing it past the
    /// packet. Returns `Ok(None)` if `buf` holds only part of a packet.
    /// Strings and payloads of the result are slices of `buf`'s storage.
    #[inline]
    pub fn decode(buf: &mut Bytes, options: &DecodeOptions) -> Result<Option<Packet>, Error> {
        let Some(header) = check_header(buf, options)? else {
            return Ok(None);
        };
        let len = header.packet_len();
        if buf.len() < len {
            return Ok(None);
        }
        // Slices of the packet share `buf` itself: no extra reference.
        let packet = decode_whole(&header, buf, options)?;
        buf.advance(len);
        Ok(Some(packet))
    }

    /// The exact encoded size in bytes, validating the packet for `version`.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, Error> {
        self.as_view().encoded_len(version)
    }

    /// Encodes the packet at the end of `buf`; see [`PacketRef::encode`].
    #[inline]
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<usize, Error> {
        match self {
            Packet::Publish(p) => p.as_view().encode_bytes(version, buf),
            Packet::Subscribe(s) => s.as_view().encode_bytes(version, buf),
            _ => self.as_view().encode_other(version, buf),
        }
    }

    /// Encodes into a slice without allocating; see
    /// [`PacketRef::encode_to_slice`].
    pub fn encode_to_slice(
        &self,
        version: ProtocolVersion,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.as_view().encode_to_slice(version, out)
    }
}

/// Decodes the packet at the front of `whole` (header included; bytes after
/// it are ignored), sharing its strings and payload with `whole`.
#[inline]
pub(crate) fn decode_whole(
    header: &FixedHeader,
    whole: &Bytes,
    options: &DecodeOptions,
) -> Result<Packet, Error> {
    // `whole` may run on past this packet; its body ends at packet_len.
    let body = whole
        .get(usize::from(header.header_len)..header.packet_len())
        .unwrap_or_default();
    Ok(PacketRef::decode_body(header, body, options)?.owned_in(whole))
}

/// Parses the fixed header and enforces the size limit.
#[inline]
pub(crate) fn check_header(
    buf: &[u8],
    options: &DecodeOptions,
) -> Result<Option<FixedHeader>, Error> {
    let Some(header) = FixedHeader::parse_in(buf, options.version())? else {
        return Ok(None);
    };
    let size = header.packet_len();
    if size > options.max_packet_size() as usize {
        return Err(Error::PacketTooLarge {
            size,
            max: options.max_packet_size(),
        });
    }
    Ok(Some(header))
}

/// The front of `out` that a packet of `remaining` bytes after its fixed
/// header fills, or [`Error::BufferTooSmall`] (or too large for MQTT).
#[inline]
pub(crate) fn packet_slice(out: &mut [u8], remaining: usize) -> Result<&mut [u8], Error> {
    let len = total_len(remaining)?;
    let available = out.len();
    out.get_mut(..len).ok_or(Error::BufferTooSmall {
        needed: len,
        available,
    })
}

#[inline]
pub(crate) fn total_len(remaining: usize) -> Result<usize, Error> {
    if remaining > MAX_REMAINING_LENGTH as usize {
        return Err(Error::PacketTooLarge {
            size: remaining.saturating_add(5),
            max: MAX_PACKET_SIZE,
        });
    }
    Ok(1 + varint_len(remaining as u32) + remaining)
}
