//! Reads of the release state: `status`, `log` and `resolve`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::error::ReleaseError;
use crate::project::Project;
use crate::prompt::{PromptName, Version};
use crate::source::{self, RevisionSpec};
use crate::store::Record;
use crate::store::State;
use crate::store::Store;
use crate::store::Weight;

/// How a source's version of a prompt relates to its release pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// The same version as active.
    Active,
    /// The same version as the canary in flight.
    Canary,
    /// A version that is neither: not released yet.
    New,
    /// The prompt is not in the source.
    Absent,
    /// The prompt does not parse in the source.
    Broken,
}

/// One prompt's release status.
#[derive(Debug, Clone, Serialize)]
pub struct PromptStatus {
    pub name: PromptName,
    pub active: Option<Version>,
    pub canary: Option<Version>,
    pub canary_weight: Option<Weight>,
    /// Cohorts on the canary whatever their bucket (empty when none).
    pub canary_cohorts: Vec<String>,
    /// Who is on the canary, in words (`10%`, `cohort internal + 5%`); null without one.
    pub canary_route: Option<String>,
    /// The targeting rule the canary is limited to; absent when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_where: Option<String>,
    /// The rollout plan driving the canary; null without one.
    pub rollout: Option<crate::store::Rollout>,
    /// The experiment running on the prompt; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<crate::store::Experiment>,
    /// Earlier active versions `revert` can go back to.
    pub previous: usize,
    /// How `HEAD`'s version relates to the pointers (absent outside a git repository's
    /// history).
    pub head: Relation,
    /// How the working tree's version relates to the pointers.
    pub worktree: Relation,
}

/// The release status of an environment.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub env: String,
    /// The release commit, if anything was released.
    pub commit: Option<String>,
    pub prompts: Vec<PromptStatus>,
}

/// Reads the status of `names` (all prompts released or in the repository when empty).
pub fn status(project: &Project, env: &str, names: &[String]) -> Result<Status, ReleaseError> {
    let store = project.store(env)?;
    let named: Vec<PromptName> = names
        .iter()
        .filter_map(|n| PromptName::parse(n).ok())
        .collect();
    let release = if names.is_empty() {
        store.read()?
    } else {
        store.read_named(&named)?
    };
    let head = match Versions::read(project, &RevisionSpec::Git("HEAD".into()), &named) {
        Ok(versions) => Some(versions),
        // A repository without commits has no HEAD to compare.
        Err(
            source::SourceError::UnknownRevision { .. } | source::SourceError::NoCommitYet { .. },
        ) => None,
        Err(error) => return Err(error.into()),
    };
    let worktree = Versions::read(project, &RevisionSpec::Worktree, &named)?;
    let mut all: BTreeSet<PromptName> = release.state.prompts.keys().cloned().collect();
    for versions in head.iter().chain(std::iter::once(&worktree)) {
        all.extend(versions.0.keys().cloned());
    }
    let wanted: Vec<PromptName> = if names.is_empty() {
        all.into_iter().collect()
    } else {
        names
            .iter()
            .map(|name| {
                PromptName::parse(name)
                    .ok()
                    .filter(|n| all.contains(n))
                    .ok_or_else(|| {
                        ReleaseError::refused(
                            format!(
                                "no prompt `{name}` in `{env}`, at HEAD or in the working tree"
                            ),
                            "run `promptctl list` to see the prompts",
                        )
                    })
            })
            .collect::<Result<_, _>>()?
    };
    let prompts = wanted
        .into_iter()
        .map(|name| {
            let pointers = release.state.prompts.get(&name);
            let relation = |v: Option<&Versions>| relation(&release.state, &name, v);
            PromptStatus {
                active: pointers.map(|p| p.active),
                canary: pointers.and_then(|p| p.canary.as_ref().map(|c| c.version)),
                canary_weight: pointers.and_then(|p| p.canary.as_ref().and_then(|c| c.weight)),
                canary_cohorts: pointers
                    .and_then(|p| p.canary.as_ref().map(|c| c.cohorts.clone()))
                    .unwrap_or_default(),
                canary_route: pointers.and_then(|p| p.canary.as_ref().map(|c| c.describe())),
                canary_where: pointers.and_then(|p| {
                    let segment = p.canary.as_ref()?.segment.as_ref()?;
                    Some(segment.to_string())
                }),
                rollout: pointers.and_then(|p| p.rollout.clone()),
                experiment: pointers.and_then(|p| p.experiment.clone()),
                previous: pointers.map_or(0, |p| p.previous.len()),
                head: relation(head.as_ref()),
                worktree: relation(Some(&worktree)),
                name,
            }
        })
        .collect();
    Ok(Status {
        env: env.to_owned(),
        commit: release.commit.map(|c| c.to_string()),
        prompts,
    })
}

