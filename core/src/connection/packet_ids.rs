//! [`PacketIds`]: packet identifiers in use, so that none is reused while
//! its exchange is open [MQTT-2.2.1-3].

use alloc::boxed::Box;

/// One bit per packet identifier (8 KiB), allocated once per client, and a
/// cursor that hands out identifiers in increasing order, skipping those in
/// use: allocation and release are O(1) in the common case.
#[derive(Clone)]
pub(crate) struct PacketIds {
    bits: Box<[u64; 1024]>,
    next: u16,
    in_use: u32,
}

impl core::fmt::Debug for PacketIds {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PacketIds")
            .field("next", &self.next)
            .field("in_use", &self.in_use)
            .finish()
    }
}

impl PacketIds {
    pub(crate) fn new() -> Self {
        PacketIds {
            bits: Box::new([0; 1024]),
            next: 1,
            in_use: 0,
        }
    }

    pub(crate) fn is_used(&self, id: u16) -> bool {
        self.bits[usize::from(id >> 6)] & (1 << (id & 63)) != 0
    }

    /// Marks `id` used; false if it already was (or is 0).
    pub(crate) fn claim(&mut self, id: u16) -> bool {
        if id == 0 || self.is_used(id) {
            return false;
        }
        self.bits[usize::from(id >> 6)] |= 1 << (id & 63);
        self.in_use += 1;
        true
    }

    /// The next free identifier, marked used; `None` when all 65,535 are.
    pub(crate) fn allocate(&mut self) -> Option<u16> {
        if self.in_use >= u32::from(u16::MAX) {
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
        if id != 0 && self.is_used(id) {
            self.bits[usize::from(id >> 6)] &= !(1 << (id & 63));
            self.in_use -= 1;
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
}
