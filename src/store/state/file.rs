//! Reading and writing `state.toml`: parsed strictly, every problem at its line and field,
//! and written in one canonical layout, so the same state always gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::experiment_file::{RawExperiment, experiment_toml, parse_experiment};
use super::{
    COHORT_FORMAT, Canary, PLAIN_FORMAT, PREVIOUS_LIMIT, PromptState, SEGMENT_FORMAT, STATE_FORMAT,
    State,
};
use crate::base::location::Location;
use crate::base::tomlfile::{self, line_of};
use crate::prompt::{PromptName, Version};
use crate::store::bucket::Weight;
use crate::store::plan::{Gates, Rollout, Stage, check_cohort, check_gate};

/// A `state.toml` that is not valid.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct StateError {
    /// Where: `state.toml` (with the release commit, when known), line and field.
    pub location: Location,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    format: Spanned<i64>,
    #[serde(default)]
    prompts: BTreeMap<String, RawPrompt>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrompt {
    active: Spanned<String>,
    canary: Option<Spanned<String>>,
    canary_weight: Option<Spanned<f64>>,
    canary_cohorts: Option<Spanned<Vec<String>>>,
    /// The canary's segment: a targeting rule in its canonical text.
    canary_where: Option<Spanned<String>>,
    #[serde(default)]
    previous: Vec<Spanned<String>>,
    rollout: Option<Spanned<RawRollout>>,
    experiment: Option<Spanned<RawExperiment>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRollout {
    stages: Spanned<Vec<String>>,
    step: Spanned<i64>,
    every: Spanned<String>,
    step_started: Spanned<toml::value::Datetime>,
    #[serde(default)]
    paused: bool,
    min_samples: Spanned<i64>,
    max_error_rate: Option<Spanned<f64>>,
    max_latency_increase: Option<Spanned<f64>>,
    max_cost_increase: Option<Spanned<f64>>,
    min_score: Option<Spanned<f64>>,
    max_score_drop: Option<Spanned<f64>>,
    max_invalid_output_rate: Option<Spanned<f64>>,
    max_tool_error_rate: Option<Spanned<f64>>,
    #[serde(default)]
    alerted: Vec<String>,
}

/// Reads a `[prompts."NAME".rollout]` table; `at` builds an error for a span and key.
fn parse_rollout(
    raw: &RawRollout,
    at: &dyn Fn(Range<usize>, &str, String) -> StateError,
) -> Result<Rollout, StateError> {
    let stages = raw
        .stages
        .get_ref()
        .iter()
        .map(|text| Stage::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|stages| Rollout::check_stages(&stages).map(|()| stages))
        .map_err(|why| at(raw.stages.span(), "stages", why.to_string()))?;
    let step = usize::try_from(*raw.step.get_ref())
        .ok()
        .filter(|&step| step < stages.len() && !stages[step].is_full())
        .ok_or_else(|| {
            at(
                raw.step.span(),
                "step",
                format!(
                    "step {} is not a stage of the plan short of 100% (0 to {})",
                    raw.step.get_ref(),
                    stages.len().saturating_sub(1)
                ),
            )
        })?;
    let every = crate::store::STAGE_LENGTH
        .parse(raw.every.get_ref())
        .map_err(|why| at(raw.every.span(), "every", why.to_string()))?
        .as_secs();
    let step_started = crate::base::clock::from_toml(raw.step_started.get_ref())
        .map_err(|why| at(raw.step_started.span(), "step_started", why.to_string()))?;
    let min_samples = u64::try_from(*raw.min_samples.get_ref()).map_err(|_| {
        at(
            raw.min_samples.span(),
            "min_samples",
            "must be 0 or more".into(),
        )
    })?;
    let gate = |value: &Option<Spanned<f64>>, key: &str| -> Result<Option<f64>, StateError> {
        match value {
            Some(v) => check_gate(key, *v.get_ref())
                .map(|()| Some(*v.get_ref()))
                .map_err(|why| at(v.span(), key, why.to_string())),
            None => Ok(None),
        }
    };
    Ok(Rollout {
        stages,
        step,
        every,
        step_started,
        paused: raw.paused,
        gates: Gates {
            min_samples,
            max_error_rate: gate(&raw.max_error_rate, "max_error_rate")?,
            max_latency_increase: gate(&raw.max_latency_increase, "max_latency_increase")?,
            max_cost_increase: gate(&raw.max_cost_increase, "max_cost_increase")?,
            min_score: gate(&raw.min_score, "min_score")?,
            max_score_drop: gate(&raw.max_score_drop, "max_score_drop")?,
            max_invalid_output_rate: gate(&raw.max_invalid_output_rate, "max_invalid_output_rate")?,
            max_tool_error_rate: gate(&raw.max_tool_error_rate, "max_tool_error_rate")?,
        },
        alerted: raw.alerted.clone(),
    })
}

/// Builds the error of a span of the file: `state.toml:LINE` and the dotted field.
struct Spans<'a> {
    shown: &'a str,
    source: &'a str,
}

