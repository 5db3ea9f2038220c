"""The data-quality check's rates, from their definitions."""

import numpy as np
import pandas as pd
import pytest

from app.engine.data_quality import data_quality_check
from app.engine.descriptors import compute_descriptors
from app.engine.near_duplicates import normalised
from app.engine.thresholds import Thresholds

# Forms that normalise alike or apart: case (Greek final sigma, dotted İ, German ß),
# punctuation and spacing, combining marks, scripts without case, empty and blank prompts.
VARIANTS = [
    "Is the clinic open?",
    "is the CLINIC open",
    "  is   the clinic, open!! ",
    "ΟΔΟΣ ΣΟΦΟΣ",
    "οδος σοφος",
    "οδοσ σοφοσ",
    "İstanbul",
    "i̇stanbul",
    "istanbul",
    "Straße",
    "STRASSE",
    "café",
    "cafe\u0301",
    "cafe",
    "東京の天気",
    "東京 の 天気",
    "",
    "   ",
    "?!",
    "x_y",
    "x y",
    "12:30",
    "12 30",
]


@pytest.mark.parametrize("seed", range(5))
def test_duplicate_rates_are_what_their_definitions_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    prompts = pd.Series(rng.choice(VARIANTS, 300), dtype=object)
    prompts[rng.random(300) < 0.05] = None
    window = pd.DataFrame({"prompt": prompts, "output": "ok", "finish_reason": "stop"})
    result = data_quality_check(window, compute_descriptors(window), thresholds=Thresholds())
    rates = {m.name: m.value for m in result.metrics}
    filled = prompts.fillna("")
    assert rates["duplicate_rate"] == filled.duplicated().mean()
    near = pd.Series([normalised(p) for p in filled]).duplicated().mean()
    assert rates["near_duplicate_rate"] == pytest.approx(near, abs=1e-15)
    assert rates["near_duplicate_rate"] >= rates["duplicate_rate"]
