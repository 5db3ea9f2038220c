"""Baseline request/response schemas."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.baselines.records import BaselineRecordIn
from app.fields import Name


class BaselineIn(BaseModel):
    """``POST /v1/baselines`` as JSON."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: Name
    name: Name
    embedder: Annotated[str, StringConstraints(pattern="^(tfidf|static|minilm)$")] = "tfidf"
    records: Annotated[list[BaselineRecordIn], Field(min_length=1)]


class BaselineFromWindowIn(BaseModel):
    """``POST /v1/baselines/from-window``: freeze a time range of production events."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: Name
    model_version: str | None = None
    name: Name
    start: datetime
    end: datetime
    embedder: Annotated[str, StringConstraints(pattern="^(tfidf|static|minilm)$")] = "tfidf"


class BaselineOut(BaseModel):
    """A baseline; ``status`` is ``pending`` until the worker has built its profile."""

    model_config = ConfigDict(from_attributes=True, protected_namespaces=())

    id: int
    model: str
    name: str
    source: str
    embedder: str
    record_count: int
    status: str
    error: str | None
    summary: dict[str, Any] | None
    window_start: datetime | None
    window_end: datetime | None
    created_at: datetime


class BaselineList(BaseModel):
    """``GET /v1/baselines``."""

    baselines: list[BaselineOut]
    next_cursor: str | None = Field(
        default=None, description="Pass back as `cursor` for the next page (null: the last)."
    )
