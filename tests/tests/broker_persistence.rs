//! The broker engine's durable state (issue 18): what
//! `Broker::poll_store` records, what `Broker::restore` rebuilds after a
//! crash (the engine thrown away, only the store kept), compaction with
//! `Broker::snapshot`, and the store's damage and version checks. The
//! clients are our own state machines, wired in memory
//! (`mqtt_tests::engine_net`); the store takes every batch before the
//! output it makes true, as a driver in `sync` mode does.

use mqtt_core::broker::persist::{FrameError, Frames, Record, STORE_HEADER};
use mqtt_core::broker::{BrokerOptions, RestoreError};
use mqtt_core::client::Event;
use mqtt_core::codec::{ProtocolVersion, Publish, QoS, ReasonCode, Subscribe, Will};
use mqtt_tests::engine_net::{opts, persistent, Net};

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn payloads(msgs: &[Publish]) -> Vec<Vec<u8>> {
    msgs.iter().map(|p| p.payload.to_vec()).collect()
}

/// The records of a store, in order (panics on damage).
fn records(store: &[u8]) -> Vec<Record> {
    Frames::new(store, STORE_HEADER.len())
        .map(|f| f.expect("an undamaged store").1)
        .collect()
}

/// The records in the store of `net` so far.
fn stored(net: &Net) -> impl Iterator<Item = Record> {
    records(net.store.as_deref().unwrap_or_default()).into_iter()
}

/// A subscriber with a kept session, offline, and a publisher.
fn offline_subscriber(net: &mut Net, version: ProtocolVersion, qos: QoS) -> (usize, usize) {
    let s = net.add(persistent(version, "s", 3600));
    net.subscribe(s, Subscribe::single(1, "t/#", qos).unwrap());
    let p = net.add(opts(version, "pub"));
    net.cut(s);
    (s, p)
}

/// [MQTT-4.4.0-1] [MQTT-3.1.2-4]: messages queued for an offline session,
/// its subscription and retained messages survive a crash, for 3.1.1 and
/// 5.0, QoS 1 and 2.
#[test]
fn queued_messages_subscriptions_and_retained_messages_survive_a_crash() {
    for version in [V3, V5] {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut net = Net::with_store(BrokerOptions::new());
            let (s, p) = offline_subscriber(&mut net, version, qos);
            net.publish(p, "t/1", b"one", qos, false);
            net.publish(p, "t/2", b"two", qos, false);
            net.publish(p, "r", b"kept", QoS::AtLeastOnce, true);
            assert_eq!(net.completions(p).len(), 3);
            let report = net.crash();
            assert_eq!(report.sessions, 1, "{version:?} {qos:?}");
            assert_eq!(report.subscriptions, 1);
            assert_eq!(report.messages, 2);
            assert_eq!(report.retained, 1);
            assert_eq!(report.damage, None);
            assert_eq!(net.broker.queued_for("s"), 2);
            net.connect(s);
            assert_eq!(net.connected(s).last(), Some(&true), "session present");
            assert_eq!(
                payloads(&net.messages(s)),
                vec![b"one".to_vec(), b"two".to_vec()]
            );
            // The subscription still routes, without subscribing again.
            net.connect(p);
            net.publish(p, "t/3", b"three", qos, false);
            assert_eq!(net.messages(s).len(), 3);
            // The retained message is there for a new subscriber.
            let n = net.add(opts(version, "new"));
            net.subscribe(n, Subscribe::single(1, "r", QoS::AtLeastOnce).unwrap());
            assert_eq!(payloads(&net.messages(n)), vec![b"kept".to_vec()]);
        }
    }
}

/// A QoS 1 message in flight (sent, not acknowledged) when the broker
/// crashes is sent again, with DUP and its packet identifier
/// [MQTT-4.4.0-1]; acknowledged ones are not.
#[test]
fn a_message_in_flight_is_resent_after_a_crash() {
    let mut net = Net::with_store(BrokerOptions::new());
    let s = net.add(persistent(V5, "s", 3600));
    net.subscribe(s, Subscribe::single(1, "t", QoS::AtLeastOnce).unwrap());
    let p = net.add(opts(V5, "pub"));
    net.publish(p, "t", b"acked", QoS::AtLeastOnce, false);
    assert_eq!(net.messages(s).len(), 1);
    // The next one reaches the broker and is sent to `s`, whose PUBACK
    // never leaves: the broker crashes first.
    let m = Publish::new("t", &b"unacked"[..])
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 0);
    net.peers[p].client.publish(net.now, m).unwrap();
    // Until `s` has it; its PUBACK is then lost with the crash.
    assert!(net.step_until(|net| net.messages(s).len() == 2));
    let _ = net.peers[s].client.take_transmit();
    let report = net.crash();
    assert_eq!(report.messages, 1, "only the unacknowledged one is stored");
    net.connect(s);
    let got = payloads(&net.messages(s));
    assert_eq!(got.iter().filter(|m| m.as_slice() == b"acked").count(), 1);
    assert!(got.iter().any(|m| m.as_slice() == b"unacked"));
    // Now acknowledged: a second crash stores nothing for it.
    let report = net.crash();
    assert_eq!(report.messages, 0);
}

