//! Rollout policies, the `[rollout]` table of `promptctl.toml`: default gates for new plans,
//! at most N canaries in flight per environment, freeze windows, and alert-only gates
//! posted to a webhook.

use serde::Deserialize;

use crate::base::clock::{self, UnixTime};
use crate::store::{GATE_NAMES, Gates, check_gate};

/// The `[rollout]` table.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutPolicy {
    /// At most this many prompts with a canary in flight per environment.
    pub max_canaries: Option<usize>,
    /// Gates that alert instead of reverting: `error_rate`, `latency`, `cost`, `score`.
    pub alert_only: Vec<String>,
    /// Where alerts are posted as JSON.
    pub webhook: Option<String>,
    /// The environment variable holding a bearer token for the webhook.
    pub webhook_token_env: Option<String>,
    /// Default gates of new plans; command-line flags override them.
    pub gates: GateDefaults,
    /// Windows during which no rollout advances on its own.
    pub freeze: Vec<FreezeWindow>,
    /// A Prometheus server whose `promptctl_*` series (scraped from every replica) are the
    /// evidence rollouts are judged on, instead of one server's own feedback.
    pub prometheus: Option<String>,
    /// How long a Prometheus query may take: seconds or a span (default
    /// [`crate::base::http::DEFAULT_TIMEOUT`], [`PROMETHEUS_TIMEOUT`]).
    pub prometheus_timeout: Option<crate::base::duration::Setting>,
    /// Custom gates: `[rollout.metrics.NAME]`, a PromQL query template whose value must
    /// stay within a range.
    pub metrics: std::collections::BTreeMap<String, MetricGate>,
}

/// The longest `prometheus_timeout` may be.
pub const MAX_PROMETHEUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// What `prometheus_timeout` may be: more than 0, at most 300 s.
pub const PROMETHEUS_TIMEOUT: crate::base::duration::Bounds =
    crate::base::duration::Bounds::positive(MAX_PROMETHEUS_TIMEOUT);

/// A `[rollout.metrics.NAME]` table: a query template evaluated against Prometheus at
/// every look, its one value checked against `min` and `max`, as Flagger's MetricTemplate.
///
/// The template sees `prompt`, `canary_version`, `active_version` (full, `sha256:…`),
/// `canary_short`, `active_short` (12 hex), `track` (`canary`) and `window` (the step so
/// far, like `300s`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricGate {
    pub query: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Shown beside the value.
    pub description: Option<String>,
}

impl MetricGate {
    /// Checks the gate; the error names the key at fault.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.query.trim().is_empty() {
            return Err(("query", "is empty: give a PromQL query".into()));
        }
        if let Err(e) = minijinja::Environment::new().template_from_str(&self.query) {
            return Err(("query", format!("is not a valid template: {e}")));
        }
        match (self.min, self.max) {
            (None, None) => Err((
                "max",
                "a metric gate needs `min`, `max` or both: the range its value must stay in".into(),
            )),
            (Some(v), _) | (_, Some(v)) if !v.is_finite() => {
                Err(("max", "bounds must be finite numbers".into()))
            }
            (Some(min), Some(max)) if min > max => {
                Err(("min", format!("`min` ({min}) is above `max` ({max})")))
            }
            _ => Ok(()),
        }
    }
}

/// The `[rollout.gates]` table.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateDefaults {
    pub min_samples: Option<u64>,
    pub max_error_rate: Option<f64>,
    pub max_latency_increase: Option<f64>,
    pub max_cost_increase: Option<f64>,
    pub min_score: Option<f64>,
    pub max_score_drop: Option<f64>,
    pub max_invalid_output_rate: Option<f64>,
    pub max_tool_error_rate: Option<f64>,
}

