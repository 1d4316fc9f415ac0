//! The configuration: mosquitto's `mosquitto.conf` format, read into a
//! [`Config`].
//!
//! A file written for mosquitto works unchanged for every key this broker
//! supports; a key it does not support (or does not know) is an error that
//! names the key, the file and the line, never silently ignored.
//!
//! # The format (as mosquitto 2 reads it)
//!
//! One `key value...` per line; blank lines and lines whose first
//! non-blank character is `#` are ignored. Keys and numeric, boolean and
//! enumerated values are single words (anything after them must be a `#`
//! comment); a path or other string value is the whole rest of the line,
//! trimmed, so `password_file /etc/pw # users` names the file
//! `/etc/pw # users`, as in mosquitto. Booleans are `true` or `false`
//! (mosquitto also takes `1` and `0`, and so does this reader). A number
//! outside the range mosquitto accepts is an error naming the key.
//!
//! Relative paths are kept as written and so are relative to the working
//! directory of the broker, as in mosquitto (which opens them as given);
//! that includes `include_dir`, not relative to the file that names it.
//!
//! # Listeners
//!
//! `listener PORT [ADDRESS]` starts a listener block: the listener keys
//! that follow (`protocol`, `cafile`, `capath`, `certfile`, `keyfile`,
//! `require_certificate`, `use_identity_as_username`, `tls_version`,
//! `max_connections`, `max_qos`, `max_topic_alias`, and the security keys
//! when `per_listener_settings` is true) apply to it. Before the first
//! `listener` of a file they apply to mosquitto's deprecated *default
//! listener*, defined by `port` and `bind_address`; it is added after the
//! `listener` blocks, as mosquitto does. mosquitto also creates that
//! default listener, on port 1883 of every interface, when a listener key
//! appears before any `listener` without `port` or `bind_address` (and
//! silently ignores some such keys); this reader refuses that instead.
//!
//! Without any listener, the broker runs in mosquitto 2's *local only*
//! mode ([`Config::local_only`]): one MQTT listener on 127.0.0.1 port 1883
//! where anonymous clients are allowed (unless `allow_anonymous false` is
//! given). `listener 0` (no address, or an IP address) is a libmqtt
//! extension: any free port; mosquitto reads `listener 0 PATH` as a Unix
//! socket, which is refused.
//!
//! # Persistence
//!
//! `persistence true` keeps sessions, subscriptions, queued and in-flight
//! messages, delayed wills and retained messages in the file
//! `persistence_file` (default `libmqtt.db`, not mosquitto's format) in
//! the directory `persistence_location` (as mosquitto: it must exist).
//! `persistence_mode sync|periodic` (ours; default `sync`) chooses when
//! writes are synced: `sync` before anything that follows them is sent,
//! `periodic` every `autosave_interval` seconds (default 1800) and at
//! shutdown. mosquitto's `autosave_on_changes` and `retained_persistence`
//! are refused: every change is written as it happens. See
//! [`Persistence`] and the [`store`](crate::store) module.
//!
//! `max_qos` and `max_topic_alias` are per listener in mosquitto; the
//! engine has one value for the whole broker, so every listener must end
//! with the same value (else an error), which goes to [`Limits`].

use std::cmp::Ordering;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from (`None`: the defaults, no `-c`).
    pub path: Option<PathBuf>,
    /// `per_listener_settings`: security settings apply to the listener they
    /// follow instead of to the whole broker.
    pub per_listener_settings: bool,
    /// The listeners, in file order (the default listener of `port` and
    /// `bind_address`, if any, last). Never empty after [`Config::parse`]:
    /// without any `listener` (and no `port`), mosquitto 2's "local only"
    /// mode (see [`Config::local_only()`]).
    pub listeners: Vec<Listener>,
    /// Whether [`listeners`](Config::listeners) are the local only mode's
    /// (no listener configured): `-p` replaces them
    /// ([`Config::apply_command_line_ports`]).
    pub local_only: bool,
    /// Security for the whole broker (used when `per_listener_settings` is
    /// false; when true, each listener has its own and this holds the
    /// settings given before the first listener, i.e. the default
    /// listener's). After [`Config::parse`], `allow_anonymous` and
    /// `allow_zero_length_clientid` are always `Some`.
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
    /// `set_tcp_nodelay`: set `TCP_NODELAY` on client sockets. Default
    /// true here (mosquitto's is false): the broker writes whole packets,
    /// many at once, so Nagle's algorithm only adds delay (40 ms stalls
    /// with delayed acknowledgements on QoS 1 round trips).
    pub set_tcp_nodelay: bool,
    /// Things accepted but worth telling the user at startup, each as
    /// `FILE:LINE: KEY: message` (e.g. `retry_interval`, which mosquitto 2
    /// also ignores with a warning).
    pub warnings: Vec<String>,
    /// `persistence`, `persistence_location`, `persistence_file`,
    /// `autosave_interval`, `persistence_mode`.
    pub persistence: Persistence,
}

/// The durable store's settings (mosquitto's keys and ours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    /// `persistence`: keep the broker's state in a file across restarts.
    /// Default false (as mosquitto).
    pub enabled: bool,
    /// `persistence_location`: the directory of the store (mosquitto's
    /// meaning; it must exist). None: the current directory.
    pub location: Option<PathBuf>,
    /// `persistence_file`: the store's file name. Default `libmqtt.db`
    /// (not mosquitto's `mosquitto.db`: the formats differ).
    pub file: PathBuf,
    /// `autosave_interval` in seconds: in `periodic` mode, how often what
    /// was written is synced to the disk (0: only at shutdown). Default
    /// 1800 (mosquitto's).
    pub autosave_interval: u64,
    /// `persistence_mode` (ours): when writes are made durable. Default
    /// [`PersistenceMode::Sync`].
    pub mode: PersistenceMode,
}

/// `persistence_mode`: when the store's writes reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PersistenceMode {
    /// `sync`: every change is written and fdatasync'ed before any
    /// acknowledgement or message that follows it is sent (one sync per
    /// turn of the loop, for every change of that turn).
    #[default]
    Sync,
    /// `periodic`: changes are written every turn (a killed process loses
    /// nothing the kernel has) and synced every `autosave_interval` and at
    /// shutdown (a power cut loses at most the interval).
    Periodic,
}

impl Default for Persistence {
    /// Off; `libmqtt.db` in the current directory; 1800 s; `sync`.
    fn default() -> Self {
        Persistence {
            enabled: false,
            location: None,
            file: PathBuf::from("libmqtt.db"),
            autosave_interval: 1800,
            mode: PersistenceMode::Sync,
        }
    }
}

impl Persistence {
    /// The store's path: `persistence_file` in `persistence_location`.
    pub fn path(&self) -> PathBuf {
        match &self.location {
            Some(dir) => dir.join(&self.file),
            None => self.file.clone(),
        }
    }
}

/// One `listener` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// The port (0: any free port, printed at start).
    pub port: u16,
    /// `bind_address` or the address on the `listener` line (None: all).
    /// A host name or an IP address, as written.
    pub bind_address: Option<String>,
    /// `protocol`.
    pub protocol: Protocol,
    /// TLS, when `certfile` and `keyfile` are given.
    pub tls: Option<Tls>,
    /// `max_connections` (None: unlimited, mosquitto's -1).
    pub max_connections: Option<usize>,
    /// This listener's security (only with `per_listener_settings true`;
    /// then `allow_anonymous` and `allow_zero_length_clientid` are `Some`).
    pub security: Option<Security>,
    /// The line of the `listener` key, for messages (of `port` or
    /// `bind_address` for the default listener; 0 for the local only one).
    pub line: usize,
}

/// `protocol` of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `mqtt` (the default).
    #[default]
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
    /// `require_certificate`: clients must present a certificate (then
    /// `cafile` or `capath` is given).
    pub require_certificate: bool,
    /// `use_identity_as_username`: the client certificate's Common Name is
    /// the username (no password check). Only with `require_certificate`.
    pub use_identity_as_username: bool,
    /// `tls_version`: the lowest version allowed (`tlsv1.2`, `tlsv1.3`).
    /// Default TLS 1.2 (mosquitto's default, 1.1, is below what rustls
    /// speaks).
    pub min_version: TlsVersion,
}

/// A TLS protocol version rustls can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2 (and 1.3).
    #[default]
    V1_2,
    /// TLS 1.3 only.
    V1_3,
}

/// Authentication and authorization settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Security {
    /// `allow_anonymous` (None: not given; the default depends on whether
    /// listeners were configured, as in mosquitto 2: true in local only
    /// mode, else false. [`Config::parse`] fills it in).
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
    /// Receive Maximum; mosquitto also reads 65535 and negative values as
    /// 0). mosquitto's default 20.
    pub max_inflight_messages: u16,
    /// `max_queued_messages`: per client, beyond the inflight window
    /// (0: no limit; negative values read as 0). mosquitto's default 1000.
    pub max_queued_messages: usize,
    /// `max_queued_bytes` (0: no limit; negative values read as 0).
    pub max_queued_bytes: usize,
    /// `message_size_limit`: largest payload accepted (0: no limit beyond
    /// `max_packet_size`). At most 268435455.
    pub message_size_limit: u32,
    /// `max_packet_size`: largest packet accepted, announced in CONNACK
    /// (0: not set, mosquitto's default: no limit). 20 to 268435460.
    pub max_packet_size: u32,
    /// `max_keepalive`: the largest keep alive allowed (5.0: Server Keep
    /// Alive; 3.1.1 clients asking more are refused). 10 to 65535.
    /// mosquitto's default 65535.
    pub max_keepalive: u16,
    /// `max_qos` (0, 1 or 2; mosquitto's per-listener key, the same on
    /// every listener). Default 2.
    pub max_qos: u8,
    /// `retain_available`. Default true.
    pub retain_available: bool,
    /// `persistent_client_expiration` in seconds (None: never). Written as
    /// a number and a unit: `s` (mosquitto 2.1), `h`, `d`, `w`, `m` (30
    /// days), `y` (365 days).
    pub persistent_client_expiration: Option<u64>,
    /// `max_topic_alias` (mosquitto's per-listener key, the same on every
    /// listener): Topic Alias Maximum announced to 5.0 clients.
    /// mosquitto's default 10.
    pub max_topic_alias: u16,
    /// The broker's Receive Maximum announced to 5.0 clients (inbound QoS
    /// 1/2 in flight). No key of its own: mosquitto announces
    /// `max_inflight_messages` (when not 0), so this is that value, or
    /// 65535 when `max_inflight_messages` is 0. Default 20.
    pub receive_maximum: u16,
}

