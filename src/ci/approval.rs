//! Breaking contract changes and their approval. `ci` fails on a change that breaks a
//! service under its prompt's compatibility mode unless it is approved: by
//! `--allow-breaking`, or by an `Allow-Breaking:` trailer (a prompt's name, several
//! separated by commas, or `all`) on a commit of the change, read as git reads trailers.

use serde::Serialize;

use crate::diff::SourceDiff;
use crate::prompt::Compatibility;

/// The trailer that approves breaking changes (`Allow-Breaking: support/triage`).
pub const TRAILER: &str = "Allow-Breaking";

/// One breaking change, and what approved it.
#[derive(Debug, Clone, Serialize)]
pub struct BreakingChange {
    pub prompt: String,
    /// The prompt's file, relative to the project (`prompts/support/triage.toml`).
    pub file: String,
    pub path: String,
    pub kind: &'static str,
    pub detail: String,
    pub compatibility: Compatibility,
    /// What approved it (`--allow-breaking`, `trailer on 1a2b3c4`); none fails the run.
    pub approved_by: Option<String>,
}

/// A commit's `Allow-Breaking:` trailer: the commit and the prompts it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub commit: String,
    pub prompts: Vec<String>,
}

impl Approval {
    fn covers(&self, prompt: &str) -> bool {
        self.prompts.iter().any(|p| p == prompt || p == "all")
    }
}

/// The breaking changes of a diff, each with its approval, if any.
pub fn breaking_changes(
    diff: &SourceDiff,
    folder: &str,
    allow_all: bool,
    approvals: &[Approval],
) -> Vec<BreakingChange> {
    diff.breaking()
        .map(|(prompt, judged)| BreakingChange {
            prompt: prompt.name.clone(),
            file: format!("{folder}/{}.toml", prompt.name),
            path: judged.change.path.clone(),
            kind: judged.change.kind,
            detail: judged.change.detail.clone(),
            compatibility: prompt.compatibility.unwrap_or_default(),
            approved_by: if allow_all {
                Some("--allow-breaking".into())
            } else {
                approvals
                    .iter()
                    .find(|a| a.covers(&prompt.name))
                    .map(|a| format!("an `{TRAILER}` trailer on {}", a.commit))
            },
        })
        .collect()
}

/// The `Allow-Breaking:` trailers of the commits on HEAD that `base` does not have.
pub fn trailer_approvals(
    repo: &git2::Repository,
    base: Option<&str>,
) -> Result<Vec<Approval>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.push_head()?;
    if let Some(base) = base {
        walk.hide(git2::Oid::from_str(base)?)?;
    }
    let mut approvals = Vec::new();
    for id in walk {
        let commit = repo.find_commit(id?)?;
        let Ok(message) = commit.message() else {
            continue;
        };
        let Ok(trailers) = git2::message_trailers_strs(message) else {
            continue;
        };
        for (key, value) in trailers.iter() {
            if key.eq_ignore_ascii_case(TRAILER) {
                approvals.push(Approval {
                    commit: commit.id().to_string()[..7].to_owned(),
                    prompts: value
                        .split(',')
                        .map(|p| p.trim().to_owned())
                        .filter(|p| !p.is_empty())
                        .collect(),
                });
            }
        }
    }
    Ok(approvals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_are_read_from_the_last_paragraph_as_git_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let signature = git2::Signature::now("t", "t@example.com").unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let base = repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                "base\n\nAllow-Breaking: all\n",
                &tree,
                &[],
            )
            .unwrap();
        let parent = repo.find_commit(base).unwrap();
        let middle = repo.commit(Some("HEAD"), &signature, &signature, "Widen the queue\n\nAllow-Breaking: in the body is not a trailer\n\nSigned-off-by: t\nallow-breaking: support/triage, sales/score\n", &tree, &[&parent]).unwrap();
        let parent = repo.find_commit(middle).unwrap();
        repo.commit(
            Some("HEAD"),
            &signature,
            &signature,
            "Plain\n",
            &tree,
            &[&parent],
        )
        .unwrap();
        let approvals = trailer_approvals(&repo, Some(&base.to_string())).unwrap();
        assert_eq!(approvals.len(), 1, "{approvals:?}");
        assert_eq!(approvals[0].prompts, ["support/triage", "sales/score"]);
        assert!(approvals[0].covers("sales/score") && !approvals[0].covers("support/reply"));
    }
}
