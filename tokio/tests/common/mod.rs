//! Brokers for the tests: Debian's `mosquitto` started on a free port of
//! 127.0.0.1 with a generated configuration (as in
//! `tests/tests/interop_mosquitto.rs`), and our example broker through
//! `mqtt_tests::broker_proc`. Both are killed on drop; a failing test
//! prints their log.

#![allow(dead_code)]

pub mod pki;

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[allow(unused_imports)]
pub use mqtt_tests::broker_proc::ExampleBroker;
use mqtt_tests::broker_proc::{find_program, print_log_tail, read_log, unique_temp_path};

/// How long any one wait of a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A mosquitto process of our own; killed on drop.
pub struct Mosquitto {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    dir: PathBuf,
    persistence: bool,
    tls: Option<TlsListener>,
}

/// A TLS listener's settings (PEM text, written to files in mosquitto's
/// directory): mosquitto's `cafile`, `certfile`, `keyfile`,
/// `require_certificate` and `use_identity_as_username`.
#[derive(Clone)]
pub struct TlsListener {
    /// The CA that client certificates must chain to (`cafile`).
    pub ca_pem: String,
    /// The server's certificate (`certfile`).
    pub cert_pem: String,
    /// The server's private key (`keyfile`).
    pub key_pem: String,
    /// Refuse clients without a certificate signed by the CA.
    pub require_certificate: bool,
    /// The client certificate's Common Name is the user name.
    pub use_identity_as_username: bool,
}

fn mosquitto_binary() -> PathBuf {
    std::env::var_os("MOSQUITTO")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| find_program("mosquitto", &["/usr/sbin", "/usr/local/sbin", "/sbin"]))
        .expect("mosquitto is not installed: `apt-get install mosquitto` (make test's setup does)")
}

impl Mosquitto {
    /// Starts mosquitto on a free port; with `persistence`, its database
    /// is kept in its directory so that a restart (after a stop with
    /// SIGTERM, which writes it) resumes the sessions.
    pub fn start(persistence: bool) -> Mosquitto {
        Self::start_with(persistence, None)
    }

    /// Starts mosquitto with a TLS listener (and no plain one) on a free
    /// port.
    pub fn start_tls(tls: TlsListener) -> Mosquitto {
        Self::start_with(false, Some(tls))
    }

