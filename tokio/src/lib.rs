//! An async MQTT 3.1.1 and 5.0 client on tokio, driving libmqtt's sans-IO
//! protocol core ([`mqtt_core::client::Client`]).
//!
//! The core decides everything about the protocol (packet identifiers,
//! the in-flight window, session resume, keep alive deadlines, limits);
//! this crate only moves bytes and time: one spawned task owns the TCP
//! stream and calls the core's `handle_input`, `handle_timeout`,
//! `take_transmit` and `poll_event`.
//!
//! * [`connect`] opens the connection, waits for CONNACK and returns a
//!   [`Client`] handle with the [`ConnectionInfo`]. Nothing needs polling.
//!   [`connect_with`] does the same over any [`Transport`] a [`Connector`]
//!   opens (in-memory pipes, a proxy, ...); [`ConnectOptions::from_url`]
//!   reads an `mqtt://` (or `mqtts://`) URL.
//! * TLS (feature `tls`, on by default): `ConnectOptions::with_tls` with
//!   `TlsOptions` (CA certificates, the platform's roots, a client
//!   certificate for mutual TLS, SNI, ALPN), over rustls with the `ring`
//!   provider; a certificate that is not trusted is `Error::Tls`.
//! * MQTT over WebSocket (feature `websocket`, not default):
//!   `ConnectOptions::with_websocket`, `ws://` and (with `tls`) `wss://`
//!   URLs, and `WsConnector` over any inner `Connector`.
//! * [`Client::publish`] resolves when the message is complete for its
//!   QoS (PUBACK, PUBCOMP) with the reason code; a refusal is an error.
//!   [`Client::try_publish`] never waits.
//! * [`Client::subscribe`] and [`Client::unsubscribe`] resolve with the
//!   SUBACK and UNSUBACK codes.
//! * [`Client::messages`] is the stream of incoming messages;
//!   [`Client::subscribe_stream`] gives a [`MessageStream`] of one
//!   subscription's messages (routed by Subscription Identifier in 5.0).
//! * [`Client::request`] and [`Client::respond`]: MQTT 5.0
//!   request/response (Response Topic, Correlation Data).
//! * An [`Authenticator`] answers enhanced authentication (5.0 AUTH);
//!   [`Client::reauthenticate`]. Server redirections are reported and,
//!   with [`ConnectOptions::follow_redirects`], followed.
//! * [`Client::export_session`] and [`ConnectOptions::with_session`]: the
//!   session across a restart of the program.
//! * Lost connections are reopened with the core's [`Backoff`]; the
//!   session resumes and what was in flight is resent.
//! * Every queue is bounded: commands wait while the window and the
//!   core's queue are full, and the connection stops reading while the
//!   message stream is full.
//!
//! ```no_run
//! use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode};
//!
//! # async fn run() -> Result<(), mqtt_tokio::Error> {
//! let client = ClientOptions::new(ProtocolVersion::V5, "sensor-7")?;
//! let (client, info) = mqtt_tokio::connect(ConnectOptions::new("127.0.0.1", 1883, client)).await?;
//! let done = client.publish("sensors/7/temp", QoS::AtLeastOnce, "21.5").await?;
//! assert!(!done.reason_code.is_error());
//! client.disconnect(ReasonCode::NORMAL_DISCONNECTION).await?;
//! # Ok(()) }
//! ```
//!
//! * OpenTelemetry (feature `opentelemetry`, not default):
//!   `ConnectOptions::with_telemetry` with a `Telemetry`: spans and metrics
//!   after the messaging semantic conventions, and the W3C trace context in
//!   each message (see the `telemetry` module). Feature `tracing-spans`
//!   (not default): `tracing` spans `publish` and `receive` with the same
//!   attributes, for `tracing-opentelemetry`.
//!
//! Logging goes through the `tracing` crate.

#![forbid(unsafe_code)]

