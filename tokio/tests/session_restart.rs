//! The session across a restart of the program: `Client::export_session`,
//! `SessionState::to_bytes` / `from_bytes`, and
//! `ConnectOptions::with_session` on a new client. A QoS 1 message in
//! flight (sent, no PUBACK) is resent with DUP and the same packet
//! identifier on the resumed session [MQTT-4.4.0-1] (scripted server);
//! messages queued while the connection was down are delivered by the
//! new client through mosquitto.

mod common;

use std::time::Duration;

use common::{Mosquitto, Peer, Proxy, WAIT};
use mqtt_tokio::mqtt_core::codec::{ConnAck, Packet, PubAck, SubAck};
use mqtt_tokio::{
    Backoff, ClientOptions, ConnectOptions, ProtocolVersion, Publish, QoS, ReasonCode,
    SessionState, Status,
};
use tokio::net::TcpListener;

const V5: ProtocolVersion = ProtocolVersion::V5;

fn session_options(id: &str) -> ClientOptions {
    ClientOptions::new(V5, id)
        .unwrap()
        .with_clean_start(false)
        .with_session_expiry_interval(300)
}

#[tokio::test]
async fn a_message_in_flight_is_resent_with_dup_by_the_next_process() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let options =
        ConnectOptions::new("127.0.0.1", port, session_options("restarted")).with_reconnect(None);
    let connecting = tokio::spawn(mqtt_tokio::connect(options.clone()));
    let mut p = Peer::accept(&l).await;
    let Packet::Connect(_) = p.read().await else {
        panic!("CONNECT")
    };
    p.write(Packet::ConnAck(Box::new(ConnAck::new(
        false,
        ReasonCode::Success,
    ))))
    .await;
    let (client, _) = connecting.await.unwrap().expect("connected");
    // A per-filter stream: Subscription Identifier 1.
    let subscribing = {
        let client = client.clone();
        tokio::spawn(async move { client.subscribe_stream("t/s", QoS::AtLeastOnce).await })
    };
    let Packet::Subscribe(sub) = p.read().await else {
        panic!("SUBSCRIBE")
    };
    assert_eq!(sub.properties.subscription_identifier, Some(1));
    p.write(Packet::SubAck(SubAck::new(
        sub.packet_id,
        vec![ReasonCode::GrantedQoS1],
    )))
    .await;
    let (_, _stream) = subscribing.await.unwrap().expect("SUBACK");
    client
        .try_publish(
            Publish::new("t/in-flight", "m1")
                .unwrap()
                .with_qos(QoS::AtLeastOnce, 0),
        )
        .expect("queued");
    let Packet::Publish(sent) = p.read().await else {
        panic!("PUBLISH")
    };
    assert!(!sent.dup);
    // No PUBACK: the program ends with the message in flight.
    client
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    let saved = client.export_session().to_bytes().expect("encoded");
    drop(client);
    drop(p);

    // The next process.
    let state = SessionState::from_bytes(&saved).expect("decoded");
    let connecting = tokio::spawn(mqtt_tokio::connect(options.with_session(state)));
    let mut p = Peer::accept(&l).await;
    let Packet::Connect(c) = p.read().await else {
        panic!("CONNECT")
    };
    assert!(!c.clean_start, "the session is resumed with Clean Start 0");
    p.write(Packet::ConnAck(Box::new(ConnAck::new(
        true,
        ReasonCode::Success,
    ))))
    .await;
    let (client, info) = connecting.await.unwrap().expect("connected");
    assert!(info.session_present);
    let Packet::Publish(again) = p.read().await else {
        panic!("the PUBLISH again")
    };
    assert!(again.dup, "resent with DUP [MQTT-3.3.1-1]");
    assert_eq!(
        again.packet_id, sent.packet_id,
        "with the same packet identifier"
    );
    assert_eq!(&again.payload[..], b"m1");
    p.write(Packet::PubAck(PubAck::new(again.packet_id))).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        client.export_session().outgoing.is_empty(),
        "acknowledged: nothing left in the session"
    );
    assert_eq!(client.export_session().subscriptions.len(), 1);
    // A new stream does not reuse the identifier the restored session
    // still holds at the server.
    let subscribing = {
        let client = client.clone();
        tokio::spawn(async move { client.subscribe_stream("t/s2", QoS::AtLeastOnce).await })
    };
    let Packet::Subscribe(sub) = p.read().await else {
        panic!("SUBSCRIBE")
    };
    assert_eq!(sub.properties.subscription_identifier, Some(2));
    p.write(Packet::SubAck(SubAck::new(
        sub.packet_id,
        vec![ReasonCode::GrantedQoS1],
    )))
    .await;
    subscribing.await.unwrap().expect("SUBACK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_offline_are_delivered_by_the_next_process() {
    let broker = Mosquitto::start(false);
    let proxy = Proxy::start(broker.addr).await;
    let topic = format!("tokio/restart/{}", std::process::id());
    let watcher_options =
        ClientOptions::new(V5, &format!("tokio-restart-w-{}", std::process::id())).unwrap();
    let (watcher, _) = mqtt_tokio::connect(ConnectOptions::new(
        "127.0.0.1",
        broker.addr.port(),
        watcher_options,
    ))
    .await
    .expect("watcher connects");
    let mut messages = watcher.messages().unwrap();
    watcher
        .subscribe(&topic, QoS::AtLeastOnce)
        .await
        .expect("SUBACK");

    let id = format!("tokio-restart-{}", std::process::id());
    let first = ConnectOptions::new("127.0.0.1", proxy.addr.port(), session_options(&id))
        .with_reconnect(Some(Backoff::new(60_000, 60_000)));
    let (client, _) = mqtt_tokio::connect(first).await.expect("connects");
    let mut status = client.status();
    proxy.cut();
    tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, Status::Reconnecting { .. })),
    )
    .await
    .expect("down in time")
    .unwrap();
    for i in 0..3 {
        client
            .try_publish(
                Publish::new(&topic, format!("queued-{i}"))
                    .unwrap()
                    .with_qos(QoS::AtLeastOnce, 0),
            )
            .expect("queued while offline");
    }
    client
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("closed");
    let saved = client.export_session().to_bytes().expect("encoded");
    drop(client);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), messages.recv())
            .await
            .is_err(),
        "nothing sent by the first process"
    );

    let state = SessionState::from_bytes(&saved).expect("decoded");
    assert_eq!(state.outgoing.len(), 3);
    let next = ConnectOptions::new("127.0.0.1", broker.addr.port(), session_options(&id))
        .with_session(state);
    let (client, _) = mqtt_tokio::connect(next)
        .await
        .expect("the next process connects");
    for i in 0..3 {
        let m = tokio::time::timeout(WAIT, messages.recv())
            .await
            .expect("in time")
            .expect("open");
        assert_eq!(m.publish.payload, format!("queued-{i}").as_bytes());
    }
    client
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .unwrap();
    watcher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .unwrap();
}
