//! Core errors as Python exceptions of the `libmqtt.MQTTError` hierarchy
//! (defined in `libmqtt/_errors.py`).

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use mqtt_core::client::ClientError;
use mqtt_core::codec::{Error, ReasonCode};
use mqtt_core::server::ServerError;

use crate::types::types;

/// The name of an enum variant from its `Debug` form (`InvalidQoS`,
/// `PacketTooLarge`, ...).
fn variant_name(debug: &str) -> String {
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or(debug)
        .to_owned()
}

/// An exception of class `class` (in `libmqtt._errors`).
pub(crate) fn mqtt_error(
    py: Python<'_>,
    class: &str,
    message: String,
    reason_code: Option<ReasonCode>,
    kind: &str,
) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let cls = types(py)?.errors.bind(py).getattr(class)?;
        let exc = cls.call1((message.clone(), reason_code.map(|c| c.as_u8()), kind))?;
        Ok(PyErr::from_value(exc))
    };
    make().unwrap_or_else(|e| PyRuntimeError::new_err(format!("{message} ({e})")))
}

/// `libmqtt.InvalidArgument` (a `ValueError` too): an argument out of its
/// range; `field` names it (the message names it as well).
pub(crate) fn invalid_argument(py: Python<'_>, field: &str, kind: &str, message: String) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let cls = types(py)?.errors.bind(py).getattr("InvalidArgument")?;
        let kw = PyDict::new(py);
        kw.set_item("field", field)?;
        let exc = cls.call((message.clone(), py.None(), kind), Some(&kw))?;
        Ok(PyErr::from_value(exc))
    };
    make().unwrap_or_else(|e| PyValueError::new_err(format!("{message} ({e})")))
}

/// The exception for a codec error: the class follows its reason code.
pub(crate) fn codec_error(py: Python<'_>, e: &Error) -> PyErr {
    let code = e.reason_code();
    let class = match code {
        ReasonCode::MalformedPacket => "MalformedPacket",
        ReasonCode::ProtocolError => "ProtocolError",
        ReasonCode::UnsupportedProtocolVersion => "UnsupportedProtocolVersion",
        ReasonCode::TopicFilterInvalid => "TopicFilterInvalid",
        ReasonCode::TopicNameInvalid => "TopicNameInvalid",
        ReasonCode::TopicAliasInvalid => "TopicAliasInvalid",
        ReasonCode::PacketTooLarge => "PacketTooLarge",
        ReasonCode::PayloadFormatInvalid => "PayloadFormatInvalid",
        _ => "MQTTError",
    };
    mqtt_error(
        py,
        class,
        e.to_string(),
        Some(code),
        &variant_name(&format!("{e:?}")),
    )
}

/// The exception for a refused client command.
pub(crate) fn client_error(py: Python<'_>, e: &ClientError) -> PyErr {
    let (class, code) = match e {
        ClientError::Invalid(inner) => return codec_error(py, inner),
        ClientError::PacketTooLarge { .. } => ("PacketTooLarge", Some(ReasonCode::PacketTooLarge)),
        ClientError::QueueFull => ("QueueFull", None),
        ClientError::NotConnected => ("NotConnected", None),
        ClientError::NoPacketIdentifier => ("NoPacketIdentifier", None),
        ClientError::QoSNotSupported { .. } => {
            ("QoSNotSupported", Some(ReasonCode::QoSNotSupported))
        }
        ClientError::RetainNotSupported => {
            ("RetainNotSupported", Some(ReasonCode::RetainNotSupported))
        }
        ClientError::FeatureNotSupported(code) => ("FeatureNotSupported", Some(*code)),
        ClientError::InvalidState(_) => ("InvalidState", None),
        ClientError::UnknownAckToken => ("UnknownAckToken", None),
        _ => ("ClientError", None),
    };
    mqtt_error(
        py,
        class,
        e.to_string(),
        code,
        &variant_name(&format!("{e:?}")),
    )
}

/// The exception for a refused server-role command.
pub(crate) fn server_error(py: Python<'_>, e: &ServerError) -> PyErr {
    match e {
        ServerError::Invalid(inner) => codec_error(py, inner),
        ServerError::PacketTooLarge { .. } => mqtt_error(
            py,
            "PacketTooLarge",
            e.to_string(),
            Some(ReasonCode::PacketTooLarge),
            "PacketTooLarge",
        ),
        _ => mqtt_error(
            py,
            "ServerError",
            e.to_string(),
            None,
            &variant_name(&format!("{e:?}")),
        ),
    }
}

/// Extension trait: `.py_err(py)?` on core results.
pub(crate) trait IntoPyResult<T> {
    /// The result with the core error raised as its Python exception.
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| codec_error(py, &e))
    }
}

impl<T> IntoPyResult<T> for Result<T, ClientError> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| client_error(py, &e))
    }
}

impl<T> IntoPyResult<T> for Result<T, ServerError> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| server_error(py, &e))
    }
}
