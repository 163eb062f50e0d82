//! Evals: suite files (`evals/*.toml`), providers, assertions, the runner that compares two
//! versions case by case, and its reports.
//!
//! The suite format (the prompt a suite covers, variable defaults, cases, assertions, the
//! gate) is also what `check` renders every prompt with.

mod assertions;
mod cache;
mod provider;
mod report;
mod runner;
mod suite;

pub use assertions::{AssertionResult, Output, check as check_assertion, offline_judge};
pub use cache::{CACHE_DIR, Cache, CachedReply, request_key};
pub use provider::{
    CallError, ChatReply, ChatRequest, Provider, ProviderError, offline_reply, provider_section,
};
pub use report::{
    CaseReport, CaseSide, Change, GateResult, Report, RequestStats, SideSummary, SuiteReport,
    failure_summary, junit_suites, to_junit, to_markdown,
};
pub use runner::{EvalError, EvalOptions, Progress, Quiet, run};
pub use suite::{
    Assertion, Case, CaseRefError, GATE_LIMITS, Gate, Suite, SuiteError, find_case, find_suite,
    load_suites,
};
