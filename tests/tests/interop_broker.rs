//! Interop: the example broker (`core/examples/broker.rs`: the sans-IO
//! engine behind a `mio` socket loop) against real third-party clients,
//! over TCP on 127.0.0.1, for MQTT 3.1.1 and 5.0, and with the
//! mosquitto clients (`-V mqttv31`), paho and our own for MQTT 3.1 too,
//! mixed with the other versions.
//!
//! Every test starts its own broker on a free port (`--port 0`; the binary
//! is built first, see `mqtt_tests::broker_proc`) and kills it when done.
//! The clients:
//!
//! * Debian's `mosquitto_pub` and `mosquitto_sub` (package
//!   `mosquitto-clients`): QoS 0/1/2, retained messages and their
//!   clearing, the will on an abrupt close (and none after DISCONNECT), a
//!   persistent session that queues while offline, shared subscriptions,
//!   `--password-file` and `--acl-file`.
//! * paho-mqtt 2.x (Python, `tests/py/paho_interop.py` with the `.venv`
//!   that `make setup` makes): the same scenarios and a 5.0 user property
//!   round trip.
//! * our own client (`mqtt_tests::net`): a QoS 2 round trip.
//!
//! Every client process is bounded (`-W`, `-C`, a kill on drop) and every
//! wait too (10 s), so a failure cannot hang. Missing clients fail the
//! tests with a message saying to run `make setup`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mqtt_core::client::ClientOptions;
use mqtt_core::codec::{ProtocolVersion, Publish, QoS, ReasonCode, Subscribe};
use mqtt_tests::both_versions;
use mqtt_tests::broker_proc::{find_program, ExampleBroker, Proc};
use mqtt_tests::net::{version_tag as tag, NetClient};

/// How long any one wait lasts before the test fails.
const WAIT: Duration = Duration::from_secs(10);

both_versions!(
    mosquitto_clients_qos_0_1_2_round_trips,
    mosquitto_clients_retained_message_until_cleared,
    mosquitto_clients_will_on_abrupt_close_only,
    mosquitto_clients_persistent_session_queues_while_offline,
    mosquitto_clients_shared_subscription_splits_messages,
    mosquitto_clients_password_file_and_acl,
    paho_qos_0_1_2_round_trips,
    paho_retained_message_until_cleared,
    paho_will_on_abrupt_close,
    paho_persistent_session_queues_while_offline,
    paho_shared_subscription_splits_messages,
    own_client_qos_2_round_trip,
);

/// The same scenarios with MQTT 3.1 (`MQIsdp`, level 3) clients.
mod v31 {
    use mqtt_core::codec::ProtocolVersion::V31;

    #[test]
    fn mosquitto_clients_qos_0_1_2_round_trips() {
        super::mosquitto_clients_qos_0_1_2_round_trips(V31)
    }
    #[test]
    fn mosquitto_clients_retained_message_until_cleared() {
        super::mosquitto_clients_retained_message_until_cleared(V31)
    }
    #[test]
    fn mosquitto_clients_will_on_abrupt_close_only() {
        super::mosquitto_clients_will_on_abrupt_close_only(V31)
    }
    #[test]
    fn mosquitto_clients_persistent_session_queues_while_offline() {
        super::mosquitto_clients_persistent_session_queues_while_offline(V31)
    }
    #[test]
    fn mosquitto_clients_password_file_and_acl() {
        super::mosquitto_clients_password_file_and_acl(V31)
    }
    #[test]
    fn own_client_qos_2_round_trip() {
        super::own_client_qos_2_round_trip(V31)
    }
    #[test]
    fn paho_qos_0_1_2_round_trips() {
        super::paho_qos_0_1_2_round_trips(V31)
    }
    #[test]
    fn paho_retained_message_until_cleared() {
        super::paho_retained_message_until_cleared(V31)
    }
    #[test]
    fn paho_will_on_abrupt_close() {
        super::paho_will_on_abrupt_close(V31)
    }
    #[test]
    fn paho_persistent_session_queues_while_offline() {
        super::paho_persistent_session_queues_while_offline(V31)
    }
}

