//! [`Client`]: the client role's state machine.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};

use super::event::{
    AckToken, ClientError, Connected, DisconnectReason, DropReason, Event, Message,
    ProtocolViolation, PublishId,
};
use super::options::{ClientOptions, QueueFullPolicy, SessionLostPolicy};
use super::session::{SessionState, StoredOutgoing, StoredQos2, Subscription};
use super::stats::Stats;
use crate::codec::{
    Auth, AuthProperties, ConnAck, Connect, DecodeOptions, Decoder, Disconnect, MqttString, Packet,
    PacketRef, PacketType, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS,
    ReasonCode, SubAck, Subscribe, TopicName, TopicNameRef, UnsubAck, Unsubscribe,
};
use crate::connection::PacketIds;
use crate::connection::{InboundTopicAliases, OutboundAlias, OutboundTopicAliases};
use crate::time::{Duration, Instant};

mod commands;
mod connack;
mod inbound;
mod outbound;
mod persistence;

/// Where the client is in the life of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// No transport: call [`Client::connect`] once one is open. Commands
    /// are queued meanwhile.
    Disconnected,
    /// CONNECT sent (and any AUTH exchange under way), waiting for CONNACK.
    Connecting,
    /// CONNACK accepted the connection.
    Connected,
}

/// The client's timers; [`Client::poll_timeout`] is the earliest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// CONNACK must arrive by then.
    ConnAck = 0,
    /// PINGRESP must arrive by then.
    PingResp = 1,
}
const TIMERS: usize = 2;

/// What the server announced in CONNACK, or the defaults before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ServerLimits {
    receive_maximum: u16,
    maximum_packet_size: u32,
    maximum_qos: QoS,
    retain_available: bool,
    wildcard_available: bool,
    subscription_ids_available: bool,
    shared_available: bool,
}

impl ServerLimits {
    const DEFAULT: ServerLimits = ServerLimits {
        receive_maximum: u16::MAX,
        maximum_packet_size: crate::codec::MAX_PACKET_SIZE,
        maximum_qos: QoS::ExactlyOnce,
        retain_available: true,
        wildcard_available: true,
        subscription_ids_available: true,
        shared_available: true,
    };
}

/// Where an outbound QoS 1 or 2 publish is in its exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not sent on this session yet.
    Unsent,
    /// PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    AwaitAck,
    /// PUBREL sent; waiting for PUBCOMP.
    AwaitComp,
}

#[derive(Debug, Clone)]
enum OutKind {
    Publish {
        publish: Publish,
        /// The Message Expiry Interval the application gave.
        expiry: Option<u32>,
        stage: Stage,
    },
    Subscribe(Subscribe),
    Unsubscribe(Unsubscribe),
}

/// A command waiting to be sent, or sent and waiting for its answer.
#[derive(Debug, Clone)]
struct Outgoing {
    id: PublishId,
    kind: OutKind,
    /// When the command was given (for message expiry).
    queued_at: Instant,
}

impl Outgoing {
    fn packet_id(&self) -> u16 {
        match &self.kind {
            OutKind::Publish { publish, .. } => publish.packet_id,
            OutKind::Subscribe(s) => s.packet_id,
            OutKind::Unsubscribe(u) => u.packet_id,
        }
    }
    fn is_counted_publish(&self) -> bool {
        matches!(&self.kind, OutKind::Publish { publish, .. } if publish.qos != QoS::AtMostOnce)
    }
}

/// A QoS 1 or 2 message the application has not acknowledged yet (manual
/// acknowledgement), in arrival order on this connection.
#[derive(Debug, Clone, Copy)]
struct PendingAck {
    token: u64,
    packet_id: u16,
    qos: QoS,
    acked: bool,
}

/// A QoS 2 message received and not released yet.
#[derive(Debug, Clone, Copy)]
struct InboundQos2 {
    packet_id: u16,
    token: u64,
    /// The application acknowledged it (always, without manual ack).
    acked: bool,
    /// PUBREC went out on the current connection or an earlier one.
    rec_sent: bool,
}

impl crate::connection::HeldQos2 for InboundQos2 {
    fn packet_id(&self) -> u16 {
        self.packet_id
    }
    fn rec_sent(&self) -> bool {
        self.rec_sent
    }
}

