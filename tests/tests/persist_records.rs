//! The durable store's records and frames (`mqtt_core::broker::persist`):
//! every record kind round-trips through a frame with arbitrary field
//! values; a store cut at any byte gives back exactly the whole frames
//! before the cut; a flipped bit anywhere is caught, never read as a
//! different record; arbitrary bytes never panic, and what decodes is in
//! the one form the encoder writes.

use bytes::Bytes;
use mqtt_core::broker::persist::record::{crc32c_append, FRAME_HEADER_LEN, MAX_FRAME_LEN};
use mqtt_core::broker::persist::{crc32c, FrameError, Frames, Record, RecordError, STORE_HEADER};
use mqtt_core::codec::{
    MqttString, Publish, PublishProperties, QoS, RetainHandling, SubscriptionOptions, TopicName,
    UserProperty,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

// ---- strategies ----

/// MQTT strings (no U+0000), multi-byte characters included, sometimes
/// long enough for a two-byte length.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        8 => "[a-zA-Z0-9 _/.é€😀\u{7f}-\u{ff}]{0,12}",
        1 => "[a-z€]{100,200}",
    ]
    .boxed()
}

fn string() -> BoxedStrategy<MqttString> {
    text()
        .prop_map(|s| MqttString::from_str(&s).unwrap())
        .boxed()
}

fn topic_text() -> BoxedStrategy<String> {
    vec("[a-z0-9$é ]{0,4}", 1..4)
        .prop_filter_map("non-empty topic", |levels| {
            let t = levels.join("/");
            (!t.is_empty()).then_some(t)
        })
        .boxed()
}

/// A topic name, or (rarely) the empty one.
fn topic() -> BoxedStrategy<TopicName> {
    prop_oneof![
        9 => topic_text().prop_map(|t| TopicName::from_str(&t).unwrap()),
        1 => Just(TopicName::EMPTY),
    ]
    .boxed()
}

fn filter() -> BoxedStrategy<Box<str>> {
    (
        vec(prop_oneof!["[a-z0-9]{0,3}", Just("+".to_string())], 1..4),
        any::<bool>(),
        option::weighted(0.2, "[a-z]{1,3}"),
    )
        .prop_filter_map("non-empty filter", |(levels, hash, share)| {
            let mut f = levels.join("/");
            if hash {
                f.push_str("/#");
            }
            if f.is_empty() {
                return None;
            }
            if let Some(group) = share {
                f = format!("$share/{group}/{f}");
            }
            Some(f.into_boxed_str())
        })
        .boxed()
}

fn bytes(max: usize) -> BoxedStrategy<Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from).boxed()
}

fn qos() -> BoxedStrategy<QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
    .boxed()
}

/// Every property, with any value its type can hold (not only those the
/// MQTT codec accepts: a Subscription Identifier of 0, a Response Topic
/// with a wildcard, a Payload Format Indicator over a binary payload).
fn properties() -> BoxedStrategy<PublishProperties> {
    (
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(any::<u16>()),
        option::of(prop_oneof![
            string(),
            Just(MqttString::from_str("a/+/#").unwrap())
        ]),
        option::of(bytes(40)),
        option::of(string()),
        vec(any::<u32>(), 0..4),
        vec(
            (string(), string()).prop_map(|(key, value)| UserProperty { key, value }),
            0..4,
        ),
    )
        .prop_map(
            |(pfi, expiry, alias, response, corr, content, sub_ids, users)| {
                let mut p = PublishProperties::default();
                p.payload_format_indicator = pfi;
                p.message_expiry_interval = expiry;
                p.topic_alias = alias;
                p.response_topic = response;
                p.correlation_data = corr;
                p.content_type = content;
                p.subscription_identifiers = sub_ids;
                p.user_properties = users;
                p
            },
        )
        .boxed()
}

/// Any message, 3.1.1-like (no properties) or 5.0, with any packet
/// identifier at any QoS and a payload of up to 300 bytes.
fn publish() -> BoxedStrategy<Publish> {
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic(),
        any::<u16>(),
        option::weighted(0.6, properties()),
        bytes(300),
    )
        .prop_map(|(dup, qos, retain, topic, packet_id, props, payload)| {
            let mut p = Publish::new("t", payload).unwrap();
            p.dup = dup;
            p.qos = qos;
            p.retain = retain;
            p.topic = topic;
            p.packet_id = packet_id;
            if let Some(props) = props {
                p.properties = props.into();
            }
            p
        })
        .boxed()
}

