//! Manual acknowledgement against real brokers: a QoS 1 message the
//! application has not acknowledged gets no PUBACK, so after the
//! connection is cut (a proxy closes it, no DISCONNECT) and the session
//! resumes, the broker delivers it again with DUP [MQTT-4.4.0-1]; once
//! acknowledged, it is not delivered again after the next cut. Through
//! mosquitto and our example broker, 3.1.1 and 5.0.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{ExampleBroker, Mosquitto, Proxy, WAIT};
use mqtt_tokio::{
    Backoff, ClientOptions, ConnectOptions, Message, Messages, ProtocolVersion, QoS, ReasonCode,
    Status,
};

fn options(addr: SocketAddr, version: ProtocolVersion, name: &str) -> ConnectOptions {
    let id = format!("tokio-mack-{name}-{}", std::process::id());
    let client = ClientOptions::new(version, &id).expect("client id");
    ConnectOptions::new(addr.ip().to_string(), addr.port(), client)
        .with_reconnect(Some(Backoff::new(20, 200)))
}

async fn next(messages: &mut Messages) -> Message {
    tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("a message in time")
        .expect("stream open")
}

async fn cut_and_resume(proxy: &Proxy, client: &mqtt_tokio::Client) {
    let mut status = client.status();
    status.borrow_and_update();
    proxy.cut();
    tokio::time::timeout(
        WAIT,
        status.wait_for(|s| !matches!(s, Status::Connected(_))),
    )
    .await
    .expect("the cut is seen in time")
    .expect("status");
    let s = tokio::time::timeout(WAIT, status.wait_for(|s| matches!(s, Status::Connected(_))))
        .await
        .expect("reconnected in time")
        .expect("status")
        .clone();
    let Status::Connected(info) = s else {
        unreachable!()
    };
    assert!(info.session_present, "the session resumes");
}

async fn unacknowledged_is_redelivered(broker: SocketAddr, version: ProtocolVersion, tag: &str) {
    let proxy = Proxy::start(broker).await;
    let topic = format!("tokio/mack/{tag}");
    let mut o = options(proxy.addr, version, &format!("{tag}-sub"));
    o.client = o
        .client
        .with_manual_ack(true)
        .with_clean_start(false)
        .with_session_expiry_interval(300);
    let (sub, _) = mqtt_tokio::connect(o).await.expect("subscriber connects");
    let mut messages = sub.messages().expect("stream");
    sub.subscribe(&topic, QoS::AtLeastOnce)
        .await
        .expect("SUBACK");
    let (publisher, _) = mqtt_tokio::connect(options(broker, version, &format!("{tag}-pub")))
        .await
        .expect("publisher connects");

    publisher
        .publish(&topic, QoS::AtLeastOnce, "m1")
        .await
        .expect("publish m1");
    let first = next(&mut messages).await;
    assert_eq!(&first.publish.payload[..], b"m1");
    assert!(first.ack_token.is_some(), "manual ack gives a token");
    // Not acknowledged: nothing more comes while connected.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), messages.recv())
            .await
            .is_err(),
        "no redelivery on the same connection"
    );

    cut_and_resume(&proxy, &sub).await;
    let again = next(&mut messages).await;
    assert_eq!(
        &again.publish.payload[..],
        b"m1",
        "redelivered after the resume"
    );
    assert!(again.publish.dup, "with DUP [MQTT-3.3.1-1]");
    sub.acknowledge(again.ack_token.expect("token"))
        .expect("acknowledge");
    // Give the PUBACK time to leave before the next cut.
    tokio::time::sleep(Duration::from_millis(200)).await;

    cut_and_resume(&proxy, &sub).await;
    publisher
        .publish(&topic, QoS::AtLeastOnce, "m2")
        .await
        .expect("publish m2");
    let after = next(&mut messages).await;
    assert_eq!(
        &after.publish.payload[..],
        b"m2",
        "an acknowledged message is not delivered again"
    );
    sub.acknowledge(after.ack_token.expect("token"))
        .expect("acknowledge");
    sub.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_qos1_is_redelivered_after_a_cut_mosquitto_v311() {
    let broker = Mosquitto::start(false);
    unacknowledged_is_redelivered(broker.addr, ProtocolVersion::V311, "m3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_qos1_is_redelivered_after_a_cut_mosquitto_v5() {
    let broker = Mosquitto::start(false);
    unacknowledged_is_redelivered(broker.addr, ProtocolVersion::V5, "m5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_qos1_is_redelivered_after_a_cut_example_broker_v311() {
    let broker = ExampleBroker::start(&[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port()));
    unacknowledged_is_redelivered(addr, ProtocolVersion::V311, "e3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_qos1_is_redelivered_after_a_cut_example_broker_v5() {
    let broker = ExampleBroker::start(&[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port()));
    unacknowledged_is_redelivered(addr, ProtocolVersion::V5, "e5").await;
}
