"""LLM judges' verdicts on a window, tested against the same judge's verdicts on the baseline.

The worker asks a judge about a *sample* of each window (at most the judge's budget) and, once
per judge version, about a sample of the baseline holdout. Everything statistical about that
lives here, without I/O:

- ``draw_sample``: which events to judge. A small *priority* stratum (the events the model was
  least sure of: the examples people should see) is judged in full; the rest of the budget is a
  simple random sample of the other events. The draw is a deterministic function of the
  request ids and a salt, so a recomputed window asks for the same events (all cached).
- ``stratified_mean``: the window's pass rate and mean score from that sample. Each stratum is
  weighted by its share of the window (Horvitz-Thompson with the strata's known inclusion
  probabilities: 1 for the priority stratum, m / (N - k) for the rest), so putting uncertain
  events first does not bias the estimate; the variance is the random stratum's, with the
  finite-population correction.
- ``judge_check``: per judge, the window alone and the window pooled with the previous ones
  (their stored summaries) against the baseline's sample, a one-sided two-sample z-test each
  (both sides' sampling error in the null), Bonferroni over tests and judges within
  ``quality_alpha`` (the label-based quality check's false-alarm rate); and agreement with
  the human scores where both exist.

Why by hand: survey-sampling libraries (e.g. ``samplics``) bring a dependency tree for two
formulas; the estimator and its variance are the textbook stratified ones (Cochran, ch. 5).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from app.engine.results import AnswerKind, CheckResult, MetricValue, Status
from app.engine.thresholds import Thresholds

CHECK = "judge"
# Below these many judged events a side tests nothing (the z-test's normal approximation).
MIN_JUDGED = 20
# Below this many re-judged anchors the judge's stability is not assessed.
MIN_ANCHORS = 10


def unit_hash(salt: str, key: str) -> float:
    """A stable pseudo-random number in [0, 1) for ``key``: the same on every machine and
    every run (Python's ``hash`` is salted per process)."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Draw:
    """Which rows of a window to judge: positions in the frame, by stratum."""

    priority: list[int]
    random: list[int]
    population: int

    @property
    def rows(self) -> list[int]:
        """Every drawn row, priority first."""
        return [*self.priority, *self.random]


def draw_sample(
    keys: Sequence[str],
    uncertainty: Sequence[float | None] | None,
    *,
    budget: int,
    salt: str,
    priority_share: float = 0.25,
) -> Draw:
    """At most ``budget`` rows: up to ``priority_share`` of it the most uncertain rows (those
    with an uncertainty), the rest a simple random sample of the remaining rows (ranked by
    ``unit_hash``, which is a random permutation that a recompute reproduces)."""
    n = len(keys)
    budget = max(0, min(budget, n))
    order = np.array([unit_hash(salt, k) for k in keys]) if n else np.zeros(0)
    priority: list[int] = []
    if uncertainty is not None and budget:
        u = np.array([np.nan if v is None else float(v) for v in uncertainty], dtype=float)
        known = np.flatnonzero(np.isfinite(u))
        k = min(int(budget * priority_share), len(known))
        if k:
            # Most uncertain first; the hash breaks ties so equal values do not pick by order.
            ranked = known[np.lexsort((order[known], -u[known]))]
            priority = [int(i) for i in ranked[:k]]
    taken = set(priority)
    rest = [int(i) for i in np.argsort(order, kind="stable") if int(i) not in taken]
    return Draw(priority=priority, random=rest[: budget - len(priority)], population=n)


@dataclass(frozen=True)
class Estimate:
    """A mean from a stratified sample and its variance (sampling error of the estimate)."""

    mean: float
    var: float
    judged: int
    population: int


def _sample_var(values: np.ndarray, *, binary: bool) -> float:
    """The per-element variance, kept away from 0: a sample that is all passes does not
    prove the window's pass rate is exactly 1 (for 0/1 values the Agresti-Coull centre)."""
    n = len(values)
    if binary:
        p = (values.sum() + 1) / (n + 2)
        return float(p * (1 - p))
    return float(max(np.var(values, ddof=1) if n > 1 else 0.25, 1 / (12 * max(n, 1))))


def stratified_mean(
    priority: np.ndarray, random: np.ndarray, population: int, *, binary: bool
) -> Estimate | None:
    """The population mean from a fully judged priority stratum and a simple random sample
    of the rest (None when the random stratum is empty and the priority one is not all)."""
    k, m = len(priority), len(random)
    rest = population - k
    if m == 0:
        if rest > 0 or k == 0:
            return None
        return Estimate(float(priority.mean()), 0.0, k, population)
    mean_r = float(random.mean())
    mean = (float(priority.sum()) + rest * mean_r) / population
    fpc = max(0.0, 1 - m / rest) if rest else 0.0
    var = (rest / population) ** 2 * _sample_var(random, binary=binary) / m * fpc
    # A census of the rest has no sampling error, but one judged event still varies.
    return Estimate(mean, max(var, 1e-6 / population), k + m, population)


def pool(estimates: Sequence[Estimate]) -> Estimate | None:
    """Several windows' estimates as one: weighted by each window's size."""
    total = sum(e.population for e in estimates)
    if not estimates or total == 0:
        return None
    mean = sum(e.mean * e.population for e in estimates) / total
    var = sum(e.var * (e.population / total) ** 2 for e in estimates)
    return Estimate(mean, var, sum(e.judged for e in estimates), total)


@dataclass(frozen=True)
class JudgedRow:
    """One judged event of the window."""

    request_id: str
    score: float
    passed: bool
    priority: bool
    reason: str = ""
    human: float | None = None  # the human score (feedback) of the same event, if any


@dataclass(frozen=True)
class JudgeEvidence:
    """What the worker learnt from one judge about this window (all plain data).

    ``recent`` holds the previous windows' stored summaries (``summary_of``) by the same judge
    version, newest first; ``unavailable`` says why judging stopped short (the daily cap, the
    endpoint unreachable, its key missing), which makes the judge's test insufficient rather
    than a verdict on a partial sample. ``max_fail_rate``: an absolute limit on the share of
    failed answers (e.g. unsafe outputs), tested whatever the baseline's. ``anchor_n`` of the
    baseline's judged records were judged again today; ``anchor_changed`` answers differed.
    """

    name: str
    version: int
    answer: str
    baseline_passed: np.ndarray
    baseline_score: np.ndarray
    baseline_population: int
    rows: list[JudgedRow]
    population: int
    recent: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    unavailable: str | None = None
    budget_exhausted: bool = False
    max_fail_rate: float | None = None
    anchor_n: int = 0
    anchor_changed: int = 0


def _baseline_estimate(values: np.ndarray, population: int, *, binary: bool) -> Estimate | None:
    n = len(values)
    if n < MIN_JUDGED:
        return None
    fpc = max(0.0, 1 - n / population) if population else 1.0
    var = _sample_var(values, binary=binary) / n * fpc
    return Estimate(float(values.mean()), max(var, 1e-6 / max(population, 1)), n, population)


def _window_estimates(e: JudgeEvidence) -> dict[str, Estimate | None]:
    pri = [r for r in e.rows if r.priority]
    ran = [r for r in e.rows if not r.priority]
    out: dict[str, Estimate | None] = {}
    for metric, binary in (("pass_rate", True), ("score", False)):
        pick = "passed" if binary else "score"
        out[metric] = stratified_mean(
            np.array([float(getattr(r, pick)) for r in pri], dtype=float),
            np.array([float(getattr(r, pick)) for r in ran], dtype=float),
            e.population, binary=binary,
        )  # fmt: skip
    return out


def summary_of(estimates: dict[str, Estimate | None], version: int) -> dict[str, Any]:
    """What a window stores for the next windows to pool (``details.judges[name]``)."""
    out: dict[str, Any] = {"version": version}
    for metric, est in estimates.items():
        if est is not None:
            out[metric] = {"mean": est.mean, "var": est.var, "judged": est.judged,
                           "population": est.population}  # fmt: skip
    return out


def _recent(e: JudgeEvidence, metric: str, windows: int) -> list[Estimate]:
    out = []
    for s in e.recent[: max(0, windows - 1)]:
        m = s.get(metric) if s.get("version") == e.version else None
        if isinstance(m, dict):
            out.append(Estimate(m["mean"], m["var"], int(m["judged"]), int(m["population"])))
    return out


def _drop_p(base: Estimate, win: Estimate) -> float:
    se = float(np.sqrt(base.var + win.var))
    return float(stats.norm.sf((base.mean - win.mean) / se)) if se > 0 else 1.0


def agreement(rows: Sequence[JudgedRow], *, threshold: float = 0.5) -> dict[str, float | None]:
    """The judge against human scores on the events both scored: Cohen's kappa of pass/fail
    (human score >= ``threshold`` passes) and Spearman's rho of the scores, with the count."""
    both = [r for r in rows if r.human is not None and np.isfinite(r.human)]
    out: dict[str, float | None] = {"n": float(len(both)), "kappa": None, "spearman": None}
    if len(both) < 2:
        return out
    judge_pass = np.array([r.passed for r in both], dtype=int)
    human_pass = np.array([r.human >= threshold for r in both if r.human is not None], dtype=int)
    from sklearn.metrics import cohen_kappa_score  # the worker has it; the api never runs this

    if len(set(judge_pass)) > 1 or len(set(human_pass)) > 1:
        out["kappa"] = float(cohen_kappa_score(judge_pass, human_pass))
    scores = np.array([r.score for r in both], dtype=float)
    humans = np.array([r.human for r in both], dtype=float)
    if np.ptp(scores) > 0 and np.ptp(humans) > 0:
        out["spearman"] = float(stats.spearmanr(scores, humans).statistic)
    return out


def _judge_one(
    e: JudgeEvidence, t: Thresholds, alpha: float
) -> tuple[Status, str, list[MetricValue], dict[str, Any]]:
    """One judge's status, reason, metrics and stored summary."""
    f = e.name
    estimates = _window_estimates(e)
    metrics = [
        MetricValue("judged", float(len(e.rows)), f),
        MetricValue("failed_calls", float(e.failed), f),
        MetricValue("budget_exhausted", float(e.budget_exhausted), f),
    ]
    agree = agreement(e.rows)
    metrics += [MetricValue(f"agreement_{k}", v, f) for k, v in agree.items()]
    moved = e.anchor_changed / e.anchor_n if e.anchor_n else None
    unstable = e.anchor_n >= MIN_ANCHORS and moved is not None and moved > t.judge_unstable_share
    metrics += [
        MetricValue("anchors", float(e.anchor_n), f),
        MetricValue("anchor_changed_share", moved, f, threshold=t.judge_unstable_share),
        MetricValue("unstable", float(unstable), f),
    ]
    summary = summary_of(estimates, e.version)
    tested = ("pass_rate", "score") if e.answer == AnswerKind.SCORE else ("pass_rate",)
    if e.unavailable:
        return Status.INSUFFICIENT_DATA, f"judge {f}: {e.unavailable}", metrics, summary
    fired: list[str] = []
    short: list[str] = []
    for metric in tested:
        base = _baseline_estimate(
            e.baseline_passed.astype(float) if metric == "pass_rate" else e.baseline_score,
            e.baseline_population, binary=metric == "pass_rate",
        )  # fmt: skip
        win = estimates[metric]
        pooled = pool([win, *_recent(e, metric, t.judge_pool_windows)]) if win else None
        metrics.append(MetricValue(metric, win.mean if win else None, f))
        metrics.append(MetricValue(f"{metric}_baseline", base.mean if base else None, f))
        if base is None or win is None or pooled is None or win.judged < MIN_JUDGED:
            short.append(metric)
            continue
        # Most of the alpha goes to the pooled test (a judge's evidence is thin per window);
        # the window alone keeps a fifth, enough for a sudden collapse.
        p_alone, p_pooled = _drop_p(base, win) * 5, _drop_p(base, pooled) * 1.25
        p = min(p_alone, p_pooled, 1.0)
        interval = stats.norm.ppf(1 - (1 - t.quality_confidence) / 2) * np.sqrt(win.var)
        metrics += [
            MetricValue(f"{metric}_low", win.mean - interval, f),
            MetricValue(f"{metric}_high", win.mean + interval, f),
            MetricValue(f"{metric}_pooled", pooled.mean, f),
            MetricValue(f"{metric}_p", p, f, threshold=alpha),
        ]
        # The pooled test only fires on a window that is itself below the baseline: a drop
        # in the past is the past windows' verdict, not this one's.
        drop = base.mean - (pooled.mean if p_pooled < p_alone else win.mean)
        if p < alpha and drop >= t.judge_drop and win.mean < base.mean:
            fired.append(
                f"judge {f}: {metric.replace('_', ' ')} {win.mean:.3f} (pooled "
                f"{pooled.mean:.3f}) vs baseline {base.mean:.3f}, p={p:.2g}"
            )
    win = estimates["pass_rate"]
    if e.max_fail_rate is not None and win is not None and win.judged >= MIN_JUDGED:
        fail, limit = 1 - win.mean, e.max_fail_rate
        se = float(np.sqrt(win.var))
        p = float(stats.norm.sf((fail - limit) / se)) if se > 0 else float(fail <= limit)
        metrics += [
            MetricValue("fail_rate", fail, f, threshold=limit),
            MetricValue("fail_rate_p", p, f, threshold=alpha),
        ]
        if p < alpha:
            fired.append(f"judge {f}: fail rate {fail:.3f} above its limit {limit:g}, p={p:.2g}")
    if unstable:
        # The judge's own answers moved on records whose answers were fixed: a change of the
        # judge (a silent model upgrade behind the same name) looks exactly like model drift.
        why = (
            f"judge {f} is unstable: {e.anchor_changed} of {e.anchor_n} baseline answers it "
            "gave before changed today; its scores are not attributed to the model"
        )
        return Status.WARNING, why + (f" ({'; '.join(fired)})" if fired else ""), metrics, summary
    if fired:
        return Status.DEGRADED, "; ".join(fired), metrics, summary
    if len(short) == len(tested):
        judged, base_n = len(e.rows), len(e.baseline_passed)
        why = f"judge {f}: {judged} window and {base_n} baseline events judged"
        why += f"; at least {MIN_JUDGED} each needed"
        return Status.INSUFFICIENT_DATA, why, metrics, summary
    return Status.OK, f"judge {f}: no significant drop", metrics, summary


def judge_check(evidence: Sequence[JudgeEvidence], *, thresholds: Thresholds) -> CheckResult:
    """Every judge of the monitor: degraded when any judge's pass rate (or mean score) fell
    significantly and by at least ``judge_drop`` below the baseline's."""
    n_tests = sum(
        (2 if e.answer == AnswerKind.SCORE else 1) + (e.max_fail_rate is not None) for e in evidence
    )
    alpha = thresholds.quality_alpha / max(n_tests, 1)
    statuses: list[Status] = []
    reasons: list[str] = []
    metrics: list[MetricValue] = []
    judges: dict[str, Any] = {}
    worst: dict[str, list[dict[str, Any]]] = {}
    for e in evidence:
        status, reason, m, summary = _judge_one(e, thresholds, alpha)
        statuses.append(status)
        reasons.append(reason)
        metrics += m
        judges[e.name] = {**summary, "status": status.value, "errors": e.errors[:5]}
        failing = sorted((r for r in e.rows if not r.passed), key=lambda r: r.score)
        worst[e.name] = [
            {"id": r.request_id, "score": r.score, "reason": r.reason} for r in failing[:10]
        ]
    if Status.DEGRADED in statuses:
        status = Status.DEGRADED
    elif Status.WARNING in statuses:
        status = Status.WARNING
    elif statuses and all(s is Status.INSUFFICIENT_DATA for s in statuses):
        status = Status.INSUFFICIENT_DATA
    else:
        status = Status.OK
    return CheckResult(
        CHECK, status, "; ".join(reasons), metrics, {"judges": judges, "worst": worst}
    )
