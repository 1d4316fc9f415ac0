//! A server redirection followed over TLS: a scripted TLS server accepts
//! the connection and then sends DISCONNECT 0x9D Server moved with a
//! Server Reference naming mosquitto's TLS listener; with
//! `follow_redirects`, `connect`'s client reconnects there over TLS with
//! the same `TlsOptions` (the certificate checked against the new address)
//! and a QoS 1 publish completes.

mod common;

use std::sync::Arc;

use bytes::BytesMut;
use common::{Mosquitto, TlsListener, WAIT};
use mqtt_tokio::mqtt_core::codec::{ConnAck, Disconnect, MqttString, Packet};
use mqtt_tokio::rustls;
use mqtt_tokio::{
    Backoff, ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode, Status, TlsOptions,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA, and a server certificate for 127.0.0.1 it signed (PEM).
fn pki() -> (String, String, String) {
    let pki = common::pki::Pki::new("redirect test CA");
    let server = pki.server();
    (pki.ca_pem(), server.cert, server.key)
}

/// rustls's `ring` provider, as the crate uses it (deprecated in rustls
/// 0.23.48 only for lacking post-quantum key exchange).
#[allow(deprecated)]
fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_moved_redirect_is_followed_over_tls() {
    let (ca, cert, key) = pki();
    let broker = Mosquitto::start_tls(TlsListener {
        ca_pem: ca.clone(),
        cert_pem: cert.clone(),
        key_pem: key.clone(),
        require_certificate: false,
        use_identity_as_username: false,
    });

    // The scripted TLS server that moves its clients to mosquitto.
    let config = rustls::ServerConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert")],
            PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let first_port = listener.local_addr().unwrap().port();
    let moved_to = broker.addr.port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut s = acceptor.accept(tcp).await.expect("TLS handshake");
        // CONNECT: read its bytes (one read is enough for a small packet).
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.expect("CONNECT");
        assert!(n > 0 && buf[0] == 0x10, "CONNECT first");
        let mut out = BytesMut::new();
        Packet::ConnAck(Box::new(ConnAck::new(false, ReasonCode::Success)))
            .encode(ProtocolVersion::V5, &mut out)
            .unwrap();
        let mut moved = Disconnect::new(ReasonCode::ServerMoved);
        moved.properties.server_reference =
            Some(MqttString::from_str(&format!("127.0.0.1:{moved_to}")).unwrap());
        Packet::Disconnect(moved)
            .encode(ProtocolVersion::V5, &mut out)
            .unwrap();
        s.write_all(&out).await.expect("CONNACK, DISCONNECT");
        s.shutdown().await.ok();
        // The listener is dropped: nothing to come back to.
    });

    let client = ClientOptions::new(
        ProtocolVersion::V5,
        &format!("tokio-tls-redirect-{}", std::process::id()),
    )
    .unwrap();
    let options = ConnectOptions::new("127.0.0.1", first_port, client)
        .with_tls(TlsOptions::new().with_ca_pem(ca))
        .with_reconnect(Some(Backoff::new(20, 200)))
        .with_follow_redirects(true);
    let (client, _) = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("in time")
        .expect("connected to the scripted server");
    tokio::time::timeout(WAIT, server)
        .await
        .expect("in time")
        .expect("server script");
    let mut status = client.status();
    tokio::time::timeout(
        WAIT,
        status
            .wait_for(|s| matches!(s, Status::Connected(_)) && client.last_disconnect().is_some()),
    )
    .await
    .expect("reconnected in time")
    .expect("status");
    let redirect = client
        .last_disconnect()
        .and_then(|r| r.redirect())
        .expect("the redirection is reported");
    assert!(redirect.permanent);
    let done = tokio::time::timeout(
        WAIT,
        client.publish("tokio/tls/moved", QoS::AtLeastOnce, "x"),
    )
    .await
    .expect("in time")
    .expect("PUBACK from mosquitto, over TLS");
    assert!(!done.reason_code.is_error());
    client
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .unwrap();
}
