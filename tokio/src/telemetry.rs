//! OpenTelemetry instrumentation (feature `opentelemetry`): spans and
//! metrics after the messaging semantic conventions, and the W3C trace
//! context carried in each message, with the names and formats of
//! [`mqtt_core::telemetry`] (the same as libmqtt's Python clients write,
//! so one trace crosses both).
//!
//! The client calls a few hooks, and only when
//! [`ConnectOptions::with_telemetry`](crate::ConnectOptions::with_telemetry)
//! gave it a [`Telemetry`]: a publish (its start, and its end at PUBACK /
//! PUBCOMP, or once the core has taken it at QoS 0), a message's arrival,
//! SUBSCRIBE / UNSUBSCRIBE (the filters, for
//! `messaging.destination.template`), and the connection's start and end.
//! Without it, each hook is one `Option` test.

#[cfg(feature = "opentelemetry")]
pub use on::*;

#[cfg(not(feature = "opentelemetry"))]
pub(crate) use off::Hooks;

#[cfg(not(feature = "opentelemetry"))]
mod off {
    use mqtt_core::client::Message;

    /// Without the feature there are no hooks: `Option<Arc<Hooks>>` is
    /// always `None`.
    pub(crate) enum Hooks {}

    #[allow(clippy::unused_self)]
    impl Hooks {
        pub(crate) fn received(&self, _m: Message) -> Message {
            match *self {}
        }
        pub(crate) fn connected(&self, _client_id: &str) {
            match *self {}
        }
        pub(crate) fn disconnected(&self) {
            match *self {}
        }
        pub(crate) fn subscribed<'a>(&self, _filters: impl Iterator<Item = &'a str>) {
            match *self {}
        }
        pub(crate) fn unsubscribed<'a>(&self, _filters: impl Iterator<Item = &'a str>) {
            match *self {}
        }
    }

    pub(crate) fn hooks(_options: &crate::ConnectOptions) -> Option<std::sync::Arc<Hooks>> {
        None
    }
}

#[cfg(not(feature = "opentelemetry"))]
pub(crate) use off::hooks;

#[cfg(feature = "opentelemetry")]
mod on {
    use std::borrow::Cow;
    use std::str::FromStr;
    use std::sync::{Arc, Mutex, PoisonError};
    use tokio::time::Instant;

