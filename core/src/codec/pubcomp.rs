//! PUBCOMP (spec 3.7): completes QoS 2, answering PUBREL.

use super::ack::publish_ack;

publish_ack! {
    /// A PUBCOMP packet (spec 3.7): completes QoS 2, answering PUBREL.
    PubComp, PubCompRef, PubComp
}
