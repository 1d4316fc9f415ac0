//! Adapters for the peer codecs from crates.io.
//!
//! | crate                | 3.1.1 | 5.0 | notes                                             |
//! |----------------------|-------|-----|---------------------------------------------------|
//! | `rumqttc`            | yes   | yes | `mqttbytes::v4`, `v5::mqttbytes::v5`              |
//! | `mqttrs`             | yes   | no  | 3.1.1 only; zero-copy decode, encodes into `&mut [u8]` |
//! | `mqtt-protocol`      | yes   | no  | 3.1.1 only; `std::io::Read`/`Write` based          |
//! | `mqtt-protocol-core` | yes   | yes | packets pre-serialize at build time; encode = gather |

pub mod mqtt_protocol;
pub mod mqtt_protocol_core;
pub mod mqttrs;
pub mod rumqttc;
