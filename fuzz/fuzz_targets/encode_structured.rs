//! The encoder on arbitrary *structured* packets: every one of the fifteen
//! packet types, for either version, built field by field from the fuzzer's
//! bytes, invalid values included (U+0000 and wildcards in strings, packet
//! identifier 0, QoS 0 with an identifier, properties in 3.1.1, reason codes
//! the packet does not allow, zero property values, fields over 65,535
//! bytes, empty filter and reason-code lists, a 3.1.1 password without a
//! user name, ...).
//!
//! Strings that hold U+0000 cannot become an `MqttString`, so packets are
//! first generated as a plain model of `&str`/`&[u8]` fields. The model is
//! always encoded through a `PacketRef` built directly from it (the
//! borrowed representations: pairs, filter refs, `&str` lists, code
//! slices); when every string is a valid `MqttString` it is also built as an
//! owned `Packet` (via `MqttString::from_str` or `from_bytes`) and encoded
//! through `Packet`'s own methods, which must agree with the view.
//!
//! The contract checked for each:
//! - encoding never panics; `encoded_len` and `encode` agree (same length,
//!   or the same error), `encode` appends without touching what the buffer
//!   held, and on error writes nothing;
//! - `encode_to_slice` into exactly `encoded_len` bytes gives the same
//!   bytes, into one byte less `BufferTooSmall`, and on a validation error
//!   reports that error (whatever the room) and writes nothing;
//! - an error is one a local caller can cause, never one that only a
//!   peer's bytes can (`Truncated`, `TrailingBytes`, a malformed variable
//!   integer, `UnknownProperty`), nor `BufferTooSmall` from a growable
//!   buffer;
//! - what encodes, decodes (CONNECT by its own protocol level): as exactly
//!   one packet of exactly those bytes (even with more bytes after it; a
//!   byte less is incomplete, not an error), equal to what was encoded
//!   through both `PacketRef::decode` and `Packet::decode`, and re-encodes
//!   to the same bytes.
#![no_main]

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::arbitrary::{self, Unstructured};
use libfuzzer_sys::fuzz_target;
use mqtt_core::codec::{
    AckProperties, AckPropertiesRef, Auth, AuthProperties, AuthPropertiesRef, AuthRef, ConnAck,
    ConnAckProperties, ConnAckPropertiesRef, ConnAckRef, Connect, ConnectProperties,
    ConnectPropertiesRef, ConnectRef, DecodeOptions, Disconnect, DisconnectProperties,
    DisconnectPropertiesRef, DisconnectRef, Error, MqttString, Packet, PacketRef, ProtocolVersion,
    PubAck, PubAckRef, PubComp, PubCompRef, PubRec, PubRecRef, PubRel, PubRelRef, Publish,
    PublishProperties, PublishPropertiesRef, PublishRef, QoS, ReasonCode, ReasonCodesRef,
    RetainHandling, SubAck, SubAckRef, Subscribe, SubscribeFilter, SubscribeFilterRef,
    SubscribeFiltersRef, SubscribeProperties, SubscribePropertiesRef, SubscribeRef,
    SubscriptionIdsRef, SubscriptionOptions, TopicFiltersRef, UnsubAck, UnsubAckRef, Unsubscribe,
    UnsubscribeProperties, UnsubscribePropertiesRef, UnsubscribeRef, UserPropertiesRef,
    UserProperty, Will, WillProperties, WillPropertiesRef, WillRef, MAX_VARIABLE_INTEGER,
};

type R<T> = arbitrary::Result<T>;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

