//! MQTT over WebSocket (feature `websocket`), MQTT 5.0 and 3.1.1 §6.
//!
//! Against our Python broker's WebSocket listener (`python -m libmqtt
//! broker --ws-port 0`, the `websockets` package), started by the test on
//! free ports of 127.0.0.1: QoS 0, 1 and 2 round trips with both clients on
//! WebSocket, one on WebSocket and one on TCP, reconnection after the
//! broker is killed and restarted on the same port, the size limit on what
//! the broker sends. And against small WebSocket servers written here with
//! tokio-tungstenite, for what the broker cannot be made to do: a server
//! that does not select the subprotocol `mqtt` [MQTT-6.0.0-4], a text
//! message [MQTT-6.0.0-1], packets split across and packed into binary
//! messages [MQTT-6.0.0-2], an oversized frame, a handshake that never
//! answers.
//!
//! The Python is `LIBMQTT_PYTHON`, else `<repo>/.venv/bin/python` (`make
//! py-test` installs libmqtt and websockets there). Without it the tests
//! fail, saying so: they never pass without having run.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::time::Instant;

use common::WAIT;
use futures_util::{SinkExt, StreamExt};
use mqtt_tokio::{
    Backoff, Client, ClientOptions, ConnectOptions, Connector, Error, Messages, ProtocolVersion,
    QoS, ReasonCode, Status, TcpConnector, WebSocketOptions, WsConnector,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;

// ---------------------------------------------------------------------
// The Python broker.

/// The Python interpreter with what these tests import.
fn python() -> PathBuf {
    common::python("libmqtt, websockets")
}

/// `python -m libmqtt broker` with a TCP and a WebSocket listener on
/// 127.0.0.1 (and a secure WebSocket one when given a certificate); killed
/// on drop.
struct PyBroker {
    child: Child,
    /// The plain MQTT listener.
    tcp: u16,
    /// The WebSocket listener (any path).
    ws: u16,
    /// The secure WebSocket listener.
    wss: Option<u16>,
    log: PathBuf,
}

impl PyBroker {
    /// On free ports.
    fn start() -> PyBroker {
        PyBroker::spawn(0, 0, None).expect("the Python broker starts")
    }

    /// On the given ports (0: a free one), with a `wss` listener on a free
    /// port when given a certificate and key file; `Err` with its output
    /// when it did not come up within `WAIT`.
    fn spawn(tcp: u16, ws: u16, tls: Option<(&Path, &Path)>) -> Result<PyBroker, String> {
        let log = mqtt_tests::broker_proc::unique_temp_path("libmqtt-tokio-pybroker", ".log");
        let stderr = std::fs::File::create(&log).expect("broker log file");
        let mut command = Command::new(python());
        command
            .args(["-m", "libmqtt", "broker", "--host", "127.0.0.1"])
            .args(["--port", &tcp.to_string(), "--ws-port", &ws.to_string()]);
        if let Some((cert, key)) = tls {
            command
                .args(["--wss-port", "0", "--certfile"])
                .arg(cert)
                .arg("--keyfile")
                .arg(key);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start the Python broker");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, rx) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        // "libmqtt broker listening on 127.0.0.1:PORT (mqtt|ws)"
        let (mut tcp_port, mut ws_port, mut wss_port) = (None, None, None);
        let deadline = Instant::now() + WAIT;
        while tcp_port.is_none() || ws_port.is_none() || (tls.is_some() && wss_port.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(std::fs::read_to_string(&log).unwrap_or_default());
            };
            let port = |l: &str| {
                l.rsplit_once(':')
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .and_then(|p| p.parse::<u16>().ok())
            };
            if line.ends_with("(mqtt)") {
                tcp_port = port(&line);
            } else if line.ends_with("(ws)") {
                ws_port = port(&line);
            } else if line.ends_with("(wss)") {
                wss_port = port(&line);
            }
        }
        let (Some(tcp), Some(ws)) = (tcp_port, ws_port) else {
            unreachable!("both ports are read above")
        };
        Ok(PyBroker {
            child,
            tcp,
            ws,
            wss: wss_port,
            log,
        })
    }

    /// Kills it (SIGKILL: no DISCONNECT, no WebSocket close) and starts
    /// it again on the same ports (retried while they are not free).
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut last = String::new();
        for _ in 0..20 {
            match PyBroker::spawn(self.tcp, self.ws, None) {
                Ok(b) => {
                    let old = std::mem::replace(self, b);
                    drop(old);
                    return;
                }
                Err(log) => last = log,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the Python broker did not restart on its ports; its output:\n{last}");
    }
}

impl Drop for PyBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!(
                "--- Python broker (mqtt {}, ws {}) ---\n{log}",
                self.tcp, self.ws
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

// ---------------------------------------------------------------------
// Clients.

fn client_options(version: ProtocolVersion, name: &str) -> ClientOptions {
    let id = format!("tokio-ws-{name}-{}", std::process::id());
    ClientOptions::new(version, &id).expect("client id")
}

/// Over WebSocket to the broker's WebSocket port, path `/mqtt`.
fn over_ws(port: u16, client: ClientOptions) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1", port, client).with_websocket(WebSocketOptions::default())
}

async fn next_message(messages: &mut Messages) -> mqtt_tokio::Message {
    tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("a message in time")
        .expect("the stream is open")
}

/// Publishes QoS 0, 1 and 2, one message of 200 KiB (more than the
/// driver's 64 KiB read: the rest of the WebSocket message waits in the
/// adapter) and ten small ones without waiting; every publish completes
/// at its acknowledgement and each message arrives once, as sent.
async fn round_trips(sub: &Client, messages: &mut Messages, publisher: &Client, topic: &str) {
    let granted = sub
        .subscribe(&format!("{topic}/#"), QoS::ExactlyOnce)
        .await
        .expect("SUBACK");
    assert_eq!(granted, ReasonCode::GrantedQoS2);
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let done = publisher
            .publish(&format!("{topic}/{}", qos as u8), qos, vec![qos as u8; 3])
            .await
            .expect("publish completes");
        assert_eq!(done.reason_code, ReasonCode::Success, "QoS {}", qos as u8);
    }
    let big: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    publisher
        .publish(&format!("{topic}/big"), QoS::AtLeastOnce, big.clone())
        .await
        .expect("the big message is acknowledged");
    let small: Vec<_> = (0..10u8)
        .map(|i| {
            let publisher = publisher.clone();
            let topic = format!("{topic}/small");
            tokio::spawn(async move { publisher.publish(&topic, QoS::AtLeastOnce, vec![i]).await })
        })
        .collect();
    for task in small {
        let done = task.await.expect("task").expect("small publish completes");
        assert_eq!(done.reason_code, ReasonCode::Success);
    }
    let mut got = Vec::new();
    for _ in 0..14 {
        let m = next_message(messages).await;
        got.push((
            m.publish.topic.as_str().to_owned(),
            m.publish.qos,
            m.publish.payload.to_vec(),
        ));
    }
    got.sort();
    let mut expected: Vec<_> = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .map(|q| (format!("{topic}/{}", q as u8), q, vec![q as u8; 3]))
        .collect();
    expected.push((format!("{topic}/big"), QoS::AtLeastOnce, big));
    expected.extend((0..10u8).map(|i| (format!("{topic}/small"), QoS::AtLeastOnce, vec![i])));
    expected.sort();
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!((&g.0, g.1, g.2.len()), (&e.0, e.1, e.2.len()));
        assert!(g.2 == e.2, "the payload of {} arrived changed", g.0);
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), messages.recv())
            .await
            .is_err(),
        "no further message: QoS 2 arrives once [MQTT-4.3.3-1]"
    );
}

