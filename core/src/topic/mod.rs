//! Topic names, topic filters, matching and subscription lookup
//! (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7 and §4.8.2).
//!
//! # Topic names and topic filters
//!
//! A *topic name* labels an application message: it is the topic of a
//! PUBLISH packet or of a Will message. A *topic filter* is what a client
//! subscribes with; it selects a set of topic names. Both are UTF-8 strings
//! split into *levels* by the separator `/`. Levels may be empty: `/`,
//! `a//b` and `a/` are ordinary, distinct topics. Both must be at least one
//! character long `[MQTT-4.7.3-1]`, must not contain U+0000
//! `[MQTT-4.7.3-2]` and must encode to at most 65 535 bytes
//! `[MQTT-4.7.3-3]`; they are compared byte for byte, without any
//! normalisation `[MQTT-4.7.3-4]`.
//!
//! Topic filters may contain two wildcards; topic names may not
//! `[MQTT-3.3.2-2]`:
//!
//! * `+`, the single-level wildcard, matches exactly one level (which may be
//!   empty) and must occupy a whole level `[MQTT-4.7.1-2]`:
//!   `sport/+/player1` matches `sport/tennis/player1`;
//! * `#`, the multi-level wildcard, matches any number of levels, including
//!   none, and must be the last level `[MQTT-4.7.1-1]`: `sport/#` matches
//!   `sport`, `sport/` and `sport/tennis/player1`, and `#` on its own
//!   matches every topic name (but see the `$` rule).
//!
//! # The `$` rule
//!
//! Topic names starting with `$` (such as `$SYS/broker/uptime`) are
//! reserved for server-specific purposes. A topic filter whose first level
//! is a wildcard never matches them `[MQTT-4.7.2-1]`: neither `#` nor
//! `+/broker/uptime` match `$SYS/broker/uptime`, while `$SYS/#` does. The
//! rule only concerns the first character of the topic name: `a/$b` is
//! matched by `a/+` as usual.
//!
//! # Shared subscriptions
//!
//! MQTT 5.0 (§4.8.2) lets several sessions share a subscription so that
//! each matching message goes to only one of them. The client subscribes to
//! `$share/{ShareName}/{filter}`, where the ShareName is a non-empty string
//! without `/`, `+` or `#` `[MQTT-4.8.2-1]`, `[MQTT-4.8.2-2]`. Topic names
//! are matched against the inner `{filter}` only: `$share/workers/jobs/#`
//! matches `jobs/42`. [`SharedSubscription::parse`] splits such a filter;
//! [`validate_topic_filter`] checks the whole thing.
//!
//! # What is here
//!
//! * [`validate_topic_name`] and [`validate_topic_filter`] check the rules
//!   above and report a [`TopicError`];
//! * [`topic_matches`] tests one filter against one name;
//! * [`SharedSubscription`] and [`is_shared`] handle `$share/` filters;
//! * [`TopicTrie`] maps many filters to values and finds every filter
//!   matching a topic name in time proportional to the name's levels, not
//!   to the number of filters.

mod error;
mod filter;
mod matching;
mod name;
mod shared;
mod trie;

pub use error::TopicError;
pub(crate) use filter::check_topic_filter_bytes;
pub use filter::validate_topic_filter;
pub use matching::topic_matches;
pub use name::validate_topic_name;
pub(crate) use name::{check_topic_name_bytes, scan_topic};
pub use shared::{is_shared, SharedSubscription};
pub use trie::TopicTrie;
