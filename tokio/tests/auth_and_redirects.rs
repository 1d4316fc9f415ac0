//! MQTT 5.0 enhanced authentication and server redirection, against a
//! server scripted packet by packet (no broker we run has an
//! authentication method or redirects): the `Authenticator` answers AUTH
//! challenges during the connection and a re-authentication
//! (`Client::reauthenticate`); a DISCONNECT 0x9C with a Server Reference
//! is reported in `Status::Disconnected` and, with `follow_redirects`,
//! followed; a CONNACK 0x9D is followed by `connect`.

mod common;

use std::sync::Arc;
use std::sync::Mutex;

use bytes::Bytes;
use common::{Peer, WAIT};
use mqtt_tokio::mqtt_core::codec::{Auth, ConnAck, Disconnect, MqttString, Packet};
use mqtt_tokio::{
    Authenticator, ClientOptions, ConnectOptions, Error, ProtocolVersion, ReasonCode, Status,
};
use tokio::net::TcpListener;

const V5: ProtocolVersion = ProtocolVersion::V5;

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn auth(code: ReasonCode, data: &'static [u8]) -> Packet {
    let mut a = Auth::new(code);
    a.properties.authentication_method = Some(MqttString::from_str("TEST-CR").unwrap());
    a.properties.authentication_data = Some(Bytes::from_static(data));
    Packet::Auth(a)
}

fn connack_ok() -> Packet {
    Packet::ConnAck(Box::new(ConnAck::new(false, ReasonCode::Success)))
}

/// Answers each challenge `c` with `answer:c`, and remembers what the
/// server said at the end.
#[derive(Debug, Default)]
struct ChallengeResponse {
    finished: Mutex<Vec<Option<Vec<u8>>>>,
}

impl Authenticator for ChallengeResponse {
    fn challenge(&self, auth: &Auth) -> Result<Option<Bytes>, ReasonCode> {
        let c = auth
            .properties
            .authentication_data
            .clone()
            .unwrap_or_default();
        if &c[..] == b"refuse-me" {
            return Err(ReasonCode::NotAuthorized);
        }
        let mut answer = b"answer:".to_vec();
        answer.extend_from_slice(&c);
        Ok(Some(answer.into()))
    }

    fn finished(&self, data: Option<&[u8]>) -> Result<(), ReasonCode> {
        self.finished.lock().unwrap().push(data.map(<[u8]>::to_vec));
        Ok(())
    }
}

