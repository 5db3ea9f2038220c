"""What a judge may be: the input the API, the CLI and ``driftline monitors apply`` share."""

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.fields import Name
from app.judges.rubrics import BUILT_IN, CUSTOM, PASS_FAIL, SCORE, check_template

RubricName = Literal[
    "correctness", "helpfulness", "faithfulness", "safety", "prompt_attack", "custom"
]
assert set(RubricName.__args__) == {*BUILT_IN, CUSTOM}  # type: ignore[attr-defined]

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,199}$"


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url: {value!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ValueError("base_url: put the key in api_key_env or api_key_file, not the URL")
    return value


class _JudgeFields(BaseModel):
    """Fields a create and a patch share (a patch: any subset)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    base_url: Annotated[str, Field(max_length=500)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    api_key_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    api_key_file: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    rubric: RubricName | None = None
    prompt_template: Annotated[str, Field(min_length=1, max_length=20_000)] | None = None
    answer: Literal["pass_fail", "score"] | None = None
    pass_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    budget: Annotated[int, Field(ge=1, le=10_000)] | None = None
    baseline_sample: Annotated[int, Field(ge=20, le=100_000)] | None = None
    concurrency: Annotated[int, Field(ge=1, le=64)] | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] | None = None
    max_retries: Annotated[int, Field(ge=0, le=10)] | None = None
    daily_token_cap: Annotated[int, Field(ge=1)] | None = None
    max_fail_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    anchors: Annotated[int, Field(ge=0, le=1000)] | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("prompt_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            check_template(value)
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> "_JudgeFields":
        if self.api_key_env and self.api_key_file:
            raise ValueError("give api_key_env or api_key_file, not both")
        return self


class JudgeIn(_JudgeFields):
    """``POST /v1/judges``: an OpenAI-compatible endpoint, a rubric and a budget.

    ``rubric``: a built-in one (correctness needs a reference answer: the event's feedback
    label), or ``custom`` with a ``prompt_template`` reading ``{prompt}``, ``{output}``,
    ``{reference}`` and an ``answer`` kind (``pass_fail`` or ``score``).
    """

    name: Name
    base_url: Annotated[str, Field(max_length=500)]
    model: Annotated[str, Field(min_length=1, max_length=200)]
    rubric: RubricName = "correctness"
    project: Name | None = Field(
        default=None, description="Operators' keys only: the project the judge belongs to."
    )

    @model_validator(mode="after")
    def _rubric_shape(self) -> "JudgeIn":
        if self.rubric == CUSTOM:
            if not self.prompt_template:
                raise ValueError("rubric custom needs a prompt_template")
            if self.answer is None:
                raise ValueError("rubric custom needs answer: pass_fail or score")
        elif self.prompt_template is not None or self.answer is not None:
            raise ValueError(
                f"rubric {self.rubric} is built in: prompt_template and answer are its own "
                "(use rubric: custom to write your own)"
            )
        return self


class JudgePatch(_JudgeFields):
    """``PATCH /v1/judges/{name}``: any subset; a change to what the judge answers (model,
    rubric, template, answer kind, pass threshold) starts a new judge version."""


# Fields whose change can change an answer: a new version, so old judgments are not reused.
VERSIONED = ("model", "rubric", "prompt_template", "answer", "pass_threshold")
DEFAULTS = {
    "pass_threshold": 0.5, "budget": 100, "baseline_sample": 1000, "concurrency": 4,
    "timeout_seconds": 30.0, "max_retries": 4, "anchors": 50,
}  # fmt: skip
ANSWER_KINDS = (PASS_FAIL, SCORE)
