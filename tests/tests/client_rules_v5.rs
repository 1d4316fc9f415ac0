//! Client-side normative statements of MQTT 5.0 that had no test before the
//! conformance map (`tests/conformance/mqtt-5.0.map`): each test names the
//! statements it checks. The test plays the server with [`Scripted`] (exact
//! packets in and out, virtual time).

use bytes::Bytes;
use mqtt_core::client::{
    ClientError, ClientOptions, ConnectionState, DisconnectReason, Event, ProtocolViolation,
};
use mqtt_core::codec::{
    AuthProperties, ConnAck, ConnAckProperties, Disconnect, DisconnectProperties, Error,
    MqttString, Packet, PacketType, ProtocolVersion, PubRec, PubRel, Publish, QoS, ReasonCode,
    UserProperty,
};
use mqtt_tests::hex;
use mqtt_tests::scripted::Scripted;

const V5: ProtocolVersion = ProtocolVersion::V5;

fn opts() -> ClientOptions {
    ClientOptions::new(V5, "test").expect("valid options")
}

/// A 5.0 client connected with `connack`, CONNECT and events drained.
fn connected_with(options: ClientOptions, connack: ConnAck) -> Scripted {
    let mut sc = Scripted::new(options);
    sc.connect();
    assert!(matches!(sc.sent_one(), Packet::Connect(_)));
    sc.server_sends(connack);
    let events = sc.events();
    assert!(
        matches!(events[..], [Event::Connected(_)]),
        "events: {events:?}"
    );
    sc
}

fn connected() -> Scripted {
    connected_with(opts(), ConnAck::new(false, ReasonCode::Success))
}

/// A successful CONNACK announcing a Maximum Packet Size of `max`.
fn connack_with_maximum_packet_size(max: u32) -> ConnAck {
    let mut connack = ConnAck::new(false, ReasonCode::Success);
    connack.properties = ConnAckProperties::default();
    connack.properties.maximum_packet_size = Some(max);
    connack
}

/// The client closed on `error` in the bytes it received: DISCONNECT 0x81,
/// the violation reported, nothing more.
fn assert_closed_as_malformed(sc: &mut Scripted, error: Error) {
    let events = sc.events();
    assert_eq!(
        events.last(),
        Some(&Event::Disconnected(DisconnectReason::ProtocolViolation(
            ProtocolViolation::Decode(error)
        ))),
        "events: {events:?}"
    );
    assert_eq!(
        sc.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::MalformedPacket
        ))]
    );
    assert_eq!(sc.client.state(), ConnectionState::Disconnected);
}

// ----- fixed header ----------------------------------------------------------

#[test]
fn disconnect_with_reserved_flags_set_is_malformed() {
    // [MQTT-3.14.1-1] the reserved bits of DISCONNECT are checked: any of
    // them set is a Malformed Packet (0x81).
    for first in [0xE1u8, 0xE2, 0xE4, 0xE8] {
        let mut sc = connected();
        sc.server_sends_bytes(&[first, 0x00]);
        assert_closed_as_malformed(
            &mut sc,
            Error::ReservedFlags {
                packet_type: PacketType::Disconnect,
                flags: first & 0x0F,
            },
        );
    }
}

#[test]
fn auth_with_reserved_flags_set_is_malformed() {
    // [MQTT-3.15.1-1] the fixed-header flags of AUTH are all 0; anything
    // else is malformed and closes the connection.
    for first in [0xF1u8, 0xF2, 0xF4, 0xF8] {
        let mut sc = connected();
        sc.server_sends_bytes(&[first, 0x00]);
        assert_closed_as_malformed(
            &mut sc,
            Error::ReservedFlags {
                packet_type: PacketType::Auth,
                flags: first & 0x0F,
            },
        );
    }
}

// ----- strings -----------------------------------------------------------------

