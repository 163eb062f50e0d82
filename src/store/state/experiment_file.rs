//! The `[prompts."NAME".experiment]` table of `state.toml`: read strictly, every problem at
//! its line and field, and written in one canonical layout.

use std::fmt::Write as _;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::prompt::Version;
use crate::store::assignment::Split;
use crate::store::experiment::{Arm, EXPERIMENT_LENGTH, Experiment, Metric};
use crate::store::rule::Rule;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExperiment {
    name: Spanned<String>,
    /// `NAME=VERSION`, in order.
    arms: Spanned<Vec<String>>,
    /// Each arm's share in percent.
    split: Spanned<Vec<f64>>,
    #[serde(rename = "where")]
    segment: Option<Spanned<String>>,
    metric: Spanned<String>,
    effect: Spanned<f64>,
    alpha: Spanned<f64>,
    started: Spanned<toml::value::Datetime>,
    max_duration: Spanned<String>,
    max_samples: Option<Spanned<i64>>,
    #[serde(default)]
    auto_conclude: bool,
}

/// Builds an error for a span and a key under `experiment.`.
pub(super) type At<'a> = &'a dyn Fn(Range<usize>, &str, String) -> super::StateError;

/// Reads an experiment table; `at` builds an error for a span and key.
pub(super) fn parse_experiment(
    raw: &RawExperiment,
    at: At<'_>,
) -> Result<Experiment, super::StateError> {
    let arms = raw
        .arms
        .get_ref()
        .iter()
        .map(|text| {
            let (name, version) = text
                .split_once('=')
                .ok_or_else(|| format!("arm `{text}` is not NAME=VERSION"))?;
            let version: Version = version.parse()?;
            Ok(Arm {
                name: name.to_owned(),
                version,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|why| at(raw.arms.span(), "arms", why))?;
    let shares: Vec<String> = raw.split.get_ref().iter().map(|p| p.to_string()).collect();
    let split =
        Split::parse(&shares.join(",")).map_err(|why| at(raw.split.span(), "split", why.why))?;
    let segment = match &raw.segment {
        Some(text) => {
            Some(Rule::parse(text.get_ref()).map_err(|e| at(text.span(), "where", e.to_string()))?)
        }
        None => None,
    };
    let metric =
        Metric::parse(raw.metric.get_ref()).map_err(|why| at(raw.metric.span(), "metric", why))?;
    let started = crate::base::clock::from_toml(raw.started.get_ref())
        .map_err(|why| at(raw.started.span(), "started", why.to_string()))?;
    let max_duration = EXPERIMENT_LENGTH
        .parse(raw.max_duration.get_ref())
        .map_err(|why| at(raw.max_duration.span(), "max_duration", why.to_string()))?
        .as_secs();
    let max_samples = match &raw.max_samples {
        Some(n) => Some(
            u64::try_from(*n.get_ref())
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| at(n.span(), "max_samples", "must be 1 or more".into()))?,
        ),
        None => None,
    };
    let experiment = Experiment {
        name: raw.name.get_ref().clone(),
        arms,
        split,
        segment,
        metric,
        effect: *raw.effect.get_ref(),
        alpha: *raw.alpha.get_ref(),
        started,
        max_duration,
        max_samples,
        auto_conclude: raw.auto_conclude,
    };
    experiment
        .check()
        .map_err(|why| at(raw.name.span(), "name", why))?;
    Ok(experiment)
}

/// The table's body in its canonical layout.
pub(super) fn experiment_toml(experiment: &Experiment) -> String {
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    let arms: Vec<String> = experiment
        .arms
        .iter()
        .map(|arm| quoted(&format!("{}={}", arm.name, arm.version)))
        .collect();
    let split: Vec<String> = experiment
        .split
        .percents()
        .map(|p| format!("{p:?}"))
        .collect();
    let mut out = format!(
        "name = {}\narms = [{}]\nsplit = [{}]\n",
        quoted(&experiment.name),
        arms.join(", "),
        split.join(", ")
    );
    if let Some(segment) = &experiment.segment {
        let _ = writeln!(out, "where = {}", quoted(segment.as_str()));
    }
    let _ = write!(
        out,
        "metric = {}\neffect = {:?}\nalpha = {:?}\nstarted = {}\nmax_duration = \"{}\"\n",
        quoted(&experiment.metric.to_string()),
        experiment.effect,
        experiment.alpha,
        crate::base::clock::format(experiment.started),
        crate::base::duration::human(experiment.max_duration),
    );
    if let Some(n) = experiment.max_samples {
        let _ = writeln!(out, "max_samples = {n}");
    }
    if experiment.auto_conclude {
        out.push_str("auto_conclude = true\n");
    }
    out
}
