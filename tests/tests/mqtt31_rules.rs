//! MQTT 3.1 (IBM's "MQTT V3.1 Protocol Specification": protocol name
//! `MQIsdp`, level 3) in the server role and the client: the rules where
//! 3.1 differs from 3.1.1, each checked on the wire. 3.1 has no numbered
//! normative statements; tests cite the 3.1 section in words.
//!
//! | 3.1 rule | server role | client |
//! |---|---|---|
//! | CONNECT names `MQIsdp`, level 3 | `connect_mqisdp_level_3_is_accepted_as_3_1` | `the_client_sends_mqisdp_level_3` |
//! | a name and level that do not belong together: return code 1 | `mqisdp_with_another_level_is_refused_with_return_code_1` | |
//! | Client Identifier of 1 to 23 characters, else return code 2 | `empty_client_identifier_is_rejected_with_return_code_2`, `client_identifier_of_more_than_23_characters_is_rejected` | `the_client_refuses_an_identifier_outside_1_to_23_characters` |
//! | CONNACK byte 1 reserved: no Session Present | `connack_carries_no_session_present` | `a_resumed_3_1_session_resends_what_was_in_flight` |
//! | SUBACK carries granted QoS only, no 0x80 | `a_refused_filter_is_answered_with_the_requested_qos` | `suback_failure_code_is_malformed_in_3_1` |
//! | fixed-header flags of non-PUBLISH packets unused (DUP on resent PUBREL, SUBSCRIBE, UNSUBSCRIBE) | `dup_on_subscribe_and_pubrel_is_accepted_in_3_1_only` | |
//! | otherwise as 3.1.1 (QoS 1 and 2 flows, retained, will) | `qos_flows_between_a_3_1_client_and_the_server_role`, broker_engine::mqtt_3_1_3_1_1_and_5_0_clients_exchange_messages | same |

use mqtt_core::client::{ClientOptions, DisconnectReason, Event, ProtocolViolation};
use mqtt_core::codec::{
    Connect, Error, Packet, ProtocolVersion, PubAck, PubComp, PubRec, QoS, ReasonCode, SubAck,
    Subscribe,
};
use mqtt_core::server::{
    Accept, ClientViolation, CloseReason, ServerEvent, ServerOptions, ServerSession, ServerState,
};
use mqtt_tests::hex;
use mqtt_tests::scripted::Scripted;
use mqtt_tests::server::{closed_with, publish, ScriptedClient};

const V31: ProtocolVersion = ProtocolVersion::V31;
const V311: ProtocolVersion = ProtocolVersion::V311;

/// A 3.1 CONNECT (Clean Session 1, keep alive 60) for `client_id` as raw
/// bytes (identifier shorter than 100 bytes).
fn connect_bytes(client_id: &str) -> Vec<u8> {
    let mut body = hex("00 06 4D 51 49 73 64 70 03 02 00 3C");
    body.extend((client_id.len() as u16).to_be_bytes());
    body.extend(client_id.as_bytes());
    let mut bytes = vec![0x10, body.len() as u8];
    bytes.extend(body);
    bytes
}

// ----- server role ----------------------------------------------------------

