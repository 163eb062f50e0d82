//! The feedback of experiments' arms as this server received it: counted per (prompt,
//! experiment, arm), written as `promptctl_experiment_*` counters for Prometheus, and read
//! back as figures for `GET /v1/experiments`, the dashboard and `experiment status --from`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::experiment::{ArmFigures, ExperimentFigures};

/// (prompt, experiment, arm).
type ArmLabels = (String, String, String);

/// One arm's counts. The metric's sum is two counters, its positive and its negative part,
/// so that Prometheus's `increase()` never takes a negative value for a restart.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    successes: u64,
    errors: u64,
    values: u64,
    positive: f64,
    negative: f64,
    squares: f64,
}

/// Every arm's counts, kept for the server's life as Prometheus counters are.
#[derive(Default)]
pub struct ExperimentTallies {
    arms: Mutex<BTreeMap<ArmLabels, Tally>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ExperimentTallies {
    /// Counts one report of an arm: an error or not, and the metric's value if it had one.
    pub fn record(
        &self,
        prompt: &str,
        experiment: &str,
        arm: &str,
        error: bool,
        value: Option<f64>,
    ) {
        let mut arms = lock(&self.arms);
        let tally = arms
            .entry((prompt.to_owned(), experiment.to_owned(), arm.to_owned()))
            .or_default();
        if error {
            tally.errors += 1;
        } else {
            tally.successes += 1;
        }
        if let Some(value) = value {
            tally.values += 1;
            if value >= 0.0 {
                tally.positive += value;
            } else {
                tally.negative -= value;
            }
            tally.squares += value * value;
        }
    }

    /// Adds zero series for every arm of the experiments running, so that Prometheus sees
    /// each counter from 0 and `increase()` counts the first report.
    pub fn start_series(&self, running: &[(String, String, Vec<String>)]) {
        let mut arms = lock(&self.arms);
        for (prompt, experiment, names) in running {
            for arm in names {
                arms.entry((prompt.clone(), experiment.clone(), arm.clone()))
                    .or_default();
            }
        }
    }

    /// The figures this server received for one experiment of a prompt.
    pub fn figures(&self, prompt: &str, experiment: &str) -> ExperimentFigures {
        let arms = lock(&self.arms);
        let mut figures = ExperimentFigures {
            experiment: experiment.to_owned(),
            arms: BTreeMap::new(),
        };
        for ((p, e, arm), tally) in arms.iter() {
            if p == prompt && e == experiment {
                figures.arms.insert(
                    arm.clone(),
                    ArmFigures {
                        reports: tally.successes + tally.errors,
                        errors: tally.errors,
                        values: tally.values,
                        sum: tally.positive - tally.negative,
                        squares: tally.squares,
                    },
                );
            }
        }
        figures
    }

    /// Writes the counters in the Prometheus text format.
    pub fn write(&self, out: &mut String) {
        let arms = lock(&self.arms);
        let labels = |(prompt, experiment, arm): &ArmLabels| {
            format!("prompt=\"{prompt}\",experiment=\"{experiment}\",arm=\"{arm}\"")
        };
        out.push_str("# HELP promptctl_experiment_reports_total Feedback reports of experiments' arms, by prompt, experiment, arm and outcome.\n# TYPE promptctl_experiment_reports_total counter\n");
        for (key, tally) in arms.iter() {
            for (outcome, n) in [("success", tally.successes), ("error", tally.errors)] {
                let _ = writeln!(
                    out,
                    "promptctl_experiment_reports_total{{{},outcome=\"{outcome}\"}} {n}",
                    labels(key)
                );
            }
        }
        out.push_str("# HELP promptctl_experiment_values_total Feedback reports that carried the experiment's metric (score, or metrics.NAME), by prompt, experiment and arm.\n# TYPE promptctl_experiment_values_total counter\n");
        for (key, tally) in arms.iter() {
            let _ = writeln!(
                out,
                "promptctl_experiment_values_total{{{}}} {}",
                labels(key),
                tally.values
            );
        }
        out.push_str("# HELP promptctl_experiment_value_sum_total The sum of the metric's values, its positive and its negative part (as magnitudes) apart, by prompt, experiment, arm and sign.\n# TYPE promptctl_experiment_value_sum_total counter\n");
        for (key, tally) in arms.iter() {
            for (sign, sum) in [("positive", tally.positive), ("negative", tally.negative)] {
                let _ = writeln!(
                    out,
                    "promptctl_experiment_value_sum_total{{{},sign=\"{sign}\"}} {sum}",
                    labels(key)
                );
            }
        }
        out.push_str("# HELP promptctl_experiment_value_squares_total The sum of the squares of the metric's values (for its variance), by prompt, experiment and arm.\n# TYPE promptctl_experiment_value_squares_total counter\n");
        for (key, tally) in arms.iter() {
            let _ = writeln!(
                out,
                "promptctl_experiment_value_squares_total{{{}}} {}",
                labels(key),
                tally.squares
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_back_as_figures_and_write_as_counters() {
        let tallies = ExperimentTallies::default();
        tallies.start_series(&[("p".into(), "tone".into(), vec!["a".into(), "b".into()])]);
        tallies.record("p", "tone", "a", false, Some(2.0));
        tallies.record("p", "tone", "a", true, Some(-1.0));
        tallies.record("p", "other", "a", false, None);
        let figures = tallies.figures("p", "tone");
        assert_eq!(
            figures.arms["a"],
            ArmFigures {
                reports: 2,
                errors: 1,
                values: 2,
                sum: 1.0,
                squares: 5.0
            }
        );
        assert_eq!(figures.arms["b"], ArmFigures::default());
        let mut out = String::new();
        tallies.write(&mut out);
        for line in [
            "promptctl_experiment_reports_total{prompt=\"p\",experiment=\"tone\",arm=\"a\",outcome=\"error\"} 1",
            "promptctl_experiment_reports_total{prompt=\"p\",experiment=\"tone\",arm=\"b\",outcome=\"success\"} 0",
            "promptctl_experiment_value_sum_total{prompt=\"p\",experiment=\"tone\",arm=\"a\",sign=\"negative\"} 1",
            "promptctl_experiment_value_sum_total{prompt=\"p\",experiment=\"tone\",arm=\"a\",sign=\"positive\"} 2",
            "promptctl_experiment_value_squares_total{prompt=\"p\",experiment=\"tone\",arm=\"a\"} 5",
        ] {
            assert!(out.contains(line), "{line}\n{out}");
        }
    }
}
