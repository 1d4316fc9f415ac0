//! QoS 0, 1 and 2 round trips through a real broker, MQTT 3.1.1 and 5.0:
//! Debian's mosquitto and our example broker (`core/examples/broker.rs`),
//! each started by the test on a free port of 127.0.0.1.
//!
//! One client subscribes, another publishes; `publish().await` must end
//! at the acknowledgement of its QoS [MQTT-4.3.2-1] [MQTT-4.3.3-1] with
//! Success, `subscribe` must return the granted QoS from SUBACK
//! [MQTT-3.9.3-1], and each message must arrive once, with the QoS it was
//! published at (the subscription grants QoS 2) [MQTT-3.8.4-6].

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{ExampleBroker, Mosquitto, WAIT};
use mqtt_tokio::{ClientOptions, ConnectOptions, Error, ProtocolVersion, Publish, QoS, ReasonCode};

fn options(addr: SocketAddr, version: ProtocolVersion, name: &str) -> ConnectOptions {
    let id = format!("tokio-{name}-{}", std::process::id());
    let client = ClientOptions::new(version, &id).expect("client id");
    ConnectOptions::new(addr.ip().to_string(), addr.port(), client)
}

async fn qos_round_trips(addr: SocketAddr, version: ProtocolVersion, tag: &str) {
    let (sub, info) = mqtt_tokio::connect(options(addr, version, &format!("{tag}-sub")))
        .await
        .expect("subscriber connects");
    assert!(
        !info.session_present,
        "clean start gives no session [MQTT-3.2.2-2]"
    );
    let mut messages = sub.messages().expect("the stream is there to take");
    assert!(sub.messages().is_none(), "the stream is taken once");
    let topic = format!("tokio/{tag}/rt");
    let granted = sub
        .subscribe(&format!("{topic}/#"), QoS::ExactlyOnce)
        .await
        .expect("SUBACK");
    assert_eq!(granted, ReasonCode::GrantedQoS2);

    let (publisher, _) = mqtt_tokio::connect(options(addr, version, &format!("{tag}-pub")))
        .await
        .expect("publisher connects");
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let done = publisher
            .publish(&format!("{topic}/{}", qos as u8), qos, vec![qos as u8; 3])
            .await
            .expect("publish completes");
        assert_eq!(done.reason_code, ReasonCode::Success, "QoS {}", qos as u8);
    }
    // Retained and with properties, through publish_with.
    let retained = Publish::new(&format!("{topic}/retained"), &b"kept"[..])
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 0)
        .with_retain(true);
    publisher
        .publish_with(retained)
        .await
        .expect("retained publish");

    let mut got = Vec::new();
    while got.len() < 4 {
        let m = tokio::time::timeout(WAIT, messages.recv())
            .await
            .expect("a message in time")
            .expect("the stream is open");
        got.push((
            m.publish.topic.as_str().to_owned(),
            m.publish.qos,
            m.publish.payload.to_vec(),
        ));
    }
    got.sort();
    let expect = |q: QoS| (format!("{topic}/{}", q as u8), q, vec![q as u8; 3]);
    assert_eq!(
        got,
        vec![
            expect(QoS::AtMostOnce),
            expect(QoS::AtLeastOnce),
            expect(QoS::ExactlyOnce),
            (
                format!("{topic}/retained"),
                QoS::AtLeastOnce,
                b"kept".to_vec()
            ),
        ]
    );
    // Nothing more: QoS 2 is delivered exactly once [MQTT-4.3.3-1].
    assert!(
        tokio::time::timeout(Duration::from_millis(300), messages.recv())
            .await
            .is_err(),
        "no further message"
    );

    // Clear the retained message, then unsubscribe.
    publisher
        .publish_with(
            Publish::new(&format!("{topic}/retained"), &b""[..])
                .unwrap()
                .with_qos(QoS::AtLeastOnce, 0)
                .with_retain(true),
        )
        .await
        .expect("retained message cleared");
    let cleared = tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("the clearing message in time")
        .expect("the stream is open");
    assert!(cleared.publish.payload.is_empty(), "{cleared:?}");
    let code = sub
        .unsubscribe(&format!("{topic}/#"))
        .await
        .expect("UNSUBACK");
    assert_eq!(code, ReasonCode::Success);

    // try_publish hands the message over without waiting.
    publisher
        .try_publish(
            Publish::new(&topic, &b"fire"[..])
                .unwrap()
                .with_qos(QoS::AtLeastOnce, 0),
        )
        .expect("room in the window");

    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    sub.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    assert!(matches!(
        publisher.publish(&topic, QoS::AtMostOnce, "late").await,
        Err(Error::Closed(_))
    ));
    assert!(
        tokio::time::timeout(WAIT, messages.recv())
            .await
            .expect("the stream ends")
            .is_none(),
        "the stream ends when the client is closed"
    );
}

async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the test finished within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_1_2_round_trips_through_mosquitto_v311() {
    let broker = Mosquitto::start(false);
    bounded(qos_round_trips(
        broker.addr,
        ProtocolVersion::V311,
        "mosq-v311",
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_1_2_round_trips_through_mosquitto_v5() {
    let broker = Mosquitto::start(false);
    bounded(qos_round_trips(broker.addr, ProtocolVersion::V5, "mosq-v5")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_1_2_round_trips_through_the_example_broker_v311() {
    let broker = ExampleBroker::start(&[]);
    bounded(qos_round_trips(
        broker.addr,
        ProtocolVersion::V311,
        "ex-v311",
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_1_2_round_trips_through_the_example_broker_v5() {
    let broker = ExampleBroker::start(&[]);
    bounded(qos_round_trips(broker.addr, ProtocolVersion::V5, "ex-v5")).await;
}

#[tokio::test]
async fn connect_to_a_closed_port_is_an_io_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = ClientOptions::new(ProtocolVersion::V5, "nobody").unwrap();
    let result = mqtt_tokio::connect(ConnectOptions::new("127.0.0.1", port, client)).await;
    assert!(matches!(result, Err(Error::Io(_))), "{result:?}");
}
