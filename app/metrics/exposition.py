"""The ``/metrics`` body: the process's own series, the build, and model health.

With several uvicorn workers (``PROMETHEUS_MULTIPROC_DIR`` set), prometheus-client's
multiprocess mode aggregates the process metrics across workers; it ignores collectors
registered the usual way, so ``/metrics`` builds its registry per scrape and adds the
model-health collector to it explicitly.
"""

import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine

import app
from app.metrics.model_health import ModelHealthCollector


class Combined:
    """What ``generate_latest`` needs (``collect()``) over several sources."""

    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def _build_info() -> GaugeMetricFamily:
    info = GaugeMetricFamily(
        "driftline_build_info",
        "Always 1; the running Driftline's version and commit as labels.",
        labels=["version", "commit"],
    )
    info.add_metric([app.__version__, app.build_commit()], 1.0)
    return info


class _BuildInfo:
    def collect(self) -> Iterator[Metric]:
        yield _build_info()


class PublicURL:
    """``driftline_public_url_info{url}``: where people open the UI. The alert rules read it
    to build their links, so they point at the address users reach (an ingress, say) rather
    than at the scraped pod, and need no per-deployment edit."""

    def __init__(self, url: str) -> None:
        self.url = url

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "driftline_public_url_info",
            "Always 1; the address of Driftline's UI (DRIFTLINE_PUBLIC_URL) as a label.",
            labels=["url"],
        )
        info.add_metric([self.url], 1.0)
        yield info


def render(engine: Engine, *, public_url: str, model_health: bool = True) -> tuple[bytes, str]:
    """The /metrics body: process metrics (multiprocess-aware), the build and the UI's
    address, plus model health unless the workers export it
    (``DRIFTLINE_MODEL_HEALTH_EXPORTER=worker``)."""
    process: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        process = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)  # type: ignore[no-untyped-call]
    sources: list[Any] = [process, _BuildInfo(), PublicURL(public_url)]
    if model_health:
        sources.append(ModelHealthCollector(engine))
    return generate_latest(Combined(*sources)), CONTENT_TYPE_LATEST
