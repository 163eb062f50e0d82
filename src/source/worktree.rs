//! Reading prompts from the files on disk.

use std::path::Path;

use super::listing::{FileEntry, Listing};
use super::{RevisionSpec, SourceError};
use crate::project::Project;

/// Lists and reads every prompt and partial file below the project's prompts folder.
pub(super) fn list(project: &Project) -> Result<Listing, SourceError> {
    let mut listing = Listing::new(RevisionSpec::Worktree, project.config.clone());
    let root = project.prompts_dir();
    if root.is_dir() {
        walk(&root, "", &mut listing)?;
    }
    Ok(listing)
}

fn walk(dir: &Path, prefix: &str, listing: &mut Listing) -> Result<(), SourceError> {
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
            walk(&path, &format!("{relative}/"), listing)?;
            continue;
        }
        if super::classify(&relative).is_none() {
            continue;
        }
        if file_type.is_symlink() {
            listing.files.insert(relative, FileEntry::Link);
        } else if file_type.is_file() {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            listing.files.insert(relative, FileEntry::Bytes(bytes));
        }
    }
    Ok(())
}
