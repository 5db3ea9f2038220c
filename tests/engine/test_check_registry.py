"""Checks behind one interface: a new check is its module plus one registry entry; a check
that fails is that check's ``error``, never the window's."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.engine import checks as registry
from app.engine.checks import Check, WindowInputs
from app.engine.profile_codec import decode_profile, encode_profile
from app.engine.results import CheckResult, Status
from app.engine.window import BaselineProfile, evaluate_window
from tests.engine.test_profile_codec import _records


@dataclass
class MeanLength:
    """A toy check state: the baseline's mean prompt length."""

    mean: float
    lengths: np.ndarray

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"mean": self.mean}, {"lengths": self.lengths}

    @classmethod
    def from_state(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> "MeanLength":
        return cls(float(settings["mean"]), arrays["lengths"])


def _length_check(i: WindowInputs) -> CheckResult:
    state = i.profile.states["prompt_length"]
    mean = float(i.window["prompt"].str.len().mean())
    status = Status.DRIFT if mean > 2 * state.mean else Status.OK
    return CheckResult("prompt_length", status, f"mean {mean:.0f} vs {state.mean:.0f}")


def _profile_length(records: pd.DataFrame, seed: int) -> MeanLength:
    lengths = records["prompt"].str.len().to_numpy(dtype=float)
    return MeanLength(float(lengths.mean()), lengths)


def _broken(i: WindowInputs) -> CheckResult:
    raise RuntimeError("boom")


def test_a_new_check_is_one_registry_entry_with_its_own_stored_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = Check("prompt_length", _length_check, profile=_profile_length, state=MeanLength)
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, entry))
    monkeypatch.setattr("app.engine.window.REGISTRY", registry.REGISTRY)
    monkeypatch.setattr("app.engine.profile_codec.REGISTRY", registry.REGISTRY)
    profile = decode_profile(encode_profile(BaselineProfile.build(_records(300))))
    assert isinstance(profile.states["prompt_length"], MeanLength)
    window = _records(200, seed=1)
    calm = evaluate_window(profile, window, with_text_drift=False)
    assert calm.checks["prompt_length"].status is Status.OK
    assert "prompt_length" in calm.timings
    long = window.assign(prompt=window["prompt"] * 5)
    assert (
        evaluate_window(profile, long, with_text_drift=False).checks["prompt_length"].status
        is Status.DRIFT
    )


def test_a_check_that_raises_is_its_own_error_and_the_others_still_decide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = Check("broken", _broken)
    monkeypatch.setattr("app.engine.window.REGISTRY", (*registry.REGISTRY, entry))
    profile = BaselineProfile.build(_records(300))
    result = evaluate_window(profile, _records(200, seed=1), with_text_drift=False)
    assert result.checks["broken"].status is Status.ERROR
    assert "RuntimeError: boom" in result.checks["broken"].summary
    assert result.checks["quality"].status is not Status.ERROR
    assert result.status is not Status.ERROR  # never a verdict
    assert any("broken" in reason for reason in result.reasons)


def test_a_check_whose_profiling_fails_is_not_applicable_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(records: pd.DataFrame, seed: int) -> None:
        raise ValueError("the baseline has no prompts longer than a word")

    entry = Check("picky", _length_check, profile=refuse, state=MeanLength)
    monkeypatch.setattr("app.engine.window.REGISTRY", (*registry.REGISTRY, entry))
    profile = BaselineProfile.build(_records(300))
    result = evaluate_window(profile, _records(200, seed=1), with_text_drift=False)
    assert result.checks["picky"].status is Status.NOT_APPLICABLE
    assert "longer than a word" in result.checks["picky"].summary


def test_the_estimate_is_withheld_where_inputs_left_the_baselines_support() -> None:
    """Confidence collapsing (uncertainty_drift fires): the calibration learnt on the
    baseline no longer holds, so the estimated figures are withheld with the reason."""
    profile = BaselineProfile.build(_records(600))
    calm = evaluate_window(profile, _records(400, seed=1), with_text_drift=False)
    assert calm.checks["estimated_quality"].metric("estimated_accuracy") is not None
    assert calm.checks["estimated_quality"].metric("estimate_reliable") == 1.0
    shifted = _records(400, seed=2)
    shifted["confidence"] = shifted["confidence"] * 0.5
    result = evaluate_window(profile, shifted, with_text_drift=False)
    assert result.checks["uncertainty_drift"].status is Status.DRIFT
    estimated = result.checks["estimated_quality"]
    assert estimated.metric("estimated_accuracy") is None
    assert estimated.metric("estimate_reliable") == 0.0
    assert "unreliable" in estimated.summary and "uncertainty_drift" in estimated.summary
