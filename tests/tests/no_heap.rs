//! The allocation-free path really allocates nothing: decoding into
//! `PacketRef` views and encoding them into a `&mut [u8]` is counted with a
//! counting global allocator. Also checks that owned decoding is zero-copy:
//! topics and payloads point into the input buffer; and that the client's
//! QoS 0 publish, in steady state, allocates nothing either.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use mqtt_core::codec::{DecodeOptions, Packet, PacketRef, ProtocolVersion};
use mqtt_tests::golden::GOLDEN;

struct Counting;

thread_local! {
    // Per thread: the test harness runs tests on parallel threads, and
    // each counts only its own allocations. Const-initialised and without
    // a destructor, so counting never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // A thread being torn down has no counter left: nothing to count.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards to the system allocator; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations it made on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn borrowed_decode_and_slice_encode_use_no_heap_and_owned_decode_shares_input() {
    // The counter works: a Vec allocates.
    assert!(allocations_in(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
    // Prepare every input first: building them allocates.
    let inputs: Vec<(ProtocolVersion, Vec<u8>)> =
        GOLDEN.iter().map(|g| (g.version, g.bytes())).collect();
    let mut out = [0u8; 256];
    for (version, bytes) in &inputs {
        let options = DecodeOptions::new(*version);
        let n = allocations_in(|| {
            let (view, used) = PacketRef::decode(bytes, &options).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            // Walk every list view too: iteration reads the wire bytes in place.
            if let PacketRef::Subscribe(s) = &view {
                assert!(s.filters.iter().count() > 0);
            }
            if let PacketRef::Publish(p) = &view {
                let _ = p.properties.user_properties().iter().count();
                let _ = p.properties.subscription_identifiers().iter().count();
            }
            let written = view.encode_to_slice(*version, &mut out).unwrap();
            assert_eq!(&out[..written], &bytes[..]);
        });
        assert_eq!(n, 0, "{version:?} {bytes:02X?} allocated {n} times");
    }

    // Building a PUBLISH with properties from borrowed data, and encoding
    // it into a stack buffer, allocates nothing either.
    let n = allocations_in(|| {
        use mqtt_core::codec::{
            MqttStr, PropertyId, PropertyValue, PropertyWriter, PublishPropertiesRef, PublishRef,
            QoS,
        };
        let mut block = [0u8; 64];
        let mut w = PropertyWriter::new(&mut block);
        w.push(
            PropertyId::MessageExpiryInterval,
            PropertyValue::FourByteInteger(30),
        )
        .unwrap();
        w.push(
            PropertyId::ContentType,
            PropertyValue::Utf8String(MqttStr::new("text/plain").unwrap()),
        )
        .unwrap();
        let properties = PublishPropertiesRef::from_wire(w.finish()).unwrap();
        let publish = PublishRef {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: mqtt_core::codec::TopicNameRef::new("sensors/1/temp").unwrap(),
            packet_id: 1,
            properties,
            payload: b"21.5",
        };
        let written = PacketRef::Publish(publish)
            .encode_to_slice(ProtocolVersion::V5, &mut out)
            .unwrap();
        let (back, _) =
            PacketRef::decode(&out[..written], &DecodeOptions::new(ProtocolVersion::V5))
                .unwrap()
                .unwrap();
        assert_eq!(back, PacketRef::Publish(publish));
    });
    assert_eq!(
        n, 0,
        "building and encoding a borrowed PUBLISH allocated {n} times"
    );

    // Zero-copy owned decode: topic and payload lie inside the input buffer.
    let g = GOLDEN
        .iter()
        .find(|g| g.name == "v5_publish_qos1_props")
        .unwrap();
    let input = Bytes::from(g.bytes());
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    let mut buf = input.clone();
    let Some(Packet::Publish(p)) =
        Packet::decode(&mut buf, &DecodeOptions::new(g.version)).unwrap()
    else {
        panic!("not a PUBLISH");
    };
    for part in [
        p.topic.as_bytes(),
        &p.payload[..],
        p.properties.correlation_data.as_deref().unwrap(),
    ] {
        assert!(
            range.contains(&(part.as_ptr() as usize)),
            "a field was copied"
        );
    }
}

/// A connected client (minimal CONNACK, no server limits) with a window
/// of `max_inflight`, its CONNECT drained and `Connected` taken.
fn connected_client(
    version: mqtt_core::codec::ProtocolVersion,
    max_inflight: u16,
) -> mqtt_core::client::Client {
    use mqtt_core::client::{Client, ClientOptions, Event};
    let options = ClientOptions::new(version, "no-heap")
        .unwrap()
        .with_max_inflight(max_inflight);
    let mut client = Client::new(options);
    client.connect(0).unwrap();
    let mut buf = [0u8; 256];
    while client.poll_transmit(&mut buf) > 0 {}
    if version.is_v5() {
        client.handle_input(1, &[0x20, 0x03, 0x00, 0x00, 0x00]);
    } else {
        client.handle_input(1, &[0x20, 0x02, 0x00, 0x00]);
    }
    assert!(matches!(client.poll_event(), Some(Event::Connected(_))));
    client
}

/// The message every publish below sends: 64 bytes to a 16-byte topic.
/// Topic and payload are `Bytes` over `&'static` data, so cloning the
/// `Publish` (as a caller re-sending a prepared message does) is two
/// refcount-free `Bytes` clones and copies of empty properties: no heap.
/// (A `Bytes` made from a `Vec` would allocate its shared header on its
/// first clone, once.)
fn bench_message(qos: mqtt_core::codec::QoS) -> mqtt_core::codec::Publish {
    use mqtt_core::codec::{Publish, TopicName};
    static PAYLOAD: [u8; 64] = [0x5A; 64];
    let mut p = Publish::new("sensors/abc/temp", bytes::Bytes::from_static(&PAYLOAD)).unwrap();
    p.topic = TopicName::from_static("sensors/abc/temp").unwrap();
    p.with_qos(qos, 0)
}

#[test]
fn client_qos0_publish_allocates_nothing_in_steady_state() {
    use mqtt_core::client::Event;
    use mqtt_core::codec::{PacketRef, ProtocolVersion, PubAck, QoS};

    const WARM_UP: usize = 2_000;
    const COUNTED: usize = 10_000;
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        // QoS 0: publish, and drain every byte with poll_transmit into a
        // reused buffer, as a driver writing to a socket does: 16 messages
        // at a time through 512 bytes, so that drains are partial as well
        // as whole.
        let mut client = connected_client(version, 64);
        let template = bench_message(QoS::AtMostOnce);
        assert_eq!(
            allocations_in(|| drop(template.clone())),
            0,
            "the clone allocates"
        );
        let mut buf = vec![0u8; 512];
        let mut sent = 0usize;
        let mut publish_and_drain = |client: &mut mqtt_core::client::Client, n: usize| {
            for i in 0..n {
                client.publish(2, template.clone()).unwrap();
                if i % 16 == 15 {
                    loop {
                        let k = client.poll_transmit(&mut buf);
                        if k == 0 {
                            break;
                        }
                        sent += k;
                    }
                }
            }
        };
        // Warm-up: the transmit buffer reaches its steady capacity.
        publish_and_drain(&mut client, WARM_UP);
        let n = allocations_in(|| publish_and_drain(&mut client, COUNTED));
        assert_eq!(
            n, 0,
            "{version:?}: {COUNTED} QoS 0 publishes allocated {n} times"
        );
        assert_eq!(
            sent,
            (WARM_UP + COUNTED) * (2 + 18 + 64 + usize::from(version.is_v5()))
        );
        assert!(client.poll_event().is_none());

        // QoS 1, publish + PUBACK + completion event, for the record (no
        // goal): batches of 100 in flight, acks pre-encoded (outside the
        // count) for every packet identifier.
        let mut client = connected_client(version, 100);
        let template = bench_message(QoS::AtLeastOnce);
        let mut buf = vec![0u8; 16 * 1024];
        let mut acks = bytes::BytesMut::new();
        for id in 1..=u16::MAX {
            PacketRef::PubAck(PubAck::new(id).as_view())
                .encode(version, &mut acks)
                .unwrap();
        }
        let ack_len = acks.len() / usize::from(u16::MAX);
        let mut completed = 0;
        let mut round = |client: &mut mqtt_core::client::Client| {
            let mut first = None;
            for _ in 0..100 {
                let id = client.publish(2, template.clone()).unwrap();
                first.get_or_insert(id.packet_id().unwrap());
            }
            while client.poll_transmit(&mut buf) > 0 {}
            let start = usize::from(first.unwrap()) - 1;
            let end = start + 100;
            let max = usize::from(u16::MAX);
            if end <= max {
                client.handle_input(3, &acks[start * ack_len..end * ack_len]);
            } else {
                client.handle_input(3, &acks[start * ack_len..]);
                client.handle_input(3, &acks[..(end - max) * ack_len]);
            }
            while client.poll_transmit(&mut buf) > 0 {}
            while let Some(e) = client.poll_event() {
                assert!(matches!(e, Event::PublishCompleted { .. }), "{e:?}");
                completed += 1;
            }
        };
        // Warm-up past the identifier wrap (65,535), then count.
        for _ in 0..700 {
            round(&mut client);
        }
        let n = allocations_in(|| {
            for _ in 0..100 {
                round(&mut client);
            }
        });
        assert_eq!(completed, 800 * 100);
        println!(
            "{version:?}: QoS 1 publish + PUBACK: {} allocations per message ({n} for 10,000)",
            n as f64 / 10_000.0
        );
    }
}

#[test]
fn client_publish_slice_from_borrowed_bytes_allocates_nothing_and_matches_publish() {
    use mqtt_core::client::{Client, ClientError, ClientOptions, Event};
    use mqtt_core::codec::{ProtocolVersion, QoS};

    let payload = [0x42u8; 40];
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        // The same bytes as `publish` of the same message.
        let mut a = connected_client(version, 16);
        let mut b = connected_client(version, 16);
        a.publish_slice(2, "meter/7", &payload, QoS::AtMostOnce, false)
            .unwrap();
        let owned =
            mqtt_core::codec::Publish::new("meter/7", bytes::Bytes::copy_from_slice(&payload))
                .unwrap();
        b.publish(2, owned).unwrap();
        assert_eq!(a.take_transmit(), b.take_transmit(), "{version:?}");

        let mut buf = [0u8; 512];
        let mut run = |client: &mut Client, n: usize| {
            for _ in 0..n {
                client
                    .publish_slice(2, "meter/7", &payload, QoS::AtMostOnce, false)
                    .unwrap();
                while client.poll_transmit(&mut buf) > 0 {}
            }
        };
        run(&mut a, 100);
        let n = allocations_in(|| run(&mut a, 5_000));
        assert_eq!(n, 0, "{version:?}: 5,000 publish_slice allocated {n} times");
        assert!(a.poll_event().is_none());

        // An invalid topic is refused, nothing sent.
        assert!(matches!(
            a.publish_slice(3, "meter/+", &payload, QoS::AtMostOnce, false),
            Err(ClientError::Invalid(_))
        ));
        assert_eq!(a.transmit_len(), 0);
        // QoS 1 takes the owned path and completes as usual.
        let id = a
            .publish_slice(4, "meter/7", &payload, QoS::AtLeastOnce, false)
            .unwrap();
        let sent = a.take_transmit();
        assert_eq!(sent[0], 0x32);
        let pid = id.packet_id().unwrap();
        let mut puback = vec![0x40, 0x02];
        puback.extend_from_slice(&pid.to_be_bytes());
        a.handle_input(5, &puback);
        assert!(
            matches!(a.poll_event(), Some(Event::PublishCompleted { id: got, .. }) if got == id)
        );
    }

    // 5.0 with topic aliases allowed by the server: the first PUBLISH sets
    // alias 1 (topic sent), the next ones use it (empty topic), still
    // without allocating once the alias is assigned.
    let options = ClientOptions::new(ProtocolVersion::V5, "alias").unwrap();
    let mut client = Client::new(options);
    client.connect(0).unwrap();
    let _ = client.take_transmit();
    // CONNACK with Topic Alias Maximum 5.
    client.handle_input(1, &[0x20, 0x06, 0x00, 0x00, 0x03, 0x22, 0x00, 0x05]);
    assert!(matches!(client.poll_event(), Some(Event::Connected(_))));
    client
        .publish_slice(2, "meter/7", b"x", QoS::AtMostOnce, false)
        .unwrap();
    let first = client.take_transmit();
    // 0x30, len, topic "meter/7", properties: 3 bytes (alias 1), payload.
    assert_eq!(&first[..], b"\x30\x0e\x00\x07meter/7\x03\x23\x00\x01x");
    client
        .publish_slice(2, "meter/7", b"x", QoS::AtMostOnce, false)
        .unwrap();
    let second = client.take_transmit();
    assert_eq!(&second[..], b"\x30\x07\x00\x00\x03\x23\x00\x01x");
    let mut buf = [0u8; 64];
    // Warm-up: take_transmit above handed the transmit buffer away.
    for _ in 0..10 {
        client
            .publish_slice(2, "meter/7", b"x", QoS::AtMostOnce, false)
            .unwrap();
        while client.poll_transmit(&mut buf) > 0 {}
    }
    let n = allocations_in(|| {
        for _ in 0..1_000 {
            client
                .publish_slice(2, "meter/7", b"x", QoS::AtMostOnce, false)
                .unwrap();
            while client.poll_transmit(&mut buf) > 0 {}
        }
    });
    assert_eq!(n, 0, "aliased publish_slice allocated {n} times");
}
