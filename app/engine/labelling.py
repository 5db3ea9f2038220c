"""What to label next: the events of a window most worth a human label when labels are scarce.

Three signals, each turned into a percentile rank among the window's unlabelled events and
averaged (no signal's scale can drown the others; a signal that is missing, or the same for
every event, changes nothing):

* ``uncertain``: the model's own confidence is low;
* ``novel``: the long-tail check's novelty score — how much more the window has of events
  like this one than the baseline does (a cross-fitted density ratio, ``app.engine.longtail``);
  the share of prompt words the baseline never uses when the window was not embedded;
* ``under_covered``: the predicted class has fewer than ``MIN_LABELS_PER_CLASS`` labels so far,
  in the baseline and the window together (a class the baseline never had).

Measured on the detection bench's world (bench/label_queue.py): the nearest-neighbour
distance in the default TF-IDF/SVD embedding ranked shifted events *below* random (lift 0.34
for a new domain, 0.78 for new outlets: text from elsewhere projects close to the baseline in
a space fitted on the baseline's own vocabulary); the share of unknown words reached 2.8 and
2.4; the density-ratio novelty the long-tail check now computes reaches 6.7 for a new domain
and 2.0 for new outlets (the queue's lifts, with confidence and coverage), so it is the
novelty used. No library ranks for this (active-learning packages want the model in hand;
Driftline sees only its outputs), hence this module.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

# A reason is given for the signals in whose top fifth an event is.
REASON_RANK = 0.8
# A class with fewer labels than this (baseline and window) is under-covered.
MIN_LABELS_PER_CLASS = 10


@dataclass(frozen=True)
class LabelPick:
    """One event to send to an annotator, with why."""

    request_id: str
    score: float  # mean percentile rank of its signals, 0-1
    reasons: tuple[str, ...]


def label_priority(
    window: pd.DataFrame,
    *,
    unfamiliar: np.ndarray | None = None,
    baseline_labels: pd.Series | None = None,
    judge_failed: set[str] | None = None,
    budget: int,
) -> list[LabelPick]:
    """The ``budget`` unlabelled events of ``window`` most worth a label, best first.

    ``window`` has ``request_id`` and may have ``label``, ``prediction`` and ``confidence``;
    ``unfamiliar`` holds each row's share of prompt words the baseline never uses (same
    order), when known; ``baseline_labels`` the baseline's labels (they count as coverage);
    ``judge_failed`` the request ids an LLM judge failed (a person should confirm them before
    they are trusted as retraining data).
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
    if unfamiliar is not None:
        signals["novel"] = np.nan_to_num(np.asarray(unfamiliar, dtype=float)[open_rows])
    if "prediction" in window and window["prediction"].notna().any():
        # Class codes by hashing (pd.factorize) and counts by code: Series value counts,
        # their alignment and a map cost a small window's queue a third of its time.
        codes, classes = pd.factorize(window["prediction"].fillna("").astype(str))
        labels_per_class = np.bincount(codes[labelled], minlength=len(classes))
        if baseline_labels is not None:
            known = baseline_labels.dropna().astype(str)
            at = pd.Index(classes).get_indexer(known)
            labels_per_class += np.bincount(at[at >= 0], minlength=len(classes))
        counts = labels_per_class[codes[open_rows]]
        signals["under_covered"] = (counts < MIN_LABELS_PER_CLASS).astype(float)
    if judge_failed and "request_id" in window:
        ids_open = window["request_id"].astype(str).to_numpy()[open_rows]
        signals["judge_failed"] = np.array([i in judge_failed for i in ids_open], dtype=float)
    ranks = {name: _percentile_ranks(values) for name, values in signals.items()}
    if not ranks:
        ranks = {"": np.full(len(open_rows), 0.5)}
    score = np.mean(np.vstack(list(ranks.values())), axis=0)
    order = np.argsort(-score, kind="stable")[:budget]
    # Without request ids (plain engine use) an event is named by its row.
    named = window["request_id"] if "request_id" in window else pd.Series(range(len(window)))
    ids = named.astype(str).to_numpy()[open_rows]
    return [
        LabelPick(
            request_id=str(ids[i]),
            score=round(float(score[i]), 4),
            reasons=tuple(
                n for n, r in ranks.items() if n and r[i] >= REASON_RANK and signals[n][i] > 0
            ),
        )
        for i in order
    ]


def _percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank among them in [0, 1]; ties share the average rank, so a signal that
    is the same for every event ranks them all 0.5."""
    if len(values) == 1:
        return np.full(1, 0.5)
    ranks = stats.rankdata(values, method="average")
    scaled: np.ndarray = (ranks - 1.0) / (len(values) - 1)
    return scaled
