"""Near-duplicate texts: groups of texts that say almost the same thing in almost the same
words (a reworded, re-cased, re-punctuated or padded copy), found with MinHash.

A retraining set must not hold such a pair across its train and validation halves: the
validation score would then partly measure memory. Exact-match de-duplication misses them
(one added "please" is a new string), and comparing every pair is quadratic; MinHash with
locality-sensitive hashing (``datasketch``) finds the candidate pairs in linear time, and
each candidate is confirmed on its estimated Jaccard similarity.

Texts are compared as sets of character 4-grams of their lower-cased words. Measured on
5,000 real tweets with 1,000 seeded reworded copies (tests/engine/test_near_duplicates.py,
docs/benchmarks.md), copies left beside their original / distinct tweets dropped: 0 / 146
at a threshold of 0.3 (the default), 3 / 53 at 0.4, 17 / 30 at 0.5, 233 / 9 at 0.7. The
"distinct" tweets dropped are mostly repeated headlines and templates. Paraphrases in other
words are not found: that needs an embedding model.
"""

import re
from collections.abc import Sequence

SHINGLE = 4
NUM_PERM = 128
DEFAULT_THRESHOLD = 0.3
# Beyond these, MinHashLSH with 128 permutations cannot band the signature.
MIN_THRESHOLD, MAX_THRESHOLD = 0.05, 0.97
_WORD = re.compile(r"\w+")


def normalised(text: str) -> str:
    """The text's lower-cased words (letters, digits, underscores) joined by single spaces:
    what stays of a text when case, punctuation and spacing are ignored. Exact duplicates
    after this are the data-quality check's near duplicates and the exports' repeats."""
    return " ".join(_WORD.findall(text.lower()))


def shingles(text: str) -> set[bytes]:
    """The character 4-grams of the text's normalised words."""
    s = normalised(text)
    if len(s) <= SHINGLE:
        return {s.encode()}
    return {s[i : i + SHINGLE].encode() for i in range(len(s) - SHINGLE + 1)}


def first_copies(
    texts: Sequence[str], *, threshold: float = DEFAULT_THRESHOLD, seed: int = 1
) -> list[int | None]:
    """For each text in order, ``None`` when it is kept, else the index of the earlier kept
    text it nearly duplicates. Kept texts are pairwise below ``threshold`` (up to MinHash's
    estimate); a text is compared with kept texts only, so a chain of small rewordings does
    not pull unrelated texts together."""
    if not MIN_THRESHOLD <= threshold <= MAX_THRESHOLD:
        raise ValueError(
            f"near-duplicate threshold must be between {MIN_THRESHOLD} and {MAX_THRESHOLD}, "
            f"not {threshold}"
        )
    # Imported here: the api (no engine extra) uses ``normalised`` from this module.
    from datasketch import MinHash, MinHashLSH

    hashes = MinHash.bulk((shingles(t) for t in texts), num_perm=NUM_PERM, seed=seed)
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    out: list[int | None] = []
    for i, h in enumerate(hashes):
        # LSH returns candidates around the threshold: confirm on the estimated similarity.
        twin = next((j for j in lsh.query(h) if h.jaccard(hashes[j]) >= threshold), None)
        if twin is None:
            lsh.insert(i, h)
        out.append(twin)
    return out
