//! Durations: the one grammar every flag, file, environment variable, query parameter and
//! header is read with, the bounds each setting has, and how spans are written for people.
//!
//! The grammar (docs/durations.md): a number of seconds (`30`, `1.5`) or a span of whole or
//! decimal units, `ms`, `s`, `m`, `h`, `d`, added up (`500ms`, `30s`, `5m`, `1h30m`, `2d`).
//! A file may give either as a number (`timeout = 60`) or a string (`timeout = "1m"`).
//! Every setting names its [`Bounds`]; a value past them is an error that says the bound,
//! never a clamp, a default or a panic (`Duration::from_secs_f64` panics past its range,
//! and `1e300` in a provider's `timeout` once reached it).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest any duration may be, whatever its setting: about 31,700 years, far below
/// where `Duration` arithmetic could overflow.
const CEILING_SECONDS: f64 = 1e12;

/// What a setting accepts: at least `min` (0 allowed only when `min` is zero), at most
/// `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: Duration,
    pub max: Duration,
}

impl Bounds {
    /// More than 0, at most `max`.
    pub const fn positive(max: Duration) -> Bounds {
        Bounds {
            min: Duration::from_nanos(1),
            max,
        }
    }

    /// 0 or more, at most `max`.
    pub const fn up_to(max: Duration) -> Bounds {
        Bounds {
            min: Duration::ZERO,
            max,
        }
    }

    /// At least `min`, at most `max`.
    pub const fn between(min: Duration, max: Duration) -> Bounds {
        Bounds { min, max }
    }

    /// Reads `text` in the one grammar and checks it against the bounds.
    pub fn parse(&self, text: &str) -> Result<Duration, DurationError> {
        self.check(parse(text)?)
    }

    /// A number of seconds (from a file or a header) checked against the bounds.
    pub fn seconds(&self, value: f64) -> Result<Duration, DurationError> {
        if !value.is_finite() || value < 0.0 {
            return Err(DurationError::NotSeconds {
                value,
                bounds: *self,
            });
        }
        if value > self.max.as_secs_f64() {
            return Err(DurationError::TooManySeconds {
                value,
                bounds: *self,
            });
        }
        self.check(Duration::from_secs_f64(value))
    }

    /// A file's setting, a number of seconds or a span, checked against the bounds.
    pub fn setting(&self, setting: &Setting) -> Result<Duration, DurationError> {
        match setting {
            Setting::Seconds(value) => self.seconds(*value),
            Setting::Text(text) => self.parse(text),
        }
    }

    fn check(&self, span: Duration) -> Result<Duration, DurationError> {
        if span > self.max || span < self.min {
            return Err(DurationError::OutOfBounds {
                span,
                bounds: *self,
            });
        }
        Ok(span)
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.min {
            Duration::ZERO => write!(f, "0 to {}", format(self.max)),
            min if min < Duration::from_millis(1) => {
                write!(f, "more than 0, at most {}", format(self.max))
            }
            min => write!(f, "{} to {}", format(min), format(self.max)),
        }
    }
}

/// Why a value is not a duration a setting takes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    #[error("`{text}` is not a duration like 30, 500ms, 30s, 5m, 1h or 1h30m")]
    NotADuration { text: String },
    #[error("{value} is not a number of seconds ({bounds})")]
    NotSeconds { value: f64, bounds: Bounds },
    #[error("{value}s is more than {}", format(bounds.max))]
    TooManySeconds { value: f64, bounds: Bounds },
    #[error("{} is not {bounds}", format(*span))]
    OutOfBounds { span: Duration, bounds: Bounds },
}

/// A duration as a file gives it: a number of seconds or a span (`"1m"`), checked against
/// its setting's bounds where it is used ([`Bounds::setting`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Setting {
    Seconds(f64),
    Text(String),
}

