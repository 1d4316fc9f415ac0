//! Several of our clients (`mqtt_core::client::Client`) wired in memory
//! through the sans-IO broker engine (`mqtt_core::broker::Broker`):
//! publish/subscribe at every QoS, QoS downgrade, subscription
//! identifiers, retained messages, wills, sessions with offline queues,
//! session takeover, authentication and ACL refusals.

use mqtt_core::broker::{Acl, Broker, BrokerLimits, BrokerOptions, ConnectionId, PasswordTable};
use mqtt_core::client::{Client, ClientOptions, DisconnectReason, Event};
use mqtt_core::codec::{
    Disconnect, ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling, Subscribe,
    SubscribeFilter, SubscriptionOptions, Will,
};

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

struct Peer {
    client: Client,
    conn: Option<ConnectionId>,
    events: Vec<Event>,
}

struct Net {
    broker: Broker,
    now: u64,
    peers: Vec<Peer>,
}

impl Net {
    fn new(options: BrokerOptions) -> Self {
        Net {
            broker: Broker::new(options),
            now: 0,
            peers: Vec::new(),
        }
    }

    /// Adds a client and connects it; returns its index.
    fn add(&mut self, options: ClientOptions) -> usize {
        self.peers.push(Peer {
            client: Client::new(options),
            conn: None,
            events: Vec::new(),
        });
        let i = self.peers.len() - 1;
        self.connect(i);
        i
    }

    fn connect(&mut self, i: usize) {
        let conn = self.broker.connection_opened(self.now);
        self.peers[i].conn = Some(conn);
        self.peers[i].client.connect(self.now).expect("connect");
        self.drive();
    }

    fn drive(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("livelock");
    }

    fn step(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        for p in &mut self.peers {
            let bytes = p.client.take_transmit();
            if let Some(conn) = p.conn {
                if !bytes.is_empty() {
                    self.broker.handle_input(conn, now, &bytes);
                    moved = true;
                }
            }
        }
        while let Some((conn, bytes)) = self.broker.poll_output() {
            moved = true;
            if let Some(p) = self.peers.iter_mut().find(|p| p.conn == Some(conn)) {
                p.client.handle_input(now, &bytes);
            }
        }
        while let Some(conn) = self.broker.poll_close() {
            moved = true;
            if let Some(p) = self.peers.iter_mut().find(|p| p.conn == Some(conn)) {
                p.client.handle_transport_closed(now);
                p.conn = None;
            }
            self.broker.connection_closed(conn, now);
        }
        for p in &mut self.peers {
            while let Some(e) = p.client.poll_event() {
                p.events.push(e);
                moved = true;
            }
        }
        moved
    }

    /// Cuts the transport of client `i` (no DISCONNECT).
    fn cut(&mut self, i: usize) {
        let p = &mut self.peers[i];
        let _ = p.client.take_transmit();
        p.client.handle_transport_closed(self.now);
        if let Some(conn) = p.conn.take() {
            self.broker.connection_closed(conn, self.now);
        }
        self.drive();
    }

    fn publish(&mut self, i: usize, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
        let p = Publish::new(topic, payload.to_vec())
            .unwrap()
            .with_qos(qos, 0)
            .with_retain(retain);
        self.peers[i].client.publish(self.now, p).expect("publish");
        self.drive();
    }

    fn subscribe(&mut self, i: usize, subscribe: Subscribe) {
        self.peers[i]
            .client
            .subscribe(self.now, subscribe)
            .expect("subscribe");
        self.drive();
    }

    fn messages(&self, i: usize) -> Vec<Publish> {
        self.peers[i]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.publish.clone()),
                _ => None,
            })
            .collect()
    }

    fn suback_codes(&self, i: usize) -> Vec<ReasonCode> {
        self.peers[i]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Subscribed { reason_codes, .. } => Some(reason_codes.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn completions(&self, i: usize) -> Vec<ReasonCode> {
        self.peers[i]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::PublishCompleted { reason_code, .. } => Some(*reason_code),
                _ => None,
            })
            .collect()
    }

    fn connected(&self, i: usize) -> Vec<bool> {
        self.peers[i]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Connected(c) => Some(c.session_present),
                _ => None,
            })
            .collect()
    }
}

fn opts(version: ProtocolVersion, id: &str) -> ClientOptions {
    ClientOptions::new(version, id).unwrap()
}