#[test]
fn a_user_property_that_is_not_utf8_is_malformed() {
    // [MQTT-1.5.7-1] both strings of a User Property are UTF-8 strings: a
    // PUBLISH whose property name or value is ill-formed UTF-8 closes the
    // connection with 0x81 and is not delivered.
    for property in [
        "26 00 02 C3 28 00 01 76", // name: C3 28 is not UTF-8
        "26 00 01 6B 00 02 C3 28", // value
        "26 00 01 6B 00 02 ED A0", // value: an encoded surrogate
    ] {
        let props = hex(property);
        let mut bytes = vec![0x30, (5 + 1 + props.len()) as u8];
        bytes.extend(hex("00 03 61 2F 62"));
        bytes.push(props.len() as u8);
        bytes.extend(&props);
        let mut sc = connected();
        sc.server_sends_bytes(&bytes);
        let events = sc.events();
        assert!(
            !events.iter().any(|e| matches!(e, Event::Message(_))),
            "{property}: {events:?}"
        );
        assert!(
            matches!(
                events.last(),
                Some(Event::Disconnected(DisconnectReason::ProtocolViolation(
                    ProtocolViolation::Decode(_)
                )))
            ),
            "{property}: {events:?}"
        );
        assert_eq!(
            sc.sent(),
            vec![Packet::Disconnect(Disconnect::new(
                ReasonCode::MalformedPacket
            ))],
            "{property}"
        );
    }
}

// ----- QoS 2 ordering ------------------------------------------------------------

#[test]
fn pubrels_leave_in_the_order_the_pubrecs_arrived() {
    // [MQTT-4.6.0-4] three QoS 2 messages out; their PUBRECs come back in
    // the order 3, 1, 2: the PUBRELs follow that order, not the order of
    // the PUBLISHes.
    let mut sc = connected();
    let mut ids = Vec::new();
    for payload in [&b"a"[..], b"b", b"c"] {
        let p = Publish::new("t", payload)
            .unwrap()
            .with_qos(QoS::ExactlyOnce, 0);
        sc.client.publish(sc.now, p).unwrap();
        match sc.sent_one() {
            Packet::Publish(p) => ids.push(p.packet_id),
            other => panic!("{other:?}"),
        }
    }
    let order = [ids[2], ids[0], ids[1]];
    for id in order {
        sc.server_sends(PubRec::new(id));
    }
    assert_eq!(
        sc.sent(),
        order
            .iter()
            .map(|&id| Packet::PubRel(PubRel::new(id)))
            .collect::<Vec<_>>()
    );
}

// ----- DISCONNECT ------------------------------------------------------------------

#[test]
fn disconnect_takes_disconnect_reason_codes_only() {
    // [MQTT-3.14.2-1] a reason code that DISCONNECT does not have (a
    // SUBACK code, an AUTH code) is refused before a byte is written, and
    // the connection stays up; a DISCONNECT code goes out as given.
    for code in [
        ReasonCode::GrantedQoS1,
        ReasonCode::ContinueAuthentication,
        ReasonCode::NoMatchingSubscribers,
        ReasonCode::BadAuthenticationMethod,
    ] {
        let mut sc = connected();
        assert!(
            matches!(
                sc.client.disconnect(sc.now, Disconnect::new(code)),
                Err(ClientError::Invalid(Error::InvalidReasonCode { .. }))
            ),
            "{code:?}"
        );
        assert_eq!(sc.sent(), vec![], "{code:?}");
        assert_eq!(sc.client.state(), ConnectionState::Connected, "{code:?}");
    }
    let mut sc = connected();
    sc.client
        .disconnect(
            sc.now,
            Disconnect::new(ReasonCode::DisconnectWithWillMessage),
        )
        .unwrap();
    assert_eq!(
        sc.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::DisconnectWithWillMessage
        ))]
    );
}

