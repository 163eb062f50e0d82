//! Reading prompts from the files on disk.

use std::path::Path;

use super::{RevisionSpec, Snapshot, SourceError};
use crate::project::Project;

/// Reads every prompt and partial file below the project's prompts folder.
pub(super) fn read(project: &Project) -> Result<Snapshot, SourceError> {
    let mut snapshot = Snapshot::new(RevisionSpec::Worktree, project.config.clone());
    let root = project.prompts_dir();
    if root.is_dir() {
        walk(&root, "", &mut snapshot)?;
    }
    Ok(snapshot)
}

fn walk(dir: &Path, prefix: &str, snapshot: &mut Snapshot) -> Result<(), SourceError> {
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
        if file_type.is_symlink() {
            snapshot.add_link(&relative);
        } else if file_type.is_dir() {
            walk(&path, &format!("{relative}/"), snapshot)?;
        } else if file_type.is_file() {
            if super::classify(&relative).is_none() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            snapshot.add_file(&relative, bytes);
        }
    }
    Ok(())
}
