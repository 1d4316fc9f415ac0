//! `mqtt-protocol` 0.12 (lib name `mqtt`): MQTT 3.1.1 only (no 5.0 support).
//!
//! Decoding reads through `std::io::Read` (`VariablePacket::decode(&mut &[u8])`)
//! into owned packets (topic `String`, payload `Vec<u8>`); encoding writes
//! through `std::io::Write` into a reused, pre-reserved `Vec<u8>`. Both use the
//! `VariablePacket` enum, the crate's type-dispatching entry point.

use mqtt::packet::publish::QoSWithPacketIdentifier;
use mqtt::packet::{PublishPacket, SubscribePacket, VariablePacket};
use mqtt::{Decodable, Encodable, QualityOfService, TopicFilter, TopicName};

use crate::fixtures::{self as fx, Case, Version};
use crate::{Codec, Summary};

pub struct MqttProtocol;

impl Codec for MqttProtocol {
    const NAME: &'static str = "mqtt-protocol";
    type Packet = VariablePacket;
    type EncBuf = Vec<u8>;
    type Input = Vec<u8>;
    type Decoded<'a> = VariablePacket;

    fn build(case: Case) -> Option<VariablePacket> {
        if case.version() != Version::V311 {
            return None;
        }
        match case {
            Case::PublishSmall(_) | Case::Publish4k(_) => Some(
                PublishPacket::new(
                    TopicName::new(fx::TOPIC).unwrap(),
                    QoSWithPacketIdentifier::Level1(fx::PACKET_ID),
                    fx::payload(case.payload_len()),
                )
                .into(),
            ),
            Case::Subscribe10(_) => {
                let subs = fx::subscribe_filters()
                    .into_iter()
                    .map(|f| (TopicFilter::new(f).unwrap(), QualityOfService::Level1))
                    .collect();
                Some(SubscribePacket::new(fx::PACKET_ID, subs).into())
            }
            _ => None,
        }
    }

    fn new_enc_buf(capacity: usize) -> Vec<u8> {
        Vec::with_capacity(capacity)
    }

    #[inline]
    fn encode(pkt: &VariablePacket, buf: &mut Vec<u8>) -> usize {
        buf.clear();
        pkt.encode(buf).expect("mqtt-protocol encode");
        buf.len()
    }

    fn encoded(buf: &Vec<u8>, len: usize) -> &[u8] {
        &buf[..len]
    }

    fn make_input(wire: &[u8]) -> Vec<u8> {
        wire.to_vec()
    }

    #[inline]
    fn decode(input: &mut Vec<u8>) -> VariablePacket {
        let mut reader: &[u8] = input;
        VariablePacket::decode(&mut reader).expect("mqtt-protocol decode")
    }

    fn summarize(d: &VariablePacket) -> Summary {
        match d {
            VariablePacket::PublishPacket(p) => {
                let (qos, pkid) = p.qos().split();
                Summary::Publish {
                    topic: p.topic_name().to_owned(),
                    qos: qos as u8,
                    pkid: pkid.unwrap_or(0),
                    payload: p.payload().to_vec(),
                    user_props: Vec::new(),
                }
            }
            VariablePacket::SubscribePacket(s) => Summary::Subscribe {
                pkid: s.packet_identifier(),
                filters: s
                    .subscribes()
                    .iter()
                    .map(|(f, q)| ((**f).to_owned(), *q as u8))
                    .collect(),
            },
            other => panic!("unexpected {other:?}"),
        }
    }
}
