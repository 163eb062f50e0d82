//! How sure a comparison is: the paired tests, intervals and sample sizes behind each
//! suite's verdict. Pure functions of counts; the formulas and the reference vectors that
//! pin them are in docs/evals.md.
//!
//! With one sample per case, the cases form a 2×2 table (passed or failed on each
//! version): the p-value is the exact McNemar test on the discordant cases, the interval
//! for the pass-rate difference Tango's score interval for paired proportions. With several
//! samples per case, each case has a pass fraction per version: the p-value is the exact
//! sign test on the cases that moved, the interval a Student t interval on the per-case
//! differences whose spread is floored by the samples' binomial noise (Tango's interval of
//! the differences when even that has no width). Intervals are at the confidence `1 −
//! level`, so the verdict, the interval and the hint agree at any `--significance`.

mod distributions;
mod intervals;
mod multiple;
mod pareto;

pub use distributions::{normal_quantile, student_t_quantile};
pub use intervals::{RepeatedFigures, tango, wilson};
pub use multiple::holm;
pub use pareto::{ArmFigures, best_within, pareto_front};

/// The z for 80% power, which the sample-size hint aims at.
const Z_POWER_80: f64 = 0.841_621_233_572_914_3;
/// The level at which a difference is called significant when the gate sets none.
pub const DEFAULT_LEVEL: f64 = 0.05;
/// The smallest change worth detecting, in points: "no significant change" needs the
/// interval within this margin on both sides.
pub const DETECTABLE_DROP_POINTS: f64 = 3.0;
/// The most cases the hint projects to; past it, it says more cases would not decide.
const MAX_PROJECTED_CASES: f64 = 1e8;

/// What the comparison says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A drop significant at the level.
    Regressed,
    /// A rise significant at the level.
    Improved,
    /// No significant difference, and the interval lies within the margin on both sides.
    NoSignificantChange,
    /// No significant difference, and the interval reaches past the margin: too few cases.
    Inconclusive,
    /// Base and head are the same version: there is nothing to test.
    SameVersion,
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
    /// The confidence interval of `delta_points`, at `confidence`.
    pub interval_points: [f64; 2],
    /// The interval's confidence, `1 − level`: 0.95 by default.
    pub confidence: f64,
    pub p_value: f64,
    /// The level `verdict` was decided at.
    pub level: f64,
    pub verdict: Verdict,
    /// If the rates hold, about how many more cases would decide at the margin (80%
    /// power, at `level`), when the verdict is inconclusive.
    pub more_cases_needed: Option<usize>,
    /// The verdict in words, as every format shows it.
    pub words: String,
    /// The figures behind it in one line, as every format shows them.
    pub figures: String,
}

impl Comparison {
    /// Base and head are one version: the figures stay, the verdict says there is nothing
    /// to test.
    pub fn of_same_version(mut self) -> Self {
        self.verdict = Verdict::SameVersion;
        self.more_cases_needed = None;
        self.words = words(&self);
        self
    }
}

/// The verdict in words: `regressed (p = 0.01)`, `inconclusive (p = 0.62): about 240 more
/// cases would decide at a 3-point margin`.
fn words(c: &Comparison) -> String {
    if c.verdict == Verdict::SameVersion {
        return "same version on both sides: nothing to compare".into();
    }
    if c.cases == 0 {
        return "inconclusive: no case was evaluated on both versions".into();
    }
    let p = format_p(c.p_value);
    match c.verdict {
        Verdict::Regressed => format!("regressed (p = {p})"),
        Verdict::Improved => format!("improved (p = {p})"),
        Verdict::NoSignificantChange => format!("no significant change (p = {p})"),
        _ => match c.more_cases_needed {
            Some(n) => format!(
                "inconclusive (p = {p}): about {n} more cases would decide at a {DETECTABLE_DROP_POINTS:.0}-point margin"
            ),
            None => format!(
                "inconclusive (p = {p}): more cases of these rates would not decide at a {DETECTABLE_DROP_POINTS:.0}-point margin"
            ),
        },
    }
}

/// The figures line: `pass rate -5.0 points, 95% CI -20.1 to +8.2; exact McNemar, 2
/// regressed and 1 fixed of 20 cases`.
fn figures(c: &Comparison) -> String {
    let [low, high] = c.interval_points;
    format!(
        "pass rate {:+.1} points, {} CI {low:+.1} to {high:+.1}; {}, {} regressed and {} fixed of {} cases",
        c.delta_points,
        format_confidence(c.confidence),
        c.test,
        c.regressed,
        c.fixed,
        c.cases
    )
}

