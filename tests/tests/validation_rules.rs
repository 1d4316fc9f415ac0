//! One malformed packet per validation rule of the codec, each checked for
//! the exact error and the MQTT reason code a receiver must send, through
//! the borrowed, owned and streaming decoders alike.

use bytes::Bytes;
use mqtt_core::codec::{
    DecodeOptions, Decoder, Error, Packet, PacketRef, PacketType, PropertyId, ProtocolVersion,
    ReasonCode,
};
use mqtt_core::topic::TopicError;
use mqtt_tests::hex;

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

struct Case {
    rule: &'static str,
    version: ProtocolVersion,
    hex: &'static str,
    error: Error,
    reason: ReasonCode,
}

fn cases() -> Vec<Case> {
    use Error as E;
    use ReasonCode as R;
    let c = |rule, version, hex, error, reason| Case {
        rule,
        version,
        hex,
        error,
        reason,
    };
    vec![
        // Fixed header.
        c(
            "[MQTT-1.5.5-1] a fifth remaining-length byte",
            V5,
            "30 FF FF FF FF 01",
            E::MalformedRemainingLength,
            R::MalformedPacket,
        ),
        c(
            "[MQTT-2.1.3-1] reserved flags on PUBREL must be 0010",
            V5,
            "60 02 00 01",
            E::ReservedFlags {
                packet_type: PacketType::PubRel,
                flags: 0,
            },
            R::MalformedPacket,
        ),
        c(
            "[MQTT-2.1.3-1] reserved flags on SUBSCRIBE must be 0010",
            V3,
            "80 08 00 01 00 03 61 2F 23 01",
            E::ReservedFlags {
                packet_type: PacketType::Subscribe,
                flags: 0,
            },
            R::MalformedPacket,
        ),
        c(
            "[MQTT-2.1.3-1] reserved flags on PINGREQ must be 0000",
            V3,
            "C1 00",
            E::ReservedFlags {
                packet_type: PacketType::PingReq,
                flags: 1,
            },
            R::MalformedPacket,
        ),
        c(
            "packet type 0 is reserved",
            V5,
            "00 00",
            E::InvalidPacketType(0),
            R::MalformedPacket,
        ),
        c(
            "packet type 15 (AUTH) is reserved in 3.1.1",
            V3,
            "F0 00",
            E::InvalidPacketType(15),
            R::MalformedPacket,
        ),
        // PUBLISH.
        c(
            "[MQTT-3.3.1-4] QoS 3",
            V3,
            "36 07 00 03 61 2F 62 00 01",
            E::InvalidQoS,
            R::MalformedPacket,
        ),
        c(
            "[MQTT-3.3.1-2] DUP with QoS 0",
            V3,
            "38 05 00 03 61 2F 62",
            E::DupWithQoS0,
            R::MalformedPacket,
        ),
        c(
            "[MQTT-1.5.4-1] ill-formed UTF-8 in a topic",
            V3,
            "30 03 00 01 FF",
            E::InvalidUtf8,
            R::MalformedPacket,
        ),
        c(
            "[MQTT-1.5.4-1] an encoded surrogate (U+D800) in a topic",
            V3,
            "30 05 00 03 ED A0 80",
            E::InvalidUtf8,
            R::MalformedPacket,
        ),
        c(
            "[MQTT-1.5.4-2] U+0000 in a topic",
            V3,
            "30 05 00 03 61 00 62",
            E::NullCharacter,
            R::MalformedPacket,
        ),
        c(
            "[MQTT-3.3.2-2] `+` in a topic name",
            V3,
            "30 05 00 03 61 2F 2B",
            E::InvalidTopicName(TopicError::WildcardInName),
            R::TopicNameInvalid,
        ),
        c(
            "[MQTT-3.3.2-2] `#` in a topic name",
            V5,
            "30 06 00 03 61 2F 23 00",
            E::InvalidTopicName(TopicError::WildcardInName),
            R::TopicNameInvalid,
        ),
        c(
            "[MQTT-4.7.3-1] empty topic name in 3.1.1",
            V3,
            "30 02 00 00",
            E::EmptyTopicWithoutAlias,
            R::ProtocolError,
        ),
        c(
            "[MQTT-3.3.2-1] empty topic name without Topic Alias in 5.0",
            V5,
            "30 03 00 00 00",
            E::EmptyTopicWithoutAlias,
            R::ProtocolError,
        ),
        c(
            "[MQTT-2.2.1-3] QoS 1 PUBLISH with packet identifier 0",
            V3,
            "32 07 00 03 61 2F 62 00 00",
            E::InvalidPacketIdentifier,
            R::ProtocolError,
        ),
        c(
            "[MQTT-3.3.2-8] Topic Alias 0",
            V5,
            "30 09 00 03 61 2F 62 03 23 00 00",
            E::InvalidPropertyValue(PropertyId::TopicAlias),
            R::TopicAliasInvalid,
        ),
        c(
            "payload not UTF-8 although Payload Format Indicator is 1",
            V5,
            "30 09 00 03 61 2F 62 02 01 01 FF",
            E::PayloadFormatInvalid,
            R::PayloadFormatInvalid,
        ),
        // Properties.
        c(
            "unknown property identifier 0x05",
            V5,
            "30 08 00 03 61 2F 62 02 05 00",
            E::UnknownProperty(0x05),
            R::MalformedPacket,
        ),
        c(
            "Session Expiry Interval misplaced in PUBLISH",
            V5,
            "30 0B 00 03 61 2F 62 05 11 00 00 00 01",
            E::PropertyNotAllowed {
                property: PropertyId::SessionExpiryInterval,
                packet: PacketType::Publish,
            },
            // Spec 2.2.2.2: an identifier not valid for its packet type.
            R::MalformedPacket,
        ),
        c(
            "Message Expiry Interval twice",
            V5,
            "30 10 00 03 61 2F 62 0A 02 00 00 00 01 02 00 00 00 02",
            E::DuplicateProperty(PropertyId::MessageExpiryInterval),
            R::ProtocolError,
        ),
        c(
            "property block longer than the packet",
            V5,
            "30 07 00 03 61 2F 62 09 01",
            E::Truncated,
            R::MalformedPacket,
        ),
        // Acknowledgements.
        c(
            "[MQTT-2.2.1-3] PUBACK with packet identifier 0",
            V3,
            "40 02 00 00",
            E::InvalidPacketIdentifier,
            R::ProtocolError,
        ),
        c(
            "3.1.1 PUBACK longer than its packet identifier",
            V3,
            "40 03 00 01 00",
            E::TrailingBytes,
            R::MalformedPacket,
        ),
        c(
            "PUBACK shorter than a packet identifier",
            V5,
            "40 01 00",
            E::Truncated,
            R::MalformedPacket,
        ),
        c(
            "PUBCOMP reason code 0x10 is not allowed there",
            V5,
            "70 03 00 01 10",
            E::InvalidReasonCode {
                packet: PacketType::PubComp,
                code: 0x10,
            },
            R::MalformedPacket,
        ),
        c(
            "PUBACK reason code 0x03 is not defined",
            V5,
            "40 03 00 01 03",
            E::InvalidReasonCode {
                packet: PacketType::PubAck,
                code: 0x03,
            },
            R::MalformedPacket,
        ),
        c(
            "PINGREQ with a body",
            V3,
            "C0 01 00",
            E::TrailingBytes,
            R::MalformedPacket,
        ),
        c(
            "DISCONNECT with a body in 3.1.1",
            V3,
            "E0 01 00",
            E::TrailingBytes,
            R::MalformedPacket,
        ),
        // SUBSCRIBE / UNSUBSCRIBE.
        c(
            "[MQTT-3.8.3-2] SUBSCRIBE without a filter",
            V3,
            "82 02 00 01",
            E::EmptySubscribe,
            R::ProtocolError,
        ),
        c(
            "[MQTT-3.8.3-2] SUBSCRIBE without a filter (5.0)",
            V5,
            "82 03 00 01 00",
            E::EmptySubscribe,
            R::ProtocolError,
        ),
        c(
            "[MQTT-3.10.3-2] UNSUBSCRIBE without a filter",
            V3,
            "A2 02 00 01",
            E::EmptyUnsubscribe,
            R::ProtocolError,
        ),
        c(
            "[MQTT-2.2.1-3] SUBSCRIBE with packet identifier 0",
            V3,
            "82 08 00 00 00 03 61 2F 23 01",
            E::InvalidPacketIdentifier,
            R::ProtocolError,
        ),
        c(
            "[MQTT-4.7.1-1] `#` not last in a filter",
            V3,
            "82 0A 00 01 00 05 61 2F 23 2F 62 01",
            E::InvalidTopicFilter(TopicError::MisplacedMultiLevelWildcard),
            R::TopicFilterInvalid,
        ),
        c(
            "[MQTT-4.7.1-2] `+` not alone in its level",
            V3,
            "82 09 00 01 00 04 61 2F 62 2B 01",
            E::InvalidTopicFilter(TopicError::MisplacedSingleLevelWildcard),
            R::TopicFilterInvalid,
        ),
        c(
            "[MQTT-3.8.3-5] reserved subscription option bits",
            V5,
            "82 09 00 01 00 00 03 61 2F 23 C1",
            E::InvalidSubscriptionOptions,
            R::MalformedPacket,
        ),
        c(
            "Retain Handling 3",
            V5,
            "82 09 00 01 00 00 03 61 2F 23 30",
            E::InvalidRetainHandling,
            R::ProtocolError,
        ),
        c(
            "[MQTT-3.8.3-4] No Local on a shared subscription",
            V5,
            "82 10 00 01 00 00 0A 24 73 68 61 72 65 2F 67 2F 61 04",
            E::NoLocalOnSharedSubscription,
            R::ProtocolError,
        ),
        // CONNECT.
        c(
            "[MQTT-3.1.2-1] protocol name not MQTT",
            V3,
            "10 0C 00 04 4D 51 54 58 04 02 00 3C 00 00",
            E::InvalidProtocolName,
            R::UnsupportedProtocolVersion,
        ),
        c(
            "[MQTT-3.1.2-2] protocol level 6",
            V5,
            "10 0D 00 04 4D 51 54 54 06 02 00 3C 00 00 00",
            E::UnsupportedProtocolVersion(6),
            R::UnsupportedProtocolVersion,
        ),
        c(
            "[MQTT-3.1.2-3] reserved CONNECT flag set",
            V3,
            "10 0C 00 04 4D 51 54 54 04 03 00 3C 00 00",
            E::ReservedConnectFlag,
            R::MalformedPacket,
        ),
        c(
            "[MQTT-3.1.2-11] will QoS without will flag",
            V3,
            "10 0C 00 04 4D 51 54 54 04 0A 00 3C 00 00",
            E::InvalidWillFlags,
            R::MalformedPacket,
        ),
        c(
            "[MQTT-3.1.2-13] will retain without will flag",
            V3,
            "10 0C 00 04 4D 51 54 54 04 22 00 3C 00 00",
            E::InvalidWillFlags,
            R::MalformedPacket,
        ),
        c(
            "[MQTT-3.1.2-12] will QoS 3",
            V3,
            "10 12 00 04 4D 51 54 54 04 1E 00 3C 00 00 00 01 74 00 01 78",
            E::InvalidWillFlags,
            R::MalformedPacket,
        ),
        c(
            "[MQTT-3.1.2-22] 3.1.1 password without user name",
            V3,
            "10 10 00 04 4D 51 54 54 04 42 00 3C 00 00 00 02 70 77",
            E::PasswordWithoutUserName,
            R::MalformedPacket,
        ),
        c(
            "CONNECT with bytes after its payload",
            V3,
            "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 00 FF",
            E::TrailingBytes,
            R::MalformedPacket,
        ),
        c(
            "Authentication Data without Authentication Method (3.1.2.11.10)",
            V5,
            "10 11 00 04 4D 51 54 54 05 02 00 3C 04 16 00 01 AA 00 00",
            E::InvalidPropertyValue(PropertyId::AuthenticationData),
            R::ProtocolError,
        ),
        c(
            "SUBACK without a reason code",
            V3,
            "90 02 00 01",
            E::EmptyReasonCodes,
            R::MalformedPacket,
        ),
        // CONNACK.
        c(
            "[MQTT-3.2.2-1] reserved CONNACK flag bits",
            V3,
            "20 02 02 00",
            E::InvalidConnAckFlags,
            R::MalformedPacket,
        ),
    ]
}

