"""``/v1/models``: models seen in traffic, their health, and their offline metrics."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.deps import AdminCaller, ReadCaller, ReadSessionDep, SessionDep, StateDep
from app.api.errors import ERROR_RESPONSES
from app.api.models.schemas import (
    ModelList,
    ModelMetricsIn,
    ModelOut,
    ModelStatus,
    ModelVersionOut,
    MonitorStatus,
    PredictionRuleIn,
    PredictionRuleOut,
    VersionScoresOut,
)
from app.api.params import NO_NUL, ModelName
from app.db.paging import decode_cursor, encode_cursor, invalid_cursor
from app.errors import DriftlineError
from app.models import versions as model_versions
from app.models.predictions import delete_rule, rule_of, set_rule
from app.monitoring import monitors, runs
from app.monitoring.results import worst_verdict

router = APIRouter(prefix="/v1", tags=["models"], responses=ERROR_RESPONSES)


@router.get("/models", response_model=ModelList, summary="List models and their versions")
def list_models(
    session: SessionDep,
    caller: ReadCaller,
    limit: Annotated[int, Query(ge=1, le=model_versions.MAX_MODELS_PAGE)] = (
        model_versions.MODELS_PAGE
    ),
    cursor: Annotated[str | None, Query(max_length=400, pattern=NO_NUL)] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, pattern=NO_NUL, description="Name contains"),
    ] = None,
) -> ModelList:
    """The models (of the key's project) seen in traffic, by name, a page at a time (default
    100, at most 1,000; ``next_cursor``), optionally only names containing ``q``: each with
    its versions and the time of its latest event."""
    after = _name_after(cursor) if cursor else None
    page, last = model_versions.list_models(
        session, project=caller.project_id, limit=limit, after=after, search=q
    )
    return ModelList(
        models=[
            ModelOut(
                name=name, versions=[ModelVersionOut.model_validate(v) for v in versions],
                last_event_at=last_event_at,
            )
            for name, versions, last_event_at in page
        ],
        next_cursor=encode_cursor(last) if last else None,
    )  # fmt: skip


def _name_after(cursor: str) -> str:
    (name,) = decode_cursor(cursor, 1)
    if not isinstance(name, str) or not name or "\x00" in name:
        raise invalid_cursor()
    return name


@router.get(
    "/models/{name:path}/status", response_model=ModelStatus, summary="Is this model healthy?"
)
def model_status(
    name: ModelName, session: ReadSessionDep, state: StateDep, caller: ReadCaller
) -> ModelStatus:
    """Per monitor, the latest finished window with data (else the latest without enough),
    and the model's worst verdict across them; per version (the newest ten), training,
    validation and production F1 and the dataset exported for it."""
    state.owners.check(session, caller.project_id, name)
    found = monitors.list_monitors(session, project=None, model=name)
    latest = {r.monitor_id: r for r in runs.latest_per_monitor(session, model=name)}
    out = []
    for m in found:
        run = latest.get(m.id)
        out.append(
            MonitorStatus(
                monitor_id=m.id,
                monitor=m.name,
                verdict=run.verdict if run else None,
                retraining_recommended=bool(run and run.retraining_recommended),
                window_start=run.window_start if run else None,
                window_end=run.window_end if run else None,
                run_id=run.run_id if run else None,
                report_url=run.report_url if run else None,
                checks=run.results.check_statuses() if run else {},
            )
        )
    if not out and not model_versions.is_known(session, name):
        raise DriftlineError(404, "not_found", f"no model {name!r}")
    return ModelStatus(
        model=name,
        verdict=worst_verdict([s.verdict for s in out]),
        retraining_recommended=any(s.retraining_recommended for s in out),
        monitors=out,
        versions=[
            VersionScoresOut.model_validate(v)
            for v in model_versions.version_scores(session, name, list(latest.values()))
        ],
    )


@router.put(
    "/models/{name:path}/metrics",
    response_model=ModelVersionOut,
    summary="Report a model version's training and validation metrics",
)
def report_metrics(
    name: ModelName,
    body: ModelMetricsIn,
    session: SessionDep,
    state: StateDep,
    caller: AdminCaller,
) -> ModelVersionOut:
    """Store what the version scored offline, for the overfitting gap: the dashboards show
    training → validation → production side by side. Admin scope: every version and metric
    name becomes Prometheus series, which an ingest key must not be able to multiply. A split
    left out keeps its earlier values; the version is registered if traffic has not shown it
    yet."""
    state.owners.claim(session, caller.project_id, [name])
    row = model_versions.report_metrics(
        session, name, body.version, training=body.training, validation=body.validation
    )
    return ModelVersionOut.model_validate(row)


@router.get(
    "/models/{name:path}/prediction-rule",
    response_model=PredictionRuleOut,
    summary="How this model's prediction is read from its output",
)
def get_prediction_rule(
    name: ModelName, session: SessionDep, state: StateDep, caller: ReadCaller
) -> PredictionRuleOut:
    """The model's rule; 404 when it has none (events keep the prediction they carry)."""
    state.owners.check(session, caller.project_id, name)
    row = rule_of(session, name)
    if row is None:
        raise _no_rule(name)
    return PredictionRuleOut.model_validate(row)


@router.put(
    "/models/{name:path}/prediction-rule",
    response_model=PredictionRuleOut,
    summary="Read this model's prediction from its output",
)
def put_prediction_rule(
    name: ModelName, body: PredictionRuleIn, session: SessionDep, state: StateDep,
    caller: AdminCaller,
) -> PredictionRuleOut:  # fmt: skip
    """Events of this model that arrive without a ``prediction`` (OTLP spans, plain-text
    services) get the one the rule reads from their output: the whole output, a JSON field
    or a regex match. Applies to events ingested from now on (other api replicas within
    10 s); events that carry a prediction keep it. Admin scope: it changes what every
    window of the model measures."""
    state.owners.claim(session, caller.project_id, [name])
    row = set_rule(session, name, body.rule())
    state.prediction_rules.forget(name)
    return PredictionRuleOut.model_validate(row)


@router.delete(
    "/models/{name:path}/prediction-rule",
    status_code=204,
    summary="Stop reading this model's prediction from its output",
)
def delete_prediction_rule(
    name: ModelName, session: SessionDep, state: StateDep, caller: AdminCaller
) -> Response:
    """Remove the rule; 404 when there was none."""
    state.owners.check(session, caller.project_id, name)
    if not delete_rule(session, name):
        raise _no_rule(name)
    state.prediction_rules.forget(name)
    return Response(status_code=204)


def _no_rule(name: str) -> DriftlineError:
    return DriftlineError(404, "not_found", f"model {name!r} has no prediction rule")
