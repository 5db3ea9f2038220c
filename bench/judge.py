"""Judge benchmark: does an LLM judge's test catch a model whose answers got worse, without
crying wolf, within its budget?

Two parts.

1. Statistics (the engine's sampling, estimator and test, many windows): windows of 500
   events of a text-writing model whose answers are right 80 % of the time (the baseline
   holdout likewise, 1,000 of its records judged once), budget 100 judged events per window,
   a judge that agrees with the hidden truth 85 % of the time, and the model's wrong answers
   mostly among its uncertain ones (so the sample's priority stratum is mostly failures: the
   estimate must weight it). Power: a 10-point fall of the true pass rate, caught within 10
   windows (pooled evidence allowed); false alarms: every unshifted window.
2. End to end (real PostgreSQL, the worker, the real ``openai`` client, the local judge
   server of ``app.judges.local_judge``): three windows of 500 events; how many calls each
   window paid, how many a recompute of all of them paid, and how long a 429 storm (the judge
   refuses every call for ``--storm`` seconds) delayed a window that then completed.

    DRIFTLINE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres python -m bench.judge

Last line: ``judge_power_10pt=… judge_false_alarm_rate=… judge_calls_per_window=…
judge_calls_once=… judge_recompute_calls=… judge_storm_completed=… judge_storm_delay_s=…``
(``judge_calls_once``: the baseline's sample and today's anchors, paid once).
"""

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from app.engine.judged import JudgedRow, JudgeEvidence, draw_sample, judge_check
from app.engine.results import Status
from app.engine.thresholds import Thresholds

WINDOW = 500
BUDGET = 100
AGREEMENT = 0.85
BASE_RATE = 0.8
BASELINE_JUDGED = 1000


def window_rows(
    rng: np.random.Generator, n: int, rate: float, *, budget: int, agree: float, tag: str
) -> list[JudgedRow]:
    """A window of ``n`` events whose true pass rate is ``rate``: wrong answers are mostly
    the model's uncertain ones; the judged sample, by a judge agreeing ``agree`` of the time."""
    good = rng.random(n) < rate
    confidence = np.where(good, rng.uniform(0.5, 1, n), rng.uniform(0, 0.7, n))
    keys = [f"{tag}-{i}" for i in range(n)]
    draw = draw_sample(keys, list(1 - confidence), budget=budget, salt="bench")
    judged = np.where(rng.random(n) < agree, good, ~good)
    priority = set(draw.priority)
    return [JudgedRow(keys[i], float(judged[i]), bool(judged[i]), i in priority) for i in draw.rows]


def monitor(seed: int, shift: float, windows: int) -> list[Status]:
    """One monitor's consecutive windows (the previous ones' summaries pooled, as stored)."""
    rng = np.random.default_rng(seed)
    truth = rng.random(BASELINE_JUDGED) < BASE_RATE
    base = np.where(rng.random(BASELINE_JUDGED) < AGREEMENT, truth, ~truth)
    recent: list[dict[str, Any]] = []
    out = []
    for w in range(windows):
        rows = window_rows(
            rng, WINDOW, BASE_RATE - shift, budget=BUDGET, agree=AGREEMENT, tag=f"{seed}-{w}"
        )
        evidence = JudgeEvidence(
            "j", 1, "pass_fail", base, base.astype(float), 10 * BASELINE_JUDGED, rows, WINDOW,
            recent=list(recent),
        )  # fmt: skip
        result = judge_check([evidence], thresholds=Thresholds())
        recent.insert(0, result.details["judges"]["j"])
        out.append(result.status)
    return out


def statistics(trials: int) -> tuple[float, float]:
    """(power at a 10-point fall within 10 windows, false-alarm rate per unshifted window)."""
    caught = [Status.DEGRADED in monitor(10_000 + s, 0.10, 10) for s in range(trials)]
    calm = [s for seed in range(trials) for s in monitor(seed, 0.0, 20)]
    return float(np.mean(caught)), sum(s is Status.DEGRADED for s in calm) / len(calm)


