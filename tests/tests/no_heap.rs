//! The allocation-free path really allocates nothing: decoding into
//! `PacketRef` views and encoding them into a `&mut [u8]` is counted with a
//! counting global allocator. Also checks that owned decoding is zero-copy:
//! topics and payloads point into the input buffer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use mqtt_core::codec::{DecodeOptions, Packet, PacketRef, ProtocolVersion};
use mqtt_tests::golden::GOLDEN;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations it made. Tests in this file
/// run one at a time (a single test function), so the count is ours.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
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
            topic: MqttStr::new("sensors/1/temp").unwrap(),
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
