//! mosquitto's password file: one `username:hash` line per user, as
//! written by `mosquitto_passwd`, and the `passwd` subcommand that writes
//! it.
//!
//! # The format (mosquitto 2.0)
//!
//! * `username:$7$ITERATIONS$SALT$HASH`: PBKDF2-HMAC-SHA512 of the
//!   password with SALT, ITERATIONS rounds, 64 bytes of output
//!   (`mosquitto_passwd`'s default, 101 iterations);
//! * `username:$6$SALT$HASH`: SHA-512 of the password followed by SALT
//!   (the default of mosquitto 1.6 and earlier, `-H sha512`).
//!
//! SALT and HASH are standard base64 with padding; the salt is 12 bytes
//! (mosquitto 2.0) or 64 bytes (mosquitto 2.1's `mosquitto_passwd`, which
//! also defaults to 1,000 iterations): both are read, 12-byte salts are
//! written so that mosquitto 2.0 reads our files too. mosquitto 2.1's
//! `$argon2id$` hashes are not supported.
//!
//! As in mosquitto, a line whose first character is `#` is a comment,
//! blank lines are skipped, white space around the username and around
//! the hash is ignored (so `\r\n` line ends work), and a user whose line
//! is in plain text or malformed cannot log in. Where mosquitto drops
//! such a line with a log message and starts anyway,
//! [`PasswordFile::parse`] refuses the whole file with the line number
//! (the broker's rule: nothing in a configuration is silently ignored);
//! [`PasswordFile::parse_lenient`] is mosquitto's behaviour, the bad lines
//! returned for logging. A user listed twice is an error in
//! [`PasswordFile::parse`]; mosquitto, and [`PasswordFile::parse_lenient`],
//! use the last valid line.
//!
//! # Checking a password
//!
//! [`PasswordFile::check`] is mosquitto's check: a username that is not
//! in the file is refused, and a user in the file must present its
//! password. A CONNECT without a password never matches, even for a user
//! whose password is empty ([`PasswordFile::check_optional`] with `None`).
//! The password is compared as the bytes the client sent: mosquitto stops
//! at the first zero byte, and takes a zero-length password as none (so a
//! user with an empty password never logs in to mosquitto 2.0); we do
//! neither: an empty password sent is checked like any other.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, pbkdf2};

/// The PBKDF2 iteration count `mosquitto_passwd` 2.0 writes, and ours.
pub const DEFAULT_ITERATIONS: u32 = 101;

/// The largest iteration count mosquitto reads (a C `int`).
pub const MAX_ITERATIONS: u32 = i32::MAX as u32;

/// The salt length we write (mosquitto 2.0 reads no other).
pub const SALT_LEN: usize = 12;

/// The salt length mosquitto 2.1's `mosquitto_passwd` writes (read too).
const LONG_SALT_LEN: usize = 64;

/// The length of the stored SHA-512 or PBKDF2-HMAC-SHA512 output.
const HASH_LEN: usize = 64;

/// The longest username and password mosquitto accepts (MQTT's limit).
const MAX_FIELD_LEN: usize = 65535;

/// How a password is hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// `$6$`: SHA-512 of the password followed by the salt
    /// (`mosquitto_passwd -H sha512`).
    Sha512,
    /// `$7$`: PBKDF2-HMAC-SHA512 (`-H sha512-pbkdf2`, the default).
    Sha512Pbkdf2,
}

impl HashAlgorithm {
    /// The name `mosquitto_passwd -H` takes: `sha512` or `sha512-pbkdf2`.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha512 => "sha512",
            HashAlgorithm::Sha512Pbkdf2 => "sha512-pbkdf2",
        }
    }

    /// The algorithm of a `-H` name, or `None`.
    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        match name {
            "sha512" => Some(HashAlgorithm::Sha512),
            "sha512-pbkdf2" => Some(HashAlgorithm::Sha512Pbkdf2),
            _ => None,
        }
    }
}

/// Why a password field is not a hash we can check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashError {
    /// The field does not start with `$`: a plain-text password, which
    /// mosquitto refuses too (`passwd -U FILE` hashes such a file).
    PlainText,
    /// `$argon2id$`, which mosquitto 2.1 may write: not supported.
    UnsupportedAlgorithm(String),
    /// A `$N$` other than `$6$` and `$7$`.
    UnknownAlgorithm(String),
    /// Fewer `$` fields than the algorithm needs.
    MissingField,
    /// More `$` fields than the algorithm has.
    ExtraField,
    /// The iteration count of `$7$` is not a number from 1 to
    /// [`MAX_ITERATIONS`].
    BadIterations(String),
    /// The salt is not base64 of 12 or 64 bytes.
    BadSalt,
    /// The hash is not base64 of 64 bytes.
    BadHash,
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashError::PlainText => f.write_str(
                "the password is in plain text, not hashed (hash the file with `passwd -U FILE`)",
            ),
            HashError::UnsupportedAlgorithm(a) => {
                write!(
                    f,
                    "the hash algorithm `{a}` is not supported (only $6$ and $7$)"
                )
            }
            HashError::UnknownAlgorithm(a) => {
                write!(f, "unknown hash type `${a}$` (only $6$ and $7$)")
            }
            HashError::MissingField => f.write_str("the hash has too few `$` fields"),
            HashError::ExtraField => f.write_str("the hash has too many `$` fields"),
            HashError::BadIterations(s) => write!(
                f,
                "the iteration count `{s}` is not a number from 1 to {MAX_ITERATIONS}"
            ),
            HashError::BadSalt => f.write_str("the salt is not base64 of 12 or 64 bytes"),
            HashError::BadHash => f.write_str("the hash is not base64 of 64 bytes"),
        }
    }
}