impl Spans<'_> {
    fn at(&self, span: Range<usize>, field: impl Into<String>, message: String) -> StateError {
        StateError {
            location: Location::file(self.shown)
                .at_line(Some(line_of(self.source, span.start)))
                .with_field(field.into()),
            message,
        }
    }
}

impl State {
    /// Parses and validates a `state.toml`; `shown` is how the file is named in errors
    /// (`promptctl/production@1a2b3c4:state.toml`).
    pub fn parse(shown: &str, source: &str) -> Result<State, StateError> {
        let raw: RawState = tomlfile::parse(shown, source).map_err(|e| StateError {
            location: e.location,
            message: e.message,
        })?;
        let spans = Spans { shown, source };
        if !(PLAIN_FORMAT..=STATE_FORMAT).contains(raw.format.get_ref()) {
            return Err(spans.at(
                raw.format.span(),
                "format",
                format!(
                    "format {} is not known to this build of promptctl (it reads formats {PLAIN_FORMAT} and {STATE_FORMAT}); upgrade promptctl",
                    raw.format.get_ref()
                ),
            ));
        }
        let mut state = State::default();
        for (name, prompt) in raw.prompts {
            let field = format!("prompts.\"{name}\"");
            let parsed_name = PromptName::parse(&name).map_err(|reason| {
                spans.at(
                    prompt.active.span(),
                    field.clone(),
                    format!("`{name}` is not a prompt name: {reason}"),
                )
            })?;
            let fields = PromptFields {
                spans: &spans,
                field,
            };
            state
                .prompts
                .insert(parsed_name, fields.prompt_state(&prompt)?);
        }
        Ok(state)
    }
}

/// Reads the `[prompts."NAME"]` table of one prompt, with errors under its field.
struct PromptFields<'a> {
    spans: &'a Spans<'a>,
    field: String,
}

impl PromptFields<'_> {
    fn at(&self, span: Range<usize>, key: &str, message: String) -> StateError {
        self.spans
            .at(span, format!("{}.{key}", self.field), message)
    }

    fn version(&self, value: &Spanned<String>, key: &str) -> Result<Version, StateError> {
        // The parse error names the value and says what a version is; it is not said twice.
        value
            .get_ref()
            .parse::<Version>()
            .map_err(|reason| self.at(value.span(), key, reason))
    }

    fn prompt_state(&self, prompt: &RawPrompt) -> Result<PromptState, StateError> {
        let active = self.version(&prompt.active, "active")?;
        let canary = match &prompt.canary {
            None => {
                self.refuse_stray_canary_fields(prompt)?;
                None
            }
            Some(canary) => Some(self.canary(prompt, canary, active)?),
        };
        let rollout = match &prompt.rollout {
            Some(raw) => Some(self.rollout(raw, canary.as_ref())?),
            None => None,
        };
        let experiment = match &prompt.experiment {
            Some(raw) if canary.is_some() => {
                return Err(self.at(
                    raw.span(),
                    "experiment",
                    "a prompt runs an experiment or a canary, not both".into(),
                ));
            }
            Some(raw) => Some(parse_experiment(raw.get_ref(), &|span, key, message| {
                self.at(span, &format!("experiment.{key}"), message)
            })?),
            None => None,
        };
        if let Some(extra) = prompt.previous.get(PREVIOUS_LIMIT) {
            return Err(self.at(
                extra.span(),
                &format!("previous[{PREVIOUS_LIMIT}]"),
                format!(
                    "`previous` holds {} versions; at most {PREVIOUS_LIMIT} are kept",
                    prompt.previous.len()
                ),
            ));
        }
        let previous = prompt
            .previous
            .iter()
            .enumerate()
            .map(|(i, v)| self.version(v, &format!("previous[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PromptState {
            active,
            canary,
            previous,
            rollout,
            experiment,
        })
    }

    /// A weight, cohorts or a plan mean nothing without a canary.
    fn refuse_stray_canary_fields(&self, prompt: &RawPrompt) -> Result<(), StateError> {
        let stray = [
            prompt
                .canary_weight
                .as_ref()
                .map(|w| (w.span(), "canary_weight")),
            prompt
                .canary_cohorts
                .as_ref()
                .map(|c| (c.span(), "canary_cohorts")),
            prompt
                .canary_where
                .as_ref()
                .map(|w| (w.span(), "canary_where")),
            prompt.rollout.as_ref().map(|r| (r.span(), "rollout")),
        ];
        match stray.into_iter().flatten().next() {
            Some((span, key)) => {
                Err(self.at(span, key, format!("`{key}` is set without a `canary`")))
            }
            None => Ok(()),
        }
    }

    fn canary(
        &self,
        prompt: &RawPrompt,
        canary: &Spanned<String>,
        active: Version,
    ) -> Result<Canary, StateError> {
        let version = self.version(canary, "canary")?;
        if version == active {
            return Err(self.at(
                canary.span(),
                "canary",
                "the canary is the active version".into(),
            ));
        }
        let weight = match &prompt.canary_weight {
            Some(weight) => Some(
                Weight::from_percent(*weight.get_ref())
                    .map_err(|e| self.at(weight.span(), "canary_weight", e.to_string()))?,
            ),
            None => None,
        };
        let cohorts = match &prompt.canary_cohorts {
            Some(cohorts) => {
                for cohort in cohorts.get_ref() {
                    check_cohort(cohort).map_err(|why| {
                        self.at(cohorts.span(), "canary_cohorts", why.to_string())
                    })?;
                }
                cohorts.get_ref().clone()
            }
            None => Vec::new(),
        };
        if weight.is_none() && cohorts.is_empty() {
            return Err(self.at(
                canary.span(),
                "canary_weight",
                "a canary needs a `canary_weight`, `canary_cohorts`, or both".into(),
            ));
        }
        let segment = match &prompt.canary_where {
            Some(text) => Some(
                crate::store::rule::Rule::parse(text.get_ref())
                    .map_err(|e| self.at(text.span(), "canary_where", e.to_string()))?,
            ),
            None => None,
        };
        Ok(Canary {
            version,
            weight,
            cohorts,
            segment,
        })
    }

    /// Reads the plan, which must route to the canary exactly what the canary has.
    fn rollout(
        &self,
        raw: &Spanned<RawRollout>,
        canary: Option<&Canary>,
    ) -> Result<Rollout, StateError> {
        let rollout = parse_rollout(raw.get_ref(), &|span, key, message| {
            self.at(span, &format!("rollout.{key}"), message)
        })?;
        let route = rollout.route_at(rollout.step);
        if let Some(canary) = canary
            && (route.weight != canary.weight || route.cohorts != canary.cohorts)
        {
            let routed = Canary {
                version: canary.version,
                weight: route.weight,
                cohorts: route.cohorts,
                segment: canary.segment.clone(),
            };
            return Err(self.at(
                raw.get_ref().step.span(),
                "rollout.step",
                format!(
                    "step {} of the plan routes {} to the canary, but the canary has {}",
                    rollout.step,
                    routed.describe(),
                    canary.describe()
                ),
            ));
        }
        Ok(rollout)
    }
}

