//! Prometheus as the metric source: every rollout's step is judged on the `promptctl_*`
//! series of the whole fleet (summed over the replicas Prometheus scrapes), canary against
//! active, over the step so far, and on the custom gates' queries.
//!
//! Counters are read with `increase()`, which handles a replica's restart (a counter
//! reset) and a replica that is gone (its series simply stop). `increase()` extrapolates
//! to the window's edges, so counts are rounded to whole reports. Nothing read is never a
//! pass: no series means no reports (the step holds for evidence), and a failed query
//! holds the step and says why.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::stats::{Reading, Stats, Window};
use crate::base::clock::UnixTime;
use crate::policy::{MetricGate, RolloutPolicy};
use crate::prompt::PromptName;
use crate::store::{Canary, PromptState, Rollout, State};

/// The largest answer read from Prometheus; an answer this large is refused, since the
/// queries give a few series per prompt.
pub const MAX_REPLY_BYTES: u64 = 4 * 1024 * 1024;

/// A Prometheus server's query API.
pub struct Prometheus {
    base: String,
    client: reqwest::blocking::Client,
    /// The whole of a query, its answer's body included.
    timeout: Duration,
}

/// Why Prometheus could not be read, or what it gave cannot be judged on.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error(transparent)]
    Url(#[from] crate::base::weburl::NotHttpUrl),
    #[error("cannot start an HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The server did not answer (its URL shown without path or credentials).
    #[error("Prometheus at {shown} did not answer: {source}")]
    Unreachable {
        shown: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Prometheus at {shown}: {source}")]
    Body {
        shown: String,
        #[source]
        source: crate::base::http::BodyError,
    },
    #[error("Prometheus answered {status} with what is not its query API's JSON: {start}")]
    NotJson {
        status: reqwest::StatusCode,
        start: String,
    },
    #[error("the query failed ({status}): {reason}")]
    QueryFailed {
        status: reqwest::StatusCode,
        reason: String,
    },
    #[error("Prometheus gave `{text}`, not a number")]
    NotANumber { text: String },
    #[error("the query must give an instant vector or a scalar")]
    NotAnInstant,
    #[error("Prometheus gave {samples} samples for time(), not one number")]
    NoTime { samples: usize },
    #[error("Prometheus gave the {track} track's {figure}; holding")]
    NotACount {
        track: String,
        #[source]
        figure: FigureError,
    },
}

/// One sample of an instant query: its labels and value.
type Sample = (BTreeMap<String, String>, f64);

impl Prometheus {
    /// A client for the server at `url` (`http://prometheus:9090`), each query bounded by
    /// `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, PrometheusError> {
        crate::base::weburl::check_http(url)?;
        let client = crate::base::http::blocking_client()
            .timeout(timeout)
            .build()
            .map_err(PrometheusError::Client)?;
        Ok(Prometheus {
            base: url.trim_end_matches('/').to_owned(),
            client,
            timeout,
        })
    }

    /// The Prometheus server to judge on: `url` (a `--prometheus` flag) or else the
    /// policy's `[rollout] prometheus`, with the policy's query timeout; `None` when
    /// neither names one.
    pub fn chosen(
        url: Option<&str>,
        policy: &RolloutPolicy,
    ) -> Result<Option<Self>, PrometheusError> {
        url.or(policy.prometheus.as_deref())
            .map(|url| Prometheus::new(url, policy.prometheus_timeout()))
            .transpose()
    }

    /// The windows of every rollout in `state` at `now`, with the custom gates' readings.
    pub fn windows(
        &self,
        state: &State,
        now: UnixTime,
        policy: &RolloutPolicy,
    ) -> BTreeMap<PromptName, Window> {
        let mut windows = BTreeMap::new();
        for (name, pointers) in &state.prompts {
            if let (Some(canary), Some(rollout)) = (&pointers.canary, &pointers.rollout) {
                let step = Step {
                    name,
                    pointers,
                    canary,
                    rollout,
                    now,
                };
                windows.insert(name.clone(), self.window(&step, policy));
            }
        }
        windows
    }

    fn window(&self, step: &Step<'_>, policy: &RolloutPolicy) -> Window {
        let mut window = Window::new(step.rollout.key(step.canary.version));
        match self.query(&figures_query(step)) {
            Ok(samples) => {
                if let Err(why) = add_figures(&mut window, step, &samples) {
                    // A figure that is not a count leaves nothing to judge on: hold.
                    window = Window::new(step.rollout.key(step.canary.version));
                    window.unread = Some(why.to_string());
                }
            }
            Err(why) => window.unread = Some(why.to_string()),
        }
        for (gate_name, gate) in &policy.metrics {
            let reading = self.reading(gate, step);
            window.readings.insert(gate_name.clone(), reading);
        }
        window
    }

    /// The value of a custom gate's query for one step.
    fn reading(&self, gate: &MetricGate, step: &Step<'_>) -> Reading {
        let query = match render_template(&gate.query, step) {
            Ok(query) => query,
            Err(why) => return Reading::Error(format!("the query template fails: {why}")),
        };
        match self.query(&query) {
            Err(why) => Reading::Error(why.to_string()),
            Ok(samples) => match samples.as_slice() {
                [] => Reading::NoData,
                [(_, value)] if value.is_finite() => Reading::Value(*value),
                [(_, value)] => Reading::Error(format!("the query gives {value}, not a number")),
                many => Reading::Error(format!(
                    "the query gives {} series; aggregate them to one (with sum, say)",
                    many.len()
                )),
            },
        }
    }

    /// Runs an instant query; gives its samples (a scalar is one sample).
    ///
    /// The query is evaluated at Prometheus's own current time, not at a whole second of
    /// ours: a scrape made a fraction of a second ago must count.
    pub fn query(&self, promql: &str) -> Result<Vec<Sample>, PrometheusError> {
        self.query_at(promql, None)
    }

    /// Like [`Prometheus::query`], evaluated at `time` (seconds since 1970, Prometheus's
    /// clock) when given.
    pub fn query_at(
        &self,
        promql: &str,
        time: Option<f64>,
    ) -> Result<Vec<Sample>, PrometheusError> {
        let url = format!("{}/api/v1/query", self.base);
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("query", promql);
        if let Some(time) = time {
            form.append_pair("time", &format!("{time:.3}"));
        }
        let form = form.finish();
        let response = self
            .client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .map_err(|e| PrometheusError::Unreachable {
                shown: self.shown(),
                // The URL is shown without its path or credentials.
                source: e.without_url(),
            })?;
        let status = response.status();
        let body = crate::base::http::read_body(response, MAX_REPLY_BYTES, self.timeout).map_err(
            |source| PrometheusError::Body {
                shown: self.shown(),
                source,
            },
        )?;
        parse_answer(status, &body)
    }

    /// Prometheus's own clock, in seconds since 1970 (`time()`): the mark a data gap ends
    /// at, on the clock its scrapes are stamped with.
    pub fn time(&self) -> Result<f64, PrometheusError> {
        match self.query("time()")?.as_slice() {
            [(_, now)] if now.is_finite() => Ok(*now),
            [(_, now)] => Err(PrometheusError::NotANumber {
                text: now.to_string(),
            }),
            other => Err(PrometheusError::NoTime {
                samples: other.len(),
            }),
        }
    }

    /// Whether every replica Prometheus scrapes for promptctl was scraped after `since`
    /// (a time on Prometheus's clock, from [`Prometheus::time`]). After a gap, series
    /// read before that are the counts from before the gap (Prometheus keeps them for its
    /// five-minute lookback), and a step judged on them counts only part of what was sent.
    /// `up` is written at every scrape, answered or not, so a replica that is down does
    /// not keep the answer waiting.
    pub fn scraped_since(&self, since: f64) -> Result<bool, PrometheusError> {
        let oldest = self.query(CATCH_UP_QUERY)?;
        Ok(match oldest.as_slice() {
            [(_, scraped)] => *scraped > since,
            _ => false,
        })
    }

    fn shown(&self) -> String {
        crate::base::weburl::shown(&self.base)
    }
}

