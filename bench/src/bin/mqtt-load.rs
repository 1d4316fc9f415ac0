//! `mqtt-load`: an end-to-end MQTT load generator for broker benchmarks.
//!
//! P publishers and S subscribers, one OS thread and one blocking
//! `std::net::TcpStream` each, every one driven by libmqtt's sans-IO
//! `Client`. Publisher `p` publishes N messages to `bench/{p}`; every
//! subscriber subscribes to `bench/+`, so it should receive P × N messages.
//! QoS 0 publishers write as fast as the socket takes; QoS 1 publishers keep
//! a window of messages in flight (`--inflight`, bounded by the broker's
//! Receive Maximum in 5.0) and refill it on each PUBACK.
//!
//! Measured: the wall time from the start signal (all subscriptions
//! acknowledged, publishers released together) to the last message
//! received by any subscriber, and from it messages received per second
//! (all subscribers together) and messages published per second. Every
//! payload carries (publisher, sequence number), so duplicates and
//! reordering are counted too. QoS 0 loss is allowed and reported.
//!
//! ```text
//! mqtt-load --port 1883 [--host 127.0.0.1] [--publishers 4] [--subscribers 4]
//!           [--messages 20000] [--qos 0|1] [--payload 64] [--version 5|3]
//!           [--inflight 64] [--idle-ms 2000] [--timeout 120] [--json]
//! ```
//!
//! Exit status: 0 when every subscriber got every message (or, at QoS 0,
//! when the run ended normally with losses, which are reported); 2 on the
//! overall timeout; 3 when a QoS 1 message is missing; 1 on any other error.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mqtt_core::client::{Client, ClientOptions, Event};
use mqtt_core::codec::{Disconnect, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe};

#[derive(Debug, Clone)]
struct Args {
    host: String,
    port: u16,
    publishers: usize,
    subscribers: usize,
    messages: usize,
    qos: QoS,
    payload: usize,
    version: ProtocolVersion,
    inflight: u16,
    idle: Duration,
    timeout: Duration,
    json: bool,
}

const USAGE: &str = "usage: mqtt-load --port N [--host H] [--publishers 4] [--subscribers 4] \
[--messages 20000] [--qos 0|1] [--payload 64] [--version 5|3] [--inflight 64] \
[--idle-ms 2000] [--timeout 120] [--json]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 0,
        publishers: 4,
        subscribers: 4,
        messages: 20_000,
        qos: QoS::AtMostOnce,
        payload: 64,
        version: ProtocolVersion::V5,
        inflight: 64,
        idle: Duration::from_millis(2000),
        timeout: Duration::from_secs(120),
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            a.json = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--host" => a.host = v,
            "--port" => a.port = num(&v)? as u16,
            "--publishers" => a.publishers = num(&v)? as usize,
            "--subscribers" => a.subscribers = num(&v)? as usize,
            "--messages" => a.messages = num(&v)? as usize,
            "--qos" => {
                a.qos = match v.as_str() {
                    "0" => QoS::AtMostOnce,
                    "1" => QoS::AtLeastOnce,
                    _ => return Err("--qos: 0 or 1".into()),
                }
            }
            "--payload" => a.payload = num(&v)? as usize,
            "--version" => {
                a.version = match v.as_str() {
                    "3" | "311" | "3.1.1" => ProtocolVersion::V311,
                    "5" | "5.0" => ProtocolVersion::V5,
                    _ => return Err("--version: 3 or 5".into()),
                }
            }
            "--inflight" => a.inflight = num(&v)?.clamp(1, 65_535) as u16,
            "--idle-ms" => a.idle = Duration::from_millis(num(&v)?),
            "--timeout" => a.timeout = Duration::from_secs(num(&v)?),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if a.port == 0 {
        return Err(format!("--port is required\n{USAGE}"));
    }
    if a.payload < 8 {
        return Err("--payload: at least 8 bytes (publisher and sequence number)".into());
    }
    if a.publishers == 0 || a.subscribers == 0 || a.messages == 0 {
        return Err("--publishers, --subscribers and --messages must be positive".into());
    }
    Ok(a)
}

/// The wall clock; the core never reads one (the workspace bans
/// `Instant::now` in it), drivers do.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// One client, its socket and its clock (milliseconds since `origin`).
struct Conn {
    client: Client,
    stream: TcpStream,
    origin: Instant,
    buf: Vec<u8>,
    /// The overall deadline.
    deadline: Instant,
}