/// Messages cross versions: `mosquitto_pub -V mqttv31` to a 5.0 and a
/// 3.1.1 `mosquitto_sub`, and a 5.0 `mosquitto_pub` to a 3.1
/// `mosquitto_sub`, at QoS 0, 1 and 2, retained included.
#[test]
fn mosquitto_clients_of_3_1_and_5_0_exchange_messages() {
    use ProtocolVersion::{V31, V311, V5};
    let broker = ExampleBroker::start(&[]);
    let mut subs = [
        Sub::start(&broker, V5, &["-q", "2", "-t", "mixed/#"]),
        Sub::start(&broker, V311, &["-q", "2", "-t", "mixed/#"]),
        Sub::start(&broker, V31, &["-q", "2", "-t", "mixed/#"]),
    ];
    for (from, tag) in [(V31, "from-31"), (V5, "from-5")] {
        for qos in ["0", "1", "2"] {
            let topic = format!("mixed/{tag}/{qos}");
            mosquitto_pub(&broker, from, &["-q", qos, "-t", &topic, "-m", tag]);
            for sub in &mut subs {
                assert_eq!(sub.next(), msg(false, qos.parse().unwrap(), &topic, tag));
            }
        }
    }
    // Retained by a 3.1 client, received by a new 5.0 subscriber.
    mosquitto_pub(
        &broker,
        V31,
        &["-q", "1", "-r", "-t", "kept/31", "-m", "old"],
    );
    let mut late = Sub::start(&broker, V5, &["-q", "1", "-t", "kept/#"]);
    assert_eq!(late.next(), msg(true, 1, "kept/31", "old"));
}

// ----- mosquitto_pub / mosquitto_sub --------------------------------------------

/// A mosquitto client program, or a failure saying how to install it.
fn mosquitto_tool(name: &str) -> PathBuf {
    find_program(name, &[]).unwrap_or_else(|| {
        panic!(
            "{name} is not installed: these tests need Debian's mosquitto-clients. \
                 Run `make setup` (or `apt-get install mosquitto-clients`)."
        )
    })
}

/// `mosquitto_pub`/`mosquitto_sub` with the broker's address and `-V`.
/// Run under coreutils' `stdbuf -oL`: into a pipe, their output (the
/// `-d` lines we wait for) would otherwise only come when they exit.
fn mosquitto_cmd(tool: &str, broker: &ExampleBroker, v: ProtocolVersion) -> Command {
    let mut cmd = Command::new("stdbuf");
    cmd.arg("-oL").arg(mosquitto_tool(tool));
    let port = broker.port().to_string();
    let version = match v {
        ProtocolVersion::V31 => "mqttv31",
        ProtocolVersion::V311 => "mqttv311",
        ProtocolVersion::V5 => "mqttv5",
    };
    cmd.args(["-h", "127.0.0.1", "-p", &port, "-V", version]);
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `mosquitto_pub` with `args` to completion (bounded); panics on
/// failure.
fn mosquitto_pub(broker: &ExampleBroker, v: ProtocolVersion, args: &[&str]) {
    let mut cmd = mosquitto_cmd("mosquitto_pub", broker, v);
    cmd.args(args);
    let mut p = Proc::spawn(&mut cmd, "mosquitto_pub");
    let status = p.wait(WAIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "mosquitto_pub {args:?}: {status:?}; output:\n{}",
        p.output().join("\n")
    );
}

/// One message as `mosquitto_sub -F` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    retain: bool,
    qos: u8,
    topic: String,
    payload: String,
}

/// Marks the lines that are messages among `-d` debug lines (no `%` or
/// `@`: those are `-F` escapes).
const MSG_MARK: &str = "MSG";

/// A `mosquitto_sub` running with `-d` (so that we see its SUBACK) and a
/// format that marks message lines.
struct Sub {
    proc: Proc,
}

impl Sub {
    /// Starts `mosquitto_sub` with `args` and waits for its SUBACK.
    fn start(broker: &ExampleBroker, v: ProtocolVersion, args: &[&str]) -> Sub {
        let mut proc = Self::spawn(broker, v, args);
        proc.expect_line(WAIT, |l| l.starts_with("Subscribed (mid"));
        Sub { proc }
    }

    fn spawn(broker: &ExampleBroker, v: ProtocolVersion, args: &[&str]) -> Proc {
        let mut cmd = mosquitto_cmd("mosquitto_sub", broker, v);
        let format = format!("{MSG_MARK} %r %q %t %p");
        cmd.args(["-d", "-W", "20", "-F", &format]).args(args);
        Proc::spawn(&mut cmd, "mosquitto_sub")
    }

