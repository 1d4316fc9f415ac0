//! Retained messages (MQTT 5.0 §3.3.1.3, MQTT 3.1.1 §3.3.1.3): at most one
//! per topic name, replaced by the next retained PUBLISH to that topic,
//! deleted by a retained PUBLISH with an empty payload, and sent to a new
//! subscriber whose filter matches the topic.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::fmt;

use super::limits::{BrokerLimits, LimitExceeded};
use crate::codec::{Publish, ReasonCode};
use crate::time::{Duration, Instant};
use crate::topic::{is_shared, validate_topic_filter, validate_topic_name, TopicError};

/// Index of the root node in the arena; the root stands for zero levels,
/// never holds a message (topic names are never empty) and is never freed.
const ROOT: usize = 0;

/// Milliseconds in a second: Message Expiry Intervals are in seconds,
/// [`Instant`]s in milliseconds.
const MILLIS_PER_SECOND: Duration = 1_000;

/// A retained message as the store keeps it: the PUBLISH, when it was
/// stored, and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedMessage {
    publish: Publish,
    stored_at: Instant,
    expires_at: Option<Instant>,
}

impl RetainedMessage {
    /// The retained PUBLISH: its topic, QoS, payload and properties as
    /// published, with the RETAIN flag set, DUP cleared, no packet
    /// identifier, no Topic Alias and no Subscription Identifiers (those
    /// belong to one connection; the engine sets its own on delivery).
    ///
    /// Its Message Expiry Interval is the one *received*; use
    /// [`remaining_expiry_interval`](RetainedMessage::remaining_expiry_interval)
    /// for the one to send.
    pub fn publish(&self) -> &Publish {
        &self.publish
    }

    /// The topic name the message is retained under.
    pub fn topic(&self) -> &str {
        self.publish.topic.as_str()
    }

    /// When the message was stored.
    pub fn stored_at(&self) -> Instant {
        self.stored_at
    }

    /// When the message expires (5.0 Message Expiry Interval), or `None`
    /// if it never does.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// Returns `true` if the message has expired at `now`: its Message
    /// Expiry Interval has fully elapsed.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// The Message Expiry Interval to put in a PUBLISH sent at `now`: the
    /// received value minus the time the message has waited in the
    /// server `[MQTT-3.3.2-6]`, in whole seconds rounded up (so it is at
    /// least 1 while the message has not expired). `None` if the message
    /// has no expiry interval; `Some(0)` once it has expired.
    pub fn remaining_expiry_interval(&self, now: Instant) -> Option<u32> {
        let at = self.expires_at?;
        let left = at.saturating_sub(now);
        let seconds = left.div_ceil(MILLIS_PER_SECOND);
        Some(u32::try_from(seconds).unwrap_or(u32::MAX))
    }

    /// The bytes this message counts for against
    /// [`BrokerLimits::max_retained_bytes`]: its topic length plus its
    /// payload length.
    pub fn size(&self) -> usize {
        self.publish.topic.as_str().len() + self.publish.payload.len()
    }
}

/// What a retained PUBLISH did to the [`RetainedStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetainOutcome {
    /// The message is now retained; no message was retained for its topic
    /// before.
    Stored,
    /// The message replaced the one retained for its topic
    /// `[MQTT-3.3.1-5]`.
    Replaced,
    /// The payload was empty (or the message had already expired): the
    /// message retained for its topic was deleted `[MQTT-3.3.1-6]` and
    /// nothing was stored `[MQTT-3.3.1-7]`.
    Deleted,
    /// The payload was empty (or the message had already expired) and no
    /// message was retained for its topic; nothing changed.
    NothingToDelete,
}

/// Why a retained PUBLISH was not stored. The store is left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetainError {
    /// The topic is not a valid topic name (empty, with wildcards, ...).
    InvalidTopic(TopicError),
    /// Storing it would exceed [`BrokerLimits::max_retained_messages`] or
    /// [`BrokerLimits::max_retained_bytes`].
    Limit(LimitExceeded),
}

impl RetainError {
    /// The MQTT 5.0 reason code reporting the refusal in a PUBACK or
    /// PUBREC: 0x90 Topic Name invalid or 0x97 Quota exceeded.
    pub const fn reason_code(self) -> ReasonCode {
        match self {
            RetainError::InvalidTopic(_) => ReasonCode::TopicNameInvalid,
            RetainError::Limit(limit) => limit.reason_code(),
        }
    }
}

