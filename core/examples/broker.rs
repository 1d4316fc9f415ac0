//! An MQTT 3.1, 3.1.1 and 5.0 broker in one file: the sans-IO [`Broker`]
//! engine plus a socket driver that only moves bytes and time.
//!
//! ```text
//! cargo run -p mqtt-core --example broker -- --port 1883 -v
//! ```
//!
//! Options: `--host H` (default 127.0.0.1), `--port P` (default 1883; 0
//! picks a free port), `--password-file F` (`username:password` lines, see
//! [`PasswordTable`]), `--allow-anonymous` (with a password file, also
//! accept clients that give no username), `--acl-file F` (mosquitto's
//! `acl_file` format, see [`Acl`]), `--max-connections N` (default 10 000;
//! connections beyond it are closed at once), `-v` (log connections to
//! stderr). Once bound it prints one line, `listening on
//! ADDRESS`, to stdout.
//!
//! # The loop
//!
//! One thread, one [`mio::Poll`], non-blocking sockets, as mosquitto does:
//!
//! 1. Wait for readiness, at most until the engine's next deadline
//!    ([`Broker::poll_timeout`]; the time is milliseconds since the start).
//! 2. Accept new connections ([`Broker::connection_opened`]); read each
//!    readable socket in 64 KiB chunks into [`Broker::handle_input`] (a
//!    bounded number of reads per turn, so that one busy client cannot
//!    starve the others: a socket with more to read is read again next
//!    turn); on end of file or error, [`Broker::connection_closed`].
//!    Flush sockets that became writable.
//! 3. Call [`Broker::handle_timeout`] when its deadline has passed.
//! 4. Drain [`Broker::poll_output`]: it hands over all the bytes a
//!    connection has at once, written with one `write` call. What the
//!    socket does not take waits in the connection's pending buffer, the
//!    engine is told the connection is not writable
//!    ([`Broker::set_writable`]) and the socket is watched for
//!    writability until the buffer is empty (then it is writable again).
//!    Meanwhile the engine keeps the connection's bytes and applies its
//!    policy for slow subscribers (QoS 0 dropped past
//!    `BrokerLimits::max_output_bytes_per_connection`, QoS 1 and 2
//!    queued within the session's bounds): a client that stops reading
//!    is not disconnected, and the pending buffer never holds more than
//!    one hand-over. Its socket is not read meanwhile (what it sends
//!    makes output too: acknowledgements, PINGRESP), so a client that
//!    sends without reading cannot grow the broker either.
//! 5. Drain [`Broker::poll_close`]: flush (for at most
//!    [`CLOSE_GRACE_MS`]), shut the socket down, call
//!    [`Broker::connection_closed`] (which may publish a will: back to 4).
//!
//! The driver decides nothing about MQTT: everything protocol, session,
//! routing and limits is the engine's.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant as RealInstant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use mqtt_core::broker::{Acl, Broker, BrokerOptions, ConnectionId, PasswordTable};

/// The listening socket's token; a connection's token is its engine id.
const LISTENER: Token = Token(usize::MAX);
/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Reads of one socket per turn of the loop.
const READS_PER_TURN: usize = 4;
/// How long a connection the engine closes may take to flush its last
/// bytes.
const CLOSE_GRACE_MS: u64 = 5_000;

/// The driver's clock. The core never reads one (the workspace's clippy
/// configuration bans `Instant::now`): drivers own the time and pass it in.
#[allow(clippy::disallowed_methods)]
fn real_now() -> RealInstant {
    RealInstant::now()
}