impl std::error::Error for HashError {}

/// The scheme of a [`PasswordHash`], with its parameter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Sha512,
    Pbkdf2(NonZeroU32),
}

/// One user's stored password: algorithm, salt and hash, as in a
/// password file's `$6$...` or `$7$...` field.
///
/// [`Display`](fmt::Display) writes the field back in mosquitto's format;
/// [`Debug`](fmt::Debug) shows only the algorithm and iteration count.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    scheme: Scheme,
    salt: Vec<u8>,
    hash: [u8; HASH_LEN],
}

impl PasswordHash {
    /// Reads a `$6$SALT$HASH` or `$7$ITERATIONS$SALT$HASH` field (white
    /// space around it is not removed here).
    pub fn parse(field: &str) -> Result<PasswordHash, HashError> {
        let Some(rest) = field.strip_prefix('$') else {
            return Err(HashError::PlainText);
        };
        let mut parts = rest.split('$');
        let kind = parts.next().unwrap_or_default();
        let scheme = match kind {
            "6" => Scheme::Sha512,
            "7" => {
                let text = parts.next().ok_or(HashError::MissingField)?;
                let iterations = parse_iterations(text)
                    .ok_or_else(|| HashError::BadIterations(text.to_owned()))?;
                Scheme::Pbkdf2(iterations)
            }
            _ if kind.starts_with("argon2") => {
                return Err(HashError::UnsupportedAlgorithm(kind.to_owned()))
            }
            _ => return Err(HashError::UnknownAlgorithm(kind.to_owned())),
        };
        let salt_b64 = parts.next().ok_or(HashError::MissingField)?;
        let hash_b64 = parts.next().ok_or(HashError::MissingField)?;
        if parts.next().is_some() {
            return Err(HashError::ExtraField);
        }
        let salt = STANDARD.decode(salt_b64).map_err(|_| HashError::BadSalt)?;
        if salt.len() != SALT_LEN && salt.len() != LONG_SALT_LEN {
            return Err(HashError::BadSalt);
        }
        let hash: [u8; HASH_LEN] = STANDARD
            .decode(hash_b64)
            .map_err(|_| HashError::BadHash)?
            .try_into()
            .map_err(|_| HashError::BadHash)?;
        Ok(PasswordHash { scheme, salt, hash })
    }

    /// Hashes `password` with a new random 12-byte salt; `iterations`
    /// is used by [`HashAlgorithm::Sha512Pbkdf2`] only.
    ///
    /// Fails only when the system's random generator fails, or when
    /// `iterations` is 0 or above [`MAX_ITERATIONS`] (`InvalidInput`).
    pub fn generate(
        password: &[u8],
        algorithm: HashAlgorithm,
        iterations: u32,
    ) -> io::Result<PasswordHash> {
        let mut salt = vec![0u8; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| io::Error::other("the system random generator failed"))?;
        PasswordHash::with_salt(password, algorithm, iterations, &salt)
    }

    /// Hashes `password` with the given salt (12 or 64 bytes for
    /// mosquitto to read it): for known-answer tests and reproducible
    /// files. Use [`PasswordHash::generate`] for real passwords.
    pub fn with_salt(
        password: &[u8],
        algorithm: HashAlgorithm,
        iterations: u32,
        salt: &[u8],
    ) -> io::Result<PasswordHash> {
        let scheme = match algorithm {
            HashAlgorithm::Sha512 => Scheme::Sha512,
            HashAlgorithm::Sha512Pbkdf2 => Scheme::Pbkdf2(
                NonZeroU32::new(iterations)
                    .filter(|n| n.get() <= MAX_ITERATIONS)
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("the iteration count must be from 1 to {MAX_ITERATIONS}"),
                        )
                    })?,
            ),
        };
        let mut hash = [0u8; HASH_LEN];
        derive(scheme, salt, password, &mut hash);
        Ok(PasswordHash {
            scheme,
            salt: salt.to_vec(),
            hash,
        })
    }

    /// Whether `password` is the one hashed here (the hash is compared
    /// in constant time).
    pub fn verify(&self, password: &[u8]) -> bool {
        match self.scheme {
            Scheme::Pbkdf2(iterations) => pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA512,
                iterations,
                &self.salt,
                password,
                &self.hash,
            )
            .is_ok(),
            Scheme::Sha512 => {
                let mut candidate = [0u8; HASH_LEN];
                derive(self.scheme, &self.salt, password, &mut candidate);
                constant_time_eq(&candidate, &self.hash)
            }
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> HashAlgorithm {
        match self.scheme {
            Scheme::Sha512 => HashAlgorithm::Sha512,
            Scheme::Pbkdf2(_) => HashAlgorithm::Sha512Pbkdf2,
        }
    }

    /// The PBKDF2 iteration count (`None` for `$6$`).
    pub fn iterations(&self) -> Option<u32> {
        match self.scheme {
            Scheme::Sha512 => None,
            Scheme::Pbkdf2(n) => Some(n.get()),
        }
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }
}

