//! A scripted server for client tests: the test plays the server, packet
//! by packet, in virtual time, and reads back what the client sent and
//! reported.
//!
//! ```
//! use mqtt_core::client::{ClientOptions, Event};
//! use mqtt_core::codec::{ConnAck, Packet, ProtocolVersion, ReasonCode};
//! use mqtt_tests::scripted::Scripted;
//!
//! let mut s = Scripted::new(ClientOptions::new(ProtocolVersion::V5, "c1").unwrap());
//! s.connect();
//! assert!(matches!(s.sent_one(), Packet::Connect(_)));
//! s.server_sends(ConnAck::new(false, ReasonCode::Success));
//! assert!(matches!(s.events()[..], [Event::Connected(_)]));
//! ```

use bytes::{Bytes, BytesMut};
use mqtt_core::client::{Client, ClientOptions, Event};
use mqtt_core::codec::{DecodeOptions, Decoder, Packet, ProtocolVersion};
use mqtt_core::time::Instant;

/// A [`Client`] with a virtual clock, whose output is decoded back into
/// packets (strictly, as a server would) for assertions.
pub struct Scripted {
    /// The client under test.
    pub client: Client,
    /// Virtual time in milliseconds.
    pub now: Instant,
    version: ProtocolVersion,
    /// Decodes what the client sends.
    decoder: Decoder,
}

impl Scripted {
    /// A client with `options`, at time 0, not connected.
    pub fn new(options: ClientOptions) -> Self {
        let version = options.version;
        Scripted {
            client: Client::new(options),
            now: 0,
            version,
            decoder: Decoder::new(DecodeOptions::new(version)),
        }
    }

    /// A 5.0 or 3.1.1 client with default options and client id "test".
    pub fn with_version(version: ProtocolVersion) -> Self {
        Self::new(ClientOptions::new(version, "test").expect("valid options"))
    }

    /// `connect` at the current time (panics on a local error).
    pub fn connect(&mut self) {
        self.decoder = Decoder::new(DecodeOptions::new(self.version));
        self.client.connect(self.now).expect("connect");
    }

    /// Connects and answers CONNACK (Success, Session Present as given),
    /// draining the CONNECT and the events.
    pub fn connect_ok(&mut self, session_present: bool) {
        self.connect();
        let _ = self.sent();
        self.server_sends(mqtt_core::codec::ConnAck::new(
            session_present,
            mqtt_core::codec::ReasonCode::Success,
        ));
        let _ = self.events();
    }

    /// Advances virtual time by `ms` and lets timers fire.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.client.handle_timeout(self.now);
    }

    /// Feeds a packet from the server, encoded for the client's version.
    pub fn server_sends(&mut self, packet: impl Into<Packet>) {
        let bytes = self.encode(&packet.into());
        self.client.handle_input(self.now, &bytes);
    }

    /// Feeds raw bytes from the server.
    pub fn server_sends_bytes(&mut self, bytes: &[u8]) {
        self.client.handle_input(self.now, bytes);
    }

    /// Encodes a packet for the client's version.
    pub fn encode(&self, packet: &Packet) -> Bytes {
        let mut buf = BytesMut::new();
        packet
            .encode(self.version, &mut buf)
            .expect("encodable packet");
        buf.freeze()
    }

    /// Every byte the client has to send, drained through `poll_transmit`
    /// with a small buffer (so partial copies are exercised).
    pub fn sent_bytes(&mut self) -> Vec<u8> {
        drain::<97>(|buf| self.client.poll_transmit(buf))
    }

    /// The packets the client sent since the last call, decoded strictly.
    pub fn sent(&mut self) -> Vec<Packet> {
        let bytes = self.sent_bytes();
        let packets = decode_all(&mut self.decoder, &bytes, "the client");
        assert_eq!(
            self.decoder.buffered(),
            0,
            "the client sent a partial packet"
        );
        packets
    }

    /// Exactly one packet sent since the last call (panics otherwise).
    pub fn sent_one(&mut self) -> Packet {
        let mut sent = self.sent();
        assert_eq!(sent.len(), 1, "expected one packet, got {sent:?}");
        sent.remove(0)
    }

    /// The events since the last call.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }
}

/// Drains a `poll_transmit`-style output through a buffer of `N` bytes
/// until it returns 0.
pub fn drain<const N: usize>(mut poll: impl FnMut(&mut [u8]) -> usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; N];
    loop {
        let n = poll(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Feeds `bytes` to `decoder` and returns every whole packet, panicking
/// (naming `who` sent it) on an invalid one.
pub fn decode_all(decoder: &mut Decoder, bytes: &[u8], who: &str) -> Vec<Packet> {
    decoder.feed(bytes);
    let mut packets = Vec::new();
    while let Some(p) = decoder
        .next_packet()
        .unwrap_or_else(|e| panic!("{who} sent an invalid packet: {e}"))
    {
        packets.push(p);
    }
    packets
}
