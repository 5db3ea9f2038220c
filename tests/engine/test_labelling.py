"""What to label next, on plain DataFrames."""

import numpy as np
import pandas as pd

from app.engine.labelling import label_priority


def test_the_uncertain_novel_and_uncovered_come_first_and_labelled_never() -> None:
    window = pd.DataFrame(
        {
            "request_id": ["sure", "unsure", "novel", "labelled", "new-class"],
            "prediction": ["a", "a", "a", "a", "b"],
            "confidence": [0.99, 0.40, 0.95, 0.10, 0.97],
            "label": [None, None, None, "a", None],
        }
    )
    unknown_words = np.array([0.0, 0.05, 0.80, 0.90, 0.02])
    picks = label_priority(
        window, unfamiliar=unknown_words, baseline_labels=pd.Series(["a"] * 50), budget=10
    )
    ids = [p.request_id for p in picks]
    assert "labelled" not in ids and len(ids) == 4
    assert ids[-1] == "sure"  # confident, familiar words, a well-covered class
    reasons = {p.request_id: p.reasons for p in picks}
    assert "uncertain" in reasons["unsure"] and "novel" in reasons["novel"]
    assert reasons["new-class"] == ("under_covered",)
    assert reasons["sure"] == ()
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)


def test_a_signal_that_is_the_same_for_everyone_changes_nothing() -> None:
    window = pd.DataFrame({"request_id": ["x", "y", "z"], "confidence": [0.9, 0.2, 0.5],
                           "prediction": ["a", "a", "a"]})  # fmt: skip
    covered = label_priority(window, baseline_labels=pd.Series(["a"] * 50), budget=3)
    alone = label_priority(window.drop(columns="prediction"), budget=3)
    assert [p.request_id for p in covered] == [p.request_id for p in alone] == ["y", "z", "x"]


def test_budget_and_missing_signals() -> None:
    window = pd.DataFrame({"request_id": [f"r{i}" for i in range(10)]})
    assert len(label_priority(window, budget=3)) == 3  # no signal: any three, no reasons
    assert label_priority(window, budget=0) == []
    assert label_priority(window.iloc[:0], budget=5) == []
    only_words = label_priority(window, unfamiliar=np.arange(10.0), budget=2)
    assert [p.request_id for p in only_words] == ["r9", "r8"]


def test_rows_without_request_ids_are_named_by_position() -> None:
    window = pd.DataFrame({"confidence": [0.9, 0.1, 0.5]})
    assert [p.request_id for p in label_priority(window, budget=2)] == ["1", "2"]
