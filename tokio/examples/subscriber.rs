//! Subscribes to a topic filter and prints the messages that arrive, with
//! the connection's status changes (it reconnects by itself).
//!
//! ```text
//! cargo run -p mqtt-tokio --example subscriber -- \
//!     --host 127.0.0.1 --port 1883 --filter 'libmqtt/#' --qos 1 --count 10
//! ```
//!
//! Options: `--host`, `--port`, `--filter`, `--qos 0|1|2`, `--version 3|5`,
//! `--count N` (stop after N messages; 0, the default, never stops).

use std::process::ExitCode;

use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode};

struct Args {
    host: String,
    port: u16,
    filter: String,
    qos: QoS,
    version: ProtocolVersion,
    count: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        filter: "libmqtt/#".into(),
        qos: QoS::AtLeastOnce,
        version: ProtocolVersion::V5,
        count: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => a.host = value()?,
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--filter" => a.filter = value()?,
            "--qos" => {
                a.qos = match value()?.as_str() {
                    "0" => QoS::AtMostOnce,
                    "1" => QoS::AtLeastOnce,
                    "2" => QoS::ExactlyOnce,
                    other => return Err(format!("--qos: {other} is not 0, 1 or 2")),
                }
            }
            "--version" => {
                a.version = match value()?.as_str() {
                    "3" | "4" | "311" | "3.1.1" => ProtocolVersion::V311,
                    "5" | "5.0" => ProtocolVersion::V5,
                    other => return Err(format!("--version: {other} is not 3 or 5")),
                }
            }
            "--count" => a.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

async fn run(a: Args) -> Result<(), mqtt_tokio::Error> {
    let id = format!("mqtt-tokio-subscriber-{}", std::process::id());
    let client = ClientOptions::new(a.version, &id)?.with_keep_alive(30);
    let (client, info) = mqtt_tokio::connect(ConnectOptions::new(a.host, a.port, client)).await?;
    println!("connected as {}", info.client_id);
    let mut messages = client.messages().expect("the stream is taken once");
    let granted = client.subscribe(&a.filter, a.qos).await?;
    println!("subscribed to {} ({granted})", a.filter);
    let mut status = client.status();
    let mut received = 0u64;
    loop {
        tokio::select! {
            m = messages.recv() => {
                let Some(m) = m else { break };
                let p = &m.publish;
                println!(
                    "{} (QoS {}{}): {}",
                    p.topic,
                    p.qos as u8,
                    if p.retain { ", retained" } else { "" },
                    String::from_utf8_lossy(&p.payload)
                );
                received += 1;
                if a.count != 0 && received >= a.count {
                    break;
                }
            }
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                println!("status: {:?}", *status.borrow_and_update());
            }
        }
    }
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION).await?;
    println!("disconnected after {received} messages");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("error: {why}");
            }
            eprintln!(
                "usage: subscriber [--host H] [--port P] [--filter F] [--qos 0|1|2] \
                 [--version 3|5] [--count N]"
            );
            return if why.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
