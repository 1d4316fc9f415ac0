//! Scripted-peer tests of the server-side normative statements of MQTT 5.0
//! and 3.1.1 that concern one server connection
//! (`mqtt_core::server::ServerConnection`) and are not checked elsewhere:
//! the test plays the client, packets in, exact packets out. Identifiers
//! are 5.0 numbering unless marked "3.1.1".
//!
//! Which test checks which statement, for every statement of both
//! versions and both roles, is kept in the conformance maps,
//! `tests/conformance/mqtt-3.1.1.map` and `tests/conformance/mqtt-5.0.map`
//! (one line per statement: role, status, paraphrase, the tests), checked
//! by `tests/tests/conformance_map.rs`; `make conformance` prints the
//! coverage per role and version.
//!
//! Decisions where the specifications leave a choice, each tested here:
//! a PUBACK or PUBCOMP for nothing in flight is ignored: no statement makes
//! it an error, and ignoring it changes no state
//! (`unknown_acknowledgements_change_nothing`); one of the wrong kind for
//! a message in flight (PUBACK for QoS 2, PUBREC or PUBCOMP for QoS 1,
//! PUBCOMP before our PUBREL) is a Protocol Error
//! (`acknowledgements_of_the_wrong_kind_are_protocol_errors`); input held
//! before acceptance is bounded by `ServerOptions::max_input_before_accept`
//! (CONNACK 0x97 Quota exceeded); an inbound QoS 2 message reported to the
//! application outlives the connection in the session, acknowledged or not
//! (`inbound_qos2_reported_but_not_acknowledged_survives_a_reconnect`).

use bytes::Bytes;
use mqtt_core::codec::{
    Auth, ConnAckProperties, Connect, DisconnectProperties, Error, Packet, ProtocolVersion, PubAck,
    PubComp, PubRec, PubRel, Publish, QoS, ReasonCode, SubAck, Subscribe, SubscribeFilter,
    SubscriptionOptions, UnsubAck, Unsubscribe, UserProperty, Will,
};
use mqtt_core::server::{
    Accept, ClientViolation, CloseReason, ServerError, ServerEvent, ServerOptions, ServerSession,
    ServerState,
};
use mqtt_tests::hex;
use mqtt_tests::server::{
    closed_with, connack_code, connected, connected_with, disconnect_code, messages, publish, s,
    ScriptedClient,
};
use proptest::prelude::*;

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];

/// A QoS 0 PUBLISH with an empty topic, for a Topic Alias to stand for.
fn aliased_only(payload: &'static [u8]) -> Publish {
    let mut p = publish("x", payload, QoS::AtMostOnce, 0);
    p.topic = mqtt_core::codec::TopicName::EMPTY;
    p
}

fn dup(mut p: Publish) -> Publish {
    p.dup = true;
    p
}

fn sub(id: u16, filter: &str, qos: QoS) -> Subscribe {
    Subscribe::new(
        id,
        vec![SubscribeFilter::new(filter, SubscriptionOptions::new(qos)).unwrap()],
    )
}

/// A new connection of client "test" resuming `session`.
fn resumed(
    options: ServerOptions,
    version: ProtocolVersion,
    session: ServerSession,
) -> ScriptedClient {
    let mut c = ScriptedClient::new(options, version);
    c.connect_with(
        Connect::new(version, "test")
            .unwrap()
            .with_clean_start(false),
    );
    c.conn
        .accept(c.now, Accept::new().with_session(session))
        .unwrap();
    c
}

/// The CONNECT of 5.0 client "a" asking for enhanced authentication with
/// method "SCRAM".
fn scram_connect() -> Connect {
    let mut connect = Connect::new(V5, "a").unwrap();
    connect.properties.authentication_method = Some(s("SCRAM"));
    connect
}

/// A 5.0 connection that sent `connect` and was answered with AUTH 0x18
/// (drained): the authentication is under way.
fn challenged(connect: Connect) -> ScriptedClient {
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.connect_with(connect);
    c.conn
        .auth(0, Auth::new(ReasonCode::ContinueAuthentication))
        .unwrap();
    let _ = c.sent();
    c
}

// ----- CONNECT ------------------------------------------------------------------

#[test]
fn a_wrong_protocol_name_closes_without_a_reply() {
    // [MQTT-3.1.2-1] "MQTX": not this protocol; we close (the CONNACK
    // 0x84 is optional) and handle nothing more.
    for level in [4u8, 5] {
        let mut c = ScriptedClient::new(ServerOptions::new(), V5);
        let mut bytes = hex("10 0D 00 04 4D 51 54 58");
        bytes.push(level);
        bytes.extend(hex("02 00 3C 00 01 63"));
        if level == 5 {
            bytes[1] += 1;
            bytes.insert(12, 0); // property length
        }
        bytes.extend(hex("C0 00")); // PINGREQ, not answered
        c.client_sends_bytes(&bytes);
        assert!(c.sent_bytes().is_empty());
        assert_eq!(
            closed_with(&c.events()),
            &CloseReason::ProtocolViolation(ClientViolation::Decode(Error::InvalidProtocolName))
        );
        assert_eq!(c.conn.state(), ServerState::Closed);
    }
}

#[test]
fn will_flags_without_a_will_are_malformed() {
    // [MQTT-3.1.2-11] [MQTT-3.1.2-13] (3.1.1: [MQTT-3.1.2-11]
    // [MQTT-3.1.2-15]) Will QoS and Will Retain are 0 without the Will
    // Flag; [MQTT-3.1.2-12] (3.1.1 [MQTT-3.1.2-14]) Will QoS 3 never.
    // [MQTT-3.1.4-1] an invalid CONNECT closes the connection, unanswered.
    for flags in [0x0A_u8, 0x12, 0x22, 0x1E] {
        let mut c = ScriptedClient::new(ServerOptions::new(), V3);
        let mut bytes = hex("10 0D 00 04 4D 51 54 54 04");
        bytes.push(flags);
        bytes.extend(hex("00 3C 00 01 63"));
        if flags & 0x04 != 0 {
            // Will Topic "t" and Will Message "m".
            bytes.extend(hex("00 01 74 00 01 6D"));
            bytes[1] += 6;
        }
        c.client_sends_bytes(&bytes);
        assert!(c.sent_bytes().is_empty(), "flags {flags:#x}");
        assert!(
            matches!(
                closed_with(&c.events()),
                CloseReason::ProtocolViolation(ClientViolation::Decode(_))
            ),
            "flags {flags:#x}"
        );
    }
}

