//! Client benchmark: an in-memory loop of publish → scripted acks, for
//! libmqtt's sans-IO [`Client`] and for rumqttc's `MqttState` (its state
//! machine without the tokio event loop), MQTT 3.1.1 and 5.0, QoS 0, 1, 2.
//!
//! One [`PublishLoop::run_batch`] call is the unit both
//! `benches/client.rs` (Criterion, messages/s) and `benches/client_alloc.rs`
//! (a counting allocator, heap allocations per message) measure:
//!
//! 1. publish [`BATCH`] messages (64-byte payload, 16-byte topic
//!    [`fx::TOPIC`]) from a template built once, cloned per publish;
//! 2. drain the bytes to send into a reused 64 KiB buffer;
//! 3. QoS 1: feed the batch's PUBACKs, pre-encoded, as one input chunk;
//!    QoS 2: feed the PUBRECs, drain the PUBRELs, feed the PUBCOMPs;
//!    drain again;
//! 4. drain the events (completions; rumqttc also reports every outgoing
//!    and incoming packet).
//!
//! The window (max inflight) is [`BATCH`] on both sides, so a whole batch
//! is in flight before its acks arrive, the way a fast broker's acks come
//! back in bulk.
//!
//! # Fairness
//!
//! * Both sides do bytes in and bytes out: rumqttc's state machine returns
//!   packet values, so its loop encodes them with `Packet::write` into a
//!   reused `BytesMut` and decodes the acks with `Packet::read`, exactly
//!   what its event loop (`framed.rs`) does around the state; libmqtt's
//!   client encodes and decodes inside. Both copy their output into the
//!   same 64 KiB buffer (our `poll_transmit`; a chunked copy + `clear` of
//!   rumqttc's `BytesMut`) and both copy the ack bytes in once (our
//!   `handle_input`; `extend_from_slice` into rumqttc's read `BytesMut`).
//! * Each side publishes its own idiomatic owned message, cloned from a
//!   template per publish: libmqtt's topic and payload are `Bytes` over
//!   static data (cloning them neither counts references nor allocates; an
//!   Arc-backed `Bytes` would cost one atomic increment each); rumqttc's
//!   3.1.1 `Publish` has a `String` topic, so its clone allocates — that is
//!   rumqttc's API, every rumqttc caller pays it (its 5.0 topic is `Bytes`).
//! * Packet ids: rumqttc hands out 1..=max_inflight in a cycle, so its acks
//!   are the same [`BATCH`] every time; libmqtt's ids advance through
//!   1..=65,535, so its acks are sliced from a table of all 65,535
//!   pre-encoded acks, starting at the id its first publish returned.
//! * CONNACK is the minimal one (no properties: no server limits, no topic
//!   alias), read once outside timing.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use mqtt_core::client::{Client, ClientOptions, Event};
use mqtt_core::codec::{
    PacketRef, ProtocolVersion, PubAck, PubComp, PubRec, Publish, QoS, TopicName,
};

use crate::fixtures::{self as fx, Version};

/// Messages per batch (one Criterion iteration).
pub const BATCH: usize = 1000;
/// The reused buffer output is drained into (a typical socket write).
pub const DRAIN_BUF: usize = 64 * 1024;
/// Payload bytes per message.
pub const PAYLOAD: usize = fx::SMALL_PAYLOAD;

/// What one batch did, for the outside-timing checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Bytes drained from the client.
    pub bytes_out: usize,
    /// Publishes reported complete (QoS 1 and 2).
    pub completed: usize,
    /// All events drained.
    pub events: usize,
}

/// One implementation's publish → ack loop.
pub trait PublishLoop {
    /// Column name in the report.
    const NAME: &'static str;
    /// A connected client (CONNACK already read), ready for batches.
    fn new(version: Version, qos: u8, batch: usize) -> Self;
    /// One batch, see the module docs.
    fn run_batch(&mut self) -> BatchOutcome;
    /// Messages still in flight (0 after every batch).
    fn inflight(&self) -> usize;
}

