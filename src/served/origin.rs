//! Where a server's snapshots come from: the release branch of a local repository, or of a
//! remote, mirrored into the state folder and fetched on every poll.

use std::path::PathBuf;

use super::snapshot::SnapshotData;
use crate::project::Project;
use crate::store::{Store, branch_name};

/// The source of release states.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A project folder (or any folder inside it) whose repository holds the release branch.
    Repo(PathBuf),
    /// A git remote, mirrored into `mirror` (a bare repository).
    Remote { url: String, mirror: PathBuf },
}

impl Origin {
    /// Returns the state at the branch tip when it is not the `previous` one; `None` when
    /// the tip is where `previous` was or nothing was ever released. Objects `previous` holds
    /// are not read again.
    pub fn poll(
        &self,
        env: &str,
        previous: Option<&SnapshotData>,
    ) -> Result<Option<SnapshotData>, String> {
        let store = self.store(env)?;
        let Some(tip) = store.tip().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        if previous.is_some_and(|p| p.commit == tip.to_string()) {
            return Ok(None);
        }
        SnapshotData::read(&store, tip, previous)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// The prompts folder partials are shown under.
    pub fn folder(&self) -> String {
        match self {
            Origin::Repo(path) => Project::discover(path)
                .map(|p| p.config.project.prompts)
                .unwrap_or_else(|_| "prompts".into()),
            Origin::Remote { .. } => "prompts".into(),
        }
    }

    fn store(&self, env: &str) -> Result<Store, String> {
        match self {
            Origin::Repo(path) => {
                let project = Project::discover(path).map_err(|e| e.to_string())?;
                project.store(env).map_err(|e| e.to_string())
            }
            Origin::Remote { url, mirror } => {
                let repo = match git2::Repository::open_bare(mirror) {
                    Ok(repo) => repo,
                    Err(_) => {
                        std::fs::create_dir_all(mirror)
                            .map_err(|e| format!("cannot create `{}`: {e}", mirror.display()))?;
                        git2::Repository::init_bare(mirror).map_err(|e| e.message().to_owned())?
                    }
                };
                {
                    let branch = branch_name(env);
                    // A mirror follows the remote, rewinds included: the remote is the truth.
                    // The same transport (and credentials) as `promptctl pull`.
                    let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
                    crate::release::transport::fetch(repo.path(), url, &refspec)
                        .map_err(|e| format!("cannot fetch from `{url}`: {e}"))?;
                }
                Ok(Store::open_repo(repo, env, "prompts"))
            }
        }
    }
}
