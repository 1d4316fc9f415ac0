//! [`MqttString`]: an owned, shareable MQTT UTF-8 string.

use alloc::string::String;
use bytes::Bytes;

use super::error::Error;
use super::wire::check_utf8;

/// [MQTT-1.5.4-2]: no U+0000 in a string (a `&str` is UTF-8 already).
fn check_no_nul(s: &str) -> Result<(), Error> {
    if s.as_bytes().contains(&0) {
        Err(Error::NullCharacter)
    } else {
        Ok(())
    }
}

/// An MQTT UTF-8 encoded string (spec 1.5.4) held in [`Bytes`], so that a
/// decoded string is a zero-copy slice of the packet it came from.
///
/// The invariant, checked on construction: well-formed UTF-8 without
/// surrogates [MQTT-1.5.4-1] and without U+0000 [MQTT-1.5.4-2]. The 65,535
/// byte limit is checked when encoding.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MqttString(Bytes);

impl MqttString {
    /// The empty string.
    pub const fn new() -> Self {
        MqttString(Bytes::new())
    }

    /// A string from a `&'static str`, without copying.
    pub fn from_static(s: &'static str) -> Result<Self, Error> {
        check_no_nul(s)?;
        Ok(MqttString(Bytes::from_static(s.as_bytes())))
    }

    /// A string from bytes, validated.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, Error> {
        check_utf8(&bytes)?;
        Ok(MqttString(bytes))
    }

    /// A string from a `&str`, copied.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(s: &str) -> Result<Self, Error> {
        check_no_nul(s)?;
        Ok(MqttString(Bytes::copy_from_slice(s.as_bytes())))
    }

    /// Wraps bytes the codec has already validated.
    pub(crate) const fn from_validated(bytes: Bytes) -> Self {
        MqttString(bytes)
    }

    /// The string. Re-checks UTF-8 (a few nanoseconds for a topic) because
    /// the crate forbids `unsafe`; use [`as_bytes`](Self::as_bytes) on hot
    /// paths that work on bytes.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// A borrowed [`MqttStr`] of this string, without any check.
    pub fn as_mqtt_str(&self) -> MqttStr<'_> {
        MqttStr(&self.0)
    }

    /// The string's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying shared buffer.
    pub fn as_shared(&self) -> &Bytes {
        &self.0
    }

    /// The underlying shared buffer, by value.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for MqttString {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl core::fmt::Display for MqttString {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<&str> for MqttString {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        MqttString::from_str(s)
    }
}

impl TryFrom<String> for MqttString {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        check_no_nul(&s)?;
        Ok(MqttString(Bytes::from(s.into_bytes())))
    }
}

impl TryFrom<Bytes> for MqttString {
    type Error = Error;
    fn try_from(b: Bytes) -> Result<Self, Error> {
        MqttString::from_bytes(b)
    }
}

impl PartialEq<str> for MqttString {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for MqttString {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl AsRef<[u8]> for MqttString {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// A borrowed MQTT UTF-8 string: the bytes of a string known to be
/// well-formed UTF-8 without U+0000, as views carry them. Decoding
/// validates once; encoding trusts the type and only checks the length.
///
/// ```
/// use mqtt_core::codec::MqttStr;
/// let s = MqttStr::new("a/b").unwrap();
/// assert_eq!(s.as_str(), "a/b");
/// assert!(MqttStr::new("a\0b").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MqttStr<'a>(&'a [u8]);

impl<'a> MqttStr<'a> {
    /// The empty string.
    pub const EMPTY: MqttStr<'static> = MqttStr(&[]);

    /// A string from a `&str`, checked for U+0000 [MQTT-1.5.4-2].
    pub fn new(s: &'a str) -> Result<Self, Error> {
        check_no_nul(s)?;
        Ok(MqttStr(s.as_bytes()))
    }

    /// A string from bytes, validated as a decoder would.
    pub fn from_utf8(bytes: &'a [u8]) -> Result<Self, Error> {
        check_utf8(bytes)?;
        Ok(MqttStr(bytes))
    }

    /// Wraps bytes the codec has already validated.
    pub(crate) const fn from_validated(bytes: &'a [u8]) -> Self {
        MqttStr(bytes)
    }

    /// The string. Re-checks UTF-8 (the crate forbids `unsafe`); use
    /// [`as_bytes`](Self::as_bytes) where bytes will do.
    pub fn as_str(&self) -> &'a str {
        core::str::from_utf8(self.0).unwrap_or_default()
    }

    /// The string's bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for MqttStr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl core::fmt::Display for MqttStr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for MqttStr<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for MqttStr<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl<'a> From<&'a MqttString> for MqttStr<'a> {
    fn from(s: &'a MqttString) -> Self {
        s.as_mqtt_str()
    }
}

impl<'a> TryFrom<&'a str> for MqttStr<'a> {
    type Error = Error;
    fn try_from(s: &'a str) -> Result<Self, Error> {
        MqttStr::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn construction_validates_nul_and_utf8() {
        // [MQTT-1.5.4-2]
        assert_eq!(MqttString::from_str("a\0b"), Err(Error::NullCharacter));
        // [MQTT-1.5.4-1]
        assert_eq!(
            MqttString::from_bytes(Bytes::from_static(&[0xC0, 0x80])),
            Err(Error::InvalidUtf8)
        );
        let s = MqttString::from_str("héllo").unwrap();
        assert_eq!(s.as_str(), "héllo");
        assert_eq!(s, "héllo");
        assert_eq!(s.len(), 6);
    }
}
