//! Reading prompts from the files on disk.
//!
//! Like `git status`, a file that the git index records with the same size, modification
//! time, change time and inode is taken to be the blob the index names, without reading it.
//! Comparisons with a commit and the summary cache then work from blob ids alone, and only
//! the files that changed are read.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use super::listing::{FileEntry, Listing};
use super::{RevisionSpec, SourceError};
use crate::project::Project;

/// Lists and reads every prompt and partial file below the project's prompts folder.
pub(super) fn list(project: &Project) -> Result<Listing, SourceError> {
    let mut listing = Listing::new(RevisionSpec::Worktree, project.config.clone());
    let root = project.prompts_dir();
    inside_project(project, &root)?;
    let index = Indexed::read(project);
    if root.is_dir() {
        walk(&root, "", &mut listing, index.as_ref())?;
    }
    if let Some(index) = index {
        listing.repo = Some(index.repo);
    }
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
    repo: Rc<git2::Repository>,
    /// By path relative to the prompts folder.
    entries: HashMap<String, Stat>,
    /// When the index was written: an entry stamped in that second or later may have
    /// changed after it was recorded ("racy git"), so it is read.
    written: i64,
}

/// The stat data of one index entry, and its blob.
struct Stat {
    id: git2::Oid,
    size: u32,
    mtime: (i32, u32),
    ctime: (i32, u32),
    ino: u32,
}

impl Indexed {
    fn read(project: &Project) -> Option<Indexed> {
        let (repo, prefix) = project.repository().ok()?;
        let index = repo.index().ok()?;
        let written = std::fs::metadata(repo.path().join("index"))
            .ok()?
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs() as i64;
        let folder = format!("{prefix}{}/", project.config.project.prompts);
        let mut entries = HashMap::new();
        for entry in index.iter() {
            let Ok(path) = std::str::from_utf8(&entry.path) else {
                continue;
            };
            let Some(relative) = path.strip_prefix(&folder) else {
                continue;
            };
            entries.insert(
                relative.to_owned(),
                Stat {
                    id: entry.id,
                    size: entry.file_size,
                    mtime: (entry.mtime.seconds(), entry.mtime.nanoseconds()),
                    ctime: (entry.ctime.seconds(), entry.ctime.nanoseconds()),
                    ino: entry.ino,
                },
            );
        }
        drop(index);
        Some(Indexed {
            repo: Rc::new(repo),
            entries,
            written,
        })
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

fn walk(
    dir: &Path,
    prefix: &str,
    listing: &mut Listing,
    index: Option<&Indexed>,
) -> Result<(), SourceError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SourceError::Io { path, source }
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let relative = format!("{prefix}{name}");
        let file_type = entry.file_type().map_err(io(&path))?;
        if file_type.is_dir() {
            walk(&path, &format!("{relative}/"), listing, index)?;
            continue;
        }
        if super::classify(&relative).is_none() {
            continue;
        }
        if file_type.is_symlink() {
            listing.files.insert(relative, FileEntry::Link);
        } else if file_type.is_file() {
            let meta = entry.metadata().map_err(io(&path))?;
            let file = match index.and_then(|index| index.clean(&relative, &meta)) {
                Some(id) => FileEntry::Blob(id),
                None => FileEntry::Bytes(std::fs::read(&path).map_err(io(&path))?),
            };
            listing.files.insert(relative, file);
        }
    }
    Ok(())
}