fn options() -> BoxedStrategy<SubscriptionOptions> {
    (qos(), any::<bool>(), any::<bool>(), 0..=2u8)
        .prop_map(|(q, nl, rap, rh)| {
            SubscriptionOptions::new(q)
                .with_no_local(nl)
                .with_retain_as_published(rap)
                .with_retain_handling(RetainHandling::from_u8(rh).unwrap())
        })
        .boxed()
}

/// Every kind of record, with arbitrary field values.
fn record() -> BoxedStrategy<Record> {
    let boxed = |s: String| s.into_boxed_str();
    prop_oneof![
        any::<u64>().prop_map(|now| Record::Commit { now }),
        (
            any::<u32>(),
            text(),
            any::<u32>(),
            option::of(text()),
            option::of(any::<u64>())
        )
            .prop_map(move |(session, client_id, expiry, username, expires_at)| {
                Record::Session {
                    session,
                    client_id: boxed(client_id),
                    expiry,
                    username: username.map(boxed),
                    expires_at,
                }
            }),
        any::<u32>().prop_map(|session| Record::SessionGone { session }),
        (any::<u32>(), filter(), options(), option::of(any::<u32>())).prop_map(
            |(session, filter, options, identifier)| Record::Subscription {
                session,
                filter,
                options,
                identifier,
            }
        ),
        (any::<u32>(), filter())
            .prop_map(|(session, filter)| Record::SubscriptionGone { session, filter }),
        (
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<u16>(),
            any::<bool>(),
            publish()
        )
            .prop_map(|(session, seq, queued_at, packet_id, released, publish)| {
                Record::Message {
                    session,
                    seq,
                    queued_at,
                    packet_id,
                    released,
                    publish,
                }
            }),
        (any::<u32>(), any::<u64>(), any::<u16>(), any::<bool>()).prop_map(
            |(session, seq, packet_id, released)| Record::MessageState {
                session,
                seq,
                packet_id,
                released,
            }
        ),
        (any::<u32>(), any::<u64>())
            .prop_map(|(session, seq)| Record::MessageGone { session, seq }),
        (any::<u32>(), any::<u16>())
            .prop_map(|(session, packet_id)| Record::InboundQos2 { session, packet_id }),
        (any::<u32>(), any::<u16>())
            .prop_map(|(session, packet_id)| Record::InboundQos2Gone { session, packet_id }),
        (any::<u32>(), any::<u64>(), publish()).prop_map(|(session, at, publish)| Record::Will {
            session,
            at,
            publish
        }),
        any::<u32>().prop_map(|session| Record::WillGone { session }),
        (any::<u64>(), publish())
            .prop_map(|(stored_at, publish)| Record::Retained { stored_at, publish }),
        topic_text().prop_map(move |t| Record::RetainedGone { topic: boxed(t) }),
    ]
    .boxed()
}

// ---- helpers ----

/// What a record reads back as: a message's DUP flag and Topic Alias are
/// not stored.
fn restored(mut r: Record) -> Record {
    match &mut r {
        Record::Message { publish, .. }
        | Record::Will { publish, .. }
        | Record::Retained { publish, .. } => {
            publish.dup = false;
            if publish.properties.topic_alias.is_some() {
                publish.properties.topic_alias = None;
            }
        }
        _ => {}
    }
    r
}

/// A store of `records`: its bytes and each frame's end offset.
fn store(records: &[Record]) -> (Vec<u8>, Vec<usize>) {
    let mut data = STORE_HEADER.to_vec();
    let mut ends = Vec::new();
    for r in records {
        r.encode_frame(&mut data);
        ends.push(data.len());
    }
    (data, ends)
}

/// What a store reads as: the good frames (offset, record), the error
/// that ends them, and `position()` at the end.
type Read = (Vec<(usize, Record)>, Option<(usize, FrameError)>, usize);

