//! Conversions between the core's packets and the Python classes of
//! `libmqtt._packets`: `*_to_py` build Python objects, `*_from_py` read
//! them back (validating as the core does).

use bytes::Bytes;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;

use mqtt_core::codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, Error, MqttString, Packet, PacketRef, ProtocolVersion,
    PubAck, PubComp, PubRec, PubRel, Publish, PublishProperties, PublishRef, QoS, ReasonCode,
    RetainHandling, SubAck, Subscribe, SubscribeFilter, SubscribeProperties, SubscriptionOptions,
    TopicFilter, TopicName, UnsubAck, Unsubscribe, UnsubscribeProperties, UserProperty, Will,
    WillProperties,
};

use crate::errors::{codec_error, invalid_argument, mqtt_error, IntoPyResult};
use crate::types::{types, Types};

// ----- scalars ---------------------------------------------------------

/// A Python `int` of any size (saturated to `i128`) taken as it is, so that
/// the range of its field is checked by [`Int::get`], which names the
/// field in the library's `InvalidArgument` (PyO3's own extraction of a
/// `u16` raises a bare `OverflowError` naming nothing).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Int(pub i128);

/// An integer type an [`Int`] may become.
pub(crate) trait IntField: Copy {
    const MIN: i128;
    const MAX: i128;
    fn from_i128(v: i128) -> Self;
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl IntField for $t {
            const MIN: i128 = <$t>::MIN as i128;
            const MAX: i128 = <$t>::MAX as i128;
            fn from_i128(v: i128) -> Self {
                v as $t
            }
        }
    )*};
}
int_field!(u8, u16, u32, u64, usize);

impl<'a, 'py> FromPyObject<'a, 'py> for Int {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        // The common case first: an `i64` is one C call, while `i128`
        // takes a slower path under the stable ABI (a QoS, an id, a flag).
        if let Ok(v) = obj.extract::<i64>() {
            return Ok(Int(i128::from(v)));
        }
        match obj.extract::<i128>() {
            Ok(v) => Ok(Int(v)),
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
                Ok(Int(if obj.lt(0)? { i128::MIN } else { i128::MAX }))
            }
            Err(e) => Err(e),
        }
    }
}

impl Int {
    /// The value as `T`, or `InvalidArgument` naming `field` and its range.
    pub(crate) fn get<T: IntField>(self, py: Python<'_>, field: &str) -> PyResult<T> {
        if self.0 < T::MIN || self.0 > T::MAX {
            let given = match self.0 {
                i128::MIN => "a number below -2**127".to_owned(),
                i128::MAX => "a number above 2**127".to_owned(),
                v => v.to_string(),
            };
            return Err(invalid_argument(
                py,
                field,
                "OutOfRange",
                format!(
                    "{field} must be an integer from {} to {}, not {given}",
                    T::MIN,
                    T::MAX
                ),
            ));
        }
        Ok(T::from_i128(self.0))
    }
}

/// An optional [`Int`] argument as `T`.
pub(crate) fn opt_int<T: IntField>(
    py: Python<'_>,
    v: Option<Int>,
    field: &str,
) -> PyResult<Option<T>> {
    v.map(|v| v.get(py, field)).transpose()
}

/// `obj` as an [`Int`], a `TypeError` naming `field` when it is no `int`.
pub(crate) fn int_arg(py: Python<'_>, obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Int> {
    obj.extract().map_err(|e: PyErr| {
        if e.is_instance_of::<PyTypeError>(py) {
            PyTypeError::new_err(format!("{field}: {}", e.value(py)))
        } else {
            e
        }
    })
}

/// An attribute or item `obj` as the integer field `field`: a `TypeError`
/// naming the field when it is no `int`, `InvalidArgument` when out of
/// range.
pub(crate) fn int_from_py<T: IntField>(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    field: &str,
) -> PyResult<T> {
    int_arg(py, obj, field)?.get(py, field)
}

/// The protocol version for a Python `version` argument (3, 4 or 5).
pub(crate) fn version_from_int(
    py: Python<'_>,
    version: Int,
    field: &str,
) -> PyResult<ProtocolVersion> {
    u8::try_from(version.0)
        .ok()
        .and_then(ProtocolVersion::from_level)
        .ok_or_else(|| {
            invalid_argument(
                py,
                field,
                "InvalidVersion",
                format!(
                    "{field} must be 3 (MQTT 3.1), 4 (MQTT 3.1.1) or 5 (MQTT 5.0), not {}",
                    version.0
                ),
            )
        })
}

