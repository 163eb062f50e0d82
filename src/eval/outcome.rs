//! What became of one assertion, case or sample: passed, failed, or could not be checked,
//! and how reports say it.

use serde::Serialize;

/// What became of one assertion, case or sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It held.
    Pass,
    /// It was checked and did not hold.
    Fail,
    /// It could not be checked (a broken assertion, a judge that gave no verdict, no
    /// output): never a pass, never a plain failure either.
    Error,
}

impl Outcome {
    /// `true` for a pass, `false` for a failure, none for an error: how JSON says `pass`.
    pub fn as_pass(self) -> Option<bool> {
        match self {
            Outcome::Pass => Some(true),
            Outcome::Fail => Some(false),
            Outcome::Error => None,
        }
    }

    /// Writes `"outcome"` and, for readers of the first report format, `"pass"`: `null`
    /// for an error, which is neither a pass nor a failure.
    pub fn serialize_with_pass<S: serde::Serializer>(
        outcome: &Outcome,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("outcome", outcome)?;
        map.serialize_entry("pass", &outcome.as_pass())?;
        map.end()
    }

    /// The worse of two outcomes: an error outranks a failure, which outranks a pass.
    pub fn worst(self, other: Outcome) -> Outcome {
        match (self, other) {
            (Outcome::Error, _) | (_, Outcome::Error) => Outcome::Error,
            (Outcome::Fail, _) | (_, Outcome::Fail) => Outcome::Fail,
            _ => Outcome::Pass,
        }
    }

    /// The outcome as written in reports: `pass`, `fail` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
        }
    }
}

/// The output one assertion is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    pub text: &'a str,
    pub latency_ms: f64,
    pub cost_usd: f64,
    /// Every tool call the model made on the way to this answer.
    pub tool_calls: &'a [crate::prompt::ToolCall],
}

/// The result of one assertion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssertionResult {
    /// The assertion's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// In JSON beside `pass`: `true`, `false`, or `null` when it could not be checked.
    #[serde(flatten, serialize_with = "Outcome::serialize_with_pass")]
    pub outcome: Outcome,
    /// `outcome == pass`.
    #[serde(skip)]
    pub pass: bool,
    /// Why it failed or could not be checked, or for a judge, what the judge said.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The figure it was judged on: the `similar` ratio, the judge's score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl AssertionResult {
    pub(super) fn new(kind: &str, pass: bool, reason: impl Into<String>) -> Self {
        if pass {
            AssertionResult::with(kind, Outcome::Pass, String::new())
        } else {
            AssertionResult::with(kind, Outcome::Fail, reason)
        }
    }

    /// An assertion that could not be checked, and why.
    pub fn error(kind: &str, reason: impl Into<String>) -> Self {
        AssertionResult::with(kind, Outcome::Error, reason)
    }

    fn with(kind: &str, outcome: Outcome, reason: impl Into<String>) -> Self {
        AssertionResult {
            kind: kind.to_owned(),
            outcome,
            pass: outcome == Outcome::Pass,
            reason: reason.into(),
            score: None,
        }
    }

    pub(super) fn scored(mut self, score: f64) -> Self {
        self.score = Some(score);
        self
    }
}

/// A problem an assertion shows before any output exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The assertion's field at fault (`value`, `threshold`).
    pub field: &'static str,
    pub message: String,
}

/// A text cut to 80 characters, for reasons.
pub(super) fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
