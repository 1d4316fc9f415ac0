//! [`SessionState`]: a client session as plain data, for persistence.
//!
//! The byte form ([`SessionState::to_bytes`]) is a short header and a list
//! of records, most of them MQTT 5.0 packets encoded by our own codec, so
//! it needs no second serializer and any MQTT tool can read its parts:
//!
//! ```text
//! "LMQS" 0x01                       magic and format version
//! { tag: u8, length: u32 BE, body } records, in order
//! 0xFF 0x00000000                   end record: bytes cut at a record
//!                                   boundary are refused, not read short
//! ```

use alloc::vec::Vec;

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{
    DecodeOptions, Error, MqttString, Packet, PacketRef, ProtocolVersion, Publish, Subscribe,
    SubscribeFilter, Unsubscribe,
};

/// A topic filter the client holds, with its options and Subscription
/// Identifier (5.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The filter and its options.
    pub filter: SubscribeFilter,
    /// The Subscription Identifier it was made with.
    pub subscription_identifier: Option<u32>,
}

/// An outbound command of a saved session, in the order it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoredOutgoing {
    /// A publish not sent yet.
    Publish(Publish),
    /// A QoS 1 or 2 publish sent and not acknowledged (resent with DUP).
    PublishSent(Publish),
    /// A QoS 2 publish the server received (PUBREC): only PUBREL is left.
    Released(u16),
    /// A SUBSCRIBE not acknowledged.
    Subscribe(Subscribe),
    /// An UNSUBSCRIBE not acknowledged.
    Unsubscribe(Unsubscribe),
}

/// A QoS 2 message received and not released by the server yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredQos2 {
    /// Its packet identifier.
    pub packet_id: u16,
    /// The application had acknowledged it (PUBREC was or may be sent).
    pub released_by_app: bool,
}

/// A client session as plain data: from
/// [`Client::export_session`](super::Client::export_session), for
/// [`Client::import_session`](super::Client::import_session).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SessionState {
    /// The client identifier (the server's assigned one, if it gave one).
    pub client_id: MqttString,
    /// A connection was accepted before (so a 5.0 client resumes with
    /// Clean Start 0).
    pub connected_before: bool,
    /// Commands in flight then queued, in order.
    pub outgoing: Vec<StoredOutgoing>,
    /// QoS 2 messages received and not released.
    pub inbound_qos2: Vec<StoredQos2>,
    /// The subscriptions held.
    pub subscriptions: Vec<Subscription>,
}

const MAGIC: &[u8; 5] = b"LMQS\x01";
const TAG_CLIENT_ID: u8 = 1;
const TAG_CONNECTED_BEFORE: u8 = 2;
const TAG_PUBLISH: u8 = 3;
const TAG_PUBLISH_SENT: u8 = 4;
const TAG_RELEASED: u8 = 5;
const TAG_SUBSCRIBE: u8 = 6;
const TAG_UNSUBSCRIBE: u8 = 7;
const TAG_QOS2: u8 = 8;
const TAG_SUBSCRIPTION: u8 = 9;
const TAG_END: u8 = 0xFF;

const V5: ProtocolVersion = ProtocolVersion::V5;

fn record(out: &mut BytesMut, tag: u8, body: &[u8]) {
    out.put_u8(tag);
    out.put_u32(body.len() as u32);
    out.put_slice(body);
}

fn packet_record(out: &mut BytesMut, tag: u8, packet: PacketRef<'_>) -> Result<(), Error> {
    let mut body = BytesMut::new();
    packet.encode(V5, &mut body)?;
    record(out, tag, &body);
    Ok(())
}

