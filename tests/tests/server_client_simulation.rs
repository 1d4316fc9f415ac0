//! Seeded simulation: our client against our server connection over a
//! link that splits packets and is cut at random points, the session kept
//! by the broker between connections ([`Pair`]). Properties, for both
//! versions: QoS 1 messages arrive at least once and QoS 2 exactly once in
//! both directions, QoS 0 at most once, and the first arrivals of QoS 1
//! and 2 messages keep the order they were published in [MQTT-4.6.0-6].

use std::collections::BTreeMap;

use mqtt_core::client::{ClientOptions, ConnectionState};
use mqtt_core::codec::{ProtocolVersion, Publish, QoS};
use mqtt_core::server::{ServerOptions, ServerSession, ServerState};
use mqtt_tests::server::Pair;
use mqtt_tests::sim::Rng;

fn qos_of(n: u64) -> QoS {
    match n % 3 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn check(name: &str, seed: u64, sent: &BTreeMap<u32, QoS>, got: &[Publish]) {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    let mut first_order = Vec::new();
    for p in got {
        let n = u32::from_be_bytes(p.payload[..4].try_into().unwrap());
        let c = counts.entry(n).or_default();
        if *c == 0 && p.qos != QoS::AtMostOnce {
            first_order.push(n);
        }
        *c += 1;
    }
    for (n, qos) in sent {
        let c = counts.get(n).copied().unwrap_or(0);
        match qos {
            QoS::AtMostOnce => assert!(c <= 1, "seed {seed} {name}: QoS 0 #{n} {c} times"),
            QoS::AtLeastOnce => assert!(c >= 1, "seed {seed} {name}: QoS 1 #{n} lost"),
            QoS::ExactlyOnce => assert_eq!(c, 1, "seed {seed} {name}: QoS 2 #{n} {c} times"),
        }
    }
    let mut sorted = first_order.clone();
    sorted.sort();
    assert_eq!(first_order, sorted, "seed {seed} {name}: order");
}

fn run(seed: u64) {
    let mut rng = Rng::new(seed);
    let version = if seed.is_multiple_of(2) {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    let client_receive_maximum = rng.range(1, 8) as u16;
    let client = ClientOptions::new(version, "sim")
        .unwrap()
        .with_clean_start(version == ProtocolVersion::V5)
        .with_session_expiry_interval(600)
        .with_receive_maximum(client_receive_maximum)
        .with_max_inflight(rng.range(1, 8) as u16)
        .with_topic_alias_maximum(rng.range(0, 3) as u16)
        .with_auto_topic_alias(rng.chance(50));
    // 3.1.1 announces no limits: each side is configured with the other's.
    let server = ServerOptions::new()
        .with_max_inflight(client_receive_maximum)
        .with_receive_maximum(rng.range(1, 8) as u16)
        .with_topic_alias_maximum(rng.range(0, 3) as u16);
    let mut p = Pair::connected(client, server);
    p.max_chunk = rng.range(0, 40) as usize;
    let mut up = BTreeMap::new();
    let mut down = BTreeMap::new();
    let mut next = 0u32;
    for _ in 0..60 {
        match rng.range(0, 9) {
            0..=2 => {
                next += 1;
                let qos = qos_of(rng.next_u64());
                let m = Publish::new("sim/up", next.to_be_bytes().to_vec())
                    .unwrap()
                    .with_qos(qos, 0);
                if p.client.publish(p.now, m).is_ok() {
                    up.insert(next, qos);
                }
            }
            3..=5 => {
                next += 1;
                let qos = qos_of(rng.next_u64());
                let m = Publish::new("sim/down", next.to_be_bytes().to_vec())
                    .unwrap()
                    .with_qos(qos, 0);
                if p.server.state() == ServerState::Connected {
                    if p.server.publish(p.now, m).is_ok() {
                        down.insert(next, qos);
                    }
                } else if qos != QoS::AtMostOnce {
                    // The broker queues for the offline session.
                    p.session.get_or_insert_with(ServerSession::new).queue(m);
                    down.insert(next, qos);
                }
            }
            6 | 7 => {
                for _ in 0..rng.range(1, 4) {
                    p.step();
                }
            }
            8 => {
                if p.client.state() == ConnectionState::Connected {
                    p.cut();
                    p.now += 500;
                } else {
                    p.reconnect();
                }
            }
            _ => {
                p.now += rng.range(1, 2_000);
                p.step();
            }
        }
    }
    if p.client.state() != ConnectionState::Connected {
        p.reconnect();
    }
    p.drive();
    if p.server.state() != ServerState::Connected {
        let why: Vec<String> = p
            .server_events
            .iter()
            .filter(|e| matches!(e, mqtt_core::server::ServerEvent::Disconnected(_)))
            .map(|e| format!("{e:?}"))
            .collect();
        let client: Vec<String> = p
            .client_events
            .iter()
            .filter(|e| matches!(e, mqtt_core::client::Event::Disconnected(_)))
            .map(|e| format!("{e:?}"))
            .collect();
        panic!("seed {seed}: server closed: {why:?}\nclient: {client:?}");
    }
    check("up", seed, &up, &p.server_messages());
    check("down", seed, &down, &p.client_messages());
    assert_eq!(p.server.inflight_len(), 0, "seed {seed}");
    assert_eq!(p.server.queued_len(), 0, "seed {seed}");
}

#[test]
fn qos_guarantees_hold_across_random_cuts() {
    for seed in 0..2000 {
        run(seed);
    }
}
