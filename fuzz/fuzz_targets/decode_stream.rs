//! The streaming decoder on arbitrary bytes, in arbitrary chunking, both
//! versions. Invariants checked, beyond "no panic":
//! - chunking does not change the outcome: the packets (and the error, if
//!   any) equal those of one-shot decoding of the whole input;
//! - memory stays bounded: after the decoder asks for more bytes, it holds
//!   less than one maximum-size packet.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mqtt_core::codec::{DecodeOptions, Decoder, Packet, ProtocolVersion};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    // Bit 0 set: 5.0; else bits 1 and 2 set: 3.1; else 3.1.1 (the seed
    // corpus writes 1, 6 and 0).
    let version = match data[0] & 0b111 {
        0b110 => ProtocolVersion::V31,
        b if b & 1 == 0 => ProtocolVersion::V311,
        _ => ProtocolVersion::V5,
    };
    let max = u32::from(u16::from_be_bytes([data[1], data[2]])).max(5);
    let options = DecodeOptions::new(version).with_max_packet_size(max);
    let chunk_seed = data[0] >> 1;
    let input = &data[3..];

    // One shot.
    let mut whole = Bytes::copy_from_slice(input);
    let mut expected = Vec::new();
    let expected_err = loop {
        match Packet::decode(&mut whole, &options) {
            Ok(Some(p)) => expected.push(p),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };

    // Streamed in chunks of 1..=chunk_seed+1 bytes.
    let mut decoder = Decoder::new(options);
    let mut got = Vec::new();
    let mut got_err = None;
    let mut rest = input;
    let mut step = 0usize;
    'feed: while !rest.is_empty() {
        let n = (1 + (step * 7 + usize::from(chunk_seed)) % (usize::from(chunk_seed) + 1))
            .min(rest.len());
        step += 1;
        decoder.feed(&rest[..n]);
        rest = &rest[n..];
        loop {
            match decoder.next_packet() {
                Ok(Some(p)) => got.push(p),
                Ok(None) => {
                    assert!(
                        decoder.buffered() <= max as usize,
                        "decoder holds {} bytes with a limit of {max}",
                        decoder.buffered()
                    );
                    break;
                }
                Err(e) => {
                    got_err = Some(e);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(got, expected);
    assert_eq!(got_err, expected_err);
});
