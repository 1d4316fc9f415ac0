//! Differential decoding: the same bytes through our decoder and through two
//! independent Rust decoders, rumqttc's `mqttbytes` (`v4` for 3.1.1,
//! `v5::mqttbytes::v5` for 5.0) and `mqtt-protocol-core` (its frame builder
//! and the per-type `parse` its own connection calls). Fails when a peer
//! disagrees with us on the first packet of the input: complete /
//! incomplete / invalid, the bytes it used, or any decoded field both
//! expose; except for the known disagreements that `classify` recognises,
//! each explained in `fuzz/DISAGREEMENTS.md`.
//!
//! Input: `[version][ignored][ignored]` + wire bytes (the seed corpus
//! format); bit 0 of the first byte picks 3.1.1 (0) or 5.0 (1). A CONNECT
//! is decoded by the version it names (ours does so; the peers are given
//! the decoder of that version, as a server would).
//!
//! All three get the same maximum packet size, [`MAX`] bytes in all (a
//! limit in the four-byte Remaining Length range, so that rumqttc's limit
//! on the Remaining Length alone, `MAX - 5`, is the same limit).
#![no_main]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use mqtt_core::codec::{
    DecodeOptions, Error, MqttString, Packet, PacketType, ProtocolVersion, UserProperty,
};

/// The maximum packet size given to every decoder.
const MAX: u32 = 3_000_000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let v5 = data[0] & 1 == 1;
    check(v5, &data[3..]);
});

/// A decoder's verdict on the first packet of the input.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Needs more bytes.
    Incomplete,
    /// Rejects the input (the reason as the decoder gave it).
    Reject(String),
    /// Decoded a packet from the first `len` bytes.
    Accept { len: usize, fields: Fields },
}

impl Outcome {
    fn kind(&self) -> &'static str {
        match self {
            Outcome::Incomplete => "incomplete",
            Outcome::Reject(_) => "reject",
            Outcome::Accept { .. } => "accept",
        }
    }
}

/// Decoded fields, by name; only fields both sides have are compared.
type Fields = BTreeMap<&'static str, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Rumqttc,
    Mpc,
}

fn check(v5: bool, input: &[u8]) {
    for peer in [Peer::Rumqttc, Peer::Mpc] {
        check_peer(v5, input, peer, 0);
    }
}

/// Compares ours with `peer` on `input`. A known disagreement whose class
/// names one defect that the peer ignores is checked further: the input
/// with that defect repaired (see `repair`) must compare equal too, or
/// differ only by further known classes, up to a few steps.
fn check_peer(v5: bool, input: &[u8], peer: Peer, depth: u32) {
    let (ours, our_err) = ours(v5, input);
    // A CONNECT goes to the peers' decoder of the version it names.
    let peer_v5 = connect_level(input).map_or(v5, |l| l == 5);
    let theirs = match (peer, peer_v5) {
        (Peer::Rumqttc, false) => rumqttc_v4(input),
        (Peer::Rumqttc, true) => rumqttc_v5(input),
        (Peer::Mpc, false) => mpc_v311(input),
        (Peer::Mpc, true) => mpc_v5(input),
    };
    let Some(diff) = difference(&ours, &theirs) else {
        return;
    };
    let d = Disagreement {
        v5,
        input,
        peer,
        ours: &ours,
        our_err,
        theirs: &theirs,
        diff: diff.clone(),
    };
    if let Some(class) = classify(&d) {
        // Known and explained: fuzz/DISAGREEMENTS.md, by class name.
        note_example(class, &d);
        if depth < 4 {
            if let Some(repaired) = repair(class, &d) {
                check_peer(v5, &repaired, peer, depth + 1);
            }
        }
        return;
    }
    let report = format!(
        "unexplained disagreement with {peer:?} ({}): {diff}\n input {}\n ours   {ours:?} ({our_err:?})\n theirs {theirs:?}",
        if v5 { "5.0" } else { "3.1.1" },
        hex(input),
    );
    survey_or_panic(&d, report);
}

/// What differs, if anything: the verdict, the length used, or a field.
fn difference(ours: &Outcome, theirs: &Outcome) -> Option<String> {
    match (ours, theirs) {
        (Outcome::Accept { len: a, fields: fa }, Outcome::Accept { len: b, fields: fb }) => {
            if a != b {
                return Some(format!("length {a} vs {b}"));
            }
            for (k, va) in fa {
                if let Some(vb) = fb.get(k) {
                    if va != vb {
                        return Some(format!("field {k}: {va} vs {vb}"));
                    }
                }
            }
            None
        }
        (a, b) if a.kind() == b.kind() => None,
        (a, b) => Some(format!("{} vs {}", a.kind(), b.kind())),
    }
}

struct Disagreement<'a> {
    v5: bool,
    input: &'a [u8],
    peer: Peer,
    ours: &'a Outcome,
    our_err: Option<Error>,
    theirs: &'a Outcome,
    diff: String,
}

/// Survey mode (`DIFFERENTIAL_SURVEY=<file>`): instead of stopping at the
/// first unexplained disagreement, append one line per new signature (peer,
/// version, packet type, both verdicts, the differing field) to the file
/// and go on; for finding the classes of a new peer or decoder change.
fn survey_or_panic(d: &Disagreement, report: String) {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let Ok(path) = std::env::var("DIFFERENTIAL_SURVEY") else {
        panic!("{report}");
    };
    let verdict = |o: &Outcome| match o {
        Outcome::Reject(r) => format!("reject {}", r.split(['(', ' ', '{']).next().unwrap_or("")),
        other => other.kind().to_string(),
    };
    let field = d.diff.split(':').next().unwrap_or("");
    let sig = format!(
        "{:?} {} type {} | ours {} | theirs {} | {}",
        d.peer,
        if d.v5 { "5.0" } else { "3.1.1" },
        d.input.first().map_or(0, |b| b >> 4),
        verdict(d.ours),
        verdict(d.theirs),
        field
    );
    let mut seen = SEEN.lock().unwrap();
    if seen.get_or_insert_with(HashSet::new).insert(sig.clone()) {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        let _ = writeln!(f, "{sig}\n    {}\n", report.replace('\n', "\n    "));
    }
}

/// `DIFFERENTIAL_EXAMPLES=<file>`: the first input of each known class and
/// peer, appended to the file (for the table in fuzz/DISAGREEMENTS.md; run
/// the target over a corpus with `-runs=0`).
fn note_example(class: &str, d: &Disagreement) {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let Ok(path) = std::env::var("DIFFERENTIAL_EXAMPLES") else {
        return;
    };
    let key = format!("{class} {:?}", d.peer);
    let mut seen = SEEN.lock().unwrap();
    if seen.get_or_insert_with(HashSet::new).insert(key.clone()) {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        let _ = writeln!(
            f,
            "{key} {} {}\n    ours {:?} / {:?}\n    theirs {:?}",
            if d.v5 { "5.0" } else { "3.1.1" },
            hex(d.input),
            d.our_err,
            d.ours.kind(),
            d.theirs
        );
    }
}

// ------------------------------------------------------------------ helpers

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn varint(mut v: u32, out: &mut Vec<u8>) {
    loop {
        let mut b = (v % 128) as u8;
        v /= 128;
        if v > 0 {
            b |= 0x80;
        }
        out.push(b);
        if v == 0 {
            break;
        }
    }
}

/// Parses the fixed header: (first byte, header length, remaining length).
fn fixed_header(input: &[u8]) -> Option<(u8, usize, usize)> {
    let first = *input.first()?;
    let mut len = 0usize;
    for i in 0..4 {
        let b = *input.get(1 + i)?;
        len |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some((first, 2 + i, len));
        }
    }
    None
}

