//! Resolving a prompt name and a key to a version and a track, in process, against one
//! state: the sticky bucketing of docs/bucketing.md with cohorts.

use serde::Serialize;

use super::bucket::random_key;
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
        let pointers = self.state.prompts.get(name)?;
        let drawn;
        let key_text = match key {
            Some(key) => key,
            None => {
                drawn = random_key();
                &drawn
            }
        };
        let (version, track, bucket) = pointers.resolve_for(name, key_text, cohort);
        Some(Resolution {
            key: key.map(str::to_owned),
            version,
            track,
            bucket,
        })
    }

    /// Returns the state resolved against.
    pub fn state(&self) -> &State {
        &self.state
    }
}