impl State {
    /// Writes the state in its canonical layout: the same state always gives the same bytes.
    pub fn to_toml(&self) -> String {
        let mut out = format!("format = {}\n", self.format_needed());
        for (name, prompt) in &self.prompts {
            out.push('\n');
            write_section(&mut out, name, prompt);
        }
        out
    }

    /// The `format` its file must say: the newest any prompt needs.
    pub(crate) fn format_needed(&self) -> i64 {
        if self.prompts.values().any(PromptState::needs_format_4) {
            STATE_FORMAT
        } else if self.prompts.values().any(PromptState::needs_format_3) {
            SEGMENT_FORMAT
        } else if self.prompts.values().any(PromptState::needs_format_2) {
            COHORT_FORMAT
        } else {
            PLAIN_FORMAT
        }
    }
}

/// Writes one prompt's tables (`[prompts."NAME"]` and its rollout or experiment) as
/// [`State::to_toml`] lays them out, without the blank line before them.
pub(crate) fn write_section(out: &mut String, name: &PromptName, prompt: &PromptState) {
    let _ = write!(
        out,
        "[prompts.\"{name}\"]\nactive = \"{}\"\n",
        prompt.active
    );
    if let Some(canary) = &prompt.canary {
        let _ = writeln!(out, "canary = \"{}\"", canary.version);
        if let Some(weight) = canary.weight {
            let _ = writeln!(out, "canary_weight = {:?}", weight.percent());
        }
        if !canary.cohorts.is_empty() {
            let quoted: Vec<String> = canary.cohorts.iter().map(|c| format!("\"{c}\"")).collect();
            let _ = writeln!(out, "canary_cohorts = [{}]", quoted.join(", "));
        }
        if let Some(segment) = &canary.segment {
            // A JSON string is a TOML basic string.
            let quoted = serde_json::Value::from(segment.as_str()).to_string();
            let _ = writeln!(out, "canary_where = {quoted}");
        }
    }
    if !prompt.previous.is_empty() {
        out.push_str("previous = [\n");
        for version in &prompt.previous {
            let _ = writeln!(out, "  \"{version}\",");
        }
        out.push_str("]\n");
    }
    if let Some(rollout) = &prompt.rollout {
        let _ = write!(out, "\n[prompts.\"{name}\".rollout]\n{}", rollout.to_toml());
    }
    if let Some(experiment) = &prompt.experiment {
        let _ = write!(
            out,
            "\n[prompts.\"{name}\".experiment]\n{}",
            experiment_toml(experiment)
        );
    }
}

#[cfg(test)]
mod tests;
