//! MQTT 5.0 request/response: a responder answers requests on a service
//! topic (here: the payload in upper case), a requester sends some and
//! prints the answers. `--role both` (the default) runs the two in one
//! program; run them apart with `--role responder` and `--role requester`.
//!
//! ```text
//! cargo run -p mqtt-core --example broker -- --port 1883 &
//! cargo run -p mqtt-tokio --example request_response -- --port 1883 --count 3
//! ```
//!
//! Options: `--host`, `--port`, `--role both|responder|requester`,
//! `--service T` (the topic requests go to, default `libmqtt/rr/upper`),
//! `--count N` (requests to send, default 5; a responder alone serves
//! until interrupted), `--timeout S` (per request, default 5 s).

use std::process::ExitCode;
use std::time::Duration;

use mqtt_tokio::{Client, ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode};

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Both,
    Responder,
    Requester,
}

struct Args {
    host: String,
    port: u16,
    role: Role,
    service: String,
    count: u32,
    timeout: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        role: Role::Both,
        service: "libmqtt/rr/upper".into(),
        count: 5,
        timeout: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => a.host = value()?,
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--role" => {
                a.role = match value()?.as_str() {
                    "both" => Role::Both,
                    "responder" => Role::Responder,
                    "requester" => Role::Requester,
                    other => {
                        return Err(format!(
                            "--role: {other} is not both, responder or requester"
                        ))
                    }
                }
            }
            "--service" => a.service = value()?,
            "--count" => a.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--timeout" => a.timeout = value()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

async fn connect(a: &Args, name: &str) -> Result<Client, mqtt_tokio::Error> {
    let id = format!("mqtt-tokio-rr-{name}-{}", std::process::id());
    let options = ClientOptions::new(ProtocolVersion::V5, &id)?;
    let (client, _) =
        mqtt_tokio::connect(ConnectOptions::new(a.host.clone(), a.port, options)).await?;
    Ok(client)
}

/// Answers every request on `service` until the client is closed.
async fn serve(client: Client, service: String) -> Result<(), mqtt_tokio::Error> {
    let (_, mut requests) = client.subscribe_stream(&service, QoS::AtLeastOnce).await?;
    println!("responder: serving {service}");
    while let Some(request) = requests.recv().await {
        let answer = request.publish.payload.to_ascii_uppercase();
        match client.respond(&request, QoS::AtLeastOnce, answer).await {
            Ok(_) => println!(
                "responder: answered {:?}",
                String::from_utf8_lossy(&request.publish.payload)
            ),
            Err(e) => eprintln!("responder: cannot answer: {e}"),
        }
    }
    Ok(())
}

async fn run(a: Args) -> Result<(), mqtt_tokio::Error> {
    let responder = match a.role {
        Role::Requester => None,
        _ => Some(connect(&a, "responder").await?),
    };
    if a.role == Role::Responder {
        if let Some(r) = responder {
            return serve(r, a.service.clone()).await;
        }
        return Ok(());
    }
    let serving = responder.clone().map(|r| {
        let service = a.service.clone();
        tokio::spawn(serve(r, service))
    });
    // Let the responder subscribe before the first request.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let requester = connect(&a, "requester").await?;
    for i in 0..a.count {
        let question = format!("request number {i}");
        let timeout = Duration::from_secs(a.timeout);
        match requester
            .request(&a.service, QoS::AtLeastOnce, question.clone(), timeout)
            .await
        {
            Ok(response) => println!(
                "requester: {question:?} -> {:?} (on {})",
                String::from_utf8_lossy(&response.publish.payload),
                response.publish.topic
            ),
            Err(e) => println!("requester: {question:?} -> {e}"),
        }
    }
    requester
        .disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await?;
    if let Some(r) = responder {
        r.disconnect(ReasonCode::NORMAL_DISCONNECTION).await?;
    }
    if let Some(task) = serving {
        let _ = task.await;
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(why) => {
            eprintln!(
                "usage: request_response [--host H] [--port P] [--role both|responder|requester] \
                 [--service T] [--count N] [--timeout S]"
            );
            if why.is_empty() {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {why}");
            return ExitCode::from(2);
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