/// The body of the first packet, when the input holds all of it.
fn body(input: &[u8]) -> Option<(u8, &[u8])> {
    let (first, h, len) = fixed_header(input)?;
    Some((first, input.get(h..h + len)?))
}

/// The protocol level a CONNECT names (byte 6 of its body after a
/// four-byte name), when the input starts with a CONNECT.
fn connect_level(input: &[u8]) -> Option<u8> {
    let (first, h, _) = fixed_header(input)?;
    if first >> 4 != 1 {
        return None;
    }
    let b = input.get(h..)?;
    if b.get(..2)? == [0, 4] {
        b.get(6).copied()
    } else {
        None
    }
}

/// Normalised properties: each property as its wire bytes (identifier and
/// value, integers minimal), sorted (peers keep them in typed fields, not in
/// wire order).
#[derive(Default)]
struct Props(Vec<String>);

impl Props {
    fn byte(&mut self, id: u8, v: Option<u8>) {
        if let Some(v) = v {
            self.0.push(hex(&[id, v]));
        }
    }
    fn u16(&mut self, id: u8, v: Option<u16>) {
        if let Some(v) = v {
            let b = v.to_be_bytes();
            self.0.push(hex(&[id, b[0], b[1]]));
        }
    }
    fn u32(&mut self, id: u8, v: Option<u32>) {
        if let Some(v) = v {
            let mut w = vec![id];
            w.extend_from_slice(&v.to_be_bytes());
            self.0.push(hex(&w));
        }
    }
    fn varint(&mut self, id: u8, v: Option<u32>) {
        if let Some(v) = v {
            let mut w = vec![id];
            varint(v, &mut w);
            self.0.push(hex(&w));
        }
    }
    fn bin(&mut self, id: u8, v: Option<&[u8]>) {
        if let Some(v) = v {
            let mut w = vec![id];
            w.extend_from_slice(&(v.len() as u16).to_be_bytes());
            w.extend_from_slice(v);
            self.0.push(hex(&w));
        }
    }
    fn str(&mut self, id: u8, v: Option<&str>) {
        self.bin(id, v.map(str::as_bytes));
    }
    fn pair(&mut self, k: &str, v: &str) {
        let mut w = vec![0x26];
        w.extend_from_slice(&(k.len() as u16).to_be_bytes());
        w.extend_from_slice(k.as_bytes());
        w.extend_from_slice(&(v.len() as u16).to_be_bytes());
        w.extend_from_slice(v.as_bytes());
        self.0.push(hex(&w));
    }
    fn users(&mut self, u: &[UserProperty]) {
        for p in u {
            self.pair(p.key.as_str(), p.value.as_str());
        }
    }
    fn user_pairs(&mut self, u: &[(String, String)]) {
        for (k, v) in u {
            self.pair(k, v);
        }
    }
    fn done(mut self) -> String {
        self.0.sort();
        format!("{:?}", self.0)
    }
}

fn s(m: &MqttString) -> String {
    format!("{:?}", m.as_str())
}

fn opt<T: std::fmt::Debug>(v: Option<T>) -> String {
    format!("{v:?}")
}

// ---------------------------------------------------------------------- ours

fn ours(v5: bool, input: &[u8]) -> (Outcome, Option<Error>) {
    let version = if v5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    // Payload format validation off: the specification lets receivers skip
    // it, and neither peer does it.
    let options = DecodeOptions::new(version)
        .with_max_packet_size(MAX)
        .with_payload_format_validation(false);
    let mut buf = Bytes::copy_from_slice(input);
    match Packet::decode(&mut buf, &options) {
        Ok(None) => (Outcome::Incomplete, None),
        Err(e) => (Outcome::Reject(format!("{e:?}")), Some(e)),
        Ok(Some(p)) => (
            Outcome::Accept {
                len: input.len() - buf.len(),
                fields: our_fields(&p),
            },
            None,
        ),
    }
}