impl fmt::Display for RetainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetainError::InvalidTopic(error) => write!(f, "retained message topic: {error}"),
            RetainError::Limit(limit) => write!(f, "retained message refused: {limit}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RetainError {}

/// One topic level in the trie.
#[derive(Debug, Clone)]
struct Node {
    /// The node this one hangs from (the root points at itself).
    parent: usize,
    /// This node's level, its key in the parent's `children`.
    level: Box<str>,
    /// Children by next level.
    children: BTreeMap<Box<str>, usize>,
    /// The message retained for the topic made of the levels down to here.
    message: Option<RetainedMessage>,
}

impl Node {
    fn new(parent: usize, level: &str) -> Self {
        Node {
            parent,
            level: level.into(),
            children: BTreeMap::new(),
            message: None,
        }
    }
}

/// A step of the iterative filter lookup.
enum Step {
    /// Match the filter's levels from `depth` on against `node`'s subtree.
    Level { node: usize, depth: usize },
    /// Everything at and below `node` matches (a trailing `#`).
    All { node: usize },
}

/// The retained messages of a broker, one per topic name, bounded by count
/// and by bytes.
///
/// Messages live in a trie over topic levels, so
/// [`matching`](RetainedStore::matching) visits only the branches a topic
/// filter can match (all of them only under a `#`), never the whole
/// store. Lookup and removal neither recurse nor allocate per level beyond
/// a small stack, so deep topics are safe.
///
/// * [`set`](RetainedStore::set) applies a retained PUBLISH: store,
///   replace, or delete on an empty payload; a message that would exceed a
///   bound is refused with a [`RetainError`] and the store is unchanged.
/// * Expired messages (MQTT 5.0 Message Expiry Interval) are never
///   returned by lookups; [`purge_expired`](RetainedStore::purge_expired)
///   frees them, [`next_expiry`](RetainedStore::next_expiry) says when to
///   call it, and [`set`](RetainedStore::set) purges by itself before
///   refusing a message for lack of room.
///
/// ```
/// use bytes::Bytes;
/// use mqtt_core::broker::{RetainOutcome, RetainedStore};
/// use mqtt_core::codec::Publish;
///
/// let mut store = RetainedStore::new(100, 1 << 20);
/// let now = 0;
/// let kitchen = Publish::new("home/kitchen/temp", Bytes::from_static(b"21.5")).unwrap();
/// assert_eq!(store.set(&kitchen, now), Ok(RetainOutcome::Stored));
/// let hall = Publish::new("home/hall/temp", Bytes::from_static(b"19")).unwrap();
/// store.set(&hall, now).unwrap();
///
/// let found: Vec<&str> = store.matching("home/+/temp", now).iter().map(|m| m.topic()).collect();
/// assert_eq!(found, ["home/hall/temp", "home/kitchen/temp"]);
///
/// // An empty retained payload deletes.
/// let delete = Publish::new("home/hall/temp", Bytes::new()).unwrap();
/// assert_eq!(store.set(&delete, now), Ok(RetainOutcome::Deleted));
/// assert_eq!(store.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct RetainedStore {
    /// Arena of nodes; index [`ROOT`] is the root. Freed slots are listed
    /// in `free`.
    nodes: Vec<Node>,
    /// Indices of freed nodes available for reuse.
    free: Vec<usize>,
    /// Messages stored (expired ones included until purged).
    len: usize,
    /// Sum of [`RetainedMessage::size`] over the stored messages.
    bytes: usize,
    /// `(expires_at, topic)` of every stored message that expires.
    expiry: BTreeSet<(Instant, Box<str>)>,
    /// Bound on `len`.
    max_messages: usize,
    /// Bound on `bytes`.
    max_bytes: usize,
}

impl RetainedStore {
    /// Creates an empty store holding at most `max_messages` messages and
    /// `max_bytes` bytes (see [`RetainedMessage::size`]).
    pub fn new(max_messages: usize, max_bytes: usize) -> Self {
        RetainedStore {
            nodes: alloc::vec![Node::new(ROOT, "")],
            free: Vec::new(),
            len: 0,
            bytes: 0,
            expiry: BTreeSet::new(),
            max_messages,
            max_bytes,
        }
    }

