//! An experiment's figures from Prometheus: the `promptctl_experiment_*` series of every
//! replica, summed, over the experiment so far. Counters are read with `increase()`, which
//! handles a replica's restart; the metric's sum is kept as two counters (the positive and
//! the negative part) so that a negative value is never taken for a restart. A failed
//! query is an error, never zero reports.
//!
//! `increase()` extrapolates from a series' last sample to the end of the range, so each
//! replica's series are read at the moment it was last scraped, where that is nothing; the
//! series of replicas that are gone are read at `now` (half a scrape interval is added to
//! them). Prometheus sees a replica's restart as its counters falling back; what a restarted
//! replica receives before its first scrape cannot be told from the count before the
//! restart, so every arm's series is exposed from 0 at once (docs/experiments.md).

use std::collections::BTreeMap;

use super::figures::{ArmFigures, ExperimentFigures};
use crate::base::clock::UnixTime;
use crate::prompt::PromptName;
use crate::rollout::{MAX_COUNT, Prometheus, PrometheusError};
use crate::store::Experiment;

/// Reads the figures of `experiment` on `prompt`, from its start to `now`.
pub fn read_figures(
    prometheus: &Prometheus,
    prompt: &PromptName,
    experiment: &Experiment,
    now: UnixTime,
) -> Result<ExperimentFigures, PrometheusError> {
    // Each replica's series are read at the moment it was last scraped: `increase()`
    // extrapolates a series from its last sample to the end of the range, which is nothing
    // then. Replicas that are gone are read at `now` (half a scrape interval extrapolated).
    let mut samples = Vec::new();
    let mut live = Vec::new();
    for (labels, at) in prometheus.query(LATEST_SCRAPES)? {
        let Some(instance) = labels.get("instance").filter(|_| at.is_finite()) else {
            continue;
        };
        let selector = format!("instance=\"{}\"", escape_label(instance));
        let end = at.floor() as UnixTime;
        let query = figures_query(prompt, experiment, end, &selector);
        samples.extend(prometheus.query_at(&query, Some(at))?);
        live.push(regex_escape(instance));
    }
    let gone = if live.is_empty() {
        String::new()
    } else {
        format!("instance!~\"{}\"", escape_label(&live.join("|")))
    };
    samples.extend(prometheus.query(&figures_query(prompt, experiment, now, &gone))?);
    let mut raw: BTreeMap<String, Raw> = experiment
        .arms
        .iter()
        .map(|arm| (arm.name.clone(), Raw::default()))
        .collect();
    for (labels, value) in samples {
        let label = |key: &str| labels.get(key).map_or("", String::as_str);
        let Some(figures) = raw.get_mut(label("arm")) else {
            continue;
        };
        if !(value.is_finite() && (0.0..=MAX_COUNT).contains(&value)) {
            return Err(PrometheusError::NotANumber {
                text: format!("{value} for {} of arm `{}`", label("figure"), label("arm")),
            });
        }
        match (label("figure"), label("outcome"), label("sign")) {
            ("reports", "error", _) => {
                figures.reports += value;
                figures.errors += value;
            }
            ("reports", _, _) => figures.reports += value,
            ("values", _, _) => figures.values += value,
            ("sum", _, "negative") => figures.sum -= value,
            ("sum", _, _) => figures.sum += value,
            ("squares", _, _) => figures.squares += value,
            _ => {}
        }
    }
    Ok(ExperimentFigures {
        experiment: experiment.name.clone(),
        arms: raw
            .into_iter()
            .map(|(arm, raw)| (arm, raw.whole()))
            .collect(),
    })
}

/// One arm's figures as `increase()` gives them: extrapolated to the end of the range, so
/// not whole numbers.
#[derive(Default)]
struct Raw {
    reports: f64,
    errors: f64,
    values: f64,
    sum: f64,
    squares: f64,
}

impl Raw {
    /// Whole counts, with the sums scaled alike, so a mean is the ratio Prometheus gave
    /// (rounding the count alone would move it: 40 values of -1 read as 44.4 and 44 give a
    /// mean of -1.01).
    fn whole(&self) -> ArmFigures {
        let values = self.values.round();
        let scale = if self.values > 0.0 {
            values / self.values
        } else {
            0.0
        };
        ArmFigures {
            reports: self.reports.round() as u64,
            errors: self.errors.round() as u64,
            values: values as u64,
            sum: self.sum * scale,
            squares: self.squares * scale,
        }
    }
}

/// The time of the latest scrape of each server that serves promptctl's series.
const LATEST_SCRAPES: &str = "max by (instance) (timestamp(promptctl_snapshot_stale))";

/// A label value as PromQL writes it inside double quotes.
fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A label value matched literally by a regular expression (`=~`, `!~`).
fn regex_escape(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// One query for every figure of the experiment, each series marked with a `figure` label.
fn figures_query(
    prompt: &PromptName,
    experiment: &Experiment,
    now: UnixTime,
    selector: &str,
) -> String {
    // One second more than whole seconds give, since the query runs a moment past `now`.
    let range = format!("{}s", (now - experiment.started).max(0) + 1);
    let name = &experiment.name;
    let more = if selector.is_empty() {
        String::new()
    } else {
        format!(",{selector}")
    };
    let part = |figure: &str, metric: &str, by: &str| {
        format!(
            "label_replace(sum by ({by}) (increase({metric}{{prompt=\"{prompt}\",experiment=\"{name}\"{more}}}[{range}])), \"figure\", \"{figure}\", \"\", \"\")"
        )
    };
    [
        part(
            "reports",
            "promptctl_experiment_reports_total",
            "arm, outcome",
        ),
        part("values", "promptctl_experiment_values_total", "arm"),
        part("sum", "promptctl_experiment_value_sum_total", "arm, sign"),
        part("squares", "promptctl_experiment_value_squares_total", "arm"),
    ]
    .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_query_reads_every_figure_since_the_start() {
        let mut experiment = crate::store::Experiment::sample_for_tests();
        experiment.started = 1_000;
        let name = PromptName::parse("support/triage").unwrap();
        let all = figures_query(&name, &experiment, 1_300, "");
        assert_eq!(all.matches("[301s]").count(), 4, "{all}");
        assert!(
            all.contains(
                "promptctl_experiment_reports_total{prompt=\"support/triage\",experiment=\"tone\"}"
            ),
            "{all}"
        );
        let query = figures_query(&name, &experiment, 1_300, "instance=\"a:1\"");
        assert!(query.contains("sum by (arm, sign)"), "{query}");
        assert!(
            query.contains("experiment=\"tone\",instance=\"a:1\"}"),
            "{query}"
        );
        assert_eq!(regex_escape("10.0.0.1:7070"), "10\\.0\\.0\\.1:7070");
        assert_eq!(escape_label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
