//! Several of our clients (`mqtt_core::client::Client`) wired in memory
//! through the sans-IO broker engine (`mqtt_core::broker::Broker`):
//! publish/subscribe at every QoS, QoS downgrade, subscription
//! identifiers, retained messages, wills, sessions with offline queues,
//! session takeover, authentication (passwords, a pluggable
//! authenticator, 5.0 enhanced authentication and re-authentication,
//! deferred decisions), authorization (ACL and a pluggable authorizer,
//! wildcard-aware subscription checks), the connection limit, fair output,
//! offline queue ageing and every limit's refusal.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mqtt_core::broker::{
    Access, Acl, AuthDecision, AuthInfo, Authenticator, Authorizer, Broker, BrokerLimits,
    BrokerOptions, CompleteAuthError, ConnectInfo, ConnectionId, PasswordTable, QueueFullPolicy,
};
use mqtt_core::client::{Client, ClientOptions, DisconnectReason, Event};
use mqtt_core::codec::{
    AuthProperties, Disconnect, MqttString, ProtocolVersion, Publish, QoS, ReasonCode,
    RetainHandling, Subscribe, SubscribeFilter, SubscriptionOptions, Unsubscribe, Will,
};

use mqtt_tests::engine_net::{opts, persistent, Net, Peer};

const V31: ProtocolVersion = ProtocolVersion::V31;
const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// A SUBSCRIBE with packet identifier `id` for each of `filters` at `qos`.
fn subscribe_all(id: u16, filters: &[&str], qos: QoS) -> Subscribe {
    let list = filters
        .iter()
        .map(|f| SubscribeFilter::new(f, SubscriptionOptions::new(qos)).unwrap())
        .collect();
    Subscribe::new(id, list)
}

/// A QoS 1 PUBLISH to `topic` with the given Message Expiry Interval.
fn expiring(topic: &str, payload: &'static [u8], expiry: Option<u32>) -> Publish {
    let mut p = Publish::new(topic, payload)
        .unwrap()
        .with_qos(QoS::AtLeastOnce, 0);
    p.properties.message_expiry_interval = expiry;
    p
}

fn payloads(msgs: &[Publish]) -> Vec<Vec<u8>> {
    msgs.iter().map(|p| p.payload.to_vec()).collect()
}

#[test]
fn pub_sub_every_qos_with_downgrade() {
    for version in [V31, V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let sub2 = net.add(opts(version, "sub2"));
        let sub1 = net.add(opts(version, "sub1"));
        let publ = net.add(opts(version, "pub"));
        net.subscribe(sub2, Subscribe::single(1, "t/#", QoS::ExactlyOnce).unwrap());
        net.subscribe(sub1, Subscribe::single(1, "t/+", QoS::AtLeastOnce).unwrap());
        assert_eq!(net.suback_codes(sub2), vec![ReasonCode::GrantedQoS2]);
        assert_eq!(net.suback_codes(sub1), vec![ReasonCode::GrantedQoS1]);
        for (n, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            net.publish(publ, "t/a", &[n as u8], qos, false);
        }
        net.publish(publ, "other", b"x", QoS::AtLeastOnce, false);
        let m2 = net.messages(sub2);
        assert_eq!(payloads(&m2), vec![vec![0], vec![1], vec![2]]);
        let q2: Vec<QoS> = m2.iter().map(|p| p.qos).collect();
        assert_eq!(
            q2,
            vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        );
        let m1 = net.messages(sub1);
        let q1: Vec<QoS> = m1.iter().map(|p| p.qos).collect();
        assert_eq!(
            q1,
            vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::AtLeastOnce]
        );
        assert!(m1.iter().all(|p| p.topic.as_str() == "t/a" && !p.retain));
        // The publisher's QoS 1 and 2 messages were acknowledged; the one
        // nobody subscribed to with 0x10 in 5.0.
        let unmatched = if version == V5 {
            ReasonCode::NoMatchingSubscribers
        } else {
            ReasonCode::Success
        };
        assert_eq!(
            net.completions(publ),
            vec![ReasonCode::Success, ReasonCode::Success, unmatched]
        );
        assert!(net.messages(publ).is_empty());
    }
}

/// A 5.0 message that matches no subscription is acknowledged with 0x10
/// No matching subscribers, in PUBACK and PUBREC, and still retained when
/// asked; a kept session of an offline subscriber matches. The option
/// `no_matching_subscribers = false` keeps 0x00.
#[test]
fn a_message_nobody_subscribed_to_gets_no_matching_subscribers() {
    let mut net = Net::new(BrokerOptions::new());
    let (s, publ) = net.offline_subscriber(V5, 60, "queued", QoS::AtLeastOnce);
    net.publish(publ, "nobody", b"1", QoS::AtLeastOnce, false);
    net.publish(publ, "kept", b"2", QoS::AtLeastOnce, true);
    net.publish(publ, "queued", b"3", QoS::AtLeastOnce, false);
    assert_eq!(
        net.completions(publ),
        vec![
            ReasonCode::NoMatchingSubscribers,
            ReasonCode::NoMatchingSubscribers,
            ReasonCode::Success,
        ]
    );
    assert_eq!(net.broker.retained().len(), 1);
    assert_eq!(net.broker.queued_for("s"), 1);
    net.connect(s);
    assert_eq!(payloads(&net.messages(s)), vec![b"3".to_vec()]);

    // The acknowledgements on the wire, PUBREC included, with and without
    // the option.
    use mqtt_core::codec::{Connect, DecodeOptions, Decoder, Packet, PacketRef};
    let encode = |p: PacketRef<'_>| {
        let mut buf = vec![0u8; 64];
        let n = p.encode_to_slice(V5, &mut buf).unwrap();
        buf.truncate(n);
        buf
    };
    for (report, code) in [
        (true, ReasonCode::NoMatchingSubscribers),
        (false, ReasonCode::Success),
    ] {
        let mut broker = Broker::new(BrokerOptions::new().with_no_matching_subscribers(report));
        let conn = broker.connection_opened(0);
        let connect = Connect::new(V5, "raw").unwrap();
        broker.handle_input(conn, 0, &encode(PacketRef::Connect(connect.as_view())));
        for (id, qos) in [(1, QoS::AtLeastOnce), (2, QoS::ExactlyOnce)] {
            let p = Publish::new("nobody", &b"x"[..]).unwrap().with_qos(qos, id);
            broker.handle_input(conn, 0, &encode(PacketRef::Publish(p.as_view())));
        }
        let mut decoder = Decoder::new(DecodeOptions::new(V5));
        while let Some((_, bytes)) = broker.poll_output() {
            decoder.feed(&bytes);
        }
        let mut acks = Vec::new();
        while let Some(p) = decoder.next_packet().unwrap() {
            match p {
                Packet::PubAck(a) => acks.push(("PUBACK", a.reason_code)),
                Packet::PubRec(r) => acks.push(("PUBREC", r.reason_code)),
                _ => {}
            }
        }
        assert_eq!(acks, vec![("PUBACK", code), ("PUBREC", code)]);
    }
}

#[test]
fn subscription_identifiers_and_no_local() {
    let mut net = Net::new(BrokerOptions::new());
    let a = net.add(opts(V5, "a"));
    let b = net.add(opts(V5, "b"));
    net.subscribe(
        a,
        Subscribe::single(1, "s/#", QoS::AtLeastOnce)
            .unwrap()
            .with_subscription_identifier(7),
    );
    net.subscribe(
        a,
        Subscribe::single(2, "s/x", QoS::AtMostOnce)
            .unwrap()
            .with_subscription_identifier(9),
    );
    let mut options = SubscriptionOptions::new(QoS::AtLeastOnce);
    options.no_local = true;
    net.subscribe(
        b,
        Subscribe::new(3, vec![SubscribeFilter::new("s/#", options).unwrap()]),
    );
    net.publish(a, "s/x", b"1", QoS::AtLeastOnce, false);
    let m = net.messages(a);
    assert_eq!(m.len(), 1, "one copy for overlapping subscriptions");
    assert_eq!(m[0].qos, QoS::AtLeastOnce);
    assert_eq!(m[0].properties.subscription_identifiers, vec![7, 9]);
    net.publish(b, "s/y", b"2", QoS::AtMostOnce, false);
    assert_eq!(
        payloads(&net.messages(a)),
        vec![b"1".to_vec(), b"2".to_vec()]
    );
    // b's own message is not sent back (No Local); a's is.
    assert_eq!(payloads(&net.messages(b)), vec![b"1".to_vec()]);
}

#[test]
fn retained_messages() {
    for version in [V31, V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let publ = net.add(opts(version, "pub"));
        net.publish(publ, "r/1", b"one", QoS::AtLeastOnce, true);
        net.publish(publ, "r/2", b"two", QoS::AtMostOnce, true);
        assert_eq!(net.broker.retained().len(), 2);
        let late = net.add(opts(version, "late"));
        net.subscribe(late, Subscribe::single(1, "r/#", QoS::ExactlyOnce).unwrap());
        let mut m = net.messages(late);
        m.sort_by(|a, b| a.topic.as_str().cmp(b.topic.as_str()));
        assert_eq!(payloads(&m), vec![b"one".to_vec(), b"two".to_vec()]);
        assert!(m.iter().all(|p| p.retain));
        assert_eq!(m[0].qos, QoS::AtLeastOnce);
        assert_eq!(m[1].qos, QoS::AtMostOnce);
        // A live retained message is forwarded with RETAIN 0.
        net.publish(publ, "r/1", b"uno", QoS::AtMostOnce, true);
        let last = net.messages(late).pop().unwrap();
        assert_eq!(last.payload.as_ref(), b"uno");
        assert!(!last.retain);
        // An empty payload deletes.
        net.publish(publ, "r/2", b"", QoS::AtMostOnce, true);
        assert_eq!(net.broker.retained().len(), 1);
        let later = net.add(opts(version, "later"));
        net.subscribe(later, Subscribe::single(1, "r/#", QoS::AtMostOnce).unwrap());
        assert_eq!(payloads(&net.messages(later)), vec![b"uno".to_vec()]);
    }
}

#[test]
fn will_on_cut_not_on_disconnect() {
    for version in [V31, V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let watcher = net.add(opts(version, "watcher"));
        net.subscribe(
            watcher,
            Subscribe::single(1, "wills/#", QoS::AtLeastOnce).unwrap(),
        );
        let will = Will::new("wills/a", b"a died".to_vec(), QoS::AtLeastOnce).unwrap();
        let a = net.add(opts(version, "a").with_will(will.clone()));
        let b = net.add(
            opts(version, "b")
                .with_will(Will::new("wills/b", b"b died".to_vec(), QoS::AtMostOnce).unwrap()),
        );
        net.peers[b]
            .client
            .disconnect(net.now, Disconnect::new(ReasonCode::Success))
            .unwrap();
        net.drive();
        assert!(net.messages(watcher).is_empty(), "no will after DISCONNECT");
        net.cut(a);
        let m = net.messages(watcher);
        assert_eq!(payloads(&m), vec![b"a died".to_vec()]);
        assert_eq!(m[0].qos, QoS::AtLeastOnce);
        assert_eq!(net.broker.connection_count(), 1);
        assert_eq!(net.broker.session_count(), 1);
    }
}

