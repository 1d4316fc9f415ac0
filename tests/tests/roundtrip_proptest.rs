//! Property tests: for arbitrary valid packets of every type and every
//! version (3.1, 3.1.1, 5.0), encode → decode gives the packet back (owned and borrowed
//! paths, any chunking), `encoded_len` is exact, and the decoded packet
//! re-encodes byte for byte.

use bytes::{Bytes, BytesMut};
use mqtt_core::codec::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

// ---- building blocks ----

/// Any MQTT string: Unicode without U+0000, including multi-byte chars.
fn string() -> BoxedStrategy<MqttString> {
    "[a-zA-Z0-9 _/.é€😀\u{7f}-\u{ff}]{0,12}"
        .prop_map(|s| MqttString::from_str(&s).unwrap())
        .boxed()
}

fn topic_name() -> BoxedStrategy<MqttString> {
    vec("[a-z0-9$é]{0,4}", 1..4)
        .prop_filter_map("non-empty topic", |levels| {
            let t = levels.join("/");
            (!t.is_empty()).then(|| MqttString::from_str(&t).unwrap())
        })
        .boxed()
}

fn topic_filter() -> BoxedStrategy<MqttString> {
    (
        vec(prop_oneof!["[a-z0-9]{0,3}", Just("+".to_string())], 1..4),
        any::<bool>(),
        option::weighted(0.2, "[a-z]{1,3}"),
    )
        .prop_filter_map("non-empty filter", |(levels, hash, share)| {
            let mut f = levels.join("/");
            if hash {
                f.push_str("/#");
            }
            if f.is_empty() {
                return None;
            }
            if let Some(group) = share {
                f = format!("$share/{group}/{f}");
            }
            Some(MqttString::from_str(&f).unwrap())
        })
        .boxed()
}

fn binary() -> BoxedStrategy<Bytes> {
    vec(any::<u8>(), 0..16).prop_map(Bytes::from).boxed()
}

fn user_properties() -> BoxedStrategy<Vec<UserProperty>> {
    vec(
        (string(), string()).prop_map(|(key, value)| UserProperty { key, value }),
        0..4,
    )
    .boxed()
}

fn qos() -> BoxedStrategy<QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
    .boxed()
}

fn nonzero_u16() -> BoxedStrategy<u16> {
    (1..=u16::MAX).boxed()
}

fn reason_code_for(packet: PacketType) -> BoxedStrategy<ReasonCode> {
    let codes: Vec<ReasonCode> = ReasonCode::ALL
        .iter()
        .copied()
        .filter(|c| c.allowed_in(packet))
        .collect();
    proptest::sample::select(codes).boxed()
}

// ---- packets ----

fn publish_properties() -> BoxedStrategy<PublishProperties> {
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
        .prop_map(
            |(pfi, expiry, alias, response, corr, content, sub_ids, users)| {
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
            },
        )
        .boxed()
}

fn publish(v: ProtocolVersion) -> BoxedStrategy<Publish> {
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic_name(),
        nonzero_u16(),
        publish_properties(),
        "[a-z0-9é]{0,40}",
        any::<bool>(),
    )
        .prop_map(
            move |(dup, qos, retain, topic, id, props, text, alias_only)| {
                let mut p = Publish::new(topic.as_str(), Bytes::from(text.into_bytes())).unwrap();
                p.qos = qos;
                p.dup = dup && qos != QoS::AtMostOnce;
                p.retain = retain;
                p.packet_id = if qos == QoS::AtMostOnce { 0 } else { id };
                if v.is_v5() {
                    p.properties = props.into();
                    if alias_only && p.properties.topic_alias.is_some() {
                        p.topic = mqtt_core::codec::TopicName::EMPTY;
                    }
                }
                p
            },
        )
        .boxed()
}

fn ack_properties(v: ProtocolVersion) -> BoxedStrategy<AckProperties> {
    (option::of(string()), user_properties())
        .prop_map(move |(reason, users)| {
            let mut p = AckProperties::default();
            if v.is_v5() {
                p.reason_string = reason;
                p.user_properties = users;
            }
            p
        })
        .boxed()
}