#[test]
fn every_rule_gives_its_error_and_reason_code_on_every_decode_path() {
    for case in cases() {
        let bytes = hex(case.hex);
        let options = DecodeOptions::new(case.version);
        assert_eq!(
            case.error.reason_code(),
            case.reason,
            "{}: reason code",
            case.rule
        );

        let got = PacketRef::decode(&bytes, &options).map(|o| o.map(|(p, _)| p.packet_type()));
        assert_eq!(got, Err(case.error), "{}: borrowed decode", case.rule);

        let mut buf = Bytes::from(bytes.clone());
        assert_eq!(
            Packet::decode(&mut buf, &options),
            Err(case.error),
            "{}: owned decode",
            case.rule
        );

        // Streamed one byte at a time: the same error, at the same point.
        let mut decoder = Decoder::new(options);
        let mut result = Ok(None);
        for b in &bytes {
            decoder.feed(std::slice::from_ref(b));
            result = decoder.next_packet();
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(case.error), "{}: streaming decode", case.rule);
    }
}

#[test]
fn header_claiming_256_mib_fails_within_five_bytes_with_a_1_mib_limit() {
    // Limits before allocation: the size is known from the fixed header.
    let mut decoder = Decoder::new(DecodeOptions::new(V5).with_max_packet_size(1 << 20));
    let header = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    for (i, b) in header.iter().enumerate() {
        decoder.feed(&[*b]);
        let r = decoder.next_packet();
        if i < 4 {
            assert_eq!(r, Ok(None), "byte {i}");
        } else {
            let err = r.unwrap_err();
            assert_eq!(
                err,
                Error::PacketTooLarge {
                    size: 268_435_460,
                    max: 1 << 20
                }
            );
            assert_eq!(err.reason_code(), ReasonCode::PacketTooLarge);
        }
    }
    assert!(decoder.buffered() <= 5);
}

