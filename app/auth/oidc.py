"""Sign-in through the identity provider: OpenID Connect's authorization code flow with PKCE.

Authlib drives the protocol (the authorization URL with its state and PKCE challenge, the
code exchange) and joserfc (Authlib's JOSE library) checks the ID token: its signature against
the provider's published keys, issuer, audience, expiry and our nonce. What the person may see
comes from one claim (``groups`` by default) mapped to a project and scopes by configuration;
it is fixed when the session opens (``app.auth.sessions.sign_in_person``). No token is kept.
"""

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from app.auth.projects import project_named
from app.auth.sessions import SignedIn, SignInRefused, sign_in_person

# The provider's discovery document and keys are fetched again after this long (keys rotate).
METADATA_SECONDS = 3600
# The browser has this long between leaving for the provider and coming back.
ATTEMPT_SECONDS = 600


@dataclass(frozen=True)
class Grant:
    """What members of one group may do: a project (None: every project) and scopes."""

    project: str | None
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class LoginAttempt:
    """What the browser carries (in a cookie) to the provider and back: the state that ties
    the answer to this browser, the nonce the ID token must echo, the PKCE verifier and where
    to go afterwards."""

    state: str
    nonce: str
    verifier: str
    next: str
    started: float

    def to_cookie(self) -> str:
        """The attempt as one cookie value (base64url JSON)."""
        raw = json.dumps([self.state, self.nonce, self.verifier, self.next, self.started])
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @classmethod
    def from_cookie(cls, value: str) -> "LoginAttempt | None":
        """The attempt a cookie holds, or None when it is missing, malformed or too old."""
        try:
            state, nonce, verifier, next_, started = json.loads(base64.urlsafe_b64decode(value))
            attempt = cls(str(state), str(nonce), str(verifier), str(next_), float(started))
        except (ValueError, TypeError):
            return None
        if time.time() - attempt.started > ATTEMPT_SECONDS:
            return None
        return attempt


def grant_for(claims: dict[str, Any], claim: str, groups: dict[str, Grant]) -> Grant:
    """The project and scopes a person's groups give them. A group mapped to every project
    wins (with every matching group's scopes); otherwise all matching groups must name the
    same project — a person in two projects' groups is refused rather than shown either."""
    value = claims.get(claim)
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    matched = [groups[g] for g in names if isinstance(g, str) and g in groups]
    if not matched:
        raise SignInRefused(
            f"Your account is in no group Driftline knows (claim '{claim}'); ask an "
            "administrator to map one of your groups to a project."
        )
    scopes = tuple(sorted({s for g in matched for s in g.scopes}))
    if any(g.project is None for g in matched):
        return Grant(None, scopes)
    projects = sorted({g.project for g in matched if g.project is not None})
    if len(projects) > 1:
        raise SignInRefused(
            f"Your groups map to several projects ({', '.join(projects)}); a session sees one. "
            "Ask an administrator to map one group of yours to every project you need."
        )
    return Grant(projects[0], scopes)


def sign_in_with_claims(
    session: Session,
    claims: dict[str, Any],
    *,
    claim: str,
    groups: dict[str, Grant],
    lifetime: timedelta,
) -> tuple[str, SignedIn]:
    """Open a session (committed) for the person a verified ID token names, with what their
    groups grant; returns the cookie token and the session."""
    grant = grant_for(claims, claim, groups)
    project_id = None
    if grant.project is not None:
        project = project_named(session, grant.project)
        if project is None:
            raise SignInRefused(
                f"Your group maps to project '{grant.project}', which does not exist (yet)."
            )
        project_id = project.id
    who = claims.get("email") or claims.get("preferred_username") or claims["sub"]
    return sign_in_person(
        session, str(who)[:320], project_id=project_id, scopes=list(grant.scopes),
        lifetime=lifetime,
    )  # fmt: skip


class IdentityProvider:
    """One OpenID Connect provider Driftline's UI signs people in with."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        scopes: str,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.timeout = timeout_seconds
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched = 0.0

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            # A public client (no secret) authenticates by PKCE alone.
            token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
            scope=self.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self.timeout,
        )

    async def metadata(self, *, refresh: bool = False) -> tuple[dict[str, Any], KeySet]:
        """The provider's discovery document and signing keys (cached for an hour)."""
        stale = time.monotonic() - self._fetched > METADATA_SECONDS
        if refresh or stale or self._metadata is None or self._keys is None:
            try:
                async with httpx.AsyncClient(timeout=self.timeout) as http:
                    found = await http.get(f"{self.issuer}/.well-known/openid-configuration")
                    found.raise_for_status()
                    metadata = found.json()
                    keys = await http.get(metadata["jwks_uri"])
                    keys.raise_for_status()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise SignInRefused(
                    f"The identity provider at {self.issuer} cannot be reached or answered "
                    f"oddly ({type(exc).__name__}); try again, or sign in with a key."
                ) from None
            self._metadata, self._keys = metadata, KeySet.import_key_set(keys.json())
            self._fetched = time.monotonic()
        return self._metadata, self._keys

    async def start(self, redirect_uri: str, next_path: str) -> tuple[str, LoginAttempt]:
        """Where to send the browser, and the attempt to remember in its cookie."""
        metadata, _ = await self.metadata()
        attempt = LoginAttempt(
            state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48), next=next_path, started=time.time(),
        )  # fmt: skip
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"], state=attempt.state,
                code_verifier=attempt.verifier, nonce=attempt.nonce,
            )  # fmt: skip
        return url, attempt

    async def finish(
        self, attempt: LoginAttempt, redirect_uri: str, *, code: str, state: str
    ) -> dict[str, Any]:
        """Exchange the code for tokens and return the verified ID token's claims."""
        if not secrets.compare_digest(attempt.state.encode(), state.encode()):
            raise SignInRefused("That sign-in did not start in this browser; try again.")
        metadata, keys = await self.metadata()
        try:
            async with self._client(redirect_uri) as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=attempt.verifier
                )
        except Exception as exc:  # Authlib raises its own errors and httpx's
            raise SignInRefused(
                f"The identity provider refused the sign-in ({type(exc).__name__}); try again."
            ) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused("The identity provider sent no ID token (is 'openid' a scope?)")
        return self._verify(id_token, keys, attempt.nonce)

    def _verify(self, id_token: str, keys: KeySet, nonce: str) -> dict[str, Any]:
        try:
            decoded = jwt.decode(id_token, keys)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                exp={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
        except JoseError as exc:
            raise SignInRefused(
                f"The identity provider's token was not accepted ({exc.error}: "
                f"{exc.description or 'invalid'}); sign in again."
            ) from None
        return dict(decoded.claims)
