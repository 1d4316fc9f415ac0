//! OpenTelemetry (feature `opentelemetry`): publisher -> our example broker
//! -> subscriber gives one trace, recorded with opentelemetry_sdk's
//! in-memory span exporter and metric exporter: the CONSUMER span's parent
//! (or link) is the PRODUCER span, the attributes are the core's semconv
//! names (as libmqtt's Python clients write them), durations plausible;
//! QoS 0, 1 and 2; MQTT 3.1.1 with the payload envelope (and without it:
//! nothing propagates); a publish the broker refuses (ACL, PUBACK 0x87)
//! has error status and `error.type` = `not_authorized`; off, nothing is
//! recorded and no User Property is added.

mod common;

#[allow(dead_code)]
#[path = "../examples/otel_trace.rs"]
mod otel_trace;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use common::{ExampleBroker, WAIT};
use mqtt_tokio::mqtt_core::telemetry::semconv as N;
use mqtt_tokio::mqtt_core::telemetry::trace_context;
use mqtt_tokio::opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use mqtt_tokio::opentelemetry::{KeyValue, Value};
use mqtt_tokio::{
    Client, ClientOptions, ConnectOptions, ConsumerContext, Error, Message, ProtocolVersion,
    Publish, QoS, ReasonCode, Telemetry,
};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

/// An SDK tracer provider and meter provider recording in memory.
struct Otel {
    spans: InMemorySpanExporter,
    tracer_provider: SdkTracerProvider,
    metrics: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
}

/// One metric data point: its attributes, and its value (a sum) or its
/// count, sum and bucket boundaries (a histogram).
#[derive(Debug, Clone)]
struct Point {
    attrs: Vec<KeyValue>,
    value: f64,
    count: u64,
    bounds: Vec<f64>,
}

impl Point {
    fn attr(&self, key: &str) -> Option<&Value> {
        self.attrs
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }
}

impl Otel {
    fn new() -> Otel {
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        Otel {
            spans,
            tracer_provider,
            metrics,
            meter_provider,
        }
    }

    fn telemetry(&self) -> Telemetry {
        Telemetry::new(&self.tracer_provider, &self.meter_provider)
    }

    fn finished(&self) -> Vec<SpanData> {
        self.spans.get_finished_spans().expect("finished spans")
    }

    /// The one span of `kind` whose operation name is `op`.
    fn span(&self, kind: SpanKind, op: &str) -> SpanData {
        let all = self.finished();
        let found: Vec<SpanData> = all
            .iter()
            .filter(|s| {
                s.span_kind == kind
                    && attr(s, N::MESSAGING_OPERATION_NAME) == Some(Value::from(op.to_owned()))
            })
            .cloned()
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one {op} span: {:?}",
            all.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        found.into_iter().next().expect("one span")
    }

    /// The data points of every metric, by name (the last export).
    fn metrics(&self) -> std::collections::HashMap<String, Vec<Point>> {
        self.meter_provider.force_flush().expect("flush metrics");
        let exported = self.metrics.get_finished_metrics().expect("metrics");
        let mut out = std::collections::HashMap::new();
        let Some(last) = exported.last() else {
            return out;
        };
        for scope in last.scope_metrics() {
            for m in scope.metrics() {
                let points: Vec<Point> = match m.data() {
                    AggregatedMetrics::U64(MetricData::Sum(s)) => s
                        .data_points()
                        .map(|p| Point {
                            attrs: p.attributes().cloned().collect(),
                            value: p.value() as f64,
                            count: 0,
                            bounds: Vec::new(),
                        })
                        .collect(),
                    AggregatedMetrics::I64(MetricData::Sum(s)) => s
                        .data_points()
                        .map(|p| Point {
                            attrs: p.attributes().cloned().collect(),
                            value: p.value() as f64,
                            count: 0,
                            bounds: Vec::new(),
                        })
                        .collect(),
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => h
                        .data_points()
                        .map(|p| Point {
                            attrs: p.attributes().cloned().collect(),
                            value: p.sum(),
                            count: p.count(),
                            bounds: p.bounds().collect(),
                        })
                        .collect(),
                    other => panic!("unexpected metric data for {}: {other:?}", m.name()),
                };
                out.entry(m.name().to_owned())
                    .or_insert_with(Vec::new)
                    .extend(points);
            }
        }
        out
    }
}

