//! [`Client`]: the cloneable handle, and the state it shares with the
//! connection task.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use mqtt_core::client::{Client as CoreClient, Connected, ConnectionState, Message};
use mqtt_core::codec::{
    AckProperties, Auth, AuthProperties, ConnAck, Disconnect, MqttString, Publish, QoS, ReasonCode,
    Subscribe, SubscribeFilter, SubscriptionOptions, Unsubscribe,
};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;

use crate::Error;

/// The core's publish tokens are distinct counters: they are their own
/// hash (no SipHash per publish).
#[derive(Default, Clone, Copy)]
pub(crate) struct TokenHash;

impl std::hash::BuildHasher for TokenHash {
    type Hasher = TokenHasher;
    fn build_hasher(&self) -> TokenHasher {
        TokenHasher(0)
    }
}

/// See [`TokenHash`].
pub(crate) struct TokenHasher(u64);

impl std::hash::Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        // Spread the counter over the high bits hashbrown uses for its
        // control bytes.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// What the server's CONNACK said about the first connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Session Present: the server resumed a session.
    pub session_present: bool,
    /// The client identifier in use (the server's Assigned Client
    /// Identifier when it gave one).
    pub client_id: MqttString,
    /// The keep alive in force, in seconds (the Server Keep Alive when the
    /// server gave one).
    pub keep_alive: u16,
    /// The CONNACK as received, with all its 5.0 properties.
    pub connack: ConnAck,
}

impl From<Connected> for ConnectionInfo {
    fn from(c: Connected) -> Self {
        ConnectionInfo {
            session_present: c.session_present,
            client_id: c.client_id,
            keep_alive: c.keep_alive,
            connack: c.connack,
        }
    }
}

/// How a QoS 1 or 2 publish ended: the PUBACK's or PUBCOMP's reason code
/// (below 0x80) and properties. A QoS 0 publish reports Success once it is
/// handed to the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishOutcome {
    /// The acknowledgement's reason code (Success in 3.1.1; 0x10 No
    /// matching subscribers is a success too).
    pub reason_code: ReasonCode,
    /// The acknowledgement's properties (5.0).
    pub properties: AckProperties,
}

/// The connection's state as the connection task last reported it; see
/// [`Client::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// CONNECT sent on a new transport, waiting for CONNACK.
    Connecting,
    /// CONNACK accepted the connection (the first one or a reconnection).
    Connected(Box<ConnectionInfo>),
    /// The connection ended; a reconnection follows unless the client is
    /// closing.
    Disconnected(Box<mqtt_core::client::DisconnectReason>),
    /// Waiting `delay` before reconnect attempt `attempt` (0-based since
    /// the last accepted connection).
    Reconnecting {
        /// The attempt.
        attempt: u32,
        /// The backoff delay before it.
        delay: std::time::Duration,
    },
    /// The client is closed; no more connections (the last reason, when
    /// the connection was lost rather than closed by the application).
    Closed(Option<Box<mqtt_core::client::DisconnectReason>>),
}

pub(crate) type PublishWaiter = oneshot::Sender<Result<PublishOutcome, Error>>;
pub(crate) type AckWaiter = oneshot::Sender<Result<Vec<ReasonCode>, Error>>;

/// What the handles and the connection task share, under one lock that is
/// never held across an `.await`.
pub(crate) struct Shared {
    pub(crate) core: CoreClient,
    pub(crate) publishes: HashMap<u64, PublishWaiter, TokenHash>,
    pub(crate) subscribes: HashMap<u16, AckWaiter>,
    pub(crate) unsubscribes: HashMap<u16, AckWaiter>,
    /// Set when the connection task has ended: commands fail with it.
    pub(crate) closed: Option<Option<Box<mqtt_core::client::DisconnectReason>>>,
    /// The message stream, until the application takes it.
    pub(crate) messages: Option<mpsc::Receiver<Message>>,
    /// The per-filter streams ([`Client::subscribe_stream`]).
    pub(crate) routes: Vec<Route>,
    /// The key of the next route.
    pub(crate) next_route: u64,
    /// The Subscription Identifier of the next per-filter stream (5.0).
    pub(crate) next_subscription_id: u32,
    /// Whether the server takes Subscription Identifiers (its last
    /// CONNACK did not say it does not; always false in 3.1.1).
    pub(crate) subscription_ids: bool,
    /// The Response Information of the last CONNACK (5.0).
    pub(crate) response_information: Option<String>,
    /// The topic responses to [`Client::request`] come to, once
    /// subscribed.
    pub(crate) response_topic: Option<String>,
    /// Requests waiting for their response, by Correlation Data.
    pub(crate) requests: HashMap<Bytes, oneshot::Sender<Message>>,
    /// Why the last connection ended ([`Client::last_disconnect`]).
    pub(crate) last_disconnect: Option<Box<mqtt_core::client::DisconnectReason>>,
    /// The re-authentication under way ([`Client::reauthenticate`]).
    pub(crate) reauth: Option<oneshot::Sender<Result<Auth, Error>>>,
}