/// The oldest latest scrape of a target that serves promptctl's series
/// (`promptctl_snapshot_stale` is on every server's `/metrics`).
const CATCH_UP_QUERY: &str = "min(timestamp(up) and on (job, instance) promptctl_snapshot_stale)";

/// The rollout step a query is about.
struct Step<'a> {
    name: &'a PromptName,
    pointers: &'a PromptState,
    canary: &'a Canary,
    rollout: &'a Rollout,
    now: UnixTime,
}

impl Step<'_> {
    /// The step so far, as a PromQL range (`300s`); at least one second, and one more
    /// than whole seconds give, since the query runs a fraction of a second past `now`.
    fn range(&self) -> String {
        format!("{}s", (self.now - self.rollout.step_started).max(0) + 1)
    }
}

/// One query for all the built-in figures of a prompt, each series marked with a
/// `figure` label, so that a look costs one round trip per prompt.
fn figures_query(step: &Step<'_>) -> String {
    figures_query_for(step.name.as_str(), &step.range())
}

/// [`figures_query`] for a prompt and a PromQL range.
fn figures_query_for(prompt: &str, range: &str) -> String {
    let part = |figure: &str, metric: &str, by: &str| {
        format!(
            "label_replace(sum by ({by}) (increase({metric}{{prompt=\"{prompt}\"}}[{range}])), \"figure\", \"{figure}\", \"\", \"\")"
        )
    };
    [
        part(
            "reports",
            "promptctl_feedback_total",
            "version, track, outcome",
        ),
        part(
            "latency_sum",
            "promptctl_feedback_latency_seconds_sum",
            "version, track",
        ),
        part(
            "latency_count",
            "promptctl_feedback_latency_seconds_count",
            "version, track",
        ),
        part(
            "cost_sum",
            "promptctl_feedback_cost_usd_sum",
            "version, track",
        ),
        part(
            "cost_count",
            "promptctl_feedback_cost_usd_count",
            "version, track",
        ),
        part(
            "score_sum",
            "promptctl_feedback_score_sum",
            "version, track",
        ),
        part(
            "score_count",
            "promptctl_feedback_score_count",
            "version, track",
        ),
        part(
            "outputs",
            "promptctl_feedback_outputs_total",
            "version, track, valid",
        ),
        part(
            "tool_calls",
            "promptctl_feedback_tool_calls_total",
            "version, track, result",
        ),
    ]
    .join(" or ")
}