/// Reads every item of `Frames`.
fn read_all(data: &[u8]) -> Read {
    let mut frames = Frames::new(data, STORE_HEADER.len());
    let mut good = Vec::new();
    let mut error = None;
    for item in frames.by_ref() {
        match item {
            Ok(x) => good.push(x),
            Err(e) => {
                assert!(error.is_none(), "a second error after {error:?}: {e:?}");
                error = Some(e);
            }
        }
    }
    // Fused: nothing after the end.
    assert_eq!(frames.next(), None);
    (good, error, frames.position())
}

/// A frame around an arbitrary body, with its correct checksum.
fn frame_of(body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(body.len() + FRAME_HEADER_LEN);
    f.extend_from_slice(&(body.len() as u32).to_le_bytes());
    f.extend_from_slice(&crc32c(body).to_le_bytes());
    f.extend_from_slice(body);
    f
}

/// A store with one record of every kind, messages with every property
/// and long fields (multi-byte lengths).
fn every_kind() -> Vec<Record> {
    let mut full = Publish::new("sensors/€/temp", vec![0xA5u8; 200])
        .unwrap()
        .with_qos(QoS::ExactlyOnce, 4_242)
        .with_retain(true)
        .with_user_property("unit", "celsius")
        .unwrap()
        .with_user_property("unit", "kelvin")
        .unwrap()
        .with_content_type("text/plain")
        .unwrap()
        .with_response_topic("reply/here")
        .unwrap()
        .with_correlation_data(&b"corr"[..])
        .with_message_expiry_interval(3_600)
        .with_payload_format_indicator(false);
    full.properties.subscription_identifiers = vec![1, 268_435_455, 7];
    let plain = Publish::new("a", "x")
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 1);
    let will = Publish::new(&"w".repeat(300), "gone").unwrap();
    vec![
        Record::Session {
            session: 1,
            client_id: "client-1".into(),
            expiry: u32::MAX,
            username: Some("alice".into()),
            expires_at: None,
        },
        Record::Subscription {
            session: 1,
            filter: "$share/g/a/+".into(),
            options: SubscriptionOptions::new(QoS::ExactlyOnce).with_no_local(false),
            identifier: Some(300),
        },
        Record::Message {
            session: 1,
            seq: 1 << 40,
            queued_at: 1_765_000_000_000,
            packet_id: 0,
            released: false,
            publish: full.clone(),
        },
        Record::MessageState {
            session: 1,
            seq: 1 << 40,
            packet_id: 9,
            released: true,
        },
        Record::InboundQos2 {
            session: 1,
            packet_id: 65_535,
        },
        Record::Commit { now: 1_000 },
        Record::Will {
            session: 2,
            at: 5_000,
            publish: will,
        },
        Record::Retained {
            stored_at: 17,
            publish: plain,
        },
        Record::MessageGone {
            session: 1,
            seq: 1 << 40,
        },
        Record::InboundQos2Gone {
            session: 1,
            packet_id: 65_535,
        },
        Record::SubscriptionGone {
            session: 1,
            filter: "a/#".into(),
        },
        Record::WillGone { session: 2 },
        Record::RetainedGone { topic: "a".into() },
        Record::SessionGone { session: 1 },
        Record::Session {
            session: 3,
            client_id: "".into(),
            expiry: 0,
            username: None,
            expires_at: Some(u64::MAX),
        },
        Record::Commit { now: u64::MAX },
    ]
}

// ---- checksum ----

#[test]
fn crc32c_check_values() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    let up: Vec<u8> = (0..32).collect();
    assert_eq!(crc32c(&up), 0x46DD_794E);
    assert_eq!(crc32c_append(crc32c(&up[..13]), &up[13..]), 0x46DD_794E);
}

// ---- round trips ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_record_round_trips_through_a_frame(r in record()) {
        let mut out = vec![0xEE; 3]; // appends after what is there
        r.encode_frame(&mut out);
        prop_assert_eq!(&out[..3], &[0xEE; 3]);
        let frame = &out[3..];
        prop_assert_eq!(frame.len(), r.frame_len());
        prop_assert_eq!(frame.len(), FRAME_HEADER_LEN + r.body_len());
        let len = u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize;
        prop_assert_eq!(len, frame.len() - FRAME_HEADER_LEN);
        let body = &frame[FRAME_HEADER_LEN..];
        prop_assert_eq!(u32::from_le_bytes(frame[4..8].try_into().unwrap()), crc32c(body));

        let want = restored(r.clone());
        prop_assert_eq!(Record::decode_body(body), Ok(want.clone()));
        prop_assert_eq!(Record::decode_frame(frame), Ok((want.clone(), frame.len())));
        let items: Vec<_> = Frames::new(&out, 3).collect();
        prop_assert_eq!(items, vec![Ok((3, want.clone()))]);

        // The restored record encodes to the same bytes (what is not
        // stored does not change them).
        let mut again = Vec::new();
        want.encode_frame(&mut again);
        prop_assert_eq!(&again[..], frame);
    }
}

