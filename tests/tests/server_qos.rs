//! Scripted-client tests of the QoS flows of the server role: inbound
//! PUBLISH at QoS 0, 1 and 2 (our limits, topic aliases, automatic and
//! manual acknowledgements, duplicates), SUBSCRIBE and UNSUBSCRIBE and
//! their answers, outbound delivery (packet identifiers, the client's
//! Receive Maximum, Topic Alias Maximum and Maximum Packet Size) and the
//! session handed from one connection to the next.
//!
//! Normative statements are cited as `[MQTT-x.y.z-n]` (5.0 numbering
//! unless a comment says 3.1.1).

use mqtt_core::codec::{
    Connect, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS, ReasonCode,
    SubAck, Subscribe, SubscribeFilter, SubscriptionOptions, Unsubscribe,
};
use mqtt_core::server::{
    Accept, ClientViolation, CloseReason, DropReason, ServerError, ServerEvent, ServerOptions,
    ServerSession, ServerState,
};
use mqtt_tests::server::{
    closed_with, connected, connected_with, disconnect_code, messages, publish, s, ScriptedClient,
};

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];

/// A 5.0 connection whose client announced these limits in CONNECT.
fn client_limits(receive_maximum: u16, max_packet: Option<u32>, aliases: u16) -> ScriptedClient {
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    let mut connect = Connect::new(V5, "lim").unwrap();
    connect.properties.receive_maximum = Some(receive_maximum);
    connect.properties.maximum_packet_size = max_packet;
    connect.properties.topic_alias_maximum = Some(aliases);
    c.accept_connect(connect);
    c
}

// ----- inbound PUBLISH -------------------------------------------------------------

#[test]
fn qos0_is_delivered_without_an_answer() {
    for v in BOTH {
        let mut c = connected(v);
        c.client_sends(publish("a/b", b"0", QoS::AtMostOnce, 0));
        assert!(c.sent_bytes().is_empty());
        let m = messages(&c.events());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].topic.as_str(), "a/b");
    }
}

#[test]
fn qos1_is_delivered_and_acknowledged_with_puback() {
    // [MQTT-4.3.2-4]
    for v in BOTH {
        let mut c = connected(v);
        c.client_sends(publish("a", b"1", QoS::AtLeastOnce, 7));
        assert_eq!(c.sent_one(), Packet::from(PubAck::new(7)));
        assert_eq!(messages(&c.events()).len(), 1);
        // A resend (DUP) is delivered again: QoS 1 is at least once.
        let mut again = publish("a", b"1", QoS::AtLeastOnce, 7);
        again.dup = true;
        c.client_sends(again);
        assert_eq!(c.sent_one(), Packet::from(PubAck::new(7)));
        assert_eq!(messages(&c.events()).len(), 1);
    }
}

#[test]
fn qos2_is_delivered_once_until_pubrel() {
    // [MQTT-4.3.3-10] (method B: the server delivers on PUBLISH and keeps
    // the packet identifier until PUBREL); [MQTT-4.3.3-11] PUBCOMP.
    for v in BOTH {
        let mut c = connected(v);
        c.client_sends(publish("a", b"2", QoS::ExactlyOnce, 9));
        assert_eq!(c.sent_one(), Packet::from(PubRec::new(9)));
        assert_eq!(messages(&c.events()).len(), 1);
        let mut dup = publish("a", b"2", QoS::ExactlyOnce, 9);
        dup.dup = true;
        c.client_sends(dup);
        assert_eq!(c.sent_one(), Packet::from(PubRec::new(9)));
        assert!(
            c.events().is_empty(),
            "a resend before PUBREL is not delivered again"
        );
        c.client_sends(PubRel::new(9));
        assert_eq!(c.sent_one(), Packet::from(PubComp::new(9)));
        // After PUBREL the identifier is free: a new message with it is new.
        c.client_sends(publish("a", b"3", QoS::ExactlyOnce, 9));
        assert_eq!(messages(&c.events()).len(), 1);
    }
}

#[test]
fn pubrel_for_an_unknown_identifier_gets_pubcomp_0x92() {
    let mut c = connected(V5);
    c.client_sends(PubRel::new(44));
    assert_eq!(
        c.sent_one(),
        Packet::from(PubComp::new(44).with_reason_code(ReasonCode::PacketIdentifierNotFound))
    );
    let mut c = connected(V3);
    c.client_sends(PubRel::new(44));
    assert_eq!(c.sent_one(), Packet::from(PubComp::new(44)));
}

