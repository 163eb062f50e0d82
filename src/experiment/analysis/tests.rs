use super::*;
use crate::store::{Arm, Split};

fn experiment(arms: usize, metric: Metric) -> Experiment {
    let mut e = Experiment::sample_for_tests();
    e.segment = None;
    e.metric = metric;
    e.arms = (0..arms)
        .map(|i| Arm {
            name: format!("arm{i}"),
            version: format!(
                "sha256:{}",
                char::from(b'a' + i as u8).to_string().repeat(64)
            )
            .parse()
            .unwrap(),
        })
        .collect();
    e.split = Split::even(arms).unwrap();
    e
}

/// Figures of `n` reports whose values are 1 with chance `rate` (as a score), or errors
/// with that chance (for the error rate), exactly at the rate.
fn bernoulli(n: u64, rate: f64) -> ArmFigures {
    let ones = (n as f64 * rate).round() as u64;
    ArmFigures {
        reports: n,
        errors: ones,
        values: n,
        sum: ones as f64,
        squares: ones as f64,
    }
}

fn figures(e: &Experiment, arms: &[ArmFigures]) -> ExperimentFigures {
    ExperimentFigures {
        experiment: e.name.clone(),
        arms: e
            .arms
            .iter()
            .zip(arms)
            .map(|(a, f)| (a.name.clone(), *f))
            .collect(),
    }
}

const NOW: UnixTime = 1_795_425_600 + 86_400;

#[test]
fn a_clear_difference_names_the_winner_and_equal_arms_run_on() {
    let e = experiment(2, Metric::Score);
    let clear = analyze(
        &e,
        &figures(&e, &[bernoulli(5000, 0.70), bernoulli(5000, 0.80)]),
        NOW,
    );
    assert_eq!(clear.verdict, Verdict::Winner { arm: "arm1".into() });
    assert!(clear.pairs[0].adjusted <= e.alpha);
    let equal = analyze(
        &e,
        &figures(&e, &[bernoulli(5000, 0.75), bernoulli(5000, 0.75)]),
        NOW,
    );
    assert!(
        matches!(equal.verdict, Verdict::Running { more: None, .. }),
        "{:?}",
        equal.verdict
    );
}

#[test]
fn a_winner_beats_every_other_arm_not_only_some() {
    let e = experiment(3, Metric::Score);
    // arm2 beats arm0 clearly but not arm1: no winner yet.
    let close = figures(
        &e,
        &[
            bernoulli(3000, 0.60),
            bernoulli(3000, 0.79),
            bernoulli(3000, 0.80),
        ],
    );
    let analysis = analyze(&e, &close, NOW);
    let Verdict::Running {
        more: Some(more), ..
    } = analysis.verdict
    else {
        panic!("{:?}", analysis.verdict)
    };
    assert!(more > 1000, "{more}");
    assert_eq!(analysis.pairs.len(), 3);
    let clear = figures(
        &e,
        &[
            bernoulli(3000, 0.60),
            bernoulli(3000, 0.70),
            bernoulli(3000, 0.80),
        ],
    );
    assert_eq!(
        analyze(&e, &clear, NOW).verdict,
        Verdict::Winner { arm: "arm2".into() }
    );
}

#[test]
fn the_error_rate_is_better_lower() {
    let e = experiment(2, Metric::ErrorRate);
    let analysis = analyze(
        &e,
        &figures(&e, &[bernoulli(4000, 0.02), bernoulli(4000, 0.06)]),
        NOW,
    );
    assert_eq!(analysis.verdict, Verdict::Winner { arm: "arm0".into() });
    assert!((analysis.arms[1].mean.unwrap() - 0.06).abs() < 1e-9);
}

#[test]
fn too_few_reports_hold_and_limits_end_it_inconclusive() {
    let mut e = experiment(2, Metric::Score);
    let few = analyze(
        &e,
        &figures(&e, &[bernoulli(29, 0.0), bernoulli(29, 1.0)]),
        NOW,
    );
    let Verdict::Running { why, .. } = few.verdict else {
        panic!()
    };
    assert!(why.contains("needs 30 reports"), "{why}");
    let late = e.deadline();
    let equal = figures(&e, &[bernoulli(500, 0.5), bernoulli(500, 0.5)]);
    let Verdict::Inconclusive { why } = analyze(&e, &equal, late).verdict else {
        panic!()
    };
    assert!(why.contains("maximum duration of 30d"), "{why}");
    e.max_samples = Some(1000);
    let Verdict::Inconclusive { why } = analyze(&e, &equal, NOW).verdict else {
        panic!()
    };
    assert!(why.contains("maximum of 1000 reports"), "{why}");
    // A winner found at the limit is still the winner.
    let clear = figures(&e, &[bernoulli(500, 0.2), bernoulli(500, 0.8)]);
    assert_eq!(
        analyze(&e, &clear, late).verdict,
        Verdict::Winner { arm: "arm1".into() }
    );
}

#[test]
fn the_evidence_needed_is_what_settles_it() {
    let e = experiment(2, Metric::Score);
    let now = figures(&e, &[bernoulli(1000, 0.70), bernoulli(1000, 0.74)]);
    let Verdict::Running {
        more: Some(more), ..
    } = analyze(&e, &now, NOW).verdict
    else {
        panic!()
    };
    let each = 1000 + more / 2 + 1;
    let later = figures(&e, &[bernoulli(each, 0.70), bernoulli(each, 0.74)]);
    assert_eq!(
        analyze(&e, &later, NOW).verdict,
        Verdict::Winner { arm: "arm1".into() }
    );
    let short = 1000 + more / 2 - more / 10;
    let sooner = figures(&e, &[bernoulli(short, 0.70), bernoulli(short, 0.74)]);
    assert!(matches!(
        analyze(&e, &sooner, NOW).verdict,
        Verdict::Running { .. }
    ));
}
