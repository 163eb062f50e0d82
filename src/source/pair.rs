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
    // the compared prompts name are read, and only those a shared folder holds are listed.
    let named = named_files(&mut old, &mut new, &candidates)?;
    let select = |relative: &str| {
        candidates.contains(relative)
            || if is_schema_file(relative) {
                named.contains(relative)
            } else {
                is_partial(relative)
            }
    };
    share_blobs(&mut old, &mut new, select)?;
    let cache = new.repo.as_ref().or(old.repo.as_ref());
    let cache = cache.map(|repo| DraftCache::open(repo.path()));
    let (from, to) = pair_sets(&old, &new, &select, cache.as_ref())?;
    // A name the scan could not see (written with escapes) is a file missed: list and read
    // every partial and schema file, as before there was a scan.
    if misses_a_file(&from, &old) || misses_a_file(&to, &new) {
        super::git::list_shared_partials(&mut old, &mut new)?;
        let every = |relative: &str| is_partial(relative) || candidates.contains(relative);
        let (from, to) = pair_sets(&old, &new, &every, cache.as_ref())?;
        cache.into_iter().for_each(DraftCache::save);
        return Ok(SourcePair { from, to });
    }
    cache.into_iter().for_each(DraftCache::save);
    Ok(SourcePair { from, to })
}

/// The selected files of both listings, parsed side by side through the draft cache.
fn pair_sets(
    old: &Listing,
    new: &Listing,
    select: &dyn Fn(&str) -> bool,
    cache: Option<&DraftCache>,
) -> Result<(PromptSet, PromptSet), SourceError> {
    let (old, new) = (old.snapshot(select)?, new.snapshot(select)?);
    Ok(PromptSet::pair_from_snapshots(old, new, cache))
}

fn is_schema_file(relative: &str) -> bool {
    relative.ends_with(crate::prompt::SCHEMA_FILE_SUFFIX)
}

/// The partial and schema files the candidate prompts' texts name, on either side, and
/// those the partials they name name in turn. The texts read are kept for the snapshots; a
/// named file in a folder both sides share is looked up there and listed on both.
fn named_files(
    old: &mut Listing,
    new: &mut Listing,
    candidates: &BTreeSet<String>,
) -> Result<BTreeSet<String>, SourceError> {
    let mut named = BTreeSet::new();
    let files: Vec<&str> = candidates.iter().map(String::as_str).collect();
    for listing in [&mut *old, &mut *new] {
        for (file, bytes) in files.iter().zip(listing.read_files(&files)?) {
            let Some(bytes) = bytes else { continue };
            named.extend(super::mentions::file_names(&bytes));
            listing.keep_bytes(file, bytes);
        }
    }
    list_shared_named(old, new, &mut named)?;
    Ok(named)
}

/// Lists on both sides each file of `named` that only a shared folder holds, and adds the
/// names a partial listed so names, until none is new.
fn list_shared_named(
    old: &mut Listing,
    new: &mut Listing,
    named: &mut BTreeSet<String>,
) -> Result<(), SourceError> {
    let Some(repo) = new.repo.clone().filter(|_| !new.shared.is_empty()) else {
        return Ok(());
    };
    let mut shared = super::git::SharedFolders::of(new, &repo);
    let mut queue: Vec<String> = named.iter().cloned().collect();
    while let Some(name) = queue.pop() {
        if old.files.contains_key(&name) || new.files.contains_key(&name) {
            continue;
        }
        let Some(entry) = shared.file(&name)? else {
            continue;
        };
        new.files.insert(name.clone(), entry.clone());
        old.files.insert(name.clone(), entry);
        if !name.ends_with(".j2") {
            continue;
        }
        let Some(bytes) = new.bytes(&name)? else {
            continue;
        };
        let more = super::mentions::file_names(&bytes).filter(|more| named.insert(more.clone()));
        queue.extend(more.collect::<Vec<_>>());
        old.keep_bytes(&name, bytes.clone());
        new.keep_bytes(&name, bytes);
    }
    Ok(())
}

