"""A model version's record beyond its traffic: the training and validation scores its
pipeline reported, the dataset it was exported for, and the F1 production measures for it —
training → validation → production side by side, where an overfitting gap shows."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session

from app.db.models import Event, Model
from app.db.search import LIKE_ESCAPE, contains_pattern
from app.models.ownership import visible_models
from app.monitoring import runs

# Versions shown per model (the newest): a pipeline that registers every build must not
# grow the status answer without bound (the rows stay).
VERSIONS_SHOWN = 10
# The quality check's per-version macro-F1 (app.engine.quality), by version in `feature`.
PRODUCTION_F1 = ("quality", "version_f1")

_REPORTED = text(
    """
    SELECT v.name, v.version, s.split, m.key AS metric, m.value
    FROM (SELECT name, version, training_metrics, validation_metrics,
                 row_number() OVER (PARTITION BY name ORDER BY created_at DESC, id DESC) AS newest
          FROM models
          WHERE training_metrics IS NOT NULL OR validation_metrics IS NOT NULL) v,
         LATERAL (VALUES ('training', v.training_metrics), ('validation', v.validation_metrics))
             AS s(split, metrics),
         jsonb_each(s.metrics) AS m
    WHERE v.newest <= :versions AND jsonb_typeof(m.value) = 'number'
    """
)


@dataclass(frozen=True)
class ReportedMetric:
    """One number a version's pipeline reported for a split (training or validation)."""

    model: str
    version: str
    split: str
    metric: str
    value: float


def reported_metrics(conn: Connection, *, newest_versions: int) -> list[ReportedMetric]:
    """The numeric metrics reported for each model's ``newest_versions`` newest versions."""
    rows = conn.execute(_REPORTED, {"versions": newest_versions})
    return [ReportedMetric(n, v, s, m, float(x)) for n, v, s, m, x in rows]


def _upsert(session: Session, name: str, version: str, values: dict[str, Any]) -> Model:
    stmt = (
        insert(Model)
        .values(name=name, version=version, **values)
        .on_conflict_do_update(index_elements=[Model.name, Model.version], set_=values)
        .returning(Model)
    )
    return session.scalars(stmt, execution_options={"populate_existing": True}).one()


def report_metrics(
    session: Session,
    name: str,
    version: str,
    *,
    training: dict[str, float] | None,
    validation: dict[str, float] | None,
) -> Model:
    """Store what the version scored offline (a split left out keeps its earlier values);
    registers the version if traffic has not shown it yet."""
    values = {
        k: v
        for k, v in (("training_metrics", training), ("validation_metrics", validation))
        if v is not None
    }
    row = _upsert(session, name, version, values)
    session.commit()
    return row


# Models per page of GET /v1/models: a fleet of 50,000 names is pages, not one 18 MB answer.
MODELS_PAGE = 100
MAX_MODELS_PAGE = 1000


def list_models(
    session: Session,
    *,
    project: int | None,
    limit: int = MODELS_PAGE,
    after: str | None = None,
    search: str | None = None,
) -> tuple[list[tuple[str, list[Model], datetime | None]], str | None]:
    """A page of the models a caller bound to ``project`` sees (every project's: None), by
    name after ``after``, optionally only names containing ``search`` (case-insensitive):
    each with its versions (oldest first) and the time of its latest event; and the name to
    continue after (None: the last page). Keyset on the name, so every page costs the same."""
    names_stmt = select(Model.name).distinct().order_by(Model.name)
    if (mine := visible_models(project)) is not None:
        names_stmt = names_stmt.where(Model.name.in_(mine))
    if after is not None:
        names_stmt = names_stmt.where(Model.name > after)
    if search:
        pattern = contains_pattern(search)
        names_stmt = names_stmt.where(Model.name.ilike(pattern, escape=LIKE_ESCAPE))
    names = list(session.scalars(names_stmt.limit(limit + 1)))
    more, names = len(names) > limit, names[:limit]
    if not names:
        return [], None
    by_name: dict[str, list[Model]] = {name: [] for name in names}
    stmt = select(Model).where(Model.name.in_(names)).order_by(Model.name, Model.created_at)
    for m in session.scalars(stmt):
        by_name[m.name].append(m)
    # One index probe per model on ix_events_model_ts, not a scan of events.
    last_seen = select(func.max(Event.ts)).where(Event.model == Model.name).scalar_subquery()
    rows = session.execute(
        select(Model.name, last_seen).where(Model.name.in_(names)).group_by(Model.name)
    )
    latest = {name: ts for name, ts in rows}
    page = [(name, versions, latest.get(name)) for name, versions in by_name.items()]
    return page, (names[-1] if more else None)