fn run(u: &mut Unstructured<'_>) -> R<()> {
    let version = if u.arbitrary()? {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    let via = if u.arbitrary()? {
        Via::FromBytes
    } else {
        Via::FromStr
    };
    let mut g = Gen { budget: BIG };
    let model = gen_model(u, &mut g)?;

    let view = model.view();
    let from_view = encode_checked(&view, version);
    if let Ok(bytes) = &from_view {
        decode_checked(&view, bytes, version);
    }

    // The owned path, whenever the strings allow an owned packet.
    if let Some(packet) = model.owned(via) {
        assert_eq!(packet.as_view(), view, "owned packet's view differs from the model's");
        assert_eq!(view.into_owned(), packet, "into_owned differs from the owned packet");
        let from_owned = encode_checked(&packet, version);
        assert_eq!(from_owned, from_view, "owned and borrowed encodings differ for {packet:?}");
        if let Ok(bytes) = &from_owned {
            let opts = DecodeOptions::new(decode_version(&view, version));
            let mut buf = Bytes::copy_from_slice(bytes);
            assert_eq!(Packet::decode(&mut buf, &opts), Ok(Some(packet)));
            assert!(buf.is_empty());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The contract.
// ---------------------------------------------------------------------------

/// Bytes already in the buffer `encode` appends to.
const PREFIX: &[u8] = b"\x5A\xA5\x00";
/// Filler of output slices, to see what was written.
const SENTINEL: u8 = 0xC3;
/// Room for any packet this target builds (the budget of big fields plus
/// what small ones a fuzz input of default size can hold).
const ROOMY: usize = 1 << 17;

/// The three encoding entry points, for `Packet` and `PacketRef` alike.
trait Encode: core::fmt::Debug {
    fn len(&self, v: ProtocolVersion) -> Result<usize, Error>;
    fn encode(&self, v: ProtocolVersion, buf: &mut BytesMut) -> Result<usize, Error>;
    fn to_slice(&self, v: ProtocolVersion, out: &mut [u8]) -> Result<usize, Error>;
}

impl Encode for Packet {
    fn len(&self, v: ProtocolVersion) -> Result<usize, Error> {
        self.encoded_len(v)
    }
    fn encode(&self, v: ProtocolVersion, buf: &mut BytesMut) -> Result<usize, Error> {
        Packet::encode(self, v, buf)
    }
    fn to_slice(&self, v: ProtocolVersion, out: &mut [u8]) -> Result<usize, Error> {
        self.encode_to_slice(v, out)
    }
}

impl Encode for PacketRef<'_> {
    fn len(&self, v: ProtocolVersion) -> Result<usize, Error> {
        self.encoded_len(v)
    }
    fn encode(&self, v: ProtocolVersion, buf: &mut BytesMut) -> Result<usize, Error> {
        PacketRef::encode(self, v, buf)
    }
    fn to_slice(&self, v: ProtocolVersion, out: &mut [u8]) -> Result<usize, Error> {
        self.encode_to_slice(v, out)
    }
}

/// Encodes `p` every way, checks that the ways agree, and returns the bytes
/// or the error.
fn encode_checked<P: Encode>(p: &P, v: ProtocolVersion) -> Result<Vec<u8>, Error> {
    let len = p.len(v);
    let mut buf = BytesMut::from(PREFIX);
    let written = p.encode(v, &mut buf);
    match (len, written) {
        (Ok(len), Ok(n)) => {
            assert_eq!(len, n, "encoded_len and encode disagree for {p:?}");
            assert_eq!(&buf[..PREFIX.len()], PREFIX, "encode changed what the buffer held");
            let bytes = buf[PREFIX.len()..].to_vec();
            assert_eq!(bytes.len(), n, "encode returned {n} but appended {}", bytes.len());
            assert!(n >= 2, "a {n}-byte packet");

            let mut exact = vec![SENTINEL; n];
            assert_eq!(p.to_slice(v, &mut exact), Ok(n), "encode_to_slice into {n} bytes");
            assert!(exact == bytes, "encode_to_slice wrote other bytes than encode");

            let mut roomy = vec![SENTINEL; n + 3];
            assert_eq!(p.to_slice(v, &mut roomy), Ok(n));
            assert!(roomy[..n] == bytes[..] && roomy[n..] == [SENTINEL; 3]);

            let mut short = vec![SENTINEL; n - 1];
            match p.to_slice(v, &mut short) {
                Err(Error::BufferTooSmall { needed, available }) => {
                    assert_eq!((needed, available), (n, n - 1));
                }
                other => panic!("encode_to_slice into {} of {n} bytes gave {other:?}", n - 1),
            }
            Ok(bytes)
        }
        (Err(e), Err(e2)) => {
            assert_eq!(e, e2, "encoded_len and encode fail differently for {p:?}");
            assert_local(e, p);
            assert_eq!(&buf[..], PREFIX, "encode failed with {e:?} but wrote to the buffer");
            // A packet that cannot be encoded is reported as such, whatever
            // the room, and nothing is written.
            assert_eq!(p.to_slice(v, &mut []), Err(e), "encode_to_slice into no room");
            // (Compared with memcmp: a byte loop is slow under coverage.)
            let sentinels = sentinels();
            let mut roomy = sentinels.to_vec();
            assert_eq!(p.to_slice(v, &mut roomy), Err(e), "encode_to_slice into ample room");
            assert!(roomy == sentinels, "encode_to_slice failed with {e:?} but wrote");
            Err(e)
        }
        (len, written) => panic!("encoded_len gave {len:?} but encode {written:?} for {p:?}"),
    }
}

/// `ROOMY` bytes of `SENTINEL`.
fn sentinels() -> &'static [u8] {
    static SENTINELS: OnceLock<Vec<u8>> = OnceLock::new();
    SENTINELS.get_or_init(|| vec![SENTINEL; ROOMY])
}

/// An encoding error must be one the local caller caused: these can only
/// come from a peer's bytes (or, `BufferTooSmall`, from a fixed slice).
fn assert_local(e: Error, p: &dyn core::fmt::Debug) {
    assert!(
        !matches!(
            e,
            Error::Truncated
                | Error::TrailingBytes
                | Error::MalformedRemainingLength
                | Error::MalformedVariableInteger
                | Error::UnknownProperty(_)
                | Error::BufferTooSmall { .. }
        ),
        "encoding failed with {e:?}, an error only a peer's bytes can cause, for {p:?}"
    );
}

/// The version to decode with: CONNECT's own, else the encoding version.
fn decode_version(view: &PacketRef<'_>, v: ProtocolVersion) -> ProtocolVersion {
    match view {
        PacketRef::Connect(c) => c.protocol_version,
        _ => v,
    }
}

/// What encoded as `bytes` decodes back to `view`, both ways.
fn decode_checked(view: &PacketRef<'_>, bytes: &[u8], v: ProtocolVersion) {
    let opts = DecodeOptions::new(decode_version(view, v));
    let n = bytes.len();

    // Bytes after the packet (the start of a PINGREQ) are left alone.
    let mut padded = bytes.to_vec();
    padded.extend_from_slice(&[0xC0, 0x00]);
    let (decoded, used) = match PacketRef::decode(&padded, &opts) {
        Ok(Some(d)) => d,
        other => panic!("{view:?} encoded as {bytes:02X?}, which decodes as {other:?}"),
    };
    assert_eq!(used, n, "the decoder used {used} of the {n} bytes encoded");
    assert_eq!(decoded, *view, "decoded view differs from the encoded one");
    assert_eq!(PacketRef::decode(&bytes[..n - 1], &opts), Ok(None), "a byte short");

    let mut again = BytesMut::new();
    assert_eq!(decoded.encode(v, &mut again), Ok(n));
    assert!(again[..] == *bytes, "the decoded view re-encodes differently");

    let mut buf = Bytes::copy_from_slice(&padded);
    let owned = match Packet::decode(&mut buf, &opts) {
        Ok(Some(p)) => p,
        other => panic!("{view:?} encoded as {bytes:02X?}, which decodes (owned) as {other:?}"),
    };
    assert_eq!(&buf[..], &[0xC0, 0x00], "Packet::decode did not consume exactly the packet");
    assert_eq!(owned, view.into_owned(), "decoded packet differs from the encoded one");
    let mut again = BytesMut::new();
    assert_eq!(owned.encode(v, &mut again), Ok(n));
    assert!(again[..] == *bytes, "the decoded packet re-encodes differently");

    // CONNECT is decoded by its own protocol level, whatever the options say.
    if let PacketRef::Connect(c) = view {
        let other = match c.protocol_version {
            ProtocolVersion::V5 => ProtocolVersion::V311,
            ProtocolVersion::V311 => ProtocolVersion::V5,
        };
        assert_eq!(
            PacketRef::decode(bytes, &DecodeOptions::new(other)),
            Ok(Some((decoded, n))),
            "CONNECT decoded differently with the other version's options"
        );
    }
}

// ---------------------------------------------------------------------------
// The model: packets with plain borrowed fields, so that any string can be
// represented, and both a `PacketRef` and (if valid strings) a `Packet`
// built from it.
// ---------------------------------------------------------------------------

/// Every property any packet defines; each packet fills only its own.
#[derive(Debug, Default)]
struct Props<'a> {
    payload_format_indicator: Option<bool>,
    request_problem_information: Option<bool>,
    request_response_information: Option<bool>,
    retain_available: Option<bool>,
    wildcard_subscription_available: Option<bool>,
    subscription_identifiers_available: Option<bool>,
    shared_subscription_available: Option<bool>,
    maximum_qos: Option<QoS>,
    receive_maximum: Option<u16>,
    topic_alias_maximum: Option<u16>,
    topic_alias: Option<u16>,
    server_keep_alive: Option<u16>,
    session_expiry_interval: Option<u32>,
    maximum_packet_size: Option<u32>,
    message_expiry_interval: Option<u32>,
    will_delay_interval: Option<u32>,
    subscription_identifier: Option<u32>,
    subscription_identifiers: Vec<u32>,
    content_type: Option<&'a str>,
    response_topic: Option<&'a str>,
    assigned_client_identifier: Option<&'a str>,
    reason_string: Option<&'a str>,
    response_information: Option<&'a str>,
    server_reference: Option<&'a str>,
    authentication_method: Option<&'a str>,
    correlation_data: Option<&'a [u8]>,
    authentication_data: Option<&'a [u8]>,
    user: Vec<(&'a str, &'a str)>,
}

#[derive(Debug)]
struct MConnect<'a> {
    protocol_version: ProtocolVersion,
    clean_start: bool,
    keep_alive: u16,
    client_id: &'a str,
    will: Option<MWill<'a>>,
    username: Option<&'a str>,
    password: Option<&'a [u8]>,
    props: Props<'a>,
}

