//! mosquitto's password file: known-answer vectors, files made by
//! Debian's `mosquitto_passwd` read by us, files made by us read by
//! Debian's `mosquitto` broker, and the `passwd` subcommand.

use std::fs;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use libmqtt_broker::password::{
    hash_password, passwd_main, passwd_main_with, HashAlgorithm, HashError, PasswordFile,
    PasswordFileErrorKind, PasswordHash, DEFAULT_ITERATIONS, SALT_LEN,
};

// ---------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn passwd(args: &[&str]) -> Result<(), String> {
    passwd_main(&strings(args))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// Runs a command to its end, at most `limit`, killing it after.
#[allow(clippy::disallowed_methods)] // a test's own deadline
fn run_bounded(cmd: &mut Command, limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{cmd:?} did not end within {limit:?}");
            }
            None => sleep(Duration::from_millis(20)),
        }
    }
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Debian's `mosquitto_passwd`.
fn mosquitto_passwd(args: &[&str]) {
    let (ok, out) = run_bounded(
        Command::new("mosquitto_passwd").args(args),
        Duration::from_secs(20),
    );
    assert!(ok, "mosquitto_passwd {args:?} failed: {out}");
}

/// Debian's `mosquitto` broker on a free port of 127.0.0.1 with
/// `password_file` and `allow_anonymous false`; killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Mosquitto {
    #[allow(clippy::disallowed_methods)] // a test's own deadline
    fn start(dir: &Path, password_file: &Path) -> Mosquitto {
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let conf = dir.join(format!("mosquitto-{port}.conf"));
            let log = dir.join(format!("mosquitto-{port}.log"));
            fs::write(
                &conf,
                format!(
                    "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
                     # run as root: stay root, to read the 0600 file in a 0700 directory\n\
                     user root\n",
                    password_file.display()
                ),
            )
            .expect("write mosquitto.conf");
            let mut child = Command::new("mosquitto")
                .arg("-c")
                .arg(&conf)
                .arg("-v")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).expect("log file"))
                .spawn()
                .expect("run mosquitto (Debian's package `mosquitto`)");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Mosquitto { child, port, log };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // e.g. the port was taken meanwhile: next port
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "mosquitto did not listen within 10 s:\n{}",
                        fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                sleep(Duration::from_millis(20));
            }
            let log_text = fs::read_to_string(&log).unwrap_or_default();
            assert!(
                log_text.contains("Address already in use"),
                "mosquitto stopped:\n{log_text}"
            );
        }
        panic!("no free port for mosquitto after 5 attempts");
    }

    /// Whether `mosquitto_pub -u username [-P password]` gets in; a
    /// refusal must be mosquitto's "not authorised".
    fn login(&self, username: &str, password: Option<&str>) -> bool {
        let mut cmd = Command::new("mosquitto_pub");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-u", username, "-t", "t", "-m", "m"]);
        if let Some(p) = password {
            cmd.args(["-P", p]);
        }
        let (ok, out) = run_bounded(&mut cmd, Duration::from_secs(10));
        if !ok {
            assert!(
                out.contains("not authorised"),
                "mosquitto_pub failed for another reason than a refusal: {out}"
            );
        }
        ok
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

// ---------------------------------------------------------------------
// Known answers.
// ---------------------------------------------------------------------

/// The salt 01 02 .. 0c of the vectors below.
const KAT_SALT: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/// Computed with Python: `hashlib.pbkdf2_hmac('sha512', pw, salt, n, 64)`
/// and `hashlib.sha512(pw + salt)`, base64-encoded.
const KAT: &[(&[u8], HashAlgorithm, u32, &str)] = &[
    (
        b"secret",
        HashAlgorithm::Sha512Pbkdf2,
        101,
        "$7$101$AQIDBAUGBwgJCgsM$ElKF/yT2lAwrOIqDbqwyDkdEWWjEv9xNCPp7zaw7NgKePlIs4CqOpY89+U/jSu9Z0ymojy1xkdWS2VfMzvRKZw==",
    ),
    (
        b"",
        HashAlgorithm::Sha512Pbkdf2,
        101,
        "$7$101$AQIDBAUGBwgJCgsM$0nQUMj2QLzi3F9cnqUT9eQnLQacCIBA5kHUW/0QTjLk8eRHXrjwR4cbTg8AtMrLMTaEnp1lDDc5PP8FM5XBSsA==",
    ),
    (
        "päss w:rd".as_bytes(),
        HashAlgorithm::Sha512Pbkdf2,
        5000,
        "$7$5000$AQIDBAUGBwgJCgsM$JQj4JeDXGpb68hx/tQLiMzv+0HnVhmVcs92X4vBvjaPdIUelcntra/R4a9KWcTZ5+d20YubTVR8rbTwwObqW5A==",
    ),
    (
        b"secret",
        HashAlgorithm::Sha512,
        0,
        "$6$AQIDBAUGBwgJCgsM$XtaqFTpVqKCBusKxL7SramYPpHVSOw+CXtRUIv0PpX6q57MW1a1RUVsLMxkhMn6XOYi3uYMZcGrMAEzcnh9EoA==",
    ),
];

#[test]
fn known_answers_from_python_hashlib_are_produced_and_verified() {
    for &(password, algorithm, iterations, expected) in KAT {
        let made = PasswordHash::with_salt(password, algorithm, iterations, &KAT_SALT)
            .expect("hash with a fixed salt");
        assert_eq!(made.to_string(), expected, "{password:?}");
        let read = PasswordHash::parse(expected).expect("the vector parses");
        assert_eq!(read, made);
        assert_eq!(read.algorithm(), algorithm);
        assert!(read.verify(password), "{password:?} verifies");
        assert!(
            !read.verify(b"Secret"),
            "{password:?}: another password fails"
        );
        // A trailing zero byte: part of the password for SHA-512; for
        // PBKDF2 the HMAC key is zero-padded, so it changes nothing there
        // (mosquitto never sees it: it stops at the first zero byte).
        let mut longer = password.to_vec();
        longer.push(0);
        assert_eq!(
            read.verify(&longer),
            algorithm == HashAlgorithm::Sha512Pbkdf2,
            "{password:?} with a NUL"
        );
        let other = [b"x", password].concat();
        assert!(!read.verify(&other), "{password:?} with a byte before it");
    }
}

#[test]
fn mosquitto_2_1_hashes_with_a_64_byte_salt_and_1000_iterations_are_read() {
    // Python: pbkdf2_hmac('sha512', b'secret', bytes(range(64)), 1000, 64).
    let field = "$7$1000$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==$j5aX3DstWRgO5cjjfvKvsf7Z/KK812T4wGDMih+DCHQg8P7++fmj4sZcMp1smkEafZL0QZ29tE5ezahL/nyffw==";
    let hash = PasswordHash::parse(field).expect("a 2.1 hash");
    assert_eq!(hash.iterations(), Some(1000));
    assert_eq!(hash.salt().len(), 64);
    assert!(hash.verify(b"secret"));
    assert!(!hash.verify(b"secreT"));
    assert_eq!(hash.to_string(), field);
}

/// Lines written by Debian's `mosquitto_passwd` 2.0.11, kept as vectors.
const DEBIAN_LINES: &str = "\
alice:$7$101$Ec9KQAGYvHwRiWxO$DricpUWTtXCK97xysEv5YfkyKdY+lis2YJp1c8LuJsz7LWfvWog7nbFXlqebue5BzXPOftFgY10mCwIPKlI1ZA==
bob:$6$MH93bVPr/pIxgT+M$ejvVg42OYcCKbtn9USh3RpN920cG216rItZbqiiQ3VzBMkPIa9QvbSCWynhiGu033Pp/FOYhIFClqwv5lqvEBg==
carol:$7$5000$2D/7TajOepTCOQ9J$OGQnMbLd9uqxgAupdneMrCvWdfteaRGIY4skCRdzjrrNFfCW8DNhTJkbM5VYgPf//R9Qh6/QTaTqZoPulNuKFw==
";

#[test]
fn lines_kept_from_debian_mosquitto_passwd_verify() {
    let file = PasswordFile::parse(DEBIAN_LINES).expect("parse");
    assert_eq!(file.len(), 3);
    assert!(file.check("alice", b"secret"));
    assert!(file.check("bob", b"hunter2"));
    assert!(file.check("carol", b"p:w d"));
    assert!(!file.check("alice", b"hunter2"));
    assert!(!file.check("bob", b"secret"));
    assert!(!file.check("carol", b"p:w"));
    assert_eq!(
        file.get("bob").map(PasswordHash::algorithm),
        Some(HashAlgorithm::Sha512)
    );
    assert_eq!(
        file.get("carol").and_then(PasswordHash::iterations),
        Some(5000)
    );
}

// ---------------------------------------------------------------------
// Reading files.
// ---------------------------------------------------------------------

#[test]
fn files_made_by_debian_mosquitto_passwd_are_read() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    let f = path_str(&f);
    mosquitto_passwd(&["-c", "-b", f, "alice", "first password"]);
    mosquitto_passwd(&["-H", "sha512", "-b", f, "bob", "bob's"]);
    mosquitto_passwd(&["-I", "2000", "-b", f, "carol", "ünïcödé"]);
    mosquitto_passwd(&["-b", f, "dave", ""]);
    let file = PasswordFile::load(f).expect("load");
    assert_eq!(file.len(), 4);
    assert_eq!(
        file.get("alice").and_then(PasswordHash::iterations),
        Some(101)
    );
    assert_eq!(file.get("alice").map(|h| h.salt().len()), Some(SALT_LEN));
    assert_eq!(
        file.get("bob").map(PasswordHash::algorithm),
        Some(HashAlgorithm::Sha512)
    );
    assert_eq!(
        file.get("carol").and_then(PasswordHash::iterations),
        Some(2000)
    );
    assert!(file.check("alice", b"first password"));
    assert!(file.check("bob", b"bob's"));
    assert!(file.check("carol", "ünïcödé".as_bytes()));
    assert!(file.check("dave", b""));
    assert!(!file.check("alice", b"first passwor"));
    assert!(!file.check("bob", b"bob"));
    assert!(!file.check("carol", b"unicode"));
    assert!(!file.check("dave", b" "));
    // A user with an empty password still has to send one.
    assert!(!file.check_optional("dave", None));
    assert!(file.check_optional("dave", Some(b"")));
    assert!(!file.check("eve", b""));
    assert!(!file.contains("eve"));
}

