//! `init`: a new prompt repository with settings, an example prompt, partial and suite, and
//! a GitHub workflow that runs `promptctl ci`.
//!
//! Never overwrites: files that exist are left alone and reported as skipped.

use std::path::{Path, PathBuf};

use crate::base::fsutil::write_atomic;
use crate::config::CONFIG_FILE;

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The folder already holds a project.
    #[error("`{}` is already a promptctl project (it has a `{CONFIG_FILE}`)", dir.display())]
    AlreadyInitialized { dir: PathBuf },
    /// A file or folder could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `git init` failed.
    #[error("cannot create a git repository in `{}`: {}", dir.display(), source.message())]
    Git {
        dir: PathBuf,
        #[source]
        source: git2::Error,
    },
}

/// What `init` did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct InitReport {
    /// The project folder.
    pub dir: PathBuf,
    /// Files written, relative to the folder.
    pub created: Vec<String>,
    /// Files that existed and were left alone.
    pub skipped: Vec<String>,
    /// Whether a new git repository was created.
    pub git_initialized: bool,
}

/// The workflow that runs `promptctl ci`, through the action of the promptctl release that
/// wrote it.
const WORKFLOW: &str = ".github/workflows/promptctl.yml";

const FILES: [(&str, &str); 4] = [
    (CONFIG_FILE, include_str!("scaffold/promptctl.toml")),
    (
        "prompts/support/triage.toml",
        include_str!("scaffold/triage.toml"),
    ),
    (
        "prompts/partials/style.j2",
        include_str!("scaffold/style.j2"),
    ),
    (
        "evals/triage.toml",
        include_str!("scaffold/triage-suite.toml"),
    ),
];

/// The workflow, pinned to this release's action; for a project in a subfolder of its
/// repository, run there with `--repo`.
fn workflow_text(subfolder: Option<&str>) -> String {
    let text =
        include_str!("scaffold/promptctl.yml").replace("{version}", env!("CARGO_PKG_VERSION"));
    match subfolder {
        Some(folder) => text.replace(
            "args: --junit promptctl-junit.xml",
            &format!("args: --repo {folder} --junit promptctl-junit.xml"),
        ),
        None => text,
    }
}

/// Where the workflow goes: GitHub reads `.github/workflows` only at the repository's
/// root, so a project in a subfolder gets it there, with the subfolder to run in.
fn workflow_place(dir: &Path) -> (std::path::PathBuf, Option<String>) {
    let root = git2::Repository::discover(dir)
        .ok()
        .and_then(|repo| repo.workdir().map(Path::to_path_buf))
        .and_then(|root| std::fs::canonicalize(root).ok());
    let here = std::fs::canonicalize(dir).ok();
    match (root, here) {
        (Some(root), Some(here)) if root != here => match here.strip_prefix(&root) {
            Ok(sub) => (
                root.join(WORKFLOW),
                Some(sub.to_string_lossy().replace('\\', "/")),
            ),
            Err(_) => (dir.join(WORKFLOW), None),
        },
        _ => (dir.join(WORKFLOW), None),
    }
}

const IGNORE_LINE: &str = ".promptctl/";

/// Creates a project in `dir`, creating the folder and a git repository when missing.
pub fn init(dir: &Path) -> Result<InitReport, InitError> {
    if dir.join(CONFIG_FILE).exists() {
        return Err(InitError::AlreadyInitialized {
            dir: dir.to_owned(),
        });
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| InitError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut report = InitReport {
        dir: dir.to_owned(),
        ..InitReport::default()
    };
    // libgit2 must read git's configuration as git does (init.defaultBranch) before it
    // makes the repository.
    crate::gitio::options::init();
    if git2::Repository::discover(dir).is_err() {
        git2::Repository::init(dir).map_err(|source| InitError::Git {
            dir: dir.to_owned(),
            source,
        })?;
        report.git_initialized = true;
    }
    for (relative, text) in FILES {
        let path = dir.join(relative);
        if path.exists() {
            report.skipped.push(relative.to_owned());
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        write_atomic(&path, text.as_bytes()).map_err(io(&path))?;
        report.created.push(relative.to_owned());
    }
    let (workflow, subfolder) = workflow_place(dir);
    let shown = match &subfolder {
        Some(_) => workflow.display().to_string(),
        None => WORKFLOW.to_owned(),
    };
    if workflow.exists() {
        report.skipped.push(shown);
    } else {
        if let Some(parent) = workflow.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        write_atomic(&workflow, workflow_text(subfolder.as_deref()).as_bytes())
            .map_err(io(&workflow))?;
        report.created.push(shown);
    }
    ignore_cache(dir, &mut report).map_err(io(&dir.join(".gitignore")))?;
    Ok(report)
}

/// Adds `.promptctl/` (the local cache) to `.gitignore` unless it is there.
fn ignore_cache(dir: &Path, report: &mut InitReport) -> std::io::Result<()> {
    let path = dir.join(".gitignore");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    if existing
        .lines()
        .any(|l| l.trim() == IGNORE_LINE || l.trim() == "/.promptctl/")
    {
        report.skipped.push(".gitignore".into());
        return Ok(());
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(IGNORE_LINE);
    text.push('\n');
    write_atomic(&path, text.as_bytes())?;
    report.created.push(".gitignore".into());
    Ok(())
}
