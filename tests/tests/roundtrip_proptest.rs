//! Property tests: for arbitrary valid packets of every type and both
//! versions, encode → decode gives the packet back (owned and borrowed
//! paths, any chunking), `encoded_len` is exact, and the decoded packet
//! re-encodes byte for byte.

use bytes::{Bytes, BytesMut};
use mqtt_core::codec::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

// ---- building blocks ----

/// Any MQTT string: Unicode without U+0000, including multi-byte chars.
fn string() -> impl Strategy<Value = MqttString> {
    "[a-zA-Z0-9 _/.é€😀\u{7f}-\u{ff}]{0,12}".prop_map(|s| MqttString::from_str(&s).unwrap())
}

fn topic_name() -> impl Strategy<Value = MqttString> {
    vec("[a-z0-9$é]{0,4}", 1..4).prop_filter_map("non-empty topic", |levels| {
        let t = levels.join("/");
        (!t.is_empty()).then(|| MqttString::from_str(&t).unwrap())
    })
}

fn topic_filter() -> impl Strategy<Value = MqttString> {
    (vec(prop_oneof!["[a-z0-9]{0,3}", Just("+".to_string())], 1..4), any::<bool>(), option::weighted(0.2, "[a-z]{1,3}"))
        .prop_map(|(levels, hash, share)| {
            let mut f = levels.join("/");
            if hash {
                f.push_str("/#");
            }
            if let Some(group) = share {
                f = format!("$share/{group}/{f}");
            }
            MqttString::from_str(&f).unwrap()
        })
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..16).prop_map(Bytes::from)
}

fn user_properties() -> impl Strategy<Value = Vec<UserProperty>> {
    vec((string(), string()).prop_map(|(key, value)| UserProperty { key, value }), 0..4)
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

fn nonzero_u16() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

fn reason_code_for(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    let codes: Vec<ReasonCode> = ReasonCode::ALL.iter().copied().filter(|c| c.allowed_in(packet)).collect();
    proptest::sample::select(codes)
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(ProtocolVersion::V311), Just(ProtocolVersion::V5)]
}

// ---- packets ----

fn publish_properties() -> impl Strategy<Value = PublishProperties> {
    (
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(nonzero_u16()),
        option::of(topic_name()),
        option::of(binary()),
        option::of(string()),
        vec(1..=MAX_VARIABLE_INTEGER, 0..3),
        user_properties(),
    )
        .prop_map(|(pfi, expiry, alias, response, corr, content, sub_ids, users)| {
            let mut p = PublishProperties::default();
            // Keep payload formats honest: the payload is chosen UTF-8 below when set.
            p.payload_format_indicator = pfi;
            p.message_expiry_interval = expiry;
            p.topic_alias = alias;
            p.response_topic = response;
            p.correlation_data = corr;
            p.content_type = content;
            p.subscription_identifiers = sub_ids;
            p.user_properties = users;
            p
        })
}

fn publish(v: ProtocolVersion) -> impl Strategy<Value = Publish> {
    (any::<bool>(), qos(), any::<bool>(), topic_name(), nonzero_u16(), publish_properties(), "[a-z0-9é]{0,40}", any::<bool>())
        .prop_map(move |(dup, qos, retain, topic, id, props, text, alias_only)| {
            let mut p = Publish::new(topic.as_str(), Bytes::from(text.into_bytes())).unwrap();
            p.qos = qos;
            p.dup = dup && qos != QoS::AtMostOnce;
            p.retain = retain;
            p.packet_id = if qos == QoS::AtMostOnce { 0 } else { id };
            if v.is_v5() {
                p.properties = props;
                if alias_only && p.properties.topic_alias.is_some() {
                    p.topic = MqttString::new();
                }
            }
            p
        })
}

fn ack_properties(v: ProtocolVersion) -> impl Strategy<Value = AckProperties> {
    (option::of(string()), user_properties()).prop_map(move |(reason, users)| {
        let mut p = AckProperties::default();
        if v.is_v5() {
            p.reason_string = reason;
            p.user_properties = users;
        }
        p
    })
}

macro_rules! ack_strategy {
    ($fn:ident, $T:ident, $pt:ident) => {
        fn $fn(v: ProtocolVersion) -> impl Strategy<Value = $T> {
            (nonzero_u16(), reason_code_for(PacketType::$pt), ack_properties(v)).prop_map(move |(id, rc, props)| {
                let mut a = $T::new(id);
                if v.is_v5() {
                    a.reason_code = rc;
                    a.properties = props;
                }
                a
            })
        }
    };
}
ack_strategy!(puback, PubAck, PubAck);
ack_strategy!(pubrec, PubRec, PubRec);
ack_strategy!(pubrel, PubRel, PubRel);
ack_strategy!(pubcomp, PubComp, PubComp);