#[derive(Debug)]
struct MWill<'a> {
    topic: &'a str,
    payload: &'a [u8],
    qos: QoS,
    retain: bool,
    props: Props<'a>,
}

#[derive(Debug)]
struct MPublish<'a> {
    dup: bool,
    qos: QoS,
    retain: bool,
    topic: &'a str,
    packet_id: u16,
    props: Props<'a>,
    payload: &'a [u8],
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP, and (without `codes`/`filters`) the
/// reason code of CONNACK, DISCONNECT and AUTH.
#[derive(Debug)]
struct MAck<'a> {
    packet_id: u16,
    reason_code: ReasonCode,
    session_present: bool,
    props: Props<'a>,
}

#[derive(Debug)]
struct MCodes<'a> {
    packet_id: u16,
    props: Props<'a>,
    codes: Vec<ReasonCode>,
}

#[derive(Debug)]
struct MSubscribe<'a> {
    packet_id: u16,
    props: Props<'a>,
    filters: Vec<SubscribeFilterRef<'a>>,
}

#[derive(Debug)]
struct MUnsubscribe<'a> {
    packet_id: u16,
    props: Props<'a>,
    filters: Vec<&'a str>,
}

#[derive(Debug)]
enum Model<'a> {
    Connect(MConnect<'a>),
    ConnAck(MAck<'a>),
    Publish(MPublish<'a>),
    PubAck(MAck<'a>),
    PubRec(MAck<'a>),
    PubRel(MAck<'a>),
    PubComp(MAck<'a>),
    Subscribe(MSubscribe<'a>),
    SubAck(MCodes<'a>),
    Unsubscribe(MUnsubscribe<'a>),
    UnsubAck(MCodes<'a>),
    PingReq,
    PingResp,
    Disconnect(MAck<'a>),
    Auth(MAck<'a>),
}

/// How owned strings are made.
#[derive(Debug, Clone, Copy)]
enum Via {
    FromStr,
    FromBytes,
}

/// An `MqttString`, or `None` if `s` cannot be one (it holds U+0000).
fn mqtt_string(s: &str, via: Via) -> Option<MqttString> {
    let made = match via {
        Via::FromStr => MqttString::from_str(s),
        Via::FromBytes => MqttString::from_bytes(Bytes::copy_from_slice(s.as_bytes())),
    };
    match made {
        Ok(m) => {
            assert_eq!(m.as_str(), s);
            Some(m)
        }
        Err(e) => {
            assert_eq!(e, Error::NullCharacter, "MqttString refused {s:?}");
            assert!(s.contains('\0'), "MqttString refused {s:?} without U+0000");
            None
        }
    }
}

fn owned_string(s: Option<&str>, via: Via) -> Option<Option<MqttString>> {
    match s {
        None => Some(None),
        Some(s) => mqtt_string(s, via).map(Some),
    }
}

fn owned_users(pairs: &[(&str, &str)], via: Via) -> Option<Vec<UserProperty>> {
    pairs
        .iter()
        .map(|&(k, v)| {
            Some(UserProperty {
                key: mqtt_string(k, via)?,
                value: mqtt_string(v, via)?,
            })
        })
        .collect()
}

/// A model property field as the owned struct's field.
trait Own {
    type Out;
    fn own(self, via: Via) -> Option<Self::Out>;
}

macro_rules! own_copy {
    ($($t:ty),*) => {$(
        impl Own for Option<$t> {
            type Out = Option<$t>;
            fn own(self, _: Via) -> Option<Self> {
                Some(self)
            }
        }
    )*};
}
own_copy!(bool, u16, u32, QoS);

impl Own for Option<&str> {
    type Out = Option<MqttString>;
    fn own(self, via: Via) -> Option<Self::Out> {
        owned_string(self, via)
    }
}

impl Own for Option<&[u8]> {
    type Out = Option<Bytes>;
    fn own(self, _: Via) -> Option<Self::Out> {
        Some(self.map(Bytes::copy_from_slice))
    }
}

/// For one property set: its generator, its view and its owned form, from
/// one list of the fields it has (`$gen` is each field's value generator).
macro_rules! property_set {
    (
        $gen_fn:ident, $view_fn:ident, $own_fn:ident, $Owned:ident, $Ref:ident,
        [$($field:ident: $gen:ident),*] $(, repeated $sid:ident)?
    ) => {
        fn $gen_fn<'a>(u: &mut Unstructured<'a>, g: &mut Gen) -> R<Props<'a>> {
            let mut p = Props::default();
            // Mostly none at all: 3.1.1 packets must have none.
            if u.ratio(1, 2)? {
                $( if u.ratio(1, 3)? { p.$field = Some($gen(u, g)?); } )*
                $( p.$sid = gen_list(u, g, 3, gen_varint)?; )?
                p.user = gen_list(u, g, 3, gen_pair)?;
            }
            Ok(p)
        }

        fn $view_fn<'b>(p: &'b Props<'_>) -> $Ref<'b> {
            let mut r = $Ref::default();
            $( r.$field = p.$field; )*
            $( r.$sid = SubscriptionIdsRef::from_slice(&p.$sid); )?
            r.user_properties = UserPropertiesRef::from_pairs(&p.user);
            r
        }

        fn $own_fn(p: &Props<'_>, via: Via) -> Option<$Owned> {
            let mut o = $Owned::default();
            $( o.$field = Own::own(p.$field, via)?; )*
            $( o.$sid = p.$sid.clone(); )?
            o.user_properties = owned_users(&p.user, via)?;
            Some(o)
        }
    };
}

property_set!(gen_connect_props, view_connect_props, own_connect_props,
    ConnectProperties, ConnectPropertiesRef, [
    session_expiry_interval: gen_u32,
    receive_maximum: gen_u16,
    maximum_packet_size: gen_u32,
    topic_alias_maximum: gen_u16,
    request_response_information: gen_bool,
    request_problem_information: gen_bool,
    authentication_method: gen_str,
    authentication_data: gen_bin
]);

property_set!(gen_will_props, view_will_props, own_will_props,
    WillProperties, WillPropertiesRef, [
    will_delay_interval: gen_u32,
    payload_format_indicator: gen_bool,
    message_expiry_interval: gen_u32,
    content_type: gen_str,
    response_topic: gen_str,
    correlation_data: gen_bin
]);

property_set!(gen_connack_props, view_connack_props, own_connack_props,
    ConnAckProperties, ConnAckPropertiesRef, [
    session_expiry_interval: gen_u32,
    receive_maximum: gen_u16,
    maximum_qos: gen_qos,
    retain_available: gen_bool,
    maximum_packet_size: gen_u32,
    assigned_client_identifier: gen_str,
    topic_alias_maximum: gen_u16,
    reason_string: gen_str,
    wildcard_subscription_available: gen_bool,
    subscription_identifiers_available: gen_bool,
    shared_subscription_available: gen_bool,
    server_keep_alive: gen_u16,
    response_information: gen_str,
    server_reference: gen_str,
    authentication_method: gen_str,
    authentication_data: gen_bin
]);

property_set!(gen_publish_props, view_publish_props, own_publish_props,
    PublishProperties, PublishPropertiesRef, [
    payload_format_indicator: gen_bool,
    message_expiry_interval: gen_u32,
    topic_alias: gen_u16,
    response_topic: gen_str,
    correlation_data: gen_bin,
    content_type: gen_str
], repeated subscription_identifiers);

property_set!(gen_ack_props, view_ack_props, own_ack_props,
    AckProperties, AckPropertiesRef, [
    reason_string: gen_str
]);

property_set!(gen_subscribe_props, view_subscribe_props, own_subscribe_props,
    SubscribeProperties, SubscribePropertiesRef, [
    subscription_identifier: gen_varint
]);

property_set!(gen_unsubscribe_props, view_unsubscribe_props, own_unsubscribe_props,
    UnsubscribeProperties, UnsubscribePropertiesRef, []);

property_set!(gen_disconnect_props, view_disconnect_props, own_disconnect_props,
    DisconnectProperties, DisconnectPropertiesRef, [
    session_expiry_interval: gen_u32,
    reason_string: gen_str,
    server_reference: gen_str
]);

property_set!(gen_auth_props, view_auth_props, own_auth_props,
    AuthProperties, AuthPropertiesRef, [
    authentication_method: gen_str,
    authentication_data: gen_bin,
    reason_string: gen_str
]);

macro_rules! ack_view {
    ($Variant:ident, $Ref:ident, $a:expr) => {
        PacketRef::$Variant($Ref {
            packet_id: $a.packet_id,
            reason_code: $a.reason_code,
            properties: view_ack_props(&$a.props),
        })
    };
}

macro_rules! ack_owned {
    ($Variant:ident, $Owned:ident, $a:expr, $via:expr) => {
        Packet::$Variant($Owned {
            packet_id: $a.packet_id,
            reason_code: $a.reason_code,
            properties: own_ack_props(&$a.props, $via)?,
        })
    };
}

impl Model<'_> {
    /// The packet as a view over the model's own fields.
    fn view(&self) -> PacketRef<'_> {
        match self {
            Model::Connect(c) => PacketRef::Connect(ConnectRef {
                protocol_version: c.protocol_version,
                clean_start: c.clean_start,
                keep_alive: c.keep_alive,
                client_id: c.client_id,
                will: c.will.as_ref().map(|w| WillRef {
                    topic: w.topic,
                    payload: w.payload,
                    qos: w.qos,
                    retain: w.retain,
                    properties: view_will_props(&w.props),
                }),
                username: c.username,
                password: c.password,
                properties: view_connect_props(&c.props),
            }),
            Model::ConnAck(a) => PacketRef::ConnAck(ConnAckRef {
                session_present: a.session_present,
                reason_code: a.reason_code,
                properties: view_connack_props(&a.props),
            }),
            Model::Publish(p) => PacketRef::Publish(PublishRef {
                dup: p.dup,
                qos: p.qos,
                retain: p.retain,
                topic: p.topic,
                packet_id: p.packet_id,
                properties: view_publish_props(&p.props),
                payload: p.payload,
            }),
            Model::PubAck(a) => ack_view!(PubAck, PubAckRef, a),
            Model::PubRec(a) => ack_view!(PubRec, PubRecRef, a),
            Model::PubRel(a) => ack_view!(PubRel, PubRelRef, a),
            Model::PubComp(a) => ack_view!(PubComp, PubCompRef, a),
            Model::Subscribe(s) => PacketRef::Subscribe(SubscribeRef {
                packet_id: s.packet_id,
                properties: view_subscribe_props(&s.props),
                filters: SubscribeFiltersRef::from_refs(&s.filters),
            }),
            Model::SubAck(a) => PacketRef::SubAck(SubAckRef {
                packet_id: a.packet_id,
                properties: view_ack_props(&a.props),
                reason_codes: ReasonCodesRef::from_slice(&a.codes),
            }),
            Model::Unsubscribe(s) => PacketRef::Unsubscribe(UnsubscribeRef {
                packet_id: s.packet_id,
                properties: view_unsubscribe_props(&s.props),
                filters: TopicFiltersRef::from_strs(&s.filters),
            }),
            Model::UnsubAck(a) => PacketRef::UnsubAck(UnsubAckRef {
                packet_id: a.packet_id,
                properties: view_ack_props(&a.props),
                reason_codes: ReasonCodesRef::from_slice(&a.codes),
            }),
            Model::PingReq => PacketRef::PingReq,
            Model::PingResp => PacketRef::PingResp,
            Model::Disconnect(a) => PacketRef::Disconnect(DisconnectRef {
                reason_code: a.reason_code,
                properties: view_disconnect_props(&a.props),
            }),
            Model::Auth(a) => PacketRef::Auth(AuthRef {
                reason_code: a.reason_code,
                properties: view_auth_props(&a.props),
            }),
        }
    }

    /// The packet as an owned `Packet`, if every string is a valid
    /// `MqttString`.
    fn owned(&self, via: Via) -> Option<Packet> {
        let ms = |s: &str| mqtt_string(s, via);
        Some(match self {
            Model::Connect(c) => Packet::Connect(Connect {
                protocol_version: c.protocol_version,
                clean_start: c.clean_start,
                keep_alive: c.keep_alive,
                client_id: ms(c.client_id)?,
                will: match &c.will {
                    None => None,
                    Some(w) => Some(Will {
                        topic: ms(w.topic)?,
                        payload: Bytes::copy_from_slice(w.payload),
                        qos: w.qos,
                        retain: w.retain,
                        properties: own_will_props(&w.props, via)?,
                    }),
                },
                username: owned_string(c.username, via)?,
                password: c.password.map(Bytes::copy_from_slice),
                properties: own_connect_props(&c.props, via)?,
            }),
            Model::ConnAck(a) => Packet::ConnAck(ConnAck {
                session_present: a.session_present,
                reason_code: a.reason_code,
                properties: own_connack_props(&a.props, via)?,
            }),
            Model::Publish(p) => Packet::Publish(Publish {
                dup: p.dup,
                qos: p.qos,
                retain: p.retain,
                topic: ms(p.topic)?,
                packet_id: p.packet_id,
                properties: own_publish_props(&p.props, via)?,
                payload: Bytes::copy_from_slice(p.payload),
            }),
            Model::PubAck(a) => ack_owned!(PubAck, PubAck, a, via),
            Model::PubRec(a) => ack_owned!(PubRec, PubRec, a, via),
            Model::PubRel(a) => ack_owned!(PubRel, PubRel, a, via),
            Model::PubComp(a) => ack_owned!(PubComp, PubComp, a, via),
            Model::Subscribe(s) => Packet::Subscribe(Subscribe {
                packet_id: s.packet_id,
                properties: own_subscribe_props(&s.props, via)?,
                filters: s
                    .filters
                    .iter()
                    .map(|f| {
                        Some(SubscribeFilter {
                            filter: ms(f.filter)?,
                            options: f.options,
                        })
                    })
                    .collect::<Option<_>>()?,
            }),
            Model::SubAck(a) => Packet::SubAck(SubAck {
                packet_id: a.packet_id,
                properties: own_ack_props(&a.props, via)?,
                reason_codes: a.codes.clone(),
            }),
            Model::Unsubscribe(s) => Packet::Unsubscribe(Unsubscribe {
                packet_id: s.packet_id,
                properties: own_unsubscribe_props(&s.props, via)?,
                filters: s.filters.iter().map(|f| ms(f)).collect::<Option<_>>()?,
            }),
            Model::UnsubAck(a) => Packet::UnsubAck(UnsubAck {
                packet_id: a.packet_id,
                properties: own_ack_props(&a.props, via)?,
                reason_codes: a.codes.clone(),
            }),
            Model::PingReq => Packet::PingReq,
            Model::PingResp => Packet::PingResp,
            Model::Disconnect(a) => Packet::Disconnect(Disconnect {
                reason_code: a.reason_code,
                properties: own_disconnect_props(&a.props, via)?,
            }),
            Model::Auth(a) => Packet::Auth(Auth {
                reason_code: a.reason_code,
                properties: own_auth_props(&a.props, via)?,
            }),
        })
    }
}

// ---------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------

/// Bytes the big fields of one packet may take in all, and the longest
/// one: past the 65,535-byte field limit, well under 70 KB.
const BIG: usize = 68_000;

struct Gen {
    /// What is left of `BIG` for this packet.
    budget: usize,
}

fn gen_model<'a>(u: &mut Unstructured<'a>, g: &mut Gen) -> R<Model<'a>> {
    Ok(match u.int_in_range(1u8..=15)? {
        1 => Model::Connect(MConnect {
            protocol_version: if u.arbitrary()? {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V311
            },
            clean_start: u.arbitrary()?,
            keep_alive: gen_u16(u, g)?,
            client_id: gen_str(u, g)?,
            will: if u.arbitrary()? {
                Some(MWill {
                    topic: gen_str(u, g)?,
                    payload: gen_bin(u, g)?,
                    qos: gen_qos(u, g)?,
                    retain: u.arbitrary()?,
                    props: gen_will_props(u, g)?,
                })
            } else {
                None
            },
            username: gen_opt(u, g, gen_str)?,
            password: gen_opt(u, g, gen_bin)?,
            props: gen_connect_props(u, g)?,
        }),
        2 => Model::ConnAck(gen_ack(u, g, gen_connack_props)?),
        3 => Model::Publish(MPublish {
            dup: u.arbitrary()?,
            qos: gen_qos(u, g)?,
            retain: u.arbitrary()?,
            topic: gen_str(u, g)?,
            packet_id: gen_u16(u, g)?,
            props: gen_publish_props(u, g)?,
            payload: gen_bin(u, g)?,
        }),
        4 => Model::PubAck(gen_ack(u, g, gen_ack_props)?),
        5 => Model::PubRec(gen_ack(u, g, gen_ack_props)?),
        6 => Model::PubRel(gen_ack(u, g, gen_ack_props)?),
        7 => Model::PubComp(gen_ack(u, g, gen_ack_props)?),
        8 => Model::Subscribe(MSubscribe {
            packet_id: gen_u16(u, g)?,
            props: gen_subscribe_props(u, g)?,
            filters: gen_list(u, g, 6, |u, g| {
                Ok(SubscribeFilterRef {
                    filter: gen_str(u, g)?,
                    options: SubscriptionOptions {
                        qos: gen_qos(u, g)?,
                        no_local: u.arbitrary()?,
                        retain_as_published: u.arbitrary()?,
                        retain_handling: match u.int_in_range(0u8..=2)? {
                            0 => RetainHandling::SendAtSubscribe,
                            1 => RetainHandling::SendAtSubscribeIfNew,
                            _ => RetainHandling::DoNotSend,
                        },
                    },
                })
            })?,
        }),
        9 => Model::SubAck(gen_codes(u, g)?),
        10 => Model::Unsubscribe(MUnsubscribe {
            packet_id: gen_u16(u, g)?,
            props: gen_unsubscribe_props(u, g)?,
            filters: gen_list(u, g, 6, gen_str)?,
        }),
        11 => Model::UnsubAck(gen_codes(u, g)?),
        12 => Model::PingReq,
        13 => Model::PingResp,
        14 => Model::Disconnect(gen_ack(u, g, gen_disconnect_props)?),
        _ => Model::Auth(gen_ack(u, g, gen_auth_props)?),
    })
}

fn gen_ack<'a>(
    u: &mut Unstructured<'a>,
    g: &mut Gen,
    props: fn(&mut Unstructured<'a>, &mut Gen) -> R<Props<'a>>,
) -> R<MAck<'a>> {
    Ok(MAck {
        packet_id: gen_u16(u, g)?,
        reason_code: gen_reason_code(u)?,
        session_present: u.arbitrary()?,
        props: props(u, g)?,
    })
}

fn gen_codes<'a>(u: &mut Unstructured<'a>, g: &mut Gen) -> R<MCodes<'a>> {
    Ok(MCodes {
        packet_id: gen_u16(u, g)?,
        props: gen_ack_props(u, g)?,
        codes: gen_list(u, g, 4, |u, _| gen_reason_code(u))?,
    })
}

/// Mostly Success; otherwise any code, allowed in the packet or not.
fn gen_reason_code(u: &mut Unstructured<'_>) -> R<ReasonCode> {
    if u.ratio(1, 3)? {
        return Ok(ReasonCode::Success);
    }
    Ok(*u.choose(ReasonCode::ALL)?)
}

/// Up to `max` items (zero included), now and then up to 40.
fn gen_list<'a, T>(
    u: &mut Unstructured<'a>,
    g: &mut Gen,
    max: usize,
    mut item: impl FnMut(&mut Unstructured<'a>, &mut Gen) -> R<T>,
) -> R<Vec<T>> {
    let max = if u.ratio(1, 16)? { 40 } else { max };
    let n = u.int_in_range(0..=max)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(item(u, g)?);
    }
    Ok(out)
}

fn gen_opt<'a, T>(
    u: &mut Unstructured<'a>,
    g: &mut Gen,
    item: impl FnOnce(&mut Unstructured<'a>, &mut Gen) -> R<T>,
) -> R<Option<T>> {
    Ok(if u.arbitrary()? { Some(item(u, g)?) } else { None })
}

fn gen_bool(u: &mut Unstructured<'_>, _: &mut Gen) -> R<bool> {
    u.arbitrary()
}

fn gen_qos(u: &mut Unstructured<'_>, _: &mut Gen) -> R<QoS> {
    Ok(match u.int_in_range(0u8..=2)? {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    })
}

/// Packet identifiers and two-byte properties: 0 often.
fn gen_u16(u: &mut Unstructured<'_>, _: &mut Gen) -> R<u16> {
    Ok(match u.int_in_range(0u8..=4)? {
        0 => 0,
        1 => 1,
        2 => u16::MAX,
        _ => u.arbitrary()?,
    })
}

fn gen_u32(u: &mut Unstructured<'_>, _: &mut Gen) -> R<u32> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => 0,
        1 => 1,
        2 => u32::MAX,
        3 => MAX_VARIABLE_INTEGER + 1,
        _ => u.arbitrary()?,
    })
}

