//! Trace context and OpenTelemetry names for Python: the core's
//! `mqtt_core::telemetry` (W3C `traceparent` / `tracestate` in User
//! Properties, the 3.1.1 payload envelope, the semantic convention names)
//! exposed to `libmqtt.telemetry`, so that Python parses and writes
//! nothing of it itself.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use mqtt_core::codec::{ProtocolVersion, UserPropertiesRef};
use mqtt_core::telemetry::envelope::{self, EnvelopeError};
use mqtt_core::telemetry::semconv;
use mqtt_core::telemetry::trace_context::{self, TraceParent, TraceState};

use crate::convert::{reason_code_from_py, user_properties_from_py, with_bytes};
use crate::errors::mqtt_error;

/// A W3C trace context as a message carries it: ``traceparent`` and an
/// optional ``tracestate``, both checked as the W3C recommendation says.
///
/// ``TraceContext(traceparent, tracestate=None)`` raises ``ValueError``
/// for an invalid ``traceparent``; an invalid ``tracestate`` is dropped
/// (``tracestate`` is then ``None``). :meth:`from_ids` builds one from an
/// OpenTelemetry span context's numbers.
#[pyclass(frozen, eq, hash, module = "libmqtt.telemetry", name = "TraceContext")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct PyTraceContext {
    pub(crate) inner: trace_context::TraceContext,
}

#[pymethods]
impl PyTraceContext {
    #[new]
    #[pyo3(signature = (traceparent, tracestate = None))]
    fn new(traceparent: &str, tracestate: Option<&str>) -> PyResult<Self> {
        let parent = TraceParent::parse(traceparent)
            .map_err(|e| PyValueError::new_err(format!("{e}: {traceparent:?}")))?;
        Ok(Self::from_parts(parent, tracestate))
    }

    /// A context from a trace id (128-bit int), a span id (64-bit int),
    /// the trace flags and an optional ``tracestate``; ``ValueError`` when
    /// an id is zero.
    #[staticmethod]
    #[pyo3(signature = (trace_id, span_id, flags = 1, tracestate = None))]
    fn from_ids(
        trace_id: u128,
        span_id: u64,
        flags: u8,
        tracestate: Option<&str>,
    ) -> PyResult<Self> {
        let parent = TraceParent::new(trace_id.to_be_bytes(), span_id.to_be_bytes(), flags)
            .ok_or_else(|| PyValueError::new_err("trace id and span id must not be zero"))?;
        Ok(Self::from_parts(parent, tracestate))
    }

    /// The ``traceparent`` value (version 00).
    #[getter]
    fn traceparent(&self) -> String {
        self.inner.parent.to_string()
    }

    /// The ``tracestate`` value, or ``None``.
    #[getter]
    fn tracestate(&self) -> Option<&str> {
        self.inner.state.as_ref().map(|s| s.as_str())
    }

    /// The trace id as an int (OpenTelemetry's ``SpanContext.trace_id``).
    #[getter]
    fn trace_id(&self) -> u128 {
        u128::from_be_bytes(self.inner.parent.trace_id)
    }

    /// The id of the span that sent the message, as an int.
    #[getter]
    fn span_id(&self) -> u64 {
        u64::from_be_bytes(self.inner.parent.parent_id)
    }

    /// The trace id as 32 lower-case hex digits.
    #[getter]
    fn trace_id_hex(&self) -> String {
        self.inner.parent.trace_id_hex()
    }

    /// The span id as 16 lower-case hex digits.
    #[getter]
    fn span_id_hex(&self) -> String {
        self.inner.parent.parent_id_hex()
    }

    /// The trace flags (bit 0: sampled).
    #[getter]
    fn flags(&self) -> u8 {
        self.inner.parent.flags
    }

    /// Whether the sampled flag is set.
    #[getter]
    fn sampled(&self) -> bool {
        self.inner.parent.sampled()
    }

    fn __repr__(&self) -> String {
        match &self.inner.state {
            Some(s) => format!(
                "TraceContext({:?}, {:?})",
                self.inner.parent.to_string(),
                s.as_str()
            ),
            None => format!("TraceContext({:?})", self.inner.parent.to_string()),
        }
    }
}

impl PyTraceContext {
    fn from_parts(parent: TraceParent, tracestate: Option<&str>) -> Self {
        let mut inner = trace_context::TraceContext::new(parent);
        if let Some(state) = tracestate.and_then(|s| TraceState::parse(s).ok()) {
            inner = inner.with_state(state);
        }
        PyTraceContext { inner }
    }
}