#[test]
fn packet_exactly_at_the_limit_is_accepted_and_one_byte_over_is_not() {
    // A 3.1.1 PUBLISH "a/b" + "hi" is 9 bytes in all.
    let bytes = hex("30 07 00 03 61 2F 62 68 69");
    let at = DecodeOptions::new(V3).with_max_packet_size(9);
    assert!(PacketRef::decode(&bytes, &at).unwrap().is_some());
    let under = DecodeOptions::new(V3).with_max_packet_size(8);
    assert_eq!(
        PacketRef::decode(&bytes, &under).unwrap_err(),
        Error::PacketTooLarge { size: 9, max: 8 }
    );
}

/// Fuzz find: a caller-built property block with a Subscription Identifier
/// in more bytes than needed was accepted and copied out as is.
#[test]
fn caller_built_property_blocks_need_minimal_variable_integers() {
    use mqtt_core::codec::PublishPropertiesRef;
    // [MQTT-1.5.5-1] 1 written in four bytes.
    let block = [0x0B, 0x81, 0x80, 0x80, 0x00];
    assert_eq!(
        PublishPropertiesRef::from_wire(&block).unwrap_err(),
        Error::MalformedVariableInteger
    );
    assert_eq!(
        PublishPropertiesRef::from_wire(&[0x0B, 0x01])
            .unwrap()
            .subscription_identifiers()
            .len(),
        1
    );
}

