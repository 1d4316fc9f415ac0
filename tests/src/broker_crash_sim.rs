//! The simulation of [`broker_sim`](crate::broker_sim) with a durable
//! broker that crashes: the engine runs with
//! [`BrokerOptions::with_persistence`] and an in-memory store (a `Vec<u8>`
//! that starts with [`STORE_HEADER`]), and is thrown away at random steps
//! and rebuilt from what the store holds.
//!
//! [`run`] plays one seed (the same scenario as `broker_sim`'s seed: the
//! crash plan is drawn from a generator of its own) and returns what
//! happened or, when a property broke, why.
//!
//! # The driver
//!
//! It follows the rule of [`mqtt_core::broker::persist`] in `sync` mode:
//! after each engine step (input, a closed connection, time), it appends
//! [`Broker::poll_store`] to the store, and only then hands what
//! [`Broker::poll_output`] gives to the links, so every acknowledgement
//! the clients receive follows the records that make it true. Now and
//! then it compacts: the store is replaced by [`Broker::snapshot`] (the
//! snapshot is checked on the way: restored into a scratch engine, it has
//! the sessions, subscriptions, retained messages and queued messages that
//! a replay of the log has, and as many as the live engine).
//!
//! # Crashes
//!
//! One to four crash times are drawn in the part of the run where links
//! are cut; the crash hits the first engine step at or after each that
//! has a batch to store, in one of three ways:
//!
//! * **after output**: the batch was made durable and what the step wrote
//!   went out on the links (lost in them, as the links are cut);
//! * **before output**: the batch was made durable, nothing the step wrote
//!   went out (an acknowledgement whose record is durable never reached
//!   the client, which sends its packet again);
//! * **torn**: only a prefix of the batch (0 bytes to all but one) reached
//!   the store, and nothing the step wrote went out: the step is lost,
//!   and the restore must discard the torn batch as one.
//!
//! The process dies: the [`Broker`] value is dropped, every link is cut
//! (each client sees its transport close; a half-open connection dies
//! too), and a new [`Broker`] with the same options is rebuilt with
//! [`Broker::restore`] at the same virtual time (the restart takes no
//! time; the clients come back after their reconnect delay, with their
//! sessions in their memory: they do not crash). The driver then
//! truncates the store to [`RestoreReport::valid_len`] or, at random,
//! replaces it with a snapshot, and the run goes on.
//!
//! # Properties
//!
//! Every property of [`broker_sim`](crate::broker_sim) still holds, with
//! what a crash takes away accounted for: after a torn crash the model
//! forgets what the lost step did (a first receipt of a PUBLISH, the
//! retained message it set or cleared, the receipt of a SUBSCRIBE or
//! UNSUBSCRIBE), and the will of a connection the crash ended, or whose
//! end the torn step recorded, may be published at most once (a crash
//! is not a network failure the broker saw: the will of a live connection
//! is not durable). So, across crashes:
//!
//! * every QoS 1 message whose publisher got its PUBACK reaches every
//!   subscriber subscribed when the broker first received it at least
//!   once, every QoS 2 message whose publisher completed it exactly once
//!   (our client's application never sees a duplicate), in order;
//! * every resume after a restart has Session Present 1, and no
//!   subscription is lost: right after each restore, every subscription
//!   the broker had acknowledged (its SUBACK written) and whose
//!   UNSUBSCRIBE it had not received is in the restored engine, with its
//!   QoS, under the session the store names; clients never subscribe
//!   again once they have their SUBACK;
//! * the retained message on `r/x` after a restore is the model's (the
//!   last one the broker processed in a durable step), and at the end a
//!   new subscriber gets exactly the model's;
//! * after a crash that tore nothing, the restored engine has as many
//!   sessions, subscriptions and retained messages as the live one had;
//! * [`Broker::restore`] applies exactly the whole batches: its
//!   [`RestoreReport::valid_len`] is the length of the store at its last
//!   whole batch, [`RestoreReport::discarded_bytes`] the torn bytes, and
//!   it reports damage or discarded records exactly when bytes were torn;
//! * no protocol violations, no livelock (as in `broker_sim`).

