//! Server-side normative statements of MQTT 5.0 that had no test before the
//! conformance map (`tests/conformance/mqtt-5.0.map`), in the style of
//! `server_rules.rs`: the test plays the client ([`ScriptedClient`]),
//! bytes in, exact packets and events out. Each test names the statements
//! it checks.

use mqtt_core::broker::{Broker, BrokerOptions, ConnectionId};
use mqtt_core::client::{Client, ClientOptions, Event};
use mqtt_core::codec::{
    Error, MqttString, Packet, PacketType, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe,
    SubscribeFilter, SubscriptionOptions, Unsubscribe, UserProperty, Will,
};
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

// ----- the broker above the connection --------------------------------------------
//
// Rules about retained messages, wills, routing and sessions are kept by
// the broker engine (`mqtt_core::broker::Broker`); these tests wire our
// clients to it in memory.

/// Clients wired to one broker in memory, in virtual time.
struct Wired {
    broker: Broker,
    now: u64,
    clients: Vec<(Client, Option<ConnectionId>, Vec<Event>)>,
    /// Every byte the broker sent each client, in order.
    received: Vec<Vec<u8>>,
    /// Bytes the broker sent connections driven by hand (no [`Client`]).
    raw: Vec<(ConnectionId, Vec<u8>)>,
}

impl Wired {
    fn new() -> Self {
        Wired {
            broker: Broker::new(BrokerOptions::new()),
            now: 0,
            clients: Vec::new(),
            received: Vec::new(),
            raw: Vec::new(),
        }
    }

    /// Connects a new client with `options`; returns its index.
    fn join(&mut self, options: ClientOptions) -> usize {
        let mut client = Client::new(options);
        let conn = self.broker.connection_opened(self.now);
        client.connect(self.now).expect("connect");
        self.clients.push((client, Some(conn), Vec::new()));
        self.received.push(Vec::new());
        self.settle();
        self.clients.len() - 1
    }

