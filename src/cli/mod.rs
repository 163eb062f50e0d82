//! The command line: one file per subcommand, each parsing its arguments and calling the
//! library. Nothing here decides anything a service embedding the library would need.

mod action;
mod allocator;
mod cache;
mod canary;
mod check;
mod ci;
mod completions;
mod diff;
mod error;
mod eval;
mod eval_arms;
mod eval_common;
mod experiment;
mod init;
mod list;
mod log;
mod output;
mod promote;
mod publish;
mod pull;
mod push;
mod render;
mod resolve;
mod revert;
mod rollout;
mod serve;
mod show;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use error::CliError;

/// What `-h` says under a command's short help: where its examples are.
const SEE_LONG_HELP: &str = "Examples and details: run with --help.";

/// Git-based prompt versioning and rollout.
///
/// Prompts live as minijinja templates in `prompts/`; every prompt has a content-addressed
/// version. Run `promptctl init` to start a prompt repository.
#[derive(Debug, Parser)]
#[command(
    name = "promptctl",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
struct GlobalArgs {
    /// Project folder (holding promptctl.toml) or any folder inside it.
    #[arg(long, global = true, value_name = "DIR", env = "PROMPTCTL_REPO")]
    repo: Option<PathBuf>,

    /// When to colour human output; `NO_COLOR` is honoured in `auto`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,

    /// The environment release pointers refer to: `production` or one declared in
    /// promptctl.toml.
    #[arg(
        long,
        global = true,
        value_name = "ENV",
        env = "PROMPTCTL_ENV",
        default_value = "production"
    )]
    env: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::InitArgs),
    List(list::ListArgs),
    Show(show::ShowArgs),
    Render(render::RenderArgs),
    Check(check::CheckArgs),
    Ci(ci::CiArgs),
    Diff(diff::DiffArgs),
    Eval(eval::EvalArgs),
    Cache(cache::CacheArgs),
    Publish(publish::PublishArgs),
    Canary(canary::CanaryArgs),
    Promote(promote::PromoteArgs),
    Revert(revert::RevertArgs),
    Rollout(rollout::RolloutArgs),
    Experiment(experiment::ExperimentArgs),
    Status(status::StatusArgs),
    Log(log::LogArgs),
    Resolve(resolve::ResolveArgs),
    Push(push::PushArgs),
    Pull(pull::PullArgs),
    Serve(serve::ServeArgs),
    Completions(completions::CompletionsArgs),
    Man(completions::ManArgs),
}

impl GlobalArgs {
    /// Opens the project the command runs in.
    fn project(&self) -> Result<promptctl::project::Project, CliError> {
        let start = match &self.repo {
            Some(dir) => dir.clone(),
            None => std::env::current_dir()
                .map_err(|e| CliError::usage(format!("cannot read the current folder: {e}")))?,
        };
        let mut project = promptctl::project::Project::discover(&start)?;
        project.environment = self.env.clone();
        Ok(project)
    }
}

/// Refuses a `PROMPTCTL_NOW` that is not a time, before anything is written with the wrong
/// one: the library would fall back to the system clock with only a log line.
fn check_clock() -> Result<(), CliError> {
    let Ok(text) = std::env::var(promptctl::base::clock::NOW_ENV) else {
        return Ok(());
    };
    promptctl::base::clock::parse(&text)
        .map(drop)
        .map_err(|reason| {
            CliError::usage(format!("{}: {reason}", promptctl::base::clock::NOW_ENV))
                .hint("set it to a time like 2026-11-23T10:00:00Z, or unset it to use the clock")
        })
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { 2 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    if !matches!(cli.command, Command::Serve(_)) {
        allocator::tune_for_one_run();
    }
    output::set_color(cli.global.color);
    if let Err(error) = check_clock() {
        return error.report();
    }
    let result = match cli.command {
        Command::Init(args) => init::run(&cli.global, args),
        Command::List(args) => list::run(&cli.global, args),
        Command::Show(args) => show::run(&cli.global, args),
        Command::Render(args) => render::run(&cli.global, args),
        Command::Check(args) => check::run(&cli.global, args),
        Command::Ci(args) => ci::run(&cli.global, args),
        Command::Diff(args) => diff::run(&cli.global, args),
        Command::Eval(args) => eval::run_command(&cli.global, args),
        Command::Cache(args) => cache::run(&cli.global, args),
        Command::Publish(args) => publish::run(&cli.global, args),
        Command::Canary(args) => canary::run(&cli.global, args),
        Command::Promote(args) => promote::run(&cli.global, args),
        Command::Revert(args) => revert::run(&cli.global, args),
        Command::Rollout(args) => rollout::run(&cli.global, args),
        Command::Experiment(args) => experiment::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Log(args) => log::run(&cli.global, args),
        Command::Resolve(args) => resolve::run(&cli.global, args),
        Command::Push(args) => push::run(&cli.global, args),
        Command::Pull(args) => pull::run(&cli.global, args),
        Command::Serve(args) => serve::run(&cli.global, args),
        Command::Completions(args) => completions::run(&cli.global, args),
        Command::Man(args) => completions::run_man(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(error) => error.report(),
    }
}

/// The async runtime of a command that talks to providers or serves.
fn async_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    async_runtime_with(None)
}

/// The async runtime with `workers` threads (default: one per core).
fn async_runtime_with(workers: Option<usize>) -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| CliError::system(format!("cannot start the async runtime: {e}")))
}

/// Opens the project and reads one prompt at a revision spec.
fn load_prompt(
    global: &GlobalArgs,
    at: &str,
    name: &str,
) -> Result<promptctl::prompt::Prompt, CliError> {
    let project = global.project()?;
    let spec = promptctl::source::parse_spec(at)?;
    Ok(promptctl::source::load_one(&project, &spec, name)?)
}

/// Opens the project and reads every prompt at a revision spec.
fn load_prompts(
    global: &GlobalArgs,
    at: &str,
) -> Result<(promptctl::project::Project, promptctl::source::PromptSet), CliError> {
    let project = global.project()?;
    let spec = promptctl::source::parse_spec(at)?;
    let set = promptctl::source::load(&project, &spec)?;
    Ok((project, set))
}
