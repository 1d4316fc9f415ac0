//! The codec without a handle: `mqtt_decode` parses one packet into a
//! read-only view whose strings point into the caller's bytes (no
//! allocation, no copy), and `mqtt_encode` / `mqtt_encode_publish` write
//! one packet into the caller's buffer. For framing, tests, proxies and
//! tools; a client or broker does not need them.

use crate::prelude::*;
use mqtt_core::codec::{
    AckProperties, AckPropertiesRef, Auth, ConnAck, DecodeOptions, Disconnect, MqttStr, MqttString,
    Packet, PacketRef, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, ReasonCode,
    RetainHandling, SubAck, Subscribe, SubscribeFilter, SubscriptionOptions, UnsubAck, Unsubscribe,
};

use crate::mqtt_status;
use crate::types::*;

/// `mqtt_packet_view.packet_type` / `mqtt_packet.packet_type`: CONNECT.
pub const MQTT_PACKET_CONNECT: u8 = 1;
/// CONNACK.
pub const MQTT_PACKET_CONNACK: u8 = 2;
/// PUBLISH.
pub const MQTT_PACKET_PUBLISH: u8 = 3;
/// PUBACK.
pub const MQTT_PACKET_PUBACK: u8 = 4;
/// PUBREC.
pub const MQTT_PACKET_PUBREC: u8 = 5;
/// PUBREL.
pub const MQTT_PACKET_PUBREL: u8 = 6;
/// PUBCOMP.
pub const MQTT_PACKET_PUBCOMP: u8 = 7;
/// SUBSCRIBE.
pub const MQTT_PACKET_SUBSCRIBE: u8 = 8;
/// SUBACK.
pub const MQTT_PACKET_SUBACK: u8 = 9;
/// UNSUBSCRIBE.
pub const MQTT_PACKET_UNSUBSCRIBE: u8 = 10;
/// UNSUBACK.
pub const MQTT_PACKET_UNSUBACK: u8 = 11;
/// PINGREQ.
pub const MQTT_PACKET_PINGREQ: u8 = 12;
/// PINGRESP.
pub const MQTT_PACKET_PINGRESP: u8 = 13;
/// DISCONNECT.
pub const MQTT_PACKET_DISCONNECT: u8 = 14;
/// AUTH (5.0).
pub const MQTT_PACKET_AUTH: u8 = 15;

/// The will of a decoded CONNECT (`mqtt_packet_view.will`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_will_view {
    /// The will topic.
    pub topic: mqtt_bytes_view,
    /// The will payload.
    pub payload: mqtt_bytes_view,
    /// The will QoS.
    pub qos: u8,
    /// The will RETAIN flag.
    pub retain: bool,
    /// Will Delay Interval, seconds (5.0).
    pub will_delay_interval: mqtt_opt_u32,
    /// The will properties (payload format, expiry, content type, response
    /// topic, correlation data); `user_properties` is always empty: read
    /// them with `mqtt_packet_view_will_user_property`.
    pub properties: mqtt_properties,
    /// How many User Properties the will has.
    pub user_property_count: usize,
}

/// A decoded packet, read-only. `packet_type` says which fields mean
/// something; the others are zero / absent. Every view points into the
/// bytes given to `mqtt_decode` and is valid as long as they are.
///
/// `properties.user_properties` and `properties.subscription_identifiers`
/// are always empty here (a view allocates nothing): read them one by one
/// with `mqtt_packet_view_user_property` and
/// `mqtt_packet_view_subscription_identifier`, up to
/// `user_property_count` and `subscription_identifier_count`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_packet_view {
    /// `MQTT_PACKET_CONNECT` ... `MQTT_PACKET_AUTH`; 0 when nothing was
    /// decoded.
    pub packet_type: u8,
    /// The protocol version the packet was decoded with (for CONNECT, the
    /// one it names).
    pub version: u8,
    /// The packet identifier (PUBLISH QoS 1 and 2, acknowledgements,
    /// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK), else 0.
    pub packet_id: u16,
    /// Whether `reason_code` is set (CONNACK, PUBACK, PUBREC, PUBREL,
    /// PUBCOMP, DISCONNECT, AUTH; and every decoding error).
    pub has_reason_code: bool,
    /// The reason code (`mqtt_reason_code`); after `MQTT_STATUS_MALFORMED`
    /// the one to answer with (0x81 Malformed Packet, 0x82 Protocol Error,
    /// 0x95 Packet too large, ...).
    pub reason_code: u8,
    /// CONNECT: Clean Start / Clean Session.
    pub clean_start: bool,
    /// CONNECT: Keep Alive, seconds.
    pub keep_alive: u16,
    /// CONNECT: the Client Identifier.
    pub client_id: mqtt_bytes_view,
    /// CONNECT: the User Name (NULL: absent).
    pub username: mqtt_bytes_view,
    /// CONNECT: the Password (NULL: absent).
    pub password: mqtt_bytes_view,
    /// CONNECT: Request Response Information (5.0).
    pub request_response_information: mqtt_opt_u8,
    /// CONNECT: Request Problem Information (5.0).
    pub request_problem_information: mqtt_opt_u8,
    /// CONNECT: whether there is a will.
    pub has_will: bool,
    /// CONNECT: the will, when `has_will`.
    pub will: mqtt_will_view,
    /// CONNACK: Session Present.
    pub session_present: bool,
    /// PUBLISH: the topic name (empty when a 5.0 Topic Alias replaces it).
    pub topic: mqtt_bytes_view,
    /// PUBLISH: the payload.
    pub payload: mqtt_bytes_view,
    /// PUBLISH: QoS.
    pub qos: u8,
    /// PUBLISH: RETAIN.
    pub retain: bool,
    /// PUBLISH: DUP.
    pub dup: bool,
    /// SUBSCRIBE / UNSUBSCRIBE: how many topic filters (read them with
    /// `mqtt_packet_view_filter`).
    pub filter_count: usize,
    /// SUBACK / UNSUBACK: the reason codes, one byte per filter (in 3.1.1
    /// UNSUBACK has none).
    pub reason_codes: mqtt_bytes_view,
    /// The 5.0 properties of the packet (see above for the lists).
    pub properties: mqtt_properties,
    /// How many User Properties the packet has.
    pub user_property_count: usize,
    /// How many Subscription Identifiers (PUBLISH, SUBSCRIBE).
    pub subscription_identifier_count: usize,
    /// The whole packet: the bytes `mqtt_decode` consumed.
    pub raw: mqtt_bytes_view,
}

