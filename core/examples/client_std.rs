//! A blocking MQTT client over `std::net`, in one file: the sans-IO
//! [`Client`] plus a socket and a clock. It connects, subscribes to a
//! topic, publishes one message to it and prints what comes back.
//!
//! ```text
//! cargo run -p mqtt-core --example client_std -- \
//!     --host 127.0.0.1 --port 1883 --topic t --qos 1 --version 5
//! ```
//!
//! Options: `--host`, `--port`, `--topic`, `--qos 0|1|2`, `--version 3|5`
//! (3 means 3.1.1), `--message TEXT`, `--client-id ID`, `--timeout SECONDS`.
//!
//! The loop every driver runs: after each input or command, write what
//! `take_transmit` gives, handle what `poll_event` gives, then read from
//! the socket until the deadline `poll_timeout` gives, calling
//! `handle_timeout` when it passes.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant as RealInstant};

use mqtt_core::client::{Client, ClientOptions, Event};
use mqtt_core::codec::{Disconnect, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe};

/// The driver's clock. The core never reads one (the workspace's clippy
/// configuration bans `Instant::now`): drivers own the time and pass it in
/// as milliseconds since any origin, here the program's start.
#[allow(clippy::disallowed_methods)]
fn real_now() -> RealInstant {
    RealInstant::now()
}

