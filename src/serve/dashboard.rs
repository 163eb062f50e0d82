//! The dashboard at `GET /`: one server-rendered page with every prompt's pointers, each
//! rollout's plan, canary and active side by side, the gates' verdicts, the diff between
//! the two versions and the recent history. No build step and no assets: a few lines of
//! script refresh it, and every state is said in words, so it reads without colour.

use std::fmt::Write as _;

use super::ServerState;
use super::rollouts::{RolloutView, views};
use crate::clock;
use crate::diff::{LineOp, diff_text};
use crate::prompt::Prompt;
use crate::rollout::Verdict;
use crate::served::Snapshot;
use crate::store::Track;

/// How often the page refreshes itself, in milliseconds.
const REFRESH_MS: u32 = 5000;

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    crate::markup::escape(text)
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em 1.5em;color:#1b1f24}\
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}\
code,pre{font:12px/1.4 ui-monospace,monospace}pre{background:#f6f8fa;padding:.6em;overflow-x:auto;border:1px solid #ddd}\
.del{background:#ffebe9}.ins{background:#e6ffec}.breach{font-weight:bold;text-decoration:underline}\
.now{font-weight:bold;border:2px solid #1b1f24;padding:0 .3em}.muted{color:#57606a}";

/// Renders the whole page.
pub fn page(state: &ServerState, snapshot: Option<&Snapshot>) -> String {
    let mut out = String::new();
    let env = esc(&state.env);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>promptctl · {env}</title>\
<meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body><main id=\"main\">"
    );
    match snapshot {
        Some(snapshot) => body(&mut out, state, snapshot),
        None => {
            let _ = write!(
                out,
                "<h1>promptctl · {env}</h1><p>Nothing has been published to <code>{env}</code> yet.</p>"
            );
        }
    }
    let _ = write!(
        out,
        "</main><script>\
setInterval(async()=>{{if(document.hidden)return;try{{const r=await fetch(location.href,{{cache:'no-store'}});\
if(!r.ok)return;const d=new DOMParser().parseFromString(await r.text(),'text/html');\
const m=d.getElementById('main');if(m)document.getElementById('main').replaceWith(m);}}catch(e){{}}}},{REFRESH_MS});\
</script></body></html>"
    );
    out
}

fn body(out: &mut String, state: &ServerState, snapshot: &Snapshot) {
    let health = state.health().clone();
    let stale = match health.stale_since {
        Some(_) => format!(
            " · <strong>STALE</strong>: {}",
            esc(health
                .last_error
                .as_deref()
                .unwrap_or("the source cannot be read"))
        ),
        None => String::new(),
    };
    let loaded = snapshot
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let _ = write!(
        out,
        "<h1>promptctl · {}</h1><p class=\"muted\">release <code>{}</code> · loaded {} · controller {}{stale}</p>",
        esc(&snapshot.env),
        esc(&snapshot.commit[..snapshot.commit.len().min(12)]),
        clock::format(loaded),
        if state.controlling { "on" } else { "off" },
    );
    let rollouts = views(state, snapshot).rollouts;
    prompts_table(out, snapshot, &rollouts);
    let resolves = state.counters.resolves();
    for view in &rollouts {
        rollout_section(out, snapshot, view, &resolves, state.controlling);
    }
    history(out, snapshot);
}

fn prompts_table(out: &mut String, snapshot: &Snapshot, rollouts: &[RolloutView]) {
    out.push_str(
        "<h2>Prompts</h2><table id=\"prompts\"><tr><th>Prompt</th><th>Active</th><th>Canary</th>\
<th>On the canary</th><th>Plan</th><th>Status</th></tr>",
    );
    for (name, served) in &snapshot.prompts {
        let view = rollouts.iter().find(|v| &v.name == name);
        let (canary, route) = match &served.pointers.canary {
            Some(c) => (
                format!("<code>{}</code>", c.version.short()),
                esc(&c.describe()),
            ),
            None => ("—".into(), "—".into()),
        };
        let plan = view
            .and_then(|v| v.plan.as_ref())
            .map_or_else(|| "—".into(), plan_line);
        let status = match view {
            Some(v) => v
                .evaluation
                .as_ref()
                .map_or_else(|| "canary by hand".into(), |e| esc(&e.decision.describe())),
            None => "active only".into(),
        };
        let _ = write!(
            out,
            "<tr><td><a href=\"#{id}\">{name}</a></td><td><code>{}</code></td><td>{canary}</td><td>{route}</td><td>{plan}</td><td>{status}</td></tr>",
            served.pointers.active.short(),
            id = anchor(name.as_str()),
            name = esc(name.as_str()),
        );
    }
    out.push_str("</table>");
}

fn anchor(name: &str) -> String {
    format!("p-{}", name.replace('/', "--"))
}

/// The stages of a plan, the current one marked in words and in a box.
fn plan_line(plan: &crate::store::Rollout) -> String {
    let stages: Vec<String> = plan
        .stages
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            if i == plan.step {
                format!(
                    "<span class=\"now\">{} (now)</span>",
                    esc(&stage.to_string())
                )
            } else {
                esc(&stage.to_string())
            }
        })
        .collect();
    let paused = if plan.paused { " · PAUSED" } else { "" };
    format!(
        "{} · every {}{paused}",
        stages.join(" → "),
        clock::human_duration(plan.every)
    )
}

