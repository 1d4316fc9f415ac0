//! One trace from publisher to subscriber, through a broker (feature
//! `opentelemetry`).
//!
//! ```text
//! cargo run -p mqtt-core --example broker -- --port 1883 &      # or mosquitto
//! cargo run -p mqtt-tokio --features opentelemetry --example otel_trace -- --port 1883
//! cargo run -p mqtt-tokio --features opentelemetry --example otel_trace -- --port 1883 --v311
//! ```
//!
//! The publisher's PRODUCER span puts its trace context into the message
//! (5.0: the `traceparent` User Property; 3.1.1 with `--v311`: the payload
//! envelope); the subscriber's `receive` and `process` spans continue the
//! same trace. Prints the trace id on each side and every span (recorded
//! with opentelemetry_sdk's in-memory exporter); exits 1 if the ids
//! differ. Options: `--host`, `--port`, `--v311`, `--topic` (default
//! `demo/otel/7/temp`, subscribed as `demo/otel/+/temp`). Same output as
//! the Python client's `py/examples/otel_trace.py`, and the two interwork:
//! a trace goes from one language to the other.

use std::process::ExitCode;
use std::time::Duration;

use mqtt_tokio::mqtt_core::telemetry::trace_context;
use mqtt_tokio::opentelemetry::context::FutureExt;
use mqtt_tokio::opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use mqtt_tokio::opentelemetry::Context;
use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode, Telemetry};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

/// The options (public for `tests/opentelemetry.rs`, which runs this).
pub struct Args {
    /// The broker's host.
    pub host: String,
    /// The broker's port.
    pub port: u16,
    /// MQTT 3.1.1 with the envelope.
    pub v311: bool,
    /// The topic published to.
    pub topic: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        v311: false,
        topic: "demo/otel/7/temp".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => a.host = value()?,
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--topic" => a.topic = value()?,
            "--v311" => a.v311 = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// `a/b/c` -> `a/b/+/c`'s shape: the topic with its second-to-last level
/// a wildcard (`demo/otel/7/temp` -> `demo/otel/+/temp`).
fn template(topic: &str) -> String {
    let mut levels: Vec<&str> = topic.split('/').collect();
    if levels.len() >= 2 {
        let at = levels.len() - 2;
        levels[at] = "+";
    }
    levels.join("/")
}

/// Publishes one message and receives it; true when both sides saw one
/// trace id.
pub async fn run(a: Args) -> Result<bool, mqtt_tokio::Error> {
    let spans = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let meters = SdkMeterProvider::builder().build();
    let telemetry = Telemetry::new(&provider, &meters).with_envelope(a.v311);
    let version = if a.v311 {
        ProtocolVersion::V311
    } else {
        ProtocolVersion::V5
    };
    let pid = std::process::id();
    let options = |id: String| -> Result<ConnectOptions, mqtt_tokio::Error> {
        let client = ClientOptions::new(version, &id)?;
        Ok(ConnectOptions::new(a.host.clone(), a.port, client).with_telemetry(telemetry.clone()))
    };
    let (sub, _) = mqtt_tokio::connect(options(format!("otel-sub-{pid}"))?).await?;
    let (publisher, _) = mqtt_tokio::connect(options(format!("otel-pub-{pid}"))?).await?;
    let mut messages = sub.messages().ok_or(mqtt_tokio::Error::Closed(None))?;
    sub.subscribe(&template(&a.topic), QoS::AtLeastOnce).await?;

    // The application's own span; the publish is its child.
    let root = provider.tracer("example").start("read sensor");
    let cx = Context::current_with_span(root);
    let sent = cx.span().span_context().trace_id().to_string();
    publisher
        .publish(&a.topic, QoS::AtLeastOnce, "21.5")
        .with_context(cx.clone())
        .await?;
    cx.span().end();

    let message = tokio::time::timeout(Duration::from_secs(5), messages.recv())
        .await
        .map_err(|_| mqtt_tokio::Error::Timeout)?
        .ok_or(mqtt_tokio::Error::Closed(None))?;
    let received = {
        // The application's work, in a `process` span.
        let processing = telemetry.process(&message, Some(&sub));
        processing.span_context().trace_id().to_string()
    };
    let carried = trace_context::extract(&message.publish.properties);
    println!("publisher trace id   {sent}");
    println!(
        "in the message       {}",
        carried.map_or("none".to_owned(), |c| c.parent.to_string())
    );
    println!("subscriber trace id  {received}");
    let one = sent == received;
    println!(
        "{}",
        if one {
            "one trace"
        } else {
            "TWO TRACES: the context was lost"
        }
    );
    for s in spans.get_finished_spans().unwrap_or_default() {
        println!(
            "  span {:28} {:8} trace {} span {} parent {}",
            format!("{:?}", s.name),
            format!("{:?}", s.span_kind),
            s.span_context.trace_id(),
            s.span_context.span_id(),
            s.parent_span_id
        );
    }
    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await?;
    sub.disconnect(ReasonCode::NORMAL_DISCONNECTION).await?;
    Ok(one)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("usage: otel_trace [--host H] [--port P] [--v311] [--topic T]");
            return ExitCode::from(2);
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), run(args)).await {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::from(1),
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(_) => {
            eprintln!("error: timed out");
            ExitCode::from(1)
        }
    }
}
