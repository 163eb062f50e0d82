//! A parsed source: every prompt of a snapshot, valid or not.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::drafts::DraftCache;
use super::{RevisionSpec, Snapshot, SourceError};
use crate::prompt::{PartialIndex, Prompt, PromptDefaults, PromptDraft, PromptError, PromptName};

/// Every prompt of one source, each parsed and versioned or with the error that stopped it.
#[derive(Debug)]
pub struct PromptSet {
    /// The spec the prompts were read from.
    pub spec: RevisionSpec,
    /// The commit they were read from, for git revisions.
    pub commit: Option<String>,
    /// The prompts folder as shown in messages.
    pub folder: String,
    /// The partials of the source, scanned once.
    pub partials: PartialIndex,
    prompts: BTreeMap<PromptName, Result<Prompt, PromptError>>,
    problems: Vec<PromptError>,
}

impl PromptSet {
    /// Parses every prompt of a snapshot against the snapshot's partials and defaults.
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        Self::from_drafts(snapshot, Vec::new(), None)
    }

    /// Finishes `drafts` (read back from the draft cache) against the partials of
    /// `snapshot`, and drafts and finishes the prompt files it holds (which the cache did
    /// not have), keeping their drafts in `cache`.
    pub(super) fn from_drafts(
        snapshot: Snapshot,
        drafts: Vec<PromptDraft>,
        cache: Option<&DraftCache>,
    ) -> Self {
        let (side, files) = Side::of(snapshot);
        let jobs: Vec<Result<PromptDraft, (PromptName, Arc<str>)>> = drafts
            .into_iter()
            .map(Ok)
            .chain(files.into_iter().map(Err))
            .collect();
        let parse = |job: Result<PromptDraft, (PromptName, Arc<str>)>| match job {
            Ok(draft) => (draft.name().clone(), draft.finish(&side.partials)),
            Err((name, text)) => {
                let draft = side.draft(cache, &name, &text, false);
                (name, draft.and_then(|d| d.finish(&side.partials)))
            }
        };
        let prompts = crate::base::parallel::map_owned(jobs, parse);
        side.into_set(prompts)
    }

    /// Parses the prompts of two snapshots read for comparison, through `cache`.
    ///
    /// A file with the same text on both sides, read with the same folder and defaults, is
    /// drafted once and finished against each side's partials: only they can make its two
    /// versions differ (a partial reaching 500 prompts costs 500 drafts, not 1,000).
    pub(super) fn pair_from_snapshots(
        old: Snapshot,
        new: Snapshot,
        cache: Option<&DraftCache>,
    ) -> (Self, Self) {
        let (old, old_files) = Side::of(old);
        let (new, new_files) = Side::of(new);
        let same_settings = old.folder == new.folder && old.defaults == new.defaults;
        let jobs = side_by_side(old_files, new_files);
        let parse = |(name, a, b): &PairJob| -> PairParse {
            let shared = same_settings && a.is_some() && a == b;
            if let (true, Some(text)) = (shared, a) {
                return match old.draft(cache, name, text, true) {
                    Ok(draft) => (
                        Some(draft.clone().finish(&old.partials)),
                        Some(draft.finish(&new.partials)),
                    ),
                    Err(error) => (Some(Err(error.clone())), Some(Err(error))),
                };
            }
            let one = |side: &Side, text: &Option<Arc<str>>| {
                let text = text.as_ref()?;
                Some(
                    side.draft(cache, name, text, true)
                        .and_then(|d| d.finish(&side.partials)),
                )
            };
            (one(&old, a), one(&new, b))
        };
        let parsed = crate::base::parallel::map(&jobs, parse);
        let (mut from, mut to) = (Vec::new(), Vec::new());
        for ((name, _, _), (a, b)) in jobs.into_iter().zip(parsed) {
            from.extend(a.map(|a| (name.clone(), a)));
            to.extend(b.map(|b| (name, b)));
        }
        (old.into_set(from), new.into_set(to))
    }

    /// Builds a set from prompts read elsewhere (frozen versions of the release store);
    /// `folder` is the prompts folder partials are shown under.
    pub fn from_prompts(
        spec: RevisionSpec,
        commit: Option<String>,
        folder: &str,
        prompts: Vec<(PromptName, Result<Prompt, PromptError>)>,
    ) -> Self {
        PromptSet {
            spec,
            commit,
            folder: folder.to_owned(),
            partials: PartialIndex::new(folder, Vec::new()),
            prompts: prompts.into_iter().collect(),
            problems: Vec::new(),
        }
    }

    /// Keeps only the prompts whose name passes `keep`.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.prompts.retain(|name, _| keep(name.as_str()));
    }

    /// Returns the valid prompts, by name.
    pub fn prompts(&self) -> impl Iterator<Item = &Prompt> {
        self.prompts.values().filter_map(|p| p.as_ref().ok())
    }

    /// Returns the parse result of one prompt, if the source has a file for it.
    pub fn entry(&self, name: &str) -> Option<&Result<Prompt, PromptError>> {
        self.prompts.get(name)
    }

    /// Returns every prompt name with its parse result.
    pub fn entries(&self) -> impl Iterator<Item = (&PromptName, &Result<Prompt, PromptError>)> {
        self.prompts.iter()
    }

    /// Returns every error: files that could not be taken, then prompts that do not parse.
    pub fn errors(&self) -> impl Iterator<Item = &PromptError> {
        self.problems
            .iter()
            .chain(self.prompts.values().filter_map(|p| p.as_ref().err()))
    }

    /// Returns the files that could not be taken as prompts or partials.
    pub fn problems(&self) -> &[PromptError] {
        &self.problems
    }

    /// Returns all prompts if every file is valid, else the first error.
    pub fn all_valid(&self) -> Result<Vec<&Prompt>, SourceError> {
        if let Some(error) = self.errors().next() {
            return Err(SourceError::Prompt(error.clone()));
        }
        Ok(self.prompts().collect())
    }

    /// Returns one prompt by name, or why it cannot be had.
    pub fn get(&self, name: &str) -> Result<&Prompt, SourceError> {
        let parsed = PromptName::parse(name).map_err(|reason| {
            SourceError::Prompt(PromptError::InvalidName {
                location: crate::base::location::Location::file(name),
                name: name.to_owned(),
                reason: Box::new(reason),
            })
        })?;
        match self.prompts.get(&parsed) {
            Some(Ok(prompt)) => Ok(prompt),
            Some(Err(error)) => Err(SourceError::Prompt(error.clone())),
            None => Err(SourceError::UnknownPrompt {
                name: name.to_owned(),
                spec: self.spec.to_string(),
                similar: self.similar_names(name),
            }),
        }
    }

    /// Returns the number of prompt files, valid or not.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// Tells whether the source has no prompt files.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    fn similar_names(&self, name: &str) -> Vec<String> {
        similar_names(name, self.prompts.keys().map(PromptName::as_str))
    }
}

