//! The fixed header (spec section 2.1): packet type, flags and the remaining
//! length, read from at most five bytes.

use super::error::Error;
use super::version::ProtocolVersion;

/// The largest remaining length a four-byte variable byte integer carries.
pub const MAX_REMAINING_LENGTH: u32 = 268_435_455;

/// The control packet types (spec section 2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PacketType {
    /// 1: client requests a connection.
    Connect = 1,
    /// 2: connect acknowledgement.
    ConnAck = 2,
    /// 3: publish message.
    Publish = 3,
    /// 4: publish acknowledgement (QoS 1).
    PubAck = 4,
    /// 5: publish received (QoS 2, part 1).
    PubRec = 5,
    /// 6: publish release (QoS 2, part 2).
    PubRel = 6,
    /// 7: publish complete (QoS 2, part 3).
    PubComp = 7,
    /// 8: subscribe request.
    Subscribe = 8,
    /// 9: subscribe acknowledgement.
    SubAck = 9,
    /// 10: unsubscribe request.
    Unsubscribe = 10,
    /// 11: unsubscribe acknowledgement.
    UnsubAck = 11,
    /// 12: ping request.
    PingReq = 12,
    /// 13: ping response.
    PingResp = 13,
    /// 14: disconnect notification.
    Disconnect = 14,
    /// 15: authentication exchange (5.0 only).
    Auth = 15,
}

impl PacketType {
    /// The packet type for the high nibble of the first byte.
    pub const fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            1 => PacketType::Connect,
            2 => PacketType::ConnAck,
            3 => PacketType::Publish,
            4 => PacketType::PubAck,
            5 => PacketType::PubRec,
            6 => PacketType::PubRel,
            7 => PacketType::PubComp,
            8 => PacketType::Subscribe,
            9 => PacketType::SubAck,
            10 => PacketType::Unsubscribe,
            11 => PacketType::UnsubAck,
            12 => PacketType::PingReq,
            13 => PacketType::PingResp,
            14 => PacketType::Disconnect,
            15 => PacketType::Auth,
            _ => return None,
        })
    }

    /// The name used by the specification, e.g. `"SUBACK"`.
    pub const fn name(self) -> &'static str {
        match self {
            PacketType::Connect => "CONNECT",
            PacketType::ConnAck => "CONNACK",
            PacketType::Publish => "PUBLISH",
            PacketType::PubAck => "PUBACK",
            PacketType::PubRec => "PUBREC",
            PacketType::PubRel => "PUBREL",
            PacketType::PubComp => "PUBCOMP",
            PacketType::Subscribe => "SUBSCRIBE",
            PacketType::SubAck => "SUBACK",
            PacketType::Unsubscribe => "UNSUBSCRIBE",
            PacketType::UnsubAck => "UNSUBACK",
            PacketType::PingReq => "PINGREQ",
            PacketType::PingResp => "PINGRESP",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Auth => "AUTH",
        }
    }

    /// The fixed flags the type requires (all but PUBLISH) [MQTT-2.1.3-1].
    pub const fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

impl core::fmt::Display for PacketType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The packet type.
    pub packet_type: PacketType,
    /// The low nibble of the first byte (meaningful for PUBLISH only).
    pub flags: u8,
    /// The number of bytes after the fixed header.
    pub remaining_length: u32,
    /// The size of the fixed header itself: 2 to 5 bytes.
    pub header_len: u8,
}

impl FixedHeader {
    /// The whole packet's size: header plus remaining length.
    pub const fn packet_len(&self) -> usize {
        self.header_len as usize + self.remaining_length as usize
    }

