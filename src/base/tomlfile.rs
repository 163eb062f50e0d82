//! Reading TOML files into typed structs with errors that name the file, line and field,
//! and TOML values as JSON.

use serde::de::DeserializeOwned;

use crate::base::location::Location;

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
    // Without tracking first: tracking the path of every field was a third of reading a
    // prompt file. Tracking changes no answer, so only a file that fails is read again, for
    // the field path of its error.
    if let Ok(value) = toml::from_str(source) {
        return Ok(value);
    }
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

/// Returns the one-based line where the value at `field` (`cases[2].assert[0].value`)
/// starts in `source`, or of the deepest part of the path that exists.
pub fn line_of_field(source: &str, field: &str) -> Option<usize> {
    FieldLines::parse(source).line_of(field)
}

/// A document parsed once for many line look-ups (every problem of a suite file).
pub struct FieldLines<'a> {
    source: &'a str,
    root: Option<toml::de::DeValue<'a>>,
}

impl<'a> FieldLines<'a> {
    /// Parses `source`; a document that does not parse has no lines to give.
    pub fn parse(source: &'a str) -> Self {
        let root = toml::de::DeTable::parse(source)
            .ok()
            .map(|document| toml::de::DeValue::Table(document.into_inner()));
        FieldLines { source, root }
    }

    /// The line where the value at `field` starts, or of the deepest part that exists.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        let root = self.root.as_ref()?;
        let mut current: Option<&toml::Spanned<toml::de::DeValue<'_>>> = None;
        for segment in field_segments(field) {
            let value = current.map_or(root, |c| c.get_ref());
            let next = match segment {
                Segment::Key(key) => value.get(key),
                Segment::Index(index) => value.get(index),
            };
            match next {
                Some(next) => current = Some(next),
                None => break,
            }
        }
        current.map(|c| line_of(self.source, c.span().start))
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `cases[2].assert[0].value` into keys and indexes.
fn field_segments(field: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            segments.push(Segment::Key(key));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(index) = rest[1..end].parse() {
                segments.push(Segment::Index(index));
            }
            rest = &rest[end + 1..];
        }
    }
    segments
}

/// Cleans serde's path for people: no `.` for the root, no `toml::Spanned` internals.
pub fn field_path(path: &str) -> String {
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

/// A float JSON cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("`{0}` is not a finite number")]
pub struct NotFinite(pub f64);

/// Converts TOML to JSON; datetimes become strings, non-finite floats are refused.
pub fn toml_value_to_json(value: &toml::Value) -> Result<serde_json::Value, NotFinite> {
    Ok(match value {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .ok_or(NotFinite(*f))?,
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(toml_value_to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        toml::Value::Table(table) => serde_json::Value::Object(
            table
                .iter()
                .map(|(k, v)| Ok((k.clone(), toml_value_to_json(v)?)))
                .collect::<Result<serde_json::Map<_, _>, NotFinite>>()?,
        ),
    })
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
    fn fields_are_found_at_their_own_line() {
        let src = "name = \"x\"\n[[cases]]\nname = \"a\"\n[[cases]]\nname = \"b\"\nassert = [\n  { type = \"regex\" },\n  { type = \"contains\", value = \"\" },\n]\n";
        assert_eq!(line_of_field(src, "cases[1].assert[1]"), Some(8));
        assert_eq!(line_of_field(src, "cases[1].assert[0].type"), Some(7));
        assert_eq!(line_of_field(src, "cases[1].name"), Some(5));
        assert_eq!(
            line_of_field(src, "cases[1].assert[7]"),
            Some(6),
            "the deepest part that exists"
        );
        assert_eq!(line_of_field("broken =", "a"), None);
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
