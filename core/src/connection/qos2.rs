//! The receiving side of a QoS 2 exchange at PUBREL, the same for both
//! roles (spec 4.3.3).

use alloc::vec::Vec;

use crate::codec::{ProtocolVersion, PubComp, ReasonCode};

/// A QoS 2 message received and not yet released, as a role stores it.
pub(crate) trait HeldQos2 {
    /// Its packet identifier.
    fn packet_id(&self) -> u16;
    /// Whether our PUBREC for it went out.
    fn rec_sent(&self) -> bool;
}

/// Answers a PUBREL for `packet_id`: the PUBCOMP to send, with the message
/// forgotten; for an identifier not held (already released, our PUBCOMP
/// lost) PUBCOMP all the same, with 0x92 in 5.0 (spec 4.3.3). `None`
/// when the message is held but its PUBREC has not gone out: the peer
/// cannot have seen one, so the PUBREL is a protocol error.
///
/// With `sorted`, `held` is kept in packet identifier order (found by
/// binary search, removed in place); otherwise it is searched from the
/// start.
pub(crate) fn answer_pubrel<T: HeldQos2>(
    held: &mut Vec<T>,
    packet_id: u16,
    version: ProtocolVersion,
    sorted: bool,
) -> Option<PubComp> {
    let at = if sorted {
        held.binary_search_by_key(&packet_id, |q| q.packet_id())
            .ok()
    } else {
        held.iter().position(|q| q.packet_id() == packet_id)
    };
    match at {
        Some(i) if !held[i].rec_sent() => None,
        Some(i) => {
            if sorted {
                held.remove(i);
            } else {
                held.swap_remove(i);
            }
            Some(PubComp::new(packet_id))
        }
        None if version.is_v5() => {
            Some(PubComp::new(packet_id).with_reason_code(ReasonCode::PacketIdentifierNotFound))
        }
        None => Some(PubComp::new(packet_id)),
    }
}
