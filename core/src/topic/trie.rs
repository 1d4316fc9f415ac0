//! A subscription trie: topic filters mapped to values, queried by topic name.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

/// Index of the root node in [`TopicTrie::nodes`]; the root is never freed.
const ROOT: usize = 0;

/// A filter stored in the trie: its full string (kept once, so matches can
/// be reported without allocating) and its value.
#[derive(Clone)]
struct Entry<T> {
    filter: Box<str>,
    value: T,
}

/// One level of the trie. A node at depth `d` stands for the first `d`
/// levels of the filters below it.
#[derive(Clone)]
struct Node<T> {
    /// The node this one hangs from (the root points at itself).
    parent: usize,
    /// Children reached by a literal level (a `#` that is not the last level
    /// of a filter is stored here too, as a literal).
    literal: BTreeMap<Box<str>, usize>,
    /// Child reached by a `+` level.
    plus: Option<usize>,
    /// The filter that ends exactly at this node. Boxed, as `multi`: most
    /// nodes hold neither (the inner levels of longer filters), and a node
    /// stays small that way.
    exact: Option<Box<Entry<T>>>,
    /// The filter that is this node's levels followed by `/#` (or `#` alone,
    /// at the root).
    multi: Option<Box<Entry<T>>>,
}

impl<T> Node<T> {
    fn new(parent: usize) -> Self {
        Self {
            parent,
            literal: BTreeMap::new(),
            plus: None,
            exact: None,
            multi: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.plus.is_none()
            && self.exact.is_none()
            && self.multi.is_none()
    }
}

/// Which of a node's two value slots a filter lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The filter ends at the node (`a/b`, `a/+`).
    Exact,
    /// The filter is the node's levels followed by `#` (`a/#`).
    Multi,
}

/// A map from MQTT topic filters to values that finds, for a topic name, all
/// the filters that match it.
///
/// Keys are plain topic filters compared exactly as strings (`a/+` and
/// `a/#` are different keys). Shared subscriptions are the caller's
/// business: strip the `$share/{ShareName}/` prefix (see
/// [`SharedSubscription`](super::SharedSubscription)) and insert the inner
/// filter. The trie does not validate filters; validate them first with
/// [`validate_topic_filter`](super::validate_topic_filter). Invalid filters
/// are stored without panicking and interpreted as
/// [`topic_matches`](super::topic_matches) does: only a level that is exactly
/// `+`, or exactly `#` in last position, is a wildcard.
///
/// Matching follows [`topic_matches`](super::topic_matches), including the
/// rule that filters whose first level is a wildcard do not match topic
/// names starting with `$` `[MQTT-4.7.2-1]`. Its cost is proportional to the
/// number of levels of the topic name (times the branching caused by `+`
/// and `#` filters that actually match), not to the number of filters
/// stored, and it neither allocates nor recurses, so arbitrarily deep topics
/// and filters are safe.
///
/// Nodes live in an arena (a `Vec`) and refer to each other by index;
/// [`remove`](TopicTrie::remove) prunes nodes left empty and recycles their
/// slots, so memory does not grow with subscribe/unsubscribe churn.
///
/// ```
/// use mqtt_core::topic::TopicTrie;
/// let mut subscriptions = TopicTrie::new();
/// subscriptions.insert("sport/+/player1", 1);
/// subscriptions.insert("sport/#", 2);
/// subscriptions.insert("news/#", 3);
/// let mut hits = subscriptions.matches("sport/tennis/player1");
/// hits.sort();
/// assert_eq!(hits, [("sport/#", &2), ("sport/+/player1", &1)]);
/// ```
#[derive(Clone)]
pub struct TopicTrie<T> {
    /// Arena of nodes; index [`ROOT`] is the root. Freed slots hold an empty
    /// node and are listed in `free`.
    nodes: Vec<Node<T>>,
    /// Indices of freed nodes available for reuse.
    free: Vec<usize>,
    /// Number of filters stored.
    len: usize,
}