#[test]
fn comments_blank_lines_and_white_space_are_read_as_mosquitto_does() {
    let hash = hash_password(b"pw");
    let text = format!(
        "# a comment: with a colon\n\n   \n\t# indented comment\n  alice : {hash}  \r\nbob:{hash}"
    );
    let file = PasswordFile::parse(&text).expect("parse");
    assert_eq!(file.len(), 2);
    assert!(file.check("alice", b"pw"));
    assert!(file.check("bob", b"pw"), "last line without a line end");
    assert!(!file.contains(" alice "));
    assert!(!file.contains("# a comment"));
}

#[test]
fn malformed_lines_are_refused_with_their_line_number() {
    let good = hash_password(b"pw");
    type IsKind = fn(&PasswordFileErrorKind) -> bool;
    let cases: Vec<(String, IsKind)> = vec![
        ("alice".into(), |k| matches!(k, PasswordFileErrorKind::MissingColon)),
        (format!(":{good}"), |k| {
            matches!(k, PasswordFileErrorKind::EmptyUsername)
        }),
        ("alice:".into(), |k| matches!(k, PasswordFileErrorKind::MissingHash)),
        ("alice:   ".into(), |k| matches!(k, PasswordFileErrorKind::MissingHash)),
        (format!("alice:{good}:x"), |k| {
            matches!(k, PasswordFileErrorKind::ExtraColon)
        }),
        ("alice:secret".into(), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::PlainText))
        }),
        ("alice:$5$abc$def".into(), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::UnknownAlgorithm(a)) if a == "5")
        }),
        ("alice:$argon2id$v=19$m=47104,t=1,p=1$c2FsdA$aGFzaA".into(), |k| {
            matches!(
                k,
                PasswordFileErrorKind::Hash(HashError::UnsupportedAlgorithm(_))
            )
        }),
        ("alice:$7$101$AQIDBAUGBwgJCgsM".into(), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::MissingField))
        }),
        (format!("alice:{good}$more"), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::ExtraField))
        }),
        (format!("alice:{}", good.replacen("$101$", "$0$", 1)), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::BadIterations(n)) if n == "0")
        }),
        (format!("alice:{}", good.replacen("$101$", "$-1$", 1)), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::BadIterations(_)))
        }),
        (format!("alice:{}", good.replacen("$101$", "$101x$", 1)), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::BadIterations(_)))
        }),
        (format!("alice:{}", good.replacen("$101$", "$2147483648$", 1)), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::BadIterations(_)))
        }),
        // A 9-byte salt.
        ("alice:$7$101$AQIDBAUGBwgJ$ElKF/yT2lAwrOIqDbqwyDkdEWWjEv9xNCPp7zaw7NgKePlIs4CqOpY89+U/jSu9Z0ymojy1xkdWS2VfMzvRKZw==".into(), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::BadSalt))
        }),
        // Not base64.
        ("alice:$7$101$AQIDBAUG*wgJCgsM$ElKF/yT2lAwrOIqDbqwyDkdEWWjEv9xNCPp7zaw7NgKePlIs4CqOpY89+U/jSu9Z0ymojy1xkdWS2VfMzvRKZw==".into(), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::BadSalt))
        }),
        // A 48-byte hash.
        ("alice:$6$AQIDBAUGBwgJCgsM$XtaqFTpVqKCBusKxL7SramYPpHVSOw+CXtRUIv0PpX6q57MW1a1RUVsLMxkhMn6X".into(), |k| {
            matches!(k, PasswordFileErrorKind::Hash(HashError::BadHash))
        }),
    ];
    for (bad, is_kind) in cases {
        // Two good lines and a comment before it: the bad one is line 4.
        let text = format!("# users\nbob:{good}\ncarol:{good}\n{bad}\ndave:{good}\n");
        let err = PasswordFile::parse(&text).expect_err(&bad);
        assert_eq!(err.line(), Some(4), "{bad}: {err}");
        assert!(is_kind(err.kind()), "{bad}: wrong kind {:?}", err.kind());
        assert!(err.to_string().contains("line 4"), "{err}");
        // Leniently, only that line is dropped.
        let (file, problems) = PasswordFile::parse_lenient(&text);
        assert_eq!(problems.len(), 1, "{bad}");
        assert_eq!(problems[0].line(), Some(4));
        assert!(!file.contains("alice"));
        assert!(file.check("bob", b"pw") && file.check("dave", b"pw"));
    }
}

