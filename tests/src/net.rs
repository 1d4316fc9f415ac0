//! A small blocking `std::net` driver for [`Client`], for tests against a
//! real broker on the loopback interface (`tests/interop_mosquitto.rs`).
//!
//! The core reads no clock; this driver owns the only one. Virtual time is
//! the milliseconds since the driver was made: a deadline `t` from
//! [`Client::poll_timeout`] is the real instant `origin + t` ms, and the
//! socket's read timeout is set so that the read returns by then (or by
//! the end of the current wait, whichever is first).
//!
//! Every wait is bounded by [`NetClient::timeout`] (5 s by default), so a
//! broker that does not answer fails the test instead of hanging it. Events
//! the client reports are kept in a backlog until a wait asks for them, so
//! nothing is lost while waiting for something else.
//!
//! ```no_run
//! use mqtt_core::client::ClientOptions;
//! use mqtt_core::codec::{ProtocolVersion, Publish, QoS, Subscribe};
//! use mqtt_tests::net::NetClient;
//!
//! let options = ClientOptions::new(ProtocolVersion::V5, "doc").unwrap();
//! let mut c = NetClient::new("127.0.0.1:1883".parse().unwrap(), options);
//! c.connect();
//! c.subscribe(Subscribe::single(0, "t", QoS::AtLeastOnce).unwrap());
//! c.publish_wait(Publish::new("t", &b"hi"[..]).unwrap().with_qos(QoS::AtLeastOnce, 0));
//! let m = c.recv_on("t");
//! assert_eq!(&m.publish.payload[..], b"hi");
//! ```

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant as RealInstant};

use mqtt_core::client::{
    Client, ClientOptions, Connected, ConnectionState, Event, Message, PublishId,
};
use mqtt_core::codec::{Disconnect, ProtocolVersion, Publish, ReasonCode, Subscribe, Unsubscribe};
use mqtt_core::time::Instant;

/// How long a wait lasts by default before it fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Client`] over a blocking [`TcpStream`] to `127.0.0.1`.
///
/// The connection-level methods ([`connect`](Self::connect),
/// [`subscribe`](Self::subscribe), [`publish_wait`](Self::publish_wait),
/// ...) wait for their answer and panic with the events seen when it does
/// not come in time: they are for tests. [`client`](Self::client) is
/// public for anything else; call [`flush`](Self::flush) after a command
/// given to it directly.
pub struct NetClient {
    /// The state machine being driven.
    pub client: Client,
    /// How long each wait lasts before it fails.
    pub timeout: Duration,
    addr: SocketAddr,
    stream: Option<TcpStream>,
    origin: RealInstant,
    backlog: VecDeque<Event>,
    buf: Vec<u8>,
    /// A local DISCONNECT is out; the server closes the connection.
    closing: bool,
    /// Nothing is written until the next cut (see `hold_output`).
    hold: bool,
}

impl NetClient {
    /// A driver for a client with `options`, not connected. `addr` must be
    /// a loopback address.
    pub fn new(addr: SocketAddr, options: ClientOptions) -> Self {
        assert!(addr.ip().is_loopback(), "loopback only, not {addr}");
        NetClient {
            client: Client::new(options),
            timeout: DEFAULT_TIMEOUT,
            addr,
            stream: None,
            origin: real_now(),
            backlog: VecDeque::new(),
            buf: vec![0; 64 * 1024],
            closing: false,
            hold: false,
        }
    }

    /// The current virtual time: milliseconds since the driver was made.
    pub fn now(&self) -> Instant {
        self.origin.elapsed().as_millis() as Instant
    }

    /// The real instant of a virtual one.
    fn real(&self, t: Instant) -> RealInstant {
        self.origin + Duration::from_millis(t)
    }

    /// Whether a TCP connection is open.
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// Opens a TCP connection, sends CONNECT and waits for CONNACK. Panics
    /// when the server refuses or does not answer in time.
    pub fn connect(&mut self) -> Connected {
        self.try_connect()
            .unwrap_or_else(|why| panic!("connect to {}: {why}", self.addr))
    }

