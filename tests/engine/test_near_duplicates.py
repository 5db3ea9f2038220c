"""Near-duplicate removal on real tweets with seeded reworded copies (the figures in
docs/benchmarks.md come from this test's output)."""

import pytest

from app.datasets import health_tweets
from app.engine.near_duplicates import DEFAULT_THRESHOLD, first_copies, shingles
from tests.engine.paraphrases import copies_of


def test_reworded_copies_are_found_and_distinct_texts_mostly_kept() -> None:
    texts = health_tweets(without_urls=True)["text"].drop_duplicates().sample(
        5000, random_state=0
    ).tolist()  # fmt: skip
    copies = copies_of(texts, 1000)
    found = first_copies(texts + [c for _, c in copies])
    # A copy survives only when it and its original are both kept.
    both_kept = sum(
        found[len(texts) + k] is None and found[i] is None for k, (i, _) in enumerate(copies)
    )
    originals_dropped = sum(twin is not None for twin in found[: len(texts)])
    print(
        f"near_duplicate_copies_kept={both_kept}/1000 "
        f"distinct_tweets_dropped={originals_dropped}/5000 threshold={DEFAULT_THRESHOLD}"
    )
    assert both_kept <= 10
    # Real tweets repeat headlines and templates: some are near-duplicates of each other.
    assert originals_dropped <= 0.05 * len(texts)


def test_the_first_of_each_group_is_kept_and_chains_do_not_merge() -> None:
    a = "the quick brown fox jumps over the lazy dog near the river bank"
    b = "The quick brown fox JUMPS over the lazy dog near the river bank!"
    c = "an entirely different sentence about hospital waiting times in winter"
    assert first_copies([a, c, b]) == [None, None, 0]
    assert shingles("A b!") == shingles("a  B")
    assert first_copies(["", "", "x"]) == [None, 0, None]
    with pytest.raises(ValueError, match=r"between 0\.05 and 0\.97"):
        first_copies([a], threshold=0.99)