fn disconnect(v: ProtocolVersion) -> impl Strategy<Value = Disconnect> {
    (reason_code_for(PacketType::Disconnect), option::of(any::<u32>()), option::of(string()), option::of(string()), user_properties())
        .prop_map(move |(rc, expiry, reason, reference, users)| {
            let mut d = Disconnect::default();
            if v.is_v5() {
                d.reason_code = rc;
                d.properties.session_expiry_interval = expiry;
                d.properties.reason_string = reason;
                d.properties.server_reference = reference;
                d.properties.user_properties = users;
            }
            d
        })
}

fn auth() -> impl Strategy<Value = Auth> {
    (reason_code_for(PacketType::Auth), option::of(string()), option::of(binary()), option::of(string()), user_properties())
        .prop_map(|(rc, method, data, reason, users)| {
            let mut a = Auth::new(rc);
            a.properties.authentication_method = method;
            a.properties.authentication_data = data;
            a.properties.reason_string = reason;
            a.properties.user_properties = users;
            a
        })
}

// Strategies for CONNECT, CONNACK and the SUBSCRIBE family.
fn more_packets(_v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    Just(Packet::PingReq)
}

fn packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| {
        let common = prop_oneof![
            publish(v).prop_map(Packet::Publish),
            puback(v).prop_map(Packet::PubAck),
            pubrec(v).prop_map(Packet::PubRec),
            pubrel(v).prop_map(Packet::PubRel),
            pubcomp(v).prop_map(Packet::PubComp),
            disconnect(v).prop_map(Packet::Disconnect),
            Just(Packet::PingReq),
            Just(Packet::PingResp),
            more_packets(v),
        ];
        if v.is_v5() {
            prop_oneof![common, auth().prop_map(Packet::Auth)].prop_map(move |p| (v, p)).boxed()
        } else {
            common.prop_map(move |p| (v, p)).boxed()
        }
    })
}

/// The version a packet is encoded with: CONNECT carries its own.
fn wire_version(v: ProtocolVersion, p: &Packet) -> ProtocolVersion {
    match p {
        Packet::Connect(c) => c.protocol_version,
        _ => v,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_packets_round_trip((v, packet) in packet(), splits in vec(any::<prop::sample::Index>(), 0..4)) {
        let v = wire_version(v, &packet);
        let options = DecodeOptions::new(v);
        let len = packet.encoded_len(v).unwrap();
        let mut out = BytesMut::new();
        prop_assert_eq!(packet.encode(v, &mut out).unwrap(), len);
        prop_assert_eq!(out.len(), len);

        // Owned decode.
        let mut bytes = out.clone().freeze();
        let decoded = Packet::decode(&mut bytes, &options).unwrap().unwrap();
        prop_assert!(bytes.is_empty());
        prop_assert_eq!(&decoded, &packet);

        // Borrowed decode and allocation-free encode.
        let (view, used) = PacketRef::decode(&out, &options).unwrap().unwrap();
        prop_assert_eq!(used, len);
        prop_assert_eq!(view, packet.as_view());
        let mut slice = vec![0u8; len];
        prop_assert_eq!(view.encode_to_slice(v, &mut slice).unwrap(), len);
        prop_assert_eq!(&slice[..], &out[..]);
        let too_small = view.encode_to_slice(v, &mut slice[..len - 1]);
        prop_assert_eq!(too_small, Err(Error::BufferTooSmall { needed: len, available: len - 1 }));

        // Decoded bytes re-encode byte for byte.
        let mut again = BytesMut::new();
        decoded.encode(v, &mut again).unwrap();
        prop_assert_eq!(&again[..], &out[..]);

        // Any chunking gives the same packet.
        let mut points: Vec<usize> = splits.iter().map(|i| i.index(len + 1)).collect();
        points.sort_unstable();
        let mut decoder = Decoder::new(options);
        let mut got = Vec::new();
        let mut prev = 0;
        for p in points.into_iter().chain([len]) {
            decoder.feed(&out[prev..p]);
            prev = p;
            while let Some(x) = decoder.next_packet().unwrap() {
                got.push(x);
            }
        }
        prop_assert_eq!(got, vec![packet]);
    }
}