#[test]
fn a_user_listed_twice_is_an_error_and_leniently_the_last_line_counts() {
    let text = format!(
        "alice:{}\nbob:{}\nalice:{}\n",
        hash_password(b"first"),
        hash_password(b"b"),
        hash_password(b"second")
    );
    let err = PasswordFile::parse(&text).expect_err("duplicate");
    assert_eq!(err.line(), Some(3));
    assert!(matches!(
        err.kind(),
        PasswordFileErrorKind::DuplicateUser { username, first_line: 1 } if username == "alice"
    ));
    let (file, problems) = PasswordFile::parse_lenient(&text);
    assert_eq!(problems.len(), 1);
    assert!(file.check("alice", b"second"));
    assert!(!file.check("alice", b"first"));
    // A bad later line does not hide the good earlier one.
    let text = format!("alice:{}\nalice:plain\n", hash_password(b"first"));
    let (file, problems) = PasswordFile::parse_lenient(&text);
    assert_eq!(problems.len(), 1);
    assert!(file.check("alice", b"first"));
}

#[test]
fn load_names_the_file_and_the_line() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    fs::write(&f, format!("alice:{}\nbob:plain\n", hash_password(b"x"))).expect("write");
    let err = PasswordFile::load(&f).expect_err("plain text");
    assert_eq!(err.path(), Some(f.as_path()));
    assert_eq!(err.line(), Some(2));
    let msg = err.to_string();
    assert!(msg.contains(path_str(&f)) && msg.contains("line 2") && msg.contains("plain text"));
    assert!(!msg.contains("plain\n") && !msg.contains(":plain"), "{msg}");

    let mut bytes = format!("alice:{}\n", hash_password(b"x")).into_bytes();
    bytes.extend_from_slice(b"b\xffb:");
    bytes.extend_from_slice(hash_password(b"x").as_bytes());
    bytes.push(b'\n');
    fs::write(&f, &bytes).expect("write");
    let err = PasswordFile::load(&f).expect_err("not UTF-8");
    assert_eq!(err.line(), Some(2));
    assert!(matches!(err.kind(), PasswordFileErrorKind::NotUtf8));
    let (file, problems) = PasswordFile::load_lenient(&f).expect("lenient load");
    assert_eq!(file.len(), 1);
    assert!(file.check("alice", b"x"));
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line(), Some(2));

    let missing = dir.path().join("missing");
    let err = PasswordFile::load(&missing).expect_err("missing file");
    assert_eq!(err.line(), None);
    assert!(
        matches!(err.kind(), PasswordFileErrorKind::Io(e) if e.kind() == io::ErrorKind::NotFound)
    );
}

