//! Arms of an N-way comparison: each a revision, with the model, provider or parameters
//! changed or not (`--arm haiku=HEAD:model=claude-haiku-4-5`), or one cell of a suite's
//! `[matrix]`; and the bounds a run of arms keeps, checked before anything is sent.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::source::{RevisionSpec, SourceError, parse_spec};

/// The most arms one run compares (arms given or matrix cells, per suite).
pub const MAX_ARMS: usize = 16;
/// The most values one `[matrix]` key lists.
pub const MAX_MATRIX_VALUES: usize = MAX_ARMS;
/// The most samples (arms × cases × repeats, over all suites) one run of arms plans.
pub const MAX_ARM_SAMPLES: usize = 200_000;
/// The longest arm name.
pub const MAX_ARM_NAME: usize = 64;

/// What an arm changes on its revision's prompt; nothing changed is the prompt as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Parameters set over the prompt's `[params]` (`temperature`, `max_tokens`, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Value>,
}

impl Overrides {
    /// Tells whether the arm is its revision's prompt as written.
    pub fn is_empty(&self) -> bool {
        self.provider.is_none() && self.model.is_none() && self.params.is_empty()
    }

    fn set(&mut self, key: &str, value: Value) -> Result<(), ArmError> {
        let text = || value.as_str().map(str::to_owned);
        match key {
            "model" | "provider" => {
                let Some(text) = text().filter(|t| !t.trim().is_empty()) else {
                    return Err(ArmError(format!("`{key}` must be a non-empty string")));
                };
                let slot = if key == "model" {
                    &mut self.model
                } else {
                    &mut self.provider
                };
                *slot = Some(text);
            }
            _ if is_param_name(key) => {
                self.params.insert(key.to_owned(), value);
            }
            _ => {
                return Err(ArmError(format!(
                    "`{key}` is neither `model`, `provider` nor a parameter name"
                )));
            }
        }
        Ok(())
    }

    /// The changes as `key=value` pairs, in a stable order: `model=gpt-4o,temperature=0.2`.
    pub fn pairs(&self) -> Vec<String> {
        let mut pairs = Vec::new();
        if let Some(provider) = &self.provider {
            pairs.push(format!("provider={provider}"));
        }
        if let Some(model) = &self.model {
            pairs.push(format!("model={model}"));
        }
        for (key, value) in &self.params {
            pairs.push(format!("{key}={}", value_text(value)));
        }
        pairs
    }
}

/// One arm as asked for: its name, its revision, what it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmSpec {
    pub name: String,
    pub spec: RevisionSpec,
    pub overrides: Overrides,
}

/// An arm, a matrix or a run of arms that cannot be made, in words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ArmError(pub String);

impl From<SourceError> for ArmError {
    fn from(error: SourceError) -> Self {
        ArmError(error.to_string())
    }
}

/// Parses `NAME=SPEC[:KEY=VALUE]...`: `terse=feature/terse`, `haiku=HEAD:model=claude-haiku-4-5`,
/// `hot=HEAD:temperature=0.9`. A value is read as TOML (`0.9`, `true`, `"text"`), and as
/// text when it is not TOML.
pub fn parse_arm(text: &str) -> Result<ArmSpec, ArmError> {
    let bad = |why: String| ArmError(format!("--arm `{text}`: {why}"));
    let Some((name, rest)) = text.split_once('=') else {
        return Err(bad(
            "write it NAME=REVISION, like `terse=feature/terse`".into()
        ));
    };
    check_name(name).map_err(bad)?;
    let mut parts = rest.split(':');
    let mut revision = parts.next().unwrap_or_default().to_owned();
    // A frozen version is itself written with a colon: `sha256:<prefix>`.
    if revision == "sha256"
        && let Some(prefix) = parts.next()
    {
        revision = format!("sha256:{prefix}");
    }
    if revision.is_empty() {
        return Err(bad("no revision after `=`".into()));
    }
    let spec = parse_spec(&revision).map_err(|e| bad(e.to_string()))?;
    let mut overrides = Overrides::default();
    for change in parts {
        let Some((key, value)) = change.split_once('=') else {
            return Err(bad(format!(
                "`{change}` is not KEY=VALUE (like `model=claude-haiku-4-5`)"
            )));
        };
        overrides
            .set(key.trim(), scalar(value.trim()))
            .map_err(|e| bad(e.0))?;
    }
    Ok(ArmSpec {
        name: name.to_owned(),
        spec,
        overrides,
    })
}

