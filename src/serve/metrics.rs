//! Server metrics in the Prometheus text format: renders, canary fallbacks, feedback
//! outcomes with latency and score histograms and cost, reload failures, in Prometheus's
//! conventions (base units, `_total` counters), so that a fleet's figures are sums and a
//! p95 is one `histogram_quantile` away. Resolve counts live in [`super::Counters`],
//! lock-free on the hot path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The labels of a render count: prompt, version, track, result.
type RenderLabels = (String, String, &'static str, &'static str);

/// The labels of feedback: prompt, version, track, outcome.
type FeedbackLabels = (String, String, &'static str, String);

/// The labels of feedback figures: prompt, version, track.
type FigureLabels = (String, String, &'static str);

/// Upper bounds of the latency buckets, in seconds (Prometheus's base unit): model calls
/// take from milliseconds (a cache) to a minute (a long answer).
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Upper bounds of the score buckets: scores from 0 to 1 in tenths, and ratings up to 10.
pub const SCORE_BUCKETS: [f64; 13] = [
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.5, 5.0, 10.0,
];

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
    pub output_valid: Option<bool>,
    pub tool_error: Option<bool>,
}

/// Counters and histograms, keyed by their labels.
#[derive(Default)]
pub struct Metrics {
    renders: Mutex<BTreeMap<RenderLabels, u64>>,
    canary_errors: Mutex<BTreeMap<String, u64>>,
    feedback: Mutex<Feedback>,
    reload_failures: AtomicU64,
}

/// Feedback so far: reports by outcome, and the figures they carried.
#[derive(Default)]
struct Feedback {
    reports: BTreeMap<FeedbackLabels, u64>,
    figures: BTreeMap<FigureLabels, Figures>,
}

/// The figures reported for one (prompt, version, track).
#[derive(Debug, Clone)]
struct Figures {
    latency_seconds: Histogram,
    score: Histogram,
    cost_count: u64,
    cost_usd: f64,
    /// Reports whose reply the service parsed, and could not.
    outputs: [u64; 2],
    /// Reports whose tool calls worked, and failed.
    tool_calls: [u64; 2],
}

impl Default for Figures {
    fn default() -> Self {
        Figures {
            latency_seconds: Histogram::new(&LATENCY_BUCKETS),
            score: Histogram::new(&SCORE_BUCKETS),
            cost_count: 0,
            cost_usd: 0.0,
            outputs: [0; 2],
            tool_calls: [0; 2],
        }
    }
}

/// A Prometheus histogram: cumulative counts are written, per-bucket counts are kept.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket; the last is above every bound (`+Inf`).
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    fn observe(&mut self, value: f64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket] += 1;
        self.sum += value;
    }

    /// Writes `NAME_bucket`, `NAME_sum` and `NAME_count` with `labels` (without braces).
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[self.bounds.len()];
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the server tells the metrics when they are scraped.
pub struct Scrape<'a> {
    /// Resolves served: (prompt, version, track, count).
    pub resolves: &'a [(String, String, &'static str, u64)],
    /// Resolves and renders whose canary segment could not be evaluated for the caller,
    /// who got the active version: (prompt, active version, count).
    pub targeting_fallbacks: &'a [(String, String, u64)],
    /// Seconds since the source was last read, if it ever was.
    pub snapshot_age: Option<f64>,
    pub stale: bool,
    /// Prompts with a version that cannot be served.
    pub unservable: &'a [&'a str],
    /// Every canary in flight: (prompt, active version, canary version). Their feedback
    /// series are written from zero before the first report, so that `increase()` over a
    /// step counts the first reports too.
    pub canaries: &'a [(String, String, String)],
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
        let mut feedback = lock(&self.feedback);
        let (prompt, version) = (report.prompt.to_owned(), report.version.to_owned());
        let key = (
            prompt.clone(),
            version.clone(),
            report.track,
            report.outcome.to_owned(),
        );
        *feedback.reports.entry(key).or_default() += 1;
        let figures = feedback
            .figures
            .entry((prompt, version, report.track))
            .or_default();
        if let Some(ms) = report.latency_ms {
            figures.latency_seconds.observe(ms / 1000.0);
        }
        if let Some(cost) = report.cost_usd {
            figures.cost_count += 1;
            figures.cost_usd += cost;
        }
        if let Some(score) = report.score {
            figures.score.observe(score);
        }
        if let Some(valid) = report.output_valid {
            figures.outputs[usize::from(!valid)] += 1;
        }
        if let Some(failed) = report.tool_error {
            figures.tool_calls[usize::from(failed)] += 1;
        }
    }

    /// Counts a snapshot that failed to load.
    pub fn reload_failed(&self) {
        self.reload_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes every metric in the Prometheus text format.
    pub fn render_text(&self, scrape: &Scrape<'_>) -> String {
        let mut out = String::new();
        self.write_traffic(&mut out, scrape.resolves);
        out.push_str("# HELP promptctl_targeting_fallbacks_total Callers a canary's or an experiment's targeting rule could not be evaluated for (an attribute missing or of the wrong type), who got the active version, by prompt and that version.\n# TYPE promptctl_targeting_fallbacks_total counter\n");
        for (prompt, version, n) in scrape.targeting_fallbacks {
            let _ = writeln!(
                out,
                "promptctl_targeting_fallbacks_total{{prompt=\"{prompt}\",version=\"{version}\"}} {n}"
            );
        }
        {
            let mut feedback = lock(&self.feedback);
            add_zero_series(&mut feedback, scrape.canaries);
            write_feedback(&mut out, &feedback);
        }
        let _ = writeln!(
            out,
            "# HELP promptctl_snapshot_age_seconds Seconds since the source was last read successfully (how fresh the served state is).\n# TYPE promptctl_snapshot_age_seconds gauge"
        );
        if let Some(age) = scrape.snapshot_age {
            let _ = writeln!(out, "promptctl_snapshot_age_seconds {age:.3}");
        }
        let _ = writeln!(
            out,
            "# HELP promptctl_snapshot_stale 1 when the source could not be read at the last poll.\n# TYPE promptctl_snapshot_stale gauge\npromptctl_snapshot_stale {}",
            u8::from(scrape.stale)
        );
        let _ = writeln!(
            out,
            "# HELP promptctl_reload_failures_total Snapshots that failed to load.\n# TYPE promptctl_reload_failures_total counter\npromptctl_reload_failures_total {}",
            self.reload_failures.load(Ordering::Relaxed)
        );
        out.push_str("# HELP promptctl_prompt_unservable 1 for a prompt with a version that cannot be served (its canary: keys get the active version; its active version: the prompt is not served).\n# TYPE promptctl_prompt_unservable gauge\n");
        for prompt in scrape.unservable {
            let _ = writeln!(out, "promptctl_prompt_unservable{{prompt=\"{prompt}\"}} 1");
        }
        out
    }

    /// Resolves, renders and canary fallbacks.
    fn write_traffic(&self, out: &mut String, resolves: &[(String, String, &'static str, u64)]) {
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
    }
}

/// Adds zero series for both tracks of every canary in flight that has none yet: they stay
/// once written, as a Prometheus counter does, so nothing is copied at each scrape.
fn add_zero_series(feedback: &mut Feedback, canaries: &[(String, String, String)]) {
    for (prompt, active, canary) in canaries {
        for (version, track) in [(active, "active"), (canary, "canary")] {
            for outcome in ["success", "error"] {
                let key = (prompt.clone(), version.clone(), track, outcome.to_owned());
                feedback.reports.entry(key).or_default();
            }
            let key = (prompt.clone(), version.clone(), track);
            feedback.figures.entry(key).or_default();
        }
    }
}

/// Reports by outcome, then each figure by (prompt, version, track).
fn write_feedback(out: &mut String, feedback: &Feedback) {
    out.push_str("# HELP promptctl_feedback_total Feedback reports, by prompt, version, track and outcome.\n# TYPE promptctl_feedback_total counter\n");
    for ((prompt, version, track, outcome), n) in &feedback.reports {
        let _ = writeln!(
            out,
            "promptctl_feedback_total{{prompt=\"{prompt}\",version=\"{version}\",track=\"{track}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    let labels = |(prompt, version, track): &FigureLabels| {
        format!("prompt=\"{prompt}\",version=\"{version}\",track=\"{track}\"")
    };
    out.push_str("# HELP promptctl_feedback_latency_seconds Latency reported with feedback.\n# TYPE promptctl_feedback_latency_seconds histogram\n");
    for (key, figures) in &feedback.figures {
        let name = "promptctl_feedback_latency_seconds";
        figures.latency_seconds.write(out, name, &labels(key));
    }
    out.push_str("# HELP promptctl_feedback_score Scores reported with feedback.\n# TYPE promptctl_feedback_score histogram\n");
    for (key, figures) in &feedback.figures {
        figures
            .score
            .write(out, "promptctl_feedback_score", &labels(key));
    }
    out.push_str("# HELP promptctl_feedback_cost_usd Cost reported with feedback, in US dollars.\n# TYPE promptctl_feedback_cost_usd summary\n");
    for (key, figures) in &feedback.figures {
        let labels = labels(key);
        let _ = writeln!(
            out,
            "promptctl_feedback_cost_usd_sum{{{labels}}} {}\npromptctl_feedback_cost_usd_count{{{labels}}} {}",
            figures.cost_usd, figures.cost_count
        );
    }
    out.push_str("# HELP promptctl_feedback_outputs_total Feedback reports that said whether the service could parse the reply, by prompt, version, track and valid.\n# TYPE promptctl_feedback_outputs_total counter\n");
    for (key, figures) in &feedback.figures {
        let labels = labels(key);
        for (valid, n) in ["true", "false"].iter().zip(figures.outputs) {
            let _ = writeln!(
                out,
                "promptctl_feedback_outputs_total{{{labels},valid=\"{valid}\"}} {n}"
            );
        }
    }
    out.push_str("# HELP promptctl_feedback_tool_calls_total Feedback reports that said whether the reply's tool calls worked, by prompt, version, track and result.\n# TYPE promptctl_feedback_tool_calls_total counter\n");
    for (key, figures) in &feedback.figures {
        let labels = labels(key);
        for (result, n) in ["ok", "error"].iter().zip(figures.tool_calls) {
            let _ = writeln!(
                out,
                "promptctl_feedback_tool_calls_total{{{labels},result=\"{result}\"}} {n}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape<'a>(canaries: &'a [(String, String, String)]) -> Scrape<'a> {
        Scrape {
            resolves: &[],
            targeting_fallbacks: &[],
            snapshot_age: None,
            stale: false,
            unservable: &[],
            canaries,
        }
    }

    #[test]
    fn latency_is_a_histogram_in_seconds_with_cumulative_buckets() {
        let metrics = Metrics::default();
        for ms in [4.0, 5.0, 300.0, 90_000.0] {
            metrics.feedback(&FeedbackReport {
                prompt: "p",
                version: "v",
                track: "canary",
                outcome: "success",
                latency_ms: Some(ms),
                cost_usd: Some(0.25),
                score: None,
                output_valid: (ms > 100.0).then_some(ms < 1000.0),
                tool_error: None,
            });
        }
        let text = metrics.render_text(&scrape(&[]));
        let labels = "prompt=\"p\",version=\"v\",track=\"canary\"";
        for line in [
            format!("promptctl_feedback_latency_seconds_bucket{{{labels},le=\"0.005\"}} 2"),
            format!("promptctl_feedback_latency_seconds_bucket{{{labels},le=\"0.25\"}} 2"),
            format!("promptctl_feedback_latency_seconds_bucket{{{labels},le=\"0.5\"}} 3"),
            format!("promptctl_feedback_latency_seconds_bucket{{{labels},le=\"60\"}} 3"),
            format!("promptctl_feedback_latency_seconds_bucket{{{labels},le=\"+Inf\"}} 4"),
            format!("promptctl_feedback_latency_seconds_count{{{labels}}} 4"),
            format!("promptctl_feedback_score_count{{{labels}}} 0"),
            format!("promptctl_feedback_cost_usd_sum{{{labels}}} 1"),
            format!("promptctl_feedback_cost_usd_count{{{labels}}} 4"),
            format!("promptctl_feedback_outputs_total{{{labels},valid=\"true\"}} 1"),
            format!("promptctl_feedback_outputs_total{{{labels},valid=\"false\"}} 1"),
            format!("promptctl_feedback_tool_calls_total{{{labels},result=\"error\"}} 0"),
            "promptctl_feedback_total{prompt=\"p\",version=\"v\",track=\"canary\",outcome=\"success\"} 4".into(),
        ] {
            assert!(text.contains(&line), "{line}\n{text}");
        }
        assert!(text.contains("# TYPE promptctl_feedback_latency_seconds histogram"));
        assert!(!text.contains("_ms"), "{text}");
    }

    #[test]
    fn a_canary_has_zero_series_before_its_first_report() {
        let metrics = Metrics::default();
        let canaries = [("p".to_owned(), "a".to_owned(), "c".to_owned())];
        let text = metrics.render_text(&scrape(&canaries));
        for (version, track) in [("a", "active"), ("c", "canary")] {
            for outcome in ["success", "error"] {
                let line = format!(
                    "promptctl_feedback_total{{prompt=\"p\",version=\"{version}\",track=\"{track}\",outcome=\"{outcome}\"}} 0"
                );
                assert!(text.contains(&line), "{line}\n{text}");
            }
            let line = format!(
                "promptctl_feedback_latency_seconds_count{{prompt=\"p\",version=\"{version}\",track=\"{track}\"}} 0"
            );
            assert!(text.contains(&line), "{line}\n{text}");
        }
    }
}
