//! UNSUBSCRIBE (spec 3.10): a client removes one or more subscriptions,
//! naming their topic filters.

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::property::{list_view_impls, properties, share, Context};
use super::string::{MqttStr, MqttString};
use super::version::ProtocolVersion;
use super::wire::{put_binary, string_len, Reader};
use crate::topic::{check_topic_filter_bytes, validate_topic_filter};

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
    Strs(&'a [MqttStr<'a>]),
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

    /// A view over borrowed strings.
    pub const fn from_strs(filters: &'a [MqttStr<'a>]) -> Self {
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
            check_topic_filter_bytes(filter.as_bytes()).map_err(Error::InvalidTopicFilter)?;
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
        if let FiltersRepr::Block { payload, .. } = self.repr {
            return Ok(payload.len()); // validated when decoded
        }
        let mut len = 0usize;
        for filter in self.iter() {
            len += string_len(filter)?;
            check_topic_filter_bytes(filter.as_bytes()).map_err(Error::InvalidTopicFilter)?;
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
    fn owned_in(self, src: &Bytes) -> Vec<MqttString> {
        if let FiltersRepr::Owned(f) = self.repr {
            return f.to_vec();
        }
        self.iter()
            .map(|filter| MqttString::from_validated(share(src, filter.as_bytes())))
            .collect()
    }
}

list_view_impls!(TopicFiltersRef, TopicFiltersIter, MqttStr<'a>);

/// Iterator over the filters of a [`TopicFiltersRef`].
#[derive(Debug, Clone)]
pub struct TopicFiltersIter<'a> {
    inner: FiltersIterRepr<'a>,
}

#[derive(Debug, Clone)]
enum FiltersIterRepr<'a> {
    Block { reader: Reader<'a>, left: usize },
    Owned(core::slice::Iter<'a, MqttString>),
    Strs(core::slice::Iter<'a, MqttStr<'a>>),
}

impl<'a> Iterator for TopicFiltersIter<'a> {
    type Item = MqttStr<'a>;

    fn next(&mut self) -> Option<MqttStr<'a>> {
        match &mut self.inner {
            FiltersIterRepr::Block { reader, left } => {
                // Validated when decoded, so this never fails; if it
                // somehow did, iteration simply ends.
                let filter = MqttStr::from_validated(reader.binary().ok()?);
                *left = left.saturating_sub(1);
                Some(filter)
            }
            FiltersIterRepr::Owned(it) => it.next().map(MqttString::as_mqtt_str),
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
        let (props, props_len) = self.properties.sized_for(version)?;
        remaining += props_len;
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

    // `&self` like every view in the codec (the dispatch in packet.rs).
    pub(crate) fn owned_in(&self, src: &Bytes) -> Unsubscribe {
        Unsubscribe {
            packet_id: self.packet_id,
            properties: self.properties.owned_in(src),
            filters: self.filters.owned_in(src),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{self, assert_encode_err, assert_err, decode, encode, golden};
    use crate::codec::{PacketRef, PropertyId, ReasonCode, UserProperty};
    use crate::topic::TopicError;
    use alloc::vec;
    use ProtocolVersion::{V311, V5};

    /// A whole UNSUBSCRIBE packet around `body` (remaining length < 128).
    fn packet(body: &[u8]) -> Vec<u8> {
        testing::packet::<Unsubscribe>(body)
    }

    fn filters(list: &[&str]) -> Vec<MqttString> {
        list.iter()
            .map(|f| MqttString::from_str(f).unwrap())
            .collect()
    }

    const V311_LARGE: [u8; 14] = [
        0xA2, 0x0C, // UNSUBSCRIBE (flags 0010), remaining length 12
        0x00, 0x0A, // packet identifier 10
        0x00, 0x03, b'a', b'/', b'b', // "a/b"
        0x00, 0x03, b'c', b'/', b'd', // "c/d"
    ];

    #[test]
    fn golden_v311_smallest() {
        let unsub = Unsubscribe::single(1, "a").unwrap();
        golden(&unsub, V311, &[0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, b'a']);
    }

    #[test]
    fn golden_v311_spec_example_two_filters() {
        let unsub = Unsubscribe::new(10, filters(&["a/b", "c/d"]));
        golden(&unsub, V311, &V311_LARGE);
    }

    #[test]
    fn golden_v5_smallest() {
        let unsub = Unsubscribe::single(1, "a").unwrap();
        golden(
            &unsub,
            V5,
            &[0xA2, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, b'a'],
        );
    }

    #[test]
    fn golden_v5_with_user_property_and_three_filters() {
        let mut unsub = Unsubscribe::new(0x1234, filters(&["a/b", "$share/g/#", "+/+/#"]));
        unsub
            .properties
            .user_properties
            .push(UserProperty::new("k", "v").unwrap());
        golden(
            &unsub,
            V5,
            &[
                0xA2, 0x22, // UNSUBSCRIBE, remaining length 34
                0x12, 0x34, // packet identifier
                0x07, // property length 7
                0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property
                0x00, 0x03, b'a', b'/', b'b', // "a/b"
                0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', b'#', 0x00, 0x05,
                b'+', b'/', b'+', b'/', b'#', // "+/+/#"
            ],
        );
    }

    #[test]
    fn borrowed_filters_encode_without_owned_data() {
        let list = [MqttStr::new("a/b").unwrap(), MqttStr::new("c/d").unwrap()];
        let view = UnsubscribeRef {
            packet_id: 10,
            properties: UnsubscribePropertiesRef::default(),
            filters: TopicFiltersRef::from_strs(&list),
        };
        let mut out = [0u8; 32];
        let n = PacketRef::Unsubscribe(view)
            .encode_to_slice(V311, &mut out)
            .unwrap();
        assert_eq!(&out[..n], &V311_LARGE);

        let (decoded, _) = PacketRef::decode(&V311_LARGE, &DecodeOptions::new(V311))
            .unwrap()
            .unwrap();
        let PacketRef::Unsubscribe(decoded) = decoded else {
            panic!("expected UNSUBSCRIBE");
        };
        assert_eq!(decoded.filters.iter().collect::<Vec<_>>(), list);
        assert_eq!(decoded.filters.iter().len(), 2);
        assert_eq!(decoded.filters, view.filters);
    }

    // [MQTT-2.2.1-3]
    #[test]
    fn packet_identifier_zero_is_a_protocol_error_mqtt_2_2_1_3() {
        assert_err(
            &packet(&[0, 0, 0, 1, b'a']),
            V311,
            Error::InvalidPacketIdentifier,
            ReasonCode::ProtocolError,
        );
        assert_err(
            &packet(&[0, 0, 0, 0, 1, b'a']),
            V5,
            Error::InvalidPacketIdentifier,
            ReasonCode::ProtocolError,
        );
        assert_encode_err(
            &Unsubscribe::single(0, "a").unwrap(),
            V5,
            Error::InvalidPacketIdentifier,
        );
    }

    // [MQTT-3.10.3-2] at least one topic filter.
    #[test]
    fn unsubscribe_without_topic_filter_is_a_protocol_error_mqtt_3_10_3_2() {
        assert_err(
            &packet(&[0, 1]),
            V311,
            Error::EmptyUnsubscribe,
            ReasonCode::ProtocolError,
        );
        assert_err(
            &packet(&[0, 1, 0]),
            V5,
            Error::EmptyUnsubscribe,
            ReasonCode::ProtocolError,
        );
        assert_encode_err(&Unsubscribe::new(1, vec![]), V311, Error::EmptyUnsubscribe);
    }

    // [MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.3-1]: filters are validated;
    // a server answers 0x8F.
    #[test]
    fn invalid_topic_filter_is_rejected_with_0x8f_mqtt_4_7_1_1() {
        assert_err(
            &packet(&[0, 1, 0, 3, b'a', b'/', b'#', 0, 3, b'#', b'/', b'a']),
            V311,
            Error::InvalidTopicFilter(TopicError::MisplacedMultiLevelWildcard),
            ReasonCode::TopicFilterInvalid,
        );
        assert_err(
            &packet(&[0, 1, 0, 0, 0]),
            V5,
            Error::InvalidTopicFilter(TopicError::Empty),
            ReasonCode::TopicFilterInvalid,
        );
        assert_encode_err(
            &Unsubscribe::new(1, filters(&["a", "b+"])),
            V5,
            Error::InvalidTopicFilter(TopicError::MisplacedSingleLevelWildcard),
        );
        assert_eq!(
            Unsubscribe::single(1, "$share/g"),
            Err(Error::InvalidTopicFilter(TopicError::EmptySharedFilter))
        );
    }

    // [MQTT-3.10.3-1] topic filters are UTF-8 encoded strings.
    #[test]
    fn topic_filter_not_utf8_is_malformed_mqtt_3_10_3_1() {
        assert_err(
            &packet(&[0, 1, 0, 2, 0xC0, 0x80]),
            V311,
            Error::InvalidUtf8,
            ReasonCode::MalformedPacket,
        );
    }

    #[test]
    fn filter_cut_short_is_truncated() {
        assert_err(
            &packet(&[0, 1, 0, 1, b'a', 0]),
            V311,
            Error::Truncated,
            ReasonCode::MalformedPacket,
        );
        assert_err(
            &packet(&[0, 1, 0, 0, 4, b'a']),
            V5,
            Error::Truncated,
            ReasonCode::MalformedPacket,
        );
    }

    // 5.0 3.10.2.1: UNSUBSCRIBE carries only User Properties; 2.2.2.2:
    // another is a Malformed Packet.
    #[test]
    fn property_not_allowed_in_unsubscribe_is_malformed() {
        assert_err(
            &packet(&[0, 1, 2, 0x0B, 0x01, 0, 1, b'a']),
            V5,
            Error::PropertyNotAllowed {
                property: PropertyId::SubscriptionIdentifier,
                packet: PacketType::Unsubscribe,
            },
            ReasonCode::MalformedPacket,
        );
    }

    #[test]
    fn properties_cannot_be_encoded_for_v311() {
        let mut unsub = Unsubscribe::single(1, "a").unwrap();
        unsub
            .properties
            .user_properties
            .push(UserProperty::new("k", "v").unwrap());
        assert_encode_err(&unsub, V311, Error::PropertiesInV311);
        assert_eq!(
            decode::<Unsubscribe>(&encode(&unsub, V5).unwrap(), V5).unwrap(),
            unsub
        );
    }
}