/// `log_dest`, `log_type`, `connection_messages`, `log_timestamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// Where log lines go (`log_dest stderr|stdout|file PATH|none`);
    /// several lines add up, `none` clears. Default stderr. Empty: no log.
    pub dests: Vec<LogDest>,
    /// Which kinds are logged (`log_type error|warning|notice|information|
    /// subscribe|unsubscribe|debug|all|none`; several lines add up). Default
    /// error, warning, notice, information.
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

impl LogTypes {
    /// `log_type none`.
    pub const NONE: LogTypes = LogTypes {
        error: false,
        warning: false,
        notice: false,
        information: false,
        subscribe: false,
        unsubscribe: false,
        debug: false,
    };
    /// `log_type all` (and mosquitto's `-v`).
    pub const ALL: LogTypes = LogTypes {
        error: true,
        warning: true,
        notice: true,
        information: true,
        subscribe: true,
        unsubscribe: true,
        debug: true,
    };
    /// mosquitto's default: error, warning, notice, information.
    pub const DEFAULT: LogTypes = LogTypes {
        error: true,
        warning: true,
        notice: true,
        information: true,
        subscribe: false,
        unsubscribe: false,
        debug: false,
    };
}

impl Default for LogTypes {
    fn default() -> Self {
        LogTypes::DEFAULT
    }
}

impl Default for Log {
    /// stderr; error, warning, notice, information; connection messages
    /// and timestamps on (mosquitto's defaults).
    fn default() -> Self {
        Log {
            dests: vec![LogDest::Stderr],
            types: LogTypes::DEFAULT,
            connection_messages: true,
            timestamp: true,
        }
    }
}

impl Default for Limits {
    /// mosquitto 2's defaults (see each field).
    fn default() -> Self {
        Limits {
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
            receive_maximum: 20,
        }
    }
}

impl Listener {
    /// A plain MQTT listener with mosquitto's defaults (no TLS, unlimited
    /// connections, no per-listener security).
    pub fn new(port: u16, bind_address: Option<String>) -> Listener {
        Listener {
            port,
            bind_address,
            protocol: Protocol::Mqtt,
            tls: None,
            max_connections: None,
            security: None,
            line: 0,
        }
    }
}

impl Default for Config {
    /// The same as [`Config::local_only`].
    fn default() -> Self {
        Config::local_only()
    }
}

/// The default `allow_anonymous` of mosquitto 2: true only in local only
/// mode.
fn resolve_security(security: &mut Security, local_only: bool) {
    security.allow_anonymous.get_or_insert(local_only);
    security.allow_zero_length_clientid.get_or_insert(true);
}

impl Config {
    /// The configuration of mosquitto 2 started without `-c` (and the
    /// result of a file without listeners): one MQTT listener on
    /// 127.0.0.1 port 1883, anonymous clients allowed, every other
    /// setting at mosquitto's default. (mosquitto also listens on ::1;
    /// clients resolving `localhost` to ::1 fall back to 127.0.0.1.)
    pub fn local_only() -> Config {
        let mut security = Security::default();
        resolve_security(&mut security, true);
        Config {
            path: None,
            per_listener_settings: false,
            listeners: vec![Listener::new(1883, Some("127.0.0.1".to_owned()))],
            local_only: true,
            security,
            limits: Limits::default(),
            sys_interval: 10,
            log: Log::default(),
            pid_file: None,
            set_tcp_nodelay: true,
            warnings: Vec::new(),
            persistence: Persistence::default(),
        }
    }

    /// Reads and parses the file at `path` (see [`Config::parse`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_text(path).map_err(|message| ConfigError {
            path: path.to_owned(),
            line: 0,
            key: String::new(),
            message,
        })?;
        Config::parse(&text, path)
    }

    /// Parses `text`, the contents of the file `path` (used for messages,
    /// for [`Config::path`] and to refuse an `include_dir` that holds it;
    /// `include_dir` reads the files it names). The first error stops the
    /// reading, as in mosquitto.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut parser = Parser::new(path);
        parser.file(text, path, 0)?;
        parser.finish()
    }

    /// Applies mosquitto's command-line `-p PORT` options (each may be given
    /// several times): as in mosquitto 2, they matter only in local only
    /// mode, where they replace port 1883: one listener on 127.0.0.1 per
    /// port, anonymous allowed as before. When the configuration defines
    /// listeners, mosquitto 2 ignores `-p` entirely, and so does this;
    /// the return value is then `false` (worth a warning), else `true`
    /// (also for an empty `ports`, which changes nothing).
    pub fn apply_command_line_ports(&mut self, ports: &[u16]) -> bool {
        if !self.local_only {
            return ports.is_empty();
        }
        if ports.is_empty() {
            return true;
        }
        let template = self.listeners.first().cloned();
        self.listeners = ports
            .iter()
            .map(|&port| {
                let mut listener = template
                    .clone()
                    .unwrap_or_else(|| Listener::new(port, Some("127.0.0.1".to_owned())));
                listener.port = port;
                listener
            })
            .collect();
        true
    }
}

/// A configuration error: the file, the line (1-based; 0 when the file
/// itself could not be read), the key and what is wrong. Displayed as
/// `FILE:LINE: KEY: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the error is in (an included file for errors there).
    pub path: PathBuf,
    /// The line, from 1; 0 when the error is not on a line.
    pub line: usize,
    /// The key of that line (empty when not on a line).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

fn read_text(path: &Path) -> Result<String, String> {
    if path.is_dir() {
        return Err("is a directory, not a configuration file".to_owned());
    }
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_owned())
}

// ---------------------------------------------------------------------------
// Keys mosquitto knows that this broker refuses.

const BRIDGE: &str = "bridges are not supported";
const PLUGIN: &str = "plugins are not supported";
const PERSISTENCE: &str = "not supported: the store is written as the state changes \
     (persistence_mode sync or periodic), retained messages included";
const TLS_OPENSSL: &str = "TLS here is rustls, without this OpenSSL setting";
const PSK: &str = "TLS-PSK is not supported";
const LWS: &str = "a libwebsockets setting; WebSocket listeners here serve MQTT only";

/// Every key of mosquitto 2.0 and 2.1's `conf.c` this reader refuses, with
/// why (`auth_opt_*` and `plugin_opt_*` are matched by prefix).
pub const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    // Bridges.
    ("address", BRIDGE),
    ("addresses", BRIDGE),
    ("bridge_alpn", BRIDGE),
    ("bridge_attempt_unsubscribe", BRIDGE),
    ("bridge_bind_address", BRIDGE),
    ("bridge_cafile", BRIDGE),
    ("bridge_capath", BRIDGE),
    ("bridge_certfile", BRIDGE),
    ("bridge_ciphers", BRIDGE),
    ("bridge_ciphers_tls1.3", BRIDGE),
    ("bridge_identity", BRIDGE),
    ("bridge_insecure", BRIDGE),
    ("bridge_keyfile", BRIDGE),
    ("bridge_max_packet_size", BRIDGE),
    ("bridge_max_topic_alias", BRIDGE),
    ("bridge_outgoing_retain", BRIDGE),
    ("bridge_protocol_version", BRIDGE),
    ("bridge_psk", BRIDGE),
    ("bridge_receive_maximum", BRIDGE),
    ("bridge_reload_type", BRIDGE),
    ("bridge_require_ocsp", BRIDGE),
    ("bridge_session_expiry_interval", BRIDGE),
    ("bridge_tcp_keepalive", BRIDGE),
    ("bridge_tcp_user_timeout", BRIDGE),
    ("bridge_tls_use_os_certs", BRIDGE),
    ("bridge_tls_version", BRIDGE),
    ("cleansession", BRIDGE),
    ("clientid", BRIDGE),
    ("connection", BRIDGE),
    ("idle_timeout", BRIDGE),
    ("keepalive_interval", BRIDGE),
    ("local_cleansession", BRIDGE),
    ("local_clientid", BRIDGE),
    ("local_password", BRIDGE),
    ("local_username", BRIDGE),
    ("notification_topic", BRIDGE),
    ("notifications", BRIDGE),
    ("notifications_local_only", BRIDGE),
    ("password", BRIDGE),
    ("remote_clientid", BRIDGE),
    ("remote_password", BRIDGE),
    ("remote_username", BRIDGE),
    ("restart_timeout", BRIDGE),
    ("round_robin", BRIDGE),
    ("start_type", BRIDGE),
    ("threshold", BRIDGE),
    ("topic", BRIDGE),
    ("try_private", BRIDGE),
    ("username", BRIDGE),
    // Plugins.
    ("auth_plugin", PLUGIN),
    ("auth_plugin_deny_special_chars", PLUGIN),
    ("enable_control_api", PLUGIN),
    ("global_plugin", PLUGIN),
    ("plugin", PLUGIN),
    ("plugin_load", PLUGIN),
    ("plugin_use", PLUGIN),
    // Persistence: mosquitto's snapshot settings.
    ("autosave_on_changes", PERSISTENCE),
    ("retained_persistence", PERSISTENCE),
    // TLS settings of OpenSSL, and TLS-PSK.
    ("ciphers", TLS_OPENSSL),
    ("ciphers_tls1.3", TLS_OPENSSL),
    ("crlfile", TLS_OPENSSL),
    ("dhparamfile", TLS_OPENSSL),
    ("disable_client_cert_date_checks", TLS_OPENSSL),
    ("tls_engine", TLS_OPENSSL),
    ("tls_engine_kpass_sha1", TLS_OPENSSL),
    ("tls_keyform", TLS_OPENSSL),
    ("psk_file", PSK),
    ("psk_hint", PSK),
    // libwebsockets.
    ("http_dir", LWS),
    ("websockets_headers_size", LWS),
    ("websockets_log_level", LWS),
    ("websockets_origin", LWS),
    // Listener settings.
    (
        "accept_protocol_versions",
        "not supported: every listener accepts MQTT 3.1, 3.1.1 and 5.0",
    ),
    (
        "bind_interface",
        "not supported: use bind_address or the address on the listener line",
    ),
    (
        "enable_proxy_protocol",
        "the PROXY protocol is not supported",
    ),
    (
        "listener_allow_anonymous",
        "not supported: use per_listener_settings true and allow_anonymous",
    ),
    (
        "listener_auto_id_prefix",
        "not supported: assigned client identifiers start with auto-",
    ),
    ("mount_point", "mount points are not supported"),
    (
        "proxy_protocol_v2_require_tls",
        "the PROXY protocol is not supported",
    ),
    (
        "socket_domain",
        "not supported: give an IPv4 or IPv6 address as the bind address",
    ),
    // Other broker settings.
    (
        "allow_duplicate_messages",
        "not supported (deprecated in mosquitto 2)",
    ),
    ("clientid_prefixes", "not supported"),
    ("global_max_clients", "not supported"),
    (
        "global_max_connections",
        "not supported: use max_connections on each listener",
    ),
    ("log_facility", "syslog is not supported"),
    (
        "log_timestamp_format",
        "not supported: timestamps are seconds since the epoch, as mosquitto's default",
    ),
    (
        "max_topic_alias_broker",
        "not supported: the broker does not send topic aliases",
    ),
    ("packet_buffer_size", "not supported"),
    ("retain_expiry_interval", "not supported"),
];

