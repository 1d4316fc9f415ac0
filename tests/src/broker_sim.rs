//! A deterministic simulation of several of our clients against the broker
//! engine ([`Broker`]), each over its own link that splits writes into
//! random chunks, delays them and cuts the connection at random points,
//! all driven by one seed in virtual time.
//!
//! [`run`] plays one seed and returns what happened ([`Outcome`]) or, when
//! a property broke, why (with the seed, to replay it).
//!
//! The cast: an observer subscribed to the will topic, a client with a
//! will (rebuilt from its exported session before each connection, so each
//! connection's will names it), and one to three more clients; each
//! version is drawn per client. Every session is persistent (3.1.1 Clean
//! Session 0; 5.0 Clean Start 0 with a Session Expiry Interval of an
//! hour), so QoS 1 and 2 survive reconnects. Clients publish numbered
//! messages (payload `m<i>`) at QoS 0, 1 and 2 on `t/a`, `t/b`, `t/c` and,
//! retained, on `r/x` (some of those clear it with an empty payload); most
//! subscribe once to one `t/` filter and some also to `r/x`, at QoS 1 or 2.
//! Some end a connection with a normal DISCONNECT. A cut tells both ends
//! at once (the broker `connection_closed`, the client
//! `handle_transport_closed`); the client reconnects after a [`Backoff`]
//! delay. In half the runs some cuts are half-open: the client learns at
//! once, the broker only up to three seconds later, so the client's next
//! connection may take the session over from the broker's stale one
//! [MQTT-3.1.4-3], or the broker may end it for keep alive first. After
//! a while no more cuts are made; the run ends when every client is
//! connected, every QoS 1 and 2 publish is complete, and nothing is in
//! flight.
//!
//! The model watches the bytes each side receives: the order in which the
//! broker received packets (a global sequence number `seq`) defines when a
//! message entered the broker and when a SUBSCRIBE was processed; SUBACKs
//! and CONNACKs are read from the broker's output when it writes them.
//!
//! Properties checked (a failure names the seed):
//!
//! * **delivery** — for each subscriber and each of its filters granted
//!   QoS g ≥ 1 (acknowledged by the broker at `seq` s), every message
//!   matching the filter, with QoS q ≥ 1, completed at its publisher, and
//!   first received by the broker after s, reaches the subscriber's
//!   application at least once, and exactly once when min(q, g) = 2
//!   (spec 4.3.2, 4.3.3). Messages that entered the broker before
//!   the subscription existed are not owed (the broker routes on receipt),
//!   nor are QoS 0 messages; but any message delivered at QoS 2 is never
//!   delivered twice, a QoS 0 message never twice, and nothing arrives
//!   without a matching subscription or with a QoS other than
//!   min(q, g) [MQTT-3.8.4-8]. A quarter of the subscribers later
//!   unsubscribe (UNSUBSCRIBE processed at `seq` u): then only messages
//!   the broker had started to send them before u are owed
//!   [MQTT-3.10.4-3] (it may drop ones merely queued), and none first
//!   received after the last copy of the UNSUBSCRIBE may arrive
//!   [MQTT-3.10.4-2] (the client sends unacknowledged SUBSCRIBE and
//!   UNSUBSCRIBE packets again on a new connection, so the broker may
//!   subscribe again in between);
//! * **order** — [MQTT-4.6.0-5]/[MQTT-4.6.0-6] ("Ordered Topic"): among the
//!   owed messages (above) a subscriber receives from one publisher on one
//!   topic at one delivered QoS, first arrivals are in publish order. (The
//!   client sends its messages in order and resends in order
//!   [MQTT-4.6.0-1], and a link is FIFO, so the broker first receives them
//!   in publish order. Messages not owed are left out: a QoS 1 message the
//!   broker first received before the subscription and again, resent,
//!   after a later one was routed, may legitimately arrive after it.)
//! * **completion** — every QoS 1 and 2 publish completes with Success
//!   (0x10 No matching subscribers and, for QoS 2 after a resent PUBREL,
//!   0x92 also accepted), only after the broker received it; no publish is
//!   dropped or requeued, every resume has Session Present 1, nothing is
//!   dropped by the broker ([`Broker::dropped_messages`] stays 0);
//! * **retained** — after each packet the broker receives, its stored
//!   message on `r/x` is the model's: the last retained PUBLISH it
//!   processed (every receipt of QoS 0 and 1, the first receipt of QoS 2),
//!   none after an empty one [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7];
//!   each message a subscriber gets with RETAIN 1 is the one stored when the
//!   broker processed one of its SUBSCRIBEs, and the one stored at the first
//!   is received when it and the subscription are QoS ≥ 1 [MQTT-3.3.1-9];
//!   at the end, a new client subscribing to `r/x` receives exactly the
//!   last value (nothing after a clear);
//! * **wills** — the will of a connection the broker accepted and that ended
//!   without the broker receiving DISCONNECT is published exactly once
//!   (QoS 2; at least once at QoS 1) [MQTT-3.1.2-8], seen by the observer
//!   when that happened after its subscription; a connection ended by a
//!   normal DISCONNECT never publishes it [MQTT-3.1.2-10], nor does one the
//!   broker never accepted. In half the 5.0 runs the will has a Will Delay
//!   Interval of 1 s (the client then waits longer before reconnecting):
//!   it is published only when the broker accepts no new connection of
//!   the client within that second, else never [MQTT-3.1.3-9];
//! * **no violations** — every byte each side writes decodes strictly in
//!   the connection's version; the broker never refuses a CONNECT, never
//!   sends DISCONNECT (5.0) and never closes a connection except after the
//!   client's DISCONNECT, or a half-open one (DISCONNECT 0x8E Session taken
//!   over or 0x8D Keep alive timeout; whether the will of a half-open
//!   connection the broker ends itself is published is left open, at most
//!   once); no client reports anything but the disconnects the simulation
//!   caused; `poll_timeout` of every party is never in the past after
//!   `handle_timeout`, and the broker's (from its index of deadlines) is
//!   at every step the earliest deadline of its connections, sessions,
//!   wills and retained messages;
//! * **no livelock** — the run finishes within [`MAX_STEPS`] steps and
//!   [`MAX_VIRTUAL_MS`] virtual milliseconds.
//!
//! [`broker_crash_sim`](crate::broker_crash_sim) runs the same scenarios
//! with a durable broker that crashes (this module's driver takes the
//! engine's store records when it is given a [`Durable`] store).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use bytes::Bytes;
use mqtt_core::broker::{Broker, BrokerOptions, ClientKey, ConnectionId};
use mqtt_core::client::{
    Backoff, Client, ClientOptions, ConnectionState, DisconnectReason, Event, PublishId,
};
use mqtt_core::codec::{
    DecodeOptions, Decoder, Disconnect, MqttString, Packet, ProtocolVersion, Publish, QoS,
    ReasonCode, Subscribe, SubscribeFilter, SubscriptionOptions, Unsubscribe, Will,
};
use mqtt_core::server::ServerOptions;
use mqtt_core::time::Instant;
use mqtt_core::topic::topic_matches;

use crate::broker_crash_sim::{CrashKind, Durable};
use crate::link::Pipe;
use crate::sim::{Rng, Trace};

/// What one seed did, for the test to sum (and to see that the simulation
/// exercises what it should).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Connections the clients started.
    pub connects: u64,
    /// Connections cut by a link.
    pub cuts: u64,
    /// Cuts the broker did not see at once (half-open connections).
    pub half_open: u64,
    /// Half-open connections the broker closed itself (session takeover
    /// by the client's next connection, or keep alive) before it saw the
    /// cut.
    pub half_open_closed_by_broker: u64,
    /// Connections ended by a normal DISCONNECT that reached the broker.
    pub normal_disconnects: u64,
    /// CONNACKs with Session Present 1.
    pub resumes: u64,
    /// Messages published (accepted by the client, every QoS).
    pub messages: u64,
    /// Deliveries to subscribers' applications (RETAIN 0).
    pub deliveries: u64,
    /// Deliveries checked as owed (at least once / exactly once).
    pub owed: u64,
    /// QoS 1 deliveries beyond the first.
    pub qos1_duplicates: u64,
    /// QoS 2 PUBLISH packets a client received again (DUP) and did not
    /// deliver again: duplicates suppressed on the subscriber side.
    pub qos2_duplicates_to_clients: u64,
    /// QoS 2 PUBLISH packets the broker received again (DUP) for a message
    /// it already had.
    pub qos2_duplicates_to_broker: u64,
    /// Wills the broker had to publish (abrupt ends of accepted will
    /// connections, not followed by a new connection within the Will Delay
    /// Interval), after the observer subscribed.
    pub wills_due: u64,
    /// Wills of abrupt ends cancelled by a new connection within the Will
    /// Delay Interval.
    pub wills_cancelled: u64,
    /// Will messages the observer received.
    pub wills_received: u64,
    /// Messages received with RETAIN 1.
    pub retained_deliveries: u64,
    /// UNSUBACKs received.
    pub unsubscribes: u64,
    /// Runs whose final retained check expected a message (not a clear).
    pub retained_final_present: u64,
    /// Virtual milliseconds the run took.
    pub virtual_ms: u64,
    /// Loop steps taken.
    pub steps: u64,
    /// Broker crashes ([`broker_crash_sim`](crate::broker_crash_sim)).
    pub crashes: u64,
    /// Crashes while a batch was written (part of it torn off).
    pub torn_crashes: u64,
    /// Crashes after a batch was made durable but before the output that
    /// followed it was sent.
    pub unsent_crashes: u64,
    /// Stores replaced by a snapshot.
    pub compactions: u64,
    /// Sessions rebuilt by restores.
    pub restored_sessions: u64,
    /// Messages (queued or in flight) rebuilt by restores.
    pub restored_messages: u64,
    /// Subscriptions rebuilt by restores.
    pub restored_subscriptions: u64,
    /// Bytes of torn batches discarded by restores.
    pub discarded_bytes: u64,
    /// The largest store, in bytes.
    pub store_bytes: u64,
}

