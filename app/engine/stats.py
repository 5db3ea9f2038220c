"""Small statistical helpers shared by the checks.

Every test here compares a window with a *finite* baseline as two samples: the baseline's own
sampling error is part of the null, so a window as large as the baseline (or larger, once
windows are pooled) does not make the null look narrower than it is.
"""

from collections.abc import Callable

import numpy as np
from scipy import stats

# scipy's ks_2samp is its test inside the wrapper that handles NaN policies, axes and array
# namespaces: 0.24 ms a call, the test alone 0.05 ms. The checks pass it 1-D arrays without
# NaN (the wrapper's whole job) a dozen times a window, so they call the test it wraps
# (tested equal to the public function); a scipy without the attribute gets the wrapper.
_KS_2SAMP = getattr(stats.ks_2samp, "__wrapped__", stats.ks_2samp)


def ks_2samp(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """scipy's two-sample Kolmogorov-Smirnov test (two-sided, exact or asymptotic as scipy
    picks) of two 1-D arrays without NaN: (statistic, p-value)."""
    result = _KS_2SAMP(reference, current)
    return float(result.statistic), float(result.pvalue)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted q-values (false discovery rate) for a family of p-values."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    return np.asarray(stats.false_discovery_control(p, method="bh"))


def proportion_drop_p(base_hits: int, base_n: int, win_hits: int, win_n: int) -> float:
    """One-sided p-value that the window's proportion is below the baseline's: a two-sample
    test of proportions (pooled z), so both samples' sizes count. Analytic, so it reaches
    any alpha (a resampled p-value cannot go below 1 / (rounds + 1))."""
    if base_n == 0 or win_n == 0:
        return 1.0
    pooled = (base_hits + win_hits) / (base_n + win_n)
    se = np.sqrt(pooled * (1 - pooled) * (1 / base_n + 1 / win_n))
    if se == 0:
        return 1.0
    z = (base_hits / base_n - win_hits / win_n) / se
    return float(stats.norm.sf(z))


def finite_baseline_drop(
    null: np.ndarray, value: float, *, n_window: int, n_baseline: int
) -> tuple[float, float, float]:
    """Whether ``value`` (a window's statistic) falls below the baseline's: a one-sided
    normal test whose p-value reaches any alpha.

    ``null`` holds the statistic on resamples of the baseline at the window's size: its mean
    is what the baseline expects at that size (a small-sample bias like F1's cancels), its
    spread the window's own sampling error. The baseline's estimate of that mean has an error
    of its own, spread · sqrt(n_window / n_baseline), so the two-sample spread is
    spread · sqrt(1 + n_window / n_baseline). Returns (expected, two-sample sd, p-value);
    a null without spread tests nothing (sd 0, p 1).
    """
    expected = float(np.mean(null))
    sd = float(np.std(null, ddof=1)) * np.sqrt(1 + n_window / max(n_baseline, 1))
    if not np.isfinite(sd) or sd <= 0:
        return expected, 0.0, 1.0
    return expected, float(sd), float(stats.norm.sf((expected - value) / sd))


def floor_at(expected: float, sd: float, alpha: float) -> float:
    """The value below which a window is a significant drop at ``alpha``."""
    return float(expected - stats.norm.isf(alpha) * sd)


def mean_ci(
    values: np.ndarray, *, confidence: float = 0.95, rounds: int = 200, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (scipy.stats.bootstrap)."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float("nan"), float("nan")
    # Resampled in batches of at most ~2M values, so a large window's interval costs no more
    # memory than a small one's (scipy draws `batch` resamples of every value at once).
    batch = max(1, 2_000_000 // values.size)
    ci = stats.bootstrap(
        (values,), np.mean, n_resamples=rounds, batch=batch, confidence_level=confidence,
        method="percentile", rng=np.random.default_rng(seed),
    ).confidence_interval  # fmt: skip
    return float(ci.low), float(ci.high)


# Resamples are drawn at most this large; above it their spread is scaled by sqrt(size ratio)
# (the statistics resampled are averages over events), so a 1,000,000-event window costs
# what a 20,000-event one does. This is why `resampled` is written here rather than being
# scipy.stats.bootstrap: scipy resamples every row each round, and the checks need the raw
# resampled statistics (a null at the window's size), not only an interval.
RESAMPLE_MAX_SIZE = 20_000
# Indices drawn at once by a batched statistic: 256 KB of them stay in cache (8 MB took
# twice the time of one round at a time on 3,000 events; at this size a 20,000-row resample
# is one round a call and no slower than the loop).
_BATCH_CELLS = 1 << 15


def resampled(
    statistic: Callable[[np.ndarray], np.ndarray],
    source: int,
    n: int,
    *,
    rounds: int,
    seed: int = 0,
    batched: bool = False,
) -> np.ndarray:
    """``statistic(indices)`` (an array) on ``rounds`` resamples of ``n`` of ``source`` rows.

    ``batched``: ``statistic`` takes a 2-D array, one resample's indices a row, and returns
    one row of results each — the same resamples and numbers without a Python call per
    round (a one-minute window of 30 events spent 20 ms in those calls)."""
    rng = np.random.default_rng(seed)
    m = min(n, RESAMPLE_MAX_SIZE)
    if batched:
        # Drawing rows at once gives the very numbers drawn one row at a time, in order.
        step = max(1, _BATCH_CELLS // m)
        out = np.concatenate(
            [
                statistic(rng.integers(0, source, (min(step, rounds - done), m)))
                for done in range(0, rounds, step)
            ]
        )
    else:
        out = np.array([statistic(rng.integers(0, source, m)) for _ in range(rounds)])
    if m < n:
        centre = out.mean(axis=0)
        out = centre + (out - centre) * np.sqrt(m / n)
    return out


def relative_change(current: float, baseline: float) -> float:
    """(current - baseline) / |baseline|; NaN when the baseline is 0 or unknown."""
    if baseline is None or not np.isfinite(baseline) or baseline == 0:
        return float("nan")
    return (current - baseline) / abs(baseline)
