//! Reading prompts from a git revision through git2, without a checkout.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::rc::Rc;

use super::listing::{FileEntry, Listing};
use super::{RevisionSpec, SourceError};
use crate::config::{CONFIG_FILE, ProjectConfig};
use crate::project::Project;

/// Lists every prompt and partial file below the prompts folder at revision `rev`, from the
/// tree alone: no blob is read until a caller asks for its bytes.
pub(super) fn list(
    project: &Project,
    rev: &str,
    spec: &RevisionSpec,
) -> Result<Listing, SourceError> {
    let (repo, prefix) = project.repository()?;
    let repo = Rc::new(repo);
    let (mut listing, prompts_tree) = start(project, &repo, &prefix, rev, spec)?;
    let Some(id) = prompts_tree else {
        return Ok(listing);
    };
    let folder = format!("{prefix}{}/", listing.config.project.prompts);
    if !from_index(&repo, &folder, id, &mut listing) {
        walk(
            &repo,
            &repo.find_tree(id)?,
            "",
            &mut listing,
            Walk::Everything,
        )?;
    }
    Ok(listing)
}

/// Lists the prompts folder from the git index when its cache-tree vouches that the index
/// holds tree `id` there, as it does for HEAD's until something is staged: one read of the
/// index instead of one read of every folder's tree. `false` when it does not.
fn from_index(repo: &git2::Repository, folder: &str, id: git2::Oid, listing: &mut Listing) -> bool {
    let Some(index) = crate::gitio::index::read_file(repo)
        .and_then(|(bytes, _)| crate::gitio::index::parse(&bytes))
    else {
        return false;
    };
    let Some(files) = index.tree_below(folder, id) else {
        return false;
    };
    // Collected at once, in the index's order: a map built from many entries sorts them
    // and fills its nodes in one pass, where inserting them one by one cost a tenth of
    // `list --at HEAD`.
    let taken = files.into_iter().filter_map(|(relative, blob, mode)| {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        if super::hidden(relative) || super::classify(name).is_none() {
            return None;
        }
        Some((relative.to_owned(), FileEntry::of_mode(mode, blob)?))
    });
    listing.files.append(&mut taken.collect::<BTreeMap<_, _>>());
    true
}

/// Reads and parses the prompts `names` at revision `rev` and the partials they reach,
/// without walking the tree (see `named.rs`).
pub(super) fn load_named(
    project: &Project,
    rev: &str,
    spec: &RevisionSpec,
    names: &[crate::prompt::PromptName],
) -> Result<super::PromptSet, SourceError> {
    let (repo, prefix) = project.repository()?;
    let repo = Rc::new(repo);
    let (listing, prompts_tree) = start(project, &repo, &prefix, rev, spec)?;
    let tree = prompts_tree.map(|id| repo.find_tree(id)).transpose()?;
    let lookup = |relative: &str| super::named::tree_file(tree.as_ref(), relative);
    super::named::load(listing, &lookup, names)
}

/// Lists two revisions together. A subtree with the same id on both sides holds the same
/// files, so it is not read at all: the partials the changed prompts name are looked up in
/// it ([`SharedFolders`]), its partials listed when every one is needed
/// ([`list_shared_partials`]), and [`expand`] lists everything when a caller needs it. A
/// diff of 20 prompts in a repository of 40 folders reads 4 of their trees, not 40.
pub(super) fn list_pair(
    project: &Project,
    (from_rev, from_spec): (&str, &RevisionSpec),
    (to_rev, to_spec): (&str, &RevisionSpec),
) -> Result<(Listing, Listing), SourceError> {
    let (repo, prefix) = project.repository()?;
    let repo = Rc::new(repo);
    let (mut old, old_tree) = start(project, &repo, &prefix, from_rev, from_spec)?;
    let (mut new, new_tree) = start(project, &repo, &prefix, to_rev, to_spec)?;
    let old_tree = old_tree.map(|id| repo.find_tree(id)).transpose()?;
    let new_tree = new_tree.map(|id| repo.find_tree(id)).transpose()?;
    walk_pair(
        &repo,
        old_tree.as_ref(),
        new_tree.as_ref(),
        "",
        &mut old,
        &mut new,
    )?;
    Ok((old, new))
}