#[test]
fn session_resume_with_offline_queue() {
    for version in [V31, V3, V5] {
        let mut limits = BrokerLimits::default();
        limits.max_queued_messages = 3;
        let mut net = Net::new(BrokerOptions::new().with_limits(limits));
        let (s, publ) = net.offline_subscriber(version, 3600, "q/#", QoS::ExactlyOnce);
        assert_eq!(net.broker.session_count(), 2, "the session is kept");
        for n in 0..5u8 {
            net.publish(publ, "q/x", &[n], QoS::AtLeastOnce, false);
        }
        net.publish(publ, "q/x", b"qos0", QoS::AtMostOnce, false);
        assert_eq!(net.broker.queued_for("s"), 3, "bounded, oldest kept");
        assert_eq!(net.broker.dropped_messages(), 2);
        net.connect(s);
        // 3.1's CONNACK has no Session Present.
        assert_eq!(net.connected(s), vec![false, version != V31]);
        assert_eq!(payloads(&net.messages(s)), vec![vec![0], vec![1], vec![2]]);
        assert_eq!(net.broker.queued_for("s"), 0);
        // Subscriptions survived: live delivery works.
        net.publish(publ, "q/y", b"live", QoS::AtLeastOnce, false);
        assert_eq!(net.messages(s).last().unwrap().payload.as_ref(), b"live");
    }
}

#[test]
fn clean_start_discards_the_session() {
    let mut net = Net::new(BrokerOptions::new());
    let (_, publ) = net.offline_subscriber(V5, 60, "q/#", QoS::AtLeastOnce);
    net.publish(publ, "q/x", b"1", QoS::AtLeastOnce, false);
    assert_eq!(net.broker.queued_for("s"), 1);
    let fresh = net.add(opts(V5, "s"));
    assert_eq!(net.connected(fresh), vec![false]);
    assert!(net.messages(fresh).is_empty());
    net.publish(publ, "q/x", b"2", QoS::AtLeastOnce, false);
    assert!(
        net.messages(fresh).is_empty(),
        "subscriptions were discarded"
    );
    // A session without expiry is not kept.
    net.cut(fresh);
    assert_eq!(net.broker.session_count(), 1);
}

#[test]
fn session_takeover() {
    for version in [V31, V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let first = net.add(persistent(version, "same", 60));
        net.subscribe(first, Subscribe::single(1, "t", QoS::AtLeastOnce).unwrap());
        let second = net.add(persistent(version, "same", 60));
        assert!(net.peers[first].conn.is_none(), "old connection closed");
        let ended = net.peers[first].events.iter().find_map(|e| match e {
            Event::Disconnected(r) => Some(r.clone()),
            _ => None,
        });
        match ended {
            Some(DisconnectReason::ByServer(d)) if version == V5 => {
                assert_eq!(d.reason_code, ReasonCode::SessionTakenOver)
            }
            Some(DisconnectReason::TransportClosed) if version != V5 => {}
            other => panic!("unexpected end {other:?}"),
        }
        assert_eq!(net.connected(second), vec![version != V31]);
        assert_eq!(net.broker.connection_count(), 1);
        assert_eq!(net.broker.session_count(), 1);
        let publ = net.add(opts(version, "pub"));
        net.publish(publ, "t", b"hi", QoS::AtLeastOnce, false);
        assert_eq!(payloads(&net.messages(second)), vec![b"hi".to_vec()]);
        assert!(net.messages(first).is_empty());
    }
}

#[test]
fn password_authentication() {
    let mut table = PasswordTable::new();
    table.insert("alice", b"secret");
    let options = BrokerOptions::new().with_passwords(table, false);
    let mut net = Net::new(options);
    let good = net.add(
        opts(V5, "good")
            .with_username("alice")
            .unwrap()
            .with_password(b"secret".to_vec()),
    );
    let bad = net.add(
        opts(V5, "bad")
            .with_username("alice")
            .unwrap()
            .with_password(b"wrong".to_vec()),
    );
    let anon = net.add(opts(V5, "anon"));
    assert_eq!(net.connected(good), vec![false]);
    assert_eq!(net.refused(bad), Some(ReasonCode::BadUserNameOrPassword));
    assert_eq!(net.refused(anon), Some(ReasonCode::NotAuthorized));
    assert_eq!(net.broker.session_count(), 1);
    assert_eq!(net.broker.connection_count(), 1);
}

/// A user listed with an empty password must present it: a CONNECT with
/// that User Name and no Password is refused with 0x86 (3.1.1: return code
/// 4), one with an empty Password gets in.
#[test]
fn a_listed_users_password_must_be_presented_even_when_empty() {
    for version in [V3, V5] {
        let table = PasswordTable::parse("guest:\nalice:secret\n").unwrap();
        let mut net = Net::new(BrokerOptions::new().with_passwords(table, true));
        let none = net.add(opts(version, "none").with_username("guest").unwrap());
        let empty = net.add(
            opts(version, "empty")
                .with_username("guest")
                .unwrap()
                .with_password(Vec::new()),
        );
        let alice = net.add(opts(version, "alice").with_username("alice").unwrap());
        assert_eq!(net.refused(none), Some(ReasonCode::BadUserNameOrPassword));
        assert_eq!(net.refused(alice), Some(ReasonCode::BadUserNameOrPassword));
        assert_eq!(net.connected(empty), vec![false]);
        assert_eq!(net.broker.session_count(), 1);
    }
}

#[test]
fn acl_refusals() {
    let acl = Acl::parse("topic read public/#\ntopic write in/#\ntopic read in/#\n").unwrap();
    let mut net = Net::new(BrokerOptions::new().with_acl(acl));
    let sub = net.add(opts(V5, "sub"));
    let publ = net.add(opts(V5, "pub"));
    net.subscribe(
        sub,
        subscribe_all(1, &["in/#", "secret/#"], QoS::AtLeastOnce),
    );
    assert_eq!(
        net.suback_codes(sub),
        vec![ReasonCode::GrantedQoS1, ReasonCode::NotAuthorized]
    );
    net.publish(publ, "public/x", b"no", QoS::AtLeastOnce, false);
    net.publish(publ, "public/x", b"no", QoS::ExactlyOnce, false);
    net.publish(publ, "public/x", b"no", QoS::AtMostOnce, false);
    net.publish(publ, "in/x", b"yes", QoS::AtLeastOnce, false);
    assert_eq!(
        net.completions(publ),
        vec![
            ReasonCode::NotAuthorized,
            ReasonCode::NotAuthorized,
            ReasonCode::Success
        ]
    );
    assert_eq!(payloads(&net.messages(sub)), vec![b"yes".to_vec()]);
    assert_eq!(net.broker.connection_count(), 2);
}

#[test]
fn timeouts_keep_alive_and_connect() {
    let mut net = Net::new(BrokerOptions::new());
    let watcher = net.add(opts(V5, "watcher"));
    net.subscribe(
        watcher,
        Subscribe::single(1, "wills/#", QoS::AtMostOnce).unwrap(),
    );
    let silent = net.add(
        opts(V5, "silent")
            .with_keep_alive(10)
            .with_will(Will::new("wills/silent", b"gone".to_vec(), QoS::AtMostOnce).unwrap()),
    );
    // The client vanishes without the broker seeing the transport close.
    let conn = net.peers[silent].conn.take().unwrap();
    net.peers[silent].client.handle_transport_closed(net.now);
    // A transport that never sends CONNECT.
    let mute = net.broker.connection_opened(net.now);
    assert!(net.broker.poll_timeout().is_some());
    net.now = 15_000;
    net.broker.handle_timeout(net.now);
    let mut closed = Vec::new();
    while let Some(c) = net.broker.poll_close() {
        closed.push(c);
        net.broker.connection_closed(c, net.now);
    }
    closed.sort();
    let mut expected = vec![conn, mute];
    expected.sort();
    assert_eq!(closed, expected);
    net.drive();
    assert_eq!(payloads(&net.messages(watcher)), vec![b"gone".to_vec()]);
    assert_eq!(net.broker.connection_count(), 1);
}

#[test]
fn session_expiry() {
    let mut net = Net::new(BrokerOptions::new());
    let s = net.add(persistent(V5, "s", 30));
    net.subscribe(s, Subscribe::single(1, "q", QoS::AtLeastOnce).unwrap());
    net.cut(s);
    assert_eq!(net.broker.session_count(), 1);
    assert_eq!(net.broker.poll_timeout(), Some(30_000));
    net.now = 29_999;
    net.broker.handle_timeout(net.now);
    assert_eq!(net.broker.session_count(), 1);
    net.now = 30_000;
    net.broker.handle_timeout(net.now);
    assert_eq!(net.broker.session_count(), 0);
    assert!(net.broker.subscriptions().is_empty());
    net.connect(s);
    assert_eq!(net.connected(s), vec![false, false]);
}

#[test]
fn will_delay_interval() {
    let mut net = Net::new(BrokerOptions::new());
    let watcher = net.add(opts(V5, "watcher"));
    net.subscribe(
        watcher,
        Subscribe::single(1, "wills/#", QoS::AtMostOnce).unwrap(),
    );
    let mut will = Will::new("wills/d", b"late".to_vec(), QoS::AtMostOnce).unwrap();
    will.properties.will_delay_interval = Some(10);
    let d_opts = persistent(V5, "d", 60).with_will(will);
    let d = net.add(d_opts);
    // Cut, then reconnect within the delay: no will.
    net.cut(d);
    net.now = 5_000;
    net.broker.handle_timeout(net.now);
    net.connect(d);
    net.now = 20_000;
    net.broker.handle_timeout(net.now);
    net.drive();
    assert!(net.messages(watcher).is_empty());
    // Cut again and stay away: the will comes after 10 s.
    net.cut(d);
    assert_eq!(net.broker.poll_timeout(), Some(30_000));
    net.now = 29_999;
    net.broker.handle_timeout(net.now);
    net.drive();
    assert!(net.messages(watcher).is_empty());
    net.now = 30_000;
    net.broker.handle_timeout(net.now);
    net.drive();
    assert_eq!(payloads(&net.messages(watcher)), vec![b"late".to_vec()]);
    assert_eq!(
        net.broker.session_count(),
        2,
        "the session outlives the will"
    );
}