/// A per-filter stream: where the messages matching it go.
pub(crate) struct Route {
    /// The route's key (the stream's, to remove it when dropped).
    pub(crate) key: u64,
    /// The filter as subscribed (`$share/g/f` included).
    pub(crate) filter: String,
    /// The filter messages are matched against (`f` for `$share/g/f`).
    pub(crate) matches: String,
    /// The Subscription Identifier it was subscribed with, if any.
    pub(crate) subscription_id: Option<u32>,
    /// The stream.
    pub(crate) tx: mpsc::Sender<Message>,
}

/// Where a received message goes.
pub(crate) enum Destination {
    /// The general stream ([`Client::messages`]).
    General,
    /// A per-filter stream.
    Stream(mpsc::Sender<Message>),
}

impl Shared {
    /// The streams `m` goes to (see [`Client::subscribe_stream`]): with
    /// Subscription Identifiers in the message, the streams subscribed
    /// with one of them; for the rest, the streams subscribed without an
    /// identifier whose filter matches the topic; and if none, the general
    /// stream.
    ///
    /// A message on the response topic of [`Client::request`] goes to the
    /// request with its Correlation Data, or nowhere (a late response);
    /// it is acknowledged here with manual acknowledgement.
    pub(crate) fn route(
        &mut self,
        now: u64,
        m: Message,
        out: &mut VecDeque<(Destination, Message)>,
    ) {
        // The common case, no streams and no requests: no search.
        if self.routes.is_empty() && self.response_topic.is_none() {
            out.push_back((Destination::General, m));
            return;
        }
        if self.response_topic.as_deref() == Some(m.publish.topic.as_str()) {
            if let Some(token) = m.ack_token {
                let _ = self.core.acknowledge(now, token);
            }
            let waiter = m
                .publish
                .properties
                .correlation_data
                .as_ref()
                .and_then(|c| self.requests.remove(c));
            match waiter {
                Some(tx) => {
                    let _ = tx.send(m);
                }
                None => tracing::debug!(
                    topic = m.publish.topic.as_str(),
                    "response dropped: no request waits for its Correlation Data"
                ),
            }
            return;
        }
        self.routes.retain(|r| !r.tx.is_closed());
        let ids = &m.publish.properties.subscription_identifiers;
        let topic = m.publish.topic.as_str();
        let mut to: Vec<mpsc::Sender<Message>> = Vec::new();
        for r in &self.routes {
            let hit = match r.subscription_id {
                Some(id) => ids.contains(&id),
                None => mqtt_core::topic::topic_matches(&r.matches, topic),
            };
            if hit {
                to.push(r.tx.clone());
            }
        }
        if to.is_empty() {
            out.push_back((Destination::General, m));
            return;
        }
        let last = to.len() - 1;
        let mut m = Some(m);
        for (i, tx) in to.into_iter().enumerate() {
            let msg = if i == last { m.take() } else { m.clone() };
            if let Some(msg) = msg {
                out.push_back((Destination::Stream(tx), msg));
            }
        }
    }
}

pub(crate) struct Inner {
    pub(crate) shared: Mutex<Shared>,
    /// Wakes the connection task: there is something to send.
    pub(crate) wake: Notify,
    /// Wakes commands waiting for room in the window and queue.
    pub(crate) space: Notify,
    /// Set to ask the connection task to end.
    pub(crate) shutdown: watch::Sender<bool>,
    /// Set by the connection task when it has ended.
    pub(crate) finished: watch::Sender<bool>,
    /// The last status.
    pub(crate) status: watch::Sender<Status>,
    /// The origin of the milliseconds given to the core.
    pub(crate) origin: Instant,
    /// The capacity of each message stream.
    pub(crate) message_capacity: usize,
    /// The response topic, subscribed to by the first request.
    pub(crate) response_subscription: tokio::sync::OnceCell<String>,
    /// Correlation Data: a random prefix of this client ...
    pub(crate) correlation_seed: u64,
    /// ... and a counter.
    pub(crate) correlation_next: std::sync::atomic::AtomicU64,
    /// OpenTelemetry's hooks (`None` when off; always without the
    /// feature `opentelemetry`).
    pub(crate) telemetry: Option<Arc<crate::telemetry::Hooks>>,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds since the origin: the core's time.
    pub(crate) fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}

/// Ends the connection when the last handle is dropped.
struct HandleGuard(Arc<Inner>);

impl Drop for HandleGuard {
    fn drop(&mut self) {
        self.0.shutdown.send_replace(true);
    }
}