/// The QoS for an int; any other than 0, 1 and 2 raises the exception of
/// [`Error::InvalidQoS`] with its value in the message (not the codec's,
/// which cites the PUBLISH rule: this QoS may be a subscription's or a
/// will's).
pub(crate) fn qos_from_int(py: Python<'_>, qos: Int) -> PyResult<QoS> {
    u8::try_from(qos.0)
        .ok()
        .and_then(QoS::from_u8)
        .ok_or_else(|| {
            like_codec_error(
                py,
                &Error::InvalidQoS,
                format!("qos must be 0, 1 or 2, not {}", qos.0),
            )
        })
}

/// The Retain Handling option for an int (0, 1 or 2), else the codec's
/// [`Error::InvalidRetainHandling`].
pub(crate) fn retain_handling_from_int(py: Python<'_>, v: Int) -> PyResult<RetainHandling> {
    match u8::try_from(v.0) {
        Ok(h) => {
            RetainHandling::from_u8(h).ok_or_else(|| codec_error(py, &Error::InvalidRetainHandling))
        }
        Err(_) => Err(like_codec_error(
            py,
            &Error::InvalidRetainHandling,
            format!("retain_handling must be 0, 1 or 2, not {}", v.0),
        )),
    }
}

/// The exception of codec error `e` (its class, reason code and kind)
/// with another message.
fn like_codec_error(py: Python<'_>, e: &Error, message: String) -> PyErr {
    let err = codec_error(py, e);
    let class = err.get_type(py);
    let name = class.name().map(|n| n.to_string()).unwrap_or_default();
    let kind = err
        .value(py)
        .getattr("kind")
        .and_then(|k| k.extract::<String>())
        .unwrap_or_default();
    mqtt_error(py, &name, message, Some(e.reason_code()), &kind)
}

/// A reason code from an int (or a `ReasonCode`).
pub(crate) fn reason_code_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<ReasonCode> {
    let v: u8 = int_from_py(py, obj, "reason_code")?;
    ReasonCode::from_u8(v).ok_or_else(|| {
        mqtt_error(
            py,
            "MalformedPacket",
            format!("{v:#04x} is not an MQTT reason code"),
            Some(ReasonCode::MalformedPacket),
            "InvalidReasonCode",
        )
    })
}

/// Binary data from `bytes`, `bytearray`, `memoryview`-like objects or
/// `str` (encoded as UTF-8). One copy.
pub(crate) fn bytes_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Bytes::from(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    if obj.hasattr(intern!(obj.py(), "tobytes"))? {
        let b = obj.call_method0(intern!(obj.py(), "tobytes"))?;
        return Ok(Bytes::copy_from_slice(b.cast::<PyBytes>()?.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "expected bytes, bytearray, memoryview or str, not {}",
        obj.get_type().name()?
    )))
}

/// Runs `f` over the bytes of `obj`: borrowed from a `bytes` object (no
/// copy), or copied once from a `bytearray`, `memoryview` or other
/// buffer.
pub(crate) fn with_bytes<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err("expected bytes-like data, not str"));
    }
    Ok(f(&bytes_from_py(obj)?))
}

/// An MQTT string from a Python `str` (validated: no U+0000, at most
/// 65,535 bytes when encoded).
pub(crate) fn mqtt_string_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<MqttString> {
    let s = obj.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected str, not {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    MqttString::from_str(&s.to_cow()?).py_err(py)
}

/// An optional MQTT string (`None` stays `None`).
fn opt_string_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Option<MqttString>> {
    if obj.is_none() {
        Ok(None)
    } else {
        mqtt_string_from_py(py, obj).map(Some)
    }
}

fn opt_bytes_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Option<Bytes>> {
    if obj.is_none() {
        Ok(None)
    } else {
        bytes_from_py(obj).map(Some)
    }
}

/// A PUBLISH topic name: the rules of spec 4.7 checked here (a typed
/// exception for a wildcard, U+0000, ...); the empty name is kept for a
/// 5.0 PUBLISH whose Topic Alias stands for its topic.
pub(crate) fn topic_name_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<TopicName> {
    let s = mqtt_string_from_py(py, obj)?;
    if s.is_empty() {
        return Ok(TopicName::EMPTY);
    }
    TopicName::try_from(s).py_err(py)
}

/// A SUBSCRIBE topic filter, checked by the rules of spec 4.7.
fn topic_filter_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<TopicFilter> {
    TopicFilter::try_from(mqtt_string_from_py(py, obj)?).py_err(py)
}

fn py_str<'py>(py: Python<'py>, s: &MqttString) -> Bound<'py, PyAny> {
    PyString::new(py, s.as_str()).into_any()
}

