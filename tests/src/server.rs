//! Test tools for the server role
//! ([`mqtt_core::server::ServerConnection`]): [`ScriptedClient`], where
//! the test plays the client packet by packet, and [`Pair`], our
//! [`Client`] wired to a `ServerConnection` in memory, in virtual time,
//! with a small broker application answering the server's events.

use bytes::{Bytes, BytesMut};
use mqtt_core::client::{Client, ClientOptions, Event};
use mqtt_core::codec::{
    ConnAck, Connect, DecodeOptions, Decoder, MqttString, Packet, ProtocolVersion, Publish, QoS,
    ReasonCode, SubAck,
};
use mqtt_core::server::{
    Accept, CloseReason, ServerConnection, ServerEvent, ServerOptions, ServerSession, ServerState,
};
use mqtt_core::time::Instant;

/// A [`ServerConnection`] with a virtual clock: the test sends packets as
/// the client and reads back what the server sent (decoded strictly, as a
/// client would) and reported.
pub struct ScriptedClient {
    /// The connection under test.
    pub conn: ServerConnection,
    /// Virtual time in milliseconds.
    pub now: Instant,
    version: ProtocolVersion,
    decoder: Decoder,
}

impl ScriptedClient {
    /// A fresh connection with `options`, the client speaking `version`.
    pub fn new(options: ServerOptions, version: ProtocolVersion) -> Self {
        ScriptedClient {
            conn: ServerConnection::new(options),
            now: 0,
            version,
            decoder: Decoder::new(DecodeOptions::new(version)),
        }
    }

    /// The protocol version the test client speaks.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Sends CONNECT for `client_id` (Clean Start 1, keep alive 60) and
    /// returns it as the server reported it.
    pub fn connect(&mut self, client_id: &str) -> Connect {
        let c = Connect::new(self.version, client_id).expect("valid CONNECT");
        self.connect_with(c)
    }

    /// Sends this CONNECT and returns the [`ServerEvent::ConnectRequested`]'s.
    pub fn connect_with(&mut self, connect: Connect) -> Connect {
        self.client_sends(connect);
        match self.events().as_slice() {
            [ServerEvent::ConnectRequested(c)] => (**c).clone(),
            other => panic!("expected ConnectRequested, got {other:?}"),
        }
    }

    /// Sends this CONNECT, accepts it at the current time and drains the
    /// CONNACK.
    pub fn accept_connect(&mut self, connect: Connect) {
        self.connect_with(connect);
        self.conn.accept(self.now, Accept::new()).expect("accept");
        let _ = self.sent();
    }

    /// Connects client "test" and accepts, draining CONNACK and events.
    pub fn connect_ok(&mut self) {
        self.connect("test");
        self.conn.accept(self.now, Accept::new()).expect("accept");
        let sent = self.sent();
        assert!(matches!(sent[..], [Packet::ConnAck(_)]), "{sent:?}");
        let _ = self.events();
    }

    /// Advances virtual time by `ms` and lets timers fire.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.conn.handle_timeout(self.now);
    }

    /// Feeds a packet from the client, encoded in its version.
    pub fn client_sends(&mut self, packet: impl Into<Packet>) {
        let bytes = self.encode(&packet.into());
        self.conn.handle_input(self.now, &bytes);
    }

    /// Feeds raw bytes from the client.
    pub fn client_sends_bytes(&mut self, bytes: &[u8]) {
        self.conn.handle_input(self.now, bytes);
    }

    /// Encodes a packet in the client's version.
    pub fn encode(&self, packet: &Packet) -> Bytes {
        let mut buf = BytesMut::new();
        packet.encode(self.version, &mut buf).expect("encodable");
        buf.freeze()
    }

    /// Every byte the server has to send (through a small buffer).
    pub fn sent_bytes(&mut self) -> Vec<u8> {
        crate::scripted::drain::<61>(|buf| self.conn.poll_transmit(buf))
    }

    /// The packets the server sent since the last call, decoded strictly.
    pub fn sent(&mut self) -> Vec<Packet> {
        let bytes = self.sent_bytes();
        crate::scripted::decode_all(&mut self.decoder, &bytes, "the server")
    }

    /// The one packet sent since the last call.
    pub fn sent_one(&mut self) -> Packet {
        let mut sent = self.sent();
        assert_eq!(sent.len(), 1, "expected one packet, got {sent:?}");
        sent.remove(0)
    }

    /// The events reported since the last call.
    pub fn events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }
}