fn our_fields(p: &Packet) -> Fields {
    let mut f = Fields::new();
    f.insert("type", format!("{:?}", p.packet_type() as u8));
    match p {
        Packet::Connect(c) => {
            f.insert(
                "level",
                (match c.protocol_version {
                    ProtocolVersion::V5 => 5,
                    ProtocolVersion::V31 => 3,
                    _ => 4,
                })
                .to_string(),
            );
            f.insert("clean", c.clean_start.to_string());
            f.insert("keep_alive", c.keep_alive.to_string());
            f.insert("client_id", s(&c.client_id));
            f.insert("username", opt(c.username.as_ref().map(|u| u.as_str())));
            f.insert("password", opt(c.password.as_ref().map(|p| hex(p))));
            f.insert(
                "will",
                opt(c.will.as_ref().map(|w| {
                    (
                        w.topic.as_str().to_owned(),
                        hex(&w.payload),
                        w.qos as u8,
                        w.retain,
                    )
                })),
            );
            let mut pr = Props::default();
            let cp = &c.properties;
            pr.u32(0x11, cp.session_expiry_interval);
            pr.u16(0x21, cp.receive_maximum);
            pr.u32(0x27, cp.maximum_packet_size);
            pr.u16(0x22, cp.topic_alias_maximum);
            pr.byte(0x19, cp.request_response_information.map(u8::from));
            pr.byte(0x17, cp.request_problem_information.map(u8::from));
            pr.str(0x15, cp.authentication_method.as_ref().map(|m| m.as_str()));
            pr.bin(0x16, cp.authentication_data.as_deref());
            pr.users(&cp.user_properties);
            f.insert("props", pr.done());
            if let Some(w) = &c.will {
                let wp = &w.properties;
                let mut pr = Props::default();
                pr.u32(0x18, wp.will_delay_interval);
                pr.byte(0x01, wp.payload_format_indicator.map(u8::from));
                pr.u32(0x02, wp.message_expiry_interval);
                pr.str(0x03, wp.content_type.as_ref().map(|m| m.as_str()));
                pr.str(0x08, wp.response_topic.as_ref().map(|m| m.as_str()));
                pr.bin(0x09, wp.correlation_data.as_deref());
                pr.users(&wp.user_properties);
                f.insert("will_props", pr.done());
            }
        }
        Packet::ConnAck(c) => {
            f.insert("session_present", c.session_present.to_string());
            f.insert("code", c.reason_code.as_u8().to_string());
            f.insert("code311", opt(c.reason_code.to_v311_connack()));
            let cp = &c.properties;
            let mut pr = Props::default();
            pr.u32(0x11, cp.session_expiry_interval);
            pr.u16(0x21, cp.receive_maximum);
            pr.byte(0x24, cp.maximum_qos.map(|q| q as u8));
            pr.byte(0x25, cp.retain_available.map(u8::from));
            pr.u32(0x27, cp.maximum_packet_size);
            pr.str(
                0x12,
                cp.assigned_client_identifier.as_ref().map(|m| m.as_str()),
            );
            pr.u16(0x22, cp.topic_alias_maximum);
            pr.str(0x1F, cp.reason_string.as_ref().map(|m| m.as_str()));
            pr.byte(0x28, cp.wildcard_subscription_available.map(u8::from));
            pr.byte(0x29, cp.subscription_identifiers_available.map(u8::from));
            pr.byte(0x2A, cp.shared_subscription_available.map(u8::from));
            pr.u16(0x13, cp.server_keep_alive);
            pr.str(0x1A, cp.response_information.as_ref().map(|m| m.as_str()));
            pr.str(0x1C, cp.server_reference.as_ref().map(|m| m.as_str()));
            pr.str(0x15, cp.authentication_method.as_ref().map(|m| m.as_str()));
            pr.bin(0x16, cp.authentication_data.as_deref());
            pr.users(&cp.user_properties);
            f.insert("props", pr.done());
        }
        Packet::Publish(p) => {
            f.insert("dup", p.dup.to_string());
            f.insert("qos", (p.qos as u8).to_string());
            f.insert("retain", p.retain.to_string());
            f.insert("topic", format!("{:?}", p.topic.as_str()));
            if p.qos as u8 > 0 {
                f.insert("pkid", p.packet_id.to_string());
            }
            f.insert("payload", hex(&p.payload));
            let pp = &p.properties;
            let mut pr = Props::default();
            pr.byte(0x01, pp.payload_format_indicator.map(u8::from));
            pr.u32(0x02, pp.message_expiry_interval);
            pr.u16(0x23, pp.topic_alias);
            pr.str(0x08, pp.response_topic.as_ref().map(|m| m.as_str()));
            pr.bin(0x09, pp.correlation_data.as_deref());
            pr.str(0x03, pp.content_type.as_ref().map(|m| m.as_str()));
            for id in &pp.subscription_identifiers {
                pr.varint(0x0B, Some(*id));
            }
            pr.users(&pp.user_properties);
            f.insert("props", pr.done());
        }
        Packet::PubAck(a) => ack_fields(&mut f, a.packet_id, a.reason_code.as_u8(), &a.properties),
        Packet::PubRec(a) => ack_fields(&mut f, a.packet_id, a.reason_code.as_u8(), &a.properties),
        Packet::PubRel(a) => ack_fields(&mut f, a.packet_id, a.reason_code.as_u8(), &a.properties),
        Packet::PubComp(a) => ack_fields(&mut f, a.packet_id, a.reason_code.as_u8(), &a.properties),
        Packet::Subscribe(sb) => {
            f.insert("pkid", sb.packet_id.to_string());
            let filters: Vec<_> = sb
                .filters
                .iter()
                .map(|x| (x.filter.as_str().to_owned(), x.options.qos as u8))
                .collect();
            f.insert("filters", format!("{filters:?}"));
            let opts: Vec<_> = sb
                .filters
                .iter()
                .map(|x| {
                    (
                        x.options.no_local,
                        x.options.retain_as_published,
                        x.options.retain_handling as u8,
                    )
                })
                .collect();
            f.insert("options", format!("{opts:?}"));
            let mut pr = Props::default();
            pr.varint(0x0B, sb.properties.subscription_identifier);
            pr.users(&sb.properties.user_properties);
            f.insert("props", pr.done());
        }
        Packet::SubAck(a) => {
            f.insert("pkid", a.packet_id.to_string());
            let codes: Vec<u8> = a.reason_codes.iter().map(|c| c.as_u8()).collect();
            f.insert("codes", format!("{codes:?}"));
            f.insert("props", ack_props(&a.properties));
        }
        Packet::Unsubscribe(u) => {
            f.insert("pkid", u.packet_id.to_string());
            let filters: Vec<_> = u.filters.iter().map(|x| x.as_str().to_owned()).collect();
            f.insert("filters", format!("{filters:?}"));
            let mut pr = Props::default();
            pr.users(&u.properties.user_properties);
            f.insert("props", pr.done());
        }
        Packet::UnsubAck(a) => {
            f.insert("pkid", a.packet_id.to_string());
            let codes: Vec<u8> = a.reason_codes.iter().map(|c| c.as_u8()).collect();
            f.insert("codes", format!("{codes:?}"));
            f.insert("props", ack_props(&a.properties));
        }
        Packet::Disconnect(d) => {
            f.insert("code", d.reason_code.as_u8().to_string());
            let dp = &d.properties;
            let mut pr = Props::default();
            pr.u32(0x11, dp.session_expiry_interval);
            pr.str(0x1F, dp.reason_string.as_ref().map(|m| m.as_str()));
            pr.str(0x1C, dp.server_reference.as_ref().map(|m| m.as_str()));
            pr.users(&dp.user_properties);
            f.insert("props", pr.done());
        }
        Packet::Auth(a) => {
            f.insert("code", a.reason_code.as_u8().to_string());
            let ap = &a.properties;
            let mut pr = Props::default();
            pr.str(0x15, ap.authentication_method.as_ref().map(|m| m.as_str()));
            pr.bin(0x16, ap.authentication_data.as_deref());
            pr.str(0x1F, ap.reason_string.as_ref().map(|m| m.as_str()));
            pr.users(&ap.user_properties);
            f.insert("props", pr.done());
        }
        Packet::PingReq | Packet::PingResp => {}
    }
    f
}

fn ack_props(a: &mqtt_core::codec::AckProperties) -> String {
    let mut pr = Props::default();
    pr.str(0x1F, a.reason_string.as_ref().map(|m| m.as_str()));
    pr.users(&a.user_properties);
    pr.done()
}

fn ack_fields(f: &mut Fields, pkid: u16, code: u8, props: &mqtt_core::codec::AckProperties) {
    f.insert("pkid", pkid.to_string());
    f.insert("code", code.to_string());
    f.insert("props", ack_props(props));
}

// ------------------------------------------------------------------- rumqttc

fn rumqttc_v4(input: &[u8]) -> Outcome {
    use rumqttc::mqttbytes::{v4, Error as E};
    let mut buf = BytesMut::from(input);
    let p = match v4::Packet::read(&mut buf, (MAX - 5) as usize) {
        Err(E::InsufficientBytes(_)) => return Outcome::Incomplete,
        Err(e) => return Outcome::Reject(format!("{e:?}")),
        Ok(p) => p,
    };
    let len = input.len() - buf.len();
    let mut f = Fields::new();
    let ty = |t: PacketType| t as u8;
    let t = match &p {
        v4::Packet::Connect(c) => {
            f.insert(
                "level",
                match c.protocol {
                    rumqttc::mqttbytes::Protocol::V4 => 4,
                    rumqttc::mqttbytes::Protocol::V5 => 5,
                }
                .to_string(),
            );
            f.insert("clean", c.clean_session.to_string());
            f.insert("keep_alive", c.keep_alive.to_string());
            f.insert("client_id", format!("{:?}", c.client_id));
            f.insert(
                "username",
                opt(c.login.as_ref().map(|l| l.username.as_str())),
            );
            f.insert(
                "password",
                opt(c.login.as_ref().map(|l| hex(l.password.as_bytes()))),
            );
            f.insert(
                "will",
                opt(c
                    .last_will
                    .as_ref()
                    .map(|w| (w.topic.clone(), hex(&w.message), w.qos as u8, w.retain))),
            );
            ty(PacketType::Connect)
        }
        v4::Packet::ConnAck(c) => {
            f.insert("session_present", c.session_present.to_string());
            f.insert("code311", opt(Some(c.code as u8)));
            ty(PacketType::ConnAck)
        }
        v4::Packet::Publish(p) => {
            f.insert("dup", p.dup.to_string());
            f.insert("qos", (p.qos as u8).to_string());
            f.insert("retain", p.retain.to_string());
            f.insert("topic", format!("{:?}", p.topic));
            if p.qos as u8 > 0 {
                f.insert("pkid", p.pkid.to_string());
            }
            f.insert("payload", hex(&p.payload));
            ty(PacketType::Publish)
        }
        v4::Packet::PubAck(a) => {
            f.insert("pkid", a.pkid.to_string());
            ty(PacketType::PubAck)
        }
        v4::Packet::PubRec(a) => {
            f.insert("pkid", a.pkid.to_string());
            ty(PacketType::PubRec)
        }
        v4::Packet::PubRel(a) => {
            f.insert("pkid", a.pkid.to_string());
            ty(PacketType::PubRel)
        }
        v4::Packet::PubComp(a) => {
            f.insert("pkid", a.pkid.to_string());
            ty(PacketType::PubComp)
        }
        v4::Packet::Subscribe(sb) => {
            f.insert("pkid", sb.pkid.to_string());
            let filters: Vec<_> = sb
                .filters
                .iter()
                .map(|x| (x.path.clone(), x.qos as u8))
                .collect();
            f.insert("filters", format!("{filters:?}"));
            ty(PacketType::Subscribe)
        }
        v4::Packet::SubAck(a) => {
            f.insert("pkid", a.pkid.to_string());
            let codes: Vec<u8> = a
                .return_codes
                .iter()
                .map(|c| match c {
                    v4::SubscribeReasonCode::Success(q) => *q as u8,
                    v4::SubscribeReasonCode::Failure => 0x80,
                })
                .collect();
            f.insert("codes", format!("{codes:?}"));
            ty(PacketType::SubAck)
        }
        v4::Packet::Unsubscribe(u) => {
            f.insert("pkid", u.pkid.to_string());
            f.insert("filters", format!("{:?}", u.topics));
            ty(PacketType::Unsubscribe)
        }
        v4::Packet::UnsubAck(a) => {
            f.insert("pkid", a.pkid.to_string());
            ty(PacketType::UnsubAck)
        }
        v4::Packet::PingReq => ty(PacketType::PingReq),
        v4::Packet::PingResp => ty(PacketType::PingResp),
        v4::Packet::Disconnect => ty(PacketType::Disconnect),
    };
    f.insert("type", t.to_string());
    Outcome::Accept { len, fields: f }
}

