//! The encoder on arbitrary *structured* packets: every one of the fifteen
//! packet types, for either version, built field by field from the fuzzer's
//! bytes, invalid values included (wildcards and `$share` forms in topics,
//! packet identifier 0, QoS 0 with an identifier, properties in 3.1.1,
//! reason codes the packet does not allow, zero property values, fields
//! over 65,535 bytes, empty filter and reason-code lists, a 3.1.1 password
//! without a user name, ...).
//!
//! Packets are first generated as a plain model (`&str`, `&[u8]`, lists),
//! then built twice: as an owned `Packet` (strings by
//! `MqttString::from_str` or `from_bytes`), and as a `PacketRef` assembled
//! from borrowed parts: `MqttStr::new` or `MqttStr::from_utf8` strings,
//! `SubscribeFiltersRef::from_refs`, `TopicFiltersRef::from_strs`,
//! `ReasonCodesRef::from_slice`, and property views either over the owned
//! property structs or from a property block given to `from_wire`: the
//! canonical block, the same reordered, the same with over-long variable
//! byte integers, or raw fuzzer bytes.
//!
//! U+0000 cannot reach the encoder: every string constructor refuses it
//! (checked here on every generated string, with the decoder's error
//! order), so a model holding one is not encoded.
//!
//! The contract checked, for the view and for the owned packet:
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
//!   through both `PacketRef::decode` and `Packet::decode`; the decoded
//!   view re-encodes to the same bytes, and so does the decoded owned
//!   packet when the properties were in canonical form (otherwise it may
//!   order them differently, but never in fewer bytes: every variable byte
//!   integer must already be minimal [MQTT-1.5.5-1]);
//! - the borrowed and owned builds agree: equal as packets, and the same
//!   bytes or the same error;
//! - `from_wire` on a canonical block fails only for a property value out
//!   of range, exactly when the owned properties cannot be encoded, and a
//!   reordered or re-encoded block is accepted exactly when it is.
#![no_main]

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::arbitrary::{self, Unstructured};
use libfuzzer_sys::fuzz_target;
use mqtt_core::codec::{
    AckProperties, AckPropertiesRef, Auth, AuthProperties, AuthPropertiesRef, AuthRef, ConnAck,
    ConnAckProperties, ConnAckPropertiesRef, ConnAckRef, Connect, ConnectProperties,
    ConnectPropertiesRef, ConnectRef, DecodeOptions, Disconnect, DisconnectProperties,
    DisconnectPropertiesRef, DisconnectRef, Error, MqttStr, MqttString, Packet, PacketRef,
    ProtocolVersion, PubAck, PubAckRef, PubComp, PubCompRef, PubRec, PubRecRef, PubRel, PubRelRef,
    Publish, PublishProperties, PublishPropertiesRef, PublishRef, QoS, ReasonCode, ReasonCodesRef,
    RetainHandling, SubAck, SubAckRef, Subscribe, SubscribeFilter, SubscribeFilterRef,
    SubscribeFiltersRef, SubscribeProperties, SubscribePropertiesRef, SubscribeRef,
    SubscriptionOptions, TopicFiltersRef, UnsubAck, UnsubAckRef, Unsubscribe,
    UnsubscribeProperties, UnsubscribePropertiesRef, UnsubscribeRef, UserProperty, Will,
    WillProperties, WillPropertiesRef, WillRef, MAX_VARIABLE_INTEGER,
};
use mqtt_core::codec::{TopicFilter, TopicFilterRef, TopicName, TopicNameRef};

type R<T> = arbitrary::Result<T>;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

/// 5.0, 3.1.1 or 3.1 (half of the draws 5.0).
fn gen_version(u: &mut Unstructured<'_>) -> R<ProtocolVersion> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => ProtocolVersion::V31,
        1 => ProtocolVersion::V311,
        _ => ProtocolVersion::V5,
    })
}

