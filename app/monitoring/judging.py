"""The worker's judging stage: ask a monitor's judges about a sample of the window (and, once
per judge version, of the baseline), cache every answer, and hand the engine plain evidence.

Costs stay bounded: at most ``budget`` window events per judge (the draw is deterministic, so
a recompute finds every answer cached and calls nothing), ``baseline_sample`` baseline records
once per judge version, and no call at all past the judge's daily token cap (the window then
says "judge budget exhausted", never fails). An endpoint that does not answer defers the window
(answers so far are kept) until ``MAX_ATTEMPTS``; after that the window is computed and the
judge's test says it was unavailable.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.baselines.profiles import sample_records
from app.engine.judged import Draw, JudgedRow, JudgeEvidence, draw_sample, unit_hash
from app.judges import judgments
from app.judges.client import Answer, JudgeClient, Transient, Unusable
from app.judges.judgments import ANCHOR, BASELINE, EVENT, Judgment
from app.judges.service import JudgeConfig, monitor_judges
from app.monitoring import runs

log = logging.getLogger("driftline.judges")

# Every judge draws with the same salt: two judges of a monitor judge the same events.
SALT = "driftline-judge"
# Claims of one window that may end deferred because a judge did not answer.
MAX_ATTEMPTS = 8
# Calls asked between two looks at the daily token meter (per judge: concurrency x this).
_CHUNK_ROUNDS = 2
# While judges are asked, the run's lease is renewed at most this often.
LEASE_RENEW_SECONDS = 60.0


class JudgeDeferred(RuntimeError):
    """A judge did not answer some calls: compute the window later (answers are kept)."""

    def __init__(self, reason: str, *, attempt: int) -> None:
        super().__init__(reason)
        self.delay_seconds = min(30 * 2 ** max(0, attempt - 1), 600)


@dataclass
class _Asked:
    answers: dict[str, Judgment] = field(default_factory=dict)
    transient: int = 0
    unusable: str | None = None
    exhausted: bool = False


class _Keepalive:
    """Calls ``renew`` (the run's lease) at most every ``LEASE_RENEW_SECONDS`` while judging."""

    def __init__(self, renew: Callable[[], object] | None) -> None:
        self.renew, self.last = renew, time.monotonic()

    def __call__(self) -> None:
        if self.renew is not None and time.monotonic() - self.last >= LEASE_RENEW_SECONDS:
            self.renew()
            self.last = time.monotonic()


def _ask(
    engine: Engine, client: JudgeClient, cfg: JudgeConfig, model: str, subject: str,
    items: dict[str, dict[str, str]], keepalive: _Keepalive,
) -> _Asked:  # fmt: skip
    """Ask about every item not cached yet, in chunks, stopping at the daily cap; each chunk's
    answers are stored as they come, and the run's lease is renewed as chunks go by (a first
    window that judges a 1,000-record baseline on a slow endpoint may outlast one lease)."""
    out = _Asked()
    with engine.connect() as conn:
        out.answers = judgments.cached(
            conn, model=model, judge_id=cfg.id, version=cfg.version, subject=subject,
            keys=list(items),
        )  # fmt: skip
    todo = [k for k in items if k not in out.answers]
    chunk = max(1, cfg.endpoint.concurrency * _CHUNK_ROUNDS)
    for start in range(0, len(todo), chunk):
        if cfg.daily_token_cap is not None:
            with engine.connect() as conn:
                if judgments.tokens_today(conn, cfg.id) >= cfg.daily_token_cap:
                    out.exhausted = True
                    break
        keys = todo[start : start + chunk]
        results = client.ask_many(
            [items[k] for k in keys],
            lambda values: client.ask(
                cfg.template, cfg.answer, values, pass_threshold=cfg.pass_threshold
            ),
        )
        kept: list[tuple[Judgment, int]] = []
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, Transient):
                out.transient += 1
            elif isinstance(result, Unusable):
                out.unusable = str(result)
            else:
                kept.append((_judgment(key, result), result.tokens))
        with engine.begin() as conn:
            judgments.store(
                conn, model=model, judge_id=cfg.id, version=cfg.version, subject=subject,
                answers=kept,
            )  # fmt: skip
        out.answers.update({j.key: j for j, _ in kept})
        keepalive()
        if out.unusable:
            break
    return out


