//! The pick of an N-way comparison: the best arm on the front (within a budget) that is
//! the reference or significantly not worse than it, and the one step that makes it the
//! head (an edit to the prompt file, or the branch to merge).

use super::arms::{ArmSpec, Overrides};
use super::arms_report::{ArmRow, ArmVerdict, Pick, SuiteArms, figures_of};
use super::run_input::SideInput;
use super::stats::{self, ArmFigures};
use crate::source::RevisionSpec;

/// The best arm on the front (within the budget) that is the reference or significantly
/// not worse than it: its interval's low end above minus the margin.
pub(super) fn pick(
    rows: &[ArmRow],
    input: &SuiteArms<'_>,
    budget_per_1000: Option<f64>,
) -> (Option<Pick>, Option<String>) {
    let margin = stats::DETECTABLE_DROP_POINTS;
    let not_worse = |row: &ArmRow| {
        row.is_reference
            || row.verdict == ArmVerdict::Same
            || row
                .comparison
                .as_ref()
                .is_some_and(|c| row.verdict != ArmVerdict::Worse && c.interval_points[0] > -margin)
    };
    let figures: Vec<ArmFigures> = rows
        .iter()
        .map(|row| {
            if not_worse(row) {
                figures_of(row)
            } else {
                ArmFigures {
                    pass_rate: None,
                    cost_per_case: None,
                    latency_ms: None,
                }
            }
        })
        .collect();
    let front: Vec<bool> = rows.iter().map(|r| r.pareto).collect();
    let best = (0..rows.len())
        .filter(|&i| front[i] && figures[i].pass_rate.is_some())
        .filter(|&i| rows[i].within_budget != Some(false))
        .max_by(|&i, &j| {
            let (a, b) = (&rows[i].summary, &rows[j].summary);
            a.pass_rate
                .total_cmp(&b.pass_rate)
                .then(
                    (rows[j].cost_per_case.unwrap_or(f64::MAX))
                        .total_cmp(&rows[i].cost_per_case.unwrap_or(f64::MAX)),
                )
                .then(b.mean_latency_ms.total_cmp(&a.mean_latency_ms))
                .then(j.cmp(&i))
        });
    let reference = &input.arms[input.reference].name;
    let Some(best) = best else {
        let within = budget_per_1000
            .map(|b| format!(" within ${b} per 1,000 requests"))
            .unwrap_or_default();
        return (
            None,
            Some(format!(
                "no arm on the front{within} is `{reference}` or shown not worse than it at a {margin:.0}-point margin"
            )),
        );
    };
    let row = &rows[best];
    let why = if row.is_reference {
        format!("no other arm on the front is shown not worse than `{reference}` and better placed")
    } else {
        format!(
            "the highest pass rate on the front among the arms shown not worse than `{reference}` (at a {margin:.0}-point margin)"
        )
    };
    let step = step_to(&input.arms[best], &input.sides[best], row.is_reference);
    (
        Some(Pick {
            arm: row.name.clone(),
            why,
            step,
        }),
        None,
    )
}

/// The one step that makes an arm the head.
fn step_to(arm: &ArmSpec, side: &SideInput<'_>, is_reference: bool) -> String {
    let path = side
        .prompt
        .as_ref()
        .map(|(p, _)| p.path.clone())
        .unwrap_or_default();
    if !arm.overrides.is_empty() {
        let on = match &arm.spec {
            RevisionSpec::Worktree => String::new(),
            spec => format!(" (as it is at `{spec}`)"),
        };
        return format!("edit {path}{on}: {}", edit_lines(&arm.overrides).join("; "));
    }
    match &arm.spec {
        _ if is_reference => format!("nothing to change: keep `{}`", arm.spec),
        RevisionSpec::Worktree => format!("commit the working tree's {path}"),
        RevisionSpec::Git(rev) => format!("git merge {rev}"),
        spec => format!("make {path} what `{spec}` has (`promptctl show` prints it)"),
    }
}

/// An arm's changes as the lines of the prompt file that make them.
fn edit_lines(overrides: &Overrides) -> Vec<String> {
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    let mut lines = Vec::new();
    if let Some(provider) = &overrides.provider {
        lines.push(format!("set `provider = {provider:?}`"));
    }
    if let Some(model) = &overrides.model {
        lines.push(format!("set `model = {model:?}`"));
    }
    for (key, value) in &overrides.params {
        lines.push(format!("set `{key} = {}` under `[params]`", text(value)));
    }
    lines
}