impl FromStr for PasswordHash {
    type Err = HashError;

    fn from_str(s: &str) -> Result<PasswordHash, HashError> {
        PasswordHash::parse(s)
    }
}

impl fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let salt = STANDARD.encode(&self.salt);
        let hash = STANDARD.encode(self.hash);
        match self.scheme {
            Scheme::Sha512 => write!(f, "$6${salt}${hash}"),
            Scheme::Pbkdf2(n) => write!(f, "$7${n}${salt}${hash}"),
        }
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("algorithm", &self.algorithm())
            .field("iterations", &self.iterations())
            .finish_non_exhaustive()
    }
}

/// `$7$101$SALT$HASH`: `password` hashed as `mosquitto_passwd` 2.0 does by
/// default (PBKDF2-HMAC-SHA512, 101 iterations, a random 12-byte salt),
/// for a password file line `username:` followed by this.
///
/// # Panics
///
/// When the system's random generator fails (see
/// [`PasswordHash::generate`] for the fallible form).
pub fn hash_password(password: &[u8]) -> String {
    match PasswordHash::generate(password, HashAlgorithm::Sha512Pbkdf2, DEFAULT_ITERATIONS) {
        Ok(hash) => hash.to_string(),
        Err(e) => panic!("hash_password: {e}"),
    }
}

fn parse_iterations(text: &str) -> Option<NonZeroU32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>()
        .ok()
        .filter(|&n| n <= MAX_ITERATIONS)
        .and_then(NonZeroU32::new)
}

fn derive(scheme: Scheme, salt: &[u8], password: &[u8], out: &mut [u8; HASH_LEN]) {
    match scheme {
        Scheme::Sha512 => {
            let mut ctx = digest::Context::new(&digest::SHA512);
            ctx.update(password);
            ctx.update(salt);
            out.copy_from_slice(ctx.finish().as_ref());
        }
        Scheme::Pbkdf2(iterations) => {
            pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA512, iterations, salt, password, out)
        }
    }
}

/// Equality of two equal-length byte strings without an early exit.
fn constant_time_eq(a: &[u8; HASH_LEN], b: &[u8; HASH_LEN]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// C's `isspace` (what mosquitto trims around the username and hash).
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn trim_c(s: &str) -> &str {
    s.trim_matches(is_c_space)
}

/// What is wrong with a password file, or with one of its lines.
#[derive(Debug)]
#[non_exhaustive]
pub enum PasswordFileErrorKind {
    /// The file could not be read.
    Io(io::Error),
    /// The line is not UTF-8.
    NotUtf8,
    /// A line that is neither blank nor a comment has no `:`.
    MissingColon,
    /// Nothing before the `:`.
    EmptyUsername,
    /// The username is longer than 65,535 bytes.
    UsernameTooLong,
    /// Nothing after the `:` (a user without a password).
    MissingHash,
    /// A second `:` on the line.
    ExtraColon,
    /// The password field is not a hash we can check.
    Hash(HashError),
    /// The user is already listed on line `first_line`.
    DuplicateUser {
        /// The user.
        username: String,
        /// The line that listed it first.
        first_line: usize,
    },
}

impl fmt::Display for PasswordFileErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordFileErrorKind::Io(e) => write!(f, "{e}"),
            PasswordFileErrorKind::NotUtf8 => f.write_str("the line is not UTF-8"),
            PasswordFileErrorKind::MissingColon => {
                f.write_str("expected `username:hash`, found no `:`")
            }
            PasswordFileErrorKind::EmptyUsername => f.write_str("empty username"),
            PasswordFileErrorKind::UsernameTooLong => {
                f.write_str("the username is longer than 65535 bytes")
            }
            PasswordFileErrorKind::MissingHash => f.write_str("the user has no password hash"),
            PasswordFileErrorKind::ExtraColon => {
                f.write_str("a second `:` (expected `username:hash`)")
            }
            PasswordFileErrorKind::Hash(e) => write!(f, "{e}"),
            PasswordFileErrorKind::DuplicateUser {
                username,
                first_line,
            } => write!(
                f,
                "user `{username}` is already listed on line {first_line}"
            ),
        }
    }
}

/// A password file that cannot be used: where (path, line) and why.
#[derive(Debug)]
pub struct PasswordFileError {
    path: Option<PathBuf>,
    line: Option<usize>,
    kind: PasswordFileErrorKind,
}

