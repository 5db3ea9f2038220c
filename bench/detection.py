"""Detection benchmark: does the verdict catch real shifts without crying wolf?

Real, labelled text that works offline: UCI Health News in Twitter (vendored), links stripped
(the outlets' URL shorteners would otherwise give every outlet away). Ten outlets are "known":
a TF-IDF + logistic-regression classifier stands in for the fine-tuned model, trained on some
of their tweets; a 10,000-event holdout of them is the baseline; the rest feed the windows.
The other outlets never appear in training or baseline: they are the new topic.

Per window size (1,000 and 20,000 events) and shift:
  - unshifted windows (false alarms),
  - a share (5-30%) of tweets from the new outlets (labels = their outlet, predictions = what
    the model says, perplexity = 1 / the model's top probability): a subtle shift, the new
    outlets write about the same health topics;
  - a share (5-30%) of a new domain: chatterbot-corpus prompts (tech support, coding, AI…)
    reaching the health-news model, labelled "other";
  - label noise: a share of labels replaced by another class (F1 drops).
Each window is judged with the two windows before it (same shift) as its history and pooled
evidence, as a monitor sees consecutive windows; an alarm is a verdict of drift or degraded.
Columns: every label; labels on 5% of events; no labels but the model's confidence; neither.
Side by side, on the same windows: Evidently's default DataDriftPreset on the raw prompt text
(alarm = dataset drift).

    python -m bench.detection --no-evidently   # ~25 min on 2 cores
    python -m bench.detection --reps 5         # quicker, coarser
Last line: ``detection_power_10pct=<x> false_alarm_rate=<y>`` (x: worst size and kind at a
10% new topic or domain, y: worst size unshifted) with every label, then
``detection_power_10pct_nolabels_1k/_20k`` (no labels, with confidence, per size),
``detection_power_10pct_5pct_labels``, the false-alarm rates of those columns and
``estimated_f1_mae`` (mean |estimated - realised| macro-F1 over unshifted windows).
"""

import argparse
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from app.datasets import chatterbot, health_tweets
from app.engine.drift import distribution_drift
from app.engine.quality import classification_metrics, quality_check
from app.engine.results import CheckResult, Status
from app.engine.thresholds import Thresholds
from app.engine.verdict import decide
from app.engine.window import BaselineProfile, describe, evaluate_window

ALARM = {Status.DRIFT, Status.DEGRADED}
LABEL_CHECKS = {"quality", "label_drift"}


# What each column lets the verdict see: every label; labels on 5% of events; no labels but
# the model's confidence; neither (the label-free checks on text and embeddings only).
COLUMNS = ("labels", "5pct_labels", "nolabels_confidence", "nolabels")
CONFIDENCE_CHECKS = {"estimated_quality", "uncertainty_drift", "perplexity"}
LABEL_SHARE = 0.05
NO_LABELS = "nolabels_confidence"
RECENT_COLUMNS = ["prediction", "label", "confidence", "perplexity"]


@dataclass
class Cell:
    """Outcomes of the windows of one (size, shift)."""

    windows: int = 0
    alarms: Counter[str] = field(default_factory=Counter)
    evidently_alarms: int = 0
    fired: Counter[str] = field(default_factory=Counter)
    f1_errors: list[float] = field(default_factory=list)

    def rate(self, column: str) -> float:
        """Share of the cell's windows that alarmed in this column."""
        return self.alarms[column] / self.windows if self.windows else float("nan")


