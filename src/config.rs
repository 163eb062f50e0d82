//! Project settings: the `promptctl.toml` file format and its defaults.
//!
//! Every key is optional. Sections that later features read (environments, providers,
//! prices) are added here as those features land, each with serde defaults.

use std::collections::BTreeMap;

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
    /// Environments besides `production`, each with its own release branch.
    pub environments: BTreeMap<String, EnvironmentSection>,
}

/// One `[environments.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvironmentSection {
    /// What the environment is for, shown by `status`.
    pub description: Option<String>,
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
        for name in config.environments.keys() {
            check_environment_name(name).map_err(|reason| TomlError {
                location: Location::file(path).with_field(format!("environments.{name}")),
                message: reason,
            })?;
        }
        Ok(config)
    }

    /// Returns every environment: `production`, then the declared ones.
    pub fn environment_names(&self) -> Vec<String> {
        let mut names = vec![crate::source::DEFAULT_ENVIRONMENT.to_owned()];
        names.extend(
            self.environments
                .keys()
                .filter(|n| *n != crate::source::DEFAULT_ENVIRONMENT)
                .cloned(),
        );
        names
    }

    /// Tells whether `name` is `production` or a declared environment.
    pub fn has_environment(&self, name: &str) -> bool {
        name == crate::source::DEFAULT_ENVIRONMENT || self.environments.contains_key(name)
    }

    /// Returns the defaults that apply to prompt files.
    pub fn prompt_defaults(&self) -> PromptDefaults {
        PromptDefaults {
            provider: self.defaults.provider.clone(),
            model: self.defaults.model.clone(),
        }
    }
}

/// Checks an environment name: it becomes the branch `promptctl/<name>`.
pub fn check_environment_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an environment name: use lower-case letters, digits, `-` and `_`, starting with a letter or digit"
        ))
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
    fn environments_are_declared_by_name() {
        let config = ProjectConfig::parse("promptctl.toml", "[environments.staging]\n").unwrap();
        assert_eq!(config.environment_names(), ["production", "staging"]);
        assert!(config.has_environment("staging") && !config.has_environment("dev"));
        let err =
            ProjectConfig::parse("promptctl.toml", "[environments.\"Bad Env\"]\n").unwrap_err();
        assert_eq!(err.location.field.as_deref(), Some("environments.Bad Env"));
    }

    #[test]
    fn unknown_keys_are_refused_with_their_field() {
        let err =
            ProjectConfig::parse("promptctl.toml", "[defaults]\nmodle = \"x\"\n").unwrap_err();
        assert_eq!(err.location.field.as_deref(), Some("defaults.modle"));
        assert_eq!(err.location.line, Some(2));
    }
}