fn py_opt_str<'py>(py: Python<'py>, s: &Option<MqttString>) -> Bound<'py, PyAny> {
    match s {
        Some(s) => py_str(py, s),
        None => py.None().into_bound(py),
    }
}

fn py_opt_bytes<'py>(py: Python<'py>, b: &Option<Bytes>) -> Bound<'py, PyAny> {
    match b {
        Some(b) => PyBytes::new(py, b).into_any(),
        None => py.None().into_bound(py),
    }
}

// ----- properties ------------------------------------------------------

/// How one property value crosses between Rust and Python.
trait PropConv: Sized {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
    /// `field` names the property in errors.
    fn from_py(py: Python<'_>, obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Self>;
}

macro_rules! prop_conv_int {
    ($($t:ty),*) => {$(
        impl PropConv for $t {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                (*self).into_bound_py_any(py)
            }
            fn from_py(py: Python<'_>, obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Self> {
                int_from_py(py, obj, field)
            }
        }
    )*};
}
prop_conv_int!(u16, u32);

impl PropConv for bool {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (*self).into_bound_py_any(py)
    }
    fn from_py(_py: Python<'_>, obj: &Bound<'_, PyAny>, _field: &str) -> PyResult<Self> {
        obj.extract()
    }
}

impl PropConv for QoS {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.as_u8().into_bound_py_any(py)
    }
    fn from_py(py: Python<'_>, obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Self> {
        qos_from_int(py, int_arg(py, obj, field)?)
    }
}

impl PropConv for MqttString {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(py_str(py, self))
    }
    fn from_py(py: Python<'_>, obj: &Bound<'_, PyAny>, _field: &str) -> PyResult<Self> {
        mqtt_string_from_py(py, obj)
    }
}

impl PropConv for Bytes {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyBytes::new(py, self).into_any())
    }
    fn from_py(_py: Python<'_>, obj: &Bound<'_, PyAny>, _field: &str) -> PyResult<Self> {
        bytes_from_py(obj)
    }
}

/// Every attribute of `libmqtt.Properties` (checked against what a packet
/// may carry when converting to the core).
const ALL_PROPERTY_NAMES: &[&str] = &[
    "payload_format_indicator",
    "message_expiry_interval",
    "content_type",
    "response_topic",
    "correlation_data",
    "subscription_identifiers",
    "subscription_identifier",
    "session_expiry_interval",
    "assigned_client_identifier",
    "server_keep_alive",
    "authentication_method",
    "authentication_data",
    "request_problem_information",
    "will_delay_interval",
    "request_response_information",
    "response_information",
    "server_reference",
    "reason_string",
    "receive_maximum",
    "topic_alias_maximum",
    "topic_alias",
    "maximum_qos",
    "retain_available",
    "maximum_packet_size",
    "wildcard_subscription_available",
    "subscription_identifiers_available",
    "shared_subscription_available",
    "user_properties",
];

fn user_properties_to_py<'py>(
    py: Python<'py>,
    props: &[UserProperty],
) -> PyResult<Bound<'py, PyTuple>> {
    let pairs = props
        .iter()
        .map(|p| PyTuple::new(py, [py_str(py, &p.key), py_str(py, &p.value)]))
        .collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(py, pairs)
}

/// User properties from any iterable of `(str, str)` pairs.
pub(crate) fn user_properties_from_py(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
) -> PyResult<Vec<UserProperty>> {
    let mut out = Vec::new();
    if obj.is_none() {
        return Ok(out);
    }
    for item in obj.try_iter()? {
        let item = item?;
        let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
        out.push(UserProperty {
            key: mqtt_string_from_py(py, &k)?,
            value: mqtt_string_from_py(py, &v)?,
        });
    }
    Ok(out)
}

fn is_unset(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(obj.is_none() || (obj.is_instance_of::<PyTuple>() && obj.len()? == 0))
}

/// Raises MalformedPacket (PropertyNotAllowed, as the core: spec 2.2.2.2)
/// if `obj` sets a property outside `allowed`.
fn check_allowed(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    allowed: &[&str],
    packet: &str,
) -> PyResult<()> {
    for name in ALL_PROPERTY_NAMES {
        if allowed.contains(name) {
            continue;
        }
        if !is_unset(&obj.getattr(*name)?)? {
            return Err(mqtt_error(
                py,
                "MalformedPacket",
                format!("property {name} not allowed in {packet}"),
                Some(ReasonCode::MalformedPacket),
                "PropertyNotAllowed",
            ));
        }
    }
    Ok(())
}

