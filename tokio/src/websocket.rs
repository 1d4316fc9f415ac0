//! MQTT over WebSocket (feature `websocket`): [`WsConnector`] opens an
//! inner transport (TCP, or TLS for `wss://`), does the WebSocket client
//! handshake over it with `tokio-tungstenite`, and hands the client a byte
//! stream built from the WebSocket's binary messages.
//!
//! MQTT 5.0 and 3.1.1 §6 (the same four statements in both):
//!
//! * the client offers the subprotocol `mqtt` [MQTT-6.0.0-3] and the
//!   server must select it [MQTT-6.0.0-4]: an answer without it, or with
//!   another, fails the connection;
//! * MQTT travels in binary messages; a text message is a protocol error
//!   and closes the connection [MQTT-6.0.0-1];
//! * messages and MQTT packets need not line up: a packet may span
//!   messages and a message may carry several packets [MQTT-6.0.0-2].
//!   The reader therefore treats the binary data as one byte stream; each
//!   write of the client becomes one binary message.
//!
//! Pings are answered and close frames handled by tungstenite; a close
//! frame from the server is the end of the stream. Shutting the stream
//! down sends a close frame.
//!
//! Memory is bounded: a message (and a frame) from the server larger than
//! the limit ([`WebSocketOptions::max_message_size`],
//! [`WsConnector::with_max_message_size`]) is refused from its header,
//! before its payload is buffered, and ends the connection. The default
//! limit is [`DEFAULT_MAX_MESSAGE_SIZE`] (16 MiB, tungstenite's own frame
//! limit), or the client's Maximum Packet Size when that is larger.
//! Outgoing: each write is one binary message, sent at once when the
//! transport under it has room; otherwise it waits in tungstenite's buffer
//! for the next write, read or flush (the client flushes after writing),
//! and a write does not start until the previous message is out.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::http::{self, header, HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::{ConnectFuture, ConnectOptions, Connector, Transport};

/// The WebSocket subprotocol of MQTT [MQTT-6.0.0-3] [MQTT-6.0.0-4].
pub const SUBPROTOCOL: &str = "mqtt";

/// The path requested when none is given: `/mqtt`, the one mosquitto,
/// EMQX, HiveMQ and our Python broker document.
pub const DEFAULT_PATH: &str = "/mqtt";

/// The default limit on one message (and one frame) from the server:
/// 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

/// How [`connect`](crate::connect) runs MQTT over WebSocket
/// ([`ConnectOptions::with_websocket`]): the request's path and extra
/// headers, the handshake timeout and the size limit.
///
/// ```
/// use std::time::Duration;
/// use mqtt_tokio::WebSocketOptions;
/// let ws = WebSocketOptions::new("/mqtt")
///     .with_header("Authorization", "Bearer t0ken")
///     .with_handshake_timeout(Duration::from_secs(5));
/// assert_eq!(ws.path, "/mqtt");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct WebSocketOptions {
    /// The path (and query) of the upgrade request; [`DEFAULT_PATH`] by
    /// default.
    pub path: String,
    /// Extra headers of the upgrade request (an `Authorization`, an
    /// `Origin`, ...); a `Host` here replaces the one made from the
    /// address. Their values are not logged.
    pub headers: Vec<(String, String)>,
    /// How long the upgrade (request to answer) may take, once the inner
    /// transport is open.
    pub handshake_timeout: Duration,
    /// The largest message or frame accepted from the server, in bytes;
    /// `None`: [`DEFAULT_MAX_MESSAGE_SIZE`], or the client's Maximum
    /// Packet Size when that is larger.
    pub max_message_size: Option<usize>,
}

impl WebSocketOptions {
    /// Options for `path` (an empty one means [`DEFAULT_PATH`]; a missing
    /// leading `/` is added), no extra header, a 10 s handshake timeout,
    /// the default size limit.
    pub fn new(path: impl Into<String>) -> Self {
        WebSocketOptions {
            path: normalize_path(path.into()),
            headers: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            max_message_size: None,
        }
    }

    /// Adds a header to the upgrade request (checked when connecting).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the handshake timeout.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the largest message or frame accepted from the server (at
    /// least 2 bytes, the smallest MQTT packet).
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes.max(2));
        self
    }
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions::new(DEFAULT_PATH)
    }
}

