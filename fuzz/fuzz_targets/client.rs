//! The sans-IO client driven by arbitrary operations: the world and its
//! invariants are in `client_model.rs` (shared with the replay of
//! `fuzz/regressions/client/` in `cargo test`).
#![no_main]

use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

#[path = "client_model.rs"]
mod model;

fuzz_target!(|data: &[u8]| {
    let _ = model::run(&mut Unstructured::new(data));
});