/// Whether a Python properties argument is `None` or the shared empty one.
fn no_properties(t: &Types, obj: &Bound<'_, PyAny>) -> bool {
    obj.is_none() || obj.is(&t.no_properties)
}

macro_rules! properties_conv {
    ($to:ident, $from:ident, $Ty:ty, $packet:literal, [$($f:ident),*] $(, repeated $sid:ident)?) => {
        pub(crate) fn $to<'py>(py: Python<'py>, t: &Types, p: &$Ty) -> PyResult<Bound<'py, PyAny>> {
            if p.is_empty() {
                return Ok(t.no_properties.bind(py).clone());
            }
            let kw = PyDict::new(py);
            $(
                if let Some(v) = &p.$f {
                    kw.set_item(intern!(py, stringify!($f)), PropConv::to_py(v, py)?)?;
                }
            )*
            $(
                if !p.$sid.is_empty() {
                    kw.set_item(intern!(py, stringify!($sid)), PyTuple::new(py, &p.$sid)?)?;
                }
            )?
            if !p.user_properties.is_empty() {
                kw.set_item(intern!(py, "user_properties"), user_properties_to_py(py, &p.user_properties)?)?;
            }
            t.properties.bind(py).call((), Some(&kw))
        }

        pub(crate) fn $from(py: Python<'_>, t: &Types, obj: &Bound<'_, PyAny>) -> PyResult<$Ty> {
            let mut out = <$Ty>::default();
            if no_properties(t, obj) {
                return Ok(out);
            }
            $(
                let v = obj.getattr(intern!(py, stringify!($f)))?;
                if !v.is_none() {
                    out.$f = Some(PropConv::from_py(py, &v, stringify!($f))?);
                }
            )*
            $(
                let v = obj.getattr(intern!(py, stringify!($sid)))?;
                if !v.is_none() {
                    out.$sid = v
                        .try_iter()?
                        .map(|i| int_from_py::<u32>(py, &i?, stringify!($sid)))
                        .collect::<PyResult<Vec<u32>>>()?;
                }
            )?
            out.user_properties = user_properties_from_py(py, &obj.getattr(intern!(py, "user_properties"))?)?;
            check_allowed(py, obj, &[$(stringify!($f),)* $(stringify!($sid),)? "user_properties"], $packet)?;
            Ok(out)
        }
    };
}

properties_conv!(
    connect_props_to_py,
    connect_props_from_py,
    ConnectProperties,
    "CONNECT",
    [
        session_expiry_interval,
        receive_maximum,
        maximum_packet_size,
        topic_alias_maximum,
        request_response_information,
        request_problem_information,
        authentication_method,
        authentication_data
    ]
);
properties_conv!(
    will_props_to_py,
    will_props_from_py,
    WillProperties,
    "the will",
    [
        will_delay_interval,
        payload_format_indicator,
        message_expiry_interval,
        content_type,
        response_topic,
        correlation_data
    ]
);
properties_conv!(
    connack_props_to_py,
    connack_props_from_py,
    ConnAckProperties,
    "CONNACK",
    [
        session_expiry_interval,
        receive_maximum,
        maximum_qos,
        retain_available,
        maximum_packet_size,
        assigned_client_identifier,
        topic_alias_maximum,
        reason_string,
        wildcard_subscription_available,
        subscription_identifiers_available,
        shared_subscription_available,
        server_keep_alive,
        response_information,
        server_reference,
        authentication_method,
        authentication_data
    ]
);
properties_conv!(publish_props_to_py, publish_props_from_py, PublishProperties, "PUBLISH",
    [payload_format_indicator, message_expiry_interval, topic_alias, response_topic,
     correlation_data, content_type], repeated subscription_identifiers);
properties_conv!(
    ack_props_to_py,
    ack_props_from_py,
    AckProperties,
    "an acknowledgement",
    [reason_string]
);
properties_conv!(
    auth_props_to_py,
    auth_props_from_py,
    AuthProperties,
    "AUTH",
    [authentication_method, authentication_data, reason_string]
);
properties_conv!(
    disconnect_props_to_py,
    disconnect_props_from_py,
    DisconnectProperties,
    "DISCONNECT",
    [session_expiry_interval, reason_string, server_reference]
);
properties_conv!(
    subscribe_props_to_py,
    subscribe_props_from_py,
    SubscribeProperties,
    "SUBSCRIBE",
    [subscription_identifier]
);
properties_conv!(
    unsubscribe_props_to_py,
    unsubscribe_props_from_py,
    UnsubscribeProperties,
    "UNSUBSCRIBE",
    []
);

