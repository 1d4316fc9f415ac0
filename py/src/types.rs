//! The Python classes the extension builds and reads, imported once from
//! the pure-Python modules of the `libmqtt` package and cached.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

use mqtt_core::codec::ReasonCode;

/// Cached modules, hot classes and the `ReasonCode` members.
pub(crate) struct Types {
    pub packets: Py<PyModule>,
    pub events: Py<PyModule>,
    pub errors: Py<PyModule>,
    /// `libmqtt.Properties`.
    pub properties: Py<PyAny>,
    /// The empty `Properties()` every packet without properties shares.
    pub no_properties: Py<PyAny>,
    /// `ReasonCode` members by value (`None` for undefined values).
    reason_codes: Vec<Option<Py<PyAny>>>,
}

static TYPES: PyOnceLock<Types> = PyOnceLock::new();

/// The cached types (imported on first use).
pub(crate) fn types(py: Python<'_>) -> PyResult<&'static Types> {
    TYPES.get_or_try_init(py, || {
        let packets = py.import("libmqtt._packets")?;
        let events = py.import("libmqtt._events")?;
        let errors = py.import("libmqtt._errors")?;
        let enums = py.import("libmqtt._enums")?;
        let rc_class = enums.getattr("ReasonCode")?;
        let mut reason_codes: Vec<Option<Py<PyAny>>> = (0..256).map(|_| None).collect();
        for code in ReasonCode::ALL {
            let v = code.as_u8();
            reason_codes[usize::from(v)] = Some(rc_class.call1((v,))?.unbind());
        }
        Ok::<_, PyErr>(Types {
            properties: packets.getattr("Properties")?.unbind(),
            no_properties: packets.getattr("NO_PROPERTIES")?.unbind(),
            packets: packets.unbind(),
            events: events.unbind(),
            errors: errors.unbind(),
            reason_codes,
        })
    })
}

impl Types {
    /// The `ReasonCode` member for `code`.
    pub(crate) fn reason_code<'py>(&self, py: Python<'py>, code: ReasonCode) -> Bound<'py, PyAny> {
        match &self.reason_codes[usize::from(code.as_u8())] {
            Some(member) => member.bind(py).clone(),
            // Every core code is in ALL; a plain int is a safe fallback.
            None => code
                .as_u8()
                .into_pyobject(py)
                .map(|i| i.into_any())
                .unwrap_or_else(|e| match e {}),
        }
    }

    /// A class of `libmqtt._packets` by name.
    pub(crate) fn packet_class<'py>(
        &self,
        py: Python<'py>,
        name: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.packets.bind(py).getattr(name)
    }

    /// A class of `libmqtt._events` by name.
    pub(crate) fn event_class<'py>(
        &self,
        py: Python<'py>,
        name: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.events.bind(py).getattr(name)
    }
}
