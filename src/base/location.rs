//! Locations: which file, line and field a message points at.

use std::fmt;

/// A place in a prompt repository that an error points at.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Location {
    /// Path shown to the user, relative to the project root (`prompts/support/triage.toml`).
    pub path: String,
    /// One-based line in that file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Dotted field path inside the file (`variables.tone.type`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Location {
    /// Creates a location naming only a file.
    pub fn file(path: impl Into<String>) -> Self {
        Location {
            path: path.into(),
            line: None,
            field: None,
        }
    }

    /// Returns this location with a line number.
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// Returns this location with a field path.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }
}

impl Location {
    /// Moves a line of a template into the file that holds it.
    ///
    /// `self` is the template's own location, whose line (if any) is where the template's
    /// first line sits in the file; a template that is a whole file has no line.
    pub fn at_template_line(&self, template_line: Option<usize>) -> Location {
        let line = match (self.line, template_line) {
            (Some(first), Some(line)) => Some(first + line.max(1) - 1),
            (None, line) => line,
            (first, None) => first,
        };
        self.clone().at_line(line)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": `{field}`")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_display_names_file_line_and_field() {
        let loc = Location::file("prompts/a.toml")
            .at_line(Some(7))
            .with_field("variables.tone.type");
        assert_eq!(loc.to_string(), "prompts/a.toml:7: `variables.tone.type`");
        assert_eq!(Location::file("x.j2").to_string(), "x.j2");
    }

    #[test]
    fn template_lines_shift_to_file_lines() {
        let embedded = Location::file("p.toml").at_line(Some(10));
        assert_eq!(embedded.at_template_line(Some(3)).line, Some(12));
        assert_eq!(embedded.at_template_line(None).line, Some(10));
        assert_eq!(
            Location::file("x.j2").at_template_line(Some(3)).line,
            Some(3)
        );
    }
}
