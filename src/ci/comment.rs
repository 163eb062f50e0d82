//! The pull-request comment of `promptctl ci --comment`: one comment per pull request,
//! created the first time and edited on every rerun, found again by a hidden marker.
//!
//! GitHub's REST API: list the issue's comments, then `PATCH` the one with the marker or
//! `POST` a new one. A token that may not write (a forked pull request's) is a refusal to
//! report, never a failed check.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

/// Marks the comment as promptctl's, so that a rerun edits it instead of adding another.
pub const MARKER: &str = "<!-- promptctl-ci -->";

/// GitHub refuses comments over 65,536 characters; the report is cut well before.
pub const MAX_COMMENT_CHARS: usize = 60_000;

/// How long one API call may take.
pub const API_TIMEOUT: Duration = crate::base::http::DEFAULT_TIMEOUT;

/// Comments listed to find the marked one (100 a page).
const MAX_PAGES: usize = 10;

/// Where the comment goes.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// `https://api.github.com`, or `GITHUB_API_URL` (GitHub Enterprise, a test's fake).
    pub api_url: String,
    /// `owner/name`.
    pub repository: String,
    pub number: u64,
    pub token: String,
}

impl PullRequest {
    /// The pull request a GitHub Actions workflow runs for, from its environment (read
    /// through `var`): `GITHUB_TOKEN`, `GITHUB_REPOSITORY`, the number from the event file
    /// or the ref ([`pull_request_number`]), and `GITHUB_API_URL` (default
    /// `https://api.github.com`). `None` outside a pull request's workflow.
    pub fn from_github_env(var: impl Fn(&str) -> Option<String>) -> Option<PullRequest> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let event = var("GITHUB_EVENT_PATH").and_then(|path| std::fs::read_to_string(path).ok());
        let number = pull_request_number(event.as_deref(), var("GITHUB_REF").as_deref())?;
        Some(PullRequest {
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            repository: var("GITHUB_REPOSITORY")?,
            number,
            token: var("GITHUB_TOKEN")?,
        })
    }
}

/// What became of the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commented {
    Created {
        id: u64,
    },
    Updated {
        id: u64,
    },
    /// The token may not comment (403/404: a forked pull request's read-only token).
    NotAllowed {
        status: u16,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("cannot comment on the pull request: {0}")]
pub struct CommentError(String);

#[derive(Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

/// The comment's text: the marker, then the report, cut to GitHub's limit.
pub fn comment_body(markdown: &str) -> String {
    let mut body = format!("{MARKER}\n{markdown}");
    if body.chars().count() > MAX_COMMENT_CHARS {
        let cut: String = body.chars().take(MAX_COMMENT_CHARS).collect();
        body = format!(
            "{cut}\n\n… (cut at {MAX_COMMENT_CHARS} characters: the step summary and `--markdown` have it all)\n"
        );
    }
    body
}

/// Creates the comment, or edits the one a previous run left.
pub fn comment(pr: &PullRequest, markdown: &str) -> Result<Commented, CommentError> {
    let client = crate::base::http::blocking_client()
        .timeout(API_TIMEOUT)
        .user_agent(concat!("promptctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CommentError(e.to_string()))?;
    let api = pr.api_url.trim_end_matches('/');
    let request = |method: reqwest::Method, url: String| {
        client
            .request(method, url)
            .bearer_auth(&pr.token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
    };
    let send = |builder: reqwest::blocking::RequestBuilder| {
        builder
            .send()
            .map_err(|e| CommentError(e.without_url().to_string()))
    };
    let mut existing = None;
    for page in 1..=MAX_PAGES {
        let url = format!(
            "{api}/repos/{}/issues/{}/comments?per_page=100&page={page}",
            pr.repository, pr.number
        );
        let response = send(request(reqwest::Method::GET, url))?;
        if let Some(refused) = refusal(response.status()) {
            return Ok(refused);
        }
        let comments: Vec<Comment> = read_json(response)?;
        let last_page = comments.len() < 100;
        existing = comments
            .into_iter()
            .find(|c| c.body.as_deref().is_some_and(|b| b.contains(MARKER)));
        if existing.is_some() || last_page {
            break;
        }
    }
    let body = json!({ "body": comment_body(markdown) });
    let (method, url) = match &existing {
        Some(found) => (
            reqwest::Method::PATCH,
            format!("{api}/repos/{}/issues/comments/{}", pr.repository, found.id),
        ),
        None => (
            reqwest::Method::POST,
            format!(
                "{api}/repos/{}/issues/{}/comments",
                pr.repository, pr.number
            ),
        ),
    };
    let response = send(request(method, url).json(&body))?;
    if let Some(refused) = refusal(response.status()) {
        return Ok(refused);
    }
    let written: Comment = read_json(response)?;
    Ok(match existing {
        Some(_) => Commented::Updated { id: written.id },
        None => Commented::Created { id: written.id },
    })
}

/// 403 and 404 mean the token may not see or write the comments.
fn refusal(status: reqwest::StatusCode) -> Option<Commented> {
    matches!(status.as_u16(), 403 | 404).then_some(Commented::NotAllowed {
        status: status.as_u16(),
    })
}

fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::blocking::Response,
) -> Result<T, CommentError> {
    let status = response.status();
    if !status.is_success() {
        return Err(CommentError(format!("GitHub answered {status}")));
    }
    response
        .json()
        .map_err(|e| CommentError(format!("GitHub's answer is not what its API gives: {e}")))
}

/// The pull request the workflow runs for: its number from the event file
/// (`GITHUB_EVENT_PATH`, `pull_request.number`) or from `GITHUB_REF` (`refs/pull/N/merge`).
pub fn pull_request_number(event: Option<&str>, git_ref: Option<&str>) -> Option<u64> {
    let from_event = event
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|e| e["pull_request"]["number"].as_u64());
    from_event.or_else(|| {
        git_ref?
            .strip_prefix("refs/pull/")?
            .split('/')
            .next()?
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_comes_from_the_event_or_the_ref() {
        let event = r#"{"pull_request": {"number": 42}}"#;
        assert_eq!(pull_request_number(Some(event), None), Some(42));
        assert_eq!(
            pull_request_number(None, Some("refs/pull/7/merge")),
            Some(7)
        );
        assert_eq!(
            pull_request_number(Some("{}"), Some("refs/heads/main")),
            None
        );
    }

    #[test]
    fn the_body_is_marked_and_cut_to_the_limit() {
        let body = comment_body("## promptctl ci\n");
        assert!(body.starts_with(MARKER));
        let long = comment_body(&"x".repeat(100_000));
        assert!(long.chars().count() < 65_536);
        assert!(long.contains("cut at 60000 characters"));
    }
}