fn resolves_of(
    resolves: &[(String, crate::prompt::Version, Track, u64)],
    name: &str,
    track: Track,
) -> u64 {
    resolves
        .iter()
        .filter(|(n, _, t, _)| n == name && *t == track)
        .map(|(_, _, _, count)| count)
        .sum()
}

fn rollout_section(
    out: &mut String,
    snapshot: &Snapshot,
    view: &RolloutView,
    resolves: &[(String, crate::prompt::Version, Track, u64)],
    controlling: bool,
) {
    let name = view.name.as_str();
    let _ = write!(
        out,
        "<section id=\"{}\"><h2>{}: canary <code>{}</code> vs active <code>{}</code></h2>",
        anchor(name),
        esc(name),
        view.canary.short(),
        view.active.short()
    );
    let _ = write!(out, "<p>On the canary: {}.", esc(&view.route));
    if let Some(plan) = &view.plan {
        let _ = write!(
            out,
            " Plan: {}. Stage {} of {} since {}, may advance at {}.",
            plan_line(plan),
            plan.step + 1,
            plan.stages.len(),
            clock::format(plan.step_started),
            clock::format(plan.step_ends())
        );
    }
    out.push_str("</p>");
    if let Some(evaluation) = &view.evaluation {
        let _ = write!(
            out,
            "<p><strong>{}</strong> {}</p>",
            if controlling {
                "Decision now:"
            } else {
                "A controller would decide now (none runs in this server):"
            },
            esc(&evaluation.decision.describe())
        );
    }
    if let Some(last) = &view.last_decision {
        let _ = write!(
            out,
            "<p class=\"muted\">Controller at {}: {}</p>",
            clock::format(last.at),
            esc(&last.evaluation.decision.describe())
        );
    }
    figures(out, view, resolves);
    if let Some(evaluation) = &view.evaluation
        && !evaluation.gates.is_empty()
    {
        out.push_str(
            "<table class=\"gates\"><tr><th>Gate</th><th>Verdict</th><th>Figures</th></tr>",
        );
        for gate in &evaluation.gates {
            let verdict = match gate.verdict {
                Verdict::Pass => "pass".to_owned(),
                Verdict::Breach if gate.alert_only => {
                    "<span class=\"breach\">BREACH (alert only)</span>".into()
                }
                Verdict::Breach => "<span class=\"breach\">BREACH</span>".into(),
                Verdict::Inconclusive => "inconclusive".into(),
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{verdict}</td><td>{}</td></tr>",
                gate.gate,
                esc(&gate.detail)
            );
        }
        out.push_str("</table>");
    }
    if let Some(served) = snapshot.prompts.get(&view.name)
        && let Some(canary) = &served.canary
    {
        diff(out, &served.active.prompt, &canary.prompt);
    }
    out.push_str("</section>");
}

