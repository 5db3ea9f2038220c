"""API keys: generation, hashing, scope checks and a short-lived verification cache.

A key looks like ``dl_<12 hex prefix><43 url-safe secret>``. The prefix is stored in clear to
find the row; only the SHA-256 of the whole key is stored, and it is compared in constant time.
SHA-256 (not a slow password hash) is right here: the secret has 256 bits of entropy, so there
is nothing to brute-force, and every request verifies a key.
"""

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from cachetools import TTLCache
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ApiKey

# ``annotate``: label, score and answer events from the UI's labelling view (with ``read``, which
# every page needs); ``admin`` implies every scope.
SCOPES = ("ingest", "read", "annotate", "admin")
KEY_PREFIX = "dl_"
_PREFIX_HEX = 12


def hash_key(key: str) -> str:
    """SHA-256 hex digest of a full key."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None when it cannot be one of ours."""
    if not key.startswith(KEY_PREFIX) or len(key) < len(KEY_PREFIX) + _PREFIX_HEX + 20:
        return None
    return key[: len(KEY_PREFIX) + _PREFIX_HEX]


def generate_key() -> str:
    """A new random key (shown once, never stored)."""
    return KEY_PREFIX + secrets.token_hex(_PREFIX_HEX // 2) + secrets.token_urlsafe(32)


def validate_scopes(scopes: list[str]) -> list[str]:
    """Reject unknown scopes; return them de-duplicated in canonical order."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {unknown}; choose from {list(SCOPES)}")
    if not scopes:
        raise ValueError(f"give at least one scope from {list(SCOPES)}")
    return [s for s in SCOPES if s in scopes]


def create_key(
    session: Session, *, name: str, scopes: list[str], project_id: int | None = None
) -> tuple[ApiKey, str]:
    """Store a new key and return the row and the plaintext key (the only time it exists).
    ``project_id`` binds it to one project; None lets it see every project."""
    key = generate_key()
    prefix = key_prefix(key)
    assert prefix is not None
    row = ApiKey(
        name=name, prefix=prefix, secret_sha256=hash_key(key), scopes=validate_scopes(scopes),
        project_id=project_id,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.commit()
    return row, key


def list_keys(
    session: Session, *, project_id: int | None = None, before: int | None = None,
    limit: int | None = None,
) -> list[ApiKey]:  # fmt: skip
    """All keys (of one project when given), newest first, revoked ones included; a page of
    ``limit`` older than the id ``before`` when given."""
    stmt = select(ApiKey).order_by(ApiKey.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(ApiKey.id < before)
    if project_id is not None:
        stmt = stmt.where(ApiKey.project_id == project_id)
    return list(session.scalars(stmt))


def revoke_key(
    session: Session, *, key_id_or_prefix: str, project_id: int | None = None
) -> ApiKey | None:
    """Revoke by numeric id or prefix (within one project when given); returns the key, or
    None when there is no such key."""
    stmt = select(ApiKey)
    if project_id is not None:
        stmt = stmt.where(ApiKey.project_id == project_id)
    if key_id_or_prefix.isdigit():
        stmt = stmt.where(ApiKey.id == int(key_id_or_prefix))
    else:
        stmt = stmt.where(ApiKey.prefix == key_id_or_prefix)
    row = session.scalars(stmt).one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.commit()
    return row


def scope_allows(granted: list[str], needed: str) -> bool:
    """``admin`` implies every scope; otherwise the scope must be granted."""
    return needed in granted or "admin" in granted


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's id, name, scopes and project (None: every project)."""

    key_id: int
    name: str
    scopes: tuple[str, ...]
    project_id: int | None = None

    @classmethod
    def of(cls, key: ApiKey) -> "Caller":
        """The caller a stored key stands for."""
        return cls(
            key_id=key.id, name=key.name, scopes=tuple(key.scopes), project_id=key.project_id
        )


# Valid keys remembered per api process (more are looked up in the database each time).
KEY_CACHE_SIZE = 10_000


class KeyVerifier:
    """Checks keys against the database, caching hits for a few seconds.

    The cache saves a round trip per request on the hot ingest path; the price is that a
    revocation takes up to ``ttl`` seconds to reach other processes.
    """

    def __init__(self, ttl_seconds: float) -> None:
        # Bounded: a key's prefix is only cached once the key proved valid, but a deployment
        # with more keys than this just goes to the database for the rest.
        self._cache: TTLCache[str, tuple[str, Caller]] = TTLCache(
            maxsize=KEY_CACHE_SIZE, ttl=ttl_seconds, timer=time.monotonic
        )
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every cached key (after a revocation in this process)."""
        with self._lock:
            self._cache.clear()

    def cached(self, key: str) -> tuple[bool, Caller | None]:
        """``(True, caller-or-None)`` when the cache can answer without the database."""
        prefix = key_prefix(key)
        if prefix is None:
            return True, None
        with self._lock:
            hit = self._cache.get(prefix)
        if hit is None:
            return False, None
        digest, caller = hit
        return True, caller if hmac.compare_digest(digest, hash_key(key)) else None

    def verify(self, session: Session, key: str) -> Caller | None:
        """The caller for a valid, unrevoked key, else None (cache first, then the database)."""
        answered, caller = self.cached(key)
        if answered:
            return caller
        prefix = key_prefix(key)
        assert prefix is not None  # cached() answers for malformed keys
        row = session.scalars(
            select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        ).one_or_none()
        if row is None or not hmac.compare_digest(row.secret_sha256, hash_key(key)):
            return None
        caller = Caller.of(row)
        with self._lock:
            self._cache[prefix] = (row.secret_sha256, caller)
        return caller