/// Deadlines of many connections and sessions at once, among a busy pair
/// whose own keep alive keeps moving: keep alive of idle clients (both
/// versions, with wills), connect timeouts of transports that never send
/// CONNECT, expiry of kept sessions and delayed wills, all with different
/// times and some sharing one. The driver sleeps until `poll_timeout`
/// each time (which must equal a scan of every connection, session and
/// will), and each deadline must fire exactly at its time.
#[test]
fn many_deadlines_fire_on_time_among_busy_connections() {
    const IDLE: usize = 60;
    const MUTE: u64 = 10;
    const KEPT: u64 = 40;
    const DELAYED: u64 = 20;
    let mut net = Net::new(BrokerOptions::new());
    let watcher = net.add(opts(V5, "watcher").with_keep_alive(0));
    net.subscribe(
        watcher,
        Subscribe::single(1, "wills/#", QoS::AtMostOnce).unwrap(),
    );
    let busy_sub = net.add(opts(V5, "busy-sub").with_keep_alive(5));
    net.subscribe(
        busy_sub,
        Subscribe::single(1, "busy", QoS::AtLeastOnce).unwrap(),
    );
    let busy_pub = net.add(opts(V3, "busy-pub").with_keep_alive(5));

    // Expected: connection closes and will arrivals by time.
    let mut expected_closes: Vec<(u64, ConnectionId)> = Vec::new();
    let mut expected_wills: Vec<(u64, String)> = Vec::new();
    // When each session ends (the idle ones end with their connection).
    let mut session_ends: Vec<u64> = Vec::new();
    let mut idle = Vec::new();
    for i in 0..IDLE {
        net.now = (i as u64 % 5) * 100;
        let keep_alive = 2 + (i % 9) as u16;
        let version = if i % 2 == 0 { V5 } else { V3 };
        let topic = format!("wills/idle{i}");
        let will = Will::new(topic.as_str(), b"idle".to_vec(), QoS::AtMostOnce).unwrap();
        let p = net.add(
            opts(version, &format!("idle{i}"))
                .with_keep_alive(keep_alive)
                .with_will(will),
        );
        let at = net.now + u64::from(keep_alive) * 1500;
        expected_closes.push((at, net.peers[p].conn.unwrap()));
        expected_wills.push((at, topic));
        session_ends.push(at);
        idle.push(p);
    }
    for i in 0..MUTE {
        net.now = i * 100;
        let conn = net.broker.connection_opened(net.now);
        expected_closes.push((net.now + 10_000, conn));
    }
    net.now = 500;
    let mut kept = Vec::new();
    for i in 0..KEPT {
        let expiry = 3 + (i * 7) % 40;
        kept.push((
            net.add(persistent(V5, &format!("kept{i}"), expiry as u32)),
            expiry,
        ));
    }
    let mut delayed = Vec::new();
    for i in 0..DELAYED {
        let topic = format!("wills/late{i}");
        let mut will = Will::new(topic.as_str(), b"late".to_vec(), QoS::AtMostOnce).unwrap();
        will.properties.will_delay_interval = Some(2 + i as u32);
        let p = net.add(persistent(V5, &format!("late{i}"), 100 + i as u32).with_will(will));
        delayed.push((p, i, topic));
    }
    net.now = 600;
    for &(p, expiry) in &kept {
        net.cut(p);
        session_ends.push(600 + expiry * 1000);
    }
    net.now = 700;
    for (p, i, topic) in &delayed {
        net.cut(*p);
        expected_wills.push((700 + (2 + i) * 1000, topic.clone()));
        session_ends.push(700 + (100 + i) * 1000);
    }
    net.drive();
    let base = 3; // watcher and the busy pair
    let sessions_at = |now: u64| base + session_ends.iter().filter(|&&t| t > now).count();
    assert_eq!(net.broker.session_count(), sessions_at(net.now));

    let mut closes = Vec::new();
    let mut wills = Vec::new();
    let mut visited = std::collections::BTreeSet::new();
    let mut next_publish = 1_000;
    let mut published = 0;
    while net.now < 130_000 {
        let deadline = net.broker.poll_timeout();
        assert_eq!(deadline, net.broker.poll_timeout_scan(), "at {}", net.now);
        let next = deadline.map_or(next_publish, |t| t.min(next_publish));
        assert!(
            next >= net.now,
            "deadline {next} in the past at {}",
            net.now
        );
        net.now = next;
        visited.insert(next);
        net.broker.handle_timeout(next);
        while let Some(conn) = net.broker.poll_close() {
            closes.push((next, conn));
            if let Some(p) = net.peers.iter_mut().find(|p| p.conn == Some(conn)) {
                p.client.handle_transport_closed(next);
                p.conn = None;
            }
            net.broker.connection_closed(conn, next);
        }
        net.drive();
        let seen = net.messages(watcher).len();
        for m in &net.messages(watcher)[wills.len()..seen] {
            wills.push((next, m.topic.as_str().to_string()));
        }
        assert_eq!(net.broker.session_count(), sessions_at(next), "at {next}");
        if next == next_publish {
            net.publish(busy_pub, "busy", b"x", QoS::AtLeastOnce, false);
            published += 1;
            next_publish += 500;
        }
    }
    expected_closes.sort();
    closes.sort();
    assert_eq!(closes, expected_closes);
    expected_wills.sort();
    wills.sort();
    assert_eq!(wills, expected_wills);
    for t in session_ends.iter().filter(|&&t| t < 130_000) {
        assert!(visited.contains(t), "no wake-up at the session expiry {t}");
    }
    // The busy pair outlived every idle client; all was delivered.
    assert!(net.peers[busy_sub].conn.is_some() && net.peers[busy_pub].conn.is_some());
    assert_eq!(net.messages(busy_sub).len(), published);
    assert!(idle.iter().all(|&p| net.peers[p].conn.is_none()));
    assert_eq!(net.broker.connection_count(), 3);
    assert_eq!(net.broker.poll_timeout(), net.broker.poll_timeout_scan());
}

#[test]
fn shared_subscription_round_robin() {
    let mut net = Net::new(BrokerOptions::new());
    let a = net.add(opts(V5, "a"));
    let b = net.add(opts(V5, "b"));
    let publ = net.add(opts(V5, "pub"));
    for i in [a, b] {
        net.subscribe(
            i,
            Subscribe::single(1, "$share/g/jobs/#", QoS::AtLeastOnce).unwrap(),
        );
    }
    for n in 0..4u8 {
        net.publish(publ, "jobs/x", &[n], QoS::AtLeastOnce, false);
    }
    let (ma, mb) = (payloads(&net.messages(a)), payloads(&net.messages(b)));
    assert_eq!(ma.len(), 2);
    assert_eq!(mb.len(), 2);
    let mut all = [ma, mb].concat();
    all.sort();
    assert_eq!(all, vec![vec![0], vec![1], vec![2], vec![3]]);
}

#[test]
fn retain_handling_options() {
    let mut net = Net::new(BrokerOptions::new());
    let publ = net.add(opts(V5, "pub"));
    net.publish(publ, "r", b"kept", QoS::AtMostOnce, true);
    let sub = net.add(opts(V5, "sub"));
    let with = |rh: RetainHandling| {
        let mut o = SubscriptionOptions::new(QoS::AtMostOnce);
        o.retain_handling = rh;
        o
    };
    let sub_rh = |net: &mut Net, id: u16, rh| {
        net.subscribe(
            sub,
            Subscribe::new(id, vec![SubscribeFilter::new("r", with(rh)).unwrap()]),
        );
        net.messages(sub).len()
    };
    assert_eq!(sub_rh(&mut net, 1, RetainHandling::DoNotSend), 0);
    // The subscription exists now: "if new" sends nothing either.
    assert_eq!(sub_rh(&mut net, 2, RetainHandling::SendAtSubscribeIfNew), 0);
    assert_eq!(sub_rh(&mut net, 3, RetainHandling::SendAtSubscribe), 1);
    assert_eq!(sub_rh(&mut net, 4, RetainHandling::SendAtSubscribe), 2);
}

// ----- pluggable and enhanced authentication ------------------------------

/// A CONNECT as the test authenticator saw it: client id, username,
/// password, method, data.
type SeenConnect = (
    String,
    Option<String>,
    Option<Vec<u8>>,
    Option<String>,
    Option<Vec<u8>>,
);

/// What the test authenticator saw.
#[derive(Debug, Default)]
struct Seen {
    connects: Vec<SeenConnect>,
    auths: Vec<(ReasonCode, bool, Option<Vec<u8>>)>,
    closed: Vec<ConnectionId>,
}

/// A challenge/response method "CHALLENGE": the CONNECT's data must be
/// "hello", the answer to the challenge "nonce" must be "response"; a
/// re-authentication goes the same way. With `defer`, every first answer is
/// `Pending`.
struct ChallengeAuth {
    seen: Arc<Mutex<Seen>>,
    defer: bool,
}

impl Authenticator for ChallengeAuth {
    fn authenticate_connect(&mut self, info: &ConnectInfo<'_>) -> AuthDecision {
        self.seen.lock().unwrap().connects.push((
            info.client_id.to_string(),
            info.username.map(str::to_string),
            info.password.map(<[u8]>::to_vec),
            info.authentication_method.map(str::to_string),
            info.authentication_data.map(<[u8]>::to_vec),
        ));
        if self.defer {
            return AuthDecision::Pending;
        }
        match (info.authentication_method, info.authentication_data) {
            (None, _) if info.username == Some("plain") => AuthDecision::ACCEPT,
            (None, _) => AuthDecision::Reject(ReasonCode::BadUserNameOrPassword),
            (Some("CHALLENGE"), Some(b"hello")) => {
                AuthDecision::Continue(Some(Bytes::from_static(b"nonce")))
            }
            (Some("CHALLENGE"), _) => AuthDecision::Reject(ReasonCode::NotAuthorized),
            (Some(_), _) => AuthDecision::Reject(ReasonCode::BadAuthenticationMethod),
        }
    }

    fn authenticate_auth(&mut self, info: &AuthInfo<'_>) -> AuthDecision {
        self.seen.lock().unwrap().auths.push((
            info.reason_code,
            info.reauthentication,
            info.authentication_data.map(<[u8]>::to_vec),
        ));
        assert_eq!(info.authentication_method, "CHALLENGE");
        match (info.reason_code, info.authentication_data) {
            (ReasonCode::ReAuthenticate, Some(b"hello")) => {
                AuthDecision::Continue(Some(Bytes::from_static(b"nonce")))
            }
            (ReasonCode::ContinueAuthentication, Some(b"response")) => {
                AuthDecision::Accept(Some(Bytes::from_static(b"welcome")))
            }
            (ReasonCode::ContinueAuthentication, Some(b"bad-password")) => {
                // Not a DISCONNECT code: the engine sends 0x87 instead.
                AuthDecision::Reject(ReasonCode::BadUserNameOrPassword)
            }
            _ => AuthDecision::Reject(ReasonCode::NotAuthorized),
        }
    }

    fn connection_closed(&mut self, connection: ConnectionId) {
        self.seen.lock().unwrap().closed.push(connection);
    }
}

/// The hooks are `Send`, so a broker can move to another thread.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Broker>();
};

fn challenge_net(defer: bool) -> (Net, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut net = Net::new(BrokerOptions::new());
    net.broker.set_authenticator(Box::new(ChallengeAuth {
        seen: seen.clone(),
        defer,
    }));
    (net, seen)
}

fn challenge_opts(id: &str) -> ClientOptions {
    opts(V5, id)
        .with_authentication("CHALLENGE", Some(Bytes::from_static(b"hello")))
        .unwrap()
}

fn challenges(net: &Net, i: usize) -> Vec<Vec<u8>> {
    net.events(i, |e| match e {
        Event::AuthChallenge(a) => Some(
            a.properties
                .authentication_data
                .as_deref()
                .unwrap_or_default()
                .to_vec(),
        ),
        _ => None,
    })
}

fn answer(net: &mut Net, i: usize, data: &'static [u8]) {
    net.peers[i]
        .client
        .authenticate(
            net.now,
            Some(Bytes::from_static(data)),
            AuthProperties::default(),
        )
        .expect("authenticate");
    net.drive();
}

/// [MQTT-4.12.0-2] the server continues with AUTH 0x18; [MQTT-4.12.0-3] the
/// client's AUTH 0x18 goes back to the authenticator; [MQTT-4.12.0-5] the
/// CONNACK carries the method of CONNECT and the final data.
#[test]
fn enhanced_authentication_challenge_and_response_mqtt_4_12_0_2_3_5() {
    let (mut net, seen) = challenge_net(false);
    let c = net.add(
        challenge_opts("c")
            .with_username("u")
            .unwrap()
            .with_password(b"pw".to_vec()),
    );
    assert_eq!(challenges(&net, c), vec![b"nonce".to_vec()]);
    assert!(net.connected(c).is_empty(), "no CONNACK before the answer");
    answer(&mut net, c, b"response");
    let connack = net.peers[c]
        .events
        .iter()
        .find_map(|e| match e {
            Event::Connected(k) => Some(k.connack.clone()),
            _ => None,
        })
        .expect("connected");
    assert_eq!(
        connack
            .properties
            .authentication_method
            .as_ref()
            .map(|m| m.as_str()),
        Some("CHALLENGE")
    );
    assert_eq!(
        connack.properties.authentication_data.as_deref(),
        Some(&b"welcome"[..])
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.connects,
        vec![(
            "c".to_string(),
            Some("u".to_string()),
            Some(b"pw".to_vec()),
            Some("CHALLENGE".to_string()),
            Some(b"hello".to_vec())
        )]
    );
    assert_eq!(
        seen.auths,
        vec![(
            ReasonCode::ContinueAuthentication,
            false,
            Some(b"response".to_vec())
        )]
    );
    drop(seen);
    // The session works.
    net.subscribe(c, Subscribe::single(1, "t", QoS::AtLeastOnce).unwrap());
    assert_eq!(net.suback_codes(c), vec![ReasonCode::GrantedQoS1]);
}