impl mqtt_packet_view {
    const NONE: Self = mqtt_packet_view {
        packet_type: 0,
        version: 0,
        packet_id: 0,
        has_reason_code: false,
        reason_code: 0,
        clean_start: false,
        keep_alive: 0,
        client_id: mqtt_bytes_view::NONE,
        username: mqtt_bytes_view::NONE,
        password: mqtt_bytes_view::NONE,
        request_response_information: mqtt_opt_u8 {
            present: false,
            value: 0,
        },
        request_problem_information: mqtt_opt_u8 {
            present: false,
            value: 0,
        },
        has_will: false,
        will: mqtt_will_view {
            topic: mqtt_bytes_view::NONE,
            payload: mqtt_bytes_view::NONE,
            qos: 0,
            retain: false,
            will_delay_interval: mqtt_opt_u32 {
                present: false,
                value: 0,
            },
            properties: mqtt_properties::EMPTY,
            user_property_count: 0,
        },
        session_present: false,
        topic: mqtt_bytes_view::NONE,
        payload: mqtt_bytes_view::NONE,
        qos: 0,
        retain: false,
        dup: false,
        filter_count: 0,
        reason_codes: mqtt_bytes_view::NONE,
        properties: mqtt_properties::EMPTY,
        user_property_count: 0,
        subscription_identifier_count: 0,
        raw: mqtt_bytes_view::NONE,
    };

    fn with_code(mut self, code: ReasonCode) -> Self {
        self.has_reason_code = true;
        self.reason_code = code.as_u8();
        self
    }

    /// The fields of PUBACK, PUBREC, PUBREL and PUBCOMP (one layout).
    fn with_ack(self, code: ReasonCode, packet_id: u16, pr: &AckPropertiesRef<'_>) -> Self {
        let mut v = self.with_code(code);
        v.packet_id = packet_id;
        v.properties.reason_string = osv(pr.reason_string());
        v.user_property_count = pr.user_properties().len();
        v
    }
}

/// The empty view (nothing decoded).
#[cfg(feature = "server")]
pub(crate) fn mqtt_packet_view_none() -> mqtt_packet_view {
    mqtt_packet_view::NONE
}

fn version_arg(version: u8) -> Result<ProtocolVersion, mqtt_status> {
    match version {
        MQTT_VERSION_3_1 => Ok(ProtocolVersion::V31),
        MQTT_VERSION_3_1_1 => Ok(ProtocolVersion::V311),
        MQTT_VERSION_5 => Ok(ProtocolVersion::V5),
        _ => Err(mqtt_status::MQTT_STATUS_INVALID_ARGUMENT),
    }
}

fn sv(s: MqttStr<'_>) -> mqtt_bytes_view {
    mqtt_bytes_view::of(s.as_str().as_bytes())
}

fn osv(s: Option<MqttStr<'_>>) -> mqtt_bytes_view {
    s.map_or(mqtt_bytes_view::NONE, sv)
}

fn obv(b: Option<&[u8]>) -> mqtt_bytes_view {
    mqtt_bytes_view::of_opt(b)
}

