"""Text drift: can a classifier tell the window's prompts from the baseline's?

Evidently's domain classifier (``roc_auc_domain_classifier``: TF-IDF with English stop words
and sublinear term frequencies, an L1 SGD with the modified Huber loss, ROC AUC on a held-out
half), built here with its parameters so that the baseline's prompts are analysed (lower-cased,
tokenised, stop words dropped) and counted once, when the baseline is profiled
(``TextReference``), and not again for every window: the analysis was half of the check's
time, the counting half of the rest, and a small window's prompts are a few percent of what
the classifier reads. Its figures are Evidently's (tested equal: AUC and words), and so are
the windows it calls drift.
"""

from __future__ import annotations

import warnings
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy import sparse, stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

from app.engine.results import CheckResult, MetricValue, Status
from app.engine.thresholds import Thresholds

# Text drift trains a classifier: above this many rows per side we sample (documented cap).
TEXT_DRIFT_MAX_ROWS = 5_000
# The seed of the sample above the cap, of the train/test split and of the classifier.
TEXT_SEED = 42

Tokens = list[str]


# Evidently's vectoriser (``roc_auc_domain_classifier``) analyses a text so (lower-cased,
# tokenised, English stop words dropped); what it weighs (terms in at most half the training
# documents, sublinear term frequencies) is in ``split_counts`` and ``_domain_classifier``.
_analyse = TfidfVectorizer(stop_words="english").build_analyzer()


def _texts(column: pd.Series, seed: int) -> pd.Series:
    """A side's prompts as the check reads them: text, sampled above the cap."""
    texts = column.fillna("").astype(str)
    if len(texts) > TEXT_DRIFT_MAX_ROWS:
        texts = texts.sample(TEXT_DRIFT_MAX_ROWS, random_state=seed)
    return texts


