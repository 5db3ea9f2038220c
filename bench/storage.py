"""Storage benchmark: what one event costs PostgreSQL, for sizing (docs/scaling.md).

Posts real health-news events (prompt, output, prediction, confidence, a metadata tenant)
in batches of 1,000 through a real ``driftline api``, then featurises them as the worker
does, and reads from PostgreSQL itself:

- bytes on disk per event: events, event_keys, event_features, feedback (tables and their
  indexes), after a ``VACUUM ANALYZE``;
- write amplification: WAL bytes written per byte of request body (ingest, then the
  featuriser's writes, each on its own);
- the featuriser's events per second on one core (the worker's share of every event).

    python -m bench.storage                 # 200,000 events
    python -m bench.storage --events 50000
Last line: ``storage_bytes_per_event=… storage_wal_per_body_byte=…
storage_featurise_events_per_s=…`` and the parts.
"""

import argparse
import json
import time
from typing import Any

import httpx2 as httpx
from sqlalchemy import Engine, create_engine, text

from app.auth.keys import create_key
from app.datasets import health_tweets
from app.db.partitions import ensure_day_partitions
from app.db.session import make_sessionmaker, session_scope
from app.jobs.featurise import featurise_pending
from tests.pg import scratch_database
from tests.processes import driftline_api, driftline_env

EVENTS = 200_000
BATCH = 1_000
TABLES = ("events", "event_keys", "event_features", "feedback")
_WAL = text("SELECT pg_current_wal_lsn()")
_WAL_SINCE = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:lsn AS pg_lsn))")
# A partitioned table's size is its partitions' (with their indexes and TOAST).
_SIZE = text(
    """
    SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
    WHERE c.oid = CAST(:t AS regclass)
       OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = CAST(:t AS regclass))
    """
)


def _batches(events: int) -> list[bytes]:
    tweets = health_tweets(without_urls=True).sample(frac=1, random_state=0)
    texts, outlets = list(tweets.text), list(tweets.outlet)
    bodies = []
    for lo in range(0, events, BATCH):
        batch = [
            {"model": f"model-{i % 20}", "request_id": f"r{i}", "prompt": texts[i % len(texts)],
             "output": f"Topic: {outlets[i % len(outlets)]}", "prediction": outlets[i % 7],
             "confidence": 0.5 + (i % 50) / 100, "metadata": {"tenant": f"t{i % 50}"}}
            for i in range(lo, min(events, lo + BATCH))
        ]  # fmt: skip
        bodies.append(json.dumps({"events": batch}).encode())
    return bodies


def _sizes(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.execute(_SIZE, {"t": t}).scalar_one()) for t in TABLES}


def main(events: int) -> None:
    """Ingest, featurise, measure."""
    bodies = _batches(events)
    body_bytes = sum(len(b) for b in bodies)
    out: dict[str, Any] = {}
    with scratch_database("driftline_bench_storage") as url:
        engine = create_engine(url)
        ensure_day_partitions(engine)
        with session_scope(make_sessionmaker(engine)) as session:
            _, key = create_key(session, name="bench", scopes=["ingest"])
        empty = _sizes(engine)
        with (
            driftline_api(driftline_env(url)) as (base, _),
            httpx.Client(base_url=base, timeout=60) as client,
        ):
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            with engine.connect() as conn:
                lsn = conn.execute(_WAL).scalar_one()
            started = time.perf_counter()
            for i, body in enumerate(bodies):
                r = client.post("/v1/events", content=body, headers=headers)
                assert r.status_code == 202, r.text[:300]
                if (i + 1) % 50 == 0:
                    print(f"  {(i + 1) * BATCH:,} events posted", flush=True)
            out["ingest_s"] = time.perf_counter() - started
            with engine.connect() as conn:
                out["wal_ingest"] = float(conn.execute(_WAL_SINCE, {"lsn": lsn}).scalar_one())
                lsn = conn.execute(_WAL).scalar_one()
        started = time.perf_counter()
        featurised = featurise_pending(engine, max_batches=10_000)
        out["featurise_s"] = time.perf_counter() - started
        assert featurised == events, featurised
        with engine.connect() as conn:
            out["wal_featurise"] = float(conn.execute(_WAL_SINCE, {"lsn": lsn}).scalar_one())
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        sizes = {t: s - empty[t] for t, s in _sizes(engine).items()}
        engine.dispose()

    per_event = {t: s / events for t, s in sizes.items()}
    total = sum(per_event.values())
    wal_ratio = out["wal_ingest"] / body_bytes
    featurise_rate = events / out["featurise_s"]
    print(
        f"events:                          {events:,} ({body_bytes / events:.0f} body bytes each)"
    )
    for t in TABLES:
        print(f"  {t + ':':31} {per_event[t]:7.0f} bytes per event on disk")
    print(f"on disk, every table and index:  {total:7.0f} bytes per event")
    print(f"WAL, ingest:                     {out['wal_ingest'] / events:7.0f} bytes per event "
          f"({wal_ratio:.2f} per body byte)")  # fmt: skip
    print(f"WAL, featuriser:                 {out['wal_featurise'] / events:7.0f} bytes per event")
    print(f"ingest over HTTP, one client:    {events / out['ingest_s']:7.0f} events/s")
    print(f"featuriser, one process:         {featurise_rate:7.0f} events/s")
    print(
        f"storage_bytes_per_event={total:.0f} storage_wal_per_body_byte={wal_ratio:.2f} "
        f"storage_featurise_events_per_s={featurise_rate:.0f} "
        f"storage_wal_bytes_per_event={(out['wal_ingest'] + out['wal_featurise']) / events:.0f} "
        f"storage_body_bytes_per_event={body_bytes / events:.0f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    main(parser.parse_args().events)