use std::collections::VecDeque;

use mqtt_core::broker::persist::{Frames, Record, RestoreReport, STORE_HEADER};
use mqtt_core::broker::{Broker, BrokerOptions};
use mqtt_core::time::Instant;

use crate::sim::Rng;

pub use crate::broker_sim::Outcome;

/// Runs one seed with crashes; `trace` collects a line per event of
/// interest (slow; for replaying a failing seed).
pub fn run(seed: u64, trace: bool) -> Result<Outcome, String> {
    crate::broker_sim::run_with(seed, trace, true)
}

/// How the broker dies at a crash point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrashKind {
    /// After the step's batch was made durable and its output sent.
    AfterOutput,
    /// After the batch was made durable, before its output was sent.
    BeforeOutput,
    /// While the batch was written: only a prefix reached the store, and
    /// no output was sent.
    Torn,
}

/// The durable store of a broker that crashes, and the crash plan.
#[derive(Debug)]
pub(crate) struct Durable {
    options: BrokerOptions,
    store: Vec<u8>,
    /// The store's length at its last whole batch.
    durable_len: usize,
    /// Bytes of a torn batch at the store's end.
    torn: usize,
    /// When the next crashes are due (each at the first step with a batch
    /// at or after it).
    crash_at: VecDeque<Instant>,
    /// Chance of a compaction at each batch, in percent.
    compact_percent: u64,
    rng: Rng,
    /// Compactions made (snapshots written over the store).
    pub(crate) compactions: u64,
    /// The largest the store was, in bytes.
    pub(crate) max_len: usize,
    /// Whether to describe what goes to the store (in `notes`).
    trace: bool,
    /// Lines for the simulation's trace, when `trace` is on.
    pub(crate) notes: Vec<String>,
}

impl Durable {
    /// A store for a broker with `options` (persistence is turned on), and
    /// a crash plan drawn from `seed` (its own generator) for crashes
    /// before `until`.
    pub(crate) fn draw(seed: u64, options: BrokerOptions, until: Instant, trace: bool) -> Durable {
        let mut rng = Rng::new(seed ^ 0xC4A5_0000_D15C);
        let mut times: Vec<Instant> = (0..rng.range(1, 4))
            .map(|_| rng.range(0, until.saturating_sub(1)))
            .collect();
        times.sort_unstable();
        let compact_percent = [0, 1, 3, 10][rng.range(0, 3) as usize];
        Durable {
            options: options.with_persistence(true),
            store: STORE_HEADER.to_vec(),
            durable_len: STORE_HEADER.len(),
            torn: 0,
            crash_at: times.into(),
            compact_percent,
            rng,
            compactions: 0,
            max_len: STORE_HEADER.len(),
            trace,
            notes: Vec::new(),
        }
    }

    /// The options every incarnation of the broker runs with.
    pub(crate) fn options(&self) -> BrokerOptions {
        self.options.clone()
    }

