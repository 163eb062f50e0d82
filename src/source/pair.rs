//! Two sources read for comparison, parsing only the prompts that may differ.
//!
//! Both sides are listed first (for a git revision, from the tree alone). A prompt is parsed
//! only when its file's blob id differs between the sides, or when its text names a partial
//! that changed or that reaches a changed one. Everything else has the same version on both
//! sides by construction, so a commit touching 20 prompts of 2,000 parses 20.

use std::collections::BTreeSet;

use super::drafts::DraftCache;
use super::listing::{FileEntry, Listing};
use super::set::similar_names;
use super::{PromptSet, RevisionSpec, SourceError};
use crate::project::Project;
use crate::prompt::PromptName;

/// The prompts of two sources that may differ; prompts left out are identical on both sides.
#[derive(Debug)]
pub struct SourcePair {
    /// The old side.
    pub from: PromptSet,
    /// The new side.
    pub to: PromptSet,
}

/// Reads the prompts of `from` and `to` that may differ, limited to `names` when given.
///
/// A name that is a prompt on neither side is an error.
pub fn load_pair(
    project: &Project,
    from: &RevisionSpec,
    to: &RevisionSpec,
    names: &[String],
) -> Result<SourcePair, SourceError> {
    if is_release(from) || is_release(to) {
        // Frozen versions have no files to compare: read both sides whole.
        return load_whole(project, from, to, names);
    }
    let (mut old, mut new) = match (from, to) {
        (RevisionSpec::Git(a), RevisionSpec::Git(b)) => {
            super::git::list_pair(project, (a, from), (b, to))?
        }
        _ => (super::list(project, from)?, super::list(project, to)?),
    };
    if !names.is_empty() || !same_settings(&old, &new) {
        super::git::expand(&mut old)?;
        super::git::expand(&mut new)?;
    }
    let wanted = wanted_files(&old, &new, names)?;
    let mut candidates = if same_settings(&old, &new) {
        changed_prompt_files(&mut old, &mut new)?
    } else {
        // Other defaults or another folder can change every version: compare everything.
        prompt_files(&old).chain(prompt_files(&new)).collect()
    };
    if let Some(wanted) = &wanted {
        candidates.retain(|file| wanted.contains(file));
    }
    // Schema files are many in a repository that keeps each contract in a file; only those
    // the compared prompts name are read.
    let schemas = named_schema_files(&mut old, &mut new, &candidates)?;
    let select = |relative: &str| {
        candidates.contains(relative)
            || if is_schema_file(relative) {
                schemas.contains(relative)
            } else {
                is_partial(relative)
            }
    };
    share_blobs(&mut old, &mut new, select)?;
    let cache = new.repo.as_ref().or(old.repo.as_ref());
    let cache = cache.map(|repo| DraftCache::open(repo.path()));
    let pair = |select: &dyn Fn(&str) -> bool| -> Result<(PromptSet, PromptSet), SourceError> {
        let (old, new) = (old.snapshot(select)?, new.snapshot(select)?);
        Ok(PromptSet::pair_from_snapshots(old, new, cache.as_ref()))
    };
    let (from, to) = pair(&select)?;
    // A name the scan could not see (written with escapes) is a schema file missed: read
    // them all, as before there was a scan.
    if misses_a_schema_file(&from, &old) || misses_a_schema_file(&to, &new) {
        let every = |relative: &str| is_partial(relative) || candidates.contains(relative);
        let (from, to) = pair(&every)?;
        cache.into_iter().for_each(DraftCache::save);
        return Ok(SourcePair { from, to });
    }
    cache.into_iter().for_each(DraftCache::save);
    Ok(SourcePair { from, to })
}

fn is_schema_file(relative: &str) -> bool {
    relative.ends_with(crate::prompt::SCHEMA_FILE_SUFFIX)
}

/// The schema files the candidate prompts' texts name, on either side; the texts read are
/// kept for the snapshots.
fn named_schema_files(
    old: &mut Listing,
    new: &mut Listing,
    candidates: &BTreeSet<String>,
) -> Result<BTreeSet<String>, SourceError> {
    let mut named = BTreeSet::new();
    let files: Vec<&str> = candidates.iter().map(String::as_str).collect();
    for listing in [old, new] {
        for (file, bytes) in files.iter().zip(listing.read_files(&files)?) {
            let Some(bytes) = bytes else { continue };
            named.extend(super::mentions::schema_names(&bytes));
            listing.keep_bytes(file, bytes);
        }
    }
    Ok(named)
}

/// Tells whether a prompt of `set` names a schema file the listing has but the set was not
/// given.
fn misses_a_schema_file(set: &PromptSet, listing: &Listing) -> bool {
    set.entries().any(|(_, entry)| {
        matches!(
            entry,
            Err(crate::prompt::PromptError::Include {
                name,
                problem: crate::prompt::IncludeProblem::NotFound,
                ..
            }) if is_schema_file(name) && listing.blob_id(name).is_some()
        )
    })
}

