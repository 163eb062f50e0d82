//! `state.toml`: the pointers of every prompt of one environment, parsed strictly and
//! written in one canonical layout.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::bucket::{Weight, bucket};
use super::plan::{Gates, Rollout, Stage, check_cohort, check_gate};
use crate::location::Location;
use crate::prompt::{PromptName, Version};
use crate::tomlfile::{self, line_of};

/// The number written as `format` in `state.toml` when some prompt has a rollout plan or
/// routes cohorts; states without them are written as format 1, which older builds read.
pub const STATE_FORMAT: i64 = 2;

/// The format of states that use nothing format 2 added.
const PLAIN_FORMAT: i64 = 1;

/// The file name of the state inside a release commit.
pub const STATE_FILE: &str = "state.toml";

/// How many earlier active versions a prompt keeps for `revert`; older ones stay reachable
/// with `revert --to`.
pub const PREVIOUS_LIMIT: usize = 100;

/// The release state of one environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct State {
    /// Pointers by prompt name.
    pub prompts: BTreeMap<PromptName, PromptState>,
}

/// The pointers of one prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptState {
    /// The version every key gets unless it is on the canary.
    pub active: Version,
    /// The canary in flight, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// Earlier active versions, most recent first: where `revert` goes.
    pub previous: Vec<Version>,
    /// The rollout plan of the canary, when a controller drives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
}

/// A version that some keys get instead of the active one: a share of the buckets, the
/// keys of some cohorts, or both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Canary {
    /// The canary version.
    pub version: Version,
    /// The share of buckets on it; none while only cohorts are.
    pub weight: Option<Weight>,
    /// Keys resolved with one of these `cohort` attributes are on it whatever their bucket.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cohorts: Vec<String>,
}

impl Canary {
    /// A canary on a share of the buckets.
    pub fn weighted(version: Version, weight: Weight) -> Self {
        Canary {
            version,
            weight: Some(weight),
            cohorts: Vec::new(),
        }
    }

    /// Tells whether a key in `bucket`, resolved with `cohort`, is on the canary.
    pub fn covers(&self, bucket: u16, cohort: Option<&str>) -> bool {
        self.weight.is_some_and(|w| w.covers(bucket))
            || cohort.is_some_and(|c| self.cohorts.iter().any(|k| k == c))
    }

    /// Who is on the canary, in words: `10%`, `cohort internal`, `cohorts internal, beta + 5%`.
    pub fn describe(&self) -> String {
        let cohorts = match self.cohorts.as_slice() {
            [] => None,
            [one] => Some(format!("cohort {one}")),
            many => Some(format!("cohorts {}", many.join(", "))),
        };
        match (cohorts, self.weight) {
            (Some(c), Some(w)) => format!("{c} + {w}"),
            (Some(c), None) => c,
            (None, Some(w)) => w.to_string(),
            (None, None) => "nobody".into(),
        }
    }
}

/// Which pointer a key resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    Active,
    Canary,
}

impl Track {
    /// The track as a word.
    pub fn as_str(self) -> &'static str {
        match self {
            Track::Active => "active",
            Track::Canary => "canary",
        }
    }
}

impl PromptState {
    /// A prompt whose first version is `active`.
    pub fn new(active: Version) -> Self {
        PromptState {
            active,
            canary: None,
            previous: Vec::new(),
            rollout: None,
        }
    }

    /// Returns the version and track a key resolves to, with its bucket.
    pub fn resolve(&self, name: &str, key: &str) -> (Version, Track, u16) {
        self.resolve_for(name, key, None)
    }

    /// Returns the version and track a key with a `cohort` attribute resolves to, with its
    /// bucket: a canary cohort is on the canary whatever its bucket.
    pub fn resolve_for(
        &self,
        name: &str,
        key: &str,
        cohort: Option<&str>,
    ) -> (Version, Track, u16) {
        let bucket = bucket(name, key);
        match &self.canary {
            Some(canary) if canary.covers(bucket, cohort) => {
                (canary.version, Track::Canary, bucket)
            }
            _ => (self.active, Track::Active, bucket),
        }
    }

    /// Tells whether this prompt uses what format 2 added: plans, cohorts, weightless canaries.
    fn needs_format_2(&self) -> bool {
        self.rollout.is_some()
            || self
                .canary
                .as_ref()
                .is_some_and(|c| c.weight.is_none() || !c.cohorts.is_empty())
    }

    /// Drops the canary and the plan that drives it.
    pub fn drop_canary(&mut self) {
        self.canary = None;
        self.rollout = None;
    }

    /// Makes `version` active, remembering the one it replaces for `revert`.
    pub fn set_active(&mut self, version: Version) {
        if version != self.active {
            self.previous.insert(0, self.active);
            self.previous.truncate(PREVIOUS_LIMIT);
            self.active = version;
        }
    }

