"""Judge response schemas (the inputs live with the service: app.judges.specs)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from app.db.models import Judge
from app.judges.specs import JudgeIn, JudgePatch

__all__ = ["JudgeIn", "JudgeList", "JudgeOut", "JudgePatch", "judge_out"]


class JudgeOut(BaseModel):
    """A judge. Where its key is read is shown; the key itself is never stored or shown."""

    model_config = ConfigDict(protected_namespaces=())

    name: str
    project: str
    base_url: str
    model: str
    api_key_env: str | None
    api_key_file: str | None
    rubric: str
    prompt_template: str | None
    answer: str
    pass_threshold: float
    budget: int
    baseline_sample: int
    concurrency: int
    timeout_seconds: float
    max_retries: int
    daily_token_cap: int | None
    max_fail_rate: float | None
    anchors: int
    version: int
    created_at: datetime
    updated_at: datetime


class JudgeList(BaseModel):
    """``GET /v1/judges``."""

    judges: list[JudgeOut]


def judge_out(j: Judge, project: str) -> JudgeOut:
    """ORM → API shape."""
    return JudgeOut(
        name=j.name, project=project, base_url=j.base_url, model=j.model,
        api_key_env=j.api_key_env, api_key_file=j.api_key_file, rubric=j.rubric,
        prompt_template=j.prompt_template, answer=j.answer, pass_threshold=j.pass_threshold,
        budget=j.budget, baseline_sample=j.baseline_sample, concurrency=j.concurrency,
        timeout_seconds=j.timeout_seconds, max_retries=j.max_retries,
        daily_token_cap=j.daily_token_cap, max_fail_rate=j.max_fail_rate, anchors=j.anchors,
        version=j.version, created_at=j.created_at,
        updated_at=j.updated_at,
    )  # fmt: skip