def model_names(session: Session, *, project: int | None) -> list[str]:
    """The names of every model a caller bound to ``project`` sees."""
    stmt = select(Model.name).distinct()
    if (mine := visible_models(project)) is not None:
        stmt = stmt.where(Model.name.in_(mine))
    return list(session.scalars(stmt))


def name_page(
    session: Session, *, project: int | None, search: str | None, also: Sequence[str],
    without: Sequence[str], offset: int, limit: int,
) -> tuple[list[str], int]:  # fmt: skip
    """One page (by offset, in name order) of the names a caller bound to ``project`` sees
    together with ``also``, leaving out ``without``, optionally only those containing
    ``search``; and how many there are in all. For the fleet page's tail of models with no
    verdict: a bounded page however many models are registered."""
    names = select(Model.name.label("name"))
    if (mine := visible_models(project)) is not None:
        names = names.where(Model.name.in_(mine))
    extra = cast(bindparam("also", list(also) or [""], type_=ARRAY(String)), ARRAY(String))
    pool = names.union(select(func.unnest(extra).label("name"))).subquery()
    wanted = select(pool.c.name).where(pool.c.name != "", pool.c.name.not_in(list(without)))
    if search:
        wanted = wanted.where(pool.c.name.ilike(contains_pattern(search), escape=LIKE_ESCAPE))
    total = session.scalar(select(func.count()).select_from(wanted.subquery())) or 0
    page = session.scalars(wanted.order_by(pool.c.name).offset(offset).limit(limit))
    return list(page), int(total)


def versions_of(session: Session, name: str, *, project: int | None) -> list[Model]:
    """The model's versions, oldest first (none when the caller may not see it)."""
    stmt = select(Model).where(Model.name == name).order_by(Model.created_at)
    if (mine := visible_models(project)) is not None:
        stmt = stmt.where(Model.name.in_(mine))
    return list(session.scalars(stmt))


def is_known(session: Session, name: str) -> bool:
    """Whether any version of the model has been seen or registered."""
    return session.scalars(select(Model.id).where(Model.name == name)).first() is not None


def record_dataset(session: Session, name: str, version: str, summary: dict[str, Any]) -> Model:
    """Remember the dataset exported for the version (its manifest's summary)."""
    return _upsert(session, name, version, {"dataset": summary})


@dataclass(frozen=True)
class VersionScores:
    """One version: its reported F1s, production's, and its dataset."""

    version: str
    created_at: datetime
    training_f1: float | None
    validation_f1: float | None
    production_f1: float | None
    # The window production's F1 comes from (the newest with enough labels of the version).
    production_window_end: datetime | None
    dataset: dict[str, Any] | None


def _f1(metrics: dict[str, Any] | None) -> float | None:
    value = (metrics or {}).get("f1")
    return float(value) if isinstance(value, int | float) else None


def version_scores(
    session: Session, name: str, latest: Sequence[runs.LatestRun]
) -> list[VersionScores]:
    """The model's newest versions, newest first, with training, validation and production
    F1 (production: the newest window, of any monitor, holding enough labels of it).
    ``latest``: the model's ``runs.latest_per_monitor``, which the caller has loaded."""
    versions = session.scalars(
        select(Model)
        .where(Model.name == name)
        .order_by(Model.created_at.desc(), Model.id.desc())
        .limit(VERSIONS_SHOWN)
    ).all()
    by_run = {r.run_id: r for r in latest}
    check, metric = PRODUCTION_F1
    production: dict[str, tuple[datetime, float]] = {}
    for mv in runs.metric_values(session, list(by_run), check=check, metric=metric):
        if mv.feature is None:
            continue
        end = by_run[mv.run_id].window_end
        if mv.feature not in production or production[mv.feature][0] < end:
            production[mv.feature] = (end, mv.value)
    out = []
    for m in versions:
        seen = production.get(m.version)
        out.append(
            VersionScores(
                version=m.version,
                created_at=m.created_at,
                training_f1=_f1(m.training_metrics),
                validation_f1=_f1(m.validation_metrics),
                production_f1=seen[1] if seen else None,
                production_window_end=seen[0] if seen else None,
                dataset=m.dataset,
            )
        )
    return out