/// [MQTT-4.12.0-4] the server may reject at any point with a CONNACK error
/// and closes.
#[test]
fn enhanced_authentication_rejected_mid_exchange_mqtt_4_12_0_4() {
    let (mut net, seen) = challenge_net(false);
    let c = net.add(challenge_opts("c"));
    answer(&mut net, c, b"wrong");
    assert_eq!(net.refused(c), Some(ReasonCode::NotAuthorized));
    assert!(net.peers[c].conn.is_none(), "closed");
    assert_eq!(net.broker.connection_count(), 0);
    assert_eq!(net.broker.session_count(), 0);
    assert_eq!(seen.lock().unwrap().closed.len(), 1, "the hook is told");
}

/// [MQTT-4.12.0-1] a method the server does not support: CONNACK 0x8C and
/// close, without an authenticator, with the password table, and with an
/// authenticator that does not know it.
#[test]
fn unsupported_authentication_method_is_refused_mqtt_4_12_0_1() {
    let mut table = PasswordTable::new();
    table.insert("u", b"p");
    for options in [
        BrokerOptions::new(),
        BrokerOptions::new().with_passwords(table, true),
    ] {
        let mut net = Net::new(options);
        let c = net.add(
            opts(V5, "c")
                .with_authentication("SCRAM-SHA-1", None)
                .unwrap(),
        );
        assert_eq!(net.refused(c), Some(ReasonCode::BadAuthenticationMethod));
        assert_eq!(net.broker.connection_count(), 0);
    }
    let (mut net, _) = challenge_net(false);
    let c = net.add(opts(V5, "c").with_authentication("OTHER", None).unwrap());
    assert_eq!(net.refused(c), Some(ReasonCode::BadAuthenticationMethod));
}

/// A CONNECT without a method passes through the authenticator too; and
/// [MQTT-4.12.0-6] an authenticator answering `Continue` to it does not
/// make the server send AUTH: the CONNECT is refused with 0x8C.
#[test]
fn authenticator_sees_plain_connects_and_no_auth_without_method_mqtt_4_12_0_6() {
    struct AlwaysContinue;
    impl Authenticator for AlwaysContinue {
        fn authenticate_connect(&mut self, _: &ConnectInfo<'_>) -> AuthDecision {
            AuthDecision::Continue(None)
        }
    }
    for version in [V31, V3, V5] {
        let (mut net, _) = challenge_net(false);
        let ok = net.add(opts(version, "ok").with_username("plain").unwrap());
        let bad = net.add(opts(version, "bad").with_username("other").unwrap());
        assert_eq!(net.connected(ok), vec![false]);
        // 3.1.1: return code 4, read back as 0x86.
        assert_eq!(net.refused(bad), Some(ReasonCode::BadUserNameOrPassword));

        net.broker.set_authenticator(Box::new(AlwaysContinue));
        let c = net.add(opts(version, "c"));
        let expected = if version == V5 {
            ReasonCode::BadAuthenticationMethod
        } else {
            // 3.1.1 [MQTT-3.2.2-6]: 0x8C goes out as the nearest return
            // code, 5 Not authorized.
            ReasonCode::NotAuthorized
        };
        assert_eq!(net.refused(c), Some(expected));
        assert!(challenges(&net, c).is_empty());
    }
}

/// [MQTT-4.12.1-1] re-authentication with AUTH 0x19 goes to the
/// authenticator (which continues, then accepts: AUTH 0x00 with its data);
/// [MQTT-4.12.1-2] a failed one ends with DISCONNECT and a close.
#[test]
fn reauthentication_succeeds_then_fails_mqtt_4_12_1_1_and_4_12_1_2() {
    let (mut net, seen) = challenge_net(false);
    let c = net.add(challenge_opts("c"));
    answer(&mut net, c, b"response");
    assert_eq!(net.connected(c), vec![false]);
    answer(&mut net, c, b"hello"); // AUTH 0x19
    assert_eq!(challenges(&net, c).len(), 2);
    answer(&mut net, c, b"response");
    let reauthenticated = net.events(c, |e| match e {
        Event::Reauthenticated(a) => Some(a.properties.authentication_data.clone()),
        _ => None,
    });
    assert_eq!(reauthenticated, vec![Some(Bytes::from_static(b"welcome"))]);
    assert_eq!(
        seen.lock().unwrap().auths[1..],
        [
            (ReasonCode::ReAuthenticate, true, Some(b"hello".to_vec())),
            (
                ReasonCode::ContinueAuthentication,
                true,
                Some(b"response".to_vec())
            ),
        ]
    );
    // Still connected and working.
    net.subscribe(c, Subscribe::single(1, "t", QoS::AtMostOnce).unwrap());
    assert_eq!(net.suback_codes(c), vec![ReasonCode::Success]);

    // A failed re-authentication: 0x86 is not a DISCONNECT code, so 0x87.
    answer(&mut net, c, b"hello");
    answer(&mut net, c, b"bad-password");
    assert_eq!(
        net.disconnected_by_server(c),
        Some(ReasonCode::NotAuthorized)
    );
    assert!(net.peers[c].conn.is_none());
    assert_eq!(net.broker.connection_count(), 0);
}

/// A deferred decision: nothing is answered until
/// `complete_authentication`, at connect and at re-authentication; a
/// connect left pending past the connect timeout is closed, and completing
/// it then fails.
#[test]
fn deferred_authentication_decisions() {
    let (mut net, seen) = challenge_net(true);
    let c = net.add(opts(V5, "c").with_username("plain").unwrap());
    let conn = net.peers[c].conn.unwrap();
    assert!(net.connected(c).is_empty());
    assert!(net.broker.authentication_pending(conn));
    assert_eq!(seen.lock().unwrap().connects.len(), 1);
    net.now = 2_000;
    net.broker
        .complete_authentication(conn, net.now, AuthDecision::ACCEPT)
        .unwrap();
    net.drive();
    assert_eq!(net.connected(c), vec![false]);
    assert!(!net.broker.authentication_pending(conn));
    assert_eq!(
        net.broker
            .complete_authentication(conn, net.now, AuthDecision::ACCEPT),
        Err(CompleteAuthError::NotPending)
    );

    // Deferred rejection.
    let r = net.add(opts(V5, "r"));
    let rconn = net.peers[r].conn.unwrap();
    net.broker
        .complete_authentication(rconn, net.now, AuthDecision::Reject(ReasonCode::Banned))
        .unwrap();
    net.drive();
    assert_eq!(net.refused(r), Some(ReasonCode::Banned));

    // Pending past the connect timeout (10 s by default): closed.
    let late = net.add(opts(V5, "late"));
    let lconn = net.peers[late].conn.unwrap();
    net.now += 10_000;
    net.broker.handle_timeout(net.now);
    net.drive();
    assert!(net.peers[late].conn.is_none(), "closed at the timeout");
    assert!(seen.lock().unwrap().closed.contains(&lconn));
    assert_eq!(
        net.broker
            .complete_authentication(lconn, net.now, AuthDecision::ACCEPT),
        Err(CompleteAuthError::UnknownConnection)
    );
    assert_eq!(net.broker.session_count(), 1);
}

/// A deferred enhanced authentication: `Continue` given later, then the
/// final answer later too.
#[test]
fn deferred_enhanced_authentication_and_reauthentication() {
    let (mut net, seen) = challenge_net(true);
    let c = net.add(challenge_opts("c"));
    let conn = net.peers[c].conn.unwrap();
    net.broker
        .complete_authentication(
            conn,
            net.now,
            AuthDecision::Continue(Some(Bytes::from_static(b"nonce"))),
        )
        .unwrap();
    net.drive();
    assert_eq!(challenges(&net, c), vec![b"nonce".to_vec()]);
    // The answer goes to the hook, which is not deferring AUTH.
    answer(&mut net, c, b"response");
    assert_eq!(net.connected(c), vec![false]);
    assert_eq!(seen.lock().unwrap().auths.len(), 1);

    // Re-authentication answered later, through a hook that defers.
    struct Defer;
    impl Authenticator for Defer {
        fn authenticate_connect(&mut self, _: &ConnectInfo<'_>) -> AuthDecision {
            AuthDecision::Pending
        }
        fn authenticate_auth(&mut self, _: &AuthInfo<'_>) -> AuthDecision {
            AuthDecision::Pending
        }
    }
    net.broker.set_authenticator(Box::new(Defer));
    answer(&mut net, c, b"hello");
    assert!(net.broker.authentication_pending(conn));
    // The connection keeps working meanwhile.
    net.subscribe(c, Subscribe::single(1, "t", QoS::AtMostOnce).unwrap());
    assert_eq!(net.suback_codes(c), vec![ReasonCode::Success]);
    net.broker
        .complete_authentication(
            conn,
            net.now,
            AuthDecision::Accept(Some(Bytes::from_static(b"ok"))),
        )
        .unwrap();
    net.drive();
    assert!(net.peers[c]
        .events
        .iter()
        .any(|e| matches!(e, Event::Reauthenticated(_))));

    // A second re-authentication refused with 0x8C: a CONNACK code, not a
    // DISCONNECT one (§3.14.2.1), so the DISCONNECT says 0x87.
    answer(&mut net, c, b"hello");
    assert!(net.broker.authentication_pending(conn));
    net.broker
        .complete_authentication(
            conn,
            net.now,
            AuthDecision::Reject(ReasonCode::BadAuthenticationMethod),
        )
        .unwrap();
    net.drive();
    assert_eq!(
        net.disconnected_by_server(c),
        Some(ReasonCode::NotAuthorized)
    );
    assert!(net.peers[c].conn.is_none());
}

// ----- pluggable authorization --------------------------------------------

/// [MQTT-3.9.3-1] one code per filter, in order: a subscription is granted
/// only when a read rule covers its whole filter (wildcards understood,
/// shared subscriptions by their inner filter), refused with 0x87 (3.1.1:
/// 0x80) otherwise; deliveries are still checked topic by topic.
#[test]
fn subscription_authorization_understands_wildcards_mqtt_3_9_3_1() {
    let acl = Acl::parse(
        "topic read a/#\ntopic deny a/secret/#\ntopic read b/+/x\ntopic readwrite pub/#\ntopic write a/#\n",
    )
    .unwrap();
    for version in [V3, V5] {
        let mut net = Net::new(BrokerOptions::new().with_acl(acl.clone()));
        let sub = net.add(opts(version, "sub"));
        let filters = [
            ("a/#", true),
            ("a/+/y", true),
            ("a", true),
            ("#", false),
            ("+/x", false),
            ("b/#", false),
            ("b/+/x", true),
            ("b/c/x", true),
            ("a/secret/#", false),
            ("$share/g/a/x", true),
        ];
        let list: Vec<&str> = filters.iter().map(|(f, _)| *f).collect();
        net.subscribe(sub, subscribe_all(1, &list, QoS::AtMostOnce));
        let refused = if version == V5 {
            ReasonCode::NotAuthorized
        } else {
            ReasonCode::UnspecifiedError
        };
        let expected: Vec<ReasonCode> = filters
            .iter()
            .map(|(_, ok)| if *ok { ReasonCode::Success } else { refused })
            .collect();
        assert_eq!(net.suback_codes(sub), expected, "{version:?}");
        let publ = net.add(opts(version, "pub"));
        net.publish(publ, "a/secret/1", b"hidden", QoS::AtMostOnce, false);
        net.publish(publ, "a/open", b"seen", QoS::AtMostOnce, false);
        assert_eq!(payloads(&net.messages(sub)), vec![b"seen".to_vec()]);
    }
}

