//! Client-side normative statements not checked elsewhere, in the style of
//! `server_rules.rs`: the test plays the server with [`Scripted`] (packets
//! in, exact packets or bytes out, virtual time) and each test names the
//! statements it checks. Ids are MQTT 3.1.1 numbering where the comment
//! says "3.1.1", 5.0 numbering where it says "5.0".
//!
//! Which test checks which statement, for both versions and both roles,
//! is kept in the conformance maps, `tests/conformance/mqtt-3.1.1.map` and
//! `tests/conformance/mqtt-5.0.map` (`make conformance` prints the
//! coverage; `tests/tests/conformance_map.rs` keeps them consistent).

use mqtt_core::client::{
    ClientError, ClientOptions, ConnectionState, DisconnectReason, Event, ProtocolViolation,
    SessionLostPolicy,
};
use mqtt_core::codec::{
    ConnAck, Disconnect, MqttString, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel,
    Publish, QoS, ReasonCode, Subscribe, SubscribeFilter, SubscriptionOptions, Unsubscribe, Will,
};
use mqtt_tests::hex;
use mqtt_tests::scripted::Scripted;

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];

fn opts(version: ProtocolVersion) -> ClientOptions {
    ClientOptions::new(version, "test").expect("valid options")
}

fn connected(options: ClientOptions) -> Scripted {
    let mut s = Scripted::new(options);
    s.connect_ok(false);
    s
}

fn publish(topic: &str, payload: &'static [u8], qos: QoS, id: u16) -> Publish {
    Publish::new(topic, payload)
        .expect("valid topic")
        .with_qos(qos, id)
}

fn sub(filter: &str, qos: QoS) -> Subscribe {
    Subscribe::new(
        0,
        vec![SubscribeFilter::new(filter, SubscriptionOptions::new(qos)).expect("valid filter")],
    )
}

fn messages(events: &[Event]) -> Vec<&Publish> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(&m.publish),
            _ => None,
        })
        .collect()
}

/// 3.1.1 [MQTT-3.1.3-7]: a zero-byte client identifier only with Clean
/// Session 1. The client refuses the other case locally, sends nothing and
/// stays disconnected; with Clean Session 1 the CONNECT goes out. 5.0 lets
/// the server assign an identifier whatever Clean Start says (5.0
/// [MQTT-3.1.3-6]), so the 5.0 client sends it.
#[test]
fn empty_client_id_requires_clean_session() {
    let mut s = Scripted::new(ClientOptions::new(V3, "").unwrap().with_clean_start(false));
    match s.client.connect(0) {
        Err(ClientError::InvalidState(why)) => {
            assert!(why.contains("MQTT-3.1.3-7"), "{why}")
        }
        other => panic!("expected a local refusal, got {other:?}"),
    }
    assert_eq!(s.client.state(), ConnectionState::Disconnected);
    assert_eq!(s.sent(), vec![]);
    assert_eq!(s.client.poll_timeout(), None, "no CONNACK timer armed");

    let mut s = Scripted::new(ClientOptions::new(V3, "").unwrap());
    s.connect();
    match s.sent_one() {
        Packet::Connect(c) => {
            assert!(c.client_id.is_empty());
            assert!(c.clean_start);
        }
        other => panic!("expected CONNECT, got {other:?}"),
    }

    let mut s = Scripted::new(
        ClientOptions::new(V5, "")
            .unwrap()
            .with_clean_start(false)
            .with_session_expiry_interval(60),
    );
    s.connect();
    match s.sent_one() {
        Packet::Connect(c) => {
            assert!(c.client_id.is_empty());
            assert!(!c.clean_start);
        }
        other => panic!("expected CONNECT, got {other:?}"),
    }
}

