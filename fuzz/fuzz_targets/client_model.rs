//! The sans-IO client driven by arbitrary operations: inbound bytes (valid
//! server packets built from the input, split into arbitrary chunks, some
//! of them damaged, and raw bytes), commands (connect, publish at QoS 0-2,
//! subscribe, unsubscribe, acknowledge, authenticate, disconnect, transport
//! closed, export/import of the session) and time steps, with options drawn
//! from the input, both versions.
//!
//! Invariants checked after every operation, beyond "no panic":
//! - everything the client sends decodes, strictly, as packets a client may
//!   send in its version (a decoder per transport, reset on `connect`):
//!   CONNECT first and only first; after CONNACK no packet larger than the
//!   server's Maximum Packet Size, no Topic Alias above its Topic Alias
//!   Maximum, no new PUBLISH above its Maximum QoS or retained without
//!   Retain Available;
//! - packet identifiers of QoS 1 and 2 publishes are unique while in
//!   flight: a new PUBLISH (DUP 0) never uses one that has not completed,
//!   a resent one (DUP 1) only one that has; new ones keep within the
//!   window (our limit and the server's Receive Maximum);
//! - every QoS 1/2 `PublishId` is reported at most once by completion, drop
//!   or requeue, never one that was not handed out; requeued ids go on;
//! - `poll_timeout` is never in the past after `handle_timeout`, and is
//!   `None` while disconnected unless a message is queued (its expiry);
//!   `state()` agrees with the last connection
//!   event;
//! - stats: counters never decrease, bytes and packets taken out are no
//!   more than those counted, in-flight publishes are no more than the ids
//!   outstanding, and those no more than in flight plus queued;
//! - a token from a delivered message is accepted the first time;
//!   messages carry tokens exactly under manual acknowledgement;
//! - an exported session round-trips through bytes, imports into a new
//!   client and exports again to the same commands and subscriptions.
//!
//! The `client` target runs [`run`] on every input; the test
//! `tests/tests/fuzz_regressions.rs` runs it on the inputs kept in
//! `fuzz/regressions/client/` (this file is included there with
//! `#[path]`).

use std::collections::BTreeSet;

use arbitrary::Unstructured;
use bytes::{Bytes, BytesMut};
use mqtt_core::client::{
    AckToken, Client, ClientOptions, ConnectionState, Event, PublishId, QueueFullPolicy,
    SessionLostPolicy, SessionState, Stats,
};
use mqtt_core::codec::{
    Auth, AuthProperties, ConnAck, DecodeOptions, Decoder, Disconnect, MqttString, Packet,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS, ReasonCode, SubAck, Subscribe,
    SubscribeFilter, SubscriptionOptions, TopicName, UnsubAck, Unsubscribe,
};

type R<T> = arbitrary::Result<T>;

const TOPICS: [&str; 5] = ["a", "a/b", "t/1", "t/2", "long/topic/name/x"];
const FILTERS: [&str; 5] = ["a", "a/+", "#", "$share/g/t/+", "t/#"];

/// `CLIENT_FUZZ_TRACE=1` prints every operation, event and packet sent
/// (for reading a crash).
fn trace() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CLIENT_FUZZ_TRACE").is_some())
}

fn qos(u: &mut Unstructured<'_>) -> R<QoS> {
    Ok(match u.int_in_range(0u8..=2)? {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    })
}

fn reason(u: &mut Unstructured<'_>, usual: ReasonCode) -> R<ReasonCode> {
    if u.ratio(3, 4)? {
        return Ok(usual);
    }
    Ok(ReasonCode::from_u8(u.arbitrary()?).unwrap_or(usual))
}

