//! MQTT over TLS through Debian's mosquitto with a TLS listener on a free
//! port of 127.0.0.1, with certificates made by the test (rcgen): a CA, a
//! server certificate for `localhost` and 127.0.0.1, a client certificate.
//!
//! Server-only TLS and mutual TLS carry a QoS 1 round trip (3.1.1 and
//! 5.0); an untrusted server certificate, a server name that does not
//! match, a missing or foreign client certificate are refused: `connect`
//! returns `Error::Tls` on the first connection, quickly, with a message
//! saying what was wrong.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::pki::Pki;
use common::{Mosquitto, TlsListener, WAIT};
use mqtt_tokio::rustls::{self, CertificateError};
use mqtt_tokio::{
    Backoff, ClientOptions, ConnectOptions, Error, ProtocolVersion, QoS, ReasonCode, Status,
    TlsError, TlsOptions,
};

fn broker(pki: &Pki, require_certificate: bool) -> Mosquitto {
    let server = pki.server();
    Mosquitto::start_tls(TlsListener {
        ca_pem: pki.ca_pem(),
        cert_pem: server.cert,
        key_pem: server.key,
        require_certificate,
        use_identity_as_username: require_certificate,
    })
}

fn options(
    addr: SocketAddr,
    version: ProtocolVersion,
    name: &str,
    tls: TlsOptions,
) -> ConnectOptions {
    let id = format!("tokio-tls-{name}-{}", std::process::id());
    let client = ClientOptions::new(version, &id).expect("client id");
    ConnectOptions::new(addr.ip().to_string(), addr.port(), client).with_tls(tls)
}

/// A subscriber and a publisher over TLS: one QoS 1 message goes through.
async fn qos1_round_trip(addr: SocketAddr, version: ProtocolVersion, tag: &str, tls: TlsOptions) {
    let connect = |name: &str| {
        tokio::time::timeout(
            WAIT,
            mqtt_tokio::connect(options(
                addr,
                version,
                &format!("{tag}-{name}"),
                tls.clone(),
            )),
        )
    };
    let (sub, _) = connect("sub")
        .await
        .expect("in time")
        .expect("subscriber connects over TLS");
    let mut messages = sub.messages().expect("the stream");
    let topic = format!("tokio/tls/{tag}");
    let granted = sub
        .subscribe(&topic, QoS::AtLeastOnce)
        .await
        .expect("SUBACK");
    assert_eq!(granted, ReasonCode::GrantedQoS1);
    let (publisher, _) = connect("pub")
        .await
        .expect("in time")
        .expect("publisher connects over TLS");
    let done = publisher
        .publish(&topic, QoS::AtLeastOnce, "over TLS")
        .await
        .expect("PUBACK");
    assert_eq!(done.reason_code, ReasonCode::Success);
    let m = tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("the message in time")
        .expect("the stream is open");
    assert_eq!(m.publish.topic.as_str(), topic);
    assert_eq!(m.publish.qos, QoS::AtLeastOnce);
    assert_eq!(&m.publish.payload[..], b"over TLS");
    publisher
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
    sub.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
}

/// `connect` must fail on the first connection, within a few seconds
/// although reconnection is on, with `Error::Tls`.
async fn refused(options: ConnectOptions) -> TlsError {
    assert!(options.reconnect.is_some());
    let start = tokio::time::Instant::now();
    let result = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("connect returns instead of retrying");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    match result {
        Err(Error::Tls(e)) => e,
        Err(other) => panic!("expected a TLS error, got {other:?} ({other})"),
        Ok(_) => panic!("expected a TLS error, the connection was accepted"),
    }
}

#[tokio::test]
async fn server_tls_carries_qos1_in_5_0_and_3_1_1() {
    let pki = Pki::new("libmqtt test CA");
    let mosquitto = broker(&pki, false);
    // By IP address (checked against the certificate's IP SAN).
    let tls = TlsOptions::new().with_ca_pem(pki.ca_pem());
    qos1_round_trip(mosquitto.addr, ProtocolVersion::V5, "v5", tls).await;
    // By name: 127.0.0.1 checked as "localhost" (a DNS SAN, sent as SNI).
    let tls = TlsOptions::new()
        .with_ca_pem(pki.ca_pem())
        .with_server_name("localhost");
    qos1_round_trip(mosquitto.addr, ProtocolVersion::V311, "v311", tls).await;
}

