//! Scripted-peer tests of the client's session: the offline queue and its
//! bound, session resume after a cut (Session Present 1) and session loss
//! (Session Present 0), subscriptions and their acknowledgements, message
//! expiry while queued, and persistence of the session across a restart of
//! the program. The test plays the server packet by packet ([`Scripted`])
//! and checks the exact packets and events, for MQTT 3.1.1 and 5.0.
//!
//! Normative statement ids are those of MQTT 5.0 unless marked 3.1.1.

use mqtt_core::client::{
    ClientError, ClientOptions, ConnectionState, DisconnectReason, DropReason, Event, Message,
    ProtocolViolation, PublishId, QueueFullPolicy, SessionLostPolicy, SessionState, StoredOutgoing,
    Subscription,
};
use mqtt_core::codec::{
    AckProperties, ConnAck, ConnAckProperties, Disconnect, MqttString, Packet, PacketType,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS, ReasonCode, RetainHandling,
    SubAck, Subscribe, SubscribeFilter, SubscriptionOptions, UnsubAck, Unsubscribe,
};
use mqtt_tests::scripted::Scripted;
use proptest::prelude::*;

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];

// ----- helpers ---------------------------------------------------------------

fn options(version: ProtocolVersion) -> ClientOptions {
    ClientOptions::new(version, "test").expect("valid options")
}

/// Options for a session that survives the connection: Clean Session 0 in
/// 3.1.1; a Session Expiry Interval in 5.0 (later connections send Clean
/// Start 0 by themselves).
fn lasting(version: ProtocolVersion) -> ClientOptions {
    match version {
        ProtocolVersion::V311 => options(version).with_clean_start(false),
        _ => options(version).with_session_expiry_interval(3600),
    }
}

fn connected(options: ClientOptions) -> Scripted {
    let mut s = Scripted::new(options);
    s.connect_ok(false);
    s
}

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

/// Cuts the transport and checks the event.
fn cut(s: &mut Scripted) {
    s.client.handle_transport_closed(s.now);
    assert_eq!(
        s.events(),
        vec![Event::Disconnected(DisconnectReason::TransportClosed)]
    );
    assert_eq!(s.sent(), vec![], "nothing to send on a closed transport");
}

/// Reconnects: checks CONNECT's Clean Start, answers CONNACK with Session
/// Present as given and checks the Connected event; returns the events
/// after it.
fn reconnect(s: &mut Scripted, clean_start: bool, session_present: bool) -> Vec<Event> {
    s.connect();
    match s.sent_one() {
        Packet::Connect(c) => assert_eq!(c.clean_start, clean_start, "Clean Start"),
        other => panic!("expected CONNECT, got {other:?}"),
    }
    s.server_sends(ConnAck::new(session_present, ReasonCode::Success));
    let mut events = s.events();
    match events.first() {
        Some(Event::Connected(c)) => assert_eq!(c.session_present, session_present),
        other => panic!("expected Connected, got {other:?}"),
    }
    events.remove(0);
    events
}

fn message(topic: &str, payload: &'static [u8], qos: QoS) -> Publish {
    Publish::new(topic, payload)
        .expect("valid topic")
        .with_qos(qos, 0)
}

fn wire(topic: &str, payload: &'static [u8], qos: QoS, packet_id: u16, dup: bool) -> Packet {
    let mut p = Publish::new(topic, payload)
        .expect("valid topic")
        .with_qos(qos, packet_id);
    p.dup = dup;
    Packet::Publish(p)
}

fn completed(id: u64, reason_code: ReasonCode) -> Event {
    Event::PublishCompleted {
        id: PublishId(id),
        reason_code,
        properties: AckProperties::default(),
    }
}

fn dropped(id: u64, reason: DropReason) -> Event {
    Event::PublishDropped {
        id: PublishId(id),
        reason,
    }
}

fn requeued(old: u64, new: u64) -> Event {
    Event::PublishRequeued {
        old: PublishId(old),
        new: PublishId(new),
    }
}

fn filter(f: &str, options: SubscriptionOptions) -> SubscribeFilter {
    SubscribeFilter::new(f, options).expect("valid filter")
}

fn subscribed(packet_id: u16, reason_codes: Vec<ReasonCode>) -> Event {
    Event::Subscribed {
        packet_id,
        reason_codes,
        properties: AckProperties::default(),
    }
}