#[test]
fn lenient_reading_agrees_with_debian_mosquitto_on_a_messy_file() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    let text = format!(
        "alice:{}\n\n# comment\n   \nalice:{}\nbob:plain\nnocolon\n  dave:{}  \r\nerin:\nfrank:{}:x\ngina:{}\n",
        hash_password(b"first"),
        hash_password(b"second"),
        hash_password(b"dpass"),
        hash_password(b"fpass"),
        PasswordHash::generate(b"gpass", HashAlgorithm::Sha512, 1)
            .expect("hash")
    );
    fs::write(&f, &text).expect("write");
    let (ours, _problems) = PasswordFile::parse_lenient(&text);
    let broker = Mosquitto::start(dir.path(), &f);
    let attempts = [
        ("alice", "first"),
        ("alice", "second"),
        ("bob", "plain"),
        ("dave", "dpass"),
        ("erin", ""),
        ("gina", "gpass"),
        ("gina", "wrong"),
        ("nobody", "x"),
    ];
    for (user, pass) in attempts {
        let theirs = broker.login(user, Some(pass));
        assert_eq!(
            ours.check(user, pass.as_bytes()),
            theirs,
            "{user}/{pass}: mosquitto says {theirs}\n{}",
            broker.log()
        );
    }
    // The one difference, on purpose: mosquitto reads `frank:HASH:x`
    // (it ignores what follows a second colon); we drop the line.
    assert!(!ours.contains("frank"));
    assert!(
        broker.login("alice", Some("second")),
        "sanity: someone gets in"
    );
}

