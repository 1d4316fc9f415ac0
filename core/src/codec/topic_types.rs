//! Validated topic names and topic filters: checked once, when built or
//! decoded, and trusted by the encoder afterwards.
//!
//! [`TopicName`] and [`TopicFilter`] own their bytes ([`Bytes`], so a
//! decoded one is a slice of the packet it came from); [`TopicNameRef`] and
//! [`TopicFilterRef`] borrow them. Every constructor checks the rules of
//! [`crate::topic`] (and well-formed UTF-8 [MQTT-1.5.4-1]), so a value of
//! these types is always valid and encoding it needs no second pass over
//! its bytes. The one exception is the empty [`TopicName`]
//! ([`TopicName::EMPTY`], the default), which a 5.0 PUBLISH carries when a
//! Topic Alias stands for its topic [MQTT-3.3.2-1]: the encoder accepts it
//! only with a Topic Alias.

use alloc::string::String;
use bytes::Bytes;

use super::error::Error;
use super::string::{MqttStr, MqttString};
use crate::topic::{check_topic_filter_bytes, check_topic_name_bytes, scan_topic};

/// Well-formed UTF-8 [MQTT-1.5.4-1] (a `&str` already is).
fn check_utf8_only(bytes: &[u8]) -> Result<(), Error> {
    let (non_ascii, _, _) = scan_topic(bytes);
    if non_ascii && core::str::from_utf8(bytes).is_err() {
        return Err(Error::InvalidUtf8);
    }
    Ok(())
}

fn check_name(bytes: &[u8]) -> Result<(), Error> {
    check_topic_name_bytes(bytes).map_err(Error::InvalidTopicName)
}

fn check_filter(bytes: &[u8]) -> Result<(), Error> {
    check_topic_filter_bytes(bytes).map_err(Error::InvalidTopicFilter)
}

