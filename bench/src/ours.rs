//! libmqtt's own codec (`mqtt-core`, lib `mqtt_core`), three adapters.
//!
//! | bench ID suffix  | adapter          | decode row                          | encode row                              |
//! |------------------|------------------|-------------------------------------|-----------------------------------------|
//! | `libmqtt`        | [`Libmqtt`]      | `Packet::decode(&mut Bytes, ..)`    | `Packet::encode(.., &mut BytesMut)`     |
//! | `libmqtt-ref`    | [`LibmqttRef`]   | `PacketRef::decode(&[u8], ..)`      | — (same encoder as `libmqtt`)           |
//! | `libmqtt-slice`  | [`LibmqttSlice`] | — (same decoder as `libmqtt-ref`)   | `PacketRef::encode_to_slice(&mut [u8])` |
//!
//! Every adapter still builds, encodes and decodes every case it supports, so
//! all three take part in the outside-timing cross-check of `cargo test`; the
//! rows they skip are controlled by [`Codec::BENCH_DECODE`] /
//! [`Codec::BENCH_ENCODE`].
//!
//! # Protocol version
//!
//! Our decoder is told the connection's protocol version (a 3.1.1 and a 5.0
//! PUBLISH differ on the wire only by the property block, which the bytes alone
//! do not reveal), and `Codec::make_input` only sees the bytes. So, like the
//! rumqttc and mqtt-protocol-core adapters, each adapter exists once per
//! version ([`V311`] / [`V5`] type parameter) under the same `NAME`; `build`
//! returns `None` for the other version's cases.
//!
//! # Fairness choices
//!
//! * **Owned decode** ([`Libmqtt`]): `Packet::decode` advances the `Bytes` it
//!   is given. Instead of preparing a fresh input per iteration outside timing
//!   (`FRESH_INPUT_PER_DECODE`, as for rumqttc's `BytesMut`), each timed decode
//!   starts with `let mut b = input.clone()`: cloning an Arc-backed `Bytes` is
//!   one atomic increment (plus the decrement when `b` drops), and that is a
//!   cost every real caller pays too (they own a `Bytes` sliced from their
//!   read buffer). The input is made Arc-backed once in `make_input`, as a
//!   `Bytes` split off a socket `BytesMut` would be, so no iteration pays the
//!   one-time promotion of a `Vec`-backed `Bytes`. The decoded topic, payload
//!   and property strings are `Bytes` slices of that input (refcount
//!   increments, no copy), dropped inside timing like every peer's output.
//! * **Borrowed decode** ([`LibmqttRef`]): zero-copy into `PacketRef<'_>`, no
//!   allocation, from a `Vec<u8>` that persists across iterations — the same
//!   treatment as mqttrs' `decode_slice`.
//! * **Owned encode** ([`Libmqtt`]): into a reused `BytesMut` reserved once
//!   (8 KiB), cleared by each encode, like rumqttc. It includes
//!   `Packet::as_view()` (our owned packet is encoded through its view) and
//!   the validation the encoder performs: the rules that tie fields
//!   together (DUP with QoS 0, packet identifier against QoS, an empty
//!   topic only with a Topic Alias, the payload format, properties only in
//!   5.0, sizes; for SUBSCRIBE: a packet identifier, at least one filter,
//!   the options each version can carry, no No Local on a shared
//!   subscription).
//! * **Where topic names and filters are validated**: when the packet is
//!   built (`Publish::new` → `TopicName`, `SubscribeFilter::new` →
//!   `TopicFilter`, or `TopicNameRef::new` / `TopicFilterRef::new` for the
//!   borrowed ones) or decoded, never skipped: the types cannot hold an
//!   invalid one, so the encoder does not scan them again. That is outside
//!   the timed encode, as it is for the peers that validate: mqtt-protocol
//!   checks in `TopicName::new` / `TopicFilter::new` (and stores the
//!   remaining length in the packet when it is built), mqtt-protocol-core
//!   in its builders; rumqttc's and mqttrs' encoders write the topic as
//!   given, without checking it at all. On decode every implementation's
//!   row includes its own topic checks (ours: UTF-8, U+0000, wildcards).
//! * **Slice encode** ([`LibmqttSlice`]): a `PacketRef<'static>` built once
//!   from borrowed data (the fixtures' `&'static str`s plus buffers leaked once
//!   per build, as the mqttrs adapter does; property views borrow a leaked
//!   owned property struct, the only non-wire form a property view takes),
//!   encoded into a fixed 8 KiB `&mut [u8]` — the same treatment as mqttrs'
//!   `encode_slice`.
//! * Decoders get the same limit as the peers that take one
//!   ([`fx::MAX_DECODE`]); payload-format validation stays at its default
//!   (on), which costs nothing here as no fixture sets the indicator.