#[tokio::test]
async fn the_authenticator_answers_challenges_at_connect_and_in_a_reauthentication() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        let Packet::Connect(c) = p.read().await else {
            panic!("CONNECT first")
        };
        assert_eq!(
            c.properties
                .authentication_method
                .as_ref()
                .map(|m| m.as_str()),
            Some("TEST-CR")
        );
        assert_eq!(
            c.properties.authentication_data.as_deref(),
            Some(&b"hello"[..])
        );
        p.write(auth(ReasonCode::ContinueAuthentication, b"c1"))
            .await;
        let Packet::Auth(a) = p.read().await else {
            panic!("AUTH answers the challenge")
        };
        assert_eq!(a.reason_code, ReasonCode::ContinueAuthentication);
        assert_eq!(
            a.properties.authentication_data.as_deref(),
            Some(&b"answer:c1"[..])
        );
        let mut ok = ConnAck::new(false, ReasonCode::Success);
        ok.properties.authentication_method = Some(MqttString::from_str("TEST-CR").unwrap());
        ok.properties.authentication_data = Some(Bytes::from_static(b"server-final"));
        p.write(Packet::ConnAck(Box::new(ok))).await;
        // Re-authentication started by the client [MQTT-4.12.1-1].
        let Packet::Auth(a) = p.read().await else {
            panic!("AUTH 0x19")
        };
        assert_eq!(a.reason_code, ReasonCode::ReAuthenticate);
        assert_eq!(
            a.properties.authentication_data.as_deref(),
            Some(&b"again"[..])
        );
        p.write(auth(ReasonCode::ContinueAuthentication, b"c2"))
            .await;
        let Packet::Auth(a) = p.read().await else {
            panic!("AUTH answers the second challenge")
        };
        assert_eq!(
            a.properties.authentication_data.as_deref(),
            Some(&b"answer:c2"[..])
        );
        p.write(auth(ReasonCode::Success, b"done")).await;
        // A second re-authentication, refused by the server.
        let Packet::Auth(_) = p.read().await else {
            panic!("AUTH 0x19")
        };
        p.write(Packet::Disconnect(Disconnect::new(
            ReasonCode::NotAuthorized,
        )))
        .await;
        p
    });
    let authenticator = Arc::new(ChallengeResponse::default());
    let client = ClientOptions::new(V5, "auth")
        .unwrap()
        .with_authentication("TEST-CR", Some(Bytes::from_static(b"hello")))
        .unwrap();
    let options = ConnectOptions::new("127.0.0.1", port, client)
        .with_reconnect(None)
        .with_authenticator(authenticator.clone());
    let (client, _) = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("in time")
        .expect("connected after the exchange");
    let done = tokio::time::timeout(
        WAIT,
        client.reauthenticate(Some(Bytes::from_static(b"again"))),
    )
    .await
    .expect("in time")
    .expect("re-authenticated");
    assert_eq!(done.reason_code, ReasonCode::Success);
    assert_eq!(
        *authenticator.finished.lock().unwrap(),
        vec![Some(b"server-final".to_vec()), Some(b"done".to_vec())],
        "finished is told the server's last data of each exchange"
    );
    let refused = tokio::time::timeout(WAIT, client.reauthenticate(None))
        .await
        .expect("in time");
    match refused {
        Err(Error::ConnectionLost(reason)) => {
            assert_eq!(reason.reason_code(), Some(ReasonCode::NotAuthorized))
        }
        other => panic!("expected the server's refusal, got {other:?}"),
    }
    server.await.expect("server script");
}

#[tokio::test]
async fn an_authenticator_that_gives_up_ends_the_connection_with_a_client_reason_code() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        let Packet::Connect(_) = p.read().await else {
            panic!("CONNECT first")
        };
        p.write(auth(ReasonCode::ContinueAuthentication, b"refuse-me"))
            .await;
        let Packet::Disconnect(d) = p.read().await else {
            panic!("DISCONNECT")
        };
        d.reason_code
    });
    let client = ClientOptions::new(V5, "auth-gives-up")
        .unwrap()
        .with_authentication("TEST-CR", None)
        .unwrap();
    let options = ConnectOptions::new("127.0.0.1", port, client)
        .with_reconnect(None)
        .with_authenticator(Arc::new(ChallengeResponse::default()));
    let result = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("in time");
    assert!(result.is_err(), "no connection");
    let code = tokio::time::timeout(WAIT, server)
        .await
        .expect("in time")
        .expect("server script");
    // 0x87 is for servers only: a client says 0x80 (5.0 Table 3-10).
    assert_eq!(code, ReasonCode::UnspecifiedError);
}

fn redirect(code: ReasonCode, port: u16) -> Disconnect {
    let mut d = Disconnect::new(code);
    d.properties.server_reference =
        Some(MqttString::from_str(&format!("127.0.0.1:{port}")).unwrap());
    d
}

async fn connected(status: &mut tokio::sync::watch::Receiver<Status>) {
    tokio::time::timeout(WAIT, status.wait_for(|s| matches!(s, Status::Connected(_))))
        .await
        .expect("reconnected in time")
        .expect("status");
}

