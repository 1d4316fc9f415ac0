//! The cost of mqtt-tokio's OpenTelemetry instrumentation (issue 16):
//! messages/s and client CPU per message at QoS 0 and 1 with it off, on
//! with no-op providers (OpenTelemetry's `NoopTracerProvider`, the global
//! no-op meter provider), and on with the SDK (batch span processor to an
//! exporter that discards; metrics aggregated in memory, the periodic
//! reader's first export a minute away), in the
//! same run, alternating.
//!
//! One process: one publisher (100 publishes in flight, each awaited to
//! its acknowledgement) and one subscriber, both with the mode's
//! instrumentation, through a broker on 127.0.0.1 (`--port`, e.g. our
//! release example broker). CPU is the process's user + system time
//! (getrusage) per delivered message. Built with the `otel` feature:
//!
//! ```text
//! cargo build --release -p mqtt-core --example broker   # in the repository
//! target/release/examples/broker --port 1884 &
//! cd bench && cargo run --release --features otel --bin tokio_otel -- --port 1884 --count 50000 --reps 3
//! ```

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use mqtt_tokio::opentelemetry::trace::noop::NoopTracerProvider;
use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode, Telemetry};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};

/// A span exporter that drops what it is given (the SDK's work without
/// the exporter's).
#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Off,
    Noop,
    Sdk,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Noop => "on, no-op providers",
            Mode::Sdk => "on, SDK (batch)",
        }
    }
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// One run: (delivered, msg/s, CPU µs per delivered message).
async fn run(port: u16, mode: Mode, qos: QoS, count: usize, tag: &str) -> (usize, f64, f64) {
    let sdk_traces = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(Discard).build())
        .build();
    let sdk_meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(InMemoryMetricExporter::default()).build())
        .build();
    let telemetry = match mode {
        Mode::Off => None,
        Mode::Noop => Some(Telemetry::new(
            &NoopTracerProvider::new(),
            &*mqtt_tokio::opentelemetry::global::meter_provider(),
        )),
        Mode::Sdk => Some(Telemetry::new(&sdk_traces, &sdk_meters)),
    };
    let options = |id: &str| {
        let client = ClientOptions::new(ProtocolVersion::V5, id)
            .expect("client id")
            .with_max_inflight(100);
        let o = ConnectOptions::new("127.0.0.1", port, client).with_message_capacity(4096);
        match &telemetry {
            Some(t) => o.with_telemetry(t.clone()),
            None => o,
        }
    };
    let topic = format!("otelcost/{tag}");
    let (sub, _) = mqtt_tokio::connect(options(&format!("{tag}-s")))
        .await
        .expect("subscriber connects");
    let (publisher, _) = mqtt_tokio::connect(options(&format!("{tag}-p")))
        .await
        .expect("publisher connects");
    let mut messages = sub.messages().expect("the stream");
    sub.subscribe(&topic, qos).await.expect("SUBACK");
    let receiver = tokio::spawn(async move {
        let mut n = 0;
        while n < count {
            match tokio::time::timeout(Duration::from_secs(2), messages.recv()).await {
                Ok(Some(_)) => n += 1,
                _ => break,
            }
        }
        (n, now())
    });
    let cpu0 = cpu_seconds();
    let t0 = now();
    let payload = bytes::Bytes::from(vec![7u8; 32]);
    stream::iter(0..count)
        .map(|_| publisher.publish(&topic, qos, payload.clone()))
        .buffer_unordered(100)
        .for_each(|r| async move {
            r.expect("publish");
        })
        .await;
    let (delivered, last) = receiver.await.expect("receiver");
    let cpu = cpu_seconds() - cpu0;
    let took = last.duration_since(t0).as_secs_f64();
    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    sub.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    let _ = sdk_traces.shutdown();
    let per = cpu * 1e6 / delivered.max(1) as f64;
    (delivered, delivered as f64 / took, per)
}

fn main() {
    let mut port = 1883u16;
    let mut count = 20_000usize;
    let mut reps = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().expect("a value");
        match a.as_str() {
            "--port" => port = value().parse().expect("--port"),
            "--count" => count = value().parse().expect("--count"),
            "--reps" => reps = value().parse().expect("--reps"),
            other => panic!("unknown option {other}: --port P --count N --reps R"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let modes = [Mode::Off, Mode::Noop, Mode::Sdk];
    println!("| client | QoS | msg/s (best of {reps}) | CPU µs/msg (lowest) | delivered |");
    println!("|---|---|---:|---:|---:|");
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        let mut best = [(0usize, 0f64, f64::MAX); 3];
        for rep in 0..reps {
            for i in 0..modes.len() {
                // Alternate the order between repetitions.
                let m = if rep % 2 == 0 { i } else { modes.len() - 1 - i };
                let tag = format!("{}-{}-{rep}-{m}", std::process::id(), qos as u8);
                let (n, rate, cpu) = rt.block_on(run(port, modes[m], qos, count, &tag));
                let b = &mut best[m];
                b.0 = b.0.max(n);
                b.1 = b.1.max(rate);
                b.2 = b.2.min(cpu);
            }
        }
        for (m, (n, rate, cpu)) in modes.iter().zip(best) {
            println!(
                "| mqtt-tokio, {} | {} | {:.0} | {:.2} | {n} |",
                m.name(),
                qos as u8,
                rate,
                cpu
            );
        }
    }
}