def end_to_end(storm_seconds: float) -> dict[str, float]:
    """Calls per window, calls on a recompute, and a 429 storm, through the real worker."""
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, text

    from app.config import Settings
    from app.judges.local_judge import Behaviour, LocalJudge
    from app.main import create_app
    from tests.jobs.test_monitoring_flow import work
    from tests.judges.test_judge_flow import TEMPLATE, answers
    from tests.pg import key_at, scratch_database

    origin = datetime(2026, 11, 2, tzinfo=UTC)
    hour = timedelta(hours=1)
    out: dict[str, float] = {}
    judge_server = LocalJudge(Behaviour(agreement=AGREEMENT))
    with scratch_database("bench_judge") as url, judge_server as server:
        engine = create_engine(url)
        admin = {"Authorization": f"Bearer {key_at(url, 'admin')}"}
        app = create_app(url, Settings(database_url=None, api_key_cache_seconds=0))
        with TestClient(app) as client:
            judge = {"name": "j", "base_url": server.base_url, "model": "local", "rubric": "custom",
                     "prompt_template": TEMPLATE, "answer": "pass_fail", "budget": BUDGET,
                     "baseline_sample": BASELINE_JUDGED, "max_retries": 1}  # fmt: skip
            assert client.post("/v1/judges", json=judge, headers=admin).status_code == 201
            records = answers(2000, 1 - BASE_RATE, "base")
            r = client.post("/v1/baselines", headers=admin,
                            json={"model": "writer", "name": "b", "records": records})  # fmt: skip
            r = client.post("/v1/monitors", headers=admin, json={
                "name": "m", "model": "writer", "baseline_id": r.json()["id"], "window": "1h",
                "delay": "0s", "start_at": origin.isoformat(), "judges": ["j"]})  # fmt: skip
            monitor_id = r.json()["id"]

            def post(h: int) -> None:
                events = [
                    {"model": "writer", "request_id": f"h{h}-{i}", **a,
                     "ts": (origin + h * hour + timedelta(seconds=7 * i)).isoformat()}
                    for i, a in enumerate(answers(WINDOW, 1 - BASE_RATE, f"h{h}"))
                ]  # fmt: skip
                client.post("/v1/events", json={"events": events}, headers=admin)

            for h in range(3):
                post(h)
            work(engine, origin + 3 * hour)
            with engine.connect() as conn:
                # Paid once: the baseline's sample per judge version, the anchors per day.
                once = conn.execute(
                    text("SELECT count(*) FROM judgments WHERE subject <> 'event'")
                ).scalar_one()
            out["judge_calls_per_window"] = (server.calls - once) / 3
            out["judge_calls_once"] = once
            paid = server.calls
            client.post(f"/v1/monitors/{monitor_id}/runs", headers=admin,
                        json={"start": origin.isoformat(),
                              "end": (origin + 3 * hour).isoformat()})  # fmt: skip
            work(engine, origin + 3 * hour)
            out["judge_recompute_calls"] = server.calls - paid
            # The storm: every call refused for storm_seconds; the window waits, then completes.
            post(3)
            started = time.monotonic()
            server.behaviour.refuse_until = time.time() + storm_seconds
            status = ""
            while time.monotonic() - started < storm_seconds + 900:
                work(engine, origin + 4 * hour)
                with engine.connect() as conn:
                    status, lease = conn.execute(text(
                        "SELECT status, lease_until FROM monitor_runs ORDER BY window_start DESC "
                        "LIMIT 1")).one()  # fmt: skip
                if status == "done":
                    break
                if lease is not None:  # deferred: sleep until it may be claimed again
                    time.sleep(max(0.5, (lease - datetime.now(UTC)).total_seconds() + 0.2))
            out["judge_storm_completed"] = float(status == "done")
            out["judge_storm_delay_s"] = round(time.monotonic() - started, 1)
        engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="monitors per cell")
    parser.add_argument("--storm", type=float, default=60.0, help="seconds of 429s")
    args = parser.parse_args()
    started = time.perf_counter()
    power, false_alarms = statistics(args.trials)
    print(f"statistics: {args.trials} monitors per cell, {time.perf_counter() - started:.0f}s")
    e2e = end_to_end(args.storm)
    print(
        f"judge_power_10pt={power:.3f} judge_false_alarm_rate={false_alarms:.3f} "
        + " ".join(f"{k}={v:g}" for k, v in e2e.items())
    )


if __name__ == "__main__":
    main()
