"""Build baseline profiles: the once-per-baseline statistics every window is compared with."""

import logging
import pickle
import zlib
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from app.db.models import Baseline, BaselineRecord
from app.db.session import make_sessionmaker, session_scope
from app.engine.quality import classification_metrics
from app.engine.window import BaselineProfile, flatten_metadata

log = logging.getLogger("driftline.profiles")


def dump_profile(profile: BaselineProfile) -> bytes:
    """Serialise a profile for the baselines table."""
    return zlib.compress(pickle.dumps(profile, protocol=pickle.HIGHEST_PROTOCOL), 6)


def load_profile(blob: bytes) -> BaselineProfile:
    """Inverse of ``dump_profile`` (only ever fed blobs Driftline wrote itself)."""
    profile = pickle.loads(zlib.decompress(blob))  # noqa: S301  (our own data, see models)
    assert isinstance(profile, BaselineProfile)
    return profile


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


def build_pending_profiles(engine: Engine) -> int:
    """Profile every pending baseline (one at a time, row-locked); returns how many."""
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
            records = pd.read_sql(
                select(
                    BaselineRecord.prompt, BaselineRecord.output, BaselineRecord.prediction,
                    BaselineRecord.label, BaselineRecord.score, BaselineRecord.perplexity,
                    BaselineRecord.metadata_.label("metadata"),
                ).where(BaselineRecord.baseline_id == baseline.id),
                session.connection(),
            )  # fmt: skip
            # Metadata keys common in the baseline become meta_* columns, drift-tested too.
            records = pd.concat(
                [records.drop(columns="metadata"), flatten_metadata(records["metadata"])], axis=1
            )
            try:
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
