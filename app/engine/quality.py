"""Quality from predictions + labels (however few), and mean feedback score."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from app.engine.results import CheckResult, MetricValue, Status
from app.engine.stats import (
    finite_baseline_drop,
    mean_ci,
    proportion_drop_p,
    relative_change,
    resampled,
)
from app.engine.thresholds import Thresholds

METRICS = ("accuracy", "precision", "recall", "f1")


def _encode(predictions: pd.Series, labels: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer codes of the predictions and the labels (as text), and the classes they
    stand for (hashed, not sorted: sorting a million strings cost a second of a big window)."""
    labels_text = labels.astype(str).to_numpy()
    codes, classes = pd.factorize(np.concatenate([labels_text, predictions.astype(str).to_numpy()]))
    codes = np.asarray(codes)
    return codes[len(labels_text) :], codes[: len(labels_text)], np.asarray(classes)


def _class_scores(pred: np.ndarray, true: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Per class: true positives, predicted and actual counts, precision, recall and F1
    (0 where undefined, as scikit-learn's ``zero_division=0``)."""
    cm = np.bincount(true * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    return tp, predicted, actual, precision, recall, f1


def _metrics_from_codes(pred: np.ndarray, true: np.ndarray, k: int) -> np.ndarray:
    """[accuracy, macro precision, macro recall, macro F1] from integer-coded classes.

    Written with a confusion matrix in numpy because the bootstrap calls it hundreds of times
    per window and scikit-learn's per-call validation is ~100x slower; it matches
    ``precision_recall_fscore_support(average="macro", zero_division=0)`` over the classes
    present in either labels or predictions (tested against it).
    """
    tp, predicted, actual, precision, recall, f1 = _class_scores(pred, true, k)
    present = (predicted + actual) > 0
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
    pred, true, classes = _encode(predictions, labels)
    return dict(
        zip(METRICS, map(float, _metrics_from_codes(pred, true, len(classes))), strict=True)
    )


def per_class_f1(predictions: pd.Series, labels: pd.Series) -> dict[str, float]:
    """F1 for each class that appears in the labels (scikit-learn's per-class F1 with
    ``zero_division=0``, from one confusion matrix: tested equal)."""
    pred, true, classes = _encode(predictions, labels)
    f1 = _class_scores(pred, true, len(classes))[-1]
    labelled = np.flatnonzero(np.bincount(true, minlength=len(classes)) > 0)
    return {str(classes[c]): float(f1[c]) for c in sorted(labelled, key=lambda c: classes[c])}


def _version_f1(labelled: pd.DataFrame, min_labels: int) -> list[MetricValue]:
    """Macro-F1 of each model version with at least ``min_labels`` labelled events in the
    window (``feature`` = the version): production's score beside the training and
    validation scores a version reported."""
    if "model_version" not in labelled:
        return []
    return [
        MetricValue("version_f1", classification_metrics(v["prediction"], v["label"])["f1"],
                    feature=str(version))
        for version, v in labelled.groupby(labelled["model_version"].fillna(""))
        if len(v) >= min_labels
    ]  # fmt: skip


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The events with a prediction and a label: only the columns quality reads (a filter
    copies every column it keeps: the whole window's text, at a million events 70 MB)."""
    columns = [c for c in ("prediction", "label", "model_version") if c in frame]
    if "prediction" not in frame or "label" not in frame:
        return frame.iloc[0:0][columns]
    return frame.loc[frame["prediction"].notna() & frame["label"].notna(), columns]


def _metric_resamples(
    pred: np.ndarray, true: np.ndarray, k: int, n: int, *, rounds: int, seed: int
) -> np.ndarray:
    """[accuracy, precision, recall, F1] on ``rounds`` resamples of ``n`` of these pairs."""
    return resampled(
        lambda idx: _metrics_from_codes(pred[idx], true[idx], k), len(pred), n,
        rounds=rounds, seed=seed,
    )  # fmt: skip


@dataclass(frozen=True)
class _Test:
    """One labelled sample's tests against the baseline."""

    n: int
    metrics: dict[str, float]  # accuracy, macro precision, recall, F1
    accuracy_p: float
    f1_p: float
    baseline_f1_at_n: float


def _test_sample(
    base_codes: tuple[np.ndarray, np.ndarray], base_acc: float,
    codes: tuple[np.ndarray, np.ndarray], k: int, *, rounds: int, seed: int,
) -> _Test:  # fmt: skip
    """Accuracy by a two-sample test of correctness; macro-F1 against the baseline's F1 on
    resamples of the same labelled size (F1 over few labels is biased low: classes seen once
    or only in predictions count as zero — compared like with like, the bias cancels), as a
    two-sample z (the baseline's own error included) so its p-value reaches any alpha."""
    pred, true = codes
    n = len(pred)
    win = _metrics_from_codes(pred, true, k)
    bp, bt = base_codes
    null_f1 = _metric_resamples(bp, bt, k, n, rounds=rounds, seed=seed)[:, 3]
    expected, _, f1_p = finite_baseline_drop(null_f1, float(win[3]), n_window=n, n_baseline=len(bp))
    correct = round(win[0] * n)
    return _Test(
        n=n,
        metrics=dict(zip(METRICS, map(float, win), strict=True)),
        accuracy_p=proportion_drop_p(round(base_acc * len(bp)), len(bp), correct, n),
        f1_p=f1_p,
        baseline_f1_at_n=expected,
    )


@dataclass(frozen=True)
class _ClassRecall:
    """One class's recall in a sample against the baseline's."""

    name: str
    labelled: int
    recall: float
    baseline_recall: float
    p_value: float

    @property
    def drop(self) -> float:
        return -relative_change(self.recall, self.baseline_recall)


def _class_recalls(
    base_codes: tuple[np.ndarray, np.ndarray], codes: tuple[np.ndarray, np.ndarray],
    names: list[str], min_labels: int,
) -> list[_ClassRecall]:  # fmt: skip
    """Recall of each class with at least ``min_labels`` labels in both samples, each tested
    as a two-sample drop of proportions. A minority class collapsing barely moves accuracy
    or macro-F1 over ten classes; its own recall halves."""
    bp, bt = base_codes
    pred, true = codes
    out = []
    for c, name in enumerate(names):
        base_n, win_n = int((bt == c).sum()), int((true == c).sum())
        if base_n < min_labels or win_n < min_labels:
            continue
        base_hits = int(((bt == c) & (bp == c)).sum())
        win_hits = int(((true == c) & (pred == c)).sum())
        out.append(
            _ClassRecall(
                name, win_n, win_hits / win_n, base_hits / base_n,
                proportion_drop_p(base_hits, base_n, win_hits, win_n),
            )
        )  # fmt: skip
    return out


def _codes(frame: pd.DataFrame, classes: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    pred = np.array([classes[c] for c in frame["prediction"].astype(str)], dtype=int)
    true = np.array([classes[c] for c in frame["label"].astype(str)], dtype=int)
    return pred, true


def quality_check(
    baseline: pd.DataFrame,
    window: pd.DataFrame,
    *,
    thresholds: Thresholds,
    recent: pd.DataFrame | None = None,
    check: str = "quality",
    rounds: int = 200,
    seed: int = 0,
) -> CheckResult:
    """Accuracy/precision/recall/F1 and mean score vs the baseline holdout's own figures.

    ``degraded`` when accuracy or macro-F1 drops by ``quality_drop`` or more (relative) and
    the drop is significant: accuracy by a two-sample test of per-example correctness,
    macro-F1 against the baseline's F1 on resamples of the same labelled size (a two-sample
    z), or when one class's recall drops by ``class_recall_drop`` or more and significantly
    (a minority class collapsing while accuracy holds). Each is tested on this window's
    labelled events and, when ``recent`` (the previous windows' events) has labels, on them
    pooled with this window's; the tests share ``quality_alpha``. A pooled alarm needs this
    window's own labels to point the same way. A sample with fewer than ``min_labels``
    labels is not tested at all. The mean score (feedback) is compared with the baseline's
    by Welch's t-test.
    """
    win = _labelled(window)
    base = _labelled(baseline)
    past = _labelled(recent) if recent is not None else win.iloc[0:0]
    coverage = len(win) / len(window) if len(window) else 0.0
    metrics = [MetricValue("label_coverage", coverage)]
    details: dict[str, object] = {"labelled": len(win), "labelled_pooled": len(past) + len(win)}
    degraded: list[str] = []
    samples = {"window": win}
    if len(past) and len(win):
        samples["pooled"] = pd.concat([past, win], ignore_index=True)
    samples = {k: v for k, v in samples.items() if len(v) >= thresholds.min_labels}
    if samples and len(base) > 0:
        # The classes seen anywhere (a union of sets: concatenating frames whose columns may
        # be all-NA is deprecated in pandas and would only be read for these names).
        names = sorted(
            set().union(
                *(set(f["prediction"].astype(str)) | set(f["label"].astype(str))
                  for f in (base, *samples.values()))
            )
        )  # fmt: skip
        classes = {c: i for i, c in enumerate(names)}
        base_codes = _codes(base, classes)
        base_m = dict(
            zip(METRICS, map(float, _metrics_from_codes(*base_codes, len(classes))), strict=True)
        )
        # Three tests per sample (accuracy, macro-F1, the weakest class's recall; the last
        # split again over the classes tested) share quality_alpha: Bonferroni.
        alpha = thresholds.quality_alpha / (3 * len(samples))
        own_direction: dict[str, bool] = {}
        for name, sample in samples.items():
            pred, true = _codes(sample, classes)
            t = _test_sample(
                base_codes, base_m["accuracy"], (pred, true), len(classes),
                rounds=rounds, seed=seed,
            )  # fmt: skip
            suffix = "" if name == "window" else "_pooled"
            acc_drop = -relative_change(t.metrics["accuracy"], base_m["accuracy"])
            f1_drop = -relative_change(t.metrics["f1"], t.baseline_f1_at_n)
            recalls = _class_recalls(base_codes, (pred, true), names, thresholds.min_class_labels)
            class_alpha = alpha / max(len(recalls), 1)
            collapsed = [
                r for r in recalls
                if r.p_value < class_alpha and r.drop >= thresholds.class_recall_drop
            ]  # fmt: skip
            bad_acc = t.accuracy_p < alpha and acc_drop >= thresholds.quality_drop
            bad_f1 = t.f1_p < alpha and f1_drop >= thresholds.quality_drop
            if name == "window":
                own_direction = {"accuracy": acc_drop > 0, "f1": f1_drop > 0}
            elif len(win) < thresholds.min_labels:
                # Too few labels in this window to tell its own direction: its accuracy.
                own = _metrics_from_codes(*_codes(win, classes), len(classes))[0]
                own_direction = dict.fromkeys(("accuracy", "f1"), own < base_m["accuracy"])
            if suffix:
                # A pooled alarm needs this window's own evidence on the same side: one
                # unlucky window pooled into the next two must not make three alarms.
                bad_acc = bad_acc and own_direction["accuracy"]
                bad_f1 = bad_f1 and own_direction["f1"]
                collapsed = [c for c in collapsed if own_direction["accuracy"] or c.drop > 0]
            pooled_note = " (pooled over recent windows)" if suffix else ""
            degraded += [
                f"{m}{pooled_note}" for m, bad in (("accuracy", bad_acc), ("f1", bad_f1)) if bad
            ]
            degraded += [
                f"recall of class {c.name!r} {c.recall:.2f} vs {c.baseline_recall:.2f}{pooled_note}"
                for c in collapsed
            ]
            weakest = min(recalls, key=lambda r: r.p_value, default=None)
            metrics += [
                MetricValue(f"labelled{suffix}", float(t.n)),
                MetricValue(f"accuracy_p_value{suffix}", t.accuracy_p, threshold=alpha),
                MetricValue(f"f1_p_value{suffix}", t.f1_p, threshold=alpha),
                MetricValue(f"baseline_f1_at_window_labels{suffix}", t.baseline_f1_at_n),
            ]
            if weakest is not None:
                metrics.append(
                    MetricValue(
                        f"class_recall_p_value{suffix}", weakest.p_value,
                        feature=weakest.name, threshold=class_alpha,
                        status=Status.DEGRADED if weakest in collapsed else Status.OK,
                    )
                )  # fmt: skip
            if suffix:
                metrics += [
                    MetricValue("accuracy_pooled", t.metrics["accuracy"],
                                status=Status.DEGRADED if bad_acc else Status.OK),
                    MetricValue("f1_pooled", t.metrics["f1"],
                                status=Status.DEGRADED if bad_f1 else Status.OK),
                ]  # fmt: skip
                continue
            metrics += [
                MetricValue(
                    "class_recall", r.recall, feature=r.name,
                    threshold=r.baseline_recall * (1 - thresholds.class_recall_drop),
                    status=Status.DEGRADED if r in collapsed else Status.OK,
                )
                for r in recalls
            ]  # fmt: skip
            cur_m = t.metrics
            boot = _metric_resamples(pred, true, len(classes), len(pred), rounds=rounds, seed=seed)
            ci = (1 - thresholds.quality_confidence) / 2
            lows, highs = np.quantile(boot, ci, axis=0), np.quantile(boot, 1 - ci, axis=0)
            flags = {"accuracy": bad_acc, "f1": bad_f1}
            for i, metric in enumerate(METRICS):
                reference = t.baseline_f1_at_n if metric == "f1" else base_m[metric]
                drop = -relative_change(cur_m[metric], reference)
                metrics += [
                    MetricValue(
                        metric, cur_m[metric],
                        status=Status.DEGRADED if flags.get(metric) else Status.OK,
                    ),
                    MetricValue(f"{metric}_ci_low", float(lows[i])),
                    MetricValue(f"{metric}_ci_high", float(highs[i])),
                    MetricValue(f"baseline_{metric}", base_m[metric]),
                    MetricValue(
                        f"{metric}_relative_drop", drop, threshold=thresholds.quality_drop
                    ),
                ]  # fmt: skip
            details["per_class_f1"] = per_class_f1(sample["prediction"], sample["label"])
            metrics += _version_f1(sample, thresholds.min_labels)
        details["label_mix"] = {
            "window": win["label"].astype(str).value_counts(normalize=True).round(4).to_dict(),
            "baseline": base["label"].astype(str).value_counts(normalize=True).round(4).to_dict(),
        }
    scored = window["score"].dropna() if "score" in window else pd.Series(dtype=float)
    base_scores = baseline["score"].dropna() if "score" in baseline else pd.Series(dtype=float)
    if len(scored) >= thresholds.min_labels:
        values = scored.to_numpy(dtype=float)
        mean = float(values.mean())
        _, hi = mean_ci(values, confidence=thresholds.quality_confidence, rounds=rounds)
        metrics += [MetricValue("score_mean", mean), MetricValue("score_ci_high", hi)]
        if len(base_scores) >= 2:
            base_mean = float(base_scores.mean())
            drop = -relative_change(mean, base_mean)
            # Welch's t-test, one-sided, window vs the baseline's scores (two samples).
            score_p = float(
                stats.ttest_ind(values, base_scores.to_numpy(dtype=float), equal_var=False,
                                alternative="less").pvalue
            )  # fmt: skip
            score_p = score_p if np.isfinite(score_p) else 1.0
            metrics += [
                MetricValue("baseline_score_mean", base_mean),
                MetricValue("score_relative_drop", drop, threshold=thresholds.quality_drop),
                MetricValue("score_p_value", score_p, threshold=thresholds.quality_alpha),
            ]
            if drop >= thresholds.quality_drop and score_p < thresholds.quality_alpha:
                degraded.append("score")
    has_quality = bool(samples) or len(scored) >= thresholds.min_labels
    rests_on = f"{len(win)} labelled events" + (
        f", {len(past) + len(win)} with the previous windows" if len(past) else ""
    )
    if not has_quality:
        status = Status.INSUFFICIENT_DATA
        summary = (
            f"{rests_on}, {len(scored)} scores (need {thresholds.min_labels}); "
            f"label coverage {coverage:.0%}"
        )
    elif degraded:
        status = Status.DEGRADED
        summary = f"degraded: {', '.join(degraded)} ({rests_on}; coverage {coverage:.0%})"
    else:
        status = Status.OK
        summary = f"no significant drop ({rests_on}; coverage {coverage:.0%})"
    return CheckResult(check, status, summary, metrics, details)