/// The message expiry interval of a sent PUBLISH.
fn expiry_of(p: &Packet) -> Option<u32> {
    match p {
        Packet::Publish(p) => p.properties.message_expiry_interval,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

// ----- the offline queue -----------------------------------------------------

/// Publishes, subscribes and unsubscribes given while disconnected (or
/// while waiting for CONNACK) are queued and go out after CONNACK, in the
/// order they were given, with the identifiers returned at once.
#[test]
fn commands_given_while_disconnected_go_out_after_the_next_connack_in_order() {
    for v in BOTH {
        let mut s = Scripted::new(options(v));
        let c = &mut s.client;
        assert_eq!(
            c.publish(0, message("t", b"1", QoS::AtLeastOnce)),
            Ok(PublishId(1))
        );
        assert_eq!(
            c.subscribe(0, Subscribe::single(0, "f", QoS::AtLeastOnce).unwrap()),
            Ok(2)
        );
        assert_eq!(
            c.publish(0, message("t", b"2", QoS::ExactlyOnce)),
            Ok(PublishId(3))
        );
        assert_eq!(
            c.unsubscribe(0, Unsubscribe::single(0, "g").unwrap()),
            Ok(4)
        );
        assert_eq!(c.stats().queued, 4);
        assert_eq!(
            s.sent(),
            vec![],
            "{v:?}: nothing goes out while disconnected"
        );

        s.connect();
        assert!(matches!(s.sent_one(), Packet::Connect(_)), "CONNECT alone");
        // Still connecting: queued too.
        assert_eq!(
            s.client
                .publish(s.now, message("t", b"3", QoS::AtLeastOnce)),
            Ok(PublishId(5))
        );
        assert_eq!(
            s.sent(),
            vec![],
            "held until CONNACK (a choice: the spec allows sending earlier)"
        );

        s.server_sends(ConnAck::new(false, ReasonCode::Success));
        assert_eq!(
            s.sent(),
            vec![
                wire("t", b"1", QoS::AtLeastOnce, 1, false),
                Packet::Subscribe(Subscribe::single(2, "f", QoS::AtLeastOnce).unwrap()),
                wire("t", b"2", QoS::ExactlyOnce, 3, false),
                Packet::Unsubscribe(Unsubscribe::single(4, "g").unwrap()),
                wire("t", b"3", QoS::AtLeastOnce, 5, false),
            ],
            "{v:?}"
        );
        assert_eq!(s.client.stats().queued, 0);
        assert_eq!(s.client.stats().inflight, 3);
    }
}

/// QoS 0 is not queued offline unless `queue_qos0_offline`: refused with
/// `NotConnected`, also while waiting for CONNACK.
#[test]
fn a_qos0_publish_while_disconnected_is_refused_unless_queue_qos0_offline() {
    for v in BOTH {
        let mut s = Scripted::new(options(v));
        assert_eq!(
            s.client.publish(0, message("t", b"0", QoS::AtMostOnce)),
            Err(ClientError::NotConnected)
        );
        s.connect();
        let _ = s.sent();
        assert_eq!(
            s.client.publish(0, message("t", b"0", QoS::AtMostOnce)),
            Err(ClientError::NotConnected),
            "{v:?}: connecting is not connected"
        );

        let mut s = Scripted::new(options(v).with_queue_qos0_offline(true));
        let id = s
            .client
            .publish(0, message("t", b"0", QoS::AtMostOnce))
            .unwrap();
        assert!(id.0 > 65_535 && id.packet_id().is_none());
        assert_eq!(s.client.stats().queued, 1);
        s.connect_ok(false);
        assert_eq!(s.sent(), vec![wire("t", b"0", QoS::AtMostOnce, 0, false)]);
    }
}

/// `QueueFullPolicy::RejectNew`: at the bound, every command is refused
/// with `QueueFull`; nothing queued is lost and no identifier is used.
#[test]
fn a_full_queue_refuses_new_commands_with_queue_full_under_reject_new() {
    for v in BOTH {
        let mut s = Scripted::new(options(v).with_queue(2, QueueFullPolicy::RejectNew));
        s.client
            .publish(0, message("t", b"1", QoS::AtLeastOnce))
            .unwrap();
        s.client
            .subscribe(0, Subscribe::single(0, "f", QoS::AtMostOnce).unwrap())
            .unwrap();
        assert!(!s.client.can_queue());
        assert_eq!(
            s.client.publish(0, message("t", b"2", QoS::AtLeastOnce)),
            Err(ClientError::QueueFull)
        );
        assert_eq!(
            s.client
                .subscribe(0, Subscribe::single(0, "g", QoS::AtMostOnce).unwrap()),
            Err(ClientError::QueueFull)
        );
        assert_eq!(
            s.client
                .unsubscribe(0, Unsubscribe::single(0, "g").unwrap()),
            Err(ClientError::QueueFull)
        );
        assert_eq!(s.events(), vec![]);
        s.connect_ok(false);
        assert_eq!(
            s.sent(),
            vec![
                wire("t", b"1", QoS::AtLeastOnce, 1, false),
                Packet::Subscribe(Subscribe::single(2, "f", QoS::AtMostOnce).unwrap()),
            ],
            "{v:?}"
        );
        assert_eq!(
            s.client
                .publish(s.now, message("t", b"3", QoS::AtLeastOnce)),
            Ok(PublishId(3)),
            "refused commands took no identifier"
        );
    }
}

/// The bound applies while connected too: publishes waiting for the window
/// fill the queue.
#[test]
fn publishes_waiting_for_the_window_count_against_the_queue_bound() {
    let mut s = connected(
        options(V5)
            .with_max_inflight(1)
            .with_queue(1, QueueFullPolicy::RejectNew),
    );
    s.client
        .publish(s.now, message("t", b"1", QoS::AtLeastOnce))
        .unwrap();
    s.client
        .publish(s.now, message("t", b"2", QoS::AtLeastOnce))
        .unwrap();
    assert_eq!(
        s.client
            .publish(s.now, message("t", b"3", QoS::AtLeastOnce)),
        Err(ClientError::QueueFull)
    );
    assert_eq!(s.sent(), vec![wire("t", b"1", QoS::AtLeastOnce, 1, false)]);
    s.server_sends(PubAck::new(1));
    assert_eq!(s.sent(), vec![wire("t", b"2", QoS::AtLeastOnce, 2, false)]);
    assert!(s.client.can_queue());
}

/// `QueueFullPolicy::DropOldest`: the oldest queued publish makes room and
/// is reported with `PublishDropped` / `QueueFull`; it is never sent.
#[test]
fn a_full_queue_drops_the_oldest_publish_under_drop_oldest() {
    for v in BOTH {
        let mut s = Scripted::new(
            options(v)
                .with_queue(2, QueueFullPolicy::DropOldest)
                .with_queue_qos0_offline(true),
        );
        let a = s
            .client
            .publish(0, message("t", b"a", QoS::AtMostOnce))
            .unwrap();
        s.client
            .publish(0, message("t", b"b", QoS::AtLeastOnce))
            .unwrap();
        assert_eq!(s.events(), vec![]);
        s.client
            .publish(0, message("t", b"c", QoS::ExactlyOnce))
            .unwrap();
        assert_eq!(s.events(), vec![dropped(a.0, DropReason::QueueFull)]);
        s.client
            .publish(0, message("t", b"d", QoS::AtLeastOnce))
            .unwrap();
        assert_eq!(s.events(), vec![dropped(1, DropReason::QueueFull)], "{v:?}");
        assert_eq!(s.client.stats().queued, 2);

        s.connect_ok(false);
        assert_eq!(
            s.sent(),
            vec![
                wire("t", b"c", QoS::ExactlyOnce, 2, false),
                wire("t", b"d", QoS::AtLeastOnce, 3, false),
            ]
        );
    }
}

/// Only publishes are dropped to make room: a queue of subscribes refuses
/// even under `DropOldest`.
#[test]
fn drop_oldest_never_drops_a_subscribe_and_refuses_instead() {
    let mut s = Scripted::new(options(V5).with_queue(1, QueueFullPolicy::DropOldest));
    s.client
        .subscribe(0, Subscribe::single(0, "f", QoS::AtMostOnce).unwrap())
        .unwrap();
    assert_eq!(
        s.client.publish(0, message("t", b"x", QoS::AtLeastOnce)),
        Err(ClientError::QueueFull)
    );
    assert_eq!(s.events(), vec![]);
}

/// [MQTT-3.3.4-8] A SUBSCRIBE queued offline behind more publishes than the
/// window holds goes right after CONNACK, not after their acknowledgements.
#[test]
fn a_subscribe_queued_offline_behind_publishes_the_window_holds_goes_after_connack() {
    for v in BOTH {
        let mut s = Scripted::new(options(v).with_max_inflight(1));
        for _ in 0..3 {
            s.client
                .publish(0, message("t", b"m", QoS::AtLeastOnce))
                .unwrap();
        }
        s.client
            .subscribe(0, Subscribe::single(0, "f", QoS::AtLeastOnce).unwrap())
            .unwrap();
        s.connect_ok(false);
        assert_eq!(
            s.sent(),
            vec![
                wire("t", b"m", QoS::AtLeastOnce, 1, false),
                Packet::Subscribe(Subscribe::single(4, "f", QoS::AtLeastOnce).unwrap()),
            ],
            "{v:?}"
        );
        s.server_sends(PubAck::new(1));
        assert_eq!(s.sent(), vec![wire("t", b"m", QoS::AtLeastOnce, 2, false)]);
    }
}

/// Limits learned from CONNACK after a message was queued: above Maximum
/// QoS or retained without Retain Available ([MQTT-3.2.2-11]
/// [MQTT-3.2.2-14]) it is dropped with `NotSupported`; larger than the
/// Maximum Packet Size ([MQTT-3.2.2-15]) with `PacketTooLarge`. Never sent.
#[test]
fn queued_messages_the_server_turns_out_not_to_accept_are_dropped_and_reported() {
    let mut s = Scripted::new(options(V5));
    s.client
        .publish(0, message("t", b"q2", QoS::ExactlyOnce))
        .unwrap();
    s.client
        .publish(0, message("t", b"r", QoS::AtLeastOnce).with_retain(true))
        .unwrap();
    s.client
        .publish(0, message("t", &[0u8; 64], QoS::AtLeastOnce))
        .unwrap();
    s.client
        .publish(0, message("t", b"ok", QoS::AtLeastOnce))
        .unwrap();
    s.connect();
    let _ = s.sent();
    let mut connack = ConnAck::new(false, ReasonCode::Success);
    connack.properties.maximum_qos = Some(QoS::AtLeastOnce);
    connack.properties.retain_available = Some(false);
    connack.properties.maximum_packet_size = Some(32);
    s.server_sends(connack);
    let events = s.events();
    assert!(matches!(events[0], Event::Connected(_)));
    assert_eq!(
        events[1..],
        [
            dropped(1, DropReason::NotSupported),
            dropped(2, DropReason::NotSupported),
            dropped(3, DropReason::PacketTooLarge),
        ]
    );
    assert_eq!(s.sent(), vec![wire("t", b"ok", QoS::AtLeastOnce, 4, false)]);
    assert_eq!(s.client.stats().inflight, 1);
}

// ----- session resume (Session Present 1) --------------------------------------

/// [MQTT-4.4.0-1] On reconnecting with a session present, unacknowledged
/// PUBLISH packets go again with their original identifiers and DUP 1
/// [MQTT-3.3.1-1], and PUBREL for those the server had received (not the
/// PUBLISH again [MQTT-4.3.3-6]), in their original order [MQTT-4.6.0-1].
#[test]
fn after_a_cut_with_session_present_unacknowledged_publishes_go_again_with_dup_and_pubrel_in_order()
{
    for v in BOTH {
        let mut s = connected(lasting(v));
        for (payload, qos) in [
            (b"m1", QoS::AtLeastOnce),
            (b"m2", QoS::ExactlyOnce),
            (b"m3", QoS::ExactlyOnce),
            (b"m4", QoS::AtLeastOnce),
        ] {
            s.client.publish(s.now, message("t", payload, qos)).unwrap();
        }
        let _ = s.sent();
        s.server_sends(PubRec::new(2));
        s.server_sends(PubAck::new(4));
        assert_eq!(s.sent(), vec![Packet::PubRel(PubRel::new(2))]);
        assert_eq!(s.events(), vec![completed(4, ReasonCode::Success)]);

        // Two cuts in a row: the state survives both.
        for _ in 0..2 {
            cut(&mut s);
            s.now += 1000;
            assert_eq!(reconnect(&mut s, false, true), vec![], "{v:?}");
            assert_eq!(
                s.sent(),
                vec![
                    wire("t", b"m1", QoS::AtLeastOnce, 1, true),
                    Packet::PubRel(PubRel::new(2)),
                    wire("t", b"m3", QoS::ExactlyOnce, 3, true),
                ],
                "{v:?}"
            );
            assert_eq!(s.client.stats().inflight, 3);
        }
        assert_eq!(s.client.stats().retransmits, 6);
        assert_eq!(s.client.stats().connections, 3);

        s.server_sends(PubAck::new(1));
        s.server_sends(PubComp::new(2));
        s.server_sends(PubRec::new(3));
        assert_eq!(s.sent(), vec![Packet::PubRel(PubRel::new(3))]);
        s.server_sends(PubComp::new(3));
        assert_eq!(
            s.events(),
            vec![
                completed(1, ReasonCode::Success),
                completed(2, ReasonCode::Success),
                completed(3, ReasonCode::Success),
            ]
        );
        assert_eq!(s.client.stats().inflight, 0);
    }
}

/// The resent messages still take their place in the window: what was
/// queued behind them goes as they are acknowledged.
#[test]
fn after_a_resume_queued_publishes_wait_for_the_resent_ones_in_the_window() {
    let mut s = connected(lasting(V5).with_max_inflight(2));
    for p in [b"1", b"2", b"3"] {
        s.client
            .publish(s.now, message("t", p, QoS::AtLeastOnce))
            .unwrap();
    }
    let _ = s.sent();
    cut(&mut s);
    s.client
        .publish(s.now, message("t", b"4", QoS::AtLeastOnce))
        .unwrap();
    assert_eq!(reconnect(&mut s, false, true), vec![]);
    assert_eq!(
        s.sent(),
        vec![
            wire("t", b"1", QoS::AtLeastOnce, 1, true),
            wire("t", b"2", QoS::AtLeastOnce, 2, true),
        ]
    );
    s.server_sends(PubAck::new(2));
    assert_eq!(s.sent(), vec![wire("t", b"3", QoS::AtLeastOnce, 3, false)]);
    s.server_sends(PubAck::new(1));
    assert_eq!(s.sent(), vec![wire("t", b"4", QoS::AtLeastOnce, 4, false)]);
}

/// A SUBSCRIBE or UNSUBSCRIBE not acknowledged before the cut goes again
/// with its identifier.
#[test]
fn an_unacknowledged_subscribe_goes_again_after_a_resume() {
    for v in BOTH {
        let mut s = connected(lasting(v));
        s.client
            .subscribe(s.now, Subscribe::single(0, "f", QoS::ExactlyOnce).unwrap())
            .unwrap();
        s.client
            .unsubscribe(s.now, Unsubscribe::single(0, "g").unwrap())
            .unwrap();
        let _ = s.sent();
        cut(&mut s);
        assert_eq!(reconnect(&mut s, false, true), vec![]);
        assert_eq!(
            s.sent(),
            vec![
                Packet::Subscribe(Subscribe::single(1, "f", QoS::ExactlyOnce).unwrap()),
                Packet::Unsubscribe(Unsubscribe::single(2, "g").unwrap()),
            ],
            "{v:?}"
        );
        s.server_sends(SubAck::new(1, vec![ReasonCode::GrantedQoS2]));
        assert_eq!(
            s.events(),
            vec![subscribed(1, vec![ReasonCode::GrantedQoS2])]
        );
    }
}

/// [MQTT-4.3.3-10] The inbound QoS 2 state is part of the session: a
/// message received (PUBREC sent) before the cut and sent again after a
/// resume is acknowledged, not delivered twice.
#[test]
fn an_inbound_qos2_message_resent_after_a_resume_is_not_delivered_twice() {
    for v in BOTH {
        let mut s = connected(lasting(v));
        let m = Publish::new("in", &b"x"[..])
            .unwrap()
            .with_qos(QoS::ExactlyOnce, 9);
        s.server_sends(m.clone());
        assert_eq!(s.events().len(), 1);
        assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(9))]);
        cut(&mut s);
        assert_eq!(reconnect(&mut s, false, true), vec![]);
        let mut again = m;
        again.dup = true;
        s.server_sends(again);
        assert_eq!(s.events(), vec![], "{v:?}: delivered twice");
        assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(9))]);
        s.server_sends(PubRel::new(9));
        assert_eq!(s.sent(), vec![Packet::PubComp(PubComp::new(9))]);
    }
}

