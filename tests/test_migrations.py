"""Migrations on a database that already holds data: nothing lost going up or down."""

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import create_engine, text

from app.db.migrate import alembic_config, upgrade
from tests.pg import throwaway_database

BEFORE_PARTITIONING = "5b1f0c2d9a7e"


def _migrate(url: str, action: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)
    engine.dispose()


def test_partitioning_keeps_every_event_and_its_key_and_goes_back(pg_server_url: str) -> None:
    now = datetime.now(UTC)
    with throwaway_database(pg_server_url, prefix="driftline_migr") as url:
        _migrate(url, "upgrade", BEFORE_PARTITIONING)
        engine = create_engine(url)
        with engine.begin() as conn:
            for i, age in enumerate([0, 1, 40, 400]):
                conn.execute(
                    text("INSERT INTO events (model, request_id, ts, prompt, output) "
                         "VALUES ('m', :r, :ts, 'p', 'o')"),
                    {"r": f"r{i}", "ts": now - timedelta(days=age)},
                )  # fmt: skip
            conn.execute(
                text("INSERT INTO event_features SELECT id, 1, 1, 0, 1, 1, 0, false, false, "
                     "false, false, false, 'en' FROM events WHERE request_id = 'r0'")
            )  # fmt: skip
            before = conn.execute(text("SELECT id, request_id, ts FROM events ORDER BY id")).all()

        upgrade(url)  # to head, as `driftline migrate` does
        with engine.begin() as conn:
            after = conn.execute(text("SELECT id, request_id, ts FROM events ORDER BY id")).all()
            keys = conn.execute(text("SELECT count(*) FROM event_keys")).scalar_one()
            homes = conn.execute(
                text("SELECT tableoid::regclass::text FROM events ORDER BY id")
            ).scalars()
            assert after == before and keys == 4
            assert all(h.startswith("events_p") for h in homes)  # each day got its partition
            new_id = conn.execute(
                text("INSERT INTO events (model, request_id, ts, prompt, output) "
                     "VALUES ('m', 'r9', now(), 'p', 'o') RETURNING id")
            ).scalar_one()  # fmt: skip
            assert new_id > before[-1].id  # the id sequence carried over

        _migrate(url, "downgrade", BEFORE_PARTITIONING)
        with engine.begin() as conn:
            back = conn.execute(text("SELECT request_id FROM events ORDER BY id")).scalars()
            assert list(back) == ["r0", "r1", "r2", "r3", "r9"]
            assert conn.execute(text("SELECT count(*) FROM event_features")).scalar_one() == 1
        engine.dispose()
        upgrade(url)  # and up again
