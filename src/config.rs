//! Project settings: the `promptctl.toml` file format and its defaults.
//!
//! Every key is optional. Sections that later features read (environments, providers,
//! prices) are added here as those features land, each with serde defaults.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::base::location::Location;
use crate::base::tomlfile::{self, TomlError};
use crate::prompt::{PromptDefaults, check_segments};

/// The environment a release pointer refers to when none is named.
pub const DEFAULT_ENVIRONMENT: &str = "production";

/// The name of the project settings file, at the project root.
pub const CONFIG_FILE: &str = "promptctl.toml";

/// Parsed `promptctl.toml`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectConfig {
    /// Where prompts and eval suites live.
    pub project: ProjectSection,
    /// Defaults for prompts that leave fields out.
    pub defaults: DefaultsSection,
    /// Environments besides `production`, each with its own release branch.
    pub environments: BTreeMap<String, EnvironmentSection>,
    /// Model providers for evals, by the name prompts and suites use.
    pub providers: BTreeMap<String, ProviderSection>,
    /// Prices per model (`MODEL` or `PROVIDER/MODEL`), in US dollars per million tokens.
    pub prices: BTreeMap<String, PriceSection>,
    /// Rollout policies: default gates, canaries in flight, freeze windows, alerts.
    pub rollout: crate::policy::RolloutPolicy,
    /// Named targeting rules (`enterprise_de = 'plan = "enterprise" and country = "DE"'`),
    /// for `canary --segment NAME` (docs/bucketing.md, "Targeting rules").
    pub segments: BTreeMap<String, String>,
}

/// The kind of API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible chat completions endpoint.
    Openai,
    /// Anthropic's messages API.
    Anthropic,
    /// A local command: the request as JSON on stdin, the reply as JSON on stdout.
    Exec,
    /// Built in and deterministic: no key, no network.
    Offline,
}

impl ProviderKind {
    /// The name written in `kind = "…"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Exec => "exec",
            ProviderKind::Offline => "offline",
        }
    }
}

/// The longest a provider's `timeout` may be: an hour.
pub const MAX_PROVIDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);
/// What a provider's `timeout` may be: more than 0, at most an hour.
pub const PROVIDER_TIMEOUT: crate::base::duration::Bounds =
    crate::base::duration::Bounds::positive(MAX_PROVIDER_TIMEOUT);

/// One `[providers.NAME]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    /// The API it speaks.
    pub kind: ProviderKind,
    /// Base URL of the API (`https://api.openai.com/v1`).
    pub base_url: Option<String>,
    /// The environment variable holding the API key; the key itself never goes in a file.
    pub api_key_env: Option<String>,
    /// Extra HTTP headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How long before a request is abandoned (and retried): seconds or a span
    /// ([`PROVIDER_TIMEOUT`]).
    pub timeout: Option<crate::base::duration::Setting>,
    /// Requests in flight at once, at most.
    pub concurrency: Option<usize>,
    /// Requests started per minute, at most.
    pub requests_per_minute: Option<u32>,
    /// Retries of a request that failed with 429, 5xx or a timeout.
    pub max_retries: Option<u32>,
    /// The command of an `exec` provider, as program and arguments.
    pub command: Option<Vec<String>>,
    /// The files and folders an `exec` command reads, relative to the project root or
    /// absolute: its replies are reused across runs only while these are unchanged, and
    /// never when it declares none.
    pub inputs: Option<Vec<String>>,
    /// The largest reply read, in bytes; a larger one fails its sample (default 8 MiB).
    pub max_reply_bytes: Option<u64>,
}

