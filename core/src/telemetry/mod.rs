//! Observability without I/O: W3C Trace Context carried in MQTT messages,
//! and the OpenTelemetry attribute names for MQTT.
//!
//! * [`trace_context`]: `traceparent` / `tracestate` parsed and checked as
//!   the W3C Trace Context specification says, injected into and extracted
//!   from a PUBLISH's User Properties (the W3C "Trace Context: MQTT" mapping
//!   for MQTT 5.0), leaving every other User Property where it was.
//! * [`envelope`]: for MQTT 3.1.1 and 3.1, which have no properties, an
//!   opt-in, versioned payload envelope that carries the same two fields in
//!   front of the application's payload.
//! * [`semconv`]: the attribute and metric names of OpenTelemetry's
//!   messaging semantic conventions as MQTT uses them, the MQTT-specific
//!   ones, and the older names some guides still use.
//!
//! Nothing here records spans or metrics: drivers do that with their
//! language's OpenTelemetry library. An invalid trace context is never an
//! error that drops a message: it is ignored, as the W3C specification
//! asks.

pub mod envelope;
pub mod semconv;
pub mod trace_context;

pub use envelope::EnvelopeError;
pub use trace_context::{TraceContext, TraceParent, TraceState};