impl PasswordFileError {
    fn at(line: usize, kind: PasswordFileErrorKind) -> PasswordFileError {
        PasswordFileError {
            path: None,
            line: Some(line),
            kind,
        }
    }

    fn with_path(mut self, path: &Path) -> PasswordFileError {
        self.path = Some(path.to_path_buf());
        self
    }

    /// The file, when the error came from [`PasswordFile::load`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The line (from 1), unless the file could not be read at all.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// What is wrong.
    pub fn kind(&self) -> &PasswordFileErrorKind {
        &self.kind
    }
}

impl fmt::Display for PasswordFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("password file")?;
        if let Some(path) = &self.path {
            write!(f, " {}", path.display())?;
        }
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for PasswordFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            PasswordFileErrorKind::Io(e) => Some(e),
            PasswordFileErrorKind::Hash(e) => Some(e),
            _ => None,
        }
    }
}

/// One line of a password file, classified.
enum Line<'a> {
    /// A comment or a blank line.
    Skip,
    /// `username:field`, both trimmed and non-empty.
    Entry { username: &'a str, field: &'a str },
}

/// Splits a line (without its `\n`) as mosquitto reads it.
fn classify(line: &str) -> Result<Line<'_>, PasswordFileErrorKind> {
    let trimmed = trim_c(line);
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Line::Skip);
    }
    let Some((username, rest)) = line.split_once(':') else {
        return Err(PasswordFileErrorKind::MissingColon);
    };
    let username = trim_c(username);
    if username.is_empty() {
        return Err(PasswordFileErrorKind::EmptyUsername);
    }
    if username.len() > MAX_FIELD_LEN {
        return Err(PasswordFileErrorKind::UsernameTooLong);
    }
    if rest.contains(':') {
        return Err(PasswordFileErrorKind::ExtraColon);
    }
    let field = trim_c(rest);
    if field.is_empty() {
        return Err(PasswordFileErrorKind::MissingHash);
    }
    Ok(Line::Entry { username, field })
}

/// The lines of a text with their numbers (from 1), without the `\n`.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n').enumerate().map(|(i, l)| (i + 1, l))
}

/// The text of a file's bytes, or the line of its first non-UTF-8 byte.
fn utf8_text(bytes: &[u8]) -> Result<&str, PasswordFileError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        PasswordFileError::at(line, PasswordFileErrorKind::NotUtf8)
    })
}

/// The users of a password file and their hashes.
///
/// ```
/// use libmqtt_broker::password::{hash_password, PasswordFile};
///
/// let text = format!("# users\nalice:{}\n", hash_password(b"secret"));
/// let file = PasswordFile::parse(&text).unwrap();
/// assert!(file.check("alice", b"secret"));
/// assert!(!file.check("alice", b"wrong"));
/// assert!(!file.check_optional("alice", None));
/// assert!(!file.check("mallory", b"secret"));
/// ```
#[derive(Clone, Default)]
pub struct PasswordFile {
    users: HashMap<String, PasswordHash>,
}

impl PasswordFile {
    /// An empty file: every check fails.
    pub fn new() -> PasswordFile {
        PasswordFile::default()
    }

    /// Reads a password file, refusing it at its first bad line:
    /// a line with no `:`, an empty username, a user without a hash,
    /// a plain-text or malformed hash, a user listed twice.
    pub fn parse(text: &str) -> Result<PasswordFile, PasswordFileError> {
        let mut users = HashMap::new();
        let mut first_lines: HashMap<&str, usize> = HashMap::new();
        for (number, line) in numbered_lines(text) {
            let (username, field) = match classify(line) {
                Ok(Line::Skip) => continue,
                Ok(Line::Entry { username, field }) => (username, field),
                Err(kind) => return Err(PasswordFileError::at(number, kind)),
            };
            if let Some(&first_line) = first_lines.get(username) {
                return Err(PasswordFileError::at(
                    number,
                    PasswordFileErrorKind::DuplicateUser {
                        username: username.to_owned(),
                        first_line,
                    },
                ));
            }
            let hash = PasswordHash::parse(field)
                .map_err(|e| PasswordFileError::at(number, PasswordFileErrorKind::Hash(e)))?;
            first_lines.insert(username, number);
            users.insert(username.to_owned(), hash);
        }
        Ok(PasswordFile { users })
    }

