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
