//! The embedder's hooks into the broker engine: authentication
//! ([`Authenticator`], answering with an [`AuthDecision`]), including MQTT
//! 5.0 enhanced authentication and re-authentication (§4.12).
//! Authorization has its own trait, [`Authorizer`](super::Authorizer), in
//! [`acl`](super::acl).
//!
//! # The authentication exchange
//!
//! When a CONNECT arrives the engine calls
//! [`Authenticator::authenticate_connect`] with what the client presented
//! ([`ConnectInfo`]). The answer is one of:
//!
//! * [`AuthDecision::Accept`]: the connection is accepted (CONNACK 0x00;
//!   with enhanced authentication the CONNACK carries the Authentication
//!   Method and the final Authentication Data given here, [MQTT-4.12.0-5]).
//! * [`AuthDecision::Reject`]: CONNACK with the reason code (0x86 Bad User
//!   Name or Password, 0x87 Not authorized, 0x8C Bad authentication
//!   method, ...; in 3.1.1 the matching return code, or 3 Server
//!   unavailable), then the connection is closed [MQTT-4.12.0-1]
//!   [MQTT-4.12.0-4].
//! * [`AuthDecision::Continue`] (enhanced authentication only): AUTH 0x18
//!   Continue authentication with the given Authentication Data
//!   [MQTT-4.12.0-2]. The client's answer (AUTH 0x18, [MQTT-4.12.0-3])
//!   comes to [`Authenticator::authenticate_auth`], and so on until the
//!   hook accepts or rejects.
//! * [`AuthDecision::Pending`]: the hook decides later (an asynchronous
//!   lookup, a C or Python embedder answering from its own loop). The
//!   embedder then calls
//!   [`Broker::complete_authentication`](super::Broker::complete_authentication)
//!   with the decision. Meanwhile nothing else the client sends is
//!   handled, and the connect timeout
//!   ([`ServerOptions::connect_timeout`](crate::server::ServerOptions::connect_timeout))
//!   still applies.
//!
//! Re-authentication (5.0: AUTH 0x19 from a connected client that used
//! enhanced authentication, [MQTT-4.12.1-1]) goes to
//! [`Authenticator::authenticate_auth`] too, with
//! [`AuthInfo::reauthentication`] set: `Accept` sends AUTH 0x00 Success
//! (with the data given), `Continue` AUTH 0x18, `Reject` a DISCONNECT with
//! the reason code (0x87 Not authorized when the code is not allowed in a
//! DISCONNECT) and the connection is closed [MQTT-4.12.1-2]. The
//! connection keeps working during a re-authentication, and a
//! re-authentication left `Pending` has no deadline: until it is
//! completed the earlier authentication stands.
//!
//! Without an authenticator every CONNECT without an Authentication Method
//! is accepted, and one naming a method is refused with 0x8C
//! ([`DefaultAuthenticator`]). [`PasswordAuthenticator`] checks a
//! [`PasswordTable`]; it is what
//! [`BrokerOptions::passwords`](super::BrokerOptions::passwords) installs.

use bytes::Bytes;

use crate::codec::{Connect, ProtocolVersion, ReasonCode};

use super::{ConnectionId, PasswordTable};

/// The answer of an [`Authenticator`]; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthDecision {
    /// Authenticated. The data (enhanced authentication only) goes in the
    /// CONNACK's, or the re-authentication's AUTH 0x00's, Authentication
    /// Data; it is ignored when the CONNECT named no method.
    Accept(Option<Bytes>),
    /// Refused with this reason code: at connect in the CONNACK (a code
    /// that is not an error allowed there becomes 0x80 Unspecified error;
    /// 3.1.1 gets the matching return code, or 3 Server unavailable), at
    /// re-authentication in a DISCONNECT (a code not allowed there
    /// becomes 0x87 Not authorized).
    Reject(ReasonCode),
    /// Enhanced authentication goes on: AUTH 0x18 with this
    /// Authentication Data. Refused with 0x8C when the CONNECT named no
    /// Authentication Method [MQTT-4.12.0-6].
    Continue(Option<Bytes>),
    /// The decision comes later, through
    /// [`Broker::complete_authentication`](super::Broker::complete_authentication).
    Pending,
}

impl AuthDecision {
    /// [`AuthDecision::Accept`] without Authentication Data.
    pub const ACCEPT: AuthDecision = AuthDecision::Accept(None);
}

/// What a client presented in CONNECT, for
/// [`Authenticator::authenticate_connect`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ConnectInfo<'a> {
    /// The connection, to answer later with
    /// [`Broker::complete_authentication`](super::Broker::complete_authentication).
    pub connection: ConnectionId,
    /// The protocol version of the CONNECT.
    pub protocol_version: ProtocolVersion,
    /// The Client Identifier as sent (empty when the broker will assign
    /// one).
    pub client_id: &'a str,
    /// The User Name, if any.
    pub username: Option<&'a str>,
    /// The Password, if any.
    pub password: Option<&'a [u8]>,
    /// The Authentication Method (5.0), if any: enhanced authentication.
    pub authentication_method: Option<&'a str>,
    /// The Authentication Data (5.0), if any.
    pub authentication_data: Option<&'a [u8]>,
    /// The whole CONNECT (will, user properties, ...).
    pub connect: &'a Connect,
}

