//! Interop: the client against a real broker, Debian's `mosquitto`, over
//! TCP on 127.0.0.1, for MQTT 3.1.1 and 5.0, and most scenarios for MQTT
//! 3.1 too (the client with `ProtocolVersion::V31`, mosquitto's
//! `MQIsdp`), mixed with 5.0 clients.
//!
//! Every test starts its own mosquitto on a free loopback port with a
//! generated configuration and kills it when done (a system mosquitto on
//! 1883, as apt may start one, is never used). Every wait is bounded (5 s)
//! so a failure cannot hang. Without mosquitto the tests fail and say to
//! run `make test`, whose setup installs it.
//!
//! `MOSQUITTO=/path/to/mosquitto` picks another binary;
//! `MOSQUITTO_KEEP_LOGS=1` keeps each broker's configuration and full log
//! in `$TMPDIR/libmqtt-mosquitto-*` (a failing test prints the last lines).
//!
//! The scenarios, both versions unless marked: QoS 0/1/2 both ways, bursts
//! under the broker's Receive Maximum, a payload spread over many reads,
//! retained messages, will on abrupt close (and not on DISCONNECT), session
//! resume with messages queued while offline, publishes made while cut or
//! in flight at a cut (resent with DUP, PUBREL resent; requeued when the
//! session is gone), inbound QoS 1 and 2 across cuts (acks lost), keep
//! alive, shared subscriptions; 5.0 only: topic alias, subscription
//! identifiers, request/response, retain handling / retain as published /
//! no local, server-assigned client id, maximum packet size.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use mqtt_core::client::{ClientError, ClientOptions, Event, StoredOutgoing};
use mqtt_core::codec::{
    Disconnect, ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling, Subscribe,
    SubscribeFilter, SubscriptionOptions, Unsubscribe, UserProperty, Will,
};
use mqtt_tests::both_versions;
use mqtt_tests::broker_proc::{find_program, print_log_tail, read_log, unique_temp_path};
use mqtt_tests::net::{version_tag as tag, NetClient};

// ----- the broker -------------------------------------------------------------

/// The Receive Maximum (5.0) the broker announces: `max_inflight_messages`.
const BROKER_RECEIVE_MAXIMUM: u16 = 10;
/// The broker's `max_packet_size`.
const BROKER_MAX_PACKET: u32 = 1_000_000;

/// A mosquitto process of our own; killed on drop. On a failing test its
/// log is printed.
struct Mosquitto {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

/// The mosquitto binary: `$MOSQUITTO`, then `PATH`, then the sbin
/// directories Debian installs it in (not on a normal user's PATH).
fn mosquitto_binary() -> PathBuf {
    std::env::var_os("MOSQUITTO")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| find_program("mosquitto", &["/usr/sbin", "/usr/local/sbin", "/sbin"]))
        .unwrap_or_else(|| {
            panic!(
                "mosquitto is not installed: the interop tests need Debian's mosquitto broker. \
                 Run `make test` (its setup installs it), or `apt-get install mosquitto`."
            )
        })
}

