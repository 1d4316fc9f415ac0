//! `tokio_clients`: one run of the tokio client benchmark (issue 15):
//! `mqtt-tokio` (this repository's `tokio/`) or rumqttc 0.25's
//! `AsyncClient`, P publishers and S subscribers in this process, through a
//! broker on 127.0.0.1. `run-tokio.sh` / `tokio-clients.py` run it many
//! times (one process per run, so each client implementation's CPU and
//! allocations are its own) and write the table.
//!
//! Load: publisher `p` publishes N messages (64-byte payload by default,
//! starting with `p` and the sequence number) to `bench/{p}`; every
//! subscriber subscribes to `bench/+` at the same QoS, so each receives
//! P × N messages and the run delivers S × P × N. MQTT 3.1.1 for both
//! clients (rumqttc's main API is 3.1.1).
//!
//! Both clients keep the same window of messages in flight (`--window`,
//! default 100) and run on the same tokio runtime (multi-threaded, one
//! worker per CPU unless `--threads`):
//!
//! * mqtt-tokio: `ClientOptions::with_max_inflight(window)`, and the
//!   publisher keeps `window` + 10 `Client::publish` futures going at once
//!   (`buffer_unordered`; the 10 beyond the window wait in the core's
//!   queue, as rumqttc's 10 wait in its request channel): each resolves at
//!   PUBACK / PUBCOMP (QoS 0: once queued). The subscriber reads
//!   `Client::messages()`.
//! * rumqttc: `MqttOptions::set_inflight(window)`, `AsyncClient::new(options,
//!   10)` (the request channel capacity of its examples), the `EventLoop`
//!   polled in its own task; the publisher task awaits
//!   `AsyncClient::publish` in a loop and the event loop counts PUBACK /
//!   PUBCOMP (QoS 0: `Outgoing::Publish`, i.e. written). The subscriber
//!   counts `Incoming(Publish)` in its event loop task (acks are automatic).
//!
//! Measured between the start signal (all clients connected, all
//! subscriptions acknowledged, publishers released together) and the end
//! (every subscriber has every message, or was idle for `--idle-ms`, and
//! every publisher has its acknowledgements): process CPU time (user and
//! system, every thread, `getrusage(RUSAGE_SELF)`), heap allocations (a
//! counting global allocator), and the time from the start signal to the
//! last message delivered to any subscriber. Every delivery is checked
//! against a per-(subscriber, publisher) table of sequence numbers: lost
//! messages and duplicates are counted.
//!
//! Prints one JSON object on stdout. Exit status: 0 when the run ended
//! (losses are reported, not an error), 2 on the overall timeout, 1 on any
//! other error.
//!
//! ```text
//! tokio_clients --client mqtt-tokio|rumqttc --port N [--host 127.0.0.1]
//!   [--qos 0|1|2] [--publishers 1] [--subscribers 1] [--messages 100000]
//!   [--window 100] [--payload 64] [--threads N] [--idle-ms 3000]
//!   [--timeout 300] [--rumqttc-nodelay]
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{oneshot, watch};

// ----- counting allocator --------------------------------------------------

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// User and system CPU seconds of this process (every thread).
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

/// Voluntary and involuntary context switches of this process.
fn context_switches() -> (i64, i64) {
    // SAFETY: as above.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    (ru.ru_nvcsw as i64, ru.ru_nivcsw as i64)
}

/// The wall clock; the core never reads one (the workspace bans
/// `Instant::now` in it), drivers and this benchmark do.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

// ----- arguments -------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    MqttTokio,
    Rumqttc,
}

#[derive(Debug, Clone)]
struct Args {
    client: Impl,
    host: String,
    port: u16,
    qos: u8,
    publishers: usize,
    subscribers: usize,
    messages: usize,
    window: u16,
    payload: usize,
    threads: usize,
    idle: Duration,
    timeout: Duration,
    rumqttc_nodelay: bool,
}