async fn both_on_websocket(version: ProtocolVersion, tag: &str) {
    let broker = PyBroker::start();
    let (sub, info) = mqtt_tokio::connect(over_ws(
        broker.ws,
        client_options(version, &format!("{tag}-sub")),
    ))
    .await
    .expect("the subscriber connects over WebSocket");
    assert!(!info.session_present);
    let mut messages = sub.messages().expect("the stream");
    let (publisher, _) = mqtt_tokio::connect(over_ws(
        broker.ws,
        client_options(version, &format!("{tag}-pub")),
    ))
    .await
    .expect("the publisher connects over WebSocket");
    round_trips(&sub, &mut messages, &publisher, &format!("tokio/ws/{tag}")).await;
    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("the publisher disconnects");
    sub.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("the subscriber disconnects");
    assert!(
        tokio::time::timeout(WAIT, messages.recv())
            .await
            .expect("the stream ends in time")
            .is_none(),
        "the stream ends after disconnect"
    );
}

#[tokio::test]
async fn qos_0_1_2_round_trip_with_both_clients_on_websocket_v311() {
    both_on_websocket(ProtocolVersion::V311, "v311").await;
}

#[tokio::test]
async fn qos_0_1_2_round_trip_with_both_clients_on_websocket_v5() {
    both_on_websocket(ProtocolVersion::V5, "v5").await;
}

