//! [`Client`]: the client role's state machine.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};

use super::event::{
    AckToken, ClientError, Connected, DisconnectReason, DropReason, Event, Message,
    ProtocolViolation, PublishId,
};
use super::options::{ClientOptions, QueueFullPolicy, SessionLostPolicy};
use super::packet_ids::PacketIds;
use super::session::{SessionState, StoredOutgoing, StoredQos2, Subscription};
use super::stats::Stats;
use crate::codec::{
    Auth, AuthProperties, ConnAck, Connect, DecodeOptions, Decoder, Disconnect, MqttStr,
    MqttString, Packet, PacketRef, PacketType, ProtocolVersion, PubAck, PubComp, PubRec, PubRel,
    Publish, QoS, ReasonCode, SubAck, Subscribe, UnsubAck, Unsubscribe,
};
use crate::connection::{InboundTopicAliases, OutboundAlias, OutboundTopicAliases};
use crate::time::{Duration, Instant};

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

/// Whether `publish` (sent with its topic) still fits `maximum` with a
/// Topic Alias added. One that fits only without it is sent without it
/// [MQTT-3.2.2-15], and no mapping the server never saw is recorded.
fn fits_with_alias(publish: &mut Publish, version: ProtocolVersion, maximum: u32) -> bool {
    publish.properties.topic_alias = Some(1);
    let fits = PacketRef::Publish(publish.as_view())
        .encoded_len(version)
        .is_ok_and(|size| size <= maximum as usize);
    publish.properties.topic_alias = None;
    fits
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
    pub fn connect(&mut self, now: Instant) -> Result<(), ClientError> {
        if self.state != ConnectionState::Disconnected {
            return Err(ClientError::InvalidState("already connected or connecting"));
        }
        self.now = now;
        let v5 = self.version.is_v5();
        let clean_start = if v5 && self.connected_once {
            false
        } else {
            self.opts.clean_start
        };
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
        if self.state == ConnectionState::Disconnected {
            return;
        }
        if self.timers[Timer::ConnAck as usize].is_some_and(|t| now >= t) {
            self.teardown(DisconnectReason::ConnectTimeout);
            return;
        }
        if self.timers[Timer::PingResp as usize].is_some_and(|t| now >= t) {
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
                let wait = match self.opts.ping_timeout {
                    0 => u64::from(self.keep_alive) * 1000,
                    t => t,
                };
                self.timers[Timer::PingResp as usize] = Some(now + wait);
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
    /// must be called: CONNACK or PINGRESP due, or PINGREQ to send.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.keep_alive_deadline();
        for timer in self.timers.iter().flatten() {
            t = Some(t.map_or(*timer, |x| x.min(*timer)));
        }
        t
    }

    fn keep_alive_deadline(&self) -> Option<Instant> {
        if self.state != ConnectionState::Connected
            || self.keep_alive == 0
            || self.timers[Timer::PingResp as usize].is_some()
        {
            return None;
        }
        Some(self.last_sent + Duration::from(self.keep_alive) * 1000)
    }

    // ----- commands ------------------------------------------------------

    /// Publishes a message. The packet identifier is chosen here (the one
    /// in `publish` is ignored); the returned [`PublishId`] names the
    /// message in later events: [`Event::PublishCompleted`] for QoS 1 and 2,
    /// [`Event::PublishDropped`] if it never goes out. A QoS 0 message has
    /// no completion event.
    ///
    /// Sent at once when connected and the window allows, otherwise queued
    /// (see [`ClientOptions::max_queued`]). Refused, with nothing queued,
    /// when it is invalid, larger than the server's Maximum Packet Size,
    /// above its Maximum QoS, retained on a server without retain, or
    /// carries a Topic Alias or Subscription Identifier (the client chooses
    /// aliases itself [MQTT-3.3.4-6]).
    pub fn publish(
        &mut self,
        now: Instant,
        mut publish: Publish,
    ) -> Result<PublishId, ClientError> {
        self.now = now;
        if publish.properties.topic_alias.is_some() {
            return Err(ClientError::InvalidState(
                "topic aliases are chosen by the client (ClientOptions::auto_topic_alias)",
            ));
        }
        if !publish.properties.subscription_identifiers.is_empty() {
            return Err(ClientError::InvalidState(
                "a client PUBLISH carries no Subscription Identifier [MQTT-3.3.4-6]",
            ));
        }
        self.check_supported(&publish)?;
        publish.dup = false;
        let qos0 = publish.qos == QoS::AtMostOnce;
        publish.packet_id = if qos0 { 0 } else { 1 };
        // The fast path: connected, nothing queued ahead, room in the
        // window and in the transmit buffer. There the one encode below
        // validates and sizes the message; a queued one is checked here.
        let can_send_now = self.state == ConnectionState::Connected
            && self.pending.is_empty()
            && self.out.len() < self.opts.max_transmit_buffer
            && (qos0 || self.inflight_publishes < self.window());
        if !can_send_now {
            let size = PacketRef::Publish(publish.as_view()).encoded_len(self.version)?;
            if size > self.server.maximum_packet_size as usize {
                return Err(ClientError::PacketTooLarge {
                    size,
                    maximum: self.server.maximum_packet_size,
                });
            }
            if qos0 && self.state != ConnectionState::Connected && !self.opts.queue_qos0_offline {
                return Err(ClientError::NotConnected);
            }
            self.make_room()?;
        }
        let id = if qos0 {
            let t = self.next_token;
            self.next_token += 1;
            PublishId(t)
        } else {
            let pid = self.ids.allocate().ok_or(ClientError::NoPacketIdentifier)?;
            publish.packet_id = pid;
            PublishId(u64::from(pid))
        };
        let expiry = publish.properties.message_expiry_interval;
        let entry = Outgoing {
            id,
            kind: OutKind::Publish {
                publish,
                expiry,
                stage: Stage::Unsent,
            },
            queued_at: now,
        };
        if can_send_now {
            if let Err((o, e)) = self.try_send_outgoing(entry) {
                // Invalid or too large: refused like a queued one, with
                // nothing sent or queued and its identifier given back.
                if qos0 {
                    self.next_token -= 1;
                } else {
                    self.ids.release(o.packet_id());
                }
                return Err(e);
            }
        } else {
            self.pending.push_back(entry);
        }
        Ok(id)
    }

    /// Subscribes. The packet identifier is chosen here and returned; the
    /// SUBACK arrives as [`Event::Subscribed`]. Queued while disconnected.
    pub fn subscribe(
        &mut self,
        now: Instant,
        mut subscribe: Subscribe,
    ) -> Result<u16, ClientError> {
        self.now = now;
        if self.state == ConnectionState::Connected && self.version.is_v5() {
            if !self.server.wildcard_available
                && subscribe
                    .filters
                    .iter()
                    .any(|f| f.filter.as_bytes().iter().any(|b| *b == b'+' || *b == b'#'))
            {
                return Err(ClientError::FeatureNotSupported(
                    ReasonCode::WildcardSubscriptionsNotSupported,
                ));
            }
            if !self.server.subscription_ids_available
                && subscribe.properties.subscription_identifier.is_some()
            {
                return Err(ClientError::FeatureNotSupported(
                    ReasonCode::SubscriptionIdentifiersNotSupported,
                ));
            }
            if !self.server.shared_available
                && subscribe
                    .filters
                    .iter()
                    .any(|f| crate::topic::is_shared(f.filter.as_str()))
            {
                return Err(ClientError::FeatureNotSupported(
                    ReasonCode::SharedSubscriptionsNotSupported,
                ));
            }
        }
        subscribe.packet_id = 1;
        self.check_size(PacketRef::Subscribe(subscribe.as_view()))?;
        self.queue_control(now, |id| {
            subscribe.packet_id = id;
            OutKind::Subscribe(subscribe)
        })
    }

    /// Unsubscribes. The packet identifier is chosen here and returned; the
    /// UNSUBACK arrives as [`Event::Unsubscribed`]. Queued while
    /// disconnected.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        mut unsubscribe: Unsubscribe,
    ) -> Result<u16, ClientError> {
        self.now = now;
        unsubscribe.packet_id = 1;
        self.check_size(PacketRef::Unsubscribe(unsubscribe.as_view()))?;
        self.queue_control(now, |id| {
            unsubscribe.packet_id = id;
            OutKind::Unsubscribe(unsubscribe)
        })
    }

    /// Ends the connection normally: queues DISCONNECT (with its reason
    /// code and properties in 5.0; 0x04 asks the server to publish the
    /// will) and reports [`DisconnectReason::Local`]. Send the remaining
    /// bytes, then close the transport. The session is kept.
    pub fn disconnect(&mut self, now: Instant, disconnect: Disconnect) -> Result<(), ClientError> {
        self.now = now;
        if self.state == ConnectionState::Disconnected {
            return Err(ClientError::NotConnected);
        }
        if self.version.is_v5()
            && self.opts.session_expiry_interval == 0
            && disconnect
                .properties
                .session_expiry_interval
                .is_some_and(|s| s != 0)
        {
            // Spec 3.14.2.2.2: a Session Expiry Interval of 0 in CONNECT
            // cannot be made non-zero in DISCONNECT.
            return Err(ClientError::InvalidState(
                "a session that expired at close cannot be given an expiry in DISCONNECT",
            ));
        }
        self.encode_packet(PacketRef::Disconnect(disconnect.as_view()))?;
        self.teardown(DisconnectReason::Local);
        Ok(())
    }

    /// Sends AUTH (5.0 enhanced authentication) with `data` as the
    /// Authentication Data: the answer to an [`Event::AuthChallenge`]
    /// (reason 0x18), or, when connected and no exchange is under way, the
    /// start of a re-authentication (0x19). The method is the one in
    /// [`ClientOptions::authentication_method`]. Anything else (no AUTH
    /// from the server to answer) is [`ClientError::InvalidState`].
    pub fn authenticate(
        &mut self,
        now: Instant,
        data: Option<Bytes>,
        properties: AuthProperties,
    ) -> Result<(), ClientError> {
        self.now = now;
        if !self.version.is_v5() {
            return Err(ClientError::InvalidState("AUTH exists in MQTT 5.0 only"));
        }
        let Some(method) = self.opts.authentication_method.clone() else {
            return Err(ClientError::InvalidState(
                "no authentication method in the options",
            ));
        };
        let reason_code = match self.state {
            ConnectionState::Disconnected => return Err(ClientError::NotConnected),
            // The answer to the server's AUTH [MQTT-4.12.0-3].
            _ if self.auth_challenged => ReasonCode::ContinueAuthentication,
            ConnectionState::Connected if !self.reauthenticating => ReasonCode::ReAuthenticate,
            _ => {
                return Err(ClientError::InvalidState(
                    "no AUTH from the server to answer",
                ))
            }
        };
        let mut auth = Auth::new(reason_code);
        auth.properties = properties;
        auth.properties.authentication_method = Some(method);
        auth.properties.authentication_data = data;
        self.encode_packet(PacketRef::Auth(auth.as_view()))?;
        self.auth_challenged = false;
        if reason_code == ReasonCode::ReAuthenticate {
            self.reauthenticating = true;
        }
        Ok(())
    }

    /// Acknowledges a message delivered with an [`AckToken`] (manual
    /// acknowledgement). Acknowledgements leave in the order the messages
    /// arrived, as the spec requires [MQTT-4.6.0-2] [MQTT-4.6.0-3]: an
    /// early one waits for those before it.
    ///
    /// A token of a QoS 1 message from a connection that has since ended is
    /// accepted and does nothing (the server sends the message again).
    pub fn acknowledge(&mut self, now: Instant, token: AckToken) -> Result<(), ClientError> {
        self.now = now;
        if token.0 == 0 || token.0 >= self.next_ack_token {
            return Err(ClientError::UnknownAckToken);
        }
        if let Some(p) = self.ack_queue.iter_mut().find(|p| p.token == token.0) {
            if p.acked {
                return Err(ClientError::UnknownAckToken);
            }
            p.acked = true;
            self.release_acks();
        } else if let Some(q) = self.inbound_qos2.iter_mut().find(|q| q.token == token.0) {
            // From an earlier connection: PUBREC goes out when the server
            // sends the PUBLISH again.
            q.acked = true;
        }
        self.flush_pending();
        Ok(())
    }

    // ----- persistence ---------------------------------------------------

    /// The session state, as plain data: the client identifier, messages
    /// queued and in flight (in order, with where each is in its exchange),
    /// QoS 2 messages received and not released, and the subscriptions.
    /// Save it (see [`SessionState::to_bytes`]) to survive a restart of the
    /// program, and give it to [`import_session`](Self::import_session).
    pub fn export_session(&self) -> SessionState {
        let mut outgoing = Vec::with_capacity(self.inflight.len() + self.pending.len());
        for o in self.inflight.iter().chain(self.pending.iter()) {
            let stored = match &o.kind {
                OutKind::Publish {
                    publish,
                    expiry,
                    stage,
                } => {
                    let mut p = publish.clone();
                    p.properties.message_expiry_interval = *expiry;
                    match stage {
                        Stage::Unsent => StoredOutgoing::Publish(p),
                        Stage::AwaitAck => StoredOutgoing::PublishSent(p),
                        Stage::AwaitComp => StoredOutgoing::Released(p.packet_id),
                    }
                }
                OutKind::Subscribe(s) => StoredOutgoing::Subscribe(s.clone()),
                OutKind::Unsubscribe(u) => StoredOutgoing::Unsubscribe(u.clone()),
            };
            outgoing.push(stored);
        }
        SessionState {
            client_id: self.client_id.clone(),
            connected_before: self.connected_once,
            outgoing,
            inbound_qos2: self
                .inbound_qos2
                .iter()
                .map(|q| StoredQos2 {
                    packet_id: q.packet_id,
                    released_by_app: q.acked,
                })
                .collect(),
            subscriptions: self.subscriptions.clone(),
        }
    }

    /// Restores a session exported by [`export_session`](Self::export_session),
    /// replacing the current one. Only while disconnected. Messages that
    /// were in flight are resent (DUP) after a CONNACK with Session Present;
    /// QoS 0 messages get new local tokens, and expiry intervals restart
    /// from now. A received QoS 2 message the application had not
    /// acknowledged (manual acknowledgement) is delivered again when the
    /// server resends it, with a new [`AckToken`].
    pub fn import_session(&mut self, now: Instant, state: SessionState) -> Result<(), ClientError> {
        if self.state != ConnectionState::Disconnected {
            return Err(ClientError::InvalidState(
                "import a session while disconnected",
            ));
        }
        self.now = now;
        let mut ids = PacketIds::new();
        let mut inflight = VecDeque::new();
        let mut pending = VecDeque::new();
        let mut inflight_publishes = 0u16;
        let mut next_token = FIRST_TOKEN;
        // The export lists what is in flight, then the queue; a SUBSCRIBE
        // or UNSUBSCRIBE after a queued publish was queued too (taken as
        // sent, it would go out ahead of that publish on resume).
        let mut queued = false;
        for stored in state.outgoing {
            let (kind, sent) = match stored {
                StoredOutgoing::Publish(p) => (
                    OutKind::Publish {
                        expiry: p.properties.message_expiry_interval,
                        publish: p,
                        stage: Stage::Unsent,
                    },
                    false,
                ),
                StoredOutgoing::PublishSent(p) if p.qos == QoS::AtMostOnce => (
                    OutKind::Publish {
                        expiry: p.properties.message_expiry_interval,
                        publish: p,
                        stage: Stage::Unsent,
                    },
                    false,
                ),
                StoredOutgoing::PublishSent(p) => (
                    OutKind::Publish {
                        expiry: p.properties.message_expiry_interval,
                        publish: p,
                        stage: Stage::AwaitAck,
                    },
                    true,
                ),
                StoredOutgoing::Released(id) => {
                    // Only the identifier is left of a released message
                    // (an empty topic, which `Publish::new` would refuse).
                    let p = Publish {
                        dup: true,
                        qos: QoS::ExactlyOnce,
                        retain: false,
                        topic: MqttString::default(),
                        packet_id: id,
                        properties: Default::default(),
                        payload: Bytes::new(),
                    };
                    (
                        OutKind::Publish {
                            publish: p,
                            expiry: None,
                            stage: Stage::AwaitComp,
                        },
                        true,
                    )
                }
                StoredOutgoing::Subscribe(s) => (OutKind::Subscribe(s), !queued),
                StoredOutgoing::Unsubscribe(u) => (OutKind::Unsubscribe(u), !queued),
            };
            queued |= !sent;
            let mut o = Outgoing {
                id: PublishId(0),
                kind,
                queued_at: now,
            };
            let pid = o.packet_id();
            if pid == 0 {
                o.id = PublishId(next_token);
                next_token += 1;
            } else {
                if !ids.claim(pid) {
                    return Err(ClientError::InvalidState(
                        "the session uses a packet identifier twice",
                    ));
                }
                o.id = PublishId(u64::from(pid));
            }
            if sent {
                if o.is_counted_publish() {
                    inflight_publishes += 1;
                }
                inflight.push_back(o);
            } else {
                pending.push_back(o);
            }
        }
        self.ids = ids;
        self.inflight = inflight;
        self.pending = pending;
        self.inflight_publishes = inflight_publishes;
        self.next_token = next_token;
        self.client_id = state.client_id;
        self.connected_once = state.connected_before;
        self.ack_queue.clear();
        self.inbound_qos1 = 0;
        // A QoS 2 message the application had not acknowledged is
        // forgotten: its token died with the program that held it, so the
        // copy the server sends again is delivered anew, with a new token
        // (kept, it would never be acknowledged and would block every later
        // acknowledgement). No PUBREC went for it, so no PUBREL can come.
        self.inbound_qos2 = state
            .inbound_qos2
            .iter()
            .filter(|q| q.released_by_app)
            .map(|q| {
                let token = self.next_ack_token;
                self.next_ack_token += 1;
                InboundQos2 {
                    packet_id: q.packet_id,
                    token,
                    acked: q.released_by_app,
                    rec_sent: q.released_by_app,
                }
            })
            .collect();
        self.subscriptions = state.subscriptions;
        Ok(())
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

    fn check_supported(&self, publish: &Publish) -> Result<(), ClientError> {
        if publish.qos > self.server.maximum_qos {
            return Err(ClientError::QoSNotSupported {
                maximum: self.server.maximum_qos,
            });
        }
        if publish.retain && !self.server.retain_available {
            return Err(ClientError::RetainNotSupported);
        }
        Ok(())
    }

    fn check_size(&self, packet: PacketRef<'_>) -> Result<(), ClientError> {
        let size = packet.encoded_len(self.version)?;
        if size > self.server.maximum_packet_size as usize {
            return Err(ClientError::PacketTooLarge {
                size,
                maximum: self.server.maximum_packet_size,
            });
        }
        Ok(())
    }

    /// Makes room in the queue for one more command, by the policy.
    fn make_room(&mut self) -> Result<(), ClientError> {
        if self.pending.len() < self.opts.max_queued {
            return Ok(());
        }
        if self.opts.queue_full == QueueFullPolicy::DropOldest {
            if let Some(pos) = self
                .pending
                .iter()
                .position(|o| matches!(o.kind, OutKind::Publish { .. }))
            {
                if let Some(old) = self.pending.remove(pos) {
                    self.drop_outgoing(old, DropReason::QueueFull);
                    return Ok(());
                }
            }
        }
        Err(ClientError::QueueFull)
    }

    fn queue_control(
        &mut self,
        now: Instant,
        make: impl FnOnce(u16) -> OutKind,
    ) -> Result<u16, ClientError> {
        // [MQTT-3.3.4-8] Only PUBLISH waits for the window: publishes
        // queued for it do not hold a SUBSCRIBE or UNSUBSCRIBE back.
        let can_send_now = self.state == ConnectionState::Connected
            && self
                .pending
                .iter()
                .all(|o| matches!(o.kind, OutKind::Publish { .. }));
        if !can_send_now {
            self.make_room()?;
        }
        let pid = self.ids.allocate().ok_or(ClientError::NoPacketIdentifier)?;
        let entry = Outgoing {
            id: PublishId(u64::from(pid)),
            kind: make(pid),
            queued_at: now,
        };
        if can_send_now {
            self.send_outgoing(entry);
        } else {
            self.pending.push_back(entry);
        }
        Ok(pid)
    }

    fn drop_outgoing(&mut self, o: Outgoing, reason: DropReason) {
        let pid = o.packet_id();
        self.ids.release(pid);
        // A SUBSCRIBE or UNSUBSCRIBE that cannot go out gets no SUBACK or
        // UNSUBACK: it is answered here, one failure code per filter.
        let code = match reason {
            DropReason::PacketTooLarge => ReasonCode::PacketTooLarge,
            _ => ReasonCode::UnspecifiedError,
        };
        let properties = crate::codec::AckProperties::default();
        match &o.kind {
            OutKind::Publish { .. } => self
                .events
                .push_back(Event::PublishDropped { id: o.id, reason }),
            OutKind::Subscribe(s) => self.events.push_back(Event::Subscribed {
                packet_id: pid,
                reason_codes: alloc::vec![code; s.filters.len()],
                properties,
            }),
            OutKind::Unsubscribe(u) => self.events.push_back(Event::Unsubscribed {
                packet_id: pid,
                reason_codes: alloc::vec![code; u.filters.len()],
                properties,
            }),
        }
    }

    /// Sends queued commands while connected and the window and transmit
    /// buffer allow, in order.
    fn flush_pending(&mut self) {
        if self.state != ConnectionState::Connected {
            return;
        }
        while let Some(front) = self.pending.front() {
            if self.out.len() >= self.opts.max_transmit_buffer {
                break;
            }
            if front.is_counted_publish() && self.inflight_publishes >= self.window() {
                break;
            }
            if let Some(o) = self.pending.pop_front() {
                self.send_outgoing(o);
            }
        }
    }

    /// Puts a command on the wire (first transmission, or again on resume)
    /// and records it in flight when it expects an answer.
    fn send_outgoing(&mut self, o: Outgoing) {
        if let Err((o, _)) = self.try_send_outgoing(o) {
            // Too large for limits learned after it was queued (or in
            // flight across a reconnect): it cannot go out.
            self.drop_outgoing(o, DropReason::PacketTooLarge);
        }
    }

    /// [`send_outgoing`](Self::send_outgoing), except that a publish that
    /// cannot be encoded (invalid, or over the server's Maximum Packet
    /// Size) is handed back with the error, nothing sent or reported.
    // The large error is the entry itself, handed back on a rare path;
    // boxing it would allocate there instead.
    #[allow(clippy::result_large_err)]
    fn try_send_outgoing(&mut self, mut o: Outgoing) -> Result<(), (Outgoing, ClientError)> {
        let now = self.now;
        match &mut o.kind {
            OutKind::Publish {
                publish,
                expiry,
                stage,
            } => {
                if *stage == Stage::AwaitComp {
                    let rel = PubRel::new(publish.packet_id);
                    let _ = self.encode_packet(PacketRef::PubRel(rel.as_view()));
                    self.stats.retransmits += 1;
                    self.push_inflight(o);
                    return Ok(());
                }
                let first = *stage == Stage::Unsent;
                if let Some(e) = *expiry {
                    let elapsed = (now.saturating_sub(o.queued_at) / 1000).min(u64::from(u32::MAX));
                    let elapsed = elapsed as u32;
                    if first && elapsed >= e {
                        self.drop_outgoing(o, DropReason::Expired);
                        return Ok(());
                    }
                    // [MQTT-3.3.2-6] the remaining lifetime; an in-flight
                    // message is resent (its exchange must end) with at
                    // least one second.
                    publish.properties.message_expiry_interval = Some((e - elapsed.min(e)).max(1));
                }
                if first
                    && (publish.qos > self.server.maximum_qos
                        || (publish.retain && !self.server.retain_available))
                {
                    self.drop_outgoing(o, DropReason::NotSupported);
                    return Ok(());
                }
                let v5 = self.version.is_v5();
                let alias = if v5
                    && self.opts.auto_topic_alias
                    && self.out_aliases.maximum() > 0
                    && fits_with_alias(publish, self.version, self.server.maximum_packet_size)
                {
                    self.out_aliases.alias_for(&publish.topic)
                } else {
                    OutboundAlias::None
                };
                if let OutboundAlias::Assign(a) | OutboundAlias::Use(a) = alias {
                    publish.properties.topic_alias = Some(a);
                }
                let mut view = publish.as_view();
                if matches!(alias, OutboundAlias::Use(_)) {
                    view.topic = MqttStr::default();
                }
                // One encode validates and sizes it; over the limit, it is
                // taken back out of the transmit buffer.
                let encoded = self.encode_packet_within(
                    PacketRef::Publish(view),
                    self.server.maximum_packet_size,
                );
                publish.properties.topic_alias = None;
                if let Err(e) = encoded {
                    return Err((o, e));
                }
                let qos = publish.qos;
                self.stats.messages_sent[qos as usize] += 1;
                if !first {
                    self.stats.retransmits += 1;
                }
                if qos == QoS::AtMostOnce {
                    return Ok(());
                }
                publish.dup = true;
                *stage = Stage::AwaitAck;
                self.push_inflight(o);
            }
            // Never over the server's Maximum Packet Size [MQTT-3.2.2-15]
            // either (limits learned after it was queued, or on resume).
            OutKind::Subscribe(s) => {
                let max = self.server.maximum_packet_size;
                if let Err(e) = self.encode_packet_within(PacketRef::Subscribe(s.as_view()), max) {
                    return Err((o, e));
                }
                self.inflight.push_back(o);
            }
            OutKind::Unsubscribe(u) => {
                let max = self.server.maximum_packet_size;
                if let Err(e) = self.encode_packet_within(PacketRef::Unsubscribe(u.as_view()), max)
                {
                    return Err((o, e));
                }
                self.inflight.push_back(o);
            }
        }
        Ok(())
    }

    fn push_inflight(&mut self, o: Outgoing) {
        self.inflight_publishes += 1;
        self.inflight.push_back(o);
    }

    // ----- internals: receiving -------------------------------------------

    fn handle_packet(&mut self, packet: Packet) {
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
                    self.violation(ProtocolViolation::Decode(
                        crate::codec::Error::PropertyNotAllowed {
                            property: crate::codec::PropertyId::SessionExpiryInterval,
                            packet: PacketType::Disconnect,
                        },
                    ));
                } else {
                    self.teardown(DisconnectReason::ByServer(d));
                }
            }
            Packet::Auth(a) => self.on_auth(a),
            other => self.violation(ProtocolViolation::UnexpectedPacket(other.packet_type())),
        }
    }

    fn on_connack(&mut self, connack: ConnAck) {
        self.timers[Timer::ConnAck as usize] = None;
        if connack.reason_code.is_error() {
            self.teardown(DisconnectReason::Refused(connack));
            return;
        }
        if connack.session_present && self.clean_start_sent {
            self.violation(ProtocolViolation::SessionPresentOnCleanStart);
            return;
        }
        // [MQTT-4.12.0-5] [MQTT-4.12.0-6] a successful CONNACK names the
        // Authentication Method of CONNECT, and none if CONNECT had none.
        if self.version.is_v5()
            && connack.properties.authentication_method != self.opts.authentication_method
        {
            self.violation(ProtocolViolation::Authentication);
            return;
        }
        self.auth_challenged = false;
        if self.version.is_v5()
            && self.client_id.is_empty()
            && connack.properties.assigned_client_identifier.is_none()
        {
            // [MQTT-3.2.2-16] an empty Client Identifier must be answered
            // with an Assigned Client Identifier.
            self.violation(ProtocolViolation::MissingAssignedClientId);
            return;
        }
        let p = &connack.properties;
        self.server = ServerLimits {
            receive_maximum: p.receive_maximum.unwrap_or(u16::MAX),
            maximum_packet_size: p
                .maximum_packet_size
                .unwrap_or(crate::codec::MAX_PACKET_SIZE),
            maximum_qos: p.maximum_qos.unwrap_or(QoS::ExactlyOnce),
            retain_available: p.retain_available.unwrap_or(true),
            wildcard_available: p.wildcard_subscription_available.unwrap_or(true),
            subscription_ids_available: p.subscription_identifiers_available.unwrap_or(true),
            shared_available: p.shared_subscription_available.unwrap_or(true),
        };
        if let Some(id) = &p.assigned_client_identifier {
            self.client_id = id.clone();
        }
        if let Some(ka) = p.server_keep_alive {
            self.keep_alive = ka;
        }
        let alias_max = if self.opts.auto_topic_alias {
            p.topic_alias_maximum.unwrap_or(0)
        } else {
            0
        };
        self.out_aliases.set_maximum(alias_max);
        self.state = ConnectionState::Connected;
        self.connected_once = true;
        self.stats.connections += 1;
        let session_present = connack.session_present;
        self.events.push_back(Event::Connected(Connected {
            session_present,
            client_id: self.client_id.clone(),
            keep_alive: self.keep_alive,
            connack,
        }));
        if session_present {
            self.resume_session();
        } else {
            self.session_lost();
        }
        self.flush_pending();
        self.send_waiting_controls();
    }

    /// [MQTT-3.3.4-8] Only PUBLISH waits for the window: SUBSCRIBE and
    /// UNSUBSCRIBE queued behind publishes it holds go now, in their order.
    fn send_waiting_controls(&mut self) {
        let mut i = 0;
        while i < self.pending.len() && self.state == ConnectionState::Connected {
            if matches!(self.pending[i].kind, OutKind::Publish { .. }) {
                i += 1;
            } else if let Some(o) = self.pending.remove(i) {
                self.send_outgoing(o);
            }
        }
    }

    /// Session Present 1: everything in flight goes again, in its original
    /// order: PUBLISH with DUP for unacknowledged messages, PUBREL for
    /// received ones [MQTT-4.4.0-1].
    fn resume_session(&mut self) {
        let inflight = core::mem::take(&mut self.inflight);
        self.inflight_publishes = 0;
        for o in inflight {
            if matches!(o.kind, OutKind::Subscribe(_) | OutKind::Unsubscribe(_)) {
                self.stats.retransmits += 1;
            }
            self.send_outgoing(o);
        }
    }

    /// Session Present 0: the server has no state for us, so ours goes
    /// [MQTT-3.2.2-4]: in-flight publishes are requeued as new messages or
    /// dropped (by the policy), in-flight subscribes and unsubscribes go
    /// again, received QoS 2 state is forgotten, and subscriptions are
    /// made again.
    fn session_lost(&mut self) {
        self.inbound_qos2.clear();
        let inflight = core::mem::take(&mut self.inflight);
        self.inflight_publishes = 0;
        let mut requeue = VecDeque::new();
        for mut o in inflight {
            match &mut o.kind {
                OutKind::Publish { publish, stage, .. } => match *stage {
                    Stage::AwaitComp => {
                        // The server had it (PUBREC): its delivery is done.
                        self.ids.release(publish.packet_id);
                        self.events.push_back(Event::PublishCompleted {
                            id: o.id,
                            reason_code: ReasonCode::Success,
                            properties: Default::default(),
                        });
                    }
                    _ if self.opts.session_lost == SessionLostPolicy::Drop => {
                        self.drop_outgoing(o, DropReason::SessionLost);
                    }
                    _ => {
                        self.ids.release(publish.packet_id);
                        let Some(pid) = self.ids.allocate() else {
                            self.drop_outgoing(o, DropReason::SessionLost);
                            continue;
                        };
                        publish.packet_id = pid;
                        publish.dup = false;
                        *stage = Stage::Unsent;
                        let old = o.id;
                        o.id = PublishId(u64::from(pid));
                        self.events
                            .push_back(Event::PublishRequeued { old, new: o.id });
                        requeue.push_back(o);
                    }
                },
                _ => requeue.push_back(o),
            }
        }
        // Resubscribe first, then what was in flight, then the queue.
        if self.opts.resubscribe_on_session_lost && !self.subscriptions.is_empty() {
            let mut groups: Vec<(Option<u32>, Vec<crate::codec::SubscribeFilter>)> = Vec::new();
            for s in &self.subscriptions {
                match groups.iter_mut().find(|g| g.0 == s.subscription_identifier) {
                    Some(g) => g.1.push(s.filter.clone()),
                    None => groups.push((s.subscription_identifier, alloc::vec![s.filter.clone()])),
                }
            }
            let mut resubscribe = Vec::with_capacity(groups.len());
            for (sid, filters) in groups {
                let Some(pid) = self.ids.allocate() else {
                    break;
                };
                let mut sub = Subscribe::new(pid, filters);
                if self.version.is_v5() {
                    sub.properties.subscription_identifier = sid;
                }
                resubscribe.push(Outgoing {
                    id: PublishId(u64::from(pid)),
                    kind: OutKind::Subscribe(sub),
                    queued_at: self.now,
                });
            }
            for o in resubscribe.into_iter().rev() {
                requeue.push_front(o);
            }
        }
        while let Some(o) = requeue.pop_back() {
            self.pending.push_front(o);
        }
    }

    fn on_auth(&mut self, auth: Auth) {
        let method_ok = match (
            &self.opts.authentication_method,
            &auth.properties.authentication_method,
        ) {
            (Some(ours), Some(theirs)) => ours == theirs,
            _ => false,
        };
        if !self.version.is_v5() || !method_ok {
            self.violation(ProtocolViolation::Authentication);
            return;
        }
        match (self.state, auth.reason_code) {
            (ConnectionState::Connecting, ReasonCode::ContinueAuthentication) => {
                self.auth_challenged = true;
                self.events.push_back(Event::AuthChallenge(auth));
            }
            (ConnectionState::Connected, ReasonCode::ContinueAuthentication)
                if self.reauthenticating =>
            {
                self.auth_challenged = true;
                self.events.push_back(Event::AuthChallenge(auth));
            }
            (ConnectionState::Connected, ReasonCode::Success) if self.reauthenticating => {
                self.reauthenticating = false;
                self.auth_challenged = false;
                self.events.push_back(Event::Reauthenticated(auth));
            }
            _ => self.violation(ProtocolViolation::Authentication),
        }
    }

    fn on_publish(&mut self, mut publish: Publish) {
        self.stats.messages_received[publish.qos as usize] += 1;
        if self.version.is_v5() {
            match self
                .in_aliases
                .resolve(&publish.topic, publish.properties.topic_alias)
            {
                Ok(topic) => publish.topic = topic,
                Err(e) => {
                    self.violation(ProtocolViolation::TopicAlias(e));
                    return;
                }
            }
        }
        let pid = publish.packet_id;
        match publish.qos {
            QoS::AtMostOnce => self.deliver(publish, None),
            QoS::AtLeastOnce => {
                if !self.opts.manual_ack {
                    // Acknowledged at once, but it still arrived beyond the
                    // server's quota if QoS 2 messages fill it [MQTT-3.3.4-9].
                    if !self.inbound_room() {
                        return;
                    }
                    self.deliver(publish, None);
                    let _ = self.encode_packet(PacketRef::PubAck(PubAck::new(pid).as_view()));
                    return;
                }
                if !self.inbound_room() {
                    return;
                }
                let token = self.new_ack_token();
                self.inbound_qos1 += 1;
                self.ack_queue.push_back(PendingAck {
                    token,
                    packet_id: pid,
                    qos: QoS::AtLeastOnce,
                    acked: false,
                });
                self.deliver(publish, Some(AckToken(token)));
            }
            QoS::ExactlyOnce => {
                if let Some(i) = self.inbound_qos2.iter().position(|q| q.packet_id == pid) {
                    // A duplicate before PUBREL: not delivered again
                    // [MQTT-4.3.3-10]; PUBREC again once the application
                    // acknowledged it.
                    let q = self.inbound_qos2[i];
                    if q.acked {
                        self.inbound_qos2[i].rec_sent = true;
                        let _ = self.encode_packet(PacketRef::PubRec(PubRec::new(pid).as_view()));
                    } else if !self.ack_queue.iter().any(|p| p.token == q.token) {
                        self.ack_queue.push_back(PendingAck {
                            token: q.token,
                            packet_id: pid,
                            qos: QoS::ExactlyOnce,
                            acked: false,
                        });
                    }
                    return;
                }
                if !self.inbound_room() {
                    return;
                }
                let token = self.new_ack_token();
                let manual = self.opts.manual_ack;
                self.inbound_qos2.push(InboundQos2 {
                    packet_id: pid,
                    token,
                    acked: !manual,
                    rec_sent: !manual,
                });
                if manual {
                    self.ack_queue.push_back(PendingAck {
                        token,
                        packet_id: pid,
                        qos: QoS::ExactlyOnce,
                        acked: false,
                    });
                    self.deliver(publish, Some(AckToken(token)));
                } else {
                    self.deliver(publish, None);
                    let _ = self.encode_packet(PacketRef::PubRec(PubRec::new(pid).as_view()));
                }
            }
        }
    }

    /// Whether one more QoS 1 or 2 message fits under our Receive Maximum
    /// [MQTT-3.3.4-9]; if not, the connection is closed with 0x93.
    fn inbound_room(&mut self) -> bool {
        let held = self.inbound_qos1 as usize + self.inbound_qos2.len();
        if held >= usize::from(self.opts.receive_maximum) {
            self.violation(ProtocolViolation::ReceiveMaximumExceeded);
            return false;
        }
        true
    }

    fn new_ack_token(&mut self) -> u64 {
        let t = self.next_ack_token;
        self.next_ack_token += 1;
        t
    }

    fn deliver(&mut self, publish: Publish, ack_token: Option<AckToken>) {
        self.events
            .push_back(Event::Message(Message { publish, ack_token }));
    }

    /// Sends the acknowledgements at the head of the queue that the
    /// application has given, in arrival order.
    fn release_acks(&mut self) {
        while self.ack_queue.front().is_some_and(|p| p.acked) {
            let Some(p) = self.ack_queue.pop_front() else {
                break;
            };
            if self.state != ConnectionState::Connected {
                continue;
            }
            if p.qos == QoS::AtLeastOnce {
                self.inbound_qos1 = self.inbound_qos1.saturating_sub(1);
                let _ = self.encode_packet(PacketRef::PubAck(PubAck::new(p.packet_id).as_view()));
            } else {
                if let Some(q) = self.inbound_qos2.iter_mut().find(|q| q.token == p.token) {
                    q.acked = true;
                    q.rec_sent = true;
                }
                let _ = self.encode_packet(PacketRef::PubRec(PubRec::new(p.packet_id).as_view()));
            }
        }
    }

    fn on_pubrel(&mut self, rel: PubRel) {
        let pid = rel.packet_id;
        match self.inbound_qos2.iter().position(|q| q.packet_id == pid) {
            Some(i) if !self.inbound_qos2[i].rec_sent => {
                self.violation(ProtocolViolation::UnexpectedPubRel(pid));
            }
            Some(i) => {
                self.inbound_qos2.swap_remove(i);
                let _ = self.encode_packet(PacketRef::PubComp(PubComp::new(pid).as_view()));
            }
            None => {
                // Already released (e.g. our PUBCOMP was lost): answer
                // anyway, with 0x92 in 5.0.
                let code = if self.version.is_v5() {
                    ReasonCode::PacketIdentifierNotFound
                } else {
                    ReasonCode::Success
                };
                let comp = PubComp::new(pid).with_reason_code(code);
                let _ = self.encode_packet(PacketRef::PubComp(comp.as_view()));
            }
        }
    }

    /// The in-flight publish awaiting `stage` with this packet identifier.
    fn find_inflight(&self, pid: u16, qos: QoS, stage: Stage) -> Option<usize> {
        let is_it = |o: &Outgoing| {
            matches!(&o.kind, OutKind::Publish { publish, stage: s, .. }
                if publish.packet_id == pid && publish.qos == qos && *s == stage)
        };
        // Identifiers are handed out in increasing order (wrapping after
        // 65,535) and sent in that order, so the entry is most likely as
        // far from the oldest as its identifier is from the oldest's: one
        // look instead of a scan (with acks in order, and a window of n,
        // QoS 2 would otherwise cost O(n) per PUBREC).
        let front = self.inflight.front()?.packet_id();
        if front != 0 {
            let guess = if pid >= front {
                usize::from(pid - front)
            } else {
                usize::from(pid) + usize::from(u16::MAX - front)
            };
            if self.inflight.get(guess).is_some_and(is_it) {
                return Some(guess);
            }
        }
        self.inflight.iter().position(is_it)
    }

    fn unknown_ack(&mut self, packet: PacketType, packet_id: u16) {
        if !self.opts.leniency.ignore_unknown_acks {
            self.violation(ProtocolViolation::UnknownPacketId { packet, packet_id });
        }
    }

    fn complete(
        &mut self,
        index: usize,
        reason_code: ReasonCode,
        properties: crate::codec::AckProperties,
    ) {
        let o = if index == 0 {
            self.inflight.pop_front()
        } else {
            self.inflight.remove(index)
        };
        if let Some(o) = o {
            self.ids.release(o.packet_id());
            self.inflight_publishes = self.inflight_publishes.saturating_sub(1);
            self.events.push_back(Event::PublishCompleted {
                id: o.id,
                reason_code,
                properties,
            });
        }
    }

    fn on_puback(&mut self, ack: PubAck) {
        match self.find_inflight(ack.packet_id, QoS::AtLeastOnce, Stage::AwaitAck) {
            Some(i) => self.complete(i, ack.reason_code, ack.properties),
            None => self.unknown_ack(PacketType::PubAck, ack.packet_id),
        }
    }

    fn on_pubrec(&mut self, rec: PubRec) {
        let pid = rec.packet_id;
        if let Some(i) = self.find_inflight(pid, QoS::ExactlyOnce, Stage::AwaitAck) {
            if rec.reason_code.is_error() {
                self.complete(i, rec.reason_code, rec.properties);
                return;
            }
            if let Some(OutKind::Publish { publish, stage, .. }) =
                self.inflight.get_mut(i).map(|o| &mut o.kind)
            {
                *stage = Stage::AwaitComp;
                // The message is the server's now: keep only the id.
                publish.payload = Bytes::new();
                publish.properties = Default::default();
            }
        } else if self
            .find_inflight(pid, QoS::ExactlyOnce, Stage::AwaitComp)
            .is_none()
        {
            self.unknown_ack(PacketType::PubRec, pid);
            return;
        }
        let _ = self.encode_packet(PacketRef::PubRel(PubRel::new(pid).as_view()));
    }

    fn on_pubcomp(&mut self, comp: PubComp) {
        match self.find_inflight(comp.packet_id, QoS::ExactlyOnce, Stage::AwaitComp) {
            Some(i) => self.complete(i, comp.reason_code, comp.properties),
            None => self.unknown_ack(PacketType::PubComp, comp.packet_id),
        }
    }

    fn take_control(&mut self, pid: u16, subscribe: bool) -> Option<Outgoing> {
        let i = self.inflight.iter().position(|o| match &o.kind {
            OutKind::Subscribe(s) => subscribe && s.packet_id == pid,
            OutKind::Unsubscribe(u) => !subscribe && u.packet_id == pid,
            _ => false,
        })?;
        let o = self.inflight.remove(i)?;
        self.ids.release(pid);
        Some(o)
    }

    fn on_suback(&mut self, ack: SubAck) {
        let Some(o) = self.take_control(ack.packet_id, true) else {
            self.violation(ProtocolViolation::UnknownPacketId {
                packet: PacketType::SubAck,
                packet_id: ack.packet_id,
            });
            return;
        };
        let OutKind::Subscribe(sub) = o.kind else {
            return;
        };
        if sub.filters.len() != ack.reason_codes.len() {
            self.violation(ProtocolViolation::ReasonCodeCount {
                packet: PacketType::SubAck,
                expected: sub.filters.len(),
                got: ack.reason_codes.len(),
            });
            return;
        }
        let sid = sub.properties.subscription_identifier;
        for (f, code) in sub.filters.iter().zip(&ack.reason_codes) {
            if code.is_error() {
                continue;
            }
            let entry = Subscription {
                filter: f.clone(),
                subscription_identifier: sid,
            };
            match self
                .subscriptions
                .iter_mut()
                .find(|s| s.filter.filter == f.filter)
            {
                Some(s) => *s = entry,
                None => self.subscriptions.push(entry),
            }
        }
        self.events.push_back(Event::Subscribed {
            packet_id: ack.packet_id,
            reason_codes: ack.reason_codes,
            properties: ack.properties,
        });
    }

    fn on_unsuback(&mut self, ack: UnsubAck) {
        let Some(o) = self.take_control(ack.packet_id, false) else {
            self.violation(ProtocolViolation::UnknownPacketId {
                packet: PacketType::UnsubAck,
                packet_id: ack.packet_id,
            });
            return;
        };
        let OutKind::Unsubscribe(unsub) = o.kind else {
            return;
        };
        // 3.1.1 UNSUBACK has no codes; the codec reports one Success per
        // filter only in 5.0.
        if self.version.is_v5() && unsub.filters.len() != ack.reason_codes.len() {
            self.violation(ProtocolViolation::ReasonCodeCount {
                packet: PacketType::UnsubAck,
                expected: unsub.filters.len(),
                got: ack.reason_codes.len(),
            });
            return;
        }
        // A filter the server refused to remove (an error code, 5.0) is
        // still held; 3.1.1 UNSUBACK has no codes and removes them all.
        let removed = |i: usize| ack.reason_codes.get(i).is_none_or(|c| !c.is_error());
        self.subscriptions.retain(|s| {
            !unsub
                .filters
                .iter()
                .enumerate()
                .any(|(i, f)| *f == s.filter.filter && removed(i))
        });
        let reason_codes = if self.version.is_v5() {
            ack.reason_codes
        } else {
            alloc::vec![ReasonCode::Success; unsub.filters.len()]
        };
        self.events.push_back(Event::Unsubscribed {
            packet_id: ack.packet_id,
            reason_codes,
            properties: ack.properties,
        });
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
        self.events.push_back(Event::Disconnected(reason));
    }
}