/// Fills the fields of the view from a decoded packet. The accessor
/// names are the property names, so one macro reads every set.
pub(crate) fn view_of(p: &PacketRef<'_>, version: ProtocolVersion, raw: &[u8]) -> mqtt_packet_view {
    let mut v = mqtt_packet_view::NONE;
    v.packet_type = p.packet_type() as u8;
    v.version = version.level();
    v.raw = mqtt_bytes_view::of(raw);
    // The reason code list of SUBACK / UNSUBACK is the end of the packet.
    let tail = |n: usize| mqtt_bytes_view::of(&raw[raw.len() - n..]);
    match p {
        PacketRef::Connect(c) => {
            v.version = c.protocol_version.level();
            v.clean_start = c.clean_start;
            v.keep_alive = c.keep_alive;
            v.client_id = sv(c.client_id);
            v.username = osv(c.username);
            v.password = obv(c.password);
            let pr = &c.properties;
            v.request_response_information = flag(pr.request_response_information());
            v.request_problem_information = flag(pr.request_problem_information());
            v.properties = mqtt_properties {
                session_expiry_interval: pr.session_expiry_interval().into(),
                receive_maximum: pr.receive_maximum().into(),
                maximum_packet_size: pr.maximum_packet_size().into(),
                topic_alias_maximum: pr.topic_alias_maximum().into(),
                authentication_method: osv(pr.authentication_method()),
                authentication_data: obv(pr.authentication_data()),
                ..mqtt_properties::EMPTY
            };
            v.user_property_count = pr.user_properties().len();
            if let Some(w) = &c.will {
                let wp = &w.properties;
                v.has_will = true;
                v.will = mqtt_will_view {
                    topic: sv(w.topic),
                    payload: mqtt_bytes_view::of(w.payload),
                    qos: w.qos.as_u8(),
                    retain: w.retain,
                    will_delay_interval: wp.will_delay_interval().into(),
                    properties: mqtt_properties {
                        payload_format_indicator: flag(wp.payload_format_indicator()),
                        message_expiry_interval: wp.message_expiry_interval().into(),
                        content_type: osv(wp.content_type()),
                        response_topic: osv(wp.response_topic()),
                        correlation_data: obv(wp.correlation_data()),
                        ..mqtt_properties::EMPTY
                    },
                    user_property_count: wp.user_properties().len(),
                };
            }
        }
        PacketRef::ConnAck(c) => {
            v = v.with_code(c.reason_code);
            v.session_present = c.session_present;
            let pr = &c.properties;
            v.properties = mqtt_properties {
                session_expiry_interval: pr.session_expiry_interval().into(),
                receive_maximum: pr.receive_maximum().into(),
                maximum_qos: pr.maximum_qos().map(|q| q.as_u8()).into(),
                retain_available: flag(pr.retain_available()),
                maximum_packet_size: pr.maximum_packet_size().into(),
                assigned_client_identifier: osv(pr.assigned_client_identifier()),
                topic_alias_maximum: pr.topic_alias_maximum().into(),
                reason_string: osv(pr.reason_string()),
                wildcard_subscription_available: flag(pr.wildcard_subscription_available()),
                subscription_identifiers_available: flag(pr.subscription_identifiers_available()),
                shared_subscription_available: flag(pr.shared_subscription_available()),
                server_keep_alive: pr.server_keep_alive().into(),
                response_information: osv(pr.response_information()),
                server_reference: osv(pr.server_reference()),
                authentication_method: osv(pr.authentication_method()),
                authentication_data: obv(pr.authentication_data()),
                ..mqtt_properties::EMPTY
            };
            v.user_property_count = pr.user_properties().len();
        }
        PacketRef::Publish(p) => {
            v.packet_id = p.packet_id;
            v.topic = sv(p.topic.as_mqtt_str());
            v.payload = mqtt_bytes_view::of(p.payload);
            v.qos = p.qos.as_u8();
            v.retain = p.retain;
            v.dup = p.dup;
            let pr = &p.properties;
            v.properties = mqtt_properties {
                payload_format_indicator: flag(pr.payload_format_indicator()),
                message_expiry_interval: pr.message_expiry_interval().into(),
                topic_alias: pr.topic_alias().into(),
                response_topic: osv(pr.response_topic()),
                correlation_data: obv(pr.correlation_data()),
                content_type: osv(pr.content_type()),
                ..mqtt_properties::EMPTY
            };
            v.user_property_count = pr.user_properties().len();
            v.subscription_identifier_count = pr.subscription_identifiers().len();
        }
        PacketRef::PubAck(a) => v = v.with_ack(a.reason_code, a.packet_id, &a.properties),
        PacketRef::PubRec(a) => v = v.with_ack(a.reason_code, a.packet_id, &a.properties),
        PacketRef::PubRel(a) => v = v.with_ack(a.reason_code, a.packet_id, &a.properties),
        PacketRef::PubComp(a) => v = v.with_ack(a.reason_code, a.packet_id, &a.properties),
        PacketRef::Subscribe(s) => {
            v.packet_id = s.packet_id;
            v.filter_count = s.filters.len();
            v.subscription_identifier_count =
                usize::from(s.properties.subscription_identifier().is_some());
            v.user_property_count = s.properties.user_properties().len();
        }
        PacketRef::SubAck(s) => {
            v.packet_id = s.packet_id;
            v.reason_codes = tail(s.reason_codes.len());
            v.properties.reason_string = osv(s.properties.reason_string());
            v.user_property_count = s.properties.user_properties().len();
        }
        PacketRef::Unsubscribe(u) => {
            v.packet_id = u.packet_id;
            v.filter_count = u.filters.len();
            v.user_property_count = u.properties.user_properties().len();
        }
        PacketRef::UnsubAck(u) => {
            v.packet_id = u.packet_id;
            v.reason_codes = tail(u.reason_codes.len());
            v.properties.reason_string = osv(u.properties.reason_string());
            v.user_property_count = u.properties.user_properties().len();
        }
        PacketRef::Disconnect(d) => {
            v = v.with_code(d.reason_code);
            let pr = &d.properties;
            v.properties.session_expiry_interval = pr.session_expiry_interval().into();
            v.properties.reason_string = osv(pr.reason_string());
            v.properties.server_reference = osv(pr.server_reference());
            v.user_property_count = pr.user_properties().len();
        }
        PacketRef::Auth(a) => {
            v = v.with_code(a.reason_code);
            let pr = &a.properties;
            v.properties.authentication_method = osv(pr.authentication_method());
            v.properties.authentication_data = obv(pr.authentication_data());
            v.properties.reason_string = osv(pr.reason_string());
            v.user_property_count = pr.user_properties().len();
        }
        _ => {}
    }
    v
}

