//! Evals: suite files (`evals/*.toml`) and what they declare.
//!
//! This module owns the suite format: the prompt a suite covers, variable defaults, cases,
//! assertions and the gate. `check` uses it to render every prompt with the variables of
//! its cases.

mod suite;

pub use suite::{Assertion, Case, CaseRefError, Gate, Suite, SuiteError, find_case, load_suites};
