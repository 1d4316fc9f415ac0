//! The hot classes in Rust: `Publish` (every message, both ways) and
//! `Message` (every delivery). Immutable like the dataclasses of
//! `libmqtt._packets` and `libmqtt._events`, with the same attributes,
//! constructor, equality, `repr` and `match` support, built without the
//! cost of a Python `__init__`.

use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::convert::{bytes_from_py, opt_int, Int};
use crate::types::types;

/// PUBLISH (spec 3.3): an application message. ``packet_id`` is 0 for
/// QoS 0. Immutable; compares equal by value.
#[pyclass(frozen, module = "libmqtt")]
pub(crate) struct Publish {
    /// The topic name (empty with a Topic Alias in 5.0).
    #[pyo3(get)]
    pub topic: Py<PyString>,
    /// The payload.
    #[pyo3(get)]
    pub payload: Py<PyBytes>,
    /// The QoS, 0, 1 or 2.
    #[pyo3(get)]
    pub qos: u8,
    /// The retain flag.
    #[pyo3(get)]
    pub retain: bool,
    /// The DUP flag (a resend).
    #[pyo3(get)]
    pub dup: bool,
    /// The packet identifier (0 for QoS 0).
    #[pyo3(get)]
    pub packet_id: u16,
    /// The 5.0 properties (a ``Properties``).
    #[pyo3(get)]
    pub properties: Py<PyAny>,
    /// The topic as UTF-8, filled by the first `encode` (the `str` is
    /// immutable, so encoding the same message again, as a broker does for
    /// each subscriber, reads it without asking Python).
    pub topic_utf8: OnceLock<Box<str>>,
}

impl Publish {
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            [
                self.topic.bind(py).clone().into_any(),
                self.payload.bind(py).clone().into_any(),
                self.qos.into_pyobject(py)?.into_any(),
                pyo3::types::PyBool::new(py, self.retain)
                    .to_owned()
                    .into_any(),
                pyo3::types::PyBool::new(py, self.dup).to_owned().into_any(),
                self.packet_id.into_pyobject(py)?.into_any(),
                self.properties.bind(py).clone(),
            ],
        )
    }
}

#[pymethods]
impl Publish {
    #[new]
    #[pyo3(signature = (topic, payload = None, qos = Int(0), retain = false, dup = false, packet_id = Int(0), properties = None))]
    #[pyo3(
        text_signature = "(topic, payload=b'', qos=0, retain=False, dup=False, packet_id=0, properties=NO_PROPERTIES)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        topic: Bound<'_, PyString>,
        payload: Option<&Bound<'_, PyAny>>,
        qos: Int,
        retain: bool,
        dup: bool,
        packet_id: Int,
        properties: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let qos: u8 = qos.get(py, "qos")?;
        let packet_id: u16 = packet_id.get(py, "packet_id")?;
        let payload = match payload {
            Some(p) if p.is_instance_of::<PyBytes>() => p.cast::<PyBytes>()?.clone().unbind(),
            Some(p) if !p.is_none() => PyBytes::new(py, &bytes_from_py(p)?).unbind(),
            _ => PyBytes::new(py, b"").unbind(),
        };
        let properties = match properties {
            Some(p) if !p.is_none(py) => p,
            _ => types(py)?.no_properties.clone_ref(py),
        };
        Ok(Publish {
            topic: topic.unbind(),
            payload,
            qos,
            retain,
            dup,
            packet_id,
            properties,
            topic_utf8: OnceLock::new(),
        })
    }

    /// Positional attributes for ``match`` patterns.
    #[classattr]
    fn __match_args__() -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        (
            "topic",
            "payload",
            "qos",
            "retain",
            "dup",
            "packet_id",
            "properties",
        )
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<Publish>() else {
            return Ok(false);
        };
        let o = other.get();
        Ok(self.qos == o.qos
            && self.retain == o.retain
            && self.dup == o.dup
            && self.packet_id == o.packet_id
            && self.topic.bind(py).as_any().eq(o.topic.bind(py))?
            && self.payload.bind(py).as_bytes() == o.payload.bind(py).as_bytes()
            && self.properties.bind(py).eq(o.properties.bind(py))?)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.fields(py)?.hash()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut s = format!(
            "Publish(topic={}, payload={}, qos={}",
            self.topic.bind(py).repr()?,
            self.payload.bind(py).repr()?,
            self.qos
        );
        if self.retain {
            s.push_str(", retain=True");
        }
        if self.dup {
            s.push_str(", dup=True");
        }
        if self.packet_id != 0 {
            s.push_str(&format!(", packet_id={}", self.packet_id));
        }
        if !self.properties.bind(py).is(&types(py)?.no_properties) {
            s.push_str(&format!(
                ", properties={}",
                self.properties.bind(py).repr()?
            ));
        }
        s.push(')');
        Ok(s)
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        Ok((slf.get_type().into_any(), slf.get().fields(slf.py())?))
    }
}

/// A message the server delivered (a client event). With manual
/// acknowledgement, ``ack_token`` is what to pass to
/// ``Client.acknowledge`` (QoS 1 and 2). ``topic``, ``payload``, ``qos``,
/// ``retain`` and ``properties`` are the PUBLISH's.
#[pyclass(frozen, module = "libmqtt")]
pub(crate) struct Message {
    /// The PUBLISH, its topic resolved when it came with a Topic Alias.
    #[pyo3(get)]
    pub publish: Py<Publish>,
    /// The token for ``Client.acknowledge`` (manual acknowledgement), or None.
    #[pyo3(get)]
    pub ack_token: Option<u64>,
}

#[pymethods]
impl Message {
    #[new]
    #[pyo3(signature = (publish, ack_token = None))]
    fn new(py: Python<'_>, publish: Py<Publish>, ack_token: Option<Int>) -> PyResult<Self> {
        let ack_token = opt_int(py, ack_token, "ack_token")?;
        Ok(Message { publish, ack_token })
    }

    /// Positional attributes for ``match`` patterns.
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str) {
        ("publish", "ack_token")
    }

    /// The topic (resolved when it came with a Topic Alias).
    #[getter]
    fn topic(&self, py: Python<'_>) -> Py<PyString> {
        self.publish.get().topic.clone_ref(py)
    }

    /// The payload.
    #[getter]
    fn payload(&self, py: Python<'_>) -> Py<PyBytes> {
        self.publish.get().payload.clone_ref(py)
    }

    /// The QoS it was delivered at.
    #[getter]
    fn qos(&self) -> u8 {
        self.publish.get().qos
    }

    /// The retain flag.
    #[getter]
    fn retain(&self) -> bool {
        self.publish.get().retain
    }

    /// The PUBLISH properties.
    #[getter]
    fn properties(&self, py: Python<'_>) -> Py<PyAny> {
        self.publish.get().properties.clone_ref(py)
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<Message>() else {
            return Ok(false);
        };
        let o = other.get();
        Ok(self.ack_token == o.ack_token && self.publish.bind(py).eq(o.publish.bind(py))?)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        (self.publish.bind(py).hash()?, self.ack_token)
            .into_pyobject(py)?
            .hash()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match self.ack_token {
            Some(t) => format!(
                "Message(publish={}, ack_token={t})",
                self.publish.bind(py).repr()?
            ),
            None => format!("Message(publish={})", self.publish.bind(py).repr()?),
        })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let m = slf.get();
        let args = (m.publish.clone_ref(slf.py()), m.ack_token).into_pyobject(slf.py())?;
        PyTuple::new(slf.py(), [slf.get_type().into_any(), args.into_any()])
    }
}