impl Outcome {
    /// Adds `o` to these totals (`steps` and `virtual_ms` keep the maximum).
    pub fn add(&mut self, o: &Outcome) {
        self.connects += o.connects;
        self.cuts += o.cuts;
        self.half_open += o.half_open;
        self.half_open_closed_by_broker += o.half_open_closed_by_broker;
        self.normal_disconnects += o.normal_disconnects;
        self.resumes += o.resumes;
        self.messages += o.messages;
        self.deliveries += o.deliveries;
        self.owed += o.owed;
        self.qos1_duplicates += o.qos1_duplicates;
        self.qos2_duplicates_to_clients += o.qos2_duplicates_to_clients;
        self.qos2_duplicates_to_broker += o.qos2_duplicates_to_broker;
        self.wills_due += o.wills_due;
        self.wills_cancelled += o.wills_cancelled;
        self.wills_received += o.wills_received;
        self.retained_deliveries += o.retained_deliveries;
        self.unsubscribes += o.unsubscribes;
        self.retained_final_present += o.retained_final_present;
        self.virtual_ms = self.virtual_ms.max(o.virtual_ms);
        self.steps = self.steps.max(o.steps);
        self.crashes += o.crashes;
        self.torn_crashes += o.torn_crashes;
        self.unsent_crashes += o.unsent_crashes;
        self.compactions += o.compactions;
        self.restored_sessions += o.restored_sessions;
        self.restored_messages += o.restored_messages;
        self.restored_subscriptions += o.restored_subscriptions;
        self.discarded_bytes += o.discarded_bytes;
        self.store_bytes = self.store_bytes.max(o.store_bytes);
    }
}

/// Runs one seed; `trace` collects a line per event of interest (slow; for
/// replaying a failing seed).
pub fn run(seed: u64, trace: bool) -> Result<Outcome, String> {
    run_with(seed, trace, false)
}

/// Runs one seed, with a durable broker that crashes if `crashes`.
pub(crate) fn run_with(seed: u64, trace: bool, crashes: bool) -> Result<Outcome, String> {
    let mut sim = Sim::new(seed, trace, crashes);
    let result = sim.run();
    if let Some(d) = &sim.durable {
        sim.outcome.compactions = d.compactions;
        sim.outcome.store_bytes = d.max_len as u64;
    }
    match result {
        Ok(()) => Ok(sim.outcome),
        Err(e) => Err(sim.trace.failure(seed, &e, &sim.p)),
    }
}

/// Runs `count` seeds from `start` with `run` (this module's [`run`] or
/// [`broker_crash_sim::run`](crate::broker_crash_sim::run)), spread over
/// up to four threads (each seed is independent and deterministic); a
/// failure is printed to stderr. Returns the totals and the failing seeds
/// (at most 20 per thread).
pub fn run_seeds(
    start: u64,
    count: u64,
    trace: bool,
    run: fn(u64, bool) -> Result<Outcome, String>,
) -> (Outcome, Vec<u64>) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4) as u64;
    let results: Vec<(Outcome, Vec<u64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut total = Outcome::default();
                    let mut failures = Vec::new();
                    let mut seed = start + t;
                    while seed < start + count {
                        match run(seed, trace) {
                            Ok(o) => total.add(&o),
                            Err(e) => {
                                eprintln!("FAILED {e}\n");
                                failures.push(seed);
                                if failures.len() >= 20 {
                                    break;
                                }
                            }
                        }
                        seed += threads;
                    }
                    (total, failures)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("simulation thread"))
            .collect()
    });
    let mut total = Outcome::default();
    let mut failures = Vec::new();
    for (o, f) in results {
        total.add(&o);
        failures.extend(f);
    }
    failures.sort_unstable();
    (total, failures)
}

/// The seeds a simulation test runs, from the environment: with
/// `<PREFIX>_SEED=s`, that one seed; else `<PREFIX>_SEEDS` seeds
/// (`default_count` if unset) from `<PREFIX>_SEED_START` (0 if unset).
/// Returns (start, count, trace), trace on when `<PREFIX>_TRACE` is set
/// and not `0`.
pub fn seeds_from_env(prefix: &str, default_count: u64) -> (u64, u64, bool) {
    let var = |name: &str| {
        std::env::var(format!("{prefix}_{name}"))
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let trace = std::env::var(format!("{prefix}_TRACE")).is_ok_and(|v| v != "0");
    match var("SEED") {
        Some(seed) => (seed, 1, trace),
        None => (
            var("SEED_START").unwrap_or(0),
            var("SEEDS").unwrap_or(default_count),
            trace,
        ),
    }
}

/// The most loop steps one run may take.
pub const MAX_STEPS: u64 = 100_000;
/// The most virtual time one run may take, in milliseconds.
pub const MAX_VIRTUAL_MS: u64 = 1_800_000;

const TOPICS: [&str; 3] = ["t/a", "t/b", "t/c"];
const RETAINED: &str = "r/x";
const FILTERS: [&str; 5] = ["t/#", "t/+", "t/a", "t/b", "+/c"];
const WILL_TOPIC: &str = "w/will";
const OBSERVER: usize = 0;
const WILLER: usize = 1;

fn qos_of(n: u64) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

// ----- the scenario --------------------------------------------------------

#[derive(Debug, Clone)]
struct Params {
    versions: Vec<ProtocolVersion>,
    keep_alive: Vec<u16>,
    client_receive_max: Vec<u16>,
    client_inflight: Vec<u16>,
    client_alias_max: Vec<u16>,
    broker_receive_max: u16,
    broker_inflight: u16,
    broker_alias_max: u16,
    broker_aliases: bool,
    span: u64,
    max_chunk: u64,
    max_delay: u64,
    cuts: u32,
    cut_percent: u64,
    cut_window: u64,
    will_qos: QoS,
    /// Will Delay Interval in seconds (5.0; 0 in 3.1.1).
    will_delay: u32,
    /// Cuts only the client sees at first (the broker later, or never).
    half_open_percent: u64,
    /// How long the broker may take to see a half-open cut.
    notice_window: u64,
}

impl Params {
    fn draw(rng: &mut Rng) -> Params {
        let peers = 2 + rng.range(1, 3) as usize;
        let versions: Vec<ProtocolVersion> = (0..peers)
            .map(|_| {
                if rng.chance(50) {
                    ProtocolVersion::V5
                } else {
                    ProtocolVersion::V311
                }
            })
            .collect();
        let v5 = |i: usize| versions[i].is_v5();
        let will_delay = if v5(WILLER) && rng.chance(50) { 1 } else { 0 };
        let mut p = Params {
            keep_alive: (0..peers).map(|_| rng.range(0, 2) as u16).collect(),
            client_receive_max: (0..peers)
                .map(|i| {
                    if v5(i) {
                        rng.range(1, 6) as u16
                    } else {
                        u16::MAX
                    }
                })
                .collect(),
            client_inflight: (0..peers).map(|_| rng.range(1, 8) as u16).collect(),
            client_alias_max: (0..peers)
                .map(|i| if v5(i) { rng.range(0, 3) as u16 } else { 0 })
                .collect(),
            versions,
            broker_receive_max: rng.range(1, 6) as u16,
            broker_inflight: rng.range(1, 6) as u16,
            broker_alias_max: rng.range(0, 3) as u16,
            broker_aliases: rng.chance(50),
            span: rng.range(100, 3_000),
            max_chunk: [1, 5, 16, 64, 400, 400][rng.range(0, 5) as usize],
            max_delay: rng.range(0, 50),
            cuts: rng.range(0, 8) as u32,
            cut_percent: rng.range(20, 80),
            cut_window: rng.range(5, 300),
            will_qos: if rng.chance(75) {
                QoS::ExactlyOnce
            } else {
                QoS::AtLeastOnce
            },
            will_delay: 0,
            half_open_percent: 0,
            notice_window: 0,
        };
        p.will_delay = will_delay;
        p.half_open_percent = if rng.chance(50) { 0 } else { rng.range(20, 80) };
        p.notice_window = rng.range(0, 3_000);
        p
    }

    fn options(&self, i: usize, will_conn: Option<u32>) -> ClientOptions {
        let version = self.versions[i];
        let mut o = ClientOptions::new(version, &peer_name(i))
            .expect("valid client id")
            .with_clean_start(false)
            .with_keep_alive(self.keep_alive[i])
            .with_receive_maximum(self.client_receive_max[i])
            .with_max_inflight(self.client_inflight[i])
            .with_topic_alias_maximum(self.client_alias_max[i]);
        if version.is_v5() {
            o = o.with_session_expiry_interval(3_600);
        }
        if let Some(k) = will_conn {
            let mut will = Will::new(WILL_TOPIC, format!("will{k}").into_bytes(), self.will_qos)
                .expect("valid will");
            if self.will_delay > 0 {
                will.properties.will_delay_interval = Some(self.will_delay);
            }
            o = o.with_will(will);
        }
        o
    }

    fn broker_options(&self) -> BrokerOptions {
        let server = ServerOptions::new()
            .with_receive_maximum(self.broker_receive_max)
            .with_max_inflight(self.broker_inflight)
            .with_topic_alias_maximum(self.broker_alias_max)
            .with_outbound_topic_aliases(self.broker_aliases);
        BrokerOptions::new().with_server_options(server)
    }
}

fn peer_name(i: usize) -> String {
    match i {
        OBSERVER => "obs".into(),
        WILLER => "willer".into(),
        _ => format!("c{i}"),
    }
}

// ----- the link ------------------------------------------------------------

/// One connection between a client and the broker.
struct Link {
    conn: ConnectionId,
    /// The client's connection number (the will client's will names it).
    k: u32,
    up: Pipe,
    down: Pipe,
    cut_at: Option<Instant>,
    /// The client closed it after its DISCONNECT: bytes written still
    /// reach the broker, which learns of the close after them.
    client_closed: bool,
    /// What the broker received (decoded as delivered).
    up_dec: Decoder,
    /// What the broker wrote (decoded when written).
    out_dec: Decoder,
    /// What the client received (decoded as delivered).
    down_dec: Decoder,
    /// The broker wrote CONNACK 0x00.
    accepted: bool,
    /// The broker received DISCONNECT.
    disconnect_seen: bool,
}

/// A connection the client saw break and the broker did not (yet): the
/// broker learns of it at `notice_at`, unless it closes it first (session
/// takeover by the client's next connection, or keep alive).
struct Zombie {
    peer: usize,
    link: Link,
    notice_at: Instant,
}

// ----- the model -------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MState {
    NotYet,
    /// QoS 0 refused while disconnected.
    Refused,
    Published,
    Completed,
}

