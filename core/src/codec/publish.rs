//! PUBLISH (spec 3.3): an application message, in either direction.

use alloc::boxed::Box;
use bytes::{BufMut, Bytes, BytesMut};

use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{packet_slice, total_len, DecodeOptions, Sizes};
use super::property::{properties, Context};
use super::topic_types::{TopicName, TopicNameRef};
use super::version::{ProtocolVersion, QoS};
use super::wire::{copy_short, head_word, put_binary, Reader};
use crate::topic::{scan_topic, TopicError};

properties! {
    /// PUBLISH properties (spec 3.3.2.3).
    owned PublishProperties;
    /// A borrowed view of [`PublishProperties`].
    view PublishPropertiesRef;
    context Context::packet(PacketType::Publish);
    /// Payload Format Indicator: `true` for UTF-8 payloads.
    payload_format_indicator: Bool = PayloadFormatIndicator,
    /// Message Expiry Interval in seconds.
    message_expiry_interval: U32 = MessageExpiryInterval,
    /// Topic Alias.
    topic_alias: U16 = TopicAlias,
    /// Response Topic (a topic name).
    response_topic: Str = ResponseTopic,
    /// Correlation Data.
    correlation_data: Bin = CorrelationData,
    /// Content Type.
    content_type: Str = ContentType,
    @repeated subscription_identifiers,
}

/// The properties of a [`Publish`], on the heap only once one is set.
///
/// Most messages have none, so a [`Publish`] keeps a null pointer instead
/// of the 160-byte [`PublishProperties`]: it stays small to move through
/// queues, `Result`s and [`Packet`](super::Packet)s. Reads go through
/// [`Deref`](core::ops::Deref) (an empty set when nothing is allocated),
/// and the first write through [`DerefMut`](core::ops::DerefMut)
/// allocates, so fields are used as on the plain struct:
///
/// ```
/// use mqtt_core::codec::Publish;
/// let mut p = Publish::new("a/b", "x").unwrap();
/// assert!(p.properties.topic_alias.is_none()); // no allocation
/// p.properties.message_expiry_interval = Some(60); // allocates once
/// assert_eq!(p.properties.message_expiry_interval, Some(60));
/// ```
#[derive(Clone, Default)]
pub struct LazyPublishProperties(Option<Box<PublishProperties>>);

impl PartialEq for LazyPublishProperties {
    /// By contents: an empty allocated set equals an unallocated one.
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for LazyPublishProperties {}

/// What an unallocated [`LazyPublishProperties`] reads as.
static NO_PUBLISH_PROPERTIES: PublishProperties = PublishProperties::EMPTY;

impl LazyPublishProperties {
    /// No properties, without allocating.
    pub const fn new() -> Self {
        LazyPublishProperties(None)
    }

    /// Clears every property (and frees the allocation).
    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// The properties by value (empty if none were set).
    pub fn into_inner(self) -> PublishProperties {
        self.0.map(|b| *b).unwrap_or_default()
    }
}

impl core::ops::Deref for LazyPublishProperties {
    type Target = PublishProperties;
    #[inline]
    fn deref(&self) -> &PublishProperties {
        self.0.as_deref().unwrap_or(&NO_PUBLISH_PROPERTIES)
    }
}

impl core::ops::DerefMut for LazyPublishProperties {
    /// Allocates the set on first use.
    fn deref_mut(&mut self) -> &mut PublishProperties {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<PublishProperties> for LazyPublishProperties {
    /// Keeps an empty set unallocated.
    fn from(p: PublishProperties) -> Self {
        if p.is_empty() {
            LazyPublishProperties(None)
        } else {
            LazyPublishProperties(Some(Box::new(p)))
        }
    }
}

impl core::fmt::Debug for LazyPublishProperties {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq<PublishProperties> for LazyPublishProperties {
    fn eq(&self, other: &PublishProperties) -> bool {
        **self == *other
    }
}

/// Topics up to this long are written together with the fixed header and
/// the packet identifier (one copy instead of three).
const SHORT_TOPIC: usize = 54;

/// A PUBLISH packet.
///
/// `packet_id` is 0 for QoS 0 and non-zero otherwise [MQTT-2.2.1-2]
/// [MQTT-2.2.1-3]. `topic` is a [`TopicName`], validated when it was built
/// or decoded (the encoder trusts it); it may be empty
/// ([`TopicName::EMPTY`]) in 5.0 when a Topic Alias stands for it. `topic`
/// and `payload` of a decoded packet share the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this may be a re-delivery (QoS 1 and 2 only).
    pub dup: bool,
    /// Quality of service.
    pub qos: QoS,
    /// RETAIN: the server keeps this message for future subscribers.
    pub retain: bool,
    /// Topic name.
    pub topic: TopicName,
    /// Packet identifier, 0 for QoS 0.
    pub packet_id: u16,
    /// 5.0 properties; empty in 3.1.1. Allocated only when one is set
    /// (see [`LazyPublishProperties`]); assign a [`PublishProperties`]
    /// with `.into()`.
    pub properties: LazyPublishProperties,
    /// Application payload.
    pub payload: Bytes,
}

/// A borrowed view of a [`Publish`], decoded or encoded without allocating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublishRef<'a> {
    /// DUP flag.
    pub dup: bool,
    /// Quality of service.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name (validated by its type).
    pub topic: TopicNameRef<'a>,
    /// Packet identifier, 0 for QoS 0.
    pub packet_id: u16,
    /// 5.0 properties.
    pub properties: PublishPropertiesRef<'a>,
    /// Application payload.
    pub payload: &'a [u8],
}

impl Publish {
    /// A QoS 0 message on a valid topic name.
    pub fn new(topic: &str, payload: impl Into<Bytes>) -> Result<Self, Error> {
        Ok(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: TopicName::from_str(topic)?,
            packet_id: 0,
            properties: LazyPublishProperties::new(),
            payload: payload.into(),
        })
    }

