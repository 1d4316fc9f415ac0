//! Validation of topic filters (the filters of SUBSCRIBE and UNSUBSCRIBE).

use super::name::{check_common, MAX_TOPIC_LEN};
use super::shared::SHARE_PREFIX;
use super::TopicError;

/// Validates a topic filter, as carried by SUBSCRIBE and UNSUBSCRIBE.
///
/// The rules, checked in this order:
///
/// 1. at least one character `[MQTT-4.7.3-1]`, at most 65 535 bytes
///    `[MQTT-4.7.3-3]`, no U+0000 `[MQTT-4.7.3-2]`;
/// 2. if the filter starts with `$share/`, it must be a well-formed shared
///    subscription `$share/{ShareName}/{filter}` `[MQTT-4.8.2-1]`,
///    `[MQTT-4.8.2-2]` (see [`SharedSubscription::parse`](super::SharedSubscription::parse)), and the inner
///    `{filter}` is validated by these same rules (so it may itself be
///    another `$share/` filter, which must then be well-formed too);
/// 3. `#` may only appear as a whole level, and only as the last one
///    `[MQTT-4.7.1-1]`;
/// 4. `+` may only appear as a whole level `[MQTT-4.7.1-2]`.
///
/// Empty levels are legal: `/`, `//`, `a//b` and `+/+` are valid filters.
///
/// ```
/// use mqtt_core::topic::{validate_topic_filter, TopicError};
/// assert_eq!(validate_topic_filter("sport/+/player1/#"), Ok(()));
/// assert_eq!(
///     validate_topic_filter("sport/#/ranking"),
///     Err(TopicError::MisplacedMultiLevelWildcard)
/// );
/// ```
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_topic_filter_bytes(filter.as_bytes())
}

/// [`validate_topic_filter`] on the bytes of a string known to be UTF-8
/// (the codec's hot path: no second UTF-8 check).
#[inline]
pub(crate) fn check_topic_filter_bytes(filter: &[u8]) -> Result<(), TopicError> {
    // The usual case, valid and not shared, in one tight pass; anything
    // else (an error to name, a `$share/` prefix) takes the full path.
    if valid_plain_filter(filter) {
        return Ok(());
    }
    check_filter_full(filter)
}

/// Whether `filter` is a valid topic filter without a `$share/` prefix:
/// non-empty, at most 65,535 bytes, no U+0000, `+` only as a whole level,
/// `#` only as the whole last level. `false` says nothing about which rule
/// failed.
#[inline]
fn valid_plain_filter(filter: &[u8]) -> bool {
    let n = filter.len();
    if n == 0 || n > MAX_TOPIC_LEN || filter.starts_with(SHARE_PREFIX.as_bytes()) {
        return false;
    }
    let mut prev = b'/';
    for (i, &b) in filter.iter().enumerate() {
        let bad = match b {
            0 => true,
            b'+' => prev != b'/' || filter.get(i + 1).is_some_and(|&c| c != b'/'),
            b'#' => prev != b'/' || i + 1 != n,
            _ => false,
        };
        if bad {
            return false;
        }
        prev = b;
    }
    true
}

/// [`check_topic_filter_bytes`] without the fast path: names the rule a
/// filter breaks.
fn check_filter_full(filter: &[u8]) -> Result<(), TopicError> {
    if !filter.starts_with(SHARE_PREFIX.as_bytes()) {
        // The common case, in one pass: length, U+0000 and wildcards.
        if filter.is_empty() {
            return Err(TopicError::Empty);
        }
        if filter.len() > MAX_TOPIC_LEN {
            return Err(TopicError::TooLong);
        }
        let (nul, wildcards) = scan_filter(filter);
        if nul {
            return Err(TopicError::NullCharacter);
        }
        return wildcards;
    }
    check_common(filter)?;
    // Unwrap nested `$share/` prefixes with a loop rather than recursion, so
    // that a hostile filter made of thousands of prefixes cannot exhaust the
    // stack. The inner filter is a strict suffix, so it is already known to
    // be short enough and free of U+0000; it only needs to be non-empty.
    // Same rules as `SharedSubscription::parse`, on bytes.
    let mut filter = filter;
    while let Some(rest) = filter.strip_prefix(SHARE_PREFIX.as_bytes()) {
        let (group, inner) = match rest.iter().position(|&b| b == b'/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if group.is_empty() || group.iter().any(|&b| b == b'+' || b == b'#') {
            return Err(TopicError::InvalidShareName);
        }
        match inner {
            Some(inner) if !inner.is_empty() => filter = inner,
            _ => return Err(TopicError::EmptySharedFilter),
        }
    }
    scan_filter(filter).1
}

