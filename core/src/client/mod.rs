//! The client role (in progress: the state machine arrives with its issue).
//!
//! Pieces every client driver needs and that are pure functions of their
//! inputs live here first, so that no driver (Rust, C, Python) writes its
//! own: [`Backoff`], the reconnect delay for attempt *n*.

mod backoff;

pub use backoff::Backoff;