/// Variable byte integers: 0, the limits of each length, past the last.
fn gen_varint(u: &mut Unstructured<'_>, _: &mut Gen) -> R<u32> {
    const EDGES: &[u32] = &[
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        2_097_151,
        2_097_152,
        MAX_VARIABLE_INTEGER,
        MAX_VARIABLE_INTEGER + 1,
        u32::MAX,
    ];
    if u.ratio(2, 3)? {
        Ok(*u.choose(EDGES)?)
    } else {
        u.arbitrary()
    }
}

/// Topic-ish strings valid and not, names and filters, shared or not, with
/// U+0000, multi-byte characters, non-characters and control characters.
const STRINGS: &[&str] = &[
    "",
    "a",
    "b/c",
    "/",
    "//",
    "a/b/c",
    "$SYS/uptime",
    " ",
    "+",
    "#",
    "a/+",
    "a/#",
    "+/b",
    "+/+/#",
    "a+",
    "a#",
    "#/a",
    "a/#/b",
    "$share/g/a",
    "$share/g/#",
    "$share/g/+/b",
    "$share//a",
    "$share/g",
    "$share/g/",
    "$share/",
    "$share/g+/a",
    "$share/g/$share/h/a",
    "\0",
    "a\0",
    "\0/a",
    "a/\0/#",
    "$share/g/\0",
    "é",
    "日本/語",
    "\u{FEFF}",
    "\u{FFFF}",
    "\u{1D11E}",
    "\u{7F}",
    "\u{1}",
];

