//! OpenTelemetry attribute and metric names for MQTT, after the messaging
//! semantic conventions (the "development" messaging conventions of
//! semconv 1.27 and later), so that every libmqtt driver names things
//! alike.
//!
//! | attribute | value for MQTT |
//! |---|---|
//! | [`MESSAGING_SYSTEM`] `messaging.system` | `mqtt` ([`SYSTEM`]) |
//! | [`MESSAGING_OPERATION_TYPE`] `messaging.operation.type` | `send` (publish), `receive` (a message arrived), `process` (the application handles it) |
//! | [`MESSAGING_OPERATION_NAME`] `messaging.operation.name` | `publish`, `receive`, `process` |
//! | [`MESSAGING_DESTINATION_NAME`] `messaging.destination.name` | the topic |
//! | [`MESSAGING_DESTINATION_TEMPLATE`] `messaging.destination.template` | the subscription filter that matched (`sensors/+/temp`) |
//! | [`MESSAGING_CONSUMER_GROUP_NAME`] `messaging.consumer.group.name` | the group of a `$share/<group>/...` subscription |
//! | [`MESSAGING_MESSAGE_BODY_SIZE`] `messaging.message.body.size` | payload bytes |
//! | [`MESSAGING_CLIENT_ID`] `messaging.client.id` | the MQTT client identifier |
//! | [`SERVER_ADDRESS`] `server.address`, [`SERVER_PORT`] `server.port` | the broker |
//! | [`NETWORK_PROTOCOL_NAME`] `network.protocol.name` | `mqtt` |
//! | [`NETWORK_PROTOCOL_VERSION`] `network.protocol.version` | `3.1`, `3.1.1`, `5.0` |
//! | [`ERROR_TYPE`] `error.type` | the reason code's name, [`error_type`] (`not_authorized`) |
//! | [`MQTT_QOS`] `messaging.mqtt.message.qos` | 0, 1, 2 |
//! | [`MQTT_RETAIN`] `messaging.mqtt.message.retain` | bool |
//! | [`MQTT_DUP`] `messaging.mqtt.message.dup` | bool |
//!
//! The MQTT-specific names follow the conventions' pattern for one system's
//! own attributes (`messaging.<system>.message.<field>`, as Kafka's
//! `messaging.kafka.message.key`); OpenTelemetry has not registered MQTT
//! ones.
//!
//! Older guides use names the conventions have since replaced; a dashboard
//! built on them maps as [`LEGACY_NAMES`] lists:
//! `messaging.operation` became `messaging.operation.type`,
//! `net.peer.name` / `net.peer.port` became `server.address` /
//! `server.port`, `messaging.destination` became
//! `messaging.destination.name`, `messaging.message_payload_size_bytes`
//! became `messaging.message.body.size`, and the informal
//! `messaging.mqtt.qos`, `messaging.mqtt.retain`, `messaging.mqtt.dup`
//! became the three above. Span names are
//! `"{operation name} {destination template or topic}"` ([`span_name`]).

use alloc::string::String;

use crate::codec::{ProtocolVersion, ReasonCode};

/// `messaging.system`.
pub const MESSAGING_SYSTEM: &str = "messaging.system";
/// The value of `messaging.system` (and `network.protocol.name`).
pub const SYSTEM: &str = "mqtt";
/// `messaging.operation.type`.
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
/// `messaging.operation.name`.
pub const MESSAGING_OPERATION_NAME: &str = "messaging.operation.name";
/// `messaging.destination.name`: the topic.
pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
/// `messaging.destination.template`: the subscription filter that matched.
pub const MESSAGING_DESTINATION_TEMPLATE: &str = "messaging.destination.template";
/// `messaging.consumer.group.name`: a shared subscription's group.
pub const MESSAGING_CONSUMER_GROUP_NAME: &str = "messaging.consumer.group.name";
/// `messaging.message.body.size`: payload bytes.
pub const MESSAGING_MESSAGE_BODY_SIZE: &str = "messaging.message.body.size";
/// `messaging.client.id`: the MQTT client identifier.
pub const MESSAGING_CLIENT_ID: &str = "messaging.client.id";
/// `server.address`.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`.
pub const SERVER_PORT: &str = "server.port";
/// `network.protocol.name`.
pub const NETWORK_PROTOCOL_NAME: &str = "network.protocol.name";
/// `network.protocol.version`.
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// `error.type`.
pub const ERROR_TYPE: &str = "error.type";
/// `messaging.mqtt.message.qos` (MQTT-specific).
pub const MQTT_QOS: &str = "messaging.mqtt.message.qos";
/// `messaging.mqtt.message.retain` (MQTT-specific).
pub const MQTT_RETAIN: &str = "messaging.mqtt.message.retain";
/// `messaging.mqtt.message.dup` (MQTT-specific).
pub const MQTT_DUP: &str = "messaging.mqtt.message.dup";