#[test]
fn our_receive_maximum_is_enforced_with_0x93() {
    // [MQTT-3.3.4-7]: with manual acknowledgement, two unacknowledged QoS 1
    // and 2 messages fill a Receive Maximum of 2; a third closes.
    let options = ServerOptions::new()
        .with_receive_maximum(2)
        .with_manual_ack(true);
    let mut c = connected_with(options, V5);
    c.client_sends(publish("a", b"1", QoS::AtLeastOnce, 1));
    c.client_sends(publish("a", b"2", QoS::ExactlyOnce, 2));
    assert!(c.sent_bytes().is_empty());
    c.client_sends(publish("a", b"3", QoS::AtLeastOnce, 3));
    assert_eq!(
        disconnect_code(c.sent_one()),
        ReasonCode::ReceiveMaximumExceeded
    );
    let ev = c.events();
    assert_eq!(messages(&ev).len(), 2);
    assert_eq!(
        closed_with(&ev),
        &CloseReason::ProtocolViolation(ClientViolation::ReceiveMaximumExceeded)
    );
    // Automatic acknowledgement: QoS 2 messages count until PUBREL.
    let mut c = connected_with(ServerOptions::new().with_receive_maximum(1), V5);
    c.client_sends(publish("a", b"1", QoS::AtLeastOnce, 1));
    c.client_sends(publish("a", b"2", QoS::ExactlyOnce, 2));
    c.client_sends(publish("a", b"3", QoS::AtLeastOnce, 3));
    let sent = c.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(
        disconnect_code(sent[2].clone()),
        ReasonCode::ReceiveMaximumExceeded
    );
}

#[test]
fn qos_above_our_maximum_is_0x9b() {
    // [MQTT-3.2.2-11]
    let mut c = connected_with(ServerOptions::new().with_maximum_qos(QoS::AtLeastOnce), V5);
    c.client_sends(publish("a", b"x", QoS::ExactlyOnce, 1));
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::QoSNotSupported);
    assert!(messages(&c.events()).is_empty());
}

#[test]
fn retain_when_not_available_is_0x9a() {
    // [MQTT-3.2.2-14]
    let mut c = connected_with(ServerOptions::new().with_retain_available(false), V5);
    c.client_sends(publish("a", b"x", QoS::AtMostOnce, 0).with_retain(true));
    assert_eq!(
        disconnect_code(c.sent_one()),
        ReasonCode::RetainNotSupported
    );
}

#[test]
fn inbound_topic_aliases_are_resolved() {
    // Spec 3.3.2.3.4: the first PUBLISH sets the mapping, later ones send
    // an empty topic; the application sees the topic, never the alias.
    let mut c = connected_with(ServerOptions::new().with_topic_alias_maximum(2), V5);
    let mut first = publish("long/topic/name", b"1", QoS::AtMostOnce, 0);
    first.properties.topic_alias = Some(2);
    c.client_sends(first);
    let mut second = publish("x", b"2", QoS::AtMostOnce, 0);
    second.topic = mqtt_core::codec::TopicName::EMPTY;
    second.properties.topic_alias = Some(2);
    c.client_sends(second);
    let m = messages(&c.events());
    assert_eq!(m.len(), 2);
    for p in &m {
        assert_eq!(p.topic.as_str(), "long/topic/name");
        assert_eq!(p.properties.topic_alias, None);
    }
}

#[test]
fn topic_alias_above_our_maximum_is_0x94_and_unknown_is_0x82() {
    // [MQTT-3.3.2-9] [MQTT-3.3.2-10]
    let mut c = connected_with(ServerOptions::new().with_topic_alias_maximum(2), V5);
    let mut p = publish("a", b"1", QoS::AtMostOnce, 0);
    p.properties.topic_alias = Some(3);
    c.client_sends(p);
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::TopicAliasInvalid);
    let mut c = connected_with(ServerOptions::new().with_topic_alias_maximum(2), V5);
    let mut p = publish("a", b"1", QoS::AtMostOnce, 0);
    p.topic = mqtt_core::codec::TopicName::EMPTY;
    p.properties.topic_alias = Some(1);
    c.client_sends(p);
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
}

