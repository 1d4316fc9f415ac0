//! The client against a server scripted byte by byte in the test (a
//! tokio `TcpListener` on 127.0.0.1): behaviour a real broker does not
//! show on demand: a refused CONNACK, acknowledgements held back
//! (backpressure), the DISCONNECT sent when the last handle is dropped,
//! PINGREQ at the keep alive deadline.

use std::time::Duration;

use mqtt_tokio::{ClientOptions, ConnectOptions, Error, ProtocolVersion, Publish, QoS, ReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn options(port: u16, version: ProtocolVersion) -> ConnectOptions {
    let client = ClientOptions::new(version, "scripted").unwrap();
    ConnectOptions::new("127.0.0.1", port, client).with_reconnect(None)
}

/// Reads one packet (fixed header, remaining length, body) from `s`.
async fn read_packet(s: &mut TcpStream) -> Vec<u8> {
    let mut packet = vec![s.read_u8().await.expect("first byte")];
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = s.read_u8().await.expect("length byte");
        packet.push(b);
        len |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let start = packet.len();
    packet.resize(start + len, 0);
    s.read_exact(&mut packet[start..]).await.expect("body");
    packet
}

/// Accepts the client, reads CONNECT and answers with `connack`.
async fn accept(l: &TcpListener, connack: &[u8]) -> TcpStream {
    let (mut s, _) = l.accept().await.expect("accept");
    let connect = read_packet(&mut s).await;
    assert_eq!(connect[0], 0x10, "CONNECT first [MQTT-3.1.0-1]");
    s.write_all(connack).await.expect("CONNACK");
    s
}

#[tokio::test]
async fn a_refused_connack_is_connect_refused_with_its_reason_code() {
    let (l, port) = listener().await;
    // 5.0 CONNACK: no session, 0x87 Not authorized, no properties.
    let server = tokio::spawn(async move { accept(&l, &[0x20, 0x03, 0x00, 0x87, 0x00]).await });
    let result = tokio::time::timeout(
        WAIT,
        mqtt_tokio::connect(options(port, ProtocolVersion::V5)),
    )
    .await
    .expect("in time");
    match result {
        Err(Error::ConnectRefused(c)) => assert_eq!(c.reason_code, ReasonCode::NotAuthorized),
        other => panic!("expected a refusal, got {other:?}"),
    }
    drop(server);
}

#[tokio::test]
async fn publish_waits_while_the_window_and_queue_are_full_and_try_publish_says_would_block() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let mut s = accept(&l, &[0x20, 0x03, 0x00, 0x00, 0x00]).await;
        // Two QoS 1 PUBLISHes fill the window of 2; hold their PUBACKs.
        for _ in 0..2 {
            let p = read_packet(&mut s).await;
            assert_eq!(p[0] & 0xf0, 0x30, "PUBLISH");
        }
        s
    });
    let client = ClientOptions::new(ProtocolVersion::V5, "scripted")
        .unwrap()
        .with_max_inflight(2)
        .with_queue(2, mqtt_tokio::mqtt_core::client::QueueFullPolicy::RejectNew);
    let (client, _) =
        mqtt_tokio::connect(ConnectOptions::new("127.0.0.1", port, client).with_reconnect(None))
            .await
            .expect("connect");
    let msg = || {
        Publish::new("t", &b"x"[..])
            .unwrap()
            .with_qos(QoS::AtLeastOnce, 0)
    };
    // 2 in flight, 2 queued: then the core's queue is full.
    for _ in 0..4 {
        client.try_publish(msg()).expect("room");
    }
    assert!(matches!(client.try_publish(msg()), Err(Error::WouldBlock)));
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move { client.publish_with(msg()).await })
    };
    let mut s = tokio::time::timeout(WAIT, server)
        .await
        .expect("in time")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "publish waits for room");
    // PUBACK for packet identifiers 1 and 2: two queued messages go out,
    // and the waiting one takes a queue place.
    s.write_all(&[0x40, 0x02, 0x00, 0x01, 0x40, 0x02, 0x00, 0x02])
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let p = tokio::time::timeout(WAIT, read_packet(&mut s))
            .await
            .expect("PUBLISH");
        assert_eq!(p[0] & 0xf0, 0x30);
        let topic_len = usize::from(u16::from_be_bytes([p[2], p[3]]));
        ids.push(u16::from_be_bytes([p[4 + topic_len], p[5 + topic_len]]));
        let id = ids.last().unwrap().to_be_bytes();
        s.write_all(&[0x40, 0x02, id[0], id[1]]).await.unwrap();
    }
    let done = tokio::time::timeout(WAIT, waiting)
        .await
        .expect("the waiting publish completes")
        .unwrap()
        .expect("PUBACK");
    assert_eq!(done.reason_code, ReasonCode::Success);
}

