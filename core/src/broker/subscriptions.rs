//! Every client's subscriptions, and routing: which clients receive a
//! message published to a topic, at which QoS, with which Subscription
//! Identifiers (MQTT 5.0 §3.3.4, §3.8.3.1, §4.8.2).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::fmt;

use super::limits::{BrokerLimits, LimitExceeded};
use crate::codec::{QoS, ReasonCode, RetainHandling, SubscriptionOptions};
use crate::topic::{is_shared, validate_topic_filter, SharedSubscription, TopicError, TopicTrie};

/// A client (more precisely, a session) as the broker's tables name it: a
/// small opaque number the engine assigns, four bytes instead of a copy of
/// the client identifier in every table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientKey(u32);

impl ClientKey {
    /// The key numbered `value`.
    pub const fn new(value: u32) -> Self {
        ClientKey(value)
    }

    /// The key's number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client#{}", self.0)
    }
}

/// One subscription: the options of its SUBSCRIBE entry and the
/// Subscription Identifier of its SUBSCRIBE packet, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Subscription {
    /// The subscription options (maximum QoS, No Local, Retain As
    /// Published, Retain Handling).
    pub options: SubscriptionOptions,
    /// The Subscription Identifier (5.0), 1 to 268 435 455.
    pub identifier: Option<u32>,
}

impl Subscription {
    /// A subscription with these options and no identifier.
    pub const fn new(options: SubscriptionOptions) -> Self {
        Subscription {
            options,
            identifier: None,
        }
    }

    /// Sets the Subscription Identifier.
    pub const fn with_identifier(mut self, identifier: u32) -> Self {
        self.identifier = Some(identifier);
        self
    }
}

/// What [`SubscriptionTable::subscribe`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeOutcome {
    /// The client had no subscription with this filter; it has one now.
    New,
    /// The client's subscription with this exact filter was replaced
    /// `[MQTT-3.8.4-3]`; `previous` is what it was. (Retain Handling 1
    /// sends retained messages only for a [`New`](SubscribeOutcome::New)
    /// subscription.)
    Replaced {
        /// The replaced subscription.
        previous: Subscription,
    },
}

impl SubscribeOutcome {
    /// Whether the retained messages matching `filter` are to be sent now,
    /// for a subscription made with `retain_handling` that had this
    /// outcome: always for 0 `[MQTT-3.3.1-9]`, only for a
    /// [`New`](SubscribeOutcome::New) subscription for 1
    /// `[MQTT-3.3.1-10]`, never for 2 `[MQTT-3.3.1-11]`, and never for a
    /// shared subscription (MQTT 5.0 §4.8.2). Send them with
    /// [`RetainedStore::matching`](super::RetainedStore::matching), RETAIN
    /// set, each at the lower of its QoS and the subscription's
    /// `[MQTT-3.8.4-8]`.
    pub fn sends_retained(self, filter: &str, retain_handling: RetainHandling) -> bool {
        if is_shared(filter) {
            return false;
        }
        match retain_handling {
            RetainHandling::SendAtSubscribe => true,
            RetainHandling::SendAtSubscribeIfNew => self == SubscribeOutcome::New,
            RetainHandling::DoNotSend => false,
        }
    }
}

/// Why a subscription was refused. The table is left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The topic filter is malformed.
    InvalidFilter(TopicError),
    /// No Local set on a shared subscription, a Protocol Error
    /// `[MQTT-3.8.3-4]`.
    NoLocalOnShared,
    /// The client already has
    /// [`BrokerLimits::max_subscriptions_per_client`] subscriptions, or the
    /// filter has more than [`BrokerLimits::max_topic_levels`] levels.
    Limit(LimitExceeded),
}

impl SubscribeError {
    /// The MQTT 5.0 reason code reporting the refusal: 0x8F Topic Filter
    /// invalid (in the SUBACK) for a malformed or too-deep filter, 0x97
    /// Quota exceeded (in the SUBACK) for too many subscriptions, and 0x82
    /// Protocol Error (in a DISCONNECT: the connection is closed) for No
    /// Local on a shared subscription.
    pub const fn reason_code(self) -> ReasonCode {
        match self {
            SubscribeError::InvalidFilter(_)
            | SubscribeError::Limit(LimitExceeded::TopicLevels) => ReasonCode::TopicFilterInvalid,
            SubscribeError::NoLocalOnShared => ReasonCode::ProtocolError,
            SubscribeError::Limit(limit) => limit.reason_code(),
        }
    }
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscribeError::InvalidFilter(error) => write!(f, "topic filter: {error}"),
            SubscribeError::NoLocalOnShared => {
                f.write_str("No Local is not allowed on a shared subscription")
            }
            SubscribeError::Limit(limit) => write!(f, "subscription refused: {limit}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SubscribeError {}

/// One client to deliver a message to, as decided by
/// [`SubscriptionTable::route`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The receiving client.
    pub client: ClientKey,
    /// The maximum QoS of the client's subscriptions that matched
    /// `[MQTT-3.3.4-2]`. Deliver at [`Delivery::qos_for`] the published
    /// QoS: the lower of the two `[MQTT-3.8.4-8]`.
    pub qos: QoS,
    /// Whether any matching subscription has Retain As Published (the
    /// spec does not say how to combine them for a single copy; we keep the
    /// published flag if any subscription asked for it); see
    /// [`Delivery::retain_flag`].
    pub retain_as_published: bool,
    /// The Subscription Identifiers of every matching subscription that
    /// has one, ascending, without duplicates `[MQTT-3.3.4-3]`
    /// `[MQTT-3.3.4-4]`. Put them all in the one PUBLISH sent.
    pub subscription_identifiers: Vec<u32>,
    /// `true` if this delivery comes from a shared subscription (one
    /// member of a group was chosen), `false` for the client's own
    /// subscriptions.
    pub shared: bool,
}

impl Delivery {
    /// A delivery to `client` before any subscription is merged in.
    fn to(client: ClientKey, shared: bool) -> Self {
        Delivery {
            client,
            qos: QoS::AtMostOnce,
            retain_as_published: false,
            subscription_identifiers: Vec::new(),
            shared,
        }
    }

