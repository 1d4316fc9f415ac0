//! Matching a single topic filter against a topic name.

/// Returns `true` if the topic name `name` matches the topic filter
/// `filter`.
///
/// Both are split into levels at `/` and compared level by level, byte for
/// byte, without any normalisation `[MQTT-4.7.3-4]`:
///
/// * a literal level matches the identical level only (so `a/b` does not
///   match `a/b/` nor `a//b`);
/// * `+` matches exactly one level, which may be empty (`+/+` matches `/`;
///   `sport/+` matches `sport/` but not `sport`);
/// * `#` as the last level matches any number of levels, including none:
///   `sport/#` matches `sport`, `sport/` and `sport/a/b`, and `#` matches
///   every name;
/// * a filter whose first level is a wildcard (`+` or `#`) never matches a
///   name starting with `$` `[MQTT-4.7.2-1]`, while `$SYS/#` does match
///   `$SYS/x`.
///
/// Both arguments are expected to be valid (see
/// [`validate_topic_filter`](super::validate_topic_filter) and
/// [`validate_topic_name`](super::validate_topic_name)); a shared
/// subscription's `$share/{ShareName}/` prefix must be stripped first. For
/// invalid inputs the result is still well defined and this never panics: a
/// `#` that is not the last level and any level that is not exactly `+` are
/// compared literally. This is the same interpretation
/// [`TopicTrie`](super::TopicTrie) uses.
///
/// Runs in time linear in the inputs' lengths and does not allocate.
///
/// ```
/// use mqtt_core::topic::topic_matches;
/// assert!(topic_matches("sport/tennis/+", "sport/tennis/player1"));
/// assert!(topic_matches("sport/#", "sport"));
/// assert!(!topic_matches("#", "$SYS/uptime"));
/// ```
pub fn topic_matches(filter: &str, name: &str) -> bool {
    let is_separator = |b: &u8| *b == b'/';
    let mut filter_levels = filter.as_bytes().split(is_separator).peekable();
    let mut name_levels = name.as_bytes().split(is_separator);
    let name_is_dollar = name.as_bytes().first() == Some(&b'$');
    let mut first = true;

    while let Some(filter_level) = filter_levels.next() {
        let is_multi = filter_level == b"#" && filter_levels.peek().is_none();
        let is_single = filter_level == b"+";
        // [MQTT-4.7.2-1]
        if first && name_is_dollar && (is_multi || is_single) {
            return false;
        }
        first = false;
        if is_multi {
            // `#` matches the parent level and any number of child levels.
            return true;
        }
        match name_levels.next() {
            Some(name_level) if is_single || name_level == filter_level => {}
            _ => return false,
        }
    }
    name_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    fn yes(filter: &str, name: &str) {
        assert!(
            topic_matches(filter, name),
            "{filter:?} should match {name:?}"
        );
    }

    fn no(filter: &str, name: &str) {
        assert!(
            !topic_matches(filter, name),
            "{filter:?} should not match {name:?}"
        );
    }

    // [MQTT-4.7.3-4] no normalisation: literal levels match byte for byte.
    #[test]
    fn literal_filter_matches_only_the_identical_name_mqtt_4_7_3_4() {
        yes("a", "a");
        yes("a/b/c", "a/b/c");
        yes("/", "/");
        yes("//", "//");
        yes("/a", "/a");
        no("a", "A");
        no("a/b", "a/b/");
        no("a/b", "a//b");
        no("a/b", "a");
        no("a", "a/b");
        no("/a", "a");
        no("a/", "a");
        no("caf\u{e9}", "cafe\u{301}");
    }

    // [MQTT-4.7.1-1] "sport/#" also matches the singular "sport", since #
    // includes the parent level.
    #[test]
    fn multi_level_wildcard_matches_parent_and_all_children_mqtt_4_7_1_1() {
        yes("sport/#", "sport");
        yes("sport/#", "sport/");
        yes("sport/#", "sport/tennis");
        yes("sport/#", "sport/tennis/player1");
        yes(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking/wimbledon",
        );
        yes("/#", "/");
        yes("/#", "/a/b");
        yes("//#", "//");
        no("sport/#", "sports");
        no("sport/#", "spor");
        no("sport/tennis/#", "sport");
        no("/#", "a");
    }

    // [MQTT-4.7.1-1] "#" on its own matches every topic name not starting
    // with `$`.
    #[test]
    fn lone_multi_level_wildcard_matches_every_name_mqtt_4_7_1_1() {
        for name in ["a", "/", "//", "a/b/c", " ", "a$", "/$SYS"] {
            yes("#", name);
        }
    }

    // [MQTT-4.7.1-2] "+" matches exactly one level, which may be empty.
    #[test]
    fn single_level_wildcard_matches_exactly_one_level_mqtt_4_7_1_2() {
        yes("sport/tennis/+", "sport/tennis/player1");
        yes("sport/tennis/+", "sport/tennis/player2");
        no("sport/tennis/+", "sport/tennis/player1/ranking");
        yes("sport/+", "sport/");
        no("sport/+", "sport");
        yes("+", "a");
        no("+", "/");
        no("+", "a/b");
        yes("+/+", "/");
        yes("/+", "/finance");
        no("/+", "finance");
        yes("+/+", "/finance");
        yes("+/tennis/#", "sport/tennis/player1");
        yes("+/tennis/#", "sport/tennis");
        yes("+/+/+", "a/b/c");
        yes("a/+/c", "a//c");
        no("a/+/c", "a/b/d");
    }

    // [MQTT-4.7.1-1], [MQTT-4.7.1-2]
    #[test]
    fn wildcards_combine_mqtt_4_7_1_2() {
        yes("+/#", "a");
        yes("+/#", "/");
        yes("+/#", "a/b/c");
        yes("+/+/#", "a/b");
        no("+/+/#", "a");
    }

    // [MQTT-4.7.2-1] The Server MUST NOT match Topic Filters starting with a
    // wildcard character (# or +) with Topic Names beginning with a $
    // character.
    #[test]
    fn filters_starting_with_wildcard_never_match_dollar_names_mqtt_4_7_2_1() {
        no("#", "$SYS");
        no("#", "$SYS/broker/uptime");
        no("#", "$");
        no("+", "$SYS");
        no("+/#", "$SYS/a");
        no("+/monitor/Clients", "$SYS/monitor/Clients");
        no("+/+", "$a/b");
    }

    // [MQTT-4.7.2-1] ... "$SYS/#" and "$SYS/monitor/+" do match.
    #[test]
    fn filters_naming_the_dollar_level_match_dollar_names_mqtt_4_7_2_1() {
        yes("$SYS/#", "$SYS/x");
        yes("$SYS/#", "$SYS");
        yes("$SYS/#", "$SYS/broker/uptime");
        yes("$SYS/monitor/+", "$SYS/monitor/Clients");
        yes("$SYS/+/#", "$SYS/a/b");
        yes("$", "$");
        no("$SYS/#", "$SYs/x");
    }

    // [MQTT-4.7.2-1] only applies at the first level.
    #[test]
    fn dollar_in_later_levels_is_ordinary_mqtt_4_7_2_1() {
        yes("a/+", "a/$b");
        yes("a/#", "a/$b/c");
        yes("#", "a/$b");
        yes("+/$b", "a/$b");
    }

    // Invalid inputs: never panic, interpret consistently with TopicTrie.
    #[test]
    fn invalid_inputs_are_compared_literally_without_panicking() {
        yes("a/#/b", "a/#/b");
        no("a/#/b", "a/x/b");
        yes("a+", "a+");
        no("a+", "ab");
        yes("", "");
        no("", "a");
        yes("#", "");
        yes("+", "");
        no("a", "");
        yes("\0", "\0");
    }
}