def _judgment(key: str, answer: Answer) -> Judgment:
    if answer.parsed is None:
        return Judgment(key, None, None, None, answer.error)
    p = answer.parsed
    return Judgment(key, p.score, p.passed, p.reason[:1000], None)


def _baseline_items(
    engine: Engine, baseline_id: int, cfg: JudgeConfig
) -> tuple[dict[str, dict[str, str]], int]:
    """The baseline records this judge version judges (``baseline_sample`` of them, of those
    with a reference answer when the rubric reads one) and how many they were drawn from."""
    with engine.connect() as conn:
        rows, population = sample_records(
            conn, baseline_id, size=cfg.baseline_sample, with_reference=cfg.needs_reference
        )
    items = {
        str(r.id): {"prompt": r.prompt, "output": r.output, "reference": r.reference or ""}
        for r in rows
    }
    return items, population


@dataclass(frozen=True)
class _AnchorCheck:
    n: int = 0
    changed: int = 0
    transient: int = 0


def _anchors(
    engine: Engine, client: JudgeClient, cfg: JudgeConfig, model: str, base: _Asked,
    base_items: dict[str, dict[str, str]], keepalive: _Keepalive,
) -> _AnchorCheck:  # fmt: skip
    """Judge the first ``cfg.anchors`` of the baseline's sample again, once per UTC day (the
    day is part of the key, so the answer is cached for the rest of it), and count answers
    that differ from the ones the same judge version gave before."""
    if not cfg.anchors or base.unusable or base.exhausted:
        return _AnchorCheck()
    judged = [k for k, j in base.answers.items() if j.error is None and k in base_items]
    keys = sorted(judged, key=lambda k: unit_hash(SALT, k))[: cfg.anchors]
    day = datetime.now(UTC).date().isoformat()
    items = {f"{k}@{day}": base_items[k] for k in keys}
    asked = _ask(engine, client, cfg, model, ANCHOR, items, keepalive)
    pairs = [
        (base.answers[k], again)
        for k in keys
        if (again := asked.answers.get(f"{k}@{day}")) is not None and again.error is None
    ]
    changed = sum(before.passed != after.passed for before, after in pairs)
    return _AnchorCheck(len(pairs), changed, asked.transient)


def _reference(frame: pd.DataFrame) -> pd.Series:
    """Each event's reference answer: its feedback's ``reference``, else its ``label`` (a
    label is the reference answer of a model whose output is the answer)."""
    ref = frame["reference"] if "reference" in frame else pd.Series(None, index=frame.index)
    return ref.where(ref.notna(), frame["label"])


def _uncertainty(frame: pd.DataFrame) -> list[float | None] | None:
    if "confidence" not in frame or not frame["confidence"].notna().any():
        return None
    return [None if pd.isna(c) else 1.0 - float(c) for c in frame["confidence"]]