const USAGE: &str = "usage: tokio_clients --client mqtt-tokio|rumqttc --port N [--host H] \
[--qos 0|1|2] [--publishers 1] [--subscribers 1] [--messages 100000] [--window 100] \
[--payload 64] [--threads N] [--idle-ms 3000] [--timeout 300] [--rumqttc-nodelay]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        client: Impl::MqttTokio,
        host: "127.0.0.1".into(),
        port: 0,
        qos: 1,
        publishers: 1,
        subscribers: 1,
        messages: 100_000,
        window: 100,
        payload: 64,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        idle: Duration::from_millis(3000),
        timeout: Duration::from_secs(300),
        rumqttc_nodelay: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("{flag}: not a number: {v}"))
        }
        match flag.as_str() {
            "--client" => {
                a.client = match value()?.as_str() {
                    "mqtt-tokio" => Impl::MqttTokio,
                    "rumqttc" => Impl::Rumqttc,
                    other => return Err(format!("--client: {other}")),
                }
            }
            "--host" => a.host = value()?,
            "--port" => a.port = num(&flag, value()?)?,
            "--qos" => a.qos = num(&flag, value()?)?,
            "--publishers" => a.publishers = num(&flag, value()?)?,
            "--subscribers" => a.subscribers = num(&flag, value()?)?,
            "--messages" => a.messages = num(&flag, value()?)?,
            "--window" => a.window = num(&flag, value()?)?,
            "--payload" => a.payload = num(&flag, value()?)?,
            "--threads" => a.threads = num(&flag, value()?)?,
            "--idle-ms" => a.idle = Duration::from_millis(num(&flag, value()?)?),
            "--timeout" => a.timeout = Duration::from_secs(num(&flag, value()?)?),
            "--rumqttc-nodelay" => a.rumqttc_nodelay = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if a.port == 0 || a.qos > 2 || a.publishers == 0 || a.window == 0 || a.payload < 8 {
        return Err(USAGE.into());
    }
    Ok(a)
}

// ----- bookkeeping -----------------------------------------------------------

/// The payload of message `seq` of publisher `p`: both as little-endian
/// u32, then filler.
fn payload(p: usize, seq: usize, len: usize) -> Vec<u8> {
    let mut v = vec![0x5a; len];
    v[..4].copy_from_slice(&(p as u32).to_le_bytes());
    v[4..8].copy_from_slice(&(seq as u32).to_le_bytes());
    v
}

/// What one subscriber saw.
#[derive(Debug, Default)]
struct Received {
    /// Distinct messages.
    unique: usize,
    /// Deliveries of a message already seen.
    duplicates: usize,
    /// Payloads that did not name a (publisher, sequence) of this run.
    foreign: usize,
    /// When the last message arrived (within 64 deliveries when the run
    /// ends idle, with messages missing).
    last: Option<Instant>,
}

/// Tracks one subscriber's deliveries against the expected set.
struct Tracker {
    seen: Vec<Vec<bool>>,
    /// Deliveries so far (the clock is read every 64th and at the last,
    /// not on every message: reading it costs as much as a delivery).
    deliveries: u64,
    got: Received,
    expected: usize,
}

impl Tracker {
    fn new(publishers: usize, messages: usize) -> Tracker {
        Tracker {
            seen: vec![vec![false; messages]; publishers],
            deliveries: 0,
            got: Received::default(),
            expected: publishers * messages,
        }
    }

    /// Records one delivery; true once every message has arrived.
    fn record(&mut self, payload: &[u8]) -> bool {
        self.deliveries += 1;
        if self.deliveries.is_multiple_of(64) {
            self.got.last = Some(now());
        }
        let id = payload.get(..8).map(|b| {
            let p = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
            let s = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
            (p, s)
        });
        match id.and_then(|(p, s)| self.seen.get_mut(p).and_then(|v| v.get_mut(s))) {
            Some(seen) if *seen => self.got.duplicates += 1,
            Some(seen) => {
                *seen = true;
                self.got.unique += 1;
            }
            None => self.got.foreign += 1,
        }
        if self.got.unique == self.expected {
            self.got.last = Some(now());
            return true;
        }
        false
    }
}

/// A subscriber task's ending: its counts once done or idle.
type SubDone = oneshot::Receiver<Received>;
/// A publisher's ending: every message acknowledged (or written, QoS 0),
/// or the error that stopped it.
type PubDone = oneshot::Receiver<Result<(), String>>;

/// Waits for the start signal.
async fn started(mut start: watch::Receiver<bool>) {
    let _ = start.wait_for(|s| *s).await;
}

// ----- mqtt-tokio --------------------------------------------------------------