fn run(u: &mut Unstructured<'_>) -> R<()> {
    let version = gen_version(u)?;
    let via = if u.arbitrary()? { Via::Bytes } else { Via::Str };
    let mut g = Gen { budget: BIG };
    check_string_constructors(gen_probe(u)?);
    let model = gen_model(u, &mut g)?;
    let styles = [gen_style(u)?, gen_style(u)?];

    // `None` when a string holds U+0000: no string type can carry it
    // (`mqtt_string` checked the refusal).
    let Some(packet) = model.owned(via) else {
        return Ok(());
    };
    let lists = Lists::new(&model, via);

    // The property blocks for `from_wire`, and what each became.
    let mut blocks: [Option<Vec<u8>>; 2] = [None, None];
    let mut canonical = true; // every property view equals the owned one's bytes
    let mut semantic = true; // every property view equals the owned one's values
    let mut reordered_only = true; // no block whose size differs from canonical
    for (i, set) in model.property_sets().into_iter().enumerate() {
        let Some((fns, props)) = set else { continue };
        let Some(block) = wire_block(fns, props, styles[i], &packet, via) else {
            continue;
        };
        match styles[i] {
            Style::Canonical => {}
            Style::Reordered => canonical = false,
            Style::LongIds | Style::LongValues => (canonical, reordered_only) = (false, false),
            Style::Raw(_) | Style::Owned => (canonical, semantic) = (false, false),
        }
        blocks[i] = Some(block);
    }
    let view = model.view(
        &packet,
        &lists,
        [blocks[0].as_deref(), blocks[1].as_deref()],
        via,
    );

    if semantic {
        assert_eq!(
            packet.as_view(),
            view,
            "the view differs from the owned packet"
        );
        assert_eq!(
            view.into_owned(),
            packet,
            "into_owned differs from the owned packet"
        );
    }
    let from_view = encode_checked(&view, version);
    if let Ok(bytes) = &from_view {
        decode_checked(&view, bytes, version, canonical);
    }
    let from_owned = encode_checked(&packet, version);
    if let Ok(bytes) = &from_owned {
        decode_checked(&packet.as_view(), bytes, version, true);
        let opts = DecodeOptions::new(decode_version(&view, version));
        let mut buf = Bytes::copy_from_slice(bytes);
        assert_eq!(Packet::decode(&mut buf, &opts), Ok(Some(packet.clone())));
        assert!(buf.is_empty());
    }
    if canonical {
        assert_eq!(from_view, from_owned, "borrowed and owned encodings differ");
    } else if semantic {
        // The same properties in other bytes: the same outcome.
        assert_eq!(
            from_view.as_ref().err(),
            from_owned.as_ref().err(),
            "a property block in other form changes the outcome"
        );
        if let (true, Ok(a), Ok(b)) = (reordered_only, &from_view, &from_owned) {
            assert_eq!(a.len(), b.len(), "reordered properties change the size");
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
            assert_eq!(
                &buf[..PREFIX.len()],
                PREFIX,
                "encode changed what the buffer held"
            );
            let bytes = buf[PREFIX.len()..].to_vec();
            assert_eq!(
                bytes.len(),
                n,
                "encode returned {n} but appended {}",
                bytes.len()
            );
            assert!(n >= 2, "a {n}-byte packet");

            let mut exact = vec![SENTINEL; n];
            assert_eq!(
                p.to_slice(v, &mut exact),
                Ok(n),
                "encode_to_slice into {n} bytes"
            );
            assert!(
                exact == bytes,
                "encode_to_slice wrote other bytes than encode"
            );

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
            assert_eq!(
                &buf[..],
                PREFIX,
                "encode failed with {e:?} but wrote to the buffer"
            );
            // A packet that cannot be encoded is reported as such, whatever
            // the room, and nothing is written.
            assert_eq!(
                p.to_slice(v, &mut []),
                Err(e),
                "encode_to_slice into no room"
            );
            // (Compared with memcmp: a byte loop is slow under coverage.)
            let sentinels = sentinels();
            let mut roomy = sentinels.to_vec();
            assert_eq!(
                p.to_slice(v, &mut roomy),
                Err(e),
                "encode_to_slice into ample room"
            );
            assert!(
                roomy == sentinels,
                "encode_to_slice failed with {e:?} but wrote"
            );
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

/// What encoded as `bytes` decodes back to `view`, both ways. With
/// `canonical`, the properties were in the form the owned packet writes.
fn decode_checked(view: &PacketRef<'_>, bytes: &[u8], v: ProtocolVersion, canonical: bool) {
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
    assert_eq!(
        PacketRef::decode(&bytes[..n - 1], &opts),
        Ok(None),
        "a byte short"
    );

    let mut again = BytesMut::new();
    assert_eq!(decoded.encode(v, &mut again), Ok(n));
    assert!(
        again[..] == *bytes,
        "the decoded view re-encodes differently"
    );

    let mut buf = Bytes::copy_from_slice(&padded);
    let owned = match Packet::decode(&mut buf, &opts) {
        Ok(Some(p)) => p,
        other => panic!("{view:?} encoded as {bytes:02X?}, which decodes (owned) as {other:?}"),
    };
    assert_eq!(
        &buf[..],
        &[0xC0, 0x00],
        "Packet::decode did not consume exactly the packet"
    );
    assert_eq!(
        owned,
        view.into_owned(),
        "decoded packet differs from the encoded one"
    );
    let mut again = BytesMut::new();
    let m = owned
        .encode(v, &mut again)
        .expect("a decoded packet encodes");
    assert_eq!(m, again.len());
    if canonical {
        assert!(
            again[..] == *bytes,
            "the decoded packet re-encodes differently"
        );
    } else {
        // Properties may come back in declaration order, in as many bytes:
        // fewer means the encoder emitted a variable byte integer longer
        // than needed.
        assert!(
            again.len() == n,
            "encoded {view:?} as {bytes:02X?}: {n} bytes where the same packet takes {} \
             ({:02X?}); a variable byte integer is not minimal [MQTT-1.5.5-1]",
            again.len(),
            &again[..]
        );
        let mut again = again.freeze();
        assert_eq!(Packet::decode(&mut again, &opts), Ok(Some(owned.clone())));
    }

    // CONNECT is decoded by its own protocol level, whatever the options say.
    if let PacketRef::Connect(c) = view {
        let other = match c.protocol_version {
            ProtocolVersion::V5 => ProtocolVersion::V311,
            ProtocolVersion::V311 | ProtocolVersion::V31 => ProtocolVersion::V5,
        };
        assert_eq!(
            PacketRef::decode(bytes, &DecodeOptions::new(other)),
            Ok(Some((decoded, n))),
            "CONNECT decoded differently with the other version's options"
        );
    }
}

/// The string constructors on arbitrary bytes: well-formed UTF-8 without
/// U+0000 is accepted as is; otherwise the decoder's error, UTF-8 first.
fn check_string_constructors(b: &[u8]) {
    let expected = match std::str::from_utf8(b) {
        Err(_) => Err(Error::InvalidUtf8),
        Ok(s) if s.contains('\0') => Err(Error::NullCharacter),
        Ok(_) => Ok(b),
    };
    assert_eq!(MqttStr::from_utf8(b).map(|s| s.as_bytes()), expected);
    let owned = MqttString::from_bytes(Bytes::copy_from_slice(b));
    assert_eq!(
        owned.as_ref().map(MqttString::as_bytes).map_err(|e| *e),
        expected
    );
    if let Ok(s) = std::str::from_utf8(b) {
        assert_eq!(MqttStr::new(s).map(|s| s.as_bytes()), expected);
        assert_eq!(
            MqttString::from_str(s)
                .as_ref()
                .map(MqttString::as_bytes)
                .map_err(|e| *e),
            expected
        );
        let from_string = MqttString::try_from(s.to_owned());
        assert_eq!(
            from_string
                .as_ref()
                .map(MqttString::as_bytes)
                .map_err(|e| *e),
            expected
        );
    }
}

// ---------------------------------------------------------------------------
// The model: packets with plain borrowed fields, built both as a `Packet`
// and as a `PacketRef`.
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

/// PUBACK, PUBREC, PUBREL, PUBCOMP; CONNACK, DISCONNECT and AUTH use the
/// fields they have.
#[derive(Debug)]
struct MAck<'a> {
    packet_id: u16,
    reason_code: ReasonCode,
    session_present: bool,
    props: Props<'a>,
}

/// SUBACK and UNSUBACK.
#[derive(Debug)]
struct MCodes<'a> {
    packet_id: u16,
    props: Props<'a>,
    codes: Vec<ReasonCode>,
}

#[derive(Debug)]
struct MFilter<'a> {
    filter: &'a str,
    options: SubscriptionOptions,
}

