//! Connection-level state shared by the client and server roles.
//!
//! Both ends of an MQTT connection keep the same kinds of per-connection
//! state; it lives here once so that neither role writes its own:
//! [`InboundTopicAliases`] and [`OutboundTopicAliases`], the MQTT 5.0 Topic
//! Alias mappings of spec section 3.3.2.3.4; and (crate-private) the packet
//! identifier allocator and the QoS 2 PUBREL answer both roles use.

mod packet_ids;
mod qos2;
mod topic_alias;

pub(crate) use packet_ids::PacketIds;
pub(crate) use qos2::{answer_pubrel, HeldQos2};

pub use topic_alias::{
    InboundTopicAliases, OutboundAlias, OutboundTopicAliases, MAX_OUTBOUND_TOPIC_ALIASES,
};