#[tokio::test]
async fn a_websocket_client_and_a_tcp_client_talk_through_one_broker() {
    let broker = PyBroker::start();
    for (version, tag) in [
        (ProtocolVersion::V5, "mix5"),
        (ProtocolVersion::V311, "mix311"),
    ] {
        // The subscriber on WebSocket, the publisher on TCP...
        let (ws_client, _) = mqtt_tokio::connect(over_ws(
            broker.ws,
            client_options(version, &format!("{tag}-ws")),
        ))
        .await
        .expect("WebSocket client connects");
        let tcp = ConnectOptions::new(
            "127.0.0.1",
            broker.tcp,
            client_options(version, &format!("{tag}-tcp")),
        );
        assert!(tcp.websocket.is_none());
        let (tcp_client, _) = mqtt_tokio::connect(tcp).await.expect("TCP client connects");
        let mut ws_messages = ws_client.messages().expect("the stream");
        let mut tcp_messages = tcp_client.messages().expect("the stream");
        round_trips(
            &ws_client,
            &mut ws_messages,
            &tcp_client,
            &format!("tokio/ws/{tag}/a"),
        )
        .await;
        // ... and the other way round.
        round_trips(
            &tcp_client,
            &mut tcp_messages,
            &ws_client,
            &format!("tokio/ws/{tag}/b"),
        )
        .await;
        ws_client
            .disconnect(ReasonCode::NORMAL_DISCONNECTION)
            .await
            .expect("disconnect");
        tcp_client
            .disconnect(ReasonCode::NORMAL_DISCONNECTION)
            .await
            .expect("disconnect");
    }
}

#[tokio::test]
async fn a_ws_url_connects_over_websocket() {
    let broker = PyBroker::start();
    let url = format!(
        "ws://127.0.0.1:{}/mqtt?client_id=tokio-ws-url-{}&version=3.1.1",
        broker.ws,
        std::process::id()
    );
    let options = ConnectOptions::from_url(&url).expect("a ws:// URL");
    assert_eq!(
        options.websocket.as_ref().map(|w| w.path.as_str()),
        Some("/mqtt")
    );
    let (client, info) = mqtt_tokio::connect(options)
        .await
        .expect("connects over WebSocket");
    assert_eq!(
        info.client_id.as_str(),
        format!("tokio-ws-url-{}", std::process::id())
    );
    let done = client
        .publish("tokio/ws/url", QoS::ExactlyOnce, "x")
        .await
        .expect("QoS 2 over WebSocket");
    assert_eq!(done.reason_code, ReasonCode::Success);
    client
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
}

