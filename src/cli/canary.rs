//! `promptctl canary`: start or re-weight a canary, optionally with a rollout plan.

use std::process::ExitCode;

use clap::Args;

use promptctl::policy::GateDefaults;
use promptctl::release::{ActionKind, ActionRequest, PlanRequest};
use promptctl::store::{Weight, WeightError};

use super::action::ActionFlags;
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl canary 10%\n  promptctl canary support/triage 0.5%\n  promptctl canary support/triage 1% --ramp 5,25,50,100 --every 30m --max-error-rate 2%\n  promptctl canary support/triage --stage cohort=internal --stage cohort=beta --ramp 10,50,100";

/// Send a share of keys to a new version; the rest keep the active one. Keys stick: the
/// same key always gets the same side, and raising the weight keeps every key already on
/// the canary there.
///
/// Without names: every released prompt whose version at --version differs from its active
/// one. Naming a prompt whose canary is in flight (and whose version at --version is the
/// active one or the canary) changes the weight.
///
/// With --ramp or --stage, the canary follows a plan that a controller (`promptctl serve
/// --controller`, or `promptctl rollout step` from cron) carries out: each stage lasts
/// --every, then advances when the canary is healthy against active over the stage's
/// feedback, promotes at 100%, and reverts at once when a gate is breached.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
#[command(disable_version_flag = true)]
pub struct CanaryArgs {
    /// Prompts (optional), then the share of keys: `10%`, `0.5%` or `10` (0.01% to 99.99%);
    /// with a plan, the first percentage stage (optional then).
    #[arg(value_name = "NAME… PERCENT", num_args = 0..)]
    args: Vec<String>,

    /// Where the canary version comes from: a git revision, `worktree`, `sha256:...`.
    #[arg(long, value_name = "SPEC", default_value = "HEAD")]
    version: String,

    /// With `--version worktree`: release the working tree's text, which no commit holds.
    #[arg(long)]
    allow_dirty: bool,

    /// Release a version whose output schema or tools would break a service reading the
    /// active version's, under the prompt's `compatibility` (refused without it).
    #[arg(long)]
    allow_breaking: bool,

    /// Put on canary a version that was active before (refused without it: it usually
    /// means an old checkout; `revert` is the way back).
    #[arg(long)]
    force: bool,

    /// The percentages to ramp through after PERCENT, rising: `5,25,50,100`; 100 promotes.
    #[arg(long, value_name = "P,P,…", value_delimiter = ',')]
    ramp: Vec<String>,

    /// A stage before the percentages, in order: `cohort=internal` routes the keys resolved
    /// with that cohort attribute to the canary.
    #[arg(long = "stage", value_name = "cohort=NAME")]
    stages: Vec<String>,

    /// Limit the canary to callers this targeting rule matches, like
    /// `plan in ["enterprise"] and country = "DE"` (docs/bucketing.md); the others get
    /// the active version.
    #[arg(long = "where", value_name = "RULE", conflicts_with = "segment")]
    rule: Option<String>,

    /// Limit the canary to a segment named in promptctl.toml's `[segments]`.
    #[arg(long, value_name = "NAME")]
    segment: Option<String>,

    /// How long each stage lasts before it may advance: `30m`, `1h`, `2h30m`.
    #[arg(long, value_name = "DURATION")]
    every: Option<String>,

    /// Revert when the canary's error rate exceeds active's by more than this many
    /// percentage points (default 5%, or [rollout.gates] in promptctl.toml).
    #[arg(long, value_name = "P%")]
    max_error_rate: Option<String>,

    /// Revert when the canary's mean latency exceeds active's by more than this.
    #[arg(long, value_name = "P%")]
    max_latency_increase: Option<String>,

    /// Revert when the canary's mean cost per request exceeds active's by more than this.
    #[arg(long, value_name = "P%")]
    max_cost_increase: Option<String>,

    /// Revert when the canary's share of replies the service could not parse (feedback
    /// with `output_valid: false`) exceeds active's by more than this many points.
    #[arg(long, value_name = "P%")]
    max_invalid_output_rate: Option<String>,

    /// Revert when the canary's share of replies whose tool calls failed in the service
    /// (feedback with `tool_error: true`) exceeds active's by more than this many points.
    #[arg(long, value_name = "P%")]
    max_tool_error_rate: Option<String>,

    /// Revert when the canary's mean score is below this.
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    min_score: Option<f64>,

    /// Revert when the canary's mean score is more than this below active's.
    #[arg(long, value_name = "X")]
    max_score_drop: Option<f64>,

    /// Canary feedback reports a stage needs before it is judged either way (default 100).
    #[arg(long, value_name = "N")]
    min_samples: Option<u64>,

    #[command(flatten)]
    flags: ActionFlags,
}

impl CanaryArgs {
    fn has_plan(&self) -> bool {
        !self.ramp.is_empty()
            || !self.stages.is_empty()
            || self.every.is_some()
            || self.max_error_rate.is_some()
            || self.max_latency_increase.is_some()
            || self.max_cost_increase.is_some()
            || self.min_score.is_some()
            || self.max_score_drop.is_some()
            || self.max_invalid_output_rate.is_some()
            || self.max_tool_error_rate.is_some()
            || self.min_samples.is_some()
    }
}

