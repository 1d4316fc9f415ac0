//! Authorization: which client may publish to, or receive from, which
//! topic.
//!
//! # How the engine asks
//!
//! The broker engine does not decide authorization itself. Before it
//! accepts a PUBLISH (access [`Access::Write`]) and before it delivers a
//! message to a subscriber (access [`Access::Read`]) it asks the
//! embedder, with the client identifier, the username of the connection
//! and the topic name; before it accepts a subscription it asks with the
//! topic filter ([`Authorizer::authorize_subscription`]). A Rust embedder can answer synchronously through
//! the [`Authorizer`] trait; the C and Python drivers will answer the same
//! question through an event and a command, so no function pointer or
//! callback crosses the language boundary. A refused PUBLISH is answered
//! with 0x87 Not authorized (in the PUBACK or PUBREC, or silently dropped
//! at QoS 0; 3.1.1 acknowledges positively and drops it, [MQTT-3.3.5-2]
//! (3.1.1)); a refused subscription gets 0x87 in its SUBACK (0x80 in
//! 3.1.1); a refused delivery is simply not made.
//!
//! # A ready-made answer: [`Acl`]
//!
//! [`Acl::parse`] reads the text format of mosquitto's `acl_file`:
//!
//! ```text
//! # Comments start with '#'. Lines before any `user` line apply to
//! # anonymous clients (connected without a username).
//! topic read public/#
//!
//! user alice
//! topic readwrite alice/#
//! topic deny alice/secret
//! topic sensors/+/temp           # no access word: readwrite
//!
//! # Patterns apply to every client, wherever they appear; a level that is
//! # exactly %c is replaced by the client identifier, %u by the username.
//! pattern write devices/%c/state
//! pattern read users/%u/#
//! ```
//!
//! * `topic [read|write|readwrite|deny] <filter>` grants (or denies)
//!   access to the topics the filter matches, for the current `user`
//!   section, or for anonymous clients before the first `user` line. The
//!   filter may contain spaces when an access word is given.
//! * `deny` wins over any grant, whatever the order of the lines.
//! * `pattern [read|write|readwrite|deny] <filter>` is a `topic` line for
//!   every client, after substituting `%c` and `%u` levels. A pattern
//!   naming `%u` does not apply to a client without a username, and a
//!   pattern does not apply when the substituted value contains `/`, `+`
//!   or `#` (so a client cannot widen its rights by choosing its
//!   identifier).
//! * Anything not granted is refused. Matching follows
//!   [`topic_matches`], so `#` does not grant `$SYS/...` topics
//!   `[MQTT-4.7.2-1]`.
//!
//! Each check scans the rules of the client's section and the patterns:
//! fine for the tens or hundreds of rules such files hold.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::topic::{topic_matches, validate_topic_filter, SharedSubscription, TopicError};

/// The access a client asks for on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Receiving messages published to the topic (checked for each
    /// delivery).
    Read,
    /// Publishing to the topic (including a Will message).
    Write,
}

/// Something that decides whether a client may read or write a topic; the
/// Rust form of the engine's authorization question (see the [module
/// docs](self)).
pub trait Authorizer {
    /// Returns `true` if the client with identifier `client_id`, connected
    /// with `username` (if any), may have `access` to the topic name
    /// `topic`.
    fn authorize(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool;

    /// Returns `true` if the client may subscribe to the topic filter
    /// `filter` (as subscribed: a shared subscription keeps its
    /// `$share/{group}/` prefix). Deliveries are still checked topic by
    /// topic with [`authorize`](Self::authorize), so granting a filter
    /// never leaks a topic the client may not read.
    ///
    /// The default asks [`authorize`](Self::authorize) for read access with
    /// the filter (without a `$share/{group}/` prefix) in place of a topic
    /// name, which treats `+` and `#` as plain characters; [`Acl`]
    /// overrides it with wildcard-aware matching.
    fn authorize_subscription(
        &self,
        client_id: &str,
        username: Option<&str>,
        filter: &str,
    ) -> bool {
        let inner = match SharedSubscription::parse(filter) {
            Ok(Some(shared)) => shared.filter,
            _ => filter,
        };
        self.authorize(client_id, username, inner, Access::Read)
    }
}

/// What a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Grant {
    fn parse(word: &str) -> Option<Grant> {
        match word {
            "read" => Some(Grant::Read),
            "write" => Some(Grant::Write),
            "readwrite" => Some(Grant::ReadWrite),
            "deny" => Some(Grant::Deny),
            _ => None,
        }
    }