/// With manual acknowledgement the application's ack outlives the
/// connection for QoS 2: a message acknowledged while disconnected gets its
/// PUBREC when the server sends it again, one not yet acknowledged waits
/// for the application (and is not delivered twice) [MQTT-4.3.3-10]. A
/// QoS 1 token from a closed connection is accepted and does nothing (the
/// server sends that message again).
#[test]
fn manual_acks_of_qos2_messages_carry_over_a_resume() {
    use mqtt_core::client::AckToken;
    for v in BOTH {
        let mut s = connected(lasting(v).with_manual_ack(true));
        let m1 = Publish::new("in", &b"1"[..])
            .unwrap()
            .with_qos(QoS::ExactlyOnce, 1);
        let m2 = Publish::new("in", &b"2"[..])
            .unwrap()
            .with_qos(QoS::ExactlyOnce, 2);
        let m3 = Publish::new("in", &b"3"[..])
            .unwrap()
            .with_qos(QoS::AtLeastOnce, 3);
        for m in [&m1, &m2, &m3] {
            s.server_sends(m.clone());
        }
        assert_eq!(s.events().len(), 3);
        assert_eq!(s.sent(), vec![]);
        cut(&mut s);
        s.client.acknowledge(s.now, AckToken(1)).unwrap();
        s.client.acknowledge(s.now, AckToken(3)).unwrap();
        assert_eq!(reconnect(&mut s, false, true), vec![]);
        assert_eq!(
            s.sent(),
            vec![],
            "{v:?}: acks are not sent on a new connection unasked"
        );

        for m in [&m1, &m2] {
            let mut again = m.clone();
            again.dup = true;
            s.server_sends(again);
        }
        assert_eq!(s.events(), vec![], "{v:?}: nothing delivered twice");
        assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(1))]);
        s.client.acknowledge(s.now, AckToken(2)).unwrap();
        assert_eq!(s.sent(), vec![Packet::PubRec(PubRec::new(2))]);
    }
}

