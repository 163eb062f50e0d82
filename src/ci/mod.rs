//! `ci`: the pre-merge check. Checks every prompt and suite, diffs the prompts whose version
//! changed since the base, evaluates their suites on both versions, applies the gates, and
//! reports for people, JUnit consumers and GitHub Actions.

mod approval;
mod base;
mod github;
mod summary;

pub mod comment;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

pub use approval::{Approval, BreakingChange, TRAILER, breaking_changes, trailer_approvals};
pub use base::{Base, BaseRequest, resolve_base};
pub use github::{Annotation, Level, annotations, escape_data, escape_property};
pub use summary::{to_html, to_junit, to_markdown};

use crate::check::{CheckReport, CheckScope, Severity, check};
use crate::diff::{SourceDiff, Status, compare};
use crate::eval::{
    ArmsOptions, ArmsReport, ArmsRunError, CacheMode, EvalError, EvalOptions, Gate, Progress,
    Report, Suite, load_suites, run, run_arms,
};
use crate::project::{Project, ProjectError};
use crate::source::{PromptSet, RevisionSpec, SourceError, load, load_pair};

/// Why the check could not run (as opposed to running and failing).
#[derive(Debug, thiserror::Error)]
pub enum CiError {
    /// Reading prompts or revisions failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Evaluating could not start (a missing key, an unknown provider).
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The repository has no commit to compare from.
    #[error("the repository has no commit yet, so there is nothing to compare with")]
    NoHead,
    /// No default branch could be found.
    #[error(
        "cannot tell which branch this change merges into: no `origin/HEAD`, and none of origin/main, origin/master, main or master exists"
    )]
    NoDefaultBranch,
    /// `$GITHUB_BASE_REF` names a branch that is not here.
    #[error("the pull request's target branch `{branch}` ($GITHUB_BASE_REF) is not in this clone")]
    BaseRefMissing { branch: String },
    /// The base revision is unknown.
    #[error("unknown base revision `{revision}`: {}", source.message())]
    UnknownBase {
        revision: String,
        #[source]
        source: git2::Error,
    },
    /// A suite's matrix cannot be compared (past a bound).
    #[error("matrix: {0}")]
    Matrix(crate::eval::ArmError),
    /// The commits of the change could not be read for approvals.
    #[error("cannot read the commits of the change for `Allow-Breaking:` trailers: {}", source.message())]
    Trailers {
        #[source]
        source: git2::Error,
    },
    /// `HEAD` and the base share no history here.
    #[error("`{revision}` and HEAD have no common ancestor{}", if *shallow { " in this shallow clone" } else { "" })]
    NoMergeBase { revision: String, shallow: bool },
}

impl From<ProjectError> for CiError {
    fn from(error: ProjectError) -> Self {
        CiError::Source(SourceError::Project(error))
    }
}

/// How to run the check.
#[derive(Debug, Clone)]
pub struct CiOptions {
    /// Where the base comes from.
    pub base: BaseRequest,
    /// Requests in flight at once.
    pub concurrency: crate::eval::Concurrency,
    /// How to use the eval cache.
    pub cache: CacheMode,
    /// Approve every breaking contract change.
    pub allow_breaking: bool,
    /// Also compare the arms of each evaluated suite's `[matrix]`, on the working tree.
    pub matrix: bool,
}

/// Everything the check found.
#[derive(Debug, Clone, Serialize)]
pub struct CiReport {
    /// What was compared with.
    pub base: Base,
    /// The new side: always the working tree.
    pub head: String,
    /// `check` on every prompt and suite of the working tree.
    pub check: CheckReport,
    /// Every prompt whose version changed since the base.
    pub diff: SourceDiff,
    /// Suites run because their own file changed, though their prompt did not.
    pub suites_changed: Vec<String>,
    /// Changed prompts that no suite covers.
    pub unevaluated: Vec<String>,
    /// The suites of changed prompts, base against head; none when nothing needed a run.
    pub eval: Option<Report>,
    /// Output and tool changes that break a service under their prompt's mode, each with
    /// its approval: one not approved fails the run.
    pub breaking: Vec<BreakingChange>,
    /// With `--matrix`: the arms of each evaluated suite's `[matrix]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix: Option<ArmsReport>,
    /// The check passed, every gate held, and a matrix asked for was evaluated.
    pub passed: bool,
    /// The project's folder inside the repository (`""` or `prompts-repo/`), to name files
    /// relative to the repository root in annotations.
    #[serde(skip)]
    pub path_prefix: String,
}

