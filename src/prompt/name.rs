//! Prompt and partial names: the one rule for what a path below `prompts/` may be called.

use std::fmt;

/// The name of a prompt: its path below `prompts/` without `.toml` (`support/triage`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PromptName(String);

impl PromptName {
    /// Parses a prompt name, checking every segment against `[a-z0-9][a-z0-9._-]*`.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        check_segments(name)?;
        Ok(PromptName(name.to_owned()))
    }

    /// Returns the name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the file path of this prompt relative to the prompts folder.
    pub fn file_path(&self) -> String {
        format!("{}.toml", self.0)
    }
}

impl fmt::Display for PromptName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for PromptName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for PromptName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Why a path is not a prompt or partial name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("absolute paths are not allowed")]
    Absolute,
    #[error("it has an empty path segment")]
    EmptySegment,
    #[error("segment `{segment}` must start with an ASCII lower-case letter (a-z) or digit (0-9)")]
    BadStart { segment: String },
    #[error("segment `{segment}` contains `{bad}`; use only ASCII a-z, 0-9, `.`, `_` and `-`")]
    BadCharacter { segment: String, bad: char },
}

/// Checks that a relative path is made of valid segments: no empty, `.`, `..` or
/// upper-case segments, no absolute paths, no backslashes.
pub fn check_segments(path: &str) -> Result<(), NameError> {
    if path.is_empty() {
        return Err(NameError::Empty);
    }
    if path.starts_with('/') {
        return Err(NameError::Absolute);
    }
    for segment in path.split('/') {
        check_segment(segment)?;
    }
    Ok(())
}

fn check_segment(segment: &str) -> Result<(), NameError> {
    // Byte by byte: every allowed character is ASCII, so the first byte that is not
    // allowed starts the character to name. A name is checked on every resolve.
    let bytes = segment.as_bytes();
    match bytes.first() {
        None => return Err(NameError::EmptySegment),
        Some(b) if !(b.is_ascii_lowercase() || b.is_ascii_digit()) => {
            return Err(NameError::BadStart {
                segment: segment.to_owned(),
            });
        }
        Some(_) => {}
    }
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b);
    if let Some(at) = bytes.iter().position(|b| !allowed(b)) {
        let bad = segment[at..].chars().next().unwrap_or_default();
        return Err(NameError::BadCharacter {
            segment: segment.to_owned(),
            bad,
        });
    }
    Ok(())
}

/// The suffix of a schema file: a JSON Schema under the prompts folder that prompts name
/// (`schema_file`, `parameters_file`).
pub const SCHEMA_FILE_SUFFIX: &str = ".json";

/// Tells whether a file below the prompts folder is one that prompts reach by name and
/// whose text their versions cover: a `.j2` partial, or a `.json` schema file.
pub fn is_partial_file(relative: &str) -> bool {
    relative.ends_with(".j2") || relative.ends_with(SCHEMA_FILE_SUFFIX)
}

/// Checks that a partial name is a relative `.j2` path with valid segments.
pub(crate) fn check_partial_name(name: &str) -> Result<(), crate::prompt::IncludeProblem> {
    use crate::prompt::IncludeProblem;
    if check_segments(name).is_err() {
        return Err(IncludeProblem::OutsidePrompts);
    }
    if !name.ends_with(".j2") {
        return Err(IncludeProblem::NotPartial);
    }
    Ok(())
}

impl<'de> serde::Deserialize<'de> for PromptName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PromptName::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_names() {
        for ok in [
            "support/triage",
            "a",
            "0x",
            "a.b_c-d/e2",
            "policies/refunds.j2",
        ] {
            assert!(PromptName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_bad_names_with_a_reason() {
        for bad in [
            "",
            "/abs",
            "a//b",
            "../x",
            "./x",
            "Support/triage",
            "a b",
            "_x",
            "-x",
            "a\\b",
            "é",
        ] {
            let err = PromptName::parse(bad).unwrap_err().to_string();
            assert!(!err.is_empty(), "{bad}");
        }
        assert!(
            PromptName::parse("Support/x")
                .unwrap_err()
                .to_string()
                .contains("`Support`")
        );
    }

    #[test]
    fn non_ascii_letters_are_named_as_such() {
        let err = PromptName::parse("ünïcode").unwrap_err().to_string();
        assert!(err.contains("ASCII lower-case letter (a-z)"), "{err}");
        let err = PromptName::parse("caf\u{e9}").unwrap_err().to_string();
        assert!(
            err.contains("contains `\u{e9}`; use only ASCII a-z"),
            "{err}"
        );
    }

    #[test]
    fn partial_names_must_be_relative_j2_files() {
        use crate::prompt::IncludeProblem::*;
        assert_eq!(check_partial_name("policies/refunds.j2"), Ok(()));
        assert_eq!(check_partial_name("../secret.j2"), Err(OutsidePrompts));
        assert_eq!(check_partial_name("/etc/passwd"), Err(OutsidePrompts));
        assert_eq!(check_partial_name("a/../../b.j2"), Err(OutsidePrompts));
        assert_eq!(check_partial_name("support/triage.toml"), Err(NotPartial));
    }
}
