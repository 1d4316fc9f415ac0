//! `mqtt-protocol-core` 0.7 (lib `mqtt_protocol_core`): MQTT 3.1.1 and 5.0.
//!
//! The crate's codec is split in two stages, both public and both used by its own
//! `Connection::recv`:
//!
//! 1. `connection::PacketBuilder::feed(&mut Cursor<&[u8]>)` frames one packet and
//!    copies its body into an owned `Vec<u8>` (an `Arc<[u8]>` for PUBLISH);
//! 2. the per-type `parse` (`v5_0::Publish::parse(flags, Arc<[u8]>)`,
//!    `v5_0::Subscribe::parse(&[u8])`, ...) builds the packet.
//!
//! The decode bench runs both stages plus a dispatch on the packet type (as the
//! other peers' enum decoders do), reusing one `PacketBuilder`.
//!
//! Its packets keep their wire fragments pre-serialized (the builder does the
//! serialization work), so "encode" is `to_buffers()` (a `Vec<IoSlice>` gather
//! list, allocated per call) copied into a reused, pre-reserved `Vec<u8>`. That is
//! the cheapest way this crate offers to put a packet into a caller's buffer;
//! `to_continuous_buffer()` allocates a fresh `Vec` per call instead.

use mqtt_protocol_core::mqtt::common::Cursor;
use mqtt_protocol_core::mqtt::connection::{
    PacketBuildResult, PacketBuilder, PacketData, RawPacket,
};
use mqtt_protocol_core::mqtt::packet::{
    v3_1_1, v5_0, ContentType, MaximumPacketSize, MessageExpiryInterval, Properties, Property, Qos,
    ReceiveMaximum, SessionExpiryInterval, SubEntry, SubOpts, TopicAliasMaximum, UserProperty,
    WillDelayInterval,
};

use crate::fixtures::{self as fx, Case, Version};
use crate::{Codec, ConnectSummary, Summary};

const PUBLISH: u8 = 3;
const CONNECT: u8 = 1;
const SUBSCRIBE: u8 = 8;

/// Decode input: the peer's own wire bytes plus a reused frame builder.
pub struct Input {
    wire: Vec<u8>,
    builder: PacketBuilder,
}

fn frame(input: &mut Input) -> RawPacket {
    let mut cursor = Cursor::new(input.wire.as_slice());
    match input.builder.feed(&mut cursor) {
        PacketBuildResult::Complete(raw) => raw,
        other => panic!("mqtt-protocol-core framing: {other:?}"),
    }
}

fn publish_arc(raw: &RawPacket) -> mqtt_protocol_core::mqtt::Arc<[u8]> {
    match &raw.data {
        PacketData::Publish(arc) => arc.clone(),
        PacketData::Normal(_) => unreachable!("PUBLISH is framed into an Arc"),
    }
}

fn user_props(props: &Properties) -> Vec<(String, String)> {
    props
        .iter()
        .filter_map(|p| match p {
            Property::UserProperty(u) => Some((u.key().to_owned(), u.val().to_owned())),
            _ => None,
        })
        .collect()
}

fn sub_entries() -> Vec<SubEntry> {
    fx::subscribe_filters()
        .into_iter()
        .map(|f| SubEntry::new(f, SubOpts::new().set_qos(Qos::AtLeastOnce)).unwrap())
        .collect()
}

fn new_input(wire: &[u8]) -> Input {
    Input {
        wire: wire.to_vec(),
        builder: PacketBuilder::new(),
    }
}

#[inline]
fn encode_gather(bufs: Vec<std::io::IoSlice<'_>>, out: &mut Vec<u8>) -> usize {
    out.clear();
    for s in &bufs {
        out.extend_from_slice(s);
    }
    out.len()
}

// ---------------------------------------------------------------- 3.1.1

/// mqtt-protocol-core, MQTT 3.1.1.
pub struct MpcV311;

pub enum Packet311 {
    Publish(v3_1_1::Publish),
    Subscribe(v3_1_1::Subscribe),
}

impl Codec for MpcV311 {
    const NAME: &'static str = "mqtt-protocol-core";
    type Packet = Packet311;
    type EncBuf = Vec<u8>;
    type Input = Input;
    type Decoded<'a> = Packet311;

    fn build(case: Case) -> Option<Packet311> {
        if case.version() != Version::V311 {
            return None;
        }
        match case {
            Case::PublishSmall(_) | Case::Publish4k(_) => Some(Packet311::Publish(
                v3_1_1::Publish::builder()
                    .topic_name(fx::TOPIC)
                    .unwrap()
                    .qos(Qos::AtLeastOnce)
                    .packet_id(fx::PACKET_ID)
                    .payload(fx::payload(case.payload_len()))
                    .build()
                    .unwrap(),
            )),
            Case::Subscribe10(_) => Some(Packet311::Subscribe(
                v3_1_1::Subscribe::builder()
                    .packet_id(fx::PACKET_ID)
                    .entries(sub_entries())
                    .build()
                    .unwrap(),
            )),
            _ => None,
        }
    }

