//! `rumqttc` 0.25: the sans-IO codec modules `rumqttc::mqttbytes::v4` (3.1.1) and
//! `rumqttc::v5::mqttbytes::v5` (5.0), both public.
//!
//! Decode goes through `Packet::read(&mut BytesMut, max)`, which *consumes* the
//! frame from the buffer (`split_to`), so every decode needs a fresh `BytesMut`
//! (prepared outside timing, see `Codec::FRESH_INPUT_PER_DECODE`). Encode goes
//! through `Packet::write(&mut BytesMut, max)`, the entry point rumqttc's own
//! event loop uses.

use bytes::BytesMut;
use rumqttc::mqttbytes::{v4, QoS as QoS4};
use rumqttc::v5::mqttbytes::{v5, QoS as QoS5};

use crate::fixtures::{self as fx, Case, Version};
use crate::{Codec, ConnectSummary, Summary};

fn qos4(q: QoS4) -> u8 {
    q as u8
}
fn qos5(q: QoS5) -> u8 {
    q as u8
}

/// rumqttc, MQTT 3.1.1.
pub struct RumqttcV4;

impl Codec for RumqttcV4 {
    const NAME: &'static str = "rumqttc";
    type Packet = v4::Packet;
    type EncBuf = BytesMut;
    type Input = BytesMut;
    type Decoded<'a> = v4::Packet;
    const FRESH_INPUT_PER_DECODE: bool = true;

    fn build(case: Case) -> Option<v4::Packet> {
        if case.version() != Version::V311 {
            return None;
        }
        match case {
            Case::PublishSmall(_) | Case::Publish4k(_) => {
                let mut p = v4::Publish::new(
                    fx::TOPIC,
                    QoS4::AtLeastOnce,
                    fx::payload(case.payload_len()),
                );
                p.pkid = fx::PACKET_ID;
                Some(v4::Packet::Publish(p))
            }
            Case::Subscribe10(_) => {
                let mut s = v4::Subscribe::new_many(
                    fx::subscribe_filters()
                        .into_iter()
                        .map(|f| v4::SubscribeFilter::new(f, QoS4::AtLeastOnce)),
                );
                s.pkid = fx::PACKET_ID;
                Some(v4::Packet::Subscribe(s))
            }
            _ => None,
        }
    }

    fn new_enc_buf(capacity: usize) -> BytesMut {
        BytesMut::with_capacity(capacity)
    }

    #[inline]
    fn encode(pkt: &v4::Packet, buf: &mut BytesMut) -> usize {
        buf.clear();
        pkt.write(buf, fx::MAX_DECODE).expect("rumqttc v4 encode")
    }

    fn encoded(buf: &BytesMut, len: usize) -> &[u8] {
        &buf[..len]
    }

    fn make_input(wire: &[u8]) -> BytesMut {
        BytesMut::from(wire)
    }

    #[inline]
    fn decode(input: &mut BytesMut) -> v4::Packet {
        v4::Packet::read(input, fx::MAX_DECODE).expect("rumqttc v4 decode")
    }

