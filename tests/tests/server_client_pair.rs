//! Our client (`mqtt_core::client::Client`) against our server connection
//! (`mqtt_core::server::ServerConnection`), wired in memory with bytes
//! both ways in virtual time ([`Pair`]): both versions at every QoS in
//! both directions, subscriptions, the limits each side announces, topic
//! aliases, keep alive, the will, and reconnecting with the session.

use mqtt_core::client::{ClientOptions, ConnectionState, DisconnectReason, Event};
use mqtt_core::codec::{
    Disconnect, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe, Unsubscribe, Will,
};
use mqtt_core::server::{CloseReason, ServerEvent, ServerOptions, ServerState};
use mqtt_tests::server::Pair;

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];
const QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

fn client(version: ProtocolVersion) -> ClientOptions {
    ClientOptions::new(version, "pair").unwrap()
}

fn msg(topic: &str, payload: Vec<u8>, qos: QoS) -> Publish {
    Publish::new(topic, payload).unwrap().with_qos(qos, 0)
}

fn completed_server(p: &Pair) -> Vec<u16> {
    p.server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::PublishCompleted { packet_id, .. } => Some(*packet_id),
            _ => None,
        })
        .collect()
}

fn completed_client(p: &Pair) -> usize {
    p.client_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::PublishCompleted {
                    reason_code: ReasonCode::Success,
                    ..
                }
            )
        })
        .count()
}

#[test]
fn every_qos_both_ways_in_both_versions() {
    for v in BOTH {
        for qos in QOS {
            let mut p = Pair::connected(client(v), ServerOptions::new());
            for i in 0..5u8 {
                p.client.publish(p.now, msg("up", vec![i], qos)).unwrap();
                p.server.publish(p.now, msg("down", vec![i], qos)).unwrap();
            }
            p.drive();
            let up = p.server_messages();
            let down = p.client_messages();
            assert_eq!(up.len(), 5, "{v:?} {qos:?}");
            assert_eq!(down.len(), 5, "{v:?} {qos:?}");
            for (i, (u, d)) in up.iter().zip(&down).enumerate() {
                assert_eq!(u.payload[..], [i as u8]);
                assert_eq!(d.payload[..], [i as u8]);
                assert_eq!(u.qos, qos);
                assert_eq!(d.qos, qos);
            }
            let expected = if qos == QoS::AtMostOnce { 0 } else { 5 };
            assert_eq!(completed_server(&p).len(), expected);
            assert_eq!(completed_client(&p), expected);
            assert_eq!(p.server.inflight_len(), 0);
            assert_eq!(p.client.state(), ConnectionState::Connected);
        }
    }
}

#[test]
fn subscribe_and_unsubscribe_round_trip() {
    for v in BOTH {
        let mut p = Pair::connected(client(v), ServerOptions::new());
        let id = p
            .client
            .subscribe(
                p.now,
                Subscribe::single(0, "a/#", QoS::AtLeastOnce).unwrap(),
            )
            .unwrap();
        p.drive();
        assert!(p.client_events.iter().any(|e| matches!(
            e,
            Event::Subscribed { packet_id, reason_codes, .. }
                if *packet_id == id && reason_codes[..] == [ReasonCode::GrantedQoS1]
        )));
        p.client
            .unsubscribe(p.now, Unsubscribe::single(0, "a/#").unwrap())
            .unwrap();
        p.drive();
        assert!(p
            .client_events
            .iter()
            .any(|e| matches!(e, Event::Unsubscribed { .. })));
        assert!(p.client.subscriptions().is_empty());
    }
}

#[test]
fn each_side_respects_the_others_receive_maximum() {
    // The server announces 2, the client announces 3; 20 messages each way
    // go through without either side complaining.
    let mut p = Pair::connected(
        client(V5).with_receive_maximum(3),
        ServerOptions::new().with_receive_maximum(2),
    );
    for i in 0..20u8 {
        p.client
            .publish(p.now, msg("up", vec![i], QoS::ExactlyOnce))
            .unwrap();
        p.server
            .publish(p.now, msg("down", vec![i], QoS::AtLeastOnce))
            .unwrap();
        assert!(p.server.inflight_len() <= 3);
    }
    p.drive();
    assert_eq!(p.server_messages().len(), 20);
    assert_eq!(p.client_messages().len(), 20);
    assert_eq!(p.server.state(), ServerState::Connected);
}

#[test]
fn topic_aliases_both_ways() {
    let mut p = Pair::connected(
        client(V5)
            .with_topic_alias_maximum(4)
            .with_auto_topic_alias(true),
        ServerOptions::new().with_topic_alias_maximum(4),
    );
    for i in 0..6u8 {
        let topic = if i % 2 == 0 {
            "sensors/a/temperature"
        } else {
            "sensors/b/humidity"
        };
        p.client
            .publish(p.now, msg(topic, vec![i], QoS::AtLeastOnce))
            .unwrap();
        p.server
            .publish(p.now, msg(topic, vec![i], QoS::AtLeastOnce))
            .unwrap();
    }
    p.drive();
    for m in p.server_messages().iter().chain(p.client_messages().iter()) {
        assert!(m.topic.as_str().starts_with("sensors/"));
    }
    assert_eq!(p.server_messages().len(), 6);
    assert_eq!(p.client_messages().len(), 6);
}