/// Waits until `client` is connected again after the broker went away.
async fn connected_again(client: &Client, who: &str) {
    let mut status = client.status();
    tokio::time::timeout(WAIT, status.wait_for(|s| matches!(s, Status::Connected(_))))
        .await
        .unwrap_or_else(|_| panic!("{who} reconnects in time"))
        .expect("the client is alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reconnect_over_websocket_after_the_broker_is_killed_and_restarted() {
    let mut broker = PyBroker::start();
    let options = |name: &str| {
        let client =
            client_options(ProtocolVersion::V5, name).with_resubscribe_on_session_lost(true);
        over_ws(broker.ws, client).with_reconnect(Some(Backoff::new(50, 300)))
    };
    let (sub, _) = mqtt_tokio::connect(options("restart-sub"))
        .await
        .expect("sub connects");
    let (publisher, _) = mqtt_tokio::connect(options("restart-pub"))
        .await
        .expect("pub connects");
    let mut messages = sub.messages().expect("the stream");
    sub.subscribe("tokio/ws/restart", QoS::AtLeastOnce)
        .await
        .expect("SUBACK");
    publisher
        .publish("tokio/ws/restart", QoS::AtLeastOnce, "before")
        .await
        .expect("publish before the restart");
    assert_eq!(
        next_message(&mut messages).await.publish.payload.as_ref(),
        b"before"
    );

    let mut pub_status = publisher.status();
    let mut sub_status = sub.status();
    tokio::task::block_in_place(|| {
        let _ = broker.child.kill();
        let _ = broker.child.wait();
    });
    // Both see the WebSocket's TCP connection end without a close frame.
    for (who, status) in [("pub", &mut pub_status), ("sub", &mut sub_status)] {
        tokio::time::timeout(
            WAIT,
            status.wait_for(|s| matches!(s, Status::Disconnected(_) | Status::Reconnecting { .. })),
        )
        .await
        .unwrap_or_else(|_| panic!("{who} notices the broker is gone"))
        .expect("alive");
    }
    // A publish while the broker is away waits for the next connection.
    let pending = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            publisher
                .publish("tokio/ws/restart", QoS::AtLeastOnce, "during")
                .await
        })
    };
    tokio::task::block_in_place(|| broker.restart());
    connected_again(&publisher, "the publisher").await;
    connected_again(&sub, "the subscriber").await;
    let done = tokio::time::timeout(WAIT, pending)
        .await
        .expect("the waiting publish completes in time")
        .expect("task")
        .expect("the waiting publish is acknowledged by the new broker");
    // Accepted; 0x10 No matching subscribers when it came before the
    // subscriber's resubscription.
    assert!(
        matches!(
            done.reason_code,
            ReasonCode::Success | ReasonCode::NoMatchingSubscribers
        ),
        "{:?}",
        done.reason_code
    );
    // The new broker has no session: the subscriber subscribed again
    // (resubscribe_on_session_lost). Publish until one arrives: the
    // resubscription and the first publishes race.
    let deadline = Instant::now() + WAIT;
    let received = loop {
        assert!(Instant::now() < deadline, "no message after the restart");
        publisher
            .publish("tokio/ws/restart", QoS::AtLeastOnce, "after")
            .await
            .expect("publish after the restart");
        match tokio::time::timeout(Duration::from_millis(200), messages.recv()).await {
            Ok(Some(m)) => break m,
            Ok(None) => panic!("the subscriber's stream ended"),
            Err(_) => continue,
        }
    };
    assert!(
        matches!(received.publish.payload.as_ref(), b"during" | b"after"),
        "{received:?}"
    );
    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    sub.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
}

