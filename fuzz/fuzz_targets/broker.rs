//! The sans-IO broker engine driven by an arbitrary script over up to four
//! connections at once: open a connection, feed it a client packet built
//! from the input (CONNECT in either version with wills, sessions and
//! keep alive; SUBSCRIBE, UNSUBSCRIBE, PUBLISH at QoS 0-2 with retain,
//! acknowledgements, PINGREQ, DISCONNECT) split into arbitrary chunks and
//! sometimes damaged, or raw bytes; advance the time; close a connection;
//! mark a connection writable or not (`Broker::set_writable`).
//! Limits and server options are drawn small so that every limit is hit.
//!
//! Invariants checked after every operation, beyond "no panic":
//! - `poll_output` names only open connections (opened and not yet
//!   reported closed), `poll_close` only connections that were opened;
//! - `connection_count` is the number of open connections;
//! - after `handle_timeout(now)`, `poll_timeout` is later than `now`;
//! - `poll_timeout` (from the engine's index of deadlines) is the earliest
//!   deadline of every connection, session, will and retained message
//!   (`Broker::poll_timeout_scan`);
//! - sessions, retained messages (count and bytes), subscriptions per
//!   client and queues stay within the configured limits;
//! - nothing is output for a connection marked not writable, and QoS 0
//!   messages dropped for congestion are among the dropped ones;
//! - on a connection fed only whole, undamaged packets of one version,
//!   starting with CONNECT, everything the broker writes decodes strictly
//!   in that version, starts with CONNACK, and no packet exceeds the
//!   Maximum Packet Size the CONNECT gave [MQTT-3.1.2-24];
//! - with persistence (when the input's first byte is odd), the store
//!   (every `poll_store` batch, taken before the output) restores without
//!   damage into a new engine, to the same sessions, subscriptions,
//!   messages, retained messages and wills as a snapshot of the engine at
//!   the end, whose own restore's snapshot is the same again.
#![no_main]

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use mqtt_core::broker::persist::STORE_HEADER;
use mqtt_core::broker::{
    Broker, BrokerLimits, BrokerOptions, ConnectionId, QueueFullPolicy, RestoreReport,
};
use mqtt_core::codec::{
    Connect, DecodeOptions, Decoder, Disconnect, Packet, ProtocolVersion, PubAck, PubComp, PubRec,
    PubRel, Publish, QoS, ReasonCode, Subscribe, SubscribeFilter, SubscriptionOptions, Unsubscribe,
    Will,
};
use mqtt_core::server::ServerOptions;

mod common;

use common::{damage, in_chunks, qos, R};

const CLIENT_IDS: [&str; 4] = ["a", "b", "c", ""];
const TOPICS: [&str; 5] = ["a", "a/b", "t/1", "r", "deep/x/y/z"];
const FILTERS: [&str; 6] = ["a", "a/+", "#", "t/#", "$share/g/t/+", "deep/+/+/z"];
const MAX_CONNS: usize = 4;

fuzz_target!(|data: &[u8]| {
    // Decided outside the script, so that the corpus keeps its meaning.
    let persistence = data.first().is_some_and(|b| b & 1 == 1);
    let _ = run(&mut Unstructured::new(data), persistence);
});

struct Conn {
    id: ConnectionId,
    version: ProtocolVersion,
    /// Only whole, undamaged packets of `version` were fed, the first a
    /// CONNECT: what the broker writes must decode strictly.
    pure: bool,
    /// Packets fed so far.
    fed: usize,
    /// The Maximum Packet Size of the first CONNECT (5.0).
    max_packet: Option<u32>,
    /// Decodes what the broker writes (on pure connections).
    wire: Decoder,
    /// The broker has written CONNACK.
    acked: bool,
    /// Marked writable (the default) or not.
    writable: bool,
}

struct World {
    broker: Broker,
    limits: BrokerLimits,
    now: u64,
    open: Vec<Conn>,
    /// Every connection ever opened.
    known: BTreeSet<ConnectionId>,
    /// The durable store, with persistence.
    store: Option<Vec<u8>>,
}

fn limits(u: &mut Unstructured<'_>) -> R<BrokerLimits> {
    let mut l = BrokerLimits::default();
    l.max_sessions = u.int_in_range(0..=3)?;
    l.max_subscriptions_per_client = u.int_in_range(0..=3)?;
    l.max_queued_messages = u.int_in_range(0..=3)?;
    l.queue_full_policy = if u.arbitrary()? {
        QueueFullPolicy::DropOldest
    } else {
        QueueFullPolicy::DropNewest
    };
    l.max_retained_messages = u.int_in_range(0..=2)?;
    l.max_retained_bytes = u.int_in_range(0..=120)?;
    l.max_topic_levels = u.int_in_range(1..=3)?;
    l.max_queued_bytes = u.int_in_range(0..=40)?;
    l.max_output_bytes_per_connection = u.int_in_range(0..=200)?;
    l.max_payload_bytes = *u.choose(&[0, 3, 4, usize::MAX])?;
    l.max_session_expiry_interval = *u.choose(&[0, 1, 5, u32::MAX])?;
    Ok(l)
}

