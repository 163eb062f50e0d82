//! The release state of one environment: the pointers of every prompt (active, canary,
//! earlier versions, rollout plan) and how a key resolves against them. Its file form,
//! `state.toml`, is read and written in [`file`].

pub(super) mod cache;
mod experiment_file;
mod file;
mod since;

use std::collections::BTreeMap;

use serde::Serialize;

pub use self::file::StateError;
pub use self::since::ReadState;
use super::bucket::{Weight, bucket};
use super::experiment::Experiment;
use super::plan::Rollout;
use super::rule::{AttrValue, Attributes, Rule, Unevaluable};
use crate::prompt::{PromptName, Version};

/// The newest `format` of `state.toml`: 4 when some prompt runs an experiment; 3 when some
/// canary is limited to a segment (a targeting rule, which a build that does not know it
/// must not ignore); 2 when some prompt has a rollout plan or routes cohorts; 1 otherwise,
/// which older builds read.
pub const STATE_FORMAT: i64 = 4;

/// The format of states with a segment and no experiment.
pub(crate) const SEGMENT_FORMAT: i64 = 3;

/// The format of states with plans or cohorts and no segment.
pub(crate) const COHORT_FORMAT: i64 = 2;

/// The format of states that use nothing format 2 added.
pub(crate) const PLAIN_FORMAT: i64 = 1;

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
    /// The experiment running on this prompt, if any (never beside a canary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Experiment>,
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
    /// Only callers this rule matches are considered for the canary; the others, and those
    /// it cannot be evaluated for, get the active version.
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub segment: Option<Rule>,
}

impl Canary {
    /// A canary on a share of the buckets.
    pub fn weighted(version: Version, weight: Weight) -> Self {
        Canary {
            version,
            weight: Some(weight),
            cohorts: Vec::new(),
            segment: None,
        }
    }

    /// Tells whether a caller in `bucket` with `attributes` is on the canary (in the
    /// segment, when there is one, and in the weight's buckets or one of the cohorts, the
    /// `cohort` attribute), and what decided: a rule (the segment left the caller out, or
    /// its cohort is the canary's) or the bucket. `Err` when the segment cannot be
    /// evaluated for the caller.
    pub fn decide(
        &self,
        bucket: u16,
        attributes: &Attributes,
    ) -> Result<(bool, Reason), Unevaluable> {
        if let Some(segment) = &self.segment
            && !segment.matches(attributes)?
        {
            return Ok((false, Reason::Targeting));
        }
        let cohort = match attributes.get("cohort") {
            Some(AttrValue::Text(cohort)) => Some(cohort.as_str()),
            _ => None,
        };
        if cohort.is_some_and(|c| self.cohorts.iter().any(|k| k == c)) {
            return Ok((true, Reason::Targeting));
        }
        Ok((self.weight.is_some_and(|w| w.covers(bucket)), Reason::Split))
    }

    /// Who is on the canary, in words: `10%`, `cohort internal`, `cohorts internal, beta + 5%`.
    pub fn describe(&self) -> String {
        let cohorts = match self.cohorts.as_slice() {
            [] => None,
            [one] => Some(format!("cohort {one}")),
            many => Some(format!("cohorts {}", many.join(", "))),
        };
        let who = match (cohorts, self.weight) {
            (Some(c), Some(w)) => format!("{c} + {w}"),
            (Some(c), None) => c,
            (None, Some(w)) => w.to_string(),
            (None, None) => "nobody".into(),
        };
        match &self.segment {
            Some(segment) => format!("{who} where {segment}"),
            None => who,
        }
    }
}

/// Where a caller is routed, what decided it, and why a segment could not be evaluated,
/// if so.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub version: Version,
    pub track: Track,
    pub bucket: u16,
    pub reason: Reason,
    pub fallback: Option<Unevaluable>,
}

/// What decided a caller's version, in OpenFeature's words (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Nothing to decide: the prompt has one version (`STATIC`).
    Static,
    /// A segment could not be evaluated for the caller, who gets active (`DEFAULT`).
    Default,
    /// A rule decided: a segment left the caller out, or its cohort is the canary's
    /// (`TARGETING_MATCH`).
    Targeting,
    /// The caller's bucket or experiment unit decided (`SPLIT`).
    Split,
}

impl Reason {
    /// The OpenFeature reason.
    pub fn as_openfeature(self) -> &'static str {
        match self {
            Reason::Static => "STATIC",
            Reason::Default => "DEFAULT",
            Reason::Targeting => "TARGETING_MATCH",
            Reason::Split => "SPLIT",
        }
    }
}

