//! Scripted-client tests of the connection side of the server role
//! (`mqtt_core::server::ServerConnection`): CONNECT first, the
//! application's decision and CONNACK, client identifiers, keep alive,
//! the will, DISCONNECT both ways, enhanced authentication, protocol
//! violations and limits; and a property: no input ever panics.
//!
//! The test plays the client with [`ScriptedClient`]. Normative statements
//! are cited as `[MQTT-x.y.z-n]` (5.0 numbering unless a comment says
//! 3.1.1).

use bytes::Bytes;
use mqtt_core::codec::{
    AckProperties, Auth, ConnAck, ConnAckProperties, Connect, Disconnect, DisconnectProperties,
    Error, Packet, PacketType, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe, Will,
};
use mqtt_core::server::{
    Accept, ClientViolation, CloseReason, ServerConnection, ServerError, ServerEvent,
    ServerOptions, ServerState,
};
use mqtt_tests::hex;
use mqtt_tests::server::{closed_with, connack, connected, disconnect_code, s, ScriptedClient};
use proptest::prelude::*;

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];

fn sc(version: ProtocolVersion) -> ScriptedClient {
    ScriptedClient::new(ServerOptions::new(), version)
}

fn with_will(version: ProtocolVersion) -> ScriptedClient {
    let mut c = sc(version);
    let connect = Connect::new(version, "w")
        .unwrap()
        .with_will(Will::new("last/will", &b"bye"[..], QoS::AtLeastOnce).unwrap());
    c.accept_connect(connect);
    c
}

fn has_will(events: &[ServerEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ServerEvent::WillPublish(w) if w.topic.as_str() == "last/will"))
}

// ----- CONNECT first -----------------------------------------------------------

#[test]
fn first_packet_other_than_connect_closes_without_a_reply() {
    // [MQTT-3.1.0-1] the first packet from the client MUST be CONNECT; the
    // server closes the network connection.
    for v in BOTH {
        let mut c = sc(v);
        c.client_sends(Packet::PingReq);
        assert!(c.sent_bytes().is_empty());
        let ev = c.events();
        assert_eq!(
            closed_with(&ev),
            &CloseReason::ProtocolViolation(ClientViolation::FirstPacketNotConnect(
                PacketType::PingReq
            ))
        );
        assert_eq!(c.conn.state(), ServerState::Closed);
        // Nothing more is handled.
        c.client_sends(Connect::new(v, "x").unwrap());
        assert!(c.events().is_empty());
    }
}

#[test]
fn second_connect_is_a_protocol_error() {
    // [MQTT-3.1.0-2]
    let mut c = connected(V5);
    c.client_sends(Connect::new(V5, "test").unwrap());
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
    let ev = c.events();
    assert_eq!(
        closed_with(&ev),
        &CloseReason::ProtocolViolation(ClientViolation::SecondConnect)
    );
    // 3.1.1 has no server DISCONNECT: the connection just closes.
    let mut c = connected(V3);
    c.client_sends(Connect::new(V3, "test").unwrap());
    assert!(c.sent_bytes().is_empty());
    assert_eq!(c.conn.state(), ServerState::Closed);
}

#[test]
fn unsupported_protocol_level_is_refused_with_return_code_1() {
    // [MQTT-3.1.2-2] (3.1.1: CONNACK return code 0x01, then close); 5.0
    // 0x84, sent in the form every client version reads.
    let mut c = sc(V5);
    c.client_sends_bytes(&hex("10 0D 0004 4D515454 06 02 003C 0001 63"));
    assert_eq!(c.sent_bytes(), hex("20 02 00 01"));
    let ev = c.events();
    assert!(matches!(
        closed_with(&ev),
        CloseReason::Rejected(ConnAck {
            reason_code: ReasonCode::UnsupportedProtocolVersion,
            ..
        })
    ));
}

