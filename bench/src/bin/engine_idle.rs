//! The broker engine's cost per turn with many idle connections (issue 17):
//! N idle 3.1.1 clients (keep alive 60) connected to `mqtt_core::broker::Broker`
//! in memory, and one busy pair (5.0) exchanging QoS 1 messages through it.
//! Prints the time of `poll_timeout`, of a `handle_timeout` with nothing
//! due, and per message (with the `poll_timeout` a driver calls each turn
//! of its loop), and how long connecting the N clients took.
//!
//!     cd bench && cargo run --release --bin engine_idle -- 20000
use mqtt_core::broker::{Broker, BrokerOptions};
use mqtt_core::client::{Client, ClientOptions};
use mqtt_core::codec::{
    ProtocolVersion, Publish, QoS, Subscribe, SubscribeFilter, SubscriptionOptions,
};
use std::time::Instant;

/// The wall clock, for timing only (the sans-IO core has no clock: it
/// takes the time as a number of milliseconds, as here).
#[allow(clippy::disallowed_methods)]
fn clock() -> Instant {
    Instant::now()
}

/// A 3.1.1 CONNECT: clean session, keep alive 60 s, client id `id`
/// (shorter than 116 bytes).
fn connect_bytes(id: &str) -> Vec<u8> {
    let mut v = vec![0x10, (12 + id.len()) as u8];
    v.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60]);
    v.extend_from_slice(&[0, id.len() as u8]);
    v.extend_from_slice(id.as_bytes());
    v
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let msgs: usize = 20_000;
    let mut limits = mqtt_core::broker::BrokerLimits::default();
    limits.max_connections = 100_000;
    let mut b = Broker::new(BrokerOptions::new().with_limits(limits));
    let setup = clock();
    let mut now = 1u64;
    for i in 0..n {
        let c = b.connection_opened(now);
        b.handle_input(c, now, &connect_bytes(&format!("idle{i}")));
        while b.poll_output().is_some() {}
    }
    let connecting = setup.elapsed();
    // Busy pair.
    let mut sub = Client::new(ClientOptions::new(ProtocolVersion::V5, "sub").unwrap());
    let mut publ = Client::new(ClientOptions::new(ProtocolVersion::V5, "pub").unwrap());
    let cs = b.connection_opened(now);
    let cp = b.connection_opened(now);
    sub.connect(now).unwrap();
    publ.connect(now).unwrap();
    let pump = |b: &mut Broker,
                sub: &mut Client,
                publ: &mut Client,
                now: u64,
                polls: &mut u32,
                received: &mut usize| {
        loop {
            let mut moved = false;
            let x = sub.take_transmit();
            if !x.is_empty() {
                b.handle_input(cs, now, &x);
                moved = true;
            }
            let x = publ.take_transmit();
            if !x.is_empty() {
                b.handle_input(cp, now, &x);
                moved = true;
            }
            while let Some((c, bytes)) = b.poll_output() {
                moved = true;
                if c == cs {
                    sub.handle_input(now, &bytes)
                } else if c == cp {
                    publ.handle_input(now, &bytes)
                }
            }
            while let Some(e) = sub.poll_event() {
                *received += usize::from(matches!(e, mqtt_core::client::Event::Message(_)));
            }
            while publ.poll_event().is_some() {}
            // A driver asks once per turn.
            std::hint::black_box(b.poll_timeout());
            *polls += 1;
            if !moved {
                break;
            }
        }
    };
    let mut polls = 0;
    let mut received = 0;
    pump(&mut b, &mut sub, &mut publ, now, &mut polls, &mut received);
    sub.subscribe(
        now,
        Subscribe::new(
            1,
            vec![SubscribeFilter::new("t", SubscriptionOptions::new(QoS::AtLeastOnce)).unwrap()],
        ),
    )
    .unwrap();
    pump(&mut b, &mut sub, &mut publ, now, &mut polls, &mut received);
    // poll_timeout alone.
    let reps = 2000;
    let t = clock();
    for _ in 0..reps {
        std::hint::black_box(b.poll_timeout());
    }
    let per_poll = t.elapsed().as_nanos() as f64 / reps as f64;
    // handle_timeout with nothing due.
    let t = clock();
    for _ in 0..reps {
        b.handle_timeout(now);
    }
    let per_ht = t.elapsed().as_nanos() as f64 / reps as f64;
    // Messages.
    let mut polls = 0;
    let t = clock();
    for i in 0..msgs {
        now += (i % 2) as u64;
        let p = Publish::new("t", b"hello".to_vec())
            .unwrap()
            .with_qos(QoS::AtLeastOnce, 0);
        publ.publish(now, p).unwrap();
        pump(&mut b, &mut sub, &mut publ, now, &mut polls, &mut received);
    }
    let per_msg = t.elapsed().as_nanos() as f64 / msgs as f64;
    assert_eq!(received, msgs, "every message delivered");
    assert_eq!(b.connection_count(), n + 2, "every client connected");
    println!("idle={n} poll_timeout={per_poll:.0} ns handle_timeout(nothing due)={per_ht:.0} ns per QoS1 message (incl. {:.1} poll_timeout/msg)={per_msg:.0} ns; conns={} next={:?}; connecting {n} clients took {connecting:?}",
        polls as f64 / msgs as f64, b.connection_count(), b.poll_timeout());
}
