//! Wire primitives of spec section 1.5: integers, variable byte integers,
//! UTF-8 strings and binary data. [`Reader`] reads them from a complete
//! packet body without copying; the `put_*` functions write them into any
//! [`BufMut`] after the caller has sized and validated the packet.

use bytes::BufMut;

use super::error::Error;
use super::string::MqttStr;

/// The largest value a variable byte integer can carry.
pub const MAX_VARIABLE_INTEGER: u32 = 268_435_455;

/// A cursor over a complete packet body. Every read checks bounds and
/// returns [`Error::Truncated`] rather than panicking.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails with [`Error::TrailingBytes`] unless everything was read.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes)
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        let (&b, rest) = self.buf.split_first().ok_or(Error::Truncated)?;
        self.buf = rest;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A variable byte integer of at most four bytes, in the minimum number
    /// of bytes [MQTT-1.5.5-1] (variable byte integers inside a packet body
    /// exist only in 5.0, which requires both).
    pub(crate) fn varint(&mut self) -> Result<u32, Error> {
        let mut value = 0u32;
        for i in 0..4 {
            let byte = self.u8()?;
            value |= u32::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                if i + 1 != varint_len(value) {
                    return Err(Error::MalformedVariableInteger);
                }
                return Ok(value);
            }
        }
        Err(Error::MalformedVariableInteger)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.buf.len() {
            return Err(Error::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// Two-byte length followed by that many bytes (spec 1.5.6).
    pub(crate) fn binary(&mut self) -> Result<&'a [u8], Error> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 encoded string (spec 1.5.4), validated: well-formed, no
    /// surrogates [MQTT-1.5.4-1], no U+0000 [MQTT-1.5.4-2].
    pub(crate) fn string(&mut self) -> Result<MqttStr<'a>, Error> {
        let bytes = self.binary()?;
        check_utf8(bytes)?;
        Ok(MqttStr::from_validated(bytes))
    }
}

/// Validates an MQTT UTF-8 string's bytes: well-formed UTF-8 without
/// surrogates [MQTT-1.5.4-1] (checked first), then no U+0000
/// [MQTT-1.5.4-2]. ASCII needs one pass.
#[inline]
pub(crate) fn check_utf8(bytes: &[u8]) -> Result<(), Error> {
    // The same one-pass scanner as topic names (its wildcard flag unused).
    let (non_ascii, nul, _) = crate::topic::scan_topic(bytes);
    // `from_utf8` rejects ill-formed sequences and encoded surrogates.
    if non_ascii && core::str::from_utf8(bytes).is_err() {
        return Err(Error::InvalidUtf8);
    }
    if nul {
        return Err(Error::NullCharacter);
    }
    Ok(())
}

/// The size of `value` as a variable byte integer (1 to 4).
pub(crate) const fn varint_len(value: u32) -> usize {
    if value < 0x80 {
        1
    } else if value < 0x4000 {
        2
    } else if value < 0x20_0000 {
        3
    } else {
        4
    }
}

/// A fixed header (first byte, then the remaining length as a variable
/// byte integer) in the low bytes of a little-endian word, and its size (2
/// to 5). Built in a register: written at once, it is read back without a
/// store-forwarding stall. `remaining` must be at most
/// [`MAX_VARIABLE_INTEGER`].
#[inline]
pub(crate) const fn head_word(first: u8, mut remaining: u32) -> (u64, usize) {
    let mut word = first as u64;
    let mut n = 1;
    loop {
        let byte = (remaining & 0x7F) as u64;
        remaining >>= 7;
        if remaining == 0 || n == 4 {
            word |= byte << (8 * n);
            return (word, n + 1);
        }
        word |= (byte | 0x80) << (8 * n);
        n += 1;
    }
}

/// Copies `src` into `dst` (of the same length); short strings (topic
/// filters, topic names) without a call to `memcpy`.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n > 16 || dst.len() != n {
        dst.copy_from_slice(src);
    } else if n >= 8 {
        // Two overlapping eight-byte words.
        let a = u64::from_ne_bytes(src[..8].try_into().unwrap_or_default());
        let b = u64::from_ne_bytes(src[n - 8..].try_into().unwrap_or_default());
        dst[..8].copy_from_slice(&a.to_ne_bytes());
        dst[n - 8..].copy_from_slice(&b.to_ne_bytes());
    } else if n >= 4 {
        let a = u32::from_ne_bytes(src[..4].try_into().unwrap_or_default());
        let b = u32::from_ne_bytes(src[n - 4..].try_into().unwrap_or_default());
        dst[..4].copy_from_slice(&a.to_ne_bytes());
        dst[n - 4..].copy_from_slice(&b.to_ne_bytes());
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

/// Writes a variable byte integer; `value` must be at most
/// [`MAX_VARIABLE_INTEGER`] (checked while sizing).
pub(crate) fn put_varint<B: BufMut>(buf: &mut B, mut value: u32) {
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            buf.put_u8(byte);
            return;
        }
        buf.put_u8(byte | 0x80);
    }
}