/// Decodes one packet from the front of `data` (`len` bytes) as protocol
/// `version` (`MQTT_VERSION_3_1`, `MQTT_VERSION_3_1_1` or `MQTT_VERSION_5`; a CONNECT is read
/// by the version it names). `max_packet_size` limits the packet (0: the
/// protocol's limit), checked from the fixed header alone.
///
/// - A whole valid packet: `MQTT_STATUS_OK`, `*out` describes it and
///   `*consumed` is its size (the next packet starts there).
/// - Only part of a packet: `MQTT_STATUS_OK` with `*consumed == 0` and
///   `out->packet_type == 0`: call again with more bytes.
/// - Invalid bytes: `MQTT_STATUS_MALFORMED`, `*consumed == 0`, and
///   `out->reason_code` is the reason code to answer with.
///
/// Nothing is allocated; the views in `*out` point into `data`.
#[cfg(feature = "codec")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_decode(
    data: *const u8,
    len: usize,
    version: u8,
    max_packet_size: u32,
    out: *mut mqtt_packet_view,
    consumed: *mut usize,
) -> mqtt_status {
    if out.is_null() || consumed.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: both checked non-NULL and writable (the caller's promise).
    unsafe {
        out.write(mqtt_packet_view::NONE);
        consumed.write(0);
    }
    crate::guard(|| {
        let version = version_arg(version)?;
        // SAFETY: `data` holds `len` bytes by the caller's promise.
        let data = unsafe { slice_arg(data, len) }?;
        let options = DecodeOptions::new(version).with_max_packet_size(max_packet_size);
        match PacketRef::decode(data, &options) {
            Ok(None) => Ok(()),
            Ok(Some((packet, n))) => {
                // SAFETY: as above.
                unsafe {
                    out.write(view_of(&packet, version, &data[..n]));
                    consumed.write(n);
                }
                Ok(())
            }
            Err(e) => {
                // SAFETY: as above.
                unsafe { out.write(mqtt_packet_view::NONE.with_code(e.reason_code())) };
                Err(mqtt_status::MQTT_STATUS_MALFORMED)
            }
        }
    })
}

/// Decodes `view.raw` again (it was valid when `mqtt_decode` made the
/// view) and gives the packet to `f`.
///
/// # Safety
/// `view` is NULL or points to a view from `mqtt_decode` whose bytes are
/// still valid.
unsafe fn redecode<R>(
    view: *const mqtt_packet_view,
    f: impl FnOnce(&PacketRef<'_>) -> Option<R>,
) -> Result<R, mqtt_status> {
    if view.is_null() {
        return Err(mqtt_status::MQTT_STATUS_NULL_ARGUMENT);
    }
    // SAFETY: the caller's promise above.
    let v = unsafe { &*view };
    let version = version_arg(v.version)?;
    // SAFETY: the caller's promise above.
    let raw = unsafe { view_bytes(v.raw) }?;
    match PacketRef::decode(raw, &DecodeOptions::new(version)) {
        Ok(Some((p, n))) if n == raw.len() => {
            f(&p).ok_or(mqtt_status::MQTT_STATUS_INVALID_ARGUMENT)
        }
        _ => Err(mqtt_status::MQTT_STATUS_INVALID_ARGUMENT),
    }
}

fn user_property_at(
    props: mqtt_core::codec::UserPropertiesRef<'_>,
    index: usize,
) -> Option<mqtt_user_property> {
    props.iter().nth(index).map(|(k, v)| mqtt_user_property {
        key: sv(k),
        value: sv(v),
    })
}

/// The User Property number `index` (from 0, below
/// `view->user_property_count`) of a decoded packet, into `*out` (views
/// into the decoded bytes). `MQTT_STATUS_INVALID_ARGUMENT` when `index` is
/// out of range.
#[cfg(feature = "codec")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_packet_view_user_property(
    view: *const mqtt_packet_view,
    index: usize,
    out: *mut mqtt_user_property,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    crate::guard(|| {
        // SAFETY: `view` as documented on mqtt_packet_view.
        let up = unsafe {
            redecode(view, |p| {
                let props = match p {
                    PacketRef::Connect(c) => c.properties.user_properties(),
                    PacketRef::ConnAck(c) => c.properties.user_properties(),
                    PacketRef::Publish(x) => x.properties.user_properties(),
                    PacketRef::PubAck(x) => x.properties.user_properties(),
                    PacketRef::PubRec(x) => x.properties.user_properties(),
                    PacketRef::PubRel(x) => x.properties.user_properties(),
                    PacketRef::PubComp(x) => x.properties.user_properties(),
                    PacketRef::Subscribe(x) => x.properties.user_properties(),
                    PacketRef::SubAck(x) => x.properties.user_properties(),
                    PacketRef::Unsubscribe(x) => x.properties.user_properties(),
                    PacketRef::UnsubAck(x) => x.properties.user_properties(),
                    PacketRef::Disconnect(x) => x.properties.user_properties(),
                    PacketRef::Auth(x) => x.properties.user_properties(),
                    _ => return None,
                };
                user_property_at(props, index)
            })
        }?;
        // SAFETY: checked non-NULL, writable.
        unsafe { out.write(up) };
        Ok(())
    })
}

/// The will's User Property number `index` (below
/// `view->will.user_property_count`) of a decoded CONNECT.
#[cfg(feature = "codec")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_packet_view_will_user_property(
    view: *const mqtt_packet_view,
    index: usize,
    out: *mut mqtt_user_property,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    crate::guard(|| {
        // SAFETY: `view` as documented on mqtt_packet_view.
        let up = unsafe {
            redecode(view, |p| match p {
                PacketRef::Connect(c) => {
                    user_property_at(c.will.as_ref()?.properties.user_properties(), index)
                }
                _ => None,
            })
        }?;
        // SAFETY: checked non-NULL, writable.
        unsafe { out.write(up) };
        Ok(())
    })
}