/// The wall clock the SDK stamps spans with (the tests compare with it).
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> SystemTime {
    SystemTime::now()
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn s(v: &str) -> Value {
    Value::from(v.to_owned())
}

fn uid(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn options(addr: SocketAddr, version: ProtocolVersion, id: &str) -> ConnectOptions {
    let client = ClientOptions::new(version, id).expect("client id");
    ConnectOptions::new(addr.ip().to_string(), addr.port(), client)
}

async fn connect(options: ConnectOptions) -> Client {
    tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("connect in time")
        .expect("connects")
        .0
}

async fn next(messages: &mut mqtt_tokio::Messages) -> Message {
    tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("a message in time")
        .expect("the stream is open")
}

fn user_properties(m: &Message) -> Vec<(String, String)> {
    m.publish
        .properties
        .user_properties
        .iter()
        .map(|p| (p.key.as_str().to_owned(), p.value.as_str().to_owned()))
        .collect()
}

/// Start and end within the test, the span no longer than the test.
fn check_plausible(span: &SpanData, started: SystemTime) {
    let now = wall_clock();
    assert!(started <= span.start_time, "{}", span.name);
    assert!(span.start_time <= span.end_time, "{}", span.name);
    assert!(span.end_time <= now, "{}", span.name);
    let took = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default();
    assert!(took < now.duration_since(started).unwrap_or_default());
}

fn check_client_attributes(span: &SpanData, client_id: &str, port: u16, version: &str) {
    assert_eq!(attr(span, N::MESSAGING_SYSTEM), Some(s("mqtt")));
    assert_eq!(attr(span, N::MESSAGING_CLIENT_ID), Some(s(client_id)));
    assert_eq!(attr(span, N::SERVER_ADDRESS), Some(s("127.0.0.1")));
    assert_eq!(
        attr(span, N::SERVER_PORT),
        Some(Value::I64(i64::from(port)))
    );
    assert_eq!(attr(span, N::NETWORK_PROTOCOL_NAME), Some(s("mqtt")));
    assert_eq!(attr(span, N::NETWORK_PROTOCOL_VERSION), Some(s(version)));
}

/// The PRODUCER span and the CONSUMER `receive` span are one trace, the
/// receive span the publish span's child; attributes as semconv.rs says.
fn check_one_trace(
    otel: &Otel,
    topic: &str,
    template: &str,
    qos: QoS,
    payload: &[u8],
    started: SystemTime,
) -> (SpanData, SpanData) {
    let publish = otel.span(SpanKind::Producer, "publish");
    let receive = otel.span(SpanKind::Consumer, "receive");
    assert_eq!(publish.name, format!("publish {topic}"));
    assert_eq!(receive.name, format!("receive {template}"));
    assert_eq!(
        receive.span_context.trace_id(),
        publish.span_context.trace_id()
    );
    assert_eq!(receive.parent_span_id, publish.span_context.span_id());
    assert_eq!(publish.parent_span_id, SpanId::INVALID);
    for (span, op_type) in [(&publish, "send"), (&receive, "receive")] {
        assert_eq!(attr(span, N::MESSAGING_OPERATION_TYPE), Some(s(op_type)));
        assert_eq!(attr(span, N::MESSAGING_DESTINATION_NAME), Some(s(topic)));
        assert_eq!(
            attr(span, N::MESSAGING_MESSAGE_BODY_SIZE),
            Some(Value::I64(payload.len() as i64))
        );
        assert_eq!(attr(span, N::MQTT_QOS), Some(Value::I64(qos as i64)));
        assert_eq!(attr(span, N::MQTT_RETAIN), Some(Value::Bool(false)));
        check_plausible(span, started);
    }
    assert_eq!(attr(&publish, N::MESSAGING_DESTINATION_TEMPLATE), None);
    assert_eq!(
        attr(&receive, N::MESSAGING_DESTINATION_TEMPLATE),
        Some(s(template))
    );
    assert_eq!(attr(&receive, N::MQTT_DUP), Some(Value::Bool(false)));
    assert_eq!(publish.status, Status::Unset);
    (publish, receive)
}

async fn one_trace(qos: QoS) {
    let broker = ExampleBroker::start(&[]);
    one_trace_through(broker.addr, qos).await;
}

/// Publisher -> the broker at `addr` -> subscriber, both instrumented.
async fn one_trace_through(addr: SocketAddr, qos: QoS) {
    let otel = Otel::new();
    let base = uid("tel");
    let (topic, template) = (format!("{base}/7/temp"), format!("{base}/+/temp"));
    let started = wall_clock();
    let (sub_id, pub_id) = (uid("sub"), uid("pub"));
    let sub =
        connect(options(addr, ProtocolVersion::V5, &sub_id).with_telemetry(otel.telemetry())).await;
    let publisher =
        connect(options(addr, ProtocolVersion::V5, &pub_id).with_telemetry(otel.telemetry())).await;
    let mut messages = sub.messages().expect("the stream");
    sub.subscribe(&template, qos).await.expect("SUBACK");
    let publish = Publish::new(&topic, &b"21.5"[..])
        .unwrap()
        .with_qos(qos, 0)
        .with_user_property("unit", "celsius")
        .unwrap()
        .with_user_property("z", "1")
        .unwrap();
    let done = tokio::time::timeout(WAIT, publisher.publish_with(publish))
        .await
        .expect("publish in time")
        .expect("publish completes");
    assert!(!done.reason_code.is_error());
    let message = next(&mut messages).await;
    assert_eq!(&message.publish.payload[..], b"21.5");
    let props = user_properties(&message);
    assert_eq!(
        props[..2],
        [
            ("unit".to_owned(), "celsius".to_owned()),
            ("z".to_owned(), "1".to_owned())
        ],
        "the application's User Properties first, in order"
    );
    assert_eq!(
        props[2..]
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        ["traceparent"]
    );
    {
        let telemetry = sub.telemetry().expect("instrumented");
        let processing = telemetry.process(&message, Some(&sub));
        assert!(processing.span_context().is_valid());
    }
    let (p, r) = check_one_trace(&otel, &topic, &template, qos, b"21.5", started);
    check_client_attributes(&p, &pub_id, addr.port(), "5.0");
    check_client_attributes(&r, &sub_id, addr.port(), "5.0");
    // The traceparent in the message is the PRODUCER span's.
    let carried = trace_context::extract(&message.publish.properties).expect("a valid traceparent");
    assert_eq!(
        TraceId::from_bytes(carried.parent.trace_id),
        p.span_context.trace_id()
    );
    assert_eq!(
        SpanId::from_bytes(carried.parent.parent_id),
        p.span_context.span_id()
    );
    let process = otel.span(SpanKind::Consumer, "process");
    assert_eq!(process.name, format!("process {template}"));
    assert_eq!(process.parent_span_id, p.span_context.span_id());
    assert_eq!(
        attr(&process, N::MESSAGING_OPERATION_TYPE),
        Some(s("process"))
    );
    assert_eq!(attr(&process, N::MESSAGING_CLIENT_ID), Some(s(&sub_id)));
    check_plausible(&process, started);

    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    sub.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    let elapsed = started.elapsed().unwrap_or_default().as_secs_f64();
    let m = otel.metrics();
    let [sent] = &m[N::METRIC_SENT_MESSAGES][..] else {
        panic!("one sent point: {m:?}")
    };
    assert_eq!(sent.value, 1.0);
    assert_eq!(sent.attr(N::MESSAGING_DESTINATION_NAME), Some(&s(&topic)));
    assert_eq!(sent.attr(N::MESSAGING_OPERATION_NAME), Some(&s("publish")));
    assert_eq!(sent.attr(N::ERROR_TYPE), None);
    assert_eq!(
        sent.attr(N::MESSAGING_CLIENT_ID),
        None,
        "no client id in metrics"
    );
    let [consumed] = &m[N::METRIC_CONSUMED_MESSAGES][..] else {
        panic!("one consumed point: {m:?}")
    };
    assert_eq!(consumed.value, 1.0);
    assert_eq!(
        consumed.attr(N::MESSAGING_DESTINATION_TEMPLATE),
        Some(&s(&template))
    );
    let [duration] = &m[N::METRIC_OPERATION_DURATION][..] else {
        panic!("one duration point: {m:?}")
    };
    assert_eq!(duration.count, 1);
    assert!(
        duration.value > 0.0 && duration.value < elapsed,
        "{duration:?}"
    );
    assert_eq!(duration.bounds, N::DURATION_BUCKETS.to_vec());
    assert_eq!(duration.attr(N::MESSAGING_OPERATION_TYPE), Some(&s("send")));
    let [processing] = &m[N::METRIC_PROCESS_DURATION][..] else {
        panic!("one process point: {m:?}")
    };
    assert_eq!(processing.count, 1);
    if qos != QoS::AtMostOnce {
        let [inflight] = &m[N::METRIC_INFLIGHT][..] else {
            panic!("one in-flight point: {m:?}")
        };
        assert_eq!(inflight.value, 0.0, "up once, down once");
    } else {
        assert!(
            !m.contains_key(N::METRIC_INFLIGHT),
            "QoS 0 is never in flight"
        );
    }
    let connections: u64 = m[N::METRIC_CONNECTION_DURATION]
        .iter()
        .map(|p| p.count)
        .sum();
    assert_eq!(connections, 2, "one connection each, ended");
    assert!(
        !m.contains_key(N::METRIC_RECONNECTS),
        "no reconnection happened"
    );
}

#[tokio::test]
async fn one_trace_through_our_broker_qos0() {
    one_trace(QoS::AtMostOnce).await;
}

#[tokio::test]
async fn one_trace_through_our_broker_qos1() {
    one_trace(QoS::AtLeastOnce).await;
}

#[tokio::test]
async fn one_trace_through_our_broker_qos2() {
    one_trace(QoS::ExactlyOnce).await;
}

/// Debian's mosquitto forwards the User Properties untouched too.
#[tokio::test]
async fn one_trace_through_mosquitto_qos1() {
    let mosquitto = common::Mosquitto::start(false);
    one_trace_through(mosquitto.addr, QoS::AtLeastOnce).await;
}

#[tokio::test]
async fn consumer_span_linked_when_asked() {
    let broker = ExampleBroker::start(&[]);
    let otel = Otel::new();
    let topic = uid("link");
    let telemetry = otel
        .telemetry()
        .with_consumer_context(ConsumerContext::Link);
    let c = connect(options(broker.addr, ProtocolVersion::V5, &uid("c")).with_telemetry(telemetry))
        .await;
    let mut messages = c.messages().expect("the stream");
    c.subscribe(&topic, QoS::AtLeastOnce).await.expect("SUBACK");
    c.publish(&topic, QoS::AtLeastOnce, "x")
        .await
        .expect("publish");
    let message = next(&mut messages).await;
    drop(c.telemetry().expect("on").process(&message, Some(&c)));
    let publish = otel.span(SpanKind::Producer, "publish");
    for op in ["receive", "process"] {
        let span = otel.span(SpanKind::Consumer, op);
        assert_eq!(span.parent_span_id, SpanId::INVALID, "{op}: a new trace");
        assert_ne!(
            span.span_context.trace_id(),
            publish.span_context.trace_id()
        );
        let [link] = &span.links.links[..] else {
            panic!("{op}: one link: {:?}", span.links)
        };
        assert_eq!(link.span_context.span_id(), publish.span_context.span_id());
        assert_eq!(
            link.span_context.trace_id(),
            publish.span_context.trace_id()
        );
    }
}

#[tokio::test]
async fn refused_publish_has_error_status_and_type() {
    // Our broker with an ACL that lets anyone read and nobody write:
    // PUBACK 0x87 Not authorized.
    let acl = std::env::temp_dir().join(format!("{}.acl", uid("libmqtt-otel")));
    std::fs::write(&acl, "topic read #\n").expect("ACL file");
    let broker = ExampleBroker::start(&["--acl-file", acl.to_str().expect("UTF-8 path")]);
    let otel = Otel::new();
    let c = connect(
        options(broker.addr, ProtocolVersion::V5, &uid("ro")).with_telemetry(otel.telemetry()),
    )
    .await;
    let refused = tokio::time::timeout(WAIT, c.publish("denied/1", QoS::AtLeastOnce, "x"))
        .await
        .expect("PUBACK in time");
    let _ = std::fs::remove_file(&acl);
    match refused {
        Err(Error::PublishRefused { reason_code, .. }) => {
            assert_eq!(reason_code, ReasonCode::NotAuthorized)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let publish = otel.span(SpanKind::Producer, "publish");
    assert!(
        matches!(publish.status, Status::Error { .. }),
        "{:?}",
        publish.status
    );
    assert_eq!(attr(&publish, N::ERROR_TYPE), Some(s("not_authorized")));
    let m = otel.metrics();
    let [sent] = &m[N::METRIC_SENT_MESSAGES][..] else {
        panic!("one sent point: {m:?}")
    };
    assert_eq!(sent.attr(N::ERROR_TYPE), Some(&s("not_authorized")));
    let [duration] = &m[N::METRIC_OPERATION_DURATION][..] else {
        panic!("one duration point: {m:?}")
    };
    assert_eq!(duration.attr(N::ERROR_TYPE), Some(&s("not_authorized")));
    let [inflight] = &m[N::METRIC_INFLIGHT][..] else {
        panic!("one in-flight point: {m:?}")
    };
    assert_eq!(inflight.value, 0.0);
}

async fn v311_envelope(qos: QoS) {
    let broker = ExampleBroker::start(&[]);
    let otel = Otel::new();
    let topic = format!("{}/a", uid("env"));
    let started = wall_clock();
    let telemetry = otel.telemetry().with_envelope(true);
    let sub = connect(
        options(broker.addr, ProtocolVersion::V311, &uid("s")).with_telemetry(telemetry.clone()),
    )
    .await;
    let publisher =
        connect(options(broker.addr, ProtocolVersion::V311, &uid("p")).with_telemetry(telemetry))
            .await;
    let mut messages = sub.messages().expect("the stream");
    sub.subscribe(&topic, qos).await.expect("SUBACK");
    tokio::time::timeout(WAIT, publisher.publish(&topic, qos, "21.5"))
        .await
        .expect("in time")
        .expect("publish");
    let message = next(&mut messages).await;
    assert_eq!(&message.publish.payload[..], b"21.5", "the envelope opened");
    assert!(trace_context::extract(&message.publish.properties).is_some());
    let (publish, _) = check_one_trace(&otel, &topic, &topic, qos, b"21.5", started);
    assert_eq!(
        attr(&publish, N::NETWORK_PROTOCOL_VERSION),
        Some(s("3.1.1"))
    );
}

#[tokio::test]
async fn v311_envelope_carries_the_trace_qos0() {
    v311_envelope(QoS::AtMostOnce).await;
}

#[tokio::test]
async fn v311_envelope_carries_the_trace_qos1() {
    v311_envelope(QoS::AtLeastOnce).await;
}

#[tokio::test]
async fn v311_without_envelope_propagates_nothing() {
    let broker = ExampleBroker::start(&[]);
    let otel = Otel::new();
    let topic = uid("plain");
    let c = connect(
        options(broker.addr, ProtocolVersion::V311, &uid("c")).with_telemetry(otel.telemetry()),
    )
    .await;
    let mut messages = c.messages().expect("the stream");
    c.subscribe(&topic, QoS::AtLeastOnce).await.expect("SUBACK");
    c.publish(&topic, QoS::AtLeastOnce, "raw")
        .await
        .expect("publish");
    let message = next(&mut messages).await;
    assert_eq!(&message.publish.payload[..], b"raw");
    let receive = otel.span(SpanKind::Consumer, "receive");
    assert_eq!(receive.parent_span_id, SpanId::INVALID);
    assert_ne!(
        receive.span_context.trace_id(),
        otel.span(SpanKind::Producer, "publish")
            .span_context
            .trace_id()
    );
}

#[tokio::test]
async fn off_records_nothing_and_adds_nothing() {
    let broker = ExampleBroker::start(&[]);
    let otel = Otel::new(); // exists, but no client is given it
    let topic = uid("off");
    let c = connect(options(broker.addr, ProtocolVersion::V5, &uid("c"))).await;
    assert!(c.telemetry().is_none());
    let mut messages = c.messages().expect("the stream");
    c.subscribe(&topic, QoS::AtLeastOnce).await.expect("SUBACK");
    let publish = Publish::new(&topic, &b"x"[..])
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 0)
        .with_user_property("a", "b")
        .unwrap();
    c.publish_with(publish).await.expect("publish");
    let message = next(&mut messages).await;
    assert_eq!(
        user_properties(&message),
        [("a".to_owned(), "b".to_owned())]
    );
    c.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    assert!(otel.finished().is_empty());
    assert!(otel.metrics().is_empty(), "{:?}", otel.metrics());
}

#[tokio::test]
async fn process_marks_errors() {
    let broker = ExampleBroker::start(&[]);
    let otel = Otel::new();
    let topic = uid("err");
    let c = connect(
        options(broker.addr, ProtocolVersion::V5, &uid("c")).with_telemetry(otel.telemetry()),
    )
    .await;
    let mut messages = c.messages().expect("the stream");
    c.subscribe(&topic, QoS::AtLeastOnce).await.expect("SUBACK");
    c.publish(&topic, QoS::AtLeastOnce, "x")
        .await
        .expect("publish");
    let message = next(&mut messages).await;
    let mut processing = otel.telemetry().process(&message, Some(&c));
    processing.set_error("bad_reading");
    tokio::time::sleep(Duration::from_millis(5)).await;
    processing.end();
    let process = otel.span(SpanKind::Consumer, "process");
    assert!(matches!(process.status, Status::Error { .. }));
    assert_eq!(attr(&process, N::ERROR_TYPE), Some(s("bad_reading")));
    assert_eq!(
        process.parent_span_id,
        otel.span(SpanKind::Producer, "publish")
            .span_context
            .span_id()
    );
    let m = otel.metrics();
    let [point] = &m[N::METRIC_PROCESS_DURATION][..] else {
        panic!("one process point: {m:?}")
    };
    assert_eq!(point.attr(N::ERROR_TYPE), Some(&s("bad_reading")));
    assert!(point.value >= 0.005, "{point:?}");
}

/// A TCP proxy to the broker whose connections the test can cut.
struct Proxy {
    port: u16,
    cut: tokio::sync::watch::Sender<u32>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(to: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (cut, cuts) = tokio::sync::watch::channel(0u32);
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut cuts = cuts.clone();
                let seen = *cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(to).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.wait_for(|n| *n != seen) => {}
                    }
                });
            }
        });
        Proxy { port, cut, task }
    }

    /// Closes every connection open now (new ones go through).
    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn reconnect_metrics() {
    let broker = ExampleBroker::start(&[]);
    let proxy = Proxy::start(broker.addr).await;
    let otel = Otel::new();
    let client = ClientOptions::new(ProtocolVersion::V5, &uid("re")).expect("client id");
    let options = ConnectOptions::new("127.0.0.1", proxy.port, client)
        .with_reconnect(Some(mqtt_tokio::Backoff::new(10, 50)))
        .with_telemetry(otel.telemetry());
    let c = connect(options).await;
    let mut status = c.status();
    assert_eq!(c.stats().connections, 1);
    proxy.cut();
    // Connected again (a watch may skip the states in between).
    tokio::time::timeout(WAIT, async {
        while !(c.stats().connections == 2
            && matches!(
                *status.borrow_and_update(),
                mqtt_tokio::Status::Connected(_)
            ))
        {
            let _ = status.changed().await;
        }
    })
    .await
    .expect("reconnected in time");
    c.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    let m = otel.metrics();
    let [reconnects] = &m[N::METRIC_RECONNECTS][..] else {
        panic!("one reconnect point: {m:?}")
    };
    assert_eq!(reconnects.value, 1.0);
    assert_eq!(
        reconnects.attr(N::SERVER_PORT),
        Some(&Value::I64(i64::from(proxy.port)))
    );
    let connections: u64 = m[N::METRIC_CONNECTION_DURATION]
        .iter()
        .map(|p| p.count)
        .sum();
    assert_eq!(connections, 2, "the cut one and the last one");
}