fn gen_str<'a>(u: &mut Unstructured<'a>, g: &mut Gen) -> R<&'a str> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=3 => *u.choose(STRINGS)?,
        4..=7 => u.arbitrary()?,
        _ => big_str(u, g)?,
    })
}

const BINARIES: &[&[u8]] = &[
    b"",
    b"\0",
    b"\xFF",
    b"\xC0\x80",     // overlong U+0000
    b"\xED\xA0\x80", // encoded surrogate
    b"\xE2\x82",     // cut short
    "é".as_bytes(),
    b"text",
];

fn gen_bin<'a>(u: &mut Unstructured<'a>, g: &mut Gen) -> R<&'a [u8]> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=2 => *u.choose(BINARIES)?,
        3..=7 => u.arbitrary()?,
        _ => big_bin(u, g)?,
    })
}

fn gen_pair<'a>(u: &mut Unstructured<'a>, g: &mut Gen) -> R<(&'a str, &'a str)> {
    Ok((gen_str(u, g)?, gen_str(u, g)?))
}

/// Long strings and binaries, sliced from buffers made once.
struct Pools {
    /// "aaa…": a valid name and filter up to 65,535 bytes.
    a: String,
    /// "a/a/…": many levels.
    levels: String,
    /// "+/+/…": a filter of many levels, never a name.
    plus: String,
    /// "…aaa\0": U+0000 last (sliced from the end).
    nul: String,
    /// "…a/a/#": a filter ending in "#" (sliced from the end).
    hash: String,
    /// "ééé…": two bytes a character.
    e: String,
    /// Bytes cycling through every value: not UTF-8.
    bin: Vec<u8>,
}

