//! `promptctl experiment`: start, see, conclude and stop experiments (docs/experiments.md).

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use promptctl::experiment::{Figures, FleetFigures, Judged, Verdict, ending, fetch_figures};
use promptctl::project::Project;
use promptctl::release::{ActionKind, ActionRequest, ExperimentRequest};
use promptctl::rollout::{Applied, Prometheus};
use promptctl::store::{EXPERIMENT_LENGTH, Metric, Split};

use super::action::{ActionFlags, PushFlags};
use super::output::{BOLD, DIM, VERSION, WARNING, eprint, pad, print, print_json};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl experiment start tone --prompt support/reply --arm formal=active --arm casual=HEAD\n  promptctl experiment start tone --prompt support/reply --arm a=HEAD~1 --arm b=HEAD --arm c=HEAD --split 50,25,25 --where 'plan = \"pro\"' --metric custom:resolved\n  promptctl experiment status --prometheus http://prometheus:9090\n  promptctl experiment conclude tone --from http://prompts.internal:7070";

/// Compare versions of a prompt on live traffic: callers are split stickily between arms
/// until one is better than every other (always-valid statistics: look any time), the
/// maximum duration or sample is reached, or you end it.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct ExperimentArgs {
    #[command(subcommand)]
    command: ExperimentCommand,
}

#[derive(Debug, Subcommand)]
enum ExperimentCommand {
    /// Start an experiment on a prompt.
    Start(StartArgs),
    /// Show each experiment's arms, their figures and intervals, and the verdict.
    Status(StatusArgs),
    /// Make an arm active and end the experiment: the winner, or the arm named.
    Conclude(ConcludeArgs),
    /// End an experiment keeping the active version.
    Stop(StopArgs),
    /// Judge every experiment once and carry out what is due (conclude with
    /// --auto-conclude, stop at the limits), then exit: for cron or CI.
    Step(StepArgs),
}

#[derive(Debug, Args)]
struct StartArgs {
    /// The experiment's name: unique in the environment, and what callers' arms hash with.
    name: String,

    /// The prompt the arms are versions of.
    #[arg(long, value_name = "NAME")]
    prompt: String,

    /// An arm: NAME=VERSION, where VERSION is a git revision, `worktree`, `sha256:…` or
    /// `active` (the prompt's active version). Two to eight, in order.
    #[arg(long = "arm", value_name = "NAME=VERSION", required = true)]
    arms: Vec<String>,

    /// Each arm's share of the callers in percent, like `50,50` or `50,25,25` (default:
    /// even).
    #[arg(long, value_name = "P,P,…")]
    split: Option<String>,

    /// Limit the experiment to callers this targeting rule matches (docs/bucketing.md);
    /// the others get the active version.
    #[arg(long = "where", value_name = "RULE", conflicts_with = "segment")]
    rule: Option<String>,

    /// Limit the experiment to a segment named in promptctl.toml's `[segments]`.
    #[arg(long, value_name = "NAME")]
    segment: Option<String>,

    /// What the arms are compared on: `score`, `error_rate`, or `custom:NAME` (feedback's
    /// `metrics.NAME`; `custom:NAME:lower` when lower is better).
    #[arg(long, value_name = "METRIC", default_value = "score")]
    metric: String,

    /// The smallest difference of the metric worth finding, in its units (`0.02`, or `2%`
    /// for two points of a rate or a 0..1 score).
    #[arg(long, value_name = "X", default_value = "2%")]
    effect: String,

    /// The chance of naming a winner that is not better, over all arms and every look.
    #[arg(long, value_name = "P%", default_value = "5%")]
    alpha: String,

    /// Stop as inconclusive after this long: `14d`, `72h` (1 hour to 365 days).
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    max_duration: String,

    /// Stop as inconclusive after this many feedback reports over all arms.
    #[arg(long, value_name = "N")]
    max_samples: Option<u64>,

    /// Make the winner active as soon as there is one (`promptctl serve --controller`, or
    /// `promptctl experiment step` from cron, does it).
    #[arg(long)]
    auto_conclude: bool,

    /// Start with an arm whose output schema or tools would break a service reading the
    /// active version's (refused without it).
    #[arg(long)]
    allow_breaking: bool,