#[tokio::test]
async fn a_message_from_the_broker_over_the_size_limit_ends_the_connection() {
    let broker = PyBroker::start();
    // The subscriber accepts WebSocket messages of 1 KiB at most.
    let limited = over_ws(broker.ws, client_options(ProtocolVersion::V5, "limit-sub"))
        .with_websocket(WebSocketOptions::default().with_max_message_size(1024))
        .with_reconnect(None);
    let (sub, _) = mqtt_tokio::connect(limited).await.expect("sub connects");
    let mut messages = sub.messages().expect("the stream");
    sub.subscribe("tokio/ws/limit", QoS::AtMostOnce)
        .await
        .expect("SUBACK");
    let (publisher, _) = mqtt_tokio::connect(over_ws(
        broker.ws,
        client_options(ProtocolVersion::V5, "limit-pub"),
    ))
    .await
    .expect("pub connects");
    publisher
        .publish("tokio/ws/limit", QoS::AtMostOnce, vec![1u8; 100])
        .await
        .expect("small");
    assert_eq!(next_message(&mut messages).await.publish.payload.len(), 100);
    // The broker sends the 4 KiB PUBLISH as one WebSocket message.
    publisher
        .publish("tokio/ws/limit", QoS::AtMostOnce, vec![2u8; 4096])
        .await
        .expect("big");
    let mut status = sub.status();
    tokio::time::timeout(WAIT, status.wait_for(|s| matches!(s, Status::Closed(_))))
        .await
        .expect("the subscriber's connection ends in time")
        .expect("status");
    assert!(
        tokio::time::timeout(WAIT, messages.recv())
            .await
            .expect("the stream ends")
            .is_none(),
        "the oversized message is not delivered"
    );
    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
}

// ---------------------------------------------------------------------
// Small WebSocket servers of our own.

/// A listener on a free port of 127.0.0.1 and the TCP connector to it.
async fn listen() -> (TcpListener, TcpConnector, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let tcp = TcpConnector {
        host: addr.ip().to_string(),
        port: addr.port(),
        timeout: WAIT,
    };
    (listener, tcp, addr)
}

/// Accepts one WebSocket connection, answering the upgrade with
/// `protocol` as Sec-WebSocket-Protocol (none if `None`); returns the
/// request it got and the stream.
async fn accept(
    listener: &TcpListener,
    protocol: Option<&'static str>,
) -> (
    Request,
    tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) {
    let (tcp, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("a connection in time")
        .expect("accept");
    let (tx, rx) = std::sync::mpsc::channel();
    let callback = move |request: &Request, mut response: Response| {
        let _ = tx.send(request.clone());
        if let Some(p) = protocol {
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(p));
        }
        Ok(response)
    };
    let ws = tokio::time::timeout(WAIT, tokio_tungstenite::accept_hdr_async(tcp, callback))
        .await
        .expect("handshake in time")
        .expect("handshake");
    (rx.recv().expect("the request"), ws)
}

#[tokio::test]
async fn the_upgrade_request_offers_mqtt_with_the_path_host_and_extra_headers() {
    let (listener, tcp, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (request, mut ws) = accept(&listener, Some("mqtt")).await;
        // The client's first write, CONNECT, arrives as binary data.
        let first = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("CONNECT in time")
            .expect("a message")
            .expect("no error");
        (request, first)
    });
    let connector = WsConnector::new(
        tcp,
        &format!("ws://broker.test:{}/ws/mqtt?x=1", addr.port()),
    )
    .expect("URL")
    .with_header("Authorization", "Bearer t0ken")
    .expect("header");
    let stream = connector.connect().await.expect("the handshake succeeds");
    // Drive a CONNECT through the byte stream.
    let mut stream = stream;
    stream
        .write_all(&[0x10, 0x02, 0x00, 0x00])
        .await
        .expect("write");
    let (request, first) = server.await.expect("server");
    assert_eq!(request.uri().path(), "/ws/mqtt");
    assert_eq!(request.uri().query(), Some("x=1"));
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("host"), format!("broker.test:{}", addr.port()));
    assert_eq!(header("sec-websocket-protocol"), "mqtt", "[MQTT-6.0.0-3]");
    assert_eq!(header("authorization"), "Bearer t0ken");
    assert_eq!(
        first,
        WsMessage::Binary(vec![0x10, 0x02, 0x00, 0x00].into())
    );

    // Without a path, /mqtt.
    let (listener, tcp, addr) = listen().await;
    let server = tokio::spawn(async move { accept(&listener, Some("mqtt")).await.0 });
    WsConnector::new(tcp, &format!("ws://127.0.0.1:{}", addr.port()))
        .expect("URL")
        .connect()
        .await
        .expect("handshake");
    assert_eq!(server.await.expect("server").uri().path(), "/mqtt");
}

