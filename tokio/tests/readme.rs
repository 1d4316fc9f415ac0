//! The README's Rust section: its first-message block is the body of
//! `examples/first_message.rs` (checked line by line here), and that code
//! runs: against our example broker, with a subscriber that must receive
//! the message.

mod common;

#[allow(dead_code)]
#[path = "../examples/first_message.rs"]
mod first_message;

use common::{ExampleBroker, WAIT};
use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, QoS, ReasonCode};

/// The lines of the first ```rust block after `## The async client in Rust`
/// in the workspace README.
fn readme_block() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## The async client in Rust")
        .nth(1)
        .expect("the README has a section `## The async client in Rust`");
    let block = section
        .split("```rust")
        .nth(1)
        .expect("a ```rust block in that section");
    let block = block.split_once('\n').map(|(_, b)| b).unwrap_or(block);
    let block = block.split("```").next().unwrap_or_default();
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("use ") && !l.starts_with("# "))
        .map(String::from)
        .collect()
}

fn example_block() -> Vec<String> {
    let src = include_str!("../examples/first_message.rs");
    let body = src
        .split("// README begin")
        .nth(1)
        .and_then(|b| b.split("// README end").next())
        .expect("README markers in examples/first_message.rs");
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn readme_shows_the_example() {
    // Compared without white space: rustfmt may break the example's lines
    // where the README keeps them whole.
    let squash = |lines: Vec<String>| lines.concat().replace(char::is_whitespace, "");
    let readme = readme_block();
    let example = example_block();
    assert!(example.len() >= 4, "the example's README part: {example:?}");
    assert_eq!(
        squash(readme),
        squash(example),
        "README's first-message block and examples/first_message.rs differ"
    );
}

#[tokio::test]
async fn readme_first_message_runs() {
    let broker = ExampleBroker::start(&[]);
    let port = broker.port();
    let sub_opts = ClientOptions::new(
        ProtocolVersion::V5,
        &format!("readme-sub-{}", std::process::id()),
    )
    .expect("options");
    let (sub, _) = mqtt_tokio::connect(ConnectOptions::new("127.0.0.1", port, sub_opts))
        .await
        .expect("subscriber connects");
    let mut messages = sub.messages().expect("the message stream");
    sub.subscribe("hello/world", QoS::AtLeastOnce)
        .await
        .expect("subscribe");

    let url = format!(
        "mqtt://127.0.0.1:{port}?client_id=readme-first-{}",
        std::process::id()
    );
    let code = tokio::time::timeout(WAIT, first_message::run(&url))
        .await
        .expect("the first message in time")
        .expect("the first message");
    assert_eq!(code, ReasonCode::Success);

    let m = tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("the message in time")
        .expect("a message");
    assert_eq!(m.publish.topic.as_str(), "hello/world");
    assert_eq!(&m.publish.payload[..], b"hello");
    sub.disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await
        .expect("disconnect");
}