fn options(u: &mut Unstructured<'_>, version: ProtocolVersion) -> R<ClientOptions> {
    // 3.1 needs an identifier of 1 to 23 characters (`connect` refuses
    // others, checked by the tests).
    let empty = u.arbitrary()? && !version.is_v31();
    let mut o = ClientOptions::new(version, if empty { "" } else { "fuzz" })
        .expect("valid client id")
        .with_clean_start(u.arbitrary()?)
        .with_keep_alive(u.int_in_range(0u16..=3)?)
        .with_receive_maximum(u.int_in_range(1u16..=4)?)
        .with_max_inflight(u.int_in_range(1u16..=4)?)
        .with_queue(
            u.int_in_range(0usize..=6)?,
            if u.arbitrary()? {
                QueueFullPolicy::RejectNew
            } else {
                QueueFullPolicy::DropOldest
            },
        )
        .with_queue_qos0_offline(u.arbitrary()?)
        .with_session_lost(if u.arbitrary()? {
            SessionLostPolicy::Requeue
        } else {
            SessionLostPolicy::Drop
        })
        .with_resubscribe_on_session_lost(u.arbitrary()?)
        .with_auto_topic_alias(u.arbitrary()?)
        .with_manual_ack(u.arbitrary()?)
        .with_connect_timeout(u.int_in_range(0u64..=5_000)?)
        .with_ping_timeout(u.int_in_range(0u64..=5_000)?)
        .with_max_transmit_buffer(u.int_in_range(1usize..=512)?);
    if version.is_v5() {
        o = o
            .with_session_expiry_interval(u.int_in_range(0u32..=10)?)
            .with_topic_alias_maximum(u.int_in_range(0u16..=3)?)
            .with_maximum_packet_size(if u.arbitrary()? {
                0
            } else {
                u.int_in_range(16u32..=300)?
            });
        if u.ratio(1, 4)? {
            o = o.with_authentication("M", None).expect("valid method");
        }
    }
    o.leniency.ignore_unknown_acks = u.ratio(1, 4)?;
    Ok(o)
}

/// What the server announced in the last CONNACK the client accepted.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_packet: usize,
    alias_max: u16,
    max_qos: QoS,
    retain: bool,
    receive_max: u16,
}

struct World {
    version: ProtocolVersion,
    opts: ClientOptions,
    client: Client,
    now: u64,
    /// Decodes what the client sends on the current transport.
    wire: Decoder,
    /// A transport is open (connect called, not closed since).
    transport: bool,
    /// Packets decoded on the current transport.
    sent_on_transport: u64,
    limits: Option<Limits>,
    /// QoS 1/2 ids handed out and not reported finished.
    live: BTreeSet<PublishId>,
    /// QoS 0 ids handed out (a drop may name one).
    live_qos0: BTreeSet<PublishId>,
    /// Packet identifiers of QoS 1/2 publishes seen on the wire, not
    /// finished.
    on_wire: BTreeSet<u16>,
    /// QoS 0 publishes restored by the last restart, not reported since.
    restored_qos0: usize,
    /// Packet ids of publishes finished in the current batch of events.
    finished: BTreeSet<u16>,
    /// Tokens delivered and not acknowledged yet.
    tokens: Vec<AckToken>,
    /// Packet ids the client used (for acks that match).
    recent_ids: Vec<u16>,
    out_bytes: u64,
    out_packets: u64,
    in_bytes: u64,
    last_stats: Stats,
}

impl World {
    fn new(version: ProtocolVersion, opts: ClientOptions) -> World {
        World {
            version,
            client: Client::new(opts.clone()),
            opts,
            now: 0,
            wire: Decoder::new(DecodeOptions::new(version)),
            transport: false,
            sent_on_transport: 0,
            limits: None,
            live: BTreeSet::new(),
            live_qos0: BTreeSet::new(),
            on_wire: BTreeSet::new(),
            finished: BTreeSet::new(),
            restored_qos0: 0,
            tokens: Vec::new(),
            recent_ids: Vec::new(),
            out_bytes: 0,
            out_packets: 0,
            in_bytes: 0,
            last_stats: Stats::default(),
        }
    }

    fn encode(&self, p: impl Into<Packet>) -> Option<Bytes> {
        let mut b = BytesMut::new();
        p.into().encode(self.version, &mut b).ok()?;
        Some(b.freeze())
    }

    fn pick_id(&self, u: &mut Unstructured<'_>) -> R<u16> {
        if !self.recent_ids.is_empty() && u.ratio(7, 8)? {
            let i = u.choose_index(self.recent_ids.len())?;
            return Ok(self.recent_ids[i]);
        }
        u.int_in_range(0u16..=5)
    }

