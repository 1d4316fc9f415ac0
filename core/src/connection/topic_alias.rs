//! MQTT 5.0 Topic Alias state of one network connection (spec 3.3.2.3.4).
//!
//! A Topic Alias is a small integer that stands for a topic name, so that a
//! sender can leave the topic out of later PUBLISH packets. Each direction
//! has its own mappings and its own limit, the Topic Alias Maximum of the
//! *receiving* end:
//!
//! * [`InboundTopicAliases`]: the mappings the peer sets up on PUBLISH
//!   packets it sends us, bounded by the maximum *we* announced.
//! * [`OutboundTopicAliases`]: the mappings we choose for PUBLISH packets we
//!   send, bounded by the maximum the *peer* announced.
//!
//! Mappings live for one network connection only [MQTT-3.3.2-7]: call
//! `clear` on both when a connection ends.

use alloc::vec::Vec;

use crate::codec::{Error, MqttString, PropertyId, TopicName};

/// Aliases the peer set on PUBLISH packets it sent us; bounded by *our*
/// Topic Alias Maximum (sent in CONNECT by a client, in CONNACK by a
/// server).
///
/// Memory grows lazily with the highest alias the peer actually used, never
/// beyond `maximum` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundTopicAliases {
    /// Slot `alias - 1` holds the topic of `alias`, if one was set.
    topics: Vec<Option<TopicName>>,
    maximum: u16,
}

impl InboundTopicAliases {
    /// Mappings bounded by `maximum`; 0 means the peer may not use Topic
    /// Aliases at all.
    pub fn new(maximum: u16) -> Self {
        InboundTopicAliases {
            topics: Vec::new(),
            maximum,
        }
    }

    /// Our Topic Alias Maximum.
    pub fn maximum(&self) -> u16 {
        self.maximum
    }

    /// Resolves the topic of a received PUBLISH from its (possibly empty)
    /// `topic` and its Topic Alias property `alias`.
    ///
    /// * No alias: the topic, unchanged. (An empty topic without an alias is
    ///   rejected by the codec [MQTT-3.3.2-1] and never reaches here.)
    /// * Alias 0 [MQTT-3.3.2-8], or greater than our maximum
    ///   [MQTT-3.3.2-9] [MQTT-3.3.2-11]:
    ///   [`Error::InvalidPropertyValue`]`(`[`PropertyId::TopicAlias`]`)`,
    ///   reason code 0x94 (Topic Alias invalid).
    /// * A non-empty topic with an alias: records the mapping, replacing any
    ///   earlier one for that alias, and returns the topic.
    /// * An empty topic with an alias: the topic recorded for it, or
    ///   [`Error::UnknownTopicAlias`] (0x82, Protocol Error) if there is
    ///   none.
    pub fn resolve(&mut self, topic: &TopicName, alias: Option<u16>) -> Result<TopicName, Error> {
        let Some(alias) = alias else {
            return Ok(topic.clone());
        };
        if alias == 0 || alias > self.maximum {
            return Err(Error::InvalidPropertyValue(PropertyId::TopicAlias));
        }
        let index = usize::from(alias - 1);
        if topic.is_empty() {
            return self
                .topics
                .get(index)
                .and_then(Option::as_ref)
                .cloned()
                .ok_or(Error::UnknownTopicAlias);
        }
        if self.topics.len() <= index {
            self.topics.resize(index + 1, None);
        }
        if let Some(slot) = self.topics.get_mut(index) {
            *slot = Some(topic.clone());
        }
        Ok(topic.clone())
    }

    /// Forgets every mapping and releases their memory: aliases belong to
    /// one network connection [MQTT-3.3.2-7].
    pub fn clear(&mut self) {
        self.topics = Vec::new();
    }
}

/// What to put in an outgoing PUBLISH, as decided by
/// [`OutboundTopicAliases::alias_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundAlias {
    /// Send the topic without a Topic Alias.
    None,
    /// Send the topic *and* this Topic Alias: a new mapping, or an alias
    /// reassigned from another topic.
    Assign(u16),
    /// Send an empty topic and this Topic Alias: the peer already maps it to
    /// the topic.
    Use(u16),
}

/// The most outbound aliases held at once, whatever the peer's Topic Alias
/// Maximum: using fewer aliases than the peer allows is always permitted,
/// and this bounds both the memory (one topic per alias) and the cost of a
/// lookup (a scan of at most this many entries).
pub const MAX_OUTBOUND_TOPIC_ALIASES: u16 = 64;