/// Adds the figures of the active version on the active track, and of the canary version
/// on the canary track; other series (an older version, say) say nothing about the step.
fn add_figures(
    window: &mut Window,
    step: &Step<'_>,
    samples: &[Sample],
) -> Result<(), PrometheusError> {
    let (active, canary) = (
        step.pointers.active.to_string(),
        step.canary.version.to_string(),
    );
    for (labels, value) in samples {
        let label = |key: &str| labels.get(key).map_or("", String::as_str);
        let stats = match (label("version"), label("track")) {
            (v, "active") if v == active => &mut window.active,
            (v, "canary") if v == canary => &mut window.canary,
            _ => continue,
        };
        let kind = match label("figure") {
            "outputs" => label("valid"),
            "tool_calls" => label("result"),
            _ => label("outcome"),
        };
        add_figure(stats, label("figure"), kind, *value).map_err(|figure| {
            PrometheusError::NotACount {
                track: label("track").to_owned(),
                figure,
            }
        })?;
    }
    Ok(())
}

/// The most a count read from Prometheus may be: more reports than any fleet sends in a
/// step is a broken series, not traffic.
pub const MAX_COUNT: f64 = 1e12;

/// Adds one figure; a value that is not a finite, non-negative number (NaN, ±Inf, a
/// negative count, or a count past [`MAX_COUNT`]) is refused, never read as 0.
fn add_figure(
    stats: &mut Stats,
    figure: &str,
    outcome: &str,
    value: f64,
) -> Result<(), FigureError> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(FigureError::NotANumber {
            figure: figure.to_owned(),
            value,
        });
    }
    let is_count = matches!(
        figure,
        "reports" | "latency_count" | "cost_count" | "score_count" | "outputs" | "tool_calls"
    );
    if is_count && value > MAX_COUNT {
        return Err(FigureError::TooMany {
            figure: figure.to_owned(),
            value,
        });
    }
    let count = value.round() as u64;
    match figure {
        "reports" => {
            stats.reports += count;
            if outcome == "error" {
                stats.errors += count;
            }
        }
        "latency_sum" => stats.latency_sum_ms += value * 1000.0,
        "latency_count" => stats.latency_count += count,
        "cost_sum" => stats.cost_sum_usd += value,
        "cost_count" => stats.cost_count += count,
        "score_sum" => stats.score_sum += value,
        "score_count" => stats.score_count += count,
        // `outcome` is the series' `valid` label here.
        "outputs" => {
            stats.output_reports += count;
            if outcome == "false" {
                stats.invalid_outputs += count;
            }
        }
        // And its `result` label here.
        "tool_calls" => {
            stats.tool_reports += count;
            if outcome == "error" {
                stats.tool_errors += count;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A figure Prometheus gave that is not a count or a sum.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FigureError {
    #[error("`{figure}` as {value}, not a finite, non-negative number")]
    NotANumber { figure: String, value: f64 },
    #[error("`{figure}` as {value}, more than the {MAX_COUNT} a count may be")]
    TooMany { figure: String, value: f64 },
}

/// Renders a custom gate's query template for one step; an unknown variable is an error.
fn render_template(template: &str, step: &Step<'_>) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let context = minijinja::context! {
        prompt => step.name.as_str(),
        canary_version => step.canary.version.to_string(),
        active_version => step.pointers.active.to_string(),
        canary_short => step.canary.version.short(),
        active_short => step.pointers.active.short(),
        track => "canary",
        window => step.range(),
    };
    env.render_str(template, context)
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<AnswerData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum AnswerData {
    Vector(Vec<VectorSample>),
    Scalar((f64, String)),
    /// A range vector or a string: read only to say it is not what a gate needs.
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct VectorSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Reads the query API's JSON answer: its samples, or what went wrong in words.
fn parse_answer(status: reqwest::StatusCode, body: &[u8]) -> Result<Vec<Sample>, PrometheusError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|_| PrometheusError::NotJson {
        status,
        start: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    })?;
    if answer.status != "success" {
        return Err(PrometheusError::QueryFailed {
            status,
            reason: answer.error.unwrap_or_else(|| "no reason given".into()),
        });
    }
    let number = |text: &str| {
        text.parse::<f64>()
            .map_err(|_| PrometheusError::NotANumber { text: text.into() })
    };
    match answer.data {
        Some(AnswerData::Vector(samples)) => samples
            .into_iter()
            .map(|s| Ok((s.metric, number(&s.value.1)?)))
            .collect(),
        Some(AnswerData::Scalar((_, value))) => Ok(vec![(BTreeMap::new(), number(&value)?)]),
        Some(AnswerData::Matrix(_) | AnswerData::String(_)) | None => {
            Err(PrometheusError::NotAnInstant)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_samples_or_errors_in_words() {
        let ok = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"track":"canary"},"value":[1.5,"12.5"]}]}}"#;
        let samples = parse_answer(reqwest::StatusCode::OK, ok).unwrap();
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].0["track"], "canary");
        assert_eq!(samples[0].1, 12.5);
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"NaN"]}}"#;
        assert!(
            parse_answer(reqwest::StatusCode::OK, scalar).unwrap()[0]
                .1
                .is_nan()
        );
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#;
        let error = parse_answer(reqwest::StatusCode::BAD_REQUEST, bad)
            .unwrap_err()
            .to_string();
        assert!(error.contains("parse error at char 4"), "{error}");
        let html = b"<html>proxy error</html>";
        let error = parse_answer(reqwest::StatusCode::BAD_GATEWAY, html)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("502") && error.contains("proxy error"),
            "{error}"
        );
    }

    #[test]
    fn figures_count_whole_reports() {
        let mut stats = Stats::default();
        add_figure(&mut stats, "reports", "error", 2.6).unwrap();
        add_figure(&mut stats, "reports", "success", 96.9).unwrap();
        add_figure(&mut stats, "latency_sum", "", 1.5).unwrap();
        assert_eq!((stats.reports, stats.errors), (100, 3));
        assert_eq!(stats.latency_sum_ms, 1500.0);
        add_figure(&mut stats, "outputs", "false", 7.0).unwrap();
        add_figure(&mut stats, "outputs", "true", 13.0).unwrap();
        add_figure(&mut stats, "tool_calls", "error", 2.0).unwrap();
        add_figure(&mut stats, "tool_calls", "ok", 8.0).unwrap();
        assert_eq!((stats.output_reports, stats.invalid_outputs), (20, 7));
        assert_eq!((stats.tool_reports, stats.tool_errors), (10, 2));
        assert!(add_figure(&mut stats, "outputs", "false", 1e13).is_err());
    }

    #[test]
    fn one_query_reads_the_contract_signals_beside_the_reports() {
        let query = figures_query_for("support/triage", "300s");
        assert!(query.contains("label_replace(sum by (version, track, valid) (increase(promptctl_feedback_outputs_total{prompt=\"support/triage\"}["), "{query}");
        assert!(
            query.contains(
                "sum by (version, track, result) (increase(promptctl_feedback_tool_calls_total{"
            ),
            "{query}"
        );
    }

    #[test]
    fn a_figure_that_is_not_a_count_is_refused_never_read_as_zero() {
        // Seen: NaN, ±Inf and -500 were read as 0 and 7 of 9 such answers advanced a step;
        // 1e308 became 18446744073709551614 reports.
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -500.0, 1e308] {
            let mut stats = Stats::default();
            let why = add_figure(&mut stats, "reports", "error", value).unwrap_err();
            assert!(why.to_string().starts_with("`reports` as "), "{why}");
            assert_eq!(stats.reports, 0);
        }
        let mut stats = Stats::default();
        assert!(add_figure(&mut stats, "cost_sum", "", -0.2).is_err());
        assert!(
            add_figure(&mut stats, "cost_sum", "", 1e308).is_ok(),
            "a sum is not a count"
        );
    }
}