/// 3.1.1 [MQTT-3.1.2-9], [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15],
/// [MQTT-3.1.2-18] to [MQTT-3.1.2-21], [MQTT-3.1.3-1], [MQTT-3.1.3-3]: the
/// CONNECT flags say exactly which payload fields follow, and they follow
/// in the order client id, will topic, will message, user name, password.
/// Checked on the bytes the 3.1.1 client writes.
#[test]
fn connect_flags_and_payload_order_on_the_wire() {
    let will = Will::new("w/t", &b"gone"[..], QoS::AtLeastOnce)
        .unwrap()
        .with_retain(true);
    let options = ClientOptions::new(V3, "id")
        .unwrap()
        .with_keep_alive(10)
        .with_will(will)
        .with_username("u")
        .unwrap()
        .with_password(&b"p"[..]);
    let mut s = Scripted::new(options);
    s.client.connect(0).unwrap();
    let bytes = s.sent_bytes();
    // Fixed header 0x10, remaining length, "MQTT", level 4, flags
    // 1110_1110: user name, password, will retain, will QoS 1, will, clean
    // session; keep alive 10; then the payload fields in order.
    let expected = hex("10 1F 0004 4D515454 04 EE 000A
         0002 6964  0003 772F74  0004 676F6E65  0001 75  0001 70");
    assert_eq!(bytes, expected);

    // No will, no credentials: every will, user name and password flag 0
    // and none of those fields present.
    let mut s = Scripted::new(ClientOptions::new(V3, "id").unwrap().with_keep_alive(10));
    s.client.connect(0).unwrap();
    assert_eq!(
        s.sent_bytes(),
        hex("10 0E 0004 4D515454 04 02 000A 0002 6964")
    );
}

/// 3.1.1 [MQTT-2.3.1-1], [MQTT-2.3.1-2], [MQTT-3.8.1-1], [MQTT-3.10.1-1],
/// [MQTT-3.8.3-1], [MQTT-3.10.3-1]: SUBSCRIBE and UNSUBSCRIBE go out with
/// the reserved flags 0010, non-zero identifiers that are not in use, and
/// their filters as length-prefixed strings; the identifiers are checked
/// on the raw bytes. Both versions (5.0 [MQTT-2.2.1-3], [MQTT-2.1.3-1],
/// [MQTT-3.8.1-1], [MQTT-3.10.1-1]).
#[test]
fn subscribe_and_unsubscribe_carry_fresh_ids_and_reserved_flags() {
    for v in BOTH {
        let mut s = connected(opts(v));
        let a = s
            .client
            .subscribe(s.now, sub("a/+", QoS::AtLeastOnce))
            .unwrap();
        let b = s
            .client
            .unsubscribe(
                s.now,
                Unsubscribe::new(0, vec![MqttString::from_str("a/+").unwrap()]),
            )
            .unwrap();
        assert_ne!(a, 0);
        assert_ne!(b, 0);
        assert_ne!(a, b, "{v:?}: an identifier in use is not reused");
        let bytes = s.sent_bytes();
        assert_eq!(bytes[0], 0x82, "{v:?}: SUBSCRIBE flags");
        let sub_len = 2 + usize::from(bytes[1]);
        assert_eq!(
            u16::from_be_bytes([bytes[2], bytes[3]]),
            a,
            "{v:?}: SUBSCRIBE id"
        );
        assert_eq!(bytes[sub_len], 0xA2, "{v:?}: UNSUBSCRIBE flags");
        assert_eq!(
            u16::from_be_bytes([bytes[sub_len + 2], bytes[sub_len + 3]]),
            b,
            "{v:?}: UNSUBSCRIBE id"
        );
    }
}

/// 3.1.1 [MQTT-4.3.1-1], [MQTT-3.3.1-2], [MQTT-2.3.1-5], [MQTT-4.3.2-1],
/// [MQTT-4.3.3-1], [MQTT-2.3.1-6]: the 3.1.1 client's own flows. QoS 0
/// goes once with DUP 0 and no identifier; QoS 1 with a fresh identifier
/// and DUP 0, held until its PUBACK; QoS 2 likewise until PUBREC, then a
/// PUBREL with the same identifier until PUBCOMP, and the PUBLISH is never
/// sent again after the PUBREL (not even on a timer).
#[test]
fn outbound_qos_flows_in_3_1_1() {
    let mut s = connected(opts(V3));
    s.client
        .publish(s.now, publish("t", b"0", QoS::AtMostOnce, 0))
        .unwrap();
    // 0x30: PUBLISH, DUP 0, QoS 0, no retain; no packet identifier.
    assert_eq!(s.sent_bytes(), hex("30 04 0001 74 30"));

    s.client
        .publish(s.now, publish("t", b"1", QoS::AtLeastOnce, 0))
        .unwrap();
    let p1 = match s.sent_one() {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    };
    assert!(!p1.dup);
    let id1 = p1.packet_id;
    assert_ne!(id1, 0);
    s.client
        .publish(s.now, publish("t", b"2", QoS::ExactlyOnce, 0))
        .unwrap();
    let p2 = match s.sent_one() {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    };
    assert!(!p2.dup);
    assert_ne!(p2.packet_id, 0);
    assert_ne!(p2.packet_id, id1, "the QoS 1 message is unacknowledged");
    assert_eq!(s.client.stats().inflight, 2);

    s.server_sends(PubAck::new(id1));
    assert_eq!(s.client.stats().inflight, 1);
    s.server_sends(PubRec::new(p2.packet_id));
    assert_eq!(s.sent(), vec![Packet::PubRel(PubRel::new(p2.packet_id))]);
    // Time passes without PUBCOMP: the PUBLISH is never sent again.
    s.advance(120_000);
    let again: Vec<Packet> = s
        .sent()
        .into_iter()
        .filter(|p| !matches!(p, Packet::PingReq))
        .collect();
    assert_eq!(again, vec![]);
    s.server_sends(PubComp::new(p2.packet_id));
    assert_eq!(s.client.stats().inflight, 0);
}

/// 3.1.1 [MQTT-3.3.4-1], [MQTT-4.5.0-2], [MQTT-4.3.2-2], [MQTT-4.3.3-2],
/// [MQTT-2.3.1-6]: every inbound PUBLISH is answered as its QoS says, with
/// its own identifier: nothing for QoS 0, PUBACK for QoS 1, PUBREC then
/// (on PUBREL) PUBCOMP for QoS 2; a QoS 1 identifier is new again right
/// after the PUBACK, a QoS 2 one after the PUBCOMP. Both versions (5.0
/// [MQTT-2.2.1-5], [MQTT-3.3.4-1], [MQTT-4.3.2-4], [MQTT-4.3.2-5],
/// [MQTT-4.3.3-8], [MQTT-4.3.3-11], [MQTT-4.3.3-12]).
#[test]
fn inbound_publishes_are_answered_by_their_qos() {
    for v in BOTH {
        let mut s = connected(opts(v));
        s.server_sends(publish("t", b"0", QoS::AtMostOnce, 0));
        assert_eq!(s.sent(), vec![], "{v:?}");
        s.server_sends(publish("t", b"1", QoS::AtLeastOnce, 5));
        assert_eq!(s.sent(), vec![Packet::PubAck(PubAck::new(5))], "{v:?}");
        // The same identifier after the PUBACK: a new message.
        s.server_sends(publish("t", b"1b", QoS::AtLeastOnce, 5));
        assert_eq!(s.sent(), vec![Packet::PubAck(PubAck::new(5))], "{v:?}");
        s.server_sends(publish("t", b"2", QoS::ExactlyOnce, 6));
        assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(6))], "{v:?}");
        s.server_sends(PubRel::new(6));
        assert_eq!(s.sent(), vec![Packet::PubComp(PubComp::new(6))], "{v:?}");
        s.server_sends(publish("t", b"2b", QoS::ExactlyOnce, 6));
        assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(6))], "{v:?}");
        let events = s.events();
        let payloads: Vec<&[u8]> = messages(&events).iter().map(|p| &p.payload[..]).collect();
        assert_eq!(
            payloads,
            vec![&b"0"[..], b"1", b"1b", b"2", b"2b"],
            "{v:?}: every message delivered once"
        );
    }
}

