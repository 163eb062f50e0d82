//! Building a snapshot: loading the versions it serves, each once, on every core, reusing
//! what the previous snapshot serves, and isolating a version that fails to its prompt.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use super::error::SnapshotError;
use super::loaded::Loaded;
use super::snapshot::{Counters, PERSISTED_FORMAT, Served, Snapshot, SnapshotData};
use crate::prompt::{FormCheck, Prompt, PromptName, Version};
use crate::store::{PromptState, STATE_FILE, State};

impl Snapshot {
    /// Builds a snapshot: parses the state, checks every object against its version and
    /// compiles every template. Nothing of a snapshot that fails is ever served. A version
    /// that `previous` already serves under the same name is taken from it as it is (it was
    /// checked and compiled when it came in), so a swap costs what changed.
    pub fn build(
        data: Arc<SnapshotData>,
        folder: &str,
        counters: &Counters,
        previous: Option<&Snapshot>,
    ) -> Result<Snapshot, SnapshotError> {
        if data.format != PERSISTED_FORMAT {
            return Err(SnapshotError::Format(data.format));
        }
        let shown = format!(
            "promptctl/{}@{}:{STATE_FILE}",
            data.env,
            crate::base::shortid::commit(&data.commit)
        );
        let state = match &data.parsed {
            Some(read) => read.state.clone(),
            None => State::parse(&shown, &data.state)?,
        };
        let mut loader = Loader {
            data: &data,
            shown: &shown,
            folder,
            counters,
            previous,
            loaded: HashMap::new(),
            reused: 0,
        };
        let (kept, changed) = split_unchanged(state, previous);
        loader.load_all(&changed);
        let (served, problems) = loader.serve(changed);
        let kept_versions: usize = kept.iter().map(|(_, s)| s.versions()).sum();
        let (reused, versions) = (
            loader.reused + kept_versions,
            loader.loaded.len() + kept_versions,
        );
        let mut prompts: Vec<(PromptName, Served)> = kept;
        prompts.extend(served);
        // Both parts are in name order: collected, they are merged rather than inserted.
        prompts.sort_by(|a, b| a.0.cmp(&b.0));
        let prompts: BTreeMap<PromptName, Served> = prompts.into_iter().collect();
        Ok(Snapshot {
            env: data.env.clone(),
            commit: data.commit.clone(),
            loaded_at: SystemTime::now(),
            prompts,
            history: data.history.clone(),
            data,
            versions,
            reused,
            problems,
            state_body: OnceLock::new(),
            list_body: OnceLock::new(),
        })
    }
}

/// Splits a state into the prompts `previous` serves with the same pointers and no problem,
/// taken from it whole (a swap after a one-prompt action touches one prompt), and the
/// others, still to load. Both walk the names in order, side by side.
fn split_unchanged(
    state: State,
    previous: Option<&Snapshot>,
) -> (Vec<(PromptName, Served)>, State) {
    let Some(previous) = previous else {
        return (Vec::new(), state);
    };
    let mut kept = Vec::with_capacity(state.prompts.len());
    let mut changed = State::default();
    let mut before = previous.prompts.iter().peekable();
    for (name, pointers) in state.prompts {
        let same = crate::base::sorted::take_at(&mut before, &name, |(at, _)| *at)
            .filter(|(_, served)| served.pointers == pointers)
            .filter(|_| !previous.problems.contains_key(&name));
        match same {
            Some((_, served)) => {
                let served = Served {
                    pointers,
                    active: Arc::clone(&served.active),
                    canary: served.canary.clone(),
                    arms: served.arms.clone(),
                };
                kept.push((name, served));
            }
            None => {
                changed.prompts.insert(name, pointers);
            }
        }
    }
    (kept, changed)
}

/// Loads the versions of one build, each once, reusing the previous snapshot's.
pub(super) struct Loader<'a> {
    pub(super) data: &'a SnapshotData,
    pub(super) shown: &'a str,
    pub(super) folder: &'a str,
    pub(super) counters: &'a Counters,
    pub(super) previous: Option<&'a Snapshot>,
    pub(super) loaded: HashMap<(PromptName, Version), Result<Arc<Loaded>, SnapshotError>>,
    pub(super) reused: usize,
}