#[test]
fn reserved_connect_flag_closes_the_connection() {
    // [MQTT-3.1.2-3] the reserved flag must be 0; malformed.
    let mut c = sc(V3);
    c.client_sends_bytes(&hex("10 0D 0004 4D515454 04 03 003C 0001 63"));
    assert!(c.sent_bytes().is_empty());
    let ev = c.events();
    assert!(matches!(
        closed_with(&ev),
        CloseReason::ProtocolViolation(ClientViolation::Decode(Error::ReservedConnectFlag))
    ));
}

#[test]
fn nothing_but_auth_is_handled_before_the_connection_is_accepted() {
    // [MQTT-3.1.4-6] (3.1.1: [MQTT-3.1.4-5]): CONNECT and a PUBLISH in one write; the PUBLISH waits
    // for the application's decision, and its PUBACK follows CONNACK.
    for v in BOTH {
        let mut c = sc(v);
        let mut bytes = c.encode(&Connect::new(v, "early").unwrap().into()).to_vec();
        let publish = Publish::new("t", &b"x"[..])
            .unwrap()
            .with_qos(QoS::AtLeastOnce, 3);
        bytes.extend_from_slice(&c.encode(&publish.into()));
        c.client_sends_bytes(&bytes);
        let ev = c.events();
        assert!(
            matches!(ev[..], [ServerEvent::ConnectRequested(_)]),
            "{ev:?}"
        );
        assert!(c.sent_bytes().is_empty());
        c.conn.accept(1, Accept::new()).unwrap();
        let sent = c.sent();
        assert!(matches!(sent[0], Packet::ConnAck(_)));
        assert!(matches!(&sent[1], Packet::PubAck(a) if a.packet_id == 3));
        assert!(matches!(c.events()[..], [ServerEvent::Message(_)]));
    }
}

// ----- CONNACK -------------------------------------------------------------------

#[test]
fn connack_announces_the_servers_limits() {
    let options = ServerOptions::new()
        .with_receive_maximum(10)
        .with_maximum_packet_size(1000)
        .with_topic_alias_maximum(5)
        .with_maximum_qos(QoS::AtLeastOnce)
        .with_retain_available(false)
        .with_wildcard_subscription_available(false)
        .with_subscription_identifiers_available(false)
        .with_shared_subscription_available(false)
        .with_server_keep_alive(Some(30));
    let mut c = ScriptedClient::new(options, V5);
    c.connect("limits");
    c.conn.accept(0, Accept::new()).unwrap();
    let ack = connack(c.sent_one());
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert!(!ack.session_present);
    let p = &ack.properties;
    assert_eq!(p.receive_maximum, Some(10));
    assert_eq!(p.maximum_packet_size, Some(1000));
    assert_eq!(p.topic_alias_maximum, Some(5));
    assert_eq!(p.maximum_qos, Some(QoS::AtLeastOnce));
    assert_eq!(p.retain_available, Some(false));
    assert_eq!(p.wildcard_subscription_available, Some(false));
    assert_eq!(p.subscription_identifiers_available, Some(false));
    assert_eq!(p.shared_subscription_available, Some(false));
    // [MQTT-3.2.2-21] the Server Keep Alive replaces the client's.
    assert_eq!(p.server_keep_alive, Some(30));
    assert_eq!(c.conn.keep_alive(), 30);
    assert_eq!(c.conn.poll_timeout(), Some(45_000));
}

#[test]
fn defaults_announce_nothing_and_3_1_1_connack_is_plain() {
    let mut c = sc(V5);
    c.connect("d");
    c.conn.accept(0, Accept::new()).unwrap();
    assert_eq!(
        connack(c.sent_one()).properties,
        ConnAckProperties::default()
    );
    let mut c = sc(V3);
    c.connect("d");
    c.conn.accept(0, Accept::new()).unwrap();
    assert_eq!(c.sent_bytes(), hex("20 02 00 00"));
}

