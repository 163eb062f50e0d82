//! N-way comparisons: every arm of a suite (revisions, models, parameters) on the same
//! cases, each compared with a reference arm by the paired test two versions get, the
//! family-wise error held by Holm's method, the Pareto front of pass rate against cost and
//! latency, and the arm to pick with the one step that makes it the head.

use std::collections::HashMap;
use std::sync::Arc;

use super::arms::{ArmError, ArmSpec, check_arms, check_samples};
pub use super::arms_report::{ArmRow, ArmVerdict, ArmsReport, ArmsSuite, Pick};
use super::arms_report::{SuiteArms, figures_of};
use super::collect::{Sample, case_side, change, compare, summarize};
use super::report::{CaseReport, SideSummary};
use super::run_input::{EvalError, EvalOptions, Progress, SideInput};
use super::runner::{execute, side_input};
use super::stats::{self, ArmFigures, Comparison, Verdict};
use super::suite::Suite;
use crate::config::ProviderKind;
use crate::project::Project;
use crate::source::{self, PromptSet};

/// How to compare arms.
#[derive(Debug, Clone)]
pub struct ArmsOptions {
    /// The arms of each suite, in the order of `suites` (all suites may share one list).
    pub arms: Vec<Vec<ArmSpec>>,
    /// The arm the others are compared with, by name; the first when none is named.
    pub reference: Option<String>,
    /// The most an arm may cost per 1,000 requests, in US dollars, to be picked.
    pub budget_per_1000: Option<f64>,
    /// The family-wise significance level (default [`stats::DEFAULT_LEVEL`]).
    pub level: f64,
}

/// Runs every suite on each of its arms and compares them.
pub async fn run_arms(
    project: &Project,
    suites: &[Suite],
    arms: &ArmsOptions,
    options: &EvalOptions,
    progress: Arc<dyn Progress>,
) -> Result<ArmsReport, ArmsRunError> {
    let references = plan_arms(suites, arms, options.repeat)?;
    let mut sets: HashMap<String, PromptSet> = HashMap::new();
    for arm in arms.arms.iter().flatten() {
        if let std::collections::hash_map::Entry::Vacant(slot) = sets.entry(arm.spec.to_string()) {
            slot.insert(source::load(project, &arm.spec)?);
        }
    }
    let sides: Vec<Vec<SideInput<'_>>> = suites
        .iter()
        .zip(&arms.arms)
        .map(|(suite, list)| {
            list.iter()
                .map(|arm| side_input(&sets[&arm.spec.to_string()], suite, &arm.overrides))
                .collect()
        })
        .collect();
    let executed = execute(project, suites, &sides, options, progress).await?;
    let mut report = ArmsReport {
        suites: Vec::new(),
        requests: executed.requests,
        failures: executed.failures,
        complete: true,
    };
    for (s, suite) in suites.iter().enumerate() {
        let input = SuiteArms {
            suite,
            s,
            arms: &arms.arms[s],
            sides: &sides[s],
            reference: references[s],
        };
        let collected = collect_suite(&input, &executed.results, arms, project);
        report.complete &= collected
            .arms
            .iter()
            .all(|a| a.summary.unavailable.is_none() && a.summary.errors == 0);
        report.suites.push(collected);
    }
    Ok(report)
}