    /// Moves bytes both ways until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let now = self.now;
            let mut moved = false;
            for (client, conn, _) in &mut self.clients {
                let out = client.take_transmit();
                if let (Some(conn), false) = (*conn, out.is_empty()) {
                    self.broker.handle_input(conn, now, &out);
                    moved = true;
                }
            }
            while let Some((conn, bytes)) = self.broker.poll_output() {
                moved = true;
                if let Some(i) = self.clients.iter().position(|c| c.1 == Some(conn)) {
                    self.received[i].extend_from_slice(&bytes);
                    self.clients[i].0.handle_input(now, &bytes);
                } else {
                    self.raw.push((conn, bytes.to_vec()));
                }
            }
            while let Some(conn) = self.broker.poll_close() {
                moved = true;
                if let Some(c) = self.clients.iter_mut().find(|c| c.1 == Some(conn)) {
                    c.0.handle_transport_closed(now);
                    c.1 = None;
                }
                self.broker.connection_closed(conn, now);
            }
            for (client, _, events) in &mut self.clients {
                while let Some(e) = client.poll_event() {
                    events.push(e);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
        panic!("no rest after 10000 rounds");
    }

    /// Ends client `i`'s transport without DISCONNECT.
    fn cut(&mut self, i: usize) {
        let (client, conn, _) = &mut self.clients[i];
        let _ = client.take_transmit();
        client.handle_transport_closed(self.now);
        if let Some(conn) = conn.take() {
            self.broker.connection_closed(conn, self.now);
        }
        self.settle();
    }

    fn publish(&mut self, i: usize, p: Publish) {
        self.clients[i].0.publish(self.now, p).expect("publish");
        self.settle();
    }

    fn subscribe(&mut self, i: usize, s: Subscribe) {
        self.clients[i].0.subscribe(self.now, s).expect("subscribe");
        self.settle();
    }

    /// Client `i`'s messages since the last call.
    fn messages(&mut self, i: usize) -> Vec<Publish> {
        let events = std::mem::take(&mut self.clients[i].2);
        let mut out = Vec::new();
        for e in events {
            match e {
                Event::Message(m) => out.push(m.publish),
                other => self.clients[i].2.push(other),
            }
        }
        out
    }

    /// Client `i`'s SUBACK or UNSUBACK reason codes, one list per packet.
    fn acks(&self, i: usize) -> Vec<Vec<ReasonCode>> {
        self.clients[i]
            .2
            .iter()
            .filter_map(|e| match e {
                Event::Subscribed { reason_codes, .. }
                | Event::Unsubscribed { reason_codes, .. } => Some(reason_codes.clone()),
                _ => None,
            })
            .collect()
    }
}

fn client_opts(id: &str) -> ClientOptions {
    ClientOptions::new(V5, id).expect("valid options")
}

fn msg(topic: &str, payload: &[u8], qos: QoS) -> Publish {
    Publish::new(topic, payload.to_vec())
        .unwrap()
        .with_qos(qos, 0)
}

fn sub_to(id: u16, filter: &str, qos: QoS) -> Subscribe {
    Subscribe::single(id, filter, qos).unwrap()
}

fn payloads(msgs: &[Publish]) -> Vec<&[u8]> {
    msgs.iter().map(|p| p.payload.as_ref()).collect()
}

#[test]
fn a_publish_without_retain_neither_stores_nor_touches_the_retained_message() {
    // [MQTT-3.3.1-8] RETAIN 0: the message is delivered to subscribers but
    // not stored, and the topic's retained message stays as it was.
    let mut w = Wired::new();
    let p = w.join(client_opts("pub"));
    let live = w.join(client_opts("live"));
    w.subscribe(live, sub_to(1, "r/#", QoS::AtLeastOnce));
    w.publish(p, msg("r/a", b"kept", QoS::AtLeastOnce).with_retain(true));
    w.publish(p, msg("r/a", b"passing", QoS::AtLeastOnce));
    w.publish(p, msg("r/b", b"never stored", QoS::AtMostOnce));
    assert_eq!(
        payloads(&w.messages(live)),
        vec![&b"kept"[..], b"passing", b"never stored"]
    );
    assert_eq!(w.broker.retained().len(), 1);
    let late = w.join(client_opts("late"));
    w.subscribe(late, sub_to(1, "r/#", QoS::AtLeastOnce));
    let got = w.messages(late);
    assert_eq!(payloads(&got), vec![&b"kept"[..]]);
    assert!(got[0].retain);
}

#[test]
fn a_will_is_published_retained_exactly_when_will_retain_is_set() {
    // [MQTT-3.1.2-14] Will Retain 0: published as a normal message, not
    // stored. [MQTT-3.1.2-15] Will Retain 1: published as a retained
    // message (a later subscriber gets it, with RETAIN 1).
    for retain in [false, true] {
        let mut w = Wired::new();
        let watcher = w.join(client_opts("watcher"));
        let mut o = SubscriptionOptions::new(QoS::AtLeastOnce);
        o.retain_as_published = true;
        w.subscribe(
            watcher,
            Subscribe::new(1, vec![SubscribeFilter::new("wills/#", o).unwrap()]),
        );
        let will = Will::new("wills/x", b"x died".to_vec(), QoS::AtLeastOnce)
            .unwrap()
            .with_retain(retain);
        let x = w.join(client_opts("x").with_will(will));
        w.cut(x);
        let got = w.messages(watcher);
        assert_eq!(payloads(&got), vec![&b"x died"[..]], "retain {retain}");
        assert_eq!(got[0].retain, retain, "as published, retain {retain}");
        assert_eq!(w.broker.retained().len(), usize::from(retain));
        let late = w.join(client_opts("late"));
        w.subscribe(late, sub_to(1, "wills/#", QoS::AtLeastOnce));
        let got = w.messages(late);
        if retain {
            assert_eq!(payloads(&got), vec![&b"x died"[..]]);
            assert!(got[0].retain);
        } else {
            assert!(got.is_empty(), "{got:?}");
        }
    }
}

#[test]
fn will_user_properties_keep_their_order() {
    // [MQTT-3.1.3-10] the will's User Properties reach the subscriber in
    // the order the client gave them, repeated names included.
    let mut w = Wired::new();
    let watcher = w.join(client_opts("watcher"));
    w.subscribe(watcher, sub_to(1, "wills/#", QoS::AtMostOnce));
    let mut will = Will::new("wills/x", b"bye".to_vec(), QoS::AtMostOnce).unwrap();
    let list = [("b", "1"), ("a", "2"), ("b", "3"), ("c", "")];
    for (k, v) in list {
        will.properties
            .user_properties
            .push(UserProperty::new(k, v).unwrap());
    }
    let x = w.join(client_opts("x").with_will(will));
    w.cut(x);
    let got = w.messages(watcher);
    assert_eq!(got.len(), 1);
    let seen: Vec<(&str, &str)> = got[0]
        .properties
        .user_properties
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(seen, list);
}

#[test]
fn several_filters_in_one_subscribe_or_unsubscribe_act_as_several() {
    // [MQTT-3.8.4-5] one SUBSCRIBE with three filters: one SUBACK, and
    // each filter subscribed as if alone (one at a lower QoS).
    // [MQTT-3.10.4-6] one UNSUBSCRIBE with two of them: one UNSUBACK, and
    // both gone; [MQTT-3.10.4-2] nothing new arrives for them afterwards.
    let mut w = Wired::new();
    let p = w.join(client_opts("pub"));
    let s = w.join(client_opts("sub"));
    let filters = [
        ("a", QoS::ExactlyOnce),
        ("b/+", QoS::AtMostOnce),
        ("c/#", QoS::AtLeastOnce),
    ];
    w.subscribe(
        s,
        Subscribe::new(
            1,
            filters
                .iter()
                .map(|(f, q)| SubscribeFilter::new(f, SubscriptionOptions::new(*q)).unwrap())
                .collect(),
        ),
    );
    assert_eq!(
        w.acks(s),
        vec![vec![
            ReasonCode::GrantedQoS2,
            ReasonCode::Success,
            ReasonCode::GrantedQoS1
        ]]
    );
    for topic in ["a", "b/x", "c/y/z"] {
        w.publish(p, msg(topic, topic.as_bytes(), QoS::ExactlyOnce));
    }
    let got = w.messages(s);
    let seen: Vec<(&str, QoS)> = got.iter().map(|m| (m.topic.as_str(), m.qos)).collect();
    assert_eq!(
        seen,
        vec![
            ("a", QoS::ExactlyOnce),
            ("b/x", QoS::AtMostOnce),
            ("c/y/z", QoS::AtLeastOnce)
        ]
    );
    w.clients[s]
        .0
        .unsubscribe(w.now, Unsubscribe::new(0, vec![s_("a"), s_("c/#")]))
        .unwrap();
    w.settle();
    assert_eq!(
        w.acks(s)[1..],
        [vec![ReasonCode::Success, ReasonCode::Success]]
    );
    for topic in ["a", "b/x", "c/y/z"] {
        w.publish(p, msg(topic, topic.as_bytes(), QoS::AtLeastOnce));
    }
    assert_eq!(payloads(&w.messages(s)), vec![&b"b/x"[..]]);
}

fn s_(text: &str) -> MqttString {
    MqttString::try_from(text).unwrap()
}

#[test]
fn subscribing_again_resends_retained_messages_and_loses_nothing() {
    // [MQTT-3.8.4-4] a SUBSCRIBE for a filter the session already has
    // replaces the subscription: with Retain Handling 0 the retained
    // message comes again, and messages keep flowing once, not twice or
    // not at all.
    let mut w = Wired::new();
    let p = w.join(client_opts("pub"));
    w.publish(p, msg("t", b"retained", QoS::AtLeastOnce).with_retain(true));
    let s = w.join(client_opts("sub"));
    w.subscribe(s, sub_to(1, "t", QoS::AtLeastOnce));
    assert_eq!(payloads(&w.messages(s)), vec![&b"retained"[..]]);
    w.publish(p, msg("t", b"one", QoS::AtLeastOnce));
    w.subscribe(s, sub_to(2, "t", QoS::ExactlyOnce));
    w.publish(p, msg("t", b"two", QoS::ExactlyOnce));
    let got = w.messages(s);
    assert_eq!(
        payloads(&got),
        vec![&b"one"[..], b"retained", b"two"],
        "{got:?}"
    );
    assert!(got[1].retain);
    assert_eq!(got[2].qos, QoS::ExactlyOnce, "the new subscription's QoS");
    assert_eq!(w.broker.subscriptions().len(), 1);
}

#[test]
fn one_publishers_messages_arrive_in_order() {
    // [MQTT-4.6.0-5] [MQTT-4.6.0-6] every topic is an Ordered Topic for a
    // non-shared subscription: 40 messages from one client on one topic,
    // at QoS 1 and at QoS 2, reach the subscriber in the order sent, also
    // through a window of 3 unacknowledged messages and a cut with the
    // session kept.
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut w = Wired::new();
        let s = w.join(
            client_opts("sub")
                .with_receive_maximum(3)
                .with_clean_start(false)
                .with_session_expiry_interval(60),
        );
        w.subscribe(s, sub_to(1, "o", QoS::ExactlyOnce));
        let p = w.join(client_opts("pub").with_max_inflight(5));
        for i in 0..40u8 {
            if i == 20 {
                w.cut(s);
            }
            w.clients[p].0.publish(w.now, msg("o", &[i], qos)).unwrap();
            if i % 7 == 0 {
                w.settle();
            }
        }
        w.settle();
        let conn = w.broker.connection_opened(w.now);
        w.clients[s].1 = Some(conn);
        w.clients[s].0.connect(w.now).unwrap();
        w.settle();
        let got: Vec<u8> = w.messages(s).iter().map(|m| m.payload[0]).collect();
        let want: Vec<u8> = (0..40).collect();
        assert_eq!(got, want, "{qos:?}");
    }
}

