"""Featuriser: compute each new event's descriptors once and store them in event_features."""

import logging

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("driftline.featurise")

# SKIP LOCKED lets several workers featurise side by side without taking the same events.
# Only ids above (newest featurised id - LOOKBACK_IDS) are considered: without that bound every
# tick would re-check every event ever stored. The margin covers batches other workers hold
# and events whose transactions committed late; an event left below it (a worker died on it
# while 20,000 newer ones went by) is featurised by its window run instead.
LOOKBACK_IDS = 20_000
_CLAIM = text(
    """
    SELECT e.id, e.model, e.prompt, e.output, e.finish_reason
    FROM events e
    WHERE e.id > :floor
      AND NOT EXISTS (SELECT 1 FROM event_features f WHERE f.event_id = e.id AND f.model = e.model)
    ORDER BY e.id
    LIMIT :n
    FOR UPDATE OF e SKIP LOCKED
    """
)
_LAG = text(
    "SELECT coalesce(extract(epoch FROM now() - min(e.received_at)), 0) FROM events e "
    "WHERE e.id > coalesce((SELECT max(event_id) FROM event_features), 0)"
)


def lag_seconds(conn: Connection) -> float:
    """Age of the oldest event not featurised yet (0 when the featuriser is caught up)."""
    return float(conn.execute(_LAG).scalar_one())


def featurise_batch(engine: Engine, *, batch: int = 2_000) -> int:
    """Featurise up to ``batch`` events that have no features yet; returns how many."""
    # Imported here, not above: the api's /metrics reads `lag_seconds` from this module, and
    # the slim api (`pip install driftline`) has neither pandas nor the engine's descriptors.
    import pandas as pd

    from app.engine.descriptors import FEATURE_COLUMNS, compute_descriptors

    with engine.begin() as conn:
        # The floor is a value, not a subquery, so the planner sees how few rows lie above it
        # and probes event_features by key instead of hashing all of it.
        newest = conn.execute(text("SELECT coalesce(max(event_id), 0) FROM event_features"))
        floor = newest.scalar_one() - LOOKBACK_IDS
        rows = conn.execute(_CLAIM, {"n": batch, "floor": floor}).mappings().all()
        if not rows:
            return 0
        frame = pd.DataFrame(rows)
        d = compute_descriptors(frame)
        d["event_id"] = frame["id"].to_numpy()
        d["model"] = frame["model"].to_numpy()
        records = d[["event_id", "model", *FEATURE_COLUMNS]].to_dict("records")
        conn.execute(
            text(
                f"INSERT INTO event_features (event_id, model, {', '.join(FEATURE_COLUMNS)}) "
                f"VALUES (:event_id, :model, {', '.join(':' + c for c in FEATURE_COLUMNS)}) "
                "ON CONFLICT (event_id, model) DO NOTHING"
            ),
            records,
        )
    return len(rows)


def featurise_pending(engine: Engine, *, batch: int = 2_000, max_batches: int = 50) -> int:
    """Featurise until nothing is left (or ``max_batches``); returns the events done."""
    total = 0
    for _ in range(max_batches):
        n = featurise_batch(engine, batch=batch)
        total += n
        if n < batch:
            break
    if total:
        log.info("featurised %d events", total)
    return total
