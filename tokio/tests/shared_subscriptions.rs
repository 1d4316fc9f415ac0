//! Shared subscriptions (`$share/{group}/{filter}`, MQTT 5.0 §4.8.2, and
//! mosquitto's extension to 3.1.1): two subscribers in one group share the
//! messages: each message goes to exactly one of them [MQTT-4.8.2-4], and
//! both get some. One subscriber reads a per-filter stream (routed by the
//! inner filter, or by its Subscription Identifier in 5.0), the other the
//! general stream. Through mosquitto and our example broker.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{ExampleBroker, Mosquitto, WAIT};
use mqtt_tokio::{ClientOptions, ConnectOptions, Message, ProtocolVersion, QoS, ReasonCode};

const COUNT: usize = 100;

fn options(addr: SocketAddr, version: ProtocolVersion, name: &str) -> ConnectOptions {
    let id = format!("tokio-share-{name}-{}", std::process::id());
    let client = ClientOptions::new(version, &id).expect("client id");
    ConnectOptions::new(addr.ip().to_string(), addr.port(), client)
}

async fn two_subscribers_share_the_messages(addr: SocketAddr, version: ProtocolVersion, tag: &str) {
    let topic = format!("tokio/share/{tag}/jobs");
    let shared = format!("$share/workers/{topic}");
    let (a, _) = mqtt_tokio::connect(options(addr, version, &format!("{tag}-a")))
        .await
        .expect("a connects");
    let (code, mut a_stream) = a
        .subscribe_stream(&shared, QoS::AtLeastOnce)
        .await
        .expect("a subscribes");
    assert!(!code.is_error());
    let (b, _) = mqtt_tokio::connect(options(addr, version, &format!("{tag}-b")))
        .await
        .expect("b connects");
    let mut b_stream = b.messages().expect("b's stream");
    b.subscribe(&shared, QoS::AtLeastOnce)
        .await
        .expect("b subscribes");

    let (publisher, _) = mqtt_tokio::connect(options(addr, version, &format!("{tag}-pub")))
        .await
        .expect("publisher connects");
    for i in 0..COUNT {
        publisher
            .publish(&topic, QoS::AtLeastOnce, i.to_string())
            .await
            .expect("publish");
    }
    // Every message once, in one of the two streams.
    let mut got: BTreeMap<usize, &str> = BTreeMap::new();
    let (mut from_a, mut from_b) = (0, 0);
    let number = |m: &Message| -> usize {
        assert_eq!(m.publish.topic.as_str(), topic);
        std::str::from_utf8(&m.publish.payload)
            .unwrap()
            .parse()
            .unwrap()
    };
    tokio::time::timeout(WAIT, async {
        while got.len() < COUNT {
            tokio::select! {
                Some(m) = a_stream.recv() => {
                    from_a += 1;
                    assert!(got.insert(number(&m), "a").is_none(), "delivered to one subscriber only");
                }
                Some(m) = b_stream.recv() => {
                    from_b += 1;
                    assert!(got.insert(number(&m), "b").is_none(), "delivered to one subscriber only");
                }
            }
        }
    })
    .await
    .expect("every message in time");
    // Nothing more comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(50), a_stream.recv())
            .await
            .is_err()
            && tokio::time::timeout(Duration::from_millis(50), b_stream.recv())
                .await
                .is_err(),
        "no message twice"
    );
    assert_eq!(from_a + from_b, COUNT);
    assert!(
        from_a > 0 && from_b > 0,
        "both subscribers get a share: a {from_a}, b {from_b}"
    );
    for c in [&a, &b, &publisher] {
        c.disconnect(ReasonCode::NORMAL_DISCONNECTION)
            .await
            .expect("disconnect");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_through_mosquitto_v5() {
    let broker = Mosquitto::start(false);
    two_subscribers_share_the_messages(broker.addr, ProtocolVersion::V5, "m5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_through_mosquitto_v311() {
    let broker = Mosquitto::start(false);
    two_subscribers_share_the_messages(broker.addr, ProtocolVersion::V311, "m3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_through_the_example_broker_v5() {
    let broker = ExampleBroker::start(&[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port()));
    two_subscribers_share_the_messages(addr, ProtocolVersion::V5, "e5").await;
}
