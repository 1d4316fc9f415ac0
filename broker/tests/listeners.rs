//! A mosquitto user's configuration with four listeners (plain TCP, TLS
//! with client certificates and `use_identity_as_username`, WebSocket,
//! secure WebSocket), driven by Debian's mosquitto_pub / mosquitto_sub and
//! by paho-mqtt's WebSocket transport; certificates made by the test.

mod common;

use std::process::Command;

use common::pki::Pki;
use common::{free_port, mosquitto_pub, python, settle, BrokerProc, Sub};

struct Setup {
    broker: BrokerProc,
    tcp: u16,
    tls: u16,
    ws: u16,
    wss: u16,
}

/// A temporary directory with a new CA (`ca.pem`), a server certificate
/// for 127.0.0.1 (`server.pem`, `server.key`) and a client certificate
/// whose Common Name is `client_name` (`client.pem`, `client.key`).
fn certificates(client_name: &str) -> tempfile::TempDir {
    let pki = Pki::new("test CA");
    let dir = tempfile::tempdir().unwrap();
    let server = pki.server();
    let client = pki.client(client_name);
    for (name, text) in [
        ("ca.pem", pki.ca_pem()),
        ("server.pem", server.cert),
        ("server.key", server.key),
        ("client.pem", client.cert),
        ("client.key", client.key),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn start() -> Setup {
    let dir = certificates("device-1");
    let (tcp, tls, ws, wss) = (free_port(), free_port(), free_port(), free_port());
    let conf = format!(
        "# A mosquitto.conf: four listeners\n\
         allow_anonymous true\n\
         log_type all\n\
         \n\
         listener {tcp} 127.0.0.1\n\
         \n\
         listener {tls} 127.0.0.1\n\
         cafile {{dir}}/ca.pem\n\
         certfile {{dir}}/server.pem\n\
         keyfile {{dir}}/server.key\n\
         require_certificate true\n\
         use_identity_as_username true\n\
         tls_version tlsv1.2\n\
         \n\
         listener {ws} 127.0.0.1\n\
         protocol websockets\n\
         \n\
         listener {wss} 127.0.0.1\n\
         protocol websockets\n\
         certfile {{dir}}/server.pem\n\
         keyfile {{dir}}/server.key\n"
    );
    let broker = BrokerProc::start_in(dir, &conf, 4, &[]);
    let kinds: Vec<&str> = broker.listening.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["mqtt", "mqtt, tls", "websockets", "websockets, tls"]
    );
    Setup {
        broker,
        tcp,
        tls,
        ws,
        wss,
    }
}

fn tls_args(s: &Setup, cert: bool) -> Vec<String> {
    let mut args = vec![
        "--cafile".to_string(),
        s.broker.path("ca.pem").display().to_string(),
    ];
    if cert {
        args.extend([
            "--cert".to_string(),
            s.broker.path("client.pem").display().to_string(),
            "--key".to_string(),
            s.broker.path("client.key").display().to_string(),
        ]);
    }
    args
}

#[test]
fn a_message_crosses_every_listener_kind() {
    let s = start();
    let tls = tls_args(&s, true);
    let mut sub_args: Vec<&str> = tls.iter().map(String::as_str).collect();
    sub_args.extend(["-t", "x/#", "-q", "1", "-C", "2", "-W", "10"]);
    let tls_sub = Sub::start(s.tls, &sub_args);
    let tcp_sub = Sub::start(s.tcp, &["-t", "x/#", "-C", "2", "-W", "10", "-V", "5"]);
    settle();
    // Published on the plain listener and on the TLS one.
    let out = mosquitto_pub(s.tcp, &["-t", "x/plain", "-m", "one", "-q", "1"]);
    assert!(out.status.success(), "{out:?}");
    let mut pub_args: Vec<&str> = tls.iter().map(String::as_str).collect();
    pub_args.extend(["-t", "x/tls", "-m", "two", "-q", "2"]);
    let out = mosquitto_pub(s.tls, &pub_args);
    assert!(out.status.success(), "{out:?}");
    for sub in [tls_sub, tcp_sub] {
        let (lines, code, err) = sub.finish();
        assert_eq!(lines, ["x/plain one", "x/tls two"], "{err}");
        assert_eq!(code, Some(0));
    }
}

#[test]
fn the_tls_listener_requires_a_client_certificate() {
    let s = start();
    let tls = tls_args(&s, false);
    let mut args: Vec<&str> = tls.iter().map(String::as_str).collect();
    args.extend(["-t", "x", "-m", "no certificate"]);
    let out = mosquitto_pub(s.tls, &args);
    assert!(
        !out.status.success(),
        "a client without a certificate got in"
    );
    // And plain MQTT on the TLS port is no TLS handshake: refused.
    let out = mosquitto_pub(s.tls, &["-t", "x", "-m", "plain"]);
    assert!(!out.status.success());
}

/// paho-mqtt's WebSocket transport (plain and TLS) subscribes; mosquitto_pub
/// publishes on the TCP listener.
#[test]
fn paho_over_websocket_and_secure_websocket() {
    let s = start();
    let python = python("paho.mqtt.client");
    let script = r#"
import sys, ssl, threading
import paho.mqtt.client as mqtt
port, secure, ca = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
got = []
done = threading.Event()
def on_connect(c, u, flags, rc, props=None):
    c.subscribe("ws/#", qos=1)
def on_subscribe(c, u, mid, rcs, props=None):
    print("subscribed", flush=True)
def on_message(c, u, m):
    got.append(m.payload.decode())
    done.set()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets", protocol=mqtt.MQTTv5)
if secure:
    c.tls_set(ca_certs=ca)
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect("127.0.0.1", port, 30)
c.loop_start()
ok = done.wait(15)
c.disconnect()
c.loop_stop()
print("got", got[0] if got else None, flush=True)
sys.exit(0 if ok else 1)
"#;
    for (port, secure) in [(s.ws, "0"), (s.wss, "1")] {
        let mut child = Command::new(&python)
            .args(["-c", script, &port.to_string(), secure])
            .arg(s.broker.path("ca.pem"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the subscription, then publish.
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let first = lines.next().and_then(Result::ok);
        if first.as_deref() != Some("subscribed") {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "port {port}: {first:?} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let payload = format!("over websocket {secure}");
        let out = mosquitto_pub(s.tcp, &["-t", "ws/a", "-m", &payload, "-q", "1"]);
        assert!(out.status.success());
        let last = lines.next().and_then(Result::ok);
        assert_eq!(last, Some(format!("got {payload}")));
        let status = child.wait().unwrap();
        assert!(status.success());
    }
}

/// The answer's status line to a WebSocket upgrade offering `protocols`.
fn upgrade_status(port: u16, protocols: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(common::WAIT)).unwrap();
    let offer = protocols.map_or(String::new(), |p| {
        format!("Sec-WebSocket-Protocol: {p}\r\n")
    });
    write!(
        stream,
        "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{offer}\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The handshake selects `mqtt` when offered [MQTT-6.0.0-3]; a client
/// offering only another subprotocol is refused with 400.
#[test]
fn websocket_subprotocol_negotiation_mqtt_6_0_0_3() {
    let s = start();
    eprintln!("listening {:?} ws {}", s.broker.listening, s.ws);
    let ok = upgrade_status(s.ws, Some("chat, mqtt"));
    assert!(ok.starts_with("HTTP/1.1 101"), "{ok}");
    assert!(
        ok.to_ascii_lowercase()
            .contains("sec-websocket-protocol: mqtt\r\n"),
        "{ok}"
    );
    let refused = upgrade_status(s.ws, Some("chat"));
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
}

/// `use_identity_as_username`: the client certificate's Common Name is the
/// User Name, for `%u` in the ACL too; the CONNECT's own User Name does
/// not count.
#[test]
fn the_certificate_identity_is_the_username_for_the_acl() {
    let dir = certificates("device-7");
    std::fs::write(dir.path().join("acl"), "pattern readwrite devices/%u/#\n").unwrap();
    let port = free_port();
    let conf = format!(
        "acl_file {{dir}}/acl\n\
         listener {port} 127.0.0.1\n\
         cafile {{dir}}/ca.pem\n\
         certfile {{dir}}/server.pem\n\
         keyfile {{dir}}/server.key\n\
         require_certificate true\n\
         use_identity_as_username true\n"
    );
    let broker = BrokerProc::start_in(dir, &conf, 1, &[]);
    let ca = broker.path("ca.pem").display().to_string();
    let cert = broker.path("client.pem").display().to_string();
    let key = broker.path("client.key").display().to_string();
    let publish = |topic: &str| {
        let out = mosquitto_pub(
            port,
            &[
                "--cafile",
                &ca,
                "--cert",
                &cert,
                "--key",
                &key,
                "-u",
                "someone-else",
                "-t",
                topic,
                "-m",
                "m",
                "-q",
                "1",
                "-V",
                "5",
            ],
        );
        out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("failed")
    };
    assert!(publish("devices/device-7/temp"));
    assert!(!publish("devices/someone-else/temp"));
}