    /// Reads a password file as mosquitto does: a bad line is skipped
    /// (its user cannot log in) and returned in the list, for the log; of
    /// a user listed twice, the last valid line counts (also listed).
    pub fn parse_lenient(text: &str) -> (PasswordFile, Vec<PasswordFileError>) {
        let mut users = HashMap::new();
        let mut first_lines: HashMap<&str, usize> = HashMap::new();
        let mut problems = Vec::new();
        for (number, line) in numbered_lines(text) {
            let (username, field) = match classify(line) {
                Ok(Line::Skip) => continue,
                Ok(Line::Entry { username, field }) => (username, field),
                Err(kind) => {
                    problems.push(PasswordFileError::at(number, kind));
                    continue;
                }
            };
            let hash = match PasswordHash::parse(field) {
                Ok(hash) => hash,
                Err(e) => {
                    problems.push(PasswordFileError::at(
                        number,
                        PasswordFileErrorKind::Hash(e),
                    ));
                    continue;
                }
            };
            if let Some(&first_line) = first_lines.get(username) {
                problems.push(PasswordFileError::at(
                    number,
                    PasswordFileErrorKind::DuplicateUser {
                        username: username.to_owned(),
                        first_line,
                    },
                ));
            } else {
                first_lines.insert(username, number);
            }
            users.insert(username.to_owned(), hash);
        }
        (PasswordFile { users }, problems)
    }

    /// Reads and parses ([`PasswordFile::parse`]) the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<PasswordFile, PasswordFileError> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        let text = utf8_text(&bytes).map_err(|e| e.with_path(path))?;
        PasswordFile::parse(text).map_err(|e| e.with_path(path))
    }

    /// Reads the file at `path` as mosquitto does
    /// ([`PasswordFile::parse_lenient`]); only an unreadable file is an
    /// error. Lines that are not UTF-8 are skipped and listed.
    pub fn load_lenient(
        path: impl AsRef<Path>,
    ) -> Result<(PasswordFile, Vec<PasswordFileError>), PasswordFileError> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        // A line that is not UTF-8 is read as a blank one (its user could
        // never match a UTF-8 username) and listed.
        let mut problems = Vec::new();
        let lines: Vec<&str> = bytes
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, line)| {
                std::str::from_utf8(line).unwrap_or_else(|_| {
                    problems.push(PasswordFileError::at(i + 1, PasswordFileErrorKind::NotUtf8));
                    ""
                })
            })
            .collect();
        let (file, more) = PasswordFile::parse_lenient(&lines.join("\n"));
        problems.extend(more);
        problems.sort_by_key(|p| p.line);
        let problems = problems.into_iter().map(|p| p.with_path(path)).collect();
        Ok((file, problems))
    }

    /// Whether `username` may log in with `password`: the user is in the
    /// file and the password is its own. A username that is not in the
    /// file is refused (as in mosquitto).
    pub fn check(&self, username: &str, password: &[u8]) -> bool {
        match self.users.get(username) {
            Some(hash) => hash.verify(password),
            None => {
                // The same work as for a user, so that the time taken
                // does not tell which usernames exist.
                let _ = dummy_hash().verify(password);
                false
            }
        }
    }

    /// [`PasswordFile::check`] with the CONNECT's optional password:
    /// `None` (no password sent) is always refused.
    pub fn check_optional(&self, username: &str, password: Option<&[u8]>) -> bool {
        match password {
            Some(password) => self.check(username, password),
            None => false,
        }
    }

    /// Whether the file lists `username`.
    pub fn contains(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    /// The stored hash of `username`.
    pub fn get(&self, username: &str) -> Option<&PasswordHash> {
        self.users.get(username)
    }

    /// The usernames, in no particular order.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// How many users the file lists.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file lists no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.usernames().collect();
        names.sort_unstable();
        f.debug_struct("PasswordFile")
            .field("users", &names)
            .finish()
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, PasswordFileError> {
    fs::read(path).map_err(|e| PasswordFileError {
        path: Some(path.to_path_buf()),
        line: None,
        kind: PasswordFileErrorKind::Io(e),
    })
}

/// A hash with the default cost, checked for unknown users.
fn dummy_hash() -> &'static PasswordHash {
    static DUMMY: OnceLock<PasswordHash> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut hash = [0u8; HASH_LEN];
        let iterations = NonZeroU32::MIN.saturating_add(DEFAULT_ITERATIONS - 1);
        let scheme = Scheme::Pbkdf2(iterations);
        let salt = [0u8; SALT_LEN];
        derive(scheme, &salt, b"", &mut hash);
        PasswordHash {
            scheme,
            salt: salt.to_vec(),
            hash,
        }
    })
}

// ---------------------------------------------------------------------
// The `passwd` subcommand.
// ---------------------------------------------------------------------

/// The usage of the `passwd` subcommand (mosquitto_passwd's options).
pub const PASSWD_USAGE: &str = "\
libmqtt-broker passwd: manage a mosquitto password file.

Usage: libmqtt-broker passwd [-H sha512-pbkdf2 | -H sha512] [-I iterations] [-c | -D] FILE USERNAME
       libmqtt-broker passwd [-H sha512-pbkdf2 | -H sha512] [-I iterations] [-c] -b FILE USERNAME PASSWORD
       libmqtt-broker passwd [-H sha512-pbkdf2 | -H sha512] [-I iterations] -U FILE
 -b : batch mode: the password is taken from the command line.
 -c : create a new password file (an existing one is overwritten).
 -D : delete USERNAME from the file.
 -H : the hash: sha512-pbkdf2 (the default, $7$) or sha512 ($6$, mosquitto 1.6's).
 -I : PBKDF2 iterations (default 101, as mosquitto_passwd 2.0).
 -U : hash the plain-text passwords of FILE (hashed lines are kept).
Without -b the password is asked twice on the terminal, without echo.
";

/// What the `passwd` command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Create {
        username: String,
        password: Option<String>,
    },
    Update {
        username: String,
        password: Option<String>,
    },
    Delete {
        username: String,
    },
    Convert,
}