#[test]
fn manual_acknowledgements_go_out_in_arrival_order() {
    // [MQTT-4.6.0-2] PUBACKs in the order the PUBLISHes arrived;
    // [MQTT-4.6.0-3] PUBRECs likewise.
    let mut c = connected_with(ServerOptions::new().with_manual_ack(true), V5);
    c.client_sends(publish("a", b"1", QoS::AtLeastOnce, 1));
    c.client_sends(publish("a", b"2", QoS::ExactlyOnce, 2));
    c.client_sends(publish("a", b"3", QoS::AtLeastOnce, 3));
    assert_eq!(messages(&c.events()).len(), 3);
    c.conn.acknowledge(0, 3, ReasonCode::Success).unwrap();
    c.conn.acknowledge(0, 2, ReasonCode::Success).unwrap();
    assert!(c.sent_bytes().is_empty(), "held back behind message 1");
    c.conn.acknowledge(0, 1, ReasonCode::NotAuthorized).unwrap();
    assert_eq!(
        c.sent(),
        vec![
            Packet::from(PubAck::new(1).with_reason_code(ReasonCode::NotAuthorized)),
            Packet::from(PubRec::new(2)),
            Packet::from(PubAck::new(3)),
        ]
    );
    assert_eq!(
        c.conn.acknowledge(0, 1, ReasonCode::Success),
        Err(ServerError::InvalidState(
            "no message waiting for acknowledgement with this packet identifier"
        ))
    );
    // PUBREL before our PUBREC is a protocol error.
    c.client_sends(publish("a", b"4", QoS::ExactlyOnce, 4));
    c.client_sends(PubRel::new(4));
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
}

#[test]
fn an_error_in_pubrec_ends_the_qos2_exchange() {
    // Spec 4.3.3: PUBREC with a code 0x80 or above ends it; a resend is a
    // new message.
    let mut c = connected_with(ServerOptions::new().with_manual_ack(true), V5);
    c.client_sends(publish("a", b"1", QoS::ExactlyOnce, 5));
    let _ = c.events();
    c.conn.acknowledge(0, 5, ReasonCode::QuotaExceeded).unwrap();
    assert_eq!(
        c.sent_one(),
        Packet::from(PubRec::new(5).with_reason_code(ReasonCode::QuotaExceeded))
    );
    c.client_sends(publish("a", b"1", QoS::ExactlyOnce, 5));
    assert_eq!(messages(&c.events()).len(), 1);
    // 3.1.1 acknowledgements carry no reason code.
    let mut c = connected_with(ServerOptions::new().with_manual_ack(true), V3);
    c.client_sends(publish("a", b"1", QoS::AtLeastOnce, 5));
    c.conn.acknowledge(0, 5, ReasonCode::NotAuthorized).unwrap();
    assert_eq!(c.sent_one(), Packet::from(PubAck::new(5)));
}

// ----- SUBSCRIBE and UNSUBSCRIBE --------------------------------------------------------

#[test]
fn subscribe_is_answered_by_the_application_with_one_code_per_filter() {
    // [MQTT-3.8.4-1] SUBACK with the same packet identifier;
    // [MQTT-3.9.3-1] one reason code per filter, in order.
    for v in BOTH {
        let mut c = connected(v);
        let sub = Subscribe::new(
            4,
            vec![
                SubscribeFilter::new("a/+", SubscriptionOptions::new(QoS::ExactlyOnce)).unwrap(),
                SubscribeFilter::new("b/#", SubscriptionOptions::new(QoS::AtMostOnce)).unwrap(),
            ],
        );
        c.client_sends(sub.clone());
        match c.events().as_slice() {
            [ServerEvent::Subscribe(got)] => assert_eq!(got.filters, sub.filters),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.conn.suback(0, 4, &[ReasonCode::GrantedQoS1]),
            Err(ServerError::ReasonCodeCount {
                expected: 2,
                got: 1
            })
        );
        c.conn
            .suback(0, 4, &[ReasonCode::GrantedQoS1, ReasonCode::NotAuthorized])
            .unwrap();
        let expected = if v == V5 {
            ReasonCode::NotAuthorized
        } else {
            // 3.1.1 knows one failure code, 0x80.
            ReasonCode::UnspecifiedError
        };
        assert_eq!(
            c.sent_one(),
            Packet::from(SubAck::new(4, vec![ReasonCode::GrantedQoS1, expected]))
        );
        assert!(matches!(
            c.conn
                .suback(0, 4, &[ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS1]),
            Err(ServerError::InvalidState(_))
        ));
    }
}