    fn new_enc_buf(capacity: usize) -> Vec<u8> {
        Vec::with_capacity(capacity)
    }

    #[inline]
    fn encode(pkt: &Packet311, buf: &mut Vec<u8>) -> usize {
        match pkt {
            Packet311::Publish(p) => encode_gather(p.to_buffers(), buf),
            Packet311::Subscribe(s) => encode_gather(s.to_buffers(), buf),
        }
    }

    fn encoded(buf: &Vec<u8>, len: usize) -> &[u8] {
        &buf[..len]
    }

    fn make_input(wire: &[u8]) -> Input {
        new_input(wire)
    }

    #[inline]
    fn decode(input: &mut Input) -> Packet311 {
        let raw = frame(input);
        match raw.packet_type() {
            PUBLISH => Packet311::Publish(
                v3_1_1::Publish::parse(raw.flags(), publish_arc(&raw))
                    .expect("mpc 3.1.1 publish")
                    .0,
            ),
            SUBSCRIBE => Packet311::Subscribe(
                raw.parse_exact(v3_1_1::Subscribe::parse)
                    .expect("mpc 3.1.1 subscribe"),
            ),
            t => panic!("unexpected packet type {t}"),
        }
    }

    fn summarize(d: &Packet311) -> Summary {
        match d {
            Packet311::Publish(p) => Summary::Publish {
                topic: p.topic_name().to_owned(),
                qos: p.qos() as u8,
                pkid: p.packet_id().unwrap_or(0),
                payload: p.payload().as_slice().to_vec(),
                user_props: Vec::new(),
            },
            Packet311::Subscribe(s) => Summary::Subscribe {
                pkid: s.packet_id(),
                filters: s
                    .entries()
                    .iter()
                    .map(|e| (e.topic_filter().to_owned(), e.sub_opts().qos() as u8))
                    .collect(),
            },
        }
    }
}

// ---------------------------------------------------------------- 5.0

/// mqtt-protocol-core, MQTT 5.0.
pub struct MpcV5;

pub enum Packet5 {
    Publish(v5_0::Publish),
    Subscribe(v5_0::Subscribe),
    Connect(Box<v5_0::Connect>),
}

impl Codec for MpcV5 {
    const NAME: &'static str = "mqtt-protocol-core";
    type Packet = Packet5;
    type EncBuf = Vec<u8>;
    type Input = Input;
    type Decoded<'a> = Packet5;

    fn build(case: Case) -> Option<Packet5> {
        if case.version() != Version::V5 {
            return None;
        }
        Some(match case {
            Case::PublishSmall(_) | Case::Publish4k(_) | Case::PublishPropsV5 => {
                let mut b = v5_0::Publish::builder()
                    .topic_name(fx::TOPIC)
                    .unwrap()
                    .qos(Qos::AtLeastOnce)
                    .packet_id(fx::PACKET_ID)
                    .payload(fx::payload(case.payload_len()));
                if case == Case::PublishPropsV5 {
                    let props: Properties = fx::USER_PROPS
                        .iter()
                        .map(|(k, v)| Property::UserProperty(UserProperty::new(*k, *v).unwrap()))
                        .collect();
                    b = b.props(props);
                }
                Packet5::Publish(b.build().unwrap())
            }
            Case::Subscribe10(_) => Packet5::Subscribe(
                v5_0::Subscribe::builder()
                    .packet_id(fx::PACKET_ID)
                    .entries(sub_entries())
                    .build()
                    .unwrap(),
            ),
            Case::ConnectV5 => {
                // Same property order as rumqttc writes them, so the bytes match.
                let props: Properties = vec![
                    Property::SessionExpiryInterval(
                        SessionExpiryInterval::new(fx::SESSION_EXPIRY).unwrap(),
                    ),
                    Property::ReceiveMaximum(ReceiveMaximum::new(fx::RECEIVE_MAX).unwrap()),
                    Property::MaximumPacketSize(
                        MaximumPacketSize::new(fx::MAX_PACKET_SIZE).unwrap(),
                    ),
                    Property::TopicAliasMaximum(
                        TopicAliasMaximum::new(fx::TOPIC_ALIAS_MAX).unwrap(),
                    ),
                    Property::UserProperty(
                        UserProperty::new(fx::CONNECT_USER_PROP.0, fx::CONNECT_USER_PROP.1)
                            .unwrap(),
                    ),
                ];
                let will_props: Properties = vec![
                    Property::WillDelayInterval(WillDelayInterval::new(fx::WILL_DELAY).unwrap()),
                    Property::MessageExpiryInterval(
                        MessageExpiryInterval::new(fx::WILL_EXPIRY).unwrap(),
                    ),
                    Property::ContentType(ContentType::new(fx::WILL_CONTENT_TYPE).unwrap()),
                ];
                let c = v5_0::Connect::builder()
                    .client_id(fx::CLIENT_ID)
                    .unwrap()
                    .clean_start(true)
                    .keep_alive(fx::KEEP_ALIVE)
                    .will_message(
                        fx::WILL_TOPIC,
                        fx::payload(fx::WILL_PAYLOAD),
                        Qos::AtLeastOnce,
                        false,
                    )
                    .unwrap()
                    .user_name(fx::USERNAME)
                    .unwrap()
                    .password(fx::PASSWORD)
                    .unwrap()
                    .props(props)
                    .will_props(will_props)
                    .build()
                    .unwrap();
                Packet5::Connect(Box::new(c))
            }
        })
    }

