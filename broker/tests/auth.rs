//! Passwords, ACL and reload: a password file made by Debian's
//! `mosquitto_passwd`, ACL `pattern` lines with `%c` and `%u`, SIGHUP
//! reloading both while connected clients stay.

mod common;

use std::process::Command;

use common::{free_port, mosquitto_pub, run, settle, BrokerProc, Sub};

fn mosquitto_passwd(args: &[&str]) {
    let out = run(Command::new("mosquitto_passwd").args(args));
    assert!(out.status.success(), "mosquitto_passwd {args:?}: {out:?}");
}

fn start(acl: &str) -> (BrokerProc, u16) {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let passwd = passwd.to_str().unwrap();
    mosquitto_passwd(&["-c", "-b", passwd, "alice", "wonderland"]);
    mosquitto_passwd(&["-b", passwd, "bob", "builder"]);
    std::fs::write(dir.path().join("acl"), acl).unwrap();
    let port = free_port();
    let conf = format!(
        "listener {port} 127.0.0.1\n\
         allow_anonymous false\n\
         password_file {{dir}}/passwd\n\
         acl_file {{dir}}/acl\n"
    );
    (BrokerProc::start_in(dir, &conf, 1, &[]), port)
}

/// Whether a 5.0 QoS 1 PUBLISH by `mosquitto_pub` was accepted: connected
/// (exit status 0) and acknowledged without an error code (mosquitto_pub
/// warns "Publish 1 failed: Not authorized." and still exits 0).
fn accepted(out: &std::process::Output) -> bool {
    out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("failed")
}

fn publish(port: u16, user: &str, password: &str, topic: &str) -> bool {
    let out = mosquitto_pub(
        port,
        &[
            "-u", user, "-P", password, "-t", topic, "-m", "m", "-q", "1", "-V", "5",
        ],
    );
    accepted(&out)
}

/// Every user may do everything (a `topic` line before any `user` line is
/// for anonymous clients only, as in mosquitto).
const OPEN_ACL: &str = "pattern readwrite #\n";

#[test]
fn a_password_file_made_by_mosquitto_passwd_is_accepted() {
    let (_broker, port) = start(OPEN_ACL);
    assert!(publish(port, "alice", "wonderland", "t"));
    assert!(publish(port, "bob", "builder", "t"));
    assert!(!publish(port, "alice", "builder", "t"), "wrong password");
    assert!(!publish(port, "carol", "x", "t"), "unknown user");
    let anonymous = mosquitto_pub(port, &["-t", "t", "-m", "m"]);
    assert!(
        !anonymous.status.success(),
        "anonymous with allow_anonymous false"
    );
}

/// `pattern` lines: `%u` is the User Name, `%c` the Client Identifier;
/// a `user` block grants one user more.
#[test]
fn acl_patterns_with_client_id_and_username() {
    let acl = "pattern readwrite users/%u/#\n\
               pattern write clients/%c/out\n\
               user alice\n\
               topic read clients/+/out\n";
    let (_broker, port) = start(acl);
    let sub = Sub::start(
        port,
        &[
            "-u",
            "alice",
            "-P",
            "wonderland",
            "-t",
            "clients/+/out",
            "-t",
            "users/alice/#",
            "-C",
            "2",
            "-W",
            "8",
        ],
    );
    settle();
    // bob may write clients/<his id>/out and users/bob/#, nothing else.
    for (topic, id, allowed) in [
        ("clients/bob-1/out", "bob-1", true),
        ("clients/other/out", "bob-1", false),
        ("users/bob/x", "bob-1", true),
        ("users/alice/x", "bob-1", false),
    ] {
        let out = mosquitto_pub(
            port,
            &[
                "-u", "bob", "-P", "builder", "-i", id, "-t", topic, "-m", topic, "-q", "1", "-V",
                "5",
            ],
        );
        // 5.0: a refused QoS 1 publish gets PUBACK 0x87.
        assert_eq!(accepted(&out), allowed, "{topic}: {out:?}");
    }
    assert!(publish(port, "alice", "wonderland", "users/alice/self"));
    let (lines, _, err) = sub.finish();
    assert_eq!(
        lines,
        ["clients/bob-1/out clients/bob-1/out", "users/alice/self m"],
        "{err}"
    );
}

/// SIGHUP: a user added to the password file can log in afterwards, a
/// removed one cannot, and a connected client stays connected.
#[test]
fn sighup_reloads_the_password_file_and_connected_clients_stay() {
    let (mut broker, port) = start(OPEN_ACL);
    let passwd = broker.path("passwd");
    let passwd = passwd.to_str().unwrap().to_owned();
    assert!(!publish(port, "carol", "secret", "t"));
    // alice stays subscribed across the reload that removes her.
    let sub = Sub::start(
        port,
        &[
            "-u",
            "alice",
            "-P",
            "wonderland",
            "-t",
            "after",
            "-C",
            "1",
            "-W",
            "10",
        ],
    );
    settle();
    mosquitto_passwd(&["-b", &passwd, "carol", "secret"]);
    mosquitto_passwd(&["-D", &passwd, "alice"]);
    broker.signal("HUP");
    broker.wait_log("reloaded password and ACL files");
    assert!(publish(port, "carol", "secret", "after"), "an added user");
    assert!(!publish(port, "alice", "wonderland", "t"), "a removed user");
    let (lines, code, err) = sub.finish();
    assert_eq!(lines, ["after m"], "the connected client stayed: {err}");
    assert_eq!(code, Some(0));
}

/// A reload whose ACL file is broken keeps the running settings.
#[test]
fn a_failed_reload_keeps_the_running_settings() {
    let (mut broker, port) = start("pattern readwrite t\n");
    std::fs::write(broker.path("acl"), "pattern readwrite t\nfrobnicate t\n").unwrap();
    broker.signal("HUP");
    broker.wait_log("keeping the running settings");
    assert!(publish(port, "alice", "wonderland", "t"));
    assert!(
        !publish(port, "alice", "wonderland", "u"),
        "the old ACL still applies"
    );
}

/// `libmqtt-broker passwd` writes a file the broker (and mosquitto, see
/// tests/password.rs) reads: create, add, delete.
#[test]
fn the_passwd_subcommand_writes_a_file_the_broker_reads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    let file = file.to_str().unwrap().to_owned();
    let passwd = |args: &[&str]| {
        let out = run(Command::new(env!("CARGO_BIN_EXE_libmqtt-broker"))
            .arg("passwd")
            .args(args));
        assert!(out.status.success(), "passwd {args:?}: {out:?}");
    };
    passwd(&["-c", "-b", &file, "dave", "d-secret"]);
    passwd(&["-b", &file, "erin", "e-secret"]);
    passwd(&["-D", &file, "dave"]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("erin:$7$101$"), "{text}");
    std::fs::write(dir.path().join("acl"), OPEN_ACL).unwrap();
    let port = free_port();
    let conf =
        format!("listener {port} 127.0.0.1\npassword_file {{dir}}/passwd\nacl_file {{dir}}/acl\n");
    let _broker = BrokerProc::start_in(dir, &conf, 1, &[]);
    assert!(publish(port, "erin", "e-secret", "t"));
    assert!(!publish(port, "erin", "wrong", "t"));
    assert!(!publish(port, "dave", "d-secret", "t"), "deleted");
}
