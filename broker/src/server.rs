//! The socket loop: one thread, one [`mio::Poll`], non-blocking sockets (as
//! mosquitto), every listener of the configuration, signals.
//!
//! 1. Wait for readiness, at most until the engine's next deadline
//!    ([`Broker::poll_timeout`]), the next `$SYS` update, or a closing
//!    connection's flush deadline, or the store's periodic sync. Time is
//!    Unix time in milliseconds at the start plus the monotonic time since
//!    (so session and message expiry count a downtime across restarts).
//! 2. Accept new connections ([`Broker::connection_opened`]; a listener's
//!    `max_connections` is enforced here by closing the socket at once).
//!    Read each readable socket in 64 KiB chunks (a bounded number of reads
//!    per turn, in the order the bytes arrived), through its
//!    [`Transport`] (TLS, WebSocket) into [`Broker::handle_input`]; on end
//!    of file or error, [`Broker::connection_closed`]. Flush sockets that
//!    became writable.
//! 3. Call [`Broker::handle_timeout`] when its deadline has passed; update
//!    `$SYS`.
//! 4. With `persistence true`, take [`Broker::poll_store`] and append it
//!    to the [`Store`] (in `sync` mode, fdatasync'ed) **before** draining
//!    [`Broker::poll_output`]: nothing the engine acknowledged is sent
//!    before its record is stored. A store that cannot be written stops
//!    the broker (continuing would acknowledge what is not stored).
//!    Drain [`Broker::poll_output`] through the transports to the sockets.
//!    What a socket does not take waits in the connection's pending buffer
//!    and the socket is watched for writability.
//! 5. Drain [`Broker::poll_close`]: the transport's goodbye (WebSocket
//!    Close, TLS close_notify), flush (at most `CLOSE_GRACE_MS`, 5 s), close,
//!    [`Broker::connection_closed`] (which may publish a will: back to 4).
//!
//! SIGHUP reloads the password and ACL files (connected clients stay) and
//! reopens log files; SIGTERM and SIGINT stop: 5.0 clients get DISCONNECT
//! 0x8B Server shutting down ([`Broker::shutdown`]); the store's last
//! batch is written and synced.
//!
//! Everything MQTT is the engine's.

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant as RealInstant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use mqtt_core::broker::{Access, Authorizer, Broker, ConnectionId};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::auth::ListenerAuthenticator;
use crate::config::{Config, Protocol};
use crate::log;
use crate::log::Logger;
use crate::setup::{self, Security};
use crate::store::Store;
use crate::sys::{SysTree, Traffic};
use crate::transport::{Transport, TransportError};

/// Tokens at the top of the range are the listeners' and the signals';
/// a connection's token is its engine id.
const SIGNALS: Token = Token(usize::MAX);
const FIRST_LISTENER: usize = usize::MAX - 1;
/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Reads of one socket per turn of the loop.
const READS_PER_TURN: usize = 4;
/// Bytes waiting in the driver for one socket before the client is
/// disconnected: a safety net only. The engine holds a slow client's
/// output once its socket stops taking bytes ([`Broker::set_writable`])
/// and bounds it (QoS 0 dropped past `max_output_bytes_per_connection`),
/// so the driver holds at most one batch of output and transport framing.
const MAX_PENDING: usize = 64 * 1024 * 1024;
/// How long a connection the engine closes may take to flush its last
/// bytes.
const CLOSE_GRACE_MS: u64 = 5_000;
/// How long a stopping broker waits for its goodbyes to be taken.
const STOP_GRACE_MS: u64 = 2_000;

/// The driver's clock. The core never reads one (the workspace's clippy
/// configuration bans `Instant::now`): drivers own the time.
#[allow(clippy::disallowed_methods)]
fn real_now() -> RealInstant {
    RealInstant::now()
}

