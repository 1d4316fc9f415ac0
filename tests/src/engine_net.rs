//! The broker engine and our clients wired in memory, for the engine's
//! tests: bytes move both ways in steps until nothing moves; optionally
//! with a durable store and crashes.

use mqtt_core::broker::persist::STORE_HEADER;
use mqtt_core::broker::{Broker, BrokerOptions, ConnectionId, RestoreReport};
use mqtt_core::client::{Client, ClientOptions, DisconnectReason, Event};
use mqtt_core::codec::{ProtocolVersion, Publish, QoS, ReasonCode, Subscribe};

/// One client of a [`Net`].
pub struct Peer {
    /// Its state machine.
    pub client: Client,
    /// Its transport to the broker, while it has one.
    pub conn: Option<ConnectionId>,
    /// Every event it reported, in order.
    pub events: Vec<Event>,
}

/// The broker engine and clients wired in memory. With a store
/// ([`Net::with_store`]) every step appends the engine's records to it
/// before any output is delivered, as a driver in `sync` mode does, and
/// [`Net::crash`] replaces the engine with one rebuilt from it.
pub struct Net {
    /// The engine.
    pub broker: Broker,
    /// The time, in milliseconds.
    pub now: u64,
    /// The clients.
    pub peers: Vec<Peer>,
    /// The options the engine was made with (for [`Net::crash`]).
    pub options: BrokerOptions,
    /// The durable store, when the engine records its state.
    pub store: Option<Vec<u8>>,
}

impl Net {
    /// An engine with `options` and no clients.
    pub fn new(options: BrokerOptions) -> Self {
        Net {
            broker: Broker::new(options.clone()),
            now: 0,
            peers: Vec::new(),
            options,
            store: None,
        }
    }

    /// Adds a client and connects it; returns its index.
    pub fn add(&mut self, options: ClientOptions) -> usize {
        self.peers.push(Peer {
            client: Client::new(options),
            conn: None,
            events: Vec::new(),
        });
        let i = self.peers.len() - 1;
        self.connect(i);
        i
    }

    /// Opens a transport for client `i` and connects it.
    pub fn connect(&mut self, i: usize) {
        let conn = self.broker.connection_opened(self.now);
        self.peers[i].conn = Some(conn);
        self.peers[i].client.connect(self.now).expect("connect");
        self.drive();
    }

