//! [`ConnectOptions`]: where to connect and how the connection is kept.

use std::time::Duration;

use mqtt_core::client::{Backoff, ClientOptions};

/// Everything [`connect`](crate::connect) needs: the server's address, the
/// core's [`ClientOptions`] (protocol version, client id, keep alive,
/// session, limits), and this crate's settings (reconnection, the incoming
/// message buffer, the TCP connect timeout).
///
/// ```
/// use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion};
/// let client = ClientOptions::new(ProtocolVersion::V5, "sensor-7").unwrap().with_keep_alive(30);
/// let options = ConnectOptions::new("127.0.0.1", 1883, client).with_message_capacity(256);
/// assert!(options.reconnect.is_some());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The server's host name or address.
    pub host: String,
    /// The server's TCP port.
    pub port: u16,
    /// The protocol client's options.
    pub client: ClientOptions,
    /// How long to wait between reconnect attempts (the core's backoff
    /// with jitter); `None` ends the client when the connection is lost.
    /// The first connection is never retried: its failure is
    /// [`connect`](crate::connect)'s error.
    pub reconnect: Option<Backoff>,
    /// How long opening the TCP connection may take.
    pub tcp_connect_timeout: Duration,
    /// Incoming messages buffered for the [`Messages`](crate::Messages)
    /// stream; when it is full the connection stops reading from the
    /// server until the application reads (backpressure, never an
    /// unbounded queue).
    pub message_capacity: usize,
}

impl ConnectOptions {
    /// Options for `host:port` with the defaults: reconnection with
    /// [`Backoff::default`] (1 s doubling to 1 min), 10 s TCP connect
    /// timeout, 1,024 buffered messages.
    pub fn new(host: impl Into<String>, port: u16, client: ClientOptions) -> Self {
        ConnectOptions {
            host: host.into(),
            port,
            client,
            reconnect: Some(Backoff::default()),
            tcp_connect_timeout: Duration::from_secs(10),
            message_capacity: 1024,
        }
    }

    /// Sets the reconnect backoff (`None`: no reconnection).
    pub fn with_reconnect(mut self, backoff: Option<Backoff>) -> Self {
        self.reconnect = backoff;
        self
    }

    /// Sets the TCP connect timeout.
    pub fn with_tcp_connect_timeout(mut self, timeout: Duration) -> Self {
        self.tcp_connect_timeout = timeout;
        self
    }

    /// Sets how many incoming messages are buffered (at least 1).
    pub fn with_message_capacity(mut self, capacity: usize) -> Self {
        self.message_capacity = capacity.max(1);
        self
    }
}
