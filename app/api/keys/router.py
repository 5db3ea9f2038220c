"""``/v1/keys`` and ``/v1/projects``: manage keys without database access.

A key bound to a project manages that project's keys only; a key without a project (an
operator's) manages every project's and creates projects. Another project's key is a 404.
"""

from fastapi import APIRouter, Response

from app.api.deps import AdminCaller, SessionDep, StateDep
from app.api.errors import ERROR_RESPONSES
from app.api.keys.schemas import KeyIn, KeyList, KeyOut, ProjectIn, ProjectList, ProjectOut
from app.api.params import DEFAULT_PAGE, Int4Id, PageCursor, PageLimit
from app.auth.keys import Caller, create_key, list_keys, revoke_key, validate_scopes
from app.auth.projects import create_project, list_projects, project_by_id, project_named
from app.db.models import ApiKey
from app.db.paging import decode_id_cursor, page_of
from app.errors import DriftlineError

router = APIRouter(prefix="/v1", tags=["keys"], responses=ERROR_RESPONSES)


def _key_out(session: SessionDep, row: ApiKey, key: str | None = None) -> KeyOut:
    project = project_by_id(session, row.project_id) if row.project_id else None
    return KeyOut(
        id=row.id, name=row.name, prefix=row.prefix, scopes=list(row.scopes),
        project=project.name if project else None, created_at=row.created_at,
        revoked_at=row.revoked_at, key=key,
    )  # fmt: skip


def _operator(caller: Caller) -> None:
    if caller.project_id is not None:
        raise DriftlineError(
            403, "forbidden", "only a key without a project (an operator's) manages projects"
        )


@router.post("/keys", status_code=201, response_model=KeyOut, summary="Create an API key")
def post_key(body: KeyIn, session: SessionDep, caller: AdminCaller) -> KeyOut:
    """The answer holds the key itself, once; only its hash is stored."""
    try:
        scopes = validate_scopes(body.scopes)
    except ValueError as exc:
        raise DriftlineError(422, "invalid_input", f"scopes: {exc}") from None
    project_id = caller.project_id
    if body.project is not None:
        project = project_named(session, body.project)
        if project is None or (caller.project_id not in (None, project.id)):
            raise DriftlineError(404, "not_found", f"no project {body.project!r}")
        project_id = project.id
    row, key = create_key(session, name=body.name, scopes=scopes, project_id=project_id)
    return _key_out(session, row, key)


@router.get("/keys", response_model=KeyList, summary="List API keys")
def get_keys(
    session: SessionDep, caller: AdminCaller, limit: PageLimit = DEFAULT_PAGE,
    cursor: PageCursor = None,
) -> KeyList:  # fmt: skip
    """The keys the caller manages (its project's; every key for an operator's key), newest
    first, a page at a time (``next_cursor``)."""
    found = list_keys(
        session, project_id=caller.project_id,
        before=decode_id_cursor(cursor) if cursor else None, limit=limit + 1,
    )  # fmt: skip
    rows, next_cursor = page_of(found, limit, lambda k: (k.id,))
    return KeyList(keys=[_key_out(session, r) for r in rows], next_cursor=next_cursor)


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key")
def delete_key(
    key_id: Int4Id, session: SessionDep, state: StateDep, caller: AdminCaller
) -> Response:
    """Revokes at once in this process; other replicas stop accepting it within
    ``DRIFTLINE_API_KEY_CACHE_SECONDS``."""
    row = revoke_key(session, key_id_or_prefix=str(key_id), project_id=caller.project_id)
    if row is None:
        raise DriftlineError(404, "not_found", f"no key {key_id}")
    state.keys.clear()
    return Response(status_code=204)


@router.post("/projects", status_code=201, response_model=ProjectOut, summary="Create a project")
def post_project(body: ProjectIn, session: SessionDep, caller: AdminCaller) -> ProjectOut:
    """Operators only (a key without a project)."""
    _operator(caller)
    project = create_project(session, body.name)
    return ProjectOut.model_validate(project)


@router.get("/projects", response_model=ProjectList, summary="List projects")
def get_projects(session: SessionDep, caller: AdminCaller) -> ProjectList:
    """Every project for an operator's key; the key's own project otherwise."""
    if caller.project_id is None:
        found = list_projects(session)
    else:
        own = project_by_id(session, caller.project_id)
        found = [own] if own is not None else []
    return ProjectList(projects=[ProjectOut.model_validate(p) for p in found])
