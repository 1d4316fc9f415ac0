//! Scripted-peer tests of the client's message flows: outbound and inbound
//! QoS 0, 1 and 2, packet identifiers, the inflight window, manual
//! acknowledgement, the server's limits and the stats counters. The test
//! plays the server packet by packet ([`Scripted`]) and checks the exact
//! packets and events that come out, for MQTT 3.1.1 and 5.0.
//!
//! Normative statement ids are those of MQTT 5.0 unless marked 3.1.1.

use bytes::Bytes;
use mqtt_core::client::{
    AckToken, ClientError, ClientOptions, ConnectionState, DisconnectReason, Event, Leniency,
    Message, ProtocolViolation, PublishId,
};
use mqtt_core::codec::{
    AckProperties, ConnAck, ConnAckProperties, Disconnect, MqttString, Packet, PacketType,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS, ReasonCode, SubAck, Subscribe,
    Unsubscribe,
};
use mqtt_tests::scripted::Scripted;

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];

// ----- helpers ---------------------------------------------------------------

fn options(version: ProtocolVersion) -> ClientOptions {
    ClientOptions::new(version, "test").expect("valid options")
}

/// A client connected with a plain CONNACK (Session Present 0).
fn connected(options: ClientOptions) -> Scripted {
    let mut s = Scripted::new(options);
    s.connect_ok(false);
    s
}

/// A 5.0 client connected with a CONNACK carrying `properties`.
fn connected_with(options: ClientOptions, properties: ConnAckProperties) -> Scripted {
    let mut s = Scripted::new(options);
    s.connect();
    assert!(matches!(s.sent_one(), Packet::Connect(_)));
    let mut connack = ConnAck::new(false, ReasonCode::Success);
    connack.properties = properties;
    s.server_sends(connack);
    assert!(matches!(s.events()[..], [Event::Connected(_)]));
    s
}

/// A message for `Client::publish` (the packet id is the client's choice).
fn message(topic: &str, payload: &'static [u8], qos: QoS) -> Publish {
    Publish::new(topic, payload)
        .expect("valid topic")
        .with_qos(qos, 0)
}

/// The PUBLISH packet expected on the wire.
fn wire(topic: &str, payload: &'static [u8], qos: QoS, packet_id: u16, dup: bool) -> Packet {
    let mut p = Publish::new(topic, payload)
        .expect("valid topic")
        .with_qos(qos, packet_id);
    p.dup = dup;
    Packet::Publish(p)
}

/// A PUBLISH from the server.
fn inbound(topic: &str, payload: &'static [u8], qos: QoS, packet_id: u16) -> Publish {
    Publish::new(topic, payload)
        .expect("valid topic")
        .with_qos(qos, packet_id)
}

fn completed(id: u64, reason_code: ReasonCode) -> Event {
    Event::PublishCompleted {
        id: PublishId(id),
        reason_code,
        properties: AckProperties::default(),
    }
}

fn delivered(publish: Publish, ack_token: Option<u64>) -> Event {
    Event::Message(Message {
        publish,
        ack_token: ack_token.map(AckToken),
    })
}

fn violation(v: ProtocolViolation) -> Event {
    Event::Disconnected(DisconnectReason::ProtocolViolation(v))
}

fn disconnect(code: ReasonCode) -> Packet {
    Packet::Disconnect(Disconnect::new(code))
}

// ----- outbound QoS 0 --------------------------------------------------------

/// [MQTT-4.3.1-1] QoS 0: PUBLISH with QoS 0 and DUP 0, no packet identifier
/// [MQTT-2.2.1-2]; the caller gets a local token above every packet id.
#[test]
fn a_qos0_publish_returns_a_local_token_above_65535_and_goes_out_once_without_a_completion() {
    for v in BOTH {
        let mut s = connected(options(v));
        let a = s
            .client
            .publish(s.now, message("a/b", b"one", QoS::AtMostOnce))
            .unwrap();
        let b = s
            .client
            .publish(s.now, message("a/b", b"two", QoS::AtMostOnce))
            .unwrap();
        assert!(a.0 > 65_535, "{v:?}: {a:?}");
        assert_eq!(a.packet_id(), None);
        assert_eq!(b.0, a.0 + 1, "tokens are never shared");
        assert_eq!(
            s.sent(),
            vec![
                wire("a/b", b"one", QoS::AtMostOnce, 0, false),
                wire("a/b", b"two", QoS::AtMostOnce, 0, false),
            ]
        );
        assert_eq!(s.events(), vec![], "QoS 0 has no completion event");
        assert_eq!(s.client.stats().inflight, 0);
    }
}

/// The raw bytes of a 3.1.1 QoS 0 PUBLISH: 0x30, no packet identifier.
#[test]
fn a_qos0_publish_is_exactly_these_bytes_in_3_1_1() {
    let mut s = connected(options(V3));
    s.client
        .publish(s.now, message("a", b"hi", QoS::AtMostOnce))
        .unwrap();
    assert_eq!(s.sent_bytes(), mqtt_tests::hex("30 05 00 01 61 68 69"));
}

// ----- outbound QoS 1 --------------------------------------------------------

/// [MQTT-4.3.2-1] [MQTT-4.3.2-2] [MQTT-4.3.2-3] QoS 1: an unused packet
/// identifier, PUBLISH with DUP 0, unacknowledged until PUBACK; the PUBACK
/// completes it with its reason code.
#[test]
fn a_qos1_publish_returns_its_packet_identifier_and_puback_completes_it() {
    for v in BOTH {
        let mut s = connected(options(v));
        let id = s
            .client
            .publish(s.now, message("t", b"p", QoS::AtLeastOnce))
            .unwrap();
        assert_eq!(id, PublishId(1));
        assert_eq!(id.packet_id(), Some(1));
        assert_eq!(s.sent(), vec![wire("t", b"p", QoS::AtLeastOnce, 1, false)]);
        assert_eq!(s.client.stats().inflight, 1);
        assert_eq!(s.events(), vec![]);

        s.server_sends(PubAck::new(1));
        assert_eq!(s.events(), vec![completed(1, ReasonCode::Success)], "{v:?}");
        assert_eq!(s.sent(), vec![], "nothing answers a PUBACK");
        assert_eq!(s.client.stats().inflight, 0);
    }
}

