"""Every window check behind one interface, and the registry ``evaluate_window`` loops over.

A check (``Check``) is:

- a ``name`` and a ``run`` that turns a window into its ``CheckResult``, reading the
  baseline's profile and what is shared (descriptors, embeddings) from ``WindowInputs``;
- a ``present`` test: does this model have what the check reads? If not, the check is left
  out of the window's results (a model without predictions has no ``prediction_drift``);
- optionally a ``profile`` of the baseline into a typed state of its own (``CheckState``),
  computed once per baseline and stored as data by ``app.engine.profile_codec``, never
  pickled.

A check that cannot judge says ``insufficient_data`` or ``not_applicable`` with the reason;
one that raises is recorded as ``error`` by the loop, and the others still run. Adding a
check means writing its module and one ``Check`` in ``REGISTRY``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, Self

import numpy as np
import pandas as pd

from app.engine import descriptors as desc
from app.engine.data_quality import data_quality_check
from app.engine.drift import descriptor_drift, distribution_drift, embedding_drift
from app.engine.estimated import Calibration, estimated_quality_check, uncertainty_drift_check
from app.engine.judged import JudgeEvidence, judge_check
from app.engine.longtail import longtail_check
from app.engine.perplexity import perplexity_check
from app.engine.quality import quality_check
from app.engine.reference import ReferenceScores, reference_check
from app.engine.results import CheckResult, Status
from app.engine.text_drift import TextReference, text_drift
from app.engine.thresholds import Thresholds

if TYPE_CHECKING:  # window.py builds the profile and imports this registry
    from app.engine.window import BaselineProfile

# Above this many events a window is sampled for the embedding-based checks (documented cap;
# the long-tail share and centroid are estimates whose error at 20k rows is < 0.5 points).
EMBEDDING_SAMPLE_CAP = 20_000


@dataclass
class WindowInputs:
    """What a check may read: the baseline's profile, the window and what is shared."""

    profile: BaselineProfile
    window: pd.DataFrame
    descriptors: pd.DataFrame
    thresholds: Thresholds
    recent: pd.DataFrame | None = None
    seed: int = 0
    with_text_drift: bool = True
    # What the monitor's LLM judges said about a sample of the window (the worker asks them).
    judged: list[JudgeEvidence] = field(default_factory=list)
    # The results of the checks run so far (in REGISTRY order), for checks that read them.
    results: dict[str, CheckResult] = field(default_factory=dict)

    @cached_property
    def embedded(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The window's events embedded in the baseline's space (sampled above the cap)."""
        sample = self.window
        if len(sample) > EMBEDDING_SAMPLE_CAP:
            sample = sample.sample(EMBEDDING_SAMPLE_CAP, random_state=self.seed)
            sample = sample.reset_index(drop=True)
        return sample, self.profile.embed(sample)


def _has(column: str) -> Callable[[WindowInputs], bool]:
    def present(inputs: WindowInputs) -> bool:
        return (
            column in inputs.window
            and column in inputs.profile.records
            and bool(inputs.window[column].notna().any())
        )

    return present


def _descriptor_drift(i: WindowInputs) -> CheckResult:
    p, d = i.profile, i.descriptors
    numeric = [*desc.NUMERIC, "prompt_oov_share", "output_oov_share"]
    categorical = [*desc.FLAGS, *(c for c in desc.CATEGORICAL if c in d and c in p.descriptors)]
    base_d, win_d = p.descriptors, d
    meta = p.meta_numeric + p.meta_categorical
    if meta:
        base_d = pd.concat([base_d, p.records[meta]], axis=1)
        win_d = pd.concat([d, i.window[[c for c in meta if c in i.window]]], axis=1)
        numeric += [c for c in p.meta_numeric if c in i.window]
        categorical += [c for c in p.meta_categorical if c in i.window]
    return descriptor_drift(
        base_d, win_d, numeric=numeric, categorical=categorical, thresholds=i.thresholds
    )


def _distribution(column: str, check: str) -> Callable[[WindowInputs], CheckResult]:
    def run(i: WindowInputs) -> CheckResult:
        return distribution_drift(
            i.profile.records[column], i.window[column], check=check,
            thresholds=i.thresholds, min_events=i.thresholds.min_labels,
        )  # fmt: skip

    return run


def _without_embeddings(name: str, i: WindowInputs) -> CheckResult | None:
    """``not_applicable`` with the reason when the baseline could not be embedded."""
    why = i.profile.embedding_unavailable
    return CheckResult(name, Status.NOT_APPLICABLE, f"not applicable: {why}") if why else None


def _embedding_drift(i: WindowInputs) -> CheckResult:
    if (missing := _without_embeddings("embedding_drift", i)) is not None:
        return missing
    _, emb = i.embedded
    return embedding_drift(i.profile.embeddings, emb, thresholds=i.thresholds)


def _long_tail(i: WindowInputs) -> CheckResult:
    if (missing := _without_embeddings("long_tail", i)) is not None:
        return missing
    sample, emb = i.embedded
    return longtail_check(i.profile.embeddings, emb, sample, thresholds=i.thresholds, seed=i.seed)


class CheckState(Protocol):
    """A check's once-per-baseline state: plain data, stored without pickle."""

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able settings and named arrays."""
        ...

    @classmethod
    def from_state(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        """Inverse of ``to_state``."""
        ...


def _always(_: WindowInputs) -> bool:
    return True


# Checks whose firing says the window's inputs left the baseline's support; they come before
# estimated_quality in REGISTRY, which reads their results.
SUPPORT_SIGNALS = {"long_tail": Status.WARNING, "uncertainty_drift": Status.DRIFT}


def _off_support(i: WindowInputs) -> list[str]:
    return [
        name
        for name, status in SUPPORT_SIGNALS.items()
        if name in i.results and i.results[name].status is status
    ]


@dataclass(frozen=True)
class Check:
    """One check: its name, how it runs, whether the model has what it reads, and (for a
    check with state of its own) how it profiles the baseline and what type that state is.

    ``profile(records, seed)`` returns the state, or None when the baseline lacks what the
    check needs (the check then says so when it runs); a ValueError marks the check
    unavailable for this baseline with the error as its reason.
    """

    name: str
    run: Callable[[WindowInputs], CheckResult]
    present: Callable[[WindowInputs], bool] = _always
    profile: Callable[[pd.DataFrame, int], CheckState | None] | None = None
    state: type[CheckState] | None = None


REGISTRY: tuple[Check, ...] = (
    Check("descriptor_drift", _descriptor_drift),
    Check("prediction_drift", _distribution("prediction", "prediction_drift"), _has("prediction")),
    Check("label_drift", _distribution("label", "label_drift"), _has("label")),
    Check(
        "text_drift",
        lambda i: text_drift(
            i.profile.records["prompt"],
            i.window["prompt"],
            thresholds=i.thresholds,
            analysed=i.profile.states.get("text_drift"),
        ),
        lambda i: i.with_text_drift,
        profile=lambda records, _: TextReference.fit(records),
        state=TextReference,
    ),
    Check("embedding_drift", _embedding_drift),
    Check("long_tail", _long_tail),
    Check(
        "quality",
        lambda i: quality_check(
            i.profile.records, i.window, recent=i.recent, thresholds=i.thresholds
        ),
    ),
    Check(
        "uncertainty_drift",
        lambda i: uncertainty_drift_check(
            i.profile.records, i.window, recent=i.recent, thresholds=i.thresholds
        ),
    ),
    Check(
        "estimated_quality",
        lambda i: estimated_quality_check(
            i.profile.states.get("estimated_quality"),
            i.window,
            recent=i.recent,
            thresholds=i.thresholds,
            seed=i.seed,
            off_support=_off_support(i),
        ),
        profile=lambda records, seed: Calibration.fit(records, seed=seed),
        state=Calibration,
    ),
    Check(
        "reference",
        lambda i: reference_check(
            i.profile.states.get("reference"),
            i.window,
            thresholds=i.thresholds,
            embed=i.profile.embedder.transform if i.profile.embedder is not None else None,
            seed=i.seed,
        ),
        _has("reference"),
        profile=lambda records, seed: ReferenceScores.fit(records, seed=seed),
        state=ReferenceScores,
    ),
    Check(
        "judge",
        lambda i: judge_check(i.judged, thresholds=i.thresholds),
        lambda i: bool(i.judged),
    ),
    Check(
        "perplexity",
        lambda i: perplexity_check(
            i.profile.records["perplexity"], i.window["perplexity"], thresholds=i.thresholds
        ),
        lambda i: "perplexity" in i.window and "perplexity" in i.profile.records,
    ),
    Check(
        "data_quality",
        lambda i: data_quality_check(i.window, i.descriptors, thresholds=i.thresholds),
    ),
)
