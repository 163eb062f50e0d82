//! Project settings: the `promptctl.toml` file format and its defaults.
//!
//! Every key is optional. Sections that later features read (environments, providers,
//! prices) are added here as those features land, each with serde defaults.

use serde::Deserialize;

use crate::location::Location;
use crate::prompt::{PromptDefaults, check_segments};
use crate::tomlfile::{self, TomlError};

/// The name of the project settings file, at the project root.
pub const CONFIG_FILE: &str = "promptctl.toml";

/// Parsed `promptctl.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectConfig {
    /// Where prompts and eval suites live.
    pub project: ProjectSection,
    /// Defaults for prompts that leave fields out.
    pub defaults: DefaultsSection,
}

/// The `[project]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectSection {
    /// Folder of prompt files and partials, relative to the project root.
    pub prompts: String,
    /// Folder of eval suites, relative to the project root.
    pub evals: String,
}

impl Default for ProjectSection {
    fn default() -> Self {
        ProjectSection {
            prompts: "prompts".into(),
            evals: "evals".into(),
        }
    }
}

/// The `[defaults]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultsSection {
    /// Provider of prompts that name none.
    pub provider: String,
    /// Model of prompts that name none.
    pub model: Option<String>,
}

impl Default for DefaultsSection {
    fn default() -> Self {
        let defaults = PromptDefaults::default();
        DefaultsSection {
            provider: defaults.provider,
            model: defaults.model,
        }
    }
}

impl ProjectConfig {
    /// Parses and validates the text of a `promptctl.toml` read from `path`.
    pub fn parse(path: &str, source: &str) -> Result<Self, TomlError> {
        let config: ProjectConfig = tomlfile::parse(path, source)?;
        for (field, folder) in [
            ("project.prompts", &config.project.prompts),
            ("project.evals", &config.project.evals),
        ] {
            check_segments(folder).map_err(|reason| TomlError {
                location: Location::file(path).with_field(field),
                message: format!(
                    "`{folder}` must be a relative folder inside the project: {reason}"
                ),
            })?;
        }
        Ok(config)
    }

    /// Returns the defaults that apply to prompt files.
    pub fn prompt_defaults(&self) -> PromptDefaults {
        PromptDefaults {
            provider: self.defaults.provider.clone(),
            model: self.defaults.model.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config = ProjectConfig::parse("promptctl.toml", "").unwrap();
        assert_eq!(config.project.prompts, "prompts");
        assert_eq!(config.defaults.provider, "offline");
        assert_eq!(config.defaults.model, None);
    }

    #[test]
    fn folders_must_stay_inside_the_project() {
        let err =
            ProjectConfig::parse("promptctl.toml", "[project]\nprompts = \"../x\"\n").unwrap_err();
        assert_eq!(err.location.field.as_deref(), Some("project.prompts"));
    }

    #[test]
    fn unknown_keys_are_refused_with_their_field() {
        let err =
            ProjectConfig::parse("promptctl.toml", "[defaults]\nmodle = \"x\"\n").unwrap_err();
        assert_eq!(err.location.field.as_deref(), Some("defaults.modle"));
        assert_eq!(err.location.line, Some(2));
    }
}
