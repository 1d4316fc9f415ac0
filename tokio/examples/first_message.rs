//! The first message of the README's Rust section: connect from a URL,
//! publish at QoS 1 and wait for the PUBACK, disconnect.
//!
//! ```text
//! cargo run -p mqtt-core --example broker -- --port 1883 &
//! cargo run -p mqtt-tokio --example first_message
//! cargo run -p mqtt-tokio --example first_message -- 'mqtt://127.0.0.1:1883?client_id=me&version=3.1.1'
//! ```
//!
//! `tokio/tests/readme.rs` checks that the README shows exactly the lines
//! between the markers below, and runs [`run`] against our example broker.

use mqtt_tokio::{ConnectOptions, Error, QoS, ReasonCode};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mqtt://127.0.0.1:1883?client_id=first-message".into());
    let reason_code = run(&url).await?;
    println!("published; the broker answered {reason_code:?}");
    Ok(())
}

/// Connects to `url`, publishes one message at QoS 1 and disconnects;
/// returns the PUBACK's reason code.
pub async fn run(url: &str) -> Result<ReasonCode, Error> {
    // README begin
    let options = ConnectOptions::from_url(url)?; // mqtt://host:port?client_id=...
    let (client, _connack) = mqtt_tokio::connect(options).await?;
    let puback = client
        .publish("hello/world", QoS::AtLeastOnce, "hello")
        .await?;
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION).await?;
    // README end
    Ok(puback.reason_code)
}