/// QoS 2 to the client: PUBREC arrived and PUBREL was sent before the
/// crash; after it, only PUBREL is resent (never the PUBLISH
/// [MQTT-4.3.3-5]) and the application gets the message once.
#[test]
fn a_released_qos2_message_is_released_again_not_resent() {
    let mut net = Net::with_store(BrokerOptions::new());
    let s = net.add(persistent(V5, "s", 3600));
    net.subscribe(s, Subscribe::single(1, "t", QoS::ExactlyOnce).unwrap());
    let p = net.add(opts(V5, "pub"));
    let m = Publish::new("t", &b"x"[..])
        .unwrap()
        .with_qos(QoS::ExactlyOnce, 0);
    net.peers[p].client.publish(net.now, m).unwrap();
    // Step until the broker has PUBREC from `s` and PUBREL is on its way,
    // then lose everything `s` would send next (its PUBCOMP).
    let released = net.step_until(|net| {
        stored(net).any(|r| matches!(r, Record::MessageState { released: true, .. }))
    });
    assert!(released, "the release was recorded");
    let _ = net.peers[s].client.take_transmit();
    let report = net.crash();
    assert_eq!(report.messages, 1);
    net.connect(s);
    net.drive();
    assert_eq!(payloads(&net.messages(s)), vec![b"x".to_vec()]);
    assert_eq!(net.crash().messages, 0, "PUBCOMP completed it");
}

/// QoS 2 from the client: the broker answered PUBREC and crashed before
/// PUBREL; the client's resent PUBLISH (DUP) is answered and not routed a
/// second time [MQTT-4.3.3-10], its PUBREL completes it.
#[test]
fn an_inbound_qos2_message_is_not_routed_twice_after_a_crash() {
    let mut net = Net::with_store(BrokerOptions::new());
    let s = net.add(persistent(V5, "s", 3600));
    net.subscribe(s, Subscribe::single(1, "t", QoS::ExactlyOnce).unwrap());
    let p = net.add(persistent(V5, "pub", 3600));
    let m = Publish::new("t", &b"once"[..])
        .unwrap()
        .with_qos(QoS::ExactlyOnce, 0);
    net.peers[p].client.publish(net.now, m).unwrap();
    let kept = net.step_until(|net| stored(net).any(|r| matches!(r, Record::InboundQos2 { .. })));
    assert!(kept, "the inbound QoS 2 state was recorded");
    // The publisher never sees PUBREC: it will resend the PUBLISH.
    let _ = net.peers[p].client.take_transmit();
    let rec = net.crash();
    assert_eq!(rec.sessions, 2);
    net.connect(p);
    net.connect(s);
    net.drive();
    assert_eq!(payloads(&net.messages(s)), vec![b"once".to_vec()]);
    assert_eq!(net.completions(p), vec![ReasonCode::Success]);
    // Released: nothing of it is kept.
    let store = net.store.clone().unwrap();
    let mut again = Net::with_store(BrokerOptions::new());
    let report = again.broker.restore(&store, net.now).unwrap();
    assert_eq!((report.sessions, report.messages), (2, 0));
    let snapshot = again.broker.snapshot(net.now);
    assert!(!records(&snapshot)
        .iter()
        .any(|r| matches!(r, Record::InboundQos2 { .. } | Record::Message { .. })));
}

