"""ORM models: the tables of DESIGN.md's data model that exist so far."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    REAL,
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class ApiKey(Base):
    """An API key. Only the SHA-256 of the secret is stored; the prefix finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Model(Base):
    """A model version seen in traffic or registered, with optional offline metrics."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # '' rather than NULL so the unique key also holds for unversioned traffic.
    version: Mapped[str] = mapped_column(String(200), server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    training_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    validation_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Event(Base):
    """One logged model call. ``(model, request_id)`` is the idempotency key."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("model", "request_id"),
        # Window queries: one model's events in a time range.
        Index("ix_events_model_ts", "model", "ts"),
        # The featuriser walks new events in arrival order.
        Index("ix_events_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(200), server_default="")
    request_id: Mapped[str] = mapped_column(String(200))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    prompt: Mapped[str] = mapped_column(Text)
    output: Mapped[str] = mapped_column(Text)
    prediction: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    # Perplexity is derived from token_logprobs at ingest; the raw per-token list is not kept
    # (it would dominate storage and nothing downstream needs more than its mean and count).
    perplexity: Mapped[float | None] = mapped_column(Float)
    logprob_tokens: Mapped[int | None] = mapped_column(Integer)
    finish_reason: Mapped[str | None] = mapped_column(String(64))
    embedding: Mapped[list[float] | None] = mapped_column(ARRAY(REAL))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Feedback(Base):
    """Ground truth or a score for an event, joined on ``(model, request_id)``.

    There is deliberately no foreign key to ``events``: feedback may arrive before its event.
    The latest feedback per ``(model, request_id)`` wins.
    """

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("model", "request_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    thumbs: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(200))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
