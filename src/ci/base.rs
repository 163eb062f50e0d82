//! Which revision a pre-merge check compares the working tree with: the merge base of `HEAD`
//! and the branch the change will merge into.

use serde::Serialize;

use super::CiError;
use crate::project::Project;
use crate::source::{RevisionSpec, parse_spec};

/// Branches tried, in order, when the repository does not say which branch is the default.
const DEFAULT_BRANCHES: [&str; 4] = ["origin/main", "origin/master", "main", "master"];

/// The base of a comparison and how it was found.
#[derive(Debug, Clone, Serialize)]
pub struct Base {
    /// What to read the old versions from: for a branch, its merge base with `HEAD` as a
    /// commit id.
    #[serde(skip)]
    pub spec: RevisionSpec,
    /// The revision as given or found (`origin/main`, `active`).
    pub revision: String,
    /// The commit compared with, for git revisions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// How the base was chosen, in words.
    pub how: String,
}

impl Base {
    /// The compared commit as people are shown commits (`shortid`).
    pub fn short_commit(&self) -> Option<&str> {
        self.commit.as_deref().map(crate::base::shortid::commit)
    }
}

/// Where the base comes from, in order of precedence.
#[derive(Debug, Clone, Default)]
pub struct BaseRequest {
    /// `--base`: any revision spec.
    pub given: Option<String>,
    /// `$GITHUB_BASE_REF`: the branch a pull request merges into.
    pub github_base_ref: Option<String>,
}

/// Picks the base: `--base`, else the pull request's target branch, else the repository's
/// default branch. A git revision is compared through its merge base with `HEAD`, as
/// `git diff BASE...HEAD` does, so that changes merged into the branch since this one
/// forked are not shown as reverted here.
pub fn resolve_base(project: &Project, request: &BaseRequest) -> Result<Base, CiError> {
    if let Some(given) = &request.given {
        return match parse_spec(given)? {
            RevisionSpec::Git(rev) => {
                let (repo, _) = project.repository()?;
                merge_base(&repo, &rev, "given with --base")
            }
            spec => Ok(Base {
                revision: given.clone(),
                spec,
                commit: None,
                how: "given with --base".into(),
            }),
        };
    }
    let (repo, _) = project.repository()?;
    if repo.head().and_then(|h| h.peel_to_commit()).is_err() {
        return Err(CiError::NoHead);
    }
    if let Some(branch) = request
        .github_base_ref
        .as_deref()
        .filter(|b| !b.trim().is_empty())
    {
        let candidates = [format!("origin/{branch}"), branch.to_owned()];
        let Some(found) = candidates.iter().find(|c| resolves(&repo, c)) else {
            return Err(CiError::BaseRefMissing {
                branch: branch.to_owned(),
            });
        };
        return merge_base(&repo, found, "the pull request's target ($GITHUB_BASE_REF)");
    }
    let branch = default_branch(&repo).ok_or(CiError::NoDefaultBranch)?;
    merge_base(&repo, &branch, "the default branch")
}

/// The default branch: what `origin/HEAD` points to, else the first of
/// [`DEFAULT_BRANCHES`] that exists.
fn default_branch(repo: &git2::Repository) -> Option<String> {
    let from_remote = repo
        .find_reference("refs/remotes/origin/HEAD")
        .ok()
        .and_then(|r| r.symbolic_target().ok().flatten().map(str::to_owned))
        .and_then(|target| {
            target
                .strip_prefix("refs/remotes/")
                .map(str::to_owned)
                .filter(|name| resolves(repo, name))
        });
    from_remote.or_else(|| {
        DEFAULT_BRANCHES
            .iter()
            .find(|name| resolves(repo, name))
            .map(|name| (*name).to_owned())
    })
}

fn resolves(repo: &git2::Repository, rev: &str) -> bool {
    repo.revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .is_ok()
}

/// The merge base of `HEAD` and `rev`, as a base.
fn merge_base(repo: &git2::Repository, rev: &str, how: &str) -> Result<Base, CiError> {
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|_| CiError::NoHead)?;
    let target = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|source| CiError::UnknownBase {
            revision: rev.to_owned(),
            source,
        })?;
    let commit = repo
        .merge_base(head.id(), target.id())
        .map_err(|_| CiError::NoMergeBase {
            revision: rev.to_owned(),
            shallow: repo.is_shallow(),
        })?
        .to_string();
    let how = if commit == target.id().to_string() {
        how.to_owned()
    } else {
        format!("{how}, through its merge base with HEAD")
    };
    // As git abbreviates it: seven digits, more where seven would name two objects, so
    // that the spec shown in reports also finds the commit again.
    let abbreviated = git2::Oid::from_str(&commit)
        .and_then(|id| repo.find_object(id, None))
        .and_then(|object| object.short_id())
        .ok()
        .and_then(|id| id.as_str().ok().map(str::to_owned))
        .unwrap_or_else(|| commit.clone());
    Ok(Base {
        spec: RevisionSpec::Git(abbreviated),
        revision: rev.to_owned(),
        commit: Some(commit),
        how,
    })
}
