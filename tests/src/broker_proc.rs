//! The example broker (`core/examples/broker.rs`) as a child process, and
//! third-party client processes against it, for
//! `tests/interop_broker.rs`.
//!
//! [`ExampleBroker::start`] builds the example once per test process
//! (`$CARGO build -p mqtt-core --example broker`, bounded in time), starts
//! it on a free port of 127.0.0.1 (`--port 0`), reads the port from its
//! `listening on` line and kills it on drop, printing the end of its log
//! (`-v`) when the test failed. [`Proc`] is any other child process whose
//! output lines are read as they come, with bounded waits, and that is
//! killed on drop.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long building the example may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the broker may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The directory of the running test's profile (`target/debug` or
/// `$CARGO_TARGET_DIR/<profile>`): the test binary is in its `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    match exe.parent() {
        Some(deps) if deps.ends_with("deps") => deps.parent().expect("profile dir").to_path_buf(),
        _ => {
            // Not run by cargo from target/<profile>/deps: the usual place.
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("debug")
        }
    }
}

/// The example broker's binary, built (once per process) with the
/// profile of the running test.
pub fn broker_binary() -> PathBuf {
    example_binary("mqtt-core", "broker")
}

/// An example's binary, built (once per process and example) with
/// `cargo build -p <package> --example <name>` and the profile of the
/// running test: `cargo test` builds examples too, but under hashed names
/// only, so the test cannot tell which is current.
pub fn example_binary(package: &str, name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<(String, String), PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let key = (package.to_string(), name.to_string());
    // Held during the build: one build per example, the others wait.
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let path = build_example(package, name);
    built.insert(key, path.clone());
    path
}

fn build_example(package: &str, name: &str) -> PathBuf {
    let dir = profile_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--quiet", "-p", package, "--example", name]);
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(profile) => {
            cmd.args(["--profile", profile]);
        }
    }
    cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let what = format!("cargo build -p {package} --example {name}");
    let mut build = Proc::spawn(cmd.stdin(Stdio::null()), &what);
    let status = build.wait(BUILD_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "{what} failed or took over {BUILD_TIMEOUT:?} ({status:?}):\n{}",
        build.output().join("\n")
    );
    let binary = dir.join("examples").join(name);
    assert!(binary.is_file(), "no {} after the build", binary.display());
    binary
}

/// The example broker running on a free port of 127.0.0.1; killed on drop.
pub struct ExampleBroker {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
}

impl ExampleBroker {
    /// Starts the broker with `args` (besides `--port 0 -v`); panics if it
    /// does not say where it listens within 10 s.
    pub fn start(args: &[&str]) -> ExampleBroker {
        let binary = broker_binary();
        let log = unique_temp_path("libmqtt-example-broker", ".log");
        let stderr = File::create(&log).expect("broker log file");
        let mut child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", "0", "-v"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = tx.send(first);
        });
        let mut broker = ExampleBroker {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let line = rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
            panic!(
                "the example broker did not print `listening on` within {START_TIMEOUT:?}; log:\n{}",
                broker.log()
            )
        });
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}; log:\n{}", broker.log()));
        broker.addr = addr;
        broker
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Its log so far (`-v`: connections and their ends).
    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its process id (to stop and continue it with signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ExampleBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            print_log_tail("example broker", self.addr, &self.log(), 40);
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The Python interpreter of `LIBMQTT_PYTHON`, else the repository's
/// `.venv`, checked to import `modules` (a Python import list); panics with
/// what to install when it cannot (`make setup` puts paho-mqtt in `.venv`,
/// `make py-test` ./py, websockets and opentelemetry-sdk).
pub fn python(modules: &str) -> PathBuf {
    let python = std::env::var_os("LIBMQTT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "this test needs a Python that can `import {modules}`: {} cannot. Run `make setup` and \
         `make py-test` (they fill .venv), or set LIBMQTT_PYTHON",
        python.display()
    );
    python
}

/// A path in the temporary directory unique to this process and call:
/// `{prefix}-{pid}-{n}{suffix}`.
pub fn unique_temp_path(prefix: &str, suffix: &str) -> PathBuf {
    static RUN: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "{prefix}-{}-{}{suffix}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The text of a log file so far (empty if it cannot be read).
pub fn read_log(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// Prints the last `lines` lines of the log of `what` (listening on
/// `addr`) to stderr: for a failing test's output.
pub fn print_log_tail(what: &str, addr: SocketAddr, log: &str, lines: usize) {
    let all: Vec<&str> = log.lines().collect();
    let tail = &all[all.len().saturating_sub(lines)..];
    eprintln!(
        "---- {what} log ({addr}), last lines ----\n{}",
        tail.join("\n")
    );
}

/// The first file called `name` in a directory of `PATH` or, after them,
/// of `extra_dirs`.
pub fn find_program(name: &str, extra_dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A child process whose stdout and stderr lines are collected as they
/// come; killed on drop.
pub struct Proc {
    child: Child,
    name: String,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    /// Spawns `cmd` with stdout and stderr piped.
    pub fn spawn(cmd: &mut Command, name: &str) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || forward(out, tx));
        std::thread::spawn(move || forward(err, tx2));
        Proc {
            child,
            name: name.to_string(),
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// The next output line, waiting at most `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Waits (at most `timeout`) for a line `pred` accepts and returns it;
    /// panics with the output so far when none comes.
    pub fn expect_line(&mut self, timeout: Duration, mut pred: impl FnMut(&str) -> bool) -> String {
        let until = real_now() + timeout;
        loop {
            let left = until.saturating_duration_since(real_now());
            match self.next_line(left) {
                Some(line) if pred(&line) => return line,
                Some(_) => {}
                None => panic!(
                    "{}: the expected line did not come within {timeout:?}; output:\n{}",
                    self.name,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits (at most `timeout`) for the process to exit; `None` if it
    /// did not (it is killed then).
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let until = real_now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if real_now() >= until {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every output line, once the process has exited (waits at most 2 s
    /// for the last lines).
    pub fn output(&mut self) -> Vec<String> {
        while self.next_line(Duration::from_secs(2)).is_some() {}
        self.seen.clone()
    }

    /// The process's standard input, if it was piped and not taken yet.
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// Kills the process (SIGKILL: no goodbye on its connections).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The tests' clock (clippy bans `Instant::now` in the workspace, for the
/// core's sake).
#[allow(clippy::disallowed_methods)]
fn real_now() -> Instant {
    Instant::now()
}

fn forward(stream: impl Read, tx: mpsc::Sender<String>) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        if tx.send(line).is_err() {
            return;
        }
    }
}
