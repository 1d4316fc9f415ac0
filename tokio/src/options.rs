//! [`ConnectOptions`]: where to connect and how the connection is kept.

use std::time::Duration;

use mqtt_core::client::{Backoff, ClientOptions};
use mqtt_core::codec::ProtocolVersion;

use crate::Error;

/// Everything [`connect`](crate::connect) needs: the server's address, the
/// core's [`ClientOptions`] (protocol version, client id, keep alive,
/// session, limits), and this crate's settings (reconnection, the incoming
/// message buffer, the TCP connect timeout).
///
/// ```
/// use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion};
/// let client = ClientOptions::new(ProtocolVersion::V5, "sensor-7").unwrap().with_keep_alive(30);
/// let options = ConnectOptions::new("127.0.0.1", 1883, client).with_message_capacity(256);
/// assert!(options.reconnect.is_some());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The server's host name or address.
    pub host: String,
    /// The server's TCP port.
    pub port: u16,
    /// The protocol client's options.
    pub client: ClientOptions,
    /// How long to wait between reconnect attempts (the core's backoff
    /// with jitter); `None` ends the client when the connection is lost.
    /// The first connection is never retried: its failure is
    /// [`connect`](crate::connect)'s error.
    pub reconnect: Option<Backoff>,
    /// How long opening the TCP connection may take.
    pub tcp_connect_timeout: Duration,
    /// Incoming messages buffered for the [`Messages`](crate::Messages)
    /// stream; when it is full the connection stops reading from the
    /// server until the application reads (backpressure, never an
    /// unbounded queue).
    pub message_capacity: usize,
    /// The client's side of MQTT 5.0 enhanced authentication, when
    /// [`ClientOptions::authentication_method`] is set; without one, an
    /// AUTH challenge from the server ends the connection.
    pub authenticator: Option<std::sync::Arc<dyn crate::Authenticator>>,
    /// Follow a server's redirection (5.0 reason 0x9C Use another server
    /// or 0x9D Server moved with a Server Reference, in CONNACK or
    /// DISCONNECT). Off by default. Only [`connect`](crate::connect)'s TCP
    /// (or TLS) connections follow (to the reference's host and port); with
    /// [`connect_with`](crate::connect_with) the redirection is only
    /// reported ([`Status::Disconnected`](crate::Status::Disconnected),
    /// `DisconnectReason::redirect`). 0x9D replaces the server for every
    /// later connection; 0x9C is used for the next one only.
    pub follow_redirects: bool,
    /// A session saved by [`Client::export_session`](crate::Client::export_session)
    /// (in this process or an earlier one, through
    /// [`SessionState::to_bytes`](mqtt_core::client::SessionState::to_bytes)),
    /// restored before the first CONNECT.
    pub session: Option<mqtt_core::client::SessionState>,
    /// TLS over the TCP connection ([`with_tls`](Self::with_tls)); `None`
    /// for plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::TlsOptions>,
    /// MQTT over WebSocket on the TCP connection (feature `websocket`):
    /// the path, headers and limits of the upgrade; `None`: plain MQTT.
    #[cfg(feature = "websocket")]
    pub websocket: Option<crate::WebSocketOptions>,
    /// OpenTelemetry spans, metrics and trace context propagation
    /// (feature `opentelemetry`, [`with_telemetry`](Self::with_telemetry));
    /// `None`, the default: off.
    #[cfg(feature = "opentelemetry")]
    pub telemetry: Option<crate::Telemetry>,
}

