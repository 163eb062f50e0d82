//! The dashboard at `GET /`: one server-rendered page with every prompt's pointers, each
//! rollout's plan, canary and active side by side, the gates' verdicts, the diff between
//! the two versions and the recent history. No build step and no assets: a few lines of
//! script refresh it, and every state is said in words, so it reads without colour.
//!
//! The page is a minijinja template (`templates/dashboard.html`) rendered with HTML
//! auto-escaping from the view built here: text from prompts, commits and providers is
//! escaped by the engine, not by hand.

use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

mod experiments;

use super::charts::{Chart, charts, stage_of};
use super::rollouts::{RolloutView, views};
use super::{ServerState, lock};
use crate::base::clock;
use crate::rollout::{Verdict, error_rate_evidence};
use crate::served::Snapshot;

/// How often the page refreshes itself, in milliseconds.
const REFRESH_MS: u32 = 5000;

const TEMPLATE: &str = "dashboard.html";

/// The template environment, built once; the `.html` name turns auto-escaping on.
fn templates() -> &'static Environment<'static> {
    static TEMPLATES: OnceLock<Environment<'static>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let mut env = Environment::new();
        env.add_template(TEMPLATE, include_str!("../templates/dashboard.html"))
            .expect("the dashboard template parses (a unit test renders it)");
        env
    })
}

/// Renders the whole page.
pub fn page(state: &ServerState, snapshot: Option<&Snapshot>) -> String {
    let view = PageView {
        env: &state.env,
        refresh_ms: REFRESH_MS,
        release: snapshot.map(|snapshot| release_view(state, snapshot)),
    };
    render(&view)
}

fn render(view: &PageView) -> String {
    templates()
        .get_template(TEMPLATE)
        .and_then(|template| template.render(minijinja::value::Serde(view)))
        .unwrap_or_else(|error| {
            tracing::error!(%error, "the dashboard did not render");
            format!(
                "<!doctype html><title>promptctl</title><p>The dashboard did not render: {}</p>",
                crate::base::markup::escape(&error.to_string())
            )
        })
}

#[derive(Serialize)]
struct PageView<'a> {
    env: &'a str,
    refresh_ms: u32,
    release: Option<ReleaseView>,
}

#[derive(Serialize)]
struct ReleaseView {
    commit: String,
    loaded: String,
    controlling: bool,
    stale: Option<String>,
    /// Why the controller's metric source could not be read, when it could not.
    metric_source_error: Option<String>,
    /// Prompts with a version that cannot be served, and why.
    problems: Vec<(String, String)>,
    prompts: Vec<PromptRow>,
    rollouts: Vec<RolloutBlock>,
    experiments: Vec<experiments::ExperimentBlock>,
    history: Vec<HistoryRow>,
}

#[derive(Serialize)]
struct PromptRow {
    name: String,
    anchor: String,
    active: String,
    canary: Option<String>,
    route: Option<String>,
    plan: Option<PlanView>,
    status: String,
}

#[derive(Serialize)]
struct PlanView {
    stages: Vec<StageView>,
    every: String,
    paused: bool,
    /// The current stage, counted from 1.
    step: usize,
    since: String,
    advance_at: String,
}

#[derive(Serialize)]
struct StageView {
    label: String,
    now: bool,
}

#[derive(Serialize)]
struct RolloutBlock {
    name: String,
    anchor: String,
    canary: String,
    active: String,
    route: String,
    plan: Option<PlanView>,
    decision: Option<String>,
    last_decision: Option<DecisionView>,
    /// Why requests for the canary fell back to the active version, when they did.
    canary_error: Option<String>,
    figures: Vec<FigureRow>,
    gates: Vec<GateRow>,
    diff: Option<DiffView>,
    /// The step's evidence for the error-rate gate, in words.
    evidence: Option<String>,
    /// When the plan may take its next step, in words.
    next_step: Option<String>,
    /// This server's figures over time, canary against active.
    charts: Vec<Chart>,
}

#[derive(Serialize)]
struct DecisionView {
    at: String,
    text: String,
}

