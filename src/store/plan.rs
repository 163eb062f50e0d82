//! Rollout plans: the stages a canary goes through (cohorts, then percentages), how long each
//! lasts, and the gates that decide whether it advances, holds or is reverted. A plan is
//! stored with the canary in `state.toml`, so any controller can pick it up.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::bucket::{BUCKETS, Weight};
use crate::base::clock::{self, UnixTime};
use crate::prompt::Version;

/// The minimum number of canary reports per step unless a plan says otherwise.
pub const DEFAULT_MIN_SAMPLES: u64 = 100;
/// The error-rate gate unless a plan says otherwise: percentage points above active.
pub const DEFAULT_MAX_ERROR_RATE: f64 = 5.0;
/// Longest cohort name.
const COHORT_MAX: usize = 64;

/// One stage of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Route the keys whose `cohort` attribute is this to the canary.
    Cohort(String),
    /// Route this share of buckets (hundredths of a percent, 1 ..= 10000) to the canary;
    /// 100% means promote.
    Percent(u32),
}

impl Stage {
    /// Reads `cohort=internal`, `5%`, `0.5%` or `25`.
    pub fn parse(text: &str) -> Result<Stage, PlanError> {
        let text = text.trim();
        if let Some(cohort) = text.strip_prefix("cohort=") {
            check_cohort(cohort)?;
            return Ok(Stage::Cohort(cohort.to_owned()));
        }
        if text.contains('=') {
            return Err(PlanError::OtherAttribute { text: text.into() });
        }
        let number = text.strip_suffix('%').unwrap_or(text).trim();
        let percent: f64 = number
            .parse()
            .map_err(|_| PlanError::NotAStage { text: text.into() })?;
        let hundredths = (percent * 100.0).round();
        if !percent.is_finite() || (hundredths - percent * 100.0).abs() > 1e-6 {
            return Err(PlanError::TooPrecise { text: text.into() });
        }
        if !(1.0..=f64::from(BUCKETS)).contains(&hundredths) {
            return Err(PlanError::OutOfRange { text: text.into() });
        }
        Ok(Stage::Percent(hundredths as u32))
    }

    /// The weight of a percentage stage below 100%.
    pub fn weight(&self) -> Option<Weight> {
        match self {
            Stage::Percent(h) => Weight::from_hundredths(*h).ok(),
            Stage::Cohort(_) => None,
        }
    }

    /// Tells whether this stage is 100%: reaching it promotes the canary.
    pub fn is_full(&self) -> bool {
        matches!(self, Stage::Percent(h) if *h == BUCKETS)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Cohort(name) => write!(f, "cohort={name}"),
            Stage::Percent(h) if *h == BUCKETS => f.write_str("100%"),
            Stage::Percent(h) => match Weight::from_hundredths(*h) {
                Ok(weight) => write!(f, "{weight}"),
                Err(_) => write!(f, "{h}"),
            },
        }
    }
}

impl Serialize for Stage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Checks a cohort name: what services pass as `attr.cohort`.
pub fn check_cohort(name: &str) -> Result<(), PlanError> {
    let ok = !name.is_empty()
        && name.len() <= COHORT_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(PlanError::NotACohort { name: name.into() })
    }
}

/// The thresholds a canary is judged by, canary against active over the step's window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gates {
    /// Canary reports a step needs before it is judged either way.
    pub min_samples: u64,
    /// Most the canary's error rate may exceed active's, in percentage points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<f64>,
    /// Most the canary's mean latency may exceed active's, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_latency_increase: Option<f64>,
    /// Most the canary's mean cost per request may exceed active's, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cost_increase: Option<f64>,
    /// Lowest mean score the canary may have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
    /// Most the canary's mean score may fall below active's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_score_drop: Option<f64>,
    /// Most the canary's share of replies the service could not parse (feedback with
    /// `output_valid: false`) may exceed active's, in percentage points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_invalid_output_rate: Option<f64>,
    /// Most the canary's share of replies whose tool calls failed in the service (feedback
    /// with `tool_error: true`) may exceed active's, in percentage points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tool_error_rate: Option<f64>,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            min_samples: DEFAULT_MIN_SAMPLES,
            max_error_rate: Some(DEFAULT_MAX_ERROR_RATE),
            max_latency_increase: None,
            max_cost_increase: None,
            min_score: None,
            max_score_drop: None,
            max_invalid_output_rate: None,
            max_tool_error_rate: None,
        }
    }
}

