//! The feedback figures of an experiment's arms: counts and sums that merge by adding, so
//! that replicas (or Prometheus series) add up to the fleet's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one arm received: reports and errors, and the experiment's metric value (its count,
/// sum and sum of squares, for a mean and a variance).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmFigures {
    pub reports: u64,
    pub errors: u64,
    /// Reports that carried the metric's value (`score`, or `metrics.NAME`).
    pub values: u64,
    pub sum: f64,
    pub squares: f64,
}

impl ArmFigures {
    /// Adds one report: whether it was an error, and the metric's value if it had one.
    pub fn add(&mut self, error: bool, value: Option<f64>) {
        self.reports += 1;
        self.errors += u64::from(error);
        if let Some(value) = value {
            self.values += 1;
            self.sum += value;
            self.squares += value * value;
        }
    }

    /// Adds another replica's figures.
    pub fn merge(&mut self, other: &ArmFigures) {
        self.reports += other.reports;
        self.errors += other.errors;
        self.values += other.values;
        self.sum += other.sum;
        self.squares += other.squares;
    }
}

/// The figures of one experiment: its name and each arm's, by arm name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExperimentFigures {
    pub experiment: String,
    pub arms: BTreeMap<String, ArmFigures>,
}

impl ExperimentFigures {
    /// Adds another replica's figures of the same experiment; another experiment's (one
    /// that replaced it on a replica not yet reloaded) are left out.
    pub fn merge(&mut self, other: &ExperimentFigures) {
        if other.experiment != self.experiment {
            return;
        }
        for (arm, figures) in &other.arms {
            self.arms.entry(arm.clone()).or_default().merge(figures);
        }
    }
}