struct Args {
    host: String,
    port: u16,
    topic: String,
    qos: QoS,
    version: ProtocolVersion,
    message: String,
    client_id: String,
    timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        topic: "libmqtt/example".into(),
        qos: QoS::AtLeastOnce,
        version: ProtocolVersion::V5,
        message: "hello from libmqtt".into(),
        client_id: format!("libmqtt-example-{}", std::process::id()),
        timeout: Duration::from_secs(10),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => a.host = value()?,
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--topic" => a.topic = value()?,
            "--qos" => {
                a.qos = match value()?.as_str() {
                    "0" => QoS::AtMostOnce,
                    "1" => QoS::AtLeastOnce,
                    "2" => QoS::ExactlyOnce,
                    other => return Err(format!("--qos: {other} is not 0, 1 or 2")),
                }
            }
            "--version" => {
                a.version = match value()?.as_str() {
                    "3" | "4" | "311" | "3.1.1" => ProtocolVersion::V311,
                    "5" | "5.0" => ProtocolVersion::V5,
                    other => return Err(format!("--version: {other} is not 3 or 5")),
                }
            }
            "--message" => a.message = value()?,
            "--client-id" => a.client_id = value()?,
            "--timeout" => {
                let secs: u64 = value()?.parse().map_err(|e| format!("--timeout: {e}"))?;
                a.timeout = Duration::from_secs(secs);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// The client, its socket and its clock.
struct Driver {
    client: Client,
    stream: TcpStream,
    origin: RealInstant,
    buf: Vec<u8>,
}

impl Driver {
    /// Milliseconds since the start: the time the client is given.
    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Writes everything the client has to send.
    fn flush(&mut self) -> std::io::Result<()> {
        loop {
            let bytes = self.client.take_transmit();
            if bytes.is_empty() {
                return Ok(());
            }
            self.stream.write_all(&bytes)?;
        }
    }

    /// Runs the loop until an event `done` accepts, printing every event;
    /// an error when `deadline` passes or the connection ends first.
    fn run_until(
        &mut self,
        deadline: RealInstant,
        mut done: impl FnMut(&Event) -> bool,
    ) -> Result<Event, String> {
        loop {
            self.flush().map_err(|e| format!("write: {e}"))?;
            while let Some(event) = self.client.poll_event() {
                print_event(&event);
                if done(&event) {
                    return Ok(event);
                }
                if let Event::Disconnected(reason) = &event {
                    let _ = self.flush();
                    return Err(format!("disconnected: {reason:?}"));
                }
            }
            let now = real_now();
            if now >= deadline {
                return Err("timed out".into());
            }
            // Read until the client's next deadline or ours.
            let mut wake = deadline;
            if let Some(t) = self.client.poll_timeout() {
                wake = wake.min(self.origin + Duration::from_millis(t));
            }
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            self.stream
                .set_read_timeout(Some(wait))
                .map_err(|e| e.to_string())?;
            match self.stream.read(&mut self.buf) {
                Ok(0) => self.client.handle_transport_closed(self.now()),
                Ok(n) => {
                    let now = self.now();
                    self.client.handle_input(now, &self.buf[..n]);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.client.handle_transport_closed(self.now()),
            }
            let now = self.now();
            if self.client.poll_timeout().is_some_and(|t| t <= now) {
                self.client.handle_timeout(now);
            }
        }
    }
}

fn print_event(event: &Event) {
    match event {
        Event::Connected(c) => println!(
            "connected as {} (session present: {}, keep alive {} s)",
            c.client_id, c.session_present, c.keep_alive
        ),
        Event::Subscribed { reason_codes, .. } => println!("subscribed: {reason_codes:?}"),
        Event::PublishCompleted {
            id, reason_code, ..
        } => println!("publish {} completed: {reason_code}", id.0),
        Event::Message(m) => {
            let p = &m.publish;
            println!(
                "received on {} (QoS {}, retain {}): {}",
                p.topic,
                p.qos as u8,
                p.retain,
                String::from_utf8_lossy(&p.payload)
            );
        }
        other => println!("{other:?}"),
    }
}

fn run(args: Args) -> Result<(), String> {
    let addr = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", args.host))?
        .next()
        .ok_or(format!("{}: no address", args.host))?;
    let stream = TcpStream::connect_timeout(&addr, args.timeout)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    println!("TCP connected to {addr}");

    let options = ClientOptions::new(args.version, &args.client_id)
        .map_err(|e| format!("client id: {e}"))?
        .with_keep_alive(30);
    let mut d = Driver {
        client: Client::new(options),
        stream,
        origin: real_now(),
        buf: vec![0; 64 * 1024],
    };
    let deadline = real_now() + args.timeout;

    d.client.connect(d.now()).map_err(|e| e.to_string())?;
    d.run_until(deadline, |e| matches!(e, Event::Connected(_)))?;

    let subscribe = Subscribe::single(0, &args.topic, args.qos).map_err(|e| e.to_string())?;
    let sub_id = d
        .client
        .subscribe(d.now(), subscribe)
        .map_err(|e| e.to_string())?;
    d.run_until(
        deadline,
        |e| matches!(e, Event::Subscribed { packet_id, .. } if *packet_id == sub_id),
    )?;

    let publish = Publish::new(&args.topic, args.message.clone().into_bytes())
        .map_err(|e| e.to_string())?
        .with_qos(args.qos, 0);
    let id = d
        .client
        .publish(d.now(), publish)
        .map_err(|e| e.to_string())?;
    println!(
        "published {} bytes to {} (id {})",
        args.message.len(),
        args.topic,
        id.0
    );

    // Our message comes back (we are subscribed), and for QoS 1 and 2 the
    // broker acknowledges it; wait for both.
    let mut echoed = false;
    let mut completed = args.qos == QoS::AtMostOnce;
    let message = args.message.as_bytes();
    while !(echoed && completed) {
        match d.run_until(deadline, |e| {
            matches!(e, Event::Message(m) if &m.publish.payload[..] == message)
                || matches!(e, Event::PublishCompleted { id: i, .. } if *i == id)
        })? {
            Event::Message(_) => echoed = true,
            _ => completed = true,
        }
    }

    d.client
        .disconnect(d.now(), Disconnect::new(ReasonCode::Success))
        .map_err(|e| e.to_string())?;
    d.flush().map_err(|e| format!("write: {e}"))?;
    println!("disconnected");
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("error: {why}");
            }
            eprintln!(
                "usage: client_std [--host H] [--port P] [--topic T] [--qos 0|1|2] \
                 [--version 3|5] [--message TEXT] [--client-id ID] [--timeout SECONDS]"
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
