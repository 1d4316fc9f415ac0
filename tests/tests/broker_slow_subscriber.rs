//! A subscriber that stops reading under a flood, through the example
//! broker (`core/examples/broker.rs`) over TCP on 127.0.0.1: the engine's
//! output policy (`Broker::set_writable`,
//! `BrokerLimits::max_output_bytes_per_connection`) keeps the broker's
//! memory bounded, drops QoS 0 messages for the congested subscriber, keeps
//! its QoS 1 messages, and never disconnects it. (Before, the example
//! broker buffered up to 64 MiB per connection and then disconnected the
//! subscriber.)

use std::time::{Duration, Instant};

use mqtt_core::client::{ClientOptions, Event};
use mqtt_core::codec::{ProtocolVersion, Publish, QoS, ReasonCode, Subscribe};
use mqtt_tests::broker_proc::ExampleBroker;
use mqtt_tests::net::{version_tag as tag, NetClient};

/// A field of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Bytes of QoS 0 messages published while the subscriber does not read:
/// more than twice the 64 MiB the example broker used to buffer.
const FLOOD_MESSAGES: usize = 150_000;
const MESSAGE_SIZE: usize = 1024;

#[allow(clippy::disallowed_methods)]
fn real_now() -> Instant {
    Instant::now()
}

fn flood_with_a_subscriber_that_stops_reading(version: ProtocolVersion) {
    let broker = ExampleBroker::start(&[]);
    let t = tag(version);
    let mut sub = NetClient::new(
        broker.addr,
        ClientOptions::new(version, &format!("slow-{t}")).unwrap(),
    );
    sub.connect();
    sub.subscribe(Subscribe::single(1, "flood", QoS::AtMostOnce).unwrap());
    sub.subscribe(Subscribe::single(2, "keep", QoS::AtLeastOnce).unwrap());
    let mut publ = NetClient::new(
        broker.addr,
        ClientOptions::new(version, &format!("pub-{t}")).unwrap(),
    );
    publ.connect();
    let baseline = status_kib(broker.pid(), "VmRSS:");

    // The subscriber reads nothing from here on.
    let payload = vec![b'x'; MESSAGE_SIZE];
    for _ in 0..FLOOD_MESSAGES {
        let p = Publish::new("flood", payload.clone()).unwrap();
        publ.publish(p).expect("publish");
    }
    for n in 0..20u8 {
        let p = Publish::new("keep", vec![n])
            .unwrap()
            .with_qos(QoS::AtLeastOnce, 0);
        let code = publ.publish_wait(p);
        assert!(
            matches!(code, ReasonCode::Success),
            "QoS 1 publish answered {code:?}"
        );
    }
    let peak = status_kib(broker.pid(), "VmHWM:");
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "{t}: broker RSS {baseline} KiB before, peak {peak} KiB after {} MiB published",
        (FLOOD_MESSAGES * MESSAGE_SIZE) >> 20
    );
    assert!(
        growth < 24 * 1024,
        "broker grew {growth} KiB while a subscriber did not read"
    );

    // The subscriber reads again: still connected, its QoS 1 messages all
    // there, in order, after the QoS 0 ones that were kept.
    let until = real_now() + Duration::from_secs(20);
    let (mut kept, mut flood) = (Vec::new(), 0usize);
    while kept.len() < 20 && real_now() < until && sub.is_open() {
        sub.drive_until(Duration::from_millis(50), |_| false);
        for e in sub.take_events() {
            if let Event::Message(m) = e {
                if m.publish.topic.as_str() == "keep" {
                    kept.push(m.publish.payload[0]);
                } else {
                    flood += 1;
                }
            }
        }
    }
    assert!(sub.is_open(), "the slow subscriber was disconnected");
    assert_eq!(kept, (0..20u8).collect::<Vec<_>>());
    assert!(flood > 0, "no QoS 0 message arrived at all");
    assert!(
        flood < FLOOD_MESSAGES,
        "every QoS 0 message was kept ({flood}): nothing bounded"
    );
    eprintln!("{t}: the subscriber got {flood} of {FLOOD_MESSAGES} QoS 0 messages");
    assert!(!broker.log().contains("not reading"), "{}", broker.log());
}

#[test]
fn a_subscriber_that_stops_reading_stays_connected_and_bounds_the_broker_v311() {
    flood_with_a_subscriber_that_stops_reading(ProtocolVersion::V311);
}

#[test]
fn a_subscriber_that_stops_reading_stays_connected_and_bounds_the_broker_v5() {
    flood_with_a_subscriber_that_stops_reading(ProtocolVersion::V5);
}
