//! Sources: turning a revision spec into the prompts it names.
//!
//! The working tree is read from disk and a git revision through git2, without checking
//! anything out. Both produce a [`Snapshot`] of raw files, which [`PromptSet`] turns into
//! validated prompts with one shared parser. Release pointers (`active`, `canary@ENV`) and
//! stored versions (`sha256:…`) are part of the grammar; they resolve through the release
//! store.

mod drafts;
mod error;
mod git;
mod listing;
mod mentions;
mod named;
mod pair;
mod reach;
mod release;
mod set;
mod spec;
mod summary;
mod worktree;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use drafts::DRAFT_CACHE;
pub use error::SourceError;
pub use pair::{SourcePair, load_pair};
pub use set::PromptSet;
pub use spec::{Pointer, RevisionSpec};
pub use summary::{SUMMARY_CACHE, Summaries, Summary, summaries};

use crate::base::location::Location;
use crate::config::ProjectConfig;
use crate::project::Project;
use crate::prompt::{PromptError, PromptName, check_segments};

/// The raw prompt and partial files of one source, before parsing.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The spec it was read from.
    pub spec: RevisionSpec,
    /// The commit it was read from, for git revisions.
    pub commit: Option<String>,
    /// The project settings that apply (those stored at the revision, when it has them).
    pub config: ProjectConfig,
    /// Prompt files by prompt name.
    pub prompt_files: BTreeMap<PromptName, Arc<str>>,
    /// The git blob ids of the prompt files read from git objects: their draft cache keys,
    /// which other files (read from disk) get by hashing their text.
    pub prompt_blobs: HashMap<PromptName, git2::Oid>,
    /// Partials by name relative to the prompts folder.
    pub partial_files: BTreeMap<String, Arc<str>>,
    /// Files that could not be taken (bad names, links, not UTF-8).
    pub problems: Vec<PromptError>,
}

