"""Reference values for src/eval/stats/, computed with SciPy and statsmodels.

Run: python3 -m pip install scipy statsmodels && python3 docs/stats-reference.py
The output is the table in docs/evals.md ("Reference vectors"); the unit tests in
src/eval/stats/mod.rs and src/eval/stats/intervals.rs pin the Rust code to it.

Tango's score interval is computed here by SciPy's brentq on the score statistic, a route
independent of the Rust bisection; the hint and the repeated-sample interval follow the
definitions in docs/evals.md.
"""
import math
from scipy import stats, optimize
from statsmodels.stats.contingency_tables import mcnemar


def tango(n12, n21, N, z):
    """Tango (1998) interval for (n12 - n21) / N: n12 fixed (head only), n21 regressed."""
    def T(D):
        A = 2 * N
        B = -n12 - n21 + (2 * N - n12 + n21) * D
        C = -n21 * D * (1 - D)
        p21 = (math.sqrt(max(0, B * B - 4 * A * C)) - B) / (2 * A)
        v = N * (2 * p21 + D * (1 - D))
        num = n12 - n21 - N * D
        if v <= 0:
            return math.copysign(math.inf, num) if num != 0 else 0.0
        return num / math.sqrt(v)
    est = (n12 - n21) / N
    lo = -1.0 if T(-1 + 1e-15) <= z else optimize.brentq(lambda D: T(D) - z, -1 + 1e-15, est, xtol=1e-15)
    hi = 1.0 if T(1 - 1e-15) >= -z else optimize.brentq(lambda D: T(D) + z, est, 1 - 1e-15, xtol=1e-15)
    return lo, hi


def repeated(fractions):
    """Per-case (base fraction, head fraction, samples): the figures of the interval."""
    k = len(fractions)
    d = [h - b for b, h, r in fractions]
    mean = sum(d) / k
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (k - 1)) if k >= 2 else 0
    noise = sum((b * (1 - b) + h * (1 - h)) / r for b, h, r in fractions) / k
    up = sum(x for x in d if x > 0)
    down = -sum(x for x in d if x < 0)
    return k, mean, sd, noise, up, down


def repeated_interval(k, mean, sd, noise, up, down, z):
    s = max(sd, math.sqrt(noise))
    if k < 2 or s <= 0:
        return tango(up, down, k, z)
    t = stats.t.ppf(stats.norm.cdf(z), k - 1)
    half = t * s / math.sqrt(k)
    return max(-1, mean - half), min(1, mean + half)


Z_POWER = stats.norm.ppf(0.8)


def decides(lo, hi, margin=0.03):
    return (lo > -margin and hi < margin) or hi < 0 or lo > 0


def hint(n, project):
    """More cases until the projected interval decides: doubling, then bisection."""
    undecided, enough = n, n + 1
    while not decides(*project(enough)):
        undecided, enough = enough, enough * 2
        if enough > 1e8:
            return None
    while enough - undecided > 1:
        middle = undecided + (enough - undecided) // 2
        if decides(*project(middle)):
            enough = middle
        else:
            undecided = middle
    return enough - n


def single(down, up, n, level):
    z = stats.norm.ppf(1 - level / 2)
    interval = tango(up, down, n, z)
    more = hint(n, lambda N: tango(up * N / n, down * N / n, N, z + Z_POWER))
    return interval, more


z95 = stats.norm.ppf(0.975)
for (b, c, n) in [(1, 7, 21), (14, 82, 200), (3, 1, 20), (0, 0, 10), (12, 0, 62), (0, 0, 4), (0, 3, 3), (2, 0, 10)]:
    p = mcnemar([[n - b - c, b], [c, 0]], exact=True).pvalue
    lo, hi = tango(c, b, n, z95)
    print(f"b={b} c={c} n={n} mcnemar p={p:.12g} tango=({lo:.10f},{hi:.10f})")
print("hint (3,1,20) at 0.05", single(3, 1, 20, 0.05))
print("hint (0,0,10), (0,0,4)", single(0, 0, 10, 0.05), single(0, 0, 4, 0.05))
print("(30,20,1000) at 0.05", single(30, 20, 1000, 0.05))
print("(30,20,1000) at 0.001", single(30, 20, 1000, 0.001))
for name, fractions in [
    ("eight mixed", [(0.6, 0.6 + x, 5) for x in [-0.2, 0, 0.4, -0.6, 0, -0.2, 0.2, -0.4]]),
    ("three 0/2 -> 2/2", [(0, 1, 2)] * 3),
    ("one 4/5 -> 5/5", [(0.8, 1, 5)]),
    ("ten 5/5 -> 4/5", [(1, 0.8, 5)] * 10),
]:
    k, mean, sd, noise, up, down = repeated(fractions)
    interval = repeated_interval(k, mean, sd, noise, up, down, z95)
    more = hint(k, lambda N: repeated_interval(N, mean, sd, noise, up * N / k, down * N / k, z95 + Z_POWER))
    print(name, interval, more)
print("sign", stats.binomtest(2, 9, 0.5).pvalue, stats.binomtest(2, 6, 0.5).pvalue)
for p in [0.975, 0.995, 0.8, 0.5, 1e-6]:
    print("z", p, repr(stats.norm.ppf(p)))
for df in [1, 4, 19, 99]:
    print("t", df, repr(stats.t.ppf(0.975, df)))

# Holm's step-down adjustment, for comparing several arms against one reference
# (src/eval/stats/multiple.rs).
from statsmodels.stats.multitest import multipletests
for ps in [[0.01, 0.04, 0.03, 0.005], [0.5], [0.001, 0.001, 0.2], [0.04, 0.03, 0.02, 0.01, 0.9],
           [0.3, 0.2, 0.1, 0.04, 0.03, 0.6, 0.001, 0.02], [1.0, 0.0, 0.5], [0.012, 0.012, 0.012]]:
    print("holm", ps, [round(float(x), 12) for x in multipletests(ps, method="holm")[1]])

# Wilson's score interval of an arm's pass rate (src/eval/stats/intervals.rs, `wilson`).
from statsmodels.stats.proportion import proportion_confint
for count, nobs in [(7, 10), (0, 20), (200, 200), (93, 200)]:
    low, high = proportion_confint(count, nobs, alpha=0.05, method="wilson")
    print("wilson", count, nobs, f"({low:.10f},{high:.10f})")
