//! The release store: content-addressed pointers per environment, kept as commits on the
//! orphan branch `promptctl/<env>` of the prompt repository, and everything that reads them
//! without a working tree.
//!
//! Each commit's tree holds `state.toml` (the pointers) and `objects/` (the canonical JSON of
//! every version the state refers to), so a service needs nothing but this branch. This
//! layer owns the state and its file form, sticky bucketing, rollout plans and their gates,
//! the records of release commits, targeting rules and experiment arms, the in-process
//! resolver, and reading and writing the branch by compare-and-swap. It knows nothing of sources or working trees: the actions
//! that decide what to write live above it, in `release`.

mod assignment;
mod attributes;
mod branch;
mod bucket;
mod error;
mod experiment;
mod history;
mod object_index;
mod plan;
mod resolver;
mod rule;
mod rule_ast;
mod rule_syntax;
#[cfg(test)]
mod rule_tests;
mod semver;
mod state;

pub use assignment::{MAX_EXPERIMENT_ARMS, Split, SplitError, unit as experiment_unit};
pub use attributes::{
    MAX_ATTRIBUTES, add_text_attribute, attributes_from_context, attributes_from_json,
    attributes_from_text,
};
pub use branch::{OBJECTS_DIR, Release, ReleaseTree, Store, WriteError, branch_name, object_path};
pub use bucket::{
    BUCKETS, KeyError, MAX_KEY_BYTES, Weight, WeightError, bucket, check_key, random_key,
};
pub use error::StoreError;
pub use experiment::{
    Arm, DEFAULT_ALPHA, DEFAULT_EFFECT, DEFAULT_EXPERIMENT_LENGTH, EXPERIMENT_LENGTH, Experiment,
    Goal, MAX_EXPERIMENT_NAME, Metric, check_alpha, check_effect,
    check_name as check_experiment_name,
};
pub use history::{ActionKind, Record, RecordedAction, RecordedPrompt};
pub use object_index::ObjectIndex;
pub use plan::{
    DEFAULT_MAX_ERROR_RATE, DEFAULT_MIN_SAMPLES, GATE_NAMES, Gates, PlanError, Rollout, Route,
    STAGE_LENGTH, Stage, StepKey, check_cohort, check_gate,
};
pub use resolver::{Resolution, Resolver};
pub use rule::{
    AttrValue, Attributes, MAX_ATTRIBUTE_NAME, MAX_PATTERN_BYTES, MAX_RULE_BYTES,
    MAX_RULE_CONDITIONS, MAX_RULE_DEPTH, MAX_RULE_LIST, MAX_RULE_STRING, Rule, RuleError, Semver,
    Unevaluable,
};
pub use state::{
    Canary, PREVIOUS_LIMIT, PromptState, ReadState, Reason, Routed, STATE_FILE, STATE_FORMAT,
    State, StateError, Track,
};