/// Whether `packet` is one that [MQTT-3.1.2-29] keeps free of a Reason
/// String and User Properties when the client asked for no problem
/// information, and has one.
fn carries_problem_info(packet: &Packet) -> bool {
    let ack = |p: &crate::codec::AckProperties| {
        p.reason_string.is_some() || !p.user_properties.is_empty()
    };
    match packet {
        Packet::PubAck(a) => ack(&a.properties),
        Packet::PubRec(a) => ack(&a.properties),
        Packet::PubRel(a) => ack(&a.properties),
        Packet::PubComp(a) => ack(&a.properties),
        Packet::SubAck(a) => ack(&a.properties),
        Packet::UnsubAck(a) => ack(&a.properties),
        Packet::Auth(a) => {
            a.properties.reason_string.is_some() || !a.properties.user_properties.is_empty()
        }
        _ => false,
    }
}

/// The first local token for QoS 0 publishes: above every packet id.
const FIRST_TOKEN: u64 = 0x1_0000;

/// A sans-IO MQTT 3.1.1 and 5.0 client: one session, across any number of
/// network connections.
///
/// It reads no clock and touches no socket. The caller owns the transport
/// and the time; the client takes bytes, commands and the current time
/// (milliseconds from any monotonic origin) and gives back bytes to send,
/// events and its next deadline.
///
/// # Methods, by group
///
/// * Inputs: [`connect`](Self::connect) (a fresh transport is open),
///   [`handle_input`](Self::handle_input) (bytes arrived, any chunking),
///   [`handle_timeout`](Self::handle_timeout) (the deadline passed; a
///   spurious call is harmless), [`handle_transport_closed`](Self::handle_transport_closed).
/// * Commands, which answer at once and never block:
///   [`publish`](Self::publish), [`subscribe`](Self::subscribe),
///   [`unsubscribe`](Self::unsubscribe), [`disconnect`](Self::disconnect),
///   [`authenticate`](Self::authenticate), [`acknowledge`](Self::acknowledge).
/// * Outputs: [`poll_transmit`](Self::poll_transmit) (or
///   [`take_transmit`](Self::take_transmit)), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
/// * Getters: [`state`](Self::state), [`stats`](Self::stats),
///   [`client_id`](Self::client_id), ...; persistence:
///   [`export_session`](Self::export_session), [`import_session`](Self::import_session).
///
/// # The loop
///
/// After every input or command, drain in this order: bytes to send until
/// `poll_transmit` returns 0, events until `poll_event` returns `None`,
/// then wait for input or until `poll_timeout`.
///
/// ```
/// use mqtt_core::client::{Client, ClientOptions, Event};
/// use mqtt_core::codec::{ProtocolVersion, Publish, QoS};
///
/// let mut client = Client::new(ClientOptions::new(ProtocolVersion::V5, "doc").unwrap());
/// let now = 0;
/// client.connect(now).unwrap();
/// let mut buf = [0u8; 256];
/// let n = client.poll_transmit(&mut buf);
/// assert_eq!(buf[0], 0x10); // CONNECT, to write to the transport
///
/// // The server's CONNACK arrives.
/// client.handle_input(now + 5, &[0x20, 0x03, 0x00, 0x00, 0x00]);
/// assert!(matches!(client.poll_event(), Some(Event::Connected(_))));
///
/// let id = client
///     .publish(now + 6, Publish::new("t", &b"hi"[..]).unwrap().with_qos(QoS::AtLeastOnce, 0))
///     .unwrap();
/// assert_eq!(id.packet_id(), Some(1));
/// let n = client.poll_transmit(&mut buf);
/// assert_eq!(buf[0], 0x32); // PUBLISH, QoS 1
/// client.handle_input(now + 9, &[0x40, 0x02, 0x00, 0x01]); // PUBACK
/// assert!(matches!(client.poll_event(), Some(Event::PublishCompleted { .. })));
/// assert_eq!(client.poll_timeout(), Some(now + 6 + 60_000)); // next PINGREQ
/// ```
#[derive(Debug)]
pub struct Client {
    opts: ClientOptions,
    state: ConnectionState,
    version: ProtocolVersion,
    client_id: MqttString,
    decoder: Decoder,
    out: BytesMut,
    events: VecDeque<Event>,
    timers: [Option<Instant>; TIMERS],
    now: Instant,
    last_sent: Instant,
    keep_alive: u16,
    server: ServerLimits,
    clean_start_sent: bool,
    connected_once: bool,
    reauthenticating: bool,
    /// The server's AUTH 0x18 waits for [`Client::authenticate`].
    auth_challenged: bool,
    ids: PacketIds,
    next_token: u64,
    next_ack_token: u64,
    /// Tokens below this came from an earlier connection (or program).
    first_live_ack_token: u64,
    pending: VecDeque<Outgoing>,
    inflight: VecDeque<Outgoing>,
    inflight_publishes: u16,
    ack_queue: VecDeque<PendingAck>,
    inbound_qos1: u32,
    inbound_qos2: Vec<InboundQos2>,
    in_aliases: InboundTopicAliases,
    out_aliases: OutboundTopicAliases,
    subscriptions: Vec<Subscription>,
    stats: Stats,
    /// The earliest Message Expiry of a queued publish (may be early: a
    /// wake-up then finds nothing and recomputes it).
    queue_expiry: Option<Instant>,
    /// The driver is not reading the transport ([`Client::set_input_paused`]).
    input_paused: bool,
}