#[test]
fn session_present_answers_clean_start_0_only() {
    // [MQTT-3.2.2-2] Session Present 0 when Clean Start is 1.
    let mut c = sc(V5);
    c.connect("p");
    assert!(matches!(
        c.conn.accept(0, Accept::new().with_session_present(true)),
        Err(ServerError::InvalidState(_))
    ));
    let mut c = sc(V5);
    c.connect_with(Connect::new(V5, "p").unwrap().with_clean_start(false));
    c.conn
        .accept(0, Accept::new().with_session_present(true))
        .unwrap();
    assert!(connack(c.sent_one()).session_present);
}

#[test]
fn empty_client_id_gets_the_assigned_client_identifier() {
    // [MQTT-3.1.3-6] [MQTT-3.2.2-16]
    let mut c = sc(V5);
    c.connect("");
    assert_eq!(
        c.conn.accept(0, Accept::new()),
        Err(ServerError::MissingClientId)
    );
    c.conn
        .accept(0, Accept::new().with_assigned_client_id(s("auto-7")))
        .unwrap();
    let ack = connack(c.sent_one());
    assert_eq!(ack.properties.assigned_client_identifier, Some(s("auto-7")));
    assert_eq!(c.conn.client_id().as_str(), "auto-7");
    // 3.1.1 has no property to say it; the server still uses one.
    let mut c = sc(V3);
    c.connect("");
    c.conn
        .accept(0, Accept::new().with_assigned_client_id(s("auto-8")))
        .unwrap();
    assert_eq!(c.sent_bytes(), hex("20 02 00 00"));
    assert_eq!(c.conn.client_id().as_str(), "auto-8");
}

#[test]
fn empty_client_id_is_refused_when_not_allowed() {
    // [MQTT-3.1.3-8] 0x85 Client Identifier not valid (3.1.1: return code
    // 0x02 Identifier rejected).
    let options = ServerOptions::new().with_assign_client_ids(false);
    let mut c = ScriptedClient::new(options.clone(), V5);
    c.client_sends(Connect::new(V5, "").unwrap());
    assert_eq!(
        connack(c.sent_one()).reason_code,
        ReasonCode::ClientIdentifierNotValid
    );
    assert!(matches!(closed_with(&c.events()), CloseReason::Rejected(_)));
    let mut c = ScriptedClient::new(options, V3);
    c.client_sends(Connect::new(V3, "").unwrap());
    assert_eq!(c.sent_bytes(), hex("20 02 00 02"));
    // 3.1.1 [MQTT-3.1.3-8]: an empty identifier with Clean Session 0 is
    // refused even when assignment is allowed.
    let mut c = sc(V3);
    c.client_sends(Connect::new(V3, "").unwrap().with_clean_start(false));
    assert_eq!(c.sent_bytes(), hex("20 02 00 02"));
}

#[test]
fn reject_sends_the_reason_code_and_never_the_will() {
    for v in BOTH {
        let mut c = sc(v);
        let connect = Connect::new(v, "r")
            .unwrap()
            .with_will(Will::new("last/will", &b"x"[..], QoS::AtMostOnce).unwrap());
        c.connect_with(connect);
        let mut props = ConnAckProperties::default();
        props.reason_string = Some(s("no"));
        c.conn.reject(1, ReasonCode::NotAuthorized, props).unwrap();
        if v == V5 {
            let ack = connack(c.sent_one());
            assert_eq!(ack.reason_code, ReasonCode::NotAuthorized);
            assert_eq!(ack.properties.reason_string, Some(s("no")));
        } else {
            assert_eq!(c.sent_bytes(), hex("20 02 00 05"));
        }
        let ev = c.events();
        assert!(!has_will(&ev));
        assert!(matches!(closed_with(&ev), CloseReason::Rejected(_)));
        assert_eq!(
            c.conn
                .reject(1, ReasonCode::NotAuthorized, ConnAckProperties::default()),
            Err(ServerError::InvalidState(
                "no CONNECT waiting for a decision"
            ))
        );
    }
    let mut c = sc(V5);
    c.connect("r");
    assert_eq!(
        c.conn
            .reject(0, ReasonCode::Success, ConnAckProperties::default()),
        Err(ServerError::InvalidReasonCode(ReasonCode::Success))
    );
}

