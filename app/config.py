"""All runtime settings in one place, read from the environment (prefix ``DRIFTLINE_``)."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The variables numpy, scikit-learn and torch read once, as they load their BLAS and OpenMP
# runtimes: a worker sets them to ``Settings.worker_threads`` before anything loads numpy.
WORKER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class OidcGroup(BaseModel):
    """What members of an identity-provider group may do in the UI."""

    project: str | None = Field(
        default=None, description="The project they see; unset: every project."
    )
    scopes: list[Literal["read", "ingest", "annotate", "admin"]] = Field(
        default=["read"], min_length=1, description="Their scopes ('read' at least to sign in)."
    )


class Settings(BaseSettings):
    """Driftline's settings. Every field can be set as ``DRIFTLINE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLINE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: `driftline up` starts the embedded server.",
    )
    read_database_url: str | None = Field(
        default=None,
        description="A streaming replica of the database to read from: the worker's window "
        "reads (once the replica has replayed everything the primary had when the window was "
        "claimed; otherwise from the primary), the UI's pages, event lists, model status and "
        "exports. Every write goes to DRIFTLINE_DATABASE_URL. Unset: everything reads the "
        "primary.",
    )
    replica_wait_seconds: float = Field(
        default=10.0,
        description="How long the worker waits for the replica to replay up to the primary "
        "before it reads a window from the primary instead (never from a lagging replica).",
    )
    database_url_file: Path | None = Field(
        default=None,
        description="A file holding the PostgreSQL URL (a mounted Kubernetes or Docker "
        "secret), read when DRIFTLINE_DATABASE_URL is unset; keeps the password out of the "
        "environment.",
    )
    database_password_file: Path | None = Field(
        default=None,
        description="A file holding only the database password (the same secret file the "
        "PostgreSQL image reads as POSTGRES_PASSWORD_FILE); it replaces the URL's password.",
    )
    data_dir: Path = Field(
        default=Path(".driftline"),
        description="Where the embedded PostgreSQL and the dev key live.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535, description="Port the api listens on.")
    public_url: str | None = Field(
        default=None,
        description="The address people open the UI at (behind an ingress, its https URL). "
        "Alert and runbook links are built from it (exported as driftline_public_url_info); "
        "unset: http://<host>:<port>, localhost for a wildcard host.",
    )

    max_body_bytes: int = 10 * 1024 * 1024
    max_batch_events: int = 1000
    max_models_per_project: int = Field(
        default=5000,
        ge=1,
        description="Model names one project may own: a key's first write for a new name "
        "past it is refused (403), so one key cannot flood the fleet with names.",
    )
    max_inflight_body_bytes: int = Field(
        default=512 * 1024 * 1024,
        description="Request body bytes one api process may hold at once (declared or read); "
        "past it, new bodies get 503 with Retry-After instead of more memory.",
    )
    body_read_timeout_seconds: float = Field(
        default=30.0, description="Longest wait for the next chunk of a request body (408)."
    )
    header_read_timeout_seconds: float = Field(
        default=10.0,
        description="Longest a connection may take to send a request's headers before it is "
        "closed (slow-loris clients).",
    )

    ingest_writers: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Group-commit writers per api process: each writes the ingest requests "
        "waiting for it in one transaction (one connection each).",
    )
    ingest_group_max_events: int = Field(
        default=5000, ge=1, description="Most events one group-commit transaction writes."
    )
    ingest_queue_max_events: int = Field(
        default=50_000,
        ge=1,
        description="Events an api process may hold waiting for a writer; past it, ingest "
        "requests get 503 with Retry-After instead of more memory.",
    )
    ingest_linger_ms: float = Field(
        default=0.0,
        ge=0,
        le=50,
        description="How long an idle writer waits for company when a lone request arrives "
        "(0: none; under load, requests gather while the previous group commits).",
    )

    db_pool_size: int = 10
    db_max_overflow: int = 20
    db_pool_timeout_seconds: float = 5.0
    db_connect_timeout_seconds: int = 3
    db_statement_timeout_ms: int = 30_000
    retry_after_seconds: int = 5

    api_key_cache_seconds: float = 10.0
    model_health_exporter: str = Field(
        default="api",
        pattern="^(api|worker)$",
        description="Who exports the model-health series read from the database: `api` "
        "(every api replica's /metrics: scrape one replica) or `worker` (one worker at a "
        "time, under an advisory lock: scrape every pod, each series still comes once).",
    )
    metrics_require_key: bool = Field(
        default=False,
        description="Make /metrics ask for a key with the read scope (model names, monitors "
        "and verdicts are in it); otherwise keep it on an internal network.",
    )
    ui_session_hours: float = Field(
        default=12.0,
        description="How long a browser stays signed in to the UI before it must sign in again.",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="The identity provider's issuer URL (OpenID Connect discovery at "
        "<issuer>/.well-known/openid-configuration). Set: the UI's login page offers sign-in "
        "through it; keys still work. Its redirect URI is "
        "<DRIFTLINE_PUBLIC_URL>/login/oidc/callback.",
    )
    oidc_client_id: str | None = Field(default=None, description="Driftline's client id there.")
    oidc_client_secret: str | None = Field(
        default=None, description="Its client secret (unset: a public client, PKCE only)."
    )
    oidc_client_secret_file: Path | None = Field(
        default=None, description="A file holding the client secret (a mounted secret)."
    )
    oidc_scopes: str = Field(
        default="openid email profile", description="Scopes asked of the provider."
    )
    oidc_groups_claim: str = Field(
        default="groups", description="The ID token claim listing the person's groups."
    )
    oidc_groups: dict[str, OidcGroup] = Field(
        default_factory=dict,
        description='Groups mapped to a project and scopes, as JSON: {"ml-team": {"project": '
        '"support", "scopes": ["read"]}, "sre": {"scopes": ["read", "admin"]}}. A person '
        "in no mapped group cannot sign in.",
    )
    oidc_provider_name: str = Field(
        default="your identity provider", description="How the login button names it."
    )
    retention_days: int | None = Field(
        default=None, description="Delete events and feedback older than this; unset keeps all."
    )
    redact_pii: bool = Field(
        default=False,
        description="Replace emails, phone numbers, card numbers, IBANs and IP addresses in "
        "prompts, outputs, labels and metadata with placeholders before they are stored.",
    )
    log_level: str = "info"
    log_format: str = Field(
        default="text",
        description="`text` (one line per record) or `json` (one JSON object per line, for "
        "log shippers).",
        pattern="^(text|json)$",
    )

    worker_poll_seconds: float = Field(
        default=10.0, description="How often the worker looks for new events and due windows."
    )
    run_lease_seconds: int = Field(
        default=600,
        description="A window claimed by a worker that then dies is retried after this long.",
    )
    worker_metrics_port: int | None = Field(
        default=9464,
        description="Where `driftline worker` serves its own /metrics and /healthz (0: "
        "not served). /healthz answers 503 once the worker has made no progress (a step "
        "begun, a window stored) for `run_lease_seconds`.",
    )
    worker_metrics_host: str = Field(
        default="0.0.0.0",  # noqa: S104 — a container's port is published deliberately
        description="Interface for the worker's /metrics and /healthz.",
    )
    window_sample_cap: int = Field(
        default=200_000,
        description="Windows with more events are computed on a deterministic sample of this "
        "size (hash of request_id); the event count stays exact.",
    )
    worker_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description="BLAS/OpenMP threads a worker process's numerical libraries may use. One: "
        "a window's matrices are small, and spare threads spin on the cores other workers "
        "need; scale with one worker process per core instead (docs/scaling.md).",
    )
    window_reports: str = Field(
        default="all",
        description="Which windows get an HTML report: `all` with data, or only `flagged` "
        "ones (any verdict but ok). Reports are rendered after the verdicts, when no window "
        "waits. A report costs about a second and 1-2 MB compressed per "
        "window: a fleet of one-minute monitors sets `flagged` (docs/scaling.md).",
        pattern="^(all|flagged)$",
    )
    max_pending_runs: int = Field(
        default=2_000,
        description="Most windows one monitor may have waiting; the planner fills its backfill "
        "up to this and a backfill request past it gets a 422.",
    )
    max_backfill_days: int = Field(
        default=366,
        description="How far back a monitor's start_at may lie (the retention period, when "
        "shorter, bounds it too).",
    )
    baseline_profile_cap: int = Field(
        default=100_000,
        description="Baselines with more records are profiled on a deterministic sample of "
        "this size, so profiling memory is bounded.",
    )
    max_upload_bytes: int = Field(
        default=200 * 1024 * 1024, description="Largest baseline upload accepted."
    )

    @property
    def backfill_days(self) -> int:
        """How far back windows may start: the backfill limit or the retention, if shorter."""
        if self.retention_days:
            return min(self.max_backfill_days, self.retention_days)
        return self.max_backfill_days

    @property
    def ui_url(self) -> str:
        """Where the UI is reached: the public URL, else this process's own address."""
        if self.public_url:
            return self.public_url
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")) or " " in value:
            raise ValueError(f"DRIFTLINE_PUBLIC_URL must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _oidc_complete(self) -> "Settings":
        if self.oidc_client_secret is None and self.oidc_client_secret_file is not None:
            secret = _read_secret("DRIFTLINE_OIDC_CLIENT_SECRET_FILE", self.oidc_client_secret_file)
            self.oidc_client_secret = secret
        if self.oidc_issuer:
            if not self.oidc_issuer.startswith(("https://", "http://")):
                raise ValueError("DRIFTLINE_OIDC_ISSUER must be an http(s) URL")
            if not self.oidc_client_id:
                raise ValueError("DRIFTLINE_OIDC_ISSUER is set: set DRIFTLINE_OIDC_CLIENT_ID too")
            if not self.oidc_groups:
                raise ValueError(
                    "DRIFTLINE_OIDC_ISSUER is set: map at least one group in DRIFTLINE_OIDC_GROUPS "
                    "(nobody could sign in otherwise)"
                )
        return self

    @model_validator(mode="after")
    def _url_from_files(self) -> "Settings":
        if self.database_url is None and self.database_url_file is not None:
            url = _read_secret("DRIFTLINE_DATABASE_URL_FILE", self.database_url_file)
            self.database_url = self._normalise_dsn(url)
        if self.database_url and self.database_password_file is not None:
            from sqlalchemy.engine import make_url  # it quotes what a URL cannot hold as is

            password = _read_secret("DRIFTLINE_DATABASE_PASSWORD_FILE", self.database_password_file)
            url_with = make_url(self.database_url).set(password=password)
            self.database_url = url_with.render_as_string(hide_password=False)
        return self

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _normalise_dsn(cls, value: str | None) -> str | None:
        """Accept the URL forms people paste (postgres://, postgresql://) and pin psycopg 3."""
        if not value:
            return None
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value


def _read_secret(variable: str, path: Path) -> str:
    """A mounted secret file's content, stripped; an unreadable or empty file is named."""
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise ValueError(f"{variable}: {path} is empty")
    return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