impl Client {
    /// A client that is not connected; call [`connect`](Self::connect) once
    /// a transport is open.
    pub fn new(options: ClientOptions) -> Self {
        let version = options.version;
        Client {
            state: ConnectionState::Disconnected,
            version,
            client_id: options.client_id.clone(),
            decoder: Decoder::new(DecodeOptions::new(version)),
            out: BytesMut::new(),
            events: VecDeque::new(),
            timers: [None; TIMERS],
            now: 0,
            last_sent: 0,
            keep_alive: options.keep_alive,
            server: ServerLimits::DEFAULT,
            clean_start_sent: options.clean_start,
            connected_once: false,
            reauthenticating: false,
            auth_challenged: false,
            ids: PacketIds::new(),
            next_token: FIRST_TOKEN,
            next_ack_token: 1,
            first_live_ack_token: 1,
            pending: VecDeque::new(),
            inflight: VecDeque::new(),
            inflight_publishes: 0,
            ack_queue: VecDeque::new(),
            inbound_qos1: 0,
            inbound_qos2: Vec::new(),
            in_aliases: InboundTopicAliases::new(options.topic_alias_maximum),
            out_aliases: OutboundTopicAliases::new(0),
            subscriptions: Vec::new(),
            stats: Stats::default(),
            queue_expiry: None,
            input_paused: false,
            opts: options,
        }
    }

    // ----- getters -------------------------------------------------------

    /// The options the client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// Where the client is in the life of a connection.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The protocol version.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The client identifier in use: the configured one, or the server's
    /// Assigned Client Identifier once it gave one (used for reconnecting).
    pub fn client_id(&self) -> &MqttString {
        &self.client_id
    }

    /// The keep alive in force, in seconds.
    pub fn keep_alive(&self) -> u16 {
        self.keep_alive
    }

