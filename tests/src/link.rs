//! One direction of a simulated network connection, shared by the seeded
//! simulations ([`crate::sim`], [`crate::broker_sim`]).

use std::collections::VecDeque;

use mqtt_core::time::Instant;

use crate::sim::Rng;

/// One direction of one connection: chunks with delivery times, in order.
///
/// Bytes written are cut into chunks of random size, each delivered after a
/// random delay but never before the chunk written ahead of it.
#[derive(Debug, Default)]
pub struct Pipe {
    chunks: VecDeque<(Instant, Vec<u8>)>,
    last: Instant,
}

impl Pipe {
    /// Queues `data` written at `now`, in chunks of 1 to `max_chunk` bytes,
    /// each due 0 to `max_delay` ms later (and no earlier than the one
    /// before it).
    pub fn write(
        &mut self,
        rng: &mut Rng,
        max_chunk: u64,
        max_delay: u64,
        now: Instant,
        mut data: &[u8],
    ) {
        while !data.is_empty() {
            let n = (rng.range(1, max_chunk) as usize).min(data.len());
            let at = (now + rng.range(0, max_delay)).max(self.last);
            self.last = at;
            self.chunks.push_back((at, data[..n].to_vec()));
            data = &data[n..];
        }
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Drops what is queued (a broken connection carries nothing more).
    pub fn clear(&mut self) {
        self.chunks.clear();
    }

    /// When the last chunk written is due (0 before any).
    pub fn last_due(&self) -> Instant {
        self.last
    }

    /// When the next chunk is due, if any is queued.
    pub fn next_due(&self) -> Option<Instant> {
        self.chunks.front().map(|c| c.0)
    }

    /// How many chunks are queued.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// The next chunk, due or not (bytes already on their way when the
    /// other end goes away).
    pub fn take_next(&mut self) -> Option<Vec<u8>> {
        self.chunks.pop_front().map(|c| c.1)
    }

    /// The next chunk, if it is due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.chunks.front().is_some_and(|c| c.0 <= now) {
            self.chunks.pop_front().map(|c| c.1)
        } else {
            None
        }
    }
}
