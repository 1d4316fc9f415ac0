//! The connection task: the only place that touches the socket and the
//! clock. It moves bytes between the transport and the core, calls the
//! core's timeout at its deadline, turns the core's events into the
//! handles' completions, and reconnects with the core's backoff.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mqtt_core::client::{ConnectionState, DisconnectReason, Event, Message};
use mqtt_core::codec::{AuthProperties, Disconnect, ReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

use crate::client::{Destination, Inner, PublishOutcome, Shared, Status};
use crate::transport::{Connector, Transport};
use crate::{Authenticator, Retarget};
use crate::{ConnectOptions, ConnectionInfo, Error};

/// How one connection ended.
enum End {
    /// The core reported the end (the reason), after CONNACK accepted the
    /// connection or not (`was_connected`).
    Lost {
        reason: Box<DisconnectReason>,
        was_connected: bool,
        /// The read or write error that closed the transport, if one did
        /// (a TLS alert from the server shows up here).
        io_error: Option<std::io::Error>,
    },
    /// The application asked to stop.
    Shutdown,
}

/// A small random source for the backoff's jitter, seeded by the standard
/// library's per-process random hasher keys (no dependency, no clock).
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = RandomState::new().build_hasher().finish();
        Jitter(seed | 1)
    }
    fn next(&mut self) -> u32 {
        // xorshift64
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 32) as u32
    }
}

/// The task: runs connections until shutdown, or until one is lost with
/// reconnection off. `first` learns how the first connection went; if it
/// failed, the task ends.
pub(crate) async fn run(
    inner: Arc<Inner>,
    mut stream: Box<dyn Transport>,
    options: ConnectOptions,
    mut connector: Box<dyn Connector>,
    retarget: Option<Retarget>,
    messages: mpsc::Sender<Message>,
    first: oneshot::Sender<Result<ConnectionInfo, Error>>,
) {
    let mut first = Some(first);
    let mut shutdown = inner.shutdown.subscribe();
    let mut jitter = Jitter::new();
    // Reconnect attempts since the last accepted connection.
    let mut attempt = 0u32;
    // A server's 0x9C redirection: the transport for the next connection.
    let mut temporary: Option<Box<dyn Connector>>;
    let authenticator = options.authenticator.clone();
    let closed_with = 'session: loop {
        let end = drive(
            &inner,
            stream,
            &messages,
            &mut first,
            &mut shutdown,
            authenticator.as_deref(),
        )
        .await;
        if let Some(t) = &inner.telemetry {
            t.disconnected();
        }
        temporary = None;
        let reason = match end {
            End::Shutdown => break None,
            End::Lost {
                reason, io_error, ..
            } if first.is_some() => {
                if let Some(first) = first.take() {
                    // A TLS failure after the handshake (in TLS 1.3 the
                    // server refuses a client certificate then) is told as
                    // such; other transport errors as the core saw them.
                    let err = match (*reason, io_error.map(Error::from_io)) {
                        #[cfg(feature = "tls")]
                        (DisconnectReason::TransportClosed, Some(tls @ Error::Tls(_))) => tls,
                        (DisconnectReason::Refused(c), _) => Error::ConnectRefused(Box::new(c)),
                        (other, _) => Error::ConnectionLost(Box::new(other)),
                    };
                    let _ = first.send(Err(err));
                }
                break None;
            }
            End::Lost {
                reason,
                was_connected,
                ..
            } => {
                if was_connected {
                    attempt = 0;
                }
                reason
            }
        };
        let Some(backoff) = options.reconnect else {
            break Some(reason);
        };
        if let (true, Some(redirect), Some(retarget)) =
            (options.follow_redirects, reason.redirect(), &retarget)
        {
            let reference = redirect.server_reference.as_str();
            match crate::auth::parse_server_reference(reference, options.port) {
                Some((host, port)) => {
                    tracing::info!(
                        host = host.as_str(),
                        port,
                        permanent = redirect.permanent,
                        "redirected by the server"
                    );
                    if let Some(to) = retarget(host, port) {
                        if redirect.permanent {
                            connector = to;
                        } else {
                            temporary = Some(to);
                        }
                        attempt = 0;
                    }
                }
                None => tracing::warn!(reference, "a Server Reference that is not host[:port]"),
            }
        }
        tracing::warn!(?reason, "connection lost; reconnecting");
        inner.lock().last_disconnect = Some(reason.clone());
        inner
            .status
            .send_replace(Status::Disconnected(reason.clone()));
        stream = loop {
            let delay = backoff.delay(attempt, jitter.next());
            tracing::debug!(attempt, delay_ms = delay, "waiting before reconnecting");
            inner.status.send_replace(Status::Reconnecting {
                attempt,
                delay: Duration::from_millis(delay),
            });
            let wait = tokio::time::sleep(Duration::from_millis(delay));
            tokio::pin!(wait);
            loop {
                let deadline = inner
                    .lock()
                    .core
                    .poll_timeout()
                    .map(|t| inner.origin + Duration::from_millis(t));
                tokio::select! {
                    _ = &mut wait => break,
                    _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                        if deadline.is_some() => run_timers(&inner),
                    _ = inner.wake.notified() => {}
                    _ = shutdown.wait_for(|stop| *stop) => break 'session None,
                }
            }
            attempt = attempt.saturating_add(1);
            let target: &dyn Connector = temporary.as_deref().unwrap_or(&*connector);
            let opened = tokio::select! {
                opened = target.connect() => opened,
                _ = shutdown.wait_for(|stop| *stop) => break 'session None,
            };
            match opened {
                Ok(s) => {
                    let mut shared = inner.lock();
                    let now = inner.now();
                    match shared.core.connect(now) {
                        Ok(()) => break s,
                        Err(e) => {
                            tracing::error!(error = %e, "the core refused to reconnect");
                            break 'session Some(reason);
                        }
                    }
                }
                Err(e) => match Error::from_io(e) {
                    Error::Io(e) => tracing::debug!(error = %e, attempt, "reconnect failed"),
                    other => tracing::warn!(error = %other, attempt, "reconnect failed"),
                },
            }
        };
        tracing::debug!("TCP connected again; CONNECT sent");
        inner.status.send_replace(Status::Connecting);
    };
    close(&inner, closed_with);
}