/// The Subscription Identifier number `index` (below
/// `view->subscription_identifier_count`) of a decoded PUBLISH or
/// SUBSCRIBE, into `*out`.
#[cfg(feature = "codec")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_packet_view_subscription_identifier(
    view: *const mqtt_packet_view,
    index: usize,
    out: *mut u32,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    crate::guard(|| {
        // SAFETY: `view` as documented on mqtt_packet_view.
        let id = unsafe {
            redecode(view, |p| match p {
                PacketRef::Publish(x) => x.properties.subscription_identifiers().iter().nth(index),
                PacketRef::Subscribe(x) if index == 0 => x.properties.subscription_identifier(),
                _ => None,
            })
        }?;
        // SAFETY: checked non-NULL, writable.
        unsafe { out.write(id) };
        Ok(())
    })
}

/// The topic filter number `index` (below `view->filter_count`) of a
/// decoded SUBSCRIBE (filter and options) or UNSUBSCRIBE (filter only,
/// the options zero), into `*out`.
#[cfg(feature = "codec")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_packet_view_filter(
    view: *const mqtt_packet_view,
    index: usize,
    out: *mut mqtt_subscription,
) -> mqtt_status {
    if out.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    crate::guard(|| {
        // SAFETY: `view` as documented on mqtt_packet_view.
        let f = unsafe {
            redecode(view, |p| match p {
                PacketRef::Subscribe(s) => s.filters.iter().nth(index).map(|f| {
                    let o = f.options;
                    mqtt_subscription {
                        filter: sv(f.filter.as_mqtt_str()),
                        qos: o.qos.as_u8(),
                        no_local: o.no_local,
                        retain_as_published: o.retain_as_published,
                        retain_handling: match o.retain_handling {
                            RetainHandling::SendAtSubscribe => 0,
                            RetainHandling::SendAtSubscribeIfNew => 1,
                            _ => 2,
                        },
                    }
                }),
                PacketRef::Unsubscribe(u) => {
                    u.filters.iter().nth(index).map(|f| mqtt_subscription {
                        filter: sv(f),
                        qos: 0,
                        no_local: false,
                        retain_as_published: false,
                        retain_handling: 0,
                    })
                }
                _ => None,
            })
        }?;
        // SAFETY: checked non-NULL, writable.
        unsafe { out.write(f) };
        Ok(())
    })
}

