//! The error-rate gate's statistics: an always-valid confidence sequence for the difference
//! between the canary's error rate and active's, so that a controller may look after every
//! report without raising its false-alarm rate.
//!
//! With `d̂ = p̂_canary − p̂_active` and its variance `V` (plug-in, normal approximation),
//! the normal-mixture boundary (Robbins 1970; the mixture SPRT of Johari, Pekelis and
//! Walsh, "Always valid inference", 2017/2022) gives, at every look at once,
//!
//! ```text
//! |d̂ − d| ≤ m(V) = sqrt( 2·V·(V + τ²)/τ² · ( ln(1/α) + ½·ln((V + τ²)/V) ) )
//! ```
//!
//! with probability at least `1 − α`, however many looks are taken. `τ` (the mixing
//! scale) is four times the gate's limit: the test is then sharp for effects from the
//! limit to several times it (`benches/rollout-sim.rs` compared 1, 2, 4 and 8). The gate
//! breaches when the whole interval is above the limit, passes when it is wholly at or
//! below it, and otherwise asks for more reports, saying about how many.

/// The chance of reverting a canary whose error rate is within the limit, over the whole
/// rollout: 1%.
pub const ALPHA: f64 = 0.01;

/// The mixing scale, as a multiple of the limit.
const TAU_PER_LIMIT: f64 = 4.0;

/// The smallest mixing scale, so that a limit of 0 points still gives a test.
const MIN_TAU: f64 = 0.02;

/// Beyond this many more canary reports, the evidence is "far from enough".
const FAR: u64 = 1_000_000;

/// Errors and reports of one side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counts {
    pub errors: u64,
    pub reports: u64,
}

impl Counts {
    fn rate(self) -> f64 {
        if self.reports == 0 {
            0.0
        } else {
            self.errors as f64 / self.reports as f64
        }
    }

    /// The variance of one report, with half an error and half a success added so that
    /// a side with no errors (or only errors) is not taken as certain.
    fn unit_variance(self) -> f64 {
        let p = (self.errors as f64 + 0.5) / (self.reports as f64 + 1.0);
        p * (1.0 - p)
    }
}

/// What the sequence says about the difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Finding {
    /// The canary's rate is above active's by more than the limit.
    Worse,
    /// The canary's rate is not above active's by more than the limit.
    WithinLimit,
    /// Not yet: about this many more canary reports, if the rates hold (`None`: more than
    /// a million).
    NeedMore(Option<u64>),
}

/// The interval at one look: the difference and its always-valid margin, in rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub difference: f64,
    pub margin: f64,
}

/// Compares the canary with active against `limit` (a rate, 0.05 for 5 points).
/// `active` is `None` when there are too few active reports to be a baseline: the canary
/// is then held to an error-free one (stricter, never laxer).
pub fn compare(canary: Counts, active: Option<Counts>, limit: f64) -> (Finding, Interval) {
    let tau = (limit * TAU_PER_LIMIT).max(MIN_TAU);
    let interval = interval(canary, active, 1.0, tau);
    let finding = if interval.difference - interval.margin > limit {
        Finding::Worse
    } else if interval.difference + interval.margin <= limit {
        Finding::WithinLimit
    } else {
        Finding::NeedMore(more_needed(canary, active, limit, tau))
    };
    (finding, interval)
}

/// The interval if both sides had `scale` times their reports at today's rates.
fn interval(canary: Counts, active: Option<Counts>, scale: f64, tau: f64) -> Interval {
    let base = active.map_or(0.0, Counts::rate);
    let variance = canary.unit_variance() / (canary.reports as f64 * scale).max(1.0)
        + active.map_or(0.0, |a| {
            a.unit_variance() / (a.reports as f64 * scale).max(1.0)
        });
    Interval {
        difference: canary.rate() - base,
        margin: margin(variance, tau),
    }
}

/// The normal-mixture margin for variance `v` and mixing scale `tau` at [`ALPHA`].
pub fn margin(v: f64, tau: f64) -> f64 {
    let t2 = tau * tau;
    (2.0 * v * (v + t2) / t2 * ((1.0 / ALPHA).ln() + 0.5 * ((v + t2) / v).ln())).sqrt()
}

/// About how many more canary reports settle the question if the rates hold and traffic
/// keeps its split: the smallest growth whose margin is below the distance to the limit.
fn more_needed(canary: Counts, active: Option<Counts>, limit: f64, tau: f64) -> Option<u64> {
    let now = canary.reports.max(1);
    let settled = |total: u64| {
        let i = interval(canary, active, total as f64 / now as f64, tau);
        (i.difference - limit).abs() > i.margin
    };
    if !settled(now + FAR) {
        return None;
    }
    Some(crate::base::bisect::smallest(now, now + FAR, settled) - canary.reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(errors: u64, reports: u64) -> Counts {
        Counts { errors, reports }
    }

    #[test]
    fn a_clear_breach_a_clear_pass_and_an_open_question() {
        let active = Some(counts(10, 1000));
        let (finding, _) = compare(counts(30, 100), active, 0.05);
        assert_eq!(finding, Finding::Worse);
        let (finding, _) = compare(counts(10, 1000), Some(counts(90, 9000)), 0.05);
        assert_eq!(finding, Finding::WithinLimit);
        let (finding, interval) = compare(counts(4, 100), active, 0.02);
        let Finding::NeedMore(Some(more)) = finding else {
            panic!("{finding:?}")
        };
        assert!((interval.difference - 0.03).abs() < 1e-9);
        // More reports at the same rates settle it.
        let scale = (100 + more) as f64 / 100.0;
        let later = counts((4.0 * scale).round() as u64, 100 + more);
        let active_later = counts((10.0 * scale).round() as u64, (1000.0 * scale) as u64);
        assert_ne!(
            compare(later, Some(active_later), 0.02).0,
            Finding::NeedMore(Some(0))
        );
    }

    #[test]
    fn the_margin_shrinks_with_evidence_and_grows_with_confidence() {
        assert!(margin(0.001, 0.05) > margin(0.0001, 0.05));
        let at_the_limit = compare(counts(6, 100), Some(counts(10, 1000)), 0.05).0;
        assert_eq!(at_the_limit, Finding::NeedMore(None));
    }

    #[test]
    fn without_an_active_baseline_the_canary_is_held_to_no_errors() {
        let (with, _) = compare(counts(8, 100), Some(counts(60, 1000)), 0.05);
        let (without, _) = compare(counts(8, 100), None, 0.05);
        assert_ne!(with, Finding::Worse);
        assert_ne!(without, Finding::WithinLimit);
    }
}
