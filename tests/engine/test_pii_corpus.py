"""Recall and false positives of the redaction on a corpus of real formats and look-alikes
(the figures in docs/benchmarks.md come from this test's output)."""

from app.engine.pii import scrub
from tests.engine.pii_corpus import NEGATIVES, POSITIVES


def test_redaction_finds_real_formats_and_leaves_look_alikes() -> None:
    missed = [(t, kind, scrub(t)) for t, kind in POSITIVES if kind not in scrub(t)[1]]
    false = [(t, scrub(t)) for t in NEGATIVES if scrub(t)[1]]
    recall = 1 - len(missed) / len(POSITIVES)
    fp_rate = len(false) / len(NEGATIVES)
    print(f"pii_recall={recall:.3f} ({len(POSITIVES)} positives) "
          f"pii_false_positive_rate={fp_rate:.3f} ({len(NEGATIVES)} look-alikes)")  # fmt: skip
    assert len(POSITIVES) >= 50 and len(NEGATIVES) >= 50
    assert recall >= 0.95, missed
    assert fp_rate <= 0.05, false
