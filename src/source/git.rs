//! Reading prompts from a git revision through git2, without a checkout.

use std::path::Path;

use super::{RevisionSpec, Snapshot, SourceError};
use crate::config::{CONFIG_FILE, ProjectConfig};
use crate::project::Project;

/// Reads every prompt and partial file below the prompts folder at revision `rev`.
pub(super) fn read(
    project: &Project,
    rev: &str,
    spec: &RevisionSpec,
) -> Result<Snapshot, SourceError> {
    let (repo, prefix) = project.repository()?;
    let commit = repo
        .revparse_single(rev)
        .and_then(|object| object.peel_to_commit())
        .map_err(|e| SourceError::UnknownRevision {
            spec: rev.to_owned(),
            message: e.message().to_owned(),
        })?;
    let tree = commit.tree()?;
    let config = match tree.get_path(Path::new(&format!("{prefix}{CONFIG_FILE}"))) {
        Ok(entry) => {
            let blob = entry.to_object(&repo)?.peel_to_blob()?;
            let text = String::from_utf8_lossy(blob.content());
            ProjectConfig::parse(CONFIG_FILE, &text)
                .map_err(|e| SourceError::Config(e, rev.to_owned()))?
        }
        // A revision from before the project adopted promptctl: today's settings apply.
        Err(_) => project.config.clone(),
    };
    let mut snapshot = Snapshot::new(spec.clone(), config);
    snapshot.commit = Some(commit.id().to_string());
    let folder = format!("{prefix}{}", snapshot.folder());
    let prompts_tree = match tree.get_path(Path::new(&folder)) {
        Ok(entry) => entry.to_object(&repo)?.peel_to_tree().ok(),
        Err(_) => None,
    };
    if let Some(prompts_tree) = prompts_tree {
        walk(&repo, &prompts_tree, "", &mut snapshot)?;
    }
    Ok(snapshot)
}

fn walk(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    prefix: &str,
    snapshot: &mut Snapshot,
) -> Result<(), SourceError> {
    for entry in tree.iter() {
        let Ok(name) = entry.name() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let relative = format!("{prefix}{name}");
        match entry.kind() {
            Some(git2::ObjectType::Tree) => {
                let subtree = repo.find_tree(entry.id())?;
                walk(repo, &subtree, &format!("{relative}/"), snapshot)?;
            }
            Some(git2::ObjectType::Blob) if entry.filemode() == 0o120000 => {
                snapshot.add_link(&relative);
            }
            Some(git2::ObjectType::Blob) => {
                if super::classify(&relative).is_none() {
                    continue;
                }
                let blob = repo.find_blob(entry.id())?;
                snapshot.add_file(&relative, blob.content().to_vec());
            }
            // Submodules hold no prompts of this project.
            _ => {}
        }
    }
    Ok(())
}

/// Explains why a release pointer cannot be resolved from this repository.
pub(super) fn release_error(project: &Project, spec: &RevisionSpec, env: &str) -> SourceError {
    let branch_exists = project.repository().ok().is_some_and(|(repo, _)| {
        repo.find_reference(&format!("refs/heads/promptctl/{env}"))
            .is_ok()
    });
    if branch_exists {
        SourceError::ReleaseUnreadable {
            spec: spec.to_string(),
            env: env.to_owned(),
        }
    } else {
        SourceError::NothingPublished {
            spec: spec.to_string(),
            env: env.to_owned(),
        }
    }
}
