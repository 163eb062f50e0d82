//! The verdict on an experiment from its arms' figures: each arm's mean with an always-valid
//! interval, every pair compared by an always-valid p-value, Holm over the pairs, and a
//! winner only when one arm is better than every other at the family-wise level.

use serde::Serialize;

use super::figures::{ArmFigures, ExperimentFigures};
use super::sequential::{margin, p_value};
use crate::base::clock::UnixTime;
use crate::store::{Experiment, Goal, Metric};

/// Each arm needs this many values before any verdict: below it the normal approximation
/// the test rests on is not trusted, so the experiment runs on.
pub const MIN_PER_ARM: u64 = 30;

/// Beyond this many more reports, the evidence is "far from enough".
const FAR: u64 = 100_000_000;

/// One arm's figures and its mean's always-valid interval.
#[derive(Debug, Clone, Serialize)]
pub struct ArmResult {
    pub name: String,
    pub version: crate::prompt::Version,
    /// Its share of the callers, in percent.
    pub share: f64,
    pub figures: ArmFigures,
    /// How many reports the metric's mean is over.
    pub n: u64,
    /// The metric's mean; `None` before the arm has a value.
    pub mean: Option<f64>,
    /// Half the width of the mean's always-valid interval (at α over the arms); `None`
    /// before the arm has two values.
    pub margin: Option<f64>,
}

/// One pair of arms compared: `a` minus `b`, raw and Holm-adjusted always-valid p-values.
#[derive(Debug, Clone, Serialize)]
pub struct PairResult {
    pub a: String,
    pub b: String,
    pub difference: f64,
    pub p: f64,
    pub adjusted: f64,
}

/// What the figures say.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    /// One arm is better than every other at the family-wise level.
    Winner { arm: String },
    /// Not yet: why, and about how many more reports over all arms settle the leader
    /// against the runner-up if the figures hold (`None`: far from enough, or no leader).
    Running { why: String, more: Option<u64> },
    /// The maximum duration or sample was reached with no winner.
    Inconclusive { why: String },
}

/// The analysis of one experiment at one look.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub experiment: String,
    pub metric: String,
    pub goal: Goal,
    pub alpha: f64,
    pub arms: Vec<ArmResult>,
    pub pairs: Vec<PairResult>,
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl Analysis {
    /// The figures and the verdict in one line, for a release commit's reason and logs:
    /// `formal 0.741 ± 0.012 (n 5000), casual 0.812 ± 0.011 (n 5000): casual is better
    /// than every other arm (largest adjusted p 0.0031)`.
    pub fn summary(&self) -> String {
        let arms: Vec<String> = self
            .arms
            .iter()
            .map(|arm| {
                let mean = arm.mean.map_or("—".to_owned(), |m| format!("{m:.4}"));
                let margin = arm.margin.map_or(String::new(), |m| format!(" ± {m:.4}"));
                format!("{} {mean}{margin} (n {})", arm.name, arm.n)
            })
            .collect();
        format!(
            "{} {}: {}",
            self.metric,
            arms.join(", "),
            self.verdict_words()
        )
    }

    /// The command that makes the winner active, when there is one and no controller will
    /// (the experiment was not started with `--auto-conclude`).
    pub fn conclude_command(&self, auto_conclude: bool) -> Option<String> {
        match &self.verdict {
            Verdict::Winner { arm } if !auto_conclude => Some(format!(
                "promptctl experiment conclude {} (arm {arm})",
                self.experiment
            )),
            _ => None,
        }
    }

    /// The verdict in words.
    pub fn verdict_words(&self) -> String {
        match &self.verdict {
            Verdict::Winner { arm } => {
                let largest = self
                    .pairs
                    .iter()
                    .filter(|p| &p.a == arm || &p.b == arm)
                    .map(|p| p.adjusted)
                    .fold(0.0, f64::max);
                format!(
                    "{arm} is better than every other arm (largest adjusted p {})",
                    crate::eval::stats::format_p(largest)
                )
            }
            Verdict::Running {
                why,
                more: Some(more),
            } => {
                format!("running: {why}; about {more} more reports settle it if the figures hold")
            }
            Verdict::Running { why, more: None } => format!("running: {why}"),
            Verdict::Inconclusive { why } => format!("inconclusive: {why}"),
        }
    }
}