#[derive(Debug, PartialEq, Eq)]
struct PasswdArgs {
    algorithm: HashAlgorithm,
    iterations: u32,
    file: PathBuf,
    action: Action,
}

fn parse_passwd_args(args: &[String]) -> Result<Option<PasswdArgs>, String> {
    let mut algorithm = HashAlgorithm::Sha512Pbkdf2;
    let mut iterations = DEFAULT_ITERATIONS;
    let (mut batch, mut create, mut delete, mut convert) = (false, false, false, false);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-h" | "--help" => return Ok(None),
            "-H" => {
                let name = args.get(i + 1).ok_or("-H needs a hash name")?;
                algorithm = HashAlgorithm::from_name(name).ok_or_else(|| {
                    format!("unknown hash type `{name}` (sha512-pbkdf2 or sha512)")
                })?;
                i += 1;
            }
            "-I" => {
                let n = args.get(i + 1).ok_or("-I needs a number of iterations")?;
                iterations = parse_iterations(n)
                    .ok_or_else(|| {
                        format!("the number of iterations must be from 1 to {MAX_ITERATIONS}, not `{n}`")
                    })?
                    .get();
                i += 1;
            }
            "-b" => batch = true,
            "-c" => create = true,
            "-D" => delete = true,
            "-U" => convert = true,
            "--" => {
                i += 1;
                break;
            }
            a if a.starts_with('-') && a.len() > 1 => {
                return Err(format!("unknown option `{a}`\n\n{PASSWD_USAGE}"))
            }
            _ => break,
        }
        i += 1;
    }
    for (x, y, a, b) in [
        (create, delete, "-c", "-D"),
        (create, convert, "-c", "-U"),
        (delete, convert, "-D", "-U"),
        (delete, batch, "-b", "-D"),
        (convert, batch, "-b", "-U"),
    ] {
        if x && y {
            return Err(format!("{a} and {b} cannot be used together"));
        }
    }
    let rest = &args[i..];
    let wanted = if convert {
        1
    } else if batch {
        3
    } else {
        2
    };
    if rest.len() != wanted {
        return Err(format!(
            "expected {}\n\n{PASSWD_USAGE}",
            match wanted {
                1 => "FILE",
                2 => "FILE USERNAME",
                _ => "FILE USERNAME PASSWORD",
            }
        ));
    }
    let file = PathBuf::from(&rest[0]);
    let username = rest.get(1).cloned();
    let password = rest.get(2).cloned();
    if let Some(username) = &username {
        check_new_username(username)?;
    }
    if let Some(password) = &password {
        check_new_password(password)?;
    }
    let action = match (username, convert, create, delete) {
        (_, true, _, _) => Action::Convert,
        (Some(username), _, true, _) => Action::Create { username, password },
        (Some(username), _, _, true) => Action::Delete { username },
        (Some(username), _, _, _) => Action::Update { username, password },
        (None, ..) => return Err(PASSWD_USAGE.to_owned()),
    };
    Ok(Some(PasswdArgs {
        algorithm,
        iterations,
        file,
        action,
    }))
}

/// The rules of `mosquitto_passwd` for a username, and what the broker
/// could not read back (white space around it, a leading `#`).
fn check_new_username(username: &str) -> Result<(), String> {
    if username.is_empty() {
        return Err("the username must not be empty".into());
    }
    if username.len() > MAX_FIELD_LEN {
        return Err("the username must be less than 65536 bytes long".into());
    }
    if username.chars().any(|c| c.is_ascii_control()) {
        return Err("the username must not contain control characters".into());
    }
    if username.contains(':') {
        return Err("the username must not contain the ':' character".into());
    }
    if username.starts_with('#') {
        return Err("the username must not begin with '#' (a comment line)".into());
    }
    if username.starts_with(' ') || username.ends_with(' ') {
        return Err("the username must not begin or end with a space".into());
    }
    Ok(())
}

fn check_new_password(password: &str) -> Result<(), String> {
    if password.len() > MAX_FIELD_LEN {
        return Err("the password must be less than 65536 bytes long".into());
    }
    Ok(())
}

