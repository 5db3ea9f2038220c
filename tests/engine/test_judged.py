"""The judge check's statistics on plain arrays: an unbiased estimate from a sample that puts
uncertain events first, a false-alarm rate held at alpha against a finite baseline sample,
power to see a 10-point fall, and strict answers."""

import numpy as np
import pytest

from app.engine.judged import (
    JudgedRow,
    JudgeEvidence,
    draw_sample,
    judge_check,
    stratified_mean,
)
from app.engine.results import Status
from app.engine.thresholds import Thresholds
from app.judges.rubrics import OffFormat, parse


def window_rows(
    rng: np.random.Generator, n: int, rate: float, *, budget: int, agree: float, tag: str
) -> tuple[list[JudgedRow], int]:
    """A window of ``n`` events whose true pass rate is ``rate``; failures are the model's
    uncertain events (so the priority stratum is mostly failures); a judge agreeing with the
    truth ``agree`` of the time."""
    good = rng.random(n) < rate
    confidence = np.where(good, rng.uniform(0.5, 1, n), rng.uniform(0, 0.7, n))
    keys = [f"{tag}-{i}" for i in range(n)]
    draw = draw_sample(keys, list(1 - confidence), budget=budget, salt="t")
    judged = np.where(rng.random(n) < agree, good, ~good)
    pri = set(draw.priority)
    rows = [JudgedRow(keys[i], float(judged[i]), bool(judged[i]), i in pri) for i in draw.rows]
    return rows, n


def evidence(rng: np.random.Generator, base: np.ndarray, rows: list[JudgedRow], n: int,
             recent: list[dict[str, object]]) -> JudgeEvidence:  # fmt: skip
    return JudgeEvidence("j", 1, "pass_fail", base, base.astype(float), 10 * len(base), rows, n,
                         recent=list(recent))  # fmt: skip


def test_putting_uncertain_events_first_does_not_bias_the_estimate() -> None:
    rng = np.random.default_rng(0)
    naive, weighted = [], []
    for w in range(300):
        rows, n = window_rows(rng, 500, 0.8, budget=100, agree=1.0, tag=str(w))
        est = stratified_mean(
            np.array([r.passed for r in rows if r.priority], dtype=float),
            np.array([r.passed for r in rows if not r.priority], dtype=float),
            n, binary=True,
        )  # fmt: skip
        assert est is not None
        weighted.append(est.mean)
        naive.append(np.mean([r.passed for r in rows]))
    assert abs(np.mean(weighted) - 0.8) < 0.01  # the truth
    assert np.mean(naive) < 0.72  # what averaging the sample as it is would say


def test_the_draw_is_the_same_on_a_recompute_and_within_budget() -> None:
    keys = [f"r{i}" for i in range(1000)]
    unc = list(np.linspace(0, 1, 1000))
    a = draw_sample(keys, unc, budget=100, salt="x")
    assert a == draw_sample(keys, unc, budget=100, salt="x")
    assert len(a.rows) == 100 and len(set(a.rows)) == 100 and len(a.priority) == 25
    assert min(unc[i] for i in a.priority) > 0.97  # the most uncertain
    assert len(draw_sample(keys[:30], None, budget=100, salt="x").rows) == 30


def run_windows(seed: int, shift: float, windows: int) -> list[Status]:
    rng = np.random.default_rng(seed)
    base_truth = rng.random(1000) < 0.8
    base = np.where(rng.random(1000) < 0.85, base_truth, ~base_truth)
    recent: list[dict[str, object]] = []
    out = []
    for w in range(windows):
        rows, n = window_rows(rng, 500, 0.8 - shift, budget=100, agree=0.85, tag=f"{seed}-{w}")
        result = judge_check([evidence(rng, base, rows, n, recent)], thresholds=Thresholds())
        recent.insert(0, result.details["judges"]["j"])
        out.append(result.status)
    return out


def test_false_alarms_stay_at_alpha_against_a_finite_baseline_sample() -> None:
    statuses = [s for seed in range(40) for s in run_windows(seed, 0.0, 10)]
    rate = sum(s is Status.DEGRADED for s in statuses) / len(statuses)
    assert rate <= 0.03, rate  # alpha 0.01 per window; binomial slack over 400 windows


def test_a_ten_point_fall_is_caught_by_the_tenth_window() -> None:
    caught = [Status.DEGRADED in run_windows(1000 + seed, 0.10, 10) for seed in range(30)]
    assert np.mean(caught) >= 0.8, np.mean(caught)


def test_a_collapse_is_caught_in_its_first_window() -> None:
    assert run_windows(7, 0.5, 1) == [Status.DEGRADED]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"verdict": "pass"}', "reason: Field required"),
        ('{"verdict": "ok", "reason": "x"}', "verdict: Input should be 'pass' or 'fail'"),
        ('{"verdict": "pass", "reason": "x", "score": 1}', "Extra inputs are not permitted"),
        ("Sure! It passes.", "not JSON"),
        ("", "empty message"),
        ('["pass"]', "Input should be a valid dictionary"),
    ],
)
def test_off_format_answers_are_named(content: str, why: str) -> None:
    with pytest.raises(OffFormat, match="off-format answer") as err:
        parse(content, "pass_fail", pass_threshold=0.5)
    assert why in str(err.value)


def test_scores_pass_at_the_threshold_and_must_lie_in_0_1() -> None:
    assert parse('{"score": 0.7, "reason": "ok"}', "score", pass_threshold=0.7).passed
    assert not parse('{"score": 0.69, "reason": "ok"}', "score", pass_threshold=0.7).passed
    with pytest.raises(OffFormat, match="less than or equal to 1"):
        parse('{"score": 7, "reason": "on a 1-10 scale"}', "score", pass_threshold=0.5)