#[test]
fn long_fields_round_trip() {
    // Lengths of three LEB128 bytes: a 20,000-byte topic, a 100 KB payload.
    let mut p = Publish::new(&"t".repeat(20_000), vec![7u8; 100_000]).unwrap();
    p.properties.correlation_data = Some(Bytes::from(vec![1u8; 70_000]));
    let r = Record::Will {
        session: u32::MAX,
        at: u64::MAX,
        publish: p,
    };
    let mut out = Vec::new();
    r.encode_frame(&mut out);
    assert_eq!(out.len(), r.frame_len());
    assert_eq!(Record::decode_frame(&out), Ok((r, out.len())));
}

#[test]
fn a_message_keeps_every_property_and_a_qos0_packet_id() {
    let mut p = Publish::new("t/1", &b"\xff\xfe not UTF-8"[..])
        .unwrap()
        .with_payload_format_indicator(true) // over a binary payload
        .with_message_expiry_interval(0);
    p.packet_id = 77; // at QoS 0
    p.properties.subscription_identifiers = vec![0, u32::MAX];
    p.properties.response_topic = Some(MqttString::from_str("x/#").unwrap());
    p.properties.topic_alias = Some(5);
    p.dup = true;
    let r = Record::Retained {
        stored_at: 1,
        publish: p.clone(),
    };
    let mut out = Vec::new();
    r.encode_frame(&mut out);
    let Ok((Record::Retained { publish: back, .. }, _)) = Record::decode_frame(&out) else {
        panic!("did not decode");
    };
    assert_eq!(back.packet_id, 77);
    assert_eq!(back.qos, QoS::AtMostOnce);
    assert_eq!(back.payload, p.payload);
    assert_eq!(back.properties.payload_format_indicator, Some(true));
    assert_eq!(back.properties.message_expiry_interval, Some(0));
    assert_eq!(back.properties.subscription_identifiers, vec![0, u32::MAX]);
    assert_eq!(back.properties.response_topic.as_ref().unwrap(), "x/#");
    assert_eq!(back.properties.topic_alias, None, "Topic Alias not stored");
    assert!(!back.dup, "DUP not stored");
}

#[test]
fn a_message_without_properties_costs_one_byte_for_them() {
    // kind, stored_at 1, flags, packet id, topic "a" (length + 1), no
    // properties, payload "x".
    let r = Record::Retained {
        stored_at: 1,
        publish: Publish::new("a", "x").unwrap(),
    };
    assert_eq!(r.body_len(), 1 + 1 + 1 + 2 + 2 + 1 + 1);
    let mut out = Vec::new();
    r.encode_frame(&mut out);
    assert_eq!(
        &out[FRAME_HEADER_LEN..],
        &[13, 1, 0, 0, 0, 1, b'a', 0, b'x']
    );
}

// ---- damage ----