/// Keys accepted only with mosquitto's default value, which is what this
/// broker does: `(key, the default value)`. Any other value is refused.
const DEFAULT_ONLY_KEYS: &[(&str, &str)] = &[
    ("check_retain_source", "false"),
    ("max_inflight_bytes", "0"),
    ("memory_limit", "0"),
    ("queue_qos0_messages", "false"),
    ("upgrade_outgoing_qos", "false"),
    ("use_subject_as_username", "false"),
    ("use_username_as_clientid", "false"),
    ("auto_id_prefix", "auto-"),
];

// ---------------------------------------------------------------------------
// The reader.

/// Where a key was read, for errors found after the line.
#[derive(Debug, Clone)]
struct Loc {
    path: PathBuf,
    line: usize,
    key: String,
}

impl Loc {
    fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.path.clone(),
            line: self.line,
            key: self.key.clone(),
            message: message.into(),
        }
    }
}

/// A listener being read.
#[derive(Debug, Clone, Default)]
struct ListenerDraft {
    port: u16,
    bind_address: Option<String>,
    protocol: Protocol,
    cafile: Option<PathBuf>,
    capath: Option<PathBuf>,
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
    require_certificate: bool,
    use_identity_as_username: bool,
    tls_version: Option<TlsVersion>,
    /// The first TLS key, for errors.
    tls_key: Option<Loc>,
    max_connections: Option<usize>,
    max_qos: Option<(u8, Loc)>,
    max_topic_alias: Option<(u16, Loc)>,
    security: Security,
    line: usize,
}

/// Which listener the keys of the current file go to.
#[derive(Debug, Clone, Copy)]
enum Current {
    /// mosquitto's default listener (before the file's first `listener`).
    Default,
    /// `listeners[i]`.
    Listener(usize),
}

struct Parser {
    main_path: PathBuf,
    config: Config,
    listeners: Vec<ListenerDraft>,
    default: ListenerDraft,
    /// `port` or `bind_address` given: the default listener exists.
    default_defined: Option<usize>,
    /// The first listener key applied to the default listener.
    default_key: Option<Loc>,
    default_port_set: bool,
    /// A security key has been read (`per_listener_settings` must precede).
    security_seen: Option<Loc>,
    log_dest_set: bool,
    log_type_set: bool,
    log_file_set: bool,
}

fn is_security_key(key: &str) -> bool {
    matches!(
        key,
        "acl_file" | "allow_anonymous" | "allow_zero_length_clientid" | "password_file"
    )
}

/// mosquitto's order of `include_dir` files: letter by letter, case
/// insensitive first, then upper case before lower case.
fn include_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for (&x, &y) in a.iter().zip(b.iter()) {
        let ordering = x
            .to_ascii_uppercase()
            .cmp(&y.to_ascii_uppercase())
            .then(x.cmp(&y));
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.len().cmp(&b.len())
}

/// Whether the process runs as root (effective uid 0), from
/// `/proc/self/status`; `None` when that cannot be told.
fn running_as_root() -> Option<bool> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    let effective = line.split_whitespace().nth(2)?;
    Some(effective == "0")
}

/// The line's context for errors.
struct At<'a> {
    path: &'a Path,
    line: usize,
    key: &'a str,
}

impl At<'_> {
    fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.path.to_owned(),
            line: self.line,
            key: self.key.to_owned(),
            message: message.into(),
        }
    }

    fn loc(&self) -> Loc {
        Loc {
            path: self.path.to_owned(),
            line: self.line,
            key: self.key.to_owned(),
        }
    }

    /// The single word value of the key (anything after it must be a
    /// comment).
    fn word<'v>(&self, rest: &'v str) -> Result<&'v str, ConfigError> {
        let mut words = rest.split_whitespace();
        let Some(value) = words.next() else {
            return Err(self.error("missing value"));
        };
        if let Some(extra) = words.next() {
            if !extra.starts_with('#') {
                return Err(self.error(format!("unexpected {extra:?} after the value")));
            }
        }
        Ok(value)
    }

    /// The string value: the rest of the line, trimmed (mosquitto's).
    fn string(&self, rest: &str) -> Result<String, ConfigError> {
        let value = rest.trim();
        if value.is_empty() {
            return Err(self.error("missing value"));
        }
        Ok(value.to_owned())
    }

    fn path(&self, rest: &str) -> Result<PathBuf, ConfigError> {
        self.string(rest).map(PathBuf::from)
    }

    fn bool(&self, rest: &str) -> Result<bool, ConfigError> {
        match self.word(rest)? {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(self.error(format!("invalid value {other:?}: expected true or false"))),
        }
    }

    /// An integer in `min..=max`.
    fn int(&self, rest: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
        let word = self.word(rest)?;
        let value: i64 = word
            .parse()
            .map_err(|_| self.error(format!("invalid number {word:?}")))?;
        if value < min || value > max {
            return Err(self.error(format!("{value} is out of range ({min} to {max})")));
        }
        Ok(value)
    }

    /// Sets a string option given at most once (mosquitto refuses
    /// duplicates).
    fn set_once<T>(&self, slot: &mut Option<T>, value: T) -> Result<(), ConfigError> {
        if slot.is_some() {
            return Err(self.error("given twice"));
        }
        *slot = Some(value);
        Ok(())
    }
}

/// Converts a checked non-negative `i64` to the target type.
fn conv<T: TryFrom<i64>>(at: &At<'_>, value: i64) -> Result<T, ConfigError> {
    T::try_from(value).map_err(|_| at.error(format!("{value} is out of range")))
}

impl Parser {
    fn new(path: &Path) -> Parser {
        let mut config = Config::local_only();
        config.path = Some(path.to_owned());
        config.listeners.clear();
        config.security = Security::default();
        Parser {
            main_path: path.to_owned(),
            config,
            listeners: Vec::new(),
            default: ListenerDraft {
                port: 1883,
                ..ListenerDraft::default()
            },
            default_defined: None,
            default_key: None,
            default_port_set: false,
            security_seen: None,
            log_dest_set: false,
            log_type_set: false,
            log_file_set: false,
        }
    }

    fn listener(&mut self, current: Current, at: &At<'_>) -> &mut ListenerDraft {
        match current {
            Current::Listener(i) => &mut self.listeners[i],
            Current::Default => {
                if self.default_key.is_none() {
                    self.default_key = Some(at.loc());
                }
                &mut self.default
            }
        }
    }