    /// Creates an empty store bounded by
    /// [`BrokerLimits::max_retained_messages`] and
    /// [`BrokerLimits::max_retained_bytes`].
    pub fn from_limits(limits: &BrokerLimits) -> Self {
        Self::new(limits.max_retained_messages, limits.max_retained_bytes)
    }

    /// Number of messages stored, including expired ones not yet purged.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns `true` if no message is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes stored, the sum of [`RetainedMessage::size`]; never more than
    /// the store's `max_bytes`.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Applies a PUBLISH whose RETAIN flag is set, received at `now`.
    ///
    /// * An empty payload deletes the message retained for the topic, if
    ///   any `[MQTT-3.3.1-6]`, and is not stored `[MQTT-3.3.1-7]`. So does a
    ///   message that has already expired (Message Expiry Interval 0).
    /// * Otherwise the message replaces the one retained for its topic
    ///   `[MQTT-3.3.1-5]` or is stored anew. Its RETAIN flag is set, its
    ///   DUP flag, packet identifier, Topic Alias and Subscription
    ///   Identifiers are cleared.
    /// * If storing it would exceed the bounds, expired messages are
    ///   purged first; if it still does not fit it is refused with
    ///   [`RetainError::Limit`] and the store, including any message
    ///   already retained for the topic, is unchanged. The engine reports
    ///   the refusal with [`RetainError::reason_code`] (0x97) where it can
    ///   (PUBACK, PUBREC) and still delivers the message to the current
    ///   subscribers.
    ///
    /// The topic must be a valid topic name (the engine resolves a Topic
    /// Alias before calling this); otherwise [`RetainError::InvalidTopic`].
    pub fn set(&mut self, publish: &Publish, now: Instant) -> Result<RetainOutcome, RetainError> {
        let topic = publish.topic.as_str();
        validate_topic_name(topic).map_err(RetainError::InvalidTopic)?;
        let expires_at = publish
            .properties
            .message_expiry_interval
            .map(|seconds| now.saturating_add(Duration::from(seconds) * MILLIS_PER_SECOND));
        if publish.payload.is_empty() || expires_at.is_some_and(|at| now >= at) {
            return Ok(match self.remove(topic) {
                Some(_) => RetainOutcome::Deleted,
                None => RetainOutcome::NothingToDelete,
            });
        }

        let mut stored = publish.clone();
        stored.retain = true;
        stored.dup = false;
        stored.packet_id = 0;
        stored.properties.topic_alias = None;
        stored.properties.subscription_identifiers.clear();
        let message = RetainedMessage {
            publish: stored,
            stored_at: now,
            expires_at,
        };

        if let Err(limit) = self.check_room(topic, message.size()) {
            if self.purge_expired(now) == 0 {
                return Err(RetainError::Limit(limit));
            }
            self.check_room(topic, message.size())
                .map_err(RetainError::Limit)?;
        }

        let node = self.find_or_create(topic);
        let previous = self
            .nodes
            .get_mut(node)
            .and_then(|node| node.message.replace(message));
        let outcome = match previous {
            Some(previous) => {
                self.forget(&previous);
                RetainOutcome::Replaced
            }
            None => {
                self.len += 1;
                RetainOutcome::Stored
            }
        };
        self.bytes += self.message_size(node);
        if let Some(at) = expires_at {
            self.expiry.insert((at, topic.into()));
        }
        Ok(outcome)
    }

    /// Returns the message retained for exactly the topic name `topic`
    /// unless it has expired at `now`.
    pub fn get(&self, topic: &str, now: Instant) -> Option<&RetainedMessage> {
        let message = self.nodes.get(self.find(topic)?)?.message.as_ref()?;
        (!message.is_expired(now)).then_some(message)
    }

    /// Removes the message retained for exactly the topic name `topic`,
    /// expired or not, and returns it.
    pub fn remove(&mut self, topic: &str) -> Option<RetainedMessage> {
        let index = self.find(topic)?;
        let message = self.nodes.get_mut(index)?.message.take()?;
        self.len -= 1;
        self.forget(&message);
        self.prune(index);
        Some(message)
    }