/// 5.0 PUBACK reason codes and properties reach the caller as they came:
/// 0x10 (accepted, no subscribers) and 0x87 (refused).
#[test]
fn puback_reason_codes_and_properties_are_reported_with_the_completion() {
    let mut s = connected(options(V5));
    for _ in 0..2 {
        s.client
            .publish(s.now, message("t", b"p", QoS::AtLeastOnce))
            .unwrap();
    }
    let _ = s.sent();
    let mut ack = PubAck::new(1).with_reason_code(ReasonCode::NoMatchingSubscribers);
    ack.properties.reason_string = Some(MqttString::from_str("nobody").unwrap());
    s.server_sends(ack.clone());
    s.server_sends(PubAck::new(2).with_reason_code(ReasonCode::NotAuthorized));
    assert_eq!(
        s.events(),
        vec![
            Event::PublishCompleted {
                id: PublishId(1),
                reason_code: ReasonCode::NoMatchingSubscribers,
                properties: ack.properties,
            },
            completed(2, ReasonCode::NotAuthorized),
        ]
    );
    assert_eq!(s.sent(), vec![]);
}

// ----- outbound QoS 2 --------------------------------------------------------

/// [MQTT-4.3.3-1] to [MQTT-4.3.3-5]: PUBLISH (DUP 0), PUBREC, our PUBREL with
/// the same identifier, PUBCOMP, and only then the completion.
#[test]
fn a_qos2_publish_runs_pubrec_pubrel_pubcomp_and_completes_on_pubcomp() {
    for v in BOTH {
        let mut s = connected(options(v));
        let id = s
            .client
            .publish(s.now, message("t", b"q2", QoS::ExactlyOnce))
            .unwrap();
        assert_eq!(id, PublishId(1));
        assert_eq!(s.sent(), vec![wire("t", b"q2", QoS::ExactlyOnce, 1, false)]);

        s.server_sends(PubRec::new(1));
        assert_eq!(s.sent(), vec![Packet::PubRel(PubRel::new(1))], "{v:?}");
        assert_eq!(s.events(), vec![], "not complete before PUBCOMP");
        assert_eq!(s.client.stats().inflight, 1);

        s.server_sends(PubComp::new(1));
        assert_eq!(s.events(), vec![completed(1, ReasonCode::Success)]);
        assert_eq!(s.sent(), vec![]);
        assert_eq!(s.client.stats().inflight, 0);
    }
}

/// The PUBREL on the wire is 0x62 (reserved flags 0010 [MQTT-3.6.1-1]).
#[test]
fn the_pubrel_answering_a_pubrec_is_exactly_these_bytes() {
    let mut s = connected(options(V3));
    s.client
        .publish(s.now, message("t", b"x", QoS::ExactlyOnce))
        .unwrap();
    let _ = s.sent();
    s.server_sends(PubRec::new(1));
    assert_eq!(s.sent_bytes(), mqtt_tests::hex("62 02 00 01"));
}

/// [MQTT-4.3.3-4] PUBREL only for a PUBREC below 0x80; [MQTT-4.4.0-2] a
/// PUBREC of 0x80 or above acknowledges the PUBLISH: the exchange ends
/// there, with the code in the completion.
#[test]
fn a_pubrec_with_an_error_code_ends_the_exchange_without_pubrel() {
    let mut s = connected(options(V5));
    s.client
        .publish(s.now, message("t", b"x", QoS::ExactlyOnce))
        .unwrap();
    let _ = s.sent();
    s.server_sends(PubRec::new(1).with_reason_code(ReasonCode::QuotaExceeded));
    assert_eq!(s.sent(), vec![], "no PUBREL after an error PUBREC");
    assert_eq!(s.events(), vec![completed(1, ReasonCode::QuotaExceeded)]);
    assert_eq!(s.client.stats().inflight, 0);

    // The exchange is over: a PUBCOMP for it is an unknown identifier.
    s.server_sends(PubComp::new(1));
    assert_eq!(s.sent(), vec![disconnect(ReasonCode::ProtocolError)]);
    assert_eq!(
        s.events(),
        vec![violation(ProtocolViolation::UnknownPacketId {
            packet: PacketType::PubComp,
            packet_id: 1,
        })]
    );
}

/// A PUBREC repeated after our PUBREL (the server did not see it) is
/// answered with PUBREL again, not treated as unknown.
#[test]
fn a_pubrec_repeated_after_our_pubrel_is_answered_with_pubrel_again() {
    for v in BOTH {
        let mut s = connected(options(v));
        s.client
            .publish(s.now, message("t", b"x", QoS::ExactlyOnce))
            .unwrap();
        let _ = s.sent();
        s.server_sends(PubRec::new(1));
        s.server_sends(PubRec::new(1));
        assert_eq!(
            s.sent(),
            vec![
                Packet::PubRel(PubRel::new(1)),
                Packet::PubRel(PubRel::new(1))
            ]
        );
        assert_eq!(s.client.state(), ConnectionState::Connected);
        s.server_sends(PubComp::new(1));
        assert_eq!(s.events(), vec![completed(1, ReasonCode::Success)]);
    }
}

// ----- packet identifiers ----------------------------------------------------

/// [MQTT-2.2.1-3] Every new PUBLISH (QoS > 0), SUBSCRIBE and UNSUBSCRIBE
/// gets a non-zero identifier not in use by any of the three.
#[test]
fn packet_identifiers_are_never_reused_while_in_flight_across_publishes_subscribes_and_unsubscribes(
) {
    for v in BOTH {
        let mut s = connected(options(v));
        let p1 = s
            .client
            .publish(s.now, message("t", b"1", QoS::AtLeastOnce))
            .unwrap();
        let sub = s
            .client
            .subscribe(
                s.now,
                Subscribe::single(0, "f/#", QoS::AtLeastOnce).unwrap(),
            )
            .unwrap();
        let unsub = s
            .client
            .unsubscribe(s.now, Unsubscribe::single(0, "g").unwrap())
            .unwrap();
        let p2 = s
            .client
            .publish(s.now, message("t", b"2", QoS::ExactlyOnce))
            .unwrap();
        assert_eq!(
            (p1, sub, unsub, p2),
            (PublishId(1), 2, 3, PublishId(4)),
            "{v:?}"
        );
        let sent = s.sent();
        let ids: Vec<u16> = sent
            .iter()
            .map(|p| match p {
                Packet::Publish(p) => p.packet_id,
                Packet::Subscribe(s) => s.packet_id,
                Packet::Unsubscribe(u) => u.packet_id,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4]);

        // Free 2 (SUBACK) and 4 (PUBREC then PUBCOMP); 1 and 3 stay in use.
        s.server_sends(SubAck::new(2, vec![ReasonCode::GrantedQoS1]));
        s.server_sends(PubRec::new(4));
        s.server_sends(PubComp::new(4));
        let _ = s.sent();
        let _ = s.events();
        let next = s
            .client
            .publish(s.now, message("t", b"3", QoS::AtLeastOnce))
            .unwrap();
        assert_eq!(
            next,
            PublishId(5),
            "identifiers move on; none in use reused"
        );
    }
}