/// A confidence as a percentage without trailing zeros: `95%`, `99.9%`.
pub fn format_confidence(confidence: f64) -> String {
    let text = format!("{:.3}", confidence * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
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

/// The two-sided z of the interval at `level`, and the z the hint projects with (the
/// level's plus 80% power's).
fn z_values(level: f64) -> (f64, f64) {
    let z = normal_quantile(1.0 - level / 2.0);
    (z, z + Z_POWER_80)
}

/// Compares cases with one sample each: `pairs` holds (passed on base, passed on head).
pub fn compare_single(pairs: &[(bool, bool)], level: f64) -> Comparison {
    let n = pairs.len();
    let count = |want: (bool, bool)| pairs.iter().filter(|p| **p == want).count();
    let (down, up) = (count((true, false)), count((false, true)));
    let p_value = exact_binomial_two_sided(down, up);
    let (z, z_power) = z_values(level);
    let interval = tango(up as f64, down as f64, n as f64, z);
    let delta = if n == 0 {
        0.0
    } else {
        (up as f64 - down as f64) / n as f64
    };
    let project = |cases: f64| {
        let scale = cases / n.max(1) as f64;
        tango(up as f64 * scale, down as f64 * scale, cases, z_power)
    };
    let figures = Figures {
        test: "exact McNemar",
        cases: n,
        regressed: down,
        fixed: up,
        delta,
        interval,
        p_value,
    };
    finish(figures, level, project)
}

/// Compares cases with several samples each: `fractions` holds each case's pass fraction
/// on base and on head, and its samples per side.
pub fn compare_repeated(fractions: &[(f64, f64, usize)], level: f64) -> Comparison {
    let diffs = fractions.iter().map(|(b, h, _)| h - b);
    let worse = diffs.clone().filter(|d| *d < -1e-12).count();
    let better = diffs.filter(|d| *d > 1e-12).count();
    let p_value = exact_binomial_two_sided(worse, better);
    let design = RepeatedFigures::of(fractions);
    let (z, z_power) = z_values(level);
    let figures = Figures {
        test: "sign test",
        cases: fractions.len(),
        regressed: worse,
        fixed: better,
        delta: design.mean,
        interval: design.interval(z),
        p_value,
    };
    finish(figures, level, |cases| {
        design.scaled_to(cases).interval(z_power)
    })
}

/// What a test measured, before the verdict.
struct Figures {
    test: &'static str,
    cases: usize,
    regressed: usize,
    fixed: usize,
    delta: f64,
    interval: (f64, f64),
    p_value: f64,
}

/// Whether an interval decides at the margin: it rules a change of the margin out on both
/// sides, or it rules out no change.
fn decides((low, high): (f64, f64)) -> bool {
    let margin = DETECTABLE_DROP_POINTS / 100.0;
    (low > -margin && high < margin) || high < 0.0 || low > 0.0
}

/// The verdict from the test and the interval; the hint from `project`, the interval
/// (with power) the same rates would give over a number of cases.
fn finish(f: Figures, level: f64, project: impl Fn(f64) -> (f64, f64)) -> Comparison {
    let margin = DETECTABLE_DROP_POINTS / 100.0;
    let verdict = if f.p_value < level && f.delta < 0.0 {
        Verdict::Regressed
    } else if f.p_value < level && f.delta > 0.0 {
        Verdict::Improved
    } else if f.cases > 0 && f.interval.0 > -margin && f.interval.1 < margin {
        Verdict::NoSignificantChange
    } else {
        Verdict::Inconclusive
    };
    let more_cases_needed = (verdict == Verdict::Inconclusive && f.cases > 0)
        .then(|| cases_to_decide(f.cases, &project))
        .flatten();
    let points = |x: f64| x * 100.0;
    let mut comparison = Comparison {
        test: f.test,
        cases: f.cases,
        regressed: f.regressed,
        fixed: f.fixed,
        delta_points: points(f.delta),
        interval_points: [points(f.interval.0), points(f.interval.1)],
        confidence: 1.0 - level,
        p_value: f.p_value,
        level,
        verdict,
        more_cases_needed,
        words: String::new(),
        figures: String::new(),
    };
    comparison.words = words(&comparison);
    comparison.figures = figures(&comparison);
    comparison
}

/// How many cases beyond `cases` the projected interval needs to decide: the smallest
/// total found by doubling then bisecting, or none past [`MAX_PROJECTED_CASES`].
fn cases_to_decide(cases: usize, project: impl Fn(f64) -> (f64, f64)) -> Option<usize> {
    let decided = |total: usize| decides(project(total as f64));
    let (mut undecided, mut enough) = (cases, cases + 1);
    while !decided(enough) {
        undecided = enough;
        enough = enough.saturating_mul(2);
        if enough as f64 > MAX_PROJECTED_CASES {
            return None;
        }
    }
    while enough - undecided > 1 {
        let middle = undecided + (enough - undecided) / 2;
        if decided(middle) {
            enough = middle;
        } else {
            undecided = middle;
        }
    }
    Some(enough - cases)
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

#[cfg(test)]
mod tests {
    //! Reference values computed independently with SciPy 1.17.1 and statsmodels 0.15.0
    //! (`statsmodels.stats.contingency_tables.mcnemar(exact=True)`, `scipy.stats.binomtest`,
    //! `norm.ppf`, `t.ppf`); Tango's interval, the repeated-sample interval and the hint
    //! from a separate Python implementation (SciPy's `brentq` on Tango's score). The
    //! vectors are in docs/evals.md, the script that computes them in
    //! docs/stats-reference.py.
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not {expected} (± {tolerance})"
        );
    }

    fn table(both: usize, down: usize, up: usize, neither: usize) -> Vec<(bool, bool)> {
        let mut pairs = vec![(true, true); both];
        pairs.extend(vec![(true, false); down]);
        pairs.extend(vec![(false, true); up]);
        pairs.extend(vec![(false, false); neither]);
        pairs
    }

    #[test]
    fn mcnemar_matches_the_reference_tables() {
        for (down, up, p) in [
            (14, 82, 7.242_756_461_98e-13),
            (3, 1, 0.625),
            (0, 0, 1.0),
            (4, 1, 0.375),
            (12, 0, 0.000_488_281_25),
            (2, 7, 0.179_687_5),
        ] {
            close(exact_binomial_two_sided(down, up), p, 1e-12);
        }
    }

    #[test]
    fn normal_and_t_match_the_references() {
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
    }

    #[test]
    fn two_hundred_cases_with_82_fixed_and_14_regressed_improved() {
        let comparison = compare_single(&table(104, 14, 82, 0), DEFAULT_LEVEL);
        assert_eq!(comparison.verdict, Verdict::Improved);
        assert_eq!(comparison.words, "improved (p = 7.2e-13)");
        close(comparison.delta_points, 34.0, 1e-9);
        close(comparison.interval_points[0], 25.410_738_127_208_377, 1e-7);
        close(comparison.interval_points[1], 42.185_883_918_226_13, 1e-7);
    }

    #[test]
    fn three_regressed_and_one_fixed_of_twenty_is_inconclusive() {
        let comparison = compare_single(&table(16, 3, 1, 0), DEFAULT_LEVEL);
        assert_eq!(comparison.verdict, Verdict::Inconclusive);
        assert_eq!(comparison.more_cases_needed, Some(137));
        assert_eq!(
            comparison.words,
            "inconclusive (p = 0.62): about 137 more cases would decide at a 3-point margin"
        );
        assert_eq!(
            comparison.figures,
            "pass rate -10.0 points, 95% CI -32.6 to +12.4; exact McNemar, 3 regressed and 1 fixed of 20 cases"
        );
    }

    #[test]
    fn a_large_unchanged_suite_rules_out_a_change_and_a_small_one_cannot() {
        let comparison = compare_single(&table(400, 0, 0, 0), DEFAULT_LEVEL);
        assert_eq!(comparison.verdict, Verdict::NoSignificantChange);
        assert_eq!(comparison.words, "no significant change (p = 1)");
        let small = compare_single(&table(10, 0, 0, 0), DEFAULT_LEVEL);
        assert_eq!(small.verdict, Verdict::Inconclusive);
        assert_eq!(small.more_cases_needed, Some(244));
        close(small.interval_points[1], 27.753_279_986_288_93, 1e-7);
        // Seen: four cases, two failing on both, read `+0.0 to +0.0, no significant change`.
        let four = compare_single(&table(2, 0, 0, 2), DEFAULT_LEVEL);
        assert_eq!(four.verdict, Verdict::Inconclusive);
        close(four.interval_points[0], -48.989_083_645_459_736, 1e-7);
        close(four.interval_points[1], 48.989_083_645_459_736, 1e-7);
        assert_eq!(four.more_cases_needed, Some(250));
    }

    #[test]
    fn the_same_version_on_both_sides_says_there_is_nothing_to_compare() {
        let same = compare_single(&table(2, 0, 0, 2), DEFAULT_LEVEL).of_same_version();
        assert_eq!(same.verdict, Verdict::SameVersion);
        assert_eq!(same.words, "same version on both sides: nothing to compare");
        assert_eq!(same.more_cases_needed, None);
    }

    #[test]
    fn the_hint_and_the_interval_follow_the_level_in_force() {
        // Seen: at 0.001 with 1,000 cases the hint said "about 1 more cases".
        let pairs = table(950, 30, 20, 0);
        let loose = compare_single(&pairs, 0.05);
        assert_eq!(loose.verdict, Verdict::NoSignificantChange);
        close(loose.interval_points[0], -2.460_190_860_688_524, 1e-7);
        let strict = compare_single(&pairs, 0.001);
        assert_eq!(strict.verdict, Verdict::Inconclusive);
        close(strict.interval_points[0], -3.606_023_000_650_215, 1e-7);
        close(strict.interval_points[1], 1.459_137_112_395_896, 1e-7);
        assert_eq!(strict.more_cases_needed, Some(1_507));
        assert!(strict.figures.contains("99.9% CI"), "{}", strict.figures);
        let at_05 = compare_single(&table(16, 3, 1, 0), 0.05).more_cases_needed;
        let at_001 = compare_single(&table(16, 3, 1, 0), 0.001).more_cases_needed;
        assert!(at_001 > at_05, "{at_001:?} {at_05:?}");
    }

    #[test]
    fn repeated_samples_use_the_sign_test_and_a_t_interval() {
        let diffs = [-0.2, 0.0, 0.4, -0.6, 0.0, -0.2, 0.2, -0.4];
        let fractions: Vec<(f64, f64, usize)> = diffs.iter().map(|d| (0.6, 0.6 + d, 5)).collect();
        let comparison = compare_repeated(&fractions, DEFAULT_LEVEL);
        assert_eq!((comparison.regressed, comparison.fixed), (4, 2));
        close(comparison.p_value, 0.6875, 1e-12);
        close(comparison.delta_points, -10.0, 1e-9);
        close(comparison.interval_points[0], -36.812_318_773_543_15, 1e-6);
        close(comparison.interval_points[1], 16.812_318_773_543_15, 1e-6);
        assert_eq!(comparison.test, "sign test");
        assert_eq!(comparison.more_cases_needed, Some(78));
    }

    #[test]
    fn repeated_samples_that_all_moved_alike_keep_a_width_inside_the_range() {
        // Seen: three cases fail→pass with two samples read `+100.0 to +200.0, no
        // significant change (p = 0.25)`.
        let three = compare_repeated(&[(0.0, 1.0, 2); 3], DEFAULT_LEVEL);
        close(three.interval_points[0], -12.299_406_351_009_09, 1e-6);
        close(three.interval_points[1], 100.0, 1e-9);
        assert_eq!(three.verdict, Verdict::Inconclusive);
        assert_eq!(three.more_cases_needed, Some(5));
        // Seen: one case 4/5 → 5/5 read `+7.8 to +120.0, no significant change (p = 1)`.
        let one = compare_repeated(&[(0.8, 1.0, 5)], DEFAULT_LEVEL);
        close(one.interval_points[0], -75.214_082_274_731_5, 1e-6);
        close(one.interval_points[1], 86.653_592_779_358_66, 1e-6);
        assert_eq!(one.verdict, Verdict::Inconclusive);
        assert_eq!(one.more_cases_needed, Some(10));
        // Seen: ten cases 5/5 → 4/5 read `-120.0 to -20.0`.
        let ten = compare_repeated(&[(1.0, 0.8, 5); 10], DEFAULT_LEVEL);
        close(ten.interval_points[0], -32.796_693_359_394_646, 1e-6);
        close(ten.interval_points[1], -7.203_306_640_605_348, 1e-6);
        assert_eq!(ten.verdict, Verdict::Regressed);
        for c in [&three, &one, &ten] {
            let [low, high] = c.interval_points;
            assert!((-100.0..=100.0).contains(&low) && (-100.0..=100.0).contains(&high));
            assert!(high > low);
        }
    }

    #[test]
    fn p_values_and_confidences_read_with_few_digits() {
        assert_eq!(format_p(0.625), "0.62");
        assert_eq!(format_p(0.013), "0.013");
        assert_eq!(format_p(1.0), "1");
        assert_eq!(format_p(0.000_488), "4.9e-4");
        assert_eq!(format_confidence(0.95), "95%");
        assert_eq!(format_confidence(1.0 - 0.001), "99.9%");
    }
}
