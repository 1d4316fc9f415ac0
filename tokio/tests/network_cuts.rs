//! The network between the clients and mosquitto is cut (a proxy closes the
//! TCP connection, no DISCONNECT) at random moments in the middle of QoS 1
//! and QoS 2 streams, a bounded number of times, on the publisher's side
//! and on the subscriber's: each client reconnects,
//! resumes its session and resends what was in flight. Nothing is lost
//! [MQTT-4.3.2-1], QoS 2 is delivered exactly once [MQTT-4.3.3-1], and the
//! order per topic is kept [MQTT-4.6.0-2] [MQTT-4.6.0-3]. And the will is
//! published when the connection is cut [MQTT-3.1.2-8], through mosquitto
//! and through our example broker.

mod common;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::time::Duration;

use common::{ExampleBroker, Mosquitto, Proxy, WAIT};
use mqtt_tokio::mqtt_core::codec::Will;
use mqtt_tokio::{
    Backoff, ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode, Status,
};

const TOPICS: u32 = 4;
const PER_TOPIC: u32 = 100;
const CUTS: u32 = 6;

fn options(addr: SocketAddr, version: ProtocolVersion, name: &str) -> ConnectOptions {
    let id = format!("tokio-cuts-{name}-{}", std::process::id());
    let client = ClientOptions::new(version, &id)
        .expect("client id")
        .with_clean_start(false)
        .with_session_expiry_interval(3600);
    ConnectOptions::new(addr.ip().to_string(), addr.port(), client)
        .with_reconnect(Some(Backoff::new(20, 200)))
}

/// Which broker the cut streams go through.
#[derive(Clone, Copy)]
enum Through {
    Mosquitto,
    ExampleBroker,
}

async fn streams_survive_random_cuts(
    version: ProtocolVersion,
    qos: QoS,
    tag: &str,
    through: Through,
) {
    // Kept alive to the end of the test (both kill their broker on drop).
    let (_broker, addr): (Box<dyn std::any::Any + Send>, SocketAddr) = match through {
        Through::Mosquitto => {
            let b = Mosquitto::start(false);
            let addr = b.addr;
            (Box::new(b), addr)
        }
        Through::ExampleBroker => {
            let b = ExampleBroker::start(&[]);
            let addr = b.addr;
            (Box::new(b), addr)
        }
    };
    let proxy = Proxy::start(addr).await;
    let sub_proxy = Proxy::start(addr).await;
    let base = format!("tokio/cuts/{tag}");
    // Each client through a proxy of its own.
    let (sub, _) = mqtt_tokio::connect(options(sub_proxy.addr, version, &format!("{tag}-sub")))
        .await
        .expect("subscriber connects");
    let mut messages = sub.messages().unwrap();
    sub.subscribe(&format!("{base}/#"), qos)
        .await
        .expect("SUBACK");
    let (publisher, _) = mqtt_tokio::connect(options(proxy.addr, version, &format!("{tag}-pub")))
        .await
        .expect("publisher connects");

    // One task per topic, each publishing in order, one at a time.
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TOPICS {
        let publisher = publisher.clone();
        let topic = format!("{base}/{t}");
        tasks.spawn(async move {
            for i in 0..PER_TOPIC {
                let done = publisher
                    .publish(&topic, qos, i.to_be_bytes().to_vec())
                    .await
                    .unwrap_or_else(|e| panic!("{topic} #{i}: {e}"));
                // PUBCOMP 0x92 is no refusal: our PUBREL was resent after a
                // cut that lost the server's PUBCOMP, and the server had
                // already released the message (see the core's
                // `Event::PublishCompleted`).
                assert!(
                    !done.reason_code.is_error()
                        || done.reason_code == ReasonCode::PacketIdentifierNotFound,
                    "{topic} #{i}: {done:?}"
                );
            }
        });
    }
    // Cut the connections at random moments: the publisher's, then the
    // subscriber's, in turn (a session resumed on either side).
    let cutter = {
        let mut seed = RandomState::new().build_hasher().finish() | 1;
        tokio::spawn(async move {
            for n in 0..CUTS {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                tokio::time::sleep(Duration::from_millis(10 + seed % 60)).await;
                if n % 2 == 0 {
                    proxy.cut();
                } else {
                    sub_proxy.cut();
                }
            }
            (proxy, sub_proxy)
        })
    };

    let mut seen: Vec<Vec<u32>> = vec![Vec::new(); TOPICS as usize];
    let total = (TOPICS * PER_TOPIC) as usize;
    let mut distinct = std::collections::HashSet::new();
    while distinct.len() < total {
        let m = tokio::time::timeout(WAIT, messages.recv())
            .await
            .unwrap_or_else(|_| panic!("stalled at {} of {total}", distinct.len()))
            .expect("stream open");
        let t: u32 = m
            .publish
            .topic
            .as_str()
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let i = u32::from_be_bytes(m.publish.payload[..4].try_into().unwrap());
        seen[t as usize].push(i);
        distinct.insert((t, i));
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("publishing task");
    }
    let _proxy = cutter.await.expect("cutter");
    let mut duplicates = 0;
    for (t, got) in seen.iter().enumerate() {
        // First occurrences in publishing order (a QoS 1 resend may repeat
        // an earlier message, never reorder new ones).
        let mut firsts = Vec::new();
        for i in got {
            if !firsts.contains(i) {
                firsts.push(*i);
            } else {
                duplicates += 1;
            }
        }
        assert_eq!(
            firsts,
            (0..PER_TOPIC).collect::<Vec<_>>(),
            "topic {t} out of order"
        );
    }
    if qos == QoS::ExactlyOnce {
        assert_eq!(duplicates, 0, "QoS 2 delivered more than once");
    }
    // After the last cut the publisher is back, on its resumed session.
    let mut status = publisher.status();
    let connected =
        tokio::time::timeout(WAIT, status.wait_for(|s| matches!(s, Status::Connected(_))))
            .await
            .expect("reconnected in time")
            .expect("status");
    match &*connected {
        Status::Connected(info) => assert!(info.session_present, "{info:?}"),
        other => panic!("publisher not connected: {other:?}"),
    }
    drop(connected);
    let mut sub_status = sub.status();
    tokio::time::timeout(
        WAIT,
        sub_status.wait_for(|s| matches!(s, Status::Connected(_))),
    )
    .await
    .expect("the subscriber reconnected in time")
    .expect("status");
    let reconnects = publisher.stats().connections;
    let sub_reconnects = sub.stats().connections;
    println!(
        "{tag}: {total} messages, {duplicates} duplicates, {reconnects} publisher and \
         {sub_reconnects} subscriber connections"
    );
    assert!(
        reconnects > 1,
        "the publisher's connection was cut at least once"
    );
    assert!(
        sub_reconnects > 1,
        "the subscriber's connection was cut at least once"
    );
    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .unwrap();
    sub.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .unwrap();
}

