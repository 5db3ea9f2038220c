"""FastAPI dependencies: the database handle, a session, and the caller's key with a scope."""

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.types import Scope

from app.auth.keys import Caller, KeyVerifier, scope_allows
from app.auth.oidc import IdentityProvider
from app.config import Settings
from app.errors import DriftlineError
from app.ingest import GroupCommitter
from app.models.ownership import ModelOwners
from app.models.predictions import RuleCache


@dataclass
class AppState:
    """What the app holds for its lifetime (set up in ``app.main.create_app``)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # Reads that may lag the primary by a moment (pages, lists, status, exports): a
    # streaming replica's when DRIFTLINE_READ_DATABASE_URL names one, else the primary's.
    read_sessions: sessionmaker[Session]
    keys: KeyVerifier
    owners: ModelOwners
    prediction_rules: RuleCache
    # Ingest writes: concurrent requests share transactions (app.ingest).
    ingest: GroupCommitter
    # The UI's sign-in through an identity provider (None: keys only).
    identity_provider: IdentityProvider | None = None


async def get_state(request: Request) -> AppState:
    """The app's long-lived state."""
    state: AppState = request.app.state.driftline
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A session per request; the route commits what it means to keep."""
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_read_session(state: StateDep) -> Iterator[Session]:
    """A read-only session per request, on the replica when one is configured: for what a
    moment's lag cannot make wrong (never for a read that decides a write)."""
    with state.read_sessions() as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def bearer_token(header: str) -> str:
    """The key from an ``Authorization: Bearer <key>`` header value; 401 if there is none."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DriftlineError(
            401,
            "unauthorized",
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


async def authenticate(state: AppState, header: str) -> Caller:
    """The caller behind an Authorization header value; 401 for a missing, unknown or
    revoked key. Async with a cache check first: the hot path costs no thread hop."""
    token = bearer_token(header)
    answered, caller = state.keys.cached(token)
    if not answered:

        def lookup() -> Caller | None:
            with state.sessions() as session:
                return state.keys.verify(session, token)

        caller = await run_in_threadpool(lookup)
    if caller is None:
        raise DriftlineError(
            401,
            "unauthorized",
            "invalid or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


# Where the body gate (app.api.limits) leaves the caller it verified, in the request state.
VERIFIED_CALLER = "driftline_caller"


async def caller_with_scope(asgi_scope: Scope, state: AppState, needed: str) -> Caller:
    """The caller (the one the body gate verified, else authenticated now), if its key has
    ``needed``: 401/403 otherwise. Takes the ASGI scope: the ingest routes build no request."""
    caller: Caller | None = asgi_scope.get("state", {}).get(VERIFIED_CALLER)
    if caller is None:
        caller = await authenticate(state, Headers(scope=asgi_scope).get("authorization", ""))
    if not scope_allows(list(caller.scopes), needed):
        raise DriftlineError(
            403,
            "forbidden",
            f"this key lacks the '{needed}' scope",
            {"required_scope": needed, "key_scopes": list(caller.scopes)},
        )
    return caller


async def ingest_context(asgi_scope: Scope) -> tuple[AppState, Caller]:
    """The app's state and an ingest caller, for the ingest routes, which call this directly
    instead of declaring dependencies: FastAPI's dependency solving was a quarter of the
    event loop's time per single-event request (py-spy, docs/benchmarks.md)."""
    state: AppState = asgi_scope["app"].state.driftline
    return state, await caller_with_scope(asgi_scope, state, "ingest")


def require_scope(scope: str) -> Callable[[Request, AppState], Awaitable[Caller]]:
    """A dependency that authenticates the caller (or takes the one the body gate verified)
    and demands ``scope``."""

    async def dependency(request: Request, state: StateDep) -> Caller:
        return await caller_with_scope(request.scope, state, scope)

    return dependency


ReadCaller = Annotated[Caller, Depends(require_scope("read"))]
AdminCaller = Annotated[Caller, Depends(require_scope("admin"))]
