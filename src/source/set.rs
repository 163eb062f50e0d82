//! A parsed source: every prompt of a snapshot, valid or not.

use std::collections::BTreeMap;

use super::{RevisionSpec, Snapshot, SourceError};
use crate::prompt::{PartialIndex, Prompt, PromptError, PromptName};

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
        let folder = snapshot.folder().to_owned();
        let defaults = snapshot.config.prompt_defaults();
        let partials = PartialIndex::new(&folder, snapshot.partial_files);
        let files: Vec<_> = snapshot.prompt_files.into_iter().collect();
        let parse = |(name, text): &(PromptName, std::sync::Arc<str>)| {
            let path = format!("{folder}/{}", name.file_path());
            let parsed = Prompt::parse(name.clone(), &path, text, &defaults, &partials);
            (name.clone(), parsed)
        };
        let prompts = crate::parallel::map(&files, parse).into_iter().collect();
        PromptSet {
            spec: snapshot.spec,
            commit: snapshot.commit,
            folder,
            partials,
            prompts,
            problems: snapshot.problems,
        }
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
                location: crate::location::Location::file(name),
                name: name.to_owned(),
                reason,
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
