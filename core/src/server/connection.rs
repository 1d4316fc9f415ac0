//! [`ServerConnection`]: the server role's state machine for one network
//! connection.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};

use super::event::{
    Accept, ClientViolation, CloseReason, DropReason, InflightDelivery, ServerError, ServerEvent,
    ServerSession,
};
use super::options::ServerOptions;
use crate::codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, DecodeOptions,
    Decoder, Disconnect, DisconnectProperties, Error, MqttString, Packet, PacketRef, PacketType,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, PublishProperties, PublishRef, QoS,
    ReasonCode, SubAck, Subscribe, TopicNameRef, UnsubAck, Unsubscribe, Will,
};
use crate::connection::{InboundTopicAliases, OutboundAlias, OutboundTopicAliases, PacketIds};
use crate::time::{Duration, Instant};

mod connect;
mod inbound;
mod outbound;

/// Below this many spare bytes, an output buffer taken by
/// [`ServerConnection::take_transmit`] is handed over whole rather than
/// split (see there).
const SMALL_TAIL: usize = 64;

/// Where a server connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerState {
    /// The transport is open; CONNECT has not arrived.
    AwaitingConnect,
    /// CONNECT arrived ([`ServerEvent::ConnectRequested`]); waiting for
    /// [`ServerConnection::accept`] or [`ServerConnection::reject`], and
    /// any authentication exchange.
    Connecting,
    /// CONNACK accepted the connection.
    Connected,
    /// The connection ended ([`ServerEvent::Disconnected`]); send what is
    /// left to send and close the transport.
    Closed,
}

/// Whose turn it is in an enhanced authentication exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthTurn {
    /// No exchange under way.
    Idle,
    /// The application must answer (AUTH, or accept/reject).
    App,
    /// We sent AUTH 0x18; the client must answer with AUTH.
    Client,
}

/// An inbound QoS 1 or 2 message waiting for the application's
/// acknowledgement (manual acknowledgement), in arrival order.
#[derive(Debug, Clone, Copy)]
struct PendingAck {
    packet_id: u16,
    qos: QoS,
    code: Option<ReasonCode>,
}

/// An inbound QoS 2 message not released yet.
#[derive(Debug, Clone, Copy)]
struct InboundQos2 {
    packet_id: u16,
    /// PUBREC went out (on this connection or an earlier one), or is due
    /// whenever the client resends the PUBLISH.
    rec_sent: bool,
    /// It came with a resumed session: it does not count against our
    /// Receive Maximum, which applies to one network connection (spec
    /// 4.9: the client's send quota starts afresh).
    resumed: bool,
}

impl crate::connection::HeldQos2 for InboundQos2 {
    fn packet_id(&self) -> u16 {
        self.packet_id
    }
    fn rec_sent(&self) -> bool {
        self.rec_sent
    }
}

/// The parts of a connection most clients never use (enhanced
/// authentication, topic aliases, UNSUBSCRIBE, 3.1, a resumed session's
/// resends): allocated on first use, so that an idle connection costs
/// little (issue 17).
#[derive(Debug)]
struct Rare {
    auth_method: Option<MqttString>,
    in_aliases: InboundTopicAliases,
    out_aliases: OutboundTopicAliases,
    pending_unsubscribes: Vec<(u16, usize)>,
    /// 3.1 only: the QoS each pending SUBSCRIBE requested per filter, the
    /// answer to a refused filter (3.1 has no Failure code).
    v31_requested: Vec<(u16, Vec<QoS>)>,
    /// Packet identifiers of a resumed session's messages in flight, in
    /// order, to resend once what the client sent before CONNACK is
    /// handled (see [`ServerConnection::accept`]).
    resend: Vec<u16>,
}

impl Rare {
    fn new() -> Box<Rare> {
        Box::new(Rare {
            auth_method: None,
            in_aliases: InboundTopicAliases::new(0),
            out_aliases: OutboundTopicAliases::new(0),
            pending_unsubscribes: Vec::new(),
            v31_requested: Vec::new(),
            resend: Vec::new(),
        })
    }
}