impl<T> Default for TopicTrie<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for TopicTrie<T> {
    /// Formats the trie as a map from filter to value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<T> TopicTrie<T> {
    /// Creates an empty trie. Does not allocate until the first insertion.
    pub fn new() -> Self {
        Self {
            nodes: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Returns the number of filters stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns `true` if no filter is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every filter, releasing all nodes.
    pub fn clear(&mut self) {
        self.nodes = Vec::new();
        self.free = Vec::new();
        self.len = 0;
    }

    /// Associates `value` with the topic filter `filter`, which is matched
    /// literally as a key: `a/+` and `a/b` are different filters.
    ///
    /// Returns the value previously stored for this exact filter, if any
    /// (the stored filter string is kept).
    pub fn insert(&mut self, filter: &str, value: T) -> Option<T> {
        if self.nodes.is_empty() {
            self.nodes.push(Node::new(ROOT));
        }
        let Some((index, slot)) = self.find_or_create(filter) else {
            // Unreachable: node indices stored in the trie are always valid.
            return None;
        };
        let entry = self.slot_mut(index, slot)?;
        match entry {
            Some(entry) => Some(core::mem::replace(&mut entry.value, value)),
            None => {
                *entry = Some(Box::new(Entry {
                    filter: filter.into(),
                    value,
                }));
                self.len += 1;
                None
            }
        }
    }

    /// Returns the value stored for exactly the topic filter `filter` (no
    /// wildcard matching: `get("a/+")` only finds a value inserted as `a/+`).
    pub fn get(&self, filter: &str) -> Option<&T> {
        let (index, slot) = self.find(filter)?;
        let node = self.nodes.get(index)?;
        let entry = match slot {
            Slot::Exact => node.exact.as_ref(),
            Slot::Multi => node.multi.as_ref(),
        };
        entry.map(|entry| &entry.value)
    }

    /// Returns a mutable reference to the value stored for exactly the topic
    /// filter `filter`.
    pub fn get_mut(&mut self, filter: &str) -> Option<&mut T> {
        let (index, slot) = self.find(filter)?;
        let entry = self.slot_mut(index, slot)?.as_mut()?;
        Some(&mut entry.value)
    }

    /// Removes the topic filter `filter` (exact key, no wildcard matching)
    /// and returns its value.
    ///
    /// Nodes left without filters or children are pruned and their slots
    /// reused by later insertions; once the trie is empty all of its memory
    /// except the arena's capacity is released.
    pub fn remove(&mut self, filter: &str) -> Option<T> {
        let (index, slot) = self.find(filter)?;
        let entry = self.slot_mut(index, slot)?.take()?;
        self.len = self.len.saturating_sub(1);
        if self.len == 0 {
            // Everything is gone: drop all nodes at once.
            self.nodes.clear();
            self.free.clear();
        } else {
            self.prune(index, slot, filter);
        }
        Some(entry.value)
    }

    /// Calls `f` once with the filter string and value of every stored
    /// filter that matches the topic name `topic`, in an unspecified order.
    ///
    /// Matching follows [`topic_matches`](super::topic_matches):
    /// `#` matches the parent level and any number of child levels, `+`
    /// matches exactly one (possibly empty) level, and filters whose first
    /// level is `+` or `#` are skipped when `topic` starts with `$`
    /// `[MQTT-4.7.2-1]`.
    ///
    /// Does not allocate and does not recurse; the time taken is
    /// proportional to the number of trie nodes along the topic's matching
    /// paths, i.e. to the topic's number of levels times the branching at
    /// `+`, independent of how many unrelated filters are stored.
    pub fn for_each_match<'s>(&'s self, topic: &str, mut f: impl FnMut(&'s str, &'s T)) {
        let bytes = topic.as_bytes();
        let len = bytes.len();
        // [MQTT-4.7.2-1]: no wildcard at the first level matches `$...`.
        let dollar = bytes.first() == Some(&b'$');
        let wildcards_allowed_at = |node: usize| !(dollar && node == ROOT);

        // Iterative depth-first search over the (at most two) children that
        // can match each level: the literal child, then the `+` child.
        // `start` is the byte offset of the next topic level to consume for
        // the node `current`; `start > len` means every level is consumed.
        let mut current = ROOT;
        let mut start = 0usize;
        'visit: loop {
            let Some(node) = self.nodes.get(current) else {
                return;
            };
            if wildcards_allowed_at(current) {
                if let Some(entry) = &node.multi {
                    f(&entry.filter, &entry.value);
                }
            }
            if start > len {
                if let Some(entry) = &node.exact {
                    f(&entry.filter, &entry.value);
                }
            } else {
                let end = bytes
                    .get(start..)
                    .and_then(|rest| rest.iter().position(|&b| b == b'/'))
                    .map_or(len, |offset| start + offset);
                let literal = topic
                    .get(start..end)
                    .and_then(|level| node.literal.get(level));
                let next = if let Some(&child) = literal {
                    Some(child)
                } else if wildcards_allowed_at(current) {
                    node.plus
                } else {
                    None
                };
                if let Some(child) = next {
                    current = child;
                    start = end + 1;
                    continue 'visit;
                }
            }

            // Backtrack: climb until an ancestor has an unexplored `+` child.
            loop {
                if current == ROOT {
                    return;
                }
                let Some(parent) = self.nodes.get(current).map(|node| node.parent) else {
                    return;
                };
                let Some(parent_node) = self.nodes.get(parent) else {
                    return;
                };
                if parent_node.plus != Some(current) && wildcards_allowed_at(parent) {
                    if let Some(plus) = parent_node.plus {
                        // Same depth as `current`, so `start` is unchanged.
                        current = plus;
                        continue 'visit;
                    }
                }
                start = previous_level_start(bytes, start);
                current = parent;
            }
        }
    }

