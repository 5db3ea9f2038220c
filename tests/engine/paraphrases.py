"""Reworded copies of real texts, seeded: the near-duplicates a retraining set must not
split across train and validation (a word dropped, added, swapped or re-cased, trailing
punctuation), as users retype or templates vary."""

import random

FILLERS = ("please", "hey", "btw", "so", "really", "just", "actually")
ENDINGS = ("", "!", "?", " :)", "...")


def reword(text: str, rng: random.Random, edits: int) -> str:
    """``text`` with ``edits`` small word-level edits and a new ending."""
    words = text.split()
    for _ in range(edits):
        op = rng.randrange(4)
        if op == 0 and len(words) > 3:
            del words[rng.randrange(len(words))]
        elif op == 1:
            words.insert(rng.randrange(len(words) + 1), rng.choice(FILLERS))
        elif op == 2 and len(words) > 2:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        else:
            i = rng.randrange(len(words))
            words[i] = words[i].upper()
    return " ".join(words) + rng.choice(ENDINGS)


def copies_of(texts: list[str], n: int, *, seed: int = 0) -> list[tuple[int, str]]:
    """``n`` (index of the original, reworded copy) pairs: 1 edit for texts under 8 words,
    1-3 for longer ones (three edits leave little of a five-word text)."""
    rng = random.Random(seed)
    out = []
    for i in rng.sample(range(len(texts)), n):
        edits = 1 if len(texts[i].split()) < 8 else rng.randint(1, 3)
        out.append((i, reword(texts[i], rng, edits)))
    return out