macro_rules! ack_strategy {
    ($fn:ident, $T:ident, $pt:ident) => {
        fn $fn(v: ProtocolVersion) -> impl Strategy<Value = $T> {
            (
                nonzero_u16(),
                reason_code_for(PacketType::$pt),
                ack_properties(v),
            )
                .prop_map(move |(id, rc, props)| {
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

fn disconnect(v: ProtocolVersion) -> BoxedStrategy<Disconnect> {
    (
        reason_code_for(PacketType::Disconnect),
        option::of(any::<u32>()),
        option::of(string()),
        option::of(string()),
        user_properties(),
    )
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
        .boxed()
}

fn auth() -> BoxedStrategy<Auth> {
    (
        reason_code_for(PacketType::Auth),
        option::of(string()),
        option::of(binary()),
        option::of(string()),
        user_properties(),
    )
        .prop_map(|(rc, method, data, reason, users)| {
            let mut a = Auth::new(rc);
            a.properties.authentication_method = method;
            // Authentication Data needs a method (3.15.2.2.3).
            a.properties.authentication_data = if a.properties.authentication_method.is_some() {
                data
            } else {
                None
            };
            a.properties.reason_string = reason;
            a.properties.user_properties = users;
            a
        })
        .boxed()
}

fn will(v: ProtocolVersion) -> BoxedStrategy<Will> {
    (
        topic_name(),
        "[a-z0-9é]{0,20}",
        qos(),
        any::<bool>(),
        (
            option::of(any::<u32>()),
            option::of(any::<bool>()),
            option::of(any::<u32>()),
            option::of(string()),
        ),
        (
            option::of(topic_name()),
            option::of(binary()),
            user_properties(),
        ),
    )
        .prop_map(
            move |(
                topic,
                payload,
                qos,
                retain,
                (delay, pfi, expiry, content),
                (response, corr, users),
            )| {
                let mut w = Will::new(topic.as_str(), Bytes::from(payload.into_bytes()), qos)
                    .unwrap()
                    .with_retain(retain);
                if v.is_v5() {
                    let p = &mut w.properties;
                    p.will_delay_interval = delay;
                    p.payload_format_indicator = pfi;
                    p.message_expiry_interval = expiry;
                    p.content_type = content;
                    p.response_topic = response;
                    p.correlation_data = corr;
                    p.user_properties = users;
                }
                w
            },
        )
        .boxed()
}

fn connect(v: ProtocolVersion) -> BoxedStrategy<Connect> {
    (
        (
            string(),
            any::<bool>(),
            any::<u16>(),
            option::of(will(v)),
            option::of(string()),
            option::of(binary()),
        ),
        (
            option::of(any::<u32>()),
            option::of(nonzero_u16()),
            option::of(1..=u32::MAX),
            option::of(any::<u16>()),
        ),
        (
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(string()),
            option::of(binary()),
            user_properties(),
        ),
    )
        .prop_map(
            move |(
                (id, clean, keep_alive, will, user, pass),
                (sei, rm, mps, tam),
                (rri, rpi, am, ad, users),
            )| {
                let mut c = Connect::new(v, "").unwrap();
                c.client_id = id;
                c.clean_start = clean;
                c.keep_alive = keep_alive;
                c.will = will;
                c.username = user;
                // 3.1.1 needs a user name for a password [MQTT-3.1.2-22].
                c.password = if v.is_v5() || c.username.is_some() {
                    pass
                } else {
                    None
                };
                if v.is_v5() {
                    let p = &mut c.properties;
                    p.session_expiry_interval = sei;
                    p.receive_maximum = rm;
                    p.maximum_packet_size = mps;
                    p.topic_alias_maximum = tam;
                    p.request_response_information = rri;
                    p.request_problem_information = rpi;
                    p.authentication_method = am;
                    // Authentication Data needs a method.
                    p.authentication_data = if p.authentication_method.is_some() {
                        ad
                    } else {
                        None
                    };
                    p.user_properties = users;
                }
                c
            },
        )
        .boxed()
}

fn connack(v: ProtocolVersion) -> BoxedStrategy<ConnAck> {
    let v3_codes: Vec<ReasonCode> = (0..=5).filter_map(ReasonCode::from_v311_connack).collect();
    (
        any::<bool>(),
        reason_code_for(PacketType::ConnAck),
        proptest::sample::select(v3_codes),
        (
            option::of(any::<u32>()),
            option::of(nonzero_u16()),
            option::of(prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]),
            option::of(any::<bool>()),
        ),
        (
            option::of(1..=u32::MAX),
            option::of(string()),
            option::of(any::<u16>()),
            option::of(string()),
        ),
        (
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(any::<u16>()),
        ),
        (
            option::of(string()),
            option::of(string()),
            option::of(string()),
            option::of(binary()),
            user_properties(),
        ),
    )
        .prop_map(
            move |(
                sp,
                rc5,
                rc3,
                (sei, rm, mq, ra),
                (mps, aci, tam, rs),
                (wsa, sia, ssa, ska),
                (ri, sr, am, ad, users),
            )| {
                let rc = if v.is_v5() { rc5 } else { rc3 };
                // Session Present only with Success [MQTT-3.2.2-6]; 3.1
                // has no such flag.
                let mut c = ConnAck::new(sp && rc == ReasonCode::Success && !v.is_v31(), rc);
                if v.is_v5() {
                    let p = &mut c.properties;
                    p.session_expiry_interval = sei;
                    p.receive_maximum = rm;
                    p.maximum_qos = mq;
                    p.retain_available = ra;
                    p.maximum_packet_size = mps;
                    p.assigned_client_identifier = aci;
                    p.topic_alias_maximum = tam;
                    p.reason_string = rs;
                    p.wildcard_subscription_available = wsa;
                    p.subscription_identifiers_available = sia;
                    p.shared_subscription_available = ssa;
                    p.server_keep_alive = ska;
                    p.response_information = ri;
                    p.server_reference = sr;
                    p.authentication_method = am;
                    // Authentication Data needs a method.
                    p.authentication_data = if p.authentication_method.is_some() {
                        ad
                    } else {
                        None
                    };
                    p.user_properties = users;
                }
                c
            },
        )
        .boxed()
}

fn subscription_options(v: ProtocolVersion) -> BoxedStrategy<SubscriptionOptions> {
    (qos(), any::<bool>(), any::<bool>(), 0..=2u8)
        .prop_map(move |(q, nl, rap, rh)| {
            let o = SubscriptionOptions::new(q);
            if v.is_v5() {
                o.with_no_local(nl)
                    .with_retain_as_published(rap)
                    .with_retain_handling(RetainHandling::from_u8(rh).unwrap())
            } else {
                o
            }
        })
        .boxed()
}

fn subscribe(v: ProtocolVersion) -> BoxedStrategy<Subscribe> {
    (
        nonzero_u16(),
        vec((topic_filter(), subscription_options(v)), 1..5),
        option::of(1..=MAX_VARIABLE_INTEGER),
        user_properties(),
    )
        .prop_map(move |(id, filters, sub_id, users)| {
            let filters = filters
                .into_iter()
                .map(|(f, mut o)| {
                    // No Local is not allowed on a shared subscription [MQTT-3.8.3-4].
                    if f.as_str().starts_with("$share/") {
                        o.no_local = false;
                    }
                    SubscribeFilter::new(f.as_str(), o).unwrap()
                })
                .collect();
            let mut s = Subscribe::new(id, filters);
            if v.is_v5() {
                s.properties.subscription_identifier = sub_id;
                s.properties.user_properties = users;
            }
            s
        })
        .boxed()
}

fn suback(v: ProtocolVersion) -> BoxedStrategy<SubAck> {
    // 3.1 has no Failure code 0x80.
    let v3: Vec<ReasonCode> = [0x00, 0x01, 0x02, 0x80]
        .iter()
        .filter(|&&c| c != 0x80 || !v.is_v31())
        .map(|&c| ReasonCode::from_u8(c).unwrap())
        .collect();
    (
        nonzero_u16(),
        vec(reason_code_for(PacketType::SubAck), 1..5),
        vec(proptest::sample::select(v3), 1..5),
        ack_properties(v),
    )
        .prop_map(move |(id, c5, c3, props)| {
            let mut s = SubAck::new(id, if v.is_v5() { c5 } else { c3 });
            s.properties = props;
            s
        })
        .boxed()
}

fn unsubscribe(v: ProtocolVersion) -> BoxedStrategy<Unsubscribe> {
    (nonzero_u16(), vec(topic_filter(), 1..5), user_properties())
        .prop_map(move |(id, filters, users)| {
            let mut u = Unsubscribe::new(id, filters);
            if v.is_v5() {
                u.properties.user_properties = users;
            }
            u
        })
        .boxed()
}

fn unsuback(v: ProtocolVersion) -> BoxedStrategy<UnsubAck> {
    (
        nonzero_u16(),
        vec(reason_code_for(PacketType::UnsubAck), 1..5),
        ack_properties(v),
    )
        .prop_map(move |(id, codes, props)| {
            // 3.1.1 UNSUBACK carries only the packet identifier.
            let mut u = UnsubAck::new(id, if v.is_v5() { codes } else { Vec::new() });
            u.properties = props;
            u
        })
        .boxed()
}

/// The version a packet is encoded with: CONNECT carries its own.
fn wire_version(v: ProtocolVersion, p: &Packet) -> ProtocolVersion {
    match p {
        Packet::Connect(c) => c.protocol_version,
        _ => v,
    }
}

/// Encode → decode by every path, with the packet split at `splits`.
fn check_round_trip(
    v: ProtocolVersion,
    packet: Packet,
    splits: &[prop::sample::Index],
) -> Result<(), TestCaseError> {
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
    prop_assert_eq!(
        too_small,
        Err(Error::BufferTooSmall {
            needed: len,
            available: len - 1
        })
    );

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
    Ok(())
}

fn splits() -> impl Strategy<Value = Vec<prop::sample::Index>> {
    vec(any::<prop::sample::Index>(), 0..4)
}

macro_rules! round_trip_tests {
    ($( $test:ident: $variant:ident($strategy:expr), $versions:expr; )*) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
            $(
                #[test]
                fn $test(
                    (v, packet) in proptest::sample::select($versions.to_vec())
                        .prop_flat_map(|v| (Just(v), ($strategy)(v))),
                    splits in splits(),
                ) {
                    check_round_trip(v, Packet::from(packet), &splits)?;
                }
            )*
        }
    };
}

const BOTH: [ProtocolVersion; 3] = [
    ProtocolVersion::V31,
    ProtocolVersion::V311,
    ProtocolVersion::V5,
];
const V5_ONLY: [ProtocolVersion; 1] = [ProtocolVersion::V5];

round_trip_tests! {
    connect_round_trips: Connect(connect), BOTH;
    connack_round_trips: ConnAck(connack), BOTH;
    publish_round_trips: Publish(publish), BOTH;
    puback_round_trips: PubAck(puback), BOTH;
    pubrec_round_trips: PubRec(pubrec), BOTH;
    pubrel_round_trips: PubRel(pubrel), BOTH;
    pubcomp_round_trips: PubComp(pubcomp), BOTH;
    subscribe_round_trips: Subscribe(subscribe), BOTH;
    suback_round_trips: SubAck(suback), BOTH;
    unsubscribe_round_trips: Unsubscribe(unsubscribe), BOTH;
    unsuback_round_trips: UnsubAck(unsuback), BOTH;
    disconnect_round_trips: Disconnect(disconnect), BOTH;
    auth_round_trips: Auth(|_| auth()), V5_ONLY;
}

proptest! {
    #[test]
    fn pings_round_trip(v in proptest::sample::select(BOTH.to_vec()), splits in splits()) {
        check_round_trip(v, Packet::PingReq, &splits)?;
        check_round_trip(v, Packet::PingResp, &splits)?;
    }
}
