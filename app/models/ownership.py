"""Which project owns each model (this module owns ``model_projects``).

A model belongs to the project of the first key that writes for it (an event, feedback, a
baseline, offline metrics); a key without a project (an operator's) sees every project, and
the models it creates go to ``default``. Ownership never moves, so each api process caches it.
Another project's model answers 404, exactly like a model that does not exist, so names do
not leak across projects.
"""

import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.auth.projects import default_project_id
from app.db.models import ModelProject
from app.errors import DriftlineError


def not_found(model: str) -> DriftlineError:
    """The answer for a model the caller may not see: the same as for one that is absent."""
    return DriftlineError(404, "not_found", f"no model {model!r}")


class ModelOwners:
    """Which project owns each model, cached per process (ownership never changes)."""

    def __init__(self, *, max_models_per_project: int | None = None) -> None:
        self._owner: dict[str, int] = {}
        self._lock = threading.Lock()
        self.max_models = max_models_per_project

    def _lookup(self, session: Session | Connection, models: set[str]) -> dict[str, int]:
        with self._lock:
            known = {m: self._owner[m] for m in models if m in self._owner}
        missing = models - set(known)
        if missing:
            rows = session.execute(
                select(ModelProject.model, ModelProject.project_id).where(
                    ModelProject.model.in_(missing)
                )
            ).all()
            found = {m: p for m, p in rows}
            with self._lock:
                self._owner.update(found)
            known.update(found)
        return known

    def claimed(self, project: int | None, models: set[str]) -> bool:
        """Whether every model has a known owner, answered from the cache alone (no query):
        then ``claim`` would change nothing. Raises ``claim``'s 404 for another project's
        model."""
        with self._lock:
            owners = [(m, self._owner.get(m)) for m in models]
        if any(owner is None for _, owner in owners):
            return False
        for model, owner in owners:
            if project is not None and owner != project:
                raise not_found(model)
        return True

    def claim(
        self, session: Session | Connection, project: int | None, models: Iterable[str]
    ) -> None:
        """Make sure the caller (bound to ``project``, or to none) may write for these models:
        unowned ones become its project's (``default`` for an unbound key); a model of another
        project raises the 404 an absent model gets. Commits with the caller's transaction."""
        wanted = set(models)
        owners = self._lookup(session, wanted)
        for model, owner in owners.items():
            if project is not None and owner != project:
                raise not_found(model)
        new = wanted - set(owners)
        if not new:
            return
        target = project if project is not None else default_project_id(session)
        if self.max_models is not None:
            owned = session.execute(
                select(func.count())
                .select_from(ModelProject)
                .where(ModelProject.project_id == target)
            ).scalar_one()
            if owned + len(new) > self.max_models:
                raise DriftlineError(
                    403, "forbidden",
                    f"this project owns {owned} models; {len(new)} new name(s) would pass its "
                    f"limit of {self.max_models} (DRIFTLINE_MAX_MODELS_PER_PROJECT)",
                )  # fmt: skip
        session.execute(
            insert(ModelProject)
            .values([{"model": m, "project_id": target} for m in sorted(new)])
            .on_conflict_do_nothing(index_elements=["model"])
        )
        # Another request may have claimed one first: read the owners back, then check.
        with self._lock:
            for m in new:
                self._owner.pop(m, None)
        for model, owner in self._lookup(session, new).items():
            if project is not None and owner != project:
                raise not_found(model)

    def sees(self, session: Session, project: int | None, model: str) -> bool:
        """Whether a caller bound to ``project`` (or to none: every model) may see ``model``;
        for routes that look an object up by id and answer 404 when it is not the caller's."""
        return project is None or self._lookup(session, {model}).get(model) == project

    def check(self, session: Session, project: int | None, model: str) -> None:
        """404 unless the caller may see ``model``."""
        if not self.sees(session, project, model):
            raise not_found(model)


def owner_of(session: Session | Connection, model: str) -> int | None:
    """The project that owns ``model`` (None: no key has written for it yet)."""
    found = session.execute(select(ModelProject.project_id).where(ModelProject.model == model))
    return found.scalar_one_or_none()


def project_or_default(session: Session | Connection, model: str) -> int:
    """The project that owns ``model``, or ``default`` for a model nobody has claimed."""
    return owner_of(session, model) or default_project_id(session)


def visible_models(project: int | None) -> Select[Any] | None:
    """For lists: the caller's project's model names, to filter ``model IN (...)`` on, or
    None when the caller sees every project."""
    if project is None:
        return None
    return select(ModelProject.model).where(ModelProject.project_id == project)