fn rumqttc_v5(input: &[u8]) -> Outcome {
    use rumqttc::v5::mqttbytes::v5;
    use rumqttc::v5::mqttbytes::Error as E;
    let mut buf = BytesMut::from(input);
    let p = match v5::Packet::read(&mut buf, Some(MAX - 5)) {
        Err(E::InsufficientBytes(_)) => return Outcome::Incomplete,
        Err(e) => return Outcome::Reject(format!("{e:?}")),
        Ok(p) => p,
    };
    let len = input.len() - buf.len();
    let mut f = Fields::new();
    let ty = |t: PacketType| t as u8;
    let t = match &p {
        v5::Packet::Connect(c, will, login) => {
            f.insert("level", "5".into());
            f.insert("clean", c.clean_start.to_string());
            f.insert("keep_alive", c.keep_alive.to_string());
            f.insert("client_id", format!("{:?}", c.client_id));
            f.insert("username", opt(login.as_ref().map(|l| l.username.as_str())));
            f.insert(
                "password",
                opt(login.as_ref().map(|l| hex(l.password.as_bytes()))),
            );
            f.insert(
                "will",
                opt(will.as_ref().map(|w| {
                    (
                        String::from_utf8_lossy(&w.topic).into_owned(),
                        hex(&w.message),
                        w.qos as u8,
                        w.retain,
                    )
                })),
            );
            let mut pr = Props::default();
            if let Some(cp) = &c.properties {
                pr.u32(0x11, cp.session_expiry_interval);
                pr.u16(0x21, cp.receive_maximum);
                pr.u32(0x27, cp.max_packet_size);
                pr.u16(0x22, cp.topic_alias_max);
                pr.byte(0x19, cp.request_response_info);
                pr.byte(0x17, cp.request_problem_info);
                pr.str(0x15, cp.authentication_method.as_deref());
                pr.bin(0x16, cp.authentication_data.as_deref());
                pr.user_pairs(&cp.user_properties);
            }
            f.insert("props", pr.done());
            if let Some(w) = will {
                let mut pr = Props::default();
                if let Some(wp) = &w.properties {
                    pr.u32(0x18, wp.delay_interval);
                    pr.byte(0x01, wp.payload_format_indicator);
                    pr.u32(0x02, wp.message_expiry_interval);
                    pr.str(0x03, wp.content_type.as_deref());
                    pr.str(0x08, wp.response_topic.as_deref());
                    pr.bin(0x09, wp.correlation_data.as_deref());
                    pr.user_pairs(&wp.user_properties);
                }
                f.insert("will_props", pr.done());
            }
            ty(PacketType::Connect)
        }
        v5::Packet::ConnAck(c) => {
            use v5::ConnectReturnCode as C;
            f.insert("session_present", c.session_present.to_string());
            let code: u8 = match c.code {
                C::Success => 0,
                C::UnspecifiedError => 0x80,
                C::MalformedPacket => 0x81,
                C::ProtocolError => 0x82,
                C::ImplementationSpecificError => 0x83,
                C::UnsupportedProtocolVersion => 0x84,
                C::ClientIdentifierNotValid => 0x85,
                C::BadUserNamePassword => 0x86,
                C::NotAuthorized => 0x87,
                C::ServerUnavailable => 0x88,
                C::ServerBusy => 0x89,
                C::Banned => 0x8A,
                C::BadAuthenticationMethod => 0x8C,
                C::TopicNameInvalid => 0x90,
                C::PacketTooLarge => 0x95,
                C::QuotaExceeded => 0x97,
                C::PayloadFormatInvalid => 0x99,
                C::RetainNotSupported => 0x9A,
                C::QoSNotSupported => 0x9B,
                C::UseAnotherServer => 0x9C,
                C::ServerMoved => 0x9D,
                C::ConnectionRateExceeded => 0x9F,
                // 3.1.1 leftovers the 5.0 reader never produces.
                C::RefusedProtocolVersion | C::BadClientId | C::ServiceUnavailable => 0xFF,
            };
            f.insert("code", code.to_string());
            let mut pr = Props::default();
            if let Some(cp) = &c.properties {
                pr.u32(0x11, cp.session_expiry_interval);
                pr.u16(0x21, cp.receive_max);
                pr.byte(0x24, cp.max_qos);
                pr.byte(0x25, cp.retain_available);
                pr.u32(0x27, cp.max_packet_size);
                pr.str(0x12, cp.assigned_client_identifier.as_deref());
                pr.u16(0x22, cp.topic_alias_max);
                pr.str(0x1F, cp.reason_string.as_deref());
                pr.byte(0x28, cp.wildcard_subscription_available);
                pr.byte(0x29, cp.subscription_identifiers_available);
                pr.byte(0x2A, cp.shared_subscription_available);
                pr.u16(0x13, cp.server_keep_alive);
                pr.str(0x1A, cp.response_information.as_deref());
                pr.str(0x1C, cp.server_reference.as_deref());
                pr.str(0x15, cp.authentication_method.as_deref());
                pr.bin(0x16, cp.authentication_data.as_deref());
                pr.user_pairs(&cp.user_properties);
            }
            f.insert("props", pr.done());
            ty(PacketType::ConnAck)
        }
        v5::Packet::Publish(p) => {
            f.insert("dup", p.dup.to_string());
            f.insert("qos", (p.qos as u8).to_string());
            f.insert("retain", p.retain.to_string());
            f.insert("topic", format!("{:?}", String::from_utf8_lossy(&p.topic)));
            if p.qos as u8 > 0 {
                f.insert("pkid", p.pkid.to_string());
            }
            f.insert("payload", hex(&p.payload));
            let mut pr = Props::default();
            if let Some(pp) = &p.properties {
                pr.byte(0x01, pp.payload_format_indicator);
                pr.u32(0x02, pp.message_expiry_interval);
                pr.u16(0x23, pp.topic_alias);
                pr.str(0x08, pp.response_topic.as_deref());
                pr.bin(0x09, pp.correlation_data.as_deref());
                pr.str(0x03, pp.content_type.as_deref());
                for id in &pp.subscription_identifiers {
                    pr.varint(0x0B, Some(*id as u32));
                }
                pr.user_pairs(&pp.user_properties);
            }
            f.insert("props", pr.done());
            ty(PacketType::Publish)
        }
        v5::Packet::PubAck(a) => {
            use v5::PubAckReason as R;
            let code = match a.reason {
                R::Success => 0,
                R::NoMatchingSubscribers => 0x10,
                R::UnspecifiedError => 0x80,
                R::ImplementationSpecificError => 0x83,
                R::NotAuthorized => 0x87,
                R::TopicNameInvalid => 0x90,
                R::PacketIdentifierInUse => 0x91,
                R::QuotaExceeded => 0x97,
                R::PayloadFormatInvalid => 0x99,
            };
            let props = a
                .properties
                .as_ref()
                .map(|p| (p.reason_string.as_deref(), &p.user_properties[..]));
            rumqttc_ack(&mut f, a.pkid, code, props);
            ty(PacketType::PubAck)
        }
        v5::Packet::PubRec(a) => {
            use v5::PubRecReason as R;
            let code = match a.reason {
                R::Success => 0,
                R::NoMatchingSubscribers => 0x10,
                R::UnspecifiedError => 0x80,
                R::ImplementationSpecificError => 0x83,
                R::NotAuthorized => 0x87,
                R::TopicNameInvalid => 0x90,
                R::PacketIdentifierInUse => 0x91,
                R::QuotaExceeded => 0x97,
                R::PayloadFormatInvalid => 0x99,
            };
            let props = a
                .properties
                .as_ref()
                .map(|p| (p.reason_string.as_deref(), &p.user_properties[..]));
            rumqttc_ack(&mut f, a.pkid, code, props);
            ty(PacketType::PubRec)
        }
        v5::Packet::PubRel(a) => {
            let code = match a.reason {
                v5::PubRelReason::Success => 0,
                v5::PubRelReason::PacketIdentifierNotFound => 0x92,
            };
            let props = a
                .properties
                .as_ref()
                .map(|p| (p.reason_string.as_deref(), &p.user_properties[..]));
            rumqttc_ack(&mut f, a.pkid, code, props);
            ty(PacketType::PubRel)
        }
        v5::Packet::PubComp(a) => {
            let code = match a.reason {
                v5::PubCompReason::Success => 0,
                v5::PubCompReason::PacketIdentifierNotFound => 0x92,
            };
            let props = a
                .properties
                .as_ref()
                .map(|p| (p.reason_string.as_deref(), &p.user_properties[..]));
            rumqttc_ack(&mut f, a.pkid, code, props);
            ty(PacketType::PubComp)
        }
        v5::Packet::Subscribe(sb) => {
            f.insert("pkid", sb.pkid.to_string());
            let filters: Vec<_> = sb
                .filters
                .iter()
                .map(|x| (x.path.clone(), x.qos as u8))
                .collect();
            f.insert("filters", format!("{filters:?}"));
            let opts: Vec<_> = sb
                .filters
                .iter()
                .map(|x| {
                    (
                        x.nolocal,
                        x.preserve_retain,
                        match x.retain_forward_rule {
                            v5::RetainForwardRule::OnEverySubscribe => 0u8,
                            v5::RetainForwardRule::OnNewSubscribe => 1,
                            v5::RetainForwardRule::Never => 2,
                        },
                    )
                })
                .collect();
            f.insert("options", format!("{opts:?}"));
            let mut pr = Props::default();
            if let Some(sp) = &sb.properties {
                pr.varint(0x0B, sp.id.map(|i| i as u32));
                pr.user_pairs(&sp.user_properties);
            }
            f.insert("props", pr.done());
            ty(PacketType::Subscribe)
        }
        v5::Packet::SubAck(a) => {
            use v5::SubscribeReasonCode as R;
            f.insert("pkid", a.pkid.to_string());
            let codes: Vec<u8> = a
                .return_codes
                .iter()
                .map(|c| match c {
                    R::Success(q) => *q as u8,
                    R::Failure | R::Unspecified => 0x80,
                    R::ImplementationSpecific => 0x83,
                    R::NotAuthorized => 0x87,
                    R::TopicFilterInvalid => 0x8F,
                    R::PkidInUse => 0x91,
                    R::QuotaExceeded => 0x97,
                    R::SharedSubscriptionsNotSupported => 0x9E,
                    R::SubscriptionIdNotSupported => 0xA1,
                    R::WildcardSubscriptionsNotSupported => 0xA2,
                })
                .collect();
            f.insert("codes", format!("{codes:?}"));
            let props = a
                .properties
                .as_ref()
                .map(|p| (p.reason_string.as_deref(), &p.user_properties[..]));
            f.insert("props", rumqttc_ack_props(props));
            ty(PacketType::SubAck)
        }
        v5::Packet::Unsubscribe(u) => {
            f.insert("pkid", u.pkid.to_string());
            f.insert("filters", format!("{:?}", u.filters));
            let mut pr = Props::default();
            if let Some(up) = &u.properties {
                pr.user_pairs(&up.user_properties);
            }
            f.insert("props", pr.done());
            ty(PacketType::Unsubscribe)
        }
        v5::Packet::UnsubAck(a) => {
            use v5::UnsubAckReason as R;
            f.insert("pkid", a.pkid.to_string());
            let codes: Vec<u8> = a
                .reasons
                .iter()
                .map(|c| match c {
                    R::Success => 0,
                    R::NoSubscriptionExisted => 0x11,
                    R::UnspecifiedError => 0x80,
                    R::ImplementationSpecificError => 0x83,
                    R::NotAuthorized => 0x87,
                    R::TopicFilterInvalid => 0x8F,
                    R::PacketIdentifierInUse => 0x91,
                })
                .collect();
            f.insert("codes", format!("{codes:?}"));
            let props = a
                .properties
                .as_ref()
                .map(|p| (p.reason_string.as_deref(), &p.user_properties[..]));
            f.insert("props", rumqttc_ack_props(props));
            ty(PacketType::UnsubAck)
        }
        v5::Packet::Disconnect(d) => {
            f.insert("code", (d.reason_code as u8).to_string());
            let mut pr = Props::default();
            if let Some(dp) = &d.properties {
                pr.u32(0x11, dp.session_expiry_interval);
                pr.str(0x1F, dp.reason_string.as_deref());
                pr.str(0x1C, dp.server_reference.as_deref());
                pr.user_pairs(&dp.user_properties);
            }
            f.insert("props", pr.done());
            ty(PacketType::Disconnect)
        }
        v5::Packet::Auth(a) => {
            // The reason code enum is not exported: read it by name.
            let code: u8 = match format!("{:?}", a.code).as_str() {
                "Success" => 0,
                "Continue" => 0x18,
                "ReAuthentivate" => 0x19,
                _ => 0xFF,
            };
            f.insert("code", code.to_string());
            let mut pr = Props::default();
            if let Some(ap) = &a.properties {
                pr.str(0x15, ap.method.as_deref());
                pr.bin(0x16, ap.data.as_deref());
                pr.str(0x1F, ap.reason.as_deref());
                pr.user_pairs(&ap.user_properties);
            }
            f.insert("props", pr.done());
            ty(PacketType::Auth)
        }
        v5::Packet::PingReq(_) => ty(PacketType::PingReq),
        v5::Packet::PingResp(_) => ty(PacketType::PingResp),
    };
    f.insert("type", t.to_string());
    Outcome::Accept { len, fields: f }
}