    /// The QoS to deliver a message published with `published` at: the
    /// minimum of it and the subscription's maximum QoS `[MQTT-3.8.4-8]`
    /// (the QoS downgrade is the caller's, with this helper).
    pub fn qos_for(&self, published: QoS) -> QoS {
        published.min(self.qos)
    }

    /// The RETAIN flag of the forwarded PUBLISH of a *live* message (not
    /// one sent because of a new subscription, whose RETAIN flag is always
    /// 1): the published flag if Retain As Published was set
    /// `[MQTT-3.3.1-13]`, else 0 `[MQTT-3.3.1-12]` (always 0 in 3.1.1,
    /// where Retain As Published cannot be set).
    pub fn retain_flag(&self, published_retain: bool) -> bool {
        self.retain_as_published && published_retain
    }
}

/// Clients and their subscriptions on one filter, in client order. Most
/// filters have one or a few subscribers: those live in a small sorted
/// vector (a B-tree would allocate a node of eleven slots for one
/// entry); past [`ClientMap::SMALL`] they move to a B-tree, so that a
/// filter with very many subscribers still costs O(log n) per change.
#[derive(Debug, Clone)]
enum ClientMap {
    Small(Vec<(ClientKey, Subscription)>),
    Large(BTreeMap<ClientKey, Subscription>),
}

impl Default for ClientMap {
    fn default() -> Self {
        ClientMap::Small(Vec::new())
    }
}

impl ClientMap {
    /// Entries kept in the sorted vector before moving to a B-tree.
    const SMALL: usize = 16;

    fn is_empty(&self) -> bool {
        match self {
            ClientMap::Small(v) => v.is_empty(),
            ClientMap::Large(m) => m.is_empty(),
        }
    }

    fn get(&self, client: &ClientKey) -> Option<&Subscription> {
        match self {
            ClientMap::Small(v) => v
                .binary_search_by_key(client, |(k, _)| *k)
                .ok()
                .map(|i| &v[i].1),
            ClientMap::Large(m) => m.get(client),
        }
    }

    fn get_mut(&mut self, client: &ClientKey) -> Option<&mut Subscription> {
        match self {
            ClientMap::Small(v) => match v.binary_search_by_key(client, |(k, _)| *k) {
                Ok(i) => Some(&mut v[i].1),
                Err(_) => None,
            },
            ClientMap::Large(m) => m.get_mut(client),
        }
    }

    /// Inserts or replaces; returns the replaced subscription.
    fn insert(&mut self, client: ClientKey, subscription: Subscription) -> Option<Subscription> {
        match self {
            ClientMap::Small(v) => match v.binary_search_by_key(&client, |(k, _)| *k) {
                Ok(i) => Some(core::mem::replace(&mut v[i].1, subscription)),
                Err(i) if v.len() < Self::SMALL => {
                    // One slot at a time: most filters keep one subscriber.
                    v.reserve_exact(1);
                    v.insert(i, (client, subscription));
                    None
                }
                Err(_) => {
                    let mut m: BTreeMap<ClientKey, Subscription> = v.drain(..).collect();
                    m.insert(client, subscription);
                    *self = ClientMap::Large(m);
                    None
                }
            },
            ClientMap::Large(m) => m.insert(client, subscription),
        }
    }

    fn remove(&mut self, client: &ClientKey) -> Option<Subscription> {
        match self {
            ClientMap::Small(v) => {
                let i = v.binary_search_by_key(client, |(k, _)| *k).ok()?;
                let (_, removed) = v.remove(i);
                if v.is_empty() {
                    *v = Vec::new(); // give the room back
                }
                Some(removed)
            }
            ClientMap::Large(m) => m.remove(client),
        }
    }

    /// The entries in client order.
    fn iter(&self) -> impl Iterator<Item = (&ClientKey, &Subscription)> {
        let (small, large) = match self {
            ClientMap::Small(v) => (Some(v.iter().map(|(k, s)| (k, s))), None),
            ClientMap::Large(m) => (None, Some(m.iter())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }
}

/// The members of one shared subscription group on one filter.
#[derive(Debug, Clone)]
struct SharedGroup {
    /// Members and their subscriptions.
    members: BTreeMap<ClientKey, Subscription>,
    /// Index in [`SubscriptionTable::cursors`] of the group's round-robin
    /// cursor.
    cursor: usize,
}

/// Everything subscribed with one (inner) topic filter.
#[derive(Debug, Clone, Default)]
struct FilterEntry {
    /// Ordinary subscriptions.
    direct: ClientMap,
    /// Shared subscriptions by ShareName.
    groups: BTreeMap<Box<str>, SharedGroup>,
}

impl FilterEntry {
    fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.groups.is_empty()
    }
}

/// The subscriptions of every client, and routing of published messages
/// to them.
///
/// Filters live in a [`TopicTrie`], so [`route`](SubscriptionTable::route)
/// costs time proportional to the topic's levels and the number of
/// matching subscriptions, not to the number of subscriptions stored.
/// Each client holds at most
/// [`BrokerLimits::max_subscriptions_per_client`] subscriptions.
///
/// Routing follows MQTT 5.0 (and is correct for 3.1.1, whose clients
/// cannot set the 5.0-only options):
///
/// * **One delivery per client** for its ordinary subscriptions, however
///   many of them match, with the maximum QoS among them
///   `[MQTT-3.3.4-2]` and all their Subscription Identifiers
///   `[MQTT-3.3.4-3]` `[MQTT-3.3.4-4]`.
/// * **No Local**: a subscription with No Local does not match the
///   publisher's own messages `[MQTT-3.8.3-3]`.
/// * **`$` topics** are not matched by filters starting with a wildcard
///   `[MQTT-4.7.2-1]`.
/// * **Shared subscriptions** `$share/{ShareName}/{filter}`: each
///   matching group on each filter gives exactly one delivery, to one
///   member chosen in round robin (deterministic: the member after the
///   previously chosen one, in key order), as its own
///   [`Delivery`] with [`shared`](Delivery::shared) set, separate from
///   the client's ordinary delivery. No Local is refused on them
///   `[MQTT-3.8.3-4]`.
///
/// ```
/// use mqtt_core::broker::{ClientKey, Subscription, SubscriptionTable};
/// use mqtt_core::codec::{QoS, SubscriptionOptions};
///
/// let mut table = SubscriptionTable::new(16);
/// let alice = ClientKey::new(1);
/// let at = |qos| Subscription::new(SubscriptionOptions::new(qos));
/// table.subscribe(alice, "sensors/#", at(QoS::AtMostOnce)).unwrap();
/// table.subscribe(alice, "sensors/+/temp", at(QoS::AtLeastOnce).with_identifier(7)).unwrap();
///
/// let deliveries = table.route("sensors/kitchen/temp", None);
/// assert_eq!(deliveries.len(), 1);
/// assert_eq!(deliveries[0].client, alice);
/// assert_eq!(deliveries[0].qos, QoS::AtLeastOnce);
/// assert_eq!(deliveries[0].subscription_identifiers, [7]);
/// assert_eq!(deliveries[0].qos_for(QoS::ExactlyOnce), QoS::AtLeastOnce);
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionTable {
    /// Subscriptions by inner topic filter.
    trie: TopicTrie<FilterEntry>,
    /// Each client's full filters (with any `$share/{ShareName}/`).
    clients: BTreeMap<ClientKey, BTreeSet<Box<str>>>,
    /// Round-robin cursors of the shared groups: the key from which to
    /// look for the next member.
    cursors: Vec<u32>,
    /// Slots of `cursors` no longer used.
    free_cursors: Vec<usize>,
    /// Total number of subscriptions.
    len: usize,
    /// Bound on each client's number of subscriptions.
    max_per_client: usize,
    /// Bound on a filter's levels.
    max_levels: usize,
}

impl SubscriptionTable {
    /// Creates an empty table allowing `max_per_client` subscriptions per
    /// client and filters of any depth.
    pub fn new(max_per_client: usize) -> Self {
        SubscriptionTable {
            trie: TopicTrie::new(),
            clients: BTreeMap::new(),
            cursors: Vec::new(),
            free_cursors: Vec::new(),
            len: 0,
            max_per_client,
            max_levels: usize::MAX,
        }
    }

