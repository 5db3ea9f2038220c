"""Model schemas: listing, status, and the offline metrics a training pipeline reports."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.models.predictions import Rule, compile_pattern

# Name the metrics as the quality check does (accuracy, precision, recall, f1) and the
# dashboards line training, validation and production up side by side.
MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
MetricValues = Annotated[dict[MetricName, Annotated[float, Field(allow_inf_nan=False)]],
                         Field(max_length=64)]  # fmt: skip


class ModelVersionOut(BaseModel):
    """One registered or observed version of a model."""

    model_config = ConfigDict(from_attributes=True)

    version: str
    created_at: datetime
    training_metrics: dict[str, Any] | None
    validation_metrics: dict[str, Any] | None


class ModelMetricsIn(BaseModel):
    """``PUT /v1/models/{name}/metrics``: what the model scored offline, per version."""

    model_config = ConfigDict(extra="forbid")

    version: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")] = ""
    training: MetricValues | None = Field(
        default=None, description='Scores on the training set, e.g. {"f1": 0.97}.'
    )
    validation: MetricValues | None = Field(
        default=None,
        description="Scores on the validation (holdout) set the model was "
        'accepted on, e.g. {"f1": 0.91}.',
    )

    @model_validator(mode="after")
    def _carries_a_split(self) -> "ModelMetricsIn":
        if self.training is None and self.validation is None:
            raise ValueError("send training and/or validation metrics")
        return self


class ModelOut(BaseModel):
    """A model with its versions and when it last sent traffic."""

    name: str
    versions: list[ModelVersionOut]
    last_event_at: datetime | None


class ModelList(BaseModel):
    """``GET /v1/models``: a page of models by name; pass ``next_cursor`` back as ``cursor``
    for the next (null: the last page)."""

    models: list[ModelOut]
    next_cursor: str | None = None


class MonitorStatus(BaseModel):
    """One monitor's latest finished window."""

    monitor_id: int
    monitor: str
    verdict: str | None
    retraining_recommended: bool
    window_start: datetime | None
    window_end: datetime | None
    run_id: int | None
    report_url: str | None
    checks: dict[str, str]


class VersionScoresOut(BaseModel):
    """A version's F1 from training to production: a wide training → validation gap is
    overfitting, a validation → production gap is drift or a changed task."""

    model_config = ConfigDict(from_attributes=True)

    version: str
    created_at: datetime
    training_f1: float | None = Field(description="Reported: PUT /v1/models/{name}/metrics.")
    validation_f1: float | None = Field(description="Reported, on the validation set.")
    production_f1: float | None = Field(
        description="Macro-F1 on the newest window holding enough labelled events of the "
        "version (the quality check's min_labels)."
    )
    production_window_end: datetime | None
    dataset: dict[str, Any] | None = Field(
        description="Summary of the dataset exported for the version "
        "(`driftline export dataset --for-version`)."
    )


class ModelStatus(BaseModel):
    """``GET /v1/models/{name}/status``: is this model healthy, in one call."""

    model_config = ConfigDict(protected_namespaces=())

    model: str
    verdict: str
    retraining_recommended: bool
    monitors: list[MonitorStatus]
    versions: list[VersionScoresOut]


class PredictionRuleIn(BaseModel):
    """``PUT /v1/models/{name}/prediction-rule``: how the prediction is read from an output
    when an event carries none."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["output", "json", "regex"] = Field(
        description="output: the whole (stripped) output; json: a field of the output parsed "
        "as JSON; regex: the first match of `pattern` (its group, when it has one)."
    )
    field: Annotated[str, StringConstraints(min_length=1, max_length=200,
                                            pattern=r"^[^.\x00]+(\.[^.\x00]+)*$")] | None = Field(
        default=None, description='For json: a dot path, e.g. "label" or "result.category".'
    )  # fmt: skip
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None, description=r'For regex, e.g. "(?i)category:\s*(\w+)".'
    )

    @model_validator(mode="after")
    def _complete(self) -> "PredictionRuleIn":
        if self.source == "json" and self.field is None:
            raise ValueError("a json rule needs `field` (a dot path into the output)")
        if self.source != "json" and self.field is not None:
            raise ValueError("`field` is for json rules only")
        if self.source == "regex":
            if self.pattern is None:
                raise ValueError("a regex rule needs `pattern`")
            try:
                groups = compile_pattern(self.pattern).groups
            except ValueError as exc:
                raise ValueError(f"pattern: not a regular expression: {exc}") from None
            if groups > 1:
                raise ValueError("pattern: at most one capturing group (the prediction)")
        elif self.pattern is not None:
            raise ValueError("`pattern` is for regex rules only")
        return self

    def rule(self) -> Rule:
        """The rule this body describes."""
        return Rule(self.source, self.field, self.pattern)


class PredictionRuleOut(BaseModel):
    """A model's prediction rule."""

    model_config = ConfigDict(from_attributes=True)

    model: str
    source: str
    field: str | None
    pattern: str | None
    updated_at: datetime
