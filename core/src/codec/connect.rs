//! CONNECT (spec 3.1): the first packet a client sends, naming the protocol
//! version, the session and keep-alive parameters, an optional will message
//! and credentials.
//!
//! CONNECT carries its own protocol version (the protocol level byte), so it
//! is decoded by the version it names, whatever [`DecodeOptions::version`]
//! says, and encoded in [`Connect::protocol_version`], whatever version the
//! encoder is given.

use bytes::{BufMut, Bytes};

use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::property::{properties, share, Context};
use super::string::{MqttStr, MqttString};
use super::version::{ProtocolVersion, QoS};
use super::wire::{binary_len, put_binary, string_len, Reader};
use crate::topic::{check_topic_name_bytes, validate_topic_name};

/// The protocol name 3.1.1 and 5.0 CONNECT carries [MQTT-3.1.2-1].
const PROTOCOL_NAME: &[u8] = b"MQTT";
/// The protocol name of MQTT 3.1 (protocol level 3).
const PROTOCOL_NAME_V31: &[u8] = b"MQIsdp";

/// Connect Flags bits (spec 3.1.2.3).
const RESERVED: u8 = 0b0000_0001;
const CLEAN_START: u8 = 0b0000_0010;
const WILL_FLAG: u8 = 0b0000_0100;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_QOS_MASK: u8 = 0b0001_1000;
const WILL_RETAIN: u8 = 0b0010_0000;
const PASSWORD: u8 = 0b0100_0000;
const USER_NAME: u8 = 0b1000_0000;

/// Protocol name (2 + 4), level (1), flags (1), keep alive (2); 3.1's
/// name is two bytes longer.
const FIXED_PART_LEN: usize = 10;

properties! {
    /// CONNECT properties (spec 3.1.2.11).
    owned ConnectProperties;
    /// A borrowed view of [`ConnectProperties`].
    view ConnectPropertiesRef;
    context Context::packet(PacketType::Connect);
    /// Session Expiry Interval in seconds (absent means 0: the session ends
    /// with the connection).
    session_expiry_interval: U32 = SessionExpiryInterval,
    /// Receive Maximum: QoS 1 and 2 publishes the client accepts in flight
    /// (1..=65,535; absent means 65,535).
    receive_maximum: U16 = ReceiveMaximum,
    /// Maximum Packet Size the client accepts (non-zero).
    maximum_packet_size: U32 = MaximumPacketSize,
    /// Topic Alias Maximum: the highest topic alias the client accepts.
    topic_alias_maximum: U16 = TopicAliasMaximum,
    /// Request Response Information: whether the client wants Response
    /// Information in CONNACK.
    request_response_information: Bool = RequestResponseInformation,
    /// Request Problem Information: whether the server may send Reason
    /// Strings and User Properties on failures.
    request_problem_information: Bool = RequestProblemInformation,
    /// Authentication Method for enhanced authentication.
    authentication_method: Str = AuthenticationMethod,
    /// Authentication Data of that method.
    authentication_data: Bin = AuthenticationData,
}

properties! {
    /// Will properties, in the CONNECT payload (spec 3.1.3.2).
    owned WillProperties;
    /// A borrowed view of [`WillProperties`].
    view WillPropertiesRef;
    context Context::WILL;
    /// Will Delay Interval: seconds to wait before publishing the will.
    will_delay_interval: U32 = WillDelayInterval,
    /// Payload Format Indicator: `true` for a UTF-8 will payload.
    payload_format_indicator: Bool = PayloadFormatIndicator,
    /// Message Expiry Interval of the will message, in seconds.
    message_expiry_interval: U32 = MessageExpiryInterval,
    /// Content Type of the will payload.
    content_type: Str = ContentType,
    /// Response Topic (a topic name).
    response_topic: Str = ResponseTopic,
    /// Correlation Data.
    correlation_data: Bin = CorrelationData,
}

/// A CONNECT packet.
///
/// The packet names its own protocol version: it is decoded by its protocol
/// name and level byte (`MQIsdp` 3 for 3.1, `MQTT` 4 for 3.1.1, `MQTT` 5
/// for 5.0) and encoded in `protocol_version`;
/// the version passed to [`Packet::encode`](super::Packet::encode) is not
/// used for CONNECT. Strings and binary fields of a decoded packet share the
/// input buffer.
///
/// ```
/// use bytes::BytesMut;
/// use mqtt_core::codec::{Connect, Packet, ProtocolVersion};
/// let connect = Connect::new(ProtocolVersion::V311, "").unwrap();
/// let mut buf = BytesMut::new();
/// Packet::from(connect).encode(ProtocolVersion::V311, &mut buf).unwrap();
/// assert_eq!(&buf[..], &[0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The protocol version the client requests.
    pub protocol_version: ProtocolVersion,
    /// Clean Start (5.0) / Clean Session (3.1.1).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns the mechanism off.
    pub keep_alive: u16,
    /// Client Identifier; may be empty (the server decides whether to
    /// accept that; 3.1 requires 1 to 23 characters, which the server role
    /// checks, answering Identifier Rejected).
    pub client_id: MqttString,
    /// The will message, published if the connection ends abnormally.
    pub will: Option<Will>,
    /// User Name.
    pub username: Option<MqttString>,
    /// Password (binary data). 3.1.1 requires a user name with it
    /// [MQTT-3.1.2-22].
    pub password: Option<Bytes>,
    /// 5.0 properties; must be empty in 3.1.1.
    pub properties: ConnectProperties,
}