#[derive(Debug)]
struct MSubscribe<'a> {
    packet_id: u16,
    props: Props<'a>,
    filters: Vec<MFilter<'a>>,
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

/// Which constructors make the strings: `MqttString::from_str` and
/// `MqttStr::new`, or `MqttString::from_bytes` and `MqttStr::from_utf8`.
#[derive(Debug, Clone, Copy)]
enum Via {
    Str,
    Bytes,
}

/// An `MqttString`, or `None` if `s` cannot be one: it holds U+0000, and
/// every constructor says so.
fn mqtt_string(s: &str, via: Via) -> Option<MqttString> {
    let made = match via {
        Via::Str => MqttString::from_str(s),
        Via::Bytes => MqttString::from_bytes(Bytes::copy_from_slice(s.as_bytes())),
    };
    match made {
        Ok(m) => {
            assert_eq!(m.as_str(), s);
            Some(m)
        }
        Err(e) => {
            assert_eq!(e, Error::NullCharacter, "MqttString refused {s:?}");
            assert!(s.contains('\0'), "MqttString refused {s:?} without U+0000");
            assert_eq!(MqttStr::new(s), Err(Error::NullCharacter));
            assert_eq!(MqttStr::from_utf8(s.as_bytes()), Err(Error::NullCharacter));
            None
        }
    }
}

/// The borrowed string, for a string `mqtt_string` accepted.
/// A topic name as the owned and borrowed constructors build it: `None`
/// when the rules of spec 4.7 refuse it (both constructors alike, with a
/// topic or string error); the empty name is [`TopicName::EMPTY`], which
/// the encoder takes only with a Topic Alias.
fn topic_name(s: &str, via: Via) -> Option<TopicName> {
    if s.is_empty() {
        return Some(TopicName::EMPTY);
    }
    let owned = match via {
        Via::Str => TopicName::from_str(s),
        Via::Bytes => TopicName::from_bytes(Bytes::copy_from_slice(s.as_bytes())),
    };
    let view = match via {
        Via::Str => TopicNameRef::new(s),
        Via::Bytes => TopicNameRef::from_utf8(s.as_bytes()),
    };
    assert_eq!(owned.as_ref().err(), view.as_ref().err(), "{s:?}");
    match owned {
        Ok(t) => Some(t),
        Err(e) => {
            assert!(
                matches!(e, Error::InvalidTopicName(_) | Error::NullCharacter),
                "TopicName refused {s:?} with {e:?}"
            );
            None
        }
    }
}

