//! The error type returned by topic name and topic filter validation.

use core::fmt;

/// Why a topic name, topic filter or shared subscription was rejected.
///
/// Every variant corresponds to a normative statement of the MQTT 5.0
/// specification (the MQTT 3.1.1 rules are the same; only their numbering
/// differs for the wildcard rules, which are `[MQTT-4.7.1-2]` and
/// `[MQTT-4.7.1-3]` there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicError {
    /// The topic name or filter is the empty string `[MQTT-4.7.3-1]`.
    Empty,
    /// The topic name or filter is longer than 65 535 bytes once UTF-8
    /// encoded `[MQTT-4.7.3-3]`.
    TooLong,
    /// The topic name or filter contains the null character U+0000
    /// `[MQTT-4.7.3-2]`.
    NullCharacter,
    /// A topic name (as used in PUBLISH) contains `+` or `#`
    /// `[MQTT-3.3.2-2]`.
    WildcardInName,
    /// A `#` in a topic filter is not a whole level on its own, or is not
    /// the last level `[MQTT-4.7.1-1]`.
    MisplacedMultiLevelWildcard,
    /// A `+` in a topic filter does not occupy a whole level
    /// `[MQTT-4.7.1-2]`.
    MisplacedSingleLevelWildcard,
    /// The ShareName of a `$share/` filter is empty or contains `+` or `#`
    /// `[MQTT-4.8.2-1]`, `[MQTT-4.8.2-2]`.
    InvalidShareName,
    /// The ShareName of a `$share/` filter is not followed by `/` and a
    /// non-empty topic filter `[MQTT-4.8.2-2]`.
    EmptySharedFilter,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            Self::Empty => {
                "topic names and topic filters must be at least one character long [MQTT-4.7.3-1]"
            }
            Self::TooLong => {
                "topic names and topic filters must not encode to more than 65535 bytes [MQTT-4.7.3-3]"
            }
            Self::NullCharacter => {
                "topic names and topic filters must not contain the null character U+0000 [MQTT-4.7.3-2]"
            }
            Self::WildcardInName => {
                "a topic name must not contain the wildcard characters `+` or `#` [MQTT-3.3.2-2]"
            }
            Self::MisplacedMultiLevelWildcard => {
                "the multi-level wildcard `#` must be a whole level and the last one of the topic filter [MQTT-4.7.1-1]"
            }
            Self::MisplacedSingleLevelWildcard => {
                "the single-level wildcard `+` must occupy an entire level of the topic filter [MQTT-4.7.1-2]"
            }
            Self::InvalidShareName => {
                "a ShareName must be at least one character long and must not contain `/`, `+` or `#` [MQTT-4.8.2-1] [MQTT-4.8.2-2]"
            }
            Self::EmptySharedFilter => {
                "a ShareName must be followed by `/` and a non-empty topic filter [MQTT-4.8.2-2]"
            }
        };
        f.write_str(message)
    }
}

#[cfg(test)]
mod tests {
    use super::TopicError;
    use alloc::string::ToString;

    const ALL: [TopicError; 8] = [
        TopicError::Empty,
        TopicError::TooLong,
        TopicError::NullCharacter,
        TopicError::WildcardInName,
        TopicError::MisplacedMultiLevelWildcard,
        TopicError::MisplacedSingleLevelWildcard,
        TopicError::InvalidShareName,
        TopicError::EmptySharedFilter,
    ];

    #[test]
    fn display_names_the_normative_statement_for_every_variant() {
        let expected_ids = [
            "[MQTT-4.7.3-1]",
            "[MQTT-4.7.3-3]",
            "[MQTT-4.7.3-2]",
            "[MQTT-3.3.2-2]",
            "[MQTT-4.7.1-1]",
            "[MQTT-4.7.1-2]",
            "[MQTT-4.8.2-1]",
            "[MQTT-4.8.2-2]",
        ];
        for (error, id) in ALL.iter().zip(expected_ids) {
            let text = error.to_string();
            assert!(text.contains(id), "{text:?} should cite {id}");
        }
    }

    #[test]
    fn display_is_one_sentence_without_trailing_period_or_newline() {
        for error in ALL {
            let text = error.to_string();
            assert!(!text.is_empty());
            assert!(!text.contains('\n'));
            assert!(!text.ends_with('.'));
        }
    }
}
