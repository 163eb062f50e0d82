//! Moving a release branch to and from a git remote, with a lease: a push never overwrites
//! remote history this repository has not seen, and a pull only fast-forwards.
//!
//! The network side is the `git` command (see [`super::transport`]): authentication is the
//! user's own git setup (credential helpers, ssh configuration), and every operation has a
//! deadline.

use serde::Serialize;

use super::action::{ActionRequest, Outcome, run as run_action};
use super::error::ReleaseError;
use super::transport::{self, Pushed, TransportError};
use std::time::Duration;

use crate::project::Project;
use crate::retry::Backoff;
use crate::store::{Store, branch_name};

/// How many times an action with `--push` is re-applied when others keep pushing first.
const PUSH_ATTEMPTS: u32 = 10;

/// The wait before re-applying after another writer pushed first: from 50 ms, doubling, at
/// most 2 s, with jitter so that writers racing for the same remote spread out.
const PUSH_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    pub remote: String,
    pub branch: String,
    /// The remote's commit before the push (`None`: the branch was created).
    pub from: Option<String>,
    /// The commit the remote now has.
    pub to: Option<String>,
    /// Whether the remote already had it.
    pub up_to_date: bool,
}

/// What a pull did.
#[derive(Debug, Clone, Serialize)]
pub struct PullOutcome {
    pub remote: String,
    pub branch: String,
    /// The local commit before the pull.
    pub from: Option<String>,
    /// The local commit after it.
    pub to: Option<String>,
    pub result: PullResult,
}

/// What a pull found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullResult {
    /// The local branch moved forward to the remote's.
    FastForward,
    /// There was no local branch; it was created at the remote's.
    Created,
    /// Both were at the same commit.
    UpToDate,
    /// The local branch has commits the remote lacks: push to share them.
    Ahead,
    /// The remote has no release branch.
    Empty,
}

impl PullResult {
    /// The result as a word, as in `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            PullResult::FastForward => "fast-forward",
            PullResult::Created => "created",
            PullResult::UpToDate => "up-to-date",
            PullResult::Ahead => "ahead",
            PullResult::Empty => "empty",
        }
    }
}

/// Pushes the release branch of `env` to `remote` (a remote name or URL).
pub fn push(project: &Project, env: &str, remote: &str) -> Result<PushOutcome, ReleaseError> {
    let store = project.store(env)?;
    let local = store.tip()?;
    let remote_tip = fetch(&store, remote)?;
    let branch = branch_name(env);
    let outcome = |from: Option<git2::Oid>, to: Option<git2::Oid>, up_to_date| PushOutcome {
        remote: remote.to_owned(),
        branch: branch.clone(),
        from: from.map(|c| c.to_string()),
        to: to.map(|c| c.to_string()),
        up_to_date,
    };
    let Some(local) = local else {
        return Err(ReleaseError::refused(
            format!("nothing to push: nothing was ever released to `{env}` here"),
            format!("get the remote's history with: promptctl pull --env {env}"),
        ));
    };
    if let Some(theirs) = remote_tip {
        if theirs == local {
            return Ok(outcome(Some(theirs), Some(local), true));
        }
        if !store.repo().graph_descendant_of(local, theirs)? {
            return Err(unseen_history(&store, remote, local, theirs));
        }
    }
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    match transport::push(store.repo().path(), remote, &refspec)
        .map_err(|e| network_error(remote, "push failed", e))?
    {
        Pushed::Accepted => {}
        Pushed::Rejected(status) => {
            return Err(ReleaseError::Conflict {
                message: format!(
                    "remote `{remote}` refused `{branch}` ({status}): it has release commits this repository has not seen"
                ),
                hint: Some(format!(
                    "run `promptctl pull --env {env}`, then push again; nothing was overwritten"
                )),
            });
        }
    }
    set_tracking(&store, remote, local)?;
    Ok(outcome(remote_tip, Some(local), false))
}

/// Fast-forwards the local release branch of `env` to `remote`'s.
pub fn pull(project: &Project, env: &str, remote: &str) -> Result<PullOutcome, ReleaseError> {
    let store = project.store(env)?;
    let local = store.tip()?;
    let remote_tip = fetch(&store, remote)?;
    let outcome = |to: Option<git2::Oid>, result| PullOutcome {
        remote: remote.to_owned(),
        branch: branch_name(env),
        from: local.map(|c| c.to_string()),
        to: to.map(|c| c.to_string()),
        result,
    };
    let Some(theirs) = remote_tip else {
        return Ok(outcome(local, PullResult::Empty));
    };
    let repo = store.repo();
    let log = format!("promptctl pull from {remote}");
    match local {
        None => {
            store
                .move_branch(theirs, None, &log)
                .map_err(|_| moved_meanwhile(env))?;
            Ok(outcome(Some(theirs), PullResult::Created))
        }
        Some(ours) if ours == theirs => Ok(outcome(Some(ours), PullResult::UpToDate)),
        Some(ours) if repo.graph_descendant_of(theirs, ours)? => {
            store
                .move_branch(theirs, Some(ours), &log)
                .map_err(|_| moved_meanwhile(env))?;
            Ok(outcome(Some(theirs), PullResult::FastForward))
        }
        Some(ours) if repo.graph_descendant_of(ours, theirs)? => {
            Ok(outcome(Some(ours), PullResult::Ahead))
        }
        Some(ours) => Err(diverged(&store, remote, ours, theirs)),
    }
}

