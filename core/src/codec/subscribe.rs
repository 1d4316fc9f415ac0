//! SUBSCRIBE (spec 3.8): a client asks for one or more subscriptions, each
//! a topic filter with its subscription options.

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{packet_slice, total_len};
use super::packet::{DecodeOptions, Sizes};
use super::property::{list_view_impls, properties, share, Context};
use super::topic_types::{TopicFilter, TopicFilterRef};
use super::version::{ProtocolVersion, QoS};
use super::wire::{copy_short, head_word, put_binary, Reader};
use crate::topic::check_topic_filter_bytes;

properties! {
    /// SUBSCRIBE properties (spec 3.8.2.1).
    owned SubscribeProperties;
    /// A borrowed view of [`SubscribeProperties`].
    view SubscribePropertiesRef;
    context Context::packet(PacketType::Subscribe);
    /// Subscription Identifier (1 to 268,435,455), attached to the
    /// messages this subscription delivers. At most one.
    subscription_identifier: VarInt = SubscriptionIdentifier,
}

/// What the server does with retained messages when a subscription is
/// made (5.0 subscription options bits 4 and 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send retained messages only if the subscription did not exist.
    SendAtSubscribeIfNew = 1,
    /// 2: do not send retained messages at the time of the subscribe.
    DoNotSend = 2,
}

impl RetainHandling {
    /// The value for its two-bit field; `None` for 3, a Protocol Error.
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(RetainHandling::SendAtSubscribe),
            1 => Some(RetainHandling::SendAtSubscribeIfNew),
            2 => Some(RetainHandling::DoNotSend),
            _ => None,
        }
    }

    /// The numeric value (0, 1 or 2).
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

/// The subscription options byte of a SUBSCRIBE payload entry (spec
/// 3.8.3.1). In 3.1.1 only the QoS exists; the other fields must keep
/// their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the server may use to deliver (the requested QoS in
    /// 3.1.1).
    pub qos: QoS,
    /// No Local (5.0): do not deliver this client's own publications.
    /// Not allowed on a shared subscription [MQTT-3.8.3-4].
    pub no_local: bool,
    /// Retain As Published (5.0): keep the RETAIN flag of forwarded
    /// messages instead of clearing it.
    pub retain_as_published: bool,
    /// Retain Handling (5.0): whether retained messages are sent when the
    /// subscription is made.
    pub retain_handling: RetainHandling,
}

const QOS_MASK: u8 = 0b0000_0011;
const NO_LOCAL: u8 = 0b0000_0100;
const RETAIN_AS_PUBLISHED: u8 = 0b0000_1000;
const RETAIN_HANDLING_SHIFT: u8 = 4;
const RETAIN_HANDLING_MASK: u8 = 0b0011_0000;
/// Bits 6 and 7, reserved in 5.0 [MQTT-3.8.3-5].
const V5_RESERVED: u8 = 0b1100_0000;
/// Bits 2 to 7, reserved in 3.1.1 ([MQTT-3.8.3-4] of 3.1.1).
const V311_RESERVED: u8 = 0b1111_1100;

impl SubscriptionOptions {
    /// Options with the given maximum QoS and every other field at its
    /// default (the only form 3.1.1 can carry).
    pub const fn new(qos: QoS) -> Self {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }

    /// Sets No Local (5.0).
    pub const fn with_no_local(mut self, no_local: bool) -> Self {
        self.no_local = no_local;
        self
    }

    /// Sets Retain As Published (5.0).
    pub const fn with_retain_as_published(mut self, retain_as_published: bool) -> Self {
        self.retain_as_published = retain_as_published;
        self
    }

    /// Sets Retain Handling (5.0).
    pub const fn with_retain_handling(mut self, retain_handling: RetainHandling) -> Self {
        self.retain_handling = retain_handling;
        self
    }

    /// Parses the options byte as `version` defines it.
    ///
    /// Reserved bits set give [`Error::InvalidSubscriptionOptions`]
    /// (bits 2-7 in 3.1.1, [MQTT-3.8.3-4] of 3.1.1; bits 6-7 in 5.0,
    /// [MQTT-3.8.3-5]); so does a QoS of 3 in 3.1.1 (the same 3.1.1
    /// rule: malformed), while in 5.0 it is [`Error::InvalidSubscriptionQoS`]
    /// (a Protocol Error, 5.0 3.8.3.1); a Retain Handling of 3 gives
    /// [`Error::InvalidRetainHandling`].
    pub fn from_byte(byte: u8, version: ProtocolVersion) -> Result<Self, Error> {
        let reserved = if version.is_v5() {
            V5_RESERVED
        } else {
            V311_RESERVED
        };
        if byte & reserved != 0 {
            return Err(Error::InvalidSubscriptionOptions);
        }
        let qos = QoS::from_u8(byte & QOS_MASK).ok_or(if version.is_v5() {
            Error::InvalidSubscriptionQoS
        } else {
            Error::InvalidSubscriptionOptions
        })?;
        let retain_handling =
            RetainHandling::from_u8((byte & RETAIN_HANDLING_MASK) >> RETAIN_HANDLING_SHIFT)
                .ok_or(Error::InvalidRetainHandling)?;
        Ok(SubscriptionOptions {
            qos,
            no_local: byte & NO_LOCAL != 0,
            retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
            retain_handling,
        })
    }

    /// The options byte (5.0 layout; for options valid in 3.1.1 it is also
    /// the 3.1.1 byte).
    pub const fn to_byte(&self) -> u8 {
        let mut byte = self.qos.as_u8() | (self.retain_handling.as_u8() << RETAIN_HANDLING_SHIFT);
        if self.no_local {
            byte |= NO_LOCAL;
        }
        if self.retain_as_published {
            byte |= RETAIN_AS_PUBLISHED;
        }
        byte
    }

    /// Splits a byte already validated by [`from_byte`](Self::from_byte).
    fn from_validated(byte: u8) -> Self {
        SubscriptionOptions::from_byte(byte, ProtocolVersion::V5).unwrap_or_default()
    }
}

