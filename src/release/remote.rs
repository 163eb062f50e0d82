//! Moving a release branch to and from a git remote, with a lease: a push never overwrites
//! remote history this repository has not seen, and a pull only fast-forwards.
//!
//! The network side is the `git` command (see [`crate::gitio::transport`]): authentication is the
//! user's own git setup (credential helpers, ssh configuration), and every operation has a
//! deadline.

use serde::Serialize;

use super::action::{Action, ActionRequest, Attempt, Outcome};
use super::error::ReleaseError;
use crate::gitio::transport::{self, Pushed, TransportError};
use std::time::Duration;

use crate::base::retry::Backoff;
use crate::project::Project;
use crate::store::{Store, WriteError, branch_name};

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
    set_tracking(&store, remote, local);
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

/// Runs an action on the remote's latest state and pushes its commit with a lease: the
/// remote takes it only if its branch has not moved since it was read, and when another
/// writer wins, the action is planned again on the newer state. The local branch follows
/// once the remote has the commit, so `Ok` means the action is on the remote, and an error
/// means it is not.
pub fn run_action_and_push(
    project: &Project,
    env: &str,
    request: &ActionRequest,
    remote: &str,
) -> Result<(Outcome, Option<PushOutcome>), ReleaseError> {
    let mut action = Action::new(project, env, request)?;
    let branch = branch_name(env);
    for attempt in 1..=PUSH_ATTEMPTS {
        let store = project.store(env)?;
        let ours = store.tip()?;
        let theirs = fetch(&store, remote)?;
        // Local commits the remote lacks go with the action, as they are.
        let base = base_for_push(&store, remote, ours, theirs)?;
        if let Some(theirs) = theirs.filter(|_| base != ours) {
            // Behind the remote: catch up, as a pull would.
            follow(&store, theirs);
        }
        let (commit, outcome) = match action.attempt(base)? {
            Attempt::Made { commit, outcome } => (commit, outcome),
            Attempt::Unchanged(outcome) if base == theirs => return Ok((outcome, None)),
            Attempt::Unchanged(outcome) => {
                let pushed = push(project, env, remote)?;
                return Ok((outcome, Some(pushed)));
            }
        };
        let git_dir = store.repo().path();
        match transport::push_commit(git_dir, remote, commit, &branch, theirs) {
            Ok(Pushed::Accepted) => {}
            Ok(Pushed::Rejected(_)) if attempt < PUSH_ATTEMPTS => {
                std::thread::sleep(PUSH_BACKOFF.delay(attempt - 1));
                continue;
            }
            Ok(Pushed::Rejected(_)) => break,
            // A push that timed out may still have landed: ask the remote before saying
            // that it did not.
            Err(error) => match transport::remote_tip(git_dir, remote, &branch) {
                Ok(Some(tip)) if tip == commit => {}
                _ => return Err(network_error(remote, "push failed", error)),
            },
        }
        follow(&store, commit);
        set_tracking(&store, remote, commit);
        let pushed = PushOutcome {
            remote: remote.to_owned(),
            branch,
            from: theirs.map(|c| c.to_string()),
            to: Some(commit.to_string()),
            up_to_date: false,
        };
        return Ok((outcome, Some(pushed)));
    }
    Err(ReleaseError::Conflict {
        message: format!(
            "other writers kept pushing to `{remote}` first; gave up after {PUSH_ATTEMPTS} attempts, and the action is not on the remote"
        ),
        hint: Some("try again; nothing was lost".into()),
    })
}

/// The commit an action to be pushed starts from: the local tip when it has everything
/// the remote has (its own commits go along), else the remote's.
fn base_for_push(
    store: &Store,
    remote: &str,
    ours: Option<git2::Oid>,
    theirs: Option<git2::Oid>,
) -> Result<Option<git2::Oid>, ReleaseError> {
    let repo = store.repo();
    Ok(match (ours, theirs) {
        (None, theirs) => theirs,
        (ours, None) => ours,
        (Some(ours), Some(theirs)) if ours == theirs => Some(ours),
        (Some(ours), Some(theirs)) if repo.graph_descendant_of(ours, theirs)? => Some(ours),
        (Some(ours), Some(theirs)) if repo.graph_descendant_of(theirs, ours)? => Some(theirs),
        (Some(ours), Some(theirs)) => return Err(diverged(store, remote, ours, theirs)),
    })
}

/// Moves the local branch forward to a commit the remote has taken, if nothing else moved
/// it past that commit meanwhile; the next pull catches it up otherwise.
fn follow(store: &Store, commit: git2::Oid) {
    for _ in 0..5 {
        let Ok(local) = store.tip() else { return };
        let behind = match local {
            None => true,
            Some(local) if local == commit => return,
            Some(local) => store
                .repo()
                .graph_descendant_of(commit, local)
                .unwrap_or(false),
        };
        if !behind {
            return;
        }
        match store.advance(commit, local, "promptctl: pushed") {
            Err(WriteError::Moved) => continue,
            _ => return,
        }
    }
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
        // Objects only: git updates no ref, so fetches racing in one clone take no lock.
        let refspec = format!("refs/heads/{branch}");
        transport::fetch(git_dir, remote, &refspec)
            .map_err(|e| network_error(remote, "cannot fetch from it", e))?;
    }
    set_tracking(store, remote, tip);
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
fn set_tracking(store: &Store, remote: &str, tip: git2::Oid) {
    let name = tracking_ref(remote, &branch_name(store.env()));
    // Only a record of what was last seen there: another process updating it at the same
    // moment (a held lock) is not a failure of the action.
    if let Err(error) = store
        .repo()
        .reference(&name, tip, true, "promptctl: remote release branch")
    {
        tracing::debug!(%error, reference = %name, "the remote-tracking branch was not updated");
    }
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
    if let TransportError::BadTimeout { .. } = error {
        return ReleaseError::refused(
            error.to_string(),
            format!(
                "set {} to seconds or a span such as 30s (at most a day), or unset it for 10 s",
                transport::TIMEOUT_ENV
            ),
        );
    }
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