#[tokio::test]
async fn a_server_that_does_not_select_the_mqtt_subprotocol_is_refused() {
    for answer in [None, Some("mqttv3.1")] {
        let (listener, _, addr) = listen().await;
        let server = tokio::spawn(async move {
            // The handshake may fail on the server side once the client
            // drops the connection: only accepting matters here.
            let (tcp, _) = listener.accept().await.expect("accept");
            let callback = move |_: &Request, mut response: Response| {
                if let Some(p) = answer {
                    response
                        .headers_mut()
                        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(p));
                }
                Ok(response)
            };
            let _ = tokio_tungstenite::accept_hdr_async(tcp, callback).await;
        });
        let options = over_ws(addr.port(), client_options(ProtocolVersion::V5, "noproto"));
        let err = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
            .await
            .expect("refused in time")
            .expect_err("a server without the mqtt subprotocol is refused");
        let Error::Io(e) = &err else {
            panic!("{answer:?}: expected Error::Io, got {err:?}")
        };
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{answer:?}: {e}");
        assert!(
            e.to_string()
                .contains("did not select the subprotocol `mqtt`"),
            "{answer:?}: {e}"
        );
        server.abort();
    }
}

#[tokio::test]
async fn packets_split_across_and_packed_into_binary_messages_are_read_as_a_stream() {
    // [MQTT-6.0.0-2]: CONNACK in two messages, then two PUBLISH packets in
    // one message, then one PUBLISH in three.
    let (listener, tcp, _) = listen().await;
    let server = tokio::spawn(async move {
        let (_, mut ws) = accept(&listener, Some("mqtt")).await;
        let connect = ws.next().await.expect("CONNECT").expect("no error");
        assert!(
            matches!(&connect, WsMessage::Binary(b) if b.first() == Some(&0x10)),
            "{connect:?}"
        );
        let publish = |topic: &str, payload: &[u8]| {
            let mut p = vec![
                0x30,
                (2 + topic.len() + payload.len()) as u8,
                0,
                topic.len() as u8,
            ];
            p.extend_from_slice(topic.as_bytes());
            p.extend_from_slice(payload);
            p
        };
        let mut two = publish("a/1", b"one");
        two.extend(publish("a/2", b"two"));
        let three = publish("a/3", b"three");
        for chunk in [
            vec![0x20],
            vec![0x02, 0x00, 0x00],
            two,
            three[..1].to_vec(),
            three[1..5].to_vec(),
            three[5..].to_vec(),
        ] {
            ws.send(WsMessage::Binary(chunk.into()))
                .await
                .expect("send");
        }
        // Keep the connection until the client leaves.
        while let Some(Ok(_)) = ws.next().await {}
    });
    let options = ConnectOptions::new(
        "127.0.0.1",
        1,
        client_options(ProtocolVersion::V311, "split"),
    )
    .with_reconnect(None);
    let ws = WsConnector::new(tcp, "ws://127.0.0.1/mqtt").expect("URL");
    let (client, _) = tokio::time::timeout(WAIT, mqtt_tokio::connect_with(options, ws))
        .await
        .expect("in time")
        .expect("a CONNACK split in two messages is read");
    let mut messages = client.messages().expect("the stream");
    for (topic, payload) in [("a/1", &b"one"[..]), ("a/2", b"two"), ("a/3", b"three")] {
        let m = next_message(&mut messages).await;
        assert_eq!(
            (m.publish.topic.as_str(), m.publish.payload.as_ref()),
            (topic, payload)
        );
    }
    client
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    tokio::time::timeout(WAIT, server)
        .await
        .expect("server ends")
        .expect("server");
}