impl Conn {
    fn open(a: &Args, client_id: &str, deadline: Instant) -> Result<Conn, String> {
        let stream = TcpStream::connect((a.host.as_str(), a.port))
            .map_err(|e| format!("{client_id}: connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        let options = ClientOptions::new(a.version, client_id)
            .map_err(|e| format!("{client_id}: {e}"))?
            .with_keep_alive(0)
            .with_max_inflight(a.inflight)
            .with_auto_topic_alias(false)
            .with_queue(4096, Default::default());
        let mut c = Conn {
            client: Client::new(options),
            stream,
            origin: now(),
            buf: vec![0; 64 * 1024],
            deadline,
        };
        let t = c.ms();
        c.client
            .connect(t)
            .map_err(|e| format!("{client_id}: {e:?}"))?;
        c.until(|e| matches!(e, Event::Connected(_)))?;
        Ok(c)
    }

    fn ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Writes everything the client has to send.
    fn flush(&mut self) -> Result<(), String> {
        loop {
            let bytes = self.client.take_transmit();
            if bytes.is_empty() {
                return Ok(());
            }
            self.stream
                .write_all(&bytes)
                .map_err(|e| format!("write: {e}"))?;
        }
    }

    /// Reads once (up to the 50 ms read timeout) and feeds the client;
    /// `Ok(false)` when nothing came.
    fn read_once(&mut self) -> Result<bool, String> {
        match self.stream.read(&mut self.buf) {
            Ok(0) => Err("connection closed by the broker".into()),
            Ok(n) => {
                let t = self.ms();
                self.client.handle_input(t, &self.buf[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Runs until an event `done` accepts (other events are dropped).
    fn until(&mut self, mut done: impl FnMut(&Event) -> bool) -> Result<Event, String> {
        loop {
            self.flush()?;
            while let Some(e) = self.client.poll_event() {
                if done(&e) {
                    self.flush()?;
                    return Ok(e);
                }
                if let Event::Disconnected(r) = &e {
                    return Err(format!("disconnected: {r:?}"));
                }
            }
            if now() > self.deadline {
                return Err("timed out".into());
            }
            self.read_once()?;
        }
    }

    fn close(mut self) {
        let t = self.ms();
        let _ = self
            .client
            .disconnect(t, Disconnect::new(ReasonCode::Success));
        let _ = self.flush();
    }
}

/// What one subscriber saw.
#[derive(Debug, Default)]
struct SubResult {
    received: usize,
    /// Messages received twice.
    duplicates: usize,
    /// Messages received after a later one of the same publisher.
    out_of_order: usize,
    bad_payload: usize,
    /// When the last message arrived.
    last: Option<Instant>,
    error: Option<String>,
}

/// What one publisher did.
#[derive(Debug, Default)]
struct PubResult {
    sent: usize,
    acked: usize,
    refused: usize,
    /// When the last message was written (QoS 0) or acknowledged (QoS 1).
    done: Option<Instant>,
    /// The window in use (QoS 1): the smaller of `--inflight` and the
    /// broker's Receive Maximum.
    window: usize,
    error: Option<String>,
}

fn subscriber(
    a: &Args,
    i: usize,
    deadline: Instant,
    ready: mpsc::Sender<Result<(), String>>,
    publishers_done: &AtomicUsize,
) -> SubResult {
    let mut r = SubResult::default();
    let id = format!("load-sub-{}-{i}", std::process::id());
    let mut c = match Conn::open(a, &id, deadline) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e.clone()));
            r.error = Some(e);
            return r;
        }
    };
    let subscribed = Subscribe::single(0, "bench/+", a.qos)
        .map_err(|e| e.to_string())
        .and_then(|s| {
            let t = c.ms();
            c.client.subscribe(t, s).map_err(|e| format!("{e:?}"))
        })
        .and_then(|_| c.until(|e| matches!(e, Event::Subscribed { .. })))
        .and_then(|e| match e {
            Event::Subscribed { reason_codes, .. }
                if reason_codes.iter().all(|c| !c.is_error()) =>
            {
                Ok(())
            }
            other => Err(format!("{id}: subscription refused: {other:?}")),
        });
    if let Err(e) = subscribed {
        let _ = ready.send(Err(e.clone()));
        r.error = Some(e);
        return r;
    }
    let _ = ready.send(Ok(()));

    let expected = a.publishers * a.messages;
    // Per publisher: which sequence numbers arrived, and the highest one.
    let mut seen = vec![vec![false; a.messages]; a.publishers];
    let mut highest: Vec<Option<usize>> = vec![None; a.publishers];
    let mut all_done_at: Option<Instant> = None;
    loop {
        while let Some(e) = c.client.poll_event() {
            match e {
                Event::Message(m) => {
                    r.received += 1;
                    r.last = Some(now());
                    let p = &m.publish.payload;
                    if p.len() != a.payload {
                        r.bad_payload += 1;
                        continue;
                    }
                    let from = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize;
                    let seq = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                    let seq = seq as usize;
                    match seen.get_mut(from).and_then(|v| v.get_mut(seq)) {
                        None => r.bad_payload += 1,
                        Some(true) => r.duplicates += 1,
                        Some(slot) => {
                            *slot = true;
                            // A gap (a lost message) is not a reordering;
                            // one arriving after a later one is.
                            if highest[from].is_some_and(|h| seq < h) {
                                r.out_of_order += 1;
                            }
                            highest[from] = highest[from].max(Some(seq));
                        }
                    }
                }
                Event::Disconnected(reason) => {
                    r.error = Some(format!("{id}: disconnected: {reason:?}"));
                    return r;
                }
                _ => {}
            }
        }
        if let Err(e) = c.flush() {
            r.error = Some(format!("{id}: {e}"));
            return r;
        }
        if r.received >= expected {
            break;
        }
        let t = now();
        if publishers_done.load(Ordering::Acquire) == a.publishers {
            // Every publisher finished: wait for stragglers until the
            // stream has been quiet for `idle`.
            let since = *all_done_at.get_or_insert(t);
            let quiet_from = r.last.map_or(since, |l| l.max(since));
            if t.duration_since(quiet_from) >= a.idle {
                break;
            }
        }
        if t > deadline {
            r.error = Some(format!("{id}: timed out"));
            return r;
        }
        if let Err(e) = c.read_once() {
            r.error = Some(format!("{id}: {e}"));
            return r;
        }
    }
    c.close();
    r
}

fn publisher(a: &Args, p: usize, deadline: Instant, start: &Barrier) -> PubResult {
    let mut r = PubResult::default();
    let id = format!("load-pub-{}-{p}", std::process::id());
    let mut c = match Conn::open(a, &id, deadline) {
        Ok(c) => c,
        Err(e) => {
            start.wait();
            r.error = Some(e);
            return r;
        }
    };
    let topic = format!("bench/{p}");
    let mut payload = vec![0x5Au8; a.payload];
    payload[..4].copy_from_slice(&(p as u32).to_be_bytes());
    let qos1 = a.qos == QoS::AtLeastOnce;
    r.window = if qos1 { c.client.send_quota() } else { 0 };
    start.wait();

    let result = (|| -> Result<(), String> {
        let mut seq = 0usize;
        while seq < a.messages || (qos1 && r.acked + r.refused < a.messages) {
            // Publish what the window (QoS 1) or the batch (QoS 0) allows.
            let mut batch = 0;
            while seq < a.messages
                && (if qos1 {
                    c.client.send_quota() > 0
                } else {
                    batch < 64
                })
            {
                payload[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
                let msg = Publish::new(&topic, Bytes::copy_from_slice(&payload))
                    .map_err(|e| e.to_string())?
                    .with_qos(a.qos, 0);
                let t = c.ms();
                c.client
                    .publish(t, msg)
                    .map_err(|e| format!("publish: {e:?}"))?;
                seq += 1;
                batch += 1;
            }
            r.sent = seq;
            c.flush()?;
            if !qos1 {
                continue;
            }
            if now() > deadline {
                return Err("timed out".into());
            }
            c.read_once()?;
            while let Some(e) = c.client.poll_event() {
                match e {
                    Event::PublishCompleted { reason_code, .. } => {
                        if !reason_code.is_error() {
                            r.acked += 1;
                        } else {
                            r.refused += 1;
                        }
                    }
                    Event::PublishDropped { .. } => r.refused += 1,
                    Event::Disconnected(reason) => return Err(format!("disconnected: {reason:?}")),
                    _ => {}
                }
            }
        }
        Ok(())
    })();
    r.done = Some(now());
    if let Err(e) = result {
        r.error = Some(format!("{id}: {e}"));
        return r;
    }
    c.close();
    r
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let deadline = now() + a.timeout;
    let publishers_done = Arc::new(AtomicUsize::new(0));

    // Subscribers first; publishers start once every subscription is
    // acknowledged.
    let (ready_tx, ready_rx) = mpsc::channel();
    let subs: Vec<_> = (0..a.subscribers)
        .map(|i| {
            let (a, tx, done) = (a.clone(), ready_tx.clone(), publishers_done.clone());
            thread::spawn(move || subscriber(&a, i, deadline, tx, &done))
        })
        .collect();
    drop(ready_tx);
    let mut setup_error = None;
    for _ in 0..a.subscribers {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => setup_error = Some(e),
            Err(_) => setup_error = Some("a subscriber thread ended early".into()),
        }
    }
    if let Some(e) = setup_error {
        // Let the subscribers end on their own (idle) before exiting.
        publishers_done.store(a.publishers, Ordering::Release);
        eprintln!("mqtt-load: {e}");
        return ExitCode::from(1);
    }

    let start = Arc::new(Barrier::new(a.publishers + 1));
    let pubs: Vec<_> = (0..a.publishers)
        .map(|p| {
            let (a, start, done) = (a.clone(), start.clone(), publishers_done.clone());
            thread::spawn(move || {
                let r = publisher(&a, p, deadline, &start);
                done.fetch_add(1, Ordering::AcqRel);
                r
            })
        })
        .collect();
    start.wait();
    let t0 = now();

    let pub_results: Vec<PubResult> = pubs
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|_| PubResult::default()))
        .collect();
    let sub_results: Vec<SubResult> = subs
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|_| SubResult::default()))
        .collect();

    let expected = a.subscribers * a.publishers * a.messages;
    let received: usize = sub_results.iter().map(|r| r.received).sum();
    let duplicates: usize = sub_results.iter().map(|r| r.duplicates).sum();
    let out_of_order: usize = sub_results.iter().map(|r| r.out_of_order).sum();
    let bad: usize = sub_results.iter().map(|r| r.bad_payload).sum();
    let sent: usize = pub_results.iter().map(|r| r.sent).sum();
    let refused: usize = pub_results.iter().map(|r| r.refused).sum();
    let window = pub_results.iter().map(|r| r.window).min().unwrap_or(0);
    let last = sub_results
        .iter()
        .filter_map(|r| r.last)
        .max()
        .unwrap_or(t0);
    let pub_end = pub_results
        .iter()
        .filter_map(|r| r.done)
        .max()
        .unwrap_or(t0);
    let wall = last.duration_since(t0).as_secs_f64().max(1e-9);
    let pub_wall = pub_end.duration_since(t0).as_secs_f64().max(1e-9);
    let errors: Vec<&String> = pub_results
        .iter()
        .filter_map(|r| r.error.as_ref())
        .chain(sub_results.iter().filter_map(|r| r.error.as_ref()))
        .collect();
    let timed_out = errors.iter().any(|e| e.contains("timed out"));
    let lost = expected.saturating_sub(received);

    let qos = a.qos as u8;
    if a.json {
        println!(
            "{{\"qos\":{qos},\"publishers\":{},\"subscribers\":{},\"messages_per_publisher\":{},\
\"payload\":{},\"version\":\"{}\",\"window\":{window},\"published\":{sent},\"refused\":{refused},\
\"expected\":{expected},\"received\":{received},\"lost\":{lost},\"duplicates\":{duplicates},\
\"out_of_order\":{out_of_order},\"bad_payload\":{bad},\"wall_s\":{wall:.6},\"publish_s\":{pub_wall:.6},\
\"received_per_s\":{:.1},\"published_per_s\":{:.1},\"errors\":{}}}",
            a.publishers,
            a.subscribers,
            a.messages,
            a.payload,
            if a.version.is_v5() { "5.0" } else { "3.1.1" },
            received as f64 / wall,
            sent as f64 / pub_wall,
            errors.len()
        );
    } else {
        println!(
            "{} publishers x {} messages -> {} subscribers, QoS {qos}, {}-byte payload, MQTT {}",
            a.publishers,
            a.messages,
            a.subscribers,
            a.payload,
            if a.version.is_v5() { "5.0" } else { "3.1.1" }
        );
        if qos == 1 {
            println!("window per publisher: {window}");
        }
        println!(
            "received {received} of {expected} ({lost} lost, {duplicates} duplicates, \
{out_of_order} out of order) in {wall:.3} s: {:.0} messages/s received",
            received as f64 / wall
        );
        println!(
            "published {sent} in {pub_wall:.3} s: {:.0} messages/s",
            sent as f64 / pub_wall
        );
    }
    for e in &errors {
        eprintln!("mqtt-load: {e}");
    }
    if timed_out {
        ExitCode::from(2)
    } else if !errors.is_empty() || bad > 0 {
        ExitCode::from(1)
    } else if qos == 1 && (lost > 0 || refused > 0) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
