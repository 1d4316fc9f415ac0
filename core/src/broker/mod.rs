//! The sans-IO broker engine (MQTT 3.1, 3.1.1 and 5.0) and its building blocks.
//!
//! The engine, [`Broker`] (many connections, sessions with offline queues
//! and message expiry, retained messages, wills, pluggable authentication
//! with MQTT 5.0 enhanced authentication and re-authentication, pluggable
//! authorization, fair output, every table bounded), is assembled from the
//! pieces here. Each piece is a
//! plain data structure: no I/O, no clock (time is an argument, see
//! [`crate::time`]), no randomness, and every one of them bounded by a
//! limit from [`BrokerLimits`], with refusals that name the MQTT reason code
//! the engine should send.
//!
//! * [`limits`]: [`BrokerLimits`], the configurable bounds and their
//!   defaults, and [`LimitExceeded`], a refusal mapped to a reason code.
//! * [`retained`]: [`RetainedStore`], retained messages in a trie over
//!   topic levels, looked up by topic filter, with message expiry.
//! * [`subscriptions`]: [`SubscriptionTable`], every client's
//!   subscriptions, and [`SubscriptionTable::route`], which turns a topic
//!   name into one [`Delivery`] per receiving client (overlapping
//!   subscriptions, No Local, shared subscriptions in round robin).
//! * [`acl`]: [`Acl`], a topic access control list in the text format of
//!   mosquitto's `acl_file`.
//! * [`auth`]: [`PasswordTable`], a plain username/password checker.
//! * [`hooks`]: [`Authenticator`], the embedder's answer to "may this
//!   client connect?" ([`AuthDecision`]: accept, reject, continue an
//!   enhanced authentication, or decide later), and
//!   [`PasswordAuthenticator`] over a [`PasswordTable`].
//! * [`engine`]: [`Broker`], the engine itself.
//! * [`stats`]: [`BrokerStats`], its counters (for `$SYS` and metrics).
//! * [`persist`]: [`Record`], the durable state as records a driver
//!   stores, and what [`Broker::restore`] reports.
//!
//! Clients are named by a [`ClientKey`], a small opaque number the engine
//! assigns per session, so that tables hold four bytes per reference
//! instead of a copy of the client identifier.

pub mod acl;
pub mod auth;
pub mod engine;
pub mod hooks;
pub mod limits;
pub mod persist;
pub mod retained;
pub mod stats;
pub mod subscriptions;

pub use acl::{Access, Acl, AclError, AclErrorKind, Authorizer};
pub use auth::{PasswordTable, PasswordTableError, PasswordTableErrorKind};
pub use engine::{Broker, BrokerOptions, ConnectionId};
pub use hooks::{
    AuthDecision, AuthInfo, Authenticator, CompleteAuthError, ConnectInfo, DefaultAuthenticator,
    PasswordAuthenticator,
};
pub use limits::{BrokerLimits, LimitExceeded, QueueFullPolicy};
pub use persist::{Record, RestoreError, RestoreReport};
pub use retained::{RetainError, RetainOutcome, RetainedMessage, RetainedStore};
pub use stats::BrokerStats;
pub use subscriptions::{
    ClientKey, Delivery, SubscribeError, SubscribeOutcome, Subscription, SubscriptionTable,
};
