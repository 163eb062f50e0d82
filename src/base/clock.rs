//! Wall-clock times as whole UTC seconds: reading the clock, writing and reading RFC 3339
//! (`2026-11-23T10:00:00Z`), and the calendar fields freeze windows need.
//!
//! Release state and policies only ever need UTC to the second, so this is a few lines of
//! civil-date arithmetic (Howard Hinnant's `days_from_civil`) rather than a time-zone library.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since 1970-01-01T00:00:00Z.
pub type UnixTime = i64;

/// The environment variable that sets the clock: an RFC 3339 UTC time
/// (`2026-11-23T10:00:00Z`) or seconds since the epoch. Release commits, rollout steps and
/// freeze windows then read that time, so tests (and a replay of an incident) set the clock
/// instead of sleeping or blanking times out of their output.
pub const NOW_ENV: &str = "PROMPTCTL_NOW";

/// The current time: `PROMPTCTL_NOW` when it is set, else the system clock. A value that
/// does not parse is reported and the system clock is used, never a made-up time.
pub fn now() -> UnixTime {
    if let Ok(text) = std::env::var(NOW_ENV) {
        match parse(&text) {
            Ok(time) => return time,
            Err(reason) => {
                tracing::warn!(value = %text, "{NOW_ENV} is not a time ({reason}); using the system clock");
            }
        }
    }
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Why text or a TOML value names no instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("`{text}` is neither RFC 3339 nor seconds since 1970")]
    NotATime { text: String },
    #[error(
        "`{value}` is not a full date and time with a zone; write it like 2026-12-20T00:00:00Z"
    )]
    NoZone { value: String },
}

/// Reads `2026-11-23T10:00:00Z` (any offset) or a number of seconds since the epoch.
pub fn parse(text: &str) -> Result<UnixTime, TimeError> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    let value: toml::value::Datetime = text.parse().map_err(|_| TimeError::NotATime {
        text: text.to_owned(),
    })?;
    from_toml(&value)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes a time as `2026-11-23T10:00:00Z`.
pub fn format(time: UnixTime) -> String {
    let (days, secs) = (time.div_euclid(86_400), time.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Writes a time to the minute, for people: `2026-11-23 10:00Z`.
pub fn format_minutes(time: UnixTime) -> String {
    let (days, secs) = (time.div_euclid(86_400), time.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// Serde for a time written as RFC 3339 text (`2026-11-23T10:00:00Z`), for fields that
/// `#[serde(with = "crate::base::clock::rfc3339")]`.
pub mod rfc3339 {
    use serde::Deserialize as _;

    use super::UnixTime;

    /// Writes the time as text.
    pub fn serialize<S: serde::Serializer>(time: &UnixTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*time))
    }

    /// Reads the time from text with an offset.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<UnixTime, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Converts a TOML date-time with a time zone offset to UTC seconds; a local date-time
/// (without offset) or a bare date or time is refused, since it names no instant.
pub fn from_toml(value: &toml::value::Datetime) -> Result<UnixTime, TimeError> {
    let (Some(date), Some(time), Some(offset)) = (value.date, value.time, value.offset) else {
        return Err(TimeError::NoZone {
            value: value.to_string(),
        });
    };
    let offset_minutes = match offset {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i64::from(minutes),
    };
    let days = days_from_civil(i64::from(date.year), date.month.into(), date.day.into());
    Ok(days * 86_400
        + i64::from(time.hour) * 3600
        + i64::from(time.minute) * 60
        + i64::from(time.second.unwrap_or(0))
        - offset_minutes * 60)
}

/// The day of the week, 0 = Monday .. 6 = Sunday, in UTC.
pub fn weekday(time: UnixTime) -> u32 {
    // 1970-01-01 was a Thursday (3).
    (time.div_euclid(86_400) + 3).rem_euclid(7) as u32
}

/// Minutes since midnight UTC.
pub fn minute_of_day(time: UnixTime) -> u32 {
    (time.rem_euclid(86_400) / 60) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_reads_back_known_instants() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(1_795_425_600), "2026-11-23T09:20:00Z");
        assert_eq!(format(951_782_400), "2000-02-29T00:00:00Z");
        let parsed: toml::value::Datetime = "2026-11-23T10:20:00+01:00".parse().unwrap();
        assert_eq!(from_toml(&parsed), Ok(1_795_425_600));
        let local: toml::value::Datetime = "2026-11-23T10:20:00".parse().unwrap();
        assert!(from_toml(&local).is_err());
        for t in [0, 86_399, 951_782_400, 4_102_444_800, -1] {
            let back: toml::value::Datetime = format(t).parse().unwrap();
            assert_eq!(from_toml(&back), Ok(t), "{}", format(t));
        }
    }

    #[test]
    fn weekdays_and_minutes_are_in_utc() {
        // 2026-11-23 is a Monday.
        assert_eq!(weekday(1_795_425_600), 0);
        assert_eq!(weekday(1_795_425_600 + 6 * 86_400), 6);
        assert_eq!(minute_of_day(1_795_425_600), 9 * 60 + 20);
    }
}