use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use mqtt_core::codec::{
    Connect, ConnectProperties, ConnectRef, DecodeOptions, MqttStr, MqttString, Packet, PacketRef,
    ProtocolVersion, Publish, PublishProperties, PublishPropertiesRef, PublishRef, QoS, Subscribe,
    SubscribeFilter, SubscribeFilterRef, SubscribeFiltersRef, SubscribePropertiesRef, SubscribeRef,
    SubscriptionOptions, TopicFilterRef, TopicNameRef, UserPropertiesRef, UserProperty, Will,
    WillProperties, WillRef,
};

use crate::fixtures::{self as fx, Case, Version};
use crate::{Codec, ConnectSummary, Summary};

// ------------------------------------------------------------ versions

/// Protocol version an adapter instance speaks.
pub trait Proto: 'static {
    const VERSION: Version;
    const PROTOCOL: ProtocolVersion;
}

/// MQTT 3.1.1 marker.
pub struct V311;
/// MQTT 5.0 marker.
pub struct V5;

impl Proto for V311 {
    const VERSION: Version = Version::V311;
    const PROTOCOL: ProtocolVersion = ProtocolVersion::V311;
}
impl Proto for V5 {
    const VERSION: Version = Version::V5;
    const PROTOCOL: ProtocolVersion = ProtocolVersion::V5;
}

fn options<P: Proto>() -> DecodeOptions {
    DecodeOptions::new(P::PROTOCOL).with_max_packet_size(fx::MAX_DECODE as u32)
}

fn qos1() -> SubscriptionOptions {
    SubscriptionOptions::new(QoS::AtLeastOnce)
}

// ------------------------------------------------------------ building

/// User properties of the `publish_props_v5` case.
fn publish_props() -> PublishProperties {
    let mut props = PublishProperties::default();
    props.user_properties = fx::USER_PROPS
        .iter()
        .map(|(k, v)| UserProperty::new(k, v).expect("user property"))
        .collect();
    props
}

fn will_props() -> WillProperties {
    let mut props = WillProperties::default();
    props.will_delay_interval = Some(fx::WILL_DELAY);
    props.message_expiry_interval = Some(fx::WILL_EXPIRY);
    props.content_type =
        Some(MqttString::from_static(fx::WILL_CONTENT_TYPE).expect("content type"));
    props
}

fn connect_props() -> ConnectProperties {
    let mut props = ConnectProperties::default();
    props.session_expiry_interval = Some(fx::SESSION_EXPIRY);
    props.receive_maximum = Some(fx::RECEIVE_MAX);
    props.maximum_packet_size = Some(fx::MAX_PACKET_SIZE);
    props.topic_alias_maximum = Some(fx::TOPIC_ALIAS_MAX);
    props.user_properties =
        vec![
            UserProperty::new(fx::CONNECT_USER_PROP.0, fx::CONNECT_USER_PROP.1)
                .expect("user property"),
        ];
    props
}

fn will_qos() -> QoS {
    QoS::from_u8(fx::WILL_QOS).expect("will qos")
}

/// The owned packet for `case`, exactly as in `fixtures.rs`.
fn build_owned(case: Case) -> Packet {
    match case {
        Case::PublishSmall(_) | Case::Publish4k(_) | Case::PublishPropsV5 => {
            let mut p = Publish::new(fx::TOPIC, fx::payload(case.payload_len()))
                .expect("topic")
                .with_qos(QoS::AtLeastOnce, fx::PACKET_ID);
            if case == Case::PublishPropsV5 {
                p.properties = publish_props().into();
            }
            Packet::Publish(p)
        }
        Case::Subscribe10(_) => Packet::Subscribe(Subscribe::new(
            fx::PACKET_ID,
            fx::subscribe_filters()
                .iter()
                .map(|f| SubscribeFilter::new(f, qos1()).expect("filter"))
                .collect(),
        )),
        Case::ConnectV5 => {
            let mut will =
                Will::new(fx::WILL_TOPIC, fx::payload(fx::WILL_PAYLOAD), will_qos()).expect("will");
            will.properties = will_props();
            let mut c = Connect::new(ProtocolVersion::V5, fx::CLIENT_ID)
                .expect("client id")
                .with_clean_start(true)
                .with_keep_alive(fx::KEEP_ALIVE)
                .with_will(will)
                .with_username(fx::USERNAME)
                .expect("username")
                .with_password(Bytes::from_static(fx::PASSWORD.as_bytes()));
            c.properties = connect_props();
            Packet::from(c)
        }
    }
}

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

