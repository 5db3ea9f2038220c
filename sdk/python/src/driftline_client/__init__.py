"""Driftline's Python client: log model calls and feedback in the background."""

from driftline_client.client import AsyncDriftline, Driftline, Stats

__all__ = ["AsyncDriftline", "Driftline", "Stats"]
__version__ = "0.1.0"
