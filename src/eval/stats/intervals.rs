//! Intervals for the difference of pass rates, head minus base: Tango's score interval for
//! paired proportions (one sample per case), and for repeated samples a t interval on the
//! per-case differences whose spread is floored by the samples' own binomial noise. Both
//! take real-valued counts, so the sample-size hint can project them to more cases.

use super::distributions::student_t_quantile;

/// Tango's asymptotic score interval (1998) for the difference of paired proportions,
/// `(up − down) / n`: `up` cases passed on head only, `down` on base only, of `n`. Every
/// difference whose score statistic lies within ±`z` (Fagerland, Lydersen and Laake 2014
/// recommend it: it keeps its coverage with no discordant case and with one case, where
/// Newcombe's hybrid collapses to zero width).
pub fn tango(up: f64, down: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (-1.0, 1.0);
    }
    let estimate = (up - down) / n;
    let score = |delta: f64| tango_score(up, down, n, delta);
    // The score falls as `delta` rises; each end is where it crosses ±z.
    let low = if score(-1.0) <= z {
        -1.0
    } else {
        bisect(|d| score(d) > z, -1.0, estimate)
    };
    let high = if score(1.0) >= -z {
        1.0
    } else {
        bisect(|d| score(d) >= -z, estimate, 1.0)
    };
    (low, high)
}

/// Tango's score statistic for a difference `delta`, with the restricted maximum
/// likelihood estimate of the base-only share.
fn tango_score(up: f64, down: f64, n: f64, delta: f64) -> f64 {
    let a = 2.0 * n;
    let b = -up - down + (2.0 * n - up + down) * delta;
    let c = -down * delta * (1.0 - delta);
    let p_down = ((b * b - 4.0 * a * c).max(0.0).sqrt() - b) / (2.0 * a);
    let variance = n * (2.0 * p_down + delta * (1.0 - delta));
    let numerator = up - down - n * delta;
    if variance <= 0.0 {
        return if numerator == 0.0 {
            0.0
        } else {
            numerator.signum() * f64::INFINITY
        };
    }
    numerator / variance.sqrt()
}

/// The point in `[low, high]` where `holds` stops holding, to 1e-13; `holds(low)` is true
/// and `holds(high)` false.
fn bisect(holds: impl Fn(f64) -> bool, mut low: f64, mut high: f64) -> f64 {
    for _ in 0..60 {
        let middle = 0.5 * (low + high);
        if holds(middle) {
            low = middle;
        } else {
            high = middle;
        }
        if high - low < 1e-13 {
            break;
        }
    }
    0.5 * (low + high)
}

/// What an interval over repeated samples is computed from: per case, the difference of
/// pass fractions, summed and squared, and the binomial noise of the fractions themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RepeatedFigures {
    /// Cases.
    pub cases: f64,
    /// Mean of the per-case differences.
    pub mean: f64,
    /// Sample standard deviation of the per-case differences.
    pub spread: f64,
    /// Mean of each case's sampling variance, `f(1 − f)/r` on each side, summed: the noise
    /// a case's difference carries even when every case moved alike.
    pub noise: f64,
    /// The differences as a table: the sum of the rises and the sum of the drops.
    pub up: f64,
    pub down: f64,
}