fn server_options(u: &mut Unstructured<'_>) -> R<ServerOptions> {
    let mut o = ServerOptions::new()
        .with_receive_maximum(u.int_in_range(1..=3)?)
        .with_max_inflight(u.int_in_range(1..=3)?)
        .with_max_queued(u.int_in_range(0..=3)?)
        .with_topic_alias_maximum(u.int_in_range(0..=2)?)
        .with_connect_timeout(u.int_in_range(0..=3_000)?)
        .with_outbound_topic_aliases(u.arbitrary()?)
        .with_retain_available(!u.ratio(1, 8)?)
        .with_maximum_qos(qos(u)?);
    if u.ratio(1, 4)? {
        o = o.with_server_keep_alive(Some(u.int_in_range(0..=3)?));
    }
    Ok(o)
}

fn client_packet(u: &mut Unstructured<'_>, version: ProtocolVersion) -> R<Option<Packet>> {
    let v5 = version.is_v5();
    let pid = |u: &mut Unstructured<'_>| u.int_in_range(1u16..=4);
    Ok(Some(match u.int_in_range(0u8..=10)? {
        0 | 1 => {
            let id = *u.choose(&CLIENT_IDS)?;
            let Ok(mut c) = Connect::new(version, id) else {
                return Ok(None);
            };
            c = c
                .with_clean_start(u.arbitrary()?)
                .with_keep_alive(u.int_in_range(0u16..=3)?);
            if u.arbitrary()? {
                let Ok(mut w) = Will::new(*u.choose(&TOPICS)?, &b"will"[..], qos(u)?) else {
                    return Ok(None);
                };
                w = w.with_retain(u.arbitrary()?);
                if v5 && u.arbitrary()? {
                    w.properties.will_delay_interval = Some(u.int_in_range(0..=3)?);
                }
                c = c.with_will(w);
            }
            if v5 {
                let p = &mut c.properties;
                if u.arbitrary()? {
                    p.session_expiry_interval = Some(*u.choose(&[0, 1, 5, u32::MAX])?);
                }
                p.receive_maximum = Some(u.int_in_range(1u16..=3)?);
                p.topic_alias_maximum = Some(u.int_in_range(0u16..=2)?);
                if u.arbitrary()? {
                    p.maximum_packet_size = Some(u.int_in_range(24u32..=200)?);
                }
            }
            c.into()
        }
        2..=4 => {
            let q = qos(u)?;
            let len = u.int_in_range(0usize..=40)?;
            let payload = Bytes::from(vec![b'x'; len]);
            let Ok(mut p) = Publish::new(*u.choose(&TOPICS)?, payload) else {
                return Ok(None);
            };
            let id = if q == QoS::AtMostOnce { 0 } else { pid(u)? };
            p = p.with_qos(q, id).with_retain(u.ratio(1, 3)?);
            p.dup = q != QoS::AtMostOnce && u.ratio(1, 8)?;
            if v5 && u.ratio(1, 4)? {
                p.properties.message_expiry_interval = Some(u.int_in_range(0..=3)?);
            }
            p.into()
        }
        5 => {
            let n = u.int_in_range(1usize..=3)?;
            let mut filters = Vec::new();
            for _ in 0..n {
                let mut o = SubscriptionOptions::new(qos(u)?);
                if v5 {
                    o.no_local = u.ratio(1, 4)?;
                    o.retain_as_published = u.arbitrary()?;
                }
                if let Ok(f) = SubscribeFilter::new(*u.choose(&FILTERS)?, o) {
                    filters.push(f);
                }
            }
            if filters.is_empty() {
                return Ok(None);
            }
            let mut s = Subscribe::new(pid(u)?, filters);
            if v5 && u.ratio(1, 4)? {
                s = s.with_subscription_identifier(u.int_in_range(1..=3)?);
            }
            s.into()
        }
        6 => {
            let Ok(s) = Unsubscribe::single(pid(u)?, *u.choose(&FILTERS)?) else {
                return Ok(None);
            };
            s.into()
        }
        7 => PubAck::new(pid(u)?).into(),
        8 => match u.int_in_range(0u8..=2)? {
            0 => PubRec::new(pid(u)?).into(),
            1 => PubRel::new(pid(u)?).into(),
            _ => PubComp::new(pid(u)?).into(),
        },
        9 => Packet::PingReq,
        _ => {
            let code = if v5 && u.arbitrary()? {
                ReasonCode::DisconnectWithWillMessage
            } else {
                ReasonCode::Success
            };
            let mut d = Disconnect::new(code);
            if v5 && u.ratio(1, 4)? {
                d.properties.session_expiry_interval = Some(u.int_in_range(0..=3)?);
            }
            d.into()
        }
    }))
}