    /// Parses a fixed header from the front of `buf`.
    ///
    /// Returns `Ok(None)` while fewer bytes than the header needs have
    /// arrived; never reads past the fifth byte, so a limit check on
    /// [`packet_len`](Self::packet_len) happens before the body is buffered.
    /// Checks the packet type and the reserved flags [MQTT-2.1.3-1]; AUTH
    /// (type 15) is rejected as malformed for 3.1.1, where type 15 is
    /// reserved.
    #[inline]
    pub fn parse(buf: &[u8], v5: bool) -> Result<Option<FixedHeader>, Error> {
        let version = if v5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        };
        Self::parse_in(buf, version)
    }

    /// [`parse`](Self::parse) for a connection speaking `version`. In 3.1
    /// the flags of packets other than PUBLISH are not checked: that
    /// specification calls them unused, and sets DUP on PUBREL, SUBSCRIBE
    /// and UNSUBSCRIBE sent again.
    #[inline]
    pub fn parse_in(buf: &[u8], version: ProtocolVersion) -> Result<Option<FixedHeader>, Error> {
        let v5 = version.is_v5();
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let packet_type = match PacketType::from_u8(first >> 4) {
            Some(PacketType::Auth) if !v5 => return Err(Error::InvalidPacketType(first >> 4)),
            Some(t) => t,
            None => return Err(Error::InvalidPacketType(first >> 4)),
        };
        let flags = first & 0x0F;
        if let Some(required) = packet_type.required_flags() {
            if flags != required && !version.is_v31() {
                return Err(Error::ReservedFlags { packet_type, flags });
            }
        }
        let mut value: u32 = 0;
        for i in 0..4 {
            let Some(&byte) = buf.get(1 + i) else {
                return Ok(None);
            };
            value |= u32::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                // 5.0 requires the minimum number of bytes [MQTT-1.5.5-1];
                // 3.1.1 states no such rule, so there only a fifth byte is
                // malformed.
                if v5 && i + 1 != crate::codec::wire::varint_len(value) {
                    return Err(Error::MalformedRemainingLength);
                }
                return Ok(Some(FixedHeader {
                    packet_type,
                    flags,
                    remaining_length: value,
                    header_len: 2 + i as u8,
                }));
            }
        }
        Err(Error::MalformedRemainingLength)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_boundaries_decode() {
        let cases: &[(&[u8], u32, u8)] = &[
            (&[0xC0, 0x00], 0, 2),
            (&[0xC0, 0x7F], 127, 2),
            (&[0xC0, 0x80, 0x01], 128, 3),
            (&[0xC0, 0xFF, 0x7F], 16_383, 3),
            (&[0xC0, 0x80, 0x80, 0x01], 16_384, 4),
            (&[0xC0, 0xFF, 0xFF, 0x7F], 2_097_151, 4),
            (&[0xC0, 0x80, 0x80, 0x80, 0x01], 2_097_152, 5),
            (&[0xC0, 0xFF, 0xFF, 0xFF, 0x7F], MAX_REMAINING_LENGTH, 5),
        ];
        for &(bytes, len, header_len) in cases {
            let h = FixedHeader::parse(bytes, true).unwrap().unwrap();
            assert_eq!(h.remaining_length, len);
            assert_eq!(h.header_len, header_len);
            assert_eq!(h.packet_type, PacketType::PingReq);
        }
    }

    #[test]
    fn fifth_remaining_length_byte_is_malformed() {
        // A continuation bit on the fourth length byte asks for a fifth. [MQTT-1.5.5-1]
        let r = FixedHeader::parse(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], true);
        assert_eq!(r, Err(Error::MalformedRemainingLength));
    }

    #[test]
    fn overlong_remaining_length_is_malformed_in_v5_only() {
        // [MQTT-1.5.5-1] 0 written in two bytes.
        assert_eq!(
            FixedHeader::parse(&[0xC0, 0x80, 0x00], true),
            Err(Error::MalformedRemainingLength)
        );
        let h = FixedHeader::parse(&[0xC0, 0x80, 0x00], false)
            .unwrap()
            .unwrap();
        assert_eq!((h.remaining_length, h.header_len), (0, 3));
    }

    #[test]
    fn partial_header_needs_more() {
        assert_eq!(FixedHeader::parse(&[], true), Ok(None));
        assert_eq!(FixedHeader::parse(&[0x30], true), Ok(None));
        assert_eq!(FixedHeader::parse(&[0x30, 0x80], true), Ok(None));
        assert_eq!(
            FixedHeader::parse(&[0x30, 0x80, 0x80, 0x80], true),
            Ok(None)
        );
    }

    #[test]
    fn reserved_type_zero_is_malformed() {
        assert_eq!(
            FixedHeader::parse(&[0x00, 0x00], true),
            Err(Error::InvalidPacketType(0))
        );
    }

    #[test]
    fn auth_type_is_reserved_in_v311() {
        assert_eq!(
            FixedHeader::parse(&[0xF0, 0x00], false),
            Err(Error::InvalidPacketType(15))
        );
        assert!(FixedHeader::parse(&[0xF0, 0x00], true).unwrap().is_some());
    }

    #[test]
    fn reserved_flags_must_match() {
        // [MQTT-2.1.3-1] PUBREL, SUBSCRIBE, UNSUBSCRIBE need 0b0010; the rest 0.
        for (first, ok) in [
            (0x62, true),
            (0x60, false),
            (0x82, true),
            (0x80, false),
            (0xA2, true),
            (0xA3, false),
            (0x40, true),
            (0x41, false),
            (0xC8, false),
        ] {
            let r = FixedHeader::parse(&[first, 0x00], true);
            assert_eq!(r.is_ok(), ok, "first byte {first:#04x}");
            if !ok {
                assert!(matches!(r, Err(Error::ReservedFlags { .. })));
            }
        }
    }

    #[test]
    fn v31_flags_of_packets_other_than_publish_are_not_checked() {
        // MQTT 3.1 calls these flags unused and sets DUP on PUBREL,
        // SUBSCRIBE and UNSUBSCRIBE sent again: 3.1 accepts them; 3.1.1
        // and 5.0 still refuse [MQTT-2.1.3-1].
        for first in [0x6A, 0x8A, 0xAA, 0x80, 0x41, 0xC8] {
            let h = FixedHeader::parse_in(&[first, 0x00], ProtocolVersion::V31)
                .unwrap()
                .unwrap();
            assert_eq!(h.flags, first & 0x0F);
            for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
                assert!(matches!(
                    FixedHeader::parse_in(&[first, 0x00], version),
                    Err(Error::ReservedFlags { .. })
                ));
            }
        }
        // AUTH does not exist in 3.1.
        assert_eq!(
            FixedHeader::parse_in(&[0xF0, 0x00], ProtocolVersion::V31),
            Err(Error::InvalidPacketType(15))
        );
    }
}
