//! The MQTT 3.1.1 and 5.0 codec (and MQTT 3.1: see [`ProtocolVersion::V31`]):
//! every control packet, property and reason code, with strict validation
//! and zero-copy decoding.
//!
//! # Two representations
//!
//! * [`Packet`] owns its data: strings are [`MqttString`]s and binary fields
//!   [`bytes::Bytes`], which share the buffer the packet was decoded from
//!   (no copy of topics or payloads). Lists are `Vec`s.
//! * [`PacketRef`] borrows: strings are [`MqttStr`] (bytes known to be
//!   valid MQTT UTF-8), binary fields `&[u8]`, property sets two-word views
//!   read through accessor methods, and lists views that iterate the
//!   validated wire bytes. Decoding into a `PacketRef` and encoding one into
//!   a `&mut [u8]` use no heap at all; re-encoding a decoded property block
//!   or filter list copies its bytes.
//!
//! There is one parser, which produces `PacketRef`s (an owned packet is a
//! view converted by slicing the input), and one encoder, which writes
//! `PacketRef`s (an owned packet is encoded through
//! [`Packet::as_view`]). Both validate with the same rules.
//!
//! # Decoding
//!
//! * [`Packet::decode`] / [`decode`] take whole packets from a [`Bytes`].
//! * [`Decoder`] accepts input in any chunking, down to one byte at a time,
//!   buffers only what it must, and checks the maximum packet size from the
//!   fixed header before buffering a body.
//! * [`PacketRef::decode`] parses a `&[u8]` without allocating.
//!
//! Every rule the specifications state for a receiver is checked, and
//! every error is an [`Error`] whose [`reason_code`](Error::reason_code) is
//! what to send in CONNACK or DISCONNECT.
//!
//! # Encoding
//!
//! [`Packet::encode`] appends to a [`BytesMut`](bytes::BytesMut) after
//! computing the exact size; [`PacketRef::encode_to_slice`] writes into a
//! caller's slice. Encoding validates too: whatever encodes, decodes back to
//! an equal packet.
//!
//! Topic names and filters are validated once, when they are built or
//! decoded: a PUBLISH topic is a [`TopicName`] / [`TopicNameRef`] and a
//! SUBSCRIBE filter a [`TopicFilter`] / [`TopicFilterRef`], types that
//! cannot hold an invalid one, so the encoder checks only the rules that
//! tie fields together (an empty topic needs a Topic Alias, the packet
//! identifier matches the QoS, ...). A [`Publish`] keeps its properties
//! behind a pointer allocated only when one is set
//! ([`LazyPublishProperties`]), so the owned packet stays small to move.

mod ack;
mod auth;
mod connack;
mod connect;
mod decoder;
mod disconnect;
mod error;
mod fixed_header;
pub(crate) mod packet;
pub(crate) mod property;
mod puback;
mod pubcomp;
mod publish;
mod pubrec;
mod pubrel;
mod reason_code;
mod string;
mod suback;
mod subscribe;
#[cfg(test)]
pub(crate) mod testing;
mod topic_types;
mod unsuback;
mod unsubscribe;
mod user_property;
mod version;
pub(crate) mod wire;

pub use ack::{AckProperties, AckPropertiesRef};
pub use auth::{Auth, AuthProperties, AuthPropertiesRef, AuthRef};
pub use connack::*;
pub use connect::*;
pub use decoder::Decoder;
pub use disconnect::{Disconnect, DisconnectProperties, DisconnectPropertiesRef, DisconnectRef};
pub use error::Error;
pub use fixed_header::{FixedHeader, PacketType, MAX_REMAINING_LENGTH};
pub use packet::{DecodeOptions, Packet, PacketRef, MAX_PACKET_SIZE};
pub use property::{PropertyId, PropertyType, PropertyValue, PropertyWriter, SubscriptionIdsRef};
pub use puback::{PubAck, PubAckRef};
pub use pubcomp::{PubComp, PubCompRef};
pub use publish::{
    LazyPublishProperties, Publish, PublishProperties, PublishPropertiesRef, PublishRef,
};
pub use pubrec::{PubRec, PubRecRef};
pub use pubrel::{PubRel, PubRelRef};
pub use reason_code::ReasonCode;
pub use string::{MqttStr, MqttString};
pub use suback::*;
pub use subscribe::*;
pub use topic_types::{TopicFilter, TopicFilterRef, TopicName, TopicNameRef};
pub use unsuback::*;
pub use unsubscribe::*;
pub use user_property::{UserPropertiesIter, UserPropertiesRef, UserProperty};
pub use version::{is_valid_v31_client_id, ProtocolVersion, QoS, V31_MAX_CLIENT_ID_CHARS};
pub use wire::MAX_VARIABLE_INTEGER;

use bytes::Bytes;

/// Decodes one whole packet from the front of `buf`, advancing it; `None`
/// if `buf` holds only part of one. Same as [`Packet::decode`].
pub fn decode(buf: &mut Bytes, options: &DecodeOptions) -> Result<Option<Packet>, Error> {
    Packet::decode(buf, options)
}
