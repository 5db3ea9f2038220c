"""``driftline demo``: a realistic drifting workload against a running Driftline.

Real text that ships with Driftline (UCI Health News in Twitter, chatterbot-corpus). A
baseline holdout of health-news tweets is registered, a monitor with one-minute windows is
created, then traffic streams in: calm at first, then a new domain (chatbot questions the
health model was never trained for) takes a growing share, perplexity rises and the model's
confidence falls, and its predictions on the new inputs are wrong. Labels arrive only after the
traffic: first every window is judged without them (quality estimated from confidence), then
the feedback comes in and the worker recomputes the windows with realised quality. Within a
few windows the runs turn ``drift``/``degraded`` and retraining is recommended.

It talks to the HTTP API like any client (``app.http_client``, on the standard library).
``--fast`` backdates the traffic so that every window is already closed and the whole story
is computed in about a minute instead of streaming in real time.
"""

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from app.datasets import chatterbot, health_tweets
from app.http_client import Api

MODEL = "health-news-bot"
EVENTS_PER_MINUTE = 240


def _phase(minute: int, minutes: int) -> float:
    """Share of new-domain traffic: none for the first third, then growing to 50%."""
    calm = max(2, minutes // 3)
    return 0.0 if minute < calm else min(0.5, 0.2 + 0.1 * (minute - calm))


def _f1s(api: Api, run_id: int) -> tuple[float | None, float | None, bool]:
    """A run's estimated macro-F1 (from confidence), realised one (from labels), and whether
    the estimate was withheld (the inputs left the baseline's support)."""
    checks = api.call("GET", f"/v1/runs/{run_id}")["checks"] or {}

    def metric(check: str, name: str) -> float | None:
        found = [m["value"] for m in checks.get(check, {}).get("metrics", []) if m["name"] == name]
        return found[0] if found else None

    withheld = metric("estimated_quality", "estimate_reliable") == 0.0
    return metric("estimated_quality", "estimated_f1"), metric("quality", "f1"), withheld


def _follow(
    api: Api, monitor_id: int, minutes: int, say: Callable[[str], None], *, deadline: float,
    revision: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Print each window as the worker finishes it (at ``revision`` or later); the runs."""
    until = time.monotonic() + deadline
    seen: set[int] = set()
    runs: list[dict[str, Any]] = []
    while time.monotonic() < until:
        runs = api.call("GET", f"/v1/monitors/{monitor_id}/runs")["runs"]
        for run in sorted(runs, key=lambda r: r["window_start"]):
            finished = run["status"] in ("done", "insufficient_data")
            if finished and run["revision"] >= revision and run["id"] not in seen:
                seen.add(run["id"])
                flag = "  retraining recommended" if run["retraining_recommended"] else ""
                estimated, realised, withheld = _f1s(api, run["id"])
                f1 = f"  F1 estimated {estimated:.2f}" if estimated is not None else ""
                f1 += "  F1 estimate withheld: new inputs, confidence no guide" if withheld else ""
                f1 += f", realised {realised:.2f}" if realised is not None else ""
                say(f"  window {run['window_start'][11:16]}: {run['verdict']}{f1}{flag}")
        with_data = [r for r in runs if r["status"] == "done"]
        done = [r for r in runs if r["status"] in ("done", "insufficient_data", "failed")]
        settled = len(done) == len(runs) and all(r["revision"] >= revision for r in with_data)
        if len(done) >= minutes and settled:
            break
        time.sleep(3)
    return runs


def run_demo(
    url: str,
    key: str,
    *,
    minutes: int = 6,
    fast: bool = False,
    say: Callable[[str], None] = print,
    seed: int = 0,
) -> dict[str, Any]:
    """Play the story; returns the final model status."""
    api = Api(url, key, attempts=20)
    rng = np.random.default_rng(seed)
    tweets = health_tweets(without_urls=True).sample(frac=1, random_state=seed)
    known = list(tweets["outlet"].value_counts().index[:8])
    tweets = tweets[tweets["outlet"].isin(known)].reset_index(drop=True)
    chat = chatterbot().sample(frac=1, random_state=seed).reset_index(drop=True)

    def predicted(labels: list[str], accuracy: float) -> list[str]:
        return [label if rng.random() < accuracy else str(rng.choice(known)) for label in labels]

    def confidence(right: bool, unfamiliar: bool = False) -> float:
        # Sure when right, hesitant when wrong, and more hesitant still on input it never saw.
        a, b = (2.0, 4.0) if unfamiliar else ((9.0, 2.0) if right else (4.0, 4.0))
        return round(float(rng.beta(a, b)), 4)

    base = tweets.iloc[:1500]
    name = f"holdout-{uuid.uuid4().hex[:6]}"
    labels = list(base["outlet"])
    records = [
        {"prompt": p, "output": f"Topic: {pred}", "prediction": pred, "label": label,
         "confidence": confidence(pred == label), "perplexity": 1.0 + float(rng.gamma(8, 0.5))}
        for p, label, pred in zip(base["text"], labels, predicted(labels, 0.85), strict=True)
    ]  # fmt: skip
    baseline = api.call("POST", "/v1/baselines", {"model": MODEL, "name": name, "records": records})
    say(f"registered baseline {baseline['id']} ({len(records)} health-news examples); profiling…")
    while api.call("GET", f"/v1/baselines/{baseline['id']}")["status"] == "pending":
        time.sleep(1)

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=minutes) if fast else now + timedelta(minutes=1)
    monitor = api.call(
        "POST",
        "/v1/monitors",
        {"name": f"{MODEL}-1m-{name[-6:]}", "model": MODEL, "baseline_id": baseline["id"],
         "window": "1m", "delay": "5s", "min_events": 100, "start_at": start.isoformat()},
    )  # fmt: skip
    say(f"monitor {monitor['id']}: one-minute windows from {start:%H:%M} UTC")

    pool = tweets.iloc[1500:].reset_index(drop=True)
    used = 0
    feedback: list[dict[str, Any]] = []
    for minute in range(minutes):
        window_start = start + timedelta(minutes=minute)
        if not fast:
            wait = (window_start - datetime.now(UTC)).total_seconds()
            if wait > 0:
                time.sleep(wait)
        share = _phase(minute, minutes)
        n_new = int(EVENTS_PER_MINUTE * share)
        n_old = EVENTS_PER_MINUTE - n_new
        old = pool.iloc[used : used + n_old]
        used += n_old
        new = chat.iloc[rng.integers(0, len(chat), n_new)]
        prompts = list(old["text"]) + list(new["prompt"])
        truth = list(old["outlet"]) + ["other"] * n_new
        preds = predicted(list(old["outlet"]), 0.85) + list(rng.choice(known, n_new))
        noise = 1.0 + share * 2.0  # the model is less sure of itself on unfamiliar input
        events = []
        for i, (p, t, pred) in enumerate(zip(prompts, truth, preds, strict=True)):
            rid = f"{name}-{minute}-{i}"
            ts = window_start + timedelta(seconds=50 * i / len(prompts))
            events.append(
                {"model": MODEL, "request_id": rid, "ts": ts.isoformat(), "prompt": p,
                 "output": f"Topic: {pred}", "prediction": pred,
                 "confidence": confidence(pred == t, unfamiliar=i >= n_old),
                 "perplexity": 1.0 + float(rng.gamma(8, 0.5) * noise),
                 "latency_ms": float(rng.gamma(4, 60))}
            )  # fmt: skip
            # Labels come later (a reviewer looks at 60% of the traffic), as in production.
            if rng.random() < 0.6:
                feedback.append({"model": MODEL, "request_id": rid, "label": t})
        api.call("POST", "/v1/events", {"events": events})
        say(f"minute {minute + 1}/{minutes}: {len(events)} events, {share:.0%} new-domain traffic")

    say("no labels yet: the worker estimates quality from the model's confidence…")
    runs = _follow(api, monitor["id"], minutes, say, deadline=180 if fast else 300)
    say(f"labels arrive for {len(feedback)} events; the worker recomputes those windows…")
    api.call("POST", "/v1/feedback", {"feedback": feedback})
    runs = _follow(api, monitor["id"], minutes, say, deadline=180, revision=1)
    status: dict[str, Any] = api.call("GET", f"/v1/models/{MODEL}/status")
    monitor_status = next(m for m in status["monitors"] if m["monitor_id"] == monitor["id"])
    say(
        f"model verdict: {monitor_status['verdict']}; retraining recommended: "
        f"{monitor_status['retraining_recommended']}"
    )
    base = url.rstrip("/")
    if monitor_status["run_id"]:
        say(f"this window, its reasons and report: {base}/windows/{monitor_status['run_id']}")
    say(f"retraining data: {base}/v1/exports/retraining?model={MODEL}&since={start.isoformat()}")
    say(f"open the model in a browser (sign in with a read key): {base}/models/{MODEL}")
    return {"status": monitor_status, "runs": runs}
