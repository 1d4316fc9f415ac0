//! The server role: one network connection of one client, seen from the
//! broker.
//!
//! [`ServerConnection`] is the mirror of [`Client`](crate::client::Client):
//! it takes bytes received, commands and the current time, and gives back
//! bytes to send, [`ServerEvent`]s and its next deadline. It enforces the
//! rules a server enforces (CONNECT first, keep alive at 1.5 times, our
//! Receive Maximum, Maximum QoS, Topic Alias Maximum, Maximum Packet Size,
//! subscription features) and respects the client's (its Receive Maximum,
//! Topic Alias Maximum and Maximum Packet Size). Routing, retained
//! messages and session storage belong to the broker above it: what must
//! outlive the network connection is handed over as a [`ServerSession`].
//!
//! Errors come in two kinds, never mixed: a command the caller got wrong
//! is refused at once with a [`ServerError`]; a client that breaks a rule
//! ends the connection with a DISCONNECT carrying the reason code (5.0)
//! and a [`ServerEvent::Disconnected`] with a [`ClientViolation`].

mod connection;
mod event;
mod options;

pub use connection::{ServerConnection, ServerState};
pub use event::{
    Accept, ClientViolation, CloseReason, DropReason, InflightDelivery, ServerError, ServerEvent,
    ServerSession,
};
pub use options::ServerOptions;