/// Unix time in milliseconds (0 if the clock is before 1970).
#[allow(clippy::disallowed_methods)]
fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The engine's clock: Unix milliseconds read once at the start, plus the
/// monotonic time since (a wall clock step while running does not move
/// it; a restart continues from the wall clock).
struct Clock {
    origin: RealInstant,
    unix_at_origin: u64,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            origin: real_now(),
            unix_at_origin: unix_millis(),
        }
    }

    fn now(&self) -> u64 {
        let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.unix_at_origin.saturating_add(elapsed)
    }
}

/// One listening socket (a listener bound to several addresses has
/// several).
struct Socket {
    listener: TcpListener,
    /// Index into [`Server::listeners`].
    index: usize,
}

/// A configured listener.
pub struct ListenerState {
    /// Its port, for messages.
    port: u16,
    protocol: Protocol,
    tls: Option<Arc<rustls::ServerConfig>>,
    use_identity_as_username: bool,
    max_connections: Option<usize>,
    connections: usize,
}

/// One client connection.
struct Conn {
    id: ConnectionId,
    stream: TcpStream,
    listener: u16,
    transport: Transport,
    /// Whether the transport's identity (TLS) has been looked at.
    identity_checked: bool,
    /// Bytes not written yet; `pending[sent..]` is what is left (at most
    /// [`MAX_PENDING`]).
    pending: Vec<u8>,
    sent: usize,
    watching_writable: bool,
    /// Set when the engine asked to close it: the deadline for flushing.
    closing_by: Option<u64>,
    /// Whether the engine accepted its CONNECT (and it was logged).
    accepted: bool,
}

/// Why a connection ends, for the log.
enum End {
    Eof,
    Error(std::io::Error),
    Transport(TransportError),
    Engine,
    TooSlow,
    FlushTimeout,
}

/// The running broker.
pub struct Server {
    config: Config,
    broker: Broker,
    auth: ListenerAuthenticator,
    poll: Poll,
    sockets: Vec<Socket>,
    listeners: Vec<ListenerState>,
    signals: Signals,
    conns: HashMap<usize, Conn>,
    unread: Vec<usize>,
    closing: Vec<usize>,
    clock: Clock,
    /// The durable store (`persistence true`).
    store: Option<Store>,
    buf: Vec<u8>,
    /// Scratch buffers of the TLS and WebSocket layers (what goes up to
    /// the engine, what goes down to the socket), reused.
    scratch_up: Vec<u8>,
    scratch_down: Vec<u8>,
    log: Logger,
    sys: SysTree,
    traffic: Traffic,
    /// Largest WebSocket message accepted.
    ws_max_message: usize,
    stopping: Option<u64>,
}