#[derive(Debug, Clone)]
struct Msg {
    publisher: usize,
    topic: &'static str,
    qos: QoS,
    retain: bool,
    /// A retained clear (empty payload) rather than a numbered message.
    clear: bool,
    at: Instant,
    state: MState,
    /// `seq` of the broker's first receipt.
    first_at_broker: Option<u64>,
}

#[derive(Debug, Clone)]
struct SubPlan {
    at: Instant,
    filters: Vec<(&'static str, QoS)>,
    pid: Option<u16>,
    /// `seq` of the broker's first SUBACK.
    acked_seq: Option<u64>,
    /// The client got the SUBACK.
    client_acked: bool,
    /// The retained message on `r/x` (message index; `None`: none) when the
    /// broker received each copy of the SUBSCRIBE.
    retained_at_receipt: Vec<Option<usize>>,
    /// When the application unsubscribes from all its filters, if it does.
    unsub_at: Option<Instant>,
    unsub_pid: Option<u16>,
    /// `seq` of the broker's first receipt of the UNSUBSCRIBE.
    unsub_seq: Option<u64>,
    /// `seq` of its last receipt (the client sends it again, after the
    /// SUBSCRIBE when that was not acknowledged either, on a new
    /// connection), and how many.
    unsub_last_seq: Option<u64>,
    unsub_receipts: u32,
    /// The client got the UNSUBACK.
    unsub_acked: bool,
}

impl SubPlan {
    fn new(at: Instant, filters: Vec<(&'static str, QoS)>, unsub_at: Option<Instant>) -> Self {
        SubPlan {
            at,
            filters,
            pid: None,
            acked_seq: None,
            client_acked: false,
            retained_at_receipt: Vec::new(),
            unsub_at,
            unsub_pid: None,
            unsub_seq: None,
            unsub_last_seq: None,
            unsub_receipts: 0,
            unsub_acked: false,
        }
    }

    /// Everything planned is acknowledged.
    fn settled(&self) -> bool {
        self.client_acked && (self.unsub_at.is_none() || self.unsub_acked)
    }
}

#[derive(Debug, Clone, Copy)]
struct WillEnd {
    k: u32,
    /// When the broker learnt the connection closed.
    closed_at: Instant,
    /// The broker closed it itself while it was half-open.
    ambiguous: bool,
    /// The broker had to publish the will (accepted, ended without
    /// DISCONNECT) at this `seq`.
    due_at: Option<u64>,
}

struct Peer {
    client: Client,
    link: Option<Link>,
    conns: u32,
    reconnect_at: Option<Instant>,
    attempt: u32,
    connected_before: bool,
    sub: Option<SubPlan>,
    /// Application disconnects, by time.
    disconnects: VecDeque<Instant>,
    publishes: VecDeque<usize>,
    outstanding: BTreeMap<PublishId, usize>,
    /// Deliveries with RETAIN 0 of numbered messages: (message, QoS).
    got: Vec<(usize, QoS)>,
    /// Messages received with RETAIN 1.
    retained_got: Vec<usize>,
    /// QoS 2 PUBLISH packets received on the wire, per message.
    qos2_wire: BTreeMap<usize, u64>,
    /// When the broker first wrote each message (RETAIN 0) to the peer.
    written: BTreeMap<usize, u64>,
}

struct Sim {
    p: Params,
    rng: Rng,
    now: Instant,
    seq: u64,
    broker: Broker,
    peers: Vec<Peer>,
    msgs: Vec<Msg>,
    /// The retained message on `r/x` as the model has it.
    retained: Option<usize>,
    heal_at: Instant,
    will_ends: Vec<WillEnd>,
    /// When the broker accepted each connection of the will client.
    will_accepts: Vec<(u32, Instant)>,
    /// Will messages received, by connection number, per peer.
    wills_got: BTreeMap<(usize, u32), u64>,
    closed: BTreeSet<ConnectionId>,
    zombies: Vec<Zombie>,
    outcome: Outcome,
    trace: Trace,
    /// The durable store, when the broker persists and crashes.
    durable: Option<Durable>,
    /// What the model learnt since the store's last whole batch, to
    /// forget if that step is torn by a crash.
    undo: Vec<Undo>,
    /// The model's retained message at the store's last whole batch.
    durable_retained: Option<usize>,
    /// How many will ends were known at the store's last whole batch.
    durable_will_ends: usize,
    /// A crash is due once the current step's output is sent.
    crash_after_output: bool,
    /// Messages the crashed incarnations of the broker dropped.
    dropped_before: u64,
}

/// A model change made by a step the store may lose (see [`Sim::undo`]).
#[derive(Debug)]
enum Undo {
    /// The broker's first receipt of a message.
    FirstReceipt(usize),
    /// A receipt of peer `i`'s SUBSCRIBE (the retained message noted).
    Subscribe(usize),
    /// A receipt of peer `i`'s UNSUBSCRIBE: what its plan had before.
    Unsubscribe {
        peer: usize,
        seq: Option<u64>,
        last_seq: Option<u64>,
        receipts: u32,
    },
}

fn payload_index(payload: &[u8]) -> Option<usize> {
    let rest = payload.strip_prefix(b"m")?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}

fn will_index(payload: &[u8]) -> Option<u32> {
    let rest = payload.strip_prefix(b"will")?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}

impl Sim {
    fn new(seed: u64, trace_on: bool, crashes: bool) -> Sim {
        let mut rng = Rng::new(seed);
        let p = Params::draw(&mut rng);
        let n = p.versions.len();
        let mut msgs = Vec::new();
        let mut peers = Vec::new();
        for i in 0..n {
            let will = (i == WILLER).then_some(1);
            let mut peer = Peer {
                client: Client::new(p.options(i, will)),
                link: None,
                conns: 0,
                reconnect_at: Some(rng.range(0, 50)),
                attempt: 0,
                connected_before: false,
                sub: None,
                disconnects: VecDeque::new(),
                publishes: VecDeque::new(),
                outstanding: BTreeMap::new(),
                got: Vec::new(),
                retained_got: Vec::new(),
                qos2_wire: BTreeMap::new(),
                written: BTreeMap::new(),
            };
            if i == OBSERVER {
                peer.sub = Some(SubPlan::new(0, vec![("w/#", QoS::ExactlyOnce)], None));
            } else {
                if rng.chance(70) {
                    let mut filters = vec![(
                        FILTERS[rng.range(0, FILTERS.len() as u64 - 1) as usize],
                        qos_of(rng.range(1, 2)),
                    )];
                    if rng.chance(50) {
                        filters.push((RETAINED, qos_of(rng.range(1, 2))));
                    }
                    let at = rng.range(0, p.span);
                    let unsub_at = rng.chance(25).then(|| at + rng.range(0, p.span));
                    peer.sub = Some(SubPlan::new(at, filters, unsub_at));
                }
                let mut times: Vec<Instant> =
                    (0..rng.range(0, 5)).map(|_| rng.range(0, p.span)).collect();
                times.sort_unstable();
                for at in times {
                    let retained = rng.chance(20);
                    let clear = retained && rng.chance(30);
                    msgs.push(Msg {
                        publisher: i,
                        topic: if retained {
                            RETAINED
                        } else {
                            TOPICS[rng.range(0, 2) as usize]
                        },
                        qos: qos_of(rng.range(0, if clear { 1 } else { 2 })),
                        retain: retained,
                        clear,
                        at,
                        state: MState::NotYet,
                        first_at_broker: None,
                    });
                    peer.publishes.push_back(msgs.len() - 1);
                }
                let disconnects = if i == WILLER {
                    rng.range(0, 3)
                } else {
                    rng.range(0, 1)
                };
                let mut times: Vec<Instant> = (0..disconnects)
                    .map(|_| rng.range(0, p.span + p.cut_window))
                    .collect();
                times.sort_unstable();
                peer.disconnects = times.into();
            }
            peers.push(peer);
        }
        let heal_at = p.span + p.cut_window;
        let durable = crashes.then(|| Durable::draw(seed, p.broker_options(), heal_at, trace_on));
        let broker = match &durable {
            Some(d) => Broker::new(d.options()),
            None => Broker::new(p.broker_options()),
        };
        Sim {
            broker,
            heal_at,
            p,
            rng,
            now: 0,
            seq: 0,
            peers,
            msgs,
            retained: None,
            will_ends: Vec::new(),
            will_accepts: Vec::new(),
            wills_got: BTreeMap::new(),
            closed: BTreeSet::new(),
            zombies: Vec::new(),
            outcome: Outcome::default(),
            trace: Trace::new(trace_on),
            durable,
            undo: Vec::new(),
            durable_retained: None,
            durable_will_ends: 0,
            crash_after_output: false,
            dropped_before: 0,
        }
    }

