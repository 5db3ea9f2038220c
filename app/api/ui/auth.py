"""Browser sign-in for the UI pages: the session cookie, the CSRF checks, the page headers.

The Bearer API is untouched; pages accept only the session cookie (``app/auth/sessions.py`` owns the
sessions), so a page can never be driven by a stolen key in a URL.
"""

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from app.api.deps import StateDep
from app.auth.sessions import SignedIn, csrf_matches, signed_in

SESSION_COOKIE = "driftline_session"
# Before sign-in there is no session to hold a CSRF token: the login form's token is also set
# as a cookie and the two must match (double submit), which a cross-site form cannot do.
LOGIN_CSRF_COOKIE = "driftline_login_csrf"

# Pages run only Driftline's own scripts and styles; nothing loads from anywhere else.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    """Raised by page dependencies; answered with a redirect to the login page."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def login_url(path: str) -> str:
    """The login page, coming back to ``path`` afterwards."""
    return "/login" if path in ("", "/") else f"/login?next={quote(path, safe='/')}"


def safe_next(path: str | None) -> str:
    """Where to go after sign-in: a path on this server only (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def secure_cookies(request: Request) -> bool:
    """Cookies are ``Secure`` when the page is served over HTTPS (directly or, with
    ``--proxy-headers``, behind a proxy that says so)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure over HTTPS, with an expiry."""
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="strict",
        secure=secure_cookies(request), path="/",
    )  # fmt: skip


def set_login_csrf(response: Response, request: Request, token: str) -> None:
    """The login form's token, also set as a short-lived cookie for the POST to match."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
        secure=secure_cookies(request), path="/login",
    )  # fmt: skip


def login_csrf_ok(request: Request, given: str | None) -> bool:
    """The login form's token matches its cookie."""
    return csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE, ""), given)


async def browser_session(request: Request, state: StateDep) -> SignedIn:
    """The signed-in browser behind a page request, else a redirect to the login page."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:

        def lookup() -> SignedIn | None:
            with state.sessions() as session:
                return signed_in(session, token)

        found = await run_in_threadpool(lookup)
        if found is not None:
            return found
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise SignInRequired(path)


Browser = Annotated[SignedIn, Depends(browser_session)]
