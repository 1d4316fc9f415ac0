//! A will (Last Will and Testament): one client connects with a will,
//! another watches the will topic. The first then ends its connection
//! either cleanly (DISCONNECT: the server discards the will) or, with
//! `--abrupt`, by shutting its TCP connection down with no DISCONNECT (as a
//! crash or a network failure would): the server publishes the will.
//!
//! ```text
//! cargo run -p mqtt-core --example broker -- --port 1883 &
//! cargo run -p mqtt-tokio --example will -- --port 1883 --abrupt
//! cargo run -p mqtt-tokio --example will -- --port 1883
//! ```
//!
//! Options: `--host`, `--port`, `--version 3|5`, `--topic T` (the will
//! topic), `--abrupt`, `--wait S` (how long the watcher waits for the
//! will, default 3 s).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqtt_tokio::mqtt_core::codec::Will;
use mqtt_tokio::{
    ClientOptions, ConnectFuture, ConnectOptions, Connector, ProtocolVersion, QoS, ReasonCode,
    Transport,
};

struct Args {
    host: String,
    port: u16,
    version: ProtocolVersion,
    topic: String,
    abrupt: bool,
    wait: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        version: ProtocolVersion::V5,
        topic: format!("libmqtt/will/{}", std::process::id()),
        abrupt: false,
        wait: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => a.host = value()?,
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--version" => {
                a.version = match value()?.as_str() {
                    "3" | "4" | "311" | "3.1.1" => ProtocolVersion::V311,
                    "5" | "5.0" => ProtocolVersion::V5,
                    other => return Err(format!("--version: {other} is not 3 or 5")),
                }
            }
            "--topic" => a.topic = value()?,
            "--abrupt" => a.abrupt = true,
            "--wait" => a.wait = value()?.parse().map_err(|e| format!("--wait: {e}"))?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// TCP that the program can shut down under the client's feet: it keeps
/// a clone of the socket of the last connection it opened.
struct Killable {
    host: String,
    port: u16,
    last: Arc<Mutex<Option<std::net::TcpStream>>>,
}

impl Connector for Killable {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
            let std = stream.into_std()?;
            let clone = std.try_clone()?;
            if let Ok(mut last) = self.last.lock() {
                *last = Some(clone);
            }
            let stream = tokio::net::TcpStream::from_std(std)?;
            Ok(Box::new(stream) as Box<dyn Transport>)
        })
    }
}

async fn run(a: Args) -> Result<(), mqtt_tokio::Error> {
    let pid = std::process::id();
    let watcher = ClientOptions::new(a.version, &format!("mqtt-tokio-will-watcher-{pid}"))?;
    let (watcher, _) =
        mqtt_tokio::connect(ConnectOptions::new(a.host.clone(), a.port, watcher)).await?;
    let (_, mut wills) = watcher.subscribe_stream(&a.topic, QoS::AtLeastOnce).await?;
    println!("watcher subscribed to {}", a.topic);

    let id = format!("mqtt-tokio-will-{pid}");
    let will = Will::new(&a.topic, format!("{id} went away"), QoS::AtLeastOnce)?;
    let options = ConnectOptions::new(a.host.clone(), a.port, {
        ClientOptions::new(a.version, &id)?.with_will(will)
    })
    .with_reconnect(None);
    let socket = Arc::new(Mutex::new(None));
    let connector = Killable {
        host: a.host.clone(),
        port: a.port,
        last: socket.clone(),
    };
    let (client, _) = mqtt_tokio::connect_with(options, connector).await?;
    println!("{id} connected with a will on {}", a.topic);

    if a.abrupt {
        println!("shutting the TCP connection down, no DISCONNECT");
        let socket = socket.lock().ok().and_then(|mut s| s.take());
        if let Some(s) = socket {
            s.shutdown(std::net::Shutdown::Both)
                .map_err(mqtt_tokio::Error::Io)?;
        }
    } else {
        println!("disconnecting cleanly (DISCONNECT 0x00)");
        client.disconnect(ReasonCode::NORMAL_DISCONNECTION).await?;
    }

    match tokio::time::timeout(Duration::from_secs(a.wait), wills.recv()).await {
        Ok(Some(m)) => println!(
            "will received on {}: {}",
            m.publish.topic,
            String::from_utf8_lossy(&m.publish.payload)
        ),
        Ok(None) => println!("the watcher was closed"),
        Err(_) => println!("no will within {} s", a.wait),
    }
    watcher.disconnect(ReasonCode::NORMAL_DISCONNECTION).await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(why) => {
            eprintln!(
                "usage: will [--host H] [--port P] [--version 3|5] [--topic T] [--abrupt] \
                 [--wait S]"
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
