//! Where a server's snapshots come from: the release branch of a local repository, or of a
//! remote, mirrored into the state folder and fetched on every poll.

use std::path::{Path, PathBuf};

use super::snapshot::SnapshotData;
use crate::gitio::transport::{self, TransportError};
use crate::project::{Project, ProjectError};
use crate::release::ReleaseError;
use crate::store::{Store, StoreError, branch_name};

/// Why the release branch could not be read from an origin.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error("cannot create `{}`: {source}", path.display())]
    CreateMirror {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the mirror `{}`: {}", path.display(), source.message())]
    Mirror {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("cannot configure the mirror: {}", .0.message())]
    Configure(#[source] git2::Error),
    #[error("cannot fetch from `{url}`: {source}")]
    Fetch {
        url: String,
        #[source]
        source: TransportError,
    },
    #[error("cannot repack the mirror: {0}")]
    Repack(#[source] TransportError),
}

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
    ) -> Result<Option<SnapshotData>, OriginError> {
        let store = self.store(env)?;
        let Some(tip) = store.tip()? else {
            return Ok(None);
        };
        if previous.is_some_and(|p| p.commit == tip.to_string()) {
            return Ok(None);
        }
        Ok(Some(SnapshotData::read(&store, tip, previous)?))
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

    fn store(&self, env: &str) -> Result<Store, OriginError> {
        match self {
            Origin::Repo(path) => Ok(Project::discover(path)?.store(env)?),
            Origin::Remote { url, mirror } => {
                let repo = open_mirror(mirror)?;
                let branch = branch_name(env);
                // A mirror follows the remote, rewinds included: the remote is the truth.
                // The same transport (and credentials) as `promptctl pull`.
                let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
                transport::fetch(repo.path(), url, &refspec).map_err(|source| {
                    OriginError::Fetch {
                        url: url.clone(),
                        source,
                    }
                })?;
                compact(repo.path())?;
                Ok(Store::open_repo(repo, env, "prompts"))
            }
        }
    }
}

/// Most packs a mirror keeps: a fetch that leaves more repacks it into one.
pub const MIRROR_PACKS: usize = 16;

/// Opens the mirror, creating it on first use. Every fetch is kept as a pack (never as
/// loose objects) and git's own automatic gc is off, so the mirror's size is bounded by one
/// rule, [`compact`], the same whatever the user's git configuration says.
fn open_mirror(mirror: &Path) -> Result<git2::Repository, OriginError> {
    let git = |source| OriginError::Mirror {
        path: mirror.to_path_buf(),
        source,
    };
    let repo = match git2::Repository::open_bare(mirror) {
        Ok(repo) => repo,
        Err(_) => {
            std::fs::create_dir_all(mirror).map_err(|source| OriginError::CreateMirror {
                path: mirror.to_path_buf(),
                source,
            })?;
            git2::Repository::init_bare(mirror).map_err(git)?
        }
    };
    let mut config = repo.config().map_err(git)?;
    for (key, value) in [("fetch.unpackLimit", 1), ("gc.auto", 0)] {
        if config.get_i32(key).ok() != Some(value) {
            config.set_i32(key, value).map_err(OriginError::Configure)?;
        }
    }
    Ok(repo)
}

/// Repacks the mirror into one pack once it holds more than [`MIRROR_PACKS`]: a server
/// following a remote for months gains one pack per release commit it fetched.
fn compact(git_dir: &Path) -> Result<(), OriginError> {
    let packs = std::fs::read_dir(git_dir.join("objects/pack"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                .count()
        })
        .unwrap_or(0);
    if packs <= MIRROR_PACKS {
        return Ok(());
    }
    tracing::info!(packs, mirror = %git_dir.display(), "repacking the mirror");
    transport::repack(git_dir).map_err(OriginError::Repack)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files under `objects/` that hold objects: packs and loose objects.
    fn object_files(git_dir: &Path) -> usize {
        let mut count = 0;
        for dir in std::fs::read_dir(git_dir.join("objects")).unwrap() {
            let dir = dir.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            if name == "pack" {
                count += std::fs::read_dir(&dir)
                    .unwrap()
                    .filter(|e| {
                        e.as_ref()
                            .unwrap()
                            .path()
                            .extension()
                            .is_some_and(|x| x == "pack")
                    })
                    .count();
            } else if name.len() == 2 {
                count += std::fs::read_dir(&dir).unwrap().count();
            }
        }
        count
    }

    #[test]
    fn a_mirror_stays_bounded_however_many_release_commits_it_fetches() {
        let dir = tempfile::tempdir().unwrap();
        let remote = git2::Repository::init_bare(dir.path().join("remote.git")).unwrap();
        let origin = Origin::Remote {
            url: remote.path().to_string_lossy().into_owned(),
            mirror: dir.path().join("mirror"),
        };
        let author = git2::Signature::new("t", "t@example.com", &git2::Time::new(0, 0)).unwrap();
        let reference = format!("refs/heads/{}", branch_name("production"));
        let mut parent: Option<git2::Oid> = None;
        for i in 0..3 * MIRROR_PACKS {
            let blob = remote.blob(format!("state {i}\n").as_bytes()).unwrap();
            let mut tree = remote.treebuilder(None).unwrap();
            tree.insert("state.toml", blob, 0o100644).unwrap();
            let tree = remote.find_tree(tree.write().unwrap()).unwrap();
            let parents: Vec<git2::Commit<'_>> = parent
                .iter()
                .map(|p| remote.find_commit(*p).unwrap())
                .collect();
            let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
            let commit = remote
                .commit(
                    Some(&reference),
                    &author,
                    &author,
                    "release",
                    &tree,
                    &parents,
                )
                .unwrap();
            parent = Some(commit);
            let store = origin.store("production").unwrap();
            assert_eq!(store.tip().unwrap(), Some(commit));
        }
        let Origin::Remote { mirror, .. } = &origin else {
            unreachable!()
        };
        let files = object_files(mirror);
        assert!(
            files <= MIRROR_PACKS + 1,
            "{files} object files after {} fetches",
            3 * MIRROR_PACKS
        );
    }
}