/// 3.1.1 [MQTT-4.6.0-4] (5.0 [MQTT-4.6.0-4]): PUBREL packets go out in the
/// order the PUBRECs came, not the order the messages were published.
#[test]
fn pubrel_follows_the_order_of_pubrec() {
    for v in BOTH {
        let mut s = connected(opts(v));
        let mut ids = Vec::new();
        for payload in [b"a", b"b", b"c"] {
            s.client
                .publish(s.now, publish("t", payload, QoS::ExactlyOnce, 0))
                .unwrap();
            match s.sent_one() {
                Packet::Publish(p) => ids.push(p.packet_id),
                other => panic!("expected PUBLISH, got {other:?}"),
            }
        }
        for &i in [2, 0, 1].iter() {
            s.server_sends(PubRec::new(ids[i]));
        }
        assert_eq!(
            s.sent(),
            vec![
                Packet::PubRel(PubRel::new(ids[2])),
                Packet::PubRel(PubRel::new(ids[0])),
                Packet::PubRel(PubRel::new(ids[1])),
            ],
            "{v:?}"
        );
    }
}

/// 3.1.1 [MQTT-1.5.3-1], [MQTT-1.5.3-2], [MQTT-2.2.2-2], [MQTT-3.3.1-4],
/// [MQTT-4.8.0-1] (5.0 [MQTT-1.5.4-1], [MQTT-1.5.4-2], [MQTT-2.1.3-1],
/// [MQTT-3.3.1-4], [MQTT-4.13.1-1]):
/// a malformed packet from the server (ill-formed UTF-8, U+0000 or an
/// encoded surrogate in a string, reserved flags wrong, PUBLISH with QoS 3)
/// ends the connection: reported as a protocol violation, nothing
/// delivered, nothing more handled. A 3.1.1 client just closes (a
/// DISCONNECT would tell the server to drop the will); a 5.0 client sends
/// DISCONNECT 0x81 first.
#[test]
fn malformed_input_from_the_server_closes_the_connection() {
    // (what, 3.1.1 bytes, 5.0 bytes: the same with an empty property block)
    let cases: [(&str, &str, &str); 5] = [
        (
            "ill-formed UTF-8 in a topic",
            "30 05 0002 C328 78",
            "30 06 0002 C328 00 78",
        ),
        (
            "U+0000 in a topic",
            "30 05 0002 6100 78",
            "30 06 0002 6100 00 78",
        ),
        (
            "a surrogate (U+D800) in a topic",
            "30 06 0003 EDA080 78",
            "30 07 0003 EDA080 00 78",
        ),
        ("PUBREL with flags 0000", "60 02 0001", "60 02 0001"),
        (
            "PUBLISH with QoS 3",
            "36 06 0001 74 0001 78",
            "36 07 0001 74 0001 00 78",
        ),
    ];
    for v in BOTH {
        for (what, v3, v5) in cases {
            let mut s = connected(opts(v));
            let input = hex(if v == V3 { v3 } else { v5 });
            s.server_sends_bytes(&input);
            // Anything after the bad packet is not handled.
            s.server_sends(publish("t", b"late", QoS::AtMostOnce, 0));
            let events = s.events();
            assert!(messages(&events).is_empty(), "{v:?} {what}: {events:?}");
            assert!(
                matches!(
                    events[..],
                    [Event::Disconnected(DisconnectReason::ProtocolViolation(
                        ProtocolViolation::Decode(_)
                    ))]
                ),
                "{v:?} {what}: {events:?}"
            );
            let sent = s.sent();
            if v == V3 {
                assert_eq!(sent, vec![], "{v:?} {what}");
            } else {
                match &sent[..] {
                    [Packet::Disconnect(d)] => {
                        assert_eq!(d.reason_code, ReasonCode::MalformedPacket, "{what}")
                    }
                    other => panic!("{what}: expected DISCONNECT 0x81, got {other:?}"),
                }
            }
            assert_eq!(s.client.state(), ConnectionState::Disconnected);
        }
    }
}

