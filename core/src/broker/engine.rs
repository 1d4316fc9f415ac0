//! The sans-IO broker engine: many [`ServerConnection`]s, the sessions
//! behind them, routing through a [`SubscriptionTable`], retained
//! messages in a [`RetainedStore`], wills, offline queues, pluggable
//! authentication ([`Authenticator`], with MQTT 5.0 enhanced
//! authentication and re-authentication) and authorization
//! ([`Authorizer`], e.g. an [`Acl`]).
//!
//! # Driving it
//!
//! The driver owns the sockets and the clock. It reports a new transport
//! with [`Broker::connection_opened`], bytes with [`Broker::handle_input`],
//! the time with [`Broker::handle_timeout`] (at [`Broker::poll_timeout`])
//! and a closed transport with [`Broker::connection_closed`]; it sends
//! what [`Broker::poll_output`] gives (connections are served in turn,
//! round robin, so a busy one cannot starve the others) and closes the
//! connections [`Broker::poll_close`] names (after sending their last
//! bytes).
//!
//! # Authentication and authorization
//!
//! Every CONNECT goes to the [`Authenticator`] (see [`hooks`](super::hooks)
//! for the exchange): [`Broker::set_authenticator`] installs one;
//! [`BrokerOptions::passwords`] installs a [`PasswordAuthenticator`]; with
//! neither, a CONNECT naming an Authentication Method is refused with 0x8C
//! and every other one is accepted. The answer may be deferred
//! ([`AuthDecision::Pending`], then [`Broker::complete_authentication`]);
//! the connect timeout still applies.
//!
//! Every PUBLISH and will is checked for write access, every subscription
//! (its filter, wildcards understood: [`Authorizer::authorize_subscription`])
//! and every delivery (its topic) for read access, by the [`Authorizer`]
//! from [`Broker::set_authorizer`] or [`BrokerOptions::acl`]; without one
//! everything is allowed. A refused subscription gets 0x87 Not authorized
//! in the SUBACK (0x80 in 3.1.1). A refused PUBLISH is not routed nor
//! retained: 5.0 answers 0x87 in the PUBACK or PUBREC; 3.1.1 has no way to
//! say it and acknowledges positively, as [MQTT-3.3.5-2] (3.1.1) allows;
//! at QoS 0 it is dropped silently. A 5.0 PUBLISH that matches no
//! subscription is acknowledged with 0x10 No matching subscribers
//! (unless [`BrokerOptions::no_matching_subscribers`] is off).
//!
//! # Sessions and offline queues
//!
//! Sessions are kept after the connection ends when the client asked for
//! it (3.1.1: Clean Session 0; 5.0: a Session Expiry Interval above 0).
//! A kept session is removed when its Session Expiry Interval has passed
//! (3.1.1 sessions never expire). A will with a Will Delay Interval waits
//! for the lower of it and the Session Expiry Interval, and is cancelled
//! when the client reconnects first.
//!
//! QoS 1 and 2 messages for a kept, offline session are queued (QoS 0
//! ones are not), at most [`BrokerLimits::max_queued_messages`]; when the
//! queue is full, messages whose Message Expiry Interval has passed are
//! purged first, then [`BrokerLimits::queue_full_policy`] drops the new
//! message or the oldest one ([`Broker::dropped_messages`] counts them).
//! Each queued message remembers when it was queued: on reconnection its
//! Message Expiry Interval is reduced by the time it waited
//! [MQTT-3.3.2-6], and a message whose interval has passed is dropped and
//! never delivered [MQTT-3.3.2-5] ([`Broker::expired_messages`]).
//!
//! # Limits
//!
//! Every table is bounded by [`BrokerLimits`], and every refusal is
//! reported to the client:
//!
//! * connections past CONNECT: [`BrokerLimits::max_connections`]; the
//!   CONNECT beyond it is refused with CONNACK 0x97 Quota exceeded (3.1.1:
//!   return code 3, Server unavailable), unless it takes over the session
//!   of a connected client (the count does not grow). Transports that
//!   have not sent CONNECT yet are bounded by the driver (its accept
//!   loop) and by the connect timeout;
//! * sessions: [`BrokerLimits::max_sessions`]; a CONNECT needing a new
//!   session beyond it evicts the kept session whose client has been
//!   offline longest ([`Broker::evicted_sessions`] counts them). When
//!   every session is connected, a CONNECT that would keep its session is
//!   refused with CONNACK 0x89 Server busy (3.1.1: return code 3); one
//!   whose session ends with the connection (Clean Start 1 with Session
//!   Expiry 0; 3.1.1 Clean Session 1) is never refused for it;
//! * subscriptions per client: 0x97 in the SUBACK (3.1.1: 0x80);
//! * retained messages and their bytes: the message is still routed, not
//!   retained, and 0x97 is in the PUBACK or PUBREC (5.0);
//! * topic levels: a deeper topic name is refused with 0x90 Topic Name
//!   invalid in the PUBACK or PUBREC (5.0) and not routed; a deeper
//!   filter with 0x8F Topic Filter invalid in the SUBACK (3.1.1: 0x80);
//! * offline queues: see above.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
mod store;

/// A client identifier shared by a session and the by-identifier index:
/// one allocation where the target has atomics (`Arc`); targets without
/// atomic pointers (Cortex-M0+) keep two copies (`Box`), as `alloc::sync`
/// does not exist there.
#[cfg(target_has_atomic = "ptr")]
type SharedStr = alloc::sync::Arc<str>;
#[cfg(not(target_has_atomic = "ptr"))]
type SharedStr = Box<str>;
use alloc::vec::Vec;
use core::num::NonZeroU32;

use bytes::Bytes;

use crate::codec::{
    AckProperties, Auth, ConnAckProperties, Connect, DisconnectProperties, MqttString, PacketType,
    Publish, PublishProperties, QoS, ReasonCode, SubAck, Subscribe, TopicName, Unsubscribe, Will,
};
use crate::server::{
    Accept, CloseReason, InflightDelivery, ServerConnection, ServerEvent, ServerOptions,
    ServerSession, ServerState,
};
use crate::time::Instant;

use super::hooks::{
    AuthDecision, AuthInfo, Authenticator, CompleteAuthError, ConnectInfo, DefaultAuthenticator,
    PasswordAuthenticator,
};
use super::persist::Record;
use super::{
    Access, Acl, Authorizer, BrokerLimits, BrokerStats, ClientKey, PasswordTable, QueueFullPolicy,
    RetainedStore, SubscribeError, Subscription, SubscriptionTable,
};

/// One transport connection of the broker, named by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// The identifier's number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// How a [`Broker`] is configured.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BrokerOptions {
    /// The options of every [`ServerConnection`] (`manual_ack` is forced
    /// on: the engine acknowledges each message after its ACL check).
    pub server: ServerOptions,
    /// The bounds of the engine's tables.
    pub limits: BrokerLimits,
    /// When set, the broker starts with a [`PasswordAuthenticator`] over
    /// it: a client giving a User Name must give its password (else
    /// CONNACK 0x86); see also [`allow_anonymous`](Self::allow_anonymous).
    /// [`Broker::set_authenticator`] replaces it.
    pub passwords: Option<PasswordTable>,
    /// Whether a client without a User Name is accepted when
    /// [`passwords`](Self::passwords) is set (else CONNACK 0x87).
    pub allow_anonymous: bool,
    /// When set, the broker starts with this ACL as its [`Authorizer`]:
    /// every publish (and will) is checked for write access and every
    /// subscription and delivery for read access.
    /// [`Broker::set_authorizer`] replaces it.
    pub acl: Option<Acl>,
    /// Whether a 5.0 PUBLISH (QoS 1 or 2) that matches no subscription is
    /// acknowledged with 0x10 No matching subscribers (as established
    /// brokers do) rather than 0x00 Success. The message is accepted
    /// either way (and retained when asked); 3.1.1 acknowledgements carry
    /// no code. Default `true`.
    pub no_matching_subscribers: bool,
    /// Whether the engine describes its durable state as records for the
    /// driver to store ([`Broker::poll_store`], [`Broker::snapshot`],
    /// [`Broker::restore`]; see [`persist`](super::persist)). Default
    /// `false`: nothing is recorded and nothing costs.
    pub persistence: bool,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions::new()
    }
}

impl BrokerOptions {
    /// The Maximum Packet Size a broker accepts and announces in CONNACK
    /// unless told otherwise: 1 MiB (EMQX's default; mosquitto has none,
    /// which lets any client make the broker hold 256 MiB per connection
    /// and per subscriber). It matches the default
    /// [`BrokerLimits::max_output_bytes_per_connection`], so a congested
    /// subscriber holds at most about twice that. Set
    /// [`ServerOptions::maximum_packet_size`] (0: the protocol's 256 MiB)
    /// for more.
    pub const DEFAULT_MAXIMUM_PACKET_SIZE: u32 = 1024 * 1024;

    /// Default server options (with a Maximum Packet Size of
    /// [`DEFAULT_MAXIMUM_PACKET_SIZE`](Self::DEFAULT_MAXIMUM_PACKET_SIZE))
    /// and limits, no authentication, no ACL.
    pub fn new() -> Self {
        BrokerOptions {
            server: ServerOptions::new()
                .with_maximum_packet_size(Self::DEFAULT_MAXIMUM_PACKET_SIZE),
            limits: BrokerLimits::default(),
            passwords: None,
            allow_anonymous: true,
            acl: None,
            no_matching_subscribers: true,
            persistence: false,
        }
    }

    /// Sets [`server`](Self::server).
    pub fn with_server_options(mut self, server: ServerOptions) -> Self {
        self.server = server;
        self
    }

    /// Sets [`limits`](Self::limits).
    pub fn with_limits(mut self, limits: BrokerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`passwords`](Self::passwords) and
    /// [`allow_anonymous`](Self::allow_anonymous).
    pub fn with_passwords(mut self, passwords: PasswordTable, allow_anonymous: bool) -> Self {
        self.passwords = Some(passwords);
        self.allow_anonymous = allow_anonymous;
        self
    }