#[test]
fn a_shared_subscriber_gets_no_more_than_its_granted_qos() {
    // [MQTT-4.8.2-3] the members of a shared subscription receive at the
    // QoS each was granted, whatever the published QoS.
    let mut w = Wired::new();
    let a = w.join(client_opts("a"));
    let b = w.join(client_opts("b"));
    w.subscribe(a, sub_to(1, "$share/g/s", QoS::AtMostOnce));
    w.subscribe(b, sub_to(1, "$share/g/s", QoS::AtLeastOnce));
    let p = w.join(client_opts("pub"));
    for i in 0..6u8 {
        w.publish(p, msg("s", &[i], QoS::ExactlyOnce));
    }
    let ma = w.messages(a);
    let mb = w.messages(b);
    assert_eq!(ma.len() + mb.len(), 6);
    assert!(!ma.is_empty() && !mb.is_empty(), "{ma:?} {mb:?}");
    assert!(ma.iter().all(|m| m.qos == QoS::AtMostOnce), "{ma:?}");
    assert!(mb.iter().all(|m| m.qos == QoS::AtLeastOnce), "{mb:?}");
}

#[test]
fn separate_copies_each_carry_their_own_subscription_identifier() {
    // [MQTT-3.3.4-5] a client with a shared and an ordinary subscription
    // matching one message gets one copy for each, and each copy carries
    // the Subscription Identifier of its own subscription only.
    let mut w = Wired::new();
    let a = w.join(client_opts("a"));
    w.subscribe(
        a,
        sub_to(1, "$share/g/t", QoS::AtLeastOnce).with_subscription_identifier(11),
    );
    w.subscribe(
        a,
        sub_to(2, "t", QoS::AtLeastOnce).with_subscription_identifier(22),
    );
    let p = w.join(client_opts("pub"));
    w.publish(p, msg("t", b"m", QoS::AtLeastOnce));
    let mut ids: Vec<Vec<u32>> = w
        .messages(a)
        .iter()
        .map(|m| m.properties.subscription_identifiers.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![vec![11], vec![22]]);
}