#[tokio::test]
async fn a_text_message_is_a_protocol_error_and_the_client_closes_with_1003() {
    let (listener, tcp, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (_, mut ws) = accept(&listener, Some("mqtt")).await;
        ws.send(WsMessage::text("not MQTT")).await.expect("send");
        // The client answers with a close frame: Unsupported Data.
        loop {
            match tokio::time::timeout(WAIT, ws.next())
                .await
                .expect("a close in time")
            {
                Some(Ok(WsMessage::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    });
    let mut stream = WsConnector::new(tcp, &format!("ws://127.0.0.1:{}", addr.port()))
        .expect("URL")
        .connect()
        .await
        .expect("handshake");
    let mut buf = [0u8; 16];
    let err = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("in time")
        .expect_err("a text message is an error [MQTT-6.0.0-1]");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("text message"), "{err}");
    let frame = server
        .await
        .expect("server")
        .expect("a close frame with a code");
    assert_eq!(frame.code, CloseCode::Unsupported);
}

#[tokio::test]
async fn an_oversized_frame_is_refused_from_its_header_without_buffering_it() {
    let (listener, tcp, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (_, mut ws) = accept(&listener, Some("mqtt")).await;
        // A binary frame header announcing 1 GiB, and only 4 KiB of it.
        let raw = ws.get_mut();
        raw.write_all(&[0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0])
            .await
            .expect("header");
        raw.write_all(&[0u8; 4096]).await.expect("some payload");
        // Hold the connection open: the client must not wait for the rest.
        tokio::time::sleep(WAIT * 2).await;
    });
    let mut stream = WsConnector::new(tcp, &format!("ws://127.0.0.1:{}", addr.port()))
        .expect("URL")
        .with_max_message_size(64 * 1024)
        .connect()
        .await
        .expect("handshake");
    let mut buf = [0u8; 1024];
    let started = Instant::now();
    let err = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("refused at once, not after waiting for 1 GiB")
        .expect_err("a frame over the limit is an error");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    assert!(
        err.to_string().contains("over the limit of 65536 bytes"),
        "{err}"
    );
    server.abort();
}

#[tokio::test]
async fn a_handshake_without_an_answer_times_out() {
    let (listener, tcp, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tokio::time::sleep(WAIT * 2).await;
        drop(tcp);
    });
    let started = Instant::now();
    let err = WsConnector::new(tcp, &format!("ws://127.0.0.1:{}", addr.port()))
        .expect("URL")
        .with_handshake_timeout(Duration::from_millis(300))
        .connect()
        .await
        .err()
        .expect("no answer: a timeout");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.abort();
}

#[test]
fn bad_urls_and_headers_are_refused_before_connecting() {
    let tcp = || TcpConnector {
        host: "127.0.0.1".into(),
        port: 1,
        timeout: Duration::from_secs(1),
    };
    for url in [
        "http://h/mqtt",
        "h:80",
        "ws://",
        "ws:///mqtt",
        "ws://user:pw@h/mqtt",
    ] {
        let err = WsConnector::new(tcp(), url).expect_err(url);
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{url}: {err}");
    }
    for (name, value) in [
        ("Sec-WebSocket-Protocol", "x"),
        ("Upgrade", "x"),
        ("bad name", "x"),
        ("X-A", "a\nb"),
    ] {
        let err = WsConnector::new(tcp(), "ws://h/mqtt")
            .expect("URL")
            .with_header(name, value)
            .expect_err(name);
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::InvalidInput,
            "{name}: {err}"
        );
    }
    // Header values and the URL's query are not shown.
    let c = WsConnector::new(tcp(), "wss://h:443?token=t0ken")
        .expect("URL")
        .with_header("Authorization", "Bearer s3cret")
        .expect("header");
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("s3cret") && shown.contains("authorization"),
        "{shown}"
    );
    assert!(
        !shown.contains("t0ken") && shown.contains("wss://h:443/mqtt"),
        "{shown}"
    );
}