/// One pass over a filter: whether it holds U+0000, and the first level
/// that breaks the wildcard placement rules: `#` only as the whole last
/// level `[MQTT-4.7.1-1]`, `+` only as a whole level `[MQTT-4.7.1-2]`
/// (a level with both reports the `#` rule).
#[inline]
fn scan_filter(filter: &[u8]) -> (bool, Result<(), TopicError>) {
    /// The rules for one level, given its length and wildcard bytes.
    #[inline(always)]
    fn level(len: usize, hash: bool, plus: bool, last: bool) -> Result<(), TopicError> {
        if hash && !(last && len == 1) {
            Err(TopicError::MisplacedMultiLevelWildcard)
        } else if plus && len != 1 {
            Err(TopicError::MisplacedSingleLevelWildcard)
        } else {
            Ok(())
        }
    }
    let mut nul = false;
    let mut result = Ok(());
    let (mut len, mut hash, mut plus) = (0usize, false, false);
    for &b in filter {
        if b == b'/' {
            if result.is_ok() {
                result = level(len, hash, plus, false);
            }
            (len, hash, plus) = (0, false, false);
        } else {
            nul |= b == 0;
            hash |= b == b'#';
            plus |= b == b'+';
            len += 1;
        }
    }
    if result.is_ok() {
        result = level(len, hash, plus, true);
    }
    (nul, result)
}

#[cfg(test)]
mod scan_tests {
    use super::*;
    use proptest::prelude::*;

