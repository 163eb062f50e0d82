//! Release state: content-addressed pointers per environment, kept as commits on the orphan
//! branch `promptctl/<env>` of the prompt repository.
//!
//! Each commit's tree holds `state.toml` (the pointers) and `objects/` (the canonical JSON of
//! every version the state refers to), so a service needs nothing but this branch. Every
//! action is one commit made by compare-and-swap on the branch.

mod action;
mod bucket;
mod error;
mod history;
mod plan;
mod reads;
pub(crate) mod remote;
mod state;
mod store;
pub(crate) mod transport;

pub use action::{
    ActionKind, ActionRequest, Change, DEFAULT_EVERY, Outcome, PlanRequest, run as run_action,
};
pub use bucket::{BUCKETS, Weight, WeightError, bucket, random_key};
pub use error::ReleaseError;
pub use history::{Record, RecordedPrompt};
pub use plan::{
    DEFAULT_MAX_ERROR_RATE, DEFAULT_MIN_SAMPLES, GATE_NAMES, Gates, Rollout, Route, Stage, StepKey,
    check_cohort, check_gate,
};
pub use reads::{
    LogEntry, PromptStatus, Relation, Resolution, Resolver, Status, history, log, status,
};
pub use remote::{PullOutcome, PushOutcome, pull, push, run_action_and_push};
pub use state::{
    Canary, PREVIOUS_LIMIT, PromptState, STATE_FILE, STATE_FORMAT, State, StateError, Track,
};
pub use store::{OBJECTS_DIR, Release, Store, branch_name, object_path};

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
        return Ok(git2::Signature::now(name, email)?);
    }
    repo.signature().map_err(|_| ReleaseError::NoIdentity)
}