/// Resolves a revision to an empty listing with its settings, and the id of its prompts
/// folder's tree, if it has one.
fn start(
    project: &Project,
    repo: &Rc<git2::Repository>,
    prefix: &str,
    rev: &str,
    spec: &RevisionSpec,
) -> Result<(Listing, Option<git2::Oid>), SourceError> {
    let commit = repo
        .revparse_single(rev)
        .and_then(|object| object.peel_to_commit())
        .map_err(|e| {
            let unborn = repo
                .head()
                .is_err_and(|h| h.code() == git2::ErrorCode::UnbornBranch);
            if unborn {
                SourceError::NoCommitYet {
                    spec: rev.to_owned(),
                }
            } else {
                SourceError::UnknownRevision {
                    spec: rev.to_owned(),
                    source: e,
                }
            }
        })?;
    let tree = commit.tree()?;
    let config = match tree.get_path(Path::new(&format!("{prefix}{CONFIG_FILE}"))) {
        Ok(entry) => {
            let blob = entry.to_object(repo)?.peel_to_blob()?;
            let text = String::from_utf8_lossy(blob.content());
            ProjectConfig::parse(CONFIG_FILE, &text)
                .map_err(|e| SourceError::Config(e, rev.to_owned()))?
        }
        // A revision from before the project adopted promptctl: today's settings apply.
        Err(_) => project.config.clone(),
    };
    let mut listing = Listing::new(spec.clone(), config);
    listing.commit = Some(commit.id().to_string());
    listing.repo = Some(Rc::clone(repo));
    let folder = format!("{prefix}{}", listing.config.project.prompts);
    let prompts_tree = tree
        .get_path(Path::new(&folder))
        .ok()
        .filter(|entry| entry.kind() == Some(git2::ObjectType::Tree))
        .map(|entry| entry.id());
    Ok((listing, prompts_tree))
}

/// Which files a walk takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Walk {
    Everything,
    PartialsOnly,
    PromptsOnly,
}

pub(super) fn walk(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    prefix: &str,
    listing: &mut Listing,
    what: Walk,
) -> Result<(), SourceError> {
    walk_files(repo, tree, prefix, what, &mut |relative, entry| {
        listing.files.insert(relative, entry);
    })
}

/// Walks a tree and its subtrees, handing each file a walk takes to `file`, with its path
/// below the prompts folder.
pub(super) fn walk_files(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    prefix: &str,
    what: Walk,
    file: &mut dyn FnMut(String, FileEntry),
) -> Result<(), SourceError> {
    for entry in tree.iter() {
        let Ok(name) = entry.name() else { continue };
        if name.starts_with('.') {
            continue;
        }
        match entry.kind() {
            Some(git2::ObjectType::Tree) => {
                let subtree = repo.find_tree(entry.id())?;
                walk_files(repo, &subtree, &format!("{prefix}{name}/"), what, file)?;
            }
            Some(git2::ObjectType::Blob) if takes(name, what) => {
                file(format!("{prefix}{name}"), FileEntry::of_tree_entry(&entry));
            }
            // Other files, and submodules, hold no prompts of this project.
            _ => {}
        }
    }
    Ok(())
}

fn takes(name: &str, what: Walk) -> bool {
    match what {
        Walk::Everything => super::classify(name).is_some(),
        Walk::PartialsOnly => crate::prompt::is_partial_file(name),
        Walk::PromptsOnly => matches!(super::classify(name), Some(super::FileKind::Prompt(_))),
    }
}

/// Lists the partials of the folders both sides of a comparison share in both listings, as
/// walking each side would (the same tree holds the same files), once.
pub(super) fn list_shared_partials(
    old: &mut Listing,
    new: &mut Listing,
) -> Result<(), SourceError> {
    let Some(repo) = new.repo.clone().filter(|_| !new.shared_partials_listed) else {
        return Ok(());
    };
    for (prefix, id) in new.shared.clone() {
        let tree = repo.find_tree(id)?;
        walk_files(
            &repo,
            &tree,
            &prefix,
            Walk::PartialsOnly,
            &mut |file, entry| {
                old.files.insert(file.clone(), entry.clone());
                new.files.insert(file, entry);
            },
        )?;
    }
    old.shared_partials_listed = true;
    new.shared_partials_listed = true;
    Ok(())
}

