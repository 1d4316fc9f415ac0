//! Time, as the core sees it.
//!
//! The core never reads a clock. Every input that can move a deadline takes
//! the current time as an argument of type [`Instant`], a monotonic count of
//! milliseconds chosen by the caller (since boot, since the process started,
//! or virtual time in a test). Only differences between instants matter.
//! Changing the representation is a one-line change here.

/// A point in time: milliseconds on a monotonic clock chosen by the caller.
pub type Instant = u64;

/// A length of time in milliseconds.
pub type Duration = u64;
