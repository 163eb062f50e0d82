//! Variable files (`--vars-file`): JSON or TOML tables of values for a render.

use std::path::Path;

use crate::base::location::Location;
use crate::base::tomlfile;
use crate::prompt::{Vars, toml_value_to_json};

/// Why a variables file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VarsFileError {
    /// The file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a JSON object or TOML table of values.
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },
}

/// Reads a file of values: JSON when it ends in `.json`, TOML otherwise.
pub fn load(path: &Path) -> Result<Vars, VarsFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| VarsFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    let shown = path.display().to_string();
    let invalid = |line: Option<usize>, message: String| VarsFileError::Invalid {
        location: Location::file(&shown).at_line(line),
        message,
    };
    if path.extension().is_some_and(|e| e == "json") {
        return match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(map)) => Ok(map.into_iter().collect()),
            Ok(_) => Err(invalid(
                None,
                "must hold a JSON object of name: value".into(),
            )),
            Err(e) => Err(invalid(Some(e.line()), e.to_string())),
        };
    }
    let table: toml::Table =
        tomlfile::parse(&shown, &text).map_err(|e| VarsFileError::Invalid {
            location: e.location,
            message: e.message,
        })?;
    table
        .iter()
        .map(|(k, v)| {
            toml_value_to_json(v)
                .map(|json| (k.clone(), json))
                .map_err(|m| invalid(None, format!("`{k}`: {m}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_toml() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("v.json");
        std::fs::write(&json, r#"{"n": 3, "s": "x"}"#).unwrap();
        assert_eq!(load(&json).unwrap()["n"], 3);
        let toml = dir.path().join("v.toml");
        std::fs::write(&toml, "n = 3\nlist = [1, 2]\n").unwrap();
        assert_eq!(load(&toml).unwrap()["list"], serde_json::json!([1, 2]));
    }

    #[test]
    fn refuses_non_objects_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("v.json");
        std::fs::write(&json, "[1]").unwrap();
        assert!(load(&json).unwrap_err().to_string().contains("v.json"));
        let bad = dir.path().join("v.toml");
        std::fs::write(&bad, "a = \n").unwrap();
        assert!(load(&bad).unwrap_err().to_string().contains("v.toml:1"));
    }
}