/// `messaging.operation.type` of a publish.
pub const OPERATION_SEND: &str = "send";
/// `messaging.operation.type` of a message's arrival.
pub const OPERATION_RECEIVE: &str = "receive";
/// `messaging.operation.type` of the application's handling of a message.
pub const OPERATION_PROCESS: &str = "process";
/// `messaging.operation.name` of a publish.
pub const OPERATION_NAME_PUBLISH: &str = "publish";
/// `messaging.operation.name` of a message's arrival.
pub const OPERATION_NAME_RECEIVE: &str = "receive";
/// `messaging.operation.name` of the application's handling.
pub const OPERATION_NAME_PROCESS: &str = "process";

/// Counter: messages the client attempted to send.
pub const METRIC_SENT_MESSAGES: &str = "messaging.client.sent.messages";
/// Counter: messages delivered to the application.
pub const METRIC_CONSUMED_MESSAGES: &str = "messaging.client.consumed.messages";
/// Histogram (s): a publish until it is complete for its QoS.
pub const METRIC_OPERATION_DURATION: &str = "messaging.client.operation.duration";
/// Histogram (s): the application's processing of a message.
pub const METRIC_PROCESS_DURATION: &str = "messaging.process.duration";
/// Counter: reconnections (libmqtt).
pub const METRIC_RECONNECTS: &str = "mqtt.client.reconnects";
/// Histogram (s): how long connections lasted (libmqtt).
pub const METRIC_CONNECTION_DURATION: &str = "mqtt.client.connection.duration";
/// Up-down counter: QoS 1/2 messages in flight (libmqtt).
pub const METRIC_INFLIGHT: &str = "mqtt.client.inflight.messages";

/// The bucket boundaries (s) the conventions ask for the duration
/// histograms.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Older attribute names and what replaced them, `(old, current)`.
pub const LEGACY_NAMES: &[(&str, &str)] = &[
    ("messaging.operation", MESSAGING_OPERATION_TYPE),
    ("messaging.destination", MESSAGING_DESTINATION_NAME),
    (
        "messaging.message_payload_size_bytes",
        MESSAGING_MESSAGE_BODY_SIZE,
    ),
    (
        "messaging.message.payload_size_bytes",
        MESSAGING_MESSAGE_BODY_SIZE,
    ),
    ("net.peer.name", SERVER_ADDRESS),
    ("net.peer.port", SERVER_PORT),
    ("net.app.protocol.name", NETWORK_PROTOCOL_NAME),
    ("net.app.protocol.version", NETWORK_PROTOCOL_VERSION),
    ("messaging.mqtt.qos", MQTT_QOS),
    ("messaging.mqtt.retain", MQTT_RETAIN),
    ("messaging.mqtt.dup", MQTT_DUP),
];

/// `network.protocol.version` of a protocol version.
pub fn protocol_version(version: ProtocolVersion) -> &'static str {
    match version {
        ProtocolVersion::V31 => "3.1",
        ProtocolVersion::V311 => "3.1.1",
        ProtocolVersion::V5 => "5.0",
    }
}

/// `error.type` of a reason code: its name in lower case with `_`
/// (`0x87` is `not_authorized`, `0x97` `quota_exceeded`), low in
/// cardinality and stable.
pub fn error_type(code: ReasonCode) -> String {
    let mut out = String::new();
    for c in code.description().chars() {
        match c {
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            'a'..='z' | '0'..='9' => out.push(c),
            _ if !out.ends_with('_') => out.push('_'),
            _ => {}
        }
    }
    out.trim_end_matches('_').into()
}

/// The span name: `"{operation name} {template}"` with the subscription
/// filter when there is one (low cardinality), otherwise the topic.
pub fn span_name(operation_name: &str, destination: &str) -> String {
    let mut s = String::with_capacity(operation_name.len() + 1 + destination.len());
    s.push_str(operation_name);
    if !destination.is_empty() {
        s.push(' ');
        s.push_str(destination);
    }
    s
}

/// The group of a shared subscription filter (`$share/<group>/<filter>`).
pub fn consumer_group(filter: &str) -> Option<&str> {
    let rest = filter.strip_prefix("$share/")?;
    rest.split_once('/').map(|(group, _)| group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_snake_case_names() {
        assert_eq!(error_type(ReasonCode::NotAuthorized), "not_authorized");
        assert_eq!(error_type(ReasonCode::QuotaExceeded), "quota_exceeded");
        assert_eq!(error_type(ReasonCode::QoSNotSupported), "qos_not_supported");
        for code in ReasonCode::ALL {
            let t = error_type(*code);
            assert!(
                !t.is_empty()
                    && t.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{t}"
            );
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            span_name("publish", "sensors/+/temp"),
            "publish sensors/+/temp"
        );
        assert_eq!(consumer_group("$share/g1/a/b"), Some("g1"));
        assert_eq!(consumer_group("a/b"), None);
        assert_eq!(protocol_version(ProtocolVersion::V311), "3.1.1");
        assert!(LEGACY_NAMES.iter().all(|(old, new)| old != new));
    }
}
