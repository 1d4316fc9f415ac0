//! Golden byte vectors for every packet type of every version (3.1, 3.1.1,
//! 5.0): each decodes to the right packet type, in any chunking, and
//! re-encodes to the same bytes; plus the largest legal forms, built in
//! the test.

use bytes::{Bytes, BytesMut};
use mqtt_core::codec::{
    DecodeOptions, Decoder, Packet, PacketRef, PacketType, ProtocolVersion, Publish,
    MAX_REMAINING_LENGTH,
};
use mqtt_tests::golden::GOLDEN;

fn decode_one(version: ProtocolVersion, bytes: &[u8]) -> Packet {
    let mut buf = Bytes::copy_from_slice(bytes);
    let packet = Packet::decode(&mut buf, &DecodeOptions::new(version))
        .unwrap_or_else(|e| panic!("decode failed: {e}"))
        .expect("a whole packet");
    assert!(buf.is_empty(), "bytes left over");
    packet
}

#[test]
fn every_packet_type_has_golden_vectors_in_both_versions() {
    for t in 1..=15u8 {
        let t = PacketType::from_u8(t).unwrap();
        let v5 = GOLDEN
            .iter()
            .any(|g| g.packet_type == t && g.version == ProtocolVersion::V5);
        let v3 = GOLDEN
            .iter()
            .any(|g| g.packet_type == t && g.version == ProtocolVersion::V311);
        let v31 = GOLDEN
            .iter()
            .any(|g| g.packet_type == t && g.version == ProtocolVersion::V31);
        assert!(v5, "no 5.0 vector for {t}");
        assert!(v3 || t == PacketType::Auth, "no 3.1.1 vector for {t}");
        assert!(v31 || t == PacketType::Auth, "no 3.1 vector for {t}");
    }
}

#[test]
fn golden_vectors_decode_and_reencode_byte_for_byte() {
    for g in GOLDEN {
        let bytes = g.bytes();
        let packet = decode_one(g.version, &bytes);
        assert_eq!(packet.packet_type(), g.packet_type, "{}", g.name);
        let mut out = BytesMut::new();
        let n = packet
            .encode(g.version, &mut out)
            .unwrap_or_else(|e| panic!("{}: encode failed: {e}", g.name));
        assert_eq!(n, bytes.len(), "{}", g.name);
        assert_eq!(&out[..], &bytes[..], "{}: re-encoding differs", g.name);
        // The allocation-free path gives the same packet and bytes.
        let (view, used) = PacketRef::decode(&bytes, &DecodeOptions::new(g.version))
            .unwrap()
            .unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(view.into_owned(), packet, "{}", g.name);
        let mut slice = vec![0u8; bytes.len()];
        assert_eq!(
            view.encode_to_slice(g.version, &mut slice).unwrap(),
            bytes.len()
        );
        assert_eq!(slice, bytes, "{}", g.name);
    }
}

#[test]
fn golden_vectors_decode_the_same_one_byte_at_a_time() {
    // All vectors of one version back to back, fed a byte at a time.
    for version in [
        ProtocolVersion::V31,
        ProtocolVersion::V311,
        ProtocolVersion::V5,
    ] {
        let vectors: Vec<_> = GOLDEN.iter().filter(|g| g.version == version).collect();
        let stream: Vec<u8> = vectors.iter().flat_map(|g| g.bytes()).collect();
        let mut decoder = Decoder::new(DecodeOptions::new(version));
        let mut got = Vec::new();
        for b in &stream {
            decoder.feed(std::slice::from_ref(b));
            while let Some(p) = decoder.next_packet().unwrap() {
                got.push(p);
            }
        }
        let expected: Vec<_> = vectors
            .iter()
            .map(|g| decode_one(version, &g.bytes()))
            .collect();
        assert_eq!(got, expected);
        assert_eq!(decoder.buffered(), 0);
    }
}

#[test]
fn a_truncated_golden_vector_asks_for_more_bytes() {
    for g in GOLDEN {
        let bytes = g.bytes();
        for cut in 0..bytes.len() {
            let r = PacketRef::decode(&bytes[..cut], &DecodeOptions::new(g.version));
            assert!(matches!(r, Ok(None)), "{} cut at {cut}: {r:?}", g.name);
        }
    }
}

#[test]
fn largest_legal_publish_round_trips() {
    // Remaining length 268,435,455: the largest a packet can be [MQTT-1.5.5-1].
    let topic = "a";
    let payload_len = MAX_REMAINING_LENGTH as usize - 2 - topic.len();
    let publish = Publish::new(topic, Bytes::from(vec![0x5A; payload_len])).unwrap();
    let packet = Packet::Publish(publish);
    let mut out = BytesMut::new();
    packet.encode(ProtocolVersion::V311, &mut out).unwrap();
    assert_eq!(&out[..5], &[0x30, 0xFF, 0xFF, 0xFF, 0x7F]);
    assert_eq!(out.len(), MAX_REMAINING_LENGTH as usize + 5);
    let decoded = decode_one(ProtocolVersion::V311, &out);
    assert_eq!(decoded, packet);
    // One more payload byte cannot be framed.
    let Packet::Publish(mut p) = packet else {
        unreachable!()
    };
    p.payload = Bytes::from(vec![0; payload_len + 1]);
    let err = Packet::Publish(p)
        .encode(ProtocolVersion::V311, &mut BytesMut::new())
        .unwrap_err();
    assert_eq!(
        err.reason_code(),
        mqtt_core::codec::ReasonCode::PacketTooLarge
    );
}

#[test]
fn longest_legal_topic_round_trips() {
    // A topic of 65,535 bytes is the longest a UTF-8 string field holds [MQTT-4.7.3-3].
    let topic = "t".repeat(65_535);
    let packet = Packet::Publish(Publish::new(&topic, Bytes::from_static(b"x")).unwrap());
    let mut out = BytesMut::new();
    packet.encode(ProtocolVersion::V5, &mut out).unwrap();
    assert_eq!(decode_one(ProtocolVersion::V5, &out), packet);
    assert!(Publish::new(&"t".repeat(65_536), Bytes::new()).is_err());
}
