"""Judges: create, change, list and delete them, project by project (this module owns the
``judges`` table; ``app.judges.judgments`` owns their answers).

A judge belongs to a project: a key bound to a project sees and changes only its project's
judges, and another project's judge answers exactly like a missing one (404 by name, no
conflict naming it). A monitor names the judges it runs; they are looked up in the project
that owns the monitor's model.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.projects import default_project_id, project_named
from app.db.models import Judge, Monitor, Project
from app.errors import DriftlineError
from app.judges.endpoint import Endpoint
from app.judges.rubrics import BUILT_IN, CUSTOM, placeholders
from app.judges.specs import DEFAULTS, VERSIONED, JudgeIn, JudgePatch
from app.models.ownership import owner_of


def _not_found(name: str) -> DriftlineError:
    return DriftlineError(404, "not_found", f"no judge {name!r}")


def _project_for(session: Session, caller_project: int | None, requested: str | None) -> int:
    if caller_project is not None:
        if requested is not None:
            raise DriftlineError(
                422, "invalid_input", "project: a project-bound key creates judges in its own"
            )
        return caller_project
    if requested is None:
        return default_project_id(session)
    project = project_named(session, requested)
    if project is None:
        raise DriftlineError(422, "invalid_input", f"project: no project {requested!r}")
    return project.id


def create_judge(session: Session, body: JudgeIn, *, caller_project: int | None) -> Judge:
    """Store a new judge (version 1); 409 when the project has one of that name."""
    project_id = _project_for(session, caller_project, body.project)
    taken = select(Judge.id).where(Judge.project_id == project_id, Judge.name == body.name)
    if session.scalars(taken).first() is not None:
        raise DriftlineError(409, "conflict", f"a judge named {body.name!r} exists")
    values = body.model_dump(exclude={"project"}, exclude_none=True)
    judge = Judge(project_id=project_id, **{**DEFAULTS, **values})
    judge.answer = body.answer or (BUILT_IN[body.rubric].answer if body.rubric != CUSTOM else "")
    session.add(judge)
    session.flush()
    session.commit()
    return judge


def project_name(session: Session, judge: Judge) -> str:
    """The name of the project a judge belongs to."""
    project = session.get(Project, judge.project_id)
    return project.name if project else ""


def list_judges(session: Session, *, caller_project: int | None) -> list[Judge]:
    """The caller's project's judges (every project's for an operator), by name."""
    stmt = select(Judge).order_by(Judge.project_id, Judge.name)
    if caller_project is not None:
        stmt = stmt.where(Judge.project_id == caller_project)
    return list(session.scalars(stmt))


def get_judge(session: Session, name: str, *, caller_project: int | None) -> Judge:
    """The judge of that name the caller may see; 404 otherwise. Names are unique within a
    project: an operator's key, which sees every project, gets the oldest of that name."""
    stmt = select(Judge).where(Judge.name == name).order_by(Judge.id)
    if caller_project is not None:
        stmt = stmt.where(Judge.project_id == caller_project)
    judge = session.scalars(stmt).first()
    if judge is None:
        raise _not_found(name)
    return judge


def update_judge(session: Session, judge: Judge, patch: JudgePatch) -> Judge:
    """Apply a partial update; a change to what the judge answers starts a new version."""
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("api_key_env"):
        changes["api_key_file"] = None
    if changes.get("api_key_file"):
        changes["api_key_env"] = None
    rubric = changes.get("rubric", judge.rubric)
    if rubric != CUSTOM:
        if "prompt_template" in changes or "answer" in changes:
            raise DriftlineError(
                422, "invalid_input",
                f"rubric {rubric} is built in: prompt_template and answer are its own",
            )  # fmt: skip
        changes["prompt_template"] = None
        changes["answer"] = BUILT_IN[rubric].answer
    elif not (changes.get("prompt_template") or judge.prompt_template):
        raise DriftlineError(422, "invalid_input", "rubric custom needs a prompt_template")
    new_version = any(
        name in changes and changes[name] != getattr(judge, name) for name in VERSIONED
    )
    for name, value in changes.items():
        if value is None and name in DEFAULTS:
            continue  # a null in a patch leaves a setting with a default as it is
        setattr(judge, name, value)
    if new_version:
        judge.version += 1
    session.flush()
    session.commit()
    return judge


def apply_judge(session: Session, entry: dict[str, Any]) -> tuple[Judge, str]:
    """Create the judge an apply file describes, or bring the existing one of that name (in
    the entry's ``project``, else ``default``) to it: ``created``, ``configured`` or
    ``unchanged``. Fields the entry leaves out keep their value."""
    body = JudgeIn.model_validate(entry)
    project_id = _project_for(session, None, body.project)
    existing = session.scalars(
        select(Judge).where(Judge.project_id == project_id, Judge.name == body.name)
    ).first()
    if existing is None:
        return create_judge(session, body, caller_project=project_id), "created"
    fields = body.model_dump(exclude={"name", "project"}, exclude_unset=True)
    before = {k: getattr(existing, k) for k in fields}
    update_judge(session, existing, JudgePatch.model_validate(fields))
    changed = any(before[k] != getattr(existing, k) for k in fields)
    return existing, "configured" if changed else "unchanged"


def delete_judge(session: Session, judge: Judge) -> None:
    """Delete a judge and its cached judgments; 409 while a monitor of its project runs it."""
    users = session.scalars(
        select(Monitor.name).where(
            Monitor.project_id == judge.project_id,
            func.array_position(Monitor.judges, judge.name).is_not(None),
        )
    ).all()
    if users:
        raise DriftlineError(
            409, "conflict", f"judge {judge.name!r} is run by monitor(s) {sorted(users)}"
        )
    session.delete(judge)
    session.commit()


def check_monitor_judges(session: Session, model: str, names: list[str]) -> None:
    """Each judge a monitor names must exist in the project that owns its model (422)."""
    found = {j.name for j in _judges_named(session, model, names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise DriftlineError(
            422, "invalid_input", f"judges: no judge {missing} in the project of {model!r}"
        )


@dataclass(frozen=True)
class JudgeConfig:
    """What the worker needs to run one judge."""

    id: int
    name: str
    version: int
    template: str
    answer: str
    pass_threshold: float
    budget: int
    baseline_sample: int
    daily_token_cap: int | None
    max_fail_rate: float | None
    anchors: int
    endpoint: Endpoint

    @property
    def needs_reference(self) -> bool:
        """Whether the rubric reads a reference answer (only events with one are judged)."""
        return "reference" in placeholders(self.template)


def config_of(judge: Judge) -> JudgeConfig:
    """A stored judge → what the worker runs."""
    template = judge.prompt_template or BUILT_IN[judge.rubric].template
    return JudgeConfig(
        id=judge.id, name=judge.name, version=judge.version, template=template,
        answer=judge.answer, pass_threshold=judge.pass_threshold, budget=judge.budget,
        baseline_sample=judge.baseline_sample, daily_token_cap=judge.daily_token_cap,
        max_fail_rate=judge.max_fail_rate, anchors=judge.anchors,
        endpoint=Endpoint(
            base_url=judge.base_url, model=judge.model, api_key_env=judge.api_key_env,
            api_key_file=judge.api_key_file, timeout_seconds=judge.timeout_seconds,
            max_retries=judge.max_retries, concurrency=judge.concurrency,
        ),
    )  # fmt: skip


def monitor_judges(session: Session, model: str, names: list[str]) -> list[JudgeConfig]:
    """The configurations of the judges a monitor names (those that still exist), in order."""
    by_name = {j.name: j for j in _judges_named(session, model, names)}
    return [config_of(by_name[n]) for n in names if n in by_name]


def _judges_named(session: Session, model: str, names: list[str]) -> list[Judge]:
    """The judges of those names in the project that owns ``model``."""
    if not names:
        return []
    project = owner_of(session, model)
    stmt = select(Judge).where(Judge.project_id == project, Judge.name.in_(names))
    return list(session.scalars(stmt))