struct Args {
    host: String,
    port: u16,
    password_file: Option<String>,
    allow_anonymous: bool,
    acl_file: Option<String>,
    max_connections: usize,
    verbose: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        password_file: None,
        allow_anonymous: false,
        acl_file: None,
        max_connections: 10_000,
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => a.host = value()?,
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--password-file" => a.password_file = Some(value()?),
            "--allow-anonymous" => a.allow_anonymous = true,
            "--acl-file" => a.acl_file = Some(value()?),
            "--max-connections" => {
                a.max_connections = value()?
                    .parse()
                    .map_err(|e| format!("--max-connections: {e}"))?
            }
            "-v" | "--verbose" => a.verbose = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// The engine's options from the command line.
fn broker_options(args: &Args) -> Result<BrokerOptions, String> {
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"));
    let mut options = BrokerOptions::new();
    if let Some(path) = &args.password_file {
        let table = PasswordTable::parse(&read(path)?).map_err(|e| format!("{path}: {e}"))?;
        options = options.with_passwords(table, args.allow_anonymous);
    }
    if let Some(path) = &args.acl_file {
        let acl = Acl::parse(&read(path)?).map_err(|e| format!("{path}: {e}"))?;
        options = options.with_acl(acl);
    }
    Ok(options)
}

/// One client connection: its socket and what it could not take yet.
struct Conn {
    id: ConnectionId,
    stream: TcpStream,
    /// Bytes not written yet; `pending[sent..]` is what is left.
    pending: Vec<u8>,
    sent: usize,
    /// Whether the socket is registered for writability too.
    watching_writable: bool,
    /// Set when the engine asked to close it: the deadline for flushing.
    closing_by: Option<u64>,
}

/// Why a connection ends, for the log.
enum End {
    Eof,
    Error(std::io::Error),
    Engine,
    FlushTimeout,
}

struct Server {
    broker: Broker,
    poll: Poll,
    listener: TcpListener,
    conns: HashMap<usize, Conn>,
    /// Sockets that may have more to read (read budget used up).
    unread: Vec<usize>,
    /// Connections the engine closed that are still flushing.
    closing: Vec<usize>,
    origin: RealInstant,
    buf: Vec<u8>,
    max_connections: usize,
    verbose: bool,
}

impl Server {
    /// Milliseconds since the start: the time the engine is given.
    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn run(&mut self) -> std::io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = self.now();
            let timeout = if !self.unread.is_empty() {
                Some(Duration::ZERO)
            } else {
                let closing = self.closing.iter().filter_map(|k| self.conns.get(k));
                let deadlines = closing.filter_map(|c| c.closing_by);
                deadlines
                    .chain(self.broker.poll_timeout())
                    .min()
                    .map(|t| Duration::from_millis(t.saturating_sub(now)))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut readable = std::mem::take(&mut self.unread);
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
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
            // In the order the bytes arrived (epoll reports ready sockets
            // first come, first served; those left unread last round go
            // first): serving by connection number instead let an older
            // client's PUBLISH overtake a newer client's SUBSCRIBE sent
            // before it. A socket named twice is read once, at its first
            // place.
            let mut seen = std::collections::HashSet::with_capacity(readable.len());
            readable.retain(|key| seen.insert(*key));
            for key in readable {
                self.read(key);
            }
            let now = self.now();
            if self.broker.poll_timeout().is_some_and(|t| t <= now) {
                self.broker.handle_timeout(now);
            }
            self.transmit();
        }
    }