fn figures(
    out: &mut String,
    view: &RolloutView,
    resolves: &[(String, crate::prompt::Version, Track, u64)],
) {
    let (a, c) = (&view.summary.active, &view.summary.canary);
    let name = view.name.as_str();
    let rows: [(&str, String, String); 7] = [
        (
            "Requests (resolves)",
            resolves_of(resolves, name, Track::Active).to_string(),
            resolves_of(resolves, name, Track::Canary).to_string(),
        ),
        (
            "Feedback reports",
            a.reports.to_string(),
            c.reports.to_string(),
        ),
        ("Error rate", rate(a.error_rate), rate(c.error_rate)),
        ("Mean latency", ms(a.mean_latency_ms), ms(c.mean_latency_ms)),
        ("p95 latency", ms(a.p95_latency_ms), ms(c.p95_latency_ms)),
        (
            "Cost per request",
            usd(a.mean_cost_usd),
            usd(c.mean_cost_usd),
        ),
        ("Mean score", score(a.mean_score), score(c.mean_score)),
    ];
    out.push_str(
        "<table class=\"figures\"><tr><th>Over this step</th><th>Active</th><th>Canary</th></tr>",
    );
    for (label, active, canary) in rows {
        let _ = write!(
            out,
            "<tr><th>{label}</th><td class=\"num\">{active}</td><td class=\"num\">{canary}</td></tr>"
        );
    }
    out.push_str("</table>");
}

fn rate(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

fn ms(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.1} ms"))
}

fn usd(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("${v:.5}"))
}

fn score(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.3}"))
}

/// What a version is, as lines to diff: model settings, then each message and partial.
fn as_text(prompt: &Prompt) -> String {
    let spec = &prompt.spec;
    let mut text = format!("provider: {}\nmodel: {}\n", spec.provider, spec.model);
    for (key, value) in &spec.params {
        let _ = writeln!(text, "params.{key}: {value}");
    }
    for message in &spec.messages {
        let _ = writeln!(text, "[{}]", message.role.as_str());
        text.push_str(&message.content);
        if !message.content.ends_with('\n') {
            text.push('\n');
        }
    }
    for (name, body) in &spec.partials {
        let _ = writeln!(text, "[partial {name}]");
        text.push_str(body);
        if !body.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

fn diff(out: &mut String, active: &Prompt, canary: &Prompt) {
    let change = diff_text(&as_text(active), &as_text(canary));
    let _ = write!(
        out,
        "<p>Diff, active → canary: {} added, {} removed.</p><pre class=\"diff\">",
        change.added, change.removed
    );
    for hunk in &change.hunks {
        let _ = writeln!(out, "{}", hunk.header());
        for line in &hunk.lines {
            let class = match line.op {
                LineOp::Delete => " class=\"del\"",
                LineOp::Insert => " class=\"ins\"",
                LineOp::Equal => "",
            };
            let _ = writeln!(
                out,
                "<span{class}>{}{}</span>",
                line.op.marker(),
                esc(line.text.trim_end_matches('\n'))
            );
        }
    }
    out.push_str("</pre>");
}

fn history(out: &mut String, snapshot: &Snapshot) {
    out.push_str("<h2>Recent history</h2>");
    if snapshot.history.is_empty() {
        out.push_str(
            "<p class=\"muted\">Not available: this server started from its kept copy.</p>",
        );
        return;
    }
    out.push_str("<table id=\"history\"><tr><th>When (UTC)</th><th>Commit</th><th>Action</th><th>Reason</th><th>By</th></tr>");
    for entry in &snapshot.history {
        let _ = write!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            clock::format(entry.time),
            esc(crate::shortid::commit(&entry.commit)),
            esc(&entry.record.summary),
            esc(entry.record.reason.as_deref().unwrap_or("")),
            esc(entry.author.split(" <").next().unwrap_or(""))
        );
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Summary;

    #[test]
    fn text_is_escaped_and_missing_figures_show_dashes() {
        assert_eq!(esc("<b>"), "&lt;b&gt;");
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
}
