//! Test tools shared by libmqtt's workspace-level tests: the golden byte
//! vectors (also the fuzzers' seed corpus), a scripted server for client
//! tests ([`scripted`]), a scripted client and a client/server pair for
//! server tests ([`server`]), a blocking `std::net` driver for tests against a
//! real broker ([`net`]), a seeded simulation of several clients against the
//! broker engine ([`broker_sim`]) over a simulated link ([`link`]), the
//! same with a durable broker that crashes ([`broker_crash_sim`]), a
//! runner for the example broker and other processes ([`broker_proc`]), the
//! conformance maps' parser and checks ([`conformance`]) and small helpers.

pub mod broker_crash_sim;
pub mod broker_proc;
pub mod broker_sim;
pub mod conformance;
pub mod engine_net;
pub mod golden;
pub mod link;
pub mod net;
pub mod scripted;
pub mod server;
pub mod sim;

/// Parses a string of hex byte pairs, ignoring whitespace.
///
/// ```
/// assert_eq!(mqtt_tests::hex("C0 00"), vec![0xC0, 0x00]);
/// ```
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {s:?}"
    );
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).expect("ascii");
            u8::from_str_radix(text, 16).unwrap_or_else(|_| panic!("bad hex {text:?}"))
        })
        .collect()
}
