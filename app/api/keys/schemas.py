"""Key and project request/response schemas."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.fields import Name


class KeyIn(BaseModel):
    """``POST /v1/keys``."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    scopes: list[str] = Field(
        min_length=1, max_length=4, description="ingest, read, annotate, admin"
    )
    project: Name | None = Field(
        default=None,
        description="The project the key sees; omitted: the caller's own project (a key "
        "without a project may omit it to make another key that sees every project).",
    )


class KeyOut(BaseModel):
    """A key as listed (the secret is shown once, at creation, as ``key``)."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    project: str | None
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = Field(
        default=None, description="The key itself: only in the creation answer."
    )


class KeyList(BaseModel):
    """``GET /v1/keys``."""

    keys: list[KeyOut]
    next_cursor: str | None = Field(
        default=None, description="Pass back as `cursor` for the next page (null: the last)."
    )


class ProjectIn(BaseModel):
    """``POST /v1/projects``."""

    model_config = ConfigDict(extra="forbid")

    name: Name


class ProjectOut(BaseModel):
    """A project."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime


class ProjectList(BaseModel):
    """``GET /v1/projects``."""

    projects: list[ProjectOut]