#[test]
fn a_store_cut_at_every_byte_gives_the_whole_frames_before_the_cut() {
    let records = every_kind();
    let (data, ends) = store(&records);
    let header = STORE_HEADER.len();
    for cut in header..=data.len() {
        let (good, error, position) = read_all(&data[..cut]);
        let whole = ends.iter().filter(|&&e| e <= cut).count();
        let got: Vec<Record> = good.iter().map(|(_, r)| r.clone()).collect();
        let want: Vec<Record> = records[..whole].iter().cloned().map(restored).collect();
        assert_eq!(got, want, "cut at {cut}");
        // Offsets are where each frame starts.
        for (i, (at, _)) in good.iter().enumerate() {
            let start = if i == 0 { header } else { ends[i - 1] };
            assert_eq!(*at, start);
        }
        let boundary = if whole == 0 { header } else { ends[whole - 1] };
        assert_eq!(position, boundary, "cut at {cut}");
        if cut == boundary {
            assert_eq!(error, None, "cut at frame boundary {cut}");
        } else {
            assert_eq!(
                error,
                Some((boundary, FrameError::Truncated)),
                "cut at {cut}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_store_cut_anywhere_gives_the_whole_frames_before_the_cut(
        records in vec(record(), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let (data, ends) = store(&records);
        let cut = STORE_HEADER.len() + cut.index(data.len() - STORE_HEADER.len() + 1);
        let (good, error, position) = read_all(&data[..cut]);
        let whole = ends.iter().filter(|&&e| e <= cut).count();
        let got: Vec<Record> = good.into_iter().map(|(_, r)| r).collect();
        let want: Vec<Record> = records[..whole].iter().cloned().map(restored).collect();
        prop_assert_eq!(got, want);
        let boundary = if whole == 0 { STORE_HEADER.len() } else { ends[whole - 1] };
        prop_assert_eq!(position, boundary);
        if cut == boundary {
            prop_assert_eq!(error, None);
        } else {
            prop_assert_eq!(error, Some((boundary, FrameError::Truncated)));
        }
    }
}

/// Flips every bit of `data` (after the header) in turn: the frames before
/// the damaged one come back unchanged, then one error at the damaged
/// frame, and never a record that differs from the original.
fn check_every_bit_flip(records: &[Record], data: &[u8], ends: &[usize]) {
    let header = STORE_HEADER.len();
    let mut damaged = data.to_vec();
    for i in header..data.len() {
        // The frame holding byte i.
        let k = ends.iter().position(|&e| i < e).unwrap();
        let start = if k == 0 { header } else { ends[k - 1] };
        for bit in 0..8 {
            damaged[i] ^= 1 << bit;
            let (good, error, position) = read_all(&damaged);
            let got: Vec<Record> = good.into_iter().map(|(_, r)| r).collect();
            let want: Vec<Record> = records[..k].iter().cloned().map(restored).collect();
            assert_eq!(got, want, "bit {bit} of byte {i} (frame {k})");
            assert_eq!(position, start);
            let Some((at, e)) = error else {
                panic!("bit {bit} of byte {i}: no error");
            };
            assert_eq!(at, start, "bit {bit} of byte {i}");
            if i >= start + 4 {
                // Checksum or body: a CRC catches every single-bit error.
                assert_eq!(e, FrameError::Checksum, "bit {bit} of byte {i}");
            } else {
                // The length: too long, past the end, or the wrong bytes.
                assert!(
                    matches!(
                        e,
                        FrameError::Checksum | FrameError::TooLong(_) | FrameError::Truncated
                    ),
                    "bit {bit} of byte {i}: {e:?}"
                );
                if bit >= 5 && i == start + 3 {
                    // Bits 29-31 of the length put it over MAX_FRAME_LEN.
                    assert!(matches!(e, FrameError::TooLong(_)), "{e:?}");
                }
            }
            damaged[i] ^= 1 << bit;
        }
    }
}

#[test]
fn a_flipped_bit_anywhere_is_caught_at_its_frame() {
    let records = every_kind();
    let (data, ends) = store(&records);
    check_every_bit_flip(&records, &data, &ends);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_store_with_a_flipped_bit_is_caught_at_its_frame(records in vec(record(), 1..4)) {
        let (data, ends) = store(&records);
        check_every_bit_flip(&records, &data, &ends);
    }
}

#[test]
fn a_length_over_the_bound_is_too_long_and_the_bound_itself_is_not() {
    let mut data = STORE_HEADER.to_vec();
    Record::Commit { now: 1 }.encode_frame(&mut data);
    let good_end = data.len();
    let mut over = data.clone();
    over.extend_from_slice(&(MAX_FRAME_LEN + 1).to_le_bytes());
    over.extend_from_slice(&[0; 4]);
    let (good, error, position) = read_all(&over);
    assert_eq!(good.len(), 1);
    assert_eq!(
        error,
        Some((good_end, FrameError::TooLong(MAX_FRAME_LEN + 1)))
    );
    assert_eq!(position, good_end);
    // Known from the length alone, before the checksum arrives.
    let (_, error, _) = read_all(&over[..good_end + 4]);
    assert_eq!(
        error,
        Some((good_end, FrameError::TooLong(MAX_FRAME_LEN + 1)))
    );
    // At the bound: waits for the body (cut short here).
    let mut at = data.clone();
    at.extend_from_slice(&MAX_FRAME_LEN.to_le_bytes());
    at.extend_from_slice(&[0; 4]);
    let (_, error, _) = read_all(&at);
    assert_eq!(error, Some((good_end, FrameError::Truncated)));
    assert_eq!(MAX_FRAME_LEN, (256 << 20) + (64 << 10));
}

#[test]
fn a_zeroed_tail_is_an_error_not_a_record() {
    // A zero length has a zero CRC-32C: the frame passes its checksum but
    // an empty body is no record.
    let mut data = STORE_HEADER.to_vec();
    Record::Commit { now: 1 }.encode_frame(&mut data);
    let end = data.len();
    data.extend_from_slice(&[0; 64]);
    let (good, error, _) = read_all(&data);
    assert_eq!(good.len(), 1);
    assert_eq!(
        error,
        Some((end, FrameError::Record(RecordError::Truncated)))
    );
}

#[test]
fn the_start_at_or_past_the_end() {
    let data = STORE_HEADER.to_vec();
    assert_eq!(Frames::new(&data, data.len()).next(), None);
    let mut past = Frames::new(&data, data.len() + 1);
    assert_eq!(
        past.next(),
        Some(Err((data.len() + 1, FrameError::Truncated)))
    );
    assert_eq!(past.next(), None);
}

// ---- bodies that are not records ----

fn invalid(body: &[u8]) -> RecordError {
    match Record::decode_body(body) {
        Ok(r) => panic!("{body:?} decoded as {r:?}"),
        Err(e) => e,
    }
}

fn is_invalid(body: &[u8]) -> bool {
    matches!(invalid(body), RecordError::Invalid(_))
}

#[test]
fn malformed_bodies_are_errors() {
    assert_eq!(invalid(&[]), RecordError::Truncated);
    assert_eq!(invalid(&[0]), RecordError::UnknownKind(0));
    assert_eq!(invalid(&[15, 0]), RecordError::UnknownKind(15));
    assert_eq!(invalid(&[255]), RecordError::UnknownKind(255));
    // Commit: cut short, overlong, trailing bytes.
    assert_eq!(invalid(&[1]), RecordError::Truncated);
    assert_eq!(invalid(&[1, 0x80]), RecordError::Truncated);
    assert!(is_invalid(&[1, 0x80, 0]));
    assert!(is_invalid(&[1, 5, 0]));
    assert_eq!(Record::decode_body(&[1, 5]), Ok(Record::Commit { now: 5 }));
    // Session: client id not UTF-8, with U+0000; reserved flag; username
    // with U+0000.
    assert!(is_invalid(&[2, 1, 2, 0xC0, 0x80, 0, 0]));
    assert!(is_invalid(&[2, 1, 2, b'a', 0, 0, 0]));
    assert!(is_invalid(&[2, 1, 1, b'a', 0, 4]));
    assert!(is_invalid(&[2, 1, 1, b'a', 0, 1, 1, 0]));
    assert_eq!(
        Record::decode_body(&[2, 1, 1, b'a', 0, 1, 1, b'u']),
        Ok(Record::Session {
            session: 1,
            client_id: "a".into(),
            expiry: 0,
            username: Some("u".into()),
            expires_at: None,
        })
    );
    // A session number over 32 bits.
    assert!(is_invalid(&[3, 0x80, 0x80, 0x80, 0x80, 0x10]));
    // Subscription: QoS 3, Retain Handling 3, bit 6, invalid filters.
    assert!(is_invalid(&[4, 1, 3, 1, b'a']));
    assert!(is_invalid(&[4, 1, 0x30, 1, b'a']));
    assert!(is_invalid(&[4, 1, 0x40, 1, b'a']));
    assert!(is_invalid(&[4, 1, 0, 5, b'a', b'/', b'#', b'/', b'b']));
    assert!(is_invalid(&[4, 1, 0, 0]));
    assert!(is_invalid(&[
        5, 1, 8, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g'
    ]));
    // MessageState: released not a boolean.
    assert!(is_invalid(&[7, 1, 1, 0, 0, 2]));
    // RetainedGone: empty, wildcard, U+0000.
    assert!(is_invalid(&[14, 0]));
    assert!(is_invalid(&[14, 3, b'a', b'/', b'+']));
    assert!(is_invalid(&[14, 1, 0]));
    // A string longer than the body.
    assert_eq!(invalid(&[14, 5, b'a']), RecordError::Truncated);
    assert_eq!(
        invalid(&[14, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        RecordError::Truncated
    );
}

#[test]
fn malformed_messages_are_errors() {
    // Retained (13), stored_at 0, then the message.
    let ok = [13, 0, 0b001, 1, 0, 1, b't', 0, b'p'];
    assert!(Record::decode_body(&ok).is_ok());
    let with = |i: usize, b: u8| {
        let mut v = ok.to_vec();
        v[i] = b;
        v
    };
    assert!(is_invalid(&with(2, 0b011)), "QoS 3");
    assert!(is_invalid(&with(2, 0b1000)), "DUP is not stored");
    assert!(is_invalid(&with(6, b'+')), "wildcard in the topic");
    assert!(is_invalid(&with(6, 0)), "U+0000 in the topic");
    assert!(is_invalid(&with(6, 0xFF)), "topic not UTF-8");
    assert!(
        is_invalid(&with(7, 0b10)),
        "format value without the property"
    );
    // Cut short in the topic, the packet identifier, the flags.
    for end in 2..7 {
        assert_eq!(invalid(&ok[..end]), RecordError::Truncated, "cut at {end}");
    }
    // Lists: counted 0, or more than the bytes left could hold (no
    // allocation for them).
    let mut zero = ok[..7].to_vec();
    zero.extend_from_slice(&[0x40, 0]);
    assert!(is_invalid(&zero));
    let mut many = ok[..7].to_vec();
    many.extend_from_slice(&[0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 1, 1]);
    assert_eq!(invalid(&many), RecordError::Truncated);
    let mut users = ok[..7].to_vec();
    users.extend_from_slice(&[0x80, 3, 0, 0, 0, 0]);
    assert_eq!(invalid(&users), RecordError::Truncated);
    users[8] = 2;
    assert!(Record::decode_body(&users).is_ok());
    // A property string with U+0000 or not UTF-8.
    let mut ct = ok[..7].to_vec();
    ct.extend_from_slice(&[0x08, 1, 0]);
    assert!(is_invalid(&ct));
    ct[9] = 0x80;
    assert!(is_invalid(&ct));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Random bytes: no panic; a body that decodes is in the one form
    /// the encoder writes.
    #[test]
    fn random_bodies_never_panic_and_what_decodes_is_canonical(
        body in vec(any::<u8>(), 0..64),
        kind in 0u8..=15,
    ) {
        let mut body = body;
        if let Some(b) = body.first_mut() {
            *b = kind; // mostly known kinds
        }
        if let Ok(r) = Record::decode_body(&body) {
            let mut out = Vec::new();
            r.encode_frame(&mut out);
            prop_assert_eq!(&out[FRAME_HEADER_LEN..], &body[..]);
        }
        let framed = frame_of(&body);
        let items: Vec<_> = Frames::new(&framed, 0).collect();
        prop_assert_eq!(items.len(), 1);
        let _ = Frames::new(&body, 0).count();
    }

    /// A valid body with one byte changed (and its checksum made to
    /// match): an error, or a record that encodes to exactly that body.
    #[test]
    fn a_changed_byte_under_a_good_checksum_is_an_error_or_exactly_what_it_reads(
        r in record(),
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut out = Vec::new();
        r.encode_frame(&mut out);
        let mut body = out[FRAME_HEADER_LEN..].to_vec();
        let i = at.index(body.len());
        body[i] = value;
        let framed = frame_of(&body);
        match Frames::new(&framed, 0).next() {
            Some(Ok((0, back))) => {
                let mut again = Vec::new();
                back.encode_frame(&mut again);
                prop_assert_eq!(again, framed);
            }
            Some(Err((0, FrameError::Record(_)))) => {}
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn random_stores_never_panic(data in vec(any::<u8>(), 0..256), start in 0usize..300) {
        let mut frames = Frames::new(&data, start);
        let mut errors = 0;
        for item in frames.by_ref() {
            if item.is_err() {
                errors += 1;
            }
        }
        prop_assert!(errors <= 1);
        prop_assert!(frames.position() <= data.len().max(start));
    }
}
