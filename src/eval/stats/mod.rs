//! How sure a comparison is: the paired tests, intervals and sample sizes behind each
//! suite's verdict. Pure functions of counts; the formulas and the reference vectors that
//! pin them are in docs/evals.md.
//!
//! With one sample per case, the cases form a 2×2 table (passed or failed on each
//! version): the p-value is the exact McNemar test on the discordant cases, the interval
//! for the pass-rate difference is Newcombe's hybrid score interval for paired proportions
//! (his method 10, 1998). With several samples per case, each case has a pass fraction per
//! version: the p-value is the exact sign test on the cases that moved, the interval a
//! Student t interval on the per-case differences.

mod distributions;

pub use distributions::{normal_quantile, student_t_quantile};

/// The two-sided z for a 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;
/// The z for 80% power, which the sample-size hint aims at.
const Z_POWER_80: f64 = 0.841_621_233_572_914_3;
/// The level at which a difference is called significant when the gate sets none.
pub const DEFAULT_LEVEL: f64 = 0.05;
/// The smallest drop worth detecting, in points, for "inconclusive" and its hint.
pub const DETECTABLE_DROP_POINTS: f64 = 3.0;

/// What the comparison says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A drop significant at the level.
    Regressed,
    /// A rise significant at the level.
    Improved,
    /// No significant difference, and the interval rules out a drop worth detecting.
    NoSignificantChange,
    /// No significant difference, but too few cases to rule out a drop worth detecting.
    Inconclusive,
}

/// The paired comparison of a suite's two versions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// `exact McNemar` (one sample per case) or `sign test` (several).
    pub test: &'static str,
    /// Cases compared: evaluated without error on both versions.
    pub cases: usize,
    /// Cases worse on the new version.
    pub regressed: usize,
    /// Cases better on the new version.
    pub fixed: usize,
    /// New pass rate minus old, in points.
    pub delta_points: f64,
    /// The 95% confidence interval of `delta_points`.
    pub interval_points: [f64; 2],
    pub p_value: f64,
    /// The level `verdict` was decided at.
    pub level: f64,
    pub verdict: Verdict,
    /// About how many more cases would detect a drop of `DETECTABLE_DROP_POINTS` with 80%
    /// power, when the verdict is inconclusive.
    pub more_cases_needed: Option<usize>,
}

impl Comparison {
    /// The verdict in words: `regressed (p = 0.01)`, `inconclusive: about 240 more cases
    /// would detect a 3-point drop`.
    pub fn words(&self) -> String {
        if self.cases == 0 {
            return "inconclusive: no case was evaluated on both versions".into();
        }
        let p = format_p(self.p_value);
        match self.verdict {
            Verdict::Regressed => format!("regressed (p = {p})"),
            Verdict::Improved => format!("improved (p = {p})"),
            Verdict::NoSignificantChange => format!("no significant change (p = {p})"),
            Verdict::Inconclusive => match self.more_cases_needed {
                Some(n) => format!(
                    "inconclusive (p = {p}): about {n} more cases would detect a {DETECTABLE_DROP_POINTS:.0}-point drop"
                ),
                None => format!("inconclusive (p = {p})"),
            },
        }
    }
}

/// Shows a p-value with two significant digits: `0.62`, `0.013`, `3.2e-13`.
pub fn format_p(p: f64) -> String {
    if p >= 0.001 {
        let digits = (1 - p.log10().floor() as i32).max(2) as usize;
        let text = format!("{p:.digits$}");
        if text == "1.0" || text == "1.00" {
            "1".into()
        } else {
            text
        }
    } else {
        format!("{p:.1e}")
    }
}

/// Compares cases with one sample each: `pairs` holds (passed on base, passed on head).
pub fn compare_single(pairs: &[(bool, bool)], level: f64) -> Comparison {
    let n = pairs.len();
    let count = |want: (bool, bool)| pairs.iter().filter(|p| **p == want).count();
    let (a, b, c, d) = (
        count((true, true)),
        count((true, false)),
        count((false, true)),
        count((false, false)),
    );
    let p_value = exact_binomial_two_sided(b, c);
    let interval = newcombe_paired(a, b, c, d);
    let delta = if n == 0 {
        0.0
    } else {
        (c as f64 - b as f64) / n as f64
    };
    let psi = if n == 0 {
        0.0
    } else {
        (b + c) as f64 / n as f64
    };
    let needed = mcnemar_sample_size(psi, DETECTABLE_DROP_POINTS / 100.0, level);
    finish(
        "exact McNemar",
        n,
        b,
        c,
        delta,
        interval,
        p_value,
        level,
        needed,
    )
}

