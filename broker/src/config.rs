//! The configuration: mosquitto's `mosquitto.conf` format, read into a
//! [`Config`].
//!
//! A file written for mosquitto works unchanged for every key this broker
//! supports; a key it does not support (or does not know) is an error that
//! names the key, the file and the line, never silently ignored.

use std::path::PathBuf;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from (`None`: the defaults, no `-c`).
    pub path: Option<PathBuf>,
    /// `per_listener_settings`: security settings apply to the listener they
    /// follow instead of to the whole broker.
    pub per_listener_settings: bool,
    /// The listeners, in file order. Without any `listener` (and no `port`),
    /// mosquitto 2's "local only" mode: one MQTT listener on 127.0.0.1 and ::1
    /// port 1883 with anonymous access.
    pub listeners: Vec<Listener>,
    /// Security for the whole broker (used when `per_listener_settings` is
    /// false; when true, each listener has its own and this holds the
    /// settings given before the first listener).
    pub security: Security,
    /// The engine's knobs.
    pub limits: Limits,
    /// `sys_interval`: seconds between `$SYS` updates (0: no `$SYS`).
    /// mosquitto's default 10.
    pub sys_interval: u64,
    /// Logging.
    pub log: Log,
    /// `pid_file`, if given.
    pub pid_file: Option<PathBuf>,
}

/// One `listener` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// The port (0: any free port, printed at start).
    pub port: u16,
    /// `bind_address` or the address on the `listener` line (None: all).
    pub bind_address: Option<String>,
    /// `protocol`.
    pub protocol: Protocol,
    /// TLS, when `certfile` and `keyfile` are given.
    pub tls: Option<Tls>,
    /// `max_connections` (None: unlimited, mosquitto's -1).
    pub max_connections: Option<usize>,
    /// This listener's security (only with `per_listener_settings true`).
    pub security: Option<Security>,
    /// The line of the `listener` key, for messages.
    pub line: usize,
}

/// `protocol` of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `mqtt` (the default).
    Mqtt,
    /// `websockets`.
    WebSockets,
}

/// A listener's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// `cafile`: CA certificates (PEM) that client certificates must chain to.
    pub cafile: Option<PathBuf>,
    /// `capath`: a directory of CA certificates (PEM files).
    pub capath: Option<PathBuf>,
    /// `certfile`: the server's certificate chain (PEM).
    pub certfile: PathBuf,
    /// `keyfile`: the server's private key (PEM).
    pub keyfile: PathBuf,
    /// `require_certificate`: clients must present a certificate.
    pub require_certificate: bool,
    /// `use_identity_as_username`: the client certificate's Common Name is
    /// the username (no password check).
    pub use_identity_as_username: bool,
    /// `tls_version`: the lowest version allowed (`tlsv1.2`, `tlsv1.3`).
    pub min_version: TlsVersion,
}

/// A TLS protocol version rustls can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 (and 1.3).
    V1_2,
    /// TLS 1.3 only.
    V1_3,
}

/// Authentication and authorization settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Security {
    /// `allow_anonymous` (None: not given; the default depends on whether
    /// listeners were configured, as in mosquitto 2).
    pub allow_anonymous: Option<bool>,
    /// `password_file`.
    pub password_file: Option<PathBuf>,
    /// `acl_file`.
    pub acl_file: Option<PathBuf>,
    /// `allow_zero_length_clientid` (None: default true).
    pub allow_zero_length_clientid: Option<bool>,
}

/// The engine's knobs, by their mosquitto names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `max_inflight_messages` (0: no limit other than the client's
    /// Receive Maximum). mosquitto's default 20.
    pub max_inflight_messages: u16,
    /// `max_queued_messages`: per client, beyond the inflight window
    /// (0: no limit). mosquitto's default 1000.
    pub max_queued_messages: usize,
    /// `max_queued_bytes` (0: no limit).
    pub max_queued_bytes: usize,
    /// `message_size_limit`: largest payload accepted (0: no limit beyond
    /// `max_packet_size`).
    pub message_size_limit: u32,
    /// `max_packet_size`: largest packet accepted, announced in CONNACK.
    pub max_packet_size: u32,
    /// `max_keepalive`: the largest keep alive allowed (5.0: Server Keep
    /// Alive; 3.1.1 clients asking more are refused). mosquitto's default 65535.
    pub max_keepalive: u16,
    /// `max_qos` (0, 1 or 2).
    pub max_qos: u8,
    /// `retain_available`.
    pub retain_available: bool,
    /// `persistent_client_expiration` in seconds (None: never).
    pub persistent_client_expiration: Option<u64>,
    /// `max_topic_alias` (mosquitto's name): Topic Alias Maximum announced
    /// to 5.0 clients. mosquitto's default 10.
    pub max_topic_alias: u16,
    /// `max_receive_maximum`... see mosquitto's `max_inflight_messages`;
    /// the broker's Receive Maximum announced to 5.0 clients (inbound QoS
    /// 1/2 in flight). Default 65535.
    pub receive_maximum: u16,
}

/// `log_dest`, `log_type`, `connection_messages`, `log_timestamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// Where log lines go (`log_dest stderr|stdout|file PATH|none`);
    /// several allowed. Default stderr.
    pub dests: Vec<LogDest>,
    /// Which kinds are logged (`log_type error|warning|notice|information|
    /// subscribe|unsubscribe|debug|all|none`). Default error, warning,
    /// notice, information.
    pub types: LogTypes,
    /// `connection_messages` (default true).
    pub connection_messages: bool,
    /// `log_timestamp` (default true).
    pub timestamp: bool,
}

/// A `log_dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    /// `stderr`.
    Stderr,
    /// `stdout`.
    Stdout,
    /// `file PATH`.
    File(PathBuf),
}

/// The `log_type`s enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogTypes {
    /// `error`.
    pub error: bool,
    /// `warning`.
    pub warning: bool,
    /// `notice`.
    pub notice: bool,
    /// `information`.
    pub information: bool,
    /// `subscribe`.
    pub subscribe: bool,
    /// `unsubscribe`.
    pub unsubscribe: bool,
    /// `debug`.
    pub debug: bool,
}

// TEMPORARY stubs until the parser lands.
impl Config {
    /// Reads a file.
    pub fn load(_path: &std::path::Path) -> Result<Config, String> {
        Err("not yet".into())
    }
    /// Local only.
    pub fn local_only() -> Config {
        Config {
            path: None,
            per_listener_settings: false,
            listeners: vec![Listener {
                port: 1883,
                bind_address: Some("127.0.0.1".into()),
                protocol: Protocol::Mqtt,
                tls: None,
                max_connections: None,
                security: None,
                line: 0,
            }],
            security: Security {
                allow_anonymous: Some(true),
                ..Security::default()
            },
            limits: Limits {
                max_inflight_messages: 20,
                max_queued_messages: 1000,
                max_queued_bytes: 0,
                message_size_limit: 0,
                max_packet_size: 0,
                max_keepalive: 65535,
                max_qos: 2,
                retain_available: true,
                persistent_client_expiration: None,
                max_topic_alias: 10,
                receive_maximum: 65535,
            },
            sys_interval: 10,
            log: Log {
                dests: vec![LogDest::Stderr],
                types: LogTypes {
                    error: true,
                    warning: true,
                    notice: true,
                    information: true,
                    subscribe: false,
                    unsubscribe: false,
                    debug: false,
                },
                connection_messages: true,
                timestamp: true,
            },
            pid_file: None,
        }
    }
    /// -p.
    pub fn with_port_override(&mut self, port: u16) {
        self.listeners[0].port = port;
    }
}
