//! Randomness: the one source of unpredictable numbers in promptctl (keys for requests
//! that have none, retry jitter, one-off tokens). Not for cryptography: a thread-local
//! generator seeded from the process's random state and the clock (`fastrand`).

/// An unpredictable 64-bit number.
pub fn u64() -> u64 {
    fastrand::u64(..)
}

/// An unpredictable number in [0, 1).
pub fn unit() -> f64 {
    fastrand::f64()
}

/// Sixteen unpredictable hex digits.
pub fn hex16() -> String {
    format!("{:016x}", u64())
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_differ_and_stay_in_range() {
        assert_ne!(super::hex16(), super::hex16());
        assert_eq!(super::hex16().len(), 16);
        assert!((0.0..1.0).contains(&super::unit()));
    }
}