impl Wired {
    /// Client `i`'s messages since the last call, with their tokens.
    fn tokened(&mut self, i: usize) -> Vec<(Publish, Option<mqtt_core::client::AckToken>)> {
        let events = std::mem::take(&mut self.clients[i].2);
        let mut out = Vec::new();
        for e in events {
            match e {
                Event::Message(m) => out.push((m.publish, m.ack_token)),
                other => self.clients[i].2.push(other),
            }
        }
        out
    }

    /// The packets the broker sent client `i` since the last call.
    fn packets_to(&mut self, i: usize) -> Vec<Packet> {
        let bytes = std::mem::take(&mut self.received[i]);
        let mut d = mqtt_core::codec::Decoder::new(mqtt_core::codec::DecodeOptions::new(V5));
        d.feed(&bytes);
        std::iter::from_fn(|| d.next_packet().expect("valid packets")).collect()
    }

    /// Opens a new transport for client `i` and connects it again.
    fn reconnect(&mut self, i: usize) {
        let conn = self.broker.connection_opened(self.now);
        self.clients[i].1 = Some(conn);
        self.clients[i].0.connect(self.now).unwrap();
        self.settle();
    }
}

/// Two members `a` (manual acknowledgement, session expiry `expiry`) and
/// `b` of "$share/g/s" and a publisher; publishes QoS 2 messages until
/// one reaches `a`, whose acknowledgement `a` holds. Returns the net, the
/// indexes (a, b, publisher), that message's payload and its token.
fn shared_with_a_held_qos2(
    expiry: u32,
) -> (
    Wired,
    usize,
    usize,
    usize,
    Vec<u8>,
    mqtt_core::client::AckToken,
) {
    let mut w = Wired::new();
    let a = w.join(
        client_opts("a")
            .with_manual_ack(true)
            .with_clean_start(false)
            .with_session_expiry_interval(expiry),
    );
    let b = w.join(client_opts("b"));
    w.subscribe(a, sub_to(1, "$share/g/s", QoS::ExactlyOnce));
    w.subscribe(b, sub_to(1, "$share/g/s", QoS::ExactlyOnce));
    let _ = w.tokened(a);
    let p = w.join(client_opts("pub"));
    for i in 0..4u8 {
        w.publish(p, msg("s", &[i], QoS::ExactlyOnce));
        if let Some((m, token)) = w.tokened(a).pop() {
            return (w, a, b, p, m.payload.to_vec(), token.expect("manual ack"));
        }
    }
    panic!("no message reached a");
}