#[test]
fn a_connect_not_accepted_in_time_is_closed() {
    let mut c = ScriptedClient::new(ServerOptions::new().with_connect_timeout(5_000), V5);
    c.conn.handle_timeout(0);
    assert_eq!(c.conn.poll_timeout(), Some(5_000));
    c.connect("slow");
    c.advance(4_999);
    assert_eq!(c.conn.state(), ServerState::Connecting);
    c.advance(1);
    assert_eq!(closed_with(&c.events()), &CloseReason::ConnectTimeout);
}

// ----- keep alive --------------------------------------------------------------------

#[test]
fn keep_alive_is_enforced_at_one_and_a_half_times() {
    // [MQTT-3.1.2-22] (3.1.1: [MQTT-3.1.2-24]) no packet within 1.5 x Keep Alive: the server closes
    // (5.0: DISCONNECT 0x8D) and the will is published.
    for v in BOTH {
        let mut c = sc(v);
        c.connect_with(
            Connect::new(v, "k")
                .unwrap()
                .with_keep_alive(10)
                .with_will(Will::new("last/will", &b"x"[..], QoS::AtMostOnce).unwrap()),
        );
        c.conn.accept(0, Accept::new()).unwrap();
        let _ = c.sent();
        assert_eq!(c.conn.poll_timeout(), Some(15_000));
        c.advance(9_000);
        c.client_sends(Packet::PingReq);
        assert_eq!(c.sent_one(), Packet::PingResp);
        assert!(matches!(c.events()[..], [ServerEvent::Ping]));
        assert_eq!(c.conn.poll_timeout(), Some(24_000));
        c.advance(14_999);
        assert_eq!(c.conn.state(), ServerState::Connected);
        c.advance(1);
        if v == V5 {
            assert_eq!(disconnect_code(c.sent_one()), ReasonCode::KeepAliveTimeout);
        } else {
            assert!(c.sent_bytes().is_empty());
        }
        let ev = c.events();
        assert!(has_will(&ev));
        assert_eq!(closed_with(&ev), &CloseReason::KeepAliveTimeout);
        assert_eq!(c.conn.poll_timeout(), None);
    }
}

#[test]
fn keep_alive_0_turns_the_check_off() {
    let mut c = sc(V5);
    c.connect_with(Connect::new(V5, "k").unwrap().with_keep_alive(0));
    c.conn.accept(0, Accept::new()).unwrap();
    assert_eq!(c.conn.poll_timeout(), None);
    c.advance(10_000_000);
    assert_eq!(c.conn.state(), ServerState::Connected);
}

// ----- the will and DISCONNECT -------------------------------------------------------------

#[test]
fn normal_disconnect_discards_the_will() {
    // [MQTT-3.1.2-10] [MQTT-3.14.4-3]
    for v in BOTH {
        let mut c = with_will(v);
        c.client_sends(Disconnect::new(ReasonCode::Success));
        let ev = c.events();
        assert!(!has_will(&ev));
        assert_eq!(
            closed_with(&ev),
            &CloseReason::ByClient(Disconnect::new(ReasonCode::Success))
        );
        assert!(c.sent_bytes().is_empty());
    }
}

#[test]
fn disconnect_with_will_message_publishes_it() {
    // 0x04 Disconnect with Will Message.
    let mut c = with_will(V5);
    c.client_sends(Disconnect::new(ReasonCode::DisconnectWithWillMessage));
    let ev = c.events();
    assert!(matches!(ev[0], ServerEvent::WillPublish(_)));
    assert!(has_will(&ev));
}

#[test]
fn abnormal_close_publishes_the_will() {
    // [MQTT-3.1.2-8] transport closed, protocol error.
    for v in BOTH {
        let mut c = with_will(v);
        c.conn.handle_transport_closed(5);
        let ev = c.events();
        assert!(has_will(&ev));
        assert_eq!(closed_with(&ev), &CloseReason::TransportClosed);
        let mut c = with_will(v);
        c.client_sends(Packet::PingResp);
        assert!(has_will(&c.events()));
    }
}

