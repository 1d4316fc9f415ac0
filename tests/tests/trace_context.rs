//! W3C Trace Context in MQTT messages (`mqtt_core::telemetry`), property
//! tested: injection and extraction round-trip through an encoded and
//! decoded PUBLISH, never touch the other User Properties (their order and
//! duplicates kept), and malformed values are ignored, never an error.

use bytes::{Bytes, BytesMut};
use mqtt_core::codec::{
    self, DecodeOptions, Packet, ProtocolVersion, Publish, PublishProperties, QoS, UserProperty,
};
use mqtt_core::telemetry::envelope;
use mqtt_core::telemetry::trace_context::{
    self, TraceContext, TraceParent, TraceState, TRACEPARENT, TRACESTATE,
};
use proptest::prelude::*;

fn trace_parent() -> impl Strategy<Value = TraceParent> {
    (any::<[u8; 16]>(), any::<[u8; 8]>(), any::<u8>())
        .prop_filter_map("ids not all zero", |(t, p, f)| TraceParent::new(t, p, f))
}

fn trace_state() -> impl Strategy<Value = Option<TraceState>> {
    proptest::option::of(
        proptest::collection::btree_map("[a-z][a-z0-9_*/-]{0,10}", "[!-+--<>-~]{1,12}", 1..5)
            .prop_map(|m| {
                let s: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                TraceState::parse(&s.join(",")).expect("generated tracestate is valid")
            }),
    )
}

/// Other User Properties, sometimes named like ours in another case.
fn others() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                "[a-z]{1,6}",
                Just("TraceParent".to_string()),
                Just("trace-state".to_string())
            ],
            "[ -~]{0,12}",
        ),
        0..6,
    )
}

fn round_trip(p: &Publish) -> Publish {
    let mut buf = BytesMut::new();
    Packet::Publish(p.clone())
        .encode(ProtocolVersion::V5, &mut buf)
        .unwrap();
    let mut bytes = buf.freeze();
    match codec::decode(&mut bytes, &DecodeOptions::new(ProtocolVersion::V5)).unwrap() {
        Some(Packet::Publish(p)) => p,
        other => panic!("not a PUBLISH: {other:?}"),
    }
}

fn without_ours(props: &PublishProperties) -> Vec<(String, String)> {
    props
        .user_properties
        .iter()
        .filter(|u| !matches!(u.key.as_str(), TRACEPARENT | TRACESTATE))
        .map(|u| (u.key.as_str().to_string(), u.value.as_str().to_string()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn inject_then_extract_round_trips_over_the_wire(
        parent in trace_parent(),
        state in trace_state(),
        before in others(),
        old_parent in proptest::option::of("[ -~]{0,60}"),
    ) {
        let mut props = PublishProperties::default();
        for (k, v) in &before {
            props.user_properties.push(UserProperty::new(k, v).unwrap());
        }
        if let Some(old) = &old_parent {
            props.user_properties.insert(before.len() / 2, UserProperty::new(TRACEPARENT, old).unwrap());
        }
        let mut ctx = TraceContext::new(parent);
        ctx.state = state;
        trace_context::inject(&mut props, &ctx);
        let mut publish = Publish::new("a/b", Bytes::from_static(b"x")).unwrap().with_qos(QoS::AtLeastOnce, 1);
        publish.properties = props.into();
        let decoded = round_trip(&publish);
        prop_assert_eq!(trace_context::extract(&decoded.properties), Some(ctx));
        prop_assert_eq!(without_ours(&decoded.properties), before);
        // Exactly one traceparent.
        prop_assert_eq!(
            decoded.properties.user_properties.iter().filter(|u| u.key.as_str() == TRACEPARENT).count(),
            1
        );
    }

    #[test]
    fn malformed_traceparents_are_ignored(
        value in "[ -~]{0,70}",
        before in others(),
    ) {
        let mut props = PublishProperties::default();
        for (k, v) in &before {
            props.user_properties.push(UserProperty::new(k, v).unwrap());
        }
        props.user_properties.push(UserProperty::new(TRACEPARENT, &value).unwrap());
        // Whatever the value, extraction never panics; it yields a context
        // only for a value that parses, and then the same one.
        let got = trace_context::extract(&props);
        prop_assert_eq!(got.map(|c| c.parent), TraceParent::parse(&value).ok());
    }

    #[test]
    fn envelope_round_trips_any_payload(
        parent in trace_parent(),
        state in trace_state(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut ctx = TraceContext::new(parent);
        ctx.state = state;
        let wrapped = envelope::wrap(&ctx, &payload);
        let opened = envelope::open(&wrapped).unwrap();
        prop_assert_eq!(opened.context, Some(ctx));
        prop_assert_eq!(&opened.payload[..], &payload[..]);
    }

    #[test]
    fn envelope_open_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut framed = vec![0xFF, b'T', b'C', 1];
        framed.extend_from_slice(&payload);
        let _ = envelope::open(&Bytes::from(framed));
        let _ = envelope::open(&Bytes::from(payload));
    }
}

/// The W3C test suite's classes of malformed `traceparent`: each is
/// ignored (no context), and the message is otherwise untouched.
#[test]
fn w3c_malformed_traceparent_cases_are_ignored() {
    let valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    assert!(TraceParent::parse(valid).is_ok());
    let cases = [
        // wrong version
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        // wrong lengths
        "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c0-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-00",
        // all-zero ids
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        // upper-case hex
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A",
        // not hex, stray characters
        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
        " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ];
    for case in cases {
        assert!(TraceParent::parse(case).is_err(), "{case}");
        let mut props = PublishProperties::default();
        props
            .user_properties
            .push(UserProperty::new("k", "v").unwrap());
        props
            .user_properties
            .push(UserProperty::new(TRACEPARENT, case).unwrap());
        props
            .user_properties
            .push(UserProperty::new(TRACESTATE, "a=1").unwrap());
        let before = props.clone();
        assert_eq!(trace_context::extract(&props), None, "{case}");
        assert_eq!(props, before);
    }
}