fn qos_of(qos: u8) -> QoS {
    match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn pv(version: Version) -> ProtocolVersion {
    match version {
        Version::V311 => ProtocolVersion::V311,
        Version::V5 => ProtocolVersion::V5,
    }
}

/// Copies `out` into `buf` in `buf`-sized chunks and clears it, like a
/// driver writing a `BytesMut` to a socket; returns the bytes copied.
fn drain_bytes_mut(out: &mut BytesMut, buf: &mut [u8]) -> usize {
    let total = out.len();
    for chunk in out.chunks(buf.len()) {
        buf[..chunk.len()].copy_from_slice(chunk);
        black_box(&mut *buf);
    }
    out.clear();
    total
}

// ----- libmqtt ---------------------------------------------------------------

/// libmqtt's [`Client`].
pub struct Ours {
    client: Client,
    qos: QoS,
    batch: usize,
    template: Publish,
    /// PUBACK (QoS 1) or PUBREC (QoS 2) for packet ids 1..=65,535, `ack_len`
    /// bytes each, id `i` at `(i - 1) * ack_len`.
    acks: Vec<u8>,
    /// PUBCOMP for ids 1..=65,535 (QoS 2).
    comps: Vec<u8>,
    ack_len: usize,
    buf: Box<[u8]>,
    now: u64,
}

/// The 65,535 acks of one kind, back to back; and their (common) length.
fn ack_table(version: ProtocolVersion, make: impl Fn(u16) -> Vec<u8>) -> (Vec<u8>, usize) {
    let len = make(1).len();
    let mut table = Vec::with_capacity(len * usize::from(u16::MAX));
    for id in 1..=u16::MAX {
        let b = make(id);
        assert_eq!(b.len(), len, "{version:?}: acks differ in length");
        table.extend_from_slice(&b);
    }
    (table, len)
}

fn encode(version: ProtocolVersion, p: PacketRef<'_>) -> Vec<u8> {
    let mut b = BytesMut::new();
    p.encode(version, &mut b).expect("encode ack");
    b.to_vec()
}

impl Ours {
    /// The template message: topic and payload are `Bytes` built from
    /// `&'static` data, so its clone never allocates (a `Vec`-backed
    /// `Bytes` allocates its shared header on its first clone only).
    pub fn template(qos: QoS) -> Publish {
        let payload: &'static [u8] = Box::leak(fx::payload(PAYLOAD).into_boxed_slice());
        let mut p = Publish::new(fx::TOPIC, Bytes::from_static(payload)).expect("publish");
        p.topic = TopicName::from_static(fx::TOPIC).expect("topic");
        p.with_qos(qos, 0)
    }

    /// Feeds the acks for the `n` ids from `first` (wrapping after 65,535).
    fn feed(client: &mut Client, now: u64, table: &[u8], len: usize, first: u16, n: usize) {
        let start = usize::from(first) - 1;
        let end = start + n;
        let max = usize::from(u16::MAX);
        if end <= max {
            client.handle_input(now, &table[start * len..end * len]);
        } else {
            client.handle_input(now, &table[start * len..]);
            client.handle_input(now, &table[..(end - max) * len]);
        }
    }

    fn drain(&mut self) -> usize {
        let mut total = 0;
        loop {
            let n = self.client.poll_transmit(&mut self.buf);
            if n == 0 {
                return total;
            }
            black_box(&self.buf[..n]);
            total += n;
        }
    }

    /// The client, for the allocation counter's extra checks.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl PublishLoop for Ours {
    const NAME: &'static str = "libmqtt";

    fn new(version: Version, qos: u8, batch: usize) -> Self {
        let version = pv(version);
        let qos = qos_of(qos);
        let options = ClientOptions::new(version, "bench")
            .expect("options")
            .with_max_inflight(u16::try_from(batch).expect("batch fits u16"));
        let mut client = Client::new(options);
        client.connect(0).expect("connect");
        let mut buf = vec![0u8; DRAIN_BUF].into_boxed_slice();
        while client.poll_transmit(&mut buf) > 0 {}
        let connack: &[u8] = if version.is_v5() {
            &[0x20, 0x03, 0x00, 0x00, 0x00]
        } else {
            &[0x20, 0x02, 0x00, 0x00]
        };
        client.handle_input(0, connack);
        match client.poll_event() {
            Some(Event::Connected(_)) => {}
            other => panic!("expected Connected, got {other:?}"),
        }
        let (acks, ack_len) = match qos {
            QoS::AtMostOnce => (Vec::new(), 0),
            QoS::AtLeastOnce => ack_table(version, |id| {
                encode(version, PacketRef::PubAck(PubAck::new(id).as_view()))
            }),
            QoS::ExactlyOnce => ack_table(version, |id| {
                encode(version, PacketRef::PubRec(PubRec::new(id).as_view()))
            }),
        };
        let comps = if qos == QoS::ExactlyOnce {
            ack_table(version, |id| {
                encode(version, PacketRef::PubComp(PubComp::new(id).as_view()))
            })
            .0
        } else {
            Vec::new()
        };
        Ours {
            client,
            qos,
            batch,
            template: Self::template(qos),
            acks,
            comps,
            ack_len,
            buf,
            now: 1,
        }
    }

    fn run_batch(&mut self) -> BatchOutcome {
        self.now += 1;
        let now = self.now;
        let mut out = BatchOutcome::default();
        let first = self
            .client
            .publish(now, self.template.clone())
            .expect("publish");
        for _ in 1..self.batch {
            black_box(
                self.client
                    .publish(now, self.template.clone())
                    .expect("publish"),
            );
        }
        out.bytes_out += self.drain();
        if self.qos != QoS::AtMostOnce {
            let first = first.packet_id().expect("packet id");
            Self::feed(
                &mut self.client,
                now,
                &self.acks,
                self.ack_len,
                first,
                self.batch,
            );
            out.bytes_out += self.drain();
            if self.qos == QoS::ExactlyOnce {
                Self::feed(
                    &mut self.client,
                    now,
                    &self.comps,
                    self.ack_len,
                    first,
                    self.batch,
                );
                out.bytes_out += self.drain();
            }
        }
        while let Some(e) = self.client.poll_event() {
            out.events += 1;
            if let Event::PublishCompleted { reason_code, .. } = &e {
                out.completed += usize::from(!reason_code.is_error());
            }
            black_box(e);
        }
        out
    }

    fn inflight(&self) -> usize {
        self.client.stats().inflight as usize
    }
}

// ----- rumqttc ---------------------------------------------------------------

/// rumqttc 0.25's state machines: `rumqttc::MqttState` (3.1.1) and
/// `rumqttc::v5::MqttState` (5.0), with `handle_outgoing_packet` /
/// `handle_incoming_packet` and the `Packet::write` / `Packet::read` its
/// event loop wraps them in.
// One per benchmark, never moved in a timed loop: the size difference is moot.
#[allow(clippy::large_enum_variant)]
pub enum Rumqttc {
    V4(RumqttcV4),
    V5(RumqttcV5),
}

pub struct RumqttcV4 {
    state: rumqttc::MqttState,
    qos: u8,
    batch: usize,
    template: rumqttc::mqttbytes::v4::Publish,
    acks: Vec<u8>,
    comps: Vec<u8>,
    input: BytesMut,
    out: BytesMut,
    buf: Box<[u8]>,
}

pub struct RumqttcV5 {
    state: rumqttc::v5::MqttState,
    qos: u8,
    batch: usize,
    template: rumqttc::v5::mqttbytes::v5::Publish,
    acks: Vec<u8>,
    comps: Vec<u8>,
    input: BytesMut,
    out: BytesMut,
    buf: Box<[u8]>,
}

const RUMQTTC_MAX: usize = fx::MAX_DECODE;

impl RumqttcV4 {
    fn new(qos: u8, batch: usize) -> Self {
        use rumqttc::mqttbytes::v4::{Packet, PubAck, PubComp, PubRec, Publish};
        use rumqttc::mqttbytes::QoS as Q;
        let q = match qos {
            0 => Q::AtMostOnce,
            1 => Q::AtLeastOnce,
            _ => Q::ExactlyOnce,
        };
        let table = |make: &dyn Fn(u16) -> Packet| {
            let mut b = BytesMut::new();
            for id in 1..=u16::try_from(batch).expect("batch fits u16") {
                make(id).write(&mut b, RUMQTTC_MAX).expect("encode");
            }
            b.to_vec()
        };
        let acks = match qos {
            0 => Vec::new(),
            1 => table(&|id| Packet::PubAck(PubAck::new(id))),
            _ => table(&|id| Packet::PubRec(PubRec::new(id))),
        };
        let comps = if qos == 2 {
            table(&|id| Packet::PubComp(PubComp::new(id)))
        } else {
            Vec::new()
        };
        RumqttcV4 {
            state: rumqttc::MqttState::new(u16::try_from(batch).expect("batch"), false),
            qos,
            batch,
            template: Publish::new(fx::TOPIC, q, fx::payload(PAYLOAD)),
            acks,
            comps,
            input: BytesMut::with_capacity(64 * 1024),
            out: BytesMut::with_capacity(128 * 1024),
            buf: vec![0u8; DRAIN_BUF].into_boxed_slice(),
        }
    }

    fn feed(&mut self, acks_not_comps: bool) {
        use rumqttc::mqttbytes::v4::Packet;
        let src = if acks_not_comps {
            &self.acks
        } else {
            &self.comps
        };
        self.input.extend_from_slice(src);
        while !self.input.is_empty() {
            let p = Packet::read(&mut self.input, RUMQTTC_MAX).expect("decode ack");
            if let Some(o) = self.state.handle_incoming_packet(p).expect("ack") {
                o.write(&mut self.out, RUMQTTC_MAX).expect("encode");
            }
        }
    }

    fn run_batch(&mut self) -> BatchOutcome {
        let mut out = BatchOutcome::default();
        for _ in 0..self.batch {
            let req = rumqttc::Request::Publish(self.template.clone());
            if let Some(p) = self.state.handle_outgoing_packet(req).expect("publish") {
                p.write(&mut self.out, RUMQTTC_MAX).expect("encode");
            }
        }
        out.bytes_out += drain_bytes_mut(&mut self.out, &mut self.buf);
        if self.qos > 0 {
            self.feed(true);
            out.bytes_out += drain_bytes_mut(&mut self.out, &mut self.buf);
            if self.qos == 2 {
                self.feed(false);
                out.bytes_out += drain_bytes_mut(&mut self.out, &mut self.buf);
            }
        }
        while let Some(e) = self.state.events.pop_front() {
            out.events += 1;
            let done = match &e {
                rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) => self.qos == 1,
                rumqttc::Event::Incoming(rumqttc::Packet::PubComp(_)) => true,
                _ => false,
            };
            out.completed += usize::from(done);
            black_box(e);
        }
        out
    }
}