/// A topic filter, likewise (`None` when the rules refuse it).
fn topic_filter(s: &str, via: Via) -> Option<TopicFilter> {
    let owned = match via {
        Via::Str => TopicFilter::from_str(s),
        Via::Bytes => TopicFilter::from_bytes(Bytes::copy_from_slice(s.as_bytes())),
    };
    let view = match via {
        Via::Str => TopicFilterRef::new(s),
        Via::Bytes => TopicFilterRef::from_utf8(s.as_bytes()),
    };
    assert_eq!(owned.as_ref().err(), view.as_ref().err(), "{s:?}");
    match owned {
        Ok(t) => Some(t),
        Err(e) => {
            assert!(
                matches!(e, Error::InvalidTopicFilter(_) | Error::NullCharacter),
                "TopicFilter refused {s:?} with {e:?}"
            );
            None
        }
    }
}

/// The borrowed topic name of a model whose owned packet was built.
fn topic_name_ref(s: &str, via: Via) -> TopicNameRef<'_> {
    if s.is_empty() {
        return TopicNameRef::EMPTY;
    }
    match via {
        Via::Str => TopicNameRef::new(s),
        Via::Bytes => TopicNameRef::from_utf8(s.as_bytes()),
    }
    .expect("valid: the owned packet was built")
}

/// The borrowed topic filter of a model whose owned packet was built.
fn topic_filter_ref(s: &str, via: Via) -> TopicFilterRef<'_> {
    match via {
        Via::Str => TopicFilterRef::new(s),
        Via::Bytes => TopicFilterRef::from_utf8(s.as_bytes()),
    }
    .expect("valid: the owned packet was built")
}

fn mqtt_str(s: &str, via: Via) -> MqttStr<'_> {
    let made = match via {
        Via::Str => MqttStr::new(s),
        Via::Bytes => MqttStr::from_utf8(s.as_bytes()),
    };
    let made = made.expect("MqttStr refuses a string MqttString accepts");
    assert_eq!(made, s);
    made
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

// ---------------------------------------------------------------------------
// Property sets and blocks for `from_wire`.
// ---------------------------------------------------------------------------

/// How a property view is made.
#[derive(Debug, Clone, Copy)]
enum Style<'a> {
    /// `as_view` of the owned struct.
    Owned,
    /// `from_wire` of the block the owned struct encodes to.
    Canonical,
    /// The same properties, groups in reverse declaration order (the order
    /// within a repeated property kept).
    Reordered,
    /// Canonical, but every property identifier in four bytes (it is a
    /// variable byte integer).
    LongIds,
    /// Canonical, but every Subscription Identifier value in four bytes.
    LongValues,
    /// The fuzzer's bytes.
    Raw(&'a [u8]),
}

/// One property written out: its rank in declaration order and its bytes.
struct Entry {
    rank: usize,
    bytes: Vec<u8>,
}