    /// A server packet built from the input (encodable or skipped).
    fn server_packet(&self, u: &mut Unstructured<'_>) -> R<Option<Bytes>> {
        let v5 = self.version.is_v5();
        let pkt: Packet = match u.int_in_range(0u8..=11)? {
            0 => {
                // 3.1 has no Session Present flag.
                let present = u.arbitrary()? && !self.version.is_v31();
                let mut c = ConnAck::new(present, reason(u, ReasonCode::Success)?);
                if v5 {
                    let p = &mut c.properties;
                    if u.arbitrary()? {
                        p.receive_maximum = Some(u.int_in_range(1u16..=4)?);
                    }
                    if u.arbitrary()? {
                        p.maximum_packet_size = Some(u.int_in_range(10u32..=200)?);
                    }
                    if u.arbitrary()? {
                        p.topic_alias_maximum = Some(u.int_in_range(0u16..=3)?);
                    }
                    if u.ratio(1, 4)? {
                        p.maximum_qos = Some(if u.arbitrary()? {
                            QoS::AtMostOnce
                        } else {
                            QoS::AtLeastOnce
                        });
                    }
                    if u.ratio(1, 4)? {
                        p.retain_available = Some(u.arbitrary()?);
                    }
                    if u.ratio(1, 4)? {
                        p.server_keep_alive = Some(u.int_in_range(0u16..=3)?);
                    }
                    if u.ratio(1, 4)? {
                        p.assigned_client_identifier =
                            Some(MqttString::from_static("assigned").expect("valid"));
                    }
                    if u.ratio(1, 6)? {
                        p.wildcard_subscription_available = Some(false);
                        p.shared_subscription_available = Some(false);
                        p.subscription_identifiers_available = Some(false);
                    }
                }
                c.into()
            }
            1 | 2 => {
                let q = qos(u)?;
                let pid = if q == QoS::AtMostOnce {
                    0
                } else {
                    u.int_in_range(1u16..=6)?
                };
                let len = u.int_in_range(0usize..=40)?;
                let payload = Bytes::copy_from_slice(u.bytes(len.min(u.len()))?);
                let mut p = Publish::new(TOPICS[u.choose_index(TOPICS.len())?], payload)
                    .expect("valid topic")
                    .with_qos(q, pid)
                    .with_retain(u.arbitrary()?);
                p.dup = q != QoS::AtMostOnce && u.arbitrary()?;
                if v5 && u.ratio(1, 3)? {
                    p.properties.topic_alias = Some(u.int_in_range(1u16..=4)?);
                    if u.arbitrary()? {
                        p.topic = TopicName::EMPTY;
                    }
                }
                p.into()
            }
            3 => PubAck::new(self.pick_id(u)?)
                .with_reason_code(reason(u, ReasonCode::Success)?)
                .into(),
            4 => PubRec::new(self.pick_id(u)?)
                .with_reason_code(reason(u, ReasonCode::Success)?)
                .into(),
            5 => PubComp::new(self.pick_id(u)?)
                .with_reason_code(reason(u, ReasonCode::Success)?)
                .into(),
            6 => PubRel::new(u.int_in_range(1u16..=6)?)
                .with_reason_code(reason(u, ReasonCode::Success)?)
                .into(),
            7 => {
                let n = u.int_in_range(1usize..=3)?;
                let codes = (0..n)
                    .map(|_| reason(u, ReasonCode::GrantedQoS1))
                    .collect::<R<Vec<_>>>()?;
                SubAck::new(self.pick_id(u)?, codes).into()
            }
            8 => {
                let n = if v5 { u.int_in_range(1usize..=3)? } else { 0 };
                let codes = (0..n)
                    .map(|_| reason(u, ReasonCode::Success))
                    .collect::<R<Vec<_>>>()?;
                UnsubAck::new(self.pick_id(u)?, codes).into()
            }
            9 => Packet::PingResp,
            10 => Disconnect::new(reason(u, ReasonCode::Success)?).into(),
            _ => {
                let mut a = Auth::new(reason(u, ReasonCode::ContinueAuthentication)?);
                a.properties.authentication_method =
                    Some(MqttString::from_static("M").expect("valid"));
                a.into()
            }
        };
        Ok(self.encode(pkt))
    }

