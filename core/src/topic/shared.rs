//! Shared subscriptions: `$share/{ShareName}/{filter}` (MQTT 5.0 §4.8.2).

use super::TopicError;

/// The prefix that marks a shared subscription's topic filter.
pub(super) const SHARE_PREFIX: &str = "$share/";

/// A shared subscription topic filter split into its parts.
///
/// A shared subscription is subscribed to with the filter
/// `$share/{ShareName}/{filter}`; messages are matched against the inner
/// `{filter}` alone, and each matching message is delivered to only one of
/// the sessions subscribed with the same ShareName and filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedSubscription<'a> {
    /// The ShareName: the group of sessions that share the subscription.
    /// Never empty, never contains `/`, `+` or `#`.
    pub group: &'a str,
    /// The topic filter that topic names are matched against. Never empty;
    /// not otherwise validated by [`SharedSubscription::parse`].
    pub filter: &'a str,
}

impl<'a> SharedSubscription<'a> {
    /// Splits a shared subscription filter into its ShareName and inner
    /// topic filter.
    ///
    /// Returns `Ok(None)` if `filter` does not start with `$share/` (it is an
    /// ordinary filter; note that the comparison is case-sensitive and that
    /// `$share` alone is not a shared subscription).
    ///
    /// Otherwise the ShareName, which runs up to the next `/`, must be at
    /// least one character long `[MQTT-4.8.2-1]` and must not contain `+` or
    /// `#` (it cannot contain `/` by construction) `[MQTT-4.8.2-2]`; either
    /// violation gives [`TopicError::InvalidShareName`]. The ShareName must
    /// then be followed by `/` and a non-empty topic filter `[MQTT-4.8.2-2]`,
    /// else [`TopicError::EmptySharedFilter`].
    ///
    /// The inner filter is *not* checked for wildcard placement, length or
    /// U+0000; [`validate_topic_filter`](super::validate_topic_filter) checks
    /// the whole filter including the inner one.
    ///
    /// ```
    /// use mqtt_core::topic::SharedSubscription;
    /// let shared = SharedSubscription::parse("$share/workers/jobs/#").unwrap().unwrap();
    /// assert_eq!(shared.group, "workers");
    /// assert_eq!(shared.filter, "jobs/#");
    /// ```
    pub fn parse(filter: &'a str) -> Result<Option<Self>, TopicError> {
        let Some(rest) = filter.strip_prefix(SHARE_PREFIX) else {
            return Ok(None);
        };
        let (group, inner) = match rest.split_once('/') {
            Some((group, inner)) => (group, Some(inner)),
            None => (rest, None),
        };
        if group.is_empty() || group.bytes().any(|b| b == b'+' || b == b'#') {
            return Err(TopicError::InvalidShareName);
        }
        match inner {
            Some(inner) if !inner.is_empty() => Ok(Some(Self {
                group,
                filter: inner,
            })),
            _ => Err(TopicError::EmptySharedFilter),
        }
    }
}

/// Returns `true` if `filter` is meant as a shared subscription, i.e. starts
/// with `$share/` (case-sensitive).
///
/// This only looks at the prefix; use [`SharedSubscription::parse`] or
/// [`validate_topic_filter`](super::validate_topic_filter) to check that it
/// is well-formed.
pub fn is_shared(filter: &str) -> bool {
    filter.starts_with(SHARE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::{is_shared, SharedSubscription};
    use crate::topic::TopicError;

    fn shared<'a>(
        group: &'a str,
        filter: &'a str,
    ) -> Result<Option<SharedSubscription<'a>>, TopicError> {
        Ok(Some(SharedSubscription { group, filter }))
    }

    // [MQTT-4.8.2-1] A Shared Subscription's Topic Filter MUST start with
    // "$share/": anything else is an ordinary filter.
    #[test]
    fn filters_without_share_prefix_parse_to_none_mqtt_4_8_2_1() {
        for filter in [
            "",
            "a/b",
            "#",
            "+",
            "$share",
            "$SHARE/g/a",
            "$shared/g/a",
            " $share/g/a",
            "$SYS/#",
        ] {
            assert_eq!(SharedSubscription::parse(filter), Ok(None), "{filter:?}");
            assert!(!is_shared(filter), "{filter:?}");
        }
    }

    // [MQTT-4.8.2-1], [MQTT-4.8.2-2]
    #[test]
    fn share_name_and_inner_filter_are_split_at_first_slash_mqtt_4_8_2_2() {
        assert_eq!(SharedSubscription::parse("$share/g/#"), shared("g", "#"));
        assert_eq!(
            SharedSubscription::parse("$share/consumer1/sport/tennis/+"),
            shared("consumer1", "sport/tennis/+")
        );
        assert_eq!(
            SharedSubscription::parse("$share/consumer1//finance"),
            shared("consumer1", "/finance")
        );
        assert_eq!(SharedSubscription::parse("$share/g//"), shared("g", "/"));
        assert_eq!(
            SharedSubscription::parse("$share/$g/$SYS/#"),
            shared("$g", "$SYS/#")
        );
        assert!(is_shared("$share/g/#"));
    }

    // [MQTT-4.8.2-1] ... MUST contain a ShareName that is at least one
    // character long.
    #[test]
    fn empty_share_name_is_rejected_mqtt_4_8_2_1() {
        for filter in ["$share//a", "$share/", "$share//", "$share//#"] {
            assert_eq!(
                SharedSubscription::parse(filter),
                Err(TopicError::InvalidShareName),
                "{filter:?}"
            );
            assert!(is_shared(filter));
        }
    }

    // [MQTT-4.8.2-2] The ShareName MUST NOT contain the characters "/", "+"
    // or "#".
    #[test]
    fn share_name_with_wildcards_is_rejected_mqtt_4_8_2_2() {
        for filter in [
            "$share/g+/a",
            "$share/+/a",
            "$share/#/a",
            "$share/a#b/c",
            "$share/#",
            "$share/g+",
        ] {
            assert_eq!(
                SharedSubscription::parse(filter),
                Err(TopicError::InvalidShareName),
                "{filter:?}"
            );
        }
    }

    // [MQTT-4.8.2-2] The ShareName ... MUST be followed by a "/" character.
    // This "/" character MUST be followed by a Topic Filter.
    #[test]
    fn share_name_without_following_filter_is_rejected_mqtt_4_8_2_2() {
        assert_eq!(
            SharedSubscription::parse("$share/g"),
            Err(TopicError::EmptySharedFilter)
        );
        assert_eq!(
            SharedSubscription::parse("$share/g/"),
            Err(TopicError::EmptySharedFilter)
        );
    }

    // parse does not validate the inner filter's wildcards.
    #[test]
    fn parse_leaves_inner_filter_validation_to_validate_topic_filter() {
        assert_eq!(
            SharedSubscription::parse("$share/g/a#/b"),
            shared("g", "a#/b")
        );
    }
}