#[test]
fn session_expiry_set_in_disconnect_after_zero_is_a_protocol_error() {
    // [MQTT-3.14.2-2]
    let mut c = with_will(V5);
    let mut d = Disconnect::new(ReasonCode::Success);
    d.properties.session_expiry_interval = Some(60);
    c.client_sends(d);
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
    let ev = c.events();
    assert!(has_will(&ev));
    assert_eq!(
        closed_with(&ev),
        &CloseReason::ProtocolViolation(ClientViolation::SessionExpiryAfterZero)
    );
}

#[test]
fn server_disconnect_sends_the_reason_code_in_5_0_only() {
    let mut c = with_will(V5);
    let mut props = DisconnectProperties::default();
    props.reason_string = Some(s("shutting down"));
    c.conn
        .disconnect(1, ReasonCode::ServerShuttingDown, props)
        .unwrap();
    match c.sent_one() {
        Packet::Disconnect(d) => {
            assert_eq!(d.reason_code, ReasonCode::ServerShuttingDown);
            assert_eq!(d.properties.reason_string, Some(s("shutting down")));
        }
        other => panic!("{other:?}"),
    }
    let ev = c.events();
    assert!(has_will(&ev));
    assert_eq!(
        closed_with(&ev),
        &CloseReason::Local(ReasonCode::ServerShuttingDown)
    );
    let mut c = with_will(V3);
    c.conn
        .disconnect(
            1,
            ReasonCode::ServerShuttingDown,
            DisconnectProperties::default(),
        )
        .unwrap();
    assert!(c.sent_bytes().is_empty());
    assert_eq!(c.conn.state(), ServerState::Closed);
    assert_eq!(
        c.conn
            .disconnect(1, ReasonCode::Success, DisconnectProperties::default()),
        Err(ServerError::NotConnected)
    );
}

// ----- violations and limits -------------------------------------------------------------------

#[test]
fn packets_a_client_never_sends_are_protocol_errors() {
    for p in [
        Packet::PingResp,
        Packet::from(ConnAck::new(false, ReasonCode::Success)),
    ] {
        let mut c = connected(V5);
        c.client_sends(p.clone());
        assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
        assert!(matches!(
            closed_with(&c.events()),
            CloseReason::ProtocolViolation(ClientViolation::UnexpectedPacket(_))
        ));
    }
}

#[test]
fn a_packet_above_our_maximum_packet_size_is_0x95() {
    // Spec 5.0 section 3.2.2.3.6 (the client must not exceed it, [MQTT-3.2.2-15]): DISCONNECT 0x95 Packet too large.
    let mut c = ScriptedClient::new(ServerOptions::new().with_maximum_packet_size(64), V5);
    c.connect_ok();
    let publish = Publish::new("t", vec![0u8; 100]).unwrap();
    c.client_sends(publish);
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::PacketTooLarge);
    assert!(matches!(
        closed_with(&c.events()),
        CloseReason::ProtocolViolation(ClientViolation::Decode(Error::PacketTooLarge { .. }))
    ));
}

#[test]
fn malformed_input_is_0x81() {
    let mut c = connected(V5);
    // PUBLISH with a remaining length that overruns its topic length.
    c.client_sends_bytes(&hex("30 03 00 05 61"));
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::MalformedPacket);
}

#[test]
fn reason_strings_are_left_out_when_the_client_asks_for_no_problem_information() {
    // [MQTT-3.1.2-29]
    let mut c = sc(V5);
    let mut connect = Connect::new(V5, "q").unwrap();
    connect.properties.request_problem_information = Some(false);
    c.accept_connect(connect);
    c.client_sends(Subscribe::single(1, "a", QoS::AtMostOnce).unwrap());
    let _ = c.events();
    let mut props = AckProperties::default();
    props.reason_string = Some(s("why"));
    c.conn
        .suback_with_properties(0, 1, &[ReasonCode::Success], props)
        .unwrap();
    match c.sent_one() {
        Packet::SubAck(a) => assert_eq!(a.properties, AckProperties::default()),
        other => panic!("{other:?}"),
    }
}

