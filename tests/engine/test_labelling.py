"""What to label next, on plain DataFrames."""

import numpy as np
import pandas as pd

from app.engine.labelling import label_priority


def test_the_uncertain_novel_and_uncovered_come_first_and_labelled_never() -> None:
    window = pd.DataFrame(
        {
            "request_id": ["sure", "unsure", "novel", "labelled", "rare-class"],
            "prediction": ["a", "a", "a", "a", "b"],
            "confidence": [0.99, 0.40, 0.95, 0.10, 0.97],
            "label": [None, None, None, "a", None],
        }
    )
    novelty = np.array([0.05, 0.06, 0.90, 0.99, 0.04])
    picks = label_priority(window, novelty=novelty, budget=10)
    ids = [p.request_id for p in picks]
    assert "labelled" not in ids and len(ids) == 4
    assert ids[-1] == "sure"  # confident, familiar, of the class labels already cover
    reasons = {p.request_id: p.reasons for p in picks}
    assert "uncertain" in reasons["unsure"] and "novel" in reasons["novel"]
    assert "under_covered" in reasons["rare-class"]
    assert all(0 <= p.score <= 1 for p in picks)
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)


def test_budget_and_missing_signals() -> None:
    window = pd.DataFrame({"request_id": [f"r{i}" for i in range(10)]})
    assert len(label_priority(window, budget=3)) == 3  # no signal: any three, no reasons
    assert label_priority(window, budget=0) == []
    assert label_priority(window.iloc[:0], budget=5) == []
    only_novelty = label_priority(window, novelty=np.arange(10.0), budget=2)
    assert [p.request_id for p in only_novelty] == ["r9", "r8"]


def test_a_class_the_baseline_never_labelled_comes_first() -> None:
    window = pd.DataFrame({"request_id": ["known", "new"], "prediction": ["a", "other"]})
    picks = label_priority(window, baseline_labels=pd.Series(["a"] * 100), budget=2)
    assert [p.request_id for p in picks] == ["new", "known"]
    assert picks[0].reasons == ("under_covered",)