#[derive(Serialize)]
struct FigureRow {
    label: &'static str,
    active: String,
    canary: String,
}

#[derive(Serialize)]
struct GateRow {
    gate: String,
    /// `pass`, `breach` or `inconclusive`.
    verdict: &'static str,
    alert_only: bool,
    detail: String,
}

#[derive(Serialize)]
struct DiffView {
    added: usize,
    removed: usize,
    hunks: Vec<HunkView>,
}

#[derive(Serialize)]
struct HunkView {
    header: String,
    lines: Vec<LineView>,
}

#[derive(Serialize)]
struct LineView {
    class: &'static str,
    marker: char,
    text: String,
}

#[derive(Serialize)]
struct HistoryRow {
    when: String,
    commit: String,
    summary: String,
    reason: String,
    by: String,
}

fn release_view(state: &ServerState, snapshot: &Snapshot) -> ReleaseView {
    let health = state.health().clone();
    let loaded = snapshot
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let rollouts = views(state, snapshot).rollouts;
    ReleaseView {
        commit: crate::base::shortid::commit(&snapshot.commit).to_owned(),
        loaded: clock::format(loaded),
        controlling: state.controlling,
        stale: health.why_stale(state.overdue()),
        metric_source_error: state
            .metric_source_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        problems: snapshot
            .problems
            .iter()
            .map(|(name, problem)| (name.to_string(), problem.clone()))
            .collect(),
        prompts: prompt_rows(snapshot, &rollouts),
        rollouts: ordered_rollouts(&rollouts)
            .into_iter()
            .map(|view| {
                let requests = snapshot
                    .prompts
                    .get(&view.name)
                    .map_or([0, 0], |served| state.step_resolves(&view.name, served));
                let mut block = rollout_block(snapshot, view, requests);
                block.canary_error = canary_error(state, view);
                block.charts = latest_charts(state, snapshot, view);
                block
            })
            .collect(),
        experiments: experiments::experiment_blocks(state, snapshot),
        history: history(snapshot),
    }
}

fn prompt_rows(snapshot: &Snapshot, rollouts: &[RolloutView]) -> Vec<PromptRow> {
    let mut ordered: Vec<_> = snapshot
        .prompts
        .iter()
        .map(|(name, served)| (name, served, rollouts.iter().find(|v| &v.name == name)))
        .collect();
    ordered.sort_by_key(|(name, _, view)| (urgency(*view), (*name).clone()));
    ordered
        .into_iter()
        .map(|(name, served, view)| {
            let canary = served.pointers.canary.as_ref();
            let experiment = served.pointers.experiment.as_ref();
            PromptRow {
                name: name.to_string(),
                anchor: match experiment {
                    Some(e) => anchor(&format!("experiment-{}", e.name)),
                    None => anchor(name.as_str()),
                },
                active: served.pointers.active.short(),
                canary: canary.map(|c| c.version.short()),
                route: canary.map(|c| c.describe()).or_else(|| {
                    experiment.map(|e| format!("experiment {}: {}", e.name, e.describe()))
                }),
                plan: view.and_then(|v| v.plan.as_ref()).map(plan_view),
                status: match view {
                    Some(v) => v
                        .evaluation
                        .as_ref()
                        .map_or_else(|| "canary by hand".into(), |e| e.decision.describe()),
                    None if experiment.is_some() => "experiment running".into(),
                    None => "active only".into(),
                },
            }
        })
        .collect()
}

/// The rollouts, breaches first.
fn ordered_rollouts(rollouts: &[RolloutView]) -> Vec<&RolloutView> {
    let mut ordered: Vec<&RolloutView> = rollouts.iter().collect();
    ordered.sort_by_key(|view| (urgency(Some(view)), view.name.clone()));
    ordered
}

/// How urgently a rollout needs eyes: breaches first, then alerts, then holds, then the
/// rest; prompts without a rollout last.
fn urgency(view: Option<&RolloutView>) -> u8 {
    use crate::rollout::Decision;
    match view
        .and_then(|v| v.evaluation.as_ref())
        .map(|e| &e.decision)
    {
        Some(Decision::Revert { .. }) => 0,
        Some(Decision::Alert { .. }) => 1,
        Some(Decision::Hold { .. }) => 2,
        Some(_) => 3,
        None if view.is_some() => 3,
        None => 4,
    }
}

