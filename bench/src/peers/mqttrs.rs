//! `mqttrs` 0.4: MQTT 3.1.1 only (no 5.0 support, so no properties / CONNECT 5.0).
//!
//! Zero-copy: `decode_slice(&[u8]) -> Packet<'_>` borrows topic and payload from
//! the input (SUBSCRIBE filters are copied into `String`s). Encoding writes into a
//! caller-provided `&mut [u8]` (`encode_slice`), so the "cleared" reusable buffer
//! here is a fixed 8 KiB slice that each iteration overwrites.

use mqttrs::{Packet, Pid, Publish, QoS, QosPid, Subscribe, SubscribeTopic};

use crate::fixtures::{self as fx, Case, Version};
use crate::{Codec, Summary};

pub struct Mqttrs;

fn qos(q: QoS) -> u8 {
    match q {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

impl Codec for Mqttrs {
    const NAME: &'static str = "mqttrs";
    /// Borrowed fields point at data leaked once per build (benchmark lifetime).
    type Packet = Packet<'static>;
    type EncBuf = Vec<u8>;
    type Input = Vec<u8>;
    type Decoded<'a> = Packet<'a>;

    fn build(case: Case) -> Option<Packet<'static>> {
        if case.version() != Version::V311 {
            return None;
        }
        let pid = Pid::try_from(fx::PACKET_ID).unwrap();
        match case {
            Case::PublishSmall(_) | Case::Publish4k(_) => {
                let payload: &'static [u8] =
                    Box::leak(fx::payload(case.payload_len()).into_boxed_slice());
                Some(Packet::Publish(Publish {
                    dup: false,
                    qospid: QosPid::AtLeastOnce(pid),
                    retain: false,
                    topic_name: fx::TOPIC,
                    payload,
                }))
            }
            Case::Subscribe10(_) => {
                let topics = fx::subscribe_filters()
                    .into_iter()
                    .map(|topic_path| SubscribeTopic {
                        topic_path,
                        qos: QoS::AtLeastOnce,
                    })
                    .collect();
                Some(Packet::Subscribe(Subscribe::new(pid, topics)))
            }
            _ => None,
        }
    }

    fn new_enc_buf(capacity: usize) -> Vec<u8> {
        vec![0u8; capacity]
    }

    #[inline]
    fn encode(pkt: &Packet<'static>, buf: &mut Vec<u8>) -> usize {
        mqttrs::encode_slice(pkt, buf.as_mut_slice()).expect("mqttrs encode")
    }

    fn encoded(buf: &Vec<u8>, len: usize) -> &[u8] {
        &buf[..len]
    }

    fn make_input(wire: &[u8]) -> Vec<u8> {
        wire.to_vec()
    }

    #[inline]
    fn decode(input: &mut Vec<u8>) -> Packet<'_> {
        mqttrs::decode_slice(input)
            .expect("mqttrs decode")
            .expect("mqttrs: incomplete")
    }

    fn summarize(d: &Packet<'_>) -> Summary {
        match d {
            Packet::Publish(p) => Summary::Publish {
                topic: p.topic_name.to_owned(),
                qos: qos(p.qospid.qos()),
                pkid: p.qospid.pid().map_or(0, |p| p.get()),
                payload: p.payload.to_vec(),
                user_props: Vec::new(),
            },
            Packet::Subscribe(s) => Summary::Subscribe {
                pkid: s.pid.get(),
                filters: s
                    .topics
                    .iter()
                    .map(|t| (t.topic_path.clone(), qos(t.qos)))
                    .collect(),
            },
            other => panic!("unexpected {other:?}"),
        }
    }
}