impl ConnectOptions {
    /// Options for `host:port` with the defaults: reconnection with
    /// [`Backoff::default`] (1 s doubling to 1 min), 10 s TCP connect
    /// timeout, 1,024 buffered messages.
    pub fn new(host: impl Into<String>, port: u16, client: ClientOptions) -> Self {
        ConnectOptions {
            host: host.into(),
            port,
            client,
            reconnect: Some(Backoff::default()),
            tcp_connect_timeout: Duration::from_secs(10),
            message_capacity: 1024,
            authenticator: None,
            follow_redirects: false,
            session: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "websocket")]
            websocket: None,
            #[cfg(feature = "opentelemetry")]
            telemetry: None,
        }
    }

    /// Instruments the client with OpenTelemetry (feature
    /// `opentelemetry`): a PRODUCER span per publish with its context in
    /// the message, a CONSUMER span per received message, and the
    /// messaging metrics; see [`Telemetry`](crate::Telemetry).
    #[cfg(feature = "opentelemetry")]
    pub fn with_telemetry(mut self, telemetry: crate::Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Runs TLS over the TCP connection with these options (feature
    /// `tls`); MQTT over TLS usually listens on port 8883.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Options from a URL, as rumqttc's `MqttOptions::parse_url` users
    /// write them:
    /// `mqtt://[user[:password]@]host[:port][/][?client_id=ID&keep_alive=S&version=5|3.1.1&clean_start=true|false]`.
    ///
    /// `tcp://` is a synonym of `mqtt://`; the port defaults to 1883; user
    /// and password may be percent-encoded; an IPv6 address goes in
    /// brackets. The version defaults to 5.0 and the client id to empty (the
    /// server assigns one).
    ///
    /// `mqtts://` and its synonym `ssl://` (feature `tls`) mean TLS, port
    /// 8883 by default, with [`TlsOptions::new`](crate::TlsOptions::new):
    /// the server's certificate must chain to one of the platform's root
    /// certificates and be valid for the host. For a private CA or a client
    /// certificate, replace it: `options.with_tls(TlsOptions::new().with_ca_file(..))`.
    ///
    /// With the `websocket` feature, `ws://host[:port][/path][?query]` is
    /// MQTT over WebSocket: the port defaults to 80, the path is the
    /// request's (`/mqtt` when there is none), the query is read as above.
    /// Without the feature a `ws://` URL is an [`Error::InvalidUrl`] that
    /// says to enable it. `wss://` (features `websocket` and `tls`) is MQTT
    /// over WebSocket over TLS, port 443 by default, with the path as for
    /// `ws://` and [`TlsOptions::new`](crate::TlsOptions::new) as for
    /// `mqtts://` (replace it with `with_tls` for a private CA).
    ///
    /// ```
    /// use mqtt_tokio::{ConnectOptions, ProtocolVersion};
    /// let o = ConnectOptions::from_url("mqtt://ann:s%40cret@broker.example:1884?client_id=dev-1&version=3.1.1")
    ///     .unwrap();
    /// assert_eq!((o.host.as_str(), o.port), ("broker.example", 1884));
    /// assert_eq!(o.client.version, ProtocolVersion::V311);
    /// assert_eq!(o.client.password.as_deref(), Some(&b"s@cret"[..]));
    /// ```
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidUrl(format!("{why}: {url}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "mqtt" | "tcp" => 1883,
            #[cfg(feature = "tls")]
            "mqtts" | "ssl" => 8883,
            #[cfg(not(feature = "tls"))]
            "mqtts" | "ssl" => return Err(bad("TLS needs the feature `tls`")),
            #[cfg(feature = "websocket")]
            "ws" => 80,
            #[cfg(not(feature = "websocket"))]
            "ws" => return Err(bad("ws:// needs the feature `websocket`")),
            #[cfg(all(feature = "websocket", feature = "tls"))]
            "wss" => 443,
            #[cfg(not(all(feature = "websocket", feature = "tls")))]
            "wss" => return Err(bad("wss:// needs the features `websocket` and `tls`")),
            _ => return Err(bad("unknown scheme")),
        };
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, q),
            None => (rest, ""),
        };
        let websocket = scheme == "ws" || scheme == "wss";
        let (authority, path) = authority.split_at(authority.find('/').unwrap_or(authority.len()));
        if !websocket && path.len() > 1 {
            return Err(bad("a path is not used by MQTT over TCP"));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("text after the IPv6 address")),
            };
            (host, port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("invalid port"))?,
            None => default_port,
        };
        let mut version = ProtocolVersion::V5;
        let mut client_id = String::new();
        let mut keep_alive = None;
        let mut clean_start = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value).ok_or_else(|| bad("bad percent-encoding"))?;
            let value = String::from_utf8(value).map_err(|_| bad("a query value is not UTF-8"))?;
            match key {
                "client_id" => client_id = value,
                "keep_alive" => keep_alive = Some(value.parse().map_err(|_| bad("keep_alive"))?),
                "clean_start" | "clean_session" => {
                    clean_start = Some(value.parse().map_err(|_| bad("clean_start"))?)
                }
                "version" => {
                    version = match value.as_str() {
                        "5" | "5.0" => ProtocolVersion::V5,
                        "3.1.1" | "4" | "311" => ProtocolVersion::V311,
                        _ => return Err(bad("version is 5 or 3.1.1")),
                    }
                }
                _ => return Err(bad(&format!("unknown query parameter {key}"))),
            }
        }
        let mut client = ClientOptions::new(version, &client_id)?;
        if let Some(k) = keep_alive {
            client = client.with_keep_alive(k);
        }
        if let Some(c) = clean_start {
            client = client.with_clean_start(c);
        }
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            let user = percent_decode(user).ok_or_else(|| bad("bad percent-encoding"))?;
            let user = String::from_utf8(user).map_err(|_| bad("the user name is not UTF-8"))?;
            client = client.with_username(&user)?;
            if let Some(p) = password {
                let p = percent_decode(p).ok_or_else(|| bad("bad percent-encoding"))?;
                client = client.with_password(p);
            }
        }
        let options = ConnectOptions::new(host, port, client);
        #[cfg(feature = "tls")]
        let options = if default_port == 8883 || scheme == "wss" {
            options.with_tls(crate::TlsOptions::new())
        } else {
            options
        };
        #[cfg(feature = "websocket")]
        if websocket {
            return Ok(options.with_websocket(crate::WebSocketOptions::new(path)));
        }
        let _ = path; // only a ws:// URL's path is used
        Ok(options)
    }

    /// Runs MQTT over WebSocket on the TCP connection (feature
    /// `websocket`), with these options (the path, headers, handshake
    /// timeout, size limit); `connect` then opens a
    /// [`WsConnector`](crate::WsConnector) over TCP, or over TLS (`wss`)
    /// when [`tls`](Self::tls) is set too.
    ///
    /// ```
    /// use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, WebSocketOptions};
    /// let client = ClientOptions::new(ProtocolVersion::V5, "dev-1").unwrap();
    /// let options = ConnectOptions::new("127.0.0.1", 8080, client)
    ///     .with_websocket(WebSocketOptions::new("/mqtt"));
    /// assert_eq!(options.websocket.unwrap().path, "/mqtt");
    /// ```
    #[cfg(feature = "websocket")]
    pub fn with_websocket(mut self, websocket: crate::WebSocketOptions) -> Self {
        self.websocket = Some(websocket);
        self
    }

    /// Sets the reconnect backoff (`None`: no reconnection).
    pub fn with_reconnect(mut self, backoff: Option<Backoff>) -> Self {
        self.reconnect = backoff;
        self
    }

    /// Sets the TCP connect timeout.
    pub fn with_tcp_connect_timeout(mut self, timeout: Duration) -> Self {
        self.tcp_connect_timeout = timeout;
        self
    }

    /// Sets the [`Authenticator`](crate::Authenticator) that answers the
    /// server's AUTH challenges (MQTT 5.0 enhanced authentication).
    pub fn with_authenticator(mut self, authenticator: impl crate::Authenticator) -> Self {
        self.authenticator = Some(std::sync::Arc::new(authenticator));
        self
    }

    /// Follows the server's redirections (see
    /// [`follow_redirects`](Self::follow_redirects)).
    pub fn with_follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = follow;
        self
    }

    /// Restores `session` (from [`Client::export_session`](crate::Client::export_session))
    /// before the first CONNECT: what was queued and in flight is sent
    /// again (in flight with DUP when the server resumes the session),
    /// QoS 2 messages received and not released stay deduplicated. For the
    /// server to resume its side too, keep
    /// [`ClientOptions::clean_start`] false and, in 5.0, a Session Expiry
    /// Interval that outlasts the restart.
    pub fn with_session(mut self, session: mqtt_core::client::SessionState) -> Self {
        self.session = Some(session);
        self
    }

    /// Sets how many incoming messages are buffered (at least 1).
    pub fn with_message_capacity(mut self, capacity: usize) -> Self {
        self.message_capacity = capacity.max(1);
        self
    }
}

