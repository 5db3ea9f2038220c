"""``GET /v1/models``."""

from fastapi import APIRouter
from sqlalchemy import func, select

from app.api.deps import ReadCaller, SessionDep
from app.api.models.schemas import ModelList, ModelOut, ModelVersionOut
from app.db.models import Event, Model

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelList, summary="List models and their versions")
def list_models(session: SessionDep, _: ReadCaller) -> ModelList:
    """Every model seen in traffic, its versions, and the time of its latest event."""
    versions = session.scalars(select(Model).order_by(Model.name, Model.created_at)).all()
    # One index probe per model on ix_events_model_ts, not a scan of events.
    last_seen = select(func.max(Event.ts)).where(Event.model == Model.name).scalar_subquery()
    latest = {
        name: ts for name, ts in session.execute(select(Model.name, last_seen).group_by(Model.name))
    }
    by_name: dict[str, list[ModelVersionOut]] = {}
    for m in versions:
        by_name.setdefault(m.name, []).append(ModelVersionOut.model_validate(m))
    return ModelList(
        models=[
            ModelOut(name=name, versions=vs, last_event_at=latest.get(name))
            for name, vs in by_name.items()
        ]
    )
