"""Run every check for one window against a prepared baseline.

``BaselineProfile.build`` does the once-per-baseline work (descriptors, vocabulary, fitted
embedder, embeddings, long-tail threshold); ``evaluate_window`` is then cheap per window.

Frames use these columns (all but prompt/output optional): ``request_id, prompt, output,
prediction, label, score, perplexity, finish_reason, embedding`` and any ``meta_*`` columns,
which are drift-tested too (numeric ones by Wasserstein, the rest as categories).
"""

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app.engine import descriptors as desc
from app.engine.data_quality import data_quality_check
from app.engine.drift import descriptor_drift, distribution_drift, embedding_drift, text_drift
from app.engine.embeddings import Embedder, make_embedder, normalise
from app.engine.estimated import (
    Calibration,
    estimated_quality_check,
    uncertainty_drift_check,
)
from app.engine.labelling import LabelPick, label_priority
from app.engine.longtail import longtail_check
from app.engine.perplexity import perplexity_check
from app.engine.quality import quality_check
from app.engine.results import CheckResult, Status
from app.engine.thresholds import Thresholds
from app.engine.verdict import Verdict, decide

# Above this many events a window is sampled for the embedding-based checks (documented cap;
# the long-tail share and centroid are estimates whose error at 20k rows is < 0.5 points).
EMBEDDING_SAMPLE_CAP = 20_000


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
    # Confidence -> P(correct), when the baseline has confidences with its labels.
    calibration: Calibration | None = None
    # Why the baseline has no embeddings (too little text to fit the embedder), if so.
    embedding_unavailable: str | None = None

    @classmethod
    def build(
        cls,
        records: pd.DataFrame,
        *,
        embedder: str = "tfidf",
        thresholds: Thresholds | None = None,
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
        thresholds = thresholds or Thresholds()
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
            except ValueError as exc:
                # Degrade, never fail: the embedding checks say why; the rest still run.
                model, own, unavailable = None, np.empty((0, 0), np.float32), str(exc)
        meta_num, meta_cat = _meta_columns(records)
        return cls(
            records=records,
            descriptors=d,
            vocab=vocab_a,
            embedder=model,
            embeddings=own,
            embedding_unavailable=unavailable,
            meta_numeric=meta_num,
            meta_categorical=meta_cat,
            calibration=Calibration.fit(records, seed=seed),
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
) -> WindowResult:
    """Every check for ``window`` vs ``profile``, then the verdict.

    ``descriptors`` may be passed precomputed (the worker stores them per event).
    ``recent``: the previous windows' events (prediction, label, confidence, perplexity),
    pooled with this window's by the checks whose evidence adds up over windows.
    """
    thresholds = thresholds or Thresholds()
    window = window.reset_index(drop=True)
    n = len(window)
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

    def timed(name: str, start: float) -> None:
        timings[name] = round(time.perf_counter() - start, 4)

    t = time.perf_counter()
    d = (
        descriptors
        if descriptors is not None
        else describe(window, profile.vocab, with_language=with_language)
    )
    timed("descriptors", t)
    checks: list[CheckResult] = []

    t = time.perf_counter()
    numeric = [*desc.NUMERIC, "prompt_oov_share", "output_oov_share"]
    categorical = [
        *desc.FLAGS,
        *([c for c in desc.CATEGORICAL if c in d and c in profile.descriptors]),
    ]
    base_d, win_d = profile.descriptors, d
    if profile.meta_numeric or profile.meta_categorical:
        base_d = pd.concat(
            [base_d, profile.records[profile.meta_numeric + profile.meta_categorical]], axis=1
        )
        present = [c for c in profile.meta_numeric + profile.meta_categorical if c in window]
        win_d = pd.concat([d, window[present]], axis=1)
        numeric += [c for c in profile.meta_numeric if c in window]
        categorical += [c for c in profile.meta_categorical if c in window]
    checks.append(
        descriptor_drift(
            base_d, win_d, numeric=numeric, categorical=categorical, thresholds=thresholds
        )
    )
    timed("descriptor_drift", t)

    for column, check in (("prediction", "prediction_drift"), ("label", "label_drift")):
        if column in window and column in profile.records and window[column].notna().any():
            checks.append(
                distribution_drift(
                    profile.records[column],
                    window[column],
                    check=check,
                    thresholds=thresholds,
                    min_events=thresholds.min_labels,
                )
            )

    if with_text_drift:
        t = time.perf_counter()
        checks.append(
            text_drift(profile.records["prompt"], window["prompt"], thresholds=thresholds)
        )
        timed("text_drift", t)

    if profile.embedding_unavailable:
        why = f"not applicable: {profile.embedding_unavailable}"
        checks += [
            CheckResult("embedding_drift", Status.NOT_APPLICABLE, why),
            CheckResult("long_tail", Status.NOT_APPLICABLE, why),
        ]
        label_queue = label_priority(
            window,
            unfamiliar=d["prompt_oov_share"].to_numpy(dtype=float),
            baseline_labels=profile.records.get("label"),
            budget=thresholds.label_budget,
        )
    else:
        t = time.perf_counter()
        sample, sample_d = window, d
        if n > EMBEDDING_SAMPLE_CAP:
            picked = window.sample(EMBEDDING_SAMPLE_CAP, random_state=seed)
            sample_d = d.iloc[window.index.get_indexer(picked.index)]
            sample = picked.reset_index(drop=True)
        emb = profile.embed(sample)
        timed("embed", t)
        t = time.perf_counter()
        checks.append(embedding_drift(profile.embeddings, emb, thresholds=thresholds))
        longtail = longtail_check(profile.embeddings, emb, sample, thresholds=thresholds, seed=seed)
        checks.append(longtail)
        novelty = longtail.details.get("novelty")
        label_queue = label_priority(
            sample,
            unfamiliar=(
                novelty
                if novelty is not None
                else sample_d["prompt_oov_share"].to_numpy(dtype=float)
            ),
            baseline_labels=profile.records.get("label"),
            budget=thresholds.label_budget,
        )
        timed("embedding_checks", t)

    t = time.perf_counter()
    checks.append(quality_check(profile.records, window, recent=recent, thresholds=thresholds))
    # Profiles built before calibration existed have no such attribute.
    calibration = getattr(profile, "calibration", None)
    checks.append(
        estimated_quality_check(
            calibration, window, recent=recent, thresholds=thresholds, seed=seed
        )
    )
    checks.append(
        uncertainty_drift_check(profile.records, window, recent=recent, thresholds=thresholds)
    )
    if "perplexity" in window and "perplexity" in profile.records:
        checks.append(
            perplexity_check(
                profile.records["perplexity"], window["perplexity"], thresholds=thresholds
            )
        )
    checks.append(data_quality_check(window, d, thresholds=thresholds))
    timed("quality", t)

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
