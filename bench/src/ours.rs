//! ======================================================================
//! libmqtt's own codec (`mqtt-core`) — TODO, NOT YET WIRED IN
//! ======================================================================
//!
//! Both adapters below are already listed in `for_each_codec!` (src/lib.rs), so
//! the harness, the cross-check test and `report.py` pick them up as soon as
//! `build` returns `Some`. Until then they are skipped (no bench IDs emitted).
//!
//! Bench IDs once enabled: `{case}/{op}/libmqtt` (owned `Packet` via
//! `mqtt_core::codec::decode(&mut Bytes, ..)`) and `{case}/decode/libmqtt-ref`
//! (borrowed `PacketRef::decode(&[u8], ..)`; encode is only benched once, under
//! `libmqtt`). `report.py` computes `libmqtt* / fastest peer` ratio columns for
//! every impl whose name starts with `libmqtt`.
//!
//! To enable (planned API, not final — adjust to the real one):
//!
//! 1. Cargo.toml: `mqtt-core = { path = "../core" }` (keep the same `bytes`).
//! 2. Replace the stub types / bodies below, roughly:
//!
//! ```ignore
//! use bytes::{Bytes, BytesMut};
//! use mqtt_core::codec::{self, DecodeOptions, Packet, PacketRef, ProtocolVersion};
//!
//! fn version(case: Case) -> ProtocolVersion {
//!     match case.version() { Version::V311 => ProtocolVersion::V311, Version::V5 => ProtocolVersion::V5 }
//! }
//!
//! impl Codec for Libmqtt {
//!     const NAME: &'static str = "libmqtt";
//!     type Packet = (Packet, ProtocolVersion);
//!     type EncBuf = BytesMut;                       // BytesMut::with_capacity(cap)
//!     type Input = (Bytes, DecodeOptions);          // options for the case's version
//!     type Decoded<'a> = Packet;
//!     // decode(&mut Bytes) advances the Bytes: hand each iteration a fresh clone
//!     // (made outside timing), same treatment as rumqttc's BytesMut.
//!     const FRESH_INPUT_PER_DECODE: bool = true;
//!
//!     fn build(case: Case) -> Option<Self::Packet> {
//!         // Publish{topic TOPIC, qos 1, pkid PACKET_ID, payload fx::payload(..),
//!         //         user properties for PublishPropsV5}, Subscribe{..10 filters..},
//!         // Connect{..see fixtures.rs..}
//!     }
//!     fn encode(pkt: &Self::Packet, buf: &mut BytesMut) -> usize {
//!         buf.clear();
//!         pkt.0.encode(pkt.1, buf).expect("libmqtt encode")
//!     }
//!     fn decode(input: &mut Self::Input) -> Packet {
//!         codec::decode(&mut input.0, &input.1).expect("libmqtt decode").expect("incomplete")
//!     }
//!     fn summarize(d: &Packet) -> Summary { /* map fields to crate::Summary */ }
//! }
//!
//! impl Codec for LibmqttRef {
//!     const NAME: &'static str = "libmqtt-ref";
//!     type Input = (Vec<u8>, DecodeOptions);
//!     type Decoded<'a> = PacketRef<'a>;
//!     fn build(case: Case) -> Option<..> { /* same packet as Libmqtt */ }
//!     fn decode(input: &mut Self::Input) -> PacketRef<'_> {
//!         PacketRef::decode(&input.0, &input.1).expect("libmqtt decode").expect("incomplete").0
//!     }
//!     ...
//! }
//! ```
//!
//! 3. Also `LibmqttRef`'s encode duplicates `Libmqtt`'s; to avoid a duplicate
//!    encode row, the harness skips encode for adapters whose `NAME` ends in
//!    `-ref` (see `benches/codec.rs`).
//! 4. Trie matching, case (f): see `bench_trie_match` in `benches/codec.rs`.

use crate::fixtures::Case;
use crate::{Codec, Summary};

/// libmqtt, owned decode (`mqtt_core::codec::decode`) and `Packet::encode`. TODO.
pub struct Libmqtt;

/// libmqtt, borrowed decode (`PacketRef::decode`). TODO.
pub struct LibmqttRef;

macro_rules! stub_codec {
    ($ty:ty, $name:literal) => {
        impl Codec for $ty {
            const NAME: &'static str = $name;
            type Packet = ();
            type EncBuf = ();
            type Input = ();
            type Decoded<'a> = ();

            fn build(_case: Case) -> Option<()> {
                None // TODO(libmqtt): build the packet; see module docs.
            }
            fn new_enc_buf(_capacity: usize) {}
            fn encode(_pkt: &(), _buf: &mut ()) -> usize {
                unreachable!("stub")
            }
            fn encoded(_buf: &(), _len: usize) -> &[u8] {
                unreachable!("stub")
            }
            fn make_input(_wire: &[u8]) {}
            fn decode(_input: &mut ()) {
                unreachable!("stub")
            }
            fn summarize(_d: &()) -> Summary {
                unreachable!("stub")
            }
        }
    };
}

stub_codec!(Libmqtt, "libmqtt");
stub_codec!(LibmqttRef, "libmqtt-ref");