/// 3.1.1 [MQTT-1.5.3-3] (5.0 [MQTT-1.5.4-3]): the bytes EF BB BF in a
/// string are U+FEFF and stay in it: the topic the application gets still
/// starts with the zero width no-break space.
#[test]
fn a_byte_order_mark_in_a_topic_is_kept() {
    for v in BOTH {
        let mut s = connected(opts(v));
        let input = hex(if v == V3 {
            "30 07 0004 EFBBBF74 78"
        } else {
            "30 08 0004 EFBBBF74 00 78"
        });
        s.server_sends_bytes(&input);
        let events = s.events();
        let got = messages(&events);
        assert_eq!(got.len(), 1, "{v:?}: {events:?}");
        assert_eq!(got[0].topic.as_str(), "\u{FEFF}t", "{v:?}");
        assert_eq!(&got[0].payload[..], b"x");
    }
}

/// 3.1.1 [MQTT-3.14.4-1], [MQTT-3.14.4-2] (5.0 the same ids): after its
/// DISCONNECT the client is disconnected (the driver closes the transport)
/// and sends nothing more: publishes are refused, timers stop, input is
/// ignored.
#[test]
fn nothing_follows_a_disconnect() {
    for v in BOTH {
        let mut s = connected(opts(v).with_keep_alive(5));
        s.client
            .disconnect(s.now, Disconnect::new(ReasonCode::Success))
            .unwrap();
        assert!(
            matches!(s.sent_one(), Packet::Disconnect(_)),
            "{v:?}: DISCONNECT first"
        );
        assert_eq!(s.client.state(), ConnectionState::Disconnected, "{v:?}");
        assert_eq!(
            s.events(),
            vec![Event::Disconnected(DisconnectReason::Local)],
            "{v:?}"
        );
        assert!(s
            .client
            .publish(s.now, publish("t", b"x", QoS::AtMostOnce, 0))
            .is_err());
        s.advance(60_000);
        s.server_sends(publish("t", b"in", QoS::AtLeastOnce, 1));
        assert_eq!(s.sent(), vec![], "{v:?}: nothing after DISCONNECT");
        assert_eq!(s.events(), vec![], "{v:?}");
    }
}

