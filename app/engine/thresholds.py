"""Every threshold the checks use, with its default. A monitor may override any of them."""

import math
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Thresholds:
    """Defaults follow DESIGN.md "Checks"; the comments say why each value."""

    # Below this many events a window says insufficient_data instead of guessing.
    min_events: int = 100
    # A descriptor drifts when its effect size passes the bar (fixed scale, so large windows
    # do not make every trivial difference "significant") AND its p-value survives
    # Benjamini-Hochberg at this false discovery rate across all descriptors tested.
    descriptor_fdr: float = 0.01
    wasserstein: float = 0.1  # normed by the baseline's std
    jensenshannon: float = 0.1
    drifted_share: float = 0.3  # share of descriptors drifted for the check to say drift
    # Domain classifier on the text (Evidently): ROC AUC at or above this is drift.
    text_auc: float = 0.7
    # Embedding drift: the centroid shift must beat the baseline's own bootstrap quantile
    # (false-alarm rate 1 - embedding_quantile) and this floor on the effect size.
    embedding_quantile: float = 0.99
    embedding_min_shift: float = 0.03
    # Prediction / label distribution (Jensen-Shannon distance).
    prediction_js: float = 0.1
    # Quality: degraded on a relative drop >= this that is also significant: a one-sided test
    # of per-example correctness against the baseline's (two samples, both sizes honoured),
    # and macro-F1 against the baseline's F1 on resamples of the window's labelled size (so
    # the small-sample bias of F1 is on both sides). The tests (this window, and this window
    # pooled with the previous ones) share quality_alpha: the false-alarm rate per window.
    quality_drop: float = 0.10
    quality_alpha: float = 0.01
    quality_confidence: float = 0.95  # the intervals shown beside the metrics
    min_labels: int = 30
    # One class's recall (two-sample test of proportions, Bonferroni over the classes with at
    # least min_class_labels labels in both samples) dropping by this much, relative: a
    # minority class collapsing moves accuracy and macro-F1 too little to see.
    class_recall_drop: float = 0.3
    min_class_labels: int = 20
    # Labels and confidences of the previous windows pooled with this one (a rolling window:
    # sparse labels and subtle shifts add up over consecutive windows). Chosen by measured
    # power: on the detection bench, a 10 % new topic on 1,000-event windows without labels
    # was caught in 8 of 10 windows pooled over 3 and 10 of 10 over 5, no false alarm either
    # way (the two-sample nulls keep the pooled tests at their rate however large the pool).
    pool_windows: int = 5
    # Events per window proposed for a human label (GET /v1/runs/{id}/label-queue).
    label_budget: int = 50
    # Quality estimated from the model's confidence (no labels needed) and uncertainty drift
    # (the confidence distribution vs the baseline's): false-alarm rate per window of each,
    # and the effect each needs besides significance (estimated relative drop; KS distance).
    estimate_alpha: float = 0.01
    estimated_drop: float = 0.02
    uncertainty_alpha: float = 0.01
    uncertainty_min_ks: float = 0.03
    # LLM judges (app.engine.judged): degraded when a judge's pass rate or mean score falls
    # below the baseline's significantly (at quality_alpha) and by at least this much,
    # absolute. Small because a judge that agrees with the truth 85 % of the time sees a
    # 10-point fall of the true pass rate as a 7-point fall.
    judge_drop: float = 0.03
    # A judge sees at most its budget per window, so its evidence is pooled over more windows
    # than the label-based checks': with 100 judged of 500 events and a judge agreeing with
    # the truth 85 % of the time, a 10-point fall is caught with power >= 0.9 pooled over 10
    # (bench/judge.py), 0.6 over 5.
    judge_pool_windows: int = 10
    # A judge whose answers on its anchors (baseline records it judged before, judged again
    # once a day) changed for more than this share has changed itself: its test says warning
    # ("unstable") instead of blaming the model. Judges run at temperature 0, so a stable one
    # changes a few percent at most.
    judge_unstable_share: float = 0.1
    # Perplexity: degraded on a relative rise of the mean >= this.
    perplexity_rise: float = 0.20
    perplexity_alpha: float = 0.01  # Welch's t-test of the means, one-sided
    # Long tail: an input is novel past this quantile of the baseline's own held-out novelty
    # scores; warning when the share of novel inputs >= this multiple of the baseline's and
    # the rise is significant at longtail_alpha (two samples).
    longtail_multiple: float = 3.0
    longtail_quantile: float = 0.99
    longtail_alpha: float = 0.01
    # Data quality: warning above these rates.
    empty_rate: float = 0.05
    duplicate_rate: float = 0.2
    truncated_rate: float = 0.1
    pii_rate: float = 0.05
    # Drift must persist in k of the last n windows before the verdict says drift.
    persistence_k: int = 2
    persistence_n: int = 3
    # Retraining is recommended after this many consecutive drifting windows.
    retrain_after_windows: int = 3

    def with_overrides(self, overrides: dict[str, Any] | None) -> "Thresholds":
        """A copy with ``overrides`` applied; unknown names are an error, not ignored."""
        if not overrides:
            return self
        if "min_events" in overrides:
            raise ValueError(
                "min_events is the monitor's own setting (its min_events field), "
                "not a threshold override"
            )
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(f"unknown threshold(s) {unknown}; known: {sorted(known)}")
        for name, value in overrides.items():
            # A NaN threshold never fires and a negative one always does: both are typos.
            whole = isinstance(getattr(self, name), int)
            ok_type = isinstance(value, int) if whole else isinstance(value, int | float)
            if isinstance(value, bool) or not ok_type or not math.isfinite(value) or value < 0:
                kind = "a whole number" if whole else "a finite number"
                raise ValueError(f"threshold {name}: {value!r} is not {kind} >= 0")
        return replace(self, **overrides)