/// One entry of a SUBSCRIBE payload: a topic filter and its options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscribeFilter {
    /// The topic filter, possibly a `$share/{ShareName}/{filter}`
    /// (validated by its type).
    pub filter: TopicFilter,
    /// The subscription options.
    pub options: SubscriptionOptions,
}

/// A borrowed [`SubscribeFilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscribeFilterRef<'a> {
    /// The topic filter (validated by its type).
    pub filter: TopicFilterRef<'a>,
    /// The subscription options.
    pub options: SubscriptionOptions,
}

impl SubscribeFilter {
    /// A filter with its options; the filter is validated as a topic
    /// filter ([`Error::InvalidTopicFilter`]).
    pub fn new(filter: &str, options: SubscriptionOptions) -> Result<Self, Error> {
        Ok(SubscribeFilter {
            filter: TopicFilter::from_str(filter)?,
            options,
        })
    }

    /// A borrowed view.
    #[inline]
    pub fn as_view(&self) -> SubscribeFilterRef<'_> {
        SubscribeFilterRef {
            filter: self.filter.as_view(),
            options: self.options,
        }
    }
}

impl<'a> SubscribeFilterRef<'a> {
    /// A filter with its options (the options are checked when encoding).
    pub const fn new(filter: TopicFilterRef<'a>, options: SubscriptionOptions) -> Self {
        SubscribeFilterRef { filter, options }
    }
}

/// No No Local on a shared subscription [MQTT-3.8.3-4], in both
/// directions.
#[inline]
fn check_no_local(filter: &[u8], options: SubscriptionOptions) -> Result<(), Error> {
    if options.no_local && filter.starts_with(b"$share/") {
        return Err(Error::NoLocalOnSharedSubscription);
    }
    Ok(())
}

/// The topic filters of a SUBSCRIBE as a borrowed list: over the validated
/// payload bytes (after decoding), over owned entries, or over a slice of
/// [`SubscribeFilterRef`] (allocation-free encoding). Entries of the last
/// two are checked when encoding.
#[derive(Clone, Copy, Default)]
pub struct SubscribeFiltersRef<'a> {
    repr: FiltersRepr<'a>,
}

#[derive(Clone, Copy)]
enum FiltersRepr<'a> {
    Block { payload: &'a [u8], count: usize },
    Owned(&'a [SubscribeFilter]),
    Refs(&'a [SubscribeFilterRef<'a>]),
}

impl Default for FiltersRepr<'_> {
    fn default() -> Self {
        FiltersRepr::Refs(&[])
    }
}

impl<'a> SubscribeFiltersRef<'a> {
    /// A view over owned entries.
    pub const fn from_owned(filters: &'a [SubscribeFilter]) -> Self {
        SubscribeFiltersRef {
            repr: FiltersRepr::Owned(filters),
        }
    }

    /// A view over borrowed entries.
    pub const fn from_refs(filters: &'a [SubscribeFilterRef<'a>]) -> Self {
        SubscribeFiltersRef {
            repr: FiltersRepr::Refs(filters),
        }
    }

    /// Validates a SUBSCRIBE payload for `version` and returns a view over
    /// it. Iterating the view afterwards cannot fail.
    fn read(payload: &'a [u8], version: ProtocolVersion) -> Result<Self, Error> {
        let mut r = Reader::new(payload);
        let mut count = 0usize;
        while !r.is_empty() {
            let filter = r.string()?; // [MQTT-3.8.3-1]
            let options = SubscriptionOptions::from_byte(r.u8()?, version)?;
            // A valid topic filter (0x8F).
            check_topic_filter_bytes(filter.as_bytes()).map_err(Error::InvalidTopicFilter)?;
            check_no_local(filter.as_bytes(), options)?;
            count += 1;
        }
        Ok(SubscribeFiltersRef {
            repr: FiltersRepr::Block { payload, count },
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match self.repr {
            FiltersRepr::Block { count, .. } => count,
            FiltersRepr::Owned(f) => f.len(),
            FiltersRepr::Refs(f) => f.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries, in order.
    pub fn iter(&self) -> SubscribeFiltersIter<'a> {
        SubscribeFiltersIter {
            inner: match self.repr {
                FiltersRepr::Block { payload, count } => FiltersIterRepr::Block {
                    reader: Reader::new(payload),
                    left: count,
                },
                FiltersRepr::Owned(f) => FiltersIterRepr::Owned(f.iter()),
                FiltersRepr::Refs(f) => FiltersIterRepr::Refs(f.iter()),
            },
        }
    }

    /// The payload size, validating every entry for `version` (one loop
    /// per representation, so that each is a tight loop over a slice).
    #[inline]
    fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, Error> {
        /// Branch-free over the entries: the sizes add up, the option
        /// bytes and the No Local rule accumulate, and the rules are
        /// checked once at the end (filters are valid by their type).
        #[inline(always)]
        fn sum<'b>(
            entries: impl Iterator<Item = SubscribeFilterRef<'b>>,
            version: ProtocolVersion,
        ) -> Result<usize, Error> {
            let mut len = 0usize;
            let mut bytes = 0u8;
            let mut no_local_shared = false;
            for entry in entries {
                len += 3 + entry.filter.len();
                bytes |= entry.options.to_byte();
                no_local_shared |=
                    entry.options.no_local && entry.filter.as_bytes().starts_with(b"$share/");
            }
            if !version.is_v5() && bytes & V311_RESERVED != 0 {
                return Err(Error::InvalidSubscriptionOptions);
            }
            if no_local_shared {
                return Err(Error::NoLocalOnSharedSubscription);
            }
            Ok(len)
        }
        match self.repr {
            FiltersRepr::Owned(f) => sum(f.iter().map(SubscribeFilter::as_view), version),
            FiltersRepr::Refs(f) => sum(f.iter().copied(), version),
            FiltersRepr::Block { .. } => sum(self.iter(), version),
        }
    }

    #[inline]
    fn put<B: BufMut>(&self, buf: &mut B) {
        #[inline(always)]
        fn put_all<'b, B: BufMut>(
            entries: impl Iterator<Item = SubscribeFilterRef<'b>>,
            buf: &mut B,
        ) {
            for entry in entries {
                put_binary(buf, entry.filter.as_bytes());
                buf.put_u8(entry.options.to_byte());
            }
        }
        match self.repr {
            FiltersRepr::Block { payload, .. } => buf.put_slice(payload),
            FiltersRepr::Owned(f) => put_all(f.iter().map(SubscribeFilter::as_view), buf),
            FiltersRepr::Refs(f) => put_all(f.iter().copied(), buf),
        }
    }

    /// Writes the payload into `out`, exactly its size (the encoders'
    /// hot path: index writes, short filters copied without `memcpy`).
    #[inline]
    fn write_to(&self, out: &mut [u8]) {
        #[inline(always)]
        fn write_all<'b>(entries: impl Iterator<Item = SubscribeFilterRef<'b>>, out: &mut [u8]) {
            let mut pos = 0;
            for entry in entries {
                let f = entry.filter.as_bytes();
                let Some(chunk) = out.get_mut(pos..pos + 3 + f.len()) else {
                    return; // sized beforehand: never
                };
                let (len, rest) = chunk.split_at_mut(2);
                len.copy_from_slice(&(f.len() as u16).to_be_bytes());
                let (filter, options) = rest.split_at_mut(f.len());
                copy_short(filter, f);
                if let Some(o) = options.first_mut() {
                    *o = entry.options.to_byte();
                }
                pos += 3 + f.len();
            }
        }
        match self.repr {
            FiltersRepr::Block { payload, .. } => {
                if let Some(out) = out.get_mut(..payload.len()) {
                    out.copy_from_slice(payload);
                }
            }
            FiltersRepr::Owned(f) => write_all(f.iter().map(SubscribeFilter::as_view), out),
            FiltersRepr::Refs(f) => write_all(f.iter().copied(), out),
        }
    }

    /// Owned entries, sharing the filter strings with `src` where possible.
    fn owned_in(self, src: &Bytes) -> Vec<SubscribeFilter> {
        if let FiltersRepr::Owned(f) = self.repr {
            return f.to_vec();
        }
        self.iter()
            .map(|entry| SubscribeFilter {
                filter: TopicFilter::from_validated(share(src, entry.filter.as_bytes())),
                options: entry.options,
            })
            .collect()
    }
}