/// Aliases we choose for PUBLISH packets we send; bounded by the *peer's*
/// Topic Alias Maximum (from CONNACK for a client, from CONNECT for a
/// server) and by [`MAX_OUTBOUND_TOPIC_ALIASES`], with least-recently-used
/// replacement once all are in use.
///
/// Slot `alias - 1` holds the topic of `alias` and the tick of its last
/// use. Each call scans the slots (at most 64, short topics compared by
/// length first), which is cheaper than a tree for tables this small and
/// keeps the code small on a microcontroller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTopicAliases {
    /// Slot `alias - 1`: the topic and the tick of its last use.
    slots: Vec<(MqttString, u64)>,
    maximum: u16,
    /// Increases by one per use; a u64 does not wrap in practice.
    tick: u64,
}

impl OutboundTopicAliases {
    /// Mappings bounded by the peer's `maximum`; with 0 aliases are
    /// disabled and [`alias_for`](Self::alias_for) always answers
    /// [`OutboundAlias::None`].
    pub fn new(maximum: u16) -> Self {
        OutboundTopicAliases {
            slots: Vec::new(),
            maximum,
            tick: 0,
        }
    }

    /// Sets the peer's Topic Alias Maximum (e.g. from CONNACK) and forgets
    /// every mapping.
    pub fn set_maximum(&mut self, maximum: u16) {
        self.maximum = maximum;
        self.clear();
    }

    /// The peer's Topic Alias Maximum in force.
    pub fn maximum(&self) -> u16 {
        self.maximum
    }

    /// Decides how to send a PUBLISH to `topic`, and marks `topic` as the
    /// most recently used.
    ///
    /// * Mapped already: [`OutboundAlias::Use`].
    /// * Not mapped, fewer than `min(maximum, 64)` aliases in use: the next
    ///   unused alias (1, 2, ...), as [`OutboundAlias::Assign`].
    /// * Not mapped, all in use: the alias of the least recently used topic,
    ///   whose mapping is dropped, as [`OutboundAlias::Assign`].
    ///
    /// Answers [`OutboundAlias::None`] when aliases are disabled (maximum 0)
    /// or the topic is empty. Aliases are always in `1..=maximum`
    /// [MQTT-3.3.2-8] [MQTT-3.3.2-9] [MQTT-3.3.2-11].
    /// The topic is copied only when an alias is assigned to it.
    pub fn alias_for(&mut self, topic: &str) -> OutboundAlias {
        if self.maximum == 0 || topic.is_empty() {
            return OutboundAlias::None;
        }
        self.tick += 1;
        let tick = self.tick;
        if let Some(i) = self.slots.iter().position(|(t, _)| t.as_str() == topic) {
            self.slots[i].1 = tick;
            return OutboundAlias::Use(alias_of(i));
        }
        let Ok(topic) = MqttString::from_str(topic) else {
            return OutboundAlias::None;
        };
        let limit = usize::from(self.maximum.min(MAX_OUTBOUND_TOPIC_ALIASES));
        if self.slots.len() < limit {
            self.slots.push((topic, tick));
            return OutboundAlias::Assign(alias_of(self.slots.len() - 1));
        }
        let oldest = (0..self.slots.len())
            .min_by_key(|&i| self.slots[i].1)
            .unwrap_or(0);
        self.slots[oldest] = (topic, tick);
        OutboundAlias::Assign(alias_of(oldest))
    }

    /// Forgets the mapping of `alias`, just assigned by
    /// [`alias_for`](Self::alias_for), when the PUBLISH that was to set it
    /// up could not be sent: the peer never learnt it, so it must not be
    /// used. Its slot is the first to be reassigned.
    pub fn forget(&mut self, alias: u16) {
        if let Some(slot) = self.slots.get_mut(usize::from(alias).wrapping_sub(1)) {
            *slot = (MqttString::new(), 0);
        }
    }

    /// Forgets every mapping: aliases belong to one network connection
    /// [MQTT-3.3.2-7].
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// The number of aliases in use.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|(t, _)| !t.is_empty()).count()
    }

    /// Whether no alias is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The alias of slot `i` (slots never exceed 64).