// ----- encoding ---------------------------------------------------------------

/// A packet to encode with `mqtt_encode`. `packet_type` says which
/// fields are read; the others are ignored. Zero it (`memset`) and fill
/// what the packet needs. CONNECT is not encoded here (a client builds it
/// from `mqtt_client_options`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_packet {
    /// `MQTT_PACKET_CONNACK` ... `MQTT_PACKET_AUTH`, not CONNECT.
    pub packet_type: u8,
    /// The packet identifier (PUBLISH QoS 1 and 2, acknowledgements,
    /// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK; 1 to 65535).
    pub packet_id: u16,
    /// The reason code of CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP,
    /// DISCONNECT, AUTH (`mqtt_reason_code`; 0 is Success).
    pub reason_code: u8,
    /// CONNACK: Session Present.
    pub session_present: bool,
    /// PUBLISH: the message (topic, payload, QoS, retain, properties).
    pub publish: mqtt_publish_options,
    /// PUBLISH: DUP.
    pub dup: bool,
    /// SUBSCRIBE: the filters and properties.
    pub subscribe: mqtt_subscribe_options,
    /// UNSUBSCRIBE: the filters and properties.
    pub unsubscribe: mqtt_unsubscribe_options,
    /// SUBACK / UNSUBACK: one reason code byte per filter.
    pub reason_codes: mqtt_bytes_view,
    /// Reason String of CONNACK, the acknowledgements, DISCONNECT, AUTH
    /// (5.0; NULL: absent).
    pub reason_string: mqtt_bytes_view,
    /// User Properties of CONNACK, the acknowledgements, DISCONNECT, AUTH
    /// (5.0).
    pub user_properties: mqtt_user_properties,
}

/// Encodes `packet` into `buf`: `MQTT_STATUS_BUFFER_TOO_SMALL` (nothing
/// written, `*written` set to the size needed) when it does not fit.
fn encode_into(
    packet: &Packet,
    version: ProtocolVersion,
    buf: *mut u8,
    cap: usize,
    written: *mut usize,
) -> Result<(), Failure> {
    let need = packet
        .encoded_len(version)
        .map_err(|e| invalid(detail_text("cannot encode", &e)))?;
    if need > cap {
        // SAFETY: `written` is non-NULL and writable (checked by callers).
        unsafe { written.write(need) };
        return Err(bare(mqtt_status::MQTT_STATUS_BUFFER_TOO_SMALL));
    }
    if buf.is_null() {
        return Err(bare(mqtt_status::MQTT_STATUS_NULL_ARGUMENT));
    }
    if cap > isize::MAX as usize {
        return Err(invalid("cap is larger than any buffer"));
    }
    // SAFETY: `buf` holds `cap` writable bytes by the caller's promise.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, cap) };
    let n = packet
        .encode_to_slice(version, out)
        .map_err(|e| invalid(detail_text("cannot encode", &e)))?;
    // SAFETY: as above.
    unsafe { written.write(n) };
    Ok(())
}

/// Runs an encoder, turning its failure text away (the status says it;
/// the codec has no handle to keep text in).
fn run(f: impl FnOnce() -> Result<(), Failure>) -> mqtt_status {
    crate::guard(|| f().map_err(|(s, _)| s))
}

fn ack_props(p: &mqtt_packet) -> Result<AckProperties, Failure> {
    let mut props = AckProperties::default();
    // SAFETY: views of `p`, valid by the caller's promise.
    props.reason_string = unsafe { opt_mqtt_string(p.reason_string, "reason string") }?;
    // SAFETY: as above.
    props.user_properties = unsafe { user_properties_arg(p.user_properties) }?;
    Ok(props)
}

fn reason_codes_arg(p: &mqtt_packet) -> Result<Vec<ReasonCode>, Failure> {
    // SAFETY: a view of `p`, valid by the caller's promise.
    let bytes = unsafe { view_bytes(p.reason_codes) }.map_err(bare)?;
    bytes.iter().map(|&c| code_arg(c)).collect()
}