/// With all 65,535 identifiers in flight a new command is refused with
/// `NoPacketIdentifier`; acknowledging one frees exactly that one, and the
/// search wraps past 65,535 and skips those in use [MQTT-2.2.1-3].
#[test]
fn when_every_packet_identifier_is_in_flight_commands_are_refused_until_one_is_acknowledged() {
    let mut s = connected(options(V5).with_max_inflight(u16::MAX));
    for expected in 1..=u16::MAX {
        let id = s
            .client
            .publish(s.now, message("t", b"", QoS::AtLeastOnce))
            .unwrap();
        assert_eq!(id, PublishId(u64::from(expected)));
        if expected % 4096 == 0 {
            let _ = s.client.take_transmit();
        }
    }
    let _ = s.client.take_transmit();
    assert_eq!(s.client.stats().inflight, u32::from(u16::MAX));
    assert_eq!(
        s.client.publish(s.now, message("t", b"", QoS::AtLeastOnce)),
        Err(ClientError::NoPacketIdentifier)
    );
    assert_eq!(
        s.client
            .subscribe(s.now, Subscribe::single(0, "f", QoS::AtMostOnce).unwrap()),
        Err(ClientError::NoPacketIdentifier)
    );
    // QoS 0 needs no identifier.
    assert!(s
        .client
        .publish(s.now, message("t", b"", QoS::AtMostOnce))
        .is_ok());
    let _ = s.client.take_transmit();

    s.server_sends(PubAck::new(300));
    assert_eq!(s.events(), vec![completed(300, ReasonCode::Success)]);
    let id = s
        .client
        .publish(s.now, message("t", b"again", QoS::AtLeastOnce))
        .unwrap();
    assert_eq!(id, PublishId(300), "the only free identifier");
    assert_eq!(
        s.sent(),
        vec![wire("t", b"again", QoS::AtLeastOnce, 300, false)]
    );
}

// ----- the inflight window ---------------------------------------------------

/// [MQTT-3.3.4-7] [MQTT-4.9.0-2] No more QoS 1/2 PUBLISH unacknowledged than
/// the server's Receive Maximum (nor our own `max_inflight`); the rest
/// wait, and go in order as acknowledgements free the window.
#[test]
fn the_inflight_window_is_the_smaller_of_max_inflight_and_receive_maximum_and_the_rest_go_in_order()
{
    // The server's Receive Maximum (2) is the smaller.
    let mut props = ConnAckProperties::default();
    props.receive_maximum = Some(2);
    let mut s = connected_with(options(V5).with_max_inflight(3), props);
    for i in 1..=5u16 {
        let qos = if i % 2 == 0 {
            QoS::ExactlyOnce
        } else {
            QoS::AtLeastOnce
        };
        assert_eq!(
            s.client.publish(s.now, message("t", b"m", qos)).unwrap(),
            PublishId(u64::from(i)),
            "identifiers are chosen when the command is given"
        );
    }
    assert_eq!(
        s.sent(),
        vec![
            wire("t", b"m", QoS::AtLeastOnce, 1, false),
            wire("t", b"m", QoS::ExactlyOnce, 2, false),
        ]
    );
    assert_eq!(s.client.stats().inflight, 2);
    assert_eq!(s.client.stats().queued, 3);
    assert_eq!(s.client.send_quota(), 0);

    // A PUBREC does not free the window (PUBCOMP does) [MQTT-4.9.0-2].
    s.server_sends(PubRec::new(2));
    assert_eq!(s.sent(), vec![Packet::PubRel(PubRel::new(2))]);
    s.server_sends(PubAck::new(1));
    assert_eq!(s.sent(), vec![wire("t", b"m", QoS::AtLeastOnce, 3, false)]);
    s.server_sends(PubComp::new(2));
    assert_eq!(s.sent(), vec![wire("t", b"m", QoS::ExactlyOnce, 4, false)]);
    s.server_sends(PubAck::new(3));
    assert_eq!(s.sent(), vec![wire("t", b"m", QoS::AtLeastOnce, 5, false)]);
    assert_eq!(s.client.stats().queued, 0);
    assert_eq!(
        s.events(),
        vec![
            completed(1, ReasonCode::Success),
            completed(2, ReasonCode::Success),
            completed(3, ReasonCode::Success),
        ]
    );
}

/// Our own limit applies when it is the smaller, in both versions (3.1.1
/// has no Receive Maximum).
#[test]
fn max_inflight_limits_the_window_when_it_is_smaller_than_the_servers_receive_maximum() {
    for v in BOTH {
        let mut s = connected(options(v).with_max_inflight(1));
        for _ in 0..3 {
            s.client
                .publish(s.now, message("t", b"m", QoS::AtLeastOnce))
                .unwrap();
        }
        assert_eq!(s.sent(), vec![wire("t", b"m", QoS::AtLeastOnce, 1, false)]);
        assert_eq!((s.client.stats().inflight, s.client.stats().queued), (1, 2));
        s.server_sends(PubAck::new(1));
        assert_eq!(s.sent(), vec![wire("t", b"m", QoS::AtLeastOnce, 2, false)]);
        s.server_sends(PubAck::new(2));
        assert_eq!(s.sent(), vec![wire("t", b"m", QoS::AtLeastOnce, 3, false)]);
    }
}

/// QoS 0 is not counted by the window [MQTT-4.9.0-3]: with the window full
/// and nothing queued, a QoS 0 message goes at once.
#[test]
fn a_qos0_publish_is_not_held_back_by_a_full_window() {
    let mut s = connected(options(V5).with_max_inflight(1));
    s.client
        .publish(s.now, message("t", b"1", QoS::AtLeastOnce))
        .unwrap();
    let _ = s.sent();
    s.client
        .publish(s.now, message("t", b"0", QoS::AtMostOnce))
        .unwrap();
    assert_eq!(s.sent(), vec![wire("t", b"0", QoS::AtMostOnce, 0, false)]);
}

