//! `$SYS`, graceful stop, `-p`, `--test-config` and configuration errors.
// Tests wait for real processes: they read the real clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use bytes::BytesMut;
use common::{free_port, mosquitto_pub, run, BrokerProc, Sub, WAIT};
use mqtt_core::codec::{
    Connect, DecodeOptions, Decoder, Packet, PacketRef, ProtocolVersion, QoS, ReasonCode,
};

/// `$SYS` values follow known traffic: publish 5 messages and read
/// `publish/messages/received`, the connected clients and the retained
/// count back.
#[test]
fn sys_topics_count_known_traffic() {
    let port = free_port();
    let conf = format!("listener {port} 127.0.0.1\nallow_anonymous true\nsys_interval 1\n");
    let _broker = BrokerProc::start(&conf, 1);
    for i in 0..5 {
        let retain = if i == 0 { "-r" } else { "-q" };
        let mut args = vec!["-t", "app/t", "-m", "x", retain];
        if retain == "-q" {
            args.push("1");
        }
        assert!(mosquitto_pub(port, &args).status.success());
    }
    // Values published at the next interval (1 s), retained.
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let sub = Sub::start(
        port,
        &["-t", "$SYS/broker/#", "-W", "3", "-i", "sys-reader"],
    );
    let (lines, _, _) = sub.finish();
    let value = |topic: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("$SYS/broker/{topic} ")))
            .unwrap_or_else(|| panic!("no $SYS/broker/{topic} in {lines:?}"))
            .to_owned()
    };
    assert_eq!(value("publish/messages/received"), "5");
    // The retained count includes the `$SYS` topics themselves (as in
    // mosquitto): all published at the first update, before the value read.
    let sys_topics = lines
        .iter()
        .filter_map(|l| l.split(' ').next())
        .collect::<std::collections::HashSet<_>>()
        .len();
    let retained: usize = value("retained messages/count").parse().unwrap();
    assert_eq!(retained, sys_topics + 1, "{lines:?}");
    assert!(value("version").starts_with("libmqtt-broker version "));
    assert!(value("uptime").ends_with(" seconds"));
    let received: u64 = value("messages/received").parse().unwrap();
    // 5 CONNECT + 5 PUBLISH + 5 DISCONNECT at least (+ 4 PUBACK... no: the
    // publishers receive those) and the reader's CONNECT and SUBSCRIBE.
    assert!(received >= 15, "{received}");
    let bytes: u64 = value("bytes/received").parse().unwrap();
    assert!(bytes > 5 * 10, "{bytes}");
    // The reader itself is connected when the values were taken, or not
    // yet: at most one.
    let connected: u64 = value("clients/connected").parse().unwrap();
    assert!(connected <= 1);
}

fn encode(packet: PacketRef<'_>, version: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    packet.encode(version, &mut out).expect("encode");
    out.to_vec()
}

/// SIGTERM: a 5.0 client gets DISCONNECT 0x8B Server shutting down and the
/// process exits 0.
#[test]
fn sigterm_sends_server_shutting_down_and_exits() {
    let port = free_port();
    let conf = format!("listener {port} 127.0.0.1\nallow_anonymous true\n");
    let mut broker = BrokerProc::start(&conf, 1);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let connect = Connect::new(ProtocolVersion::V5, "stopper").unwrap();
    s.write_all(&encode(
        PacketRef::Connect(connect.as_view()),
        ProtocolVersion::V5,
    ))
    .unwrap();
    let mut decoder = Decoder::new(DecodeOptions::new(ProtocolVersion::V5));
    let mut buf = [0u8; 256];
    let mut packets = Vec::new();
    let mut signalled = false;
    loop {
        match decoder.next_packet() {
            Ok(Some(p)) => {
                if matches!(p, Packet::ConnAck(_)) && !signalled {
                    broker.signal("TERM");
                    signalled = true;
                }
                packets.push(p);
                continue;
            }
            Ok(None) => {}
            Err(e) => panic!("{e}"),
        }
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        decoder.feed(&buf[..n]);
    }
    assert!(matches!(packets.first(), Some(Packet::ConnAck(_))));
    match packets.get(1) {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::ServerShuttingDown),
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    assert_eq!(broker.wait_exit(), Some(0));
}