    /// Sets the QoS and packet identifier (use 0 with QoS 0).
    pub fn with_qos(mut self, qos: QoS, packet_id: u16) -> Self {
        self.qos = qos;
        self.packet_id = packet_id;
        self
    }

    /// Sets the RETAIN flag.
    pub fn with_retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Adds a User Property (5.0), after those already set.
    ///
    /// ```
    /// use mqtt_core::codec::Publish;
    /// let p = Publish::new("sensors/7/temp", "21.5")?
    ///     .with_user_property("unit", "celsius")?
    ///     .with_content_type("text/plain")?
    ///     .with_message_expiry_interval(60)
    ///     .with_payload_format_indicator(true);
    /// assert_eq!(p.properties.user_properties.len(), 1);
    /// assert_eq!(p.properties.message_expiry_interval, Some(60));
    /// # Ok::<(), mqtt_core::codec::Error>(())
    /// ```
    pub fn with_user_property(mut self, key: &str, value: &str) -> Result<Self, Error> {
        self.properties
            .user_properties
            .push(super::UserProperty::new(key, value)?);
        Ok(self)
    }

    /// Sets the Message Expiry Interval in seconds (5.0).
    pub fn with_message_expiry_interval(mut self, seconds: u32) -> Self {
        self.properties.message_expiry_interval = Some(seconds);
        self
    }

    /// Sets the Payload Format Indicator (5.0): `true` when the payload is
    /// UTF-8 text.
    pub fn with_payload_format_indicator(mut self, utf8: bool) -> Self {
        self.properties.payload_format_indicator = Some(utf8);
        self
    }

    /// Sets the Content Type (5.0), a MIME type for instance.
    pub fn with_content_type(mut self, content_type: &str) -> Result<Self, Error> {
        self.properties.content_type = Some(super::MqttString::from_str(content_type)?);
        Ok(self)
    }

    /// Sets the Response Topic (5.0), a topic name without wildcards
    /// [MQTT-3.3.2-14].
    pub fn with_response_topic(mut self, topic: &str) -> Result<Self, Error> {
        TopicName::from_str(topic)?;
        self.properties.response_topic = Some(super::MqttString::from_str(topic)?);
        Ok(self)
    }

    /// Sets the Correlation Data (5.0).
    pub fn with_correlation_data(mut self, data: impl Into<Bytes>) -> Self {
        self.properties.correlation_data = Some(data.into());
        self
    }

    /// A borrowed view, for encoding.
    #[inline]
    pub fn as_view(&self) -> PublishRef<'_> {
        PublishRef {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.as_view(),
            packet_id: self.packet_id,
            properties: self.properties.as_view(),
            payload: &self.payload,
        }
    }
}

impl<'a> PublishRef<'a> {
    /// The fixed-header flags: DUP, QoS and RETAIN.
    #[inline]
    pub(crate) fn flags(&self) -> u8 {
        (u8::from(self.dup) << 3) | (self.qos.as_u8() << 1) | u8::from(self.retain)
    }

