//! The sans-IO server connection driven by arbitrary operations: client
//! packets built from the input (CONNECT with drawn limits, PUBLISH at
//! QoS 0-2 with topic aliases, acknowledgements, SUBSCRIBE, UNSUBSCRIBE,
//! PINGREQ, AUTH, DISCONNECT), split into arbitrary chunks and sometimes
//! damaged, raw bytes, the application's commands (accept, reject, auth,
//! publish, acknowledge, suback, unsuback, disconnect), time steps, and
//! transport cuts after which the session is taken and resumed on a new
//! connection; options drawn from the input, both versions.
//!
//! Invariants checked after every operation, beyond "no panic":
//! - everything the server sends decodes, strictly, in the connection's
//!   version; the first packet is CONNACK;
//! - after CONNACK no packet is larger than the client's Maximum Packet
//!   Size and no Topic Alias is above its Topic Alias Maximum;
//! - a new QoS 1/2 PUBLISH (DUP 0) never uses a packet identifier still
//!   open (sent and not reported completed or dropped), and the open ones
//!   stay within the client's Receive Maximum and our `max_inflight`;
//! - no event follows `Disconnected`, after which the state is `Closed`;
//! - `poll_timeout` is never in the past after `handle_timeout`.
//!
//! The `server` target runs [`run`] on every input; the test
//! `tests/tests/fuzz_regressions.rs` runs it on the inputs kept in
//! `fuzz/regressions/server/` (this file is included there with
//! `#[path]`, beside `common.rs`).

use std::collections::BTreeSet;

use arbitrary::Unstructured;
use bytes::BytesMut;
use mqtt_core::codec::{
    Auth, ConnAckProperties, Connect, DecodeOptions, Decoder, Disconnect, DisconnectProperties,
    MqttString, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS, ReasonCode,
    Subscribe, TopicName, Unsubscribe,
};
use mqtt_core::server::{
    Accept, ServerConnection, ServerEvent, ServerOptions, ServerSession, ServerState,
};

use super::common::{self, damage, in_chunks, qos, R};

const TOPICS: [&str; 4] = ["a", "a/b", "t/1", "long/topic/name/x"];
const FILTERS: [&str; 4] = ["a", "a/+", "#", "$share/g/t/+"];

/// `SERVER_FUZZ_TRACE=1` prints every operation, event and packet sent
/// (for reading a crash).
fn trace() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SERVER_FUZZ_TRACE").is_some())
}

fn s(text: &str) -> MqttString {
    MqttString::from_str(text).expect("valid")
}

struct World {
    opts: ServerOptions,
    version: ProtocolVersion,
    conn: ServerConnection,
    now: u64,
    wire: Decoder,
    /// CONNACK seen on this connection.
    acked: bool,
    closed: bool,
    client_max_packet: usize,
    client_alias_max: u16,
    client_receive_max: u16,
    open: BTreeSet<u16>,
    pending_subs: Vec<(u16, usize)>,
    pending_unsubs: Vec<(u16, usize)>,
    pending_acks: Vec<u16>,
    session: Option<ServerSession>,
}

impl World {
    fn fresh(&mut self) {
        self.conn = ServerConnection::new(self.opts.clone());
        self.wire = Decoder::new(DecodeOptions::new(self.version));
        self.acked = false;
        self.closed = false;
        self.client_max_packet = mqtt_core::codec::MAX_PACKET_SIZE as usize;
        self.client_alias_max = 0;
        self.client_receive_max = u16::MAX;
        self.open.clear();
        self.pending_subs.clear();
        self.pending_unsubs.clear();
        self.pending_acks.clear();
    }

    fn encode(&self, p: &Packet) -> Option<Vec<u8>> {
        let mut buf = BytesMut::new();
        p.encode(self.version, &mut buf).ok()?;
        Some(buf.to_vec())
    }