fn leak_slice<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

fn mqtt_str(s: &'static str) -> MqttStr<'static> {
    MqttStr::new(s).expect("string")
}

/// The same packet as a borrowed `PacketRef<'static>`, built without an
/// owned packet: fixture constants plus data leaked once per build. (A
/// property view borrows either a decoded wire block or an owned property
/// struct; here it is the latter, leaked.)
fn build_ref(case: Case) -> PacketRef<'static> {
    match case {
        Case::PublishSmall(_) | Case::Publish4k(_) | Case::PublishPropsV5 => {
            let properties = if case == Case::PublishPropsV5 {
                leak(publish_props()).as_view()
            } else {
                PublishPropertiesRef::default()
            };
            PacketRef::Publish(PublishRef {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: TopicNameRef::new(fx::TOPIC).expect("topic"),
                packet_id: fx::PACKET_ID,
                properties,
                payload: leak_slice(fx::payload(case.payload_len())),
            })
        }
        Case::Subscribe10(_) => {
            let filters: Vec<SubscribeFilterRef<'static>> = fx::subscribe_filters()
                .into_iter()
                .map(|f| {
                    let f = TopicFilterRef::new(Box::leak(f.into_boxed_str())).expect("filter");
                    SubscribeFilterRef::new(f, qos1())
                })
                .collect();
            PacketRef::Subscribe(SubscribeRef {
                packet_id: fx::PACKET_ID,
                properties: SubscribePropertiesRef::default(),
                filters: SubscribeFiltersRef::from_refs(leak_slice(filters)),
            })
        }
        Case::ConnectV5 => PacketRef::Connect(ConnectRef {
            protocol_version: ProtocolVersion::V5,
            clean_start: true,
            keep_alive: fx::KEEP_ALIVE,
            client_id: mqtt_str(fx::CLIENT_ID),
            will: Some(WillRef {
                topic: mqtt_str(fx::WILL_TOPIC),
                payload: leak_slice(fx::payload(fx::WILL_PAYLOAD)),
                qos: will_qos(),
                retain: false,
                properties: leak(will_props()).as_view(),
            }),
            username: Some(mqtt_str(fx::USERNAME)),
            password: Some(fx::PASSWORD.as_bytes()),
            properties: leak(connect_props()).as_view(),
        }),
    }
}

// ------------------------------------------------------------ summaries

fn string(s: MqttStr<'_>) -> String {
    s.as_str().to_owned()
}

fn pairs(props: UserPropertiesRef<'_>) -> Vec<(String, String)> {
    props.iter().map(|(k, v)| (string(k), string(v))).collect()
}

/// Summary of a borrowed packet. Owned packets are summarized through
/// `Packet::as_view()`, a field-by-field borrow of the owned fields (so the
/// owned strings/payloads are what gets checked).
fn summarize_ref(p: &PacketRef<'_>) -> Summary {
    match p {
        PacketRef::Publish(p) => Summary::Publish {
            topic: string(p.topic.as_mqtt_str()),
            qos: p.qos.as_u8(),
            pkid: p.packet_id,
            payload: p.payload.to_vec(),
            user_props: pairs(p.properties.user_properties()),
        },
        PacketRef::Subscribe(s) => Summary::Subscribe {
            pkid: s.packet_id,
            filters: s
                .filters
                .iter()
                .map(|f| (string(f.filter.as_mqtt_str()), f.options.qos.as_u8()))
                .collect(),
        },
        PacketRef::Connect(c) => {
            let will = c.will.as_ref();
            let wp = will.map(|w| w.properties);
            Summary::Connect(ConnectSummary {
                client_id: string(c.client_id),
                clean_start: c.clean_start,
                keep_alive: c.keep_alive,
                username: c.username.map(string),
                password: c.password.map(<[u8]>::to_vec),
                will_topic: will.map(|w| string(w.topic)),
                will_payload: will.map(|w| w.payload.to_vec()),
                will_qos: will.map_or(0, |w| w.qos.as_u8()),
                will_delay: wp.and_then(|w| w.will_delay_interval()),
                will_expiry: wp.and_then(|w| w.message_expiry_interval()),
                will_content_type: wp.and_then(|w| w.content_type()).map(string),
                session_expiry: c.properties.session_expiry_interval(),
                receive_max: c.properties.receive_maximum(),
                max_packet_size: c.properties.maximum_packet_size(),
                topic_alias_max: c.properties.topic_alias_maximum(),
                user_props: pairs(c.properties.user_properties()),
            })
        }
        other => panic!("unexpected {other:?}"),
    }
}