/// 3.1.1 [MQTT-3.1.2-6] (5.0 [MQTT-3.1.2-4]): with Clean Session 1 the
/// client starts a new session on every connection and reuses nothing of
/// the old one: an unacknowledged QoS 1 message is not resent as a DUP of
/// the old session (with the drop policy it is dropped and reported), and
/// an inbound QoS 2 identifier whose PUBREL never came is new again.
#[test]
fn clean_session_1_reuses_nothing_of_the_previous_session() {
    let mut s = connected(opts(V3).with_session_lost(SessionLostPolicy::Drop));
    s.client
        .publish(s.now, publish("t", b"out", QoS::AtLeastOnce, 0))
        .unwrap();
    let _ = s.sent();
    s.server_sends(publish("t", b"in", QoS::ExactlyOnce, 9));
    assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(9))]);
    let _ = s.events();
    s.client.handle_transport_closed(s.now);
    let _ = s.events();

    s.connect();
    match s.sent_one() {
        Packet::Connect(c) => assert!(c.clean_start, "Clean Session 1 again"),
        other => panic!("expected CONNECT, got {other:?}"),
    }
    s.server_sends(ConnAck::new(false, ReasonCode::Success));
    let events = s.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PublishDropped { .. })),
        "{events:?}"
    );
    assert_eq!(s.sent(), vec![], "nothing of the old session is resent");
    assert_eq!(s.client.stats().inflight, 0);
    // Identifier 9 again, not a duplicate: a new message, delivered.
    s.server_sends(publish("t", b"in2", QoS::ExactlyOnce, 9));
    assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(9))]);
    let events = s.events();
    assert_eq!(messages(&events).len(), 1, "{events:?}");
}

/// 3.1.1 [MQTT-3.1.2-4], [MQTT-4.1.0-1], [MQTT-2.3.1-3], [MQTT-4.4.0-1]:
/// with Clean Session 0 the client keeps its session over a lost
/// connection: on a resumed session it sends the unacknowledged SUBSCRIBE
/// again with its original identifier (and unacknowledged PUBLISH and
/// PUBREL, checked in `client_session.rs`).
#[test]
fn clean_session_0_keeps_an_unacknowledged_subscribe() {
    let mut s = connected(opts(V3).with_clean_start(false));
    let id = s
        .client
        .subscribe(s.now, sub("a/#", QoS::AtMostOnce))
        .unwrap();
    let first = s.sent_one();
    s.client.handle_transport_closed(s.now);
    let _ = s.events();
    s.connect();
    match s.sent_one() {
        Packet::Connect(c) => assert!(!c.clean_start),
        other => panic!("expected CONNECT, got {other:?}"),
    }
    s.server_sends(ConnAck::new(true, ReasonCode::Success));
    let again = s.sent_one();
    assert_eq!(again, first, "the same SUBSCRIBE, identifier {id}");
}