/// The QoS 1 and 2 state of a connection, both ways: allocated on the
/// first message that needs it ([`LazyTraffic`]), so that a connection
/// that only idles (or only sees QoS 0) costs little (issue 17).
#[derive(Debug)]
struct Traffic {
    ids: PacketIds,
    inflight: VecDeque<InflightDelivery>,
    /// Waiting for room, with the time each was queued (message expiry).
    queued: VecDeque<(Publish, Instant)>,
    ack_queue: VecDeque<PendingAck>,
    inbound_qos2: Vec<InboundQos2>,
}

impl Traffic {
    const EMPTY: Traffic = Traffic {
        ids: PacketIds::new(),
        inflight: VecDeque::new(),
        queued: VecDeque::new(),
        ack_queue: VecDeque::new(),
        inbound_qos2: Vec::new(),
    };
}

/// What a connection without [`Traffic`] reads.
static NO_TRAFFIC: Traffic = Traffic::EMPTY;

/// A [`Traffic`] allocated on first mutable use: reading one that was
/// never needed reads [`NO_TRAFFIC`].
#[derive(Debug)]
struct LazyTraffic(Option<Box<Traffic>>);

impl core::ops::Deref for LazyTraffic {
    type Target = Traffic;

    fn deref(&self) -> &Traffic {
        self.0.as_deref().unwrap_or(&NO_TRAFFIC)
    }
}

impl core::ops::DerefMut for LazyTraffic {
    fn deref_mut(&mut self) -> &mut Traffic {
        self.0.get_or_insert_with(|| Box::new(Traffic::EMPTY))
    }
}

/// What the client announced in CONNECT, or the defaults.
#[derive(Debug, Clone, Copy)]
struct ClientLimits {
    receive_maximum: u16,
    maximum_packet_size: u32,
    topic_alias_maximum: u16,
    problem_information: bool,
    response_information: bool,
}

impl ClientLimits {
    const DEFAULT: ClientLimits = ClientLimits {
        receive_maximum: u16::MAX,
        maximum_packet_size: crate::codec::MAX_PACKET_SIZE,
        topic_alias_maximum: 0,
        problem_information: true,
        response_information: false,
    };
}

/// [`ServerConnection`]'s `connect_deadline` when none runs.
const NO_DEADLINE: Instant = Instant::MAX;

/// A sans-IO MQTT 3.1.1 and 5.0 server connection: one network
/// connection of one client, as the broker sees it.
///
/// It reads no clock and touches no socket. The caller owns the transport
/// and the time; the connection takes bytes, commands and the current time
/// (milliseconds from any monotonic origin) and gives back bytes to send,
/// events and its next deadline.
///
/// # Methods, by group
///
/// * Inputs: [`handle_input`](Self::handle_input) (bytes arrived, any
///   chunking), [`handle_timeout`](Self::handle_timeout) (the deadline
///   passed; a spurious call is harmless),
///   [`handle_transport_closed`](Self::handle_transport_closed).
/// * Commands, which answer at once: [`accept`](Self::accept),
///   [`reject`](Self::reject), [`auth`](Self::auth),
///   [`publish`](Self::publish), [`acknowledge`](Self::acknowledge),
///   [`suback`](Self::suback), [`unsuback`](Self::unsuback),
///   [`disconnect`](Self::disconnect).
/// * Outputs: [`poll_transmit`](Self::poll_transmit) (or
///   [`take_transmit`](Self::take_transmit)), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
/// * Getters: [`state`](Self::state), [`version`](Self::version),
///   [`client_id`](Self::client_id), [`keep_alive`](Self::keep_alive), ...;
///   the session: [`take_session`](Self::take_session).
///
/// # The loop
///
/// After every input or command, drain in this order: bytes to send until
/// `poll_transmit` returns 0, events until `poll_event` returns `None`,
/// then wait for input or until `poll_timeout`. Once the state is
/// [`ServerState::Closed`], send the last bytes and close the transport.
///
/// ```
/// use mqtt_core::server::{Accept, ServerConnection, ServerEvent, ServerOptions};
///
/// let mut conn = ServerConnection::new(ServerOptions::new());
/// // A 3.1.1 CONNECT with client id "c" arrives.
/// conn.handle_input(0, &[0x10, 0x0D, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'c']);
/// let Some(ServerEvent::ConnectRequested(connect)) = conn.poll_event() else { panic!() };
/// assert_eq!(connect.client_id.as_str(), "c");
/// conn.accept(1, Accept::new()).unwrap();
/// let mut buf = [0u8; 16];
/// let n = conn.poll_transmit(&mut buf);
/// assert_eq!(&buf[..n], &[0x20, 0x02, 0x00, 0x00]); // CONNACK
/// assert_eq!(conn.poll_timeout(), Some(1 + 90_000)); // 1.5 x keep alive
/// ```
#[derive(Debug)]
pub struct ServerConnection {
    opts: ServerOptions,
    state: ServerState,
    version: ProtocolVersion,
    decoder: Decoder,
    out: BytesMut,
    events: VecDeque<ServerEvent>,
    now: Instant,
    /// When a CONNECT must have been accepted by; [`NO_DEADLINE`] for
    /// none (8 bytes rather than an `Option`'s 16: issue 17).
    connect_deadline: Instant,
    last_received: Instant,
    keep_alive: u16,
    client_id: MqttString,
    clean_start: bool,
    session_expiry_zero: bool,
    /// Boxed: most clients have none, and an idle connection should cost
    /// little (issue 17).
    will: Option<Box<Will>>,
    auth_turn: AuthTurn,
    reauthenticating: bool,
    client: ClientLimits,
    /// Messages in flight or waiting, either way; see [`Traffic`].
    traffic: LazyTraffic,
    pending_subscribes: Vec<(u16, usize)>,
    /// See [`Rare`]; `None` until one of its parts is needed.
    rare: Option<Box<Rare>>,
    /// Packets decoded from the client and encoded for it, for statistics.
    packets_received: u64,
    packets_sent: u64,
}