/// What this target needs of one property set besides its types.
#[derive(Clone, Copy)]
struct SetFns {
    /// The set's properties as entries in declaration order, with
    /// identifiers and variable byte integer values in four bytes if asked;
    /// `None` if a value has no wire form (a string over 65,535 bytes, an
    /// integer past 268,435,455).
    entries: fn(&Props<'_>, Long) -> Option<Vec<Entry>>,
    /// `from_wire` of the set's view type.
    from_wire: fn(&[u8]) -> Result<(), Error>,
    /// How the `from_wire` view of a block differs from the view over the
    /// owned properties, if it does.
    differs: fn(&[u8], &Props<'_>, Via) -> Option<String>,
}

/// Which variable byte integers to write in four bytes.
#[derive(Clone, Copy, Default)]
struct Long {
    ids: bool,
    values: bool,
}

fn put_vbi(b: &mut Vec<u8>, v: u32, long: bool) -> Option<()> {
    if v > MAX_VARIABLE_INTEGER {
        return None;
    }
    if long {
        let w = [v & 0x7F, (v >> 7) & 0x7F, (v >> 14) & 0x7F, v >> 21];
        b.extend_from_slice(&[
            w[0] as u8 | 0x80,
            w[1] as u8 | 0x80,
            w[2] as u8 | 0x80,
            w[3] as u8,
        ]);
    } else {
        let mut v = v;
        while v >= 0x80 {
            b.push(v as u8 | 0x80);
            v >>= 7;
        }
        b.push(v as u8);
    }
    Some(())
}

fn put_bool(b: &mut Vec<u8>, v: bool, _: bool) -> Option<()> {
    b.push(u8::from(v));
    Some(())
}

fn put_qos(b: &mut Vec<u8>, v: QoS, _: bool) -> Option<()> {
    b.push(v.as_u8());
    Some(())
}

fn put_u16(b: &mut Vec<u8>, v: u16, _: bool) -> Option<()> {
    b.extend_from_slice(&v.to_be_bytes());
    Some(())
}

fn put_u32(b: &mut Vec<u8>, v: u32, _: bool) -> Option<()> {
    b.extend_from_slice(&v.to_be_bytes());
    Some(())
}

fn put_bin(b: &mut Vec<u8>, v: &[u8], _: bool) -> Option<()> {
    b.extend_from_slice(&u16::try_from(v.len()).ok()?.to_be_bytes());
    b.extend_from_slice(v);
    Some(())
}

fn put_str(b: &mut Vec<u8>, v: &str, long: bool) -> Option<()> {
    put_bin(b, v.as_bytes(), long)
}

/// One property: identifier, then the value `put` writes.
fn entry(
    rank: usize,
    id: u8,
    long: Long,
    put: impl FnOnce(&mut Vec<u8>) -> Option<()>,
) -> Option<Entry> {
    let mut bytes = Vec::new();
    put_vbi(&mut bytes, u32::from(id), long.ids)?;
    put(&mut bytes)?;
    Some(Entry { rank, bytes })
}

/// The block `from_wire` gets for `style`, if the style uses one and
/// `from_wire` accepts it; checks `from_wire` against the owned path.
fn wire_block(
    fns: SetFns,
    props: &Props<'_>,
    style: Style<'_>,
    packet: &Packet,
    via: Via,
) -> Option<Vec<u8>> {
    let join = |long: Long, reorder: bool| -> Option<Vec<u8>> {
        let mut entries = (fns.entries)(props, long)?;
        if reorder {
            entries.sort_by_key(|e| core::cmp::Reverse(e.rank)); // stable
        }
        Some(entries.into_iter().flat_map(|e| e.bytes).collect())
    };
    let short = Long::default();
    let block = match style {
        Style::Owned => return None,
        // Whatever the bytes, `from_wire` answers without panicking.
        Style::Raw(raw) => return (fns.from_wire)(raw).ok().map(|()| raw.to_vec()),
        Style::Canonical => join(short, false)?,
        Style::Reordered => join(short, true)?,
        Style::LongIds => join(
            Long {
                ids: true,
                values: false,
            },
            false,
        )?,
        Style::LongValues => join(
            Long {
                ids: false,
                values: true,
            },
            false,
        )?,
    };
    let canonical = join(short, false)?;
    if matches!(style, Style::LongIds | Style::LongValues) && block != canonical {
        // [MQTT-1.5.5-1]: a variable byte integer in more bytes than needed
        // is malformed, so such a block is refused (it would otherwise be
        // copied out over-long).
        let r = (fns.from_wire)(&block);
        assert!(
            r.is_err(),
            "from_wire accepted the over-long block {block:02X?}"
        );
        return None;
    }
    let verdict = (fns.from_wire)(&canonical);
    if let Err(e) = verdict {
        // Typed values in canonical form: only a value can be wrong.
        assert!(
            matches!(e, Error::InvalidPropertyValue(_)),
            "from_wire refused the canonical block {canonical:02X?} with {e:?}"
        );
        assert!(
            packet.encoded_len(ProtocolVersion::V5).is_err(),
            "from_wire refused {canonical:02X?} ({e:?}) but the owned properties encode"
        );
    }
    let this = (fns.from_wire)(&block);
    assert_eq!(
        this.is_ok(),
        verdict.is_ok(),
        "from_wire gives {this:?} for {block:02X?} but {verdict:?} for {canonical:02X?}"
    );
    this.ok()?;
    // What was written is what the view reads.
    if let Some(diff) = (fns.differs)(&block, props, via) {
        panic!("the view from_wire({block:02X?}) accepted reads other properties: {diff}");
    }
    Some(block)
}

/// For one property set: its generator, its owned form, and its `SetFns`,
/// from one list of its fields in declaration order (with each field's
/// value generator, wire writer and identifier).
macro_rules! property_set {
    (
        $SET:ident, $gen_fn:ident, $own_fn:ident, $entries_fn:ident, $Owned:ident, $Ref:ident,
        [$($field:ident: $gen:ident, $put:ident, $id:literal),*] $(, repeated $sid:ident = $sid_id:literal)?
    ) => {
        fn $gen_fn<'a>(u: &mut Unstructured<'a>, g: &mut Gen) -> R<Props<'a>> {
            let mut p = Props::default();
            // Half the time none at all: 3.1.1 packets must have none.
            if u.ratio(1, 2)? {
                $( if u.ratio(1, 3)? { p.$field = Some($gen(u, g)?); } )*
                $( p.$sid = gen_list(u, g, 3, gen_varint)?; )?
                p.user = gen_list(u, g, 3, gen_pair)?;
            }
            Ok(p)
        }

        fn $own_fn(p: &Props<'_>, via: Via) -> Option<$Owned> {
            let mut o = $Owned::default();
            $( o.$field = Own::own(p.$field, via)?; )*
            $( o.$sid = p.$sid.clone(); )?
            o.user_properties = owned_users(&p.user, via)?;
            Some(o)
        }

        #[allow(unused_assignments, unused_mut)]
        fn $entries_fn(p: &Props<'_>, long: Long) -> Option<Vec<Entry>> {
            let mut out = Vec::new();
            let mut rank = 0;
            $(
                if let Some(v) = p.$field {
                    out.push(entry(rank, $id, long, |b| $put(b, v, long.values))?);
                }
                rank += 1;
            )*
            $(
                for &v in &p.$sid {
                    out.push(entry(rank, $sid_id, long, |b| put_vbi(b, v, long.values))?);
                }
                rank += 1;
            )?
            for &(k, v) in &p.user {
                out.push(entry(rank, 0x26, long, |b| {
                    put_str(b, k, long.values)?;
                    put_str(b, v, long.values)
                })?);
            }
            Some(out)
        }

        const $SET: SetFns = SetFns {
            entries: $entries_fn,
            from_wire: |b| $Ref::from_wire(b).map(|_| ()),
            differs: |b, p, via| {
                let owned = $own_fn(p, via)?;
                let wire = $Ref::from_wire(b).ok()?;
                let view = owned.as_view();
                (wire != view).then(|| format!("{wire:?}, not {view:?}"))
            },
        };
    };
}