/// Tells whether a prompt of `set` names a file the set was not given that the source may
/// have: a schema file the listing has, or any file at all while the partials of the shared
/// folders are not listed (they hold it, or it is missing and its message suggests the
/// names they hold).
fn misses_a_file(set: &PromptSet, listing: &Listing) -> bool {
    let unlisted = !listing.shared.is_empty() && !listing.shared_partials_listed;
    set.entries().any(|(_, entry)| {
        matches!(
            entry,
            Err(crate::prompt::PromptError::Include {
                name,
                problem: crate::prompt::IncludeProblem::NotFound,
                ..
            }) if unlisted || (is_schema_file(name) && listing.blob_id(name).is_some())
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
    // A partial of a shared folder may name a changed one.
    super::git::list_shared_partials(old, new)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository of `files` committed, then `changes` committed on top of it.
    fn two_commits(files: &[(&str, &str)], changes: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let signature = git2::Signature::now("t", "t@example.com").unwrap();
        let mut parent = None;
        for step in [files, changes] {
            let mut index = repo.index().unwrap();
            for (path, text) in step {
                let full = dir.path().join(path);
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(&full, text).unwrap();
                index.add_path(std::path::Path::new(path)).unwrap();
            }
            index.write().unwrap();
            let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
            let parents: Vec<git2::Commit> = parent
                .iter()
                .map(|id| repo.find_commit(*id).unwrap())
                .collect();
            let parents: Vec<&git2::Commit> = parents.iter().collect();
            let id = repo.commit(
                Some("HEAD"),
                &signature,
                &signature,
                "step",
                &tree,
                &parents,
            );
            parent = Some(id.unwrap());
        }
        dir
    }

    /// The project in `dir` and the listings of `HEAD~1` and `HEAD`, side by side.
    fn listed_pair(dir: &tempfile::TempDir) -> (Project, (Listing, Listing)) {
        let project = Project::open(dir.path()).unwrap();
        let listings =
            super::super::git::list_pair(&project, ("HEAD~1", &parent()), ("HEAD", &head()))
                .unwrap();
        (project, listings)
    }

    fn parent() -> RevisionSpec {
        RevisionSpec::Git("HEAD~1".into())
    }

    fn head() -> RevisionSpec {
        RevisionSpec::Git("HEAD".into())
    }

    fn including(partial: &str) -> String {
        format!("[[messages]]\nrole = \"user\"\ncontent = 'Hi {{% include \"{partial}\" %}}'\n")
    }

    /// A file is found in a shared folder by its path as a walk would find it: below it, at
    /// any depth; never through a hidden or `..` segment, a folder, or a folder not shared.
    #[test]
    fn a_shared_folder_finds_files_as_a_walk_would() {
        let files = [
            ("promptctl.toml", "[defaults]\nmodel = \"m\"\n"),
            ("prompts/a/b/x.j2", "x"),
            ("prompts/a/.h.j2", "hidden"),
            ("prompts/t/p.toml", &*including("a/b/x.j2")),
        ];
        let changed = [(
            "prompts/t/p.toml",
            &*including("a/b/x.j2").replace("Hi", "Hey"),
        )];
        let dir = two_commits(&files, &changed);
        let (_, (_, new)) = listed_pair(&dir);
        let repo = new.repo.clone().unwrap();
        let mut shared = super::super::git::SharedFolders::of(&new, &repo);
        let found = |shared: &mut super::super::git::SharedFolders, name| {
            shared.file(name).unwrap().and_then(|entry| entry.blob_id())
        };
        assert_eq!(
            found(&mut shared, "a/b/x.j2"),
            Some(git2::Oid::hash_object(git2::ObjectType::Blob, b"x").unwrap())
        );
        for absent in [
            "a/.h.j2",
            "a/b/../b/x.j2",
            "a/b",
            "a/b/y.j2",
            "t/p.toml",
            "x.j2",
            "b/x.j2",
        ] {
            assert_eq!(found(&mut shared, absent), None, "{absent}");
        }
    }

    /// Seen: a `diff` of 20 changed prompts read the tree of every one of a repository's 40
    /// folders to list their partials (a sixth of its instructions). A folder both sides
    /// share is now read only for the files the changed prompts name, and what they name
    /// in turn; the sets parsed are the same.
    #[test]
    fn a_shared_folder_lists_only_the_files_the_changed_prompts_name() {
        let files = [
            ("promptctl.toml", "[defaults]\nmodel = \"m\"\n"),
            ("prompts/team/a.toml", &*including("partials/x.j2")),
            ("prompts/partials/x.j2", "x {% include \"common/y.j2\" %}"),
            ("prompts/partials/unused.j2", "never named"),
            ("prompts/common/y.j2", "y"),
            ("prompts/common/z.j2", "z"),
            ("prompts/other/b.toml", &*including("common/z.j2")),
        ];
        let changed = [(
            "prompts/team/a.toml",
            &*including("partials/x.j2").replace("Hi", "Hello"),
        )];
        let dir = two_commits(&files, &changed);
        let (project, (mut old, mut new)) = listed_pair(&dir);
        let (from, to) = (parent(), head());
        let shared: Vec<&str> = new.shared.iter().map(|(dir, _)| dir.as_str()).collect();
        assert_eq!(shared, ["common/", "other/", "partials/"]);
        let candidates = changed_prompt_files(&mut old, &mut new).unwrap();
        assert_eq!(candidates.iter().collect::<Vec<_>>(), ["team/a.toml"]);
        named_files(&mut old, &mut new, &candidates).unwrap();
        for listing in [&old, &new] {
            let listed: Vec<&str> = listing.files.keys().map(String::as_str).collect();
            assert_eq!(listed, ["common/y.j2", "partials/x.j2", "team/a.toml"]);
        }

        let pair = load_pair(&project, &from, &to, &[]).unwrap();
        let whole = |spec| crate::source::load(&project, spec).unwrap();
        for (set, spec) in [(&pair.from, &from), (&pair.to, &to)] {
            let (prompt, expected) = (set.get("team/a").unwrap(), whole(spec));
            assert_eq!(prompt.version, expected.get("team/a").unwrap().version);
        }
    }
}
