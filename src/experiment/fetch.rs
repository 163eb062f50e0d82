//! Reading the experiment figures of running servers (`GET /v1/experiments`), so that
//! `experiment status --from` judges on what every replica received.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::figures::ExperimentFigures;
use crate::prompt::PromptName;
use crate::rollout::{FetchError, fetch_client, get_json};

#[derive(Deserialize)]
struct Body {
    experiments: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: PromptName,
    figures: ExperimentFigures,
}

/// The figures of a fleet: each prompt's experiment, merged over the replicas that
/// answered, and why the others could not be read.
#[derive(Debug, Default)]
pub struct FleetFigures {
    pub figures: BTreeMap<PromptName, Vec<ExperimentFigures>>,
    pub unread: Vec<FetchError>,
}

impl FleetFigures {
    /// The merged figures of experiment `name` on `prompt`.
    pub fn of(&self, prompt: &PromptName, name: &str) -> ExperimentFigures {
        let mut merged = ExperimentFigures {
            experiment: name.to_owned(),
            arms: BTreeMap::new(),
        };
        for figures in self.figures.get(prompt).into_iter().flatten() {
            merged.merge(figures);
        }
        merged
    }
}

/// Reads every server in `urls`. A replica that cannot be read is named in `unread`; only
/// when none answers is it an error.
pub fn fetch_figures(urls: &[String]) -> Result<FleetFigures, FetchError> {
    let client = fetch_client()?;
    let mut fleet = FleetFigures::default();
    for url in urls {
        match get_json::<Body>(&client, url, "/v1/experiments", "experiments") {
            Ok(body) => {
                for entry in body.experiments {
                    fleet
                        .figures
                        .entry(entry.name)
                        .or_default()
                        .push(entry.figures);
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