    /// Allow `worktree` arms: text that no commit holds.
    #[arg(long)]
    allow_dirty: bool,

    #[command(flatten)]
    flags: ActionFlags,
}

/// Where the figures are read.
#[derive(Debug, Args)]
struct SourceArgs {
    /// A server whose feedback to judge on (`http://host:7070`); repeat for replicas.
    #[arg(long = "from", value_name = "URL")]
    from: Vec<String>,

    /// A Prometheus server whose `promptctl_experiment_*` series to judge on (overrides
    /// `[rollout] prometheus`; not with --from).
    #[arg(long, value_name = "URL", conflicts_with = "from")]
    prometheus: Option<String>,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Experiments to show (default: every one running).
    names: Vec<String>,

    #[command(flatten)]
    source: SourceArgs,

    /// Print the experiments and their analyses as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ConcludeArgs {
    /// The experiment.
    name: String,

    /// The arm to make active (default: the winner, which the figures must show).
    #[arg(long, value_name = "ARM")]
    arm: Option<String>,

    #[command(flatten)]
    source: SourceArgs,

    #[command(flatten)]
    flags: ActionFlags,
}

#[derive(Debug, Args)]
struct StopArgs {
    /// The experiment.
    name: String,

    #[command(flatten)]
    flags: ActionFlags,
}

#[derive(Debug, Args)]
struct StepArgs {
    #[command(flatten)]
    source: SourceArgs,

    #[command(flatten)]
    push: PushFlags,

    /// Print the experiments judged as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(global: &GlobalArgs, args: ExperimentArgs) -> Result<ExitCode, CliError> {
    match args.command {
        ExperimentCommand::Start(args) => start(global, args),
        ExperimentCommand::Status(args) => status(global, args),
        ExperimentCommand::Conclude(args) => conclude(global, args),
        ExperimentCommand::Stop(args) => {
            let request = ending(&args.name, ActionKind::Stop, None, None);
            super::action::run(global, request, args.flags)
        }
        ExperimentCommand::Step(args) => step(global, args),
    }
}