    fn log(&mut self, f: impl FnOnce() -> String) {
        self.trace.log(self.now, f);
    }

    fn run(&mut self) -> Result<(), String> {
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
            if self.done() {
                self.final_checks()?;
                return self.final_retained_check();
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
        let mut s = String::new();
        for (i, p) in self.peers.iter().enumerate() {
            let _ = write!(
                s,
                "[{} {:?} link {} sub {:?} outstanding {:?} stats {:?}] ",
                peer_name(i),
                p.client.state(),
                p.link.is_some(),
                p.sub.as_ref().map(|s| (s.acked_seq, s.client_acked)),
                p.outstanding,
                p.client.stats(),
            );
        }
        s
    }

    fn next_time(&self) -> Option<Instant> {
        let mut t: Option<Instant> = self.broker.poll_timeout();
        if self.now < self.heal_at {
            t = Some(t.map_or(self.heal_at, |t| t.min(self.heal_at)));
        }
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for z in &self.zombies {
            min(Some(z.notice_at));
        }
        for p in &self.peers {
            min(p.client.poll_timeout());
            min(p.reconnect_at);
            min(p.disconnects.front().copied());
            min(p.publishes.front().map(|&m| self.msgs[m].at));
            min(p.sub.as_ref().filter(|s| s.pid.is_none()).map(|s| s.at));
            min(p
                .sub
                .as_ref()
                .filter(|s| s.pid.is_some() && s.unsub_pid.is_none())
                .and_then(|s| s.unsub_at));
            if let Some(l) = &p.link {
                min(l.up.next_due());
                min(l.down.next_due());
                min(l.cut_at);
                if l.client_closed && l.up.is_empty() {
                    min(Some(self.now));
                }
            }
        }
        t
    }

    /// Everything is settled: all clients connected and idle, nothing in
    /// flight, every planned action taken.
    fn done(&self) -> bool {
        self.now >= self.heal_at
            && self.zombies.is_empty()
            && self.peers.iter().all(|p| {
                p.client.state() == ConnectionState::Connected
                    && p.client.transmit_len() == 0
                    && p.outstanding.is_empty()
                    && p.publishes.is_empty()
                    && p.disconnects.is_empty()
                    && p.sub.as_ref().is_none_or(SubPlan::settled)
                    && p.link
                        .as_ref()
                        .is_some_and(|l| !l.client_closed && l.up.is_empty() && l.down.is_empty())
            })
    }

    // ----- one step ----------------------------------------------------------

    fn step(&mut self) -> Result<(), String> {
        let now = self.now;
        // Deliveries, until none is due.
        loop {
            let mut moved = false;
            for i in 0..self.peers.len() {
                let Some(link) = self.peers[i].link.as_mut() else {
                    continue;
                };
                if let Some(chunk) = link.up.take_due(now) {
                    moved = true;
                    let conn = link.conn;
                    self.broker.handle_input(conn, now, &chunk);
                    self.broker_received(i, &chunk)?;
                    self.drain_broker()?;
                    continue;
                }
                if let Some(chunk) = link.down.take_due(now) {
                    moved = true;
                    self.client_received(i, &chunk)?;
                    self.peers[i].client.handle_input(now, &chunk);
                    self.drain_client(i)?;
                }
            }
            if !moved {
                break;
            }
        }
        // Cuts, and closes after a client's DISCONNECT went out.
        for i in 0..self.peers.len() {
            let Some(link) = self.peers[i].link.as_ref() else {
                continue;
            };
            let conn = link.conn;
            let client_closed = link.client_closed;
            if link.cut_at.is_some_and(|t| t <= now) {
                // Whatever is in flight is lost; both ends learn of it, or
                // only the client at first.
                self.outcome.cuts += 1;
                let half_open = !client_closed && self.rng.chance(self.p.half_open_percent);
                self.log(|| format!("{}: link cut (half-open: {half_open})", peer_name(i)));
                if half_open {
                    self.outcome.half_open += 1;
                    let mut link = self.peers[i].link.take().ok_or("no link")?;
                    link.up.clear();
                    link.down.clear();
                    let notice_at = now + self.rng.range(0, self.p.notice_window);
                    self.zombies.push(Zombie {
                        peer: i,
                        link,
                        notice_at,
                    });
                } else {
                    self.end_link(i)?;
                    self.broker_closed(conn)?;
                }
                if !client_closed {
                    self.peers[i].client.handle_transport_closed(now);
                    self.drain_client(i)?;
                    self.schedule_reconnect(i);
                }
            } else if client_closed && link.up.is_empty() {
                self.end_link(i)?;
                self.broker_closed(conn)?;
            }
        }
        // The broker learns of half-open cuts.
        while let Some(z) = self.zombies.iter().position(|z| z.notice_at <= now) {
            let zombie = self.zombies.remove(z);
            let conn = zombie.link.conn;
            if !self.closed.contains(&conn) {
                self.link_ended(zombie.peer, &zombie.link, false);
            }
            self.broker_closed(conn)?;
        }
        // Timers. The engine's index of deadlines agrees with a scan of
        // every connection, session and will.
        let (indexed, scanned) = (self.broker.poll_timeout(), self.broker.poll_timeout_scan());
        if indexed != scanned {
            return Err(format!(
                "broker poll_timeout {indexed:?} is not the earliest deadline {scanned:?}"
            ));
        }
        if self.broker.poll_timeout().is_some_and(|t| t <= now) {
            self.broker.handle_timeout(now);
            if let Some(t) = self.broker.poll_timeout() {
                if t <= now {
                    return Err(format!(
                        "broker poll_timeout {t} not after handle_timeout({now})"
                    ));
                }
            }
            self.drain_broker()?;
        }
        for i in 0..self.peers.len() {
            let c = &mut self.peers[i].client;
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
                if let Some(t) = c.poll_timeout() {
                    if t <= now {
                        return Err(format!(
                            "{}: poll_timeout {t} not after handle_timeout({now})",
                            peer_name(i)
                        ));
                    }
                }
                self.drain_client(i)?;
            }
        }
        // The applications.
        for i in 0..self.peers.len() {
            self.app_step(i)?;
        }
        // Reconnects.
        for i in 0..self.peers.len() {
            let p = &self.peers[i];
            if p.link.is_none() && p.reconnect_at.is_some_and(|t| t <= now) {
                self.reconnect(i)?;
            }
        }
        Ok(())
    }

