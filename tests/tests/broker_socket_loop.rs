//! The example broker's socket loop (`core/examples/broker.rs`) serves
//! ready connections in the order their bytes arrived, not by connection
//! number: a newer client's SUBSCRIBE sent before an older client's
//! PUBLISH is handled first, so the subscriber gets the message.
//!
//! Deterministic: the broker is stopped (SIGSTOP) while the two packets
//! arrive, so both wait for the same poll when it continues (SIGCONT).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use mqtt_tests::broker_proc::ExampleBroker;

/// Connects with a 3.1.1 CONNECT (clean session, keep alive 60) and reads
/// the CONNACK.
fn connect(broker: &ExampleBroker, id: &str) -> TcpStream {
    let mut s = TcpStream::connect(broker.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c];
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    s.write_all(&packet).unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).expect("CONNACK");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "{id}: CONNACK accepted");
    s
}

fn signal(broker: &ExampleBroker, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &broker.pid().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn ready_connections_are_served_in_arrival_order() {
    let broker = ExampleBroker::start(&[]);
    // The older connection publishes, the newer one subscribes.
    let mut publisher = connect(&broker, "older-publisher");
    let mut subscriber = connect(&broker, "newer-subscriber");

    signal(&broker, "-STOP");
    // SUBSCRIBE, packet id 1, "fair/t" at QoS 0; then, after it, the
    // PUBLISH (QoS 0, "fair/t", "x").
    subscriber
        .write_all(&[
            0x82, 0x0b, 0x00, 0x01, 0x00, 0x06, b'f', b'a', b'i', b'r', b'/', b't', 0x00,
        ])
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    publisher
        .write_all(&[
            0x30, 0x09, 0x00, 0x06, b'f', b'a', b'i', b'r', b'/', b't', b'x',
        ])
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    signal(&broker, "-CONT");

    let mut suback = [0u8; 5];
    subscriber.read_exact(&mut suback).expect("SUBACK");
    assert_eq!(suback, [0x90, 0x03, 0x00, 0x01, 0x00]);
    let mut publish = [0u8; 11];
    subscriber.read_exact(&mut publish).unwrap_or_else(|e| {
        panic!("the PUBLISH sent after the SUBSCRIBE did not arrive ({e}): served out of order")
    });
    assert_eq!(
        publish,
        [0x30, 0x09, 0x00, 0x06, b'f', b'a', b'i', b'r', b'/', b't', b'x']
    );
}
