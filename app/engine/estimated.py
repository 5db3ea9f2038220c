"""Quality without labels: the model's confidence, calibrated on the baseline, and its drift.

Two checks that need no label, only the ``confidence`` a model reports with its prediction
(the probability it gives the predicted class):

- ``estimated_quality``: CBPE-style (confidence-based performance estimation, as NannyML
  calls it). On the baseline, which has labels and confidences, an isotonic regression learns
  confidence -> P(correct) (cross-fitted to measure its calibration error honestly). A
  window's expected accuracy is the mean calibrated confidence; its expected macro-F1 comes
  from the expected confusion per predicted class (right with the calibrated probability;
  when wrong, the true class follows the baseline's errors for that prediction). The test is
  two-sample: the baseline's own estimates on resamples of the window's size give the
  window's spread, and the baseline's finite size adds its own (spread · sqrt(1 + n_window /
  n_baseline)) — never a fixed band — so a 1,000-event window, a 20,000-event one and a
  pooled window larger than the baseline each get the false-alarm rate asked for.
  It assumes what the model got right on the baseline still predicts what it gets right now:
  inputs from classes it never saw break that (measured: it then shows about a fifth of the
  real drop), which is why the estimate is reported as an estimate and the next check can
  raise the alarm on its own.
- ``uncertainty_drift``: the window's confidence (and perplexity, where tokens' logprobs
  were sent) against the baseline's, a two-sample Kolmogorov-Smirnov test.

Both also test the window pooled with the previous ones (a rolling window), so a shift too
small for one window adds up over consecutive windows; each family splits its false-alarm
rate over its tests (Bonferroni). Written here rather than taken from NannyML: its CBPE needs
every class's probability (clients send one confidence), thresholds from a handful of
reference chunks (it never fired on such windows), and a dependency the size of Evidently.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from app.engine.results import CheckResult, MetricValue, Status
from app.engine.stats import finite_baseline_drop, floor_at, ks_2samp, resampled
from app.engine.thresholds import Thresholds

# Resamples of the baseline behind each threshold (drawn at most 20,000 large: see
# app.engine.stats.resampled).
NULL_ROUNDS = 400
# Fewer labelled, confident baseline records than this cannot calibrate anything.
MIN_CALIBRATION_RECORDS = 100


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by count."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total / len(confidence))


def _isotonic(confidence: np.ndarray, correct: np.ndarray) -> IsotonicRegression:
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(confidence, correct)


@dataclass(frozen=True)
class IsotonicCurve:
    """A fitted isotonic regression as its knots: ``predict`` is what scikit-learn's does
    with ``out_of_bounds="clip"`` (linear between knots, flat beyond), and the curve is plain
    data, stored without pickle."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def of(cls, model: IsotonicRegression) -> "IsotonicCurve":
        """The knots of a fitted model."""
        return cls(np.asarray(model.X_thresholds_, float), np.asarray(model.y_thresholds_, float))

    def predict(self, confidence: np.ndarray | pd.Series) -> np.ndarray:
        """Calibrated P(correct) for each confidence."""
        calibrated: np.ndarray = np.interp(np.asarray(confidence, dtype=float), self.x, self.y)
        return calibrated


_CALIBRATION_ARRAYS = ("error_mix", "baseline_predicted", "baseline_calibrated")
_CALIBRATION_SETTINGS = (
    "classes", "baseline_accuracy", "ece_raw", "ece_calibrated", "reliability",
)  # fmt: skip