/// A pluggable authorizer replaces the ACL of the options; its default
/// subscription check asks for read access on the filter's text.
#[test]
fn pluggable_authorizer() {
    /// Each client may write only below its own identifier, and read
    /// anything but `private/...`.
    struct OwnTree;
    impl Authorizer for OwnTree {
        fn authorize(&self, client_id: &str, _: Option<&str>, topic: &str, access: Access) -> bool {
            match access {
                Access::Write => topic
                    .strip_prefix(client_id)
                    .is_some_and(|rest| rest.starts_with('/')),
                Access::Read => !topic.starts_with("private"),
            }
        }
    }
    let everything_denied = Acl::new();
    let mut net = Net::new(BrokerOptions::new().with_acl(everything_denied));
    net.broker.set_authorizer(Box::new(OwnTree));
    let a = net.add(opts(V5, "a"));
    let b = net.add(opts(V5, "b"));
    net.subscribe(b, subscribe_all(1, &["#", "private/#"], QoS::AtLeastOnce));
    assert_eq!(
        net.suback_codes(b),
        vec![ReasonCode::GrantedQoS1, ReasonCode::NotAuthorized]
    );
    net.publish(a, "a/x", b"mine", QoS::AtLeastOnce, false);
    net.publish(a, "b/x", b"theirs", QoS::AtLeastOnce, false);
    assert_eq!(
        net.completions(a),
        vec![ReasonCode::Success, ReasonCode::NotAuthorized]
    );
    assert_eq!(payloads(&net.messages(b)), vec![b"mine".to_vec()]);
}

/// [MQTT-3.3.5-2] (3.1.1) a PUBLISH the server does not authorize is
/// acknowledged positively (3.1.1 has no way to say no) and not routed;
/// the connection stays open.
#[test]
fn refused_publish_in_311_is_acknowledged_and_dropped_mqtt_3_3_5_2() {
    let acl = Acl::parse("topic read t/#\ntopic write t/ok\n").unwrap();
    let mut net = Net::new(BrokerOptions::new().with_acl(acl));
    let sub = net.add(opts(V3, "sub"));
    net.subscribe(sub, Subscribe::single(1, "t/#", QoS::ExactlyOnce).unwrap());
    let publ = net.add(opts(V3, "pub"));
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        net.publish(publ, "t/no", b"refused", qos, true);
    }
    net.publish(publ, "t/ok", b"allowed", QoS::AtLeastOnce, false);
    assert_eq!(net.completions(publ), vec![ReasonCode::Success; 3]);
    assert_eq!(payloads(&net.messages(sub)), vec![b"allowed".to_vec()]);
    assert!(net.broker.retained().is_empty(), "not retained either");
    assert_eq!(net.broker.connection_count(), 2);
}

// ----- limits ---------------------------------------------------------------

/// Above `max_connections` a CONNECT is refused with 0x97 (3.1.1: return
/// code 3); a takeover at the limit is allowed; a freed slot is reused.
#[test]
fn connection_limit_refuses_with_quota_exceeded() {
    for version in [V31, V3, V5] {
        let mut limits = BrokerLimits::default();
        limits.max_connections = 2;
        let mut net = Net::new(BrokerOptions::new().with_limits(limits));
        let a = net.add(opts(version, "a"));
        let _b = net.add(opts(version, "b"));
        let c = net.add(opts(version, "c"));
        let expected = if version == V5 {
            ReasonCode::QuotaExceeded
        } else {
            ReasonCode::ServerUnavailable
        };
        assert_eq!(net.refused(c), Some(expected));
        assert_eq!(net.broker.connection_count(), 2);
        // A transport that has not sent CONNECT does not count.
        let _idle = net.broker.connection_opened(net.now);
        let a2 = net.add(opts(version, "a"));
        assert_eq!(net.connected(a2), vec![false], "takeover at the limit");
        assert!(net.peers[a].conn.is_none());
        net.cut(a2);
        let d = net.add(opts(version, "d"));
        assert_eq!(net.connected(d), vec![false]);
        // b and d: full again, and the takeover did not leave a slot.
        let e = net.add(opts(version, "e"));
        assert_eq!(net.refused(e), Some(expected));
        // A connection the broker ends (keep alive) frees its slot.
        let f_opts = opts(version, "f").with_keep_alive(1);
        net.now += 10_000;
        net.broker.handle_timeout(net.now);
        net.drive();
        let f = net.add(f_opts.clone());
        assert_eq!(net.refused(f), Some(expected), "b and d are still there");
        net.now += 100_000;
        net.broker.handle_timeout(net.now);
        net.drive();
        assert_eq!(net.broker.connection_count(), 0, "keep alive ended b, d");
        let f = net.add(f_opts);
        let g = net.add(opts(version, "g"));
        assert_eq!(
            (net.connected(f), net.connected(g)),
            (vec![false], vec![false])
        );
        let h = net.add(opts(version, "h"));
        assert_eq!(net.refused(h), Some(expected));
    }
}

/// A full session store (`max_sessions`) evicts the kept session whose
/// client has been offline longest, counted by `evicted_sessions`; it
/// refuses (0x89 Server busy, 3.1.1: return code 3) only a client that
/// would keep its session when every session is connected, and never a
/// client whose session ends with its connection.
#[test]
fn a_full_session_store_evicts_the_session_offline_longest() {
    for version in [V31, V3, V5] {
        let mut limits = BrokerLimits::default();
        limits.max_sessions = 2;
        let mut net = Net::new(BrokerOptions::new().with_limits(limits));
        let s1 = net.add(persistent(version, "s1", 60));
        net.cut(s1);
        let s2 = net.add(persistent(version, "s2", 60));
        net.cut(s2);
        // s1 went offline first: it is evicted for p.
        let p = net.add(persistent(version, "p", 60));
        assert_eq!(net.connected(p), vec![false]);
        assert_eq!(net.broker.evicted_sessions(), 1);
        // A clean-start client evicts s2.
        let c = net.add(opts(version, "c"));
        assert_eq!(net.connected(c), vec![false]);
        assert_eq!(net.broker.evicted_sessions(), 2);
        assert_eq!(net.broker.session_count(), 2);
        // Every session connected: another clean-start client is still
        // accepted, one that would keep its session is refused.
        let d = net.add(opts(version, "d"));
        assert_eq!(net.connected(d), vec![false]);
        let q = net.add(persistent(version, "q", 60));
        let busy = if version == V5 {
            ReasonCode::ServerBusy
        } else {
            ReasonCode::ServerUnavailable
        };
        assert_eq!(net.refused(q), Some(busy));
        // Resuming a kept session needs no room; s1's is gone (3.1 has no
        // Session Present: always false).
        net.cut(p);
        net.cut(d);
        net.connect(p);
        assert_eq!(net.connected(p), vec![false, version != V31]);
        net.cut(p);
        net.connect(s1);
        assert_eq!(net.connected(s1), vec![false, false]);
        assert_eq!(net.broker.evicted_sessions(), 3, "p was evicted for s1");
    }
}

/// Sessions kept by clients that went away cannot lock anyone out: after
/// a flood of CONNECTs with Clean Start 0 and a Session Expiry that never
/// ends, a clean-start client still connects, and so does a persistent
/// one; the store stays within `max_sessions`.
#[test]
fn a_flood_of_kept_sessions_locks_no_client_out() {
    let mut limits = BrokerLimits::default();
    limits.max_sessions = 5;
    let mut net = Net::new(BrokerOptions::new().with_limits(limits));
    for n in 0..20 {
        let i = net.add(persistent(V5, &format!("flood-{n}"), u32::MAX));
        net.cut(i);
    }
    assert_eq!(net.broker.session_count(), 5);
    assert_eq!(net.broker.evicted_sessions(), 15);
    let clean = net.add(opts(V5, "clean"));
    assert_eq!(net.connected(clean), vec![false]);
    let kept = net.add(persistent(V5, "kept", 60));
    assert_eq!(net.connected(kept), vec![false]);
    assert_eq!(net.broker.session_count(), 5);
    // The newest flooded sessions are the ones left.
    assert_eq!(net.broker.queued_for("flood-19"), 0);
    let last = net.add(persistent(V5, "flood-19", u32::MAX));
    assert_eq!(net.connected(last), vec![true]);
}

/// Beyond `max_subscriptions_per_client` a filter is refused with 0x97 in
/// the SUBACK (3.1.1: 0x80) [MQTT-3.9.3-1]; replacing one is allowed.
#[test]
fn subscription_limit_refuses_with_quota_exceeded_mqtt_3_9_3_1() {
    for version in [V3, V5] {
        let mut limits = BrokerLimits::default();
        limits.max_subscriptions_per_client = 2;
        let mut net = Net::new(BrokerOptions::new().with_limits(limits));
        let c = net.add(opts(version, "c"));
        net.subscribe(c, subscribe_all(1, &["a", "b", "c", "a"], QoS::AtLeastOnce));
        let refused = if version == V5 {
            ReasonCode::QuotaExceeded
        } else {
            ReasonCode::UnspecifiedError
        };
        assert_eq!(
            net.suback_codes(c),
            vec![
                ReasonCode::GrantedQoS1,
                ReasonCode::GrantedQoS1,
                refused,
                ReasonCode::GrantedQoS1
            ]
        );
        assert_eq!(net.broker.subscriptions().len(), 2);
    }
}

/// A full retained store: the message is routed but not retained, and 5.0
/// says so with 0x97 in the PUBACK.
#[test]
fn retained_store_full_is_reported_with_quota_exceeded() {
    let mut limits = BrokerLimits::default();
    limits.max_retained_messages = 1;
    let mut net = Net::new(BrokerOptions::new().with_limits(limits));
    let sub = net.add(opts(V5, "sub"));
    net.subscribe(sub, Subscribe::single(1, "r/#", QoS::AtLeastOnce).unwrap());
    let publ = net.add(opts(V5, "pub"));
    net.publish(publ, "r/1", b"kept", QoS::AtLeastOnce, true);
    net.publish(publ, "r/2", b"not kept", QoS::AtLeastOnce, true);
    net.publish(publ, "r/1", b"replaced", QoS::AtLeastOnce, true);
    assert_eq!(
        net.completions(publ),
        vec![
            ReasonCode::Success,
            ReasonCode::QuotaExceeded,
            ReasonCode::Success
        ]
    );
    assert_eq!(net.messages(sub).len(), 3, "all routed");
    assert_eq!(net.broker.retained().len(), 1);
}

/// Topic levels: a deeper topic name gets 0x90 in the PUBACK and is not
/// routed; a deeper filter 0x8F in the SUBACK.
#[test]
fn topic_level_limit_refuses_names_and_filters() {
    let mut limits = BrokerLimits::default();
    limits.max_topic_levels = 3;
    let mut net = Net::new(BrokerOptions::new().with_limits(limits));
    let c = net.add(opts(V5, "c"));
    net.subscribe(
        c,
        subscribe_all(1, &["a/b/c", "a/b/c/d", "#"], QoS::AtLeastOnce),
    );
    assert_eq!(
        net.suback_codes(c),
        vec![
            ReasonCode::GrantedQoS1,
            ReasonCode::TopicFilterInvalid,
            ReasonCode::GrantedQoS1
        ]
    );
    net.publish(c, "a/b/c/d", b"deep", QoS::AtLeastOnce, false);
    net.publish(c, "a/b/c", b"ok", QoS::AtLeastOnce, false);
    assert_eq!(
        net.completions(c),
        vec![ReasonCode::TopicNameInvalid, ReasonCode::Success]
    );
    assert_eq!(payloads(&net.messages(c)), vec![b"ok".to_vec()]);
}

/// A full offline queue with `DropOldest` keeps the newest messages.
#[test]
fn offline_queue_drop_oldest_policy() {
    let mut limits = BrokerLimits::default();
    limits.max_queued_messages = 2;
    limits.queue_full_policy = QueueFullPolicy::DropOldest;
    let mut net = Net::new(BrokerOptions::new().with_limits(limits));
    let (s, publ) = net.offline_subscriber(V5, 60, "q", QoS::AtLeastOnce);
    for n in 0..4u8 {
        net.publish(publ, "q", &[n], QoS::AtLeastOnce, false);
    }
    assert_eq!(net.broker.queued_for("s"), 2);
    assert_eq!(net.broker.dropped_messages(), 2);
    net.connect(s);
    assert_eq!(payloads(&net.messages(s)), vec![vec![2], vec![3]]);
}

