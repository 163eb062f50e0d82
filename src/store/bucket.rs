//! Sticky bucketing (normative, SPEC §6): which keys a canary weight puts on the canary.
//!
//! ```text
//! h      = SHA-256( utf8(name) || 0x00 || utf8(key) )
//! bucket = big-endian u32 of h[0..4]  mod 10000          # 0 ..= 9999
//! canary iff bucket < round(canary_weight * 100)
//! ```
//!
//! The salt is the prompt's name, not the version, so raising a weight keeps every key that
//! was on the canary there, and two prompts bucket independently.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Number of buckets: a weight has two decimals of a percent.
pub const BUCKETS: u32 = 10_000;

/// Returns the bucket (0..=9999) of a key for a prompt.
pub fn bucket(name: &str, key: &str) -> u16 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0u8]);
    hasher.update(key.as_bytes());
    let hash = hasher.finalize();
    let head = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]);
    (head % BUCKETS) as u16
}

/// The longest key (a user or request id) bucketing takes, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// The one rule for a key, on every route (`resolve`, OFREP): 1 to [`MAX_KEY_BYTES`] bytes.
/// An empty key would put every caller that has none in one bucket.
pub fn check_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong);
    }
    Ok(())
}

/// Why a key is not one bucketing takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a key is not empty (omit it to draw a random one)")]
    Empty,
    #[error("a key is at most {MAX_KEY_BYTES} bytes")]
    TooLong,
}

/// A key for a request that has none: unpredictable, so that such requests spread over the
/// buckets in proportion to the weight. Not for cryptography.
pub fn random_key() -> String {
    crate::base::random::hex16()
}

/// A canary weight in hundredths of a percent, 1 ..= 9999 (0.01% to 99.99%).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(u16);

impl Weight {
    /// Builds a weight from hundredths of a percent, refusing 0 and 100% and above.
    pub fn from_hundredths(hundredths: u32) -> Result<Self, WeightError> {
        match hundredths {
            0 => Err(WeightError::Zero),
            h if h >= BUCKETS => Err(WeightError::Full),
            h => Ok(Weight(h as u16)),
        }
    }

    /// Returns the weight in hundredths of a percent.
    pub fn hundredths(self) -> u16 {
        self.0
    }

    /// Returns the weight in percent, as stored in `state.toml`.
    pub fn percent(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// Reads a percentage as stored in `state.toml`: strictly between 0 and 100, two decimals
    /// at most.
    pub fn from_percent(percent: f64) -> Result<Self, WeightError> {
        if !percent.is_finite() {
            return Err(WeightError::Invalid {
                text: percent.to_string(),
            });
        }
        let hundredths = (percent * 100.0).round();
        if (hundredths - percent * 100.0).abs() > 1e-6 {
            return Err(WeightError::TooPrecise {
                text: percent.to_string(),
            });
        }
        if hundredths < 0.0 {
            return Err(WeightError::Zero);
        }
        Weight::from_hundredths(hundredths.min(f64::from(BUCKETS)) as u32)
    }

    /// Tells whether a bucket is on the canary at this weight.
    pub fn covers(self, bucket: u16) -> bool {
        bucket < self.0
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, part) = (self.0 / 100, self.0 % 100);
        match part {
            0 => write!(f, "{whole}%"),
            p if p % 10 == 0 => write!(f, "{whole}.{}%", p / 10),
            p => write!(f, "{whole}.{p:02}%"),
        }
    }
}

impl Serialize for Weight {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.percent())
    }
}

/// Why a text is not a canary weight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightError {
    #[error("`{text}` is not a percentage")]
    Invalid { text: String },
    #[error("`{text}` has more than two decimals; weights go in steps of 0.01%")]
    TooPrecise { text: String },
    #[error("a canary weight must be above 0%")]
    Zero,
    #[error("a canary weight must be below 100%")]
    Full,
}

