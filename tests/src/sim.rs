//! A deterministic simulation of the client against a model server, over a
//! link that splits writes into random chunks, delays them, and cuts the
//! connection at random points, all driven by one seed in virtual time.
//!
//! [`run`] plays one seed and returns what happened ([`Outcome`]) or, when a
//! property broke, why (with the seed, to replay it). The properties:
//!
//! * every QoS 1 message the client publishes reaches the server's
//!   application at least once, every QoS 2 message exactly once, every
//!   QoS 0 message at most once;
//! * every QoS 1 message the server publishes reaches the client's
//!   application at least once, every QoS 2 message exactly once;
//! * every QoS 1 and 2 [`PublishId`] completes, exactly once, with Success,
//!   and only after the server has the message; nothing is dropped or
//!   requeued (the server always has the session when the client resumes);
//! * the client never breaks the model server's rules (strict decoding,
//!   its Receive Maximum, packet identifiers, acknowledgements), and the
//!   model server never gives the client a reason to complain;
//! * no livelock: the run finishes within a bounded number of steps.
//!
//! The model server keeps one session: it answers CONNECT with Session
//! Present when it has one and Clean Start is 0, acknowledges QoS 1 and 2
//! publishes (with its own QoS 2 duplicate state), and publishes its own
//! stream of QoS 1 and 2 messages within the client's Receive Maximum,
//! resending PUBLISH (DUP) and PUBREL in order when the session resumes.
//! Its answers leave after a random processing delay.
//!
//! Between connections the client waits a [`Backoff`] delay, and may be
//! "restarted": its session exported to bytes and imported into a new
//! [`Client`] (the application then forgets the acknowledgement tokens it
//! held, as a restarted program would).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};
use mqtt_core::client::{
    AckToken, Backoff, Client, ClientOptions, DisconnectReason, Event, PublishId, SessionState,
};
use mqtt_core::codec::{
    ConnAck, DecodeOptions, Decoder, Disconnect, Packet, PacketRef, ProtocolVersion, PubAck,
    PubComp, PubRec, PubRel, Publish, QoS, ReasonCode, SubAck, Subscribe, TopicName, UnsubAck,
    Unsubscribe,
};
use mqtt_core::connection::{InboundTopicAliases, OutboundAlias, OutboundTopicAliases};
use mqtt_core::time::Instant;

use crate::link::Pipe;

/// A simulation's optional trace: a line per event of interest, stamped
/// with the virtual time; kept only when asked for (it is slow), to replay
/// a failing seed.
#[derive(Debug, Default)]
pub struct Trace {
    on: bool,
    text: String,
}

impl Trace {
    /// A trace that keeps lines if `on`.
    pub fn new(on: bool) -> Trace {
        Trace {
            on,
            text: String::new(),
        }
    }

    /// Whether lines are kept.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Adds the line `line` makes (called only if the trace is on), at
    /// virtual time `now`.
    pub fn log(&mut self, now: Instant, line: impl FnOnce() -> String) {
        if self.on {
            let line = line();
            let _ = writeln!(self.text, "{now:>7} {line}");
        }
    }

    /// The lines kept so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The report of a failed run of `seed`: the error, the parameters
    /// drawn and the trace, if kept.
    pub fn failure(&self, seed: u64, error: &str, params: &dyn std::fmt::Debug) -> String {
        let mut msg = format!("seed {seed}: {error}\nparameters: {params:?}");
        if self.on {
            msg.push_str("\ntrace:\n");
            msg.push_str(&self.text);
        }
        msg
    }
}

/// A small seeded PRNG (splitmix64): deterministic, no dependencies.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5EED_0F11_B0A7)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// What one seed did, for the test to report totals (and to see that the
/// simulation exercises what it should).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Connections the client started.
    pub connects: u64,
    /// Connections cut by the link.
    pub cuts: u64,
    /// Connections the client ended itself (keep alive, connect timeout,
    /// the application's DISCONNECT).
    pub client_closes: u64,
    /// CONNACKs with Session Present 1 the client received.
    pub resumes: u64,
    /// Client restarts through export/import of the session.
    pub restarts: u64,
    /// Messages the client published (all QoS).
    pub client_messages: u64,
    /// Messages the server published.
    pub server_messages: u64,
    /// Deliveries to the server's application beyond the first (QoS 1).
    pub server_duplicates: u64,
    /// Deliveries to the client's application beyond the first (QoS 1).
    pub client_duplicates: u64,
    /// Retransmissions the client counted (PUBLISH with DUP and PUBREL).
    pub client_retransmits: u64,
    /// PUBLISH (DUP) and PUBREL the server sent again on resume.
    pub server_retransmits: u64,
    /// QoS 2 publishes completed by PUBCOMP 0x92 (Packet Identifier not
    /// found) after a PUBREL was sent again.
    pub pubcomp_not_found: u64,
    /// Virtual milliseconds the run took.
    pub virtual_ms: u64,
    /// Loop steps taken.
    pub steps: u64,
}

/// Runs one seed; `trace` collects a line per step of interest (slow; for
/// replaying a failing seed).
pub fn run(seed: u64, trace: bool) -> Result<Outcome, String> {
    let mut sim = Sim::new(seed, trace);
    let result = sim.run();
    match result {
        Ok(()) => Ok(sim.outcome),
        Err(e) => Err(sim.trace.failure(seed, &e, &sim.p)),
    }
}

const MAX_STEPS: u64 = 200_000;
const MAX_VIRTUAL_MS: u64 = 3_600_000;
const TOPICS: [&str; 5] = ["t/a", "t/b", "t/c", "t/d/e", "t/f"];