    /// Sets [`acl`](Self::acl).
    pub fn with_acl(mut self, acl: Acl) -> Self {
        self.acl = Some(acl);
        self
    }

    /// Sets [`persistence`](Self::persistence).
    pub fn with_persistence(mut self, persistence: bool) -> Self {
        self.persistence = persistence;
        self
    }

    /// Sets [`no_matching_subscribers`](Self::no_matching_subscribers):
    /// `false` acknowledges a message nobody subscribed to with 0x00.
    pub fn with_no_matching_subscribers(mut self, report: bool) -> Self {
        self.no_matching_subscribers = report;
        self
    }
}

/// Where a connection is in authentication.
enum AuthStage {
    /// No exchange under way (before CONNECT, or connected).
    Idle,
    /// CONNECT arrived and is being authenticated; `pending` while the
    /// authenticator's answer is deferred.
    Connecting {
        connect: Box<Connect>,
        pending: bool,
    },
    /// A re-authentication is under way.
    Reauthenticating { pending: bool },
}

/// One transport connection.
struct Conn {
    server: ServerConnection,
    /// The session's [`ClientKey`] number, once accepted (never 0: 4
    /// bytes rather than an `Option<ClientKey>`'s 8; see [`Conn::key`]).
    key: Option<NonZeroU32>,
    /// Whether the engine asked the driver to close it.
    close_requested: bool,
    /// Whether it counts in [`Broker::active`].
    counted: bool,
    auth: AuthStage,
    /// Whether it is in [`Conns::ready`].
    in_ready: bool,
    /// What most connections never use, boxed on first use (the first
    /// message held for it, or a transport User Name) and kept until
    /// the connection goes, so holding messages allocates no more per
    /// message than before.
    rare: Option<Box<ConnRare>>,
    /// Whether the driver can write to the transport
    /// ([`Broker::set_writable`]); while not, its bytes stay here.
    writable: bool,
    /// Its entry in [`Broker::conn_deadlines`]: the connection's
    /// [`ServerConnection::poll_timeout`] when the engine last looked,
    /// [`NO_DEADLINE`] for none (8 bytes rather than an `Option`'s 16).
    deadline: Instant,
}

/// The rarely used part of a [`Conn`].
#[derive(Default)]
struct ConnRare {
    /// The User Name the transport established (a TLS client
    /// certificate's identity), replacing the CONNECT's.
    transport_username: Option<Box<str>>,
    /// Messages for the client not handed to the connection yet: beyond
    /// its window, or held while it is congested; oldest first, with the
    /// time each was queued.
    held: VecDeque<Queued>,
    /// Topic and payload bytes of `held`.
    held_bytes: usize,
}

impl Conn {
    /// The session, once accepted.
    fn key(&self) -> Option<ClientKey> {
        self.key.map(|k| ClientKey::new(k.get()))
    }

    /// The rarely used part, allocated on first use.
    fn rare_mut(&mut self) -> &mut ConnRare {
        self.rare.get_or_insert_with(Default::default)
    }

    /// Messages held for it.
    fn held_len(&self) -> usize {
        self.rare.as_ref().map_or(0, |r| r.held.len())
    }

    /// Whether the driver cannot write and the engine holds at least
    /// `cap` bytes for it.
    fn congested(&self, cap: usize) -> bool {
        !self.writable && self.server.transmit_len() >= cap
    }

    /// Whether a QoS 1 or 2 message would be sent now rather than wait
    /// for room in the window (the client's Receive Maximum and our
    /// `max_inflight`).
    fn window_open(&self, max_inflight: u16) -> bool {
        let window = self.server.client_receive_maximum().min(max_inflight);
        self.server.queued_len() == 0 && self.server.inflight_len() < usize::from(window)
    }
}

/// A message waiting for a client: the message, when it was queued (for
/// its Message Expiry Interval) and its number for the store
/// ([`Record::Message`]).
type Queued = (Publish, Instant, u64);

/// The bytes a queued message counts for ([`BrokerLimits::max_queued_bytes`]).
fn queued_size(p: &Publish) -> usize {
    p.topic.as_str().len() + p.payload.len()
}

/// Appends `item` to a bounded queue of messages whose bytes are counted
/// in `bytes`. When the queue is full (by count or bytes) the policy
/// decides: drop the new message, or drop the oldest ones until it fits.
/// Returns `false` when a message was dropped (the new one or an old one);
/// `dropped` is told the number of each one dropped.
fn enqueue(
    queue: &mut VecDeque<Queued>,
    bytes: &mut usize,
    item: Queued,
    limits: &BrokerLimits,
    mut dropped: impl FnMut(u64),
) -> bool {
    let mut kept_all = true;
    if queue_full(queue.len(), *bytes, limits) {
        kept_all = false;
        if limits.queue_full_policy != QueueFullPolicy::DropOldest {
            dropped(item.2);
            return false;
        }
        while queue_full(queue.len(), *bytes, limits) {
            let Some((old, _, seq)) = queue.pop_front() else {
                dropped(item.2);
                return false;
            };
            *bytes -= queued_size(&old);
            dropped(seq);
        }
    }
    *bytes += queued_size(&item.0);
    queue.push_back(item);
    kept_all
}

/// Whether a queue of `len` messages and `bytes` bytes is full: either
/// bound reached (as mosquitto counts them, so the last message may pass
/// the byte bound).
fn queue_full(len: usize, bytes: usize, limits: &BrokerLimits) -> bool {
    len >= limits.max_queued_messages || bytes >= limits.max_queued_bytes
}

/// [`Conn::deadline`] when the connection has none. A deadline at this
/// very instant, the end of time, is taken as none.
const NO_DEADLINE: Instant = Instant::MAX;

/// Deadlines of one kind (connections, session expiries, wills), earliest
/// first, so that [`Broker::poll_timeout`] and [`Broker::handle_timeout`]
/// cost O(log n) rather than a scan of every connection and session.
/// Each key has at most one entry, which its owner moves when the
/// deadline changes ([`Deadlines::update`]).
struct Deadlines<K: Ord + Copy>(BTreeSet<(Instant, K)>);

impl<K: Ord + Copy> Deadlines<K> {
    const fn new() -> Self {
        Deadlines(BTreeSet::new())
    }

    /// Moves the entry of `key` from `old` to `new` (either may be none).
    fn update(&mut self, key: K, old: Option<Instant>, new: Option<Instant>) {
        if old == new {
            return;
        }
        if let Some(t) = old {
            self.0.remove(&(t, key));
        }
        if let Some(t) = new {
            self.0.insert((t, key));
        }
    }

    /// The earliest deadline.
    fn first(&self) -> Option<Instant> {
        self.0.first().map(|(t, _)| *t)
    }

    /// The keys whose deadline is at or before `now`, in key order (the
    /// order the engine visited them in when it scanned its tables).
    fn due(&self, now: Instant) -> Vec<K> {
        let mut due: Vec<K> = self
            .0
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, k)| *k)
            .collect();
        due.sort_unstable();
        due
    }
}

/// The connections, and those that may have bytes to send, in the order
/// they got them: [`Broker::poll_output`] serves them first come, first
/// served (a round robin among busy connections) without scanning every
/// connection. Every mutable access marks a connection, so no path that
/// makes output can forget to; a mark without output costs one skip.
#[derive(Default)]
struct Conns {
    /// Boxed: a B-tree node holds 11 entries and is rarely full, so a
    /// large value inline wastes about a third of each node (issue 17:
    /// memory per idle connection).
    map: BTreeMap<ConnectionId, Box<Conn>>,
    ready: VecDeque<ConnectionId>,
}

impl Conns {
    fn get_mut(&mut self, id: &ConnectionId) -> Option<&mut Conn> {
        let c = self.map.get_mut(id)?;
        if !c.in_ready {
            c.in_ready = true;
            self.ready.push_back(*id);
        }
        Some(c)
    }

    fn insert(&mut self, id: ConnectionId, conn: Conn) {
        self.map.insert(id, Box::new(conn));
    }

    fn remove(&mut self, id: &ConnectionId) -> Option<Box<Conn>> {
        // A stale entry in `ready` is skipped by `next_output`.
        self.map.remove(id)
    }

    /// The next connection with bytes to send, and the bytes.
    fn next_output(&mut self) -> Option<(ConnectionId, Bytes)> {
        while let Some(id) = self.ready.pop_front() {
            let Some(c) = self.map.get_mut(&id) else {
                continue;
            };
            c.in_ready = false;
            // A connection the driver cannot write to keeps its bytes
            // (they count for its congestion), unless it is being closed.
            if c.server.transmit_len() > 0 && (c.writable || c.close_requested) {
                return Some((id, c.server.take_transmit()));
            }
        }
        None
    }
}