/// An AUTH packet from a client, for [`Authenticator::authenticate_auth`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AuthInfo<'a> {
    /// The connection.
    pub connection: ConnectionId,
    /// The client identifier (as in CONNECT while connecting; the one in
    /// use, assigned or not, once connected).
    pub client_id: &'a str,
    /// The User Name of the CONNECT, if any.
    pub username: Option<&'a str>,
    /// The Authentication Method (the one of the CONNECT [MQTT-4.12.0-5]).
    pub authentication_method: &'a str,
    /// The Authentication Data, if any.
    pub authentication_data: Option<&'a [u8]>,
    /// The AUTH's reason code: 0x18 Continue authentication, or 0x19
    /// Re-authenticate at the start of a re-authentication.
    pub reason_code: ReasonCode,
    /// Whether this is part of a re-authentication of a connected client
    /// (else of the connect).
    pub reauthentication: bool,
}

/// Decides who may connect: the Rust form of the engine's authentication
/// question (see the [module docs](self)). Install one with
/// [`Broker::set_authenticator`](super::Broker::set_authenticator).
pub trait Authenticator {
    /// A CONNECT arrived.
    fn authenticate_connect(&mut self, info: &ConnectInfo<'_>) -> AuthDecision;

    /// An AUTH arrived, continuing an exchange started with
    /// [`AuthDecision::Continue`] or starting a re-authentication. The
    /// default refuses with 0x8C Bad authentication method (for
    /// authenticators without enhanced authentication, which never reach
    /// here from a connect).
    fn authenticate_auth(&mut self, info: &AuthInfo<'_>) -> AuthDecision {
        let _ = info;
        AuthDecision::Reject(ReasonCode::BadAuthenticationMethod)
    }

    /// The connection ended: forget any exchange under way for it. The
    /// default does nothing.
    fn connection_closed(&mut self, connection: ConnectionId) {
        let _ = connection;
    }
}

/// The authenticator of a broker given none: every CONNECT is accepted,
/// except one naming an Authentication Method, refused with 0x8C Bad
/// authentication method [MQTT-4.12.0-1].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultAuthenticator;

impl Authenticator for DefaultAuthenticator {
    fn authenticate_connect(&mut self, info: &ConnectInfo<'_>) -> AuthDecision {
        if info.authentication_method.is_some() {
            AuthDecision::Reject(ReasonCode::BadAuthenticationMethod)
        } else {
            AuthDecision::ACCEPT
        }
    }
}

/// Username and password authentication with a [`PasswordTable`]: a
/// client giving a User Name must give its password, even one listed as
/// empty (no Password is not an empty one; else 0x86 Bad User Name or
/// Password); a client without one is accepted only when
/// [`allow_anonymous`](Self::allow_anonymous) is set (else 0x87 Not
/// authorized). A CONNECT naming an Authentication Method is refused with
/// 0x8C.
///
/// ```
/// use mqtt_core::broker::{PasswordAuthenticator, PasswordTable};
/// let table = PasswordTable::parse("alice:secret\n").unwrap();
/// let auth = PasswordAuthenticator::new(table, false);
/// assert!(auth.check(Some("alice"), Some(b"secret")).is_ok());
/// assert!(auth.check(None, None).is_err());
/// let guest = PasswordAuthenticator::new(PasswordTable::parse("guest:\n").unwrap(), false);
/// assert!(guest.check(Some("guest"), Some(b"")).is_ok());
/// assert!(guest.check(Some("guest"), None).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordAuthenticator {
    /// The users and their passwords.
    pub table: PasswordTable,
    /// Whether clients without a User Name are accepted.
    pub allow_anonymous: bool,
}

impl PasswordAuthenticator {
    /// Checks against `table`, accepting anonymous clients when
    /// `allow_anonymous` is set.
    pub fn new(table: PasswordTable, allow_anonymous: bool) -> Self {
        PasswordAuthenticator {
            table,
            allow_anonymous,
        }
    }

    /// The decision for these credentials: `Ok` or the reason code to
    /// refuse with.
    pub fn check(&self, username: Option<&str>, password: Option<&[u8]>) -> Result<(), ReasonCode> {
        match (username, password) {
            // A listed password, even an empty one, must be presented: no
            // Password is not an empty one.
            (Some(user), Some(password)) if self.table.check(user, password) => Ok(()),
            (Some(_), _) => Err(ReasonCode::BadUserNameOrPassword),
            (None, _) if self.allow_anonymous => Ok(()),
            (None, _) => Err(ReasonCode::NotAuthorized),
        }
    }
}

impl Authenticator for PasswordAuthenticator {
    fn authenticate_connect(&mut self, info: &ConnectInfo<'_>) -> AuthDecision {
        if info.authentication_method.is_some() {
            return AuthDecision::Reject(ReasonCode::BadAuthenticationMethod);
        }
        match self.check(info.username, info.password) {
            Ok(()) => AuthDecision::ACCEPT,
            Err(code) => AuthDecision::Reject(code),
        }
    }
}

/// Why [`Broker::complete_authentication`](super::Broker::complete_authentication)
/// did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompleteAuthError {
    /// The connection is unknown or has ended (its connect timeout may
    /// have passed).
    UnknownConnection,
    /// No decision is pending on this connection.
    NotPending,
}

impl core::fmt::Display for CompleteAuthError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CompleteAuthError::UnknownConnection => "unknown or closed connection",
            CompleteAuthError::NotPending => "no authentication decision pending",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CompleteAuthError {}
