"""Logging: JSON lines when asked, and the routine (scrapes, probes, scheduler ticks) quiet."""

import json
import logging
import logging.config

import pytest

from app.logs import QuietProbes, log_config


def access(path: str, status: int) -> logging.LogRecord:
    """A uvicorn access record, as uvicorn makes it."""
    return logging.LogRecord(
        "uvicorn.access", logging.INFO, "h11_impl.py", 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", status), None,
    )  # fmt: skip


def test_successful_scrapes_and_probes_are_not_logged_but_everything_else_is() -> None:
    quiet = QuietProbes()
    for path in ("/metrics", "/healthz", "/readyz", "/readyz?x=1"):
        assert not quiet.filter(access(path, 200)), path
    assert quiet.filter(access("/readyz", 503))  # a failing probe is news
    assert quiet.filter(access("/v1/events", 202))
    assert quiet.filter(access("/", 200))


def test_json_format_writes_one_object_per_record() -> None:
    config = log_config("info", "json")
    formatter = logging.config.DictConfigurator(config).configure_formatter(
        config["formatters"]["driftline"]
    )
    record = logging.LogRecord(
        "driftline.worker", logging.WARNING, "x.py", 1, "window %s failed", ("42",), None
    )
    record.color_message = "\x1b[31mwindow 42 failed\x1b[0m"
    line = json.loads(formatter.format(record))
    assert line["message"] == "window 42 failed" and line["level"] == "WARNING"
    assert line["logger"] == "driftline.worker" and "time" in line
    assert "color_message" not in line


def test_the_scheduler_s_routine_lines_wait_for_debug() -> None:
    levels = {
        level: log_config(level, "text")["loggers"]["apscheduler.executors.default"]["level"]
        for level in ("debug", "info", "warning", "error")
    }
    assert levels == {"debug": "DEBUG", "info": "WARNING", "warning": "WARNING", "error": "ERROR"}


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="text or json"):
        log_config("info", "xml")