/// User Properties as a list of ``(str, str)``.
fn user_properties_to_py<'py>(
    py: Python<'py>,
    props: &[mqtt_core::codec::UserProperty],
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        props
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect::<Vec<_>>(),
    )
}

/// Returns ``user_properties`` (a sequence of ``(name, value)``, or
/// ``None``) with ``context`` written in as ``traceparent`` and
/// ``tracestate``, as a new list: the first of each keeps its place, any
/// further ones go, a missing one is appended; every other property stays
/// as it was, in order.
#[pyfunction]
#[pyo3(signature = (user_properties, context))]
pub(crate) fn inject<'py>(
    py: Python<'py>,
    user_properties: Option<&Bound<'py, PyAny>>,
    context: &PyTraceContext,
) -> PyResult<Bound<'py, PyList>> {
    let mut props = match user_properties {
        Some(u) => user_properties_from_py(py, u)?,
        None => Vec::new(),
    };
    trace_context::inject_into(&mut props, &context.inner);
    user_properties_to_py(py, &props)
}

/// The trace context carried by ``user_properties`` (a sequence of
/// ``(name, value)``), or ``None`` when there is no valid
/// ``traceparent`` (malformed values are ignored, never an error), or
/// when two ``traceparent``s differ.
#[pyfunction]
pub(crate) fn extract(
    py: Python<'_>,
    user_properties: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<PyTraceContext>> {
    let props = match user_properties {
        Some(u) => user_properties_from_py(py, u)?,
        None => return Ok(None),
    };
    Ok(
        trace_context::extract_from(UserPropertiesRef::from_owned(&props))
            .map(|inner| PyTraceContext { inner }),
    )
}

/// ``payload`` wrapped in the trace context envelope (format version 1)
/// with ``context``: for MQTT 3.1.1 and 3.1, which have no User
/// Properties. Both ends must opt in.
#[pyfunction]
pub(crate) fn wrap_envelope<'py>(
    py: Python<'py>,
    payload: &Bound<'py, PyAny>,
    context: &PyTraceContext,
) -> PyResult<Bound<'py, PyBytes>> {
    let wrapped = with_bytes(payload, |p| envelope::wrap(&context.inner, p))?;
    Ok(PyBytes::new(py, &wrapped))
}

/// Opens a trace context envelope: ``(context, payload)``, the context
/// ``None`` when its ``traceparent`` is invalid. Raises
/// ``NotAnEnvelope``, ``UnsupportedEnvelopeVersion`` or
/// ``TruncatedEnvelope`` (all ``EnvelopeError``).
#[pyfunction]
pub(crate) fn open_envelope<'py>(
    py: Python<'py>,
    payload: &Bound<'py, PyAny>,
) -> PyResult<(Option<PyTraceContext>, Bound<'py, PyBytes>)> {
    let data = with_bytes(payload, bytes::Bytes::copy_from_slice)?;
    match envelope::open(&data) {
        Ok(opened) => Ok((
            opened.context.map(|inner| PyTraceContext { inner }),
            PyBytes::new(py, &opened.payload),
        )),
        Err(e) => {
            let class = match e {
                EnvelopeError::NotAnEnvelope => "NotAnEnvelope",
                EnvelopeError::UnsupportedVersion(_) => "UnsupportedEnvelopeVersion",
                EnvelopeError::Truncated => "TruncatedEnvelope",
            };
            Err(mqtt_error(py, class, e.to_string(), None, class))
        }
    }
}

/// Whether ``payload`` starts with the envelope's magic bytes.
#[pyfunction]
pub(crate) fn is_envelope(payload: &Bound<'_, PyAny>) -> PyResult<bool> {
    with_bytes(payload, envelope::is_envelope)
}

/// ``error.type`` of a reason code: its name in snake case
/// (``0x87`` -> ``"not_authorized"``).
#[pyfunction]
pub(crate) fn error_type(py: Python<'_>, reason_code: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(semconv::error_type(reason_code_from_py(py, reason_code)?))
}

/// The span name: ``"{operation_name} {destination}"``.
#[pyfunction]
pub(crate) fn span_name(operation_name: &str, destination: &str) -> String {
    semconv::span_name(operation_name, destination)
}

