//! Server metrics in the Prometheus text format: renders, canary fallbacks, feedback
//! outcomes with latency, cost and score, reload failures. Resolve counts live in
//! [`super::Counters`], lock-free on the hot path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The labels of a render count: prompt, version, track, result.
type RenderLabels = (String, String, &'static str, &'static str);

/// The labels of feedback: prompt, version, track, outcome.
type FeedbackLabels = (String, String, &'static str, String);

/// One feedback report, as the route validated it.
pub struct FeedbackReport<'a> {
    pub prompt: &'a str,
    pub version: &'a str,
    /// `active` or `canary`: which pointer the version is in the served state.
    pub track: &'static str,
    pub outcome: &'a str,
    pub latency_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    pub score: Option<f64>,
}

/// Counters and sums, keyed by their labels.
#[derive(Default)]
pub struct Metrics {
    renders: Mutex<BTreeMap<RenderLabels, u64>>,
    canary_errors: Mutex<BTreeMap<String, u64>>,
    feedback: Mutex<BTreeMap<FeedbackLabels, FeedbackSums>>,
    reload_failures: AtomicU64,
}

/// Sums of the feedback for one (prompt, version, outcome).
#[derive(Debug, Default, Clone, Copy)]
pub struct FeedbackSums {
    pub count: u64,
    pub latency_ms: f64,
    pub cost_usd: f64,
    pub score: f64,
    pub scored: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// Counts one render; `result` is `ok` or `error`.
    pub fn render(&self, prompt: &str, version: &str, track: &'static str, result: &'static str) {
        *lock(&self.renders)
            .entry((prompt.to_owned(), version.to_owned(), track, result))
            .or_default() += 1;
    }

    /// Counts a canary render that failed and was served from the active version.
    pub fn canary_error(&self, prompt: &str) {
        *lock(&self.canary_errors)
            .entry(prompt.to_owned())
            .or_default() += 1;
    }

    /// Adds one feedback report.
    pub fn feedback(&self, report: &FeedbackReport<'_>) {
        let mut map = lock(&self.feedback);
        let key = (
            report.prompt.to_owned(),
            report.version.to_owned(),
            report.track,
            report.outcome.to_owned(),
        );
        let sums = map.entry(key).or_default();
        sums.count += 1;
        sums.latency_ms += report.latency_ms.unwrap_or(0.0);
        sums.cost_usd += report.cost_usd.unwrap_or(0.0);
        if let Some(score) = report.score {
            sums.score += score;
            sums.scored += 1;
        }
    }

    /// Counts a snapshot that failed to load.
    pub fn reload_failed(&self) {
        self.reload_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes every metric; `resolves` and `snapshot_age` come from the server.
    pub fn render_text(
        &self,
        resolves: &[(String, String, &'static str, u64)],
        snapshot_age: Option<f64>,
        stale: bool,
        unservable: &[&str],
    ) -> String {
        let mut out = String::new();
        out.push_str("# HELP promptctl_resolves_total Resolves served, by prompt, version and track.\n# TYPE promptctl_resolves_total counter\n");
        for (prompt, version, track, n) in resolves {
            let _ = writeln!(
                out,
                "promptctl_resolves_total{{prompt=\"{prompt}\",version=\"{version}\",track=\"{track}\"}} {n}"
            );
        }
        out.push_str("# HELP promptctl_renders_total Renders served, by prompt, version, track and result.\n# TYPE promptctl_renders_total counter\n");
        for ((prompt, version, track, result), n) in lock(&self.renders).iter() {
            let _ = writeln!(
                out,
                "promptctl_renders_total{{prompt=\"{prompt}\",version=\"{version}\",track=\"{track}\",result=\"{result}\"}} {n}"
            );
        }
        out.push_str("# HELP promptctl_canary_errors_total Canary renders that failed and were served from the active version.\n# TYPE promptctl_canary_errors_total counter\n");
        for (prompt, n) in lock(&self.canary_errors).iter() {
            let _ = writeln!(
                out,
                "promptctl_canary_errors_total{{prompt=\"{prompt}\"}} {n}"
            );
        }
        out.push_str("# HELP promptctl_feedback_total Feedback reports, by prompt, version, track and outcome.\n# TYPE promptctl_feedback_total counter\n");
        let feedback = lock(&self.feedback);
        for ((prompt, version, track, outcome), sums) in feedback.iter() {
            let _ = writeln!(
                out,
                "promptctl_feedback_total{{prompt=\"{prompt}\",version=\"{version}\",track=\"{track}\",outcome=\"{outcome}\"}} {}",
                sums.count
            );
        }
        for (name, help, pick) in [
            (
                "promptctl_feedback_latency_ms_sum",
                "Sum of reported latencies.",
                (|s: &FeedbackSums| s.latency_ms) as fn(&FeedbackSums) -> f64,
            ),
            (
                "promptctl_feedback_cost_usd_sum",
                "Sum of reported costs.",
                |s| s.cost_usd,
            ),
            (
                "promptctl_feedback_score_sum",
                "Sum of reported scores.",
                |s| s.score,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((prompt, version, track, outcome), sums) in feedback.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{prompt=\"{prompt}\",version=\"{version}\",track=\"{track}\",outcome=\"{outcome}\"}} {}",
                    pick(sums)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP promptctl_snapshot_age_seconds Seconds since the source was last read successfully (how fresh the served state is).\n# TYPE promptctl_snapshot_age_seconds gauge"
        );
        if let Some(age) = snapshot_age {
            let _ = writeln!(out, "promptctl_snapshot_age_seconds {age:.3}");
        }
        let _ = writeln!(
            out,
            "# HELP promptctl_snapshot_stale 1 when the source could not be read at the last poll.\n# TYPE promptctl_snapshot_stale gauge\npromptctl_snapshot_stale {}",
            u8::from(stale)
        );
        let _ = writeln!(
            out,
            "# HELP promptctl_reload_failures_total Snapshots that failed to load.\n# TYPE promptctl_reload_failures_total counter\npromptctl_reload_failures_total {}",
            self.reload_failures.load(Ordering::Relaxed)
        );
        out.push_str("# HELP promptctl_prompt_unservable 1 for a prompt with a version that cannot be served (its canary: keys get the active version; its active version: the prompt is not served).\n# TYPE promptctl_prompt_unservable gauge\n");
        for prompt in unservable {
            let _ = writeln!(out, "promptctl_prompt_unservable{{prompt=\"{prompt}\"}} 1");
        }
        out
    }
}