    /// Accepts every waiting connection.
    fn accept(&mut self) {
        loop {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors, for example: try again when
                    // the next client knocks.
                    eprintln!("accept: {e}");
                    return;
                }
            };
            if self.conns.len() >= self.max_connections {
                if self.verbose {
                    eprintln!("refused {peer}: --max-connections reached");
                }
                continue; // dropping the stream closes it
            }
            let _ = stream.set_nodelay(true);
            let id = self.broker.connection_opened(self.now());
            let key = id.get() as usize;
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut stream, Token(key), Interest::READABLE)
            {
                eprintln!("register {peer}: {e}");
                self.broker.connection_closed(id, self.now());
                continue;
            }
            if self.verbose {
                eprintln!("connection {} from {peer}", id.get());
            }
            self.conns.insert(
                key,
                Conn {
                    id,
                    stream,
                    pending: Vec::new(),
                    sent: 0,
                    watching_writable: false,
                    closing_by: None,
                },
            );
            // Readiness is edge-triggered: bytes that came with the
            // connection are read now.
            self.unread.push(key);
        }
    }

    /// Reads what `key`'s socket has (up to the per-turn budget) into the
    /// engine.
    fn read(&mut self, key: usize) {
        for _ in 0..READS_PER_TURN {
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
            match conn.stream.read(&mut self.buf) {
                Ok(0) => return self.end(key, End::Eof),
                Ok(n) => {
                    let (id, now) = (conn.id, self.now());
                    self.broker.handle_input(id, now, &self.buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.end(key, End::Error(e)),
            }
        }
        self.unread.push(key);
    }

    /// Hands the engine's output to the sockets and carries out its
    /// closes, until it has nothing more (a close can publish a will).
    fn transmit(&mut self) {
        loop {
            let mut idle = true;
            while let Some((id, bytes)) = self.broker.poll_output() {
                idle = false;
                self.send(id.get() as usize, &bytes);
            }
            while let Some(id) = self.broker.poll_close() {
                idle = false;
                let key = id.get() as usize;
                let deadline = self.now() + CLOSE_GRACE_MS;
                if let Some(conn) = self.conns.get_mut(&key) {
                    conn.closing_by = Some(deadline);
                    if conn.sent == conn.pending.len() {
                        self.end(key, End::Engine);
                    } else {
                        self.closing.push(key);
                    }
                }
            }
            // Connections still flushing after their grace period.
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
                return;
            }
        }
    }

    /// Writes `bytes` to `key`'s socket, or queues them behind what is
    /// already waiting.
    fn send(&mut self, key: usize, bytes: &[u8]) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let mut written = 0;
        if conn.sent == conn.pending.len() {
            // Nothing waiting: write directly, one call for all of it.
            while written < bytes.len() {
                match conn.stream.write(&bytes[written..]) {
                    Ok(0) => return self.end(key, End::Error(ErrorKind::WriteZero.into())),
                    Ok(n) => written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return self.end(key, End::Error(e)),
                }
            }
            conn.pending.clear();
            conn.sent = 0;
        }
        if written == bytes.len() {
            return;
        }
        // The engine keeps the rest until the socket takes these.
        let now = self.origin.elapsed().as_millis() as u64;
        self.broker.set_writable(conn.id, now, false);
        if conn.sent > conn.pending.len() / 2 {
            // Drop what was sent, so the buffer holds only what was not.
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
                Ok(n) => conn.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.end(key, End::Error(e)),
            }
        }
        conn.pending.clear();
        conn.sent = 0;
        if conn.pending.capacity() > 16 * READ_CHUNK {
            conn.pending = Vec::new(); // give a large buffer back
        }
        if conn.closing_by.is_some() {
            return self.end(key, End::Engine);
        }
        // What the engine kept comes in the next `transmit`; what the
        // client sent meanwhile is read now.
        let now = self.origin.elapsed().as_millis() as u64;
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
        // Asked now (a connection keeps no copy: it costs 32 bytes each).
        let peer = self.verbose.then(|| conn.stream.peer_addr());
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let _ = conn.stream.shutdown(Shutdown::Both);
        self.broker.connection_closed(conn.id, self.now());
        // A hash map never shrinks by itself: after a crowd has left, give
        // the room back (at most once per halving, so it costs little).
        if self.conns.capacity() > 1024 && self.conns.len() < self.conns.capacity() / 4 {
            self.conns.shrink_to(self.conns.len() * 2);
        }
        if self.verbose {
            let why = match why {
                End::Eof => "closed by the client".to_string(),
                End::Error(e) => format!("error: {e}"),
                End::Engine => "closed by the broker".to_string(),
                End::FlushTimeout => "last bytes not taken in time".to_string(),
            };
            let peer = match peer {
                Some(Ok(a)) => a.to_string(),
                _ => "?".to_string(),
            };
            eprintln!("connection {key} from {peer} ended: {why}");
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let options = broker_options(&args)?;
    let addr = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", args.host))?
        .next()
        .ok_or(format!("{}: no address", args.host))?;
    let mut listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| format!("register: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {bound}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;

    let mut server = Server {
        broker: Broker::new(options),
        poll,
        listener,
        conns: HashMap::new(),
        unread: Vec::new(),
        closing: Vec::new(),
        origin: real_now(),
        buf: vec![0; READ_CHUNK],
        max_connections: args.max_connections,
        verbose: args.verbose,
    };
    server.run().map_err(|e| format!("poll: {e}"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("error: {why}");
            }
            eprintln!(
                "usage: broker [--host H] [--port P] [--password-file F [--allow-anonymous]] \
                 [--acl-file F] [--max-connections N] [-v]"
            );
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}