    fn file(&mut self, text: &str, path: &Path, level: usize) -> Result<(), ConfigError> {
        let mut current = Current::Default;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, rest) = match line.find(char::is_whitespace) {
                Some(i) => (&line[..i], &line[i..]),
                None => (line, ""),
            };
            let at = At {
                path,
                line: index + 1,
                key,
            };
            self.key(&at, rest, &mut current, level)?;
        }
        Ok(())
    }

    fn key(
        &mut self,
        at: &At<'_>,
        rest: &str,
        current: &mut Current,
        level: usize,
    ) -> Result<(), ConfigError> {
        let key = at.key;
        if is_security_key(key) {
            return self.security_key(at, rest, *current);
        }
        match key {
            "listener" => {
                let mut words = rest.split_whitespace();
                let port_word = words.next().ok_or_else(|| at.error("missing port"))?;
                let port: u16 = port_word
                    .parse()
                    .map_err(|_| at.error(format!("invalid port {port_word:?} (0 to 65535)")))?;
                let address = words.next().filter(|w| !w.starts_with('#'));
                if let Some(extra) = words.next() {
                    if address.is_some() && !extra.starts_with('#') {
                        return Err(at.error(format!("unexpected {extra:?} after the address")));
                    }
                }
                if port == 0 {
                    if let Some(a) = address {
                        if a.parse::<std::net::IpAddr>().is_err() {
                            return Err(at.error(
                                "Unix socket listeners (listener 0 PATH) are not supported",
                            ));
                        }
                    }
                }
                self.listeners.push(ListenerDraft {
                    port,
                    bind_address: address.map(str::to_owned),
                    line: at.line,
                    ..ListenerDraft::default()
                });
                *current = Current::Listener(self.listeners.len() - 1);
            }
            "port" => {
                let port = at.int(rest, 1, 65535)?;
                if self.default_port_set {
                    self.config.warnings.push(
                        at.error("default listener port given several times: the last one is used")
                            .to_string(),
                    );
                }
                self.default_port_set = true;
                self.default.port = conv(at, port)?;
                self.default_defined.get_or_insert(at.line);
            }
            "bind_address" => {
                let address = at.string(rest)?;
                at.set_once(&mut self.default.bind_address, address)?;
                self.default_defined.get_or_insert(at.line);
            }
            "protocol" => {
                let protocol = match at.word(rest)? {
                    "mqtt" => Protocol::Mqtt,
                    "websockets" => Protocol::WebSockets,
                    other => {
                        return Err(at.error(format!(
                            "invalid or unsupported protocol {other:?}: mqtt or websockets"
                        )))
                    }
                };
                self.listener(*current, at).protocol = protocol;
            }
            "cafile" | "capath" | "certfile" | "keyfile" => {
                let value = at.path(rest)?;
                let listener = self.listener(*current, at);
                let slot = match key {
                    "cafile" => &mut listener.cafile,
                    "capath" => &mut listener.capath,
                    "certfile" => &mut listener.certfile,
                    _ => &mut listener.keyfile,
                };
                at.set_once(slot, value)?;
                listener.tls_key.get_or_insert_with(|| at.loc());
            }
            "require_certificate" | "use_identity_as_username" => {
                let value = at.bool(rest)?;
                let listener = self.listener(*current, at);
                if key == "require_certificate" {
                    listener.require_certificate = value;
                } else {
                    listener.use_identity_as_username = value;
                }
                if value {
                    listener.tls_key.get_or_insert_with(|| at.loc());
                }
            }
            "tls_version" => {
                let version = match at.word(rest)? {
                    "tlsv1.2" => TlsVersion::V1_2,
                    "tlsv1.3" => TlsVersion::V1_3,
                    other => {
                        return Err(at.error(format!(
                            "{other:?} is not supported: rustls speaks TLS 1.2 and 1.3 only \
                             (tlsv1.2 allows both, tlsv1.3 only 1.3)"
                        )))
                    }
                };
                let listener = self.listener(*current, at);
                listener.tls_version = Some(version);
                listener.tls_key.get_or_insert_with(|| at.loc());
            }
            "max_connections" => {
                let value = at.int(rest, i64::MIN, i64::from(u32::MAX))?;
                let value = if value < 0 {
                    None
                } else {
                    Some(conv(at, value)?)
                };
                self.listener(*current, at).max_connections = value;
            }
            "max_qos" | "maximum_qos" => {
                let value = conv(at, at.int(rest, 0, 2)?)?;
                self.listener(*current, at).max_qos = Some((value, at.loc()));
            }
            "max_topic_alias" => {
                let value = conv(at, at.int(rest, 0, 65535)?)?;
                self.listener(*current, at).max_topic_alias = Some((value, at.loc()));
            }
            "per_listener_settings" => {
                let value = at.bool(rest)?;
                if value != self.config.per_listener_settings {
                    if let Some(seen) = &self.security_seen {
                        return Err(at.error(format!(
                            "must come before any security setting ({} at {}:{})",
                            seen.key,
                            seen.path.display(),
                            seen.line
                        )));
                    }
                }
                self.config.per_listener_settings = value;
            }
            "max_inflight_messages" => {
                let value = at.int(rest, i64::MIN, 65535)?;
                self.config.limits.max_inflight_messages = if value < 0 || value == 65535 {
                    0
                } else {
                    conv(at, value)?
                };
            }
            "max_queued_messages" => {
                let value = at.int(rest, i64::MIN, i64::from(i32::MAX))?;
                self.config.limits.max_queued_messages = conv(at, value.max(0))?;
            }
            "max_queued_bytes" => {
                let value = at.int(rest, i64::MIN, i64::MAX)?;
                self.config.limits.max_queued_bytes = conv(at, value.max(0))?;
            }
            "message_size_limit" => {
                self.config.limits.message_size_limit = conv(at, at.int(rest, 0, 268_435_455)?)?;
            }
            "max_packet_size" => {
                self.config.limits.max_packet_size = conv(at, at.int(rest, 20, 268_435_460)?)?;
            }
            "max_keepalive" => {
                self.config.limits.max_keepalive = conv(at, at.int(rest, 10, 65535)?)?;
            }
            "retain_available" => self.config.limits.retain_available = at.bool(rest)?,
            "persistent_client_expiration" => {
                self.config.limits.persistent_client_expiration = Some(duration(at, rest)?);
            }
            "sys_interval" => self.config.sys_interval = conv(at, at.int(rest, 0, 65535)?)?,
            "log_dest" => self.log_dest(at, rest)?,
            "log_type" => self.log_type(at, rest)?,
            "connection_messages" => self.config.log.connection_messages = at.bool(rest)?,
            "log_timestamp" => self.config.log.timestamp = at.bool(rest)?,
            "pid_file" => {
                let value = at.path(rest)?;
                at.set_once(&mut self.config.pid_file, value)?;
            }
            "set_tcp_nodelay" => self.config.set_tcp_nodelay = at.bool(rest)?,
            "include_dir" => self.include_dir(at, rest, level)?,
            "persistence" => self.config.persistence.enabled = at.bool(rest)?,
            "persistence_location" => self.config.persistence.location = Some(at.path(rest)?),
            "persistence_file" => self.config.persistence.file = at.path(rest)?,
            "autosave_interval" => {
                self.config.persistence.autosave_interval =
                    conv(at, at.int(rest, 0, i64::from(u32::MAX))?)?;
            }
            "persistence_mode" => {
                self.config.persistence.mode = match at.word(rest)? {
                    "sync" => PersistenceMode::Sync,
                    "periodic" => PersistenceMode::Periodic,
                    other => {
                        return Err(at.error(format!(
                            "invalid value {other:?}: expected sync or periodic"
                        )))
                    }
                }
            }
            "retry_interval" => self.config.warnings.push(
                at.error("ignored: mosquitto 2 no longer has this option either")
                    .to_string(),
            ),
            "user" => {
                let user = at.string(rest)?;
                if running_as_root() != Some(false) {
                    return Err(at.error(format!(
                        "libmqtt-broker does not change user: run it as {user:?} instead of as root \
                         (mosquitto drops root privileges to this user)"
                    )));
                }
                // Not root: mosquitto ignores `user` too.
            }
            _ => self.refused(at, rest)?,
        }
        Ok(())
    }

    /// A key this match does not handle: accepted when it is a
    /// default-only key with its default value, else the error for a key
    /// that is not supported or not known.
    fn refused(&mut self, at: &At<'_>, rest: &str) -> Result<(), ConfigError> {
        let key = at.key;
        if let Some((_, default)) = DEFAULT_ONLY_KEYS.iter().find(|(k, _)| *k == key) {
            let value = at.word(rest)?;
            if value == *default {
                return Ok(());
            }
            return Err(at.error(format!(
                "{key} {value} is a mosquitto setting libmqtt-broker does not support \
                 (only {key} {default}, mosquitto's default, is accepted)"
            )));
        }
        if let Some((_, why)) = UNSUPPORTED_KEYS.iter().find(|(k, _)| *k == key) {
            return Err(at.error(format!(
                "{key} is a mosquitto option libmqtt-broker does not support: {why}"
            )));
        }
        if key.starts_with("auth_opt_") || key.starts_with("plugin_opt_") {
            return Err(at.error(format!(
                "{key} is a mosquitto option libmqtt-broker does not support: {PLUGIN}"
            )));
        }
        Err(at.error(format!("unknown option {key}")))
    }

    fn security_key(
        &mut self,
        at: &At<'_>,
        rest: &str,
        current: Current,
    ) -> Result<(), ConfigError> {
        self.security_seen.get_or_insert_with(|| at.loc());
        let security = if self.config.per_listener_settings {
            &mut self.listener(current, at).security
        } else {
            &mut self.config.security
        };
        match at.key {
            "allow_anonymous" => security.allow_anonymous = Some(at.bool(rest)?),
            "allow_zero_length_clientid" => {
                security.allow_zero_length_clientid = Some(at.bool(rest)?)
            }
            "password_file" => at.set_once(&mut security.password_file, at.path(rest)?)?,
            _ => at.set_once(&mut security.acl_file, at.path(rest)?)?,
        }
        Ok(())
    }

    fn log_dest(&mut self, at: &At<'_>, rest: &str) -> Result<(), ConfigError> {
        let rest = rest.trim_start();
        let (word, tail) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if !self.log_dest_set {
            self.log_dest_set = true;
            self.config.log.dests.clear();
        }
        let dest = match word {
            "" => return Err(at.error("missing value")),
            "none" => {
                at.word(rest)?;
                self.config.log.dests.clear();
                return Ok(());
            }
            "stderr" => {
                at.word(rest)?;
                LogDest::Stderr
            }
            "stdout" => {
                at.word(rest)?;
                LogDest::Stdout
            }
            "file" => {
                if self.log_file_set {
                    return Err(at.error("log_dest file given twice"));
                }
                self.log_file_set = true;
                let file = tail.trim();
                if file.is_empty() {
                    return Err(at.error("log_dest file needs a path"));
                }
                LogDest::File(PathBuf::from(file))
            }
            "syslog" | "topic" | "dlt" | "android" => {
                return Err(at.error(format!(
                    "log_dest {word} is a mosquitto option libmqtt-broker does not support \
                     (stderr, stdout, file PATH or none)"
                )))
            }
            other => return Err(at.error(format!("invalid log_dest {other:?}"))),
        };
        if !self.config.log.dests.contains(&dest) {
            self.config.log.dests.push(dest);
        }
        Ok(())
    }

    fn log_type(&mut self, at: &At<'_>, rest: &str) -> Result<(), ConfigError> {
        let word = at.word(rest)?;
        if !self.log_type_set {
            self.log_type_set = true;
            self.config.log.types = LogTypes::NONE;
        }
        let types = &mut self.config.log.types;
        match word {
            "none" => *types = LogTypes::NONE,
            "all" => *types = LogTypes::ALL,
            "error" => types.error = true,
            "warning" => types.warning = true,
            "notice" => types.notice = true,
            "information" => types.information = true,
            "subscribe" => types.subscribe = true,
            "unsubscribe" => types.unsubscribe = true,
            "debug" => types.debug = true,
            "websockets" | "internal" => {
                return Err(at.error(format!(
                    "log_type {word} is a mosquitto option libmqtt-broker does not support"
                )))
            }
            other => return Err(at.error(format!("invalid log_type {other:?}"))),
        }
        Ok(())
    }

    fn include_dir(&mut self, at: &At<'_>, rest: &str, level: usize) -> Result<(), ConfigError> {
        if level > 0 {
            // mosquitto silently skips it outside the main file.
            return Err(
                at.error("only allowed in the main configuration file (mosquitto ignores it here)")
            );
        }
        let dir = at.path(rest)?;
        let entries = fs::read_dir(&dir)
            .map_err(|e| at.error(format!("cannot open {}: {e}", dir.display())))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| at.error(format!("cannot read {}: {e}", dir.display())))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.len() > 5 && name.ends_with(".conf") {
                names.push(name);
            }
        }
        names.sort_by(|a, b| include_order(a, b));
        let main = fs::canonicalize(&self.main_path).ok();
        for name in names {
            let file = dir.join(&name);
            if main.is_some() && fs::canonicalize(&file).ok() == main {
                return Err(at.error(format!(
                    "{} holds the main configuration file {}",
                    dir.display(),
                    self.main_path.display()
                )));
            }
            let text = read_text(&file)
                .map_err(|message| at.error(format!("{}: {message}", file.display())))?;
            self.file(&text, &file, level + 1)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Config, ConfigError> {
        let per_listener = self.config.per_listener_settings;
        let mut drafts = std::mem::take(&mut self.listeners);
        match (self.default_defined, &self.default_key) {
            (Some(line), _) => {
                let mut default = std::mem::take(&mut self.default);
                default.line = line;
                if per_listener {
                    self.config.security = default.security.clone();
                }
                drafts.push(default);
            }
            (None, Some(key)) => {
                return Err(key.error(format!(
                    "{} before the first listener applies to mosquitto's default listener, which \
                     this file does not define (mosquitto would open port 1883 on every \
                     interface for it, or ignore it): put it after a `listener` line, or add \
                     `listener 1883` before it",
                    key.key
                )))
            }
            (None, None) => {}
        }
        let local_only = drafts.is_empty();
        if local_only {
            drafts.push(ListenerDraft {
                port: 1883,
                bind_address: Some("127.0.0.1".to_owned()),
                ..ListenerDraft::default()
            });
        }
        self.config.local_only = local_only;
        resolve_security(&mut self.config.security, local_only);

        // One max_qos and max_topic_alias for the broker.
        let mut max_qos: Shared<u8> = None;
        let mut max_topic_alias: Shared<u16> = None;
        for draft in &drafts {
            let qos = draft
                .max_qos
                .clone()
                .map_or((2, None), |(v, l)| (v, Some(l)));
            same_everywhere(&mut max_qos, qos, "max_qos", draft)?;
            let alias = draft
                .max_topic_alias
                .clone()
                .map_or((10, None), |(v, l)| (v, Some(l)));
            same_everywhere(&mut max_topic_alias, alias, "max_topic_alias", draft)?;
        }
        if let Some((qos, _, _)) = max_qos {
            self.config.limits.max_qos = qos;
        }
        if let Some((alias, _, _)) = max_topic_alias {
            self.config.limits.max_topic_alias = alias;
        }
        let limits = &mut self.config.limits;
        limits.receive_maximum = match limits.max_inflight_messages {
            0 => 65535,
            n => n,
        };

        let path = self.main_path.clone();
        let mut listeners = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let listener = build_listener(draft, per_listener, local_only)?;
            if listener.port != 0 {
                if let Some(other) = listeners.iter().find(|l: &&Listener| {
                    l.port == listener.port && l.bind_address == listener.bind_address
                }) {
                    return Err(ConfigError {
                        path: path.clone(),
                        line: listener.line,
                        key: "listener".to_owned(),
                        message: format!(
                            "port {} {} is already the listener of line {}",
                            listener.port,
                            listener
                                .bind_address
                                .as_deref()
                                .unwrap_or("(all addresses)"),
                            other.line
                        ),
                    });
                }
            }
            listeners.push(listener);
        }
        self.config.listeners = listeners;
        Ok(self.config)
    }
}