impl SessionState {
    /// The session as bytes (see the module docs for the format).
    pub fn to_bytes(&self) -> Result<Bytes, Error> {
        let mut out = BytesMut::new();
        out.put_slice(MAGIC);
        record(&mut out, TAG_CLIENT_ID, self.client_id.as_bytes());
        record(
            &mut out,
            TAG_CONNECTED_BEFORE,
            &[u8::from(self.connected_before)],
        );
        for o in &self.outgoing {
            match o {
                StoredOutgoing::Publish(p) => {
                    packet_record(&mut out, TAG_PUBLISH, PacketRef::Publish(p.as_view()))?
                }
                StoredOutgoing::PublishSent(p) => {
                    packet_record(&mut out, TAG_PUBLISH_SENT, PacketRef::Publish(p.as_view()))?
                }
                StoredOutgoing::Released(id) => record(&mut out, TAG_RELEASED, &id.to_be_bytes()),
                StoredOutgoing::Subscribe(s) => {
                    packet_record(&mut out, TAG_SUBSCRIBE, PacketRef::Subscribe(s.as_view()))?
                }
                StoredOutgoing::Unsubscribe(u) => packet_record(
                    &mut out,
                    TAG_UNSUBSCRIBE,
                    PacketRef::Unsubscribe(u.as_view()),
                )?,
            }
        }
        for q in &self.inbound_qos2 {
            let [a, b] = q.packet_id.to_be_bytes();
            record(&mut out, TAG_QOS2, &[a, b, u8::from(q.released_by_app)]);
        }
        for s in &self.subscriptions {
            let mut sub = Subscribe::new(1, alloc::vec![s.filter.clone()]);
            sub.properties.subscription_identifier = s.subscription_identifier;
            packet_record(
                &mut out,
                TAG_SUBSCRIPTION,
                PacketRef::Subscribe(sub.as_view()),
            )?;
        }
        record(&mut out, TAG_END, &[]);
        Ok(out.freeze())
    }

    /// Reads bytes written by [`to_bytes`](Self::to_bytes). Anything else
    /// gives [`Error::Truncated`], [`Error::TrailingBytes`] or the codec's
    /// error for a damaged packet; never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<SessionState, Error> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(Error::InvalidProtocolName)?;
        let src = Bytes::copy_from_slice(rest);
        let mut pos = 0usize;
        let mut state = SessionState::default();
        let mut ended = false;
        while pos < src.len() {
            if ended {
                return Err(Error::TrailingBytes);
            }
            if src.len() - pos < 5 {
                return Err(Error::Truncated);
            }
            let tag = src[pos];
            let len = u32::from_be_bytes([src[pos + 1], src[pos + 2], src[pos + 3], src[pos + 4]])
                as usize;
            pos += 5;
            if src.len() - pos < len {
                return Err(Error::Truncated);
            }
            let body = src.slice(pos..pos + len);
            pos += len;
            let packet = || -> Result<Packet, Error> {
                let mut b = body.clone();
                let p = Packet::decode(&mut b, &DecodeOptions::new(V5))?.ok_or(Error::Truncated)?;
                if !b.is_empty() {
                    return Err(Error::TrailingBytes);
                }
                Ok(p)
            };
            match tag {
                TAG_CLIENT_ID => state.client_id = MqttString::from_bytes(body.clone())?,
                TAG_CONNECTED_BEFORE => state.connected_before = body.first() == Some(&1),
                TAG_PUBLISH | TAG_PUBLISH_SENT => match packet()? {
                    Packet::Publish(p) if tag == TAG_PUBLISH => {
                        state.outgoing.push(StoredOutgoing::Publish(p))
                    }
                    Packet::Publish(p) => state.outgoing.push(StoredOutgoing::PublishSent(p)),
                    _ => return Err(Error::InvalidPacketType(tag)),
                },
                TAG_RELEASED if body.len() == 2 => {
                    state
                        .outgoing
                        .push(StoredOutgoing::Released(u16::from_be_bytes([
                            body[0], body[1],
                        ])))
                }
                TAG_SUBSCRIBE => match packet()? {
                    Packet::Subscribe(s) => state.outgoing.push(StoredOutgoing::Subscribe(s)),
                    _ => return Err(Error::InvalidPacketType(tag)),
                },
                TAG_UNSUBSCRIBE => match packet()? {
                    Packet::Unsubscribe(u) => state.outgoing.push(StoredOutgoing::Unsubscribe(u)),
                    _ => return Err(Error::InvalidPacketType(tag)),
                },
                TAG_QOS2 if body.len() == 3 => state.inbound_qos2.push(StoredQos2 {
                    packet_id: u16::from_be_bytes([body[0], body[1]]),
                    released_by_app: body[2] == 1,
                }),
                TAG_SUBSCRIPTION => match packet()? {
                    Packet::Subscribe(mut s) if s.filters.len() == 1 => {
                        state.subscriptions.push(Subscription {
                            filter: s.filters.remove(0),
                            subscription_identifier: s.properties.subscription_identifier,
                        })
                    }
                    _ => return Err(Error::InvalidPacketType(tag)),
                },
                TAG_END if body.is_empty() => ended = true,
                _ => return Err(Error::InvalidPacketType(tag)),
            }
        }
        if !ended {
            return Err(Error::Truncated);
        }
        Ok(state)
    }
}