// ----- packets to Python -----------------------------------------------

fn reason_codes_to_py<'py>(
    py: Python<'py>,
    t: &Types,
    codes: &[ReasonCode],
) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, codes.iter().map(|c| t.reason_code(py, *c)))
}

/// A `libmqtt.Publish` (one copy of the payload, into its `bytes`).
pub(crate) fn publish_to_py<'py>(
    py: Python<'py>,
    t: &Types,
    p: &Publish,
) -> PyResult<Bound<'py, PyAny>> {
    let properties = publish_props_to_py(py, t, &p.properties)?.unbind();
    publish_object(py, &p.as_view(), properties)
}

/// A `libmqtt.Publish` from a borrowed view (as decoded from a caller's
/// buffer): the payload is copied once, straight into its `bytes`.
pub(crate) fn publish_ref_to_py<'py>(
    py: Python<'py>,
    t: &Types,
    p: &PublishRef<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    let properties = if p.properties.is_empty() {
        t.no_properties.clone_ref(py)
    } else {
        // Owned copies of the topic and properties only (not the payload).
        match PacketRef::Publish(PublishRef { payload: &[], ..*p }).into_owned() {
            Packet::Publish(owned) => publish_props_to_py(py, t, &owned.properties)?.unbind(),
            // `into_owned` keeps the packet type.
            _ => t.no_properties.clone_ref(py),
        }
    };
    publish_object(py, p, properties)
}

/// The `Publish` object of a view and its converted properties.
fn publish_object<'py>(
    py: Python<'py>,
    p: &PublishRef<'_>,
    properties: Py<PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(Bound::new(
        py,
        crate::packets::Publish {
            topic: PyString::new(py, p.topic.as_str()).unbind(),
            payload: PyBytes::new(py, p.payload).unbind(),
            qos: p.qos.as_u8(),
            retain: p.retain,
            dup: p.dup,
            packet_id: p.packet_id,
            properties,
            topic_utf8: std::sync::OnceLock::new(),
        },
    )?
    .into_any())
}

/// A `libmqtt.ConnAck`.
pub(crate) fn connack_to_py<'py>(
    py: Python<'py>,
    t: &Types,
    c: &ConnAck,
) -> PyResult<Bound<'py, PyAny>> {
    t.packet_class(py, "ConnAck")?.call1((
        c.session_present,
        t.reason_code(py, c.reason_code),
        connack_props_to_py(py, t, &c.properties)?,
    ))
}

/// A `libmqtt.Disconnect`.
pub(crate) fn disconnect_to_py<'py>(
    py: Python<'py>,
    t: &Types,
    d: &Disconnect,
) -> PyResult<Bound<'py, PyAny>> {
    t.packet_class(py, "Disconnect")?.call1((
        t.reason_code(py, d.reason_code),
        disconnect_props_to_py(py, t, &d.properties)?,
    ))
}

/// A `libmqtt.Auth`.
pub(crate) fn auth_to_py<'py>(py: Python<'py>, t: &Types, a: &Auth) -> PyResult<Bound<'py, PyAny>> {
    t.packet_class(py, "Auth")?.call1((
        t.reason_code(py, a.reason_code),
        auth_props_to_py(py, t, &a.properties)?,
    ))
}

/// A `libmqtt.Will`.
pub(crate) fn will_to_py<'py>(py: Python<'py>, t: &Types, w: &Will) -> PyResult<Bound<'py, PyAny>> {
    t.packet_class(py, "Will")?.call1((
        py_str(py, &w.topic),
        PyBytes::new(py, &w.payload),
        w.qos.as_u8(),
        w.retain,
        will_props_to_py(py, t, &w.properties)?,
    ))
}

/// A `libmqtt.SubscribeFilter`.
pub(crate) fn filter_to_py<'py>(
    py: Python<'py>,
    t: &Types,
    f: &SubscribeFilter,
) -> PyResult<Bound<'py, PyAny>> {
    t.packet_class(py, "SubscribeFilter")?.call1((
        PyString::new(py, f.filter.as_str()).into_any(),
        f.options.qos.as_u8(),
        f.options.no_local,
        f.options.retain_as_published,
        f.options.retain_handling.as_u8(),
    ))
}

fn ack_to_py<'py>(
    py: Python<'py>,
    t: &Types,
    class: &str,
    packet_id: u16,
    reason_code: ReasonCode,
    properties: &AckProperties,
) -> PyResult<Bound<'py, PyAny>> {
    t.packet_class(py, class)?.call1((
        packet_id,
        t.reason_code(py, reason_code),
        ack_props_to_py(py, t, properties)?,
    ))
}