    fn grants(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Grant::ReadWrite, _) | (Grant::Read, Access::Read) | (Grant::Write, Access::Write)
        )
    }
}

/// One `topic` or `pattern` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    grant: Grant,
    filter: Box<str>,
}

/// Why an ACL text was rejected: the line (1-based) and what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AclError {
    /// The line number, counting from 1.
    pub line: usize,
    /// What is wrong with that line.
    pub kind: AclErrorKind,
}

/// What is wrong with a line of an ACL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AclErrorKind {
    /// The line starts with a word other than `user`, `topic` or
    /// `pattern`.
    UnknownKeyword,
    /// A `user` line without a username.
    MissingUserName,
    /// A `topic` or `pattern` line without a topic filter.
    MissingTopic,
    /// The topic filter of a `topic` or `pattern` line is malformed.
    InvalidFilter(TopicError),
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ACL line {}: ", self.line)?;
        match self.kind {
            AclErrorKind::UnknownKeyword => {
                f.write_str("unknown keyword (expected user, topic or pattern)")
            }
            AclErrorKind::MissingUserName => f.write_str("user without a name"),
            AclErrorKind::MissingTopic => f.write_str("topic or pattern without a filter"),
            AclErrorKind::InvalidFilter(error) => write!(f, "invalid topic filter: {error}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AclError {}

/// A topic access control list in the format of mosquitto's `acl_file`;
/// see the [module docs](self) for the format and the rules.
///
/// ```
/// use mqtt_core::broker::{Access, Acl};
///
/// let acl = Acl::parse("\
/// topic read public/#
/// user alice
/// topic alice/#
/// topic deny alice/secret
/// pattern write devices/%c/state
/// ").unwrap();
///
/// assert!(acl.allows("any", None, "public/news", Access::Read));
/// assert!(!acl.allows("any", None, "public/news", Access::Write));
/// assert!(acl.allows("c1", Some("alice"), "alice/notes", Access::Write));
/// assert!(!acl.allows("c1", Some("alice"), "alice/secret", Access::Read));
/// assert!(acl.allows("dev42", Some("bob"), "devices/dev42/state", Access::Write));
/// assert!(!acl.allows("dev42", Some("bob"), "devices/dev43/state", Access::Write));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    /// Rules for clients without a username.
    anonymous: Vec<Rule>,
    /// Rules by username.
    users: BTreeMap<Box<str>, Vec<Rule>>,
    /// Pattern rules, for everyone.
    patterns: Vec<Rule>,
}

impl Acl {
    /// An empty ACL: refuses everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses an ACL text. Never panics; the first malformed line is
    /// reported with its number.
    pub fn parse(text: &str) -> Result<Acl, AclError> {
        let mut acl = Acl::new();
        // `None`: the anonymous section.
        let mut user: Option<Box<str>> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let error = |kind| AclError { line, kind };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (keyword, rest) = split_word(trimmed);
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(error(AclErrorKind::MissingUserName));
                    }
                    acl.users.entry(rest.into()).or_default();
                    user = Some(rest.into());
                }
                "topic" | "pattern" => {
                    let rule = parse_rule(rest).map_err(error)?;
                    if keyword == "pattern" {
                        acl.patterns.push(rule);
                    } else {
                        match &user {
                            Some(name) => acl.users.entry(name.clone()).or_default().push(rule),
                            None => acl.anonymous.push(rule),
                        }
                    }
                }
                _ => return Err(error(AclErrorKind::UnknownKeyword)),
            }
        }
        Ok(acl)
    }

    /// Returns `true` if the client `client_id`, connected with `username`
    /// (`None` for an anonymous client), may have `access` to the topic
    /// name `topic`: some applicable rule grants it and no applicable
    /// `deny` rule matches.
    pub fn allows(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        self.decide(client_id, username, access, |rule| {
            topic_matches(rule, topic)
        })
    }

    /// The rules' verdict for the client on what `applies` tells a rule's
    /// filter applies to: `false` as soon as an applicable `deny` rule
    /// applies, else whether some applicable rule that applies grants
    /// `access`. The applicable rules are the client's section, then the
    /// `pattern` rules with `%c` and `%u` substituted (a pattern whose
    /// substitution is unsafe takes no part).
    fn decide(
        &self,
        client_id: &str,
        username: Option<&str>,
        access: Access,
        applies: impl Fn(&str) -> bool,
    ) -> bool {
        let section: &[Rule] = match username {
            Some(name) => self.users.get(name).map_or(&[], Vec::as_slice),
            None => &self.anonymous,
        };
        let mut granted = false;
        // `false` once a deny rule applies.
        let mut consider = |grant: Grant, filter: &str| {
            if applies(filter) {
                if grant == Grant::Deny {
                    return false;
                }
                granted |= grant.grants(access);
            }
            true
        };
        for rule in section {
            if !consider(rule.grant, &rule.filter) {
                return false;
            }
        }
        for rule in &self.patterns {
            if let Some(filter) = substitute(&rule.filter, client_id, username) {
                if !consider(rule.grant, &filter) {
                    return false;
                }
            }
        }
        granted
    }
}

