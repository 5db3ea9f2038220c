"""The featuriser looks back a bounded number of ids, so a tick costs the same at 3 million
events as at 3 thousand, yet still finds events that committed after newer ones."""

import pytest
from sqlalchemy import Engine, text

from app.jobs import featurise


def _events_with_features_for(engine: Engine, featurised: range) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO events (id, model, request_id, ts, prompt, output) "
                 "SELECT g, 'm', g::text, now(), 'mail me at a@b.io', 'ok' "
                 "FROM generate_series(1, 30) g")
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO event_features SELECT g, 1, 1, 0, 1, 1, 0, false, false, false, "
                 "false, false, 'en', now(), 'm' "
                 "FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) g"),
            {"a": featurised.start, "b": featurised.stop - 1},
        )  # fmt: skip


def _featurised_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT event_id FROM event_features ORDER BY 1")).scalars())


def test_events_below_the_newest_featurised_one_are_still_found(engine: Engine) -> None:
    _events_with_features_for(engine, range(11, 31))  # 1..10 committed late
    assert featurise.featurise_batch(engine) == 10
    assert _featurised_ids(engine) == list(range(1, 31))
    with engine.connect() as conn:
        pii = conn.execute(text("SELECT bool_and(pii) FROM event_features WHERE event_id <= 10"))
        assert pii.scalar_one() is True  # computed, not copied


def test_events_beyond_the_lookback_are_left_to_their_window_run(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(featurise, "LOOKBACK_IDS", 5)
    _events_with_features_for(engine, range(11, 31))
    assert featurise.featurise_batch(engine) == 0  # window runs compute what is missing