impl Loader<'_> {
    /// Loads every version the state serves: those the previous snapshot has under the
    /// same name are taken from it, the others are checked and compiled on every core. A
    /// version that fails is recorded with its error, for its prompt alone.
    pub(super) fn load_all(&mut self, state: &State) {
        let mut new = Vec::new();
        for (name, pointers) in &state.prompts {
            for version in pointers.serving() {
                let key = (name.clone(), version);
                if self.loaded.contains_key(&key) {
                    continue;
                }
                match self.kept_from_previous(name, version) {
                    Some(kept) => {
                        self.reused += 1;
                        self.loaded.insert(key, Ok(kept));
                    }
                    None => new.push(key),
                }
            }
        }
        let built =
            crate::base::parallel::map(&new, |(name, version)| self.load_new(name, *version));
        for (key, one) in new.into_iter().zip(built) {
            self.loaded.insert(key, one);
        }
    }

    /// Each prompt with its loaded versions. A version that failed is isolated to its
    /// prompt: a canary is left out (its keys get the active version), an active version
    /// leaves the prompt out; each is recorded with why, and logged.
    pub(super) fn serve(
        &self,
        state: State,
    ) -> (BTreeMap<PromptName, Served>, BTreeMap<PromptName, String>) {
        let mut prompts = BTreeMap::new();
        let mut problems = BTreeMap::new();
        for (name, pointers) in state.prompts {
            let active = match self.get(&name, pointers.active) {
                Ok(active) => active,
                Err(problem) => {
                    let message = format!(
                        "the active version {} cannot be served: {problem}",
                        pointers.active.short()
                    );
                    tracing::error!(prompt = %name, "{message}");
                    problems.insert(name, message);
                    continue;
                }
            };
            let canary = match &pointers.canary {
                None => None,
                Some(c) => match self.get(&name, c.version) {
                    Ok(canary) => Some(canary),
                    Err(problem) => {
                        let message = format!(
                            "the canary {} cannot be served, so its keys get the active version: {problem}",
                            c.version.short()
                        );
                        tracing::error!(prompt = %name, "{message}");
                        problems.insert(name.clone(), message);
                        None
                    }
                },
            };
            let arms = self.arms(&name, &pointers, &mut problems);
            prompts.insert(
                name,
                Served {
                    pointers,
                    active,
                    canary,
                    arms,
                },
            );
        }
        (prompts, problems)
    }

    /// The experiment's arms, loaded; an arm that failed is left out (its callers get the
    /// active version), recorded with why, and logged.
    fn arms(
        &self,
        name: &PromptName,
        pointers: &PromptState,
        problems: &mut BTreeMap<PromptName, String>,
    ) -> Vec<Option<Arc<Loaded>>> {
        let Some(experiment) = &pointers.experiment else {
            return Vec::new();
        };
        let mut arms = Vec::with_capacity(experiment.arms.len());
        for arm in &experiment.arms {
            match self.get(name, arm.version) {
                Ok(loaded) => arms.push(Some(loaded)),
                Err(problem) => {
                    let message = format!(
                        "arm `{}` ({}) of experiment `{}` cannot be served, so its callers get the active version: {problem}",
                        arm.name,
                        arm.version.short(),
                        experiment.name
                    );
                    tracing::error!(prompt = %name, "{message}");
                    problems.insert(name.clone(), message);
                    arms.push(None);
                }
            }
        }
        arms
    }

    /// Returns a version [`Loader::load_all`] loaded, or why it could not be.
    fn get(&self, name: &PromptName, version: Version) -> Result<Arc<Loaded>, SnapshotError> {
        self.loaded[&(name.clone(), version)].clone()
    }

    fn kept_from_previous(&self, name: &PromptName, version: Version) -> Option<Arc<Loaded>> {
        let served = self.previous?.prompts.get(name)?;
        std::iter::once(&served.active)
            .chain(served.canary.as_ref())
            .chain(served.arms.iter().flatten())
            .find(|loaded| loaded.prompt.version == version)
            .map(Arc::clone)
    }

    fn load_new(&self, name: &PromptName, version: Version) -> Result<Arc<Loaded>, SnapshotError> {
        let shown = self.shown;
        let text = self
            .data
            .objects
            .get(&version)
            .ok_or_else(|| SnapshotError::MissingObject {
                shown: shown.to_owned(),
                version,
            })?;
        // Errors name the version's own object, not the state file.
        let object = format!(
            "{}:{}",
            shown.trim_end_matches(STATE_FILE).trim_end_matches(':'),
            crate::store::object_path(&version)
        );
        // A kept copy this build marked was found canonical by it when kept.
        let check = if self.data.compiled {
            FormCheck::HashOnly
        } else {
            FormCheck::Canonical
        };
        let prompt = Prompt::read_frozen(
            name.clone(),
            &object,
            self.folder,
            text.as_bytes(),
            version,
            check,
        )?;
        if !self.data.compiled {
            prompt.compile()?;
        }
        let resolves = self.counters.for_version(name.as_str(), version);
        Ok(Arc::new(Loaded::new(prompt, resolves)))
    }
}