impl CiReport {
    /// Suites whose gate failed.
    pub fn failed_gates(&self) -> usize {
        self.eval
            .as_ref()
            .map_or(0, |r| r.suites.iter().filter(|s| !s.gate.passed).count())
    }

    /// Alert-only gate breaches.
    pub fn gate_warnings(&self) -> usize {
        self.eval
            .as_ref()
            .map_or(0, |r| r.suites.iter().map(|s| s.gate.warnings.len()).sum())
    }
}

/// Runs the whole pre-merge check on the project's working tree.
pub async fn run_ci(
    project: &Project,
    options: &CiOptions,
    progress: Arc<dyn Progress>,
) -> Result<CiReport, CiError> {
    let base = resolve_base(project, &options.base)?;
    let head = RevisionSpec::Worktree;
    let (suites, suite_errors) = load_suites(&project.evals_dir(), &project.config.project.evals);
    let set = load(project, &head)?;
    let check = check(
        &set,
        &suites,
        &suite_errors,
        &CheckScope::default(),
        &project.config,
    );
    let pair = load_pair(project, &base.spec, &head, &[])?;
    let diff = compare(&pair, None);

    let Selection {
        selected,
        unevaluated,
        suites_changed,
    } = select_suites(project, &base, &suites, &set, &check, &diff)?;
    let eval = if selected.is_empty() {
        None
    } else {
        let eval_options = EvalOptions {
            base: base.spec.clone(),
            head,
            concurrency: options.concurrency,
            repeat: None,
            cache: options.cache,
            gate: Gate::default(),
        };
        Some(run(project, &selected, &eval_options, progress.clone()).await?)
    };
    let matrix = if options.matrix {
        run_matrix(project, &selected, options, progress).await?
    } else {
        None
    };
    let approvals = match project.repository() {
        Ok((repo, _)) => trailer_approvals(&repo, base.commit.as_deref())
            .map_err(|source| CiError::Trailers { source })?,
        Err(_) => Vec::new(),
    };
    let folder = project.config.project.prompts.trim_end_matches('/');
    let breaking = breaking_changes(&diff, folder, options.allow_breaking, &approvals);
    let passed = check.passed()
        && eval.as_ref().is_none_or(|r| r.passed)
        && breaking.iter().all(|b| b.approved_by.is_some())
        && matrix.as_ref().is_none_or(|m| m.complete);
    let path_prefix = project
        .repository()
        .map(|(_, prefix)| prefix)
        .unwrap_or_default();
    Ok(CiReport {
        base,
        head: "worktree".into(),
        check,
        diff,
        suites_changed,
        unevaluated,
        eval,
        breaking,
        matrix,
        passed,
        path_prefix,
    })
}

/// The arms of each evaluated suite's `[matrix]` on the working tree; none when no
/// evaluated suite has one.
async fn run_matrix(
    project: &Project,
    selected: &[Suite],
    options: &CiOptions,
    progress: Arc<dyn Progress>,
) -> Result<Option<ArmsReport>, CiError> {
    let suites: Vec<Suite> = selected
        .iter()
        .filter(|s| !s.matrix.is_empty())
        .cloned()
        .collect();
    if suites.is_empty() {
        return Ok(None);
    }
    let head = RevisionSpec::Worktree;
    let arms = ArmsOptions {
        arms: suites.iter().map(|s| s.matrix.arms(&head)).collect(),
        reference: None,
        budget_per_1000: None,
        level: crate::eval::stats::DEFAULT_LEVEL,
    };
    let eval_options = EvalOptions {
        base: head.clone(),
        head,
        concurrency: options.concurrency,
        repeat: None,
        cache: options.cache,
        gate: Gate::default(),
    };
    let report = run_arms(project, &suites, &arms, &eval_options, progress)
        .await
        .map_err(|e| match e {
            ArmsRunError::Eval(e) => CiError::from(e),
            ArmsRunError::Arms(e) => CiError::Matrix(e),
        })?;
    Ok(Some(report))
}