// ----- session loss (Session Present 0) -----------------------------------------

/// With Session Present 0 the server has no state (spec 3.2.2.1.1), so the
/// client's goes too. `SessionLostPolicy::Requeue`: unacknowledged
/// publishes are reported with `PublishRequeued` and sent as new messages
/// (new identifier, DUP 0), ahead of what was queued; one the server had
/// acknowledged with PUBREC is complete.
#[test]
fn when_the_server_lost_the_session_inflight_publishes_are_requeued_as_new_messages() {
    for v in BOTH {
        let mut s = connected(options(v).with_max_inflight(3));
        for (payload, qos) in [
            (b"m1", QoS::AtLeastOnce),
            (b"m2", QoS::ExactlyOnce),
            (b"m3", QoS::ExactlyOnce),
            (b"m4", QoS::AtLeastOnce),
        ] {
            s.client.publish(s.now, message("t", payload, qos)).unwrap();
        }
        let _ = s.sent();
        s.server_sends(PubRec::new(2));
        let _ = s.sent();
        cut(&mut s);
        let clean_start = v == V3; // 5.0 asks for the session back
        assert_eq!(
            reconnect(&mut s, clean_start, false),
            vec![
                requeued(1, 5),
                completed(2, ReasonCode::Success),
                requeued(3, 6),
            ],
            "{v:?}"
        );
        assert_eq!(
            s.sent(),
            vec![
                wire("t", b"m1", QoS::AtLeastOnce, 5, false),
                wire("t", b"m3", QoS::ExactlyOnce, 6, false),
                wire("t", b"m4", QoS::AtLeastOnce, 4, false),
            ]
        );
        s.server_sends(PubAck::new(5));
        assert_eq!(s.events(), vec![completed(5, ReasonCode::Success)]);
        // The old identifiers are free; an ack for one is unknown now.
        s.server_sends(PubAck::new(1));
        assert!(matches!(
            s.events()[..],
            [Event::Disconnected(DisconnectReason::ProtocolViolation(
                ProtocolViolation::UnknownPacketId { packet_id: 1, .. }
            ))]
        ));
    }
}

/// `SessionLostPolicy::Drop`: each unacknowledged publish is reported with
/// `PublishDropped` / `SessionLost` and never sent; queued ones still go.
#[test]
fn when_the_server_lost_the_session_the_drop_policy_drops_inflight_publishes() {
    for v in BOTH {
        let mut s = connected(
            options(v)
                .with_max_inflight(3)
                .with_session_lost(SessionLostPolicy::Drop),
        );
        for (payload, qos) in [
            (b"m1", QoS::AtLeastOnce),
            (b"m2", QoS::ExactlyOnce),
            (b"m3", QoS::ExactlyOnce),
            (b"m4", QoS::AtLeastOnce),
        ] {
            s.client.publish(s.now, message("t", payload, qos)).unwrap();
        }
        let _ = s.sent();
        s.server_sends(PubRec::new(2));
        let _ = s.sent();
        cut(&mut s);
        assert_eq!(
            reconnect(&mut s, v == V3, false),
            vec![
                dropped(1, DropReason::SessionLost),
                completed(2, ReasonCode::Success),
                dropped(3, DropReason::SessionLost),
            ],
            "{v:?}"
        );
        assert_eq!(s.sent(), vec![wire("t", b"m4", QoS::AtLeastOnce, 4, false)]);
        assert_eq!(s.client.stats().inflight, 1);
    }
}

/// With the session lost, received QoS 2 state goes too: the same
/// identifier is a new message, and a PUBREL for it is unknown (0x92).
#[test]
fn when_the_server_lost_the_session_inbound_qos2_state_is_forgotten() {
    let mut s = connected(options(V5));
    let m = Publish::new("in", &b"x"[..])
        .unwrap()
        .with_qos(QoS::ExactlyOnce, 9);
    s.server_sends(m.clone());
    let _ = s.events();
    let _ = s.sent();
    cut(&mut s);
    assert_eq!(reconnect(&mut s, false, false), vec![]);
    s.server_sends(PubRel::new(9));
    assert_eq!(
        s.sent(),
        vec![Packet::PubComp(
            PubComp::new(9).with_reason_code(ReasonCode::PacketIdentifierNotFound)
        )]
    );
    s.server_sends(m.clone());
    assert_eq!(
        s.events(),
        vec![Event::Message(Message {
            publish: m,
            ack_token: None
        })]
    );
}

/// When the session is lost the subscriptions held (acknowledged by SUBACK,
/// refused ones not) are made again first, with their options and
/// Subscription Identifiers, before anything queued; not with the option
/// off, nor when the session is present.
#[test]
fn held_subscriptions_are_made_again_when_the_session_was_lost() {
    let nl = SubscriptionOptions::new(QoS::AtLeastOnce).with_no_local(true);
    let q2 = SubscriptionOptions::new(QoS::ExactlyOnce);
    let q0 = SubscriptionOptions::new(QoS::AtMostOnce);
    let setup = |opts: ClientOptions| {
        let mut s = connected(opts);
        let mut a = Subscribe::new(0, vec![filter("a/+", nl), filter("b", q2)]);
        a.properties.subscription_identifier = Some(7);
        s.client.subscribe(s.now, a).unwrap();
        s.client
            .subscribe(s.now, Subscribe::new(0, vec![filter("c", q0)]))
            .unwrap();
        s.client
            .subscribe(
                s.now,
                Subscribe::new(0, vec![filter("d", q0)]).with_subscription_identifier(8),
            )
            .unwrap();
        let _ = s.sent();
        s.server_sends(SubAck::new(
            1,
            vec![ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2],
        ));
        s.server_sends(SubAck::new(2, vec![ReasonCode::GRANTED_QOS_0]));
        s.server_sends(SubAck::new(3, vec![ReasonCode::NotAuthorized]));
        let _ = s.events();
        assert_eq!(
            s.client.subscriptions(),
            &[
                Subscription {
                    filter: filter("a/+", nl),
                    subscription_identifier: Some(7)
                },
                Subscription {
                    filter: filter("b", q2),
                    subscription_identifier: Some(7)
                },
                Subscription {
                    filter: filter("c", q0),
                    subscription_identifier: None
                },
            ]
        );
        cut(&mut s);
        s.client
            .publish(s.now, message("t", b"m", QoS::AtLeastOnce))
            .unwrap();
        s
    };

    let mut s = setup(options(V5));
    assert_eq!(reconnect(&mut s, false, false), vec![]);
    let mut first = Subscribe::new(5, vec![filter("a/+", nl), filter("b", q2)]);
    first.properties.subscription_identifier = Some(7);
    assert_eq!(
        s.sent(),
        vec![
            Packet::Subscribe(first),
            Packet::Subscribe(Subscribe::new(6, vec![filter("c", q0)])),
            wire("t", b"m", QoS::AtLeastOnce, 4, false),
        ]
    );
    s.server_sends(SubAck::new(
        5,
        vec![ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2],
    ));
    s.server_sends(SubAck::new(6, vec![ReasonCode::GRANTED_QOS_0]));
    assert_eq!(s.client.subscriptions().len(), 3, "held as before");

    let mut s = setup(options(V5).with_resubscribe_on_session_lost(false));
    assert_eq!(reconnect(&mut s, false, false), vec![]);
    assert_eq!(s.sent(), vec![wire("t", b"m", QoS::AtLeastOnce, 4, false)]);

    let mut s = setup(lasting(V5));
    assert_eq!(reconnect(&mut s, false, true), vec![]);
    assert_eq!(
        s.sent(),
        vec![wire("t", b"m", QoS::AtLeastOnce, 4, false)],
        "the server kept them"
    );
}

