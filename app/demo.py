"""``driftline demo``: a realistic drifting workload against a running Driftline.

Real text that ships with Driftline (UCI Health News in Twitter, chatterbot-corpus). A
baseline holdout of health-news tweets is registered, a monitor with one-minute windows is
created, then traffic streams in: calm at first, then a new domain (chatbot questions the
health model was never trained for) takes a growing share, perplexity rises and the model's
confidence falls, and its predictions on the new inputs are wrong. Labels arrive only after the
traffic: first every window is judged without them (quality estimated from confidence), then
the feedback comes in and the worker recomputes the windows with realised quality. Within a
few windows the runs turn ``drift``/``degraded`` and retraining is recommended.

Beside it, a model that writes text: a summariser of the same news, whose summaries drift
off their articles in the later windows (it starts summarising the wrong story). No human
labels it at all: an LLM judge with the ``faithfulness`` rubric scores a budgeted sample of
each window against its scores of the summariser's baseline, and the windows turn
``degraded``. The judge is ``app.judges.local_judge``, a deterministic OpenAI-compatible rule
the demo serves itself (no network, no model): the worker must reach this process's
127.0.0.1, as it does under ``driftline up`` (``judge=False`` leaves it out elsewhere).

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
SUMMARISER = "health-news-summariser"
SUMMARIES_PER_MINUTE = 120
SUMMARISER_BASELINE = 200


def _summary(article: str, rng: np.random.Generator) -> str:
    """A faithful summary: the article's words, a few of them dropped."""
    words = article.split()
    return " ".join(w for w in words if rng.random() > 0.15) or article


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


def _wait_for_report(api: Api, run_id: int, *, deadline: float) -> None:
    """Until the window's report is stored: the worker renders reports after the verdicts,
    when no window waits (the API answers ``409 report_pending`` meanwhile)."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        answer = api.raw("GET", f"/v1/runs/{run_id}/report")
        if not answer.startswith(b"{") or b'"report_pending"' not in answer:
            return
        time.sleep(2)


def _judged(api: Api, run_id: int) -> tuple[float | None, float | None]:
    """A run's judged pass rate and the baseline's."""
    check = (api.call("GET", f"/v1/runs/{run_id}")["checks"] or {}).get("judge", {})
    values = {m["name"]: m["value"] for m in check.get("metrics", [])}
    return values.get("pass_rate"), values.get("pass_rate_baseline")


def _start_summariser(
    api: Api, name: str, tweets: Any, rng: np.random.Generator
) -> tuple[Any, str, int]:
    """The local judge, the judge and the summariser's (profiled) baseline."""
    from app.judges.local_judge import LocalJudge

    server = LocalJudge().start()
    judge = f"faithful-{name[-6:]}"
    api.call("POST", "/v1/judges", {
        "name": judge, "base_url": server.base_url, "model": "local-rule",
        "rubric": "faithfulness", "budget": 60, "baseline_sample": 150, "anchors": 20,
    })  # fmt: skip
    articles = list(tweets["text"].iloc[:SUMMARISER_BASELINE])
    records = [{"prompt": f"Summarise: {a}", "output": _summary(a, rng)} for a in articles]
    baseline = api.call("POST", "/v1/baselines", {
        "model": SUMMARISER, "name": name, "records": records,
    })  # fmt: skip
    while api.call("GET", f"/v1/baselines/{baseline['id']}")["status"] == "pending":
        time.sleep(1)
    return server, judge, int(baseline["id"])


def _summaries(
    minute: int, window_start: datetime, share: float, tweets: Any, rng: np.random.Generator,
    name: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """A minute of summaries, ``share`` of them about another article than the one given."""
    n = SUMMARIES_PER_MINUTE
    first = SUMMARISER_BASELINE + minute * n
    articles = tweets["text"].iloc[first : first + n].tolist()
    others = tweets["text"].sample(n, random_state=minute).tolist()
    return [
        {"model": SUMMARISER, "request_id": f"{name}-s{minute}-{i}",
         "ts": (window_start + timedelta(seconds=50 * i / n)).isoformat(),
         "prompt": f"Summarise: {a}",
         "output": _summary(others[i] if rng.random() < share else a, rng)}
        for i, a in enumerate(articles)
    ]  # fmt: skip


def run_demo(
    url: str,
    key: str,
    *,
    minutes: int = 6,
    fast: bool = False,
    say: Callable[[str], None] = print,
    seed: int = 0,
    judge: bool = True,
) -> dict[str, Any]:
    """Play the story; returns the final model status (and the summariser's runs)."""
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
    if judge:  # set up before any monitor: a closed window is computed as soon as it exists
        server, judge_name, summaries_baseline = _start_summariser(api, name, tweets, rng)

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=minutes) if fast else now + timedelta(minutes=1)

    def create_monitors() -> tuple[dict[str, Any], int]:
        monitor = api.call(
            "POST",
            "/v1/monitors",
            {"name": f"{MODEL}-1m-{name[-6:]}", "model": MODEL, "baseline_id": baseline["id"],
             "window": "1m", "delay": "5s", "min_events": 100, "start_at": start.isoformat()},
        )  # fmt: skip
        say(f"monitor {monitor['id']}: one-minute windows from {start:%H:%M} UTC")
        summariser_monitor = 0
        if judge:
            summariser_monitor = api.call("POST", "/v1/monitors", {
                "name": f"{SUMMARISER}-1m-{name[-6:]}", "model": SUMMARISER,
                "baseline_id": summaries_baseline, "window": "1m", "delay": "5s",
                "min_events": 100, "start_at": start.isoformat(), "judges": [judge_name],
            })["id"]  # fmt: skip
            say(f"monitor {summariser_monitor}: the {SUMMARISER}'s windows, scored by an LLM judge")
        return monitor, summariser_monitor

    # Live, the monitors come first and each window is computed once it closes. Backdated
    # (--fast), every window has already closed: the monitors come after the traffic, or the
    # worker could compute a window while its events are still being posted.
    if not fast:
        monitor, summariser_monitor = create_monitors()

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
        if judge:
            summaries = _summaries(minute, window_start, share, tweets, rng, name)
            api.call("POST", "/v1/events", {"events": summaries})

    if fast:
        monitor, summariser_monitor = create_monitors()
    say("no labels yet: the worker estimates quality from the model's confidence…")
    runs = _follow(api, monitor["id"], minutes, say, deadline=180 if fast else 300)
    judged_runs: list[dict[str, Any]] = []
    if judge:
        say(f"the {SUMMARISER} has no labels at all; its judge's verdicts:")
        judged_runs = _follow(api, summariser_monitor, minutes, lambda _: None, deadline=240)
        for run in sorted(judged_runs, key=lambda r: r["window_start"]):
            if run["status"] == "done":
                rate, baseline_rate = _judged(api, run["id"])
                figures = f"pass rate {rate:.2f} vs baseline {baseline_rate:.2f}" if (
                    rate is not None and baseline_rate is not None) else "not judged"  # fmt: skip
                say(f"  summaries {run['window_start'][11:16]}: {run['verdict']}  {figures}")
        server.stop()
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
        _wait_for_report(api, monitor_status["run_id"], deadline=120)
        say(f"this window, its reasons and report: {base}/windows/{monitor_status['run_id']}")
    say(f"retraining data: {base}/v1/exports/retraining?model={MODEL}&since={start.isoformat()}")
    say(f"open the model in a browser (sign in with a read key): {base}/models/{MODEL}")
    return {"status": monitor_status, "runs": runs, "judged_runs": judged_runs}
