//! Server-side normative statements of MQTT 5.0 that had no test before the
//! conformance map (`tests/conformance/mqtt-5.0.map`), in the style of
//! `server_rules.rs`: the test plays the client ([`ScriptedClient`]),
//! bytes in, exact packets and events out. Each test names the statements
//! it checks.

use mqtt_core::codec::{Error, Packet, PacketType, ProtocolVersion, ReasonCode};
use mqtt_core::server::{ClientViolation, CloseReason, ServerEvent, ServerOptions, ServerState};
use mqtt_tests::hex;
use mqtt_tests::server::{closed_with, connected, disconnect_code, ScriptedClient};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// The connection was closed for a packet it could not decode: `check`
/// accepts the decode error, no CONNACK 0x00 and no message came out.
fn assert_refused_connect(c: &mut ScriptedClient, what: &str, check: impl Fn(&Error) -> bool) {
    let sent = c.sent();
    assert!(
        !sent.iter().any(|p| matches!(p,
            Packet::ConnAck(a) if a.reason_code == ReasonCode::Success)),
        "{what}: {sent:?}"
    );
    let events = c.events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ServerEvent::ConnectRequested(_))),
        "{what}: the CONNECT reached the application: {events:?}"
    );
    match closed_with(&events) {
        CloseReason::ProtocolViolation(ClientViolation::Decode(e)) => {
            assert!(check(e), "{what}: {e:?}")
        }
        other => panic!("{what}: {other:?}"),
    }
    assert_eq!(c.conn.state(), ServerState::Closed, "{what}");
}

/// A 5.0 CONNECT (clean start, keep alive 60, no properties) with
/// `flags` or-ed into the connect flags and `payload` as its payload.
fn connect_bytes(flags: u8, payload: &str) -> Vec<u8> {
    let payload = hex(payload);
    let mut body = hex("00 04 4D 51 54 54 05");
    body.push(0x02 | flags);
    body.extend(hex("00 3C 00"));
    body.extend(payload);
    let mut bytes = vec![0x10, body.len() as u8];
    bytes.extend(body);
    bytes
}

// ----- CONNECT payload ---------------------------------------------------------

#[test]
fn a_client_identifier_that_is_not_utf8_closes_the_connection() {
    // [MQTT-3.1.3-4] the Client Identifier is a UTF-8 string: ill-formed
    // UTF-8, an encoded surrogate or U+0000 are refused, never accepted.
    for id in ["00 02 C3 28", "00 03 ED A0 80", "00 01 00"] {
        let mut c = ScriptedClient::new(ServerOptions::new(), V5);
        c.client_sends_bytes(&connect_bytes(0, id));
        assert_refused_connect(&mut c, id, |e| {
            matches!(e, Error::InvalidUtf8 | Error::NullCharacter)
        });
    }
}

#[test]
fn a_user_name_that_is_not_utf8_closes_the_connection() {
    // [MQTT-3.1.3-12] with the User Name Flag set, the User Name is a
    // UTF-8 string.
    for name in ["00 02 C3 28", "00 01 00"] {
        let mut c = ScriptedClient::new(ServerOptions::new(), V5);
        c.client_sends_bytes(&connect_bytes(0x80, &format!("00 01 63 {name}")));
        assert_refused_connect(&mut c, name, |e| {
            matches!(e, Error::InvalidUtf8 | Error::NullCharacter)
        });
    }
}

#[test]
fn user_name_and_password_are_present_exactly_as_flagged() {
    // [MQTT-3.1.2-16] User Name Flag 0: a user name after the client id
    // is left over, and the packet is malformed. [MQTT-3.1.2-18] Password
    // Flag 0: likewise for a password. [MQTT-3.1.2-19] Password Flag 1 with
    // no password: the packet ends early.
    let cases: [(&str, u8, &str, Error); 3] = [
        (
            "user name without its flag",
            0x00,
            "00 01 63 00 01 75",
            Error::TrailingBytes,
        ),
        (
            "password without its flag",
            0x80,
            "00 01 63 00 01 75 00 01 70",
            Error::TrailingBytes,
        ),
        (
            "password flag without a password",
            0x40,
            "00 01 63",
            Error::Truncated,
        ),
    ];
    for (what, flags, payload, error) in cases {
        let mut c = ScriptedClient::new(ServerOptions::new(), V5);
        c.client_sends_bytes(&connect_bytes(flags, payload));
        assert_refused_connect(&mut c, what, |e| *e == error);
    }
    // The same fields with their flags are accepted (5.0 allows a
    // password without a user name).
    for (flags, payload) in [
        (0x80, "00 01 63 00 01 75"),
        (0xC0, "00 01 63 00 01 75 00 01 70"),
        (0x40, "00 01 63 00 01 70"),
    ] {
        let mut c = ScriptedClient::new(ServerOptions::new(), V5);
        c.client_sends_bytes(&connect_bytes(flags, payload));
        let events = c.events();
        assert!(
            matches!(events[..], [ServerEvent::ConnectRequested(_)]),
            "{payload}: {events:?}"
        );
    }
}