/// The gate names policies and alerts use.
pub const GATE_NAMES: [&str; 6] = [
    "error_rate",
    "latency",
    "cost",
    "score",
    "invalid_output",
    "tool_error",
];

/// How long a stage of a plan may last (`--every`, and `every` in the state file): a
/// second to 365 days.
pub const STAGE_LENGTH: crate::base::duration::Bounds = crate::base::duration::Bounds::between(
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(365 * 86_400),
);

/// A rollout plan in flight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    /// The stages, in order; cohorts come before percentages.
    pub stages: Vec<Stage>,
    /// The index of the current stage.
    pub step: usize,
    /// How long each stage lasts before it may advance, in seconds.
    pub every: u64,
    /// When the current stage began (UTC seconds): the start of its window.
    #[serde(serialize_with = "clock::rfc3339::serialize")]
    pub step_started: UnixTime,
    /// Paused plans do not advance; a breached gate still reverts them.
    pub paused: bool,
    pub gates: Gates,
    /// Alert-only gates already reported in this step, so each alert goes out once.
    pub alerted: Vec<String>,
}

/// Identifies one step of one canary: what a window of feedback belongs to, and what a
/// controller's decision was made about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepKey {
    pub canary: Version,
    pub step: usize,
    #[serde(with = "clock::rfc3339")]
    pub step_started: UnixTime,
}

/// What a stage routes to the canary: a weight (none before the first percentage) and the
/// cohorts of every stage so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    pub weight: Option<Weight>,
    pub cohorts: Vec<String>,
}

impl Rollout {
    /// Checks the stages of a new plan: at least one, cohorts first, percentages rising,
    /// 100% only last.
    pub fn check_stages(stages: &[Stage]) -> Result<(), PlanError> {
        if stages.is_empty() {
            return Err(PlanError::NoStages);
        }
        let mut last_percent = 0;
        for (i, stage) in stages.iter().enumerate() {
            match stage {
                Stage::Cohort(name) => {
                    if last_percent > 0 {
                        return Err(PlanError::CohortAfterPercent { name: name.clone() });
                    }
                    if stages[..i].contains(stage) {
                        return Err(PlanError::Twice { name: name.clone() });
                    }
                }
                Stage::Percent(h) => {
                    if *h <= last_percent {
                        return Err(PlanError::NotRising {
                            stage: stage.to_string(),
                        });
                    }
                    last_percent = *h;
                }
            }
        }
        if stages.first().is_some_and(Stage::is_full) {
            return Err(PlanError::FirstIsFull);
        }
        Ok(())
    }

    /// What the canary gets at `step`.
    pub fn route_at(&self, step: usize) -> Route {
        let mut route = Route::default();
        for stage in self.stages.iter().take(step + 1) {
            match stage {
                Stage::Cohort(name) => route.cohorts.push(name.clone()),
                Stage::Percent(_) => route.weight = stage.weight(),
            }
        }
        route
    }

    /// The current stage.
    pub fn stage(&self) -> &Stage {
        &self.stages[self.step.min(self.stages.len() - 1)]
    }

    /// The stage after the current one, if any.
    pub fn next_stage(&self) -> Option<&Stage> {
        self.stages.get(self.step + 1)
    }

    /// The key of the current step for a canary.
    pub fn key(&self, canary: Version) -> StepKey {
        StepKey {
            canary,
            step: self.step,
            step_started: self.step_started,
        }
    }

    /// When the current step may advance.
    pub fn step_ends(&self) -> UnixTime {
        self.step_started.saturating_add(self.every as i64)
    }