/// Compares cases with several samples each: `fractions` holds each case's pass fraction
/// on base and on head.
pub fn compare_repeated(fractions: &[(f64, f64)], level: f64) -> Comparison {
    let k = fractions.len();
    let diffs: Vec<f64> = fractions.iter().map(|(b, h)| h - b).collect();
    let worse = diffs.iter().filter(|d| **d < -1e-12).count();
    let better = diffs.iter().filter(|d| **d > 1e-12).count();
    let p_value = exact_binomial_two_sided(worse, better);
    let mean = if k == 0 {
        0.0
    } else {
        diffs.iter().sum::<f64>() / k as f64
    };
    let sd = sample_sd(&diffs, mean);
    let interval = if k >= 2 && sd > 0.0 {
        let half = student_t_quantile(0.975, (k - 1) as f64) * sd / (k as f64).sqrt();
        ((mean - half).max(-1.0), (mean + half).min(1.0))
    } else {
        // No spread to measure (every case moved alike, or one case): the interval of
        // the all-samples-passed table, which still widens as cases get fewer.
        let pairs: Vec<(bool, bool)> = fractions
            .iter()
            .map(|(b, h)| (*b >= 1.0, *h >= 1.0))
            .collect();
        let count = |want| pairs.iter().filter(|p| **p == want).count();
        let (lo, hi) = newcombe_paired(
            count((true, true)),
            count((true, false)),
            count((false, true)),
            count((false, false)),
        );
        (mean + lo.min(0.0), mean + hi.max(0.0))
    };
    let drop = DETECTABLE_DROP_POINTS / 100.0;
    let needed = t_sample_size(sd.max(drop.sqrt()), drop, level);
    finish(
        "sign test",
        k,
        worse,
        better,
        mean,
        interval,
        p_value,
        level,
        needed,
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    test: &'static str,
    cases: usize,
    regressed: usize,
    fixed: usize,
    delta: f64,
    interval: (f64, f64),
    p_value: f64,
    level: f64,
    needed_total: f64,
) -> Comparison {
    let drop = DETECTABLE_DROP_POINTS / 100.0;
    let verdict = if p_value < level && delta < 0.0 {
        Verdict::Regressed
    } else if p_value < level && delta > 0.0 {
        Verdict::Improved
    } else if cases > 0 && interval.0 > -drop {
        Verdict::NoSignificantChange
    } else {
        Verdict::Inconclusive
    };
    let more_cases_needed = (verdict == Verdict::Inconclusive)
        .then(|| (needed_total.ceil() as usize).saturating_sub(cases).max(1));
    let points = |x: f64| x * 100.0;
    Comparison {
        test,
        cases,
        regressed,
        fixed,
        delta_points: points(delta),
        interval_points: [points(interval.0), points(interval.1)],
        p_value,
        level,
        verdict,
        more_cases_needed,
    }
}

/// The exact two-sided binomial test of `x` against `y` successes at one half: the exact
/// McNemar test when they are the discordant cases, the sign test when they are the cases
/// that moved down and up.
pub fn exact_binomial_two_sided(x: usize, y: usize) -> f64 {
    let n = x + y;
    if n == 0 {
        return 1.0;
    }
    (2.0 * binomial_half_cdf(x.min(y), n)).min(1.0)
}

/// P(X ≤ k) for X ~ Binomial(n, 1/2), summed in logs so that large `n` cannot underflow
/// every term.
fn binomial_half_cdf(k: usize, n: usize) -> f64 {
    let log_half_n = n as f64 * 0.5f64.ln();
    let mut log_choose = 0.0f64;
    let mut total = 0.0;
    for i in 0..=k {
        if i > 0 {
            log_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        total += (log_choose + log_half_n).exp();
    }
    total.min(1.0)
}

/// Wilson's score interval for `successes` of `n`, at 95%.
pub fn wilson(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p, z2) = (n as f64, successes as f64 / n as f64, Z_95 * Z_95);
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Newcombe's hybrid score interval (method 10, without continuity correction) for the
/// difference of paired proportions, head minus base, at 95%. `a`: passed on both, `b`:
/// passed on base only, `c`: passed on head only, `d`: failed on both.
pub fn newcombe_paired(a: usize, b: usize, c: usize, d: usize) -> (f64, f64) {
    let n = a + b + c + d;
    if n == 0 {
        return (-1.0, 1.0);
    }
    let p1 = (a + c) as f64 / n as f64;
    let p2 = (a + b) as f64 / n as f64;
    let (l1, u1) = wilson(a + c, n);
    let (l2, u2) = wilson(a + b, n);
    let margins = [
        (a + b) as f64,
        (c + d) as f64,
        (a + c) as f64,
        (b + d) as f64,
    ];
    let phi = if margins.contains(&0.0) {
        0.0
    } else {
        (a as f64 * d as f64 - b as f64 * c as f64) / margins.iter().product::<f64>().sqrt()
    };
    let theta = p1 - p2;
    let delta = ((p1 - l1).powi(2) - 2.0 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2).powi(2))
        .max(0.0)
        .sqrt();
    let epsilon = ((u1 - p1).powi(2) - 2.0 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2).powi(2))
        .max(0.0)
        .sqrt();
    ((theta - delta).max(-1.0), (theta + epsilon).min(1.0))
}