#[tokio::test]
async fn a_redirect_is_reported_and_followed_only_when_asked() {
    for follow in [false, true] {
        let (first, first_port) = listener().await;
        let (other, other_port) = listener().await;
        let client = ClientOptions::new(V5, "redirected").unwrap();
        let options = ConnectOptions::new("127.0.0.1", first_port, client)
            .with_reconnect(Some(mqtt_tokio::Backoff::new(10, 50)))
            .with_follow_redirects(follow);
        let connecting = tokio::spawn(mqtt_tokio::connect(options));
        let mut p = Peer::accept(&first).await;
        let Packet::Connect(_) = p.read().await else {
            panic!("CONNECT")
        };
        p.write(connack_ok()).await;
        let (client, _) = connecting.await.unwrap().expect("connected");
        let mut status = client.status();
        connected(&mut status).await;
        p.write(Packet::Disconnect(redirect(
            ReasonCode::UseAnotherServer,
            other_port,
        )))
        .await;
        // The reconnection goes to the other server only when following.
        let to = if follow { &other } else { &first };
        let mut p2 = Peer::accept(to).await;
        let Packet::Connect(_) = p2.read().await else {
            panic!("CONNECT")
        };
        p2.write(connack_ok()).await;
        connected(&mut status).await;
        let reason = client.last_disconnect().expect("a connection ended");
        let r = reason.redirect().expect("the redirection is reported");
        assert!(!r.permanent);
        assert_eq!(
            r.server_reference.as_str(),
            format!("127.0.0.1:{other_port}")
        );
        if follow {
            // 0x9C is for the next connection only: after it, back home.
            drop(p2);
            let mut p3 = Peer::accept(&first).await;
            let Packet::Connect(_) = p3.read().await else {
                panic!("CONNECT")
            };
        }
        drop(client);
    }
}

#[tokio::test]
async fn connect_follows_a_connack_server_moved_when_asked() {
    let (first, first_port) = listener().await;
    let (other, other_port) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&first).await;
        let Packet::Connect(_) = p.read().await else {
            panic!("CONNECT")
        };
        let mut moved = ConnAck::new(false, ReasonCode::ServerMoved);
        moved.properties.server_reference =
            Some(MqttString::from_str(&format!("127.0.0.1:{other_port}")).unwrap());
        p.write(Packet::ConnAck(Box::new(moved))).await;
        let mut p = Peer::accept(&other).await;
        let Packet::Connect(_) = p.read().await else {
            panic!("CONNECT to the new server")
        };
        p.write(connack_ok()).await;
        p
    });
    let client = ClientOptions::new(V5, "moved").unwrap();
    let options = ConnectOptions::new("127.0.0.1", first_port, client)
        .with_reconnect(None)
        .with_follow_redirects(true);
    let (_client, info) = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("in time")
        .expect("connected to the new server");
    assert_eq!(info.connack.reason_code, ReasonCode::Success);
    let _p = server.await.expect("server script");
}

#[tokio::test]
async fn without_follow_redirects_a_connack_redirect_is_a_refusal() {
    let (first, first_port) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&first).await;
        let _ = p.read().await;
        let mut moved = ConnAck::new(false, ReasonCode::ServerMoved);
        moved.properties.server_reference = Some(MqttString::from_str("127.0.0.1:1").unwrap());
        p.write(Packet::ConnAck(Box::new(moved))).await;
        p
    });
    let client = ClientOptions::new(V5, "not-moved").unwrap();
    let options = ConnectOptions::new("127.0.0.1", first_port, client).with_reconnect(None);
    match tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("in time")
    {
        Err(Error::ConnectRefused(c)) => {
            assert_eq!(c.reason_code, ReasonCode::ServerMoved);
            assert!(c.properties.server_reference.is_some());
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let _ = server.await;
}

#[tokio::test]
async fn a_challenge_without_an_authenticator_ends_the_connection() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        let Packet::Connect(_) = p.read().await else {
            panic!("CONNECT first")
        };
        p.write(auth(ReasonCode::ContinueAuthentication, b"c1"))
            .await;
        let Packet::Disconnect(d) = p.read().await else {
            panic!("DISCONNECT")
        };
        d.reason_code
    });
    let client = ClientOptions::new(V5, "no-authenticator")
        .unwrap()
        .with_authentication("TEST-CR", None)
        .unwrap();
    let options = ConnectOptions::new("127.0.0.1", port, client).with_reconnect(None);
    let result = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("in time, not at the server's leisure");
    assert!(result.is_err(), "no connection");
    let code = tokio::time::timeout(WAIT, server)
        .await
        .expect("in time")
        .expect("server script");
    assert_eq!(code, ReasonCode::UnspecifiedError);
}
