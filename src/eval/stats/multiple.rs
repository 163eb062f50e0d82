//! Comparisons of several arms against one reference: Holm's step-down adjustment of their
//! p-values, which holds the family-wise error (the chance that any arm is called different
//! when none is) at the level, whatever their dependence. The values are pinned to
//! statsmodels' `multipletests(method="holm")` (docs/stats-reference.py).

/// Holm's adjusted p-values, in the order given: the i-th smallest p (0-based) is multiplied
/// by `m − i`, the running maximum keeps the adjusted values in the p-values' order, and
/// nothing exceeds 1. An arm differs at level `α` when its adjusted p is at most `α`.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    // A NaN p-value (a comparison that could not be made) sorts last and stays NaN-free:
    // it is adjusted to 1, never to a value that could call an arm different.
    let key = |i: &usize| {
        let p = p_values[*i];
        if p.is_nan() { f64::INFINITY } else { p }
    };
    order.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0_f64;
    for (rank, &index) in order.iter().enumerate() {
        let p = key(&index);
        let scaled = ((m - rank) as f64 * p).min(1.0);
        running = running.max(scaled);
        adjusted[index] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from statsmodels 0.15.0 `multipletests(p, method="holm")`, printed by
    /// docs/stats-reference.py.
    const REFERENCE: [(&[f64], &[f64]); 7] = [
        (&[0.01, 0.04, 0.03, 0.005], &[0.03, 0.06, 0.06, 0.02]),
        (&[0.5], &[0.5]),
        (&[0.001, 0.001, 0.2], &[0.003, 0.003, 0.2]),
        (
            &[0.04, 0.03, 0.02, 0.01, 0.9],
            &[0.09, 0.09, 0.08, 0.05, 0.9],
        ),
        (
            &[0.3, 0.2, 0.1, 0.04, 0.03, 0.6, 0.001, 0.02],
            &[0.6, 0.6, 0.4, 0.2, 0.18, 0.6, 0.008, 0.14],
        ),
        (&[1.0, 0.0, 0.5], &[1.0, 0.0, 1.0]),
        (&[0.012, 0.012, 0.012], &[0.036, 0.036, 0.036]),
    ];

    #[test]
    fn holm_matches_statsmodels() {
        for (p, expected) in REFERENCE {
            let adjusted = holm(p);
            assert_eq!(adjusted.len(), expected.len());
            for (a, e) in adjusted.iter().zip(expected) {
                assert!(
                    (a - e).abs() < 1e-12,
                    "{p:?}: {adjusted:?} against {expected:?}"
                );
            }
        }
    }

    #[test]
    fn an_arm_that_could_not_be_compared_is_never_called_different() {
        let adjusted = holm(&[0.001, f64::NAN, 0.02]);
        assert_eq!(adjusted[1], 1.0);
        assert!((adjusted[0] - 0.003).abs() < 1e-12 && (adjusted[2] - 0.04).abs() < 1e-12);
        assert!(holm(&[]).is_empty());
    }
}
