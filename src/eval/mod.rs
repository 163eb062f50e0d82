//! Evals: suite files (`evals/*.toml`), providers, assertions, the runner that compares two
//! versions case by case, the statistics of that comparison, and its reports.
//!
//! The suite format (the prompt a suite covers, variable defaults, cases, assertions, the
//! gate) is also what `check` renders every prompt with.

mod adaptive;
mod arms;
mod arms_report;
mod assertions;
mod cache;
mod case;
mod casefile;
mod collect;
mod contract_checks;
mod exec_inputs;
mod executor;
mod gate;
mod html;
mod judge;
mod nway;
mod nway_pick;
mod nway_report;
mod outcome;
mod provider;
mod redact;
mod report;
mod run_input;
mod runner;
pub mod stats;
mod suite;
mod turns;

pub use adaptive::Concurrency;
pub use arms::{
    ArmError, ArmSpec, MAX_ARM_SAMPLES, MAX_ARMS, MAX_MATRIX_VALUES, Matrix, Overrides, check_arms,
    parse_arm,
};
pub use assertions::{AssertionResult, KINDS, Outcome, Output};
pub use cache::{CACHE_DIR, Cache, CacheStats, CachedReply, RequestKey, request_key};
pub use casefile::{CaseFileError, CaseFiles, NoCaseFiles};
pub use executor::RequestFailure;
pub use gate::{DEFAULT_MIN_PASS_RATE, GATE_LIMITS, Gate, apply_gate};
pub use html::{CheckContext, to_html, to_html_with_check};
pub use judge::{offline_judge, offline_judgeable};
pub use nway::{
    ArmRow, ArmVerdict, ArmsOptions, ArmsReport, ArmsRunError, ArmsSuite, Pick, run_arms,
};
pub use nway_report::{ArmCells, arms_html, arms_junit, arms_markdown, pick_line, suite_heading};
pub use provider::{
    BUILT_IN_PROVIDERS, CallError, ChatReply, ChatRequest, DEFAULT_MAX_REPLY_BYTES, Failure,
    ParamProblem, Provider, ProviderError, offline_reply, param_problems, provider_section,
};
pub use redact::{MASK, Redactor};
pub use report::GateResult;
pub use report::{
    CaseReport, CaseSide, Change, FailureGroup, Report, RequestStats, SideSummary, SuiteReport,
    contract_violation, dollars, failure_summary, junit_suites, pass_rate_change, to_junit,
    to_markdown, tool_call_lines,
};
pub use run_input::{CacheMode, EvalError, EvalOptions, Progress, Quiet};
pub use runner::run;
pub use suite::{
    Assertion, Case, CaseRefError, LoadedSuites, Suite, SuiteError, find_case, find_suite,
    load_suites, load_suites_named,
};
