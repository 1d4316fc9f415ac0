//! The examples run, as a user would run them (the binaries `cargo test`
//! builds), against our example broker and against mosquitto on 127.0.0.1:
//! publisher and subscriber, will (abrupt and clean), request/response.
//! `first_message` runs in `readme.rs`, `tls` (with certificates made by
//! the test) in `tls.rs`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{example, ExampleBroker, Mosquitto};
use mqtt_tests::broker_proc::Proc;

const WAIT: Duration = Duration::from_secs(20);

fn run(name: &str, addr: SocketAddr, args: &[&str]) -> Proc {
    let port = addr.port().to_string();
    let mut cmd = example(name);
    cmd.args(["--host", "127.0.0.1", "--port", &port])
        .args(args);
    Proc::spawn(&mut cmd, name)
}

fn finishes(p: &mut Proc, what: &str) -> Vec<String> {
    let status = p
        .wait(WAIT)
        .unwrap_or_else(|| panic!("{what} did not finish"));
    let out = p.output();
    assert!(
        status.success(),
        "{what}: {status}; output:\n{}",
        out.join("\n")
    );
    out
}

fn publisher_and_subscriber(addr: SocketAddr, version: &str, qos: &str, tag: &str) {
    let topic = format!("libmqtt/examples/{tag}/{}", std::process::id());
    let mut sub = run(
        "subscriber",
        addr,
        &[
            "--filter",
            &topic,
            "--qos",
            qos,
            "--count",
            "3",
            "--version",
            version,
        ],
    );
    sub.expect_line(WAIT, |l| l.starts_with("subscribed to"));
    let mut publisher = run(
        "publisher",
        addr,
        &[
            "--topic",
            &topic,
            "--qos",
            qos,
            "--count",
            "3",
            "--version",
            version,
        ],
    );
    let out = finishes(&mut publisher, "publisher");
    let acks = out.iter().filter(|l| l.starts_with("message ")).count();
    assert_eq!(acks, 3, "three publishes completed: {out:?}");
    let out = finishes(&mut sub, "subscriber");
    for i in 0..3 {
        let want = format!("hello from mqtt-tokio #{i}");
        assert!(
            out.iter()
                .any(|l| l.starts_with(&topic) && l.ends_with(&want)),
            "message {i} arrived: {out:?}"
        );
    }
}

fn will(addr: SocketAddr) {
    let topic = format!("libmqtt/examples/will/{}", std::process::id());
    let mut abrupt = run("will", addr, &["--topic", &topic, "--abrupt"]);
    let out = finishes(&mut abrupt, "will --abrupt");
    assert!(
        out.iter().any(|l| l.starts_with("will received on")),
        "the will was published: {out:?}"
    );
    let mut clean = run("will", addr, &["--topic", &topic, "--wait", "1"]);
    let out = finishes(&mut clean, "will");
    assert!(
        out.iter().any(|l| l.starts_with("no will within")),
        "no will after a clean DISCONNECT: {out:?}"
    );
}

fn request_response(addr: SocketAddr) {
    let service = format!("libmqtt/examples/rr/{}", std::process::id());
    let mut p = run(
        "request_response",
        addr,
        &["--service", &service, "--count", "3"],
    );
    let out = finishes(&mut p, "request_response");
    for i in 0..3 {
        let want = format!("\"request number {i}\" -> \"REQUEST NUMBER {i}\"");
        assert!(out.iter().any(|l| l.contains(&want)), "answer {i}: {out:?}");
    }
}

#[test]
fn examples_against_our_example_broker() {
    let broker = ExampleBroker::start(&[]);
    publisher_and_subscriber(broker.addr, "5", "2", "ex-v5");
    publisher_and_subscriber(broker.addr, "3", "1", "ex-v311");
    will(broker.addr);
    request_response(broker.addr);
}

#[test]
fn examples_against_mosquitto() {
    let broker = Mosquitto::start(false);
    publisher_and_subscriber(broker.addr, "5", "1", "mq-v5");
    publisher_and_subscriber(broker.addr, "3", "2", "mq-v311");
    will(broker.addr);
    request_response(broker.addr);
}