    /// Creates an empty table bounded by
    /// [`BrokerLimits::max_subscriptions_per_client`] and
    /// [`BrokerLimits::max_topic_levels`].
    pub fn from_limits(limits: &BrokerLimits) -> Self {
        SubscriptionTable {
            max_levels: limits.max_topic_levels,
            ..Self::new(limits.max_subscriptions_per_client)
        }
    }

    /// Total number of subscriptions, all clients together.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns `true` if no client has a subscription.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of subscriptions `client` holds.
    pub fn count(&self, client: ClientKey) -> usize {
        self.clients.get(&client).map_or(0, BTreeSet::len)
    }

    /// The topic filters `client` is subscribed with, as subscribed
    /// (shared ones with their `$share/{ShareName}/` prefix), in
    /// lexicographic order.
    pub fn filters(&self, client: ClientKey) -> impl Iterator<Item = &str> + '_ {
        self.clients
            .get(&client)
            .into_iter()
            .flat_map(|filters| filters.iter().map(|filter| &**filter))
    }

    /// The subscription `client` holds with exactly the topic filter
    /// `filter` (as subscribed, `$share/` prefix included).
    pub fn get(&self, client: ClientKey, filter: &str) -> Option<Subscription> {
        let entry = self.trie.get(inner_filter(filter))?;
        match SharedSubscription::parse(filter) {
            Ok(Some(shared)) => entry
                .groups
                .get(shared.group)?
                .members
                .get(&client)
                .copied(),
            _ => entry.direct.get(&client).copied(),
        }
    }

    /// Subscribes `client` with the topic filter `filter`, or replaces its
    /// subscription with exactly that filter `[MQTT-3.8.4-3]`.
    ///
    /// The filter is validated ([`SubscribeError::InvalidFilter`]); No Local
    /// on a `$share/` filter is refused ([`SubscribeError::NoLocalOnShared`],
    /// `[MQTT-3.8.3-4]`); a new subscription beyond the client's bound, or
    /// a filter deeper than the table's bound, is refused with
    /// [`SubscribeError::Limit`]. A replacement is always allowed.
    pub fn subscribe(
        &mut self,
        client: ClientKey,
        filter: &str,
        subscription: Subscription,
    ) -> Result<SubscribeOutcome, SubscribeError> {
        validate_topic_filter(filter).map_err(SubscribeError::InvalidFilter)?;
        let shared = SharedSubscription::parse(filter).map_err(SubscribeError::InvalidFilter)?;
        let inner = shared.map_or(filter, |shared| shared.filter);
        if shared.is_some() && subscription.options.no_local {
            return Err(SubscribeError::NoLocalOnShared);
        }
        let levels = inner.bytes().filter(|&b| b == b'/').count();
        if levels >= self.max_levels {
            return Err(SubscribeError::Limit(LimitExceeded::TopicLevels));
        }
        if let Some(previous) = self.get(client, filter) {
            // Replace in place; the round-robin position is kept.
            if let Some(slot) = self.slot_mut(client, filter) {
                *slot = subscription;
            }
            return Ok(SubscribeOutcome::Replaced { previous });
        }
        if self.count(client) >= self.max_per_client {
            return Err(SubscribeError::Limit(LimitExceeded::SubscriptionsPerClient));
        }

        if self.trie.get(inner).is_none() {
            self.trie.insert(inner, FilterEntry::default());
        }
        let new_cursor = match shared {
            Some(shared) => {
                let exists = self
                    .trie
                    .get(inner)
                    .is_some_and(|entry| entry.groups.contains_key(shared.group));
                (!exists).then(|| self.allocate_cursor())
            }
            None => None,
        };
        let Some(entry) = self.trie.get_mut(inner) else {
            // Unreachable: inserted above.
            return Err(SubscribeError::InvalidFilter(TopicError::Empty));
        };
        match shared {
            Some(shared) => {
                let group =
                    entry
                        .groups
                        .entry(shared.group.into())
                        .or_insert_with(|| SharedGroup {
                            members: BTreeMap::new(),
                            cursor: new_cursor.unwrap_or(0),
                        });
                group.members.insert(client, subscription);
            }
            None => {
                entry.direct.insert(client, subscription);
            }
        }
        self.clients
            .entry(client)
            .or_default()
            .insert(filter.into());
        self.len += 1;
        Ok(SubscribeOutcome::New)
    }