    use mqtt_core::client::Message;
    use mqtt_core::codec::{ProtocolVersion, Publish, QoS, ReasonCode};
    use mqtt_core::telemetry::semconv as N;
    use mqtt_core::telemetry::trace_context::{self, TraceContext, TraceParent};
    use mqtt_core::telemetry::{envelope, TraceState as CoreTraceState};
    use opentelemetry::global::{BoxedSpan, BoxedTracer};
    use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider, UpDownCounter};
    use opentelemetry::trace::{
        Link, Span, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
        TraceState, Tracer, TracerProvider,
    };
    use opentelemetry::{Context, InstrumentationScope, KeyValue};

    use crate::{Client, Error};

    /// The semantic conventions' schema the names follow.
    const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.27.0";

    /// Where a received message's CONSUMER spans go relative to the
    /// producer's span carried in the message.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    #[non_exhaustive]
    pub enum ConsumerContext {
        /// Children of the producer's span: one trace (the default).
        #[default]
        Parent,
        /// A new trace with a link to the producer's span.
        Link,
    }

    /// OpenTelemetry instrumentation for a [`Client`]: give it to
    /// [`ConnectOptions::with_telemetry`](crate::ConnectOptions::with_telemetry).
    /// Cheap to clone; one may serve many clients.
    ///
    /// Spans: `publish {topic}` (PRODUCER) from the call until PUBACK /
    /// PUBCOMP (QoS 0: the core has taken it), with error status and
    /// `error.type` on refusal; `receive {filter or topic}` (CONSUMER) per
    /// message; `process {filter or topic}` (CONSUMER) around the
    /// application's handling with [`process`](Self::process). Metrics:
    /// `messaging.client.sent.messages`, `messaging.client.consumed.messages`,
    /// `messaging.client.operation.duration`, `messaging.process.duration`,
    /// `mqtt.client.reconnects`, `mqtt.client.connection.duration` and
    /// `mqtt.client.inflight.messages` (names in
    /// [`mqtt_core::telemetry::semconv`]).
    ///
    /// ```
    /// use mqtt_tokio::telemetry::{ConsumerContext, Telemetry};
    /// let telemetry = Telemetry::global().with_consumer_context(ConsumerContext::Link);
    /// assert_eq!(telemetry.consumer_context(), ConsumerContext::Link);
    /// ```
    #[derive(Clone)]
    pub struct Telemetry {
        inner: Arc<Instruments>,
        consumer_context: ConsumerContext,
        envelope: bool,
    }

    impl std::fmt::Debug for Telemetry {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Telemetry")
                .field("consumer_context", &self.consumer_context)
                .field("envelope", &self.envelope)
                .finish_non_exhaustive()
        }
    }

    struct Instruments {
        tracer: BoxedTracer,
        sent: Counter<u64>,
        consumed: Counter<u64>,
        operation_duration: Histogram<f64>,
        process_duration: Histogram<f64>,
        reconnects: Counter<u64>,
        connection_duration: Histogram<f64>,
        inflight: UpDownCounter<i64>,
    }

    fn scope() -> InstrumentationScope {
        InstrumentationScope::builder("libmqtt")
            .with_version(env!("CARGO_PKG_VERSION"))
            .with_schema_url(SCHEMA_URL)
            .build()
    }

    impl Telemetry {
        /// Instrumentation recording with these providers (the SDK's
        /// `SdkTracerProvider` and `SdkMeterProvider`, or any other; a
        /// `&dyn MeterProvider` too, such as
        /// `&*opentelemetry::global::meter_provider()`).
        pub fn new<P, T, S, M>(tracer_provider: &P, meter_provider: &M) -> Self
        where
            P: TracerProvider<Tracer = T>,
            T: Tracer<Span = S> + Send + Sync + 'static,
            S: Span + Send + Sync + 'static,
            M: MeterProvider + ?Sized,
        {
            let tracer = BoxedTracer::new(Box::new(tracer_provider.tracer_with_scope(scope())));
            Self::with_parts(tracer, meter_provider.meter_with_scope(scope()))
        }

        /// Instrumentation recording with the global providers
        /// (`opentelemetry::global::set_tracer_provider`, ...), as they are
        /// when this is called.
        pub fn global() -> Self {
            let tracer = opentelemetry::global::tracer_with_scope(scope());
            Self::with_parts(tracer, opentelemetry::global::meter_with_scope(scope()))
        }

        fn with_parts(tracer: BoxedTracer, meter: Meter) -> Self {
            let histogram = |name: &'static str, description: &'static str| {
                meter
                    .f64_histogram(name)
                    .with_unit("s")
                    .with_description(description)
                    .with_boundaries(N::DURATION_BUCKETS.to_vec())
                    .build()
            };
            let inner = Instruments {
                tracer,
                sent: meter
                    .u64_counter(N::METRIC_SENT_MESSAGES)
                    .with_unit("{message}")
                    .with_description("Messages the client attempted to send.")
                    .build(),
                consumed: meter
                    .u64_counter(N::METRIC_CONSUMED_MESSAGES)
                    .with_unit("{message}")
                    .with_description("Messages delivered to the application.")
                    .build(),
                operation_duration: histogram(
                    N::METRIC_OPERATION_DURATION,
                    "A publish until it is complete for its QoS.",
                ),
                process_duration: histogram(
                    N::METRIC_PROCESS_DURATION,
                    "The application's processing of a message.",
                ),
                reconnects: meter
                    .u64_counter(N::METRIC_RECONNECTS)
                    .with_unit("{reconnect}")
                    .with_description("Connections after the first.")
                    .build(),
                connection_duration: histogram(
                    N::METRIC_CONNECTION_DURATION,
                    "How long connections lasted.",
                ),
                inflight: meter
                    .i64_up_down_counter(N::METRIC_INFLIGHT)
                    .with_unit("{message}")
                    .with_description("QoS 1 and 2 messages published and not yet acknowledged.")
                    .build(),
            };
            Telemetry {
                inner: Arc::new(inner),
                consumer_context: ConsumerContext::Parent,
                envelope: false,
            }
        }

        /// Where CONSUMER spans go: children of the producer's span
        /// ([`ConsumerContext::Parent`], the default) or a new trace linked
        /// to it.
        pub fn with_consumer_context(mut self, c: ConsumerContext) -> Self {
            self.consumer_context = c;
            self
        }

        /// The [`ConsumerContext`] in use.
        pub fn consumer_context(&self) -> ConsumerContext {
            self.consumer_context
        }

        /// In MQTT 3.1.1 and 3.1 (no User Properties), carry the trace
        /// context in the payload envelope ([`mqtt_core::telemetry::envelope`])
        /// and open received envelopes: the application gets the inner
        /// payload, and the context as `traceparent` / `tracestate` in the
        /// message's `publish.properties.user_properties`. Both ends must
        /// opt in. Off by default; 5.0 always uses User Properties.
        pub fn with_envelope(mut self, on: bool) -> Self {
            self.envelope = on;
            self
        }

        /// Whether the envelope is used (see [`with_envelope`](Self::with_envelope)).
        pub fn envelope(&self) -> bool {
            self.envelope
        }

        /// Starts the `process {filter}` span (CONSUMER; the child of, or
        /// linked to, the producer's span carried in `message`) around the
        /// application's handling of `message`; it ends, and
        /// `messaging.process.duration` is recorded, when the returned
        /// [`Processing`] is dropped or [`end`](Processing::end)ed.
        /// `client` (optional) adds its attributes and the subscription
        /// filter that matched. Make the span current with
        /// `processing.context().attach()`, or run a future in it with
        /// `opentelemetry::context::FutureExt::with_context`.
        pub fn process(&self, message: &Message, client: Option<&Client>) -> Processing {
            let hooks = client.and_then(|c| c.telemetry_hooks());
            let mut attrs = match hooks {
                Some(h) => h.attributes(),
                None => vec![KeyValue::new(N::MESSAGING_SYSTEM, N::SYSTEM)],
            };
            let (template, group) = hooks.map_or((None, None), |h| h.template(&message.publish));
            message_attributes(
                &mut attrs,
                &message.publish,
                N::OPERATION_PROCESS,
                N::OPERATION_NAME_PROCESS,
                template.as_deref(),
                group.as_deref(),
            );
            let destination = template
                .as_deref()
                .unwrap_or(message.publish.topic.as_str());
            let name = N::span_name(N::OPERATION_NAME_PROCESS, destination);
            let metric = metric_attributes(&attrs, N::OPERATION_NAME_PROCESS);
            let (parent, links) = self.consumer_parent(&message.publish, Context::current());
            let span = self
                .inner
                .tracer
                .span_builder(name)
                .with_kind(SpanKind::Consumer)
                .with_attributes(attrs)
                .with_links(links)
                .start_with_context(&self.inner.tracer, &parent);
            Processing {
                cx: parent.with_span(span),
                start: Instant::now(),
                metric,
                error: None,
                telemetry: self.clone(),
                ended: false,
            }
        }

        /// The parent context and links of a CONSUMER span for `publish`:
        /// the producer's context carried in it as parent (or a link),
        /// else `base`.
        fn consumer_parent(&self, publish: &Publish, base: Context) -> (Context, Vec<Link>) {
            let Some(tc) = trace_context::extract(&publish.properties) else {
                return (base, Vec::new());
            };
            let sc = span_context(&tc);
            match self.consumer_context {
                ConsumerContext::Link => (base, vec![Link::with_context(sc)]),
                ConsumerContext::Parent => {
                    (Context::new().with_remote_span_context(sc), Vec::new())
                }
            }
        }
    }

    /// The application's processing of a message: a `process` span and
    /// `messaging.process.duration`, from [`Telemetry::process`]; both end
    /// when this is dropped.
    pub struct Processing {
        cx: Context,
        start: Instant,
        metric: Vec<KeyValue>,
        error: Option<String>,
        telemetry: Telemetry,
        ended: bool,
    }

    impl std::fmt::Debug for Processing {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Processing")
                .field("span", &self.cx.span().span_context())
                .finish_non_exhaustive()
        }
    }

    impl Processing {
        /// A context with the `process` span as its active span: attach it
        /// (`let _guard = processing.context().attach();`) or run a future
        /// in it, so that the application's own spans are its children.
        pub fn context(&self) -> Context {
            self.cx.clone()
        }

        /// The `process` span's context (its trace id, span id).
        pub fn span_context(&self) -> SpanContext {
            self.cx.span().span_context().clone()
        }

        /// Marks the processing as failed: error status, and `error.type`
        /// (low cardinality: an error's kind, not its message) on the span
        /// and the duration metric.
        pub fn set_error(&mut self, error_type: impl Into<String>) {
            let error_type = error_type.into();
            let span = self.cx.span();
            span.set_attribute(KeyValue::new(N::ERROR_TYPE, error_type.clone()));
            span.set_status(Status::error(error_type.clone()));
            self.error = Some(error_type);
        }

        /// Ends the span and records the duration (as dropping does).
        pub fn end(mut self) {
            self.finish();
        }

        fn finish(&mut self) {
            if std::mem::replace(&mut self.ended, true) {
                return;
            }
            self.cx.span().end();
            let mut m = std::mem::take(&mut self.metric);
            if let Some(e) = self.error.take() {
                m.push(KeyValue::new(N::ERROR_TYPE, e));
            }
            self.telemetry
                .inner
                .process_duration
                .record(self.start.elapsed().as_secs_f64(), &m);
        }
    }

    impl Drop for Processing {
        fn drop(&mut self) {
            self.finish();
        }
    }

    /// An OpenTelemetry remote span context from the core's trace context.
    fn span_context(tc: &TraceContext) -> SpanContext {
        let state = tc
            .state
            .as_ref()
            .and_then(|s| TraceState::from_str(s.as_str()).ok())
            .unwrap_or_default();
        SpanContext::new(
            TraceId::from_bytes(tc.parent.trace_id),
            SpanId::from_bytes(tc.parent.parent_id),
            TraceFlags::new(tc.parent.flags),
            true,
            state,
        )
    }

    /// The core's trace context of a span; `None` for an invalid one (a
    /// no-op provider's).
    fn trace_context_of(sc: &SpanContext) -> Option<TraceContext> {
        if !sc.is_valid() {
            return None;
        }
        let parent = TraceParent::new(
            sc.trace_id().to_bytes(),
            sc.span_id().to_bytes(),
            sc.trace_flags().to_u8(),
        )?;
        let mut tc = TraceContext::new(parent);
        let header = sc.trace_state().header();
        if let Ok(state) = CoreTraceState::parse(&header) {
            tc = tc.with_state(state);
        }
        Some(tc)
    }

    fn qos_value(qos: QoS) -> i64 {
        match qos {
            QoS::AtMostOnce => 0,
            QoS::AtLeastOnce => 1,
            QoS::ExactlyOnce => 2,
        }
    }

    fn message_attributes(
        attrs: &mut Vec<KeyValue>,
        publish: &Publish,
        op_type: &'static str,
        op_name: &'static str,
        template: Option<&str>,
        group: Option<&str>,
    ) {
        attrs.extend([
            KeyValue::new(N::MESSAGING_OPERATION_TYPE, op_type),
            KeyValue::new(N::MESSAGING_OPERATION_NAME, op_name),
            KeyValue::new(
                N::MESSAGING_DESTINATION_NAME,
                publish.topic.as_str().to_owned(),
            ),
            KeyValue::new(N::MESSAGING_MESSAGE_BODY_SIZE, publish.payload.len() as i64),
            KeyValue::new(N::MQTT_QOS, qos_value(publish.qos)),
            KeyValue::new(N::MQTT_RETAIN, publish.retain),
            KeyValue::new(N::MQTT_DUP, publish.dup),
        ]);
        if let Some(t) = template {
            attrs.push(KeyValue::new(
                N::MESSAGING_DESTINATION_TEMPLATE,
                t.to_owned(),
            ));
        }
        if let Some(g) = group {
            attrs.push(KeyValue::new(
                N::MESSAGING_CONSUMER_GROUP_NAME,
                g.to_owned(),
            ));
        }
    }

    const METRIC_KEYS: [&str; 6] = [
        N::MESSAGING_SYSTEM,
        N::MESSAGING_DESTINATION_NAME,
        N::MESSAGING_DESTINATION_TEMPLATE,
        N::MESSAGING_CONSUMER_GROUP_NAME,
        N::SERVER_ADDRESS,
        N::SERVER_PORT,
    ];

    /// The metric attributes: those of the conventions' metrics (no client
    /// id, body size or flags: they would multiply the series).
    fn metric_attributes(span_attrs: &[KeyValue], op_name: &'static str) -> Vec<KeyValue> {
        let mut m: Vec<KeyValue> = span_attrs
            .iter()
            .filter(|kv| METRIC_KEYS.contains(&kv.key.as_str()))
            .cloned()
            .collect();
        m.push(KeyValue::new(N::MESSAGING_OPERATION_NAME, op_name));
        m
    }

    /// `error.type` of a failed publish: the reason code's name for a
    /// refusal, the drop reason for a dropped message, else the error's
    /// kind.
    pub(crate) fn error_type(e: &Error) -> String {
        match e {
            Error::PublishRefused { reason_code, .. } => N::error_type(*reason_code),
            Error::PublishDropped(reason) => snake(&format!("{reason:?}")),
            other => snake(&format!("{other:?}")),
        }
    }

    /// `CamelCase(..)` to `camel_case` (the variant's name only).
    fn snake(debug: &str) -> String {
        let name = debug
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("error");
        let mut out = String::with_capacity(name.len() + 4);
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// A publish in progress: its PRODUCER span and when it started.
    pub(crate) struct Publishing<'a> {
        hooks: &'a Hooks,
        span: Option<BoxedSpan>,
        start: Instant,
        metric: Vec<KeyValue>,
        qos: QoS,
    }

    impl Publishing<'_> {
        /// Ends the span: complete (with the acknowledgement's reason
        /// code), or failed.
        pub(crate) fn end(mut self, result: Result<ReasonCode, &Error>) {
            let error = match result {
                Ok(code) if code.is_error() && code != ReasonCode::PacketIdentifierNotFound => {
                    Some((N::error_type(code), Cow::Owned(code.to_string())))
                }
                Ok(_) => None,
                Err(e) => Some((error_type(e), Cow::Owned(e.to_string()))),
            };
            self.finish(error);
        }

        fn finish(&mut self, error: Option<(String, Cow<'static, str>)>) {
            let Some(mut span) = self.span.take() else {
                return;
            };
            let tel = &self.hooks.telemetry.inner;
            let mut m = std::mem::take(&mut self.metric);
            if self.qos != QoS::AtMostOnce {
                tel.inflight.add(-1, &m);
            }
            if let Some((error_type, description)) = error {
                span.set_attribute(KeyValue::new(N::ERROR_TYPE, error_type.clone()));
                span.set_status(Status::error(description));
                m.push(KeyValue::new(N::ERROR_TYPE, error_type));
            }
            span.end();
            tel.sent.add(1, &m);
            m.push(KeyValue::new(
                N::MESSAGING_OPERATION_TYPE,
                N::OPERATION_SEND,
            ));
            tel.operation_duration
                .record(self.start.elapsed().as_secs_f64(), &m);
        }
    }

    impl Drop for Publishing<'_> {
        /// The publish's future was dropped before it ended.
        fn drop(&mut self) {
            self.finish(Some(("cancelled".into(), Cow::Borrowed("cancelled"))));
        }
    }

    /// What one client calls (see the module's documentation).
    pub(crate) struct Hooks {
        telemetry: Telemetry,
        host: String,
        port: u16,
        version: ProtocolVersion,
        state: Mutex<State>,
    }

    struct State {
        /// The client's attributes (the client id may be the server's
        /// once connected).
        attrs: Arc<Vec<KeyValue>>,
        client_id: String,
        /// The filters subscribed to, in order.
        filters: Vec<String>,
        connected_at: Option<Instant>,
        connections: u64,
    }

    /// The hooks of a client, when its options have a [`Telemetry`].
    pub(crate) fn hooks(options: &crate::ConnectOptions) -> Option<Arc<Hooks>> {
        let telemetry = options.telemetry.clone()?;
        let hooks = Hooks {
            telemetry,
            host: options.host.clone(),
            port: options.port,
            version: options.client.version,
            state: Mutex::new(State {
                attrs: Arc::new(Vec::new()),
                client_id: options.client.client_id.as_str().to_owned(),
                filters: Vec::new(),
                connected_at: None,
                connections: 0,
            }),
        };
        hooks.refresh_attributes();
        Some(Arc::new(hooks))
    }

    impl Hooks {
        fn state(&self) -> std::sync::MutexGuard<'_, State> {
            self.state.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// The [`Telemetry`] these hooks record with.
        pub(crate) fn telemetry(&self) -> &Telemetry {
            &self.telemetry
        }

        fn refresh_attributes(&self) {
            let mut state = self.state();
            let mut attrs = vec![
                KeyValue::new(N::MESSAGING_SYSTEM, N::SYSTEM),
                KeyValue::new(N::SERVER_ADDRESS, self.host.clone()),
                KeyValue::new(N::SERVER_PORT, i64::from(self.port)),
                KeyValue::new(N::NETWORK_PROTOCOL_NAME, N::SYSTEM),
                KeyValue::new(
                    N::NETWORK_PROTOCOL_VERSION,
                    N::protocol_version(self.version),
                ),
            ];
            if !state.client_id.is_empty() {
                attrs.push(KeyValue::new(
                    N::MESSAGING_CLIENT_ID,
                    state.client_id.clone(),
                ));
            }
            state.attrs = Arc::new(attrs);
        }

        /// The client's own attributes.
        fn attributes(&self) -> Vec<KeyValue> {
            let attrs = self.state().attrs.clone();
            Vec::clone(&attrs)
        }

        /// Starts the PRODUCER span of `publish` and puts its context into
        /// it (5.0: User Properties; 3.1.1 and 3.1: the envelope, when on).
        pub(crate) fn publish_start(&self, publish: &mut Publish) -> Publishing<'_> {
            let tel = &self.telemetry.inner;
            let mut attrs = self.attributes();
            attrs.extend([
                KeyValue::new(N::MESSAGING_OPERATION_TYPE, N::OPERATION_SEND),
                KeyValue::new(N::MESSAGING_OPERATION_NAME, N::OPERATION_NAME_PUBLISH),
                KeyValue::new(
                    N::MESSAGING_DESTINATION_NAME,
                    publish.topic.as_str().to_owned(),
                ),
                KeyValue::new(N::MESSAGING_MESSAGE_BODY_SIZE, publish.payload.len() as i64),
                KeyValue::new(N::MQTT_QOS, qos_value(publish.qos)),
                KeyValue::new(N::MQTT_RETAIN, publish.retain),
            ]);
            let metric = metric_attributes(&attrs, N::OPERATION_NAME_PUBLISH);
            let span = tel
                .tracer
                .span_builder(N::span_name(
                    N::OPERATION_NAME_PUBLISH,
                    publish.topic.as_str(),
                ))
                .with_kind(SpanKind::Producer)
                .with_attributes(attrs)
                .start_with_context(&tel.tracer, &Context::current());
            if publish.qos != QoS::AtMostOnce {
                tel.inflight.add(1, &metric);
            }
            if let Some(tc) = trace_context_of(span.span_context()) {
                if self.version == ProtocolVersion::V5 {
                    trace_context::inject(&mut publish.properties, &tc);
                } else if self.telemetry.envelope {
                    publish.payload = envelope::wrap(&tc, &publish.payload);
                }
            }
            Publishing {
                hooks: self,
                span: Some(span),
                start: Instant::now(),
                metric,
                qos: publish.qos,
            }
        }

        /// The subscription filter that matches `publish`'s topic (the
        /// first subscribed, if several; without `$share/<group>/`) and
        /// its shared subscription group.
        fn template(&self, publish: &Publish) -> (Option<String>, Option<String>) {
            let topic = publish.topic.as_str();
            let state = self.state();
            for f in &state.filters {
                let group = N::consumer_group(f);
                let bare = match group {
                    Some(_) => f.splitn(3, '/').nth(2).unwrap_or(f),
                    None => f.as_str(),
                };
                if mqtt_core::topic::topic_matches(bare, topic) {
                    return (Some(bare.to_owned()), group.map(str::to_owned));
                }
            }
            (None, None)
        }

        /// A message arrived: the envelope opened (when on, in 3.1.1 and
        /// 3.1), the `receive` span and the `consumed` counter.
        pub(crate) fn received(&self, mut m: Message) -> Message {
            let tel = &self.telemetry.inner;
            if self.telemetry.envelope
                && self.version != ProtocolVersion::V5
                && envelope::is_envelope(&m.publish.payload)
            {
                match envelope::open(&m.publish.payload) {
                    Ok(opened) => {
                        if let Some(tc) = &opened.context {
                            trace_context::inject(&mut m.publish.properties, tc);
                        }
                        m.publish.payload = opened.payload;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "a broken envelope, delivered as it came")
                    }
                }
            }
            let (template, group) = self.template(&m.publish);
            let mut attrs = self.attributes();
            message_attributes(
                &mut attrs,
                &m.publish,
                N::OPERATION_RECEIVE,
                N::OPERATION_NAME_RECEIVE,
                template.as_deref(),
                group.as_deref(),
            );
            let metric = metric_attributes(&attrs, N::OPERATION_NAME_RECEIVE);
            let destination = template.as_deref().unwrap_or(m.publish.topic.as_str());
            let (parent, links) = self.telemetry.consumer_parent(&m.publish, Context::new());
            let mut span = tel
                .tracer
                .span_builder(N::span_name(N::OPERATION_NAME_RECEIVE, destination))
                .with_kind(SpanKind::Consumer)
                .with_attributes(attrs)
                .with_links(links)
                .start_with_context(&tel.tracer, &parent);
            span.end();
            tel.consumed.add(1, &metric);
            m
        }

        /// SUBSCRIBE sent for these filters.
        pub(crate) fn subscribed<'a>(&self, filters: impl Iterator<Item = &'a str>) {
            let mut state = self.state();
            for f in filters {
                if !state.filters.iter().any(|x| x == f) {
                    state.filters.push(f.to_owned());
                }
            }
        }

        /// UNSUBSCRIBE sent for these filters.
        pub(crate) fn unsubscribed<'a>(&self, filters: impl Iterator<Item = &'a str>) {
            let mut state = self.state();
            for f in filters {
                state.filters.retain(|x| x != f);
            }
        }

        /// CONNACK accepted a connection with this client id.
        pub(crate) fn connected(&self, client_id: &str) {
            let reconnect = {
                let mut state = self.state();
                state.client_id = client_id.to_owned();
                state.connected_at = Some(Instant::now());
                state.connections += 1;
                state.connections > 1
            };
            self.refresh_attributes();
            if reconnect {
                self.telemetry
                    .inner
                    .reconnects
                    .add(1, &self.connection_attributes());
            }
        }

        /// The connection ended.
        pub(crate) fn disconnected(&self) {
            let at = self.state().connected_at.take();
            if let Some(at) = at {
                self.telemetry
                    .inner
                    .connection_duration
                    .record(at.elapsed().as_secs_f64(), &self.connection_attributes());
            }
        }

        fn connection_attributes(&self) -> Vec<KeyValue> {
            vec![
                KeyValue::new(N::MESSAGING_SYSTEM, N::SYSTEM),
                KeyValue::new(N::SERVER_ADDRESS, self.host.clone()),
                KeyValue::new(N::SERVER_PORT, i64::from(self.port)),
            ]
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn error_types() {
            assert_eq!(error_type(&Error::Timeout), "timeout");
            assert_eq!(
                error_type(&Error::PublishDropped(
                    mqtt_core::client::DropReason::QueueFull
                )),
                "queue_full"
            );
            assert_eq!(
                error_type(&Error::PublishRefused {
                    reason_code: ReasonCode::NotAuthorized,
                    properties: Box::default(),
                }),
                "not_authorized"
            );
        }

        #[test]
        fn trace_context_round_trip() {
            let parent =
                TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
                    .unwrap();
            let tc = TraceContext::new(parent)
                .with_state(CoreTraceState::parse("congo=t61rcWkgMzE").unwrap());
            let sc = span_context(&tc);
            assert!(sc.is_valid() && sc.is_remote() && sc.is_sampled());
            assert_eq!(trace_context_of(&sc), Some(tc));
            assert_eq!(trace_context_of(&SpanContext::empty_context()), None);
        }
    }
}

