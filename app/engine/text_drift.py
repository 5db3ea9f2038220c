"""Text drift: can a classifier tell the window's prompts from the baseline's?

Evidently's domain classifier (``roc_auc_domain_classifier``: TF-IDF with English stop words
and sublinear term frequencies, an L1 SGD with the modified Huber loss, ROC AUC on a held-out
half), built here with its parameters so that the baseline's prompts are analysed (lower-cased,
tokenised, stop words dropped) once, when the baseline is profiled (``TextReference``), and
not again for every window: that analysis was half of the check's time, and a small window's
prompts are a few percent of what the classifier reads. Its figures are Evidently's (tested
equal: AUC and words), and so are the windows it calls drift.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from app.engine.results import CheckResult, MetricValue, Status
from app.engine.thresholds import Thresholds

# Text drift trains a classifier: above this many rows per side we sample (documented cap).
TEXT_DRIFT_MAX_ROWS = 5_000
# The seed of the sample above the cap, of the train/test split and of the classifier.
TEXT_SEED = 42

Tokens = list[str]


# Evidently's vectoriser (``roc_auc_domain_classifier``) weighs terms so; its analysis of a
# text (lower-cased, tokenised, English stop words dropped) is what the classifier reads.
_WEIGHTING: dict[str, Any] = {"sublinear_tf": True, "max_df": 0.5}
_analyse = TfidfVectorizer(stop_words="english", **_WEIGHTING).build_analyzer()


def _texts(column: pd.Series, seed: int) -> pd.Series:
    """A side's prompts as the check reads them: text, sampled above the cap."""
    texts = column.fillna("").astype(str)
    if len(texts) > TEXT_DRIFT_MAX_ROWS:
        texts = texts.sample(TEXT_DRIFT_MAX_ROWS, random_state=seed)
    return texts


@dataclass(frozen=True)
class TextReference:
    """The baseline's prompts that text drift reads, analysed as its vectoriser analyses
    them (a check state of the profile)."""

    tokens: list[Tokens]

    @classmethod
    def fit(cls, records: pd.DataFrame, *, seed: int = TEXT_SEED) -> TextReference | None:
        """None when the baseline has no prompts."""
        if "prompt" not in records:
            return None
        return cls([_analyse(t) for t in _texts(records["prompt"], seed)])

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Profile codec: one line of space-separated tokens per prompt, as UTF-8 (tokens are
        runs of word characters: never a space or a newline)."""
        text = "\n".join(" ".join(t) for t in self.tokens)
        return {"prompts": len(self.tokens)}, {"tokens": np.frombuffer(text.encode(), np.uint8)}

    @classmethod
    def from_state(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        """Inverse of ``to_state``."""
        if not settings["prompts"]:
            return cls([])
        lines = arrays["tokens"].tobytes().decode().split("\n")
        return cls([line.split(" ") if line else [] for line in lines])


def chance_auc(n_reference: int, n_current: int, *, p_value: float) -> float:
    """The ROC AUC a classifier that cannot tell the two sets apart exceeds with probability
    ``p_value`` on a test split of these sizes.

    A score independent of the labels has AUC = U / (n1 n2), Mann-Whitney's U, whose null
    distribution is known: mean 1/2, variance (n1 + n2 + 1) / (12 n1 n2), normal for the
    sizes a window's text test sees. Evidently estimates the same quantile from 1,000
    random classifiers (``roc_auc_random_classifier_percentile``): 1.3 s a window, every
    window, and a Monte-Carlo error of its own; the closed form costs nothing.
    """
    n1, n2 = max(n_reference, 1), max(n_current, 1)
    sd = np.sqrt((n1 + n2 + 1) / (12 * n1 * n2))
    return float(0.5 + stats.norm.isf(p_value) * sd)


def typical_words(pipeline: Pipeline, count: int) -> tuple[list[str], list[str]]:
    """The words that most say "window" and those that most say "baseline" to the domain
    classifier: its largest positive and negative weights, ``count`` each (Evidently's
    ``get_typical_words``, tested equal; it builds an inverted vocabulary of every word
    and pandas frames, ≈ 4 ms a window, to name 30)."""
    weights = pipeline["classification"].coef_[0]
    up, down = np.flatnonzero(weights > 0), np.flatnonzero(weights < 0)
    # Sorted as pandas sorts Evidently's frame (numpy's quicksort; descending by reversing
    # before and after), so that tied weights come out in the order its report names them.
    positive = up[::-1][np.argsort(weights[up][::-1], kind="quicksort")][::-1][:count]
    negative = down[np.argsort(weights[down], kind="quicksort")][:count]
    wanted = {*positive.tolist(), *negative.tolist()}
    names = {i: w for w, i in pipeline["vectorization"].vocabulary_.items() if i in wanted}
    return [names[i] for i in positive.tolist()], [names[i] for i in negative.tolist()]


def _identity(tokens: Tokens) -> Tokens:
    return tokens


def _domain_classifier(
    train: list[Tokens], y_train: np.ndarray, test: list[Tokens], y_test: np.ndarray
) -> tuple[float, Pipeline]:
    """Evidently's pipeline on analysed texts, and its ROC AUC on the held-out half (from
    ranks: Mann-Whitney's U over the pairs, what ``roc_auc_score`` computes)."""
    pipeline = Pipeline(
        [
            ("vectorization", TfidfVectorizer(analyzer=_identity, **_WEIGHTING)),
            ("classification", SGDClassifier(alpha=0.0001, max_iter=50, penalty="l1",
                                             loss="modified_huber", random_state=TEXT_SEED)),
        ]
    )  # fmt: skip
    pipeline.fit(train, y_train)
    scores = pipeline.predict_proba(test)[:, 1]
    ranks = stats.rankdata(scores)
    positive = y_test == 1
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if not n1 or not n0:
        raise ValueError("only one side in the held-out half")
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)), pipeline


