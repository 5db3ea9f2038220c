"""Run every check for one window against a prepared baseline.

``BaselineProfile.build`` does the once-per-baseline work (descriptors, vocabulary, fitted
embedder, embeddings, long-tail threshold); ``evaluate_window`` is then cheap per window.

Frames use these columns (all but prompt/output optional): ``request_id, prompt, output,
prediction, label, score, perplexity, finish_reason, embedding`` and any ``meta_*`` columns,
which are drift-tested too (numeric ones by Wasserstein, the rest as categories).
"""

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from app.engine import descriptors as desc
from app.engine.checks import REGISTRY, Check, WindowInputs
from app.engine.embeddings import Embedder, EmbeddingUnavailable, make_embedder, normalise
from app.engine.judged import JudgeEvidence
from app.engine.labelling import LabelPick, label_priority
from app.engine.results import CheckResult, Status
from app.engine.thresholds import Thresholds
from app.engine.verdict import Verdict, decide

log = logging.getLogger("driftline.engine")


def _client_embeddings(frame: pd.DataFrame) -> np.ndarray | None:
    """The events' own embeddings when every event has one of the same length."""
    if "embedding" not in frame or frame["embedding"].isna().any() or frame.empty:
        return None
    lengths = frame["embedding"].map(len)
    if lengths.nunique() != 1:
        return None
    return normalise(np.vstack(frame["embedding"].to_numpy()))


MAX_METADATA_COLUMNS = 20


def flatten_metadata(values: pd.Series, keys: list[str] | None = None) -> pd.DataFrame:
    """Scalar metadata values as ``meta_<key>`` columns (for drift tests of e.g. tenant,
    channel, A/B arm). Without ``keys``: the keys present in at least half of the rows, at
    most ``MAX_METADATA_COLUMNS`` of them (bounded, whatever clients send)."""
    dicts = [v if isinstance(v, dict) else {} for v in values]
    if keys is None:
        counts: dict[str, int] = {}
        for d in dicts:
            for k, v in d.items():
                if isinstance(v, str | int | float | bool):
                    counts[k] = counts.get(k, 0) + 1
        common = sorted(
            (k for k, c in counts.items() if c >= len(dicts) / 2), key=lambda k: -counts[k]
        )
        keys = sorted(common[:MAX_METADATA_COLUMNS])
    frame = pd.DataFrame(index=values.index)
    for k in keys:
        column = pd.Series([d.get(k) for d in dicts], index=values.index)
        numeric = pd.to_numeric(column, errors="coerce")
        is_number = column.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
        if is_number[column.notna()].all() and column.notna().any():
            frame[f"meta_{k}"] = numeric.astype(float)
        else:
            frame[f"meta_{k}"] = column.astype(str)
    return frame


def _meta_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    numeric, categorical = [], []
    for col in frame.columns:
        if not col.startswith("meta_"):
            continue
        if pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col]):
            numeric.append(col)
        else:
            categorical.append(col)
    return numeric, categorical


def describe(
    frame: pd.DataFrame, vocab: frozenset[str], *, with_language: bool = True
) -> pd.DataFrame:
    """All descriptors of a frame, including OOV share against ``vocab``."""
    d = desc.compute_descriptors(frame, with_language=with_language)
    d["prompt_oov_share"] = desc.oov_share(frame["prompt"], vocab)
    d["output_oov_share"] = desc.oov_share(frame["output"], vocab)
    return d


