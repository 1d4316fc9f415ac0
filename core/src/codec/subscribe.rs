//! SUBSCRIBE (spec 3.8): a client asks for one or more subscriptions, each
//! a topic filter with its subscription options.

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::property::{properties, share, with_len_prefix, Context};
use super::string::MqttString;
use super::version::{ProtocolVersion, QoS};
use super::wire::{put_binary, string_len, Reader};
use crate::topic::{is_shared, validate_topic_filter};

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
/// Bits 2 to 7, reserved in 3.1.1 [MQTT-3-8.3-4 (3.1.1)].
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
    /// (bits 2-7 in 3.1.1 [MQTT-3-8.3-4 (3.1.1)], bits 6-7 in 5.0
    /// [MQTT-3.8.3-5]); a QoS of 3 gives [`Error::InvalidQoS`]; a Retain
    /// Handling of 3 gives [`Error::InvalidRetainHandling`].
    pub fn from_byte(byte: u8, version: ProtocolVersion) -> Result<Self, Error> {
        let reserved = if version.is_v5() {
            V5_RESERVED
        } else {
            V311_RESERVED
        };
        if byte & reserved != 0 {
            return Err(Error::InvalidSubscriptionOptions);
        }
        let qos = QoS::from_u8(byte & QOS_MASK).ok_or(Error::InvalidQoS)?;
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

    /// Checks that `version` can carry these options: 3.1.1 has only the
    /// QoS, so the other fields must be at their defaults (otherwise the
    /// byte would have reserved bits set, [`Error::InvalidSubscriptionOptions`]).
    pub(crate) fn check(&self, version: ProtocolVersion) -> Result<(), Error> {
        if !version.is_v5() && self.to_byte() & V311_RESERVED != 0 {
            return Err(Error::InvalidSubscriptionOptions);
        }
        Ok(())
    }

    /// Splits a byte already validated by [`from_byte`](Self::from_byte).
    fn from_validated(byte: u8) -> Self {
        SubscriptionOptions::from_byte(byte, ProtocolVersion::V5).unwrap_or_default()
    }
}

/// One entry of a SUBSCRIBE payload: a topic filter and its options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscribeFilter {
    /// The topic filter, possibly a `$share/{ShareName}/{filter}`.
    pub filter: MqttString,
    /// The subscription options.
    pub options: SubscriptionOptions,
}

/// A borrowed [`SubscribeFilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscribeFilterRef<'a> {
    /// The topic filter.
    pub filter: &'a str,
    /// The subscription options.
    pub options: SubscriptionOptions,
}

impl SubscribeFilter {
    /// A filter with its options; the filter is validated as a topic
    /// filter ([`Error::InvalidTopicFilter`]).
    pub fn new(filter: &str, options: SubscriptionOptions) -> Result<Self, Error> {
        validate_topic_filter(filter).map_err(Error::InvalidTopicFilter)?;
        Ok(SubscribeFilter {
            filter: MqttString::from_str(filter)?,
            options,
        })
    }

    /// A borrowed view.
    pub fn as_view(&self) -> SubscribeFilterRef<'_> {
        SubscribeFilterRef {
            filter: self.filter.as_str(),
            options: self.options,
        }
    }
}

impl<'a> SubscribeFilterRef<'a> {
    /// A filter with its options (checked when encoding).
    pub const fn new(filter: &'a str, options: SubscriptionOptions) -> Self {
        SubscribeFilterRef { filter, options }
    }

    /// Checks the entry for sending with `version` and returns its encoded
    /// size.
    fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, Error> {
        let len = string_len(self.filter)?;
        check_entry(self.filter, self.options)?;
        self.options.check(version)?;
        Ok(len + 1)
    }
}

/// The rules every entry obeys in both directions: a valid topic filter
/// (0x8F), and no No Local on a shared subscription [MQTT-3.8.3-4].
fn check_entry(filter: &str, options: SubscriptionOptions) -> Result<(), Error> {
    validate_topic_filter(filter).map_err(Error::InvalidTopicFilter)?;
    if options.no_local && is_shared(filter) {
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
            check_entry(filter, options)?;
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

    /// The payload size, validating every entry for `version`.
    fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, Error> {
        let mut len = 0usize;
        for entry in self.iter() {
            len += entry.encoded_len(version)?;
        }
        Ok(len)
    }

    fn put<B: BufMut>(&self, buf: &mut B) {
        if let FiltersRepr::Block { payload, .. } = self.repr {
            buf.put_slice(payload);
            return;
        }
        for entry in self.iter() {
            put_binary(buf, entry.filter.as_bytes());
            buf.put_u8(entry.options.to_byte());
        }
    }

    /// Owned entries, sharing the filter strings with `src` where possible.
    fn to_owned_in(&self, src: &Bytes) -> Vec<SubscribeFilter> {
        if let FiltersRepr::Owned(f) = self.repr {
            return f.to_vec();
        }
        self.iter()
            .map(|entry| SubscribeFilter {
                filter: MqttString::from_validated(share(src, entry.filter.as_bytes())),
                options: entry.options,
            })
            .collect()
    }
}

impl<'a> IntoIterator for SubscribeFiltersRef<'a> {
    type Item = SubscribeFilterRef<'a>;
    type IntoIter = SubscribeFiltersIter<'a>;
    fn into_iter(self) -> SubscribeFiltersIter<'a> {
        self.iter()
    }
}

impl core::fmt::Debug for SubscribeFiltersRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for SubscribeFiltersRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

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
                let filter = reader.string().ok()?;
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

    pub(crate) fn to_owned_in(&self, src: &Bytes) -> Subscribe {
        Subscribe {
            packet_id: self.packet_id,
            properties: self.properties.to_owned_in(src),
            filters: self.filters.to_owned_in(src),
        }
    }
}