// ----- fair output ----------------------------------------------------------

/// `poll_output` serves connections in turn: one that gets new bytes every
/// time it is served does not starve the others.
#[test]
fn poll_output_is_round_robin() {
    let mut broker = Broker::new(BrokerOptions::new());
    // 3.1.1 CONNECTs for "a", "b" and "c", and a PINGREQ.
    let connect = |id: u8| vec![0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 0, 0, 1, id];
    const PINGREQ: [u8; 2] = [0xC0, 0x00];
    let conns: Vec<ConnectionId> = (0..3).map(|_| broker.connection_opened(0)).collect();
    for (n, &c) in conns.iter().enumerate() {
        broker.handle_input(c, 0, &connect(b'a' + n as u8));
    }
    let mut served = Vec::new();
    for _ in 0..7 {
        let (c, bytes) = broker.poll_output().expect("bytes");
        assert!(!bytes.is_empty());
        served.push(c);
        // The first connection always has more to say.
        broker.handle_input(conns[0], 0, &PINGREQ);
    }
    let (a, b, c) = (conns[0], conns[1], conns[2]);
    assert_eq!(served, vec![a, b, c, a, a, a, a]);
    // With all three busy, each gets its turn.
    let mut served = Vec::new();
    for _ in 0..6 {
        for &c in &conns {
            broker.handle_input(c, 0, &PINGREQ);
        }
        served.push(broker.poll_output().unwrap().0);
    }
    // (a was still waiting from above, so it goes first.)
    assert_eq!(served, vec![a, b, c, a, b, c]);
    // A connection that closes with bytes waiting is skipped; the others
    // are served in the order their bytes arrived.
    while broker.poll_output().is_some() {}
    broker.handle_input(b, 0, &PINGREQ);
    broker.handle_input(c, 0, &PINGREQ);
    broker.connection_closed(b, 0);
    broker.handle_input(a, 0, &PINGREQ);
    assert_eq!(broker.poll_output().unwrap().0, c);
    assert_eq!(broker.poll_output().unwrap().0, a);
    assert!(broker.poll_output().is_none());
}

// ----- offline queue ageing ---------------------------------------------------

/// Messages queued for an offline session age: [MQTT-3.3.2-5] one whose
/// Message Expiry Interval passed while it waited is never delivered;
/// [MQTT-3.3.2-6] the others carry the interval minus the time waited.
#[test]
fn offline_messages_age_while_queued_mqtt_3_3_2_5_and_3_3_2_6() {
    let mut net = Net::new(BrokerOptions::new());
    let (s, publ) = net.offline_subscriber(V5, 3600, "q", QoS::AtLeastOnce);
    net.publish_with(publ, expiring("q", b"short", Some(10)));
    net.now = 5_000;
    net.publish_with(publ, expiring("q", b"long", Some(100)));
    net.publish_with(publ, expiring("q", b"forever", None));
    assert_eq!(net.broker.queued_for("s"), 3);
    net.now = 30_000;
    net.connect(s);
    let m = net.messages(s);
    assert_eq!(
        payloads(&m),
        vec![b"long".to_vec(), b"forever".to_vec()],
        "the expired message is dropped"
    );
    assert_eq!(m[0].properties.message_expiry_interval, Some(75));
    assert_eq!(m[1].properties.message_expiry_interval, None);
    assert_eq!(net.broker.expired_messages(), 1);
}

/// A full offline queue first purges expired messages: a new message takes
/// the place of an expired one instead of being dropped.
#[test]
fn full_offline_queue_purges_expired_messages_first_mqtt_3_3_2_5() {
    let mut limits = BrokerLimits::default();
    limits.max_queued_messages = 2;
    let mut net = Net::new(BrokerOptions::new().with_limits(limits));
    let (s, publ) = net.offline_subscriber(V5, 3600, "q", QoS::AtLeastOnce);
    net.publish_with(publ, expiring("q", b"short", Some(1)));
    net.publish(publ, "q", b"kept", QoS::AtLeastOnce, false);
    net.now = 1_000;
    net.publish(publ, "q", b"new", QoS::AtLeastOnce, false);
    assert_eq!(net.broker.dropped_messages(), 0);
    assert_eq!(net.broker.expired_messages(), 1);
    net.connect(s);
    assert_eq!(
        payloads(&net.messages(s)),
        vec![b"kept".to_vec(), b"new".to_vec()]
    );
}

// ----- statements checked through the engine (both versions) ----------------
// Ids are 3.1.1 numbering where marked "3.1.1"; see the conformance maps.

/// 3.1.1 [MQTT-3.1.2-7]: retained messages are not part of a session: the
/// publisher's session ends (DISCONNECT, clean session) and a later
/// subscriber still gets the retained message.
#[test]
fn retained_messages_outlive_the_publishers_session() {
    for version in [V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let publ = net.add(opts(version, "pub"));
        net.publish(publ, "r/kept", b"kept", QoS::AtLeastOnce, true);
        net.peers[publ]
            .client
            .disconnect(net.now, Disconnect::new(ReasonCode::Success))
            .unwrap();
        net.drive();
        assert_eq!(net.broker.session_count(), 0, "{version:?}: session ended");
        let late = net.add(opts(version, "late"));
        net.subscribe(late, Subscribe::single(1, "r/#", QoS::AtLeastOnce).unwrap());
        let m = net.messages(late);
        assert_eq!(payloads(&m), vec![b"kept".to_vec()], "{version:?}");
        assert!(m[0].retain);
    }
}

/// 3.1.1 [MQTT-3.1.2-12]: a connection without a will ends abnormally and
/// nothing is published for it.
#[test]
fn no_will_is_published_without_the_will_flag() {
    for version in [V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let watcher = net.add(opts(version, "watcher"));
        net.subscribe(
            watcher,
            Subscribe::single(1, "#", QoS::AtLeastOnce).unwrap(),
        );
        let plain = net.add(opts(version, "plain"));
        net.cut(plain);
        assert!(net.messages(watcher).is_empty(), "{version:?}");
        assert_eq!(net.broker.connection_count(), 1);
    }
}

/// 3.1.1 [MQTT-3.1.2-16], [MQTT-3.1.2-17]: a will is published retained
/// exactly when Will Retain is 1: only that one is kept for a later
/// subscriber, which gets it with RETAIN 1.
#[test]
fn a_will_is_retained_only_when_will_retain_is_set() {
    for version in [V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let watcher = net.add(opts(version, "watcher"));
        net.subscribe(
            watcher,
            Subscribe::single(1, "wills/#", QoS::AtMostOnce).unwrap(),
        );
        let kept = Will::new("wills/kept", b"k".to_vec(), QoS::AtMostOnce)
            .unwrap()
            .with_retain(true);
        let plain = Will::new("wills/plain", b"p".to_vec(), QoS::AtMostOnce).unwrap();
        let a = net.add(opts(version, "a").with_will(kept));
        let b = net.add(opts(version, "b").with_will(plain));
        net.cut(a);
        net.cut(b);
        assert_eq!(
            net.messages(watcher).len(),
            2,
            "{version:?}: both published"
        );
        assert_eq!(net.broker.retained().len(), 1, "{version:?}");
        let late = net.add(opts(version, "late"));
        net.subscribe(
            late,
            Subscribe::single(1, "wills/#", QoS::AtMostOnce).unwrap(),
        );
        let m = net.messages(late);
        assert_eq!(payloads(&m), vec![b"k".to_vec()], "{version:?}");
        assert!(m[0].retain);
    }
}

/// 3.1.1 [MQTT-3.3.1-12]: a PUBLISH with RETAIN 0 neither becomes the
/// retained message nor removes or replaces the one there is; it is
/// delivered to the live subscriber.
#[test]
fn retain_0_neither_stores_nor_clears() {
    for version in [V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let publ = net.add(opts(version, "pub"));
        let live = net.add(opts(version, "live"));
        net.subscribe(live, Subscribe::single(1, "r", QoS::AtMostOnce).unwrap());
        net.publish(publ, "r", b"retained", QoS::AtMostOnce, true);
        net.publish(publ, "r", b"live", QoS::AtMostOnce, false);
        net.publish(publ, "r", b"", QoS::AtMostOnce, false);
        assert_eq!(
            payloads(&net.messages(live)),
            vec![b"retained".to_vec(), b"live".to_vec(), b"".to_vec()],
            "{version:?}"
        );
        assert_eq!(net.broker.retained().len(), 1, "{version:?}");
        let late = net.add(opts(version, "late"));
        net.subscribe(late, Subscribe::single(1, "r", QoS::AtMostOnce).unwrap());
        assert_eq!(
            payloads(&net.messages(late)),
            vec![b"retained".to_vec()],
            "{version:?}"
        );
    }
}

/// 3.1.1 [MQTT-3.10.4-1], [MQTT-3.10.4-2], [MQTT-3.10.4-4] to
/// [MQTT-3.10.4-6]: one UNSUBSCRIBE with several filters gets one UNSUBACK
/// with its identifier, also for filters that match nothing; filters are
/// compared byte for byte ("A/+" is not "a/+"); after it no new message
/// for a removed filter is sent, while the other subscription still works.
#[test]
fn unsubscribe_compares_filters_exactly_and_stops_new_messages() {
    for version in [V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let publ = net.add(opts(version, "pub"));
        let s = net.add(opts(version, "s"));
        net.subscribe(s, subscribe_all(1, &["a/+", "b"], QoS::AtLeastOnce));
        let id = net.peers[s]
            .client
            .unsubscribe(
                net.now,
                Unsubscribe::new(
                    0,
                    vec![
                        MqttString::from_str("A/+").unwrap(),
                        MqttString::from_str("nothing").unwrap(),
                    ],
                ),
            )
            .unwrap();
        net.drive();
        let acks = net.events(s, |e| match e {
            Event::Unsubscribed {
                packet_id,
                reason_codes,
                ..
            } => Some((*packet_id, reason_codes.len())),
            _ => None,
        });
        assert_eq!(acks, vec![(id, 2)], "{version:?}: one UNSUBACK, its id");
        net.publish(publ, "a/x", b"still", QoS::AtLeastOnce, false);
        assert_eq!(payloads(&net.messages(s)), vec![b"still".to_vec()]);

        let id2 = net.peers[s]
            .client
            .unsubscribe(net.now, Unsubscribe::single(0, "a/+").unwrap())
            .unwrap();
        net.drive();
        assert_ne!(id2, 0);
        net.publish(publ, "a/x", b"gone", QoS::AtLeastOnce, false);
        net.publish(publ, "b", b"b", QoS::AtLeastOnce, false);
        assert_eq!(
            payloads(&net.messages(s)),
            vec![b"still".to_vec(), b"b".to_vec()],
            "{version:?}: nothing new for a/+"
        );
    }
}

/// 3.1.1 [MQTT-3.10.4-3]: a QoS 1 delivery already started when the
/// subscription is removed is still completed: the subscriber (manual
/// acknowledgement, so it has not answered) unsubscribes, loses the
/// connection and resumes its session; the message comes again with DUP 1.
#[test]
fn unsubscribe_completes_deliveries_already_started() {
    for version in [V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let s = net.add(persistent(version, "s", 600).with_manual_ack(true));
        net.subscribe(s, Subscribe::single(1, "t", QoS::AtLeastOnce).unwrap());
        let publ = net.add(opts(version, "pub"));
        net.publish(publ, "t", b"m", QoS::AtLeastOnce, false);
        assert_eq!(net.messages(s).len(), 1, "{version:?}: delivery started");
        net.peers[s]
            .client
            .unsubscribe(net.now, Unsubscribe::single(0, "t").unwrap())
            .unwrap();
        net.drive();
        net.cut(s);
        net.connect(s);
        let m = net.messages(s);
        assert_eq!(
            payloads(&m),
            vec![b"m".to_vec(), b"m".to_vec()],
            "{version:?}"
        );
        assert!(m[1].dup, "{version:?}: the same delivery, resent");
    }
}