/// Any packet as its Python object.
pub(crate) fn packet_to_py<'py>(py: Python<'py>, p: &Packet) -> PyResult<Bound<'py, PyAny>> {
    let t = types(py)?;
    match p {
        Packet::Publish(p) => publish_to_py(py, t, p),
        Packet::PubAck(a) => ack_to_py(py, t, "PubAck", a.packet_id, a.reason_code, &a.properties),
        Packet::PubRec(a) => ack_to_py(py, t, "PubRec", a.packet_id, a.reason_code, &a.properties),
        Packet::PubRel(a) => ack_to_py(py, t, "PubRel", a.packet_id, a.reason_code, &a.properties),
        Packet::PubComp(a) => {
            ack_to_py(py, t, "PubComp", a.packet_id, a.reason_code, &a.properties)
        }
        Packet::Connect(c) => {
            let will = match &c.will {
                Some(w) => will_to_py(py, t, w)?,
                None => py.None().into_bound(py),
            };
            t.packet_class(py, "Connect")?.call1((
                py_str(py, &c.client_id),
                c.protocol_version.level(),
                c.clean_start,
                c.keep_alive,
                will,
                py_opt_str(py, &c.username),
                py_opt_bytes(py, &c.password),
                connect_props_to_py(py, t, &c.properties)?,
            ))
        }
        Packet::ConnAck(c) => connack_to_py(py, t, c),
        Packet::Subscribe(s) => {
            let filters = s
                .filters
                .iter()
                .map(|f| filter_to_py(py, t, f))
                .collect::<PyResult<Vec<_>>>()?;
            t.packet_class(py, "Subscribe")?.call1((
                s.packet_id,
                PyTuple::new(py, filters)?,
                subscribe_props_to_py(py, t, &s.properties)?,
            ))
        }
        Packet::SubAck(s) => t.packet_class(py, "SubAck")?.call1((
            s.packet_id,
            reason_codes_to_py(py, t, &s.reason_codes)?,
            ack_props_to_py(py, t, &s.properties)?,
        )),
        Packet::Unsubscribe(u) => t.packet_class(py, "Unsubscribe")?.call1((
            u.packet_id,
            PyTuple::new(py, u.filters.iter().map(|f| py_str(py, f)))?,
            unsubscribe_props_to_py(py, t, &u.properties)?,
        )),
        Packet::UnsubAck(u) => t.packet_class(py, "UnsubAck")?.call1((
            u.packet_id,
            reason_codes_to_py(py, t, &u.reason_codes)?,
            ack_props_to_py(py, t, &u.properties)?,
        )),
        Packet::PingReq => t.packet_class(py, "PingReq")?.call0(),
        Packet::PingResp => t.packet_class(py, "PingResp")?.call0(),
        Packet::Disconnect(d) => disconnect_to_py(py, t, d),
        Packet::Auth(a) => auth_to_py(py, t, a),
    }
}

// ----- packets from Python ---------------------------------------------

fn props<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    obj.getattr(intern!(obj.py(), "properties"))
}

fn attr<'py>(obj: &Bound<'py, PyAny>, name: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
    obj.getattr(name)
}

/// A `SubscribeFilter`, or a plain `str` (QoS `default_qos`), or a
/// `(str, qos)` pair, as the core's filter.
pub(crate) fn filter_from_py(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    default: SubscriptionOptions,
) -> PyResult<SubscribeFilter> {
    if obj.is_instance_of::<PyString>() {
        return Ok(SubscribeFilter {
            filter: topic_filter_from_py(py, obj)?,
            options: default,
        });
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        let (f, q): (Bound<'_, PyAny>, Bound<'_, PyAny>) = tuple.extract()?;
        let mut options = default;
        options.qos = qos_from_int(py, int_arg(py, &q, "qos")?)?;
        return Ok(SubscribeFilter {
            filter: topic_filter_from_py(py, &f)?,
            options,
        });
    }
    let filter = topic_filter_from_py(py, &attr(obj, intern!(py, "filter"))?)?;
    let handling = retain_handling_from_int(
        py,
        int_arg(
            py,
            &attr(obj, intern!(py, "retain_handling"))?,
            "retain_handling",
        )?,
    )?;
    let options = SubscriptionOptions::new(qos_from_int(
        py,
        int_arg(py, &attr(obj, intern!(py, "qos"))?, "qos")?,
    )?)
    .with_no_local(attr(obj, intern!(py, "no_local"))?.extract()?)
    .with_retain_as_published(attr(obj, intern!(py, "retain_as_published"))?.extract()?)
    .with_retain_handling(handling);
    Ok(SubscribeFilter { filter, options })
}

