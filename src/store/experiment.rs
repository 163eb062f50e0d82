//! Experiments in the release state: a prompt's callers (in a segment, or all of them)
//! split stickily between named arms, each a version, until an arm wins or the experiment
//! stops. What an experiment is, its bounds, and which arm a caller gets; the statistics
//! that judge it live in `crate::experiment`.

use std::fmt;

use serde::Serialize;

use super::assignment::{MAX_EXPERIMENT_ARMS, Split};
use super::rule::{Attributes, Rule, Unevaluable};
use crate::base::clock::UnixTime;
use crate::prompt::Version;

/// The longest experiment or arm name, in bytes.
pub const MAX_EXPERIMENT_NAME: usize = 64;

/// How long an experiment may run before it stops as inconclusive (`--max-duration`, and
/// `max_duration` in the state file): an hour to a year. Looking is free (the analysis is
/// always valid), so the bound is about stale experiments, not statistics.
pub const EXPERIMENT_LENGTH: crate::base::duration::Bounds = crate::base::duration::Bounds::between(
    std::time::Duration::from_secs(3600),
    std::time::Duration::from_secs(365 * 86_400),
);

/// How long an experiment runs unless told otherwise: 30 days.
pub const DEFAULT_EXPERIMENT_LENGTH: u64 = 30 * 86_400;

/// The family-wise error rate unless told otherwise: 5%.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// The smallest difference worth finding unless told otherwise: 2 points (0.02) of a rate
/// or a score on 0..1.
pub const DEFAULT_EFFECT: f64 = 0.02;

/// A running experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    /// Its name: unique in the environment, and what assignment hashes with the key.
    pub name: String,
    pub arms: Vec<Arm>,
    /// Each arm's share of the callers in the segment.
    pub split: Split,
    /// Only callers this rule matches take part; the others get the active version.
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub segment: Option<Rule>,
    /// What the arms are compared on.
    pub metric: Metric,
    /// The smallest difference of the metric worth finding (the test's mixing scale).
    pub effect: f64,
    /// The family-wise error rate: the chance of naming a winner that is not better.
    pub alpha: f64,
    #[serde(with = "crate::base::clock::rfc3339")]
    pub started: UnixTime,
    /// Seconds after `started` when the experiment stops as inconclusive.
    pub max_duration: u64,
    /// Reports over all arms after which it stops as inconclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_samples: Option<u64>,
    /// A controller makes the winner active as soon as there is one.
    pub auto_conclude: bool,
}

/// One arm: a name and the version its callers get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arm {
    pub name: String,
    pub version: Version,
}

/// What an experiment compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    /// The `score` of feedback reports; higher is better.
    Score,
    /// The share of reports with outcome `error`; lower is better.
    ErrorRate,
    /// A number the service reports as `metrics.NAME` in feedback.
    Custom { name: String, goal: Goal },
}

/// Which way a custom metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    Higher,
    Lower,
}

impl Goal {
    /// The goal as a word: `higher` or `lower`.
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Higher => "higher",
            Goal::Lower => "lower",
        }
    }
}

impl Metric {
    /// Reads `score`, `error_rate`, `custom:NAME` or `custom:NAME:lower`.
    pub fn parse(text: &str) -> Result<Metric, String> {
        match text {
            "score" => Ok(Metric::Score),
            "error_rate" => Ok(Metric::ErrorRate),
            _ => {
                let Some(rest) = text.strip_prefix("custom:") else {
                    return Err(format!(
                        "`{text}` is not a metric: say `score`, `error_rate` or `custom:NAME` (`custom:NAME:lower` when lower is better)"
                    ));
                };
                let (name, goal) = match rest.rsplit_once(':') {
                    Some((name, "lower")) => (name, Goal::Lower),
                    Some((name, "higher")) => (name, Goal::Higher),
                    _ => (rest, Goal::Higher),
                };
                check_name(name, "metric")?;
                Ok(Metric::Custom {
                    name: name.to_owned(),
                    goal,
                })
            }
        }
    }

    /// Which way is better.
    pub fn goal(&self) -> Goal {
        match self {
            Metric::Score => Goal::Higher,
            Metric::ErrorRate => Goal::Lower,
            Metric::Custom { goal, .. } => *goal,
        }
    }

    /// The name a feedback report carries the value under, for custom metrics.
    pub fn custom_name(&self) -> Option<&str> {
        match self {
            Metric::Custom { name, .. } => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Score => f.write_str("score"),
            Metric::ErrorRate => f.write_str("error_rate"),
            Metric::Custom {
                name,
                goal: Goal::Higher,
            } => write!(f, "custom:{name}"),
            Metric::Custom {
                name,
                goal: Goal::Lower,
            } => write!(f, "custom:{name}:lower"),
        }
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Checks an experiment, arm or metric name: 1 to 64 bytes of lowercase letters, digits,
/// `_`, `-` and `.`, starting with a letter or digit (it becomes a Prometheus label value
/// and part of an OFREP variant).
pub fn check_name(name: &str, what: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= MAX_EXPERIMENT_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
    if fine {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a{} {what} name: 1 to {MAX_EXPERIMENT_NAME} lowercase letters, digits, `_`, `-` or `.`, starting with a letter or digit",
            if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "n"
            } else {
                ""
            }
        ))
    }
}

/// Checks the figures of an experiment that its text form or a command gives.
pub fn check_alpha(alpha: f64) -> Result<(), String> {
    if alpha.is_finite() && alpha > 0.0 && alpha <= 0.2 {
        Ok(())
    } else {
        Err(format!(
            "an experiment's error rate is above 0% and at most 20%, not {}%",
            alpha * 100.0
        ))
    }
}