def text_drift(
    reference: pd.Series,
    current: pd.Series,
    *,
    thresholds: Thresholds,
    check: str = "text_drift",
    seed: int = TEXT_SEED,
    analysed: TextReference | None = None,
) -> CheckResult:
    """Evidently's domain classifier (TF-IDF + SGD): can a model tell the windows apart?

    Drift when its ROC AUC reaches ``text_auc`` and beats what a random classifier reaches
    at p < 0.01 on the same split. Also returns the words that tell the windows apart.
    ``analysed``: the baseline's prompts analysed when it was profiled (None: analysed here).
    """
    ref_tokens = (
        analysed.tokens
        if analysed is not None and seed == TEXT_SEED
        else [_analyse(t) for t in _texts(reference, seed)]
    )
    docs = ref_tokens + [_analyse(t) for t in _texts(current, seed)]
    target = np.r_[np.zeros(len(ref_tokens), int), np.ones(len(docs) - len(ref_tokens), int)]
    train, test, y_train, y_test = train_test_split(
        np.arange(len(docs)), target, test_size=0.5, random_state=seed, shuffle=True,
        stratify=target,
    )  # fmt: skip
    try:
        # The SGD stops at Evidently's max_iter; on windows it separates easily it reports
        # "not converged" on every run, yet its AUC is exactly the signal we want: no log spam.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            auc, pipeline = _domain_classifier(
                [docs[i] for i in train], y_train, [docs[i] for i in test], y_test
            )
    except ValueError as exc:  # e.g. empty vocabulary: nothing to tell apart
        return CheckResult(check, Status.OK, f"no usable text ({exc})", [])
    chance = chance_auc(int(np.sum(y_test == 0)), int(np.sum(y_test == 1)), p_value=0.01)
    words_cur, words_ref = typical_words(pipeline, 15)
    drifted = auc >= thresholds.text_auc and auc > chance
    status = Status.DRIFT if drifted else (Status.WARNING if auc > max(chance, 0.6) else Status.OK)
    return CheckResult(
        check,
        status,
        f"domain classifier ROC AUC {auc:.3f} (chance at p<0.01: {chance:.3f})",
        [MetricValue("roc_auc", float(auc), threshold=thresholds.text_auc)],
        {"words_current": list(words_cur), "words_reference": list(words_ref)},
    )