/// Why a run of arms could not be made: its arms, or the run itself.
#[derive(Debug, thiserror::Error)]
pub enum ArmsRunError {
    #[error(transparent)]
    Arms(#[from] ArmError),
    #[error(transparent)]
    Eval(#[from] EvalError),
}

impl From<crate::source::SourceError> for ArmsRunError {
    fn from(error: crate::source::SourceError) -> Self {
        ArmsRunError::Eval(error.into())
    }
}

/// Checks every suite's arms and the run's size before anything is sent; returns the
/// index of each suite's reference arm.
fn plan_arms(
    suites: &[Suite],
    arms: &ArmsOptions,
    repeat: Option<u32>,
) -> Result<Vec<usize>, ArmError> {
    if arms.arms.len() != suites.len() {
        return Err(ArmError("every suite needs its arms".into()));
    }
    let mut samples = 0usize;
    let mut references = Vec::new();
    for (suite, list) in suites.iter().zip(&arms.arms) {
        check_arms(list).map_err(|e| ArmError(format!("suite `{}`: {}", suite.name, e.0)))?;
        let reference = match &arms.reference {
            None => 0,
            Some(name) => list.iter().position(|a| &a.name == name).ok_or_else(|| {
                let names: Vec<&str> = list.iter().map(|a| a.name.as_str()).collect();
                ArmError(format!(
                    "suite `{}` has no arm `{name}` to compare with (its arms: {})",
                    suite.name,
                    names.join(", ")
                ))
            })?,
        };
        references.push(reference);
        let repeat = repeat.unwrap_or(suite.repeat).max(1) as usize;
        samples = samples.saturating_add(
            list.len()
                .saturating_mul(suite.cases.len())
                .saturating_mul(repeat),
        );
    }
    check_samples(samples)?;
    Ok(references)
}

fn collect_suite(
    input: &SuiteArms<'_>,
    results: &super::collect::Results,
    options: &ArmsOptions,
    project: &Project,
) -> ArmsSuite {
    let (suite, s) = (input.suite, input.s);
    let cases = suite.cases.len();
    let samples_of = |arm: usize| (0..cases).map(move |c| results.get(&(s, arm, c)));
    let summaries: Vec<SideSummary> = (0..input.arms.len())
        .map(|a| summarize(&input.sides[a], samples_of(a).flatten()))
        .collect();
    let targets: Vec<(String, String)> = (0..input.arms.len())
        .map(|a| {
            input.sides[a]
                .target(suite.provider.as_deref())
                .unwrap_or_default()
        })
        .collect();
    let r = input.reference;
    let others: Vec<usize> = (0..input.arms.len()).filter(|&a| a != r).collect();
    // Each arm against the reference, at the level Bonferroni gives each of the family
    // (intervals and the sample-size hint); verdicts follow Holm's adjusted p-values.
    let family = others.len().max(1);
    let each_level = options.level / family as f64;
    let comparisons: Vec<Option<Comparison>> = (0..input.arms.len())
        .map(|a| {
            (a != r && summaries[a].unavailable.is_none() && summaries[r].unavailable.is_none())
                .then(|| {
                    let paired = paired_cases(
                        &samples_of(r).collect::<Vec<_>>(),
                        &samples_of(a).collect::<Vec<_>>(),
                    );
                    let comparison = compare(&paired, each_level);
                    let same = summaries[a].version == summaries[r].version
                        && targets[a] == targets[r]
                        && input.sides[a].overrides.params == input.sides[r].overrides.params;
                    if same {
                        comparison.of_same_version()
                    } else {
                        comparison
                    }
                })
        })
        .collect();
    let tested: Vec<usize> = others
        .iter()
        .copied()
        .filter(|&a| {
            comparisons[a]
                .as_ref()
                .is_some_and(|c| c.verdict != Verdict::SameVersion && c.cases > 0)
        })
        .collect();
    let adjusted = stats::holm(
        &tested
            .iter()
            .map(|&a| comparisons[a].as_ref().map_or(1.0, |c| c.p_value))
            .collect::<Vec<_>>(),
    );
    let adjusted_of: HashMap<usize, f64> = tested.iter().copied().zip(adjusted).collect();
    let reference_name = &input.arms[r].name;
    let mut rows: Vec<ArmRow> = Vec::new();
    for (a, summary) in summaries.into_iter().enumerate() {
        let samples: Vec<&Vec<Sample>> = samples_of(a).flatten().collect();
        let evaluated = summary.evaluated();
        let priced = is_priced(project, &targets[a].0, &targets[a].1);
        let (verdict, words) = verdict_of(
            a == r,
            &summary,
            comparisons[a].as_ref(),
            adjusted_of.get(&a).copied(),
            options.level,
            tested.len(),
            reference_name,
        );
        rows.push(ArmRow {
            name: input.arms[a].name.clone(),
            provider: targets[a].0.clone(),
            model: targets[a].1.clone(),
            overrides: input.arms[a].overrides.clone(),
            pass_rate_interval: (evaluated > 0)
                .then(|| case_interval(&samples, options.level / family as f64)),
            cost_per_case: (evaluated > 0 && priced).then(|| summary.cost_usd / evaluated as f64),
            tokens_per_case: if evaluated == 0 {
                0.0
            } else {
                (summary.input_tokens + summary.output_tokens) as f64 / evaluated as f64
            },
            is_reference: a == r,
            comparison: comparisons[a].clone(),
            adjusted_p: adjusted_of.get(&a).copied(),
            verdict,
            words,
            pareto: false,
            within_budget: None,
            summary,
        });
    }
    mark_front(&mut rows, options.budget_per_1000);
    let (pick, no_pick) = super::nway_pick::pick(&rows, input, options.budget_per_1000);
    ArmsSuite {
        suite: suite.name.clone(),
        path: suite.path.clone(),
        prompt: suite.prompt.clone(),
        reference: reference_name.clone(),
        level: options.level,
        comparisons: tested.len(),
        budget_per_1000: options.budget_per_1000,
        arms: rows,
        pick,
        no_pick,
    }
}

/// The cases of the reference and an arm side by side, as a comparison of two versions
/// pairs them.
fn paired_cases(
    reference: &[Option<&Vec<Sample>>],
    arm: &[Option<&Vec<Sample>>],
) -> Vec<CaseReport> {
    reference
        .iter()
        .zip(arm)
        .map(|(base, head)| {
            let base = base.map(|s| case_side(s));
            let head = head.map(|s| case_side(s));
            CaseReport {
                name: String::new(),
                change: change(base.as_ref(), head.as_ref()),
                base,
                head,
            }
        })
        .collect()
}

/// Wilson's interval of the pass rate over cases, at confidence `1 − level`.
fn case_interval(cases: &[&Vec<Sample>], level: f64) -> [f64; 2] {
    use super::assertions::Outcome;
    let fractions: Vec<f64> = cases
        .iter()
        .filter_map(|samples| {
            let passed = samples
                .iter()
                .filter(|s| s.outcome == Outcome::Pass)
                .count();
            let failed = samples
                .iter()
                .filter(|s| s.outcome == Outcome::Fail)
                .count();
            (passed + failed > 0).then(|| passed as f64 / (passed + failed) as f64)
        })
        .collect();
    let z = stats::normal_quantile(1.0 - level / 2.0);
    let (low, high) = stats::wilson(fractions.iter().sum(), fractions.len() as f64, z);
    [low, high]
}

/// Whether a model's cost is known: it has a price, or its provider is the offline one.
fn is_priced(project: &Project, provider: &str, model: &str) -> bool {
    let prices = &project.config.prices;
    prices.contains_key(&format!("{provider}/{model}"))
        || prices.contains_key(model)
        || super::provider::provider_section(&project.config, provider)
            .is_ok_and(|section| section.kind == ProviderKind::Offline)
}

/// An arm's verdict against the reference, and the words every format shows.
fn verdict_of(
    is_reference: bool,
    summary: &SideSummary,
    comparison: Option<&Comparison>,
    adjusted: Option<f64>,
    level: f64,
    family: usize,
    reference: &str,
) -> (ArmVerdict, String) {
    if let Some(why) = &summary.unavailable {
        return (ArmVerdict::Unavailable, format!("not evaluated: {why}"));
    }
    if is_reference {
        return (ArmVerdict::Reference, "the reference".into());
    }
    let Some(comparison) = comparison else {
        return (
            ArmVerdict::Unavailable,
            format!("not compared: `{reference}` could not be evaluated"),
        );
    };
    if comparison.verdict == Verdict::SameVersion {
        return (
            ArmVerdict::Same,
            format!("the same requests as `{reference}`: nothing to compare"),
        );
    }
    if comparison.cases == 0 {
        return (
            ArmVerdict::Inconclusive,
            format!("inconclusive: no case was evaluated on both it and `{reference}`"),
        );
    }
    let p = stats::format_p(comparison.p_value);
    let odds = match adjusted {
        Some(adjusted) if family > 1 => {
            format!("p = {p}, adjusted {}", stats::format_p(adjusted))
        }
        _ => format!("p = {p}"),
    };
    let significant = adjusted.unwrap_or(comparison.p_value) < level;
    if significant && comparison.delta_points > 0.0 {
        return (
            ArmVerdict::Better,
            format!("better than `{reference}` ({odds})"),
        );
    }
    if significant && comparison.delta_points < 0.0 {
        return (
            ArmVerdict::Worse,
            format!("worse than `{reference}` ({odds})"),
        );
    }
    if comparison.verdict == Verdict::NoSignificantChange {
        return (
            ArmVerdict::NoSignificantDifference,
            format!("no significant difference from `{reference}` ({odds})"),
        );
    }
    let more = match comparison.more_cases_needed {
        Some(n) => format!(
            "about {n} more cases would decide at a {:.0}-point margin",
            stats::DETECTABLE_DROP_POINTS
        ),
        None => format!(
            "more cases of these rates would not decide at a {:.0}-point margin",
            stats::DETECTABLE_DROP_POINTS
        ),
    };
    (
        ArmVerdict::Inconclusive,
        format!("inconclusive against `{reference}` ({odds}): {more}"),
    )
}

fn mark_front(rows: &mut [ArmRow], budget_per_1000: Option<f64>) {
    let figures: Vec<ArmFigures> = rows.iter().map(figures_of).collect();
    let front = stats::pareto_front(&figures);
    for (row, on_front) in rows.iter_mut().zip(front) {
        row.pareto = on_front;
        row.within_budget =
            budget_per_1000.map(|budget| row.cost_per_case.is_some_and(|c| c * 1000.0 <= budget));
    }
}