fn anchor(name: &str) -> String {
    format!("p-{}", name.replace('/', "--"))
}

/// The stages of a plan, the current one marked.
fn plan_view(plan: &crate::store::Rollout) -> PlanView {
    PlanView {
        stages: plan
            .stages
            .iter()
            .enumerate()
            .map(|(i, stage)| StageView {
                label: stage.to_string(),
                now: i == plan.step,
            })
            .collect(),
        every: crate::base::duration::human(plan.every),
        paused: plan.paused,
        step: plan.step + 1,
        since: clock::format(plan.step_started),
        advance_at: clock::format(plan.step_ends()),
    }
}

/// `requests`: resolves on the active and the canary track over the step, the window the
/// feedback figures cover.
fn rollout_block(snapshot: &Snapshot, view: &RolloutView, requests: [u64; 2]) -> RolloutBlock {
    let served = snapshot.prompts.get(&view.name);
    RolloutBlock {
        name: view.name.to_string(),
        anchor: anchor(view.name.as_str()),
        canary: view.canary.short(),
        active: view.active.short(),
        route: view.route.clone(),
        plan: view.plan.as_ref().map(plan_view),
        decision: view.evaluation.as_ref().map(|e| e.decision.describe()),
        canary_error: None,
        last_decision: view.last_decision.as_ref().map(|last| DecisionView {
            at: clock::format(last.at),
            text: last.evaluation.decision.describe(),
        }),
        figures: figures(view, requests),
        gates: view
            .evaluation
            .iter()
            .flat_map(|e| &e.gates)
            .map(|gate| GateRow {
                gate: gate.gate.clone(),
                verdict: match gate.verdict {
                    Verdict::Pass => "pass",
                    Verdict::Breach => "breach",
                    Verdict::Inconclusive => "inconclusive",
                },
                alert_only: gate.alert_only,
                detail: gate.detail.clone(),
            })
            .collect(),
        diff: served
            .and_then(|s| s.canary.as_ref().map(|c| (&s.active.prompt, &c.prompt)))
            .map(|(active, canary)| diff(active, canary)),
        evidence: view
            .plan
            .as_ref()
            .and_then(|plan| error_rate_evidence(&plan.gates, &view.window)),
        next_step: view.plan.as_ref().map(next_step),
        charts: Vec::new(),
    }
}

/// When a plan may take its next step: `in 23 min`, or `due now`.
fn next_step(plan: &crate::store::Rollout) -> String {
    if plan.next_stage().is_none() {
        return "at its last stage".into();
    }
    let left = plan.step_ends() - clock::now();
    if left <= 0 {
        "due now, when the evidence allows".into()
    } else {
        format!("in {}", crate::base::duration::human(left as u64))
    }
}

/// The charts of a canary: its recorded points, ending at the figures of this moment.
fn latest_charts(state: &ServerState, snapshot: &Snapshot, view: &RolloutView) -> Vec<Chart> {
    let Some(served) = snapshot.prompts.get(&view.name) else {
        return Vec::new();
    };
    let recorded = lock(&state.charts);
    let Some(series) = recorded
        .get(&view.name)
        .filter(|series| series.canary() == view.canary)
    else {
        return Vec::new();
    };
    let (step, stage) = stage_of(&served.pointers);
    charts(&series.with_latest(clock::now(), step, stage(), &view.window))
}

/// The canary's latest failure, in words, if requests for it fell back.
fn canary_error(state: &ServerState, view: &RolloutView) -> Option<String> {
    let failures = state
        .canary_failures
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let failure = failures.get(&view.name)?;
    (failure.canary == view.canary).then(|| {
        format!(
            "{} request{} fell back to the active version, the last at {}: {}",
            failure.count,
            if failure.count == 1 { "" } else { "s" },
            clock::format(
                failure
                    .last_at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64)
            ),
            failure.reason
        )
    })
}

