//! What lies between a socket and the engine: nothing (plain MQTT), TLS
//! (rustls), WebSocket (tungstenite), or both (secure WebSocket).
//!
//! Each layer is sans-IO too: it takes the bytes read from below and gives
//! the bytes for the layer above plus any bytes to send back down (a TLS
//! handshake message, a WebSocket pong), and it turns the bytes from above
//! into bytes for below. The socket loop ([`crate::server`]) only reads,
//! writes and calls these.

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::ServerConnection;
use tungstenite::handshake::server::{ErrorResponse, Request, Response, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::{frame::coding::CloseCode, CloseFrame, WebSocketConfig};
use tungstenite::{Message, WebSocket};

/// Why a transport failed; the connection is closed.
#[derive(Debug)]
pub struct TransportError(pub String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The layers of one connection, socket side first.
pub struct Transport {
    tls: Option<Box<TlsLayer>>,
    ws: Option<Box<WsLayer>>,
    /// Set once the peer closed its side at a layer (TLS close_notify,
    /// WebSocket Close): the connection ends.
    closed: bool,
}

impl Transport {
    /// Plain MQTT over TCP.
    pub fn plain() -> Self {
        Transport {
            tls: None,
            ws: None,
            closed: false,
        }
    }

    /// A transport with the given layers.
    pub fn new(
        tls: Option<Arc<rustls::ServerConfig>>,
        websocket: Option<usize>,
    ) -> Result<Self, TransportError> {
        let tls = match tls {
            Some(config) => Some(Box::new(TlsLayer::new(config)?)),
            None => None,
        };
        Ok(Transport {
            tls,
            ws: websocket.map(|max| Box::new(WsLayer::new(max))),
            closed: false,
        })
    }

    /// Whether MQTT bytes pass through unchanged (no layer).
    pub fn is_plain(&self) -> bool {
        self.tls.is_none() && self.ws.is_none()
    }

    /// Whether the peer closed the transport (TLS close_notify, WebSocket
    /// Close frame).
    pub fn peer_closed(&self) -> bool {
        self.closed
    }

    /// Bytes read from the socket: MQTT bytes for the engine are appended to
    /// `up`, bytes to write back to the socket to `down`.
    pub fn receive(
        &mut self,
        data: &[u8],
        up: &mut Vec<u8>,
        down: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        match (&mut self.tls, &mut self.ws) {
            (None, None) => up.extend_from_slice(data),
            (Some(tls), None) => self.closed |= tls.receive(data, up, down)?,
            (None, Some(ws)) => self.closed |= ws.receive(data, up, down)?,
            (Some(tls), Some(ws)) => {
                let mut plain = Vec::new();
                self.closed |= tls.receive(data, &mut plain, down)?;
                let mut ws_down = Vec::new();
                self.closed |= ws.receive(&plain, up, &mut ws_down)?;
                if !ws_down.is_empty() {
                    tls.send(&ws_down, down)?;
                }
            }
        }
        Ok(())
    }

    /// MQTT bytes from the engine: what to write to the socket is appended
    /// to `down`.
    pub fn send(&mut self, data: &[u8], down: &mut Vec<u8>) -> Result<(), TransportError> {
        match (&mut self.tls, &mut self.ws) {
            (None, None) => down.extend_from_slice(data),
            (Some(tls), None) => tls.send(data, down)?,
            (None, Some(ws)) => ws.send(data, down)?,
            (Some(tls), Some(ws)) => {
                let mut framed = Vec::with_capacity(data.len() + 14);
                ws.send(data, &mut framed)?;
                tls.send(&framed, down)?;
            }
        }
        Ok(())
    }

    /// The connection is closing: the layers' goodbyes (WebSocket Close,
    /// TLS close_notify) are appended to `down`.
    pub fn close(&mut self, down: &mut Vec<u8>) {
        let mut framed = Vec::new();
        if let Some(ws) = &mut self.ws {
            ws.close(&mut framed);
        }
        match &mut self.tls {
            Some(tls) => {
                let _ = tls.send(&framed, down);
                tls.close(down);
            }
            None => down.extend_from_slice(&framed),
        }
    }

    /// The Common Name of the client certificate, once the TLS handshake is
    /// done and the client presented one.
    pub fn peer_identity(&self) -> Option<String> {
        self.tls.as_ref().and_then(|t| t.peer_identity())
    }

    /// Whether the TLS handshake is still under way.
    pub fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.conn.is_handshaking())
            || self
                .ws
                .as_ref()
                .is_some_and(|w| !matches!(w.state, WsState::Open(_)))
    }
}