// ----- enhanced authentication --------------------------------------------------------------------

fn auth_connect() -> Connect {
    let mut connect = Connect::new(V5, "a").unwrap();
    connect.properties.authentication_method = Some(s("SCRAM"));
    connect.properties.authentication_data = Some(Bytes::from_static(b"client-first"));
    connect
}

fn auth(code: ReasonCode, method: &str, data: &'static [u8]) -> Auth {
    let mut a = Auth::new(code);
    a.properties.authentication_method = Some(s(method));
    a.properties.authentication_data = Some(Bytes::from_static(data));
    a
}

#[test]
fn enhanced_authentication_during_connect() {
    // Spec 4.12: CONNECT with a method, AUTH 0x18 both ways, then CONNACK.
    let mut c = sc(V5);
    let connect = c.connect_with(auth_connect());
    assert_eq!(connect.properties.authentication_method, Some(s("SCRAM")));
    let mut challenge = Auth::new(ReasonCode::ContinueAuthentication);
    challenge.properties.authentication_data = Some(Bytes::from_static(b"server-first"));
    c.conn.auth(1, challenge).unwrap();
    match c.sent_one() {
        Packet::Auth(a) => {
            assert_eq!(a.reason_code, ReasonCode::ContinueAuthentication);
            // The method is filled in [MQTT-4.12.0-5]: same as CONNECT's.
            assert_eq!(a.properties.authentication_method, Some(s("SCRAM")));
        }
        other => panic!("{other:?}"),
    }
    c.client_sends(auth(
        ReasonCode::ContinueAuthentication,
        "SCRAM",
        b"client-final",
    ));
    match c.events().as_slice() {
        [ServerEvent::AuthReceived(a)] => {
            assert_eq!(
                a.properties.authentication_data.as_deref(),
                Some(&b"client-final"[..])
            )
        }
        other => panic!("{other:?}"),
    }
    // It is the application's turn: a second AUTH from the client now is
    // out of turn; but first, accept.
    let mut props = ConnAckProperties::default();
    props.authentication_data = Some(Bytes::from_static(b"server-final"));
    c.conn
        .accept(2, Accept::new().with_properties(props))
        .unwrap();
    let ack = connack(c.sent_one());
    assert_eq!(ack.properties.authentication_method, Some(s("SCRAM")));
    assert_eq!(c.conn.state(), ServerState::Connected);
}

#[test]
fn auth_out_of_turn_or_with_another_method_is_a_protocol_error() {
    // [MQTT-4.12.0-7] other method; AUTH before our challenge.
    let mut c = sc(V5);
    c.connect_with(auth_connect());
    c.conn
        .auth(1, Auth::new(ReasonCode::ContinueAuthentication))
        .unwrap();
    let _ = c.sent();
    c.client_sends(auth(ReasonCode::ContinueAuthentication, "OTHER", b""));
    assert_eq!(connack(c.sent_one()).reason_code, ReasonCode::ProtocolError);
    assert_eq!(
        closed_with(&c.events()),
        &CloseReason::ProtocolViolation(ClientViolation::Authentication)
    );
    // AUTH on a connection without enhanced authentication.
    let mut c = connected(V5);
    c.client_sends(auth(ReasonCode::ReAuthenticate, "SCRAM", b""));
    assert_eq!(disconnect_code(c.sent_one()), ReasonCode::ProtocolError);
    let mut c = connected(V5);
    assert!(matches!(
        c.conn
            .auth(0, Auth::new(ReasonCode::ContinueAuthentication)),
        Err(ServerError::InvalidState(_))
    ));
}

