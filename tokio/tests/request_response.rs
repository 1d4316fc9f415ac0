//! MQTT 5.0 request/response (§4.10) through mosquitto and our example
//! broker: `Client::request` sends with a Response Topic and a unique
//! Correlation Data and resolves with the matching response; a responder
//! answers with `Client::respond`; concurrent requests each get their own
//! answer; nobody answering is `Error::Timeout`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{ExampleBroker, Mosquitto, WAIT};
use mqtt_tokio::{ClientOptions, ConnectOptions, Error, ProtocolVersion, QoS, ReasonCode};

fn options(addr: SocketAddr, version: ProtocolVersion, name: &str) -> ConnectOptions {
    let id = format!("tokio-rr-{name}-{}", std::process::id());
    let client = ClientOptions::new(version, &id).expect("client id");
    ConnectOptions::new(addr.ip().to_string(), addr.port(), client)
}

async fn requests_get_their_own_responses(addr: SocketAddr, tag: &str) {
    let v5 = ProtocolVersion::V5;
    let (responder, _) = mqtt_tokio::connect(options(addr, v5, &format!("{tag}-responder")))
        .await
        .expect("responder connects");
    let service = format!("tokio/rr/{tag}/upper");
    let (_, mut requests) = responder
        .subscribe_stream(&service, QoS::AtLeastOnce)
        .await
        .expect("responder subscribes");
    let serving = {
        let responder = responder.clone();
        tokio::spawn(async move {
            let mut served = 0;
            while let Some(request) = requests.recv().await {
                assert!(
                    request.publish.properties.correlation_data.is_some(),
                    "a request carries Correlation Data"
                );
                let upper = request.publish.payload.to_ascii_uppercase();
                responder
                    .respond(&request, QoS::AtLeastOnce, upper)
                    .await
                    .expect("respond");
                served += 1;
            }
            served
        })
    };

    let (requester, info) = mqtt_tokio::connect(options(addr, v5, &format!("{tag}-requester")))
        .await
        .expect("requester connects");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let requester = requester.clone();
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let word = format!("word-{i}");
            let response = requester
                .request(&service, QoS::AtLeastOnce, word.clone(), WAIT)
                .await
                .expect("a response");
            (word, response)
        }));
    }
    for t in tasks {
        let (word, response) = t.await.expect("task");
        assert_eq!(
            response.publish.payload,
            word.to_ascii_uppercase().as_bytes(),
            "each request gets the response to itself"
        );
        assert_eq!(
            response.publish.topic.as_str(),
            format!("responses/{}", info.client_id.as_str()),
            "responses come to the client's own response topic"
        );
    }

    // Nobody serves this topic: the request times out, the client goes on.
    let started = tokio::time::Instant::now();
    let unanswered = requester
        .request(
            &format!("tokio/rr/{tag}/nobody"),
            QoS::AtLeastOnce,
            "?",
            Duration::from_millis(300),
        )
        .await;
    assert!(matches!(unanswered, Err(Error::Timeout)), "{unanswered:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let again = requester
        .request(&service, QoS::ExactlyOnce, "again", WAIT)
        .await
        .expect("a response after a timeout");
    assert_eq!(&again.publish.payload[..], b"AGAIN");

    // A message that is no request cannot be answered.
    let plain = mqtt_tokio::Message {
        publish: mqtt_tokio::Publish::new("a", "b").unwrap(),
        ack_token: None,
    };
    assert!(matches!(
        responder.respond(&plain, QoS::AtMostOnce, "x").await,
        Err(Error::NotARequest)
    ));

    requester
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    responder
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    let served = tokio::time::timeout(WAIT, serving)
        .await
        .expect("the responder's stream ends")
        .expect("task");
    assert_eq!(served, 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_response_through_mosquitto() {
    let broker = Mosquitto::start(false);
    requests_get_their_own_responses(broker.addr, "m").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_response_through_the_example_broker() {
    let broker = ExampleBroker::start(&[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port()));
    requests_get_their_own_responses(addr, "e").await;
}

#[tokio::test]
async fn a_request_in_3_1_1_is_refused() {
    let broker = Mosquitto::start(false);
    let (client, _) = mqtt_tokio::connect(options(broker.addr, ProtocolVersion::V311, "v3"))
        .await
        .expect("connects");
    let r = client
        .request("a/b", QoS::AtMostOnce, "x", Duration::from_secs(1))
        .await;
    assert!(matches!(r, Err(Error::Command(_))), "{r:?}");
}

/// With Response Information asked for and given in CONNACK, the response
/// topic is under it; the request carries it as Response Topic with a
/// Correlation Data that the response must echo (scripted server).
#[tokio::test]
async fn the_response_topic_is_under_the_servers_response_information() {
    use common::Peer;
    use mqtt_tokio::mqtt_core::codec::{ConnAck, MqttString, Packet, Publish, SubAck};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let client = ClientOptions::new(ProtocolVersion::V5, "rr-info")
        .unwrap()
        .with_request_response_information(true);
    let connecting = tokio::spawn(mqtt_tokio::connect(
        ConnectOptions::new("127.0.0.1", port, client).with_reconnect(None),
    ));
    let mut p = Peer::accept(&l).await;
    let Packet::Connect(c) = p.read().await else {
        panic!("CONNECT")
    };
    assert_eq!(c.properties.request_response_information, Some(true));
    let mut connack = ConnAck::new(false, ReasonCode::Success);
    connack.properties.response_information = Some(MqttString::from_str("rr/abc/").unwrap());
    p.write(Packet::ConnAck(Box::new(connack))).await;
    let (client, _) = connecting.await.unwrap().expect("connected");

    let requesting = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .request("svc/time", QoS::AtMostOnce, "now?", WAIT)
                .await
        })
    };
    let Packet::Subscribe(sub) = p.read().await else {
        panic!("SUBSCRIBE to the response topic first")
    };
    assert_eq!(sub.filters[0].filter.as_str(), "rr/abc/responses");
    p.write(Packet::SubAck(SubAck::new(
        sub.packet_id,
        vec![ReasonCode::GrantedQoS1],
    )))
    .await;
    let Packet::Publish(request) = p.read().await else {
        panic!("the request")
    };
    assert_eq!(request.topic.as_str(), "svc/time");
    assert_eq!(
        request
            .properties
            .response_topic
            .as_ref()
            .map(|t| t.as_str()),
        Some("rr/abc/responses")
    );
    let correlation = request
        .properties
        .correlation_data
        .clone()
        .expect("Correlation Data");
    // A response with another Correlation Data is not this request's.
    let mut stray = Publish::new("rr/abc/responses", "stray").unwrap();
    stray.properties.correlation_data = Some(bytes::Bytes::from_static(b"other"));
    p.write(Packet::Publish(stray)).await;
    let mut response = Publish::new("rr/abc/responses", "12:00").unwrap();
    response.properties.correlation_data = Some(correlation);
    p.write(Packet::Publish(response)).await;
    let got = tokio::time::timeout(WAIT, requesting)
        .await
        .expect("in time")
        .unwrap()
        .expect("the response");
    assert_eq!(&got.publish.payload[..], b"12:00");
}