impl Acl {
    /// Returns `true` if the client may subscribe to `filter`: some
    /// applicable rule granting read access covers it (every topic the
    /// filter matches, the rule matches too: `a/#` covers `a/+/b` and `a`,
    /// `+/x` does not cover `#`) and no applicable `deny` rule covers it.
    /// A `deny` rule that covers only part of the filter does not refuse
    /// the subscription: the denied topics are filtered at delivery. A
    /// shared subscription is checked by its filter without the
    /// `$share/{group}/` prefix.
    ///
    /// ```
    /// use mqtt_core::broker::Acl;
    /// let acl = Acl::parse("topic read a/#\ntopic deny a/secret/#\n").unwrap();
    /// assert!(acl.allows_subscription("c", None, "a/#"));
    /// assert!(acl.allows_subscription("c", None, "$share/g/a/+/x"));
    /// assert!(!acl.allows_subscription("c", None, "#"));
    /// assert!(!acl.allows_subscription("c", None, "a/secret/+"));
    /// ```
    pub fn allows_subscription(
        &self,
        client_id: &str,
        username: Option<&str>,
        filter: &str,
    ) -> bool {
        let filter = match SharedSubscription::parse(filter) {
            Ok(Some(shared)) => shared.filter,
            Ok(None) => filter,
            Err(_) => return false,
        };
        self.decide(client_id, username, Access::Read, |rule| {
            filter_covers(rule, filter)
        })
    }
}

impl Authorizer for Acl {
    fn authorize(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        self.allows(client_id, username, topic, access)
    }

    fn authorize_subscription(
        &self,
        client_id: &str,
        username: Option<&str>,
        filter: &str,
    ) -> bool {
        self.allows_subscription(client_id, username, filter)
    }
}

/// Whether every topic name the topic filter `filter` matches is matched
/// by the topic filter `rule` too (both valid filters). A `$` topic is
/// never matched by a leading wildcard [MQTT-4.7.2-1], so a leading
/// wildcard in `filter` matches only what a leading wildcard in `rule`
/// matches, and a literal `$...` first level needs the same literal.
fn filter_covers(rule: &str, filter: &str) -> bool {
    let mut rule_levels = rule.split('/');
    let mut filter_levels = filter.split('/');
    let mut first = true;
    loop {
        match (rule_levels.next(), filter_levels.next()) {
            // `#` matches the parent level and everything below.
            (Some("#"), _) => {
                return !(first && filter.starts_with('$'));
            }
            (None, None) => return true,
            // The filter is shorter: only a trailing `#` would still match.
            (Some(_), None) | (None, Some(_)) => return false,
            (Some("+"), Some(f)) => {
                if f == "#" || (first && f.starts_with('$')) {
                    return false;
                }
            }
            (Some(r), Some(f)) => {
                if r != f {
                    return false;
                }
            }
        }
        first = false;
    }
}