impl RumqttcV5 {
    fn new(qos: u8, batch: usize) -> Self {
        use rumqttc::v5::mqttbytes::v5::{Packet, PubAck, PubComp, PubRec, Publish};
        use rumqttc::v5::mqttbytes::QoS as Q;
        let q = match qos {
            0 => Q::AtMostOnce,
            1 => Q::AtLeastOnce,
            _ => Q::ExactlyOnce,
        };
        let table = |make: &dyn Fn(u16) -> Packet| {
            let mut b = BytesMut::new();
            for id in 1..=u16::try_from(batch).expect("batch fits u16") {
                make(id).write(&mut b, None).expect("encode");
            }
            b.to_vec()
        };
        let acks = match qos {
            0 => Vec::new(),
            1 => table(&|id| Packet::PubAck(PubAck::new(id, None))),
            _ => table(&|id| Packet::PubRec(PubRec::new(id, None))),
        };
        let comps = if qos == 2 {
            table(&|id| Packet::PubComp(PubComp::new(id, None)))
        } else {
            Vec::new()
        };
        RumqttcV5 {
            state: rumqttc::v5::MqttState::new(u16::try_from(batch).expect("batch"), false),
            qos,
            batch,
            template: Publish::new(fx::TOPIC, q, fx::payload(PAYLOAD), None),
            acks,
            comps,
            input: BytesMut::with_capacity(64 * 1024),
            out: BytesMut::with_capacity(128 * 1024),
            buf: vec![0u8; DRAIN_BUF].into_boxed_slice(),
        }
    }

