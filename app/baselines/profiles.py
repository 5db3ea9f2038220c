"""Build baseline profiles: the once-per-baseline statistics every window is compared with.

This runs in its own scheduler lane (``app.jobs.scheduler``), beside window runs, so a big
baseline never holds up anybody's windows; and it reads at most ``profile_cap`` records (a
deterministic sample above that), so its memory is bounded whatever was uploaded.
"""

import logging
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, String, cast, func, select, text
from sqlalchemy.orm import Session

from app.db.models import Baseline, BaselineRecord
from app.db.session import make_sessionmaker, session_scope
from app.db.windows import (
    SAMPLE_FILTER,
    WINDOW_FILTER,
    count_window_events,
    sample_permille,
    window_params,
)
from app.engine.profile_codec import decode_profile, encode_profile
from app.engine.quality import classification_metrics
from app.engine.window import BaselineProfile, flatten_metadata

log = logging.getLogger("driftline.profiles")

# Most records one frozen window copies (a deterministic sample above it).
MAX_WINDOW_RECORDS = 500_000


def dump_profile(profile: BaselineProfile) -> bytes:
    """Serialise a profile for the baselines table (data only, never pickle)."""
    return encode_profile(profile)


def load_profile(blob: bytes) -> BaselineProfile:
    """Inverse of ``dump_profile``; ``ProfileFormatError`` for a blob of another format."""
    return decode_profile(blob)


def summarise(records: pd.DataFrame) -> dict[str, Any]:
    """Reference figures shown by the API: size, label/prediction coverage, quality."""
    summary: dict[str, Any] = {"records": len(records)}
    labelled = records.dropna(subset=["prediction", "label"])
    if len(labelled):
        summary["quality"] = classification_metrics(labelled["prediction"], labelled["label"])
    if records["perplexity"].notna().any():
        summary["perplexity_mean"] = float(records["perplexity"].mean())
    if records["score"].notna().any():
        summary["score_mean"] = float(records["score"].mean())
    return summary


_FREEZE = f"""
    INSERT INTO baseline_records (baseline_id, prompt, output, prediction, label, reference,
                                  score, confidence, perplexity, metadata)
    SELECT :baseline_id, e.prompt, e.output, e.prediction, f.label, f.reference,
           coalesce(f.score, CASE f.thumbs WHEN 1 THEN 1.0 WHEN -1 THEN 0.0 END),
           e.confidence, e.perplexity, e.metadata
    FROM events e
    LEFT JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
    WHERE {WINDOW_FILTER} AND {SAMPLE_FILTER}
"""


def freeze_window(session: Session, baseline: Baseline) -> int:
    """Copy a window baseline's events (with labels and scores) into its records in one
    statement; returns how many. Events were stored already redacted when redaction is on."""
    if baseline.window_start is None or baseline.window_end is None:
        raise ValueError("a window baseline without its window")
    conn = session.connection()
    params = window_params(
        baseline.model, baseline.model_version, baseline.window_start, baseline.window_end
    )
    permille = sample_permille(count_window_events(conn, params), MAX_WINDOW_RECORDS)
    copied = conn.execute(
        text(_FREEZE), {**params, "baseline_id": baseline.id, "permille": permille}
    ).rowcount
    log.info("baseline %s: froze %d events of its window", baseline.id, copied)
    return int(copied)


def _records(session: Session, baseline_id: int, cap: int) -> pd.DataFrame:
    """The baseline's records, or a deterministic sample of ``cap`` of them."""
    stmt = select(
        BaselineRecord.prompt, BaselineRecord.output, BaselineRecord.prediction,
        BaselineRecord.label, BaselineRecord.reference, BaselineRecord.score,
        BaselineRecord.confidence,
        BaselineRecord.perplexity,
        BaselineRecord.metadata_.label("metadata"),
    ).where(BaselineRecord.baseline_id == baseline_id)  # fmt: skip
    total = session.scalar(
        select(func.count())
        .select_from(BaselineRecord)
        .where(BaselineRecord.baseline_id == baseline_id)
    )
    if (total or 0) > cap:
        # A top-N sort in PostgreSQL keeps only ``cap`` rows in memory; md5 of the id makes
        # the sample the same on every re-profile.
        stmt = stmt.order_by(func.md5(cast(BaselineRecord.id, String))).limit(cap)
        log.info("baseline %s: %d records, profiled on a sample of %d", baseline_id, total, cap)
    else:
        # In upload order, always: the profile splits the records by position (the
        # cross-fitted halves), and a heap returns rows in whatever order its free space
        # took them — the same baseline profiled twice must give the same verdicts.
        stmt = stmt.order_by(BaselineRecord.id)
    return pd.read_sql(stmt, session.connection())


def sample_records(
    conn: Connection, baseline_id: int, *, size: int, with_reference: bool
) -> tuple[list[Any], int]:
    """A deterministic sample of ``size`` of the baseline's records (id, prompt, output and
    reference answer: ``reference``, else ``label``), drawn the way profiles are — a top-N
    sort on md5 of the id in PostgreSQL — and how many it was drawn from. ``with_reference``:
    only records that have one."""
    reference = func.coalesce(BaselineRecord.reference, BaselineRecord.label)
    eligible = [BaselineRecord.baseline_id == baseline_id]
    if with_reference:
        eligible.append(reference.is_not(None))
    rows = conn.execute(
        select(
            BaselineRecord.id, BaselineRecord.prompt, BaselineRecord.output,
            reference.label("reference"), func.count().over().label("population"),
        )
        .where(*eligible)
        .order_by(func.md5(cast(BaselineRecord.id, String)))
        .limit(size)
    ).all()  # fmt: skip
    return list(rows), int(rows[0].population) if rows else 0


def build_pending_profiles(engine: Engine, *, profile_cap: int = 100_000) -> int:
    """Freeze and profile every pending baseline (one at a time, row-locked); returns how
    many. A baseline that fails is marked failed with its error; the others go on."""
    sessions = make_sessionmaker(engine)
    done = 0
    while True:
        with session_scope(sessions) as session:
            baseline = session.scalars(
                select(Baseline)
                .where(Baseline.status == "pending")
                .order_by(Baseline.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if baseline is None:
                return done
            try:
                # A savepoint, so that a failure here still lets us record it on the baseline.
                with session.begin_nested():
                    if baseline.source == "window" and baseline.record_count == 0:
                        baseline.record_count = freeze_window(session, baseline)
                        if baseline.record_count == 0:
                            raise ValueError("the window holds no events any more")
                    records = _records(session, baseline.id, profile_cap)
                # Metadata keys common in the baseline become meta_* columns, drift-tested too.
                records = pd.concat(
                    [records.drop(columns="metadata"), flatten_metadata(records["metadata"])],
                    axis=1,
                )
                profile = BaselineProfile.build(records, embedder=baseline.embedder)
            except Exception as exc:  # a bad baseline must not stop the worker
                log.exception("baseline %s failed to profile", baseline.id)
                baseline.status, baseline.error = "failed", f"{type(exc).__name__}: {exc}"
            else:
                baseline.profile = dump_profile(profile)
                baseline.summary = summarise(records)
                baseline.status, baseline.error = "ready", None
                log.info(
                    "baseline %s (%s) profiled: %d records",
                    baseline.id,
                    baseline.name,
                    len(records),
                )
            done += 1