/// A rustls server connection fed from memory.
struct TlsLayer {
    conn: ServerConnection,
}

impl TlsLayer {
    fn new(config: Arc<rustls::ServerConfig>) -> Result<Self, TransportError> {
        let conn =
            ServerConnection::new(config).map_err(|e| TransportError(format!("TLS: {e}")))?;
        Ok(TlsLayer { conn })
    }

    /// Returns whether the peer sent close_notify.
    fn receive(
        &mut self,
        mut data: &[u8],
        up: &mut Vec<u8>,
        down: &mut Vec<u8>,
    ) -> Result<bool, TransportError> {
        let mut closed = false;
        while !data.is_empty() {
            if let Err(e) = self.conn.read_tls(&mut data) {
                return Err(TransportError(format!("TLS: {e}")));
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    // The alert that says why goes out before the close.
                    self.flush(down);
                    return Err(TransportError(format!("TLS: {e}")));
                }
            };
            let mut wanted = state.plaintext_bytes_to_read();
            if wanted > 0 {
                let start = up.len();
                up.resize(start + wanted, 0);
                let mut at = start;
                while wanted > 0 {
                    match self.conn.reader().read(&mut up[at..]) {
                        Ok(0) => break,
                        Ok(n) => {
                            at += n;
                            wanted -= n;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(TransportError(format!("TLS: {e}"))),
                    }
                }
                up.truncate(at);
            }
            closed |= state.peer_has_closed();
        }
        self.flush(down);
        Ok(closed)
    }

    fn send(&mut self, mut data: &[u8], down: &mut Vec<u8>) -> Result<(), TransportError> {
        while !data.is_empty() {
            let n = self
                .conn
                .writer()
                .write(data)
                .map_err(|e| TransportError(format!("TLS: {e}")))?;
            data = &data[n..];
            // rustls buffers a bounded amount: drain it after each write.
            self.flush(down);
            if n == 0 && !data.is_empty() {
                return Err(TransportError(
                    "TLS: cannot send before the handshake".into(),
                ));
            }
        }
        Ok(())
    }

    fn flush(&mut self, down: &mut Vec<u8>) {
        while self.conn.wants_write() {
            if self.conn.write_tls(down).is_err() {
                break;
            }
        }
    }

    fn close(&mut self, down: &mut Vec<u8>) {
        self.conn.send_close_notify();
        self.flush(down);
    }

    fn peer_identity(&self) -> Option<String> {
        let cert = self.conn.peer_certificates()?.first()?;
        crate::tls::common_name(cert.as_ref())
    }
}