#[test]
fn a_shared_qos2_delivery_cut_midway_is_completed_to_the_same_client() {
    // [MQTT-4.8.2-4] the connection of the member chosen for a QoS 2
    // message breaks before the exchange ends: the message goes to that
    // member again when it reconnects, and to no other member.
    let (mut w, a, b, _, payload, token) = shared_with_a_held_qos2(60);
    let before: Vec<Vec<u8>> = w.messages(b).iter().map(|m| m.payload.to_vec()).collect();
    assert!(!before.contains(&payload));
    let _ = w.packets_to(a);
    w.cut(a);
    assert!(w.messages(b).is_empty(), "nothing for b while a is away");
    w.reconnect(a);
    // The broker sends it to a again (DUP 1, same packet identifier) ...
    let resent: Vec<Publish> = w
        .packets_to(a)
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(resent.len(), 1, "{resent:?}");
    assert!(resent[0].dup);
    assert_eq!(resent[0].payload.as_ref(), &payload[..]);
    // ... the client, which kept the exchange, does not deliver it twice;
    // its acknowledgement now completes the exchange: PUBREL comes.
    let again = w.tokened(a);
    assert!(
        again.iter().all(|(m, _)| m.payload.as_ref() != payload),
        "{again:?}"
    );
    w.clients[a].0.acknowledge(w.now, token).unwrap();
    w.settle();
    let after = w.packets_to(a);
    assert!(
        matches!(after[..], [Packet::PubRel(ref r)] if r.packet_id == resent[0].packet_id
            && r.reason_code == ReasonCode::Success),
        "{after:?}"
    );
    assert!(w.messages(b).is_empty());
}

#[test]
fn a_shared_message_of_an_ended_session_goes_to_no_other_member() {
    // [MQTT-4.8.2-5] the chosen member's session ends (Session Expiry 0)
    // before it comes back: the message it was being sent is not passed
    // on to the other member.
    let (mut w, a, b, _, payload, _) = shared_with_a_held_qos2(0);
    let _ = w.messages(b);
    w.cut(a);
    assert_eq!(w.broker.session_count(), 2, "a's session ended");
    let got: Vec<Vec<u8>> = w.messages(b).iter().map(|m| m.payload.to_vec()).collect();
    assert!(!got.contains(&payload), "{got:?}");
}