def evidently_default_alarm(reference: pd.Series, current: pd.Series) -> bool:
    """Evidently's DataDriftPreset with its defaults on the prompt text: dataset drift?"""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(text_columns=["prompt"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snap = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(pd.DataFrame({"prompt": current}), data_definition=definition),
            Dataset.from_pandas(pd.DataFrame({"prompt": reference}), data_definition=definition),
        )
    for metric in snap.dict()["metrics"]:
        if metric["metric_name"].startswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
            return share >= 0.5  # the preset's default drift_share
    raise RuntimeError("DriftedColumnsCount missing from Evidently's result")


class World:
    """The model, the baseline and the pools windows are drawn from."""

    def __init__(self, seed: int = 0) -> None:
        tweets = health_tweets(without_urls=True).sample(frac=1, random_state=seed)
        counts = tweets["outlet"].value_counts()
        # Ten known outlets spread over the size ranking; the other six are the new topic.
        known = [o for i, o in enumerate(counts.index) if i % 3 != 2][:10]
        self.known = known
        kn = tweets[tweets["outlet"].isin(known)].reset_index(drop=True)
        self.novel = tweets[~tweets["outlet"].isin(known)].reset_index(drop=True)
        train, base, self.pool = kn.iloc[:8000], kn.iloc[8000:18000], kn.iloc[18000:]
        self.model = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2)),
            LogisticRegression(max_iter=300, C=5.0),
        ).fit(train["text"], train["outlet"])
        self.baseline = self.events(base)
        self.profile = BaselineProfile.build(self.baseline)
        self.pool_events = self.events(self.pool)
        self.novel_events = self.events(self.novel)
        chat = chatterbot().rename(columns={"prompt": "text"}).assign(outlet="other")
        self.domain_events = self.events(chat)
        self.domain_desc = describe(self.domain_events, self.profile.vocab)
        # Descriptors once per event, as the worker stores them.
        self.pool_desc = describe(self.pool_events, self.profile.vocab)
        self.novel_desc = describe(self.novel_events, self.profile.vocab)

    def events(self, tweets: pd.DataFrame) -> pd.DataFrame:
        proba = self.model.predict_proba(tweets["text"])
        classes = self.model.classes_
        return pd.DataFrame(
            {
                "request_id": [f"t{i}" for i in tweets.index],
                "prompt": tweets["text"].to_numpy(),
                "output": "Category: " + classes[proba.argmax(axis=1)],
                "prediction": classes[proba.argmax(axis=1)],
                "label": tweets["outlet"].to_numpy(),
                "confidence": proba.max(axis=1),
                "perplexity": 1.0 / proba.max(axis=1),
            }
        )

    def window(
        self, size: int, kind: str, share: float, rng: np.random.Generator
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        n_new = round(size * share) if kind in ("topic", "domain") else 0
        new_events, new_desc = (
            (self.domain_events, self.domain_desc)
            if kind == "domain"
            else (self.novel_events, self.novel_desc)
        )
        idx = rng.choice(len(self.pool_events), size - n_new, replace=size - n_new > len(self.pool))
        frames = [self.pool_events.iloc[idx]]
        descs = [self.pool_desc.iloc[idx]]
        if n_new:
            jdx = rng.choice(len(new_events), n_new, replace=n_new > len(new_events))
            frames.append(new_events.iloc[jdx])
            descs.append(new_desc.iloc[jdx])
        w = pd.concat(frames, ignore_index=True)
        d = pd.concat(descs, ignore_index=True)
        if kind == "label_noise":
            flip = rng.random(len(w)) < share
            others = rng.choice(self.known, len(w))
            w.loc[flip, "label"] = np.where(
                others[flip] == w.loc[flip, "label"], self.known[0], others[flip]
            )
        return w, d


def run(
    sizes: list[int], reps: int, with_evidently: bool, seed: int
) -> dict[tuple[int, str], Cell]:
    world = World(seed)
    print(
        f"known outlets {len(world.known)}, baseline {len(world.baseline)}, pool "
        f"{len(world.pool)}, new-topic pool {len(world.novel)}; model accuracy on baseline "
        f"{(world.baseline.prediction == world.baseline.label).mean():.2f}",
        flush=True,
    )
    thresholds = Thresholds()
    shifts = (
        [("none", 0.0)]
        + [("topic", s) for s in (0.05, 0.1, 0.2, 0.3)]
        + [("domain", s) for s in (0.05, 0.1, 0.2, 0.3)]
        + [("label_noise", 0.1), ("label_noise", 0.2)]
    )
    cells: dict[tuple[int, str], Cell] = {}
    rng = np.random.default_rng(seed)
    for size in sizes:
        for kind, share in shifts:
            name = "none" if kind == "none" else f"{kind} {share:.0%}"
            cell = cells.setdefault((size, name), Cell())
            n_runs = reps * 2 if kind == "none" else reps
            history: dict[str, list[bool]] = {c: [] for c in COLUMNS}
            frames: list[pd.DataFrame] = []  # earlier windows, every label
            sparse: list[pd.DataFrame] = []  # the same with labels on 5% of events
            start = time.perf_counter()
            for i in range(n_runs + 2):  # the first two only build history
                w, d = world.window(size, kind, share, rng)
                w_sparse = w.assign(label=w["label"].where(rng.random(len(w)) < LABEL_SHARE))
                recent = pd.concat(frames[-2:], ignore_index=True) if frames else None
                result = evaluate_window(
                    world.profile, w, thresholds=thresholds, descriptors=d,
                    drift_history=tuple(history["labels"][-2:]), recent=recent, seed=i,
                )  # fmt: skip
                recent_sparse = pd.concat(sparse[-2:], ignore_index=True) if sparse else None
                by_column = {
                    "labels": list(result.checks.values()),
                    "5pct_labels": [
                        c for k, c in result.checks.items() if k not in LABEL_CHECKS
                    ] + label_checks(world, w_sparse, recent_sparse, thresholds, seed=i),
                    "nolabels_confidence": [
                        c for k, c in result.checks.items() if k not in LABEL_CHECKS
                    ],
                    "nolabels": [
                        c for k, c in result.checks.items()
                        if k not in LABEL_CHECKS | CONFIDENCE_CHECKS
                    ],
                }  # fmt: skip
                frames.append(w[RECENT_COLUMNS])
                sparse.append(w_sparse[RECENT_COLUMNS])
                verdicts = {}
                for column, checks in by_column.items():
                    verdict = decide(
                        checks, thresholds=thresholds, drift_history=tuple(history[column][-2:])
                    )
                    history[column].append(verdict.drift_signal)
                    verdicts[column] = verdict
                if i < 2:
                    continue
                cell.windows += 1
                cell.alarms.update(c for c, v in verdicts.items() if v.status in ALARM)
                cell.fired.update(
                    k
                    for k, c in result.checks.items()
                    if c.status in (Status.DRIFT, Status.DEGRADED, Status.WARNING)
                )
                estimated = result.checks["estimated_quality"].metric("estimated_f1")
                if estimated is not None:
                    realised = classification_metrics(w["prediction"], w["label"])["f1"]
                    cell.f1_errors.append(abs(estimated - realised))
                if with_evidently:
                    cell.evidently_alarms += evidently_default_alarm(
                        world.baseline["prompt"], w["prompt"]
                    )
            rates = ", ".join(f"{c} {cell.alarms[c]}/{cell.windows}" for c in COLUMNS)
            f1_err = f"{np.mean(cell.f1_errors):.3f}" if cell.f1_errors else "-"
            print(
                f"  size {size:>6,} {name:<16} {rates}; evidently {cell.evidently_alarms}"
                f"/{cell.windows}; estimated-F1 error {f1_err}  "
                f"[{time.perf_counter() - start:.0f}s]  fired: {dict(cell.fired.most_common(5))}",
                flush=True,
            )
    return cells


def label_checks(
    world: World,
    window: pd.DataFrame,
    recent: pd.DataFrame | None,
    thresholds: Thresholds,
    *,
    seed: int,
) -> list[CheckResult]:
    """The label-based checks on a window whose labels are sparse (the others need none)."""
    return [
        quality_check(world.baseline, window, recent=recent, thresholds=thresholds, seed=seed),
        distribution_drift(
            world.baseline["label"], window["label"], check="label_drift",
            thresholds=thresholds, min_events=thresholds.min_labels,
        ),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 20_000])
    parser.add_argument("--reps", type=int, default=10, help="windows per shift (x2 unshifted)")
    parser.add_argument("--no-evidently", action="store_true", help="skip the side-by-side")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cells = run(args.sizes, args.reps, not args.no_evidently, args.seed)
    print()
    print(
        "| window | shift | every label | 5% labels | no labels, with confidence | "
        "no labels, no confidence | Evidently default | estimated-F1 error |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (size, name), c in cells.items():
        ev = f"{c.evidently_alarms / c.windows:.0%}" if not args.no_evidently else "—"
        err = f"{np.mean(c.f1_errors):.3f}" if c.f1_errors else "—"
        rates = " | ".join(f"{c.rate(col):.0%}" for col in COLUMNS)
        print(f"| {size:,} | {name} | {rates} | {ev} | {err} |")

    def power(column: str, size: int | None = None) -> float:
        return min(
            c.rate(column)
            for (s, name), c in cells.items()
            if name in ("topic 10%", "domain 10%") and (size is None or s == size)
        )

    def false_alarms(column: str) -> float:
        return max(c.rate(column) for (_, name), c in cells.items() if name == "none")

    unshifted = [e for (_, name), c in cells.items() if name == "none" for e in c.f1_errors]
    parts = [
        f"detection_power_10pct={power('labels'):.3f}",
        f"false_alarm_rate={false_alarms('labels'):.3f}",
        *(
            f"detection_power_10pct_nolabels_{size // 1000}k={power(NO_LABELS, size):.3f}"
            for size in sorted({s for s, _ in cells})
        ),
        f"detection_power_10pct_5pct_labels={power('5pct_labels'):.3f}",
        f"false_alarm_rate_5pct_labels={false_alarms('5pct_labels'):.3f}",
        f"false_alarm_rate_nolabels={false_alarms('nolabels_confidence'):.3f}",
        f"estimated_f1_mae={np.mean(unshifted) if unshifted else float('nan'):.3f}",
    ]
    print(" ".join(parts))


if __name__ == "__main__":
    main()
