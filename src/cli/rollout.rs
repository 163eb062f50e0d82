//! `promptctl rollout`: see, step, pause, resume or abort the rollout plans of canaries.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use promptctl::policy::RolloutPolicy;
use promptctl::prompt::PromptName;
use promptctl::release::{ActionKind, ActionRequest};
use promptctl::rollout::{
    Applied, Evidence, Prometheus, RolloutStatus, StepReport, Summary, Window, fetch_windows,
};

use super::action::{ActionFlags, PushFlags};
use super::output::{BOLD, DIM, VERSION, WARNING, eprint, print, print_json};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl rollout status --from http://prompts.internal:7070\n  promptctl rollout step --from http://10.0.0.5:7070 --from http://10.0.0.6:7070 --push\n  promptctl rollout pause support/triage --reason \"investigating a complaint\"";

/// See and steer rollout plans (`promptctl canary NAME 5% --ramp 25,50,100`).
///
/// A controller judges each plan: `promptctl serve --controller` does so every interval on
/// the feedback it receives; `promptctl rollout step` does one pass and exits, for cron or
/// CI, on the feedback of the servers named with --from. See docs/rollout.md.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct RolloutArgs {
    #[command(subcommand)]
    command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
enum RolloutCommand {
    /// Show each plan, its stage and what a controller would decide now.
    Status(StatusArgs),
    /// Judge every plan once and carry out the decisions, then exit.
    Step(StepArgs),
    /// Stop plans from advancing on their own; a breached gate still reverts them.
    Pause(ChangeArgs),
    /// Let paused plans advance again.
    Resume(ChangeArgs),
    /// Drop plans and their canaries: every key goes back to the active version.
    Abort(ChangeArgs),
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Prompts to show (default: every rollout).
    names: Vec<String>,

    /// A server whose feedback to judge on (`http://host:7070`); repeat for replicas.
    #[arg(long = "from", value_name = "URL")]
    from: Vec<String>,

    /// A Prometheus server whose `promptctl_*` series to judge on (overrides `[rollout]
    /// prometheus`; not with --from).
    #[arg(long, value_name = "URL", conflicts_with = "from")]
    prometheus: Option<String>,

    /// Print the rollouts as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct StepArgs {
    /// A server whose feedback to judge on (`http://host:7070`); repeat for replicas.
    #[arg(long = "from", value_name = "URL")]
    from: Vec<String>,

    /// A Prometheus server whose `promptctl_*` series to judge on (overrides `[rollout]
    /// prometheus`; not with --from).
    #[arg(long, value_name = "URL", conflicts_with = "from")]
    prometheus: Option<String>,

    #[command(flatten)]
    push: PushFlags,

    /// Print the decisions as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ChangeArgs {
    /// Prompts whose plan to change (default: every rollout).
    names: Vec<String>,

    #[command(flatten)]
    flags: ActionFlags,
}

pub fn run(global: &GlobalArgs, args: RolloutArgs) -> Result<ExitCode, CliError> {
    match args.command {
        RolloutCommand::Status(args) => status(global, args),
        RolloutCommand::Step(args) => step(global, args),
        RolloutCommand::Pause(args) => change(global, ActionKind::Pause, args),
        RolloutCommand::Resume(args) => change(global, ActionKind::Resume, args),
        RolloutCommand::Abort(args) => change(global, ActionKind::Abort, args),
    }
}

/// Where the evidence comes from: Prometheus (`--prometheus`, else `[rollout] prometheus`
/// unless `--from` is given), the servers named with `--from`, or none.
enum Source {
    Prometheus(Prometheus),
    Windows(BTreeMap<PromptName, Window>),
}

impl Source {
    fn read(
        from: &[String],
        prometheus: Option<&str>,
        policy: &RolloutPolicy,
    ) -> Result<Source, CliError> {
        // Servers named with --from are the evidence (clap keeps --prometheus apart from
        // them); otherwise Prometheus, when the flag or the policy names one.
        let chosen = if from.is_empty() {
            Prometheus::chosen(prometheus, policy)
                .map_err(|why| CliError::usage(format!("--prometheus: {why}")))?
        } else {
            None
        };
        match chosen {
            Some(source) => Ok(Source::Prometheus(source)),
            None => windows(from).map(Source::Windows),
        }
    }

    fn evidence(&self) -> Evidence<'_> {
        match self {
            Source::Prometheus(p) => Evidence::Prometheus(p),
            Source::Windows(w) => Evidence::Windows(w),
        }
    }

    /// Tells whether any feedback was read (else the figures are not shown).
    fn has_feedback(&self) -> bool {
        match self {
            Source::Prometheus(_) => true,
            Source::Windows(w) => !w.is_empty(),
        }
    }
}

/// The merged feedback of the servers named with --from. Replicas that cannot be read are
/// named on stderr and the others are judged on; none answering is an error.
fn windows(from: &[String]) -> Result<BTreeMap<PromptName, Window>, CliError> {
    if from.is_empty() {
        return Ok(BTreeMap::new());
    }
    let fleet = fetch_windows(from).map_err(|m| {
        CliError::usage(format!("cannot read feedback: {m}"))
            .hint("--from names a running `promptctl serve`, like http://127.0.0.1:7070")
    })?;
    for unread in &fleet.unread {
        eprint(&format!(
            "{WARNING}warning:{WARNING:#} judging without one replica: {unread}\n"
        ));
    }
    Ok(fleet.windows)
}