impl fmt::Debug for WebSocketOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("WebSocketOptions")
            .field("path", &self.path)
            .field("headers", &names)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_message_size", &self.max_message_size)
            .finish()
    }
}

fn normalize_path(path: String) -> String {
    if path.is_empty() {
        DEFAULT_PATH.to_owned()
    } else if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

/// A [`Connector`] for MQTT over WebSocket: opens the inner connector's
/// transport (a [`TcpConnector`](crate::TcpConnector) for `ws://`, a TLS
/// connector for `wss://`), then does the WebSocket handshake over it,
/// offering the subprotocol `mqtt` and requiring the server to select it.
/// Each connection (the first and every reconnection) is a new handshake
/// with a new key.
///
/// ```no_run
/// use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, TcpConnector, WsConnector};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tcp = TcpConnector {
///     host: "127.0.0.1".into(),
///     port: 8080,
///     timeout: std::time::Duration::from_secs(10),
/// };
/// let ws = WsConnector::new(tcp, "ws://127.0.0.1:8080/mqtt")?
///     .with_header("Authorization", "Bearer t0ken")?;
/// let client = ClientOptions::new(ProtocolVersion::V5, "dev-1")?;
/// let (client, _) = mqtt_tokio::connect_with(ConnectOptions::new("127.0.0.1", 8080, client), ws).await?;
/// # Ok(()) }
/// ```
pub struct WsConnector {
    inner: Box<dyn Connector>,
    uri: http::Uri,
    /// The URL without its query (which may hold a token), for messages.
    shown: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    handshake_timeout: Duration,
    max_message_size: usize,
}

impl fmt::Debug for WsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("WsConnector")
            .field("url", &self.shown)
            .field("headers", &names)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

impl WsConnector {
    /// WebSocket over `inner` to `url`: `ws://host[:port][/path][?query]`,
    /// or `wss://...` when `inner` is a TLS connector (the scheme only
    /// names the request: TLS is the inner connector's work, and `host`
    /// and `port` only make the `Host` header). Without a path,
    /// [`DEFAULT_PATH`]. The defaults: a 10 s handshake timeout and
    /// [`DEFAULT_MAX_MESSAGE_SIZE`].
    ///
    /// A URL that is not `ws://` or `wss://`, has no host, or carries a
    /// user name (send credentials in MQTT's CONNECT or in a header) is an
    /// [`io::ErrorKind::InvalidInput`] error.
    pub fn new(inner: impl Connector, url: &str) -> io::Result<Self> {
        let invalid = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid WebSocket URL {url:?}: {why}"),
            )
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        if !scheme.eq_ignore_ascii_case("ws") && !scheme.eq_ignore_ascii_case("wss") {
            return Err(invalid("the scheme is ws or wss"));
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.contains('@') {
            return Err(invalid(
                "a user name in the URL is not sent; use MQTT's username or a header",
            ));
        }
        let full = if rest[end..].starts_with('/') {
            url.to_owned()
        } else {
            format!("{scheme}://{authority}{DEFAULT_PATH}{}", &rest[end..])
        };
        let uri: http::Uri = full.parse().map_err(|e| invalid(&format!("{e}")))?;
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        let shown = format!(
            "{}://{}{}",
            scheme.to_ascii_lowercase(),
            uri.authority().map_or("", |a| a.as_str()),
            uri.path()
        );
        Ok(WsConnector {
            inner: Box::new(inner),
            uri,
            shown,
            headers: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        })
    }

    /// The connector [`connect`](crate::connect) uses for
    /// `options.websocket`: WebSocket to `options.host:options.port` over
    /// `inner`, with `ws`'s path, headers, timeout and limit; `secure`
    /// makes the request `wss://`.
    pub(crate) fn from_options(
        inner: impl Connector,
        options: &ConnectOptions,
        ws: &WebSocketOptions,
        secure: bool,
    ) -> io::Result<Self> {
        let scheme = if secure { "wss" } else { "ws" };
        let host = if options.host.contains(':') {
            format!("[{}]", options.host)
        } else {
            options.host.clone()
        };
        let url = format!(
            "{scheme}://{host}:{}{}",
            options.port,
            normalize_path(ws.path.clone())
        );
        let mut connector =
            WsConnector::new(inner, &url)?.with_handshake_timeout(ws.handshake_timeout);
        for (name, value) in &ws.headers {
            connector = connector.with_header(name, value)?;
        }
        let packet = options.client.maximum_packet_size as usize;
        Ok(connector.with_max_message_size(
            ws.max_message_size
                .unwrap_or(DEFAULT_MAX_MESSAGE_SIZE.max(packet)),
        ))
    }

    /// Adds a header to the upgrade request. `Host` replaces the one made
    /// from the URL; the handshake's own headers (`Connection`, `Upgrade`,
    /// `Sec-WebSocket-*`) cannot be set; a name or value that is not valid
    /// HTTP is an [`io::ErrorKind::InvalidInput`] error. Values are never
    /// logged.
    pub fn with_header(mut self, name: &str, value: &str) -> io::Result<Self> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        let name = HeaderName::try_from(name)
            .map_err(|_| invalid(format!("invalid WebSocket header name {name:?}")))?;
        let mut value = HeaderValue::try_from(value)
            .map_err(|_| invalid(format!("invalid value for the WebSocket header {name}")))?;
        value.set_sensitive(true);
        let reserved = [
            header::CONNECTION,
            header::UPGRADE,
            header::SEC_WEBSOCKET_KEY,
            header::SEC_WEBSOCKET_VERSION,
            header::SEC_WEBSOCKET_PROTOCOL,
            header::SEC_WEBSOCKET_EXTENSIONS,
            header::SEC_WEBSOCKET_ACCEPT,
        ];
        if reserved.contains(&name) {
            return Err(invalid(format!(
                "the WebSocket header {name} is set by the handshake"
            )));
        }
        self.headers.push((name, value));
        Ok(self)
    }

    /// Sets how long the upgrade (request to answer) may take once the
    /// inner transport is open (the inner connector has its own timeout).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the largest message, and frame, accepted from the server (at
    /// least 2 bytes). A larger one is refused from its frame header and
    /// ends the connection with an [`io::ErrorKind::InvalidData`] error.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(2);
        self
    }

    /// The request: the URL's path, `Host`, the WebSocket headers with a
    /// fresh key, `Sec-WebSocket-Protocol: mqtt`, the extra headers.
    fn request(&self) -> io::Result<http::Request<()>> {
        let mut request = (&self.uri).into_client_request().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("WebSocket request: {e}"),
            )
        })?;
        let headers = request.headers_mut();
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        );
        for (name, value) in &self.headers {
            if name == header::HOST {
                headers.insert(name, value.clone());
            } else {
                headers.append(name, value.clone());
            }
        }
        Ok(request)
    }

    fn config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}

