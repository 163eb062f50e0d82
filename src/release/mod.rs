//! Release actions and reads that need a source: publish, canary, promote and revert (each
//! one commit on the release branch of [`crate::store`], made by compare-and-swap), moving
//! release branches to and from remotes, and `status` and `log`.

mod action;
mod error;
mod reads;
pub(crate) mod remote;
pub(crate) mod transport;

pub use action::{
    ActionKind, ActionRequest, Change, DEFAULT_EVERY, Outcome, PlanRequest, run as run_action,
};
pub use error::ReleaseError;
pub use reads::{LogEntry, PromptStatus, Relation, Status, history, history_from, log, status};
pub use remote::{PullOutcome, PullResult, PushOutcome, pull, push, run_action_and_push};

/// The environment variable that names the author of release commits, as `Name <email>` or
/// `Name`; without it, the git identity (`user.name`, `user.email`) is used.
pub const ACTOR_ENV: &str = "PROMPTCTL_ACTOR";

/// Returns who is acting: `PROMPTCTL_ACTOR`, else the repository's git identity.
pub fn actor(repo: &git2::Repository) -> Result<git2::Signature<'static>, ReleaseError> {
    if let Ok(actor) = std::env::var(ACTOR_ENV)
        && !actor.trim().is_empty()
    {
        let (name, email) = match actor.split_once('<') {
            Some((name, rest)) => (name.trim(), rest.trim_end_matches('>').trim()),
            None => (actor.trim(), ""),
        };
        return Ok(git2::Signature::new(name, email, &commit_time())?);
    }
    let identity = repo.signature().map_err(|_| ReleaseError::NoIdentity)?;
    let name = String::from_utf8_lossy(identity.name_bytes()).into_owned();
    let email = String::from_utf8_lossy(identity.email_bytes()).into_owned();
    Ok(git2::Signature::new(&name, &email, &commit_time())?)
}

/// The time of a release commit: the one clock of [`crate::clock::now`] (which
/// `PROMPTCTL_NOW` sets), in UTC.
fn commit_time() -> git2::Time {
    git2::Time::new(crate::clock::now(), 0)
}