/// Checks a run's arms: at least two, at most [`MAX_ARMS`], names unique.
pub fn check_arms(arms: &[ArmSpec]) -> Result<(), ArmError> {
    if arms.len() < 2 {
        return Err(ArmError(format!(
            "{} arm given: a comparison needs at least two",
            arms.len()
        )));
    }
    if arms.len() > MAX_ARMS {
        return Err(ArmError(format!(
            "{} arms: a run compares at most {MAX_ARMS}",
            arms.len()
        )));
    }
    for (i, arm) in arms.iter().enumerate() {
        if arms[..i].iter().any(|a| a.name == arm.name) {
            return Err(ArmError(format!("two arms are named `{}`", arm.name)));
        }
    }
    Ok(())
}

/// A suite's `[matrix]`: each key (`model`, `provider`, or a parameter) with the values it
/// takes; the arms are every combination, on one revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matrix {
    pub axes: Vec<(String, Vec<Value>)>,
}

impl Matrix {
    /// Reads `[matrix]` as written (a TOML table of arrays), within the bounds.
    pub fn read(table: &toml::Table) -> Result<Matrix, ArmError> {
        let mut axes = Vec::new();
        for (key, values) in table {
            let toml::Value::Array(values) = values else {
                return Err(ArmError(format!(
                    "`matrix.{key}` must be an array of the values to try"
                )));
            };
            if values.is_empty() || values.len() > MAX_MATRIX_VALUES {
                return Err(ArmError(format!(
                    "`matrix.{key}` lists {} values; give 1 to {MAX_MATRIX_VALUES}",
                    values.len()
                )));
            }
            let mut json = Vec::with_capacity(values.len());
            for value in values {
                let value = crate::base::tomlfile::toml_value_to_json(value)
                    .map_err(|e| ArmError(format!("`matrix.{key}`: {e}")))?;
                // Checked the way an arm's change is, so a bad key is said at once.
                Overrides::default()
                    .set(key, value.clone())
                    .map_err(|e| ArmError(format!("`matrix.{key}`: {}", e.0)))?;
                json.push(value);
            }
            axes.push((key.clone(), json));
        }
        let cells: usize = axes.iter().map(|(_, v)| v.len()).product();
        if !axes.is_empty() && cells > MAX_ARMS {
            return Err(ArmError(format!(
                "`matrix` makes {cells} arms (every combination); a run compares at most {MAX_ARMS}"
            )));
        }
        Ok(Matrix { axes })
    }

    /// Tells whether the suite has no matrix.
    pub fn is_empty(&self) -> bool {
        self.axes.is_empty()
    }

    /// Every combination as an arm on `spec`, named by its changes
    /// (`model=gpt-4o,temperature=0.2`), in the order the values are listed.
    pub fn arms(&self, spec: &RevisionSpec) -> Vec<ArmSpec> {
        let mut cells = vec![Overrides::default()];
        for (key, values) in &self.axes {
            cells = cells
                .iter()
                .flat_map(|cell| {
                    values.iter().map(move |value| {
                        let mut cell = cell.clone();
                        cell.set(key, value.clone()).expect("checked when read");
                        cell
                    })
                })
                .collect();
        }
        cells
            .into_iter()
            .map(|overrides| ArmSpec {
                name: overrides.pairs().join(","),
                spec: spec.clone(),
                overrides,
            })
            .collect()
    }
}

