//! Inputs that made a fuzz target fail, replayed by `cargo test` through
//! the target's own logic: `fuzz/fuzz_targets/<target>_model.rs` is
//! included here as it is in the target, and run on every file of
//! `fuzz/regressions/<target>/` (the raw input as libFuzzer wrote it). A
//! broken invariant panics, as in the fuzzer.
//!
//! To keep a new crash: fix it, copy the input to
//! `fuzz/regressions/<target>/<what-it-found>`, and write a scenario test
//! for it beside the rule it concerns. To read one:
//! `CLIENT_FUZZ_TRACE=1` (or `SERVER_FUZZ_TRACE=1`) prints each operation.

use std::path::{Path, PathBuf};

use arbitrary::Unstructured;

#[allow(dead_code)] // the broker target's helpers too
#[path = "../../fuzz/fuzz_targets/common.rs"]
mod common;

#[path = "../../fuzz/fuzz_targets/client_model.rs"]
mod client_model;

#[path = "../../fuzz/fuzz_targets/server_model.rs"]
mod server_model;

/// The kept inputs of `target`, by name.
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `run` on every kept input of `target` (running out of input ends
/// a run early, as in the fuzzer: not a failure).
fn replay(target: &str, run: fn(&mut Unstructured<'_>) -> arbitrary::Result<()>) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no inputs in fuzz/regressions/{target}");
    for file in files {
        let data = std::fs::read(&file).unwrap();
        eprintln!("replaying {}", file.display());
        let mut u = Unstructured::new(&data);
        let _ = run(&mut u);
    }
}

/// `client`: the first kept input delivered a QoS 1 message with
/// `AckToken(3)` under manual acknowledgement, acknowledged token 3
/// through the target's "arbitrary token" operation (accepted: PUBACK
/// went out), then acknowledged it again as a delivered token and got
/// `UnknownAckToken`. The client was right (a token is acknowledged once,
/// [MQTT-4.3.2-4] one PUBACK per PUBLISH); the model now counts an
/// arbitrary token that hits a delivered one as its acknowledgement. The
/// API-level scenario: `client_qos.rs`,
/// `a_token_acknowledged_once_is_unknown_afterwards_across_reconnects`.
#[test]
fn client_target_regressions() {
    replay("client", client_model::run);
}

/// `server`: the first kept input resumed a session with QoS 1 message 1
/// in flight while the client's PUBACK 1, sent after CONNECT, waited for
/// the accept. The server resent PUBLISH 1 (DUP), then took the PUBACK as
/// its answer and gave identifier 1 to a new message while the target
/// still counted the resent copy as open ("id 1 reused"). The server now
/// handles what arrived before CONNACK first and resends only what is
/// still unacknowledged [MQTT-4.4.0-1]; the API-level scenario:
/// `server_qos.rs`,
/// `acknowledgements_sent_before_connack_are_handled_before_the_session_is_resent`.
#[test]
fn server_target_regressions() {
    replay("server", server_model::run);
}
