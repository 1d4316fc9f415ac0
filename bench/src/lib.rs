//! Codec benchmark support for libmqtt.
//!
//! * [`fixtures`]: the packets every implementation is asked to encode/decode.
//! * [`Codec`]: the adapter trait the Criterion harness (`benches/codec.rs`) drives.
//! * [`peers`]: one adapter per peer crate from crates.io.
//! * [`ours`]: libmqtt's own adapters (`mqtt-core`): owned, borrowed, slice.
//! * [`trie`]: case (f), subscription matching against 100,000 filters.
//! * [`client`]: the client publish → ack loops (`benches/client.rs`,
//!   `benches/client_alloc.rs`): libmqtt's `Client` vs. rumqttc's `MqttState`.
//! * [`broker`]: the broker engine in memory (`benches/broker_engine.rs`):
//!   routing with 100,000 subscriptions, and `Broker` fan-out.
//!
//! Every adapter builds its packet once (outside timing), encodes it with its own
//! encoder to obtain its decode input, and exposes a [`Summary`] of what it decoded
//! so the harness and `cargo test` can check, outside timing, that all peers agree.

pub mod broker;
pub mod client;
pub mod fixtures;
pub mod ours;
pub mod peers;
pub mod trie;

use fixtures::Case;

/// Implementation-neutral view of a decoded packet, used only for verification
/// (never inside a timed loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Summary {
    Publish {
        topic: String,
        qos: u8,
        pkid: u16,
        payload: Vec<u8>,
        user_props: Vec<(String, String)>,
    },
    Subscribe {
        pkid: u16,
        filters: Vec<(String, u8)>,
    },
    Connect(ConnectSummary),
}

/// Fields of the 5.0 CONNECT fixture (see [`fixtures`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectSummary {
    pub client_id: String,
    pub clean_start: bool,
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub will_topic: Option<String>,
    pub will_payload: Option<Vec<u8>>,
    pub will_qos: u8,
    pub will_delay: Option<u32>,
    pub will_expiry: Option<u32>,
    pub will_content_type: Option<String>,
    pub session_expiry: Option<u32>,
    pub receive_max: Option<u16>,
    pub max_packet_size: Option<u32>,
    pub topic_alias_max: Option<u16>,
    pub user_props: Vec<(String, String)>,
}

/// One codec implementation, seen by the benchmark harness.
///
/// An implementation whose crate has separate types per protocol version (e.g.
/// rumqttc's `mqttbytes::v4` and `v5::mqttbytes::v5`) gets one adapter per
/// version, with the same [`Codec::NAME`]; `build` returns `None` for the cases
/// the adapter does not cover, and the harness skips those.
pub trait Codec {
    /// Column name in the report (`{case}/{op}/{NAME}`).
    const NAME: &'static str;

    /// The implementation's own packet value, built once outside timing.
    type Packet;
    /// Reusable encode buffer, reserved once (see [`ENC_CAPACITY`]).
    type EncBuf;
    /// What the decoder reads from; built from the peer's own encoded bytes.
    type Input;
    /// Decoder output, possibly borrowing from the input.
    type Decoded<'a>
    where
        Self: 'a;

    /// `true` when decoding consumes the input (e.g. `BytesMut::split_to`), so
    /// the harness must hand a fresh input to every iteration (prepared outside
    /// timing, in small batches).
    const FRESH_INPUT_PER_DECODE: bool = false;

    /// Whether the harness benchmarks this adapter's decode. An adapter that
    /// shares its decoder with another one (so the row would be a duplicate)
    /// sets this to `false`; it still takes part in the cross-check.
    const BENCH_DECODE: bool = true;
    /// Same for encode.
    const BENCH_ENCODE: bool = true;

    /// Build the packet for `case`, or `None` if unsupported.
    fn build(case: Case) -> Option<Self::Packet>;
    fn new_enc_buf(capacity: usize) -> Self::EncBuf;
    /// Encode `pkt` into `buf` (clearing/overwriting it first); returns the length.
    fn encode(pkt: &Self::Packet, buf: &mut Self::EncBuf) -> usize;
    /// The `len` bytes produced by the last `encode`.
    fn encoded(buf: &Self::EncBuf, len: usize) -> &[u8];

