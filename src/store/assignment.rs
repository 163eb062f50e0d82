//! Sticky assignment of a key to an experiment's arm (normative, docs/bucketing.md,
//! "Experiment arms"): independent of the canary's buckets, so that a key's arm says
//! nothing about whether it is on a canary, and the same for one experiment wherever it is
//! resolved.
//!
//! ```text
//! h    = SHA-256( "experiment" || 0x00 || utf8(experiment) || 0x00 || utf8(key) )
//! unit = big-endian u32 of h[0..4]  mod 10000            # 0 ..= 9999
//! arm  = the first i with unit < split[0] + … + split[i] # split in hundredths of a percent
//! ```

use sha2::{Digest, Sha256};

use super::bucket::BUCKETS;

/// The most arms one experiment splits its keys between.
pub const MAX_EXPERIMENT_ARMS: usize = 8;

/// How an experiment's keys are split between its arms: each arm's share in hundredths of
/// a percent, every share above zero, summing to 100%.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split(Vec<u16>);

/// A split that cannot be used, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("split `{text}`: {why}")]
pub struct SplitError {
    pub text: String,
    pub why: String,
}

impl Split {
    /// An even split between `arms` arms, the remainder to the first ones (3 arms: 33.34%,
    /// 33.33%, 33.33%).
    pub fn even(arms: usize) -> Result<Split, SplitError> {
        check_arm_count(arms, &format!("{arms} arms"))?;
        let base = BUCKETS as usize / arms;
        let extra = BUCKETS as usize % arms;
        Ok(Split(
            (0..arms)
                .map(|i| (base + usize::from(i < extra)) as u16)
                .collect(),
        ))
    }

    /// Parses `50,50` or `33.34,33.33,33.33`: percentages of at most two decimals, each
    /// above zero, summing to exactly 100.
    pub fn parse(text: &str) -> Result<Split, SplitError> {
        let fail = |why: String| SplitError {
            text: text.to_owned(),
            why,
        };
        let mut shares = Vec::new();
        for part in text.split(',') {
            let part = part.trim().trim_end_matches('%');
            let hundredths = hundredths(part).ok_or_else(|| {
                fail(format!(
                    "`{part}` is not a percentage with at most two decimals"
                ))
            })?;
            if hundredths == 0 {
                return Err(fail("every arm needs a share above 0%".into()));
            }
            shares.push(hundredths);
        }
        check_arm_count(shares.len(), text)?;
        let total: u32 = shares.iter().map(|&s| u32::from(s)).sum();
        if total != BUCKETS {
            return Err(fail(format!(
                "the shares add up to {}%, not 100%",
                f64::from(total) / 100.0
            )));
        }
        Ok(Split(shares))
    }

    /// Each arm's share in hundredths of a percent.
    pub fn shares(&self) -> &[u16] {
        &self.0
    }

    /// The arm of `key` in `experiment`.
    pub fn arm(&self, experiment: &str, key: &str) -> usize {
        let unit = unit(experiment, key);
        let mut upper = 0u32;
        for (arm, &share) in self.0.iter().enumerate() {
            upper += u32::from(share);
            if u32::from(unit) < upper {
                return arm;
            }
        }
        self.0.len() - 1
    }
}

impl serde::Serialize for Split {
    /// Each arm's share in percent: `[50.0, 50.0]`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.percents())
    }
}

impl Split {
    /// Each arm's share in percent.
    pub fn percents(&self) -> impl Iterator<Item = f64> + '_ {
        self.0.iter().map(|&s| f64::from(s) / 100.0)
    }
}

/// The assignment unit (0..=9999) of a key in an experiment.
pub fn unit(experiment: &str, key: &str) -> u16 {
    let mut hasher = Sha256::new();
    hasher.update(b"experiment");
    hasher.update([0u8]);
    hasher.update(experiment.as_bytes());
    hasher.update([0u8]);
    hasher.update(key.as_bytes());
    let hash = hasher.finalize();
    let head = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]);
    (head % BUCKETS) as u16
}

fn check_arm_count(arms: usize, text: &str) -> Result<(), SplitError> {
    if (2..=MAX_EXPERIMENT_ARMS).contains(&arms) {
        Ok(())
    } else {
        Err(SplitError {
            text: text.to_owned(),
            why: format!("an experiment has 2 to {MAX_EXPERIMENT_ARMS} arms, not {arms}"),
        })
    }
}

/// `12.5` as 1250 hundredths; none for more than two decimals or past 100.
fn hundredths(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let fraction: u32 = format!("{fraction:0<2}").parse().ok()?;
    let value = whole.checked_mul(100)?.checked_add(fraction)?;
    (value <= BUCKETS).then_some(value as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_matches_the_reference_vectors() {
        let vectors = include_str!("../../docs/experiment-vectors.csv");
        let mut rows = 0;
        for line in vectors.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            let [experiment, key, unit_text, arm_of_two, arm_of_three] = fields[..] else {
                panic!("{line}");
            };
            assert_eq!(unit(experiment, key).to_string(), unit_text, "{line}");
            let halves = Split::parse("50,50").unwrap();
            assert_eq!(
                halves.arm(experiment, key).to_string(),
                arm_of_two,
                "{line}"
            );
            let thirds = Split::parse("20,30,50").unwrap();
            assert_eq!(
                thirds.arm(experiment, key).to_string(),
                arm_of_three,
                "{line}"
            );
            rows += 1;
        }
        assert!(rows >= 50, "{rows}");
    }

    #[test]
    fn arms_are_independent_of_the_canary_buckets_and_split_as_asked() {
        let split = Split::parse("20,30,50").unwrap();
        let mut counts = [0usize; 3];
        let mut agree = 0usize;
        for i in 0..20_000 {
            let key = format!("user-{i}");
            let arm = split.arm("tone", &key);
            counts[arm] += 1;
            // On a 50% canary of the same name: a key's arm tells nothing of its track.
            let canary = super::super::bucket::bucket("tone", &key) < 5000;
            agree += usize::from(canary == (arm == 2));
        }
        for (count, share) in counts.iter().zip([0.2, 0.3, 0.5]) {
            let seen = *count as f64 / 20_000.0;
            assert!((seen - share).abs() < 0.015, "{counts:?}");
        }
        let agreement = agree as f64 / 20_000.0;
        assert!((agreement - 0.5).abs() < 0.02, "{agreement}");
    }

    #[test]
    fn splits_are_checked() {
        assert_eq!(Split::even(3).unwrap().shares(), [3334, 3333, 3333]);
        assert_eq!(
            Split::parse("33.34, 33.33%, 33.33").unwrap().shares(),
            [3334, 3333, 3333]
        );
        for (text, says) in [
            ("50", "2 to 8 arms"),
            ("60,50", "add up to 110%"),
            ("50,0,50", "above 0%"),
            ("50.005,49.995", "two decimals"),
            ("x,50", "not a percentage"),
            ("10,10,10,10,10,10,10,10,20", "not 9"),
            ("", "not a percentage"),
        ] {
            let error = Split::parse(text).unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }
}
