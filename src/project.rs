//! The project: where its root is, its settings, and the git repository that holds it.

use std::path::{Path, PathBuf};

use crate::base::tomlfile::TomlError;
use crate::config::{CONFIG_FILE, ProjectConfig};
use crate::store::Store;

/// Why a project could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No `promptctl.toml` in the folder or any parent.
    #[error("no `{CONFIG_FILE}` in `{}` or any parent folder", start.display())]
    NotFound { start: PathBuf },
    /// The settings file is invalid.
    #[error(transparent)]
    Config(#[from] TomlError),
    /// A file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The project is not inside a git repository, and the command needs one.
    #[error("`{}` is not inside a git repository", root.display())]
    NotInRepo { root: PathBuf },
    /// The prompts folder the settings name does not exist.
    #[error("there is no prompts folder `{folder}/` in {}", root.display())]
    NoPromptsFolder { folder: String, root: PathBuf },
    /// The environment is neither `production` nor declared in promptctl.toml.
    #[error("unknown environment `{env}`; this project has {}", known.join(", "))]
    UnknownEnvironment { env: String, known: Vec<String> },
    /// The git repository could not be opened.
    #[error("cannot open the git repository at `{}`: {}", root.display(), source.message())]
    Git {
        root: PathBuf,
        #[source]
        source: git2::Error,
    },
}

/// An opened project: its root folder and its settings.
#[derive(Debug, Clone)]
pub struct Project {
    /// Folder holding `promptctl.toml`.
    pub root: PathBuf,
    /// Its parsed settings.
    pub config: ProjectConfig,
    /// The environment release pointers (`active`, `canary`) refer to when none is named.
    pub environment: String,
}

impl Project {
    /// Finds the project that holds `start`: the nearest folder with a `promptctl.toml`.
    pub fn discover(start: &Path) -> Result<Self, ProjectError> {
        let start = std::path::absolute(start).map_err(|source| ProjectError::Io {
            path: start.to_owned(),
            source,
        })?;
        let root = start
            .ancestors()
            .find(|dir| dir.join(CONFIG_FILE).is_file())
            .ok_or_else(|| ProjectError::NotFound {
                start: start.clone(),
            })?;
        Project::open(root)
    }

    /// Opens the project whose root is `root`.
    pub fn open(root: &Path) -> Result<Self, ProjectError> {
        let path = root.join(CONFIG_FILE);
        let source = std::fs::read_to_string(&path).map_err(|source| ProjectError::Io {
            path: path.clone(),
            source,
        })?;
        let config = ProjectConfig::parse(CONFIG_FILE, &source)?;
        Ok(Project {
            root: root.to_owned(),
            config,
            environment: crate::config::DEFAULT_ENVIRONMENT.to_owned(),
        })
    }

    /// Returns the absolute prompts folder.
    pub fn prompts_dir(&self) -> PathBuf {
        self.root.join(&self.config.project.prompts)
    }

    /// Refuses a project whose prompts folder is missing: checking "0 prompts" would pass
    /// a project whose prompts are not where its settings say.
    pub fn require_prompts_dir(&self) -> Result<(), ProjectError> {
        if self.prompts_dir().is_dir() {
            return Ok(());
        }
        Err(ProjectError::NoPromptsFolder {
            folder: self.config.project.prompts.clone(),
            root: self.root.clone(),
        })
    }

    /// Returns the absolute eval suites folder.
    pub fn evals_dir(&self) -> PathBuf {
        self.root.join(&self.config.project.evals)
    }

    /// Opens the release branch of `env`, which must be `production` or declared in
    /// promptctl.toml.
    pub fn store(&self, env: &str) -> Result<Store, ProjectError> {
        if !self.config.has_environment(env) {
            return Err(ProjectError::UnknownEnvironment {
                env: env.to_owned(),
                known: self.config.environment_names(),
            });
        }
        let (repo, _) = self.repository()?;
        Ok(Store::open_repo(repo, env, &self.config.project.prompts))
    }

    /// Opens the git repository holding the project, and the project root's path inside it
    /// (empty when the project is the repository's top folder, else ending in `/`).
    pub fn repository(&self) -> Result<(git2::Repository, String), ProjectError> {
        crate::gitio::options::init();
        let repo = git2::Repository::discover(&self.root).map_err(|source| {
            if source.code() == git2::ErrorCode::NotFound {
                ProjectError::NotInRepo {
                    root: self.root.clone(),
                }
            } else {
                ProjectError::Git {
                    root: self.root.clone(),
                    source,
                }
            }
        })?;
        let workdir = repo.workdir().ok_or_else(|| ProjectError::NotInRepo {
            root: self.root.clone(),
        })?;
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
        let prefix = canonical(&self.root)
            .strip_prefix(canonical(workdir))
            .map(|p| {
                let text = p.to_string_lossy().replace('\\', "/");
                if text.is_empty() {
                    text
                } else {
                    format!("{text}/")
                }
            })
            .unwrap_or_default();
        Ok((repo, prefix))
    }
}
