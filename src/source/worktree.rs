//! Reading prompts from the files on disk.
//!
//! Like `git status`, a file that the git index records with the same size, modification
//! time, change time and inode is taken to be the blob the index names, without reading it.
//! Comparisons with a commit and the summary cache then work from blob ids alone, and only
//! the files that changed are read.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use super::gitindex::{self, Stat};
use super::listing::{FileEntry, Listing};
use super::{RevisionSpec, SourceError};
use crate::project::Project;

/// Lists and reads every prompt and partial file below the project's prompts folder.
pub(super) fn list(project: &Project) -> Result<Listing, SourceError> {
    let mut listing = Listing::new(RevisionSpec::Worktree, project.config.clone());
    let root = project.prompts_dir();
    inside_project(project, &root)?;
    let (repo, index) = Indexed::read(project).unzip();
    let mut found = Vec::new();
    if root.is_dir() {
        find(&root, "", &mut found)?;
    }
    // Most of a listing is one `stat` per file (and a read for the few the index does not
    // vouch for): spread over the cores, as git's preloaded index does.
    let entries = crate::parallel::map(&found, |file| file.entry(index.as_ref()));
    for (file, entry) in found.into_iter().zip(entries) {
        listing.files.insert(file.relative, entry?);
    }
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
    /// By path relative to the prompts folder.
    entries: HashMap<String, Stat>,
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
        let entries = match gitindex::parse(&bytes) {
            Some(index) => index.stats_below(&folder),
            None => by_libgit2(&repo, &folder)?,
        };
        Some((Rc::new(repo), Indexed { entries, written }))
    }

    /// The blob a file on disk is, when the index vouches for it.
    #[cfg(unix)]
    fn clean(&self, relative: &str, meta: &std::fs::Metadata) -> Option<git2::Oid> {
        use std::os::unix::fs::MetadataExt;
        let stat = self.entries.get(relative)?;
        let same = u64::from(stat.size) == meta.size()
            && i64::from(stat.mtime.0) == meta.mtime()
            && i64::from(stat.mtime.1) == meta.mtime_nsec()
            && i64::from(stat.ctime.0) == meta.ctime()
            && i64::from(stat.ctime.1) == meta.ctime_nsec()
            && u64::from(stat.ino) == meta.ino() & u64::from(u32::MAX)
            && i64::from(stat.mtime.0) < self.written;
        same.then_some(stat.id)
    }

    #[cfg(not(unix))]
    fn clean(&self, _relative: &str, _meta: &std::fs::Metadata) -> Option<git2::Oid> {
        None
    }
}

/// A prompt or partial file found in the folder, not looked at yet.
struct Found {
    relative: String,
    entry: std::fs::DirEntry,
    link: bool,
}

impl Found {
    /// Takes the file: the blob the index names when it vouches for the file, else its bytes.
    fn entry(&self, index: Option<&Indexed>) -> Result<FileEntry, SourceError> {
        if self.link {
            return Ok(FileEntry::Link);
        }
        let io = |source| SourceError::Io {
            path: self.entry.path(),
            source,
        };
        let meta = self.entry.metadata().map_err(io)?;
        Ok(
            match index.and_then(|index| index.clean(&self.relative, &meta)) {
                Some(id) => FileEntry::Blob(id),
                None => FileEntry::Bytes(std::fs::read(self.entry.path()).map_err(io)?),
            },
        )
    }
}

/// Finds the prompt and partial files below `dir` from the folder entries alone, without a
/// `stat` of each.
/// The index as libgit2 reads it, for what `gitindex` does not read.
fn by_libgit2(repo: &git2::Repository, folder: &str) -> Option<HashMap<String, Stat>> {
    let index = repo.index().ok()?;
    let mut entries = HashMap::new();
    for entry in index.iter() {
        let Ok(path) = std::str::from_utf8(&entry.path) else {
            continue;
        };
        let Some(relative) = path.strip_prefix(folder) else {
            continue;
        };
        entries.insert(relative.to_owned(), Stat::from(&entry));
    }
    Some(entries)
}

fn find(dir: &Path, prefix: &str, found: &mut Vec<Found>) -> Result<(), SourceError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SourceError::Io { path, source }
    };
    // In the folder's order: the listing sorts its files by path.
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let relative = format!("{prefix}{name}");
        let file_type = entry.file_type().map_err(io(&entry.path()))?;
        if file_type.is_dir() {
            find(&entry.path(), &format!("{relative}/"), found)?;
        } else if super::classify(&relative).is_some()
            && (file_type.is_symlink() || file_type.is_file())
        {
            let link = file_type.is_symlink();
            found.push(Found {
                relative,
                entry,
                link,
            });
        }
    }
    Ok(())
}