/// The version of every prompt of one source; `None` for a file that does not parse.
struct Versions(BTreeMap<PromptName, Option<Version>>);

impl Versions {
    /// Reads the versions at `spec`: of `names` alone when given (parsing only those),
    /// else of every prompt, from the summaries `list` keeps, so that a large repository
    /// parses only the prompts that changed since it was last read.
    fn read(
        project: &Project,
        spec: &RevisionSpec,
        names: &[PromptName],
    ) -> Result<Versions, source::SourceError> {
        if names.is_empty() {
            return Ok(Versions::of(&source::summaries(project, spec)?));
        }
        let set = source::load_named(project, spec, names)?;
        let versions = set.entries().map(|(name, entry)| {
            let version = entry.as_ref().ok().map(|p| p.version);
            (name.clone(), version)
        });
        Ok(Versions(versions.collect()))
    }

    fn of(summaries: &source::Summaries) -> Versions {
        let valid = summaries
            .prompts
            .iter()
            .map(|p| (p.name.clone(), Some(p.version)));
        let broken = summaries.broken.iter().map(|name| (name.clone(), None));
        Versions(valid.chain(broken).collect())
    }
}

fn relation(state: &State, name: &PromptName, versions: Option<&Versions>) -> Relation {
    let Some(entry) = versions.and_then(|v| v.0.get(name)) else {
        return Relation::Absent;
    };
    let Some(version) = *entry else {
        return Relation::Broken;
    };
    match state.prompts.get(name) {
        Some(p) if p.active == version => Relation::Active,
        Some(p) if p.canary.as_ref().is_some_and(|c| c.version == version) => Relation::Canary,
        _ => Relation::New,
    }
}

/// One release commit, as `log` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub commit: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    pub author: String,
    #[serde(flatten)]
    pub record: Record,
}

/// Reads the release history of `env`, newest first, limited to commits that touched `name`
/// and to `limit` entries.
pub fn log(
    project: &Project,
    env: &str,
    name: Option<&str>,
    limit: usize,
) -> Result<Vec<LogEntry>, ReleaseError> {
    let store = project.store(env)?;
    history(&store, name, limit)
}

/// Reads the release history of a store's branch, newest first, limited to commits that
/// touched `name` and to `limit` entries.
pub fn history(
    store: &Store,
    name: Option<&str>,
    limit: usize,
) -> Result<Vec<LogEntry>, ReleaseError> {
    let Some(tip) = store.tip()? else {
        return Ok(Vec::new());
    };
    Ok(history_from(store, tip, name, limit, None)?.0)
}

/// Reads the release history from commit `from` back, newest first, like [`history`], and
/// stops before commit `known` if it meets it; says whether it did, so that a caller that
/// already has the history from `known` back only reads what is newer.
pub fn history_from(
    store: &Store,
    from: git2::Oid,
    name: Option<&str>,
    limit: usize,
    known: Option<&str>,
) -> Result<(Vec<LogEntry>, bool), ReleaseError> {
    let repo = store.repo();
    let mut entries = Vec::new();
    // Commits are walked by id and read only once known to be needed: the commit met last
    // is often a publish of thousands of prompts, whose message (1.27 MB at 10,000) a swap
    // read and parsed only to find it was the one it knew.
    let mut next = Some(from);
    while let Some(id) = next {
        if entries.len() >= limit {
            break;
        }
        if known.is_some_and(|k| id.to_string() == k) {
            return Ok((entries, true));
        }
        let commit = repo.find_commit(id)?;
        let record = Record::parse(&String::from_utf8_lossy(commit.message_bytes()));
        if let Some(record) = record
            && name.is_none_or(|n| record.prompts.iter().any(|p| p.name.as_str() == n))
        {
            let author = commit.author();
            entries.push(LogEntry {
                commit: commit.id().to_string(),
                time: commit.time().seconds(),
                author: format!(
                    "{} <{}>",
                    String::from_utf8_lossy(author.name_bytes()),
                    String::from_utf8_lossy(author.email_bytes())
                ),
                record,
            });
        }
        next = commit.parent_id(0).ok();
    }
    Ok((entries, false))
}
