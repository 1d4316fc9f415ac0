//! Authentication by username and password (MQTT 5.0 §3.1.3.5, §3.1.3.6):
//! a plain-text table, the simplest answer to the engine's question "may
//! this CONNECT in?".
//!
//! Like authorization (see [`acl`](super::acl)), authentication is the
//! embedder's decision: the engine asks an
//! [`Authenticator`](super::Authenticator) (see [`hooks`](super::hooks)),
//! which accepts or refuses (0x86 Bad User Name or Password, 0x87 Not
//! authorized). [`PasswordTable`] is a ready-made table for development
//! brokers and tests, checked by
//! [`PasswordAuthenticator`](super::PasswordAuthenticator). Passwords are kept **in
//! plain text**, so the file holding them must be protected like the
//! passwords themselves; a production deployment should check salted
//! hashes in its own code instead.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use core::fmt;

/// Why a password table text was rejected: the line (1-based) and what is
/// wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasswordTableError {
    /// The line number, counting from 1.
    pub line: usize,
    /// What is wrong with that line.
    pub kind: PasswordTableErrorKind,
}

/// What is wrong with a line of a password table text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordTableErrorKind {
    /// The line has no `:` between username and password.
    MissingColon,
    /// The username before the `:` is empty.
    EmptyUserName,
    /// The username was already listed on an earlier line.
    DuplicateUserName,
}

impl fmt::Display for PasswordTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "password line {}: ", self.line)?;
        f.write_str(match self.kind {
            PasswordTableErrorKind::MissingColon => "expected username:password",
            PasswordTableErrorKind::EmptyUserName => "empty username",
            PasswordTableErrorKind::DuplicateUserName => "username listed twice",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PasswordTableError {}

/// A table of usernames and their plain-text passwords.
///
/// The text form has one `username:password` per line (the password is
/// everything after the first `:`, spaces included; a username cannot
/// contain `:`); empty lines and lines starting with `#` are ignored.
///
/// ```
/// use mqtt_core::broker::PasswordTable;
/// let table = PasswordTable::parse("# users\nalice:wonderland\nbob:builder\n").unwrap();
/// assert!(table.check("alice", b"wonderland"));
/// assert!(!table.check("alice", b"builder"));
/// assert!(!table.check("carol", b""));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PasswordTable {
    users: BTreeMap<Box<str>, Box<[u8]>>,
}

impl fmt::Debug for PasswordTable {
    /// Lists the usernames, never the passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.users.keys()).finish()
    }
}

impl PasswordTable {
    /// An empty table: every check fails.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the text form (see the type's docs). Never panics; the first
    /// malformed line is reported with its number.
    pub fn parse(text: &str) -> Result<Self, PasswordTableError> {
        let mut table = PasswordTable::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
                continue;
            }
            let error = |kind| PasswordTableError { line, kind };
            let Some((user, password)) = raw.split_once(':') else {
                return Err(error(PasswordTableErrorKind::MissingColon));
            };
            let user = user.trim();
            if user.is_empty() {
                return Err(error(PasswordTableErrorKind::EmptyUserName));
            }
            if table.users.contains_key(user) {
                return Err(error(PasswordTableErrorKind::DuplicateUserName));
            }
            table.insert(user, password.as_bytes());
        }
        Ok(table)
    }

    /// Sets `username`'s password, replacing any previous one.
    pub fn insert(&mut self, username: &str, password: &[u8]) {
        self.users.insert(username.into(), password.into());
    }

    /// Removes `username`; returns `true` if it was listed.
    pub fn remove(&mut self, username: &str) -> bool {
        self.users.remove(username).is_some()
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Returns `true` if no user is listed.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Returns `true` if `username` is listed with exactly `password`. The
    /// comparison takes the same time wherever the first difference lies.
    pub fn check(&self, username: &str, password: &[u8]) -> bool {
        let Some(expected) = self.users.get(username) else {
            return false;
        };
        let mut difference = expected.len() ^ password.len();
        for (index, byte) in password.iter().enumerate() {
            let want = expected.get(index).copied().unwrap_or(0);
            difference |= usize::from(want ^ byte);
        }
        difference == 0
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;

    use proptest::prelude::*;

    use super::{PasswordTable, PasswordTableError, PasswordTableErrorKind};

    #[test]
    fn only_the_exact_password_of_a_listed_user_passes() {
        let table = PasswordTable::parse("alice:secret\n").unwrap();
        assert!(table.check("alice", b"secret"));
        for wrong in [&b""[..], b"secre", b"secret!", b"Secret", b"secres"] {
            assert!(!table.check("alice", wrong), "{wrong:?}");
        }
        assert!(!table.check("bob", b"secret"));
        assert!(!PasswordTable::new().check("", b""));
    }

    #[test]
    fn passwords_keep_spaces_and_colons_and_comments_are_skipped() {
        let table = PasswordTable::parse("# a comment\n\n u : a:b c \n").unwrap();
        assert!(table.check("u", b" a:b c "));
        assert_eq!(table.len(), 1);
        let empty = PasswordTable::parse("guest:\n").unwrap();
        assert!(empty.check("guest", b""));
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let cases = [
            ("a:b\nnocolon\n", 2, PasswordTableErrorKind::MissingColon),
            (" :pw\n", 1, PasswordTableErrorKind::EmptyUserName),
            ("a:1\n\na:2\n", 3, PasswordTableErrorKind::DuplicateUserName),
        ];
        for (text, line, kind) in cases {
            assert_eq!(
                PasswordTable::parse(text),
                Err(PasswordTableError { line, kind }),
                "{text:?}"
            );
        }
        let message = format!("{}", PasswordTable::parse("x\n").unwrap_err());
        assert!(message.contains("line 1"), "{message}");
    }

    #[test]
    fn debug_output_never_shows_passwords() {
        let table = PasswordTable::parse("alice:hunter2\n").unwrap();
        let shown = format!("{table:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn insert_and_remove_change_who_passes() {
        let mut table = PasswordTable::new();
        table.insert("u", b"1");
        assert!(table.check("u", b"1"));
        table.insert("u", b"2");
        assert!(!table.check("u", b"1") && table.check("u", b"2"));
        assert!(table.remove("u"));
        assert!(table.is_empty() && !table.check("u", b"2"));
    }

    proptest! {
        #[test]
        fn check_is_byte_equality(stored in prop::collection::vec(any::<u8>(), 0..8), given in prop::collection::vec(any::<u8>(), 0..8)) {
            let mut table = PasswordTable::new();
            table.insert("u", &stored);
            prop_assert_eq!(table.check("u", &given), stored == given);
            prop_assert!(table.check("u", &stored));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in "[a-z:# \\n]{0,60}") {
            let _ = PasswordTable::parse(&text);
        }
    }
}
