//! `promptctl render`: the messages a prompt produces for given values.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use promptctl::prompt::request::Api;
use promptctl::prompt::{RenderedMessage, Version, coerce_texts, undeclared_names};

use super::output::{BOLD, WARNING, eprint, print, print_json};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`.
const EXAMPLES: &str = "Examples:\n  promptctl render support/triage --var product=Acme --var ticket=\"I was charged twice\"";

/// Render a prompt's messages with values for its variables.
///
/// `--var` values are converted to the declared type (`--var n=3` gives the integer 3 when
/// `n` is an integer); `--var` wins over `--vars-file`. Values the prompt does not declare
/// are ignored, with a warning.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct RenderArgs {
    /// The prompt's name (`support/triage`).
    name: String,

    /// Where to read it: `worktree`, a git revision, `active`, ...
    #[arg(long, value_name = "SPEC", default_value = "worktree")]
    at: String,

    /// A value, as NAME=VALUE; repeat for more.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_assignment)]
    vars: Vec<(String, String)>,

    /// A JSON (`.json`) or TOML file of values.
    #[arg(long, value_name = "FILE")]
    vars_file: Option<PathBuf>,

    /// Print {name, version, provider, model, params, messages, output, tools} as JSON.
    #[arg(long, conflicts_with = "request")]
    json: bool,

    /// Print the complete request body of this API, ready to send: the model, params,
    /// messages, output format and tools, as the version was evaluated with them.
    #[arg(long, value_name = "API", value_parser = ["openai", "anthropic"])]
    request: Option<String>,
}

#[derive(Serialize)]
struct RenderJson<'a> {
    name: &'a str,
    version: Version,
    provider: &'a str,
    model: &'a str,
    params: &'a std::collections::BTreeMap<String, serde_json::Value>,
    messages: Vec<RenderedMessage>,
    #[serde(flatten)]
    contract: &'a promptctl::prompt::Contract,
}

pub(super) fn parse_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

pub fn run(global: &GlobalArgs, args: RenderArgs) -> Result<ExitCode, CliError> {
    let prompt = &super::load_prompt(global, &args.at, &args.name)?;
    let mut values = match &args.vars_file {
        Some(path) => promptctl::varsfile::load(path)?,
        None => Default::default(),
    };
    values.extend(coerce_texts(
        prompt.name.as_str(),
        &prompt.spec.variables,
        &args.vars,
    )?);
    for name in undeclared_names(&prompt.spec.variables, &values) {
        eprint(&format!(
            "{WARNING}warning:{WARNING:#} `{}` does not declare `{name}`; the value is ignored\n",
            prompt.name
        ));
    }
    let messages = prompt.compile()?.render(&values)?;
    if let Some(api) = args.request.as_deref().and_then(Api::parse) {
        print_json(&prompt.spec.request_body(api, &messages))?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        print_json(&RenderJson {
            name: prompt.name.as_str(),
            version: prompt.version,
            provider: &prompt.spec.provider,
            model: &prompt.spec.model,
            params: &prompt.spec.params,
            messages,
            contract: &prompt.spec.contract,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    for (index, message) in messages.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        text.push_str(&format!(
            "{BOLD}[{}]{BOLD:#}\n{}\n",
            message.role.as_str(),
            message.content
        ));
    }
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}