    #[inline]
    pub(crate) fn decode(flags: u8, body: &'a [u8], opts: &DecodeOptions) -> Result<Self, Error> {
        let v5 = opts.version().is_v5();
        let dup = flags & 0b1000 != 0;
        let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(Error::InvalidQoS)?; // [MQTT-3.3.1-4]
        let retain = flags & 1 != 0;
        if dup && qos == QoS::AtMostOnce {
            return Err(Error::DupWithQoS0); // [MQTT-3.3.1-2]
        }
        let mut r = Reader::new(body);
        // One pass over the topic for UTF-8, U+0000 and wildcards.
        let topic_bytes = r.binary()?;
        let (non_ascii, nul, wildcard) = scan_topic(topic_bytes);
        if non_ascii && core::str::from_utf8(topic_bytes).is_err() {
            return Err(Error::InvalidUtf8); // [MQTT-1.5.4-1]
        }
        if nul {
            return Err(Error::NullCharacter); // [MQTT-1.5.4-2]
        }
        let topic = TopicNameRef::from_validated(topic_bytes);
        let packet_id = if qos == QoS::AtMostOnce {
            0
        } else {
            match r.u16()? {
                0 => return Err(Error::InvalidPacketIdentifier), // [MQTT-2.2.1-3]
                id => id,
            }
        };
        let properties = if v5 {
            PublishPropertiesRef::read(&mut r)?
        } else {
            PublishPropertiesRef::default()
        };
        if topic.is_empty() && properties.topic_alias().is_none() {
            return Err(Error::EmptyTopicWithoutAlias); // [MQTT-3.3.2-1]
        }
        if wildcard {
            return Err(Error::InvalidTopicName(TopicError::WildcardInName)); // [MQTT-3.3.2-2]
        }
        let payload = r.rest();
        if opts.validates_payload_format()
            && !properties.is_empty()
            && properties.payload_format_indicator() == Some(true)
            && core::str::from_utf8(payload).is_err()
        {
            return Err(Error::PayloadFormatInvalid);
        }
        Ok(PublishRef {
            dup,
            qos,
            retain,
            topic,
            packet_id,
            properties,
            payload,
        })
    }