/// 3.1.1 [MQTT-4.6.0-5], [MQTT-4.6.0-6]: topics are ordered: the messages
/// of one publisher on one topic reach the subscriber in the order sent,
/// at each QoS, through a window smaller than the burst.
#[test]
fn one_publishers_messages_arrive_in_order() {
    for version in [V3, V5] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut net = Net::new(BrokerOptions::new());
            let s = net.add(opts(version, "s").with_max_inflight(3));
            net.subscribe(s, Subscribe::single(1, "t", QoS::ExactlyOnce).unwrap());
            let publ = net.add(opts(version, "pub").with_max_inflight(4));
            let sent: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i]).collect();
            for p in &sent {
                let msg = Publish::new("t", p.clone()).unwrap().with_qos(qos, 0);
                net.peers[publ].client.publish(net.now, msg).unwrap();
            }
            net.drive();
            assert_eq!(payloads(&net.messages(s)), sent, "{version:?} {qos:?}");
        }
    }
}

#[test]
fn mqtt_3_1_3_1_1_and_5_0_clients_exchange_messages() {
    // A 3.1 publisher, subscribers of every version; then a 5.0 publisher
    // to a 3.1 subscriber: the broker carries messages across versions,
    // retained ones and wills included.
    let mut net = Net::new(BrokerOptions::new());
    let old = net.add(opts(V31, "old"));
    let mid = net.add(opts(V3, "mid"));
    let new = net.add(opts(V5, "new"));
    for (i, id) in [(old, 1), (mid, 2), (new, 3)] {
        net.subscribe(i, Subscribe::single(id, "m/#", QoS::ExactlyOnce).unwrap());
        assert_eq!(net.suback_codes(i), vec![ReasonCode::GrantedQoS2]);
    }
    for (n, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        net.publish(old, "m/old", &[n as u8], qos, n == 2);
    }
    assert_eq!(net.completions(old), vec![ReasonCode::Success; 2]);
    for i in [old, mid, new] {
        let m = net.messages(i);
        assert_eq!(payloads(&m), vec![vec![0], vec![1], vec![2]]);
        let qos: Vec<QoS> = m.iter().map(|p| p.qos).collect();
        assert_eq!(
            qos,
            vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        );
    }
    net.publish(new, "m/new", b"five", QoS::ExactlyOnce, false);
    assert_eq!(net.messages(old).last().unwrap().payload.as_ref(), b"five");
    // The 3.1 retained message reaches a late 5.0 subscriber.
    let late = net.add(opts(V5, "late"));
    net.subscribe(
        late,
        Subscribe::single(1, "m/old", QoS::AtLeastOnce).unwrap(),
    );
    let m = net.messages(late);
    assert_eq!(payloads(&m), vec![vec![2]]);
    assert!(m[0].retain);
    // A 3.1 client's will goes to a 5.0 subscriber.
    let will = Will::new("m/will", b"gone".to_vec(), QoS::AtLeastOnce).unwrap();
    let dying = net.add(opts(V31, "dying").with_will(will));
    net.cut(dying);
    assert_eq!(net.messages(new).last().unwrap().payload.as_ref(), b"gone");
}

#[test]
fn a_refused_3_1_subscription_is_acknowledged_with_the_requested_qos() {
    // 3.1 SUBACK has no failure code: as mosquitto does, the refused
    // filter is answered with the QoS it asked for and nothing is
    // subscribed; 3.1.1 gets 0x80 for the same refusal.
    let acl = Acl::parse("topic read in/#\ntopic write in/#\n").unwrap();
    let mut net = Net::new(BrokerOptions::new().with_acl(acl));
    let old = net.add(opts(V31, "old"));
    let mid = net.add(opts(V3, "mid"));
    let publ = net.add(opts(V5, "pub"));
    for i in [old, mid] {
        net.subscribe(i, subscribe_all(1, &["in/#", "secret/#"], QoS::AtLeastOnce));
    }
    assert_eq!(
        net.suback_codes(old),
        vec![ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS1]
    );
    assert_eq!(
        net.suback_codes(mid),
        vec![ReasonCode::GrantedQoS1, ReasonCode::UnspecifiedError]
    );
    net.publish(publ, "secret/x", b"no", QoS::AtMostOnce, false);
    net.publish(publ, "in/x", b"yes", QoS::AtMostOnce, false);
    assert_eq!(payloads(&net.messages(old)), vec![b"yes".to_vec()]);
    assert_eq!(payloads(&net.messages(mid)), vec![b"yes".to_vec()]);
}

/// An empty client identifier gets an identifier no session uses, kept or
/// connected: the clients that chose `auto-1` and `auto-2` themselves keep
/// their sessions [MQTT-3.2.2-16] (5.0) [MQTT-3.1.3-6] (3.1.1).
#[test]
fn an_assigned_client_identifier_is_unique_mqtt_3_2_2_16_and_3_1_3_6() {
    for version in [V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let kept = net.add(persistent(version, "auto-1", 60));
        net.subscribe(kept, Subscribe::single(1, "t", QoS::AtLeastOnce).unwrap());
        net.cut(kept);
        let connected = net.add(opts(version, "auto-2"));
        let anon = net.add(opts(version, ""));
        assert_eq!(net.connected(anon), vec![false]);
        assert!(
            net.peers[connected].conn.is_some(),
            "auto-2 still connected"
        );
        assert_eq!(net.disconnected_by_server(connected), None);
        assert_eq!(net.broker.session_count(), 3);
        if version == V5 {
            let assigned = net.events(anon, |e| match e {
                Event::Connected(c) => Some(c.client_id.as_str().to_string()),
                _ => None,
            });
            assert_eq!(assigned.len(), 1);
            assert!(!["", "auto-1", "auto-2"].contains(&assigned[0].as_str()));
        }
        let publ = net.add(opts(version, "pub"));
        net.publish(publ, "t", b"kept", QoS::AtLeastOnce, false);
        assert_eq!(net.broker.queued_for("auto-1"), 1, "auto-1's session kept");
        net.connect(kept);
        assert_eq!(net.connected(kept), vec![false, true]);
        assert_eq!(payloads(&net.messages(kept)), vec![b"kept".to_vec()]);
    }
}

/// A CONNACK that cannot fit the client's Maximum Packet Size even without
/// its optional properties is not sent [MQTT-3.1.2-24]: the connection is
/// refused at once with a bare CONNACK 0x95 Packet too large when that
/// fits, else closed without one; it never waits for the connect timeout,
/// and no session is left behind.
#[test]
fn a_connack_too_large_for_the_client_closes_at_once_mqtt_3_1_2_24() {
    use mqtt_core::codec::{Connect, PacketRef};
    for (max, expected) in [(4u32, &b""[..]), (8, &[0x20, 3, 0, 0x95, 0][..])] {
        let mut broker = Broker::new(BrokerOptions::new());
        let conn = broker.connection_opened(0);
        // An empty client identifier: the Assigned Client Identifier
        // makes the CONNACK larger than `max`.
        let mut connect = Connect::new(V5, "").unwrap();
        connect.properties.maximum_packet_size = Some(max);
        let mut buf = vec![0u8; 64];
        let n = PacketRef::Connect(connect.as_view())
            .encode_to_slice(V5, &mut buf)
            .unwrap();
        broker.handle_input(conn, 0, &buf[..n]);
        let sent = broker
            .poll_output()
            .map(|(_, b)| b.to_vec())
            .unwrap_or_default();
        assert_eq!(sent, expected, "max {max}");
        assert!(sent.len() <= max as usize);
        assert_eq!(
            broker.poll_close(),
            Some(conn),
            "closed at once (max {max})"
        );
        broker.connection_closed(conn, 0);
        assert_eq!(broker.session_count(), 0);
        assert_eq!(broker.poll_timeout(), None);
    }
}

/// A message the broker publishes itself (`Broker::publish`, as for
/// `$SYS`) reaches subscribers of its topic and is retained when asked;
/// `#` does not match a `$` topic [MQTT-4.7.2-1].
#[test]
fn broker_published_messages_reach_subscribers_and_are_retained() {
    let mut net = Net::new(BrokerOptions::new());
    let sys = net.add(opts(V5, "sys"));
    let all = net.add(opts(V5, "all"));
    net.subscribe(
        sys,
        Subscribe::single(1, "$SYS/#", QoS::AtMostOnce).unwrap(),
    );
    net.subscribe(all, Subscribe::single(1, "#", QoS::AtMostOnce).unwrap());
    let p = Publish::new("$SYS/broker/uptime", b"7 seconds".to_vec())
        .unwrap()
        .with_retain(true);
    let code = net.broker.publish(net.now, p);
    assert_eq!(code, ReasonCode::Success);
    net.drive();
    assert_eq!(payloads(&net.messages(sys)), vec![b"7 seconds".to_vec()]);
    assert!(net.messages(all).is_empty());
    // Retained: a later subscriber gets it.
    let late = net.add(opts(V5, "late"));
    net.subscribe(
        late,
        Subscribe::single(1, "$SYS/broker/+", QoS::AtMostOnce).unwrap(),
    );
    assert_eq!(payloads(&net.messages(late)), vec![b"7 seconds".to_vec()]);
    let none = Publish::new("$internal/nobody", b"x".to_vec()).unwrap();
    assert_eq!(
        net.broker.publish(net.now, none),
        ReasonCode::NoMatchingSubscribers
    );
}

/// `set_transport_username` (a TLS identity) replaces the CONNECT's User
/// Name for authentication and for the ACL's `%u`.
#[test]
fn transport_username_replaces_the_connects_for_authentication_and_acl() {
    let table = PasswordTable::parse("device-7:\n").unwrap();
    let acl = Acl::parse("pattern write devices/%u/#\npattern read devices/%u/#\n").unwrap();
    let options = BrokerOptions::new()
        .with_passwords(table, false)
        .with_acl(acl);
    let mut net = Net::new(options);
    let conn = net.broker.connection_opened(net.now);
    net.broker
        .set_transport_username(conn, "device-7")
        .expect("valid name");
    assert!(net.broker.set_transport_username(conn, "nul\0").is_err());
    net.peers.push(Peer {
        client: Client::new(
            opts(V5, "d7")
                .with_username("someone-else")
                .unwrap()
                .with_password(Vec::new()),
        ),
        conn: Some(conn),
        events: Vec::new(),
    });
    let d = net.peers.len() - 1;
    net.peers[d].client.connect(net.now).unwrap();
    net.drive();
    assert_eq!(net.connected(d), vec![false]);
    net.subscribe(
        d,
        Subscribe::single(1, "devices/device-7/#", QoS::AtLeastOnce).unwrap(),
    );
    net.subscribe(
        d,
        Subscribe::single(2, "devices/someone-else/#", QoS::AtLeastOnce).unwrap(),
    );
    assert_eq!(
        net.suback_codes(d),
        vec![ReasonCode::GrantedQoS1, ReasonCode::NotAuthorized]
    );
}