#[test]
fn an_empty_client_id_is_assigned() {
    let mut p = Pair::connected(ClientOptions::new(V5, "").unwrap(), ServerOptions::new());
    p.drive();
    assert_eq!(p.client.client_id().as_str(), "assigned-1");
    assert_eq!(p.server.client_id().as_str(), "assigned-1");
}

#[test]
fn keep_alive_pings_keep_the_connection_and_silence_ends_it() {
    for v in BOTH {
        let mut p = Pair::connected(client(v).with_keep_alive(10), ServerOptions::new());
        // Ten minutes of idle time in one-second steps.
        p.advance_by_steps(600_000, 1_000);
        assert_eq!(p.server.state(), ServerState::Connected);
        assert_eq!(p.client.state(), ConnectionState::Connected);
        let pings = p
            .server_events
            .iter()
            .filter(|e| matches!(e, ServerEvent::Ping))
            .count();
        assert!(pings >= 55, "{pings} pings");
        // The client goes silent (its process hangs): only the server's
        // clock moves. [MQTT-3.1.2-24]
        let start = p.now;
        let mut t = start;
        while p.server.state() == ServerState::Connected {
            t += 100;
            p.server.handle_timeout(t);
            assert!(t - start <= 15_000, "not closed in 1.5 x keep alive");
        }
        assert!(t - start > 10_000);
    }
}

#[test]
fn server_keep_alive_is_adopted_by_the_client() {
    let p = Pair::connected(
        client(V5).with_keep_alive(600),
        ServerOptions::new().with_server_keep_alive(Some(5)),
    );
    assert_eq!(p.client.keep_alive(), 5);
    assert_eq!(p.server.keep_alive(), 5);
}

#[test]
fn the_will_goes_on_a_cut_not_on_a_normal_disconnect() {
    for v in BOTH {
        let will = Will::new("wills/pair", &b"gone"[..], QoS::AtLeastOnce).unwrap();
        let mut p = Pair::connected(client(v).with_will(will.clone()), ServerOptions::new());
        p.cut();
        assert!(p
            .server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::WillPublish(w) if w == &will)));
        let mut p = Pair::connected(client(v).with_will(will.clone()), ServerOptions::new());
        p.client
            .disconnect(p.now, Disconnect::new(ReasonCode::Success))
            .unwrap();
        p.drive();
        assert!(!p
            .server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::WillPublish(_))));
        assert!(p
            .server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::Disconnected(CloseReason::ByClient(_)))));
    }
}

#[test]
fn a_server_disconnect_reaches_the_client() {
    let mut p = Pair::connected(client(V5), ServerOptions::new());
    p.server
        .disconnect(p.now, ReasonCode::ServerShuttingDown, Default::default())
        .unwrap();
    p.drive();
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        Event::Disconnected(DisconnectReason::ByServer(d)) if d.reason_code == ReasonCode::ServerShuttingDown
    )));
}

/// Publishes both ways, cuts the link at `cut_after` steps, reconnects
/// with the session, and checks delivery: QoS 1 at least once, QoS 2
/// exactly once, in order.
fn reconnect_case(v: ProtocolVersion, qos: QoS, cut_after: usize) {
    let opts = client(v)
        .with_clean_start(v == V5) // 3.1.1 keeps the session with Clean Session 0
        .with_session_expiry_interval(300);
    let mut p = Pair::connected(opts, ServerOptions::new());
    for i in 0..6u8 {
        p.client.publish(p.now, msg("up", vec![i], qos)).unwrap();
        p.server.publish(p.now, msg("down", vec![i], qos)).unwrap();
    }
    for _ in 0..cut_after {
        p.step();
    }
    p.cut();
    p.now += 1_000;
    p.reconnect();
    assert_eq!(
        p.server.state(),
        ServerState::Connected,
        "{v:?} {qos:?} {cut_after}"
    );
    p.drive();
    for (name, got) in [("up", p.server_messages()), ("down", p.client_messages())] {
        let mut seen: Vec<u8> = got.iter().map(|m| m.payload[0]).collect();
        if qos == QoS::ExactlyOnce {
            assert_eq!(
                seen,
                (0..6).collect::<Vec<u8>>(),
                "{name} {v:?} {qos:?} cut {cut_after}"
            );
        } else {
            seen.dedup();
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(
                unique,
                (0..6).collect::<Vec<u8>>(),
                "{name} {v:?} {qos:?} cut {cut_after}"
            );
        }
    }
    assert_eq!(p.server.inflight_len(), 0);
}

#[test]
fn reconnect_with_the_session_delivers_qos1_at_least_once_and_qos2_exactly_once() {
    for v in BOTH {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for cut_after in 0..6 {
                reconnect_case(v, qos, cut_after);
            }
        }
    }
}

#[test]
fn a_clean_start_drops_the_session() {
    let mut p = Pair::connected(
        client(V5).with_session_expiry_interval(0),
        ServerOptions::new(),
    );
    p.server
        .publish(p.now, msg("down", vec![1], QoS::AtLeastOnce))
        .unwrap();
    let _ = p.server.take_transmit();
    p.cut();
    assert!(p.session.as_ref().is_some_and(|s| !s.is_empty()));
    // The client sends Clean Start 0 in 5.0 on a reconnect; the broker of
    // Pair resumes only then. Here the application forgets it first.
    p.session = None;
    p.reconnect();
    p.drive();
    assert!(p.client_messages().is_empty());
}