/// 5.0 [MQTT-3.1.0-1] / 3.1.1 [MQTT-3.1.0-1]: the first packet on a
/// connection is CONNECT, even when commands were queued before it.
#[test]
fn connect_goes_first_even_with_queued_commands() {
    for v in BOTH {
        let mut s = Scripted::new(opts(v));
        s.client.subscribe(0, sub("q", QoS::AtLeastOnce)).unwrap();
        s.client
            .publish(0, publish("t", b"x", QoS::AtLeastOnce, 0))
            .unwrap();
        s.connect();
        let sent = s.sent();
        assert!(
            matches!(sent[..], [Packet::Connect(_)]),
            "{v:?}: only CONNECT before CONNACK, got {sent:?}"
        );
        s.server_sends(ConnAck::new(false, ReasonCode::Success));
        let after = s.sent();
        assert_eq!(after.len(), 2, "{v:?}: the queued commands follow CONNACK");
    }
}

/// 5.0 [MQTT-3.3.2-14] (and [MQTT-4.7.1-1]): a Response Topic is a topic
/// name, so a wildcard in it is refused locally with the codec's reason
/// and nothing is sent; a plain one goes out.
#[test]
fn a_response_topic_with_a_wildcard_is_refused_locally() {
    let mut s = connected(opts(V5));
    let mut p = publish("req", b"x", QoS::AtMostOnce, 0);
    p.properties.response_topic = Some(MqttString::from_str("reply/#").unwrap());
    assert!(matches!(
        s.client.publish(s.now, p),
        Err(ClientError::Invalid(_))
    ));
    assert_eq!(s.sent(), vec![]);
    let mut p = publish("req", b"x", QoS::AtMostOnce, 0);
    p.properties.response_topic = Some(MqttString::from_str("reply/me").unwrap());
    s.client.publish(s.now, p).unwrap();
    match s.sent_one() {
        Packet::Publish(p) => assert_eq!(
            p.properties.response_topic.as_ref().map(|t| t.as_str()),
            Some("reply/me")
        ),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// 5.0 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol
/// Error, so the client refuses to send it (nothing goes out); without No
/// Local the shared subscription is sent.
#[test]
fn no_local_on_a_shared_subscription_is_refused_locally() {
    let mut s = connected(opts(V5));
    let mut options = SubscriptionOptions::new(QoS::AtLeastOnce);
    options.no_local = true;
    let bad = Subscribe::new(
        0,
        vec![SubscribeFilter::new("$share/g/t", options).unwrap()],
    );
    assert!(s.client.subscribe(s.now, bad).is_err());
    assert_eq!(s.sent(), vec![]);
    s.client
        .subscribe(s.now, sub("$share/g/t", QoS::AtLeastOnce))
        .unwrap();
    assert!(matches!(s.sent_one(), Packet::Subscribe(_)));
}

/// 5.0 [MQTT-3.14.2-1]: the client's DISCONNECT carries a DISCONNECT
/// reason code only: one of another packet (0x01 Granted QoS 1, 0x87 Not
/// authorized ... is CONNACK's too) is refused locally, nothing is sent and
/// the connection stays up; a DISCONNECT code goes out.
#[test]
fn disconnect_takes_disconnect_reason_codes_only() {
    let mut s = connected(opts(V5));
    for bad in [ReasonCode::GrantedQoS1, ReasonCode::NoSubscriptionExisted] {
        assert!(
            s.client.disconnect(s.now, Disconnect::new(bad)).is_err(),
            "{bad:?}"
        );
        assert_eq!(s.sent(), vec![]);
        assert_eq!(s.client.state(), ConnectionState::Connected);
    }
    s.client
        .disconnect(
            s.now,
            Disconnect::new(ReasonCode::DisconnectWithWillMessage),
        )
        .unwrap();
    match s.sent_one() {
        Packet::Disconnect(d) => {
            assert_eq!(d.reason_code, ReasonCode::DisconnectWithWillMessage)
        }
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
}