impl core::ops::Deref for Conns {
    type Target = BTreeMap<ConnectionId, Box<Conn>>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

/// One session, connected or kept.
struct Session {
    /// Shared with its [`Broker::by_client_id`] key: stored once.
    client_id: SharedStr,
    username: Option<Box<str>>,
    /// The connection serving it, if any.
    conn: Option<ConnectionId>,
    /// Whether it outlives its connection.
    persistent: bool,
    /// Session Expiry Interval in seconds (`u32::MAX`: never).
    expiry: u32,
    /// When it expires while offline ([`NO_DEADLINE`]: it does not;
    /// 8 bytes rather than an `Option`'s 16).
    expires_at: Instant,
    /// What a persistent session keeps while offline; `None` while it
    /// holds nothing (always for a clean session), so an idle
    /// connection's session does not carry it.
    offline: Option<Box<Offline>>,
    /// While kept offline: its place in [`Broker::offline_order`]
    /// ([`NO_SEQ`] otherwise).
    offline_seq: u64,
    /// Whether the store knows it: a [`Record::Session`] was written and
    /// no [`Record::SessionGone`] since (persistence on, and the session
    /// persistent).
    durable: bool,
    /// For a durable session: the number ([`Record::Message`]) of each
    /// message in flight, by packet identifier (see [`InFlight`]).
    seqs: InFlight,
}

/// The numbers of a durable session's messages in flight, by packet
/// identifier. A connection frees an identifier as it reads the
/// acknowledgement, and reports it when the engine takes its events:
/// between the two, while the engine handles the events of one read, the
/// identifier may be given to a new message. The message the pending
/// report names is then kept aside (under the identifier plus
/// [`InFlight::FREED`]; at most one per identifier, as the new message
/// cannot be acknowledged in the read that freed its identifier) and
/// found first.
///
/// Boxed on first use (8 bytes per session without persistence: issue 17's
/// memory per idle connection) and given back when empty.
#[derive(Default)]
// Boxed on purpose: 8 bytes in every session instead of a map's 24.
#[allow(clippy::box_collection)]
struct InFlight(Option<Box<BTreeMap<u32, u64>>>);

impl InFlight {
    const FREED: u32 = 1 << 16;

    /// Message `seq` was sent with `packet_id`.
    fn sent(&mut self, packet_id: u16, seq: u64) {
        let map = self.0.get_or_insert_with(Default::default);
        let id = u32::from(packet_id);
        if let Some(freed) = map.insert(id, seq) {
            map.insert(id | Self::FREED, freed);
        }
    }

    /// The message acknowledged (or dropped) under `packet_id`, forgotten.
    fn done(&mut self, packet_id: u16) -> Option<u64> {
        let map = self.0.as_mut()?;
        let id = u32::from(packet_id);
        let seq = map.remove(&(id | Self::FREED)).or_else(|| map.remove(&id));
        if map.is_empty() {
            self.0 = None;
        }
        seq
    }

    /// The message in flight under `packet_id` (PUBREC cannot name a
    /// message whose identifier was freed: it is not in flight).
    fn get(&self, packet_id: u16) -> Option<u64> {
        self.0.as_ref()?.get(&u32::from(packet_id)).copied()
    }

    fn clear(&mut self) {
        self.0 = None;
    }
}

/// What a session keeps while offline, boxed on first use (see
/// [`Session::offline`]).
#[derive(Default)]
struct Offline {
    /// Messages in flight and inbound QoS 2 state (its `queued` is
    /// always empty: see `queue`).
    stored: ServerSession,
    /// Messages not sent yet, with the time each was queued (for their
    /// Message Expiry Interval).
    queue: VecDeque<Queued>,
    /// Topic and payload bytes of `queue`.
    bytes: usize,
}

/// [`Session::offline_seq`] when not in [`Broker::offline_order`].
const NO_SEQ: u64 = u64::MAX;

impl Session {
    /// When it expires while offline, if it does.
    fn expires_at(&self) -> Option<Instant> {
        (self.expires_at != NO_DEADLINE).then_some(self.expires_at)
    }

    /// Messages in its offline queue.
    fn offline_len(&self) -> usize {
        self.offline.as_ref().map_or(0, |o| o.queue.len())
    }
}

/// When a message queued at `at` expires, if it has a Message Expiry
/// Interval.
fn expiry_deadline(p: &Publish, at: Instant) -> Option<Instant> {
    p.properties
        .message_expiry_interval
        .map(|s| at.saturating_add(u64::from(s) * 1000))
}

/// The records of durable state changes not taken by
/// [`Broker::poll_store`] yet; `None` when persistence is off.
struct Journal(Option<Vec<Record>>);

impl Journal {
    /// Whether persistence is on.
    fn on(&self) -> bool {
        self.0.is_some()
    }

    /// Records what `record` makes, when persistence is on.
    fn push(&mut self, record: impl FnOnce() -> Record) {
        if let Some(j) = &mut self.0 {
            j.push(record());
        }
    }
}

/// Whether a retained message on `topic` is kept out of the store: the
/// broker's own `$SYS` topics, which it publishes again after a restart.
fn volatile_topic(topic: &str) -> bool {
    topic.starts_with("$SYS")
}

/// The sans-IO broker; see the [module docs](self).
pub struct Broker {
    opts: BrokerOptions,
    authenticator: Box<dyn Authenticator + Send>,
    authorizer: Option<Box<dyn Authorizer + Send>>,
    conns: Conns,
    /// Boxed, as [`Conns::map`] is: a large value inline wastes B-tree
    /// node room.
    sessions: BTreeMap<ClientKey, Box<Session>>,
    by_client_id: BTreeMap<SharedStr, ClientKey>,
    subs: SubscriptionTable,
    retained: RetainedStore,
    closes: VecDeque<ConnectionId>,
    /// Wills waiting for their Will Delay Interval, by session.
    wills: BTreeMap<ClientKey, (Instant, Publish)>,
    /// The times of `wills`.
    will_deadlines: Deadlines<ClientKey>,
    /// Each connection's deadline ([`Conn::deadline`]), kept by
    /// [`Broker::reschedule`].
    conn_deadlines: Deadlines<ConnectionId>,
    /// The `expires_at` of every session that has one.
    session_deadlines: Deadlines<ClientKey>,
    /// Connections past CONNECT (authenticating or accepted) and not
    /// being closed, for [`BrokerLimits::max_connections`], kept by
    /// [`Broker::reschedule`] and [`Broker::request_close`] (those with
    /// [`Conn::counted`]).
    active: usize,
    next_conn: u64,
    next_key: u32,
    next_assigned: u64,
    dropped: u64,
    congestion_dropped: u64,
    expired: u64,
    /// Kept sessions whose client is offline, in the order they went
    /// offline (the first is evicted first when the store is full).
    offline_order: BTreeMap<u64, ClientKey>,
    next_offline_seq: u64,
    evicted: u64,
    /// Counters; the gauges are computed by [`Broker::stats`].
    counters: BrokerStats,
    /// Durable state changes for the driver ([`BrokerOptions::persistence`]).
    journal: Journal,
    /// The number of the next message queued or sent to a session
    /// ([`Record::Message`]).
    next_seq: u64,
}

impl core::fmt::Debug for Broker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Broker")
            .field("connections", &self.conns.len())
            .field("sessions", &self.sessions.len())
            .field("subscriptions", &self.subs.len())
            .field("retained", &self.retained.len())
            .finish()
    }
}

impl Broker {
    /// A broker with no connections. [`BrokerOptions::passwords`] and
    /// [`BrokerOptions::acl`], when set, become its authenticator and
    /// authorizer.
    pub fn new(mut opts: BrokerOptions) -> Self {
        opts.server.manual_ack = true;
        opts.server.report_qos2_steps = opts.persistence;
        let authenticator: Box<dyn Authenticator + Send> = match &opts.passwords {
            Some(table) => Box::new(PasswordAuthenticator::new(
                table.clone(),
                opts.allow_anonymous,
            )),
            None => Box::new(DefaultAuthenticator),
        };
        let authorizer = opts
            .acl
            .clone()
            .map(|acl| Box::new(acl) as Box<dyn Authorizer + Send>);
        let opts_persistence = opts.persistence;
        Broker {
            subs: SubscriptionTable::from_limits(&opts.limits),
            retained: RetainedStore::from_limits(&opts.limits),
            opts,
            authenticator,
            authorizer,
            conns: Conns::default(),
            sessions: BTreeMap::new(),
            by_client_id: BTreeMap::new(),
            closes: VecDeque::new(),
            wills: BTreeMap::new(),
            will_deadlines: Deadlines::new(),
            conn_deadlines: Deadlines::new(),
            session_deadlines: Deadlines::new(),
            active: 0,
            next_conn: 1,
            next_key: 1,
            next_assigned: 1,
            dropped: 0,
            congestion_dropped: 0,
            expired: 0,
            offline_order: BTreeMap::new(),
            next_offline_seq: 0,
            evicted: 0,
            counters: BrokerStats::default(),
            journal: Journal(opts_persistence.then(Vec::new)),
            next_seq: 1,
        }
    }

    /// Replaces the authenticator: every CONNECT from now on (and every
    /// AUTH) goes to `authenticator`. Exchanges under way continue with
    /// the new one.
    pub fn set_authenticator(&mut self, authenticator: Box<dyn Authenticator + Send>) {
        self.authenticator = authenticator;
    }

    /// Replaces the authorizer: every PUBLISH, will, subscription and
    /// delivery from now on is checked by `authorizer`. Subscriptions made
    /// before stay, but their deliveries are checked.
    pub fn set_authorizer(&mut self, authorizer: Box<dyn Authorizer + Send>) {
        self.authorizer = Some(authorizer);
    }

    /// Connections open (as far as the engine knows).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Sessions, connected or kept.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The retained messages.
    pub fn retained(&self) -> &RetainedStore {
        &self.retained
    }

    /// The subscriptions.
    pub fn subscriptions(&self) -> &SubscriptionTable {
        &self.subs
    }

    /// Messages not delivered to a subscriber, since the start: because
    /// its session's queue was full (offline, beyond its window, or held
    /// while congested), because its connection refused them, or QoS 0
    /// messages for a congested connection (those are also counted by
    /// [`congestion_dropped_messages`](Self::congestion_dropped_messages)).
    pub fn dropped_messages(&self) -> u64 {
        self.dropped
    }

    /// QoS 0 messages not delivered because the subscriber's connection
    /// was congested: not writable ([`set_writable`](Self::set_writable))
    /// with [`BrokerLimits::max_output_bytes_per_connection`] bytes or
    /// more waiting, since the start.
    pub fn congestion_dropped_messages(&self) -> u64 {
        self.congestion_dropped
    }