/// A will message (spec 3.1.2.5 and 3.1.3.2 to 3.1.3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will Topic: a valid topic name.
    pub topic: MqttString,
    /// Will Payload (binary data).
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// 5.0 will properties; must be empty in 3.1.1.
    pub properties: WillProperties,
}

/// A borrowed view of a [`Connect`], decoded or encoded without allocating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectRef<'a> {
    /// The protocol version (from the protocol level byte).
    pub protocol_version: ProtocolVersion,
    /// Clean Start / Clean Session.
    pub clean_start: bool,
    /// Keep Alive in seconds.
    pub keep_alive: u16,
    /// Client Identifier.
    pub client_id: MqttStr<'a>,
    /// The will message.
    pub will: Option<WillRef<'a>>,
    /// User Name.
    pub username: Option<MqttStr<'a>>,
    /// Password.
    pub password: Option<&'a [u8]>,
    /// 5.0 properties.
    pub properties: ConnectPropertiesRef<'a>,
}

/// A borrowed view of a [`Will`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WillRef<'a> {
    /// Will Topic.
    pub topic: MqttStr<'a>,
    /// Will Payload.
    pub payload: &'a [u8],
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// 5.0 will properties.
    pub properties: WillPropertiesRef<'a>,
}

impl Connect {
    /// A CONNECT for `version` with Clean Start set, a keep alive of 60
    /// seconds, no will, no credentials and no properties.
    pub fn new(version: ProtocolVersion, client_id: &str) -> Result<Self, Error> {
        Ok(Connect {
            protocol_version: version,
            clean_start: true,
            keep_alive: 60,
            client_id: MqttString::from_str(client_id)?,
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
        })
    }

    /// Sets Clean Start (Clean Session in 3.1.1).
    pub fn with_clean_start(mut self, clean_start: bool) -> Self {
        self.clean_start = clean_start;
        self
    }

    /// Sets the keep alive in seconds (0 turns it off).
    pub fn with_keep_alive(mut self, keep_alive: u16) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// Sets the will message.
    pub fn with_will(mut self, will: Will) -> Self {
        self.will = Some(will);
        self
    }

    /// Sets the user name.
    pub fn with_username(mut self, username: &str) -> Result<Self, Error> {
        self.username = Some(MqttString::from_str(username)?);
        Ok(self)
    }

    /// Sets the password.
    pub fn with_password(mut self, password: impl Into<Bytes>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> ConnectRef<'_> {
        ConnectRef {
            protocol_version: self.protocol_version,
            clean_start: self.clean_start,
            keep_alive: self.keep_alive,
            client_id: self.client_id.as_mqtt_str(),
            will: self.will.as_ref().map(Will::as_view),
            username: self.username.as_ref().map(MqttString::as_mqtt_str),
            password: self.password.as_deref(),
            properties: self.properties.as_view(),
        }
    }
}

impl Will {
    /// A will on a valid topic name, not retained, without properties.
    pub fn new(topic: &str, payload: impl Into<Bytes>, qos: QoS) -> Result<Self, Error> {
        validate_topic_name(topic).map_err(Error::InvalidTopicName)?;
        Ok(Will {
            topic: MqttString::from_str(topic)?,
            payload: payload.into(),
            qos,
            retain: false,
            properties: WillProperties::default(),
        })
    }

    /// Sets Will Retain.
    pub fn with_retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> WillRef<'_> {
        WillRef {
            topic: self.topic.as_mqtt_str(),
            payload: &self.payload,
            qos: self.qos,
            retain: self.retain,
            properties: self.properties.as_view(),
        }
    }
}

impl<'a> ConnectRef<'a> {
    /// The Connect Flags byte.
    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_start {
            flags |= CLEAN_START;
        }
        if let Some(will) = &self.will {
            flags |= WILL_FLAG | (will.qos.as_u8() << WILL_QOS_SHIFT);
            if will.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.password.is_some() {
            flags |= PASSWORD;
        }
        if self.username.is_some() {
            flags |= USER_NAME;
        }
        flags
    }

