"""Outputs against reference answers: chrF, ROUGE-L and embedding similarity, per window
against the baseline's.

For a model that writes text, a reference answer (feedback's ``reference``, a baseline
record's ``reference``) says what the output should have said. Labels are not used here: a
classifier's label is a class, and its quality check already compares it. Each scored pair
gets chrF (sacrebleu: character n-grams, so it works in any script), ROUGE-L (rouge-score:
longest common subsequence of words; its tokeniser keeps Latin letters and digits only, so
it is left out for pairs without any) and the cosine similarity of the two texts in the
baseline's embedding space. The baseline's chrF and ROUGE-L are computed once
(``ReferenceScores``, the check's state); each metric's window mean is tested against the
baseline's by Welch's t-test, one-sided, Bonferroni over the three within ``quality_alpha``,
and must also fall by ``quality_drop`` (relative), like the label-based quality check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy import stats

from app.engine.results import CheckResult, MetricValue, Status
from app.engine.stats import relative_change
from app.engine.thresholds import Thresholds

CHECK = "reference"
# Pairs scored per side at most (deterministic sample above): chrF and ROUGE-L cost ~0.3 ms a
# pair, and 2,000 pairs put the mean's error below 0.01 for scores spread over [0, 1].
MAX_PAIRS = 2_000
METRICS = ("chrf", "rouge_l", "embedding_similarity")
_LATIN = re.compile(r"[A-Za-z0-9]")


def references(frame: pd.DataFrame) -> pd.Series:
    """Each row's reference answer (None where it has none)."""
    if "reference" in frame:
        return frame["reference"]
    return pd.Series(None, index=frame.index, dtype=object)


def pairs(frame: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """The (output, reference) pairs of a frame, a deterministic sample above ``MAX_PAIRS``."""
    ref = references(frame)
    keep = ref.notna() & frame["output"].notna()
    out = pd.DataFrame({"output": frame.loc[keep, "output"], "reference": ref[keep]})
    if len(out) > MAX_PAIRS:
        out = out.sample(MAX_PAIRS, random_state=seed)
    return out.astype(str).reset_index(drop=True)


def text_scores(p: pd.DataFrame) -> dict[str, np.ndarray]:
    """chrF (0-1) and ROUGE-L F1 of each pair (NaN where ROUGE-L cannot tokenise it)."""
    import sacrebleu
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    both = list(zip(p.output, p.reference, strict=True))
    chrf = np.array([sacrebleu.sentence_chrf(o, [r]).score / 100 for o, r in both])
    rouge = np.array(
        [scorer.score(r, o)["rougeL"].fmeasure if _LATIN.search(o + r) else np.nan for o, r in both]
    )
    return {"chrf": chrf, "rouge_l": rouge}


@dataclass(frozen=True)
class ReferenceScores:
    """The baseline's chrF and ROUGE-L per pair (and the pairs, for embedding similarity)."""

    chrf: np.ndarray
    rouge_l: np.ndarray
    outputs: list[str]
    refs: list[str]

    @classmethod
    def fit(cls, records: pd.DataFrame, *, seed: int = 0) -> ReferenceScores | None:
        """None when the baseline has no reference answers."""
        if "output" not in records or not references(records).notna().any():
            return None
        p = pairs(records, seed=seed)
        s = text_scores(p)
        return cls(s["chrf"], s["rouge_l"], list(p.output), list(p.reference))

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Profile codec: settings and arrays."""
        return {"outputs": self.outputs, "refs": self.refs}, {
            "chrf": self.chrf, "rouge_l": self.rouge_l,
        }  # fmt: skip

    @classmethod
    def from_state(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        """Inverse of ``to_state``."""
        return cls(arrays["chrf"], arrays["rouge_l"], settings["outputs"], settings["refs"])


def _cosines(embed: Any, outputs: list[str], refs: list[str]) -> np.ndarray:
    a = np.asarray(embed(outputs), dtype=float)
    b = np.asarray(embed(refs), dtype=float)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1), np.nan)


def reference_check(
    state: ReferenceScores | None,
    window: pd.DataFrame,
    *,
    thresholds: Thresholds,
    embed: Any = None,
    seed: int = 0,
) -> CheckResult:
    """Window vs baseline on the three reference metrics. ``embed`` maps texts to vectors in
    the baseline's space (None: no embedding similarity)."""
    if state is None:
        return CheckResult(
            CHECK, Status.NOT_APPLICABLE, "not applicable: the baseline has no reference answers"
        )
    p = pairs(window, seed=seed)
    if len(p) < thresholds.min_labels:
        return CheckResult(
            CHECK, Status.INSUFFICIENT_DATA,
            f"{len(p)} events with a reference answer; at least {thresholds.min_labels} needed",
            [MetricValue("pairs", float(len(p)))],
        )  # fmt: skip
    win = text_scores(p)
    base: dict[str, np.ndarray] = {"chrf": state.chrf, "rouge_l": state.rouge_l}
    if embed is not None:
        win["embedding_similarity"] = _cosines(embed, list(p.output), list(p.reference))
        base["embedding_similarity"] = _cosines(embed, state.outputs, state.refs)
    alpha = thresholds.quality_alpha / len(win)
    metrics = [MetricValue("pairs", float(len(p)))]
    fired = []
    for name, values in win.items():
        w, b = values[np.isfinite(values)], base[name][np.isfinite(base[name])]
        if len(w) < thresholds.min_labels or len(b) < thresholds.min_labels:
            continue
        p_value = float(stats.ttest_ind(w, b, equal_var=False, alternative="less").pvalue)
        drop = -relative_change(float(w.mean()), float(b.mean()))
        metrics += [
            MetricValue(name, float(w.mean())),
            MetricValue(f"{name}_baseline", float(b.mean())),
            MetricValue(f"{name}_relative_drop", drop, threshold=thresholds.quality_drop),
            MetricValue(f"{name}_p_value", p_value, threshold=alpha),
        ]
        if p_value < alpha and drop >= thresholds.quality_drop:
            fired.append(
                f"{name.replace('_', ' ')} {w.mean():.3f} vs baseline {b.mean():.3f} "
                f"(-{drop:.0%}, p={p_value:.2g})"
            )
    if fired:
        return CheckResult(CHECK, Status.DEGRADED, "outputs further from the reference answers: "
                           + "; ".join(fired), metrics)  # fmt: skip
    return CheckResult(
        CHECK, Status.OK, f"outputs as close to the reference answers as the baseline's "
        f"({len(p)} pairs)", metrics,
    )  # fmt: skip