impl Connector for WsConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let stream = self.inner.connect().await?;
            let request = self.request()?;
            let handshake =
                tokio_tungstenite::client_async_with_config(request, stream, Some(self.config()));
            let (ws, response) = tokio::time::timeout(self.handshake_timeout, handshake)
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the WebSocket handshake with {} timed out after {:?}",
                            self.shown, self.handshake_timeout
                        ),
                    )
                })?
                .map_err(|e| handshake_error(&self.shown, e))?;
            // tungstenite checks the answer against the offer; say it
            // here too, since MQTT depends on it [MQTT-6.0.0-4].
            let selected = response.headers().get(header::SEC_WEBSOCKET_PROTOCOL);
            if selected.map(HeaderValue::as_bytes) != Some(SUBPROTOCOL.as_bytes()) {
                return Err(subprotocol_refused(&self.shown, &format!("{selected:?}")));
            }
            tracing::debug!(url = %self.shown, "WebSocket open (subprotocol mqtt)");
            Ok(Box::new(WsStream::new(ws)) as Box<dyn Transport>)
        })
    }
}

fn subprotocol_refused(uri: &str, detail: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the WebSocket server at {uri} did not select the subprotocol `mqtt` \
             [MQTT-6.0.0-4] ({detail}); is it an MQTT over WebSocket endpoint?"
        ),
    )
}

