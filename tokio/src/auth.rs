//! [`Authenticator`]: MQTT 5.0 enhanced authentication (§4.12), and the
//! parsing of a server's redirection.

use bytes::Bytes;
use mqtt_core::codec::{Auth, ReasonCode};

/// The client's side of an MQTT 5.0 enhanced authentication exchange
/// (SCRAM, Kerberos, a challenge-response of your own), given to
/// [`ConnectOptions::with_authenticator`](crate::ConnectOptions::with_authenticator).
///
/// The method and the first Authentication Data go in CONNECT from
/// [`ClientOptions::with_authentication`](mqtt_core::client::ClientOptions::with_authentication);
/// [`Client::reauthenticate`](crate::Client::reauthenticate) starts a
/// re-authentication. The connection task calls these methods, so they
/// must not block for long. Without an authenticator, a challenge from the
/// server ends the connection (DISCONNECT 0x80) and closes the client.
pub trait Authenticator: std::fmt::Debug + Send + Sync + 'static {
    /// The server sent AUTH with 0x18 Continue authentication (during the
    /// connection or a re-authentication): the Authentication Data to
    /// answer with. `Err(code)` gives up: the connection ends with a
    /// DISCONNECT carrying `code` and the client closes. `code` is one a
    /// client may send (0x80 Unspecified error, 0x83 Implementation
    /// specific error, ...); one only a server sends, such as 0x87 Not
    /// authorized, is replaced by 0x80.
    fn challenge(&self, auth: &Auth) -> Result<Option<Bytes>, ReasonCode>;

    /// The exchange succeeded (CONNACK, or AUTH 0x00 after a
    /// re-authentication) with the server's last Authentication Data, for
    /// a method that checks the server too. `Err(code)` ends the
    /// connection like in [`challenge`](Self::challenge). Does nothing by
    /// default.
    fn finished(&self, data: Option<&[u8]>) -> Result<(), ReasonCode> {
        let _ = data;
        Ok(())
    }
}

/// An authenticator shared with the application (to look at what it
/// learned, say).
impl<T: Authenticator> Authenticator for std::sync::Arc<T> {
    fn challenge(&self, auth: &Auth) -> Result<Option<Bytes>, ReasonCode> {
        (**self).challenge(auth)
    }

    fn finished(&self, data: Option<&[u8]>) -> Result<(), ReasonCode> {
        (**self).finished(data)
    }
}

/// The first address of a Server Reference (`host`, `host:port`,
/// `[v6]:port`; several are separated by spaces), with `default_port`
/// when it names none. `None` when it is empty or malformed.
pub(crate) fn parse_server_reference(reference: &str, default_port: u16) -> Option<(String, u16)> {
    let first = reference.split_whitespace().next()?;
    if let Some(v6) = first.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return (!host.is_empty()).then(|| (host.to_owned(), port));
    }
    let (host, port) = match first.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (first, default_port),
    };
    (!host.is_empty() && !host.contains(':')).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::parse_server_reference;

    #[test]
    fn a_server_reference_gives_its_first_address() {
        let p = |s| parse_server_reference(s, 1883);
        assert_eq!(p("broker.example"), Some(("broker.example".into(), 1883)));
        assert_eq!(p("10.0.0.2:8883 other:1"), Some(("10.0.0.2".into(), 8883)));
        assert_eq!(p("[fe80::1]:1884"), Some(("fe80::1".into(), 1884)));
        assert_eq!(p("[fe80::1]"), Some(("fe80::1".into(), 1883)));
        assert_eq!(p(""), None);
        assert_eq!(p("host:notaport"), None);
        assert_eq!(p(":1"), None);
    }
}
