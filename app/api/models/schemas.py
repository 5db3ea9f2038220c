"""Model schemas: listing, status, and the offline metrics a training pipeline reports."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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
    """``GET /v1/models``."""

    models: list[ModelOut]


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


class ModelStatus(BaseModel):
    """``GET /v1/models/{name}/status``: is this model healthy, in one call."""

    model_config = ConfigDict(protected_namespaces=())

    model: str
    verdict: str
    retraining_recommended: bool
    monitors: list[MonitorStatus]