// ----- PUBLISH properties ------------------------------------------------------

/// A QoS 0 PUBLISH to "a/b" carrying the property block `props`.
fn publish_with_properties(props: &str) -> Vec<u8> {
    let props = hex(props);
    let mut bytes = vec![0x30, (5 + 1 + props.len()) as u8];
    bytes.extend(hex("00 03 61 2F 62"));
    bytes.push(props.len() as u8);
    bytes.extend(props);
    bytes
}

#[test]
fn string_properties_that_are_not_utf8_are_malformed() {
    // [MQTT-3.3.2-13] Response Topic, [MQTT-3.3.2-19] Content Type and
    // [MQTT-1.5.7-1] both strings of a User Property are UTF-8 strings: a
    // PUBLISH breaking that is answered with DISCONNECT 0x81 and not
    // delivered.
    for (what, props) in [
        ("Response Topic", "08 00 02 C3 28"),
        ("Content Type", "03 00 02 C3 28"),
        ("User Property name", "26 00 02 C3 28 00 01 76"),
        ("User Property value", "26 00 01 6B 00 02 C3 28"),
        (
            "User Property value with a surrogate",
            "26 00 01 6B 00 03 ED A0 80",
        ),
        ("User Property value with U+0000", "26 00 01 6B 00 01 00"),
    ] {
        let mut c = connected(V5);
        c.client_sends_bytes(&publish_with_properties(props));
        assert_eq!(
            disconnect_code(c.sent_one()),
            ReasonCode::MalformedPacket,
            "{what}"
        );
        let events = c.events();
        assert!(
            !events.iter().any(|e| matches!(e, ServerEvent::Message(_))),
            "{what}: {events:?}"
        );
        assert!(
            matches!(
                closed_with(&events),
                CloseReason::ProtocolViolation(ClientViolation::Decode(
                    Error::InvalidUtf8 | Error::NullCharacter
                ))
            ),
            "{what}: {events:?}"
        );
    }
    // Well-formed, the same properties pass.
    let mut c = connected(V5);
    c.client_sends_bytes(&publish_with_properties(
        "08 00 01 72 03 00 01 74 26 00 01 6B 00 01 76",
    ));
    assert!(c.sent().is_empty());
    assert!(c
        .events()
        .iter()
        .any(|e| matches!(e, ServerEvent::Message(_))));
}

// ----- fixed header -------------------------------------------------------------

#[test]
fn disconnect_and_auth_with_reserved_flags_set_are_malformed() {
    // [MQTT-3.14.1-1] the reserved bits of DISCONNECT and [MQTT-3.15.1-1]
    // the flags of AUTH must be 0: the server answers DISCONNECT 0x81 and
    // closes; the will of a client that broke the rule is not dropped as
    // for a normal DISCONNECT.
    for (first, packet_type) in [
        (0xE1u8, PacketType::Disconnect),
        (0xE8, PacketType::Disconnect),
        (0xF1, PacketType::Auth),
        (0xF4, PacketType::Auth),
    ] {
        let mut c = connected(V5);
        c.client_sends_bytes(&[first, 0x00]);
        assert_eq!(
            disconnect_code(c.sent_one()),
            ReasonCode::MalformedPacket,
            "{first:#04x}"
        );
        assert_eq!(
            closed_with(&c.events()),
            &CloseReason::ProtocolViolation(ClientViolation::Decode(Error::ReservedFlags {
                packet_type,
                flags: first & 0x0F,
            })),
            "{first:#04x}"
        );
        assert_eq!(c.conn.state(), ServerState::Closed);
    }
}