/// Judges `experiment` on `figures` at time `now`.
pub fn analyze(experiment: &Experiment, figures: &ExperimentFigures, now: UnixTime) -> Analysis {
    let arms = arm_results(experiment, figures);
    let pairs = compare_pairs(experiment, &arms);
    let verdict = decide(experiment, &arms, &pairs, now);
    Analysis {
        experiment: experiment.name.clone(),
        metric: experiment.metric.to_string(),
        goal: experiment.metric.goal(),
        alpha: experiment.alpha,
        arms,
        pairs,
        verdict,
    }
}

/// A mean and the variance of one value, for the experiment's metric.
struct Moments {
    n: u64,
    mean: f64,
    variance: f64,
}

fn moments(metric: &Metric, figures: &ArmFigures, effect: f64) -> Option<Moments> {
    // A floor on the variance, so that identical values (a score that is always 1) do not
    // make any difference infinitely certain.
    let floor = (effect * 0.01).powi(2);
    match metric {
        Metric::ErrorRate => {
            let n = figures.reports;
            (n > 0).then(|| {
                // Half an error and half a success added, so no side is taken as certain.
                let smoothed = (figures.errors as f64 + 0.5) / (n as f64 + 1.0);
                Moments {
                    n,
                    mean: figures.errors as f64 / n as f64,
                    variance: (smoothed * (1.0 - smoothed)).max(floor),
                }
            })
        }
        Metric::Score | Metric::Custom { .. } => {
            let n = figures.values;
            (n > 1).then(|| {
                let mean = figures.sum / n as f64;
                let spread = (figures.squares - n as f64 * mean * mean) / (n - 1) as f64;
                Moments {
                    n,
                    mean,
                    variance: spread.max(floor),
                }
            })
        }
    }
}

fn arm_results(experiment: &Experiment, figures: &ExperimentFigures) -> Vec<ArmResult> {
    let level = experiment.alpha / experiment.arms.len() as f64;
    experiment
        .arms
        .iter()
        .zip(experiment.split.percents())
        .map(|(arm, share)| {
            let own = figures.arms.get(&arm.name).copied().unwrap_or_default();
            let m = moments(&experiment.metric, &own, experiment.effect);
            let n = match experiment.metric {
                Metric::ErrorRate => own.reports,
                _ => own.values,
            };
            let mean = match (&m, &experiment.metric) {
                (Some(m), _) => Some(m.mean),
                (None, Metric::ErrorRate) => None,
                (None, _) => (own.values > 0).then(|| own.sum / own.values as f64),
            };
            ArmResult {
                name: arm.name.clone(),
                version: arm.version,
                share,
                figures: own,
                n,
                mean,
                margin: m.map(|m| margin(m.variance / m.n as f64, experiment.effect, level)),
            }
        })
        .collect()
}

/// Every pair, in the arms' order, with Holm's adjustment over all of them.
fn compare_pairs(experiment: &Experiment, arms: &[ArmResult]) -> Vec<PairResult> {
    let moments: Vec<Option<Moments>> = arms
        .iter()
        .map(|arm| moments(&experiment.metric, &arm.figures, experiment.effect))
        .collect();
    let mut pairs = Vec::new();
    let mut raw = Vec::new();
    for a in 0..arms.len() {
        for b in a + 1..arms.len() {
            let (difference, p) = match (&moments[a], &moments[b]) {
                (Some(x), Some(y)) if x.n >= MIN_PER_ARM && y.n >= MIN_PER_ARM => {
                    let d = x.mean - y.mean;
                    let v = x.variance / x.n as f64 + y.variance / y.n as f64;
                    (d, p_value(d, v, experiment.effect))
                }
                (Some(x), Some(y)) => (x.mean - y.mean, 1.0),
                _ => (f64::NAN, 1.0),
            };
            raw.push(p);
            pairs.push(PairResult {
                a: arms[a].name.clone(),
                b: arms[b].name.clone(),
                difference,
                p,
                adjusted: 1.0,
            });
        }
    }
    for (pair, adjusted) in pairs.iter_mut().zip(crate::eval::stats::holm(&raw)) {
        pair.adjusted = adjusted;
    }
    pairs
}