    fn app_step(&mut self, i: usize) -> Result<(), String> {
        let now = self.now;
        if let Some(s) = self.peers[i].sub.as_ref() {
            if s.pid.is_none() && s.at <= now {
                let filters = s
                    .filters
                    .iter()
                    .map(|(f, q)| SubscribeFilter::new(f, SubscriptionOptions::new(*q)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                let pid = self.peers[i]
                    .client
                    .subscribe(now, Subscribe::new(0, filters))
                    .map_err(|e| format!("{}: subscribe refused: {e}", peer_name(i)))?;
                if let Some(s) = self.peers[i].sub.as_mut() {
                    s.pid = Some(pid);
                }
                self.drain_client(i)?;
            }
        }
        if let Some(s) = self.peers[i].sub.as_ref() {
            if s.pid.is_some() && s.unsub_pid.is_none() && s.unsub_at.is_some_and(|t| t <= now) {
                let filters = s
                    .filters
                    .iter()
                    .map(|(f, _)| MqttString::from_str(f))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                let pid = self.peers[i]
                    .client
                    .unsubscribe(now, Unsubscribe::new(0, filters))
                    .map_err(|e| format!("{}: unsubscribe refused: {e}", peer_name(i)))?;
                if let Some(s) = self.peers[i].sub.as_mut() {
                    s.unsub_pid = Some(pid);
                }
                self.drain_client(i)?;
            }
        }
        while let Some(&m) = self.peers[i].publishes.front() {
            if self.msgs[m].at > now {
                break;
            }
            self.peers[i].publishes.pop_front();
            let msg = &self.msgs[m];
            let payload = if msg.clear {
                Bytes::new()
            } else {
                Bytes::from(format!("m{m}"))
            };
            let publish = Publish::new(msg.topic, payload)
                .map_err(|e| e.to_string())?
                .with_qos(msg.qos, 0)
                .with_retain(msg.retain);
            let qos = msg.qos;
            match self.peers[i].client.publish(now, publish) {
                Ok(id) => {
                    self.outcome.messages += 1;
                    self.msgs[m].state = MState::Published;
                    if qos != QoS::AtMostOnce {
                        self.peers[i].outstanding.insert(id, m);
                    }
                }
                Err(mqtt_core::client::ClientError::NotConnected) if qos == QoS::AtMostOnce => {
                    self.msgs[m].state = MState::Refused;
                }
                Err(e) => return Err(format!("{}: publish m{m} refused: {e}", peer_name(i))),
            }
            self.drain_client(i)?;
        }
        while self.peers[i].disconnects.front().is_some_and(|&t| t <= now) {
            self.peers[i].disconnects.pop_front();
            if self.peers[i].client.state() == ConnectionState::Connected {
                self.log(|| format!("{}: DISCONNECT", peer_name(i)));
                self.peers[i]
                    .client
                    .disconnect(now, Disconnect::new(ReasonCode::Success))
                    .map_err(|e| format!("disconnect: {e}"))?;
                self.drain_client(i)?;
            }
        }
        Ok(())
    }

    fn schedule_reconnect(&mut self, i: usize) {
        // The will client waits longer when its will is delayed, so that
        // it comes back sometimes before and sometimes after the delay.
        let backoff = if i == WILLER && self.p.will_delay > 0 {
            Backoff::new(600, 2_500)
        } else {
            Backoff::new(10, 400)
        };
        let p = &mut self.peers[i];
        let delay = backoff.delay(p.attempt, self.rng.next_u64() as u32);
        p.attempt += 1;
        p.reconnect_at = Some(self.now + delay.max(1));
    }

    fn reconnect(&mut self, i: usize) -> Result<(), String> {
        let now = self.now;
        self.peers[i].reconnect_at = None;
        self.peers[i].conns += 1;
        let k = self.peers[i].conns;
        self.outcome.connects += 1;
        if i == WILLER && k > 1 {
            // A new will for this connection: the client is rebuilt from
            // its exported session.
            let state = self.peers[i].client.export_session();
            let mut client = Client::new(self.p.options(i, Some(k)));
            client
                .import_session(now, state)
                .map_err(|e| format!("import_session: {e}"))?;
            self.peers[i].client = client;
        }
        let version = self.p.versions[i];
        let cut_at = (now < self.heal_at && self.p.cuts > 0 && self.rng.chance(self.p.cut_percent))
            .then(|| {
                self.p.cuts -= 1;
                now + self.rng.range(0, self.p.cut_window)
            });
        let conn = self.broker.connection_opened(now);
        self.log(|| {
            format!(
                "{}: connect #{k} as {conn:?}, cut at {cut_at:?}",
                peer_name(i)
            )
        });
        self.peers[i].link = Some(Link {
            conn,
            k,
            up: Pipe::default(),
            down: Pipe::default(),
            cut_at,
            client_closed: false,
            up_dec: Decoder::new(DecodeOptions::new(version)),
            out_dec: Decoder::new(DecodeOptions::new(version)),
            down_dec: Decoder::new(DecodeOptions::new(version)),
            accepted: false,
            disconnect_seen: false,
        });
        self.peers[i]
            .client
            .connect(now)
            .map_err(|e| format!("{}: connect refused: {e}", peer_name(i)))?;
        self.drain_client(i)
    }

    /// The link of peer `i` is gone (cut, or closed after DISCONNECT): the
    /// will bookkeeping.
    fn end_link(&mut self, i: usize) -> Result<(), String> {
        let Some(link) = self.peers[i].link.take() else {
            return Ok(());
        };
        self.link_ended(i, &link, false);
        Ok(())
    }

    /// The broker learnt that `link` of peer `i` closed; `ambiguous` when
    /// the broker itself closed it while half-open (session takeover or
    /// keep alive), where publishing the will or not are both defensible.
    fn link_ended(&mut self, i: usize, link: &Link, ambiguous: bool) {
        self.seq += 1;
        if link.disconnect_seen {
            self.outcome.normal_disconnects += 1;
        }
        if i == WILLER {
            let due = link.accepted && !link.disconnect_seen;
            self.will_ends.push(WillEnd {
                k: link.k,
                closed_at: self.now,
                due_at: due.then_some(self.seq),
                ambiguous,
            });
        }
    }

    /// Tells the broker a connection is closed (once).
    fn broker_closed(&mut self, conn: ConnectionId) -> Result<(), String> {
        if self.closed.insert(conn) {
            self.broker.connection_closed(conn, self.now);
        }
        self.drain_broker()
    }

    // ----- the broker side ---------------------------------------------------

    /// Decodes what the broker just received from peer `i`.
    fn broker_received(&mut self, i: usize, chunk: &[u8]) -> Result<(), String> {
        let Some(link) = self.peers[i].link.as_mut() else {
            return Ok(());
        };
        link.up_dec.feed(chunk);
        loop {
            let Some(link) = self.peers[i].link.as_mut() else {
                return Ok(());
            };
            let packet = match link.up_dec.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    return Err(format!(
                        "{}: client sent an invalid packet: {e}",
                        peer_name(i)
                    ))
                }
            };
            self.seq += 1;
            if self.trace.is_on() {
                let line = format!("broker <- {}: {packet:?} (seq {})", peer_name(i), self.seq);
                self.log(|| line);
            }
            match packet {
                Packet::Publish(p) => {
                    if p.payload.is_empty() {
                        // A clear of `r/x` (QoS 0 or 1: processed on every
                        // receipt).
                        if !p.retain {
                            return Err(format!("empty non-retained publish {p:?}"));
                        }
                        self.retained = None;
                    } else {
                        let m = payload_index(&p.payload)
                            .filter(|&m| m < self.msgs.len())
                            .ok_or_else(|| format!("unknown publish {p:?}"))?;
                        let first = self.msgs[m].first_at_broker.is_none();
                        if first {
                            self.msgs[m].first_at_broker = Some(self.seq);
                            if self.durable.is_some() {
                                self.undo.push(Undo::FirstReceipt(m));
                            }
                        } else if p.qos == QoS::ExactlyOnce {
                            self.outcome.qos2_duplicates_to_broker += 1;
                        }
                        if self.msgs[m].retain && (first || p.qos != QoS::ExactlyOnce) {
                            self.retained = Some(m);
                        }
                    }
                }
                Packet::Subscribe(s) => {
                    let snapshot = self.retained;
                    if let Some(plan) = self.peers[i].sub.as_mut() {
                        if plan.pid == Some(s.packet_id) {
                            plan.retained_at_receipt.push(snapshot);
                            if self.durable.is_some() {
                                self.undo.push(Undo::Subscribe(i));
                            }
                        }
                    }
                }
                Packet::Unsubscribe(u) => {
                    let seq = self.seq;
                    if let Some(plan) = self.peers[i].sub.as_mut() {
                        if plan.unsub_pid == Some(u.packet_id) {
                            if self.durable.is_some() {
                                self.undo.push(Undo::Unsubscribe {
                                    peer: i,
                                    seq: plan.unsub_seq,
                                    last_seq: plan.unsub_last_seq,
                                    receipts: plan.unsub_receipts,
                                });
                            }
                            plan.unsub_seq.get_or_insert(seq);
                            plan.unsub_last_seq = Some(seq);
                            plan.unsub_receipts += 1;
                        }
                    }
                }
                Packet::Disconnect(d) => {
                    if d.reason_code != ReasonCode::Success {
                        return Err(format!("{}: sent {d:?}", peer_name(i)));
                    }
                    if let Some(link) = self.peers[i].link.as_mut() {
                        link.disconnect_seen = true;
                    }
                }
                _ => {}
            }
        }
        // The broker's store agrees with the model.
        let stored = self
            .broker
            .retained()
            .get(RETAINED, self.now)
            .map(|r| r.publish().payload.clone());
        let model = self.retained.map(|m| Bytes::from(format!("m{m}")));
        if stored != model {
            return Err(format!(
                "retained on {RETAINED}: the broker has {stored:?}, the model {model:?}"
            ));
        }
        Ok(())
    }