/// The folders a listing shares with the other side, for finding files in them by path: a
/// look-up costs a hash per folder on the file's path, however many folders are shared,
/// and each folder's tree is read once.
pub(super) struct SharedFolders<'r> {
    repo: &'r git2::Repository,
    folders: HashMap<String, git2::Oid>,
    trees: HashMap<git2::Oid, git2::Tree<'r>>,
}

impl<'r> SharedFolders<'r> {
    pub fn of(listing: &Listing, repo: &'r git2::Repository) -> Self {
        SharedFolders {
            repo,
            folders: listing.shared.iter().cloned().collect(),
            trees: HashMap::new(),
        }
    }

    /// The file `relative` when a shared folder holds it, as a walk would find it.
    pub fn file(&mut self, relative: &str) -> Result<Option<FileEntry>, SourceError> {
        // Shared folders do not nest: the first folder on the path that is shared holds it.
        let found = relative.match_indices('/').find_map(|(at, _)| {
            let id = self.folders.get(&relative[..=at])?;
            Some((&relative[at + 1..], *id))
        });
        let Some((rest, id)) = found else {
            return Ok(None);
        };
        let tree = match self.trees.entry(id) {
            Entry::Occupied(tree) => tree.into_mut(),
            Entry::Vacant(slot) => slot.insert(self.repo.find_tree(id)?),
        };
        super::named::tree_file(Some(tree), rest)
    }
}

/// Lists the files of a listing's shared folders too, for callers that need every file.
pub(super) fn expand(listing: &mut Listing) -> Result<(), SourceError> {
    let Some(repo) = listing.repo.clone() else {
        return Ok(());
    };
    for (prefix, id) in std::mem::take(&mut listing.shared) {
        let tree = repo.find_tree(id)?;
        walk(&repo, &tree, &prefix, listing, Walk::Everything)?;
    }
    Ok(())
}

/// Walks two trees side by side, descending only where they differ.
fn walk_pair(
    repo: &git2::Repository,
    old: Option<&git2::Tree<'_>>,
    new: Option<&git2::Tree<'_>>,
    prefix: &str,
    old_listing: &mut Listing,
    new_listing: &mut Listing,
) -> Result<(), SourceError> {
    let entries = |tree: Option<&git2::Tree<'_>>| -> BTreeMap<String, (Option<git2::ObjectType>, git2::Oid, i32)> {
        tree.into_iter()
            .flat_map(|t| t.iter())
            .filter_map(|e| {
                let name = e.name().ok()?;
                (!name.starts_with('.')).then(|| (name.to_owned(), (e.kind(), e.id(), e.filemode())))
            })
            .collect()
    };
    let (old_entries, new_entries) = (entries(old), entries(new));
    let names: BTreeSet<&String> = old_entries.keys().chain(new_entries.keys()).collect();
    let is_tree = |e: Option<&(Option<git2::ObjectType>, git2::Oid, i32)>| {
        e.filter(|e| e.0 == Some(git2::ObjectType::Tree))
            .map(|e| e.1)
    };
    for name in names {
        let (a, b) = (old_entries.get(name), new_entries.get(name));
        let (old_tree, new_tree) = (is_tree(a), is_tree(b));
        let dir = format!("{prefix}{name}/");
        if let (Some(x), Some(y)) = (old_tree, new_tree)
            && x == y
        {
            old_listing.shared.push((dir.clone(), x));
            new_listing.shared.push((dir, x));
            continue;
        }
        if old_tree.is_some() || new_tree.is_some() {
            let old_sub = old_tree.map(|id| repo.find_tree(id)).transpose()?;
            let new_sub = new_tree.map(|id| repo.find_tree(id)).transpose()?;
            walk_pair(
                repo,
                old_sub.as_ref(),
                new_sub.as_ref(),
                &dir,
                old_listing,
                new_listing,
            )?;
        }
        for (side, listing) in [(a, &mut *old_listing), (b, &mut *new_listing)] {
            if let Some((Some(git2::ObjectType::Blob), id, mode)) = side
                && super::classify(name).is_some()
            {
                let mode = u32::try_from(*mode).unwrap_or_default();
                let file = FileEntry::of_mode(mode, *id).unwrap_or(FileEntry::Blob(*id));
                listing.files.insert(format!("{prefix}{name}"), file);
            }
        }
    }
    Ok(())
}
