"""Perplexity (from token logprobs, stored per event) vs the baseline."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from app.engine.results import CheckResult, MetricValue, Status
from app.engine.thresholds import Thresholds

if TYPE_CHECKING:  # the api stores per-event perplexity and must not need pandas to do it
    import pandas as pd


def perplexity_from_logprobs(logprobs: list[float]) -> float:
    """exp of the mean negative log-likelihood per token (capped below float overflow)."""
    return math.exp(min(-math.fsum(logprobs) / len(logprobs), 690.0))


def perplexity_check(
    baseline: pd.Series, window: pd.Series, *, thresholds: Thresholds, check: str = "perplexity"
) -> CheckResult:
    """Mean and p90 perplexity; degraded when the mean rises by ``perplexity_rise`` or more
    and significantly: Welch's t-test, one-sided, window vs baseline (two samples, so the
    baseline's own error counts), at ``perplexity_alpha``."""
    cur = window.dropna().to_numpy(dtype=float)
    base = baseline.dropna().to_numpy(dtype=float)
    if len(cur) < thresholds.min_labels or len(base) == 0:
        return CheckResult(
            check, Status.INSUFFICIENT_DATA, f"{len(cur)} events with perplexity", []
        )
    mean, p90 = float(cur.mean()), float(np.quantile(cur, 0.9))
    base_mean, base_p90 = float(base.mean()), float(np.quantile(base, 0.9))
    # Here, not at the top: the slim api imports this module (perplexity_from_logprobs) and
    # has no scipy, which app.engine.stats needs.
    from scipy import stats

    from app.engine.stats import relative_change

    p = float(stats.ttest_ind(cur, base, equal_var=False, alternative="greater").pvalue)
    p = p if np.isfinite(p) else 1.0
    rise = relative_change(mean, base_mean)
    degraded = rise >= thresholds.perplexity_rise and p < thresholds.perplexity_alpha
    return CheckResult(
        check,
        Status.DEGRADED if degraded else Status.OK,
        f"mean {mean:.2f} vs baseline {base_mean:.2f} ({rise:+.0%}), p90 {p90:.2f}",
        [
            MetricValue("mean", mean),
            MetricValue("p90", p90),
            MetricValue("baseline_mean", base_mean),
            MetricValue("baseline_p90", base_p90),
            MetricValue("relative_rise", rise, threshold=thresholds.perplexity_rise),
            MetricValue("p_value", p, threshold=thresholds.perplexity_alpha),
        ],
    )
