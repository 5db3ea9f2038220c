"""PostgreSQL stopped and restarted under a steady loopback load: the api answers 503 with
Retry-After meanwhile, the client retries, and afterwards every event is stored exactly once."""

import threading
import time

import pytest
from driftline_client import Driftline
from sqlalchemy import create_engine, text

from app.db.migrate import upgrade
from tests.pg import PrivatePostgres, key_at
from tests.processes import driftline_api, driftline_env

pytestmark = pytest.mark.slow
SENDERS, PER_SENDER = 4, 1500


def _send_through_a_restart(clients: list[Driftline], private_pg: PrivatePostgres) -> None:
    def send(dl: Driftline, n: int) -> None:
        for i in range(PER_SENDER):
            dl.log(model="load", request_id=f"{n}-{i}", prompt=f"question {i}", output="a")
            time.sleep(0.003)  # ~330 events/s per sender, ~1,300/s in all

    threads = [threading.Thread(target=send, args=(c, n)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    private_pg.stop()  # mid-stream
    time.sleep(3)
    private_pg.start()
    for t in threads:
        t.join()
    assert all(c.flush(120) for c in clients)


def test_restart_under_load_loses_nothing(private_pg: PrivatePostgres) -> None:
    url = private_pg.url()
    upgrade(url)
    key = key_at(url, "ingest", name="load")
    env = driftline_env(url, db_connect_timeout_seconds="2", api_key_cache_seconds="600")
    with driftline_api(env) as (base, _):
        clients = [
            Driftline(base, key, batch_size=50, flush_interval=0.05, max_backoff=1.0)
            for _ in range(SENDERS)
        ]
        try:
            _send_through_a_restart(clients, private_pg)
        finally:
            for c in clients:
                c.close()
    stats = [c.stats() for c in clients]
    total = SENDERS * PER_SENDER
    assert sum(s.dropped + s.rejected for s in stats) == 0
    assert sum(s.retries for s in stats) > 0, "the outage should have forced retries"
    assert sum(s.sent + s.duplicates for s in stats) == total
    engine = create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*), count(DISTINCT request_id) FROM events")).one()
    engine.dispose()
    assert tuple(stored) == (total, total)
    print(
        f"sent {total}, acked {sum(s.sent for s in stats)} (+{sum(s.duplicates for s in stats)} "
        f"duplicates of lost acks), stored {stored[0]}, lost 0, "
        f"retries {sum(s.retries for s in stats)}"
    )