/// `tracing` spans of the same operations (feature `tracing-spans`), for
/// applications that export `tracing` through `tracing-opentelemetry`:
/// the same span names, kinds (`otel.kind`) and message attributes; no
/// trace context goes into the messages (that needs the `opentelemetry`
/// feature).
#[cfg(feature = "tracing-spans")]
pub(crate) mod spans {
    use mqtt_core::codec::{Publish, QoS};
    use mqtt_core::telemetry::semconv as N;

    fn qos(q: QoS) -> u8 {
        match q {
            QoS::AtMostOnce => 0,
            QoS::AtLeastOnce => 1,
            QoS::ExactlyOnce => 2,
        }
    }

    /// The `publish {topic}` span (PRODUCER), to instrument the publish's
    /// future with; [`publish_end`] records a failure.
    pub(crate) fn publish(p: &Publish) -> tracing::Span {
        let topic = p.topic.as_str();
        tracing::info_span!(
            "publish",
            otel.name = %N::span_name(N::OPERATION_NAME_PUBLISH, topic),
            otel.kind = "producer",
            otel.status_code = tracing::field::Empty,
            messaging.system = N::SYSTEM,
            messaging.operation.type = N::OPERATION_SEND,
            messaging.operation.name = N::OPERATION_NAME_PUBLISH,
            messaging.destination.name = topic,
            messaging.message.body.size = p.payload.len(),
            messaging.mqtt.message.qos = qos(p.qos),
            messaging.mqtt.message.retain = p.retain,
            error.type = tracing::field::Empty,
        )
    }