#[tokio::test]
async fn shared_subscription_gives_template_and_group() {
    let broker = ExampleBroker::start(&[]);
    let otel = Otel::new();
    let base = uid("shared");
    let c = connect(
        options(broker.addr, ProtocolVersion::V5, &uid("w")).with_telemetry(otel.telemetry()),
    )
    .await;
    let (_, mut stream) = c
        .subscribe_stream(&format!("$share/workers/{base}/#"), QoS::AtLeastOnce)
        .await
        .expect("SUBACK");
    c.publish(&format!("{base}/job/1"), QoS::AtLeastOnce, "x")
        .await
        .expect("publish");
    let message = tokio::time::timeout(WAIT, stream.recv())
        .await
        .expect("in time")
        .expect("a message");
    drop(otel.telemetry().process(&message, Some(&c)));
    for op in ["receive", "process"] {
        let span = otel.span(SpanKind::Consumer, op);
        assert_eq!(
            span.name,
            format!("{op} {base}/#"),
            "the filter, not the topic"
        );
        assert_eq!(
            attr(&span, N::MESSAGING_DESTINATION_TEMPLATE),
            Some(s(&format!("{base}/#")))
        );
        assert_eq!(
            attr(&span, N::MESSAGING_CONSUMER_GROUP_NAME),
            Some(s("workers"))
        );
        assert_eq!(
            attr(&span, N::MESSAGING_DESTINATION_NAME),
            Some(s(&format!("{base}/job/1")))
        );
    }
}

/// `examples/otel_trace.rs`: one trace id on both sides, 5.0 and 3.1.1
/// with the envelope.
#[tokio::test]
async fn the_example_shows_one_trace() {
    let broker = ExampleBroker::start(&[]);
    for v311 in [false, true] {
        let args = otel_trace::Args {
            host: "127.0.0.1".into(),
            port: broker.port(),
            v311,
            topic: format!("{}/7/temp", uid("example")),
        };
        let one = tokio::time::timeout(WAIT, otel_trace::run(args))
            .await
            .expect("in time")
            .expect("the example runs");
        assert!(one, "v311 {v311}: one trace");
    }
}
