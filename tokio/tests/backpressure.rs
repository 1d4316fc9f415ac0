//! A subscriber that stops reading its message stream: the client stops
//! reading from the socket once the stream's buffer is full, so what it
//! holds stays bounded however much the broker sends; when the
//! application reads again, the messages flow again.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Mosquitto, WAIT};
use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode};

const MESSAGES: u32 = 4000;
const SIZE: usize = 1024;
const CAPACITY: usize = 8;

fn options(addr: SocketAddr, name: &str) -> ConnectOptions {
    let id = format!("tokio-bp-{name}-{}", std::process::id());
    let client = ClientOptions::new(ProtocolVersion::V5, &id).expect("client id");
    ConnectOptions::new(addr.ip().to_string(), addr.port(), client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_holds_a_bounded_amount() {
    let test = async {
        let broker = Mosquitto::start(false);
        let (sub, _) =
            mqtt_tokio::connect(options(broker.addr, "sub").with_message_capacity(CAPACITY))
                .await
                .expect("subscriber connects");
        let mut messages = sub.messages().unwrap();
        sub.subscribe("tokio/bp", QoS::AtMostOnce)
            .await
            .expect("SUBACK");
        let (publisher, _) = mqtt_tokio::connect(options(broker.addr, "pub"))
            .await
            .expect("publisher connects");
        for i in 0..MESSAGES {
            let mut payload = vec![0u8; SIZE];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            publisher
                .publish("tokio/bp", QoS::AtMostOnce, payload)
                .await
                .expect("publish");
        }
        // A QoS 1 publish after them: its PUBACK says mosquitto has taken
        // everything before it.
        publisher
            .publish("tokio/bp/done", QoS::AtLeastOnce, "done")
            .await
            .expect("PUBACK");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = u64::from(MESSAGES) * SIZE as u64;
        let read = sub.stats().bytes_received;
        // The stream's buffer, the messages of one 64 KiB read waiting for
        // it, and one more read: far below what was sent.
        let bound = (CAPACITY * SIZE + 2 * 64 * 1024) as u64;
        println!("sent {sent} bytes, the stalled subscriber read {read}");
        assert!(
            read <= bound,
            "read {read} bytes while not reading (bound {bound})"
        );
        // Reading again: messages flow (QoS 0: the broker may have dropped
        // some for the slow subscriber, so count what comes, in order).
        let mut last = None;
        let mut n = 0;
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(500), messages.recv()).await
        {
            let i = u32::from_be_bytes(m.publish.payload[..4].try_into().unwrap());
            assert!(last.is_none_or(|l| i > l), "in order");
            last = Some(i);
            n += 1;
        }
        println!("then read {n} messages");
        assert!(n > CAPACITY, "messages flow again once read");
        assert!(sub.stats().bytes_received > read);
        publisher
            .disconnect(ReasonCode::NORMAL_DISCONNECTION)
            .await
            .unwrap();
        sub.disconnect(ReasonCode::NORMAL_DISCONNECTION)
            .await
            .unwrap();
    };
    tokio::time::timeout(WAIT * 3, test).await.expect("in time");
}