    fn feed(&mut self, u: &mut Unstructured<'_>, mut bytes: Vec<u8>) -> R<()> {
        damage(u, &mut bytes)?;
        in_chunks(u, &bytes, |chunk| self.conn.handle_input(self.now, chunk))
    }

    fn client_packet(&mut self, u: &mut Unstructured<'_>) -> R<Option<Packet>> {
        let v5 = self.version.is_v5();
        Ok(Some(match u.int_in_range(0u8..=11)? {
            0 => {
                let mut c = Connect::new(self.version, if u.arbitrary()? { "c" } else { "" })
                    .expect("valid")
                    .with_clean_start(u.arbitrary()?)
                    .with_keep_alive(u.int_in_range(0u16..=3)?);
                if v5 {
                    let p = &mut c.properties;
                    p.receive_maximum = Some(u.int_in_range(1u16..=4)?);
                    p.maximum_packet_size = if u.arbitrary()? {
                        Some(u.int_in_range(16u32..=300)?)
                    } else {
                        None
                    };
                    p.topic_alias_maximum = Some(u.int_in_range(0u16..=3)?);
                    p.request_problem_information = Some(u.arbitrary()?);
                    if u.ratio(1, 4)? {
                        p.authentication_method = Some(s("M"));
                    }
                }
                c.into()
            }
            1..=3 => {
                let q = qos(u)?;
                let id = if q == QoS::AtMostOnce {
                    0
                } else {
                    u.int_in_range(1u16..=6)?
                };
                let mut p = Publish::new(
                    TOPICS[u.choose_index(TOPICS.len())?],
                    vec![7u8; u.int_in_range(0usize..=40)?],
                )
                .expect("valid")
                .with_qos(q, id)
                .with_retain(u.ratio(1, 8)?);
                p.dup = q != QoS::AtMostOnce && u.ratio(1, 4)?;
                if v5 && u.ratio(1, 3)? {
                    p.properties.topic_alias = Some(u.int_in_range(1u16..=3)?);
                    if u.arbitrary()? {
                        p.topic = TopicName::EMPTY;
                    }
                }
                p.into()
            }
            4 => PubAck::new(u.int_in_range(1u16..=6)?).into(),
            5 => PubRec::new(u.int_in_range(1u16..=6)?).into(),
            6 => PubRel::new(u.int_in_range(1u16..=6)?).into(),
            7 => PubComp::new(u.int_in_range(1u16..=6)?).into(),
            8 => Subscribe::single(
                u.int_in_range(1u16..=4)?,
                FILTERS[u.choose_index(FILTERS.len())?],
                qos(u)?,
            )
            .expect("valid")
            .into(),
            9 => Unsubscribe::single(
                u.int_in_range(1u16..=4)?,
                FILTERS[u.choose_index(FILTERS.len())?],
            )
            .expect("valid")
            .into(),
            10 => Packet::PingReq,
            _ => {
                if v5 && u.arbitrary()? {
                    let mut a = Auth::new(if u.arbitrary()? {
                        ReasonCode::ContinueAuthentication
                    } else {
                        ReasonCode::ReAuthenticate
                    });
                    a.properties.authentication_method = Some(s("M"));
                    a.into()
                } else {
                    Disconnect::new(if u.arbitrary()? {
                        ReasonCode::Success
                    } else {
                        ReasonCode::DisconnectWithWillMessage
                    })
                    .into()
                }
            }
        }))
    }

