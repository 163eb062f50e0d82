//! Percent limits as people write them on a command line: `5`, `5%`, `0.5%`, for every
//! gate and floor flag (`eval`, `canary`). A canary's weight is a [`crate::store::Weight`],
//! read in the same spelling but exact to a hundredth of a percent.

/// Why text is not a percentage a setting takes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PercentError {
    #[error("`{text}` is not a percentage like 5 or 5%")]
    NotAPercent { text: String },
    #[error("`{text}` is more than {max}%")]
    TooLarge { text: String, max: f64 },
}

/// Reads `5`, `5%` or `0.5 %` as a number of percent: finite, at least 0, at most `max`.
pub fn parse(text: &str, max: f64) -> Result<f64, PercentError> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(value) if value.is_finite() && (0.0..=max).contains(&value) => Ok(value),
        Ok(value) if value.is_finite() && value > max => Err(PercentError::TooLarge {
            text: text.to_owned(),
            max,
        }),
        _ => Err(PercentError::NotAPercent {
            text: text.to_owned(),
        }),
    }
}

/// A percentage with no upper bound (an increase may be 300%), as a clap value parser.
pub fn parse_unbounded(text: &str) -> Result<f64, PercentError> {
    parse(text, f64::MAX)
}

/// A percentage from 0 to 100, as a clap value parser.
pub fn parse_share(text: &str) -> Result<f64, PercentError> {
    parse(text, 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_signs_are_optional_and_bounds_hold() {
        assert_eq!(parse_unbounded("20%"), Ok(20.0));
        assert_eq!(parse_unbounded(" 20 "), Ok(20.0));
        assert_eq!(parse_share("0.5%"), Ok(0.5));
        assert!(parse_share("101").is_err());
        for bad in ["-1", "abc", "NaN", "inf", "%", ""] {
            assert!(parse_unbounded(bad).is_err(), "{bad}");
        }
    }
}