fn status(global: &GlobalArgs, args: StatusArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let source = Source::read(
        &args.from,
        args.prometheus.as_deref(),
        &project.config.rollout,
    )?;
    let now = promptctl::base::clock::now();
    let rollouts = promptctl::rollout::status(
        &project,
        &project.environment,
        &args.names,
        &source.evidence(),
        now,
    )?;
    if args.json {
        print_json(&rollouts)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rollouts.is_empty() {
        print(&format!(
            "no rollout in flight in `{}`\n",
            project.environment
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for rollout in &rollouts {
        describe(
            &mut out,
            rollout,
            source.has_feedback() || !args.from.is_empty(),
        );
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn describe(out: &mut String, rollout: &RolloutStatus, with_feedback: bool) {
    let (Some(canary), Some(plan)) = (&rollout.pointers.canary, &rollout.pointers.rollout) else {
        return;
    };
    let stages: Vec<String> = plan
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i == plan.step {
                format!("[{s}]")
            } else {
                s.to_string()
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "{BOLD}{}{BOLD:#}  canary {VERSION}{}{VERSION:#} on {}, active {VERSION}{}{VERSION:#}",
        rollout.name,
        canary.version.short(),
        canary.describe(),
        rollout.pointers.active.short()
    );
    let _ = writeln!(
        out,
        "  plan     {}  every {}{}",
        stages.join(" → "),
        promptctl::base::duration::human(plan.every),
        if plan.paused { "  (paused)" } else { "" }
    );
    let _ = writeln!(
        out,
        "  stage    {} of {} since {}, may advance at {}",
        plan.step + 1,
        plan.stages.len(),
        promptctl::base::clock::format(plan.step_started),
        promptctl::base::clock::format(plan.step_ends())
    );
    if with_feedback && rollout.window.unread.is_none() {
        let (a, c) = (
            rollout.window.active.summary(),
            rollout.window.canary.summary(),
        );
        let _ = writeln!(out, "  canary   {}", figures(&c));
        let _ = writeln!(out, "  active   {}", figures(&a));
    }
    for gate in &rollout.evaluation.gates {
        let verdict = serde_json::to_value(gate.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {DIM}gate{DIM:#}     {} {verdict}{}: {}",
            gate.gate,
            if gate.alert_only { " (alert only)" } else { "" },
            gate.detail
        );
    }
    let _ = writeln!(out, "  now      {}", rollout.evaluation.decision.describe());
    if !with_feedback {
        let _ = writeln!(
            out,
            "  {DIM}no feedback read: pass --prometheus URL, or --from URL of a server, to judge on its reports{DIM:#}"
        );
    }
}

fn figures(s: &Summary) -> String {
    let mut parts = vec![format!("{} reports", s.reports)];
    if let Some(rate) = s.error_rate {
        parts.push(format!("{:.1}% errors", rate * 100.0));
    }
    if let Some(ms) = s.mean_latency_ms {
        parts.push(format!("{ms:.1} ms mean"));
    }
    if let Some(ms) = s.p95_latency_ms {
        parts.push(format!("{ms:.1} ms p95"));
    }
    if let Some(usd) = s.mean_cost_usd {
        parts.push(format!("${usd:.5}/request"));
    }
    if let Some(score) = s.mean_score {
        parts.push(format!("score {score:.3}"));
    }
    parts.join(", ")
}

fn step(global: &GlobalArgs, args: StepArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let source = Source::read(
        &args.from,
        args.prometheus.as_deref(),
        &project.config.rollout,
    )?;
    let push = args.push.remote();
    let reports = promptctl::rollout::step(
        &project,
        &project.environment,
        &source.evidence(),
        promptctl::base::clock::now(),
        push,
    )?;
    let failed = reports
        .iter()
        .any(|r| matches!(r.applied, Applied::Failed { .. }));
    if args.json {
        print_json(&reports)?;
    } else {
        print(&human_step(&reports, &project.environment))?;
    }
    // A metric source that could not be read held its steps; that is no success.
    if let Some(why) = reports.iter().find_map(|r| r.source_error.as_deref()) {
        return Err(CliError::usage(format!(
            "the metric source could not be read, so its steps held: {why}"
        ))
        .hint(
            "check that Prometheus answers at the URL given (--prometheus or [rollout] prometheus)",
        ));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn human_step(reports: &[StepReport], env: &str) -> String {
    if reports.is_empty() {
        return format!("no rollout in flight in `{env}`\n");
    }
    let mut out = String::new();
    for report in reports {
        let decision = report.evaluation.decision.describe();
        let _ = match &report.applied {
            Applied::Committed { commit, summary } => writeln!(
                out,
                "{BOLD}{}{BOLD:#}: {summary}  {DIM}({env} {VERSION}{}{VERSION:#}{DIM}){DIM:#}\n  {decision}",
                report.name,
                promptctl::base::shortid::commit(commit)
            ),
            Applied::Nothing => writeln!(out, "{BOLD}{}{BOLD:#}: {decision}", report.name),
            Applied::AlreadyDecided { message } => writeln!(
                out,
                "{BOLD}{}{BOLD:#}: already decided elsewhere: {message}",
                report.name
            ),
            Applied::Failed { message } => writeln!(
                out,
                "{BOLD}{}{BOLD:#}: {decision}\n  failed: {message} (tried again at the next step)",
                report.name
            ),
        };
    }
    out
}

fn change(global: &GlobalArgs, kind: ActionKind, args: ChangeArgs) -> Result<ExitCode, CliError> {
    let request = ActionRequest::new(kind, args.names);
    super::action::run(global, request, args.flags)
}