/// Splits off the first whitespace-separated word; the rest is trimmed.
fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}

/// Parses what follows `topic` or `pattern`.
fn parse_rule(rest: &str) -> Result<Rule, AclErrorKind> {
    let (word, after) = split_word(rest);
    let (grant, filter) = match Grant::parse(word) {
        Some(grant) if !after.is_empty() => (grant, after),
        _ => (Grant::ReadWrite, rest),
    };
    if filter.is_empty() {
        return Err(AclErrorKind::MissingTopic);
    }
    validate_topic_filter(filter).map_err(AclErrorKind::InvalidFilter)?;
    Ok(Rule {
        grant,
        filter: filter.into(),
    })
}

/// The filter of a pattern for this client: whole levels `%c` and `%u`
/// replaced. `None` if the pattern does not apply (no username for `%u`,
/// or a value that would add levels or wildcards).
fn substitute(pattern: &str, client_id: &str, username: Option<&str>) -> Option<String> {
    let safe = |value: &str| !value.contains(['/', '+', '#']);
    let mut filter = String::with_capacity(pattern.len());
    for (index, level) in pattern.split('/').enumerate() {
        if index > 0 {
            filter.push('/');
        }
        match level {
            "%c" if safe(client_id) => filter.push_str(client_id),
            "%u" => match username {
                Some(name) if safe(name) => filter.push_str(name),
                _ => return None,
            },
            "%c" => return None,
            literal => filter.push_str(literal),
        }
    }
    Some(filter)
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::{filter_covers, Access, Acl, AclError, AclErrorKind, Authorizer};
    use crate::topic::{topic_matches, TopicError};

    const READ: Access = Access::Read;
    const WRITE: Access = Access::Write;

    #[test]
    fn an_empty_acl_refuses_everything() {
        let acl = Acl::parse("# nothing\n\n   \n").unwrap();
        assert!(!acl.allows("c", None, "a", READ));
        assert!(!acl.allows("c", Some("u"), "a", WRITE));
    }

    #[test]
    fn topic_lines_before_any_user_apply_to_anonymous_clients_only() {
        let acl = Acl::parse("topic read public/#\nuser alice\ntopic private/#\n").unwrap();
        assert!(acl.allows("c", None, "public/x", READ));
        assert!(!acl.allows("c", None, "public/x", WRITE));
        assert!(!acl.allows("c", None, "private/x", READ));
        assert!(!acl.allows("c", Some("alice"), "public/x", READ));
        assert!(acl.allows("c", Some("alice"), "private/x", READ));
        assert!(acl.allows("c", Some("alice"), "private/x", WRITE));
        assert!(!acl.allows("c", Some("bob"), "private/x", READ));
    }

    #[test]
    fn access_words_grant_what_they_say() {
        let acl =
            Acl::parse("user u\ntopic read r\ntopic write w\ntopic readwrite rw\ntopic both\n")
                .unwrap();
        let can = |topic, access| acl.allows("c", Some("u"), topic, access);
        assert!(can("r", READ) && !can("r", WRITE));
        assert!(!can("w", READ) && can("w", WRITE));
        assert!(can("rw", READ) && can("rw", WRITE));
        assert!(can("both", READ) && can("both", WRITE));
    }

    #[test]
    fn deny_wins_over_any_grant_whatever_the_order() {
        let acl = Acl::parse("user u\ntopic deny a/secret\ntopic a/#\n").unwrap();
        assert!(!acl.allows("c", Some("u"), "a/secret", READ));
        assert!(!acl.allows("c", Some("u"), "a/secret", WRITE));
        assert!(acl.allows("c", Some("u"), "a/public", WRITE));
        let acl = Acl::parse("pattern deny %c/secret\nuser u\ntopic #\n").unwrap();
        assert!(!acl.allows("c", Some("u"), "c/secret", READ));
        assert!(acl.allows("d", Some("u"), "c/secret", READ));
    }

    // [MQTT-4.7.2-1] `#` does not grant `$` topics.
    #[test]
    fn a_hash_rule_does_not_grant_dollar_topics_mqtt_4_7_2_1() {
        let acl = Acl::parse("topic #\ntopic read $SYS/#\n").unwrap();
        assert!(acl.allows("c", None, "a/b", WRITE));
        assert!(!acl.allows("c", None, "$SYS/x", WRITE));
        assert!(acl.allows("c", None, "$SYS/x", READ));
    }

    #[test]
    fn patterns_substitute_client_id_and_username_for_everyone() {
        let acl = Acl::parse("user alice\npattern readwrite users/%u/%c/#\n").unwrap();
        assert!(acl.allows("phone", Some("alice"), "users/alice/phone/x", WRITE));
        assert!(acl.allows("laptop", Some("bob"), "users/bob/laptop", READ));
        assert!(!acl.allows("laptop", Some("bob"), "users/alice/laptop", READ));
        // `%u` without a username does not apply.
        assert!(!acl.allows("laptop", None, "users//laptop", READ));
        // Only whole levels are substituted.
        let acl = Acl::parse("pattern x%c/y\n").unwrap();
        assert!(acl.allows("c", None, "x%c/y", READ));
        assert!(!acl.allows("c", None, "xc/y", READ));
    }

    #[test]
    fn identifiers_with_separators_or_wildcards_do_not_widen_a_pattern() {
        let acl = Acl::parse("pattern devices/%c/state\npattern home/%u\n").unwrap();
        assert!(!acl.allows("a/b", None, "devices/a/b/state", WRITE));
        assert!(!acl.allows("+", None, "devices/x/state", WRITE));
        assert!(!acl.allows("#", None, "devices/x/state", WRITE));
        assert!(!acl.allows("c", Some("#"), "home/x", WRITE));
    }

    #[test]
    fn topics_with_spaces_and_surrounding_whitespace_are_read_whole() {
        let acl = Acl::parse("  user   my user  \n\ttopic read my topic/#  \n").unwrap();
        assert!(acl.allows("c", Some("my user"), "my topic/x", READ));
        // A lone access word is the topic itself.
        let acl = Acl::parse("topic read\n").unwrap();
        assert!(acl.allows("c", None, "read", WRITE));
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            ("topic a\nfoo bar\n", 2, AclErrorKind::UnknownKeyword),
            ("\n\nuser\n", 3, AclErrorKind::MissingUserName),
            ("topic\n", 1, AclErrorKind::MissingTopic),
            ("pattern   \n", 1, AclErrorKind::MissingTopic),
            (
                "topic read a/#/b\n",
                1,
                AclErrorKind::InvalidFilter(TopicError::MisplacedMultiLevelWildcard),
            ),
            (
                "user u\ntopic write a+\n",
                2,
                AclErrorKind::InvalidFilter(TopicError::MisplacedSingleLevelWildcard),
            ),
        ];
        for (text, line, kind) in cases {
            assert_eq!(Acl::parse(text), Err(AclError { line, kind }), "{text:?}");
        }
        let message = format!("{}", Acl::parse("x\n").unwrap_err());
        assert!(message.contains("line 1"), "{message}");
    }

    #[test]
    fn the_acl_answers_as_an_authorizer() {
        let acl = Acl::parse("topic t\n").unwrap();
        let authorizer: &dyn Authorizer = &acl;
        assert!(authorizer.authorize("c", None, "t", WRITE));
    }

    #[test]
    fn subscriptions_are_granted_when_a_rule_covers_the_whole_filter() {
        let acl = Acl::parse(
            "topic read a/#\ntopic deny a/secret/#\ntopic read b/+\ntopic read #\nuser u\ntopic read x/+/y\npattern read own/%c/#\n",
        )
        .unwrap();
        let anon = |f| acl.allows_subscription("c", None, f);
        assert!(anon("a/#") && anon("a") && anon("a/+/b") && anon("+/x") && anon("#"));
        assert!(!anon("a/secret/#") && !anon("a/secret/x"));
        // [MQTT-4.7.2-1] `#` does not cover `$` topics.
        assert!(!anon("$SYS/#") && !anon("$SYS"));
        assert!(anon("$share/g/a/x"), "shared: the inner filter is checked");
        let user = |f| acl.allows_subscription("c", Some("u"), f);
        assert!(user("x/+/y") && user("x/b/y") && !user("x/#") && !user("x/+"));
        assert!(user("own/c/#") && !user("own/+/#") && !user("own/d"));
        assert!(!acl.allows_subscription("c", None, "$share/bad"));
    }

    #[test]
    fn the_default_subscription_check_asks_for_read_on_the_filter() {
        struct Literal;
        impl Authorizer for Literal {
            fn authorize(&self, _: &str, _: Option<&str>, topic: &str, access: Access) -> bool {
                access == READ && topic == "a/#"
            }
        }
        assert!(Literal.authorize_subscription("c", None, "a/#"));
        assert!(Literal.authorize_subscription("c", None, "$share/g/a/#"));
        assert!(!Literal.authorize_subscription("c", None, "a/+"));
    }

    proptest! {
        // A rule covers a filter exactly when every topic the filter
        // matches, the rule matches (brute force over every topic of up to
        // four levels from a, b, c and $s, rule and filter literals taken
        // from a, b and $s).
        #[test]
        fn filter_coverage_agrees_with_brute_force(
            rule in prop::collection::vec(prop::sample::select(&["a", "b", "$s", "+"][..]), 1..4),
            rule_hash in any::<bool>(),
            filter in prop::collection::vec(prop::sample::select(&["a", "b", "$s", "+"][..]), 1..4),
            filter_hash in any::<bool>(),
        ) {
            let join = |levels: &[&str], hash: bool| {
                let mut f = levels.join("/");
                if hash { f.push_str("/#"); }
                f
            };
            let (rule, filter) = (join(&rule, rule_hash), join(&filter, filter_hash));
            let mut topics: Vec<String> = Vec::new();
            let mut frontier: Vec<String> = ["a", "b", "c", "$s"].iter().map(|s| String::from(*s)).collect();
            for _ in 0..4 {
                let mut next = Vec::new();
                for t in &frontier {
                    for l in ["a", "b", "c", "$s"] {
                        next.push(format!("{t}/{l}"));
                    }
                }
                topics.append(&mut frontier);
                frontier = next;
            }
            let expected = topics
                .iter()
                .all(|t| !topic_matches(&filter, t) || topic_matches(&rule, t));
            prop_assert_eq!(filter_covers(&rule, &filter), expected, "{} covers {}", rule, filter);
        }

        // Parsing never panics, whatever the text.
        #[test]
        fn parsing_arbitrary_text_never_panics(text in "[a-z %#+/\\n\\t]{0,80}") {
            let _ = Acl::parse(&text);
        }

        // With only grants for one user, access is exactly "some filter of
        // the right kind matches" (brute force), for any topic.
        #[test]
        fn grants_agree_with_brute_force_matching(
            rules in prop::collection::vec(
                (
                    prop::sample::select(&["read", "write", "readwrite"][..]),
                    prop::collection::vec(prop::sample::select(&["a", "b", "+", "$s"][..]), 1..4),
                    any::<bool>(),
                ),
                0..6,
            ),
            topic in prop::collection::vec(prop::sample::select(&["a", "b", "$s", "c"][..]), 1..4),
        ) {
            let mut text = String::from("user u\n");
            let mut model: Vec<(&str, String)> = Vec::new();
            for (grant, levels, hash) in rules {
                let mut filter = levels.join("/");
                if hash { filter.push_str("/#"); }
                text.push_str(&format!("topic {grant} {filter}\n"));
                model.push((grant, filter));
            }
            let acl = Acl::parse(&text).unwrap();
            let topic = topic.join("/");
            for (access, words) in [(READ, ["read", "readwrite"]), (WRITE, ["write", "readwrite"])] {
                let expected = model
                    .iter()
                    .any(|(grant, filter)| words.contains(grant) && topic_matches(filter, &topic));
                prop_assert_eq!(acl.allows("c", Some("u"), &topic, access), expected);
                prop_assert!(!acl.allows("c", Some("v"), &topic, access));
            }
        }
    }
}