    /// The next message (bounded wait).
    fn next(&mut self) -> Msg {
        let line = self.proc.expect_line(WAIT, |l| l.starts_with(MSG_MARK));
        parse_msg(&line)
    }

    /// The next message if one comes within `timeout`.
    fn try_next(&mut self, timeout: Duration) -> Option<Msg> {
        let line = self.proc.next_line(timeout)?;
        if line.starts_with(MSG_MARK) {
            Some(parse_msg(&line))
        } else {
            self.try_next(timeout)
        }
    }
}

fn parse_msg(line: &str) -> Msg {
    let mut parts = line.splitn(5, ' ');
    let _mark = parts.next();
    let mut next = || parts.next().unwrap_or_else(|| panic!("bad line {line:?}"));
    Msg {
        retain: next() == "1",
        qos: next().parse().expect("QoS digit"),
        topic: next().to_string(),
        payload: next().to_string(),
    }
}

fn msg(retain: bool, qos: u8, topic: &str, payload: &str) -> Msg {
    Msg {
        retain,
        qos,
        topic: topic.into(),
        payload: payload.into(),
    }
}

fn mosquitto_clients_qos_0_1_2_round_trips(v: ProtocolVersion) {
    let broker = ExampleBroker::start(&[]);
    let base = format!("mq/{}/qos", tag(v));
    let filter = format!("{base}/#");
    let mut sub = Sub::start(&broker, v, &["-q", "2", "-t", &filter]);
    for qos in ["0", "1", "2"] {
        let topic = format!("{base}/{qos}");
        let payload = format!("at-qos-{qos}");
        mosquitto_pub(&broker, v, &["-q", qos, "-t", &topic, "-m", &payload]);
        // Granted QoS 2: delivered at the QoS it was published with, RETAIN 0.
        let q = qos.parse().unwrap();
        assert_eq!(sub.next(), msg(false, q, &topic, &payload));
    }
}

fn mosquitto_clients_retained_message_until_cleared(v: ProtocolVersion) {
    let broker = ExampleBroker::start(&[]);
    let base = format!("mq/{}/retained", tag(v));
    let kept = format!("{base}/kept");
    mosquitto_pub(&broker, v, &["-q", "1", "-r", "-t", &kept, "-m", "kept"]);
    // Stored [MQTT-3.3.1-5] and sent to a new subscription (3.1.1:
    // [MQTT-3.3.1-6]; 5.0: [MQTT-3.3.1-9]) with RETAIN 1 (3.1.1:
    // [MQTT-3.3.1-8]), at the QoS it was stored with.
    let filter = format!("{base}/#");
    let mut sub = Sub::start(&broker, v, &["-q", "1", "-t", &filter]);
    assert_eq!(sub.next(), msg(true, 1, &kept, "kept"));
    // A live message has RETAIN 0 (3.1.1: [MQTT-3.3.1-9]; 5.0: Retain As
    // Published 0, [MQTT-3.3.1-12]) even when published with RETAIN 1.
    mosquitto_pub(&broker, v, &["-q", "1", "-r", "-t", &kept, "-m", "new"]);
    assert_eq!(sub.next(), msg(false, 1, &kept, "new"));
    // An empty retained message clears it (3.1.1: [MQTT-3.3.1-10]; 5.0:
    // [MQTT-3.3.1-6]) and is delivered as usual to existing subscribers.
    mosquitto_pub(&broker, v, &["-q", "1", "-r", "-n", "-t", &kept]);
    assert_eq!(sub.next(), msg(false, 1, &kept, ""));
    let sentinel = format!("{base}/sentinel");
    mosquitto_pub(&broker, v, &["-q", "1", "-r", "-t", &sentinel, "-m", "s"]);
    assert_eq!(sub.next(), msg(false, 1, &sentinel, "s"));
    // A new subscriber gets the sentinel only: nothing is left on `kept`.
    let mut later = Sub::start(&broker, v, &["-q", "1", "-t", &filter]);
    assert_eq!(later.next(), msg(true, 1, &sentinel, "s"));
    assert_eq!(later.try_next(Duration::from_millis(300)), None);
}

