//! Release pointers and stored versions as sources: frozen versions read from the release
//! branch of an environment.

use super::{Pointer, PromptSet, RevisionSpec, SourceError};
use crate::project::Project;
use crate::prompt::{Prompt, PromptError, PromptName, VersionPrefix};
use crate::store::{ReleaseTree, Store, StoreError};

/// Loads the versions a pointer (`active`, `canary`) of `env` gives every released prompt.
/// `canary` gives the canary where one is in flight and the active version elsewhere: what
/// a key on the canary track receives.
pub(super) fn load_pointer(
    project: &Project,
    spec: &RevisionSpec,
    pointer: Pointer,
    env: &str,
) -> Result<PromptSet, SourceError> {
    let store = project.store(env)?;
    let commit = store.tip()?.ok_or_else(|| SourceError::NothingPublished {
        spec: spec.to_string(),
        env: env.to_owned(),
    })?;
    // One tree for the state and every version: its object index is built once.
    let tree = store.tree(commit)?;
    let state = tree.state()?;
    let mut prompts = Vec::new();
    for (name, pointers) in &state.prompts {
        let version = match (pointer, &pointers.canary) {
            (Pointer::Canary, Some(canary)) => canary.version,
            _ => pointers.active,
        };
        prompts.push((name.clone(), frozen(&tree, name, version)?));
    }
    Ok(release_set(project, spec, commit, prompts))
}

fn release_set(
    project: &Project,
    spec: &RevisionSpec,
    commit: git2::Oid,
    prompts: Vec<(PromptName, Result<Prompt, PromptError>)>,
) -> PromptSet {
    PromptSet::from_prompts(
        spec.clone(),
        Some(commit.to_string()),
        &project.config.project.prompts,
        prompts,
    )
}

/// Loads a stored version of the project's environment under the name of every prompt whose
/// pointers (active, canary, earlier actives) refer to it.
pub(super) fn load_version(
    project: &Project,
    spec: &RevisionSpec,
    prefix: &VersionPrefix,
) -> Result<PromptSet, SourceError> {
    let (store, commit, version) = find(project, spec, prefix)?;
    let tree = store.tree(commit)?;
    let state = tree.state()?;
    let mut prompts = Vec::new();
    for (name, pointers) in &state.prompts {
        if pointers.versions().any(|v| v == version) {
            prompts.push((name.clone(), frozen(&tree, name, version)?));
        }
    }
    Ok(release_set(project, spec, commit, prompts))
}

/// Loads a stored version as prompt `name`, whichever prompt it was released for.
pub(super) fn load_version_as(
    project: &Project,
    spec: &RevisionSpec,
    prefix: &VersionPrefix,
    name: &PromptName,
) -> Result<Prompt, SourceError> {
    let (store, commit, version) = find(project, spec, prefix)?;
    Ok(store.prompt(commit, name, version)?)
}

fn find(
    project: &Project,
    spec: &RevisionSpec,
    prefix: &VersionPrefix,
) -> Result<(Store, git2::Oid, crate::prompt::Version), SourceError> {
    let store = project.store(&project.environment)?;
    let commit = store.tip()?.ok_or_else(|| SourceError::NothingPublished {
        spec: spec.to_string(),
        env: project.environment.clone(),
    })?;
    let version = store.find_version(commit, prefix)?;
    Ok((store, commit, version))
}

/// Reads one frozen version; a corrupt object is that prompt's error, not the whole set's.
fn frozen(
    tree: &ReleaseTree<'_>,
    name: &PromptName,
    version: crate::prompt::Version,
) -> Result<Result<Prompt, PromptError>, SourceError> {
    match tree.prompt(name, version) {
        Ok(prompt) => Ok(Ok(prompt)),
        Err(StoreError::CorruptObject(error)) => Ok(Err(error)),
        Err(error) => Err(error.into()),
    }
}