/// A session ended by the client (clean start, or DISCONNECT with Session
/// Expiry 0) is gone from the store; a clean session is never in it.
#[test]
fn ended_and_clean_sessions_are_not_restored() {
    let mut net = Net::with_store(BrokerOptions::new());
    let kept = net.add(persistent(V5, "kept", 3600));
    let clean = net.add(opts(V5, "clean"));
    net.subscribe(clean, Subscribe::single(1, "c", QoS::AtLeastOnce).unwrap());
    let ends = net.add(persistent(V3, "ends", 0));
    net.subscribe(ends, Subscribe::single(1, "e", QoS::AtLeastOnce).unwrap());
    net.cut(ends);
    // 3.1.1: Clean Session 1 ends the kept session.
    net.peers[ends].client = mqtt_core::client::Client::new(opts(V3, "ends"));
    net.connect(ends);
    let _ = kept;
    let report = net.crash();
    assert_eq!(report.sessions, 1);
    assert_eq!(report.subscriptions, 0);
    assert_eq!(net.broker.session_count(), 1);
    assert_eq!(net.broker.queued_for("kept"), 0);
}

/// [MQTT-3.1.2-23] Session expiry counts the downtime: a session of a
/// client connected at the crash expires its interval after the last
/// batch, one offline at its own time; the restore ends those whose time
/// passed.
#[test]
fn session_expiry_counts_the_downtime() {
    let mut net = Net::with_store(BrokerOptions::new());
    let short = net.add(persistent(V5, "short", 10));
    let long = net.add(persistent(V5, "long", 100));
    net.subscribe(short, Subscribe::single(1, "a", QoS::AtLeastOnce).unwrap());
    net.subscribe(long, Subscribe::single(1, "b", QoS::AtLeastOnce).unwrap());
    net.now += 1_000;
    net.cut(short);
    net.now += 20_000;
    let report = net.crash();
    assert_eq!(report.sessions, 2);
    assert_eq!(
        report.expired_sessions, 1,
        "short expired during the downtime"
    );
    assert_eq!(net.broker.session_count(), 1);
    assert_eq!(net.broker.stats().clients_expired, 1);
    // `long` was connected at the crash: it expires 100 s after the last
    // batch (at 1 s), not 100 s after the restore.
    net.broker.handle_timeout(100_999);
    assert_eq!(net.broker.session_count(), 1);
    net.broker.handle_timeout(101_000);
    assert_eq!(net.broker.session_count(), 0);
}

/// A will waiting for its Will Delay Interval survives a crash and is
/// published at its time [MQTT-3.1.3-9].
#[test]
fn a_delayed_will_survives_a_crash() {
    let mut net = Net::with_store(BrokerOptions::new());
    let watcher = net.add(persistent(V5, "watcher", 3600));
    net.subscribe(
        watcher,
        Subscribe::single(1, "will", QoS::AtLeastOnce).unwrap(),
    );
    let mut will = Will::new("will", &b"gone"[..], QoS::AtLeastOnce).unwrap();
    will.properties.will_delay_interval = Some(30);
    let w = net.add(persistent(V5, "w", 3600).with_will(will));
    net.cut(w);
    net.cut(watcher);
    assert_eq!(net.broker.queued_for("watcher"), 0);
    net.now += 5_000;
    let report = net.crash();
    assert_eq!(report.wills, 1);
    net.broker.handle_timeout(net.now);
    assert_eq!(net.broker.queued_for("watcher"), 0, "not before its time");
    net.now = 30_000;
    net.broker.handle_timeout(net.now);
    assert_eq!(net.broker.queued_for("watcher"), 1);
}

/// Compaction: a snapshot is a store that rebuilds the same state (its
/// own snapshot is byte for byte the same) and is smaller than the log
/// of a busy history.
#[test]
fn a_snapshot_rebuilds_the_same_state_as_the_log() {
    let mut net = Net::with_store(BrokerOptions::new());
    let (s, p) = offline_subscriber(&mut net, V5, QoS::ExactlyOnce);
    for i in 0..50u8 {
        net.publish(p, "t/x", &[i], QoS::AtLeastOnce, i % 5 == 0);
    }
    net.connect(s);
    for i in 0..5u8 {
        net.publish(p, "t/y", &[i], QoS::ExactlyOnce, false);
    }
    net.cut(s);
    net.publish(p, "t/z", b"last", QoS::ExactlyOnce, false);
    let log = net.store.clone().unwrap();
    let now = net.now;
    let mut from_log = Net::with_store(BrokerOptions::new());
    let a = from_log.broker.restore(&log, now).unwrap();
    let snap = from_log.broker.snapshot(now);
    assert!(
        snap.len() < log.len() / 2,
        "{} vs {}",
        snap.len(),
        log.len()
    );
    let mut from_snap = Net::with_store(BrokerOptions::new());
    let b = from_snap.broker.restore(&snap, now).unwrap();
    assert_eq!(
        (a.sessions, a.messages, a.retained),
        (b.sessions, b.messages, b.retained)
    );
    assert_eq!(a.messages, 1);
    assert_eq!(from_snap.broker.snapshot(now), snap);
    assert_eq!(net.broker.snapshot(now), snap);
}

