//! The durable broker (`persistence true`), as real processes on
//! 127.0.0.1: graceful restarts in both modes, SIGKILL under QoS 1 and 2
//! load checked against what the publishers had acknowledged, damaged
//! stores, a store from a newer format, session expiry over the downtime.
// Tests wait for real processes: they read the real clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{free_port, mosquitto_pub, python, run, settle, BrokerProc, Sub, WAIT};
use mqtt_core::broker::persist::{STORE_FORMAT_VERSION, STORE_MAGIC};

/// A free port below Linux's ephemeral range (32768 up): a broker is
/// restarted on the same port, and while it is down no client socket of
/// a test running beside (which gets an ephemeral port) can take it.
fn stable_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 400) as u16 * 25;
    for _ in 0..2000 {
        let port = 20_000 + (base - 20_000 + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    free_port()
}

/// A broker on `port` with its store in its temporary directory.
fn durable_conf(port: u16, mode: &str) -> String {
    format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\nsys_interval 0\n\
         persistence true\npersistence_location {{dir}}/\npersistence_mode {mode}\n\
         autosave_interval 1\nmax_queued_messages 0\n"
    )
}

/// Stops `broker` with SIGTERM (it must exit 0) and starts a new one on
/// the same files, which must report its restore.
fn graceful_restart(mut broker: BrokerProc, conf: &str) -> BrokerProc {
    broker.signal("TERM");
    assert_eq!(broker.wait_exit(), Some(0), "{:?}", broker.drain_log());
    let dir = broker.take_dir();
    drop(broker);
    let mut broker = BrokerProc::start_in(dir, conf, 1, &[]);
    broker.wait_log("restored");
    broker
}

/// The broker's log line containing `needle` (after waiting for it).
fn log_line(broker: &mut BrokerProc, needle: &str) -> String {
    broker.wait_log(needle);
    broker
        .log
        .iter()
        .find(|l| l.contains(needle))
        .cloned()
        .unwrap_or_default()
}

