//! Reading TOML files into typed structs with errors that name the file, line and field.

use serde::de::DeserializeOwned;

use crate::location::Location;

/// A TOML file that does not parse or does not have the expected shape.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct TomlError {
    /// Where the problem is.
    pub location: Location,
    /// What is wrong, as the TOML parser or the schema says it.
    pub message: String,
}

/// Parses `source` (read from `path`) into `T`, tracking the field path of any error.
pub fn parse<T: DeserializeOwned>(path: &str, source: &str) -> Result<T, TomlError> {
    let error = |span: Option<std::ops::Range<usize>>, field: String, message: &str| TomlError {
        location: Location::file(path)
            .at_line(span.map(|s| line_of(source, s.start)))
            .with_field(field),
        message: message.to_owned(),
    };
    let deserializer = toml::Deserializer::parse(source)
        .map_err(|e| error(e.span(), String::new(), e.message()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = field_path(&e.path().to_string());
        error(e.inner().span(), field, e.inner().message())
    })
}

/// Cleans serde's path for people: no `.` for the root, no `toml::Spanned` internals.
fn field_path(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    path.replace(".$__serde_spanned_private_value", "")
        .replace("$__serde_spanned_private_value", "")
}

/// Returns the one-based line of a byte offset in `source`.
pub fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let err = parse::<Doc>("a.toml", "name = \"x\"\nbroken =\n").unwrap_err();
        assert_eq!(err.location.line, Some(2));
        assert_eq!(err.location.path, "a.toml");
    }

    #[test]
    fn shape_errors_carry_line_and_field() {
        let err = parse::<Doc>("a.toml", "name = \"x\"\n[inner]\ncount = \"many\"\n").unwrap_err();
        assert_eq!(err.location.line, Some(3));
        assert_eq!(err.location.field.as_deref(), Some("inner.count"));
        let err = parse::<Doc>("a.toml", "name = \"x\"\ncolour = 1\n").unwrap_err();
        assert_eq!(err.location.field.as_deref(), Some("colour"));
        assert!(
            err.message.contains("unknown field `colour`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn line_of_counts_newlines_before_offset() {
        let src = "a\nbb\nccc";
        assert_eq!(line_of(src, 0), 1);
        assert_eq!(line_of(src, 2), 2);
        assert_eq!(line_of(src, 5), 3);
        assert_eq!(line_of(src, 999), 3);
    }
}