    /// Validates for encoding and computes the sizes. The topic is valid
    /// by its type, so only the rules that tie fields together are
    /// checked here.
    #[inline(always)]
    pub(crate) fn sizes(&self, version: ProtocolVersion) -> Result<Sizes, Error> {
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(Error::DupWithQoS0);
        }
        if (self.qos == QoS::AtMostOnce) != (self.packet_id == 0) {
            return Err(Error::InvalidPacketIdentifier);
        }
        // [MQTT-3.3.2-1]: an empty topic needs a Topic Alias.
        if self.topic.is_empty() && self.properties.topic_alias().is_none() {
            return Err(Error::EmptyTopicWithoutAlias);
        }
        let (props, props_len) = self.properties.sized_for(version)?;
        // Whatever encodes also decodes with payload validation on.
        if props_len > 1
            && self.properties.payload_format_indicator() == Some(true)
            && core::str::from_utf8(self.payload).is_err()
        {
            return Err(Error::PayloadFormatInvalid);
        }
        // A topic holds at most 65,535 bytes (by its type).
        let mut remaining = 2 + self.topic.len() + self.payload.len() + props_len;
        if self.qos != QoS::AtMostOnce {
            remaining += 2;
        }
        Ok(Sizes {
            remaining,
            props,
            ..Sizes::default()
        })
    }

    /// The fixed header and the topic's length prefix (at most seven
    /// bytes), built in a register and stored at once: the bytes and how
    /// many are used.
    #[inline]
    fn head(&self, remaining: usize) -> ([u8; 8], usize) {
        let (word, n) = head_word(
            ((PacketType::Publish as u8) << 4) | self.flags(),
            remaining as u32,
        );
        let topic_len = self.topic.len() as u64;
        let word = word | ((topic_len >> 8) << (8 * n)) | ((topic_len & 0xFF) << (8 * (n + 1)));
        (word.to_le_bytes(), n + 2)
    }

    /// Encodes the packet at the end of `buf`, reserving what it needs
    /// once (the hot path of [`PacketRef::encode`](super::PacketRef::encode)).
    #[inline]
    pub(crate) fn encode_bytes(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<usize, Error> {
        let sizes = self.sizes(version)?;
        let len = total_len(sizes.remaining)?;
        buf.reserve(len);
        let (head, n) = self.head(sizes.remaining);
        let topic = self.topic.as_bytes();
        let v5 = version.is_v5();
        if topic.len() <= SHORT_TOPIC {
            // Header, topic, packet identifier and an empty property block
            // in one copy.
            let mut start = [0u8; 8 + SHORT_TOPIC + 3];
            start[..8].copy_from_slice(&head);
            let mut end = n + topic.len();
            copy_short(&mut start[n..end], topic);
            if self.qos != QoS::AtMostOnce {
                start[end..end + 2].copy_from_slice(&self.packet_id.to_be_bytes());
                end += 2;
            }
            if v5 && sizes.props == 0 {
                end += 1; // the zero property length
            }
            buf.extend_from_slice(&start[..end]);
            if v5 && sizes.props != 0 {
                self.properties.put(buf, sizes.props);
            }
        } else {
            buf.extend_from_slice(&head[..n]);
            buf.extend_from_slice(topic);
            if self.qos != QoS::AtMostOnce {
                buf.extend_from_slice(&self.packet_id.to_be_bytes());
            }
            if v5 {
                self.properties.put(buf, sizes.props);
            }
        }
        buf.extend_from_slice(self.payload);
        Ok(len)
    }

    /// Encodes the packet into the front of `out` (the hot path of
    /// [`PacketRef::encode_to_slice`](super::PacketRef::encode_to_slice)).
    #[inline]
    pub(crate) fn encode_slice(
        &self,
        version: ProtocolVersion,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let sizes = self.sizes(version)?;
        let w = packet_slice(out, sizes.remaining)?;
        let len = w.len();
        let (head, n) = self.head(sizes.remaining);
        let topic = self.topic.as_bytes();
        let (start, rest) = w.split_at_mut(n);
        start.copy_from_slice(&head[..n]);
        let (t, mut rest) = rest.split_at_mut(topic.len());
        copy_short(t, topic);
        if self.qos != QoS::AtMostOnce {
            rest.put_u16(self.packet_id);
        }
        if version.is_v5() {
            self.properties.put(&mut rest, sizes.props);
        }
        rest.copy_from_slice(self.payload);
        Ok(len)
    }

    /// Writes the variable header; the payload follows (written by the
    /// caller, so that a growable buffer need not zero-fill room for it).
    pub(crate) fn put<B: BufMut>(&self, version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
        put_binary(buf, self.topic.as_bytes());
        if self.qos != QoS::AtMostOnce {
            buf.put_u16(self.packet_id);
        }
        if version.is_v5() {
            self.properties.put(buf, sizes.props);
        }
    }

    #[inline]
    pub(crate) fn owned_in(&self, src: &Bytes) -> Publish {
        use super::property::share;
        Publish {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: TopicName::from_validated(share(src, self.topic.as_bytes())),
            packet_id: self.packet_id,
            properties: if self.properties.is_empty() {
                LazyPublishProperties::new()
            } else {
                self.properties.owned_in(src).into()
            },
            payload: share(src, self.payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_builders_set_and_check() {
        let p = Publish::new("a/b", "x")
            .unwrap()
            .with_response_topic("replies/1")
            .unwrap()
            .with_correlation_data(&b"id-7"[..])
            .with_user_property("k", "v")
            .unwrap()
            .with_user_property("k", "w")
            .unwrap();
        assert_eq!(
            p.properties.response_topic.as_ref().map(|t| t.as_str()),
            Some("replies/1")
        );
        assert_eq!(p.properties.correlation_data.as_deref(), Some(&b"id-7"[..]));
        assert_eq!(
            p.properties.user_properties.len(),
            2,
            "duplicates kept, in order"
        );
        // [MQTT-3.3.2-14] no wildcards in a Response Topic; no U+0000 anywhere.
        for bad in ["replies/#", "replies/+", ""] {
            assert!(
                Publish::new("a", "x")
                    .unwrap()
                    .with_response_topic(bad)
                    .is_err(),
                "{bad}"
            );
        }
        assert!(Publish::new("a", "x")
            .unwrap()
            .with_content_type("a\0b")
            .is_err());
        assert!(Publish::new("a", "x")
            .unwrap()
            .with_user_property("k\0", "v")
            .is_err());
        // Nothing set, nothing allocated.
        assert!(Publish::new("a", "x").unwrap().properties.is_empty());
    }
}