fn mosquitto_clients_will_on_abrupt_close_only(v: ProtocolVersion) {
    let broker = ExampleBroker::start(&[]);
    let will_topic = format!("mq/{}/will", tag(v));
    let mut watcher = Sub::start(&broker, v, &["-q", "1", "-t", &will_topic]);
    let idle = format!("mq/{}/idle", tag(v));
    let will = |payload: &'static str| {
        [
            "--will-topic",
            will_topic.as_str(),
            "--will-payload",
            payload,
            "--will-qos",
            "1",
            "-t",
            idle.as_str(),
        ]
    };
    // A normal DISCONNECT (`-E`: exit once subscribed) discards the will
    // (3.1.1 and 5.0: [MQTT-3.1.2-10]).
    let mut polite = Sub::spawn(&broker, v, &[&will("polite")[..], &["-E"]].concat());
    assert!(polite.wait(WAIT).is_some_and(|s| s.success()));
    // SIGKILL: the connection ends without DISCONNECT, and the will is
    // published [MQTT-3.1.2-8].
    let mut killed = Sub::start(&broker, v, &will("killed"));
    killed.proc.kill();
    assert_eq!(watcher.next(), msg(false, 1, &will_topic, "killed"));
    // Nothing else came: the polite client's will was not published.
    mosquitto_pub(&broker, v, &["-q", "1", "-t", &will_topic, "-m", "end"]);
    assert_eq!(watcher.next(), msg(false, 1, &will_topic, "end"));
}

fn mosquitto_clients_persistent_session_queues_while_offline(v: ProtocolVersion) {
    let broker = ExampleBroker::start(&[]);
    let topic = format!("mq/{}/session", tag(v));
    let id = format!("mq-session-{}", tag(v));
    // `-c`: Clean Session 0 (3.1.1) / Clean Start 0 (5.0, with a Session
    // Expiry Interval so the session outlives the connection).
    let mut persistent = vec!["-c", "-i", &id, "-q", "1", "-t", &topic];
    if v == ProtocolVersion::V5 {
        persistent.extend(["-x", "3600"]);
    }
    let mut first = Sub::spawn(&broker, v, &[&persistent[..], &["-E"]].concat());
    assert!(first.wait(WAIT).is_some_and(|s| s.success()));
    // While the client is away, QoS 1 messages are stored for it (3.1.1:
    // [MQTT-3.1.2-5]; 5.0: section 4.1, Session State) ...
    for payload in ["one", "two"] {
        mosquitto_pub(&broker, v, &["-q", "1", "-t", &topic, "-m", payload]);
    }
    // ... and delivered, in order, when it resumes the session.
    let mut again = Sub::spawn(&broker, v, &[&persistent[..], &["-C", "2"]].concat());
    let mut got = Vec::new();
    while got.len() < 2 {
        let line = again.expect_line(WAIT, |l| l.starts_with(MSG_MARK));
        got.push(parse_msg(&line));
    }
    assert_eq!(
        got,
        [msg(false, 1, &topic, "one"), msg(false, 1, &topic, "two")]
    );
    assert!(again.wait(WAIT).is_some_and(|s| s.success()));
}

fn mosquitto_clients_shared_subscription_splits_messages(v: ProtocolVersion) {
    let broker = ExampleBroker::start(&[]);
    let topic = format!("mq/{}/shared", tag(v));
    let share = format!("$share/group/{topic}");
    let mut subs = [
        Sub::start(&broker, v, &["-q", "1", "-t", &share]),
        Sub::start(&broker, v, &["-q", "1", "-t", &share]),
    ];
    const COUNT: usize = 20;
    // `-l`: one message per line of standard input, one connection.
    let mut cmd = mosquitto_cmd("mosquitto_pub", &broker, v);
    cmd.args(["-q", "1", "-t", &topic, "-l"])
        .stdin(Stdio::piped());
    let mut publisher = Proc::spawn(&mut cmd, "mosquitto_pub -l");
    let mut stdin = publisher.take_stdin().expect("piped stdin");
    for i in 0..COUNT {
        writeln!(stdin, "m{i}").expect("write to mosquitto_pub");
    }
    drop(stdin);
    assert!(publisher.wait(WAIT).is_some_and(|s| s.success()));
    let mut got: [Vec<String>; 2] = Default::default();
    while got[0].len() + got[1].len() < COUNT {
        let before = got[0].len() + got[1].len();
        for (i, sub) in subs.iter_mut().enumerate() {
            while let Some(m) = sub.try_next(Duration::from_millis(50)) {
                got[i].push(m.payload);
            }
        }
        if got[0].len() + got[1].len() == before {
            // Nothing in this round: give the rest one full wait.
            let m = subs[0].try_next(WAIT).map(|m| (0, m));
            let Some((i, m)) = m.or_else(|| subs[1].try_next(WAIT).map(|m| (1, m))) else {
                panic!("only {got:?} of {COUNT} messages arrived");
            };
            got[i].push(m.payload);
        }
    }
    // Each message went to exactly one member of the group (5.0 section
    // 4.8.2; 3.1.1 has no shared subscriptions, the broker offers them to
    // both versions as mosquitto does), and both members got some.
    let all: BTreeSet<&String> = got.iter().flatten().collect();
    assert_eq!(all.len(), COUNT, "duplicates or losses: {got:?}");
    assert!(
        !got[0].is_empty() && !got[1].is_empty(),
        "one member got nothing: {got:?}"
    );
}

