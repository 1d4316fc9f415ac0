//! `decode`, `encode` and the streaming `Decoder`.

use bytes::BytesMut;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use mqtt_core::codec::{
    self as core_codec, DecodeOptions, Error, MqttStr, PacketRef, PublishPropertiesRef, PublishRef,
    ReasonCode, TopicNameRef,
};

use crate::convert::{
    packet_from_py, packet_to_py, publish_props_from_py, publish_ref_to_py, qos_from_int,
    version_from_int, Int,
};
use crate::errors::{codec_error, mqtt_error, IntoPyResult};
use crate::types::types;

/// Decodes one whole MQTT control packet from ``data`` into its packet
/// object (:class:`Publish`, :class:`ConnAck`, ...).
///
/// ``version`` is 3 (MQTT 3.1), 4 (MQTT 3.1.1) or 5 (MQTT 5.0); a CONNECT is always read
/// by the version it names. ``max_packet_size`` (0: none beyond the
/// protocol's) is checked from the fixed header first.
///
/// Raises a :class:`MQTTError` subclass whose ``reason_code`` is what a
/// receiver reports: :class:`MalformedPacket` (0x81) for bytes that do not
/// parse, including an incomplete packet (kind ``"Incomplete"``) and bytes
/// after the packet (``"TrailingBytes"``); :class:`ProtocolError` (0x82);
/// :class:`PacketTooLarge` (0x95); ... For a byte stream use
/// :class:`Decoder`.
#[pyfunction]
#[pyo3(signature = (data, version = Int(5), *, max_packet_size = Int(0)))]
#[pyo3(text_signature = "(data, version=5, *, max_packet_size=0)")]
pub(crate) fn decode<'py>(
    py: Python<'py>,
    data: &[u8],
    version: Int,
    max_packet_size: Int,
) -> PyResult<Bound<'py, PyAny>> {
    let options = DecodeOptions::new(version_from_int(py, version, "version")?)
        .with_max_packet_size(max_packet_size.get(py, "max_packet_size")?);
    // Decoded in place from the caller's `bytes` (no copy of the input):
    // a PUBLISH's payload is copied once, into its own `bytes`.
    match PacketRef::decode(data, &options).py_err(py)? {
        None => Err(mqtt_error(
            py,
            "MalformedPacket",
            format!(
                "incomplete packet: {} bytes are not a whole packet",
                data.len()
            ),
            Some(ReasonCode::MalformedPacket),
            "Incomplete",
        )),
        Some((_, used)) if used != data.len() => Err(codec_error(py, &Error::TrailingBytes)),
        Some((PacketRef::Publish(publish), _)) => publish_ref_to_py(py, types(py)?, &publish),
        Some((packet, _)) => packet_to_py(py, &packet.into_owned()),
    }
}

/// Encodes a packet object into the bytes of one MQTT control packet.
///
/// The packet is validated as a receiver would validate it, so what
/// encodes decodes back to an equal packet. Fields the protocol cannot
/// carry raise the same exception decoding them would: a topic name with
/// a wildcard :class:`TopicNameInvalid`, a property the packet may not
/// carry or any property in 3.1.1 :class:`ProtocolError`, ...
#[pyfunction]
#[pyo3(signature = (packet, version = Int(5)))]
#[pyo3(text_signature = "(packet, version=5)")]
pub(crate) fn encode<'py>(
    py: Python<'py>,
    packet: &Bound<'py, PyAny>,
    version: Int,
) -> PyResult<Bound<'py, PyBytes>> {
    let version = version_from_int(py, version, "version")?;
    if let Ok(publish) = packet.cast::<crate::packets::Publish>() {
        // The hot path: a view borrowing the payload, written straight
        // into the new bytes object (one copy). The topic's UTF-8 is cached
        // on the (immutable) object; the shared empty properties are not
        // converted.
        let p = publish.get();
        let t = types(py)?;
        let topic: &str = match p.topic_utf8.get() {
            Some(topic) => topic,
            None => {
                let topic: Box<str> = p.topic.bind(py).to_cow()?.into();
                p.topic_utf8.get_or_init(|| topic)
            }
        };
        let py_props = p.properties.bind(py);
        let owned_props;
        let properties = if py_props.is(&t.no_properties) || py_props.is_none() {
            PublishPropertiesRef::default()
        } else {
            owned_props = publish_props_from_py(py, t, py_props)?;
            owned_props.as_view()
        };
        let payload = p.payload.bind(py).as_bytes();
        let view = PacketRef::Publish(PublishRef {
            dup: p.dup,
            qos: qos_from_int(py, Int(p.qos.into()))?,
            retain: p.retain,
            // Empty: a Topic Alias stands for the topic (checked when
            // encoding).
            topic: if topic.is_empty() {
                TopicNameRef::EMPTY
            } else {
                // U+0000 is refused as in every other string (NullCharacter,
                // a Malformed Packet), before the topic rules.
                MqttStr::new(topic).py_err(py)?;
                TopicNameRef::new(topic).py_err(py)?
            },
            packet_id: p.packet_id,
            properties,
            payload,
        });
        // Without properties the size is known without a sizing pass:
        // the packet is validated and written once, straight into the new
        // bytes object. (A size that disagreed with the core's would raise,
        // never return a short or padded packet.)
        if properties.is_empty() {
            if let Some(len) =
                plain_publish_len(version.is_v5(), topic.len(), p.qos != 0, payload.len())
            {
                return PyBytes::new_with(py, len, |out| {
                    match view.encode_to_slice(version, out) {
                        Ok(n) if n == len => Ok(()),
                        Ok(n) => Err(PyRuntimeError::new_err(format!(
                            "internal error: PUBLISH sized {len} bytes, encoded {n}"
                        ))),
                        Err(e) => Err(codec_error(py, &e)),
                    }
                });
            }
        }
        let len = view.encoded_len(version).py_err(py)?;
        return PyBytes::new_with(py, len, |out| {
            view.encode_to_slice(version, out)
                .map(|_| ())
                .map_err(|e| codec_error(py, &e))
        });
    }
    let packet = packet_from_py(py, packet)?;
    let mut buf = BytesMut::new();
    packet.encode(version, &mut buf).py_err(py)?;
    Ok(PyBytes::new(py, &buf))
}

