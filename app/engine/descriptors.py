"""Per-event text descriptors, computed once per event and compared between windows.

Vectorised over pandas string columns; the only model-based descriptor is the language,
from py3langid (offline, bundled model), on the first 200 characters of the prompt.
"""

import re

import numpy as np
import pandas as pd

from app.engine.pii import PLACEHOLDER, pii_kinds

# Refusals and deflections: the phrases instruction-tuned models use to decline. Matched at
# the start region of the output (first 300 characters), case-insensitively.
REFUSAL_PATTERNS = [
    r"\bI(?:['\u2019]m| am) (?:sorry|afraid),? (?:but )?"
    r"I (?:can['\u2019]?t|cannot|am unable to|won['\u2019]t)",
    r"\bI (?:can['\u2019]?t|cannot|won['\u2019]t|am unable to|am not able to) "
    r"(?:help|assist|provide|answer|do that|comply|support)",
    r"\bI(?:['\u2019]m| am) (?:unable|not able) to (?:help|assist|provide|answer|comply)",
    r"\bas an AI(?: language model)?\b",
    r"\b(?:this|that) (?:request )?(?:goes against|violates) (?:my|our) "
    r"(?:guidelines|policy|policies)",
    r"\bI (?:must|have to) (?:decline|refuse)\b",
]
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?", re.UNICODE)
_WORDS_SPLIT = r"\S+"

NUMERIC = [
    "prompt_chars",
    "prompt_words",
    "prompt_nonletter_share",
    "output_chars",
    "output_words",
    "output_nonletter_share",
]
FLAGS = ["prompt_empty", "output_empty", "refusal", "truncated", "pii"]
# What the worker stores per event in event_features (NUMERIC, FLAGS and the language).
FEATURE_COLUMNS = (
    "prompt_chars", "prompt_words", "prompt_nonletter_share", "output_chars", "output_words",
    "output_nonletter_share", "prompt_empty", "output_empty", "refusal", "truncated", "pii",
    "language",
)  # fmt: skip
CATEGORICAL = ["language"]


def _nonletter_share(text: pd.Series, chars: pd.Series) -> pd.Series:
    letters = text.str.count(r"[^\W\d_]")
    nonspace = chars - text.str.count(r"\s")
    share = 1.0 - letters / nonspace.where(nonspace > 0)
    return share.fillna(0.0).clip(0.0, 1.0)


def detect_language(texts: pd.Series) -> pd.Series:
    """ISO 639-1 code per text ('' for text too short to tell)."""
    import py3langid  # bundled model; loaded on first use

    def one(t: str) -> str:
        t = t[:200]
        if sum(ch.isalpha() for ch in t) < 12:
            return ""
        return str(py3langid.classify(t)[0])

    return texts.map(one)


def compute_descriptors(events: pd.DataFrame, *, with_language: bool = True) -> pd.DataFrame:
    """Descriptors for ``events`` (columns ``prompt``, ``output``, optional ``finish_reason``).

    Returns one row per event with NUMERIC, FLAGS and (optionally) CATEGORICAL columns.
    """
    prompt = events["prompt"].fillna("").astype(str)
    output = events["output"].fillna("").astype(str)
    out = pd.DataFrame(index=events.index)
    for name, text in (("prompt", prompt), ("output", output)):
        chars = text.str.len()
        out[f"{name}_chars"] = chars.astype(float)
        out[f"{name}_words"] = text.str.count(_WORDS_SPLIT).astype(float)
        out[f"{name}_nonletter_share"] = _nonletter_share(text, chars)
    out["prompt_empty"] = prompt.str.strip() == ""
    out["output_empty"] = output.str.strip() == ""
    out["refusal"] = output.str.slice(0, 300).str.contains(_REFUSAL, regex=True)
    finish = events.get("finish_reason", pd.Series(None, index=events.index, dtype=object))
    out["truncated"] = finish.fillna("").astype(str).str.lower().eq("length")
    # PII is rare: a cheap prefilter (an @, a long digit run, a redaction placeholder) skips
    # most texts.
    maybe = (prompt + " " + output).str.contains(
        r"@|\d[\d ().+-]{7,}|" + PLACEHOLDER.pattern, regex=True
    )
    out["pii"] = False
    if maybe.any():
        both = prompt[maybe] + "\n" + output[maybe]
        out.loc[maybe, "pii"] = both.map(lambda t: bool(pii_kinds(t)))
    if with_language:
        out["language"] = detect_language(prompt)
    return out


def vocabulary(texts: pd.Series, *, min_count: int = 1) -> frozenset[str]:
    """Lower-cased words of a text column (the baseline's vocabulary for OOV share)."""
    counts = texts.fillna("").str.lower().str.findall(_WORD).explode().value_counts()
    return frozenset(counts[counts >= min_count].index.astype(str))


def oov_share(texts: pd.Series, vocab: frozenset[str]) -> pd.Series:
    """Share of each text's words unknown to ``vocab`` (0 for texts without words).

    One text at a time: exploding every text's word list at once held ~1.4 GB at 1M
    prompts (and took 2.5x as long)."""
    out = np.zeros(len(texts))
    for i, text in enumerate(texts.fillna("")):
        words = _WORD.findall(text.lower())
        if words:
            out[i] = sum(w not in vocab for w in words) / len(words)
    return pd.Series(out, index=texts.index)