/// The scenario drawn from the seed.
#[derive(Debug, Clone)]
struct Params {
    version: ProtocolVersion,
    clean_start_first: bool,
    manual_ack: bool,
    client_msgs: usize,
    server_msgs: usize,
    /// Spread of publish times, in ms.
    span: u64,
    max_chunk: u64,
    max_delay: u64,
    server_delay: u64,
    /// Cuts the link may still make.
    cuts: u32,
    cut_percent: u64,
    cut_window: u64,
    keep_alive: u16,
    ping_timeout: u64,
    connect_timeout: u64,
    client_receive_max: u16,
    client_max_inflight: u16,
    client_alias_max: u16,
    server_receive_max: u16,
    server_alias_max: u16,
    max_queued: usize,
    queue_qos0_offline: bool,
    restart_percent: u64,
}

impl Params {
    fn draw(rng: &mut Rng) -> Params {
        let version = if rng.chance(50) {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        };
        let v5 = version.is_v5();
        let max_delay = rng.range(0, 60);
        let server_delay = rng.range(0, 30);
        Params {
            version,
            // 3.1.1 sends the option on every connection: keep the session.
            clean_start_first: v5 && rng.chance(50),
            manual_ack: rng.chance(50),
            client_msgs: rng.range(0, 14) as usize,
            server_msgs: rng.range(0, 14) as usize,
            span: rng.range(10, 6_000),
            max_chunk: [1, 3, 8, 40, 400][rng.range(0, 4) as usize],
            max_delay,
            server_delay,
            cuts: rng.range(0, 6) as u32,
            cut_percent: rng.range(30, 90),
            cut_window: rng.range(5, 400),
            keep_alive: rng.range(0, 3) as u16,
            ping_timeout: if rng.chance(50) { 0 } else { rng.range(5, 300) },
            // Longer than the slowest round trip (each direction delivers
            // within `max_delay`, the server answers within `server_delay`),
            // or no connection could ever succeed.
            connect_timeout: rng.range(2 * max_delay + server_delay + 1, 2_000),
            client_receive_max: rng.range(1, 6) as u16,
            client_max_inflight: rng.range(1, 8) as u16,
            client_alias_max: if v5 { rng.range(0, 3) as u16 } else { 0 },
            server_receive_max: if v5 { rng.range(1, 6) as u16 } else { u16::MAX },
            server_alias_max: if v5 { rng.range(0, 3) as u16 } else { 0 },
            max_queued: rng.range(1, 40) as usize,
            queue_qos0_offline: rng.chance(50),
            restart_percent: if rng.chance(30) { rng.range(10, 60) } else { 0 },
        }
    }

    fn options(&self) -> ClientOptions {
        let mut o = ClientOptions::new(self.version, "sim-client")
            .expect("valid client id")
            .with_clean_start(self.clean_start_first)
            .with_keep_alive(self.keep_alive)
            .with_ping_timeout(self.ping_timeout)
            .with_connect_timeout(self.connect_timeout)
            .with_receive_maximum(self.client_receive_max)
            .with_max_inflight(self.client_max_inflight)
            .with_topic_alias_maximum(self.client_alias_max)
            .with_queue(self.max_queued, Default::default())
            .with_queue_qos0_offline(self.queue_qos0_offline)
            .with_manual_ack(self.manual_ack);
        if self.version.is_v5() {
            o = o.with_session_expiry_interval(3_600);
        }
        o
    }
}

// ----- the link ----------------------------------------------------------

/// A network connection between the client and the server.
#[derive(Debug, Default)]
struct Link {
    up: Pipe,
    down: Pipe,
    /// The link breaks then.
    cut_at: Option<Instant>,
    /// Broken: nothing more is carried.
    dead: bool,
    /// The client learns of the break then.
    client_notice_at: Option<Instant>,
    /// The client closed it: bytes written still reach the server, which
    /// sees the close after them.
    client_closed: bool,
}

// ----- the model server --------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SStage {
    Unsent,
    AwaitAck,
    AwaitComp,
}

#[derive(Debug, Clone)]
struct SrvOut {
    msg: usize,
    pid: u16,
    stage: SStage,
}

#[derive(Debug, Default)]
struct SrvSession {
    /// QoS 2 messages from the client received and not released: packet
    /// identifier to payload.
    qos2_in: BTreeMap<u16, Bytes>,
    /// Its own messages to the client, in order.
    out: VecDeque<SrvOut>,
    next_pid: u16,
}

#[derive(Debug)]
struct SrvConn {
    decoder: Decoder,
    connected: bool,
    /// Encoded packets, when they may be written, and whether writing
    /// one ends the server's hold on a message (PUBACK, PUBCOMP).
    pending: VecDeque<(Instant, Bytes, bool)>,
    last_ready: Instant,
    /// PUBACK and PUBCOMP queued and not written: messages still "held".
    held_acks: usize,
    in_aliases: InboundTopicAliases,
    out_aliases: OutboundTopicAliases,
    client_receive_max: u16,
}

#[derive(Debug, Clone)]
struct SrvMsg {
    qos: QoS,
    topic: &'static str,
    at: Instant,
    payload: Bytes,
}

// ----- the application on the client side ---------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CState {
    NotYet,
    Published,
    Completed,
    /// QoS 0 refused while disconnected.
    Refused,
}

#[derive(Debug, Clone)]
struct ClientMsg {
    qos: QoS,
    topic: &'static str,
    at: Instant,
    state: CState,
}