property_set!(CONNECT_PROPS, gen_connect_props, own_connect_props, connect_entries,
    ConnectProperties, ConnectPropertiesRef, [
    session_expiry_interval: gen_u32, put_u32, 0x11,
    receive_maximum: gen_u16, put_u16, 0x21,
    maximum_packet_size: gen_u32, put_u32, 0x27,
    topic_alias_maximum: gen_u16, put_u16, 0x22,
    request_response_information: gen_bool, put_bool, 0x19,
    request_problem_information: gen_bool, put_bool, 0x17,
    authentication_method: gen_str, put_str, 0x15,
    authentication_data: gen_bin, put_bin, 0x16
]);

property_set!(WILL_PROPS, gen_will_props, own_will_props, will_entries,
    WillProperties, WillPropertiesRef, [
    will_delay_interval: gen_u32, put_u32, 0x18,
    payload_format_indicator: gen_bool, put_bool, 0x01,
    message_expiry_interval: gen_u32, put_u32, 0x02,
    content_type: gen_str, put_str, 0x03,
    response_topic: gen_str, put_str, 0x08,
    correlation_data: gen_bin, put_bin, 0x09
]);

property_set!(CONNACK_PROPS, gen_connack_props, own_connack_props, connack_entries,
    ConnAckProperties, ConnAckPropertiesRef, [
    session_expiry_interval: gen_u32, put_u32, 0x11,
    receive_maximum: gen_u16, put_u16, 0x21,
    maximum_qos: gen_qos, put_qos, 0x24,
    retain_available: gen_bool, put_bool, 0x25,
    maximum_packet_size: gen_u32, put_u32, 0x27,
    assigned_client_identifier: gen_str, put_str, 0x12,
    topic_alias_maximum: gen_u16, put_u16, 0x22,
    reason_string: gen_str, put_str, 0x1F,
    wildcard_subscription_available: gen_bool, put_bool, 0x28,
    subscription_identifiers_available: gen_bool, put_bool, 0x29,
    shared_subscription_available: gen_bool, put_bool, 0x2A,
    server_keep_alive: gen_u16, put_u16, 0x13,
    response_information: gen_str, put_str, 0x1A,
    server_reference: gen_str, put_str, 0x1C,
    authentication_method: gen_str, put_str, 0x15,
    authentication_data: gen_bin, put_bin, 0x16
]);

property_set!(PUBLISH_PROPS, gen_publish_props, own_publish_props, publish_entries,
    PublishProperties, PublishPropertiesRef, [
    payload_format_indicator: gen_bool, put_bool, 0x01,
    message_expiry_interval: gen_u32, put_u32, 0x02,
    topic_alias: gen_u16, put_u16, 0x23,
    response_topic: gen_str, put_str, 0x08,
    correlation_data: gen_bin, put_bin, 0x09,
    content_type: gen_str, put_str, 0x03
], repeated subscription_identifiers = 0x0B);

property_set!(ACK_PROPS, gen_ack_props, own_ack_props, ack_entries,
    AckProperties, AckPropertiesRef, [
    reason_string: gen_str, put_str, 0x1F
]);

property_set!(SUBSCRIBE_PROPS, gen_subscribe_props, own_subscribe_props, subscribe_entries,
    SubscribeProperties, SubscribePropertiesRef, [
    subscription_identifier: gen_varint, put_vbi, 0x0B
]);

property_set!(
    UNSUBSCRIBE_PROPS,
    gen_unsubscribe_props,
    own_unsubscribe_props,
    unsubscribe_entries,
    UnsubscribeProperties,
    UnsubscribePropertiesRef,
    []
);

property_set!(DISCONNECT_PROPS, gen_disconnect_props, own_disconnect_props, disconnect_entries,
    DisconnectProperties, DisconnectPropertiesRef, [
    session_expiry_interval: gen_u32, put_u32, 0x11,
    reason_string: gen_str, put_str, 0x1F,
    server_reference: gen_str, put_str, 0x1C
]);

property_set!(AUTH_PROPS, gen_auth_props, own_auth_props, auth_entries,
    AuthProperties, AuthPropertiesRef, [
    authentication_method: gen_str, put_str, 0x15,
    authentication_data: gen_bin, put_bin, 0x16,
    reason_string: gen_str, put_str, 0x1F
]);

/// A property view: from the block if there is one, else over the owned
/// struct.
macro_rules! props_view {
    ($wire:expr, $owned:expr, $Ref:ident) => {
        match $wire {
            Some(block) => $Ref::from_wire(block).expect("wire_block checked the block"),
            None => $owned.as_view(),
        }
    };
}

