//! Feedback figures of one version over one window: reports, errors, latency (mean and a
//! log-bucketed histogram for p95), cost and score. Figures from several servers merge by
//! adding, so a controller can judge a canary on every replica's feedback.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::StepKey;

/// Smallest latency the histogram tells apart, in milliseconds.
const HISTOGRAM_FLOOR_MS: f64 = 0.01;
/// Each latency bucket is this much wider than the one before: quantiles are within 5%.
const HISTOGRAM_GROWTH: f64 = 1.1;
/// Buckets in all: 0.01 ms up to about four days.
const HISTOGRAM_BUCKETS: u16 = 256;

/// One feedback report, as a route or a test gives it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub error: bool,
    pub latency_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    pub score: Option<f64>,
    /// Whether the service could parse the reply, when it says.
    pub output_valid: Option<bool>,
    /// Whether a tool call of the reply failed, when it says.
    pub tool_error: Option<bool>,
}

/// The figures of one version over a window, kept as sums so that they merge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stats {
    pub reports: u64,
    pub errors: u64,
    pub latency_count: u64,
    pub latency_sum_ms: f64,
    /// Latency histogram: bucket index → reports.
    pub latency_histogram: BTreeMap<u16, u64>,
    pub cost_count: u64,
    pub cost_sum_usd: f64,
    pub score_count: u64,
    pub score_sum: f64,
    /// Reports that said whether the reply could be parsed, and how many could not.
    pub output_reports: u64,
    pub invalid_outputs: u64,
    /// Reports that said whether the reply's tool calls worked, and how many failed.
    pub tool_reports: u64,
    pub tool_errors: u64,
}

fn latency_bucket(ms: f64) -> u16 {
    let ratio = (ms.max(HISTOGRAM_FLOOR_MS) / HISTOGRAM_FLOOR_MS).ln() / HISTOGRAM_GROWTH.ln();
    (ratio.floor() as u64).min(u64::from(HISTOGRAM_BUCKETS - 1)) as u16
}

/// The middle of a bucket, geometrically.
fn bucket_value(index: u16) -> f64 {
    HISTOGRAM_FLOOR_MS * HISTOGRAM_GROWTH.powf(f64::from(index) + 0.5)
}

impl Stats {
    /// Adds one report.
    pub fn add(&mut self, sample: &Sample) {
        self.reports += 1;
        self.errors += u64::from(sample.error);
        if let Some(ms) = sample.latency_ms {
            self.latency_count += 1;
            self.latency_sum_ms += ms;
            *self
                .latency_histogram
                .entry(latency_bucket(ms))
                .or_default() += 1;
        }
        if let Some(cost) = sample.cost_usd {
            self.cost_count += 1;
            self.cost_sum_usd += cost;
        }
        if let Some(score) = sample.score {
            self.score_count += 1;
            self.score_sum += score;
        }
        if let Some(valid) = sample.output_valid {
            self.output_reports += 1;
            self.invalid_outputs += u64::from(!valid);
        }
        if let Some(failed) = sample.tool_error {
            self.tool_reports += 1;
            self.tool_errors += u64::from(failed);
        }
    }

    /// Adds another window's figures (from another server).
    pub fn merge(&mut self, other: &Stats) {
        self.reports += other.reports;
        self.errors += other.errors;
        self.latency_count += other.latency_count;
        self.latency_sum_ms += other.latency_sum_ms;
        for (bucket, n) in &other.latency_histogram {
            *self.latency_histogram.entry(*bucket).or_default() += n;
        }
        self.cost_count += other.cost_count;
        self.cost_sum_usd += other.cost_sum_usd;
        self.score_count += other.score_count;
        self.score_sum += other.score_sum;
        self.output_reports += other.output_reports;
        self.invalid_outputs += other.invalid_outputs;
        self.tool_reports += other.tool_reports;
        self.tool_errors += other.tool_errors;
    }

    /// Replies the service could not parse, per report that said, 0 ..= 1.
    pub fn invalid_output_rate(&self) -> Option<f64> {
        (self.output_reports > 0).then(|| self.invalid_outputs as f64 / self.output_reports as f64)
    }