#[tokio::test]
async fn mutual_tls_carries_qos1_and_the_certificate_names_the_user() {
    let pki = Pki::new("libmqtt test CA");
    let mosquitto = broker(&pki, true);
    let dir = tempdir();
    // From files this time: CA, client certificate and key.
    let client = pki.client("tls-client");
    let (ca, cert, key) = (dir.join("ca.pem"), dir.join("c.pem"), dir.join("c.key"));
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    std::fs::write(&cert, &client.cert).unwrap();
    std::fs::write(&key, &client.key).unwrap();
    let tls = TlsOptions::new()
        .with_ca_file(&ca)
        .with_client_cert_files(&cert, &key);
    qos1_round_trip(mosquitto.addr, ProtocolVersion::V5, "mtls-v5", tls).await;
    let tls = TlsOptions::new()
        .with_ca_pem(pki.ca_pem())
        .with_client_cert_pem(client.cert, client.key);
    qos1_round_trip(mosquitto.addr, ProtocolVersion::V311, "mtls-v311", tls).await;
    let log = mosquitto.log();
    assert!(
        log.contains("u'tls-client'"),
        "use_identity_as_username: the certificate's CN is the user name; log:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_reconnects_after_a_broker_restart() {
    let pki = Pki::new("libmqtt test CA");
    let mut mosquitto = broker(&pki, true);
    let client = pki.client("tls-client");
    let tls = TlsOptions::new()
        .with_ca_pem(pki.ca_pem())
        .with_client_cert_pem(client.cert, client.key);
    let options = options(mosquitto.addr, ProtocolVersion::V5, "restart", tls)
        .with_reconnect(Some(Backoff::new(50, 500)));
    let (client, _) = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("in time")
        .expect("connects over mutual TLS");
    let mut status = client.status();
    tokio::task::block_in_place(|| mosquitto.stop());
    tokio::time::timeout(
        WAIT,
        status.wait_for(|s| !matches!(s, Status::Connected(_))),
    )
    .await
    .expect("the loss is seen in time")
    .expect("status open");
    tokio::task::block_in_place(|| mosquitto.restart());
    tokio::time::timeout(WAIT, status.wait_for(|s| matches!(s, Status::Connected(_))))
        .await
        .expect("reconnected over TLS in time")
        .expect("status open");
    let done = tokio::time::timeout(
        WAIT,
        client.publish("tokio/tls/restart", QoS::AtLeastOnce, "again"),
    )
    .await
    .expect("in time")
    .expect("PUBACK after the reconnection");
    // 0x10 No matching subscribers: nobody subscribed, the server took it.
    assert!(!done.reason_code.is_error(), "{}", done.reason_code);
    let log = mosquitto.log();
    assert_eq!(
        log.matches("u'tls-client'").count(),
        2,
        "two connections with the client certificate; log:\n{log}"
    );
    client
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
}

#[tokio::test]
async fn mutual_tls_without_a_client_certificate_is_refused() {
    let pki = Pki::new("libmqtt test CA");
    let mosquitto = broker(&pki, true);
    let tls = TlsOptions::new().with_ca_pem(pki.ca_pem());
    let e = refused(options(mosquitto.addr, ProtocolVersion::V5, "nocert", tls)).await;
    assert!(
        matches!(e, TlsError::Handshake(rustls::Error::AlertReceived(_))),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("requires a client certificate"),
        "{e}"
    );
}

#[tokio::test]
async fn mutual_tls_with_a_certificate_from_another_ca_is_refused() {
    let pki = Pki::new("libmqtt test CA");
    let mosquitto = broker(&pki, true);
    let stranger = Pki::new("another CA").client("stranger");
    let tls = TlsOptions::new()
        .with_ca_pem(pki.ca_pem())
        .with_client_cert_pem(stranger.cert, stranger.key);
    let e = refused(options(
        mosquitto.addr,
        ProtocolVersion::V311,
        "foreign",
        tls,
    ))
    .await;
    assert!(
        matches!(e, TlsError::Handshake(rustls::Error::AlertReceived(_))),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("did not accept the client certificate"),
        "{e}"
    );
}

#[tokio::test]
async fn a_server_certificate_from_an_untrusted_ca_is_refused_with_a_clear_error() {
    let pki = Pki::new("libmqtt test CA");
    let mosquitto = broker(&pki, false);
    let tls = TlsOptions::new().with_ca_pem(Pki::new("another CA").ca_pem());
    let e = refused(options(mosquitto.addr, ProtocolVersion::V5, "wrongca", tls)).await;
    assert!(
        matches!(
            e,
            TlsError::Handshake(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "{e:?}"
    );
    let text = Error::Tls(e).to_string();
    assert!(text.contains("certificate was not trusted"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
}

#[tokio::test]
async fn an_mqtts_url_means_tls_with_the_platform_roots() {
    let pki = Pki::new("libmqtt test CA");
    let mosquitto = broker(&pki, false);
    // Our test CA is not among the platform's roots: TLS is tried and the
    // certificate refused (or, on a system without a CA bundle, there is
    // nothing to trust); never a plain MQTT connection.
    let url = format!("mqtts://127.0.0.1:{}?client_id=url", mosquitto.port());
    let options = ConnectOptions::from_url(&url).expect("a valid URL");
    assert!(options.tls.is_some());
    let e = refused(options).await;
    assert!(
        matches!(
            e,
            TlsError::Handshake(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            )) | TlsError::NoRoots(_)
        ),
        "{e:?}"
    );
    // The same URL with the CA given: connected.
    let options = ConnectOptions::from_url(&url)
        .unwrap()
        .with_tls(TlsOptions::new().with_ca_pem(pki.ca_pem()));
    let (client, _) = tokio::time::timeout(WAIT, mqtt_tokio::connect(options))
        .await
        .expect("in time")
        .expect("connects with the CA");
    client
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
}

#[tokio::test]
async fn a_server_name_that_the_certificate_does_not_name_is_refused() {
    let pki = Pki::new("libmqtt test CA");
    let mosquitto = broker(&pki, false);
    let tls = TlsOptions::new()
        .with_ca_pem(pki.ca_pem())
        .with_server_name("broker.example");
    let e = refused(options(mosquitto.addr, ProtocolVersion::V5, "sni", tls)).await;
    assert!(
        matches!(
            e,
            TlsError::Handshake(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("not valid for the server name"),
        "{e}"
    );
}

#[tokio::test]
async fn a_closed_port_is_io_and_a_silent_server_a_handshake_timeout() {
    let pki = Pki::new("libmqtt test CA");
    // A closed port: TCP refused, an I/O error, not a TLS one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let closed = SocketAddr::from(([127, 0, 0, 1], port));
    let tls = TlsOptions::new().with_ca_pem(pki.ca_pem());
    match mqtt_tokio::connect(options(closed, ProtocolVersion::V5, "closed", tls)).await {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        Err(other) => panic!("expected Error::Io, got {other:?}"),
        Ok(_) => panic!("nothing listens there"),
    }
    // A TLS client to a server that never answers the handshake: the
    // handshake timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let tls = TlsOptions::new()
        .with_ca_pem(pki.ca_pem())
        .with_handshake_timeout(Duration::from_millis(300));
    let e = refused(options(addr, ProtocolVersion::V5, "silent", tls)).await;
    assert!(matches!(e, TlsError::HandshakeTimeout(_)), "{e:?}");
    hold.abort();
}

fn tempdir() -> std::path::PathBuf {
    let dir = mqtt_tests::broker_proc::unique_temp_path("libmqtt-tokio-tls", "");
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

/// The `tls` example with mutual TLS, as its README section runs it: the
/// CA, the client certificate and key from files; one message goes out and
/// comes back through mosquitto.
#[test]
fn the_tls_example_runs_with_a_client_certificate() {
    let pki = Pki::new("example CA");
    let mosquitto = broker(&pki, true);
    let client = pki.client("tls-example");
    let dir = tempdir();
    let (ca, cert, key) = (
        dir.join("ca.crt"),
        dir.join("client.crt"),
        dir.join("client.key"),
    );
    std::fs::write(&ca, pki.ca_pem()).expect("ca.crt");
    std::fs::write(&cert, &client.cert).expect("client.crt");
    std::fs::write(&key, &client.key).expect("client.key");
    let mut cmd = common::example("tls");
    cmd.args([
        "--host",
        "localhost",
        "--port",
        &mosquitto.port().to_string(),
    ])
    .arg("--ca")
    .arg(&ca)
    .arg("--cert")
    .arg(&cert)
    .arg("--key")
    .arg(&key)
    .args(["--topic", "libmqtt/examples/tls"]);
    let mut p = mqtt_tests::broker_proc::Proc::spawn(&mut cmd, "tls example");
    let status = p
        .wait(std::time::Duration::from_secs(20))
        .expect("the example finished");
    let out = p.output();
    assert!(status.success(), "{status}: {}", out.join("\n"));
    assert!(
        out.iter()
            .any(|l| l.starts_with("received on libmqtt/examples/tls")),
        "the message came back: {out:?}"
    );
}
