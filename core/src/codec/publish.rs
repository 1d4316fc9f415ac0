//! PUBLISH (spec 3.3): an application message, in either direction.

use bytes::{BufMut, Bytes};

use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::property::{properties, Context};
use super::string::{MqttStr, MqttString};
use super::version::{ProtocolVersion, QoS};
use super::wire::{binary_len, put_binary, Reader};
use crate::topic::{check_topic_name_bytes, scan_topic, validate_topic_name, TopicError};

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

/// A PUBLISH packet.
///
/// `packet_id` is 0 for QoS 0 and non-zero otherwise [MQTT-2.2.1-2]
/// [MQTT-2.2.1-3]. `topic` may be empty in 5.0 when a Topic Alias stands for
/// it. `topic` and `payload` of a decoded packet share the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this may be a re-delivery (QoS 1 and 2 only).
    pub dup: bool,
    /// Quality of service.
    pub qos: QoS,
    /// RETAIN: the server keeps this message for future subscribers.
    pub retain: bool,
    /// Topic name.
    pub topic: MqttString,
    /// Packet identifier, 0 for QoS 0.
    pub packet_id: u16,
    /// 5.0 properties; empty in 3.1.1.
    pub properties: PublishProperties,
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
    /// Topic name.
    pub topic: MqttStr<'a>,
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
        validate_topic_name(topic).map_err(Error::InvalidTopicName)?;
        Ok(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: MqttString::from_str(topic)?,
            packet_id: 0,
            properties: PublishProperties::default(),
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

    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> PublishRef<'_> {
        PublishRef {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.as_mqtt_str(),
            packet_id: self.packet_id,
            properties: self.properties.as_view(),
            payload: &self.payload,
        }
    }
}

impl<'a> PublishRef<'a> {
    /// The fixed-header flags: DUP, QoS and RETAIN.
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
        let topic = MqttStr::from_validated(topic_bytes);
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

    pub(crate) fn sizes(&self, version: ProtocolVersion) -> Result<Sizes, Error> {
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(Error::DupWithQoS0);
        }
        if (self.qos == QoS::AtMostOnce) != (self.packet_id == 0) {
            return Err(Error::InvalidPacketIdentifier);
        }
        check_topic(self.topic, &self.properties)?;
        // Whatever encodes also decodes with payload validation on.
        if self.properties.payload_format_indicator() == Some(true)
            && core::str::from_utf8(self.payload).is_err()
        {
            return Err(Error::PayloadFormatInvalid);
        }
        let mut remaining = binary_len(self.topic.as_bytes())? + self.payload.len();
        if self.qos != QoS::AtMostOnce {
            remaining += 2;
        }
        let (props, props_len) = self.properties.sized_for(version)?;
        remaining += props_len;
        Ok(Sizes {
            remaining,
            props,
            ..Sizes::default()
        })
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
            topic: MqttString::from_validated(share(src, self.topic.as_bytes())),
            packet_id: self.packet_id,
            properties: self.properties.owned_in(src),
            payload: share(src, self.payload),
        }
    }
}

/// An empty topic needs a Topic Alias [MQTT-3.3.2-1]; a non-empty one must
/// be a valid topic name without wildcards [MQTT-3.3.2-2].
fn check_topic(topic: MqttStr<'_>, properties: &PublishPropertiesRef<'_>) -> Result<(), Error> {
    if topic.is_empty() {
        if properties.topic_alias().is_none() {
            return Err(Error::EmptyTopicWithoutAlias);
        }
        return Ok(());
    }
    check_topic_name_bytes(topic.as_bytes()).map_err(Error::InvalidTopicName)
}