/// 3.1.1: the held subscriptions are made again in one SUBSCRIBE.
#[test]
fn held_subscriptions_are_made_again_in_3_1_1_when_the_session_was_lost() {
    let mut s = connected(options(V3));
    s.client
        .subscribe(
            s.now,
            Subscribe::new(
                0,
                vec![
                    filter("a/#", SubscriptionOptions::new(QoS::AtLeastOnce)),
                    filter("b", SubscriptionOptions::new(QoS::ExactlyOnce)),
                ],
            ),
        )
        .unwrap();
    let _ = s.sent();
    s.server_sends(SubAck::new(
        1,
        vec![ReasonCode::GrantedQoS1, ReasonCode::UnspecifiedError],
    ));
    let _ = s.events();
    cut(&mut s);
    assert_eq!(reconnect(&mut s, true, false), vec![]);
    assert_eq!(
        s.sent(),
        vec![Packet::Subscribe(
            Subscribe::single(2, "a/#", QoS::AtLeastOnce).unwrap()
        )],
        "only the granted filter"
    );
}

// ----- subscribe and unsubscribe ---------------------------------------------

/// Every 5.0 subscription option on the wire (spec 3.8.3.1): QoS bits 0-1,
/// No Local bit 2, Retain As Published bit 3, Retain Handling bits 4-5,
/// and the Subscription Identifier property (0x0B).
#[test]
fn every_v5_subscription_option_is_sent_on_the_wire() {
    let mut s = connected(options(V5));
    let a = SubscriptionOptions::new(QoS::AtLeastOnce)
        .with_no_local(true)
        .with_retain_as_published(true)
        .with_retain_handling(RetainHandling::DoNotSend);
    let b = SubscriptionOptions::new(QoS::ExactlyOnce)
        .with_retain_handling(RetainHandling::SendAtSubscribeIfNew);
    let sub =
        Subscribe::new(0, vec![filter("a/+", a), filter("b", b)]).with_subscription_identifier(42);
    assert_eq!(s.client.subscribe(s.now, sub), Ok(1));
    assert_eq!(
        s.sent_bytes(),
        mqtt_tests::hex(
            "82 0F 00 01 \
             02 0B 2A \
             00 03 61 2F 2B 2D \
             00 01 62 12"
        )
    );
}

/// 3.1.1: only the requested QoS in each options byte.
#[test]
fn a_3_1_1_subscribe_carries_only_the_requested_qos() {
    let mut s = connected(options(V3));
    let sub = Subscribe::new(
        0,
        vec![
            filter("a/+", SubscriptionOptions::new(QoS::AtLeastOnce)),
            filter("b", SubscriptionOptions::new(QoS::ExactlyOnce)),
        ],
    );
    assert_eq!(s.client.subscribe(s.now, sub), Ok(1));
    assert_eq!(
        s.sent_bytes(),
        mqtt_tests::hex("82 0C 00 01 00 03 61 2F 2B 01 00 01 62 02")
    );
}

/// [MQTT-3.9.3-1] SUBACK reason codes, one per filter in order, reach the
/// caller as they came (granted QoS or error, with properties); only
/// granted filters are held.
#[test]
fn suback_reason_codes_are_reported_per_filter() {
    let mut s = connected(options(V5));
    let q1 = SubscriptionOptions::new(QoS::AtLeastOnce);
    s.client
        .subscribe(
            s.now,
            Subscribe::new(0, vec![filter("a", q1), filter("b", q1), filter("c", q1)]),
        )
        .unwrap();
    let _ = s.sent();
    let mut ack = SubAck::new(
        1,
        vec![
            ReasonCode::GrantedQoS1,
            ReasonCode::NotAuthorized,
            ReasonCode::GRANTED_QOS_0,
        ],
    );
    ack.properties.reason_string = Some(MqttString::from_str("b is private").unwrap());
    s.server_sends(ack.clone());
    assert_eq!(
        s.events(),
        vec![Event::Subscribed {
            packet_id: 1,
            reason_codes: ack.reason_codes,
            properties: ack.properties,
        }]
    );
    let held: Vec<&str> = s
        .client
        .subscriptions()
        .iter()
        .map(|s| s.filter.filter.as_str())
        .collect();
    assert_eq!(held, vec!["a", "c"]);

    // 3.1.1 return codes: granted QoS or 0x80 Failure.
    let mut s = connected(options(V3));
    s.client
        .subscribe(
            s.now,
            Subscribe::new(0, vec![filter("a", q1), filter("b", q1)]),
        )
        .unwrap();
    let _ = s.sent();
    s.server_sends(SubAck::new(
        1,
        vec![ReasonCode::GRANTED_QOS_0, ReasonCode::UnspecifiedError],
    ));
    assert_eq!(
        s.events(),
        vec![subscribed(
            1,
            vec![ReasonCode::GRANTED_QOS_0, ReasonCode::UnspecifiedError]
        )]
    );
}

/// [MQTT-3.11.3-1] UNSUBACK reason codes per filter (5.0); 3.1.1 has none
/// and reports Success for each filter. The filters are no longer held.
#[test]
fn unsuback_reason_codes_are_reported_per_filter() {
    for v in BOTH {
        let mut s = connected(options(v));
        let q0 = SubscriptionOptions::new(QoS::AtMostOnce);
        s.client
            .subscribe(
                s.now,
                Subscribe::new(0, vec![filter("a", q0), filter("b", q0)]),
            )
            .unwrap();
        let _ = s.sent();
        s.server_sends(SubAck::new(
            1,
            vec![ReasonCode::GRANTED_QOS_0, ReasonCode::GRANTED_QOS_0],
        ));
        let _ = s.events();
        let unsub = Unsubscribe::new(
            0,
            vec![
                MqttString::from_str("a").unwrap(),
                MqttString::from_str("z").unwrap(),
            ],
        );
        assert_eq!(s.client.unsubscribe(s.now, unsub.clone()), Ok(2));
        let mut expected = unsub;
        expected.packet_id = 2;
        assert_eq!(s.sent(), vec![Packet::Unsubscribe(expected)]);
        let codes = if v == V5 {
            vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
        } else {
            vec![]
        };
        s.server_sends(UnsubAck::new(2, codes));
        let reported = if v == V5 {
            vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
        } else {
            vec![ReasonCode::Success, ReasonCode::Success]
        };
        assert_eq!(
            s.events(),
            vec![Event::Unsubscribed {
                packet_id: 2,
                reason_codes: reported,
                properties: AckProperties::default(),
            }],
            "{v:?}"
        );
        let held: Vec<&str> = s
            .client
            .subscriptions()
            .iter()
            .map(|s| s.filter.filter.as_str())
            .collect();
        assert_eq!(held, vec!["b"]);
    }
}

/// [MQTT-3.9.3-1] [MQTT-3.11.3-1] A SUBACK or UNSUBACK with a number of
/// codes other than the number of filters is a Protocol Error: DISCONNECT
/// 0x82 (5.0), the connection closed (3.1.1).
#[test]
fn a_suback_or_unsuback_with_the_wrong_number_of_codes_closes_with_protocol_error() {
    for v in BOTH {
        let mut s = connected(options(v));
        let q0 = SubscriptionOptions::new(QoS::AtMostOnce);
        s.client
            .subscribe(
                s.now,
                Subscribe::new(0, vec![filter("a", q0), filter("b", q0)]),
            )
            .unwrap();
        let _ = s.sent();
        s.server_sends(SubAck::new(1, vec![ReasonCode::GRANTED_QOS_0]));
        let expected = if v == V5 {
            vec![Packet::Disconnect(Disconnect::new(
                ReasonCode::ProtocolError,
            ))]
        } else {
            vec![]
        };
        assert_eq!(s.sent(), expected, "{v:?}");
        assert_eq!(
            s.events(),
            vec![Event::Disconnected(DisconnectReason::ProtocolViolation(
                ProtocolViolation::ReasonCodeCount {
                    packet: PacketType::SubAck,
                    expected: 2,
                    got: 1
                }
            ))]
        );
    }

    let mut s = connected(options(V5));
    s.client
        .unsubscribe(s.now, Unsubscribe::single(0, "a").unwrap())
        .unwrap();
    let _ = s.sent();
    s.server_sends(UnsubAck::new(
        1,
        vec![ReasonCode::Success, ReasonCode::Success],
    ));
    assert_eq!(
        s.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::ProtocolError
        ))]
    );
    assert_eq!(
        s.events(),
        vec![Event::Disconnected(DisconnectReason::ProtocolViolation(
            ProtocolViolation::ReasonCodeCount {
                packet: PacketType::UnsubAck,
                expected: 1,
                got: 2
            }
        ))]
    );
}