/// One `[prices.MODEL]` table: US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSection {
    /// Per million input (prompt) tokens.
    pub input: f64,
    /// Per million output (completion) tokens.
    pub output: f64,
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
        for (name, provider) in &config.providers {
            check_provider(name, provider).map_err(|(key, message)| TomlError {
                location: Location::file(path).with_field(format!("providers.{name}{key}")),
                message,
            })?;
        }
        for (model, price) in &config.prices {
            for (key, value) in [("input", price.input), ("output", price.output)] {
                if let Err(why) = crate::base::money::usd(value) {
                    return Err(TomlError {
                        location: Location::file(path).with_field(format!("prices.{model}.{key}")),
                        message: format!("{why}: dollars per million tokens"),
                    });
                }
            }
        }
        config
            .rollout
            .check()
            .map_err(|(field, message)| TomlError {
                location: Location::file(path).with_field(format!("rollout.{field}")),
                message,
            })?;
        for (name, text) in &config.segments {
            check_segment(name, text).map_err(|message| TomlError {
                location: Location::file(path).with_field(format!("segments.{name}")),
                message,
            })?;
        }
        for name in config.environments.keys() {
            check_environment_name(name).map_err(|reason| TomlError {
                location: Location::file(path).with_field(format!("environments.{name}")),
                message: reason.to_string(),
            })?;
        }
        Ok(config)
    }

    /// Returns every environment: `production`, then the declared ones.
    pub fn environment_names(&self) -> Vec<String> {
        let mut names = vec![DEFAULT_ENVIRONMENT.to_owned()];
        names.extend(
            self.environments
                .keys()
                .filter(|n| *n != DEFAULT_ENVIRONMENT)
                .cloned(),
        );
        names
    }

    /// Tells whether `name` is `production` or a declared environment.
    pub fn has_environment(&self, name: &str) -> bool {
        name == DEFAULT_ENVIRONMENT || self.environments.contains_key(name)
    }

    /// The rule of the segment `name`, parsed (it was checked when the file was read).
    pub fn segment(&self, name: &str) -> Option<crate::store::Rule> {
        crate::store::Rule::parse(self.segments.get(name)?).ok()
    }

    /// Returns the defaults that apply to prompt files.
    pub fn prompt_defaults(&self) -> PromptDefaults {
        PromptDefaults {
            provider: self.defaults.provider.clone(),
            model: self.defaults.model.clone(),
        }
    }
}

/// Checks a segment: a name of 1 to 64 lowercase letters, digits, `_` or `-`, and a rule
/// that parses within its bounds.
fn check_segment(name: &str, text: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !fine {
        return Err(format!(
            "`{name}` is not a segment name: 1 to 64 lowercase letters, digits, `_` or `-`"
        ));
    }
    crate::store::Rule::parse(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Checks an environment name: it becomes the branch `promptctl/<name>`.
pub fn check_environment_name(name: &str) -> Result<(), EnvNameError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(EnvNameError {
            name: name.to_owned(),
        })
    }
}

/// A name that cannot be an environment's (it becomes the branch `promptctl/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{name}` is not an environment name: use lower-case letters, digits, `-` and `_`, starting with a letter or digit"
)]
pub struct EnvNameError {
    pub name: String,
}

/// Checks one `[providers.NAME]` section; an error names the key below the section
/// (`.command`) and what is wrong.
fn check_provider(name: &str, provider: &ProviderSection) -> Result<(), (&'static str, String)> {
    let invalid = |key: &'static str, message: &str| Err((key, message.to_owned()));
    match provider.kind {
        ProviderKind::Exec if provider.command.as_ref().is_none_or(Vec::is_empty) => {
            return invalid(
                ".command",
                "an `exec` provider needs `command = [\"program\", \"arg\", ...]`",
            );
        }
        ProviderKind::Offline if name != "offline" && provider.base_url.is_some() => {
            return invalid(".base_url", "the offline provider has no URL");
        }
        _ => {}
    }
    if name == "offline" && provider.kind != ProviderKind::Offline {
        return invalid(
            ".kind",
            "`offline` is the built-in provider; give this one another name",
        );
    }
    if let Some(Err(why)) = provider
        .timeout
        .as_ref()
        .map(|t| PROVIDER_TIMEOUT.setting(t))
    {
        return invalid(".timeout", &why.to_string());
    }
    if provider.max_reply_bytes == Some(0) {
        return invalid(".max_reply_bytes", "must be at least 1 byte");
    }
    if provider.concurrency == Some(0) || provider.requests_per_minute == Some(0) {
        return invalid(
            "",
            "`concurrency` and `requests_per_minute` must be at least 1",
        );
    }
    if let Some(env) = &provider.api_key_env
        && (env.is_empty() || env.starts_with("sk-") || env.contains(char::is_whitespace))
    {
        return invalid(
            ".api_key_env",
            "names the environment variable that holds the key (like `OPENAI_API_KEY`), never the key itself",
        );
    }
    Ok(())
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