/// The `passwd` subcommand: `args` are the words after `passwd`, as
/// `mosquitto_passwd` takes them:
///
/// ```text
/// passwd [-H sha512-pbkdf2|sha512] [-I iterations] [-c | -D] FILE USERNAME
/// passwd [-H sha512-pbkdf2|sha512] [-I iterations] [-c] -b FILE USERNAME PASSWORD
/// passwd [-H sha512-pbkdf2|sha512] [-I iterations] -U FILE
/// ```
///
/// * `-c` writes a new file with one user (replacing any file there);
/// * without `-c`, `-D` or `-U`, the user's line in FILE gets the new
///   hash (where it was: the other lines, comments included, are kept
///   as they are, in their order; later lines of the same user are
///   removed), or is added at the end;
/// * `-D` removes the user's lines; a user not in the file is an error;
/// * `-U` hashes every plain-text password (lines already hashed, `$6$`,
///   `$7$` or `$argon2id$`, are kept; mosquitto 2.0 would hash them again);
/// * without `-b`, the password is asked twice on the terminal without
///   echo: an empty one, or two that differ, are errors.
///
/// The file is replaced atomically (a temporary file in the same
/// directory, then a rename) with the mode and owner of the old file, or
/// mode 0600 for a new one; a symbolic link is followed. `-h` prints the
/// usage on standard output.
///
/// The error is a message for the user (no `Error:` prefix); exit with
/// status 1 on it.
pub fn passwd_main(args: &[String]) -> Result<(), String> {
    passwd_main_with(args, &mut |prompt| rpassword::prompt_password(prompt))
}