impl FromStr for Weight {
    type Err = WeightError;

    /// Reads `10%`, `0.5%`, `10` or `12.25`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let number = trimmed.strip_suffix('%').unwrap_or(trimmed).trim();
        let invalid = || WeightError::Invalid {
            text: text.to_owned(),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || number.ends_with('.')
        {
            return Err(invalid());
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > 2 {
            return Err(WeightError::TooPrecise {
                text: text.to_owned(),
            });
        }
        let whole: u32 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| WeightError::Full)?
        };
        let fraction: u32 = format!("{fraction:0<2}").parse().map_err(|_| invalid())?;
        Weight::from_hundredths(whole.saturating_mul(100).saturating_add(fraction))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_follows_the_spec_formula() {
        // Computed independently: sha256(b"support/triage\x00user-42")[0..4], big-endian, mod 10000.
        let hash = Sha256::digest(b"support/triage\x00user-42");
        let expected = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) % 10_000;
        assert_eq!(u32::from(bucket("support/triage", "user-42")), expected);
        assert!(bucket("a", "") < 10_000);
    }

    /// The published test vectors (docs/bucketing-vectors.csv, computed with Python's
    /// hashlib from the formula alone) pin this implementation.
    #[test]
    fn the_published_test_vectors_hold() {
        let vectors = include_str!("../../docs/bucketing-vectors.csv");
        let mut rows = 0;
        for line in vectors.lines().skip(1) {
            let mut fields = line.split(',');
            let (Some(name), Some(key), Some(expected)) =
                (fields.next(), fields.next(), fields.next())
            else {
                panic!("bad row {line:?}");
            };
            assert_eq!(bucket(name, key).to_string(), expected, "{line}");
            rows += 1;
        }
        assert_eq!(rows, 100);
    }

    #[test]
    fn weights_parse_with_and_without_percent_sign() {
        let hundredths = |t: &str| t.parse::<Weight>().map(Weight::hundredths);
        assert_eq!(hundredths("10%"), Ok(1000));
        assert_eq!(hundredths("10"), Ok(1000));
        assert_eq!(hundredths("0.5%"), Ok(50));
        assert_eq!(hundredths(".25"), Ok(25));
        assert_eq!(hundredths("12.50%"), Ok(1250));
        assert_eq!(hundredths("99.99%"), Ok(9999));
        assert_eq!(hundredths("0.01"), Ok(1));
        assert_eq!(hundredths("0%"), Err(WeightError::Zero));
        assert_eq!(hundredths("100%"), Err(WeightError::Full));
        assert_eq!(hundredths("250"), Err(WeightError::Full));
        assert!(matches!(
            hundredths("0.125"),
            Err(WeightError::TooPrecise { .. })
        ));
        for bad in ["", "%", "ten", "-5", "5.", "1e2", "5%%"] {
            assert!(
                matches!(hundredths(bad), Err(WeightError::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn weights_show_as_short_percentages_and_read_back_from_state() {
        for (hundredths, shown) in [(1000, "10%"), (50, "0.5%"), (1, "0.01%"), (1225, "12.25%")] {
            let weight = Weight::from_hundredths(hundredths).unwrap();
            assert_eq!(weight.to_string(), shown);
            assert_eq!(Weight::from_percent(weight.percent()), Ok(weight));
        }
        assert!(matches!(
            Weight::from_percent(10.001),
            Err(WeightError::TooPrecise { .. })
        ));
        assert_eq!(Weight::from_percent(100.0), Err(WeightError::Full));
        assert_eq!(Weight::from_percent(0.0), Err(WeightError::Zero));
    }

    #[test]
    fn raising_a_weight_keeps_every_canary_bucket() {
        let low = Weight::from_hundredths(500).unwrap();
        let high = Weight::from_hundredths(2500).unwrap();
        for b in 0..10_000u16 {
            assert!(!low.covers(b) || high.covers(b));
        }
    }
}