/// [MQTT-3.3.4-8] The client must not delay packets other than PUBLISH
/// because the window is full: a SUBSCRIBE and an UNSUBSCRIBE given while
/// publishes wait for the window go out at once.
#[test]
fn subscribes_and_unsubscribes_are_not_delayed_by_a_full_inflight_window() {
    let mut props = ConnAckProperties::default();
    props.receive_maximum = Some(1);
    let mut s = connected_with(options(V5), props);
    s.client
        .publish(s.now, message("t", b"1", QoS::AtLeastOnce))
        .unwrap();
    s.client
        .publish(s.now, message("t", b"2", QoS::AtLeastOnce))
        .unwrap();
    assert_eq!(s.sent(), vec![wire("t", b"1", QoS::AtLeastOnce, 1, false)]);
    let sub = s
        .client
        .subscribe(s.now, Subscribe::single(0, "f", QoS::AtLeastOnce).unwrap())
        .unwrap();
    let unsub = s
        .client
        .unsubscribe(s.now, Unsubscribe::single(0, "g").unwrap())
        .unwrap();
    assert_eq!((sub, unsub), (3, 4));
    assert_eq!(
        s.sent(),
        vec![
            Packet::Subscribe(Subscribe::single(3, "f", QoS::AtLeastOnce).unwrap()),
            Packet::Unsubscribe(Unsubscribe::single(4, "g").unwrap()),
        ]
    );
    // The waiting publish still goes when the window opens.
    s.server_sends(PubAck::new(1));
    assert_eq!(s.sent(), vec![wire("t", b"2", QoS::AtLeastOnce, 2, false)]);
}

// ----- acknowledgements for unknown identifiers -------------------------------

/// An acknowledgement for an identifier not in flight (or in flight at
/// another stage or QoS) is a Protocol Error: DISCONNECT 0x82 in 5.0, the
/// connection closed in 3.1.1, and an event naming the packet and id.
#[test]
fn an_ack_for_an_unknown_packet_identifier_closes_the_connection_with_protocol_error() {
    type Send = fn(&mut Scripted);
    let cases: [(Send, PacketType, u16); 6] = [
        (|s| s.server_sends(PubAck::new(7)), PacketType::PubAck, 7),
        (|s| s.server_sends(PubRec::new(7)), PacketType::PubRec, 7),
        (|s| s.server_sends(PubComp::new(7)), PacketType::PubComp, 7),
        // Packet 1 is a QoS 1 publish: PUBREC and PUBCOMP do not fit it.
        (|s| s.server_sends(PubRec::new(1)), PacketType::PubRec, 1),
        (|s| s.server_sends(PubComp::new(1)), PacketType::PubComp, 1),
        (
            |s| s.server_sends(SubAck::new(1, vec![ReasonCode::Success])),
            PacketType::SubAck,
            1,
        ),
    ];
    for v in BOTH {
        for (send, packet, packet_id) in cases {
            let mut s = connected(options(v));
            s.client
                .publish(s.now, message("t", b"x", QoS::AtLeastOnce))
                .unwrap();
            let _ = s.sent();
            send(&mut s);
            let expected = if v == V5 {
                vec![disconnect(ReasonCode::ProtocolError)]
            } else {
                vec![]
            };
            assert_eq!(s.sent(), expected, "{v:?} {packet:?}");
            assert_eq!(
                s.events(),
                vec![violation(ProtocolViolation::UnknownPacketId {
                    packet,
                    packet_id
                })],
                "{v:?} {packet:?}"
            );
            assert_eq!(s.client.state(), ConnectionState::Disconnected);
        }
    }
}

/// `Leniency::ignore_unknown_acks` (for brokers that repeat acks) ignores
/// PUBACK, PUBREC and PUBCOMP for identifiers not in flight.
#[test]
fn the_ignore_unknown_acks_leniency_ignores_them_and_stays_connected() {
    let mut leniency = Leniency::default();
    leniency.ignore_unknown_acks = true;
    for v in BOTH {
        let mut s = connected(options(v).with_leniency(leniency));
        s.client
            .publish(s.now, message("t", b"x", QoS::AtLeastOnce))
            .unwrap();
        let _ = s.sent();
        s.server_sends(PubAck::new(9));
        s.server_sends(PubRec::new(9));
        s.server_sends(PubComp::new(9));
        assert_eq!(s.sent(), vec![], "{v:?}");
        assert_eq!(s.events(), vec![]);
        assert_eq!(s.client.state(), ConnectionState::Connected);
        // The real one still completes.
        s.server_sends(PubAck::new(1));
        assert_eq!(s.events(), vec![completed(1, ReasonCode::Success)]);
    }
}

// ----- the server's limits ---------------------------------------------------

/// [MQTT-3.2.2-11] No PUBLISH above the server's Maximum QoS; [MQTT-3.2.2-14]
/// no RETAIN when Retain Available is 0. Refused at once with a typed
/// error; nothing sent, queued or numbered.
#[test]
fn publishes_beyond_the_servers_maximum_qos_or_retain_are_refused_with_typed_errors() {
    let mut props = ConnAckProperties::default();
    props.maximum_qos = Some(QoS::AtLeastOnce);
    props.retain_available = Some(false);
    let mut s = connected_with(options(V5), props);
    assert_eq!(
        s.client
            .publish(s.now, message("t", b"x", QoS::ExactlyOnce)),
        Err(ClientError::QoSNotSupported {
            maximum: QoS::AtLeastOnce
        })
    );
    assert_eq!(
        s.client
            .publish(s.now, message("t", b"x", QoS::AtMostOnce).with_retain(true)),
        Err(ClientError::RetainNotSupported)
    );
    assert_eq!(s.sent(), vec![]);
    assert_eq!(s.client.stats().queued, 0);
    // QoS 1 within the limit is fine and gets the first identifier.
    let id = s
        .client
        .publish(s.now, message("t", b"x", QoS::AtLeastOnce))
        .unwrap();
    assert_eq!(id, PublishId(1));
    assert_eq!(s.sent(), vec![wire("t", b"x", QoS::AtLeastOnce, 1, false)]);

    // Maximum QoS 0 refuses QoS 1 too.
    let mut props = ConnAckProperties::default();
    props.maximum_qos = Some(QoS::AtMostOnce);
    let mut s = connected_with(options(V5), props);
    assert_eq!(
        s.client
            .publish(s.now, message("t", b"x", QoS::AtLeastOnce)),
        Err(ClientError::QoSNotSupported {
            maximum: QoS::AtMostOnce
        })
    );
}