impl World {
    fn feed(&mut self, u: &mut Unstructured<'_>, i: usize, mut bytes: Vec<u8>) -> R<()> {
        if damage(u, &mut bytes)? {
            self.open[i].pure = false;
        }
        let id = self.open[i].id;
        in_chunks(u, &bytes, |chunk| {
            self.broker.handle_input(id, self.now, chunk);
            self.drain();
        })
    }

    /// Lets time pass until `now` and checks the next deadline is later.
    fn advance_to(&mut self, now: u64) {
        self.now = now;
        self.broker.handle_timeout(now);
        self.drain();
        if let Some(t) = self.broker.poll_timeout() {
            assert!(t > now, "deadline {t} not after handle_timeout({now})");
        }
    }

    /// Drains outputs and close requests, checking the invariants.
    fn drain(&mut self) {
        // Output for a connection marked not writable: only its last bytes
        // when the engine closes it (checked below).
        let mut closing_output = BTreeSet::new();
        // The records before the output they make true.
        if let Some(store) = &mut self.store {
            if let Some(batch) = self.broker.poll_store(self.now) {
                store.extend_from_slice(&batch);
            }
        }
        while let Some((id, bytes)) = self.broker.poll_output() {
            let Some(c) = self.open.iter_mut().find(|c| c.id == id) else {
                panic!(
                    "output of {} bytes for {id:?}, which is not open",
                    bytes.len()
                );
            };
            if !c.writable {
                closing_output.insert(id);
            }
            if !c.pure {
                continue;
            }
            c.wire.feed(&bytes);
            loop {
                let packet = match c.wire.next_packet() {
                    Ok(Some(p)) => p,
                    Ok(None) => break,
                    Err(e) => panic!("the broker wrote an invalid packet to {id:?}: {e}"),
                };
                if !c.acked {
                    assert!(
                        matches!(packet, Packet::ConnAck(_)),
                        "first packet to {id:?} is {packet:?}"
                    );
                    c.acked = true;
                }
                if let Some(max) = c.max_packet {
                    let mut buf = BytesMut::new();
                    if packet.encode(c.version, &mut buf).is_ok() {
                        assert!(
                            buf.len() <= max as usize,
                            "{} bytes to {id:?} over its Maximum Packet Size {max}: {packet:?}",
                            buf.len()
                        );
                    }
                }
            }
        }
        while let Some(id) = self.broker.poll_close() {
            assert!(self.known.contains(&id), "close of unknown {id:?}");
            closing_output.remove(&id);
            // The driver closes the transport and reports it.
            if let Some(k) = self.open.iter().position(|c| c.id == id) {
                self.open.remove(k);
                self.broker.connection_closed(id, self.now);
            }
        }
        assert!(
            closing_output.is_empty(),
            "output for {closing_output:?}, marked not writable and not closed"
        );
        self.check_counts();
    }

    fn check_counts(&self) {
        let b = &self.broker;
        let l = &self.limits;
        // The engine's index of deadlines agrees with a scan.
        assert_eq!(
            b.poll_timeout(),
            b.poll_timeout_scan(),
            "poll_timeout is not the earliest deadline"
        );
        assert_eq!(b.connection_count(), self.open.len(), "connection count");
        // Kept sessions stay within max_sessions (a new one evicts the one
        // offline longest); a client whose session ends with its connection
        // is admitted even when every session is connected, so the total
        // can exceed the limit by at most the connections open.
        assert!(
            b.session_count() <= l.max_sessions + self.open.len(),
            "sessions {} (max_sessions {}, {} connections)",
            b.session_count(),
            l.max_sessions,
            self.open.len()
        );
        assert!(
            b.retained().len() <= l.max_retained_messages,
            "retained count"
        );
        assert!(
            b.retained().bytes() <= l.max_retained_bytes,
            "retained bytes"
        );
        for id in CLIENT_IDS {
            assert!(b.queued_for(id) <= l.max_queued_messages, "queue of {id:?}");
        }
        assert!(
            b.congestion_dropped_messages() <= b.dropped_messages(),
            "congestion drops are drops"
        );
        let subs = b.subscriptions();
        // Per session, and sessions as bounded above.
        assert!(
            subs.len()
                <= l.max_subscriptions_per_client * (l.max_sessions + self.open.len()).max(1),
            "subscriptions {}",
            subs.len()
        );
    }
}