    fn drain_broker(&mut self) -> Result<(), String> {
        loop {
            if self.store_step()? {
                return Ok(());
            }
            if let Some((conn, bytes)) = self.broker.poll_output() {
                let (i, z) = self.writer_of(conn)?;
                self.broker_wrote(i, z, &bytes)?;
                if z.is_some() {
                    // Lost on the broken link; checked all the same.
                    continue;
                }
                let now = self.now;
                if let Some(link) = self.peers[i].link.as_mut() {
                    if !link.client_closed {
                        link.down.write(
                            &mut self.rng,
                            self.p.max_chunk,
                            self.p.max_delay,
                            now,
                            &bytes,
                        );
                    }
                }
                continue;
            }
            if let Some(conn) = self.broker.poll_close() {
                if self.closed.contains(&conn) {
                    continue;
                }
                if let Some(z) = self.zombies.iter().position(|z| z.link.conn == conn) {
                    let zombie = self.zombies.remove(z);
                    self.outcome.half_open_closed_by_broker += 1;
                    self.log(|| {
                        format!(
                            "{}: half-open {conn:?} closed by the broker",
                            peer_name(zombie.peer)
                        )
                    });
                    self.closed.insert(conn);
                    self.broker.connection_closed(conn, self.now);
                    self.link_ended(zombie.peer, &zombie.link, true);
                    continue;
                }
                let Some(i) = self
                    .peers
                    .iter()
                    .position(|p| p.link.as_ref().is_some_and(|l| l.conn == conn))
                else {
                    return Err(format!("close of {conn:?}, which is not open"));
                };
                let link = self.peers[i].link.as_ref().ok_or("no link")?;
                if !link.disconnect_seen {
                    return Err(format!(
                        "the broker closed the connection of {} without a DISCONNECT from it",
                        peer_name(i)
                    ));
                }
                // The client closed first; only the broker had to learn it.
                self.closed.insert(conn);
                self.broker.connection_closed(conn, self.now);
                if self.peers[i].client.state() != ConnectionState::Disconnected {
                    return Err(format!("{} still connected after DISCONNECT", peer_name(i)));
                }
                self.end_link(i)?;
                continue;
            }
            if std::mem::take(&mut self.crash_after_output) {
                self.crash(CrashKind::AfterOutput)?;
            }
            return Ok(());
        }
    }

    /// The peer whose connection `conn` is: its live link, or the
    /// half-open one the broker still has (zombie `z`).
    fn writer_of(&self, conn: ConnectionId) -> Result<(usize, Option<usize>), String> {
        if let Some(z) = self.zombies.iter().position(|z| z.link.conn == conn) {
            return Ok((self.zombies[z].peer, Some(z)));
        }
        self.peers
            .iter()
            .position(|p| p.link.as_ref().is_some_and(|l| l.conn == conn))
            .map(|i| (i, None))
            .ok_or_else(|| format!("output for {conn:?}, which is not open"))
    }

    // ----- the durable store and crashes ---------------------------------------

    /// The driver's duty after an engine step, before its output is sent:
    /// the step's records go to the store. Returns whether the broker
    /// crashed (then the step's output is lost with it).
    fn store_step(&mut self) -> Result<bool, String> {
        let Some(d) = self.durable.as_mut() else {
            return Ok(false);
        };
        let crash_ok = self.now < self.heal_at && !self.crash_after_output;
        let crash = d.after_step(&mut self.broker, self.now, crash_ok)?;
        for note in std::mem::take(&mut d.notes) {
            self.trace.log(self.now, || note);
        }
        if crash != Some(CrashKind::Torn) {
            self.mark_durable();
        }
        match crash {
            None => Ok(false),
            Some(CrashKind::AfterOutput) => {
                self.crash_after_output = true;
                Ok(false)
            }
            Some(kind) => {
                self.crash(kind)?;
                Ok(true)
            }
        }
    }

    /// The store holds everything the broker did so far: nothing the model
    /// learnt can be lost any more.
    fn mark_durable(&mut self) {
        self.undo.clear();
        self.durable_retained = self.retained;
        self.durable_will_ends = self.will_ends.len();
    }

    /// A torn step is lost: the model forgets what the broker did in it.
    fn undo_step(&mut self) {
        for undo in std::mem::take(&mut self.undo).into_iter().rev() {
            match undo {
                Undo::FirstReceipt(m) => self.msgs[m].first_at_broker = None,
                Undo::Subscribe(i) => {
                    if let Some(plan) = self.peers[i].sub.as_mut() {
                        plan.retained_at_receipt.pop();
                    }
                }
                Undo::Unsubscribe {
                    peer,
                    seq,
                    last_seq,
                    receipts,
                } => {
                    if let Some(plan) = self.peers[peer].sub.as_mut() {
                        plan.unsub_seq = seq;
                        plan.unsub_last_seq = last_seq;
                        plan.unsub_receipts = receipts;
                    }
                }
            }
        }
        self.retained = self.durable_retained;
        // A connection whose end only the torn step recorded: its will
        // (or delayed will) may be lost.
        for end in &mut self.will_ends[self.durable_will_ends..] {
            end.ambiguous = true;
        }
    }

    /// The broker process dies and restarts from its store: every
    /// connection is cut, and a new engine is rebuilt from the store.
    fn crash(&mut self, kind: CrashKind) -> Result<(), String> {
        let now = self.now;
        self.outcome.crashes += 1;
        match kind {
            CrashKind::Torn => {
                self.outcome.torn_crashes += 1;
                self.undo_step();
            }
            CrashKind::BeforeOutput => {
                // What the step wrote never leaves, but it is durable: the
                // model notes it (a CONNACK ends the Will Delay Interval of
                // the client's last connection, a SUBACK makes the
                // subscription owed).
                self.outcome.unsent_crashes += 1;
                while let Some((conn, bytes)) = self.broker.poll_output() {
                    let (i, z) = self.writer_of(conn)?;
                    self.broker_wrote(i, z, &bytes)?;
                }
            }
            CrashKind::AfterOutput => {}
        }
        self.crash_after_output = false;
        self.log(|| format!("CRASH ({kind:?})"));
        let live = (
            self.broker.session_count(),
            self.broker.subscriptions().len(),
            self.broker.retained().len(),
        );
        self.dropped_before += self.broker.dropped_messages();
        // The connections die with the process: the clients see their
        // transports close; the will of a live connection is not durable
        // (published at most once, if at all).
        for zombie in std::mem::take(&mut self.zombies) {
            if !self.closed.contains(&zombie.link.conn) {
                self.link_ended(zombie.peer, &zombie.link, true);
            }
        }
        for i in 0..self.peers.len() {
            let Some(link) = self.peers[i].link.take() else {
                continue;
            };
            self.link_ended(i, &link, true);
            if !link.client_closed {
                self.peers[i].client.handle_transport_closed(now);
                self.drain_client(i)?;
                self.schedule_reconnect(i);
            }
        }
        self.closed.clear();
        let d = self.durable.as_mut().ok_or("a crash without a store")?;
        let (broker, report) = d.restart(now)?;
        self.broker = broker;
        self.log(|| format!("restored: {report:?}"));
        self.outcome.restored_sessions += report.sessions as u64;
        self.outcome.restored_messages += report.messages as u64;
        self.outcome.restored_subscriptions += report.subscriptions as u64;
        self.outcome.discarded_bytes += report.discarded_bytes as u64;
        self.mark_durable();
        self.check_restored(kind, live)
    }

    /// What a restored engine must hold: what the live one had (unless the
    /// last step was torn), the model's retained message, and every
    /// subscription acknowledged and not unsubscribed.
    fn check_restored(&self, kind: CrashKind, live: (usize, usize, usize)) -> Result<(), String> {
        let b = &self.broker;
        let restored = (
            b.session_count(),
            b.subscriptions().len(),
            b.retained().len(),
        );
        if kind != CrashKind::Torn && restored != live {
            return Err(format!(
                "(sessions, subscriptions, retained) before the crash {live:?}, restored {restored:?}"
            ));
        }
        let stored = b
            .retained()
            .get(RETAINED, self.now)
            .map(|r| r.publish().payload.clone());
        let model = self.retained.map(|m| Bytes::from(format!("m{m}")));
        if stored != model {
            return Err(format!(
                "retained on {RETAINED} after the restore: {stored:?}, the model {model:?}"
            ));
        }
        let d = self.durable.as_ref().ok_or("no store")?;
        for (i, peer) in self.peers.iter().enumerate() {
            let Some(plan) = &peer.sub else {
                continue;
            };
            if plan.acked_seq.is_none() || plan.unsub_seq.is_some() {
                continue;
            }
            let name = peer_name(i);
            let key = d
                .session_of(&name)
                .ok_or_else(|| format!("{name}: subscribed, but no session in the store"))?;
            for (filter, qos) in &plan.filters {
                let sub = b
                    .subscriptions()
                    .get(ClientKey::new(key), filter)
                    .ok_or_else(|| {
                        format!("{name}: subscription to {filter} lost in the restore")
                    })?;
                if sub.options.qos != *qos {
                    return Err(format!(
                        "{name}: subscription to {filter} restored at {:?}, granted {qos:?}",
                        sub.options.qos
                    ));
                }
            }
        }
        Ok(())
    }

