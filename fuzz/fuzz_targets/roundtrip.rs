//! Encode/decode round trip from structured input: whatever the decoder
//! accepts is a valid packet, so it must encode, decode back equal, and
//! re-encode to the same bytes; the borrowed and owned paths must agree,
//! and `encoded_len` must be exact. Any of 3.1, 3.1.1 and 5.0.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use mqtt_core::codec::{DecodeOptions, Packet, PacketRef, ProtocolVersion};

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    // Bit 0 set: 5.0; else bits 1 and 2 set: 3.1; else 3.1.1 (the seed
    // corpus writes 1, 6 and 0).
    let version = match first & 0b111 {
        0b110 => ProtocolVersion::V31,
        b if b & 1 == 0 => ProtocolVersion::V311,
        _ => ProtocolVersion::V5,
    };
    let options = DecodeOptions::new(version);
    let mut buf = Bytes::copy_from_slice(input);
    while let Ok(Some(packet)) = Packet::decode(&mut buf, &options) {
        // CONNECT carries its own version.
        let v = match &packet {
            Packet::Connect(c) => c.protocol_version,
            _ => version,
        };
        let len = packet.encoded_len(v).expect("a decoded packet encodes");
        let mut out = BytesMut::new();
        assert_eq!(packet.encode(v, &mut out).unwrap(), len);
        assert_eq!(out.len(), len);

        let mut slice = vec![0u8; len];
        assert_eq!(packet.encode_to_slice(v, &mut slice).unwrap(), len);
        assert_eq!(&slice[..], &out[..]);

        let opts = options.with_version(v);
        let (view, used) = PacketRef::decode(&out, &opts)
            .unwrap()
            .expect("whole packet");
        assert_eq!(used, len);
        assert_eq!(view.into_owned(), packet);

        let mut again = out.clone().freeze();
        let decoded = Packet::decode(&mut again, &opts)
            .unwrap()
            .expect("whole packet");
        assert_eq!(decoded, packet);
        assert!(again.is_empty());
        let mut out2 = BytesMut::new();
        decoded.encode(v, &mut out2).unwrap();
        assert_eq!(out, out2);
    }
});
