//! [`PacketIds`]: packet identifiers in use, so that none is reused while
//! its exchange is open [MQTT-2.2.1-3].

use alloc::collections::VecDeque;

/// The identifiers in use, sorted, and a cursor that hands out identifiers
/// in increasing order, skipping those in use.
///
/// Memory is two bytes per identifier in use (so it follows the inflight
/// window and the queue, not the 65,535 possible identifiers: a device with
/// 20 messages in flight holds 40 bytes). In the common case identifiers
/// are allocated in increasing order and released oldest first, which is a
/// push at the back and a pop at the front of the deque: O(1). Otherwise a
/// binary search, and an insert or remove that moves the shorter side. The
/// deque keeps its capacity, so the steady state allocates nothing.
#[derive(Clone, Default)]
pub(crate) struct PacketIds {
    used: VecDeque<u16>,
    next: u16,
}

impl core::fmt::Debug for PacketIds {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PacketIds")
            .field("next", &self.next)
            .field("in_use", &self.used.len())
            .finish()
    }
}

impl PacketIds {
    pub(crate) const fn new() -> Self {
        PacketIds {
            used: VecDeque::new(),
            next: 1,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_used(&self, id: u16) -> bool {
        self.used.binary_search(&id).is_ok()
    }

    /// Marks `id` used; false if it already was (or is 0).
    pub(crate) fn claim(&mut self, id: u16) -> bool {
        if id == 0 {
            return false;
        }
        // The common case: above every identifier in use.
        if self.used.back().is_none_or(|&last| last < id) {
            self.used.push_back(id);
            return true;
        }
        match self.used.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                self.used.insert(at, id);
                true
            }
        }
    }

    /// The next free identifier, marked used; `None` when all 65,535 are.
    pub(crate) fn allocate(&mut self) -> Option<u16> {
        if self.used.len() >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            let id = self.next;
            self.next = if id == u16::MAX { 1 } else { id + 1 };
            if self.claim(id) {
                return Some(id);
            }
        }
    }

    pub(crate) fn release(&mut self, id: u16) {
        if self.used.front() == Some(&id) {
            self.used.pop_front();
        } else if let Ok(at) = self.used.binary_search(&id) {
            self.used.remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_never_handed_out_twice_while_in_use() {
        let mut ids = PacketIds::new();
        let a = ids.allocate().unwrap();
        assert_eq!(a, 1);
        for _ in 0..(u16::MAX - 1) {
            let id = ids.allocate().unwrap();
            assert_ne!(id, a);
        }
        assert_eq!(ids.allocate(), None, "all 65,535 in use");
        ids.release(300);
        assert_eq!(ids.allocate(), Some(300));
        assert!(!ids.claim(0), "0 is never a packet identifier");
    }

    #[test]
    fn memory_follows_the_identifiers_in_use() {
        let mut ids = PacketIds::new();
        for _ in 0..10_000 {
            let id = ids.allocate().unwrap();
            ids.release(id);
        }
        assert!(ids.used.capacity() <= 4, "{}", ids.used.capacity());
        // Wrap-around: identifiers below the cursor that are in use are
        // skipped, those released are handed out again.
        let mut ids = PacketIds::new();
        let all: alloc::vec::Vec<u16> = (0..u16::MAX).map(|_| ids.allocate().unwrap()).collect();
        assert_eq!(all.first(), Some(&1));
        assert_eq!(all.last(), Some(&u16::MAX));
        for id in [7u16, 3, 60_000] {
            ids.release(id);
            assert!(!ids.is_used(id));
        }
        assert_eq!(ids.allocate(), Some(3));
        assert_eq!(ids.allocate(), Some(7));
        assert_eq!(ids.allocate(), Some(60_000));
        assert_eq!(ids.allocate(), None);
    }
}