/// The in-memory stream tungstenite reads and writes: what came from below,
/// and what goes back down.
#[derive(Default)]
struct MemStream {
    input: Vec<u8>,
    read_at: usize,
    output: Vec<u8>,
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = &self.input[self.read_at..];
        if left.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = left.len().min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.read_at += n;
        if self.read_at == self.input.len() {
            self.input.clear();
            self.read_at = 0;
        }
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl MemStream {
    fn feed(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
    }

    fn drain_output(&mut self, down: &mut Vec<u8>) {
        if down.is_empty() {
            std::mem::swap(down, &mut self.output);
        } else {
            down.append(&mut self.output);
        }
    }
}

type Callback = fn(&Request, Response) -> Result<Response, ErrorResponse>;

enum WsState {
    Handshaking(Option<MidHandshake<ServerHandshake<MemStream, Callback>>>),
    Open(WebSocket<MemStream>),
    Failed,
}

/// A WebSocket server connection (RFC 6455) fed from memory, carrying MQTT
/// in binary frames [MQTT-6.0.0-1] with the `mqtt` subprotocol.
struct WsLayer {
    state: WsState,
    max_message: usize,
}

/// The handshake's answer: the `mqtt` subprotocol when offered
/// [MQTT-6.0.0-3] (or the older `mqttv3.1`); a client that offers none is
/// served too, as mosquitto does.
fn choose_subprotocol(
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    let offered = request
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let chosen = ["mqtt", "mqttv3.1"]
        .into_iter()
        .find(|p| offered.iter().any(|o| o.eq_ignore_ascii_case(p)));
    match chosen {
        Some(p) => {
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                tungstenite::http::HeaderValue::from_static(p),
            );
            Ok(response)
        }
        None if offered.is_empty() => Ok(response),
        None => {
            let mut refusal = ErrorResponse::new(Some("MQTT needs the mqtt subprotocol".into()));
            *refusal.status_mut() = tungstenite::http::StatusCode::BAD_REQUEST;
            Err(refusal)
        }
    }
}

impl WsLayer {
    fn new(max_message: usize) -> Self {
        WsLayer {
            state: WsState::Handshaking(None),
            max_message,
        }
    }

