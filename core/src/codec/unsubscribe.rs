//! UNSUBSCRIBE (spec 3.10): a client removes one or more subscriptions,
//! naming their topic filters.

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::property::{properties, share, with_len_prefix, Context};
use super::string::MqttString;
use super::version::ProtocolVersion;
use super::wire::{put_binary, string_len, Reader};
use crate::topic::validate_topic_filter;

pub use props::{UnsubscribeProperties, UnsubscribePropertiesRef};

/// The property set, in a module of its own: with no field besides the
/// User Properties, some of the macro's generic code goes unused.
mod props {
    #![allow(unused_imports, unused_variables)]

    use super::{properties, Context, PacketType};

    properties! {
        /// UNSUBSCRIBE properties (spec 3.10.2.1): User Properties only.
        owned UnsubscribeProperties;
        /// A borrowed view of [`UnsubscribeProperties`].
        view UnsubscribePropertiesRef;
        context Context::packet(PacketType::Unsubscribe);
    }
}

/// The topic filters of an UNSUBSCRIBE as a borrowed list: over the
/// validated payload bytes (after decoding), over owned strings, or over a
/// slice of `&str` (allocation-free encoding; checked when encoding).
#[derive(Clone, Copy, Default)]
pub struct TopicFiltersRef<'a> {
    repr: FiltersRepr<'a>,
}

#[derive(Clone, Copy)]
enum FiltersRepr<'a> {
    Block { payload: &'a [u8], count: usize },
    Owned(&'a [MqttString]),
    Strs(&'a [&'a str]),
}

impl Default for FiltersRepr<'_> {
    fn default() -> Self {
        FiltersRepr::Strs(&[])
    }
}

impl<'a> TopicFiltersRef<'a> {
    /// A view over owned strings.
    pub const fn from_owned(filters: &'a [MqttString]) -> Self {
        TopicFiltersRef {
            repr: FiltersRepr::Owned(filters),
        }
    }

    /// A view over string slices.
    pub const fn from_strs(filters: &'a [&'a str]) -> Self {
        TopicFiltersRef {
            repr: FiltersRepr::Strs(filters),
        }
    }

    /// Validates an UNSUBSCRIBE payload and returns a view over it.
    /// Iterating the view afterwards cannot fail.
    fn read(payload: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(payload);
        let mut count = 0usize;
        while !r.is_empty() {
            let filter = r.string()?; // [MQTT-3.10.3-1]
            validate_topic_filter(filter).map_err(Error::InvalidTopicFilter)?;
            count += 1;
        }
        Ok(TopicFiltersRef {
            repr: FiltersRepr::Block { payload, count },
        })
    }

    /// Number of filters.
    pub fn len(&self) -> usize {
        match self.repr {
            FiltersRepr::Block { count, .. } => count,
            FiltersRepr::Owned(f) => f.len(),
            FiltersRepr::Strs(f) => f.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The filters, in order.
    pub fn iter(&self) -> TopicFiltersIter<'a> {
        TopicFiltersIter {
            inner: match self.repr {
                FiltersRepr::Block { payload, count } => FiltersIterRepr::Block {
                    reader: Reader::new(payload),
                    left: count,
                },
                FiltersRepr::Owned(f) => FiltersIterRepr::Owned(f.iter()),
                FiltersRepr::Strs(f) => FiltersIterRepr::Strs(f.iter()),
            },
        }
    }

    /// The payload size, validating every filter.
    fn encoded_len(&self) -> Result<usize, Error> {
        let mut len = 0usize;
        for filter in self.iter() {
            len += string_len(filter)?;
            validate_topic_filter(filter).map_err(Error::InvalidTopicFilter)?;
        }
        Ok(len)
    }

    fn put<B: BufMut>(&self, buf: &mut B) {
        if let FiltersRepr::Block { payload, .. } = self.repr {
            buf.put_slice(payload);
            return;
        }
        for filter in self.iter() {
            put_binary(buf, filter.as_bytes());
        }
    }

    /// Owned strings, sharing bytes with `src` where possible.
    fn to_owned_in(&self, src: &Bytes) -> Vec<MqttString> {
        if let FiltersRepr::Owned(f) = self.repr {
            return f.to_vec();
        }
        self.iter()
            .map(|filter| MqttString::from_validated(share(src, filter.as_bytes())))
            .collect()
    }
}

impl<'a> IntoIterator for TopicFiltersRef<'a> {
    type Item = &'a str;
    type IntoIter = TopicFiltersIter<'a>;
    fn into_iter(self) -> TopicFiltersIter<'a> {
        self.iter()
    }
}

impl core::fmt::Debug for TopicFiltersRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for TopicFiltersRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// Iterator over the filters of a [`TopicFiltersRef`].
#[derive(Debug, Clone)]
pub struct TopicFiltersIter<'a> {
    inner: FiltersIterRepr<'a>,
}

