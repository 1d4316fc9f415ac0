//! `libmqtt._core`: the Python extension module over `mqtt-core`.
//!
//! The classes users see (packets, events, exceptions, enums) are plain
//! Python in `python/libmqtt/`; this crate converts between them and the
//! core's types, and wraps the core's state machines as Python classes.
//! Time crosses as float seconds from any monotonic origin, rounded to the
//! core's millisecond `Instant`.

#![forbid(unsafe_code)]

mod broker;
mod client;
mod codec;
mod convert;
mod errors;
mod hooks;
mod packets;
mod server;
mod telemetry;
mod topic;
mod types;

use pyo3::prelude::*;

/// The extension module `libmqtt._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(codec::decode, m)?)?;
    m.add_function(wrap_pyfunction!(codec::encode, m)?)?;
    m.add_function(wrap_pyfunction!(topic::topic_matches, m)?)?;
    m.add_function(wrap_pyfunction!(topic::validate_topic_name, m)?)?;
    m.add_function(wrap_pyfunction!(topic::validate_topic_filter, m)?)?;
    m.add_class::<codec::Decoder>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<broker::Broker>()?;
    m.add_class::<server::ServerConnection>()?;
    m.add_class::<server::ServerSession>()?;
    m.add_class::<packets::Publish>()?;
    m.add_class::<packets::Message>()?;
    m.add_class::<telemetry::PyTraceContext>()?;
    m.add_function(wrap_pyfunction!(telemetry::inject, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::extract, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::wrap_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::open_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::is_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::error_type, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::span_name, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::protocol_version, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::consumer_group, m)?)?;
    m.add("_semconv", telemetry::names(m.py())?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
