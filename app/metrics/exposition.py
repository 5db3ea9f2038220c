"""The ``/metrics`` body: the process's own series, the build, and model health.

With several uvicorn workers (``PROMETHEUS_MULTIPROC_DIR`` set), prometheus-client's
multiprocess mode aggregates the process metrics across workers; it ignores collectors
registered the usual way, so ``/metrics`` builds its registry per scrape and adds the
model-health collector to it explicitly.
"""

import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine

import app
from app.metrics.model_health import ModelHealthCollector
from app.metrics.prerendered import render_families


class Combined:
    """What ``generate_latest`` needs (``collect()``) over several sources."""

    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


class Info:
    """An always-1 gauge whose labels carry the facts (Prometheus' info-metric idiom)."""

    def __init__(self, name: str, documentation: str, **labels: str) -> None:
        self.name, self.documentation, self.labels = name, documentation, labels

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(self.name, self.documentation, labels=list(self.labels))
        info.add_metric(list(self.labels.values()), 1.0)
        yield info


def build_info() -> Info:
    """``driftline_build_info{version, commit}``."""
    return Info(
        "driftline_build_info",
        "Always 1; the running Driftline's version and commit as labels.",
        version=app.__version__, commit=app.build_commit(),
    )  # fmt: skip


def public_url_info(url: str) -> Info:
    """``driftline_public_url_info{url}``: where people open the UI. The alert rules read it
    to build their links, so they point at the address users reach (an ingress, say) rather
    than at the scraped pod, and need no per-deployment edit."""
    return Info(
        "driftline_public_url_info",
        "Always 1; the address of Driftline's UI (DRIFTLINE_PUBLIC_URL) as a label.",
        url=url,
    )


def render(engine: Engine, *, public_url: str, model_health: bool = True) -> tuple[bytes, str]:
    """The /metrics body: process metrics (multiprocess-aware), the build and the UI's
    address, plus model health unless the workers export it
    (``DRIFTLINE_MODEL_HEALTH_EXPORTER=worker``)."""
    process: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        process = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)  # type: ignore[no-untyped-call]
    sources: list[Any] = [process, build_info(), public_url_info(public_url)]
    if model_health:
        sources.append(ModelHealthCollector(engine))
    return render_families(Combined(*sources).collect()), CONTENT_TYPE_LATEST