    /// Returns every version the state refers to.
    pub fn versions(&self) -> impl Iterator<Item = Version> + '_ {
        std::iter::once(self.active)
            .chain(self.canary.as_ref().map(|c| c.version))
            .chain(self.previous.iter().copied())
    }
}

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
    #[serde(default)]
    previous: Vec<Spanned<String>>,
    rollout: Option<Spanned<RawRollout>>,
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
    #[serde(default)]
    alerted: Vec<String>,
}

/// Reads a `[prompts."NAME".rollout]` table; `at` builds an error for a span and key.
fn parse_rollout(
    raw: &RawRollout,
    at: &dyn Fn(std::ops::Range<usize>, &str, String) -> StateError,
) -> Result<Rollout, StateError> {
    let stages = raw
        .stages
        .get_ref()
        .iter()
        .map(|text| Stage::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|stages| Rollout::check_stages(&stages).map(|()| stages))
        .map_err(|message| at(raw.stages.span(), "stages", message))?;
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
    let every = crate::clock::parse_duration(raw.every.get_ref())
        .ok()
        .filter(|d| d.as_secs() >= 1)
        .ok_or_else(|| {
            at(
                raw.every.span(),
                "every",
                format!("`{}` is not a duration of at least 1s", raw.every.get_ref()),
            )
        })?
        .as_secs();
    let step_started = crate::clock::from_toml(raw.step_started.get_ref())
        .map_err(|message| at(raw.step_started.span(), "step_started", message))?;
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
                .map_err(|message| at(v.span(), key, message)),
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
        },
        alerted: raw.alerted.clone(),
    })
}