/// A handle to one MQTT client session; clone it freely and use it from
/// any number of tasks.
///
/// The connection is driven by a task that [`connect`](crate::connect)
/// spawns: nothing needs polling. Commands resolve when the protocol says
/// they are complete: [`publish`](Self::publish) at PUBACK (QoS 1) or
/// PUBCOMP (QoS 2), [`subscribe`](Self::subscribe) at SUBACK. While the
/// connection is down they are queued by the core and sent after the
/// reconnect (QoS 1 and 2 in flight are resent with DUP on a resumed
/// session). When the in-flight window and the core's queue are full,
/// commands wait for room (backpressure); [`try_publish`](Self::try_publish)
/// says [`Error::WouldBlock`] instead. When the last handle is dropped the
/// connection ends with a normal DISCONNECT.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    _guard: Arc<HandleGuard>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state())
            .finish()
    }
}

/// A command's outcome is either at hand, or awaited from the connection.
enum Started<T> {
    Done(T),
    Wait(oneshot::Receiver<Result<T, Error>>),
}

impl Client {
    pub(crate) fn new(inner: Arc<Inner>) -> Client {
        Client {
            _guard: Arc::new(HandleGuard(inner.clone())),
            inner,
        }
    }

    /// The client's OpenTelemetry hooks, when instrumented.
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn telemetry_hooks(&self) -> Option<&crate::telemetry::Hooks> {
        self.inner.telemetry.as_deref()
    }

    /// The [`Telemetry`](crate::Telemetry) this client records with
    /// (feature `opentelemetry`; `None` when off). Its
    /// [`process`](crate::Telemetry::process) makes the application's
    /// `process` span for a message.
    #[cfg(feature = "opentelemetry")]
    pub fn telemetry(&self) -> Option<&crate::Telemetry> {
        self.telemetry_hooks().map(|h| h.telemetry())
    }

    /// Where the session's current connection is.
    pub fn state(&self) -> ConnectionState {
        self.inner.lock().core.state()
    }

    /// The core's counters (packets, bytes and messages each way,
    /// retransmissions, connections) and queue sizes.
    pub fn stats(&self) -> mqtt_core::client::Stats {
        self.inner.lock().core.stats()
    }