/// A store cut at every byte of its last batch rebuilds the state before
/// that batch (a torn write is discarded whole), reports what it
/// discarded, and never panics; a flipped byte ends the valid prefix with
/// a checksum error.
#[test]
fn a_torn_or_damaged_tail_is_discarded_and_reported() {
    let mut net = Net::with_store(BrokerOptions::new());
    let (_s, p) = offline_subscriber(&mut net, V5, QoS::AtLeastOnce);
    net.publish(p, "t/1", b"one", QoS::AtLeastOnce, false);
    let before = net.store.clone().unwrap();
    net.publish(p, "t/2", b"two", QoS::AtLeastOnce, false);
    let store = net.store.clone().unwrap();
    assert!(store.len() > before.len());
    for cut in before.len()..store.len() {
        let mut e = Net::with_store(BrokerOptions::new());
        let r = e.broker.restore(&store[..cut], net.now).unwrap();
        assert_eq!(r.valid_len, before.len(), "cut at {cut}");
        assert_eq!(r.discarded_bytes, cut - before.len());
        assert_eq!(e.broker.queued_for("s"), 1, "cut at {cut}");
        // Cut inside a frame: the frame is short; at a frame boundary the
        // batch lacks its commit (no damage, just discarded).
        if let Some(d) = &r.damage {
            assert_eq!(d.error, FrameError::Truncated, "cut at {cut}");
        }
    }
    let mut e = Net::with_store(BrokerOptions::new());
    assert_eq!(
        e.broker.restore(&store, net.now).unwrap().valid_len,
        store.len()
    );
    assert_eq!(e.broker.queued_for("s"), 2);
    // A flipped byte inside the last batch.
    for at in before.len()..store.len() {
        let mut bad = store.clone();
        bad[at] ^= 0x40;
        let mut e = Net::with_store(BrokerOptions::new());
        let r = e.broker.restore(&bad, net.now).unwrap();
        assert_eq!(r.valid_len, before.len(), "flip at {at}");
        assert!(r.damage.is_some(), "flip at {at}");
        assert_eq!(e.broker.queued_for("s"), 1);
    }
}

/// A store of a newer format is refused, bytes that are not a store are
/// refused, and restoring into a broker that has state is refused.
#[test]
fn foreign_and_newer_stores_are_refused() {
    let mut e = Net::with_store(BrokerOptions::new());
    let mut newer = STORE_HEADER.to_vec();
    newer[8] = 2;
    assert!(matches!(
        e.broker.restore(&newer, 0),
        Err(RestoreError::NewerVersion {
            found: 2,
            supported: 1
        })
    ));
    assert_eq!(
        e.broker.restore(b"mosquitto db", 0),
        Err(RestoreError::NotAStore)
    );
    let empty = e.broker.restore(&[], 0).unwrap();
    assert_eq!(empty.valid_len, 0);
    let mut net = Net::with_store(BrokerOptions::new());
    net.add(persistent(V5, "s", 60));
    let store = net.store.clone().unwrap();
    assert_eq!(net.broker.restore(&store, 0), Err(RestoreError::NotEmpty));
}

/// With persistence off (the default) nothing is recorded.
#[test]
fn nothing_is_recorded_with_persistence_off() {
    let mut net = Net::new(BrokerOptions::new());
    let (_s, p) = offline_subscriber(&mut net, V5, QoS::AtLeastOnce);
    net.publish(p, "t/1", b"one", QoS::AtLeastOnce, true);
    assert_eq!(net.broker.poll_store(net.now), None);
    assert!(net.peers[p]
        .events
        .iter()
        .any(|e| matches!(e, Event::PublishCompleted { .. })));
}