/// A per-listener value the engine has once for the broker: the value, where
/// it was set (None: mosquitto's default) and the line of its listener.
type Shared<T> = Option<(T, Option<Loc>, usize)>;

/// Checks that a per-listener value the engine has once for the broker is
/// the same on every listener.
fn same_everywhere<T: PartialEq + Copy + fmt::Display>(
    seen: &mut Shared<T>,
    value: (T, Option<Loc>),
    key: &str,
    draft: &ListenerDraft,
) -> Result<(), ConfigError> {
    let Some((first, first_loc, first_line)) = seen else {
        *seen = Some((value.0, value.1, draft.line));
        return Ok(());
    };
    if *first == value.0 {
        return Ok(());
    }
    let describe = |v: T, loc: &Option<Loc>| match loc {
        Some(_) => format!("{v}"),
        None => format!("{v}, the default"),
    };
    let message = format!(
        "{key} is per listener in mosquitto, but libmqtt-broker has one {key} for the whole \
         broker: give every listener the same value (the listener of line {} has {}, the \
         listener of line {} has {})",
        first_line,
        describe(*first, first_loc),
        draft.line,
        describe(value.0, &value.1),
    );
    let loc = value.1.or_else(|| first_loc.clone());
    Err(match loc {
        Some(loc) => loc.error(message),
        None => ConfigError {
            path: PathBuf::new(),
            line: draft.line,
            key: key.to_owned(),
            message,
        },
    })
}

fn build_listener(
    draft: ListenerDraft,
    per_listener: bool,
    local_only: bool,
) -> Result<Listener, ConfigError> {
    let tls = match (&draft.tls_key, draft.certfile, draft.keyfile) {
        (None, _, _) => None,
        (Some(_), Some(certfile), Some(keyfile)) => {
            if draft.require_certificate && draft.cafile.is_none() && draft.capath.is_none() {
                let loc = draft.tls_key.clone();
                return Err(tls_error(
                    loc,
                    "require_certificate true needs cafile or capath",
                ));
            }
            if draft.use_identity_as_username && !draft.require_certificate {
                return Err(tls_error(
                    draft.tls_key.clone(),
                    "use_identity_as_username true needs require_certificate true",
                ));
            }
            Some(Tls {
                cafile: draft.cafile,
                capath: draft.capath,
                certfile,
                keyfile,
                require_certificate: draft.require_certificate,
                use_identity_as_username: draft.use_identity_as_username,
                min_version: draft.tls_version.unwrap_or_default(),
            })
        }
        (Some(_), _, _) => {
            return Err(tls_error(
                draft.tls_key.clone(),
                "a TLS listener needs both certfile and keyfile (mosquitto would silently \
                 serve this listener without TLS)",
            ))
        }
    };
    let security = per_listener.then(|| {
        let mut security = draft.security;
        resolve_security(&mut security, local_only);
        security
    });
    Ok(Listener {
        port: draft.port,
        bind_address: draft.bind_address,
        protocol: draft.protocol,
        tls,
        max_connections: draft.max_connections,
        security,
        line: draft.line,
    })
}

fn tls_error(loc: Option<Loc>, message: &str) -> ConfigError {
    match loc {
        Some(loc) => loc.error(message),
        None => ConfigError {
            path: PathBuf::new(),
            line: 0,
            key: String::new(),
            message: message.to_owned(),
        },
    }
}

