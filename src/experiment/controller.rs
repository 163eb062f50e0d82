//! One pass over every running experiment: read the release state, judge each experiment on
//! its figures, and carry out what is due: the winner made active when the experiment was
//! started with `--auto-conclude`, and an experiment that reached its maximum duration or
//! sample stopped as inconclusive. Each is a release commit whose reason holds the figures.

use serde::Serialize;

use super::analysis::{Analysis, Verdict, analyze};
use super::fetch::FleetFigures;
use super::figures::ExperimentFigures;
use crate::base::clock::UnixTime;
use crate::project::Project;
use crate::prompt::PromptName;
use crate::release::{ActionKind, ActionRequest, ExperimentRequest, ReleaseError};
use crate::rollout::{Applied, Prometheus, carry_out};
use crate::store::{Experiment, State};

/// Where the figures of experiments are read.
pub enum Figures<'a> {
    /// The merged figures of servers (`--from`).
    Servers(&'a FleetFigures),
    /// The fleet's series in Prometheus.
    Prometheus(&'a Prometheus),
    /// What this server received.
    Local(&'a dyn Fn(&PromptName, &str) -> ExperimentFigures),
}

impl Figures<'_> {
    /// The figures of `experiment` on `prompt` at `now`, or why they cannot be read.
    pub fn read(
        &self,
        prompt: &PromptName,
        experiment: &Experiment,
        now: UnixTime,
    ) -> Result<ExperimentFigures, String> {
        match self {
            Figures::Servers(fleet) => Ok(fleet.of(prompt, &experiment.name)),
            Figures::Prometheus(prometheus) => {
                super::prometheus::read_figures(prometheus, prompt, experiment, now)
                    .map_err(|e| e.to_string())
            }
            Figures::Local(read) => Ok(read(prompt, &experiment.name)),
        }
    }
}

/// One experiment judged, and what was done about it.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    pub name: PromptName,
    pub experiment: Experiment,
    /// The analysis, or why the figures could not be read (nothing is decided then).
    #[serde(with = "analysis_or_error")]
    pub analysis: Result<Analysis, String>,
    pub applied: Applied,
}

mod analysis_or_error {
    use super::Analysis;

    pub fn serialize<S: serde::Serializer>(
        value: &Result<Analysis, String>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        use serde::Serialize as _;
        match value {
            Ok(analysis) => analysis.serialize(s),
            Err(why) => serde_json::json!({ "verdict": "unread", "why": why }).serialize(s),
        }
    }
}

/// Judges every experiment of `state` at `now`, deciding nothing.
pub fn judge(state: &State, figures: &Figures<'_>, now: UnixTime) -> Vec<Judged> {
    state
        .prompts
        .iter()
        .filter_map(|(name, pointers)| {
            let experiment = pointers.experiment.as_ref()?;
            let analysis = figures
                .read(name, experiment, now)
                .map(|read| analyze(experiment, &read, now));
            Some(Judged {
                name: name.clone(),
                experiment: experiment.clone(),
                analysis,
                applied: Applied::Nothing,
            })
        })
        .collect()
}

/// Runs one pass over every experiment of `env` at `now`; with `push`, each decision is
/// pushed to that remote (fetching first).
pub fn step(
    project: &Project,
    env: &str,
    figures: &Figures<'_>,
    now: UnixTime,
    push: Option<&str>,
) -> Result<Vec<Judged>, ReleaseError> {
    if let Some(remote) = push {
        crate::release::pull(project, env, remote)?;
    }
    let release = project.store(env)?.read()?;
    let mut judged = judge(&release.state, figures, now);
    for one in &mut judged {
        one.applied = apply(project, env, one, push);
    }
    Ok(judged)
}

/// The action a verdict calls for: the winner made active (when asked at start), or an
/// inconclusive experiment stopped.
pub fn due(experiment: &Experiment, analysis: &Analysis) -> Option<(ActionKind, Option<String>)> {
    match &analysis.verdict {
        Verdict::Winner { arm } if experiment.auto_conclude => {
            Some((ActionKind::Conclude, Some(arm.clone())))
        }
        Verdict::Inconclusive { .. } => Some((ActionKind::Stop, None)),
        _ => None,
    }
}

fn apply(project: &Project, env: &str, judged: &Judged, push: Option<&str>) -> Applied {
    let Ok(analysis) = &judged.analysis else {
        return Applied::Nothing;
    };
    let Some((kind, arm)) = due(&judged.experiment, analysis) else {
        return Applied::Nothing;
    };
    let reason = format!("experiment controller: {}", analysis.summary());
    let request = ending(&judged.experiment.name, kind, arm, Some(reason));
    carry_out(project, env, &request, push)
}

/// The request that ends experiment `name`: `conclude` with `arm` made active, or `stop`,
/// with the reason recorded in its release commit.
pub fn ending(
    name: &str,
    kind: ActionKind,
    arm: Option<String>,
    reason: Option<String>,
) -> ActionRequest {
    let mut request = ActionRequest::new(kind, Vec::new());
    let mut experiment = ExperimentRequest::named(name);
    experiment.arm = arm;
    request.experiment = Some(experiment);
    request.reason = reason;
    request
}
