//! [`Error`]: why a command or a connection failed.

use mqtt_core::client::{ClientError, DisconnectReason, DropReason};
use mqtt_core::codec::{AckProperties, ConnAck, ReasonCode};

/// Why an operation of this crate failed.
///
/// Local misuse ([`Command`](Self::Command), [`WouldBlock`](Self::WouldBlock))
/// is kept apart from what the server or the network did
/// ([`ConnectRefused`](Self::ConnectRefused), [`PublishRefused`](Self::PublishRefused),
/// [`ConnectionLost`](Self::ConnectionLost), [`Io`](Self::Io)).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The first TCP connection could not be opened.
    Io(std::io::Error),
    /// TLS failed on the first connection: the server's certificate was
    /// not trusted or not for the server name, the server refused ours,
    /// a certificate or key could not be read (feature `tls`).
    #[cfg(feature = "tls")]
    Tls(crate::TlsError),
    /// The server refused the first connection in CONNACK (the reason
    /// code, a 3.1.1 return code mapped to its 5.0 equivalent).
    ConnectRefused(Box<ConnAck>),
    /// The first connection ended before CONNACK accepted it (timeout,
    /// transport closed, protocol violation).
    ConnectionLost(Box<DisconnectReason>),
    /// The core refused the command; nothing was queued or sent.
    Command(ClientError),
    /// The server refused the message: a PUBACK or PUBREC with a reason
    /// code of 0x80 or above.
    PublishRefused {
        /// The reason code.
        reason_code: ReasonCode,
        /// The acknowledgement's properties (5.0).
        properties: Box<AckProperties>,
    },
    /// The server refused the only filter of
    /// [`Client::subscribe`](crate::Client::subscribe) (a SUBACK reason
    /// code of 0x80 or above).
    SubscribeRefused(ReasonCode),
    /// The message was dropped before the server acknowledged it.
    PublishDropped(DropReason),
    /// [`Client::try_publish`](crate::Client::try_publish): the in-flight
    /// window and the queue are full; the message was not taken.
    WouldBlock,
    /// [`ConnectOptions::from_url`](crate::ConnectOptions::from_url): the
    /// URL is not one this crate can use (the reason).
    InvalidUrl(String),
    /// [`Client::request`](crate::Client::request): no response within
    /// the time given.
    Timeout,
    /// [`Client::respond`](crate::Client::respond) and
    /// [`response_to`](crate::response_to): the message has no Response
    /// Topic, so it is not a request.
    NotARequest,
    /// The client is closed: [`Client::disconnect`](crate::Client::disconnect)
    /// was called, every handle was dropped, or the connection was lost
    /// with reconnection off (the reason, when there is one).
    Closed(Option<Box<DisconnectReason>>),
}

impl Error {
    /// The error for a transport that failed to open or broke before
    /// CONNACK: [`Error::Tls`] when the `io::Error` carries a TLS failure
    /// (from [`TlsConnector`](crate::TlsConnector) or tokio-rustls),
    /// [`Error::Io`] otherwise.
    pub(crate) fn from_io(e: std::io::Error) -> Error {
        #[cfg(feature = "tls")]
        let e = match crate::TlsError::from_io(e) {
            Ok(tls) => return Error::Tls(tls),
            Err(e) => e,
        };
        Error::Io(e)
    }
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        Error::Command(e)
    }
}

impl From<mqtt_core::codec::Error> for Error {
    fn from(e: mqtt_core::codec::Error) -> Self {
        Error::Command(ClientError::Invalid(e))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "connection failed: {e}"),
            #[cfg(feature = "tls")]
            Error::Tls(e) => write!(f, "connection failed: {e}"),
            Error::ConnectRefused(c) => {
                write!(f, "the server refused the connection: {}", c.reason_code)
            }
            Error::ConnectionLost(r) => write!(f, "the connection ended before CONNACK: {r:?}"),
            Error::Command(e) => write!(f, "command refused: {e}"),
            Error::PublishRefused { reason_code, .. } => {
                write!(f, "the server refused the message: {reason_code}")
            }
            Error::SubscribeRefused(code) => {
                write!(f, "the server refused the subscription: {code}")
            }
            Error::PublishDropped(why) => write!(f, "the message was dropped: {why:?}"),
            Error::WouldBlock => f.write_str("the in-flight window and the queue are full"),
            Error::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            Error::Timeout => f.write_str("no response in time"),
            Error::NotARequest => f.write_str("the message has no Response Topic"),
            Error::Closed(None) => f.write_str("the client is closed"),
            Error::Closed(Some(r)) => write!(f, "the client is closed: {r:?}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            #[cfg(feature = "tls")]
            Error::Tls(e) => Some(e),
            Error::Command(e) => Some(e),
            _ => None,
        }
    }
}
