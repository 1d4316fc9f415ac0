//! PUBREL (spec 3.6): second step of QoS 2, answering PUBREC.

use super::ack::publish_ack;

publish_ack! {
    /// A PUBREL packet (spec 3.6): second step of QoS 2, answering PUBREC.
    PubRel, PubRelRef, PubRel
}