    /// The rules written plainly, level by level: the reference the
    /// one-pass scan must agree with.
    fn reference(filter: &[u8]) -> Result<(), TopicError> {
        check_common(filter)?;
        let mut levels = filter.split(|&b| b == b'/').peekable();
        while let Some(level) = levels.next() {
            let is_last = levels.peek().is_none();
            if level.contains(&b'#') && !(is_last && level == b"#") {
                return Err(TopicError::MisplacedMultiLevelWildcard);
            }
            if level.contains(&b'+') && level != b"+" {
                return Err(TopicError::MisplacedSingleLevelWildcard);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
        #[test]
        fn one_pass_scan_agrees_with_the_level_by_level_rules(f in "[ab/+#\\x00]{0,12}") {
            let f = f.as_bytes();
            prop_assume!(!f.starts_with(SHARE_PREFIX.as_bytes()));
            prop_assert_eq!(check_topic_filter_bytes(f), reference(f));
            prop_assert_eq!(valid_plain_filter(f), reference(f).is_ok());
            prop_assert_eq!(check_filter_full(f), reference(f));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate_topic_filter;
    use crate::topic::name::MAX_TOPIC_LEN;
    use crate::topic::TopicError;
    use alloc::format;
    use alloc::string::String;

    fn ok(filter: &str) {
        assert_eq!(validate_topic_filter(filter), Ok(()), "{filter:?}");
    }

    fn err(filter: &str, expected: TopicError) {
        assert_eq!(validate_topic_filter(filter), Err(expected), "{filter:?}");
    }

    // [MQTT-4.7.3-1] All Topic Filters MUST be at least one character long.
    #[test]
    fn empty_filter_is_rejected_mqtt_4_7_3_1() {
        err("", TopicError::Empty);
    }

    // [MQTT-4.7.3-3] Topic Filters MUST NOT encode to more than 65,535 bytes.
    #[test]
    fn filter_of_exactly_65535_bytes_is_accepted_mqtt_4_7_3_3() {
        ok(&"a".repeat(MAX_TOPIC_LEN));
        let mut with_hash = "a".repeat(MAX_TOPIC_LEN - 2);
        with_hash.push_str("/#");
        assert_eq!(with_hash.len(), MAX_TOPIC_LEN);
        ok(&with_hash);
    }

    // [MQTT-4.7.3-3]
    #[test]
    fn filter_of_65536_bytes_is_rejected_mqtt_4_7_3_3() {
        err(&"a".repeat(MAX_TOPIC_LEN + 1), TopicError::TooLong);
        err(&"+/".repeat(32_768), TopicError::TooLong);
    }

    // [MQTT-4.7.3-2] Topic Filters MUST NOT include the null character.
    #[test]
    fn filter_containing_null_is_rejected_mqtt_4_7_3_2() {
        err("\0", TopicError::NullCharacter);
        err("a/\0/#", TopicError::NullCharacter);
        err("$share/g\0/a", TopicError::NullCharacter);
        err("$share/g/a\0", TopicError::NullCharacter);
    }

    // [MQTT-4.7.1-1] The multi-level wildcard character MUST be specified
    // either on its own or following a topic level separator. In either case
    // it MUST be the last character specified in the Topic Filter.
    #[test]
    fn multi_level_wildcard_alone_or_after_separator_at_end_is_accepted_mqtt_4_7_1_1() {
        for filter in [
            "#",
            "sport/#",
            "sport/tennis/player1/#",
            "/#",
            "+/#",
            "//#",
            "$SYS/#",
        ] {
            ok(filter);
        }
    }

    // [MQTT-4.7.1-1]
    #[test]
    fn multi_level_wildcard_not_last_or_not_whole_level_is_rejected_mqtt_4_7_1_1() {
        for filter in [
            "a/#/b",
            "#/",
            "#/a",
            "a/b#",
            "a#",
            "#a",
            "sport/tennis#",
            "##",
            "a/##",
            "+#",
            "#+",
            "a/#/#",
        ] {
            err(filter, TopicError::MisplacedMultiLevelWildcard);
        }
    }

    // [MQTT-4.7.1-2] The single-level wildcard can be used at any level in
    // the Topic Filter, including first and last levels. Where it is used,
    // it MUST occupy an entire level of the filter.
    #[test]
    fn single_level_wildcard_occupying_whole_levels_is_accepted_mqtt_4_7_1_2() {
        for filter in [
            "+",
            "+/",
            "/+",
            "+/+",
            "sport/+/player1",
            "+/tennis/#",
            "+/+/+",
            "a/+",
        ] {
            ok(filter);
        }
    }

    // [MQTT-4.7.1-2]
    #[test]
    fn single_level_wildcard_sharing_a_level_is_rejected_mqtt_4_7_1_2() {
        for filter in ["a+", "+a", "sport+", "a/b+/c", "a/++", "++", "+a/#"] {
            err(filter, TopicError::MisplacedSingleLevelWildcard);
        }
    }

    // [MQTT-4.7.3-1]: the separator alone and empty levels are valid filters.
    #[test]
    fn separators_and_empty_levels_are_accepted_mqtt_4_7_3_1() {
        for filter in ["/", "//", "a//b", "/finance", "finance/", "a/b/c"] {
            ok(filter);
        }
    }

    // [MQTT-4.8.2-1], [MQTT-4.8.2-2]: a well-formed shared subscription.
    #[test]
    fn well_formed_shared_subscriptions_are_accepted_mqtt_4_8_2_1() {
        for filter in [
            "$share/g/#",
            "$share/g/+",
            "$share/consumer1/sport/tennis/+",
            "$share/consumer1//finance",
            "$share/g//",
            "$share/g/$SYS/#",
            "$share/$g/a",
            "$share/g h/a",
        ] {
            ok(filter);
        }
    }

    // [MQTT-4.8.2-1] A Shared Subscription's Topic Filter MUST ... contain a
    // ShareName that is at least one character long.
    #[test]
    fn shared_subscription_with_empty_share_name_is_rejected_mqtt_4_8_2_1() {
        err("$share//a", TopicError::InvalidShareName);
        err("$share/", TopicError::InvalidShareName);
        err("$share//", TopicError::InvalidShareName);
    }

    // [MQTT-4.8.2-2] The ShareName MUST NOT contain the characters "/", "+"
    // or "#".
    #[test]
    fn shared_subscription_with_wildcard_in_share_name_is_rejected_mqtt_4_8_2_2() {
        err("$share/g+/a", TopicError::InvalidShareName);
        err("$share/+/a", TopicError::InvalidShareName);
        err("$share/#/a", TopicError::InvalidShareName);
        err("$share/g#/a", TopicError::InvalidShareName);
        // The ShareName is checked before the missing inner filter.
        err("$share/#", TopicError::InvalidShareName);
        err("$share/g+", TopicError::InvalidShareName);
    }

    // [MQTT-4.8.2-2] ... but MUST be followed by a "/" character. This "/"
    // character MUST be followed by a Topic Filter.
    #[test]
    fn shared_subscription_without_inner_filter_is_rejected_mqtt_4_8_2_2() {
        err("$share/g", TopicError::EmptySharedFilter);
        err("$share/g/", TopicError::EmptySharedFilter);
    }

    // [MQTT-4.8.2-2], [MQTT-4.7.1-1], [MQTT-4.7.1-2]: the inner filter of a
    // shared subscription obeys the ordinary topic filter rules.
    #[test]
    fn shared_subscription_inner_filter_is_validated_mqtt_4_7_1_1() {
        err("$share/g/a/#/b", TopicError::MisplacedMultiLevelWildcard);
        err("$share/g/a#", TopicError::MisplacedMultiLevelWildcard);
        err("$share/g/a+", TopicError::MisplacedSingleLevelWildcard);
    }

    // Nested `$share/` prefixes are validated as shared subscriptions again.
    #[test]
    fn nested_shared_prefix_is_validated_recursively_mqtt_4_8_2_2() {
        ok("$share/g/$share/h/a");
        err("$share/g/$share//a", TopicError::InvalidShareName);
        err("$share/g/$share/h", TopicError::EmptySharedFilter);
        err(
            "$share/g/$share/h/a+",
            TopicError::MisplacedSingleLevelWildcard,
        );
    }

    // A very deep nest of prefixes must not exhaust the stack.
    #[test]
    fn deeply_nested_shared_prefixes_do_not_overflow_the_stack() {
        let mut filter = "$share/g/".repeat(7_000);
        filter.push('#');
        assert!(filter.len() <= MAX_TOPIC_LEN);
        ok(&filter);
        filter.push('x');
        err(&filter, TopicError::MisplacedMultiLevelWildcard);
    }

    // Filters that merely resemble the `$share/` prefix are ordinary filters.
    #[test]
    fn filters_resembling_share_prefix_are_ordinary_filters() {
        ok("$share");
        ok("$SHARE//a");
        ok("$sharex//a");
        ok("share//a");
        err("$share+/a", TopicError::MisplacedSingleLevelWildcard);
    }

    // [MQTT-4.7.3-3] applies to the full shared filter, prefix included.
    #[test]
    fn shared_filter_length_includes_prefix_mqtt_4_7_3_3() {
        let prefix = "$share/g/";
        let inner = "a".repeat(MAX_TOPIC_LEN - prefix.len());
        ok(&format!("{prefix}{inner}"));
        let inner: String = "a".repeat(MAX_TOPIC_LEN - prefix.len() + 1);
        err(&format!("{prefix}{inner}"), TopicError::TooLong);
    }
}
