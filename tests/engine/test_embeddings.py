"""Embedding backends and the client-embedding path."""

import importlib.util
import os

import numpy as np
import pandas as pd
import pytest

from app.datasets import chatterbot, health_tweets
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


def _extra(module: str, install: str) -> None:
    """Skip without an optional extra, except under CI, which installs every extra."""
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install {install} (see .ci/run)")
        pytest.skip(f"needs `{install}`")


def test_minilm_embeds_offline_and_sees_a_new_domain() -> None:
    _extra("sentence_transformers", "pip install torch==2.13.0 driftline[minilm]")
    emb = make_embedder("minilm").fit([])
    rows = emb.transform(
        ["my card was charged twice", "refund for a double charge", "the weather is nice"]
    )
    assert rows.shape == (3, 384)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-5)
    assert rows[0] @ rows[1] > 0.4 > 0.1 > rows[0] @ rows[2]  # paraphrase near, topic far

    # Real text: health-news tweets as the baseline, chatbot small talk as a new domain.
    tweets = health_tweets(without_urls=True)["text"].sample(700, random_state=3).tolist()
    records = pd.DataFrame({"prompt": tweets[:400], "output": "ok"})
    profile = BaselineProfile.build(records, embedder="minilm", with_language=False)
    chat = pd.DataFrame({"prompt": chatterbot()["prompt"].sample(200, random_state=3).tolist(),
                         "output": "ok"})  # fmt: skip
    calm = pd.DataFrame({"prompt": tweets[400:600], "output": "ok"})
    for window, expected in ((chat, "drift"), (calm, "ok")):
        result = evaluate_window(profile, window, with_text_drift=False, with_language=False)
        assert result.checks["embedding_drift"].status.value == expected
