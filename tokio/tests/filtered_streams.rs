//! Per-filter message streams (`Client::subscribe_stream`) through
//! mosquitto and our example broker, MQTT 3.1.1 and 5.0: each stream gets
//! the messages of its filter, a message matching two streams goes to
//! both, a message matching none goes to the general stream, and a
//! dropped stream unsubscribes.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use common::{ExampleBroker, Mosquitto, Peer, WAIT};
use mqtt_tokio::{
    ClientOptions, ConnectOptions, Message, MessageStream, Messages, ProtocolVersion, QoS,
};

fn options(addr: SocketAddr, version: ProtocolVersion, name: &str) -> ConnectOptions {
    let id = format!("tokio-fs-{name}-{}", std::process::id());
    let client = ClientOptions::new(version, &id).expect("client id");
    ConnectOptions::new(addr.ip().to_string(), addr.port(), client)
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(&m.publish.payload).into_owned()
}

/// Reads `stream` until `last` arrives; returns the distinct payloads.
async fn until_stream(stream: &mut MessageStream, last: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    loop {
        let m = tokio::time::timeout(WAIT, stream.recv())
            .await
            .expect("in time")
            .expect("a message");
        let t = text(&m);
        seen.insert(t.clone());
        if t == last {
            return seen;
        }
    }
}

