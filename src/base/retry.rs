//! Retrying: how long to wait before the next attempt. The one rule for every retry loop in
//! promptctl (a provider request that failed for a passing reason, a release commit that
//! lost a compare-and-swap race, a push that another writer beat): exponential growth from a
//! first wait, a ceiling, and jitter so that racing clients spread out.

use std::time::Duration;

/// An exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry, before jitter.
    pub first: Duration,
    /// The longest wait, before jitter.
    pub max: Duration,
}

impl Backoff {
    /// A backoff from `first`, doubling per attempt up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Backoff { first, max }
    }

    /// The wait before retry `attempt` (0-based): `first · 2^attempt`, at most `max`, of
    /// which a random half is taken off ("equal jitter": never less than half the ceiling,
    /// so a retry never comes at once, and racing clients still spread out).
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .first
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max);
        ceiling.mul_f64(0.5 + 0.5 * crate::base::random::unit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_from_the_first_to_the_ceiling_and_never_drop_below_half() {
        let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(20));
        for _ in 0..100 {
            let first = backoff.delay(0);
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(&first));
            let fifth = backoff.delay(4);
            assert!((Duration::from_millis(1600)..=Duration::from_millis(3200)).contains(&fifth));
            let late = backoff.delay(40);
            assert!((Duration::from_secs(10)..=Duration::from_secs(20)).contains(&late));
        }
    }
}