struct Sim {
    p: Params,
    rng: Rng,
    now: Instant,
    client: Client,
    link: Option<Link>,
    reconnect_at: Option<Instant>,
    attempt: u32,
    // client application
    cmsgs: Vec<ClientMsg>,
    outstanding: BTreeMap<PublishId, usize>,
    /// Tokens the application holds: when it acknowledges, and the message.
    acks: Vec<(Instant, AckToken, usize)>,
    sub_id: Option<u16>,
    sub_done: bool,
    unsub_at: Instant,
    /// The application ends the connection normally then (and reconnects).
    disconnect_at: Instant,
    disconnects_left: u32,
    /// A CONNACK was received before: every later one resumes.
    connected_before: bool,
    unsub_id: Option<u16>,
    unsub_done: bool,
    client_got: Vec<u32>,
    // server
    session: Option<SrvSession>,
    srv: Option<SrvConn>,
    smsgs: Vec<SrvMsg>,
    next_smsg: usize,
    server_got: Vec<u32>,
    outcome: Outcome,
    trace: Trace,
}

fn payload_index(payload: &[u8], prefix: u8) -> Option<usize> {
    let (first, rest) = payload.split_first()?;
    if *first != prefix {
        return None;
    }
    std::str::from_utf8(rest).ok()?.parse().ok()
}