/// [MQTT-3.3.4-6] A client PUBLISH carries no Subscription Identifier, and
/// Topic Aliases are chosen by the client itself: both refused.
#[test]
fn a_publish_with_a_subscription_identifier_or_topic_alias_is_refused() {
    let mut s = connected(options(V5));
    let mut with_sid = message("t", b"x", QoS::AtLeastOnce);
    with_sid.properties.subscription_identifiers = vec![5];
    assert!(matches!(
        s.client.publish(s.now, with_sid),
        Err(ClientError::InvalidState(_))
    ));
    let mut with_alias = message("t", b"x", QoS::AtLeastOnce);
    with_alias.properties.topic_alias = Some(1);
    assert!(matches!(
        s.client.publish(s.now, with_alias),
        Err(ClientError::InvalidState(_))
    ));
    assert_eq!(s.sent(), vec![]);
    assert_eq!(
        s.client
            .publish(s.now, message("t", b"x", QoS::AtLeastOnce))
            .unwrap(),
        PublishId(1),
        "refused commands use no identifier"
    );
}

// ----- inbound QoS 0, 1, 2 ---------------------------------------------------

/// QoS 0 from the server: delivered, nothing sent back.
#[test]
fn an_inbound_qos0_message_is_delivered_and_not_acknowledged() {
    for v in BOTH {
        let mut s = connected(options(v));
        let p = inbound("in", b"zero", QoS::AtMostOnce, 0);
        s.server_sends(p.clone());
        assert_eq!(s.events(), vec![delivered(p, None)], "{v:?}");
        assert_eq!(s.sent(), vec![]);
    }
}

/// [MQTT-4.3.2-4] QoS 1 from the server: delivered and PUBACK with its id.
#[test]
fn an_inbound_qos1_message_is_delivered_and_acknowledged_with_puback() {
    for v in BOTH {
        let mut s = connected(options(v));
        let p = inbound("in", b"one", QoS::AtLeastOnce, 42);
        s.server_sends(p.clone());
        assert_eq!(s.events(), vec![delivered(p, None)], "{v:?}");
        assert_eq!(s.sent(), vec![Packet::PubAck(PubAck::new(42))]);
    }
    // 3.1.1 PUBACK bytes: 0x40 0x02 and the identifier.
    let mut s = connected(options(V3));
    s.server_sends(inbound("in", b"one", QoS::AtLeastOnce, 0x0102));
    assert_eq!(s.sent_bytes(), mqtt_tests::hex("40 02 01 02"));
}

/// [MQTT-4.3.3-8] PUBREC for a QoS 2 message, [MQTT-4.3.3-11] PUBCOMP for
/// its PUBREL; delivered once, on arrival.
#[test]
fn an_inbound_qos2_message_is_delivered_once_answered_with_pubrec_then_pubcomp() {
    for v in BOTH {
        let mut s = connected(options(v));
        let p = inbound("in", b"two", QoS::ExactlyOnce, 7);
        s.server_sends(p.clone());
        assert_eq!(s.events(), vec![delivered(p, None)], "{v:?}");
        assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(7))]);
        s.server_sends(PubRel::new(7));
        assert_eq!(s.sent(), vec![Packet::PubComp(PubComp::new(7))]);
        assert_eq!(s.events(), vec![]);
    }
}

/// Many QoS 2 messages held at once (a broker slow to release them), their
/// identifiers arriving and released out of order: each is delivered
/// once, a duplicate of any is not delivered again, each PUBREL gets its
/// PUBCOMP, and an identifier no longer held gets PUBCOMP (0x92 in 5.0).
#[test]
fn many_held_qos2_messages_out_of_order_are_each_delivered_once_and_released() {
    for v in BOTH {
        let mut s = connected(options(v));
        // A permutation of 1..=997 (997 is prime: i * 389 mod 997).
        let ids: Vec<u16> = (1..=997u32).map(|i| (i * 389 % 997 + 1) as u16).collect();
        for &id in &ids {
            s.server_sends(inbound("in", b"m", QoS::ExactlyOnce, id));
        }
        assert_eq!(s.events().len(), ids.len(), "{v:?}");
        assert_eq!(s.sent().len(), ids.len(), "one PUBREC each");
        // Duplicates of every third: PUBREC again, not delivered.
        for &id in ids.iter().step_by(3) {
            let mut dup = inbound("in", b"m", QoS::ExactlyOnce, id);
            dup.dup = true;
            s.server_sends(dup);
        }
        assert_eq!(s.events(), vec![], "{v:?}: delivered twice");
        assert_eq!(
            s.sent().len(),
            ids.len().div_ceil(3),
            "PUBREC again for each"
        );
        // Released in yet another order.
        for &id in ids.iter().rev() {
            s.server_sends(PubRel::new(id));
            assert_eq!(s.sent_one(), Packet::PubComp(PubComp::new(id)));
        }
        s.server_sends(PubRel::new(ids[0]));
        let mut comp = PubComp::new(ids[0]);
        if v.is_v5() {
            comp = comp.with_reason_code(ReasonCode::PacketIdentifierNotFound);
        }
        assert_eq!(s.sent_one(), Packet::PubComp(comp));
        assert_eq!(s.client.state(), ConnectionState::Connected);
    }
}

/// [MQTT-4.3.3-10] Until PUBREL, a PUBLISH with the same identifier is
/// answered with PUBREC again but not delivered again; [MQTT-4.3.3-12]
/// after PUBCOMP the same identifier is a new message.
#[test]
fn an_inbound_qos2_duplicate_before_pubrel_is_acknowledged_again_but_not_delivered_twice() {
    for v in BOTH {
        let mut s = connected(options(v));
        let first = inbound("in", b"once", QoS::ExactlyOnce, 5);
        s.server_sends(first.clone());
        assert_eq!(s.events(), vec![delivered(first.clone(), None)]);
        assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(5))]);

        let mut dup = first.clone();
        dup.dup = true;
        s.server_sends(dup.clone());
        s.server_sends(dup);
        assert_eq!(s.events(), vec![], "{v:?}: delivered twice");
        assert_eq!(
            s.sent(),
            vec![
                Packet::PubRec(PubRec::new(5)),
                Packet::PubRec(PubRec::new(5))
            ]
        );

        s.server_sends(PubRel::new(5));
        assert_eq!(s.sent(), vec![Packet::PubComp(PubComp::new(5))]);
        let next = inbound("in", b"new", QoS::ExactlyOnce, 5);
        s.server_sends(next.clone());
        assert_eq!(s.events(), vec![delivered(next, None)], "a new message");
        assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(5))]);
    }
}

