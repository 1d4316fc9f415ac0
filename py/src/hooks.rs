//! Python objects as the broker engine's authentication and authorization
//! hooks.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString};

use mqtt_core::broker::{
    Access, AuthDecision, AuthInfo, Authenticator, Authorizer, ConnectInfo, ConnectionId,
};
use mqtt_core::codec::{Packet, ReasonCode};
use mqtt_core::topic::SharedSubscription;

use crate::convert::{bytes_from_py, packet_to_py, reason_code_from_py};
use crate::types::types;

/// The first exception a hook raised, re-raised by the `Broker` method
/// that ran the engine.
pub(crate) type HookError = Arc<Mutex<Option<PyErr>>>;

fn keep(slot: &HookError, e: PyErr) {
    let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
    if s.is_none() {
        *s = Some(e);
    }
}

/// Runs a Python hook; when it raises, keeps the exception in `error` (for
/// the broker call to re-raise) and answers `fallback()`.
fn call_hook<T>(
    error: &HookError,
    fallback: impl FnOnce() -> T,
    call: impl FnOnce(Python<'_>) -> PyResult<T>,
) -> T {
    Python::attach(|py| {
        call(py).unwrap_or_else(|e| {
            keep(error, e);
            fallback()
        })
    })
}

fn opt_bytes<'py>(py: Python<'py>, b: Option<&[u8]>) -> Bound<'py, PyAny> {
    match b {
        Some(b) => PyBytes::new(py, b).into_any(),
        None => py.None().into_bound(py),
    }
}

fn opt_str<'py>(py: Python<'py>, s: Option<&str>) -> Bound<'py, PyAny> {
    match s {
        Some(s) => PyString::new(py, s).into_any(),
        None => py.None().into_bound(py),
    }
}

/// A decision object (or shorthand) as the engine's.
pub(crate) fn decision_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<AuthDecision> {
    if obj.is_none() {
        return Ok(AuthDecision::ACCEPT);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(if b.is_true() {
            AuthDecision::ACCEPT
        } else {
            AuthDecision::Reject(ReasonCode::NotAuthorized)
        });
    }
    if !obj.hasattr("kind")? {
        return Ok(AuthDecision::Reject(reason_code_from_py(py, obj)?));
    }
    let data = |o: &Bound<'_, PyAny>| -> PyResult<Option<Bytes>> {
        let d = o.getattr("data")?;
        if d.is_none() {
            Ok(None)
        } else {
            bytes_from_py(&d).map(Some)
        }
    };
    let kind: String = obj.getattr("kind")?.extract()?;
    Ok(match kind.as_str() {
        "accept" => AuthDecision::Accept(data(obj)?),
        "continue" => AuthDecision::Continue(data(obj)?),
        "pending" => AuthDecision::Pending,
        _ => AuthDecision::Reject(reason_code_from_py(py, &obj.getattr("reason_code")?)?),
    })
}

/// An authenticator calling a Python object.
pub(crate) struct PyAuthenticator {
    pub obj: Py<PyAny>,
    pub error: HookError,
}

impl PyAuthenticator {
    fn decide(&self, call: impl FnOnce(Python<'_>) -> PyResult<AuthDecision>) -> AuthDecision {
        call_hook(
            &self.error,
            || AuthDecision::Reject(ReasonCode::UnspecifiedError),
            call,
        )
    }
}

impl Authenticator for PyAuthenticator {
    fn authenticate_connect(&mut self, info: &ConnectInfo<'_>) -> AuthDecision {
        self.decide(|py| {
            let module = py.import("libmqtt.broker")?;
            let connect = packet_to_py(py, &Packet::from(info.connect.clone()))?;
            let py_info = module.getattr("ConnectInfo")?.call1((
                info.connection.get(),
                info.protocol_version.level(),
                info.client_id,
                opt_str(py, info.username),
                opt_bytes(py, info.password),
                opt_str(py, info.authentication_method),
                opt_bytes(py, info.authentication_data),
                connect,
            ))?;
            let answer = self
                .obj
                .bind(py)
                .call_method1("authenticate_connect", (py_info,))?;
            decision_from_py(py, &answer)
        })
    }

    fn authenticate_auth(&mut self, info: &AuthInfo<'_>) -> AuthDecision {
        self.decide(|py| {
            if !self.obj.bind(py).hasattr("authenticate_auth")? {
                return Ok(AuthDecision::Reject(ReasonCode::BadAuthenticationMethod));
            }
            let module = py.import("libmqtt.broker")?;
            let py_info = module.getattr("AuthInfo")?.call1((
                info.connection.get(),
                info.client_id,
                opt_str(py, info.username),
                info.authentication_method,
                opt_bytes(py, info.authentication_data),
                types(py)?.reason_code(py, info.reason_code),
                info.reauthentication,
            ))?;
            let answer = self
                .obj
                .bind(py)
                .call_method1("authenticate_auth", (py_info,))?;
            decision_from_py(py, &answer)
        })
    }

    fn connection_closed(&mut self, connection: ConnectionId) {
        Python::attach(|py| {
            let obj = self.obj.bind(py);
            if obj.hasattr("connection_closed").unwrap_or(false) {
                if let Err(e) = obj.call_method1("connection_closed", (connection.get(),)) {
                    keep(&self.error, e);
                }
            }
        })
    }
}

/// An authorizer calling a Python object.
pub(crate) struct PyAuthorizer {
    pub obj: Py<PyAny>,
    pub error: HookError,
}

impl PyAuthorizer {
    fn ask(&self, call: impl FnOnce(Python<'_>) -> PyResult<bool>) -> bool {
        call_hook(&self.error, || false, call)
    }
}

impl Authorizer for PyAuthorizer {
    fn authorize(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        self.ask(|py| {
            let access = match access {
                Access::Read => "read",
                Access::Write => "write",
                #[allow(unreachable_patterns)]
                _ => "readwrite",
            };
            self.obj
                .bind(py)
                .call_method1(
                    "authorize",
                    (client_id, opt_str(py, username), topic, access),
                )?
                .is_truthy()
        })
    }

    fn authorize_subscription(
        &self,
        client_id: &str,
        username: Option<&str>,
        filter: &str,
    ) -> bool {
        self.ask(|py| {
            let obj = self.obj.bind(py);
            if obj.hasattr("authorize_subscription")? {
                obj.call_method1(
                    "authorize_subscription",
                    (client_id, opt_str(py, username), filter),
                )?
                .is_truthy()
            } else {
                // As the core's default: the filter without a
                // `$share/{group}/` prefix, asked for read access.
                let inner = match SharedSubscription::parse(filter) {
                    Ok(Some(shared)) => shared.filter,
                    _ => filter,
                };
                obj.call_method1(
                    "authorize",
                    (client_id, opt_str(py, username), inner, "read"),
                )?
                .is_truthy()
            }
        })
    }
}