    /// The driver's duty after an engine step, before any output is sent:
    /// the step's batch goes to the store (or a snapshot replaces the
    /// store). Returns how the broker crashes at this step, if it does;
    /// `crash_ok` is false where no crash may happen.
    pub(crate) fn after_step(
        &mut self,
        broker: &mut Broker,
        now: Instant,
        crash_ok: bool,
    ) -> Result<Option<CrashKind>, String> {
        let Some(batch) = broker.poll_store(now) else {
            return Ok(None);
        };
        if batch.is_empty() {
            return Err("poll_store gave an empty batch".into());
        }
        if self.trace {
            let records: Vec<String> = Frames::new(&batch, 0)
                .map(|r| match r {
                    Ok((_, record)) => format!("{record:?}"),
                    Err(e) => format!("{e:?}"),
                })
                .collect();
            self.notes.push(format!(
                "store <- {} bytes: {}",
                batch.len(),
                records.join(", ")
            ));
        }
        if crash_ok && self.crash_at.front().is_some_and(|&t| t <= now) {
            self.crash_at.pop_front();
            let kind = match self.rng.range(0, 2) {
                0 => CrashKind::AfterOutput,
                1 => CrashKind::BeforeOutput,
                _ => CrashKind::Torn,
            };
            if kind == CrashKind::Torn {
                let cut = self.rng.range(0, batch.len() as u64 - 1) as usize;
                if self.trace {
                    self.notes.push(format!("torn after {cut} bytes"));
                }
                self.store.extend_from_slice(&batch[..cut]);
                self.torn = cut;
            } else {
                self.store.extend_from_slice(&batch);
                self.durable_len = self.store.len();
            }
            self.max_len = self.max_len.max(self.store.len());
            return Ok(Some(kind));
        }
        if self.rng.chance(self.compact_percent) {
            let snapshot = broker.snapshot(now);
            let mut log = self.store.clone();
            log.extend_from_slice(&batch);
            self.check_snapshot(broker, &log, &snapshot, now)?;
            self.store = snapshot;
            self.compactions += 1;
            if self.trace {
                self.notes
                    .push(format!("compacted: {} bytes", self.store.len()));
            }
        } else {
            self.store.extend_from_slice(&batch);
        }
        self.durable_len = self.store.len();
        self.max_len = self.max_len.max(self.store.len());
        Ok(None)
    }

    /// A snapshot restores to what a replay of the log restores to, and
    /// holds what the live engine holds.
    fn check_snapshot(
        &self,
        live: &Broker,
        log: &[u8],
        snapshot: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        if !snapshot.starts_with(&STORE_HEADER) {
            return Err("a snapshot does not start with the store header".into());
        }
        let mut from_log = Broker::new(self.options());
        let r = from_log
            .restore(log, now)
            .map_err(|e| format!("restore of the log before a compaction: {e}"))?;
        if r.valid_len != log.len() {
            return Err(format!(
                "the log before a compaction restores partly: {r:?}"
            ));
        }
        let mut from_snapshot = Broker::new(self.options());
        let r = from_snapshot
            .restore(snapshot, now)
            .map_err(|e| format!("restore of a snapshot: {e}"))?;
        if r.valid_len != snapshot.len() || r.damage.is_some() {
            return Err(format!("a snapshot restores partly: {r:?}"));
        }
        let counts = |b: &Broker| {
            (
                b.session_count(),
                b.subscriptions().len(),
                b.retained().len(),
            )
        };
        let (l, a, b) = (counts(live), counts(&from_log), counts(&from_snapshot));
        if a != b || a != l {
            return Err(format!(
                "(sessions, subscriptions, retained): live {l:?}, restored from the log {a:?}, \
                 from a snapshot {b:?}"
            ));
        }
        for id in client_ids(log) {
            let (qa, qb) = (from_log.queued_for(&id), from_snapshot.queued_for(&id));
            if qa != qb {
                return Err(format!(
                    "messages of {id}: {qa} restored from the log, {qb} from a snapshot"
                ));
            }
        }
        Ok(())
    }

    /// The number of the session of `client_id` in the store, if it has
    /// one.
    pub(crate) fn session_of(&self, client_id: &str) -> Option<u32> {
        sessions(&self.store[..self.durable_len])
            .into_iter()
            .find(|(_, id)| &**id == client_id)
            .map(|(s, _)| s)
    }