    /// Decodes a CONNECT body by the protocol version it names;
    /// `opts.version()` is not used.
    pub(crate) fn decode(body: &'a [u8], opts: &DecodeOptions) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let name = r.binary()?;
        let level = r.u8()?;
        // [MQTT-3.1.2-1] the name; [MQTT-3.1.2-2] a level we speak, under
        // the name of its version (`MQIsdp` 3, `MQTT` 4 and 5).
        let protocol_version = match (name, ProtocolVersion::from_level(level)) {
            (PROTOCOL_NAME_V31, Some(v @ ProtocolVersion::V31)) => v,
            (PROTOCOL_NAME, Some(v)) if !v.is_v31() => v,
            (PROTOCOL_NAME | PROTOCOL_NAME_V31, _) => {
                return Err(Error::UnsupportedProtocolVersion(level))
            }
            _ => return Err(Error::InvalidProtocolName),
        };
        let v5 = protocol_version.is_v5();
        let v31 = protocol_version.is_v31();

        let flags = r.u8()?;
        // 3.1 leaves bit 0 unused and states no rule for it.
        if flags & RESERVED != 0 && !v31 {
            return Err(Error::ReservedConnectFlag); // [MQTT-3.1.2-3]
        }
        let will_flag = flags & WILL_FLAG != 0;
        let will_qos_bits = (flags & WILL_QOS_MASK) >> WILL_QOS_SHIFT;
        let will_retain = flags & WILL_RETAIN != 0;
        // 5.0: [MQTT-3.1.2-11] [MQTT-3.1.2-13]; 3.1.1: [MQTT-3.1.2-13]
        // [MQTT-3.1.2-15]. 3.1 states no such rule: the bits are ignored
        // without a will.
        if !will_flag && (will_qos_bits != 0 || will_retain) && !v31 {
            return Err(Error::InvalidWillFlags);
        }
        // 5.0: [MQTT-3.1.2-12]; 3.1.1: [MQTT-3.1.2-14].
        let will_qos = QoS::from_u8(will_qos_bits).ok_or(Error::InvalidWillFlags)?;
        let has_username = flags & USER_NAME != 0;
        let has_password = flags & PASSWORD != 0;
        if !v5 && has_password && !has_username {
            return Err(Error::PasswordWithoutUserName); // [MQTT-3.1.2-22]
        }

        let keep_alive = r.u16()?;
        let properties = if v5 {
            ConnectPropertiesRef::read(&mut r)?
        } else {
            ConnectPropertiesRef::default()
        };

        let client_id = r.string()?;
        let will = if will_flag {
            let properties = if v5 {
                WillPropertiesRef::read(&mut r)?
            } else {
                WillPropertiesRef::default()
            };
            let topic = r.string()?;
            check_topic_name_bytes(topic.as_bytes()).map_err(Error::InvalidTopicName)?;
            let payload = r.binary()?;
            if opts.validates_payload_format() {
                check_payload_format(&properties, payload)?;
            }
            Some(WillRef {
                topic,
                payload,
                qos: will_qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        let username = if has_username {
            Some(r.string()?)
        } else {
            None
        };
        let password = if has_password {
            Some(r.binary()?)
        } else {
            None
        };
        r.finish()?;
        Ok(ConnectRef {
            protocol_version,
            clean_start: flags & CLEAN_START != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
        })
    }

    /// Validates for encoding in `self.protocol_version` (the `version`
    /// argument is not used: CONNECT names its own version).
    pub(crate) fn sizes(&self, _version: ProtocolVersion) -> Result<Sizes, Error> {
        let v5 = self.protocol_version.is_v5();
        if !v5 && self.password.is_some() && self.username.is_none() {
            return Err(Error::PasswordWithoutUserName); // [MQTT-3.1.2-22]
        }
        let mut sizes = Sizes::default();
        let mut remaining = FIXED_PART_LEN;
        if self.protocol_version.is_v31() {
            remaining += PROTOCOL_NAME_V31.len() - PROTOCOL_NAME.len();
        }
        let (props, props_len) = self.properties.sized_for(self.protocol_version)?;
        sizes.props = props;
        remaining += props_len;
        remaining += string_len(self.client_id)?;
        if let Some(will) = &self.will {
            let (will_props, will_props_len) = will.properties.sized_for(self.protocol_version)?;
            sizes.will_props = will_props;
            remaining += will_props_len;
            remaining += string_len(will.topic)?;
            check_topic_name_bytes(will.topic.as_bytes()).map_err(Error::InvalidTopicName)?;
            remaining += binary_len(will.payload)?;
            // Spec 3.1.3.2.3: a payload marked UTF-8 must be well-formed
            // UTF-8, so whatever encodes also decodes with validation on.
            check_payload_format(&will.properties, will.payload)?;
        }
        if let Some(username) = self.username {
            remaining += string_len(username)?;
        }
        if let Some(password) = self.password {
            remaining += binary_len(password)?;
        }
        sizes.remaining = remaining;
        Ok(sizes)
    }

    /// Writes the body validated by [`sizes`](Self::sizes), in
    /// `self.protocol_version`.
    pub(crate) fn put<B: BufMut>(&self, _version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
        let v5 = self.protocol_version.is_v5();
        put_binary(buf, self.protocol_version.protocol_name().as_bytes());
        buf.put_u8(self.protocol_version.level());
        buf.put_u8(self.flags());
        buf.put_u16(self.keep_alive);
        if v5 {
            self.properties.put(buf, sizes.props);
        }
        put_binary(buf, self.client_id.as_bytes());
        if let Some(will) = &self.will {
            if v5 {
                will.properties.put(buf, sizes.will_props);
            }
            put_binary(buf, will.topic.as_bytes());
            put_binary(buf, will.payload);
        }
        if let Some(username) = self.username {
            put_binary(buf, username.as_bytes());
        }
        if let Some(password) = self.password {
            put_binary(buf, password);
        }
    }

    // `&self` is the signature every packet view shares (see packet.rs).
    pub(crate) fn owned_in(&self, src: &Bytes) -> Connect {
        Connect {
            protocol_version: self.protocol_version,
            clean_start: self.clean_start,
            keep_alive: self.keep_alive,
            client_id: MqttString::from_validated(share(src, self.client_id.as_bytes())),
            will: self.will.map(|w| Will {
                topic: MqttString::from_validated(share(src, w.topic.as_bytes())),
                payload: share(src, w.payload),
                qos: w.qos,
                retain: w.retain,
                properties: w.properties.owned_in(src),
            }),
            username: self
                .username
                .map(|u| MqttString::from_validated(share(src, u.as_bytes()))),
            password: self.password.map(|p| share(src, p)),
            properties: self.properties.owned_in(src),
        }
    }
}

/// A will payload whose Payload Format Indicator says UTF-8 must be UTF-8
/// (spec 3.1.3.2.3).
fn check_payload_format(properties: &WillPropertiesRef<'_>, payload: &[u8]) -> Result<(), Error> {
    if properties.payload_format_indicator() == Some(true) && core::str::from_utf8(payload).is_err()
    {
        return Err(Error::PayloadFormatInvalid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{self, decode_with};
    use crate::codec::{Packet, PropertyId, ReasonCode, UserProperty};
    use crate::topic::TopicError;
    use alloc::vec;
    use alloc::vec::Vec;

    // CONNECT is encoded and decoded in the version it names itself: the
    // version argument these give is deliberately the "wrong" one for 5.0
    // packets.
    fn encode(connect: &Connect) -> Result<Vec<u8>, Error> {
        testing::encode(connect, ProtocolVersion::V311)
    }

    fn decode(bytes: &[u8]) -> Result<Connect, Error> {
        testing::decode(bytes, ProtocolVersion::V311)
    }

    fn assert_err(bytes: &[u8], expected: Error, code: ReasonCode) {
        testing::assert_err(bytes, ProtocolVersion::V311, expected, code);
    }

    /// Protocol name, `level`, `flags` and a keep alive of 60.
    fn var_header(level: u8, flags: u8) -> [u8; 10] {
        [0x00, 0x04, b'M', b'Q', b'T', b'T', level, flags, 0x00, 0x3C]
    }

    /// A whole CONNECT packet around `body` (remaining length < 128).
    fn packet(body: &[u8]) -> Vec<u8> {
        testing::packet::<Connect>(body)
    }

    /// `connect` encodes to the same bytes whatever the version argument,
    /// and round-trips through them on the owned and the borrowed paths.
    fn round_trip(connect: &Connect) {
        let bytes = encode(connect).unwrap();
        for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
            testing::golden(connect, version, &bytes);
        }
    }

    const V311_MINIMAL: [u8; 14] = [
        0x10, 0x0C, // CONNECT, remaining length 12
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x04, // protocol level 4
        0x02, // Clean Session
        0x00, 0x3C, // keep alive 60
        0x00, 0x00, // empty client identifier
    ];

    const V5_MINIMAL: [u8; 15] = [
        0x10, 0x0D, // CONNECT, remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x05, // protocol level 5
        0x02, // Clean Start
        0x00, 0x3C, // keep alive 60
        0x00, // no properties
        0x00, 0x00, // empty client identifier
    ];

    /// Every field of a 3.1.1 CONNECT present.
    fn v311_full() -> (Connect, Vec<u8>) {
        let connect = Connect::new(ProtocolVersion::V311, "c1")
            .unwrap()
            .with_clean_start(false)
            .with_keep_alive(300)
            .with_will(
                Will::new("w/t", &b"bye"[..], QoS::AtLeastOnce)
                    .unwrap()
                    .with_retain(true),
            )
            .with_username("u")
            .unwrap()
            .with_password(&b"pw"[..]);
        let bytes = [
            &[0x10, 0x1F][..], // CONNECT, remaining length 31
            &[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04],
            // User Name, Password, Will Retain, Will QoS 1, Will Flag.
            &[0b1110_1100],
            &[0x01, 0x2C], // keep alive 300
            &[0x00, 0x02, b'c', b'1'],
            &[0x00, 0x03, b'w', b'/', b't'],
            &[0x00, 0x03, b'b', b'y', b'e'],
            &[0x00, 0x01, b'u'],
            &[0x00, 0x02, b'p', b'w'],
        ]
        .concat();
        (connect, bytes)
    }

    /// Every field and every property of a 5.0 CONNECT present.
    fn v5_full() -> (Connect, Vec<u8>) {
        let mut will = Will::new("w/t", &b"bye"[..], QoS::ExactlyOnce).unwrap();
        let wp = &mut will.properties;
        wp.will_delay_interval = Some(10);
        wp.payload_format_indicator = Some(true);
        wp.message_expiry_interval = Some(3600);
        wp.content_type = Some(MqttString::from_static("text/plain").unwrap());
        wp.response_topic = Some(MqttString::from_static("r").unwrap());
        wp.correlation_data = Some(Bytes::from_static(b"id"));
        wp.user_properties = vec![UserProperty::new("a", "b").unwrap()];
        let mut connect = Connect::new(ProtocolVersion::V5, "c1")
            .unwrap()
            .with_keep_alive(300)
            .with_will(will)
            .with_username("u")
            .unwrap()
            .with_password(&b"pw"[..]);
        let p = &mut connect.properties;
        p.session_expiry_interval = Some(3600);
        p.receive_maximum = Some(20);
        p.maximum_packet_size = Some(0x0001_0000);
        p.topic_alias_maximum = Some(10);
        p.request_response_information = Some(true);
        p.request_problem_information = Some(false);
        p.authentication_method = Some(MqttString::from_static("SCRAM").unwrap());
        p.authentication_data = Some(Bytes::from_static(&[1, 2]));
        p.user_properties = vec![UserProperty::new("k", "v").unwrap()];
        let bytes = [
            &[0x10, 0x72][..], // CONNECT, remaining length 114
            &[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05],
            // User Name, Password, Will QoS 2, Will Flag, Clean Start.
            &[0b1101_0110],
            &[0x01, 0x2C],                   // keep alive 300
            &[40],                           // property length
            &[0x11, 0x00, 0x00, 0x0E, 0x10], // Session Expiry Interval 3600
            &[0x21, 0x00, 0x14],             // Receive Maximum 20
            &[0x27, 0x00, 0x01, 0x00, 0x00], // Maximum Packet Size 65536
            &[0x22, 0x00, 0x0A],             // Topic Alias Maximum 10
            &[0x19, 0x01],                   // Request Response Information
            &[0x17, 0x00],                   // Request Problem Information
            &[0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M'],
            &[0x16, 0x00, 0x02, 0x01, 0x02],
            &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v'],
            &[0x00, 0x02, b'c', b'1'],       // client identifier
            &[41],                           // will property length
            &[0x18, 0x00, 0x00, 0x00, 0x0A], // Will Delay Interval 10
            &[0x01, 0x01],                   // Payload Format Indicator UTF-8
            &[0x02, 0x00, 0x00, 0x0E, 0x10], // Message Expiry Interval 3600
            &[0x03, 0x00, 0x0A],
            b"text/plain",
            &[0x08, 0x00, 0x01, b'r'],
            &[0x09, 0x00, 0x02, b'i', b'd'],
            &[0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b'],
            &[0x00, 0x03, b'w', b'/', b't'],
            &[0x00, 0x03, b'b', b'y', b'e'],
            &[0x00, 0x01, b'u'],
            &[0x00, 0x02, b'p', b'w'],
        ]
        .concat();
        (connect, bytes)
    }

    #[test]
    fn minimal_v311_connect_matches_golden_bytes() {
        let connect = Connect::new(ProtocolVersion::V311, "").unwrap();
        assert_eq!(encode(&connect).unwrap(), V311_MINIMAL);
        assert_eq!(decode(&V311_MINIMAL).unwrap(), connect);
    }

    #[test]
    fn minimal_v5_connect_matches_golden_bytes() {
        let connect = Connect::new(ProtocolVersion::V5, "").unwrap();
        assert_eq!(encode(&connect).unwrap(), V5_MINIMAL);
        assert_eq!(decode(&V5_MINIMAL).unwrap(), connect);
    }

    #[test]
    fn full_v311_connect_matches_golden_bytes() {
        let (connect, bytes) = v311_full();
        assert_eq!(encode(&connect).unwrap(), bytes);
        assert_eq!(decode(&bytes).unwrap(), connect);
    }

    #[test]
    fn full_v5_connect_matches_golden_bytes() {
        let (connect, bytes) = v5_full();
        assert_eq!(encode(&connect).unwrap(), bytes);
        assert_eq!(decode(&bytes).unwrap(), connect);
    }

    #[test]
    fn connects_round_trip_in_both_versions() {
        round_trip(&v311_full().0);
        round_trip(&v5_full().0);
        for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
            round_trip(&Connect::new(version, "client-1").unwrap());
            // A remaining length that needs two bytes.
            let big = Connect::new(version, "c")
                .unwrap()
                .with_username("user")
                .unwrap()
                .with_password(vec![0xA5; 300])
                .with_will(Will::new("a/b", vec![0u8; 200], QoS::AtMostOnce).unwrap());
            round_trip(&big);
        }
    }

    #[test]
    fn decoding_shares_the_input_buffer() {
        let (_, bytes) = v5_full();
        let mut buf = Bytes::from(bytes);
        let whole = buf.clone();
        let range = whole.as_ptr() as usize..whole.as_ptr() as usize + whole.len();
        let Some(Packet::Connect(c)) =
            Packet::decode(&mut buf, &DecodeOptions::new(ProtocolVersion::V5)).unwrap()
        else {
            panic!("expected CONNECT");
        };
        let will = c.will.unwrap();
        let password = c.password.unwrap();
        for part in [
            c.client_id.as_bytes(),
            &will.payload[..],
            will.topic.as_bytes(),
            &password[..],
        ] {
            assert!(range.contains(&(part.as_ptr() as usize)));
        }
    }

    #[test]
    fn connect_is_decoded_by_its_own_protocol_level() {
        // The options name the other version each time.
        let c = decode_with::<Connect>(&V5_MINIMAL, &DecodeOptions::new(ProtocolVersion::V311))
            .unwrap();
        assert_eq!(c.protocol_version, ProtocolVersion::V5);
        let c = decode_with::<Connect>(&V311_MINIMAL, &DecodeOptions::new(ProtocolVersion::V5))
            .unwrap();
        assert_eq!(c.protocol_version, ProtocolVersion::V311);
    }

    #[test]
    fn empty_client_id_is_left_to_the_server() {
        let mut bytes = V311_MINIMAL;
        bytes[9] = 0x00; // Clean Session 0 with an empty client id [MQTT-3.1.3-8]
        assert_eq!(decode(&bytes).unwrap().client_id, "");
    }

    #[test]
    fn wrong_protocol_name_is_rejected() {
        // [MQTT-3.1.2-1] neither "MQTT" nor 3.1's "MQIsdp".
        let body = [
            &[0x00, 0x06][..],
            b"MQIsdq",
            &[0x03, 0x02, 0x00, 0x3C, 0x00, 0x01, b'c'],
        ]
        .concat();
        assert_err(
            &packet(&body),
            Error::InvalidProtocolName,
            ReasonCode::UnsupportedProtocolVersion,
        );
        // Case matters.
        let mut bytes = V311_MINIMAL;
        bytes[7] = b't';
        assert_err(
            &bytes,
            Error::InvalidProtocolName,
            ReasonCode::UnsupportedProtocolVersion,
        );
    }

    /// A 3.1 CONNECT: "MQIsdp", level 3, Clean Session, keep alive 60,
    /// client identifier "c".
    const V31_MINIMAL: [u8; 17] = [
        0x10, 0x0F, // CONNECT, remaining length 15
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name
        0x03, // protocol level 3
        0x02, // Clean Session
        0x00, 0x3C, // keep alive 60
        0x00, 0x01, b'c', // client identifier
    ];

    #[test]
    fn v31_minimal_matches_golden_bytes() {
        // MQTT 3.1, CONNECT variable header: protocol name "MQIsdp",
        // protocol version 3.
        let connect = Connect::new(ProtocolVersion::V31, "c").unwrap();
        assert_eq!(encode(&connect).unwrap(), V31_MINIMAL);
        assert_eq!(decode(&V31_MINIMAL).unwrap(), connect);
        round_trip(&connect);
        // Decoded by its own name and level whatever the options say.
        let c =
            decode_with::<Connect>(&V31_MINIMAL, &DecodeOptions::new(ProtocolVersion::V5)).unwrap();
        assert_eq!(c.protocol_version, ProtocolVersion::V31);
    }

    #[test]
    fn v31_every_field_round_trips() {
        let connect = Connect::new(ProtocolVersion::V31, "c1")
            .unwrap()
            .with_clean_start(false)
            .with_keep_alive(300)
            .with_will(
                Will::new("w/t", &b"bye"[..], QoS::ExactlyOnce)
                    .unwrap()
                    .with_retain(true),
            )
            .with_username("u")
            .unwrap()
            .with_password(&b"pw"[..]);
        let bytes = [
            &[0x10, 0x21][..], // CONNECT, remaining length 33
            &[0x00, 0x06],
            b"MQIsdp",
            &[0x03],       // level 3
            &[0xF4],       // user name, password, will retain, will QoS 2, will
            &[0x01, 0x2C], // keep alive 300
            &[0x00, 0x02, b'c', b'1'],
            &[0x00, 0x03, b'w', b'/', b't'],
            &[0x00, 0x03, b'b', b'y', b'e'],
            &[0x00, 0x01, b'u'],
            &[0x00, 0x02, b'p', b'w'],
        ]
        .concat();
        assert_eq!(encode(&connect).unwrap(), bytes);
        round_trip(&connect);
    }

    #[test]
    fn v31_name_and_level_must_agree() {
        // "MQIsdp" with level 4 and "MQTT" with level 3: a level that
        // name does not use, answered as an unacceptable protocol version
        // [MQTT-3.1.2-2].
        let mut bytes = V31_MINIMAL;
        bytes[10] = 4;
        assert_err(
            &bytes,
            Error::UnsupportedProtocolVersion(4),
            ReasonCode::UnsupportedProtocolVersion,
        );
        let mut bytes = V311_MINIMAL;
        bytes[8] = 3;
        assert_err(
            &bytes,
            Error::UnsupportedProtocolVersion(3),
            ReasonCode::UnsupportedProtocolVersion,
        );
    }

    #[test]
    fn v31_rules_3_1_1_added_are_not_applied() {
        // MQTT 3.1 leaves Connect Flags bit 0 unused and has no rule for
        // Will QoS / Will Retain without a will: both are ignored.
        for flags in [0x03, 0x02 | 0x08, 0x02 | 0x20] {
            let mut bytes = V31_MINIMAL;
            bytes[11] = flags;
            let c = decode(&bytes).unwrap();
            assert!(c.clean_start);
            assert_eq!(c.will, None);
        }
        // Will QoS 3 stays malformed, and so does a password without a
        // user name (3.1's CONNECT: password only after a user name).
        let mut bytes = V31_MINIMAL;
        bytes[11] = 0x02 | 0x04 | 0x18;
        assert_err(&bytes, Error::InvalidWillFlags, ReasonCode::MalformedPacket);
        let body = [&V31_MINIMAL[2..], &[0x00, 0x01, b'p']].concat();
        let mut bytes = packet(&body);
        bytes[11] = 0x02 | 0x40;
        assert_eq!(decode(&bytes).unwrap_err(), Error::PasswordWithoutUserName);
        // The 3.1 codec leaves the identifier's length to the server role
        // (it answers return code 2): empty and long ones decode.
        let body = [&V31_MINIMAL[2..14], &[0x00, 0x00]].concat();
        assert_eq!(decode(&packet(&body)).unwrap().client_id, "");
    }

    #[test]
    fn unsupported_protocol_level_is_rejected() {
        // [MQTT-3.1.2-2]
        for level in [3, 6] {
            let mut bytes = V311_MINIMAL;
            bytes[8] = level;
            assert_err(
                &bytes,
                Error::UnsupportedProtocolVersion(level),
                ReasonCode::UnsupportedProtocolVersion,
            );
        }
    }

    #[test]
    fn reserved_connect_flag_is_malformed() {
        // [MQTT-3.1.2-3]
        for template in [&V311_MINIMAL[..], &V5_MINIMAL[..]] {
            let mut bytes = template.to_vec();
            bytes[9] |= 0x01;
            assert_err(
                &bytes,
                Error::ReservedConnectFlag,
                ReasonCode::MalformedPacket,
            );
        }
    }

    #[test]
    fn will_qos_without_will_flag_is_malformed() {
        // 5.0 [MQTT-3.1.2-11], 3.1.1 [MQTT-3.1.2-13]
        for template in [&V311_MINIMAL[..], &V5_MINIMAL[..]] {
            let mut bytes = template.to_vec();
            bytes[9] |= 0b0000_1000;
            assert_err(&bytes, Error::InvalidWillFlags, ReasonCode::MalformedPacket);
        }
    }

    #[test]
    fn will_retain_without_will_flag_is_malformed() {
        // 5.0 [MQTT-3.1.2-13], 3.1.1 [MQTT-3.1.2-15]
        for template in [&V311_MINIMAL[..], &V5_MINIMAL[..]] {
            let mut bytes = template.to_vec();
            bytes[9] |= 0b0010_0000;
            assert_err(&bytes, Error::InvalidWillFlags, ReasonCode::MalformedPacket);
        }
    }

    #[test]
    fn will_qos_3_is_malformed() {
        // 5.0 [MQTT-3.1.2-12], 3.1.1 [MQTT-3.1.2-14]
        let (_, mut bytes) = v311_full();
        bytes[9] |= 0b0001_1000;
        assert_err(&bytes, Error::InvalidWillFlags, ReasonCode::MalformedPacket);
        let (_, mut bytes) = v5_full();
        bytes[9] |= 0b0001_1000;
        assert_err(&bytes, Error::InvalidWillFlags, ReasonCode::MalformedPacket);
    }

    #[test]
    fn v311_password_without_user_name_is_malformed() {
        // [MQTT-3.1.2-22]
        let body = [
            &var_header(4, 0b0100_0010)[..],
            &[0x00, 0x00],             // client identifier
            &[0x00, 0x02, b'p', b'w'], // password
        ]
        .concat();
        assert_err(
            &packet(&body),
            Error::PasswordWithoutUserName,
            ReasonCode::MalformedPacket,
        );
        let mut connect = Connect::new(ProtocolVersion::V311, "").unwrap();
        connect.password = Some(Bytes::from_static(b"pw"));
        assert_eq!(encode(&connect), Err(Error::PasswordWithoutUserName));
    }

    #[test]
    fn v5_password_without_user_name_is_allowed() {
        // 5.0 dropped [MQTT-3.1.2-22]: a password may come alone.
        let body = [
            &var_header(5, 0b0100_0010)[..],
            &[0x00],                   // no properties
            &[0x00, 0x00],             // client identifier
            &[0x00, 0x02, b'p', b'w'], // password
        ]
        .concat();
        let connect = decode(&packet(&body)).unwrap();
        assert_eq!(connect.username, None);
        assert_eq!(connect.password.as_deref(), Some(&b"pw"[..]));
        assert_eq!(encode(&connect).unwrap(), packet(&body));
    }

    #[test]
    fn will_topic_must_be_a_valid_topic_name() {
        // Spec 3.1.3.3: the Will Topic is a topic name, so no wildcards
        // [MQTT-3.3.2-2] and not empty [MQTT-4.7.3-1].
        let (_, bytes) = v311_full();
        let mut wild = bytes.clone();
        wild[20] = b'#'; // "w/t" -> "w/#"
        assert_err(
            &wild,
            Error::InvalidTopicName(TopicError::WildcardInName),
            ReasonCode::TopicNameInvalid,
        );
        let body = [
            &var_header(4, 0b0000_0110)[..],
            &[0x00, 0x00],       // client identifier
            &[0x00, 0x00],       // empty will topic
            &[0x00, 0x01, b'x'], // will payload
        ]
        .concat();
        assert_err(
            &packet(&body),
            Error::InvalidTopicName(TopicError::Empty),
            ReasonCode::TopicNameInvalid,
        );
        let (mut connect, _) = v311_full();
        connect.will.as_mut().unwrap().topic = MqttString::from_static("a/+").unwrap();
        assert_eq!(
            encode(&connect),
            Err(Error::InvalidTopicName(TopicError::WildcardInName))
        );
    }

    /// A 5.0 CONNECT whose will payload is `payload`, marked UTF-8.
    fn v5_utf8_will(payload: &[u8]) -> Vec<u8> {
        let body = [
            &var_header(5, 0b0000_0110)[..],
            &[0x00],             // no properties
            &[0x00, 0x00],       // client identifier
            &[0x02, 0x01, 0x01], // Payload Format Indicator 1
            &[0x00, 0x01, b't'], // will topic
            &[0x00, payload.len() as u8],
            payload,
        ]
        .concat();
        packet(&body)
    }

    #[test]
    fn will_payload_marked_utf8_must_be_utf8() {
        // Spec 3.1.3.2.3: 0x99 Payload format invalid.
        let bytes = v5_utf8_will(&[0xFF, 0xFE]);
        assert_err(
            &bytes,
            Error::PayloadFormatInvalid,
            ReasonCode::PayloadFormatInvalid,
        );
        // Receivers may skip the check.
        let opts = DecodeOptions::new(ProtocolVersion::V5).with_payload_format_validation(false);
        let connect = decode_with::<Connect>(&bytes, &opts).unwrap();
        assert_eq!(&connect.will.as_ref().unwrap().payload[..], &[0xFF, 0xFE]);
        // Encoding refuses to send it.
        assert_eq!(encode(&connect), Err(Error::PayloadFormatInvalid));
        // Well-formed UTF-8 passes both ways.
        let ok = v5_utf8_will("é".as_bytes());
        let connect = decode(&ok).unwrap();
        assert_eq!(encode(&connect).unwrap(), ok);
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut bytes = V311_MINIMAL.to_vec();
        bytes.push(0x00);
        bytes[1] += 1;
        assert_err(&bytes, Error::TrailingBytes, ReasonCode::MalformedPacket);
    }

    #[test]
    fn missing_flagged_fields_are_truncated() {
        // User Name flag set, no user name.
        let mut bytes = V311_MINIMAL;
        bytes[9] |= 0b1000_0000;
        assert_err(&bytes, Error::Truncated, ReasonCode::MalformedPacket);
        // 5.0 without its property length.
        let mut bytes = V5_MINIMAL.to_vec();
        bytes.remove(12);
        bytes[1] = 12;
        assert_err(&bytes, Error::Truncated, ReasonCode::MalformedPacket);
    }

    // 5.0 2.2.2.2: a property not valid where it stands is a Malformed
    // Packet.
    #[test]
    fn misplaced_properties_are_malformed() {
        // Will Delay Interval among the CONNECT properties.
        let body = [
            &var_header(5, 0x02)[..],
            &[0x05, 0x18, 0x00, 0x00, 0x00, 0x01],
            &[0x00, 0x00], // client identifier
        ]
        .concat();
        assert_err(
            &packet(&body),
            Error::PropertyNotAllowed {
                property: PropertyId::WillDelayInterval,
                packet: PacketType::Connect,
            },
            ReasonCode::MalformedPacket,
        );
        // Session Expiry Interval among the will properties.
        let body = [
            &var_header(5, 0b0000_0110)[..],
            &[0x00],       // no properties
            &[0x00, 0x00], // client identifier
            &[0x05, 0x11, 0x00, 0x00, 0x00, 0x01],
            &[0x00, 0x01, b't'], // will topic
            &[0x00, 0x00],       // will payload
        ]
        .concat();
        assert_err(
            &packet(&body),
            Error::PropertyNotAllowed {
                property: PropertyId::SessionExpiryInterval,
                packet: PacketType::Connect,
            },
            ReasonCode::MalformedPacket,
        );
    }

    #[test]
    fn v311_connect_cannot_carry_properties() {
        let mut connect = Connect::new(ProtocolVersion::V311, "c").unwrap();
        connect.properties.session_expiry_interval = Some(1);
        assert_eq!(encode(&connect), Err(Error::PropertiesInV311));
        assert_eq!(
            Error::PropertiesInV311.reason_code(),
            ReasonCode::ProtocolError
        );
        let mut will = Will::new("t", Bytes::new(), QoS::AtMostOnce).unwrap();
        will.properties.will_delay_interval = Some(1);
        let connect = Connect::new(ProtocolVersion::V311, "c")
            .unwrap()
            .with_will(will);
        assert_eq!(encode(&connect), Err(Error::PropertiesInV311));
    }

    #[test]
    fn out_of_range_property_values_are_refused_when_encoding() {
        let mut connect = Connect::new(ProtocolVersion::V5, "c").unwrap();
        connect.properties.receive_maximum = Some(0);
        assert_eq!(
            encode(&connect),
            Err(Error::InvalidPropertyValue(PropertyId::ReceiveMaximum))
        );
    }

    #[test]
    fn builders_validate_their_input() {
        assert_eq!(
            Connect::new(ProtocolVersion::V5, "a\0b"),
            Err(Error::NullCharacter)
        );
        assert_eq!(
            Will::new("a/#", Bytes::new(), QoS::AtMostOnce),
            Err(Error::InvalidTopicName(TopicError::WildcardInName))
        );
    }
}