/// A PUBREL for an identifier we hold nothing for (our PUBCOMP was lost) is
/// answered with PUBCOMP: 0x92 Packet Identifier not found in 5.0, plain
/// in 3.1.1. The connection stays.
#[test]
fn a_pubrel_for_an_unknown_identifier_is_answered_with_pubcomp_0x92() {
    let mut s = connected(options(V5));
    s.server_sends(PubRel::new(77));
    assert_eq!(
        s.sent(),
        vec![Packet::PubComp(
            PubComp::new(77).with_reason_code(ReasonCode::PacketIdentifierNotFound)
        )]
    );
    assert_eq!(s.events(), vec![]);
    assert_eq!(s.client.state(), ConnectionState::Connected);

    let mut s = connected(options(V3));
    s.server_sends(PubRel::new(77));
    assert_eq!(s.sent(), vec![Packet::PubComp(PubComp::new(77))]);
    assert_eq!(s.client.state(), ConnectionState::Connected);
}

/// [MQTT-3.3.4-9] The server must not have more unacknowledged QoS 1/2
/// messages outstanding than our Receive Maximum; one more closes the
/// connection with DISCONNECT 0x93. QoS 2 messages count until PUBCOMP.
#[test]
fn the_server_exceeding_our_receive_maximum_is_disconnected_with_0x93() {
    let mut s = Scripted::new(options(V5).with_receive_maximum(2));
    s.connect();
    match s.sent_one() {
        Packet::Connect(c) => assert_eq!(c.properties.receive_maximum, Some(2)),
        other => panic!("expected CONNECT, got {other:?}"),
    }
    s.server_sends(ConnAck::new(false, ReasonCode::Success));
    let _ = s.events();

    let a = inbound("in", b"a", QoS::ExactlyOnce, 1);
    let b = inbound("in", b"b", QoS::ExactlyOnce, 2);
    s.server_sends(a.clone());
    s.server_sends(b.clone());
    assert_eq!(
        s.sent(),
        vec![
            Packet::PubRec(PubRec::new(1)),
            Packet::PubRec(PubRec::new(2))
        ]
    );
    // Released one: room for one more.
    s.server_sends(PubRel::new(1));
    let c = inbound("in", b"c", QoS::ExactlyOnce, 3);
    s.server_sends(c.clone());
    assert_eq!(
        s.sent(),
        vec![
            Packet::PubComp(PubComp::new(1)),
            Packet::PubRec(PubRec::new(3))
        ]
    );
    // 2 and 3 outstanding: a third is one too many.
    s.server_sends(inbound("in", b"d", QoS::ExactlyOnce, 4));
    assert_eq!(
        s.sent(),
        vec![disconnect(ReasonCode::ReceiveMaximumExceeded)]
    );
    assert_eq!(
        s.events(),
        vec![
            delivered(a, None),
            delivered(b, None),
            delivered(c, None),
            violation(ProtocolViolation::ReceiveMaximumExceeded),
        ]
    );
}

/// A QoS 1 message counts against our Receive Maximum too [MQTT-3.3.4-9]:
/// sent while QoS 2 messages fill it, it is one too many even though the
/// client would acknowledge it at once.
#[test]
fn an_inbound_qos1_message_beyond_our_receive_maximum_is_a_violation_too() {
    let mut s = connected(options(V5).with_receive_maximum(1));
    s.server_sends(inbound("in", b"a", QoS::ExactlyOnce, 1));
    let _ = s.events();
    assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(1))]);
    s.server_sends(inbound("in", b"b", QoS::AtLeastOnce, 2));
    assert_eq!(
        s.sent(),
        vec![disconnect(ReasonCode::ReceiveMaximumExceeded)]
    );
    assert_eq!(
        s.events(),
        vec![violation(ProtocolViolation::ReceiveMaximumExceeded)]
    );
}

/// With manual acknowledgement, unacknowledged QoS 1 messages count too;
/// in 3.1.1 the connection is closed without a DISCONNECT.
#[test]
fn unacknowledged_manual_qos1_messages_count_against_our_receive_maximum() {
    for v in BOTH {
        let mut s = connected(options(v).with_receive_maximum(2).with_manual_ack(true));
        s.server_sends(inbound("in", b"a", QoS::AtLeastOnce, 1));
        s.server_sends(inbound("in", b"b", QoS::AtLeastOnce, 2));
        assert_eq!(s.events().len(), 2);
        s.server_sends(inbound("in", b"c", QoS::AtLeastOnce, 3));
        let expected = if v == V5 {
            vec![disconnect(ReasonCode::ReceiveMaximumExceeded)]
        } else {
            vec![]
        };
        assert_eq!(s.sent(), expected, "{v:?}");
        assert_eq!(
            s.events(),
            vec![violation(ProtocolViolation::ReceiveMaximumExceeded)]
        );
    }
}

// ----- manual acknowledgement ------------------------------------------------

/// With `manual_ack`, QoS 1/2 messages carry an `AckToken`, and PUBACK or
/// PUBREC leave only when the application acknowledges; QoS 0 has none.
#[test]
fn with_manual_ack_messages_carry_a_token_and_the_ack_waits_for_the_application() {
    for v in BOTH {
        let mut s = connected(options(v).with_manual_ack(true));
        let q0 = inbound("in", b"0", QoS::AtMostOnce, 0);
        let q1 = inbound("in", b"1", QoS::AtLeastOnce, 10);
        s.server_sends(q0.clone());
        s.server_sends(q1.clone());
        assert_eq!(
            s.events(),
            vec![delivered(q0, None), delivered(q1, Some(1))],
            "{v:?}"
        );
        assert_eq!(s.sent(), vec![], "no PUBACK before the application acks");
        s.client.acknowledge(s.now, AckToken(1)).unwrap();
        assert_eq!(s.sent(), vec![Packet::PubAck(PubAck::new(10))]);
    }
}

