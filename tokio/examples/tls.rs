//! MQTT over TLS: trusts a CA file (or the platform's roots), optionally
//! presents a client certificate (mutual TLS), subscribes to a topic,
//! publishes one message to it at QoS 1 and waits for it to come back.
//!
//! ```text
//! cargo run -p mqtt-tokio --example tls -- \
//!     --host localhost --port 8883 --ca ca.crt --cert client.crt --key client.key --topic hello
//! ```
//!
//! Options: `--host`, `--port` (8883), `--ca FILE` (PEM; without it the
//! platform's roots), `--cert FILE --key FILE` (PEM client certificate
//! chain and its PKCS#8, PKCS#1 or SEC1 key), `--server-name NAME` (the
//! name checked in the server's certificate, default the host), `--alpn
//! PROTOCOL`, `--topic`, `--version 3|5`, `--client-id ID`. See
//! tokio/README.md ("TLS") for a mosquitto configuration and openssl
//! commands that make the certificates.

use std::process::ExitCode;
use std::time::Duration;

use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode, TlsOptions};

const USAGE: &str = "usage: tls [--host H] [--port P] [--ca FILE] [--cert FILE --key FILE] \
                     [--server-name NAME] [--alpn PROTOCOL] [--topic T] [--version 3|5] \
                     [--client-id ID]";

struct Args {
    host: String,
    port: u16,
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    server_name: Option<String>,
    alpn: Option<String>,
    topic: String,
    version: ProtocolVersion,
    client_id: String,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse_args() -> Result<Parsed, String> {
    let mut a = Args {
        host: "localhost".into(),
        port: 8883,
        ca: None,
        cert: None,
        key: None,
        server_name: None,
        alpn: None,
        topic: "libmqtt/tokio/tls".into(),
        version: ProtocolVersion::V5,
        client_id: format!("mqtt-tokio-tls-{}", std::process::id()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => a.host = value()?,
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--ca" => a.ca = Some(value()?),
            "--cert" => a.cert = Some(value()?),
            "--key" => a.key = Some(value()?),
            "--server-name" => a.server_name = Some(value()?),
            "--alpn" => a.alpn = Some(value()?),
            "--topic" => a.topic = value()?,
            "--version" => {
                a.version = match value()?.as_str() {
                    "3" | "4" | "311" | "3.1.1" => ProtocolVersion::V311,
                    "5" | "5.0" => ProtocolVersion::V5,
                    other => return Err(format!("--version: {other} is not 3 or 5")),
                }
            }
            "--client-id" => a.client_id = value()?,
            "-h" | "--help" => return Ok(Parsed::Help),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.cert.is_some() != a.key.is_some() {
        return Err("--cert and --key go together".into());
    }
    Ok(Parsed::Run(a))
}

/// Returns whether the message came back.
async fn run(a: Args) -> Result<bool, mqtt_tokio::Error> {
    let mut tls = TlsOptions::new();
    if let Some(ca) = &a.ca {
        tls = tls.with_ca_file(ca);
    }
    if let (Some(cert), Some(key)) = (&a.cert, &a.key) {
        tls = tls.with_client_cert_files(cert, key);
    }
    if let Some(name) = &a.server_name {
        tls = tls.with_server_name(name);
    }
    if let Some(alpn) = &a.alpn {
        tls = tls.with_alpn([alpn.as_str()]);
    }
    let client = ClientOptions::new(a.version, &a.client_id)?.with_keep_alive(30);
    let options = ConnectOptions::new(&a.host, a.port, client)
        .with_tls(tls)
        .with_reconnect(None);
    let (client, info) = mqtt_tokio::connect(options).await?;
    println!(
        "connected over TLS to {}:{} as {}",
        a.host, a.port, info.client_id
    );
    let mut messages = client.messages().ok_or(mqtt_tokio::Error::Closed(None))?;
    let granted = client.subscribe(&a.topic, QoS::AtLeastOnce).await?;
    println!("subscribed to {} ({granted})", a.topic);
    let done = client
        .publish(&a.topic, QoS::AtLeastOnce, "hello over TLS")
        .await?;
    println!("published to {} (QoS 1): {}", a.topic, done.reason_code);
    let received = match tokio::time::timeout(Duration::from_secs(10), messages.recv()).await {
        Ok(Some(m)) => {
            println!(
                "received on {}: {}",
                m.publish.topic.as_str(),
                String::from_utf8_lossy(&m.publish.payload)
            );
            true
        }
        Ok(None) => {
            eprintln!("the connection closed before the message came back");
            false
        }
        Err(_) => {
            eprintln!("the message did not come back within 10 s");
            false
        }
    };
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION).await?;
    println!("disconnected");
    Ok(received)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("error: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
