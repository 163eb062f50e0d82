//! Simulated rollouts: how often the error-rate gate reverts a healthy canary, and how
//! many canary reports it needs to revert a bad one, for the sequential test the gate uses
//! (`promptctl::rollout::sequential`) and for the fixed rule it replaced ("after
//! `min_samples` canary reports, revert when the observed rates differ by more than the
//! limit"), on the same simulated traffic.
//!
//! Each rollout is one stage of up to `HORIZON` canary reports at 10% of traffic (nine
//! active reports per canary report), looked at after every `LOOK_EVERY` canary reports,
//! as a controller checking often would. Active's error rate is 1%; the limit is 1 point.
//!
//! Run: `cargo bench --bench rollout_sim` (add a number of rollouts per case to change the
//! default of 1,000).

use promptctl::rollout::sequential::{Counts, Finding, compare};

const HORIZON: u64 = 20_000;
const LOOK_EVERY: u64 = 10;
const ACTIVE_PER_CANARY: u64 = 9;
const ACTIVE_RATE: f64 = 0.01;
const LIMIT: f64 = 0.01;
const MIN_SAMPLES: u64 = 100;

#[derive(Clone, Copy)]
enum Rule {
    Sequential,
    Fixed,
}

enum End {
    Reverted(u64),
    Passed(u64),
    Undecided,
}

fn look(rule: Rule, canary: Counts, active: Counts) -> Option<bool> {
    if canary.reports < MIN_SAMPLES {
        return None;
    }
    let baseline = (active.reports >= MIN_SAMPLES).then_some(active);
    match rule {
        Rule::Sequential => match compare(canary, baseline, LIMIT).0 {
            Finding::Worse => Some(true),
            Finding::WithinLimit => Some(false),
            Finding::NeedMore(_) => None,
        },
        Rule::Fixed => {
            let rate = |c: Counts| c.errors as f64 / c.reports as f64;
            let base = baseline.map_or(0.0, rate);
            // Today's rule never "passes" early: a breach at any look reverts.
            (rate(canary) - base > LIMIT).then_some(true)
        }
    }
}

fn rollout(rule: Rule, canary_rate: f64, rng: &mut fastrand::Rng) -> End {
    let mut canary = Counts {
        errors: 0,
        reports: 0,
    };
    let mut active = canary;
    while canary.reports < HORIZON {
        canary.reports += 1;
        canary.errors += u64::from(rng.f64() < canary_rate);
        for _ in 0..ACTIVE_PER_CANARY {
            active.reports += 1;
            active.errors += u64::from(rng.f64() < ACTIVE_RATE);
        }
        if canary.reports.is_multiple_of(LOOK_EVERY) {
            match look(rule, canary, active) {
                Some(true) => return End::Reverted(canary.reports),
                Some(false) => return End::Passed(canary.reports),
                None => {}
            }
        }
    }
    match rule {
        // The fixed rule passes a stage that never breached.
        Rule::Fixed => End::Passed(HORIZON),
        Rule::Sequential => End::Undecided,
    }
}

fn median(mut values: Vec<u64>) -> String {
    if values.is_empty() {
        return "-".into();
    }
    values.sort_unstable();
    values[values.len() / 2].to_string()
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000);
    println!(
        "{runs} rollouts per case; active 1.0% errors; limit +1 point; look every {LOOK_EVERY} canary reports; at most {HORIZON}"
    );
    println!(
        "{:<11} {:<10} {:>9} {:>16} {:>9} {:>15}",
        "rule", "canary", "reverted", "median to revert", "passed", "median to pass"
    );
    for (rule, label) in [(Rule::Fixed, "fixed"), (Rule::Sequential, "sequential")] {
        for (canary_rate, case) in [(0.01, "healthy"), (0.03, "+2 points"), (0.11, "+10 points")] {
            // The same seed for both rules: the same traffic.
            let mut rng = fastrand::Rng::with_seed(7);
            let (mut reverted, mut passed) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                match rollout(rule, canary_rate, &mut rng) {
                    End::Reverted(n) => reverted.push(n),
                    End::Passed(n) => passed.push(n),
                    End::Undecided => {}
                }
            }
            println!(
                "{:<11} {:<10} {:>8.1}% {:>16} {:>8.1}% {:>15}",
                label,
                case,
                reverted.len() as f64 * 100.0 / runs as f64,
                median(reverted),
                passed.len() as f64 * 100.0 / runs as f64,
                median(passed)
            );
        }
    }
}
