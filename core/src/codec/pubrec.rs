//! PUBREC (spec 3.5): first answer to a QoS 2 PUBLISH.

use super::ack::publish_ack;

publish_ack! {
    /// A PUBREC packet (spec 3.5): first answer to a QoS 2 PUBLISH.
    PubRec, PubRecRef, PubRec
}
