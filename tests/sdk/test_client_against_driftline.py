"""The Python client against a real running Driftline on real PostgreSQL."""

from collections.abc import Callable

import httpx
import pytest
from driftline_client import Driftline
from sqlalchemy import Engine, text

pytestmark = pytest.mark.slow


def test_logged_events_and_feedback_arrive_once(
    driftline: str,
    make_key: Callable[..., str],
    engine: Engine,
) -> None:
    dl = Driftline(driftline, make_key("ingest"), batch_size=100, flush_interval=0.1)
    ids = [
        dl.log(model="bot", prompt=f"question {i} 👋", output="answer\x00", latency_ms=12.5)
        for i in range(300)
    ]
    for rid in ids[:50]:
        dl.feedback(rid, model="bot", label="ok", score=0.9)
    dl.log(model="bot", prompt="again", output="o", request_id=ids[0])  # a resend: no duplicate
    assert dl.flush(30)
    dl.close()
    stats = dl.stats()
    assert stats.sent == 300 + 50 and stats.duplicates == 1 and stats.dropped == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 300
        assert conn.execute(text("SELECT count(*) FROM feedback")).scalar_one() == 50
        assert (
            conn.execute(
                text("SELECT count(*) FROM events WHERE output = 'answer\ufffd'")
            ).scalar_one()
            == 300
        )


def test_a_training_pipeline_reports_its_metrics(
    driftline: str, make_key: Callable[..., str]
) -> None:
    dl = Driftline(driftline, make_key("admin"))  # reported metrics become series: admin only
    try:
        stored = dl.report_metrics(
            "support bot/eu", version="v3", training={"f1": 0.97}, validation={"f1": 0.91}
        )
        assert stored["training_metrics"] == {"f1": 0.97} and stored["version"] == "v3"
        with pytest.raises(httpx.HTTPStatusError, match=r"422.*training"):
            dl.report_metrics("support bot/eu", training={"F1 score": 0.9})
    finally:
        dl.close()
