//! The smallest count at which a question that only turns from false to true is true, by
//! bisection: how many reports settle a sequential test, for the canary gate and for
//! experiments alike.

/// The smallest `n` in `low + 1 ..= high` with `settled(n)`, when `settled(high)` holds and
/// `settled` never turns false again as `n` grows.
pub fn smallest(low: u64, high: u64, settled: impl Fn(u64) -> bool) -> u64 {
    let (mut low, mut high) = (low, high);
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if settled(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    high
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_where_it_turns() {
        assert_eq!(smallest(0, 1_000, |n| n >= 377), 377);
        assert_eq!(smallest(10, 11, |_| true), 11);
        assert_eq!(smallest(0, u64::MAX / 2, |n| n > 5), 6);
    }
}