    /// The connection's status, as a [`watch::Receiver`]: the current
    /// value, and `changed().await` for the next (states in between may
    /// be skipped; it never holds the connection up).
    pub fn status(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// The session as plain data (the client identifier, what is queued
    /// and in flight, QoS 2 messages received and not released, the
    /// subscriptions), to survive a restart of the program: save it with
    /// [`SessionState::to_bytes`](mqtt_core::client::SessionState::to_bytes)
    /// and give it to the next [`connect`](crate::connect) with
    /// [`ConnectOptions::with_session`](crate::ConnectOptions::with_session).
    /// A snapshot: take it after [`disconnect`](Self::disconnect) (or while
    /// the connection is down) so that nothing moves after it. Commands
    /// still waiting in this process do not follow the session.
    pub fn export_session(&self) -> mqtt_core::client::SessionState {
        self.inner.lock().core.export_session()
    }

    /// Why the last connection ended (`None` while the first one lasts):
    /// what [`Status::Disconnected`] said, kept here because a status
    /// watcher may see the next status first. A server's redirection is in
    /// it ([`DisconnectReason::redirect`](mqtt_core::client::DisconnectReason::redirect)).
    pub fn last_disconnect(&self) -> Option<mqtt_core::client::DisconnectReason> {
        self.inner.lock().last_disconnect.as_deref().cloned()
    }

    /// Acknowledges a QoS 1 or 2 message received with manual
    /// acknowledgement on ([`ClientOptions::manual_ack`](mqtt_core::client::ClientOptions::manual_ack)),
    /// by its [`Message::ack_token`]: the PUBACK or PUBREC goes out, in
    /// the order the messages arrived [MQTT-4.6.0-2].
    pub fn acknowledge(&self, token: mqtt_core::client::AckToken) -> Result<(), Error> {
        let mut shared = self.inner.lock();
        let now = self.inner.now();
        shared.core.acknowledge(now, token)?;
        drop(shared);
        self.inner.wake.notify_one();
        Ok(())
    }

    /// The incoming messages, as a [`Stream`](futures_core::Stream). The
    /// first call takes the stream; later calls return `None`.
    ///
    /// Until the stream is taken, messages are buffered up to
    /// [`ConnectOptions::message_capacity`](crate::ConnectOptions::message_capacity)
    /// and then dropped with a warning (a client that only publishes is
    /// never blocked). Once taken, a full buffer makes the connection wait
    /// for the application to read.
    pub fn messages(&self) -> Option<Messages> {
        self.inner.lock().messages.take().map(|rx| Messages { rx })
    }

    /// Publishes `payload` to `topic` at `qos`; resolves when the message
    /// is complete for its QoS (see [`publish_with`](Self::publish_with)).
    pub async fn publish(
        &self,
        topic: &str,
        qos: QoS,
        payload: impl Into<Bytes>,
    ) -> Result<PublishOutcome, Error> {
        let publish = Publish::new(topic, payload)?.with_qos(qos, 0);
        self.publish_with(publish).await
    }

    /// Publishes a message built with the core's [`Publish`] (retain, 5.0
    /// properties). Resolves at PUBACK (QoS 1) or PUBCOMP (QoS 2) with the
    /// reason code; a refusal (0x80 and above) is
    /// [`Error::PublishRefused`]. A QoS 0 message resolves once the
    /// connection has taken it. Waits first while the in-flight window and
    /// the queue are full. The packet identifier in `publish` is ignored.
    pub async fn publish_with(&self, publish: Publish) -> Result<PublishOutcome, Error> {
        #[cfg(feature = "opentelemetry")]
        if let Some(hooks) = &self.inner.telemetry {
            let mut publish = publish;
            let span = hooks.publish_start(&mut publish);
            let result = self.publish_inner(publish).await;
            span.end(result.as_ref().map(|o| o.reason_code));
            return result;
        }
        #[cfg(feature = "tracing-spans")]
        {
            let span = crate::telemetry::spans::publish(&publish);
            let result =
                tracing::Instrument::instrument(self.publish_inner(publish), span.clone()).await;
            crate::telemetry::spans::publish_end(&span, &result);
            return result;
        }
        #[allow(unreachable_code)]
        self.publish_inner(publish).await
    }

    async fn publish_inner(&self, publish: Publish) -> Result<PublishOutcome, Error> {
        // Moved into the core once there is room (no copy).
        let mut publish = Some(publish);
        let started = self
            .command(|shared, now| start_publish(shared, now, &mut publish, true))
            .await?;
        finish(started).await
    }

    /// Hands a message to the connection without waiting: not for room
    /// ([`Error::WouldBlock`] when the window and the queue are full) and
    /// not for the acknowledgement (fire-and-forget; the core still
    /// retries QoS 1 and 2 across reconnects).
    pub fn try_publish(&self, publish: Publish) -> Result<(), Error> {
        #[cfg(feature = "opentelemetry")]
        if let Some(hooks) = &self.inner.telemetry {
            // The span ends once the core has taken the message.
            let mut publish = publish;
            let span = hooks.publish_start(&mut publish);
            let result = self.try_publish_inner(publish);
            span.end(result.as_ref().map(|()| ReasonCode::Success));
            return result;
        }
        self.try_publish_inner(publish)
    }

    fn try_publish_inner(&self, publish: Publish) -> Result<(), Error> {
        let mut shared = self.inner.lock();
        start_publish(&mut shared, self.inner.now(), &mut Some(publish), false).map(|_| ())?;
        drop(shared);
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Subscribes to one filter at `qos`; resolves with the SUBACK's reason
    /// code (the granted QoS), or [`Error::SubscribeRefused`].
    pub async fn subscribe(&self, filter: &str, qos: QoS) -> Result<ReasonCode, Error> {
        let codes = self
            .subscribe_with(Subscribe::single(0, filter, qos)?)
            .await?;
        match codes.first() {
            Some(code) if code.is_error() => Err(Error::SubscribeRefused(*code)),
            Some(code) => Ok(*code),
            None => Err(Error::SubscribeRefused(ReasonCode::UnspecifiedError)),
        }
    }

    /// Sends a SUBSCRIBE built with the core's [`Subscribe`] (several
    /// filters, options, 5.0 properties); resolves with the SUBACK's
    /// reason codes, one per filter, refusals included. The packet
    /// identifier in `subscribe` is ignored.
    pub async fn subscribe_with(&self, subscribe: Subscribe) -> Result<Vec<ReasonCode>, Error> {
        if let Some(hooks) = &self.inner.telemetry {
            hooks.subscribed(subscribe.filters.iter().map(|f| f.filter.as_str()));
        }
        let started = self
            .command(|shared, now| {
                let id = shared.core.subscribe(now, subscribe.clone())?;
                let (tx, rx) = oneshot::channel();
                shared.subscribes.insert(id, tx);
                Ok(Started::Wait(rx))
            })
            .await?;
        finish(started).await
    }

    /// Subscribes to `filter` at `qos` and returns, with the SUBACK's
    /// reason code (the granted QoS), a stream of the messages of this
    /// subscription only; see [`subscribe_stream_with`](Self::subscribe_stream_with).
    pub async fn subscribe_stream(
        &self,
        filter: &str,
        qos: QoS,
    ) -> Result<(ReasonCode, MessageStream), Error> {
        self.subscribe_stream_with(filter, SubscriptionOptions::new(qos))
            .await
    }

    /// Subscribes to `filter` with `options` and returns, with the
    /// SUBACK's reason code, a [`MessageStream`] of the messages this
    /// subscription delivers. A refusal is [`Error::SubscribeRefused`].
    ///
    /// Routing: in MQTT 5.0, when the server has Subscription Identifiers
    /// (it did not say otherwise in CONNACK), the subscription is made
    /// with an identifier of its own and a message goes to the streams
    /// whose identifiers it carries: exact even when filters overlap and
    /// the server sends a copy per subscription (mosquitto does). Otherwise
    /// (3.1.1, or a server without identifiers) a message goes to every
    /// per-filter stream whose filter matches its topic (`f` for a shared
    /// `$share/group/f`), so overlapping filters may see a copy per
    /// subscription the server sends. A message that matches several
    /// streams goes to each; one that matches none goes to the general
    /// stream ([`messages`](Self::messages)). Avoid a general
    /// subscription that overlaps a stream's filter: whether the general
    /// stream sees those messages depends on the server (a copy per
    /// subscription, as mosquitto sends, reaches it; a single copy with
    /// the stream's identifier, as the spec also allows, does not).
    ///
    /// Each stream is bounded like the general one
    /// ([`ConnectOptions::message_capacity`](crate::ConnectOptions::message_capacity)):
    /// while it is full the connection stops reading from the server.
    /// Dropping the stream stops the routing to it and unsubscribes from
    /// `filter` (without waiting for UNSUBACK), unless another live stream
    /// has the same filter or [`MessageStream::set_unsubscribe_on_drop`]
    /// said not to. With manual acknowledgement, a message routed
    /// to several streams carries the same token: acknowledge it once.
    pub async fn subscribe_stream_with(
        &self,
        filter: &str,
        options: SubscriptionOptions,
    ) -> Result<(ReasonCode, MessageStream), Error> {
        let matches = match mqtt_core::topic::SharedSubscription::parse(filter) {
            Ok(Some(shared)) => shared.filter.to_owned(),
            Ok(None) => filter.to_owned(),
            Err(e) => {
                return Err(Error::Command(mqtt_core::client::ClientError::Invalid(
                    mqtt_core::codec::Error::InvalidTopicFilter(e),
                )))
            }
        };
        if let Some(hooks) = &self.inner.telemetry {
            hooks.subscribed(std::iter::once(filter));
        }
        let capacity = self.inner.message_capacity;
        let mut stream = None;
        let started = self
            .command(|shared, now| {
                let mut subscribe = Subscribe::new(0, vec![SubscribeFilter::new(filter, options)?]);
                let subscription_id = if shared.subscription_ids {
                    let id = shared.next_subscription_id;
                    shared.next_subscription_id = if id >= 268_435_455 { 1 } else { id + 1 };
                    subscribe.properties.subscription_identifier = Some(id);
                    Some(id)
                } else {
                    None
                };
                let id = shared.core.subscribe(now, subscribe)?;
                let (tx, rx) = mpsc::channel(capacity);
                let key = shared.next_route;
                shared.next_route += 1;
                shared.routes.push(Route {
                    key,
                    filter: filter.to_owned(),
                    matches: matches.clone(),
                    subscription_id,
                    tx,
                });
                stream = Some(MessageStream {
                    rx,
                    key,
                    filter: filter.to_owned(),
                    inner: self.inner.clone(),
                    unsubscribe: true,
                });
                let (tx, rx) = oneshot::channel();
                shared.subscribes.insert(id, tx);
                Ok(Started::Wait(rx))
            })
            .await?;
        let Some(mut stream) = stream else {
            return Err(Error::Closed(None));
        };
        let codes = finish(started).await?;
        match codes.first() {
            Some(code) if !code.is_error() => Ok((*code, stream)),
            other => {
                stream.unsubscribe = false;
                Err(Error::SubscribeRefused(
                    other.copied().unwrap_or(ReasonCode::UnspecifiedError),
                ))
            }
        }
    }

    /// Unsubscribes from one filter; resolves with the UNSUBACK's reason
    /// code (Success in 3.1.1).
    pub async fn unsubscribe(&self, filter: &str) -> Result<ReasonCode, Error> {
        let codes = self
            .unsubscribe_with(Unsubscribe::single(0, filter)?)
            .await?;
        Ok(codes
            .first()
            .copied()
            .unwrap_or(ReasonCode::UnspecifiedError))
    }

    /// Sends an UNSUBSCRIBE built with the core's [`Unsubscribe`];
    /// resolves with the UNSUBACK's reason codes.
    pub async fn unsubscribe_with(
        &self,
        unsubscribe: Unsubscribe,
    ) -> Result<Vec<ReasonCode>, Error> {
        if let Some(hooks) = &self.inner.telemetry {
            hooks.unsubscribed(unsubscribe.filters.iter().map(|f| f.as_str()));
        }
        let started = self
            .command(|shared, now| {
                let id = shared.core.unsubscribe(now, unsubscribe.clone())?;
                let (tx, rx) = oneshot::channel();
                shared.unsubscribes.insert(id, tx);
                Ok(Started::Wait(rx))
            })
            .await?;
        finish(started).await
    }

    /// Sends a request (MQTT 5.0 request/response, §4.10) and resolves
    /// with its response; see [`request_with`](Self::request_with).
    pub async fn request(
        &self,
        topic: &str,
        qos: QoS,
        payload: impl Into<Bytes>,
        timeout: std::time::Duration,
    ) -> Result<Message, Error> {
        let publish = Publish::new(topic, payload)?.with_qos(qos, 0);
        self.request_with(publish, timeout).await
    }

    /// Publishes `publish` as a request: with this client's response
    /// topic as its Response Topic and a Correlation Data no other request
    /// of this client has, and resolves with the first message that comes
    /// back on the response topic with that Correlation Data (a responder
    /// answers with [`respond`](Self::respond)). No response within
    /// `timeout` (counted from the call, the publish included) is
    /// [`Error::Timeout`]; a response arriving after that is dropped.
    ///
    /// The first request subscribes (QoS 1) to the response topic:
    /// `{Response Information}/responses` when the server gave Response
    /// Information in CONNACK (ask for it with
    /// [`ClientOptions::with_request_response_information`](mqtt_core::client::ClientOptions::with_request_response_information)),
    /// otherwise `responses/{client id}` (`+` and `#` in the client id
    /// replaced by `_`). Messages on that topic are the requests', never
    /// in a stream; with manual acknowledgement they are acknowledged
    /// here. MQTT 5.0 only: in 3.1.1 this is [`Error::Command`].
    pub async fn request_with(
        &self,
        mut publish: Publish,
        timeout: std::time::Duration,
    ) -> Result<Message, Error> {
        let work = async {
            let topic = self.response_topic().await?;
            let n = self
                .inner
                .correlation_next
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut data = Vec::with_capacity(16);
            data.extend_from_slice(&self.inner.correlation_seed.to_be_bytes());
            data.extend_from_slice(&n.to_be_bytes());
            let correlation = Bytes::from(data);
            publish.properties.response_topic = Some(MqttString::from_str(&topic)?);
            publish.properties.correlation_data = Some(correlation.clone());
            let (tx, rx) = oneshot::channel();
            self.inner.lock().requests.insert(correlation.clone(), tx);
            let _pending = PendingRequest {
                inner: &self.inner,
                correlation,
            };
            self.publish_with(publish).await?;
            let closed = || Error::Closed(self.inner.lock().closed.clone().flatten());
            rx.await.map_err(|_| closed())
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(Error::Timeout))
    }

    /// The response topic, subscribed to on first use.
    async fn response_topic(&self) -> Result<String, Error> {
        self.inner
            .response_subscription
            .get_or_try_init(|| async {
                let topic = {
                    let mut shared = self.inner.lock();
                    if shared.core.version() != mqtt_core::codec::ProtocolVersion::V5 {
                        return Err(Error::Command(
                            mqtt_core::client::ClientError::InvalidState(
                                "request/response needs MQTT 5.0",
                            ),
                        ));
                    }
                    let topic = response_topic(
                        shared.response_information.as_deref(),
                        shared.core.client_id().as_str(),
                    );
                    shared.response_topic = Some(topic.clone());
                    topic
                };
                let subscribed = self.subscribe(&topic, QoS::AtLeastOnce).await;
                if let Err(e) = subscribed {
                    self.inner.lock().response_topic = None;
                    return Err(e);
                }
                Ok(topic)
            })
            .await
            .cloned()
    }

    /// Answers `request` (a message with a Response Topic, from
    /// [`request`](Self::request) or any MQTT 5.0 requester): publishes
    /// `payload` at `qos` to its Response Topic with its Correlation Data
    /// (see [`response_to`](crate::response_to)); resolves like
    /// [`publish`](Self::publish). A message without a Response Topic is
    /// [`Error::NotARequest`].
    pub async fn respond(
        &self,
        request: &Message,
        qos: QoS,
        payload: impl Into<Bytes>,
    ) -> Result<PublishOutcome, Error> {
        let publish = response_to(request, payload)?.with_qos(qos, 0);
        self.publish_with(publish).await
    }

    /// Starts an MQTT 5.0 re-authentication (AUTH 0x19 with the method of
    /// [`ClientOptions::authentication_method`](mqtt_core::client::ClientOptions::authentication_method)
    /// and `data`); the server's challenges go to the
    /// [`Authenticator`](crate::Authenticator) of the options. Resolves
    /// with the server's final AUTH (0x00 Success). A server that refuses
    /// ends the connection with DISCONNECT: [`Error::ConnectionLost`]
    /// with its reason (the client reconnects as usual). Only while
    /// connected and no other re-authentication is under way, else
    /// [`Error::Command`].
    pub async fn reauthenticate(&self, data: Option<Bytes>) -> Result<Auth, Error> {
        let rx = {
            let mut shared = self.inner.lock();
            if let Some(reason) = &shared.closed {
                return Err(Error::Closed(reason.clone()));
            }
            if shared.reauth.is_some() {
                return Err(Error::Command(
                    mqtt_core::client::ClientError::InvalidState(
                        "a re-authentication is under way",
                    ),
                ));
            }
            let now = self.inner.now();
            shared
                .core
                .authenticate(now, data, AuthProperties::default())?;
            let (tx, rx) = oneshot::channel();
            shared.reauth = Some(tx);
            rx
        };
        self.inner.wake.notify_one();
        rx.await.unwrap_or(Err(Error::Closed(None)))
    }

    /// Ends the session's connection with DISCONNECT and `reason_code`
    /// (0x00 Normal disconnection; in 5.0, 0x04 asks the server to publish
    /// the will) and stops reconnecting; resolves when the connection task
    /// has ended. Commands still waiting fail with [`Error::Closed`].
    pub async fn disconnect(&self, reason_code: ReasonCode) -> Result<(), Error> {
        self.disconnect_with(Disconnect::new(reason_code)).await
    }

    /// [`disconnect`](Self::disconnect) with a DISCONNECT built with the
    /// core's [`Disconnect`] (5.0 properties).
    pub async fn disconnect_with(&self, disconnect: Disconnect) -> Result<(), Error> {
        {
            let mut shared = self.inner.lock();
            if shared.closed.is_none() && shared.core.state() == ConnectionState::Connected {
                let now = self.inner.now();
                shared.core.disconnect(now, disconnect)?;
            }
        }
        self.inner.shutdown.send_replace(true);
        self.inner.wake.notify_one();
        let mut finished = self.inner.finished.subscribe();
        let _ = finished.wait_for(|done| *done).await;
        Ok(())
    }

    /// Runs `start` under the lock, waiting for room while it says
    /// [`Error::WouldBlock`], and wakes the connection task.
    async fn command<T>(
        &self,
        mut start: impl FnMut(&mut Shared, u64) -> Result<Started<T>, Error>,
    ) -> Result<Started<T>, Error> {
        // Try at once; only when there is no room, register for the
        // wake-up (before trying again, so that none is missed) and wait.
        let mut waiting = false;
        loop {
            let notified = self.inner.space.notified();
            tokio::pin!(notified);
            if waiting {
                notified.as_mut().enable();
            }
            let result = {
                let mut shared = self.inner.lock();
                if let Some(reason) = &shared.closed {
                    return Err(Error::Closed(reason.clone()));
                }
                if shared.core.can_queue() {
                    let now = self.inner.now();
                    start(&mut shared, now)
                } else {
                    Err(Error::WouldBlock)
                }
            };
            match result {
                Err(Error::WouldBlock)
                | Err(Error::Command(mqtt_core::client::ClientError::QueueFull)) => {
                    if waiting {
                        notified.await;
                    }
                    waiting = true;
                }
                other => {
                    self.inner.wake.notify_one();
                    return other;
                }
            }
        }
    }
}

/// Queues `publish` in the core; for QoS 1 and 2 with `wait`, registers
/// the waiter for its acknowledgement.
///
/// `publish` is taken only once the core has room for it (it does not
/// refuse for a full queue after `can_queue`), so a caller that waits and
/// tries again still has it.
fn start_publish(
    shared: &mut Shared,
    now: u64,
    publish: &mut Option<Publish>,
    wait: bool,
) -> Result<Started<PublishOutcome>, Error> {
    if let Some(reason) = &shared.closed {
        return Err(Error::Closed(reason.clone()));
    }
    if !shared.core.can_queue() {
        return Err(Error::WouldBlock);
    }
    let publish = publish.take().ok_or(Error::Closed(None))?;
    let qos = publish.qos;
    let id = shared.core.publish(now, publish).map_err(Error::Command)?;
    let done = Started::Done(PublishOutcome {
        reason_code: ReasonCode::Success,
        properties: AckProperties::default(),
    });
    if qos == QoS::AtMostOnce || !wait {
        return Ok(done);
    }
    let (tx, rx) = oneshot::channel();
    shared.publishes.insert(id.0, tx);
    Ok(Started::Wait(rx))
}

async fn finish<T>(started: Started<T>) -> Result<T, Error> {
    match started {
        Started::Done(t) => Ok(t),
        Started::Wait(rx) => rx.await.unwrap_or(Err(Error::Closed(None))),
    }
}

/// The incoming messages of a [`Client`], in arrival order; a
/// [`Stream`](futures_core::Stream) that ends when the client is closed.
#[derive(Debug)]
pub struct Messages {
    rx: mpsc::Receiver<Message>,
}

impl Messages {
    /// The next message; `None` once the client is closed and every
    /// buffered message was read.
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for Messages {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.rx.poll_recv(cx)
    }
}

/// The messages of one subscription, from
/// [`Client::subscribe_stream`]; a [`Stream`](futures_core::Stream) that
/// ends when the client is closed. Dropping it unsubscribes (see
/// [`Client::subscribe_stream_with`]).
pub struct MessageStream {
    rx: mpsc::Receiver<Message>,
    key: u64,
    filter: String,
    inner: Arc<Inner>,
    unsubscribe: bool,
}

impl std::fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream")
            .field("filter", &self.filter)
            .finish()
    }
}

