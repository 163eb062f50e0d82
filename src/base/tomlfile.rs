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

/// A document parsed once for many line look-ups (every problem of a suite file): the
/// line where each value starts, by its path. It owns what it keeps, so a suite can hold
/// it beside its text and parse at most once however many cases it places.
#[derive(Debug, Clone, Default)]
pub struct FieldLines {
    /// The document's values; `None` for one that does not parse.
    root: Option<Node>,
}

/// A text's `FieldLines`, parsed on the first look-up and kept: the lines of a file held
/// beside its text. Two are always equal, as they only repeat what the text says.
#[derive(Debug, Clone, Default)]
pub struct LazyFieldLines(std::sync::OnceLock<FieldLines>);

impl LazyFieldLines {
    /// The lines of `source`, which must be the text every call gives.
    pub fn of(&self, source: &str) -> &FieldLines {
        self.0.get_or_init(|| FieldLines::parse(source))
    }
}

impl PartialEq for LazyFieldLines {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A value's line and, for a table or an array, its members'.
#[derive(Debug, Clone)]
struct Node {
    line: usize,
    members: Members,
}

#[derive(Debug, Clone)]
enum Members {
    None,
    Table(Vec<(String, Node)>),
    Array(Vec<Node>),
}

impl FieldLines {
    /// Parses `source`; a document that does not parse has no lines to give.
    pub fn parse(source: &str) -> Self {
        let Ok(document) = toml::de::DeTable::parse(source) else {
            return FieldLines::default();
        };
        let starts = LineStarts::new(source);
        let root = toml::de::DeValue::Table(document.into_inner());
        FieldLines {
            root: Some(Node::of(&root, 1, &starts)),
        }
    }

    /// The line where the value at `field` starts, or of the deepest part that exists.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        let mut current = self.root.as_ref()?;
        let mut found = None;
        for segment in field_segments(field) {
            let next = match (segment, &current.members) {
                (Segment::Key(key), Members::Table(members)) => {
                    members.iter().find(|(k, _)| k == key).map(|(_, node)| node)
                }
                (Segment::Index(index), Members::Array(items)) => items.get(index),
                _ => None,
            };
            match next {
                Some(next) => {
                    found = Some(next.line);
                    current = next;
                }
                None => break,
            }
        }
        found
    }
}

impl Node {
    fn of(value: &toml::de::DeValue<'_>, line: usize, starts: &LineStarts) -> Node {
        let spanned = |v: &toml::Spanned<toml::de::DeValue<'_>>| {
            Node::of(v.get_ref(), starts.line_of(v.span().start), starts)
        };
        let members = match value {
            toml::de::DeValue::Table(table) => Members::Table(
                table
                    .iter()
                    .map(|(key, value)| (key.get_ref().to_string(), spanned(value)))
                    .collect(),
            ),
            toml::de::DeValue::Array(items) => Members::Array(items.iter().map(spanned).collect()),
            _ => Members::None,
        };
        Node { line, members }
    }
}

/// Where each line of a text starts, for turning many byte offsets into lines.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(source: &str) -> LineStarts {
        let breaks = source.bytes().enumerate().filter(|(_, b)| *b == b'\n');
        LineStarts(
            std::iter::once(0)
                .chain(breaks.map(|(i, _)| i + 1))
                .collect(),
        )
    }

    /// The one-based line of byte `offset`, as `line_of` counts it.
    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
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
    memchr::memchr_iter(b'\n', &source.as_bytes()[..end]).count() + 1
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
    fn a_files_lines_are_parsed_once_and_agree_with_a_fresh_parse() {
        // Seen: `check` placed every case of a suite by parsing the whole file again, so a
        // 200-case suite took 137 ms to check and a 2,000-case one seconds.
        let src = "name = \"x\"\n[[cases]]\nname = \"a\"\n[[cases]]\nname = \"b\"\nassert = [\n  { type = \"regex\" },\n]\n";
        let lazy = LazyFieldLines::default();
        let first: *const FieldLines = lazy.of(src);
        for field in [
            "cases[1].assert[0].type",
            "cases[0].name",
            "cases[1]",
            "name",
            "nope",
            "cases[9]",
        ] {
            assert_eq!(
                lazy.of(src).line_of(field),
                line_of_field(src, field),
                "{field}"
            );
            assert!(
                std::ptr::eq(lazy.of(src), first),
                "parsed again for {field}"
            );
        }
        assert_eq!(lazy.of(src).line_of("cases[1].assert[0].type"), Some(7));
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