    /// Removes `client`'s subscription with exactly the topic filter
    /// `filter` (as subscribed, `$share/` prefix included) and returns it;
    /// `None` if there was none (UNSUBACK 0x11 No subscription existed).
    pub fn unsubscribe(&mut self, client: ClientKey, filter: &str) -> Option<Subscription> {
        let inner = inner_filter(filter);
        let shared = SharedSubscription::parse(filter).ok().flatten();
        let entry = self.trie.get_mut(inner)?;
        let (removed, freed_cursor) = match shared {
            Some(shared) => {
                let group = entry.groups.get_mut(shared.group)?;
                let removed = group.members.remove(&client)?;
                let cursor = group.cursor;
                if group.members.is_empty() {
                    entry.groups.remove(shared.group);
                    (removed, Some(cursor))
                } else {
                    (removed, None)
                }
            }
            None => (entry.direct.remove(&client)?, None),
        };
        if entry.is_empty() {
            self.trie.remove(inner);
        }
        if let Some(cursor) = freed_cursor {
            if let Some(slot) = self.cursors.get_mut(cursor) {
                *slot = 0;
            }
            self.free_cursors.push(cursor);
        }
        if let Some(filters) = self.clients.get_mut(&client) {
            filters.remove(filter);
            if filters.is_empty() {
                self.clients.remove(&client);
            }
        }
        self.len -= 1;
        Some(removed)
    }

    /// Removes every subscription of `client` (its session ended); returns
    /// how many there were.
    pub fn remove_client(&mut self, client: ClientKey) -> usize {
        let Some(filters) = self.clients.get(&client).cloned() else {
            return 0;
        };
        for filter in &filters {
            self.unsubscribe(client, filter);
        }
        filters.len()
    }

    /// The deliveries of a message published to the topic name `topic` by
    /// `publisher` (`None` for a message with no publishing client, such as
    /// one injected by the embedder): one [`Delivery`] per client with a
    /// matching ordinary subscription, in ascending [`ClientKey`] order,
    /// then one per matching shared group, chosen in round robin.
    ///
    /// `topic` should be a valid topic name (validate it first); an
    /// invalid one is matched as [`topic_matches`](crate::topic::topic_matches)
    /// would, without panicking.
    pub fn route(&mut self, topic: &str, publisher: Option<ClientKey>) -> Vec<Delivery> {
        self.route_with(topic, publisher, |_| true)
    }

    /// [`route`](SubscriptionTable::route), choosing shared group members
    /// among those for which `eligible` returns `true` (for example, the
    /// connected ones): the first eligible member at or after the group's
    /// round-robin position gets the message. If no member is eligible,
    /// the member at the round-robin position gets it anyway (the engine
    /// queues it in that session). Ordinary subscriptions ignore
    /// `eligible`.
    pub fn route_with(
        &mut self,
        topic: &str,
        publisher: Option<ClientKey>,
        eligible: impl FnMut(ClientKey) -> bool,
    ) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        self.route_into(topic, publisher, eligible, &mut deliveries);
        deliveries
    }

    /// [`route_with`](SubscriptionTable::route_with), writing the
    /// deliveries into `out` (cleared first) so that a busy engine can
    /// reuse one buffer for every message.
    pub fn route_into(
        &mut self,
        topic: &str,
        publisher: Option<ClientKey>,
        mut eligible: impl FnMut(ClientKey) -> bool,
        out: &mut Vec<Delivery>,
    ) {
        out.clear();
        // `out` holds the ordinary deliveries, sorted by client; shared
        // ones are collected apart and appended at the end.
        let mut shared: Vec<Delivery> = Vec::new();
        let SubscriptionTable { trie, cursors, .. } = self;
        trie.for_each_match(topic, |_, entry| {
            for (&client, subscription) in entry.direct.iter() {
                // [MQTT-3.8.3-3] No Local: not to the publisher.
                if subscription.options.no_local && Some(client) == publisher {
                    continue;
                }
                // Entries come in ascending key order, so with a single
                // matching filter this always appends.
                let at = match out.last() {
                    Some(last) if last.client < client => Err(out.len()),
                    _ => out.binary_search_by_key(&client, |delivery| delivery.client),
                };
                let index = at.unwrap_or_else(|index| {
                    out.insert(index, Delivery::to(client, false));
                    index
                });
                if let Some(delivery) = out.get_mut(index) {
                    merge(delivery, subscription);
                }
            }
            for group in entry.groups.values() {
                let Some(cursor) = cursors.get_mut(group.cursor) else {
                    continue;
                };
                let Some((client, subscription)) = choose(group, *cursor, &mut eligible) else {
                    continue;
                };
                *cursor = client.get().wrapping_add(1);
                let mut delivery = Delivery::to(client, true);
                merge(&mut delivery, subscription);
                shared.push(delivery);
            }
        });
        for delivery in out.iter_mut() {
            if delivery.subscription_identifiers.len() > 1 {
                delivery.subscription_identifiers.sort_unstable();
                delivery.subscription_identifiers.dedup();
            }
        }
        out.append(&mut shared);
    }

    /// A free round-robin cursor slot.
    fn allocate_cursor(&mut self) -> usize {
        match self.free_cursors.pop() {
            Some(slot) => slot,
            None => {
                self.cursors.push(0);
                self.cursors.len() - 1
            }
        }
    }

    /// The stored subscription of `client` with exactly `filter`.
    fn slot_mut(&mut self, client: ClientKey, filter: &str) -> Option<&mut Subscription> {
        let entry = self.trie.get_mut(inner_filter(filter))?;
        match SharedSubscription::parse(filter) {
            Ok(Some(shared)) => entry.groups.get_mut(shared.group)?.members.get_mut(&client),
            _ => entry.direct.get_mut(&client),
        }
    }
}