#[test]
fn a_shared_message_refused_by_its_member_goes_to_no_other() {
    // [MQTT-4.8.2-6] a member answers a shared message with PUBACK 0x80:
    // the server drops the message; the other member never gets it.
    let mut w = Wired::new();
    let b = w.join(client_opts("b"));
    // Member "r" is driven by hand: CONNECT, then SUBSCRIBE
    // "$share/g/s" at QoS 1.
    let r = w.broker.connection_opened(w.now);
    w.broker
        .handle_input(r, w.now, &connect_bytes(0, "00 01 72"));
    w.settle();
    w.broker.handle_input(
        r,
        w.now,
        &hex("82 10 00 01 00 00 0A 24 73 68 61 72 65 2F 67 2F 73 01"),
    );
    w.subscribe(b, sub_to(1, "$share/g/s", QoS::AtLeastOnce));
    let p = w.join(client_opts("pub"));
    let mut decoder = mqtt_core::codec::Decoder::new(mqtt_core::codec::DecodeOptions::new(V5));
    let mut refused = None;
    for i in 0..4u8 {
        w.publish(p, msg("s", &[i], QoS::AtLeastOnce));
        for (_, bytes) in std::mem::take(&mut w.raw) {
            decoder.feed(&bytes);
        }
        while let Some(packet) = decoder.next_packet().unwrap() {
            if let Packet::Publish(m) = packet {
                refused = Some((m.packet_id, m.payload.to_vec()));
            }
        }
        if refused.is_some() {
            break;
        }
    }
    let (id, payload) = refused.expect("a message reached r");
    let mut puback = vec![0x40, 0x03];
    puback.extend(id.to_be_bytes());
    puback.push(0x80);
    w.broker.handle_input(r, w.now, &puback);
    w.settle();
    for i in 10..14u8 {
        w.publish(p, msg("s", &[i], QoS::AtLeastOnce));
    }
    let got: Vec<Vec<u8>> = w.messages(b).iter().map(|m| m.payload.to_vec()).collect();
    assert!(!got.contains(&payload), "{got:?}");
    assert!(
        got.contains(&vec![10]) || got.contains(&vec![11]),
        "b still gets its share: {got:?}"
    );
    // r is still connected and was not sent the refused message again.
    for (_, bytes) in std::mem::take(&mut w.raw) {
        decoder.feed(&bytes);
    }
    while let Some(packet) = decoder.next_packet().unwrap() {
        assert!(
            !matches!(&packet, Packet::Publish(m) if m.payload.as_ref() == &payload[..]),
            "{packet:?}"
        );
        assert!(!matches!(packet, Packet::Disconnect(_)), "{packet:?}");
    }
}

#[test]
fn an_unsubscribe_finishes_deliveries_already_started() {
    // [MQTT-3.10.4-3] a QoS 2 message is on its way to the subscriber
    // (its PUBREC held by the application) when it unsubscribes: the
    // exchange still completes (PUBREL 0x00, not 0x92), and
    // [MQTT-3.10.4-2] nothing new comes for the filter afterwards.
    let mut w = Wired::new();
    let s = w.join(client_opts("s").with_manual_ack(true));
    w.subscribe(s, sub_to(1, "u", QoS::ExactlyOnce));
    let p = w.join(client_opts("pub"));
    w.publish(p, msg("u", b"started", QoS::ExactlyOnce));
    let got = w.tokened(s);
    assert_eq!(got.len(), 1);
    let token = got[0].1.expect("manual ack");
    let id = got[0].0.packet_id;
    let _ = w.packets_to(s);
    w.clients[s]
        .0
        .unsubscribe(w.now, Unsubscribe::new(0, vec![s_("u")]))
        .unwrap();
    w.settle();
    assert_eq!(w.acks(s).last(), Some(&vec![ReasonCode::Success]));
    w.publish(p, msg("u", b"after", QoS::ExactlyOnce));
    w.clients[s].0.acknowledge(w.now, token).unwrap();
    w.settle();
    let after: Vec<Packet> = w
        .packets_to(s)
        .into_iter()
        .filter(|p| !matches!(p, Packet::UnsubAck(_)))
        .collect();
    assert_eq!(
        after,
        vec![Packet::PubRel(mqtt_core::codec::PubRel::new(id))]
    );
    assert!(w.tokened(s).is_empty());
}

