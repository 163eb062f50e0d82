//! The dashboard's rows: figures side by side, the diff from active to canary as lines,
//! and the release history.

use std::fmt::Write as _;

use super::{DiffView, FigureRow, HistoryRow, HunkView, LineView};
use crate::base::clock;
use crate::diff::{LineOp, diff_text};
use crate::prompt::Prompt;
use crate::serve::rollouts::RolloutView;
use crate::served::Snapshot;

pub(super) fn figures(view: &RolloutView, requests: [u64; 2]) -> Vec<FigureRow> {
    let (a, c) = (&view.summary.active, &view.summary.canary);
    let row = |label, active, canary| FigureRow {
        label,
        active,
        canary,
    };
    vec![
        row(
            "Requests (resolves)",
            requests[0].to_string(),
            requests[1].to_string(),
        ),
        row(
            "Feedback reports",
            a.reports.to_string(),
            c.reports.to_string(),
        ),
        row("Error rate", rate(a.error_rate), rate(c.error_rate)),
        row("Mean latency", ms(a.mean_latency_ms), ms(c.mean_latency_ms)),
        row("p95 latency", ms(a.p95_latency_ms), ms(c.p95_latency_ms)),
        row(
            "Cost per request",
            usd(a.mean_cost_usd),
            usd(c.mean_cost_usd),
        ),
        row("Mean score", score(a.mean_score), score(c.mean_score)),
    ]
}

pub(super) fn rate(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

pub(super) fn ms(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.1} ms"))
}

pub(super) fn usd(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("${v:.5}"))
}

pub(super) fn score(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.3}"))
}

/// What a version is, as lines to diff: model settings, then each message and partial.
pub(super) fn as_text(prompt: &Prompt) -> String {
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

pub(super) fn diff(active: &Prompt, canary: &Prompt) -> DiffView {
    let change = diff_text(&as_text(active), &as_text(canary));
    DiffView {
        added: change.added,
        removed: change.removed,
        hunks: change
            .hunks
            .iter()
            .map(|hunk| HunkView {
                header: hunk.header(),
                lines: hunk
                    .lines
                    .iter()
                    .map(|line| LineView {
                        class: match line.op {
                            LineOp::Delete => "del",
                            LineOp::Insert => "ins",
                            LineOp::Equal => "",
                        },
                        marker: line.op.marker(),
                        text: line.text.trim_end_matches('\n').to_owned(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub(super) fn history(snapshot: &Snapshot) -> Vec<HistoryRow> {
    snapshot
        .history
        .iter()
        .map(|entry| HistoryRow {
            when: clock::format(entry.time),
            commit: crate::base::shortid::commit(&entry.commit).to_owned(),
            summary: entry.record.summary.clone(),
            reason: entry.record.reason.clone().unwrap_or_default(),
            by: entry.author.split(" <").next().unwrap_or("").to_owned(),
        })
        .collect()
}
