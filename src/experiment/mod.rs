//! Judging experiments: each arm's figures (merged from every replica, or read from
//! Prometheus), compared pairwise by always-valid sequential tests with the family-wise error
//! held by Holm, so anyone may look at any time; and the verdict in words (a winner, still
//! running with the evidence needed, or inconclusive). docs/experiments.md is the contract.

mod analysis;
mod controller;
mod fetch;
mod figures;
mod prometheus;
pub mod sequential;

pub use analysis::{Analysis, ArmResult, MIN_PER_ARM, PairResult, Verdict, analyze};
pub use controller::{Figures, Judged, due, ending, judge, step};
pub use fetch::{FleetFigures, fetch_figures};
pub use figures::{ArmFigures, ExperimentFigures};
pub use prometheus::read_figures;