/// Reads `5%` or `5` as a number of percent (points), by [`promptctl::base::percent`], as `eval`'s flags.
fn percent_flag(flag: &str, text: &Option<String>) -> Result<Option<f64>, CliError> {
    let Some(text) = text else { return Ok(None) };
    promptctl::base::percent::parse_unbounded(text)
        .map(Some)
        .map_err(|why| {
            CliError::usage(format!("--{flag}: {why}")).hint(format!("like --{flag} 5%"))
        })
}

fn plan(args: &CanaryArgs, first: Option<&str>) -> Result<PlanRequest, CliError> {
    let stages = PlanRequest::stages_from(&args.stages, first, &args.ramp).map_err(|m| {
        CliError::usage(format!("invalid stage: {m}"))
            .hint("promptctl canary NAME --stage cohort=internal --ramp 5,25,100")
    })?;
    let every = match &args.every {
        Some(text) => {
            let every = promptctl::store::STAGE_LENGTH
                .parse(text)
                .map_err(|m| CliError::usage(format!("--every: {m}")))?;
            Some(every.as_secs())
        }
        None => None,
    };
    let gates = GateDefaults {
        min_samples: args.min_samples,
        max_error_rate: percent_flag("max-error-rate", &args.max_error_rate)?,
        max_latency_increase: percent_flag("max-latency-increase", &args.max_latency_increase)?,
        max_cost_increase: percent_flag("max-cost-increase", &args.max_cost_increase)?,
        min_score: args.min_score,
        max_score_drop: args.max_score_drop,
        max_invalid_output_rate: percent_flag(
            "max-invalid-output-rate",
            &args.max_invalid_output_rate,
        )?,
        max_tool_error_rate: percent_flag("max-tool-error-rate", &args.max_tool_error_rate)?,
    };
    gates.check().map_err(|(key, message)| {
        CliError::usage(format!("--{}: {message}", key.replace('_', "-")))
    })?;
    Ok(PlanRequest {
        stages,
        every,
        gates,
    })
}

/// Tells whether an argument is a percentage rather than a prompt name.
fn looks_like_percent(text: &str) -> bool {
    let number = text.strip_suffix('%').unwrap_or(text);
    !number.is_empty() && number.parse::<f64>().is_ok()
}

fn weight(percent: &str) -> Result<Weight, CliError> {
    percent.parse().map_err(|e: WeightError| {
        let hint = match e {
            WeightError::Full => {
                "to send every key to the canary, promote it: promptctl promote NAME"
            }
            WeightError::Zero => {
                "to take every key off the canary, revert it: promptctl revert NAME"
            }
            _ => "give the share of keys last, like `promptctl canary support/triage 10%`",
        };
        CliError::usage(format!("invalid canary weight: {e}")).hint(hint)
    })
}

/// The rule `--where` gives, or the segment `--segment` names (for `canary` and
/// `experiment start`).
pub fn segment_from(
    global: &GlobalArgs,
    rule: Option<&str>,
    segment: Option<&str>,
) -> Result<Option<promptctl::store::Rule>, CliError> {
    if let Some(text) = rule {
        return promptctl::store::Rule::parse(text).map(Some).map_err(|e| {
            CliError::usage(format!("--where: {e}")).hint(
                "like --where 'plan in [\"enterprise\"] and country = \"DE\"' (docs/bucketing.md)",
            )
        });
    }
    let Some(name) = segment else {
        return Ok(None);
    };
    let project = global.project()?;
    project.config.segment(name).map(Some).ok_or_else(|| {
        let known: Vec<&str> = project.config.segments.keys().map(String::as_str).collect();
        CliError::usage(format!("no segment `{name}` in promptctl.toml")).hint(
            if known.is_empty() {
                "declare it: [segments] NAME = 'RULE'".to_owned()
            } else {
                format!("its segments: {}", known.join(", "))
            },
        )
    })
}

pub fn run(global: &GlobalArgs, args: CanaryArgs) -> Result<ExitCode, CliError> {
    let mut names = args.args.clone();
    let percent = match names.last() {
        Some(last) if looks_like_percent(last) => names.pop(),
        _ => None,
    };
    let mut request = ActionRequest::new(ActionKind::Canary, names);
    request.version = Some(args.version.clone());
    request.allow_dirty = args.allow_dirty;
    request.allow_breaking = args.allow_breaking;
    request.force = args.force;
    request.segment = segment_from(global, args.rule.as_deref(), args.segment.as_deref())?;
    if args.has_plan() {
        request.plan = Some(plan(&args, percent.as_deref())?);
    } else {
        let percent = percent.ok_or_else(|| match args.args.last() {
            Some(last) => CliError::usage(format!("`{last}` is not a percentage"))
                .hint("give the share of keys last, like `promptctl canary support/triage 10%`"),
            None => CliError::usage("a canary needs the share of keys to send to it")
                .hint("promptctl canary support/triage 10%, or a plan: --ramp 5,25,100"),
        })?;
        request.weight = Some(weight(&percent)?);
    }
    super::action::run(global, request, args.flags)
}