impl Server {
    /// Binds every listener of `config` and prepares the engine. Prints one
    /// line per bound address to stdout: `listening on ADDRESS (KIND)`.
    pub fn bind(config: Config, log: Logger) -> Result<Server, String> {
        let Security {
            listeners: securities,
            acl,
            uniform,
            warnings,
        } = setup::security(&config)?;
        let mut log = log;
        for w in warnings {
            log!(log, Warning, "Warning: {w}");
        }
        let mut options = setup::broker_options(&config)?;
        if let Some(acl) = acl.clone() {
            options = options.with_acl(acl);
        }
        let ws_max_message = match config.limits.max_packet_size {
            0 => 268_435_460,
            n => n as usize + 5,
        };
        let mut broker = Broker::new(options);
        let auth = ListenerAuthenticator::new(securities, uniform);
        broker.set_authenticator(Box::new(auth.clone()));
        let clock = Clock::start();
        // Restored before any listener opens: no client sees the broker
        // without its state.
        let store = if config.persistence.enabled {
            Some(Store::open(
                &config.persistence,
                &mut broker,
                clock.now(),
                &mut log,
            )?)
        } else {
            None
        };
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        // Before any listening line is printed: a SIGHUP sent by whoever
        // waits for those lines must not meet the default action (exit).
        let mut signals =
            Signals::new([SIGHUP, SIGTERM, SIGINT]).map_err(|e| format!("signals: {e}"))?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| format!("register signals: {e}"))?;
        let mut sockets = Vec::new();
        let mut listeners = Vec::new();
        for (index, l) in config.listeners.iter().enumerate() {
            let tls = match &l.tls {
                Some(t) => Some(
                    crate::tls::server_config(t)
                        .map_err(|e| format!("listener {} (line {}): {e}", l.port, l.line))?,
                ),
                None => None,
            };
            let kind = match (l.protocol, tls.is_some()) {
                (Protocol::Mqtt, false) => "mqtt",
                (Protocol::Mqtt, true) => "mqtt, tls",
                (Protocol::WebSockets, false) => "websockets",
                (Protocol::WebSockets, true) => "websockets, tls",
            };
            let mut any_bound = false;
            let mut port = l.port;
            for addr in bind_addresses(l.bind_address.as_deref(), l.port)? {
                if any_bound && l.bind_address.is_none() {
                    break; // [::] took IPv4 too
                }
                let mut listener = match TcpListener::bind(addr) {
                    Ok(listener) => listener,
                    // No IPv6 on this machine: 0.0.0.0 serves.
                    Err(_) if addr.is_ipv6() && l.bind_address.is_none() => continue,
                    Err(e) => {
                        return Err(format!(
                            "listener {} (line {}): bind {addr}: {e}",
                            l.port, l.line
                        ))
                    }
                };
                let token = Token(FIRST_LISTENER - sockets.len());
                poll.registry()
                    .register(&mut listener, token, Interest::READABLE)
                    .map_err(|e| format!("register: {e}"))?;
                let bound = listener.local_addr().map_err(|e| e.to_string())?;
                println!("listening on {bound} ({kind})");
                port = bound.port();
                sockets.push(Socket { listener, index });
                any_bound = true;
            }
            listeners.push(ListenerState {
                port,
                protocol: l.protocol,
                tls,
                use_identity_as_username: l
                    .tls
                    .as_ref()
                    .is_some_and(|t| t.use_identity_as_username),
                max_connections: l.max_connections,
                connections: 0,
            });
        }
        if sockets.is_empty() {
            return Err("no listener could be opened".into());
        }
        let _ = std::io::stdout().flush();
        let sys = SysTree::new(config.sys_interval, clock.now());
        Ok(Server {
            config,
            broker,
            auth,
            poll,
            sockets,
            listeners,
            signals,
            conns: HashMap::new(),
            unread: Vec::new(),
            closing: Vec::new(),
            clock,
            store,
            buf: vec![0; READ_CHUNK],
            scratch_up: Vec::new(),
            scratch_down: Vec::new(),
            log,
            sys,
            traffic: Traffic::default(),
            ws_max_message,
            stopping: None,
        })
    }

    /// The time the engine is given (see [`Clock`]).
    fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Appends the engine's latest batch of records to the store (synced
    /// in `sync` mode), and compacts when the file has grown enough.
    /// Called before every drain of [`Broker::poll_output`].
    fn persist(&mut self) -> Result<(), String> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let now = self.clock.now();
        if let Some(batch) = self.broker.poll_store(now) {
            store.append(&batch)?;
            if store.wants_compaction() {
                let before = store.len();
                let snapshot = self.broker.snapshot(now);
                store.compact(&snapshot)?;
                log!(
                    self.log,
                    Information,
                    "store {}: compacted, {before} bytes to {}",
                    store.path().display(),
                    store.len()
                );
            }
        }
        Ok(())
    }

    /// A store error: logged; the broker stops.
    fn fatal(&mut self, e: String) -> String {
        log!(
            self.log,
            Error,
            "Error: {e}; stopping (nothing more is acknowledged)"
        );
        e
    }

    /// Serves until SIGTERM or SIGINT.
    pub fn run(&mut self) -> Result<(), String> {
        log!(
            self.log,
            Notice,
            "libmqtt-broker version {} running",
            env!("CARGO_PKG_VERSION")
        );
        let mut events = Events::with_capacity(1024);
        loop {
            let now = self.now();
            if let Some(deadline) = self.stopping {
                if self.conns.is_empty() || now >= deadline {
                    if let Err(e) = self.persist() {
                        return Err(self.fatal(e));
                    }
                    if let Some(store) = &mut self.store {
                        if let Err(e) = store.sync() {
                            return Err(self.fatal(e));
                        }
                    }
                    log!(self.log, Notice, "libmqtt-broker terminating");
                    return Ok(());
                }
            }
            let timeout = if !self.unread.is_empty() {
                Some(Duration::ZERO)
            } else {
                let closing = self.closing.iter().filter_map(|k| self.conns.get(k));
                closing
                    .filter_map(|c| c.closing_by)
                    .chain(self.broker.poll_timeout())
                    .chain(self.sys.deadline())
                    .chain(self.store.as_ref().and_then(Store::deadline))
                    .chain(self.stopping)
                    .min()
                    .map(|t| Duration::from_millis(t.saturating_sub(now)))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("poll: {e}"));
            }
            let mut readable = std::mem::take(&mut self.unread);
            for event in events.iter() {
                match event.token() {
                    SIGNALS => self.signals(),
                    Token(t) if t > FIRST_LISTENER - self.sockets.len() && t <= FIRST_LISTENER => {
                        self.accept(FIRST_LISTENER - t)
                    }
                    Token(key) => {
                        if event.is_writable() {
                            self.flush(key);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            readable.push(key);
                        }
                    }
                }
            }
            // In the order the bytes arrived; a socket named twice is read
            // once, at its first place.
            let mut seen = HashSet::with_capacity(readable.len());
            readable.retain(|key| seen.insert(*key));
            for key in readable {
                self.read(key);
            }
            let now = self.now();
            if self.broker.poll_timeout().is_some_and(|t| t <= now) {
                self.broker.handle_timeout(now);
            }
            self.sys.update(&mut self.broker, self.traffic, now);
            if let Some(store) = &mut self.store {
                if let Err(e) = store.tick(now) {
                    return Err(self.fatal(e));
                }
            }
            if let Err(e) = self.transmit() {
                return Err(self.fatal(e));
            }
        }
    }

    fn signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                SIGHUP => self.reload(),
                _ if self.stopping.is_none() => {
                    log!(self.log, Notice, "signal {signal}: stopping");
                    let now = self.now();
                    self.stopping = Some(now + STOP_GRACE_MS);
                    for socket in &mut self.sockets {
                        let _ = self.poll.registry().deregister(&mut socket.listener);
                    }
                    self.broker.shutdown(now);
                }
                _ => {}
            }
        }
    }

    /// SIGHUP: the configuration file is read again and its password and
    /// ACL files reloaded; listeners and limits stay as they were. A
    /// reload that fails keeps the running settings.
    fn reload(&mut self) {
        self.log.reopen();
        let config = match &self.config.path {
            Some(path) => match Config::load(path) {
                Ok(mut c) => {
                    // Listeners are not re-bound: keep the running ones
                    // (a -p on the command line included).
                    c.listeners = self.config.listeners.clone();
                    c
                }
                Err(e) => {
                    log!(self.log, Error, "reload: {e}; keeping the running settings");
                    return;
                }
            },
            None => self.config.clone(),
        };
        match setup::security(&config) {
            Ok(Security {
                listeners,
                acl,
                uniform,
                warnings,
            }) => {
                for w in warnings {
                    log!(self.log, Warning, "Warning: {w}");
                }
                self.auth.reload(listeners, uniform);
                match acl {
                    Some(acl) => self.broker.set_authorizer(Box::new(acl)),
                    None => self.broker.set_authorizer(Box::new(AllowAll)),
                }
                self.config = config;
                log!(self.log, Notice, "reloaded password and ACL files");
            }
            Err(e) => log!(self.log, Error, "reload: {e}; keeping the running settings"),
        }
    }

    fn accept(&mut self, socket: usize) {
        loop {
            let Some(s) = self.sockets.get(socket) else {
                return;
            };
            let index = s.index;
            let (mut stream, peer) = match s.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors, for example: try again when
                    // the next client knocks.
                    log!(self.log, Error, "accept: {e}");
                    return;
                }
            };
            self.traffic.sockets += 1;
            let now = self.now();
            let l = &mut self.listeners[index];
            if l.max_connections.is_some_and(|max| l.connections >= max) {
                log!(
                    self.log,
                    Notice,
                    "refused {peer} on port {}: max_connections reached",
                    l.port
                );
                continue; // dropping the stream closes it
            }
            let websocket = (l.protocol == Protocol::WebSockets).then_some(self.ws_max_message);
            let transport = match Transport::new(l.tls.clone(), websocket) {
                Ok(t) => t,
                Err(e) => {
                    log!(self.log, Error, "{peer}: {e}");
                    continue;
                }
            };
            if self.config.set_tcp_nodelay {
                let _ = stream.set_nodelay(true);
            }
            let id = self.broker.connection_opened(now);
            let key = id.get() as usize;
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut stream, Token(key), Interest::READABLE)
            {
                log!(self.log, Error, "register {peer}: {e}");
                self.broker.connection_closed(id, now);
                continue;
            }
            l.connections += 1;
            self.auth.opened(id, index);
            if self.log.connection_messages {
                log!(
                    self.log,
                    Notice,
                    "New connection from {peer} on port {}.",
                    l.port
                );
            }
            self.conns.insert(
                key,
                Conn {
                    id,
                    stream,
                    listener: u16::try_from(index).unwrap_or(u16::MAX),
                    transport,
                    identity_checked: false,
                    pending: Vec::new(),
                    sent: 0,
                    watching_writable: false,
                    closing_by: None,
                    accepted: false,
                },
            );
            // Readiness is edge-triggered: bytes that came with the
            // connection are read now.
            self.unread.push(key);
        }
    }

    fn read(&mut self, key: usize) {
        for _ in 0..READS_PER_TURN {
            let now = self.now();
            let Some(conn) = self.conns.get_mut(&key) else {
                return;
            };
            if conn.closing_by.is_some() {
                return; // the engine is done with it; only flushing is left
            }
            if conn.sent < conn.pending.len() {
                // Not writable: its input (acknowledgements, PINGRESPs to
                // make) waits too, until `flush` empties the buffer.
                return;
            }
            let n = match conn.stream.read(&mut self.buf) {
                Ok(0) => return self.end(key, End::Eof),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return self.end(key, End::Error(e)),
            };
            self.traffic.bytes_received += n as u64;
            if conn.transport.is_plain() {
                self.broker.handle_input(conn.id, now, &self.buf[..n]);
                self.note_client(key);
                continue;
            }
            // Scratch buffers kept across reads: no allocation per read.
            let mut up = std::mem::take(&mut self.scratch_up);
            let mut down = std::mem::take(&mut self.scratch_down);
            up.clear();
            down.clear();
            let result = conn.transport.receive(&self.buf[..n], &mut up, &mut down);
            let id = conn.id;
            if !conn.identity_checked && !conn.transport.handshaking() {
                conn.identity_checked = true;
                if self.listeners[usize::from(conn.listener)].use_identity_as_username {
                    if let Some(name) = conn.transport.peer_identity() {
                        if self.broker.set_transport_username(id, &name).is_ok() {
                            self.auth.identified(id);
                        }
                    }
                }
            }
            let peer_closed = conn.transport.peer_closed();
            if !down.is_empty() {
                self.write_raw(key, &down);
            }
            if !up.is_empty() && result.is_ok() {
                self.broker.handle_input(id, now, &up);
                self.note_client(key);
            }
            self.scratch_up = up;
            self.scratch_down = down;
            if let Err(e) = result {
                return self.end(key, End::Transport(e));
            }
            if peer_closed {
                return self.end(key, End::Eof);
            }
        }
        self.unread.push(key);
    }

    /// Learns (and logs) the client identifier once the engine accepted
    /// the connection.
    fn note_client(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if conn.accepted {
            return;
        }
        if let Some(id) = self.broker.client_id(conn.id) {
            conn.accepted = true;
            if !self.log.connection_messages {
                return;
            }
            let port = self.listeners[usize::from(conn.listener)].port;
            let peer = peer_name(&conn.stream);
            log!(
                self.log,
                Notice,
                "New client connected from {peer} as {id} (port {port})."
            );
        }
    }

    /// Hands the engine's output to the sockets and carries out its
    /// closes, until it has nothing more (a close can publish a will).
    /// The store's batch goes first each time; its error is returned.
    fn transmit(&mut self) -> Result<(), String> {
        loop {
            let mut idle = true;
            // Before every output taken: a send that failed ends its
            // connection, whose changes (a will queued for a persistent
            // session) are stored before what follows them goes out.
            loop {
                self.persist()?;
                let Some((id, bytes)) = self.broker.poll_output() else {
                    break;
                };
                idle = false;
                self.send(id.get() as usize, &bytes);
            }
            while let Some(id) = self.broker.poll_close() {
                idle = false;
                let key = id.get() as usize;
                let deadline = self.now() + CLOSE_GRACE_MS;
                let Some(conn) = self.conns.get_mut(&key) else {
                    continue;
                };
                conn.closing_by = Some(deadline);
                let mut goodbye = Vec::new();
                conn.transport.close(&mut goodbye);
                if !goodbye.is_empty() {
                    self.write_raw(key, &goodbye);
                }
                match self.conns.get(&key) {
                    Some(c) if c.sent == c.pending.len() => self.end(key, End::Engine),
                    Some(_) => self.closing.push(key),
                    None => {}
                }
            }
            let now = self.now();
            let conns = &self.conns;
            self.closing.retain(|k| conns.contains_key(k));
            let overdue: Vec<usize> = self
                .closing
                .iter()
                .copied()
                .filter(|k| conns[k].closing_by.is_some_and(|t| t <= now))
                .collect();
            for key in overdue {
                idle = false;
                self.end(key, End::FlushTimeout);
            }
            if idle {
                return Ok(());
            }
        }
    }

    /// MQTT bytes for `key`, through its transport.
    fn send(&mut self, key: usize, bytes: &[u8]) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if conn.transport.is_plain() {
            return self.write_raw(key, bytes);
        }
        let mut down = std::mem::take(&mut self.scratch_down);
        down.clear();
        let result = conn.transport.send(bytes, &mut down);
        if result.is_ok() {
            self.write_raw(key, &down);
        }
        if down.capacity() <= 4 * READ_CHUNK {
            // Kept for the next batch (a large one is given back).
            self.scratch_down = down;
        }
        if let Err(e) = result {
            self.end(key, End::Transport(e));
        }
    }

    /// Writes `bytes` to `key`'s socket, or queues them behind what is
    /// already waiting.
    fn write_raw(&mut self, key: usize, bytes: &[u8]) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let mut written = 0;
        if conn.sent == conn.pending.len() {
            while written < bytes.len() {
                match conn.stream.write(&bytes[written..]) {
                    Ok(0) => return self.end(key, End::Error(ErrorKind::WriteZero.into())),
                    Ok(n) => written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return self.end(key, End::Error(e)),
                }
            }
            self.traffic.bytes_sent += written as u64;
            conn.pending.clear();
            conn.sent = 0;
        }
        if written == bytes.len() {
            return;
        }
        // The engine keeps the rest of its output until the socket takes
        // these bytes, and applies its policy for slow subscribers.
        if conn.sent == conn.pending.len() {
            let now = self.clock.now();
            self.broker.set_writable(conn.id, now, false);
        }
        if conn.pending.len() - conn.sent + bytes.len() - written > MAX_PENDING {
            return self.end(key, End::TooSlow);
        }
        if conn.sent > conn.pending.len() / 2 {
            conn.pending.drain(..conn.sent);
            conn.sent = 0;
        }
        conn.pending.extend_from_slice(&bytes[written..]);
        if !conn.watching_writable {
            conn.watching_writable = true;
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = self
                .poll
                .registry()
                .reregister(&mut conn.stream, Token(key), interest)
            {
                self.end(key, End::Error(e));
            }
        }
    }

    /// Writes what waits for `key`'s socket, now that it is writable.
    fn flush(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        while conn.sent < conn.pending.len() {
            match conn.stream.write(&conn.pending[conn.sent..]) {
                Ok(0) => return self.end(key, End::Error(ErrorKind::WriteZero.into())),
                Ok(n) => {
                    conn.sent += n;
                    self.traffic.bytes_sent += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.end(key, End::Error(e)),
            }
        }
        conn.pending = Vec::new();
        conn.sent = 0;
        if conn.closing_by.is_some() {
            return self.end(key, End::Engine);
        }
        // What the engine kept comes in the next `transmit`; what the
        // client sent meanwhile is read now.
        let now = self.clock.now();
        self.broker.set_writable(conn.id, now, true);
        self.unread.push(key);
        conn.watching_writable = false;
        if let Err(e) =
            self.poll
                .registry()
                .reregister(&mut conn.stream, Token(key), Interest::READABLE)
        {
            self.end(key, End::Error(e));
        }
    }

    /// Closes `key`'s socket and tells the engine.
    fn end(&mut self, key: usize, why: End) {
        let Some(mut conn) = self.conns.remove(&key) else {
            return;
        };
        if self.conns.capacity() > 64 && self.conns.len() < self.conns.capacity() / 4 {
            // A crowd has left: give its room back.
            self.conns.shrink_to(self.conns.len() * 2);
        }
        let (peer, who) = if self.log.connection_messages {
            // The engine still knows the client unless it already ended
            // the session (after a DISCONNECT, say).
            let who = self.broker.client_id(conn.id).map(str::to_owned);
            (peer_name(&conn.stream), who)
        } else {
            (String::new(), None)
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let _ = conn.stream.shutdown(Shutdown::Both);
        if let Some(l) = self.listeners.get_mut(usize::from(conn.listener)) {
            l.connections = l.connections.saturating_sub(1);
        }
        self.broker.connection_closed(conn.id, self.now());
        self.auth.forget(conn.id);
        if self.log.connection_messages {
            let why = match why {
                End::Eof => "closed by the client".to_string(),
                End::Error(e) => format!("error: {e}"),
                End::Transport(e) => e.to_string(),
                End::Engine => "closed by the broker".to_string(),
                End::TooSlow => format!("not reading: over {MAX_PENDING} bytes waiting"),
                End::FlushTimeout => "last bytes not taken in time".to_string(),
            };
            match who {
                Some(who) => log!(
                    self.log,
                    Notice,
                    "Client {who} from {peer} disconnected: {why}."
                ),
                None => log!(self.log, Notice, "Connection from {peer} ended: {why}."),
            }
        }
    }
}

/// The peer's address for the log (not kept per connection: it costs 32
/// bytes each).
fn peer_name(stream: &TcpStream) -> String {
    stream
        .peer_addr()
        .map_or_else(|_| "<unknown>".to_string(), |a| a.to_string())
}

/// The authorizer of a broker without `acl_file` (after a reload removed
/// it): everything is allowed.
struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: &str, _: Option<&str>, _: &str, _: Access) -> bool {
        true
    }
}

/// The addresses a listener binds: its `bind_address` (every address it
/// resolves to), or every interface: `[::]`, which takes IPv4 too on a
/// dual-stack system, then `0.0.0.0` (skipped when `[::]` already took
/// the port, needed where there is no IPv6).
fn bind_addresses(bind: Option<&str>, port: u16) -> Result<Vec<SocketAddr>, String> {
    match bind {
        None => Ok(vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0, 0, 0, 0], port)),
        ]),
        Some(host) => {
            let mut addrs: Vec<SocketAddr> = (host, port)
                .to_socket_addrs()
                .map_err(|e| format!("bind_address {host}: {e}"))?
                .collect();
            addrs.dedup();
            if addrs.is_empty() {
                return Err(format!("bind_address {host}: no address"));
            }
            Ok(addrs)
        }
    }
}