mod ours {
    use super::*;
    use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS};

    fn qos(q: u8) -> QoS {
        match q {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        }
    }

    async fn connect(a: &Args, id: &str) -> Result<mqtt_tokio::Client, String> {
        let opts = ClientOptions::new(ProtocolVersion::V311, id)
            .map_err(|e| e.to_string())?
            .with_keep_alive(60)
            .with_max_inflight(a.window);
        let (client, _) = mqtt_tokio::connect(ConnectOptions::new(a.host.clone(), a.port, opts))
            .await
            .map_err(|e| format!("{id}: connect: {e}"))?;
        Ok(client)
    }

    pub async fn subscriber(
        a: &Args,
        i: usize,
        start: watch::Receiver<bool>,
    ) -> Result<(mqtt_tokio::Client, SubDone), String> {
        let client = connect(a, &format!("bench-sub-{i}")).await?;
        let mut messages = client.messages().ok_or("messages() already taken")?;
        client
            .subscribe("bench/+", qos(a.qos))
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
        let (tx, rx) = oneshot::channel();
        let mut tracker = Tracker::new(a.publishers, a.messages);
        let idle = a.idle;
        tokio::spawn(async move {
            started(start).await;
            while let Ok(Some(m)) = tokio::time::timeout(idle, messages.recv()).await {
                if tracker.record(&m.publish.payload) {
                    break;
                }
            }
            let _ = tx.send(tracker.got);
        });
        Ok((client, rx))
    }

    pub async fn publisher(
        a: &Args,
        p: usize,
        start: watch::Receiver<bool>,
    ) -> Result<(mqtt_tokio::Client, PubDone), String> {
        let client = connect(a, &format!("bench-pub-{p}")).await?;
        let (tx, rx) = oneshot::channel();
        let c = client.clone();
        // The window plus the requests rumqttc's channel holds beyond its
        // window (`REQUEST_CAPACITY`): those wait in the core's queue and go
        // out as soon as an acknowledgement frees the window.
        let (n, len, q, window) = (
            a.messages,
            a.payload,
            qos(a.qos),
            a.window as usize + REQUEST_CAPACITY,
        );
        tokio::spawn(async move {
            started(start).await;
            let topic = format!("bench/{p}");
            let mut errors = futures_util::stream::iter(0..n)
                .map(|seq| c.publish(&topic, q, payload(p, seq, len)))
                .buffer_unordered(window)
                .filter_map(|r| std::future::ready(r.err()));
            let result = match errors.next().await {
                Some(e) => Err(format!("publish: {e}")),
                None => Ok(()),
            };
            let _ = tx.send(result);
        });
        Ok((client, rx))
    }
}

/// Requests a client holds beyond its in-flight window: rumqttc's request
/// channel capacity, and as many `publish` futures more than the window for
/// mqtt-tokio (they wait in the core's queue).
const REQUEST_CAPACITY: usize = 10;

// ----- rumqttc -----------------------------------------------------------------