impl MessageStream {
    /// The next message; `None` once the client is closed and every
    /// buffered message was read.
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    /// The filter this stream was subscribed with.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Whether dropping the stream unsubscribes from its filter (the
    /// default, unless another live stream has the same filter). With
    /// `false`, the subscription stays at the server after the drop and
    /// its messages go to the general stream ([`Client::messages`]).
    pub fn set_unsubscribe_on_drop(&mut self, on: bool) {
        self.unsubscribe = on;
    }
}

impl futures_core::Stream for MessageStream {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for MessageStream {
    fn drop(&mut self) {
        let mut shared = self.inner.lock();
        shared.routes.retain(|r| r.key != self.key);
        let shared_filter = shared.routes.iter().any(|r| r.filter == self.filter);
        if !self.unsubscribe || shared_filter || shared.closed.is_some() {
            return;
        }
        let now = self.inner.now();
        let result = Unsubscribe::single(0, &self.filter)
            .map_err(mqtt_core::client::ClientError::from)
            .and_then(|u| shared.core.unsubscribe(now, u));
        drop(shared);
        match result {
            Ok(_) => {
                if let Some(hooks) = &self.inner.telemetry {
                    hooks.unsubscribed(std::iter::once(self.filter.as_str()));
                }
                self.inner.wake.notify_one();
            }
            Err(e) => {
                tracing::warn!(filter = %self.filter, error = %e, "could not unsubscribe the dropped stream")
            }
        }
    }
}

/// Removes a request's waiter when the request ends (answered, timed out
/// or cancelled).
struct PendingRequest<'a> {
    inner: &'a Inner,
    correlation: Bytes,
}