fn mosquitto_clients_password_file_and_acl(v: ProtocolVersion) {
    let dir = std::env::temp_dir();
    let unique = format!("{}-{}", std::process::id(), tag(v));
    let passwords = dir.join(format!("libmqtt-broker-passwords-{unique}"));
    let acl = dir.join(format!("libmqtt-broker-acl-{unique}"));
    std::fs::write(&passwords, "alice:wonderland\nbob:builder\n").expect("password file");
    std::fs::write(
        &acl,
        "user alice\ntopic readwrite acl/#\nuser bob\ntopic read acl/#\n",
    )
    .expect("acl file");
    let broker = ExampleBroker::start(&[
        "--password-file",
        passwords.to_str().unwrap(),
        "--acl-file",
        acl.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&passwords);
    let _ = std::fs::remove_file(&acl);
    let alice = ["-u", "alice", "-P", "wonderland"];
    let bob = ["-u", "bob", "-P", "builder"];
    // A wrong password is refused (CONNACK 3.1.1: 4, Bad user name or
    // password; 5.0: 0x86), and so is an anonymous client (3.1.1: 5, Not
    // authorized; 5.0: 0x87).
    let refusals: [(&[&str], &str); 2] = [
        (&["-u", "alice", "-P", "wrong"], "bad user name or password"),
        (&[], "not authori"),
    ];
    for (args, why) in refusals {
        let mut cmd = mosquitto_cmd("mosquitto_pub", &broker, v);
        cmd.args(["-t", "acl/x", "-m", "no"]).args(args);
        let mut p = Proc::spawn(&mut cmd, "mosquitto_pub");
        let status = p.wait(WAIT);
        let output = p.output().join("\n");
        assert!(
            status.is_some_and(|s| !s.success()),
            "{args:?} accepted: {output}"
        );
        assert!(output.to_lowercase().contains(why), "{args:?}: {output}");
    }
    let mut sub = Sub::start(
        &broker,
        v,
        &[&bob[..], &["-q", "1", "-t", "acl/#"]].concat(),
    );
    mosquitto_pub(
        &broker,
        v,
        &[&alice[..], &["-q", "1", "-t", "acl/1", "-m", "a"]].concat(),
    );
    assert_eq!(sub.next(), msg(false, 1, "acl/1", "a"));
    // bob may read but not write: his publish is acknowledged (5.0: with
    // 0x87 Not authorized) and dropped.
    mosquitto_pub(
        &broker,
        v,
        &[&bob[..], &["-q", "1", "-t", "acl/2", "-m", "b"]].concat(),
    );
    mosquitto_pub(
        &broker,
        v,
        &[&alice[..], &["-q", "1", "-t", "acl/3", "-m", "c"]].concat(),
    );
    assert_eq!(sub.next(), msg(false, 1, "acl/3", "c"));
}

/// `--max-connections 1`: while one client is connected, the next TCP
/// connection is closed at once (its CONNECT is never answered).
#[test]
fn max_connections_closes_connections_beyond_the_limit() {
    let v = ProtocolVersion::V311;
    let broker = ExampleBroker::start(&["--max-connections", "1"]);
    let mut first = Sub::start(&broker, v, &["-t", "limit/x"]);
    let mut cmd = mosquitto_cmd("mosquitto_pub", &broker, v);
    cmd.args(["-t", "limit/x", "-m", "no"]);
    let mut second = Proc::spawn(&mut cmd, "mosquitto_pub");
    let status = second.wait(WAIT);
    assert!(
        status.is_some_and(|s| !s.success()),
        "a second client was served: {status:?}"
    );
    assert!(broker.log().contains("--max-connections reached"));
    // Once the first is gone, a client is served again.
    first.proc.kill();
    // (The broker sees the end of the first connection a moment later.)
    let served = (0..100).any(|_| {
        let mut cmd = mosquitto_cmd("mosquitto_pub", &broker, v);
        cmd.args(["-t", "limit/x", "-m", "yes"]);
        let ok = Proc::spawn(&mut cmd, "mosquitto_pub")
            .wait(WAIT)
            .is_some_and(|s| s.success());
        if !ok {
            std::thread::sleep(Duration::from_millis(50));
        }
        ok
    });
    assert!(served, "no client served after the first left");
}

// ----- paho-mqtt ------------------------------------------------------------------

/// The repository's root.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Runs `tests/py/paho_interop.py SCENARIO` against a fresh broker.
fn paho(scenario: &str, v: ProtocolVersion) {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: the paho-mqtt interop tests need the Python virtual \
         environment with paho-mqtt 2.x. Run `make setup`.",
        python.display()
    );
    let has_paho = Command::new(&python)
        .args([
            "-c",
            "import paho.mqtt, sys; sys.exit(not paho.mqtt.__version__.startswith('2.'))",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_paho,
        "paho-mqtt 2.x is not installed in {}. Run `make setup`.",
        python.display()
    );
    let broker = ExampleBroker::start(&[]);
    let version = match v {
        ProtocolVersion::V31 => "31",
        ProtocolVersion::V311 => "311",
        ProtocolVersion::V5 => "5",
    };
    let port = broker.port().to_string();
    let mut cmd = Command::new(&python);
    cmd.arg(root.join("tests/py/paho_interop.py"))
        .args([scenario, "--port", &port, "--version", version])
        .args(["--tag", tag(v)])
        .stdin(Stdio::null());
    let mut p = Proc::spawn(&mut cmd, "paho_interop.py");
    let status = p.wait(Duration::from_secs(60));
    let output = p.output().join("\n");
    assert!(
        status.is_some_and(|s| s.success()),
        "paho scenario {scenario} (MQTT {version}): {status:?}; output:\n{output}"
    );
    assert!(output.contains("ok "), "no success line:\n{output}");
}

// The statements each scenario checks are named in paho_interop.py.

fn paho_qos_0_1_2_round_trips(v: ProtocolVersion) {
    paho("qos", v);
}

fn paho_retained_message_until_cleared(v: ProtocolVersion) {
    paho("retained", v);
}

fn paho_will_on_abrupt_close(v: ProtocolVersion) {
    paho("will", v);
}

fn paho_persistent_session_queues_while_offline(v: ProtocolVersion) {
    paho("session", v);
}

fn paho_shared_subscription_splits_messages(v: ProtocolVersion) {
    paho("shared", v);
}

/// User properties are forwarded unaltered [MQTT-3.3.2-17] and in order
/// [MQTT-3.3.2-18], the Content Type too [MQTT-3.3.2-20].
#[test]
fn v5_paho_user_properties_round_trip() {
    paho("user-property", ProtocolVersion::V5);
}

// ----- our own client -------------------------------------------------------------

fn own_client_qos_2_round_trip(v: ProtocolVersion) {
    let broker = ExampleBroker::start(&[]);
    let options =
        |name: &str| ClientOptions::new(v, &format!("{name}-{}", tag(v))).expect("valid options");
    let mut a = NetClient::new(broker.addr, options("own-a"));
    let mut b = NetClient::new(broker.addr, options("own-b"));
    a.connect();
    b.connect();
    let topic = format!("own/{}/qos2", tag(v));
    let granted = b.subscribe(Subscribe::single(0, &topic, QoS::ExactlyOnce).unwrap());
    assert_eq!(granted, vec![ReasonCode::GrantedQoS2]);
    let publish = Publish::new(&topic, &b"exactly once"[..])
        .unwrap()
        .with_qos(QoS::ExactlyOnce, 0);
    // PUBREC then PUBCOMP with Success: the QoS 2 flow completed (4.3.3).
    assert_eq!(a.publish_wait(publish), ReasonCode::Success);
    let m = b.recv_on(&topic);
    assert_eq!(&m.publish.payload[..], b"exactly once");
    assert_eq!(m.publish.qos, QoS::ExactlyOnce);
    a.disconnect();
    b.disconnect();
}