    fn step(&mut self, u: &mut Unstructured<'_>) -> R<()> {
        let op = u.int_in_range(0u8..=12)?;
        if trace() {
            eprintln!(
                "op {op} at {} ({:?}), open {:?}",
                self.now,
                self.conn.state(),
                self.open
            );
        }
        match op {
            0 => {
                let raw: Vec<u8> = u.arbitrary()?;
                self.feed(u, raw)?;
            }
            1..=4 => {
                if let Some(p) = self.client_packet(u)? {
                    if trace() {
                        eprintln!("  client sends {p:?}");
                    }
                    if let Some(bytes) = self.encode(&p) {
                        self.feed(u, bytes)?;
                    }
                }
            }
            5 => {
                let mut a = Accept::new().with_assigned_client_id(s("assigned"));
                if u.arbitrary()? {
                    if let Some(sess) = self.session.take() {
                        a = a.with_session(sess);
                    }
                }
                let r = self.conn.accept(self.now, a);
                if trace() {
                    eprintln!("  accept -> {r:?}");
                }
            }
            6 => {
                let _ = self.conn.reject(
                    self.now,
                    ReasonCode::NotAuthorized,
                    ConnAckProperties::default(),
                );
            }
            7 => {
                let q = qos(u)?;
                let p = Publish::new(
                    TOPICS[u.choose_index(TOPICS.len())?],
                    vec![1u8; u.int_in_range(0usize..=300)?],
                )
                .expect("valid")
                .with_qos(q, 0);
                // Queued ones count once sent; see `check_wire`.
                let r = self.conn.publish(self.now, p);
                if trace() {
                    eprintln!("  publish {q:?} -> {r:?}");
                }
            }
            8 => {
                if !self.pending_acks.is_empty() {
                    let i = u.choose_index(self.pending_acks.len())?;
                    let id = self.pending_acks.remove(i);
                    let code = if u.arbitrary()? {
                        ReasonCode::Success
                    } else {
                        ReasonCode::NotAuthorized
                    };
                    let r = self.conn.acknowledge(self.now, id, code);
                    if trace() {
                        eprintln!("  acknowledge {id} {code:?} -> {r:?}");
                    }
                }
            }
            9 => {
                if let Some((id, n)) = self.pending_subs.pop() {
                    let _ = self
                        .conn
                        .suback(self.now, id, &vec![ReasonCode::GrantedQoS1; n]);
                }
                if let Some((id, n)) = self.pending_unsubs.pop() {
                    let _ = self
                        .conn
                        .unsuback(self.now, id, &vec![ReasonCode::Success; n]);
                }
            }
            10 => {
                self.now += u.int_in_range(0u64..=7_000)?;
                self.conn.handle_timeout(self.now);
                if let Some(t) = self.conn.poll_timeout() {
                    assert!(t > self.now, "deadline {t} in the past at {}", self.now);
                }
            }
            11 => {
                self.conn.handle_transport_closed(self.now);
                self.drain_events();
                if let Ok(sess) = self.conn.take_session() {
                    if trace() {
                        eprintln!("  took session {sess:?}");
                    }
                    self.session = Some(sess);
                }
                self.fresh();
            }
            _ => {
                if u.arbitrary()? {
                    let _ = self.conn.disconnect(
                        self.now,
                        ReasonCode::ServerShuttingDown,
                        DisconnectProperties::default(),
                    );
                } else {
                    let _ = self
                        .conn
                        .auth(self.now, Auth::new(ReasonCode::ContinueAuthentication));
                }
            }
        }
        self.drain_events();
        self.check_wire();
        Ok(())
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.conn.poll_event() {
            if trace() {
                eprintln!("  event {e:?}");
            }
            assert!(!self.closed, "event after Disconnected: {e:?}");
            match e {
                ServerEvent::ConnectRequested(c) => {
                    self.version = c.protocol_version;
                    if c.protocol_version.is_v5() {
                        let p = &c.properties;
                        self.client_receive_max = p.receive_maximum.unwrap_or(u16::MAX);
                        self.client_max_packet = p
                            .maximum_packet_size
                            .map_or(mqtt_core::codec::MAX_PACKET_SIZE as usize, |m| m as usize);
                        self.client_alias_max = p.topic_alias_maximum.unwrap_or(0);
                    }
                    self.wire = Decoder::new(DecodeOptions::new(self.version));
                }
                ServerEvent::Message(p) if self.opts.manual_ack && p.qos != QoS::AtMostOnce => {
                    self.pending_acks.push(p.packet_id);
                }
                ServerEvent::Subscribe(sub) => {
                    self.pending_subs.push((sub.packet_id, sub.filters.len()))
                }
                ServerEvent::Unsubscribe(un) => {
                    self.pending_unsubs.push((un.packet_id, un.filters.len()))
                }
                ServerEvent::PublishCompleted { packet_id, .. }
                | ServerEvent::PublishDropped { packet_id, .. } => {
                    self.open.remove(&packet_id);
                }
                ServerEvent::Disconnected(_) => self.closed = true,
                _ => {}
            }
        }
        if self.closed {
            assert_eq!(self.conn.state(), ServerState::Closed);
        }
    }

