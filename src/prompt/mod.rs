//! Prompts: the file format, variables, includes, rendering and the content-addressed version.
//!
//! This layer is pure. It is handed file contents and never touches git or the disk, so that
//! the working tree, a git revision and the release store all share one implementation of
//! parsing, validation, versions and rendering.

mod budget;
mod canonical;
mod compiled_partials;
mod contract;
mod draft;
mod error;
mod file;
mod frozen;
mod includes;
mod name;
mod output;
mod render;
pub mod request;
mod settings;
mod variables;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

pub use crate::base::tomlfile::toml_value_to_json;
pub use budget::cancellable;
pub use canonical::write_string as write_canonical_str;
pub use canonical::{
    MIN_PREFIX_LEN, SHORT_HEX_LEN, Version, VersionPrefix, to_canonical_string, write_canonical,
};
use canonical::{write_sorted_object, write_string};
pub use contract::{
    Compatibility, Contract, ContractChange, DEFAULT_MAX_TURNS, Direction, MAX_CHECKED_BYTES,
    MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MAX_TOOL_NAME, MAX_TOOLS, MAX_TURNS_LIMIT, OutputFormat,
    OutputSpec, STRICT_MAX_NESTING, STRICT_MAX_PROPERTIES, SchemaProblem, SchemaSite, SchemaSlot,
    Tool, ToolCall, ToolChoice, check_schema, compile_schema, contract_changes, first_violation,
    validate_schema,
};
pub use draft::{PromptDraft, SchemaKey};
pub use error::{IncludeProblem, Location, PromptError};
pub use file::PromptDefaults;
pub use frozen::FormCheck;
pub use includes::PartialIndex;
pub(crate) use includes::scan_template;
pub use name::{NameError, PromptName, SCHEMA_FILE_SUFFIX, check_segments, is_partial_file};
pub use render::{CompiledPrompt, MAX_MESSAGE_BYTES, RenderedMessage};
pub use settings::{
    MINIJINJA_VERSION, RENDER_FUEL, RENDER_RECURSION_LIMIT, RENDER_SETTINGS, RenderSettings,
};
pub use variables::{
    VarType, Variable, Vars, coerce_texts, resolve_values, sample_values, undeclared_names,
};

/// The number written as `format` into canonical JSON; bumped only if its meaning changes.
pub const CANONICAL_FORMAT: u32 = 1;

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// Returns the lower-case role name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message template.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Who speaks it.
    pub role: Role,
    /// The minijinja template text.
    pub content: String,
}

/// Everything that changes what the model sees: exactly what a version covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptSpec {
    /// Provider name, after the project default is applied.
    pub provider: String,
    /// Model name, after the project default is applied.
    pub model: String,
    /// Provider parameters, passed as they are.
    pub params: BTreeMap<String, Value>,
    /// Declared variables.
    pub variables: BTreeMap<String, Variable>,
    /// Message templates, in order.
    pub messages: Vec<Message>,
    /// Text of every partial reachable through includes, by name below the prompts folder.
    pub partials: BTreeMap<String, Arc<str>>,
    /// The output's shape and the tools: in the version only where the file declares them.
    #[serde(flatten)]
    pub contract: Contract,
}

impl PromptSpec {
    /// Returns the canonical JSON text that is hashed into the version.
    ///
    /// Written field by field, keys in byte order, as [`write_canonical`] writes the spec's
    /// JSON value with `format` added: building that value copied every message and partial
    /// once more, which was most of the cost of a version (a partial reaching 500 prompts
    /// versions 1,000). Only the small fields go through a JSON value.
    pub fn canonical_json(&self) -> String {
        // Every field, named: a field added to the spec cannot be left out of its version.
        let PromptSpec {
            provider,
            model,
            params,
            variables,
            messages,
            partials,
            contract,
        } = self;
        let size = messages.iter().map(|m| m.content.len() + 32).sum::<usize>()
            + partials
                .iter()
                .map(|(k, v)| k.len() + v.len() + 8)
                .sum::<usize>();
        let mut out = String::with_capacity(size + 256);
        out.push_str("{\"format\":");
        out.push_str(&CANONICAL_FORMAT.to_string());
        out.push_str(",\"messages\":[");
        for (i, message) in messages.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"content\":");
            write_string(&message.content, &mut out);
            out.push_str(",\"role\":");
            write_string(message.role.as_str(), &mut out);
            out.push('}');
        }
        out.push_str("],\"model\":");
        write_string(model, &mut out);
        contract.write_output(&mut out);
        out.push_str(",\"params\":");
        write_sorted_object(params.iter(), &mut out, |value, out| {
            write_canonical(value, out)
        });
        out.push_str(",\"partials\":");
        write_sorted_object(partials.iter(), &mut out, |text, out| {
            write_string(text, out)
        });
        out.push_str(",\"provider\":");
        write_string(provider, &mut out);
        contract.write_tools(&mut out);
        out.push_str(",\"variables\":");
        write_sorted_object(variables.iter(), &mut out, |variable, out| {
            let value = serde_json::to_value(variable).expect("a variable always serialises");
            write_canonical(&value, out)
        });
        out.push('}');
        out
    }

    /// Computes the version of this spec.
    pub fn version(&self) -> Version {
        Version::of_canonical(self.canonical_json().as_bytes())
    }
}