/// A `libmqtt.Will`.
pub(crate) fn will_from_py(py: Python<'_>, t: &Types, obj: &Bound<'_, PyAny>) -> PyResult<Will> {
    let topic = mqtt_string_from_py(py, &attr(obj, intern!(py, "topic"))?)?;
    let payload = bytes_from_py(&attr(obj, intern!(py, "payload"))?)?;
    let qos = qos_from_int(py, int_arg(py, &attr(obj, intern!(py, "qos"))?, "qos")?)?;
    let mut will = Will::new(topic.as_str(), payload, qos).py_err(py)?;
    will.retain = attr(obj, intern!(py, "retain"))?.extract()?;
    will.properties = will_props_from_py(py, t, &attr(obj, intern!(py, "properties"))?)?;
    Ok(will)
}

/// A `libmqtt.Publish` as the core's (the payload copied once).
pub(crate) fn publish_from_py(
    py: Python<'_>,
    t: &Types,
    obj: &Bound<'_, PyAny>,
) -> PyResult<Publish> {
    let obj = obj.cast::<crate::packets::Publish>()?;
    let p = obj.get();
    let mut out =
        Publish::new("-", Bytes::copy_from_slice(p.payload.bind(py).as_bytes())).py_err(py)?;
    out.topic = topic_name_from_py(py, p.topic.bind(py).as_any())?;
    out.qos = qos_from_int(py, Int(p.qos.into()))?;
    out.retain = p.retain;
    out.dup = p.dup;
    out.packet_id = p.packet_id;
    out.properties = publish_props_from_py(py, t, p.properties.bind(py))?.into();
    Ok(out)
}

fn ack_parts(
    py: Python<'_>,
    t: &Types,
    obj: &Bound<'_, PyAny>,
) -> PyResult<(u16, ReasonCode, AckProperties)> {
    Ok((
        int_from_py(py, &attr(obj, intern!(py, "packet_id"))?, "packet_id")?,
        reason_code_from_py(py, &attr(obj, intern!(py, "reason_code"))?)?,
        ack_props_from_py(py, t, &attr(obj, intern!(py, "properties"))?)?,
    ))
}

fn reason_codes_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Vec<ReasonCode>> {
    obj.try_iter()?
        .map(|c| reason_code_from_py(py, &c?))
        .collect()
}