mod auth;
mod client;
mod driver;
mod error;
mod options;
#[cfg(feature = "opentelemetry")]
pub mod telemetry;
#[cfg(not(feature = "opentelemetry"))]
mod telemetry;
#[cfg(feature = "tls")]
mod tls;
mod transport;
#[cfg(feature = "websocket")]
pub mod websocket;

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch, Notify};

pub use auth::Authenticator;
pub use client::{
    response_to, Client, ConnectionInfo, MessageStream, Messages, PublishOutcome, Status,
};
pub use error::Error;
pub use mqtt_core;
pub use mqtt_core::client::{
    AckToken, Backoff, ClientOptions, ConnectionState, DisconnectReason, Message, SessionState,
};
pub use mqtt_core::codec::{
    ProtocolVersion, Publish, QoS, ReasonCode, Subscribe, SubscriptionOptions,
};
/// The OpenTelemetry API crate, as this crate uses it (feature
/// `opentelemetry`).
#[cfg(feature = "opentelemetry")]
pub use opentelemetry;
pub use options::ConnectOptions;
/// rustls, as this crate uses it (for [`TlsOptions::with_client_config`]).
#[cfg(feature = "tls")]
pub use rustls;
#[cfg(feature = "opentelemetry")]
pub use telemetry::{ConsumerContext, Processing, Telemetry};
#[cfg(feature = "tls")]
pub use tls::{TlsConnector, TlsError, TlsOptions};
pub use transport::{ConnectFuture, Connector, TcpConnector, Transport};
#[cfg(feature = "websocket")]
pub use websocket::{WebSocketOptions, WsConnector};

/// Opens the TCP connection (and runs the TLS handshake when
/// [`ConnectOptions::tls`] is set), sends CONNECT and waits for CONNACK; returns
/// the client handle and what CONNACK said. A task spawned on the current
/// tokio runtime drives the connection from then on (and reconnects, see
/// [`ConnectOptions::reconnect`]) until [`Client::disconnect`] or until
/// every handle is dropped.
///
/// The first connection is not retried: a TCP failure is [`Error::Io`], a
/// TLS failure (certificate not trusted, a PEM file that cannot be read,
/// the server refusing our certificate) `Error::Tls`, a refusal
/// [`Error::ConnectRefused`], and no CONNACK within the core's connect
/// timeout [`Error::ConnectionLost`].
///
/// With `options.websocket` set (feature `websocket`:
/// `ConnectOptions::with_websocket`, a `ws://` or `wss://` URL), MQTT runs
/// over WebSocket (`WsConnector`) on the TCP connection, or on the TLS
/// connection when `options.tls` is set too (`wss`); a failed WebSocket
/// handshake is [`Error::Io`].
pub async fn connect(options: ConnectOptions) -> Result<(Client, ConnectionInfo), Error> {
    let (mut host, mut port) = (options.host.clone(), options.port);
    // What the transport to a server (the first, or one a redirection
    // names) is made from: the options without the session's data.
    let mut base = options.clone();
    base.session = None;
    base.authenticator = None;
    // The transport to `host:port`: TCP, TLS over it, WebSocket over
    // either.
    let open = Arc::new(
        move |host: String, port: u16| -> Result<Box<dyn Connector>, Error> {
            let tcp = TcpConnector {
                host: host.clone(),
                port,
                timeout: base.tcp_connect_timeout,
            };
            #[cfg(feature = "websocket")]
            if let Some(ws) = &base.websocket {
                let mut target = base.clone();
                (target.host, target.port) = (host, port);
                #[cfg(feature = "tls")]
                if let Some(tls) = &base.tls {
                    let tls = TlsConnector::new(tcp, tls)?;
                    let wss =
                        WsConnector::from_options(tls, &target, ws, true).map_err(Error::Io)?;
                    return Ok(Box::new(wss));
                }
                let ws = WsConnector::from_options(tcp, &target, ws, false).map_err(Error::Io)?;
                return Ok(Box::new(ws));
            }
            #[cfg(feature = "tls")]
            if let Some(tls) = &base.tls {
                return Ok(Box::new(TlsConnector::new(tcp, tls)?));
            }
            Ok(Box::new(tcp))
        },
    );
    // Redirections of the first connection (CONNACK 0x9C or 0x9D with a
    // Server Reference), when followed: a few hops at most.
    let mut hops = 0;
    loop {
        let connector = open(host.clone(), port)?;
        let reopen = open.clone();
        let retarget: Retarget = Box::new(move |host, port| match reopen(host, port) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "cannot follow the redirection");
                None
            }
        });
        let result = connect_inner(options.clone(), connector, Some(retarget)).await;
        let redirect = match &result {
            Err(Error::ConnectRefused(c)) if options.follow_redirects && hops < 4 => {
                DisconnectReason::Refused((**c).clone()).redirect()
            }
            _ => None,
        };
        let target =
            redirect.and_then(|r| auth::parse_server_reference(r.server_reference.as_str(), port));
        match target {
            Some((h, p)) => {
                tracing::info!(host = h.as_str(), port = p, "redirected by the server");
                (host, port) = (h, p);
                hops += 1;
            }
            None => return result,
        }
    }
}