fn rumqttc_ack_props(props: Option<(Option<&str>, &[(String, String)])>) -> String {
    let mut pr = Props::default();
    if let Some((reason, users)) = props {
        pr.str(0x1F, reason);
        pr.user_pairs(users);
    }
    pr.done()
}

fn rumqttc_ack(
    f: &mut Fields,
    pkid: u16,
    code: u8,
    props: Option<(Option<&str>, &[(String, String)])>,
) {
    f.insert("pkid", pkid.to_string());
    f.insert("code", code.to_string());
    f.insert("props", rumqttc_ack_props(props));
}

// ------------------------------------------------------ mqtt-protocol-core

mod mpc {
    pub use mqtt_protocol_core::mqtt::common::Cursor;
    pub use mqtt_protocol_core::mqtt::connection::{
        PacketBuildResult, PacketBuilder, PacketData, RawPacket,
    };
    pub use mqtt_protocol_core::mqtt::packet::{v3_1_1, v5_0, Properties};
}

/// Frames the first packet with the crate's `PacketBuilder`; the bytes
/// used (the builder consumes exactly one packet's bytes).
fn mpc_frame(input: &[u8]) -> Result<(mpc::RawPacket, usize), Outcome> {
    let mut builder = mpc::PacketBuilder::with_maximum_packet_size(MAX);
    let mut cursor = mpc::Cursor::new(input);
    match builder.feed(&mut cursor) {
        mpc::PacketBuildResult::Complete(raw) => Ok((raw, cursor.position() as usize)),
        mpc::PacketBuildResult::Incomplete => Err(Outcome::Incomplete),
        mpc::PacketBuildResult::Error(e) => Err(Outcome::Reject(format!("frame: {e:?}"))),
    }
}