impl RepeatedFigures {
    /// `fractions`: each case's pass fraction on base and on head; `repeats`: samples per
    /// case and side (the fewer of the two when they differ).
    pub fn of(fractions: &[(f64, f64, usize)]) -> Self {
        let k = fractions.len() as f64;
        let diffs = fractions.iter().map(|(b, h, _)| h - b);
        let mean = if k > 0.0 {
            diffs.clone().sum::<f64>() / k
        } else {
            0.0
        };
        let spread = if fractions.len() < 2 {
            0.0
        } else {
            (diffs.clone().map(|d| (d - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt()
        };
        let noise = if k > 0.0 {
            fractions
                .iter()
                .map(|(b, h, r)| (b * (1.0 - b) + h * (1.0 - h)) / (*r).max(1) as f64)
                .sum::<f64>()
                / k
        } else {
            0.0
        };
        RepeatedFigures {
            cases: k,
            mean,
            spread,
            noise,
            up: diffs.clone().filter(|d| *d > 0.0).sum(),
            down: -diffs.filter(|d| *d < 0.0).sum::<f64>(),
        }
    }

    /// The same figures over `cases` cases: what the hint projects.
    pub fn scaled_to(&self, cases: f64) -> Self {
        let ratio = cases / self.cases.max(1.0);
        RepeatedFigures {
            cases,
            up: self.up * ratio,
            down: self.down * ratio,
            ..*self
        }
    }

    /// The interval at two-sided `z` (the quantile of the confidence in force). Student's
    /// t on the per-case differences, with a spread no smaller than the samples' own noise,
    /// clipped to [−1, 1]. When even that has no width (fractions all 0 or 1 and every case
    /// moved alike, or one case), Tango's interval of the differences read as a table.
    pub fn interval(&self, z: f64) -> (f64, f64) {
        let spread = self.spread.max(self.noise.sqrt());
        if self.cases < 2.0 || spread <= 0.0 {
            return tango(self.up, self.down, self.cases, z);
        }
        let confidence = super::distributions::normal_cdf(z);
        let t = student_t_quantile(confidence, self.cases - 1.0);
        let half = t * spread / self.cases.sqrt();
        ((self.mean - half).max(-1.0), (self.mean + half).min(1.0))
    }
}

#[cfg(test)]
mod tests {
    //! Tango's interval against a separate Python implementation (SciPy's `brentq` on the
    //! score statistic), `docs/stats-reference.py`; the first row is the worked example of
    //! Fagerland, Lydersen and Laake (2014), mirrored.
    use super::*;

    const Z: f64 = 1.959_963_984_540_054;

    #[test]
    fn tango_matches_the_reference_values() {
        for (down, up, n, low, high) in [
            (
                1.0,
                7.0,
                21.0,
                0.026_003_032_480_868_58,
                0.517_232_276_421_377_3,
            ),
            (
                14.0,
                82.0,
                200.0,
                0.254_107_381_272_083_77,
                0.421_858_839_182_261_3,
            ),
            (
                3.0,
                1.0,
                20.0,
                -0.326_427_877_088_460_4,
                0.124_118_315_108_534_01,
            ),
            (
                0.0,
                0.0,
                10.0,
                -0.277_532_799_862_889_2,
                0.277_532_799_862_889_3,
            ),
            (
                12.0,
                0.0,
                62.0,
                -0.308_517_961_788_261_3,
                -0.114_338_082_402_902_65,
            ),
            (
                0.0,
                0.0,
                4.0,
                -0.489_890_836_454_597_36,
                0.489_890_836_454_597_36,
            ),
            (0.0, 3.0, 3.0, -0.122_994_063_510_090_89, 1.0),
            (
                0.0,
                0.0,
                1.0,
                -0.793_450_685_622_762_8,
                0.793_450_685_622_762_6,
            ),
            (
                2.0,
                0.0,
                10.0,
                -0.509_837_528_463_358_3,
                0.133_039_359_835_467_02,
            ),
        ] {
            let (l, h) = tango(up, down, n, Z);
            assert!((l - low).abs() < 1e-9, "{down} {up} {n}: {l} is not {low}");
            assert!(
                (h - high).abs() < 1e-9,
                "{down} {up} {n}: {h} is not {high}"
            );
        }
    }

    #[test]
    fn tango_never_leaves_the_range_nor_collapses() {
        for n in 1..40 {
            for down in 0..=n {
                for up in 0..=(n - down) {
                    let (l, h) = tango(up as f64, down as f64, n as f64, Z);
                    assert!((-1.0..=1.0).contains(&l) && (-1.0..=1.0).contains(&h));
                    assert!(h - l > 0.05, "{down} {up} {n}: {l} to {h}");
                }
            }
        }
    }
}

/// Wilson's score interval of a proportion: `successes` of `n` (a sum of per-case
/// fractions is fine), at the normal quantile `z`; (0, 1) when `n` is zero. Pinned to
/// statsmodels' `proportion_confint(method="wilson")` in the tests.
pub fn wilson(successes: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = successes / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod wilson_tests {
    use super::wilson;

    #[test]
    fn wilson_matches_statsmodels() {
        // statsmodels 0.15.0: proportion_confint(count, nobs, alpha, method="wilson").
        let z95 = crate::eval::stats::normal_quantile(0.975);
        for (count, nobs, low, high) in [
            (7.0, 10.0, 0.396_778_147_5, 0.892_208_732_6),
            (0.0, 20.0, 0.0, 0.161_125_158_1),
            (200.0, 200.0, 0.981_154_673_6, 1.0),
            (93.0, 200.0, 0.397_185_641_6, 0.534_133_531_3),
        ] {
            let (l, h) = wilson(count, nobs, z95);
            assert!(
                (l - low).abs() < 1e-6 && (h - high).abs() < 1e-6,
                "{count}/{nobs}: {l} {h}"
            );
        }
        assert_eq!(wilson(0.0, 0.0, z95), (0.0, 1.0));
    }
}
