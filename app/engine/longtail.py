"""Long tail: window inputs farther from the baseline than the baseline is from itself."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from app.engine.results import CheckResult, MetricValue, Status
from app.engine.thresholds import Thresholds

_CHUNK = 2_048


def nearest_distances(
    queries: np.ndarray, points: np.ndarray, *, exclude_self: bool = False
) -> np.ndarray:
    """Cosine distance from each query row to its nearest row of ``points`` (unit rows).

    Chunked matrix products: exact, BLAS-fast, and bounded in memory.
    """
    out = np.empty(len(queries), dtype=np.float32)
    for start in range(0, len(queries), _CHUNK):
        sims = queries[start : start + _CHUNK] @ points.T
        if exclude_self:
            rows = np.arange(sims.shape[0])
            sims[rows, rows + start] = -np.inf
        out[start : start + _CHUNK] = 1.0 - sims.max(axis=1)
    return out


@dataclass(frozen=True)
class LongTailProfile:
    """The baseline's own novelty threshold and the share of its rows beyond it."""

    threshold: float
    baseline_rate: float

    @classmethod
    def fit(cls, embeddings: np.ndarray, quantile: float) -> "LongTailProfile":
        """Leave-one-out nearest-neighbour distances within the baseline."""
        d = nearest_distances(embeddings, embeddings, exclude_self=True)
        threshold = float(np.quantile(d, quantile))
        return cls(threshold=threshold, baseline_rate=float((d > threshold).mean()))


def longtail_check(
    profile: LongTailProfile,
    baseline_embeddings: np.ndarray,
    window_embeddings: np.ndarray,
    window: pd.DataFrame,
    *,
    thresholds: Thresholds,
    check: str = "long_tail",
    top: int = 20,
) -> CheckResult:
    """Share of novel inputs, quality on that slice vs the rest, and the most novel ids."""
    d = nearest_distances(window_embeddings, baseline_embeddings)
    novel = d > profile.threshold
    share = float(novel.mean())
    rate = max(profile.baseline_rate, 1e-3)
    # Binomial test so that a handful of novel rows in a small window is not a surge.
    p = float(stats.binomtest(int(novel.sum()), len(novel), rate, alternative="greater").pvalue)
    surge = share >= thresholds.longtail_multiple * rate and p < 0.01
    metrics = [
        MetricValue("novel_share", share, threshold=thresholds.longtail_multiple * rate),
        MetricValue("baseline_novel_share", rate),
        MetricValue("novelty_threshold", profile.threshold),
    ]
    details: dict[str, object] = {"novel_count": int(novel.sum())}
    if {"prediction", "label"} <= set(window.columns):
        labelled = window["prediction"].notna() & window["label"].notna()
        correct = window["prediction"].astype(str) == window["label"].astype(str)
        for name, mask in (("novel", novel), ("familiar", ~novel)):
            sel = labelled.to_numpy() & mask
            if sel.sum():
                metrics.append(
                    MetricValue("accuracy", float(correct.to_numpy()[sel].mean()), feature=name)
                )
    order = np.argsort(-d)[: min(top, int(novel.sum()))]
    id_col = "request_id" if "request_id" in window else None
    details["top_novel"] = [
        {
            "id": str(window[id_col].iloc[i]) if id_col else int(i),
            "distance": float(d[i]),
        }
        for i in order
    ]
    details["novel_mask"] = novel
    return CheckResult(
        check,
        Status.WARNING if surge else Status.OK,
        f"{share:.1%} of inputs are novel (baseline {rate:.1%})",
        metrics,
        details,
    )