    /// Steps until nothing moves (panics on a livelock).
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("livelock");
    }

    /// Moves bytes both ways once; returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        for p in &mut self.peers {
            let bytes = p.client.take_transmit();
            if let Some(conn) = p.conn {
                if !bytes.is_empty() {
                    self.broker.handle_input(conn, now, &bytes);
                    moved = true;
                }
            }
        }
        // The records before the output they make true (sync mode).
        if let Some(store) = &mut self.store {
            if let Some(batch) = self.broker.poll_store(now) {
                store.extend_from_slice(&batch);
                moved = true;
            }
        }
        while let Some((conn, bytes)) = self.broker.poll_output() {
            moved = true;
            if let Some(p) = self.peers.iter_mut().find(|p| p.conn == Some(conn)) {
                p.client.handle_input(now, &bytes);
            }
        }
        while let Some(conn) = self.broker.poll_close() {
            moved = true;
            if let Some(p) = self.peers.iter_mut().find(|p| p.conn == Some(conn)) {
                p.client.handle_transport_closed(now);
                p.conn = None;
            }
            self.broker.connection_closed(conn, now);
        }
        for p in &mut self.peers {
            while let Some(e) = p.client.poll_event() {
                p.events.push(e);
                moved = true;
            }
        }
        moved
    }

    /// Steps (at most 20 times) until `done` holds; returns whether it
    /// did. For stopping between the steps of an exchange, e.g. before a
    /// crash.
    pub fn step_until(&mut self, mut done: impl FnMut(&Net) -> bool) -> bool {
        for _ in 0..20 {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }

    /// An engine with persistence on and an empty store.
    pub fn with_store(options: BrokerOptions) -> Self {
        let mut net = Net::new(options.with_persistence(true));
        net.store = Some(STORE_HEADER.to_vec());
        net
    }

    /// The broker crashes: the engine is thrown away with everything not
    /// in the store, every client's transport closes, and a new engine is
    /// rebuilt from the store (panics without one).
    pub fn crash(&mut self) -> RestoreReport {
        let now = self.now;
        for p in &mut self.peers {
            let _ = p.client.take_transmit();
            if p.conn.take().is_some() {
                p.client.handle_transport_closed(now);
            }
            while let Some(e) = p.client.poll_event() {
                p.events.push(e);
            }
        }
        let store = self.store.as_ref().expect("a net with a store");
        self.broker = Broker::new(self.options.clone());
        self.broker.restore(store, now).expect("restore")
    }

    /// Cuts the transport of client `i` (no DISCONNECT).
    pub fn cut(&mut self, i: usize) {
        let p = &mut self.peers[i];
        let _ = p.client.take_transmit();
        p.client.handle_transport_closed(self.now);
        if let Some(conn) = p.conn.take() {
            self.broker.connection_closed(conn, self.now);
        }
        self.drive();
    }

    /// Client `i` publishes, then the net settles.
    pub fn publish(&mut self, i: usize, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
        let p = Publish::new(topic, payload.to_vec())
            .unwrap()
            .with_qos(qos, 0)
            .with_retain(retain);
        self.peers[i].client.publish(self.now, p).expect("publish");
        self.drive();
    }

    /// Client `i` subscribes, then the net settles.
    pub fn subscribe(&mut self, i: usize, subscribe: Subscribe) {
        self.peers[i]
            .client
            .subscribe(self.now, subscribe)
            .expect("subscribe");
        self.drive();
    }

    /// What `pick` takes from each event client `i` has seen, in order.
    pub fn events<T>(&self, i: usize, pick: impl FnMut(&Event) -> Option<T>) -> Vec<T> {
        self.peers[i].events.iter().filter_map(pick).collect()
    }

    /// The messages client `i` received, in order.
    pub fn messages(&self, i: usize) -> Vec<Publish> {
        self.events(i, |e| match e {
            Event::Message(m) => Some(m.publish.clone()),
            _ => None,
        })
    }

    /// The SUBACK codes client `i` got, in order.
    pub fn suback_codes(&self, i: usize) -> Vec<ReasonCode> {
        self.events(i, |e| match e {
            Event::Subscribed { reason_codes, .. } => Some(reason_codes.clone()),
            _ => None,
        })
        .concat()
    }

    /// The reason codes of client `i`'s completed publications.
    pub fn completions(&self, i: usize) -> Vec<ReasonCode> {
        self.events(i, |e| match e {
            Event::PublishCompleted { reason_code, .. } => Some(*reason_code),
            _ => None,
        })
    }

    /// The reason code of the CONNACK that refused client `i`, if any.
    pub fn refused(&self, i: usize) -> Option<ReasonCode> {
        self.peers[i].events.iter().find_map(|e| match e {
            Event::Disconnected(DisconnectReason::Refused(c)) => Some(c.reason_code),
            _ => None,
        })
    }

    /// The reason code of the DISCONNECT the broker sent client `i`, if any.
    pub fn disconnected_by_server(&self, i: usize) -> Option<ReasonCode> {
        self.peers[i].events.iter().find_map(|e| match e {
            Event::Disconnected(DisconnectReason::ByServer(d)) => Some(d.reason_code),
            _ => None,
        })
    }

    /// Client `i` publishes `p`, then the net settles.
    pub fn publish_with(&mut self, i: usize, p: Publish) {
        self.peers[i].client.publish(self.now, p).expect("publish");
        self.drive();
    }

    /// Session Present of each CONNACK client `i` got.
    pub fn connected(&self, i: usize) -> Vec<bool> {
        self.events(i, |e| match e {
            Event::Connected(c) => Some(c.session_present),
            _ => None,
        })
    }

    /// Connects a client `s` with a kept session (expiring `expiry` seconds
    /// after it ends) subscribed to `filter`, and a client `pub`; then cuts
    /// `s`, so that what `pub` sends is queued for it. Returns `(s, pub)`.
    pub fn offline_subscriber(
        &mut self,
        version: ProtocolVersion,
        expiry: u32,
        filter: &str,
        qos: QoS,
    ) -> (usize, usize) {
        let s = self.add(persistent(version, "s", expiry));
        self.subscribe(s, Subscribe::single(1, filter, qos).unwrap());
        let publ = self.add(opts(version, "pub"));
        self.cut(s);
        (s, publ)
    }
}

/// Options for a client of `version` named `id`.
pub fn opts(version: ProtocolVersion, id: &str) -> ClientOptions {
    ClientOptions::new(version, id).unwrap()
}

/// Options for a client that keeps its session `expiry` seconds.
pub fn persistent(version: ProtocolVersion, id: &str, expiry: u32) -> ClientOptions {
    opts(version, id)
        .with_clean_start(false)
        .with_session_expiry_interval(expiry)
}
