//! Reading the feedback windows of running servers (`GET /v1/rollouts`), so that a
//! controller run from cron judges on what every replica received.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::stats::Window;
use crate::prompt::PromptName;

const FETCH_TIMEOUT: Duration = crate::base::http::DEFAULT_TIMEOUT;

#[derive(Deserialize)]
struct Body {
    rollouts: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: PromptName,
    window: Window,
}

/// The feedback of a fleet: the merged windows of the replicas that answered, and the
/// ones that did not, with why.
#[derive(Debug, Default)]
pub struct Fleet {
    pub windows: BTreeMap<PromptName, Window>,
    pub unread: Vec<FetchError>,
}

/// Why a server's feedback windows could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot start an HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot read {endpoint}: {source}")]
    Unreachable {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{endpoint} answered {status}")]
    Status {
        endpoint: String,
        status: reqwest::StatusCode,
    },
    #[error("{endpoint} did not answer {what} JSON: {source}")]
    NotJson {
        endpoint: String,
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// No server answered: each one's reason.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    NoneAnswered(Vec<FetchError>),
}

/// Reads and merges the windows of every server in `urls` (`http://host:7070`). Windows of
/// the same step add up; of different steps, the latest step wins, since older ones no
/// longer matter. A replica that cannot be read is named in `unread` and the others are
/// judged on: a breach seen on part of the fleet is a breach. Only when none answers is it
/// an error.
pub fn fetch_windows(urls: &[String]) -> Result<Fleet, FetchError> {
    let client = fetch_client()?;
    let mut fleet = Fleet::default();
    for url in urls {
        match fetch_one(&client, url) {
            Ok(entries) => {
                for entry in entries {
                    merge_into(&mut fleet.windows, entry.name, entry.window);
                }
            }
            Err(reason) => fleet.unread.push(reason),
        }
    }
    if !urls.is_empty() && fleet.unread.len() == urls.len() {
        return Err(FetchError::NoneAnswered(fleet.unread));
    }
    Ok(fleet)
}

fn fetch_one(client: &reqwest::blocking::Client, url: &str) -> Result<Vec<Entry>, FetchError> {
    let body: Body = get_json(client, url, "/v1/rollouts", "rollouts")?;
    Ok(body.rollouts)
}

/// A client for reading servers' feedback, with the fetch timeout.
pub fn fetch_client() -> Result<reqwest::blocking::Client, FetchError> {
    crate::base::http::blocking_client()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(FetchError::Client)
}

/// Reads `path` of the server at `url` as JSON of `what` (named in errors).
pub fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::blocking::Client,
    url: &str,
    path: &str,
    what: &'static str,
) -> Result<T, FetchError> {
    let endpoint = format!("{}{path}", url.trim_end_matches('/'));
    let response = client
        .get(&endpoint)
        .send()
        .map_err(|e| FetchError::Unreachable {
            endpoint: endpoint.clone(),
            source: e.without_url(),
        })?;
    if !response.status().is_success() {
        return Err(FetchError::Status {
            endpoint,
            status: response.status(),
        });
    }
    response.json().map_err(|e| FetchError::NotJson {
        endpoint: endpoint.clone(),
        what,
        source: e.without_url(),
    })
}

fn merge_into(merged: &mut BTreeMap<PromptName, Window>, name: PromptName, window: Window) {
    match merged.get_mut(&name) {
        Some(kept) if kept.key == window.key => kept.merge(&window),
        Some(kept) if kept.key.step_started >= window.key.step_started => {}
        _ => {
            merged.insert(name, window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Sample;
    use crate::store::StepKey;

    #[test]
    fn the_same_step_adds_up_and_a_later_step_replaces() {
        let key = StepKey {
            canary: format!("sha256:{}", "c".repeat(64)).parse().unwrap(),
            step: 0,
            step_started: 100,
        };
        let name = PromptName::parse("a/b").unwrap();
        let mut one = Window::new(key);
        one.canary.add(&Sample::default());
        let mut merged = BTreeMap::new();
        merge_into(&mut merged, name.clone(), one.clone());
        merge_into(&mut merged, name.clone(), one.clone());
        assert_eq!(merged[&name].canary.reports, 2);
        let older = Window::new(StepKey {
            step_started: 50,
            ..key
        });
        merge_into(&mut merged, name.clone(), older);
        assert_eq!(merged[&name].canary.reports, 2);
        let later = Window::new(StepKey {
            step: 1,
            step_started: 200,
            ..key
        });
        merge_into(&mut merged, name.clone(), later.clone());
        assert_eq!(merged[&name], later);
    }
}