    /// Errors per report, 0 ..= 1.
    pub fn error_rate(&self) -> Option<f64> {
        (self.reports > 0).then(|| self.errors as f64 / self.reports as f64)
    }

    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.latency_count > 0).then(|| self.latency_sum_ms / self.latency_count as f64)
    }

    /// The 95th percentile of latency, within 5%.
    pub fn p95_latency_ms(&self) -> Option<f64> {
        if self.latency_count == 0 {
            return None;
        }
        let rank = (self.latency_count as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        for (bucket, n) in &self.latency_histogram {
            seen += n;
            if seen >= rank {
                return Some(bucket_value(*bucket));
            }
        }
        None
    }

    pub fn mean_cost_usd(&self) -> Option<f64> {
        (self.cost_count > 0).then(|| self.cost_sum_usd / self.cost_count as f64)
    }

    pub fn mean_score(&self) -> Option<f64> {
        (self.score_count > 0).then(|| self.score_sum / self.score_count as f64)
    }

    /// The derived figures, for people and dashboards.
    pub fn summary(&self) -> Summary {
        Summary {
            reports: self.reports,
            error_rate: self.error_rate(),
            mean_latency_ms: self.mean_latency_ms(),
            p95_latency_ms: self.p95_latency_ms(),
            mean_cost_usd: self.mean_cost_usd(),
            mean_score: self.mean_score(),
        }
    }
}

/// What [`Stats`] says, in the units people read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub reports: u64,
    pub error_rate: Option<f64>,
    pub mean_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
    pub mean_cost_usd: Option<f64>,
    pub mean_score: Option<f64>,
}

/// The feedback of one canary step, active and canary side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// The canary and step the feedback belongs to; a plain canary without a plan has
    /// step 0 started at 0.
    pub key: StepKey,
    pub active: Stats,
    pub canary: Stats,
    /// The values of the custom gates (`[rollout.metrics]`), read from Prometheus.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub readings: BTreeMap<String, Reading>,
    /// Why the built-in figures could not be read (a query error): the gates that need
    /// them hold, and say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

/// The value of a custom gate's query at one look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    Value(f64),
    /// The query gave no series (nothing reported yet, or a label that matches nothing).
    NoData,
    /// The query failed, or gave what is not one number.
    Error(String),
}

impl Window {
    pub fn new(key: StepKey) -> Self {
        Window {
            key,
            active: Stats::default(),
            canary: Stats::default(),
            readings: BTreeMap::new(),
            unread: None,
        }
    }

    /// Adds another server's window of the same step.
    pub fn merge(&mut self, other: &Window) {
        if other.key == self.key {
            self.active.merge(&other.active);
            self.canary.merge(&other.canary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(ms: f64) -> Sample {
        Sample {
            latency_ms: Some(ms),
            ..Sample::default()
        }
    }

    #[test]
    fn p95_is_within_five_percent() {
        let mut stats = Stats::default();
        for ms in 1..=1000 {
            stats.add(&latency(f64::from(ms)));
        }
        let p95 = stats.p95_latency_ms().unwrap();
        assert!((p95 - 950.0).abs() / 950.0 < 0.05, "{p95}");
        assert!((stats.mean_latency_ms().unwrap() - 500.5).abs() < 1e-9);
        stats.add(&latency(0.0));
        stats.add(&latency(1e12));
        assert_eq!(stats.latency_count, 1002);
    }

    #[test]
    fn windows_merge_by_adding() {
        let key = StepKey {
            canary: format!("sha256:{}", "c".repeat(64)).parse().unwrap(),
            step: 1,
            step_started: 10,
        };
        let mut a = Window::new(key);
        let mut b = Window::new(key);
        a.canary.add(&Sample {
            error: true,
            ..latency(10.0)
        });
        b.canary.add(&latency(30.0));
        b.active.add(&Sample {
            cost_usd: Some(0.5),
            score: Some(1.0),
            ..Sample::default()
        });
        a.merge(&b);
        assert_eq!(a.canary.reports, 2);
        assert_eq!(a.canary.error_rate(), Some(0.5));
        assert_eq!(a.canary.mean_latency_ms(), Some(20.0));
        assert_eq!(a.active.mean_cost_usd(), Some(0.5));
        let other_step = Window::new(StepKey { step: 2, ..key });
        let before = a.clone();
        a.merge(&other_step);
        assert_eq!(a, before, "another step's feedback is not this step's");
    }
}