    /// Events and bytes since the last call (and the id a publish just
    /// returned, handed out after the events of that call: one may have
    /// dropped the publish that had it). Events and bytes come out of
    /// separate queues, so the events apply first, and a publish they
    /// finish may still show on the wire in this batch.
    fn drain(&mut self, u: &mut Unstructured<'_>, new_id: Option<PublishId>) -> R<()> {
        // Taking bytes sends more of the queue, which can report events
        // (a queued message expired): until both are empty.
        let mut new_id = new_id;
        loop {
            let events: Vec<Event> = std::iter::from_fn(|| self.client.poll_event()).collect();
            let sent = self.drain_once(u, events.clone(), new_id.take())?;
            if events.is_empty() && !sent {
                return Ok(());
            }
        }
    }

    fn drain_once(
        &mut self,
        u: &mut Unstructured<'_>,
        events: Vec<Event>,
        mut new_id: Option<PublishId>,
    ) -> R<bool> {
        if trace() {
            for e in &events {
                eprintln!("  event {e:?}");
            }
        }
        let mut last_conn: Option<bool> = None;
        self.finished.clear();
        for e in &events {
            match e {
                Event::Connected(c) => {
                    last_conn = Some(true);
                    let p = &c.connack.properties;
                    self.limits = Some(Limits {
                        max_packet: p.maximum_packet_size.map_or(usize::MAX, |m| m as usize),
                        alias_max: if self.opts.auto_topic_alias {
                            p.topic_alias_maximum.unwrap_or(0)
                        } else {
                            0
                        },
                        max_qos: p.maximum_qos.unwrap_or(QoS::ExactlyOnce),
                        retain: p.retain_available.unwrap_or(true),
                        receive_max: p.receive_maximum.unwrap_or(u16::MAX),
                    });
                    // 3.1 has no Session Present: after Clean Session 0
                    // the client keeps its state as if resumed.
                    let resumed =
                        c.session_present || (self.version.is_v31() && !self.opts.clean_start);
                    if !resumed {
                        // The server has none of our state; what was in
                        // flight is requeued (new ids) or dropped.
                        self.on_wire.clear();
                    }
                }
                Event::Disconnected(_) => last_conn = Some(false),
                Event::Message(m) => {
                    let manual = self.opts.manual_ack && m.publish.qos != QoS::AtMostOnce;
                    assert_eq!(
                        m.ack_token.is_some(),
                        manual,
                        "token iff manual ack and QoS > 0"
                    );
                    if let Some(t) = m.ack_token {
                        self.tokens.push(t);
                    }
                }
                Event::PublishCompleted { id, .. } => {
                    assert!(self.live.remove(id), "completion of {id:?}, not in flight");
                    self.finish(*id);
                }
                Event::PublishDropped { id, .. } => {
                    // The new publish itself may be dropped at once (an
                    // expiry of 0).
                    let known = self.live.remove(id)
                        || self.live_qos0.remove(id)
                        || new_id.take_if(|n| n == id).is_some()
                        || (id.packet_id().is_none() && self.take_restored_qos0());
                    assert!(known, "drop of unknown {id:?}");
                    self.finish(*id);
                }
                Event::PublishRequeued { old, new } => {
                    assert!(self.live.remove(old), "requeue of unknown {old:?}");
                    self.finish(*old);
                    assert!(new.packet_id().is_some(), "requeued as {new:?}");
                    assert!(self.live.insert(*new), "requeued as {new:?}, already live");
                }
                _ => {}
            }
        }
        if let Some(id) = new_id {
            if id.packet_id().is_some() {
                assert!(self.live.insert(id), "{id:?} handed out while in flight");
            } else {
                assert!(self.live_qos0.insert(id), "{id:?} handed out twice");
            }
        }
        match last_conn {
            Some(true) => assert_eq!(self.client.state(), ConnectionState::Connected),
            Some(false) => assert_eq!(self.client.state(), ConnectionState::Disconnected),
            None => {}
        }
        // Bytes, through poll_transmit with an arbitrary buffer or
        // take_transmit.
        let mut sent = false;
        loop {
            let chunk: Vec<u8> = if u.arbitrary()? {
                let mut buf = vec![0u8; u.int_in_range(1usize..=300)?];
                let n = self.client.poll_transmit(&mut buf);
                buf.truncate(n);
                buf
            } else {
                self.client.take_transmit().to_vec()
            };
            if chunk.is_empty() {
                break;
            }
            sent = true;
            self.out_bytes += chunk.len() as u64;
            assert!(self.transport, "bytes to send without a transport");
            self.wire.feed(&chunk);
            loop {
                let before = self.wire.buffered();
                match self.wire.next_packet() {
                    Ok(Some(p)) => {
                        let size = before - self.wire.buffered();
                        self.check_sent(p, size);
                    }
                    Ok(None) => break,
                    Err(e) => panic!("the client sent an invalid packet: {e:?}"),
                }
            }
        }
        for id in std::mem::take(&mut self.finished) {
            self.on_wire.remove(&id);
        }
        Ok(sent)
    }