fn qos_of(rng: &mut Rng, allow0: bool) -> QoS {
    match rng.range(if allow0 { 0 } else { 1 }, 2) {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

impl Sim {
    fn new(seed: u64, trace_on: bool) -> Sim {
        let mut rng = Rng::new(seed);
        let p = Params::draw(&mut rng);
        let cmsgs = (0..p.client_msgs)
            .map(|_| ClientMsg {
                qos: qos_of(&mut rng, true),
                topic: TOPICS[rng.range(0, 4) as usize],
                at: rng.range(0, p.span),
                state: CState::NotYet,
            })
            .collect();
        let mut smsgs = (0..p.server_msgs)
            .map(|_| SrvMsg {
                qos: qos_of(&mut rng, false),
                topic: TOPICS[rng.range(0, 4) as usize],
                at: rng.range(0, p.span),
                payload: Bytes::new(),
            })
            .collect::<Vec<_>>();
        // The stream enters the session in index order.
        smsgs.sort_by_key(|m| m.at);
        for (i, m) in smsgs.iter_mut().enumerate() {
            m.payload = Bytes::from(format!("s{i}"));
        }
        let unsub_at = rng.range(0, p.span);
        let rng_disconnect = (rng.range(100, 3 * p.span), rng.range(0, 2) as u32);
        let client = Client::new(p.options());
        Sim {
            client_got: vec![0; p.server_msgs],
            server_got: vec![0; p.client_msgs],
            p,
            rng,
            now: 0,
            client,
            link: None,
            reconnect_at: Some(0),
            attempt: 0,
            cmsgs,
            outstanding: BTreeMap::new(),
            acks: Vec::new(),
            sub_id: None,
            sub_done: false,
            unsub_at,
            disconnect_at: rng_disconnect.0,
            disconnects_left: rng_disconnect.1,
            connected_before: false,
            unsub_id: None,
            unsub_done: false,
            session: None,
            srv: None,
            smsgs,
            next_smsg: 0,
            outcome: Outcome::default(),
            trace: Trace::new(trace_on),
        }
    }

    fn log(&mut self, f: impl FnOnce() -> String) {
        self.trace.log(self.now, f);
    }

    fn run(&mut self) -> Result<(), String> {
        // The application subscribes before the first connection (queued).
        let sub = Subscribe::single(1, "t/#", QoS::ExactlyOnce).map_err(|e| e.to_string())?;
        let id = self
            .client
            .subscribe(self.now, sub)
            .map_err(|e| format!("subscribe refused: {e}"))?;
        self.sub_id = Some(id);
        let mut steps = 0u64;
        loop {
            steps += 1;
            self.outcome.steps = steps;
            self.outcome.virtual_ms = self.now;
            if steps > MAX_STEPS || self.now > MAX_VIRTUAL_MS {
                return Err(format!(
                    "livelock: not finished after {steps} steps, {} virtual ms; {}",
                    self.now,
                    self.progress()
                ));
            }
            self.step()?;
            if self.done()? {
                self.final_checks()?;
                return Ok(());
            }
            let Some(next) = self.next_time() else {
                return Err(format!("stuck: nothing scheduled; {}", self.progress()));
            };
            if next < self.now {
                return Err(format!("time went back: {next} < {}", self.now));
            }
            self.now = next;
        }
    }

    fn progress(&self) -> String {
        let pending: Vec<_> = self
            .cmsgs
            .iter()
            .enumerate()
            .filter(|(_, m)| matches!(m.state, CState::NotYet | CState::Published))
            .map(|(i, m)| (i, m.qos as u8, m.state))
            .collect();
        let out = self
            .session
            .as_ref()
            .map(|s| format!("{:?}", s.out))
            .unwrap_or_default();
        format!(
            "client state {:?}, stats {:?}; client msgs not done {pending:?}; outstanding {:?}; \
             server out {out}; next stream {} of {}; client got {:?}; acks held {}; sub {} unsub {}",
            self.client.state(),
            self.client.stats(),
            self.outstanding,
            self.next_smsg,
            self.smsgs.len(),
            self.client_got,
            self.acks.len(),
            self.sub_done,
            self.unsub_done,
        )
    }

    /// Everything due now, until nothing is.
    fn step(&mut self) -> Result<(), String> {
        let now = self.now;
        // The link: deliveries, then a cut.
        while let Some(link) = self.link.as_mut() {
            if link.dead {
                break;
            }
            if let Some(chunk) = link.up.take_due(now) {
                self.server_input(&chunk)?;
                continue;
            }
            if let Some(chunk) = link.down.take_due(now) {
                self.log(|| format!("client <- {} bytes", chunk.len()));
                self.client.handle_input(now, &chunk);
                self.drain_client()?;
                continue;
            }
            break;
        }
        if let Some(link) = self.link.as_mut() {
            if !link.dead && link.cut_at.is_some_and(|t| t <= now) {
                link.dead = true;
                link.up.clear();
                link.down.clear();
                let client_closed = link.client_closed;
                if !client_closed {
                    self.outcome.cuts += 1;
                    self.p.cuts = self.p.cuts.saturating_sub(1);
                    let notice = now + self.rng.range(0, 30);
                    if let Some(link) = self.link.as_mut() {
                        link.client_notice_at = Some(notice);
                    }
                }
                self.log(|| format!("link closed (by client: {client_closed})"));
                self.server_closed();
                if client_closed {
                    self.link = None;
                }
            }
        }
        if let Some(link) = self.link.as_ref() {
            if link.client_notice_at.is_some_and(|t| t <= now) {
                self.log(|| "client: transport closed".into());
                self.link = None;
                self.client.handle_transport_closed(now);
                self.drain_client()?;
                self.schedule_reconnect();
            }
        }
        // The client's timers.
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
            if let Some(t) = self.client.poll_timeout() {
                if t <= now {
                    return Err(format!("poll_timeout {t} not after handle_timeout({now})"));
                }
            }
            self.drain_client()?;
        }
        // The client's application.
        self.app_step()?;
        // The server.
        self.server_step()?;
        // Reconnect.
        if self.link.is_none() && self.reconnect_at.is_some_and(|t| t <= now) {
            self.reconnect_at = None;
            if self.outcome.connects > 0 && self.rng.chance(self.p.restart_percent) {
                self.restart()?;
            }
            self.outcome.connects += 1;
            let mut link = Link::default();
            if self.p.cuts > 0 && self.rng.chance(self.p.cut_percent) {
                link.cut_at = Some(now + self.rng.range(0, self.p.cut_window));
            }
            self.log(|| format!("connect (cut at {:?})", link.cut_at));
            self.link = Some(link);
            self.client
                .connect(now)
                .map_err(|e| format!("connect refused: {e}"))?;
            self.drain_client()?;
        }
        Ok(())
    }

    fn schedule_reconnect(&mut self) {
        let backoff = Backoff::new(10, 400);
        let delay = backoff.delay(self.attempt, self.rng.next_u64() as u32);
        self.attempt += 1;
        self.reconnect_at = Some(self.now + delay);
    }

    /// The program restarts: the session goes through bytes into a new
    /// client; the application forgets its acknowledgement tokens.
    fn restart(&mut self) -> Result<(), String> {
        self.outcome.restarts += 1;
        let state = self.client.export_session();
        let bytes = state.to_bytes().map_err(|e| format!("to_bytes: {e}"))?;
        let back = SessionState::from_bytes(&bytes).map_err(|e| format!("from_bytes: {e}"))?;
        if back != state {
            return Err(format!(
                "session bytes do not round trip:\n{state:?}\n{back:?}"
            ));
        }
        let mut client = Client::new(self.p.options());
        client
            .import_session(self.now, back)
            .map_err(|e| format!("import_session: {e}"))?;
        self.client = client;
        // A QoS 2 message the application had not acknowledged was not
        // processed: the new client delivers it again.
        for (_, _, i) in self.acks.drain(..) {
            if self.smsgs[i].qos == QoS::ExactlyOnce {
                self.client_got[i] -= 1;
            }
        }
        // QoS 0 messages get new tokens: the application stops tracking
        // them (QoS 0 has no completion).
        self.outstanding.retain(|id, _| id.packet_id().is_some());
        self.log(|| "client restarted from its exported session".into());
        Ok(())
    }

    fn drain_client(&mut self) -> Result<(), String> {
        loop {
            let out = self.client.take_transmit();
            if !out.is_empty() {
                let now = self.now;
                if let Some(link) = self.link.as_mut() {
                    if !link.dead && !link.client_closed {
                        link.up
                            .write(&mut self.rng, self.p.max_chunk, self.p.max_delay, now, &out);
                    }
                }
                continue;
            }
            let Some(event) = self.client.poll_event() else {
                break;
            };
            self.on_event(event)?;
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event) -> Result<(), String> {
        self.log(|| format!("client event {event:?}"));
        match event {
            Event::Connected(c) => {
                self.attempt = 0;
                if c.session_present {
                    self.outcome.resumes += 1;
                } else if self.connected_before {
                    return Err("Session Present 0 on a resume".into());
                }
                self.connected_before = true;
            }
            Event::Disconnected(reason) => match reason {
                DisconnectReason::TransportClosed => {}
                DisconnectReason::KeepAliveTimeout
                | DisconnectReason::ConnectTimeout
                | DisconnectReason::Local => {
                    // The driver sends what is left and closes.
                    self.outcome.client_closes += 1;
                    let out = self.client.take_transmit();
                    let now = self.now;
                    if let Some(link) = self.link.as_mut() {
                        if !link.dead {
                            link.up.write(
                                &mut self.rng,
                                self.p.max_chunk,
                                self.p.max_delay,
                                now,
                                &out,
                            );
                            link.down.clear();
                            link.client_closed = true;
                            link.cut_at = Some(link.up.last_due().max(now));
                        }
                        if link.dead {
                            self.link = None;
                        }
                    }
                    self.schedule_reconnect();
                    if let Some(link) = &self.link {
                        let closed = link.cut_at.unwrap_or(now);
                        self.reconnect_at = self.reconnect_at.map(|t| t.max(closed + 1));
                    }
                }
                other => return Err(format!("client disconnected: {other:?}")),
            },
            Event::Message(m) => {
                let i = payload_index(&m.publish.payload, b's')
                    .filter(|i| *i < self.smsgs.len())
                    .ok_or_else(|| format!("unknown message {:?}", m.publish))?;
                let sm = &self.smsgs[i];
                if m.publish.qos != sm.qos || m.publish.topic != sm.topic {
                    return Err(format!(
                        "message {i} altered: {:?} sent as {sm:?}",
                        m.publish
                    ));
                }
                self.client_got[i] += 1;
                if self.client_got[i] > 1 {
                    if sm.qos == QoS::ExactlyOnce {
                        return Err(format!("QoS 2 message s{i} delivered twice to the client"));
                    }
                    self.outcome.client_duplicates += 1;
                }
                match (m.ack_token, self.p.manual_ack) {
                    (Some(t), true) => {
                        let at = self.now + self.rng.range(0, 150);
                        self.acks.push((at, t, i));
                    }
                    (None, false) => {}
                    (t, _) => {
                        return Err(format!(
                            "ack token {t:?} with manual ack {}",
                            self.p.manual_ack
                        ))
                    }
                }
            }
            Event::PublishCompleted {
                id, reason_code, ..
            } => {
                let i = self
                    .outstanding
                    .remove(&id)
                    .ok_or_else(|| format!("completion of unknown {id:?}"))?;
                // PUBCOMP 0x92 answers a PUBREL sent again after the
                // server had completed the exchange (our PUBCOMP was lost):
                // "not an error during recovery" (spec 3.7.2.1). The client
                // reports the code as it came.
                let recovered = reason_code == ReasonCode::PacketIdentifierNotFound
                    && self.cmsgs[i].qos == QoS::ExactlyOnce;
                if recovered {
                    self.outcome.pubcomp_not_found += 1;
                }
                if reason_code != ReasonCode::Success && !recovered {
                    return Err(format!("c{i} completed with {reason_code:?}"));
                }
                if self.server_got[i] == 0 {
                    return Err(format!("c{i} completed before the server had it"));
                }
                if self.cmsgs[i].state != CState::Published {
                    return Err(format!("c{i} completed in state {:?}", self.cmsgs[i].state));
                }
                self.cmsgs[i].state = CState::Completed;
            }
            Event::Subscribed {
                packet_id,
                reason_codes,
                ..
            } => {
                if Some(packet_id) != self.sub_id || self.sub_done {
                    return Err(format!("unexpected SUBACK {packet_id}"));
                }
                if reason_codes != [ReasonCode::GrantedQoS2] {
                    return Err(format!("SUBACK codes {reason_codes:?}"));
                }
                self.sub_done = true;
            }
            Event::Unsubscribed { packet_id, .. } => {
                if Some(packet_id) != self.unsub_id || self.unsub_done {
                    return Err(format!("unexpected UNSUBACK {packet_id}"));
                }
                self.unsub_done = true;
            }
            Event::Pong => {}
            other => return Err(format!("unexpected event {other:?}")),
        }
        Ok(())
    }

    fn app_step(&mut self) -> Result<(), String> {
        let now = self.now;
        for i in 0..self.cmsgs.len() {
            let m = &self.cmsgs[i];
            if m.state != CState::NotYet || m.at > now {
                continue;
            }
            let publish = Publish::new(m.topic, Bytes::from(format!("c{i}")))
                .map_err(|e| e.to_string())?
                .with_qos(m.qos, if m.qos == QoS::AtMostOnce { 0 } else { 1 });
            let qos = m.qos;
            match self.client.publish(now, publish) {
                Ok(id) => {
                    self.log(|| format!("app publishes c{i} qos {} as {id:?}", qos as u8));
                    self.outcome.client_messages += 1;
                    if qos != QoS::AtMostOnce {
                        if id.packet_id().is_none() {
                            return Err(format!("QoS {} publish got {id:?}", qos as u8));
                        }
                        if self.outstanding.insert(id, i).is_some() {
                            return Err(format!("{id:?} handed out while still in flight"));
                        }
                    } else if id.packet_id().is_some() {
                        return Err(format!("QoS 0 publish got {id:?}"));
                    }
                    self.cmsgs[i].state = CState::Published;
                }
                Err(mqtt_core::client::ClientError::QueueFull) => {
                    self.cmsgs[i].at = now + self.rng.range(1, 50);
                }
                Err(mqtt_core::client::ClientError::NotConnected) if qos == QoS::AtMostOnce => {
                    self.cmsgs[i].state = CState::Refused;
                }
                Err(e) => return Err(format!("publish c{i} refused: {e:?}")),
            }
            self.drain_client()?;
        }
        if self.disconnects_left > 0 && self.disconnect_at <= now {
            self.disconnect_at = now + self.rng.range(100, 3 * self.p.span);
            if self.client.state() == mqtt_core::client::ConnectionState::Connected {
                self.disconnects_left -= 1;
                self.log(|| "app disconnects".into());
                self.client
                    .disconnect(now, Disconnect::new(ReasonCode::Success))
                    .map_err(|e| format!("disconnect refused: {e:?}"))?;
                self.drain_client()?;
            }
        }
        if self.unsub_id.is_none() && self.unsub_at <= now {
            let u = Unsubscribe::single(1, "x/+").map_err(|e| e.to_string())?;
            match self.client.unsubscribe(now, u) {
                Ok(id) => self.unsub_id = Some(id),
                Err(mqtt_core::client::ClientError::QueueFull) => {
                    self.unsub_at = now + self.rng.range(1, 50)
                }
                Err(e) => return Err(format!("unsubscribe refused: {e:?}")),
            }
            self.drain_client()?;
        }
        let mut k = 0;
        while k < self.acks.len() {
            if self.acks[k].0 <= now {
                let (_, token, _) = self.acks.swap_remove(k);
                self.log(|| format!("app acknowledges {token:?}"));
                self.client
                    .acknowledge(now, token)
                    .map_err(|e| format!("acknowledge {token:?}: {e:?}"))?;
                self.drain_client()?;
            } else {
                k += 1;
            }
        }
        Ok(())
    }

    fn done(&mut self) -> Result<bool, String> {
        let client_done = self.cmsgs.iter().all(|m| {
            !matches!(m.state, CState::NotYet)
                && (m.qos == QoS::AtMostOnce || m.state == CState::Completed)
        }) && self.outstanding.is_empty()
            && self.sub_done
            && self.unsub_done
            && self.acks.is_empty()
            && self.client.stats().queued == 0;
        let server_done = self.next_smsg == self.smsgs.len()
            && self.session.as_ref().is_some_and(|s| s.out.is_empty())
            && self.client_got.iter().all(|n| *n > 0);
        Ok(client_done && server_done)
    }

    fn final_checks(&mut self) -> Result<(), String> {
        for (i, m) in self.cmsgs.iter().enumerate() {
            let n = self.server_got[i];
            let ok = match (m.qos, m.state) {
                (QoS::AtMostOnce, _) => n <= 1,
                (QoS::AtLeastOnce, _) => n >= 1,
                (QoS::ExactlyOnce, _) => n == 1,
            };
            if !ok {
                return Err(format!(
                    "c{i} (QoS {}) reached the server {n} times",
                    m.qos as u8
                ));
            }
        }
        for (i, m) in self.smsgs.iter().enumerate() {
            let n = self.client_got[i];
            if n == 0 || (m.qos == QoS::ExactlyOnce && n != 1) {
                return Err(format!(
                    "s{i} (QoS {}) reached the client {n} times",
                    m.qos as u8
                ));
            }
        }
        let stats = self.client.stats();
        if stats.inflight != 0 || stats.queued != 0 {
            return Err(format!("client stats at the end: {stats:?}"));
        }
        self.outcome.client_retransmits = stats.retransmits;
        self.outcome.server_messages = self.smsgs.len() as u64;
        Ok(())
    }

    fn next_time(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        if let Some(link) = &self.link {
            if !link.dead {
                at(link.up.next_due());
                at(link.down.next_due());
                at(link.cut_at);
            }
            at(link.client_notice_at);
        }
        at(self.client.poll_timeout());
        at(self.reconnect_at);
        for m in &self.cmsgs {
            if m.state == CState::NotYet {
                at(Some(m.at));
            }
        }
        if self.unsub_id.is_none() {
            at(Some(self.unsub_at));
        }
        if self.disconnects_left > 0 {
            at(Some(self.disconnect_at));
        }
        for a in &self.acks {
            at(Some(a.0));
        }
        if self.session.is_some() {
            at(self.smsgs.get(self.next_smsg).map(|m| m.at));
        }
        if let Some(c) = &self.srv {
            at(c.pending.front().map(|x| x.0));
        }
        // Never before now: what is due now was just handled.
        t.map(|x| x.max(self.now))
    }

    // ----- the server ------------------------------------------------------

    /// The server sees the connection close; the session stays (Session
    /// Expiry Interval 3600 in 5.0, Clean Session 0 in 3.1.1).
    fn server_closed(&mut self) {
        self.srv = None;
    }

    fn server_input(&mut self, chunk: &[u8]) -> Result<(), String> {
        if self.srv.is_none() {
            self.srv = Some(SrvConn {
                decoder: Decoder::new(DecodeOptions::new(self.p.version)),
                connected: false,
                pending: VecDeque::new(),
                last_ready: self.now,
                held_acks: 0,
                in_aliases: InboundTopicAliases::new(self.p.server_alias_max),
                out_aliases: OutboundTopicAliases::new(0),
                client_receive_max: u16::MAX,
            });
        }
        let Some(conn) = self.srv.as_mut() else {
            return Ok(());
        };
        conn.decoder.feed(chunk);
        loop {
            let Some(conn) = self.srv.as_mut() else {
                return Ok(());
            };
            match conn.decoder.next_packet() {
                Ok(Some(packet)) => self.server_packet(packet)?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("server: the client sent an invalid packet: {e}")),
            }
        }
    }

    fn server_send(&mut self, packet: PacketRef<'_>) -> Result<(), String> {
        self.server_send_held(packet, false)
    }

    fn server_send_held(&mut self, packet: PacketRef<'_>, held: bool) -> Result<(), String> {
        let version = self.p.version;
        let delay = self.rng.range(0, self.p.server_delay);
        let Some(conn) = self.srv.as_mut() else {
            return Ok(());
        };
        let mut buf = BytesMut::new();
        packet
            .encode(version, &mut buf)
            .map_err(|e| format!("server encode: {e}"))?;
        let at = (self.now + delay).max(conn.last_ready);
        conn.last_ready = at;
        if held {
            conn.held_acks += 1;
        }
        conn.pending.push_back((at, buf.freeze(), held));
        Ok(())
    }

    fn server_packet(&mut self, packet: Packet) -> Result<(), String> {
        self.log(|| format!("server <- {packet:?}"));
        let v5 = self.p.version.is_v5();
        let connected = self.srv.as_ref().is_some_and(|c| c.connected);
        if !connected {
            let Packet::Connect(c) = packet else {
                return Err(format!("server: first packet {packet:?}"));
            };
            return self.server_connect(*c);
        }
        match packet {
            Packet::Publish(p) => self.server_publish(p)?,
            Packet::PubAck(a) => {
                let s = self.session.as_mut().ok_or("no session")?;
                let i = s
                    .out
                    .iter()
                    .position(|o| o.pid == a.packet_id && o.stage == SStage::AwaitAck)
                    .filter(|i| self.smsgs[s.out[*i].msg].qos == QoS::AtLeastOnce)
                    .ok_or_else(|| format!("server: PUBACK {} not in flight", a.packet_id))?;
                s.out.remove(i);
            }
            Packet::PubRec(r) => {
                let s = self.session.as_mut().ok_or("no session")?;
                let i = s
                    .out
                    .iter()
                    .position(|o| o.pid == r.packet_id && o.stage == SStage::AwaitAck)
                    .filter(|i| self.smsgs[s.out[*i].msg].qos == QoS::ExactlyOnce)
                    .ok_or_else(|| format!("server: PUBREC {} not in flight", r.packet_id))?;
                s.out[i].stage = SStage::AwaitComp;
                self.server_send(PacketRef::PubRel(PubRel::new(r.packet_id).as_view()))?;
            }
            Packet::PubComp(c) => {
                let s = self.session.as_mut().ok_or("no session")?;
                let i = s
                    .out
                    .iter()
                    .position(|o| o.pid == c.packet_id && o.stage == SStage::AwaitComp)
                    .ok_or_else(|| format!("server: PUBCOMP {} not in flight", c.packet_id))?;
                s.out.remove(i);
            }
            Packet::PubRel(r) => {
                let s = self.session.as_mut().ok_or("no session")?;
                let known = s.qos2_in.remove(&r.packet_id).is_some();
                let code = if known || !v5 {
                    ReasonCode::Success
                } else {
                    ReasonCode::PacketIdentifierNotFound
                };
                let comp = PubComp::new(r.packet_id).with_reason_code(code);
                self.server_send_held(PacketRef::PubComp(comp.as_view()), known)?;
            }
            Packet::Subscribe(s) => {
                let codes = s
                    .filters
                    .iter()
                    .map(|f| match f.options.qos {
                        QoS::AtMostOnce => ReasonCode::Success,
                        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
                    })
                    .collect();
                self.server_send(PacketRef::SubAck(SubAck::new(s.packet_id, codes).as_view()))?;
            }
            Packet::Unsubscribe(u) => {
                let codes = vec![ReasonCode::NoSubscriptionExisted; u.filters.len()];
                let ack = UnsubAck::new(u.packet_id, if v5 { codes } else { Vec::new() });
                self.server_send(PacketRef::UnsubAck(ack.as_view()))?;
            }
            Packet::PingReq => self.server_send(PacketRef::PingResp)?,
            // The client gave up waiting for PINGRESP; the link closes
            // after this.
            Packet::Disconnect(d)
                if matches!(
                    d.reason_code,
                    ReasonCode::KeepAliveTimeout | ReasonCode::Success
                ) =>
            {
                self.server_closed();
            }
            other => return Err(format!("server: unexpected {other:?}")),
        }
        Ok(())
    }

    fn server_connect(&mut self, c: mqtt_core::codec::Connect) -> Result<(), String> {
        let v5 = self.p.version.is_v5();
        if c.protocol_version != self.p.version || c.client_id != "sim-client" {
            return Err(format!("server: CONNECT {c:?}"));
        }
        if c.clean_start {
            if let Some(old) = self.session.take() {
                // Only a client that never saw a CONNACK asks for a clean
                // start again: nothing of the old session reached it, so
                // the server's messages go again as new ones.
                for o in &old.out {
                    if self.client_got[o.msg] != 0 {
                        return Err(format!(
                            "server: clean start after s{} was delivered",
                            o.msg
                        ));
                    }
                }
                let mut fresh = SrvSession::default();
                for o in old.out {
                    fresh.out.push_back(SrvOut {
                        msg: o.msg,
                        pid: 0,
                        stage: SStage::Unsent,
                    });
                }
                self.session = Some(fresh);
            }
        }
        let session_present = !c.clean_start && self.session.is_some();
        if self.session.is_none() {
            self.session = Some(SrvSession::default());
        }
        if let Some(conn) = self.srv.as_mut() {
            conn.connected = true;
            conn.client_receive_max = if v5 {
                c.properties.receive_maximum.unwrap_or(u16::MAX)
            } else {
                self.p.client_receive_max
            };
            conn.out_aliases = OutboundTopicAliases::new(if v5 {
                c.properties.topic_alias_maximum.unwrap_or(0)
            } else {
                0
            });
        }
        let mut ack = ConnAck::new(session_present, ReasonCode::Success);
        if v5 {
            if self.p.server_receive_max != u16::MAX {
                ack.properties.receive_maximum = Some(self.p.server_receive_max);
            }
            if self.p.server_alias_max > 0 {
                ack.properties.topic_alias_maximum = Some(self.p.server_alias_max);
            }
        }
        self.server_send(PacketRef::ConnAck(ack.as_view()))?;
        if session_present {
            // Resend in order [MQTT-4.4.0-1].
            let out: Vec<SrvOut> = self
                .session
                .as_ref()
                .map(|s| s.out.iter().cloned().collect())
                .unwrap_or_default();
            for o in out {
                match o.stage {
                    SStage::Unsent => {}
                    SStage::AwaitAck => {
                        self.outcome.server_retransmits += 1;
                        self.server_publish_out(&o, true)?;
                    }
                    SStage::AwaitComp => {
                        self.outcome.server_retransmits += 1;
                        self.server_send(PacketRef::PubRel(PubRel::new(o.pid).as_view()))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn server_publish_out(&mut self, o: &SrvOut, dup: bool) -> Result<(), String> {
        let m = &self.smsgs[o.msg];
        let mut publish = Publish::new(m.topic, m.payload.clone())
            .map_err(|e| e.to_string())?
            .with_qos(m.qos, o.pid);
        publish.dup = dup;
        let conn = self.srv.as_mut().ok_or("no connection")?;
        let alias = if self.p.version.is_v5() {
            conn.out_aliases.alias_for(publish.topic.as_str())
        } else {
            OutboundAlias::None
        };
        if let OutboundAlias::Assign(a) | OutboundAlias::Use(a) = alias {
            publish.properties.topic_alias = Some(a);
        }
        let mut view = publish.as_view();
        if matches!(alias, OutboundAlias::Use(_)) {
            view.topic = Default::default();
        }
        self.server_send(PacketRef::Publish(view))
    }

    fn server_publish(&mut self, p: Publish) -> Result<(), String> {
        let v5 = self.p.version.is_v5();
        let conn = self.srv.as_mut().ok_or("no connection")?;
        let topic: TopicName = if v5 {
            conn.in_aliases
                .resolve(&p.topic, p.properties.topic_alias)
                .map_err(|e| format!("server: topic alias: {e}"))?
        } else {
            p.topic.clone()
        };
        let i = payload_index(&p.payload, b'c')
            .filter(|i| *i < self.cmsgs.len())
            .ok_or_else(|| format!("server: unknown message {p:?}"))?;
        let m = &self.cmsgs[i];
        if p.qos != m.qos || topic != m.topic {
            return Err(format!(
                "server: c{i} altered: {p:?} (topic {topic}) for {m:?}"
            ));
        }
        match p.qos {
            QoS::AtMostOnce => {
                self.server_got[i] += 1;
                if self.server_got[i] > 1 {
                    return Err(format!("QoS 0 message c{i} reached the server twice"));
                }
            }
            QoS::AtLeastOnce => {
                self.server_got[i] += 1;
                if self.server_got[i] > 1 {
                    self.outcome.server_duplicates += 1;
                }
                self.server_send_held(PacketRef::PubAck(PubAck::new(p.packet_id).as_view()), true)?;
                self.check_receive_max()?;
            }
            QoS::ExactlyOnce => {
                let s = self.session.as_mut().ok_or("no session")?;
                match s.qos2_in.get(&p.packet_id) {
                    Some(payload) => {
                        if *payload != p.payload || !p.dup {
                            return Err(format!(
                                "server: packet id {} reused while QoS 2 {:?} awaits PUBREL: {p:?}",
                                p.packet_id, payload
                            ));
                        }
                    }
                    None => {
                        s.qos2_in.insert(p.packet_id, p.payload.clone());
                        self.server_got[i] += 1;
                        if self.server_got[i] > 1 {
                            return Err(format!("QoS 2 message c{i} reached the server twice"));
                        }
                    }
                }
                self.check_receive_max()?;
                self.server_send(PacketRef::PubRec(PubRec::new(p.packet_id).as_view()))?;
            }
        }
        Ok(())
    }

    /// The client keeps within the server's Receive Maximum: messages the
    /// server has not finished acknowledging are in the client's window.
    fn check_receive_max(&self) -> Result<(), String> {
        if !self.p.version.is_v5() {
            return Ok(());
        }
        let held = self.session.as_ref().map_or(0, |s| s.qos2_in.len())
            + self.srv.as_ref().map_or(0, |c| c.held_acks);
        if held > usize::from(self.p.server_receive_max) {
            return Err(format!(
                "client exceeded the server's Receive Maximum {}: {held} held",
                self.p.server_receive_max
            ));
        }
        Ok(())
    }

    fn server_step(&mut self) -> Result<(), String> {
        let now = self.now;
        // New messages enter the session.
        if let Some(s) = self.session.as_mut() {
            while self.next_smsg < self.smsgs.len() && self.smsgs[self.next_smsg].at <= now {
                s.out.push_back(SrvOut {
                    msg: self.next_smsg,
                    pid: 0,
                    stage: SStage::Unsent,
                });
                self.next_smsg += 1;
            }
        }
        // Send within the client's Receive Maximum.
        if self.srv.as_ref().is_some_and(|c| c.connected) {
            let max = self.srv.as_ref().map_or(0, |c| c.client_receive_max);
            while let Some(s) = self.session.as_mut() {
                let inflight = s.out.iter().filter(|o| o.stage != SStage::Unsent).count();
                if inflight >= usize::from(max) {
                    break;
                }
                let Some(k) = s.out.iter().position(|o| o.stage == SStage::Unsent) else {
                    break;
                };
                let mut pid = s.next_pid;
                loop {
                    pid = if pid == u16::MAX { 1 } else { pid + 1 };
                    if !s
                        .out
                        .iter()
                        .any(|o| o.stage != SStage::Unsent && o.pid == pid)
                    {
                        break;
                    }
                }
                s.next_pid = pid;
                s.out[k].pid = pid;
                s.out[k].stage = SStage::AwaitAck;
                let o = s.out[k].clone();
                self.server_publish_out(&o, false)?;
            }
        }
        // Write what is ready.
        while let Some(conn) = self.srv.as_mut() {
            if conn.pending.front().is_none_or(|x| x.0 > now) {
                break;
            }
            let Some((_, bytes, held)) = conn.pending.pop_front() else {
                break;
            };
            if held {
                conn.held_acks -= 1;
            }
            if let Some(link) = self.link.as_mut() {
                if !link.dead && !link.client_closed {
                    link.down.write(
                        &mut self.rng,
                        self.p.max_chunk,
                        self.p.max_delay,
                        now,
                        &bytes,
                    );
                }
            }
        }
        Ok(())
    }
}