    /// Calls `f` with every message, not expired at `now`, whose topic
    /// matches the topic filter `filter`, in lexicographic order of topic
    /// levels.
    ///
    /// Matching follows [`topic_matches`](crate::topic::topic_matches),
    /// including the rule that a filter starting with a wildcard does not
    /// match topics starting with `$` `[MQTT-4.7.2-1]`. An invalid filter
    /// matches nothing, and so does a shared subscription
    /// (`$share/{ShareName}/{filter}`): retained messages are not sent when
    /// a shared subscription is made (MQTT 5.0 §4.8.2).
    pub fn for_each_matching<'s>(
        &'s self,
        filter: &str,
        now: Instant,
        mut f: impl FnMut(&'s RetainedMessage),
    ) {
        if is_shared(filter) || validate_topic_filter(filter).is_err() {
            return;
        }
        let levels: Vec<&str> = filter.split('/').collect();
        let mut emit = |node: &'s Node| {
            if let Some(message) = &node.message {
                if !message.is_expired(now) {
                    f(message);
                }
            }
        };
        // Children are pushed in reverse so they pop in ascending order.
        let mut stack = alloc::vec![Step::Level {
            node: ROOT,
            depth: 0
        }];
        while let Some(step) = stack.pop() {
            match step {
                Step::All { node } => {
                    let Some(node) = self.nodes.get(node) else {
                        continue;
                    };
                    emit(node);
                    for &child in node.children.values().rev() {
                        stack.push(Step::All { node: child });
                    }
                }
                Step::Level { node: index, depth } => {
                    let Some(node) = self.nodes.get(index) else {
                        continue;
                    };
                    let Some(&level) = levels.get(depth) else {
                        emit(node);
                        continue;
                    };
                    // [MQTT-4.7.2-1]: a wildcard first level skips `$...`.
                    let wildcard_may_take = |key: &str| depth != 0 || !key.starts_with('$');
                    match level {
                        "#" => {
                            // `a/#` matches `a` itself too.
                            emit(node);
                            for (key, &child) in node.children.iter().rev() {
                                if wildcard_may_take(key) {
                                    stack.push(Step::All { node: child });
                                }
                            }
                        }
                        "+" => {
                            for (key, &child) in node.children.iter().rev() {
                                if wildcard_may_take(key) {
                                    stack.push(Step::Level {
                                        node: child,
                                        depth: depth + 1,
                                    });
                                }
                            }
                        }
                        literal => {
                            if let Some(&child) = node.children.get(literal) {
                                stack.push(Step::Level {
                                    node: child,
                                    depth: depth + 1,
                                });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Returns every message, not expired at `now`, whose topic matches
    /// `filter`; see [`for_each_matching`](RetainedStore::for_each_matching).
    pub fn matching(&self, filter: &str, now: Instant) -> Vec<&RetainedMessage> {
        let mut found = Vec::new();
        self.for_each_matching(filter, now, |message| found.push(message));
        found
    }

    /// Iterates over every stored message, expired or not, in an
    /// unspecified order.
    pub fn iter(&self) -> impl Iterator<Item = &RetainedMessage> + '_ {
        self.nodes.iter().filter_map(|node| node.message.as_ref())
    }

    /// The earliest instant at which a stored message expires, if any: the
    /// deadline at which to call
    /// [`purge_expired`](RetainedStore::purge_expired).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first().map(|(at, _)| *at)
    }

    /// Removes every message expired at `now`; returns how many. Costs
    /// time proportional to the number removed, not to the store's size.
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        let mut purged = 0;
        while let Some((at, topic)) = self.expiry.first() {
            if *at > now {
                break;
            }
            let topic = topic.clone();
            if self.remove(&topic).is_none() {
                // Unreachable: the index only lists stored messages.
                self.expiry.pop_first();
            }
            purged += 1;
        }
        purged
    }

    /// Checks that a message of `size` bytes for `topic` fits, counting the
    /// message it would replace as gone.
    fn check_room(&self, topic: &str, size: usize) -> Result<(), LimitExceeded> {
        let replaced = self
            .find(topic)
            .and_then(|index| self.nodes.get(index))
            .and_then(|node| node.message.as_ref())
            .map(RetainedMessage::size);
        let count = self.len + usize::from(replaced.is_none());
        let bytes = (self.bytes - replaced.unwrap_or(0)).saturating_add(size);
        if count > self.max_messages {
            Err(LimitExceeded::RetainedMessages)
        } else if bytes > self.max_bytes {
            Err(LimitExceeded::RetainedBytes)
        } else {
            Ok(())
        }
    }

    /// Size of the message at `index`, 0 if none.
    fn message_size(&self, index: usize) -> usize {
        self.nodes
            .get(index)
            .and_then(|node| node.message.as_ref())
            .map_or(0, RetainedMessage::size)
    }

    /// Drops a message that left the store from the byte count and the
    /// expiry index (not from `len`).
    fn forget(&mut self, message: &RetainedMessage) {
        self.bytes -= message.size();
        if let Some(at) = message.expires_at {
            self.expiry.remove(&(at, Box::from(message.topic())));
        }
    }

    /// The node for exactly `topic`, if it exists.
    fn find(&self, topic: &str) -> Option<usize> {
        let mut current = ROOT;
        for level in topic.split('/') {
            current = *self.nodes.get(current)?.children.get(level)?;
        }
        Some(current)
    }

    /// The node for exactly `topic`, created with its ancestors if needed.
    fn find_or_create(&mut self, topic: &str) -> usize {
        let mut current = ROOT;
        for level in topic.split('/') {
            let existing = self
                .nodes
                .get(current)
                .and_then(|node| node.children.get(level).copied());
            current = match existing {
                Some(child) => child,
                None => {
                    let child = self.allocate(Node::new(current, level));
                    if let Some(node) = self.nodes.get_mut(current) {
                        node.children.insert(level.into(), child);
                    }
                    child
                }
            };
        }
        current
    }

    /// Puts `node` in a free slot of the arena, or a new one.
    fn allocate(&mut self, node: Node) -> usize {
        match self.free.pop() {
            Some(index) => {
                if let Some(slot) = self.nodes.get_mut(index) {
                    *slot = node;
                }
                index
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// Frees `index` and its ancestors while they hold neither a message
    /// nor children.
    fn prune(&mut self, mut index: usize) {
        while index != ROOT {
            let Some(node) = self.nodes.get_mut(index) else {
                return;
            };
            if node.message.is_some() || !node.children.is_empty() {
                return;
            }
            let parent = node.parent;
            let level = core::mem::take(&mut node.level);
            if let Some(parent) = self.nodes.get_mut(parent) {
                parent.children.remove(&level);
            }
            self.free.push(index);
            index = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::{RetainError, RetainOutcome, RetainedStore};
    use crate::broker::LimitExceeded;
    use crate::codec::{Publish, QoS, ReasonCode};
    use crate::topic::topic_matches;

    fn publish(topic: &str, payload: &'static [u8]) -> Publish {
        Publish::new(topic, Bytes::from_static(payload)).unwrap()
    }

    fn expiring(topic: &str, payload: &'static [u8], seconds: u32) -> Publish {
        let mut publish = publish(topic, payload);
        publish.properties.message_expiry_interval = Some(seconds);
        publish
    }

    fn topics<'a>(store: &'a RetainedStore, filter: &str, now: u64) -> Vec<&'a str> {
        store
            .matching(filter, now)
            .into_iter()
            .map(|message| message.topic())
            .collect()
    }

    fn store() -> RetainedStore {
        RetainedStore::new(100, 10_000)
    }

    #[test]
    fn a_retained_publish_is_stored_with_retain_set_and_connection_fields_cleared() {
        let mut store = store();
        let mut message = publish("a/b", b"x").with_qos(QoS::AtLeastOnce, 7);
        message.dup = true;
        message.properties.topic_alias = Some(3);
        assert_eq!(store.set(&message, 5), Ok(RetainOutcome::Stored));
        let kept = store.get("a/b", 5).unwrap();
        assert!(kept.publish().retain);
        assert!(!kept.publish().dup);
        assert_eq!(kept.publish().packet_id, 0);
        assert_eq!(kept.publish().qos, QoS::AtLeastOnce);
        assert_eq!(kept.publish().properties.topic_alias, None);
        assert_eq!(kept.stored_at(), 5);
        assert_eq!(store.bytes(), 4);
    }

    // [MQTT-3.3.1-5] A new retained message replaces the one for its topic.
    #[test]
    fn a_second_retained_publish_replaces_the_first_mqtt_3_3_1_5() {
        let mut store = store();
        store.set(&publish("a", b"one"), 0).unwrap();
        assert_eq!(
            store.set(&publish("a", b"second"), 1),
            Ok(RetainOutcome::Replaced)
        );
        assert_eq!(store.len(), 1);
        assert_eq!(store.get("a", 1).unwrap().publish().payload, "second");
        assert_eq!(store.bytes(), 1 + 6);
    }

    // [MQTT-3.3.1-6] [MQTT-3.3.1-7] An empty payload deletes and is not
    // stored.
    #[test]
    fn an_empty_payload_deletes_and_is_not_stored_mqtt_3_3_1_6_and_7() {
        let mut store = store();
        assert_eq!(
            store.set(&publish("a/b", b""), 0),
            Ok(RetainOutcome::NothingToDelete)
        );
        assert!(store.is_empty());
        store.set(&publish("a/b", b"x"), 0).unwrap();
        assert_eq!(
            store.set(&publish("a/b", b""), 0),
            Ok(RetainOutcome::Deleted)
        );
        assert!(store.is_empty());
        assert_eq!(store.bytes(), 0);
        assert!(topics(&store, "#", 0).is_empty());
    }

    #[test]
    fn an_invalid_topic_name_is_refused_with_topic_name_invalid() {
        let mut store = store();
        let mut message = publish("a", b"x");
        // The one invalid name a `TopicName` can hold: the empty one, which
        // only a PUBLISH with a Topic Alias may carry [MQTT-4.7.3-1].
        message.topic = crate::codec::TopicName::EMPTY;
        let error = store.set(&message, 0).unwrap_err();
        assert_eq!(error.reason_code(), ReasonCode::TopicNameInvalid);
    }

    #[test]
    fn a_message_beyond_the_count_bound_is_refused_and_changes_nothing() {
        let mut store = RetainedStore::new(2, 1_000);
        store.set(&publish("a", b"1"), 0).unwrap();
        store.set(&publish("b", b"2"), 0).unwrap();
        assert_eq!(
            store.set(&publish("c", b"3"), 0),
            Err(RetainError::Limit(LimitExceeded::RetainedMessages))
        );
        assert_eq!(store.len(), 2);
        assert!(store.get("c", 0).is_none());
        // Replacing an existing topic needs no extra slot.
        assert_eq!(
            store.set(&publish("a", b"9"), 0),
            Ok(RetainOutcome::Replaced)
        );
    }

    #[test]
    fn a_message_beyond_the_byte_bound_is_refused_with_quota_exceeded() {
        let mut store = RetainedStore::new(10, 8);
        store.set(&publish("a", b"1234"), 0).unwrap();
        let error = store.set(&publish("b", b"12345"), 0).unwrap_err();
        assert_eq!(error, RetainError::Limit(LimitExceeded::RetainedBytes));
        assert_eq!(error.reason_code(), ReasonCode::QuotaExceeded);
        // A refused replacement keeps the old message.
        assert!(store.set(&publish("a", b"123456789"), 0).is_err());
        assert_eq!(store.get("a", 0).unwrap().publish().payload, "1234");
        // A smaller replacement fits.
        store.set(&publish("a", b"12"), 0).unwrap();
        assert_eq!(store.bytes(), 3);
    }

    #[test]
    fn a_store_with_zero_bounds_retains_nothing() {
        let mut store = RetainedStore::new(0, 0);
        assert!(store.set(&publish("a", b"1"), 0).is_err());
        assert!(store.is_empty());
    }

    #[test]
    fn plus_matches_one_level_and_hash_matches_the_parent_and_all_below() {
        let mut store = store();
        for topic in ["a", "a/b", "a/c", "a/b/c", "b", "a/", "/a"] {
            store.set(&publish(topic, b"x"), 0).unwrap();
        }
        assert_eq!(topics(&store, "a/+", 0), ["a/", "a/b", "a/c"]);
        assert_eq!(topics(&store, "a/#", 0), ["a", "a/", "a/b", "a/b/c", "a/c"]);
        assert_eq!(topics(&store, "+", 0), ["a", "b"]);
        assert_eq!(topics(&store, "+/+", 0), ["/a", "a/", "a/b", "a/c"]);
        assert_eq!(topics(&store, "a/b", 0), ["a/b"]);
        assert_eq!(topics(&store, "#", 0).len(), 7);
        assert!(topics(&store, "c/#", 0).is_empty());
    }

    // [MQTT-4.7.2-1] Leading wildcards do not match `$` topics.
    #[test]
    fn leading_wildcards_do_not_match_dollar_topics_mqtt_4_7_2_1() {
        let mut store = store();
        store.set(&publish("$SYS/uptime", b"1"), 0).unwrap();
        store.set(&publish("a/$b", b"1"), 0).unwrap();
        assert_eq!(topics(&store, "#", 0), ["a/$b"]);
        assert!(topics(&store, "+/uptime", 0).is_empty());
        assert_eq!(topics(&store, "$SYS/#", 0), ["$SYS/uptime"]);
        assert_eq!(topics(&store, "$SYS/+", 0), ["$SYS/uptime"]);
        assert_eq!(topics(&store, "a/+", 0), ["a/$b"]);
    }

    #[test]
    fn shared_and_invalid_filters_match_no_retained_message() {
        let mut store = store();
        store.set(&publish("a", b"1"), 0).unwrap();
        store.set(&publish("$share/g/a", b"1"), 0).unwrap();
        assert!(topics(&store, "$share/g/a", 0).is_empty());
        assert!(topics(&store, "$share/g/#", 0).is_empty());
        assert!(topics(&store, "a/#/b", 0).is_empty());
        assert!(topics(&store, "", 0).is_empty());
    }

    // [MQTT-3.3.2-5] An expired message is not delivered; [MQTT-3.3.2-6]
    // the interval sent is what remains.
    #[test]
    fn an_expired_retained_message_is_not_returned_mqtt_3_3_2_5() {
        let mut store = store();
        store.set(&expiring("a", b"x", 10), 1_000).unwrap();
        let kept = store.get("a", 1_000).unwrap();
        assert_eq!(kept.expires_at(), Some(11_000));
        assert_eq!(kept.remaining_expiry_interval(1_000), Some(10));
        assert_eq!(kept.remaining_expiry_interval(5_500), Some(6));
        assert_eq!(kept.remaining_expiry_interval(10_999), Some(1));
        assert_eq!(topics(&store, "#", 10_999), ["a"]);
        assert!(store.get("a", 11_000).is_none());
        assert!(topics(&store, "#", 11_000).is_empty());
        assert_eq!(store.len(), 1, "expired but not yet purged");
        assert_eq!(store.next_expiry(), Some(11_000));
        assert_eq!(store.purge_expired(10_999), 0);
        assert_eq!(store.purge_expired(11_000), 1);
        assert!(store.is_empty());
        assert_eq!(store.next_expiry(), None);
    }

    #[test]
    fn a_message_without_expiry_has_no_remaining_interval() {
        let mut store = store();
        store.set(&publish("a", b"x"), 0).unwrap();
        assert_eq!(
            store
                .get("a", u64::MAX)
                .unwrap()
                .remaining_expiry_interval(9),
            None
        );
        assert_eq!(store.next_expiry(), None);
    }

    #[test]
    fn a_zero_expiry_interval_deletes_like_an_empty_payload() {
        let mut store = store();
        store.set(&publish("a", b"x"), 0).unwrap();
        assert_eq!(
            store.set(&expiring("a", b"y", 0), 0),
            Ok(RetainOutcome::Deleted)
        );
        assert!(store.is_empty());
    }

    #[test]
    fn replacing_an_expiring_message_drops_its_expiry() {
        let mut store = store();
        store.set(&expiring("a", b"x", 1), 0).unwrap();
        store.set(&publish("a", b"y"), 0).unwrap();
        assert_eq!(store.next_expiry(), None);
        assert_eq!(store.purge_expired(5_000), 0);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn expired_messages_are_purged_to_make_room_before_refusing() {
        let mut store = RetainedStore::new(1, 100);
        store.set(&expiring("a", b"x", 1), 0).unwrap();
        assert!(store.set(&publish("b", b"y"), 999).is_err());
        assert_eq!(
            store.set(&publish("b", b"y"), 1_000),
            Ok(RetainOutcome::Stored)
        );
        assert!(store.get("a", 0).is_none());
    }

    #[test]
    fn removing_every_message_frees_every_node() {
        let mut store = store();
        for topic in ["a/b/c", "a/b", "x/y/z/w"] {
            store.set(&publish(topic, b"x"), 0).unwrap();
        }
        for topic in ["a/b/c", "a/b", "x/y/z/w"] {
            assert!(store.remove(topic).is_some());
        }
        let root_children = store.nodes.first().map(|root| root.children.len());
        assert_eq!(root_children, Some(0));
        assert_eq!(store.free.len() + 1, store.nodes.len());
    }

    #[test]
    fn very_deep_topics_neither_recurse_nor_panic() {
        let mut store = RetainedStore::new(10, 1 << 20);
        let deep = "a/".repeat(20_000) + "a";
        store
            .set(&Publish::new(&deep, Bytes::from_static(b"x")).unwrap(), 0)
            .unwrap();
        assert_eq!(store.matching("#", 0).len(), 1);
        assert_eq!(store.matching(&deep, 0).len(), 1);
        assert!(store.remove(&deep).is_some());
    }

    // ---- property tests -------------------------------------------------

    fn level() -> impl Strategy<Value = &'static str> {
        prop::sample::select(&["a", "b", "$x", ""][..])
    }

    fn topic_name() -> impl Strategy<Value = String> {
        prop::collection::vec(level(), 1..=3)
            .prop_map(|levels| levels.join("/"))
            .prop_filter("topic names are not empty", |topic| !topic.is_empty())
    }

    fn topic_filter() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop::sample::select(&["a", "b", "$x", "", "+"][..]), 0..=3),
            any::<bool>(),
        )
            .prop_filter_map("at least one level", |(mut levels, hash)| {
                if hash {
                    levels.push("#");
                }
                (!levels.is_empty()).then(|| levels.join("/"))
            })
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set {
            topic: String,
            payload: usize,
            expiry: Option<u32>,
        },
        Remove(String),
        Advance(u64),
        Purge,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (topic_name(), 0usize..6, prop::option::of(0u32..4)).prop_map(
                |(topic, payload, expiry)| Op::Set { topic, payload, expiry }
            ),
            1 => topic_name().prop_map(Op::Remove),
            1 => (0u64..2_500).prop_map(Op::Advance),
            1 => Just(Op::Purge),
        ]
    }

    const PAYLOAD: &[u8] = b"012345";

    proptest! {
        // Bounds hold after every operation, the byte count is exact, and
        // lookups agree with brute-force matching over the stored messages
        // ([MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.2-1], [MQTT-3.3.2-5]).
        #[test]
        fn retained_lookup_agrees_with_brute_force_and_bounds_hold(
            ops in prop::collection::vec(op(), 0..40),
            filters in prop::collection::vec(topic_filter(), 1..6),
            max_messages in 0usize..6,
            max_bytes in 0usize..30,
        ) {
            let mut store = RetainedStore::new(max_messages, max_bytes);
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Set { topic, payload, expiry } => {
                        let mut message = Publish::new(
                            &topic,
                            Bytes::from_static(PAYLOAD.get(..payload).unwrap_or_default()),
                        ).unwrap();
                        message.properties.message_expiry_interval = expiry;
                        let before = store.get(&topic, now).map(|m| m.publish().payload.clone());
                        match store.set(&message, now) {
                            Ok(RetainOutcome::Stored | RetainOutcome::Replaced) => {
                                let kept = store.get(&topic, now).unwrap();
                                prop_assert_eq!(&kept.publish().payload, &message.payload);
                            }
                            Ok(_) => prop_assert!(store.get(&topic, now).is_none()),
                            Err(_) => {
                                let after = store.get(&topic, now).map(|m| m.publish().payload.clone());
                                prop_assert_eq!(before, after);
                            }
                        }
                    }
                    Op::Remove(topic) => {
                        store.remove(&topic);
                        prop_assert!(store.get(&topic, now).is_none());
                    }
                    Op::Advance(by) => now += by,
                    Op::Purge => {
                        store.purge_expired(now);
                        prop_assert!(store.iter().all(|m| !m.is_expired(now)));
                    }
                }
                prop_assert!(store.len() <= max_messages);
                prop_assert!(store.bytes() <= max_bytes);
                prop_assert_eq!(store.len(), store.iter().count());
                prop_assert_eq!(store.bytes(), store.iter().map(|m| m.size()).sum::<usize>());
                prop_assert_eq!(
                    store.next_expiry(),
                    store.iter().filter_map(|m| m.expires_at()).min()
                );
            }
            for filter in &filters {
                let found: Vec<String> = topics(&store, filter, now).into_iter().map(ToString::to_string).collect();
                let mut expected: Vec<String> = store
                    .iter()
                    .filter(|m| !m.is_expired(now) && topic_matches(filter, m.topic()))
                    .map(|m| m.topic().to_string())
                    .collect();
                expected.sort();
                let mut sorted = found.clone();
                sorted.sort();
                prop_assert_eq!(sorted, expected, "filter {}", filter);
            }
        }
    }
}
