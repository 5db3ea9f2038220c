"""Engine benchmark: one window vs a 10,000-event baseline, end to end including the report.

Each window size runs in a fresh process so its peak RSS is its own. Descriptors are
precomputed for the window, as the worker stores them per event. Events are real tweets
(UCI Health News in Twitter, vendored), resampled to reach 100k and 1M.

    python -m bench.engine                 # 10k, 100k, 1M
    python -m bench.engine --sizes 100000
Last line: ``engine_seconds_100k=<s> engine_peak_rss_mb=<m>`` and, with the 1M window,
`` engine_seconds_1m=<s> engine_peak_rss_mb_1m=<m>``; then ``engine_verdict_seconds_*``, the
checks alone (the worker stores the verdict before it renders the report). A window's seconds
are its checks plus its report, rendered as the worker renders it: from a sample of at most
``REPORT_MAX_ROWS`` of the window's events. The 1M window is run again with every prompt made
distinct (``engine_seconds_1m_distinct``): resampled from ≈ 52,000 tweets, 95 % of its prompts
repeat one another, which a real window's need not.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from app.config import WORKER_THREAD_VARIABLES, get_settings
from app.datasets import health_tweets
from app.engine.report import REPORT_MAX_ROWS, Headline, render_report
from app.engine.window import BaselineProfile, describe, evaluate_window

BASELINE_SIZE = 10_000
DESCRIBE_BATCH = 20_000


def events(texts: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Model-call rows built from tweets: prompt, output, prediction, label, perplexity."""
    rng = np.random.default_rng(seed)
    n = len(texts)
    labels = texts["outlet"].to_numpy()
    wrong = rng.choice(np.unique(labels), n)
    return pd.DataFrame(
        {
            "request_id": [f"e{seed}-{i}" for i in range(n)],
            "prompt": texts["text"].to_numpy(),
            "output": "Summary: " + texts["text"].str.slice(0, 60).to_numpy(),
            "prediction": np.where(rng.random(n) < 0.8, labels, wrong),
            "label": labels,
            "perplexity": rng.gamma(5, 1, n),
            "finish_reason": np.where(rng.random(n) < 0.02, "length", "stop"),
        }
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(size: int, *, distinct: bool = False) -> dict[str, object]:
    """Baseline profile, window descriptors (untimed: the worker precomputes them), then the
    timed part: every check and the HTML report."""
    tweets = health_tweets(without_urls=True).sample(frac=1, random_state=0).reset_index(drop=True)
    base = events(tweets.iloc[:BASELINE_SIZE], seed=1)
    pool = tweets.iloc[BASELINE_SIZE:]
    window = events(pool.sample(size, replace=size > len(pool), random_state=2), seed=2)
    if distinct:  # past the pool's size every tweet repeats; a real window's prompts differ
        window["prompt"] = window["prompt"] + " #" + window["request_id"]
    t0 = time.perf_counter()
    profile = BaselineProfile.build(base)
    build_s = time.perf_counter() - t0
    # As the featuriser stores them (in batches), not in one pass over the whole window:
    # the worker reads them with the events, so their computation's memory is not its own.
    descriptors = pd.concat(
        [describe(window.iloc[i : i + DESCRIBE_BATCH], profile.vocab)
         for i in range(0, len(window), DESCRIBE_BATCH)]
    )  # fmt: skip
    t0 = time.perf_counter()
    result = evaluate_window(profile, window, descriptors=descriptors)
    checks_s = time.perf_counter() - t0
    # The worker stores the verdict, then renders the report from at most REPORT_MAX_ROWS of
    # the window's events (all the report ever showed), read again once no window waits.
    shown = window.sample(min(len(window), REPORT_MAX_ROWS), random_state=0).index
    # A worker loads Evidently's report modules once, for its first report (≈ 2 s; the checks
    # no longer load Evidently): rendered once untimed, as every report after the first.
    few = shown[:200]
    render_report(profile, window.loc[few], descriptors.loc[few], Headline.of(result))
    t1 = time.perf_counter()
    html = render_report(profile, window.loc[shown], descriptors.loc[shown], Headline.of(result))
    report_s = time.perf_counter() - t1
    return {
        "size": size,
        "baseline_build_s": round(build_s, 2),
        "checks_s": round(checks_s, 2),
        "report_s": round(report_s, 2),
        "seconds": round(checks_s + report_s, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "report_mb": round(len(html) / 1e6, 2),
        "verdict": result.status.value,
        "reasons": result.reasons,
        **{f"t_{k}": v for k, v in result.timings.items()},
    }


def descriptor_rates(n: int = 20_000) -> tuple[float, float]:
    """Events/s of the featuriser on one core: rule-based descriptors, and with language ID."""
    from app.engine.descriptors import compute_descriptors

    tweets = health_tweets().sample(n, random_state=3)
    frame = events(tweets, seed=3)
    t = time.perf_counter()
    compute_descriptors(frame, with_language=False)
    plain = n / (time.perf_counter() - t)
    t = time.perf_counter()
    compute_descriptors(frame.head(5000), with_language=True)
    with_lang = 5000 / (time.perf_counter() - t)
    return plain, with_lang


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--distinct", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, distinct=args.distinct)))
        return
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}"
    )
    plain, with_lang = descriptor_rates()
    print(f"descriptors: {plain:,.0f} events/s rule-based, {with_lang:,.0f} events/s with language")
    print(f"baseline: {BASELINE_SIZE} events; window descriptors precomputed; report included")
    results = {}
    runs = [(size, False) for size in args.sizes]
    # Above the pool of tweets, a window repeats each one; the same size again with every
    # prompt distinct shows what repeats save (near duplicates normalise distinct prompts).
    runs += [(size, True) for size in args.sizes if size >= 1_000_000]
    # As `driftline worker` runs a window: its BLAS/OpenMP thread limit, set before numpy loads.
    threads = str(get_settings().worker_threads)
    env = os.environ | dict.fromkeys(WORKER_THREAD_VARIABLES, threads)
    print(f"BLAS/OpenMP threads: {threads} (as the worker)")
    for size, distinct in runs:
        out = subprocess.run(
            [sys.executable, "-m", "bench.engine", "--one", str(size)]
            + (["--distinct"] if distinct else []),
            capture_output=True, text=True, check=True, env=env,
        ).stdout  # fmt: skip
        r = json.loads(out.strip().splitlines()[-1])
        results[(size, distinct)] = r
        print(
            f"window {size:>9,}{' distinct' if distinct else ''}: {r['seconds']:6.1f} s "
            f"(checks {r['checks_s']:.1f} s, report {r['report_s']:.1f} s), "
            f"peak RSS {r['peak_rss_mb']:7.0f} MB, verdict {r['verdict']}",
            flush=True,
        )
        for reason in r["reasons"]:
            print(f"   {reason}")
        print("   " + ", ".join(f"{k[2:]} {v:.2f}s" for k, v in r.items() if k.startswith("t_")))
    ref = results.get((100_000, False)) or results[max(results)]
    line = f"engine_seconds_100k={ref['seconds']} engine_peak_rss_mb={ref['peak_rss_mb']}"
    if big := results.get((1_000_000, False)):
        line += f" engine_seconds_1m={big['seconds']} engine_peak_rss_mb_1m={big['peak_rss_mb']}"
    # The verdict alone (the checks): what a window's close → done waits for now.
    line += f" engine_verdict_seconds_100k={ref['checks_s']}"
    if big:
        line += f" engine_verdict_seconds_1m={big['checks_s']}"
    if distinct_1m := results.get((1_000_000, True)):
        line += (
            f" engine_seconds_1m_distinct={distinct_1m['seconds']}"
            f" engine_peak_rss_mb_1m_distinct={distinct_1m['peak_rss_mb']}"
        )
    print(line)


if __name__ == "__main__":
    main()