/// What a run evaluates, and what it says about what it does not.
struct Selection {
    /// Suites of prompts that changed, or whose suite file changed, and that parse and
    /// pass the check.
    selected: Vec<Suite>,
    /// Changed prompts that no suite covers.
    unevaluated: Vec<String>,
    /// Suites selected only because their own file changed.
    suites_changed: Vec<String>,
}

fn select_suites(
    project: &Project,
    base: &Base,
    suites: &[Suite],
    set: &PromptSet,
    check: &CheckReport,
    diff: &SourceDiff,
) -> Result<Selection, CiError> {
    let changed = changed_prompts(diff);
    let suites_changed = changed_suite_files(project, base.commit.as_deref(), suites)?;
    // A prompt that fails the check has already failed the run; evaluating it would only
    // repeat the check's error.
    let broken: BTreeSet<&str> = check
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter_map(|d| d.prompt.as_deref())
        .collect();
    let selected: Vec<Suite> = suites
        .iter()
        .filter(|s| {
            (changed.contains(s.prompt.as_str()) || suites_changed.contains(&s.name))
                && set.entry(&s.prompt).is_some_and(|e| e.is_ok())
                && !broken.contains(s.prompt.as_str())
        })
        .cloned()
        .collect();
    let covered: BTreeSet<&str> = suites.iter().map(|s| s.prompt.as_str()).collect();
    let unevaluated = changed
        .iter()
        .filter(|name| !covered.contains(*name))
        .map(|name| (*name).to_owned())
        .collect();
    let suites_changed = suites_changed
        .into_iter()
        .filter(|name| {
            selected
                .iter()
                .any(|s| &s.name == name && !changed.contains(s.prompt.as_str()))
        })
        .collect();
    Ok(Selection {
        selected,
        unevaluated,
        suites_changed,
    })
}

/// The prompts whose version changed and that are still there to evaluate.
fn changed_prompts(diff: &SourceDiff) -> BTreeSet<&str> {
    diff.prompts
        .iter()
        .filter(|p| p.status != Status::Removed)
        .map(|p| p.name.as_str())
        .collect()
}

/// The suites `eval --changed` runs: those whose prompt has another version at `head`
/// than at `base`, or whose own file differs from `base` (when `base` is a git revision:
/// a release has no suite files). A prompt removed at `head` has nothing to evaluate.
pub fn changed_suites(
    project: &Project,
    base: &RevisionSpec,
    head: &RevisionSpec,
    suites: &[Suite],
) -> Result<Vec<Suite>, CiError> {
    let pair = load_pair(project, base, head, &[])?;
    let diff = compare(&pair, None);
    let changed = changed_prompts(&diff);
    let commit = match base {
        RevisionSpec::Git(rev) => Some(rev.as_str()),
        _ => None,
    };
    let files_changed = changed_suite_files(project, commit, suites)?;
    Ok(suites
        .iter()
        .filter(|s| changed.contains(s.prompt.as_str()) || files_changed.contains(&s.name))
        .cloned()
        .collect())
}

/// Names of the suites whose file differs between the base and the working tree (new
/// suites included). A base that is not a git revision has no files: none differ.
fn changed_suite_files(
    project: &Project,
    commit: Option<&str>,
    suites: &[Suite],
) -> Result<Vec<String>, CiError> {
    let Some(commit) = commit else {
        return Ok(Vec::new());
    };
    let (repo, prefix) = project.repository()?;
    let tree = repo
        .revparse_single(commit)
        .and_then(|o| o.peel_to_tree())
        .map_err(SourceError::Git)?;
    let mut changed = Vec::new();
    for suite in suites {
        let at_base = tree
            .get_path(Path::new(&format!("{prefix}{}", suite.path)))
            .ok()
            .and_then(|entry| entry.to_object(&repo).ok())
            .and_then(|object| object.into_blob().ok())
            .map(|blob| blob.content().to_vec());
        let now = std::fs::read(project.root.join(&suite.path)).ok();
        if at_base != now {
            changed.push(suite.name.clone());
        }
    }
    Ok(changed)
}