impl State {
    /// Parses and validates a `state.toml`; `shown` is how the file is named in errors
    /// (`promptctl/production@1a2b3c4:state.toml`).
    pub fn parse(shown: &str, source: &str) -> Result<State, StateError> {
        let raw: RawState = tomlfile::parse(shown, source).map_err(|e| StateError {
            location: e.location,
            message: e.message,
        })?;
        let at = |span: std::ops::Range<usize>, field: String, message: String| StateError {
            location: Location::file(shown)
                .at_line(Some(line_of(source, span.start)))
                .with_field(field),
            message,
        };
        if !(PLAIN_FORMAT..=STATE_FORMAT).contains(raw.format.get_ref()) {
            return Err(at(
                raw.format.span(),
                "format".into(),
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
                at(
                    prompt.active.span(),
                    field.clone(),
                    format!("`{name}` is not a prompt name: {reason}"),
                )
            })?;
            let version = |value: &Spanned<String>, key: &str| {
                value.get_ref().parse::<Version>().map_err(|reason| {
                    at(
                        value.span(),
                        format!("{field}.{key}"),
                        format!("`{}` is not a full version: {reason}", value.get_ref()),
                    )
                })
            };
            let active = version(&prompt.active, "active")?;
            let canary = match &prompt.canary {
                None => {
                    let stray = [
                        prompt
                            .canary_weight
                            .as_ref()
                            .map(|w| (w.span(), "canary_weight")),
                        prompt
                            .canary_cohorts
                            .as_ref()
                            .map(|c| (c.span(), "canary_cohorts")),
                        prompt.rollout.as_ref().map(|r| (r.span(), "rollout")),
                    ];
                    if let Some((span, key)) = stray.into_iter().flatten().next() {
                        return Err(at(
                            span,
                            format!("{field}.{key}"),
                            format!("`{key}` is set without a `canary`"),
                        ));
                    }
                    None
                }
                Some(canary) => {
                    let version = version(canary, "canary")?;
                    if version == active {
                        return Err(at(
                            canary.span(),
                            format!("{field}.canary"),
                            "the canary is the active version".into(),
                        ));
                    }
                    let weight = match &prompt.canary_weight {
                        Some(weight) => {
                            Some(Weight::from_percent(*weight.get_ref()).map_err(|e| {
                                at(
                                    weight.span(),
                                    format!("{field}.canary_weight"),
                                    e.to_string(),
                                )
                            })?)
                        }
                        None => None,
                    };
                    let cohorts = match &prompt.canary_cohorts {
                        Some(cohorts) => {
                            for cohort in cohorts.get_ref() {
                                check_cohort(cohort).map_err(|message| {
                                    at(cohorts.span(), format!("{field}.canary_cohorts"), message)
                                })?;
                            }
                            cohorts.get_ref().clone()
                        }
                        None => Vec::new(),
                    };
                    if weight.is_none() && cohorts.is_empty() {
                        return Err(at(
                            canary.span(),
                            format!("{field}.canary_weight"),
                            "a canary needs a `canary_weight`, `canary_cohorts`, or both".into(),
                        ));
                    }
                    Some(Canary {
                        version,
                        weight,
                        cohorts,
                    })
                }
            };
            let rollout = match &prompt.rollout {
                Some(raw) => {
                    let rollout = parse_rollout(raw.get_ref(), &|span, key, message| {
                        at(span, format!("{field}.rollout.{key}"), message)
                    })?;
                    let route = rollout.route_at(rollout.step);
                    if let Some(canary) = &canary
                        && (route.weight != canary.weight || route.cohorts != canary.cohorts)
                    {
                        return Err(at(
                            raw.get_ref().step.span(),
                            format!("{field}.rollout.step"),
                            format!(
                                "step {} of the plan routes {} to the canary, but the canary has {}",
                                rollout.step,
                                Canary {
                                    version: canary.version,
                                    weight: route.weight,
                                    cohorts: route.cohorts
                                }
                                .describe(),
                                canary.describe()
                            ),
                        ));
                    }
                    Some(rollout)
                }
                None => None,
            };
            let previous = prompt
                .previous
                .iter()
                .enumerate()
                .map(|(i, v)| version(v, &format!("previous[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            state.prompts.insert(
                parsed_name,
                PromptState {
                    active,
                    canary,
                    previous,
                    rollout,
                },
            );
        }
        Ok(state)
    }

    /// Writes the state in its canonical layout: the same state always gives the same bytes.
    pub fn to_toml(&self) -> String {
        let format = if self.prompts.values().any(PromptState::needs_format_2) {
            STATE_FORMAT
        } else {
            PLAIN_FORMAT
        };
        let mut out = format!("format = {format}\n");
        for (name, prompt) in &self.prompts {
            let _ = write!(
                out,
                "\n[prompts.\"{name}\"]\nactive = \"{}\"\n",
                prompt.active
            );
            if let Some(canary) = &prompt.canary {
                let _ = writeln!(out, "canary = \"{}\"", canary.version);
                if let Some(weight) = canary.weight {
                    let _ = writeln!(out, "canary_weight = {:?}", weight.percent());
                }
                if !canary.cohorts.is_empty() {
                    let quoted: Vec<String> =
                        canary.cohorts.iter().map(|c| format!("\"{c}\"")).collect();
                    let _ = writeln!(out, "canary_cohorts = [{}]", quoted.join(", "));
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
        }
        out
    }

    /// Returns every version the state refers to, once each.
    pub fn versions(&self) -> std::collections::BTreeSet<Version> {
        self.prompts
            .values()
            .flat_map(PromptState::versions)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(byte: char) -> Version {
        format!("sha256:{}", byte.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    fn sample() -> State {
        let mut state = State::default();
        let mut triage = PromptState::new(v('a'));
        triage.set_active(v('b'));
        triage.canary = Some(Canary::weighted(
            v('c'),
            Weight::from_hundredths(1050).unwrap(),
        ));
        state
            .prompts
            .insert(PromptName::parse("support/triage").unwrap(), triage);
        state.prompts.insert(
            PromptName::parse("docs/summarize").unwrap(),
            PromptState::new(v('d')),
        );
        state
    }

    #[test]
    fn writes_and_reads_back_the_same_state() {
        let state = sample();
        let text = state.to_toml();
        assert_eq!(State::parse("state.toml", &text).unwrap(), state);
        assert!(text.contains("canary_weight = 10.5\n"), "{text}");
        assert!(text.starts_with("format = 1\n\n[prompts.\"docs/summarize\"]\n"));
    }

    fn with_rollout() -> State {
        let mut state = sample();
        let name = PromptName::parse("support/triage").unwrap();
        let triage = state.prompts.get_mut(&name).unwrap();
        let rollout = Rollout {
            stages: ["cohort=internal", "5%", "25%", "100%"]
                .iter()
                .map(|t| Stage::parse(t).unwrap())
                .collect(),
            step: 0,
            every: 1800,
            step_started: 1_795_425_600,
            paused: true,
            gates: Gates {
                max_cost_increase: Some(10.0),
                ..Gates::default()
            },
            alerted: vec!["cost".into()],
        };
        let route = rollout.route_at(0);
        triage.canary = Some(Canary {
            version: v('c'),
            weight: route.weight,
            cohorts: route.cohorts,
        });
        triage.rollout = Some(rollout);
        state
    }

    #[test]
    fn plans_and_cohorts_read_back_and_need_format_2() {
        let state = with_rollout();
        let text = state.to_toml();
        assert!(text.starts_with("format = 2\n"), "{text}");
        assert!(text.contains("canary_cohorts = [\"internal\"]\n"), "{text}");
        assert!(!text.contains("canary_weight"), "{text}");
        assert!(
            text.contains("[prompts.\"support/triage\".rollout]\nstages = [\"cohort=internal\", \"5%\", \"25%\", \"100%\"]\nstep = 0\nevery = \"30m\"\nstep_started = 2026-11-23T09:20:00Z\npaused = true\n"),
            "{text}"
        );
        assert_eq!(State::parse("state.toml", &text).unwrap(), state);
        assert!(sample().to_toml().starts_with("format = 1\n"));
    }

    #[test]
    fn a_plan_that_disagrees_with_the_canary_is_refused_with_its_line() {
        let text = with_rollout().to_toml().replace("step = 0", "step = 1");
        let err = State::parse("state.toml", &text).unwrap_err();
        assert_eq!(
            err.location.field.as_deref(),
            Some("prompts.\"support/triage\".rollout.step")
        );
        assert!(
            err.message.contains("routes cohort internal + 5%"),
            "{}",
            err.message
        );
        let line = text.lines().position(|l| l == "step = 1").unwrap() + 1;
        assert_eq!(err.location.line, Some(line));
        let stray = sample()
            .to_toml()
            .replace("canary = ", "canary_cohorts = [\"x\"]\nkanary = ");
        assert!(State::parse("state.toml", &stray).is_err());
        let bad_step = with_rollout().to_toml().replace("step = 0", "step = 3");
        let err = State::parse("state.toml", &bad_step).unwrap_err();
        assert!(err.message.contains("short of 100%"), "{}", err.message);
    }

    #[test]
    fn cohorts_reach_the_canary_whatever_their_bucket() {
        let state = with_rollout();
        let triage = &state.prompts[&PromptName::parse("support/triage").unwrap()];
        for key in 0..200 {
            let key = key.to_string();
            assert_eq!(triage.resolve("support/triage", &key).1, Track::Active);
            assert_eq!(
                triage
                    .resolve_for("support/triage", &key, Some("internal"))
                    .1,
                Track::Canary
            );
            assert_eq!(
                triage.resolve_for("support/triage", &key, Some("beta")).1,
                Track::Active
            );
        }
    }

    #[test]
    fn set_active_keeps_earlier_versions_most_recent_first_and_bounded() {
        let mut prompt = PromptState::new(v('a'));
        prompt.set_active(v('b'));
        prompt.set_active(v('c'));
        assert_eq!(prompt.previous, [v('b'), v('a')]);
        prompt.set_active(v('c'));
        assert_eq!(
            prompt.previous.len(),
            2,
            "re-publishing the active version is no change"
        );
        for i in 0..PREVIOUS_LIMIT + 10 {
            prompt.set_active(if i % 2 == 0 { v('d') } else { v('e') });
        }
        assert_eq!(prompt.previous.len(), PREVIOUS_LIMIT);
    }

    #[test]
    fn resolve_puts_covered_buckets_on_the_canary() {
        let state = sample();
        let triage = &state.prompts[&PromptName::parse("support/triage").unwrap()];
        let (mut canary, mut total) = (0, 0);
        for key in 0..2000 {
            let (version, track, bucket) = triage.resolve("support/triage", &key.to_string());
            assert_eq!(track == Track::Canary, bucket < 1050);
            assert_eq!(version == v('c'), track == Track::Canary);
            canary += usize::from(track == Track::Canary);
            total += 1;
        }
        assert!((150..270).contains(&canary), "{canary} of {total}");
    }

    #[test]
    fn hand_edits_are_reported_with_line_and_field() {
        let good = sample().to_toml();
        let cases = [
            (
                good.replace("format = 1", "format = 3"),
                "format",
                "upgrade",
            ),
            (
                good.replace("canary_weight = 10.5", "canary_weight = 100.0"),
                "prompts.\"support/triage\".canary_weight",
                "below 100%",
            ),
            (
                good.replace("canary_weight = 10.5\n", ""),
                "prompts.\"support/triage\".canary_weight",
                "needs a `canary_weight`",
            ),
            (
                good.replacen(&"d".repeat(64), "xyz", 1),
                "prompts.\"docs/summarize\".active",
                "not a full version",
            ),
            (
                good.replace(
                    "[prompts.\"docs/summarize\"]",
                    "[prompts.\"Docs/Summarize\"]",
                ),
                "prompts.\"Docs/Summarize\"",
                "not a prompt name",
            ),
            (
                good.replace("active = \"sha256:dd", "actve = \"sha256:dd"),
                "prompts.docs/summarize.actve",
                "unknown field",
            ),
        ];
        for (text, field, message) in cases {
            let error = State::parse("promptctl/production@abc1234:state.toml", &text).unwrap_err();
            assert_eq!(error.location.field.as_deref(), Some(field), "{error}");
            assert!(error.to_string().contains(message), "{error}");
            assert!(error.location.line.is_some(), "{error}");
            assert!(
                error
                    .to_string()
                    .starts_with("promptctl/production@abc1234:state.toml:")
            );
        }
    }
}
