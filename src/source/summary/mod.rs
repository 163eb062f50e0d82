//! Summaries: each prompt's name, version, provider, model and description, which is all
//! `list` shows. They are kept in a cache beside the repository (`.git/promptctl-summaries`)
//! keyed by what a version is made of, so a listing of a large repository parses only the
//! prompts that changed since the last one: a git revision is then read from its tree alone,
//! and a working tree costs reading and hashing its files, as `git status` does.
//!
//! The key of a prompt is the SHA-256 of this build's version, the project's prompt defaults,
//! the prompts folder, the blob id of every partial of the source, the prompt's path and its
//! blob id. A change to any of them is a miss; a prompt that does not parse is never cached.

mod cache;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::listing::Listing;
use super::set::PromptSet;
use super::{FileKind, RevisionSpec, SourceError, classify};
use crate::project::Project;
use crate::prompt::{Prompt, PromptError, PromptName, Version};

use cache::Cache;
pub use cache::SUMMARY_CACHE;

/// What `list` shows of one prompt.
///
/// The provider, the model and the partials are shared (`Arc`): most prompts of a
/// repository have the same ones, and a listing read from the cache holds one copy of each,
/// not 2,000 (allocating and freeing them was a fifth of `list`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub name: PromptName,
    pub path: String,
    pub version: Version,
    pub provider: Arc<str>,
    pub model: Arc<str>,
    pub description: Option<String>,
    /// The partials it includes, directly or not.
    pub partials: Arc<[String]>,
}

impl From<&Prompt> for Summary {
    fn from(p: &Prompt) -> Self {
        Summary {
            name: p.name.clone(),
            path: p.path.clone(),
            version: p.version,
            provider: p.spec.provider.as_str().into(),
            model: p.spec.model.as_str().into(),
            description: p.description.clone(),
            partials: p.partial_names().map(str::to_owned).collect(),
        }
    }
}

/// Every prompt of a source, summarised, and the problems of those that did not parse.
#[derive(Debug)]
pub struct Summaries {
    pub spec: RevisionSpec,
    pub folder: String,
    pub prompts: Vec<Summary>,
    pub problems: Vec<PromptError>,
    /// The prompts whose file is there but does not parse.
    pub broken: Vec<PromptName>,
    /// How many prompts were parsed (the others came from the cache).
    pub parsed: usize,
}

/// Summarises every prompt of a revision spec, parsing only what the cache does not know.
pub fn summaries(project: &Project, spec: &RevisionSpec) -> Result<Summaries, SourceError> {
    let (RevisionSpec::Worktree | RevisionSpec::Git(_)) = spec else {
        let set = super::load(project, spec)?;
        return Ok(from_set(&set));
    };
    let mut listing = super::list(project, spec)?;
    super::git::expand(&mut listing)?;
    // The listing has opened the repository already (for its tree, or for the index).
    let cache_path = listing
        .repo
        .as_ref()
        .map(|repo| repo.path().join(SUMMARY_CACHE));
    let mut cache = cache_path.as_deref().map(Cache::read).unwrap_or_default();
    let context = context_key(&listing);
    let mut prompts = Vec::with_capacity(listing.files.len());
    // The prompt files the cache does not know (with their key) and the links: only they
    // are read; most listings have none.
    let mut keys: HashMap<&str, String> = HashMap::new();
    let mut links = HashSet::new();
    for (relative, entry) in &listing.files {
        let Some(FileKind::Prompt(_)) = classify(relative) else {
            continue;
        };
        let Some(id) = entry.blob_id() else {
            links.insert(relative.as_str());
            continue;
        };
        let key = super::drafts::file_key(&context, relative, id);
        match cache.take(&key) {
            Some(summary) => prompts.push(summary),
            None => {
                keys.insert(relative, key);
            }
        }
    }
    let snapshot = listing.snapshot(|relative| match classify(relative) {
        Some(FileKind::Prompt(_)) => keys.contains_key(relative) || links.contains(relative),
        _ => true,
    })?;
    let set = PromptSet::from_snapshot(snapshot);
    let parsed = set.len();
    let mut new = Vec::new();
    for prompt in set.prompts() {
        let summary = Summary::from(prompt);
        if let Some(key) = keys.get(prompt.name.file_path().as_str()) {
            new.push((key.clone(), summary.clone()));
        }
        prompts.push(summary);
    }
    prompts.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(path) = &cache_path
        && !new.is_empty()
    {
        cache.write(path, &new);
    }
    Ok(Summaries {
        spec: spec.clone(),
        folder: set.folder.clone(),
        prompts,
        problems: distinct(set.errors().cloned().chain(set.problems().iter().cloned())),
        broken: broken_names(&set),
        parsed,
    })
}

fn from_set(set: &PromptSet) -> Summaries {
    Summaries {
        spec: set.spec.clone(),
        folder: set.folder.clone(),
        prompts: set.prompts().map(Summary::from).collect(),
        problems: set.errors().cloned().collect(),
        broken: broken_names(set),
        parsed: set.len(),
    }
}

fn broken_names(set: &PromptSet) -> Vec<PromptName> {
    set.entries()
        .filter(|(_, entry)| entry.is_err())
        .map(|(name, _)| name.clone())
        .collect()
}

/// The problems in their order, each once: a file whose name is invalid is both a problem
/// of the set and the error of its entry.
fn distinct(problems: impl Iterator<Item = PromptError>) -> Vec<PromptError> {
    let mut seen = std::collections::HashSet::new();
    problems
        .filter(|problem| seen.insert(problem.to_string()))
        .collect()
}

/// What every prompt's version depends on besides its own file: what its draft depends on,
/// and every partial of the source.
fn context_key(listing: &Listing) -> Sha256 {
    let mut hasher = super::drafts::settings_key(&listing.config);
    for relative in listing.files.keys() {
        if let Some(FileKind::Partial) = classify(relative) {
            hasher.update([0]);
            hasher.update(relative);
            hasher.update([0]);
            match listing.blob_id(relative) {
                Some(id) => hasher.update(id.as_bytes()),
                None => hasher.update(b"link"),
            }
        }
    }
    hasher
}
