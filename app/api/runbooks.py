"""The alert runbooks, found in the wheel or the checkout. The UI serves them (``/runbooks``)
so that an alert's ``runbook_url`` opens wherever Driftline runs (no key: they hold no data)."""

import re
from pathlib import Path

from app.errors import DriftlineError


def runbooks_dir() -> Path:
    """In the wheel (``app/_runbooks``) or beside ``app/`` in a checkout (``docs/runbooks``)."""
    packaged = Path(__file__).resolve().parent.parent / "_runbooks"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "docs" / "runbooks"


def runbook_text(name: str) -> str:
    """The Markdown of the runbook for an alert, e.g. ``drift-detected``; 404 if none."""
    if not re.fullmatch(r"[a-z0-9-]{1,64}", name):
        raise DriftlineError(404, "not_found", f"no runbook {name!r}")
    path = runbooks_dir() / f"{name}.md"
    if not path.is_file():
        raise DriftlineError(404, "not_found", f"no runbook {name!r}")
    return path.read_text()
