"""Browser sign-in for the UI: a key with the ``read`` scope buys a session, and so does a
person the identity provider vouches for (``app/auth/oidc.py``: their groups decide the
project and scopes, fixed at sign-in). This module owns ``browser_sessions``.

The cookie carries a random 256-bit token and nothing else; only its SHA-256 is stored, next
to the key it stands for, a CSRF token and an expiry. A server-side row rather than a
self-contained signed cookie, because sign-out and key revocation must end a session at once
(a signed cookie stays valid until it expires, whoever deletes what). The key secret itself is
never kept: not in the cookie, not in the table, not in a page.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.auth.keys import Caller, KeyVerifier, scope_allows
from app.db.models import ApiKey, BrowserSession

# The scope a key needs to sign in: every page only reads.
SIGN_IN_SCOPE = "read"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A live browser session: who it is and the token its forms must carry."""

    caller: Caller
    csrf_token: str
    expires_at: datetime


class SignInRefused(Exception):
    """The key cannot sign in; the message says why, in words fit for the login page."""


def sign_in(
    session: Session, keys: KeyVerifier, key: str, *, lifetime: timedelta
) -> tuple[str, SignedIn]:
    """Check ``key`` and open a session for it (committed); returns the cookie token and the
    session. Expired sessions are swept on the way (bounded: one indexed delete per sign-in)."""
    caller = keys.verify(session, key.strip())
    if caller is None:
        raise SignInRefused("That key is not valid (unknown, mistyped or revoked).")
    if not scope_allows(list(caller.scopes), SIGN_IN_SCOPE):
        raise SignInRefused(
            f"That key lacks the '{SIGN_IN_SCOPE}' scope; an ingest-only key cannot sign in."
        )
    return _open(session, caller, BrowserSession(key_id=caller.key_id), lifetime)


# Identity-provider sessions have no key; their caller's key id is this (no key has it).
NO_KEY = 0


def sign_in_person(
    session: Session,
    subject: str,
    *,
    project_id: int | None,
    scopes: list[str],
    lifetime: timedelta,
) -> tuple[str, SignedIn]:
    """Open a session (committed) for a person the identity provider signed in, with the
    project (None: every project) and scopes their groups grant."""
    if not scope_allows(scopes, SIGN_IN_SCOPE):
        raise SignInRefused(f"Your groups grant no '{SIGN_IN_SCOPE}' access to Driftline.")
    caller = Caller(NO_KEY, subject, tuple(scopes), project_id)
    row = BrowserSession(subject=subject, project_id=project_id, scopes=scopes)
    return _open(session, caller, row, lifetime)


def _open(
    session: Session, caller: Caller, row: BrowserSession, lifetime: timedelta
) -> tuple[str, SignedIn]:
    now = datetime.now(UTC)
    session.execute(delete(BrowserSession).where(BrowserSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    row.token_sha256 = _digest(token)
    row.csrf_token = secrets.token_urlsafe(32)
    row.expires_at = now + lifetime
    session.add(row)
    session.commit()
    return token, SignedIn(caller=caller, csrf_token=row.csrf_token, expires_at=row.expires_at)


def signed_in(session: Session, token: str) -> SignedIn | None:
    """The session a cookie token stands for, or None: unknown, expired, or its key revoked
    or no longer allowed to read."""
    if not token or len(token) > 128:
        return None
    row = session.execute(
        select(BrowserSession, ApiKey)
        .outerjoin(ApiKey, ApiKey.id == BrowserSession.key_id)
        .where(
            BrowserSession.token_sha256 == _digest(token),
            BrowserSession.expires_at > datetime.now(UTC),
        )
    ).one_or_none()
    if row is None:
        return None
    browser, key = row
    if browser.subject is not None:  # a person: what their groups granted at sign-in
        scopes = list(browser.scopes or [])
        caller = Caller(NO_KEY, browser.subject, tuple(scopes), browser.project_id)
    elif key is None or key.revoked_at is not None:
        return None
    else:
        scopes, caller = list(key.scopes), Caller.of(key)
    if not scope_allows(scopes, SIGN_IN_SCOPE):
        return None
    return SignedIn(caller=caller, csrf_token=browser.csrf_token, expires_at=browser.expires_at)


def sign_out(session: Session, token: str) -> None:
    """End the session a cookie token stands for (nothing if there is none), and commit."""
    session.execute(delete(BrowserSession).where(BrowserSession.token_sha256 == _digest(token)))
    session.commit()


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a form's CSRF token with the session's."""
    return bool(given) and secrets.compare_digest(expected.encode(), (given or "").encode())
