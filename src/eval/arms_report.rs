//! The N-way comparison's report: each suite's arms with their figures, verdicts, the front
//! and the pick, as every format writes it; and what collecting and picking share.

use serde::Serialize;

use super::arms::{ArmSpec, Overrides};
use super::report::{FailureGroup, RequestStats, SideSummary};
use super::run_input::SideInput;
use super::stats::{ArmFigures, Comparison};
use super::suite::Suite;

/// An N-way comparison of every suite asked for.
#[derive(Debug, Clone, Serialize)]
pub struct ArmsReport {
    pub suites: Vec<ArmsSuite>,
    pub requests: RequestStats,
    pub failures: Vec<FailureGroup>,
    /// Every arm of every suite was evaluated, every sample without error: when not, the
    /// comparison is incomplete and says so (and `eval` exits 1).
    pub complete: bool,
}

/// One suite's arms.
#[derive(Debug, Clone, Serialize)]
pub struct ArmsSuite {
    pub suite: String,
    pub path: String,
    pub prompt: String,
    /// The arm the others are compared with.
    pub reference: String,
    /// The family-wise level the verdicts hold at.
    pub level: f64,
    /// Arms compared with the reference: the family Holm's method adjusts over.
    pub comparisons: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_per_1000: Option<f64>,
    pub arms: Vec<ArmRow>,
    /// The arm to make the head, and how; none when no arm qualifies.
    pub pick: Option<Pick>,
    /// Why nothing was picked, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_pick: Option<String>,
}

/// One arm's figures and how it compares with the reference.
#[derive(Debug, Clone, Serialize)]
pub struct ArmRow {
    pub name: String,
    /// The provider and model its requests went to, after its changes.
    pub provider: String,
    pub model: String,
    /// What it changes on its revision's prompt.
    #[serde(skip_serializing_if = "Overrides::is_empty")]
    pub overrides: Overrides,
    /// Pass rate, errors, latency, tokens and cost, as a side of a comparison shows them.
    #[serde(flatten)]
    pub summary: SideSummary,
    /// The pass rate's interval at the suite's confidence: Wilson's score interval over
    /// cases (each case's pass fraction, so repeats are not counted as independent).
    pub pass_rate_interval: Option<[f64; 2]>,
    /// Mean cost of an evaluated sample (one request, with its tool rounds); `null` when
    /// the model has no price in `[prices]`.
    pub cost_per_case: Option<f64>,
    pub tokens_per_case: f64,
    pub is_reference: bool,
    /// The paired comparison with the reference (not for the reference itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// The p-value after Holm's adjustment over the suite's comparisons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adjusted_p: Option<f64>,
    pub verdict: ArmVerdict,
    /// The verdict in words, as every format shows it.
    pub words: String,
    /// On the Pareto front of pass rate against cost per case and latency.
    pub pareto: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_budget: Option<bool>,
}

/// What an arm is, against the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmVerdict {
    Reference,
    Better,
    Worse,
    NoSignificantDifference,
    Inconclusive,
    /// The same requests as the reference: nothing to test.
    Same,
    /// It, or the reference, could not be evaluated.
    Unavailable,
}

/// The arm to make the head, and the one step that does it.
#[derive(Debug, Clone, Serialize)]
pub struct Pick {
    pub arm: String,
    pub why: String,
    pub step: String,
}

/// One suite of a run of arms, as collected.
pub(super) struct SuiteArms<'a> {
    pub suite: &'a Suite,
    pub s: usize,
    pub arms: &'a [ArmSpec],
    pub sides: &'a [SideInput<'a>],
    pub reference: usize,
}

pub(super) fn figures_of(row: &ArmRow) -> ArmFigures {
    let evaluated = row.summary.evaluated() > 0 && row.summary.unavailable.is_none();
    ArmFigures {
        pass_rate: evaluated.then_some(row.summary.pass_rate),
        cost_per_case: row.cost_per_case.filter(|_| evaluated),
        latency_ms: evaluated.then_some(row.summary.mean_latency_ms),
    }
}