/// Any packet object of `libmqtt` as the core's packet.
pub(crate) fn packet_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Packet> {
    let t = types(py)?;
    if obj.is_instance_of::<crate::packets::Publish>() {
        return Ok(Packet::Publish(publish_from_py(py, t, obj)?));
    }
    let ty = obj.get_type();
    let name = ty.name()?;
    let module = ty.module()?;
    if module.to_cow()? != "libmqtt._packets" {
        return Err(PyTypeError::new_err(format!(
            "expected a libmqtt packet (Publish, Connect, ...), not {name}"
        )));
    }
    Ok(match &*name.to_cow()? {
        "PubAck" => {
            let (id, rc, pr) = ack_parts(py, t, obj)?;
            let mut a = PubAck::new(id);
            a.reason_code = rc;
            a.properties = pr;
            Packet::PubAck(a)
        }
        "PubRec" => {
            let (id, rc, pr) = ack_parts(py, t, obj)?;
            let mut a = PubRec::new(id);
            a.reason_code = rc;
            a.properties = pr;
            Packet::PubRec(a)
        }
        "PubRel" => {
            let (id, rc, pr) = ack_parts(py, t, obj)?;
            let mut a = PubRel::new(id);
            a.reason_code = rc;
            a.properties = pr;
            Packet::PubRel(a)
        }
        "PubComp" => {
            let (id, rc, pr) = ack_parts(py, t, obj)?;
            let mut a = PubComp::new(id);
            a.reason_code = rc;
            a.properties = pr;
            Packet::PubComp(a)
        }
        "Connect" => {
            let level = int_arg(
                py,
                &attr(obj, intern!(py, "protocol_version"))?,
                "protocol_version",
            )?;
            let version = version_from_int(py, level, "protocol_version")?;
            let client_id = mqtt_string_from_py(py, &attr(obj, intern!(py, "client_id"))?)?;
            let mut c = Connect::new(version, "").py_err(py)?;
            c.client_id = client_id;
            c.clean_start = attr(obj, intern!(py, "clean_start"))?.extract()?;
            c.keep_alive = int_from_py(py, &attr(obj, intern!(py, "keep_alive"))?, "keep_alive")?;
            let will = attr(obj, intern!(py, "will"))?;
            c.will = if will.is_none() {
                None
            } else {
                Some(will_from_py(py, t, &will)?)
            };
            c.username = opt_string_from_py(py, &attr(obj, intern!(py, "username"))?)?;
            c.password = opt_bytes_from_py(&attr(obj, intern!(py, "password"))?)?;
            c.properties = connect_props_from_py(py, t, &props(obj)?)?;
            Packet::from(c)
        }
        "ConnAck" => {
            let mut c = ConnAck::new(
                attr(obj, intern!(py, "session_present"))?.extract()?,
                reason_code_from_py(py, &attr(obj, intern!(py, "reason_code"))?)?,
            );
            c.properties = connack_props_from_py(py, t, &props(obj)?)?;
            Packet::from(c)
        }
        "Subscribe" => {
            let filters = attr(obj, intern!(py, "filters"))?
                .try_iter()?
                .map(|f| filter_from_py(py, &f?, SubscriptionOptions::new(QoS::AtMostOnce)))
                .collect::<PyResult<Vec<_>>>()?;
            let mut s = Subscribe::new(
                int_from_py(py, &attr(obj, intern!(py, "packet_id"))?, "packet_id")?,
                filters,
            );
            s.properties = subscribe_props_from_py(py, t, &props(obj)?)?;
            Packet::Subscribe(s)
        }
        "SubAck" => {
            let mut s = SubAck::new(
                int_from_py(py, &attr(obj, intern!(py, "packet_id"))?, "packet_id")?,
                reason_codes_from_py(py, &attr(obj, intern!(py, "reason_codes"))?)?,
            );
            s.properties = ack_props_from_py(py, t, &props(obj)?)?;
            Packet::SubAck(s)
        }
        "Unsubscribe" => {
            let filters = attr(obj, intern!(py, "filters"))?
                .try_iter()?
                .map(|f| mqtt_string_from_py(py, &f?))
                .collect::<PyResult<Vec<_>>>()?;
            let mut u = Unsubscribe::new(
                int_from_py(py, &attr(obj, intern!(py, "packet_id"))?, "packet_id")?,
                filters,
            );
            u.properties = unsubscribe_props_from_py(py, t, &props(obj)?)?;
            Packet::Unsubscribe(u)
        }
        "UnsubAck" => {
            let mut u = UnsubAck::new(
                int_from_py(py, &attr(obj, intern!(py, "packet_id"))?, "packet_id")?,
                reason_codes_from_py(py, &attr(obj, intern!(py, "reason_codes"))?)?,
            );
            u.properties = ack_props_from_py(py, t, &props(obj)?)?;
            Packet::UnsubAck(u)
        }
        "PingReq" => Packet::PingReq,
        "PingResp" => Packet::PingResp,
        "Disconnect" => {
            let mut d = Disconnect::new(reason_code_from_py(
                py,
                &attr(obj, intern!(py, "reason_code"))?,
            )?);
            d.properties = disconnect_props_from_py(py, t, &props(obj)?)?;
            Packet::Disconnect(d)
        }
        "Auth" => {
            let mut a = Auth::new(reason_code_from_py(
                py,
                &attr(obj, intern!(py, "reason_code"))?,
            )?);
            a.properties = auth_props_from_py(py, t, &props(obj)?)?;
            Packet::Auth(a)
        }
        other => {
            return Err(PyTypeError::new_err(format!(
                "expected a libmqtt packet (Publish, Connect, ...), not {other}"
            )))
        }
    })
}

/// The next event from `poll` as a Python object, or `None` when there is
/// none; events `convert` maps to `None` (not shown to Python) are skipped.
/// Shared by the client's and the server connection's ``next_event``.
pub(crate) fn next_py_event<'py, E>(
    py: Python<'py>,
    mut poll: impl FnMut() -> Option<E>,
    convert: impl Fn(Python<'py>, &Types, E) -> PyResult<Option<Bound<'py, PyAny>>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let t = types(py)?;
    while let Some(event) = poll() {
        if let Some(e) = convert(py, t, event)? {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

/// Every pending event from `poll`, drained and converted, as a list (see
/// [`next_py_event`]).
pub(crate) fn drain_py_events<'py, E>(
    py: Python<'py>,
    mut poll: impl FnMut() -> Option<E>,
    convert: impl Fn(Python<'py>, &Types, E) -> PyResult<Option<Bound<'py, PyAny>>>,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    while let Some(e) = next_py_event(py, &mut poll, &convert)? {
        list.append(e)?;
    }
    Ok(list)
}
