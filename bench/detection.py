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
Each window is judged with the windows before it (same shift; the monitor's pool_windows - 1)
as its history and pooled evidence, as a monitor sees consecutive windows; an alarm is a
verdict of drift or degraded.
Columns: every label; labels on 5% of events; no labels but the model's confidence; neither.
Side by side, on the same windows: Evidently's default DataDriftPreset on the raw prompt text
(alarm = dataset drift).

    python -m bench.detection --no-evidently   # ~25 min on 2 cores
    python -m bench.detection --reps 5         # quicker, coarser
Last line: ``detection_power_10pct=<x> false_alarm_rate=<y>`` (x: worst size and kind at a
10% new topic or domain, y: worst size unshifted) with every label, then
``detection_power_10pct_nolabels_1k/_20k`` (no labels, with confidence, per size),
``detection_power_10pct_5pct_labels``, the false-alarm rates of those columns and
``estimated_f1_mae`` (mean |estimated - realised| macro-F1 over unshifted windows),
``detection_power_minority_collapse`` (the rarest well-predicted class loses half its recall,
accuracy moves about a point; every label), ``detection_power_label_noise_20pct_1k`` and
``novel_share_rise_domain_30pct`` (mean novel share at a 30% new domain over the unshifted
one, smallest size). Cells named "/ baseline 1.5k" judge 600-event windows against a
1,500-record baseline (smaller than a window pooled over three); their false alarms count.
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
from app.engine import descriptors as desc
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
# The monitor's thresholds: Driftline's defaults (a cell never tunes them).
THRESHOLDS = Thresholds()


@dataclass
class Cell:
    """Outcomes of the windows of one (size, shift)."""

    windows: int = 0
    alarms: Counter[str] = field(default_factory=Counter)
    evidently_alarms: int = 0
    fired: Counter[str] = field(default_factory=Counter)
    f1_errors: list[float] = field(default_factory=list)
    novel_shares: list[float] = field(default_factory=list)
    seconds: float = 0.0

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


@dataclass
class Reference:
    """A baseline and its profile."""

    records: pd.DataFrame
    profile: BaselineProfile


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
        # The rarest known class the model still gets mostly right: its collapse is the
        # minority_collapse cell.
        recall = (
            (self.baseline.prediction == self.baseline.label).groupby(self.baseline.label).mean()
        )
        shares = self.baseline.label.value_counts(normalize=True)
        self.minority = str(shares[recall[shares.index] >= 0.5].idxmin())
        self.pool_events = self.events(self.pool)
        self.novel_events = self.events(self.novel)
        chat = chatterbot().rename(columns={"prompt": "text"}).assign(outlet="other")
        self.domain_events = self.events(chat)
        self.domain_desc = describe(self.domain_events, self.profile.vocab)
        # Descriptors once per event, as the worker stores them.
        self.pool_desc = describe(self.pool_events, self.profile.vocab)
        self.novel_desc = describe(self.novel_events, self.profile.vocab)

    def small_reference(self, n: int) -> Reference:
        """A baseline of the first ``n`` of the holdout, profiled on its own."""
        records = self.baseline.iloc[:n].reset_index(drop=True)
        return Reference(records, BaselineProfile.build(records))

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
        if kind == "minority_collapse":
            # Half of the minority class's right answers become a wrong class: its recall
            # halves while accuracy moves by about a point.
            hit = (w["label"] == self.minority) & (w["prediction"] == self.minority)
            flip = hit & (rng.random(len(w)) < share)
            wrong = rng.choice([k for k in self.known if k != self.minority], len(w))
            w.loc[flip, "prediction"] = wrong[flip.to_numpy()]
        return w, d


def run(
    sizes: list[int], reps: int, with_evidently: bool, seed: int
) -> dict[tuple[int, str], Cell]:
    world = World(seed)
    print(
        f"known outlets {len(world.known)}, baseline {len(world.baseline)}, pool "
        f"{len(world.pool)}, new-topic pool {len(world.novel)}; model accuracy on baseline "
        f"{(world.baseline.prediction == world.baseline.label).mean():.2f}; minority class "
        f"{world.minority!r} ({(world.baseline.label == world.minority).mean():.1%} of labels)",
        flush=True,
    )
    shifts = (
        [("none", 0.0)]
        + [("topic", s) for s in (0.05, 0.1, 0.2, 0.3)]
        + [("domain", s) for s in (0.05, 0.1, 0.2, 0.3)]
        + [("label_noise", 0.1), ("label_noise", 0.2), ("minority_collapse", 0.5)]
    )
    cells: dict[tuple[int, str], Cell] = {}
    rng = np.random.default_rng(seed)
    full = Reference(world.baseline, world.profile)
    for size in sizes:
        for kind, share in shifts:
            name = "none" if kind == "none" else f"{kind} {share:.0%}"
            cells[(size, name)] = run_cell(
                world, full, size, kind, share, reps * 2 if kind == "none" else reps,
                rng, with_evidently=with_evidently,
            )  # fmt: skip
            report(size, name, cells[(size, name)])
    # A baseline smaller than a pooled window (1,500 records; 600-event windows pooled over
    # three): the nulls must include the baseline's own sampling error.
    small = world.small_reference(SMALL_BASELINE)
    for kind, share in (("none", 0.0), ("domain", 0.1)):
        name = f"{'none' if kind == 'none' else f'{kind} {share:.0%}'} / baseline 1.5k"
        cells[(SMALL_WINDOW, name)] = run_cell(
            world, small, SMALL_WINDOW, kind, share, reps * 3 if kind == "none" else reps,
            rng, with_evidently=False,
        )  # fmt: skip
        report(SMALL_WINDOW, name, cells[(SMALL_WINDOW, name)])
    return cells


SMALL_BASELINE = 1_500
SMALL_WINDOW = 600


def report(size: int, name: str, cell: Cell) -> None:
    """One progress line per cell."""
    rates = ", ".join(f"{c} {cell.alarms[c]}/{cell.windows}" for c in COLUMNS)
    f1_err = f"{np.mean(cell.f1_errors):.3f}" if cell.f1_errors else "-"
    novel = f"{np.mean(cell.novel_shares):.3f}" if cell.novel_shares else "-"
    print(
        f"  size {size:>6,} {name:<26} {rates}; evidently {cell.evidently_alarms}"
        f"/{cell.windows}; estimated-F1 error {f1_err}; novel share {novel}  "
        f"[{cell.seconds:.0f}s]  fired: {dict(cell.fired.most_common(5))}",
        flush=True,
    )


def run_cell(
    world: "World", ref: Reference, size: int, kind: str, share: float, n_runs: int,
    rng: np.random.Generator, *, with_evidently: bool,
) -> Cell:  # fmt: skip
    """Judge ``n_runs`` consecutive windows of one shift (two more first, for history)."""
    thresholds = THRESHOLDS
    cell = Cell()
    # Windows before the first judged one: the pooled evidence and persistence need history.
    warm = max(thresholds.pool_windows, thresholds.persistence_n) - 1
    pool = thresholds.pool_windows - 1
    history: dict[str, list[bool]] = {c: [] for c in COLUMNS}
    frames: list[pd.DataFrame] = []  # earlier windows, every label
    sparse: list[pd.DataFrame] = []  # the same with labels on 5% of events
    start = time.perf_counter()
    for i in range(n_runs + warm):  # the first ``warm`` only build history
        w, d = world.window(size, kind, share, rng)
        if ref.profile is not world.profile:  # the worker measures unknown words by its own
            d = d.assign(
                prompt_oov_share=desc.oov_share(w["prompt"], ref.profile.vocab),
                output_oov_share=desc.oov_share(w["output"], ref.profile.vocab),
            )
        w_sparse = w.assign(label=w["label"].where(rng.random(len(w)) < LABEL_SHARE))
        recent = pd.concat(frames[-pool:], ignore_index=True) if frames and pool else None
        result = evaluate_window(
            ref.profile, w, thresholds=thresholds, descriptors=d,
            drift_history=tuple(history["labels"][-2:]), recent=recent, seed=i,
        )  # fmt: skip
        recent_sparse = pd.concat(sparse[-pool:], ignore_index=True) if sparse and pool else None
        by_column = {
            "labels": list(result.checks.values()),
            "5pct_labels": [
                c for k, c in result.checks.items() if k not in LABEL_CHECKS
            ] + label_checks(ref.records, w_sparse, recent_sparse, thresholds, seed=i),
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
        if i < warm:
            continue
        cell.windows += 1
        cell.alarms.update(c for c, v in verdicts.items() if v.status in ALARM)
        cell.fired.update(
            k
            for k, c in result.checks.items()
            if c.status in (Status.DRIFT, Status.DEGRADED, Status.WARNING)
        )
        novel = result.checks["long_tail"].metric("novel_share")
        if novel is not None:
            cell.novel_shares.append(novel)
        estimated = result.checks["estimated_quality"].metric("estimated_f1")
        if estimated is not None:
            realised = classification_metrics(w["prediction"], w["label"])["f1"]
            cell.f1_errors.append(abs(estimated - realised))
        if with_evidently:
            cell.evidently_alarms += evidently_default_alarm(ref.records["prompt"], w["prompt"])
    cell.seconds = time.perf_counter() - start
    return cell


def label_checks(
    baseline: pd.DataFrame,
    window: pd.DataFrame,
    recent: pd.DataFrame | None,
    thresholds: Thresholds,
    *,
    seed: int,
) -> list[CheckResult]:
    """The label-based checks on a window whose labels are sparse (the others need none)."""
    return [
        quality_check(baseline, window, recent=recent, thresholds=thresholds, seed=seed),
        distribution_drift(
            baseline["label"], window["label"], check="label_drift",
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
        "no labels, no confidence | Evidently default | estimated-F1 error | novel share |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (size, name), c in cells.items():
        ev = f"{c.evidently_alarms / c.windows:.0%}" if not args.no_evidently else "—"
        err = f"{np.mean(c.f1_errors):.3f}" if c.f1_errors else "—"
        novel = f"{np.mean(c.novel_shares):.1%}" if c.novel_shares else "—"
        rates = " | ".join(f"{c.rate(col):.0%}" for col in COLUMNS)
        print(f"| {size:,} | {name} | {rates} | {ev} | {err} | {novel} |")
    print(" ".join(summary(cells, args.sizes)))


def summary(cells: dict[tuple[int, str], Cell], sizes: list[int]) -> list[str]:
    """The last line's ``key=value`` figures (see the module docstring)."""

    def power(column: str, names: tuple[str, ...], size: int | None = None) -> float:
        rates = [
            c.rate(column)
            for (s, name), c in cells.items()
            if name in names and (size is None or s == size)
        ]
        return min(rates) if rates else float("nan")

    def false_alarms(column: str) -> float:
        return max(c.rate(column) for (_, name), c in cells.items() if name.startswith("none"))

    def novel(size: int, name: str) -> float:
        cell = cells.get((size, name))
        return float(np.mean(cell.novel_shares)) if cell and cell.novel_shares else float("nan")

    ten = ("topic 10%", "domain 10%")
    smallest = min(sizes)
    rise = novel(smallest, "domain 30%") / max(novel(smallest, "none"), 1e-9)
    unshifted = [e for (_, name), c in cells.items() if name == "none" for e in c.f1_errors]
    return [
        f"detection_power_10pct={power('labels', ten):.3f}",
        f"false_alarm_rate={false_alarms('labels'):.3f}",
        *(
            f"detection_power_10pct_nolabels_{size // 1000}k={power(NO_LABELS, ten, size):.3f}"
            for size in sorted(sizes)
        ),
        f"detection_power_10pct_5pct_labels={power('5pct_labels', ten):.3f}",
        f"false_alarm_rate_5pct_labels={false_alarms('5pct_labels'):.3f}",
        f"false_alarm_rate_nolabels={false_alarms('nolabels_confidence'):.3f}",
        f"false_alarm_rate_nolabels_no_confidence={false_alarms('nolabels'):.3f}",
        f"estimated_f1_mae={np.mean(unshifted) if unshifted else float('nan'):.3f}",
        f"detection_power_minority_collapse={power('labels', ('minority_collapse 50%',)):.3f}",
        f"detection_power_label_noise_20pct_1k={power('labels', ('label_noise 20%',), 1_000):.3f}",
        f"novel_share_rise_domain_30pct={rise:.2f}",
    ]


if __name__ == "__main__":
    main()