// ------------------------------------------------------------ adapters

/// libmqtt, owned: `Packet::decode` from a `Bytes`, `Packet::encode` into a
/// reused `BytesMut`.
pub struct Libmqtt<P>(PhantomData<P>);
/// libmqtt, borrowed decode: `PacketRef::decode` from a `&[u8]` (no heap).
/// Its encode (used only by the cross-check) is `Libmqtt`'s.
pub struct LibmqttRef<P>(PhantomData<P>);
/// libmqtt, slice encode: a borrowed `PacketRef` written into a fixed
/// `&mut [u8]` by `encode_to_slice` (no heap). Its decode (used only by the
/// cross-check) is `LibmqttRef`'s.
pub struct LibmqttSlice<P>(PhantomData<P>);

pub type LibmqttV311 = Libmqtt<V311>;
pub type LibmqttV5 = Libmqtt<V5>;
pub type LibmqttRefV311 = LibmqttRef<V311>;
pub type LibmqttRefV5 = LibmqttRef<V5>;
pub type LibmqttSliceV311 = LibmqttSlice<V311>;
pub type LibmqttSliceV5 = LibmqttSlice<V5>;

/// `Packet::encode` into a cleared `BytesMut` (shared by the owned adapters).
#[inline]
fn encode_owned<P: Proto>(pkt: &Packet, buf: &mut BytesMut) -> usize {
    buf.clear();
    pkt.encode(P::PROTOCOL, buf).expect("libmqtt encode")
}

/// `PacketRef::decode` of one whole packet (shared by the borrowed adapters).
#[inline]
fn decode_ref<'a>(input: &'a (Vec<u8>, DecodeOptions)) -> PacketRef<'a> {
    PacketRef::decode(&input.0, &input.1)
        .expect("libmqtt decode")
        .expect("libmqtt: incomplete")
        .0
}

fn supports<P: Proto>(case: Case) -> bool {
    case.version() == P::VERSION
}

impl<P: Proto> Codec for Libmqtt<P> {
    const NAME: &'static str = "libmqtt";
    type Packet = Packet;
    type EncBuf = BytesMut;
    type Input = (Bytes, DecodeOptions);
    type Decoded<'a> = Packet;
    // The decode clones the (Arc-backed) input instead; see the module docs.
    const FRESH_INPUT_PER_DECODE: bool = false;

    fn build(case: Case) -> Option<Packet> {
        supports::<P>(case).then(|| build_owned(case))
    }

    fn new_enc_buf(capacity: usize) -> BytesMut {
        BytesMut::with_capacity(capacity)
    }

    #[inline]
    fn encode(pkt: &Packet, buf: &mut BytesMut) -> usize {
        encode_owned::<P>(pkt, buf)
    }

    fn encoded(buf: &BytesMut, len: usize) -> &[u8] {
        &buf[..len]
    }

    fn make_input(wire: &[u8]) -> (Bytes, DecodeOptions) {
        let input = Bytes::copy_from_slice(wire);
        // A `Bytes` made from a `Vec` is promoted to a shared (Arc) buffer on
        // its first clone; do that here, outside timing, so every timed clone
        // is a plain refcount increment (as for a `Bytes` frozen off a read
        // buffer).
        drop(input.clone());
        (input, options::<P>())
    }

    #[inline]
    fn decode(input: &mut (Bytes, DecodeOptions)) -> Packet {
        let mut b = input.0.clone();
        Packet::decode(&mut b, &input.1)
            .expect("libmqtt decode")
            .expect("libmqtt: incomplete")
    }

    fn summarize(d: &Packet) -> Summary {
        summarize_ref(&d.as_view())
    }
}

