"""Stored profiles are data: they round-trip exactly and nothing else is ever loaded."""

import pickle
import zlib

import numpy as np
import pandas as pd
import pytest

from app.engine.profile_codec import ProfileFormatError, decode_profile, encode_profile
from app.engine.window import BaselineProfile, evaluate_window
from tests.engine.test_label_scarcity import traffic


def _records(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = traffic(n, rng)
    words = np.array(
        ["fever", "cough", "rash", "ebola", "vaccine", "flu", "measles", "diet", "sleep"]
    )
    frame["prompt"] = [" ".join(rng.choice(words, 6)) for _ in range(n)]
    frame["output"] = "Category: " + frame["prediction"]
    frame["perplexity"] = 1 / frame["confidence"]
    frame["score"] = np.where(rng.random(n) < 0.5, rng.random(n), np.nan)
    frame["meta_channel"] = rng.choice(["web", "app"], n)
    frame.loc[::7, "label"] = None
    return frame


def test_a_profile_round_trips_and_judges_windows_identically() -> None:
    profile = BaselineProfile.build(_records(600))
    again = decode_profile(encode_profile(profile))
    window = _records(300, seed=1)
    assert np.array_equal(profile.embed(window), again.embed(window))
    assert profile.vocab == again.vocab
    pd.testing.assert_frame_equal(profile.records, again.records, check_dtype=False)
    first = evaluate_window(profile, window, with_text_drift=False)
    second = evaluate_window(again, window, with_text_drift=False)
    assert first.status == second.status
    for name, check in first.checks.items():
        assert check.metrics == second.checks[name].metrics, name


def test_a_pickle_is_refused_and_never_unpickled() -> None:
    class Boom:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (pytest.fail, ("a stored profile ran code",))

    for blob in (zlib.compress(pickle.dumps(Boom())), b"DLPROFILE\nnot zlib", b""):
        with pytest.raises(ProfileFormatError):
            decode_profile(blob)