/// Checks the samples a run of arms would plan against [`MAX_ARM_SAMPLES`].
pub fn check_samples(samples: usize) -> Result<(), ArmError> {
    if samples > MAX_ARM_SAMPLES {
        return Err(ArmError(format!(
            "{samples} samples (arms × cases × repeats): a run of arms plans at most {MAX_ARM_SAMPLES}; name fewer arms or suites, or lower --repeat"
        )));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= MAX_ARM_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if fine {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an arm name: 1 to {MAX_ARM_NAME} ASCII letters, digits, `_`, `-` or `.`"
        ))
    }
}

/// A parameter name as `[params]` takes them: lower-case letters, digits and `_`.
fn is_param_name(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_ARM_NAME
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A value given on the command line: TOML when it reads as a TOML value, else text.
fn scalar(text: &str) -> Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|t| t.get("v").cloned())
        .and_then(|v| crate::base::tomlfile::toml_value_to_json(&v).ok())
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arm_is_a_revision_with_what_it_changes() {
        let arm = parse_arm("haiku=HEAD:model=claude-haiku-4-5:temperature=0.2").unwrap();
        assert_eq!(arm.name, "haiku");
        assert_eq!(arm.spec.to_string(), "HEAD");
        assert_eq!(arm.overrides.model.as_deref(), Some("claude-haiku-4-5"));
        assert_eq!(arm.overrides.params["temperature"], serde_json::json!(0.2));
        let plain = parse_arm("terse=feature/terse").unwrap();
        assert!(plain.overrides.is_empty());
        assert_eq!(plain.spec.to_string(), "feature/terse");
        let frozen = parse_arm("old=sha256:0123abcd:model=m").unwrap();
        assert_eq!(frozen.spec.to_string(), "sha256:0123abcd");
        assert_eq!(frozen.overrides.model.as_deref(), Some("m"));
    }

    #[test]
    fn bad_arms_are_refused_in_words() {
        for (text, says) in [
            ("HEAD", "NAME=REVISION"),
            ("a b=HEAD", "not an arm name"),
            ("a=", "no revision"),
            ("a=HEAD:model", "not KEY=VALUE"),
            ("a=HEAD:model=", "non-empty string"),
            ("a=HEAD:Bad=1", "neither"),
        ] {
            let error = parse_arm(text).unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
        let arm = |n: &str| parse_arm(&format!("{n}=HEAD")).unwrap();
        assert!(check_arms(&[arm("a")]).is_err());
        assert!(
            check_arms(&[arm("a"), arm("a")])
                .unwrap_err()
                .0
                .contains("two arms")
        );
        let many: Vec<ArmSpec> = (0..=MAX_ARMS).map(|i| arm(&format!("a{i}"))).collect();
        assert!(check_arms(&many).unwrap_err().0.contains("at most 16"));
        assert!(check_arms(&many[..MAX_ARMS]).is_ok());
        assert!(check_samples(MAX_ARM_SAMPLES).is_ok());
        assert!(check_samples(MAX_ARM_SAMPLES + 1).is_err());
    }

    #[test]
    fn a_matrix_is_every_combination_in_the_order_written() {
        let table: toml::Table =
            toml::from_str("model = [\"a\", \"b\"]\ntemperature = [0.0, 0.7]\n").unwrap();
        let matrix = Matrix::read(&table).unwrap();
        let names: Vec<String> = matrix
            .arms(&RevisionSpec::Worktree)
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(
            names,
            [
                "model=a,temperature=0.0",
                "model=a,temperature=0.7",
                "model=b,temperature=0.0",
                "model=b,temperature=0.7"
            ]
        );
        let big: toml::Table = toml::from_str(
            "model = [\"a\", \"b\", \"c\", \"d\", \"e\"]\ntop_p = [0.1, 0.2, 0.3, 0.4]\n",
        )
        .unwrap();
        assert!(Matrix::read(&big).unwrap_err().0.contains("20 arms"));
        let empty: toml::Table = toml::from_str("model = []\n").unwrap();
        assert!(Matrix::read(&empty).is_err());
        let bad: toml::Table = toml::from_str("Nope = [1]\n").unwrap();
        assert!(Matrix::read(&bad).is_err());
    }
}