@dataclass
class Calibration:
    """Confidence -> P(correct), learnt on the baseline, and what estimates need from it."""

    model: IsotonicCurve
    classes: list[str]
    # error_mix[d, c]: when the model predicts d and is wrong, how often the truth is c.
    error_mix: np.ndarray
    baseline_predicted: np.ndarray  # class index of each baseline record's prediction
    baseline_calibrated: np.ndarray  # its calibrated confidence
    baseline_accuracy: float
    ece_raw: float
    ece_calibrated: float
    reliability: list[dict[str, float]]

    @classmethod
    def fit(cls, records: pd.DataFrame, *, seed: int = 0) -> "Calibration | None":
        """From baseline records with prediction, label and confidence; None if too few."""
        if not {"prediction", "label", "confidence"} <= set(records):
            return None
        rows = records.dropna(subset=["prediction", "label", "confidence"])
        if len(rows) < MIN_CALIBRATION_RECORDS:
            return None
        pred = rows["prediction"].astype(str).to_numpy()
        true = rows["label"].astype(str).to_numpy()
        conf = rows["confidence"].to_numpy(dtype=float)
        correct = (pred == true).astype(float)
        # Cross-fitted calibration error: each half calibrated by a model of the other half.
        half = np.random.default_rng(seed).permutation(len(rows)) < len(rows) // 2
        crossed = np.empty(len(rows))
        crossed[half] = _isotonic(conf[~half], correct[~half]).predict(conf[half])
        crossed[~half] = _isotonic(conf[half], correct[half]).predict(conf[~half])
        model = _isotonic(conf, correct)
        classes = sorted(set(pred) | set(true))
        index = {c: i for i, c in enumerate(classes)}
        p_idx = np.array([index[c] for c in pred])
        t_idx = np.array([index[c] for c in true])
        k = len(classes)
        wrong = p_idx != t_idx
        mix = np.bincount(p_idx[wrong] * k + t_idx[wrong], minlength=k * k).reshape(k, k)
        mix = mix.astype(float)
        overall = np.bincount(t_idx[wrong], minlength=k).astype(float) + 1e-9
        for d in range(k):  # a prediction never wrong on the baseline: errors as overall
            row = mix[d] if mix[d].sum() > 0 else overall.copy()
            row[d] = 0.0
            mix[d] = row / row.sum() if row.sum() > 0 else 0.0
        edges = np.linspace(0, 1, 11)
        which = np.clip(np.digitize(conf, edges[1:-1]), 0, 9)
        reliability = [
            {
                "confidence_from": float(edges[b]),
                "confidence_to": float(edges[b + 1]),
                "records": int((which == b).sum()),
                "mean_confidence": float(conf[which == b].mean()),
                "accuracy": float(correct[which == b].mean()),
            }
            for b in range(10)
            if (which == b).any()
        ]
        return cls(
            model=IsotonicCurve.of(model),
            classes=classes,
            error_mix=mix,
            baseline_predicted=p_idx,
            baseline_calibrated=model.predict(conf),
            baseline_accuracy=float(correct.mean()),
            ece_raw=expected_calibration_error(conf, correct),
            ece_calibrated=expected_calibration_error(crossed, correct),
            reliability=reliability,
        )

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """As plain data (settings and arrays) for the stored profile."""
        arrays = {name: getattr(self, name) for name in _CALIBRATION_ARRAYS}
        arrays |= {"curve_x": self.model.x, "curve_y": self.model.y}
        settings = {name: getattr(self, name) for name in _CALIBRATION_SETTINGS}
        return settings, arrays

    @classmethod
    def from_state(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Calibration":
        """Inverse of ``to_state``."""
        return cls(
            model=IsotonicCurve(arrays["curve_x"], arrays["curve_y"]),
            classes=list(settings["classes"]),
            error_mix=arrays["error_mix"],
            baseline_predicted=arrays["baseline_predicted"],
            baseline_calibrated=arrays["baseline_calibrated"],
            baseline_accuracy=float(settings["baseline_accuracy"]),
            ece_raw=float(settings["ece_raw"]),
            ece_calibrated=float(settings["ece_calibrated"]),
            reliability=list(settings["reliability"]),
        )

    def encode(self, predictions: pd.Series) -> np.ndarray:
        """Class indices; a class the baseline never had gets an index of its own."""
        index = {c: i for i, c in enumerate(self.classes)}
        extra: dict[str, int] = {}
        out = np.empty(len(predictions), dtype=int)
        for i, c in enumerate(predictions.astype(str)):
            out[i] = index.get(c, extra.setdefault(c, len(self.classes) + len(extra)))
        return out

    def estimate(self, predicted: np.ndarray, calibrated: np.ndarray) -> tuple[float, float]:
        """Expected accuracy and macro-F1 of events with these predictions and calibrated
        confidences."""
        accuracy, f1 = self.estimate_rows(predicted[None, :], calibrated[None, :])[0]
        return float(accuracy), float(f1)

    def estimate_rows(self, predicted: np.ndarray, calibrated: np.ndarray) -> np.ndarray:
        """``estimate`` of each row of these 2-D arrays, as an array of (accuracy, F1) rows."""
        rows = predicted.shape[0]
        k = max(len(self.classes), int(predicted.max()) + 1 if predicted.size else 0)
        # Each row's classes in bins of their own, so one bincount counts every row.
        binned = (predicted + k * np.arange(rows)[:, None]).ravel()
        tp = np.bincount(binned, weights=calibrated.ravel(), minlength=rows * k)
        fp = np.bincount(binned, weights=1.0 - calibrated.ravel(), minlength=rows * k)
        tp, fp = tp.reshape(rows, k), fp.reshape(rows, k)
        mix = np.zeros((k, k))
        base_k = len(self.classes)
        mix[:base_k, :base_k] = self.error_mix
        if k > base_k:  # predictions new to the baseline: errors go as the overall mix
            mix[base_k:, :base_k] = self.error_mix.mean(axis=0)
        fn = fp @ mix
        present = (tp + fp > 0) | (tp + fn >= 0.5)
        denom = 2 * tp + fp + fn
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
        counted = present.sum(axis=1)
        f1_mean = np.divide(
            (f1 * present).sum(axis=1), counted, out=np.full(rows, np.nan), where=counted > 0
        )
        accuracy = calibrated.mean(axis=1) if calibrated.shape[1] else np.full(rows, np.nan)
        return np.column_stack([accuracy, f1_mean])

    def null(self, n: int, rounds: int, seed: int) -> np.ndarray:
        """The baseline's own (accuracy, F1) estimates on ``rounds`` resamples of ``n``."""
        return self.resampled(self.baseline_predicted, self.baseline_calibrated, n, rounds, seed)

    def resampled(
        self, predicted: np.ndarray, calibrated: np.ndarray, n: int, rounds: int, seed: int
    ) -> np.ndarray:
        """(accuracy, F1) estimates on ``rounds`` resamples of ``n`` of these events."""
        # Many rounds per call: a 30-event window's 1,000 rounds were 22 ms of Python calls
        # one at a time, 0.4 ms batched (and no slower at 50,000 events); the same numbers.
        return resampled(
            lambda idx: self.estimate_rows(predicted[idx], calibrated[idx]),
            len(calibrated), n, rounds=rounds, seed=seed, batched=True,
        )  # fmt: skip


def _confident(frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None or "confidence" not in frame or "prediction" not in frame:
        return pd.DataFrame(columns=["prediction", "confidence"])
    return frame.dropna(subset=["prediction", "confidence"])


def estimated_quality_check(
    calibration: Calibration | None,
    window: pd.DataFrame,
    *,
    recent: pd.DataFrame | None = None,
    thresholds: Thresholds,
    check: str = "estimated_quality",
    seed: int = 0,
    off_support: Sequence[str] = (),
) -> CheckResult:
    """Accuracy and macro-F1 estimated from confidence; ``degraded`` when an estimate falls
    below the baseline's own estimates at the same size (``estimate_alpha`` shared by the
    tests) by at least ``estimated_drop``.

    ``off_support`` names the signals saying the window's inputs left the baseline's support
    (new inputs, shifted confidence): the calibration no longer holds there and the estimate
    is optimistic (measured: 0.24 off in F1 under unseen classes), so its figures are then
    withheld (``None``) with the reason; a significant drop still counts — it only
    understates the real one."""
    if calibration is None:
        return CheckResult(
            check, Status.NOT_APPLICABLE,
            "not applicable: the baseline has no confidences with labels to calibrate them "
            f"(at least {MIN_CALIBRATION_RECORDS} records with prediction, label and confidence)",
        )  # fmt: skip
    win = _confident(window)
    if len(win) == 0:
        return CheckResult(
            check, Status.NOT_APPLICABLE,
            "not applicable: the window's events carry no confidence (token logprobs alone "
            "feed uncertainty_drift, not an estimate of accuracy)",
        )  # fmt: skip
    if len(win) < thresholds.min_labels:
        return CheckResult(
            check, Status.INSUFFICIENT_DATA,
            f"{len(win)} events with a confidence (need {thresholds.min_labels})",
        )  # fmt: skip
    samples = {"window": win}
    past = _confident(recent)
    if len(past):
        samples["pooled"] = pd.concat([past, win], ignore_index=True)
    alpha = thresholds.estimate_alpha / (2 * len(samples))
    metrics: list[MetricValue] = []
    details: dict[str, object] = {
        "calibration": {
            "baseline_accuracy": calibration.baseline_accuracy,
            "ece_raw": calibration.ece_raw,
            "ece_calibrated": calibration.ece_calibrated,
            "reliability": calibration.reliability,
        },
        "assumes": "the baseline's confidence-to-correctness relation still holds; inputs "
        "from classes the model never saw break it and make the estimate optimistic",
        "estimated": "accuracy from calibrated confidence; macro-F1 from the expected "
        "confusion (the truth of a wrong prediction follows the baseline's errors)",
    }
    low: list[str] = []
    window_below: dict[str, bool] = {}
    n_base = len(calibration.baseline_calibrated)
    for name, sample in samples.items():
        predicted = calibration.encode(sample["prediction"])
        calibrated = calibration.model.predict(sample["confidence"].to_numpy(dtype=float))
        est = calibration.estimate(predicted, calibrated)
        null = calibration.null(len(sample), NULL_ROUNDS, seed)
        suffix = "" if name == "window" else "_pooled"
        if name == "window":  # the estimate's own interval, beside the baseline's floor
            spread = calibration.resampled(predicted, calibrated, len(sample), 200, seed)
            ci = (1 - thresholds.quality_confidence) / 2
            for i, metric in enumerate(("accuracy", "f1")):
                metrics += [
                    MetricValue(f"estimated_{metric}_ci_low", float(np.quantile(spread[:, i], ci))),
                    MetricValue(
                        f"estimated_{metric}_ci_high", float(np.quantile(spread[:, i], 1 - ci))
                    ),
                ]
        for i, metric in enumerate(("accuracy", "f1")):
            # Two samples: the window's estimate and the baseline's, each with its error (a
            # pooled window can be larger than the baseline itself).
            expected, sd, p_value = finite_baseline_drop(
                null[:, i], est[i], n_window=len(sample), n_baseline=n_base
            )
            bound = floor_at(expected, sd, alpha)
            drop = (expected - est[i]) / expected if expected > 0 else float("nan")
            bad = p_value < alpha and drop >= thresholds.estimated_drop
            if name == "window":
                window_below[metric] = est[i] < expected
            else:
                # A pooled alarm needs this window's own estimate below the baseline's: one
                # unlucky window pooled into the next two must not make three alarms.
                bad = bad and window_below[metric]
            if bad:
                low.append(f"{metric}{' (pooled)' if suffix else ''}")
            metrics += [
                MetricValue(
                    f"estimated_{metric}{suffix}", est[i],
                    status=Status.DEGRADED if bad else Status.OK,
                ),
                MetricValue(f"estimated_{metric}{suffix}_floor", bound),
                MetricValue(f"estimated_{metric}{suffix}_p_value", p_value, threshold=alpha),
                MetricValue(f"baseline_estimated_{metric}{suffix}", expected),
            ]  # fmt: skip
        details[f"events_{name}"] = len(sample)
    metrics += [
        MetricValue("calibration_error_raw", calibration.ece_raw),
        MetricValue("calibration_error", calibration.ece_calibrated),
    ]
    if low:
        status = Status.DEGRADED
        summary = f"estimated {', '.join(low)} below the baseline's (from confidence, no labels)"
    else:
        status = Status.OK
        summary = "estimated quality in line with the baseline (from confidence)"
    if off_support:
        why = ", ".join(off_support)
        details["unreliable"] = f"inputs left the baseline's support ({why})"
        summary += f"; the estimate is unreliable here ({why}): it understates any drop"
        # The estimates and their intervals go; the baseline's floor and the p-values that
        # decided stay, so a degraded verdict still shows its evidence.
        metrics = [
            replace(m, value=None)
            if m.name.startswith("estimated_") and not m.name.endswith(("_floor", "_p_value"))
            else m
            for m in metrics
        ]
    metrics.append(MetricValue("estimate_reliable", 0.0 if off_support else 1.0))
    return CheckResult(check, status, summary, metrics, details)


def uncertainty_drift_check(
    baseline: pd.DataFrame,
    window: pd.DataFrame,
    *,
    recent: pd.DataFrame | None = None,
    thresholds: Thresholds,
    check: str = "uncertainty_drift",
) -> CheckResult:
    """The window's confidence (and perplexity) distribution against the baseline's:
    two-sample Kolmogorov-Smirnov, this window and pooled with the previous ones."""
    signals = [
        c
        for c in ("confidence", "perplexity")
        if c in baseline and c in window and baseline[c].notna().sum() >= thresholds.min_labels
    ]
    signals = [c for c in signals if window[c].notna().any()]
    if not signals:
        return CheckResult(
            check, Status.NOT_APPLICABLE,
            "not applicable: no confidence or perplexity in both the baseline and the window",
        )  # fmt: skip
    samples: dict[str, pd.DataFrame] = {"window": window}
    if recent is not None and len(recent):
        samples["pooled"] = pd.concat([recent, window], ignore_index=True)
    alpha = thresholds.uncertainty_alpha / (len(signals) * len(samples))
    metrics: list[MetricValue] = []
    drifted: list[str] = []
    enough = False
    for signal in signals:
        ref = baseline[signal].dropna().to_numpy(dtype=float)
        for name, sample in samples.items():
            cur = sample[signal].dropna().to_numpy(dtype=float) if signal in sample else []
            if len(cur) < thresholds.min_labels:
                continue
            enough = True
            distance, p = ks_2samp(ref, np.asarray(cur, dtype=float))
            bad = p < alpha and distance >= thresholds.uncertainty_min_ks
            suffix = "" if name == "window" else "_pooled"
            if bad:
                drifted.append(f"{signal}{' (pooled)' if suffix else ''}")
            metrics += [
                MetricValue(
                    "ks_distance", distance, feature=f"{signal}{suffix}",
                    threshold=thresholds.uncertainty_min_ks,
                    status=Status.DRIFT if bad else Status.OK,
                ),
                MetricValue("p_value", p, feature=f"{signal}{suffix}"),
                MetricValue("mean", float(np.mean(cur)), feature=f"{signal}{suffix}"),
            ]  # fmt: skip
        metrics.append(MetricValue("baseline_mean", float(ref.mean()), feature=signal))
    if not enough:
        return CheckResult(
            check, Status.INSUFFICIENT_DATA,
            f"fewer than {thresholds.min_labels} events with a confidence or perplexity",
        )  # fmt: skip
    if drifted:
        return CheckResult(
            check, Status.DRIFT, f"the model's uncertainty shifted: {', '.join(drifted)}", metrics
        )
    return CheckResult(check, Status.OK, "uncertainty in line with the baseline", metrics)
