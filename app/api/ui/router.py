"""The web UI: sign-in, the fleet, a model, a window, runbooks and the API docs.

Server-rendered (Jinja2, autoescaped: logged text is always shown as text) with one small
script for the charts (uPlot). Every asset is vendored under ``static/`` and served here, so
a page never makes a request that leaves Driftline.
"""

import inspect
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy.orm import Session

from app.api.deps import AppState, ReadSessionDep, SessionDep, StateDep
from app.api.exports.router import retraining_response
from app.api.feedback.router import store_feedback
from app.api.params import NO_NUL, Int8Id
from app.api.runbooks import runbook_text, runbooks_dir
from app.api.runs.router import label_queue_response, report_response, visible_run
from app.api.ui import views
from app.api.ui.auth import (
    LOGIN_CSRF_COOKIE,
    PAGE_HEADERS,
    SESSION_COOKIE,
    Browser,
    SignInRequired,
    login_csrf_ok,
    login_url,
    safe_next,
    secure_cookies,
    set_login_csrf,
    set_session_cookie,
)
from app.auth.keys import scope_allows
from app.auth.oidc import ATTEMPT_SECONDS, Grant, LoginAttempt, sign_in_with_claims
from app.auth.sessions import SignedIn, SignInRefused, csrf_matches, sign_in, sign_out
from app.errors import DriftlineError
from app.events import browse
from app.monitoring import runs
from app.monitoring.results import RunStatus

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
ABSENT = "\u2013"  # an en dash where a figure is missing
templates.env.filters["pct"] = lambda v: ABSENT if v is None else f"{v:.0%}"
templates.env.filters["num"] = lambda v: ABSENT if v is None else f"{v:.4g}"
templates.env.filters["when"] = lambda d: ABSENT if d is None else d.strftime("%Y-%m-%d %H:%M")


def json_script(value: Any) -> Markup:
    """JSON to embed in a ``<script type="application/json">``: orjson (a 2,000-window page
    carries ~100k numbers) with ``<``, ``>`` and ``&`` escaped so no text can close the tag."""
    raw = orjson.dumps(value).decode()
    # Safe to mark: JSON text with every character that could end the element escaped.
    safe = raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(safe)  # noqa: S704


templates.env.filters["json_script"] = json_script

router = APIRouter(include_in_schema=False)

# Runbooks are Markdown written by us; raw HTML in them is still not passed through.
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
# Login forms are tiny; a bigger body is not a login.
LOGIN_MAX_BYTES = 4096


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the headers every page carries (and what every page may use: the
    verdicts and this server's base URL for the snippets it shows)."""
    shared = {"verdicts": views.VERDICTS, "base_url": str(request.base_url).rstrip("/")}
    response = templates.TemplateResponse(
        request, template, {**shared, **context}, status_code=status
    )
    response.headers.update(PAGE_HEADERS)
    return response


def not_found(request: Request, browser: Any, what: str) -> HTMLResponse:
    """The 404 page (another project's objects look absent too)."""
    return page(request, "not_found.html", 404, browser=browser, what=what)


# ---- sign-in -------------------------------------------------------------------------------


def _login_page(request: Request, status: int, next: str | None, error: str | None) -> Response:
    token = secrets.token_urlsafe(32)
    state: AppState = request.app.state.driftline
    sso = state.settings.oidc_provider_name if state.identity_provider else None
    response = page(
        request, "login.html", status, next=safe_next(next), error=error, csrf=token, sso=sso
    )
    set_login_csrf(response, request, token)
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in page: paste a key with the read scope."""
    return _login_page(request, 200, next, None)


@router.post("/login")
async def login(
    request: Request,
    state: StateDep,
    key: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the key; on success set the session cookie and go where the user was headed."""
    error: str | None = None
    status = 200
    if not login_csrf_ok(request, csrf):
        error, status = "The form expired or came from another site; try again.", 403
    else:
        lifetime = timedelta(hours=state.settings.ui_session_hours)

        def open_session() -> str:
            with state.sessions() as session:
                token, _ = sign_in(session, state.keys, key, lifetime=lifetime)
                return token

        try:
            token = await run_in_threadpool(open_session)
        except SignInRefused as refused:
            error, status = str(refused), 401
        else:
            response = RedirectResponse(safe_next(next), status_code=303)
            set_session_cookie(response, request, token, int(lifetime.total_seconds()))
            response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
            return response
    return _login_page(request, status, next, error)


# The sign-in attempt (state, nonce, PKCE verifier, where to go) while the browser is at the
# identity provider. SameSite=Lax: it must come back with the provider's redirect.
OIDC_COOKIE = "driftline_oidc"
OIDC_PATH = "/login/oidc"


def _redirect_uri(state: AppState) -> str:
    return f"{state.settings.ui_url}{OIDC_PATH}/callback"


@router.get(OIDC_PATH)
async def oidc_start(request: Request, state: StateDep, next: str | None = None) -> Response:
    """Send the browser to the identity provider (OIDC authorization code flow with PKCE)."""
    provider = state.identity_provider
    if provider is None:
        return _login_page(request, 404, next, "Sign-in through an identity provider is off.")
    try:
        url, attempt = await provider.start(_redirect_uri(state), safe_next(next))
    except SignInRefused as refused:
        return _login_page(request, 502, next, str(refused))
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        OIDC_COOKIE, attempt.to_cookie(), max_age=ATTEMPT_SECONDS, httponly=True,
        samesite="lax", secure=secure_cookies(request), path=OIDC_PATH,
    )  # fmt: skip
    return response


