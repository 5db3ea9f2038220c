"""What-to-label-next benchmark: labelling the top 5% of the queue vs a random 5%.

The detection benchmark's world (bench/detection.py: a TF-IDF + logistic-regression model of
ten health-news outlets, its 10,000-event baseline, real tweets): windows of 1,000 unlabelled
events of which 10% are shifted — tweets of outlets the model never saw (``topic``, subtle:
same health topics) or chatterbot prompts (``domain``). Per window, ``label_priority`` ranks
the events with the model's confidence, novelty (the long-tail check's density-ratio score,
as the worker does; beside it the share of prompt words the baseline never uses, as it did
before) and class coverage; the lift is how many shifted events the top 5% holds ÷ how many
a random 5% holds on average (the shifted share times 50).

    python -m bench.label_queue            # ~1 min on 2 cores
Last line: ``label_queue_lift_topic=<x> label_queue_lift_domain=<y>`` (1.0 = no better than
random), then the same with the unknown-word share as the novelty signal.
"""

import argparse

import numpy as np
import pandas as pd

from app.engine.labelling import label_priority
from app.engine.longtail import longtail_check
from app.engine.thresholds import Thresholds
from bench.detection import World

SIZE, SHARE, BUDGET_SHARE = 1_000, 0.10, 0.05
# The novelty the worker ranks by now, and the one it ranked by before (issue 27).
SIGNALS = ("novelty", "new_words")


def unfamiliar(
    world: World, window: pd.DataFrame, descriptors: pd.DataFrame, signal: str
) -> np.ndarray:
    """Each event's novelty as the worker ranks it (``novelty``: the long-tail check's
    density-ratio score) or as it did before (``new_words``: share of unknown prompt words)."""
    if signal == "new_words":
        words: np.ndarray = descriptors["prompt_oov_share"].to_numpy(dtype=float)
        return words
    embedded = world.profile.embed(window)
    result = longtail_check(world.profile.embeddings, embedded, window, thresholds=Thresholds())
    novelty: np.ndarray = np.asarray(result.details["novelty"], dtype=float)
    return novelty


def lifts(world: World, kind: str, reps: int, rng: np.random.Generator) -> dict[str, float]:
    """Per novelty signal: mean shifted events in the top 5% ÷ those a random 5% holds."""
    budget = round(SIZE * BUDGET_SHARE)
    found: dict[str, list[int]] = {signal: [] for signal in SIGNALS}
    for _ in range(reps):
        window, descriptors = world.window(SIZE, kind, SHARE, rng)
        n_new = round(SIZE * SHARE)
        # window() puts the shifted rows last; give every row a unique id to find them by.
        window = window.assign(request_id=[f"w{i}" for i in range(len(window))], label=None)
        shifted = set(window["request_id"].iloc[len(window) - n_new :])
        for signal in SIGNALS:
            picks = label_priority(
                window,
                unfamiliar=unfamiliar(world, window, descriptors, signal),
                baseline_labels=world.baseline["label"],
                budget=budget,
            )
            found[signal].append(sum(p.request_id in shifted for p in picks))
    return {signal: float(np.mean(v)) / (SHARE * budget) for signal, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="windows per shift kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    world = World(seed=args.seed)
    rng = np.random.default_rng(args.seed)
    by_kind = {kind: lifts(world, kind, args.reps, rng) for kind in ("topic", "domain")}
    for kind, values in by_kind.items():
        for signal, value in values.items():
            print(f"{kind:6s} {signal:9s}: top 5% holds {value:.2f}x the shifted events of a "
                  f"random 5% ({args.reps} windows of {SIZE}, {SHARE:.0%} shifted)")  # fmt: skip
    print(
        f"label_queue_lift_topic={by_kind['topic']['novelty']:.2f} "
        f"label_queue_lift_domain={by_kind['domain']['novelty']:.2f} "
        f"label_queue_lift_topic_new_words={by_kind['topic']['new_words']:.2f} "
        f"label_queue_lift_domain_new_words={by_kind['domain']['new_words']:.2f}"
    )


if __name__ == "__main__":
    main()
