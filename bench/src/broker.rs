//! Broker engine benchmarks (`benches/broker_engine.rs`), in memory.
//!
//! # (a) Routing: `SubscriptionTable::route` with 100,000 subscriptions
//!
//! [`routing_subscriptions`]: 1,000 subscribers with 100 subscriptions each,
//! over three kinds of filter:
//!
//! * 60,000 exact: `site/{s}/sensor/{j}` for 1,000 sites and sensors
//!   0..60, each subscribed by client `s`;
//! * 30,000 single-level wildcards: `site/+/sensor/{j}` for sensors
//!   0..30,000, each by client `j % 1000`;
//! * 10,000 multi-level wildcards: `site/{s}/#` for 1,000 sites, each by ten
//!   clients.
//!
//! [`HIT_TOPIC`] matches 12 of them (one exact, one `+`, ten `#`), 12
//! distinct clients; [`MISS_TOPIC`] matches none but walks the `site` and
//! `+` branches of the trie.
//!
//! The peer is [`LinearTable`]: the brute force a broker without an index
//! does, every (client, filter) tested with rumqttc's public matcher
//! `rumqttc::mqttbytes::matches`, the matches sorted and merged per client
//! (highest QoS). It reuses its output vector; ours allocates its result
//! (`route` returns a `Vec`), the API the engine calls.
//!
//! rumqttd's router was not used as the peer: it is not a library call
//! (it runs as a thread behind channels and needs its async runtime), so
//! there is no way to time its matching alone without writing much of it
//! again.
//!
//! # (b) The whole engine: `Broker` fan-out
//!
//! [`Fanout`]: a [`Broker`] with 1,000 connected subscribers (raw CONNECT
//! and SUBSCRIBE bytes through `handle_input`, MQTT 5.0), `fanout` of them
//! subscribed to [`FAN_TOPIC`] and the others to a topic of their own, and
//! one publisher. One [`Fanout::publish_once`] feeds one PUBLISH (64-byte
//! payload, QoS 0 or 1) to the publisher's connection, drains every
//! connection's output with `poll_output` (as a driver does), counts the
//! PUBLISH packets delivered and, for QoS 1, feeds each subscriber's PUBACK
//! back (and reads the publisher's PUBACK).

use bytes::{Bytes, BytesMut};
use mqtt_core::broker::{
    Broker, BrokerLimits, BrokerOptions, ClientKey, ConnectionId, Subscription, SubscriptionTable,
};
use mqtt_core::codec::{
    Connect, PacketRef, ProtocolVersion, Publish, QoS, Subscribe, SubscriptionOptions,
};

/// Subscribers in both benchmarks.
pub const CLIENTS: u32 = 1000;
/// Subscriptions in the routing benchmark.
pub const FILTERS: usize = 100_000;
/// Exact filters `site/{s}/sensor/{j}` (sensors `0..EXACT / CLIENTS`).
pub const EXACT: usize = 60_000;
/// Filters `site/+/sensor/{j}`, `j` in `0..PLUS`.
pub const PLUS: usize = 30_000;
/// Filters `site/{s}/#`, ten clients per site.
pub const HASH: usize = 10_000;
/// A topic matched by 12 subscriptions of 12 clients.
pub const HIT_TOPIC: &str = "site/42/sensor/7";
/// The clients [`HIT_TOPIC`] reaches, ascending.
pub const HIT_CLIENTS: [u32; 12] = [7, 42, 420, 421, 422, 423, 424, 425, 426, 427, 428, 429];
/// A topic no subscription matches.
pub const MISS_TOPIC: &str = "site/4242/sensor/99999";

/// The 100,000 (client, filter, maximum QoS) subscriptions of the routing
/// benchmark; see the module docs.
pub fn routing_subscriptions() -> Vec<(u32, String, QoS)> {
    let qos = |n: usize| {
        if n.is_multiple_of(2) {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        }
    };
    let mut out = Vec::with_capacity(FILTERS);
    let clients = CLIENTS as usize;
    for e in 0..EXACT {
        let (s, j) = (e % clients, e / clients);
        out.push((s as u32, format!("site/{s}/sensor/{j}"), qos(e)));
    }
    for j in 0..PLUS {
        out.push(((j % clients) as u32, format!("site/+/sensor/{j}"), qos(j)));
    }
    for h in 0..HASH {
        out.push(((h % clients) as u32, format!("site/{}/#", h / 10), qos(h)));
    }
    assert_eq!(out.len(), FILTERS);
    out
}

