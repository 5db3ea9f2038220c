"""Embedding backends and the client-embedding path."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from app.engine.embeddings import TfidfSvdEmbedder, make_embedder
from app.engine.window import BaselineProfile, evaluate_window

HEALTH = [
    "New study links daily walking to lower blood pressure",
    "Flu season arrives early as hospitals report more cases",
    "Doctors warn about the risks of too much sugar in children's diets",
    "Vaccination rates rise after a new public health campaign",
    "Sleep and heart health: what the latest research says",
    "Hospitals struggle with nurse shortages during the winter",
] * 20


def test_tfidf_rows_are_unit_length_and_unknown_words_point_away() -> None:
    emb = TfidfSvdEmbedder(dims=8).fit(HEALTH)
    known = emb.transform(["Study links walking to lower blood pressure"])
    unknown = emb.transform(["Kubernetes pod crashloop after helm upgrade"])
    assert np.allclose(np.linalg.norm(known, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(unknown, axis=1), 1, atol=1e-5)
    base = emb.transform(HEALTH[:6])
    assert (unknown @ base.T).max() < 0.5 < 0.9 < (known @ base.T).max()


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown embedder 'bert'"):
        make_embedder("bert")


@pytest.mark.skipif(
    importlib.util.find_spec("model2vec") is None, reason="needs `pip install driftline[static]`"
)
def test_static_model_embeds_offline() -> None:
    emb = make_embedder("static").fit([])
    rows = emb.transform(["the flu vaccine", "influenza shot", "printer out of paper"])
    assert rows.shape == (3, 64)
    assert rows[0] @ rows[1] > rows[0] @ rows[2]


def test_client_embeddings_are_used_when_every_record_has_one() -> None:
    rng = np.random.default_rng(0)
    n = 400
    records = pd.DataFrame(
        {
            "prompt": rng.choice(HEALTH, n),
            "output": "ok",
            "embedding": list(rng.normal(size=(n, 12)) + 2),
        }
    )
    profile = BaselineProfile.build(records, with_language=False)
    assert profile.embedder is None and profile.embeddings.shape == (n, 12)
    window = records.iloc[:200].copy()
    window["embedding"] = list(rng.normal(size=(200, 12)) - 2)  # moved far away
    result = evaluate_window(profile, window, with_text_drift=False, with_language=False)
    assert result.checks["embedding_drift"].status.value == "drift"
    with pytest.raises(ValueError, match="embedding of length 12"):
        profile.embed(window.drop(columns="embedding"))