    fn check_wire(&mut self) {
        let bytes = self.conn.take_transmit();
        if bytes.is_empty() {
            return;
        }
        if !self.acked && bytes[..] == [0x20, 0x02, 0x00, 0x01] {
            return; // unsupported protocol version, in the 3.1.1 form
        }
        self.wire.set_version(self.conn.version());
        self.wire.feed(&bytes);
        while let Some(p) = self
            .wire
            .next_packet()
            .expect("the server sends valid packets")
        {
            if trace() {
                eprintln!("  sent {p:?}");
            }
            if !self.acked {
                assert!(
                    matches!(p, Packet::ConnAck(_) | Packet::Auth(_)),
                    "first: {p:?}"
                );
                if matches!(p, Packet::ConnAck(_)) {
                    self.acked = true;
                }
                continue;
            }
            let size = self.encode(&p).map_or(0, |b| b.len());
            assert!(
                size <= self.client_max_packet,
                "{size} bytes > {}",
                self.client_max_packet
            );
            if let Packet::Publish(p) = p {
                if let Some(a) = p.properties.topic_alias {
                    assert!(a >= 1 && a <= self.client_alias_max, "alias {a}");
                }
                if p.qos != QoS::AtMostOnce {
                    if !p.dup {
                        assert!(self.open.insert(p.packet_id), "id {} reused", p.packet_id);
                    } else {
                        self.open.insert(p.packet_id);
                    }
                    let window = self.client_receive_max.min(self.opts.max_inflight);
                    assert!(
                        self.open.len() <= usize::from(window),
                        "window {window} exceeded"
                    );
                }
            }
        }
    }
}

/// Drives a server connection with the operations drawn from `u`,
/// checking the invariants above after each; panics when one fails.
pub fn run(u: &mut Unstructured<'_>) -> R<()> {
    let opts = ServerOptions::new()
        .with_receive_maximum(u.int_in_range(1u16..=4)?)
        .with_maximum_packet_size(if u.arbitrary()? {
            0
        } else {
            u.int_in_range(16u32..=300)?
        })
        .with_topic_alias_maximum(u.int_in_range(0u16..=3)?)
        .with_maximum_qos(qos(u)?)
        .with_retain_available(u.arbitrary()?)
        .with_manual_ack(u.arbitrary()?)
        .with_max_queued(u.int_in_range(0usize..=4)?)
        .with_max_inflight(u.int_in_range(1u16..=4)?)
        .with_server_keep_alive(if u.arbitrary()? {
            Some(u.int_in_range(0u16..=3)?)
        } else {
            None
        })
        .with_connect_timeout(u.int_in_range(0u64..=5_000)?);
    let version = common::version(u)?;
    let mut w = World {
        conn: ServerConnection::new(opts.clone()),
        opts,
        version,
        now: 0,
        wire: Decoder::new(DecodeOptions::new(version)),
        acked: false,
        closed: false,
        client_max_packet: 0,
        client_alias_max: 0,
        client_receive_max: u16::MAX,
        open: BTreeSet::new(),
        pending_subs: Vec::new(),
        pending_unsubs: Vec::new(),
        pending_acks: Vec::new(),
        session: None,
    };
    w.fresh();
    while !u.is_empty() {
        w.step(u)?;
    }
    Ok(())
}