/// Our table holding `subs`.
pub fn build_table(subs: &[(u32, String, QoS)]) -> SubscriptionTable {
    let mut table = SubscriptionTable::new(1000);
    for (client, filter, qos) in subs {
        let sub = Subscription::new(SubscriptionOptions::new(*qos));
        table
            .subscribe(ClientKey::new(*client), filter, sub)
            .expect("subscribe");
    }
    assert_eq!(table.len(), subs.len());
    table
}

/// Our routing, as the engine calls it: one `Vec` of deliveries per
/// message. Returns the number of deliveries.
#[inline]
pub fn route_ours(table: &mut SubscriptionTable, topic: &str) -> usize {
    table.route(topic, None).len()
}

/// The brute-force peer: every subscription tested in turn.
pub struct LinearTable {
    subs: Vec<(u32, String, QoS)>,
    out: Vec<(u32, QoS)>,
}

impl LinearTable {
    /// A table of `subs`.
    pub fn new(subs: Vec<(u32, String, QoS)>) -> Self {
        LinearTable {
            subs,
            out: Vec::new(),
        }
    }

    /// The (client, highest QoS) pairs for `topic`, ascending by client.
    pub fn route(&mut self, topic: &str) -> &[(u32, QoS)] {
        self.out.clear();
        for (client, filter, qos) in &self.subs {
            if rumqttc::mqttbytes::matches(topic, filter) {
                self.out.push((*client, *qos));
            }
        }
        self.out.sort_unstable_by_key(|&(c, _)| c);
        self.out.dedup_by(|later, kept| {
            if later.0 == kept.0 {
                kept.1 = kept.1.max(later.1);
                true
            } else {
                false
            }
        });
        &self.out
    }
}

/// Outside-timing check: both tables give the same clients and QoS for the
/// hit and the miss topic, and the fixture's expected clients.
pub fn check_routing(table: &mut SubscriptionTable, linear: &mut LinearTable) {
    for topic in [HIT_TOPIC, MISS_TOPIC] {
        let ours: Vec<(u32, QoS)> = table
            .route(topic, None)
            .iter()
            .map(|d| (d.client.get(), d.qos))
            .collect();
        let theirs = linear.route(topic).to_vec();
        assert_eq!(ours, theirs, "{topic}");
        let clients: Vec<u32> = ours.iter().map(|&(c, _)| c).collect();
        if topic == HIT_TOPIC {
            assert_eq!(clients, HIT_CLIENTS);
        } else {
            assert!(clients.is_empty());
        }
    }
}

// ----- (b) engine fan-out ---------------------------------------------------

/// The topic the fan-out subscribers subscribe to and the publisher
/// publishes on.
pub const FAN_TOPIC: &str = "fan/out/topic";
/// Payload bytes per message.
pub const PAYLOAD: usize = 64;
/// Protocol version of every connection.
pub const VERSION: ProtocolVersion = ProtocolVersion::V5;

fn encode(p: PacketRef<'_>) -> Vec<u8> {
    let mut b = BytesMut::new();
    p.encode(VERSION, &mut b).expect("encode");
    b.to_vec()
}

fn connect_bytes(client_id: &str) -> Vec<u8> {
    let c = Connect::new(VERSION, client_id)
        .expect("connect")
        .with_keep_alive(0);
    encode(PacketRef::Connect(c.as_view()))
}

fn subscribe_bytes(filter: &str) -> Vec<u8> {
    let s = Subscribe::single(1, filter, QoS::AtLeastOnce).expect("subscribe");
    encode(PacketRef::Subscribe(s.as_view()))
}

/// What one drain of the engine's output held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// PUBLISH packets to subscribers.
    pub delivered: usize,
    /// PUBACK packets to the publisher.
    pub acks_to_publisher: usize,
    /// Other packets (CONNACK, SUBACK, ...).
    pub other: usize,
    /// Bytes.
    pub bytes: usize,
}

/// Splits `bytes` into packets; returns (first byte, body) of each.
/// Panics on a truncated packet (the engine always writes whole ones).
fn packets(mut bytes: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&first, rest) = bytes.split_first()?;
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = 0;
        loop {
            let b = rest[i];
            len |= usize::from(b & 0x7f) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let body = &rest[i..i + len];
        bytes = &rest[i + len..];
        Some((first, body))
    })
}

/// A broker with [`CLIENTS`] connected subscribers and one publisher; see
/// the module docs.
pub struct Fanout {
    broker: Broker,
    publisher: ConnectionId,
    subscribers: usize,
    fanout: usize,
    /// The PUBLISH as the publisher sends it; for QoS 1 the packet id is at
    /// `pid_at`.
    publish: Vec<u8>,
    pid_at: Option<usize>,
    next_pid: u16,
    now: u64,
}