async fn until_general(stream: &mut Messages, last: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    loop {
        let m = tokio::time::timeout(WAIT, stream.recv())
            .await
            .expect("in time")
            .expect("a message");
        let t = text(&m);
        seen.insert(t.clone());
        if t == last {
            return seen;
        }
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn streams_route_by_filter(addr: SocketAddr, version: ProtocolVersion, tag: &str) {
    let (sub, _) = mqtt_tokio::connect(options(addr, version, &format!("{tag}-sub")))
        .await
        .expect("subscriber connects");
    let mut general = sub.messages().expect("general stream");
    let base = format!("tokio/fs/{tag}");
    let (code_a, mut a) = sub
        .subscribe_stream(&format!("{base}/a/#"), QoS::AtLeastOnce)
        .await
        .expect("stream a");
    assert!(!code_a.is_error());
    assert_eq!(a.filter(), format!("{base}/a/#"));
    let (_, mut b) = sub
        .subscribe_stream(&format!("{base}/+/x"), QoS::AtLeastOnce)
        .await
        .expect("stream b");
    sub.subscribe(&format!("{base}/c"), QoS::AtLeastOnce)
        .await
        .expect("general subscription");

    let (publisher, _) = mqtt_tokio::connect(options(addr, version, &format!("{tag}-pub")))
        .await
        .expect("publisher connects");
    for (topic, payload) in [
        ("a/1", "a1"),
        ("a/x", "ax"),
        ("b/x", "bx"),
        ("c", "c1"),
        ("a/end", "a-end"),
        ("end/x", "b-end"),
    ] {
        publisher
            .publish(&format!("{base}/{topic}"), QoS::AtLeastOnce, payload)
            .await
            .expect("publish");
    }
    // QoS 1 from one publisher arrive in order per subscription; reading
    // until the last one of each stream sees all the earlier ones.
    assert_eq!(
        until_stream(&mut a, "a-end").await,
        set(&["a1", "ax", "a-end"])
    );
    assert_eq!(
        until_stream(&mut b, "b-end").await,
        set(&["ax", "bx", "b-end"])
    );
    assert_eq!(until_general(&mut general, "c1").await, set(&["c1"]));

    // Dropping b unsubscribes: b/x is delivered to nobody, c still is.
    drop(b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    publisher
        .publish(&format!("{base}/b/x"), QoS::AtLeastOnce, "bx-after")
        .await
        .expect("publish");
    publisher
        .publish(&format!("{base}/c"), QoS::AtLeastOnce, "c2")
        .await
        .expect("publish");
    assert_eq!(
        until_general(&mut general, "c2").await,
        set(&["c2"]),
        "a message of the dropped stream's filter must not reach the general stream"
    );
    publisher
        .publish(&format!("{base}/a/2"), QoS::AtLeastOnce, "a2")
        .await
        .expect("publish");
    let m = tokio::time::timeout(WAIT, a.recv())
        .await
        .expect("in time")
        .expect("a message");
    if version == ProtocolVersion::V5 {
        // Routed by Subscription Identifier: no copy of earlier overlaps.
        assert_eq!(text(&m), "a2");
        assert_eq!(m.publish.properties.subscription_identifiers.len(), 1);
    }

    sub.disconnect(mqtt_tokio::ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    assert!(
        tokio::time::timeout(WAIT, async { while a.recv().await.is_some() {} })
            .await
            .is_ok(),
        "a per-filter stream ends when the client is closed"
    );
    publisher
        .disconnect(mqtt_tokio::ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
}

/// In 5.0 each stream's messages carry exactly its Subscription
/// Identifier, and overlapping filters do not duplicate messages in a
/// stream, whether the server sends a copy per subscription (mosquitto)
/// or one copy with both identifiers (our broker).
async fn overlapping_streams_get_one_copy_each(addr: SocketAddr, tag: &str) {
    let version = ProtocolVersion::V5;
    let (sub, _) = mqtt_tokio::connect(options(addr, version, &format!("{tag}-osub")))
        .await
        .expect("subscriber connects");
    let mut general = sub.messages().expect("general stream");
    let base = format!("tokio/fs/{tag}/o");
    let (_, mut wide) = sub
        .subscribe_stream(&format!("{base}/#"), QoS::AtLeastOnce)
        .await
        .expect("wide");
    let (_, mut narrow) = sub
        .subscribe_stream(&format!("{base}/n"), QoS::AtLeastOnce)
        .await
        .expect("narrow");
    let (publisher, _) = mqtt_tokio::connect(options(addr, version, &format!("{tag}-opub")))
        .await
        .expect("publisher connects");
    for p in ["1", "2", "3"] {
        publisher
            .publish(&format!("{base}/n"), QoS::AtLeastOnce, p)
            .await
            .expect("publish");
    }
    for (name, s) in [("wide", &mut wide), ("narrow", &mut narrow)] {
        let mut got = Vec::new();
        for _ in 0..3 {
            let m = tokio::time::timeout(WAIT, s.recv())
                .await
                .expect("in time")
                .expect("a message");
            got.push(text(&m));
        }
        assert_eq!(got, ["1", "2", "3"], "{name}: one copy each, in order");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(100), general.recv())
            .await
            .is_err(),
        "nothing for the general stream"
    );
    assert!(
        narrow.rx_is_empty_for_test().await,
        "no further copy in the narrow stream"
    );
    drop(sub);
    drop(publisher);
}

trait Empty {
    async fn rx_is_empty_for_test(&mut self) -> bool;
}

impl Empty for MessageStream {
    async fn rx_is_empty_for_test(&mut self) -> bool {
        tokio::time::timeout(Duration::from_millis(100), self.recv())
            .await
            .is_err()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_filter_streams_through_mosquitto_v5() {
    let broker = Mosquitto::start(false);
    streams_route_by_filter(broker.addr, ProtocolVersion::V5, "m5").await;
    overlapping_streams_get_one_copy_each(broker.addr, "m5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_filter_streams_through_mosquitto_v311() {
    let broker = Mosquitto::start(false);
    streams_route_by_filter(broker.addr, ProtocolVersion::V311, "m3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_filter_streams_through_the_example_broker_v5() {
    let broker = ExampleBroker::start(&[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port()));
    streams_route_by_filter(addr, ProtocolVersion::V5, "e5").await;
    overlapping_streams_get_one_copy_each(addr, "e5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_filter_streams_through_the_example_broker_v311() {
    let broker = ExampleBroker::start(&[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port()));
    streams_route_by_filter(addr, ProtocolVersion::V311, "e3").await;
}

/// A per-filter stream is bounded like the general one: while it is full
/// the connection reads nothing more, so a message for the general stream
/// behind it waits too (documented head-of-line blocking); once the
/// stream is read, everything arrives, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_per_filter_stream_holds_the_connection_until_it_is_read() {
    let broker = Mosquitto::start(false);
    let version = ProtocolVersion::V5;
    let base = "tokio/fs/full";
    let (sub, _) =
        mqtt_tokio::connect(options(broker.addr, version, "full-sub").with_message_capacity(4))
            .await
            .expect("subscriber connects");
    let mut general = sub.messages().expect("general stream");
    let (_, mut slow) = sub
        .subscribe_stream(&format!("{base}/slow"), QoS::AtLeastOnce)
        .await
        .expect("stream");
    sub.subscribe(&format!("{base}/other"), QoS::AtLeastOnce)
        .await
        .expect("general subscription");
    let (publisher, _) = mqtt_tokio::connect(options(broker.addr, version, "full-pub"))
        .await
        .expect("publisher connects");
    for i in 0..50 {
        publisher
            .publish(&format!("{base}/slow"), QoS::AtMostOnce, i.to_string())
            .await
            .expect("publish");
    }
    publisher
        .publish(&format!("{base}/other"), QoS::AtMostOnce, "other")
        .await
        .expect("publish");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), general.recv())
            .await
            .is_err(),
        "the general stream's message waits behind the full stream"
    );
    for i in 0..50 {
        let m = tokio::time::timeout(WAIT, slow.recv())
            .await
            .expect("in time")
            .expect("a message");
        assert_eq!(text(&m), i.to_string(), "in order, none lost");
    }
    let m = tokio::time::timeout(WAIT, general.recv())
        .await
        .expect("in time")
        .expect("a message");
    assert_eq!(text(&m), "other");
}

/// A 5.0 server whose CONNACK says it has no Subscription Identifiers:
/// streams are subscribed without one and routed by topic match; a stream
/// told to keep its subscription sends no UNSUBSCRIBE when dropped (its
/// messages then go to the general stream), one left as it is does.
#[tokio::test]
async fn without_subscription_identifiers_streams_route_by_topic() {
    use mqtt_tokio::mqtt_core::codec::{ConnAck, Packet, Publish, SubAck};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let client = ClientOptions::new(ProtocolVersion::V5, "no-sub-ids").unwrap();
    let connecting = tokio::spawn(mqtt_tokio::connect(
        ConnectOptions::new("127.0.0.1", port, client).with_reconnect(None),
    ));
    let mut p = Peer::accept(&l).await;
    let Packet::Connect(_) = p.read().await else {
        panic!("CONNECT")
    };
    let mut connack = ConnAck::new(false, mqtt_tokio::ReasonCode::Success);
    connack.properties.subscription_identifiers_available = Some(false);
    p.write(Packet::ConnAck(Box::new(connack))).await;
    let (client, _) = connecting.await.unwrap().expect("connected");
    let mut general = client.messages().unwrap();

    let mut streams = Vec::new();
    for filter in ["s/+", "t"] {
        let subscribing = {
            let client = client.clone();
            tokio::spawn(async move { client.subscribe_stream(filter, QoS::AtMostOnce).await })
        };
        let Packet::Subscribe(sub) = p.read().await else {
            panic!("SUBSCRIBE")
        };
        assert_eq!(
            sub.properties.subscription_identifier, None,
            "no identifier to a server without them"
        );
        p.write(Packet::SubAck(SubAck::new(
            sub.packet_id,
            vec![mqtt_tokio::ReasonCode::Success],
        )))
        .await;
        streams.push(subscribing.await.unwrap().expect("SUBACK").1);
    }
    let mut t = streams.pop().unwrap();
    let mut s_plus = streams.pop().unwrap();
    for (topic, payload) in [("s/1", "s1"), ("other", "o1"), ("t", "t1")] {
        p.write(Packet::Publish(Publish::new(topic, payload).unwrap()))
            .await;
    }
    let recv = |m: Option<Message>| text(&m.expect("a message"));
    assert_eq!(
        recv(tokio::time::timeout(WAIT, s_plus.recv()).await.unwrap()),
        "s1"
    );
    assert_eq!(
        recv(tokio::time::timeout(WAIT, t.recv()).await.unwrap()),
        "t1"
    );
    assert_eq!(
        recv(tokio::time::timeout(WAIT, general.recv()).await.unwrap()),
        "o1"
    );

    // Kept: no UNSUBSCRIBE, and its messages now go to the general stream.
    s_plus.set_unsubscribe_on_drop(false);
    drop(s_plus);
    p.write(Packet::Publish(Publish::new("s/2", "s2").unwrap()))
        .await;
    assert_eq!(
        recv(tokio::time::timeout(WAIT, general.recv()).await.unwrap()),
        "s2"
    );
    // Left as it is: UNSUBSCRIBE for its filter (and only for it).
    drop(t);
    let Packet::Unsubscribe(u) = p.read().await else {
        panic!("UNSUBSCRIBE after dropping the stream")
    };
    let filters: Vec<&str> = u.filters.iter().map(|f| f.as_str()).collect();
    assert_eq!(filters, ["t"]);
}
