//! User Properties (0x26): application name/value pairs, kept in order
//! with duplicates, as the specification requires.

use bytes::Bytes;

use super::property::{list_view_impls, share, BlockIter, PropertyId, PropertyValue};
use super::string::{MqttStr, MqttString};

/// One User Property: a UTF-8 string pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserProperty {
    /// The name.
    pub key: MqttString,
    /// The value.
    pub value: MqttString,
}

impl UserProperty {
    /// A pair of validated strings, shared with `src` where they lie in it.
    pub(crate) fn shared(key: MqttStr<'_>, value: MqttStr<'_>, src: &Bytes) -> Self {
        UserProperty {
            key: MqttString::from_validated(share(src, key.as_bytes())),
            value: MqttString::from_validated(share(src, value.as_bytes())),
        }
    }

    /// A pair from two strings, validated.
    pub fn new(key: &str, value: &str) -> Result<Self, super::Error> {
        Ok(UserProperty {
            key: MqttString::from_str(key)?,
            value: MqttString::from_str(value)?,
        })
    }
}

/// A borrowed view of a packet's User Properties: over the validated wire
/// bytes (after decoding) or over owned pairs.
#[derive(Clone, Copy, Default)]
pub struct UserPropertiesRef<'a> {
    repr: Repr<'a>,
}

#[derive(Clone, Copy)]
enum Repr<'a> {
    Block(&'a [u8]),
    Owned(&'a [UserProperty]),
}

impl Default for Repr<'_> {
    fn default() -> Self {
        Repr::Block(&[])
    }
}

impl<'a> UserPropertiesRef<'a> {
    /// A view over owned pairs.
    pub const fn from_owned(props: &'a [UserProperty]) -> Self {
        UserPropertiesRef {
            repr: Repr::Owned(props),
        }
    }

    pub(crate) const fn from_block(block: &'a [u8]) -> Self {
        UserPropertiesRef {
            repr: Repr::Block(block),
        }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        match self.repr {
            Repr::Block(_) => self.iter().count(),
            Repr::Owned(p) => p.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The pairs, in order.
    pub fn iter(&self) -> UserPropertiesIter<'a> {
        UserPropertiesIter {
            inner: match self.repr {
                Repr::Block(block) => {
                    IterRepr::Block(BlockIter::new(block, PropertyId::UserProperty))
                }
                Repr::Owned(p) => IterRepr::Owned(p.iter()),
            },
        }
    }
}

list_view_impls!(
    UserPropertiesRef,
    UserPropertiesIter,
    (MqttStr<'a>, MqttStr<'a>)
);

/// Iterator over `(name, value)` pairs of a [`UserPropertiesRef`].
#[derive(Debug, Clone)]
pub struct UserPropertiesIter<'a> {
    inner: IterRepr<'a>,
}

#[derive(Debug, Clone)]
enum IterRepr<'a> {
    Block(BlockIter<'a>),
    Owned(core::slice::Iter<'a, UserProperty>),
}

impl<'a> Iterator for UserPropertiesIter<'a> {
    type Item = (MqttStr<'a>, MqttStr<'a>);
    fn next(&mut self) -> Option<(MqttStr<'a>, MqttStr<'a>)> {
        match &mut self.inner {
            IterRepr::Block(it) => match it.next()? {
                PropertyValue::Utf8StringPair(k, v) => Some((k, v)),
                _ => None,
            },
            IterRepr::Owned(it) => it
                .next()
                .map(|p| (p.key.as_mqtt_str(), p.value.as_mqtt_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::codec::{DecodeOptions, Packet, ProtocolVersion};
    use bytes::{Bytes, BytesMut};

    #[test]
    fn user_properties_keep_order_and_duplicates() {
        // PUBLISH "t" with User Properties (b,2), (a,1), (b,2), (a,3), in that order.
        let pairs = [("b", "2"), ("a", "1"), ("b", "2"), ("a", "3")];
        let mut props = alloc::vec::Vec::new();
        for (k, v) in pairs {
            props.extend_from_slice(&[0x26, 0, 1, k.as_bytes()[0], 0, 1, v.as_bytes()[0]]);
        }
        let mut bytes = alloc::vec![0x30, 0, 0, 1, b't', props.len() as u8];
        bytes.extend_from_slice(&props);
        bytes[1] = (bytes.len() - 2) as u8;
        let mut buf = Bytes::from(bytes.clone());
        let Some(Packet::Publish(p)) =
            Packet::decode(&mut buf, &DecodeOptions::new(ProtocolVersion::V5)).unwrap()
        else {
            panic!("not a PUBLISH");
        };
        let got: alloc::vec::Vec<(&str, &str)> = p
            .properties
            .user_properties
            .iter()
            .map(|u| (u.key.as_str(), u.value.as_str()))
            .collect();
        assert_eq!(got, pairs);
        // And they are written back in the same order.
        let mut out = BytesMut::new();
        Packet::Publish(p)
            .encode(ProtocolVersion::V5, &mut out)
            .unwrap();
        assert_eq!(&out[..], &bytes[..]);
    }
}