fn mpc_publish_arc(raw: &mpc::RawPacket) -> mqtt_protocol_core::mqtt::Arc<[u8]> {
    match &raw.data {
        mpc::PacketData::Publish(arc) => arc.clone(),
        mpc::PacketData::Normal(v) => v.as_slice().into(),
    }
}

fn mpc_props(props: &mpc::Properties) -> String {
    let mut v: Vec<String> = props
        .iter()
        .map(|p| hex(&p.to_continuous_buffer()))
        .collect();
    v.sort();
    format!("{v:?}")
}

macro_rules! mpc_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Outcome::Reject(format!("{e:?}")),
        }
    };
}

fn mpc_v311(input: &[u8]) -> Outcome {
    use mpc::v3_1_1 as p;
    let (raw, len) = match mpc_frame(input) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let mut f = Fields::new();
    let t = raw.packet_type();
    f.insert("type", t.to_string());
    match t {
        1 => {
            let c = mpc_try!(raw.parse_exact(p::Connect::parse));
            f.insert("level", c.protocol_version().to_string());
            f.insert("clean", c.clean_session().to_string());
            f.insert("keep_alive", c.keep_alive().to_string());
            f.insert("client_id", format!("{:?}", c.client_id()));
            f.insert("username", opt(c.user_name()));
            f.insert("password", opt(c.password().map(hex)));
            f.insert(
                "will",
                opt(c.will_flag().then(|| {
                    (
                        c.will_topic().unwrap_or_default().to_owned(),
                        hex(c.will_payload().unwrap_or_default()),
                        c.will_qos() as u8,
                        c.will_retain(),
                    )
                })),
            );
        }
        2 => {
            let c = mpc_try!(raw.parse_exact(p::Connack::parse));
            f.insert("session_present", c.session_present().to_string());
            f.insert("code311", opt(Some(c.return_code() as u8)));
        }
        3 => {
            let (pb, _) = mpc_try!(p::Publish::parse(raw.flags(), mpc_publish_arc(&raw)));
            f.insert("dup", pb.dup().to_string());
            f.insert("qos", (pb.qos() as u8).to_string());
            f.insert("retain", pb.retain().to_string());
            f.insert("topic", format!("{:?}", pb.topic_name()));
            if let Some(id) = pb.packet_id() {
                f.insert("pkid", id.to_string());
            }
            f.insert("payload", hex(pb.payload().as_slice()));
        }
        4 => {
            let a = mpc_try!(raw.parse_exact(p::Puback::parse));
            f.insert("pkid", a.packet_id().to_string());
        }
        5 => {
            let a = mpc_try!(raw.parse_exact(p::Pubrec::parse));
            f.insert("pkid", a.packet_id().to_string());
        }
        6 => {
            let a = mpc_try!(raw.parse_exact(p::Pubrel::parse));
            f.insert("pkid", a.packet_id().to_string());
        }
        7 => {
            let a = mpc_try!(raw.parse_exact(p::Pubcomp::parse));
            f.insert("pkid", a.packet_id().to_string());
        }
        8 => {
            let sb = mpc_try!(raw.parse_exact(p::Subscribe::parse));
            f.insert("pkid", sb.packet_id().to_string());
            let filters: Vec<_> = sb
                .entries()
                .iter()
                .map(|e| (e.topic_filter().to_owned(), e.sub_opts().qos() as u8))
                .collect();
            f.insert("filters", format!("{filters:?}"));
        }
        9 => {
            let a = mpc_try!(raw.parse_exact(p::Suback::parse));
            f.insert("pkid", a.packet_id().to_string());
            let codes: Vec<u8> = a.return_codes().iter().map(|c| *c as u8).collect();
            f.insert("codes", format!("{codes:?}"));
        }
        10 => {
            let u = mpc_try!(raw.parse_exact(p::Unsubscribe::parse));
            f.insert("pkid", u.packet_id().to_string());
            let filters: Vec<_> = u.entries().iter().map(|e| e.as_str().to_owned()).collect();
            f.insert("filters", format!("{filters:?}"));
        }
        11 => {
            let a = mpc_try!(raw.parse_exact(p::Unsuback::parse));
            f.insert("pkid", a.packet_id().to_string());
        }
        12 => {
            mpc_try!(raw.parse_exact(p::Pingreq::parse));
        }
        13 => {
            mpc_try!(raw.parse_exact(p::Pingresp::parse));
        }
        14 => {
            mpc_try!(raw.parse_exact(p::Disconnect::parse));
        }
        _ => return Outcome::Reject("packet type".into()),
    }
    Outcome::Accept { len, fields: f }
}