impl ServerConnection {
    /// A connection whose transport just opened, waiting for CONNECT. The
    /// connect timeout counts from the first call that passes a time.
    pub fn new(options: ServerOptions) -> Self {
        let decoder = Decoder::new(
            DecodeOptions::new(ProtocolVersion::V5)
                .with_max_packet_size(options.maximum_packet_size),
        );
        ServerConnection {
            state: ServerState::AwaitingConnect,
            version: ProtocolVersion::V5,
            decoder,
            out: BytesMut::new(),
            events: VecDeque::new(),
            now: 0,
            connect_deadline: NO_DEADLINE,
            last_received: 0,
            keep_alive: 0,
            client_id: MqttString::new(),
            clean_start: true,
            session_expiry_zero: true,
            will: None,
            auth_turn: AuthTurn::Idle,
            reauthenticating: false,
            client: ClientLimits::DEFAULT,
            traffic: LazyTraffic(None),
            pending_subscribes: Vec::new(),
            rare: None,
            packets_received: 0,
            packets_sent: 0,
            opts: options,
        }
    }

    // ----- the rarely used parts ------------------------------------------

    /// The rarely used parts, allocated now if they were not.
    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Rare::new)
    }

    /// The CONNECT's Authentication Method (5.0 enhanced authentication).
    fn auth_method(&self) -> Option<&MqttString> {
        self.rare.as_ref().and_then(|r| r.auth_method.as_ref())
    }

    // ----- getters -------------------------------------------------------

    /// The options the connection was made with.
    pub fn options(&self) -> &ServerOptions {
        &self.opts
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// The protocol version (the one CONNECT named; 5.0 before it).
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The client identifier: the one in CONNECT, or the Assigned Client
    /// Identifier once accepted with one.
    pub fn client_id(&self) -> &MqttString {
        &self.client_id
    }

    /// The keep alive in force, in seconds (0: none).
    pub fn keep_alive(&self) -> u16 {
        self.keep_alive
    }

    /// Outbound QoS 1 and 2 messages sent and not completed.
    pub fn inflight_len(&self) -> usize {
        self.traffic.inflight.len()
    }

    /// Outbound QoS 1 and 2 messages sent and not completed, in order.
    pub fn inflight(&self) -> impl Iterator<Item = &InflightDelivery> + '_ {
        self.traffic.inflight.iter()
    }

    /// Outbound messages waiting for room in the client's Receive Maximum,
    /// in order: resent messages of a resumed session keep their packet
    /// identifier there, the others have none (0) until they are sent.
    pub fn queued(&self) -> impl Iterator<Item = &Publish> + '_ {
        self.traffic.queued.iter().map(|(p, _)| p)
    }

    /// Packet identifiers of inbound QoS 2 messages received and not
    /// released yet (see [`ServerSession::inbound_qos2`]).
    pub fn inbound_qos2(&self) -> impl Iterator<Item = u16> + '_ {
        self.traffic.inbound_qos2.iter().map(|q| q.packet_id)
    }

    /// Outbound messages waiting for room in the client's Receive Maximum.
    pub fn queued_len(&self) -> usize {
        self.traffic.queued.len()
    }

    /// The client's Receive Maximum (65,535 when it set none).
    pub fn client_receive_maximum(&self) -> u16 {
        self.client.receive_maximum
    }

    /// The client's Maximum Packet Size (the protocol's when it set none).
    pub fn client_maximum_packet_size(&self) -> u32 {
        self.client.maximum_packet_size
    }

    /// Bytes received and not handled yet. While the state is
    /// [`ServerState::Connecting`] nothing after CONNECT is handled (only
    /// AUTH), so what the client sends meanwhile waits here: a driver may
    /// stop reading from the transport while this grows. Before the
    /// connection is accepted, more than
    /// [`ServerOptions::max_input_before_accept`] closes it; after, it is
    /// bounded by the largest packet we accept. 0 once closed.
    pub fn buffered_input(&self) -> usize {
        self.decoder.buffered()
    }

    /// Packets received from the client and decoded, since the start.
    pub fn packets_received(&self) -> u64 {
        self.packets_received
    }

    /// Packets encoded for the client, since the start.
    pub fn packets_sent(&self) -> u64 {
        self.packets_sent
    }

    // ----- inputs --------------------------------------------------------

    /// Bytes received from the transport, in any chunking. Packets are
    /// handled as they complete; after CONNECT, nothing but AUTH (and a
    /// DISCONNECT during an authentication exchange [MQTT-3.1.2-30]) is
    /// handled until the connection is accepted [MQTT-3.1.4-6]: the rest
    /// waits, up to [`ServerOptions::max_input_before_accept`] bytes,
    /// beyond which the connection is closed. Input after the connection
    /// ended is ignored.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.set_now(now);
        if self.state == ServerState::Closed || data.is_empty() {
            return;
        }
        self.last_received = now;
        self.decoder.feed(data);
        self.process();
        let limit = self.opts.max_input_before_accept;
        if matches!(
            self.state,
            ServerState::AwaitingConnect | ServerState::Connecting
        ) && self.decoder.buffered() > limit
        {
            self.violation(ClientViolation::InputBeforeAccept { limit });
        }
    }

    /// The time passed: ends the connection when CONNECT or the
    /// application's decision is late, or when the client was silent for
    /// 1.5 times the keep alive [MQTT-3.1.2-22]. Calling it early does
    /// nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.set_now(now);
        match self.state {
            ServerState::AwaitingConnect | ServerState::Connecting => {
                if self.connect_deadline().is_some_and(|t| now >= t) {
                    self.close(CloseReason::ConnectTimeout);
                }
            }
            ServerState::Connected => {
                if self.keep_alive_deadline().is_some_and(|t| now >= t) {
                    if self.version.is_v5() {
                        let d = Disconnect::new(ReasonCode::KeepAliveTimeout);
                        let _ = self.encode(PacketRef::Disconnect(d.as_view()));
                    }
                    self.close(CloseReason::KeepAliveTimeout);
                }
            }
            ServerState::Closed => {}
        }
    }

    /// The transport closed (or failed). Reports
    /// [`CloseReason::TransportClosed`] (and the will) unless the
    /// connection had already ended.
    pub fn handle_transport_closed(&mut self, now: Instant) {
        self.set_now(now);
        if self.state != ServerState::Closed {
            self.close(CloseReason::TransportClosed);
        }
        self.out.clear();
    }

    // ----- outputs -------------------------------------------------------

    /// Copies bytes to send into `buf` and returns how many; 0 when there
    /// is nothing to send. Packets may be split across calls.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        let n = self.out.len().min(buf.len());
        buf[..n].copy_from_slice(&self.out[..n]);
        bytes::Buf::advance(&mut self.out, n);
        n
    }

    /// Takes every byte waiting to be sent, without copying; empty when
    /// there is nothing.
    #[must_use]
    pub fn take_transmit(&mut self) -> Bytes {
        if self.out.capacity() - self.out.len() < SMALL_TAIL {
            // No room worth keeping for the next bytes: hand the buffer
            // over whole, so that an idle connection holds none (a split
            // would keep an empty view of it, and a shared header).
            core::mem::take(&mut self.out).freeze()
        } else {
            self.out.split().freeze()
        }
    }

    /// How many bytes [`poll_transmit`](Self::poll_transmit) has ready.
    pub fn transmit_len(&self) -> usize {
        self.out.len()
    }

    /// The next event, `None` when there is none.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() != 0 {
            // Drained: give the queue back rather than keep room for
            // events (264 bytes each) on every idle connection; it is
            // allocated again by the next input that makes an event.
            self.events = VecDeque::new();
        }
        event
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout)
    /// must be called: the connect timeout, or 1.5 times the keep alive
    /// after the last input.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ServerState::AwaitingConnect | ServerState::Connecting => self.connect_deadline(),
            ServerState::Connected => self.keep_alive_deadline(),
            ServerState::Closed => None,
        }
    }

    fn keep_alive_deadline(&self) -> Option<Instant> {
        if self.state != ServerState::Connected || self.keep_alive == 0 {
            return None;
        }
        Some(self.last_received + Duration::from(self.keep_alive) * 1500)
    }

    // ----- commands --------------------------------------------------------

    /// Ends the connection from our side: DISCONNECT with `reason_code`
    /// and `properties` in 5.0 (nothing in 3.1.1, which has no server
    /// DISCONNECT), then [`ServerEvent::WillPublish`] and
    /// [`ServerEvent::Disconnected`] with [`CloseReason::Local`]. Before
    /// CONNECT it just closes; while connecting use [`reject`](Self::reject).
    pub fn disconnect(
        &mut self,
        now: Instant,
        reason_code: ReasonCode,
        properties: DisconnectProperties,
    ) -> Result<(), ServerError> {
        self.set_now(now);
        match self.state {
            ServerState::Closed => return Err(ServerError::NotConnected),
            ServerState::Connecting => {
                return Err(ServerError::InvalidState(
                    "the connection is not accepted yet: use reject",
                ))
            }
            ServerState::Connected if self.version.is_v5() => {
                if !reason_code.allowed_in(PacketType::Disconnect) {
                    return Err(ServerError::InvalidReasonCode(reason_code));
                }
                if properties.session_expiry_interval.is_some() {
                    // [MQTT-3.14.2-2]
                    return Err(ServerError::InvalidState(
                        "a server never sends Session Expiry Interval in DISCONNECT",
                    ));
                }
                let mut d = Disconnect::new(reason_code);
                d.properties = properties;
                if self.encode(PacketRef::Disconnect(d.as_view())).is_err() {
                    let d = Disconnect::new(reason_code);
                    let _ = self.encode(PacketRef::Disconnect(d.as_view()));
                }
            }
            _ => {}
        }
        self.close(CloseReason::Local(reason_code));
        Ok(())
    }

    /// The session state to keep once the connection has ended: messages
    /// to the client in flight and queued, and inbound QoS 2 messages not
    /// released. Give it to the client's next connection with
    /// [`Accept::with_session`]. Queued messages whose Message Expiry
    /// Interval has passed are left out, the others carry what is left of
    /// it. Taking it leaves this connection's empty.
    ///
    /// An inbound QoS 2 message reported to the application
    /// ([`ServerEvent::Message`]) and not acknowledged yet (manual
    /// acknowledgement; [`acknowledge`](Self::acknowledge) still works
    /// after the connection ended, until this call) is kept as received:
    /// when the client resends it on its next connection it is not
    /// delivered again, and PUBREC Success answers it [MQTT-4.3.3-10]. One
    /// refused with an error code is forgotten (a resend is a new message
    /// [MQTT-4.3.3-9]).
    pub fn take_session(&mut self) -> Result<ServerSession, ServerError> {
        if self.state != ServerState::Closed {
            return Err(ServerError::InvalidState(
                "the session is taken once the connection has ended",
            ));
        }
        let mut session = ServerSession::new();
        // Taken whole (packet identifiers too): the connection is closed and needs it no more.
        let Some(t) = self.traffic.0.take() else {
            return Ok(session);
        };
        let Traffic {
            inflight,
            queued,
            inbound_qos2,
            ack_queue: _,
            ids: _,
        } = *t;
        session.inflight = inflight.into_iter().collect();
        let now = self.now;
        session.queued = queued
            .into_iter()
            .filter_map(|(mut p, at)| {
                // What is left of the Message Expiry Interval, as of now
                // (a resend, DUP, was sent before: its delivery has
                // started and it does not expire [MQTT-3.3.2-5]).
                if let Some(e) = p.properties.message_expiry_interval.filter(|_| !p.dup) {
                    let left = remaining_expiry(e, at, now)?;
                    p.properties.message_expiry_interval = Some(left);
                }
                Some(p)
            })
            .collect();
        session.inbound_qos2 = inbound_qos2.into_iter().map(|q| q.packet_id).collect();
        Ok(session)
    }

    // ----- internals -------------------------------------------------------

    /// The connect timeout's deadline, if one runs.
    fn connect_deadline(&self) -> Option<Instant> {
        (self.connect_deadline != NO_DEADLINE).then_some(self.connect_deadline)
    }

    fn set_now(&mut self, now: Instant) {
        self.now = now;
        if self.connect_deadline == NO_DEADLINE
            && self.state == ServerState::AwaitingConnect
            && self.opts.connect_timeout > 0
        {
            self.connect_deadline = now + self.opts.connect_timeout;
        }
    }

    /// Decodes and handles what is buffered, as far as the state allows.
    fn process(&mut self) {
        loop {
            match self.state {
                ServerState::Closed => break,
                ServerState::Connecting if self.auth_turn != AuthTurn::Client => break,
                _ => {}
            }
            match self.decoder.next_packet() {
                Ok(Some(packet)) => {
                    self.packets_received += 1;
                    self.handle_packet(packet)
                }
                Ok(None) => break,
                Err(e) => {
                    self.on_decode_error(e);
                    break;
                }
            }
        }
        self.resend_resumed();
        self.flush_queued();
    }

    fn on_decode_error(&mut self, e: Error) {
        if self.state == ServerState::AwaitingConnect {
            if matches!(e, Error::UnsupportedProtocolVersion(_)) {
                // [MQTT-3.1.2-2] CONNACK with return code 1 (0x84), in the
                // 3.1.1 form every client version can read, then close.
                self.out.extend_from_slice(&[0x20, 0x02, 0x00, 0x01]);
                self.close(CloseReason::Rejected(ConnAck::new(
                    false,
                    ReasonCode::UnsupportedProtocolVersion,
                )));
            } else {
                self.close(CloseReason::ProtocolViolation(ClientViolation::Decode(e)));
            }
            return;
        }
        self.violation(ClientViolation::Decode(e));
    }

    fn handle_packet(&mut self, packet: Packet) {
        match self.state {
            ServerState::AwaitingConnect => match packet {
                Packet::Connect(c) => self.on_connect(*c),
                // [MQTT-3.1.0-1] close without sending anything.
                other => self.close(CloseReason::ProtocolViolation(
                    ClientViolation::FirstPacketNotConnect(other.packet_type()),
                )),
            },
            ServerState::Connecting => match packet {
                Packet::Auth(a) => self.on_auth(a),
                // [MQTT-3.1.2-30] allows it during the exchange.
                Packet::Disconnect(d) => self.close(CloseReason::ByClient(d)),
                Packet::Connect(_) => self.violation(ClientViolation::SecondConnect),
                other => self.violation(ClientViolation::UnexpectedPacket(other.packet_type())),
            },
            ServerState::Connected => match packet {
                Packet::Publish(p) => self.on_publish(p),
                Packet::PubAck(a) => self.on_puback(a),
                Packet::PubRec(r) => self.on_pubrec(r),
                Packet::PubRel(r) => self.on_pubrel(r),
                Packet::PubComp(c) => self.on_pubcomp(c),
                Packet::Subscribe(s) => self.on_subscribe(s),
                Packet::Unsubscribe(u) => self.on_unsubscribe(u),
                Packet::PingReq => {
                    let _ = self.encode(PacketRef::PingResp);
                    self.events.push_back(ServerEvent::Ping);
                }
                Packet::Disconnect(d) => self.on_disconnect(d),
                Packet::Auth(a) => self.on_auth(a),
                Packet::Connect(_) => self.violation(ClientViolation::SecondConnect),
                other => self.violation(ClientViolation::UnexpectedPacket(other.packet_type())),
            },
            ServerState::Closed => {}
        }
    }

    fn on_disconnect(&mut self, d: Disconnect) {
        if self.version.is_v5()
            && self.session_expiry_zero
            && d.properties.session_expiry_interval.is_some_and(|s| s > 0)
        {
            self.violation(ClientViolation::SessionExpiryAfterZero);
            return;
        }
        self.close(CloseReason::ByClient(d));
    }

    /// Encodes a packet, unless it is larger than the client's Maximum
    /// Packet Size [MQTT-3.1.2-25].
    fn encode(&mut self, packet: PacketRef<'_>) -> Result<usize, ServerError> {
        let maximum = self.client.maximum_packet_size;
        let start = self.out.len();
        let n = packet.encode(self.version, &mut self.out)?;
        if n > maximum as usize {
            self.out.truncate(start);
            return Err(ServerError::PacketTooLarge { size: n, maximum });
        }
        self.packets_sent += 1;
        Ok(n)
    }

    /// The client broke a rule: DISCONNECT with the reason code (5.0; a
    /// CONNACK while connecting), an event saying why, and the connection
    /// ends.
    fn violation(&mut self, v: ClientViolation) {
        if self.version.is_v5() {
            let code = v.reason_code();
            match self.state {
                ServerState::Connected => {
                    let d = Disconnect::new(code);
                    let _ = self.encode(PacketRef::Disconnect(d.as_view()));
                }
                ServerState::Connecting => {
                    let code = if code.allowed_in(PacketType::ConnAck) {
                        code
                    } else {
                        ReasonCode::UnspecifiedError
                    };
                    let c = ConnAck::new(false, code);
                    let _ = self.encode(PacketRef::ConnAck(c.as_view()));
                }
                _ => {}
            }
        }
        self.close(CloseReason::ProtocolViolation(v));
    }

    /// The connection is over: the will when due, then the reason.
    fn close(&mut self, reason: CloseReason) {
        let was_connected = self.state == ServerState::Connected;
        self.state = ServerState::Closed;
        // Input is ignored from now on: free what is buffered.
        self.decoder = Decoder::new(*self.decoder.options());
        self.connect_deadline = NO_DEADLINE;
        self.auth_turn = AuthTurn::Idle;
        self.reauthenticating = false;
        if let Some(r) = self.rare.as_mut() {
            r.in_aliases.clear();
            r.out_aliases.clear();
            r.pending_unsubscribes.clear();
            r.v31_requested.clear();
        }
        self.pending_subscribes.clear();
        // Unacknowledged QoS 1 messages will be resent by the client and
        // delivered again (at least once). QoS 2 messages reported to the
        // application stay held, with their pending acknowledgements, so
        // that a resend on the next connection is not delivered twice
        // [MQTT-4.3.3-10]; the application may still acknowledge them
        // until it takes the session.
        if let Some(t) = self.traffic.0.as_deref_mut() {
            t.ack_queue.retain(|p| p.qos == QoS::ExactlyOnce);
            // Decided but held back behind an earlier message: settled now.
            for p in &t.ack_queue {
                if p.code.is_some_and(|c| c.is_error()) {
                    t.inbound_qos2.retain(|q| q.packet_id != p.packet_id);
                }
            }
            t.ack_queue.retain(|p| p.code.is_none());
        }
        if was_connected && reason.publishes_will() {
            if let Some(will) = self.will.take() {
                self.events.push_back(ServerEvent::WillPublish(*will));
            }
        }
        self.will = None;
        self.events.push_back(ServerEvent::Disconnected(reason));
    }
}

/// What remains of a Message Expiry Interval of `interval` seconds set at
/// `at`, as of `now`; `None` once it has passed [MQTT-3.3.2-5].
fn remaining_expiry(interval: u32, at: Instant, now: Instant) -> Option<u32> {
    let elapsed = (now.saturating_sub(at) / 1000).min(u64::from(u32::MAX)) as u32;
    (elapsed < interval).then(|| interval - elapsed)
}

/// Removes what [MQTT-3.1.2-29] forbids when the client asked for no
/// problem information.
fn strip_ack_properties(p: &mut AckProperties) {
    p.reason_string = None;
    p.user_properties.clear();
}

/// [`strip_ack_properties`] for AUTH.
fn strip_auth_properties(p: &mut AuthProperties) {
    p.reason_string = None;
    p.user_properties.clear();
}
