//! Publishes messages and waits for each to be acknowledged.
//!
//! ```text
//! cargo run -p mqtt-tokio --example publisher -- \
//!     --host 127.0.0.1 --port 1883 --topic hello --qos 1 --count 10 --version 5
//! ```
//!
//! Options: `--host`, `--port`, `--topic`, `--qos 0|1|2`, `--version 3|5`
//! (3 means 3.1.1), `--count N`, `--message TEXT`, `--client-id ID`.
//! Start a broker first, e.g. our example broker:
//! `cargo run -p mqtt-core --example broker -- --port 1883`.

use std::process::ExitCode;

use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode};

struct Args {
    host: String,
    port: u16,
    topic: String,
    qos: QoS,
    version: ProtocolVersion,
    count: u32,
    message: String,
    client_id: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        topic: "libmqtt/tokio".into(),
        qos: QoS::AtLeastOnce,
        version: ProtocolVersion::V5,
        count: 10,
        message: "hello from mqtt-tokio".into(),
        client_id: format!("mqtt-tokio-publisher-{}", std::process::id()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => a.host = value()?,
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--topic" => a.topic = value()?,
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
            "--message" => a.message = value()?,
            "--client-id" => a.client_id = value()?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

async fn run(a: Args) -> Result<(), mqtt_tokio::Error> {
    let client = ClientOptions::new(a.version, &a.client_id)?.with_keep_alive(30);
    let (client, info) = mqtt_tokio::connect(ConnectOptions::new(a.host, a.port, client)).await?;
    println!(
        "connected as {} (session present: {}, keep alive {} s)",
        info.client_id, info.session_present, info.keep_alive
    );
    for n in 0..a.count {
        let payload = format!("{} #{n}", a.message);
        let done = client.publish(&a.topic, a.qos, payload).await?;
        println!(
            "message {n} to {} (QoS {}): {}",
            a.topic, a.qos as u8, done.reason_code
        );
    }
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION).await?;
    println!("disconnected");
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
                "usage: publisher [--host H] [--port P] [--topic T] [--qos 0|1|2] \
                 [--version 3|5] [--count N] [--message TEXT] [--client-id ID]"
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