impl Snapshot {
    fn new(spec: RevisionSpec, config: ProjectConfig) -> Self {
        Snapshot {
            spec,
            commit: None,
            config,
            prompt_files: BTreeMap::new(),
            prompt_blobs: HashMap::new(),
            partial_files: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// Returns the prompts folder as shown in messages (`prompts`).
    pub fn folder(&self) -> &str {
        &self.config.project.prompts
    }

    /// Files a file found at `relative` (below the prompts folder) with its bytes.
    ///
    /// Hidden files and files that are neither prompts nor partials are skipped.
    fn add_file(&mut self, relative: &str, bytes: Vec<u8>, blob: Option<git2::Oid>) {
        let shown = format!("{}/{relative}", self.folder());
        let Some(kind) = classify(relative) else {
            return;
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => Arc::<str>::from(text),
            Err(_) => {
                self.problems.push(PromptError::Invalid {
                    location: Location::file(shown),
                    message: "the file is not UTF-8 text".into(),
                });
                return;
            }
        };
        match kind {
            FileKind::Prompt(stem) => match PromptName::parse(stem) {
                Ok(name) => {
                    if let Some(blob) = blob {
                        self.prompt_blobs.insert(name.clone(), blob);
                    }
                    self.prompt_files.insert(name, text);
                }
                Err(reason) => self.problems.push(PromptError::InvalidName {
                    location: Location::file(shown),
                    name: stem.to_owned(),
                    reason: Box::new(reason),
                }),
            },
            FileKind::Partial => match check_segments(relative) {
                Ok(()) => {
                    self.partial_files.insert(relative.to_owned(), text);
                }
                Err(reason) => self.problems.push(PromptError::InvalidName {
                    location: Location::file(shown),
                    name: relative.to_owned(),
                    reason: Box::new(reason),
                }),
            },
        }
    }

    /// Files a symbolic link: never followed, so a template cannot reach outside the folder.
    fn add_link(&mut self, relative: &str) {
        if classify(relative).is_some() {
            self.problems.push(PromptError::Invalid {
                location: Location::file(format!("{}/{relative}", self.folder())),
                message: "symbolic links are not followed inside the prompts folder; copy the file instead".into(),
            });
        }
    }
}

enum FileKind<'a> {
    Prompt(&'a str),
    Partial,
}

/// Tells whether a path below the prompts folder is one no listing takes: a hidden file or
/// folder on the way (or an empty segment).
fn hidden(relative: &str) -> bool {
    relative
        .split('/')
        .any(|segment| segment.is_empty() || segment.starts_with('.'))
}

fn classify(relative: &str) -> Option<FileKind<'_>> {
    let file_name = relative.rsplit('/').next().unwrap_or(relative);
    if file_name.starts_with('.') {
        return None;
    }
    if let Some(stem) = relative.strip_suffix(".toml") {
        Some(FileKind::Prompt(stem))
    } else if crate::prompt::is_partial_file(relative) {
        Some(FileKind::Partial)
    } else {
        None
    }
}

/// Reads the raw files that a revision spec names (a git revision or the working tree).
pub fn read_snapshot(project: &Project, spec: &RevisionSpec) -> Result<Snapshot, SourceError> {
    list(project, spec)?.snapshot(|_| true)
}

/// Lists the files that a revision spec names, without reading blobs.
fn list(project: &Project, spec: &RevisionSpec) -> Result<listing::Listing, SourceError> {
    match spec {
        RevisionSpec::Worktree => worktree::list(project),
        RevisionSpec::Git(rev) => git::list(project, rev, spec),
        RevisionSpec::Release { .. } | RevisionSpec::Version(_) => Err(SourceError::NotFiles {
            spec: spec.to_string(),
        }),
    }
}

/// Reads and parses every prompt a revision spec names.
///
/// A release pointer gives the frozen versions it points to; a stored version gives that
/// version under the name of every prompt whose pointers refer to it.
pub fn load(project: &Project, spec: &RevisionSpec) -> Result<PromptSet, SourceError> {
    match spec {
        RevisionSpec::Release { pointer, env } => {
            let env = env.as_deref().unwrap_or(&project.environment);
            release::load_pointer(project, spec, *pointer, env)
        }
        RevisionSpec::Version(prefix) => release::load_version(project, spec, prefix),
        RevisionSpec::Worktree | RevisionSpec::Git(_) => load_files(project, spec),
    }
}

/// Reads and parses every prompt of the working tree or a git revision, taking the drafts
/// of unchanged files from the cache without reading them.
fn load_files(project: &Project, spec: &RevisionSpec) -> Result<PromptSet, SourceError> {
    let listing = list(project, spec)?;
    let Some(cache) = listing
        .repo
        .as_ref()
        .map(|r| drafts::DraftCache::open(r.path()))
    else {
        return Ok(PromptSet::from_snapshot(listing.snapshot(|_| true)?));
    };
    let settings = drafts::settings_key(&listing.config);
    let known: Vec<(&str, PromptName, git2::Oid)> = listing
        .files
        .iter()
        .filter_map(|(relative, entry)| {
            let Some(FileKind::Prompt(stem)) = classify(relative) else {
                return None;
            };
            // A file whose name is refused is reported by the snapshot.
            Some((
                relative.as_str(),
                PromptName::parse(stem).ok()?,
                entry.blob_id()?,
            ))
        })
        .collect();
    let found = crate::base::parallel::map(&known, |(_, name, id)| cache.get(&settings, name, *id));
    let cached: std::collections::HashSet<&str> = known
        .iter()
        .zip(&found)
        .filter(|(_, draft)| draft.is_some())
        .map(|((relative, ..), _)| *relative)
        .collect();
    let snapshot = listing.snapshot(|relative| !cached.contains(relative))?;
    let set = PromptSet::from_drafts(
        snapshot,
        found.into_iter().flatten().collect(),
        Some(&cache),
    );
    cache.save();
    Ok(set)
}

/// Reads and parses only the prompts `names` at a revision spec, for commands that act on a
/// few prompts of a large repository: a canary of one prompt among 10,000 parses one, and
/// reads only its file and the partials it reaches. A name the spec does not have is absent
/// from the set.
pub fn load_named(
    project: &Project,
    spec: &RevisionSpec,
    names: &[PromptName],
) -> Result<PromptSet, SourceError> {
    match spec {
        RevisionSpec::Worktree => worktree::load_named(project, names),
        RevisionSpec::Git(rev) => git::load_named(project, rev, spec, names),
        _ => {
            let mut set = load(project, spec)?;
            set.retain(|name| names.iter().any(|n| n.as_str() == name));
            Ok(set)
        }
    }
}

/// The revision a comparison starts from when none is given: the active release of the
/// project's environment once something has been published to it, else `HEAD`.
pub fn default_base(project: &Project) -> RevisionSpec {
    let published = project.repository().ok().is_some_and(|(repo, _)| {
        repo.find_reference(&format!(
            "refs/heads/{}",
            crate::store::branch_name(&project.environment)
        ))
        .is_ok()
    });
    if published {
        RevisionSpec::Release {
            pointer: Pointer::Active,
            env: None,
        }
    } else {
        RevisionSpec::Git("HEAD".into())
    }
}

/// Reads one prompt at a revision spec. A stored version (`sha256:…`) is read as that
/// prompt whichever prompt it was released for.
pub fn load_one(
    project: &Project,
    spec: &RevisionSpec,
    name: &str,
) -> Result<crate::prompt::Prompt, SourceError> {
    if let RevisionSpec::Version(prefix) = spec {
        let name = PromptName::parse(name).map_err(|reason| {
            SourceError::Prompt(PromptError::InvalidName {
                location: Location::file(name),
                name: name.to_owned(),
                reason: Box::new(reason),
            })
        })?;
        return release::load_version_as(project, spec, prefix, &name);
    }
    Ok(load(project, spec)?.get(name)?.clone())
}

/// Parses a revision spec, turning grammar errors into a [`SourceError`].
pub fn parse_spec(spec: &str) -> Result<RevisionSpec, SourceError> {
    spec.parse().map_err(|reason| SourceError::InvalidSpec {
        spec: spec.to_owned(),
        reason,
    })
}