impl GateDefaults {
    /// Checks every limit that is set with the one rule of [`check_gate`]: the same for
    /// `[rollout.gates]` and for the flags of `promptctl canary`. Gives the gate and why.
    pub fn check(&self) -> Result<(), (String, String)> {
        for (key, value) in [
            ("max_error_rate", self.max_error_rate),
            ("max_latency_increase", self.max_latency_increase),
            ("max_cost_increase", self.max_cost_increase),
            ("min_score", self.min_score),
            ("max_score_drop", self.max_score_drop),
            ("max_invalid_output_rate", self.max_invalid_output_rate),
            ("max_tool_error_rate", self.max_tool_error_rate),
        ] {
            if let Some(value) = value {
                check_gate(key, value).map_err(|m| (key.to_owned(), m.to_string()))?;
            }
        }
        Ok(())
    }
}

/// One `[[rollout.freeze]]` window: either an absolute span (`from`, `to`) or a weekly one
/// (`days`, with `start` and `end` times of day), in UTC.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FreezeWindow {
    pub from: Option<toml::value::Datetime>,
    pub to: Option<toml::value::Datetime>,
    /// `mon` .. `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, UTC; default 00:00.
    pub start: Option<String>,
    /// `HH:MM`, UTC, up to `24:00`; default 24:00.
    pub end: Option<String>,
    /// Shown when a rollout holds for this window.
    pub reason: Option<String>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Reads `HH:MM` as minutes since midnight, `24:00` included.
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

impl FreezeWindow {
    /// Checks the window; the error names the key at fault.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match (&self.from, &self.to, self.days.is_empty()) {
            (Some(from), Some(to), true) => {
                let from = clock::from_toml(from).map_err(|m| ("from", m.to_string()))?;
                let to = clock::from_toml(to).map_err(|m| ("to", m.to_string()))?;
                if to <= from {
                    return Err(("to", "`to` must come after `from`".into()));
                }
                if self.start.is_some() || self.end.is_some() {
                    return Err((
                        "start",
                        "`start` and `end` go with `days`; `from` and `to` are full dates".into(),
                    ));
                }
                Ok(())
            }
            (None, None, false) => {
                for day in &self.days {
                    if !DAYS.contains(&day.as_str()) {
                        return Err(("days", format!("`{day}` is not one of {}", DAYS.join(", "))));
                    }
                }
                for (key, value) in [("start", &self.start), ("end", &self.end)] {
                    if let Some(text) = value
                        && minutes(text).is_none()
                    {
                        return Err((key, format!("`{text}` is not a time like 16:00 (UTC)")));
                    }
                }
                if self.start_minute() >= self.end_minute() {
                    return Err(("end", "`end` must come after `start`".into()));
                }
                Ok(())
            }
            _ => Err((
                "from",
                "a freeze window has either `from` and `to` (dates), or `days` (with optional `start` and `end`)".into(),
            )),
        }
    }

    fn start_minute(&self) -> u32 {
        self.start.as_deref().and_then(minutes).unwrap_or(0)
    }

    fn end_minute(&self) -> u32 {
        self.end.as_deref().and_then(minutes).unwrap_or(24 * 60)
    }

    /// Tells whether `now` falls in the window.
    pub fn covers(&self, now: UnixTime) -> bool {
        if let (Some(from), Some(to)) = (&self.from, &self.to) {
            return match (clock::from_toml(from), clock::from_toml(to)) {
                (Ok(from), Ok(to)) => (from..to).contains(&now),
                _ => false,
            };
        }
        let day = DAYS[clock::weekday(now) as usize];
        let minute = clock::minute_of_day(now);
        self.days.iter().any(|d| d == day)
            && (self.start_minute()..self.end_minute()).contains(&minute)
    }

    /// The window in words, for status and logs.
    pub fn describe(&self) -> String {
        let when = match (&self.from, &self.to) {
            (Some(from), Some(to)) => format!("{from} to {to}"),
            _ => format!(
                "{} {}–{} UTC",
                self.days.join(","),
                self.start.as_deref().unwrap_or("00:00"),
                self.end.as_deref().unwrap_or("24:00")
            ),
        };
        match &self.reason {
            Some(reason) => format!("{when} ({reason})"),
            None => when,
        }
    }
}