macro_rules! cut_tests {
    ($($name:ident: $version:ident, $qos:ident, $tag:literal, $through:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            tokio::time::timeout(
                Duration::from_secs(90),
                streams_survive_random_cuts(ProtocolVersion::$version, QoS::$qos, $tag, Through::$through),
            )
            .await
            .expect("within 90 s");
        }
    )*};
}

cut_tests! {
    qos1_streams_survive_random_cuts_v311: V311, AtLeastOnce, "q1-v311", Mosquitto;
    qos1_streams_survive_random_cuts_v5: V5, AtLeastOnce, "q1-v5", Mosquitto;
    qos2_streams_survive_random_cuts_v311: V311, ExactlyOnce, "q2-v311", Mosquitto;
    qos2_streams_survive_random_cuts_v5: V5, ExactlyOnce, "q2-v5", Mosquitto;
    qos1_streams_survive_random_cuts_through_our_broker_v311: V311, AtLeastOnce, "ex-q1-v311", ExampleBroker;
    qos2_streams_survive_random_cuts_through_our_broker_v5: V5, ExactlyOnce, "ex-q2-v5", ExampleBroker;
}

async fn will_is_published_when_the_connection_is_cut(
    broker: SocketAddr,
    version: ProtocolVersion,
    tag: &str,
) {
    let proxy = Proxy::start(broker).await;
    let topic = format!("tokio/will/{tag}");
    let (watcher, _) = mqtt_tokio::connect(options(broker, version, &format!("{tag}-w")))
        .await
        .expect("watcher connects");
    let mut messages = watcher.messages().unwrap();
    watcher
        .subscribe(&topic, QoS::AtLeastOnce)
        .await
        .expect("SUBACK");
    let mut will_options = options(proxy.addr, version, &format!("{tag}-dying"));
    will_options.client = will_options
        .client
        .with_will(Will::new(&topic, &b"gone"[..], QoS::AtLeastOnce).unwrap());
    let (dying, _) = mqtt_tokio::connect(will_options).await.expect("connects");
    // Nothing before the cut.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), messages.recv())
            .await
            .is_err(),
        "no will while connected"
    );
    proxy.cut();
    let will = tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("the will in time")
        .expect("stream open");
    assert_eq!(&will.publish.payload[..], b"gone");
    // A normal disconnect afterwards publishes no will [MQTT-3.14.4-3].
    let mut status = dying.status();
    tokio::time::timeout(WAIT, status.wait_for(|s| matches!(s, Status::Connected(_))))
        .await
        .expect("reconnected in time")
        .unwrap();
    dying
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), messages.recv())
            .await
            .is_err(),
        "no will after a normal DISCONNECT"
    );
    watcher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_when_the_connection_is_cut_v311() {
    let broker = Mosquitto::start(false);
    will_is_published_when_the_connection_is_cut(broker.addr, ProtocolVersion::V311, "v311").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_when_the_connection_is_cut_v5() {
    let broker = Mosquitto::start(false);
    will_is_published_when_the_connection_is_cut(broker.addr, ProtocolVersion::V5, "v5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_when_the_connection_is_cut_example_broker_v311() {
    let broker = ExampleBroker::start(&[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port()));
    will_is_published_when_the_connection_is_cut(addr, ProtocolVersion::V311, "e311").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_when_the_connection_is_cut_example_broker_v5() {
    let broker = ExampleBroker::start(&[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port()));
    will_is_published_when_the_connection_is_cut(addr, ProtocolVersion::V5, "e5").await;
}
