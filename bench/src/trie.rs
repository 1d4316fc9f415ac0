//! Case (f), `trie_match_100k/match/{impl}`: find every subscription filter
//! among [`fixtures::trie_filters`] (100,000) that matches
//! [`fixtures::TRIE_TOPIC`], and count them.
//!
//! * `libmqtt`: `mqtt_core::topic::TopicTrie::for_each_match`, cost
//!   proportional to the topic's levels (and the `+`/`#` branches that match).
//! * `linear-scan`: the brute-force reference the trie must beat — test every
//!   filter in turn. It uses the peer's public matcher
//!   `rumqttc::mqttbytes::matches(topic, filter)` (rumqttc is the only peer
//!   here exposing a plain `fn(&str, &str) -> bool`; mqtt-protocol's
//!   `TopicFilterRef::get_matcher().is_match(..)` needs typed wrappers).
//!   [`linear_scan_ours`] does the same with `mqtt_core::topic::topic_matches`
//!   and serves only as a cross-check.
//!
//! None of the codec peers ships a subscription index, so the trie has no
//! like-for-like peer.

use mqtt_core::topic::{topic_matches, TopicTrie};

use crate::fixtures;

/// Our trie over `filters`, each mapped to its index.
pub fn build_trie(filters: &[String]) -> TopicTrie<u32> {
    let mut trie = TopicTrie::new();
    for (i, f) in filters.iter().enumerate() {
        let prev = trie.insert(f, i as u32);
        assert!(prev.is_none(), "duplicate filter {f}");
    }
    trie
}

/// Number of filters in `trie` matching `topic` (the timed operation).
#[inline]
pub fn trie_count(trie: &TopicTrie<u32>, topic: &str) -> usize {
    let mut n = 0usize;
    trie.for_each_match(topic, |_, _| n += 1);
    n
}

/// Brute force with rumqttc's matcher (the timed peer operation).
#[inline]
pub fn linear_scan_count(filters: &[String], topic: &str) -> usize {
    filters
        .iter()
        .filter(|f| rumqttc::mqttbytes::matches(topic, f))
        .count()
}

/// Brute force with our own single-filter matcher (cross-check only).
pub fn linear_scan_ours(filters: &[String], topic: &str) -> usize {
    filters.iter().filter(|f| topic_matches(f, topic)).count()
}

/// Outside-timing check: trie, rumqttc scan and our scan agree, and the
/// count is the one the fixture predicts. Returns the count.
pub fn check(filters: &[String], trie: &TopicTrie<u32>) -> usize {
    let topic = fixtures::TRIE_TOPIC;
    assert_eq!(trie.len(), fixtures::TRIE_FILTERS);
    let n = trie_count(trie, topic);
    assert_eq!(n, fixtures::TRIE_EXPECTED_MATCHES, "trie");
    assert_eq!(linear_scan_count(filters, topic), n, "rumqttc linear scan");
    assert_eq!(
        linear_scan_ours(filters, topic),
        n,
        "topic_matches linear scan"
    );
    let mut hits: Vec<&str> = trie.matches(topic).into_iter().map(|(f, _)| f).collect();
    hits.sort_unstable();
    let mut expected: Vec<&str> = filters
        .iter()
        .map(String::as_str)
        .filter(|f| topic_matches(f, topic))
        .collect();
    expected.sort_unstable();
    assert_eq!(hits, expected);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trie_and_linear_scans_agree() {
        let filters = fixtures::trie_filters();
        let trie = build_trie(&filters);
        check(&filters, &trie);
    }
}