fn pools() -> &'static Pools {
    static POOLS: OnceLock<Pools> = OnceLock::new();
    POOLS.get_or_init(|| Pools {
        a: "a".repeat(BIG),
        levels: "a/".repeat(BIG / 2),
        plus: "+/".repeat(BIG / 2),
        nul: "a".repeat(BIG - 1) + "\0",
        hash: "a/".repeat(BIG / 2) + "#",
        e: "é".repeat(BIG / 2),
        bin: (0..BIG).map(|i| (i * 7 % 256) as u8).collect(),
    })
}

/// A length around one of the limits that matter, within the budget.
fn big_len(u: &mut Unstructured<'_>, g: &mut Gen) -> R<usize> {
    let want = match u.int_in_range(0u8..=3)? {
        0 => u.int_in_range(65_533..=65_537)?,
        1 => u.int_in_range(16_378..=16_390)?,
        2 => u.int_in_range(120..=136)?,
        _ => u.int_in_range(0..=BIG)?,
    };
    let len = want.min(g.budget);
    g.budget -= len;
    Ok(len)
}

fn big_str(u: &mut Unstructured<'_>, g: &mut Gen) -> R<&'static str> {
    let p = pools();
    let len = big_len(u, g)?;
    Ok(match u.int_in_range(0u8..=5)? {
        0 => &p.a[..len],
        1 => &p.levels[..len],
        2 => &p.plus[..len],
        3 => &p.nul[p.nul.len() - len..],
        4 => &p.hash[p.hash.len() - len..],
        _ => &p.e[..len & !1],
    })
}

fn big_bin(u: &mut Unstructured<'_>, g: &mut Gen) -> R<&'static [u8]> {
    let p = pools();
    let len = big_len(u, g)?;
    Ok(if u.arbitrary()? {
        &p.bin[..len]
    } else {
        &p.a.as_bytes()[..len]
    })
}