#[test]
fn a_session_lives_as_long_as_its_connection() {
    // [MQTT-4.1.0-1] a session with a Session Expiry Interval of 1 s
    // stays while its connection is open, however long (10 minutes of
    // virtual time, the broker's timers running); [MQTT-4.1.0-2] once the
    // connection is gone it ends after the interval.
    let mut w = Wired::new();
    let s = w.join(
        client_opts("s")
            .with_clean_start(false)
            .with_session_expiry_interval(1)
            .with_keep_alive(30),
    );
    w.subscribe(s, sub_to(1, "k", QoS::AtLeastOnce));
    let p = w.join(client_opts("pub").with_keep_alive(30));
    for _ in 0..600 {
        w.now += 1_000;
        for (client, _, _) in &mut w.clients {
            client.handle_timeout(w.now);
        }
        w.broker.handle_timeout(w.now);
        w.settle();
    }
    assert_eq!(w.broker.session_count(), 2);
    w.publish(p, msg("k", b"still here", QoS::AtLeastOnce));
    assert_eq!(payloads(&w.messages(s)), vec![&b"still here"[..]]);
    w.cut(s);
    w.now += 1_001;
    w.broker.handle_timeout(w.now);
    w.settle();
    assert_eq!(w.broker.session_count(), 1);
}

#[test]
fn the_broker_forwards_message_properties_unaltered() {
    // [MQTT-3.3.2-4] Payload Format Indicator, [MQTT-3.3.2-15] Response
    // Topic, [MQTT-3.3.2-16] Correlation Data, [MQTT-3.3.2-17] every User
    // Property, [MQTT-3.3.2-18] in order, and [MQTT-3.3.2-20] Content Type
    // reach the subscriber as the publisher sent them, through the broker.
    let mut w = Wired::new();
    let s = w.join(client_opts("s"));
    w.subscribe(s, sub_to(1, "p/#", QoS::AtLeastOnce));
    let p = w.join(client_opts("pub"));
    let mut m = msg("p/x", "héllo".as_bytes(), QoS::AtLeastOnce);
    m.properties.payload_format_indicator = Some(true);
    m.properties.response_topic = Some(s_("reply/here"));
    m.properties.correlation_data = Some(bytes::Bytes::from_static(&[0, 1, 2, 0xFF]));
    m.properties.content_type = Some(s_("text/plain; charset=utf-8"));
    for (k, v) in [("z", "1"), ("a", "2"), ("z", "3")] {
        m.properties
            .user_properties
            .push(UserProperty::new(k, v).unwrap());
    }
    w.publish(p, m.clone());
    let got = w.messages(s);
    assert_eq!(got.len(), 1);
    let q = &got[0].properties;
    assert_eq!(q.payload_format_indicator, Some(true));
    assert_eq!(q.response_topic, m.properties.response_topic);
    assert_eq!(q.correlation_data, m.properties.correlation_data);
    assert_eq!(q.content_type, m.properties.content_type);
    assert_eq!(q.user_properties, m.properties.user_properties);
}

#[test]
fn a_qos2_message_already_sent_is_not_expired() {
    // [MQTT-4.3.3-7] a QoS 2 message with a Message Expiry Interval of
    // 5 s has gone out to the subscriber, whose PUBREC is held; the
    // subscriber is away for a minute: on its return the message is sent
    // again (DUP) rather than expired, and the exchange completes.
    let mut w = Wired::new();
    let s = w.join(
        client_opts("s")
            .with_manual_ack(true)
            .with_clean_start(false)
            .with_session_expiry_interval(600),
    );
    w.subscribe(s, sub_to(1, "e", QoS::ExactlyOnce));
    let p = w.join(client_opts("pub"));
    let mut m = msg("e", b"short-lived", QoS::ExactlyOnce);
    m.properties.message_expiry_interval = Some(5);
    w.publish(p, m);
    let got = w.tokened(s);
    assert_eq!(got.len(), 1);
    let token = got[0].1.expect("manual ack");
    let _ = w.packets_to(s);
    w.cut(s);
    w.now += 60_000;
    w.broker.handle_timeout(w.now);
    w.settle();
    w.reconnect(s);
    let resent: Vec<Publish> = w
        .packets_to(s)
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(resent.len(), 1, "{resent:?}");
    assert!(resent[0].dup);
    assert_eq!(resent[0].payload.as_ref(), b"short-lived");
    w.clients[s].0.acknowledge(w.now, token).unwrap();
    w.settle();
    assert!(
        matches!(&w.packets_to(s)[..], [Packet::PubRel(r)] if r.reason_code == ReasonCode::Success)
    );
}