// ---------------------------------------------------------------------
// Our hashes in Debian's mosquitto broker.
// ---------------------------------------------------------------------

#[test]
fn hash_password_output_is_accepted_by_debian_mosquitto() {
    let first = hash_password(b"s3cret pass");
    let second = hash_password(b"s3cret pass");
    assert_ne!(first, second, "a new random salt each time");
    assert!(first.starts_with("$7$101$"));
    let parsed = PasswordHash::parse(&first).expect("parse");
    assert_eq!(parsed.salt().len(), SALT_LEN);
    assert_eq!(parsed.iterations(), Some(DEFAULT_ITERATIONS));
    assert_eq!(parsed.to_string(), first);

    let dir = temp_dir();
    let f = dir.path().join("pw");
    fs::write(&f, format!("alice:{first}\nempty:{}\n", hash_password(b""))).expect("write");
    let broker = Mosquitto::start(dir.path(), &f);
    assert!(
        broker.login("alice", Some("s3cret pass")),
        "{}",
        broker.log()
    );
    assert!(!broker.login("alice", Some("s3cret pas")));
    assert!(!broker.login("alice", None));
    assert!(!broker.login("bob", Some("s3cret pass")));
    // mosquitto 2.0 reads a zero-length password as no password at all,
    // so a user whose password is empty can never log in there; we take
    // an empty password as a password (below).
    assert!(!broker.login("empty", Some("")));
    assert!(!broker.login("empty", None));
    // And ours agrees, case by case.
    let ours = PasswordFile::load(&f).expect("load");
    assert!(ours.check("alice", b"s3cret pass"));
    assert!(!ours.check("alice", b"s3cret pas"));
    assert!(!ours.check_optional("alice", None));
    assert!(!ours.check("bob", b"s3cret pass"));
    assert!(ours.check("empty", b""));
    assert!(!ours.check_optional("empty", None));
}