/// The client is over: every waiting command fails, new ones too.
fn close(inner: &Inner, reason: Option<Box<DisconnectReason>>) {
    let mut shared = inner.lock();
    let err = || Error::Closed(reason.clone());
    for (_, tx) in shared.publishes.drain() {
        let _ = tx.send(Err(err()));
    }
    for (_, tx) in shared.subscribes.drain() {
        let _ = tx.send(Err(err()));
    }
    for (_, tx) in shared.unsubscribes.drain() {
        let _ = tx.send(Err(err()));
    }
    if let Some(tx) = shared.reauth.take() {
        let _ = tx.send(Err(err()));
    }
    shared.closed = Some(reason.clone());
    shared.routes.clear();
    shared.requests.clear();
    inner.status.send_replace(Status::Closed(reason));
    drop(shared);
    inner.space.notify_waiters();
    inner.finished.send_replace(true);
    tracing::debug!("client closed");
}

/// Runs one connection (CONNECT already queued in the core) until it ends.
///
/// One `select!` waits for whichever comes first: room to write the bytes
/// taken from the core, bytes to read, room in the message stream, the
/// core's deadline, a command's wake-up, shutdown. Writing never stops
/// reading (a peer that is slow to read cannot stall keep alive), and
/// while received messages wait for room in the stream nothing more is
/// read (backpressure to the server through TCP).
async fn drive(
    inner: &Arc<Inner>,
    stream: Box<dyn Transport>,
    messages: &mpsc::Sender<Message>,
    first: &mut Option<oneshot::Sender<Result<ConnectionInfo, Error>>>,
    shutdown: &mut watch::Receiver<bool>,
    authenticator: Option<&dyn Authenticator>,
) -> End {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = vec![0u8; 64 * 1024];
    let mut was_connected = false;
    let mut stopping = false;
    let mut io_error = None;
    // Bytes taken from the core and not written yet.
    let mut out = Bytes::new();
    // Written since the last flush: a transport that buffers (WebSocket,
    // TLS) may still hold some of it, and is flushed once `out` is empty,
    // so that what it holds leaves even while nothing else polls it.
    let mut unflushed = false;
    // Messages received and not yet in their streams.
    let mut undelivered: VecDeque<(Destination, Message)> = VecDeque::new();
    // Whether the core was told that reading stopped.
    let mut input_paused = false;
    // One timer for the core's deadline, reset only when the deadline
    // changes (a fresh `Sleep` per turn costs a timer-wheel entry).
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    let mut armed: Option<u64> = None;
    loop {
        // Drain the core: events first (they may queue bytes), then bytes.
        let mut ended = None;
        let (deadline, stream_taken, room) = {
            let mut shared = inner.lock();
            while let Some(event) = shared.core.poll_event() {
                match event {
                    Event::Message(m) => {
                        let m = match &inner.telemetry {
                            Some(t) => t.received(m),
                            None => m,
                        };
                        #[cfg(feature = "tracing-spans")]
                        crate::telemetry::spans::received(&m.publish);
                        let now = inner.now();
                        shared.route(now, m, &mut undelivered);
                    }
                    Event::Disconnected(reason) => ended = Some(reason),
                    Event::Connected(c)
                        if !auth_finished(
                            authenticator,
                            &mut shared,
                            inner.now(),
                            c.connack.properties.authentication_method.is_some(),
                            c.connack.properties.authentication_data.as_deref(),
                        ) => {}
                    Event::AuthChallenge(auth) => match authenticator {
                        Some(a) => {
                            let now = inner.now();
                            match a.challenge(&auth) {
                                Ok(data) => {
                                    if let Err(e) = shared.core.authenticate(
                                        now,
                                        data,
                                        AuthProperties::default(),
                                    ) {
                                        tracing::warn!(error = %e, "could not answer AUTH");
                                    }
                                }
                                Err(code) => give_up(&mut shared, now, code),
                            }
                        }
                        None => {
                            tracing::warn!("AUTH challenge from the server and no authenticator");
                            give_up(&mut shared, inner.now(), ReasonCode::UnspecifiedError);
                        }
                    },
                    Event::Reauthenticated(auth) => {
                        let now = inner.now();
                        let data = auth.properties.authentication_data.clone();
                        if auth_finished(authenticator, &mut shared, now, true, data.as_deref()) {
                            tracing::debug!("re-authenticated");
                            if let Some(tx) = shared.reauth.take() {
                                let _ = tx.send(Ok(auth));
                            }
                        }
                    }
                    Event::Connected(c) => {
                        was_connected = true;
                        shared.subscription_ids = shared.core.version()
                            == mqtt_core::codec::ProtocolVersion::V5
                            && c.connack.properties.subscription_identifiers_available
                                != Some(false);
                        shared.response_information = c
                            .connack
                            .properties
                            .response_information
                            .as_ref()
                            .map(|r| r.as_str().to_owned());
                        tracing::info!(
                            client_id = c.client_id.as_str(),
                            session_present = c.session_present,
                            "connected"
                        );
                        if let Some(t) = &inner.telemetry {
                            t.connected(c.client_id.as_str());
                        }
                        let info = ConnectionInfo::from(c);
                        inner
                            .status
                            .send_replace(Status::Connected(Box::new(info.clone())));
                        if let Some(first) = first.take() {
                            let _ = first.send(Ok(info));
                        }
                    }
                    other => complete(&mut shared, other),
                }
            }
            if out.is_empty() {
                out = shared.core.take_transmit();
            }
            (
                shared.core.poll_timeout(),
                shared.messages.is_none(),
                shared.core.can_queue(),
            )
        };
        // Commands wait for room in the core's queue: wake them when there
        // is some.
        if room {
            inner.space.notify_waiters();
        }
        // Hand what was received to the streams that have room, in order,
        // without waiting; the first full stream stops the hand-over (its
        // messages then wait in the `select!` below, and nothing more is
        // read). The general stream, until the application takes it, drops
        // what does not fit, so that a client that never reads never
        // blocks.
        while let Some((to, m)) = undelivered.pop_front() {
            let tx = match &to {
                Destination::General => messages,
                Destination::Stream(tx) => tx,
            };
            match tx.try_send(m) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(m)) => {
                    if matches!(to, Destination::General) && !stream_taken {
                        tracing::warn!(
                            topic = m.publish.topic.as_str(),
                            "message dropped: the message stream was never taken and its buffer is full"
                        );
                        discard(inner, m);
                    } else {
                        undelivered.push_front((to, m));
                        break;
                    }
                }
                Err(mpsc::error::TrySendError::Closed(m)) => {
                    tracing::debug!(
                        topic = m.publish.topic.as_str(),
                        "message dropped: its stream was dropped"
                    );
                    discard(inner, m);
                }
            }
        }
        if let Some(reason) = ended {
            if let Some(tx) = inner.lock().reauth.take() {
                let _ = tx.send(Err(Error::ConnectionLost(Box::new(reason.clone()))));
            }
            // Send what is left (a DISCONNECT, when one is due), bounded.
            let rest = inner.lock().core.take_transmit();
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                wr.write_all(&out).await?;
                wr.write_all(&rest).await?;
                wr.shutdown().await
            })
            .await;
            // Messages already received still go to the application.
            for (to, m) in undelivered {
                let tx = match to {
                    Destination::General => messages.clone(),
                    Destination::Stream(tx) => tx,
                };
                deliver(&tx, m, shutdown).await;
            }
            if stopping || matches!(reason, DisconnectReason::Local) {
                tracing::info!("disconnected");
                return End::Shutdown;
            }
            tracing::warn!(?reason, "connection ended");
            return End::Lost {
                reason: Box::new(reason),
                was_connected,
                io_error,
            };
        }
        if stopping {
            // Asked to stop, and the core had nothing to end: close.
            let now = inner.now();
            inner.lock().core.handle_transport_closed(now);
            let _ = wr.shutdown().await;
            return End::Shutdown;
        }
        // Reading stops while messages wait for room in their streams:
        // the core then does not hold a late PINGRESP against the server
        // (it may be waiting unread) and keeps sending PINGREQ, so an
        // application that is slow for longer than the keep alive does not
        // cost a reconnection.
        let deadline = if undelivered.is_empty() == input_paused {
            input_paused = !undelivered.is_empty();
            let now = inner.now();
            let mut shared = inner.lock();
            shared.core.set_input_paused(now, input_paused);
            shared.core.poll_timeout()
        } else {
            deadline
        };
        if deadline != armed {
            if let Some(t) = deadline {
                timer
                    .as_mut()
                    .reset(inner.origin + Duration::from_millis(t));
            }
            armed = deadline;
        }
        let front = undelivered.front().map(|(to, _)| match to {
            Destination::General => messages.clone(),
            Destination::Stream(tx) => tx.clone(),
        });
        let has_front = front.is_some();
        tokio::select! {
            written = write_or_flush(&mut wr, &out), if !out.is_empty() || unflushed => match written {
                Ok(n) if n > 0 => {
                    bytes::Buf::advance(&mut out, n);
                    unflushed = true;
                }
                Ok(_) if out.is_empty() => unflushed = false,
                other => {
                    tracing::debug!(result = ?other, "write failed");
                    io_error = other.err();
                    out = Bytes::new();
                    let now = inner.now();
                    inner.lock().core.handle_transport_closed(now);
                }
            },
            permit = reserve(front), if has_front => {
                let next = undelivered.pop_front();
                match (permit, next) {
                    (Some(permit), Some((_, m))) => {
                        permit.send(m);
                    }
                    (None, Some((_, m))) => {
                        tracing::debug!(topic = m.publish.topic.as_str(), "message dropped: its stream was dropped");
                        discard(inner, m);
                    }
                    (_, None) => {}
                }
            },
            read = rd.read(&mut buf), if undelivered.is_empty() => {
                let now = inner.now();
                let mut shared = inner.lock();
                match read {
                    Ok(0) => shared.core.handle_transport_closed(now),
                    Ok(n) => shared.core.handle_input(now, &buf[..n]),
                    Err(e) => {
                        tracing::debug!(error = %e, "read failed");
                        io_error = Some(e);
                        shared.core.handle_transport_closed(now);
                    }
                }
            }
            _ = &mut timer, if armed.is_some() => {
                // Fired: re-armed on the next turn, even for the same
                // deadline.
                armed = None;
                let now = inner.now();
                inner.lock().core.handle_timeout(now);
            }
            _ = inner.wake.notified() => {}
            _ = shutdown.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                let now = inner.now();
                let mut shared = inner.lock();
                if shared.core.state() == ConnectionState::Connected {
                    let _ = shared
                        .core
                        .disconnect(now, Disconnect::new(ReasonCode::NORMAL_DISCONNECTION));
                }
            }
        }
    }
}