/// An UNSUBACK for an identifier not in flight is a Protocol Error too.
#[test]
fn an_unsuback_for_an_unknown_identifier_closes_with_protocol_error() {
    let mut s = connected(options(V5));
    s.server_sends(UnsubAck::new(3, vec![ReasonCode::Success]));
    assert_eq!(
        s.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::ProtocolError
        ))]
    );
    assert_eq!(
        s.events(),
        vec![Event::Disconnected(DisconnectReason::ProtocolViolation(
            ProtocolViolation::UnknownPacketId {
                packet: PacketType::UnsubAck,
                packet_id: 3
            }
        ))]
    );
}

/// Spec 3.2.2.3.11 to 3.2.2.3.13: a server that announced no wildcard
/// subscriptions, no Subscription Identifiers or no shared subscriptions
/// gets none; the command is refused with `FeatureNotSupported` and the
/// matching reason code, nothing sent and no identifier used.
#[test]
fn subscribes_the_server_said_it_cannot_handle_are_refused_with_feature_not_supported() {
    let mut props = ConnAckProperties::default();
    props.wildcard_subscription_available = Some(false);
    props.subscription_identifiers_available = Some(false);
    props.shared_subscription_available = Some(false);
    let mut s = connected_with(options(V5), props);
    let cases = [
        (
            Subscribe::single(0, "a/+", QoS::AtMostOnce).unwrap(),
            ReasonCode::WildcardSubscriptionsNotSupported,
        ),
        (
            Subscribe::single(0, "#", QoS::AtMostOnce).unwrap(),
            ReasonCode::WildcardSubscriptionsNotSupported,
        ),
        (
            Subscribe::single(0, "a", QoS::AtMostOnce)
                .unwrap()
                .with_subscription_identifier(1),
            ReasonCode::SubscriptionIdentifiersNotSupported,
        ),
        (
            Subscribe::single(0, "$share/g/a", QoS::AtMostOnce).unwrap(),
            ReasonCode::SharedSubscriptionsNotSupported,
        ),
    ];
    for (sub, code) in cases {
        assert_eq!(
            s.client.subscribe(s.now, sub),
            Err(ClientError::FeatureNotSupported(code))
        );
    }
    assert_eq!(s.sent(), vec![]);
    assert_eq!(
        s.client
            .subscribe(s.now, Subscribe::single(0, "a", QoS::AtMostOnce).unwrap()),
        Ok(1)
    );
}

// ----- message expiry (5.0) --------------------------------------------------

/// Spec 3.3.2.3.3: a message sent after waiting in the queue carries the
/// Message Expiry Interval less the whole seconds it waited (as the server
/// does [MQTT-3.3.2-6]), while disconnected or waiting for the window.
#[test]
fn a_queued_message_is_sent_with_its_expiry_reduced_by_the_time_it_waited() {
    let mut s = Scripted::new(options(V5));
    let mut m = message("t", b"x", QoS::AtLeastOnce);
    m.properties.message_expiry_interval = Some(60);
    s.client.publish(0, m).unwrap();
    s.now = 10_500;
    s.connect_ok(false);
    let sent = s.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(expiry_of(&sent[0]), Some(50));

    // Waiting for the window.
    let mut s = connected(options(V5).with_max_inflight(1));
    s.client
        .publish(s.now, message("t", b"a", QoS::AtLeastOnce))
        .unwrap();
    let mut m = message("t", b"b", QoS::AtLeastOnce);
    m.properties.message_expiry_interval = Some(30);
    s.client.publish(s.now, m).unwrap();
    let _ = s.sent();
    s.now += 12_000;
    s.server_sends(PubAck::new(1));
    let sent = s.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(expiry_of(&sent[0]), Some(18));
}

/// A queued message whose expiry passed before it could be sent is dropped
/// and reported with `PublishDropped` / `Expired`; its identifier is free
/// and what follows it goes.
#[test]
fn an_expired_queued_message_is_dropped_and_reported() {
    let mut s = Scripted::new(options(V5).with_queue_qos0_offline(true));
    let mut m = message("t", b"x", QoS::AtLeastOnce);
    m.properties.message_expiry_interval = Some(5);
    s.client.publish(0, m).unwrap();
    let mut m0 = message("t", b"0", QoS::AtMostOnce);
    m0.properties.message_expiry_interval = Some(5);
    let token = s.client.publish(0, m0).unwrap();
    s.client
        .publish(0, message("t", b"keep", QoS::AtLeastOnce))
        .unwrap();
    s.now = 5_000;
    s.connect();
    let _ = s.sent();
    s.server_sends(ConnAck::new(false, ReasonCode::Success));
    let events = s.events();
    assert!(matches!(events[0], Event::Connected(_)));
    assert_eq!(
        events[1..],
        [
            dropped(1, DropReason::Expired),
            dropped(token.0, DropReason::Expired)
        ]
    );
    assert_eq!(
        s.sent(),
        vec![wire("t", b"keep", QoS::AtLeastOnce, 2, false)]
    );
    assert_eq!(s.client.stats().queued, 0);
    assert_eq!(s.client.stats().inflight, 1);
}

/// A message already sent is resent on resume (its exchange must finish
/// [MQTT-4.4.0-1]) with the expiry reduced by the time since it was given.
#[test]
fn an_inflight_message_resent_on_resume_carries_its_remaining_expiry() {
    let mut s = connected(lasting(V5));
    let mut m = message("t", b"x", QoS::AtLeastOnce);
    m.properties.message_expiry_interval = Some(100);
    s.client.publish(s.now, m).unwrap();
    assert_eq!(expiry_of(&s.sent_one()), Some(100));
    cut(&mut s);
    s.now += 40_000;
    assert_eq!(reconnect(&mut s, false, true), vec![]);
    let sent = s.sent();
    assert_eq!(sent.len(), 1);
    match &sent[0] {
        Packet::Publish(p) => {
            assert!(p.dup);
            assert_eq!(p.packet_id, 1);
            assert_eq!(p.properties.message_expiry_interval, Some(60));
        }
        other => panic!("{other:?}"),
    }
}

// ----- persistence -----------------------------------------------------------