#[test]
fn re_authentication() {
    // Spec 4.12.1: AUTH 0x19 from the client, 0x18 exchanges, AUTH 0x00.
    let mut c = sc(V5);
    c.connect_with(auth_connect());
    c.conn.accept(0, Accept::new()).unwrap();
    let _ = c.sent();
    c.client_sends(auth(ReasonCode::ReAuthenticate, "SCRAM", b"again"));
    assert!(matches!(c.events()[..], [ServerEvent::AuthReceived(_)]));
    c.conn
        .auth(1, Auth::new(ReasonCode::ContinueAuthentication))
        .unwrap();
    assert!(matches!(c.sent_one(), Packet::Auth(_)));
    // Publishing goes on meanwhile.
    c.client_sends(Publish::new("t", &b"x"[..]).unwrap());
    assert!(matches!(c.events()[..], [ServerEvent::Message(_)]));
    c.client_sends(auth(ReasonCode::ContinueAuthentication, "SCRAM", b"more"));
    assert!(matches!(c.events()[..], [ServerEvent::AuthReceived(_)]));
    c.conn.auth(2, Auth::new(ReasonCode::Success)).unwrap();
    match c.sent_one() {
        Packet::Auth(a) => assert_eq!(a.reason_code, ReasonCode::Success),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.conn.state(), ServerState::Connected);
    // Another re-authentication may start.
    c.client_sends(auth(ReasonCode::ReAuthenticate, "SCRAM", b"third"));
    assert!(matches!(c.events()[..], [ServerEvent::AuthReceived(_)]));
}

// ----- no input ever panics ---------------------------------------------------------------------------

/// Drives a connection with `chunks` of input, answering every event
/// plausibly, and checks invariants: nothing after Disconnected, Closed
/// after it, and what the server sends is valid MQTT.
fn run_random(version: ProtocolVersion, prefix: bool, chunks: &[Vec<u8>], manual: bool) {
    let options = ServerOptions::new()
        .with_receive_maximum(3)
        .with_topic_alias_maximum(2)
        .with_maximum_packet_size(512)
        .with_manual_ack(manual);
    let mut c = ScriptedClient::new(options, version);
    if prefix {
        let mut connect = Connect::new(version, "fz").unwrap();
        if version == V5 {
            connect.properties.authentication_method = if chunks.len().is_multiple_of(2) {
                Some(s("M"))
            } else {
                None
            };
        }
        c.client_sends(connect);
    }
    let mut closed = false;
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let now = i as u64 * 700;
        c.now = now;
        c.conn.handle_input(now, chunk);
        c.conn.handle_timeout(now);
        while let Some(e) = c.conn.poll_event() {
            assert!(!closed, "event after Disconnected: {e:?}");
            match e {
                ServerEvent::ConnectRequested(_) => {
                    let _ = c
                        .conn
                        .accept(now, Accept::new().with_assigned_client_id(s("x")));
                }
                ServerEvent::AuthReceived(_) => {
                    let _ = c
                        .conn
                        .auth(now, Auth::new(ReasonCode::ContinueAuthentication));
                }
                ServerEvent::Message(p) => {
                    let _ = c.conn.acknowledge(now, p.packet_id, ReasonCode::Success);
                    let _ = c.conn.publish(now, p);
                }
                ServerEvent::Subscribe(sub) => {
                    let _ = c.conn.suback(
                        now,
                        sub.packet_id,
                        &vec![ReasonCode::GrantedQoS1; sub.filters.len()],
                    );
                }
                ServerEvent::Unsubscribe(u) => {
                    let _ = c.conn.unsuback(
                        now,
                        u.packet_id,
                        &vec![ReasonCode::Success; u.filters.len()],
                    );
                }
                ServerEvent::Disconnected(_) => closed = true,
                _ => {}
            }
        }
        if closed {
            assert_eq!(c.conn.state(), ServerState::Closed);
        }
        out.extend_from_slice(&c.conn.take_transmit());
    }
    // Whatever the server sent decodes (as the client would decode it).
    let mut d = mqtt_core::codec::Decoder::new(mqtt_core::codec::DecodeOptions::new(version));
    d.feed(&out);
    while let Some(_p) = d.next_packet().expect("the server sends valid packets") {}
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_input_never_panics(
        v5 in any::<bool>(),
        prefix in any::<bool>(),
        manual in any::<bool>(),
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..12),
    ) {
        run_random(if v5 { V5 } else { V3 }, prefix, &chunks, manual);
    }

    #[test]
    fn plausible_packets_in_random_order_never_panic(
        v5 in any::<bool>(),
        manual in any::<bool>(),
        picks in proptest::collection::vec(0usize..14, 0..24),
    ) {
        let version = if v5 { V5 } else { V3 };
        let c = ScriptedClient::new(ServerOptions::new(), version);
        let mut alias = Publish::new("a/b", &b"p"[..]).unwrap().with_qos(QoS::AtLeastOnce, 9);
        if v5 { alias.properties.topic_alias = Some(1); }
        let mut empty = Publish::new("a/b", &b"p"[..]).unwrap();
        if v5 { empty.topic = mqtt_core::codec::TopicName::EMPTY; empty.properties.topic_alias = Some(1); }
        let menu: Vec<Packet> = vec![
            Connect::new(version, "fz").unwrap().into(),
            Publish::new("t", &b"0"[..]).unwrap().into(),
            Publish::new("t", &b"1"[..]).unwrap().with_qos(QoS::AtLeastOnce, 1).into(),
            Publish::new("t", &b"2"[..]).unwrap().with_qos(QoS::ExactlyOnce, 2).into(),
            mqtt_core::codec::PubRel::new(2).into(),
            mqtt_core::codec::PubAck::new(1).into(),
            mqtt_core::codec::PubRec::new(1).into(),
            mqtt_core::codec::PubComp::new(1).into(),
            Subscribe::single(5, "a/#", QoS::ExactlyOnce).unwrap().into(),
            mqtt_core::codec::Unsubscribe::single(6, "a/#").unwrap().into(),
            Packet::PingReq,
            Disconnect::new(ReasonCode::Success).into(),
            alias.into(),
            empty.into(),
        ];
        let chunks: Vec<Vec<u8>> = picks.iter().map(|&i| c.encode(&menu[i]).to_vec()).collect();
        run_random(version, false, &chunks, manual);
    }
}