// ---------------------------------------------------------------------
// Secure WebSocket: WsConnector over the TlsConnector.

/// A CA and a server certificate for localhost and 127.0.0.1 (rcgen), the
/// server's in files for the broker; returns the CA's PEM and the files.
#[cfg(feature = "tls")]
fn server_certificate(dir: &Path) -> (String, PathBuf, PathBuf) {
    let pki = common::pki::Pki::new("wss test CA");
    let server = pki.server();
    std::fs::create_dir_all(dir).expect("directory");
    let (cert_file, key_file) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert_file, &server.cert).expect("write the certificate");
    std::fs::write(&key_file, &server.key).expect("write the key");
    (pki.ca_pem(), cert_file, key_file)
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn a_wss_url_runs_websocket_over_tls_and_talks_to_a_ws_client() {
    use mqtt_tokio::TlsOptions;
    let dir = mqtt_tests::broker_proc::unique_temp_path("libmqtt-tokio-wss", "");
    let (ca, cert, key) = server_certificate(&dir);
    let broker = PyBroker::spawn(0, 0, Some((&cert, &key))).expect("the broker with wss starts");
    let wss = broker.wss.expect("a wss listener");
    let url = |id: &str, version: &str| {
        format!(
            "wss://localhost:{wss}/mqtt?client_id=tokio-ws-{id}-{}&version={version}",
            std::process::id()
        )
    };

    // The URL alone trusts the platform's roots, which do not hold the
    // test CA: refused as TLS, through the WebSocket connector.
    let options = ConnectOptions::from_url(&url("wss-untrusted", "5"))
        .expect("a wss:// URL")
        .with_reconnect(None);
    assert!(options.websocket.is_some() && options.tls.is_some());
    let err = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("refused in time")
        .expect_err("the test CA is not a platform root");
    assert!(matches!(err, Error::Tls(_)), "{err:?}");

    // Given the CA: WebSocket over TLS carries QoS 1 and 2 both ways with
    // a client on plain WebSocket.
    for version in [ProtocolVersion::V5, ProtocolVersion::V311] {
        let (tag, v) = if version == ProtocolVersion::V5 {
            ("5", "5")
        } else {
            ("311", "3.1.1")
        };
        let options = ConnectOptions::from_url(&url(&format!("wss{tag}"), v))
            .expect("a wss:// URL")
            .with_tls(TlsOptions::new().with_ca_pem(ca.clone()));
        let (secure, _) = mqtt_tokio::connect(options)
            .await
            .expect("connects over wss");
        let (plain, _) = mqtt_tokio::connect(over_ws(
            broker.ws,
            client_options(version, &format!("ws{tag}")),
        ))
        .await
        .expect("connects over ws");
        let mut secure_messages = secure.messages().expect("the stream");
        let mut plain_messages = plain.messages().expect("the stream");
        round_trips(
            &secure,
            &mut secure_messages,
            &plain,
            &format!("tokio/wss/{tag}/a"),
        )
        .await;
        round_trips(
            &plain,
            &mut plain_messages,
            &secure,
            &format!("tokio/wss/{tag}/b"),
        )
        .await;
        secure
            .disconnect(ReasonCode::NORMAL_DISCONNECTION)
            .await
            .expect("disconnect");
        plain
            .disconnect(ReasonCode::NORMAL_DISCONNECTION)
            .await
            .expect("disconnect");
    }
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