/// A connection with `options` that accepted client "test" speaking
/// `version` ([`ScriptedClient::connect_ok`]).
pub fn connected_with(options: ServerOptions, version: ProtocolVersion) -> ScriptedClient {
    let mut c = ScriptedClient::new(options, version);
    c.connect_ok();
    c
}

/// [`connected_with`] default [`ServerOptions`].
pub fn connected(version: ProtocolVersion) -> ScriptedClient {
    connected_with(ServerOptions::new(), version)
}

/// A valid [`MqttString`] (panics on an invalid one).
pub fn s(text: &str) -> MqttString {
    MqttString::from_str(text).expect("valid string")
}

/// A PUBLISH of `payload` to `topic` at `qos` with packet identifier `id`.
pub fn publish(topic: &str, payload: &'static [u8], qos: QoS, id: u16) -> Publish {
    Publish::new(topic, payload).unwrap().with_qos(qos, id)
}

/// The messages among `events`, in order.
pub fn messages(events: &[ServerEvent]) -> Vec<Publish> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// Why the connection closed: `events` must end with
/// [`ServerEvent::Disconnected`].
pub fn closed_with(events: &[ServerEvent]) -> &CloseReason {
    match events.last() {
        Some(ServerEvent::Disconnected(r)) => r,
        other => panic!("expected Disconnected last, got {other:?}"),
    }
}