    fn summarize(d: &v4::Packet) -> Summary {
        match d {
            v4::Packet::Publish(p) => Summary::Publish {
                topic: p.topic.clone(),
                qos: qos4(p.qos),
                pkid: p.pkid,
                payload: p.payload.to_vec(),
                user_props: Vec::new(),
            },
            v4::Packet::Subscribe(s) => Summary::Subscribe {
                pkid: s.pkid,
                filters: s
                    .filters
                    .iter()
                    .map(|f| (f.path.clone(), qos4(f.qos)))
                    .collect(),
            },
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// rumqttc, MQTT 5.0.
pub struct RumqttcV5;

impl Codec for RumqttcV5 {
    const NAME: &'static str = "rumqttc";
    type Packet = v5::Packet;
    type EncBuf = BytesMut;
    type Input = BytesMut;
    type Decoded<'a> = v5::Packet;
    const FRESH_INPUT_PER_DECODE: bool = true;

    fn build(case: Case) -> Option<v5::Packet> {
        if case.version() != Version::V5 {
            return None;
        }
        Some(match case {
            Case::PublishSmall(_) | Case::Publish4k(_) | Case::PublishPropsV5 => {
                let props = (case == Case::PublishPropsV5).then(|| v5::PublishProperties {
                    user_properties: fx::USER_PROPS
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..Default::default()
                });
                let mut p = v5::Publish::new(
                    fx::TOPIC,
                    QoS5::AtLeastOnce,
                    fx::payload(case.payload_len()),
                    props,
                );
                p.pkid = fx::PACKET_ID;
                v5::Packet::Publish(p)
            }
            Case::Subscribe10(_) => {
                let mut s = v5::Subscribe::new_many(
                    fx::subscribe_filters()
                        .into_iter()
                        .map(|f| v5::Filter::new(f, QoS5::AtLeastOnce)),
                    None,
                );
                s.pkid = fx::PACKET_ID;
                v5::Packet::Subscribe(s)
            }
            Case::ConnectV5 => {
                let mut props = v5::ConnectProperties::new();
                props.session_expiry_interval = Some(fx::SESSION_EXPIRY);
                props.receive_maximum = Some(fx::RECEIVE_MAX);
                props.max_packet_size = Some(fx::MAX_PACKET_SIZE);
                props.topic_alias_max = Some(fx::TOPIC_ALIAS_MAX);
                props.user_properties = vec![(
                    fx::CONNECT_USER_PROP.0.into(),
                    fx::CONNECT_USER_PROP.1.into(),
                )];
                let connect = v5::Connect {
                    keep_alive: fx::KEEP_ALIVE,
                    client_id: fx::CLIENT_ID.into(),
                    clean_start: true,
                    properties: Some(props),
                };
                let will = v5::LastWill::new(
                    fx::WILL_TOPIC,
                    fx::payload(fx::WILL_PAYLOAD),
                    QoS5::AtLeastOnce,
                    false,
                    Some(v5::LastWillProperties {
                        delay_interval: Some(fx::WILL_DELAY),
                        payload_format_indicator: None,
                        message_expiry_interval: Some(fx::WILL_EXPIRY),
                        content_type: Some(fx::WILL_CONTENT_TYPE.into()),
                        response_topic: None,
                        correlation_data: None,
                        user_properties: Vec::new(),
                    }),
                );
                let login = v5::Login::new(fx::USERNAME, fx::PASSWORD);
                v5::Packet::Connect(connect, Some(will), Some(login))
            }
        })
    }

    fn new_enc_buf(capacity: usize) -> BytesMut {
        BytesMut::with_capacity(capacity)
    }

    #[inline]
    fn encode(pkt: &v5::Packet, buf: &mut BytesMut) -> usize {
        buf.clear();
        pkt.write(buf, Some(fx::MAX_DECODE as u32))
            .expect("rumqttc v5 encode")
    }

    fn encoded(buf: &BytesMut, len: usize) -> &[u8] {
        &buf[..len]
    }

    fn make_input(wire: &[u8]) -> BytesMut {
        BytesMut::from(wire)
    }

    #[inline]
    fn decode(input: &mut BytesMut) -> v5::Packet {
        v5::Packet::read(input, Some(fx::MAX_DECODE as u32)).expect("rumqttc v5 decode")
    }

    fn summarize(d: &v5::Packet) -> Summary {
        match d {
            v5::Packet::Publish(p) => Summary::Publish {
                topic: String::from_utf8(p.topic.to_vec()).unwrap(),
                qos: qos5(p.qos),
                pkid: p.pkid,
                payload: p.payload.to_vec(),
                user_props: p
                    .properties
                    .as_ref()
                    .map(|pp| pp.user_properties.clone())
                    .unwrap_or_default(),
            },
            v5::Packet::Subscribe(s) => Summary::Subscribe {
                pkid: s.pkid,
                filters: s
                    .filters
                    .iter()
                    .map(|f| (f.path.clone(), qos5(f.qos)))
                    .collect(),
            },
            v5::Packet::Connect(c, will, login) => {
                let p = c
                    .properties
                    .clone()
                    .unwrap_or_else(v5::ConnectProperties::new);
                let wp = will.as_ref().and_then(|w| w.properties.clone());
                Summary::Connect(ConnectSummary {
                    client_id: c.client_id.clone(),
                    clean_start: c.clean_start,
                    keep_alive: c.keep_alive,
                    username: login.as_ref().map(|l| l.username.clone()),
                    password: login.as_ref().map(|l| l.password.as_bytes().to_vec()),
                    will_topic: will
                        .as_ref()
                        .map(|w| String::from_utf8(w.topic.to_vec()).unwrap()),
                    will_payload: will.as_ref().map(|w| w.message.to_vec()),
                    will_qos: will.as_ref().map_or(0, |w| qos5(w.qos)),
                    will_delay: wp.as_ref().and_then(|w| w.delay_interval),
                    will_expiry: wp.as_ref().and_then(|w| w.message_expiry_interval),
                    will_content_type: wp.as_ref().and_then(|w| w.content_type.clone()),
                    session_expiry: p.session_expiry_interval,
                    receive_max: p.receive_maximum,
                    max_packet_size: p.max_packet_size,
                    topic_alias_max: p.topic_alias_max,
                    user_props: p.user_properties,
                })
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
