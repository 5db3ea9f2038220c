"""Model health exported by one worker of a deployment
(``DRIFTLINE_MODEL_HEALTH_EXPORTER=leader``)."""

import logging
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine

from app.db.locks import try_lock, unlock
from app.metrics.model_health import COLLECTOR_UP_HELP, ModelHealthCollector

log = logging.getLogger("driftline.metrics")

# Any fixed number, the same in every worker: the lock whose holder exports model health.
MODEL_HEALTH_LOCK = 0x0D71F7_4EA1


class LeaderModelHealth:
    """Model health exported by exactly one worker of a deployment, whatever the replicas.

    Each scrape, a worker that does not yet lead tries PostgreSQL's session advisory lock on a
    connection of its own; the one that holds it exports the model-health series (and
    ``driftline_model_health_leader 1``), the others only the 0. When the leader dies its
    connection closes, the lock is free, and the next worker scraped takes over.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None
        self._lock = threading.Lock()

    def _leads(self) -> bool:
        with self._lock:
            if self._conn is not None:
                return True
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                won = try_lock(conn, MODEL_HEALTH_LOCK)
            except Exception:
                conn.close()
                raise
            if won:
                self._conn = conn
            else:
                conn.close()
            return won

    def release(self) -> None:
        """Give the lead up. The connection goes back to a pool, which would keep a session
        lock alive: unlock first, and if that fails, discard the connection (that frees it)."""
        with self._lock:
            if self._conn is None:
                return
            try:
                unlock(self._conn, MODEL_HEALTH_LOCK)
            except Exception:
                self._conn.invalidate()
            self._conn.close()
            self._conn = None

    def collect(self) -> Iterator[Metric]:
        """Model health if this worker leads; always whether it does."""
        leader = GaugeMetricFamily(
            "driftline_model_health_leader",
            "1 on the one worker that exports model health (an advisory lock), 0 elsewhere.",
        )
        try:
            leads = self._leads()
        except Exception as exc:  # the database is unreachable: nobody can lead now
            log.warning("metrics: cannot take the model-health lock: %s", type(exc).__name__)
            leads = False
            # Every worker says so, so that the database-unreachable alert still has data.
            down = GaugeMetricFamily("driftline_collector_up", COLLECTOR_UP_HELP)
            down.add_metric([], 0.0)
            yield down
        if leads:
            families = list(ModelHealthCollector(self.engine).collect())
            up = next(f for f in families if f.name == "driftline_collector_up")
            if up.samples and up.samples[0].value == 0:
                self.release()  # its connection may be the broken one: retry next scrape
            yield from families
        leader.add_metric([], 1.0 if leads else 0.0)
        yield leader