/// `export_session` → `to_bytes` → `from_bytes` → `import_session` into a
/// new client: after connecting with Session Present 1 every in-flight
/// message goes again (PUBLISH with DUP, PUBREL), the unacknowledged
/// SUBSCRIBE too, queued messages follow, the inbound QoS 2 message is not
/// delivered twice, and every completion arrives with the original id.
#[test]
fn an_exported_session_survives_a_restart_and_nothing_is_lost() {
    for v in BOTH {
        let opts = lasting(v).with_max_inflight(3);
        let mut a = connected(opts.clone());
        let mut sub = Subscribe::single(0, "s/#", QoS::AtLeastOnce).unwrap();
        if v == V5 {
            sub.properties.subscription_identifier = Some(4);
        }
        assert_eq!(a.client.subscribe(a.now, sub), Ok(1));
        let _ = a.sent();
        a.server_sends(SubAck::new(1, vec![ReasonCode::GrantedQoS1]));
        for (payload, qos) in [
            (b"a", QoS::AtLeastOnce),
            (b"b", QoS::ExactlyOnce),
            (b"c", QoS::ExactlyOnce),
            (b"d", QoS::AtLeastOnce),
        ] {
            a.client.publish(a.now, message("t", payload, qos)).unwrap();
        }
        a.client
            .subscribe(a.now, Subscribe::single(0, "x", QoS::AtMostOnce).unwrap())
            .unwrap();
        a.server_sends(PubRec::new(3));
        let inbound = Publish::new("in", &b"q2"[..])
            .unwrap()
            .with_qos(QoS::ExactlyOnce, 9);
        a.server_sends(inbound.clone());
        let _ = a.sent();
        let _ = a.events();

        let state = a.client.export_session();
        assert_eq!(state.client_id, "test");
        assert!(state.connected_before);
        let kinds: Vec<String> = state
            .outgoing
            .iter()
            .map(|o| match o {
                StoredOutgoing::Publish(p) => format!("queued {}", p.packet_id),
                StoredOutgoing::PublishSent(p) => format!("sent {}", p.packet_id),
                StoredOutgoing::Released(id) => format!("released {id}"),
                StoredOutgoing::Subscribe(s) => format!("subscribe {}", s.packet_id),
                StoredOutgoing::Unsubscribe(u) => format!("unsubscribe {}", u.packet_id),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            vec!["sent 2", "released 3", "sent 4", "subscribe 6", "queued 5"],
            "{v:?}"
        );
        assert_eq!(state.inbound_qos2.len(), 1);
        assert_eq!(state.inbound_qos2[0].packet_id, 9);
        assert_eq!(state.subscriptions.len(), 1);

        let bytes = state.to_bytes().unwrap();
        let back = SessionState::from_bytes(&bytes).unwrap();
        assert_eq!(back, state, "the byte form keeps everything");
        drop(a);

        let mut b = Scripted::new(opts);
        b.client.import_session(0, back).unwrap();
        assert_eq!(b.client.subscriptions(), &state.subscriptions[..]);
        assert_eq!(b.client.stats().inflight, 3);
        assert_eq!(b.client.stats().queued, 1);
        // 5.0 asks for the session back because one existed before.
        assert_eq!(reconnect(&mut b, false, true), vec![]);
        assert_eq!(
            b.sent(),
            vec![
                wire("t", b"a", QoS::AtLeastOnce, 2, true),
                Packet::PubRel(PubRel::new(3)),
                wire("t", b"c", QoS::ExactlyOnce, 4, true),
                Packet::Subscribe(Subscribe::single(6, "x", QoS::AtMostOnce).unwrap()),
            ],
            "{v:?}"
        );
        assert_eq!(b.client.stats().retransmits, 4);

        // The server resends its QoS 2 message: acknowledged, not delivered.
        let mut again = inbound;
        again.dup = true;
        b.server_sends(again);
        assert_eq!(b.sent(), vec![Packet::PubRec(PubRec::new(9))]);
        b.server_sends(PubRel::new(9));
        assert_eq!(b.sent(), vec![Packet::PubComp(PubComp::new(9))]);

        b.server_sends(PubAck::new(2));
        assert_eq!(b.sent(), vec![wire("t", b"d", QoS::AtLeastOnce, 5, false)]);
        b.server_sends(PubComp::new(3));
        b.server_sends(PubRec::new(4));
        assert_eq!(b.sent(), vec![Packet::PubRel(PubRel::new(4))]);
        b.server_sends(PubComp::new(4));
        b.server_sends(SubAck::new(6, vec![ReasonCode::GRANTED_QOS_0]));
        b.server_sends(PubAck::new(5));
        assert_eq!(
            b.events(),
            vec![
                completed(2, ReasonCode::Success),
                completed(3, ReasonCode::Success),
                completed(4, ReasonCode::Success),
                subscribed(6, vec![ReasonCode::GRANTED_QOS_0]),
                completed(5, ReasonCode::Success),
            ]
        );
        assert_eq!(b.client.stats().inflight, 0);
        assert_eq!(b.client.subscriptions().len(), 2);
    }
}

/// Importing replaces the session only while disconnected.
#[test]
fn importing_a_session_while_connected_is_refused() {
    let mut s = connected(options(V5));
    assert!(matches!(
        s.client.import_session(s.now, SessionState::default()),
        Err(ClientError::InvalidState(_))
    ));
    assert_eq!(s.client.state(), ConnectionState::Connected);
}

/// A session using a packet identifier twice cannot be imported.
#[test]
fn a_session_using_a_packet_identifier_twice_is_refused_on_import() {
    let mut state = SessionState::default();
    state.client_id = MqttString::from_str("test").unwrap();
    let p = Publish::new("t", &b"x"[..])
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 3);
    state.outgoing.push(StoredOutgoing::PublishSent(p));
    state.outgoing.push(StoredOutgoing::Released(3));
    let mut s = Scripted::new(options(V5));
    assert!(matches!(
        s.client.import_session(0, state),
        Err(ClientError::InvalidState(_))
    ));
}

/// A session with a little of everything, as bytes.
fn sample_session_bytes() -> Vec<u8> {
    let mut s = connected(lasting(V5).with_max_inflight(2));
    let mut sub = Subscribe::single(0, "s/#", QoS::AtLeastOnce)
        .unwrap()
        .with_subscription_identifier(3);
    sub.filters[0].options.no_local = true;
    s.client.subscribe(s.now, sub).unwrap();
    s.server_sends(SubAck::new(1, vec![ReasonCode::GrantedQoS1]));
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce] {
        let mut m = message("t/x", b"payload", qos);
        m.properties.message_expiry_interval = Some(9);
        s.client.publish(s.now, m).unwrap();
    }
    s.server_sends(PubRec::new(3));
    s.server_sends(
        Publish::new("in", &b"q2"[..])
            .unwrap()
            .with_qos(QoS::ExactlyOnce, 7),
    );
    s.client
        .unsubscribe(s.now, Unsubscribe::single(0, "u").unwrap())
        .unwrap();
    s.client.export_session().to_bytes().unwrap().to_vec()
}

/// The record boundaries of the byte form (after the 5-byte header).
fn record_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = vec![5];
    let mut pos = 5;
    while pos < bytes.len() {
        let len = u32::from_be_bytes([
            bytes[pos + 1],
            bytes[pos + 2],
            bytes[pos + 3],
            bytes[pos + 4],
        ]) as usize;
        pos += 5 + len;
        ends.push(pos);
    }
    ends
}

/// Reading a session, then importing and resuming it, must never panic.
fn read_and_use(bytes: &[u8]) -> bool {
    match SessionState::from_bytes(bytes) {
        Ok(state) => {
            let mut s = Scripted::new(options(V5));
            if s.client.import_session(0, state).is_ok() {
                s.connect();
                let _ = s.sent_bytes();
                s.server_sends(ConnAck::new(true, ReasonCode::Success));
                let _ = s.sent_bytes();
                let _ = s.events();
            }
            true
        }
        Err(_) => false,
    }
}

