"""The statistics a comparison of configurations needs: mean, spread, a 95% confidence interval and
Welch's t-test — standard library only, because the collect job on a runner installs no scipy.

Student's t distribution is computed from the regularized incomplete beta function (a continued
fraction, Numerical Recipes section 6.4), which is exact to about 1e-10 for the degrees of freedom a
research session has; `t_quantile` inverts it by bisection. This is written by hand because
`statistics` has only the normal distribution, which is too narrow for n of 2 to 10 (the usual seeds).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
SIGNIFICANCE = 0.05  # "better than the noise": Welch's two-sided test at 5 %


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| ≥ |t|) for Student's t with `df` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(probability: float, df: float) -> float:
    """The t with P(T ≤ t) = probability (0.5 < probability < 1), by bisection on the tail."""
    tail = 2.0 * (1.0 - probability)
    low, high = 0.0, 1.0
    while t_two_sided_p(high, df) > tail:
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if t_two_sided_p(middle, df) > tail:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2.0


@dataclass(frozen=True)
class Summary:
    """A configuration's values of one metric: n, mean, sample standard deviation and the 95%
    confidence interval of the mean (None with one value: one run says nothing about the noise)."""

    n: int
    mean: float
    std: float | None
    ci95: tuple[float, float] | None

    @property
    def replicated(self) -> bool:
        return self.n >= 2

    @property
    def sem(self) -> float | None:
        return None if self.std is None else self.std / math.sqrt(self.n)


def summarize(values: Sequence[float]) -> Summary:
    """n, mean, sd and the interval. Computed on values scaled by the largest magnitude, so metrics
    near the float limit (1e308: a diverged run) give infinities, never an OverflowError."""
    if not values:
        raise ValueError("no values to summarize")
    scale = max(abs(v) for v in values) or 1.0
    scaled = [v / scale for v in values]
    mean = statistics.fmean(scaled) * scale
    if len(values) < 2:
        return Summary(1, mean, None, None)
    std = statistics.stdev(scaled) * scale
    half = t_quantile(1 - (1 - CONFIDENCE) / 2, len(values) - 1) * std / math.sqrt(len(values))
    return Summary(len(values), mean, std, (mean - half, mean + half))


@dataclass(frozen=True)
class Difference:
    """One configuration against another: the difference and the ratio of their means, each with
    its 95% interval, and Welch's test of whether the difference is more than the noise."""

    difference: float
    difference_ci: tuple[float, float]
    ratio: float | None  # a / b, when both means are positive
    ratio_ci: tuple[float, float] | None
    p: float  # Welch's two-sided p-value

    @property
    def significant(self) -> bool:
        return self.p < SIGNIFICANCE


def welch(a: Summary, b: Summary) -> Difference | None:
    """a - b with Welch's t-test; None unless both are replicated (n ≥ 2 each) and finite."""
    if a.sem is None or b.sem is None:
        return None
    if not all(math.isfinite(x) and abs(x) < 1e150 for x in (a.mean, b.mean, a.sem, b.sem)):
        return None  # a diverged run (1e308) compares with nothing: said as "not comparable"
    diff = a.mean - b.mean
    var_a, var_b = a.sem**2, b.sem**2
    spread = math.sqrt(var_a + var_b)
    if spread == 0.0:  # no noise at all: equal means are a tie, different ones differ
        p = 1.0 if diff == 0 else 0.0
        return Difference(diff, (diff, diff), _ratio(a, b), _ratio_interval(a, b, math.inf), p)
    df = (var_a + var_b) ** 2 / (var_a**2 / (a.n - 1) + var_b**2 / (b.n - 1))
    t = diff / spread
    half = t_quantile(1 - (1 - CONFIDENCE) / 2, df) * spread
    p = t_two_sided_p(t, df)
    return Difference(diff, (diff - half, diff + half), _ratio(a, b), _ratio_interval(a, b, df), p)


def _ratio(a: Summary, b: Summary) -> float | None:
    return a.mean / b.mean if a.mean > 0 and b.mean > 0 else None


def _ratio_interval(a: Summary, b: Summary, df: float) -> tuple[float, float] | None:
    """The ratio's interval on the log scale (the delta method): log(a/b) ± t·√(sem_a²/a² + sem_b²/b²)."""
    ratio = _ratio(a, b)
    if ratio is None or a.sem is None or b.sem is None:
        return None
    spread = math.sqrt((a.sem / a.mean) ** 2 + (b.sem / b.mean) ** 2)
    half = (t_quantile(1 - (1 - CONFIDENCE) / 2, df) if math.isfinite(df) else 0.0) * spread
    return ratio * math.exp(-half), ratio * math.exp(half)