#[test]
fn connect_mqisdp_level_3_is_accepted_as_3_1() {
    // 3.1 CONNECT variable header: protocol name "MQIsdp", version 3.
    let mut c = ScriptedClient::new(ServerOptions::new(), V31);
    c.client_sends_bytes(&connect_bytes("old-device"));
    match c.events().as_slice() {
        [ServerEvent::ConnectRequested(connect)] => {
            assert_eq!(connect.protocol_version, V31);
            assert_eq!(connect.client_id.as_str(), "old-device");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.conn.version(), V31);
    c.conn.accept(0, Accept::new()).unwrap();
    assert_eq!(c.sent_bytes(), hex("20 02 00 00"));
    assert_eq!(c.conn.state(), ServerState::Connected);
    // PINGREQ is answered as in 3.1.1.
    c.client_sends_bytes(&hex("C0 00"));
    assert_eq!(c.sent_bytes(), hex("D0 00"));
}

#[test]
fn mqisdp_with_another_level_is_refused_with_return_code_1() {
    // 3.1 CONNACK return code 1: unacceptable protocol version. The same
    // for "MQTT" with 3.1's level 3.
    let mut wrong_level = connect_bytes("c");
    wrong_level[10] = 4;
    let mut mqtt_3 = hex("10 0D 00 04 4D 51 54 54 03 02 00 3C 00 01 63");
    for bytes in [wrong_level, std::mem::take(&mut mqtt_3)] {
        let mut c = ScriptedClient::new(ServerOptions::new(), V31);
        c.client_sends_bytes(&bytes);
        assert_eq!(c.sent_bytes(), hex("20 02 00 01"));
        assert!(matches!(
            closed_with(&c.events()),
            CloseReason::Rejected(a) if a.reason_code == ReasonCode::UnsupportedProtocolVersion
        ));
    }
}

#[test]
fn empty_client_identifier_is_rejected_with_return_code_2() {
    // 3.1 CONNECT payload: the Client Identifier has 1 to 23 characters;
    // CONNACK return code 2 (identifier rejected) otherwise, then close.
    // Assigning identifiers is a 3.1.1 / 5.0 feature, not applied here.
    for assign in [false, true] {
        let mut options = ServerOptions::new();
        options.assign_client_ids = assign;
        let mut c = ScriptedClient::new(options, V31);
        c.client_sends_bytes(&connect_bytes(""));
        c.client_sends_bytes(&hex("C0 00")); // not handled
        assert_eq!(c.sent_bytes(), hex("20 02 00 02"));
        let events = c.events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(matches!(
            closed_with(&events),
            CloseReason::Rejected(a) if a.reason_code == ReasonCode::ClientIdentifierNotValid
        ));
        assert_eq!(c.conn.state(), ServerState::Closed);
    }
}

#[test]
fn client_identifier_of_more_than_23_characters_is_rejected() {
    // 3.1: more than 23 characters is answered with return code 2.
    let mut c = ScriptedClient::new(ServerOptions::new(), V31);
    c.client_sends_bytes(&connect_bytes("abcdefghijklmnopqrstuvwx")); // 24
    assert_eq!(c.sent_bytes(), hex("20 02 00 02"));
    assert_eq!(c.conn.state(), ServerState::Closed);
    // 23 characters are accepted, counted as characters, not bytes.
    for id in ["abcdefghijklmnopqrstuvw", "ééééééééééééééééééééééé"] {
        assert_eq!(id.chars().count(), 23);
        let mut c = ScriptedClient::new(ServerOptions::new(), V31);
        c.client_sends_bytes(&connect_bytes(id));
        assert!(matches!(
            c.events().as_slice(),
            [ServerEvent::ConnectRequested(_)]
        ));
        c.conn.accept(0, Accept::new()).unwrap();
        assert_eq!(c.sent_bytes(), hex("20 02 00 00"));
    }
    // 3.1.1 keeps its own rule: 24 characters are the server's choice
    // (accepted here).
    let mut c = ScriptedClient::new(ServerOptions::new(), V311);
    c.connect("abcdefghijklmnopqrstuvwx");
    c.conn.accept(0, Accept::new()).unwrap();
    assert_eq!(c.sent_bytes(), hex("20 02 00 00"));
}

#[test]
fn connack_carries_no_session_present() {
    // 3.1 CONNACK: the first byte is reserved, so a resumed session is not
    // announced (3.1.1 sends 0x01 there for the same decision).
    for (version, first) in [(V31, 0x00), (V311, 0x01)] {
        let mut c = ScriptedClient::new(ServerOptions::new(), version);
        c.connect_with(Connect::new(version, "s").unwrap().with_clean_start(false));
        c.conn
            .accept(0, Accept::new().with_session(ServerSession::new()))
            .unwrap();
        assert_eq!(c.sent_bytes(), vec![0x20, 0x02, first, 0x00]);
    }
}

#[test]
fn a_refused_filter_is_answered_with_the_requested_qos() {
    // 3.1 SUBACK has granted QoS only: a refusal is sent, as mosquitto
    // does, as the QoS requested (at most our Maximum QoS); 3.1.1 gets
    // 0x80.
    for (version, expected) in [
        (V31, "90 05 00 07 01 01 00"),
        (V311, "90 05 00 07 80 01 80"),
    ] {
        let mut options = ServerOptions::new();
        options.maximum_qos = QoS::AtLeastOnce;
        let mut c = ScriptedClient::new(options, version);
        c.connect_ok();
        // SUBSCRIBE id 7: "a" at QoS 2, "b" at QoS 2, "c" at QoS 0.
        c.client_sends_bytes(&hex("82 0E 00 07 00 01 61 02 00 01 62 02 00 01 63 00"));
        assert!(matches!(c.events().as_slice(), [ServerEvent::Subscribe(_)]));
        c.conn
            .suback(
                0,
                7,
                &[
                    ReasonCode::NotAuthorized,
                    ReasonCode::GrantedQoS1,
                    ReasonCode::QuotaExceeded,
                ],
            )
            .unwrap();
        assert_eq!(c.sent_bytes(), hex(expected), "{version:?}");
    }
}

#[test]
fn dup_on_subscribe_and_pubrel_is_accepted_in_3_1_only() {
    // 3.1 sets DUP on a SUBSCRIBE or PUBREL sent again and calls the flags
    // of other non-PUBLISH packets unused; 3.1.1 requires 0b0010
    // [MQTT-2.1.3-1].
    let subscribe_dup = hex("8A 06 00 05 00 01 74 01");
    let mut c = ScriptedClient::new(ServerOptions::new(), V31);
    c.connect_ok();
    c.client_sends_bytes(&subscribe_dup);
    match c.events().as_slice() {
        [ServerEvent::Subscribe(s)] => assert_eq!(s.packet_id, 5),
        other => panic!("{other:?}"),
    }
    // QoS 2 in: PUBLISH, PUBREC, then PUBREL with DUP, PUBCOMP.
    c.client_sends(publish("t", b"x", QoS::ExactlyOnce, 9));
    assert!(matches!(c.events().as_slice(), [ServerEvent::Message(_)]));
    assert_eq!(c.sent(), vec![Packet::from(PubRec::new(9))]);
    c.client_sends_bytes(&hex("6A 02 00 09"));
    assert_eq!(c.sent(), vec![Packet::from(PubComp::new(9))]);

    let mut c = ScriptedClient::new(ServerOptions::new(), V311);
    c.connect_ok();
    c.client_sends_bytes(&subscribe_dup);
    assert_eq!(
        closed_with(&c.events()),
        &CloseReason::ProtocolViolation(ClientViolation::Decode(Error::ReservedFlags {
            packet_type: mqtt_core::codec::PacketType::Subscribe,
            flags: 0x0A,
        }))
    );
}

#[test]
fn qos_flows_between_a_3_1_client_and_the_server_role() {
    // Otherwise 3.1 is 3.1.1: QoS 1 inbound with PUBACK, QoS 1 outbound
    // acknowledged, retained flag kept.
    let mut c = ScriptedClient::new(ServerOptions::new(), V31);
    c.connect_ok();
    let mut p = publish("a/b", b"hello", QoS::AtLeastOnce, 3);
    p.retain = true;
    c.client_sends(p.clone());
    match c.events().as_slice() {
        [ServerEvent::Message(m)] => {
            assert_eq!(m.topic.as_str(), "a/b");
            assert!(m.retain);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.sent(), vec![Packet::from(PubAck::new(3))]);
    c.conn
        .publish(0, publish("x", b"out", QoS::AtLeastOnce, 0))
        .unwrap();
    let sent = c.sent();
    let id = match sent.as_slice() {
        [Packet::Publish(p)] => {
            assert_eq!(p.qos, QoS::AtLeastOnce);
            p.packet_id
        }
        other => panic!("{other:?}"),
    };
    c.client_sends(PubAck::new(id));
    assert!(c.sent().is_empty());
}

// ----- client ---------------------------------------------------------------

#[test]
fn the_client_sends_mqisdp_level_3() {
    let mut s = Scripted::new(ClientOptions::new(V31, "c").unwrap().with_keep_alive(60));
    s.connect();
    assert_eq!(
        s.sent_bytes(),
        hex("10 0F 00 06 4D 51 49 73 64 70 03 02 00 3C 00 01 63")
    );
    s.server_sends_bytes(&hex("20 02 00 00"));
    match s.events().as_slice() {
        [Event::Connected(c)] => assert!(!c.session_present),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_client_refuses_an_identifier_outside_1_to_23_characters() {
    // 3.1: the Client Identifier has 1 to 23 characters; the client
    // refuses locally rather than be rejected.
    for id in ["", "abcdefghijklmnopqrstuvwx"] {
        let mut s = Scripted::new(ClientOptions::new(V31, id).unwrap());
        assert!(s.client.connect(0).is_err(), "{id:?}");
        assert!(s.sent_bytes().is_empty());
    }
    let mut s = Scripted::new(ClientOptions::new(V31, "abcdefghijklmnopqrstuvw").unwrap());
    assert!(s.client.connect(0).is_ok());
}

#[test]
fn a_resumed_3_1_session_resends_what_was_in_flight() {
    // No Session Present in 3.1: after Clean Session 0 the client keeps
    // an unacknowledged QoS 1 message and sends it again with DUP.
    let mut s = Scripted::new(
        ClientOptions::new(V31, "c")
            .unwrap()
            .with_clean_start(false),
    );
    s.connect_ok(false);
    s.client
        .publish(0, publish("t", b"m", QoS::AtLeastOnce, 0))
        .unwrap();
    let first = match s.sent_one() {
        Packet::Publish(p) => p,
        other => panic!("{other:?}"),
    };
    assert!(!first.dup);
    s.client.handle_transport_closed(s.now);
    let _ = s.events();
    s.connect();
    let _ = s.sent();
    s.server_sends_bytes(&hex("20 02 00 00"));
    match s.sent_one() {
        Packet::Publish(p) => {
            assert!(p.dup);
            assert_eq!(p.packet_id, first.packet_id);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn suback_failure_code_is_malformed_in_3_1() {
    // 3.1 SUBACK: granted QoS 0 to 2 only.
    let mut s = Scripted::with_version(V31);
    s.connect_ok(false);
    s.client
        .subscribe(0, Subscribe::single(0, "t", QoS::AtLeastOnce).unwrap())
        .unwrap();
    let id = match s.sent_one() {
        Packet::Subscribe(sub) => sub.packet_id,
        other => panic!("{other:?}"),
    };
    let mut bytes = hex("90 03");
    bytes.extend(id.to_be_bytes());
    bytes.push(0x80);
    s.server_sends_bytes(&bytes);
    let ended = s.events().into_iter().find_map(|e| match e {
        Event::Disconnected(r) => Some(r),
        _ => None,
    });
    assert_eq!(
        ended,
        Some(DisconnectReason::ProtocolViolation(
            ProtocolViolation::Decode(Error::InvalidReasonCode {
                packet: mqtt_core::codec::PacketType::SubAck,
                code: 0x80,
            })
        ))
    );
    // Granted QoS 1 is fine.
    let mut s = Scripted::with_version(V31);
    s.connect_ok(false);
    s.client
        .subscribe(0, Subscribe::single(0, "t", QoS::AtLeastOnce).unwrap())
        .unwrap();
    let id = match s.sent_one() {
        Packet::Subscribe(sub) => sub.packet_id,
        other => panic!("{other:?}"),
    };
    s.server_sends(SubAck::new(id, vec![SubAck::granted(QoS::AtLeastOnce)]));
    assert!(s
        .events()
        .iter()
        .any(|e| matches!(e, Event::Subscribed { .. })));
}

#[test]
fn connack_session_present_byte_is_ignored_by_the_3_1_client() {
    // 3.1 CONNACK byte 1 is reserved ("not used"): any value is accepted.
    let mut s = Scripted::with_version(V31);
    s.connect();
    let _ = s.sent();
    s.server_sends_bytes(&hex("20 02 01 00"));
    match s.events().as_slice() {
        [Event::Connected(c)] => assert!(!c.session_present),
        other => panic!("{other:?}"),
    }
}