#[test]
fn payload_format_validation_can_be_turned_off() {
    let bytes = hex("30 09 00 03 61 2F 62 02 01 01 FF");
    let options = DecodeOptions::new(V5).with_payload_format_validation(false);
    assert!(PacketRef::decode(&bytes, &options).unwrap().is_some());
}

/// Encoding validates with the same rules, so that whatever we encode
/// decodes back: each invalid packet is refused before a byte is written.
#[test]
fn encoding_refuses_what_decoding_would_reject() {
    use bytes::BytesMut;
    use mqtt_core::codec::{Disconnect, PubAck, Publish, QoS, TopicName, TopicNameRef};

    let base = Publish::new("a/b", Bytes::from_static(b"x")).unwrap();
    let mut cases: Vec<(&str, ProtocolVersion, Packet, Error)> = Vec::new();

    // [MQTT-3.3.2-2] A topic name with a wildcard cannot be built, so no
    // PUBLISH can carry one to the encoder.
    let wildcard = Error::InvalidTopicName(TopicError::WildcardInName);
    assert_eq!(TopicName::from_str("a/+"), Err(wildcard));
    assert_eq!(TopicNameRef::new("a/#"), Err(wildcard));
    assert_eq!(Publish::new("+", Bytes::new()), Err(wildcard));

    let mut p = base.clone();
    p.topic = TopicName::EMPTY;
    cases.push((
        "[MQTT-3.3.2-1] empty topic without alias",
        V5,
        Packet::Publish(p),
        Error::EmptyTopicWithoutAlias,
    ));

    let p = base.clone().with_qos(QoS::AtLeastOnce, 0);
    cases.push((
        "[MQTT-2.2.1-3] QoS 1 with packet id 0",
        V5,
        Packet::Publish(p),
        Error::InvalidPacketIdentifier,
    ));

    let p = base.clone().with_qos(QoS::AtMostOnce, 7);
    cases.push((
        "[MQTT-2.2.1-2] QoS 0 with a packet id",
        V5,
        Packet::Publish(p),
        Error::InvalidPacketIdentifier,
    ));

    let mut p = base.clone();
    p.dup = true;
    cases.push((
        "[MQTT-3.3.1-2] DUP on QoS 0",
        V5,
        Packet::Publish(p),
        Error::DupWithQoS0,
    ));

    let mut p = base.clone();
    p.properties.message_expiry_interval = Some(10);
    cases.push((
        "properties in 3.1.1",
        V3,
        Packet::Publish(p),
        Error::PropertiesInV311,
    ));

    let mut p = base.clone();
    p.properties.topic_alias = Some(0);
    cases.push((
        "[MQTT-3.3.2-8] Topic Alias 0",
        V5,
        Packet::Publish(p),
        Error::InvalidPropertyValue(PropertyId::TopicAlias),
    ));

    let mut p = base.clone();
    p.properties.subscription_identifiers = vec![0];
    cases.push((
        "Subscription Identifier 0",
        V5,
        Packet::Publish(p),
        Error::InvalidPropertyValue(PropertyId::SubscriptionIdentifier),
    ));

    let mut p = base.clone();
    p.properties.response_topic = Some(mqtt_core::codec::MqttString::from_str("r/#").unwrap());
    cases.push((
        "[MQTT-3.3.2-14] wildcard in Response Topic",
        V5,
        Packet::Publish(p),
        Error::InvalidPropertyValue(PropertyId::ResponseTopic),
    ));

    let mut p = base.clone();
    p.properties.correlation_data = Some(Bytes::from(vec![0; 65_536]));
    cases.push((
        "binary field over 65,535 bytes",
        V5,
        Packet::Publish(p),
        Error::FieldTooLong,
    ));

    let ack = PubAck::new(1).with_reason_code(ReasonCode::NoMatchingSubscribers);
    cases.push((
        "reason code in 3.1.1 PUBACK",
        V3,
        Packet::PubAck(ack),
        Error::InvalidReasonCode {
            packet: PacketType::PubAck,
            code: 0x10,
        },
    ));

    let ack = PubAck::new(1).with_reason_code(ReasonCode::GrantedQoS2);
    cases.push((
        "SUBACK-only code in PUBACK",
        V5,
        Packet::PubAck(ack),
        Error::InvalidReasonCode {
            packet: PacketType::PubAck,
            code: 0x02,
        },
    ));

    cases.push((
        "[MQTT-2.2.1-3] PUBACK with packet id 0",
        V5,
        Packet::PubAck(PubAck::new(0)),
        Error::InvalidPacketIdentifier,
    ));

    let d = Disconnect::new(ReasonCode::ContinueAuthentication);
    cases.push((
        "AUTH-only code in DISCONNECT",
        V5,
        Packet::Disconnect(d),
        Error::InvalidReasonCode {
            packet: PacketType::Disconnect,
            code: 0x18,
        },
    ));

    cases.push((
        "AUTH in 3.1.1",
        V3,
        Packet::Auth(mqtt_core::codec::Auth::default()),
        Error::InvalidPacketType(15),
    ));

    for (rule, version, packet, expected) in cases {
        let mut out = BytesMut::new();
        assert_eq!(packet.encode(version, &mut out), Err(expected), "{rule}");
        assert!(out.is_empty(), "{rule}: bytes written on error");
        assert_eq!(
            packet.encoded_len(version),
            Err(expected),
            "{rule}: encoded_len"
        );
    }
}