/// Reads once each selected file that both sides have as the same blob, for both snapshots
/// (every partial is read on both sides, for the prompts that include it, and so is a
/// prompt reached through a changed partial).
fn share_blobs(
    old: &mut Listing,
    new: &mut Listing,
    select: impl Fn(&str) -> bool,
) -> Result<(), SourceError> {
    let shared: Vec<String> = old
        .files
        .iter()
        .filter(|(file, entry)| {
            select(file)
                && matches!(entry, FileEntry::Blob(_))
                && new.files.get(*file).and_then(FileEntry::blob_id) == entry.blob_id()
        })
        .map(|(file, _)| file.clone())
        .collect();
    let contents = old.read_files(&shared.iter().map(String::as_str).collect::<Vec<_>>())?;
    for (file, bytes) in shared.iter().zip(contents) {
        if let Some(bytes) = bytes {
            new.keep_bytes(file, bytes.clone());
            old.keep_bytes(file, bytes);
        }
    }
    Ok(())
}

fn is_release(spec: &RevisionSpec) -> bool {
    matches!(
        spec,
        RevisionSpec::Release { .. } | RevisionSpec::Version(_)
    )
}

/// Reads both sides completely, keeping only `names` when given.
fn load_whole(
    project: &Project,
    from: &RevisionSpec,
    to: &RevisionSpec,
    names: &[String],
) -> Result<SourcePair, SourceError> {
    let mut pair = SourcePair {
        from: super::load(project, from)?,
        to: super::load(project, to)?,
    };
    if !names.is_empty() {
        for name in names {
            let known = |set: &PromptSet| set.entry(name).is_some();
            if !known(&pair.from) && !known(&pair.to) {
                let all: BTreeSet<&str> = pair
                    .from
                    .entries()
                    .chain(pair.to.entries())
                    .map(|(n, _)| n.as_str())
                    .collect();
                return Err(SourceError::UnknownPromptInPair {
                    name: name.clone(),
                    from: from.to_string(),
                    to: to.to_string(),
                    similar: similar_names(name, all.into_iter()),
                });
            }
        }
        pair.from.retain(|n| names.iter().any(|w| w == n));
        pair.to.retain(|n| names.iter().any(|w| w == n));
    }
    Ok(pair)
}

fn is_partial(relative: &str) -> bool {
    crate::prompt::is_partial_file(relative)
}

fn prompt_files(listing: &Listing) -> impl Iterator<Item = String> + '_ {
    listing
        .files
        .keys()
        .filter(|f| f.ends_with(".toml"))
        .cloned()
}

/// Tells whether both sides read prompts with the same folder and defaults.
fn same_settings(old: &Listing, new: &Listing) -> bool {
    old.config.project.prompts == new.config.project.prompts
        && old.config.prompt_defaults() == new.config.prompt_defaults()
}

/// Maps the names asked for to their files, refusing names that are on neither side.
fn wanted_files(
    old: &Listing,
    new: &Listing,
    names: &[String],
) -> Result<Option<BTreeSet<String>>, SourceError> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut files = BTreeSet::new();
    for name in names {
        let parsed = PromptName::parse(name).map_err(|reason| {
            SourceError::Prompt(crate::prompt::PromptError::InvalidName {
                location: crate::base::location::Location::file(name),
                name: name.clone(),
                reason: Box::new(reason),
            })
        })?;
        let file = parsed.file_path();
        if !old.files.contains_key(&file) && !new.files.contains_key(&file) {
            let known: BTreeSet<String> = prompt_files(old)
                .chain(prompt_files(new))
                .map(|f| f.trim_end_matches(".toml").to_owned())
                .collect();
            return Err(SourceError::UnknownPromptInPair {
                name: name.clone(),
                from: old.spec.to_string(),
                to: new.spec.to_string(),
                similar: similar_names(name, known.iter().map(String::as_str)),
            });
        }
        files.insert(file);
    }
    Ok(Some(files))
}

/// Returns the prompt files that may have another version on the other side.
fn changed_prompt_files(
    old: &mut Listing,
    new: &mut Listing,
) -> Result<BTreeSet<String>, SourceError> {
    let changed = differing_files(old, new);
    let mut prompts: BTreeSet<String> = changed
        .iter()
        .filter(|f| !is_partial(f))
        .map(|f| f.to_string())
        .collect();
    let changed_partials: Vec<String> = changed
        .iter()
        .filter(|f| is_partial(f))
        .map(|f| f.to_string())
        .collect();
    if changed_partials.is_empty() {
        return Ok(prompts);
    }
    super::reach::prompts_reaching(old, new, changed_partials, &mut prompts)?;
    Ok(prompts)
}

/// Returns the files whose blob differs between the sides, or that are not a blob on the old
/// side. Both listings are sorted by path, so they are walked side by side, not looked up.
fn differing_files<'a>(old: &'a Listing, new: &'a Listing) -> Vec<&'a String> {
    use std::cmp::Ordering;
    let mut changed = Vec::new();
    let (mut a, mut b) = (old.files.iter().peekable(), new.files.iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => return changed,
            (Some((x, _)), Some((y, _))) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
        };
        match order {
            // On one side only.
            Ordering::Less => changed.extend(a.next().map(|(path, _)| path)),
            Ordering::Greater => changed.extend(b.next().map(|(path, _)| path)),
            Ordering::Equal => {
                let (Some((path, x)), Some((_, y))) = (a.next(), b.next()) else {
                    return changed;
                };
                let (x, y) = (x.blob_id(), y.blob_id());
                if x.is_none() || x != y {
                    changed.push(path);
                }
            }
        }
    }
}
