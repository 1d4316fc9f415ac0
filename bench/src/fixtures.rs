//! The benchmark packets, independent of any implementation.

use crate::{ConnectSummary, Summary};

/// PUBLISH topic, exactly 16 bytes.
pub const TOPIC: &str = "sensors/abc/temp";
pub const PACKET_ID: u16 = 10;
pub const SMALL_PAYLOAD: usize = 64;
pub const LARGE_PAYLOAD: usize = 4096;

/// User properties of the `publish_props_v5` case, in wire order.
pub const USER_PROPS: [(&str, &str); 3] = [
    ("k1", "v1"),
    ("key-2", "value-2"),
    ("trace", "0123456789abcdef"),
];

pub const SUBSCRIBE_QOS: u8 = 1;

// 5.0 CONNECT
pub const CLIENT_ID: &str = "bench-client-0001";
pub const KEEP_ALIVE: u16 = 60;
pub const USERNAME: &str = "user";
pub const PASSWORD: &str = "secret";
pub const WILL_TOPIC: &str = "will/t";
pub const WILL_PAYLOAD: usize = 32;
pub const WILL_QOS: u8 = 1;
pub const WILL_DELAY: u32 = 5;
pub const WILL_EXPIRY: u32 = 60;
pub const WILL_CONTENT_TYPE: &str = "text/plain";
pub const SESSION_EXPIRY: u32 = 3600;
pub const RECEIVE_MAX: u16 = 100;
pub const MAX_PACKET_SIZE: u32 = 1 << 20;
pub const TOPIC_ALIAS_MAX: u16 = 10;
pub const CONNECT_USER_PROP: (&str, &str) = ("app", "bench");

/// Largest packet any decoder is allowed to accept (decoders that take a limit).
pub const MAX_DECODE: usize = 1 << 20;

/// Deterministic, non-constant payload bytes.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31).wrapping_add(7) & 0xff) as u8)
        .collect()
}

/// `a/0/+` ... `a/9/+`.
pub fn subscribe_filters() -> Vec<String> {
    (0..10).map(|i| format!("a/{i}/+")).collect()
}

/// MQTT protocol version of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V311,
    V5,
}

/// One benchmarked packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// (a) PUBLISH QoS 1, pkid 10, 16-byte topic, 64-byte payload
    PublishSmall(Version),
    /// (b) same with a 4096-byte payload
    Publish4k(Version),
    /// (c) 5.0 PUBLISH QoS 1 with 3 user properties, 64-byte payload
    PublishPropsV5,
    /// (d) SUBSCRIBE with 10 filters, QoS 1
    Subscribe10(Version),
    /// (e) 5.0 CONNECT with will, credentials and properties
    ConnectV5,
}

impl Case {
    pub const ALL: [Case; 8] = [
        Case::PublishSmall(Version::V311),
        Case::PublishSmall(Version::V5),
        Case::Publish4k(Version::V311),
        Case::Publish4k(Version::V5),
        Case::PublishPropsV5,
        Case::Subscribe10(Version::V311),
        Case::Subscribe10(Version::V5),
        Case::ConnectV5,
    ];

    /// Benchmark-ID prefix.
    pub fn name(self) -> &'static str {
        use Version::*;
        match self {
            Case::PublishSmall(V311) => "publish_small_v311",
            Case::PublishSmall(V5) => "publish_small_v5",
            Case::Publish4k(V311) => "publish_4k_v311",
            Case::Publish4k(V5) => "publish_4k_v5",
            Case::PublishPropsV5 => "publish_props_v5",
            Case::Subscribe10(V311) => "subscribe_10_v311",
            Case::Subscribe10(V5) => "subscribe_10_v5",
            Case::ConnectV5 => "connect_v5",
        }
    }

    pub fn version(self) -> Version {
        match self {
            Case::PublishSmall(v) | Case::Publish4k(v) | Case::Subscribe10(v) => v,
            Case::PublishPropsV5 | Case::ConnectV5 => Version::V5,
        }
    }

    /// Payload length for PUBLISH cases.
    pub fn payload_len(self) -> usize {
        match self {
            Case::Publish4k(_) => LARGE_PAYLOAD,
            _ => SMALL_PAYLOAD,
        }
    }

    /// Whether the encoded form is fully determined by the packet's content.
    /// CONNECT properties (and will properties) may legally appear in any order,
    /// so peers may differ there; user properties keep their order, so the
    /// publish-with-user-properties case is unique.
    pub fn wire_unique(self) -> bool {
        !matches!(self, Case::ConnectV5)
    }
}

