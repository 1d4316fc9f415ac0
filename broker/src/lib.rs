//! `libmqtt-broker`: an MQTT 3.1, 3.1.1 and 5.0 broker that reads a
//! mosquitto user's `mosquitto.conf`.
//!
//! Everything MQTT (sessions, routing, retained messages, wills, limits,
//! authentication decisions) is the sans-IO engine of `mqtt-core`
//! ([`mqtt_core::broker::Broker`]); this crate moves bytes and time for it:
//!
//! * [`config`]: the `mosquitto.conf` reader.
//! * [`password`]: mosquitto's password file (`$7$` PBKDF2-SHA512 and
//!   `$6$` SHA-512 hashes) and the `passwd` subcommand.

#![forbid(unsafe_code)]

pub mod config;
pub mod password;