/// [`passwd_main`] with another way to ask for the password: `ask` is
/// called with `"Password: "`, then `"Reenter password: "`, and returns
/// what the user typed (without the line end). For tests and for callers
/// with their own terminal handling.
pub fn passwd_main_with(
    args: &[String],
    ask: &mut dyn FnMut(&str) -> io::Result<String>,
) -> Result<(), String> {
    let Some(args) = parse_passwd_args(args)? else {
        print!("{PASSWD_USAGE}");
        return Ok(());
    };
    let new_line = |username: &str, password: &str| -> Result<String, String> {
        let hash = PasswordHash::generate(password.as_bytes(), args.algorithm, args.iterations)
            .map_err(|e| format!("cannot hash the password: {e}"))?;
        Ok(format!("{username}:{hash}\n"))
    };
    let path = &args.file;
    match &args.action {
        Action::Create { username, password } => {
            let password = match password {
                Some(p) => p.clone(),
                None => ask_twice(ask)?,
            };
            let text = new_line(username, &password)?;
            write_atomically(path, text.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        Action::Update { username, password } => {
            let old = read_for_update(path)?;
            let password = match password {
                Some(p) => p.clone(),
                None => ask_twice(ask)?,
            };
            let mut out = String::with_capacity(old.len() + 160);
            let mut found = false;
            for_each_line(&old, |line, entry| {
                match entry {
                    Some((user, _)) if user == username => {
                        if !found {
                            found = true;
                            out.push_str(&new_line(username, &password)?);
                        }
                    }
                    _ => push_line(&mut out, line),
                }
                Ok(())
            })?;
            if !found {
                out.push_str(&new_line(username, &password)?);
            }
            write_atomically(path, out.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        Action::Delete { username } => {
            let old = read_for_update(path)?;
            let mut out = String::with_capacity(old.len());
            let mut found = false;
            for_each_line(&old, |line, entry| {
                match entry {
                    Some((user, _)) if user == username => found = true,
                    _ => push_line(&mut out, line),
                }
                Ok(())
            })?;
            if !found {
                return Err(format!("user {username} not found in password file"));
            }
            write_atomically(path, out.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        Action::Convert => {
            let old = read_for_update(path)?;
            let mut out = String::with_capacity(old.len() * 2);
            let mut number = 0;
            for_each_line(&old, |line, entry| {
                number += 1;
                match entry {
                    Some((user, field)) if field.starts_with("$6$") || field.starts_with("$7$") => {
                        PasswordHash::parse(field).map_err(|e| {
                            format!("{} line {number}: user {user}: {e}", path.display())
                        })?;
                        push_line(&mut out, line);
                    }
                    Some((_, field)) if field.starts_with("$argon2") => push_line(&mut out, line),
                    Some((user, field)) => {
                        check_new_password(field)
                            .map_err(|e| format!("{} line {number}: {e}", path.display()))?;
                        out.push_str(&new_line(user, field)?);
                    }
                    None => push_line(&mut out, line),
                }
                Ok(())
            })?;
            write_atomically(path, out.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
    }
}

/// Asks for a new password twice, as `mosquitto_passwd` does.
fn ask_twice(ask: &mut dyn FnMut(&str) -> io::Result<String>) -> Result<String, String> {
    let read = |ask: &mut dyn FnMut(&str) -> io::Result<String>, prompt: &str| {
        let password = ask(prompt).map_err(|e| {
            format!("cannot read the password from the terminal ({e}); use -b to give it on the command line")
        })?;
        if password.is_empty() {
            return Err("empty password".to_owned());
        }
        check_new_password(&password)?;
        Ok(password)
    };
    let first = read(ask, "Password: ")?;
    let second = read(ask, "Reenter password: ")?;
    if first != second {
        return Err("passwords do not match".to_owned());
    }
    Ok(first)
}

/// The text of an existing password file to update.
fn read_for_update(path: &Path) -> Result<String, String> {
    let bytes =
        fs::read(path).map_err(|e| format!("cannot open password file {}: {e}", path.display()))?;
    utf8_text(&bytes)
        .map(str::to_owned)
        .map_err(|e| e.with_path(path).to_string())
}

/// Calls `f` on each line of `text` (with its line end) and its
/// `(username, field)` when it is an entry, `None` for comments and blank
/// lines. A line that is neither is an error, as in `mosquitto_passwd`.
fn for_each_line<'a>(
    text: &'a str,
    mut f: impl FnMut(&'a str, Option<(&'a str, &'a str)>) -> Result<(), String>,
) -> Result<(), String> {
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let content = line.strip_suffix('\n').unwrap_or(line);
        match classify(content) {
            Ok(Line::Skip) => f(line, None)?,
            Ok(Line::Entry { username, field }) => f(line, Some((username, field)))?,
            Err(kind) => return Err(format!("corrupt password file at line {}: {kind}", i + 1)),
        }
    }
    Ok(())
}

/// Appends a kept line, giving the last line of the file its `\n`.
fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push('\n');
    }
}

/// Replaces the file at `path` (or the file a symbolic link there points
/// to) with `contents`: a temporary file in the same directory, synced,
/// then renamed over it. The old file's permissions and owner are kept;
/// a new file gets mode 0600.
fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let target = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(e),
    };
    let old = match fs::metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?
        .to_string_lossy()
        .into_owned();
    let mut random = [0u8; 6];
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| io::Error::other("the system random generator failed"))?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let temp = dir.join(format!(".{name}.{suffix}.tmp"));

    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temp)?;
    let result = (|| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            match &old {
                Some(old) => {
                    let mine = file.metadata()?;
                    if mine.uid() != old.uid() || mine.gid() != old.gid() {
                        std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))
                            .map_err(|e| {
                                io::Error::new(
                                    e.kind(),
                                    format!("cannot keep the file's owner and group: {e}"),
                                )
                            })?;
                    }
                    file.set_permissions(old.permissions())?;
                }
                None => file.set_permissions(fs::Permissions::from_mode(0o600))?,
            }
        }
        #[cfg(not(unix))]
        if let Some(old) = &old {
            file.set_permissions(old.permissions())?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, &target)
    })();
    drop(file);
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    // The rename itself is durable once the directory is synced (where
    // a directory can be opened as a file).
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn passwd_arguments_follow_mosquitto_passwd() {
        let a = parse_passwd_args(&strings(&["-c", "-b", "f", "u", "p"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            a.action,
            Action::Create {
                username: "u".into(),
                password: Some("p".into())
            }
        );
        assert_eq!(a.algorithm, HashAlgorithm::Sha512Pbkdf2);
        assert_eq!(a.iterations, DEFAULT_ITERATIONS);
        let a = parse_passwd_args(&strings(&["-H", "sha512", "-I", "5000", "f", "u"]))
            .unwrap()
            .unwrap();
        assert_eq!(a.algorithm, HashAlgorithm::Sha512);
        assert_eq!(a.iterations, 5000);
        assert_eq!(
            a.action,
            Action::Update {
                username: "u".into(),
                password: None
            }
        );
        assert_eq!(
            parse_passwd_args(&strings(&["-D", "f", "u"]))
                .unwrap()
                .unwrap()
                .action,
            Action::Delete {
                username: "u".into()
            }
        );
        assert_eq!(
            parse_passwd_args(&strings(&["-U", "f"]))
                .unwrap()
                .unwrap()
                .action,
            Action::Convert
        );
        assert_eq!(parse_passwd_args(&strings(&["--help"])).unwrap(), None);
        for bad in [
            &["-c", "-D", "f", "u"][..],
            &["-c", "-U", "f"],
            &["-D", "-U", "f"],
            &["-b", "-D", "f", "u"],
            &["-I", "0", "f", "u"],
            &["-I", "x", "f", "u"],
            &["-I", "2147483648", "f", "u"],
            &["-H", "md5", "f", "u"],
            &["-H"],
            &["-x", "f", "u"],
            &["f"],
            &["-b", "f", "u"],
            &["f", "u", "p"],
            &["-U", "f", "u"],
            &[],
            &["f", "a:b"],
            &["f", "#a"],
            &["f", " a"],
            &["f", "a\tb"],
            &["f", ""],
        ] {
            assert!(
                parse_passwd_args(&strings(bad)).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn constant_time_eq_compares_every_byte() {
        let a = [7u8; HASH_LEN];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[HASH_LEN - 1] ^= 1;
        assert!(!constant_time_eq(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!constant_time_eq(&a, &b));
    }

    #[test]
    fn unknown_user_costs_a_hash_and_is_refused() {
        let file = PasswordFile::new();
        assert!(!file.check("nobody", b""));
        assert_eq!(dummy_hash().iterations(), Some(DEFAULT_ITERATIONS));
    }
}