    /// A QoS 0 publish restored by a restart: its new token is not known
    /// to the application.
    fn take_restored_qos0(&mut self) -> bool {
        let any = self.restored_qos0 > 0;
        self.restored_qos0 = self.restored_qos0.saturating_sub(1);
        any
    }

    /// A QoS 1/2 publish reported finished in this batch of events.
    fn finish(&mut self, id: PublishId) {
        if let Some(pid) = id.packet_id() {
            self.finished.insert(pid);
        }
    }

    fn check_sent(&mut self, p: Packet, size: usize) {
        if trace() {
            eprintln!("  sent {p:?}");
        }
        self.out_packets += 1;
        self.sent_on_transport += 1;
        let first = self.sent_on_transport == 1;
        assert_eq!(
            matches!(p, Packet::Connect(_)),
            first,
            "CONNECT first and only first: {p:?}"
        );
        if let Packet::Connect(c) = &p {
            assert_eq!(c.protocol_version, self.version);
            return;
        }
        if let Some(l) = self.limits {
            assert!(
                size <= l.max_packet,
                "{size} bytes sent, server maximum {}: {p:?}",
                l.max_packet
            );
        }
        match p {
            Packet::Publish(p) => {
                if let Some(l) = self.limits {
                    if let Some(a) = p.properties.topic_alias {
                        assert!(
                            a >= 1 && a <= l.alias_max,
                            "alias {a} above {}",
                            l.alias_max
                        );
                    }
                    if !p.dup {
                        assert!(
                            p.qos <= l.max_qos,
                            "QoS {:?} above the server's maximum",
                            p.qos
                        );
                        assert!(!p.retain || l.retain, "retained without Retain Available");
                    }
                }
                assert!(p.properties.subscription_identifiers.is_empty());
                if p.qos == QoS::AtMostOnce {
                    return;
                }
                let pid = p.packet_id;
                let known =
                    self.live.contains(&PublishId(u64::from(pid))) || self.finished.contains(&pid);
                assert!(known, "PUBLISH {pid} nobody asked for");
                if p.dup {
                    assert!(
                        self.on_wire.contains(&pid),
                        "resent PUBLISH {pid} that was never sent"
                    );
                } else {
                    // Finished in this batch, the id may be in use again
                    // (and must then stay on the wire).
                    let reused = self.finished.remove(&pid);
                    assert!(
                        !self.on_wire.contains(&pid) || reused,
                        "packet id {pid} reused while in flight"
                    );
                    self.on_wire.insert(pid);
                    let window = self
                        .limits
                        .map_or(u16::MAX, |l| l.receive_max)
                        .min(self.opts.max_inflight);
                    let inflight = self.on_wire.difference(&self.finished).count();
                    assert!(
                        inflight <= usize::from(window),
                        "{inflight} in flight, window {window}"
                    );
                }
                self.remember(pid);
            }
            Packet::PubRel(r) => {
                let pid = r.packet_id;
                let known =
                    self.live.contains(&PublishId(u64::from(pid))) || self.finished.contains(&pid);
                assert!(known, "PUBREL {pid} not in flight");
            }
            Packet::Subscribe(s) => self.remember(s.packet_id),
            Packet::Unsubscribe(s) => self.remember(s.packet_id),
            Packet::Auth(_) => assert!(self.version.is_v5(), "AUTH in 3.1.1"),
            Packet::PubAck(_)
            | Packet::PubRec(_)
            | Packet::PubComp(_)
            | Packet::PingReq
            | Packet::Disconnect(_) => {}
            other => panic!("a client never sends {other:?}"),
        }
    }

