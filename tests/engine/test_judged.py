"""The judge check's statistics on plain arrays: an unbiased estimate from a sample that puts
uncertain events first, a false-alarm rate held at alpha against a finite baseline sample,
power to see a 10-point fall, and strict answers."""

import numpy as np
import pytest

from app.engine.judged import draw_sample, stratified_mean
from app.engine.results import Status
from app.judges.rubrics import OffFormat, parse
from bench.judge import monitor, window_rows

# The bench's world (bench/judge.py): windows of 500, budget 100, a judge agreeing with the
# truth 85 % of the time, wrong answers mostly among the model's uncertain ones.


def test_putting_uncertain_events_first_does_not_bias_the_estimate() -> None:
    rng = np.random.default_rng(0)
    naive, weighted = [], []
    for w in range(300):
        rows = window_rows(rng, 500, 0.8, budget=100, agree=1.0, tag=str(w))
        est = stratified_mean(
            np.array([r.passed for r in rows if r.priority], dtype=float),
            np.array([r.passed for r in rows if not r.priority], dtype=float),
            500, binary=True,
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


def test_false_alarms_stay_at_alpha_against_a_finite_baseline_sample() -> None:
    statuses = [s for seed in range(40) for s in monitor(seed, 0.0, 10)]
    rate = sum(s is Status.DEGRADED for s in statuses) / len(statuses)
    assert rate <= 0.03, rate  # alpha 0.01 per window; binomial slack over 400 windows


def test_a_ten_point_fall_is_caught_by_the_tenth_window() -> None:
    caught = [Status.DEGRADED in monitor(1000 + seed, 0.10, 10) for seed in range(30)]
    assert np.mean(caught) >= 0.8, np.mean(caught)


def test_a_collapse_is_caught_in_its_first_window() -> None:
    assert monitor(7, 0.5, 1) == [Status.DEGRADED]


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