/// [MQTT-4.6.0-2] PUBACKs and [MQTT-4.6.0-3] PUBRECs leave in the order the
/// PUBLISH packets arrived, whatever order the application acknowledges in.
#[test]
fn manual_acks_leave_in_arrival_order_even_when_the_application_acks_out_of_order() {
    for v in BOTH {
        let mut s = connected(options(v).with_manual_ack(true));
        let m1 = inbound("in", b"1", QoS::AtLeastOnce, 1);
        let m2 = inbound("in", b"2", QoS::ExactlyOnce, 2);
        let m3 = inbound("in", b"3", QoS::AtLeastOnce, 3);
        let m4 = inbound("in", b"4", QoS::ExactlyOnce, 4);
        for m in [&m1, &m2, &m3, &m4] {
            s.server_sends(m.clone());
        }
        assert_eq!(
            s.events(),
            vec![
                delivered(m1, Some(1)),
                delivered(m2, Some(2)),
                delivered(m3, Some(3)),
                delivered(m4, Some(4)),
            ]
        );
        s.client.acknowledge(s.now, AckToken(3)).unwrap();
        s.client.acknowledge(s.now, AckToken(2)).unwrap();
        assert_eq!(s.sent(), vec![], "{v:?}: message 1 not acknowledged yet");
        s.client.acknowledge(s.now, AckToken(1)).unwrap();
        assert_eq!(
            s.sent(),
            vec![
                Packet::PubAck(PubAck::new(1)),
                Packet::PubRec(PubRec::new(2)),
                Packet::PubAck(PubAck::new(3)),
            ]
        );
        s.client.acknowledge(s.now, AckToken(4)).unwrap();
        assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(4))]);
        s.server_sends(PubRel::new(2));
        s.server_sends(PubRel::new(4));
        assert_eq!(
            s.sent(),
            vec![
                Packet::PubComp(PubComp::new(2)),
                Packet::PubComp(PubComp::new(4))
            ]
        );
        assert_eq!(s.events(), vec![]);
    }
}

/// With manual ack, a QoS 2 duplicate before the application acknowledged
/// is neither delivered again nor answered; the one acknowledgement then
/// sends one PUBREC [MQTT-4.3.3-10].
#[test]
fn a_manual_qos2_duplicate_before_the_application_acks_is_not_delivered_or_answered() {
    let mut s = connected(options(V5).with_manual_ack(true));
    let m = inbound("in", b"x", QoS::ExactlyOnce, 9);
    s.server_sends(m.clone());
    let mut dup = m.clone();
    dup.dup = true;
    s.server_sends(dup);
    assert_eq!(s.events(), vec![delivered(m, Some(1))]);
    assert_eq!(s.sent(), vec![]);
    s.client.acknowledge(s.now, AckToken(1)).unwrap();
    assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(9))]);
}

/// A PUBREL for a QoS 2 message we have not answered with PUBREC yet (the
/// server cannot have had our PUBREC) is a Protocol Error.
#[test]
fn a_pubrel_before_our_pubrec_is_a_protocol_error() {
    let mut s = connected(options(V5).with_manual_ack(true));
    s.server_sends(inbound("in", b"x", QoS::ExactlyOnce, 9));
    let _ = s.events();
    s.server_sends(PubRel::new(9));
    assert_eq!(s.sent(), vec![disconnect(ReasonCode::ProtocolError)]);
    assert_eq!(
        s.events(),
        vec![violation(ProtocolViolation::UnexpectedPubRel(9))]
    );
}

/// A token never handed out, 0, or already used is refused with
/// `UnknownAckToken`; nothing is sent.
#[test]
fn acknowledging_an_unknown_or_already_used_token_is_refused() {
    let mut s = connected(options(V5).with_manual_ack(true));
    assert_eq!(
        s.client.acknowledge(s.now, AckToken(0)),
        Err(ClientError::UnknownAckToken)
    );
    assert_eq!(
        s.client.acknowledge(s.now, AckToken(1)),
        Err(ClientError::UnknownAckToken),
        "no message yet"
    );
    s.server_sends(inbound("in", b"x", QoS::AtLeastOnce, 3));
    s.server_sends(inbound("in", b"y", QoS::AtLeastOnce, 4));
    let _ = s.events();
    assert_eq!(
        s.client.acknowledge(s.now, AckToken(99)),
        Err(ClientError::UnknownAckToken)
    );
    // Token 2 acknowledged early waits for token 1; acknowledging it twice
    // is refused.
    s.client.acknowledge(s.now, AckToken(2)).unwrap();
    assert_eq!(
        s.client.acknowledge(s.now, AckToken(2)),
        Err(ClientError::UnknownAckToken)
    );
    assert_eq!(s.sent(), vec![]);
    s.client.acknowledge(s.now, AckToken(1)).unwrap();
    assert_eq!(
        s.sent(),
        vec![
            Packet::PubAck(PubAck::new(3)),
            Packet::PubAck(PubAck::new(4))
        ]
    );
    // Once their acks are out, the tokens are spent too (QoS 1 and 2).
    for t in [1, 2] {
        assert_eq!(
            s.client.acknowledge(s.now, AckToken(t)),
            Err(ClientError::UnknownAckToken),
            "token {t} after its PUBACK"
        );
    }
    s.server_sends(inbound("in", b"z", QoS::ExactlyOnce, 5));
    let _ = s.events();
    s.client.acknowledge(s.now, AckToken(3)).unwrap();
    assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(5))]);
    assert_eq!(
        s.client.acknowledge(s.now, AckToken(3)),
        Err(ClientError::UnknownAckToken),
        "token 3 after its PUBREC"
    );
    assert_eq!(s.sent(), vec![]);
}

/// The `client` fuzz target's kept input (`fuzz/regressions/client/`), at
/// the API level: the server delivers the same QoS 1 message (id 2) on
/// three connections, none resuming the session; the tokens of the first
/// two are accepted and do nothing (the connection they came on is gone),
/// the third acknowledges once: one PUBACK [MQTT-4.3.2-4] (3.1.1:
/// [MQTT-4.3.2-2]); the same token again is `UnknownAckToken` and sends
/// nothing, whichever way the application came by it.
#[test]
fn a_token_acknowledged_once_is_unknown_afterwards_across_reconnects() {
    for v in BOTH {
        let opts = options(v).with_manual_ack(true).with_clean_start(false);
        let mut s = Scripted::new(opts);
        let m = inbound("a", b"", QoS::AtLeastOnce, 2);
        for token in 1..=3 {
            if token > 1 {
                s.client.handle_transport_closed(s.now);
                let _ = s.events();
            }
            s.connect_ok(false);
            s.server_sends(m.clone());
            assert_eq!(s.events(), vec![delivered(m.clone(), Some(token))]);
        }
        for old in [1, 2] {
            assert_eq!(s.client.acknowledge(s.now, AckToken(old)), Ok(()));
        }
        assert_eq!(s.sent(), vec![], "{v:?}: no PUBACK for a closed connection");
        assert_eq!(s.client.acknowledge(s.now, AckToken(3)), Ok(()));
        assert_eq!(s.sent(), vec![Packet::PubAck(PubAck::new(2))], "{v:?}");
        assert_eq!(
            s.client.acknowledge(s.now, AckToken(3)),
            Err(ClientError::UnknownAckToken),
            "{v:?}"
        );
        assert_eq!(s.sent(), vec![], "{v:?}: one PUBACK per PUBLISH");
    }
}