    fn remember(&mut self, pid: u16) {
        if self.recent_ids.len() >= 16 {
            self.recent_ids.remove(0);
        }
        self.recent_ids.push(pid);
    }

    fn check(&mut self) {
        let s = self.client.stats();
        if trace() {
            let kinds: Vec<String> = self
                .client
                .export_session()
                .outgoing
                .iter()
                .map(|o| match o {
                    mqtt_core::client::StoredOutgoing::Publish(p) => {
                        format!("queued {}", p.packet_id)
                    }
                    mqtt_core::client::StoredOutgoing::PublishSent(p) => {
                        format!("sent {}", p.packet_id)
                    }
                    mqtt_core::client::StoredOutgoing::Released(id) => format!("released {id}"),
                    mqtt_core::client::StoredOutgoing::Subscribe(s) => {
                        format!("subscribe {}", s.packet_id)
                    }
                    mqtt_core::client::StoredOutgoing::Unsubscribe(u) => {
                        format!("unsubscribe {}", u.packet_id)
                    }
                    _ => "other".into(),
                })
                .collect();
            eprintln!(
                "  stats inflight {} queued {}; session {kinds:?}",
                s.inflight, s.queued
            );
        }
        let l = self.last_stats;
        for (a, b) in [
            (s.packets_sent, l.packets_sent),
            (s.packets_received, l.packets_received),
            (s.bytes_sent, l.bytes_sent),
            (s.bytes_received, l.bytes_received),
            (s.retransmits, l.retransmits),
            (s.connections, l.connections),
        ] {
            assert!(a >= b, "a counter went down: {s:?} after {l:?}");
        }
        for q in 0..3 {
            assert!(
                s.messages_sent[q] >= l.messages_sent[q]
                    && s.messages_received[q] >= l.messages_received[q]
            );
        }
        self.last_stats = s;
        assert!(
            self.out_bytes <= s.bytes_sent,
            "{} bytes out, {s:?}",
            self.out_bytes
        );
        assert!(
            self.out_packets <= s.packets_sent,
            "{} packets out, {s:?}",
            self.out_packets
        );
        assert!(
            s.bytes_received <= self.in_bytes,
            "{s:?}, {} fed",
            self.in_bytes
        );
        assert!(
            s.inflight as usize <= self.live.len(),
            "{s:?}, live {:?}",
            self.live
        );
        assert!(
            self.live.len() <= (s.inflight + s.queued) as usize,
            "{s:?}, live {:?}",
            self.live
        );
        if self.client.state() == ConnectionState::Disconnected {
            // Only a queued message's expiry is a deadline while
            // disconnected.
            assert!(
                self.client.poll_timeout().is_none() || s.queued > 0,
                "a deadline while disconnected with nothing queued: {s:?}"
            );
        }
    }