#[test]
fn files_written_by_passwd_are_accepted_by_debian_mosquitto_and_mosquitto_passwd() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    let fs_ = path_str(&f);
    passwd(&["-c", "-b", fs_, "alice", "apass"]).expect("create");
    passwd(&["-H", "sha512", "-b", fs_, "bob", "bpass"]).expect("add $6$");
    passwd(&["-I", "3000", "-b", fs_, "carol", "cpass"]).expect("add 3000");
    let text = fs::read_to_string(&f).expect("read");
    assert!(
        text.contains("\nbob:$6$") && text.contains("\ncarol:$7$3000$"),
        "{text}"
    );
    // Debian's mosquitto_passwd reads every line strictly when it updates.
    mosquitto_passwd(&["-b", fs_, "dave", "dpass"]);
    let broker = Mosquitto::start(dir.path(), &f);
    for (user, pass) in [
        ("alice", "apass"),
        ("bob", "bpass"),
        ("carol", "cpass"),
        ("dave", "dpass"),
    ] {
        assert!(broker.login(user, Some(pass)), "{user}\n{}", broker.log());
        assert!(!broker.login(user, Some("nope")), "{user}");
    }
    let ours = PasswordFile::load(&f).expect("load");
    assert_eq!(ours.len(), 4);
    assert!(ours.check("dave", b"dpass"));
}

// ---------------------------------------------------------------------
// The passwd subcommand.
// ---------------------------------------------------------------------

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn no_temp_files_left(dir: &Path) {
    let names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "temporary file left: {names:?}"
    );
}

#[test]
fn passwd_create_writes_one_user_and_overwrites() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    let p = path_str(&f);
    passwd(&["-c", "-b", p, "alice", "a"]).expect("create");
    passwd(&["-b", p, "bob", "b"]).expect("add");
    passwd(&["-c", "-b", p, "carol", "c"]).expect("create again");
    let text = fs::read_to_string(&f).expect("read");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("carol:$7$101$") && text.ends_with('\n'));
    let file = PasswordFile::load(&f).expect("load");
    assert!(file.check("carol", b"c"));
    assert!(!file.contains("alice"));
    #[cfg(unix)]
    assert_eq!(mode(&f), 0o600);
    no_temp_files_left(dir.path());
}

#[test]
fn passwd_add_and_update_keep_the_other_lines_in_order() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    let p = path_str(&f);
    let a = format!("alice:{}", hash_password(b"a"));
    let b = format!("bob:{}", hash_password(b"b-old"));
    let c = format!("carol:{}", hash_password(b"c"));
    let b2 = format!("bob:{}", hash_password(b"b-older"));
    // Comments, a blank line, a CRLF line, a duplicate, no final newline.
    fs::write(&f, format!("# users\n{a}\n\n{b}\r\n{c}\n{b2}")).expect("write");
    passwd(&["-b", p, "bob", "b-new"]).expect("update");
    passwd(&["-b", p, "dave", "d"]).expect("add");
    let text = fs::read_to_string(&f).expect("read");
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines[0], "# users");
    assert_eq!(lines[1], a);
    assert_eq!(lines[2], "");
    assert!(
        lines[3].starts_with("bob:$7$101$") && lines[3] != b,
        "updated in place"
    );
    assert_eq!(lines[4], c);
    assert!(
        lines[5].starts_with("dave:$7$"),
        "new user at the end: {text}"
    );
    assert_eq!(lines[6], "", "the file ends with a newline");
    assert_eq!(lines.len(), 7, "the second bob line is gone: {text}");
    let file = PasswordFile::load(&f).expect("the result is a valid file");
    assert!(file.check("bob", b"b-new"));
    assert!(!file.check("bob", b"b-old"));
    assert!(file.check("alice", b"a") && file.check("carol", b"c") && file.check("dave", b"d"));
    no_temp_files_left(dir.path());
}

