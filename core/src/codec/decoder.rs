//! [`Decoder`]: a streaming decoder for a byte stream in any chunking.

use bytes::BytesMut;

use super::error::Error;
use super::fixed_header::FixedHeader;
use super::packet::{check_header, decode_whole, DecodeOptions, Packet};
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
        let whole = self.buf.split_to(len).freeze();
        decode_whole(&header, &whole, &self.options).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