def judge_one(
    engine: Engine, window: runs.ClaimedWindow, frame: pd.DataFrame, cfg: JudgeConfig,
    *, attempt: int, keepalive: _Keepalive, pool_windows: int,
) -> tuple[JudgeEvidence, int]:  # fmt: skip
    """One judge's evidence about the window (with the summaries of the ``pool_windows`` - 1
    windows before it), and how many calls did not get through."""
    eligible = frame
    if cfg.needs_reference:
        eligible = frame[_reference(frame).notna()].reset_index(drop=True)
    draw: Draw = draw_sample(
        [str(r) for r in eligible["request_id"]], _uncertainty(eligible),
        budget=cfg.budget, salt=SALT,
    )  # fmt: skip
    with engine.connect() as conn:
        recent = runs.recent_judge_summaries(conn, window, cfg.name, windows=pool_windows - 1)
    empty = np.zeros(0)

    def evidence(**kw: object) -> JudgeEvidence:
        base = dict(
            name=cfg.name, version=cfg.version, answer=cfg.answer, baseline_passed=empty,
            baseline_score=empty, baseline_population=0, rows=[],
            population=len(eligible), recent=recent,
        )  # fmt: skip
        return JudgeEvidence(**{**base, **kw})  # type: ignore[arg-type]

    try:
        client = JudgeClient(cfg.endpoint)
    except Unusable as exc:
        return evidence(unavailable=str(exc)), 0
    try:
        base_items, base_population = _baseline_items(engine, window.baseline_id, cfg)
        base = _ask(engine, client, cfg, window.model, BASELINE, base_items, keepalive)
        rows = eligible.iloc[draw.rows]
        items = {
            str(r.request_id): {
                "prompt": r.prompt, "output": r.output,
                "reference": "" if pd.isna(ref) else str(ref),
            }
            for r, ref in zip(rows.itertuples(), _reference(rows), strict=True)
        }  # fmt: skip
        asked = _Asked() if base.unusable or base.exhausted else None
        if asked is None:
            asked = _ask(engine, client, cfg, window.model, EVENT, items, keepalive)
        anchors = _anchors(engine, client, cfg, window.model, base, base_items, keepalive)
    finally:
        client.close()
    ok_base = [j for j in base.answers.values() if j.error is None]
    priority = {str(eligible["request_id"].iat[i]) for i in draw.priority}
    human: dict[str, float] = {}
    if "score" in eligible:
        human = {str(k): v for k, v in zip(eligible["request_id"], eligible["score"], strict=True)}
    judged = [
        JudgedRow(
            key,
            float(j.score),
            bool(j.passed),
            key in priority,
            j.reason or "",
            None if pd.isna(human.get(key)) else float(human[key]),
        )
        for key in items
        if (j := asked.answers.get(key)) is not None and j.error is None and j.score is not None
    ]
    errors = [j.error for j in [*base.answers.values(), *asked.answers.values()] if j.error]
    transient = base.transient + asked.transient + anchors.transient
    unavailable = base.unusable or asked.unusable
    exhausted = base.exhausted or asked.exhausted
    if exhausted:
        unavailable = f"judge budget exhausted (daily cap of {cfg.daily_token_cap} tokens)"
    elif transient and not unavailable and attempt >= MAX_ATTEMPTS:
        unavailable = f"the endpoint did not answer {transient} call(s) after {attempt} attempts"
    return evidence(
        baseline_passed=np.array([bool(j.passed) for j in ok_base], dtype=bool),
        baseline_score=np.array([float(j.score or 0) for j in ok_base], dtype=float),
        baseline_population=base_population,
        rows=judged,
        failed=len(errors),
        errors=[e for e in errors if e][:5],
        unavailable=unavailable,
        budget_exhausted=exhausted,
        max_fail_rate=cfg.max_fail_rate,
        anchor_n=anchors.n,
        anchor_changed=anchors.changed,
    ), transient


def _failed(cfg: JudgeConfig, population: int, why: str) -> JudgeEvidence:
    """A judge whose stage raised: its test says so; the other checks decide the window."""
    return JudgeEvidence(
        name=cfg.name, version=cfg.version, answer=cfg.answer, baseline_passed=np.zeros(0),
        baseline_score=np.zeros(0), baseline_population=0, rows=[], population=population,
        unavailable=f"judging failed: {why}"[:500],
    )  # fmt: skip


def judge_window(
    engine: Engine, window: runs.ClaimedWindow, frame: pd.DataFrame, *, attempt: int,
    pool_windows: int, renew: Callable[[], object] | None = None,
) -> list[JudgeEvidence]:  # fmt: skip
    """Every judge the monitor names; raises ``JudgeDeferred`` when a call did not get
    through and the window may still wait (the answers so far are kept). ``renew`` extends
    the run's lease; it is called about once a minute while judges are being asked."""
    keepalive = _Keepalive(renew)
    if not window.judges or frame.empty:
        return []
    with Session(engine) as session:
        configs = monitor_judges(session, window.model, list(window.judges))
    out: list[JudgeEvidence] = []
    missed = 0
    for cfg in configs:
        try:
            evidence, transient = judge_one(
                engine, window, frame, cfg, attempt=attempt, keepalive=keepalive,
                pool_windows=pool_windows,
            )  # fmt: skip
        except Exception as exc:  # one judge's failure must not take the window with it
            log.exception("run %s: judge %s failed", window.run_id, cfg.name)
            evidence, transient = _failed(cfg, len(frame), f"{type(exc).__name__}: {exc}"), 0
        out.append(evidence)
        missed += transient
        log.info(
            "run %s: judge %s v%d judged %d of %d events%s", window.run_id, cfg.name,
            cfg.version, len(evidence.rows), evidence.population,
            f" ({evidence.unavailable})" if evidence.unavailable else "",
        )  # fmt: skip
    if missed and attempt < MAX_ATTEMPTS:
        raise JudgeDeferred(f"{missed} judge call(s) did not get through", attempt=attempt)
    return out