impl Mosquitto {
    fn start() -> Mosquitto {
        let binary = mosquitto_binary();
        let dir = unique_temp_path("libmqtt-mosquitto", "");
        std::fs::create_dir_all(&dir).expect("temporary directory");
        // The port is free when chosen; another process may take it before
        // mosquitto binds it, so a few attempts.
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let conf = dir.join("mosquitto.conf");
            std::fs::write(
                &conf,
                format!(
                    "listener {port} 127.0.0.1\n\
                     allow_anonymous true\n\
                     persistence false\n\
                     max_queued_messages 1000\n\
                     max_inflight_messages {BROKER_RECEIVE_MAXIMUM}\n\
                     max_packet_size {BROKER_MAX_PACKET}\n\
                     log_dest stderr\n\
                     log_type all\n"
                ),
            )
            .expect("write mosquitto.conf");
            let log = File::create(dir.join("mosquitto.log")).expect("log file");
            let child = Command::new(&binary)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
            let mut broker = Mosquitto {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                dir: dir.clone(),
            };
            if broker.wait_ready() {
                return broker;
            }
            last_log = broker.log();
            // Dropping kills it; the directory stays for the next attempt.
            broker.dir = PathBuf::new();
        }
        panic!("mosquitto did not start; its last log:\n{last_log}");
    }

    /// Waits (at most 5 s) until the broker accepts TCP connections; false
    /// if it exited (e.g. the port was taken) or never did.
    fn wait_ready(&mut self) -> bool {
        for _ in 0..500 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn log(&self) -> String {
        read_log(&self.dir.join("mosquitto.log"))
    }

    /// A driver for a client of this broker.
    fn client(&self, options: ClientOptions) -> NetClient {
        NetClient::new(self.addr, options)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.dir.as_os_str().is_empty() {
            return;
        }
        if std::thread::panicking() {
            print_log_tail("mosquitto", self.addr, &self.log(), 60);
        }
        if std::env::var_os("MOSQUITTO_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ----- helpers ----------------------------------------------------------------

both_versions!(
    qos_0_1_2_in_both_directions,
    bursts_respect_flow_control_and_arrive_in_order,
    large_payload_crosses_in_many_reads,
    retained_message_goes_to_later_subscribers_until_cleared,
    will_is_published_on_abrupt_close_only,
    session_resume_delivers_messages_queued_while_offline,
    publishes_made_while_cut_go_out_after_reconnect,
    publishes_in_flight_at_a_cut_are_resent_after_reconnect,
    inflight_publishes_are_requeued_when_the_broker_lost_the_session,
    inbound_qos1_unacknowledged_at_a_cut_comes_again_with_dup,
    inbound_qos2_is_delivered_once_across_cuts,
    keep_alive_pings_the_broker,
    shared_subscription_delivers_each_message_to_one_member,
);

/// The scenarios with the client speaking MQTT 3.1 to mosquitto. Left
/// out: the lost-session one, which needs Session Present 0 to tell
/// (3.1's CONNACK has no such flag).
mod v31 {
    use mqtt_core::codec::ProtocolVersion::V31;

    macro_rules! v31 {
        ($($name:ident),* $(,)?) => {
            $( #[test] fn $name() { super::$name(V31) } )*
        };
    }

    v31!(
        qos_0_1_2_in_both_directions,
        bursts_respect_flow_control_and_arrive_in_order,
        large_payload_crosses_in_many_reads,
        retained_message_goes_to_later_subscribers_until_cleared,
        will_is_published_on_abrupt_close_only,
        session_resume_delivers_messages_queued_while_offline,
        publishes_made_while_cut_go_out_after_reconnect,
        publishes_in_flight_at_a_cut_are_resent_after_reconnect,
        inbound_qos1_unacknowledged_at_a_cut_comes_again_with_dup,
        inbound_qos2_is_delivered_once_across_cuts,
        keep_alive_pings_the_broker,
        shared_subscription_delivers_each_message_to_one_member,
    );
}

/// A 3.1 publisher and a 5.0 subscriber, and the other way round, through
/// mosquitto: QoS 0, 1 and 2, and a retained message.
#[test]
fn v31_and_v5_clients_exchange_messages_through_mosquitto() {
    let broker = Mosquitto::start();
    let mut old = broker.client(options(ProtocolVersion::V31, "mix-old"));
    let mut new = broker.client(options(ProtocolVersion::V5, "mix-new"));
    assert!(!old.connect().session_present);
    new.connect();
    assert_eq!(
        old.subscribe(sub("mix/to-old", QoS::ExactlyOnce)),
        granted(QoS::ExactlyOnce)
    );
    assert_eq!(
        new.subscribe(sub("mix/to-new", QoS::ExactlyOnce)),
        granted(QoS::ExactlyOnce)
    );
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let payload = format!("3.1 at {}", qos as u8);
        assert_eq!(
            old.publish_wait(publish("mix/to-new", payload.clone().into_bytes(), qos)),
            ReasonCode::Success
        );
        let m = new.recv_on("mix/to-new");
        assert_eq!(m.publish.payload, payload.as_bytes());
        assert_eq!(m.publish.qos, qos);
        let payload = format!("5.0 at {}", qos as u8);
        assert_eq!(
            new.publish_wait(publish("mix/to-old", payload.clone().into_bytes(), qos)),
            ReasonCode::Success
        );
        let m = old.recv_on("mix/to-old");
        assert_eq!(m.publish.payload, payload.as_bytes());
        assert_eq!(m.publish.qos, qos);
    }
    let mut retained = publish("mix/kept", &b"from 3.1"[..], QoS::AtLeastOnce);
    retained.retain = true;
    old.publish_wait(retained);
    let mut late = broker.client(options(ProtocolVersion::V5, "mix-late"));
    late.connect();
    late.subscribe(sub("mix/kept", QoS::AtLeastOnce));
    let m = late.recv_on("mix/kept");
    assert!(m.publish.retain);
    assert_eq!(&m.publish.payload[..], b"from 3.1");
    old.disconnect();
    new.disconnect();
    late.disconnect();
}

/// Options with a client id unique to the test and version.
fn options(v: ProtocolVersion, name: &str) -> ClientOptions {
    ClientOptions::new(v, &format!("{name}-{}", tag(v))).expect("valid options")
}

/// Options for a session that outlives its connection: Clean Session 0
/// in 3.1.1 and 3.1, a Session Expiry Interval in 5.0.
fn persistent(v: ProtocolVersion, name: &str) -> ClientOptions {
    let o = options(v, name);
    match v {
        ProtocolVersion::V31 | ProtocolVersion::V311 => o.with_clean_start(false),
        ProtocolVersion::V5 => o.with_session_expiry_interval(300),
    }
}

/// Whether the broker kept the session, by CONNACK's Session Present;
/// a 3.1 CONNACK has no such flag, so there the messages that follow are
/// the only evidence (each test checks them).
fn kept(v: ProtocolVersion, session_present: bool) -> bool {
    session_present || v == ProtocolVersion::V31
}

fn publish(topic: &str, payload: impl Into<Bytes>, qos: QoS) -> Publish {
    Publish::new(topic, payload)
        .expect("valid topic")
        .with_qos(qos, 0)
}

fn sub(filter: &str, qos: QoS) -> Subscribe {
    Subscribe::single(0, filter, qos).expect("valid filter")
}

fn granted(qos: QoS) -> Vec<ReasonCode> {
    vec![ReasonCode::from_u8(qos as u8).expect("a granted QoS")]
}

/// Publishes a QoS 0 sentinel on `topic` from `c` (subscribed to it) and
/// returns the payloads of the messages on `topic` that arrived before it:
/// everything the broker had for `c` on that topic is ahead of it.
fn payloads_until_sentinel(c: &mut NetClient, topic: &str) -> Vec<Bytes> {
    c.publish(publish(topic, &b"sentinel"[..], QoS::AtMostOnce))
        .expect("sentinel");
    let mut seen = Vec::new();
    loop {
        let m = c.recv_on(topic);
        if &m.publish.payload[..] == b"sentinel" {
            return seen;
        }
        seen.push(m.publish.payload);
    }
}

// ----- QoS ----------------------------------------------------------------------

fn qos_0_1_2_in_both_directions(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let mut a = broker.client(options(v, "qos-a"));
    let mut b = broker.client(options(v, "qos-b"));
    a.connect();
    b.connect();
    let t = format!("qos/{}", tag(v));
    assert_eq!(
        b.subscribe(sub(&format!("{t}/to-b"), QoS::ExactlyOnce)),
        granted(QoS::ExactlyOnce)
    );
    assert_eq!(
        a.subscribe(sub(&format!("{t}/to-a"), QoS::ExactlyOnce)),
        granted(QoS::ExactlyOnce)
    );
    // Each client publishes to the other: both send and receive each QoS.
    fn one_way(from: &mut NetClient, to: &mut NetClient, topic: &str) {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let payload = format!("{topic} at {}", qos as u8);
            assert_eq!(
                from.publish_wait(publish(topic, payload.clone().into_bytes(), qos)),
                ReasonCode::Success
            );
            let m = to.recv_on(topic);
            assert_eq!(m.publish.payload, payload.as_bytes());
            assert_eq!(m.publish.qos, qos, "delivered at the QoS published");
            assert!(!m.publish.retain);
        }
    }
    one_way(&mut a, &mut b, &format!("{t}/to-b"));
    one_way(&mut b, &mut a, &format!("{t}/to-a"));
    // A subscription's QoS caps delivery: QoS 2 published, QoS 1 granted.
    let capped = format!("{t}/capped");
    b.subscribe(sub(&capped, QoS::AtLeastOnce));
    a.publish_wait(publish(&capped, &b"down"[..], QoS::ExactlyOnce));
    assert_eq!(b.recv_on(&capped).publish.qos, QoS::AtLeastOnce);
    a.disconnect();
    b.disconnect();
}

fn bursts_respect_flow_control_and_arrive_in_order(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    // 3.1.1 has no Receive Maximum: the window must be set to the broker's
    // limit by hand. mosquitto (2.0.11) refuses QoS 1 messages beyond its
    // incoming quota with a PUBACK, which in 3.1.1 cannot say so: with
    // our default window of 64 about half of them are silently lost. In
    // 5.0 the client learns the limit from CONNACK.
    let mut p = match v {
        ProtocolVersion::V31 | ProtocolVersion::V311 => {
            broker.client(options(v, "burst-p").with_max_inflight(BROKER_RECEIVE_MAXIMUM))
        }
        _ => broker.client(options(v, "burst-p")),
    };
    let mut s = broker.client(options(v, "burst-s"));
    let connected = p.connect();
    if v == ProtocolVersion::V5 {
        assert_eq!(
            connected.connack.properties.receive_maximum,
            Some(BROKER_RECEIVE_MAXIMUM)
        );
    }
    s.connect();
    let topic = format!("burst/{}", tag(v));
    s.subscribe(sub(&topic, QoS::ExactlyOnce));
    const N: usize = 300;
    let mut ids = Vec::new();
    for i in 0..N {
        let qos = [QoS::AtLeastOnce, QoS::ExactlyOnce][i % 2];
        // All given at once: beyond the window they wait in the queue.
        let id = p
            .client
            .publish(p.now(), publish(&topic, i.to_string().into_bytes(), qos))
            .expect("queued");
        ids.push(id);
        if v == ProtocolVersion::V5 {
            assert!(p.client.stats().inflight <= u32::from(BROKER_RECEIVE_MAXIMUM));
        }
    }
    p.flush();
    for id in ids {
        assert_eq!(p.wait_completion(id), ReasonCode::Success);
    }
    // Order is kept per QoS (mosquitto forwards a QoS 2 message on PUBREL,
    // so QoS 1 messages published after it may arrive before it).
    let mut next = [0usize, 1];
    for _ in 0..N {
        let m = s.recv_on(&topic);
        let i: usize = std::str::from_utf8(&m.publish.payload)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(m.publish.qos as usize, 1 + i % 2);
        assert_eq!(i, next[i % 2], "in order per QoS, once each");
        next[i % 2] += 2;
    }
    assert!(
        payloads_until_sentinel(&mut s, &topic).is_empty(),
        "no duplicates"
    );
    let stats = p.client.stats();
    assert_eq!(stats.inflight, 0);
    assert_eq!(stats.queued, 0);
    assert_eq!(stats.retransmits, 0);
}

fn large_payload_crosses_in_many_reads(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let mut p = broker.client(options(v, "large-p"));
    let mut s = broker.client(options(v, "large-s"));
    p.connect();
    s.connect();
    let topic = format!("large/{}", tag(v));
    s.subscribe(sub(&topic, QoS::AtLeastOnce));
    let payload: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    p.publish_wait(publish(&topic, payload.clone(), QoS::AtLeastOnce));
    assert_eq!(s.recv_on(&topic).publish.payload, payload);
}

// ----- retained -------------------------------------------------------------------

fn retained_message_goes_to_later_subscribers_until_cleared(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let topic = format!("retained/{}", tag(v));
    let mut p = broker.client(options(v, "ret-p"));
    p.connect();
    p.publish_wait(publish(&topic, &b"kept"[..], QoS::AtLeastOnce).with_retain(true));

    let mut s1 = broker.client(options(v, "ret-s1"));
    s1.connect();
    s1.subscribe(sub(&topic, QoS::AtLeastOnce));
    let m = s1.recv_on(&topic);
    assert_eq!(&m.publish.payload[..], b"kept");
    assert!(
        m.publish.retain,
        "a retained message sent at subscribe has RETAIN set"
    );
    // A live message to an existing subscription: RETAIN cleared (5.0
    // without Retain As Published; always in 3.1.1 [MQTT-3.3.1-9]).
    p.publish_wait(publish(&topic, &b"live"[..], QoS::AtLeastOnce).with_retain(true));
    let m = s1.recv_on(&topic);
    assert_eq!(&m.publish.payload[..], b"live");
    assert!(!m.publish.retain);

    // An empty retained payload clears it [MQTT-3.3.1-10].
    p.publish_wait(publish(&topic, Bytes::new(), QoS::AtLeastOnce).with_retain(true));
    let mut s2 = broker.client(options(v, "ret-s2"));
    s2.connect();
    s2.subscribe(sub(&topic, QoS::AtLeastOnce));
    assert!(payloads_until_sentinel(&mut s2, &topic).is_empty());
}

// ----- will -----------------------------------------------------------------------

fn will_is_published_on_abrupt_close_only(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let base = format!("will/{}", tag(v));
    let mut w = broker.client(options(v, "will-watcher"));
    w.connect();
    w.subscribe(sub(&format!("{base}/#"), QoS::AtLeastOnce));

    let mut will = Will::new(&format!("{base}/cut"), &b"gone"[..], QoS::AtLeastOnce).unwrap();
    if v == ProtocolVersion::V5 {
        will.properties.content_type = Some("text/plain".try_into().unwrap());
        will.properties
            .user_properties
            .push(UserProperty::new("why", "cut").unwrap());
    }
    let mut a = broker.client(options(v, "will-cut").with_will(will));
    a.connect();
    a.cut();
    let m = w.recv_on(&format!("{base}/cut"));
    assert_eq!(&m.publish.payload[..], b"gone");
    assert_eq!(m.publish.qos, QoS::AtLeastOnce);
    if v == ProtocolVersion::V5 {
        assert_eq!(
            m.publish.properties.content_type.as_ref().unwrap(),
            "text/plain"
        );
        assert_eq!(m.publish.properties.user_properties.len(), 1);
    }

    // A normal DISCONNECT discards the will [MQTT-3.14.4-3].
    let quiet = format!("{base}/quiet");
    let will = Will::new(&quiet, &b"must not appear"[..], QoS::AtLeastOnce).unwrap();
    let mut b = broker.client(options(v, "will-quiet").with_will(will));
    b.connect();
    b.disconnect();
    assert!(payloads_until_sentinel(&mut w, &quiet).is_empty());

    if v == ProtocolVersion::V5 {
        // 5.0: DISCONNECT 0x04 asks for the will.
        let asked = format!("{base}/asked");
        let will = Will::new(&asked, &b"asked"[..], QoS::AtLeastOnce).unwrap();
        let mut c = broker.client(options(v, "will-asked").with_will(will));
        c.connect();
        c.disconnect_with(Disconnect::new(ReasonCode::DisconnectWithWillMessage));
        assert_eq!(&w.recv_on(&asked).publish.payload[..], b"asked");
    }
}

// ----- sessions -------------------------------------------------------------------

fn session_resume_delivers_messages_queued_while_offline(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let topic = format!("offline/{}", tag(v));
    let mut s = broker.client(persistent(v, "offline-s"));
    assert!(!s.connect().session_present);
    s.subscribe(sub(&topic, QoS::ExactlyOnce));
    s.disconnect();

    let mut p = broker.client(options(v, "offline-p"));
    p.connect();
    let sent: Vec<String> = (0..6).map(|i| format!("while offline {i}")).collect();
    for (i, text) in sent.iter().enumerate() {
        let qos = [QoS::AtLeastOnce, QoS::ExactlyOnce][i % 2];
        assert_eq!(
            p.publish_wait(publish(&topic, text.clone().into_bytes(), qos)),
            ReasonCode::Success
        );
    }

    let c = s.connect();
    assert!(kept(v, c.session_present), "the broker kept the session");
    for (i, text) in sent.iter().enumerate() {
        let m = s.recv_on(&topic);
        assert_eq!(m.publish.payload, text.as_bytes());
        assert_eq!(m.publish.qos, [QoS::AtLeastOnce, QoS::ExactlyOnce][i % 2]);
    }
    assert!(payloads_until_sentinel(&mut s, &topic).is_empty());

    // Again, ending with a cut instead of a DISCONNECT.
    s.cut();
    p.publish_wait(publish(&topic, &b"after the cut"[..], QoS::ExactlyOnce));
    assert!(kept(v, s.connect().session_present));
    assert_eq!(&s.recv_on(&topic).publish.payload[..], b"after the cut");
}

fn publishes_made_while_cut_go_out_after_reconnect(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let topic = format!("cut/{}", tag(v));
    let mut s = broker.client(options(v, "cut-s"));
    s.connect();
    s.subscribe(sub(&topic, QoS::ExactlyOnce));

    let mut p = broker.client(persistent(v, "cut-p"));
    p.connect();
    p.cut();
    let q1 = p
        .publish(publish(&topic, &b"one"[..], QoS::AtLeastOnce))
        .expect("queued");
    let q2 = p
        .publish(publish(&topic, &b"two"[..], QoS::ExactlyOnce))
        .expect("queued");
    assert_eq!(
        p.publish(publish(&topic, &b"zero"[..], QoS::AtMostOnce)),
        Err(ClientError::NotConnected),
        "QoS 0 is not queued offline by default"
    );
    assert_eq!(p.client.stats().queued, 2);
    assert!(kept(v, p.connect().session_present));
    assert_eq!(p.wait_completion(q1), ReasonCode::Success);
    assert_eq!(p.wait_completion(q2), ReasonCode::Success);
    assert_eq!(&s.recv_on(&topic).publish.payload[..], b"one");
    assert_eq!(&s.recv_on(&topic).publish.payload[..], b"two");
    assert!(payloads_until_sentinel(&mut s, &topic).is_empty());
}

fn publishes_in_flight_at_a_cut_are_resent_after_reconnect(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let topic = format!("inflight/{}", tag(v));
    let mut s = broker.client(options(v, "inflight-s"));
    s.connect();
    s.subscribe(sub(&topic, QoS::ExactlyOnce));
    let mut p = broker.client(persistent(v, "inflight-p"));
    p.connect();

    // PUBLISH encoded but lost with the connection: in flight for the
    // client, unknown to the broker.
    let now = p.now();
    let a = p
        .client
        .publish(now, publish(&topic, &b"a"[..], QoS::AtLeastOnce))
        .unwrap();
    let b = p
        .client
        .publish(now, publish(&topic, &b"b"[..], QoS::ExactlyOnce))
        .unwrap();
    p.cut();
    assert_eq!(p.client.stats().inflight, 2);

    // A QoS 2 message the broker has (PUBREC came) but whose PUBREL is
    // lost with the connection.
    assert!(kept(v, p.connect().session_present));
    assert_eq!(p.wait_completion(a), ReasonCode::Success);
    assert_eq!(p.wait_completion(b), ReasonCode::Success);
    let c = p
        .publish(publish(&topic, &b"c"[..], QoS::ExactlyOnce))
        .unwrap();
    p.hold_output();
    let released = p.drive_until(Duration::from_secs(5), |client| {
        client
            .export_session()
            .outgoing
            .iter()
            .any(|o| matches!(o, StoredOutgoing::Released(id) if u64::from(*id) == c.0))
    });
    assert!(released, "PUBREC for the QoS 2 message");
    p.cut();
    assert!(kept(v, p.connect().session_present));
    assert_eq!(p.wait_completion(c), ReasonCode::Success);
    assert!(p.client.stats().retransmits >= 3, "{:?}", p.client.stats());

    let got = payloads_until_sentinel(&mut s, &topic);
    assert_eq!(got, [&b"a"[..], b"b", b"c"], "each once, in order");
}

fn inflight_publishes_are_requeued_when_the_broker_lost_the_session(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let topic = format!("requeue/{}", tag(v));
    // A session that ends with the connection (Clean Start, no expiry),
    // subscribed to its own topic.
    let mut p = broker.client(options(v, "requeue-p"));
    p.connect();
    p.subscribe(sub(&topic, QoS::ExactlyOnce));
    let now = p.now();
    let one = p
        .client
        .publish(now, publish(&topic, &b"one"[..], QoS::AtLeastOnce))
        .unwrap();
    let two = p
        .client
        .publish(now, publish(&topic, &b"two"[..], QoS::ExactlyOnce))
        .unwrap();
    p.cut();

    // No session: each in-flight message is requeued as a new one and
    // reported, and the subscription is made again, before them.
    assert!(!p.connect().session_present);
    let mut renamed = Vec::new();
    for old in [one, two] {
        match p.wait_for(|e| matches!(e, Event::PublishRequeued { old: o, .. } if *o == old)) {
            Event::PublishRequeued { new, .. } => renamed.push(new),
            _ => unreachable!(),
        }
    }
    p.wait_for(|e| matches!(e, Event::Subscribed { .. }));
    for id in renamed {
        assert_eq!(p.wait_completion(id), ReasonCode::Success);
    }
    assert_eq!(
        payloads_until_sentinel(&mut p, &topic),
        [&b"one"[..], b"two"]
    );
}

fn inbound_qos1_unacknowledged_at_a_cut_comes_again_with_dup(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let topic = format!("in1/{}", tag(v));
    let mut s = broker.client(persistent(v, "in1-s"));
    s.connect();
    s.subscribe(sub(&topic, QoS::AtLeastOnce));
    let mut p = broker.client(options(v, "in1-p"));
    p.connect();

    // Our PUBACK is lost with the connection: the broker sends the
    // message again, DUP set [MQTT-4.4.0-1], and it is delivered again
    // (at least once).
    s.hold_output();
    p.publish_wait(publish(&topic, &b"once or more"[..], QoS::AtLeastOnce));
    let first = s.recv_on(&topic);
    assert!(!first.publish.dup);
    assert!(kept(v, s.reconnect().session_present));
    let again = s.recv_on(&topic);
    assert_eq!(again.publish.payload, first.publish.payload);
    assert!(again.publish.dup);
    assert!(payloads_until_sentinel(&mut s, &topic).is_empty());
}

fn inbound_qos2_is_delivered_once_across_cuts(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let topic = format!("in2/{}", tag(v));
    let mut s = broker.client(persistent(v, "in2-s"));
    s.connect();
    s.subscribe(sub(&topic, QoS::ExactlyOnce));
    let mut p = broker.client(options(v, "in2-p"));
    p.connect();

    // PUBREC lost: the broker sends the PUBLISH again (DUP); the client
    // answers PUBREC and does not deliver it twice [MQTT-4.3.3-10].
    s.hold_output();
    p.publish_wait(publish(&topic, &b"one"[..], QoS::ExactlyOnce));
    assert_eq!(&s.recv_on(&topic).publish.payload[..], b"one");
    assert!(kept(v, s.reconnect().session_present));
    let resent = s.drive_until(Duration::from_secs(5), |c| {
        c.stats().messages_received[2] == 2
    });
    assert!(resent, "the broker sends the PUBLISH again");

    // PUBCOMP lost: the broker sends PUBREL again; the client has released
    // the id and answers PUBCOMP anyway (0x92 in 5.0).
    p.publish_wait(publish(&topic, &b"two"[..], QoS::ExactlyOnce));
    assert_eq!(&s.recv_on(&topic).publish.payload[..], b"two");
    s.hold_output();
    let released = s.drive_until(Duration::from_secs(5), |c| {
        c.export_session().inbound_qos2.is_empty()
    });
    assert!(released, "PUBREL for the second message");
    assert!(kept(v, s.reconnect().session_present));

    assert!(
        payloads_until_sentinel(&mut s, &topic).is_empty(),
        "each once"
    );
    assert!(s.client.export_session().inbound_qos2.is_empty());
    assert!(s.is_open());
}

// ----- keep alive -------------------------------------------------------------------

fn keep_alive_pings_the_broker(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let mut c = broker.client(options(v, "keepalive").with_keep_alive(1));
    c.connect();
    for _ in 0..2 {
        c.wait_for(|e| matches!(e, Event::Pong));
    }
    assert!(c.is_open());
    let topic = format!("ka/{}", tag(v));
    c.subscribe(sub(&topic, QoS::AtLeastOnce));
    assert!(payloads_until_sentinel(&mut c, &topic).is_empty());
}

// ----- shared subscriptions -----------------------------------------------------------

fn shared_subscription_delivers_each_message_to_one_member(v: ProtocolVersion) {
    let broker = Mosquitto::start();
    let topic = format!("shared/{}", tag(v));
    let filter = format!("$share/group/{topic}");
    let mut members: Vec<NetClient> = (0..2)
        .map(|i| broker.client(options(v, &format!("shared-m{i}"))))
        .collect();
    for m in &mut members {
        m.connect();
        assert_eq!(
            m.subscribe(sub(&filter, QoS::AtLeastOnce)),
            granted(QoS::AtLeastOnce)
        );
    }
    let mut p = broker.client(options(v, "shared-p"));
    p.connect();
    const N: usize = 20;
    for i in 0..N {
        p.publish_wait(publish(
            &topic,
            i.to_string().into_bytes(),
            QoS::AtLeastOnce,
        ));
    }
    let mut got: Vec<Vec<String>> = vec![Vec::new(); members.len()];
    let mut total = 0;
    for _ in 0..500 {
        if total == N {
            break;
        }
        for (i, m) in members.iter_mut().enumerate() {
            if let Some(Event::Message(msg)) = m.try_wait_for(Duration::from_millis(10), |e| {
                matches!(e, Event::Message(_))
            }) {
                assert_eq!(
                    msg.publish.topic,
                    topic.as_str(),
                    "the topic, not the filter"
                );
                got[i].push(String::from_utf8(msg.publish.payload.to_vec()).unwrap());
                total += 1;
            }
        }
    }
    let all: BTreeSet<String> = got.iter().flatten().cloned().collect();
    assert_eq!(total, N, "{got:?}");
    assert_eq!(all.len(), N, "each message once: {got:?}");
    assert!(
        got.iter().all(|g| !g.is_empty()),
        "shared between members: {got:?}"
    );
}

// ----- 5.0 only -------------------------------------------------------------------------

fn v5(name: &str) -> ClientOptions {
    options(ProtocolVersion::V5, name)
}

#[test]
fn v5_topic_alias_outbound_with_lru_and_reconnect() {
    let broker = Mosquitto::start();
    let mut p = broker.client(v5("alias-p"));
    let connected = p.connect();
    let max = connected
        .connack
        .properties
        .topic_alias_maximum
        .expect("mosquitto announces a Topic Alias Maximum");
    assert!(max > 0);
    let mut s = broker.client(v5("alias-s").with_topic_alias_maximum(10));
    s.connect();
    s.subscribe(sub("alias/#", QoS::AtLeastOnce));

    let long = format!("alias/{}", "x".repeat(200));
    let mut sizes = Vec::new();
    for i in 0..3 {
        let before = p.client.stats().bytes_sent;
        p.publish_wait(publish(
            &long,
            format!("{i}").into_bytes(),
            QoS::AtLeastOnce,
        ));
        sizes.push(p.client.stats().bytes_sent - before);
        let m = s.recv_on(&long);
        assert_eq!(m.publish.payload, format!("{i}").as_bytes());
    }
    // The first PUBLISH carries the topic and assigns the alias; the next
    // ones send only the alias.
    assert!(sizes[1] + 190 < sizes[0], "{sizes:?}");
    assert_eq!(sizes[1], sizes[2]);

    // More topics than aliases: least recently used replaced, every
    // message still resolved to its topic by the broker.
    let topics: Vec<String> = (0..usize::from(max) + 5)
        .map(|i| format!("alias/t{i}"))
        .collect();
    for round in 0..2 {
        for t in &topics {
            p.publish_wait(publish(
                t,
                format!("{round}").into_bytes(),
                QoS::AtLeastOnce,
            ));
            assert_eq!(s.recv_on(t).publish.payload, format!("{round}").as_bytes());
        }
    }

    // Aliases are per connection: the first PUBLISH after a reconnect
    // carries the topic again (the broker would refuse an unknown alias).
    p.reconnect();
    let before = p.client.stats().bytes_sent;
    p.publish_wait(publish(&long, &b"again"[..], QoS::AtLeastOnce));
    assert!(p.client.stats().bytes_sent - before > 200);
    assert_eq!(&s.recv_on(&long).publish.payload[..], b"again");
    assert!(p.is_open());
}

#[test]
fn v5_subscription_identifiers_tag_deliveries() {
    let broker = Mosquitto::start();
    let mut s = broker.client(v5("sid-s"));
    s.connect();
    s.subscribe(sub("sid/a/+", QoS::AtLeastOnce).with_subscription_identifier(7));
    s.subscribe(sub("sid/b/#", QoS::AtLeastOnce).with_subscription_identifier(9));
    s.subscribe(sub("sid/none", QoS::AtLeastOnce));
    let mut p = broker.client(v5("sid-p"));
    p.connect();
    p.publish_wait(publish("sid/a/x", &b"1"[..], QoS::AtLeastOnce));
    assert_eq!(
        s.recv_on("sid/a/x")
            .publish
            .properties
            .subscription_identifiers,
        [7]
    );
    p.publish_wait(publish("sid/b/y/z", &b"2"[..], QoS::AtLeastOnce));
    assert_eq!(
        s.recv_on("sid/b/y/z")
            .publish
            .properties
            .subscription_identifiers,
        [9]
    );
    p.publish_wait(publish("sid/none", &b"3"[..], QoS::AtLeastOnce));
    assert!(s
        .recv_on("sid/none")
        .publish
        .properties
        .subscription_identifiers
        .is_empty());

    // Overlapping subscriptions: every matching identifier is reported
    // (in one message or one per subscription).
    s.subscribe(sub("sid/#", QoS::AtLeastOnce).with_subscription_identifier(11));
    p.publish_wait(publish("sid/a/w", &b"4"[..], QoS::AtLeastOnce));
    let mut ids = BTreeSet::new();
    ids.extend(
        s.recv_on("sid/a/w")
            .publish
            .properties
            .subscription_identifiers
            .iter()
            .copied(),
    );
    if ids.len() < 2 {
        ids.extend(
            s.recv_on("sid/a/w")
                .publish
                .properties
                .subscription_identifiers
                .iter()
                .copied(),
        );
    }
    assert_eq!(ids, BTreeSet::from([7, 11]));

    // Without a session, the client subscribes again on reconnect, with
    // the same identifiers.
    s.cut();
    assert!(!s.connect().session_present);
    for _ in 0..2 {
        s.wait_for(|e| matches!(e, Event::Subscribed { .. }));
    }
    s.unsubscribe(Unsubscribe::single(0, "sid/#").unwrap());
    p.publish_wait(publish("sid/b/q", &b"5"[..], QoS::AtLeastOnce));
    assert_eq!(
        s.recv_on("sid/b/q")
            .publish
            .properties
            .subscription_identifiers,
        [9]
    );
}

#[test]
fn v5_request_response_round_trip() {
    let broker = Mosquitto::start();
    let mut responder = broker.client(v5("rr-responder"));
    responder.connect();
    responder.subscribe(sub("rr/requests", QoS::AtLeastOnce));

    let mut requester = broker.client(v5("rr-requester").with_request_response_information(true));
    let connected = requester.connect();
    // mosquitto gives no Response Information; the client reports what
    // came, here nothing.
    let _ = connected.connack.properties.response_information;
    let reply_to = "rr/replies/rr-requester";
    requester.subscribe(sub(reply_to, QoS::AtLeastOnce));

    let mut request = publish("rr/requests", &b"what time is it"[..], QoS::AtLeastOnce);
    request.properties.response_topic = Some(reply_to.try_into().unwrap());
    request.properties.correlation_data = Some(Bytes::from_static(b"\x00corr-42\xff"));
    request.properties.content_type = Some("text/plain".try_into().unwrap());
    request
        .properties
        .user_properties
        .push(UserProperty::new("trace", "t-1").unwrap());
    requester.publish_wait(request);

    let got = responder.recv_on("rr/requests").publish;
    let response_topic = got
        .properties
        .response_topic
        .clone()
        .expect("Response Topic forwarded");
    let correlation = got
        .properties
        .correlation_data
        .clone()
        .expect("Correlation Data forwarded");
    assert_eq!(response_topic, reply_to);
    assert_eq!(&correlation[..], b"\x00corr-42\xff");
    assert_eq!(got.properties.content_type.as_ref().unwrap(), "text/plain");
    assert_eq!(got.properties.user_properties[0].value, "t-1");

    let mut response = publish(response_topic.as_str(), &b"noon"[..], QoS::AtLeastOnce);
    response.properties.correlation_data = Some(correlation);
    responder.publish_wait(response);
    let reply = requester.recv_on(reply_to).publish;
    assert_eq!(&reply.payload[..], b"noon");
    assert_eq!(
        reply.properties.correlation_data.as_deref(),
        Some(&b"\x00corr-42\xff"[..])
    );
}

#[test]
fn v5_retain_handling_and_retain_as_published() {
    let broker = Mosquitto::start();
    let mut p = broker.client(v5("rh-p"));
    p.connect();
    p.publish_wait(publish("rh/t", &b"kept"[..], QoS::AtLeastOnce).with_retain(true));

    // Retain Handling 2: no retained messages at subscribe; Retain As
    // Published keeps RETAIN on live messages.
    let mut s = broker.client(v5("rh-s"));
    s.connect();
    let options = SubscriptionOptions::new(QoS::AtLeastOnce)
        .with_retain_handling(RetainHandling::DoNotSend)
        .with_retain_as_published(true);
    let filter = SubscribeFilter::new("rh/t", options).unwrap();
    s.subscribe(Subscribe::new(0, vec![filter]));
    p.publish_wait(publish("rh/t", &b"live"[..], QoS::AtLeastOnce).with_retain(true));
    let m = s.recv_on("rh/t");
    assert_eq!(
        &m.publish.payload[..],
        b"live",
        "the retained one was not sent"
    );
    assert!(m.publish.retain, "Retain As Published");

    // No Local: our own publications do not come back.
    let mut n = broker.client(v5("rh-nolocal"));
    n.connect();
    let filter = SubscribeFilter::new(
        "nl/t",
        SubscriptionOptions::new(QoS::AtLeastOnce).with_no_local(true),
    )
    .unwrap();
    n.subscribe(Subscribe::new(0, vec![filter]));
    n.publish_wait(publish("nl/t", &b"own"[..], QoS::AtLeastOnce));
    p.publish_wait(publish("nl/t", &b"other"[..], QoS::AtLeastOnce));
    assert_eq!(&n.recv_on("nl/t").publish.payload[..], b"other");
}

#[test]
fn v5_server_assigned_client_id_is_used_to_resume() {
    let broker = Mosquitto::start();
    let options = ClientOptions::new(ProtocolVersion::V5, "")
        .unwrap()
        .with_session_expiry_interval(300);
    let mut c = broker.client(options);
    let connected = c.connect();
    let assigned = connected
        .connack
        .properties
        .assigned_client_identifier
        .clone()
        .expect("an Assigned Client Identifier");
    assert_eq!(connected.client_id, assigned);
    assert_eq!(c.client.client_id(), &assigned);
    // The next connection uses it, so the session is found again.
    assert!(c.reconnect().session_present);
}

#[test]
fn v5_maximum_packet_size_is_enforced_locally() {
    let broker = Mosquitto::start();
    let mut p = broker.client(v5("maxsize-p"));
    let connected = p.connect();
    assert_eq!(
        connected.connack.properties.maximum_packet_size,
        Some(BROKER_MAX_PACKET)
    );
    let too_big = vec![0u8; BROKER_MAX_PACKET as usize];
    let refused = p.publish(publish("size/t", too_big, QoS::AtLeastOnce));
    assert!(
        matches!(refused, Err(ClientError::PacketTooLarge { maximum, .. }) if maximum == BROKER_MAX_PACKET),
        "{refused:?}"
    );
    // Nothing was sent: the connection is fine, and a message just under
    // the limit goes through.
    let mut s = broker.client(v5("maxsize-s").with_maximum_packet_size(BROKER_MAX_PACKET));
    s.connect();
    s.subscribe(sub("size/t", QoS::AtLeastOnce));
    let fits = vec![7u8; BROKER_MAX_PACKET as usize - 100];
    assert_eq!(
        p.publish_wait(publish("size/t", fits.clone(), QoS::AtLeastOnce)),
        ReasonCode::Success
    );
    assert_eq!(s.recv_on("size/t").publish.payload, fits);
}
