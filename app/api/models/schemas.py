"""Model listing schemas."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ModelVersionOut(BaseModel):
    """One registered or observed version of a model."""

    model_config = ConfigDict(from_attributes=True)

    version: str
    created_at: datetime
    training_metrics: dict[str, Any] | None
    validation_metrics: dict[str, Any] | None


class ModelOut(BaseModel):
    """A model with its versions and when it last sent traffic."""

    name: str
    versions: list[ModelVersionOut]
    last_event_at: datetime | None


class ModelList(BaseModel):
    """``GET /v1/models``."""

    models: list[ModelOut]


class MonitorStatus(BaseModel):
    """One monitor's latest finished window."""

    monitor_id: int
    monitor: str
    verdict: str | None
    retraining_recommended: bool
    window_start: datetime | None
    window_end: datetime | None
    run_id: int | None
    report_url: str | None
    checks: dict[str, str]


class ModelStatus(BaseModel):
    """``GET /v1/models/{name}/status``: is this model healthy, in one call."""

    model_config = ConfigDict(protected_namespaces=())

    model: str
    verdict: str
    retraining_recommended: bool
    monitors: list[MonitorStatus]