/// A failed handshake as an [`io::Error`] that says what went wrong.
fn handshake_error(uri: &str, e: WsError) -> io::Error {
    match e {
        // An error that carries a cause (a TLS alert from the inner
        // transport, ...) goes up unchanged, so that it can still be
        // recognised.
        WsError::Io(e) if e.get_ref().is_some() => e,
        WsError::Io(e) => io::Error::new(e.kind(), format!("WebSocket handshake with {uri}: {e}")),
        WsError::Http(response) => io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "the server at {uri} refused the WebSocket upgrade: HTTP {}",
                response.status()
            ),
        ),
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(e)) => {
            subprotocol_refused(uri, &e.to_string())
        }
        other => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("WebSocket handshake with {uri} failed: {other}"),
        ),
    }
}

/// An error of the open WebSocket as an [`io::Error`].
fn stream_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "a WebSocket message of {size} bytes from the server is over the limit of \
                 {max_size} bytes"
            ),
        ),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection closed without a WebSocket close frame",
        ),
        WsError::ConnectionClosed | WsError::AlreadyClosed => io::Error::new(
            io::ErrorKind::NotConnected,
            "the WebSocket connection is closed",
        ),
        other => io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket: {other}")),
    }
}

/// The open WebSocket as a byte stream: binary messages in, binary
/// messages out.
struct WsStream {
    ws: WebSocketStream<Box<dyn Transport>>,
    /// Received binary data not read yet.
    received: Bytes,
    /// A close frame or the end of the stream was seen.
    eof: bool,
    /// A written message may still sit in tungstenite's buffer.
    flush_pending: bool,
}

impl WsStream {
    fn new(ws: WebSocketStream<Box<dyn Transport>>) -> Self {
        WsStream {
            ws,
            received: Bytes::new(),
            eof: false,
            flush_pending: false,
        }
    }

    /// Moves a pending flush on (registering the waker while it cannot).
    fn poll_pending_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.flush_pending {
            let flushed = ready!(Pin::new(&mut self.ws).poll_flush(cx));
            self.flush_pending = false;
            flushed.map_err(stream_error)?;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for WsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // The driver may wait only on reading after a write whose flush
        // could not finish: move that flush on here too.
        if let Poll::Ready(Err(e)) = this.poll_pending_flush(cx) {
            return Poll::Ready(Err(e));
        }
        loop {
            if !this.received.is_empty() {
                let n = this.received.len().min(buf.remaining());
                buf.put_slice(&this.received[..n]);
                this.received.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.received = data,
                Some(Ok(Message::Text(_))) => {
                    // [MQTT-6.0.0-1]: close the connection. The close
                    // frame goes out now if it can, else at shutdown.
                    let close = CloseFrame {
                        code: CloseCode::Unsupported,
                        reason: "MQTT over WebSocket is binary".into(),
                    };
                    if Pin::new(&mut this.ws)
                        .start_send(Message::Close(Some(close)))
                        .is_ok()
                    {
                        this.flush_pending = true;
                        let _ = this.poll_pending_flush(cx);
                    }
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the server sent a WebSocket text message: MQTT travels in binary \
                         messages only [MQTT-6.0.0-1]",
                    )));
                }
                Some(Ok(Message::Close(frame))) => {
                    tracing::debug!(?frame, "WebSocket closed by the server");
                    this.eof = true;
                }
                // Pings are answered by tungstenite; nothing else is data.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(e)) => return Poll::Ready(Err(stream_error(e))),
                None => this.eof = true,
            }
        }
    }
}

impl AsyncWrite for WsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // One message in tungstenite's buffer at most.
        ready!(this.poll_pending_flush(cx))?;
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(stream_error)?;
        Pin::new(&mut this.ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(stream_error)?;
        // The message is taken; send it now if the transport has room,
        // else on the next write, read or flush.
        match Pin::new(&mut this.ws).poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(stream_error(e))),
            Poll::Pending => this.flush_pending = true,
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = ready!(Pin::new(&mut this.ws).poll_flush(cx));
        this.flush_pending = false;
        Poll::Ready(flushed.map_err(stream_error))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Sends a close frame (once) and flushes it.
        ready!(Pin::new(&mut this.ws).poll_close(cx)).map_err(stream_error)?;
        this.flush_pending = false;
        Pin::new(this.ws.get_mut()).poll_shutdown(cx)
    }
}