@router.get(f"{OIDC_PATH}/callback")
async def oidc_callback(
    request: Request,
    state: StateDep,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    returned_state: Annotated[str | None, Query(alias="state", max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The provider's answer: verify it, open a session with what the person's groups grant,
    and go where they were headed."""
    provider = state.identity_provider
    attempt = LoginAttempt.from_cookie(request.cookies.get(OIDC_COOKIE, ""))
    target = attempt.next if attempt else "/"
    if provider is None:
        return _login_page(request, 404, target, "Sign-in through an identity provider is off.")
    if error:
        return _login_page(request, 401, target, f"The identity provider said no ({error}).")
    if attempt is None or not code or not returned_state:
        return _login_page(
            request, 400, target, "That sign-in expired or did not start in this browser."
        )
    settings = state.settings
    groups = {name: Grant(g.project, tuple(g.scopes)) for name, g in settings.oidc_groups.items()}
    lifetime = timedelta(hours=settings.ui_session_hours)
    try:
        claims = await provider.finish(
            attempt, _redirect_uri(state), code=code, state=returned_state
        )

        def open_session() -> str:
            with state.sessions() as session:
                token, _ = sign_in_with_claims(
                    session, claims, claim=settings.oidc_groups_claim, groups=groups,
                    lifetime=lifetime,
                )  # fmt: skip
                return token

        token = await run_in_threadpool(open_session)
    except SignInRefused as refused:
        response = _login_page(request, 403, target, str(refused))
        response.delete_cookie(OIDC_COOKIE, path=OIDC_PATH)
        return response
    # A page, not a redirect: the session cookie is SameSite=Strict, and a redirect chain
    # that began at the provider is cross-site, so the next page would not get it.
    response = page(request, "signed_in.html", next=safe_next(target))
    set_session_cookie(response, request, token, int(lifetime.total_seconds()))
    response.delete_cookie(OIDC_COOKIE, path=OIDC_PATH)
    return response


@router.post("/logout")
async def logout(
    request: Request,
    state: StateDep,
    browser: Browser,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """End the session (the form carries the session's CSRF token)."""
    if not csrf_matches(browser.csrf_token, csrf):
        raise DriftlineError(403, "forbidden", "missing or wrong CSRF token")
    token = request.cookies.get(SESSION_COOKIE, "")

    def end() -> None:
        with state.sessions() as session:
            sign_out(session, token)

    await run_in_threadpool(end)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- pages ---------------------------------------------------------------------------------


@router.get("/")
def fleet_page(
    request: Request,
    session: ReadSessionDep,
    browser: Browser,
    verdict: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page_number: Annotated[int, Query(alias="page", ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    """The models, worst first, with their recent windows: a page at a time, searchable by
    name."""
    chosen = verdict if verdict in views.VERDICTS else None
    search = (q or "").strip() or None
    fleet = views.fleet(session, browser.caller.project_id, chosen, search=search, page=page_number)
    return page(
        request, "fleet.html", browser=browser, models=fleet.models, chosen=chosen,
        fleet=fleet, q=search or "", page_size=views.FLEET_PAGE,
        any_models=bool(fleet.total) or chosen is not None or search is not None,
    )  # fmt: skip


@router.get("/models/{name:path}")
def model_view(
    request: Request,
    name: Annotated[str, PathParam(max_length=200, pattern=NO_NUL)],
    session: ReadSessionDep,
    browser: Browser,
    windows: Annotated[int, Query(ge=1, le=views.MAX_CHART_WINDOWS)] = views.DEFAULT_CHART_WINDOWS,
    start: Annotated[str, Query(alias="from", max_length=40)] = "",
    end: Annotated[str, Query(alias="to", max_length=40)] = "",
) -> HTMLResponse:
    """One model: its monitors, baselines, charts over windows (the newest ``windows``, of
    a time range with ``from``/``to``), offline metrics."""
    try:
        since = views.parse_moment(start, "from") if start else None
        until = views.parse_moment(end, "to") if end else None
    except DriftlineError as invalid:
        since = until = None
        error: str | None = invalid.message
    else:
        error = None
    model = views.model_page(
        session, browser.caller.project_id, name, windows=windows, since=since, until=until
    )
    if model is None:
        return not_found(request, browser, f"model {name!r}")
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return page(
        request, "model.html", 422 if error else 200, browser=browser, model=model,
        windows=windows, since=since, until=until, error=error, now=now,
        ranges=views.EVENT_RANGES,
    )  # fmt: skip


_FILTER = Annotated[str, Query(max_length=200, pattern=NO_NUL)]


@router.get("/events")
def events_view(
    request: Request,
    session: ReadSessionDep,
    state: StateDep,
    browser: Browser,
    model: _FILTER = "",
    start: Annotated[str, Query(alias="from", max_length=40, pattern=NO_NUL)] = "",
    end: Annotated[str, Query(alias="to", max_length=40, pattern=NO_NUL)] = "",
    version: _FILTER = "",
    prediction: _FILTER = "",
    label: _FILTER = "",
    labelled: Annotated[str, Query(max_length=3)] = "",
    scored: Annotated[str, Query(max_length=3)] = "",
    flagged: Annotated[str, Query(max_length=3)] = "",
    metadata: Annotated[str, Query(max_length=400, pattern=NO_NUL)] = "",
    q: _FILTER = "",
    cursor: Annotated[str, Query(max_length=200, pattern=NO_NUL)] = "",
) -> HTMLResponse:
    """A model's events in a time range (the last day by default), filtered and searched as
    ``GET /v1/events`` does, newest first, a page at a time."""
    form = views.EventsForm(
        model=model, start=start, end=end, version=version, prediction=prediction,
        label=label, labelled=labelled, scored=scored, flagged=flagged, metadata=metadata, q=q,
    )  # fmt: skip
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    context: dict[str, Any] = {
        "form": form, "ranges": views.EVENT_RANGES, "cursor": cursor, "now": now,
    }  # fmt: skip
    if not model:
        return page(request, "events.html", browser=browser, **context)
    if not state.owners.sees(session, browser.caller.project_id, model):
        return not_found(request, browser, f"model {model!r}")
    try:
        flt = views.event_filter(form, now)
        found = browse.list_events(session, flt, cursor=cursor or None)
    except DriftlineError as refused:
        return page(request, "events.html", 422, browser=browser, error=refused.message, **context)
    return page(
        request, "events.html", browser=browser, flt=flt, found=found,
        excerpt=views.excerpt, **context,
    )  # fmt: skip


@router.get("/events/{model:path}/{request_id}")
def event_view(
    request: Request,
    model: Annotated[str, PathParam(max_length=200, pattern=NO_NUL)],
    request_id: Annotated[str, PathParam(max_length=200, pattern=NO_NUL)],
    session: ReadSessionDep,
    state: StateDep,
    browser: Browser,
) -> HTMLResponse:
    """One event: prompt, output, prediction, feedback, metadata and descriptors."""
    what = f"event {request_id!r} of {model!r}"
    if not state.owners.sees(session, browser.caller.project_id, model):
        return not_found(request, browser, what)
    event = browse.get_event(session, model, request_id)
    if event is None:
        return not_found(request, browser, what)
    return page(request, "event.html", browser=browser, e=event)


@router.get("/windows/{run_id}")
def window_view(
    request: Request, run_id: Int8Id, session: ReadSessionDep, state: StateDep, browser: Browser
) -> HTMLResponse:
    """One window: the verdict and why, every check, the examples, the report."""
    try:
        run = visible_run(session, state, browser.caller, run_id)
    except DriftlineError:
        return not_found(request, browser, f"window {run_id}")
    view = views.window_page(session, run)
    return page(
        request, "window.html", browser=browser, w=view,
        has_report=run.status == RunStatus.DONE, report_pending=run.report_due_at is not None,
    )  # fmt: skip


@router.get("/windows/{run_id}/report")
def window_report(
    run_id: Int8Id, session: ReadSessionDep, state: StateDep, browser: Browser
) -> Response:
    """Evidently's report for the window page's frame (sandboxed, no network)."""
    return report_response(visible_run(session, state, browser.caller, run_id, with_report=True))


@router.get("/windows/{run_id}/export")
def window_export(
    run_id: Int8Id, session: ReadSessionDep, state: StateDep, browser: Browser
) -> Response:
    """The retraining export (JSONL, PII-scrubbed) of this window's time range."""
    run = visible_run(session, state, browser.caller, run_id)
    model = runs.model_of(session, run)
    return retraining_response(
        state, browser.caller, model=model, since=run.window_start, until=run.window_end
    )


@router.get("/windows/{run_id}/label-queue.csv")
def window_label_queue(
    run_id: Int8Id, session: ReadSessionDep, state: StateDep, browser: Browser
) -> Response:
    """This window's label queue (CSV for an annotation tool, PII-scrubbed)."""
    return label_queue_response(session, visible_run(session, state, browser.caller, run_id), "csv")


@router.get("/compare")
def compare_view(
    request: Request,
    session: ReadSessionDep,
    state: StateDep,
    browser: Browser,
    a: Annotated[int, Query(ge=1, le=2**63 - 1)],
    b: Annotated[int, Query(ge=1, le=2**63 - 1)],
) -> HTMLResponse:
    """Two windows side by side: verdicts, every check, every stored figure with the change,
    the class mix; e.g. a window and the one before, or one version's window and another's."""
    try:
        run_a = visible_run(session, state, browser.caller, a)
        run_b = visible_run(session, state, browser.caller, b)
    except DriftlineError:
        return not_found(request, browser, f"windows {a} and {b}")
    return page(
        request, "compare.html", browser=browser, c=views.compare_page(session, run_a, run_b)
    )


@router.get("/compare/baseline/{run_id}")
def compare_baseline_view(
    request: Request, run_id: Int8Id, session: ReadSessionDep, state: StateDep, browser: Browser
) -> HTMLResponse:
    """A window beside its monitor's baseline: class mix and every figure the window stored
    the baseline's value of."""
    try:
        run = visible_run(session, state, browser.caller, run_id)
    except DriftlineError:
        return not_found(request, browser, f"window {run_id}")
    compared = views.compare_with_baseline(session, run)
    return page(request, "compare.html", browser=browser, c=compared)


# ---- labelling in the browser ------------------------------------------------------------

ANNOTATE_SCOPE = "annotate"


def _label_page(
    request: Request, session: Session, state: AppState, browser: SignedIn, run_id: int,
    after: str | None, status: int = 200, *, at: str | None = None, **extra: Any,
) -> HTMLResponse:  # fmt: skip
    try:
        run = visible_run(session, state, browser.caller, run_id)
    except DriftlineError:
        return not_found(request, browser, f"window {run_id}")
    allowed = scope_allows(list(browser.caller.scopes), ANNOTATE_SCOPE)
    view = views.label_view(session, run, runs.model_of(session, run), after=after, at=at)
    return page(
        request, "label.html", status if allowed else 403, browser=browser, v=view,
        allowed=allowed, **extra,
    )  # fmt: skip


@router.get("/windows/{run_id}/label")
def label_form(
    request: Request,
    run_id: Int8Id,
    session: SessionDep,
    state: StateDep,
    browser: Browser,
    after: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    at: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    saved: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
) -> HTMLResponse:
    """The window's label queue, one event at a time (``at``: that event first, as the event
    page's "Label it" asks), for a key with the ``annotate`` scope."""
    return _label_page(request, session, state, browser, run_id, after, at=at, saved=saved)


@router.post("/windows/{run_id}/label")
async def label_answer(
    request: Request,
    run_id: Int8Id,
    state: StateDep,
    browser: Browser,
    request_id: Annotated[str, Form(max_length=200, pattern=NO_NUL)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    action: Annotated[str, Form(max_length=8)] = "save",
    choice: Annotated[str, Form(max_length=200)] = "",
    label_text: Annotated[str, Form(max_length=2000)] = "",
    reference: Annotated[str, Form(max_length=20_000)] = "",
    score: Annotated[str, Form(max_length=20)] = "",
    thumbs: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Store one answer from the labelling view as feedback (its source: the signed-in name)
    and show the next event; ``action=skip`` stores nothing. The window is recomputed with
    the answer like any late label."""

    def refused(status: int, message: str) -> HTMLResponse:
        # A person sent this form: answer with the labelling page and why, not API JSON.
        with state.sessions() as session:
            return _label_page(
                request, session, state, browser, run_id, None, status, error=message
            )

    if not csrf_matches(browser.csrf_token, csrf):
        return await run_in_threadpool(
            refused, 403, "This form is out of date or came from another page: nothing was "
            "saved. Answer again below.",
        )  # fmt: skip
    if not scope_allows(list(browser.caller.scopes), ANNOTATE_SCOPE):
        return await run_in_threadpool(
            refused, 403, f"This sign-in lacks the '{ANNOTATE_SCOPE}' scope: nothing was saved."
        )

    def queued_model() -> str | None:
        with state.sessions() as session:
            try:
                run = visible_run(session, state, browser.caller, run_id)
            except DriftlineError:  # not this sign-in's window: the page says not found
                return None
            return runs.model_of(session, run) if views.in_label_queue(run, request_id) else None

    model = await run_in_threadpool(queued_model)
    if model is None:
        return await run_in_threadpool(
            refused, 422, f"{request_id!r} is not in this window's label queue: nothing was saved."
        )
    next_page = f"/windows/{run_id}/label?{urlencode({'after': request_id})}"
    if action == "skip":
        return RedirectResponse(next_page, status_code=303)
    try:
        answer = views.label_answer(
            model, request_id, choice=choice, label_text=label_text, reference=reference,
            score=score, thumbs=thumbs, source=browser.caller.name,
        )  # fmt: skip
    except ValueError as invalid:
        message = str(invalid)

        def again() -> HTMLResponse:
            with state.sessions() as session:
                return _label_page(
                    request, session, state, browser, run_id, None, 422, at=request_id,
                    error=message,
                )  # fmt: skip

        return await run_in_threadpool(again)
    await store_feedback(state, browser.caller, [answer])
    return RedirectResponse(f"{next_page}&{urlencode({'saved': request_id})}", status_code=303)


# ---- runbooks and API docs (no sign-in: they hold no data) ----------------------------------


@router.get("/runbooks")
def runbook_index(request: Request) -> HTMLResponse:
    """Every alert's runbook."""
    names = sorted(p.stem for p in runbooks_dir().glob("*.md") if p.stem != "README")
    return page(request, "runbooks.html", browser=None, names=names)


@router.get("/runbooks/{name}")
def runbook_page(request: Request, name: str) -> Response:
    """A runbook rendered as a page (``/runbooks/{name}.md`` serves the Markdown)."""
    if name.endswith(".md"):
        return Response(runbook_text(name[:-3]), media_type="text/markdown; charset=utf-8")
    try:
        text = runbook_text(name)
    except DriftlineError:
        return not_found(request, None, f"runbook {name!r}")
    title = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return page(
        request, "runbook.html", browser=None, name=name,
        title=title.group(1) if title else name, body=_markdown.render(text),
    )  # fmt: skip


_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    """Swagger UI from vendored assets (Authorize takes a Bearer key)."""
    response = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Driftline API",
        swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        swagger_ui_parameters={"persistAuthorization": False, "tryItOutEnabled": False},
    )
    response.headers["Content-Security-Policy"] = _DOCS_CSP
    return response


@router.get("/redoc")
def redoc() -> HTMLResponse:
    """ReDoc from vendored assets (no web fonts fetched)."""
    response = get_redoc_html(
        openapi_url="/openapi.json",
        title="Driftline API",
        redoc_js_url="/static/vendor/redoc/redoc.standalone.js",
        redoc_favicon_url="/static/favicon.svg",
        with_google_fonts=False,
    )
    response.headers["Content-Security-Policy"] = _DOCS_CSP
    return response


def install_ui(api: FastAPI) -> None:
    """Mount the pages, their static files and the sign-in redirect on ``api``."""
    api.include_router(router)
    api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    async def to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(login_url(exc.path), status_code=303)

    api.add_exception_handler(SignInRequired, to_login)

    # A page's address that fails its parameters' validation (a NUL byte, a number that is
    # not one, a value too long) is answered with a page saying so; the API keeps its JSON.
    pages = {getattr(route, "path", None) for route in router.routes}
    api_answer = api.exception_handlers[RequestValidationError]

    async def page_or_json(request: Request, exc: Exception) -> Response:
        if getattr(request.scope.get("route"), "path", None) not in pages:
            answer = api_answer(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        assert isinstance(exc, RequestValidationError)
        fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        return page(request, "invalid.html", 400, browser=None, fields=fields)

    api.add_exception_handler(RequestValidationError, page_or_json)
