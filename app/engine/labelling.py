"""What to label next: the events of a window most worth a human label when labels are scarce.

Three signals, each turned into a percentile rank among the window's unlabelled events and
averaged (no signal's scale can drown the others, and a missing one just drops out):

* ``uncertain``: the model's own confidence is low;
* ``novel``: the input is far from the baseline (nearest-neighbour cosine distance, the long
  tail check's measure);
* ``under_covered``: the predicted class has few labels so far — in the baseline and in
  the window (a class the baseline never had comes first).

No library ranks for this (active-learning packages want the model in hand; Driftline only
sees its outputs), so it is written here; ``bench/label_queue.py`` measures it.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

# A reason is given for the signals in whose top fifth an event is.
REASON_RANK = 0.8


@dataclass(frozen=True)
class LabelPick:
    """One event to send to an annotator, with why."""

    request_id: str
    score: float  # mean percentile rank of its signals, 0-1
    reasons: tuple[str, ...]


def label_priority(
    window: pd.DataFrame,
    *,
    novelty: np.ndarray | None = None,
    baseline_labels: pd.Series | None = None,
    budget: int,
) -> list[LabelPick]:
    """The ``budget`` unlabelled events of ``window`` most worth a label, best first.

    ``window`` has ``request_id`` and may have ``label``, ``prediction`` and ``confidence``;
    ``novelty`` holds each row's distance to the baseline (same order), when known;
    ``baseline_labels`` the baseline's labels (their counts add to the window's).
    """
    if budget <= 0 or window.empty:
        return []
    labelled = (
        window["label"].notna().to_numpy()
        if "label" in window
        else np.zeros(len(window), dtype=bool)
    )
    open_rows = np.flatnonzero(~labelled)
    if not len(open_rows):
        return []
    signals: dict[str, np.ndarray] = {}
    if "confidence" in window and window["confidence"].notna().any():
        confidence = window["confidence"].to_numpy(dtype=float)[open_rows]
        signals["uncertain"] = 1.0 - np.nan_to_num(confidence, nan=np.nanmedian(confidence))
    if novelty is not None:
        signals["novel"] = np.asarray(novelty, dtype=float)[open_rows]
    if "prediction" in window and window["prediction"].notna().any():
        predicted = window["prediction"].astype("string").fillna("")
        labels_per_class = predicted[labelled].value_counts()
        if baseline_labels is not None:
            known = baseline_labels.dropna().astype("string").value_counts()
            labels_per_class = labels_per_class.add(known, fill_value=0)
        counts = predicted.iloc[open_rows].map(labels_per_class).fillna(0).to_numpy(dtype=float)
        signals["under_covered"] = 1.0 / (1.0 + counts)
    if not signals:
        ranks = {"unlabelled": np.full(len(open_rows), 0.5)}
    else:
        ranks = {name: _percentile_ranks(values) for name, values in signals.items()}
    score = np.mean(np.vstack(list(ranks.values())), axis=0)
    order = np.argsort(-score, kind="stable")[:budget]
    ids = window["request_id"].astype(str).to_numpy()[open_rows]
    return [
        LabelPick(
            request_id=str(ids[i]),
            score=round(float(score[i]), 4),
            reasons=tuple(n for n, r in ranks.items() if r[i] >= REASON_RANK and n in signals),
        )
        for i in order
    ]


def _percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank among them in [0, 1] (ties share the average rank)."""
    if len(values) == 1:
        return np.ones(1)
    ranks = pd.Series(values).rank(method="average").to_numpy(dtype=float)
    scaled: np.ndarray = (ranks - 1.0) / (len(values) - 1)
    return scaled