/// A parsed, validated prompt with its version.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// The prompt's name (`support/triage`).
    pub name: PromptName,
    /// The file it came from, relative to the project root.
    pub path: String,
    /// Free text shown in listings: metadata, not part of the version.
    pub description: Option<String>,
    /// The `[metadata]` table: free-form, not part of the version.
    pub metadata: serde_json::Map<String, Value>,
    /// Which readers a change of the output or tools must keep working for: a review
    /// policy, not part of the version (`forward` for a version read back from a store).
    pub compatibility: Compatibility,
    /// The schema files the prompt names, below the prompts folder (their schemas are in
    /// `spec`, so the version covers them).
    pub schema_files: Vec<String>,
    /// Where each schema of the contract is written (none for a version read back from a
    /// store: its problems are said at the object).
    pub schema_sites: Vec<SchemaSite>,
    /// What the version covers.
    pub spec: PromptSpec,
    /// The content address of `spec`.
    pub version: Version,
    /// File line where each message's template starts, for error locations.
    pub(crate) message_lines: Vec<usize>,
    /// The prompts folder as shown in messages, for the locations of partials.
    pub(crate) folder: String,
}

impl Prompt {
    /// Returns the canonical JSON bytes hashed into the version.
    pub fn canonical_json(&self) -> String {
        self.spec.canonical_json()
    }

    /// Returns the location of message `index`'s template in the prompt file.
    pub fn message_location(&self, index: usize) -> Location {
        Location::file(&self.path)
            .at_line(self.message_lines.get(index).copied())
            .with_field(format!("messages[{index}].content"))
    }

    /// Validates every schema of the contract under draft 2020-12 (reading a prompt checks
    /// only their bounds and strict mode's rules): each problem at the field or file that
    /// holds the schema, and its JSON pointer.
    pub fn schema_problems(&self) -> Vec<PromptError> {
        let mut problems = Vec::new();
        let slots = std::iter::once(SchemaSlot::Output)
            .chain((0..self.spec.contract.tools.len()).map(SchemaSlot::Tool));
        for slot in slots {
            let Some(schema) = self.spec.contract.schema_at(slot) else {
                continue;
            };
            let Err(problem) = contract::validate_shared(schema) else {
                continue;
            };
            let site = self.schema_sites.iter().find(|s| s.slot == slot);
            let location = site.map_or_else(|| Location::file(&self.path), |s| s.location.clone());
            let field = match (&location.field, problem.pointer.is_empty()) {
                (Some(field), false) => format!("{field}#{}", problem.pointer),
                (Some(field), true) => field.clone(),
                (None, false) => format!("#{}", problem.pointer),
                (None, true) => String::new(),
            };
            problems.push(PromptError::Invalid {
                location: location.with_field(field),
                message: problem.message,
            });
        }
        problems
    }

    /// Returns the names of the partials this prompt reaches.
    pub fn partial_names(&self) -> impl Iterator<Item = &str> {
        self.spec.partials.keys().map(String::as_str)
    }
}

impl Prompt {
    /// Parses a prompt file.
    ///
    /// `path` is the file as shown to people (`prompts/support/triage.toml`); `partials` are
    /// the partials of the same source, so that the version covers every partial reached.
    pub fn parse(
        name: PromptName,
        path: &str,
        source: &str,
        defaults: &PromptDefaults,
        partials: &PartialIndex,
    ) -> Result<Prompt, PromptError> {
        Prompt::draft(name, path, source, defaults)?.finish(partials)
    }

    /// Reads a prompt file up to the partials it names, which [`PromptDraft::finish`]
    /// resolves: for a file read once and versioned against more than one source's partials.
    pub fn draft(
        name: PromptName,
        path: &str,
        source: &str,
        defaults: &PromptDefaults,
    ) -> Result<PromptDraft, PromptError> {
        // A checkout with CRLF line endings (`core.autocrlf=true`) holds the same prompt: its
        // version must not change. Lines stay where they were.
        let normalized;
        let source = if source.contains("\r\n") {
            normalized = source.replace("\r\n", "\n");
            normalized.as_str()
        } else {
            source
        };
        file::draft_prompt(name, path, source, defaults)
    }
}