impl GateDefaults {
    /// These thresholds over `base`: each one set here replaces the one in `base`.
    pub fn over(&self, base: Gates) -> Gates {
        Gates {
            min_samples: self.min_samples.unwrap_or(base.min_samples),
            max_error_rate: self.max_error_rate.or(base.max_error_rate),
            max_latency_increase: self.max_latency_increase.or(base.max_latency_increase),
            max_cost_increase: self.max_cost_increase.or(base.max_cost_increase),
            min_score: self.min_score.or(base.min_score),
            max_score_drop: self.max_score_drop.or(base.max_score_drop),
            max_invalid_output_rate: self
                .max_invalid_output_rate
                .or(base.max_invalid_output_rate),
            max_tool_error_rate: self.max_tool_error_rate.or(base.max_tool_error_rate),
        }
    }
}

impl RolloutPolicy {
    /// Checks the table; the error names the field at fault, relative to `rollout`.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.max_canaries == Some(0) {
            return Err(("max_canaries".into(), "must be at least 1".into()));
        }
        for gate in &self.alert_only {
            if !GATE_NAMES.contains(&gate.as_str()) && !self.metrics.contains_key(gate) {
                return Err((
                    "alert_only".into(),
                    format!(
                        "`{gate}` is not a gate; gates are {} and the `[rollout.metrics]` tables",
                        GATE_NAMES.join(", ")
                    ),
                ));
            }
        }
        self.check_metric_source()?;
        if let Some(url) = &self.webhook
            && let Err(why) = crate::base::weburl::check_http(url)
        {
            return Err(("webhook".into(), why.to_string()));
        }
        if !self.alert_only.is_empty() && self.webhook.is_none() {
            return Err((
                "webhook".into(),
                "alert-only gates need a `webhook` to post alerts to".into(),
            ));
        }
        self.gates
            .check()
            .map_err(|(key, m)| (format!("gates.{key}"), m))?;
        for (i, window) in self.freeze.iter().enumerate() {
            window
                .check()
                .map_err(|(key, m)| (format!("freeze[{i}].{key}"), m))?;
        }
        Ok(())
    }

    /// Checks `prometheus`, its timeout and the custom gates.
    fn check_metric_source(&self) -> Result<(), (String, String)> {
        if let Some(url) = &self.prometheus
            && let Err(why) = crate::base::weburl::check_http(url)
        {
            return Err(("prometheus".into(), why.to_string()));
        }
        if let Some(Err(why)) = self
            .prometheus_timeout
            .as_ref()
            .map(|t| PROMETHEUS_TIMEOUT.setting(t))
        {
            return Err(("prometheus_timeout".into(), why.to_string()));
        }
        for (name, gate) in &self.metrics {
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !plain || GATE_NAMES.contains(&name.as_str()) {
                return Err((
                    format!("metrics.{name}"),
                    format!(
                        "a metric gate's name is lower-case ASCII letters, digits and `_`, other than {}",
                        GATE_NAMES.join(", ")
                    ),
                ));
            }
            gate.check()
                .map_err(|(key, m)| (format!("metrics.{name}.{key}"), m))?;
        }
        Ok(())
    }

    /// How long a Prometheus query may take.
    pub fn prometheus_timeout(&self) -> std::time::Duration {
        // Checked at parse (at most 300 s); the default otherwise.
        self.prometheus_timeout
            .as_ref()
            .and_then(|t| PROMETHEUS_TIMEOUT.setting(t).ok())
            .unwrap_or(crate::base::http::DEFAULT_TIMEOUT)
    }

    /// The gates of a new plan before command-line flags: the project's defaults over the
    /// built-in ones.
    pub fn default_gates(&self) -> Gates {
        let builtin = Gates::default();
        let g = &self.gates;
        let any_threshold = g.max_error_rate.is_some()
            || g.max_latency_increase.is_some()
            || g.max_cost_increase.is_some()
            || g.min_score.is_some()
            || g.max_score_drop.is_some()
            || g.max_invalid_output_rate.is_some()
            || g.max_tool_error_rate.is_some();
        Gates {
            min_samples: g.min_samples.unwrap_or(builtin.min_samples),
            // A project that sets its own thresholds gets exactly those.
            max_error_rate: if any_threshold {
                g.max_error_rate
            } else {
                builtin.max_error_rate
            },
            max_latency_increase: g.max_latency_increase,
            max_cost_increase: g.max_cost_increase,
            min_score: g.min_score,
            max_score_drop: g.max_score_drop,
            max_invalid_output_rate: g.max_invalid_output_rate,
            max_tool_error_rate: g.max_tool_error_rate,
        }
    }

    /// The freeze window `now` falls in, if any.
    pub fn frozen_at(&self, now: UnixTime) -> Option<&FreezeWindow> {
        self.freeze.iter().find(|w| w.covers(now))
    }

    /// Tells whether a breach of `gate` alerts instead of reverting.
    pub fn alerts_only(&self, gate: &str) -> bool {
        self.alert_only.iter().any(|g| g == gate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> RolloutPolicy {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn weekly_windows_cover_their_days_and_hours_in_utc() {
        let p = policy("[[freeze]]\ndays = [\"fri\"]\nstart = \"16:00\"\n");
        assert!(p.check().is_ok());
        // 2026-11-27 is a Friday.
        let friday = 1_795_425_600 + 4 * 86_400 - (9 * 60 + 20) * 60;
        assert!(p.frozen_at(friday + 16 * 3600).is_some());
        assert!(p.frozen_at(friday + 23 * 3600 + 59 * 60).is_some());
        assert!(p.frozen_at(friday + 15 * 3600 + 59 * 60).is_none());
        assert!(p.frozen_at(friday + 24 * 3600).is_none(), "saturday");
    }

    #[test]
    fn absolute_windows_cover_from_up_to_to() {
        let p = policy(
            "[[freeze]]\nfrom = 2026-12-20T00:00:00Z\nto = 2027-01-04T00:00:00Z\nreason = \"holidays\"\n",
        );
        assert!(p.check().is_ok());
        let from = 1_797_724_800;
        assert!(p.frozen_at(from).is_some() && p.frozen_at(from - 1).is_none());
        assert!(p.frozen_at(from + 15 * 86_400).is_none());
        assert!(p.freeze[0].describe().contains("holidays"));
    }

    #[test]
    fn bad_policies_name_their_field() {
        for (text, field) in [
            ("[[freeze]]\ndays = [\"friday\"]\n", "freeze[0].days"),
            (
                "[[freeze]]\ndays = [\"fri\"]\nstart = \"25:00\"\n",
                "freeze[0].start",
            ),
            (
                "[[freeze]]\nfrom = 2026-12-20T00:00:00Z\n",
                "freeze[0].from",
            ),
            (
                "[[freeze]]\nfrom = 2026-12-20T00:00:00Z\nto = 2026-12-19T00:00:00Z\n",
                "freeze[0].to",
            ),
            ("alert_only = [\"cost\"]\n", "webhook"),
            (
                "alert_only = [\"price\"]\nwebhook = \"https://x\"\n",
                "alert_only",
            ),
            ("max_canaries = 0\n", "max_canaries"),
            ("[gates]\nmax_error_rate = -1.0\n", "gates.max_error_rate"),
        ] {
            assert_eq!(policy(text).check().unwrap_err().0, field, "{text}");
        }
    }

    #[test]
    fn project_thresholds_replace_the_builtin_ones() {
        assert_eq!(policy("").default_gates(), Gates::default());
        let own =
            policy("[gates]\nmax_latency_increase = 20.0\nmin_samples = 50\n").default_gates();
        assert_eq!(own.max_error_rate, None);
        assert_eq!(own.max_latency_increase, Some(20.0));
        assert_eq!(own.min_samples, 50);
    }
}