fn mpc_v5(input: &[u8]) -> Outcome {
    use mpc::v5_0 as p;
    let (raw, len) = match mpc_frame(input) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let mut f = Fields::new();
    let t = raw.packet_type();
    f.insert("type", t.to_string());
    let empty = mpc::Properties::new();
    match t {
        1 => {
            let c = mpc_try!(raw.parse_exact(p::Connect::parse));
            f.insert("level", c.protocol_version().to_string());
            f.insert("clean", c.clean_start().to_string());
            f.insert("keep_alive", c.keep_alive().to_string());
            f.insert("client_id", format!("{:?}", c.client_id()));
            f.insert("username", opt(c.user_name()));
            f.insert("password", opt(c.password().map(hex)));
            f.insert(
                "will",
                opt(c.will_flag().then(|| {
                    (
                        c.will_topic().unwrap_or_default().to_owned(),
                        hex(c.will_payload().unwrap_or_default()),
                        c.will_qos() as u8,
                        c.will_retain(),
                    )
                })),
            );
            f.insert("props", mpc_props(c.props()));
            if c.will_flag() {
                f.insert("will_props", mpc_props(c.will_props()));
            }
        }
        2 => {
            let c = mpc_try!(raw.parse_exact(p::Connack::parse));
            f.insert("session_present", c.session_present().to_string());
            f.insert("code", (c.reason_code() as u8).to_string());
            f.insert("props", mpc_props(c.props()));
        }
        3 => {
            let (pb, _) = mpc_try!(p::Publish::parse(raw.flags(), mpc_publish_arc(&raw)));
            f.insert("dup", pb.dup().to_string());
            f.insert("qos", (pb.qos() as u8).to_string());
            f.insert("retain", pb.retain().to_string());
            f.insert("topic", format!("{:?}", pb.topic_name()));
            if let Some(id) = pb.packet_id() {
                f.insert("pkid", id.to_string());
            }
            f.insert("payload", hex(pb.payload().as_slice()));
            f.insert("props", mpc_props(pb.props()));
        }
        4 => {
            let a = mpc_try!(raw.parse_exact(p::Puback::parse));
            f.insert("pkid", a.packet_id().to_string());
            f.insert("code", a.reason_code().map_or(0, |c| c as u8).to_string());
            f.insert("props", mpc_props(a.props().as_ref().unwrap_or(&empty)));
        }
        5 => {
            let a = mpc_try!(raw.parse_exact(p::Pubrec::parse));
            f.insert("pkid", a.packet_id().to_string());
            f.insert("code", a.reason_code().map_or(0, |c| c as u8).to_string());
            f.insert("props", mpc_props(a.props().as_ref().unwrap_or(&empty)));
        }
        6 => {
            let a = mpc_try!(raw.parse_exact(p::Pubrel::parse));
            f.insert("pkid", a.packet_id().to_string());
            f.insert("code", a.reason_code().map_or(0, |c| c as u8).to_string());
            f.insert("props", mpc_props(a.props().as_ref().unwrap_or(&empty)));
        }
        7 => {
            let a = mpc_try!(raw.parse_exact(p::Pubcomp::parse));
            f.insert("pkid", a.packet_id().to_string());
            f.insert("code", a.reason_code().map_or(0, |c| c as u8).to_string());
            f.insert("props", mpc_props(a.props().as_ref().unwrap_or(&empty)));
        }
        8 => {
            let sb = mpc_try!(raw.parse_exact(p::Subscribe::parse));
            f.insert("pkid", sb.packet_id().to_string());
            let filters: Vec<_> = sb
                .entries()
                .iter()
                .map(|e| (e.topic_filter().to_owned(), e.sub_opts().qos() as u8))
                .collect();
            f.insert("filters", format!("{filters:?}"));
            let opts: Vec<_> = sb
                .entries()
                .iter()
                .map(|e| {
                    (
                        e.sub_opts().nl(),
                        e.sub_opts().rap(),
                        e.sub_opts().rh() as u8,
                    )
                })
                .collect();
            f.insert("options", format!("{opts:?}"));
            f.insert("props", mpc_props(sb.props()));
        }
        9 => {
            let a = mpc_try!(raw.parse_exact(p::Suback::parse));
            f.insert("pkid", a.packet_id().to_string());
            let codes: Vec<u8> = a.reason_codes().iter().map(|c| *c as u8).collect();
            f.insert("codes", format!("{codes:?}"));
            f.insert("props", mpc_props(a.props()));
        }
        10 => {
            let u = mpc_try!(raw.parse_exact(p::Unsubscribe::parse));
            f.insert("pkid", u.packet_id().to_string());
            let filters: Vec<_> = u.entries().iter().map(|e| e.as_str().to_owned()).collect();
            f.insert("filters", format!("{filters:?}"));
            f.insert("props", mpc_props(u.props()));
        }
        11 => {
            let a = mpc_try!(raw.parse_exact(p::Unsuback::parse));
            f.insert("pkid", a.packet_id().to_string());
            let codes: Vec<u8> = a.reason_codes().iter().map(|c| *c as u8).collect();
            f.insert("codes", format!("{codes:?}"));
            f.insert("props", mpc_props(a.props()));
        }
        12 => {
            mpc_try!(raw.parse_exact(p::Pingreq::parse));
        }
        13 => {
            mpc_try!(raw.parse_exact(p::Pingresp::parse));
        }
        14 => {
            let d = mpc_try!(raw.parse_exact(p::Disconnect::parse));
            f.insert("code", d.reason_code().map_or(0, |c| c as u8).to_string());
            f.insert("props", mpc_props(d.props().as_ref().unwrap_or(&empty)));
        }
        15 => {
            let a = mpc_try!(raw.parse_exact(p::Auth::parse));
            f.insert("code", a.reason_code().map_or(0, |c| c as u8).to_string());
            f.insert("props", mpc_props(a.props().as_ref().unwrap_or(&empty)));
        }
        _ => return Outcome::Reject("packet type".into()),
    }
    Outcome::Accept { len, fields: f }
}

// ---------------------------------------------------------------- classifier

/// Whether the input holds the whole first packet (by its fixed header).
fn frame_complete(input: &[u8]) -> bool {
    body(input).is_some()
}

/// The version the packet was decoded as (a CONNECT by the level it names).
fn effective_v5(d: &Disagreement) -> bool {
    connect_level(d.input).map_or(d.v5, |l| l == 5)
}

/// A 5.0 PUBLISH body that ends right after the topic (and packet
/// identifier): no Property Length at all.
fn publish_without_property_length(input: &[u8]) -> bool {
    let Some((first, b)) = body(input) else {
        return false;
    };
    if first >> 4 != 3 || b.len() < 2 {
        return false;
    }
    let qos = (first >> 1) & 3;
    let topic = usize::from(u16::from_be_bytes([b[0], b[1]]));
    b.len() == 2 + topic + if qos > 0 { 2 } else { 0 }
}

