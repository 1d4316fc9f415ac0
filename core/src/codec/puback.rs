//! PUBACK (spec 3.4): acknowledges a QoS 1 PUBLISH.

use super::ack::publish_ack;

publish_ack! {
    /// A PUBACK packet (spec 3.4): acknowledges a QoS 1 PUBLISH.
    PubAck, PubAckRef, PubAck
}