#[test]
fn passwd_delete_removes_the_user_and_refuses_an_unknown_one() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    let p = path_str(&f);
    passwd(&["-c", "-b", p, "alice", "a"]).expect("create");
    passwd(&["-b", p, "bob", "b"]).expect("add");
    passwd(&["-b", p, "carol", "c"]).expect("add");
    let before = fs::read_to_string(&f).expect("read");
    passwd(&["-D", p, "bob"]).expect("delete");
    let after = fs::read_to_string(&f).expect("read");
    let expected: String = before
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("bob:"))
        .collect();
    assert_eq!(after, expected);
    let err = passwd(&["-D", p, "bob"]).expect_err("already gone");
    assert!(err.contains("not found"), "{err}");
    assert_eq!(fs::read_to_string(&f).expect("read"), after, "unchanged");
    let file = PasswordFile::load(&f).expect("load");
    assert_eq!(file.len(), 2);
    assert!(!file.contains("bob"));
}

#[test]
fn passwd_u_hashes_plain_text_passwords_and_keeps_hashed_lines() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    let p = path_str(&f);
    let hashed = format!("carol:{}", hash_password(b"c"));
    let sha = format!(
        "dave:{}",
        PasswordHash::generate(b"d", HashAlgorithm::Sha512, 1).expect("hash")
    );
    fs::write(
        &f,
        format!("# plain text\nalice:apass\n bob : b pass \n{hashed}\n{sha}\n"),
    )
    .expect("write");
    passwd(&["-U", p]).expect("convert");
    let text = fs::read_to_string(&f).expect("read");
    assert!(text.starts_with("# plain text\nalice:$7$101$"), "{text}");
    assert!(
        text.contains(&format!("\n{hashed}\n{sha}\n")),
        "hashed lines kept: {text}"
    );
    let file = PasswordFile::load(&f).expect("load");
    assert!(file.check("alice", b"apass"));
    assert!(
        file.check("bob", b"b pass"),
        "white space around it trimmed, as mosquitto"
    );
    assert!(file.check("carol", b"c"));
    assert!(file.check("dave", b"d"));
    // Running it again changes nothing.
    passwd(&["-U", p]).expect("convert again");
    assert_eq!(fs::read_to_string(&f).expect("read"), text);
    // -H and -I apply.
    fs::write(&f, "erin:epass\n").expect("write");
    passwd(&["-I", "777", "-U", p]).expect("convert");
    let file = PasswordFile::load(&f).expect("load");
    assert_eq!(
        file.get("erin").and_then(PasswordHash::iterations),
        Some(777)
    );
    assert!(file.check("erin", b"epass"));
    // A malformed hash is not hashed again as if it were a password.
    fs::write(&f, "frank:$7$101$AAAA$BBBB\n").expect("write");
    let err = passwd(&["-U", p]).expect_err("malformed hash");
    assert!(err.contains("line 1"), "{err}");
    assert_eq!(
        fs::read_to_string(&f).expect("read"),
        "frank:$7$101$AAAA$BBBB\n"
    );
}

#[test]
fn passwd_options_choose_the_hash() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    let p = path_str(&f);
    passwd(&["-H", "sha512", "-c", "-b", p, "alice", "a"]).expect("create");
    passwd(&["-H", "sha512-pbkdf2", "-I", "12345", "-b", p, "bob", "b"]).expect("add");
    let file = PasswordFile::load(&f).expect("load");
    assert_eq!(
        file.get("alice").map(PasswordHash::algorithm),
        Some(HashAlgorithm::Sha512)
    );
    assert_eq!(
        file.get("bob").and_then(PasswordHash::iterations),
        Some(12345)
    );
    assert!(file.check("alice", b"a") && file.check("bob", b"b"));
}