list_view_impls!(
    SubscribeFiltersRef,
    SubscribeFiltersIter,
    SubscribeFilterRef<'a>
);

/// Iterator over the entries of a [`SubscribeFiltersRef`].
#[derive(Debug, Clone)]
pub struct SubscribeFiltersIter<'a> {
    inner: FiltersIterRepr<'a>,
}

#[derive(Debug, Clone)]
enum FiltersIterRepr<'a> {
    Block { reader: Reader<'a>, left: usize },
    Owned(core::slice::Iter<'a, SubscribeFilter>),
    Refs(core::slice::Iter<'a, SubscribeFilterRef<'a>>),
}

impl<'a> Iterator for SubscribeFiltersIter<'a> {
    type Item = SubscribeFilterRef<'a>;

    fn next(&mut self) -> Option<SubscribeFilterRef<'a>> {
        match &mut self.inner {
            FiltersIterRepr::Block { reader, left } => {
                // The payload was validated when decoded, so this never
                // fails; if it somehow did, iteration simply ends.
                let filter = TopicFilterRef::from_validated(reader.binary().ok()?);
                let options = SubscriptionOptions::from_validated(reader.u8().ok()?);
                *left = left.saturating_sub(1);
                Some(SubscribeFilterRef { filter, options })
            }
            FiltersIterRepr::Owned(it) => it.next().map(SubscribeFilter::as_view),
            FiltersIterRepr::Refs(it) => it.next().copied(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.inner {
            FiltersIterRepr::Block { left, .. } => *left,
            FiltersIterRepr::Owned(it) => it.len(),
            FiltersIterRepr::Refs(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for SubscribeFiltersIter<'_> {}

/// A SUBSCRIBE packet: at least one topic filter [MQTT-3.8.3-2], each with
/// its options. Filter strings of a decoded packet share the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier, never 0 [MQTT-2.2.1-3].
    pub packet_id: u16,
    /// 5.0 properties; empty in 3.1.1.
    pub properties: SubscribeProperties,
    /// The topic filters and their options, in order.
    pub filters: Vec<SubscribeFilter>,
}

/// A borrowed view of a [`Subscribe`], decoded or encoded without
/// allocating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubscribeRef<'a> {
    /// Packet identifier.
    pub packet_id: u16,
    /// 5.0 properties.
    pub properties: SubscribePropertiesRef<'a>,
    /// The topic filters and their options.
    pub filters: SubscribeFiltersRef<'a>,
}

impl Subscribe {
    /// A SUBSCRIBE of `filters` without properties. Validity (a non-zero
    /// packet identifier, at least one filter) is checked when encoding.
    pub fn new(packet_id: u16, filters: Vec<SubscribeFilter>) -> Self {
        Subscribe {
            packet_id,
            properties: SubscribeProperties::default(),
            filters,
        }
    }

    /// A SUBSCRIBE of one valid topic filter at `qos`, with default
    /// options.
    ///
    /// ```
    /// use mqtt_core::codec::{QoS, Subscribe};
    /// let sub = Subscribe::single(1, "sensors/+/temp", QoS::AtLeastOnce).unwrap();
    /// assert_eq!(sub.filters[0].filter, "sensors/+/temp");
    /// ```
    pub fn single(packet_id: u16, filter: &str, qos: QoS) -> Result<Self, Error> {
        let entry = SubscribeFilter::new(filter, SubscriptionOptions::new(qos))?;
        Ok(Subscribe::new(packet_id, alloc::vec![entry]))
    }

    /// Sets the Subscription Identifier (5.0; 1 to 268,435,455).
    pub fn with_subscription_identifier(mut self, id: u32) -> Self {
        self.properties.subscription_identifier = Some(id);
        self
    }

    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> SubscribeRef<'_> {
        SubscribeRef {
            packet_id: self.packet_id,
            properties: self.properties.as_view(),
            filters: SubscribeFiltersRef::from_owned(&self.filters),
        }
    }
}

impl<'a> SubscribeRef<'a> {
    pub(crate) fn decode(body: &'a [u8], opts: &DecodeOptions) -> Result<Self, Error> {
        let version = opts.version();
        let mut r = Reader::new(body);
        let packet_id = r.u16()?;
        if packet_id == 0 {
            return Err(Error::InvalidPacketIdentifier); // [MQTT-2.2.1-3]
        }
        let properties = if version.is_v5() {
            SubscribePropertiesRef::read(&mut r)?
        } else {
            SubscribePropertiesRef::default()
        };
        let filters = SubscribeFiltersRef::read(r.rest(), version)?;
        if filters.is_empty() {
            // [MQTT-3.8.3-2] (5.0), [MQTT-3.8.3-3] (3.1.1)
            return Err(Error::EmptySubscribe);
        }
        Ok(SubscribeRef {
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
            return Err(Error::EmptySubscribe);
        }
        let mut remaining = 2 + self.filters.encoded_len(version)?;
        let (props, props_len) = self.properties.sized_for(version)?;
        remaining += props_len;
        Ok(Sizes {
            remaining,
            props,
            ..Sizes::default()
        })
    }

    /// Writes the whole packet into `out`, exactly its size.
    #[inline]
    fn write_to(&self, version: ProtocolVersion, sizes: &Sizes, out: &mut [u8]) {
        let (word, n) = head_word(0x82, sizes.remaining as u32);
        let word = word | (u64::from(self.packet_id.swap_bytes()) << (8 * n));
        let head = word.to_le_bytes();
        let (start, mut rest) = out.split_at_mut(n + 2);
        start.copy_from_slice(&head[..n + 2]);
        if version.is_v5() {
            self.properties.put(&mut rest, sizes.props);
        }
        self.filters.write_to(rest);
    }

    /// Encodes at the end of `buf` (the hot path of
    /// [`PacketRef::encode`](super::PacketRef::encode)).
    #[inline]
    pub(crate) fn encode_bytes(
        &self,
        version: ProtocolVersion,
        buf: &mut bytes::BytesMut,
    ) -> Result<usize, Error> {
        let sizes = self.sizes(version)?;
        let len = total_len(sizes.remaining)?;
        let start = buf.len();
        buf.resize(start + len, 0);
        self.write_to(version, &sizes, &mut buf[start..]);
        Ok(len)
    }

    /// Encodes into the front of `out` (the hot path of
    /// [`PacketRef::encode_to_slice`](super::PacketRef::encode_to_slice)).
    #[inline]
    pub(crate) fn encode_slice(
        &self,
        version: ProtocolVersion,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let sizes = self.sizes(version)?;
        let out = packet_slice(out, sizes.remaining)?;
        let len = out.len();
        self.write_to(version, &sizes, out);
        Ok(len)
    }

    pub(crate) fn put<B: BufMut>(&self, version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
        buf.put_u16(self.packet_id);
        if version.is_v5() {
            self.properties.put(buf, sizes.props);
        }
        self.filters.put(buf);
    }

    // `&self` like every view in the codec (the dispatch in packet.rs).
    pub(crate) fn owned_in(&self, src: &Bytes) -> Subscribe {
        Subscribe {
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
    use crate::codec::{Packet, PacketRef, PropertyId, ReasonCode, UserProperty};
    use crate::topic::TopicError;
    use alloc::vec;
    use alloc::vec::Vec;
    use bytes::BytesMut;
    use ProtocolVersion::{V311, V5};

    /// A whole SUBSCRIBE packet around `body` (remaining length < 128).
    fn packet(body: &[u8]) -> Vec<u8> {
        testing::packet::<Subscribe>(body)
    }

    fn entry(filter: &str, options: SubscriptionOptions) -> SubscribeFilter {
        SubscribeFilter::new(filter, options).unwrap()
    }

    const V311_SMALLEST: [u8; 8] = [
        0x82, 0x06, // SUBSCRIBE (flags 0010), remaining length 6
        0x00, 0x01, // packet identifier 1
        0x00, 0x01, b'a', // topic filter "a"
        0x00, // requested QoS 0
    ];

    // The payload of the 3.1.1 specification's example (3.8.3): "a/b" at
    // QoS 1 and "c/d" at QoS 2.
    const V311_LARGE: [u8; 16] = [
        0x82, 0x0E, // SUBSCRIBE, remaining length 14
        0x00, 0x0A, // packet identifier 10
        0x00, 0x03, b'a', b'/', b'b', 0x01, // "a/b", QoS 1
        0x00, 0x03, b'c', b'/', b'd', 0x02, // "c/d", QoS 2
    ];

    const V5_SMALLEST: [u8; 9] = [
        0x82, 0x07, // SUBSCRIBE, remaining length 7
        0x00, 0x01, // packet identifier 1
        0x00, // property length 0
        0x00, 0x01, b'a', // topic filter "a"
        0x00, // options: QoS 0
    ];

    const V5_LARGE: [u8; 38] = [
        0x82, 0x24, // SUBSCRIBE, remaining length 36
        0x12, 0x34, // packet identifier 0x1234
        0x0A, // property length 10
        0x0B, 0xAC, 0x02, // Subscription Identifier 300
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property ("k", "v")
        0x00, 0x03, b'a', b'/', b'+', // "a/+"
        0x2D, // QoS 1, No Local, Retain As Published, Retain Handling 2
        0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/',
        b'#', // "$share/g/#"
        0x12, // QoS 2, Retain Handling 1
        0x00, 0x01, b'#', // "#"
        0x00, // QoS 0
    ];

    fn v5_large() -> Subscribe {
        let mut sub = Subscribe::new(
            0x1234,
            vec![
                entry(
                    "a/+",
                    SubscriptionOptions::new(QoS::AtLeastOnce)
                        .with_no_local(true)
                        .with_retain_as_published(true)
                        .with_retain_handling(RetainHandling::DoNotSend),
                ),
                entry(
                    "$share/g/#",
                    SubscriptionOptions::new(QoS::ExactlyOnce)
                        .with_retain_handling(RetainHandling::SendAtSubscribeIfNew),
                ),
                entry("#", SubscriptionOptions::default()),
            ],
        )
        .with_subscription_identifier(300);
        sub.properties
            .user_properties
            .push(UserProperty::new("k", "v").unwrap());
        sub
    }

    #[test]
    fn golden_v311_smallest() {
        let sub = Subscribe::single(1, "a", QoS::AtMostOnce).unwrap();
        golden(&sub, V311, &V311_SMALLEST);
    }

    #[test]
    fn golden_v311_spec_example_two_filters() {
        let sub = Subscribe::new(
            10,
            vec![
                entry("a/b", SubscriptionOptions::new(QoS::AtLeastOnce)),
                entry("c/d", SubscriptionOptions::new(QoS::ExactlyOnce)),
            ],
        );
        golden(&sub, V311, &V311_LARGE);
    }

    #[test]
    fn golden_v5_smallest() {
        let sub = Subscribe::single(1, "a", QoS::AtMostOnce).unwrap();
        golden(&sub, V5, &V5_SMALLEST);
    }

    #[test]
    fn golden_v5_with_properties_and_every_option() {
        golden(&v5_large(), V5, &V5_LARGE);
    }

    #[test]
    fn long_packet_uses_two_byte_remaining_length() {
        let filter = "f".repeat(200);
        let sub = Subscribe::single(7, &filter, QoS::AtLeastOnce).unwrap();
        let bytes = encode(&sub, V311).unwrap();
        // 2 (id) + 2 + 200 (filter) + 1 (QoS) = 205 = 0xCD 0x01.
        assert_eq!(&bytes[..5], &[0x82, 0xCD, 0x01, 0x00, 0x07]);
        assert_eq!(bytes.len(), 3 + 205);
        assert_eq!(decode::<Subscribe>(&bytes, V311).unwrap(), sub);
    }

    #[test]
    fn decoded_filters_share_the_input_buffer() {
        let mut buf = Bytes::copy_from_slice(&V5_LARGE);
        let whole = buf.clone();
        let Some(Packet::Subscribe(sub)) =
            Packet::decode(&mut buf, &DecodeOptions::new(V5)).unwrap()
        else {
            panic!("expected SUBSCRIBE");
        };
        let range = whole.as_ptr_range();
        for e in &sub.filters {
            assert!(range.contains(&e.filter.as_bytes().as_ptr()));
        }
    }

    #[test]
    fn borrowed_filters_encode_without_owned_data() {
        let entries = [
            SubscribeFilterRef::new(
                TopicFilterRef::new("a/b").unwrap(),
                SubscriptionOptions::new(QoS::AtLeastOnce),
            ),
            SubscribeFilterRef::new(
                TopicFilterRef::new("c/d").unwrap(),
                SubscriptionOptions::new(QoS::ExactlyOnce),
            ),
        ];
        let view = SubscribeRef {
            packet_id: 10,
            properties: SubscribePropertiesRef::default(),
            filters: SubscribeFiltersRef::from_refs(&entries),
        };
        let mut out = [0u8; 32];
        let n = PacketRef::Subscribe(view)
            .encode_to_slice(V311, &mut out)
            .unwrap();
        assert_eq!(&out[..n], &V311_LARGE);
        assert_eq!(view.filters.len(), 2);
        assert_eq!(view.filters.iter().len(), 2);
        assert_eq!(view.filters.iter().nth(1), Some(entries[1]));
        // Too small: an error, nothing written.
        let mut small = [0u8; 8];
        assert_eq!(
            PacketRef::Subscribe(view).encode_to_slice(V311, &mut small),
            Err(Error::BufferTooSmall {
                needed: V311_LARGE.len(),
                available: 8
            })
        );
        assert_eq!(small, [0u8; 8]);
        // Appended after what a buffer holds, owned and borrowed alike; a
        // decoded view re-encodes its payload as it is.
        let mut buf = bytes::BytesMut::from(&b"xy"[..]);
        PacketRef::Subscribe(view).encode(V311, &mut buf).unwrap();
        let owned = PacketRef::Subscribe(view).into_owned();
        owned.encode(V311, &mut buf).unwrap();
        let (decoded, _) = PacketRef::decode(&V311_LARGE, &DecodeOptions::new(V311))
            .unwrap()
            .unwrap();
        decoded.encode(V311, &mut buf).unwrap();
        let mut expected = b"xy".to_vec();
        for _ in 0..3 {
            expected.extend_from_slice(&V311_LARGE);
        }
        assert_eq!(&buf[..], &expected[..]);
    }

    #[test]
    fn decoded_filter_list_iterates_the_payload() {
        let (view, _) = PacketRef::decode(&V5_LARGE, &DecodeOptions::new(V5))
            .unwrap()
            .unwrap();
        let PacketRef::Subscribe(view) = view else {
            panic!("expected SUBSCRIBE");
        };
        let filters: Vec<&str> = view.filters.iter().map(|e| e.filter.as_str()).collect();
        assert_eq!(filters, ["a/+", "$share/g/#", "#"]);
        assert_eq!(view.filters.len(), 3);
        let mut it = view.filters.iter();
        it.next();
        assert_eq!(it.len(), 2);
        assert_eq!(view.properties.subscription_identifier(), Some(300));
        assert_eq!(
            view.filters,
            SubscribeFiltersRef::from_owned(&v5_large().filters)
        );
    }

    #[test]
    fn options_byte_round_trips_every_valid_v5_value() {
        for byte in 0..=u8::MAX {
            match SubscriptionOptions::from_byte(byte, V5) {
                Ok(options) => assert_eq!(options.to_byte(), byte),
                Err(e) => assert!(
                    byte & 0xC0 != 0 || byte & 0x03 == 3 || byte & 0x30 == 0x30,
                    "{byte:#04x}: {e}"
                ),
            }
        }
        let options = SubscriptionOptions::from_byte(0x2D, V5).unwrap();
        assert_eq!(
            options,
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            }
        );
    }

    // [MQTT-2.2.1-3] SUBSCRIBE must carry a non-zero packet identifier.
    #[test]
    fn packet_identifier_zero_is_a_protocol_error_mqtt_2_2_1_3() {
        for (bytes, version) in [
            (packet(&[0, 0, 0, 1, b'a', 0]), V311),
            (packet(&[0, 0, 0, 0, 1, b'a', 0]), V5),
        ] {
            assert_err(
                &bytes,
                version,
                Error::InvalidPacketIdentifier,
                ReasonCode::ProtocolError,
            );
        }
        let sub = Subscribe::single(0, "a", QoS::AtMostOnce).unwrap();
        assert_encode_err(&sub, V5, Error::InvalidPacketIdentifier);
    }

    // [MQTT-3.8.3-2] (5.0), [MQTT-3.8.3-3] (3.1.1): at least one topic
    // filter.
    #[test]
    fn subscribe_without_topic_filter_is_a_protocol_error_mqtt_3_8_3_2() {
        assert_err(
            &packet(&[0, 1]),
            V311,
            Error::EmptySubscribe,
            ReasonCode::ProtocolError,
        );
        assert_err(
            &packet(&[0, 1, 0]),
            V5,
            Error::EmptySubscribe,
            ReasonCode::ProtocolError,
        );
        assert_encode_err(&Subscribe::new(1, vec![]), V5, Error::EmptySubscribe);
        assert_encode_err(&Subscribe::new(1, vec![]), V311, Error::EmptySubscribe);
    }

    // [MQTT-4.7.1-1], [MQTT-4.7.3-1], [MQTT-4.8.2-1]: every filter must be a
    // valid topic filter; a server answers 0x8F.
    #[test]
    fn invalid_topic_filter_is_rejected_with_0x8f_mqtt_4_7_1_1() {
        assert_err(
            &packet(&[0, 1, 0, 2, b'a', b'#', 0]),
            V311,
            Error::InvalidTopicFilter(TopicError::MisplacedMultiLevelWildcard),
            ReasonCode::TopicFilterInvalid,
        );
        assert_err(
            &packet(&[0, 1, 0, 0, 0, 1]),
            V5,
            Error::InvalidTopicFilter(TopicError::Empty),
            ReasonCode::TopicFilterInvalid,
        );
        let mut bytes = vec![0, 1, 0, 0, 9];
        bytes.extend_from_slice(b"$share//a");
        bytes.push(1);
        assert_err(
            &packet(&bytes),
            V5,
            Error::InvalidTopicFilter(TopicError::InvalidShareName),
            ReasonCode::TopicFilterInvalid,
        );
        // The second entry is checked too.
        assert_err(
            &packet(&[0, 1, 0, 1, b'a', 0, 0, 2, b'+', b'x', 0]),
            V311,
            Error::InvalidTopicFilter(TopicError::MisplacedSingleLevelWildcard),
            ReasonCode::TopicFilterInvalid,
        );
        // An invalid filter cannot be built, so it cannot be encoded.
        assert_eq!(
            TopicFilter::from_str("a/#/b"),
            Err(Error::InvalidTopicFilter(
                TopicError::MisplacedMultiLevelWildcard
            ))
        );
        assert_eq!(
            Subscribe::single(1, "a+", QoS::AtMostOnce),
            Err(Error::InvalidTopicFilter(
                TopicError::MisplacedSingleLevelWildcard
            ))
        );
    }

    // [MQTT-3.8.3-1] topic filters are UTF-8 encoded strings.
    #[test]
    fn topic_filter_not_utf8_is_malformed_mqtt_3_8_3_1() {
        assert_err(
            &packet(&[0, 1, 0, 1, 0xFF, 0]),
            V311,
            Error::InvalidUtf8,
            ReasonCode::MalformedPacket,
        );
        assert_err(
            &packet(&[0, 1, 0, 0, 3, b'a', 0, b'b', 0]),
            V5,
            Error::NullCharacter,
            ReasonCode::MalformedPacket,
        );
    }

    // [MQTT-3.8.3-5] reserved bits 6 and 7 of the 5.0 options byte.
    #[test]
    fn reserved_option_bits_are_malformed_mqtt_3_8_3_5() {
        for options in [0x40, 0x80, 0xC1] {
            assert_err(
                &packet(&[0, 1, 0, 0, 1, b'a', options]),
                V5,
                Error::InvalidSubscriptionOptions,
                ReasonCode::MalformedPacket,
            );
        }
    }

    // [MQTT-3.8.3-4] (3.1.1): the upper six bits of the requested QoS byte
    // are reserved; 5.0's option bits are among them.
    #[test]
    fn v311_reserved_qos_bits_are_malformed_mqtt_3_8_3_4_v311() {
        for options in [0x04, 0x08, 0x10, 0x20, 0x80] {
            assert_err(
                &packet(&[0, 1, 0, 1, b'a', options]),
                V311,
                Error::InvalidSubscriptionOptions,
                ReasonCode::MalformedPacket,
            );
        }
        // Encoding 5.0-only options for 3.1.1 fails the same way.
        for options in [
            SubscriptionOptions::default().with_no_local(true),
            SubscriptionOptions::default().with_retain_as_published(true),
            SubscriptionOptions::default().with_retain_handling(RetainHandling::DoNotSend),
        ] {
            let sub = Subscribe::new(1, vec![entry("a", options)]);
            assert_encode_err(&sub, V311, Error::InvalidSubscriptionOptions);
            assert!(encode(&sub, V5).is_ok());
        }
    }

    // QoS 3 in the options: malformed in 3.1.1 ([MQTT-3.8.3-4] of 3.1.1,
    // the SUBSCRIBE rule, not the PUBLISH one [MQTT-3.3.1-4]), and a
    // Protocol Error in 5.0 (3.8.3.1).
    #[test]
    fn qos_3_in_options_is_rejected() {
        assert_err(
            &packet(&[0, 1, 0, 1, b'a', 0x03]),
            V311,
            Error::InvalidSubscriptionOptions,
            ReasonCode::MalformedPacket,
        );
        let text = alloc::format!("{}", Error::InvalidSubscriptionOptions);
        assert!(text.contains("3.1.1 [MQTT-3.8.3-4]"), "{text}");
        assert!(!text.contains("3.3.1-4"), "{text}");
        assert_err(
            &packet(&[0, 1, 0, 0, 1, b'a', 0x03]),
            V5,
            Error::InvalidSubscriptionQoS,
            ReasonCode::ProtocolError,
        );
    }

    // 5.0 3.8.3.1: "It is a Protocol Error to send a Retain Handling value
    // of 3."
    #[test]
    fn retain_handling_3_is_a_protocol_error() {
        assert_err(
            &packet(&[0, 1, 0, 0, 1, b'a', 0x30]),
            V5,
            Error::InvalidRetainHandling,
            ReasonCode::ProtocolError,
        );
    }

    // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
    #[test]
    fn no_local_on_shared_subscription_is_a_protocol_error_mqtt_3_8_3_4() {
        let mut body = vec![0, 1, 0, 0, 10];
        body.extend_from_slice(b"$share/g/a");
        body.push(0x04);
        assert_err(
            &packet(&body),
            V5,
            Error::NoLocalOnSharedSubscription,
            ReasonCode::ProtocolError,
        );
        let sub = Subscribe::new(
            1,
            vec![entry(
                "$share/g/a",
                SubscriptionOptions::default().with_no_local(true),
            )],
        );
        assert_encode_err(&sub, V5, Error::NoLocalOnSharedSubscription);
        // No Local on an ordinary filter is fine.
        let sub = Subscribe::new(
            1,
            vec![entry(
                "g/a",
                SubscriptionOptions::default().with_no_local(true),
            )],
        );
        assert_eq!(
            decode::<Subscribe>(&encode(&sub, V5).unwrap(), V5).unwrap(),
            sub
        );
    }

    #[test]
    fn entry_cut_short_is_truncated() {
        // Options byte missing.
        assert_err(
            &packet(&[0, 1, 0, 1, b'a']),
            V311,
            Error::Truncated,
            ReasonCode::MalformedPacket,
        );
        // Filter length runs past the packet.
        assert_err(
            &packet(&[0, 1, 0, 0, 5, b'a', 0]),
            V5,
            Error::Truncated,
            ReasonCode::MalformedPacket,
        );
        // Packet identifier cut short.
        assert_err(
            &packet(&[0]),
            V311,
            Error::Truncated,
            ReasonCode::MalformedPacket,
        );
    }

    // 5.0 3.8.2.1.2: a Subscription Identifier of 0, or more than one, is a
    // Protocol Error.
    #[test]
    fn subscription_identifier_zero_or_repeated_is_a_protocol_error() {
        assert_err(
            &packet(&[0, 1, 2, 0x0B, 0x00, 0, 1, b'a', 0]),
            V5,
            Error::InvalidPropertyValue(PropertyId::SubscriptionIdentifier),
            ReasonCode::ProtocolError,
        );
        assert_err(
            &packet(&[0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, b'a', 0]),
            V5,
            Error::DuplicateProperty(PropertyId::SubscriptionIdentifier),
            ReasonCode::ProtocolError,
        );
        let sub = Subscribe::single(1, "a", QoS::AtMostOnce)
            .unwrap()
            .with_subscription_identifier(0);
        assert_encode_err(
            &sub,
            V5,
            Error::InvalidPropertyValue(PropertyId::SubscriptionIdentifier),
        );
    }

    // 5.0 2.2.2.2: a property not valid for SUBSCRIBE is a Malformed
    // Packet.
    #[test]
    fn property_not_allowed_in_subscribe_is_malformed() {
        // Reason String (0x1F).
        assert_err(
            &packet(&[0, 1, 4, 0x1F, 0, 1, b'x', 0, 1, b'a', 0]),
            V5,
            Error::PropertyNotAllowed {
                property: PropertyId::ReasonString,
                packet: PacketType::Subscribe,
            },
            ReasonCode::MalformedPacket,
        );
    }

    #[test]
    fn properties_cannot_be_encoded_for_v311() {
        let sub = Subscribe::single(1, "a", QoS::AtMostOnce)
            .unwrap()
            .with_subscription_identifier(5);
        assert_encode_err(&sub, V311, Error::PropertiesInV311);
    }

    #[test]
    fn v5_packet_decoded_as_v311_does_not_pass_silently() {
        // The 5.0 property length byte (0) and the filter length's high
        // byte read as an empty filter, which is invalid.
        assert_eq!(
            decode::<Subscribe>(&V5_SMALLEST, V311),
            Err(Error::InvalidTopicFilter(TopicError::Empty))
        );
    }

    /// Property tests over the whole SUBSCRIBE family (SUBSCRIBE, SUBACK,
    /// UNSUBSCRIBE, UNSUBACK), which share the list views.
    mod family {
        use super::*;
        use crate::codec::{SubAck, UnsubAck, Unsubscribe};
        use alloc::string::{String, ToString};
        use proptest::prelude::*;

        fn version() -> impl Strategy<Value = ProtocolVersion> {
            prop_oneof![Just(V311), Just(V5)]
        }

        fn filter() -> impl Strategy<Value = String> {
            let level = prop_oneof!["[a-c$]{0,2}", Just("+".to_string()), Just("#".to_string())];
            (
                any::<bool>(),
                prop::collection::vec(level, 1..4).prop_map(|l| l.join("/")),
            )
                .prop_map(|(shared, f)| {
                    if shared {
                        alloc::format!("$share/g/{f}")
                    } else {
                        f
                    }
                })
                .prop_filter("a valid filter", |f| {
                    crate::topic::validate_topic_filter(f).is_ok()
                })
        }

        fn options(v: ProtocolVersion, shared: bool) -> impl Strategy<Value = SubscriptionOptions> {
            (0u8..3, any::<bool>(), any::<bool>(), 0u8..3).prop_map(move |(q, nl, rap, rh)| {
                let qos = QoS::from_u8(q).unwrap();
                if !v.is_v5() {
                    return SubscriptionOptions::new(qos);
                }
                SubscriptionOptions::new(qos)
                    .with_no_local(nl && !shared)
                    .with_retain_as_published(rap)
                    .with_retain_handling(RetainHandling::from_u8(rh).unwrap())
            })
        }

        fn entry(v: ProtocolVersion) -> impl Strategy<Value = SubscribeFilter> {
            filter().prop_flat_map(move |f| {
                let shared = crate::topic::is_shared(&f);
                options(v, shared).prop_map(move |o| SubscribeFilter::new(&f, o).unwrap())
            })
        }

        fn users(v: ProtocolVersion) -> impl Strategy<Value = Vec<UserProperty>> {
            let n = if v.is_v5() { 0..3usize } else { 0..1 };
            prop::collection::vec(("[a-z]{0,3}", "[a-z]{0,3}"), n).prop_map(|pairs| {
                pairs
                    .iter()
                    .map(|(k, v)| UserProperty::new(k, v).unwrap())
                    .collect()
            })
        }

        fn codes(v: ProtocolVersion, packet: PacketType) -> impl Strategy<Value = Vec<ReasonCode>> {
            let allowed: Vec<ReasonCode> = ReasonCode::ALL
                .iter()
                .copied()
                .filter(|rc| {
                    if v.is_v5() {
                        rc.allowed_in(packet)
                    } else {
                        matches!(rc.as_u8(), 0x00 | 0x01 | 0x02 | 0x80)
                    }
                })
                .collect();
            prop::collection::vec(prop::sample::select(allowed), 1..6)
        }

        fn packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
            version().prop_flat_map(|v| {
                let subscribe = (
                    1..=u16::MAX,
                    prop::collection::vec(entry(v), 1..5),
                    prop::option::of(1..=crate::codec::MAX_VARIABLE_INTEGER),
                    users(v),
                )
                    .prop_map(move |(id, filters, sid, users)| {
                        let mut sub = Subscribe::new(id, filters);
                        if v.is_v5() {
                            sub.properties.subscription_identifier = sid;
                        }
                        sub.properties.user_properties = users;
                        Packet::Subscribe(sub)
                    });
                let suback = (1..=u16::MAX, codes(v, PacketType::SubAck), users(v)).prop_map(
                    |(id, codes, users)| {
                        let mut ack = SubAck::new(id, codes);
                        ack.properties.user_properties = users;
                        Packet::SubAck(ack)
                    },
                );
                let unsubscribe = (
                    1..=u16::MAX,
                    prop::collection::vec(filter(), 1..5),
                    users(v),
                )
                    .prop_map(|(id, filters, users)| {
                        let filters = filters
                            .iter()
                            .map(|f| crate::codec::MqttString::from_str(f).unwrap())
                            .collect();
                        let mut unsub = Unsubscribe::new(id, filters);
                        unsub.properties.user_properties = users;
                        Packet::Unsubscribe(unsub)
                    });
                let unsuback = (1..=u16::MAX, codes(v, PacketType::UnsubAck), users(v)).prop_map(
                    move |(id, codes, users)| {
                        let codes = if v.is_v5() { codes } else { Vec::new() };
                        let mut ack = UnsubAck::new(id, codes);
                        ack.properties.user_properties = users;
                        Packet::UnsubAck(ack)
                    },
                );
                prop_oneof![subscribe, suback, unsubscribe, unsuback].prop_map(move |p| (v, p))
            })
        }

        fn encode_packet(p: &Packet, v: ProtocolVersion) -> Vec<u8> {
            let mut buf = BytesMut::new();
            p.encode(v, &mut buf).unwrap();
            buf.to_vec()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

            // Whatever encodes decodes back equal, on both paths; and any
            // one-byte corruption either fails cleanly or decodes to a
            // packet that itself round-trips.
            #[test]
            fn family_round_trips_and_survives_corruption((v, packet) in packet(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
                let options = DecodeOptions::new(v);
                let bytes = encode_packet(&packet, v);
                prop_assert_eq!(packet.encoded_len(v), Ok(bytes.len()));
                let mut buf = Bytes::from(bytes.clone());
                prop_assert_eq!(Packet::decode(&mut buf, &options), Ok(Some(packet.clone())));
                let (view, used) = PacketRef::decode(&bytes, &options).unwrap().unwrap();
                prop_assert_eq!(used, bytes.len());
                prop_assert_eq!(view, packet.as_view());
                let mut out = vec![0u8; bytes.len()];
                prop_assert_eq!(view.encode_to_slice(v, &mut out), Ok(bytes.len()));
                prop_assert_eq!(&out, &bytes);

                let mut bad = bytes.clone();
                let i = at.index(bad.len());
                bad[i] = byte;
                if let Ok(Some(decoded)) = Packet::decode(&mut Bytes::from(bad), &options) {
                    let again = encode_packet(&decoded, v);
                    let mut again = Bytes::from(again);
                    prop_assert_eq!(Packet::decode(&mut again, &options), Ok(Some(decoded)));
                }
            }
        }
    }
}