fn alias_of(i: usize) -> u16 {
    i as u16 + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ReasonCode;
    use alloc::collections::BTreeSet;
    use alloc::format;
    use proptest::prelude::*;

    fn s(topic: &str) -> TopicName {
        TopicName::from_str(topic).unwrap()
    }

    fn empty() -> TopicName {
        TopicName::EMPTY
    }

    #[test]
    fn publish_without_alias_passes_topic_through() {
        let mut a = InboundTopicAliases::new(0);
        assert_eq!(a.resolve(&s("a/b"), None).unwrap(), "a/b");
    }

    #[test]
    fn alias_zero_is_topic_alias_invalid_0x94() {
        // [MQTT-3.3.2-8] "A sender MUST NOT send a PUBLISH packet containing
        // a Topic Alias which has the value 0".
        let mut a = InboundTopicAliases::new(10);
        let e = a.resolve(&s("a"), Some(0)).unwrap_err();
        assert_eq!(e, Error::InvalidPropertyValue(PropertyId::TopicAlias));
        assert_eq!(e.reason_code(), ReasonCode::TopicAliasInvalid);
        assert_eq!(u8::from(e.reason_code()), 0x94);
    }

    #[test]
    fn alias_above_maximum_is_topic_alias_invalid_0x94() {
        // [MQTT-3.3.2-9] "A Client MUST NOT send a PUBLISH packet with a
        // Topic Alias greater than the Topic Alias Maximum value returned by
        // the Server"; [MQTT-3.3.2-11] likewise for the Server.
        let mut a = InboundTopicAliases::new(3);
        for topic in [s("a"), empty()] {
            let e = a.resolve(&topic, Some(4)).unwrap_err();
            assert_eq!(e, Error::InvalidPropertyValue(PropertyId::TopicAlias));
            assert_eq!(u8::from(e.reason_code()), 0x94);
        }
    }

    #[test]
    fn every_alias_up_to_maximum_is_accepted() {
        // [MQTT-3.3.2-10] [MQTT-3.3.2-12]: accept all Topic Alias values
        // greater than 0 and less than or equal to the maximum sent.
        let mut a = InboundTopicAliases::new(5);
        for alias in 1..=5u16 {
            let topic = s(&format!("t/{alias}"));
            assert_eq!(a.resolve(&topic, Some(alias)).unwrap(), topic);
            assert_eq!(a.resolve(&empty(), Some(alias)).unwrap(), topic);
        }
    }

    #[test]
    fn maximum_zero_rejects_every_alias() {
        let mut a = InboundTopicAliases::new(0);
        assert_eq!(a.maximum(), 0);
        for alias in [1u16, u16::MAX] {
            let e = a.resolve(&s("a"), Some(alias)).unwrap_err();
            assert_eq!(u8::from(e.reason_code()), 0x94);
        }
        let mut b = OutboundTopicAliases::new(0);
        assert_eq!(b.alias_for("a"), OutboundAlias::None);
        assert_eq!(b.alias_for("a"), OutboundAlias::None);
        assert!(b.is_empty());
    }

    #[test]
    fn empty_topic_with_unmapped_alias_is_protocol_error_0x82() {
        // Spec 3.3.2.3.4: "It is a Protocol Error if the receiver does not
        // already have a mapping for this Topic Alias".
        let mut a = InboundTopicAliases::new(10);
        let e = a.resolve(&empty(), Some(7)).unwrap_err();
        assert_eq!(e, Error::UnknownTopicAlias);
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
        assert_eq!(u8::from(e.reason_code()), 0x82);
        // A lower alias being mapped does not map a higher one.
        a.resolve(&s("x"), Some(1)).unwrap();
        assert_eq!(a.resolve(&empty(), Some(2)), Err(Error::UnknownTopicAlias));
    }

    #[test]
    fn topic_with_mapped_alias_replaces_the_mapping() {
        // Spec 3.3.2.3.4: a non-zero length topic with an alias sets (or
        // changes) the mapping.
        let mut a = InboundTopicAliases::new(2);
        a.resolve(&s("first"), Some(2)).unwrap();
        assert_eq!(a.resolve(&empty(), Some(2)).unwrap(), "first");
        assert_eq!(a.resolve(&s("second"), Some(2)).unwrap(), "second");
        assert_eq!(a.resolve(&empty(), Some(2)).unwrap(), "second");
    }

    #[test]
    fn inbound_clear_forgets_mappings() {
        // [MQTT-3.3.2-7] "A receiver MUST NOT carry forward any Topic Alias
        // mappings from one Network Connection to another".
        let mut a = InboundTopicAliases::new(4);
        a.resolve(&s("a"), Some(1)).unwrap();
        a.clear();
        assert_eq!(a.maximum(), 4);
        assert_eq!(a.resolve(&empty(), Some(1)), Err(Error::UnknownTopicAlias));
    }

    #[test]
    fn outbound_assigns_then_uses() {
        let mut b = OutboundTopicAliases::new(10);
        assert_eq!(b.alias_for("a"), OutboundAlias::Assign(1));
        assert_eq!(b.alias_for("a"), OutboundAlias::Use(1));
        assert_eq!(b.alias_for("b"), OutboundAlias::Assign(2));
        assert_eq!(b.alias_for("a"), OutboundAlias::Use(1));
        assert_eq!(b.alias_for("b"), OutboundAlias::Use(2));
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn outbound_empty_topic_gets_no_alias() {
        let mut b = OutboundTopicAliases::new(10);
        assert_eq!(b.alias_for(""), OutboundAlias::None);
        assert!(b.is_empty());
    }

    #[test]
    fn outbound_evicts_least_recently_used() {
        // [MQTT-3.3.2-9] [MQTT-3.3.2-11]: never above the peer's maximum, so
        // a full table reuses the alias of the least recently used topic.
        let mut b = OutboundTopicAliases::new(2);
        assert_eq!(b.alias_for("a"), OutboundAlias::Assign(1));
        assert_eq!(b.alias_for("b"), OutboundAlias::Assign(2));
        // Touch "a": "b" is now the least recently used.
        assert_eq!(b.alias_for("a"), OutboundAlias::Use(1));
        assert_eq!(b.alias_for("c"), OutboundAlias::Assign(2));
        assert_eq!(b.len(), 2);
        // "a" is now the least recently used.
        assert_eq!(b.alias_for("b"), OutboundAlias::Assign(1));
        assert_eq!(b.alias_for("c"), OutboundAlias::Use(2));
        assert_eq!(b.alias_for("b"), OutboundAlias::Use(1));
        assert_eq!(b.alias_for("a"), OutboundAlias::Assign(2));
    }

    #[test]
    fn outbound_clear_and_set_maximum_forget_mappings() {
        // [MQTT-3.3.2-7]: nothing carries over to the next connection.
        let mut b = OutboundTopicAliases::new(3);
        b.alias_for("a");
        b.alias_for("b");
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.alias_for("b"), OutboundAlias::Assign(1));
        b.set_maximum(1);
        assert_eq!(b.maximum(), 1);
        assert!(b.is_empty());
        assert_eq!(b.alias_for("b"), OutboundAlias::Assign(1));
        assert_eq!(b.alias_for("c"), OutboundAlias::Assign(1));
        b.set_maximum(0);
        assert_eq!(b.alias_for("c"), OutboundAlias::None);
    }

    proptest! {
        #[test]
        fn receiver_recovers_every_topic_the_sender_aliased(
            maximum in 0u16..6,
            picks in proptest::collection::vec(0usize..10, 0..200),
        ) {
            let topics: Vec<TopicName> = (0..10).map(|i| s(&format!("t/{i}"))).collect();
            let mut sender = OutboundTopicAliases::new(maximum);
            let mut receiver = InboundTopicAliases::new(maximum);
            let mut used = BTreeSet::new();
            for pick in picks {
                let topic = &topics[pick];
                let (wire_topic, alias) = match sender.alias_for(topic.as_str()) {
                    OutboundAlias::None => (topic.clone(), None),
                    OutboundAlias::Assign(a) => (topic.clone(), Some(a)),
                    OutboundAlias::Use(a) => (empty(), Some(a)),
                };
                if let Some(a) = alias {
                    prop_assert!(a >= 1 && a <= maximum);
                    used.insert(a);
                }
                prop_assert_eq!(&receiver.resolve(&wire_topic, alias).unwrap(), topic);
                prop_assert!(sender.len() <= usize::from(maximum));
            }
            prop_assert!(used.len() <= usize::from(maximum));
        }
    }

    #[test]
    fn outbound_holds_at_most_64_aliases_whatever_the_peer_allows() {
        let mut b = OutboundTopicAliases::new(u16::MAX);
        for i in 0..200 {
            match b.alias_for(&format!("t/{i}")) {
                OutboundAlias::Assign(a) => assert!((1..=MAX_OUTBOUND_TOPIC_ALIASES).contains(&a)),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(b.len(), usize::from(MAX_OUTBOUND_TOPIC_ALIASES));
        // The 64 most recent are mapped; older ones were replaced.
        assert!(matches!(b.alias_for("t/199"), OutboundAlias::Use(_)));
        assert!(matches!(b.alias_for("t/100"), OutboundAlias::Assign(_)));
    }

    #[test]
    fn a_forgotten_alias_is_never_used_and_is_reassigned_first() {
        let mut b = OutboundTopicAliases::new(2);
        assert_eq!(b.alias_for("a"), OutboundAlias::Assign(1));
        assert_eq!(b.alias_for("b"), OutboundAlias::Assign(2));
        b.forget(1);
        assert_eq!(b.len(), 1);
        // "a" is not mapped any more: it is assigned again, in slot 1.
        assert_eq!(b.alias_for("a"), OutboundAlias::Assign(1));
        assert_eq!(b.alias_for("b"), OutboundAlias::Use(2));
        b.forget(0);
        b.forget(3);
        assert_eq!(b.len(), 2);
    }
}