fn payloads(msgs: &[Publish]) -> Vec<Vec<u8>> {
    msgs.iter().map(|p| p.payload.to_vec()).collect()
}

#[test]
fn pub_sub_every_qos_with_downgrade() {
    for version in [V3, V5] {
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
        // The publisher's QoS 1 and 2 messages were acknowledged.
        assert_eq!(net.completions(publ), vec![ReasonCode::Success; 3]);
        assert!(net.messages(publ).is_empty());
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
    for version in [V3, V5] {
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
    for version in [V3, V5] {
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
    for version in [V3, V5] {
        let mut limits = BrokerLimits::default();
        limits.max_queued_messages = 3;
        let mut net = Net::new(BrokerOptions::new().with_limits(limits));
        let s_opts = opts(version, "s")
            .with_clean_start(false)
            .with_session_expiry_interval(3600);
        let s = net.add(s_opts);
        net.subscribe(s, Subscribe::single(1, "q/#", QoS::ExactlyOnce).unwrap());
        let publ = net.add(opts(version, "pub"));
        net.cut(s);
        assert_eq!(net.broker.session_count(), 2, "the session is kept");
        for n in 0..5u8 {
            net.publish(publ, "q/x", &[n], QoS::AtLeastOnce, false);
        }
        net.publish(publ, "q/x", b"qos0", QoS::AtMostOnce, false);
        assert_eq!(net.broker.queued_for("s"), 3, "bounded, oldest kept");
        assert_eq!(net.broker.dropped_messages(), 2);
        net.connect(s);
        assert_eq!(net.connected(s), vec![false, true]);
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
    let s = net.add(
        opts(V5, "s")
            .with_clean_start(false)
            .with_session_expiry_interval(60),
    );
    net.subscribe(s, Subscribe::single(1, "q/#", QoS::AtLeastOnce).unwrap());
    let publ = net.add(opts(V5, "pub"));
    net.cut(s);
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
    for version in [V3, V5] {
        let mut net = Net::new(BrokerOptions::new());
        let first = net.add(
            opts(version, "same")
                .with_clean_start(false)
                .with_session_expiry_interval(60),
        );
        net.subscribe(first, Subscribe::single(1, "t", QoS::AtLeastOnce).unwrap());
        let second = net.add(
            opts(version, "same")
                .with_clean_start(false)
                .with_session_expiry_interval(60),
        );
        assert!(net.peers[first].conn.is_none(), "old connection closed");
        let ended = net.peers[first].events.iter().find_map(|e| match e {
            Event::Disconnected(r) => Some(r.clone()),
            _ => None,
        });
        match ended {
            Some(DisconnectReason::ByServer(d)) if version == V5 => {
                assert_eq!(d.reason_code, ReasonCode::SessionTakenOver)
            }
            Some(DisconnectReason::TransportClosed) if version == V3 => {}
            other => panic!("unexpected end {other:?}"),
        }
        assert_eq!(net.connected(second), vec![true]);
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
    let refused = |i: usize| {
        net.peers[i].events.iter().find_map(|e| match e {
            Event::Disconnected(DisconnectReason::Refused(c)) => Some(c.reason_code),
            _ => None,
        })
    };
    assert_eq!(refused(bad), Some(ReasonCode::BadUserNameOrPassword));
    assert_eq!(refused(anon), Some(ReasonCode::NotAuthorized));
    assert_eq!(net.broker.session_count(), 1);
    assert_eq!(net.broker.connection_count(), 1);
}

#[test]
fn acl_refusals() {
    let acl = Acl::parse("topic read public/#\ntopic write in/#\ntopic read in/#\n").unwrap();
    let mut net = Net::new(BrokerOptions::new().with_acl(acl));
    let sub = net.add(opts(V5, "sub"));
    let publ = net.add(opts(V5, "pub"));
    net.subscribe(
        sub,
        Subscribe::new(
            1,
            vec![
                SubscribeFilter::new("in/#", SubscriptionOptions::new(QoS::AtLeastOnce)).unwrap(),
                SubscribeFilter::new("secret/#", SubscriptionOptions::new(QoS::AtLeastOnce))
                    .unwrap(),
            ],
        ),
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
    let s = net.add(
        opts(V5, "s")
            .with_clean_start(false)
            .with_session_expiry_interval(30),
    );
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
    let d_opts = opts(V5, "d")
        .with_clean_start(false)
        .with_session_expiry_interval(60)
        .with_will(will);
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
