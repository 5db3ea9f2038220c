"""Quality from predictions + labels, and mean feedback score, with bootstrap intervals."""

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from app.engine.results import CheckResult, MetricValue, Status
from app.engine.stats import bootstrap_ci, relative_change
from app.engine.thresholds import Thresholds

METRICS = ("accuracy", "precision", "recall", "f1")


def _encode(predictions: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    classes, codes = np.unique(np.concatenate([labels, predictions]), return_inverse=True)
    return codes[len(labels) :], codes[: len(labels)], len(classes)


def _metrics_from_codes(pred: np.ndarray, true: np.ndarray, k: int) -> np.ndarray:
    """[accuracy, macro precision, macro recall, macro F1] from integer-coded classes.

    Written with a confusion matrix in numpy because the bootstrap calls it hundreds of times
    per window and scikit-learn's per-call validation is ~100x slower; it matches
    ``precision_recall_fscore_support(average="macro", zero_division=0)`` over the classes
    present in either labels or predictions (tested against it).
    """
    cm = np.bincount(true * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    present = (predicted + actual) > 0
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    m = present.sum()
    return np.array(
        [
            tp.sum() / len(true),
            precision[present].sum() / m,
            recall[present].sum() / m,
            f1[present].sum() / m,
        ]
    )


def classification_metrics(predictions: pd.Series, labels: pd.Series) -> dict[str, float]:
    """Accuracy and macro precision, recall, F1 (over the classes present in either)."""
    pred, true, k = _encode(predictions.astype(str).to_numpy(), labels.astype(str).to_numpy())
    return dict(zip(METRICS, map(float, _metrics_from_codes(pred, true, k)), strict=True))


def per_class_f1(predictions: pd.Series, labels: pd.Series) -> dict[str, float]:
    """F1 for each class that appears in the labels."""
    y_pred, y_true = predictions.astype(str).to_numpy(), labels.astype(str).to_numpy()
    classes = sorted(set(y_true))
    _, _, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, average=None, zero_division=0
    )
    return dict(zip(classes, map(float, f), strict=True))


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    if "prediction" not in frame or "label" not in frame:
        return frame.iloc[0:0]
    return frame[frame["prediction"].notna() & frame["label"].notna()]


def quality_check(
    baseline: pd.DataFrame,
    window: pd.DataFrame,
    *,
    thresholds: Thresholds,
    check: str = "quality",
    rounds: int = 200,
) -> CheckResult:
    """Accuracy/precision/recall/F1 and mean score vs the baseline holdout's own figures.

    ``degraded`` when a metric's relative drop reaches ``quality_drop`` and its bootstrap
    interval lies wholly below the baseline value (a drop that is real, not noise).
    """
    win = _labelled(window)
    base = _labelled(baseline)
    coverage = len(win) / len(window) if len(window) else 0.0
    metrics = [MetricValue("label_coverage", coverage)]
    details: dict[str, object] = {"labelled": len(win)}
    degraded: list[str] = []
    if len(win) >= thresholds.min_labels and len(base) > 0:
        base_m = classification_metrics(base["prediction"], base["label"])
        cur_m = classification_metrics(win["prediction"], win["label"])
        pred, true, k = _encode(
            win["prediction"].astype(str).to_numpy(), win["label"].astype(str).to_numpy()
        )
        rng = np.random.default_rng(0)
        boot = np.array(
            [
                _metrics_from_codes(pred[idx], true[idx], k)
                for idx in (rng.integers(0, len(pred), len(pred)) for _ in range(rounds))
            ]
        )
        alpha = (1 - thresholds.quality_confidence) / 2
        lows, highs = np.quantile(boot, alpha, axis=0), np.quantile(boot, 1 - alpha, axis=0)
        for i, name in enumerate(METRICS):
            lo, hi = float(lows[i]), float(highs[i])
            drop = -relative_change(cur_m[name], base_m[name])
            bad = drop >= thresholds.quality_drop and hi < base_m[name]
            if bad:
                degraded.append(name)
            metrics += [
                MetricValue(name, cur_m[name], status=Status.DEGRADED if bad else Status.OK),
                MetricValue(f"{name}_ci_low", lo),
                MetricValue(f"{name}_ci_high", hi),
                MetricValue(f"baseline_{name}", base_m[name]),
                MetricValue(f"{name}_relative_drop", drop, threshold=thresholds.quality_drop),
            ]
        details["per_class_f1"] = per_class_f1(win["prediction"], win["label"])
    scored = window["score"].dropna() if "score" in window else pd.Series(dtype=float)
    base_scores = baseline["score"].dropna() if "score" in baseline else pd.Series(dtype=float)
    if len(scored) >= thresholds.min_labels:
        values = scored.to_numpy(dtype=float)
        mean = float(values.mean())
        lo, hi = bootstrap_ci(
            lambda idx: float(values[idx].mean()),
            len(values),
            confidence=thresholds.quality_confidence,
            rounds=rounds,
        )
        metrics += [MetricValue("score_mean", mean), MetricValue("score_ci_high", hi)]
        if len(base_scores):
            base_mean = float(base_scores.mean())
            drop = -relative_change(mean, base_mean)
            metrics += [
                MetricValue("baseline_score_mean", base_mean),
                MetricValue("score_relative_drop", drop, threshold=thresholds.quality_drop),
            ]
            if drop >= thresholds.quality_drop and hi < base_mean:
                degraded.append("score")
    has_quality = len(win) >= thresholds.min_labels or len(scored) >= thresholds.min_labels
    if not has_quality:
        status = Status.INSUFFICIENT_DATA
        summary = (
            f"{len(win)} labelled events, {len(scored)} scores "
            f"(need {thresholds.min_labels}); label coverage {coverage:.0%}"
        )
    elif degraded:
        status = Status.DEGRADED
        summary = f"degraded: {', '.join(degraded)} (label coverage {coverage:.0%})"
    else:
        status = Status.OK
        summary = f"no significant drop (label coverage {coverage:.0%})"
    return CheckResult(check, status, summary, metrics, details)
