//! Money: amounts of US dollars, as files (`[prices]`, a `max_cost` assertion) and the
//! network (`cost_usd` of feedback) give them, checked by one rule: a finite number from 0 to
//! [`MAX_USD`]. The bound keeps sums of thousands of amounts finite, where `1e300` twice
//! was infinity and every figure computed from it was not a number.

/// The most one amount may be.
pub const MAX_USD: f64 = 1e9;

/// A number that is not an amount of US dollars.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("{} is not an amount of US dollars (a finite number from 0 to {MAX_USD:e})", shown(*value))]
pub struct NotDollars {
    pub value: f64,
}

/// A number as people read it: `1e300`, not three hundred digits.
fn shown(value: f64) -> String {
    if value.is_finite() && value.abs() >= 1e15 {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

/// Checks an amount of US dollars.
pub fn usd(value: f64) -> Result<f64, NotDollars> {
    if value.is_finite() && (0.0..=MAX_USD).contains(&value) {
        Ok(value)
    } else {
        Err(NotDollars { value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_finite_from_zero_to_the_bound() {
        assert_eq!(usd(0.0), Ok(0.0));
        assert_eq!(usd(0.25), Ok(0.25));
        for bad in [-0.01, f64::NAN, f64::INFINITY, 1e300, MAX_USD * 2.0] {
            assert!(usd(bad).is_err(), "{bad}");
        }
    }
}