    /// A new client from the exported session (a program restart).
    fn restart(&mut self) {
        let state = self.client.export_session();
        let bytes = state.to_bytes().expect("an exported session encodes");
        let back = SessionState::from_bytes(&bytes).expect("and decodes");
        assert_eq!(back, state, "the byte form keeps everything");
        let mut client = Client::new(self.opts.clone());
        client
            .import_session(self.now, back)
            .expect("an exported session imports");
        let again = client.export_session();
        assert_eq!(again.outgoing.len(), state.outgoing.len());
        for (a, b) in again.outgoing.iter().zip(&state.outgoing) {
            // QoS 0 publishes are the same; ids of QoS 0 are renumbered
            // (they are not in the packets).
            assert_eq!(a, b, "commands survive a restart");
        }
        assert_eq!(again.subscriptions, state.subscriptions);
        assert_eq!(again.client_id, state.client_id);
        assert_eq!(again.connected_before, state.connected_before);
        if trace() {
            eprintln!("  restart with {again:?}");
        }
        self.client = client;
        // The application's view restarts from the session.
        self.live = state
            .outgoing
            .iter()
            .filter_map(|o| match o {
                mqtt_core::client::StoredOutgoing::Publish(p)
                | mqtt_core::client::StoredOutgoing::PublishSent(p)
                    if p.qos != QoS::AtMostOnce =>
                {
                    Some(PublishId(u64::from(p.packet_id)))
                }
                mqtt_core::client::StoredOutgoing::Released(id) => Some(PublishId(u64::from(*id))),
                _ => None,
            })
            .collect();
        self.on_wire = state
            .outgoing
            .iter()
            .filter_map(|o| match o {
                mqtt_core::client::StoredOutgoing::PublishSent(p) if p.qos != QoS::AtMostOnce => {
                    Some(p.packet_id)
                }
                mqtt_core::client::StoredOutgoing::Released(id) => Some(*id),
                _ => None,
            })
            .collect();
        self.live_qos0.clear();
        self.restored_qos0 = state
            .outgoing
            .iter()
            .filter(|o| matches!(o, mqtt_core::client::StoredOutgoing::Publish(p) if p.qos == QoS::AtMostOnce))
            .count();
        self.tokens.clear();
        self.out_bytes = 0;
        self.out_packets = 0;
        self.in_bytes = 0;
        self.last_stats = Stats::default();
    }
}