    /// The crash: a new broker rebuilt from the store at `now`. Checks
    /// that the restore applied exactly the whole batches, then truncates
    /// the store to them or, at random, compacts it.
    pub(crate) fn restart(&mut self, now: Instant) -> Result<(Broker, RestoreReport), String> {
        check_packet_ids(&self.store[..self.durable_len])?;
        let mut broker = Broker::new(self.options());
        let report = broker
            .restore(&self.store, now)
            .map_err(|e| format!("restore failed: {e}"))?;
        // A cut inside a frame is damage; a cut between the frames of the
        // batch leaves whole records without their Commit.
        let torn_seen = report.damage.is_some() || report.discarded_records > 0;
        if report.valid_len != self.durable_len
            || report.discarded_bytes != self.torn
            || torn_seen != (self.torn > 0)
        {
            return Err(format!(
                "restore of a store of {} bytes, whole batches up to {}, {} torn bytes after: {report:?}",
                self.store.len(),
                self.durable_len,
                self.torn
            ));
        }
        self.store.truncate(report.valid_len);
        self.torn = 0;
        if self.rng.chance(30) {
            let snapshot = broker.snapshot(now);
            self.check_snapshot(&broker, &self.store, &snapshot, now)?;
            self.store = snapshot;
            self.compactions += 1;
        }
        self.durable_len = self.store.len();
        Ok((broker, report))
    }
}

/// The sessions the whole batches of a store hold: (number, Client
/// Identifier).
fn sessions(store: &[u8]) -> Vec<(u32, Box<str>)> {
    let mut live: Vec<(u32, Box<str>)> = Vec::new();
    let mut batch: Vec<Record> = Vec::new();
    for item in Frames::new(store, STORE_HEADER.len()) {
        let Ok((_, record)) = item else {
            break;
        };
        if !matches!(record, Record::Commit { .. }) {
            batch.push(record);
            continue;
        }
        for r in batch.drain(..) {
            match r {
                Record::Session {
                    session, client_id, ..
                } => {
                    live.retain(|(s, _)| *s != session);
                    live.push((session, client_id));
                }
                Record::SessionGone { session } => live.retain(|(s, _)| *s != session),
                _ => {}
            }
        }
    }
    live
}

/// The Client Identifiers of the sessions a store holds.
fn client_ids(store: &[u8]) -> Vec<String> {
    let mut ids: Vec<String> = sessions(store)
        .into_iter()
        .map(|(_, id)| id.to_string())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// No two messages a store leaves in flight to one session share a
/// packet identifier (the session could not tell their acknowledgements
/// apart).
fn check_packet_ids(store: &[u8]) -> Result<(), String> {
    use std::collections::BTreeMap;
    // (session, seq) -> packet identifier (0: queued).
    let mut live: BTreeMap<(u32, u64), u16> = BTreeMap::new();
    let mut batch: Vec<Record> = Vec::new();
    for item in Frames::new(store, STORE_HEADER.len()) {
        let Ok((_, record)) = item else {
            break;
        };
        if !matches!(record, Record::Commit { .. }) {
            batch.push(record);
            continue;
        }
        for r in batch.drain(..) {
            match r {
                Record::Message {
                    session,
                    seq,
                    packet_id,
                    ..
                } => {
                    live.insert((session, seq), packet_id);
                }
                Record::MessageState {
                    session,
                    seq,
                    packet_id,
                    ..
                } => {
                    if let Some(p) = live.get_mut(&(session, seq)) {
                        *p = packet_id;
                    }
                }
                Record::MessageGone { session, seq } => {
                    live.remove(&(session, seq));
                }
                Record::SessionGone { session } => live.retain(|(s, _), _| *s != session),
                _ => {}
            }
        }
    }
    let mut seen: BTreeMap<(u32, u16), u64> = BTreeMap::new();
    for (&(session, seq), &packet_id) in &live {
        if packet_id == 0 {
            continue;
        }
        if let Some(other) = seen.insert((session, packet_id), seq) {
            return Err(format!(
                "the store has messages {other} and {seq} of session {session} both in flight \
                 with packet identifier {packet_id}"
            ));
        }
    }
    Ok(())
}
