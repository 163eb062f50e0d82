//! Reading prompts from a git revision through git2, without a checkout.

use std::path::Path;

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
    let mut listing = Listing::new(spec.clone(), config);
    listing.commit = Some(commit.id().to_string());
    let folder = format!("{prefix}{}", listing.config.project.prompts);
    if let Ok(entry) = tree.get_path(Path::new(&folder))
        && let Ok(prompts_tree) = entry.to_object(&repo)?.peel_to_tree()
    {
        walk(&repo, &prompts_tree, "", &mut listing)?;
    }
    drop((tree, commit));
    listing.repo = Some(repo);
    Ok(listing)
}

fn walk(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    prefix: &str,
    listing: &mut Listing,
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
                walk(repo, &subtree, &format!("{relative}/"), listing)?;
            }
            Some(git2::ObjectType::Blob) if super::classify(&relative).is_some() => {
                let file = if entry.filemode() == 0o120000 {
                    FileEntry::Link
                } else {
                    FileEntry::Blob(entry.id())
                };
                listing.files.insert(relative, file);
            }
            // Other files, and submodules, hold no prompts of this project.
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