/// `Broker::shutdown`: 5.0 clients get DISCONNECT 0x8B Server shutting
/// down, every connection is closed; `Broker::stats` counts the traffic.
#[test]
fn shutdown_sends_server_shutting_down_and_stats_count_traffic() {
    let mut net = Net::new(BrokerOptions::new());
    let v5 = net.add(opts(V5, "v5"));
    let v3 = net.add(opts(V3, "v3"));
    net.subscribe(v3, Subscribe::single(1, "t", QoS::AtLeastOnce).unwrap());
    for _ in 0..3 {
        net.publish(v5, "t", b"m", QoS::AtLeastOnce, false);
    }
    let stats = net.broker.stats();
    assert_eq!(stats.publish_received, 3);
    assert_eq!(stats.publish_sent, 3);
    assert_eq!(stats.clients_connected, 2);
    assert_eq!(stats.subscriptions, 1);
    // Received: 2 CONNECT, 1 SUBSCRIBE, 3 PUBLISH, 3 PUBACK from v3.
    assert_eq!(stats.packets_received, 9);
    // Sent: 2 CONNACK, 1 SUBACK, 3 PUBACK, 3 PUBLISH.
    assert_eq!(stats.packets_sent, 9);
    net.broker.shutdown(net.now);
    net.drive();
    assert_eq!(
        net.disconnected_by_server(v5),
        Some(ReasonCode::ServerShuttingDown)
    );
    assert!(net.peers[v3].conn.is_none());
    assert_eq!(net.broker.connection_count(), 0);
    let after = net.broker.stats();
    assert_eq!(after.packets_received, 9);
    assert_eq!(after.packets_sent, 10, "the DISCONNECT counts");
    assert_eq!(after.clients_maximum, 2);
}

/// Options whose output cap is `cap` bytes per connection.
fn output_cap(cap: usize) -> BrokerOptions {
    limited(|l| l.max_output_bytes_per_connection = cap)
}

/// Options with the default limits changed by `change`.
fn limited(change: impl FnOnce(&mut BrokerLimits)) -> BrokerOptions {
    let mut limits = BrokerLimits::default();
    change(&mut limits);
    BrokerOptions::new().with_limits(limits)
}

#[test]
fn a_congested_subscriber_loses_qos0_keeps_qos1_and_its_backlog_is_bounded() {
    for version in [V3, V5] {
        const CAP: usize = 4096;
        let mut net = Net::new(output_cap(CAP));
        let s = net.add(opts(version, "s"));
        net.subscribe(s, subscribe_all(1, &["f/0"], QoS::AtMostOnce));
        net.subscribe(s, subscribe_all(2, &["f/1"], QoS::AtLeastOnce));
        let publ = net.add(opts(version, "pub"));
        let conn = net.peers[s].conn.unwrap();
        // The driver's socket stopped taking bytes.
        net.broker.set_writable(conn, net.now, false);
        let payload = [7u8; 100];
        let mut peak = 0;
        for _ in 0..2000 {
            net.publish(publ, "f/0", &payload, QoS::AtMostOnce, false);
            peak = peak.max(net.broker.output_backlog(conn));
        }
        // Bounded by the cap plus one packet, whatever was published.
        assert!(peak >= CAP, "{peak}");
        assert!(peak < CAP + 200, "{peak}");
        let dropped = net.broker.congestion_dropped_messages();
        assert!(dropped > 1900, "{dropped}");
        assert_eq!(net.broker.dropped_messages(), dropped);
        // QoS 1 waits, within the queue bounds, and is acknowledged.
        for n in 0..50u8 {
            net.publish(publ, "f/1", &[n], QoS::AtLeastOnce, false);
        }
        assert_eq!(net.broker.queued_for("s"), 50);
        assert!(net.broker.output_backlog(conn) < CAP + 200);
        assert_eq!(net.completions(publ).len(), 50);
        assert!(net.messages(s).is_empty());
        // Writable again: what was kept arrives, QoS 1 complete and in order.
        net.broker.set_writable(conn, net.now, true);
        net.drive();
        let got = net.messages(s);
        let qos0 = got.iter().filter(|p| p.topic.as_str() == "f/0").count();
        let qos1: Vec<Vec<u8>> = payloads(
            &got.iter()
                .filter(|p| p.topic.as_str() == "f/1")
                .cloned()
                .collect::<Vec<_>>(),
        );
        assert_eq!(qos0 as u64, 2000 - dropped, "{version:?}");
        assert_eq!(qos1, (0..50u8).map(|n| vec![n]).collect::<Vec<_>>());
        assert_eq!(net.broker.queued_for("s"), 0);
        assert_eq!(net.disconnected_by_server(s), None);
        assert!(net.peers[s].conn.is_some());
        assert_eq!(net.broker.dropped_messages(), dropped, "no QoS 1 lost");
    }
}

#[test]
fn qos1_held_for_a_congested_subscriber_is_bounded_by_the_queue_limits() {
    let mut net = Net::new(limited(|l| {
        l.max_output_bytes_per_connection = 0;
        l.max_queued_messages = 10;
    }));
    let s = net.add(opts(V5, "s"));
    net.subscribe(s, subscribe_all(1, &["q"], QoS::AtLeastOnce));
    let publ = net.add(opts(V5, "pub"));
    let conn = net.peers[s].conn.unwrap();
    net.broker.set_writable(conn, net.now, false);
    for n in 0..15u8 {
        net.publish(publ, "q", &[n], QoS::AtLeastOnce, false);
    }
    assert_eq!(net.broker.queued_for("s"), 10);
    assert_eq!(net.broker.dropped_messages(), 5);
    assert_eq!(net.broker.congestion_dropped_messages(), 0);
    assert_eq!(net.broker.output_backlog(conn), 0);
    net.broker.set_writable(conn, net.now, true);
    net.drive();
    assert_eq!(
        payloads(&net.messages(s)),
        (0..10u8).map(|n| vec![n]).collect::<Vec<_>>()
    );
}

#[test]
fn qos1_held_for_a_subscriber_joins_its_offline_queue_when_it_goes() {
    let mut net = Net::new(output_cap(0));
    let s = net.add(persistent(V5, "s", 600));
    net.subscribe(s, subscribe_all(1, &["q"], QoS::AtLeastOnce));
    let publ = net.add(opts(V5, "pub"));
    let conn = net.peers[s].conn.unwrap();
    net.broker.set_writable(conn, net.now, false);
    for n in 0..5u8 {
        net.publish(publ, "q", &[n], QoS::AtLeastOnce, false);
    }
    net.cut(s);
    assert_eq!(net.broker.queued_for("s"), 5);
    net.connect(s);
    net.drive();
    assert_eq!(
        payloads(&net.messages(s)),
        (0..5u8).map(|n| vec![n]).collect::<Vec<_>>()
    );
}

#[test]
fn a_message_larger_than_the_output_cap_is_still_delivered() {
    for version in [V3, V5] {
        let mut net = Net::new(output_cap(1024));
        let s = net.add(opts(version, "s"));
        net.subscribe(s, subscribe_all(1, &["big"], QoS::AtMostOnce));
        let publ = net.add(opts(version, "pub"));
        let big = vec![1u8; 200 * 1024];
        // Writable: delivered, whatever its size.
        net.publish(publ, "big", &big, QoS::AtMostOnce, false);
        assert_eq!(net.messages(s).len(), 1);
        // Not writable with an empty backlog: still delivered; the next
        // one finds the backlog over the cap and is dropped.
        let conn = net.peers[s].conn.unwrap();
        net.broker.set_writable(conn, net.now, false);
        net.publish(publ, "big", &big, QoS::AtMostOnce, false);
        net.publish(publ, "big", &big, QoS::AtMostOnce, false);
        assert_eq!(net.broker.congestion_dropped_messages(), 1);
        net.broker.set_writable(conn, net.now, true);
        net.drive();
        assert_eq!(net.messages(s).len(), 2);
        assert_eq!(net.disconnected_by_server(s), None);
    }
}

#[test]
fn default_maximum_packet_size_is_announced_and_enforced() {
    let mut net = Net::new(BrokerOptions::new());
    let c = net.add(opts(V5, "c"));
    let announced = net.events(c, |e| match e {
        Event::Connected(c) => Some(c.connack.properties.maximum_packet_size),
        _ => None,
    });
    assert_eq!(
        announced,
        vec![Some(BrokerOptions::DEFAULT_MAXIMUM_PACKET_SIZE)]
    );
    assert_eq!(BrokerOptions::DEFAULT_MAXIMUM_PACKET_SIZE, 1024 * 1024);
    // A 3.1.1 client cannot know it: a larger PUBLISH closes it.
    let old = net.add(opts(V3, "old"));
    let big = vec![0u8; 1024 * 1024 + 1];
    net.publish(old, "t", &big, QoS::AtMostOnce, false);
    assert!(net.peers[old].conn.is_none());
}

#[test]
fn queued_bytes_limit_bounds_the_offline_queue() {
    for version in [V3, V5] {
        let mut net = Net::new(limited(|l| {
            l.max_queued_bytes = 1000;
        }));
        let (s, publ) = net.offline_subscriber(version, 600, "t", QoS::AtLeastOnce);
        for n in 0..10u8 {
            net.publish(publ, "t", &[n; 300], QoS::AtLeastOnce, false);
        }
        // 301 bytes each: full once 1000 are reached, the last one over.
        assert_eq!(net.broker.queued_for("s"), 4);
        assert_eq!(net.broker.dropped_messages(), 6);
        net.connect(s);
        net.drive();
        let got = net.messages(s);
        assert_eq!(got.len(), 4);
        assert_eq!(got[3].payload.to_vec(), vec![3u8; 300]);
    }
}

#[test]
fn payload_limit_refuses_publishes_and_wills() {
    for version in [V3, V5] {
        let mut net = Net::new(limited(|l| {
            l.max_payload_bytes = 10;
        }));
        let s = net.add(opts(version, "s"));
        net.subscribe(s, subscribe_all(1, &["t"], QoS::ExactlyOnce));
        let publ = net.add(opts(version, "pub"));
        net.publish(publ, "t", &[1; 11], QoS::AtLeastOnce, false);
        net.publish(publ, "t", &[2; 11], QoS::ExactlyOnce, false);
        net.publish(publ, "t", &[3; 11], QoS::AtMostOnce, true);
        net.publish(publ, "t", &[4; 10], QoS::AtLeastOnce, false);
        let expected = if version == V5 {
            vec![
                ReasonCode::QuotaExceeded,
                ReasonCode::QuotaExceeded,
                ReasonCode::Success,
            ]
        } else {
            vec![ReasonCode::Success; 3]
        };
        assert_eq!(net.completions(publ), expected, "{version:?}");
        assert_eq!(payloads(&net.messages(s)), vec![vec![4u8; 10]]);
        assert_eq!(net.broker.retained().len(), 0);
        assert!(net.peers[publ].conn.is_some());
        // A will over the limit refuses the CONNECT.
        let w = net.add(
            opts(version, "w").with_will(Will::new("w", vec![0u8; 11], QoS::AtMostOnce).unwrap()),
        );
        let code = net.refused(w);
        if version == V5 {
            assert_eq!(code, Some(ReasonCode::PacketTooLarge));
        } else {
            // No 3.1.1 return code fits [MQTT-3.2.2-6]: closed without one.
            assert_eq!(code, None);
        }
        assert!(net.connected(w).is_empty());
        assert!(net.peers[w].conn.is_none());
    }
}

#[test]
fn session_expiry_limit_bounds_kept_sessions_even_3_1_1_ones() {
    for (version, expiry) in [(V3, 0), (V5, u32::MAX), (V5, 3600)] {
        let mut net = Net::new(limited(|l| {
            l.max_session_expiry_interval = 60;
        }));
        let (_s, _publ) = net.offline_subscriber(version, expiry, "t", QoS::AtLeastOnce);
        assert_eq!(net.broker.session_count(), 2);
        net.now += 59_999;
        net.broker.handle_timeout(net.now);
        assert_eq!(net.broker.session_count(), 2);
        assert!(net.broker.poll_timeout().is_some_and(|t| t <= 60_000));
        net.now += 1;
        net.broker.handle_timeout(net.now);
        assert_eq!(net.broker.session_count(), 1, "{version:?}");
    }
}