/// The smallest difference worth finding: above 0 and finite.
pub fn check_effect(effect: f64) -> Result<(), String> {
    if effect.is_finite() && effect > 0.0 && effect <= 1e9 {
        Ok(())
    } else {
        Err(format!(
            "the smallest difference worth finding is above 0 and at most 1e9, not {effect}"
        ))
    }
}

impl Experiment {
    /// Checks what the state file and the planner both need to hold: 2 to 8 arms with
    /// unique names, a split with a share per arm, and bounded figures.
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.name, "experiment")?;
        if !(2..=MAX_EXPERIMENT_ARMS).contains(&self.arms.len()) {
            return Err(format!(
                "an experiment has 2 to {MAX_EXPERIMENT_ARMS} arms, not {}",
                self.arms.len()
            ));
        }
        for (i, arm) in self.arms.iter().enumerate() {
            check_name(&arm.name, "arm")?;
            if self.arms[..i].iter().any(|a| a.name == arm.name) {
                return Err(format!("two arms are named `{}`", arm.name));
            }
        }
        if self.split.shares().len() != self.arms.len() {
            return Err(format!(
                "the split has {} shares for {} arms",
                self.split.shares().len(),
                self.arms.len()
            ));
        }
        check_alpha(self.alpha)?;
        check_effect(self.effect)?;
        if self.max_samples == Some(0) {
            return Err("`max_samples` is at least 1".into());
        }
        Ok(())
    }

    /// The arm a caller gets: `None` when the segment leaves it out, `Err` when the
    /// segment cannot be evaluated for it (it then gets the active version, counted).
    pub fn arm_for(
        &self,
        key: &str,
        attributes: &Attributes,
    ) -> Result<Option<usize>, Unevaluable> {
        if let Some(segment) = &self.segment
            && !segment.matches(attributes)?
        {
            return Ok(None);
        }
        Ok(Some(self.split.arm(&self.name, key)))
    }

    /// The index of the arm named `name`.
    pub fn arm_named(&self, name: &str) -> Option<usize> {
        self.arms.iter().position(|a| a.name == name)
    }

    /// When it stops as inconclusive, whatever the figures.
    pub fn deadline(&self) -> UnixTime {
        self.started
            .saturating_add(i64::try_from(self.max_duration).unwrap_or(i64::MAX))
    }

    /// A two-arm experiment on score, limited to `plan = "pro"`, for tests.
    #[cfg(test)]
    pub(crate) fn sample_for_tests() -> Experiment {
        let v = |byte: char| -> Version {
            format!("sha256:{}", byte.to_string().repeat(64))
                .parse()
                .unwrap()
        };
        Experiment {
            name: "tone".into(),
            arms: vec![
                Arm {
                    name: "formal".into(),
                    version: v('a'),
                },
                Arm {
                    name: "casual".into(),
                    version: v('b'),
                },
            ],
            split: Split::parse("50,50").unwrap(),
            segment: Some(Rule::parse("plan = \"pro\"").unwrap()),
            metric: Metric::Score,
            effect: DEFAULT_EFFECT,
            alpha: DEFAULT_ALPHA,
            started: 1_795_425_600,
            max_duration: DEFAULT_EXPERIMENT_LENGTH,
            max_samples: None,
            auto_conclude: false,
        }
    }

    /// The arms in words: `formal (50%) 1a2b3c4d5e6f, casual (50%) …`, and the segment.
    pub fn describe(&self) -> String {
        let arms: Vec<String> = self
            .arms
            .iter()
            .zip(self.split.shares())
            .map(|(arm, share)| {
                format!(
                    "{} ({}%) {}",
                    arm.name,
                    f64::from(*share) / 100.0,
                    arm.version.short()
                )
            })
            .collect();
        let mut text = arms.join(", ");
        if let Some(segment) = &self.segment {
            text.push_str(&format!(" where {segment}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::rule::AttrValue;

    #[test]
    fn callers_outside_the_segment_take_no_part_and_unevaluable_ones_say_why() {
        let experiment = Experiment::sample_for_tests();
        let pro: Attributes = [("plan".to_owned(), AttrValue::Text("pro".into()))].into();
        let free: Attributes = [("plan".to_owned(), AttrValue::Text("free".into()))].into();
        let arm = experiment.arm_for("user-1", &pro).unwrap().unwrap();
        assert_eq!(arm, experiment.split.arm("tone", "user-1"));
        assert_eq!(experiment.arm_for("user-1", &free), Ok(None));
        assert!(
            experiment
                .arm_for("user-1", &Attributes::default())
                .is_err()
        );
    }

    #[test]
    fn metrics_names_and_figures_are_bounded() {
        assert_eq!(Metric::parse("score"), Ok(Metric::Score));
        assert_eq!(
            Metric::parse("custom:resolved:lower").unwrap().to_string(),
            "custom:resolved:lower"
        );
        assert_eq!(Metric::parse("custom:csat").unwrap().goal(), Goal::Higher);
        for bad in ["Score", "custom:", "custom:A b", "latency"] {
            assert!(Metric::parse(bad).is_err(), "{bad}");
        }
        let mut experiment = Experiment::sample_for_tests();
        assert_eq!(experiment.check(), Ok(()));
        experiment.arms[1].name = "formal".into();
        assert!(experiment.check().unwrap_err().contains("two arms"));
        let mut experiment = Experiment::sample_for_tests();
        experiment.alpha = 0.5;
        assert!(experiment.check().unwrap_err().contains("at most 20%"));
        let mut experiment = Experiment::sample_for_tests();
        experiment.name = "x".repeat(65);
        assert!(experiment.check().unwrap_err().contains("1 to 64"));
        let mut experiment = Experiment::sample_for_tests();
        experiment.arms.truncate(1);
        assert!(experiment.check().unwrap_err().contains("2 to 8 arms"));
    }
}
