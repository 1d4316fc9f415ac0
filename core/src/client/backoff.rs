//! [`Backoff`]: the delay before reconnect attempt *n*, exponential with
//! caller-supplied jitter (the core has no randomness of its own).

use crate::time::Duration;

/// Exponential backoff for reconnecting: attempt 0 waits about `initial`,
/// each further attempt `multiplier` times longer, never more than `max`.
///
/// Jitter comes from the caller as any `u32` (e.g. from their RNG), so the
/// result is deterministic for a given input: half of the capped delay is
/// fixed and the other half is spread by the random value ("equal
/// jitter"), which keeps a floor under the delay while spreading many
/// clients that lost the same server.
///
/// ```
/// use mqtt_core::client::Backoff;
/// let b = Backoff::new(1_000, 60_000);
/// assert_eq!(b.cap(0), 1_000);
/// assert_eq!(b.cap(3), 8_000);
/// assert_eq!(b.cap(20), 60_000);
/// let d = b.delay(3, 0xDEAD_BEEF);
/// assert!((4_000..=8_000).contains(&d));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay cap of attempt 0, in milliseconds.
    pub initial: Duration,
    /// The largest delay, in milliseconds.
    pub max: Duration,
    /// Growth per attempt (2 doubles the cap each time).
    pub multiplier: u32,
}

impl Backoff {
    /// Doubling backoff from `initial` up to `max` milliseconds.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            multiplier: 2,
        }
    }

    /// The delay cap of `attempt` (0-based): `initial * multiplier^attempt`,
    /// at most `max`. Never overflows.
    pub fn cap(&self, attempt: u32) -> Duration {
        let multiplier = u64::from(self.multiplier);
        let mut cap = self.initial.min(self.max);
        if multiplier <= 1 || cap == 0 {
            return cap;
        }
        // At least doubling from 1: `max` is reached within 64 steps.
        for _ in 0..attempt {
            if cap >= self.max {
                break;
            }
            cap = cap.saturating_mul(multiplier).min(self.max);
        }
        cap
    }

    /// The delay before `attempt` (0-based), with `random` spreading the
    /// upper half: a value in `cap/2 ..= cap`.
    pub fn delay(&self, attempt: u32, random: u32) -> Duration {
        let cap = self.cap(attempt);
        let half = cap / 2;
        let spread = cap - half;
        half + u64::from(random) % (spread + 1)
    }
}

impl Default for Backoff {
    /// One second, doubling, at most one minute.
    fn default() -> Self {
        Backoff::new(1_000, 60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn caps_double_until_the_maximum() {
        let b = Backoff::new(500, 10_000);
        let caps: alloc::vec::Vec<_> = (0..8).map(|n| b.cap(n)).collect();
        assert_eq!(
            caps,
            [500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]
        );
    }

    #[test]
    fn jitter_spans_the_upper_half() {
        let b = Backoff::new(1_000, 60_000);
        assert_eq!(b.delay(0, 0), 500);
        assert_eq!(b.delay(0, 500), 1_000);
        assert_eq!(b.delay(0, 501), 500);
    }

    #[test]
    fn degenerate_settings_do_not_panic_or_overflow() {
        assert_eq!(Backoff::new(0, 0).delay(u32::MAX, u32::MAX), 0);
        let huge = Backoff {
            initial: u64::MAX,
            max: u64::MAX,
            multiplier: u32::MAX,
        };
        assert_eq!(huge.cap(u32::MAX), u64::MAX);
        let _ = huge.delay(u32::MAX, u32::MAX);
        // A multiplier of 0 or 1 keeps the cap at `initial`.
        assert_eq!(
            Backoff {
                initial: 7,
                max: 100,
                multiplier: 0
            }
            .cap(5),
            7
        );
        // Large attempt numbers cost nothing whatever the multiplier.
        let flat = Backoff {
            initial: 1,
            max: 10,
            multiplier: 1,
        };
        assert_eq!(flat.cap(u32::MAX), 1);
        let wide = Backoff {
            initial: 1,
            max: u64::MAX,
            multiplier: 2,
        };
        assert_eq!(wide.cap(u32::MAX), u64::MAX);
        // `initial` above `max` is capped.
        assert_eq!(Backoff::new(5_000, 1_000).cap(0), 1_000);
    }

    proptest! {
        #[test]
        fn delay_is_within_half_cap_and_cap_and_caps_never_shrink(
            initial in 0u64..100_000, max in 0u64..10_000_000, multiplier in 0u32..10,
            attempt in 0u32..200, random in any::<u32>(),
        ) {
            let b = Backoff { initial, max, multiplier };
            let cap = b.cap(attempt);
            prop_assert!(cap <= max);
            prop_assert!(b.cap(attempt + 1) >= cap);
            let d = b.delay(attempt, random);
            prop_assert!(d >= cap / 2 && d <= cap, "{d} outside {}..={cap}", cap / 2);
        }
    }
}