/// One prompt file as each side of a comparison has it.
type PairJob = (PromptName, Option<Arc<str>>, Option<Arc<str>>);

/// One prompt file parsed on each side that has it.
type PairParse = (
    Option<Result<Prompt, PromptError>>,
    Option<Result<Prompt, PromptError>>,
);

/// Every prompt file of either side, with its text on each: both maps are sorted by name,
/// so they are walked side by side.
fn side_by_side(
    old: BTreeMap<PromptName, Arc<str>>,
    new: BTreeMap<PromptName, Arc<str>>,
) -> Vec<PairJob> {
    let mut jobs: Vec<PairJob> = Vec::with_capacity(old.len().max(new.len()));
    let (mut a, mut b) = (old.into_iter().peekable(), new.into_iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => return jobs,
            (Some((x, _)), Some((y, _))) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
        };
        let job = match order {
            std::cmp::Ordering::Less => a.next().map(|(name, text)| (name, Some(text), None)),
            std::cmp::Ordering::Greater => b.next().map(|(name, text)| (name, None, Some(text))),
            std::cmp::Ordering::Equal => a
                .next()
                .zip(b.next())
                .map(|((name, x), (_, y))| (name, Some(x), Some(y))),
        };
        jobs.extend(job);
    }
}

/// What a snapshot's prompts are parsed with, and what the set keeps of it.
struct Side {
    spec: RevisionSpec,
    commit: Option<String>,
    folder: String,
    defaults: PromptDefaults,
    /// The key of the settings drafts are read with, for the draft cache.
    settings: sha2::Sha256,
    partials: PartialIndex,
    problems: Vec<PromptError>,
    /// The blob ids of the prompt files read from git: their draft cache keys.
    blobs: HashMap<PromptName, git2::Oid>,
}

impl Side {
    fn of(snapshot: Snapshot) -> (Side, BTreeMap<PromptName, Arc<str>>) {
        let folder = snapshot.folder().to_owned();
        let side = Side {
            defaults: snapshot.config.prompt_defaults(),
            settings: super::drafts::settings_key(&snapshot.config),
            partials: PartialIndex::new(&folder, snapshot.partial_files),
            folder,
            spec: snapshot.spec,
            commit: snapshot.commit,
            problems: snapshot.problems,
            blobs: snapshot.prompt_blobs,
        };
        (side, snapshot.prompt_files)
    }

    /// The draft of the prompt file `text` of `name`, through `cache`.
    fn draft(
        &self,
        cache: Option<&DraftCache>,
        name: &PromptName,
        text: &str,
        look_up: bool,
    ) -> Result<PromptDraft, PromptError> {
        let settings = (&self.settings, &self.defaults);
        let file = (name, self.path(name));
        let text = (text, self.blobs.get(name).copied());
        super::drafts::draft(cache, settings, (file.0, &file.1), text, look_up)
    }

    /// The prompt's file as shown to people.
    fn path(&self, name: &PromptName) -> String {
        format!("{}/{}", self.folder, name.file_path())
    }

    fn into_set(self, prompts: Vec<(PromptName, Result<Prompt, PromptError>)>) -> PromptSet {
        PromptSet {
            spec: self.spec,
            commit: self.commit,
            folder: self.folder,
            partials: self.partials,
            prompts: prompts.into_iter().collect(),
            problems: self.problems,
        }
    }
}

/// Names that look like `name`: same last segment, or one containing the other.
pub(super) fn similar_names<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let last = name.rsplit('/').next().unwrap_or(name);
    candidates
        .filter(|candidate| {
            let candidate_last = candidate.rsplit('/').next().unwrap_or(candidate);
            candidate_last == last || candidate.contains(name) || name.contains(candidate)
        })
        .take(3)
        .map(str::to_owned)
        .collect()
}