/// Which pointer a key resolved to: active, the canary, or an arm of the experiment (by
/// its index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Active,
    Canary,
    Experiment(u8),
}

impl Track {
    /// The track as a word: `active`, `canary` or `experiment`.
    pub fn as_str(self) -> &'static str {
        match self {
            Track::Active => "active",
            Track::Canary => "canary",
            Track::Experiment(_) => "experiment",
        }
    }

    /// The arm's index, on an experiment's track.
    pub fn arm(self) -> Option<usize> {
        match self {
            Track::Experiment(arm) => Some(usize::from(arm)),
            _ => None,
        }
    }
}

impl Serialize for Track {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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
            experiment: None,
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
        let attributes = cohort
            .map(|c| [("cohort".to_owned(), AttrValue::Text(c.to_owned()))].into())
            .unwrap_or_default();
        let routed = self.route(name, key, &attributes);
        (routed.version, routed.track, routed.bucket)
    }

    /// Routes a caller with `attributes` (docs/bucketing.md): the canary when it covers
    /// the caller, else the active version, and why the canary's segment could not be
    /// evaluated when it could not (the caller then gets active, and the server counts it).
    pub fn route(&self, name: &str, key: &str, attributes: &Attributes) -> Routed {
        let bucket = bucket(name, key);
        if let Some(experiment) = &self.experiment {
            return self.route_experiment(experiment, key, attributes, bucket);
        }
        let (on_canary, reason, fallback) = match &self.canary {
            None => (None, Reason::Static, None),
            Some(canary) => match canary.decide(bucket, attributes) {
                Ok((covered, reason)) => (covered.then_some(canary.version), reason, None),
                Err(why) => (None, Reason::Default, Some(why)),
            },
        };
        match on_canary {
            Some(version) => Routed {
                version,
                track: Track::Canary,
                bucket,
                reason,
                fallback,
            },
            None => self.on_active(bucket, reason, fallback),
        }
    }

    fn on_active(&self, bucket: u16, reason: Reason, fallback: Option<Unevaluable>) -> Routed {
        Routed {
            version: self.active,
            track: Track::Active,
            bucket,
            reason,
            fallback,
        }
    }

    /// Routes a caller of a prompt that runs an experiment: its arm when it takes part,
    /// else the active version (with why, when the segment cannot be evaluated for it).
    fn route_experiment(
        &self,
        experiment: &Experiment,
        key: &str,
        attributes: &Attributes,
        bucket: u16,
    ) -> Routed {
        match experiment.arm_for(key, attributes) {
            Ok(Some(arm)) => Routed {
                version: experiment.arms[arm].version,
                // At most 8 arms.
                track: Track::Experiment(arm as u8),
                bucket,
                reason: Reason::Split,
                fallback: None,
            },
            Ok(None) => self.on_active(bucket, Reason::Targeting, None),
            Err(why) => self.on_active(bucket, Reason::Default, Some(why)),
        }
    }

    /// Tells whether this prompt runs an experiment (format 4).
    pub(crate) fn needs_format_4(&self) -> bool {
        self.experiment.is_some()
    }

    /// Tells whether this prompt's canary is limited to a segment (format 3).
    pub(crate) fn needs_format_3(&self) -> bool {
        self.canary.as_ref().is_some_and(|c| c.segment.is_some())
    }

    /// Tells whether this prompt uses what format 2 added: plans, cohorts, weightless canaries.
    pub(crate) fn needs_format_2(&self) -> bool {
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
        self.serving().chain(self.previous.iter().copied())
    }

    /// Returns every version some caller may get: active, the canary, each arm (a version
    /// may come more than once).
    pub fn serving(&self) -> impl Iterator<Item = Version> + '_ {
        let arms = self.experiment.iter().flat_map(|e| e.arms.iter());
        std::iter::once(self.active)
            .chain(self.canary.as_ref().map(|c| c.version))
            .chain(arms.map(|arm| arm.version))
    }
}

impl State {
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
    use crate::store::plan::{Gates, Stage};

    pub(super) fn v(byte: char) -> Version {
        format!("sha256:{}", byte.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    pub(super) fn sample() -> State {
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

    pub(super) fn with_rollout() -> State {
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
            segment: None,
        });
        triage.rollout = Some(rollout);
        state
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
}