/// Without manual acknowledgement there are no tokens to acknowledge.
#[test]
fn without_manual_ack_messages_have_no_token_and_acknowledge_is_refused() {
    let mut s = connected(options(V5));
    let m = inbound("in", b"x", QoS::AtLeastOnce, 3);
    s.server_sends(m.clone());
    assert_eq!(s.events(), vec![delivered(m, None)]);
    assert_eq!(
        s.client.acknowledge(s.now, AckToken(1)),
        Err(ClientError::UnknownAckToken)
    );
}

// ----- stats -----------------------------------------------------------------

/// Counters: packets and bytes both ways, PUBLISH by QoS both ways, the
/// current inflight and queue sizes.
#[test]
fn stats_count_packets_bytes_messages_by_qos_inflight_and_queued() {
    for v in BOTH {
        let mut s = Scripted::new(options(v).with_max_inflight(1));
        assert_eq!(s.client.stats(), Default::default());
        s.connect();
        let connect_len = s.sent_bytes().len() as u64;
        let connack = s.encode(&ConnAck::new(false, ReasonCode::Success).into());
        s.server_sends_bytes(&connack);
        let _ = s.events();
        let st = s.client.stats();
        assert_eq!(
            (
                st.packets_sent,
                st.bytes_sent,
                st.packets_received,
                st.bytes_received,
                st.connections
            ),
            (1, connect_len, 1, connack.len() as u64, 1),
            "{v:?}"
        );

        let mut out = connect_len;
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            s.client.publish(s.now, message("t", b"p", qos)).unwrap();
        }
        // QoS 0 and the QoS 1 went; the QoS 2 waits for the window.
        out += s.sent_bytes().len() as u64;
        let st = s.client.stats();
        assert_eq!(st.packets_sent, 3);
        assert_eq!(st.bytes_sent, out);
        assert_eq!(st.messages_sent, [1, 1, 0]);
        assert_eq!((st.inflight, st.queued), (1, 1));

        let mut inb = connack.len() as u64;
        let mut feed = |s: &mut Scripted, p: Packet| {
            let bytes = s.encode(&p);
            inb += bytes.len() as u64;
            s.server_sends_bytes(&bytes);
        };
        feed(&mut s, PubAck::new(1).into());
        feed(&mut s, PubRec::new(2).into());
        feed(&mut s, PubComp::new(2).into());
        feed(&mut s, inbound("i", b"0", QoS::AtMostOnce, 0).into());
        feed(&mut s, inbound("i", b"1", QoS::AtLeastOnce, 1).into());
        feed(&mut s, inbound("i", b"2", QoS::ExactlyOnce, 2).into());
        feed(&mut s, inbound("i", b"2", QoS::ExactlyOnce, 2).into());
        // Out: PUBLISH 2, PUBREL 2, PUBACK 1, PUBREC 2, PUBREC 2.
        out += s.sent_bytes().len() as u64;
        let st = s.client.stats();
        assert_eq!(st.packets_sent, 8);
        assert_eq!(st.bytes_sent, out);
        assert_eq!(st.messages_sent, [1, 1, 1]);
        assert_eq!(st.packets_received, 8);
        assert_eq!(st.bytes_received, inb);
        assert_eq!(
            st.messages_received,
            [1, 1, 2],
            "duplicates are counted as received"
        );
        assert_eq!((st.inflight, st.queued, st.retransmits), (0, 0, 0));
        let _ = s.events();
    }
}

/// Input split at every byte gives the same packets and events as whole
/// packets (the client's decoder buffers across calls).
#[test]
fn acknowledgements_split_across_reads_complete_the_same_way() {
    for v in BOTH {
        let mut s = connected(options(v));
        s.client
            .publish(s.now, message("t", b"x", QoS::ExactlyOnce))
            .unwrap();
        let _ = s.sent();
        let mut bytes = s.encode(&PubRec::new(1).into()).to_vec();
        bytes.extend_from_slice(&s.encode(&PubComp::new(1).into()));
        bytes.extend_from_slice(&s.encode(&inbound("a/b", b"payload", QoS::AtLeastOnce, 3).into()));
        for b in bytes {
            s.server_sends_bytes(&[b]);
        }
        assert_eq!(
            s.sent(),
            vec![
                Packet::PubRel(PubRel::new(1)),
                Packet::PubAck(PubAck::new(3))
            ]
        );
        assert_eq!(
            s.events(),
            vec![
                completed(1, ReasonCode::Success),
                delivered(inbound("a/b", b"payload", QoS::AtLeastOnce, 3), None),
            ]
        );
    }
}

/// The payload reaches the application intact (shared, not copied, but
/// equal byte for byte), including an empty one.
#[test]
fn inbound_payloads_and_topics_arrive_intact() {
    let mut s = connected(options(V5));
    let big = Bytes::from(vec![0xA5u8; 70_000]);
    let p = Publish::new("big/one", big.clone())
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 1);
    s.server_sends(p);
    s.server_sends(inbound("empty", b"", QoS::AtMostOnce, 0));
    let events = s.events();
    match &events[..] {
        [Event::Message(a), Event::Message(b)] => {
            assert_eq!(a.publish.topic, "big/one");
            assert_eq!(a.publish.payload, big);
            assert_eq!(b.publish.topic, "empty");
            assert!(b.publish.payload.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

/// A 3.1.1 server cannot announce a Receive Maximum: the default window
/// is 20 publishes (mosquitto's default limit), 64 in 5.0.
#[test]
fn the_default_window_is_20_in_3_1_1_and_64_in_5_0() {
    for (v, window) in [(V3, 20usize), (V5, 64)] {
        let mut s = connected(options(v));
        for _ in 0..100 {
            let p = Publish::new("t", Bytes::from_static(b"x"))
                .unwrap()
                .with_qos(QoS::AtLeastOnce, 0);
            s.client.publish(s.now, p).unwrap();
        }
        assert_eq!(s.sent().len(), window, "{v:?}");
        assert_eq!(s.client.stats().inflight as usize, window);
        assert_eq!(s.client.stats().queued as usize, 100 - window);
    }
}