fn sub_ok(port: u16, args: &[&str]) {
    let out = run(Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-E"])
        .args(args));
    assert!(
        out.status.success(),
        "mosquitto_sub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pub_ok(port: u16, args: &[&str]) {
    let out = mosquitto_pub(port, args);
    assert!(
        out.status.success(),
        "mosquitto_pub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A persistent 3.1.1 session and a 5.0 one, offline with queued QoS 1
/// and QoS 2 messages, and retained messages, survive SIGTERM and a
/// restart: the subscribers get their queue when they come back, their
/// subscriptions still route, the retained messages are there.
fn graceful_restart_keeps_everything(mode: &str) {
    let port = stable_port();
    let conf = durable_conf(port, mode);
    let broker = BrokerProc::start(&conf, 1);
    let sessions: [(&str, &[&str]); 2] = [
        ("keep311", &["-V", "mqttv311", "-c"]),
        ("keep5", &["-V", "mqttv5", "-c", "-x", "3600"]),
    ];
    for (id, args) in sessions {
        let mut a = vec!["-i", id, "-q", "2", "-t", "queue/#"];
        a.extend_from_slice(args);
        sub_ok(port, &a);
    }
    let mut expected = Vec::new();
    for i in 0..3 {
        let (one, two) = (format!("one-{i}"), format!("two-{i}"));
        pub_ok(port, &["-q", "1", "-t", "queue/q1", "-m", &one]);
        pub_ok(port, &["-q", "2", "-t", "queue/q2", "-m", &two]);
        expected.push(format!("queue/q1 {one}"));
        expected.push(format!("queue/q2 {two}"));
    }
    pub_ok(port, &["-r", "-q", "1", "-t", "keep/a", "-m", "ra"]);
    pub_ok(port, &["-r", "-q", "2", "-t", "keep/b", "-m", "rb"]);

    let mut broker = graceful_restart(broker, &conf);
    let report = log_line(&mut broker, "restored");
    assert!(
        report.contains("2 sessions, 2 subscriptions, 12 messages, 2 retained"),
        "{report}"
    );
    expected.push("queue/after after".to_owned());
    expected.sort();
    for (id, args) in sessions {
        // Subscribed to nothing new: what comes is the stored queue, then
        // what the stored subscription routes.
        let mut a = vec![
            "-i",
            id,
            "-q",
            "2",
            "-t",
            "none/none",
            "-C",
            "7",
            "-W",
            "10",
        ];
        a.extend_from_slice(args);
        let sub = Sub::start(port, &a);
        settle();
        pub_ok(port, &["-q", "1", "-t", "queue/after", "-m", "after"]);
        let (mut lines, status, err) = sub.finish();
        lines.sort();
        assert_eq!(lines, expected, "{id}: {status:?} {err}");
    }
    let (mut lines, _, err) = Sub::start(port, &["-t", "keep/#", "-C", "2", "-W", "5"]).finish();
    lines.sort();
    assert_eq!(lines, ["keep/a ra", "keep/b rb"], "{err}");
    broker.signal("TERM");
    assert_eq!(broker.wait_exit(), Some(0));
}

#[test]
fn graceful_restart_keeps_sessions_queues_and_retained_in_sync_mode() {
    graceful_restart_keeps_everything("sync");
}

#[test]
fn graceful_restart_keeps_sessions_queues_and_retained_in_periodic_mode() {
    graceful_restart_keeps_everything("periodic");
}

/// A 5.0 session with a 2 s Session Expiry Interval is gone after 3 s of
/// downtime (the clock continues across restarts); one of an hour keeps
/// its queued message.
#[test]
fn session_expiry_counts_the_downtime() {
    let port = stable_port();
    let conf = durable_conf(port, "sync");
    let mut broker = BrokerProc::start(&conf, 1);
    for (id, expiry) in [("short", "2"), ("long", "3600")] {
        sub_ok(
            port,
            &[
                "-V", "mqttv5", "-c", "-x", expiry, "-i", id, "-q", "1", "-t", "exp/#",
            ],
        );
    }
    pub_ok(port, &["-q", "1", "-t", "exp/x", "-m", "queued"]);
    broker.signal("TERM");
    assert_eq!(broker.wait_exit(), Some(0));
    let down = Instant::now();
    let dir = broker.take_dir();
    drop(broker);
    std::thread::sleep(Duration::from_secs(3));
    let mut broker = BrokerProc::start_in(dir, &conf, 1, &[]);
    let report = log_line(&mut broker, "restored");
    assert!(down.elapsed() < Duration::from_secs(10));
    // Both read back; the short one ends at once, counted as expired.
    assert!(report.contains("2 sessions, 2 subscriptions"), "{report}");
    assert!(
        report.contains("expired while down: 1 sessions"),
        "{report}"
    );
    let (lines, _, err) = Sub::start(
        port,
        &[
            "-V",
            "mqttv5",
            "-c",
            "-x",
            "3600",
            "-i",
            "long",
            "-t",
            "none/none",
            "-C",
            "1",
            "-W",
            "5",
        ],
    )
    .finish();
    assert_eq!(lines, ["exp/x queued"], "{err}");
    let (lines, _, _) = Sub::start(
        port,
        &[
            "-V",
            "mqttv5",
            "-c",
            "-x",
            "2",
            "-i",
            "short",
            "-t",
            "none/none",
            "-W",
            "2",
        ],
    )
    .finish();
    assert!(lines.is_empty(), "an expired session kept {lines:?}");
}

/// How a store is damaged.
#[derive(Debug, Clone, Copy)]
enum Harm {
    /// Its last bytes cut off (a crash in the middle of a write).
    Truncate,
    /// One byte two thirds in flipped (a bad sector).
    FlipByte,
}

/// 20 retained messages, each its own batch; the store damaged; the
/// broker starts, logs where and how much was lost, keeps the damaged
/// file beside, and serves the valid prefix; a second restart finds a
/// clean (compacted) store with the same content.
fn damaged_store_recovers_its_valid_prefix(harm: Harm) {
    let port = stable_port();
    let conf = durable_conf(port, "sync");
    let mut broker = BrokerProc::start(&conf, 1);
    for i in 0..20 {
        pub_ok(
            port,
            &[
                "-r",
                "-q",
                "1",
                "-t",
                &format!("r/{i}"),
                "-m",
                &format!("v{i}"),
            ],
        );
    }
    broker.signal("TERM");
    assert_eq!(broker.wait_exit(), Some(0));
    let dir = broker.take_dir();
    drop(broker);
    let path = dir.path().join("libmqtt.db");
    let mut bytes = std::fs::read(&path).expect("the store exists");
    assert!(bytes.starts_with(&STORE_MAGIC));
    match harm {
        Harm::Truncate => bytes.truncate(bytes.len() - 5),
        Harm::FlipByte => {
            let at = bytes.len() * 2 / 3;
            bytes[at] ^= 0x40;
        }
    }
    std::fs::write(&path, &bytes).expect("write");

    let mut broker = BrokerProc::start_in(dir, &conf, 1, &[]);
    let warning = log_line(&mut broker, "damaged at byte");
    assert!(warning.contains("bytes from byte"), "{warning}");
    assert!(warning.contains("libmqtt.db"), "{warning}");
    log_line(&mut broker, "restored");
    assert_eq!(
        std::fs::read(broker.path("libmqtt.db.damaged")).expect("the damaged copy"),
        bytes
    );
    let retained = |port: u16| {
        let (lines, _, _) = Sub::start(port, &["-t", "r/#", "--retained-only", "-W", "2"]).finish();
        lines
    };
    let kept = retained(port);
    assert!(kept.contains(&"r/0 v0".to_owned()), "{kept:?}");
    assert!(!kept.contains(&"r/19 v19".to_owned()), "{kept:?}");
    assert!(kept.len() < 20, "{kept:?}");

    let mut broker = graceful_restart(broker, &conf);
    assert!(
        !broker.drain_log().iter().any(|l| l.contains("damaged")),
        "{:?}",
        broker.log
    );
    let mut again = retained(port);
    again.sort();
    let mut kept = kept;
    kept.sort();
    assert_eq!(again, kept);
}

#[test]
fn truncated_store_recovers_its_valid_prefix() {
    damaged_store_recovers_its_valid_prefix(Harm::Truncate);
}

#[test]
fn store_with_a_flipped_byte_recovers_its_valid_prefix() {
    damaged_store_recovers_its_valid_prefix(Harm::FlipByte);
}

/// The broker run on `store` (bytes written as `libmqtt.db`) must refuse
/// to start; its stderr.
fn refused_start(store: Option<&[u8]>, location: &str) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    if let Some(bytes) = store {
        std::fs::write(dir.path().join("libmqtt.db"), bytes).expect("write store");
    }
    let port = stable_port();
    let conf = durable_conf(port, "sync").replace("{dir}/", location);
    let conf = conf.replace("{dir}", &dir.path().display().to_string());
    let conf_path = dir.path().join("mosquitto.conf");
    std::fs::write(&conf_path, conf).expect("conf");
    let out = run(Command::new(env!("CARGO_BIN_EXE_libmqtt-broker"))
        .arg("-c")
        .arg(&conf_path));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("listening on"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // --test-config finds the same.
    let checked = run(Command::new(env!("CARGO_BIN_EXE_libmqtt-broker"))
        .arg("-c")
        .arg(&conf_path)
        .arg("--test-config"));
    assert_eq!(checked.status.code(), Some(1), "{checked:?}");
    let last = |s: &str| s.lines().last().unwrap_or_default().to_owned();
    assert_eq!(
        last(&String::from_utf8_lossy(&checked.stderr)),
        last(&stderr)
    );
    (stderr, dir)
}

#[test]
fn store_from_a_newer_format_refuses_to_start() {
    let mut store = STORE_MAGIC.to_vec();
    store.extend_from_slice(&(STORE_FORMAT_VERSION + 1).to_le_bytes());
    store.extend_from_slice(&[0; 4]);
    store.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let (err, dir) = refused_start(Some(&store), "{dir}/");
    let path = dir.path().join("libmqtt.db");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(
        err.contains(&format!(
            "store format version {} is newer than this build reads ({STORE_FORMAT_VERSION})",
            STORE_FORMAT_VERSION + 1
        )),
        "{err}"
    );
    // Left as it was.
    assert_eq!(std::fs::read(&path).expect("store"), store);
}

#[test]
fn mosquitto_db_is_not_our_store_and_refuses_to_start() {
    // mosquitto's own file starts with its magic and "mosquitto db".
    let mut store = vec![0x00, 0xB5, 0x00];
    store.extend_from_slice(b"mosquitto db");
    store.extend_from_slice(&[0, 0, 0, 6, 0, 0, 0, 0]);
    let (err, dir) = refused_start(Some(&store), "{dir}/");
    assert!(err.contains("not a libmqtt store"), "{err}");
    assert!(
        err.contains(&dir.path().join("libmqtt.db").display().to_string()),
        "{err}"
    );
}

#[test]
fn a_second_broker_on_the_same_store_refuses_to_start() {
    let port = stable_port();
    let conf = durable_conf(port, "sync");
    let broker = BrokerProc::start(&conf, 1);
    let other = broker.path("other.conf");
    let text = durable_conf(free_port(), "sync")
        .replace("{dir}", &broker.dir.path().display().to_string());
    std::fs::write(&other, text).expect("conf");
    let out = run(Command::new(env!("CARGO_BIN_EXE_libmqtt-broker"))
        .arg("-c")
        .arg(&other));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("in use by another broker"), "{err}");
}

#[test]
fn missing_persistence_location_refuses_to_start() {
    let (err, _dir) = refused_start(None, "{dir}/missing/");
    assert!(err.contains("persistence_location"), "{err}");
    assert!(err.contains("missing"), "{err}");
}

// ---------------------------------------------------------------------------
// SIGKILL under load.

/// A persistent subscriber (paho-mqtt): subscribes `load/#` at QoS 2 once,
/// then reconnects to its session after every loss of the broker, printing
/// `READY` after its SUBACK and `MSG TOPIC PAYLOAD` per message (a QoS 2
/// message when its PUBREL arrives). It ends once STOP_FILE exists and
/// nothing came for 2 s, or after LIMIT seconds.
const SUBSCRIBER: &str = r#"
import os, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, cid, ver, stop, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
v5 = ver == "5"
st = {"subscribed": False, "last": time.time()}
def on_connect(c, u, flags, rc, props=None):
    print("CONNECTED", rc, flags.session_present, flush=True)
    if not rc.is_failure and not st["subscribed"]:
        c.subscribe("load/#", qos=2)
def on_subscribe(c, u, mid, rcs, props=None):
    if rcs[0].value == 2:
        st["subscribed"] = True
        print("READY", flush=True)
def on_message(c, u, m):
    st["last"] = time.time()
    print("MSG", m.topic, m.payload.decode(), flush=True)
if v5:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
else:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311, clean_session=False)
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
end = time.time() + limit
def done():
    return os.path.exists(stop) and time.time() - st["last"] > 2.0
while time.time() < end and not done():
    try:
        if v5:
            p = Properties(PacketTypes.CONNECT)
            p.SessionExpiryInterval = 3600
            c.connect("127.0.0.1", port, 30, clean_start=False, properties=p)
        else:
            c.connect("127.0.0.1", port, 30)
    except OSError:
        time.sleep(0.05)
        continue
    while time.time() < end and not done():
        if c.loop(0.05) != mqtt.MQTT_ERR_SUCCESS:
            break
print("END", flush=True)
"#;

/// A publisher (paho-mqtt, clean session): keeps WINDOW messages of QoS
/// QOS in flight on `load/pIDX` for DURATION seconds. After a loss of the
/// broker it abandons its client (nothing is resent: a message not
/// acknowledged is never sent twice) and connects a new one. Prints
/// `ACK PAYLOAD` for every message acknowledged (PUBACK, PUBCOMP).
const PUBLISHER: &str = r#"
import sys, time
import paho.mqtt.client as mqtt
port, idx, qos, duration = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
WINDOW = 10
end = time.time() + duration
gen, n = 0, 0
def acked(i):
    try:
        return i.is_published()
    except (RuntimeError, ValueError):  # its send failed: the connection was lost
        return False
def reap(infos):
    left = []
    for i, p in infos:
        if acked(i):
            print("ACK", p, flush=True)
        else:
            left.append((i, p))
    return left
while time.time() < end:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dpub" + idx, protocol=mqtt.MQTTv311, clean_session=True)
    up = {"ok": False}
    def on_connect(c, u, flags, rc, props=None, up=up):
        up["ok"] = not rc.is_failure
    c.on_connect = on_connect
    try:
        c.connect("127.0.0.1", port, 30)
    except OSError:
        time.sleep(0.05)
        continue
    infos = []
    alive = True
    t = time.time() + 5
    while alive and not up["ok"] and time.time() < t:
        alive = c.loop(0.05) == mqtt.MQTT_ERR_SUCCESS
    while alive and up["ok"] and time.time() < end:
        pending = sum(1 for i, _ in infos if not acked(i))
        while pending < WINDOW:
            payload = "p%s-%d-%d" % (idx, gen, n)
            n += 1
            infos.append((c.publish("load/p" + idx, payload, qos=qos), payload))
            pending += 1
        alive = c.loop(0.02) == mqtt.MQTT_ERR_SUCCESS
        infos = reap(infos)
    t = time.time() + 5
    while alive and infos and time.time() < t:
        alive = c.loop(0.05) == mqtt.MQTT_ERR_SUCCESS
        infos = reap(infos)
    if alive:
        c.disconnect()
    gen += 1
print("END", flush=True)
"#;

/// A child process whose stdout lines are collected by a thread.
struct Script {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Script {
    fn start(python: &Path, script: &str, args: &[String]) -> Script {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Script {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for a line equal to `line`.
    fn wait_line(&mut self, line: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.seen.iter().any(|l| l == line) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => return false,
            }
        }
    }

    /// Waits (at most `limit`) for `END` and the exit; every line.
    fn finish(mut self, limit: Duration) -> Vec<String> {
        let ended = self.wait_line("END", limit);
        if !ended {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.seen.extend(self.lines.try_iter());
        assert!(
            ended,
            "a client script did not end in time: {:?}",
            self.seen.last()
        );
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// xorshift64*: the kill schedule from a seed, reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Three publishers (QoS 1, 2, 2) and two persistent subscribers (3.1.1
/// and 5.0); the broker is killed with SIGKILL `kills` times at seeded
/// random moments and restarted on its store. Afterwards every message a
/// publisher had acknowledged reached each subscriber at least once (QoS
/// 1) or exactly once (QoS 2), and no QoS 2 message came twice.
fn sigkill_loses_nothing_acknowledged(mode: &str, seed: u64, kills: usize) {
    let python = python("paho.mqtt.client");
    let port = stable_port();
    let conf = durable_conf(port, mode);
    let mut broker = BrokerProc::start(&conf, 1);
    let stop = broker.dir.path().join("stop");
    let limit = "120".to_owned();
    let mut subs: Vec<(String, Script)> = [("dsub311", "3"), ("dsub5", "5")]
        .into_iter()
        .map(|(id, ver)| {
            let args = [
                port.to_string(),
                id.to_owned(),
                ver.to_owned(),
                stop.display().to_string(),
                limit.clone(),
            ];
            (id.to_owned(), Script::start(&python, SUBSCRIBER, &args))
        })
        .collect();
    for (id, s) in &mut subs {
        assert!(
            s.wait_line("READY", WAIT),
            "{id} did not subscribe: {:?}",
            s.seen
        );
    }
    let mut rng = Rng(seed.max(1));
    let gaps: Vec<u64> = (0..kills).map(|_| 1000 + rng.below(2500)).collect();
    let load_ms = gaps.iter().sum::<u64>() + 1500;
    let qos = [1u8, 2, 2];
    let pubs: Vec<Script> = qos
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let args = [
                port.to_string(),
                i.to_string(),
                q.to_string(),
                format!("{:.3}", load_ms as f64 / 1000.0),
            ];
            Script::start(&python, PUBLISHER, &args)
        })
        .collect();
    for gap in &gaps {
        std::thread::sleep(Duration::from_millis(*gap));
        broker.child.kill().expect("SIGKILL");
        let _ = broker.child.wait();
        let dir = broker.take_dir();
        drop(broker);
        broker = BrokerProc::start_in(dir, &conf, 1, &[]);
        broker.wait_log("restored");
    }
    let mut acked: HashMap<String, u8> = HashMap::new();
    for (i, p) in pubs.into_iter().enumerate() {
        for line in p.finish(Duration::from_millis(load_ms) + WAIT) {
            if let Some(payload) = line.strip_prefix("ACK ") {
                acked.insert(payload.to_owned(), qos[i]);
            }
        }
    }
    let total = acked.len();
    assert!(total >= 100, "too little load to mean anything: {total}");
    std::fs::write(&stop, b"").expect("stop file");
    for (id, s) in subs {
        let mut got: HashMap<String, usize> = HashMap::new();
        for line in s.finish(Duration::from_secs(60)) {
            if let Some(rest) = line.strip_prefix("MSG ") {
                let payload = rest.split_once(' ').map_or(rest, |(_, p)| p);
                *got.entry(payload.to_owned()).or_default() += 1;
            }
        }
        let mut missing: Vec<&String> = acked.keys().filter(|p| !got.contains_key(*p)).collect();
        missing.sort();
        assert!(
            missing.is_empty(),
            "{id} ({mode}, seed {seed}): {} of {total} acknowledged messages never came: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        let mut twice: Vec<(&String, &usize)> = got
            .iter()
            .filter(|(p, n)| **n > 1 && !p.starts_with("p0-"))
            .collect();
        twice.sort();
        assert!(
            twice.is_empty(),
            "{id} ({mode}, seed {seed}): QoS 2 messages delivered more than once: {:?}",
            &twice[..twice.len().min(10)]
        );
        eprintln!(
            "{id} ({mode}): {total} acknowledged, {} distinct received, {} deliveries",
            got.len(),
            got.values().sum::<usize>()
        );
    }
    broker.signal("TERM");
    assert_eq!(broker.wait_exit(), Some(0));
}

/// The seed: `LIBMQTT_KILL_SEED` to replay a run, else from the clock
/// (printed, so a failure can be replayed).
fn seed() -> u64 {
    let seed = std::env::var("LIBMQTT_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("LIBMQTT_KILL_SEED={seed}");
    seed
}

#[test]
fn sigkill_under_qos1_and_qos2_load_loses_nothing_acknowledged_in_sync_mode() {
    sigkill_loses_nothing_acknowledged("sync", seed(), 5);
}

/// `periodic` writes every batch before sending what follows it: a killed
/// process (not a power cut) loses nothing either.
#[test]
fn sigkill_under_qos1_and_qos2_load_loses_nothing_acknowledged_in_periodic_mode() {
    sigkill_loses_nothing_acknowledged("periodic", seed(), 3);
}

/// The same retained topic overwritten with 900 KB payloads: past twice
/// the compacted size plus 16 MiB, the store is replaced by a snapshot
/// (one retained message), and it restores the last payload.
#[test]
fn store_is_compacted_when_it_grows() {
    let port = stable_port();
    let conf = durable_conf(port, "periodic");
    let mut broker = BrokerProc::start(&conf, 1);
    let store = broker.path("libmqtt.db");
    let payload = broker.path("payload");
    let mut last = Vec::new();
    let mut grew = 0;
    for i in 0..22u8 {
        last = vec![b'a' + i; 900_000];
        std::fs::write(&payload, &last).expect("payload");
        pub_ok(
            port,
            &[
                "-r",
                "-q",
                "1",
                "-t",
                "big/one",
                "-f",
                &payload.display().to_string(),
            ],
        );
        grew = grew.max(std::fs::metadata(&store).expect("store").len());
    }
    let line = log_line(&mut broker, "compacted");
    assert!(line.contains("libmqtt.db"), "{line}");
    assert!(grew > 15_000_000, "{grew}");
    let size = std::fs::metadata(&store).expect("store").len();
    assert!(size < 10 * 900_000, "{size} bytes after compaction");
    let broker = graceful_restart(broker, &conf);
    let sub = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-t", "big/one", "-C", "1", "-W", "5", "-N"])
        .output()
        .expect("mosquitto_sub");
    assert_eq!(sub.stdout.len(), last.len());
    assert!(sub.stdout == last, "not the last payload");
    drop(broker);
}

/// The store cannot take more (a file size limit, as a full disk): the
/// broker logs the error and exits 1 without acknowledging the message
/// whose record was not written; every message it did acknowledge is in
/// the store at the next start.
#[test]
fn a_store_that_cannot_be_written_stops_the_broker_before_the_acknowledgement() {
    let port = stable_port();
    let conf = durable_conf(port, "sync");
    let dir = tempfile::tempdir().expect("temp dir");
    let conf_path = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf_path,
        conf.replace("{dir}", &dir.path().display().to_string()),
    )
    .expect("conf");
    // SIGXFSZ ignored (inherited through exec): a write past the limit
    // fails with EFBIG instead of killing the process.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 4; exec {} -c {}",
            env!("CARGO_BIN_EXE_libmqtt-broker"),
            conf_path.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("broker");
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the broker did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let payload = "x".repeat(300);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..40 {
        let topic = format!("full/{i}");
        let out = mosquitto_pub(port, &["-r", "-q", "1", "-t", &topic, "-m", &payload]);
        if out.status.success() {
            acked.push(topic);
        } else {
            refused = Some(topic);
            break;
        }
    }
    let refused = refused.expect("the store never filled up");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the broker did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("write"), "{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    assert!(!acked.is_empty());

    let mut broker = BrokerProc::start_in(dir, &conf, 1, &[]);
    broker.wait_log("restored");
    let (lines, _, _) = Sub::start(port, &["-t", "full/#", "--retained-only", "-W", "2"]).finish();
    let topics: Vec<&str> = lines.iter().filter_map(|l| l.split(' ').next()).collect();
    for topic in &acked {
        assert!(topics.contains(&topic.as_str()), "{topic} lost: {topics:?}");
    }
    assert!(!topics.contains(&refused.as_str()), "{topics:?}");
}