macro_rules! topic_type {
    (
        $(#[$odoc:meta])* owned $Owned:ident;
        $(#[$rdoc:meta])* view $Ref:ident;
        check $check:path;
    ) => {
        $(#[$odoc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $Owned(Bytes);

        $(#[$rdoc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $Ref<'a>(&'a [u8]);

        impl $Owned {
            /// From a `&str`, validated and copied.
            #[allow(clippy::should_implement_trait)]
            pub fn from_str(s: &str) -> Result<Self, Error> {
                $check(s.as_bytes())?;
                Ok($Owned(Bytes::copy_from_slice(s.as_bytes())))
            }

            /// From a `&'static str`, validated, without copying.
            pub fn from_static(s: &'static str) -> Result<Self, Error> {
                $check(s.as_bytes())?;
                Ok($Owned(Bytes::from_static(s.as_bytes())))
            }

            /// From bytes, validated (UTF-8 included), without copying.
            pub fn from_bytes(bytes: Bytes) -> Result<Self, Error> {
                check_utf8_only(&bytes)?;
                $check(&bytes)?;
                Ok($Owned(bytes))
            }

            /// Wraps bytes the codec has already validated.
            #[inline]
            pub(crate) const fn from_validated(bytes: Bytes) -> Self {
                $Owned(bytes)
            }

            /// A borrowed view.
            #[inline]
            pub fn as_view(&self) -> $Ref<'_> {
                $Ref(&self.0)
            }

            /// As a plain [`MqttStr`].
            #[inline]
            pub fn as_mqtt_str(&self) -> MqttStr<'_> {
                MqttStr::from_validated(&self.0)
            }

            /// The string. Re-checks UTF-8 (the crate forbids `unsafe`);
            /// use [`as_bytes`](Self::as_bytes) where bytes will do.
            pub fn as_str(&self) -> &str {
                core::str::from_utf8(&self.0).unwrap_or_default()
            }

            /// The bytes.
            #[inline]
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
            #[inline]
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether it is empty.
            #[inline]
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl<'a> $Ref<'a> {
            /// From a `&str`, validated.
            pub fn new(s: &'a str) -> Result<Self, Error> {
                $check(s.as_bytes())?;
                Ok($Ref(s.as_bytes()))
            }

            /// From bytes, validated (UTF-8 included).
            pub fn from_utf8(bytes: &'a [u8]) -> Result<Self, Error> {
                check_utf8_only(bytes)?;
                $check(bytes)?;
                Ok($Ref(bytes))
            }

            /// Wraps bytes the codec has already validated.
            #[inline]
            pub(crate) const fn from_validated(bytes: &'a [u8]) -> Self {
                $Ref(bytes)
            }

            /// As a plain [`MqttStr`].
            #[inline]
            pub const fn as_mqtt_str(&self) -> MqttStr<'a> {
                MqttStr::from_validated(self.0)
            }

            /// The string. Re-checks UTF-8 (the crate forbids `unsafe`).
            pub fn as_str(&self) -> &'a str {
                core::str::from_utf8(self.0).unwrap_or_default()
            }

            /// The bytes.
            #[inline]
            pub const fn as_bytes(&self) -> &'a [u8] {
                self.0
            }

            /// Length in bytes.
            #[inline]
            pub const fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether it is empty.
            #[inline]
            pub const fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl core::fmt::Debug for $Owned {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl core::fmt::Display for $Owned {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl core::fmt::Debug for $Ref<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl core::fmt::Display for $Ref<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<&str> for $Owned {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self, Error> {
                $Owned::from_str(s)
            }
        }

        impl TryFrom<String> for $Owned {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                $check(s.as_bytes())?;
                Ok($Owned(Bytes::from(s.into_bytes())))
            }
        }

        impl TryFrom<Bytes> for $Owned {
            type Error = Error;
            fn try_from(b: Bytes) -> Result<Self, Error> {
                $Owned::from_bytes(b)
            }
        }

        impl TryFrom<MqttString> for $Owned {
            type Error = Error;
            /// Checks the topic rules (the string is UTF-8 already).
            fn try_from(s: MqttString) -> Result<Self, Error> {
                $check(s.as_bytes())?;
                Ok($Owned(s.into_bytes()))
            }
        }

        impl From<$Owned> for MqttString {
            fn from(t: $Owned) -> MqttString {
                MqttString::from_validated(t.0)
            }
        }

        impl<'a> TryFrom<&'a str> for $Ref<'a> {
            type Error = Error;
            fn try_from(s: &'a str) -> Result<Self, Error> {
                $Ref::new(s)
            }
        }

        impl<'a> TryFrom<MqttStr<'a>> for $Ref<'a> {
            type Error = Error;
            /// Checks the topic rules (the string is UTF-8 already).
            fn try_from(s: MqttStr<'a>) -> Result<Self, Error> {
                $check(s.as_bytes())?;
                Ok($Ref(s.as_bytes()))
            }
        }

        impl<'a> From<&'a $Owned> for $Ref<'a> {
            fn from(t: &'a $Owned) -> Self {
                t.as_view()
            }
        }

        impl<'a> From<$Ref<'a>> for MqttStr<'a> {
            fn from(t: $Ref<'a>) -> Self {
                t.as_mqtt_str()
            }
        }

        impl PartialEq<str> for $Owned {
            fn eq(&self, other: &str) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }

        impl PartialEq<&str> for $Owned {
            fn eq(&self, other: &&str) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }

        impl PartialEq<str> for $Ref<'_> {
            fn eq(&self, other: &str) -> bool {
                self.0 == other.as_bytes()
            }
        }

        impl PartialEq<&str> for $Ref<'_> {
            fn eq(&self, other: &&str) -> bool {
                self.0 == other.as_bytes()
            }
        }

        impl AsRef<[u8]> for $Owned {
            fn as_ref(&self) -> &[u8] {
                self.as_bytes()
            }
        }
    };
}

topic_type! {
    /// A topic name (spec 4.7): the topic of a PUBLISH, validated when
    /// built or decoded: well-formed UTF-8 [MQTT-1.5.4-1], at most 65,535
    /// bytes [MQTT-4.7.3-3], no U+0000 [MQTT-4.7.3-2], no wildcard
    /// [MQTT-3.3.2-2]. Shares its buffer like [`MqttString`].
    ///
    /// Every constructor rejects the empty string [MQTT-4.7.3-1]; the empty
    /// name exists only as [`TopicName::EMPTY`] (the default), for a 5.0
    /// PUBLISH whose Topic Alias stands for its topic.
    ///
    /// ```
    /// use mqtt_core::codec::TopicName;
    /// assert!(TopicName::from_str("sensors/1/temp").is_ok());
    /// assert!(TopicName::from_str("sensors/+/temp").is_err());
    /// assert!(TopicName::from_str("").is_err());
    /// ```
    owned TopicName;
    /// A borrowed [`TopicName`], with the same guarantees.
    view TopicNameRef;
    check check_name;
}

