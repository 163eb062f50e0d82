//! The arms no other arm beats: the Pareto front of pass rate (higher is better) against
//! cost per case and latency (lower is better), and the best arm within a budget.

/// One arm's figures: `None` for a figure that could not be measured (no case evaluated,
/// no price): such an arm is never on the front.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmFigures {
    pub pass_rate: Option<f64>,
    pub cost_per_case: Option<f64>,
    pub latency_ms: Option<f64>,
}

impl ArmFigures {
    fn measured(&self) -> Option<(f64, f64, f64)> {
        let figures = (self.pass_rate?, self.cost_per_case?, self.latency_ms?);
        [figures.0, figures.1, figures.2]
            .iter()
            .all(|f| f.is_finite())
            .then_some(figures)
    }

    /// Tells whether this arm is at least as good as `other` on every figure and better on
    /// one.
    fn dominates(&self, other: &ArmFigures) -> bool {
        let (Some(a), Some(b)) = (self.measured(), other.measured()) else {
            return false;
        };
        let no_worse = a.0 >= b.0 && a.1 <= b.1 && a.2 <= b.2;
        let better = a.0 > b.0 || a.1 < b.1 || a.2 < b.2;
        no_worse && better
    }
}

/// Whether each arm is on the front: measured, and beaten by no other arm.
pub fn pareto_front(arms: &[ArmFigures]) -> Vec<bool> {
    arms.iter()
        .map(|arm| arm.measured().is_some() && !arms.iter().any(|other| other.dominates(arm)))
        .collect()
}

/// The arm on the front with the highest pass rate whose cost per case is within `budget`
/// (ties: the cheaper, then the faster, then the first); none when no arm fits.
pub fn best_within(arms: &[ArmFigures], budget: f64) -> Option<usize> {
    let front = pareto_front(arms);
    (0..arms.len())
        .filter(|&i| front[i])
        .filter_map(|i| Some((i, arms[i].measured()?)))
        .filter(|(_, (_, cost, _))| *cost <= budget)
        .max_by(|(i, a), (j, b)| {
            a.0.total_cmp(&b.0)
                .then(b.1.total_cmp(&a.1))
                .then(b.2.total_cmp(&a.2))
                .then(j.cmp(i))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(pass_rate: f64, cost: f64, latency: f64) -> ArmFigures {
        ArmFigures {
            pass_rate: Some(pass_rate),
            cost_per_case: Some(cost),
            latency_ms: Some(latency),
        }
    }

    #[test]
    fn the_front_holds_the_arms_no_other_beats_on_every_figure() {
        let arms = [
            arm(0.90, 0.010, 800.0), // best quality
            arm(0.85, 0.002, 300.0), // cheap and fast
            arm(0.84, 0.003, 400.0), // beaten by the one above
            arm(0.90, 0.010, 900.0), // beaten by the first: same, but slower
            ArmFigures {
                pass_rate: None,
                ..arm(1.0, 0.0, 0.0)
            }, // nothing evaluated
        ];
        assert_eq!(pareto_front(&arms), [true, true, false, false, false]);
        let twins = [arm(0.8, 0.01, 100.0), arm(0.8, 0.01, 100.0)];
        assert_eq!(
            pareto_front(&twins),
            [true, true],
            "equal arms beat neither"
        );
    }

    #[test]
    fn a_budget_picks_the_best_arm_that_fits() {
        let arms = [
            arm(0.90, 0.010, 800.0),
            arm(0.85, 0.002, 300.0),
            arm(0.70, 0.001, 200.0),
        ];
        assert_eq!(best_within(&arms, 0.02), Some(0));
        assert_eq!(best_within(&arms, 0.005), Some(1));
        assert_eq!(best_within(&arms, 0.0005), None);
        let unpriced = [
            ArmFigures {
                cost_per_case: None,
                ..arm(0.99, 0.0, 1.0)
            },
            arm(0.5, 0.001, 1.0),
        ];
        assert_eq!(
            best_within(&unpriced, 1.0),
            Some(1),
            "an arm without a cost never fits"
        );
    }
}
