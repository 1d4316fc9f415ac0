//! `libmqtt-broker`: an MQTT 3.1, 3.1.1 and 5.0 broker that reads a
//! mosquitto user's `mosquitto.conf`.
//!
//! Everything MQTT (sessions, routing, retained messages, wills, limits,
//! authentication decisions) is the sans-IO engine of `mqtt-core`
//! ([`mqtt_core::broker::Broker`]); this crate moves bytes and time for it:
//!
//! * [`config`]: the `mosquitto.conf` reader.
//! * [`setup`]: from the configuration to the engine's options and the
//!   listeners' security.
//! * [`password`]: mosquitto's password file (`$7$` PBKDF2-SHA512 and
//!   `$6$` SHA-512 hashes) and the `passwd` subcommand.
//! * [`auth`]: who may connect, per listener.
//! * [`tls`], [`transport`]: TLS (rustls) and WebSocket (tungstenite)
//!   layers, sans-IO too.
//! * [`server`]: the socket loop (mio), signals.
//! * [`store`]: the durable store (`persistence true`): an append-only
//!   file of the engine's records, restore and compaction.
//! * [`sys`]: the `$SYS` topics.
//! * [`mod@log`]: mosquitto's logging options.

#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod log;
pub mod password;
pub mod server;
pub mod setup;
pub mod store;
pub mod sys;
pub mod tls;
pub mod transport;
