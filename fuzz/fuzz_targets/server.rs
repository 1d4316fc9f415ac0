//! The sans-IO server connection driven by arbitrary operations: the
//! world and its invariants are in `server_model.rs` (shared with the
//! replay of `fuzz/regressions/server/` in `cargo test`).
#![no_main]

use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

mod common;
#[path = "server_model.rs"]
mod model;

fuzz_target!(|data: &[u8]| {
    let _ = model::run(&mut Unstructured::new(data));
});
