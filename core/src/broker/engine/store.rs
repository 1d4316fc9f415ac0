//! The engine's side of durability (see [`persist`](crate::broker::persist)):
//! the records it hands the driver, the snapshot that compacts a store,
//! and the rebuild from a store.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use crate::codec::{Publish, QoS};
use crate::server::{InflightDelivery, ServerSession};
use crate::time::Instant;

use super::super::persist::{
    Damage, Frames, Record, RestoreError, RestoreReport, STORE_FORMAT_VERSION, STORE_HEADER,
    STORE_MAGIC,
};
use super::super::{ClientKey, Subscription};
use super::{
    queued_size, volatile_topic, Broker, InFlight, Offline, Queued, Session, SharedStr, NO_DEADLINE,
};

/// A session as the store describes it, while a store is read.
struct Rebuilt {
    client_id: Box<str>,
    expiry: u32,
    username: Option<Box<str>>,
    expires_at: Option<Instant>,
    subscriptions: BTreeMap<Box<str>, Subscription>,
    /// By number: (queued at, packet identifier, released, message).
    messages: BTreeMap<u64, (Instant, u16, bool, Publish)>,
    inbound_qos2: BTreeSet<u16>,
    will: Option<(Instant, Publish)>,
}

/// What has been read of a store.
#[derive(Default)]
struct Rebuild {
    sessions: BTreeMap<u32, Rebuilt>,
    max_seq: u64,
}

impl Broker {
    /// The records describing every change of the durable state since the
    /// last call, as frames ending with a [`Record::Commit`] at `now`, to
    /// append to the store; `None` when nothing changed (or
    /// [`BrokerOptions::persistence`](super::BrokerOptions::persistence)
    /// is off). Take it after handling input or time and **before**
    /// [`poll_output`](Self::poll_output), and make it durable before
    /// sending what `poll_output` gives, so that no acknowledgement
    /// precedes its record (see [`persist`](crate::broker::persist)).
    pub fn poll_store(&mut self, now: Instant) -> Option<Vec<u8>> {
        let journal = self.journal.0.as_mut()?;
        if journal.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(journal.len() * 96 + 16);
        for r in journal.drain(..) {
            r.encode_frame(&mut out);
        }
        Record::Commit { now }.encode_frame(&mut out);
        Some(out)
    }

    /// The whole durable state as a new store:
    /// [`STORE_HEADER`] and one
    /// batch. Records not taken by [`poll_store`](Self::poll_store) yet
    /// are contained in it and discarded. A driver compacts its store by
    /// writing this to a new file and replacing the old one with it.
    pub fn snapshot(&mut self, now: Instant) -> Vec<u8> {
        if let Some(j) = &mut self.journal.0 {
            j.clear();
        }
        let mut out = Vec::from(STORE_HEADER);
        for (&key, s) in &self.sessions {
            if !s.durable {
                continue;
            }
            let session = key.get();
            Record::Session {
                session,
                client_id: Box::from(&*s.client_id),
                expiry: s.expiry,
                username: s.username.clone(),
                expires_at: s.expires_at(),
            }
            .encode_frame(&mut out);
            for filter in self.subs.filters(key) {
                if let Some(sub) = self.subs.get(key, filter) {
                    Record::Subscription {
                        session,
                        filter: Box::from(filter),
                        options: sub.options,
                        identifier: sub.identifier,
                    }
                    .encode_frame(&mut out);
                }
            }
            let conn = s.conn.and_then(|id| self.conns.get(&id));
            // In flight: sent and not completed, and (connected) the
            // resent messages of a resumed session that wait for room in
            // the client's window with their packet identifier.
            let inflight: Vec<(&Publish, bool)> = match (conn, &s.offline) {
                (Some(c), _) => c
                    .server
                    .inflight()
                    .map(|d| (&d.publish, d.released))
                    .chain(c.server.queued().map(|p| (p, false)))
                    .collect(),
                (None, Some(o)) => o
                    .stored
                    .inflight
                    .iter()
                    .map(|d| (&d.publish, d.released))
                    .collect(),
                (None, None) => Vec::new(),
            };
            for (publish, released) in inflight {
                let packet_id = publish.packet_id;
                if packet_id == 0 || publish.qos == QoS::AtMostOnce {
                    continue;
                }
                let Some(seq) = s.seqs.get(packet_id) else {
                    continue;
                };
                Record::Message {
                    session,
                    seq,
                    queued_at: now,
                    packet_id,
                    released,
                    publish: publish.clone(),
                }
                .encode_frame(&mut out);
            }
            let waiting: Option<&VecDeque<Queued>> = match (conn, &s.offline) {
                (Some(c), _) => c.rare.as_ref().map(|r| &r.held),
                (None, Some(o)) => Some(&o.queue),
                (None, None) => None,
            };
            for (p, at, seq) in waiting.into_iter().flatten() {
                if p.qos == QoS::AtMostOnce {
                    continue;
                }
                Record::Message {
                    session,
                    seq: *seq,
                    queued_at: *at,
                    packet_id: 0,
                    released: false,
                    publish: p.clone(),
                }
                .encode_frame(&mut out);
            }
            let inbound: Vec<u16> = match (conn, &s.offline) {
                (Some(c), _) => c.server.inbound_qos2().collect(),
                (None, Some(o)) => o.stored.inbound_qos2.clone(),
                (None, None) => Vec::new(),
            };
            for packet_id in inbound {
                Record::InboundQos2 { session, packet_id }.encode_frame(&mut out);
            }
            if let Some((at, will)) = self.wills.get(&key) {
                Record::Will {
                    session,
                    at: *at,
                    publish: will.clone(),
                }
                .encode_frame(&mut out);
            }
        }
        if self.journal.on() {
            for m in self.retained.iter() {
                if volatile_topic(m.topic()) {
                    continue;
                }
                Record::Retained {
                    stored_at: m.stored_at(),
                    publish: m.publish().clone(),
                }
                .encode_frame(&mut out);
            }
        }
        Record::Commit { now }.encode_frame(&mut out);
        out
    }