    /// Writes the plan as the body of a `[prompts."NAME".rollout]` table.
    pub fn to_toml(&self) -> String {
        let list = |items: &mut dyn Iterator<Item = String>| {
            items
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = format!(
            "stages = [{}]\nstep = {}\nevery = \"{}\"\nstep_started = {}\n",
            list(&mut self.stages.iter().map(ToString::to_string)),
            self.step,
            crate::base::duration::human(self.every),
            clock::format(self.step_started),
        );
        if self.paused {
            out.push_str("paused = true\n");
        }
        out.push_str(&format!("min_samples = {}\n", self.gates.min_samples));
        for (key, value) in [
            ("max_error_rate", self.gates.max_error_rate),
            ("max_latency_increase", self.gates.max_latency_increase),
            ("max_cost_increase", self.gates.max_cost_increase),
            ("min_score", self.gates.min_score),
            ("max_score_drop", self.gates.max_score_drop),
            (
                "max_invalid_output_rate",
                self.gates.max_invalid_output_rate,
            ),
            ("max_tool_error_rate", self.gates.max_tool_error_rate),
        ] {
            if let Some(value) = value {
                out.push_str(&format!("{key} = {value:?}\n"));
            }
        }
        if !self.alerted.is_empty() {
            out.push_str(&format!(
                "alerted = [{}]\n",
                list(&mut self.alerted.iter().cloned())
            ));
        }
        out
    }
}

/// Checks a gate threshold given on the command line or in a file.
pub fn check_gate(name: &str, value: f64) -> Result<(), PlanError> {
    if !value.is_finite() {
        return Err(PlanError::NotFinite { gate: name.into() });
    }
    let needs_non_negative = !matches!(name, "min_score");
    if needs_non_negative && value < 0.0 {
        return Err(PlanError::Negative { gate: name.into() });
    }
    Ok(())
}

/// Why a plan, one of its stages, a cohort name or a gate threshold is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("`{text}`: the only attribute a stage routes on is `cohort` (cohort=NAME)")]
    OtherAttribute { text: String },
    #[error("`{text}` is neither a percentage (5%) nor cohort=NAME")]
    NotAStage { text: String },
    #[error("`{text}`: a percentage has two decimals at most")]
    TooPrecise { text: String },
    #[error("`{text}`: a stage is more than 0% and at most 100%")]
    OutOfRange { text: String },
    #[error("`{name}` is not a cohort name: use 1 to {COHORT_MAX} of a-z, 0-9, `-` and `_`")]
    NotACohort { name: String },
    #[error("stage `{text}`: give percentages with PERCENT and --ramp, not as a stage")]
    PercentAsStage { text: String },
    #[error("a plan needs at least one stage")]
    NoStages,
    #[error("stage `cohort={name}` comes after a percentage: cohorts come first")]
    CohortAfterPercent { name: String },
    #[error("stage `cohort={name}` is listed twice")]
    Twice { name: String },
    #[error("stage `{stage}` does not rise above the stage before it")]
    NotRising { stage: String },
    #[error("the first stage cannot be 100%: publish instead")]
    FirstIsFull,
    #[error("`{gate}` must be a finite number")]
    NotFinite { gate: String },
    #[error("`{gate}` cannot be negative")]
    Negative { gate: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(texts: &[&str]) -> Vec<Stage> {
        texts.iter().map(|t| Stage::parse(t).unwrap()).collect()
    }

    #[test]
    fn stages_read_and_write_back() {
        for text in ["cohort=internal", "5%", "0.5%", "100%", "12.25%"] {
            assert_eq!(Stage::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Stage::parse("25").unwrap(), Stage::Percent(2500));
        for bad in [
            "0%",
            "101%",
            "0.001%",
            "cohort=",
            "cohort=Beta",
            "region=eu",
            "x",
        ] {
            assert!(Stage::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_put_cohorts_first_and_rise() {
        assert!(Rollout::check_stages(&stages(&["cohort=a", "cohort=b", "5%", "100%"])).is_ok());
        for bad in [
            &["5%", "cohort=a"][..],
            &["25%", "5%"],
            &["5%", "5%"],
            &["100%"],
            &["cohort=a", "cohort=a"],
            &[],
        ] {
            assert!(Rollout::check_stages(&stages(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_step_routes_every_cohort_so_far_and_the_latest_weight() {
        let plan = Rollout {
            stages: stages(&["cohort=internal", "cohort=beta", "5%", "25%", "100%"]),
            step: 0,
            every: 60,
            step_started: 0,
            paused: false,
            gates: Gates::default(),
            alerted: Vec::new(),
        };
        assert_eq!(
            plan.route_at(0),
            Route {
                weight: None,
                cohorts: vec!["internal".into()]
            }
        );
        let at_25 = plan.route_at(3);
        assert_eq!(at_25.weight, Weight::from_hundredths(2500).ok());
        assert_eq!(at_25.cohorts, ["internal", "beta"]);
    }
}