    /// Returns the filter string and value of every stored filter that
    /// matches the topic name `topic`, in an unspecified order.
    ///
    /// A convenience over [`for_each_match`](TopicTrie::for_each_match),
    /// which avoids the allocation of the returned `Vec`.
    pub fn matches<'s>(&'s self, topic: &str) -> Vec<(&'s str, &'s T)> {
        let mut found = Vec::new();
        self.for_each_match(topic, |filter, value| found.push((filter, value)));
        found
    }

    /// Iterates over every stored filter and its value, in an unspecified
    /// order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> + '_ {
        self.nodes
            .iter()
            .flat_map(|node| node.exact.iter().chain(node.multi.iter()))
            .map(|entry| (&*entry.filter, &entry.value))
    }

    /// Walks down the levels of `filter` without creating nodes; returns the
    /// node and slot that would hold it.
    fn find(&self, filter: &str) -> Option<(usize, Slot)> {
        let mut current = ROOT;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            if level == "#" && levels.peek().is_none() {
                return Some((current, Slot::Multi));
            }
            let node = self.nodes.get(current)?;
            current = if level == "+" {
                node.plus?
            } else {
                *node.literal.get(level)?
            };
        }
        Some((current, Slot::Exact))
    }

    /// Like [`find`](Self::find) but creates the missing nodes. The root
    /// must exist.
    fn find_or_create(&mut self, filter: &str) -> Option<(usize, Slot)> {
        let mut current = ROOT;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            if level == "#" && levels.peek().is_none() {
                return Some((current, Slot::Multi));
            }
            let node = self.nodes.get(current)?;
            let existing = if level == "+" {
                node.plus
            } else {
                node.literal.get(level).copied()
            };
            current = match existing {
                Some(child) => child,
                None => {
                    let child = self.allocate(current);
                    let node = self.nodes.get_mut(current)?;
                    if level == "+" {
                        node.plus = Some(child);
                    } else {
                        node.literal.insert(level.into(), child);
                    }
                    child
                }
            };
        }
        Some((current, Slot::Exact))
    }

    fn slot_mut(&mut self, index: usize, slot: Slot) -> Option<&mut Option<Box<Entry<T>>>> {
        let node = self.nodes.get_mut(index)?;
        Some(match slot {
            Slot::Exact => &mut node.exact,
            Slot::Multi => &mut node.multi,
        })
    }

    /// Returns the index of a fresh empty node hanging from `parent`,
    /// reusing a freed slot if there is one.
    fn allocate(&mut self, parent: usize) -> usize {
        while let Some(index) = self.free.pop() {
            if let Some(node) = self.nodes.get_mut(index) {
                node.parent = parent;
                return index;
            }
        }
        self.nodes.push(Node::new(parent));
        self.nodes.len() - 1
    }

    /// After the entry of `filter` was taken out of `slot` of node `index`,
    /// detaches and frees that node and its ancestors as long as they are
    /// empty.
    fn prune(&mut self, index: usize, slot: Slot, filter: &str) {
        // The levels leading to `index`, deepest first: the edge into a node
        // is the filter level it stands for (a trailing `#` is a slot of
        // `index`, not an edge).
        let mut edges = filter.rsplit('/');
        if slot == Slot::Multi {
            edges.next();
        }
        let mut current = index;
        while current != ROOT {
            let Some(node) = self.nodes.get(current) else {
                return;
            };
            if !node.is_empty() {
                return;
            }
            let parent = node.parent;
            let Some(edge) = edges.next() else {
                return;
            };
            let Some(parent_node) = self.nodes.get_mut(parent) else {
                return;
            };
            if parent_node.plus == Some(current) {
                parent_node.plus = None;
            } else if parent_node.literal.get(edge) == Some(&current) {
                parent_node.literal.remove(edge);
            } else {
                // Unreachable: `edge` is the level leading to `current`.
                return;
            }
            if let Some(node) = self.nodes.get_mut(current) {
                *node = Node::new(ROOT);
            }
            self.free.push(current);
            current = parent;
        }
    }
}

