//! Scripted-peer tests of the connection side of the client
//! (`mqtt_core::client::Client`): CONNECT and CONNACK, keep alive and the
//! deadlines, enhanced authentication, DISCONNECT both ways, protocol
//! violations, maximum packet size, topic aliases and request/response.
//!
//! The test plays the server with [`Scripted`]: it feeds packets or raw
//! bytes in virtual time and checks the exact packets the client sent
//! (decoded strictly, as a server would) and the events it reported.
//! Normative statements are cited as `[MQTT-x.y.z-n]` (5.0 numbering unless
//! a comment says 3.1.1).

use bytes::Bytes;
use mqtt_core::client::{
    ClientError, ClientOptions, Connected, ConnectionState, DisconnectReason, DropReason, Event,
    ProtocolViolation, Redirect, EMPTY_CLIENT_ID_NEEDS_CLEAN_SESSION,
};
use mqtt_core::codec::{
    Auth, AuthProperties, ConnAck, Connect, ConnectProperties, Disconnect, Error, MqttString,
    Packet, PacketType, PropertyId, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe,
    SubscribeFilter, SubscriptionOptions, Unsubscribe, UserProperty, Will,
};
use mqtt_core::time::Instant;
use mqtt_tests::hex;
use mqtt_tests::scripted::Scripted;
use proptest::prelude::*;

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];

// ----- helpers ---------------------------------------------------------------

fn opts(version: ProtocolVersion) -> ClientOptions {
    ClientOptions::new(version, "test").expect("valid options")
}

fn s(text: &str) -> MqttString {
    MqttString::from_str(text).expect("valid string")
}

fn up(key: &str, value: &str) -> UserProperty {
    UserProperty::new(key, value).expect("valid user property")
}

/// Sets the virtual clock to `t` and lets timers fire.
fn at(sc: &mut Scripted, t: Instant) {
    sc.now = t;
    sc.client.handle_timeout(t);
}

/// The one packet sent, which must be CONNECT.
fn sent_connect(sc: &mut Scripted) -> Connect {
    match sc.sent_one() {
        Packet::Connect(c) => *c,
        other => panic!("expected CONNECT, got {other:?}"),
    }
}

