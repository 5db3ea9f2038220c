"""``/runbooks/{name}``: the alert runbooks, served by Driftline itself so that an alert's
``runbook_url`` works wherever Prometheus scrapes it (no key: they hold no data)."""

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from app.api.errors import ERROR_RESPONSES
from app.errors import DriftlineError

router = APIRouter(tags=["runbooks"], responses={404: ERROR_RESPONSES[404]})


def runbooks_dir() -> Path:
    """In the wheel (``app/_runbooks``) or beside ``app/`` in a checkout (``docs/runbooks``)."""
    packaged = Path(__file__).resolve().parent.parent / "_runbooks"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "docs" / "runbooks"


@router.get("/runbooks/{name}", response_class=PlainTextResponse, summary="An alert runbook")
def runbook(name: str) -> PlainTextResponse:
    """The runbook (Markdown) for an alert, e.g. ``/runbooks/drift-detected``."""
    if not re.fullmatch(r"[a-z0-9-]{1,64}", name):
        raise DriftlineError(404, "not_found", f"no runbook {name!r}")
    path = runbooks_dir() / f"{name}.md"
    if not path.is_file():
        raise DriftlineError(404, "not_found", f"no runbook {name!r}")
    return PlainTextResponse(path.read_text(), media_type="text/markdown; charset=utf-8")
