"""What-to-label-next benchmark: labelling the top 5% of the queue vs a random 5%.

The detection benchmark's world (bench/detection.py: a TF-IDF + logistic-regression model of
ten health-news outlets, its 10,000-event baseline, real tweets): windows of 1,000 unlabelled
events of which 10% are shifted — tweets of outlets the model never saw (``topic``, subtle:
same health topics) or chatterbot prompts (``domain``). Per window, ``label_priority`` ranks
the events with the model's confidence, the share of prompt words the baseline never uses
and class coverage; the lift is how many shifted events the top 5% holds ÷ how many a random 5%
holds on average (the shifted share times 50).

    python -m bench.label_queue            # ~1 min on 2 cores
Last line: ``label_queue_lift_topic=<x> label_queue_lift_domain=<y>`` (1.0 = no better than
random).
"""

import argparse

import numpy as np

from app.engine.labelling import label_priority
from bench.detection import World

SIZE, SHARE, BUDGET_SHARE = 1_000, 0.10, 0.05


def lift(world: World, kind: str, reps: int, rng: np.random.Generator) -> float:
    """Mean shifted events in the top 5% ÷ those a random 5% holds on average."""
    budget = round(SIZE * BUDGET_SHARE)
    found = []
    for _ in range(reps):
        window, descriptors = world.window(SIZE, kind, SHARE, rng)
        n_new = round(SIZE * SHARE)
        # window() puts the shifted rows last; give every row a unique id to find them by.
        window = window.assign(request_id=[f"w{i}" for i in range(len(window))], label=None)
        shifted = set(window["request_id"].iloc[len(window) - n_new :])
        picks = label_priority(
            window,
            unfamiliar=descriptors["prompt_oov_share"].to_numpy(dtype=float),
            baseline_labels=world.baseline["label"],
            budget=budget,
        )
        found.append(sum(p.request_id in shifted for p in picks))
    return float(np.mean(found)) / (SHARE * budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="windows per shift kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    world = World(seed=args.seed)
    rng = np.random.default_rng(args.seed)
    lifts = {kind: lift(world, kind, args.reps, rng) for kind in ("topic", "domain")}
    for kind, value in lifts.items():
        print(f"{kind:6s}: top 5% of the queue holds {value:.2f} times the shifted events of a "
              f"random 5% ({args.reps} windows of {SIZE}, {SHARE:.0%} shifted)")  # fmt: skip
    print(
        f"label_queue_lift_topic={lifts['topic']:.2f} label_queue_lift_domain={lifts['domain']:.2f}"
    )


if __name__ == "__main__":
    main()
