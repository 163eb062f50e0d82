//! Simulated experiments under continuous monitoring: how often the analysis names a winner
//! when every arm is the same (the false-winner rate, to be at most α = 5%), and how many
//! reports per arm it takes to name the better arm when one arm's score is 2 or 5 points
//! above the others. Each experiment is looked at after every `LOOK_EVERY` reports per arm,
//! as a dashboard refreshing all day would, with `promptctl::experiment::analyze`: the code
//! `experiment status`, `/v1/experiments` and the controller use.
//!
//! Scores are 0 or 1 (a thumbs-up), 50% for the baseline arms; the smallest difference
//! worth finding (`effect`) is the default 2 points.
//!
//! Run: `cargo bench --bench experiment_sim` (add a number of experiments per case to
//! change the default of 1,000).

use promptctl::experiment::{ArmFigures, ExperimentFigures, Verdict, analyze};
use promptctl::prompt::Version;
use promptctl::store::{Arm, DEFAULT_ALPHA, DEFAULT_EFFECT, Experiment, Metric, Split};

const LOOK_EVERY: u64 = 50;
const BASE: f64 = 0.5;
/// Reports per arm after which a null experiment counts as never having named a winner.
const NULL_HORIZON: u64 = 20_000;
/// Reports per arm after which a power run counts as undecided.
const POWER_HORIZON: u64 = 60_000;

fn experiment(arms: usize) -> Experiment {
    Experiment {
        name: "sim".into(),
        arms: (0..arms)
            .map(|i| Arm {
                name: format!("arm{i}"),
                version: format!(
                    "sha256:{}",
                    format!("{:x}", i + 10).repeat(64)[..64].to_owned()
                )
                .parse::<Version>()
                .unwrap(),
            })
            .collect(),
        split: Split::even(arms).unwrap(),
        segment: None,
        metric: Metric::Score,
        effect: DEFAULT_EFFECT,
        alpha: DEFAULT_ALPHA,
        started: 0,
        max_duration: 365 * 86_400,
        max_samples: None,
        auto_conclude: false,
    }
}

enum End {
    /// The arm named and the reports per arm at the look that named it.
    Winner(usize, u64),
    Undecided,
}

/// Runs one experiment whose arms score `rates`, looking every `LOOK_EVERY` reports per arm.
fn run(e: &Experiment, rates: &[f64], horizon: u64, rng: &mut fastrand::Rng) -> End {
    let mut figures = ExperimentFigures {
        experiment: e.name.clone(),
        arms: e
            .arms
            .iter()
            .map(|a| (a.name.clone(), ArmFigures::default()))
            .collect(),
    };
    let mut per_arm = 0;
    while per_arm < horizon {
        for (arm, rate) in e.arms.iter().zip(rates) {
            let f = figures.arms.get_mut(&arm.name).unwrap();
            for _ in 0..LOOK_EVERY {
                f.add(false, Some(if rng.f64() < *rate { 1.0 } else { 0.0 }));
            }
        }
        per_arm += LOOK_EVERY;
        if let Verdict::Winner { arm } = analyze(e, &figures, 1).verdict {
            return End::Winner(e.arm_named(&arm).unwrap(), per_arm);
        }
    }
    End::Undecided
}

/// The reports per arm a single look at the end needs for 80% power against the best of
/// the other arms (a two-sided z-test at α over the `arms − 1` comparisons with it): the
/// fixed-sample design a sequential test is measured against.
fn fixed_sample(arms: usize, lift: f64) -> u64 {
    use promptctl::eval::stats::normal_quantile;
    let comparisons = (arms - 1) as f64;
    let z = normal_quantile(1.0 - DEFAULT_ALPHA / (2.0 * comparisons)) + normal_quantile(0.8);
    let (p, q) = (BASE, BASE + lift);
    ((p * (1.0 - p) + q * (1.0 - q)) * z * z / (lift * lift)).ceil() as u64
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
        "{runs} experiments per case; scores 0/1 at {}%; α {}%; look every {LOOK_EVERY} reports per arm",
        BASE * 100.0,
        DEFAULT_ALPHA * 100.0
    );
    println!(
        "{:<6} {:<22} {:>13} {:>14} {:>20} {:>10} {:>18}",
        "arms",
        "case",
        "false winner",
        "right winner",
        "median reports/arm",
        "undecided",
        "fixed-n (80% power)"
    );
    for arms in [2, 3, 5] {
        let e = experiment(arms);
        let mut cases = vec![(0.0, "all equal (to 20,000)")];
        if arms != 3 {
            cases.push((0.02, "one +2 points"));
            cases.push((0.05, "one +5 points"));
        }
        for (lift, label) in cases {
            let mut rng = fastrand::Rng::with_seed(11);
            let mut rates = vec![BASE; arms];
            // The better arm is the last, so a winner named by position is no accident.
            rates[arms - 1] += lift;
            let horizon = if lift == 0.0 {
                NULL_HORIZON
            } else {
                POWER_HORIZON
            };
            let (mut wrong, mut right, mut undecided) = (0usize, Vec::new(), 0usize);
            for _ in 0..runs {
                match run(&e, &rates, horizon, &mut rng) {
                    End::Winner(arm, n) if lift > 0.0 && arm == arms - 1 => right.push(n),
                    End::Winner(..) => wrong += 1,
                    End::Undecided => undecided += 1,
                }
            }
            let fixed = if lift > 0.0 {
                fixed_sample(arms, lift).to_string()
            } else {
                "-".into()
            };
            println!(
                "{:<6} {:<22} {:>12.1}% {:>13.1}% {:>20} {:>9.1}% {:>18}",
                arms,
                label,
                wrong as f64 * 100.0 / runs as f64,
                right.len() as f64 * 100.0 / runs as f64,
                median(right),
                undecided as f64 * 100.0 / runs as f64,
                fixed
            );
        }
    }
}