    fn feed(&mut self, acks_not_comps: bool) {
        use rumqttc::v5::mqttbytes::v5::Packet;
        let src = if acks_not_comps {
            &self.acks
        } else {
            &self.comps
        };
        self.input.extend_from_slice(src);
        while !self.input.is_empty() {
            let p = Packet::read(&mut self.input, None).expect("decode ack");
            if let Some(o) = self.state.handle_incoming_packet(p).expect("ack") {
                o.write(&mut self.out, None).expect("encode");
            }
        }
    }

    fn run_batch(&mut self) -> BatchOutcome {
        use rumqttc::v5::mqttbytes::v5::Packet;
        let mut out = BatchOutcome::default();
        for _ in 0..self.batch {
            let req = rumqttc::v5::Request::Publish(self.template.clone());
            if let Some(p) = self.state.handle_outgoing_packet(req).expect("publish") {
                p.write(&mut self.out, None).expect("encode");
            }
        }
        out.bytes_out += drain_bytes_mut(&mut self.out, &mut self.buf);
        if self.qos > 0 {
            self.feed(true);
            out.bytes_out += drain_bytes_mut(&mut self.out, &mut self.buf);
            if self.qos == 2 {
                self.feed(false);
                out.bytes_out += drain_bytes_mut(&mut self.out, &mut self.buf);
            }
        }
        while let Some(e) = self.state.events.pop_front() {
            out.events += 1;
            let done = match &e {
                rumqttc::v5::Event::Incoming(Packet::PubAck(_)) => self.qos == 1,
                rumqttc::v5::Event::Incoming(Packet::PubComp(_)) => true,
                _ => false,
            };
            out.completed += usize::from(done);
            black_box(e);
        }
        out
    }
}