/// What every decoder must report for `case`.
pub fn expected_summary(case: Case) -> Summary {
    match case {
        Case::PublishSmall(_) | Case::Publish4k(_) | Case::PublishPropsV5 => Summary::Publish {
            topic: TOPIC.to_owned(),
            qos: 1,
            pkid: PACKET_ID,
            payload: payload(case.payload_len()),
            user_props: if case == Case::PublishPropsV5 {
                USER_PROPS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            } else {
                Vec::new()
            },
        },
        Case::Subscribe10(_) => Summary::Subscribe {
            pkid: PACKET_ID,
            filters: subscribe_filters()
                .into_iter()
                .map(|f| (f, SUBSCRIBE_QOS))
                .collect(),
        },
        Case::ConnectV5 => Summary::Connect(ConnectSummary {
            client_id: CLIENT_ID.to_owned(),
            clean_start: true,
            keep_alive: KEEP_ALIVE,
            username: Some(USERNAME.to_owned()),
            password: Some(PASSWORD.as_bytes().to_vec()),
            will_topic: Some(WILL_TOPIC.to_owned()),
            will_payload: Some(payload(WILL_PAYLOAD)),
            will_qos: WILL_QOS,
            will_delay: Some(WILL_DELAY),
            will_expiry: Some(WILL_EXPIRY),
            will_content_type: Some(WILL_CONTENT_TYPE.to_owned()),
            session_expiry: Some(SESSION_EXPIRY),
            receive_max: Some(RECEIVE_MAX),
            max_packet_size: Some(MAX_PACKET_SIZE),
            topic_alias_max: Some(TOPIC_ALIAS_MAX),
            user_props: vec![(
                CONNECT_USER_PROP.0.to_owned(),
                CONNECT_USER_PROP.1.to_owned(),
            )],
        }),
    }
}

// ---------------------------------------------------------------- (f) trie

/// Number of subscription filters in the `trie_match_100k` case.
pub const TRIE_FILTERS: usize = 100_000;

/// The topic name matched against them.
pub const TRIE_TOPIC: &str = "dev/4242/kitchen/temp";

/// Filters that are not per device: catch-alls and cross-device wildcards.
/// `site/#` and `$SYS/#` do not match [`TRIE_TOPIC`]; the others do.
pub const TRIE_SHARED_FILTERS: [&str; 8] = [
    "#",
    "+/#",
    "+/+/#",
    "dev/+/kitchen/temp",
    "dev/+/+/+",
    "+/4242/kitchen/temp",
    "site/#",
    "$SYS/#",
];

/// Filters per device in [`trie_filters`].
const PER_DEVICE: usize = 4;

/// The 100,000 distinct, valid filters of the `trie_match_100k` case: four
/// per device (a `+` filter, a `#` filter, a deeper per-site literal filter
/// and an exact one) for 24,998 devices, plus [`TRIE_SHARED_FILTERS`].
pub fn trie_filters() -> Vec<String> {
    let devices = (TRIE_FILTERS - TRIE_SHARED_FILTERS.len()) / PER_DEVICE;
    let mut out = Vec::with_capacity(TRIE_FILTERS);
    for d in 0..devices {
        out.push(format!("dev/{d}/+/temp"));
        out.push(format!("dev/{d}/#"));
        out.push(format!("site/{}/dev/{d}/status", d % 100));
        out.push(format!("dev/{d}/kitchen/temp"));
    }
    out.extend(TRIE_SHARED_FILTERS.iter().map(|f| f.to_string()));
    assert_eq!(out.len(), TRIE_FILTERS);
    out
}

/// How many of [`trie_filters`] match [`TRIE_TOPIC`]: the device's `+`, `#`
/// and exact filters, and six of the shared ones.
pub const TRIE_EXPECTED_MATCHES: usize = 3 + 6;