#[test]
fn the_server_finishes_a_qos2_exchange_after_the_message_expired() {
    // [MQTT-4.3.3-13] the server received a QoS 2 message with a Message
    // Expiry Interval of 1 s; the PUBREL comes 10 s later: it is still
    // answered with PUBCOMP 0x00.
    let mut w = Wired::new();
    let p = w.join(client_opts("pub"));
    let mut m = msg("e", b"x", QoS::ExactlyOnce);
    m.properties.message_expiry_interval = Some(1);
    w.clients[p].0.publish(w.now, m).unwrap();
    // Deliver the PUBLISH, hold the PUBREC for 10 s.
    let conn = w.clients[p].1.unwrap();
    let out = w.clients[p].0.take_transmit();
    w.broker.handle_input(conn, w.now, &out);
    let mut held = Vec::new();
    while let Some((_, bytes)) = w.broker.poll_output() {
        held.extend_from_slice(&bytes);
    }
    assert!(!held.is_empty(), "PUBREC");
    w.now += 10_000;
    w.broker.handle_timeout(w.now);
    w.clients[p].0.handle_input(w.now, &held);
    w.settle();
    let completions: Vec<ReasonCode> = w.clients[p]
        .2
        .iter()
        .filter_map(|e| match e {
            Event::PublishCompleted { reason_code, .. } => Some(*reason_code),
            _ => None,
        })
        .collect();
    assert_eq!(completions, vec![ReasonCode::Success]);
    assert_eq!(
        w.packets_to(p).last(),
        Some(&Packet::PubComp(mqtt_core::codec::PubComp::new(1)))
    );
}

#[test]
fn unsubscribe_removes_only_the_identical_filter_and_is_always_answered() {
    // [MQTT-3.10.4-1] UNSUBSCRIBE filters are compared character by
    // character: "a/+" and "A/#" do not remove "a/#"; "a/#" does.
    // [MQTT-3.10.4-5] every UNSUBSCRIBE gets its UNSUBACK, also when it
    // deleted nothing (0x11 No subscription existed).
    let mut w = Wired::new();
    let p = w.join(client_opts("pub"));
    let s = w.join(client_opts("s"));
    w.subscribe(s, sub_to(1, "a/#", QoS::AtLeastOnce));
    for (filter, code) in [
        ("a/+", ReasonCode::NoSubscriptionExisted),
        ("A/#", ReasonCode::NoSubscriptionExisted),
    ] {
        let before = w.acks(s).len();
        w.clients[s]
            .0
            .unsubscribe(w.now, Unsubscribe::new(0, vec![s_(filter)]))
            .unwrap();
        w.settle();
        let acks = w.acks(s);
        assert_eq!(acks.len(), before + 1, "{filter}");
        assert_eq!(acks.last(), Some(&vec![code]), "{filter}");
        w.publish(p, msg("a/x", b"still", QoS::AtLeastOnce));
        assert_eq!(payloads(&w.messages(s)), vec![&b"still"[..]], "{filter}");
    }
    w.clients[s]
        .0
        .unsubscribe(w.now, Unsubscribe::new(0, vec![s_("a/#")]))
        .unwrap();
    w.settle();
    assert_eq!(w.acks(s).last(), Some(&vec![ReasonCode::Success]));
    w.publish(p, msg("a/x", b"gone", QoS::AtLeastOnce));
    assert!(w.messages(s).is_empty());
}
