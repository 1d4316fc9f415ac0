//! The broker binary started by the tests: a mosquitto.conf written to a
//! temporary directory, the process, its listening ports (from the
//! `listening on ADDRESS (KIND)` lines it prints), and the third-party
//! clients that drive it (Debian's mosquitto_pub / mosquitto_sub, paho-mqtt
//! in the repository's `.venv`).

#![allow(dead_code)]
// Tests wait for real processes: they read the real clock.
#![allow(clippy::disallowed_methods)]

#[path = "../../../tokio/tests/common/pki.rs"]
pub mod pki;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any single wait of a test may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// A free port on 127.0.0.1 (bound and released: the broker binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `libmqtt-broker`; killed on drop.
pub struct BrokerProc {
    pub child: Child,
    /// `(port, kind)` per listening socket, in configuration order.
    pub listening: Vec<(u16, String)>,
    /// The temporary directory of its files.
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    /// What it wrote to stderr so far, collected by a thread.
    stderr: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl BrokerProc {
    /// Writes `conf` (with `{dir}` replaced by the temporary directory) and
    /// starts the broker with `-c`, waiting for `listeners` listening lines.
    pub fn start(conf: &str, listeners: usize) -> BrokerProc {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, conf, listeners, &[])
    }

    /// As [`start`](Self::start), with files already in `dir` and extra
    /// command-line arguments.
    pub fn start_in(
        dir: tempfile::TempDir,
        conf: &str,
        listeners: usize,
        args: &[&str],
    ) -> BrokerProc {
        let conf_path = dir.path().join("mosquitto.conf");
        let text = conf.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(&conf_path, text).expect("write conf");
        let mut child = Command::new(env!("CARGO_BIN_EXE_libmqtt-broker"))
            .arg("-c")
            .arg(&conf_path)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start libmqtt-broker");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        let mut listening = Vec::new();
        let deadline = Instant::now() + WAIT;
        while listening.len() < listeners {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    // The stderr thread ends with the process: every line.
                    let mut errors = Vec::new();
                    while let Ok(line) = erx.recv_timeout(Duration::from_secs(1)) {
                        errors.push(line);
                    }
                    panic!("the broker did not start: {errors:?}");
                }
            };
            if let Some(rest) = line.strip_prefix("listening on ") {
                let (addr, kind) = rest.split_once(' ').expect("listening line");
                let port = addr.rsplit(':').next().unwrap().parse().expect("port");
                listening.push((port, kind.trim_matches(&['(', ')'][..]).to_string()));
            }
        }
        BrokerProc {
            child,
            listening,
            conf: conf_path,
            dir,
            stderr: erx,
            log: Vec::new(),
        }
    }

    /// Takes the broker's directory (its files stay; an empty one is left
    /// in its place), to start another broker on the same files once
    /// this one is gone. The process is killed when `self` drops.
    pub fn take_dir(&mut self) -> tempfile::TempDir {
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    /// Lines the broker wrote to stderr so far (also kept in `log`).
    pub fn drain_log(&mut self) -> &[String] {
        self.log.extend(self.stderr.try_iter());
        &self.log
    }

    /// The path of a file in the broker's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Sends a signal to the broker.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits until the broker logged a line containing `needle`.
    pub fn wait_log(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.log.iter().any(|l| l.contains(needle)) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => panic!("the broker never logged {needle:?}: {:?}", self.log),
            }
        }
    }

    /// Waits for the process to exit; its status code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the broker did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BrokerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command with a time limit; its output.
pub fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + WAIT;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// `mosquitto_pub` with these arguments (host 127.0.0.1 and port given).
pub fn mosquitto_pub(port: u16, args: &[&str]) -> Output {
    run(Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args))
}

/// A `mosquitto_sub` started in the background; read its output with
/// [`Sub::finish`].
pub struct Sub(Child);

impl Sub {
    /// Starts `mosquitto_sub -v` with these arguments; it must exit by
    /// itself (give `-C COUNT`, `-W SECONDS`).
    pub fn start(port: u16, args: &[&str]) -> Sub {
        let child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-v"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto_sub");
        Sub(child)
    }

    /// Waits for it (at most [`WAIT`]); its stdout lines and exit status.
    pub fn finish(mut self) -> (Vec<String>, Option<i32>, String) {
        let deadline = Instant::now() + WAIT;
        while self.0.try_wait().expect("wait").is_none() {
            if Instant::now() >= deadline {
                let _ = self.0.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = self.0.wait_with_output().expect("output");
        let lines = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        (
            lines,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// Gives a subscriber started in the background time to subscribe.
pub fn settle() {
    std::thread::sleep(Duration::from_millis(400));
}

#[allow(unused_imports)] // not every test binary runs Python
pub use mqtt_tests::broker_proc::python;