    /// Rebuilds the durable state from a store's bytes, on a broker with
    /// no connections, sessions or retained messages. Whole batches of
    /// the valid prefix apply; a damaged or torn tail is reported in the
    /// [`RestoreReport`], not an error. An empty `store` is a store with
    /// nothing in it (`valid_len` 0: write [`STORE_HEADER`] or a
    /// [`snapshot`](Self::snapshot) before appending).
    ///
    /// Session expiry counts from the last batch applied when the
    /// session's client was connected then (a crash), else from its
    /// disconnection; a session or will whose time passed during the
    /// downtime is ended or published by the restore itself (as
    /// [`handle_timeout`](Self::handle_timeout) at `now` would), as if the
    /// broker had run throughout. Queued messages carry the time they were queued, so
    /// their Message Expiry Interval counts the downtime too.
    pub fn restore(&mut self, store: &[u8], now: Instant) -> Result<RestoreReport, RestoreError> {
        if !self.sessions.is_empty() || !self.conns.is_empty() || !self.retained.is_empty() {
            return Err(RestoreError::NotEmpty);
        }
        let mut report = RestoreReport::default();
        if store.is_empty() {
            return Ok(report);
        }
        if store.len() < STORE_HEADER.len() || store[..STORE_MAGIC.len()] != STORE_MAGIC {
            return Err(RestoreError::NotAStore);
        }
        let mut version = [0u8; 4];
        version.copy_from_slice(&store[8..12]);
        let version = u32::from_le_bytes(version);
        if version > STORE_FORMAT_VERSION {
            return Err(RestoreError::NewerVersion {
                found: version,
                supported: STORE_FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(RestoreError::NotAStore);
        }
        report.valid_len = STORE_HEADER.len();
        let mut rebuild = Rebuild::default();
        let mut batch: Vec<Record> = Vec::new();
        let mut frames = Frames::new(store, STORE_HEADER.len());
        loop {
            let Some(item) = frames.next() else {
                break;
            };
            match item {
                Ok((_, Record::Commit { now: at })) => {
                    report.records += batch.len() as u64;
                    for r in batch.drain(..) {
                        self.apply(&mut rebuild, r);
                    }
                    report.batches += 1;
                    report.last_commit = Some(at);
                    report.valid_len = frames.position();
                }
                Ok((_, record)) => batch.push(record),
                Err((offset, error)) => {
                    report.damage = Some(Damage { offset, error });
                    break;
                }
            }
        }
        report.discarded_records = batch.len();
        report.discarded_bytes = store.len() - report.valid_len;
        self.finish_restore(rebuild, now, &mut report);
        Ok(report)
    }

    /// Applies one record of a whole batch.
    fn apply(&mut self, rebuild: &mut Rebuild, record: Record) {
        let sessions = &mut rebuild.sessions;
        match record {
            Record::Commit { .. } => {}
            Record::Session {
                session,
                client_id,
                expiry,
                username,
                expires_at,
            } => {
                let s = sessions.entry(session).or_insert_with(|| Rebuilt {
                    client_id: client_id.clone(),
                    expiry,
                    username: None,
                    expires_at: None,
                    subscriptions: BTreeMap::new(),
                    messages: BTreeMap::new(),
                    inbound_qos2: BTreeSet::new(),
                    will: None,
                });
                s.client_id = client_id;
                s.expiry = expiry;
                s.username = username;
                s.expires_at = expires_at;
            }
            Record::SessionGone { session } => {
                sessions.remove(&session);
            }
            Record::Subscription {
                session,
                filter,
                options,
                identifier,
            } => {
                if let Some(s) = sessions.get_mut(&session) {
                    let mut sub = Subscription::new(options);
                    sub.identifier = identifier;
                    s.subscriptions.insert(filter, sub);
                }
            }
            Record::SubscriptionGone { session, filter } => {
                if let Some(s) = sessions.get_mut(&session) {
                    s.subscriptions.remove(&filter);
                }
            }
            Record::Message {
                session,
                seq,
                queued_at,
                packet_id,
                released,
                publish,
            } => {
                rebuild.max_seq = rebuild.max_seq.max(seq);
                if let Some(s) = sessions.get_mut(&session) {
                    s.messages
                        .insert(seq, (queued_at, packet_id, released, publish));
                }
            }
            Record::MessageState {
                session,
                seq,
                packet_id,
                released,
            } => {
                if let Some(m) = sessions
                    .get_mut(&session)
                    .and_then(|s| s.messages.get_mut(&seq))
                {
                    m.1 = packet_id;
                    m.2 = released;
                }
            }
            Record::MessageGone { session, seq } => {
                if let Some(s) = sessions.get_mut(&session) {
                    s.messages.remove(&seq);
                }
            }
            Record::InboundQos2 { session, packet_id } => {
                if let Some(s) = sessions.get_mut(&session) {
                    s.inbound_qos2.insert(packet_id);
                }
            }
            Record::InboundQos2Gone { session, packet_id } => {
                if let Some(s) = sessions.get_mut(&session) {
                    s.inbound_qos2.remove(&packet_id);
                }
            }
            Record::Will {
                session,
                at,
                publish,
            } => {
                if let Some(s) = sessions.get_mut(&session) {
                    s.will = Some((at, publish));
                }
            }
            Record::WillGone { session } => {
                if let Some(s) = sessions.get_mut(&session) {
                    s.will = None;
                }
            }
            Record::Retained { stored_at, publish } => {
                // Beyond the limits (lowered since), it is not kept.
                let _ = self.retained.set(&publish, stored_at);
            }
            Record::RetainedGone { topic } => {
                self.retained.remove(&topic);
            }
        }
    }

    /// Makes the engine's sessions from what the store described.
    fn finish_restore(&mut self, rebuild: Rebuild, now: Instant, report: &mut RestoreReport) {
        let base = report.last_commit.unwrap_or(now);
        let max_kept = self.opts.limits.max_session_expiry_interval;
        self.next_seq = self.next_seq.max(rebuild.max_seq.saturating_add(1));
        for (number, r) in rebuild.sessions {
            let key = ClientKey::new(number);
            // Connected when the store was last written: offline since.
            let expires_at = r.expires_at.or_else(|| {
                let kept = r.expiry.min(max_kept);
                (kept != u32::MAX).then(|| base.saturating_add(u64::from(kept) * 1000))
            });
            if expires_at.is_some_and(|t| t <= now) {
                report.expired_sessions += 1;
            }
            let mut seqs = InFlight::default();
            let mut stored = ServerSession::new();
            let mut queue: VecDeque<Queued> = VecDeque::new();
            let mut bytes = 0;
            for (seq, (queued_at, packet_id, released, mut publish)) in r.messages {
                report.messages += 1;
                if publish.qos == QoS::AtMostOnce {
                    continue;
                }
                if packet_id == 0 {
                    if super::expiry_deadline(&publish, queued_at).is_some_and(|t| t <= now) {
                        report.expired_messages += 1;
                    }
                    bytes += queued_size(&publish);
                    queue.push_back((publish, queued_at, seq));
                } else {
                    publish.packet_id = packet_id;
                    seqs.sent(packet_id, seq);
                    stored.inflight.push(InflightDelivery { publish, released });
                }
            }
            stored.inbound_qos2 = r.inbound_qos2.into_iter().collect();
            let offline = (!stored.is_empty() || !queue.is_empty()).then(|| {
                Box::new(Offline {
                    stored,
                    queue,
                    bytes,
                })
            });
            let client_id = SharedStr::from(r.client_id);
            let offline_seq = self.next_offline_seq;
            self.next_offline_seq += 1;
            self.offline_order.insert(offline_seq, key);
            self.sessions.insert(
                key,
                Box::new(Session {
                    client_id: client_id.clone(),
                    username: r.username,
                    conn: None,
                    persistent: true,
                    expiry: r.expiry,
                    expires_at: NO_DEADLINE,
                    offline,
                    offline_seq,
                    durable: true,
                    seqs,
                }),
            );
            self.by_client_id.insert(client_id, key);
            self.set_expires_at(key, expires_at);
            for (filter, sub) in r.subscriptions {
                if self.subs.subscribe(key, &filter, sub).is_ok() {
                    report.subscriptions += 1;
                }
            }
            if let Some((at, will)) = r.will {
                report.wills += 1;
                self.wills.insert(key, (at, will));
                self.will_deadlines.update(key, None, Some(at));
            }
            report.sessions += 1;
            self.next_key = self.next_key.max(number.wrapping_add(1).max(1));
        }
        // Retained messages whose Message Expiry Interval passed, also
        // during the downtime, are gone.
        self.retained.purge_expired(now);
        report.retained = self.retained.len();
        // What came due during the downtime happens now, before any client
        // can reach the engine (a CONNECT first would cancel a will that
        // was due): expired sessions end, due wills are published.
        self.handle_timeout(now);
    }
}
