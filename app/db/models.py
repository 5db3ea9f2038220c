"""ORM models: the tables of DESIGN.md's data model."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    REAL,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class Project(Base):
    """A team's space: it owns models, and a key bound to it sees only those models."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ModelProject(Base):
    """Which project owns a model name (claimed by the first key that writes for it)."""

    __tablename__ = "model_projects"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Indexed: lists filter by it, and a new name counts the project's models against its cap.
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="RESTRICT"), index=True
    )


class PredictionRule(Base):
    """How a model's prediction is read from its output when an event carries none (one rule
    per model name; see app.models.predictions)."""

    __tablename__ = "prediction_rules"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # output | json | regex
    field: Mapped[str | None] = mapped_column(String(200))
    pattern: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKey(Base):
    """An API key. Only the SHA-256 of the secret is stored; the prefix finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    # The project whose models the key sees and writes; None: every project (operators).
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BrowserSession(Base):
    """A browser signed in to the UI, with a key or through the identity provider (OIDC)
    (``app/auth/sessions.py`` owns this table)."""

    __tablename__ = "browser_sessions"
    __table_args__ = (
        CheckConstraint(
            "(key_id IS NULL) <> (subject IS NULL) AND (subject IS NULL OR scopes IS NOT NULL)",
            name="key_or_subject",
        ),
    )

    # SHA-256 of the cookie's random token: a copy of the table signs nobody in.
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Signed in with a key: the key (its scopes and project apply, its revocation too).
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    # Signed in through the identity provider: who, and what their groups granted then.
    subject: Mapped[str | None] = mapped_column(String(320))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    scopes: Mapped[list[str] | None] = mapped_column(ARRAY(String(16)))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


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
    # The summary of the manifest of the dataset exported for this version (app.exports.dataset).
    dataset: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Event(Base):
    """One logged model call, in the daily partition of its ``ts`` (see app.db.partitions).

    ``(model, request_id)`` is the idempotency key, held by ``event_keys``: a unique key on a
    partitioned table would have to include ``ts``, and a retry without a ``ts`` gets a new one.
    Every insert into ``events`` stores its rows' keys in the same statement (an AFTER INSERT
    statement trigger, migration 8c3f5a1d9e47), and fails whole if one is stored already.
    """

    __tablename__ = "events"
    __table_args__ = (
        # ts because the table is partitioned by it; the model because a distributed
        # PostgreSQL distributes the event tables by it (docs/scaling.md).
        PrimaryKeyConstraint("id", "ts", "model"),
        # Window queries: one model's events in a time range.
        Index("ix_events_model_ts", "model", "ts"),
        # The featuriser walks new events in arrival order.
        Index("ix_events_received_at", "received_at"),
        {"postgresql_partition_by": "RANGE (ts)"},
    )

    id: Mapped[int] = mapped_column(BigInteger)
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


class EventKey(Base):
    """The idempotency key of every stored event, written by the statement inserting it (the
    trigger on ``events``; see Event)."""

    __tablename__ = "event_keys"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The event's ts, so a late label finds its window without searching every partition
    # (NULL only for keys stored before this column existed and not found by the migration).
    ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Feedback(Base):
    """Ground truth or a score for an event, joined on ``(model, request_id)``.

    There is deliberately no foreign key to ``events``: feedback may arrive before its event.
    The latest feedback per ``(model, request_id)`` wins.
    """

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("model", "request_id"),
        Index("ix_feedback_model_received_at", "model", "received_at"),
        # Late labels: the worker walks newly received feedback from its watermark.
        Index("ix_feedback_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str | None] = mapped_column(Text)
    # The correct output text, for a model that writes text (a reference answer).
    reference: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    thumbs: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(200))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class EventFeatures(Base):
    """Descriptors of one event, computed once by the worker's featuriser.

    No foreign key: ``events`` is partitioned (its key is ``(id, ts, model)``); retention
    deletes an event's features along with it. The model is in the key so the table can be
    distributed by it beside ``events`` (docs/scaling.md).
    """

    __tablename__ = "event_features"

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    prompt_chars: Mapped[float] = mapped_column(Float)
    prompt_words: Mapped[float] = mapped_column(Float)
    prompt_nonletter_share: Mapped[float] = mapped_column(Float)
    output_chars: Mapped[float] = mapped_column(Float)
    output_words: Mapped[float] = mapped_column(Float)
    output_nonletter_share: Mapped[float] = mapped_column(Float)
    prompt_empty: Mapped[bool] = mapped_column(Boolean)
    output_empty: Mapped[bool] = mapped_column(Boolean)
    refusal: Mapped[bool] = mapped_column(Boolean)
    truncated: Mapped[bool] = mapped_column(Boolean)
    pii: Mapped[bool] = mapped_column(Boolean)
    language: Mapped[str] = mapped_column(String(16))
    featurised_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Baseline(Base):
    """A named holdout for a model; its profile (statistics, fitted embedder) is built once."""

    __tablename__ = "baselines"
    __table_args__ = (UniqueConstraint("model", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    # Frozen windows only: the version their events were taken from (None: every version).
    model_version: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # upload | window
    embedder: Mapped[str] = mapped_column(String(32))
    record_count: Mapped[int] = mapped_column(Integer)
    # pending → ready (profile built by the worker) or failed (error says why)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Pickled app.engine.window.BaselineProfile, zlib-compressed: written and read only by
    # Driftline's worker, so unpickling it trusts nothing but our own database.
    profile: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BaselineRecord(Base):
    """One record of a baseline holdout, as uploaded (kept for audit and re-profiling)."""

    __tablename__ = "baseline_records"
    __table_args__ = (Index("ix_baseline_records_baseline_id", "baseline_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    baseline_id: Mapped[int] = mapped_column(ForeignKey("baselines.id", ondelete="CASCADE"))
    prompt: Mapped[str] = mapped_column(Text)
    output: Mapped[str] = mapped_column(Text)
    prediction: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    # The model's probability for its prediction: calibrated against the labels, it lets
    # windows without labels estimate their quality.
    confidence: Mapped[float | None] = mapped_column(Float)
    perplexity: Mapped[float | None] = mapped_column(Float)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)


class Monitor(Base):
    """Which model (and version) to compare with which baseline, how often, how strictly."""

    __tablename__ = "monitors"
    # Names are unique within a project: one project's names neither collide with nor reveal
    # another's.
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The project of its model (the model's owner when the monitor was created).
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"))
    model: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(200))
    baseline_id: Mapped[int] = mapped_column(ForeignKey("baselines.id", ondelete="RESTRICT"))
    window_seconds: Mapped[int] = mapped_column(Integer)
    # Windows are aligned to multiples of window_seconds since this instant.
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Late events: a window is computed this long after it closes.
    delay_seconds: Mapped[int] = mapped_column(Integer, server_default="60")
    min_events: Mapped[int] = mapped_column(Integer, server_default="100")
    # Threshold overrides by name (app.engine.thresholds.Thresholds); never min_events.
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # The LLM judges (by name, in the model's project) that score a sample of each window.
    judges: Mapped[list[str]] = mapped_column(ARRAY(String(200)), server_default="{}")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # Every window starting before this instant has been planned (the backfill cursor; the
    # newest closed window is planned whatever it says).
    planned_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When a worker last claimed one of its windows: claims go round-robin by it.
    last_claim_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What last went wrong planning or computing this monitor, and how often anything has.
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_count: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Judge(Base):
    """An LLM judge: an OpenAI-compatible chat endpoint, a rubric and a budget (app.judges).

    The endpoint's API key is never stored: ``api_key_env`` / ``api_key_file`` name where the
    worker reads it. ``version`` rises whenever what the judge answers could change (its
    model, rubric, template, answer kind, pass threshold), so cached judgments of another
    version are never compared with this one's.
    """

    __tablename__ = "judges"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500))
    model: Mapped[str] = mapped_column(String(200))
    api_key_env: Mapped[str | None] = mapped_column(String(200))
    api_key_file: Mapped[str | None] = mapped_column(String(500))
    rubric: Mapped[str] = mapped_column(String(32))  # a built-in rubric's name, or custom
    prompt_template: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(String(16))  # pass_fail | score
    pass_threshold: Mapped[float] = mapped_column(Float, server_default="0.5")
    budget: Mapped[int] = mapped_column(Integer, server_default="100")
    baseline_sample: Mapped[int] = mapped_column(Integer, server_default="1000")
    concurrency: Mapped[int] = mapped_column(Integer, server_default="4")
    timeout_seconds: Mapped[float] = mapped_column(Float, server_default="30")
    max_retries: Mapped[int] = mapped_column(Integer, server_default="4")
    daily_token_cap: Mapped[int | None] = mapped_column(BigInteger)
    # An absolute limit on the share of failed answers (e.g. unsafe outputs), baseline or not.
    max_fail_rate: Mapped[float | None] = mapped_column(Float)
    # Baseline records re-judged once a day: answers that move mean the judge changed.
    anchors: Mapped[int] = mapped_column(Integer, server_default="50")
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Judgment(Base):
    """One judge version's answer about one event or baseline record, kept so that a
    recompute, a restart or a late label never pays for it twice.

    ``subject`` is ``event`` (``key`` = the event's request_id), ``baseline`` (``key`` = the
    baseline record's id) or ``anchor`` (a baseline record judged again on a day: ``key`` =
    ``<id>@<date>``); ``model`` is the judged model (the events' distribution column).
    An answer the judge gave off-format is kept with its ``error`` (asking again costs the
    same); a call that failed in transit is not kept.
    """

    __tablename__ = "judgments"
    __table_args__ = (
        # (model, subject, key) first: an event's judgments by any judge are one index range
        # (the retraining export's judge_failed, an event's page).
        UniqueConstraint("model", "subject", "key", "judge_id", "judge_version"),
        # The daily token cap: one judge's spend since midnight.
        Index("ix_judgments_judge_id_created_at", "judge_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    judge_id: Mapped[int] = mapped_column(ForeignKey("judges.id", ondelete="CASCADE"))
    judge_version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200))
    score: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MonitorRun(Base):
    """One window of one monitor. ``(monitor_id, window_start)`` is computed exactly once."""

    __tablename__ = "monitor_runs"
    __table_args__ = (
        UniqueConstraint("monitor_id", "window_start"),
        Index("ix_monitor_runs_status_window_start", "status", "window_start"),
        # Claims: each monitor's newest and oldest claimable window, by index probe.
        Index(
            "ix_monitor_runs_claimable",
            "monitor_id",
            "window_start",
            postgresql_where=text("status IN ('pending', 'running')"),
        ),
        # Reports waiting to be rendered (runs/reports.py), oldest first.
        Index(
            "ix_monitor_runs_report_due",
            "report_due_at",
            postgresql_where=text("report_due_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    baseline_id: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(24), server_default="pending")
    verdict: Mapped[str | None] = mapped_column(String(24))
    drift_signal: Mapped[bool | None] = mapped_column(Boolean)
    retraining_recommended: Mapped[bool] = mapped_column(Boolean, server_default="false")
    n_events: Mapped[int | None] = mapped_column(Integer)
    n_labels: Mapped[int | None] = mapped_column(Integer)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    report: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # When the report is due (rendered after the verdict, when no window waits); NULL when
    # it is stored or none is wanted. A claim moves it a lease ahead.
    report_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Claims of the due report so far (reset when the window is stored again).
    report_attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    timings: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    revision: Mapped[int] = mapped_column(Integer, server_default="0")
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MonitorRunRevision(Base):
    """A run's earlier result, kept when late labels made the worker recompute it."""

    __tablename__ = "monitor_run_revisions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("monitor_runs.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str | None] = mapped_column(String(24))
    n_labels: Mapped[int | None] = mapped_column(Integer)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MetricValueRow(Base):
    """The time series behind /metrics and the API: one number of one check of one run."""

    __tablename__ = "metric_values"
    __table_args__ = (
        Index("ix_metric_values_run_id", "run_id"),
        # The UI's charts read only window-level numbers, thousands of runs at a time: an
        # index-only scan of these, never the per-column values beside them.
        Index(
            "ix_metric_values_window_level",
            "run_id",
            postgresql_include=["check", "metric", "value", "threshold"],
            postgresql_where=text("feature IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("monitor_runs.id", ondelete="CASCADE"))
    check: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(64))
    feature: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str | None] = mapped_column(String(24))


class WindowRollup(Base):
    """A monitor's windows summarised per hour and per day (``bucket_seconds``), for charts
    over long ranges: how many windows and of which verdicts, their volume, and per check and
    window-level metric ``[count, sum, min, max, threshold sum, threshold count]``."""

    __tablename__ = "window_rollups"

    monitor_id: Mapped[int] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True
    )
    bucket_seconds: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    windows: Mapped[int] = mapped_column(Integer)
    verdicts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    n_events: Mapped[int] = mapped_column(BigInteger)
    n_labels: Mapped[int] = mapped_column(BigInteger)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB)


class JobWatermark(Base):
    """How far a worker job has read an append-mostly table (e.g. feedback for late labels)."""

    __tablename__ = "job_watermarks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[datetime] = mapped_column(DateTime(timezone=True))
