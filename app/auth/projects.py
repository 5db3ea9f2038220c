"""Projects: a team's space. A key bound to a project sees and writes only its models (see
``app.models.ownership``); a key without a project (an operator's) sees every project and
manages them. This module owns ``projects``."""

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.db.models import Project
from app.errors import DriftlineError

DEFAULT_PROJECT = "default"


def create_project(session: Session, name: str) -> Project:
    """A new project; 409 when the name is taken."""
    if session.scalars(select(Project.id).where(Project.name == name)).first() is not None:
        raise DriftlineError(409, "conflict", f"a project named {name!r} exists")
    project = Project(name=name)
    session.add(project)
    session.flush()
    session.commit()
    return project


def list_projects(session: Session) -> list[Project]:
    """Every project, oldest first."""
    return list(session.scalars(select(Project).order_by(Project.id)))


def project_by_id(session: Session, project_id: int) -> Project | None:
    """The project with this id, or None."""
    return session.get(Project, project_id)


def project_named(session: Session, name: str) -> Project | None:
    """The project with this name, or None."""
    return session.scalars(select(Project).where(Project.name == name)).first()


def default_project_id(session: Session | Connection) -> int:
    """The ``default`` project's id (created if a fresh database has none yet)."""
    session.execute(
        insert(Project).values(name=DEFAULT_PROJECT).on_conflict_do_nothing(index_elements=["name"])
    )
    found = session.execute(select(Project.id).where(Project.name == DEFAULT_PROJECT))
    return int(found.scalar_one())