#[test]
fn passwd_asks_twice_without_b_and_refuses_a_mismatch_or_an_empty_password() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    let p = path_str(&f);
    let answering = |answers: &'static [&'static str]| {
        let mut asked = Vec::new();
        let mut next = answers.iter();
        move |prompt: &str| -> io::Result<String> {
            asked.push(prompt.to_owned());
            assert!(asked.len() <= 2, "asked more than twice: {asked:?}");
            assert_eq!(
                prompt,
                if asked.len() == 1 {
                    "Password: "
                } else {
                    "Reenter password: "
                }
            );
            next.next()
                .map(|s| s.to_string())
                .ok_or_else(|| io::Error::other("no more answers"))
        }
    };
    passwd_main_with(
        &strings(&["-c", p, "alice"]),
        &mut answering(&["typed", "typed"]),
    )
    .expect("create with a prompt");
    assert!(PasswordFile::load(&f)
        .expect("load")
        .check("alice", b"typed"));

    let before = fs::read_to_string(&f).expect("read");
    let err = passwd_main_with(&strings(&[p, "alice"]), &mut answering(&["one", "two"]))
        .expect_err("mismatch");
    assert!(err.contains("do not match"), "{err}");
    let err =
        passwd_main_with(&strings(&[p, "bob"]), &mut answering(&["", ""])).expect_err("empty");
    assert!(err.contains("empty password"), "{err}");
    let err =
        passwd_main_with(&strings(&[p, "bob"]), &mut answering(&[])).expect_err("no terminal");
    assert!(err.contains("-b"), "{err}");
    assert_eq!(fs::read_to_string(&f).expect("read"), before, "unchanged");

    passwd_main_with(&strings(&[p, "bob"]), &mut answering(&["b", "b"])).expect("add");
    let file = PasswordFile::load(&f).expect("load");
    assert!(file.check("alice", b"typed") && file.check("bob", b"b"));

    // Updating a missing file fails before asking.
    let missing = dir.path().join("missing");
    let err = passwd_main_with(&strings(&[path_str(&missing), "bob"]), &mut answering(&[]))
        .expect_err("missing file");
    assert!(err.contains("cannot open"), "{err}");
}

#[test]
fn passwd_refuses_a_corrupt_file_with_its_line_and_leaves_it_untouched() {
    let dir = temp_dir();
    let f = dir.path().join("pw");
    let p = path_str(&f);
    let text = format!("alice:{}\n# ok\njunk line\n", hash_password(b"a"));
    fs::write(&f, &text).expect("write");
    let err = passwd(&["-b", p, "bob", "b"]).expect_err("corrupt");
    assert!(err.contains("line 3"), "{err}");
    let err = passwd(&["-D", p, "alice"]).expect_err("corrupt");
    assert!(err.contains("line 3"), "{err}");
    assert_eq!(fs::read_to_string(&f).expect("read"), text);
    no_temp_files_left(dir.path());
    // Arguments mosquitto_passwd refuses.
    for bad in [
        &["-c", "-D", p, "u"][..],
        &["-b", "-D", p, "u"],
        &["-b", p, "a:b", "x"],
        &["-I", "0", "-b", p, "u", "x"],
        &["-H", "md5", "-b", p, "u", "x"],
        &[p],
    ] {
        assert!(passwd(bad).is_err(), "{bad:?}");
    }
    assert_eq!(fs::read_to_string(&f).expect("read"), text);
}

#[cfg(unix)]
#[test]
fn passwd_keeps_the_mode_and_writes_through_a_symbolic_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir();
    let real = dir.path().join("real-pw");
    let link = dir.path().join("pw");
    passwd(&["-c", "-b", path_str(&real), "alice", "a"]).expect("create");
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).expect("chmod");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    passwd(&["-b", path_str(&link), "bob", "b"]).expect("add through the link");
    assert!(
        fs::symlink_metadata(&link)
            .expect("lstat")
            .file_type()
            .is_symlink(),
        "the link is still a link"
    );
    assert_eq!(mode(&real), 0o640, "the mode is kept");
    let file = PasswordFile::load(&real).expect("load");
    assert!(file.check("alice", b"a") && file.check("bob", b"b"));
    no_temp_files_left(dir.path());
}
