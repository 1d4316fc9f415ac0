//! `decode`, `encode` and the streaming `Decoder`.

use bytes::{Bytes, BytesMut};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use mqtt_core::codec::{
    self as core_codec, DecodeOptions, Error, MqttStr, PacketRef, PublishRef, ReasonCode,
};

use crate::convert::{
    packet_from_py, packet_to_py, publish_props_from_py, qos_from_int, version_from_int,
};
use crate::errors::{codec_error, mqtt_error, IntoPyResult};
use crate::types::types;

/// Decodes one whole MQTT control packet from ``data`` into its packet
/// object (:class:`Publish`, :class:`ConnAck`, ...).
///
/// ``version`` is 4 (MQTT 3.1.1) or 5 (MQTT 5.0); a CONNECT is always read
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
#[pyo3(signature = (data, version = 5, *, max_packet_size = 0))]
pub(crate) fn decode<'py>(
    py: Python<'py>,
    data: &[u8],
    version: u8,
    max_packet_size: u32,
) -> PyResult<Bound<'py, PyAny>> {
    let options =
        DecodeOptions::new(version_from_int(version)?).with_max_packet_size(max_packet_size);
    let mut buf = Bytes::copy_from_slice(data);
    match core_codec::decode(&mut buf, &options).py_err(py)? {
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
        Some(_) if !buf.is_empty() => Err(codec_error(py, &Error::TrailingBytes)),
        Some(packet) => packet_to_py(py, &packet),
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
#[pyo3(signature = (packet, version = 5))]
pub(crate) fn encode<'py>(
    py: Python<'py>,
    packet: &Bound<'py, PyAny>,
    version: u8,
) -> PyResult<Bound<'py, PyBytes>> {
    let version = version_from_int(version)?;
    if let Ok(publish) = packet.cast::<crate::packets::Publish>() {
        // The hot path: a view borrowing the payload, sized first, then
        // written straight into the new bytes object (one copy).
        let p = publish.get();
        let t = types(py)?;
        let topic = p.topic.bind(py).to_cow()?;
        let properties = publish_props_from_py(py, t, p.properties.bind(py))?;
        let view = PacketRef::Publish(PublishRef {
            dup: p.dup,
            qos: qos_from_int(py, p.qos)?,
            retain: p.retain,
            topic: MqttStr::new(&topic).py_err(py)?,
            packet_id: p.packet_id,
            properties: properties.as_view(),
            payload: p.payload.bind(py).as_bytes(),
        });
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
    #[pyo3(signature = (version = 5, *, max_packet_size = 0))]
    fn new(version: u8, max_packet_size: u32) -> PyResult<Self> {
        Ok(Decoder {
            inner: core_codec::Decoder::new(
                DecodeOptions::new(version_from_int(version)?)
                    .with_max_packet_size(max_packet_size),
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
    fn set_version(&mut self, version: u8) -> PyResult<()> {
        self.inner.set_version(version_from_int(version)?);
        Ok(())
    }

    /// Changes the maximum packet size (0: no limit).
    fn set_max_packet_size(&mut self, max_packet_size: u32) {
        self.inner.set_max_packet_size(max_packet_size);
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
