"""Stored profiles are data: they round-trip exactly and nothing else is ever loaded."""

import io
import json
import pickle
import zlib

import numpy as np
import pandas as pd
import pytest

from app.engine.profile_codec import (
    MAGIC,
    ProfileFormatError,
    _sections,
    decode_profile,
    encode_profile,
)
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


def _same(a: BaselineProfile, b: BaselineProfile) -> None:
    pd.testing.assert_frame_equal(a.records, b.records, check_dtype=False)
    pd.testing.assert_frame_equal(a.descriptors, b.descriptors)
    assert np.array_equal(a.embeddings, b.embeddings)
    assert a.vocab == b.vocab and a.states.keys() == b.states.keys()


def test_a_profile_stored_in_format_2_reads_as_it_was_stored() -> None:
    """Baselines profiled before format 3 hold an .npz archive: still read, the same."""
    profile = BaselineProfile.build(_records(300))
    manifest, arrays = _sections(profile)
    arrays["manifest"] = np.frombuffer(json.dumps({**manifest, "format": 2}).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    old = decode_profile(MAGIC + zlib.compress(buffer.getvalue()))
    _same(old, decode_profile(encode_profile(profile)))
    _same(old, profile)


def test_decoded_arrays_are_the_profiles_own_and_writable() -> None:
    profile = decode_profile(encode_profile(BaselineProfile.build(_records(200))))
    profile.embeddings[0, 0] += 1.0  # a check may work on them in place
    profile.descriptors.iloc[0, 0] = 0.0


@pytest.mark.parametrize(
    "table",
    [
        {"embeddings": ["|O", [2], 0]},  # objects: never built from bytes
        {"embeddings": ["<f8", [1000, 1000], 0]},  # more than the payload holds
        {"embeddings": ["<f8", [4], -8]},
        {"embeddings": ["not a dtype", [4], 0]},
        {},  # a section missing
    ],
)
def test_a_payload_that_is_not_what_its_header_says_is_refused(table: dict) -> None:
    header = json.dumps({"manifest": _sections(BaselineProfile.build(_records(60)))[0],
                         "arrays": table}).encode()  # fmt: skip
    payload = b"DLARRAYS" + len(header).to_bytes(8, "little") + header + bytes(64)
    with pytest.raises(ProfileFormatError):
        decode_profile(MAGIC + zlib.compress(payload))