#[test]
fn password_without_user_name_is_malformed_in_3_1_1_only() {
    // 3.1.1 [MQTT-3.1.2-22]: the Password Flag needs the User Name Flag;
    // 5.0 allows a password alone ([MQTT-3.1.2-18] [MQTT-3.1.2-19]).
    let mut c = ScriptedClient::new(ServerOptions::new(), V3);
    c.client_sends_bytes(&hex(
        "10 11 00 04 4D 51 54 54 04 42 00 3C 00 01 63 00 02 70 77",
    ));
    assert!(c.sent_bytes().is_empty());
    assert_eq!(
        closed_with(&c.events()),
        &CloseReason::ProtocolViolation(ClientViolation::Decode(Error::PasswordWithoutUserName))
    );
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.client_sends_bytes(&hex(
        "10 12 00 04 4D 51 54 54 05 42 00 3C 00 00 01 63 00 02 70 77",
    ));
    match c.events().as_slice() {
        [ServerEvent::ConnectRequested(connect)] => {
            assert_eq!(connect.username, None);
            assert_eq!(connect.password.as_deref(), Some(&b"pw"[..]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_identifier_of_23_alphanumerics_is_allowed() {
    // [MQTT-3.1.3-5]
    let id = "0123456789abcdefghijXYZ";
    assert_eq!(id.len(), 23);
    for v in BOTH {
        let mut c = ScriptedClient::new(ServerOptions::new(), v);
        assert_eq!(c.connect(id).client_id.as_str(), id);
        c.conn.accept(0, Accept::new()).unwrap();
        assert_eq!(connack_code(c.sent_one()), ReasonCode::Success);
        assert_eq!(c.conn.client_id().as_str(), id);
    }
}

#[test]
fn nothing_after_a_rejected_connect_is_handled() {
    // [MQTT-3.1.4-6] (3.1.1 [MQTT-3.1.4-5]): CONNECT, PUBLISH, SUBSCRIBE
    // and PINGREQ in one write; the connection is refused: only the
    // CONNACK goes out, nothing else is reported.
    for v in BOTH {
        let mut c = ScriptedClient::new(ServerOptions::new(), v);
        let mut bytes = c.encode(&Connect::new(v, "r").unwrap().into()).to_vec();
        bytes.extend_from_slice(&c.encode(&publish("t", b"x", QoS::AtLeastOnce, 1).into()));
        bytes.extend_from_slice(&c.encode(&sub(2, "t", QoS::AtMostOnce).into()));
        bytes.extend(hex("C0 00"));
        c.client_sends_bytes(&bytes);
        assert!(matches!(
            c.events().as_slice(),
            [ServerEvent::ConnectRequested(_)]
        ));
        c.conn
            .reject(0, ReasonCode::NotAuthorized, ConnAckProperties::default())
            .unwrap();
        let sent = c.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        // 5.0 0x87; 3.1.1 return code 5, read back as the same.
        assert_eq!(connack_code(sent[0].clone()), ReasonCode::NotAuthorized);
        let ev = c.events();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!(matches!(closed_with(&ev), CloseReason::Rejected(_)));
        assert_eq!(c.conn.buffered_input(), 0, "held input freed");
    }
}

#[test]
fn input_held_before_acceptance_is_bounded() {
    // [MQTT-3.1.4-6] makes the server hold what follows CONNECT until its
    // decision; ServerOptions::max_input_before_accept bounds it: beyond,
    // CONNACK 0x97 Quota exceeded (5.0; nothing in 3.1.1) and close.
    for v in BOTH {
        let options = ServerOptions::new().with_max_input_before_accept(100);
        let mut c = ScriptedClient::new(options, v);
        c.connect("b");
        let p = c.encode(&Publish::new("t", vec![0u8; 40]).unwrap().into());
        assert!(p.len() > 40 && p.len() < 50);
        c.client_sends_bytes(&p);
        c.client_sends_bytes(&p);
        assert!(c.sent_bytes().is_empty());
        assert_eq!(c.conn.state(), ServerState::Connecting);
        assert!(c.conn.buffered_input() <= 100);
        c.client_sends_bytes(&p);
        if v == V5 {
            assert_eq!(connack_code(c.sent_one()), ReasonCode::QuotaExceeded);
        } else {
            assert!(c.sent_bytes().is_empty());
        }
        assert_eq!(
            closed_with(&c.events()),
            &CloseReason::ProtocolViolation(ClientViolation::InputBeforeAccept { limit: 100 })
        );
        assert_eq!(c.conn.buffered_input(), 0);
        assert_eq!(
            c.conn.accept(0, Accept::new()),
            Err(ServerError::InvalidState(
                "no CONNECT waiting for a decision"
            ))
        );
    }
    // Within the bound, what was held is handled once accepted.
    let options = ServerOptions::new().with_max_input_before_accept(100);
    let mut c = ScriptedClient::new(options, V5);
    c.connect("b");
    let p = c.encode(&Publish::new("t", vec![0u8; 40]).unwrap().into());
    c.client_sends_bytes(&p);
    c.client_sends_bytes(&p);
    c.conn.accept(0, Accept::new()).unwrap();
    assert_eq!(messages(&c.events()).len(), 2);
    // A CONNECT that is still incomplete beyond the bound: closed,
    // unanswered (nothing is sent before CONNECT).
    let options = ServerOptions::new().with_max_input_before_accept(100);
    let mut c = ScriptedClient::new(options, V5);
    let mut partial = hex("10 E8 07 00 04 4D 51 54 54 05 02 00 3C 00"); // 1000 bytes announced
    partial.resize(150, 0);
    c.client_sends_bytes(&partial);
    assert!(c.sent_bytes().is_empty());
    assert_eq!(
        closed_with(&c.events()),
        &CloseReason::ProtocolViolation(ClientViolation::InputBeforeAccept { limit: 100 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// [MQTT-3.1.4-6] and the bound on held input: whatever follows a
    /// CONNECT, in any chunking, the connection either holds at most
    /// `max_input_before_accept` bytes or has closed (with a CONNACK 0x97
    /// and nothing else), and never reports anything but the request.
    #[test]
    fn held_input_never_exceeds_the_bound(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..90), 0..12),
        limit in 0usize..300,
    ) {
        let options = ServerOptions::new().with_max_input_before_accept(limit);
        let mut c = ScriptedClient::new(options, V5);
        let connect = c.encode(&Connect::new(V5, "p").unwrap().into());
        c.client_sends_bytes(&connect);
        let mut events = c.events();
        for chunk in &chunks {
            c.client_sends_bytes(chunk);
            events.extend(c.events());
            if c.conn.state() == ServerState::Closed {
                break;
            }
            prop_assert!(c.conn.buffered_input() <= limit);
        }
        prop_assert!(matches!(events.first(), Some(ServerEvent::ConnectRequested(_))));
        if c.conn.state() == ServerState::Closed {
            prop_assert_eq!(
                closed_with(&events),
                &CloseReason::ProtocolViolation(ClientViolation::InputBeforeAccept { limit })
            );
            prop_assert_eq!(events.len(), 2);
            prop_assert_eq!(connack_code(c.sent_one()), ReasonCode::QuotaExceeded);
        } else {
            prop_assert_eq!(events.len(), 1);
            prop_assert!(c.sent_bytes().is_empty());
        }
    }
}

#[test]
fn one_connack_at_most() {
    // [MQTT-3.2.0-2]: once accepted (or refused), neither accept nor reject
    // sends a second CONNACK.
    for v in BOTH {
        let mut c = connected(v);
        assert!(matches!(
            c.conn.accept(0, Accept::new()),
            Err(ServerError::InvalidState(_))
        ));
        assert!(matches!(
            c.conn
                .reject(0, ReasonCode::NotAuthorized, ConnAckProperties::default()),
            Err(ServerError::InvalidState(_))
        ));
        assert!(c.sent_bytes().is_empty());
        let mut c = ScriptedClient::new(ServerOptions::new(), v);
        c.connect("x");
        c.conn
            .reject(
                0,
                ReasonCode::BadUserNameOrPassword,
                ConnAckProperties::default(),
            )
            .unwrap();
        assert_eq!(c.sent().len(), 1);
        assert!(c.conn.accept(0, Accept::new()).is_err());
        assert!(c.sent_bytes().is_empty());
    }
}

#[test]
fn reject_takes_connack_codes_only() {
    // [MQTT-3.2.2-8]: a success code or one CONNACK does not have is
    // refused, nothing is sent.
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.connect("x");
    for code in [
        ReasonCode::Success,
        ReasonCode::NoMatchingSubscribers,
        ReasonCode::SessionTakenOver,
    ] {
        assert_eq!(
            c.conn.reject(0, code, ConnAckProperties::default()),
            Err(ServerError::InvalidReasonCode(code))
        );
    }
    assert!(c.sent_bytes().is_empty());
    assert_eq!(c.conn.state(), ServerState::Connecting);
}

#[test]
fn session_present_follows_the_stored_session() {
    // [MQTT-3.2.2-3] (3.1.1 [MQTT-3.2.2-2] [MQTT-3.2.2-3]): Clean Start 0
    // with a stored session: Session Present 1; without: 0.
    // [MQTT-3.2.2-6] (3.1.1 [MQTT-3.2.2-4]) a refusal: Session Present 0.
    for v in BOTH {
        let c = resumed(ServerOptions::new(), v, ServerSession::new());
        let mut c = c;
        match c.sent_one() {
            Packet::ConnAck(a) => {
                assert!(a.session_present);
                assert_eq!(a.reason_code, ReasonCode::Success);
            }
            other => panic!("{other:?}"),
        }
        let mut c = ScriptedClient::new(ServerOptions::new(), v);
        c.connect_with(Connect::new(v, "test").unwrap().with_clean_start(false));
        c.conn.accept(0, Accept::new()).unwrap();
        match c.sent_one() {
            Packet::ConnAck(a) => assert!(!a.session_present),
            other => panic!("{other:?}"),
        }
        let mut c = ScriptedClient::new(ServerOptions::new(), v);
        c.connect_with(Connect::new(v, "test").unwrap().with_clean_start(false));
        c.conn
            .reject(0, ReasonCode::ServerBusy, ConnAckProperties::default())
            .unwrap();
        match c.sent_one() {
            Packet::ConnAck(a) => assert!(!a.session_present),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn response_information_only_when_requested() {
    // [MQTT-3.1.2-28]: Request Response Information absent or 0: the
    // application may not send Response Information; 1: it may.
    let mut props = ConnAckProperties::default();
    props.response_information = Some(s("reply/here"));
    for request in [None, Some(false)] {
        let mut c = ScriptedClient::new(ServerOptions::new(), V5);
        let mut connect = Connect::new(V5, "r").unwrap();
        connect.properties.request_response_information = request;
        c.connect_with(connect);
        assert!(matches!(
            c.conn
                .accept(0, Accept::new().with_properties(props.clone())),
            Err(ServerError::InvalidState(_))
        ));
        assert!(c.sent_bytes().is_empty());
        assert_eq!(c.conn.state(), ServerState::Connecting);
        c.conn.accept(0, Accept::new()).unwrap();
        match c.sent_one() {
            Packet::ConnAck(a) => assert_eq!(a.properties.response_information, None),
            other => panic!("{other:?}"),
        }
    }
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    let mut connect = Connect::new(V5, "r").unwrap();
    connect.properties.request_response_information = Some(true);
    c.connect_with(connect);
    c.conn
        .accept(0, Accept::new().with_properties(props))
        .unwrap();
    match c.sent_one() {
        Packet::ConnAck(a) => {
            assert_eq!(a.properties.response_information, Some(s("reply/here")))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn authentication_method_rules_in_connack_and_auth() {
    // [MQTT-4.12.0-6]: no method in CONNECT: no AUTH, and no
    // Authentication Method (or Data) in CONNACK.
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.connect("plain");
    let mut props = ConnAckProperties::default();
    props.authentication_method = Some(s("SCRAM"));
    assert!(matches!(
        c.conn.accept(0, Accept::new().with_properties(props)),
        Err(ServerError::InvalidState(_))
    ));
    let mut props = ConnAckProperties::default();
    props.authentication_data = Some(Bytes::from_static(b"x"));
    assert!(matches!(
        c.conn.accept(0, Accept::new().with_properties(props)),
        Err(ServerError::InvalidState(_))
    ));
    assert!(matches!(
        c.conn
            .auth(0, Auth::new(ReasonCode::ContinueAuthentication)),
        Err(ServerError::InvalidState(_))
    ));
    assert!(c.sent_bytes().is_empty());
    // [MQTT-4.12.0-5]: with a method, AUTH and the successful CONNACK
    // carry that method and no other.
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.connect_with(scram_connect());
    let mut other = Auth::new(ReasonCode::ContinueAuthentication);
    other.properties.authentication_method = Some(s("OTHER"));
    assert!(matches!(
        c.conn.auth(0, other),
        Err(ServerError::InvalidState(_))
    ));
    let mut props = ConnAckProperties::default();
    props.authentication_method = Some(s("OTHER"));
    assert!(matches!(
        c.conn.accept(0, Accept::new().with_properties(props)),
        Err(ServerError::InvalidState(_))
    ));
    assert!(c.sent_bytes().is_empty());
    let mut same = Auth::new(ReasonCode::ContinueAuthentication);
    same.properties.authentication_method = Some(s("SCRAM"));
    c.conn.auth(0, same).unwrap();
    match c.sent_one() {
        Packet::Auth(a) => assert_eq!(a.properties.authentication_method, Some(s("SCRAM"))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn auth_sheds_optional_properties_to_fit() {
    // [MQTT-3.15.2-2] [MQTT-3.15.2-3]: a Reason String or User Property
    // that would make AUTH exceed the client's Maximum Packet Size is left
    // out; the AUTH still goes.
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    let mut connect = scram_connect();
    connect.properties.maximum_packet_size = Some(40);
    c.connect_with(connect);
    let mut challenge = Auth::new(ReasonCode::ContinueAuthentication);
    challenge.properties.authentication_data = Some(Bytes::from_static(b"nonce"));
    challenge.properties.reason_string = Some(s(&"r".repeat(40)));
    c.conn.auth(0, challenge).unwrap();
    match c.sent_one() {
        Packet::Auth(a) => {
            assert_eq!(a.reason_code, ReasonCode::ContinueAuthentication);
            assert_eq!(a.properties.authentication_method, Some(s("SCRAM")));
            assert_eq!(
                a.properties.authentication_data.as_deref(),
                Some(&b"nonce"[..])
            );
            assert_eq!(a.properties.reason_string, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn auth_takes_its_codes_only() {
    // [MQTT-3.15.2-1]: the server sends 0x18 (and 0x00 to end a
    // re-authentication); 0x19 is the client's, others are not AUTH codes.
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.connect_with(scram_connect());
    for code in [
        ReasonCode::ReAuthenticate,
        ReasonCode::Success,
        ReasonCode::NotAuthorized,
    ] {
        assert_eq!(
            c.conn.auth(0, Auth::new(code)),
            Err(ServerError::InvalidReasonCode(code))
        );
    }
    assert!(c.sent_bytes().is_empty());
}

#[test]
fn disconnect_during_authentication_ends_it_quietly() {
    // [MQTT-3.1.2-30]: during the exchange the client may send AUTH or
    // DISCONNECT; a DISCONNECT ends the connection without a reply (and
    // there is no will to publish: it was never accepted).
    let mut c =
        challenged(scram_connect().with_will(Will::new("w", &b"x"[..], QoS::AtMostOnce).unwrap()));
    c.client_sends(mqtt_core::codec::Disconnect::new(ReasonCode::Success));
    assert!(c.sent_bytes().is_empty());
    let ev = c.events();
    assert_eq!(ev.len(), 1, "no will: {ev:?}");
    assert!(matches!(closed_with(&ev), CloseReason::ByClient(_)));
}

#[test]
fn no_disconnect_before_connack() {
    // [MQTT-3.14.0-1] (and [MQTT-3.2.0-1]): before a successful CONNACK
    // the server sends no DISCONNECT: disconnect() is refused while the
    // decision is pending, and a violation then is answered with CONNACK.
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.connect("x");
    assert!(matches!(
        c.conn.disconnect(
            0,
            ReasonCode::ServerShuttingDown,
            DisconnectProperties::default()
        ),
        Err(ServerError::InvalidState(_))
    ));
    assert!(c.sent_bytes().is_empty());
    let mut c = challenged(scram_connect());
    c.client_sends(publish("t", b"x", QoS::AtMostOnce, 0));
    assert_eq!(connack_code(c.sent_one()), ReasonCode::ProtocolError);
}

#[test]
fn maximum_qos_0_still_accepts_subscribe_at_qos_2() {
    // [MQTT-3.2.2-10]: a server without QoS 1 and 2 still takes SUBSCRIBE
    // at any requested QoS (the application grants what it supports).
    let options = ServerOptions::new().with_maximum_qos(QoS::AtMostOnce);
    let mut c = connected_with(options, V5);
    c.client_sends(sub(3, "a/#", QoS::ExactlyOnce));
    assert!(matches!(c.events().as_slice(), [ServerEvent::Subscribe(_)]));
    c.conn
        .suback(0, 3, &[SubAck::granted(QoS::AtMostOnce)])
        .unwrap();
    assert_eq!(
        c.sent_one(),
        Packet::from(SubAck::new(3, vec![SubAck::granted(QoS::AtMostOnce)]))
    );
    assert_eq!(c.conn.state(), ServerState::Connected);
}

#[test]
fn connack_and_disconnect_shed_optional_properties_to_fit() {
    // [MQTT-3.2.2-19] [MQTT-3.2.2-20] Reason String and User Properties
    // only if CONNACK stays within the client's Maximum Packet Size;
    // [MQTT-3.14.2-3] [MQTT-3.14.2-4] likewise for DISCONNECT;
    // [MQTT-3.1.2-24] nothing larger is sent.
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    let mut connect = Connect::new(V5, "m").unwrap();
    connect.properties.maximum_packet_size = Some(30);
    c.connect_with(connect);
    let mut props = ConnAckProperties::default();
    props.reason_string = Some(s(&"r".repeat(40)));
    props
        .user_properties
        .push(UserProperty::new("k", "v").unwrap());
    c.conn
        .accept(0, Accept::new().with_properties(props))
        .unwrap();
    let bytes = c.sent_bytes();
    assert!(bytes.len() <= 30, "{} bytes", bytes.len());
    let mut d = mqtt_core::codec::Decoder::new(mqtt_core::codec::DecodeOptions::new(V5));
    d.feed(&bytes);
    match d.next_packet().unwrap() {
        Some(Packet::ConnAck(a)) => {
            assert_eq!(a.reason_code, ReasonCode::Success);
            assert_eq!(a.properties.reason_string, None);
            assert!(a.properties.user_properties.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // [MQTT-3.9.2-1] [MQTT-3.9.2-2] and UNSUBACK [MQTT-3.11.2-1]
    // [MQTT-3.11.2-2] likewise.
    c.client_sends(sub(1, "f", QoS::AtMostOnce));
    c.client_sends(Unsubscribe::new(2, vec![s("f")]));
    let _ = c.events();
    let mut ap = mqtt_core::codec::AckProperties::default();
    ap.reason_string = Some(s(&"r".repeat(40)));
    c.conn
        .suback_with_properties(0, 1, &[SubAck::granted(QoS::AtMostOnce)], ap.clone())
        .unwrap();
    c.conn
        .unsuback_with_properties(0, 2, &[ReasonCode::Success], ap)
        .unwrap();
    assert_eq!(
        c.sent(),
        vec![
            Packet::from(SubAck::new(1, vec![SubAck::granted(QoS::AtMostOnce)])),
            Packet::from(UnsubAck::new(2, vec![ReasonCode::Success])),
        ]
    );
    let mut dp = DisconnectProperties::default();
    dp.reason_string = Some(s(&"r".repeat(40)));
    c.conn
        .disconnect(0, ReasonCode::ServerShuttingDown, dp)
        .unwrap();
    let bytes = c.sent_bytes();
    assert!(bytes.len() <= 30, "{} bytes", bytes.len());
    d.feed(&bytes);
    match d.next_packet().unwrap() {
        Some(Packet::Disconnect(x)) => {
            assert_eq!(x.reason_code, ReasonCode::ServerShuttingDown);
            assert_eq!(x.properties.reason_string, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_connack_that_cannot_fit_refuses_the_connection_at_once() {
    // [MQTT-3.1.2-24] a CONNACK that does not fit even without its Reason
    // String and User Properties is not sent: the connection is refused
    // at once with a bare CONNACK 0x95 when that fits, else closed
    // without one; both after shedding what [MQTT-3.2.2-19]
    // [MQTT-3.2.2-20] allow.
    for (max, expected) in [(4u32, &b""[..]), (6, &[0x20, 3, 0, 0x95, 0][..])] {
        let mut c = ScriptedClient::new(ServerOptions::new(), V5);
        let mut connect = Connect::new(V5, "m").unwrap();
        connect.properties.maximum_packet_size = Some(max);
        c.connect_with(connect);
        let mut props = ConnAckProperties::default();
        props.reason_string = Some(s("r"));
        props.server_reference = Some(s("another.example"));
        assert!(matches!(
            c.conn.accept(0, Accept::new().with_properties(props)),
            Err(ServerError::PacketTooLarge { .. })
        ));
        assert_eq!(c.sent_bytes(), expected, "max {max}");
        assert!(matches!(
            closed_with(&c.events()),
            CloseReason::Rejected(a) if a.reason_code == ReasonCode::PacketTooLarge
        ));
        assert_eq!(c.conn.state(), ServerState::Closed);
        assert_eq!(c.conn.poll_timeout(), None);
    }
}

#[test]
fn without_server_keep_alive_the_clients_keep_alive_holds() {
    // [MQTT-3.2.2-22]: no Server Keep Alive in CONNACK: the client's 10 s,
    // enforced at 15 s.
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.connect_with(Connect::new(V5, "k").unwrap().with_keep_alive(10));
    c.conn.accept(0, Accept::new()).unwrap();
    match c.sent_one() {
        Packet::ConnAck(a) => assert_eq!(a.properties.server_keep_alive, None),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.conn.keep_alive(), 10);
    assert_eq!(c.conn.poll_timeout(), Some(15_000));
    c.advance(14_999);
    assert_eq!(c.conn.state(), ServerState::Connected);
    c.advance(1);
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::KeepAliveTimeout);
}

// ----- PUBLISH from the client -------------------------------------------------------

#[test]
fn subscription_identifier_from_the_client_is_a_protocol_error() {
    // [MQTT-3.3.4-6]: a PUBLISH from the client carries no Subscription
    // Identifier; one is a protocol error (DISCONNECT 0x82), not delivered.
    let mut c = connected(V5);
    let mut p = publish("t", b"x", QoS::AtMostOnce, 0);
    p.properties.subscription_identifiers.push(7);
    c.client_sends(p);
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
    let ev = c.events();
    assert!(messages(&ev).is_empty());
    assert_eq!(
        closed_with(&ev),
        &CloseReason::ProtocolViolation(ClientViolation::SubscriptionIdentifierInPublish)
    );
}

#[test]
fn qos0_with_dup_is_malformed() {
    // [MQTT-3.3.1-2]: DUP 1 at QoS 0 (0x38): malformed, DISCONNECT 0x81.
    let mut c = connected(V5);
    c.client_sends_bytes(&hex("38 04 00 01 74 00"));
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::MalformedPacket);
    assert!(messages(&c.events()).is_empty());
}

#[test]
fn qos1_identifier_is_free_again_after_puback() {
    // [MQTT-4.3.2-5]: after PUBACK a PUBLISH with the same identifier is a
    // new message; [MQTT-2.2.1-5] the PUBACK carries the PUBLISH's id.
    for v in BOTH {
        let mut c = connected(v);
        c.client_sends(publish("t", b"1", QoS::AtLeastOnce, 9));
        assert_eq!(c.sent_one(), Packet::from(PubAck::new(9)));
        c.client_sends(publish("t", b"2", QoS::AtLeastOnce, 9));
        assert_eq!(c.sent_one(), Packet::from(PubAck::new(9)));
        let m = messages(&c.events());
        assert_eq!(m.len(), 2);
        assert_eq!(&m[1].payload[..], b"2");
    }
}

#[test]
fn every_topic_alias_up_to_our_maximum_is_accepted() {
    // [MQTT-3.3.2-12]: aliases 1..=3 with a Topic Alias Maximum of 3.
    let mut c = connected_with(ServerOptions::new().with_topic_alias_maximum(3), V5);
    for alias in 1..=3u16 {
        let mut p = publish(&format!("t/{alias}"), b"x", QoS::AtMostOnce, 0);
        p.properties.topic_alias = Some(alias);
        c.client_sends(p);
    }
    for alias in [3u16, 1, 2] {
        let mut p = aliased_only(b"y");
        p.properties.topic_alias = Some(alias);
        c.client_sends(p);
    }
    let topics: Vec<String> = messages(&c.events())
        .iter()
        .map(|m| m.topic.as_str().to_owned())
        .collect();
    assert_eq!(topics, ["t/1", "t/2", "t/3", "t/3", "t/1", "t/2"]);
    assert!(c.sent_bytes().is_empty());
}

#[test]
fn topic_aliases_do_not_outlive_the_connection() {
    // [MQTT-3.3.2-7]: inbound, an alias set on one connection is unknown
    // on the next (0x82); outbound, the first PUBLISH of a new connection
    // names its topic again.
    let options = ServerOptions::new().with_topic_alias_maximum(2);
    let mut c = connected_with(options.clone(), V5);
    let mut p = publish("a/b", b"x", QoS::AtMostOnce, 0);
    p.properties.topic_alias = Some(1);
    c.client_sends(p);
    assert_eq!(messages(&c.events()).len(), 1);
    c.conn.handle_transport_closed(1);
    let session = c.conn.take_session().unwrap();
    let mut c = resumed(options.clone(), V5, session);
    let _ = c.sent();
    let mut p = aliased_only(b"y");
    p.properties.topic_alias = Some(1);
    c.client_sends(p);
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
    // Outbound: the client allows 5 aliases on both connections.
    let connect = || {
        let mut connect = Connect::new(V5, "o").unwrap();
        connect.properties.topic_alias_maximum = Some(5);
        connect
    };
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.connect_with(connect());
    c.conn.accept(0, Accept::new()).unwrap();
    let _ = c.sent();
    for _ in 0..2 {
        c.conn
            .publish(0, publish("x/y", b"1", QoS::AtLeastOnce, 0))
            .unwrap();
    }
    let sent = c.sent();
    match &sent[1] {
        Packet::Publish(p) => {
            assert!(p.topic.is_empty(), "second uses the alias alone");
            assert!(p.properties.topic_alias.is_some());
        }
        other => panic!("{other:?}"),
    }
    c.conn.handle_transport_closed(1);
    let session = c.conn.take_session().unwrap();
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    c.connect_with(connect().with_clean_start(false));
    c.conn
        .accept(2, Accept::new().with_session(session))
        .unwrap();
    let sent = c.sent();
    assert_eq!(sent.len(), 3, "{sent:?}");
    match &sent[1] {
        Packet::Publish(p) => {
            assert!(p.dup);
            assert_eq!(p.topic.as_str(), "x/y", "the topic again");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn resumed_qos2_messages_do_not_count_against_the_new_receive_maximum() {
    // [MQTT-3.3.4-7] and spec 4.9: the client's send quota starts afresh
    // on each connection, so QoS 2 messages still awaiting PUBREL from an
    // earlier connection do not count against our Receive Maximum on
    // this one.
    let options = ServerOptions::new().with_receive_maximum(2);
    let mut c = connected_with(options.clone(), V5);
    c.client_sends(publish("t", b"1", QoS::ExactlyOnce, 1));
    c.client_sends(publish("t", b"2", QoS::ExactlyOnce, 2));
    assert_eq!(c.sent().len(), 2, "two PUBRECs");
    c.conn.handle_transport_closed(1);
    let session = c.conn.take_session().unwrap();
    assert_eq!(session.inbound_qos2, vec![1, 2]);
    let mut c = resumed(options, V5, session);
    let _ = c.sent();
    c.client_sends(publish("t", b"3", QoS::ExactlyOnce, 3));
    c.client_sends(publish("t", b"4", QoS::AtLeastOnce, 4));
    assert_eq!(
        c.sent(),
        vec![Packet::from(PubRec::new(3)), Packet::from(PubAck::new(4))]
    );
    assert_eq!(c.conn.state(), ServerState::Connected);
    // The old ones are still released normally, and a resend of one is
    // not delivered again.
    c.client_sends(dup(publish("t", b"1", QoS::ExactlyOnce, 1)));
    assert_eq!(c.sent_one(), Packet::from(PubRec::new(1)));
    c.client_sends(PubRel::new(1));
    c.client_sends(PubRel::new(2));
    assert_eq!(
        c.sent(),
        vec![Packet::from(PubComp::new(1)), Packet::from(PubComp::new(2))]
    );
    let m = messages(&c.events());
    assert_eq!(m.len(), 2, "3 and 4 only: {m:?}");
}

#[test]
fn a_3_1_1_refusal_is_a_positive_acknowledgement() {
    // 3.1.1 [MQTT-3.3.5-2]: an unauthorized PUBLISH gets the normal
    // acknowledgement (3.1.1 has no codes to say otherwise).
    let mut c = connected_with(ServerOptions::new().with_manual_ack(true), V3);
    c.client_sends(publish("t", b"1", QoS::ExactlyOnce, 3));
    let _ = c.events();
    c.conn.acknowledge(0, 3, ReasonCode::NotAuthorized).unwrap();
    assert_eq!(c.sent_one(), Packet::from(PubRec::new(3)));
}

#[test]
fn acknowledge_takes_codes_of_the_packet_only() {
    // [MQTT-3.4.2-1] [MQTT-3.5.2-1]: codes PUBACK / PUBREC do not have are
    // refused and nothing is sent; the message still waits.
    let mut c = connected_with(ServerOptions::new().with_manual_ack(true), V5);
    c.client_sends(publish("t", b"1", QoS::AtLeastOnce, 1));
    c.client_sends(publish("t", b"2", QoS::ExactlyOnce, 2));
    let _ = c.events();
    for (id, code) in [
        (1, ReasonCode::GrantedQoS1),
        (1, ReasonCode::ProtocolError),
        (2, ReasonCode::PacketIdentifierNotFound),
    ] {
        assert_eq!(
            c.conn.acknowledge(0, id, code),
            Err(ServerError::InvalidReasonCode(code))
        );
    }
    assert!(c.sent_bytes().is_empty());
    c.conn
        .acknowledge(0, 1, ReasonCode::NoMatchingSubscribers)
        .unwrap();
    c.conn
        .acknowledge(0, 2, ReasonCode::PayloadFormatInvalid)
        .unwrap();
    assert_eq!(
        c.sent(),
        vec![
            Packet::from(PubAck::new(1).with_reason_code(ReasonCode::NoMatchingSubscribers)),
            Packet::from(PubRec::new(2).with_reason_code(ReasonCode::PayloadFormatInvalid)),
        ]
    );
}

#[test]
fn inbound_qos2_reported_but_not_acknowledged_survives_a_reconnect() {
    // [MQTT-4.3.3-10] with manual acknowledgement: the connection ends
    // after the message was reported and before the application answered.
    // It stays in the session ([MQTT-3.1.2-23]); the client's resend on
    // the next connection ([MQTT-4.4.0-1]) is answered with PUBREC and
    // not delivered again.
    for v in BOTH {
        for ack_after_close in [false, true] {
            let options = ServerOptions::new().with_manual_ack(true);
            let mut c = connected_with(options.clone(), v);
            c.client_sends(publish("t", b"once", QoS::ExactlyOnce, 7));
            c.client_sends(publish("t", b"q1", QoS::AtLeastOnce, 8));
            assert_eq!(messages(&c.events()).len(), 2);
            c.conn.handle_transport_closed(1);
            let _ = c.events();
            if ack_after_close {
                // The application's answer may come after the end.
                c.conn.acknowledge(1, 7, ReasonCode::Success).unwrap();
                // QoS 1: the client resends it, it is delivered again.
                assert_eq!(
                    c.conn.acknowledge(1, 8, ReasonCode::Success),
                    Err(ServerError::NotConnected)
                );
            }
            assert!(c.sent_bytes().is_empty());
            let session = c.conn.take_session().unwrap();
            assert_eq!(session.inbound_qos2, vec![7]);
            let mut c = resumed(options, v, session);
            let _ = c.sent();
            c.client_sends(dup(publish("t", b"once", QoS::ExactlyOnce, 7)));
            assert_eq!(c.sent_one(), Packet::from(PubRec::new(7)));
            c.client_sends(dup(publish("t", b"q1", QoS::AtLeastOnce, 8)));
            let m = messages(&c.events());
            assert_eq!(m.len(), 1, "only the QoS 1 message again: {m:?}");
            assert_eq!(&m[0].payload[..], b"q1");
            c.conn.acknowledge(2, 8, ReasonCode::Success).unwrap();
            assert_eq!(c.sent_one(), Packet::from(PubAck::new(8)));
            c.client_sends(PubRel::new(7));
            assert_eq!(c.sent_one(), Packet::from(PubComp::new(7)));
        }
    }
}

#[test]
fn an_inbound_qos2_refused_after_the_end_is_forgotten() {
    // [MQTT-4.3.3-9]: refused with an error code (even after the
    // connection ended, or while held behind an earlier message), a resend
    // is a new message.
    let options = ServerOptions::new().with_manual_ack(true);
    let mut c = connected_with(options.clone(), V5);
    c.client_sends(publish("t", b"a", QoS::AtLeastOnce, 1));
    c.client_sends(publish("t", b"b", QoS::ExactlyOnce, 2));
    c.client_sends(publish("t", b"c", QoS::ExactlyOnce, 3));
    let _ = c.events();
    c.conn.acknowledge(0, 2, ReasonCode::NotAuthorized).unwrap();
    assert!(c.sent_bytes().is_empty(), "held behind message 1");
    c.conn.handle_transport_closed(1);
    let _ = c.events();
    c.conn.acknowledge(1, 3, ReasonCode::QuotaExceeded).unwrap();
    let session = c.conn.take_session().unwrap();
    assert!(session.inbound_qos2.is_empty(), "{session:?}");
    let mut c = resumed(options, V5, session);
    let _ = c.sent();
    c.client_sends(dup(publish("t", b"b", QoS::ExactlyOnce, 2)));
    assert_eq!(messages(&c.events()).len(), 1);
}

// ----- PUBLISH to the client ---------------------------------------------------------------

#[test]
fn new_outbound_packet_identifiers_are_unused_and_non_zero() {
    // [MQTT-2.2.1-4]: ids in use are never reused; a freed one may be.
    for v in BOTH {
        let mut c = connected(v);
        let mut ids = Vec::new();
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce] {
            ids.push(c.conn.publish(0, publish("t", b"x", qos, 0)).unwrap());
        }
        assert!(ids.iter().all(|&i| i != 0));
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 3, "{ids:?}");
        let sent: Vec<u16> = c
            .sent()
            .into_iter()
            .map(|p| match p {
                Packet::Publish(p) => p.packet_id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sent, ids);
        c.client_sends(PubAck::new(ids[0]));
        let next = c
            .conn
            .publish(0, publish("t", b"y", QoS::AtLeastOnce, 0))
            .unwrap();
        assert!(next != 0 && next != ids[1] && next != ids[2]);
    }
}

#[test]
fn outbound_dup_is_ours_alone() {
    // [MQTT-3.3.1-3] the DUP flag of what we send says whether we resend,
    // whatever the message came with; [MQTT-3.3.1-2] [MQTT-4.3.1-1] QoS 0
    // goes out once with DUP 0.
    for v in BOTH {
        let mut c = connected(v);
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            let mut p = Publish::new("t", &b"x"[..]).unwrap().with_qos(qos, 5);
            p.dup = qos != QoS::AtMostOnce;
            c.conn.publish(0, p).unwrap();
            match c.sent_one() {
                Packet::Publish(p) => assert!(!p.dup),
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn outbound_properties_pass_unaltered() {
    // [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17]
    // [MQTT-3.3.2-18] [MQTT-3.3.2-20]: what the broker forwards goes out
    // as given (user properties in order).
    let mut c = connected(V5);
    let mut p = publish("t", b"x", QoS::AtLeastOnce, 0);
    p.properties.payload_format_indicator = Some(true);
    p.properties.response_topic = Some(s("r/t"));
    p.properties.correlation_data = Some(Bytes::from_static(b"cd"));
    p.properties.content_type = Some(s("text/plain"));
    for (k, v) in [("b", "2"), ("a", "1"), ("b", "1")] {
        p.properties
            .user_properties
            .push(UserProperty::new(k, v).unwrap());
    }
    let id = c.conn.publish(0, p.clone()).unwrap();
    match c.sent_one() {
        Packet::Publish(got) => {
            let mut expected = p;
            expected.packet_id = id;
            assert_eq!(got, expected);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_full_window_delays_nothing_but_publish() {
    // [MQTT-3.3.4-10] [MQTT-4.9.0-3]: with the client's Receive Maximum
    // (1) used up, PINGRESP, SUBACK, UNSUBACK, PUBACK, PUBREC, PUBCOMP and
    // PUBREL still go out at once.
    let mut c = ScriptedClient::new(ServerOptions::new(), V5);
    let mut connect = Connect::new(V5, "w").unwrap();
    connect.properties.receive_maximum = Some(1);
    c.accept_connect(connect);
    let first = c
        .conn
        .publish(0, publish("t", b"1", QoS::ExactlyOnce, 0))
        .unwrap();
    c.conn
        .publish(0, publish("t", b"2", QoS::AtLeastOnce, 0))
        .unwrap();
    assert_eq!(c.sent().len(), 1);
    assert_eq!(c.conn.queued_len(), 1);
    c.client_sends_bytes(&hex("C0 00"));
    assert_eq!(c.sent_one(), Packet::PingResp);
    c.client_sends(sub(4, "s", QoS::AtLeastOnce));
    c.client_sends(Unsubscribe::new(5, vec![s("s")]));
    let _ = c.events();
    c.conn.suback(0, 4, &[ReasonCode::GrantedQoS1]).unwrap();
    c.conn.unsuback(0, 5, &[ReasonCode::Success]).unwrap();
    c.client_sends(publish("in", b"1", QoS::AtLeastOnce, 6));
    c.client_sends(publish("in", b"2", QoS::ExactlyOnce, 7));
    c.client_sends(PubRel::new(7));
    assert_eq!(
        c.sent(),
        vec![
            Packet::from(SubAck::new(4, vec![ReasonCode::GrantedQoS1])),
            Packet::from(UnsubAck::new(5, vec![ReasonCode::Success])),
            Packet::from(PubAck::new(6)),
            Packet::from(PubRec::new(7)),
            Packet::from(PubComp::new(7)),
        ]
    );
    // PUBREL for the message in flight is not held back either; the queued
    // PUBLISH waits until PUBCOMP frees the slot.
    c.client_sends(PubRec::new(first));
    assert_eq!(c.sent_one(), Packet::from(PubRel::new(first)));
    c.client_sends(PubComp::new(first));
    assert!(matches!(c.sent_one(), Packet::Publish(p) if &p.payload[..] == b"2"));
}

#[test]
fn pubrel_answers_pubrec_in_order() {
    // [MQTT-4.3.3-4]: PUBREL with the same id for a PUBREC below 0x80;
    // [MQTT-4.6.0-4] in the order the PUBRECs arrived.
    for v in BOTH {
        let mut c = connected(v);
        let a = c
            .conn
            .publish(0, publish("t", b"a", QoS::ExactlyOnce, 0))
            .unwrap();
        let b = c
            .conn
            .publish(0, publish("t", b"b", QoS::ExactlyOnce, 0))
            .unwrap();
        let _ = c.sent();
        c.client_sends(PubRec::new(b));
        c.client_sends(PubRec::new(a));
        assert_eq!(
            c.sent(),
            vec![Packet::from(PubRel::new(b)), Packet::from(PubRel::new(a))]
        );
    }
}

#[test]
fn unknown_acknowledgements_change_nothing() {
    // No statement makes these errors; we ignore them (no state changes,
    // no event): PUBACK or PUBCOMP for an id not in flight (e.g. repeated
    // after a resume). A PUBREC for nothing gets PUBREL (0x92 in 5.0, spec
    // 4.3.3 / 3.6.2.1) so the client can finish.
    for v in BOTH {
        let mut c = connected(v);
        let id = c
            .conn
            .publish(0, publish("t", b"a", QoS::ExactlyOnce, 0))
            .unwrap();
        let _ = c.sent();
        c.client_sends(PubAck::new(id + 10));
        c.client_sends(PubComp::new(id + 11));
        assert!(c.sent_bytes().is_empty());
        assert!(c.events().is_empty());
        assert_eq!(c.conn.inflight_len(), 1);
        assert_eq!(c.conn.state(), ServerState::Connected);
        c.client_sends(PubRec::new(id + 12));
        let code = if v == V5 {
            ReasonCode::PacketIdentifierNotFound
        } else {
            ReasonCode::Success
        };
        assert_eq!(
            c.sent_one(),
            Packet::from(PubRel::new(id + 12).with_reason_code(code))
        );
        // The real flow still completes; a repeated PUBREC gets PUBREL
        // again.
        c.client_sends(PubRec::new(id));
        assert_eq!(c.sent_one(), Packet::from(PubRel::new(id)));
        c.client_sends(PubRec::new(id));
        assert_eq!(c.sent_one(), Packet::from(PubRel::new(id)));
        c.client_sends(PubComp::new(id));
        assert!(matches!(
            c.events().as_slice(),
            [ServerEvent::PublishCompleted { packet_id, .. }] if *packet_id == id
        ));
        assert_eq!(c.conn.inflight_len(), 0);
    }
}

#[test]
fn acknowledgements_of_the_wrong_kind_are_protocol_errors() {
    // An acknowledgement that does not fit the message in flight under its
    // id (PUBACK for QoS 2, PUBREC or PUBCOMP for QoS 1, PUBCOMP before
    // our PUBREL) is a Protocol Error, as the client role and mosquitto
    // treat it: 5.0 DISCONNECT 0x82, 3.1.1 closed without a packet. Never
    // a PUBREL for a QoS 1 message, never silence.
    type Ack = fn(u16) -> Packet;
    let cases: [(QoS, Ack, mqtt_core::codec::PacketType); 4] = [
        (
            QoS::ExactlyOnce,
            |id| PubAck::new(id).into(),
            mqtt_core::codec::PacketType::PubAck,
        ),
        (
            QoS::AtLeastOnce,
            |id| PubRec::new(id).into(),
            mqtt_core::codec::PacketType::PubRec,
        ),
        (
            QoS::AtLeastOnce,
            |id| PubComp::new(id).into(),
            mqtt_core::codec::PacketType::PubComp,
        ),
        (
            QoS::ExactlyOnce,
            |id| PubComp::new(id).into(),
            mqtt_core::codec::PacketType::PubComp,
        ),
    ];
    for v in BOTH {
        for (qos, ack, packet) in cases {
            let mut c = connected(v);
            let id = c.conn.publish(0, publish("t", b"a", qos, 0)).unwrap();
            let _ = c.sent();
            c.client_sends(ack(id));
            let violation = ClientViolation::UnexpectedAcknowledgement {
                packet,
                packet_id: id,
            };
            if v == V5 {
                assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
            } else {
                assert!(c.sent_bytes().is_empty(), "{packet:?} at {qos:?}");
            }
            assert_eq!(
                closed_with(&c.events()),
                &CloseReason::ProtocolViolation(violation)
            );
            assert_eq!(c.conn.state(), ServerState::Closed);
        }
    }
}

// ----- SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT -------------------------------------------

#[test]
fn suback_and_unsuback_take_codes_of_their_packet_only() {
    // [MQTT-3.9.3-2] SUBACK codes only (3.1.1: 0, 1, 2 and 0x80);
    // [MQTT-3.11.3-2] UNSUBACK codes only; [MQTT-3.11.3-1] in the order
    // of the filters.
    for v in BOTH {
        let mut c = connected(v);
        c.client_sends(Subscribe::new(
            1,
            vec![
                SubscribeFilter::new("a", SubscriptionOptions::new(QoS::AtMostOnce)).unwrap(),
                SubscribeFilter::new("b", SubscriptionOptions::new(QoS::AtMostOnce)).unwrap(),
            ],
        ));
        c.client_sends(Unsubscribe::new(2, vec![s("a"), s("b")]));
        let _ = c.events();
        for bad in [
            ReasonCode::NoMatchingSubscribers,
            ReasonCode::NoSubscriptionExisted,
        ] {
            assert_eq!(
                c.conn
                    .suback(0, 1, &[SubAck::granted(QoS::AtMostOnce), bad]),
                Err(ServerError::InvalidReasonCode(bad))
            );
        }
        for bad in [ReasonCode::GrantedQoS1, ReasonCode::QuotaExceeded] {
            assert_eq!(
                c.conn.unsuback(0, 2, &[ReasonCode::Success, bad]),
                Err(ServerError::InvalidReasonCode(bad))
            );
        }
        assert!(c.sent_bytes().is_empty());
        c.conn
            .suback(
                0,
                1,
                &[ReasonCode::QuotaExceeded, SubAck::granted(QoS::AtMostOnce)],
            )
            .unwrap();
        c.conn
            .unsuback(
                0,
                2,
                &[ReasonCode::NoSubscriptionExisted, ReasonCode::Success],
            )
            .unwrap();
        let (first, unsub_codes) = if v == V5 {
            (
                ReasonCode::QuotaExceeded,
                vec![ReasonCode::NoSubscriptionExisted, ReasonCode::Success],
            )
        } else {
            (ReasonCode::UnspecifiedError, vec![])
        };
        assert_eq!(
            c.sent(),
            vec![
                Packet::from(SubAck::new(
                    1,
                    vec![first, SubAck::granted(QoS::AtMostOnce)]
                )),
                Packet::from(UnsubAck::new(2, unsub_codes)),
            ]
        );
    }
}

#[test]
fn pingreq_gets_pingresp() {
    // [MQTT-3.12.4-1], both versions, byte for byte.
    for v in BOTH {
        let mut c = connected(v);
        c.client_sends_bytes(&hex("C0 00"));
        assert_eq!(c.sent_bytes(), hex("D0 00"));
        assert_eq!(c.events(), vec![ServerEvent::Ping]);
    }
}

#[test]
fn disconnect_takes_disconnect_codes_only() {
    // [MQTT-3.14.2-1]
    let mut c = connected(V5);
    // 0x8C Bad authentication method is a CONNACK code: Table 2-6 names
    // DISCONNECT too, the DISCONNECT table (§3.14.2.1) does not.
    for code in [
        ReasonCode::GrantedQoS1,
        ReasonCode::ContinueAuthentication,
        ReasonCode::BadAuthenticationMethod,
    ] {
        assert_eq!(
            c.conn.disconnect(0, code, DisconnectProperties::default()),
            Err(ServerError::InvalidReasonCode(code))
        );
    }
    assert!(c.sent_bytes().is_empty());
    assert_eq!(c.conn.state(), ServerState::Connected);
}

#[test]
fn the_server_never_sends_session_expiry_in_disconnect() {
    // [MQTT-3.14.2-2]
    let mut c = connected(V5);
    let mut p = DisconnectProperties::default();
    p.session_expiry_interval = Some(10);
    assert!(matches!(
        c.conn.disconnect(0, ReasonCode::ServerShuttingDown, p),
        Err(ServerError::InvalidState(_))
    ));
    assert!(c.sent_bytes().is_empty());
    assert_eq!(c.conn.state(), ServerState::Connected);
}

#[test]
fn nothing_is_sent_or_handled_after_a_disconnect() {
    // [MQTT-3.14.4-1] [MQTT-3.14.4-2]: after our DISCONNECT nothing more
    // is sent; after the client's, what follows it is not handled.
    let mut c = connected(V5);
    c.conn
        .disconnect(
            0,
            ReasonCode::ServerShuttingDown,
            DisconnectProperties::default(),
        )
        .unwrap();
    assert_eq!(
        disconnect_code(c.sent_one()),
        ReasonCode::ServerShuttingDown
    );
    assert_eq!(
        c.conn.publish(0, publish("t", b"x", QoS::AtMostOnce, 0)),
        Err(ServerError::NotConnected)
    );
    c.client_sends_bytes(&hex("C0 00"));
    assert!(c.sent_bytes().is_empty());
    for v in BOTH {
        let mut c = connected(v);
        let mut bytes = c
            .encode(&mqtt_core::codec::Disconnect::new(ReasonCode::Success).into())
            .to_vec();
        bytes.extend_from_slice(&c.encode(&publish("t", b"x", QoS::AtLeastOnce, 1).into()));
        bytes.extend(hex("C0 00"));
        c.client_sends_bytes(&bytes);
        assert!(c.sent_bytes().is_empty());
        let ev = c.events();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!(matches!(closed_with(&ev), CloseReason::ByClient(_)));
    }
}

/// 3.1.1 [MQTT-1.5.3-1], [MQTT-1.5.3-2], [MQTT-2.2.2-2], [MQTT-3.3.1-2],
/// [MQTT-3.3.1-4], [MQTT-4.8.0-1]: a 3.1.1 client's malformed packet
/// (ill-formed UTF-8 or U+0000 in a topic, wrong reserved flags, QoS 3,
/// DUP at QoS 0) or a packet only a server sends closes the connection; a
/// 3.1.1 server has no DISCONNECT to send, so nothing goes out, and the
/// message is not delivered.
#[test]
fn v311_violations_close_without_a_packet() {
    let cases = [
        ("ill-formed UTF-8 in a topic", "30 05 0002 C328 78"),
        ("U+0000 in a topic", "30 05 0002 6100 78"),
        ("PUBREL with flags 0000", "60 02 0001"),
        ("PUBLISH with QoS 3", "36 06 0001 74 0001 78"),
        ("DUP at QoS 0", "38 04 0001 74 78"),
        ("PINGRESP from a client", "D0 00"),
    ];
    for (what, bytes) in cases {
        let mut c = connected(V3);
        c.client_sends_bytes(&hex(bytes));
        assert!(c.sent_bytes().is_empty(), "{what}: nothing sent in 3.1.1");
        let ev = c.events();
        assert!(messages(&ev).is_empty(), "{what}: {ev:?}");
        assert!(
            matches!(closed_with(&ev), CloseReason::ProtocolViolation(_)),
            "{what}: {ev:?}"
        );
    }
}

/// 3.1.1 [MQTT-3.2.0-1], [MQTT-3.2.2-1], [MQTT-3.1.2-6]: nothing goes out
/// before CONNACK; a Clean Session 1 connection cannot be accepted with
/// Session Present 1 (it starts a new session), and its CONNACK is
/// `20 02 00 00`.
#[test]
fn v311_connack_comes_first_and_a_clean_session_is_never_present() {
    let mut c = ScriptedClient::new(ServerOptions::new(), V3);
    let connect = c.connect("early");
    assert!(connect.clean_start);
    assert_eq!(
        c.conn.publish(0, publish("t", b"x", QoS::AtMostOnce, 0)),
        Err(ServerError::NotConnected)
    );
    assert!(c.sent_bytes().is_empty());
    assert!(matches!(
        c.conn.accept(0, Accept::new().with_session_present(true)),
        Err(ServerError::InvalidState(_))
    ));
    c.conn.accept(0, Accept::new()).unwrap();
    assert_eq!(c.sent_bytes(), hex("20 02 00 00"));
}

/// 3.1.1 [MQTT-3.2.2-6]: a refusal is sent with the 3.1.1 return code that
/// fits it (the server's own conditions as 0x03 Server unavailable, a ban
/// as 0x05 Not authorized); a refusal no return code fits (a fault of the
/// client's packet) closes the connection without a CONNACK.
#[test]
fn v311_refusal_without_a_fitting_return_code_closes_without_connack() {
    let fitting = [
        (ReasonCode::ServerBusy, 3u8),
        (ReasonCode::QuotaExceeded, 3),
        (ReasonCode::UnspecifiedError, 3),
        (ReasonCode::Banned, 5),
        (ReasonCode::BadUserNameOrPassword, 4),
    ];
    for (code, v311) in fitting {
        let mut c = ScriptedClient::new(ServerOptions::new(), V3);
        c.connect("r");
        c.conn
            .reject(0, code, ConnAckProperties::default())
            .unwrap();
        assert_eq!(c.sent_bytes(), vec![0x20, 0x02, 0x00, v311], "{code:?}");
    }
    for code in [
        ReasonCode::MalformedPacket,
        ReasonCode::ProtocolError,
        ReasonCode::PacketTooLarge,
        ReasonCode::TopicNameInvalid,
        ReasonCode::QoSNotSupported,
    ] {
        let mut c = ScriptedClient::new(ServerOptions::new(), V3);
        c.connect("r");
        c.conn
            .reject(0, code, ConnAckProperties::default())
            .unwrap();
        assert!(c.sent_bytes().is_empty(), "{code:?}: no CONNACK");
        let ev = c.events();
        assert!(
            matches!(closed_with(&ev), CloseReason::Rejected(_)),
            "{code:?}: {ev:?}"
        );
    }
}