/// Tells the authenticator the exchange succeeded (when there was one:
/// `exchanged`); false when it gave up (the connection is being ended).
fn auth_finished(
    authenticator: Option<&dyn Authenticator>,
    shared: &mut Shared,
    now: u64,
    exchanged: bool,
    data: Option<&[u8]>,
) -> bool {
    let Some(a) = authenticator.filter(|_| exchanged) else {
        return true;
    };
    match a.finished(data) {
        Ok(()) => true,
        Err(code) => {
            give_up(shared, now, code);
            false
        }
    }
}

/// The authenticator gave up: DISCONNECT with its reason code (0x80
/// Unspecified error in place of one only a server may send), and the
/// client closes.
fn give_up(shared: &mut Shared, now: u64, code: ReasonCode) {
    tracing::warn!(%code, "the authenticator gave up");
    // The DISCONNECT reason codes a client may send (5.0 Table 3-10).
    let client_may_send = matches!(
        code.as_u8(),
        0x00 | 0x04 | 0x80..=0x83 | 0x90 | 0x93..=0x99
    );
    let code = if client_may_send {
        code
    } else {
        ReasonCode::UnspecifiedError
    };
    if shared.core.disconnect(now, Disconnect::new(code)).is_err() {
        shared.core.handle_transport_closed(now);
    }
}