mod parts;

use parts::{diff, figures, history};

#[cfg(test)]
mod tests {
    use super::parts::{rate, usd};
    use super::*;
    use crate::rollout::Summary;

    #[test]
    fn text_is_escaped_and_missing_figures_show_dashes() {
        let empty = Summary {
            reports: 0,
            error_rate: None,
            mean_latency_ms: None,
            p95_latency_ms: None,
            mean_cost_usd: None,
            mean_score: None,
        };
        assert_eq!(rate(empty.error_rate), "—");
        assert_eq!(rate(Some(0.4)), "40.0%");
        assert_eq!(usd(Some(0.0012)), "$0.00120");
    }

    fn hostile_release() -> ReleaseView {
        let evil = "<script>alert(1)</script>";
        ReleaseView {
            commit: "0123456789ab".into(),
            loaded: "2026-01-01 00:00".into(),
            controlling: false,
            stale: Some(evil.into()),
            metric_source_error: Some(evil.into()),
            problems: vec![(evil.into(), evil.into())],
            prompts: vec![PromptRow {
                name: evil.into(),
                anchor: "p-x".into(),
                active: "aaaaaaaaaaaa".into(),
                canary: Some("bbbbbbbbbbbb".into()),
                route: Some(evil.into()),
                plan: None,
                status: evil.into(),
            }],
            rollouts: vec![RolloutBlock {
                name: evil.into(),
                anchor: "p-x\" onmouseover=\"x".into(),
                canary: "bbbbbbbbbbbb".into(),
                active: "aaaaaaaaaaaa".into(),
                route: evil.into(),
                plan: None,
                decision: Some(evil.into()),
                last_decision: None,
                canary_error: Some(evil.into()),
                figures: Vec::new(),
                gates: vec![GateRow {
                    gate: "latency".to_owned(),
                    verdict: "breach",
                    alert_only: true,
                    detail: evil.into(),
                }],
                diff: Some(DiffView {
                    added: 1,
                    removed: 0,
                    hunks: vec![HunkView {
                        header: "@@ -1 +1 @@".into(),
                        lines: vec![LineView {
                            class: "ins",
                            marker: '+',
                            text: evil.into(),
                        }],
                    }],
                }),
                evidence: Some(evil.into()),
                next_step: Some(evil.into()),
                charts: vec![Chart {
                    title: "Error rate",
                    width: 300.0,
                    height: 110.0,
                    plot_height: 90.0,
                    active: "0,1 2,3".into(),
                    canary: evil.into(),
                    top: evil.into(),
                    latest: evil.into(),
                    stages: vec![super::super::charts::StageMark {
                        x: 0.0,
                        label: evil.into(),
                    }],
                }],
            }],
            experiments: Vec::new(),
            history: vec![HistoryRow {
                when: "2026-01-01 00:00".into(),
                commit: "0123456".into(),
                summary: evil.into(),
                reason: evil.into(),
                by: evil.into(),
            }],
        }
    }

    #[test]
    fn every_text_on_the_page_is_escaped_by_the_template_engine() {
        let page = render(&PageView {
            env: "prod<1>",
            refresh_ms: REFRESH_MS,
            release: Some(hostile_release()),
        });
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("\" onmouseover"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{page}"
        );
        assert!(
            page.contains("<title>promptctl · prod&lt;1&gt;</title>"),
            "{page}"
        );
        assert!(page.contains("BREACH (alert only)"), "{page}");
        assert!(
            page.contains("<span class=\"ins\">+&lt;script&gt;"),
            "{page}"
        );
        // The page's own script is there, once.
        assert_eq!(page.matches("<script>").count(), 1, "{page}");
        assert!(page.contains("},5000);"), "{page}");
    }

    #[test]
    fn an_environment_with_nothing_published_says_so() {
        let page = render(&PageView {
            env: "prod",
            refresh_ms: REFRESH_MS,
            release: None,
        });
        assert!(page.starts_with("<!doctype html>"), "{page}");
        assert!(
            page.contains("Nothing has been published to <code>prod</code> yet."),
            "{page}"
        );
    }
}
