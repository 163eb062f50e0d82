//! Always-valid comparisons of two arms: the normal-mixture sequential test (Robbins 1970;
//! Johari, Pekelis and Walsh, "Always valid inference", 2022) that the canary gate uses
//! (`crate::rollout::sequential`), here as a p-value, so that several comparisons can share
//! one family-wise error rate by Holm's procedure.
//!
//! With the difference of two means `d̂`, its variance `V` (plug-in, normal approximation)
//! and the mixing scale `τ`, the mixture likelihood ratio against "no difference" is
//!
//! ```text
//! Λ = sqrt( V / (V + τ²) ) · exp( τ²·d̂² / (2·V·(V + τ²)) )
//! ```
//!
//! and `p = min(1, 1/Λ)` is always valid: under no difference, the chance that it ever
//! falls to `α`, however often one looks, is at most `α`. Holm's procedure over always-valid
//! p-values holds the family-wise error at any stopping time. The same boundary gives the
//! always-valid interval `|d̂ − d| ≤ margin(V, τ, α)`.

/// The always-valid p-value of a difference `d` with variance `v`, mixing scale `tau`.
pub fn p_value(d: f64, v: f64, tau: f64) -> f64 {
    if !(d.is_finite() && v.is_finite() && v > 0.0 && tau > 0.0) {
        return 1.0;
    }
    let t2 = tau * tau;
    let log_lambda = 0.5 * (v / (v + t2)).ln() + t2 * d * d / (2.0 * v * (v + t2));
    (-log_lambda).exp().min(1.0)
}

/// The always-valid margin at level `alpha`: `|d̂ − d|` stays within it at every look with
/// probability at least `1 − alpha`.
pub fn margin(v: f64, tau: f64, alpha: f64) -> f64 {
    if v <= 0.0 {
        return 0.0;
    }
    let t2 = tau * tau;
    (2.0 * v * (v + t2) / t2 * ((1.0 / alpha).ln() + 0.5 * ((v + t2) / v).ln())).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_p_value_and_the_margin_draw_the_same_boundary() {
        // p ≤ α exactly when |d| is past the margin at α.
        let (v, tau, alpha) = (0.0004, 0.02, 0.05);
        let m = margin(v, tau, alpha);
        assert!(p_value(m * 1.001, v, tau) < alpha);
        assert!(p_value(m * 0.999, v, tau) > alpha);
        assert!((p_value(m, v, tau) - alpha).abs() < 1e-9);
        // The canary gate's margin is this one at its α.
        let gate = crate::rollout::sequential::margin(v, tau);
        assert!((gate - margin(v, tau, crate::rollout::sequential::ALPHA)).abs() < 1e-12);
    }

    #[test]
    fn nothing_to_judge_is_never_significant() {
        assert_eq!(p_value(0.0, 0.001, 0.02), 1.0);
        assert_eq!(p_value(0.5, 0.0, 0.02), 1.0);
        assert_eq!(p_value(f64::NAN, 0.001, 0.02), 1.0);
    }
}
