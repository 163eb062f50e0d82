//! Reading prompts from the files on disk.
//!
//! Like `git status`, a file that the git index records with the same size, modification
//! time, change time and inode is taken to be the blob the index names, without reading it.
//! Comparisons with a commit and the summary cache then work from blob ids alone, and only
//! the files that changed are read.

use std::path::Path;
use std::rc::Rc;

use super::listing::{FileEntry, Listing};
use super::{RevisionSpec, SourceError};
use crate::gitio::index::{self as gitindex, Index};
use crate::gitio::walk::{FileStat, Walked, walk};
use crate::project::Project;

/// Lists and reads every prompt and partial file below the project's prompts folder.
pub(super) fn list(project: &Project) -> Result<Listing, SourceError> {
    let mut listing = Listing::new(RevisionSpec::Worktree, project.config.clone());
    let root = project.prompts_dir();
    inside_project(project, &root)?;
    let (repo, index) = Indexed::read(project).unzip();
    // Most of a listing is reading the folders and one `stat` per file: a large tree is
    // spread over the cores, as git's preloaded index does.
    let mut files = walk(&root, &|relative| super::classify(relative).is_some())?;
    files.sort_unstable_by(|a, b| a.relative.cmp(&b.relative));
    let blobs = match &index {
        Some(index) => index.clean_blobs(&files),
        None => vec![None; files.len()],
    };
    // The files the index does not vouch for are read: a few, or all of a fresh checkout.
    let unknown: Vec<&Walked> = files
        .iter()
        .zip(&blobs)
        .filter(|(file, blob)| blob.is_none() && !file.link)
        .map(|(file, _)| file)
        .collect();
    let mut read = crate::base::parallel::map(&unknown, |file| file.read()).into_iter();
    listing.files = files
        .into_iter()
        .zip(blobs)
        .map(|(file, blob)| {
            let entry = match (blob, file.link) {
                (Some(id), _) => FileEntry::Blob(id),
                (None, true) => FileEntry::Link,
                (None, false) => FileEntry::Bytes(read.next().expect("read in order")?),
            };
            Ok((file.relative, entry))
        })
        .collect::<Result<_, SourceError>>()?;
    listing.repo = repo;
    Ok(listing)
}

/// Reads and parses the prompts `names` and the partials they reach, without walking the
/// folder or reading the git index (see `named.rs`).
pub(super) fn load_named(
    project: &Project,
    names: &[crate::prompt::PromptName],
) -> Result<super::PromptSet, SourceError> {
    let root = project.prompts_dir();
    inside_project(project, &root)?;
    let listing = Listing::new(RevisionSpec::Worktree, project.config.clone());
    let lookup = |relative: &str| super::named::worktree_file(&root, relative);
    super::named::load(listing, &lookup, names)
}

/// Refuses a prompts folder that a symbolic link takes outside the project, as links inside
/// the folder are refused: a template must only ever read the project's own files.
fn inside_project(project: &Project, root: &Path) -> Result<(), SourceError> {
    let (Ok(target), Ok(home)) = (
        std::fs::canonicalize(root),
        std::fs::canonicalize(&project.root),
    ) else {
        return Ok(());
    };
    if target.starts_with(&home) {
        Ok(())
    } else {
        Err(SourceError::OutsideProject {
            folder: root.to_owned(),
            target,
        })
    }
}

/// What the git index says about the files below the prompts folder.
struct Indexed {
    index: Index,
    /// The prompts folder's path in the repository, ending in `/`.
    folder: String,
    /// When the index was written: an entry stamped in that second or later may have
    /// changed after it was recorded ("racy git"), so it is read.
    written: i64,
}

impl Indexed {
    /// Reads the index, with the repository it is of.
    fn read(project: &Project) -> Option<(Rc<git2::Repository>, Indexed)> {
        let (repo, prefix) = project.repository().ok()?;
        let (bytes, written) = gitindex::read_file(&repo)?;
        let folder = format!("{prefix}{}/", project.config.project.prompts);
        let index = match gitindex::parse(&bytes) {
            Some(index) => index,
            None => Index::from_libgit2(&repo.index().ok()?),
        };
        let indexed = Indexed {
            index,
            folder,
            written,
        };
        Some((Rc::new(repo), indexed))
    }

    /// The blob each file on disk is, when the index vouches for it; `files` are sorted by
    /// path, as the index is, so the two are read side by side.
    fn clean_blobs(&self, files: &[Walked]) -> Vec<Option<git2::Oid>> {
        let mut below = self.index.below(&self.folder).peekable();
        files
            .iter()
            .map(|file| {
                let key = file.relative.as_str();
                let (_, stat) = crate::base::sorted::take_at(&mut below, key, |(path, _)| *path)?;
                let stat = stat?;
                self.vouches(stat, file.stat.as_ref()?).then_some(stat.id)
            })
            .collect()
    }

    /// Tells whether the index entry `stat` is the file whose stat data is `file`.
    fn vouches(&self, stat: &gitindex::Stat, file: &FileStat) -> bool {
        u64::from(stat.size) == file.size
            && i64::from(stat.mtime.0) == file.mtime.0
            && i64::from(stat.mtime.1) == file.mtime.1
            && i64::from(stat.ctime.0) == file.ctime.0
            && i64::from(stat.ctime.1) == file.ctime.1
            && u64::from(stat.ino) == file.ino & u64::from(u32::MAX)
            && i64::from(stat.mtime.0) < self.written
    }
}