/// The core's packet from the C description.
///
/// # Safety
/// Every view and pointer in `p` as [`slice_arg`].
unsafe fn packet_arg(p: &mqtt_packet) -> Result<Packet, Failure> {
    // PUBACK, PUBREC, PUBREL and PUBCOMP: one layout, four types.
    macro_rules! publish_ack {
        ($T:ident) => {{
            let mut a = $T::new(p.packet_id);
            a.reason_code = code_arg(p.reason_code)?;
            a.properties = ack_props(p)?;
            Packet::$T(a)
        }};
    }
    Ok(match p.packet_type {
        MQTT_PACKET_CONNACK => {
            let mut c = ConnAck::new(p.session_present, code_arg(p.reason_code)?);
            let a = ack_props(p)?;
            c.properties.reason_string = a.reason_string;
            c.properties.user_properties = a.user_properties;
            Packet::ConnAck(Box::new(c))
        }
        // SAFETY: views of `p`, valid by the caller's promise.
        MQTT_PACKET_PUBLISH => {
            Packet::Publish(unsafe { publish_arg(&p.publish, p.packet_id, p.dup) }?)
        }
        MQTT_PACKET_PUBACK => publish_ack!(PubAck),
        MQTT_PACKET_PUBREC => publish_ack!(PubRec),
        MQTT_PACKET_PUBREL => publish_ack!(PubRel),
        MQTT_PACKET_PUBCOMP => publish_ack!(PubComp),
        MQTT_PACKET_SUBSCRIBE => {
            let o = &p.subscribe;
            // SAFETY: as above.
            let items = unsafe { slice_arg(o.filters, o.filters_len) }.map_err(bare)?;
            let mut filters = Vec::with_capacity(items.len());
            for f in items {
                // SAFETY: as above.
                let filter = unsafe { view_str(f.filter, "topic filter") }?;
                let retain_handling = match f.retain_handling {
                    0 => RetainHandling::SendAtSubscribe,
                    1 => RetainHandling::SendAtSubscribeIfNew,
                    2 => RetainHandling::DoNotSend,
                    r => return Err(invalid(text!("retain_handling {r} is not 0, 1 or 2"))),
                };
                let options = SubscriptionOptions::new(qos_arg(f.qos)?)
                    .with_no_local(f.no_local)
                    .with_retain_as_published(f.retain_as_published)
                    .with_retain_handling(retain_handling);
                filters.push(
                    SubscribeFilter::new(filter, options)
                        .map_err(|e| invalid(detail_text("filter", &e)))?,
                );
            }
            let mut s = Subscribe::new(p.packet_id, filters);
            if let Some(id) = o.subscription_identifier.get() {
                s = s.with_subscription_identifier(id);
            }
            // SAFETY: as above.
            s.properties.user_properties = unsafe { user_properties_arg(o.user_properties) }?;
            Packet::Subscribe(s)
        }
        MQTT_PACKET_SUBACK => {
            let mut s = SubAck::new(p.packet_id, reason_codes_arg(p)?);
            s.properties = ack_props(p)?;
            Packet::SubAck(s)
        }
        MQTT_PACKET_UNSUBSCRIBE => {
            let o = &p.unsubscribe;
            // SAFETY: as above.
            let items = unsafe { slice_arg(o.filters, o.filters_len) }.map_err(bare)?;
            let mut filters: Vec<MqttString> = Vec::with_capacity(items.len());
            for f in items {
                // SAFETY: as above.
                filters.push(unsafe { mqtt_string(*f, "topic filter") }?);
            }
            let mut u = Unsubscribe::new(p.packet_id, filters);
            // SAFETY: as above.
            u.properties.user_properties = unsafe { user_properties_arg(o.user_properties) }?;
            Packet::Unsubscribe(u)
        }
        MQTT_PACKET_UNSUBACK => {
            let mut u = UnsubAck::new(p.packet_id, reason_codes_arg(p)?);
            u.properties = ack_props(p)?;
            Packet::UnsubAck(u)
        }
        MQTT_PACKET_PINGREQ => Packet::PingReq,
        MQTT_PACKET_PINGRESP => Packet::PingResp,
        MQTT_PACKET_DISCONNECT => {
            let mut d = Disconnect::new(code_arg(p.reason_code)?);
            let a = ack_props(p)?;
            d.properties.reason_string = a.reason_string;
            d.properties.user_properties = a.user_properties;
            Packet::Disconnect(d)
        }
        MQTT_PACKET_AUTH => {
            let mut a = Auth::new(code_arg(p.reason_code)?);
            let props = ack_props(p)?;
            a.properties.reason_string = props.reason_string;
            a.properties.user_properties = props.user_properties;
            Packet::Auth(a)
        }
        t => {
            return Err(invalid(text!(
                "packet type {t} cannot be encoded by mqtt_encode"
            )))
        }
    })
}

