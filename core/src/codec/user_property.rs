//! User Properties (0x26): application name/value pairs, kept in order
//! with duplicates, as the specification requires.

use alloc::vec::Vec;
use bytes::Bytes;

use super::property::{share, BlockIter, PropertyId, PropertyValue};
use super::string::MqttString;

/// One User Property: a UTF-8 string pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserProperty {
    /// The name.
    pub key: MqttString,
    /// The value.
    pub value: MqttString,
}

impl UserProperty {
    /// A pair from two strings, validated.
    pub fn new(key: &str, value: &str) -> Result<Self, super::Error> {
        Ok(UserProperty {
            key: MqttString::from_str(key)?,
            value: MqttString::from_str(value)?,
        })
    }
}

/// A borrowed view of a packet's User Properties: over the validated wire
/// bytes (after decoding), over owned pairs (when encoding an owned
/// packet), or over a slice of `(&str, &str)` (allocation-free encoding).
#[derive(Clone, Copy, Default)]
pub struct UserPropertiesRef<'a> {
    repr: Repr<'a>,
}

#[derive(Clone, Copy)]
enum Repr<'a> {
    Block { block: &'a [u8], count: usize },
    Owned(&'a [UserProperty]),
    Pairs(&'a [(&'a str, &'a str)]),
}

impl Default for Repr<'_> {
    fn default() -> Self {
        Repr::Pairs(&[])
    }
}

impl<'a> UserPropertiesRef<'a> {
    /// A view over `(name, value)` pairs. Strings are checked when encoding.
    pub const fn from_pairs(pairs: &'a [(&'a str, &'a str)]) -> Self {
        UserPropertiesRef {
            repr: Repr::Pairs(pairs),
        }
    }

    /// A view over owned pairs.
    pub const fn from_owned(props: &'a [UserProperty]) -> Self {
        UserPropertiesRef {
            repr: Repr::Owned(props),
        }
    }

    pub(crate) const fn from_block(block: &'a [u8], count: usize) -> Self {
        UserPropertiesRef {
            repr: Repr::Block { block, count },
        }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        match self.repr {
            Repr::Block { count, .. } => count,
            Repr::Owned(p) => p.len(),
            Repr::Pairs(p) => p.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pairs, in order.
    pub fn iter(&self) -> UserPropertiesIter<'a> {
        UserPropertiesIter {
            inner: match self.repr {
                Repr::Block { block, .. } => {
                    IterRepr::Block(BlockIter::new(block, PropertyId::UserProperty))
                }
                Repr::Owned(p) => IterRepr::Owned(p.iter()),
                Repr::Pairs(p) => IterRepr::Pairs(p.iter()),
            },
        }
    }

    /// Owned pairs, sharing bytes with `src` where possible.
    pub(crate) fn owned_in(&self, src: &Bytes) -> Vec<UserProperty> {
        if let Repr::Owned(p) = self.repr {
            return p.to_vec();
        }
        let mut out = Vec::with_capacity(self.len());
        for (k, v) in self.iter() {
            out.push(UserProperty {
                key: MqttString::from_validated(share(src, k.as_bytes())),
                value: MqttString::from_validated(share(src, v.as_bytes())),
            });
        }
        out
    }
}

impl core::fmt::Debug for UserPropertiesRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for UserPropertiesRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// Iterator over `(name, value)` pairs of a [`UserPropertiesRef`].
#[derive(Debug, Clone)]
pub struct UserPropertiesIter<'a> {
    inner: IterRepr<'a>,
}

#[derive(Debug, Clone)]
enum IterRepr<'a> {
    Block(BlockIter<'a>),
    Owned(core::slice::Iter<'a, UserProperty>),
    Pairs(core::slice::Iter<'a, (&'a str, &'a str)>),
}

impl<'a> Iterator for UserPropertiesIter<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        match &mut self.inner {
            IterRepr::Block(it) => match it.next()? {
                PropertyValue::Utf8StringPair(k, v) => Some((k, v)),
                _ => None,
            },
            IterRepr::Owned(it) => it.next().map(|p| (p.key.as_str(), p.value.as_str())),
            IterRepr::Pairs(it) => it.next().copied(),
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