/// The filter topic names are matched against: the inner filter of a
/// `$share/` filter, else the filter itself.
fn inner_filter(filter: &str) -> &str {
    match SharedSubscription::parse(filter) {
        Ok(Some(shared)) => shared.filter,
        _ => filter,
    }
}

/// Folds one matching subscription into a delivery: maximum QoS
/// `[MQTT-3.3.4-2]`, identifiers collected `[MQTT-3.3.4-3]`.
fn merge(delivery: &mut Delivery, subscription: &Subscription) {
    delivery.qos = delivery.qos.max(subscription.options.qos);
    delivery.retain_as_published |= subscription.options.retain_as_published;
    if let Some(id) = subscription.identifier {
        delivery.subscription_identifiers.push(id);
    }
}

/// The member of `group` to deliver to: the first eligible one at or after
/// `cursor` (wrapping), else the first at or after `cursor`.
fn choose<'g>(
    group: &'g SharedGroup,
    cursor: u32,
    eligible: &mut impl FnMut(ClientKey) -> bool,
) -> Option<(ClientKey, &'g Subscription)> {
    let from = ClientKey::new(cursor);
    let mut in_order = group
        .members
        .range(from..)
        .chain(group.members.range(..from));
    let first = in_order.clone().next();
    in_order
        .find(|(client, _)| eligible(**client))
        .or(first)
        .map(|(client, subscription)| (*client, subscription))
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::{
        ClientKey, Delivery, SubscribeError, SubscribeOutcome, Subscription, SubscriptionTable,
    };
    use crate::broker::{BrokerLimits, LimitExceeded};
    use crate::codec::{QoS, ReasonCode, SubscriptionOptions};
    use crate::topic::{topic_matches, SharedSubscription};

    const A: ClientKey = ClientKey::new(1);
    const B: ClientKey = ClientKey::new(2);
    const C: ClientKey = ClientKey::new(3);

    fn at(qos: QoS) -> Subscription {
        Subscription::new(SubscriptionOptions::new(qos))
    }

    fn clients(deliveries: &[Delivery]) -> Vec<u32> {
        deliveries.iter().map(|d| d.client.get()).collect()
    }

    // [MQTT-3.3.4-2] One delivery with the maximum QoS; [MQTT-3.3.4-3]
    // [MQTT-3.3.4-4] every identifier in it.
    #[test]
    fn overlapping_subscriptions_give_one_delivery_at_the_maximum_qos_mqtt_3_3_4_2() {
        let mut table = SubscriptionTable::new(10);
        table
            .subscribe(A, "a/#", at(QoS::ExactlyOnce).with_identifier(3))
            .unwrap();
        table
            .subscribe(A, "a/+", at(QoS::AtMostOnce).with_identifier(1))
            .unwrap();
        table.subscribe(A, "a/b", at(QoS::AtLeastOnce)).unwrap();
        table
            .subscribe(B, "a/b", at(QoS::AtMostOnce).with_identifier(9))
            .unwrap();
        let deliveries = table.route("a/b", None);
        assert_eq!(clients(&deliveries), [1, 2]);
        assert_eq!(deliveries[0].qos, QoS::ExactlyOnce);
        assert_eq!(deliveries[0].subscription_identifiers, [1, 3]);
        assert!(!deliveries[0].shared);
        assert_eq!(deliveries[1].qos, QoS::AtMostOnce);
        assert_eq!(deliveries[1].subscription_identifiers, [9]);
    }

    /// A filter's subscribers move from the small vector to a B-tree past
    /// `ClientMap::SMALL`: lookups, replacement, removal and routing in
    /// client order hold on both sides of the change.
    #[test]
    fn many_subscribers_on_one_filter_in_client_order() {
        let mut table = SubscriptionTable::new(10);
        // Inserted out of order, past the small vector's size.
        let keys: Vec<u32> = (1..=40u32).map(|i| (i * 17) % 41).collect();
        for &k in &keys {
            table
                .subscribe(ClientKey::new(k), "f", at(QoS::AtMostOnce))
                .unwrap();
        }
        let expected: Vec<u32> = (1..=40).collect();
        assert_eq!(clients(&table.route("f", None)), expected);
        assert!(matches!(
            table.subscribe(ClientKey::new(7), "f", at(QoS::ExactlyOnce)),
            Ok(SubscribeOutcome::Replaced { .. })
        ));
        assert_eq!(
            table.get(ClientKey::new(7), "f").map(|s| s.options.qos),
            Some(QoS::ExactlyOnce)
        );
        for k in 1..=35 {
            assert!(table.unsubscribe(ClientKey::new(k), "f").is_some());
        }
        assert_eq!(clients(&table.route("f", None)), [36, 37, 38, 39, 40]);
        assert!(table.unsubscribe(ClientKey::new(7), "f").is_none());
        // Small again (a few): still ordered.
        let mut small = SubscriptionTable::new(10);
        for k in [5, 3, 9, 1] {
            small
                .subscribe(ClientKey::new(k), "g", at(QoS::AtMostOnce))
                .unwrap();
        }
        assert_eq!(clients(&small.route("g", None)), [1, 3, 5, 9]);
        assert!(small.unsubscribe(ClientKey::new(3), "g").is_some());
        assert_eq!(clients(&small.route("g", None)), [1, 5, 9]);
    }

    // [MQTT-3.8.4-8] The delivered QoS is the lower of published and
    // granted.
    #[test]
    fn delivery_qos_is_downgraded_to_the_subscription_qos_mqtt_3_8_4_8() {
        let mut table = SubscriptionTable::new(10);
        table.subscribe(A, "t", at(QoS::AtLeastOnce)).unwrap();
        let delivery = &table.route("t", None)[0];
        assert_eq!(delivery.qos_for(QoS::ExactlyOnce), QoS::AtLeastOnce);
        assert_eq!(delivery.qos_for(QoS::AtMostOnce), QoS::AtMostOnce);
    }

    // [MQTT-3.8.3-3] No Local: not sent back to the publisher.
    #[test]
    fn no_local_subscriptions_skip_the_publisher_only_mqtt_3_8_3_3() {
        let mut table = SubscriptionTable::new(10);
        let no_local =
            Subscription::new(SubscriptionOptions::new(QoS::AtLeastOnce).with_no_local(true));
        table.subscribe(A, "t", no_local).unwrap();
        table.subscribe(B, "t", no_local).unwrap();
        assert_eq!(clients(&table.route("t", Some(A))), [2]);
        assert_eq!(clients(&table.route("t", None)), [1, 2]);
        // Another matching subscription without No Local still delivers.
        table
            .subscribe(A, "#", at(QoS::AtMostOnce).with_identifier(4))
            .unwrap();
        let deliveries = table.route("t", Some(A));
        assert_eq!(clients(&deliveries), [1, 2]);
        assert_eq!(deliveries[0].qos, QoS::AtMostOnce);
        assert_eq!(deliveries[0].subscription_identifiers, [4]);
    }

    // [MQTT-3.3.1-12] [MQTT-3.3.1-13] Retain As Published.
    #[test]
    fn retain_flag_is_kept_only_with_retain_as_published_mqtt_3_3_1_12_and_13() {
        let mut table = SubscriptionTable::new(10);
        let rap = SubscriptionOptions::new(QoS::AtMostOnce).with_retain_as_published(true);
        table.subscribe(A, "t", Subscription::new(rap)).unwrap();
        table.subscribe(B, "t", at(QoS::AtMostOnce)).unwrap();
        let deliveries = table.route("t", None);
        assert!(deliveries[0].retain_flag(true));
        assert!(!deliveries[0].retain_flag(false));
        assert!(!deliveries[1].retain_flag(true));
    }

    // [MQTT-4.7.2-1]
    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards_mqtt_4_7_2_1() {
        let mut table = SubscriptionTable::new(10);
        table.subscribe(A, "#", at(QoS::AtMostOnce)).unwrap();
        table.subscribe(B, "+/uptime", at(QoS::AtMostOnce)).unwrap();
        table.subscribe(C, "$SYS/#", at(QoS::AtMostOnce)).unwrap();
        assert_eq!(clients(&table.route("$SYS/uptime", None)), [3]);
        assert_eq!(clients(&table.route("x/uptime", None)), [1, 2]);
    }

    // [MQTT-3.8.4-3] A second SUBSCRIBE with the same filter replaces.
    #[test]
    fn subscribing_again_to_the_same_filter_replaces_mqtt_3_8_4_3() {
        let mut table = SubscriptionTable::new(1);
        assert_eq!(
            table.subscribe(A, "t", at(QoS::AtMostOnce)),
            Ok(SubscribeOutcome::New)
        );
        assert_eq!(
            table.subscribe(A, "t", at(QoS::ExactlyOnce)),
            Ok(SubscribeOutcome::Replaced {
                previous: at(QoS::AtMostOnce)
            })
        );
        assert_eq!(table.count(A), 1);
        assert_eq!(table.route("t", None)[0].qos, QoS::ExactlyOnce);
    }

    #[test]
    fn subscriptions_beyond_the_per_client_bound_are_refused_with_quota_exceeded() {
        let mut table = SubscriptionTable::new(2);
        table.subscribe(A, "a", at(QoS::AtMostOnce)).unwrap();
        table
            .subscribe(A, "$share/g/b", at(QoS::AtMostOnce))
            .unwrap();
        let error = table.subscribe(A, "c", at(QoS::AtMostOnce)).unwrap_err();
        assert_eq!(
            error,
            SubscribeError::Limit(LimitExceeded::SubscriptionsPerClient)
        );
        assert_eq!(error.reason_code(), ReasonCode::QuotaExceeded);
        assert_eq!(table.count(A), 2);
        // Another client has its own allowance.
        table.subscribe(B, "c", at(QoS::AtMostOnce)).unwrap();
        // After unsubscribing there is room again.
        assert!(table.unsubscribe(A, "a").is_some());
        table.subscribe(A, "c", at(QoS::AtMostOnce)).unwrap();
    }

    #[test]
    fn malformed_and_too_deep_filters_are_refused_with_topic_filter_invalid() {
        let limits = BrokerLimits {
            max_topic_levels: 2,
            ..BrokerLimits::default()
        };
        let mut table = SubscriptionTable::from_limits(&limits);
        for filter in ["a/#/b", "", "a+", "$share//a", "$share/g"] {
            let error = table.subscribe(A, filter, at(QoS::AtMostOnce)).unwrap_err();
            assert_eq!(
                error.reason_code(),
                ReasonCode::TopicFilterInvalid,
                "{filter}"
            );
        }
        table
            .subscribe(A, "$share/g/a/b", at(QoS::AtMostOnce))
            .unwrap();
        let error = table
            .subscribe(A, "a/b/c", at(QoS::AtMostOnce))
            .unwrap_err();
        assert_eq!(error.reason_code(), ReasonCode::TopicFilterInvalid);
        assert!(table.is_empty() || table.len() == 1);
    }

    // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
    #[test]
    fn no_local_on_a_shared_subscription_is_a_protocol_error_mqtt_3_8_3_4() {
        let mut table = SubscriptionTable::new(10);
        let no_local =
            Subscription::new(SubscriptionOptions::new(QoS::AtMostOnce).with_no_local(true));
        let error = table.subscribe(A, "$share/g/t", no_local).unwrap_err();
        assert_eq!(error, SubscribeError::NoLocalOnShared);
        assert_eq!(error.reason_code(), ReasonCode::ProtocolError);
        assert!(table.is_empty());
    }

    // §4.8.2: each message to one member of the group, in round robin.
    #[test]
    fn shared_subscription_messages_go_to_one_member_in_round_robin() {
        let mut table = SubscriptionTable::new(10);
        for client in [A, B, C] {
            table
                .subscribe(client, "$share/g/jobs/+", at(QoS::AtLeastOnce))
                .unwrap();
        }
        let chosen: Vec<u32> = (0..6)
            .flat_map(|_| clients(&table.route("jobs/1", None)))
            .collect();
        assert_eq!(chosen, [1, 2, 3, 1, 2, 3]);
        let delivery = &table.route("jobs/2", None)[0];
        assert!(delivery.shared);
        // A member leaving does not break the rotation.
        table.unsubscribe(B, "$share/g/jobs/+").unwrap();
        let chosen: Vec<u32> = (0..4)
            .flat_map(|_| clients(&table.route("jobs/1", None)))
            .collect();
        assert_eq!(chosen, [3, 1, 3, 1]);
    }

    #[test]
    fn each_shared_group_and_each_ordinary_subscriber_gets_its_own_delivery() {
        let mut table = SubscriptionTable::new(10);
        table
            .subscribe(A, "$share/g1/t", at(QoS::AtMostOnce))
            .unwrap();
        table
            .subscribe(B, "$share/g2/t", at(QoS::AtMostOnce))
            .unwrap();
        table
            .subscribe(C, "$share/g2/+", at(QoS::AtMostOnce))
            .unwrap();
        table.subscribe(A, "t", at(QoS::AtLeastOnce)).unwrap();
        let deliveries = table.route("t", None);
        let shared: Vec<(u32, bool)> = deliveries
            .iter()
            .map(|d| (d.client.get(), d.shared))
            .collect();
        assert_eq!(deliveries.len(), 4);
        assert_eq!(shared.first(), Some(&(1, false)));
        assert_eq!(deliveries.iter().filter(|d| d.shared).count(), 3);
    }

    #[test]
    fn shared_members_are_chosen_among_eligible_ones_when_possible() {
        let mut table = SubscriptionTable::new(10);
        for client in [A, B, C] {
            table
                .subscribe(client, "$share/g/t", at(QoS::AtLeastOnce))
                .unwrap();
        }
        let online = |client: ClientKey| client != B;
        let chosen: Vec<u32> = (0..4)
            .flat_map(|_| clients(&table.route_with("t", None, online)))
            .collect();
        assert_eq!(chosen, [1, 3, 1, 3]);
        // Nobody eligible: the rotation still picks someone.
        assert_eq!(table.route_with("t", None, |_| false).len(), 1);
    }

    #[test]
    fn unsubscribe_and_remove_client_leave_no_trace() {
        let mut table = SubscriptionTable::new(10);
        table.subscribe(A, "a/#", at(QoS::AtMostOnce)).unwrap();
        table
            .subscribe(A, "$share/g/a/#", at(QoS::AtMostOnce))
            .unwrap();
        table.subscribe(B, "a/#", at(QoS::AtMostOnce)).unwrap();
        assert_eq!(table.unsubscribe(A, "nothing"), None);
        assert_eq!(table.unsubscribe(B, "$share/g/a/#"), None);
        assert_eq!(table.remove_client(A), 2);
        assert_eq!(table.count(A), 0);
        assert_eq!(clients(&table.route("a/x", None)), [2]);
        assert_eq!(table.unsubscribe(B, "a/#"), Some(at(QoS::AtMostOnce)));
        assert!(table.is_empty());
        assert!(table.trie.is_empty());
        assert_eq!(table.free_cursors.len(), table.cursors.len());
    }

    #[test]
    fn filters_and_get_report_subscriptions_as_subscribed() {
        let mut table = SubscriptionTable::new(10);
        table
            .subscribe(A, "$share/g/t", at(QoS::AtLeastOnce))
            .unwrap();
        table.subscribe(A, "t", at(QoS::ExactlyOnce)).unwrap();
        let filters: Vec<&str> = table.filters(A).collect();
        assert_eq!(filters, ["$share/g/t", "t"]);
        assert_eq!(table.get(A, "$share/g/t"), Some(at(QoS::AtLeastOnce)));
        assert_eq!(table.get(A, "t"), Some(at(QoS::ExactlyOnce)));
        assert_eq!(table.get(B, "t"), None);
    }

    #[test]
    fn route_into_clears_and_reuses_the_callers_buffer() {
        let mut table = SubscriptionTable::new(10);
        for client in (0..1000).map(ClientKey::new) {
            table.subscribe(client, "t/#", at(QoS::AtMostOnce)).unwrap();
            table
                .subscribe(client, "t/+", at(QoS::AtLeastOnce).with_identifier(5))
                .unwrap();
        }
        let mut out = Vec::new();
        table.route_into("t/x", None, |_| true, &mut out);
        assert_eq!(out.len(), 1000);
        assert!(out.windows(2).all(|pair| pair[0].client < pair[1].client));
        assert!(out
            .iter()
            .all(|d| d.qos == QoS::AtLeastOnce && d.subscription_identifiers == [5]));
        table.route_into("other", None, |_| true, &mut out);
        assert!(out.is_empty());
    }

    // [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] Retain Handling.
    #[test]
    fn retain_handling_decides_whether_retained_messages_are_sent_mqtt_3_3_1_9_to_11() {
        use crate::codec::RetainHandling::{DoNotSend, SendAtSubscribe, SendAtSubscribeIfNew};
        let new = SubscribeOutcome::New;
        let replaced = SubscribeOutcome::Replaced {
            previous: at(QoS::AtMostOnce),
        };
        assert!(new.sends_retained("a/#", SendAtSubscribe));
        assert!(replaced.sends_retained("a/#", SendAtSubscribe));
        assert!(new.sends_retained("a/#", SendAtSubscribeIfNew));
        assert!(!replaced.sends_retained("a/#", SendAtSubscribeIfNew));
        assert!(!new.sends_retained("a/#", DoNotSend));
        assert!(!new.sends_retained("$share/g/a/#", SendAtSubscribe));
    }

    // ---- property tests -------------------------------------------------

    fn topic_filter() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop::sample::select(&["a", "b", "$x", "", "+"][..]), 0..=3),
            any::<bool>(),
            prop::option::of(prop::sample::select(&["g", "h"][..])),
        )
            .prop_filter_map("at least one level", |(mut levels, hash, share)| {
                if hash {
                    levels.push("#");
                }
                let filter = levels.join("/");
                if filter.is_empty() {
                    return None;
                }
                Some(match share {
                    Some(group) => format!("$share/{group}/{filter}"),
                    None => filter,
                })
            })
    }

    fn topic_name() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(&["a", "b", "$x", ""][..]), 1..=3)
            .prop_map(|levels| levels.join("/"))
            .prop_filter("not empty", |topic| !topic.is_empty())
    }

    fn subscription() -> impl Strategy<Value = Subscription> {
        (
            0u8..3,
            any::<bool>(),
            any::<bool>(),
            prop::option::of(1u32..4),
        )
            .prop_map(|(qos, no_local, rap, id)| Subscription {
                options: SubscriptionOptions::new(QoS::from_u8(qos).unwrap_or_default())
                    .with_no_local(no_local)
                    .with_retain_as_published(rap),
                identifier: id,
            })
    }

    proptest! {
        // [MQTT-3.3.4-2..4], [MQTT-3.8.3-3], [MQTT-4.7.2-1], §4.8.2: routing
        // agrees with a brute-force matcher over every stored subscription,
        // and no client ever holds more than its bound.
        #[test]
        fn route_agrees_with_brute_force_matching(
            subscribes in prop::collection::vec((0u32..4, topic_filter(), subscription()), 0..30),
            unsubscribes in prop::collection::vec((0u32..4, topic_filter()), 0..6),
            topics in prop::collection::vec((topic_name(), prop::option::of(0u32..4)), 1..5),
            max in 0usize..6,
        ) {
            let mut table = SubscriptionTable::new(max);
            // The model: (client, filter) -> subscription.
            let mut model: Vec<(ClientKey, String, Subscription)> = Vec::new();
            for (client, filter, sub) in subscribes {
                let client = ClientKey::new(client);
                let result = table.subscribe(client, &filter, sub);
                let existing = model.iter().position(|(c, f, _)| *c == client && *f == filter);
                let count = model.iter().filter(|(c, _, _)| *c == client).count();
                let shared_no_local = filter.starts_with("$share/") && sub.options.no_local;
                match (result, existing) {
                    (Err(SubscribeError::NoLocalOnShared), _) => prop_assert!(shared_no_local),
                    (Err(SubscribeError::Limit(_)), None) => prop_assert!(count >= max),
                    (Ok(SubscribeOutcome::Replaced { .. }), Some(i)) => {
                        if let Some(slot) = model.get_mut(i) { slot.2 = sub; }
                    }
                    (Ok(SubscribeOutcome::New), None) => model.push((client, filter, sub)),
                    (other, existing) => prop_assert!(false, "{:?} with {:?}", other, existing),
                }
                prop_assert!(table.count(client) <= max);
            }
            for (client, filter) in unsubscribes {
                let client = ClientKey::new(client);
                let removed = table.unsubscribe(client, &filter);
                let existing = model.iter().position(|(c, f, _)| *c == client && *f == filter);
                prop_assert_eq!(removed.is_some(), existing.is_some());
                if let Some(i) = existing { model.remove(i); }
            }
            prop_assert_eq!(table.len(), model.len());

            for (topic, publisher) in topics {
                let publisher = publisher.map(ClientKey::new);
                let deliveries = table.route(&topic, publisher);
                // Ordinary subscriptions.
                let mut expected: Vec<Delivery> = Vec::new();
                for client in (0..4).map(ClientKey::new) {
                    let matching: Vec<&Subscription> = model
                        .iter()
                        .filter(|(c, f, s)| {
                            *c == client
                                && !f.starts_with("$share/")
                                && topic_matches(f, &topic)
                                && !(s.options.no_local && Some(client) == publisher)
                        })
                        .map(|(_, _, s)| s)
                        .collect();
                    if matching.is_empty() { continue; }
                    let mut ids: Vec<u32> = matching.iter().filter_map(|s| s.identifier).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    expected.push(Delivery {
                        client,
                        qos: matching.iter().map(|s| s.options.qos).max().unwrap_or_default(),
                        retain_as_published: matching.iter().any(|s| s.options.retain_as_published),
                        subscription_identifiers: ids,
                        shared: false,
                    });
                }
                let direct: Vec<Delivery> = deliveries.iter().filter(|d| !d.shared).cloned().collect();
                prop_assert_eq!(direct, expected);

                // Shared: exactly one delivery per matching (group, filter),
                // to one of its members.
                let mut groups: Vec<(String, String)> = model
                    .iter()
                    .filter_map(|(_, f, _)| {
                        let shared = SharedSubscription::parse(f).ok().flatten()?;
                        topic_matches(shared.filter, &topic)
                            .then(|| (String::from(shared.group), String::from(shared.filter)))
                    })
                    .collect();
                groups.sort();
                groups.dedup();
                let shared: Vec<&Delivery> = deliveries.iter().filter(|d| d.shared).collect();
                prop_assert_eq!(shared.len(), groups.len());
                for delivery in shared {
                    let member = groups.iter().any(|(group, filter)| {
                        let full = format!("$share/{group}/{filter}");
                        model.iter().any(|(c, f, _)| *c == delivery.client && *f == full)
                    });
                    prop_assert!(member);
                }
            }
        }

        // Round robin is fair: over k rounds every member of an n-member
        // group receives exactly k messages.
        #[test]
        fn round_robin_gives_every_member_an_equal_share(members in prop::collection::btree_set(0u32..50, 1..8), rounds in 1usize..4) {
            let mut table = SubscriptionTable::new(4);
            for &m in &members {
                table.subscribe(ClientKey::new(m), "$share/g/t", at(QoS::AtMostOnce)).unwrap();
            }
            let mut received = vec![0usize; 50];
            for _ in 0..rounds * members.len() {
                for delivery in table.route("t", None) {
                    if let Some(n) = received.get_mut(delivery.client.get() as usize) { *n += 1; }
                }
            }
            for &m in &members {
                prop_assert_eq!(received.get(m as usize).copied(), Some(rounds));
            }
        }
    }
}