/// Given the offset `start` of the topic level following some level `L`
/// (or `len + 1` if `L` is the last level), returns the offset of `L`.
fn previous_level_start(bytes: &[u8], start: usize) -> usize {
    let end_of_level = start.saturating_sub(1);
    bytes
        .get(..end_of_level)
        .and_then(|before| before.iter().rposition(|&b| b == b'/'))
        .map_or(0, |slash| slash + 1)
}

#[cfg(test)]
mod tests {
    use super::{TopicTrie, ROOT};
    use crate::topic::topic_matches;
    use alloc::collections::{BTreeMap, BTreeSet};
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn sorted<'a>(trie: &'a TopicTrie<u32>, topic: &str) -> Vec<&'a str> {
        let mut found: Vec<&str> = trie.matches(topic).into_iter().map(|(f, _)| f).collect();
        found.sort_unstable();
        found
    }

    fn trie_of(filters: &[&str]) -> TopicTrie<u32> {
        let mut trie = TopicTrie::new();
        for (value, filter) in (0u32..).zip(filters) {
            assert_eq!(trie.insert(filter, value), None);
        }
        trie
    }

    /// Nodes in use (arena size minus the free list).
    fn live_nodes<T>(trie: &TopicTrie<T>) -> usize {
        trie.nodes.len() - trie.free.len()
    }

    #[test]
    fn new_trie_is_empty_and_matches_nothing() {
        let trie: TopicTrie<u32> = TopicTrie::default();
        assert!(trie.is_empty());
        assert_eq!(trie.len(), 0);
        assert!(trie.matches("a").is_empty());
        assert!(trie.matches("").is_empty());
        assert_eq!(trie.get("#"), None);
    }

    #[test]
    fn insert_returns_previous_value_for_the_same_filter() {
        let mut trie = TopicTrie::new();
        assert_eq!(trie.insert("a/+", 1), None);
        assert_eq!(trie.insert("a/#", 2), None);
        assert_eq!(trie.insert("a/+", 3), Some(1));
        assert_eq!(trie.len(), 2);
        assert_eq!(trie.get("a/+"), Some(&3));
        assert_eq!(trie.get("a/#"), Some(&2));
    }

    #[test]
    fn get_is_an_exact_key_lookup_not_a_match() {
        let trie = trie_of(&["a/+", "a/#", "#"]);
        assert_eq!(trie.get("a/b"), None);
        assert_eq!(trie.get("a"), None);
        assert_eq!(trie.get("a/+"), Some(&0));
        assert_eq!(trie.get("a/#"), Some(&1));
        assert_eq!(trie.get("#"), Some(&2));
        assert_eq!(trie.get("+"), None);
        assert_eq!(trie.get("a/+/#"), None);
    }

    #[test]
    fn get_mut_changes_the_stored_value() {
        let mut trie = trie_of(&["a/b"]);
        if let Some(value) = trie.get_mut("a/b") {
            *value = 42;
        }
        assert_eq!(trie.get("a/b"), Some(&42));
        assert_eq!(trie.get_mut("a/c"), None);
        assert_eq!(trie.get_mut("a"), None);
    }

    // [MQTT-4.7.3-4]: filters are distinct keys; no normalisation.
    #[test]
    fn filters_differing_only_in_separators_are_distinct_keys_mqtt_4_7_3_4() {
        let trie = trie_of(&["a", "a/", "/a", "a//b", "a/b", "/", "//"]);
        assert_eq!(trie.len(), 7);
        assert_eq!(sorted(&trie, "a"), ["a"]);
        assert_eq!(sorted(&trie, "a/"), ["a/"]);
        assert_eq!(sorted(&trie, "/a"), ["/a"]);
        assert_eq!(sorted(&trie, "a//b"), ["a//b"]);
        assert_eq!(sorted(&trie, "/"), ["/"]);
        assert_eq!(sorted(&trie, "//"), ["//"]);
    }

    // [MQTT-4.7.1-1]: `sport/#` matches `sport`, `sport/` and deeper levels.
    #[test]
    fn multi_level_wildcard_entries_match_parent_and_children_mqtt_4_7_1_1() {
        let trie = trie_of(&["sport/#", "sport/tennis/#", "#", "sport"]);
        assert_eq!(sorted(&trie, "sport"), ["#", "sport", "sport/#"]);
        assert_eq!(sorted(&trie, "sport/"), ["#", "sport/#"]);
        assert_eq!(
            sorted(&trie, "sport/tennis"),
            ["#", "sport/#", "sport/tennis/#"]
        );
        assert_eq!(
            sorted(&trie, "sport/tennis/player1/ranking"),
            ["#", "sport/#", "sport/tennis/#"]
        );
        assert_eq!(sorted(&trie, "news"), ["#"]);
    }

    // [MQTT-4.7.1-2]: `+` matches exactly one, possibly empty, level.
    #[test]
    fn single_level_wildcard_entries_match_one_level_mqtt_4_7_1_2() {
        let trie = trie_of(&["+", "+/+", "sport/+", "+/tennis/#", "a/+/c"]);
        assert_eq!(sorted(&trie, "sport"), ["+"]);
        assert_eq!(sorted(&trie, "/"), ["+/+"]);
        assert_eq!(sorted(&trie, "sport/"), ["+/+", "sport/+"]);
        assert_eq!(
            sorted(&trie, "sport/tennis"),
            ["+/+", "+/tennis/#", "sport/+"]
        );
        assert_eq!(sorted(&trie, "x/tennis/y"), ["+/tennis/#"]);
        assert_eq!(sorted(&trie, "a//c"), ["a/+/c"]);
        assert_eq!(sorted(&trie, "a/b/c/d"), Vec::<&str>::new());
    }

    // [MQTT-4.7.2-1] The Server MUST NOT match Topic Filters starting with a
    // wildcard character (# or +) with Topic Names beginning with a $
    // character.
    #[test]
    fn first_level_wildcards_do_not_match_dollar_topics_mqtt_4_7_2_1() {
        let trie = trie_of(&[
            "#",
            "+",
            "+/#",
            "+/monitor/Clients",
            "$SYS/#",
            "$SYS/monitor/+",
            "$SYS",
        ]);
        assert_eq!(sorted(&trie, "$SYS"), ["$SYS", "$SYS/#"]);
        assert_eq!(sorted(&trie, "$SYS/x"), ["$SYS/#"]);
        assert_eq!(
            sorted(&trie, "$SYS/monitor/Clients"),
            ["$SYS/#", "$SYS/monitor/+"]
        );
        assert_eq!(
            sorted(&trie, "SYS/monitor/Clients"),
            ["#", "+/#", "+/monitor/Clients"]
        );
        assert_eq!(sorted(&trie, "$"), Vec::<&str>::new());
    }

    // [MQTT-4.7.2-1] only concerns the first level.
    #[test]
    fn dollar_in_later_levels_matches_wildcards_mqtt_4_7_2_1() {
        let trie = trie_of(&["a/+", "a/#", "#"]);
        assert_eq!(sorted(&trie, "a/$b"), ["#", "a/#", "a/+"]);
    }

    #[test]
    fn each_matching_filter_is_reported_exactly_once_with_its_value() {
        let trie = trie_of(&["a/b", "a/+", "+/b", "+/+", "#", "a/#", "+/#", "a/b/#"]);
        let mut found: Vec<(&str, u32)> = trie
            .matches("a/b")
            .into_iter()
            .map(|(f, v)| (f, *v))
            .collect();
        found.sort_unstable();
        assert_eq!(
            found,
            [
                ("#", 4),
                ("+/#", 6),
                ("+/+", 3),
                ("+/b", 2),
                ("a/#", 5),
                ("a/+", 1),
                ("a/b", 0),
                ("a/b/#", 7)
            ]
        );
        let mut count = 0;
        trie.for_each_match("a/b", |_, _| count += 1);
        assert_eq!(count, 8);
    }

    #[test]
    fn remove_returns_the_value_and_stops_matching() {
        let mut trie = trie_of(&["a/b", "a/#"]);
        assert_eq!(trie.remove("a/+"), None);
        assert_eq!(trie.remove("a"), None);
        assert_eq!(trie.remove("a/b"), Some(0));
        assert_eq!(trie.remove("a/b"), None);
        assert_eq!(trie.len(), 1);
        assert_eq!(sorted(&trie, "a/b"), ["a/#"]);
        assert_eq!(trie.remove("a/#"), Some(1));
        assert!(trie.is_empty());
        assert!(trie.matches("a/b").is_empty());
    }

    #[test]
    fn remove_prunes_empty_branches_but_keeps_shared_ancestors() {
        let mut trie = trie_of(&["a/b/c/d", "a/b", "a/+/x/#"]);
        // root, a, b, c, d, +, x
        assert_eq!(live_nodes(&trie), 7);
        assert_eq!(trie.remove("a/b/c/d"), Some(0));
        // c and d pruned; b still holds "a/b".
        assert_eq!(live_nodes(&trie), 5);
        assert_eq!(trie.remove("a/+/x/#"), Some(2));
        // + and x pruned.
        assert_eq!(live_nodes(&trie), 3);
        assert_eq!(sorted(&trie, "a/b"), ["a/b"]);
        assert_eq!(trie.remove("a/b"), Some(1));
        assert!(trie.nodes.is_empty());
    }

    #[test]
    fn memory_does_not_grow_with_subscribe_unsubscribe_churn() {
        let mut trie = trie_of(&["keep/#"]);
        for round in 0..200 {
            let filter = format!("churn/{}/+/{round}/#", round % 7);
            trie.insert(&filter, round);
            trie.insert("churn/x", round);
            assert_eq!(trie.remove(&filter), Some(round));
            assert_eq!(trie.remove("churn/x"), Some(round));
            assert_eq!(live_nodes(&trie), 2, "round {round}");
        }
        assert!(trie.nodes.len() <= 8, "arena grew to {}", trie.nodes.len());
        assert_eq!(trie.len(), 1);
    }

    #[test]
    fn clear_empties_the_trie() {
        let mut trie = trie_of(&["a", "b/#"]);
        trie.clear();
        assert!(trie.is_empty());
        assert!(trie.matches("a").is_empty());
        assert_eq!(trie.insert("a", 7), None);
        assert_eq!(trie.matches("a"), [("a", &7)]);
    }

    #[test]
    fn iter_and_debug_list_every_filter() {
        let trie = trie_of(&["a/+", "#", "a"]);
        let mut all: Vec<(&str, u32)> = trie.iter().map(|(f, v)| (f, *v)).collect();
        all.sort_unstable();
        assert_eq!(all, [("#", 1), ("a", 2), ("a/+", 0)]);
        let debug = format!("{trie:?}");
        assert!(debug.contains("\"a/+\": 0"), "{debug}");
        assert!(debug.starts_with('{') && debug.ends_with('}'));
    }

    #[test]
    fn clone_is_independent() {
        let mut original = trie_of(&["a/#"]);
        let copy = original.clone();
        original.remove("a/#");
        assert_eq!(copy.get("a/#"), Some(&0));
        assert_eq!(copy.matches("a/b"), [("a/#", &0)]);
    }

    // Invalid filters never panic and are interpreted like topic_matches.
    #[test]
    fn invalid_filters_are_stored_and_matched_literally() {
        let mut trie = trie_of(&["a/#/b", "a+", "", "#/"]);
        assert_eq!(sorted(&trie, "a/#/b"), ["a/#/b"]);
        assert_eq!(sorted(&trie, "a+"), ["a+"]);
        assert_eq!(sorted(&trie, ""), [""]);
        assert_eq!(sorted(&trie, "#/"), ["#/"]);
        assert_eq!(sorted(&trie, "a/x/b"), Vec::<&str>::new());
        for filter in ["a/#/b", "a+", "", "#/"] {
            assert!(trie.remove(filter).is_some(), "{filter:?}");
        }
        assert!(trie.is_empty());
    }

    #[test]
    fn very_deep_topics_and_filters_do_not_overflow_the_stack() {
        let deep_filter = "+/".repeat(30_000) + "#";
        let deep_literal = "a/".repeat(30_000) + "a";
        let deep_topic = "a/".repeat(32_000) + "a";
        let mut trie = TopicTrie::new();
        trie.insert(&deep_filter, 1);
        trie.insert(&deep_literal, 2);
        let mut found: Vec<u32> = trie
            .matches(&deep_topic)
            .into_iter()
            .map(|(_, v)| *v)
            .collect();
        found.sort_unstable();
        assert_eq!(found, [1]);
        assert_eq!(trie.matches(&deep_literal).len(), 2);
        let copy = trie.clone();
        assert_eq!(trie.remove(&deep_filter), Some(1));
        assert_eq!(trie.remove(&deep_literal), Some(2));
        assert!(trie.is_empty());
        drop(copy);
    }

    #[test]
    fn matching_ignores_unrelated_filters() {
        // Many filters under other first levels are never visited: a match
        // against "x/y" touches only root, "x" and "y".
        let mut trie = TopicTrie::new();
        for i in 0..1000u32 {
            trie.insert(&format!("f{i}/+/#"), i);
        }
        trie.insert("x/y", 5000);
        assert_eq!(trie.matches("x/y"), [("x/y", &5000)]);
        assert_eq!(trie.matches("f7/a/b"), [("f7/+/#", &7)]);
    }

    // ---- property tests -------------------------------------------------

    /// Levels for topic names (valid: no wildcards).
    fn name_level() -> impl Strategy<Value = &'static str> {
        prop::sample::select(&["a", "b", "$x", "", "ab"][..])
    }

    /// A valid topic name of 1 to 4 levels.
    fn topic_name() -> impl Strategy<Value = String> {
        prop::collection::vec(name_level(), 1..=4).prop_map(|levels| levels.join("/"))
    }

    /// A valid topic filter of 1 to 4 levels: literals and `+` anywhere,
    /// optionally `#` as the last level.
    fn topic_filter() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop::sample::select(&["a", "b", "$x", "", "+"][..]), 0..=3),
            any::<bool>(),
        )
            .prop_filter_map("a filter has at least one level", |(mut levels, hash)| {
                if hash {
                    levels.push("#");
                }
                (!levels.is_empty()).then(|| levels.join("/"))
            })
    }

    /// Any string over `/`, wildcards and a few letters: mostly invalid.
    fn arbitrary_topic_string() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(&['a', '/', '+', '#', '$'][..]), 0..=6)
            .prop_map(|chars| chars.into_iter().collect())
    }

    fn brute_force<'a>(filters: &'a BTreeSet<String>, topic: &str) -> Vec<&'a str> {
        filters
            .iter()
            .map(String::as_str)
            .filter(|filter| topic_matches(filter, topic))
            .collect()
    }

    proptest! {
        // [MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.2-1]: the trie agrees
        // with single-filter matching on valid filters and names.
        #[test]
        fn trie_matches_exactly_the_filters_that_topic_matches_accepts(
            filters in prop::collection::btree_set(topic_filter(), 0..24),
            topics in prop::collection::vec(topic_name(), 1..8),
        ) {
            let mut trie = TopicTrie::new();
            for filter in &filters {
                prop_assert_eq!(trie.insert(filter, filter.clone()), None);
            }
            prop_assert_eq!(trie.len(), filters.len());
            for topic in &topics {
                let mut found = Vec::new();
                trie.for_each_match(topic, |filter, value| {
                    assert_eq!(filter, value.as_str());
                    found.push(filter);
                });
                found.sort_unstable();
                let expected = brute_force(&filters, topic);
                prop_assert_eq!(&found, &expected, "topic {:?}", topic);
            }
        }

        // The trie and topic_matches interpret even invalid strings the
        // same way, and neither panics.
        #[test]
        fn trie_and_topic_matches_agree_on_arbitrary_strings(
            filters in prop::collection::btree_set(arbitrary_topic_string(), 0..16),
            topics in prop::collection::vec(arbitrary_topic_string(), 1..8),
        ) {
            let mut trie = TopicTrie::new();
            for filter in &filters {
                trie.insert(filter, ());
            }
            prop_assert_eq!(trie.len(), filters.len());
            for topic in &topics {
                let mut found: Vec<&str> = trie.matches(topic).into_iter().map(|(f, _)| f).collect();
                found.sort_unstable();
                let expected = brute_force(&filters, topic);
                prop_assert_eq!(&found, &expected, "topic {:?}", topic);
            }
        }

        // Insert/remove keep `len` equal to a reference map's, lookups agree,
        // matching stays right after removals, and removing everything
        // leaves an empty trie with no nodes.
        #[test]
        fn insert_and_remove_track_len_and_prune_everything(
            ops in prop::collection::vec((any::<bool>(), topic_filter(), any::<u8>()), 0..64),
            topic in topic_name(),
        ) {
            let mut trie = TopicTrie::new();
            let mut model: BTreeMap<String, u8> = BTreeMap::new();
            for (is_insert, filter, value) in ops {
                if is_insert {
                    prop_assert_eq!(trie.insert(&filter, value), model.insert(filter.clone(), value));
                } else {
                    prop_assert_eq!(trie.remove(&filter), model.remove(&filter));
                }
                prop_assert_eq!(trie.len(), model.len());
                prop_assert_eq!(trie.is_empty(), model.is_empty());
                prop_assert_eq!(trie.get(&filter), model.get(&filter));
            }
            let mut found: Vec<(String, u8)> =
                trie.matches(&topic).into_iter().map(|(f, v)| (f.to_string(), *v)).collect();
            found.sort_unstable();
            let expected: Vec<(String, u8)> = model
                .iter()
                .filter(|(filter, _)| topic_matches(filter, &topic))
                .map(|(f, v)| (f.clone(), *v))
                .collect();
            prop_assert_eq!(found, expected);

            let keys: Vec<String> = model.keys().cloned().collect();
            for filter in keys {
                prop_assert_eq!(trie.remove(&filter), model.remove(&filter));
                prop_assert_eq!(trie.len(), model.len());
                // Every remaining node is reachable and needed: live nodes
                // never exceed one per distinct filter level plus the root.
                let levels: usize = model.keys().map(|f| f.split('/').count()).sum();
                prop_assert!(live_nodes(&trie) <= levels + 1);
            }
            prop_assert!(trie.is_empty());
            prop_assert_eq!(trie.len(), 0);
            prop_assert!(trie.nodes.is_empty());
            prop_assert!(trie.matches(&topic).is_empty());
        }
    }

    #[test]
    fn root_index_is_zero() {
        let trie = trie_of(&["a"]);
        assert_eq!(trie.nodes.get(ROOT).map(|node| node.parent), Some(ROOT));
    }
}