/// The one packet sent, which must be DISCONNECT.
fn sent_disconnect(sc: &mut Scripted) -> Disconnect {
    match sc.sent_one() {
        Packet::Disconnect(d) => d,
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
}

/// The one packet sent, which must be PUBLISH.
fn sent_publish(sc: &mut Scripted) -> Publish {
    match sc.sent_one() {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// The one packet sent, which must be AUTH.
fn sent_auth(sc: &mut Scripted) -> Auth {
    match sc.sent_one() {
        Packet::Auth(a) => a,
        other => panic!("expected AUTH, got {other:?}"),
    }
}

/// The single event, which must be `Connected`.
fn connected_event(sc: &mut Scripted) -> Connected {
    match &sc.events()[..] {
        [Event::Connected(c)] => c.clone(),
        other => panic!("expected [Connected], got {other:?}"),
    }
}

/// The connection ended because of `violation`: a 5.0 client sent exactly
/// DISCONNECT with its reason code `code`, a 3.1.1 client sent nothing
/// (3.1.1 has no way to say why), and the last event says why.
fn assert_violation(sc: &mut Scripted, violation: ProtocolViolation, code: ReasonCode) {
    assert_eq!(
        violation.reason_code(),
        code,
        "reason code of {violation:?}"
    );
    let events = sc.events();
    assert_eq!(
        events.last(),
        Some(&Event::Disconnected(DisconnectReason::ProtocolViolation(
            violation
        ))),
        "events: {events:?}"
    );
    let sent = sc.sent();
    if sc.client.version().is_v5() {
        assert_eq!(sent, vec![Packet::Disconnect(Disconnect::new(code))]);
    } else {
        assert_eq!(
            sent,
            vec![],
            "a 3.1.1 client sends no DISCONNECT on an error"
        );
    }
    assert_eq!(sc.client.state(), ConnectionState::Disconnected);
    assert_eq!(sc.client.poll_timeout(), None);
}

/// A client for `version` with `options`, connected (CONNACK Success with
/// `connack`'s properties), CONNECT and events drained.
fn connected_with(options: ClientOptions, connack: ConnAck) -> Scripted {
    let mut sc = Scripted::new(options);
    sc.connect();
    let _ = sent_connect(&mut sc);
    sc.server_sends(connack);
    let _ = connected_event(&mut sc);
    sc
}

fn connack_ok() -> ConnAck {
    ConnAck::new(false, ReasonCode::Success)
}

/// The size in bytes of `packet` encoded for `version`.
fn size_of(version: ProtocolVersion, packet: impl Into<Packet>) -> usize {
    packet
        .into()
        .encoded_len(version)
        .expect("encodable packet")
}

/// A QoS 0 PUBLISH to `topic` whose encoded size is exactly `size` bytes
/// (for a remaining length below 128).
fn publish_of_size(version: ProtocolVersion, topic: &str, size: usize) -> Publish {
    let empty = size_of(version, Publish::new(topic, Bytes::new()).unwrap());
    let payload = vec![b'x'; size - empty];
    let p = Publish::new(topic, payload).unwrap();
    assert_eq!(size_of(version, p.clone()), size);
    p
}

// ----- CONNECT -----------------------------------------------------------------

#[test]
fn connect_is_the_first_packet_and_carries_the_defaults() {
    // [MQTT-3.1.0-1] the first packet from the client is CONNECT.
    for v in BOTH {
        let mut sc = Scripted::with_version(v);
        assert_eq!(sc.client.state(), ConnectionState::Disconnected);
        assert_eq!(sc.sent(), vec![], "nothing before connect");
        sc.connect();
        assert_eq!(sc.client.state(), ConnectionState::Connecting);
        let c = sent_connect(&mut sc);
        assert_eq!(c.protocol_version, v);
        assert_eq!(c.client_id, s("test"));
        assert!(c.clean_start);
        assert_eq!(c.keep_alive, 60);
        assert_eq!(c.will, None);
        assert_eq!(c.username, None);
        assert_eq!(c.password, None);
        // Every 5.0 option at its default is left out of the packet.
        assert!(c.properties.is_empty(), "{:?}", c.properties);
        assert_eq!(sc.events(), vec![]);
    }
}

#[test]
fn connect_carries_clean_start_keep_alive_and_credentials_from_the_options() {
    for v in BOTH {
        let options = opts(v)
            .with_clean_start(false)
            .with_keep_alive(17)
            .with_username("alice")
            .unwrap()
            .with_password(&b"s3cret"[..]);
        let mut sc = Scripted::new(options);
        sc.connect();
        let c = sent_connect(&mut sc);
        assert!(!c.clean_start);
        assert_eq!(c.keep_alive, 17);
        assert_eq!(c.username, Some(s("alice")));
        assert_eq!(c.password, Some(Bytes::from_static(b"s3cret")));
    }
}

#[test]
fn v311_password_without_user_name_is_refused_locally_and_nothing_is_sent() {
    // 3.1.1 [MQTT-3.1.2-22]: a password needs a user name.
    let mut sc = Scripted::new(opts(V3).with_password(&b"pw"[..]));
    assert_eq!(
        sc.client.connect(0),
        Err(ClientError::Invalid(Error::PasswordWithoutUserName))
    );
    assert_eq!(sc.client.state(), ConnectionState::Disconnected);
    assert_eq!(sc.sent(), vec![]);
    assert_eq!(sc.client.poll_timeout(), None);
}

#[test]
fn v5_password_without_user_name_is_sent() {
    // 5.0 lifted the 3.1.1 rule (spec 3.1.2.9).
    let mut sc = Scripted::new(opts(V5).with_password(&b"token"[..]));
    sc.connect();
    let c = sent_connect(&mut sc);
    assert_eq!(c.username, None);
    assert_eq!(c.password, Some(Bytes::from_static(b"token")));
}

fn full_will() -> Will {
    let mut will = Will::new("clients/test/status", &b"offline"[..], QoS::AtLeastOnce)
        .unwrap()
        .with_retain(true);
    let p = &mut will.properties;
    p.will_delay_interval = Some(30);
    p.payload_format_indicator = Some(true);
    p.message_expiry_interval = Some(3600);
    p.content_type = Some(s("text/plain"));
    p.response_topic = Some(s("clients/test/reply"));
    p.correlation_data = Some(Bytes::from_static(b"\x00\x01corr"));
    p.user_properties = vec![up("k", "v1"), up("k", "v2"), up("other", "")];
    will
}

#[test]
fn v5_connect_carries_the_will_with_every_will_property() {
    // [MQTT-3.1.2-9] the will properties, topic and payload are present.
    let mut sc = Scripted::new(opts(V5).with_will(full_will()));
    sc.connect();
    let c = sent_connect(&mut sc);
    assert_eq!(c.will, Some(full_will()));
}

#[test]
fn v311_connect_carries_a_will_without_properties() {
    let will = Will::new("w/t", &b"bye"[..], QoS::ExactlyOnce)
        .unwrap()
        .with_retain(true);
    let mut sc = Scripted::new(opts(V3).with_will(will.clone()));
    sc.connect();
    assert_eq!(sent_connect(&mut sc).will, Some(will));
}

#[test]
fn v311_will_with_properties_is_refused_locally() {
    let mut sc = Scripted::new(opts(V3).with_will(full_will()));
    assert_eq!(
        sc.client.connect(0),
        Err(ClientError::Invalid(Error::PropertiesInV311))
    );
    assert_eq!(sc.client.state(), ConnectionState::Disconnected);
    assert_eq!(sc.sent(), vec![]);
}

#[test]
fn v5_connect_carries_every_connect_property_from_the_options() {
    let mut options = opts(V5)
        .with_session_expiry_interval(3600)
        .with_receive_maximum(20)
        .with_maximum_packet_size(4096)
        .with_topic_alias_maximum(8)
        .with_request_response_information(true)
        .with_authentication("SCRAM-SHA-1", Some(Bytes::from_static(b"client-first")))
        .unwrap()
        .with_user_property("region", "eu")
        .unwrap()
        .with_user_property("region", "us")
        .unwrap();
    options.request_problem_information = Some(false);
    let mut sc = Scripted::new(options);
    sc.connect();
    let c = sent_connect(&mut sc);
    let mut expected = ConnectProperties::default();
    expected.session_expiry_interval = Some(3600);
    expected.receive_maximum = Some(20);
    expected.maximum_packet_size = Some(4096);
    expected.topic_alias_maximum = Some(8);
    expected.request_response_information = Some(true);
    expected.request_problem_information = Some(false);
    expected.authentication_method = Some(s("SCRAM-SHA-1"));
    expected.authentication_data = Some(Bytes::from_static(b"client-first"));
    // User Properties keep their order and duplicates.
    expected.user_properties = vec![up("region", "eu"), up("region", "us")];
    assert_eq!(c.properties, expected);
}

#[test]
fn v311_connect_is_a_plain_311_connect_even_with_v5_options_set() {
    let options = opts(V3)
        .with_session_expiry_interval(3600)
        .with_receive_maximum(20)
        .with_topic_alias_maximum(8)
        .with_user_property("a", "b")
        .unwrap();
    let mut sc = Scripted::new(options);
    sc.connect();
    let c = sent_connect(&mut sc);
    assert_eq!(c.protocol_version, V3);
    assert!(c.properties.is_empty());
}

#[test]
fn v5_reconnect_after_an_accepted_connection_sends_clean_start_0() {
    // ClientOptions::clean_start: the session is resumed on later
    // connections [MQTT-3.1.2-5] [MQTT-3.1.2-6].
    let mut sc = Scripted::new(opts(V5).with_session_expiry_interval(60));
    sc.connect_ok(false);
    sc.client.handle_transport_closed(10);
    let _ = sc.events();
    sc.connect();
    assert!(!sent_connect(&mut sc).clean_start);
    sc.server_sends(ConnAck::new(true, ReasonCode::Success));
    assert!(connected_event(&mut sc).session_present);
    // And again on the connection after.
    sc.client.handle_transport_closed(20);
    let _ = sc.events();
    sc.connect();
    assert!(!sent_connect(&mut sc).clean_start);
}

#[test]
fn v5_reconnect_after_a_refused_connection_keeps_clean_start_1() {
    let mut sc = Scripted::with_version(V5);
    sc.connect();
    assert!(sent_connect(&mut sc).clean_start);
    sc.server_sends(ConnAck::new(false, ReasonCode::ServerBusy));
    let _ = sc.events();
    sc.connect();
    assert!(
        sent_connect(&mut sc).clean_start,
        "no connection was accepted yet: there is no session to resume"
    );
}

#[test]
fn v311_reconnect_keeps_the_configured_clean_session_flag() {
    for clean in [true, false] {
        let mut sc = Scripted::new(opts(V3).with_clean_start(clean));
        for _ in 0..3 {
            sc.connect();
            assert_eq!(sent_connect(&mut sc).clean_start, clean);
            sc.server_sends(connack_ok());
            let _ = connected_event(&mut sc);
            sc.client.handle_transport_closed(sc.now);
            assert_eq!(
                sc.events(),
                vec![Event::Disconnected(DisconnectReason::TransportClosed)]
            );
        }
    }
}

#[test]
fn connect_while_connecting_or_connected_is_an_invalid_state() {
    for v in BOTH {
        let mut sc = Scripted::with_version(v);
        sc.connect();
        let _ = sc.sent();
        assert!(matches!(
            sc.client.connect(1),
            Err(ClientError::InvalidState(_))
        ));
        assert_eq!(sc.sent(), vec![], "no second CONNECT [MQTT-3.1.0-2]");
        assert_eq!(sc.client.state(), ConnectionState::Connecting);
        sc.server_sends(connack_ok());
        let _ = connected_event(&mut sc);
        assert!(matches!(
            sc.client.connect(2),
            Err(ClientError::InvalidState(_))
        ));
        assert_eq!(sc.sent(), vec![]);
        assert_eq!(sc.client.state(), ConnectionState::Connected);
        assert_eq!(sc.events(), vec![]);
    }
}

// ----- CONNACK -------------------------------------------------------------------

fn full_connack() -> ConnAck {
    let mut c = ConnAck::new(false, ReasonCode::Success);
    let p = &mut c.properties;
    p.session_expiry_interval = Some(7200);
    p.receive_maximum = Some(10);
    p.maximum_qos = Some(QoS::AtLeastOnce);
    p.retain_available = Some(false);
    p.maximum_packet_size = Some(2048);
    p.assigned_client_identifier = Some(s("assigned-7"));
    p.topic_alias_maximum = Some(4);
    p.reason_string = Some(s("welcome"));
    p.wildcard_subscription_available = Some(false);
    p.subscription_identifiers_available = Some(false);
    p.shared_subscription_available = Some(false);
    p.server_keep_alive = Some(25);
    p.response_information = Some(s("replies/assigned-7"));
    p.server_reference = Some(s("other.example:1883"));
    p.authentication_method = Some(s("SCRAM-SHA-1"));
    p.authentication_data = Some(Bytes::from_static(b"server-final"));
    p.user_properties = vec![up("node", "b1"), up("node", "b2")];
    c
}

#[test]
fn v5_every_connack_property_is_surfaced_in_connected() {
    let options = ClientOptions::new(V5, "")
        .unwrap()
        .with_request_response_information(true)
        .with_authentication("SCRAM-SHA-1", None)
        .unwrap();
    let mut sc = Scripted::new(options);
    sc.connect();
    let _ = sent_connect(&mut sc);
    sc.server_sends(full_connack());
    assert_eq!(
        sc.events(),
        vec![Event::Connected(Connected {
            session_present: false,
            connack: full_connack(),
            client_id: s("assigned-7"),
            keep_alive: 25,
        })]
    );
    assert_eq!(sc.client.state(), ConnectionState::Connected);
    assert_eq!(sc.client.client_id(), &s("assigned-7"));
    assert_eq!(sc.client.keep_alive(), 25);
    assert_eq!(sc.client.stats().connections, 1);
    assert_eq!(sc.sent(), vec![], "nothing to send after CONNACK");
}

#[test]
fn v5_assigned_client_identifier_is_used_on_the_next_connect() {
    // [MQTT-3.2.2-16] the server assigns an identifier for an empty one.
    let mut sc = Scripted::new(ClientOptions::new(V5, "").unwrap());
    sc.connect();
    assert_eq!(sent_connect(&mut sc).client_id, s(""));
    let mut connack = connack_ok();
    connack.properties.assigned_client_identifier = Some(s("auto-1234"));
    sc.server_sends(connack);
    assert_eq!(connected_event(&mut sc).client_id, s("auto-1234"));
    assert_eq!(sc.client.client_id(), &s("auto-1234"));
    sc.client.handle_transport_closed(5);
    let _ = sc.events();
    sc.connect();
    let c = sent_connect(&mut sc);
    assert_eq!(c.client_id, s("auto-1234"));
    assert!(!c.clean_start);
    // A CONNACK without one keeps it.
    sc.server_sends(ConnAck::new(true, ReasonCode::Success));
    assert_eq!(connected_event(&mut sc).client_id, s("auto-1234"));
}

#[test]
fn v5_server_keep_alive_overrides_ours_for_pingreq_and_pingresp_timing() {
    // [MQTT-3.2.2-21] the client uses the Server Keep Alive.
    let mut sc = Scripted::new(opts(V5).with_keep_alive(60));
    sc.connect();
    assert_eq!(sent_connect(&mut sc).keep_alive, 60);
    let mut connack = connack_ok();
    connack.properties.server_keep_alive = Some(5);
    sc.server_sends(connack);
    assert_eq!(connected_event(&mut sc).keep_alive, 5);
    assert_eq!(sc.client.poll_timeout(), Some(5_000));
    at(&mut sc, 4_999);
    assert_eq!(sc.sent(), vec![]);
    at(&mut sc, 5_000);
    assert_eq!(sc.sent(), vec![Packet::PingReq]);
    // The PINGRESP wait (ping_timeout 0) is one keep alive in force.
    assert_eq!(sc.client.poll_timeout(), Some(10_000));
    // The next connection starts from our value again.
    sc.now = 6_000;
    sc.client.handle_transport_closed(6_000);
    let _ = sc.events();
    sc.connect();
    assert_eq!(sent_connect(&mut sc).keep_alive, 60);
    sc.server_sends(ConnAck::new(true, ReasonCode::Success));
    assert_eq!(connected_event(&mut sc).keep_alive, 60);
    assert_eq!(sc.client.poll_timeout(), Some(6_000 + 60_000));
}

#[test]
fn v5_server_keep_alive_0_turns_keep_alive_off() {
    let mut connack = connack_ok();
    connack.properties.server_keep_alive = Some(0);
    let mut sc = connected_with(opts(V5).with_keep_alive(10), connack);
    assert_eq!(sc.client.keep_alive(), 0);
    assert_eq!(sc.client.poll_timeout(), None);
    at(&mut sc, 1_000_000);
    assert_eq!(sc.sent(), vec![]);
    assert_eq!(sc.events(), vec![]);
}

#[test]
fn session_present_answering_clean_start_1_is_a_protocol_error() {
    // [MQTT-3.2.2-2] (3.1.1: [MQTT-3.2.2-1]): Session Present is 0 when
    // the connection was made with Clean Start 1.
    for v in BOTH {
        let mut sc = Scripted::with_version(v);
        sc.connect();
        let _ = sent_connect(&mut sc);
        sc.server_sends(ConnAck::new(true, ReasonCode::Success));
        assert_violation(
            &mut sc,
            ProtocolViolation::SessionPresentOnCleanStart,
            ReasonCode::ProtocolError,
        );
        assert_eq!(sc.client.stats().connections, 0);
    }
}

#[test]
fn session_present_answering_clean_start_0_is_accepted() {
    for v in BOTH {
        let mut sc = Scripted::new(opts(v).with_clean_start(false));
        sc.connect();
        assert!(!sent_connect(&mut sc).clean_start);
        sc.server_sends(ConnAck::new(true, ReasonCode::Success));
        assert!(connected_event(&mut sc).session_present);
        assert_eq!(sc.client.state(), ConnectionState::Connected);
    }
}

#[test]
fn v5_connack_error_codes_end_the_connection_as_refused() {
    // [MQTT-3.2.2-7] the server closes after a code of 0x80 or more; the
    // client sends nothing more.
    let codes = [
        ReasonCode::UnspecifiedError,
        ReasonCode::MalformedPacket,
        ReasonCode::ProtocolError,
        ReasonCode::ImplementationSpecificError,
        ReasonCode::UnsupportedProtocolVersion,
        ReasonCode::ClientIdentifierNotValid,
        ReasonCode::BadUserNameOrPassword,
        ReasonCode::NotAuthorized,
        ReasonCode::ServerUnavailable,
        ReasonCode::ServerBusy,
        ReasonCode::Banned,
        ReasonCode::BadAuthenticationMethod,
        ReasonCode::TopicNameInvalid,
        ReasonCode::PacketTooLarge,
        ReasonCode::QuotaExceeded,
        ReasonCode::PayloadFormatInvalid,
        ReasonCode::RetainNotSupported,
        ReasonCode::QoSNotSupported,
        ReasonCode::UseAnotherServer,
        ReasonCode::ServerMoved,
        ReasonCode::ConnectionRateExceeded,
    ];
    for code in codes {
        let mut sc = Scripted::with_version(V5);
        sc.connect();
        let _ = sent_connect(&mut sc);
        let mut connack = ConnAck::new(false, code);
        connack.properties.reason_string = Some(s("go away"));
        sc.server_sends(connack.clone());
        let events = sc.events();
        assert_eq!(
            events,
            vec![Event::Disconnected(DisconnectReason::Refused(connack))],
            "{code}"
        );
        let Event::Disconnected(reason) = &events[0] else {
            unreachable!()
        };
        assert_eq!(reason.reason_code(), Some(code));
        assert_eq!(reason.redirect(), None, "no Server Reference: no redirect");
        assert_eq!(sc.sent(), vec![], "{code}");
        assert_eq!(sc.client.state(), ConnectionState::Disconnected);
        assert_eq!(sc.client.poll_timeout(), None);
    }
}

#[test]
fn v311_connack_return_codes_are_reported_as_refused_with_their_v5_codes() {
    let codes = [
        (1, ReasonCode::UnsupportedProtocolVersion),
        (2, ReasonCode::ClientIdentifierNotValid),
        (3, ReasonCode::ServerUnavailable),
        (4, ReasonCode::BadUserNameOrPassword),
        (5, ReasonCode::NotAuthorized),
    ];
    for (byte, code) in codes {
        let mut sc = Scripted::with_version(V3);
        sc.connect();
        let _ = sent_connect(&mut sc);
        sc.server_sends_bytes(&[0x20, 0x02, 0x00, byte]);
        assert_eq!(
            sc.events(),
            vec![Event::Disconnected(DisconnectReason::Refused(
                ConnAck::new(false, code)
            ))],
            "return code {byte}"
        );
        assert_eq!(sc.sent(), vec![]);
        assert_eq!(sc.client.state(), ConnectionState::Disconnected);
    }
}

#[test]
fn v311_connack_with_an_undefined_return_code_is_malformed() {
    let mut sc = Scripted::with_version(V3);
    sc.connect();
    let _ = sent_connect(&mut sc);
    sc.server_sends_bytes(&[0x20, 0x02, 0x00, 0x06]);
    assert_violation(
        &mut sc,
        ProtocolViolation::Decode(Error::InvalidReasonCode {
            packet: PacketType::ConnAck,
            code: 6,
        }),
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn connack_with_session_present_and_an_error_code_is_malformed() {
    // [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]).
    for (v, bytes) in [(V3, "20 02 01 05"), (V5, "20 03 01 87 00")] {
        let mut sc = Scripted::with_version(v);
        sc.connect();
        let _ = sent_connect(&mut sc);
        sc.server_sends_bytes(&hex(bytes));
        assert_violation(
            &mut sc,
            ProtocolViolation::Decode(Error::InvalidConnAckFlags),
            ReasonCode::MalformedPacket,
        );
    }
}

#[test]
fn v5_connack_redirection_with_server_reference_is_surfaced() {
    for (code, permanent) in [
        (ReasonCode::UseAnotherServer, false),
        (ReasonCode::ServerMoved, true),
    ] {
        let mut sc = Scripted::with_version(V5);
        sc.connect();
        let _ = sent_connect(&mut sc);
        let mut connack = ConnAck::new(false, code);
        connack.properties.server_reference = Some(s("mqtt2.example.com:8883"));
        sc.server_sends(connack);
        let events = sc.events();
        let [Event::Disconnected(reason)] = &events[..] else {
            panic!("expected [Disconnected], got {events:?}");
        };
        assert!(matches!(reason, DisconnectReason::Refused(_)));
        assert_eq!(
            reason.redirect(),
            Some(Redirect {
                permanent,
                server_reference: s("mqtt2.example.com:8883"),
            })
        );
        assert_eq!(sc.sent(), vec![]);
    }
}

#[test]
fn v5_server_reference_with_another_code_is_not_a_redirect() {
    let mut sc = Scripted::with_version(V5);
    sc.connect();
    let _ = sc.sent();
    let mut connack = ConnAck::new(false, ReasonCode::ServerBusy);
    connack.properties.server_reference = Some(s("elsewhere"));
    sc.server_sends(connack);
    let events = sc.events();
    let [Event::Disconnected(reason)] = &events[..] else {
        panic!("{events:?}");
    };
    assert_eq!(reason.redirect(), None);
}

#[test]
fn a_second_connack_is_a_protocol_error() {
    // [MQTT-3.2.0-2] a server sends one CONNACK per connection.
    for v in BOTH {
        let mut sc = connected_with(opts(v), connack_ok());
        sc.server_sends(connack_ok());
        assert_violation(
            &mut sc,
            ProtocolViolation::UnexpectedPacket(PacketType::ConnAck),
            ReasonCode::ProtocolError,
        );
    }
}

#[test]
fn connack_split_into_single_bytes_connects() {
    for v in BOTH {
        let mut sc = Scripted::with_version(v);
        sc.connect();
        let _ = sc.sent();
        let mut connack = connack_ok();
        if v.is_v5() {
            connack.properties.reason_string = Some(s("split"));
        }
        let bytes = sc.encode(&connack.clone().into());
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(sc.client.state(), ConnectionState::Connecting, "byte {i}");
            sc.server_sends_bytes(&[*b]);
        }
        assert_eq!(connected_event(&mut sc).connack, connack);
    }
}

#[test]
fn connack_and_a_publish_in_one_chunk_are_handled_in_order() {
    for v in BOTH {
        let mut sc = Scripted::with_version(v);
        sc.connect();
        let _ = sc.sent();
        let publish = Publish::new("a/b", &b"hello"[..]).unwrap();
        let mut bytes = sc.encode(&connack_ok().into()).to_vec();
        bytes.extend_from_slice(&sc.encode(&publish.clone().into()));
        sc.server_sends_bytes(&bytes);
        let events = sc.events();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(events[0], Event::Connected(_)));
        let Event::Message(m) = &events[1] else {
            panic!("{events:?}");
        };
        assert_eq!(m.publish, publish);
    }
}

// ----- keep alive and deadlines ------------------------------------------------------

#[test]
fn pingreq_is_sent_exactly_when_nothing_was_sent_for_the_keep_alive_interval() {
    // [MQTT-3.1.2-20] (3.1.1: [MQTT-3.1.2-23]).
    for v in BOTH {
        let mut sc = Scripted::new(opts(v).with_keep_alive(10));
        sc.connect(); // CONNECT at 0
        let _ = sc.sent();
        sc.now = 400;
        sc.server_sends(connack_ok());
        let _ = sc.events();
        assert_eq!(sc.client.poll_timeout(), Some(10_000));
        at(&mut sc, 9_999);
        assert_eq!(sc.sent(), vec![]);
        at(&mut sc, 10_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        assert_eq!(sc.events(), vec![]);
        // Waiting for PINGRESP: one keep alive (ping_timeout 0).
        assert_eq!(sc.client.poll_timeout(), Some(20_000));
        // No second PINGREQ while one is unanswered.
        at(&mut sc, 15_000);
        assert_eq!(sc.sent(), vec![]);
        sc.now = 15_100;
        sc.server_sends(Packet::PingResp);
        assert_eq!(sc.events(), vec![Event::Pong]);
        // The next PINGREQ is due a keep alive after the last one.
        assert_eq!(sc.client.poll_timeout(), Some(20_000));
        at(&mut sc, 20_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        assert_eq!(sc.client.state(), ConnectionState::Connected);
    }
}

#[test]
fn sending_other_packets_postpones_the_pingreq() {
    for v in BOTH {
        let mut sc = Scripted::new(opts(v).with_keep_alive(10));
        sc.connect_ok(false);
        assert_eq!(sc.client.poll_timeout(), Some(10_000));
        sc.now = 4_000;
        sc.client
            .publish(4_000, Publish::new("t", &b"x"[..]).unwrap())
            .unwrap();
        assert_eq!(sc.sent().len(), 1);
        assert_eq!(sc.client.poll_timeout(), Some(14_000));
        at(&mut sc, 10_000);
        assert_eq!(sc.sent(), vec![], "a packet went out 6 s ago");
        at(&mut sc, 13_999);
        assert_eq!(sc.sent(), vec![]);
        at(&mut sc, 14_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
    }
}

#[test]
fn receiving_packets_does_not_postpone_the_pingreq() {
    // The keep alive is about what the client sends [MQTT-3.1.2-20].
    for v in BOTH {
        let mut sc = Scripted::new(opts(v).with_keep_alive(10));
        sc.connect_ok(false);
        sc.now = 6_000;
        sc.server_sends(Publish::new("t", &b"x"[..]).unwrap());
        assert_eq!(sc.events().len(), 1);
        assert_eq!(sc.sent(), vec![], "QoS 0 needs no answer");
        assert_eq!(sc.client.poll_timeout(), Some(10_000));
        at(&mut sc, 10_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
    }
}

#[test]
fn no_pingresp_within_the_ping_timeout_ends_the_connection() {
    for v in BOTH {
        let mut sc = Scripted::new(opts(v).with_keep_alive(10).with_ping_timeout(3_000));
        sc.connect_ok(false);
        at(&mut sc, 10_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        assert_eq!(sc.client.poll_timeout(), Some(13_000));
        at(&mut sc, 12_999);
        assert_eq!(sc.sent(), vec![]);
        assert_eq!(sc.events(), vec![]);
        at(&mut sc, 13_000);
        let sent = sc.sent();
        if v.is_v5() {
            assert_eq!(
                sent,
                vec![Packet::Disconnect(Disconnect::new(
                    ReasonCode::KeepAliveTimeout
                ))]
            );
        } else {
            assert_eq!(sent, vec![]);
        }
        let events = sc.events();
        assert_eq!(
            events,
            vec![Event::Disconnected(DisconnectReason::KeepAliveTimeout)]
        );
        let Event::Disconnected(reason) = &events[0] else {
            unreachable!()
        };
        assert_eq!(reason.reason_code(), Some(ReasonCode::KeepAliveTimeout));
        assert_eq!(sc.client.state(), ConnectionState::Disconnected);
        assert_eq!(sc.client.poll_timeout(), None);
        // A late PINGRESP changes nothing.
        sc.server_sends(Packet::PingResp);
        assert_eq!(sc.events(), vec![]);
    }
}

#[test]
fn pingresp_just_before_the_deadline_keeps_the_connection() {
    for v in BOTH {
        let mut sc = Scripted::new(opts(v).with_keep_alive(10).with_ping_timeout(3_000));
        sc.connect_ok(false);
        at(&mut sc, 10_000);
        let _ = sc.sent();
        sc.now = 12_999;
        sc.server_sends(Packet::PingResp);
        assert_eq!(sc.events(), vec![Event::Pong]);
        at(&mut sc, 13_000);
        assert_eq!(sc.events(), vec![]);
        assert_eq!(sc.sent(), vec![]);
        assert_eq!(sc.client.state(), ConnectionState::Connected);
        assert_eq!(sc.client.poll_timeout(), Some(20_000));
    }
}

/// While the driver does not read (`set_input_paused`), a late PINGRESP
/// is not held against the server and PINGREQ still goes out every keep
/// alive [MQTT-3.1.2-23]; when reading resumes, the wait for PINGRESP
/// starts again and a silent server is then noticed.
#[test]
fn paused_input_suspends_the_pingresp_timeout_but_not_pingreq() {
    for v in BOTH {
        let mut sc = Scripted::new(opts(v).with_keep_alive(10).with_ping_timeout(3_000));
        sc.connect_ok(false);
        at(&mut sc, 10_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        sc.client.set_input_paused(11_000, true);
        // No PINGRESP deadline while paused; the next PINGREQ is due.
        assert_eq!(sc.client.poll_timeout(), Some(20_000));
        at(&mut sc, 13_000);
        assert_eq!(sc.events(), vec![], "no keep alive timeout while paused");
        at(&mut sc, 20_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        at(&mut sc, 30_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        assert_eq!(sc.client.state(), ConnectionState::Connected);
        // Reading again: PINGRESP awaited from now, 3 s.
        sc.client.set_input_paused(31_000, false);
        assert_eq!(sc.client.poll_timeout(), Some(34_000));
        sc.now = 33_000;
        sc.server_sends(Packet::PingResp);
        assert_eq!(sc.events(), vec![Event::Pong]);
        assert_eq!(sc.client.state(), ConnectionState::Connected);
        assert_eq!(sc.client.poll_timeout(), Some(40_000));
        // Paused and resumed again with a server that stays silent.
        at(&mut sc, 40_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        sc.client.set_input_paused(40_500, true);
        at(&mut sc, 45_000);
        assert_eq!(sc.events(), vec![]);
        sc.client.set_input_paused(45_000, false);
        at(&mut sc, 47_999);
        assert_eq!(sc.events(), vec![]);
        at(&mut sc, 48_000);
        assert_eq!(
            sc.events(),
            vec![Event::Disconnected(DisconnectReason::KeepAliveTimeout)]
        );
        // A pause does not outlive its connection: paused, cut, connected
        // again, the PINGRESP timeout holds.
        let _ = sc.sent();
        sc.now = 50_000;
        sc.connect();
        let _ = sc.sent();
        sc.server_sends(ConnAck::new(false, ReasonCode::Success));
        let _ = sc.events();
        sc.client.set_input_paused(50_000, true);
        sc.client.handle_transport_closed(50_100);
        let _ = sc.events();
        sc.now = 51_000;
        sc.connect();
        let _ = sc.sent();
        sc.server_sends(ConnAck::new(false, ReasonCode::Success));
        assert_eq!(sc.client.state(), ConnectionState::Connected);
        let _ = sc.events();
        at(&mut sc, 61_000);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        at(&mut sc, 64_000);
        assert_eq!(
            sc.events(),
            vec![Event::Disconnected(DisconnectReason::KeepAliveTimeout)],
            "{v:?}"
        );
    }
}

#[test]
fn keep_alive_0_never_sends_pingreq() {
    for v in BOTH {
        let mut sc = Scripted::new(opts(v).with_keep_alive(0));
        sc.connect();
        assert_eq!(sent_connect(&mut sc).keep_alive, 0);
        sc.server_sends(connack_ok());
        let _ = sc.events();
        assert_eq!(sc.client.poll_timeout(), None);
        at(&mut sc, 10_000_000);
        assert_eq!(sc.sent(), vec![]);
        assert_eq!(sc.events(), vec![]);
    }
}

#[test]
fn poll_timeout_is_the_connack_deadline_while_connecting() {
    for v in BOTH {
        let mut sc = Scripted::new(opts(v).with_keep_alive(1).with_connect_timeout(5_000));
        assert_eq!(sc.client.poll_timeout(), None, "not connected: no deadline");
        sc.now = 100;
        sc.connect();
        let _ = sc.sent();
        // The keep alive (1 s) does not run before CONNACK.
        assert_eq!(sc.client.poll_timeout(), Some(5_100));
        at(&mut sc, 1_100);
        assert_eq!(sc.sent(), vec![], "no PINGREQ before CONNACK");
        sc.now = 2_000;
        sc.server_sends(connack_ok());
        let _ = sc.events();
        // CONNACK disarms the connect timer; the keep alive counts from
        // CONNECT, the last packet sent.
        assert_eq!(sc.client.poll_timeout(), Some(1_100));
    }
}

#[test]
fn no_connack_within_the_connect_timeout_ends_the_attempt() {
    for v in BOTH {
        let mut sc = Scripted::new(opts(v).with_connect_timeout(5_000));
        sc.now = 100;
        sc.connect();
        let _ = sc.sent();
        at(&mut sc, 5_099);
        assert_eq!(sc.events(), vec![]);
        assert_eq!(sc.client.state(), ConnectionState::Connecting);
        at(&mut sc, 5_100);
        assert_eq!(
            sc.events(),
            vec![Event::Disconnected(DisconnectReason::ConnectTimeout)]
        );
        assert_eq!(sc.sent(), vec![]);
        assert_eq!(sc.client.state(), ConnectionState::Disconnected);
        assert_eq!(sc.client.poll_timeout(), None);
        // A CONNACK after the timeout is ignored.
        sc.server_sends(connack_ok());
        assert_eq!(sc.events(), vec![]);
        assert_eq!(sc.client.state(), ConnectionState::Disconnected);
    }
}

#[test]
fn connect_timeout_0_waits_for_connack_for_ever() {
    let mut sc = Scripted::new(opts(V5).with_connect_timeout(0));
    sc.connect();
    let _ = sc.sent();
    assert_eq!(sc.client.poll_timeout(), None);
    at(&mut sc, 1_000_000_000);
    assert_eq!(sc.events(), vec![]);
    assert_eq!(sc.client.state(), ConnectionState::Connecting);
}

#[test]
fn a_spurious_handle_timeout_is_a_no_op() {
    for v in BOTH {
        let mut sc = Scripted::new(
            opts(v)
                .with_keep_alive(10)
                .with_ping_timeout(2_000)
                .with_connect_timeout(3_000),
        );
        let check = |sc: &mut Scripted, t: Instant| {
            let before = sc.client.poll_timeout();
            let state = sc.client.state();
            at(sc, t);
            assert_eq!(sc.sent(), vec![], "at {t}");
            assert_eq!(sc.events(), vec![], "at {t}");
            assert_eq!(sc.client.poll_timeout(), before, "at {t}");
            assert_eq!(sc.client.state(), state, "at {t}");
        };
        // Disconnected.
        check(&mut sc, 50);
        // Connecting (at 50), before the CONNACK deadline (3_050).
        sc.connect();
        let _ = sc.sent();
        check(&mut sc, 3_049);
        sc.server_sends(connack_ok());
        let _ = sc.events();
        // Connected, before the PINGREQ (10_050), repeatedly.
        check(&mut sc, 3_050);
        check(&mut sc, 3_050);
        check(&mut sc, 10_049);
        at(&mut sc, 10_050);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        // Waiting for PINGRESP, before its deadline (12_050).
        check(&mut sc, 12_049);
        // A time in the past.
        check(&mut sc, 5);
    }
}

#[test]
fn driving_by_poll_timeout_hits_every_deadline_exactly() {
    for v in BOTH {
        let mut sc = Scripted::new(
            opts(v)
                .with_keep_alive(7)
                .with_ping_timeout(1_500)
                .with_connect_timeout(2_000),
        );
        sc.connect();
        let _ = sc.sent();
        assert_eq!(sc.client.poll_timeout(), Some(2_000));
        sc.now = 300;
        sc.server_sends(connack_ok());
        let _ = sc.events();
        let mut last_ping = 0;
        for round in 0..5u64 {
            let due = sc.client.poll_timeout().expect("a PINGREQ is due");
            assert_eq!(due, last_ping + 7_000, "round {round}");
            at(&mut sc, due - 1);
            assert_eq!(sc.sent(), vec![]);
            at(&mut sc, due);
            assert_eq!(sc.sent(), vec![Packet::PingReq]);
            last_ping = due;
            assert_eq!(sc.client.poll_timeout(), Some(due + 1_500));
            sc.now = due + 10 * round;
            sc.server_sends(Packet::PingResp);
            assert_eq!(sc.events(), vec![Event::Pong]);
        }
        // The sixth goes unanswered.
        let due = sc.client.poll_timeout().unwrap();
        at(&mut sc, due);
        assert_eq!(sc.sent(), vec![Packet::PingReq]);
        let deadline = sc.client.poll_timeout().unwrap();
        assert_eq!(deadline, due + 1_500);
        at(&mut sc, deadline - 1);
        assert_eq!(sc.events(), vec![]);
        at(&mut sc, deadline);
        assert_eq!(
            sc.events(),
            vec![Event::Disconnected(DisconnectReason::KeepAliveTimeout)]
        );
        assert_eq!(sc.client.poll_timeout(), None);
    }
}

// ----- enhanced authentication (5.0) ----------------------------------------------------

fn auth_options() -> ClientOptions {
    opts(V5)
        .with_authentication("SCRAM-SHA-1", Some(Bytes::from_static(b"client-first")))
        .unwrap()
}

fn auth(code: ReasonCode, method: &str, data: &'static [u8]) -> Auth {
    let mut a = Auth::new(code);
    a.properties.authentication_method = Some(s(method));
    a.properties.authentication_data = Some(Bytes::from_static(data));
    a
}

fn connack_with_method(method: &str) -> ConnAck {
    let mut c = connack_ok();
    c.properties.authentication_method = Some(s(method));
    c
}

#[test]
fn v5_auth_challenge_during_connect_is_answered_with_continue_authentication() {
    let mut sc = Scripted::new(auth_options().with_connect_timeout(5_000));
    sc.connect();
    let c = sent_connect(&mut sc);
    assert_eq!(c.properties.authentication_method, Some(s("SCRAM-SHA-1")));
    assert_eq!(
        c.properties.authentication_data,
        Some(Bytes::from_static(b"client-first"))
    );
    // [MQTT-4.12.0-2] the server continues with AUTH 0x18.
    let mut challenge = auth(
        ReasonCode::ContinueAuthentication,
        "SCRAM-SHA-1",
        b"server-first",
    );
    challenge.properties.reason_string = Some(s("more please"));
    sc.now = 100;
    sc.server_sends(challenge.clone());
    assert_eq!(sc.events(), vec![Event::AuthChallenge(challenge)]);
    assert_eq!(sc.sent(), vec![]);
    assert_eq!(sc.client.state(), ConnectionState::Connecting);
    assert_eq!(
        sc.client.poll_timeout(),
        Some(5_000),
        "the connect timeout covers the AUTH exchange"
    );
    // [MQTT-4.12.0-3] the client answers with AUTH 0x18, and
    // [MQTT-4.12.0-5] the same method.
    let mut props = AuthProperties::default();
    props.user_properties = vec![up("step", "2")];
    sc.client
        .authenticate(
            200,
            Some(Bytes::from_static(b"client-final")),
            props.clone(),
        )
        .unwrap();
    let answer = sent_auth(&mut sc);
    let mut expected = auth(
        ReasonCode::ContinueAuthentication,
        "SCRAM-SHA-1",
        b"client-final",
    );
    expected.properties.user_properties = props.user_properties;
    assert_eq!(answer, expected);
    // A second round.
    let again = auth(
        ReasonCode::ContinueAuthentication,
        "SCRAM-SHA-1",
        b"server-again",
    );
    sc.server_sends(again.clone());
    assert_eq!(sc.events(), vec![Event::AuthChallenge(again)]);
    sc.client
        .authenticate(
            300,
            Some(Bytes::from_static(b"client-again")),
            AuthProperties::default(),
        )
        .unwrap();
    assert_eq!(
        sent_auth(&mut sc),
        auth(
            ReasonCode::ContinueAuthentication,
            "SCRAM-SHA-1",
            b"client-again"
        )
    );
    // CONNACK ends the exchange.
    let mut connack = connack_with_method("SCRAM-SHA-1");
    connack.properties.authentication_data = Some(Bytes::from_static(b"server-final"));
    sc.server_sends(connack.clone());
    assert_eq!(connected_event(&mut sc).connack, connack);
    assert_eq!(sc.client.state(), ConnectionState::Connected);
}

#[test]
fn v5_nothing_but_auth_goes_out_before_connack_when_authenticating() {
    // [MQTT-3.1.2-30] with an Authentication Method, only AUTH or
    // DISCONNECT before CONNACK.
    let mut sc = Scripted::new(auth_options());
    sc.connect();
    let _ = sent_connect(&mut sc);
    let id = sc
        .client
        .publish(
            1,
            Publish::new("t", &b"x"[..])
                .unwrap()
                .with_qos(QoS::AtLeastOnce, 0),
        )
        .unwrap();
    sc.client
        .subscribe(
            1,
            Subscribe::new(
                0,
                vec![SubscribeFilter::new("f", SubscriptionOptions::new(QoS::AtMostOnce)).unwrap()],
            ),
        )
        .unwrap();
    assert_eq!(sc.sent(), vec![]);
    sc.server_sends(auth(
        ReasonCode::ContinueAuthentication,
        "SCRAM-SHA-1",
        b"c",
    ));
    let _ = sc.events();
    sc.client
        .authenticate(2, None, AuthProperties::default())
        .unwrap();
    assert!(matches!(&sc.sent()[..], [Packet::Auth(_)]));
    sc.server_sends(connack_with_method("SCRAM-SHA-1"));
    let _ = connected_event(&mut sc);
    let sent = sc.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(matches!(&sent[0], Packet::Publish(p) if p.packet_id == id.packet_id().unwrap()));
    assert!(matches!(&sent[1], Packet::Subscribe(_)));
}

#[test]
fn v5_reauthentication_sends_0x19_and_reports_challenges_and_success() {
    // [MQTT-4.12.1-1]: AUTH 0x19 with the method of the connection.
    let mut sc = connected_with(auth_options(), connack_with_method("SCRAM-SHA-1"));
    sc.client
        .authenticate(
            1_000,
            Some(Bytes::from_static(b"re-first")),
            AuthProperties::default(),
        )
        .unwrap();
    assert_eq!(
        sent_auth(&mut sc),
        auth(ReasonCode::ReAuthenticate, "SCRAM-SHA-1", b"re-first")
    );
    let challenge = auth(ReasonCode::ContinueAuthentication, "SCRAM-SHA-1", b"chal");
    sc.server_sends(challenge.clone());
    assert_eq!(sc.events(), vec![Event::AuthChallenge(challenge)]);
    sc.client
        .authenticate(
            1_100,
            Some(Bytes::from_static(b"resp")),
            AuthProperties::default(),
        )
        .unwrap();
    assert_eq!(
        sent_auth(&mut sc),
        auth(ReasonCode::ContinueAuthentication, "SCRAM-SHA-1", b"resp")
    );
    let done = auth(ReasonCode::Success, "SCRAM-SHA-1", b"ok");
    sc.server_sends(done.clone());
    assert_eq!(sc.events(), vec![Event::Reauthenticated(done)]);
    assert_eq!(sc.client.state(), ConnectionState::Connected);
    // The exchange is over: another AUTH 0x00 is unsolicited.
    sc.server_sends(auth(ReasonCode::Success, "SCRAM-SHA-1", b"again"));
    assert_violation(
        &mut sc,
        ProtocolViolation::Authentication,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn v5_reauthentication_can_be_started_again_after_it_completed() {
    let mut sc = connected_with(auth_options(), connack_with_method("SCRAM-SHA-1"));
    for round in 0..2 {
        sc.client
            .authenticate(10, None, AuthProperties::default())
            .unwrap();
        assert_eq!(
            sent_auth(&mut sc).reason_code,
            ReasonCode::ReAuthenticate,
            "round {round}"
        );
        sc.server_sends(auth(ReasonCode::Success, "SCRAM-SHA-1", b""));
        assert!(matches!(&sc.events()[..], [Event::Reauthenticated(_)]));
    }
}

#[test]
fn v5_auth_with_another_method_is_a_protocol_error() {
    // [MQTT-4.12.0-5] every AUTH carries the method of CONNECT.
    // During connect:
    let mut sc = Scripted::new(auth_options());
    sc.connect();
    let _ = sc.sent();
    sc.server_sends(auth(ReasonCode::ContinueAuthentication, "PLAIN", b"x"));
    assert_violation(
        &mut sc,
        ProtocolViolation::Authentication,
        ReasonCode::ProtocolError,
    );
    // Without any method:
    let mut sc = Scripted::new(auth_options());
    sc.connect();
    let _ = sc.sent();
    sc.server_sends(Auth::new(ReasonCode::ContinueAuthentication));
    assert_violation(
        &mut sc,
        ProtocolViolation::Authentication,
        ReasonCode::ProtocolError,
    );
    // During re-authentication:
    let mut sc = connected_with(auth_options(), connack_with_method("SCRAM-SHA-1"));
    sc.client
        .authenticate(1, None, AuthProperties::default())
        .unwrap();
    let _ = sc.sent();
    sc.server_sends(auth(
        ReasonCode::ContinueAuthentication,
        "scram-sha-1",
        b"x",
    ));
    assert_violation(
        &mut sc,
        ProtocolViolation::Authentication,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn v5_auth_when_the_client_named_no_method_is_a_protocol_error() {
    // [MQTT-4.12.0-6] no method in CONNECT: the server sends no AUTH.
    let mut sc = Scripted::with_version(V5);
    sc.connect();
    let _ = sc.sent();
    sc.server_sends(auth(
        ReasonCode::ContinueAuthentication,
        "SCRAM-SHA-1",
        b"x",
    ));
    assert_violation(
        &mut sc,
        ProtocolViolation::Authentication,
        ReasonCode::ProtocolError,
    );
    let mut sc = connected_with(opts(V5), connack_ok());
    sc.server_sends(auth(ReasonCode::ReAuthenticate, "SCRAM-SHA-1", b"x"));
    assert_violation(
        &mut sc,
        ProtocolViolation::Authentication,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn v5_unsolicited_or_misplaced_auth_is_a_protocol_error() {
    // A challenge while no re-authentication is under way.
    let mut sc = connected_with(auth_options(), connack_with_method("SCRAM-SHA-1"));
    sc.server_sends(auth(
        ReasonCode::ContinueAuthentication,
        "SCRAM-SHA-1",
        b"x",
    ));
    assert_violation(
        &mut sc,
        ProtocolViolation::Authentication,
        ReasonCode::ProtocolError,
    );
    // AUTH 0x00 during connect: success is CONNACK's to say.
    let mut sc = Scripted::new(auth_options());
    sc.connect();
    let _ = sc.sent();
    sc.server_sends(auth(ReasonCode::Success, "SCRAM-SHA-1", b"x"));
    assert_violation(
        &mut sc,
        ProtocolViolation::Authentication,
        ReasonCode::ProtocolError,
    );
    // AUTH 0x19 from the server: only a client starts re-authentication.
    let mut sc = connected_with(auth_options(), connack_with_method("SCRAM-SHA-1"));
    sc.server_sends(auth(ReasonCode::ReAuthenticate, "SCRAM-SHA-1", b"x"));
    assert_violation(
        &mut sc,
        ProtocolViolation::Authentication,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn v5_successful_connack_must_repeat_the_authentication_method() {
    // [MQTT-4.12.0-5] any successful CONNACK carries the method of CONNECT.
    for connack in [connack_ok(), connack_with_method("PLAIN")] {
        let mut sc = Scripted::new(auth_options());
        sc.connect();
        let _ = sc.sent();
        sc.server_sends(connack);
        assert_violation(
            &mut sc,
            ProtocolViolation::Authentication,
            ReasonCode::ProtocolError,
        );
    }
    // A refusal need not: it is reported as such.
    let mut sc = Scripted::new(auth_options());
    sc.connect();
    let _ = sc.sent();
    let refusal = ConnAck::new(false, ReasonCode::BadAuthenticationMethod);
    sc.server_sends(refusal.clone());
    assert_eq!(
        sc.events(),
        vec![Event::Disconnected(DisconnectReason::Refused(refusal))]
    );
    assert_eq!(sc.sent(), vec![]);
}

#[test]
fn v5_connack_with_an_authentication_method_the_client_did_not_send_is_a_protocol_error() {
    // [MQTT-4.12.0-6].
    let mut sc = Scripted::with_version(V5);
    sc.connect();
    let _ = sc.sent();
    sc.server_sends(connack_with_method("SCRAM-SHA-1"));
    assert_violation(
        &mut sc,
        ProtocolViolation::Authentication,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn authenticate_is_refused_when_there_is_nothing_to_answer() {
    // 3.1.1 has no AUTH.
    let mut sc = connected_with(
        opts(V3).with_authentication("X", None).unwrap(),
        connack_ok(),
    );
    assert!(matches!(
        sc.client.authenticate(1, None, AuthProperties::default()),
        Err(ClientError::InvalidState(_))
    ));
    assert_eq!(sc.sent(), vec![]);
    // [MQTT-4.12.0-7] no method in CONNECT: no AUTH from the client.
    let mut sc = connected_with(opts(V5), connack_ok());
    assert!(matches!(
        sc.client.authenticate(1, None, AuthProperties::default()),
        Err(ClientError::InvalidState(_))
    ));
    assert_eq!(sc.sent(), vec![]);
    // Not connected.
    let mut sc = Scripted::new(auth_options());
    assert_eq!(
        sc.client.authenticate(1, None, AuthProperties::default()),
        Err(ClientError::NotConnected)
    );
    // Connecting, but the server has not sent AUTH: nothing to answer
    // [MQTT-4.12.0-3].
    sc.connect();
    let _ = sc.sent();
    assert!(matches!(
        sc.client.authenticate(1, None, AuthProperties::default()),
        Err(ClientError::InvalidState(_))
    ));
    assert_eq!(sc.sent(), vec![]);
    // A challenge is answered once.
    sc.server_sends(auth(
        ReasonCode::ContinueAuthentication,
        "SCRAM-SHA-1",
        b"c",
    ));
    let _ = sc.events();
    sc.client
        .authenticate(2, None, AuthProperties::default())
        .unwrap();
    assert!(matches!(&sc.sent()[..], [Packet::Auth(_)]));
    assert!(matches!(
        sc.client.authenticate(3, None, AuthProperties::default()),
        Err(ClientError::InvalidState(_))
    ));
    assert_eq!(sc.sent(), vec![]);
    // Re-authentication under way, the server has not answered yet.
    let mut sc = connected_with(auth_options(), connack_with_method("SCRAM-SHA-1"));
    sc.client
        .authenticate(1, None, AuthProperties::default())
        .unwrap();
    assert_eq!(sent_auth(&mut sc).reason_code, ReasonCode::ReAuthenticate);
    assert!(matches!(
        sc.client.authenticate(2, None, AuthProperties::default()),
        Err(ClientError::InvalidState(_))
    ));
    assert_eq!(sc.sent(), vec![]);
}

// ----- DISCONNECT ------------------------------------------------------------------------

#[test]
fn v5_disconnect_sends_its_reason_code_and_properties_and_ends_the_connection() {
    let options = opts(V5)
        .with_will(full_will())
        .with_session_expiry_interval(300)
        .with_keep_alive(10);
    let mut sc = connected_with(options, connack_ok());
    let mut d = Disconnect::new(ReasonCode::DisconnectWithWillMessage);
    d.properties.session_expiry_interval = Some(0);
    d.properties.reason_string = Some(s("shutting down"));
    d.properties.user_properties = vec![up("why", "maintenance")];
    sc.now = 1_000;
    sc.client.disconnect(1_000, d.clone()).unwrap();
    assert_eq!(sent_disconnect(&mut sc), d);
    assert_eq!(
        sc.events(),
        vec![Event::Disconnected(DisconnectReason::Local)]
    );
    assert_eq!(sc.client.state(), ConnectionState::Disconnected);
    assert_eq!(sc.client.poll_timeout(), None);
    // [MQTT-3.14.4-1] nothing more on this connection: no PINGREQ, and
    // publishes wait for the next one.
    at(&mut sc, 60_000);
    sc.client
        .publish(
            60_000,
            Publish::new("t", &b"x"[..])
                .unwrap()
                .with_qos(QoS::AtLeastOnce, 0),
        )
        .unwrap();
    assert_eq!(sc.sent(), vec![]);
    assert_eq!(sc.events(), vec![]);
    // The transport closing afterwards reports nothing more.
    sc.client.handle_transport_closed(60_001);
    assert_eq!(sc.events(), vec![]);
}

#[test]
fn v5_disconnect_may_raise_a_nonzero_session_expiry() {
    let mut sc = connected_with(opts(V5).with_session_expiry_interval(60), connack_ok());
    let mut d = Disconnect::new(ReasonCode::NORMAL_DISCONNECTION);
    d.properties.session_expiry_interval = Some(86_400);
    sc.client.disconnect(1, d.clone()).unwrap();
    assert_eq!(sent_disconnect(&mut sc), d);
}

#[test]
fn v5_disconnect_with_a_session_expiry_after_connect_with_0_is_refused() {
    // Spec 3.14.2.2.2: "If the Session Expiry Interval in the CONNECT packet
    // was zero, then it is a Protocol Error to set a non-zero Session Expiry
    // Interval in the DISCONNECT packet sent by the Client."
    let mut sc = connected_with(opts(V5), connack_ok());
    let mut d = Disconnect::new(ReasonCode::NORMAL_DISCONNECTION);
    d.properties.session_expiry_interval = Some(10);
    assert!(matches!(
        sc.client.disconnect(1, d),
        Err(ClientError::InvalidState(_))
    ));
    assert_eq!(sc.sent(), vec![]);
    assert_eq!(sc.events(), vec![]);
    assert_eq!(sc.client.state(), ConnectionState::Connected);
    // Zero is allowed.
    let mut d = Disconnect::new(ReasonCode::NORMAL_DISCONNECTION);
    d.properties.session_expiry_interval = Some(0);
    sc.client.disconnect(2, d.clone()).unwrap();
    assert_eq!(sent_disconnect(&mut sc), d);
}

#[test]
fn v311_disconnect_is_the_two_byte_packet() {
    let mut sc = connected_with(opts(V3), connack_ok());
    sc.client
        .disconnect(1, Disconnect::new(ReasonCode::NORMAL_DISCONNECTION))
        .unwrap();
    assert_eq!(sc.sent_bytes(), hex("E0 00"));
    assert_eq!(
        sc.events(),
        vec![Event::Disconnected(DisconnectReason::Local)]
    );
}

#[test]
fn v311_disconnect_with_a_reason_code_is_refused_and_the_connection_stays() {
    let mut sc = connected_with(opts(V3), connack_ok());
    assert!(matches!(
        sc.client
            .disconnect(1, Disconnect::new(ReasonCode::DisconnectWithWillMessage)),
        Err(ClientError::Invalid(_))
    ));
    assert_eq!(sc.sent(), vec![]);
    assert_eq!(sc.events(), vec![]);
    assert_eq!(sc.client.state(), ConnectionState::Connected);
}

#[test]
fn disconnect_while_disconnected_is_refused() {
    for v in BOTH {
        let mut sc = Scripted::with_version(v);
        assert_eq!(
            sc.client
                .disconnect(0, Disconnect::new(ReasonCode::Success)),
            Err(ClientError::NotConnected)
        );
        assert_eq!(sc.sent(), vec![]);
    }
}

#[test]
fn disconnect_while_connecting_sends_disconnect() {
    for v in BOTH {
        let mut sc = Scripted::with_version(v);
        sc.connect();
        let _ = sc.sent();
        sc.client
            .disconnect(1, Disconnect::new(ReasonCode::NORMAL_DISCONNECTION))
            .unwrap();
        assert_eq!(
            sent_disconnect(&mut sc),
            Disconnect::new(ReasonCode::NORMAL_DISCONNECTION)
        );
        assert_eq!(
            sc.events(),
            vec![Event::Disconnected(DisconnectReason::Local)]
        );
        assert_eq!(sc.client.poll_timeout(), None, "no CONNACK timer left");
    }
}

#[test]
fn v5_server_disconnect_is_reported_with_its_properties() {
    let mut sc = connected_with(opts(V5), connack_ok());
    let mut d = Disconnect::new(ReasonCode::ServerShuttingDown);
    d.properties.reason_string = Some(s("maintenance"));
    d.properties.user_properties = vec![up("back", "10m")];
    sc.server_sends(d.clone());
    let events = sc.events();
    assert_eq!(
        events,
        vec![Event::Disconnected(DisconnectReason::ByServer(d))]
    );
    let Event::Disconnected(reason) = &events[0] else {
        unreachable!()
    };
    assert_eq!(reason.reason_code(), Some(ReasonCode::ServerShuttingDown));
    assert_eq!(reason.redirect(), None);
    assert_eq!(sc.sent(), vec![], "no answer to a DISCONNECT");
    assert_eq!(sc.client.state(), ConnectionState::Disconnected);
    assert_eq!(sc.client.poll_timeout(), None);
}

#[test]
fn v5_server_disconnect_with_server_moved_is_a_redirect() {
    for (code, permanent) in [
        (ReasonCode::UseAnotherServer, false),
        (ReasonCode::ServerMoved, true),
    ] {
        let mut sc = connected_with(opts(V5), connack_ok());
        let mut d = Disconnect::new(code);
        d.properties.server_reference = Some(s("b.example"));
        sc.server_sends(d);
        let events = sc.events();
        let [Event::Disconnected(reason)] = &events[..] else {
            panic!("{events:?}");
        };
        assert!(matches!(reason, DisconnectReason::ByServer(_)));
        assert_eq!(
            reason.redirect(),
            Some(Redirect {
                permanent,
                server_reference: s("b.example")
            })
        );
    }
}

#[test]
fn v5_server_disconnect_before_connack_is_a_protocol_error() {
    // [MQTT-3.14.0-1] no DISCONNECT before a successful CONNACK; the
    // refusal is CONNACK's job [MQTT-3.2.0-1].
    let mut sc = Scripted::with_version(V5);
    sc.connect();
    let _ = sc.sent();
    sc.server_sends(Disconnect::new(ReasonCode::ServerBusy));
    assert_violation(
        &mut sc,
        ProtocolViolation::UnexpectedPacket(PacketType::Disconnect),
        ReasonCode::ProtocolError,
    );
}

#[test]
fn v311_server_disconnect_is_a_protocol_violation() {
    // In 3.1.1 DISCONNECT goes from the client to the server only (spec
    // 3.14).
    let mut sc = connected_with(opts(V3), connack_ok());
    sc.server_sends_bytes(&hex("E0 00"));
    assert_violation(
        &mut sc,
        ProtocolViolation::UnexpectedPacket(PacketType::Disconnect),
        ReasonCode::ProtocolError,
    );
}

// ----- protocol violations -----------------------------------------------------------------

fn server_never_sends(v: ProtocolVersion) -> Vec<Packet> {
    let filter = SubscribeFilter::new("a/#", SubscriptionOptions::new(QoS::AtLeastOnce)).unwrap();
    vec![
        Connect::new(v, "x").unwrap().into(),
        Subscribe::new(7, vec![filter]).into(),
        Unsubscribe::new(8, vec![s("a/#")]).into(),
        Packet::PingReq,
    ]
}

#[test]
fn packets_a_server_never_sends_are_protocol_errors() {
    for v in BOTH {
        for packet in server_never_sends(v) {
            let t = packet.packet_type();
            let mut sc = connected_with(opts(v), connack_ok());
            sc.server_sends(packet);
            assert_violation(
                &mut sc,
                ProtocolViolation::UnexpectedPacket(t),
                ReasonCode::ProtocolError,
            );
        }
    }
}

#[test]
fn anything_but_connack_or_auth_first_is_a_protocol_error() {
    // [MQTT-3.2.0-1] (3.1.1: "The first packet sent from the Server to the
    // Client MUST be a CONNACK Packet" [MQTT-3.2.0-1]).
    for v in BOTH {
        let mut first: Vec<Packet> = vec![
            Publish::new("t", &b"x"[..]).unwrap().into(),
            mqtt_core::codec::PubAck::new(1).into(),
            mqtt_core::codec::SubAck::new(1, vec![ReasonCode::GrantedQoS1]).into(),
            Packet::PingResp,
        ];
        first.extend(server_never_sends(v));
        for packet in first {
            let t = packet.packet_type();
            let mut sc = Scripted::with_version(v);
            sc.connect();
            let _ = sc.sent();
            sc.server_sends(packet);
            assert_violation(
                &mut sc,
                ProtocolViolation::UnexpectedPacket(t),
                ReasonCode::ProtocolError,
            );
            assert_eq!(sc.client.stats().connections, 0);
        }
    }
}

#[test]
fn malformed_bytes_end_the_connection_with_malformed_packet() {
    // Spec 4.13: a malformed packet closes with 0x81 (5.0 DISCONNECT).
    let cases: [(&str, Error); 5] = [
        ("00 00", Error::InvalidPacketType(0)),
        (
            "60 02 00 01",
            Error::ReservedFlags {
                packet_type: PacketType::PubRel,
                flags: 0,
            },
        ),
        ("36 05 00 01 74 00 01", Error::InvalidQoS),
        ("30 FF FF FF FF 01", Error::MalformedRemainingLength),
        ("D0 01 00", Error::TrailingBytes),
    ];
    for v in BOTH {
        for (bytes, error) in &cases {
            let mut sc = connected_with(opts(v), connack_ok());
            sc.server_sends_bytes(&hex(bytes));
            assert_violation(
                &mut sc,
                ProtocolViolation::Decode(*error),
                ReasonCode::MalformedPacket,
            );
        }
    }
}

#[test]
fn v311_auth_packet_type_is_malformed() {
    // Packet type 15 is reserved in 3.1.1.
    let mut sc = Scripted::with_version(V3);
    sc.connect();
    let _ = sc.sent();
    sc.server_sends_bytes(&hex("F0 00"));
    assert_violation(
        &mut sc,
        ProtocolViolation::Decode(Error::InvalidPacketType(15)),
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn malformed_bytes_before_connack_end_the_attempt() {
    for v in BOTH {
        let mut sc = Scripted::with_version(v);
        sc.connect();
        let _ = sc.sent();
        sc.server_sends_bytes(&hex("00 00"));
        assert_violation(
            &mut sc,
            ProtocolViolation::Decode(Error::InvalidPacketType(0)),
            ReasonCode::MalformedPacket,
        );
    }
}

#[test]
fn an_error_stops_the_rest_of_the_chunk_and_later_input_is_ignored() {
    for v in BOTH {
        let mut sc = Scripted::with_version(v);
        sc.connect();
        let _ = sc.sent();
        let publish = Publish::new("t", &b"x"[..]).unwrap();
        let mut bytes = sc.encode(&connack_ok().into()).to_vec();
        bytes.extend_from_slice(&hex("00 00"));
        bytes.extend_from_slice(&sc.encode(&publish.clone().into()));
        sc.server_sends_bytes(&bytes);
        let events = sc.events();
        assert_eq!(events.len(), 2, "no Message after the error: {events:?}");
        assert!(matches!(events[0], Event::Connected(_)));
        assert_eq!(
            events[1],
            Event::Disconnected(DisconnectReason::ProtocolViolation(
                ProtocolViolation::Decode(Error::InvalidPacketType(0))
            ))
        );
        let _ = sc.sent();
        let received = sc.client.stats().packets_received;
        // Anything after the end is ignored, and no timer fires.
        sc.server_sends(publish);
        sc.server_sends(Packet::PingResp);
        sc.server_sends(connack_ok());
        sc.server_sends_bytes(&hex("00 00"));
        at(&mut sc, 10_000_000);
        assert_eq!(sc.events(), vec![]);
        assert_eq!(sc.sent(), vec![]);
        assert_eq!(sc.client.stats().packets_received, received);
        assert_eq!(sc.client.state(), ConnectionState::Disconnected);
    }
}

#[test]
fn a_reconnect_after_a_violation_starts_from_clean_input() {
    // Bytes left in the decoder from the broken connection do not leak into
    // the next one.
    for v in BOTH {
        let mut sc = connected_with(opts(v), connack_ok());
        // A malformed packet, then the start of another one.
        sc.server_sends_bytes(&hex("00 00 30 0A 00"));
        let _ = sc.events();
        let _ = sc.sent();
        sc.connect();
        let _ = sent_connect(&mut sc);
        sc.server_sends(ConnAck::new(false, ReasonCode::Success));
        assert!(matches!(&sc.events()[..], [Event::Connected(_)]));
    }
}

#[test]
fn input_while_never_connected_is_ignored() {
    for v in BOTH {
        let mut sc = Scripted::with_version(v);
        sc.server_sends(connack_ok());
        sc.server_sends_bytes(&hex("00 00"));
        assert_eq!(sc.events(), vec![]);
        assert_eq!(sc.sent(), vec![]);
        assert_eq!(sc.client.state(), ConnectionState::Disconnected);
        assert_eq!(sc.client.stats().bytes_received, 0);
    }
}

/// Inbound bytes for the no-panic property: arbitrary bytes, or something
/// shaped like a packet (a valid first byte and a short length) with an
/// arbitrary body.
fn inbound_chunk() -> impl Strategy<Value = Vec<u8>> {
    const FIRST_BYTES: [u8; 16] = [
        0x20, 0x30, 0x31, 0x32, 0x34, 0x3B, 0x40, 0x50, 0x62, 0x70, 0x90, 0xB0, 0xD0, 0xE0, 0xF0,
        0x10,
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48),
        (
            proptest::sample::select(FIRST_BYTES.to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(first, body)| {
                let mut v = vec![first, body.len() as u8];
                v.extend(body);
                v
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// No input ever panics; every byte the client sends is a valid packet;
    /// `Disconnected` is the last event and the client is disconnected from
    /// it on (and only then).
    #[test]
    fn random_bytes_after_connack_never_panic(
        v in proptest::sample::select(BOTH.to_vec()),
        chunks in proptest::collection::vec((inbound_chunk(), 0u64..4_000), 0..12),
    ) {
        let options = opts(v)
            .with_keep_alive(5)
            .with_topic_alias_maximum(4)
            .with_maximum_packet_size(256)
            .with_receive_maximum(3);
        let mut sc = Scripted::new(options);
        sc.connect_ok(false);
        let mut ended = false;
        for (bytes, dt) in chunks {
            let t = sc.now + dt;
            at(&mut sc, t);
            sc.server_sends_bytes(&bytes);
            let _ = sc.sent(); // panics if the client sent an invalid packet
            for event in sc.events() {
                prop_assert!(!ended, "an event after Disconnected: {:?}", event);
                if matches!(event, Event::Disconnected(_)) {
                    ended = true;
                }
            }
            prop_assert_eq!(ended, sc.client.state() == ConnectionState::Disconnected);
            if ended {
                prop_assert_eq!(sc.client.poll_timeout(), None);
            }
        }
    }
}

// ----- maximum packet size -----------------------------------------------------------------

#[test]
fn v5_publish_larger_than_the_servers_maximum_packet_size_is_refused_and_nothing_is_sent() {
    // [MQTT-3.2.2-15].
    let mut connack = connack_ok();
    connack.properties.maximum_packet_size = Some(100);
    let mut sc = connected_with(opts(V5), connack);
    let stats = sc.client.stats();
    // Sized for QoS 0; QoS 1 and 2 add the two-byte packet identifier.
    let cases = [
        (QoS::AtMostOnce, publish_of_size(V5, "big/topic", 101)),
        (
            QoS::AtLeastOnce,
            publish_of_size(V5, "big/topic", 99).with_qos(QoS::AtLeastOnce, 0),
        ),
        (
            QoS::ExactlyOnce,
            publish_of_size(V5, "big/topic", 99).with_qos(QoS::ExactlyOnce, 0),
        ),
    ];
    for (qos, p) in cases {
        assert_eq!(
            sc.client.publish(1, p),
            Err(ClientError::PacketTooLarge {
                size: 101,
                maximum: 100
            }),
            "{qos:?}"
        );
        assert_eq!(sc.sent(), vec![], "{qos:?}");
    }
    assert_eq!(sc.client.stats(), stats, "nothing counted, queued or sent");
    // Exactly the maximum goes out.
    let p = publish_of_size(V5, "big/topic", 100);
    sc.client.publish(2, p.clone()).unwrap();
    assert_eq!(sent_publish(&mut sc), p);
}

#[test]
fn v5_queued_publish_too_large_for_the_servers_maximum_is_dropped_at_connack() {
    let mut sc = Scripted::with_version(V5);
    let id = sc
        .client
        .publish(
            0,
            publish_of_size(V5, "t", 118).with_qos(QoS::AtLeastOnce, 0),
        )
        .unwrap();
    sc.connect();
    let _ = sent_connect(&mut sc);
    let mut connack = connack_ok();
    connack.properties.maximum_packet_size = Some(100);
    sc.server_sends(connack);
    let events = sc.events();
    assert!(matches!(events[0], Event::Connected(_)));
    assert_eq!(
        events[1..],
        [Event::PublishDropped {
            id,
            reason: DropReason::PacketTooLarge
        }]
    );
    assert_eq!(sc.sent(), vec![]);
}

#[test]
fn inbound_packet_over_our_maximum_packet_size_closes_with_packet_too_large() {
    // [MQTT-3.1.2-24] the server sends nothing larger than our Maximum
    // Packet Size; a client receiving one uses DISCONNECT 0x95. The limit
    // binds in 3.1.1 too (as an option), closing without DISCONNECT.
    for v in BOTH {
        let mut sc = connected_with(opts(v).with_maximum_packet_size(50), connack_ok());
        // Exactly the maximum is delivered.
        let fits = publish_of_size(v, "t", 50);
        sc.server_sends(fits.clone());
        assert!(matches!(&sc.events()[..], [Event::Message(m)] if m.publish == fits));
        // One byte more is refused from its fixed header alone.
        let bytes = sc.encode(&publish_of_size(v, "t", 51).into());
        sc.server_sends_bytes(&bytes[..2]);
        assert_violation(
            &mut sc,
            ProtocolViolation::Decode(Error::PacketTooLarge { size: 51, max: 50 }),
            ReasonCode::PacketTooLarge,
        );
    }
}

// ----- topic aliases (5.0) -------------------------------------------------------------------

/// A PUBLISH with a Topic Alias; an empty `topic` uses the alias alone.
fn aliased(topic: &str, alias: u16, payload: &'static [u8]) -> Publish {
    let mut p = Publish::new("placeholder", payload).unwrap();
    p.topic = if topic.is_empty() {
        mqtt_core::codec::TopicName::EMPTY
    } else {
        mqtt_core::codec::TopicName::from_str(topic).unwrap()
    };
    p.properties.topic_alias = Some(alias);
    p
}

fn message_topic(sc: &mut Scripted) -> MqttString {
    match &sc.events()[..] {
        [Event::Message(m)] => m.publish.topic.clone().into(),
        other => panic!("expected [Message], got {other:?}"),
    }
}

#[test]
fn v5_inbound_topic_alias_is_resolved_in_the_message() {
    // [MQTT-3.3.2-10] every alias in 1..=our maximum is accepted.
    let mut sc = connected_with(opts(V5).with_topic_alias_maximum(5), connack_ok());
    sc.server_sends(aliased("a/b", 3, b"1"));
    assert_eq!(message_topic(&mut sc), s("a/b"));
    sc.server_sends(aliased("", 3, b"2"));
    assert_eq!(message_topic(&mut sc), s("a/b"));
    // A new topic with the same alias replaces the mapping.
    sc.server_sends(aliased("c/d", 3, b"3"));
    assert_eq!(message_topic(&mut sc), s("c/d"));
    sc.server_sends(aliased("", 3, b"4"));
    assert_eq!(message_topic(&mut sc), s("c/d"));
    // The bounds.
    sc.server_sends(aliased("low", 1, b"5"));
    assert_eq!(message_topic(&mut sc), s("low"));
    sc.server_sends(aliased("high", 5, b"6"));
    assert_eq!(message_topic(&mut sc), s("high"));
    sc.server_sends(aliased("", 1, b"7"));
    assert_eq!(message_topic(&mut sc), s("low"));
    // A QoS 1 message with an alias is resolved and acknowledged.
    sc.server_sends(aliased("", 5, b"8").with_qos(QoS::AtLeastOnce, 9));
    assert_eq!(message_topic(&mut sc), s("high"));
    assert_eq!(
        sc.sent(),
        vec![Packet::PubAck(mqtt_core::codec::PubAck::new(9))]
    );
    assert_eq!(sc.client.state(), ConnectionState::Connected);
}

#[test]
fn v5_inbound_topic_alias_0_is_topic_alias_invalid() {
    // [MQTT-3.3.2-8]. PUBLISH "a/b", Topic Alias 0, payload "x".
    let mut sc = connected_with(opts(V5).with_topic_alias_maximum(5), connack_ok());
    sc.server_sends_bytes(&hex("30 0A 00 03 61 2F 62 03 23 00 00 78"));
    let events = sc.events();
    let Some(Event::Disconnected(DisconnectReason::ProtocolViolation(v))) = events.last() else {
        panic!("{events:?}");
    };
    assert!(
        matches!(
            v,
            ProtocolViolation::Decode(Error::InvalidPropertyValue(PropertyId::TopicAlias))
                | ProtocolViolation::TopicAlias(Error::InvalidPropertyValue(
                    PropertyId::TopicAlias
                ))
        ),
        "{v:?}"
    );
    assert_eq!(v.reason_code(), ReasonCode::TopicAliasInvalid);
    assert_eq!(
        sc.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::TopicAliasInvalid
        ))]
    );
}

#[test]
fn v5_inbound_topic_alias_above_our_maximum_is_topic_alias_invalid() {
    // [MQTT-3.3.2-11] [MQTT-3.1.2-26].
    let mut sc = connected_with(opts(V5).with_topic_alias_maximum(5), connack_ok());
    sc.server_sends(aliased("a/b", 6, b"x"));
    assert_violation(
        &mut sc,
        ProtocolViolation::TopicAlias(Error::InvalidPropertyValue(PropertyId::TopicAlias)),
        ReasonCode::TopicAliasInvalid,
    );
}

#[test]
fn v5_inbound_topic_alias_when_we_allow_none_is_topic_alias_invalid() {
    // [MQTT-3.1.2-27] Topic Alias Maximum absent: no aliases at all.
    let mut sc = connected_with(opts(V5), connack_ok());
    sc.server_sends(aliased("a/b", 1, b"x"));
    assert_violation(
        &mut sc,
        ProtocolViolation::TopicAlias(Error::InvalidPropertyValue(PropertyId::TopicAlias)),
        ReasonCode::TopicAliasInvalid,
    );
}

#[test]
fn v5_inbound_unknown_topic_alias_is_a_protocol_error() {
    // Spec 3.3.2.3.4: an empty topic with an alias that has no mapping.
    let mut sc = connected_with(opts(V5).with_topic_alias_maximum(5), connack_ok());
    sc.server_sends(aliased("", 2, b"x"));
    assert_violation(
        &mut sc,
        ProtocolViolation::TopicAlias(Error::UnknownTopicAlias),
        ReasonCode::ProtocolError,
    );
}

#[test]
fn v5_inbound_topic_aliases_are_forgotten_on_reconnect() {
    // [MQTT-3.3.2-7].
    let mut sc = connected_with(opts(V5).with_topic_alias_maximum(5), connack_ok());
    sc.server_sends(aliased("a/b", 2, b"x"));
    assert_eq!(message_topic(&mut sc), s("a/b"));
    sc.client.handle_transport_closed(1);
    let _ = sc.events();
    sc.connect();
    let _ = sent_connect(&mut sc);
    sc.server_sends(connack_ok());
    let _ = connected_event(&mut sc);
    sc.server_sends(aliased("", 2, b"y"));
    assert_violation(
        &mut sc,
        ProtocolViolation::TopicAlias(Error::UnknownTopicAlias),
        ReasonCode::ProtocolError,
    );
}

fn connack_alias_max(max: u16) -> ConnAck {
    let mut c = connack_ok();
    c.properties.topic_alias_maximum = Some(max);
    c
}

/// Publishes QoS 0 to `topic` and returns the (topic, alias) sent.
fn publish_topic(sc: &mut Scripted, topic: &str) -> (String, Option<u16>) {
    sc.client
        .publish(sc.now, Publish::new(topic, &b"p"[..]).unwrap())
        .unwrap();
    let p = sent_publish(sc);
    (p.topic.as_str().to_string(), p.properties.topic_alias)
}

fn sent_as(topic: &str, alias: Option<u16>) -> (String, Option<u16>) {
    (topic.to_string(), alias)
}

#[test]
fn v5_outbound_topic_alias_sends_topic_and_alias_first_then_only_the_alias() {
    // [MQTT-3.3.2-8] [MQTT-3.3.2-9] aliases in 1..=the server's maximum.
    let mut sc = connected_with(opts(V5), connack_alias_max(2));
    assert_eq!(publish_topic(&mut sc, "a"), sent_as("a", Some(1)));
    assert_eq!(publish_topic(&mut sc, "a"), sent_as("", Some(1)));
    assert_eq!(publish_topic(&mut sc, "b"), sent_as("b", Some(2)));
    assert_eq!(publish_topic(&mut sc, "b"), sent_as("", Some(2)));
    assert_eq!(publish_topic(&mut sc, "a"), sent_as("", Some(1)));
    // QoS 1 publishes are aliased the same way.
    sc.client
        .publish(
            sc.now,
            Publish::new("b", &b"q"[..])
                .unwrap()
                .with_qos(QoS::AtLeastOnce, 0),
        )
        .unwrap();
    let p = sent_publish(&mut sc);
    assert_eq!((p.topic.as_str(), p.properties.topic_alias), ("", Some(2)));
}

#[test]
fn v5_outbound_topic_alias_replaces_the_least_recently_used() {
    let mut sc = connected_with(opts(V5), connack_alias_max(2));
    assert_eq!(publish_topic(&mut sc, "a"), sent_as("a", Some(1)));
    assert_eq!(publish_topic(&mut sc, "b"), sent_as("b", Some(2)));
    assert_eq!(publish_topic(&mut sc, "a"), sent_as("", Some(1)));
    // "b" is the least recently used: "c" takes its alias.
    assert_eq!(publish_topic(&mut sc, "c"), sent_as("c", Some(2)));
    // Now "a" is: "b" takes alias 1, with its topic.
    assert_eq!(publish_topic(&mut sc, "b"), sent_as("b", Some(1)));
    assert_eq!(publish_topic(&mut sc, "c"), sent_as("", Some(2)));
    assert_eq!(publish_topic(&mut sc, "b"), sent_as("", Some(1)));
    // "a" lost its alias: it goes with its topic again.
    assert_eq!(publish_topic(&mut sc, "a"), sent_as("a", Some(2)));
}

#[test]
fn v5_outbound_topic_alias_switched_off_sends_full_topics() {
    let mut sc = connected_with(opts(V5).with_auto_topic_alias(false), connack_alias_max(10));
    for _ in 0..3 {
        assert_eq!(publish_topic(&mut sc, "a/b"), sent_as("a/b", None));
    }
}

#[test]
fn v5_no_outbound_topic_alias_when_the_server_allows_none() {
    // [MQTT-3.2.2-18] Topic Alias Maximum absent or 0: no aliases.
    for connack in [connack_ok(), connack_alias_max(0)] {
        let mut sc = connected_with(opts(V5), connack);
        for _ in 0..3 {
            assert_eq!(publish_topic(&mut sc, "a/b"), sent_as("a/b", None));
        }
    }
}

#[test]
fn v5_outbound_topic_aliases_are_forgotten_on_reconnect() {
    // [MQTT-3.3.2-7].
    let mut sc = connected_with(opts(V5), connack_alias_max(2));
    assert_eq!(publish_topic(&mut sc, "a"), sent_as("a", Some(1)));
    assert_eq!(publish_topic(&mut sc, "b"), sent_as("b", Some(2)));
    sc.client.handle_transport_closed(1);
    let _ = sc.events();
    sc.connect();
    let _ = sent_connect(&mut sc);
    sc.server_sends(connack_alias_max(2));
    let _ = connected_event(&mut sc);
    assert_eq!(publish_topic(&mut sc, "b"), sent_as("b", Some(1)));
    assert_eq!(publish_topic(&mut sc, "b"), sent_as("", Some(1)));
    // A server that now allows none gets none.
    sc.client.handle_transport_closed(2);
    let _ = sc.events();
    sc.connect();
    let _ = sent_connect(&mut sc);
    sc.server_sends(connack_ok());
    let _ = connected_event(&mut sc);
    assert_eq!(publish_topic(&mut sc, "b"), sent_as("b", None));
}

#[test]
fn v5_publish_with_a_caller_chosen_topic_alias_is_refused() {
    let mut sc = connected_with(opts(V5), connack_alias_max(2));
    assert!(matches!(
        sc.client.publish(1, aliased("a", 1, b"x")),
        Err(ClientError::InvalidState(_))
    ));
    assert_eq!(sc.sent(), vec![]);
}

#[test]
fn v5_automatic_topic_alias_never_takes_a_publish_over_the_servers_maximum() {
    // [MQTT-3.2.2-15]: the Topic Alias property adds 3 bytes; a publish
    // that fits without it goes out without it, and no alias is recorded
    // for a mapping the server never saw.
    let mut connack = connack_alias_max(2);
    connack.properties.maximum_packet_size = Some(40);
    let mut sc = connected_with(opts(V5), connack);
    let full = publish_of_size(V5, "t/x", 40);
    sc.client.publish(1, full.clone()).unwrap();
    assert_eq!(sc.events(), vec![], "not dropped");
    let p = sent_publish(&mut sc);
    assert_eq!(p, full, "sent whole, without an alias");
    // The next publish to that topic sets the mapping up, with the topic.
    assert_eq!(publish_topic(&mut sc, "t/x"), sent_as("t/x", Some(1)));
    assert_eq!(publish_topic(&mut sc, "t/x"), sent_as("", Some(1)));
}

// ----- request / response (5.0) ------------------------------------------------------------------

#[test]
fn v5_response_topic_and_correlation_data_on_publish_go_out() {
    let mut sc = connected_with(opts(V5).with_auto_topic_alias(false), connack_ok());
    let mut p = Publish::new("service/req", &b"{}"[..])
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 0);
    p.properties.response_topic = Some(s("replies/test"));
    p.properties.correlation_data = Some(Bytes::from_static(b"\x01\x02req-42"));
    p.properties.content_type = Some(s("application/json"));
    p.properties.user_properties = vec![up("trace", "abc")];
    let id = sc.client.publish(1, p.clone()).unwrap();
    let sent = sent_publish(&mut sc);
    p.packet_id = id.packet_id().unwrap();
    assert_eq!(sent, p);
}

#[test]
fn v5_response_information_requested_in_connect_is_reported_from_connack() {
    // Spec 3.1.2.11.6 and 3.2.2.3.15; without the request the server MUST
    // NOT send it [MQTT-3.1.2-28].
    let mut sc = Scripted::new(opts(V5).with_request_response_information(true));
    sc.connect();
    assert_eq!(
        sent_connect(&mut sc)
            .properties
            .request_response_information,
        Some(true)
    );
    let mut connack = connack_ok();
    connack.properties.response_information = Some(s("responses/test/"));
    sc.server_sends(connack);
    assert_eq!(
        connected_event(&mut sc)
            .connack
            .properties
            .response_information,
        Some(s("responses/test/"))
    );
    // Not requested: the property is left out.
    let mut sc = Scripted::with_version(V5);
    sc.connect();
    assert_eq!(
        sent_connect(&mut sc)
            .properties
            .request_response_information,
        None
    );
}

// ----- transport ----------------------------------------------------------------------------------

#[test]
fn transport_closed_reports_transport_closed() {
    for v in BOTH {
        // While connecting.
        let mut sc = Scripted::with_version(v);
        sc.connect();
        let _ = sc.sent();
        sc.client.handle_transport_closed(5);
        assert_eq!(
            sc.events(),
            vec![Event::Disconnected(DisconnectReason::TransportClosed)]
        );
        assert_eq!(sc.client.state(), ConnectionState::Disconnected);
        assert_eq!(sc.client.poll_timeout(), None);
        // While connected; bytes not taken yet are dropped.
        let mut sc = connected_with(opts(v), connack_ok());
        sc.client
            .publish(6, Publish::new("t", &b"x"[..]).unwrap())
            .unwrap();
        assert!(sc.client.transmit_len() > 0);
        sc.client.handle_transport_closed(7);
        assert_eq!(
            sc.events(),
            vec![Event::Disconnected(DisconnectReason::TransportClosed)]
        );
        assert_eq!(sc.sent(), vec![]);
        assert_eq!(sc.client.poll_timeout(), None);
        // Again: nothing more to report.
        sc.client.handle_transport_closed(8);
        assert_eq!(sc.events(), vec![]);
        // And a new connection starts normally.
        sc.connect();
        let _ = sent_connect(&mut sc);
        assert_eq!(sc.client.state(), ConnectionState::Connecting);
    }
}

#[test]
fn transport_closed_after_a_protocol_violation_reports_nothing_more() {
    for v in BOTH {
        let mut sc = connected_with(opts(v), connack_ok());
        sc.server_sends(Packet::PingReq);
        assert_eq!(sc.events().len(), 1);
        sc.client.handle_transport_closed(1);
        assert_eq!(sc.events(), vec![]);
    }
}

// [MQTT-3.14.2-2] The Session Expiry Interval MUST NOT be sent on a
// DISCONNECT by the Server.
#[test]
fn v5_server_disconnect_with_a_session_expiry_is_a_protocol_error() {
    let mut sc = connected_with(opts(V5), connack_ok());
    let mut d = Disconnect::new(ReasonCode::ServerShuttingDown);
    d.properties.session_expiry_interval = Some(60);
    sc.server_sends(d);
    assert_eq!(
        sc.events(),
        vec![Event::Disconnected(DisconnectReason::ProtocolViolation(
            ProtocolViolation::SessionExpiryInServerDisconnect
        ))]
    );
    assert_eq!(
        sent_disconnect(&mut sc).reason_code,
        ReasonCode::ProtocolError
    );
    assert_eq!(sc.client.state(), ConnectionState::Disconnected);
}

// [MQTT-3.2.2-16] An empty Client Identifier must be answered with an
// Assigned Client Identifier (5.0); 3.1.1 has no such property.
#[test]
fn v5_connack_without_an_assigned_id_for_an_empty_client_id_is_a_protocol_error() {
    let mut sc = Scripted::new(ClientOptions::new(V5, "").unwrap());
    sc.connect();
    let _ = sent_connect(&mut sc);
    sc.server_sends(connack_ok());
    assert_eq!(
        sc.events(),
        vec![Event::Disconnected(DisconnectReason::ProtocolViolation(
            ProtocolViolation::MissingAssignedClientId
        ))]
    );
    assert_eq!(
        sent_disconnect(&mut sc).reason_code,
        ReasonCode::ProtocolError
    );

    let mut sc = Scripted::new(ClientOptions::new(V3, "").unwrap());
    sc.connect();
    let _ = sent_connect(&mut sc);
    sc.server_sends(connack_ok());
    assert!(matches!(sc.events()[..], [Event::Connected(_)]));
}

// [MQTT-3.1.3-7] (3.1.1) A client that supplies a zero-byte Client
// Identifier MUST also set Clean Session 1: the client refuses it itself,
// before sending anything (`connect` and `ClientOptions::check`). 5.0 has
// no such rule (the server assigns an identifier), and a non-empty
// identifier or Clean Session 1 is fine.
#[test]
fn v311_empty_client_id_with_clean_session_0_is_refused_locally() {
    let refused = ClientOptions::new(V3, "").unwrap().with_clean_start(false);
    let expected = ClientError::InvalidState(EMPTY_CLIENT_ID_NEEDS_CLEAN_SESSION);
    assert_eq!(refused.check(), Err(expected.clone()));
    assert!(expected.to_string().contains("[MQTT-3.1.3-7]"));
    let mut sc = Scripted::new(refused);
    assert_eq!(sc.client.connect(sc.now), Err(expected));
    assert!(sc.sent_bytes().is_empty(), "no CONNECT goes out");
    assert_eq!(sc.events(), vec![]);
    assert_eq!(sc.client.state(), ConnectionState::Disconnected);
    assert_eq!(sc.client.poll_timeout(), None, "no CONNACK timer");

    for (v, id, clean) in [(V3, "", true), (V3, "c", false), (V5, "", false)] {
        let o = ClientOptions::new(v, id).unwrap().with_clean_start(clean);
        assert_eq!(o.check(), Ok(()), "{v:?} {id:?} clean {clean}");
        let mut sc = Scripted::new(o);
        sc.connect();
        let c = sent_connect(&mut sc);
        assert_eq!((c.client_id.as_str(), c.clean_start), (id, clean));
    }
}

// [MQTT-3.1.2-29] With Request Problem Information 0 the server may put a
// Reason String or User Properties only on PUBLISH, CONNACK and DISCONNECT;
// on anything else the client closes with 0x82.
#[test]
fn v5_problem_information_after_request_problem_information_0_is_a_protocol_error() {
    let quiet = || opts(V5).with_request_problem_information(false);
    // Allowed on CONNACK.
    let mut connack = connack_ok();
    connack.properties.reason_string = Some(s("welcome"));
    let mut sc = connected_with(quiet(), connack);
    assert_eq!(sc.client.state(), ConnectionState::Connected);
    // Not on a PUBACK.
    let p = Publish::new("t", Bytes::from_static(b"x"))
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 0);
    let id = sc.client.publish(sc.now, p).unwrap().packet_id().unwrap();
    let _ = sc.sent();
    let mut ack = mqtt_core::codec::PubAck::new(id);
    ack.properties.reason_string = Some(s("why"));
    sc.server_sends(ack.clone());
    assert_eq!(
        sc.events(),
        vec![Event::Disconnected(DisconnectReason::ProtocolViolation(
            ProtocolViolation::ProblemInformation(PacketType::PubAck)
        ))]
    );
    assert_eq!(
        sent_disconnect(&mut sc).reason_code,
        ReasonCode::ProtocolError
    );
    // Without the request, the same PUBACK is fine.
    let mut sc = connected_with(opts(V5), connack_ok());
    let p = Publish::new("t", Bytes::from_static(b"x"))
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 0);
    sc.client.publish(sc.now, p).unwrap();
    let _ = sc.sent();
    sc.server_sends(ack);
    assert!(matches!(sc.events()[..], [Event::PublishCompleted { .. }]));
}