impl<P: Proto> Codec for LibmqttRef<P> {
    const NAME: &'static str = "libmqtt-ref";
    type Packet = Packet;
    type EncBuf = BytesMut;
    type Input = (Vec<u8>, DecodeOptions);
    type Decoded<'a> = PacketRef<'a>;
    const BENCH_ENCODE: bool = false;

    fn build(case: Case) -> Option<Packet> {
        supports::<P>(case).then(|| build_owned(case))
    }

    fn new_enc_buf(capacity: usize) -> BytesMut {
        BytesMut::with_capacity(capacity)
    }

    #[inline]
    fn encode(pkt: &Packet, buf: &mut BytesMut) -> usize {
        encode_owned::<P>(pkt, buf)
    }

    fn encoded(buf: &BytesMut, len: usize) -> &[u8] {
        &buf[..len]
    }

    fn make_input(wire: &[u8]) -> (Vec<u8>, DecodeOptions) {
        (wire.to_vec(), options::<P>())
    }

    #[inline]
    fn decode(input: &mut (Vec<u8>, DecodeOptions)) -> PacketRef<'_> {
        decode_ref(input)
    }

    fn summarize(d: &PacketRef<'_>) -> Summary {
        summarize_ref(d)
    }
}

impl<P: Proto> Codec for LibmqttSlice<P> {
    const NAME: &'static str = "libmqtt-slice";
    type Packet = PacketRef<'static>;
    type EncBuf = Vec<u8>;
    type Input = (Vec<u8>, DecodeOptions);
    type Decoded<'a> = PacketRef<'a>;
    const BENCH_DECODE: bool = false;

    fn build(case: Case) -> Option<PacketRef<'static>> {
        supports::<P>(case).then(|| build_ref(case))
    }

    fn new_enc_buf(capacity: usize) -> Vec<u8> {
        vec![0u8; capacity]
    }

    #[inline]
    fn encode(pkt: &PacketRef<'static>, buf: &mut Vec<u8>) -> usize {
        pkt.encode_to_slice(P::PROTOCOL, buf.as_mut_slice())
            .expect("libmqtt encode_to_slice")
    }

    fn encoded(buf: &Vec<u8>, len: usize) -> &[u8] {
        &buf[..len]
    }

    fn make_input(wire: &[u8]) -> (Vec<u8>, DecodeOptions) {
        (wire.to_vec(), options::<P>())
    }

    #[inline]
    fn decode(input: &mut (Vec<u8>, DecodeOptions)) -> PacketRef<'_> {
        decode_ref(input)
    }

    fn summarize(d: &PacketRef<'_>) -> Summary {
        summarize_ref(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire_of;

    fn decode_shares_input<P: Proto>(case: Case) {
        let wire = wire_of::<Libmqtt<P>>(case).unwrap();
        let mut input = Libmqtt::<P>::make_input(&wire);
        let Packet::Publish(p) = Libmqtt::<P>::decode(&mut input) else {
            panic!("not a PUBLISH")
        };
        // The adapter's input is left untouched (the decode advanced a clone).
        assert_eq!(input.0.len(), wire.len());
        let range = input.0.as_ptr_range();
        assert!(range.contains(&p.payload.as_ptr()));
        assert!(range.contains(&p.topic.as_bytes().as_ptr()));
    }

    /// The owned decode is zero-copy: topic and payload share the input.
    #[test]
    fn owned_decode_shares_the_input() {
        decode_shares_input::<V311>(Case::PublishSmall(Version::V311));
        decode_shares_input::<V5>(Case::Publish4k(Version::V5));
        decode_shares_input::<V5>(Case::PublishPropsV5);
    }

    /// The borrowed `PacketRef` built for `libmqtt-slice` and the owned packet
    /// encode to the same bytes in every case (CONNECT included, whose wire
    /// form is otherwise only checked to be cross-decodable).
    #[test]
    fn owned_and_borrowed_builds_encode_identically() {
        for case in Case::ALL {
            let (a, b) = match case.version() {
                Version::V311 => (
                    wire_of::<LibmqttV311>(case),
                    wire_of::<LibmqttSliceV311>(case),
                ),
                Version::V5 => (wire_of::<LibmqttV5>(case), wire_of::<LibmqttSliceV5>(case)),
            };
            assert_eq!(a.unwrap(), b.unwrap(), "{}", case.name());
        }
    }
}
