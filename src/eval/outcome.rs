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
