//! `state.toml`: the pointers of every prompt of one environment, parsed strictly and
//! written in one canonical layout.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::bucket::{Weight, bucket};
use crate::location::Location;
use crate::prompt::{PromptName, Version};
use crate::tomlfile::{self, line_of};

/// The number written as `format` in `state.toml`.
pub const STATE_FORMAT: i64 = 1;

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
}

/// A version that a share of keys gets instead of the active one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Canary {
    /// The canary version.
    pub version: Version,
    /// The share of keys on it.
    pub weight: Weight,
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
        }
    }

    /// Returns the version and track a key resolves to, with its bucket.
    pub fn resolve(&self, name: &str, key: &str) -> (Version, Track, u16) {
        let bucket = bucket(name, key);
        match self.canary {
            Some(canary) if canary.weight.covers(bucket) => (canary.version, Track::Canary, bucket),
            _ => (self.active, Track::Active, bucket),
        }
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
            .chain(self.canary.map(|c| c.version))
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
    #[serde(default)]
    previous: Vec<Spanned<String>>,
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
        if *raw.format.get_ref() != STATE_FORMAT {
            return Err(at(
                raw.format.span(),
                "format".into(),
                format!(
                    "format {} is not known to this build of promptctl (it reads format {STATE_FORMAT}); upgrade promptctl",
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
            let canary = match (&prompt.canary, &prompt.canary_weight) {
                (None, None) => None,
                (Some(canary), Some(weight)) => {
                    let version = version(canary, "canary")?;
                    if version == active {
                        return Err(at(
                            canary.span(),
                            format!("{field}.canary"),
                            "the canary is the active version".into(),
                        ));
                    }
                    let weight = Weight::from_percent(*weight.get_ref()).map_err(|e| {
                        at(
                            weight.span(),
                            format!("{field}.canary_weight"),
                            e.to_string(),
                        )
                    })?;
                    Some(Canary { version, weight })
                }
                (Some(canary), None) => {
                    return Err(at(
                        canary.span(),
                        format!("{field}.canary_weight"),
                        "a canary needs a `canary_weight`".into(),
                    ));
                }
                (None, Some(weight)) => {
                    return Err(at(
                        weight.span(),
                        format!("{field}.canary"),
                        "`canary_weight` is set without a `canary`".into(),
                    ));
                }
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
                },
            );
        }
        Ok(state)
    }

    /// Writes the state in its canonical layout: the same state always gives the same bytes.
    pub fn to_toml(&self) -> String {
        let mut out = format!("format = {STATE_FORMAT}\n");
        for (name, prompt) in &self.prompts {
            let _ = write!(
                out,
                "\n[prompts.\"{name}\"]\nactive = \"{}\"\n",
                prompt.active
            );
            if let Some(canary) = prompt.canary {
                let _ = write!(
                    out,
                    "canary = \"{}\"\ncanary_weight = {:?}\n",
                    canary.version,
                    canary.weight.percent()
                );
            }
            if !prompt.previous.is_empty() {
                out.push_str("previous = [\n");
                for version in &prompt.previous {
                    let _ = writeln!(out, "  \"{version}\",");
                }
                out.push_str("]\n");
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
        triage.canary = Some(Canary {
            version: v('c'),
            weight: Weight::from_hundredths(1050).unwrap(),
        });
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
                good.replace("format = 1", "format = 2"),
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
