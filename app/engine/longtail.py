"""Long tail: the window's inputs that look like new traffic rather than the baseline.

A nearest-neighbour distance in an embedding fitted on the baseline does not see new traffic:
text from elsewhere projects close to the baseline in a space built from the baseline's own
vocabulary (measured on the detection bench: chatbot questions reaching a health-news model
were *nearer* the baseline than its own held-out tweets, and a 30 % new domain left the novel
share at the baseline's 1 %).

So novelty is a density ratio: a classifier learns to tell the window's embeddings from the
baseline's, cross-fitted (each half of both samples scored by a model trained on the other
half), and an event is novel when its held-out score passes the ``longtail_quantile`` of the
baseline's own held-out scores. Without a shift the classifier learns noise, window and
baseline scores are exchangeable and the novel share stays at 1 - quantile; with a shift the
events the window has more of than the baseline score high. It works in any embedder's space
(client embeddings included) and costs a logistic regression per window. Written here because
no library scores per-event novelty against a reference this way; scikit-learn does the fit.
"""

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from app.engine.results import CheckResult, MetricValue, Status
from app.engine.thresholds import Thresholds

# The baseline side is sampled to this many rows (the threshold's own error at this size is a
# fraction of a point of share; the fit stays well under a second).
MAX_REFERENCE_ROWS = 20_000
# Fewer rows than this on either side: no classifier worth its name can be trained.
MIN_ROWS = 20


def novelty_scores(
    reference: np.ndarray, window: np.ndarray, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted scores (log-odds of "from the window") for the reference and window rows.

    Every row is scored by a model that never saw it, so the reference's scores are an
    honest null for the window's.
    """
    rng = np.random.default_rng(seed)
    x = np.vstack([reference, window]).astype(np.float64)
    y = np.r_[np.zeros(len(reference)), np.ones(len(window))]
    fold = np.zeros(len(x), dtype=bool)
    for side in (y == 0, y == 1):  # each fold holds half of each side
        rows = np.flatnonzero(side)
        fold[rng.permutation(rows)[: len(rows) // 2]] = True
    scores = np.empty(len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for held in (fold, ~fold):
            model = LogisticRegression(C=1.0, max_iter=200)
            model.fit(x[~held], y[~held], sample_weight=_balanced(y[~held]))
            scores[held] = model.decision_function(x[held])
    return scores[: len(reference)], scores[len(reference) :]


def _balanced(y: np.ndarray) -> np.ndarray:
    """Each row's weight under scikit-learn's ``class_weight="balanced"`` (n / (classes x
    the row's class count)), given as sample weights: the same fit, without the label
    encoding and validation that cost a small window's fit a third of its time."""
    counts = np.bincount(y.astype(np.intp), minlength=2)
    return np.asarray(len(y) / (2 * counts[y.astype(np.intp)]), dtype=np.float64)


def exceedance_p(n_reference: int, reference_above: int, n_window: int, window_above: int) -> float:
    """P(at least ``window_above`` window scores above the threshold) when window and baseline
    scores are exchangeable and ``reference_above`` baseline scores lie above it.

    The threshold is a quantile of the baseline's own scores, so the baseline's share is
    fixed by construction, not a sample estimate: the count of window scores ranked above
    the (reference_above + 1)-th highest baseline score is negative hypergeometric. A two-
    proportion z-test here fired on 2.1 % of calm windows at 100 baseline and 120 window
    rows (nominal 1 %); this, on 1.1 % (1,000 draws of health news against itself).
    """
    if window_above <= 0:
        return 1.0
    return float(
        stats.nhypergeom.sf(window_above - 1, n_reference + n_window, n_window, reference_above + 1)
    )


def longtail_check(
    baseline_embeddings: np.ndarray,
    window_embeddings: np.ndarray,
    window: pd.DataFrame,
    *,
    thresholds: Thresholds,
    check: str = "long_tail",
    top: int = 20,
    seed: int = 0,
) -> CheckResult:
    """Share of novel inputs (vs the baseline's own share, two samples), quality on that
    slice vs the rest, and the most novel request ids (``details.novelty`` per row)."""
    reference = baseline_embeddings
    if len(reference) > MAX_REFERENCE_ROWS:
        pick = np.random.default_rng(seed).choice(len(reference), MAX_REFERENCE_ROWS, False)
        reference = reference[pick]
    if min(len(reference), len(window_embeddings)) < MIN_ROWS:
        return CheckResult(
            check, Status.INSUFFICIENT_DATA,
            f"{len(reference)} baseline and {len(window_embeddings)} window embeddings "
            f"(need {MIN_ROWS} of each)",
        )  # fmt: skip
    ref_scores, scores = novelty_scores(reference, window_embeddings, seed=seed)
    threshold = float(np.quantile(ref_scores, thresholds.longtail_quantile))
    base_hits = int((ref_scores > threshold).sum())
    rate = max(base_hits / len(ref_scores), 1e-3)
    novel = scores > threshold
    share = float(novel.mean())
    p = exceedance_p(len(ref_scores), base_hits, len(novel), int(novel.sum()))
    alpha = thresholds.longtail_alpha
    surge = share >= thresholds.longtail_multiple * rate and p < alpha
    metrics = [
        MetricValue("novel_share", share, threshold=thresholds.longtail_multiple * rate),
        MetricValue("baseline_novel_share", rate),
        MetricValue("novel_share_p_value", p, threshold=alpha),
        MetricValue("novelty_threshold", threshold),
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
    order = np.argsort(-scores)[: min(top, int(novel.sum()))]
    id_col = "request_id" if "request_id" in window else None
    details["top_novel"] = [
        {
            "id": str(window[id_col].iloc[i]) if id_col else int(i),
            "novelty": float(scores[i]),
        }
        for i in order
    ]
    details["novelty"] = scores
    return CheckResult(
        check,
        Status.WARNING if surge else Status.OK,
        f"{share:.1%} of inputs look new to the baseline (baseline {rate:.1%})",
        metrics,
        details,
    )
