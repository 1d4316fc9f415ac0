//! One trace across languages (feature `opentelemetry`): a Rust publisher
//! (mqtt-tokio with `Telemetry`) and a Python subscriber (libmqtt's
//! asyncio client with its `Telemetry`, opentelemetry-sdk's in-memory
//! exporter) through our example broker. The Python `receive` and
//! `process` spans must be in the Rust PRODUCER span's trace, its children:
//! the same trace context format (5.0 User Properties; 3.1.1 the payload
//! envelope, opened for the Python application).
//!
//! The Python is `LIBMQTT_PYTHON`, else `<repo>/.venv/bin/python` (`make
//! py-test` installs libmqtt and opentelemetry-sdk there). Without it the
//! tests fail, saying so: they never pass without having run.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{ExampleBroker, WAIT};
use mqtt_tests::broker_proc::Proc;
use mqtt_tokio::opentelemetry::trace::SpanKind;
use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode, Telemetry};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

/// The Python interpreter with what these tests import.
fn python() -> PathBuf {
    common::python("libmqtt.telemetry, opentelemetry.sdk.trace")
}

/// The Python subscriber: prints `ready` once subscribed, then, after one
/// message, a line per finished span: `span|name|kind|trace id|parent
/// span id|payload`.
const SUBSCRIBER: &str = r#"
import asyncio, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from libmqtt.asyncio import Client
from libmqtt.telemetry import Telemetry

port, topic, version = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

async def main():
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(tracer_provider=provider, envelope=(version == 4))
    async with Client("127.0.0.1", port, version=version, telemetry=telemetry) as c:
        await c.subscribe(topic, qos=1)
        print("ready", flush=True)
        m = await c.messages.get(20)
        with telemetry.process(m, c):
            pass
    for s in spans.get_finished_spans():
        parent = f"{s.parent.span_id:016x}" if s.parent else "-"
        print(f"span|{s.name}|{s.kind.name}|{s.context.trace_id:032x}|{parent}|{m.payload.decode()}", flush=True)

asyncio.run(asyncio.wait_for(main(), 30))
"#;

async fn rust_to_python(version: ProtocolVersion) {
    let python = python();
    let broker = ExampleBroker::start(&[]);
    let topic = format!("xlang/{}/{}/temp", std::process::id(), version as u8);
    let level = if version == ProtocolVersion::V5 {
        "5"
    } else {
        "4"
    };
    let port = broker.port().to_string();
    let mut sub = Proc::spawn(
        Command::new(&python).args(["-c", SUBSCRIBER, &port, &topic, level]),
        "python subscriber",
    );
    tokio::task::block_in_place(|| sub.expect_line(WAIT, |l| l == "ready"));

    let spans = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let telemetry = Telemetry::new(&provider, &SdkMeterProvider::builder().build())
        .with_envelope(version != ProtocolVersion::V5);
    let client = ClientOptions::new(version, "xlang-pub").expect("client id");
    let options = ConnectOptions::new("127.0.0.1", broker.port(), client).with_telemetry(telemetry);
    let (publisher, _) = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("connect in time")
        .expect("connects");
    tokio::time::timeout(WAIT, publisher.publish(&topic, QoS::AtLeastOnce, "21.5"))
        .await
        .expect("in time")
        .expect("publish");
    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    let exited = tokio::task::block_in_place(|| sub.wait(WAIT));
    let lines = sub.output();
    assert!(
        exited.is_some_and(|s| s.success()),
        "the Python subscriber failed: {lines:#?}"
    );

    let finished = spans.get_finished_spans().expect("spans");
    let [producer] = &finished[..] else {
        panic!("one Rust span: {finished:?}")
    };
    assert_eq!(producer.span_kind, SpanKind::Producer);
    let trace = producer.span_context.trace_id().to_string();
    let span = producer.span_context.span_id().to_string();
    let python_spans: Vec<Vec<&str>> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("span|"))
        .map(|l| l.split('|').collect())
        .collect();
    for op in ["receive", "process"] {
        let found = python_spans
            .iter()
            .find(|f| f[0] == format!("{op} {topic}"))
            .unwrap_or_else(|| panic!("no Python {op} span: {lines:#?}"));
        assert_eq!(found[1], "CONSUMER");
        assert_eq!(found[2], trace, "{op}: the Rust publisher's trace");
        assert_eq!(found[3], span, "{op}: the Rust PRODUCER span's child");
        assert_eq!(found[4], "21.5", "the payload as published");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_publisher_python_subscriber_one_trace_v5() {
    rust_to_python(ProtocolVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_publisher_python_subscriber_one_trace_v311_envelope() {
    rust_to_python(ProtocolVersion::V311).await;
}