#[test]
fn a_fresh_connection_reports_nothing() {
    let mut conn = ServerConnection::new(ServerOptions::default());
    assert_eq!(conn.poll_event(), None);
    assert_eq!(conn.poll_timeout(), None);
    assert_eq!(conn.take_transmit().len(), 0);
    assert_eq!(conn.state(), ServerState::AwaitingConnect);
    assert_eq!(
        conn.publish(0, Publish::new("t", &b""[..]).unwrap()),
        Err(ServerError::NotConnected)
    );
}

#[test]
fn a_will_beyond_our_capabilities_is_refused() {
    // [MQTT-3.2.2-12] Will QoS above Maximum QoS: 0x9B; [MQTT-3.2.2-13]
    // Will Retain without retain available: 0x9A.
    let options = ServerOptions::new()
        .with_maximum_qos(QoS::AtMostOnce)
        .with_retain_available(false);
    for (will, code) in [
        (
            Will::new("w", &b""[..], QoS::AtLeastOnce).unwrap(),
            ReasonCode::QoSNotSupported,
        ),
        (
            Will::new("w", &b""[..], QoS::AtMostOnce)
                .unwrap()
                .with_retain(true),
            ReasonCode::RetainNotSupported,
        ),
    ] {
        let mut c = ScriptedClient::new(options.clone(), V5);
        c.client_sends(Connect::new(V5, "w").unwrap().with_will(will));
        assert_eq!(connack(c.sent_one()).reason_code, code);
        let ev = c.events();
        assert!(!ev.iter().any(|e| matches!(e, ServerEvent::WillPublish(_))));
        assert!(matches!(closed_with(&ev), CloseReason::Rejected(_)));
    }
}