/// The CONNECT password, when the input is a CONNECT the decoders read.
fn connect_password_not_utf8(p: &Outcome) -> bool {
    let Outcome::Accept { fields, .. } = p else {
        return false;
    };
    let Some(pw) = fields.get("password") else {
        return false;
    };
    // Stored as Some("<hex>"): decode the hex and test it.
    let h = pw.trim_start_matches("Some(\"").trim_end_matches("\")");
    if h == "None" || h.len() % 2 != 0 {
        return false;
    }
    let bytes: Vec<u8> = (0..h.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
        .collect();
    std::str::from_utf8(&bytes).is_err()
}

/// The input with the one defect of `class` repaired, for the classes
/// where the peer ignores a rule of the packet's framing or flags: the
/// rest of the packet must then compare equal (or be explained in turn).
fn repair(class: &str, d: &Disagreement) -> Option<Vec<u8>> {
    let (first, h, len) = fixed_header(d.input)?;
    let b = d.input.get(h..h + len)?;
    let rest = &d.input[h + len..];
    let reframe = |first: u8, body: &[u8]| {
        let mut out = vec![first];
        varint(body.len() as u32, &mut out);
        out.extend_from_slice(body);
        out.extend_from_slice(rest);
        out
    };
    match class {
        "reserved-header-flags" => {
            let ty = first >> 4;
            let flags = if matches!(ty, 6 | 8 | 10) { 0b0010 } else { 0 };
            Some(reframe((ty << 4) | flags, b))
        }
        "dup-with-qos0" => Some(reframe(first & !0x08, b)),
        // Ours first, as the packet would be without the extra bytes: the
        // longest prefix of the body that ours accepts.
        "trailing-bytes" => (0..b.len())
            .rev()
            .map(|k| reframe(first, &b[..k]))
            .find(|r| matches!(ours(d.v5, r).0, Outcome::Accept { .. })),
        // The same Remaining Length, in the fewest bytes.
        "non-minimal-variable-integer"
            if matches!(d.our_err, Some(Error::MalformedRemainingLength)) =>
        {
            Some(reframe(first, b))
        }
        "connack-flags" => {
            let mut body = b.to_vec();
            // Reserved bits first; then Session Present with a failure code.
            if body[0] & 0xFE != 0 {
                body[0] &= 0x01;
            } else {
                body[0] = 0;
            }
            Some(reframe(first, &body))
        }
        "connect-reserved-flag" | "will-flags" | "password-without-user-name" => {
            let mut body = b.to_vec();
            let name = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
            let flags = body.get_mut(2 + name + 1)?;
            match class {
                "connect-reserved-flag" => *flags &= !0x01,
                // Without the Will Flag: no Will QoS, no Will Retain.
                "will-flags" if *flags & 0x04 == 0 => *flags &= !0x38,
                "password-without-user-name" => *flags &= !0x40,
                _ => return None,
            }
            Some(reframe(first, &body))
        }
        _ => None,
    }
}

/// Names the known disagreement class `d` belongs to (a row of
/// `fuzz/DISAGREEMENTS.md`, same name), or `None` for an unexplained one.
/// Each rule names the peer, both verdicts and what in the input makes the
/// difference; our error variant is the rule ours applied first.
fn classify(d: &Disagreement) -> Option<&'static str> {
    use Error as E;
    let (ours, theirs) = (d.ours, d.theirs);
    let ty = d.input.first().map_or(0, |b| b >> 4);
    let v5 = effective_v5(d);
    let err = d.our_err;
    let theirs_accept = matches!(theirs, Outcome::Accept { .. });
    let theirs_incomplete = matches!(theirs, Outcome::Incomplete);

    // Framing: we judge the fixed header as soon as it is complete (packet
    // type, flags, Remaining Length form and size); the peers first wait
    // for the whole frame. Only when the frame is not all there.
    if matches!(ours, Outcome::Reject(_)) && theirs_incomplete && !frame_complete(d.input) {
        return Some("early-header-reject");
    }
    // MQTT 3.1 (protocol name "MQIsdp", level 3): we accept it, as
    // mosquitto, HiveMQ and EMQX do; both peers speak 3.1.1 and 5.0 only.
    if ty == 1
        && !theirs_accept
        && matches!(ours, Outcome::Accept { fields, .. }
            if fields.get("level").is_some_and(|l| l == "3"))
    {
        return Some("mqtt31-connect");
    }
    // rumqttc 5.0 reads a variable byte integer (a Property Length) past
    // the end of a complete frame and asks for more bytes: the short forms
    // of the 5.0 acknowledgements and DISCONNECT, or a cut property block.
    if d.peer == Peer::Rumqttc && v5 && theirs_incomplete && frame_complete(d.input) {
        return Some("rumqttc-v5-incomplete-inside-frame");
    }
    if d.peer == Peer::Rumqttc
        && v5
        && ty == 15
        && matches!(theirs, Outcome::Reject(r) if r.starts_with("InvalidPacketType(15)"))
    {
        return Some("rumqttc-v5-no-auth");
    }
    if d.peer == Peer::Rumqttc
        && v5
        && ty == 14
        && matches!(ours, Outcome::Accept { len: 2, .. })
        && matches!(theirs, Outcome::Reject(r) if r == "PayloadRequired")
    {
        return Some("rumqttc-v5-disconnect-short-form");
    }
    if d.peer == Peer::Rumqttc
        && ty == 1
        && matches!(theirs, Outcome::Reject(r) if r == "TopicNotUtf8")
        && connect_password_not_utf8(ours)
    {
        return Some("rumqttc-binary-password");
    }
    // rumqttc keeps user name and password as strings where "" means
    // absent: a present but empty one is lost. Equal once ours is read the
    // same way.
    if d.peer == Peer::Rumqttc
        && ty == 1
        && (d.diff.starts_with("field username") || d.diff.starts_with("field password"))
    {
        let blank = |o: &Outcome| match o {
            Outcome::Accept { len, fields } => {
                let mut f = fields.clone();
                for k in ["username", "password"] {
                    if f.get(k).is_some_and(|v| v == "Some(\"\")") {
                        f.insert(k, "None".into());
                    }
                }
                Outcome::Accept {
                    len: *len,
                    fields: f,
                }
            }
            other => other.clone(),
        };
        if difference(&blank(ours), &blank(theirs)).is_none() {
            return Some("rumqttc-empty-login");
        }
    }
    // 0x8C Bad authentication method in a DISCONNECT: Table 2-6 lists it
    // for CONNACK and DISCONNECT, the DISCONNECT table (3.14.2.1) does not.
    if v5
        && ty == 14
        && matches!(theirs, Outcome::Reject(_))
        && matches!(ours, Outcome::Accept { fields, .. } if fields.get("code").is_some_and(|c| c == "140"))
    {
        return Some("disconnect-0x8c");
    }
    if d.peer == Peer::Mpc
        && v5
        && ty == 15
        && matches!(theirs, Outcome::Reject(r) if r == "ProtocolError")
        && matches!(ours, Outcome::Accept { fields, .. }
            if fields.get("code").is_some_and(|c| c != "0")
            && fields.get("props").is_some_and(|p| !p.contains("\"15")))
    {
        return Some("mpc-auth-without-method");
    }
    // rumqttc 5.0 counts a Subscription Identifier (0x0B) in a property
    // block as longer than it is: it stops reading properties early and
    // hands the rest of the block over as payload (PUBLISH) or reads on
    // from the wrong place (SUBSCRIBE); properties after it go unread.
    if d.peer == Peer::Rumqttc
        && v5
        && (ty == 3 || ty == 8)
        && body(d.input).is_some_and(|(_, b)| b.contains(&0x0B))
    {
        let field = d.diff.starts_with("field payload") || d.diff.starts_with("field props");
        let unread = theirs_accept
            && matches!(
                err,
                Some(
                    E::UnknownProperty(_)
                        | E::PropertyNotAllowed { .. }
                        | E::DuplicateProperty(_)
                        | E::InvalidPropertyValue(_)
                )
            );
        if field || unread {
            return Some("rumqttc-subscription-identifier-length");
        }
    }
    if !theirs_accept {
        return None;
    }
    // The peer accepts what we reject: it does not apply the rule ours
    // applied first.
    Some(match (d.peer, err?) {
        (_, E::ReservedFlags { .. }) => "reserved-header-flags",
        (_, E::TrailingBytes) => "trailing-bytes",
        (_, E::NullCharacter) => "null-character",
        (_, E::InvalidUtf8) => "invalid-utf8",
        (_, E::InvalidTopicName(_)) => "invalid-topic-name",
        (_, E::InvalidTopicFilter(_)) => "invalid-topic-filter",
        (_, E::EmptyTopicWithoutAlias) => "empty-topic",
        (_, E::InvalidPacketIdentifier) => "packet-identifier-zero",
        (_, E::DupWithQoS0) => "dup-with-qos0",
        (_, E::InvalidSubscriptionOptions) => "subscription-options-reserved",
        (_, E::ReservedConnectFlag) => "connect-reserved-flag",
        (_, E::InvalidWillFlags) => "will-flags",
        (_, E::PasswordWithoutUserName) => "password-without-user-name",
        (_, E::InvalidConnAckFlags) => "connack-flags",
        (_, E::EmptyUnsubscribe) => "empty-unsubscribe",
        (_, E::MalformedRemainingLength | E::MalformedVariableInteger) if v5 => {
            "non-minimal-variable-integer"
        }
        (_, E::DuplicateProperty(_)) if v5 => "duplicate-property",
        (_, E::InvalidPropertyValue(_)) if v5 => "property-value",
        (Peer::Rumqttc, E::Truncated) if v5 => "rumqttc-property-length-not-enforced",
        (Peer::Mpc, E::Truncated) if v5 && publish_without_property_length(d.input) => {
            "mpc-publish-without-property-length"
        }
        _ => return None,
    })
}
