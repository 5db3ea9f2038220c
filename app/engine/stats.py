"""Small statistical helpers shared by the checks (no library does these as one call)."""

from collections.abc import Callable

import numpy as np


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted q-values (false discovery rate) for a family of p-values."""
    p = np.asarray(p_values, dtype=float)
    n = p.size
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.clip(q, 0, 1)
    return out


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    confidence: float = 0.95,
    rounds: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(indices)`` over ``rounds`` resamples of ``n`` rows."""
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(rounds)])
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


# Resamples are drawn at most this large; above it their spread is scaled by sqrt(size ratio)
# (the statistics resampled are averages over events), so a 1,000,000-event window costs
# what a 20,000-event one does.
RESAMPLE_MAX_SIZE = 20_000


def resampled(
    statistic: Callable[[np.ndarray], np.ndarray],
    source: int,
    n: int,
    *,
    rounds: int,
    seed: int = 0,
) -> np.ndarray:
    """``statistic(indices)`` (an array) on ``rounds`` resamples of ``n`` of ``source`` rows."""
    rng = np.random.default_rng(seed)
    m = min(n, RESAMPLE_MAX_SIZE)
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