/// Encodes `packet` as protocol `version` into `buf` (`cap` bytes) and
/// stores its size in `*written`. The packet is validated as a receiver
/// would (invalid: `MQTT_STATUS_INVALID_ARGUMENT`, for example a reason
/// code not allowed in that packet, or 5.0 fields in 3.1.1 that cannot be
/// dropped). `MQTT_STATUS_BUFFER_TOO_SMALL` when it does not fit: nothing
/// is written to `buf` and `*written` is the size needed (call with `cap`
/// 0 to learn it).
#[cfg(feature = "codec")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_encode(
    packet: *const mqtt_packet,
    version: u8,
    buf: *mut u8,
    cap: usize,
    written: *mut usize,
) -> mqtt_status {
    if packet.is_null() || written.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL and writable.
    unsafe { written.write(0) };
    run(|| {
        let version = version_arg(version).map_err(bare)?;
        // SAFETY: `packet` checked non-NULL; it and its views are valid by
        // the caller's promise.
        let p = unsafe { packet_arg(&*packet) }?;
        encode_into(&p, version, buf, cap, written)
    })
}

/// Encodes a PUBLISH of `options` with `packet_id` (ignored at QoS 0;
/// 1 to 65535 otherwise) and DUP `dup`, as `mqtt_encode` does.
#[cfg(feature = "codec")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_encode_publish(
    options: *const mqtt_publish_options,
    packet_id: u16,
    dup: bool,
    version: u8,
    buf: *mut u8,
    cap: usize,
    written: *mut usize,
) -> mqtt_status {
    if options.is_null() || written.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL and writable.
    unsafe { written.write(0) };
    run(|| {
        let version = version_arg(version).map_err(bare)?;
        // SAFETY: `options` checked non-NULL; it and its views are valid
        // by the caller's promise.
        let p = unsafe { publish_arg(&*options, packet_id, dup) }?;
        encode_into(&Packet::Publish(p), version, buf, cap, written)
    })
}

/// Why `mqtt_encode` refuses `packet`, as a NUL-terminated string in `buf`
/// (at most `cap` bytes, truncated; empty when it encodes). Returns the
/// status `mqtt_encode` would return with room enough.
#[cfg(feature = "codec")]
#[no_mangle]
pub unsafe extern "C" fn mqtt_encode_check(
    packet: *const mqtt_packet,
    version: u8,
    buf: *mut core::ffi::c_char,
    cap: usize,
) -> mqtt_status {
    if packet.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    crate::guard(|| {
        let result = version_arg(version).map_err(bare).and_then(|v| {
            // SAFETY: as mqtt_encode.
            let p = unsafe { packet_arg(&*packet) }?;
            p.encoded_len(v)
                .map_err(|e| invalid(detail_text("cannot encode", &e)))
        });
        // SAFETY: `buf` holds `cap` bytes by the caller's promise.
        unsafe { crate::report_check(result, buf, cap) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_then_encode_gives_the_same_bytes() {
        // PUBLISH QoS 1, topic "a/b", id 7, payload "hi", 5.0, one user
        // property ("k", "v").
        // SAFETY: every field of the struct is valid when all zero (NULL
        // views, false, 0).
        let mut o: mqtt_publish_options = unsafe { core::mem::zeroed() };
        o.topic = mqtt_bytes_view::of(b"a/b");
        o.payload = mqtt_bytes_view::of(b"hi");
        o.qos = 1;
        let up = [mqtt_user_property {
            key: mqtt_bytes_view::of(b"k"),
            value: mqtt_bytes_view::of(b"v"),
        }];
        o.user_properties = mqtt_user_properties {
            ptr: up.as_ptr(),
            len: 1,
        };
        let mut buf = [0u8; 64];
        let mut n = 0;
        let mut view = mqtt_packet_view::NONE;
        let mut used = 0;
        let mut prop = up[0];
        // SAFETY: valid pointers to locals.
        unsafe {
            assert_eq!(
                mqtt_encode_publish(&o, 7, false, 5, buf.as_mut_ptr(), buf.len(), &mut n),
                mqtt_status::MQTT_STATUS_OK
            );
            assert_eq!(
                mqtt_decode(buf.as_ptr(), n, 5, 0, &mut view, &mut used),
                mqtt_status::MQTT_STATUS_OK
            );
            assert_eq!(used, n);
            assert_eq!(view.packet_type, MQTT_PACKET_PUBLISH);
            assert_eq!(view.packet_id, 7);
            assert_eq!(view.user_property_count, 1);
            assert_eq!(
                mqtt_packet_view_user_property(&view, 0, &mut prop),
                mqtt_status::MQTT_STATUS_OK
            );
            assert_eq!(
                core::slice::from_raw_parts(prop.key.ptr, prop.key.len),
                b"k"
            );
            assert_eq!(
                mqtt_packet_view_user_property(&view, 1, &mut prop),
                mqtt_status::MQTT_STATUS_INVALID_ARGUMENT
            );
        }
    }
}