    /// Bytes encoded for `conn` and not taken by the driver yet (0 for an
    /// unknown connection): what it holds while the connection is not
    /// writable.
    pub fn output_backlog(&self, conn: ConnectionId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.server.transmit_len())
    }

    /// Kept sessions of offline clients evicted to make room for a new
    /// session when [`BrokerLimits::max_sessions`] was reached (the one
    /// offline longest first), since the start. Their clients find no
    /// session when they come back (Session Present 0).
    pub fn evicted_sessions(&self) -> u64 {
        self.evicted
    }

    /// Messages queued for offline sessions dropped because their Message
    /// Expiry Interval passed before the client came back [MQTT-3.3.2-5],
    /// since the start.
    pub fn expired_messages(&self) -> u64 {
        self.expired
    }

    /// The engine's counters since the start and its current sizes (for a
    /// broker's `$SYS` topics). Takes time in proportion to the number of
    /// connections and sessions: call it every few seconds, not per
    /// message.
    pub fn stats(&self) -> BrokerStats {
        let mut stats = self.counters;
        for c in self.conns.values() {
            stats.packets_received += c.server.packets_received();
            stats.packets_sent += c.server.packets_sent();
        }
        for s in self.sessions.values() {
            if s.conn.is_some() {
                stats.clients_connected += 1;
            } else {
                stats.clients_disconnected += 1;
            }
            stats.queued_messages += s.offline_len();
        }
        for c in self.conns.values() {
            stats.queued_messages += c.held_len();
        }
        stats.publish_dropped = self.dropped;
        stats.subscriptions = self.subs.len();
        stats.retained_messages = self.retained.len();
        stats
    }

    /// Messages queued for the session of `client_id` and not handed to
    /// a connection yet (0 when it is unknown): in its offline queue, or
    /// while connected, waiting for room in its window or held while its
    /// connection is congested. Expired ones not purged yet are included.
    pub fn queued_for(&self, client_id: &str) -> usize {
        let Some(s) = self
            .by_client_id
            .get(client_id)
            .and_then(|k| self.sessions.get(k))
        else {
            return 0;
        };
        let held = s
            .conn
            .and_then(|id| self.conns.get(&id))
            .map_or(0, |c| c.held_len());
        s.offline_len() + held
    }

    /// The Client Identifier of the session `conn` serves (assigned or
    /// not), once its CONNECT was accepted.
    pub fn client_id(&self, conn: ConnectionId) -> Option<&str> {
        let key = self.conns.get(&conn)?.key()?;
        self.sessions.get(&key).map(|s| &*s.client_id)
    }

    /// Whether `conn` waits for a deferred authentication decision
    /// ([`AuthDecision::Pending`]), at connect or re-authentication.
    pub fn authentication_pending(&self, conn: ConnectionId) -> bool {
        self.conns.get(&conn).is_some_and(|c| {
            matches!(
                c.auth,
                AuthStage::Connecting { pending: true, .. }
                    | AuthStage::Reauthenticating { pending: true }
            )
        })
    }

    // ----- inputs ------------------------------------------------------

    /// A new transport connection; returns its identifier.
    pub fn connection_opened(&mut self, now: Instant) -> ConnectionId {
        self.counters.clients_maximum = self.counters.clients_maximum.max(self.conns.len() + 1);
        let id = ConnectionId(self.next_conn);
        self.next_conn += 1;
        let mut server = ServerConnection::new(self.opts.server.clone());
        server.handle_timeout(now);
        self.conns.insert(
            id,
            Conn {
                server,
                key: None,
                close_requested: false,
                counted: false,
                auth: AuthStage::Idle,
                in_ready: false,
                rare: None,
                writable: true,
                deadline: NO_DEADLINE,
            },
        );
        self.reschedule(id);
        id
    }

    /// Bytes received on `conn`, in any chunking. Unknown connections are
    /// ignored.
    pub fn handle_input(&mut self, conn: ConnectionId, now: Instant, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.server.handle_input(now, data);
        self.process(conn, now);
    }

    /// Sets the User Name of `conn` from its transport, before its CONNECT
    /// arrives: the identity of a TLS client certificate, as mosquitto's
    /// `use_identity_as_username` does. The CONNECT's User Name is
    /// replaced by it, for authentication ([`ConnectInfo::username`]), for
    /// authorization and for the session. Fails (and changes nothing) for
    /// an unknown connection or a name that is not a valid MQTT string.
    pub fn set_transport_username(
        &mut self,
        conn: ConnectionId,
        username: &str,
    ) -> Result<(), crate::codec::Error> {
        MqttString::from_str(username)?;
        if let Some(c) = self.conns.map.get_mut(&conn) {
            c.rare_mut().transport_username = Some(username.into());
        }
        Ok(())
    }

    /// Whether the driver can write to the transport of `conn`: `false`
    /// when the socket stopped taking bytes (a write returned
    /// `WouldBlock`, asyncio's `pause_writing`), `true` when it takes them
    /// again. Connections start writable. While not writable,
    /// [`poll_output`](Self::poll_output) hands out nothing for `conn`
    /// (unless the engine is closing it): its bytes stay in the engine,
    /// and once they reach [`BrokerLimits::max_output_bytes_per_connection`]
    /// the connection is congested: QoS 0 messages for it are dropped and
    /// counted ([`congestion_dropped_messages`](Self::congestion_dropped_messages)),
    /// QoS 1 and 2 messages wait in its session's queue (within
    /// [`BrokerLimits::max_queued_messages`] and
    /// [`BrokerLimits::max_queued_bytes`]) and follow when it is writable
    /// again. The client is not disconnected for being slow. Unknown
    /// connections are ignored.
    ///
    /// Input still makes output for a connection that is not writable
    /// (acknowledgements, PINGRESP): a driver bounds that by not reading
    /// from it until it is writable again, as TCP itself would.
    ///
    /// A driver that never calls it keeps every connection writable and
    /// takes all output at once (bounding it is then its own business).
    pub fn set_writable(&mut self, conn: ConnectionId, now: Instant, writable: bool) {
        // `get_mut` marks it for `poll_output`.
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.writable = writable;
        if writable {
            self.release_held(conn, now);
        }
    }

    /// A message published by the broker itself (for example its `$SYS`
    /// topics): retained when `publish.retain` is set, and routed to every
    /// subscriber allowed to read it, as if a client had sent it, with no
    /// client to skip for No Local. Returns what a client would have been
    /// acknowledged with (0x10 No matching subscribers, 0x97 Quota
    /// exceeded for a retained message beyond the limits, ...).
    pub fn publish(&mut self, now: Instant, publish: Publish) -> ReasonCode {
        self.route(None, now, &publish)
    }

    /// The answer to an authentication the [`Authenticator`] deferred
    /// with [`AuthDecision::Pending`] (at connect or re-authentication):
    /// applied as if the hook had returned it. `Pending` again leaves it
    /// pending. Fails when nothing is pending on `conn` (for example
    /// because its connect timeout passed and it was closed).
    pub fn complete_authentication(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        decision: AuthDecision,
    ) -> Result<(), CompleteAuthError> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(CompleteAuthError::UnknownConnection);
        };
        if c.close_requested || c.server.state() == ServerState::Closed {
            return Err(CompleteAuthError::UnknownConnection);
        }
        match &mut c.auth {
            AuthStage::Connecting { pending, .. } | AuthStage::Reauthenticating { pending }
                if *pending =>
            {
                *pending = false;
            }
            _ => return Err(CompleteAuthError::NotPending),
        }
        self.apply_decision(conn, now, decision);
        self.process(conn, now);
        Ok(())
    }

    /// The time passed: keep alive and connect timeouts, retained message
    /// expiry, session expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each visits only what is due, in the order of its key (as a scan
        // of the tables did).
        for id in self.conn_deadlines.due(now) {
            if let Some(c) = self.conns.get_mut(&id) {
                c.server.handle_timeout(now);
            }
            self.process(id, now);
        }
        self.retained.purge_expired(now);
        for key in self.session_deadlines.due(now) {
            if self.sessions.get(&key).is_none_or(|s| s.conn.is_some()) {
                continue;
            }
            self.counters.clients_expired += 1;
            self.remove_session(key, now);
        }
        for key in self.will_deadlines.due(now) {
            if let Some(will) = self.remove_will(key) {
                self.route(Some(key), now, &will);
            }
        }
    }

    /// The transport of `conn` closed (on either side's initiative): the
    /// will is published if due, the session kept or discarded, and the
    /// connection forgotten.
    pub fn connection_closed(&mut self, conn: ConnectionId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.server.handle_transport_closed(now);
        self.process(conn, now);
        if let Some(c) = self.conns.remove(&conn) {
            self.active -= usize::from(c.counted);
            let old = (c.deadline != NO_DEADLINE).then_some(c.deadline);
            self.conn_deadlines.update(conn, old, None);
            self.counters.packets_received += c.server.packets_received();
            self.counters.packets_sent += c.server.packets_sent();
        }
    }

    /// The broker is stopping: every connected client is sent DISCONNECT
    /// 0x8B Server shutting down (5.0; 3.1.1 clients have no such packet)
    /// and every connection is handed to [`poll_close`](Self::poll_close).
    /// The driver then flushes the output, closes the transports and calls
    /// [`connection_closed`](Self::connection_closed) as usual.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for id in ids {
            if let Some(c) = self.conns.get_mut(&id) {
                if c.server.state() == ServerState::Connected {
                    let _ = c.server.disconnect(
                        now,
                        ReasonCode::ServerShuttingDown,
                        DisconnectProperties::default(),
                    );
                }
            }
            self.process(id, now);
            self.request_close(id);
        }
    }

    // ----- outputs -----------------------------------------------------

    /// Copies bytes to send on `conn` into `buf`; returns how many.
    pub fn poll_transmit(&mut self, conn: ConnectionId, buf: &mut [u8]) -> usize {
        self.conns
            .get_mut(&conn)
            .map_or(0, |c| c.server.poll_transmit(buf))
    }

    /// The next connection with bytes to send, and all of them.
    /// Connections are served in the order they got bytes to send (a
    /// served connection that gets more goes to the back), so one that
    /// always has bytes cannot starve the others; the cost does not grow
    /// with the number of idle connections.
    pub fn poll_output(&mut self) -> Option<(ConnectionId, Bytes)> {
        self.conns.next_output()
    }

    /// A connection the engine wants closed: send what
    /// [`poll_output`](Self::poll_output) has for it first, close the
    /// transport, then call [`connection_closed`](Self::connection_closed).
    pub fn poll_close(&mut self) -> Option<ConnectionId> {
        // A request for a connection already closed (the driver reported
        // it first) names nothing any more.
        while let Some(id) = self.closes.pop_front() {
            if self.conns.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }

    /// The earliest time [`handle_timeout`](Self::handle_timeout) must be
    /// called.
    ///
    /// Costs O(log n) in the number of connections and sessions. (A
    /// connection deadline at `Instant::MAX`, the end of time, counts as
    /// none.)
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.conn_deadlines.first(),
            self.session_deadlines.first(),
            self.will_deadlines.first(),
            self.retained.next_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// [`poll_timeout`](Self::poll_timeout) computed from every
    /// connection, session and will rather than from the engine's index
    /// of deadlines: the two must agree (tests and fuzzing check it).
    /// Costs O(n).
    #[doc(hidden)]
    pub fn poll_timeout_scan(&self) -> Option<Instant> {
        let conns = self
            .conns
            .values()
            .filter_map(|c| c.server.poll_timeout().filter(|&t| t != NO_DEADLINE));
        let sessions = self.sessions.values().filter_map(|s| s.expires_at());
        let wills = self.wills.values().map(|(t, _)| *t);
        conns
            .chain(sessions)
            .chain(wills)
            .chain(self.retained.next_expiry())
            .min()
    }

    // ----- internals ---------------------------------------------------

    /// Handles the events of `id`, then moves its deadline in
    /// [`Broker::conn_deadlines`]. Every change to a connection's deadline
    /// (input, a timeout, accept, reject, closing) is made by a call on
    /// its [`ServerConnection`] that makes an event, handled here; those
    /// that make none (publish, output) leave the deadline alone.
    fn process(&mut self, id: ConnectionId, now: Instant) {
        self.process_events(id, now);
        self.reschedule(id);
    }

    /// Moves the entry of `id` in [`Broker::conn_deadlines`] to its
    /// connection's deadline now, and counts it in [`Broker::active`] or
    /// not as its state now says.
    fn reschedule(&mut self, id: ConnectionId) {
        let Some(c) = self.conns.map.get_mut(&id) else {
            return;
        };
        let active = !c.close_requested
            && matches!(
                c.server.state(),
                ServerState::Connecting | ServerState::Connected
            );
        if active != c.counted {
            c.counted = active;
            if active {
                self.active += 1;
            } else {
                self.active -= 1;
            }
        }
        let new = c.server.poll_timeout().unwrap_or(NO_DEADLINE);
        let old = core::mem::replace(&mut c.deadline, new);
        let some = |t: Instant| (t != NO_DEADLINE).then_some(t);
        self.conn_deadlines.update(id, some(old), some(new));
    }

    /// Moves the expiry of the session `key` in
    /// [`Broker::session_deadlines`] to `expires_at`.
    fn set_expires_at(&mut self, key: ClientKey, expires_at: Option<Instant>) {
        if let Some(s) = self.sessions.get_mut(&key) {
            let old = core::mem::replace(&mut s.expires_at, expires_at.unwrap_or(NO_DEADLINE));
            self.session_deadlines
                .update(key, (old != NO_DEADLINE).then_some(old), expires_at);
        }
    }

    /// Removes the will waiting for the session `key`, if any.
    fn remove_will(&mut self, key: ClientKey) -> Option<Publish> {
        let (at, will) = self.wills.remove(&key)?;
        self.will_deadlines.update(key, Some(at), None);
        if self.sessions.get(&key).is_some_and(|s| s.durable) {
            self.journal
                .push(|| Record::WillGone { session: key.get() });
        }
        Some(will)
    }

    fn process_events(&mut self, id: ConnectionId, now: Instant) {
        loop {
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            let Some(event) = c.server.poll_event() else {
                return;
            };
            match event {
                ServerEvent::ConnectRequested(connect) => self.on_connect(id, now, connect),
                ServerEvent::AuthReceived(auth) => self.on_auth(id, now, auth),
                ServerEvent::Message(p) => self.on_message(id, now, p),
                ServerEvent::Subscribe(s) => self.on_subscribe(id, now, s),
                ServerEvent::Unsubscribe(u) => self.on_unsubscribe(id, now, u),
                ServerEvent::WillPublish(w) => self.on_will(id, now, w),
                ServerEvent::Disconnected(reason) => self.on_disconnected(id, now, reason),
                // Room in the window: queued messages may follow.
                ServerEvent::PublishCompleted { packet_id, .. } => {
                    self.message_done(id, packet_id);
                    self.release_held(id, now);
                }
                ServerEvent::PublishDropped { packet_id, .. } if packet_id != 0 => {
                    self.message_done(id, packet_id);
                }
                ServerEvent::PublishReleased { packet_id } => {
                    let found = self
                        .durable_session(id)
                        .and_then(|(key, s)| Some((key, s.seqs.get(packet_id)?)));
                    if let Some((key, seq)) = found {
                        self.journal.push(|| Record::MessageState {
                            session: key.get(),
                            seq,
                            packet_id,
                            released: true,
                        });
                    }
                }
                ServerEvent::ReleaseReceived { packet_id } => {
                    if let Some(key) = self.durable_session(id).map(|(key, _)| key) {
                        self.journal.push(|| Record::InboundQos2Gone {
                            session: key.get(),
                            packet_id,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    /// The session `id` serves, when the store knows it.
    fn durable_session(&mut self, id: ConnectionId) -> Option<(ClientKey, &mut Session)> {
        let key = self.conns.get(&id)?.key()?;
        let s = self.sessions.get_mut(&key)?;
        s.durable.then_some((key, &mut **s))
    }

    /// The message in flight to `id` with `packet_id` is done (completed
    /// or dropped): the store forgets it.
    fn message_done(&mut self, id: ConnectionId, packet_id: u16) {
        if !self.journal.on() {
            return;
        }
        let found = self
            .durable_session(id)
            .and_then(|(key, s)| Some((key, s.seqs.done(packet_id)?)));
        if let Some((key, seq)) = found {
            self.journal.push(|| Record::MessageGone {
                session: key.get(),
                seq,
            });
        }
    }

    /// Writes the session `key` to the store when it is persistent (again,
    /// with its current expiry and User Name), or its end when it is not
    /// any more.
    fn record_session(&mut self, key: ClientKey) {
        if !self.journal.on() {
            return;
        }
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if s.persistent {
            s.durable = true;
            let s = &**s;
            self.journal.push(|| Record::Session {
                session: key.get(),
                client_id: Box::from(&*s.client_id),
                expiry: s.expiry,
                username: s.username.clone(),
                expires_at: s.expires_at(),
            });
        } else if s.durable {
            s.durable = false;
            s.seqs.clear();
            self.journal
                .push(|| Record::SessionGone { session: key.get() });
        }
    }

    fn request_close(&mut self, id: ConnectionId) {
        if let Some(c) = self.conns.get_mut(&id) {
            if !c.close_requested {
                c.close_requested = true;
                if c.counted {
                    c.counted = false;
                    self.active -= 1;
                }
                self.closes.push_back(id);
            }
        }
    }

    /// Refuses a CONNECT waiting for its decision. A code that cannot be
    /// a refusal in CONNACK becomes 0x80 Unspecified error.
    fn reject(&mut self, id: ConnectionId, now: Instant, code: ReasonCode) {
        let code = if code.is_error() && code.allowed_in(PacketType::ConnAck) {
            code
        } else {
            ReasonCode::UnspecifiedError
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.auth = AuthStage::Idle;
            let _ = c.server.reject(now, code, ConnAckProperties::default());
        }
    }

    /// Connections past CONNECT (authenticating or accepted), other than
    /// `except`: O(log n), from [`Broker::active`]. Every other
    /// connection's state is up to date there, as the state changes only
    /// by calls whose events [`Broker::process`] handles before it
    /// returns (and a CONNECT is handled within its own connection's).
    fn active_connections(&self, except: ConnectionId) -> usize {
        let counted = self.conns.get(&except).is_some_and(|c| c.counted);
        let active = self.active - usize::from(counted);
        debug_assert_eq!(active, self.active_connections_scan(except));
        active
    }

    /// [`Broker::active_connections`] by a scan of every connection.
    fn active_connections_scan(&self, except: ConnectionId) -> usize {
        self.conns
            .iter()
            .filter(|(id, c)| {
                **id != except
                    && !c.close_requested
                    && matches!(
                        c.server.state(),
                        ServerState::Connecting | ServerState::Connected
                    )
            })
            .count()
    }

    fn on_connect(&mut self, id: ConnectionId, now: Instant, mut connect: Box<Connect>) {
        if let Some(name) = self
            .conns
            .get(&id)
            .and_then(|c| c.rare.as_ref()?.transport_username.as_deref())
        {
            // Checked when it was set: a name without U+0000.
            connect.username = MqttString::from_str(name).ok();
        }
        // The connection limit; a takeover does not add a connection.
        let takes_over = !connect.client_id.is_empty()
            && self
                .by_client_id
                .get(connect.client_id.as_str())
                .and_then(|k| self.sessions.get(k))
                .is_some_and(|s| s.conn.is_some_and(|c| c != id));
        if !takes_over && self.active_connections(id) >= self.opts.limits.max_connections {
            self.reject(id, now, ReasonCode::QuotaExceeded);
            return;
        }
        if connect
            .will
            .as_ref()
            .is_some_and(|w| w.payload.len() > self.opts.limits.max_payload_bytes)
        {
            self.reject(id, now, ReasonCode::PacketTooLarge);
            return;
        }
        let p = &connect.properties;
        let info = ConnectInfo {
            connection: id,
            protocol_version: connect.protocol_version,
            client_id: connect.client_id.as_str(),
            username: connect.username.as_ref().map(|u| u.as_str()),
            password: connect.password.as_deref(),
            authentication_method: p.authentication_method.as_ref().map(|m| m.as_str()),
            authentication_data: p.authentication_data.as_deref(),
            connect: &connect,
        };
        let decision = self.authenticator.authenticate_connect(&info);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.auth = AuthStage::Connecting {
            connect,
            pending: false,
        };
        self.apply_decision(id, now, decision);
    }

    fn on_auth(&mut self, id: ConnectionId, now: Instant, auth: Auth) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let reauthentication = c.server.state() == ServerState::Connected;
        if reauthentication {
            c.auth = AuthStage::Reauthenticating { pending: false };
        }
        let (client_id, username) = match (&c.auth, c.key()) {
            (AuthStage::Connecting { connect, .. }, _) => (
                connect.client_id.as_str(),
                connect.username.as_ref().map(|u| u.as_str()),
            ),
            (_, Some(key)) => match self.sessions.get(&key) {
                Some(s) => (&*s.client_id, s.username.as_deref()),
                None => ("", None),
            },
            _ => ("", None),
        };
        let p = &auth.properties;
        let info = AuthInfo {
            connection: id,
            client_id,
            username,
            authentication_method: p.authentication_method.as_ref().map_or("", |m| m.as_str()),
            authentication_data: p.authentication_data.as_deref(),
            reason_code: auth.reason_code,
            reauthentication,
        };
        let decision = self.authenticator.authenticate_auth(&info);
        self.apply_decision(id, now, decision);
    }

    /// Carries out the authenticator's answer for `id`.
    fn apply_decision(&mut self, id: ConnectionId, now: Instant, decision: AuthDecision) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match (&mut c.auth, decision) {
            (AuthStage::Idle, _) => {}
            (
                AuthStage::Connecting { pending, .. } | AuthStage::Reauthenticating { pending },
                AuthDecision::Pending,
            ) => *pending = true,
            (AuthStage::Connecting { .. }, AuthDecision::Accept(data)) => {
                let AuthStage::Connecting { connect, .. } =
                    core::mem::replace(&mut c.auth, AuthStage::Idle)
                else {
                    return;
                };
                self.finish_connect(id, now, connect, data);
            }
            (AuthStage::Connecting { .. }, AuthDecision::Reject(code)) => {
                self.reject(id, now, code);
            }
            (AuthStage::Connecting { connect, .. }, AuthDecision::Continue(data)) => {
                if connect.properties.authentication_method.is_none() {
                    // [MQTT-4.12.0-6] no AUTH without a method.
                    self.reject(id, now, ReasonCode::BadAuthenticationMethod);
                    return;
                }
                let mut auth = Auth::new(ReasonCode::ContinueAuthentication);
                auth.properties.authentication_data = data;
                if c.server.auth(now, auth).is_err() {
                    self.reject(id, now, ReasonCode::UnspecifiedError);
                }
            }
            (AuthStage::Reauthenticating { .. }, AuthDecision::Accept(data)) => {
                c.auth = AuthStage::Idle;
                let mut auth = Auth::new(ReasonCode::Success);
                auth.properties.authentication_data = data;
                if c.server.auth(now, auth).is_err() {
                    self.end_reauthentication(id, now, ReasonCode::UnspecifiedError);
                }
            }
            (AuthStage::Reauthenticating { .. }, AuthDecision::Continue(data)) => {
                let mut auth = Auth::new(ReasonCode::ContinueAuthentication);
                auth.properties.authentication_data = data;
                if c.server.auth(now, auth).is_err() {
                    self.end_reauthentication(id, now, ReasonCode::UnspecifiedError);
                }
            }
            (AuthStage::Reauthenticating { .. }, AuthDecision::Reject(code)) => {
                self.end_reauthentication(id, now, code);
            }
        }
    }

    /// A failed re-authentication: DISCONNECT with `code` (0x87 Not
    /// authorized when `code` is not a DISCONNECT error) and close
    /// [MQTT-4.12.1-2].
    fn end_reauthentication(&mut self, id: ConnectionId, now: Instant, code: ReasonCode) {
        let code = if code.is_error() && code.allowed_in(PacketType::Disconnect) {
            code
        } else {
            ReasonCode::NotAuthorized
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.auth = AuthStage::Idle;
            let _ = c
                .server
                .disconnect(now, code, DisconnectProperties::default());
        }
        self.request_close(id);
    }

    /// The CONNECT of `id` is authenticated: takeover, session, CONNACK.
    fn finish_connect(
        &mut self,
        id: ConnectionId,
        now: Instant,
        connect: Box<Connect>,
        auth_data: Option<Bytes>,
    ) {
        let username = connect
            .username
            .as_ref()
            .map(|u| Box::<str>::from(u.as_str()));
        let mut accept = Accept::new();
        if connect.properties.authentication_method.is_some() {
            // [MQTT-4.12.0-5] the method (filled in by the connection) and
            // the final data.
            accept.properties.authentication_data = auth_data;
        }
        let client_id = if connect.client_id.is_empty() {
            // [MQTT-3.2.2-16] / [MQTT-3.1.3-6]: unique, so a name a client
            // chose itself (kept or connected) is skipped.
            let mut name = format!("auto-{}", self.next_assigned);
            self.next_assigned += 1;
            while self.by_client_id.contains_key(name.as_str()) {
                name = format!("auto-{}", self.next_assigned);
                self.next_assigned += 1;
            }
            match MqttString::from_str(&name) {
                Ok(s) => accept = accept.with_assigned_client_id(s),
                Err(_) => {
                    self.reject(id, now, ReasonCode::ServerUnavailable);
                    return;
                }
            }
            name
        } else {
            String::from(connect.client_id.as_str())
        };
        let expiry = if connect.protocol_version.is_v5() {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            u32::MAX
        };
        let persistent = expiry > 0;

        // Takeover [MQTT-3.1.4-3].
        if let Some(&key) = self.by_client_id.get(client_id.as_str()) {
            if let Some(old) = self.sessions.get(&key).and_then(|s| s.conn) {
                if old != id {
                    if let Some(c) = self.conns.get_mut(&old) {
                        let _ = c.server.disconnect(
                            now,
                            ReasonCode::SessionTakenOver,
                            DisconnectProperties::default(),
                        );
                    }
                    self.process(old, now);
                    self.request_close(old);
                    // Whatever happened, the old connection no longer
                    // serves the session.
                    if let Some(s) = self.sessions.get_mut(&key) {
                        if s.conn == Some(old) {
                            s.conn = None;
                        }
                    }
                }
            }
        }

        let existing = self.by_client_id.get(client_id.as_str()).copied();
        let mut resumed: (VecDeque<Queued>, usize) = Default::default();
        let key = match existing {
            Some(key) if !connect.clean_start => {
                let Some(s) = self.sessions.get_mut(&key) else {
                    return;
                };
                let Offline {
                    stored,
                    queue,
                    bytes,
                } = s.offline.take().map(|o| *o).unwrap_or_default();
                // The queue follows through the engine's own (`held`),
                // which numbers each message as it is sent; expired
                // messages are dropped there [MQTT-3.3.2-5] and the
                // others carry what is left [MQTT-3.3.2-6].
                resumed = (queue, bytes);
                accept = accept.with_session(stored);
                key
            }
            _ => {
                if let Some(key) = existing {
                    self.remove_session(key, now);
                }
                // A full store evicts the session offline longest; when
                // every session is connected, only a client that would
                // keep its session is refused (the others' sessions end
                // with their connections, bounded by max_connections).
                if !self.make_room_for_session(now) && persistent {
                    self.reject(id, now, ReasonCode::ServerBusy);
                    return;
                }
                let key = ClientKey::new(self.next_key);
                // Never 0 (see `Conn::key`), also once the numbers wrap.
                self.next_key = self.next_key.wrapping_add(1).max(1);
                let client_id: SharedStr = SharedStr::from(client_id);
                self.sessions.insert(
                    key,
                    Box::new(Session {
                        client_id: client_id.clone(),
                        username: None,
                        conn: None,
                        persistent,
                        expiry,
                        expires_at: NO_DEADLINE,
                        offline: None,
                        offline_seq: NO_SEQ,
                        durable: false,
                        seqs: InFlight::default(),
                    }),
                );
                self.by_client_id.insert(client_id, key);
                key
            }
        };
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.server.accept(now, accept).is_err() {
            let _ = c
                .server
                .reject(now, ReasonCode::ServerUnavailable, Default::default());
            self.remove_session(key, now);
            return;
        }
        c.key = NonZeroU32::new(key.get());
        // Reconnected before the will delay ended: no will.
        self.remove_will(key);
        self.set_expires_at(key, None);
        if let Some(s) = self.sessions.get_mut(&key) {
            s.conn = Some(id);
            let seq = core::mem::replace(&mut s.offline_seq, NO_SEQ);
            if seq != NO_SEQ {
                self.offline_order.remove(&seq);
            }
            s.persistent = persistent;
            s.expiry = expiry;
            s.username = username;
        }
        self.record_session(key);
        if !resumed.0.is_empty() {
            if let Some(c) = self.conns.map.get_mut(&id) {
                let r = c.rare_mut();
                r.held = resumed.0;
                r.held_bytes = resumed.1;
            }
            self.release_held(id, now);
        }
    }

    /// Evicts kept sessions of offline clients, the one offline longest
    /// first, until a new session fits [`BrokerLimits::max_sessions`];
    /// returns whether it fits.
    fn make_room_for_session(&mut self, now: Instant) -> bool {
        while self.sessions.len() >= self.opts.limits.max_sessions {
            let Some((_, key)) = self.offline_order.pop_first() else {
                return false;
            };
            if let Some(s) = self.sessions.get_mut(&key) {
                s.offline_seq = NO_SEQ;
                if s.conn.is_none() {
                    self.evicted += 1;
                    self.remove_session(key, now);
                }
            }
        }
        true
    }

    fn remove_session(&mut self, key: ClientKey, now: Instant) {
        if let Some(s) = self.sessions.remove(&key) {
            if s.durable {
                self.journal
                    .push(|| Record::SessionGone { session: key.get() });
            }
            self.session_deadlines.update(key, s.expires_at(), None);
            self.by_client_id.remove(&*s.client_id);
            if s.offline_seq != NO_SEQ {
                self.offline_order.remove(&s.offline_seq);
            }
        }
        self.subs.remove_client(key);
        if let Some(will) = self.remove_will(key) {
            self.route(Some(key), now, &will);
        }
    }

    fn authorized(&self, key: ClientKey, topic: &str, access: Access) -> bool {
        let Some(authorizer) = &self.authorizer else {
            return true;
        };
        let Some(s) = self.sessions.get(&key) else {
            return false;
        };
        authorizer.authorize(&s.client_id, s.username.as_deref(), topic, access)
    }

    fn subscription_authorized(&self, key: ClientKey, filter: &str) -> bool {
        let Some(authorizer) = &self.authorizer else {
            return true;
        };
        let Some(s) = self.sessions.get(&key) else {
            return false;
        };
        authorizer.authorize_subscription(&s.client_id, s.username.as_deref(), filter)
    }

    fn on_message(&mut self, id: ConnectionId, now: Instant, p: Publish) {
        self.counters.publish_received += 1;
        let Some(key) = self.conns.get(&id).and_then(|c| c.key()) else {
            return;
        };
        let topic = p.topic.as_str();
        let code = if p.payload.len() > self.opts.limits.max_payload_bytes {
            // Not routed nor retained. mosquitto answers 0x95, which 5.0
            // does not allow in PUBACK or PUBREC (3.4.2.1, 3.5.2.1).
            ReasonCode::QuotaExceeded
        } else if !self.opts.limits.topic_depth_allowed(topic) {
            ReasonCode::TopicNameInvalid
        } else if !self.authorized(key, topic, Access::Write) {
            // 5.0: 0x87; 3.1.1: a positive acknowledgement, the message
            // not routed [MQTT-3.3.5-2] (the connection maps the code).
            ReasonCode::NotAuthorized
        } else {
            self.route(Some(key), now, &p)
        };
        if p.qos != QoS::AtMostOnce {
            if let Some(c) = self.conns.get_mut(&id) {
                let acked = c.server.acknowledge(now, p.packet_id, code).is_ok();
                // A QoS 2 message the connection keeps as received (5.0
                // forgets one refused with an error code): the store keeps
                // it too, so that its resend after a restart is not routed
                // again [MQTT-4.3.3-10].
                let kept = !(code.is_error() && c.server.version().is_v5());
                if acked && kept && p.qos == QoS::ExactlyOnce {
                    let packet_id = p.packet_id;
                    if self.sessions.get(&key).is_some_and(|s| s.durable) {
                        self.journal.push(|| Record::InboundQos2 {
                            session: key.get(),
                            packet_id,
                        });
                    }
                }
            }
        }
    }

    fn on_will(&mut self, id: ConnectionId, now: Instant, w: Will) {
        let Some(key) = self.conns.get(&id).and_then(|c| c.key()) else {
            return;
        };
        let topic = w.topic.as_str();
        if !self.opts.limits.topic_depth_allowed(topic)
            || !self.authorized(key, topic, Access::Write)
        {
            return;
        }
        let wp = &w.properties;
        let properties = PublishProperties {
            payload_format_indicator: wp.payload_format_indicator,
            message_expiry_interval: wp.message_expiry_interval,
            content_type: wp.content_type.clone(),
            response_topic: wp.response_topic.clone(),
            correlation_data: wp.correlation_data.clone(),
            user_properties: wp.user_properties.clone(),
            ..Default::default()
        };
        let delay = self.sessions.get(&key).map_or(0, |s| {
            w.properties
                .will_delay_interval
                .unwrap_or(0)
                .min(if s.persistent { s.expiry } else { 0 })
        });
        // Decoding checked the Will Topic as a topic name (spec 3.1.3.3).
        let Ok(topic) = TopicName::try_from(w.topic) else {
            return;
        };
        let p = Publish {
            dup: false,
            qos: w.qos,
            retain: w.retain,
            topic,
            packet_id: 0,
            properties: properties.into(),
            payload: w.payload,
        };
        if delay == 0 {
            self.route(Some(key), now, &p);
        } else {
            // [MQTT-3.1.3-9]: published after the delay or when the
            // session ends, unless the client reconnects first.
            let at = now + u64::from(delay) * 1000;
            if self.sessions.get(&key).is_some_and(|s| s.durable) {
                self.journal.push(|| Record::Will {
                    session: key.get(),
                    at,
                    publish: p.clone(),
                });
            }
            let old = self.wills.insert(key, (at, p)).map(|(t, _)| t);
            self.will_deadlines.update(key, old, Some(at));
        }
    }

    /// Retains and routes a message; returns the acknowledgement's code.
    fn route(&mut self, publisher: Option<ClientKey>, now: Instant, p: &Publish) -> ReasonCode {
        let mut code = ReasonCode::Success;
        if p.retain {
            match self.retained.set(p, now) {
                Err(e) => code = e.reason_code(),
                Ok(_) if volatile_topic(p.topic.as_str()) => {}
                Ok(_) if p.payload.is_empty() => self.journal.push(|| Record::RetainedGone {
                    topic: Box::from(p.topic.as_str()),
                }),
                Ok(_) => self.journal.push(|| Record::Retained {
                    stored_at: now,
                    publish: p.clone(),
                }),
            }
        }
        let sessions = &self.sessions;
        let deliveries = self.subs.route_with(p.topic.as_str(), publisher, |k| {
            sessions.get(&k).is_some_and(|s| s.conn.is_some())
        });
        if deliveries.is_empty() && code == ReasonCode::Success && self.opts.no_matching_subscribers
        {
            code = ReasonCode::NoMatchingSubscribers;
        }
        for d in deliveries {
            if !self.authorized(d.client, p.topic.as_str(), Access::Read) {
                continue;
            }
            let mut out = p.clone();
            out.dup = false;
            out.qos = d.qos_for(p.qos);
            out.retain = d.retain_flag(p.retain);
            out.packet_id = 0;
            out.properties.topic_alias = None;
            out.properties.subscription_identifiers = d.subscription_identifiers;
            self.deliver(d.client, now, out);
        }
        code
    }

    fn deliver(&mut self, key: ClientKey, now: Instant, p: Publish) {
        let limits = &self.opts.limits;
        let max_inflight = self.opts.server.max_inflight;
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        // The store keeps the QoS 1 and 2 messages of durable sessions.
        let durable = s.durable && p.qos != QoS::AtMostOnce;
        let session = key.get();
        // Takes the message by value: the one path that sends at once has
        // its copy already, the queueing paths clone only when durable.
        let record = |journal: &mut Journal, packet_id: u16, publish: Publish| {
            journal.push(|| Record::Message {
                session,
                seq,
                queued_at: now,
                packet_id,
                released: false,
                publish,
            });
        };
        if let Some(conn) = s.conn {
            if let Some(c) = self.conns.get_mut(&conn) {
                if c.server.state() == ServerState::Connected {
                    let congested = c.congested(limits.max_output_bytes_per_connection);
                    if congested && p.qos == QoS::AtMostOnce {
                        self.dropped += 1;
                        self.congestion_dropped += 1;
                        return;
                    }
                    let now_or_wait = c.held_len() == 0
                        && !congested
                        && (p.qos == QoS::AtMostOnce || c.window_open(max_inflight));
                    if now_or_wait {
                        let kept = durable.then(|| p.clone());
                        match c.server.publish(now, p) {
                            Err(_) => self.dropped += 1,
                            Ok(packet_id) => {
                                self.counters.publish_sent += 1;
                                if let Some(p) = kept {
                                    s.seqs.sent(packet_id, seq);
                                    record(&mut self.journal, packet_id, p);
                                }
                            }
                        }
                        return;
                    }
                    // Behind the window or held while congested, in order.
                    if durable {
                        record(&mut self.journal, 0, p.clone());
                    }
                    let r = c.rare_mut();
                    let durable_session = s.durable;
                    let journal = &mut self.journal;
                    let gone = |gone: u64| {
                        if durable_session {
                            journal.push(|| Record::MessageGone { session, seq: gone });
                        }
                    };
                    if !enqueue(&mut r.held, &mut r.held_bytes, (p, now, seq), limits, gone) {
                        self.dropped += 1;
                    }
                    return;
                }
            }
        }
        if !s.persistent || p.qos == QoS::AtMostOnce {
            return;
        }
        if durable {
            record(&mut self.journal, 0, p.clone());
        }
        let durable_session = s.durable;
        let journal = &mut self.journal;
        let mut gone = |gone: u64| {
            if durable_session {
                journal.push(|| Record::MessageGone { session, seq: gone });
            }
        };
        let o = s.offline.get_or_insert_with(Default::default);
        if queue_full(o.queue.len(), o.bytes, limits) {
            // Expired messages make room first.
            let before = o.queue.len();
            o.queue.retain(|(q, at, seq)| {
                let keep = expiry_deadline(q, *at).is_none_or(|t| now < t);
                if !keep {
                    gone(*seq);
                }
                keep
            });
            self.expired += (before - o.queue.len()) as u64;
            o.bytes = o.queue.iter().map(|(q, _, _)| queued_size(q)).sum();
        }
        if !enqueue(&mut o.queue, &mut o.bytes, (p, now, seq), limits, gone) {
            self.dropped += 1;
        }
    }

    /// Hands the messages waiting for `id` to its connection while it is
    /// not congested and, for QoS 1 and 2, its window has room.
    fn release_held(&mut self, id: ConnectionId, now: Instant) {
        let cap = self.opts.limits.max_output_bytes_per_connection;
        let max_inflight = self.opts.server.max_inflight;
        let Some(c) = self.conns.map.get_mut(&id) else {
            return;
        };
        if c.held_len() == 0 || c.server.state() != ServerState::Connected {
            return;
        }
        // The session, when the store knows it.
        let key = c.key();
        let mut durable = key
            .and_then(|k| self.sessions.get_mut(&k))
            .filter(|s| s.durable);
        let session = key.map_or(0, |k| k.get());
        while let Some((front, _, _)) = c.rare.as_ref().and_then(|r| r.held.front()) {
            if c.congested(cap) || (front.qos != QoS::AtMostOnce && !c.window_open(max_inflight)) {
                break;
            }
            let r = c.rare_mut();
            let Some((mut p, at, seq)) = r.held.pop_front() else {
                break;
            };
            r.held_bytes -= queued_size(&p);
            let qos = p.qos;
            let mut gone = || {
                if durable.is_some() && qos != QoS::AtMostOnce {
                    self.journal.push(|| Record::MessageGone { session, seq });
                }
            };
            // [MQTT-3.3.2-5] / [MQTT-3.3.2-6], as for an offline queue.
            if let Some(deadline) = expiry_deadline(&p, at) {
                if now >= deadline {
                    self.expired += 1;
                    gone();
                    continue;
                }
                let left = (deadline - now).div_ceil(1000);
                p.properties.message_expiry_interval =
                    Some(u32::try_from(left).unwrap_or(u32::MAX));
            }
            match c.server.publish(now, p) {
                Err(_) => {
                    self.dropped += 1;
                    gone();
                }
                Ok(packet_id) => {
                    self.counters.publish_sent += 1;
                    if let Some(s) = durable.as_deref_mut() {
                        if qos != QoS::AtMostOnce {
                            s.seqs.sent(packet_id, seq);
                            self.journal.push(|| Record::MessageState {
                                session,
                                seq,
                                packet_id,
                                released: false,
                            });
                        }
                    }
                }
            }
        }
        // Mark it for `poll_output`.
        let _ = self.conns.get_mut(&id);
    }

    fn on_subscribe(&mut self, id: ConnectionId, now: Instant, s: Subscribe) {
        let Some(key) = self.conns.get(&id).and_then(|c| c.key()) else {
            return;
        };
        let max_qos = self.opts.server.maximum_qos;
        let identifier = s.properties.subscription_identifier;
        let mut codes = Vec::with_capacity(s.filters.len());
        let mut retained = Vec::new();
        let mut protocol_error = false;
        for f in &s.filters {
            let filter = f.filter.as_str();
            if !self.subscription_authorized(key, filter) {
                codes.push(ReasonCode::NotAuthorized);
                continue;
            }
            let mut options = f.options;
            options.qos = options.qos.min(max_qos);
            let mut sub = Subscription::new(options);
            sub.identifier = identifier;
            match self.subs.subscribe(key, filter, sub) {
                Ok(outcome) => {
                    codes.push(SubAck::granted(options.qos));
                    if self.sessions.get(&key).is_some_and(|s| s.durable) {
                        self.journal.push(|| Record::Subscription {
                            session: key.get(),
                            filter: Box::from(filter),
                            options,
                            identifier,
                        });
                    }
                    if outcome.sends_retained(filter, options.retain_handling) {
                        for m in self.retained.matching(filter, now) {
                            let mut p = m.publish().clone();
                            p.qos = p.qos.min(options.qos);
                            p.retain = true;
                            p.dup = false;
                            p.packet_id = 0;
                            p.properties.topic_alias = None;
                            p.properties.message_expiry_interval = m.remaining_expiry_interval(now);
                            p.properties.subscription_identifiers =
                                identifier.into_iter().collect();
                            retained.push(p);
                        }
                    }
                }
                Err(SubscribeError::NoLocalOnShared) => {
                    protocol_error = true;
                    codes.push(ReasonCode::ProtocolError);
                }
                Err(e) => codes.push(e.reason_code()),
            }
        }
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if protocol_error {
            let _ = c.server.disconnect(
                now,
                ReasonCode::ProtocolError,
                DisconnectProperties::default(),
            );
            self.request_close(id);
            return;
        }
        let _ = c.server.suback(now, s.packet_id, &codes);
        for p in retained {
            if self.authorized(key, p.topic.as_str(), Access::Read) {
                self.deliver(key, now, p);
            }
        }
    }

    fn on_unsubscribe(&mut self, id: ConnectionId, now: Instant, u: Unsubscribe) {
        let Some(key) = self.conns.get(&id).and_then(|c| c.key()) else {
            return;
        };
        let durable = self.sessions.get(&key).is_some_and(|s| s.durable);
        let codes: Vec<ReasonCode> = u
            .filters
            .iter()
            .map(|f| match self.subs.unsubscribe(key, f.as_str()) {
                Some(_) => {
                    if durable {
                        self.journal.push(|| Record::SubscriptionGone {
                            session: key.get(),
                            filter: Box::from(f.as_str()),
                        });
                    }
                    ReasonCode::Success
                }
                None => ReasonCode::NoSubscriptionExisted,
            })
            .collect();
        if let Some(c) = self.conns.get_mut(&id) {
            let _ = c.server.unsuback_with_properties(
                now,
                u.packet_id,
                &codes,
                AckProperties::default(),
            );
        }
    }

    fn on_disconnected(&mut self, id: ConnectionId, now: Instant, reason: CloseReason) {
        self.authenticator.connection_closed(id);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.auth = AuthStage::Idle;
        let key = c.key.take().map(|k| ClientKey::new(k.get()));
        let stored = c.server.take_session().unwrap_or_default();
        let held = c
            .rare
            .as_mut()
            .map(|r| {
                r.held_bytes = 0;
                core::mem::take(&mut r.held)
            })
            .unwrap_or_default();
        self.request_close(id);
        let Some(key) = key else {
            return;
        };
        let limits = &self.opts.limits;
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if s.conn != Some(id) {
            return;
        }
        s.conn = None;
        if let CloseReason::ByClient(d) = &reason {
            if let Some(expiry) = d.properties.session_expiry_interval {
                s.expiry = expiry;
                s.persistent = expiry > 0;
            }
        }
        if s.persistent {
            let mut stored = stored;
            // Messages the connection had not sent yet (its own queue,
            // then those the engine held for it) join the offline queue,
            // ahead of anything queued meanwhile (the connection's with
            // the Message Expiry Interval that was left now), within its
            // bounds.
            // The connection's own queue holds only resent messages of a
            // resumed session that waited for room in the client's window
            // (the engine hands it only what it can send at once): they
            // were sent before and keep their packet identifier, in
            // flight [MQTT-4.4.0-1]. Anything else there is numbered as a
            // new message.
            let (resent, unsent): (Vec<Publish>, Vec<Publish>) =
                core::mem::take(&mut stored.queued)
                    .into_iter()
                    .partition(|p| p.dup && p.qos != QoS::AtMostOnce && p.packet_id != 0);
            for publish in resent {
                stored.inflight.push(InflightDelivery {
                    publish,
                    released: false,
                });
            }
            let session = key.get();
            let durable = s.durable;
            let mut unsent: Vec<Queued> = unsent
                .into_iter()
                .map(|p| {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    if durable && p.qos != QoS::AtMostOnce {
                        self.journal.push(|| Record::Message {
                            session,
                            seq,
                            queued_at: now,
                            packet_id: 0,
                            released: false,
                            publish: p.clone(),
                        });
                    }
                    (p, now, seq)
                })
                .collect();
            unsent.extend(held);
            let o = s.offline.get_or_insert_with(Default::default);
            let journal = &mut self.journal;
            let mut gone = |p: &Publish, seq: u64| {
                if durable && p.qos != QoS::AtMostOnce {
                    journal.push(|| Record::MessageGone { session, seq });
                }
            };
            for (p, at, seq) in unsent.into_iter().rev() {
                if p.qos == QoS::AtMostOnce {
                    continue;
                }
                if queue_full(o.queue.len(), o.bytes, limits) {
                    self.dropped += 1;
                    match limits.queue_full_policy {
                        // The new messages are those queued meanwhile.
                        QueueFullPolicy::DropNewest if !o.queue.is_empty() => {
                            if let Some((newest, _, newest_seq)) = o.queue.pop_back() {
                                o.bytes -= queued_size(&newest);
                                gone(&newest, newest_seq);
                            }
                        }
                        // Drop oldest, or nothing newer to drop (a bound
                        // of 0): this message, older than any queued, goes.
                        _ => {
                            gone(&p, seq);
                            continue;
                        }
                    }
                }
                o.bytes += queued_size(&p);
                o.queue.push_front((p, at, seq));
            }
            o.stored = stored;
            // mosquitto's `persistent_client_expiration` bounds every
            // session, 3.1.1 ones (which never expire) included.
            let kept = s.expiry.min(limits.max_session_expiry_interval);
            let expires_at = (kept != u32::MAX).then(|| now + u64::from(kept) * 1000);
            if s.offline_seq == NO_SEQ {
                let seq = self.next_offline_seq;
                self.next_offline_seq += 1;
                s.offline_seq = seq;
                self.offline_order.insert(seq, key);
            }
            self.set_expires_at(key, expires_at);
            self.record_session(key);
        } else {
            self.remove_session(key, now);
        }
    }
}