/// Drives a client with the operations drawn from `u`, checking the
/// invariants above after each; panics when one fails.
pub fn run(u: &mut Unstructured<'_>) -> R<()> {
    let version = match u.int_in_range(0u8..=3)? {
        0 => ProtocolVersion::V31,
        1 => ProtocolVersion::V311,
        _ => ProtocolVersion::V5,
    };
    let opts = options(u, version)?;
    if trace() {
        eprintln!("options {opts:?}");
    }
    let mut w = World::new(version, opts);
    let mut ops = 0;
    while !u.is_empty() && ops < 400 {
        ops += 1;
        let op = u.int_in_range(0u8..=19)?;
        let mut new_id = None;
        if trace() {
            eprintln!("op {op} at {} ({:?})", w.now, w.client.state());
        }
        match op {
            // A transport opens.
            0 | 1 => {
                if let Err(e) = w.opts.check() {
                    // [MQTT-3.1.3-7]: 3.1.1, empty id, Clean Session 0:
                    // refused, nothing sent (checked by `drain`).
                    assert_eq!(w.client.connect(w.now), Err(e), "refused options");
                } else if w.client.state() == ConnectionState::Disconnected {
                    w.client.connect(w.now).expect("connect while disconnected");
                    w.transport = true;
                    w.sent_on_transport = 0;
                    w.limits = None;
                    w.wire = Decoder::new(DecodeOptions::new(version));
                } else {
                    assert!(w.client.connect(w.now).is_err(), "connect twice");
                }
            }
            // Server packets, in arbitrary chunks, sometimes damaged.
            2..=7 => {
                let Some(bytes) = w.server_packet(u)? else {
                    continue;
                };
                if trace() {
                    let mut b = bytes.clone();
                    eprintln!(
                        "  server sends {:?}",
                        Packet::decode(&mut b, &DecodeOptions::new(version))
                    );
                }
                let mut bytes = bytes.to_vec();
                if u.ratio(1, 16)? && !bytes.is_empty() {
                    let i = u.choose_index(bytes.len())?;
                    bytes[i] ^= u.int_in_range(1u8..=255)?;
                }
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = u.int_in_range(1usize..=rest.len())?;
                    if w.transport {
                        if w.client.state() != ConnectionState::Disconnected {
                            w.in_bytes += n as u64;
                        }
                        w.client.handle_input(w.now, &rest[..n]);
                    }
                    rest = &rest[n..];
                }
            }
            // Raw bytes.
            8 => {
                let len = u.int_in_range(0usize..=32)?;
                let raw = u.bytes(len.min(u.len()))?.to_vec();
                if w.transport {
                    if w.client.state() != ConnectionState::Disconnected {
                        w.in_bytes += raw.len() as u64;
                    }
                    w.client.handle_input(w.now, &raw);
                }
            }
            9 | 10 => {
                let q = qos(u)?;
                let len = u.int_in_range(0usize..=60)?;
                let payload = Bytes::copy_from_slice(u.bytes(len.min(u.len()))?);
                let mut p = Publish::new(TOPICS[u.choose_index(TOPICS.len())?], payload)
                    .expect("valid topic")
                    .with_qos(q, u.arbitrary()?)
                    .with_retain(u.ratio(1, 4)?);
                if version.is_v5() && u.ratio(1, 4)? {
                    p.properties.message_expiry_interval = Some(u.int_in_range(0u32..=3)?);
                }
                if trace() {
                    eprintln!("  publish {p:?}");
                }
                let r = w.client.publish(w.now, p);
                if trace() {
                    eprintln!("  publish -> {r:?}");
                }
                if let Ok(id) = r {
                    assert_eq!(
                        id.packet_id().is_none(),
                        q == QoS::AtMostOnce,
                        "QoS {q:?} publish got {id:?}"
                    );
                    new_id = Some(id);
                }
            }
            11 => {
                let n = u.int_in_range(1usize..=2)?;
                let filters = (0..n)
                    .map(|_| {
                        Ok(SubscribeFilter::new(
                            FILTERS[u.choose_index(FILTERS.len())?],
                            SubscriptionOptions::new(qos(u)?),
                        )
                        .expect("valid filter"))
                    })
                    .collect::<R<Vec<_>>>()?;
                let mut s = Subscribe::new(0, filters);
                if version.is_v5() && u.arbitrary()? {
                    s.properties.subscription_identifier = Some(u.int_in_range(1u32..=3)?);
                }
                let _ = w.client.subscribe(w.now, s);
            }
            12 => {
                let f = FILTERS[u.choose_index(FILTERS.len())?];
                let _ = w
                    .client
                    .unsubscribe(w.now, Unsubscribe::single(0, f).expect("valid filter"));
            }
            13 => {
                if !w.tokens.is_empty() && u.ratio(7, 8)? {
                    let t = w.tokens.remove(u.choose_index(w.tokens.len())?);
                    if trace() {
                        eprintln!("  acknowledge {t:?} (delivered)");
                    }
                    assert_eq!(
                        w.client.acknowledge(w.now, t),
                        Ok(()),
                        "first acknowledgement of {t:?}"
                    );
                } else {
                    // An arbitrary token can be one delivered and not yet
                    // acknowledged: that is its first acknowledgement.
                    let t = AckToken(u.int_in_range(0u64..=8)?);
                    let r = w.client.acknowledge(w.now, t);
                    if trace() {
                        eprintln!("  acknowledge {t:?} (arbitrary) -> {r:?}");
                    }
                    if let Some(i) = w.tokens.iter().position(|d| *d == t) {
                        w.tokens.remove(i);
                        assert_eq!(r, Ok(()), "first acknowledgement of {t:?}");
                    }
                }
            }
            14 => {
                let d = Disconnect::new(reason(u, ReasonCode::Success)?);
                let _ = w.client.disconnect(w.now, d);
            }
            15 => {
                w.client.handle_transport_closed(w.now);
                w.transport = false;
            }
            16 => {
                let _ = w
                    .client
                    .authenticate(w.now, None, AuthProperties::default());
            }
            17 => {
                if w.client.state() == ConnectionState::Disconnected {
                    w.client.handle_transport_closed(w.now);
                    w.transport = false;
                    // Drain first so the old client's events are checked.
                    w.drain(u, None)?;
                    w.restart();
                }
            }
            // Time passes.
            _ => {
                let step: u64 = if u.arbitrary()? {
                    w.client
                        .poll_timeout()
                        .map_or(0, |t| t.saturating_sub(w.now))
                } else {
                    u64::from(u.int_in_range(0u16..=3_000)?)
                };
                w.now += step;
                w.client.handle_timeout(w.now);
                if let Some(t) = w.client.poll_timeout() {
                    assert!(
                        t > w.now,
                        "poll_timeout {t} not after handle_timeout({})",
                        w.now
                    );
                }
            }
        }
        w.drain(u, new_id)?;
        w.check();
    }
    Ok(())
}
