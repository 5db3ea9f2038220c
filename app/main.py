"""The FastAPI app factory."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

import app
from app.api import health
from app.api.baselines.router import router as baselines_router
from app.api.baselines.schemas import BaselineIn
from app.api.deps import AppState
from app.api.errors import install_error_handlers
from app.api.events.router import accept_events, ingest_events
from app.api.events.router import router as events_router
from app.api.events.schemas import EventIn
from app.api.exports.router import router as exports_router
from app.api.feedback.router import accept_feedback, ingest_feedback
from app.api.feedback.router import router as feedback_router
from app.api.feedback.schemas import FeedbackIn
from app.api.hot_path import HotPathMiddleware, hot_routes
from app.api.judges.router import router as judges_router
from app.api.keys.router import router as keys_router
from app.api.limits import BodyGateMiddleware, RequestTimingMiddleware
from app.api.models.router import router as models_router
from app.api.monitors.router import router as monitors_router
from app.api.otlp.router import router as otlp_router
from app.api.runs.router import router as runs_router
from app.api.server import tune_garbage_collector
from app.api.ui.router import LOGIN_MAX_BYTES, install_ui
from app.auth.keys import KeyVerifier
from app.auth.oidc import IdentityProvider
from app.config import Settings, get_settings
from app.db.session import (
    make_engine,
    make_ingest_engine,
    make_read_engine,
    make_sessionmaker,
)
from app.ingest import GroupCommitter
from app.metrics.model_health import warm_latest_series
from app.metrics.process import INGEST_GROUP_EVENTS
from app.models.ownership import ModelOwners
from app.models.predictions import RuleCache


def _operation_id(route: APIRoute) -> str:
    """Stable OpenAPI operation ids (``tag-name``) so generated clients keep their names."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(database_url: str | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the app for ``database_url`` (default: ``DRIFTLINE_DATABASE_URL``)."""
    settings = settings or get_settings()
    url = database_url or settings.database_url
    if not url:
        raise RuntimeError(
            "DRIFTLINE_DATABASE_URL is not set; use `driftline up` for the embedded database"
        )
    engine = make_engine(url, settings)
    read_engine = make_read_engine(settings, engine)
    owners = ModelOwners(max_models_per_project=settings.max_models_per_project)
    rules = RuleCache()
    ingest_engine = make_ingest_engine(url, settings)
    ingest = GroupCommitter(
        ingest_engine, owners, rules,
        writers=settings.ingest_writers,
        max_rows=settings.ingest_group_max_events,
        max_queued_rows=settings.ingest_queue_max_events,
        linger_seconds=settings.ingest_linger_ms / 1000,
        retry_after=settings.retry_after_seconds,
        on_group=INGEST_GROUP_EVENTS.observe,
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        warming = warm_latest_series(engine) if settings.model_health_exporter == "api" else None
        yield
        if warming is not None:  # before the engine goes: it may still hold a connection
            await asyncio.to_thread(warming.join)
        await ingest.close()  # what was acknowledged is written; the rest gets 503
        await ingest_engine.dispose()
        engine.dispose()
        if read_engine is not engine:
            read_engine.dispose()

    api = FastAPI(
        # FastAPI's own OpenTelemetry hooks check the global providers on every request (5 %
        # of the event loop's time per single-event request); Driftline reports on itself
        # through its Prometheus metrics instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="Driftline",
        version=app.__version__,
        description="Monitoring for fine-tuned LLMs: log events, get drift and quality verdicts.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        # Served by the UI from vendored assets (no CDN): app/api/ui/router.py.
        docs_url=None,
        redoc_url=None,
    )
    api.state.driftline = AppState(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        read_sessions=make_sessionmaker(read_engine),
        keys=KeyVerifier(settings.api_key_cache_seconds),
        owners=owners,
        prediction_rules=rules,
        ingest=ingest,
        identity_provider=identity_provider(settings),
    )
    # Innermost of ours (added first): the ingest routes are served just inside the gate.
    api.add_middleware(
        HotPathMiddleware,
        routes=hot_routes(
            (events_router, feedback_router),
            {ingest_events: accept_events, ingest_feedback: accept_feedback},
        ),
    )
    api.add_middleware(
        BodyGateMiddleware,
        max_bytes=settings.max_body_bytes,
        overrides={"/v1/baselines": settings.max_upload_bytes, "/login": LOGIN_MAX_BYTES},
        max_inflight_bytes=settings.max_inflight_body_bytes,
        read_timeout=settings.body_read_timeout_seconds,
        retry_after=settings.retry_after_seconds,
    )
    api.add_middleware(RequestTimingMiddleware)
    install_error_handlers(api, retry_after=settings.retry_after_seconds)
    for router in (
        health.router, events_router, feedback_router, models_router, baselines_router,
        monitors_router, judges_router, runs_router, exports_router, keys_router, otlp_router,
    ):  # fmt: skip
        api.include_router(router)
    install_ui(api)

    def openapi() -> dict[str, Any]:
        # The ingest routes read their body by hand (one item or a batch, size-checked first),
        # so their item schemas must be added to the components explicitly.
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title,
                version=api.version,
                description=api.description,
                routes=api.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (EventIn, FeedbackIn, BaselineIn):
                item = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
                components.update(item.pop("$defs", {}))  # nested models become components
                components[model.__name__] = item
            # Every /v1 route takes a Bearer key: say so, so that Swagger's Authorize button
            # and generated clients send it.
            schema["components"]["securitySchemes"] = {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "dl_… key"}
            }
            for path, operations in schema.get("paths", {}).items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        operation["security"] = [{"bearerAuth": []}]
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    return api


def identity_provider(settings: Settings) -> IdentityProvider | None:
    """The UI's OIDC provider when one is configured (``DRIFTLINE_OIDC_*``)."""
    if not settings.oidc_issuer or not settings.oidc_client_id:
        return None
    return IdentityProvider(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        scopes=settings.oidc_scopes,
    )


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (``driftline api``; each worker process calls it)."""
    api = create_app()
    tune_garbage_collector()
    return api
