//! Resolving a prompt name and a key to a version and a track, in process, against one
//! state: the sticky bucketing of docs/bucketing.md with cohorts.

use serde::Serialize;

use super::bucket::random_key;
use super::rule::{AttrValue, Attributes};
use super::state::{State, Track};
use crate::prompt::Version;

/// Where one key resolves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolution {
    /// The key, or `None` when a random one was drawn.
    pub key: Option<String>,
    pub version: Version,
    pub track: Track,
    pub bucket: u16,
    /// Why the canary's targeting rule could not be evaluated for the caller, who then
    /// gets the active version; absent when it could (or there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// On an experiment's track: the experiment's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// On an experiment's track: the arm's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
}

/// Resolves prompt names and keys against one state, in process.
#[derive(Debug, Clone)]
pub struct Resolver {
    state: State,
}

impl Resolver {
    /// Wraps a state.
    pub fn new(state: State) -> Self {
        Resolver { state }
    }

    /// The cohorts the canary of `name` routes, if it has a canary.
    pub fn canary_cohorts(&self, name: &str) -> Option<&[String]> {
        let canary = self.state.prompts.get(name)?.canary.as_ref()?;
        Some(&canary.cohorts)
    }

    /// Returns the version and track of `name` for `key` (a random key when `None`), or
    /// `None` when the prompt is not released.
    pub fn resolve(&self, name: &str, key: Option<&str>) -> Option<Resolution> {
        self.resolve_in(name, key, None)
    }

    /// Like [`Resolver::resolve`], for a caller in `cohort`.
    pub fn resolve_in(
        &self,
        name: &str,
        key: Option<&str>,
        cohort: Option<&str>,
    ) -> Option<Resolution> {
        let attributes: Attributes = cohort
            .map(|c| [("cohort".to_owned(), AttrValue::Text(c.to_owned()))].into())
            .unwrap_or_default();
        self.resolve_with(name, key, &attributes)
    }

    /// Like [`Resolver::resolve`], for a caller with `attributes`: its cohort and what a
    /// canary's targeting rule reads (docs/bucketing.md).
    pub fn resolve_with(
        &self,
        name: &str,
        key: Option<&str>,
        attributes: &Attributes,
    ) -> Option<Resolution> {
        let pointers = self.state.prompts.get(name)?;
        let drawn;
        let key_text = match key {
            Some(key) => key,
            None => {
                drawn = random_key();
                &drawn
            }
        };
        let routed = pointers.route(name, key_text, attributes);
        let arm = pointers
            .experiment
            .as_ref()
            .zip(routed.track.arm())
            .map(|(e, arm)| (e.name.clone(), e.arms[arm].name.clone()));
        let (experiment, arm) = arm.unzip();
        Some(Resolution {
            experiment,
            arm,
            key: key.map(str::to_owned),
            version: routed.version,
            track: routed.track,
            bucket: routed.bucket,
            fallback: routed.fallback.map(|why| why.to_string()),
        })
    }

    /// Returns the state resolved against.
    pub fn state(&self) -> &State {
        &self.state
    }
}
