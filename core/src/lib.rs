//! # mqtt-core
//!
//! The sans-IO heart of libmqtt: an MQTT 3.1.1 and 5.0 protocol core (and
//! MQTT 3.1, `MQIsdp`, for older devices) with no sockets, no clocks, no
//! threads and no randomness inside.
//!
//! Everything here is a pure function of its inputs: bytes that arrived,
//! commands from the application and the current time (a number the caller
//! passes in). Outputs are bytes to send, events and the next deadline. That
//! makes every behaviour reproducible in a test, in virtual time, and lets the
//! same core run under Rust, C (`ffi-c/`) and Python (`py/`) drivers.
//!
//! ## Layers
//!
//! ```text
//!   bytes ──▶ codec ──▶ connection state machines ──▶ broker engine
//!             packets,   client, and the server          (later issue)
//!             properties, role's one connection
//!             reason codes, topics
//! ```
//!
//! * [`codec`]: every MQTT 3.1.1 and 5.0 control packet as typed structs,
//!   a streaming [`codec::Decoder`], strict validation whose errors carry the
//!   MQTT reason code, zero-copy decoding into [`bytes::Bytes`] slices, and an
//!   allocation-free path over borrowed slices ([`codec::PacketRef`]).
//! * [`topic`]: topic name and filter validation, matching, shared
//!   subscriptions and a subscription trie.
//! * [`connection`]: per-connection state both roles share (topic aliases).
//! * [`client`]: the client role, [`client::Client`]: one session across
//!   any number of connections, QoS 0/1/2 both ways, keep alive, offline
//!   queue, session resume, enhanced authentication, persistence; plus the
//!   reconnect [`client::Backoff`].
//! * [`broker`]: building blocks of the sans-IO broker engine (limits,
//!   retained messages, subscription routing, ACL, passwords).
//! * [`server`]: the server role, [`server::ServerConnection`]: one
//!   network connection of one client as the broker sees it: CONNECT and
//!   the application's decision, keep alive, QoS 0/1/2 both ways within
//!   both sides' limits, subscriptions answered by the application,
//!   enhanced authentication, the will, and the session handed between
//!   connections as [`server::ServerSession`].
//! * [`time`]: the one place the time type is defined.
//!
//! ## Example
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use mqtt_core::codec::{self, DecodeOptions, Packet, ProtocolVersion, Publish, QoS};
//!
//! // Encode a QoS 1 PUBLISH for MQTT 5.0 into a buffer we own.
//! let publish = Publish::new("sensors/kitchen/temp", Bytes::from_static(b"21.5"))
//!     .unwrap()
//!     .with_qos(QoS::AtLeastOnce, 7);
//! let mut buf = BytesMut::new();
//! Packet::Publish(publish.clone()).encode(ProtocolVersion::V5, &mut buf).unwrap();
//!
//! // Decode it back: the topic and payload are zero-copy slices of `bytes`.
//! let mut bytes = buf.freeze();
//! let options = DecodeOptions::new(ProtocolVersion::V5);
//! let packet = codec::decode(&mut bytes, &options).unwrap().expect("a whole packet");
//! assert_eq!(packet, Packet::Publish(publish));
//! assert!(bytes.is_empty());
//! ```
//!
//! ## Features
//!
//! * `std` (default): implements `std::error::Error` for the error types.
//!   Without it the crate needs only `core` and `alloc`.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod broker;
pub mod client;
pub mod codec;
pub mod connection;
pub mod server;
pub mod telemetry;
pub mod time;
pub mod topic;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
