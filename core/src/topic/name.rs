//! Validation of topic names (the topic of a PUBLISH packet or a Will).

use super::TopicError;

/// The largest number of bytes a UTF-8 encoded topic name or filter may have
/// `[MQTT-4.7.3-3]`.
pub(super) const MAX_TOPIC_LEN: usize = 65_535;

/// Checks the rules shared by topic names and topic filters: non-empty
/// `[MQTT-4.7.3-1]`, at most 65 535 bytes `[MQTT-4.7.3-3]` and free of
/// U+0000 `[MQTT-4.7.3-2]`.
pub(super) fn check_common(topic: &[u8]) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if topic.contains(&0) {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Validates a topic name, i.e. the topic a message is published to.
///
/// A topic name must be at least one character long `[MQTT-4.7.3-1]`, must
/// not contain U+0000 `[MQTT-4.7.3-2]`, must encode to at most 65 535 bytes
/// `[MQTT-4.7.3-3]` and must not contain the wildcard characters `+` or `#`
/// `[MQTT-3.3.2-2]`. Any other character, including spaces, a leading `$`
/// and empty levels (`a//b`, `/`), is allowed.
///
/// The checks run in that order, so a name with several problems reports
/// the first one.
///
/// ```
/// use mqtt_core::topic::{validate_topic_name, TopicError};
/// assert_eq!(validate_topic_name("sport/tennis/player1"), Ok(()));
/// assert_eq!(validate_topic_name("sport/+"), Err(TopicError::WildcardInName));
/// ```
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    check_topic_name_bytes(name.as_bytes())
}

/// [`validate_topic_name`] on the bytes of a string known to be UTF-8, in
/// one pass that vectorizes (no early exit), for the codec's hot path.
#[inline]
pub(crate) fn check_topic_name_bytes(name: &[u8]) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::Empty);
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    let (_, nul, wildcard) = scan_topic(name);
    if nul {
        return Err(TopicError::NullCharacter);
    }
    if wildcard {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

#[cfg(test)]
mod scan_tests {
    use super::scan_topic;

    #[test]
    fn scan_finds_each_kind_of_byte_at_every_position() {
        for len in 0..40 {
            for pos in 0..len {
                for (byte, expect) in [
                    (0x80u8, (true, false, false)),
                    (0, (false, true, false)),
                    (b'+', (false, false, true)),
                    (b'#', (false, false, true)),
                    (0xFF, (true, false, false)),
                ] {
                    let mut t = alloc::vec![b'a'; len];
                    t[pos] = byte;
                    assert_eq!(scan_topic(&t), expect, "len {len} pos {pos} byte {byte:#x}");
                }
            }
            assert_eq!(scan_topic(&alloc::vec![b'a'; len]), (false, false, false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{validate_topic_name, MAX_TOPIC_LEN};
    use crate::topic::TopicError;

    // [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one
    // character long.
    #[test]
    fn empty_name_is_rejected_mqtt_4_7_3_1() {
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
    }

    // [MQTT-4.7.3-1]: a single character, even the separator, is enough.
    #[test]
    fn single_character_names_are_accepted_mqtt_4_7_3_1() {
        assert_eq!(validate_topic_name("a"), Ok(()));
        assert_eq!(validate_topic_name("/"), Ok(()));
        assert_eq!(validate_topic_name(" "), Ok(()));
    }

    // [MQTT-4.7.3-3] Topic Names MUST NOT encode to more than 65,535 bytes.
    #[test]
    fn name_of_exactly_65535_bytes_is_accepted_mqtt_4_7_3_3() {
        let name = "a".repeat(MAX_TOPIC_LEN);
        assert_eq!(validate_topic_name(&name), Ok(()));
    }

    // [MQTT-4.7.3-3]
    #[test]
    fn name_of_65536_bytes_is_rejected_mqtt_4_7_3_3() {
        let name = "a".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(validate_topic_name(&name), Err(TopicError::TooLong));
    }

    // [MQTT-4.7.3-3]: the limit is in encoded bytes, not characters.
    #[test]
    fn name_length_is_counted_in_utf8_bytes_mqtt_4_7_3_3() {
        // 'é' is two bytes: 32 768 of them are 65 536 bytes.
        let name = "é".repeat(32_768);
        assert_eq!(name.chars().count(), 32_768);
        assert_eq!(validate_topic_name(&name), Err(TopicError::TooLong));
        let name = "é".repeat(32_767);
        assert_eq!(validate_topic_name(&name), Ok(()));
    }

    // [MQTT-4.7.3-2] Topic Names MUST NOT include the null character
    // (Unicode U+0000).
    #[test]
    fn name_containing_null_is_rejected_mqtt_4_7_3_2() {
        assert_eq!(validate_topic_name("\0"), Err(TopicError::NullCharacter));
        assert_eq!(validate_topic_name("a\0b"), Err(TopicError::NullCharacter));
        assert_eq!(validate_topic_name("a/b\0"), Err(TopicError::NullCharacter));
    }

    // [MQTT-3.3.2-2] The Topic Name in the PUBLISH packet MUST NOT contain
    // wildcard characters.
    #[test]
    fn name_containing_wildcards_is_rejected_mqtt_3_3_2_2() {
        for name in [
            "#",
            "+",
            "a/#",
            "a/+",
            "+/a",
            "a+",
            "a/b#",
            "sport/tennis/#",
        ] {
            assert_eq!(
                validate_topic_name(name),
                Err(TopicError::WildcardInName),
                "{name:?}"
            );
        }
    }

    // [MQTT-4.7.3-1], [MQTT-3.3.2-2]: empty levels and `$` are legal in names.
    #[test]
    fn names_with_empty_levels_or_dollar_are_accepted() {
        for name in [
            "/",
            "//",
            "a//b",
            "/a",
            "a/",
            "$SYS/broker",
            "$share/g/a",
            "a b/c d",
        ] {
            assert_eq!(validate_topic_name(name), Ok(()), "{name:?}");
        }
    }

    // Checks are ordered: length before content.
    #[test]
    fn overlong_name_with_null_reports_too_long_first_mqtt_4_7_3_3() {
        let mut name = "a".repeat(MAX_TOPIC_LEN);
        name.push('\0');
        assert_eq!(validate_topic_name(&name), Err(TopicError::TooLong));
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `word` is zero (the classic SWAR test).
#[inline(always)]
const fn has_zero_byte(word: u64) -> bool {
    word.wrapping_sub(LO) & !word & HI != 0
}

/// One pass over a topic's (or any string's) bytes, eight at a time: whether any byte is
/// non-ASCII, U+0000, or a wildcard (`+`, `#`).
#[inline]
pub(crate) fn scan_topic(bytes: &[u8]) -> (bool, bool, bool) {
    let mut chunks = bytes.chunks_exact(8);
    let (mut high, mut nul, mut wildcard) = (false, false, false);
    for chunk in &mut chunks {
        // Always eight bytes (chunks_exact); the fallback is never taken.
        let w = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
        high |= w & HI != 0;
        nul |= has_zero_byte(w);
        wildcard |= has_zero_byte(w ^ (LO * b'+' as u64)) | has_zero_byte(w ^ (LO * b'#' as u64));
    }
    for &b in chunks.remainder() {
        high |= b >= 0x80;
        nul |= b == 0;
        wildcard |= (b == b'+') | (b == b'#');
    }
    (high, nul, wildcard)
}
