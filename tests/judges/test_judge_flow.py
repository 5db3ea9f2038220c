"""LLM judges end to end on real PostgreSQL: a monitor's judge scores a sample of each window
(through the real ``openai`` client, against a local OpenAI-compatible judge), compares it
with the same judge's scores of the baseline, and stays within its budget, its cache and its
daily cap however the endpoint behaves."""

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.datasets import health_tweets
from app.judges.local_judge import Behaviour, LocalJudge
from app.monitoring import judging
from app.monitoring import runs as runs_module
from tests.conftest import auth
from tests.jobs.test_monitoring_flow import work

ORIGIN = datetime(2026, 11, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
TEMPLATE = "Is the ANSWER a good reply to the QUESTION?\n\nQUESTION:\n{prompt}\n\nANSWER:\n{output}"


@pytest.fixture
def judge_server() -> Iterator[LocalJudge]:
    with LocalJudge(Behaviour()) as server:
        yield server


@pytest.fixture
def admin(make_key: Callable[..., str]) -> dict[str, str]:
    return auth(make_key("admin"))


def answers(n: int, wrong_share: float, tag: str) -> list[dict[str, str]]:
    """Text answers, ``wrong_share`` of them bad (the hidden truth the judge follows)."""
    tweets = list(health_tweets(without_urls=True).text[: n + 50])
    bad = int(n * wrong_share)
    return [
        {"prompt": f"Summarise: {t}",
         "output": f"{'WRONG ' if i < bad else ''}summary {tag}-{i}: {t[:60]}"}
        for i, t in enumerate(tweets[:n])
    ]  # fmt: skip


def setup(
    client: TestClient, admin: dict[str, str], server: LocalJudge, *, hours: list[float],
    baseline_wrong: float = 0.1, **judge: Any,
) -> int:  # fmt: skip
    """A baseline (``baseline_wrong`` bad answers), a judge, a monitor running it, and one
    window per entry of ``hours`` with that share of bad answers."""
    body = {"name": "summary-judge", "base_url": server.base_url, "model": "local",
            "rubric": "custom", "prompt_template": TEMPLATE, "answer": "pass_fail",
            "budget": 60, "baseline_sample": 200, "max_retries": 0, **judge}  # fmt: skip
    r = client.post("/v1/judges", json=body, headers=admin)
    assert r.status_code == 201, r.text
    records = answers(300, baseline_wrong, "base")
    r = client.post("/v1/baselines", headers=admin,
                    json={"model": "writer", "name": "holdout", "records": records})  # fmt: skip
    assert r.status_code == 202, r.text
    r = client.post(
        "/v1/monitors", headers=admin,
        json={"name": "writer-hourly", "model": "writer", "baseline_id": r.json()["id"],
              "window": "1h", "delay": "0s", "start_at": ORIGIN.isoformat(),
              "min_events": 100, "judges": ["summary-judge"]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    for hour, share in enumerate(hours):
        events = [
            {"model": "writer", "request_id": f"h{hour}-{i}", **a,
             "ts": (ORIGIN + hour * HOUR + timedelta(seconds=10 * i)).isoformat()}
            for i, a in enumerate(answers(200, share, f"h{hour}"))
        ]  # fmt: skip
        assert client.post("/v1/events", json={"events": events}, headers=admin).status_code == 202
    return int(r.json()["id"])


def window_page(client: TestClient, admin: dict[str, str], run_id: int) -> str:
    """The window's UI page, signed in with the admin key."""
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    key = admin["Authorization"].removeprefix("Bearer ")
    assert client.post("/login", data={"key": key, "csrf": token.group(1), "next": "/"},
                       follow_redirects=False).status_code == 303  # fmt: skip
    page = client.get(f"/windows/{run_id}")
    assert page.status_code == 200, page.text
    return page.text


def runs_of(client: TestClient, admin: dict[str, str], monitor_id: int) -> list[dict[str, Any]]:
    got = client.get(f"/v1/monitors/{monitor_id}/runs", headers=admin).json()["runs"]
    return sorted(got, key=lambda r: r["window_start"])


def judge_result(client: TestClient, admin: dict[str, str], run_id: int) -> dict[str, Any]:
    checks: dict[str, Any] = client.get(f"/v1/runs/{run_id}", headers=admin).json()["checks"]
    return checks["judge"]  # type: ignore[no-any-return]


def test_a_judge_catches_worse_answers_within_budget_and_never_pays_twice(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge
) -> None:
    # A judge is an LLM: its reasons are untrusted text, shown escaped.
    judge_server.behaviour.reason = "<img src=x onerror=alert(1)>"
    monitor_id = setup(client, admin, judge_server, hours=[0.1, 0.6, 0.6])
    work(engine, ORIGIN + 3 * HOUR)
    runs = runs_of(client, admin, monitor_id)
    assert [r["status"] for r in runs] == ["done"] * 3
    # The baseline's sample once (200), its 50 anchors once today, then at most the budget
    # per window.
    assert judge_server.calls <= 200 + 50 + 3 * 60
    first = judge_result(client, admin, runs[0]["id"])
    assert first["status"] == "ok", first["summary"]
    later = judge_result(client, admin, runs[2]["id"])
    assert later["status"] == "degraded", later["summary"]
    assert runs[2]["verdict"] == "degraded"
    worst = later["details"]["worst"]["summary-judge"]
    assert worst and all(w["score"] == 0.0 and w["reason"] for w in worst)
    # The window page shows the judge's figures and the answers it failed, with its reasons;
    # the retraining export offers them.
    page = window_page(client, admin, runs[2]["id"])
    assert "LLM judges" in page and "Answers judge summary-judge failed" in page
    assert f"<code>{worst[0]['id']}</code>" in page and "WRONG summary" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page
    model_page = client.get("/models/writer").text
    assert "LLM judges (latest window)" in model_page and "the judge is unchecked" in model_page
    exported = client.get(
        "/v1/exports/retraining", headers=admin,
        params={"model": "writer", "since": ORIGIN.isoformat(), "reasons": "judge_failed"},
    ).text.splitlines()  # fmt: skip
    assert exported and all('"judge_failed"' in line for line in exported)
    # The answers the judge failed rise in the label queue (a person should confirm them):
    # 18 % of the window, they take at least 30 % of the queue's top 20 (8 here).
    queue = client.get(f"/v1/runs/{runs[2]['id']}/label-queue", headers=admin).text.splitlines()
    assert sum('"judge_failed"' in line for line in queue[:20]) >= 6, queue[:20]
    # Recomputing every window (as a late label would) asks the judge nothing new.
    paid = judge_server.calls
    r = client.post(
        f"/v1/monitors/{monitor_id}/runs",
        headers=admin,
        json={"start": ORIGIN.isoformat(), "end": (ORIGIN + 3 * HOUR).isoformat()},
    )
    assert r.status_code == 202, r.text
    work(engine, ORIGIN + 3 * HOUR)
    assert [r["revision"] for r in runs_of(client, admin, monitor_id)] == [1, 1, 1]
    assert judge_server.calls == paid


def test_a_429_storm_defers_the_window_then_it_completes(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge
) -> None:
    judge_server.behaviour.refuse_until = float("inf")
    monitor_id = setup(client, admin, judge_server, hours=[0.1])
    work(engine, ORIGIN + HOUR)
    (run,) = runs_of(client, admin, monitor_id)
    assert run["status"] == "running" and run["error"].startswith("deferred:"), run
    # The storm ends; the deferral's lease is moved to now instead of waiting it out.
    judge_server.behaviour.refuse_until = 0.0
    with engine.begin() as conn:
        conn.execute(text("UPDATE monitor_runs SET lease_until = now() - interval '1 second'"))
    work(engine, ORIGIN + HOUR)
    (run,) = runs_of(client, admin, monitor_id)
    assert run["status"] == "done", run
    assert judge_result(client, admin, run["id"])["status"] == "ok"


def test_the_daily_cap_stops_judging_and_says_so_without_failing_the_window(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge
) -> None:
    # 100 tokens a call: the cap is spent within the baseline's sample.
    monitor_id = setup(client, admin, judge_server, hours=[0.1], daily_token_cap=1_000)
    work(engine, ORIGIN + HOUR)
    (run,) = runs_of(client, admin, monitor_id)
    assert run["status"] == "done" and run["verdict"] != "failed"
    result = judge_result(client, admin, run["id"])
    assert result["status"] == "insufficient_data"
    assert "judge budget exhausted" in result["summary"]
    assert judge_server.calls <= 1_000 // 100 + 8  # one chunk past the meter at most


def test_off_format_answers_are_counted_and_named_not_guessed(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge
) -> None:
    judge_server.behaviour.off_format_share = 0.2
    monitor_id = setup(client, admin, judge_server, hours=[0.1])
    work(engine, ORIGIN + HOUR)
    (run,) = runs_of(client, admin, monitor_id)
    result = judge_result(client, admin, run["id"])
    failed = next(m for m in result["metrics"] if m["name"] == "failed_calls")
    assert failed["value"] > 0
    errors = result["details"]["judges"]["summary-judge"]["errors"]
    assert errors and all("off-format answer" in e for e in errors)
    assert result["status"] == "ok"


def test_a_missing_key_says_where_it_was_looked_for(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge
) -> None:
    monitor_id = setup(
        client, admin, judge_server, hours=[0.1], api_key_env="DRIFTLINE_TEST_NO_SUCH_KEY"
    )
    work(engine, ORIGIN + HOUR)
    (run,) = runs_of(client, admin, monitor_id)
    result = judge_result(client, admin, run["id"])
    assert run["status"] == "done" and result["status"] == "insufficient_data"
    assert "DRIFTLINE_TEST_NO_SUCH_KEY is not set" in result["summary"]
    assert judge_server.calls == 0


def test_a_judge_that_changed_is_called_unstable_not_the_model_degraded(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge
) -> None:
    monitor_id = setup(client, admin, judge_server, hours=[0.1, 0.1])
    work(engine, ORIGIN + HOUR)
    # A day later, the provider swapped the model behind the judge's name: its verdicts now
    # disagree with the truth half the time. (The day passes by renaming today's anchors.)
    with engine.begin() as conn:
        conn.execute(text("UPDATE judgments SET key = split_part(key, '@', 1) || '@2000-01-01' "
                          "WHERE subject = 'anchor'"))  # fmt: skip
    judge_server.behaviour.agreement = 0.5
    work(engine, ORIGIN + 2 * HOUR)
    runs = runs_of(client, admin, monitor_id)
    result = judge_result(client, admin, runs[1]["id"])
    assert result["status"] == "warning", result["summary"]
    assert "unstable" in result["summary"] and runs[1]["verdict"] != "degraded"
    unstable = next(m for m in result["metrics"] if m["name"] == "unstable")
    assert unstable["value"] == 1.0


def test_an_absolute_limit_fires_whatever_the_baseline(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge
) -> None:
    # A baseline as bad as the window (40 % unsafe): no drop, but past the 10 % limit.
    monitor_id = setup(client, admin, judge_server, hours=[0.4], max_fail_rate=0.1,
                       baseline_wrong=0.4)  # fmt: skip
    work(engine, ORIGIN + HOUR)
    (run,) = runs_of(client, admin, monitor_id)
    result = judge_result(client, admin, run["id"])
    assert result["status"] == "degraded", result["summary"]
    assert "above its limit 0.1" in result["summary"]


def test_reference_answers_reach_the_correctness_judge_and_the_reference_check(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge
) -> None:
    r = client.post("/v1/judges", headers=admin, json={
        "name": "correct", "base_url": judge_server.base_url, "model": "local",
        "rubric": "correctness", "budget": 60, "baseline_sample": 200, "anchors": 0})  # fmt: skip
    assert r.status_code == 201, r.text
    tweets = list(health_tweets(without_urls=True).text[:900])
    records = [{"prompt": f"Summarise: {t}", "output": t, "reference": t} for t in tweets[:300]]
    r = client.post("/v1/baselines", headers=admin,
                    json={"model": "writer", "name": "refs", "records": records})  # fmt: skip
    assert r.status_code == 202, r.text
    r = client.post("/v1/monitors", headers=admin, json={
        "name": "writer-refs", "model": "writer", "baseline_id": r.json()["id"], "window": "1h",
        "delay": "0s", "start_at": ORIGIN.isoformat(), "judges": ["correct"]})  # fmt: skip
    assert r.status_code == 201, r.text
    window = tweets[300:500]
    events = [  # half the answers are about another tweet than the one asked about
        {"model": "writer", "request_id": f"e{i}", "prompt": f"Summarise: {t}",
         "output": t if i % 2 else tweets[600 + i], "ts": (ORIGIN + i * 15 * SECOND).isoformat()}
        for i, t in enumerate(window)
    ]  # fmt: skip
    assert client.post("/v1/events", json={"events": events}, headers=admin).status_code == 202
    feedback = [{"model": "writer", "request_id": f"e{i}", "reference": t}
                for i, t in enumerate(window) if i < 150]  # fmt: skip
    r = client.post("/v1/feedback", json={"feedback": feedback}, headers=admin)
    assert r.status_code == 202, r.text
    work(engine, ORIGIN + HOUR)
    monitor_id = client.get("/v1/monitors", headers=admin).json()["monitors"][0]["id"]
    (run,) = runs_of(client, admin, monitor_id)
    checks = client.get(f"/v1/runs/{run['id']}", headers=admin).json()["checks"]
    assert checks["reference"]["status"] == "degraded", checks["reference"]["summary"]
    assert checks["judge"]["status"] == "degraded", checks["judge"]["summary"]
    # Only events with a reference were judged (150 of 200, the budget 60 of them).
    judged = next(m for m in checks["judge"]["metrics"] if m["name"] == "judged")
    assert judged["value"] == 60


def test_server_errors_are_retried_by_the_client_and_cost_no_deferral(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge
) -> None:
    # A tenth of the calls answer 500; the client retries them with its backoff (3 tries:
    # a call fails them all 0.1 % of the time, and then the window is deferred instead).
    judge_server.behaviour.error_share = 0.1
    monitor_id = setup(client, admin, judge_server, hours=[0.1], max_retries=2, budget=40,
                       baseline_sample=40, anchors=0)  # fmt: skip
    work(engine, ORIGIN + HOUR)
    (run,) = runs_of(client, admin, monitor_id)
    if run["status"] == "running":  # that unlucky call: deferred, then computed
        judge_server.behaviour.error_share = 0.0
        with engine.begin() as conn:
            conn.execute(text("UPDATE monitor_runs SET lease_until = now()"))
        work(engine, ORIGIN + HOUR)
        (run,) = runs_of(client, admin, monitor_id)
    assert run["status"] == "done"
    result = judge_result(client, admin, run["id"])
    judged = next(m["value"] for m in result["metrics"] if m["name"] == "judged")
    assert result["status"] == "ok" and judged == 40 and judge_server.calls > 80


def test_a_judge_slower_than_its_timeout_defers_the_window(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge
) -> None:
    judge_server.behaviour.delay_seconds = 0.5
    monitor_id = setup(client, admin, judge_server, hours=[0.1], timeout_seconds=0.1,
                       baseline_sample=20, anchors=0)  # fmt: skip
    work(engine, ORIGIN + HOUR)
    (run,) = runs_of(client, admin, monitor_id)
    assert run["status"] == "running" and "did not get through" in run["error"], run


def test_a_long_judging_keeps_renewing_its_lease(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(judging, "LEASE_RENEW_SECONDS", 0.0)  # renew after every chunk
    renewed: list[bool] = []

    def renew(engine_: Engine, claim: Any, lease_seconds: int) -> bool:
        renewed.append(real_renew(engine_, claim, lease_seconds))
        return renewed[-1]

    real_renew = runs_module.renew_lease
    monkeypatch.setattr(runs_module, "renew_lease", renew)
    monitor_id = setup(client, admin, judge_server, hours=[0.1], anchors=0)
    work(engine, ORIGIN + HOUR)
    (run,) = runs_of(client, admin, monitor_id)
    assert run["status"] == "done"
    # One renewal per chunk of 8 calls (concurrency 4 x 2): 200 baseline + 60 window.
    assert len(renewed) >= 30 and all(renewed)


def test_a_judge_that_raises_leaves_the_window_to_the_other_checks(
    client: TestClient, admin: dict[str, str], engine: Engine, judge_server: LocalJudge,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("judgments table unreadable")

    monkeypatch.setattr(judging.judgments, "cached", broken)
    monitor_id = setup(client, admin, judge_server, hours=[0.1])
    work(engine, ORIGIN + HOUR)
    (run,) = runs_of(client, admin, monitor_id)
    result = judge_result(client, admin, run["id"])
    assert run["status"] == "done" and result["status"] == "insufficient_data"
    assert "judging failed: RuntimeError: judgments table unreadable" in result["summary"]
