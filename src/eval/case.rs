//! What an eval case is: its variables, the assertions its output must meet, and where it
//! was written. Suites, case files and assertions all read these; this file reads none of
//! them.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One assertion on a model output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Assertion {
    Equals {
        value: String,
    },
    Contains {
        value: String,
    },
    Icontains {
        value: String,
    },
    NotContains {
        value: String,
    },
    Regex {
        value: String,
    },
    NotRegex {
        value: String,
    },
    StartsWith {
        value: String,
    },
    IsJson {},
    JsonSchema {
        value: Box<toml::Table>,
    },
    MinChars {
        value: u64,
    },
    MaxChars {
        value: u64,
    },
    MaxLatencyMs {
        value: u64,
    },
    MaxCost {
        value: f64,
    },
    Similar {
        value: String,
        threshold: f64,
    },
    LlmJudge {
        rubric: String,
        provider: Option<String>,
        model: Option<String>,
    },
    Exec {
        command: String,
    },
    /// The model called tool `name`, with arguments containing `arguments` (a JSON subset)
    /// and meeting `schema`, when given.
    ToolCall {
        name: String,
        arguments: Option<Box<toml::Table>>,
        schema: Option<Box<toml::Table>>,
    },
    /// The model called no tool, or none named `name`.
    NoToolCall {
        name: Option<String>,
    },
    /// The JSON answer's value at `pointer` equals `equals`, is one of `one_of`, or meets
    /// `schema` (exactly one of them).
    JsonField {
        pointer: String,
        equals: Option<Box<toml::Value>>,
        one_of: Option<Vec<toml::Value>>,
        schema: Option<Box<toml::Table>>,
    },
}

/// One eval case: variables and the assertions its output must meet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique within the suite.
    pub name: String,
    /// Variables of this case, over the suite's `[vars]`.
    #[serde(default)]
    pub vars: toml::Table,
    /// What the output must meet.
    #[serde(default, rename = "assert")]
    pub assertions: Vec<Assertion>,
    /// The result fed back for each tool the model calls, by tool name: with any, the run
    /// answers the model's calls for up to the suite's `max_turns` rounds and asserts on
    /// the final answer.
    #[serde(default)]
    pub tool_results: BTreeMap<String, String>,
    /// The case file and line it was read from; none for a case of the suite file.
    #[serde(skip)]
    pub origin: Option<CaseOrigin>,
}

/// Where a case of a case file was written, and how its values are typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOrigin {
    /// The file as shown (`evals/cases/triage.csv`).
    pub file: String,
    /// Its one-based line.
    pub line: usize,
    /// Its variables are CSV text, typed by the variables they fill.
    pub text_values: bool,
}
