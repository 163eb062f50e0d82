//! Release actions and reads that need a source: publish, canary, promote and revert (each
//! one commit on the release branch of [`crate::store`], made by compare-and-swap), moving
//! release branches to and from remotes, and `status` and `log`.

mod action;
mod error;
mod reads;
pub(crate) mod remote;

pub use action::{
    ACTIVE_ARM, ActionKind, ActionRequest, Change, DEFAULT_EVERY, ExperimentRequest, Outcome,
    PlanRequest, run as run_action,
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
        let (name, email) = parse_actor(&actor)?;
        return Ok(git2::Signature::new(name, email, &commit_time())?);
    }
    let identity = repo.signature().map_err(|_| ReleaseError::NoIdentity)?;
    let name = String::from_utf8_lossy(identity.name_bytes()).into_owned();
    let email = String::from_utf8_lossy(identity.email_bytes()).into_owned();
    Ok(git2::Signature::new(&name, &email, &commit_time())?)
}

/// Splits `Name <email>` (or `Name`); a value git could not record as an author is a
/// usage error naming the variable, not a failure of git underneath.
fn parse_actor(actor: &str) -> Result<(&str, &str), ReleaseError> {
    let (name, email) = match actor.split_once('<') {
        Some((name, rest)) => match rest.trim_end().strip_suffix('>') {
            Some(email) => (name.trim(), email.trim()),
            None => (name.trim(), "\u{0}"),
        },
        None => (actor.trim(), ""),
    };
    let unusable = |part: &str| part.contains(['<', '>', '\n', '\u{0}']);
    if name.is_empty() || unusable(name) || unusable(email) {
        return Err(ReleaseError::refused(
            format!("{ACTOR_ENV}=`{actor}` is not a name, or `Name <email>`"),
            format!(
                "set {ACTOR_ENV} to a name like `Ada Lovelace <ada@example.com>`, or unset it to use the git identity"
            ),
        ));
    }
    Ok((name, email))
}

/// The time of a release commit: the one clock of [`crate::base::clock::now`] (which
/// `PROMPTCTL_NOW` sets), in UTC.
fn commit_time() -> git2::Time {
    git2::Time::new(crate::base::clock::now(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_git_cannot_record_is_a_usage_error() {
        // Seen: an actor with `<` got exit 4 and a disk hint.
        assert_eq!(parse_actor("Ada <ada@x.io>").unwrap(), ("Ada", "ada@x.io"));
        assert_eq!(parse_actor("Ada").unwrap(), ("Ada", ""));
        for bad in ["<", "Ada <ada", "Ada <a<b>", "<ada@x.io>", "Ada <a>b>"] {
            let error = parse_actor(bad).unwrap_err();
            assert!(
                matches!(error, ReleaseError::Refused { .. }),
                "{bad}: {error}"
            );
            assert!(error.to_string().starts_with("PROMPTCTL_ACTOR="), "{error}");
        }
    }
}
