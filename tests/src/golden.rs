//! Golden byte vectors for every MQTT control packet in every version,
//! derived by hand from the specifications' field layouts, from the
//! smallest legal form to forms with every optional part. Each is in the
//! encoder's canonical form (properties in the order our property structs
//! declare them), so decoding and re-encoding must give the same bytes.

use mqtt_core::codec::{PacketType, ProtocolVersion};

/// One golden vector.
#[derive(Debug, Clone, Copy)]
pub struct Golden {
    /// A unique name, also the seed corpus file name.
    pub name: &'static str,
    /// The protocol version of the connection.
    pub version: ProtocolVersion,
    /// The packet type it must decode to.
    pub packet_type: PacketType,
    /// The bytes, as hex.
    pub hex: &'static str,
}

const V31: ProtocolVersion = ProtocolVersion::V31;
const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

macro_rules! golden {
    ($( $name:literal, $v:ident, $t:ident, $hex:literal; )*) => {
        /// Every golden vector.
        pub const GOLDEN: &[Golden] = &[
            $( Golden { name: $name, version: $v, packet_type: PacketType::$t, hex: $hex }, )*
        ];
    };
}

golden! {
    // ---- MQTT 3.1.1 ----
    // CONNECT, empty client id, clean session, keep alive 60.
    "v311_connect_min", V3, Connect, "10 0C 00 04 4D 51 54 54 04 02 00 3C 00 00";
    // CONNECT with will (QoS 1, retain), user name and password.
    "v311_connect_full", V3, Connect, "10 1F 00 04 4D 51 54 54 04 EE 00 0A 00 02 63 31 00 03 77 2F 74 00 03 62 79 65 00 01 75 00 02 70 77";
    "v311_connack_accepted", V3, ConnAck, "20 02 00 00";
    "v311_connack_session_present", V3, ConnAck, "20 02 01 00";
    "v311_connack_not_authorized", V3, ConnAck, "20 02 00 05";
    "v311_publish_qos0", V3, Publish, "30 07 00 03 61 2F 62 68 69";
    "v311_publish_qos0_empty_payload", V3, Publish, "30 05 00 03 61 2F 62";
    "v311_publish_qos1", V3, Publish, "32 09 00 03 61 2F 62 00 0A 68 69";
    "v311_publish_qos2_dup_retain", V3, Publish, "3D 09 00 03 61 2F 62 00 0B 68 69";
    "v311_puback", V3, PubAck, "40 02 00 0A";
    "v311_pubrec", V3, PubRec, "50 02 00 0A";
    "v311_pubrel", V3, PubRel, "62 02 00 0A";
    "v311_pubcomp", V3, PubComp, "70 02 00 0A";
    "v311_subscribe_one", V3, Subscribe, "82 08 00 01 00 03 61 2F 23 01";
    "v311_subscribe_two", V3, Subscribe, "82 0E 00 02 00 03 61 2F 62 00 00 03 63 2F 2B 02";
    "v311_suback", V3, SubAck, "90 05 00 02 00 02 80";
    "v311_unsubscribe", V3, Unsubscribe, "A2 07 00 03 00 03 61 2F 62";
    "v311_unsuback", V3, UnsubAck, "B0 02 00 03";
    "v311_pingreq", V3, PingReq, "C0 00";
    "v311_pingresp", V3, PingResp, "D0 00";
    "v311_disconnect", V3, Disconnect, "E0 00";

    // ---- MQTT 3.1 (IBM's specification: "MQIsdp", level 3) ----
    // CONNECT, client id "c" (3.1 needs 1 to 23 characters), clean session.
    "v31_connect_min", V31, Connect, "10 0F 00 06 4D 51 49 73 64 70 03 02 00 3C 00 01 63";
    // CONNECT with will (QoS 2, retain), user name and password.
    "v31_connect_full", V31, Connect, "10 21 00 06 4D 51 49 73 64 70 03 F4 01 2C 00 02 63 31 00 03 77 2F 74 00 03 62 79 65 00 01 75 00 02 70 77";
    // CONNACK: first byte reserved (no Session Present), return codes 0-5.
    "v31_connack_accepted", V31, ConnAck, "20 02 00 00";
    "v31_connack_identifier_rejected", V31, ConnAck, "20 02 00 02";
    "v31_publish_qos1_retain", V31, Publish, "33 09 00 03 61 2F 62 00 0A 68 69";
    "v31_puback", V31, PubAck, "40 02 00 0A";
    "v31_pubrec", V31, PubRec, "50 02 00 0A";
    "v31_pubrel", V31, PubRel, "62 02 00 0A";
    "v31_pubcomp", V31, PubComp, "70 02 00 0A";
    "v31_subscribe_two", V31, Subscribe, "82 0E 00 02 00 03 61 2F 62 00 00 03 63 2F 2B 02";
    // SUBACK: granted QoS only, no Failure code.
    "v31_suback", V31, SubAck, "90 05 00 02 00 01 02";
    "v31_unsubscribe", V31, Unsubscribe, "A2 07 00 03 00 03 61 2F 62";
    "v31_unsuback", V31, UnsubAck, "B0 02 00 03";
    "v31_pingreq", V31, PingReq, "C0 00";
    "v31_pingresp", V31, PingResp, "D0 00";
    "v31_disconnect", V31, Disconnect, "E0 00";

    // ---- MQTT 5.0 ----
    "v5_connect_min", V5, Connect, "10 0D 00 04 4D 51 54 54 05 02 00 3C 00 00 00";
    // Session Expiry 3600, Receive Maximum 20, a user property; will with
    // delay 5, UTF-8 payload format and content type; user name, password.
    "v5_connect_full", V5, Connect, "10 3E 00 04 4D 51 54 54 05 C6 00 3C 0F 11 00 00 0E 10 21 00 14 26 00 01 6B 00 01 76 00 02 63 31 0E 18 00 00 00 05 01 01 03 00 04 74 65 78 74 00 03 77 2F 74 00 03 62 79 65 00 01 75 00 02 70 77";
    "v5_connack_min", V5, ConnAck, "20 03 00 00 00";
    "v5_connack_props", V5, ConnAck, "20 10 01 00 0D 21 00 0A 24 01 12 00 02 69 64 22 00 05";
    "v5_connack_not_authorized", V5, ConnAck, "20 03 00 87 00";
    "v5_publish_qos0", V5, Publish, "30 08 00 03 61 2F 62 00 68 69";
    "v5_publish_alias_only", V5, Publish, "30 08 00 00 03 23 00 01 68 69";
    // Every PUBLISH property.
    "v5_publish_qos1_props", V5, Publish, "32 2F 00 03 61 2F 62 00 0A 25 01 01 02 00 00 00 3C 23 00 01 08 00 03 72 2F 31 09 00 02 AB CD 03 00 04 74 65 78 74 0B 05 26 00 01 6B 00 01 76 68 69";
    "v5_puback_min", V5, PubAck, "40 02 00 0A";
    "v5_puback_reason", V5, PubAck, "40 03 00 0A 10";
    "v5_puback_props", V5, PubAck, "40 0B 00 0A 80 07 1F 00 04 6E 6F 70 65";
    "v5_pubrec_reason", V5, PubRec, "50 03 00 0A 10";
    "v5_pubrel_not_found", V5, PubRel, "62 03 00 0A 92";
    "v5_pubcomp_min", V5, PubComp, "70 02 00 0A";
    "v5_subscribe_min", V5, Subscribe, "82 09 00 01 00 00 03 61 2F 23 01";
    // QoS 2 + No Local + Retain As Published + Retain Handling 2, and a
    // Subscription Identifier.
    "v5_subscribe_options", V5, Subscribe, "82 11 00 02 02 0B 07 00 03 61 2F 62 2E 00 03 63 2F 2B 01";
    "v5_suback_min", V5, SubAck, "90 04 00 01 00 01";
    "v5_suback_failures", V5, SubAck, "90 06 00 02 00 00 8F A2";
    "v5_unsubscribe", V5, Unsubscribe, "A2 08 00 03 00 00 03 61 2F 62";
    "v5_unsuback", V5, UnsubAck, "B0 05 00 03 00 00 11";
    "v5_pingreq", V5, PingReq, "C0 00";
    "v5_pingresp", V5, PingResp, "D0 00";
    "v5_disconnect_min", V5, Disconnect, "E0 00";
    "v5_disconnect_with_will", V5, Disconnect, "E0 01 04";
    "v5_disconnect_props", V5, Disconnect, "E0 08 8E 06 1F 00 03 62 79 65";
    "v5_auth_min", V5, Auth, "F0 00";
    "v5_auth_continue", V5, Auth, "F0 0F 18 0D 15 00 05 53 43 52 41 4D 16 00 02 01 02";
}

impl Golden {
    /// The vector's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        crate::hex(self.hex)
    }
}