/// ``network.protocol.version`` of a protocol level (3, 4 or 5).
#[pyfunction]
pub(crate) fn protocol_version(version: u8) -> PyResult<&'static str> {
    ProtocolVersion::from_level(version)
        .map(semconv::protocol_version)
        .ok_or_else(|| PyValueError::new_err(format!("{version} is not an MQTT protocol level")))
}

/// The group of a shared subscription filter (``$share/<group>/...``).
#[pyfunction]
pub(crate) fn consumer_group(filter: &str) -> Option<&str> {
    semconv::consumer_group(filter)
}

/// The names of `mqtt_core::telemetry::semconv`, by constant name: the
/// one source of the attribute and metric names.
pub(crate) fn names(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let pairs: &[(&str, &str)] = &[
        ("MESSAGING_SYSTEM", semconv::MESSAGING_SYSTEM),
        ("SYSTEM", semconv::SYSTEM),
        (
            "MESSAGING_OPERATION_TYPE",
            semconv::MESSAGING_OPERATION_TYPE,
        ),
        (
            "MESSAGING_OPERATION_NAME",
            semconv::MESSAGING_OPERATION_NAME,
        ),
        (
            "MESSAGING_DESTINATION_NAME",
            semconv::MESSAGING_DESTINATION_NAME,
        ),
        (
            "MESSAGING_DESTINATION_TEMPLATE",
            semconv::MESSAGING_DESTINATION_TEMPLATE,
        ),
        (
            "MESSAGING_CONSUMER_GROUP_NAME",
            semconv::MESSAGING_CONSUMER_GROUP_NAME,
        ),
        (
            "MESSAGING_MESSAGE_BODY_SIZE",
            semconv::MESSAGING_MESSAGE_BODY_SIZE,
        ),
        ("MESSAGING_CLIENT_ID", semconv::MESSAGING_CLIENT_ID),
        ("SERVER_ADDRESS", semconv::SERVER_ADDRESS),
        ("SERVER_PORT", semconv::SERVER_PORT),
        ("NETWORK_PROTOCOL_NAME", semconv::NETWORK_PROTOCOL_NAME),
        (
            "NETWORK_PROTOCOL_VERSION",
            semconv::NETWORK_PROTOCOL_VERSION,
        ),
        ("ERROR_TYPE", semconv::ERROR_TYPE),
        ("MQTT_QOS", semconv::MQTT_QOS),
        ("MQTT_RETAIN", semconv::MQTT_RETAIN),
        ("MQTT_DUP", semconv::MQTT_DUP),
        ("OPERATION_SEND", semconv::OPERATION_SEND),
        ("OPERATION_RECEIVE", semconv::OPERATION_RECEIVE),
        ("OPERATION_PROCESS", semconv::OPERATION_PROCESS),
        ("OPERATION_NAME_PUBLISH", semconv::OPERATION_NAME_PUBLISH),
        ("OPERATION_NAME_RECEIVE", semconv::OPERATION_NAME_RECEIVE),
        ("OPERATION_NAME_PROCESS", semconv::OPERATION_NAME_PROCESS),
        ("METRIC_SENT_MESSAGES", semconv::METRIC_SENT_MESSAGES),
        (
            "METRIC_CONSUMED_MESSAGES",
            semconv::METRIC_CONSUMED_MESSAGES,
        ),
        (
            "METRIC_OPERATION_DURATION",
            semconv::METRIC_OPERATION_DURATION,
        ),
        ("METRIC_PROCESS_DURATION", semconv::METRIC_PROCESS_DURATION),
        ("METRIC_RECONNECTS", semconv::METRIC_RECONNECTS),
        (
            "METRIC_CONNECTION_DURATION",
            semconv::METRIC_CONNECTION_DURATION,
        ),
        ("METRIC_INFLIGHT", semconv::METRIC_INFLIGHT),
        ("TRACEPARENT", trace_context::TRACEPARENT),
        ("TRACESTATE", trace_context::TRACESTATE),
    ];
    for (k, v) in pairs {
        d.set_item(k, v)?;
    }
    d.set_item(
        "DURATION_BUCKETS",
        PyTuple::new(py, semconv::DURATION_BUCKETS)?,
    )?;
    d.set_item(
        "LEGACY_NAMES",
        PyTuple::new(py, semconv::LEGACY_NAMES.iter().copied())?,
    )?;
    d.set_item("ENVELOPE_MAGIC", PyBytes::new(py, &envelope::MAGIC))?;
    d.set_item("ENVELOPE_VERSION", envelope::VERSION)?;
    Ok(d)
}