impl PublishLoop for Rumqttc {
    const NAME: &'static str = "rumqttc";

    fn new(version: Version, qos: u8, batch: usize) -> Self {
        match version {
            Version::V311 => Rumqttc::V4(RumqttcV4::new(qos, batch)),
            Version::V5 => Rumqttc::V5(RumqttcV5::new(qos, batch)),
        }
    }

    fn run_batch(&mut self) -> BatchOutcome {
        match self {
            Rumqttc::V4(l) => l.run_batch(),
            Rumqttc::V5(l) => l.run_batch(),
        }
    }

    fn inflight(&self) -> usize {
        match self {
            Rumqttc::V4(l) => usize::from(l.state.inflight()),
            Rumqttc::V5(l) => usize::from(l.state.inflight()),
        }
    }
}

/// The bytes one message puts on the wire in `version` at `qos` (PUBLISH,
/// plus PUBREL for QoS 2), for the checks.
pub fn wire_bytes_per_message(version: Version, qos: u8) -> usize {
    let version = pv(version);
    let mut p = Ours::template(qos_of(qos));
    if qos > 0 {
        p.packet_id = 1;
    }
    let publish = PacketRef::Publish(p.as_view())
        .encoded_len(version)
        .expect("len");
    let rel = if qos == 2 {
        PacketRef::PubRel(mqtt_core::codec::PubRel::new(1).as_view())
            .encoded_len(version)
            .expect("len")
    } else {
        0
    };
    publish + rel
}

/// Runs `batches` batches and checks, outside timing, that every one did
/// the whole exchange: every message completed, nothing left in flight,
/// the expected bytes out.
pub fn check<L: PublishLoop>(l: &mut L, version: Version, qos: u8, batch: usize, batches: usize) {
    let per = wire_bytes_per_message(version, qos);
    for i in 0..batches {
        let o = l.run_batch();
        let name = L::NAME;
        assert_eq!(
            o.bytes_out,
            batch * per,
            "{name} {version:?} QoS {qos} batch {i}: bytes out"
        );
        if qos > 0 {
            assert_eq!(
                o.completed, batch,
                "{name} {version:?} QoS {qos} batch {i}: completions"
            );
        }
        assert_eq!(
            l.inflight(),
            0,
            "{name} {version:?} QoS {qos} batch {i}: inflight"
        );
    }
}

/// The cases: (id suffix, version, QoS), in report order.
pub const CASES: [(&str, Version, u8); 6] = [
    ("qos0_v311", Version::V311, 0),
    ("qos0_v5", Version::V5, 0),
    ("qos1_v311", Version::V311, 1),
    ("qos1_v5", Version::V5, 1),
    ("qos2_v311", Version::V311, 2),
    ("qos2_v5", Version::V5, 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_loops_do_the_whole_exchange() {
        for (_, version, qos) in CASES {
            // Enough batches to wrap libmqtt's packet ids (65,535).
            check(&mut Ours::new(version, qos, BATCH), version, qos, BATCH, 70);
            check(
                &mut Rumqttc::new(version, qos, BATCH),
                version,
                qos,
                BATCH,
                3,
            );
        }
    }
}