@dataclass
class BaselineProfile:
    """Everything about a baseline that windows are compared with, computed once."""

    records: pd.DataFrame
    descriptors: pd.DataFrame
    vocab: frozenset[str]
    embedder: Embedder | None
    embeddings: np.ndarray
    meta_numeric: list[str] = field(default_factory=list)
    meta_categorical: list[str] = field(default_factory=list)
    # Why the baseline has no embeddings (too little text to fit the embedder), if so.
    embedding_unavailable: str | None = None
    # Each check's own once-per-baseline state (``Check.profile``), by check name; a check
    # whose profiling failed has its reason in ``unavailable`` instead.
    states: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        records: pd.DataFrame,
        *,
        embedder: str = "tfidf",
        with_language: bool = True,
        seed: int = 0,
    ) -> "BaselineProfile":
        """Prepare a baseline holdout (``records`` as described in the module docstring).

        Cross-fitted: the vocabulary and the embedder are learnt on one half of the baseline
        (A), and the reference they are compared with is the other half (B). Anything fitted
        on the rows it then describes makes those rows look unusually familiar (no unknown
        words, inflated SVD components), and every later window would look drifted by
        comparison — a false alarm built into the baseline.
        """
        records = records.reset_index(drop=True)
        in_a = np.zeros(len(records), dtype=bool)
        in_a[np.random.default_rng(seed).permutation(len(records))[: len(records) // 2]] = True
        texts = records["prompt"].fillna("") + " " + records["output"].fillna("")
        vocab_a, vocab_b = desc.vocabulary(texts[in_a]), desc.vocabulary(texts[~in_a])
        d = desc.compute_descriptors(records, with_language=with_language)
        for col in ("prompt", "output"):
            oov = pd.Series(0.0, index=records.index)
            oov[in_a] = desc.oov_share(records.loc[in_a, col], vocab_b)
            oov[~in_a] = desc.oov_share(records.loc[~in_a, col], vocab_a)
            d[f"{col}_oov_share"] = oov
        own = _client_embeddings(records)
        model: Embedder | None = None
        unavailable: str | None = None
        if own is None:
            prompts = records["prompt"].fillna("")
            try:
                model = make_embedder(embedder).fit(prompts[in_a].tolist())
                own = model.transform(prompts[~in_a].tolist())
            except EmbeddingUnavailable as exc:
                # Degrade, never fail: the embedding checks say why; the rest still run.
                model, own, unavailable = None, np.empty((0, 0), np.float32), str(exc)
        meta_num, meta_cat = _meta_columns(records)
        states: dict[str, Any] = {}
        unavailable_checks: dict[str, str] = {}
        for check in REGISTRY:
            if check.profile is None:
                continue
            try:
                state = check.profile(records, seed)
            except ValueError as exc:  # degrade, never fail: that check says why
                unavailable_checks[check.name] = str(exc)
            else:
                if state is not None:
                    states[check.name] = state
        return cls(
            records=records,
            descriptors=d,
            vocab=vocab_a,
            embedder=model,
            embeddings=own,
            embedding_unavailable=unavailable,
            meta_numeric=meta_num,
            meta_categorical=meta_cat,
            states=states,
            unavailable=unavailable_checks,
        )

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        """Embeddings for a window in this baseline's space."""
        if self.embedder is None:
            own = _client_embeddings(frame)
            if own is None or own.shape[1] != self.embeddings.shape[1]:
                raise ValueError(
                    "this baseline uses client embeddings: every window event needs an "
                    f"embedding of length {self.embeddings.shape[1]}"
                )
            return own
        return self.embedder.transform(frame["prompt"].fillna("").tolist())


@dataclass
class WindowResult:
    """A window's verdict and every check's result."""

    status: Status
    retraining_recommended: bool
    drift_signal: bool
    n_events: int
    checks: dict[str, CheckResult]
    reasons: list[str]
    timings: dict[str, float]
    descriptors: pd.DataFrame | None = None
    # The unlabelled events most worth a human label, best first.
    label_queue: list[LabelPick] = field(default_factory=list)


def evaluate_window(
    profile: BaselineProfile,
    window: pd.DataFrame,
    *,
    thresholds: Thresholds | None = None,
    drift_history: tuple[bool, ...] = (),
    previously_recommended: bool = False,
    descriptors: pd.DataFrame | None = None,
    recent: pd.DataFrame | None = None,
    with_text_drift: bool = True,
    with_language: bool = True,
    seed: int = 0,
    judged: list[JudgeEvidence] | None = None,
) -> WindowResult:
    """Every check of ``REGISTRY`` for ``window`` vs ``profile``, then the verdict.

    ``descriptors`` may be passed precomputed (the worker stores them per event).
    ``recent``: the previous windows' events (prediction, label, confidence, perplexity),
    pooled with this window's by the checks whose evidence adds up over windows. ``judged``:
    what the monitor's LLM judges said about a sample of the window. Each check
    is timed here; one that raises is recorded as ``error`` and the others still run.
    """
    thresholds = thresholds or Thresholds()
    n = len(window)
    if not window.index.equals(pd.RangeIndex(n)):
        # Not when it already is: resetting copies every column (45 MB at a million events).
        window = window.reset_index(drop=True)
    timings: dict[str, float] = {}
    if n < thresholds.min_events:
        empty = decide([], thresholds=thresholds, previously_recommended=previously_recommended)
        return WindowResult(
            Status.INSUFFICIENT_DATA,
            empty.retraining_recommended,
            False,
            n,
            {},
            [f"{n} events in the window; at least {thresholds.min_events} needed"],
            timings,
        )
    start = time.perf_counter()
    d = (
        descriptors
        if descriptors is not None
        else describe(window, profile.vocab, with_language=with_language)
    )
    timings["descriptors"] = round(time.perf_counter() - start, 4)
    inputs = WindowInputs(
        profile, window, d, thresholds, recent=recent, seed=seed,
        with_text_drift=with_text_drift, judged=list(judged or []),
    )  # fmt: skip
    checks: list[CheckResult] = []
    # The checks build their scikit-learn estimators with fixed parameters: validating them
    # again on every fit and call cost a small window more than a millisecond.
    with sklearn.config_context(skip_parameter_validation=True):
        for check in REGISTRY:
            _run_check(check, inputs, checks, timings)
    label_queue = _label_queue(inputs)
    verdict: Verdict = decide(
        checks,
        thresholds=thresholds,
        drift_history=drift_history,
        previously_recommended=previously_recommended,
    )
    return WindowResult(
        verdict.status,
        verdict.retraining_recommended,
        verdict.drift_signal,
        n,
        {c.check: c for c in checks},
        verdict.reasons,
        timings,
        d,
        label_queue,
    )


def _run_check(
    check: Check, inputs: WindowInputs, checks: list[CheckResult], timings: dict[str, float]
) -> None:
    """One check, timed; one that raises is recorded as ``error``."""
    if not check.present(inputs):
        return
    start = time.perf_counter()
    try:
        if check.name in inputs.profile.unavailable:
            why = f"not applicable: {inputs.profile.unavailable[check.name]}"
            result = CheckResult(check.name, Status.NOT_APPLICABLE, why)
        else:
            result = check.run(inputs)
    except Exception as exc:  # one broken check must not take the window's verdict
        log.exception("check %s failed", check.name)
        result = CheckResult(
            check.name, Status.ERROR, f"the check failed: {type(exc).__name__}: {exc}"
        )
    timings[check.name] = round(time.perf_counter() - start, 4)
    checks.append(result)
    inputs.results[check.name] = result


def _label_queue(inputs: WindowInputs) -> list[LabelPick]:
    """The unlabelled events most worth a label, ranked by the long tail's novelty scores
    (the share of unknown prompt words when the window was not embedded) and whether an LLM
    judge failed them."""
    long_tail = inputs.results.get("long_tail")
    novelty = long_tail.details.get("novelty") if long_tail else None
    if novelty is not None:  # scores of the sample long_tail embedded (cached on inputs)
        frame = inputs.embedded[0]
    else:
        frame, novelty = inputs.window, inputs.descriptors["prompt_oov_share"].to_numpy(float)
    failed = {r.request_id for e in inputs.judged for r in e.rows if not r.passed}
    return label_priority(
        frame,
        unfamiliar=novelty,
        baseline_labels=inputs.profile.records.get("label"),
        judge_failed=failed,
        budget=inputs.thresholds.label_budget,
    )