    fn config(&self) -> WebSocketConfig {
        // A small read buffer: idle connections are the common case.
        WebSocketConfig::default()
            .read_buffer_size(4096)
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_message))
    }

    /// Returns whether the peer closed.
    fn receive(
        &mut self,
        data: &[u8],
        up: &mut Vec<u8>,
        down: &mut Vec<u8>,
    ) -> Result<bool, TransportError> {
        if let WsState::Handshaking(mid) = &mut self.state {
            let result = match mid.take() {
                None => {
                    let mut stream = MemStream::default();
                    stream.feed(data);
                    let config = self.config();
                    tungstenite::accept_hdr_with_config(
                        stream,
                        choose_subprotocol as Callback,
                        Some(config),
                    )
                }
                Some(mut m) => {
                    m.get_mut().get_mut().feed(data);
                    m.handshake()
                }
            };
            match result {
                Ok(mut ws) => {
                    ws.get_mut().drain_output(down);
                    self.state = WsState::Open(ws);
                    // Bytes after the request (a CONNECT sent at once) stay
                    // in the stream: read them below.
                    return self.receive(&[], up, down);
                }
                Err(HandshakeError::Interrupted(mut m)) => {
                    m.get_mut().get_mut().drain_output(down);
                    self.state = WsState::Handshaking(Some(m));
                    return Ok(false);
                }
                Err(HandshakeError::Failure(e)) => {
                    self.state = WsState::Failed;
                    if let tungstenite::Error::Http(refusal) = &e {
                        // The refusal tungstenite wrote went with its
                        // stream: write it again.
                        let status = refusal.status();
                        let body: &[u8] = refusal.body().as_deref().unwrap_or_default();
                        down.extend_from_slice(
                            format!(
                                "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                                status.as_u16(),
                                status.canonical_reason().unwrap_or(""),
                                body.len()
                            )
                            .as_bytes(),
                        );
                        down.extend_from_slice(body);
                    }
                    return Err(TransportError(format!("WebSocket handshake: {e}")));
                }
            }
        }
        let WsState::Open(ws) = &mut self.state else {
            return Err(TransportError("WebSocket failed".into()));
        };
        ws.get_mut().feed(data);
        let mut closed = false;
        loop {
            match ws.read() {
                Ok(Message::Binary(bytes)) => up.extend_from_slice(&bytes),
                Ok(Message::Text(_)) => {
                    // MQTT is carried in binary frames only [MQTT-6.0.0-1].
                    let _ = ws.close(Some(CloseFrame {
                        code: CloseCode::Unsupported,
                        reason: "MQTT needs binary frames".into(),
                    }));
                    let _ = ws.flush();
                    ws.get_mut().drain_output(down);
                    return Err(TransportError("WebSocket text frame".into()));
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(_)) => closed = true,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    closed = true;
                    break;
                }
                Err(e) => {
                    ws.get_mut().drain_output(down);
                    return Err(TransportError(format!("WebSocket: {e}")));
                }
            }
        }
        // Pongs and the answer to a Close.
        let _ = ws.flush();
        ws.get_mut().drain_output(down);
        Ok(closed)
    }

    fn send(&mut self, data: &[u8], down: &mut Vec<u8>) -> Result<(), TransportError> {
        let WsState::Open(ws) = &mut self.state else {
            return Err(TransportError("WebSocket not open".into()));
        };
        ws.send(Message::binary(data.to_vec()))
            .map_err(|e| TransportError(format!("WebSocket: {e}")))?;
        ws.get_mut().drain_output(down);
        Ok(())
    }

    fn close(&mut self, down: &mut Vec<u8>) {
        if let WsState::Open(ws) = &mut self.state {
            let _ = ws.close(None);
            let _ = ws.flush();
            ws.get_mut().drain_output(down);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Transport;

    const REQUEST: &str = "GET /mqtt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\
                           Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                           Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                           Sec-WebSocket-Protocol: mqtt\r\n\r\n";

    /// A client frame (masked, FIN set) with this opcode and payload.
    fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    fn open() -> Transport {
        let mut t = Transport::new(None, Some(1 << 20)).unwrap();
        let (mut up, mut down) = (Vec::new(), Vec::new());
        t.receive(REQUEST.as_bytes(), &mut up, &mut down).unwrap();
        assert!(String::from_utf8_lossy(&down).starts_with("HTTP/1.1 101"));
        t
    }

    #[test]
    fn websocket_handshake_then_binary_frames_carry_mqtt() {
        let mut t = Transport::new(None, Some(1 << 20)).unwrap();
        let (mut up, mut down) = (Vec::new(), Vec::new());
        // In pieces, as a client's writes may arrive.
        for piece in REQUEST.as_bytes().chunks(7) {
            t.receive(piece, &mut up, &mut down).unwrap();
        }
        let answer = String::from_utf8_lossy(&down).into_owned();
        assert!(answer.starts_with("HTTP/1.1 101"), "{answer:?}");
        assert!(up.is_empty());
        // A PINGREQ in a binary frame reaches the engine as MQTT bytes.
        t.receive(&client_frame(0x2, &[0xC0, 0x00]), &mut up, &mut down)
            .unwrap();
        assert_eq!(up, [0xC0, 0x00]);
    }

    /// [MQTT-6.0.0-1] MQTT is carried in binary frames: a text frame
    /// closes the connection (with a WebSocket Close frame).
    #[test]
    fn a_text_frame_closes_the_connection_mqtt_6_0_0_1() {
        let mut t = open();
        let (mut up, mut down) = (Vec::new(), Vec::new());
        let result = t.receive(&client_frame(0x1, b"hello"), &mut up, &mut down);
        assert!(result.is_err());
        assert!(up.is_empty());
        assert_eq!(down.first(), Some(&0x88), "a Close frame goes back");
    }

    /// An upgrade request that never ends is refused (tungstenite bounds
    /// the handshake at 64 KiB; the socket loop feeds at most one 64 KiB
    /// read at a time, so at most that much more is buffered).
    #[test]
    fn an_endless_handshake_is_refused() {
        let mut t = Transport::new(None, Some(1 << 20)).unwrap();
        let (mut up, mut down) = (Vec::new(), Vec::new());
        t.receive(b"GET /mqtt HTTP/1.1\r\n", &mut up, &mut down)
            .unwrap();
        // One header line that never ends.
        t.receive(b"X-Filler: ", &mut up, &mut down).unwrap();
        let header = [b'a'; 100];
        let mut refused = false;
        for _ in 0..1000 {
            if t.receive(&header, &mut up, &mut down).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "1000 x 100 bytes of one header line were taken");
    }
}