/// Room for one message in `tx`'s stream; `None` when it was dropped.
async fn reserve(tx: Option<mpsc::Sender<Message>>) -> Option<mpsc::OwnedPermit<Message>> {
    match tx {
        Some(tx) => tx.reserve_owned().await.ok(),
        None => std::future::pending().await,
    }
}

/// A message no stream will take: with manual acknowledgement it is
/// acknowledged all the same, so that the acknowledgements after it are
/// not held back [MQTT-4.6.0-2].
fn discard(inner: &Inner, m: Message) {
    if let Some(token) = m.ack_token {
        let now = inner.now();
        let _ = inner.lock().core.acknowledge(now, token);
        inner.wake.notify_one();
    }
}

/// Writes some of `out`, or flushes when it is empty (returning 0).
async fn write_or_flush(
    wr: &mut tokio::io::WriteHalf<Box<dyn Transport>>,
    out: &[u8],
) -> std::io::Result<usize> {
    if out.is_empty() {
        wr.flush().await.map(|()| 0)
    } else {
        wr.write(out).await
    }
}

/// Gives a message to the taken stream, waiting for room unless the
/// client is shutting down.
async fn deliver(
    messages: &mpsc::Sender<Message>,
    m: Message,
    shutdown: &mut watch::Receiver<bool>,
) {
    tokio::select! {
        sent = messages.send(m) => {
            if sent.is_err() {
                tracing::debug!("message dropped: the message stream was dropped");
            }
        }
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}

/// Runs the core's timers while no connection is open (a queued message's
/// Message Expiry) and completes what they end.
fn run_timers(inner: &Inner) {
    let now = inner.now();
    let mut shared = inner.lock();
    shared.core.handle_timeout(now);
    while let Some(event) = shared.core.poll_event() {
        complete(&mut shared, event);
    }
    drop(shared);
    inner.space.notify_waiters();
}

/// Completes the handle waiting for `event`, if any.
fn complete(shared: &mut Shared, event: Event) {
    match event {
        Event::PublishCompleted {
            id,
            reason_code,
            properties,
        } => {
            if let Some(tx) = shared.publishes.remove(&id.0) {
                // PUBCOMP's only error, 0x92, is not a refusal: the server
                // had the message (see the core's `Event::PublishCompleted`).
                let result = if reason_code.is_error()
                    && reason_code != ReasonCode::PacketIdentifierNotFound
                {
                    Err(Error::PublishRefused {
                        reason_code,
                        properties: Box::new(properties),
                    })
                } else {
                    Ok(PublishOutcome {
                        reason_code,
                        properties,
                    })
                };
                let _ = tx.send(result);
            }
        }
        Event::PublishDropped { id, reason } => {
            tracing::warn!(id = id.0, ?reason, "publish dropped");
            if let Some(tx) = shared.publishes.remove(&id.0) {
                let _ = tx.send(Err(Error::PublishDropped(reason)));
            }
        }
        Event::PublishRequeued { old, new } => {
            tracing::debug!(
                old = old.0,
                new = new.0,
                "publish requeued: the session was lost"
            );
            if let Some(tx) = shared.publishes.remove(&old.0) {
                shared.publishes.insert(new.0, tx);
            }
        }
        Event::Subscribed {
            packet_id,
            reason_codes,
            ..
        } => {
            if let Some(tx) = shared.subscribes.remove(&packet_id) {
                let _ = tx.send(Ok(reason_codes));
            }
        }
        Event::Unsubscribed {
            packet_id,
            reason_codes,
            ..
        } => {
            if let Some(tx) = shared.unsubscribes.remove(&packet_id) {
                let _ = tx.send(Ok(reason_codes));
            }
        }
        Event::Pong => tracing::trace!("PINGRESP"),
        other => tracing::debug!(event = ?other, "event not handled yet"),
    }
}
