//! `promptctl show`: one prompt, its version and exactly what that version covers.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use serde_json::Value;

use promptctl::prompt::{Message, Prompt, Variable, Version};

use super::output::{BOLD, DIM, VERSION, pad, print, print_json};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`.
const EXAMPLES: &str = "Examples:\n  promptctl show support/triage --at main";

/// Show a prompt: version, model, parameters, variables, partials and messages.
///
/// `--canonical` prints exactly the bytes hashed into the version, so that
/// `promptctl show NAME --canonical | sha256sum` gives the version's digits.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct ShowArgs {
    /// The prompt's name (`support/triage`).
    name: String,

    /// Where to read it: `worktree`, a git revision, `active`, ...
    #[arg(long, value_name = "SPEC", default_value = "worktree")]
    at: String,

    /// Print the prompt as JSON.
    #[arg(long, conflicts_with = "canonical")]
    json: bool,

    /// Print the canonical JSON that is hashed into the version, with no newline.
    #[arg(long)]
    canonical: bool,
}

/// `show --json`; the field names are a stable contract.
#[derive(Serialize)]
struct ShowJson<'a> {
    name: &'a str,
    version: Version,
    path: &'a str,
    description: Option<&'a str>,
    metadata: &'a serde_json::Map<String, Value>,
    provider: &'a str,
    model: &'a str,
    params: &'a std::collections::BTreeMap<String, Value>,
    variables: std::collections::BTreeMap<&'a str, VariableJson<'a>>,
    messages: &'a [Message],
    partials: Vec<&'a str>,
}

#[derive(Serialize)]
struct VariableJson<'a> {
    #[serde(flatten)]
    variable: &'a Variable,
    description: Option<&'a str>,
}

pub fn run(global: &GlobalArgs, args: ShowArgs) -> Result<ExitCode, CliError> {
    let prompt = &super::load_prompt(global, &args.at, &args.name)?;
    if args.canonical {
        print(&prompt.canonical_json())?;
    } else if args.json {
        print_json(&to_json(prompt))?;
    } else {
        print(&render_human(prompt))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn to_json(p: &Prompt) -> ShowJson<'_> {
    ShowJson {
        name: p.name.as_str(),
        version: p.version,
        path: &p.path,
        description: p.description.as_deref(),
        metadata: &p.metadata,
        provider: &p.spec.provider,
        model: &p.spec.model,
        params: &p.spec.params,
        variables: p
            .spec
            .variables
            .iter()
            .map(|(name, variable)| {
                let description = variable.description.as_deref();
                (
                    name.as_str(),
                    VariableJson {
                        variable,
                        description,
                    },
                )
            })
            .collect(),
        messages: &p.spec.messages,
        partials: p.partial_names().collect(),
    }
}

fn render_human(p: &Prompt) -> String {
    let mut text = format!(
        "{BOLD}{}{BOLD:#}  {VERSION}{}{VERSION:#}\n",
        p.name, p.version
    );
    let field = |label: &str, value: &str| format!("{DIM}{}{DIM:#} {value}\n", pad(label, 12));
    text.push_str(&field("path", &p.path));
    if let Some(description) = &p.description {
        text.push_str(&field("description", description));
    }
    text.push_str(&field("provider", &p.spec.provider));
    text.push_str(&field("model", &p.spec.model));
    if !p.spec.params.is_empty() {
        let params: Vec<String> = p
            .spec
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        text.push_str(&field("params", &params.join(" ")));
    }
    if !p.spec.partials.is_empty() {
        text.push_str(&field(
            "partials",
            &p.partial_names().collect::<Vec<_>>().join(", "),
        ));
    }
    if !p.spec.variables.is_empty() {
        text.push_str(&format!("{DIM}variables{DIM:#}\n"));
        let width = p.spec.variables.keys().map(String::len).max().unwrap_or(0);
        for (name, var) in &p.spec.variables {
            text.push_str(&format!(
                "  {}  {}",
                pad(name, width),
                pad(var.ty.as_str(), 7)
            ));
            if var.required {
                text.push_str("  required");
            }
            if let Some(default) = &var.default {
                text.push_str(&format!("  default={default}"));
            }
            if let Some(allowed) = &var.allowed {
                let values: Vec<String> = allowed.iter().map(Value::to_string).collect();
                text.push_str(&format!("  one of {}", values.join(", ")));
            }
            if let Some(description) = &var.description {
                text.push_str(&format!("  {DIM}# {description}{DIM:#}"));
            }
            text.push('\n');
        }
    }
    for message in &p.spec.messages {
        text.push_str(&format!("\n{BOLD}[{}]{BOLD:#}\n", message.role.as_str()));
        text.push_str(&message.content);
        if !message.content.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}