    fn start_with(persistence: bool, tls: Option<TlsListener>) -> Mosquitto {
        let dir = unique_temp_path("libmqtt-tokio-mosquitto", "");
        std::fs::create_dir_all(&dir).expect("temporary directory");
        // mosquitto started as root drops to its own user, which must be
        // able to write the database here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
            .expect("chmod the temporary directory");
        if let Some(tls) = &tls {
            // Readable by the `mosquitto` user too (test keys, no secret).
            for (name, pem) in [
                ("ca.crt", &tls.ca_pem),
                ("server.crt", &tls.cert_pem),
                ("server.key", &tls.key_pem),
            ] {
                let path = dir.join(name);
                std::fs::write(&path, pem).expect("write a TLS file");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                    .expect("chmod a TLS file");
            }
        }
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if let Some(child) = spawn(&dir, addr, persistence, tls.as_ref()) {
                return Mosquitto {
                    child,
                    addr,
                    dir,
                    persistence,
                    tls,
                };
            }
        }
        panic!(
            "mosquitto did not start; log:\n{}",
            read_log(&dir.join("mosquitto.log"))
        );
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops it with SIGTERM (mosquitto writes its database then) and
    /// waits for it to exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..500 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port with the same configuration (and
    /// database); panics if it does not come up.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for _ in 0..50 {
            if let Some(child) = spawn(&self.dir, self.addr, self.persistence, self.tls.as_ref()) {
                self.child = child;
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("mosquitto did not restart; log:\n{}", self.log());
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        read_log(&self.dir.join("mosquitto.log"))
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            print_log_tail("mosquitto", self.addr, &self.log(), 60);
        }
        if std::env::var_os("MOSQUITTO_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts mosquitto with a configuration in `dir` listening on `addr`, and
/// waits (at most 5 s) until it accepts connections; `None` if it exited
/// (e.g. the port was taken) or never did.
fn spawn(
    dir: &std::path::Path,
    addr: SocketAddr,
    persistence: bool,
    tls: Option<&TlsListener>,
) -> Option<Child> {
    let conf = dir.join("mosquitto.conf");
    let mut text = format!(
        "listener {} 127.0.0.1\n\
         allow_anonymous true\n\
         max_queued_messages 10000\n\
         log_dest stderr\n\
         log_type all\n",
        addr.port()
    );
    if let Some(tls) = tls {
        text.push_str(&format!(
            "cafile {dir}/ca.crt\n\
             certfile {dir}/server.crt\n\
             keyfile {dir}/server.key\n\
             require_certificate {}\n\
             use_identity_as_username {}\n",
            tls.require_certificate,
            tls.use_identity_as_username,
            dir = dir.display(),
        ));
    }
    if persistence {
        text.push_str(&format!(
            "persistence true\npersistence_location {}/\n",
            dir.display()
        ));
    } else {
        text.push_str("persistence false\n");
    }
    std::fs::write(&conf, text).expect("write mosquitto.conf");
    let log = File::options()
        .create(true)
        .append(true)
        .open(dir.join("mosquitto.log"))
        .expect("log file");
    let mut child = Command::new(mosquitto_binary())
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start mosquitto");
    for _ in 0..500 {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A TCP proxy on a free port of 127.0.0.1 in front of `upstream`, whose
/// connections the test can cut at any moment (both sides closed at once,
/// no DISCONNECT: an abrupt close for the client and for the broker).
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts the proxy (on the current tokio runtime).
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let cuts = cut.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut cut_rx = cuts.subscribe();
                cut_rx.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, cut, task }
    }

    /// Closes every connection open through the proxy now; new ones are
    /// accepted as before.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

/// One accepted connection of a server scripted packet by packet in a
/// test (5.0 packets through the core's codec).
pub struct Peer {
    s: tokio::net::TcpStream,
    buf: bytes::Bytes,
}

impl Peer {
    /// Accepts the next connection on `l` (within [`WAIT`]).
    pub async fn accept(l: &tokio::net::TcpListener) -> Peer {
        let (s, _) = tokio::time::timeout(WAIT, l.accept())
            .await
            .expect("a connection in time")
            .expect("accept");
        Peer {
            s,
            buf: bytes::Bytes::new(),
        }
    }

    /// The next packet from the client (within [`WAIT`]).
    pub async fn read(&mut self) -> mqtt_tokio::mqtt_core::codec::Packet {
        use mqtt_tokio::mqtt_core::codec::{DecodeOptions, Packet};
        use tokio::io::AsyncReadExt;
        loop {
            let mut b = self.buf.clone();
            let options = DecodeOptions::new(mqtt_tokio::ProtocolVersion::V5);
            if let Some(p) = Packet::decode(&mut b, &options).expect("valid") {
                self.buf = b;
                return p;
            }
            let mut more = vec![0u8; 4096];
            let n = tokio::time::timeout(WAIT, self.s.read(&mut more))
                .await
                .expect("a packet in time")
                .expect("read");
            assert!(n > 0, "the client closed the connection");
            let mut joined = bytes::BytesMut::from(&self.buf[..]);
            joined.extend_from_slice(&more[..n]);
            self.buf = joined.freeze();
        }
    }

    /// Sends `p` to the client.
    pub async fn write(&mut self, p: mqtt_tokio::mqtt_core::codec::Packet) {
        use tokio::io::AsyncWriteExt;
        let mut out = bytes::BytesMut::new();
        p.encode(mqtt_tokio::ProtocolVersion::V5, &mut out)
            .expect("encode");
        self.s.write_all(&out).await.expect("write");
    }
}

/// An example of this crate, built for the test (see
/// `mqtt_tests::broker_proc::example_binary`).
pub fn example(name: &str) -> Command {
    Command::new(mqtt_tests::broker_proc::example_binary("mqtt-tokio", name))
}

#[allow(unused_imports)] // not every test binary runs Python
pub use mqtt_tests::broker_proc::python;
