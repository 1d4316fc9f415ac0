//! A guided tour of the libmqtt codec: encode, decode in any chunking,
//! borrowed views without allocation, and strict errors that carry the MQTT
//! reason code. Run with `make demo` or `cargo run --example codec_tour`.

use bytes::{Bytes, BytesMut};
use mqtt_core::codec::{
    DecodeOptions, Decoder, Packet, PacketRef, ProtocolVersion, PubAck, Publish, PublishProperties,
    QoS, UserProperty,
};

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    println!("== 1. Encode an MQTT 5.0 QoS 1 PUBLISH with properties");
    let mut properties = PublishProperties::default();
    properties.content_type = Some("text/plain".try_into().expect("valid string"));
    properties
        .user_properties
        .push(UserProperty::new("unit", "celsius").expect("valid strings"));
    let mut publish = Publish::new("sensors/kitchen/temp", Bytes::from_static(b"21.5"))
        .expect("valid topic")
        .with_qos(QoS::AtLeastOnce, 1);
    publish.properties = properties.into();
    let packet = Packet::Publish(publish);
    let mut wire = BytesMut::new();
    let n = packet
        .encode(ProtocolVersion::V5, &mut wire)
        .expect("encodes");
    println!("   {n} bytes: {}", hex(&wire));

    println!("\n== 2. Decode it again, fed one byte at a time");
    let mut decoder =
        Decoder::new(DecodeOptions::new(ProtocolVersion::V5).with_max_packet_size(1 << 20));
    let mut decoded = None;
    for (i, byte) in wire.iter().enumerate() {
        decoder.feed(std::slice::from_ref(byte));
        if let Some(p) = decoder.next_packet().expect("valid") {
            println!("   complete after byte {} of {}", i + 1, wire.len());
            decoded = Some(p);
        }
    }
    let decoded = decoded.expect("one packet");
    assert_eq!(decoded, packet);
    if let Packet::Publish(p) = &decoded {
        println!(
            "   topic {:?}, payload {:?}, QoS {:?}, id {}",
            p.topic, p.payload, p.qos, p.packet_id
        );
        for u in &p.properties.user_properties {
            println!("   user property {} = {}", u.key, u.value);
        }
    }

    println!("\n== 3. Borrowed views: decode and encode with no heap at all");
    let mut out = [0u8; 16];
    let ack = PubAck::new(1);
    let len = Packet::PubAck(ack)
        .encode_to_slice(ProtocolVersion::V5, &mut out)
        .expect("fits");
    let (view, used) = PacketRef::decode(&out[..len], &DecodeOptions::new(ProtocolVersion::V5))
        .expect("valid")
        .expect("whole");
    println!(
        "   PUBACK in a 16-byte stack buffer: {} ({used} bytes) -> {view:?}",
        hex(&out[..len])
    );

    println!("\n== 4. Strict validation: every error names its MQTT reason code");
    let bad: &[(&str, ProtocolVersion, &[u8])] = &[
        (
            "QoS 3 in a PUBLISH",
            ProtocolVersion::V311,
            &[0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01],
        ),
        (
            "wildcard in a topic name",
            ProtocolVersion::V311,
            &[0x30, 0x03, 0x00, 0x01, b'#'],
        ),
        (
            "reserved flags on PUBACK",
            ProtocolVersion::V5,
            &[0x41, 0x02, 0x00, 0x01],
        ),
        (
            "a fifth remaining-length byte",
            ProtocolVersion::V5,
            &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ),
        (
            "Topic Alias 0",
            ProtocolVersion::V5,
            &[0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x00],
        ),
    ];
    for (what, version, bytes) in bad {
        let err = PacketRef::decode(bytes, &DecodeOptions::new(*version)).expect_err("malformed");
        println!(
            "   {what:<48} -> {err}\n   {:<48}    reason code {}",
            "",
            err.reason_code()
        );
    }

    println!("\n== 5. Limits before allocation: a header claiming 256 MiB, with a 1 MiB limit");
    let mut decoder =
        Decoder::new(DecodeOptions::new(ProtocolVersion::V5).with_max_packet_size(1 << 20));
    decoder.feed(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]);
    let err = decoder.next_packet().expect_err("too large");
    println!("   after 5 bytes: {err} -> {}", err.reason_code());
}