/// Decodes `%XX` escapes; `None` for a malformed one.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_url_gives_host_port_and_defaults() {
        let o = ConnectOptions::from_url("mqtt://127.0.0.1").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 1883));
        assert_eq!(o.client.version, ProtocolVersion::V5);
        assert!(o.client.client_id.is_empty());
        assert_eq!(o.client.username, None);
        let o =
            ConnectOptions::from_url("tcp://h:1/?client_id=a%2Fb&keep_alive=5&clean_start=false")
                .unwrap();
        assert_eq!(o.port, 1);
        assert_eq!(o.client.client_id.as_str(), "a/b");
        assert_eq!(o.client.keep_alive, 5);
        assert!(!o.client.clean_start);
    }

    #[test]
    fn user_password_and_ipv6_are_parsed() {
        let o = ConnectOptions::from_url("mqtt://u%3Ax:p:w@[::1]:1884").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 1884));
        assert_eq!(o.client.username.as_ref().map(|u| u.as_str()), Some("u:x"));
        assert_eq!(o.client.password.as_deref(), Some(&b"p:w"[..]));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn mqtts_and_ssl_urls_mean_tls_on_port_8883() {
        for url in [
            "mqtts://broker.example",
            "SSL://broker.example/",
            "mqtts://broker.example:8883",
        ] {
            let o = ConnectOptions::from_url(url).unwrap();
            assert_eq!((o.host.as_str(), o.port), ("broker.example", 8883), "{url}");
            assert!(o.tls.is_some(), "{url}");
        }
        let o =
            ConnectOptions::from_url("mqtts://u:p@[::1]:18883?client_id=c&version=3.1.1").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 18883));
        assert_eq!(o.client.version, ProtocolVersion::V311);
        assert!(o.tls.is_some());
        for url in ["mqtt://h", "tcp://h:8883"] {
            assert!(
                ConnectOptions::from_url(url).unwrap().tls.is_none(),
                "{url}"
            );
        }
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn mqtts_without_the_tls_feature_is_an_invalid_url() {
        assert!(matches!(
            ConnectOptions::from_url("mqtts://h"),
            Err(Error::InvalidUrl(_))
        ));
    }

    #[test]
    fn unsupported_or_malformed_urls_are_invalid_url_errors() {
        for url in [
            "broker:1883",
            "http://h",
            "mqtts://",
            "ssl://h:port",
            "wss://h:port/mqtt",
            "mqtt://",
            "mqtt://h:port",
            "mqtt://h:70000",
            "mqtt://h/path",
            "tcp://h/mqtt",
            "mqtt://[::1",
            "mqtt://h?x=1",
            "mqtt://h?version=6",
            "mqtt://h?client_id=%zz",
        ] {
            assert!(
                matches!(ConnectOptions::from_url(url), Err(Error::InvalidUrl(_))),
                "{url}"
            );
        }
    }

    #[cfg(not(all(feature = "websocket", feature = "tls")))]
    #[test]
    fn wss_without_both_features_says_which_it_needs() {
        let Err(Error::InvalidUrl(why)) = ConnectOptions::from_url("wss://h:443/mqtt") else {
            panic!("wss:// needs websocket and tls");
        };
        assert!(why.contains("`websocket` and `tls`"), "{why}");
    }

    #[cfg(all(feature = "websocket", feature = "tls"))]
    #[test]
    fn wss_urls_mean_websocket_over_tls_on_port_443() {
        let o = ConnectOptions::from_url("WSS://broker.example").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("broker.example", 443));
        assert_eq!(o.websocket.as_ref().map(|w| w.path.as_str()), Some("/mqtt"));
        assert!(o.tls.is_some());
        let o = ConnectOptions::from_url("wss://h:8443/ws?client_id=c").unwrap();
        assert_eq!(o.port, 8443);
        assert_eq!(o.websocket.as_ref().map(|w| w.path.as_str()), Some("/ws"));
        assert!(ConnectOptions::from_url("ws://h").unwrap().tls.is_none());
    }

    #[cfg(not(feature = "websocket"))]
    #[test]
    fn ws_without_the_feature_says_to_enable_it() {
        let Err(Error::InvalidUrl(why)) = ConnectOptions::from_url("ws://h/mqtt") else {
            panic!("ws:// needs the feature");
        };
        assert!(why.contains("feature `websocket`"), "{why}");
    }

    #[cfg(feature = "websocket")]
    #[test]
    fn ws_urls_give_port_80_and_the_path() {
        let o = ConnectOptions::from_url("ws://h").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("h", 80));
        assert_eq!(o.websocket.as_ref().map(|w| w.path.as_str()), Some("/mqtt"));
        let o = ConnectOptions::from_url("WS://u:p@[::1]:8080/ws/mqtt?client_id=c&version=3.1.1")
            .unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 8080));
        assert_eq!(
            o.websocket.as_ref().map(|w| w.path.as_str()),
            Some("/ws/mqtt")
        );
        assert_eq!(o.client.client_id.as_str(), "c");
        assert_eq!(o.client.version, ProtocolVersion::V311);
        assert_eq!(o.client.password.as_deref(), Some(&b"p"[..]));
        let o = ConnectOptions::from_url("ws://h:9/?keep_alive=7").unwrap();
        assert_eq!(o.websocket.as_ref().map(|w| w.path.as_str()), Some("/"));
        assert_eq!(o.client.keep_alive, 7);
        let o = ConnectOptions::from_url("mqtt://h").unwrap();
        assert!(o.websocket.is_none());
    }
}