/// The lists of a view, borrowed from the model.
struct Lists<'a> {
    subscribe: Vec<SubscribeFilterRef<'a>>,
    unsubscribe: Vec<MqttStr<'a>>,
}

impl<'a> Lists<'a> {
    fn new(model: &Model<'a>, via: Via) -> Self {
        let mut lists = Lists {
            subscribe: Vec::new(),
            unsubscribe: Vec::new(),
        };
        match model {
            Model::Subscribe(s) => {
                lists.subscribe = s
                    .filters
                    .iter()
                    .map(|f| SubscribeFilterRef::new(topic_filter_ref(f.filter, via), f.options))
                    .collect();
            }
            Model::Unsubscribe(s) => {
                lists.unsubscribe = s.filters.iter().map(|f| mqtt_str(f, via)).collect();
            }
            _ => {}
        }
        lists
    }
}

impl<'a> Model<'a> {
    /// The packet's property sets: its own, and the will's.
    fn property_sets(&self) -> [Option<(SetFns, &Props<'a>)>; 2] {
        match self {
            Model::Connect(c) => [
                Some((CONNECT_PROPS, &c.props)),
                c.will.as_ref().map(|w| (WILL_PROPS, &w.props)),
            ],
            Model::ConnAck(a) => [Some((CONNACK_PROPS, &a.props)), None],
            Model::Publish(p) => [Some((PUBLISH_PROPS, &p.props)), None],
            Model::PubAck(a) | Model::PubRec(a) | Model::PubRel(a) | Model::PubComp(a) => {
                [Some((ACK_PROPS, &a.props)), None]
            }
            Model::Subscribe(s) => [Some((SUBSCRIBE_PROPS, &s.props)), None],
            Model::SubAck(a) | Model::UnsubAck(a) => [Some((ACK_PROPS, &a.props)), None],
            Model::Unsubscribe(s) => [Some((UNSUBSCRIBE_PROPS, &s.props)), None],
            Model::PingReq | Model::PingResp => [None, None],
            Model::Disconnect(a) => [Some((DISCONNECT_PROPS, &a.props)), None],
            Model::Auth(a) => [Some((AUTH_PROPS, &a.props)), None],
        }
    }

    /// The packet as a view assembled from borrowed parts: strings and
    /// lists from the model, property views from `wires` (by set) or over
    /// the owned packet's property structs.
    fn view<'b>(
        &'b self,
        pk: &'b Packet,
        lists: &'b Lists<'_>,
        wires: [Option<&'b [u8]>; 2],
        via: Via,
    ) -> PacketRef<'b> {
        let [wire, will_wire] = wires;
        match (self, pk) {
            (Model::Connect(c), Packet::Connect(o)) => PacketRef::Connect(ConnectRef {
                protocol_version: c.protocol_version,
                clean_start: c.clean_start,
                keep_alive: c.keep_alive,
                client_id: mqtt_str(c.client_id, via),
                will: match (&c.will, &o.will) {
                    (Some(w), Some(ow)) => Some(WillRef {
                        topic: mqtt_str(w.topic, via),
                        payload: w.payload,
                        qos: w.qos,
                        retain: w.retain,
                        properties: props_view!(will_wire, ow.properties, WillPropertiesRef),
                    }),
                    _ => None,
                },
                username: c.username.map(|s| mqtt_str(s, via)),
                password: c.password,
                properties: props_view!(wire, o.properties, ConnectPropertiesRef),
            }),
            (Model::ConnAck(a), Packet::ConnAck(o)) => PacketRef::ConnAck(ConnAckRef {
                session_present: a.session_present,
                reason_code: a.reason_code,
                properties: props_view!(wire, o.properties, ConnAckPropertiesRef),
            }),
            (Model::Publish(p), Packet::Publish(o)) => PacketRef::Publish(PublishRef {
                dup: p.dup,
                qos: p.qos,
                retain: p.retain,
                topic: topic_name_ref(p.topic, via),
                packet_id: p.packet_id,
                properties: props_view!(wire, o.properties, PublishPropertiesRef),
                payload: p.payload,
            }),
            (Model::PubAck(a), Packet::PubAck(o)) => PacketRef::PubAck(PubAckRef {
                packet_id: a.packet_id,
                reason_code: a.reason_code,
                properties: props_view!(wire, o.properties, AckPropertiesRef),
            }),
            (Model::PubRec(a), Packet::PubRec(o)) => PacketRef::PubRec(PubRecRef {
                packet_id: a.packet_id,
                reason_code: a.reason_code,
                properties: props_view!(wire, o.properties, AckPropertiesRef),
            }),
            (Model::PubRel(a), Packet::PubRel(o)) => PacketRef::PubRel(PubRelRef {
                packet_id: a.packet_id,
                reason_code: a.reason_code,
                properties: props_view!(wire, o.properties, AckPropertiesRef),
            }),
            (Model::PubComp(a), Packet::PubComp(o)) => PacketRef::PubComp(PubCompRef {
                packet_id: a.packet_id,
                reason_code: a.reason_code,
                properties: props_view!(wire, o.properties, AckPropertiesRef),
            }),
            (Model::Subscribe(s), Packet::Subscribe(o)) => PacketRef::Subscribe(SubscribeRef {
                packet_id: s.packet_id,
                properties: props_view!(wire, o.properties, SubscribePropertiesRef),
                filters: SubscribeFiltersRef::from_refs(&lists.subscribe),
            }),
            (Model::SubAck(a), Packet::SubAck(o)) => PacketRef::SubAck(SubAckRef {
                packet_id: a.packet_id,
                properties: props_view!(wire, o.properties, AckPropertiesRef),
                reason_codes: ReasonCodesRef::from_slice(&a.codes),
            }),
            (Model::Unsubscribe(s), Packet::Unsubscribe(o)) => {
                PacketRef::Unsubscribe(UnsubscribeRef {
                    packet_id: s.packet_id,
                    properties: props_view!(wire, o.properties, UnsubscribePropertiesRef),
                    filters: TopicFiltersRef::from_strs(&lists.unsubscribe),
                })
            }
            (Model::UnsubAck(a), Packet::UnsubAck(o)) => PacketRef::UnsubAck(UnsubAckRef {
                packet_id: a.packet_id,
                properties: props_view!(wire, o.properties, AckPropertiesRef),
                reason_codes: ReasonCodesRef::from_slice(&a.codes),
            }),
            (Model::PingReq, Packet::PingReq) => PacketRef::PingReq,
            (Model::PingResp, Packet::PingResp) => PacketRef::PingResp,
            (Model::Disconnect(a), Packet::Disconnect(o)) => PacketRef::Disconnect(DisconnectRef {
                reason_code: a.reason_code,
                properties: props_view!(wire, o.properties, DisconnectPropertiesRef),
            }),
            (Model::Auth(a), Packet::Auth(o)) => PacketRef::Auth(AuthRef {
                reason_code: a.reason_code,
                properties: props_view!(wire, o.properties, AuthPropertiesRef),
            }),
            _ => unreachable!("the owned packet is built from this model"),
        }
    }