mod peer {
    use super::*;
    use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};

    fn qos(q: u8) -> QoS {
        match q {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        }
    }

    /// The client and its event loop, polled until CONNACK.
    async fn connect(a: &Args, id: &str) -> Result<(AsyncClient, EventLoop), String> {
        let mut opts = MqttOptions::new(id, a.host.clone(), a.port);
        opts.set_keep_alive(Duration::from_secs(60))
            .set_inflight(a.window)
            .set_clean_session(true);
        let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_CAPACITY);
        if a.rumqttc_nodelay {
            let mut net = eventloop.network_options();
            net.set_tcp_nodelay(true);
            eventloop.set_network_options(net);
        }
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok((client, eventloop)),
                Ok(_) => {}
                Err(e) => return Err(format!("{id}: connect: {e}")),
            }
        }
    }

    pub async fn subscriber(
        a: &Args,
        i: usize,
        start: watch::Receiver<bool>,
    ) -> Result<(AsyncClient, SubDone), String> {
        let (client, mut eventloop) = connect(a, &format!("bench-sub-{i}")).await?;
        client
            .subscribe("bench/+", qos(a.qos))
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => break,
                Ok(_) => {}
                Err(e) => return Err(format!("subscribe: {e}")),
            }
        }
        let (tx, rx) = oneshot::channel();
        let mut tracker = Tracker::new(a.publishers, a.messages);
        let idle = a.idle;
        tokio::spawn(async move {
            started(start).await;
            loop {
                match tokio::time::timeout(idle, eventloop.poll()).await {
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        if tracker.record(&p.payload) {
                            break;
                        }
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) | Err(_) => break,
                }
            }
            let _ = tx.send(tracker.got);
            // Keep the connection served (acks of the last messages) until
            // the process exits.
            while eventloop.poll().await.is_ok() {}
        });
        Ok((client, rx))
    }

    pub async fn publisher(
        a: &Args,
        p: usize,
        start: watch::Receiver<bool>,
    ) -> Result<(AsyncClient, PubDone), String> {
        let (client, mut eventloop) = connect(a, &format!("bench-pub-{p}")).await?;
        let (tx, rx) = oneshot::channel();
        let (n, len, q) = (a.messages, a.payload, qos(a.qos));
        let qos_level = a.qos;
        tokio::spawn(async move {
            let mut done = 0usize;
            let mut tx = Some(tx);
            loop {
                let counted = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => qos_level == 1,
                    Ok(Event::Incoming(Packet::PubComp(_))) => qos_level == 2,
                    Ok(Event::Outgoing(Outgoing::Publish(_))) => qos_level == 0,
                    Ok(_) => false,
                    Err(e) => {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(Err(format!("event loop: {e}")));
                        }
                        break;
                    }
                };
                if counted {
                    done += 1;
                    if done == n {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(Ok(()));
                        }
                    }
                }
            }
        });
        let c = client.clone();
        tokio::spawn(async move {
            started(start).await;
            let topic = format!("bench/{p}");
            for seq in 0..n {
                if c.publish(topic.as_str(), q, false, payload(p, seq, len))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok((client, rx))
    }
}

// ----- the run ---------------------------------------------------------------

async fn run(a: Args) -> Result<String, String> {
    let (start_tx, start_rx) = watch::channel(false);
    // The client handles, kept alive until the run is over.
    let mut handles: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
    let mut subs = Vec::new();
    let mut pubs = Vec::new();
    for i in 0..a.subscribers {
        let (h, done) = match a.client {
            Impl::MqttTokio => {
                let (c, d) = ours::subscriber(&a, i, start_rx.clone()).await?;
                (Box::new(c) as Box<dyn std::any::Any + Send>, d)
            }
            Impl::Rumqttc => {
                let (c, d) = peer::subscriber(&a, i, start_rx.clone()).await?;
                (Box::new(c) as Box<dyn std::any::Any + Send>, d)
            }
        };
        handles.push(h);
        subs.push(done);
    }
    for p in 0..a.publishers {
        let (h, done) = match a.client {
            Impl::MqttTokio => {
                let (c, d) = ours::publisher(&a, p, start_rx.clone()).await?;
                (Box::new(c) as Box<dyn std::any::Any + Send>, d)
            }
            Impl::Rumqttc => {
                let (c, d) = peer::publisher(&a, p, start_rx.clone()).await?;
                (Box::new(c) as Box<dyn std::any::Any + Send>, d)
            }
        };
        handles.push(h);
        pubs.push(done);
    }
    // Let the connections settle before measuring.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (u0, s0) = cpu_times();
    let (vcs0, ivcs0) = context_switches();
    let allocs0 = ALLOCS.load(Ordering::Relaxed);
    let bytes0 = ALLOC_BYTES.load(Ordering::Relaxed);
    let t0 = now();
    start_tx.send_replace(true);

    let mut got = Vec::new();
    for s in subs {
        got.push(s.await.map_err(|_| "a subscriber task ended".to_string())?);
    }
    let mut publish_errors = Vec::new();
    for p in pubs {
        match tokio::time::timeout(a.idle, p).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => publish_errors.push(e),
            Ok(Err(_)) => publish_errors.push("publisher task ended".into()),
            Err(_) => publish_errors.push("publisher not acknowledged in time".into()),
        }
    }
    let (u1, s1) = cpu_times();
    let (vcs1, ivcs1) = context_switches();
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs0;
    let alloc_bytes = ALLOC_BYTES.load(Ordering::Relaxed) - bytes0;
    let end = t0.elapsed();
    drop(handles);

    let last = got.iter().filter_map(|g| g.last).max();
    let elapsed = last.map_or(end, |l| l.duration_since(t0)).as_secs_f64();
    let delivered: usize = got.iter().map(|g| g.unique).sum();
    let duplicates: usize = got.iter().map(|g| g.duplicates).sum();
    let foreign: usize = got.iter().map(|g| g.foreign).sum();
    let expected = a.subscribers * a.publishers * a.messages;
    let json = format!(
        concat!(
            "{{\"client\":\"{}\",\"qos\":{},\"publishers\":{},\"subscribers\":{},",
            "\"messages_per_publisher\":{},\"window\":{},\"payload\":{},\"threads\":{},",
            "\"expected\":{},\"delivered\":{},\"lost\":{},\"duplicates\":{},\"foreign\":{},",
            "\"elapsed_s\":{:.6},\"measured_s\":{:.6},\"cpu_user_s\":{:.6},\"cpu_sys_s\":{:.6},",
            "\"allocs\":{},\"alloc_bytes\":{},\"voluntary_cs\":{},\"involuntary_cs\":{},",
            "\"publish_errors\":{}}}"
        ),
        match a.client {
            Impl::MqttTokio => "mqtt-tokio",
            Impl::Rumqttc => "rumqttc",
        },
        a.qos,
        a.publishers,
        a.subscribers,
        a.messages,
        a.window,
        a.payload,
        a.threads,
        expected,
        delivered,
        expected - delivered.min(expected),
        duplicates,
        foreign,
        elapsed,
        end.as_secs_f64(),
        u1 - u0,
        s1 - s0,
        allocs,
        alloc_bytes,
        vcs1 - vcs0,
        ivcs1 - ivcs0,
        publish_errors.len(),
    );
    for e in &publish_errors {
        eprintln!("publisher: {e}");
    }
    Ok(json)
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let timeout = a.timeout;
    let code = rt.block_on(async move {
        match tokio::time::timeout(timeout, run(a)).await {
            Ok(Ok(json)) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Ok(Err(e)) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
            Err(_) => {
                eprintln!("timeout");
                ExitCode::from(2)
            }
        }
    });
    // Tasks still serving connections are not waited for.
    rt.shutdown_background();
    code
}
