//! `promptctl resolve`: which version a key gets, exactly as services resolve it.

use std::fmt::Write as _;
use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::output::{VERSION, pad, print};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl resolve support/triage --key user-42 --key user-43\n  promptctl resolve support/triage --keys-file keys.txt --json\n  promptctl resolve support/triage --key user-42 --cohort internal";

/// Resolve a prompt for keys (user or session ids) with the sticky bucketing of
/// docs/bucketing.md: the version, whether it is the active or the canary track, and the
/// bucket. Without a key, a random one is drawn, as for a request that has none.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct ResolveArgs {
    /// The prompt's name.
    name: String,

    /// A key; repeat for more.
    #[arg(long = "key", value_name = "KEY")]
    keys: Vec<String>,

    /// A file of keys, one per line (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    keys_file: Option<PathBuf>,

    /// The caller's cohort, as services pass `attr.cohort`: canary stages that route a
    /// cohort put its keys on the canary.
    #[arg(long, value_name = "NAME")]
    cohort: Option<String>,

    /// An attribute of the caller, as services pass `attr.NAME=VALUE` (or an OFREP
    /// context member): what a canary's targeting rule reads. Repeat for more.
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    attrs: Vec<String>,

    /// Print one JSON object per key and line: {key, version, track, bucket}.
    #[arg(long)]
    json: bool,
}

pub fn run(global: &GlobalArgs, args: ResolveArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let resolver = project.store(&project.environment)?.resolver()?;
    let attributes = attributes(&args)?;
    let mut keys: Vec<Option<String>> = args.keys.into_iter().map(Some).collect();
    if let Some(path) = &args.keys_file {
        keys.extend(read_keys(path)?.into_iter().map(Some));
    }
    // One rule for a key, as OFREP applies it.
    for key in keys.iter().flatten() {
        promptctl::store::check_key(key)
            .map_err(|why| CliError::usage(format!("--key `{key}`: {why}")))?;
    }
    if keys.is_empty() {
        keys.push(None);
    }
    warn_of_an_unrouted_cohort(&resolver, &args.name, args.cohort.as_deref());
    let width = keys
        .iter()
        .map(|k| k.as_deref().map_or(8, |k| k.chars().count()))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for key in &keys {
        let resolution = resolver
            .resolve_with(&args.name, key.as_deref(), &attributes)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "`{}` is not released to `{}`",
                    args.name, project.environment
                ))
                .hint("see what is released with `promptctl status`")
            })?;
        if args.json {
            let line = serde_json::to_string(&resolution)
                .map_err(|e| CliError::system(format!("cannot write JSON: {e}")))?;
            out.push_str(&line);
            out.push('\n');
        } else {
            let _ = write!(
                out,
                "{}  {VERSION}{}{VERSION:#}  {}  bucket {}",
                pad(key.as_deref().unwrap_or("(random)"), width),
                resolution.version.short(),
                resolution.track.as_str(),
                resolution.bucket
            );
            if let (Some(experiment), Some(arm)) = (&resolution.experiment, &resolution.arm) {
                let _ = write!(out, " {experiment}/{arm}");
            }
            match &resolution.fallback {
                Some(why) => {
                    let _ = writeln!(out, "  (the segment's rule cannot be evaluated: {why})");
                }
                None => out.push('\n'),
            }
        }
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The caller's attributes: `--attr NAME=VALUE`, and `--cohort` as the `cohort` one; as
/// text, as a query string gives them, within the bounds every route keeps.
fn attributes(args: &ResolveArgs) -> Result<promptctl::store::Attributes, CliError> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for text in &args.attrs {
        let (name, value) = text.split_once('=').ok_or_else(|| {
            CliError::usage(format!("--attr `{text}` is not NAME=VALUE"))
                .hint("like --attr plan=enterprise")
        })?;
        pairs.push((name, value));
    }
    if let Some(cohort) = &args.cohort {
        pairs.push(("cohort", cohort));
    }
    promptctl::store::attributes_from_text(pairs)
        .map_err(|why| CliError::usage(format!("--attr: {why}")))
}

/// The longest key a `--keys-file` line may hold: keys are user or request ids, and a line
/// without an end (`/dev/zero`) must not fill the memory.
const MAX_KEY_BYTES: usize = promptctl::store::MAX_KEY_BYTES;

fn read_keys(path: &PathBuf) -> Result<Vec<String>, CliError> {
    let error =
        |e: std::io::Error| CliError::usage(format!("cannot read `{}`: {e}", path.display()));
    let mut reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(error)?,
        ))
    };
    let mut keys = Vec::new();
    for number in 1.. {
        let mut line = Vec::new();
        let read = (&mut reader)
            .take(MAX_KEY_BYTES as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(error)?;
        if read == 0 {
            break;
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.len() > MAX_KEY_BYTES {
            return Err(CliError::usage(format!(
                "`{}` line {number}: a key is at most {MAX_KEY_BYTES} bytes",
                path.display()
            ))
            .hint("give one key per line"));
        }
        let key = String::from_utf8(line).map_err(|_| {
            CliError::usage(format!(
                "`{}` line {number}: not UTF-8 text",
                path.display()
            ))
        })?;
        if !key.is_empty() {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// A cohort the canary does not route changes nothing: said, so that a typo
/// (`--cohort internel`) is not read as "this cohort gets active".
fn warn_of_an_unrouted_cohort(
    resolver: &promptctl::store::Resolver,
    name: &str,
    cohort: Option<&str>,
) {
    let Some(cohort) = cohort else { return };
    let routed = resolver.canary_cohorts(name).unwrap_or(&[]);
    if routed.iter().any(|c| c == cohort) {
        return;
    }
    let known = if routed.is_empty() {
        "routes no cohort".to_owned()
    } else {
        format!("routes {}", routed.join(", "))
    };
    let near = promptctl::base::suggest::closest(cohort, routed.iter().map(String::as_str))
        .map(|near| format!("; did you mean `{near}`?"))
        .unwrap_or_default();
    super::output::eprint(&format!(
        "warning: cohort `{cohort}` changes nothing for `{name}`: its canary {known}{near}\n"
    ));
}
