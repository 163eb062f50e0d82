//! Reading the feedback windows of running servers (`GET /v1/rollouts`), so that a
//! controller run from cron judges on what every replica received.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::stats::Window;
use crate::prompt::PromptName;

const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct Body {
    rollouts: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: PromptName,
    window: Window,
}

/// Reads and merges the windows of every server in `urls` (`http://host:7070`). Windows of
/// the same step add up; of different steps, the latest step wins, since older ones no
/// longer matter.
pub fn fetch_windows(urls: &[String]) -> Result<BTreeMap<PromptName, Window>, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let mut merged: BTreeMap<PromptName, Window> = BTreeMap::new();
    for url in urls {
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
        for entry in body.rollouts {
            merge_into(&mut merged, entry.name, entry.window);
        }
    }
    Ok(merged)
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