/// Tells whether arm `i` is better than arm `j` at the family-wise level.
fn beats(
    pairs: &[PairResult],
    arms: &[ArmResult],
    i: usize,
    j: usize,
    goal: Goal,
    alpha: f64,
) -> bool {
    let (a, b) = (&arms[i].name, &arms[j].name);
    pairs.iter().any(|pair| {
        let sign = if &pair.a == a && &pair.b == b {
            1.0
        } else if &pair.a == b && &pair.b == a {
            -1.0
        } else {
            return false;
        };
        let better = match goal {
            Goal::Higher => sign * pair.difference > 0.0,
            Goal::Lower => sign * pair.difference < 0.0,
        };
        better && pair.adjusted <= alpha
    })
}

fn decide(
    experiment: &Experiment,
    arms: &[ArmResult],
    pairs: &[PairResult],
    now: UnixTime,
) -> Verdict {
    let goal = experiment.metric.goal();
    for i in 0..arms.len() {
        if (0..arms.len()).all(|j| j == i || beats(pairs, arms, i, j, goal, experiment.alpha)) {
            return Verdict::Winner {
                arm: arms[i].name.clone(),
            };
        }
    }
    if now >= experiment.deadline() {
        return Verdict::Inconclusive {
            why: format!(
                "no arm won in the maximum duration of {}",
                crate::base::duration::human(experiment.max_duration)
            ),
        };
    }
    let total: u64 = arms.iter().map(|a| a.figures.reports).sum();
    if let Some(max) = experiment.max_samples
        && total >= max
    {
        return Verdict::Inconclusive {
            why: format!("no arm won in the maximum of {max} reports ({total} received)"),
        };
    }
    let short: Vec<&str> = arms
        .iter()
        .filter(|a| a.n < MIN_PER_ARM)
        .map(|a| a.name.as_str())
        .collect();
    if !short.is_empty() {
        return Verdict::Running {
            why: format!(
                "every arm needs {MIN_PER_ARM} reports with a {} before any verdict; {} {} fewer",
                if experiment.metric == Metric::ErrorRate {
                    "outcome"
                } else {
                    "value"
                },
                short.join(", "),
                if short.len() == 1 { "has" } else { "have" }
            ),
            more: None,
        };
    }
    let more = more_needed(experiment, arms);
    Verdict::Running {
        why: "no arm is better than every other yet".into(),
        more,
    }
}

/// About how many more reports over all arms, split as now, settle the leader against the
/// runner-up at the family-wise level (Bonferroni over the pairs, which Holm never needs
/// more than), if the means and spreads hold.
fn more_needed(experiment: &Experiment, arms: &[ArmResult]) -> Option<u64> {
    let moments: Vec<Moments> = arms
        .iter()
        .map(|arm| moments(&experiment.metric, &arm.figures, experiment.effect))
        .collect::<Option<_>>()?;
    let better = |x: f64, y: f64| match experiment.metric.goal() {
        Goal::Higher => x > y,
        Goal::Lower => x < y,
    };
    let mut order: Vec<usize> = (0..arms.len()).collect();
    order.sort_by(|&i, &j| {
        if better(moments[i].mean, moments[j].mean) {
            std::cmp::Ordering::Less
        } else if better(moments[j].mean, moments[i].mean) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    let (x, y) = (&moments[order[0]], &moments[order[1]]);
    let pairs = (arms.len() * (arms.len() - 1) / 2) as f64;
    let d = x.mean - y.mean;
    let now = x.n + y.n;
    let settled = |total: u64| {
        let scale = total as f64 / now as f64;
        let v = x.variance / (x.n as f64 * scale) + y.variance / (y.n as f64 * scale);
        p_value(d, v, experiment.effect) * pairs <= experiment.alpha
    };
    if d == 0.0 || !settled(now + FAR) {
        return None;
    }
    let high = crate::base::bisect::smallest(now, now + FAR, settled);
    // The leader and runner-up get their shares of all reports.
    let share: f64 = [order[0], order[1]]
        .iter()
        .map(|&i| arms[i].share)
        .sum::<f64>()
        / 100.0;
    Some(((high - now) as f64 / share).ceil() as u64)
}

#[cfg(test)]
mod tests;
