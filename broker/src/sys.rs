//! The `$SYS/broker/...` topics, with mosquitto's names: published by the
//! engine itself ([`Broker::publish`]), retained, every `sys_interval`
//! seconds, each only when its value changed.

use std::collections::HashMap;

use mqtt_core::broker::{Broker, BrokerStats};
use mqtt_core::codec::Publish;

/// Bytes moved by the socket loop (the engine sees MQTT bytes only).
#[derive(Debug, Clone, Copy, Default)]
pub struct Traffic {
    /// Bytes read from sockets.
    pub bytes_received: u64,
    /// Bytes written to sockets.
    pub bytes_sent: u64,
    /// Sockets accepted.
    pub sockets: u64,
}

/// One exponentially damped moving average of a rate per minute, as
/// mosquitto's `load/.../1min`, `5min`, `15min`.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    one: f64,
    five: f64,
    fifteen: f64,
}

impl Load {
    fn update(&mut self, delta: u64, interval_s: f64) {
        let per_minute = delta as f64 * 60.0 / interval_s;
        for (avg, period) in [
            (&mut self.one, 60.0),
            (&mut self.five, 300.0),
            (&mut self.fifteen, 900.0),
        ] {
            let k = (-interval_s / period).exp();
            *avg = *avg * k + per_minute * (1.0 - k);
        }
    }
}

/// The `$SYS` publisher.
pub struct SysTree {
    interval_ms: u64,
    next_at: u64,
    started_at: u64,
    /// The last value published per topic.
    published: HashMap<String, String>,
    /// The counters at the last update, for the loads.
    last: (BrokerStats, Traffic),
    loads: [Load; 7],
}

impl SysTree {
    /// A publisher every `interval_s` seconds (0: never), starting at
    /// `now` (milliseconds).
    pub fn new(interval_s: u64, now: u64) -> Self {
        SysTree {
            interval_ms: interval_s.saturating_mul(1000),
            next_at: now,
            started_at: now,
            published: HashMap::new(),
            last: Default::default(),
            loads: Default::default(),
        }
    }

    /// When to call [`update`](Self::update) next.
    pub fn deadline(&self) -> Option<u64> {
        (self.interval_ms > 0).then_some(self.next_at)
    }

    /// Publishes what changed, if the interval has passed.
    pub fn update(&mut self, broker: &mut Broker, traffic: Traffic, now: u64) {
        if self.interval_ms == 0 || now < self.next_at {
            return;
        }
        let first = self.published.is_empty();
        self.next_at = now + self.interval_ms;
        let s = broker.stats();
        let (ls, lt) = self.last;
        let interval_s = self.interval_ms as f64 / 1000.0;
        if !first {
            let deltas = [
                s.packets_received - ls.packets_received,
                s.packets_sent - ls.packets_sent,
                s.publish_received - ls.publish_received,
                s.publish_sent - ls.publish_sent,
                traffic.bytes_received - lt.bytes_received,
                traffic.bytes_sent - lt.bytes_sent,
                traffic.sockets - lt.sockets,
            ];
            for (load, delta) in self.loads.iter_mut().zip(deltas) {
                load.update(delta, interval_s);
            }
        }
        self.last = (s, traffic);
        let uptime = (now - self.started_at) / 1000;
        let fixed: Vec<(&'static str, String)> = vec![
            (
                "$SYS/broker/version",
                format!("libmqtt-broker version {}", env!("CARGO_PKG_VERSION")),
            ),
            ("$SYS/broker/uptime", format!("{uptime} seconds")),
            (
                "$SYS/broker/clients/connected",
                s.clients_connected.to_string(),
            ),
            (
                "$SYS/broker/clients/active",
                s.clients_connected.to_string(),
            ),
            (
                "$SYS/broker/clients/disconnected",
                s.clients_disconnected.to_string(),
            ),
            (
                "$SYS/broker/clients/inactive",
                s.clients_disconnected.to_string(),
            ),
            (
                "$SYS/broker/clients/total",
                (s.clients_connected + s.clients_disconnected).to_string(),
            ),
            ("$SYS/broker/clients/maximum", s.clients_maximum.to_string()),
            ("$SYS/broker/clients/expired", s.clients_expired.to_string()),
            (
                "$SYS/broker/messages/received",
                s.packets_received.to_string(),
            ),
            ("$SYS/broker/messages/sent", s.packets_sent.to_string()),
            ("$SYS/broker/messages/stored", s.queued_messages.to_string()),
            (
                "$SYS/broker/store/messages/count",
                s.queued_messages.to_string(),
            ),
            (
                "$SYS/broker/publish/messages/received",
                s.publish_received.to_string(),
            ),
            (
                "$SYS/broker/publish/messages/sent",
                s.publish_sent.to_string(),
            ),
            (
                "$SYS/broker/publish/messages/dropped",
                s.publish_dropped.to_string(),
            ),
            (
                "$SYS/broker/bytes/received",
                traffic.bytes_received.to_string(),
            ),
            ("$SYS/broker/bytes/sent", traffic.bytes_sent.to_string()),
            (
                "$SYS/broker/subscriptions/count",
                s.subscriptions.to_string(),
            ),
            (
                "$SYS/broker/retained messages/count",
                s.retained_messages.to_string(),
            ),
        ];
        let mut values: Vec<(String, String)> =
            fixed.into_iter().map(|(t, v)| (t.to_owned(), v)).collect();
        for (load, what) in self.loads.iter().zip(LOADS) {
            for (avg, period) in [
                (load.one, "1min"),
                (load.five, "5min"),
                (load.fifteen, "15min"),
            ] {
                values.push((
                    format!("$SYS/broker/load/{what}/{period}"),
                    format!("{avg:.2}"),
                ));
            }
        }
        for (topic, value) in values {
            if self.published.get(&topic) == Some(&value) {
                continue;
            }
            if let Ok(p) = Publish::new(&topic, value.clone().into_bytes()) {
                broker.publish(now, p.with_retain(true));
            }
            self.published.insert(topic, value);
        }
    }
}

/// What the loads measure, in the order of [`SysTree::loads`]:
/// `$SYS/broker/load/<what>/{1min,5min,15min}`.
const LOADS: [&str; 7] = [
    "messages/received",
    "messages/sent",
    "publish/received",
    "publish/sent",
    "bytes/received",
    "bytes/sent",
    "sockets",
];