impl Drop for PendingRequest<'_> {
    fn drop(&mut self) {
        self.inner.lock().requests.remove(&self.correlation);
    }
}

/// The response topic of a client: under the server's Response
/// Information when it gave some, else under `responses/`.
fn response_topic(response_information: Option<&str>, client_id: &str) -> String {
    match response_information.map(|r| r.trim_end_matches('/')) {
        Some(base) if !base.is_empty() => format!("{base}/responses"),
        _ => {
            let id: String = client_id
                .chars()
                .map(|c| if c == '+' || c == '#' { '_' } else { c })
                .collect();
            format!("responses/{id}")
        }
    }
}

/// The response to `request`: a QoS 0 [`Publish`] of `payload` to its
/// Response Topic with its Correlation Data (MQTT 5.0 §4.10); set the QoS
/// and more properties on it, and publish it with
/// [`Client::publish_with`] (or use [`Client::respond`]). A message without
/// a Response Topic is [`Error::NotARequest`].
///
/// ```
/// use mqtt_tokio::{Message, Publish};
/// let mut request = Publish::new("svc/time", "now?").unwrap();
/// request.properties.response_topic = Some("responses/c1".try_into().unwrap());
/// request.properties.correlation_data = Some(bytes::Bytes::from_static(b"42"));
/// let request = Message { publish: request, ack_token: None };
/// let response = mqtt_tokio::response_to(&request, "12:00").unwrap();
/// assert_eq!(response.topic.as_str(), "responses/c1");
/// assert_eq!(response.properties.correlation_data.as_deref(), Some(&b"42"[..]));
/// ```
pub fn response_to(request: &Message, payload: impl Into<Bytes>) -> Result<Publish, Error> {
    let topic = request
        .publish
        .properties
        .response_topic
        .as_ref()
        .ok_or(Error::NotARequest)?;
    let mut publish = Publish::new(topic.as_str(), payload)?;
    if let Some(c) = &request.publish.properties.correlation_data {
        publish.properties.correlation_data = Some(c.clone());
    }
    Ok(publish)
}

#[cfg(test)]
mod tests {
    use super::response_topic;

    #[test]
    fn the_response_topic_is_under_the_response_information_or_the_client_id() {
        assert_eq!(response_topic(Some("rr/abc/"), "c1"), "rr/abc/responses");
        assert_eq!(response_topic(Some("rr/abc"), "c1"), "rr/abc/responses");
        assert_eq!(response_topic(None, "c1"), "responses/c1");
        assert_eq!(response_topic(Some(""), "a+b#"), "responses/a_b_");
    }
}
