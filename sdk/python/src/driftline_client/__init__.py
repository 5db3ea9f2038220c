"""Driftline's Python client: log model calls and feedback in the background."""

from driftline_client.client import AsyncDriftline, Driftline, Stats
from driftline_client.integrations import otel_request_id

__all__ = ["AsyncDriftline", "Driftline", "Stats", "otel_request_id"]
__version__ = "0.1.0"