    /// The packet as an owned `Packet`, if every string can be an
    /// `MqttString` (none holds U+0000).
    fn owned(&self, via: Via) -> Option<Packet> {
        let ms = |s: &str| mqtt_string(s, via);
        Some(match self {
            Model::Connect(c) => Packet::from(Connect {
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
            Model::ConnAck(a) => Packet::from(ConnAck {
                session_present: a.session_present,
                reason_code: a.reason_code,
                properties: own_connack_props(&a.props, via)?,
            }),
            Model::Publish(p) => Packet::Publish(Publish {
                dup: p.dup,
                qos: p.qos,
                retain: p.retain,
                topic: topic_name(p.topic, via)?,
                packet_id: p.packet_id,
                properties: own_publish_props(&p.props, via)?.into(),
                payload: Bytes::copy_from_slice(p.payload),
            }),
            Model::PubAck(a) => Packet::PubAck(PubAck {
                packet_id: a.packet_id,
                reason_code: a.reason_code,
                properties: own_ack_props(&a.props, via)?,
            }),
            Model::PubRec(a) => Packet::PubRec(PubRec {
                packet_id: a.packet_id,
                reason_code: a.reason_code,
                properties: own_ack_props(&a.props, via)?,
            }),
            Model::PubRel(a) => Packet::PubRel(PubRel {
                packet_id: a.packet_id,
                reason_code: a.reason_code,
                properties: own_ack_props(&a.props, via)?,
            }),
            Model::PubComp(a) => Packet::PubComp(PubComp {
                packet_id: a.packet_id,
                reason_code: a.reason_code,
                properties: own_ack_props(&a.props, via)?,
            }),
            Model::Subscribe(s) => Packet::Subscribe(Subscribe {
                packet_id: s.packet_id,
                properties: own_subscribe_props(&s.props, via)?,
                filters: s
                    .filters
                    .iter()
                    .map(|f| {
                        Some(SubscribeFilter {
                            filter: topic_filter(f.filter, via)?,
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
            protocol_version: gen_version(u)?,
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
                Ok(MFilter {
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

/// Mostly over the owned struct; otherwise a block for `from_wire`.
fn gen_style<'a>(u: &mut Unstructured<'a>) -> R<Style<'a>> {
    Ok(match u.int_in_range(0u8..=8)? {
        0..=3 => Style::Owned,
        4 => Style::Canonical,
        5 => Style::Reordered,
        6 => Style::LongIds,
        7 => Style::LongValues,
        _ => Style::Raw(u.arbitrary()?),
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
    Ok(if u.arbitrary()? {
        Some(item(u, g)?)
    } else {
        None
    })
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

/// Bytes for the string constructors: UTF-8 or not, with U+0000 or not.
fn gen_probe<'a>(u: &mut Unstructured<'a>) -> R<&'a [u8]> {
    Ok(match u.int_in_range(0u8..=2)? {
        0 => u.choose(STRINGS)?.as_bytes(),
        1 => u.choose(BINARIES)?,
        _ => u.arbitrary()?,
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