/// The encoded size of a PUBLISH without properties (spec 3.3): fixed
/// header, topic (length-prefixed), packet identifier when QoS > 0, the
/// empty property length in 5.0, payload. `None` past the largest
/// Remaining Length (the core reports that error).
fn plain_publish_len(v5: bool, topic: usize, has_id: bool, payload: usize) -> Option<usize> {
    let remaining = 2 + topic + 2 * usize::from(has_id) + usize::from(v5) + payload;
    let varint = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        2_097_152..=268_435_455 => 4,
        _ => return None,
    };
    Some(1 + varint + remaining)
}

/// Turns a byte stream, fed in any chunking, into packet objects.
///
/// ``feed(data)`` appends bytes; ``next_packet()`` returns the next whole
/// packet or ``None``; iterating the decoder yields every whole packet
/// buffered. The maximum packet size is checked as soon as a fixed header
/// is complete, before its body is buffered. After an error the stream is
/// no longer framed: close the connection (with DISCONNECT carrying the
/// exception's ``reason_code`` in 5.0).
#[pyclass(module = "libmqtt")]
pub(crate) struct Decoder {
    inner: core_codec::Decoder,
}

#[pymethods]
impl Decoder {
    #[new]
    #[pyo3(signature = (version = Int(5), *, max_packet_size = Int(0)))]
    #[pyo3(text_signature = "(version=5, *, max_packet_size=0)")]
    fn new(py: Python<'_>, version: Int, max_packet_size: Int) -> PyResult<Self> {
        Ok(Decoder {
            inner: core_codec::Decoder::new(
                DecodeOptions::new(version_from_int(py, version, "version")?)
                    .with_max_packet_size(max_packet_size.get(py, "max_packet_size")?),
            ),
        })
    }

    /// Appends received bytes.
    fn feed(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        crate::convert::with_bytes(data, |d| self.inner.feed(d))
    }

    /// The next whole packet, or ``None`` when more bytes are needed.
    /// Raises :class:`MQTTError` (with ``reason_code``) on invalid input.
    fn next_packet<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.inner.next_packet().py_err(py)? {
            Some(p) => packet_to_py(py, &p).map(Some),
            None => Ok(None),
        }
    }

    /// Changes the protocol version (4 or 5) for packets not yet decoded.
    fn set_version(&mut self, py: Python<'_>, version: Int) -> PyResult<()> {
        self.inner
            .set_version(version_from_int(py, version, "version")?);
        Ok(())
    }

    /// Changes the maximum packet size (0: no limit).
    fn set_max_packet_size(&mut self, py: Python<'_>, max_packet_size: Int) -> PyResult<()> {
        self.inner
            .set_max_packet_size(max_packet_size.get(py, "max_packet_size")?);
        Ok(())
    }

    /// Bytes buffered and not yet decoded.
    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.next_packet(py)
    }
}