/// A retained message whose Message Expiry Interval passed during the
/// downtime is not restored [MQTT-3.3.2-5] (found by fuzzing: the report
/// counted it).
#[test]
fn a_retained_message_that_expired_during_the_downtime_is_gone() {
    let mut net = Net::with_store(BrokerOptions::new());
    let p = net.add(opts(V5, "pub"));
    let mut m = Publish::new("r", &b"short"[..])
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 0);
    m.retain = true;
    m.properties.message_expiry_interval = Some(1);
    net.publish_with(p, m);
    net.publish(p, "k", b"kept", QoS::AtLeastOnce, true);
    net.now += 2_000;
    let report = net.crash();
    assert_eq!(report.retained, 1);
    assert_eq!(net.broker.retained().len(), 1);
}

/// A resumed session's in-flight message that waits for room in the
/// client's smaller Receive Maximum keeps its packet identifier: it is in
/// a snapshot, survives the client going away again and is never dropped
/// for its Message Expiry Interval, as its delivery has started
/// [MQTT-3.3.2-5] [MQTT-4.4.0-1] (found by fuzzing).
#[test]
fn a_resend_waiting_for_the_window_stays_in_flight() {
    let mut net = Net::with_store(BrokerOptions::new());
    let s = net.add(persistent(V5, "s", 3600));
    net.subscribe(s, Subscribe::single(1, "t", QoS::AtLeastOnce).unwrap());
    let p = net.add(opts(V5, "pub"));
    for (i, expiry) in [(1u8, None), (2, Some(1))] {
        let mut m = Publish::new("t", vec![i])
            .unwrap()
            .with_qos(QoS::AtLeastOnce, 0);
        m.properties.message_expiry_interval = expiry;
        net.peers[p].client.publish(net.now, m).unwrap();
    }
    // Both reach `s`; its PUBACKs are lost with the connection.
    assert!(net.step_until(|net| net.messages(s).len() == 2));
    let _ = net.peers[s].client.take_transmit();
    net.cut(s);
    // Back with a Receive Maximum of 1, after the second one's expiry: one
    // is resent, the other waits with its identifier.
    net.now += 5_000;
    net.peers[s].client =
        mqtt_core::client::Client::new(persistent(V5, "s", 3600).with_receive_maximum(1));
    let conn = net.broker.connection_opened(net.now);
    net.peers[s].conn = Some(conn);
    net.peers[s].client.connect(net.now).unwrap();
    // One step: CONNECT in, CONNACK and the one resend out; the client's
    // PUBACK for it is lost below.
    net.step();
    assert_eq!(net.connected(s).last(), Some(&true));
    let _ = net.peers[s].client.take_transmit();
    let now = net.now;
    let snapshot = net.broker.snapshot(now);
    let in_flight = records(&snapshot)
        .iter()
        .filter(|r| matches!(r, Record::Message { packet_id, .. } if *packet_id != 0))
        .count();
    assert_eq!(in_flight, 2, "both in flight in the snapshot");
    // The client goes away after the second one's expiry would have
    // passed while it waited.
    net.now += 2_000;
    net.cut(s);
    let now = net.now;
    let kept = records(&net.broker.snapshot(now))
        .iter()
        .filter(|r| matches!(r, Record::Message { .. }))
        .count();
    assert_eq!(kept, 2, "both kept by the engine");
    assert_eq!(net.crash().messages, 2, "both kept in the log");
    net.peers[s].client = mqtt_core::client::Client::new(persistent(V5, "s", 3600));
    net.connect(s);
    // Two at first, the one resent in the small window, both again.
    assert_eq!(net.messages(s).len(), 5, "both delivered again");
}

/// A delayed will whose time came during the downtime is published by the
/// restore itself, before a reconnecting client could cancel it
/// [MQTT-3.1.3-9] (found by the crash simulation).
#[test]
fn a_will_due_during_the_downtime_is_published_at_restore() {
    let mut net = Net::with_store(BrokerOptions::new());
    let watcher = net.add(persistent(V5, "watcher", 3600));
    net.subscribe(
        watcher,
        Subscribe::single(1, "will", QoS::AtLeastOnce).unwrap(),
    );
    let will = Will::new("will", &b"gone"[..], QoS::AtLeastOnce).unwrap();
    let mut will = will;
    will.properties.will_delay_interval = Some(5);
    let w = net.add(persistent(V5, "w", 3600).with_will(will));
    net.cut(w);
    net.cut(watcher);
    net.now += 10_000;
    net.crash();
    assert_eq!(
        net.broker.queued_for("watcher"),
        1,
        "published by the restore"
    );
    net.connect(w);
    net.connect(watcher);
    assert_eq!(payloads(&net.messages(watcher)), vec![b"gone".to_vec()]);
}
