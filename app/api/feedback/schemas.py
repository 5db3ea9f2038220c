"""Feedback request/response schemas."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.fields import Id, Name, PlausibleTs


class FeedbackIn(BaseModel):
    """Ground truth and/or a score for one event, keyed by ``(model, request_id)``."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    model: Name
    request_id: Id
    label: str | None = Field(default=None, description="The correct answer (ground truth).")
    reference: str | None = Field(
        default=None,
        description="The correct output text, for a model that writes text (a reference "
        "answer): windows compare the model's outputs with it (chrF, ROUGE-L, embedding "
        "similarity) and a correctness judge reads it.",
    )
    score: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, description="A quality score in [0, 1], e.g. from a rater or a judge."
    )
    thumbs: bool | None = Field(default=None, description="true = thumbs up, false = down.")
    source: Annotated[str, StringConstraints(max_length=200)] | None = None
    ts: PlausibleTs | None = Field(
        default=None,
        description="When the truth was established; now if absent. Retention goes by when "
        "Driftline received it, never by this.",
    )

    @model_validator(mode="after")
    def _carries_something(self) -> "FeedbackIn":
        if all(v is None for v in (self.label, self.reference, self.score, self.thumbs)):
            raise ValueError("feedback needs at least one of label, reference, score, thumbs")
        return self


class FeedbackResult(BaseModel):
    """What a feedback request stored (after COMMIT)."""

    accepted: int = Field(description="Feedback items stored or merged into earlier feedback.")
    sanitized: int = Field(description="Items whose text had NUL characters replaced.")
    redacted: int = Field(
        default=0, description="PII spans replaced in labels (only with DRIFTLINE_REDACT_PII)."
    )
