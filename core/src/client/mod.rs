//! The client role: a sans-IO MQTT 3.1, 3.1.1 and 5.0 client state machine.
//!
//! [`Client`] is one client session across any number of network
//! connections. It takes bytes received, commands and the current time,
//! and gives back bytes to send, [`Event`]s and its next deadline; see its
//! docs for the loop a driver runs. Everything it needs to be told is in
//! [`ClientOptions`], limits included.
//!
//! Errors come in two kinds, never mixed: a command the caller got wrong
//! is refused at once with a [`ClientError`] (nothing queued or sent); a
//! server that breaks a rule ends the connection with a DISCONNECT carrying
//! the reason code and an [`Event::Disconnected`] with a
//! [`ProtocolViolation`].
//!
//! Also here, pure helpers every driver needs: [`Backoff`] (the reconnect
//! delay for attempt *n*) and [`SessionState`] (the session as plain data
//! or bytes, to survive a restart).

mod backoff;
mod event;
mod machine;
mod options;
mod session;
mod stats;

pub use backoff::Backoff;
pub use event::{
    AckToken, ClientError, Connected, DisconnectReason, DropReason, Event, Message,
    ProtocolViolation, PublishId, Redirect,
};
pub use machine::{Client, ConnectionState};
pub use options::{
    ClientOptions, Leniency, QueueFullPolicy, SessionLostPolicy,
    EMPTY_CLIENT_ID_NEEDS_CLEAN_SESSION,
};
pub use session::{SessionState, StoredOutgoing, StoredQos2, Subscription};
pub use stats::Stats;