/// Every cut, inside a record or at a record boundary (the end record
/// catches those), and a wrong header, is an error.
#[test]
fn truncated_session_bytes_are_an_error() {
    let bytes = sample_session_bytes();
    let ends = record_ends(&bytes);
    assert_eq!(*ends.last().unwrap(), bytes.len());
    for cut in 0..bytes.len() {
        let ok = read_and_use(&bytes[..cut]);
        let place = if ends.contains(&cut) {
            "at a record boundary"
        } else {
            "inside a record"
        };
        assert!(!ok, "a cut at {cut} {place} was accepted");
    }
    assert!(SessionState::from_bytes(b"").is_err());
    assert!(
        SessionState::from_bytes(b"LMQS\x02").is_err(),
        "format version"
    );
    assert!(SessionState::from_bytes(&bytes).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Garbage is an error or a session, never a panic, and so is using it.
    #[test]
    fn session_bytes_from_garbage_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = read_and_use(&tail);
        let mut with_magic = b"LMQS\x01".to_vec();
        with_magic.extend_from_slice(&tail);
        let _ = read_and_use(&with_magic);
    }

    /// A valid session with bytes changed is an error or a session, never a
    /// panic, and so is using it.
    #[test]
    fn damaged_session_bytes_never_panic(
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = sample_session_bytes();
        for (at, b) in changes {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let _ = read_and_use(&bytes);
    }
}

/// On resume, a server announcing a smaller Receive Maximum than the number
/// of unacknowledged publishes gets them resent (DUP, in order) only as
/// acknowledgements free the window [MQTT-4.4.0-1] [MQTT-3.3.4-7]; PUBREL
/// goes at once, and a full queue never drops one of them.
#[test]
fn resent_publishes_respect_a_smaller_receive_maximum_after_resume() {
    let mut s = connected(
        lasting(V5)
            .with_max_inflight(10)
            .with_queue(2, QueueFullPolicy::DropOldest),
    );
    for _ in 0..4 {
        s.client
            .publish(s.now, message("t", b"m", QoS::ExactlyOnce))
            .unwrap();
    }
    assert_eq!(s.sent().len(), 4);
    s.server_sends(PubRec::new(1));
    assert_eq!(s.sent(), vec![Packet::PubRel(PubRel::new(1))]);
    cut(&mut s);

    s.connect();
    assert!(matches!(s.sent_one(), Packet::Connect(_)));
    let mut connack = ConnAck::new(true, ReasonCode::Success);
    connack.properties.receive_maximum = Some(2);
    s.server_sends(connack);
    assert!(matches!(s.events()[..], [Event::Connected(_)]));
    // PUBREL 1 and PUBLISH 2 fill the window of 2; 3 and 4 wait.
    assert_eq!(
        s.sent(),
        vec![
            Packet::PubRel(PubRel::new(1)),
            wire("t", b"m", QoS::ExactlyOnce, 2, true),
        ]
    );
    assert_eq!(s.client.stats().inflight, 2);
    assert_eq!(s.client.stats().queued, 2);
    // A full queue with DropOldest drops the new message, never a held one.
    assert_eq!(
        s.client
            .publish(s.now, message("t", b"new", QoS::ExactlyOnce)),
        Err(ClientError::QueueFull)
    );
    s.server_sends(PubComp::new(1));
    assert_eq!(s.events(), vec![completed(1, ReasonCode::Success)]);
    assert_eq!(s.sent(), vec![wire("t", b"m", QoS::ExactlyOnce, 3, true)]);
    s.server_sends(PubRec::new(2));
    s.server_sends(PubComp::new(2));
    assert_eq!(
        s.sent(),
        vec![
            Packet::PubRel(PubRel::new(2)),
            wire("t", b"m", QoS::ExactlyOnce, 4, true),
        ]
    );
}

/// A SUBSCRIBE queued offline that uses a feature the server's CONNACK
/// then says it lacks is not sent; it is answered with the feature's
/// reason code for every filter (5.0).
#[test]
fn a_queued_subscribe_the_server_cannot_handle_is_answered_not_sent() {
    let mut s = Scripted::new(options(V5));
    let wildcard = s
        .client
        .subscribe(
            s.now,
            Subscribe::new(
                0,
                vec![
                    filter("a/+", SubscriptionOptions::new(QoS::AtLeastOnce)),
                    filter("b", SubscriptionOptions::new(QoS::AtLeastOnce)),
                ],
            ),
        )
        .unwrap();
    let plain = s
        .client
        .subscribe(
            s.now,
            Subscribe::new(
                0,
                vec![filter("c", SubscriptionOptions::new(QoS::AtMostOnce))],
            ),
        )
        .unwrap();
    s.connect();
    assert!(matches!(s.sent_one(), Packet::Connect(_)));
    let mut connack = ConnAck::new(false, ReasonCode::Success);
    connack.properties.wildcard_subscription_available = Some(false);
    s.server_sends(connack);
    let events = s.events();
    assert!(matches!(events[0], Event::Connected(_)));
    assert_eq!(
        events[1..],
        [subscribed(
            wildcard,
            vec![ReasonCode::WildcardSubscriptionsNotSupported; 2]
        )]
    );
    assert_eq!(
        s.sent(),
        vec![Packet::Subscribe(Subscribe::new(
            plain,
            vec![filter("c", SubscriptionOptions::new(QoS::AtMostOnce))]
        ))]
    );
}

/// A queued message whose Message Expiry passes is dropped and reported at
/// that moment, connected or not: its expiry is a deadline of
/// `poll_timeout` (5.0).
#[test]
fn a_queued_message_expires_on_time_even_while_disconnected() {
    let mut s = Scripted::new(options(V5));
    s.now = 1_000;
    let mut m = message("t", b"m", QoS::AtLeastOnce);
    m.properties.message_expiry_interval = Some(10);
    let id = s.client.publish(s.now, m).unwrap();
    assert_eq!(s.client.poll_timeout(), Some(11_000));
    s.advance(9_999);
    assert_eq!(s.events(), vec![]);
    s.advance(1);
    assert_eq!(s.events(), vec![dropped(id.0, DropReason::Expired)]);
    assert_eq!(s.client.poll_timeout(), None);
    assert_eq!(s.client.stats().queued, 0);

    // Connected, behind a full window.
    let mut s = connected(options(V5).with_max_inflight(1));
    s.client
        .publish(s.now, message("t", b"first", QoS::AtLeastOnce))
        .unwrap();
    let mut m = message("t", b"m", QoS::AtLeastOnce);
    m.properties.message_expiry_interval = Some(5);
    let id = s.client.publish(s.now, m).unwrap();
    let _ = s.sent();
    s.advance(5_000);
    assert_eq!(s.events(), vec![dropped(id.0, DropReason::Expired)]);
    s.server_sends(PubAck::new(1));
    assert_eq!(s.events(), vec![completed(1, ReasonCode::Success)]);
    assert_eq!(s.sent(), vec![], "the expired message never goes out");
}

/// Publishes held back for a smaller Receive Maximum on resume are still
/// in flight: if the next connection finds the session lost, the policy
/// applies to them as well (requeued as new messages, DUP 0, in order).
#[test]
fn publishes_held_for_the_window_are_requeued_when_the_session_is_then_lost() {
    let mut s = connected(lasting(V5).with_max_inflight(10));
    for _ in 0..3 {
        s.client
            .publish(s.now, message("t", b"m", QoS::AtLeastOnce))
            .unwrap();
    }
    assert_eq!(s.sent().len(), 3);
    cut(&mut s);
    s.connect();
    assert!(matches!(s.sent_one(), Packet::Connect(_)));
    let mut connack = ConnAck::new(true, ReasonCode::Success);
    connack.properties.receive_maximum = Some(1);
    s.server_sends(connack);
    let _ = s.events();
    assert_eq!(s.sent(), vec![wire("t", b"m", QoS::AtLeastOnce, 1, true)]);
    cut(&mut s);
    let events = reconnect(&mut s, false, false);
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events
        .iter()
        .all(|e| matches!(e, Event::PublishRequeued { .. })));
    let sent = s.sent();
    assert_eq!(sent.len(), 3);
    for p in &sent {
        let Packet::Publish(p) = p else {
            panic!("{p:?}")
        };
        assert!(!p.dup, "a new message after the session was lost");
    }
}
