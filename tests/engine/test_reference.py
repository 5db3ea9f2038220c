"""Outputs against reference answers, on real text: a model that starts answering off the
reference is caught by chrF, ROUGE-L and embedding similarity; one that paraphrases as before
is not; the baseline's scores survive the profile's round trip."""

import numpy as np
import pandas as pd

from app.datasets import health_tweets
from app.engine.profile_codec import decode_profile, encode_profile
from app.engine.reference import reference_check
from app.engine.results import Status
from app.engine.thresholds import Thresholds
from app.engine.window import BaselineProfile, evaluate_window

TWEETS = list(health_tweets(without_urls=True).text)


def summaries(start: int, n: int, *, off_share: float, seed: int) -> pd.DataFrame:
    """A summariser: its reference is the tweet itself; a good output keeps most of its words
    (a light paraphrase: a few words dropped), an off one talks about another tweet."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        ref = TWEETS[start + i]
        words = ref.split()
        kept = [w for w in words if rng.random() > 0.15] or words
        output = " ".join(kept)
        if rng.random() < off_share:
            output = TWEETS[(start + i + 5000) % len(TWEETS)]
        rows.append({"prompt": f"Summarise: {ref}", "output": output, "reference": ref})
    return pd.DataFrame(rows)


def test_answers_drifting_off_the_reference_are_degraded_and_paraphrases_are_not() -> None:
    profile = decode_profile(
        encode_profile(BaselineProfile.build(summaries(0, 600, off_share=0.05, seed=0)))
    )
    state = profile.states["reference"]
    embed = profile.embedder.transform if profile.embedder is not None else None
    same = reference_check(state, summaries(1000, 300, off_share=0.05, seed=1),
                           thresholds=Thresholds(), embed=embed)  # fmt: skip
    assert same.status is Status.OK, same.summary
    worse = reference_check(state, summaries(2000, 300, off_share=0.4, seed=2),
                            thresholds=Thresholds(), embed=embed)  # fmt: skip
    assert worse.status is Status.DEGRADED, worse.summary
    fired = {m.name for m in worse.metrics if m.name.endswith("_p_value") and m.value < 0.01 / 3}
    assert fired == {"chrf_p_value", "rouge_l_p_value", "embedding_similarity_p_value"}


def test_the_check_runs_in_the_window_and_says_when_it_cannot() -> None:
    profile = BaselineProfile.build(summaries(0, 400, off_share=0.05, seed=0))
    window = summaries(3000, 200, off_share=0.5, seed=3)
    result = evaluate_window(profile, window, with_text_drift=False)
    assert result.checks["reference"].status is Status.DEGRADED
    assert result.status is Status.DEGRADED
    few = window.assign(reference=[None] * 180 + list(window.reference[180:]))
    result = evaluate_window(profile, few, with_text_drift=False)
    assert result.checks["reference"].status is Status.INSUFFICIENT_DATA
    no_refs = BaselineProfile.build(
        summaries(0, 400, off_share=0.05, seed=0).drop(columns="reference")
    )
    result = evaluate_window(no_refs, window, with_text_drift=False)
    assert "reference" not in result.checks  # the baseline has no reference column at all