#[tokio::test]
async fn dropping_the_last_handle_sends_disconnect() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let mut s = accept(&l, &[0x20, 0x02, 0x00, 0x00]).await;
        read_packet(&mut s).await
    });
    let (client, _) = mqtt_tokio::connect(options(port, ProtocolVersion::V311))
        .await
        .expect("connect");
    let other = client.clone();
    drop(client);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!server.is_finished(), "a handle is still alive");
    drop(other);
    let packet = tokio::time::timeout(WAIT, server)
        .await
        .expect("in time")
        .unwrap();
    assert_eq!(packet, [0xe0, 0x00], "DISCONNECT [MQTT-3.14.1-1]");
}

#[tokio::test]
async fn pingreq_goes_out_at_the_keep_alive_deadline() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let mut s = accept(&l, &[0x20, 0x02, 0x00, 0x00]).await;
        let started = tokio::time::Instant::now();
        let ping = read_packet(&mut s).await;
        let waited = started.elapsed();
        s.write_all(&[0xd0, 0x00]).await.unwrap(); // PINGRESP
        (ping, waited, s)
    });
    let client = ClientOptions::new(ProtocolVersion::V311, "scripted")
        .unwrap()
        .with_keep_alive(1);
    let (client, info) =
        mqtt_tokio::connect(ConnectOptions::new("127.0.0.1", port, client).with_reconnect(None))
            .await
            .expect("connect");
    assert_eq!(info.keep_alive, 1);
    let (ping, waited, _s) = tokio::time::timeout(WAIT, server)
        .await
        .expect("in time")
        .unwrap();
    assert_eq!(ping, [0xc0, 0x00], "PINGREQ [MQTT-3.1.2-23]");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(3000),
        "PINGREQ after about one keep alive interval, not {waited:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(client.state(), mqtt_tokio::ConnectionState::Connected);
}

#[tokio::test]
async fn with_manual_ack_puback_waits_for_acknowledge() {
    let (l, port) = listener().await;
    let (to_test, mut from_server) = tokio::sync::mpsc::channel::<()>(1);
    let server = tokio::spawn(async move {
        let mut s = accept(&l, &[0x20, 0x02, 0x00, 0x00]).await;
        // 3.1.1 PUBLISH QoS 1, topic "t", packet identifier 7, payload "x".
        s.write_all(&[0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x07, b'x'])
            .await
            .unwrap();
        let early = tokio::time::timeout(Duration::from_millis(300), read_packet(&mut s)).await;
        assert!(early.is_err(), "no PUBACK before acknowledge: {early:?}");
        to_test.send(()).await.unwrap();
        tokio::time::timeout(WAIT, read_packet(&mut s))
            .await
            .expect("PUBACK")
    });
    let client = ClientOptions::new(ProtocolVersion::V311, "scripted")
        .unwrap()
        .with_manual_ack(true);
    let (client, _) =
        mqtt_tokio::connect(ConnectOptions::new("127.0.0.1", port, client).with_reconnect(None))
            .await
            .expect("connect");
    let mut messages = client.messages().unwrap();
    let m = tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("message")
        .unwrap();
    assert_eq!(&m.publish.payload[..], b"x");
    let token = m
        .ack_token
        .expect("a QoS 1 message has a token with manual ack");
    from_server
        .recv()
        .await
        .expect("the server saw no early PUBACK");
    client.acknowledge(token).expect("acknowledge");
    let puback = tokio::time::timeout(WAIT, server)
        .await
        .expect("in time")
        .unwrap();
    assert_eq!(
        puback,
        [0x40, 0x02, 0x00, 0x07],
        "PUBACK for 7 [MQTT-4.3.2-2]"
    );
    assert!(
        client.acknowledge(token).is_err(),
        "a token is acknowledged once"
    );
}

/// A connector that hands out the client ends of in-memory pipes whose
/// server ends the test holds.
struct Pipes(std::sync::Mutex<tokio::sync::mpsc::UnboundedSender<tokio::io::DuplexStream>>);

impl mqtt_tokio::Connector for Pipes {
    fn connect(&self) -> mqtt_tokio::ConnectFuture<'_> {
        let (client, server) = tokio::io::duplex(4096);
        let sent = self.0.lock().unwrap().send(server);
        Box::pin(async move {
            sent.map_err(|_| std::io::Error::other("the test is gone"))?;
            Ok(Box::new(client) as Box<dyn mqtt_tokio::Transport>)
        })
    }
}

/// Reads one packet from any reader.
async fn read_packet_from(s: &mut (impl tokio::io::AsyncRead + Unpin)) -> Vec<u8> {
    let mut packet = vec![s.read_u8().await.expect("first byte")];
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = s.read_u8().await.expect("length byte");
        packet.push(b);
        len |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let start = packet.len();
    packet.resize(start + len, 0);
    s.read_exact(&mut packet[start..]).await.expect("body");
    packet
}