/// The encoded size of a string or binary field, checking the 65,535-byte
/// limit.
pub(crate) fn binary_len(bytes: &[u8]) -> Result<usize, Error> {
    if bytes.len() > usize::from(u16::MAX) {
        Err(Error::FieldTooLong)
    } else {
        Ok(2 + bytes.len())
    }
}

/// The encoded size of a string (valid by its type), checking its length.
#[inline]
pub(crate) fn string_len(s: MqttStr<'_>) -> Result<usize, Error> {
    binary_len(s.as_bytes())
}

/// Writes a length-prefixed field already checked by [`binary_len`].
pub(crate) fn put_binary<B: BufMut>(buf: &mut B, bytes: &[u8]) {
    buf.put_u16(bytes.len() as u16);
    buf.put_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn varint_boundaries_round_trip() {
        for (value, len) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (2_097_151, 3),
            (2_097_152, 4),
            (MAX_VARIABLE_INTEGER, 4),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), len);
            let (word, n) = head_word(0x30, value);
            assert_eq!(n, len + 1);
            assert_eq!(&word.to_le_bytes()[1..n], &out[..]);
            assert_eq!(word.to_le_bytes()[0], 0x30);
            assert_eq!(varint_len(value), len);
            assert_eq!(Reader::new(&out).varint(), Ok(value));
        }
    }

    #[test]
    fn copy_short_copies_every_length() {
        let src: Vec<u8> = (0..40).collect();
        for n in 0..40 {
            let mut dst = alloc::vec![0xFFu8; n];
            copy_short(&mut dst, &src[..n]);
            assert_eq!(dst, &src[..n]);
        }
    }

    #[test]
    fn varint_in_more_bytes_than_needed_is_malformed() {
        // [MQTT-1.5.5-1] "MUST use the minimum number of bytes".
        for bytes in [
            &[0x81, 0x00][..],
            &[0x80, 0x80, 0x00],
            &[0xFF, 0x80, 0x80, 0x00],
        ] {
            assert_eq!(
                Reader::new(bytes).varint(),
                Err(Error::MalformedVariableInteger),
                "{bytes:02X?}"
            );
        }
        assert_eq!(Reader::new(&[0x80, 0x01]).varint(), Ok(128));
    }

    #[test]
    fn varint_with_fifth_byte_is_malformed() {
        // [MQTT-1.5.5-1] at most four bytes.
        assert_eq!(
            Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x01]).varint(),
            Err(Error::MalformedVariableInteger)
        );
    }

    #[test]
    fn strings_reject_bad_utf8_surrogates_and_nul() {
        // [MQTT-1.5.4-1] ill-formed UTF-8 and U+D800 encoded as ED A0 80.
        assert_eq!(Reader::new(&[0, 1, 0xFF]).string(), Err(Error::InvalidUtf8));
        assert_eq!(
            Reader::new(&[0, 2, 0xFF, 0]).string(),
            Err(Error::InvalidUtf8)
        );
        assert_eq!(
            Reader::new(&[0, 3, 0xED, 0xA0, 0x80]).string(),
            Err(Error::InvalidUtf8)
        );
        // [MQTT-1.5.4-2] U+0000.
        assert_eq!(
            Reader::new(&[0, 3, b'a', 0, b'b']).string(),
            Err(Error::NullCharacter)
        );
        // [MQTT-1.5.4-3] a BOM-looking U+FEFF is kept, not stripped.
        assert_eq!(
            Reader::new(&[0, 3, 0xEF, 0xBB, 0xBF]).string(),
            Ok(MqttStr::from_validated("\u{FEFF}".as_bytes()))
        );
    }

    #[test]
    fn short_reads_are_truncated_not_panics() {
        assert_eq!(Reader::new(&[0]).u16(), Err(Error::Truncated));
        assert_eq!(Reader::new(&[0, 5, b'a']).binary(), Err(Error::Truncated));
        assert_eq!(Reader::new(&[1, 2, 3]).u32(), Err(Error::Truncated));
    }
}
