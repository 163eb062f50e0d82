//! Reading some prompts of a source by name, with only the partials they reach: `status
//! NAME` and `canary NAME 10%` cost what the named prompts cost, not what the repository
//! holds (no walk of the prompts folder, no read of the git index).
//!
//! Which partials a prompt reaches is known only once its file is parsed, so the named
//! files are read, parsed, and each partial a parse misses is read with every partial it
//! names in turn; then they are parsed again. A partial that does not exist is looked up
//! once, so this ends; the result is what parsing the whole source gives for those prompts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::SourceError;
use super::listing::{FileEntry, Listing};
use super::set::PromptSet;
use crate::prompt::{IncludeProblem, PromptError, PromptName};

/// Finds one file below the prompts folder by its relative path: `None` when there is none.
pub(super) type Lookup<'a> = dyn Fn(&str) -> Result<Option<FileEntry>, SourceError> + 'a;

/// Parses the prompts `names` into `listing` (a source's empty listing), reading each file
/// through `lookup`.
pub(super) fn load(
    mut listing: Listing,
    lookup: &Lookup<'_>,
    names: &[PromptName],
) -> Result<PromptSet, SourceError> {
    for name in names {
        let relative = name.file_path();
        if let Some(entry) = lookup(&relative)? {
            listing.files.insert(relative, entry);
        }
    }
    let mut looked_up = HashSet::new();
    loop {
        let set = PromptSet::from_snapshot(listing.snapshot(|_| true)?);
        let missing: Vec<String> = set
            .entries()
            .filter_map(|(_, entry)| missing_partial(entry.as_ref().err()?))
            .filter(|name| looked_up.insert(name.clone()))
            .collect();
        if missing.is_empty() {
            return Ok(set);
        }
        for name in missing {
            read_partials(&mut listing, lookup, name, &mut looked_up)?;
        }
    }
}

/// The partial a prompt's parse found missing, if that is why it failed.
fn missing_partial(error: &PromptError) -> Option<String> {
    match error {
        PromptError::Include {
            name,
            problem: IncludeProblem::NotFound,
            ..
        } => Some(name.clone()),
        _ => None,
    }
}

/// Reads a partial and every partial it names, directly or not.
fn read_partials(
    listing: &mut Listing,
    lookup: &Lookup<'_>,
    first: String,
    looked_up: &mut HashSet<String>,
) -> Result<(), SourceError> {
    let mut queue = vec![first];
    while let Some(name) = queue.pop() {
        if listing.files.contains_key(&name) {
            continue;
        }
        let Some(entry) = lookup(&name)? else {
            continue;
        };
        listing.files.insert(name.clone(), entry);
        let Some(bytes) = listing.bytes(&name)? else {
            continue;
        };
        if let Ok(refs) = std::str::from_utf8(&bytes).map(crate::prompt::scan_template) {
            let names = refs.into_iter().flatten().map(|r| r.name);
            queue.extend(names.filter(|n| looked_up.insert(n.clone())));
        }
        listing.keep_bytes(&name, bytes);
    }
    Ok(())
}

/// Finds a file of the working tree below `root` as a walk of the folder would: hidden
/// entries are not there, and a symbolic link is a link, never followed, whether it is the
/// file or a folder on the way to it.
pub(super) fn worktree_file(root: &Path, relative: &str) -> Result<Option<FileEntry>, SourceError> {
    let io = |path: PathBuf| move |source| SourceError::Io { path, source };
    if super::hidden(relative) {
        return Ok(None);
    }
    let segments: Vec<&str> = relative.split('/').collect();
    let mut path = root.to_owned();
    for (i, segment) in segments.iter().enumerate() {
        path.push(segment);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path)(e)),
        };
        let last = i + 1 == segments.len();
        match (last, meta.file_type()) {
            (true, kind) if kind.is_symlink() => return Ok(Some(FileEntry::Link)),
            (true, kind) if kind.is_file() => {
                let bytes = std::fs::read(&path).map_err(io(path.clone()))?;
                return Ok(Some(FileEntry::Bytes(bytes)));
            }
            (false, kind) if kind.is_dir() => {}
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Finds a file of a git tree (the prompts folder's) as a walk of it would.
pub(super) fn tree_file(
    tree: Option<&git2::Tree<'_>>,
    relative: &str,
) -> Result<Option<FileEntry>, SourceError> {
    let Some(tree) = tree.filter(|_| !super::hidden(relative)) else {
        return Ok(None);
    };
    match tree.get_path(Path::new(relative)) {
        Ok(entry) if entry.kind() == Some(git2::ObjectType::Blob) => {
            Ok(Some(FileEntry::of_tree_entry(&entry)))
        }
        Ok(_) => Ok(None),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