#[derive(Debug, Clone)]
enum FiltersIterRepr<'a> {
    Block { reader: Reader<'a>, left: usize },
    Owned(core::slice::Iter<'a, MqttString>),
    Strs(core::slice::Iter<'a, &'a str>),
}

impl<'a> Iterator for TopicFiltersIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match &mut self.inner {
            FiltersIterRepr::Block { reader, left } => {
                // Validated when decoded, so this never fails; if it
                // somehow did, iteration simply ends.
                let filter = reader.string().ok()?;
                *left = left.saturating_sub(1);
                Some(filter)
            }
            FiltersIterRepr::Owned(it) => it.next().map(MqttString::as_str),
            FiltersIterRepr::Strs(it) => it.next().copied(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.inner {
            FiltersIterRepr::Block { left, .. } => *left,
            FiltersIterRepr::Owned(it) => it.len(),
            FiltersIterRepr::Strs(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for TopicFiltersIter<'_> {}

/// An UNSUBSCRIBE packet: at least one topic filter [MQTT-3.10.3-2].
/// Filter strings of a decoded packet share the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier, never 0 [MQTT-2.2.1-3].
    pub packet_id: u16,
    /// 5.0 properties; empty in 3.1.1.
    pub properties: UnsubscribeProperties,
    /// The topic filters to remove, in order.
    pub filters: Vec<MqttString>,
}

/// A borrowed view of an [`Unsubscribe`], decoded or encoded without
/// allocating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnsubscribeRef<'a> {
    /// Packet identifier.
    pub packet_id: u16,
    /// 5.0 properties.
    pub properties: UnsubscribePropertiesRef<'a>,
    /// The topic filters.
    pub filters: TopicFiltersRef<'a>,
}

impl Unsubscribe {
    /// An UNSUBSCRIBE of `filters` without properties. Validity (a non-zero
    /// packet identifier, at least one valid filter) is checked when
    /// encoding.
    pub fn new(packet_id: u16, filters: Vec<MqttString>) -> Self {
        Unsubscribe {
            packet_id,
            properties: UnsubscribeProperties::default(),
            filters,
        }
    }

    /// An UNSUBSCRIBE of one valid topic filter.
    ///
    /// ```
    /// use mqtt_core::codec::Unsubscribe;
    /// let unsub = Unsubscribe::single(2, "sensors/#").unwrap();
    /// assert_eq!(unsub.filters[0], "sensors/#");
    /// ```
    pub fn single(packet_id: u16, filter: &str) -> Result<Self, Error> {
        validate_topic_filter(filter).map_err(Error::InvalidTopicFilter)?;
        Ok(Unsubscribe::new(
            packet_id,
            alloc::vec![MqttString::from_str(filter)?],
        ))
    }

    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> UnsubscribeRef<'_> {
        UnsubscribeRef {
            packet_id: self.packet_id,
            properties: self.properties.as_view(),
            filters: TopicFiltersRef::from_owned(&self.filters),
        }
    }
}

impl<'a> UnsubscribeRef<'a> {
    pub(crate) fn decode(body: &'a [u8], opts: &DecodeOptions) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let packet_id = r.u16()?;
        if packet_id == 0 {
            return Err(Error::InvalidPacketIdentifier); // [MQTT-2.2.1-3]
        }
        let properties = if opts.version().is_v5() {
            UnsubscribePropertiesRef::read(&mut r)?
        } else {
            UnsubscribePropertiesRef::default()
        };
        let filters = TopicFiltersRef::read(r.rest())?;
        if filters.is_empty() {
            return Err(Error::EmptyUnsubscribe); // [MQTT-3.10.3-2]
        }
        Ok(UnsubscribeRef {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn sizes(&self, version: ProtocolVersion) -> Result<Sizes, Error> {
        if self.packet_id == 0 {
            return Err(Error::InvalidPacketIdentifier);
        }
        if self.filters.is_empty() {
            return Err(Error::EmptyUnsubscribe);
        }
        let mut remaining = 2 + self.filters.encoded_len()?;
        let props = if version.is_v5() {
            let props = self.properties.block_len()?;
            remaining += with_len_prefix(props)?;
            props
        } else if !self.properties.is_empty() {
            return Err(Error::PropertiesInV311);
        } else {
            0
        };
        Ok(Sizes {
            remaining,
            props,
            ..Sizes::default()
        })
    }

    pub(crate) fn put<B: BufMut>(&self, version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
        buf.put_u16(self.packet_id);
        if version.is_v5() {
            self.properties.put(buf, sizes.props);
        }
        self.filters.put(buf);
    }

    pub(crate) fn to_owned_in(&self, src: &Bytes) -> Unsubscribe {
        Unsubscribe {
            packet_id: self.packet_id,
            properties: self.properties.to_owned_in(src),
            filters: self.filters.to_owned_in(src),
        }
    }
}