/// [`connect`] over transports that `connector` opens (TLS, an in-memory
/// stream, a proxy, ...); `options.host`, `port`, `tcp_connect_timeout`
/// and `tls` are not used.
pub async fn connect_with(
    options: ConnectOptions,
    connector: impl Connector,
) -> Result<(Client, ConnectionInfo), Error> {
    connect_inner(options, Box::new(connector), None).await
}

/// Opens a transport for a server's redirection (host, port); `None` when
/// it cannot.
pub(crate) type Retarget = Box<dyn Fn(String, u16) -> Option<Box<dyn Connector>> + Send + Sync>;

async fn connect_inner(
    options: ConnectOptions,
    connector: Box<dyn Connector>,
    retarget: Option<Retarget>,
) -> Result<(Client, ConnectionInfo), Error> {
    options.client.check()?;
    let stream = connector.connect().await.map_err(Error::from_io)?;
    let origin = tokio::time::Instant::now();
    let mut core = mqtt_core::client::Client::new(options.client.clone());
    // Subscription Identifiers of per-filter streams start above those of
    // an imported session (still held at the server).
    let mut next_subscription_id = 1;
    if let Some(session) = options.session.clone() {
        next_subscription_id = session
            .subscriptions
            .iter()
            .filter_map(|s| s.subscription_identifier)
            .max()
            .map_or(1, |m| m.saturating_add(1).min(268_435_455));
        core.import_session(0, session)?;
    }
    core.connect(0)?;
    let (messages_tx, messages_rx) = mpsc::channel(options.message_capacity.max(1));
    let inner = Arc::new(client::Inner {
        shared: Mutex::new(client::Shared {
            core,
            publishes: Default::default(),
            subscribes: Default::default(),
            unsubscribes: Default::default(),
            closed: None,
            messages: Some(messages_rx),
            routes: Vec::new(),
            next_route: 1,
            next_subscription_id,
            subscription_ids: options.client.version == ProtocolVersion::V5,
            response_information: None,
            response_topic: None,
            requests: Default::default(),
            last_disconnect: None,
            reauth: None,
        }),
        wake: Notify::new(),
        space: Notify::new(),
        shutdown: watch::channel(false).0,
        finished: watch::channel(false).0,
        status: watch::channel(Status::Connecting).0,
        origin,
        message_capacity: options.message_capacity.max(1),
        response_subscription: tokio::sync::OnceCell::new(),
        correlation_seed: {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        },
        correlation_next: std::sync::atomic::AtomicU64::new(0),
        telemetry: telemetry::hooks(&options),
    });
    let (first_tx, first_rx) = oneshot::channel();
    let client = Client::new(inner.clone());
    tokio::spawn(driver::run(
        inner,
        stream,
        options,
        connector,
        retarget,
        messages_tx,
        first_tx,
    ));
    let info = first_rx.await.unwrap_or(Err(Error::Closed(None)))?;
    Ok((client, info))
}