    fn make_input(wire: &[u8]) -> Self::Input;
    /// Decode exactly one packet from `input`. Panics on error (the inputs are
    /// known-good; the check is a predictable branch).
    fn decode(input: &mut Self::Input) -> Self::Decoded<'_>;
    fn summarize(decoded: &Self::Decoded<'_>) -> Summary;
}

/// Capacity reserved for encode buffers (largest fixture is ~4.1 KiB).
pub const ENC_CAPACITY: usize = 8 * 1024;

/// Encode `case` with `C`, outside timing. `None` if `C` does not support it.
pub fn wire_of<C: Codec>(case: Case) -> Option<Vec<u8>> {
    let pkt = C::build(case)?;
    let mut buf = C::new_enc_buf(ENC_CAPACITY);
    let n = C::encode(&pkt, &mut buf);
    Some(C::encoded(&buf, n).to_vec())
}

/// Decode `wire` with `C` and summarize, outside timing.
pub fn summary_of<C: Codec>(wire: &[u8]) -> Summary {
    let mut input = C::make_input(wire);
    let decoded = C::decode(&mut input);
    C::summarize(&decoded)
}

/// Invoke `$mac!(Type)` for every adapter, peers first, libmqtt last.
/// The harness and the tests both use this list; add new adapters here.
#[macro_export]
macro_rules! for_each_codec {
    ($mac:ident) => {
        $mac!($crate::peers::rumqttc::RumqttcV4);
        $mac!($crate::peers::rumqttc::RumqttcV5);
        $mac!($crate::peers::mqttrs::Mqttrs);
        $mac!($crate::peers::mqtt_protocol::MqttProtocol);
        $mac!($crate::peers::mqtt_protocol_core::MpcV311);
        $mac!($crate::peers::mqtt_protocol_core::MpcV5);
        $mac!($crate::ours::LibmqttV311);
        $mac!($crate::ours::LibmqttV5);
        $mac!($crate::ours::LibmqttRefV311);
        $mac!($crate::ours::LibmqttRefV5);
        $mac!($crate::ours::LibmqttSliceV311);
        $mac!($crate::ours::LibmqttSliceV5);
    };
}

/// Result of [`check_case`]: every adapter's bytes for one case.
#[derive(Debug)]
pub struct CaseCheck {
    /// `(impl name, encoded bytes)`, in `for_each_codec!` order.
    pub wires: Vec<(&'static str, Vec<u8>)>,
    /// All adapters produced the same bytes.
    pub identical: bool,
}

/// Outside-timing correctness check for one case; panics on any disagreement.
///
/// * every adapter supporting `case` decodes its own bytes to
///   [`fixtures::expected_summary`];
/// * where the wire form is unique ([`Case::wire_unique`]) all bytes are identical;
/// * every adapter decodes every other adapter's bytes to the same summary.
pub fn check_case(case: Case) -> CaseCheck {
    let expected = fixtures::expected_summary(case);
    let mut wires: Vec<(&'static str, Vec<u8>)> = Vec::new();
    macro_rules! collect {
        ($c:ty) => {
            if let Some(w) = wire_of::<$c>(case) {
                assert_eq!(
                    summary_of::<$c>(&w),
                    expected,
                    "{}: {} decoding its own bytes",
                    case.name(),
                    <$c as Codec>::NAME
                );
                wires.push((<$c as Codec>::NAME, w));
            }
        };
    }
    for_each_codec!(collect);
    assert!(!wires.is_empty(), "{}: no implementation", case.name());
    let identical = wires.iter().all(|(_, w)| *w == wires[0].1);
    if case.wire_unique() && !identical {
        for (name, w) in &wires {
            eprintln!("{:>20}: {:02x?}", name, w);
        }
        panic!(
            "{}: peers disagree on a packet whose wire form is unique",
            case.name()
        );
    }
    for (from, w) in &wires {
        macro_rules! cross {
            ($c:ty) => {
                if <$c as Codec>::build(case).is_some() {
                    assert_eq!(
                        summary_of::<$c>(w),
                        expected,
                        "{}: {} decoding bytes from {}",
                        case.name(),
                        <$c as Codec>::NAME,
                        from
                    );
                }
            };
        }
        for_each_codec!(cross);
    }
    CaseCheck { wires, identical }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_codecs_agree() {
        for case in Case::ALL {
            let check = check_case(case);
            assert!(
                check.wires.len() >= 2,
                "{}: fewer than two implementations",
                case.name()
            );
        }
    }

    #[test]
    fn fixture_sizes() {
        assert_eq!(fixtures::TOPIC.len(), 16);
        assert_eq!(fixtures::payload(64).len(), 64);
        assert_eq!(fixtures::subscribe_filters().len(), 10);
    }
}