    /// Like [`connect`](Self::connect), but a refusal or a closed
    /// connection is returned as text instead of a panic.
    pub fn try_connect(&mut self) -> Result<Connected, String> {
        assert!(self.stream.is_none(), "already connected");
        // Ends of earlier connections are history now.
        self.backlog
            .retain(|e| !matches!(e, Event::Disconnected(_)));
        let stream = TcpStream::connect_timeout(&self.addr, self.timeout)
            .map_err(|e| format!("TCP connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        self.stream = Some(stream);
        self.client
            .connect(self.now())
            .map_err(|e| format!("Client::connect: {e}"))?;
        let event = self.try_wait_for(self.timeout, |e| {
            matches!(e, Event::Connected(_) | Event::Disconnected(_))
        });
        match event {
            Some(Event::Connected(c)) => Ok(c),
            other => {
                // Leave no half-open connection behind.
                self.cut();
                match other {
                    None => Err(format!("no CONNACK within {:?}", self.timeout)),
                    Some(e) => Err(format!("{e:?}")),
                }
            }
        }
    }

    /// Cuts the connection, if open, and connects again.
    pub fn reconnect(&mut self) -> Connected {
        self.cut();
        self.connect()
    }

    /// Drops the TCP connection abruptly: no DISCONNECT, so the server
    /// publishes the will. Bytes not yet written are lost, as on a real
    /// failure; the client is told the transport closed.
    pub fn cut(&mut self) {
        self.hold = false;
        if let Some(s) = self.stream.take() {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.client.handle_transport_closed(self.now());
        self.drain_events();
    }

    /// Disconnects normally (reason Success).
    pub fn disconnect(&mut self) {
        self.disconnect_with(Disconnect::new(ReasonCode::Success));
    }

    /// Sends `disconnect` and waits (bounded) until the server closes the
    /// connection, so the server has acted on it when this returns.
    pub fn disconnect_with(&mut self, disconnect: Disconnect) {
        let now = self.now();
        self.client
            .disconnect(now, disconnect)
            .expect("disconnect while connected");
        self.closing = true;
        self.write_out();
        self.drain_events();
        let until = real_now() + self.timeout;
        while let Some(stream) = self.stream.as_mut() {
            let left = until.saturating_duration_since(real_now());
            if left.is_zero() {
                panic!("the server did not close the connection after DISCONNECT");
            }
            let _ = stream.set_read_timeout(Some(left));
            match stream.read(&mut self.buf) {
                Ok(0) => self.stream = None,
                Ok(_) => {}
                Err(e) if retryable(&e) => {}
                Err(_) => self.stream = None,
            }
        }
        self.closing = false;
    }

    /// Gives `publish` to the client and sends what it can at once. The
    /// result is the command's: queued while disconnected, refused on
    /// misuse.
    pub fn publish(
        &mut self,
        publish: Publish,
    ) -> Result<PublishId, mqtt_core::client::ClientError> {
        let id = self.client.publish(self.now(), publish)?;
        self.flush();
        Ok(id)
    }

    /// Publishes and, for QoS 1 and 2, waits for the completion; returns
    /// its reason code (Success for QoS 0).
    pub fn publish_wait(&mut self, publish: Publish) -> ReasonCode {
        let qos0 = publish.qos == mqtt_core::codec::QoS::AtMostOnce;
        let id = self.publish(publish).expect("publish accepted");
        if qos0 {
            return ReasonCode::Success;
        }
        self.wait_completion(id)
    }

    /// Waits for the outcome of publish `id`; panics if it was dropped.
    pub fn wait_completion(&mut self, id: PublishId) -> ReasonCode {
        match self.wait_for(|e| {
            matches!(e, Event::PublishCompleted { id: i, .. } | Event::PublishDropped { id: i, .. } if *i == id)
        }) {
            Event::PublishCompleted { reason_code, .. } => reason_code,
            other => panic!("publish {id:?} did not complete: {other:?}"),
        }
    }

    /// Subscribes and waits for SUBACK; returns its reason codes.
    pub fn subscribe(&mut self, subscribe: Subscribe) -> Vec<ReasonCode> {
        let pid = self
            .client
            .subscribe(self.now(), subscribe)
            .expect("subscribe accepted");
        self.flush();
        match self
            .wait_for(|e| matches!(e, Event::Subscribed { packet_id, .. } if *packet_id == pid))
        {
            Event::Subscribed { reason_codes, .. } => reason_codes,
            _ => unreachable!(),
        }
    }

    /// Unsubscribes and waits for UNSUBACK; returns its reason codes.
    pub fn unsubscribe(&mut self, unsubscribe: Unsubscribe) -> Vec<ReasonCode> {
        let pid = self
            .client
            .unsubscribe(self.now(), unsubscribe)
            .expect("unsubscribe accepted");
        self.flush();
        match self
            .wait_for(|e| matches!(e, Event::Unsubscribed { packet_id, .. } if *packet_id == pid))
        {
            Event::Unsubscribed { reason_codes, .. } => reason_codes,
            _ => unreachable!(),
        }
    }

    /// The next message on `topic`.
    pub fn recv_on(&mut self, topic: &str) -> Message {
        match self.wait_for(|e| matches!(e, Event::Message(m) if m.publish.topic == topic)) {
            Event::Message(m) => m,
            _ => unreachable!(),
        }
    }

    /// The next message, on any topic.
    pub fn recv(&mut self) -> Message {
        match self.wait_for(|e| matches!(e, Event::Message(_))) {
            Event::Message(m) => m,
            _ => unreachable!(),
        }
    }

    /// The first event (from the backlog, or arriving within
    /// [`timeout`](Self::timeout)) that `pred` accepts, removed from the
    /// backlog. Panics on timeout, listing the events that did not match.
    pub fn wait_for(&mut self, pred: impl FnMut(&Event) -> bool) -> Event {
        let timeout = self.timeout;
        match self.try_wait_for(timeout, pred) {
            Some(e) => e,
            None => panic!(
                "nothing expected within {timeout:?} (state {:?}); unmatched events: {:#?}",
                self.client.state(),
                self.backlog
            ),
        }
    }

    /// Like [`wait_for`](Self::wait_for) with its own bound, and `None`
    /// instead of a panic (also at once when there is no connection to
    /// wait on).
    pub fn try_wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Option<Event> {
        let until = real_now() + timeout;
        loop {
            self.drain_events();
            if let Some(i) = self.backlog.iter().position(&mut pred) {
                return self.backlog.remove(i);
            }
            if self.stream.is_none() || real_now() >= until {
                return None;
            }
            self.step(until);
        }
    }

    /// From now until the next [`cut`](Self::cut), nothing is written:
    /// what the client sends (acknowledgements included) stays in its
    /// buffer and the cut loses it, as a failing network would. Input is
    /// still read.
    pub fn hold_output(&mut self) {
        self.hold = true;
    }

    /// Drives the connection until `cond` holds of the client (true) or
    /// `timeout` passes (false).
    pub fn drive_until(
        &mut self,
        timeout: Duration,
        mut cond: impl FnMut(&Client) -> bool,
    ) -> bool {
        let until = real_now() + timeout;
        loop {
            if cond(&self.client) {
                return true;
            }
            if self.stream.is_none() || real_now() >= until {
                return false;
            }
            self.step(until);
        }
    }

    /// The events not taken by a wait yet, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.drain_events();
        self.backlog.drain(..).collect()
    }

    /// Writes everything the client has to send.
    pub fn flush(&mut self) {
        self.write_out();
        self.drain_events();
    }

    /// One turn of the loop: read (bounded by the client's next deadline
    /// and by `until`), let timers fire, write, collect events.
    fn step(&mut self, until: RealInstant) {
        self.write_out();
        let mut wake = until;
        if let Some(t) = self.client.poll_timeout() {
            wake = wake.min(self.real(t));
        }
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let wait = wake
            .saturating_duration_since(real_now())
            .max(Duration::from_millis(1));
        let _ = stream.set_read_timeout(Some(wait));
        let closed = match stream.read(&mut self.buf) {
            Ok(0) => true,
            Ok(n) => {
                let now = self.now();
                self.client.handle_input(now, &self.buf[..n]);
                false
            }
            Err(e) => !retryable(&e),
        };
        if closed {
            self.stream = None;
            self.client.handle_transport_closed(self.now());
        }
        let now = self.now();
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
        }
        self.write_out();
        self.drain_events();
    }

    /// Writes the client's output; a write error is a closed transport.
    /// When the client ended the connection, what it had left to say (a
    /// DISCONNECT) is written and the socket closed.
    fn write_out(&mut self) {
        if self.hold {
            return;
        }
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            let bytes = self.client.take_transmit();
            if bytes.is_empty() {
                break;
            }
            if stream.write_all(&bytes).is_err() {
                self.stream = None;
                self.client.handle_transport_closed(self.now());
                return;
            }
        }
        // The client ended the connection (its DISCONNECT, if any, is
        // written): close, unless disconnect_with waits for the server to.
        if self.client.state() == ConnectionState::Disconnected && !self.closing {
            if let Some(s) = self.stream.take() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.backlog.push_back(e);
        }
    }
}

/// A read that timed out or was interrupted: try again.
fn retryable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// The driver's clock. The core never reads one (clippy bans
/// `Instant::now` in the workspace); drivers own the time and pass it in.
#[allow(clippy::disallowed_methods)]
fn real_now() -> RealInstant {
    RealInstant::now()
}

/// A short name of `v` (`v31`, `v311`, `v5`) to keep topics and client
/// identifiers of the versions' runs of a test apart.
pub fn version_tag(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::V31 => "v31",
        ProtocolVersion::V311 => "v311",
        ProtocolVersion::V5 => "v5",
    }
}

/// Runs test functions written once for both versions: for each
/// `name(v: ProtocolVersion)` given, a test `v311::name` and a test
/// `v5::name`, in the module where it is used.
#[macro_export]
macro_rules! both_versions {
    ($($name:ident),* $(,)?) => {
        mod v311 {
            $( #[test] fn $name() { super::$name(mqtt_core::codec::ProtocolVersion::V311) } )*
        }
        mod v5 {
            $( #[test] fn $name() { super::$name(mqtt_core::codec::ProtocolVersion::V5) } )*
        }
    };
}