#[tokio::test]
async fn a_user_supplied_transport_carries_the_session_across_a_reconnect() {
    let (tx, mut servers) = tokio::sync::mpsc::unbounded_channel::<tokio::io::DuplexStream>();
    let client = ClientOptions::new(ProtocolVersion::V311, "piped")
        .unwrap()
        .with_clean_start(false);
    let options = ConnectOptions::new("unused", 0, client)
        .with_reconnect(Some(mqtt_tokio::Backoff::new(10, 10)));
    let server = tokio::spawn(async move {
        let mut s = servers.recv().await.expect("first pipe");
        assert_eq!(read_packet_from(&mut s).await[0], 0x10, "CONNECT");
        s.write_all(&[0x20, 0x02, 0x00, 0x00]).await.unwrap();
        let publish = read_packet_from(&mut s).await;
        assert_eq!(publish[0], 0x32, "PUBLISH QoS 1, not DUP");
        // Cut before PUBACK: the client reconnects on a new pipe and,
        // with the session present, sends the PUBLISH again with DUP
        // [MQTT-4.4.0-1] and the same packet identifier [MQTT-2.3.1-4].
        drop(s);
        let mut s = servers.recv().await.expect("second pipe");
        assert_eq!(read_packet_from(&mut s).await[0], 0x10, "CONNECT");
        s.write_all(&[0x20, 0x02, 0x01, 0x00]).await.unwrap(); // session present
        let again = read_packet_from(&mut s).await;
        assert_eq!(again[0], 0x3a, "PUBLISH QoS 1 with DUP");
        assert_eq!(again[1..], publish[1..], "the same packet");
        let id = &again[again.len() - 4..again.len() - 2];
        s.write_all(&[0x40, 0x02, id[0], id[1]]).await.unwrap();
        s
    });
    let (client, info) = mqtt_tokio::connect_with(options, Pipes(std::sync::Mutex::new(tx)))
        .await
        .expect("connect over the pipe");
    assert!(!info.session_present);
    let done = tokio::time::timeout(WAIT, client.publish("t", QoS::AtLeastOnce, "ab"))
        .await
        .expect("PUBACK after the reconnect")
        .expect("publish");
    assert_eq!(done.reason_code, ReasonCode::Success);
    let _server = server.await.expect("server script");
    assert_eq!(client.stats().connections, 2);
}

/// An application that stops taking messages for longer than the keep
/// alive: the connection stops reading (backpressure), keeps sending
/// PINGREQ, and is not ended for the PINGRESPs it has not read; the
/// messages all arrive once the application reads again.
#[tokio::test]
async fn a_stalled_application_does_not_cost_a_keep_alive_timeout() {
    let (l, port) = listener().await;
    let (go, ready) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut s = accept(&l, &[0x20, 0x02, 0x00, 0x00]).await;
        // Once the test holds the message stream: five 3.1.1 QoS 0 PUBLISHes, topic "t", payloads "0".."4".
        ready.await.unwrap();
        for i in 0..5u8 {
            s.write_all(&[0x30, 0x04, 0x00, 0x01, b't', b'0' + i])
                .await
                .unwrap();
        }
        let until = tokio::time::Instant::now() + Duration::from_millis(3_500);
        let mut pings = 0;
        let mut closed = false;
        loop {
            match tokio::time::timeout_at(until, s.read_u8()).await {
                Err(_) => break,
                Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(0xc0)) => {
                    assert_eq!(s.read_u8().await.unwrap(), 0, "PINGREQ length");
                    pings += 1;
                    s.write_all(&[0xd0, 0x00]).await.unwrap(); // PINGRESP
                }
                Ok(Ok(other)) => {
                    closed = other == 0xe0; // DISCONNECT
                    break;
                }
            }
        }
        (pings, closed, s)
    });
    let client = ClientOptions::new(ProtocolVersion::V311, "stalled")
        .unwrap()
        .with_keep_alive(1);
    let (client, _) = mqtt_tokio::connect(
        ConnectOptions::new("127.0.0.1", port, client)
            .with_reconnect(None)
            .with_message_capacity(1),
    )
    .await
    .expect("connect");
    let mut messages = client.messages().expect("the stream");
    go.send(()).unwrap();
    let (pings, closed, _s) = tokio::time::timeout(WAIT, server)
        .await
        .expect("in time")
        .unwrap();
    assert!(!closed, "the client ended the connection while stalled");
    assert!(
        pings >= 2,
        "PINGREQ every keep alive while stalled: {pings}"
    );
    assert_eq!(client.state(), mqtt_tokio::ConnectionState::Connected);
    for i in 0..5u8 {
        let m = tokio::time::timeout(WAIT, messages.recv())
            .await
            .expect("in time")
            .unwrap_or_else(|| panic!("message {i}: the stream ended"));
        assert_eq!(&m.publish.payload[..], &[b'0' + i]);
    }
    assert_eq!(client.state(), mqtt_tokio::ConnectionState::Connected);
}
