//! Who may connect, per listener: mosquitto's `password_file`,
//! `allow_anonymous`, `allow_zero_length_clientid` and
//! `use_identity_as_username`, as an [`Authenticator`] of the engine.
//!
//! The decisions follow mosquitto 2:
//!
//! * `use_identity_as_username`: the client certificate's Common Name is
//!   the User Name (set on the connection by the socket loop when the TLS
//!   handshake ends) and no password is checked; a client without a
//!   certificate is refused with 0x87 Not authorized.
//! * With a password file, a client giving a User Name must be listed and
//!   give the right password (else 0x86 Bad User Name or Password, 3.1.1
//!   return code 4); a listed user with an empty password must still send
//!   an empty Password.
//! * Without a password file, a User Name is accepted as given.
//! * A client giving no User Name is accepted only with `allow_anonymous
//!   true` (else 0x87 Not authorized, 3.1.1 return code 5).
//! * `max_keepalive` below 65535: a 3.1.1 client asking for a longer keep
//!   alive, or none, is refused with return code 2 (5.0 clients are given
//!   a Server Keep Alive instead).
//! * An empty Client Identifier is refused with 0x85 Client Identifier not
//!   valid (3.1.1 return code 2) with `allow_zero_length_clientid false`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use mqtt_core::broker::{AuthDecision, Authenticator, ConnectInfo, ConnectionId};
use mqtt_core::codec::ReasonCode;

use crate::password::PasswordFile;

/// The security settings of one listener (or of the whole broker).
#[derive(Debug, Clone)]
pub struct ListenerSecurity {
    /// The users and their hashed passwords (`password_file`).
    pub passwords: Option<PasswordFile>,
    /// `allow_anonymous`.
    pub allow_anonymous: bool,
    /// `allow_zero_length_clientid`.
    pub allow_zero_length_clientid: bool,
    /// `use_identity_as_username` (TLS listeners).
    pub use_identity_as_username: bool,
    /// `max_keepalive`: a 3.1.1 client asking for a longer keep alive (or
    /// none) is refused, as mosquitto does (5.0 clients are told a Server
    /// Keep Alive instead, by the engine).
    pub max_keepalive: u16,
}

impl ListenerSecurity {
    /// The decision for a CONNECT on a listener with these settings;
    /// `identified` tells whether the transport set the User Name from a
    /// client certificate.
    pub fn decide(&self, info: &ConnectInfo<'_>, identified: bool) -> AuthDecision {
        if info.authentication_method.is_some() {
            // No enhanced authentication method is configured [MQTT-4.12.0-1].
            return AuthDecision::Reject(ReasonCode::BadAuthenticationMethod);
        }
        let keep_alive = info.connect.keep_alive;
        if self.max_keepalive < u16::MAX
            && !info.protocol_version.is_v5()
            && (keep_alive == 0 || keep_alive > self.max_keepalive)
        {
            // 3.1.1 return code 2, Identifier rejected (mosquitto's answer).
            return AuthDecision::Reject(ReasonCode::ClientIdentifierNotValid);
        }
        if info.client_id.is_empty() && !self.allow_zero_length_clientid {
            return AuthDecision::Reject(ReasonCode::ClientIdentifierNotValid);
        }
        if self.use_identity_as_username {
            return if identified {
                AuthDecision::ACCEPT
            } else {
                AuthDecision::Reject(ReasonCode::NotAuthorized)
            };
        }
        match (info.username, &self.passwords) {
            (None, _) if self.allow_anonymous => AuthDecision::ACCEPT,
            (None, _) => AuthDecision::Reject(ReasonCode::NotAuthorized),
            (Some(_), None) => AuthDecision::ACCEPT,
            (Some(user), Some(file)) => match info.password {
                Some(password) if file.check(user, password) => AuthDecision::ACCEPT,
                _ => AuthDecision::Reject(ReasonCode::BadUserNameOrPassword),
            },
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Indexed by listener.
    listeners: Vec<ListenerSecurity>,
    /// Whether every listener is judged alike (the same settings, no
    /// certificate identities): connections are then not recorded, which
    /// saves a map entry per connection.
    uniform: bool,
    /// The listener of each connection.
    conn_listener: HashMap<ConnectionId, usize>,
    /// Connections whose User Name comes from their certificate.
    identified: HashSet<ConnectionId>,
}

/// The engine's [`Authenticator`]: each connection is judged by the
/// settings of the listener it came in on. Cloning shares the state, so
/// the socket loop keeps a handle to register connections and to reload
/// the password files on SIGHUP.
#[derive(Debug, Clone, Default)]
pub struct ListenerAuthenticator {
    state: Arc<Mutex<State>>,
}

impl ListenerAuthenticator {
    /// An authenticator over these settings, one per listener.
    pub fn new(listeners: Vec<ListenerSecurity>, uniform: bool) -> Self {
        let me = ListenerAuthenticator::default();
        me.reload(listeners, uniform);
        me
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps
        // inconsistent in a way that matters: carry on with them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the settings (SIGHUP). Connected clients stay. `uniform`:
    /// every listener has the same settings and none takes certificate
    /// identities, so which listener a connection came in on does not
    /// matter.
    pub fn reload(&self, listeners: Vec<ListenerSecurity>, uniform: bool) {
        let mut state = self.lock();
        state.listeners = listeners;
        state.uniform = uniform;
    }

    /// A connection accepted on listener `listener`.
    pub fn opened(&self, conn: ConnectionId, listener: usize) {
        let mut state = self.lock();
        if !state.uniform {
            state.conn_listener.insert(conn, listener);
        }
    }

    /// The connection's User Name was set from its client certificate.
    pub fn identified(&self, conn: ConnectionId) {
        self.lock().identified.insert(conn);
    }
}

impl ListenerAuthenticator {
    /// The connection ended.
    pub fn forget(&self, conn: ConnectionId) {
        let mut state = self.lock();
        if !state.uniform {
            state.conn_listener.remove(&conn);
            state.identified.remove(&conn);
        }
    }
}

impl Authenticator for ListenerAuthenticator {
    fn authenticate_connect(&mut self, info: &ConnectInfo<'_>) -> AuthDecision {
        let state = self.lock();
        let identified = state.identified.contains(&info.connection);
        let listener = if state.uniform {
            state.listeners.first()
        } else {
            state
                .conn_listener
                .get(&info.connection)
                .and_then(|&i| state.listeners.get(i))
        };
        match listener {
            Some(security) => security.decide(info, identified),
            None => AuthDecision::Reject(ReasonCode::NotAuthorized),
        }
    }

    fn connection_closed(&mut self, connection: ConnectionId) {
        self.forget(connection);
    }
}