/// Cases needed for the McNemar test to detect a difference `drop` with 80% power at
/// `level`, when a share `psi` of cases is discordant (Connor, 1987). A share below
/// `drop` is impossible with such a drop, so it counts as `drop`.
pub fn mcnemar_sample_size(psi: f64, drop: f64, level: f64) -> f64 {
    let psi = psi.max(drop);
    let z = normal_quantile(1.0 - level / 2.0);
    (z * psi.sqrt() + Z_POWER_80 * (psi - drop * drop).sqrt()).powi(2) / (drop * drop)
}

/// Cases needed for a paired test on per-case differences with standard deviation `sd`
/// to detect a mean difference `drop` with 80% power at `level` (normal approximation).
fn t_sample_size(sd: f64, drop: f64, level: f64) -> f64 {
    ((normal_quantile(1.0 - level / 2.0) + Z_POWER_80) * sd / drop).powi(2)
}

fn sample_sd(values: &[f64], mean: f64) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    (ss / (values.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    //! Reference values computed independently with SciPy 1.17.1 and statsmodels 0.15.0
    //! (`statsmodels.stats.contingency_tables.mcnemar(exact=True)`, `proportion_confint(
    //! method="wilson")`, `scipy.stats.binomtest`, `norm.ppf`, `t.ppf`); Newcombe's paired
    //! interval from a separate Python implementation over statsmodels' Wilson limits. The
    //! vectors are in docs/evals.md, the script that computes them in docs/stats-reference.py.
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not {expected} (± {tolerance})"
        );
    }

    /// Passed on both, on base only, on head only, on neither.
    type Table = (usize, usize, usize, usize);

    /// A table, its exact McNemar p, and Newcombe's interval.
    const TABLES: [(Table, f64, (f64, f64)); 5] = [
        (
            (104, 14, 82, 0),
            7.242_756_461_98e-13,
            (0.252_805_001_4, 0.420_317_812_7),
        ),
        ((16, 3, 1, 0), 0.625, (-0.318_253_317_3, 0.118_355_989_6)),
        ((10, 0, 0, 0), 1.0, (-0.277_532_799_9, 0.277_532_799_9)),
        ((8, 4, 1, 3), 0.375, (-0.411_818_524_4, 0.069_139_953_3)),
        (
            (50, 12, 0, 0),
            0.000_488_281_25,
            (-0.308_517_961_8, -0.095_170_020_0),
        ),
    ];

    #[test]
    fn mcnemar_and_newcombe_match_the_reference_tables() {
        for ((a, b, c, d), p, (low, high)) in TABLES {
            close(exact_binomial_two_sided(b, c), p, 1e-12);
            let (l, h) = newcombe_paired(a, b, c, d);
            close(l, low, 1e-9);
            close(h, high, 1e-9);
        }
    }

    #[test]
    fn wilson_normal_and_t_match_the_references() {
        let (l, h) = wilson(7, 20);
        close(l, 0.181_191_824_101_082, 1e-12);
        close(h, 0.567_145_723_314_763_8, 1e-12);
        assert_eq!(wilson(0, 10).0, 0.0);
        close(normal_quantile(0.975), 1.959_963_984_540_054, 1e-12);
        close(normal_quantile(0.995), 2.575_829_303_548_900_4, 1e-12);
        close(normal_quantile(1e-6), -4.753_424_308_822_899, 1e-9);
        close(normal_quantile(0.5), 0.0, 1e-12);
        for (df, t) in [
            (1.0, 12.706_204_736_174_694),
            (4.0, 2.776_445_105_197_793_4),
            (19.0, 2.093_024_054_408_308_7),
            (99.0, 1.984_216_951_586_417_4),
        ] {
            close(student_t_quantile(0.975, df), t, 1e-9);
        }
        close(exact_binomial_two_sided(2, 7), 0.179_687_5, 1e-12);
        close(
            mcnemar_sample_size(0.2, 0.03, 0.05),
            1_741.835_762_986_875,
            1e-6,
        );
        close(
            mcnemar_sample_size(0.0, 0.03, 0.05),
            259.258_890_137_937_44,
            1e-6,
        );
    }

    #[test]
    fn two_hundred_cases_with_82_fixed_and_14_regressed_improved() {
        let mut pairs = vec![(true, true); 104];
        pairs.extend(vec![(true, false); 14]);
        pairs.extend(vec![(false, true); 82]);
        let comparison = compare_single(&pairs, DEFAULT_LEVEL);
        assert_eq!(comparison.verdict, Verdict::Improved);
        assert_eq!(comparison.words(), "improved (p = 7.2e-13)");
        close(comparison.delta_points, 34.0, 1e-9);
    }

    #[test]
    fn three_regressed_and_one_fixed_of_twenty_is_inconclusive() {
        let mut pairs = vec![(true, true); 16];
        pairs.extend(vec![(true, false); 3]);
        pairs.push((false, true));
        let comparison = compare_single(&pairs, DEFAULT_LEVEL);
        assert_eq!(comparison.verdict, Verdict::Inconclusive);
        assert_eq!(comparison.more_cases_needed, Some(1_722));
        assert_eq!(
            comparison.words(),
            "inconclusive (p = 0.62): about 1722 more cases would detect a 3-point drop"
        );
    }

    #[test]
    fn a_large_unchanged_suite_rules_out_a_drop() {
        let pairs = vec![(true, true); 400];
        let comparison = compare_single(&pairs, DEFAULT_LEVEL);
        assert_eq!(comparison.verdict, Verdict::NoSignificantChange);
        assert_eq!(comparison.words(), "no significant change (p = 1)");
        let small = compare_single(&pairs[..10], DEFAULT_LEVEL);
        assert_eq!(small.verdict, Verdict::Inconclusive);
        assert_eq!(small.more_cases_needed, Some(250));
    }

    #[test]
    fn repeated_samples_use_the_sign_test_and_a_t_interval() {
        let diffs = [-0.2, 0.0, 0.4, -0.6, 0.0, -0.2, 0.2, -0.4];
        let fractions: Vec<(f64, f64)> = diffs.iter().map(|d| (0.6, 0.6 + d)).collect();
        let comparison = compare_repeated(&fractions, DEFAULT_LEVEL);
        assert_eq!((comparison.regressed, comparison.fixed), (4, 2));
        close(comparison.p_value, 0.6875, 1e-12);
        close(comparison.delta_points, -10.0, 1e-9);
        close(comparison.interval_points[0], -36.812_318_773_543_14, 1e-6);
        close(comparison.interval_points[1], 16.812_318_773_543_142, 1e-6);
        assert_eq!(comparison.test, "sign test");
    }

    #[test]
    fn p_values_read_with_two_significant_digits() {
        assert_eq!(format_p(0.625), "0.62");
        assert_eq!(format_p(0.013), "0.013");
        assert_eq!(format_p(1.0), "1");
        assert_eq!(format_p(0.000_488), "4.9e-4");
    }
}