/// Reads a duration in the one grammar, unbounded but for [`CEILING_SECONDS`]; spans are
/// rounded up to whole milliseconds, so that `0.0001s` is never read as zero.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError::NotADuration {
        text: text.to_owned(),
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    // A bare number is seconds, in any spelling a number has (`1e-3` from a generator).
    if let Ok(seconds) = rest.parse::<f64>() {
        if !(seconds.is_finite() && (0.0..=CEILING_SECONDS).contains(&seconds)) {
            return Err(bad());
        }
        return Ok(Duration::from_millis((seconds * 1000.0).ceil() as u64));
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" | "" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += value * unit;
    }
    if !total.is_finite() || total > CEILING_SECONDS {
        return Err(bad());
    }
    Ok(Duration::from_millis((total * 1000.0).ceil() as u64))
}

/// Writes a span the way people say it: `30m`, `1h30m`, `45s`, `250ms`.
pub fn format(span: Duration) -> String {
    let millis = span.subsec_millis();
    if span.as_secs() == 0 && millis > 0 {
        return format!("{millis}ms");
    }
    human(span.as_secs())
}

/// Writes whole seconds the way people say them: `30m`, `1h30m`, `45s`, `1d1h`.
pub fn human(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let parts = [
        ("d", seconds / 86_400),
        ("h", seconds % 86_400 / 3600),
        ("m", seconds % 3600 / 60),
        ("s", seconds % 60),
    ];
    parts
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(unit, count)| format!("{count}{unit}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn the_grammar_reads_seconds_and_spans() {
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse(" 2d "), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse("1e-3"), Ok(Duration::from_millis(1)));
        for bad in [
            "",
            "5x",
            "m",
            "1e300",
            "-1",
            "-1s",
            "1..2s",
            "NaN",
            "inf",
            "99999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds_refuse_past_them_with_the_bound_in_words() {
        let timeout = Bounds::positive(Duration::from_secs(300));
        assert_eq!(timeout.parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(timeout.seconds(1.5), Ok(Duration::from_millis(1500)));
        assert_eq!(
            timeout.parse("10m").unwrap_err().to_string(),
            "10m is not more than 0, at most 5m"
        );
        assert!(timeout.parse("0").is_err() && timeout.seconds(0.0).is_err());
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e300, 301.0] {
            assert!(timeout.seconds(bad).is_err(), "{bad}");
        }
        let wait = Bounds::up_to(Duration::from_secs(60));
        assert_eq!(wait.parse("0"), Ok(Duration::ZERO));
        let interval = Bounds::between(Duration::from_millis(10), DAY);
        assert_eq!(
            interval.parse("1ms").unwrap_err().to_string(),
            "1ms is not 10ms to 1d"
        );
        let number: Setting = toml::from_str::<toml::Table>("t = 60").unwrap()["t"]
            .clone()
            .try_into()
            .unwrap();
        let text: Setting = toml::from_str::<toml::Table>("t = '1m'").unwrap()["t"]
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(timeout.setting(&number), timeout.setting(&text));
    }

    #[test]
    fn spans_are_written_like_people_say_them() {
        assert_eq!(human(5400), "1h30m");
        assert_eq!(human(1800), "30m");
        assert_eq!(human(90_061), "1d1h1m1s");
        assert_eq!(human(0), "0s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(DAY), "1d");
    }

    proptest::proptest! {
        /// No text, and no number of seconds, reaches a panic; whatever is accepted is
        /// within its bounds.
        #[test]
        fn no_input_panics(text in "\\PC{0,24}", value in proptest::num::f64::ANY) {
            let bounds = Bounds::positive(DAY);
            if let Ok(span) = bounds.parse(&text) {
                proptest::prop_assert!(span > Duration::ZERO && span <= DAY);
            }
            if let Ok(span) = bounds.seconds(value) {
                proptest::prop_assert!(span > Duration::ZERO && span <= DAY);
            }
            let _ = parse(&text);
        }
    }
}