    fn new_enc_buf(capacity: usize) -> Vec<u8> {
        Vec::with_capacity(capacity)
    }

    #[inline]
    fn encode(pkt: &Packet5, buf: &mut Vec<u8>) -> usize {
        match pkt {
            Packet5::Publish(p) => encode_gather(p.to_buffers(), buf),
            Packet5::Subscribe(s) => encode_gather(s.to_buffers(), buf),
            Packet5::Connect(c) => encode_gather(c.to_buffers(), buf),
        }
    }

    fn encoded(buf: &Vec<u8>, len: usize) -> &[u8] {
        &buf[..len]
    }

    fn make_input(wire: &[u8]) -> Input {
        new_input(wire)
    }

    #[inline]
    fn decode(input: &mut Input) -> Packet5 {
        let raw = frame(input);
        match raw.packet_type() {
            PUBLISH => Packet5::Publish(
                v5_0::Publish::parse(raw.flags(), publish_arc(&raw))
                    .expect("mpc 5.0 publish")
                    .0,
            ),
            SUBSCRIBE => Packet5::Subscribe(
                raw.parse_exact(v5_0::Subscribe::parse)
                    .expect("mpc 5.0 subscribe"),
            ),
            CONNECT => Packet5::Connect(Box::new(
                raw.parse_exact(v5_0::Connect::parse)
                    .expect("mpc 5.0 connect"),
            )),
            t => panic!("unexpected packet type {t}"),
        }
    }

    fn summarize(d: &Packet5) -> Summary {
        match d {
            Packet5::Publish(p) => Summary::Publish {
                topic: p.topic_name().to_owned(),
                qos: p.qos() as u8,
                pkid: p.packet_id().unwrap_or(0),
                payload: p.payload().as_slice().to_vec(),
                user_props: user_props(p.props()),
            },
            Packet5::Subscribe(s) => Summary::Subscribe {
                pkid: s.packet_id(),
                filters: s
                    .entries()
                    .iter()
                    .map(|e| (e.topic_filter().to_owned(), e.sub_opts().qos() as u8))
                    .collect(),
            },
            Packet5::Connect(c) => {
                let mut s = ConnectSummary {
                    client_id: c.client_id().to_owned(),
                    clean_start: c.clean_start(),
                    keep_alive: c.keep_alive(),
                    username: c.user_name().map(str::to_owned),
                    password: c.password().map(<[u8]>::to_vec),
                    will_topic: c.will_topic().map(str::to_owned),
                    will_payload: c.will_payload().map(<[u8]>::to_vec),
                    will_qos: if c.will_flag() { c.will_qos() as u8 } else { 0 },
                    user_props: user_props(c.props()),
                    ..Default::default()
                };
                for p in c.props() {
                    match p {
                        Property::SessionExpiryInterval(v) => s.session_expiry = Some(v.val()),
                        Property::ReceiveMaximum(v) => s.receive_max = Some(v.val()),
                        Property::MaximumPacketSize(v) => s.max_packet_size = Some(v.val()),
                        Property::TopicAliasMaximum(v) => s.topic_alias_max = Some(v.val()),
                        _ => {}
                    }
                }
                for p in c.will_props() {
                    match p {
                        Property::WillDelayInterval(v) => s.will_delay = Some(v.val()),
                        Property::MessageExpiryInterval(v) => s.will_expiry = Some(v.val()),
                        Property::ContentType(v) => s.will_content_type = Some(v.val().to_owned()),
                        _ => {}
                    }
                }
                Summary::Connect(s)
            }
        }
    }
}