/// The CONNACK `p` must be.
pub fn connack(p: Packet) -> ConnAck {
    match p {
        Packet::ConnAck(c) => *c,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// The reason code of the CONNACK `p` must be.
pub fn connack_code(p: Packet) -> ReasonCode {
    connack(p).reason_code
}

/// The reason code of the DISCONNECT `p` must be.
pub fn disconnect_code(p: Packet) -> ReasonCode {
    match p {
        Packet::Disconnect(d) => d.reason_code,
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
}

/// The first `max` bytes of `buf` (all when `max` is 0), removed from it.
fn take_chunk(buf: &mut Vec<u8>, max: usize) -> Vec<u8> {
    if max == 0 || buf.len() <= max {
        return std::mem::take(buf);
    }
    let rest = buf.split_off(max);
    std::mem::replace(buf, rest)
}

/// Our client and a server connection wired together in memory, with a
/// tiny broker application: it accepts every CONNECT (resuming the stored
/// session when the client asks and one exists), grants every
/// subscription its requested QoS, and records messages.
pub struct Pair {
    /// The client.
    pub client: Client,
    /// The current server connection (replaced on every reconnect).
    pub server: ServerConnection,
    /// The options each server connection is made with.
    pub server_options: ServerOptions,
    /// Virtual time.
    pub now: Instant,
    /// Events the client reported.
    pub client_events: Vec<Event>,
    /// Events the server reported (all connections).
    pub server_events: Vec<ServerEvent>,
    /// The session the broker keeps between connections.
    pub session: Option<ServerSession>,
    /// Whether the broker application answers everything itself.
    pub auto: bool,
    /// The most bytes delivered each way per [`step`](Self::step) (0: all),
    /// so that packets arrive split and a cut can fall inside one.
    pub max_chunk: usize,
    /// Bytes in flight client to server (to delay or cut).
    to_server: Vec<u8>,
    /// Bytes in flight server to client.
    to_client: Vec<u8>,
}

impl Pair {
    /// A connected pair: client with `client_options`, server with
    /// `server_options`.
    pub fn connected(client_options: ClientOptions, server_options: ServerOptions) -> Self {
        let mut p = Pair {
            client: Client::new(client_options),
            server: ServerConnection::new(server_options.clone()),
            server_options,
            now: 0,
            client_events: Vec::new(),
            server_events: Vec::new(),
            session: None,
            auto: true,
            max_chunk: 0,
            to_server: Vec::new(),
            to_client: Vec::new(),
        };
        p.client.connect(p.now).expect("connect");
        p.drive();
        assert_eq!(p.server.state(), ServerState::Connected);
        p
    }

    /// Moves bytes both ways and lets both applications react, until
    /// nothing moves; panics on a livelock.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("livelock");
    }

    /// One round: returns whether anything happened.
    pub fn step(&mut self) -> bool {
        let mut moved = false;
        let c = self.client.take_transmit();
        self.to_server.extend_from_slice(&c);
        let s = self.server.take_transmit();
        self.to_client.extend_from_slice(&s);
        if !self.to_server.is_empty() {
            let bytes = take_chunk(&mut self.to_server, self.max_chunk);
            self.server.handle_input(self.now, &bytes);
            moved = true;
        }
        if !self.to_client.is_empty() {
            let bytes = take_chunk(&mut self.to_client, self.max_chunk);
            self.client.handle_input(self.now, &bytes);
            moved = true;
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
            moved = true;
        }
        while let Some(e) = self.server.poll_event() {
            moved = true;
            if self.auto {
                self.answer(&e);
            }
            self.server_events.push(e);
        }
        moved
    }

    fn answer(&mut self, e: &ServerEvent) {
        let now = self.now;
        match e {
            ServerEvent::ConnectRequested(c) => {
                let mut accept = Accept::new();
                if c.client_id.is_empty() {
                    accept = accept.with_assigned_client_id(
                        mqtt_core::codec::MqttString::from_str("assigned-1").expect("valid"),
                    );
                }
                if c.clean_start {
                    self.session = None;
                } else if let Some(s) = self.session.take() {
                    accept = accept.with_session(s);
                }
                self.server.accept(now, accept).expect("accept");
            }
            ServerEvent::Subscribe(s) => {
                let codes: Vec<ReasonCode> = s
                    .filters
                    .iter()
                    .map(|f| SubAck::granted(f.options.qos))
                    .collect();
                self.server
                    .suback(now, s.packet_id, &codes)
                    .expect("suback");
            }
            ServerEvent::Unsubscribe(u) => {
                let codes = vec![ReasonCode::Success; u.filters.len()];
                self.server
                    .unsuback(now, u.packet_id, &codes)
                    .expect("unsuback");
            }
            ServerEvent::Disconnected(_) => {
                if let Ok(s) = self.server.take_session() {
                    self.session = Some(s);
                }
            }
            _ => {}
        }
    }

    /// Advances virtual time by `ms`, firing both sides' timers.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.drive();
    }

    /// Advances time in steps of `step` ms up to `ms`, driving in between.
    pub fn advance_by_steps(&mut self, ms: u64, step: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.advance(step.min(end - self.now));
        }
    }

    /// Cuts the transport: bytes in flight are lost, both sides told.
    pub fn cut(&mut self) {
        let _ = self.client.take_transmit();
        let _ = self.server.take_transmit();
        self.to_server.clear();
        self.to_client.clear();
        self.client.handle_transport_closed(self.now);
        self.server.handle_transport_closed(self.now);
        self.drive();
    }

    /// A new transport: a fresh server connection and the client's
    /// CONNECT, driven to completion.
    pub fn reconnect(&mut self) {
        self.server = ServerConnection::new(self.server_options.clone());
        self.client.connect(self.now).expect("connect");
        self.drive();
    }

    /// The messages the server's application received.
    pub fn server_messages(&self) -> Vec<Publish> {
        self.server_events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Message(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// The messages the client's application received.
    pub fn client_messages(&self) -> Vec<Publish> {
        self.client_events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.publish.clone()),
                _ => None,
            })
            .collect()
    }
}
