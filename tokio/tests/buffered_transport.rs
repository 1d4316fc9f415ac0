//! A transport that keeps what is written until it is flushed (as the
//! WebSocket adapter and TLS streams may, when the socket under them is
//! full): the client must flush after writing, or its packets never leave.
//! Here the buffer leaves only on flush, always, so a client that did not
//! flush would never get its CONNECT to the server.

mod common;

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use common::WAIT;
use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

/// Writes go into `pending` (at most 64 KiB; then a write waits for a
/// flush) and reach the pipe only in `poll_flush`.
struct FlushOnly {
    pipe: DuplexStream,
    pending: Vec<u8>,
}

impl FlushOnly {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.pipe).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Pin::new(&mut self.pipe).poll_flush(cx)
    }
}

impl AsyncRead for FlushOnly {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.pipe).poll_read(cx, buf)
    }
}

impl AsyncWrite for FlushOnly {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending.len() >= 64 * 1024 {
            ready!(self.poll_drain(cx))?;
        }
        self.pending.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_drain(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.pipe).poll_shutdown(cx)
    }
}

/// Hands out one `FlushOnly` over a pipe whose other end the test holds.
struct Connector(std::sync::Mutex<Option<DuplexStream>>);

impl mqtt_tokio::Connector for Connector {
    fn connect(&self) -> mqtt_tokio::ConnectFuture<'_> {
        let pipe = self.0.lock().expect("lock").take();
        Box::pin(async move {
            let pipe = pipe.ok_or_else(|| io::Error::other("one connection only"))?;
            Ok(Box::new(FlushOnly {
                pipe,
                pending: Vec::new(),
            }) as Box<dyn mqtt_tokio::Transport>)
        })
    }
}

async fn read_packet(s: &mut DuplexStream) -> Vec<u8> {
    let mut packet = vec![s.read_u8().await.expect("first byte")];
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = s.read_u8().await.expect("length byte");
        packet.push(b);
        len |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let start = packet.len();
    packet.resize(start + len, 0);
    s.read_exact(&mut packet[start..]).await.expect("body");
    packet
}

#[tokio::test]
async fn packets_leave_a_transport_that_sends_only_when_flushed() {
    let (client_end, mut server) = tokio::io::duplex(4096);
    let script = tokio::spawn(async move {
        let connect = tokio::time::timeout(WAIT, read_packet(&mut server))
            .await
            .expect("CONNECT arrives: the client flushed it");
        assert_eq!(connect[0], 0x10, "CONNECT");
        server
            .write_all(&[0x20, 0x02, 0x00, 0x00])
            .await
            .expect("CONNACK");
        let publish = tokio::time::timeout(WAIT, read_packet(&mut server))
            .await
            .expect("PUBLISH arrives");
        assert_eq!(publish[0] & 0xf0, 0x30, "PUBLISH");
        // Topic "t" (3 bytes with its length), then the packet identifier.
        let id = &publish[5..7];
        server
            .write_all(&[0x40, 0x02, id[0], id[1]])
            .await
            .expect("PUBACK");
        let disconnect = tokio::time::timeout(WAIT, read_packet(&mut server))
            .await
            .expect("DISCONNECT arrives");
        assert_eq!(disconnect, [0xe0, 0x00]);
    });
    let client = ClientOptions::new(ProtocolVersion::V311, "flush-only").expect("id");
    let options = ConnectOptions::new("unused", 1, client).with_reconnect(None);
    let connector = Connector(std::sync::Mutex::new(Some(client_end)));
    let (client, _) = tokio::time::timeout(WAIT, mqtt_tokio::connect_with(options, connector))
        .await
        .expect("CONNACK in time")
        .expect("connected");
    let done = tokio::time::timeout(WAIT, client.publish("t", QoS::AtLeastOnce, "x"))
        .await
        .expect("PUBACK in time")
        .expect("acknowledged");
    assert_eq!(done.reason_code, ReasonCode::Success);
    client
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    tokio::time::timeout(WAIT, script)
        .await
        .expect("the script ends")
        .expect("the script's checks pass");
}