    /// Records how the publish ended on its span.
    pub(crate) fn publish_end<T>(span: &tracing::Span, result: &Result<T, crate::Error>) {
        if let Err(e) = result {
            span.record("otel.status_code", "error");
            span.record("error.type", error_type(e).as_str());
        }
    }

    fn error_type(e: &crate::Error) -> String {
        match e {
            crate::Error::PublishRefused { reason_code, .. } => N::error_type(*reason_code),
            other => {
                let debug = format!("{other:?}");
                let name = debug
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or("error")
                    .to_owned();
                let mut out = String::new();
                for (i, c) in name.chars().enumerate() {
                    if c.is_ascii_uppercase() && i > 0 {
                        out.push('_');
                    }
                    out.push(c.to_ascii_lowercase());
                }
                out
            }
        }
    }

    /// The `receive {topic}` span (CONSUMER) of a message that arrived:
    /// opened and closed at once.
    pub(crate) fn received(p: &Publish) {
        let topic = p.topic.as_str();
        let _span = tracing::info_span!(
            "receive",
            otel.name = %N::span_name(N::OPERATION_NAME_RECEIVE, topic),
            otel.kind = "consumer",
            messaging.system = N::SYSTEM,
            messaging.operation.type = N::OPERATION_RECEIVE,
            messaging.operation.name = N::OPERATION_NAME_RECEIVE,
            messaging.destination.name = topic,
            messaging.message.body.size = p.payload.len(),
            messaging.mqtt.message.qos = qos(p.qos),
            messaging.mqtt.message.retain = p.retain,
            messaging.mqtt.message.dup = p.dup,
        )
        .entered();
    }
}
