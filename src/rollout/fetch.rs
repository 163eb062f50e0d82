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
    pub unread: Vec<String>,
}

/// Reads and merges the windows of every server in `urls` (`http://host:7070`). Windows of
/// the same step add up; of different steps, the latest step wins, since older ones no
/// longer matter. A replica that cannot be read is named in `unread` and the others are
/// judged on: a breach seen on part of the fleet is a breach. Only when none answers is it
/// an error.
pub fn fetch_windows(urls: &[String]) -> Result<Fleet, String> {
    let client = crate::base::http::blocking_client()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
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
        return Err(fleet.unread.join("; "));
    }
    Ok(fleet)
}

fn fetch_one(client: &reqwest::blocking::Client, url: &str) -> Result<Vec<Entry>, String> {
    let endpoint = format!("{}/v1/rollouts", url.trim_end_matches('/'));
    let response = client
        .get(&endpoint)
        .send()
        .map_err(|e| format!("cannot read {endpoint}: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("{endpoint} answered {}", response.status()));
    }
    let body: Body = response.json().map_err(|e| {
        format!(
            "{endpoint} did not answer rollouts JSON: {}",
            e.without_url()
        )
    })?;
    Ok(body.rollouts)
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