fn test_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mosquitto.conf");
    std::fs::write(&path, text).unwrap();
    let out = run(Command::new(env!("CARGO_BIN_EXE_libmqtt-broker"))
        .arg("-c")
        .arg(&path)
        .arg("--test-config"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every mosquitto option this broker does not support stops the start
/// with an error naming the key and its line; an unknown key too.
#[test]
fn unsupported_and_unknown_keys_are_errors_naming_key_and_line() {
    let (ok, err) = test_config("listener 1883\nallow_anonymous true\n");
    assert!(ok, "{err}");
    for key in [
        "auth_plugin /usr/lib/plugin.so",
        "plugin /usr/lib/plugin.so",
        "connection bridge-1",
        "psk_hint hint",
        "mount_point prefix/",
        "autosave_on_changes true",
        "retained_persistence true",
        "persistence_mode fast",
        "ciphers ALL",
        "http_dir /var/www",
        "no_such_option 1",
    ] {
        let name = key.split(' ').next().unwrap();
        let (ok, err) = test_config(&format!("listener 1883\n# comment\n{key}\n"));
        assert!(!ok, "{key} was accepted");
        assert!(err.contains(name), "{key}: {err}");
        assert!(err.contains(":3"), "{key}: the line is named: {err}");
    }
}

/// `-p PORT` without a configuration file: mosquitto's quick start.
#[test]
fn port_on_the_command_line() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_libmqtt-broker"))
        .args(["-p", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    assert!(line.contains(&format!(":{port}")), "{line}");
    let ok = mosquitto_pub(port, &["-t", "t", "-m", "m", "-q", "1"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok.status.success(), "{ok:?}");
}

/// `-d` runs in the background (the command returns at once) and
/// `pid_file` names the running process; SIGTERM stops it and the pid file
/// goes.
#[test]
fn daemon_mode_with_a_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let pid_file = dir.path().join("broker.pid");
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npid_file {}\nlog_dest none\n",
            pid_file.display()
        ),
    )
    .unwrap();
    let out = run(Command::new(env!("CARGO_BIN_EXE_libmqtt-broker"))
        .arg("-c")
        .arg(&conf)
        .arg("-d"));
    assert!(out.status.success(), "{out:?}");
    let deadline = std::time::Instant::now() + WAIT;
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "no pid file");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let ok = mosquitto_pub(port, &["-t", "t", "-m", "m", "-q", "1"]);
    let kill = run(Command::new("kill").args(["-TERM", &pid.to_string()]));
    assert!(kill.status.success());
    assert!(ok.status.success(), "{ok:?}");
    while pid_file.exists() {
        assert!(std::time::Instant::now() < deadline, "the pid file stayed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Connects with `connect` and returns the first packet the broker sends.
fn first_answer(port: u16, connect: &Connect) -> Packet {
    let version = connect.protocol_version;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&encode(PacketRef::Connect(connect.as_view()), version))
        .unwrap();
    let mut decoder = Decoder::new(DecodeOptions::new(version));
    let mut buf = [0u8; 512];
    loop {
        if let Some(p) = decoder.next_packet().expect("decodes") {
            return p;
        }
        let n = s.read(&mut buf).expect("an answer");
        assert!(n > 0, "closed without an answer");
        decoder.feed(&buf[..n]);
    }
}

/// The engine's knobs from mosquitto.conf reach a 5.0 client's CONNACK:
/// Maximum QoS, Retain Available, Maximum Packet Size, Topic Alias
/// Maximum, Receive Maximum (max_inflight_messages), Server Keep Alive
/// (max_keepalive); a 3.1.1 client asking for a longer keep alive is
/// refused (return code 2, as mosquitto).
#[test]
fn configuration_knobs_reach_the_connack() {
    let port = free_port();
    let conf = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\nmax_qos 1\nretain_available false\n\
         max_packet_size 1000\nmax_topic_alias 5\nmax_inflight_messages 7\nmax_keepalive 30\n"
    );
    let _broker = BrokerProc::start(&conf, 1);
    let mut connect = Connect::new(ProtocolVersion::V5, "knobs").unwrap();
    connect.keep_alive = 60;
    let Packet::ConnAck(ack) = first_answer(port, &connect) else {
        panic!("not a CONNACK");
    };
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let p = &ack.properties;
    assert_eq!(p.maximum_qos, Some(QoS::AtLeastOnce));
    assert_eq!(p.retain_available, Some(false));
    assert_eq!(p.maximum_packet_size, Some(1000));
    assert_eq!(p.topic_alias_maximum, Some(5));
    assert_eq!(p.receive_maximum, Some(7));
    assert_eq!(p.server_keep_alive, Some(30));
    // Within the bound: no Server Keep Alive.
    connect.keep_alive = 20;
    let Packet::ConnAck(ack) = first_answer(port, &connect) else {
        panic!("not a CONNACK");
    };
    assert_eq!(ack.properties.server_keep_alive, None);
    let mut old = Connect::new(ProtocolVersion::V311, "old").unwrap();
    old.keep_alive = 60;
    let Packet::ConnAck(ack) = first_answer(port, &old) else {
        panic!("not a CONNACK");
    };
    assert_eq!(ack.reason_code, ReasonCode::ClientIdentifierNotValid);
}

/// A listener's `max_connections`: the connection beyond it is closed at
/// once; another listener is not affected.
#[test]
fn max_connections_per_listener() {
    let (one, other) = (free_port(), free_port());
    let conf = format!(
        "allow_anonymous true\nlistener {one} 127.0.0.1\nmax_connections 1\nlistener {other} 127.0.0.1\n"
    );
    let _broker = BrokerProc::start(&conf, 2);
    let first = Sub::start(one, &["-t", "t", "-C", "1", "-W", "5"]);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let refused = mosquitto_pub(one, &["-t", "t", "-m", "m"]);
    assert!(!refused.status.success(), "a second connection got in");
    let ok = mosquitto_pub(other, &["-t", "t", "-m", "via the other listener"]);
    assert!(ok.status.success(), "{ok:?}");
    let (lines, _, _) = first.finish();
    assert_eq!(lines, ["t via the other listener"]);
}