    /// Decodes what the broker wrote to peer `i` (on its live link, or on
    /// a half-open one the broker still has: zombie `z`).
    fn broker_wrote(&mut self, i: usize, z: Option<usize>, bytes: &[u8]) -> Result<(), String> {
        let link = match z {
            Some(z) => &mut self.zombies[z].link,
            None => match self.peers[i].link.as_mut() {
                Some(l) => l,
                None => return Ok(()),
            },
        };
        link.out_dec.feed(bytes);
        let mut packets = Vec::new();
        loop {
            match link.out_dec.next_packet() {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => break,
                Err(e) => {
                    return Err(format!(
                        "the broker wrote an invalid packet to {}: {e}",
                        peer_name(i)
                    ))
                }
            }
        }
        let k = link.k;
        for packet in packets {
            self.seq += 1;
            match packet {
                Packet::ConnAck(c) => {
                    if c.reason_code != ReasonCode::Success || z.is_some() {
                        return Err(format!("{}: {c:?} (half-open: {z:?})", peer_name(i)));
                    }
                    if let Some(link) = self.peers[i].link.as_mut() {
                        link.accepted = true;
                    }
                    if i == WILLER {
                        self.will_accepts.push((k, self.now));
                    }
                }
                Packet::SubAck(s) => {
                    let seq = self.seq;
                    if let Some(plan) = self.peers[i].sub.as_mut() {
                        if plan.pid == Some(s.packet_id) && plan.acked_seq.is_none() {
                            plan.acked_seq = Some(seq);
                        }
                    }
                }
                // On a half-open connection the broker ends: the client
                // took the session over, or was silent past its keep alive.
                Packet::Disconnect(d)
                    if z.is_some()
                        && matches!(
                            d.reason_code,
                            ReasonCode::SessionTakenOver | ReasonCode::KeepAliveTimeout
                        ) => {}
                Packet::Disconnect(d) => {
                    return Err(format!("the broker sent {} {d:?}", peer_name(i)));
                }
                Packet::Publish(p) if !p.retain => {
                    if let Some(m) = payload_index(&p.payload) {
                        let seq = self.seq;
                        self.peers[i].written.entry(m).or_insert(seq);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    // ----- the client side ---------------------------------------------------

    /// Decodes what peer `i` is about to receive.
    fn client_received(&mut self, i: usize, chunk: &[u8]) -> Result<(), String> {
        let Some(link) = self.peers[i].link.as_mut() else {
            return Ok(());
        };
        link.down_dec.feed(chunk);
        let mut qos2 = Vec::new();
        while let Some(packet) = link
            .down_dec
            .next_packet()
            .map_err(|e| format!("{} received an invalid packet: {e}", peer_name(i)))?
        {
            if let Packet::Publish(p) = packet {
                if p.qos == QoS::ExactlyOnce && !p.retain {
                    qos2.extend(payload_index(&p.payload));
                }
            }
        }
        for m in qos2 {
            *self.peers[i].qos2_wire.entry(m).or_default() += 1;
        }
        Ok(())
    }

    fn drain_client(&mut self, i: usize) -> Result<(), String> {
        loop {
            let out = self.peers[i].client.take_transmit();
            if !out.is_empty() {
                let now = self.now;
                if let Some(link) = self.peers[i].link.as_mut() {
                    if !link.client_closed {
                        link.up
                            .write(&mut self.rng, self.p.max_chunk, self.p.max_delay, now, &out);
                    }
                }
                continue;
            }
            let Some(event) = self.peers[i].client.poll_event() else {
                return Ok(());
            };
            self.on_event(i, event)?;
        }
    }

    fn on_event(&mut self, i: usize, event: Event) -> Result<(), String> {
        self.log(|| format!("{} event {event:?}", peer_name(i)));
        let name = peer_name(i);
        match event {
            Event::Connected(c) => {
                let p = &mut self.peers[i];
                p.attempt = 0;
                if c.session_present {
                    self.outcome.resumes += 1;
                } else if p.connected_before {
                    return Err(format!("{name}: Session Present 0 on a resume"));
                }
                p.connected_before = true;
            }
            Event::Disconnected(DisconnectReason::TransportClosed) => {}
            Event::Disconnected(DisconnectReason::Local) => {
                // The driver sends what is left, then closes.
                let out = self.peers[i].client.take_transmit();
                let now = self.now;
                if let Some(link) = self.peers[i].link.as_mut() {
                    link.up
                        .write(&mut self.rng, self.p.max_chunk, self.p.max_delay, now, &out);
                    link.down.clear();
                    link.client_closed = true;
                    let closed = link.up.last_due().max(now);
                    self.schedule_reconnect(i);
                    let p = &mut self.peers[i];
                    p.reconnect_at = p.reconnect_at.map(|t| t.max(closed + 1));
                }
            }
            Event::Disconnected(other) => return Err(format!("{name}: disconnected: {other:?}")),
            Event::Message(m) => self.on_message(i, m.publish)?,
            Event::PublishCompleted {
                id, reason_code, ..
            } => {
                let m = self.peers[i]
                    .outstanding
                    .remove(&id)
                    .ok_or_else(|| format!("{name}: completion of unknown {id:?}"))?;
                let ok = matches!(
                    reason_code,
                    ReasonCode::Success | ReasonCode::NoMatchingSubscribers
                ) || (reason_code == ReasonCode::PacketIdentifierNotFound
                    && self.msgs[m].qos == QoS::ExactlyOnce);
                if !ok {
                    return Err(format!("{name}: m{m} completed with {reason_code:?}"));
                }
                if self.msgs[m].first_at_broker.is_none() && !self.msgs[m].clear {
                    return Err(format!("{name}: m{m} completed before the broker had it"));
                }
                if self.msgs[m].state != MState::Published {
                    return Err(format!(
                        "{name}: m{m} completed in state {:?}",
                        self.msgs[m].state
                    ));
                }
                self.msgs[m].state = MState::Completed;
            }
            Event::Subscribed {
                packet_id,
                reason_codes,
                ..
            } => {
                let plan = self.peers[i]
                    .sub
                    .as_mut()
                    .filter(|s| s.pid == Some(packet_id) && !s.client_acked)
                    .ok_or_else(|| format!("{name}: unexpected SUBACK {packet_id}"))?;
                let want: Vec<ReasonCode> = plan
                    .filters
                    .iter()
                    .map(|(_, q)| match q {
                        QoS::AtMostOnce => ReasonCode::Success,
                        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
                    })
                    .collect();
                if reason_codes != want {
                    return Err(format!("{name}: SUBACK {reason_codes:?}, wanted {want:?}"));
                }
                plan.client_acked = true;
            }
            Event::Unsubscribed {
                packet_id,
                reason_codes,
                ..
            } => {
                let plan = self.peers[i]
                    .sub
                    .as_mut()
                    .filter(|s| s.unsub_pid == Some(packet_id) && !s.unsub_acked)
                    .ok_or_else(|| format!("{name}: unexpected UNSUBACK {packet_id}"))?;
                // 0x11 answers a copy sent again after the first was
                // processed (its UNSUBACK lost).
                let again = plan.unsub_receipts > 1;
                if reason_codes.iter().any(|c| {
                    *c != ReasonCode::Success && !(again && *c == ReasonCode::NoSubscriptionExisted)
                }) {
                    return Err(format!("{name}: UNSUBACK {reason_codes:?}"));
                }
                plan.unsub_acked = true;
                self.outcome.unsubscribes += 1;
            }
            Event::PublishDropped { .. } | Event::PublishRequeued { .. } => {
                return Err(format!("{name}: {event:?}"));
            }
            _ => {}
        }
        Ok(())
    }

    fn on_message(&mut self, i: usize, p: Publish) -> Result<(), String> {
        let name = peer_name(i);
        if let Some(k) = will_index(&p.payload) {
            if p.topic != WILL_TOPIC || p.qos != self.p.will_qos || i != OBSERVER {
                return Err(format!("{name}: odd will {p:?}"));
            }
            self.outcome.wills_received += 1;
            *self.wills_got.entry((i, k)).or_default() += 1;
            return Ok(());
        }
        if p.payload.is_empty() {
            // A clear of `r/x`, routed like any message.
            if p.topic != RETAINED || p.retain {
                return Err(format!("{name}: odd empty message {p:?}"));
            }
            return Ok(());
        }
        let m = payload_index(&p.payload)
            .filter(|&m| m < self.msgs.len())
            .ok_or_else(|| format!("{name}: unknown message {p:?}"))?;
        let msg = &self.msgs[m];
        if p.topic != msg.topic {
            return Err(format!(
                "{name}: m{m} on {} (published on {})",
                p.topic, msg.topic
            ));
        }
        let granted = self.peers[i]
            .sub
            .as_ref()
            .and_then(|s| {
                s.filters
                    .iter()
                    .find(|(f, _)| topic_matches(f, msg.topic))
                    .map(|(_, q)| *q)
            })
            .ok_or_else(|| format!("{name}: m{m} without a matching subscription"))?;
        let qos = msg.qos.min(granted);
        if p.qos != qos {
            return Err(format!(
                "{name}: m{m} (QoS {:?}) at {:?} for a QoS {granted:?} subscription",
                msg.qos, p.qos
            ));
        }
        if p.retain {
            self.outcome.retained_deliveries += 1;
            let plan = self.peers[i].sub.as_ref().ok_or("no plan")?;
            if !plan.retained_at_receipt.contains(&Some(m)) {
                return Err(format!(
                    "{name}: retained m{m}, but stored at its SUBSCRIBEs: {:?}",
                    plan.retained_at_receipt
                ));
            }
            self.peers[i].retained_got.push(m);
            return Ok(());
        }
        self.outcome.deliveries += 1;
        let before = self.peers[i].got.iter().filter(|(x, _)| *x == m).count();
        if before > 0 {
            match qos {
                QoS::AtLeastOnce => self.outcome.qos1_duplicates += 1,
                _ => return Err(format!("{name}: m{m} delivered twice at {qos:?}")),
            }
        }
        self.peers[i].got.push((m, qos));
        Ok(())
    }

    // ----- the end -------------------------------------------------------------

    fn final_checks(&mut self) -> Result<(), String> {
        let dropped = self.dropped_before + self.broker.dropped_messages();
        if dropped != 0 {
            return Err(format!("the broker dropped {dropped} messages"));
        }
        for (m, msg) in self.msgs.iter().enumerate() {
            if msg.qos != QoS::AtMostOnce && msg.state != MState::Completed {
                return Err(format!("m{m} not completed: {msg:?}"));
            }
        }
        for (i, peer) in self.peers.iter().enumerate() {
            let name = peer_name(i);
            let Some(plan) = &peer.sub else {
                continue;
            };
            let acked = plan
                .acked_seq
                .ok_or_else(|| format!("{name}: no SUBACK written"))?;
            // After the broker processed the UNSUBSCRIBE it routes nothing
            // more to these filters [MQTT-3.10.4-2].
            if let Some(u) = plan.unsub_last_seq {
                for (m, _) in &peer.got {
                    if self.msgs[*m].first_at_broker.is_none_or(|s| s > u) {
                        return Err(format!(
                            "{name}: m{m} (first received by the broker after the UNSUBSCRIBE) delivered"
                        ));
                    }
                }
            }
            // Owed messages, in order of first arrival.
            let mut first_pos: BTreeMap<usize, usize> = BTreeMap::new();
            for (pos, (m, _)) in peer.got.iter().enumerate() {
                first_pos.entry(*m).or_insert(pos);
            }
            let mut owed: Vec<(usize, QoS)> = Vec::new();
            for (m, msg) in self.msgs.iter().enumerate() {
                if msg.qos == QoS::AtMostOnce
                    || msg.clear
                    || msg.state != MState::Completed
                    || msg.first_at_broker.is_none_or(|s| s <= acked)
                    || plan
                        .unsub_seq
                        .is_some_and(|u| peer.written.get(&m).is_none_or(|w| *w >= u))
                {
                    continue;
                }
                let Some(&(_, g)) = plan
                    .filters
                    .iter()
                    .find(|(f, _)| topic_matches(f, msg.topic))
                else {
                    continue;
                };
                let qos = msg.qos.min(g);
                let n = peer.got.iter().filter(|(x, _)| *x == m).count();
                if n == 0 {
                    return Err(format!(
                        "{name}: owed m{m} ({msg:?}, subscription QoS {g:?}, acked at seq {acked}) never arrived"
                    ));
                }
                if qos == QoS::ExactlyOnce && n != 1 {
                    return Err(format!("{name}: QoS 2 m{m} arrived {n} times"));
                }
                self.outcome.owed += 1;
                owed.push((m, qos));
            }
            for (a, qa) in &owed {
                for (b, qb) in &owed {
                    let (ma, mb) = (&self.msgs[*a], &self.msgs[*b]);
                    if a < b
                        && qa == qb
                        && ma.publisher == mb.publisher
                        && ma.topic == mb.topic
                        && first_pos[a] > first_pos[b]
                    {
                        return Err(format!(
                            "{name}: m{b} arrived before m{a} (same publisher {}, topic {}, {qa:?}) [MQTT-4.6.0-6]",
                            peer_name(ma.publisher),
                            ma.topic
                        ));
                    }
                }
            }
            // The retained message stored when the first SUBSCRIBE was
            // processed, at QoS >= 1 both ways, is owed.
            if let Some(&Some(m)) = plan.retained_at_receipt.first() {
                let g = plan
                    .filters
                    .iter()
                    .find(|(f, _)| *f == RETAINED)
                    .map(|(_, q)| *q);
                if g.is_some()
                    && self.msgs[m].qos != QoS::AtMostOnce
                    && !peer.retained_got.contains(&m)
                {
                    return Err(format!(
                        "{name}: retained m{m} stored at subscription never arrived"
                    ));
                }
            }
        }
        // Wills.
        let obs_acked = self.peers[OBSERVER]
            .sub
            .as_ref()
            .and_then(|s| s.acked_seq)
            .ok_or("observer never subscribed")?;
        for end in &self.will_ends {
            let got = self.wills_got.get(&(OBSERVER, end.k)).copied().unwrap_or(0);
            // Whether the broker had to publish it: `None` when the next
            // connection came exactly at the end of the Will Delay
            // Interval (either order is right).
            let fires = match end.due_at {
                None => Some(false),
                Some(_) if end.ambiguous => None,
                Some(_) if self.p.will_delay == 0 => Some(true),
                Some(_) => {
                    let deadline = end.closed_at + u64::from(self.p.will_delay) * 1_000;
                    let next = self
                        .will_accepts
                        .iter()
                        .find(|(k, _)| *k > end.k)
                        .map(|(_, t)| *t);
                    match next {
                        Some(t) if t < deadline => Some(false),
                        Some(t) if t == deadline => None,
                        _ => Some(true),
                    }
                }
            };
            match (fires, end.due_at) {
                (Some(false), due) => {
                    if due.is_some() {
                        self.outcome.wills_cancelled += 1;
                    }
                    if got > 0 {
                        return Err(format!(
                            "will of connection {} published although it ended with DISCONNECT, \
                             was never accepted, or the client came back within the Will Delay \
                             Interval [MQTT-3.1.2-10] [MQTT-3.1.3-9]",
                            end.k
                        ));
                    }
                }
                (Some(true), Some(at)) if at > obs_acked => {
                    self.outcome.wills_due += 1;
                    let ok = match self.p.will_qos {
                        QoS::ExactlyOnce => got == 1,
                        _ => got >= 1,
                    };
                    if !ok {
                        return Err(format!(
                            "will of connection {} (ended abruptly) received {got} times",
                            end.k
                        ));
                    }
                }
                _ => {
                    if self.p.will_qos == QoS::ExactlyOnce && got > 1 {
                        return Err(format!("will {} received {got} times", end.k));
                    }
                }
            }
        }
        let known: BTreeSet<u32> = self.will_ends.iter().map(|e| e.k).collect();
        for &(_, k) in self.wills_got.keys() {
            if !known.contains(&k) {
                return Err(format!("will of connection {k}, which has not ended"));
            }
        }
        for peer in &self.peers {
            for (m, n) in &peer.qos2_wire {
                let delivered = peer.got.iter().filter(|(x, _)| x == m).count() as u64;
                self.outcome.qos2_duplicates_to_clients += n.saturating_sub(delivered);
            }
        }
        Ok(())
    }

    /// A new client, over a perfect link, subscribes to `r/x` and must
    /// receive exactly the retained message of the model.
    fn final_retained_check(&mut self) -> Result<(), String> {
        let now = self.now;
        let version = if self.rng.chance(50) {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        };
        let mut client =
            Client::new(ClientOptions::new(version, "late").map_err(|e| e.to_string())?);
        let conn = self.broker.connection_opened(now);
        client.connect(now).map_err(|e| e.to_string())?;
        client
            .subscribe(
                now,
                Subscribe::single(0, RETAINED, QoS::AtLeastOnce).unwrap(),
            )
            .map_err(|e| e.to_string())?;
        let mut events = Vec::new();
        for _ in 0..100 {
            let out = client.take_transmit();
            let mut moved = !out.is_empty();
            self.broker.handle_input(conn, now, &out);
            if let Some(d) = self.durable.as_mut() {
                d.after_step(&mut self.broker, now, false)?;
            }
            while let Some((c, bytes)) = self.broker.poll_output() {
                if c != conn {
                    return Err(format!("output for {c:?} while settled"));
                }
                moved = true;
                client.handle_input(now, &bytes);
            }
            while let Some(e) = client.poll_event() {
                moved = true;
                events.push(e);
            }
            if !moved {
                break;
            }
        }
        let subscribed = events.iter().any(|e| matches!(e, Event::Subscribed { .. }));
        let got: Vec<Publish> = events
            .into_iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.publish),
                _ => None,
            })
            .collect();
        let want = self.retained.map(|m| Bytes::from(format!("m{m}")));
        let ok = subscribed
            && match &want {
                None => got.is_empty(),
                Some(w) => got.len() == 1 && got[0].payload == *w && got[0].retain,
            };
        if !ok {
            return Err(format!(
                "a new subscriber to {RETAINED} got {got:?} (subscribed: {subscribed}), wanted {want:?}"
            ));
        }
        if want.is_some() {
            self.outcome.retained_final_present += 1;
        }
        Ok(())
    }
}