fn start(global: &GlobalArgs, args: StartArgs) -> Result<ExitCode, CliError> {
    let usage = |flag: &str, why: String| CliError::usage(format!("--{flag}: {why}"));
    let arms = args
        .arms
        .iter()
        .map(|text| match text.split_once('=') {
            Some((name, spec)) if !spec.is_empty() => {
                promptctl::store::check_experiment_name(name, "arm")
                    .map_err(|why| usage("arm", why))?;
                Ok((name.to_owned(), spec.to_owned()))
            }
            _ => Err(usage("arm", format!("`{text}` is not NAME=VERSION"))
                .hint("like --arm formal=active --arm casual=HEAD")),
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    let split = match &args.split {
        Some(text) => Some(Split::parse(text).map_err(|e| usage("split", e.why))?),
        None => None,
    };
    let metric = Metric::parse(&args.metric).map_err(|why| usage("metric", why))?;
    let effect = parse_effect(&args.effect).map_err(|why| usage("effect", why))?;
    let alpha = promptctl::base::percent::parse(&args.alpha, 20.0)
        .map_err(|why| usage("alpha", why.to_string()))?
        / 100.0;
    promptctl::store::check_alpha(alpha).map_err(|why| usage("alpha", why))?;
    let max_duration = EXPERIMENT_LENGTH
        .parse(&args.max_duration)
        .map_err(|why| usage("max-duration", why.to_string()))?
        .as_secs();
    if args.max_samples == Some(0) {
        return Err(usage("max-samples", "must be 1 or more".into()));
    }
    let mut request = ActionRequest::new(ActionKind::Experiment, vec![args.prompt.clone()]);
    request.allow_breaking = args.allow_breaking;
    request.allow_dirty = args.allow_dirty;
    request.segment =
        super::canary::segment_from(global, args.rule.as_deref(), args.segment.as_deref())?;
    request.experiment = Some(ExperimentRequest {
        name: args.name.clone(),
        arms,
        split,
        metric,
        effect,
        alpha,
        max_duration,
        max_samples: args.max_samples,
        auto_conclude: args.auto_conclude,
        arm: None,
    });
    super::action::run(global, request, args.flags)
}

/// `0.02`, or `2%` for 0.02.
fn parse_effect(text: &str) -> Result<f64, String> {
    let value = if text.trim().ends_with('%') {
        promptctl::base::percent::parse_unbounded(text).map_err(|e| e.to_string())? / 100.0
    } else {
        text.trim()
            .parse::<f64>()
            .map_err(|_| format!("`{text}` is not a number like 0.02 or 2%"))?
    };
    promptctl::store::check_effect(value)?;
    Ok(value)
}

/// The figures the source gives: the servers named with --from, else Prometheus (the flag
/// or `[rollout] prometheus`), else none (status then shows the experiments alone).
enum Source {
    Servers(FleetFigures),
    Prometheus(Prometheus),
    None,
}

impl Source {
    fn read(project: &Project, args: &SourceArgs) -> Result<Source, CliError> {
        if !args.from.is_empty() {
            let fleet = fetch_figures(&args.from).map_err(|m| {
                CliError::usage(format!("cannot read feedback: {m}"))
                    .hint("--from names a running `promptctl serve`, like http://127.0.0.1:7070")
            })?;
            for unread in &fleet.unread {
                eprint(&format!(
                    "{WARNING}warning:{WARNING:#} judging without one replica: {unread}\n"
                ));
            }
            return Ok(Source::Servers(fleet));
        }
        match Prometheus::chosen(args.prometheus.as_deref(), &project.config.rollout)
            .map_err(|why| CliError::usage(format!("--prometheus: {why}")))?
        {
            Some(prometheus) => Ok(Source::Prometheus(prometheus)),
            None => Ok(Source::None),
        }
    }

    fn figures(&self) -> Option<Figures<'_>> {
        match self {
            Source::Servers(fleet) => Some(Figures::Servers(fleet)),
            Source::Prometheus(p) => Some(Figures::Prometheus(p)),
            Source::None => None,
        }
    }
}

/// Every running experiment (or those named), judged on `source` at `now`.
fn judged(project: &Project, source: &Source, names: &[String]) -> Result<Vec<Judged>, CliError> {
    let release = project.store(&project.environment)?.read()?;
    let now = promptctl::base::clock::now();
    let empty = FleetFigures::default();
    let figures = source.figures().unwrap_or(Figures::Servers(&empty));
    let mut judged = promptctl::experiment::judge(&release.state, &figures, now);
    if let Some(unknown) = names
        .iter()
        .find(|n| !judged.iter().any(|j| &j.experiment.name == *n))
    {
        return Err(CliError::usage(format!(
            "no experiment `{unknown}` runs in `{}`",
            project.environment
        ))
        .hint("see what runs: promptctl experiment status"));
    }
    judged.retain(|j| names.is_empty() || names.contains(&j.experiment.name));
    Ok(judged)
}

fn status(global: &GlobalArgs, args: StatusArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let source = Source::read(&project, &args.source)?;
    let judged = judged(&project, &source, &args.names)?;
    if args.json {
        print_json(&judged)?;
        return Ok(ExitCode::SUCCESS);
    }
    if judged.is_empty() {
        print(&format!(
            "no experiment runs in `{}`\n",
            project.environment
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for one in &judged {
        describe(&mut out, one, !matches!(source, Source::None));
    }
    print(&out)?;
    // Figures that could not be read are never a quiet "running".
    let unread = judged.iter().any(|j| j.analysis.is_err());
    Ok(if unread {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One experiment for people: its arms with their figures and intervals, then the verdict.
fn describe(out: &mut String, judged: &Judged, with_feedback: bool) {
    let experiment = &judged.experiment;
    let _ = writeln!(
        out,
        "{BOLD}{}{BOLD:#} on {}  metric {} ({} is better), α {}%, since {}{}",
        experiment.name,
        judged.name,
        experiment.metric,
        experiment.metric.goal().as_str(),
        experiment.alpha * 100.0,
        promptctl::base::clock::format(experiment.started),
        experiment
            .segment
            .as_ref()
            .map_or(String::new(), |s| format!(", where {s}"))
    );
    let width = experiment
        .arms
        .iter()
        .map(|a| a.name.len())
        .max()
        .unwrap_or(0);
    match &judged.analysis {
        Ok(analysis) if with_feedback => {
            for arm in &analysis.arms {
                let mean = arm.mean.map_or("—".to_owned(), |m| format!("{m:.4}"));
                let margin = arm.margin.map_or(String::new(), |m| format!(" ± {m:.4}"));
                let _ = writeln!(
                    out,
                    "  {}  {VERSION}{}{VERSION:#}  {:>5}%  {mean}{margin}  {DIM}n {}, {} reports, {} errors{DIM:#}",
                    pad(&arm.name, width),
                    arm.version.short(),
                    arm.share,
                    arm.n,
                    arm.figures.reports,
                    arm.figures.errors
                );
            }
            let _ = writeln!(out, "  {}", analysis.verdict_words());
            if let Some(command) = analysis.conclude_command(experiment.auto_conclude) {
                let _ = writeln!(out, "  {DIM}make it active with: {command}{DIM:#}");
            }
        }
        Ok(_) => {
            for (arm, share) in experiment.arms.iter().zip(experiment.split.percents()) {
                let _ = writeln!(
                    out,
                    "  {}  {VERSION}{}{VERSION:#}  {share:>5}%",
                    pad(&arm.name, width),
                    arm.version.short()
                );
            }
            let _ = writeln!(
                out,
                "  {DIM}no feedback read: name servers with --from or Prometheus with --prometheus{DIM:#}"
            );
        }
        Err(why) => {
            let _ = writeln!(
                out,
                "  {WARNING}figures unread, nothing decided:{WARNING:#} {why}"
            );
        }
    }
    if let Applied::Committed { summary, .. } = &judged.applied {
        let _ = writeln!(out, "  {BOLD}{summary}{BOLD:#}");
    }
    if let Applied::Failed { message } | Applied::AlreadyDecided { message } = &judged.applied {
        let _ = writeln!(out, "  {WARNING}not applied:{WARNING:#} {message}");
    }
}

fn conclude(global: &GlobalArgs, args: ConcludeArgs) -> Result<ExitCode, CliError> {
    let (arm, reason) = match &args.arm {
        Some(arm) => (arm.clone(), args.flags.reason()),
        None => {
            let project = global.project()?;
            let source = Source::read(&project, &args.source)?;
            if matches!(source, Source::None) {
                return Err(CliError::usage(format!(
                    "which arm won `{}`? no feedback was named to judge on",
                    args.name
                ))
                .hint("name servers with --from or Prometheus with --prometheus, or the arm with --arm"));
            }
            let judged = judged(&project, &source, std::slice::from_ref(&args.name))?;
            let analysis = judged[0].analysis.as_ref().map_err(|why| {
                CliError::usage(format!(
                    "the figures of `{}` cannot be read: {why}",
                    args.name
                ))
            })?;
            let Verdict::Winner { arm } = &analysis.verdict else {
                return Err(CliError::usage(format!(
                    "no arm of `{}` has won: {}",
                    args.name,
                    analysis.verdict_words()
                ))
                .hint("wait for more feedback, stop it (promptctl experiment stop), or choose with --arm"));
            };
            let figures = analysis.summary();
            let reason = match args.flags.reason() {
                Some(given) => format!("{given} ({figures})"),
                None => figures,
            };
            (arm.clone(), Some(reason))
        }
    };
    let request = ending(&args.name, ActionKind::Conclude, Some(arm), None);
    let mut flags = args.flags;
    flags.set_reason(reason);
    super::action::run(global, request, flags)
}

fn step(global: &GlobalArgs, args: StepArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let source = Source::read(&project, &args.source)?;
    let Some(figures) = source.figures() else {
        return Err(CliError::usage("no feedback to judge on").hint(
            "name servers with --from, or Prometheus with --prometheus or [rollout] prometheus",
        ));
    };
    let now = promptctl::base::clock::now();
    let judged = promptctl::experiment::step(
        &project,
        &project.environment,
        &figures,
        now,
        args.push.remote(),
    )?;
    if args.json {
        print_json(&judged)?;
    } else if judged.is_empty() {
        print(&format!(
            "no experiment runs in `{}`\n",
            project.environment
        ))?;
    } else {
        let mut out = String::new();
        for one in &judged {
            describe(&mut out, one, true);
        }
        print(&out)?;
    }
    let failed = judged
        .iter()
        .any(|j| j.analysis.is_err() || matches!(j.applied, Applied::Failed { .. }));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