/// The DISCONNECT the client sent, decoded, and its size in bytes.
fn sent_disconnect(sc: &mut Scripted) -> (Disconnect, usize) {
    let bytes = sc.sent_bytes();
    let mut d = mqtt_core::codec::Decoder::new(mqtt_core::codec::DecodeOptions::new(V5));
    d.feed(&bytes);
    match d.next_packet().unwrap() {
        Some(Packet::Disconnect(x)) => (x, bytes.len()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn disconnect_sheds_reason_string_and_user_properties_beyond_the_servers_maximum() {
    // [MQTT-3.14.2-3] [MQTT-3.14.2-4] the server allows 32 bytes: the
    // DISCONNECT goes without the Reason String and User Property that
    // would take it beyond, or not as given (the reason code stays).
    let mut sc = connected_with(opts(), connack_with_maximum_packet_size(32));
    let mut props = DisconnectProperties::default();
    props.reason_string = Some(MqttString::try_from("r".repeat(40)).unwrap());
    props
        .user_properties
        .push(UserProperty::new("key", &"value".repeat(8)).unwrap());
    let mut disconnect = Disconnect::new(ReasonCode::Success);
    disconnect.properties = props;
    sc.client.disconnect(sc.now, disconnect).unwrap();
    let (sent, size) = sent_disconnect(&mut sc);
    assert!(size <= 32, "{size} bytes");
    assert_eq!(sent.reason_code, ReasonCode::Success);
    assert_eq!(sent.properties.reason_string, None);
    assert!(sent.properties.user_properties.is_empty());
}

#[test]
fn reauthentication_sheds_reason_string_and_user_properties_beyond_the_servers_maximum() {
    // [MQTT-3.15.2-2] [MQTT-3.15.2-3] the server allows 40 bytes: the
    // AUTH starting a re-authentication leaves out what would not fit.
    let options = opts().with_authentication("SCRAM", None).unwrap();
    let mut connack = connack_with_maximum_packet_size(40);
    connack.properties.authentication_method = Some(MqttString::try_from("SCRAM").unwrap());
    let mut sc = connected_with(options, connack);
    let mut props = AuthProperties::default();
    props.reason_string = Some(MqttString::try_from("r".repeat(40)).unwrap());
    props
        .user_properties
        .push(UserProperty::new("key", &"value".repeat(8)).unwrap());
    sc.client
        .authenticate(sc.now, Some(Bytes::from_static(b"d")), props)
        .unwrap();
    let bytes = sc.sent_bytes();
    assert!(bytes.len() <= 40, "{} bytes", bytes.len());
}

// ----- sessions ------------------------------------------------------------------------

#[test]
fn clean_start_1_discards_the_clients_session() {
    // [MQTT-3.1.2-4] a client holding session state (here imported: an
    // inbound QoS 2 message answered with PUBREC, id 9) that connects with
    // Clean Start 1 starts a new session: a PUBREL for id 9 is then
    // unknown (PUBCOMP 0x92), and a PUBLISH with id 9 is a new message.
    let mut a = connected();
    let m = Publish::new("in", &b"x"[..])
        .unwrap()
        .with_qos(QoS::ExactlyOnce, 9);
    a.server_sends(m.clone());
    assert_eq!(a.sent(), vec![Packet::PubRec(PubRec::new(9))]);
    let _ = a.events();
    let mut state = a.client.export_session();
    assert_eq!(state.inbound_qos2.len(), 1);
    state.connected_before = false; // a first CONNECT of this program
    let mut b = Scripted::new(opts().with_clean_start(true));
    b.client.import_session(0, state).unwrap();
    b.connect();
    match b.sent_one() {
        Packet::Connect(c) => assert!(c.clean_start),
        other => panic!("{other:?}"),
    }
    b.server_sends(ConnAck::new(false, ReasonCode::Success));
    let _ = b.events();
    b.server_sends(PubRel::new(9));
    assert_eq!(
        b.sent(),
        vec![Packet::PubComp(
            mqtt_core::codec::PubComp::new(9)
                .with_reason_code(ReasonCode::PacketIdentifierNotFound)
        )]
    );
    b.server_sends(m);
    assert!(
        matches!(&b.events()[..], [Event::Message(_)]),
        "delivered as a new message"
    );
}

#[test]
fn the_client_keeps_its_session_state_while_connected() {
    // [MQTT-4.1.0-1] a QoS 1 message waits for its PUBACK through ten
    // minutes of an open connection (PINGREQ answered on time) with a
    // Session Expiry Interval of 1 s: it is neither dropped nor resent,
    // and the late PUBACK completes it.
    let mut sc = connected_with(
        opts().with_session_expiry_interval(1).with_keep_alive(30),
        ConnAck::new(false, ReasonCode::Success),
    );
    let p = Publish::new("t", &b"p"[..])
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 0);
    sc.client.publish(sc.now, p).unwrap();
    let id = match sc.sent_one() {
        Packet::Publish(p) => p.packet_id,
        other => panic!("{other:?}"),
    };
    for _ in 0..20 {
        sc.advance(30_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        sc.server_sends(Packet::PingResp);
    }
    assert_eq!(sc.client.stats().inflight, 1);
    let _ = sc.events();
    sc.server_sends(mqtt_core::codec::PubAck::new(id));
    assert!(
        matches!(
            &sc.events()[..],
            [Event::PublishCompleted {
                reason_code: ReasonCode::Success,
                ..
            }]
        ),
        "completed"
    );
    assert_eq!(sc.client.stats().inflight, 0);
}

#[test]
fn the_client_finishes_a_qos2_exchange_after_the_message_expired() {
    // [MQTT-4.3.3-13] an inbound QoS 2 message with a Message Expiry
    // Interval of 1 s is answered with PUBREC; its PUBREL comes 10 s
    // later: still PUBCOMP 0x00, and the message was delivered once.
    let mut sc = connected();
    let mut m = Publish::new("e", &b"x"[..])
        .unwrap()
        .with_qos(QoS::ExactlyOnce, 5);
    m.properties.message_expiry_interval = Some(1);
    sc.server_sends(m);
    assert_eq!(sc.sent(), vec![Packet::PubRec(PubRec::new(5))]);
    assert!(matches!(&sc.events()[..], [Event::Message(_)]));
    sc.advance(10_000);
    sc.server_sends(PubRel::new(5));
    assert_eq!(
        sc.sent(),
        vec![Packet::PubComp(mqtt_core::codec::PubComp::new(5))]
    );
    assert!(sc.events().is_empty());
}

#[test]
fn a_qos2_message_the_client_already_sent_is_not_expired() {
    // [MQTT-4.3.3-7] a QoS 2 PUBLISH with a Message Expiry Interval of
    // 5 s went out unanswered; a minute later the session is resumed: the
    // message goes again (DUP 1, same identifier) instead of expiring.
    let mut sc = connected_with(
        opts()
            .with_clean_start(false)
            .with_session_expiry_interval(600),
        ConnAck::new(false, ReasonCode::Success),
    );
    let mut m = Publish::new("t", &b"p"[..])
        .unwrap()
        .with_qos(QoS::ExactlyOnce, 0);
    m.properties.message_expiry_interval = Some(5);
    sc.client.publish(sc.now, m).unwrap();
    let id = match sc.sent_one() {
        Packet::Publish(p) => p.packet_id,
        other => panic!("{other:?}"),
    };
    sc.client.handle_transport_closed(sc.now);
    let _ = sc.events();
    sc.now += 60_000;
    sc.connect();
    assert!(matches!(sc.sent_one(), Packet::Connect(_)));
    sc.server_sends(ConnAck::new(true, ReasonCode::Success));
    let sent = sc.sent();
    assert!(
        matches!(&sent[..], [Packet::Publish(p)] if p.dup && p.packet_id == id
            && p.payload.as_ref() == b"p"),
        "{sent:?}"
    );
    assert!(!sc
        .events()
        .iter()
        .any(|e| matches!(e, Event::PublishDropped { .. })));
}

#[test]
fn after_puback_the_same_identifier_is_a_new_message() {
    // [MQTT-4.3.2-5] once the client has answered a QoS 1 PUBLISH with
    // PUBACK, a PUBLISH with the same identifier is a new message, DUP or
    // not: delivered and acknowledged again.
    let mut sc = connected();
    for (payload, dup) in [(&b"one"[..], false), (b"two", true), (b"three", false)] {
        let mut m = Publish::new("q", payload)
            .unwrap()
            .with_qos(QoS::AtLeastOnce, 3);
        m.dup = dup;
        sc.server_sends(m);
        let events = sc.events();
        assert!(
            matches!(&events[..], [Event::Message(got)] if got.publish.payload.as_ref() == payload),
            "{events:?}"
        );
        assert_eq!(
            sc.sent(),
            vec![Packet::PubAck(mqtt_core::codec::PubAck::new(3))]
        );
    }
}