/// mosquitto's duration: a positive number and a unit, `s` (mosquitto 2.1),
/// `h`, `d`, `w`, `m` (30 days), `y` (365 days).
fn duration(at: &At<'_>, rest: &str) -> Result<u64, ConfigError> {
    let word = at.word(rest)?;
    let bad = || {
        at.error(format!(
            "invalid duration {word:?}: a number and one of s h d w m y"
        ))
    };
    let unit = word.chars().last().ok_or_else(bad)?;
    let seconds: u64 = match unit {
        's' => 1,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'm' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return Err(bad()),
    };
    let count: u64 = word[..word.len() - 1].parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(bad());
    }
    count
        .checked_mul(seconds)
        .ok_or_else(|| at.error(format!("duration {word:?} is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.conf"))
    }

    fn parse_ok(text: &str) -> Config {
        match parse(text) {
            Ok(config) => config,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn parse_err(text: &str) -> ConfigError {
        match parse(text) {
            Ok(config) => panic!("accepted: {text:?} -> {config:?}"),
            Err(e) => e,
        }
    }

    /// A fresh directory under the system temporary directory.
    fn temp_dir(name: &str) -> PathBuf {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, AtomicOrdering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "libmqtt-broker-config-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        dir
    }

    const REALISTIC: &str = "\
# A mosquitto 2 configuration with three listeners.
per_listener_settings false
pid_file /run/mqtt.pid

listener 1883
protocol mqtt
max_connections 1000

listener 8883 0.0.0.0
certfile /etc/mqtt/server.crt
keyfile /etc/mqtt/server.key
cafile /etc/mqtt/ca.crt
require_certificate true
use_identity_as_username true
tls_version tlsv1.2

listener 8080 127.0.0.1
protocol websockets
max_connections -1

allow_anonymous false
password_file /etc/mqtt/passwd
acl_file /etc/mqtt/acl
allow_zero_length_clientid false

max_inflight_messages 40
max_queued_messages 5000
max_queued_bytes 1048576
message_size_limit 65536
max_packet_size 131072
max_keepalive 120
retain_available false
persistent_client_expiration 2d
sys_interval 30
persistence false
set_tcp_nodelay true

log_dest stdout
log_dest file /var/log/mqtt.log
log_type error
log_type warning
log_type subscribe
connection_messages false
log_timestamp false
";

    #[test]
    fn realistic_multi_listener_file_parses_to_the_expected_config() {
        let config = parse_ok(REALISTIC);
        let expected = Config {
            path: Some(PathBuf::from("test.conf")),
            per_listener_settings: false,
            listeners: vec![
                Listener {
                    port: 1883,
                    bind_address: None,
                    protocol: Protocol::Mqtt,
                    tls: None,
                    max_connections: Some(1000),
                    security: None,
                    line: 5,
                },
                Listener {
                    port: 8883,
                    bind_address: Some("0.0.0.0".to_owned()),
                    protocol: Protocol::Mqtt,
                    tls: Some(Tls {
                        cafile: Some(PathBuf::from("/etc/mqtt/ca.crt")),
                        capath: None,
                        certfile: PathBuf::from("/etc/mqtt/server.crt"),
                        keyfile: PathBuf::from("/etc/mqtt/server.key"),
                        require_certificate: true,
                        use_identity_as_username: true,
                        min_version: TlsVersion::V1_2,
                    }),
                    max_connections: None,
                    security: None,
                    line: 9,
                },
                Listener {
                    port: 8080,
                    bind_address: Some("127.0.0.1".to_owned()),
                    protocol: Protocol::WebSockets,
                    tls: None,
                    max_connections: None,
                    security: None,
                    line: 17,
                },
            ],
            local_only: false,
            security: Security {
                allow_anonymous: Some(false),
                password_file: Some(PathBuf::from("/etc/mqtt/passwd")),
                acl_file: Some(PathBuf::from("/etc/mqtt/acl")),
                allow_zero_length_clientid: Some(false),
            },
            limits: Limits {
                max_inflight_messages: 40,
                max_queued_messages: 5000,
                max_queued_bytes: 1_048_576,
                message_size_limit: 65536,
                max_packet_size: 131_072,
                max_keepalive: 120,
                max_qos: 2,
                retain_available: false,
                persistent_client_expiration: Some(2 * 86_400),
                max_topic_alias: 10,
                receive_maximum: 40,
            },
            sys_interval: 30,
            log: Log {
                dests: vec![
                    LogDest::Stdout,
                    LogDest::File(PathBuf::from("/var/log/mqtt.log")),
                ],
                types: LogTypes {
                    error: true,
                    warning: true,
                    subscribe: true,
                    ..LogTypes::NONE
                },
                connection_messages: false,
                timestamp: false,
            },
            pid_file: Some(PathBuf::from("/run/mqtt.pid")),
            set_tcp_nodelay: true,
            warnings: Vec::new(),
            persistence: Persistence::default(),
        };
        assert_eq!(config, expected);
    }

    #[test]
    fn defaults_are_mosquitto_2_defaults() {
        let config = parse_ok("listener 1883\n");
        let limits = &config.limits;
        assert_eq!(limits.max_inflight_messages, 20);
        assert_eq!(limits.max_queued_messages, 1000);
        assert_eq!(limits.max_queued_bytes, 0);
        assert_eq!(limits.message_size_limit, 0);
        assert_eq!(limits.max_packet_size, 0);
        assert_eq!(limits.max_keepalive, 65535);
        assert_eq!(limits.max_qos, 2);
        assert!(limits.retain_available);
        assert_eq!(limits.persistent_client_expiration, None);
        assert_eq!(limits.max_topic_alias, 10);
        assert_eq!(limits.receive_maximum, 20);
        assert_eq!(config.sys_interval, 10);
        assert_eq!(config.log, Log::default());
        assert_eq!(config.log.dests, vec![LogDest::Stderr]);
        assert_eq!(config.log.types, LogTypes::DEFAULT);
        assert!(config.log.connection_messages && config.log.timestamp);
        assert!(config.set_tcp_nodelay && !config.per_listener_settings);
        // Listeners configured: anonymous refused unless allowed (mosquitto 2).
        assert_eq!(config.security.allow_anonymous, Some(false));
        assert_eq!(config.security.allow_zero_length_clientid, Some(true));
        let listener = &config.listeners[0];
        assert_eq!(listener.max_connections, None);
        assert_eq!(listener.protocol, Protocol::Mqtt);
        assert_eq!(listener.tls, None);
        assert_eq!(listener.bind_address, None);
    }

    #[test]
    fn no_listener_is_local_only_mode_with_anonymous_allowed() {
        for text in ["", "# nothing\n\n", "sys_interval 5\npassword_file /pw\n"] {
            let config = parse_ok(text);
            assert!(config.local_only, "{text:?}");
            assert_eq!(config.listeners.len(), 1);
            assert_eq!(config.listeners[0].port, 1883);
            assert_eq!(
                config.listeners[0].bind_address.as_deref(),
                Some("127.0.0.1")
            );
            assert_eq!(config.security.allow_anonymous, Some(true));
        }
        assert_eq!(Config::default(), Config::local_only());
        assert!(Config::local_only().local_only);
        assert_eq!(Config::local_only().path, None);
        // An explicit `allow_anonymous false` is kept (mosquitto 2.1; 2.0
        // overrode it with true in this mode).
        let config = parse_ok("allow_anonymous false\n");
        assert!(config.local_only);
        assert_eq!(config.security.allow_anonymous, Some(false));
        // With per_listener_settings, the local listener has its own.
        let config = parse_ok("per_listener_settings true\n");
        let security = config.listeners[0].security.clone().expect("security");
        assert_eq!(security.allow_anonymous, Some(true));
    }

    #[test]
    fn command_line_ports_replace_the_local_only_listener_and_are_ignored_otherwise() {
        let mut config = Config::local_only();
        assert!(config.apply_command_line_ports(&[1884, 1885]));
        let ports: Vec<_> = config.listeners.iter().map(|l| l.port).collect();
        assert_eq!(ports, [1884, 1885]);
        assert!(config
            .listeners
            .iter()
            .all(|l| l.bind_address.as_deref() == Some("127.0.0.1")));
        assert_eq!(config.security.allow_anonymous, Some(true));

        let mut config = parse_ok("listener 8883\n");
        let before = config.clone();
        assert!(!config.apply_command_line_ports(&[1884]));
        assert_eq!(config, before);
        assert!(config.apply_command_line_ports(&[]));
        assert_eq!(config, before);
    }

    #[test]
    fn per_listener_settings_true_gives_each_listener_its_own_security() {
        let config = parse_ok(
            "per_listener_settings true\n\
             listener 1883\n\
             allow_anonymous true\n\
             listener 8883\n\
             password_file /pw\n\
             acl_file /acl\n\
             allow_zero_length_clientid false\n",
        );
        assert!(config.per_listener_settings);
        let first = config.listeners[0].security.clone().expect("security");
        assert_eq!(
            first,
            Security {
                allow_anonymous: Some(true),
                password_file: None,
                acl_file: None,
                allow_zero_length_clientid: Some(true),
            }
        );
        let second = config.listeners[1].security.clone().expect("security");
        assert_eq!(
            second,
            Security {
                allow_anonymous: Some(false),
                password_file: Some(PathBuf::from("/pw")),
                acl_file: Some(PathBuf::from("/acl")),
                allow_zero_length_clientid: Some(false),
            }
        );
        // The global security stays at its defaults.
        assert_eq!(config.security.password_file, None);
        assert_eq!(config.security.allow_anonymous, Some(false));
    }

    #[test]
    fn per_listener_settings_false_makes_security_global_wherever_it_appears() {
        let config = parse_ok(
            "listener 1883\n\
             allow_anonymous true\n\
             listener 8883\n\
             password_file /pw\n",
        );
        assert!(!config.per_listener_settings);
        assert!(config.listeners.iter().all(|l| l.security.is_none()));
        assert_eq!(config.security.allow_anonymous, Some(true));
        assert_eq!(config.security.password_file, Some(PathBuf::from("/pw")));
    }

    #[test]
    fn per_listener_settings_must_come_before_security_settings() {
        let e = parse_err("allow_anonymous true\nlistener 1883\nper_listener_settings true\n");
        assert_eq!((e.line, e.key.as_str()), (3, "per_listener_settings"));
        assert!(e.message.contains("allow_anonymous"), "{e}");
        // Setting it to its current value is harmless.
        parse_ok("allow_anonymous true\nper_listener_settings false\nlistener 1883\n");
    }

    #[test]
    fn per_listener_security_before_any_listener_needs_the_default_listener() {
        let e = parse_err("per_listener_settings true\npassword_file /pw\nlistener 8883\n");
        assert_eq!((e.line, e.key.as_str()), (2, "password_file"));
        assert!(e.message.contains("default listener"), "{e}");
        // With `port`, it is the default listener's, which comes last.
        let config =
            parse_ok("per_listener_settings true\nport 1884\npassword_file /pw\nlistener 8883\n");
        assert_eq!(config.listeners.len(), 2);
        assert_eq!(config.listeners[0].port, 8883);
        assert_eq!(config.listeners[1].port, 1884);
        assert_eq!(config.listeners[1].line, 2);
        let default_security = config.listeners[1].security.clone().expect("security");
        assert_eq!(default_security.password_file, Some(PathBuf::from("/pw")));
        assert_eq!(config.security, default_security);
        assert_eq!(
            config.listeners[0]
                .security
                .as_ref()
                .and_then(|s| s.password_file.clone()),
            None
        );
    }

    #[test]
    fn port_and_bind_address_define_the_default_listener() {
        let config = parse_ok(
            "port 1884\nbind_address 127.0.0.1\nmax_connections 10\nprotocol websockets\n",
        );
        assert!(!config.local_only);
        assert_eq!(config.security.allow_anonymous, Some(false));
        let l = &config.listeners[0];
        assert_eq!(
            (l.port, l.bind_address.as_deref()),
            (1884, Some("127.0.0.1"))
        );
        assert_eq!(l.max_connections, Some(10));
        assert_eq!(l.protocol, Protocol::WebSockets);
        // bind_address alone: port 1883.
        let config = parse_ok("bind_address 10.0.0.1\n");
        assert_eq!(config.listeners[0].port, 1883);
        // A listener key before any listener, without port or bind_address.
        let e = parse_err("max_connections 10\nlistener 1883\n");
        assert_eq!((e.line, e.key.as_str()), (1, "max_connections"));
        // Keys after a listener line belong to it, not to the default one.
        let config = parse_ok("port 1884\nlistener 1885\nmax_connections 5\n");
        assert_eq!(config.listeners[0].max_connections, Some(5));
        assert_eq!(config.listeners[1].max_connections, None);
        // `port` twice: the last one, with a warning (as mosquitto).
        let config = parse_ok("port 1884\nport 1886\n");
        assert_eq!(config.listeners[0].port, 1886);
        assert_eq!(config.warnings.len(), 1);
        assert!(
            config.warnings[0].starts_with("test.conf:2: port: "),
            "{:?}",
            config.warnings
        );
    }

    #[test]
    fn the_same_port_and_address_twice_is_an_error() {
        let e = parse_err("listener 1883\nlistener 1884\nlistener 1883\n");
        assert_eq!((e.line, e.key.as_str()), (3, "listener"));
        assert!(e.message.contains("line 1"), "{e}");
        parse_ok("listener 1883 127.0.0.1\nlistener 1883 ::1\nlistener 0\nlistener 0\n");
    }

    #[test]
    fn listener_port_zero_is_any_free_port_but_a_unix_socket_is_refused() {
        let config = parse_ok("listener 0 127.0.0.1\n");
        assert_eq!(config.listeners[0].port, 0);
        let e = parse_err("listener 0 /run/mqtt.sock\n");
        assert!(e.message.contains("Unix socket"), "{e}");
        let e = parse_err("listener 65536\n");
        assert_eq!(e.key, "listener");
        let e = parse_err("listener\n");
        assert_eq!(e.key, "listener");
        parse_ok("listener 1883 127.0.0.1 # comment\n");
    }

    #[test]
    fn max_qos_and_max_topic_alias_must_agree_across_listeners() {
        let config = parse_ok("listener 1883\nmax_qos 1\nmax_topic_alias 0\nlistener 1884\nmaximum_qos 1\nmax_topic_alias 0\n");
        assert_eq!(config.limits.max_qos, 1);
        assert_eq!(config.limits.max_topic_alias, 0);
        let e = parse_err("listener 1883\nmax_qos 1\nlistener 1884\n");
        assert_eq!((e.line, e.key.as_str()), (2, "max_qos"));
        assert!(
            e.message
                .contains("line 1 has 1, the listener of line 3 has 2, the default"),
            "{e}"
        );
        let e = parse_err("listener 1883\nlistener 1884\nmax_topic_alias 20\n");
        assert_eq!((e.line, e.key.as_str()), (3, "max_topic_alias"));
    }

    #[test]
    fn tls_settings_are_checked() {
        let e = parse_err("listener 8883\ncafile /ca\nrequire_certificate true\n");
        assert_eq!((e.line, e.key.as_str()), (2, "cafile"));
        assert!(e.message.contains("certfile and keyfile"), "{e}");
        let e = parse_err("listener 8883\ncertfile /c\nkeyfile /k\nrequire_certificate true\n");
        assert!(e.message.contains("cafile or capath"), "{e}");
        let e =
            parse_err("listener 8883\ncertfile /c\nkeyfile /k\nuse_identity_as_username true\n");
        assert!(e.message.contains("require_certificate"), "{e}");
        for version in ["tlsv1.1", "tlsv1", "sslv3", "TLSv1.2"] {
            let e = parse_err(&format!("listener 8883\ntls_version {version}\n"));
            assert_eq!((e.line, e.key.as_str()), (2, "tls_version"));
        }
        let e = parse_err("listener 8883\ncertfile /c\ncertfile /d\n");
        assert_eq!((e.line, e.key.as_str()), (3, "certfile"));
        let config = parse_ok("listener 8883\ncertfile /c\nkeyfile /k\ncapath /cas\ntls_version tlsv1.3\nrequire_certificate true\n");
        let tls = config.listeners[0].tls.clone().expect("tls");
        assert_eq!(tls.min_version, TlsVersion::V1_3);
        assert_eq!(tls.capath, Some(PathBuf::from("/cas")));
        assert!(tls.require_certificate && !tls.use_identity_as_username);
        // `require_certificate false` alone is not TLS.
        assert_eq!(
            parse_ok("listener 1883\nrequire_certificate false\n").listeners[0].tls,
            None
        );
    }

    #[test]
    fn every_unsupported_mosquitto_key_is_refused_naming_key_and_line() {
        let mut keys: Vec<&str> = UNSUPPORTED_KEYS.iter().map(|(k, _)| *k).collect();
        keys.extend(["auth_opt_db_host", "plugin_opt_foo"]);
        for key in keys {
            let text = format!("# header\nlistener 1883\n\n{key} somevalue\n");
            let e = parse_err(&text);
            assert_eq!(e.key, key);
            assert_eq!(e.line, 4, "{key}");
            assert_eq!(e.path, PathBuf::from("test.conf"));
            assert!(
                e.message
                    .contains("is a mosquitto option libmqtt-broker does not support"),
                "{e}"
            );
            assert_eq!(e.to_string(), format!("test.conf:4: {key}: {}", e.message));
        }
        assert!(UNSUPPORTED_KEYS.len() > 85);
    }

    #[test]
    fn persistence_keys_set_the_store_and_its_mode() {
        let off = parse_ok("listener 1883\n");
        assert_eq!(off.persistence, Persistence::default());
        assert!(!off.persistence.enabled);
        assert_eq!(off.persistence.path(), PathBuf::from("libmqtt.db"));
        assert_eq!(off.persistence.autosave_interval, 1800);
        assert_eq!(off.persistence.mode, PersistenceMode::Sync);

        let on = parse_ok(
            "listener 1883\npersistence true\npersistence_location /var/lib/mosquitto/\n\
             persistence_file state.db\nautosave_interval 60\npersistence_mode periodic\n",
        );
        assert_eq!(
            on.persistence,
            Persistence {
                enabled: true,
                location: Some(PathBuf::from("/var/lib/mosquitto/")),
                file: PathBuf::from("state.db"),
                autosave_interval: 60,
                mode: PersistenceMode::Periodic,
            }
        );
        assert_eq!(
            on.persistence.path(),
            PathBuf::from("/var/lib/mosquitto/state.db")
        );
        // mosquitto's meaning: a directory, with or without the slash.
        let no_slash = parse_ok("listener 1883\npersistence_location /srv/mqtt\n");
        assert_eq!(
            no_slash.persistence.path(),
            PathBuf::from("/srv/mqtt/libmqtt.db")
        );
        let sync = parse_ok("listener 1883\npersistence_mode sync\npersistence 1\n");
        assert!(sync.persistence.enabled);
        assert_eq!(sync.persistence.mode, PersistenceMode::Sync);
        assert!(
            !parse_ok("listener 1883\npersistence false\n")
                .persistence
                .enabled
        );
    }

    #[test]
    fn persistence_values_that_mean_nothing_are_errors_at_their_line() {
        for (line, needle) in [
            ("persistence yes", "expected true or false"),
            ("persistence_mode fast", "expected sync or periodic"),
            ("persistence_mode", "missing value"),
            ("autosave_interval -1", "out of range"),
            ("autosave_interval soon", "invalid number"),
            ("persistence_location", "missing value"),
            ("persistence_file", "missing value"),
        ] {
            let e = parse_err(&format!("listener 1883\n{line}\n"));
            assert_eq!(e.line, 2, "{e}");
            assert!(e.message.contains(needle), "{line}: {e}");
            assert!(e.to_string().starts_with("test.conf:2: "), "{e}");
        }
        for key in ["autosave_on_changes true", "retained_persistence false"] {
            let e = parse_err(&format!("listener 1883\n{key}\n"));
            assert_eq!(e.line, 2, "{e}");
            assert!(e.message.contains("not support"), "{e}");
        }
    }

    #[test]
    fn default_only_keys_are_accepted_with_mosquittos_default_only() {
        for (key, default) in DEFAULT_ONLY_KEYS {
            parse_ok(&format!("listener 1883\n{key} {default}\n"));
            let other = if *default == "false" { "true" } else { "1" };
            let e = parse_err(&format!("listener 1883\n{key} {other}\n"));
            assert_eq!((e.line, e.key.as_str()), (2, *key));
            assert!(e.message.contains("does not support"), "{e}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        for key in ["frobnicate", "Listener", "max_qos:", "log-dest"] {
            let e = parse_err(&format!("listener 1883\n{key} 1\n"));
            assert_eq!((e.line, e.key.as_str()), (2, key));
            assert_eq!(e.message, format!("unknown option {key}"));
        }
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            ("max_inflight_messages 65536", "max_inflight_messages"),
            ("max_inflight_messages ten", "max_inflight_messages"),
            ("max_keepalive 5", "max_keepalive"),
            ("max_keepalive 65536", "max_keepalive"),
            ("max_packet_size 19", "max_packet_size"),
            ("max_packet_size 268435461", "max_packet_size"),
            ("message_size_limit 268435456", "message_size_limit"),
            ("message_size_limit -1", "message_size_limit"),
            ("sys_interval 65536", "sys_interval"),
            ("sys_interval -1", "sys_interval"),
            ("max_qos 3", "max_qos"),
            ("max_topic_alias 65536", "max_topic_alias"),
            ("retain_available yes", "retain_available"),
            ("retain_available", "retain_available"),
            ("retain_available true false", "retain_available"),
            ("allow_anonymous maybe", "allow_anonymous"),
            (
                "persistent_client_expiration 10",
                "persistent_client_expiration",
            ),
            (
                "persistent_client_expiration 0d",
                "persistent_client_expiration",
            ),
            (
                "persistent_client_expiration xd",
                "persistent_client_expiration",
            ),
            ("port 0", "port"),
            ("protocol mqttsn", "protocol"),
            ("log_dest syslog", "log_dest"),
            ("log_dest topic", "log_dest"),
            ("log_dest dlt", "log_dest"),
            ("log_dest file", "log_dest"),
            ("log_dest elsewhere", "log_dest"),
            ("log_type verbose", "log_type"),
            ("log_type websockets", "log_type"),
            ("pid_file", "pid_file"),
            ("password_file   ", "password_file"),
        ];
        for (line, key) in cases {
            let e = parse_err(&format!("listener 1883\n{line}\n"));
            assert_eq!((e.line, e.key.as_str()), (2, key), "{line}: {e}");
        }
    }

    #[test]
    fn mosquitto_value_quirks_are_kept() {
        let config = parse_ok(
            "listener 1883\r\n\
             max_inflight_messages 65535\r\n\
             max_queued_messages -1\r\n\
             \tmax_queued_bytes -5 # comment\r\n\
             retain_available 0\r\n\
             connection_messages 1\r\n\
             password_file /etc/pw # users\r\n\
             log_dest file /var/log/with space.log\r\n\
               # an indented comment\r\n",
        );
        assert_eq!(config.limits.max_inflight_messages, 0);
        assert_eq!(config.limits.receive_maximum, 65535);
        assert_eq!(config.limits.max_queued_messages, 0);
        assert_eq!(config.limits.max_queued_bytes, 0);
        assert!(!config.limits.retain_available);
        assert!(config.log.connection_messages);
        // A string value is the rest of the line, as in mosquitto.
        assert_eq!(
            config.security.password_file,
            Some(PathBuf::from("/etc/pw # users"))
        );
        assert_eq!(
            config.log.dests,
            vec![LogDest::File(PathBuf::from("/var/log/with space.log"))]
        );
    }

    #[test]
    fn persistent_client_expiration_units() {
        for (value, seconds) in [
            ("60s", 60),
            ("1h", 3600),
            ("2d", 172_800),
            ("3w", 1_814_400),
            ("1m", 2_592_000),
            ("1y", 31_536_000),
        ] {
            let config = parse_ok(&format!(
                "listener 1883\npersistent_client_expiration {value}\n"
            ));
            assert_eq!(
                config.limits.persistent_client_expiration,
                Some(seconds),
                "{value}"
            );
        }
    }

    #[test]
    fn log_settings_accumulate_and_reset() {
        let config = parse_ok(
            "log_dest stderr\nlog_dest stdout\nlog_dest stderr\nlog_type debug\nlog_type notice\n",
        );
        assert_eq!(config.log.dests, vec![LogDest::Stderr, LogDest::Stdout]);
        assert_eq!(
            config.log.types,
            LogTypes {
                debug: true,
                notice: true,
                ..LogTypes::NONE
            }
        );
        let config = parse_ok("log_dest stdout\nlog_dest none\nlog_type all\n");
        assert!(config.log.dests.is_empty());
        assert_eq!(config.log.types, LogTypes::ALL);
        let config = parse_ok("log_type all\nlog_type none\nlog_type error\n");
        assert_eq!(
            config.log.types,
            LogTypes {
                error: true,
                ..LogTypes::NONE
            }
        );
        let e = parse_err("log_dest file /a\nlog_dest file /b\n");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn retry_interval_is_accepted_with_a_warning() {
        let config = parse_ok("listener 1883\nretry_interval 20\n");
        assert_eq!(config.warnings.len(), 1);
        assert!(config.warnings[0].starts_with("test.conf:2: retry_interval: "));
    }

    #[test]
    fn user_is_refused_as_root_and_ignored_otherwise() {
        let result = parse("listener 1883\nuser mosquitto\n");
        match running_as_root() {
            Some(false) => assert!(result.is_ok()),
            _ => {
                let e = result.expect_err("refused as root");
                assert_eq!((e.line, e.key.as_str()), (2, "user"));
            }
        }
    }

    #[test]
    fn include_dir_reads_conf_files_in_mosquitto_order() {
        let dir = temp_dir("include");
        let conf = dir.join("conf.d");
        fs::create_dir_all(&conf).expect("mkdir");
        // mosquitto's example order: 00.conf 01.conf A.conf a.conf B.conf b.conf.
        for (name, port) in [
            ("b.conf", 6),
            ("A.conf", 3),
            ("01.conf", 2),
            ("a.conf", 4),
            ("B.conf", 5),
            ("00.conf", 1),
        ] {
            fs::write(conf.join(name), format!("listener {port}\n")).expect("write");
        }
        fs::write(conf.join("README"), "not a config\n").expect("write");
        fs::write(conf.join("x.conf.bak"), "garbage\n").expect("write");
        fs::write(conf.join(".conf"), "garbage\n").expect("write");
        let main = dir.join("mosquitto.conf");
        fs::write(
            &main,
            format!("sys_interval 1\ninclude_dir {}\n", conf.display()),
        )
        .expect("write");
        let config = Config::load(&main).expect("load");
        let ports: Vec<_> = config.listeners.iter().map(|l| l.port).collect();
        assert_eq!(ports, [1, 2, 3, 4, 5, 6]);
        assert_eq!(config.path, Some(main.clone()));

        // An error in an included file names that file and its line.
        fs::write(conf.join("c.conf"), "# c\nbogus 1\n").expect("write");
        let e = Config::load(&main).expect_err("bogus");
        assert_eq!(
            (e.path.clone(), e.line, e.key.as_str()),
            (conf.join("c.conf"), 2, "bogus")
        );
        assert!(e
            .to_string()
            .starts_with(&format!("{}:2: bogus: ", conf.join("c.conf").display())));
        fs::remove_file(conf.join("c.conf")).expect("rm");

        // include_dir in an included file is refused (mosquitto skips it).
        fs::write(
            conf.join("c.conf"),
            format!("include_dir {}\n", conf.display()),
        )
        .expect("write");
        let e = Config::load(&main).expect_err("nested include");
        assert_eq!((e.line, e.key.as_str()), (1, "include_dir"));
        fs::remove_file(conf.join("c.conf")).expect("rm");

        // Each included file starts at the default listener.
        fs::write(conf.join("c.conf"), "max_connections 3\n").expect("write");
        let e = Config::load(&main).expect_err("default listener key");
        assert_eq!(
            (e.path.clone(), e.key.as_str()),
            (conf.join("c.conf"), "max_connections")
        );
        fs::remove_file(conf.join("c.conf")).expect("rm");

        // A missing directory.
        let e = parse_err("include_dir /nonexistent/libmqtt/conf.d\n");
        assert_eq!((e.line, e.key.as_str()), (1, "include_dir"));

        // The directory must not hold the main file.
        let inside = conf.join("main.conf");
        fs::write(&inside, format!("include_dir {}\n", conf.display())).expect("write");
        let e = Config::load(&inside).expect_err("self include");
        assert!(e.message.contains("main configuration file"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn load_reports_an_unreadable_file() {
        let e = Config::load(Path::new("/nonexistent/libmqtt.conf")).expect_err("missing");
        assert_eq!((e.line, e.key.as_str()), (0, ""));
        assert!(
            e.to_string()
                .starts_with("/nonexistent/libmqtt.conf: cannot read"),
            "{e}"
        );
        let e = Config::load(Path::new("/")).expect_err("dir");
        assert!(e.message.contains("directory"), "{e}");
    }

    /// Debian's shipped /etc/mosquitto/mosquitto.conf parses, persistence
    /// included (its `include_dir` holds only a README by default).
    #[test]
    fn debian_default_file_parses_with_its_persistence() {
        let path = Path::new("/etc/mosquitto/mosquitto.conf");
        let Ok(text) = fs::read_to_string(path) else {
            eprintln!("no {}: skipped", path.display());
            return;
        };
        let config = Config::parse(&text, path).expect("Debian's file parses");
        assert!(config.persistence.enabled);
        assert_eq!(
            config.persistence.path(),
            PathBuf::from("/var/lib/mosquitto/libmqtt.db")
        );
    }
}