@dataclass(frozen=True, eq=False)
class TextReference:
    """The baseline's prompts that text drift reads, analysed as its vectoriser analyses them
    and counted (a check state of the profile): the sorted terms, and per prompt the ids of
    its terms in the order they first occur in it, with their counts (a CSR matrix whose rows
    keep that order, which the vectoriser's own matrix depends on)."""

    vocabulary: list[str]
    indptr: np.ndarray
    terms: np.ndarray
    counts: np.ndarray

    @classmethod
    def fit(cls, records: pd.DataFrame, *, seed: int = TEXT_SEED) -> TextReference | None:
        """None when the baseline has no prompts."""
        if "prompt" not in records:
            return None
        return cls.of(records["prompt"], seed=seed)

    @classmethod
    def of(cls, prompts: pd.Series, *, seed: int = TEXT_SEED) -> Self:
        """The prompts (sampled above the cap) analysed and counted."""
        return cls.counted([_analyse(t) for t in _texts(prompts, seed)])

    @classmethod
    def counted(cls, docs: list[Tokens]) -> Self:
        """Analysed prompts counted over their own sorted vocabulary."""
        vocabulary = sorted({t for doc in docs for t in doc})
        index = {t: i for i, t in enumerate(vocabulary)}
        indptr, terms, counts = _count(docs, index.__getitem__)
        return cls(vocabulary, indptr, terms, counts)

    @property
    def prompts(self) -> int:
        return len(self.indptr) - 1

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Profile codec: the vocabulary as UTF-8 lines (terms are runs of word characters:
        never a newline), the counts as integer arrays."""
        text = "\n".join(self.vocabulary).encode()
        return {"prompts": self.prompts, "terms": len(self.vocabulary)}, {
            "vocabulary": np.frombuffer(text, np.uint8),
            "indptr": self.indptr,
            "terms": self.terms,
            "counts": self.counts,
        }

    @classmethod
    def from_state(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        """Inverse of ``to_state``; also reads the state profiles stored before the counts
        were (each prompt's tokens as a line), counting them here."""
        if "vocabulary" not in arrays:
            if not settings["prompts"]:
                return cls.counted([])
            lines = arrays["tokens"].tobytes().decode().split("\n")
            return cls.counted([line.split(" ") if line else [] for line in lines])
        text = arrays["vocabulary"].tobytes().decode()
        vocabulary = text.split("\n") if settings["terms"] else []
        return cls(vocabulary, arrays["indptr"], arrays["terms"], arrays["counts"])


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


def typical_words(
    weights: np.ndarray, names: Sequence[str], count: int
) -> tuple[list[str], list[str]]:
    """The words that most say "window" and those that most say "baseline" to the domain
    classifier (its ``weights``, one per column named in ``names``): its largest positive and
    negative weights, ``count`` each (Evidently's ``get_typical_words``, tested equal; it
    builds an inverted vocabulary of every word and pandas frames, ≈ 4 ms a window, to name
    30)."""
    up, down = np.flatnonzero(weights > 0), np.flatnonzero(weights < 0)
    # Sorted as pandas sorts Evidently's frame (numpy's quicksort; descending by reversing
    # before and after), so that tied weights come out in the order its report names them.
    positive = up[::-1][np.argsort(weights[up][::-1], kind="quicksort")][::-1][:count]
    negative = down[np.argsort(weights[down], kind="quicksort")][:count]
    return [names[i] for i in positive.tolist()], [names[i] for i in negative.tolist()]


def _count(docs: list[Tokens], term_id: Callable[[str], int]) -> tuple[np.ndarray, ...]:
    """CSR arrays (indptr, term ids, counts) of the documents' term counts, each row's terms
    in the order they first occur in it, as scikit-learn's ``CountVectorizer`` counts."""
    indptr: list[int] = [0]
    terms: list[int] = []
    counts: list[int] = []
    for doc in docs:
        counter = Counter(doc)  # keeps the order of first occurrence
        terms.extend(map(term_id, counter))
        counts.extend(counter.values())
        indptr.append(len(terms))
    return np.array(indptr, np.int64), np.array(terms, np.int64), np.array(counts, np.int64)


def _rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the entries of ``rows`` (in that order) and the row number of each."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return offsets + np.arange(int(lengths.sum())), np.repeat(np.arange(len(rows)), lengths)


def _csr(row_of: np.ndarray, columns: np.ndarray, counts: np.ndarray, shape: tuple[int, int]
         ) -> sparse.csr_matrix:  # fmt: skip
    """A CSR matrix of entries already in row order (columns < 0 left out), the order of
    each row's entries kept."""
    kept = columns >= 0
    indptr = np.r_[0, np.cumsum(np.bincount(row_of[kept], minlength=shape[0]))]
    return sparse.csr_matrix(
        (counts[kept].astype(np.float64), columns[kept].astype(np.int32), indptr), shape=shape
    )


def split_counts(
    reference: TextReference, current: list[Tokens], train: np.ndarray, test: np.ndarray
) -> tuple[sparse.csr_matrix, sparse.csr_matrix, list[str]]:
    """The count matrices Evidently's ``TfidfVectorizer`` builds when it is fitted on the
    ``train`` documents and applied to the ``test`` ones, and its vocabulary (the names of
    the columns); documents are numbered the reference's first, then the window's.

    Built from the reference's stored counts instead of counting its prompts again for
    every window (scikit-learn's counting is a Python loop over every token; the baseline's
    are most of them). Equal to the vectoriser's matrices, down to the order of each row's
    entries, on which the floating-point sums of the normalisation and of the classifier
    depend (tested): a training row lists its terms in the order the vocabulary first met
    them, a test row in column order; columns are the terms in alphabetical order, those in
    more than half the training documents (``max_df``) left out.
    """
    extra: dict[str, int] = {}  # the window's terms the baseline lacks, ids after its own
    vocabulary, known = reference.vocabulary, len(reference.vocabulary)

    def term_id(term: str) -> int:
        i = bisect_left(vocabulary, term)
        if i < known and vocabulary[i] == term:
            return i
        return extra.setdefault(term, known + len(extra))

    window_indptr, window_terms, window_counts = _count(current, term_id)
    indptr = np.r_[reference.indptr[:-1], reference.indptr[-1] + window_indptr]
    terms = np.r_[reference.terms, window_terms]
    counts = np.r_[reference.counts, window_counts]
    new = sorted(extra)
    # Each term's place in the sorted union: a new term goes where bisect puts it among the
    # baseline's, and moves every baseline term after it one place down.
    places = np.array([bisect_left(vocabulary, t) for t in new], np.int64)
    rank = np.empty(known + len(new), np.int64)
    rank[:known] = np.arange(known) + np.searchsorted(places, np.arange(known), side="right")
    rank[[extra[t] for t in new]] = places + np.arange(len(new))

    positions, row_of = _rows(indptr, train)
    seen = terms[positions]
    if not len(seen):
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
    document_frequency = np.bincount(seen, minlength=len(rank))
    kept = np.flatnonzero((document_frequency > 0) & (document_frequency <= 0.5 * len(train)))
    if not len(kept):
        raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
    kept = kept[np.argsort(rank[kept])]
    column = np.full(len(rank), -1, np.int64)
    column[kept] = np.arange(len(kept))
    first_met = np.zeros(len(rank), np.int64)
    ids, first = np.unique(seen, return_index=True)
    first_met[ids] = first
    order = np.lexsort((first_met[seen], row_of))
    x_train = _csr(row_of[order], column[seen[order]], counts[positions[order]],
                   (len(train), len(kept)))  # fmt: skip

    positions, row_of = _rows(indptr, test)
    columns = column[terms[positions]]
    order = np.lexsort((columns, row_of))
    x_test = _csr(row_of[order], columns[order], counts[positions[order]], (len(test), len(kept)))
    names = [*vocabulary, *extra]
    return x_train, x_test, [names[i] for i in kept.tolist()]


def _domain_classifier(
    x_train: sparse.csr_matrix, y_train: np.ndarray, x_test: sparse.csr_matrix, y_test: np.ndarray
) -> tuple[float, np.ndarray]:
    """Evidently's pipeline (its TF-IDF weighting and SGD) on the split's term counts: its
    ROC AUC on the held-out half (from ranks: Mann-Whitney's U over the pairs, what
    ``roc_auc_score`` computes) and the classifier's weights."""
    tfidf = TfidfTransformer(sublinear_tf=True)
    classifier = SGDClassifier(alpha=0.0001, max_iter=50, penalty="l1", loss="modified_huber",
                               random_state=TEXT_SEED)  # fmt: skip
    classifier.fit(tfidf.fit_transform(x_train), y_train)
    scores = classifier.predict_proba(tfidf.transform(x_test))[:, 1]
    ranks = stats.rankdata(scores)
    positive = y_test == 1
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if not n1 or not n0:
        raise ValueError("only one side in the held-out half")
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)), classifier.coef_[0]


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
    ref = (
        analysed
        if analysed is not None and seed == TEXT_SEED
        else TextReference.of(reference, seed=seed)
    )
    window = [_analyse(t) for t in _texts(current, seed)]
    target = np.r_[np.zeros(ref.prompts, int), np.ones(len(window), int)]
    train, test, y_train, y_test = train_test_split(
        np.arange(len(target)), target, test_size=0.5, random_state=seed, shuffle=True,
        stratify=target,
    )  # fmt: skip
    try:
        x_train, x_test, names = split_counts(ref, window, train, test)
        # The SGD stops at Evidently's max_iter; on windows it separates easily it reports
        # "not converged" on every run, yet its AUC is exactly the signal we want: no log spam.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            auc, weights = _domain_classifier(x_train, y_train, x_test, y_test)
    except ValueError as exc:  # e.g. empty vocabulary: nothing to tell apart
        return CheckResult(check, Status.OK, f"no usable text ({exc})", [])
    chance = chance_auc(int(np.sum(y_test == 0)), int(np.sum(y_test == 1)), p_value=0.01)
    words_cur, words_ref = typical_words(weights, names, 15)
    drifted = auc >= thresholds.text_auc and auc > chance
    status = Status.DRIFT if drifted else (Status.WARNING if auc > max(chance, 0.6) else Status.OK)
    return CheckResult(
        check,
        status,
        f"domain classifier ROC AUC {auc:.3f} (chance at p<0.01: {chance:.3f})",
        [MetricValue("roc_auc", float(auc), threshold=thresholds.text_auc)],
        {"words_current": list(words_cur), "words_reference": list(words_ref)},
    )