    /// Counters and queue sizes.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.inflight = u32::from(self.inflight_publishes);
        s.queued = self.pending.len() as u32;
        s
    }

    /// QoS 1 and 2 publishes that can still go out before the window is
    /// full: the smaller of our limit and the server's Receive Maximum,
    /// less those in flight and queued.
    pub fn send_quota(&self) -> usize {
        let queued = self
            .pending
            .iter()
            .filter(|o| o.is_counted_publish())
            .count();
        usize::from(self.window()).saturating_sub(usize::from(self.inflight_publishes) + queued)
    }

    /// Whether a publish now would be accepted without hitting the queue
    /// bound (for drivers that wait instead of failing).
    pub fn can_queue(&self) -> bool {
        self.pending.len() < self.opts.max_queued
    }

    /// The topic filters subscribed (acknowledged by SUBACK and not
    /// unsubscribed), with their options.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    fn window(&self) -> u16 {
        self.opts.max_inflight.min(self.server.receive_maximum)
    }

    // ----- inputs --------------------------------------------------------

    /// Starts a connection on a fresh transport: queues CONNECT (send it
    /// with [`poll_transmit`](Self::poll_transmit)) and arms the CONNACK
    /// timer. Commands queued while disconnected go out after CONNACK.
    ///
    /// A 3.1.1 client with an empty Client Identifier and Clean Session 0
    /// is refused, nothing sent: [`ClientError::InvalidState`] with
    /// [`EMPTY_CLIENT_ID_NEEDS_CLEAN_SESSION`](super::EMPTY_CLIENT_ID_NEEDS_CLEAN_SESSION)
    /// [MQTT-3.1.3-7] (see [`ClientOptions::check`]); so is a 3.1 client
    /// whose identifier is not 1 to 23 characters.
    pub fn connect(&mut self, now: Instant) -> Result<(), ClientError> {
        if self.state != ConnectionState::Disconnected {
            return Err(ClientError::InvalidState("already connected or connecting"));
        }
        self.input_paused = false;
        let v5 = self.version.is_v5();
        let clean_start = if v5 && self.connected_once {
            false
        } else {
            self.opts.clean_start
        };
        super::options::check_client_id(self.version, &self.client_id, clean_start)?;
        self.now = now;
        let mut connect = Connect::new(self.version, "")?;
        connect.client_id = self.client_id.clone();
        connect.clean_start = clean_start;
        connect.keep_alive = self.opts.keep_alive;
        connect.will = self.opts.will.clone();
        connect.username = self.opts.username.clone();
        connect.password = self.opts.password.clone();
        if v5 {
            connect.properties = self.opts.connect_properties();
        }
        self.out.clear();
        self.encode_packet(PacketRef::Connect(connect.as_view()))?;
        self.clean_start_sent = clean_start;
        self.decoder = Decoder::new(
            DecodeOptions::new(self.version).with_max_packet_size(self.opts.maximum_packet_size),
        );
        self.in_aliases =
            InboundTopicAliases::new(if v5 { self.opts.topic_alias_maximum } else { 0 });
        self.out_aliases = OutboundTopicAliases::new(0);
        self.server = ServerLimits::DEFAULT;
        self.keep_alive = self.opts.keep_alive;
        self.state = ConnectionState::Connecting;
        self.timers = [None; TIMERS];
        if self.opts.connect_timeout > 0 {
            self.timers[Timer::ConnAck as usize] = Some(now + self.opts.connect_timeout);
        }
        Ok(())
    }

    /// Bytes received from the transport, in any chunking. Packets are
    /// handled as they complete; input while disconnected is ignored.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.now = now;
        if self.state == ConnectionState::Disconnected || data.is_empty() {
            return;
        }
        self.stats.bytes_received += data.len() as u64;
        self.decoder.feed(data);
        while self.state != ConnectionState::Disconnected {
            if self.state == ConnectionState::Connected {
                // The common acknowledgement (four bytes, Success), taken
                // without building a `Packet`; handled as handle_packet
                // would.
                if let Some((packet_type, id)) = self.decoder.next_plain_ack() {
                    self.stats.packets_received += 1;
                    match packet_type {
                        PacketType::PubAck => self.on_puback(PubAck::new(id)),
                        PacketType::PubRec => self.on_pubrec(PubRec::new(id)),
                        PacketType::PubRel => self.on_pubrel(PubRel::new(id)),
                        _ => self.on_pubcomp(PubComp::new(id)),
                    }
                    continue;
                }
            }
            match self.decoder.next_packet() {
                Ok(Some(packet)) => {
                    self.stats.packets_received += 1;
                    self.handle_packet(packet);
                }
                Ok(None) => break,
                Err(e) => {
                    self.violation(ProtocolViolation::Decode(e));
                    break;
                }
            }
        }
        self.flush_pending();
    }

    /// The time passed: sends PINGREQ when due, and ends the connection
    /// when CONNACK or PINGRESP is late. Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.queue_expiry.is_some_and(|t| now >= t) {
            self.drop_expired();
        }
        if self.state == ConnectionState::Disconnected {
            return;
        }
        if self.timers[Timer::ConnAck as usize].is_some_and(|t| now >= t) {
            self.teardown(DisconnectReason::ConnectTimeout);
            return;
        }
        if self.timers[Timer::PingResp as usize].is_some_and(|t| now >= t) && !self.input_paused {
            if self.version.is_v5() {
                let _ = self.encode_packet(PacketRef::Disconnect(
                    Disconnect::new(ReasonCode::KeepAliveTimeout).as_view(),
                ));
            }
            self.teardown(DisconnectReason::KeepAliveTimeout);
            return;
        }
        if let Some(t) = self.keep_alive_deadline() {
            if now >= t {
                let _ = self.encode_packet(PacketRef::PingReq);
                // While input is paused a PINGRESP may already be awaited:
                // keep its deadline.
                let wait = self.ping_wait();
                self.timers[Timer::PingResp as usize].get_or_insert(now + wait);
            }
        }
    }

    /// The transport closed (or failed). Reports
    /// [`DisconnectReason::TransportClosed`] unless the connection had
    /// already ended; the session stays for the next [`connect`](Self::connect).
    pub fn handle_transport_closed(&mut self, now: Instant) {
        self.now = now;
        if self.state != ConnectionState::Disconnected {
            self.teardown(DisconnectReason::TransportClosed);
        }
        self.out.clear();
    }

    // ----- outputs -------------------------------------------------------

    /// Copies bytes to send into `buf` and returns how many; 0 when there
    /// is nothing to send. Packets may be split across calls: the output is
    /// a byte stream.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        if self.out.is_empty() {
            self.flush_pending();
        }
        let n = self.out.len().min(buf.len());
        buf[..n].copy_from_slice(&self.out[..n]);
        if n == self.out.len() {
            self.out.clear();
        } else {
            bytes::Buf::advance(&mut self.out, n);
        }
        n
    }

    /// Takes every byte waiting to be sent, without copying; empty when
    /// there is nothing.
    #[must_use]
    pub fn take_transmit(&mut self) -> Bytes {
        if self.out.is_empty() {
            self.flush_pending();
        }
        self.out.split().freeze()
    }

    /// How many bytes [`poll_transmit`](Self::poll_transmit) has ready.
    pub fn transmit_len(&self) -> usize {
        self.out.len()
    }

    /// The next event, `None` when there is none.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout)
    /// must be called: CONNACK or PINGRESP due, PINGREQ to send, or a
    /// queued message's Message Expiry (5.0; also while disconnected).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.keep_alive_deadline();
        if let Some(e) = self.queue_expiry.filter(|_| !self.pending.is_empty()) {
            t = Some(t.map_or(e, |x| x.min(e)));
        }
        for (i, timer) in self.timers.iter().enumerate() {
            if i == Timer::PingResp as usize && self.input_paused {
                continue;
            }
            if let Some(timer) = timer {
                t = Some(t.map_or(*timer, |x| x.min(*timer)));
            }
        }
        t
    }

    /// Tells the client that its driver stopped reading the transport
    /// (`paused`), for instance because the application is not taking
    /// messages and the driver applies backpressure, or that it reads
    /// again.
    ///
    /// While paused, a PINGRESP that is late is not held against the
    /// server (it may be waiting unread in the transport), and PINGREQ is
    /// still sent every keep alive interval so that the server keeps the
    /// connection [MQTT-3.1.2-23]. When reading resumes, the wait for an
    /// outstanding PINGRESP starts again from `now`, so a server that is
    /// really gone is still noticed. The pause ends with the connection:
    /// [`connect`](Self::connect) starts unpaused.
    pub fn set_input_paused(&mut self, now: Instant, paused: bool) {
        self.now = now;
        if self.input_paused && !paused {
            let wait = self.ping_wait();
            if let Some(t) = self.timers[Timer::PingResp as usize].as_mut() {
                *t = now + wait;
            }
        }
        self.input_paused = paused;
    }

    /// How long to wait for PINGRESP.
    fn ping_wait(&self) -> u64 {
        match self.opts.ping_timeout {
            0 => u64::from(self.keep_alive) * 1000,
            t => t,
        }
    }

    fn keep_alive_deadline(&self) -> Option<Instant> {
        if self.state != ConnectionState::Connected
            || self.keep_alive == 0
            || (self.timers[Timer::PingResp as usize].is_some() && !self.input_paused)
        {
            return None;
        }
        Some(self.last_sent + Duration::from(self.keep_alive) * 1000)
    }

    // ----- internals: sending ---------------------------------------------

    fn encode_packet(&mut self, packet: PacketRef<'_>) -> Result<usize, ClientError> {
        let n = packet.encode(self.version, &mut self.out)?;
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += n as u64;
        self.last_sent = self.now;
        Ok(n)
    }

    /// [`encode_packet`](Self::encode_packet) for a packet that must not
    /// exceed `maximum` bytes: encoded once (validation and sizing
    /// included), and removed again, counting nothing, when it is larger.
    fn encode_packet_within(
        &mut self,
        packet: PacketRef<'_>,
        maximum: u32,
    ) -> Result<usize, ClientError> {
        if let PacketRef::Publish(p) = &packet {
            if p.payload.len() >= maximum as usize {
                // Surely too large: not even written (and buffered) once.
                let size = packet.encoded_len(self.version)?;
                return Err(ClientError::PacketTooLarge { size, maximum });
            }
        }
        let start = self.out.len();
        let n = packet.encode(self.version, &mut self.out)?;
        if n > maximum as usize {
            self.out.truncate(start);
            return Err(ClientError::PacketTooLarge { size: n, maximum });
        }
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += n as u64;
        self.last_sent = self.now;
        Ok(n)
    }

    // ----- internals: receiving -------------------------------------------

    fn handle_packet(&mut self, packet: Packet) {
        if self.opts.request_problem_information == Some(false) && carries_problem_info(&packet) {
            // [MQTT-3.1.2-29] with Request Problem Information 0, a Reason
            // String or User Property only on PUBLISH, CONNACK, DISCONNECT.
            self.violation(ProtocolViolation::ProblemInformation(packet.packet_type()));
            return;
        }
        if self.state == ConnectionState::Connecting {
            match packet {
                Packet::ConnAck(c) => self.on_connack(*c),
                Packet::Auth(a) => self.on_auth(a),
                other => self.violation(ProtocolViolation::UnexpectedPacket(other.packet_type())),
            }
            return;
        }
        match packet {
            Packet::Publish(p) => self.on_publish(p),
            Packet::PubAck(a) => self.on_puback(a),
            Packet::PubRec(r) => self.on_pubrec(r),
            Packet::PubRel(r) => self.on_pubrel(r),
            Packet::PubComp(c) => self.on_pubcomp(c),
            Packet::SubAck(s) => self.on_suback(s),
            Packet::UnsubAck(u) => self.on_unsuback(u),
            Packet::PingResp => {
                self.timers[Timer::PingResp as usize] = None;
                self.events.push_back(Event::Pong);
            }
            Packet::Disconnect(d) if self.version.is_v5() => {
                if d.properties.session_expiry_interval.is_some() {
                    // [MQTT-3.14.2-2] a server never sends Session Expiry
                    // Interval in DISCONNECT.
                    self.violation(ProtocolViolation::SessionExpiryInServerDisconnect);
                } else {
                    self.teardown(DisconnectReason::ByServer(d));
                }
            }
            Packet::Auth(a) => self.on_auth(a),
            other => self.violation(ProtocolViolation::UnexpectedPacket(other.packet_type())),
        }
    }

    // ----- internals: ending -----------------------------------------------

    /// The server broke a rule: DISCONNECT with the reason code (5.0), an
    /// event saying why, and the connection ends.
    fn violation(&mut self, v: ProtocolViolation) {
        if self.version.is_v5() {
            let d = Disconnect::new(v.reason_code());
            let _ = self.encode_packet(PacketRef::Disconnect(d.as_view()));
        }
        self.teardown(DisconnectReason::ProtocolViolation(v));
    }

    /// The connection is over; the session stays.
    fn teardown(&mut self, reason: DisconnectReason) {
        self.state = ConnectionState::Disconnected;
        self.timers = [None; TIMERS];
        // A pause was about that transport; the next one starts read.
        self.input_paused = false;
        self.reauthenticating = false;
        self.auth_challenged = false;
        self.in_aliases.clear();
        self.out_aliases.clear();
        // A QoS 2 message the application acknowledged whose PUBREC was
        // still held back by order: keep the acknowledgement, so PUBREC
        // goes when the server sends the message again (the application
        // will not acknowledge it twice).
        for p in self.ack_queue.drain(..).filter(|p| p.acked) {
            if let Some(q) = self.inbound_qos2.iter_mut().find(|q| q.token == p.token) {
                q.acked = true;
            }
        }
        self.inbound_qos1 = 0;
        self.first_live_ack_token = self.next_ack_token;
        self.events.push_back(Event::Disconnected(reason));
    }
}