#[test]
fn unsubscribe_is_answered_by_the_application() {
    // [MQTT-3.10.4-4] UNSUBACK; 3.1.1 UNSUBACK carries no codes.
    for v in BOTH {
        let mut c = connected(v);
        c.client_sends(Unsubscribe::new(8, vec![s("a/+"), s("b")]));
        assert!(matches!(c.events()[..], [ServerEvent::Unsubscribe(_)]));
        c.conn
            .unsuback(
                0,
                8,
                &[ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
            )
            .unwrap();
        match c.sent_one() {
            Packet::UnsubAck(u) => {
                assert_eq!(u.packet_id, 8);
                if v == V5 {
                    assert_eq!(
                        u.reason_codes,
                        vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
                    );
                }
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn unavailable_subscription_features_close_with_their_codes() {
    // Spec 3.2.2.3.12..14: 0xA1, 0x9E, 0xA2.
    let cases: [(ServerOptions, Subscribe, ReasonCode); 3] = [
        (
            ServerOptions::new().with_subscription_identifiers_available(false),
            Subscribe::single(1, "a", QoS::AtMostOnce)
                .unwrap()
                .with_subscription_identifier(3),
            ReasonCode::SubscriptionIdentifiersNotSupported,
        ),
        (
            ServerOptions::new().with_shared_subscription_available(false),
            Subscribe::single(1, "$share/g/a", QoS::AtMostOnce).unwrap(),
            ReasonCode::SharedSubscriptionsNotSupported,
        ),
        (
            ServerOptions::new().with_wildcard_subscription_available(false),
            Subscribe::single(1, "a/#", QoS::AtMostOnce).unwrap(),
            ReasonCode::WildcardSubscriptionsNotSupported,
        ),
    ];
    for (options, sub, code) in cases {
        let mut c = connected_with(options, V5);
        c.client_sends(sub);
        assert_eq!(disconnect_code(c.sent_one()), code);
        assert!(matches!(
            closed_with(&c.events()),
            CloseReason::ProtocolViolation(_)
        ));
    }
}

#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    // [MQTT-3.8.3-4]
    let mut c = connected(V5);
    let mut buf = bytes::BytesMut::new();
    // Encoding refuses it too, so the bytes are built by hand: encode
    // without No Local and set the bit.
    let ok = Subscribe::single(1, "$share/g/a", QoS::AtMostOnce).unwrap();
    Packet::from(ok).encode(V5, &mut buf).unwrap();
    let last = buf.len() - 1;
    buf[last] |= 0x04;
    c.client_sends_bytes(&buf);
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
}

#[test]
fn a_packet_identifier_reused_while_its_subscribe_is_unanswered_is_a_protocol_error() {
    let mut c = connected(V5);
    c.client_sends(Subscribe::single(1, "a", QoS::AtMostOnce).unwrap());
    c.client_sends(Unsubscribe::single(1, "a").unwrap());
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
}

// ----- outbound delivery ------------------------------------------------------------------------

#[test]
fn outbound_qos1_and_qos2_flows_complete() {
    // [MQTT-4.3.2-1] a fresh packet identifier; [MQTT-4.3.3-3] PUBREL
    // after PUBREC; completion on PUBACK and PUBCOMP.
    for v in BOTH {
        let mut c = connected(v);
        let id1 = c
            .conn
            .publish(0, publish("o", b"1", QoS::AtLeastOnce, 0))
            .unwrap();
        let id2 = c
            .conn
            .publish(0, publish("o", b"2", QoS::ExactlyOnce, 0))
            .unwrap();
        assert_eq!((id1, id2), (1, 2));
        assert_eq!(
            c.conn.publish(0, publish("o", b"0", QoS::AtMostOnce, 0)),
            Ok(0)
        );
        let sent = c.sent();
        assert_eq!(sent.len(), 3);
        assert!(matches!(&sent[0], Packet::Publish(p) if p.packet_id == 1 && !p.dup));
        assert!(
            matches!(&sent[1], Packet::Publish(p) if p.packet_id == 2 && p.qos == QoS::ExactlyOnce)
        );
        assert!(matches!(&sent[2], Packet::Publish(p) if p.packet_id == 0));
        assert_eq!(c.conn.inflight_len(), 2);
        c.client_sends(PubAck::new(1));
        c.client_sends(PubRec::new(2));
        assert_eq!(c.sent_one(), Packet::from(PubRel::new(2)));
        c.client_sends(PubComp::new(2));
        let done: Vec<u16> = c
            .events()
            .iter()
            .filter_map(|e| match e {
                ServerEvent::PublishCompleted {
                    packet_id,
                    reason_code,
                    ..
                } => {
                    assert_eq!(*reason_code, ReasonCode::Success);
                    Some(*packet_id)
                }
                _ => None,
            })
            .collect();
        assert_eq!(done, vec![1, 2]);
        assert_eq!(c.conn.inflight_len(), 0);
    }
}

#[test]
fn pubrec_with_an_error_completes_without_pubrel() {
    let mut c = connected(V5);
    c.conn
        .publish(0, publish("o", b"x", QoS::ExactlyOnce, 0))
        .unwrap();
    let _ = c.sent();
    c.client_sends(PubRec::new(1).with_reason_code(ReasonCode::QuotaExceeded));
    assert!(c.sent_bytes().is_empty());
    assert!(matches!(
        c.events()[..],
        [ServerEvent::PublishCompleted {
            packet_id: 1,
            reason_code: ReasonCode::QuotaExceeded,
            ..
        }]
    ));
}

#[test]
fn the_clients_receive_maximum_is_respected() {
    // [MQTT-3.3.4-9] no more unacknowledged QoS 1 and 2 PUBLISHes than the
    // client's Receive Maximum; the rest wait, and QoS 0 keeps its place.
    let mut c = client_limits(2, None, 0);
    for i in 0..4u8 {
        c.conn
            .publish(
                0,
                Publish::new("q", vec![i])
                    .unwrap()
                    .with_qos(QoS::AtLeastOnce, 0),
            )
            .unwrap();
    }
    c.conn
        .publish(0, publish("q", b"z", QoS::AtMostOnce, 0))
        .unwrap();
    assert_eq!(c.sent().len(), 2);
    assert_eq!(c.conn.queued_len(), 3);
    c.client_sends(PubAck::new(1));
    let sent = c.sent();
    assert_eq!(sent.len(), 1);
    assert!(matches!(&sent[0], Packet::Publish(p) if p.payload[..] == [2]));
    c.client_sends(PubAck::new(2));
    c.client_sends(PubAck::new(3));
    let sent = c.sent();
    assert_eq!(sent.len(), 2, "message 3, then the QoS 0 behind it");
    assert!(matches!(&sent[1], Packet::Publish(p) if p.qos == QoS::AtMostOnce));
}

#[test]
fn the_queue_is_bounded() {
    let mut c = ScriptedClient::new(ServerOptions::new().with_max_queued(1), V5);
    let mut connect = Connect::new(V5, "b").unwrap();
    connect.properties.receive_maximum = Some(1);
    c.connect_with(connect);
    c.conn.accept(0, Accept::new()).unwrap();
    c.conn
        .publish(0, publish("q", b"1", QoS::AtLeastOnce, 0))
        .unwrap();
    c.conn
        .publish(0, publish("q", b"2", QoS::AtLeastOnce, 0))
        .unwrap();
    assert_eq!(
        c.conn.publish(0, publish("q", b"3", QoS::AtLeastOnce, 0)),
        Err(ServerError::QueueFull)
    );
}

#[test]
fn a_message_larger_than_the_clients_maximum_packet_size_is_not_sent() {
    // [MQTT-3.1.2-25] discarded without sending, as if sent.
    let mut c = client_limits(10, Some(50), 0);
    let big = Publish::new("t", vec![7u8; 60])
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 0);
    assert!(matches!(
        c.conn.publish(0, big),
        Err(ServerError::PacketTooLarge { maximum: 50, .. })
    ));
    assert!(c.sent_bytes().is_empty());
    assert_eq!(c.conn.inflight_len(), 0);
    let small = Publish::new("t", vec![7u8; 10]).unwrap();
    c.conn.publish(0, small).unwrap();
    assert_eq!(c.sent().len(), 1);
}

#[test]
fn outbound_topic_aliases_stay_within_the_clients_maximum() {
    // [MQTT-3.3.2-8] no alias above the client's Topic Alias Maximum; a
    // client that allows none gets none [MQTT-3.3.2-7].
    let mut c = client_limits(10, None, 1);
    for topic in ["x/one", "x/one", "x/two", "x/two"] {
        c.conn
            .publish(0, publish(topic, b"p", QoS::AtMostOnce, 0))
            .unwrap();
    }
    let sent: Vec<Publish> = c
        .sent()
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sent[0].topic.as_str(), "x/one");
    assert_eq!(sent[0].properties.topic_alias, Some(1));
    assert!(sent[1].topic.is_empty());
    assert_eq!(sent[1].properties.topic_alias, Some(1));
    assert_eq!(sent[2].topic.as_str(), "x/two");
    assert_eq!(
        sent[2].properties.topic_alias,
        Some(1),
        "alias 1 reassigned"
    );
    assert!(sent[3].topic.is_empty());
    let mut c = client_limits(10, None, 0);
    c.conn
        .publish(0, publish("x/one", b"p", QoS::AtMostOnce, 0))
        .unwrap();
    c.conn
        .publish(0, publish("x/one", b"p", QoS::AtMostOnce, 0))
        .unwrap();
    for p in c.sent() {
        assert!(matches!(p, Packet::Publish(p) if p.properties.topic_alias.is_none()));
    }
}

#[test]
fn properties_are_removed_for_a_3_1_1_client() {
    let mut c = connected(V3);
    let mut p = publish("t", b"x", QoS::AtMostOnce, 0);
    p.properties.content_type = Some(s("text/plain"));
    p.properties.user_properties = vec![mqtt_core::codec::UserProperty::new("k", "v").unwrap()];
    c.conn.publish(0, p).unwrap();
    assert!(matches!(c.sent_one(), Packet::Publish(p) if p.properties.is_empty()));
}

// ----- the session across connections --------------------------------------------------------------

#[test]
fn a_resumed_session_resends_publish_with_dup_and_pubrel() {
    // [MQTT-4.4.0-1] on a resumed session the server resends unacknowledged
    // PUBLISH packets (DUP 1 [MQTT-3.3.1-1]) and PUBREL packets, with their
    // original packet identifiers; [MQTT-4.6.0-1] in the original order.
    for v in BOTH {
        let mut c = connected(v);
        c.conn
            .publish(0, publish("s", b"1", QoS::AtLeastOnce, 0))
            .unwrap();
        c.conn
            .publish(0, publish("s", b"2", QoS::ExactlyOnce, 0))
            .unwrap();
        c.conn
            .publish(0, publish("s", b"3", QoS::ExactlyOnce, 0))
            .unwrap();
        c.client_sends(PubRec::new(3));
        c.client_sends(publish("in", b"q2", QoS::ExactlyOnce, 11));
        let _ = c.sent();
        assert!(matches!(
            c.conn.take_session(),
            Err(ServerError::InvalidState(_))
        ));
        c.conn.handle_transport_closed(1);
        let mut session = c.conn.take_session().unwrap();
        assert_eq!(session.inflight.len(), 3);
        assert!(session.inflight[2].released);
        assert_eq!(session.inbound_qos2, vec![11]);
        session.queue(publish("s", b"offline", QoS::AtLeastOnce, 0));

        let mut c = ScriptedClient::new(ServerOptions::new(), v);
        c.connect_with(Connect::new(v, "test").unwrap().with_clean_start(false));
        c.conn
            .accept(2, Accept::new().with_session(session))
            .unwrap();
        let sent = c.sent();
        assert!(matches!(&sent[0], Packet::ConnAck(a) if a.session_present));
        assert!(matches!(&sent[1], Packet::Publish(p) if p.dup && p.packet_id == 1));
        assert!(matches!(&sent[2], Packet::Publish(p) if p.dup && p.packet_id == 2));
        assert_eq!(sent[3], Packet::from(PubRel::new(3)));
        assert!(
            matches!(&sent[4], Packet::Publish(p) if !p.dup && p.packet_id == 4 && p.payload[..] == b"offline"[..])
        );
        // The inbound QoS 2 message resent is not delivered again.
        let mut dup = publish("in", b"q2", QoS::ExactlyOnce, 11);
        dup.dup = true;
        c.client_sends(dup);
        assert_eq!(c.sent_one(), Packet::from(PubRec::new(11)));
        assert!(messages(&c.events()).is_empty());
        c.client_sends(PubComp::new(3));
        assert!(matches!(
            c.events()[..],
            [ServerEvent::PublishCompleted { packet_id: 3, .. }]
        ));
    }
}

/// Found by the `server` fuzz target (`fuzz/regressions/server/`):
/// acknowledgements the client sent after CONNECT, before it could see
/// CONNACK, answer the previous connection's deliveries. They are handled
/// before the session is resent, so a message acknowledged meanwhile is
/// not resent ([MQTT-4.4.0-1] resends only what is unacknowledged) and a
/// PUBREC gets its PUBREL once. Before, PUBLISH 1 went out again with DUP,
/// the early PUBACK completed it, and a new message took identifier 1
/// while the client's PUBACK for the copy was still to come: that PUBACK
/// then completed the new message before the client had it
/// ([MQTT-2.2.1-4]: a new PUBLISH takes an identifier not in use).
#[test]
fn acknowledgements_sent_before_connack_are_handled_before_the_session_is_resent() {
    for v in BOTH {
        let mut c = connected(v);
        for payload in [b"1", b"2"] {
            c.conn
                .publish(0, publish("s", payload, QoS::AtLeastOnce, 0))
                .unwrap();
        }
        for payload in [b"3", b"4"] {
            c.conn
                .publish(0, publish("s", payload, QoS::ExactlyOnce, 0))
                .unwrap();
        }
        let _ = c.sent();
        c.conn.handle_transport_closed(1);
        let session = c.conn.take_session().unwrap();
        assert_eq!(session.inflight.len(), 4);

        let mut c = ScriptedClient::new(ServerOptions::new(), v);
        c.connect_with(Connect::new(v, "test").unwrap().with_clean_start(false));
        // Right behind CONNECT: PUBACK 1 and PUBREC 3 for the first
        // connection's deliveries.
        c.client_sends(PubAck::new(1));
        c.client_sends(PubRec::new(3));
        assert!(c.sent().is_empty(), "{v:?}: nothing before the decision");
        c.conn
            .accept(2, Accept::new().with_session(session))
            .unwrap();
        let sent = c.sent();
        assert!(matches!(&sent[0], Packet::ConnAck(a) if a.session_present));
        let rest: Vec<(u8, u16, bool)> = sent[1..]
            .iter()
            .map(|p| match p {
                Packet::Publish(p) => (p.payload[0], p.packet_id, p.dup),
                Packet::PubRel(r) => (b'R', r.packet_id, false),
                other => panic!("{v:?}: {other:?}"),
            })
            .collect();
        assert_eq!(
            rest,
            vec![(b'R', 3, false), (b'2', 2, true), (b'4', 4, true)],
            "{v:?}: PUBREL 3 once, then only the unacknowledged PUBLISHes"
        );
        assert!(matches!(
            c.events()[..],
            [ServerEvent::PublishCompleted { packet_id: 1, .. }]
        ));
        // Identifier 1 is free: a new message may take it, and no second
        // acknowledgement of the first connection's message 1 is coming.
        let id = c
            .conn
            .publish(3, publish("s", b"5", QoS::AtLeastOnce, 0))
            .unwrap();
        assert!(![2, 3, 4].contains(&id), "{v:?}: {id} in use");
        assert!(matches!(&c.sent_one(), Packet::Publish(p) if !p.dup && p.packet_id == id));
    }
}

#[test]
fn a_resumed_message_too_large_for_the_new_connection_is_dropped() {
    let mut session = ServerSession::new();
    let mut p = Publish::new("t", vec![1u8; 100])
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 1);
    p.properties.content_type = None;
    session.queue(p);
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    let mut connect = Connect::new(V5, "small").unwrap().with_clean_start(false);
    connect.properties.maximum_packet_size = Some(40);
    c.connect_with(connect);
    c.conn
        .accept(0, Accept::new().with_session(session))
        .unwrap();
    assert!(matches!(c.sent()[..], [Packet::ConnAck(_)]));
    assert!(matches!(
        c.events()[..],
        [ServerEvent::PublishDropped {
            packet_id: 1,
            reason: DropReason::PacketTooLarge
        }]
    ));
    assert_eq!(c.conn.state(), ServerState::Connected);
}

#[test]
fn a_queued_message_expires_and_is_sent_with_what_is_left() {
    // [MQTT-3.3.2-5] an expired message is not sent; [MQTT-3.3.2-6] the
    // interval sent is what is left.
    let mut c = client_limits(1, None, 0);
    c.conn
        .publish(0, publish("e", b"1", QoS::AtLeastOnce, 0))
        .unwrap();
    let mut short = publish("e", b"2", QoS::AtLeastOnce, 0);
    short.properties.message_expiry_interval = Some(5);
    let mut long = publish("e", b"3", QoS::AtLeastOnce, 0);
    long.properties.message_expiry_interval = Some(60);
    let short_id = c.conn.publish(0, short).unwrap();
    c.conn.publish(0, long).unwrap();
    assert_eq!(c.sent().len(), 1);
    c.now = 10_000;
    c.client_sends(PubAck::new(1));
    let ev = c.events();
    assert!(ev.iter().any(|e| matches!(
        e,
        ServerEvent::PublishDropped { packet_id, reason: DropReason::Expired } if *packet_id == short_id
    )));
    match c.sent_one() {
        Packet::Publish(p) => {
            assert_eq!(p.payload[..], b"3"[..]);
            assert_eq!(p.properties.message_expiry_interval, Some(50));
        }
        other => panic!("{other:?}"),
    }
    // Taken into the session, the interval left is as of the close.
    c.conn
        .publish(10_000, {
            let mut p = publish("e", b"4", QoS::AtLeastOnce, 0);
            p.properties.message_expiry_interval = Some(30);
            p
        })
        .unwrap();
    c.conn.handle_transport_closed(20_000);
    let session = c.conn.take_session().unwrap();
    assert_eq!(session.queued.len(), 1);
    assert_eq!(
        session.queued[0].properties.message_expiry_interval,
        Some(20)
    );
}

#[test]
fn a_qos1_resend_waiting_for_the_application_is_not_delivered_twice() {
    let mut c = connected_with(ServerOptions::new().with_manual_ack(true), V3);
    c.client_sends(publish("a", b"1", QoS::AtLeastOnce, 1));
    let mut dup = publish("a", b"1", QoS::AtLeastOnce, 1);
    dup.dup = true;
    c.client_sends(dup);
    assert_eq!(messages(&c.events()).len(), 1);
    c.conn.acknowledge(0, 1, ReasonCode::Success).unwrap();
    assert_eq!(c.sent_one(), Packet::from(PubAck::new(1)));
}

#[test]
fn a_3_1_1_client_is_not_held_to_a_receive_maximum_it_cannot_know() {
    let options = ServerOptions::new()
        .with_receive_maximum(1)
        .with_manual_ack(true);
    let mut c = connected_with(options, V3);
    c.client_sends(publish("a", b"1", QoS::AtLeastOnce, 1));
    c.client_sends(publish("a", b"2", QoS::AtLeastOnce, 2));
    assert_eq!(messages(&c.events()).len(), 2);
    assert_eq!(c.conn.state(), ServerState::Connected);
}

#[test]
fn our_max_inflight_bounds_the_window_too() {
    let mut c = connected_with(ServerOptions::new().with_max_inflight(1), V3);
    c.conn
        .publish(0, publish("q", b"1", QoS::AtLeastOnce, 0))
        .unwrap();
    c.conn
        .publish(0, publish("q", b"2", QoS::AtLeastOnce, 0))
        .unwrap();
    assert_eq!(c.sent().len(), 1);
    c.client_sends(PubAck::new(1));
    assert!(matches!(c.sent_one(), Packet::Publish(p) if p.packet_id == 2));
}

#[test]
fn acknowledgements_for_nothing_in_flight() {
    // PUBACK and PUBCOMP for nothing in flight are ignored (a client may
    // repeat them after a resume); PUBREC gets PUBREL 0x92 in 5.0.
    let mut c = connected(V5);
    c.client_sends(PubAck::new(5));
    c.client_sends(PubComp::new(6));
    assert!(c.sent_bytes().is_empty());
    assert!(c.events().is_empty());
    c.client_sends(PubRec::new(7));
    assert_eq!(
        c.sent_one(),
        Packet::from(PubRel::new(7).with_reason_code(ReasonCode::PacketIdentifierNotFound))
    );
    assert_eq!(c.conn.state(), ServerState::Connected);
}

#[test]
fn nothing_is_published_before_the_connection_is_accepted() {
    // [MQTT-3.2.0-1] CONNACK is the first packet the server sends.
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.connect("early");
    assert_eq!(
        c.conn.publish(0, publish("t", b"x", QoS::AtMostOnce, 0)),
        Err(ServerError::NotConnected)
    );
    assert!(c.sent_bytes().is_empty());
}

#[test]
fn a_resumed_session_keeps_within_the_new_receive_maximum() {
    // [MQTT-3.3.4-9] also for messages resent on a resumed session: those
    // beyond the client's new Receive Maximum wait, keeping DUP and their
    // identifiers.
    let mut c = connected(V5);
    for i in 0..3u8 {
        c.conn
            .publish(
                0,
                Publish::new("r", vec![i])
                    .unwrap()
                    .with_qos(QoS::AtLeastOnce, 0),
            )
            .unwrap();
    }
    c.conn.handle_transport_closed(1);
    let session = c.conn.take_session().unwrap();
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    let mut connect = Connect::new(V5, "test").unwrap().with_clean_start(false);
    connect.properties.receive_maximum = Some(1);
    c.connect_with(connect);
    c.conn
        .accept(2, Accept::new().with_session(session))
        .unwrap();
    let sent = c.sent();
    assert_eq!(sent.len(), 2, "CONNACK and one PUBLISH: {sent:?}");
    for id in 1..=3u16 {
        if id > 1 {
            assert!(matches!(c.sent_one(), Packet::Publish(p) if p.dup && p.packet_id == id));
        }
        c.client_sends(PubAck::new(id));
    }
    assert_eq!(c.conn.inflight_len() + c.conn.queued_len(), 0);
}
