"""What a monitor may be: the input the API, ``driftline monitors apply`` and the service share."""

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from app.engine.thresholds import Thresholds
from app.fields import Name

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION_SECONDS = 366 * 86400


def parse_duration(value: str) -> int:
    """``"90s" | "15m" | "1h" | "1d"`` → seconds."""
    m = _DURATION.match(value.strip().lower())
    if not m:
        raise ValueError(f"{value!r} is not a duration like 30s, 15m, 1h or 1d")
    seconds = int(m.group(1)) * _UNIT[m.group(2)]
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{value!r} is longer than 366 days")
    return seconds


def format_duration(seconds: int) -> str:
    """Seconds → the largest whole unit (``3600`` → ``1h``, ``0`` → ``0s``)."""
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m"):
        if seconds % _UNIT[unit] == 0:
            return f"{seconds // _UNIT[unit]}{unit}"
    return f"{seconds}s"


# ``checks`` was this field's name before 2026-12 (it also named the results): still read.
THRESHOLDS_ALIASES = AliasChoices("thresholds", "checks")


def validate_thresholds(value: dict[str, Any] | None) -> dict[str, Any]:
    """Threshold overrides must name real thresholds (a typo is an error, not a no-op)."""
    value = value or {}
    Thresholds().with_overrides({k: v for k, v in value.items()})
    return value


class MonitorIn(BaseModel):
    """``POST /v1/monitors``."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: Name | None = None
    model: Name
    model_version: str | None = None
    baseline_id: Annotated[int, Field(ge=1, le=2_147_483_647)]
    window: str = "1h"
    delay: str = "60s"
    start_at: datetime | None = Field(
        default=None, description="Windows align on this instant; default: now, floored."
    )
    min_events: Annotated[int, Field(ge=1, le=1_000_000_000)] = 100
    thresholds: dict[str, Any] = Field(
        default_factory=dict,
        validation_alias=THRESHOLDS_ALIASES,
        description="Threshold overrides by name (app.engine.thresholds); `checks` is the "
        "deprecated name of this field.",
    )
    judges: list[Name] = Field(
        default_factory=list, max_length=8,
        description="LLM judges (by name, in the model's project) scoring a sample of each "
        "window against the same judge's scores of the baseline.",
    )  # fmt: skip
    enabled: bool = True

    @field_validator("window", "delay")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, Any]) -> dict[str, Any]:
        return validate_thresholds(value)


class MonitorPatch(BaseModel):
    """``PATCH /v1/monitors/{id}``: any subset of the fields."""

    model_config = ConfigDict(extra="forbid")

    baseline_id: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = None
    window: str | None = None
    delay: str | None = None
    min_events: Annotated[int, Field(ge=1, le=1_000_000_000)] | None = None
    thresholds: dict[str, Any] | None = Field(default=None, validation_alias=THRESHOLDS_ALIASES)
    judges: Annotated[list[Name], Field(max_length=8)] | None = None
    enabled: bool | None = None

    @field_validator("window", "delay")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else validate_thresholds(value)


# The keys of a monitor entry ``driftline monitors apply`` passes on as a patch.
PATCHABLE = frozenset(MonitorPatch.model_fields) | {"checks"}