topic_type! {
    /// A topic filter (spec 4.7) as SUBSCRIBE carries it, validated when
    /// built or decoded: well-formed UTF-8 [MQTT-1.5.4-1], non-empty
    /// [MQTT-4.7.3-1], at most 65,535 bytes [MQTT-4.7.3-3], no U+0000
    /// [MQTT-4.7.3-2], wildcards placed as [MQTT-4.7.1-1] and
    /// [MQTT-4.7.1-2] require, and a well-formed `$share/` prefix
    /// [MQTT-4.8.2-1] [MQTT-4.8.2-2]. Shares its buffer like
    /// [`MqttString`].
    ///
    /// ```
    /// use mqtt_core::codec::TopicFilter;
    /// assert!(TopicFilter::from_str("sensors/+/temp").is_ok());
    /// assert!(TopicFilter::from_str("sensors/#/temp").is_err());
    /// ```
    owned TopicFilter;
    /// A borrowed [`TopicFilter`], with the same guarantees.
    view TopicFilterRef;
    check check_filter;
}

impl TopicName {
    /// The empty name: only for a 5.0 PUBLISH with a Topic Alias
    /// [MQTT-3.3.2-1] (the encoder rejects it otherwise).
    pub const EMPTY: TopicName = TopicName(Bytes::new());
}

impl Default for TopicName {
    /// [`TopicName::EMPTY`].
    fn default() -> Self {
        TopicName::EMPTY
    }
}

impl TopicNameRef<'_> {
    /// The empty name (see [`TopicName::EMPTY`]).
    pub const EMPTY: TopicNameRef<'static> = TopicNameRef(&[]);
}

impl Default for TopicNameRef<'_> {
    /// [`TopicNameRef::EMPTY`].
    fn default() -> Self {
        TopicNameRef(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::TopicError;

    #[test]
    fn names_are_validated_on_construction() {
        // [MQTT-3.3.2-2], [MQTT-4.7.3-1], [MQTT-4.7.3-2], [MQTT-1.5.4-1]
        assert_eq!(
            TopicName::from_str("a/+"),
            Err(Error::InvalidTopicName(TopicError::WildcardInName))
        );
        assert_eq!(
            TopicName::from_str(""),
            Err(Error::InvalidTopicName(TopicError::Empty))
        );
        assert_eq!(
            TopicNameRef::new("a\0"),
            Err(Error::InvalidTopicName(TopicError::NullCharacter))
        );
        assert_eq!(
            TopicName::from_bytes(Bytes::from_static(&[0xC0, 0x80])),
            Err(Error::InvalidUtf8)
        );
        let t = TopicName::from_static("a/b").unwrap();
        assert_eq!(t, "a/b");
        assert_eq!(t.as_view(), "a/b");
        assert!(TopicName::default().is_empty());
    }

    #[test]
    fn filters_are_validated_on_construction() {
        // [MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.8.2-2]
        assert_eq!(
            TopicFilter::from_str("a/#/b"),
            Err(Error::InvalidTopicFilter(
                TopicError::MisplacedMultiLevelWildcard
            ))
        );
        assert_eq!(
            TopicFilterRef::new("a+"),
            Err(Error::InvalidTopicFilter(
                TopicError::MisplacedSingleLevelWildcard
            ))
        );
        assert_eq!(
            TopicFilter::from_str("$share/g"),
            Err(Error::InvalidTopicFilter(TopicError::EmptySharedFilter))
        );
        assert!(TopicFilter::from_str("$share/g/a/+").is_ok());
        assert!(TopicFilterRef::try_from(MqttStr::new("a/#").unwrap()).is_ok());
    }
}