impl Fanout {
    /// `subscribers` connections, `fanout` of them subscribed to
    /// [`FAN_TOPIC`] (at QoS 1), publishing at `qos`.
    pub fn new(subscribers: usize, fanout: usize, qos: QoS) -> Self {
        assert!(fanout <= subscribers);
        let mut limits = BrokerLimits::default();
        limits.max_sessions = limits.max_sessions.max(subscribers + 16);
        let mut broker = Broker::new(BrokerOptions::new().with_limits(limits));
        for i in 0..subscribers {
            let conn = broker.connection_opened(0);
            let mut input = connect_bytes(&format!("sub-{i}"));
            let filter = if i < fanout {
                FAN_TOPIC.to_string()
            } else {
                format!("other/{i}")
            };
            input.extend_from_slice(&subscribe_bytes(&filter));
            broker.handle_input(conn, 0, &input);
        }
        let publisher = broker.connection_opened(0);
        broker.handle_input(publisher, 0, &connect_bytes("publisher"));

        let payload = Bytes::from(vec![0xA5u8; PAYLOAD]);
        let template = Publish::new(FAN_TOPIC, payload).expect("publish");
        let (publish, pid_at) = if qos == QoS::AtMostOnce {
            let p = template.with_qos(qos, 0);
            (encode(PacketRef::Publish(p.as_view())), None)
        } else {
            let a = encode(PacketRef::Publish(
                template.clone().with_qos(qos, 1).as_view(),
            ));
            let b = encode(PacketRef::Publish(template.with_qos(qos, 2).as_view()));
            let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            assert_eq!(diff.len(), 1, "packet id position");
            (a, Some(diff[0] - 1))
        };
        let mut f = Fanout {
            broker,
            publisher,
            subscribers,
            fanout,
            publish,
            pid_at,
            next_pid: 1,
            now: 0,
        };
        let d = f.drain();
        // One CONNACK per connection, one SUBACK per subscriber.
        assert_eq!(d.other, 2 * subscribers + 1, "CONNACK and SUBACK");
        assert_eq!(f.broker.subscriptions().len(), subscribers);
        f
    }

    /// Subscribers receiving each message.
    pub fn fanout(&self) -> usize {
        self.fanout
    }

    /// Connected subscribers.
    pub fn subscribers(&self) -> usize {
        self.subscribers
    }

    /// Drains every connection's output; answers each QoS 1 PUBLISH with
    /// its PUBACK, as the subscriber would.
    fn drain(&mut self) -> Drained {
        let mut d = Drained::default();
        while let Some((conn, bytes)) = self.broker.poll_output() {
            d.bytes += bytes.len();
            for (first, body) in packets(&bytes) {
                match first >> 4 {
                    3 => {
                        d.delivered += 1;
                        if (first >> 1) & 3 == 1 {
                            let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
                            let pid = &body[2 + topic_len..4 + topic_len];
                            let ack = [0x40, 0x02, pid[0], pid[1]];
                            self.broker.handle_input(conn, self.now, &ack);
                        }
                    }
                    4 if conn == self.publisher => d.acks_to_publisher += 1,
                    _ => d.other += 1,
                }
            }
        }
        d
    }

    /// One PUBLISH in, every delivery out (and acknowledged).
    pub fn publish_once(&mut self) -> Drained {
        if let Some(at) = self.pid_at {
            let pid = self.next_pid;
            self.next_pid = if pid == u16::MAX { 1 } else { pid + 1 };
            self.publish[at..at + 2].copy_from_slice(&pid.to_be_bytes());
        }
        self.broker
            .handle_input(self.publisher, self.now, &self.publish);
        self.drain()
    }

    /// Outside-timing check of `rounds` messages: each reaches exactly the
    /// fan-out subscribers, a QoS 1 one is acknowledged to the publisher,
    /// and nothing is dropped or left waiting.
    pub fn check(&mut self, rounds: usize) {
        for _ in 0..rounds {
            let d = self.publish_once();
            assert_eq!(d.delivered, self.fanout, "deliveries");
            assert_eq!(d.acks_to_publisher, usize::from(self.pid_at.is_some()));
            assert_eq!(d.other, 0);
        }
        assert_eq!(self.broker.dropped_messages(), 0);
        assert!(self.broker.poll_output().is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_tables_agree() {
        let subs = routing_subscriptions();
        let mut table = build_table(&subs);
        let mut linear = LinearTable::new(subs);
        check_routing(&mut table, &mut linear);
        assert_eq!(route_ours(&mut table, HIT_TOPIC), HIT_CLIENTS.len());
    }

    #[test]
    fn fanout_delivers_to_every_subscriber() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            let mut f = Fanout::new(50, 20, qos);
            // Past the 65,535 packet id wrap would take long; 300 rounds
            // exercise the subscribers' windows several times over.
            f.check(300);
        }
    }
}
