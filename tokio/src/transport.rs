//! [`Transport`] and [`Connector`]: what the client runs MQTT over, and
//! what opens it (for the first connection and every reconnection).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream to run MQTT over: anything `AsyncRead + AsyncWrite`
/// (a `TcpStream`, a TLS stream, an in-memory `tokio::io::DuplexStream`).
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

/// The future a [`Connector`] returns.
pub type ConnectFuture<'a> =
    Pin<Box<dyn Future<Output = io::Result<Box<dyn Transport>>> + Send + 'a>>;

/// Opens a fresh [`Transport`] to the server, for the first connection and
/// for every reconnection; give one to [`connect_with`](crate::connect_with)
/// to run the client over something other than plain TCP.
///
/// ```
/// use mqtt_tokio::{ConnectFuture, Connector, Transport};
///
/// /// TCP to a fixed address (what `connect` does, without the timeout).
/// struct Tcp(std::net::SocketAddr);
///
/// impl Connector for Tcp {
///     fn connect(&self) -> ConnectFuture<'_> {
///         Box::pin(async move {
///             let s = tokio::net::TcpStream::connect(self.0).await?;
///             Ok(Box::new(s) as Box<dyn Transport>)
///         })
///     }
/// }
/// ```
pub trait Connector: Send + Sync + 'static {
    /// Opens a transport.
    fn connect(&self) -> ConnectFuture<'_>;
}

/// A shared connector (`Arc<dyn Connector>` too) is a connector: one
/// can serve several clients, or sit under another (WebSocket over it).
impl<C: Connector + ?Sized> Connector for std::sync::Arc<C> {
    fn connect(&self) -> ConnectFuture<'_> {
        (**self).connect()
    }
}

/// TCP to `host:port` with a connect timeout and `TCP_NODELAY`: the
/// connector of [`connect`](crate::connect).
#[derive(Debug, Clone)]
pub struct TcpConnector {
    /// The server's host name or address.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// How long opening the connection may take.
    pub timeout: Duration,
}

impl TcpConnector {
    /// Opens the TCP stream (within the timeout, with `TCP_NODELAY`).
    pub(crate) async fn open(&self) -> io::Result<TcpStream> {
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        let stream = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TCP connect timed out"))??;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl Connector for TcpConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move { Ok(Box::new(self.open().await?) as Box<dyn Transport>) })
    }
}