fn run(u: &mut Unstructured<'_>, persistence: bool) -> R<()> {
    let limits = limits(u)?;
    let opts = BrokerOptions::new()
        .with_limits(limits.clone())
        .with_server_options(server_options(u)?)
        .with_persistence(persistence);
    let mut w = World {
        broker: Broker::new(opts.clone()),
        limits,
        now: 0,
        open: Vec::new(),
        known: BTreeSet::new(),
        store: persistence.then(|| STORE_HEADER.to_vec()),
    };
    let result = script(u, &mut w);
    if let Some(store) = w.store.take() {
        check_store(&opts, &mut w.broker, store, w.now);
    }
    result
}

/// The store restores without damage to what a snapshot of the engine
/// restores to, and a snapshot of that restores to the same snapshot.
fn check_store(opts: &BrokerOptions, broker: &mut Broker, mut store: Vec<u8>, now: u64) {
    if let Some(batch) = broker.poll_store(now) {
        store.extend_from_slice(&batch);
    }
    let counts = |r: &RestoreReport| (r.sessions, r.subscriptions, r.messages, r.retained, r.wills);
    let mut from_log = Broker::new(opts.clone());
    let a = from_log.restore(&store, now).expect("the store restores");
    assert_eq!((a.damage.clone(), a.discarded_bytes), (None, 0), "{a:?}");
    let snapshot = broker.snapshot(now);
    let mut from_snapshot = Broker::new(opts.clone());
    let b = from_snapshot.restore(&snapshot, now).expect("the snapshot restores");
    assert_eq!(b.discarded_bytes, 0, "{b:?}");
    if counts(&a) != counts(&b) {
        let show = |bytes: &[u8]| {
            mqtt_core::broker::persist::Frames::new(bytes, STORE_HEADER.len())
                .map(|f| format!("{f:?}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        eprintln!("LOG:\n{}\nSNAPSHOT:\n{}", show(&store), show(&snapshot));
    }
    assert_eq!(counts(&a), counts(&b), "log {a:?}, snapshot {b:?}");
    let again = from_snapshot.snapshot(now);
    let mut third = Broker::new(opts.clone());
    third.restore(&again, now).expect("a restored snapshot restores");
    assert_eq!(third.snapshot(now), again);
}

fn script(u: &mut Unstructured<'_>, w: &mut World) -> R<()> {
    for _ in 0..u.int_in_range(0..=120)? {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0u8..=10)? {
            0 => {
                if w.open.len() < MAX_CONNS {
                    let id = w.broker.connection_opened(w.now);
                    assert!(w.known.insert(id), "{id:?} given twice");
                    let version = common::version(u)?;
                    w.open.push(Conn {
                        id,
                        version,
                        pure: true,
                        fed: 0,
                        max_packet: None,
                        wire: Decoder::new(DecodeOptions::new(version)),
                        acked: false,
                        writable: true,
                    });
                }
            }
            1..=5 => {
                if w.open.is_empty() {
                    continue;
                }
                let i = u.choose_index(w.open.len())?;
                let version = w.open[i].version;
                if let Some(p) = client_packet(u, version)? {
                    let mut buf = BytesMut::new();
                    if p.encode(version, &mut buf).is_ok() {
                        let c = &mut w.open[i];
                        match &p {
                            Packet::Connect(connect) if c.fed == 0 => {
                                c.max_packet = connect.properties.maximum_packet_size;
                            }
                            _ if c.fed == 0 => c.pure = false,
                            _ => {}
                        }
                        c.fed += 1;
                        w.feed(u, i, buf.to_vec())?;
                    }
                }
            }
            6 => {
                if w.open.is_empty() {
                    continue;
                }
                let i = u.choose_index(w.open.len())?;
                let len = u.int_in_range(0usize..=24)?;
                let bytes = u.bytes(len)?.to_vec();
                w.open[i].pure = false;
                w.feed(u, i, bytes)?;
            }
            7 => {
                let step: u64 = *u.choose(&[0, 1, 100, 999, 1_000, 1_500, 5_000, 60_000])?;
                w.advance_to(w.now + step);
            }
            8 => {
                // Jump straight to the next deadline.
                if let Some(t) = w.broker.poll_timeout() {
                    assert!(t >= w.now, "deadline {t} in the past at {}", w.now);
                    w.advance_to(t);
                }
            }
            9 => {
                if w.open.is_empty() {
                    continue;
                }
                let i = u.choose_index(w.open.len())?;
                let writable = u.arbitrary()?;
                w.open[i].writable = writable;
                w.broker.set_writable(w.open[i].id, w.now, writable);
                w.drain();
            }
            _ => {
                if w.open.is_empty() {
                    continue;
                }
                let i = u.choose_index(w.open.len())?;
                let c = w.open.remove(i);
                w.broker.connection_closed(c.id, w.now);
                w.drain();
            }
        }
        w.drain();
    }
    Ok(())
}