/// Runs an action on the remote's latest state and pushes it; when another writer pushes
/// first, the local commit is set aside and the action applied again on the new state.
pub fn run_action_and_push(
    project: &Project,
    env: &str,
    request: &ActionRequest,
    remote: &str,
) -> Result<(Outcome, Option<PushOutcome>), ReleaseError> {
    for attempt in 1..=PUSH_ATTEMPTS {
        let pulled = pull(project, env, remote)?;
        if pulled.result == PullResult::Ahead {
            // Local commits the remote lacks are pushed first, as they are.
            push(project, env, remote)?;
        }
        let store = project.store(env)?;
        let before = store.tip()?;
        let outcome = run_action(project, env, request)?;
        let Some(commit) = outcome.commit.as_deref() else {
            return Ok((outcome, None));
        };
        match push(project, env, remote) {
            Ok(pushed) => return Ok((outcome, Some(pushed))),
            Err(ReleaseError::Conflict { .. }) if attempt < PUSH_ATTEMPTS => {
                set_aside(&store, commit, before)?;
                std::thread::sleep(PUSH_BACKOFF.delay(attempt - 1));
            }
            Err(error) => return Err(error),
        }
    }
    Err(ReleaseError::Conflict {
        message: format!(
            "other writers kept pushing to `{remote}` first; gave up after {PUSH_ATTEMPTS} attempts"
        ),
        hint: Some("try again; nothing was lost".into()),
    })
}

/// Moves the local branch back from an unpushed commit to where it was, so the action can
/// be applied again on top of the remote's newer state. The commit stays in the reflog.
fn set_aside(store: &Store, commit: &str, before: Option<git2::Oid>) -> Result<(), ReleaseError> {
    let commit = git2::Oid::from_str(commit)?;
    let log = "promptctl: set aside an unpushed action to apply it again";
    match before {
        Some(before) => store.move_branch(before, Some(commit), log)?,
        None => {
            let mut reference = store.repo().find_reference(&store.reference())?;
            if reference.target() == Some(commit) {
                reference.delete()?;
            }
        }
    }
    Ok(())
}

/// Returns the remote's tip of the release branch, fetching its objects; `None` when the
/// remote has no such branch. Asking costs one small exchange; objects are fetched only
/// when this repository lacks the tip.
fn fetch(store: &Store, remote: &str) -> Result<Option<git2::Oid>, ReleaseError> {
    check_remote_name(store, remote)?;
    let branch = branch_name(store.env());
    let git_dir = store.repo().path();
    let Some(tip) = transport::remote_tip(git_dir, remote, &branch)
        .map_err(|e| network_error(remote, "cannot reach it", e))?
    else {
        return Ok(None);
    };
    if store.repo().find_commit(tip).is_err() {
        let refspec = format!("+refs/heads/{branch}:{}", tracking_ref(remote, &branch));
        transport::fetch(git_dir, remote, &refspec)
            .map_err(|e| network_error(remote, "cannot fetch from it", e))?;
    }
    set_tracking(store, remote, tip)?;
    Ok(Some(tip))
}

fn tracking_ref(remote: &str, branch: &str) -> String {
    let label: String = remote
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("refs/remotes/{label}/{branch}")
}

/// Records the remote's tip as a remote-tracking branch, as `git fetch` would, so that
/// `git log origin/promptctl/production` shows it too.
fn set_tracking(store: &Store, remote: &str, tip: git2::Oid) -> Result<(), ReleaseError> {
    let name = tracking_ref(remote, &branch_name(store.env()));
    store
        .repo()
        .reference(&name, tip, true, "promptctl: remote release branch")?;
    Ok(())
}

/// A bare word (`origin`) names a configured remote; one that is not configured is refused
/// here, with the way to add it, rather than sent to git as a path.
fn check_remote_name(store: &Store, remote: &str) -> Result<(), ReleaseError> {
    let looks_like_name = !remote.contains(['/', ':', '\\', '.']);
    if looks_like_name && store.repo().find_remote(remote).is_err() {
        return Err(ReleaseError::refused(
            format!("there is no remote named `{remote}` in this repository"),
            format!(
                "add one with `git remote add {remote} URL`, or give the URL itself: `promptctl push URL`"
            ),
        ));
    }
    Ok(())
}

fn network_error(remote: &str, what: &str, error: TransportError) -> ReleaseError {
    ReleaseError::Remote {
        remote: remote.to_owned(),
        message: format!("{what}: {error}"),
    }
}

fn moved_meanwhile(env: &str) -> ReleaseError {
    ReleaseError::Conflict {
        message: format!("`promptctl/{env}` moved while pulling"),
        hint: Some("run the pull again".into()),
    }
}

fn unseen_history(
    store: &Store,
    remote: &str,
    local: git2::Oid,
    theirs: git2::Oid,
) -> ReleaseError {
    let env = store.env();
    if store
        .repo()
        .graph_descendant_of(theirs, local)
        .unwrap_or(false)
    {
        ReleaseError::Conflict {
            message: format!(
                "remote `{remote}` is ahead of the local `promptctl/{env}`: there is nothing to push"
            ),
            hint: Some(format!("get its commits with: promptctl pull --env {env}")),
        }
    } else {
        diverged(store, remote, local, theirs)
    }
}

fn diverged(store: &Store, remote: &str, local: git2::Oid, theirs: git2::Oid) -> ReleaseError {
    let env = store.env();
    let (ahead, behind) = store
        .repo()
        .graph_ahead_behind(local, theirs)
        .unwrap_or((0, 0));
    ReleaseError::Conflict {
        message: format!(
            "the local and remote (`{remote}`) histories of `promptctl/{env}` have diverged: {ahead} local and {behind} remote release commits are not in the other"
        ),
        hint: Some(format!(
            "nothing was changed. Compare them with `git log promptctl/{env} {}`, then keep one with `git branch -f`, and re-run the actions that are missing",
            tracking_ref(remote, &branch_name(env)).trim_start_matches("refs/remotes/")
        )),
    }
}
