//! `tracing` spans (feature `tracing-spans`): `publish {topic}` around a
//! publish until its acknowledgement and `receive {topic}` per message,
//! with the semconv attributes and `otel.*` fields that
//! `tracing-opentelemetry` reads; a refusal records `otel.status_code` and
//! `error.type`. Recorded by a small `tracing` subscriber of the test's
//! own, through our example broker.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::{ExampleBroker, WAIT};
use mqtt_tokio::{ClientOptions, ConnectOptions, Error, ProtocolVersion, QoS, ReasonCode};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A recorded span: its name and fields.
#[derive(Debug, Clone, Default)]
struct Recorded {
    name: String,
    fields: HashMap<String, String>,
    entered: u64,
}

#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<HashMap<u64, Recorded>>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut r = Recorded {
            name: attrs.metadata().name().to_owned(),
            ..Recorded::default()
        };
        attrs.record(&mut Fields(&mut r.fields));
        self.spans.lock().unwrap().insert(id, r);
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(r) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut r.fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, span: &Id) {
        if let Some(r) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            r.entered += 1;
        }
    }
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    /// The spans whose `messaging.destination.name` is `topic`.
    fn for_topic(&self, topic: &str) -> Vec<Recorded> {
        self.spans
            .lock()
            .unwrap()
            .values()
            .filter(|r| {
                r.fields
                    .get("messaging.destination.name")
                    .map(String::as_str)
                    == Some(topic)
            })
            .cloned()
            .collect()
    }
}

#[tokio::test]
async fn publish_and_receive_spans() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).expect("the only subscriber");

    let broker = ExampleBroker::start(&[]);
    let client = ClientOptions::new(ProtocolVersion::V5, "tracing-spans").expect("client id");
    let (c, _) = tokio::time::timeout(
        WAIT,
        mqtt_tokio::connect(ConnectOptions::new("127.0.0.1", broker.port(), client)),
    )
    .await
    .expect("in time")
    .expect("connects");
    let mut messages = c.messages().expect("the stream");
    c.subscribe("spans/+", QoS::AtLeastOnce)
        .await
        .expect("SUBACK");
    c.publish("spans/1", QoS::AtLeastOnce, "21.5")
        .await
        .expect("publish");
    let m = tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("in time")
        .expect("a message");
    assert_eq!(&m.publish.payload[..], b"21.5");

    let spans = recorder.for_topic("spans/1");
    let publish = spans
        .iter()
        .find(|s| s.name == "publish")
        .unwrap_or_else(|| panic!("a publish span: {spans:?}"));
    let f = &publish.fields;
    assert_eq!(f["otel.name"], "publish spans/1");
    assert_eq!(f["otel.kind"], "producer");
    assert_eq!(f["messaging.system"], "mqtt");
    assert_eq!(f["messaging.operation.type"], "send");
    assert_eq!(f["messaging.operation.name"], "publish");
    assert_eq!(f["messaging.message.body.size"], "4");
    assert_eq!(f["messaging.mqtt.message.qos"], "1");
    assert_eq!(f["messaging.mqtt.message.retain"], "false");
    assert!(!f.contains_key("error.type"));
    assert!(publish.entered >= 1, "the publish future runs in its span");
    let receive = spans
        .iter()
        .find(|s| s.name == "receive")
        .unwrap_or_else(|| panic!("a receive span: {spans:?}"));
    assert_eq!(receive.fields["otel.name"], "receive spans/1");
    assert_eq!(receive.fields["otel.kind"], "consumer");
    assert_eq!(receive.fields["messaging.operation.type"], "receive");
    assert_eq!(receive.fields["messaging.mqtt.message.dup"], "false");
    c.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");

    // A refusal (ACL: read only): error status and error.type.
    let acl = std::env::temp_dir().join(format!("libmqtt-spans-{}.acl", std::process::id()));
    std::fs::write(&acl, "topic read #\n").expect("ACL file");
    let ro = ExampleBroker::start(&["--acl-file", acl.to_str().expect("UTF-8 path")]);
    let client = ClientOptions::new(ProtocolVersion::V5, "tracing-ro").expect("client id");
    let (c, _) = tokio::time::timeout(
        WAIT,
        mqtt_tokio::connect(ConnectOptions::new("127.0.0.1", ro.port(), client)),
    )
    .await
    .expect("in time")
    .expect("connects");
    let refused = tokio::time::timeout(WAIT, c.publish("denied/spans", QoS::AtLeastOnce, "x"))
        .await
        .expect("in time");
    let _ = std::fs::remove_file(&acl);
    assert!(
        matches!(refused, Err(Error::PublishRefused { .. })),
        "{refused:?}"
    );
    let spans = recorder.for_topic("denied/spans");
    let [publish] = &spans[..] else {
        panic!("one span: {spans:?}")
    };
    assert_eq!(publish.fields["otel.status_code"], "error");
    assert_eq!(publish.fields["error.type"], "not_authorized");
}
