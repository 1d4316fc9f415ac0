//! [`Decoder`]: a streaming decoder for a byte stream in any chunking.

use bytes::BytesMut;

use super::error::Error;
use super::fixed_header::{FixedHeader, PacketType};
use super::packet::{check_header, decode_whole, DecodeOptions, Packet, PacketRef};
use super::version::ProtocolVersion;

/// The most the decoder reserves ahead of received bytes for a packet in
/// progress.
const RESERVE_STEP: usize = 64 * 1024;

/// Turns a stream of bytes, fed in any chunking, into packets.
///
/// Bytes are appended once to an internal buffer and never copied again;
/// a complete packet is split off that buffer and decoded in place, so its
/// topic and payload share the buffer's storage. The maximum packet size is
/// checked as soon as the fixed header is complete (at most five bytes),
/// before the body is buffered; and the buffer grows with the bytes that
/// actually arrive (at most 64 KiB ahead), not with the size a header
/// claims.
///
/// After an error the stream is no longer framed; the connection should be
/// closed (with DISCONNECT and [`Error::reason_code`] in 5.0).
///
/// ```
/// use mqtt_core::codec::{Decoder, DecodeOptions, Packet, ProtocolVersion};
/// let mut decoder = Decoder::new(DecodeOptions::new(ProtocolVersion::V311));
/// decoder.feed(&[0xC0]); // PINGREQ, first byte
/// assert_eq!(decoder.next_packet(), Ok(None));
/// decoder.feed(&[0x00]);
/// assert_eq!(decoder.next_packet(), Ok(Some(Packet::PingReq)));
/// ```
#[derive(Debug)]
pub struct Decoder {
    options: DecodeOptions,
    buf: BytesMut,
    header: Option<FixedHeader>,
}

/// Below this many spare bytes after the last complete packet, the input
/// buffer is handed over with the packet rather than split (see
/// [`Decoder::next_packet`]).
const SMALL_TAIL: usize = 64;

impl Decoder {
    /// A decoder with these options.
    pub fn new(options: DecodeOptions) -> Self {
        Decoder {
            options,
            buf: BytesMut::new(),
            header: None,
        }
    }

    /// The options in force.
    pub fn options(&self) -> &DecodeOptions {
        &self.options
    }

    /// Changes the protocol version (e.g. once CONNECT or CONNACK settled
    /// it); applies to packets not yet decoded.
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.options = self.options.with_version(version);
    }

    /// Changes the maximum packet size (0 for no limit).
    pub fn set_max_packet_size(&mut self, max: u32) {
        self.options = self.options.with_max_packet_size(max);
    }

    /// Appends received bytes. Call [`next_packet`](Self::next_packet)
    /// until it returns `Ok(None)` afterwards.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next packet if it is a four-byte PUBACK, PUBREC, PUBREL or
    /// PUBCOMP (reason Success, no properties: what servers send for each
    /// message in the usual case), as its type and packet identifier,
    /// without building a [`Packet`]. `None` for anything else (a partial
    /// packet included), which [`next_packet`](Self::next_packet) then
    /// decodes and validates.
    pub(crate) fn next_plain_ack(&mut self) -> Option<(PacketType, u16)> {
        if self.header.is_some() || self.options.max_packet_size() < 4 {
            return None;
        }
        let [first, 2, hi, lo, ..] = self.buf[..] else {
            return None;
        };
        let packet_type = match first {
            0x40 => PacketType::PubAck,
            0x50 => PacketType::PubRec,
            0x62 => PacketType::PubRel,
            0x70 => PacketType::PubComp,
            _ => return None,
        };
        let packet_id = u16::from_be_bytes([hi, lo]);
        if packet_id == 0 {
            return None; // [MQTT-2.2.1-3]: next_packet reports it
        }
        bytes::Buf::advance(&mut self.buf, 4);
        Some((packet_type, packet_id))
    }

    /// The next complete packet, `Ok(None)` if more bytes are needed.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, Error> {
        let header = match self.header {
            Some(h) => h,
            None => match check_header(&self.buf, &self.options)? {
                Some(h) => {
                    self.header = Some(h);
                    h
                }
                None => return Ok(None),
            },
        };
        let len = header.packet_len();
        if self.buf.len() < len {
            // Reserve for what is still missing, but never more than
            // RESERVE_STEP ahead of the bytes actually received: a header
            // claiming a huge (allowed) size must not make us allocate it
            // before the peer sends it.
            self.buf.reserve((len - self.buf.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        self.header = None;
        if len - usize::from(header.header_len) <= 3 && header.packet_type != PacketType::Publish {
            // Too short for a string, a binary field or a property block
            // (acks, PINGRESP, ...): nothing can share the buffer, so it
            // is decoded in place, sparing the split and its refcounting.
            let body = &self.buf[usize::from(header.header_len)..len];
            let packet =
                PacketRef::decode_body(&header, body, &self.options).map(|p| p.into_owned());
            bytes::Buf::advance(&mut self.buf, len);
            return packet.map(Some);
        }
        let whole = if self.buf.len() == len && self.buf.capacity() - len < SMALL_TAIL {
            // The packet ends the buffer and the room after it is not
            // worth keeping: hand the buffer over whole, so that a quiet
            // connection holds no input buffer (a split would keep an
            // empty view of it, and a shared header, alive).
            core::mem::take(&mut self.buf).freeze()
        } else {
            self.buf.split_to(len).freeze()
        };
        decode_whole(&header, &whole, &self.options).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_acks_are_taken_whole_and_anything_else_left_to_next_packet() {
        let mut d = Decoder::new(DecodeOptions::new(ProtocolVersion::V5));
        d.feed(&[0x40, 0x02, 0x00, 0x07, 0x62, 0x02, 0x01, 0x00, 0x40]);
        assert_eq!(d.next_plain_ack(), Some((PacketType::PubAck, 7)));
        assert_eq!(d.next_plain_ack(), Some((PacketType::PubRel, 256)));
        // A partial packet, then a 5.0 PUBACK with a reason code.
        assert_eq!(d.next_plain_ack(), None);
        d.feed(&[0x03, 0x00, 0x08, 0x10]);
        assert_eq!(d.next_plain_ack(), None);
        assert!(matches!(d.next_packet(), Ok(Some(Packet::PubAck(a))) if a.packet_id == 8));
        // Packet identifier 0 and PUBREL without its flags stay errors.
        d.feed(&[0x40, 0x02, 0x00, 0x00]);
        assert_eq!(d.next_plain_ack(), None);
        assert!(d.next_packet().is_err());
        let mut d = Decoder::new(DecodeOptions::new(ProtocolVersion::V311));
        d.feed(&[0x60, 0x02, 0x00, 0x01]);
        assert_eq!(d.next_plain_ack(), None);
        assert!(d.next_packet().is_err());
    }

    #[test]
    fn a_header_claiming_the_maximum_does_not_allocate_it() {
        // No limit set: the protocol maximum (256 MiB) is allowed, but only
        // what arrives is buffered.
        let mut d = Decoder::new(DecodeOptions::new(ProtocolVersion::V5));
        d.feed(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00]);
        assert_eq!(d.next_packet(), Ok(None));
        assert!(
            d.buf.capacity() <= RESERVE_STEP + 64,
            "capacity {}",
            d.buf.capacity()
        );
    }
}
