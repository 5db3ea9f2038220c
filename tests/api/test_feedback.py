"""POST /v1/feedback: late or early labels, merging, validation."""

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text


def test_feedback_before_its_event_is_kept_and_joins_later(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    fb = {"model": "bot", "request_id": "r1", "label": "billing", "score": 0.2}
    r = client.post("/v1/feedback", json=fb, headers=ingest_headers)
    assert r.status_code == 202 and r.json()["accepted"] == 1
    ev = {"model": "bot", "request_id": "r1", "prompt": "p", "output": "o", "prediction": "tech"}
    assert client.post("/v1/events", json=ev, headers=ingest_headers).status_code == 202
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT e.prediction, f.label, f.score FROM events e "
                "JOIN feedback f USING (model, request_id)"
            )
        ).one()
    assert tuple(row) == ("tech", "billing", 0.2)


def test_later_feedback_merges_with_earlier(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    client.post(
        "/v1/feedback",
        json={"model": "bot", "request_id": "r1", "label": "a"},
        headers=ingest_headers,
    )
    batch = {
        "feedback": [
            {"model": "bot", "request_id": "r1", "score": 0.7},
            {"model": "bot", "request_id": "r1", "thumbs": False},
            {"model": "bot", "request_id": "r2", "thumbs": True},
        ]
    }
    r = client.post("/v1/feedback", json=batch, headers=ingest_headers)
    assert r.status_code == 202 and r.json()["accepted"] == 3
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT request_id, label, score, thumbs FROM feedback ORDER BY request_id")
        ).all()
    assert [tuple(r) for r in rows] == [("r1", "a", 0.7, -1), ("r2", None, None, 1)]


def test_feedback_needs_a_label_score_or_thumbs(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    r = client.post(
        "/v1/feedback",
        json={
            "feedback": [
                {"model": "m", "request_id": "1", "label": "x"},
                {"model": "m", "request_id": "2"},
            ]
        },
        headers=ingest_headers,
    )
    assert r.status_code == 422
    assert "feedback[1]" in r.json()["error"]["message"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM feedback")).scalar_one() == 0


def test_score_outside_0_1_is_422(client: TestClient, ingest_headers: dict[str, str]) -> None:
    r = client.post(
        "/v1/feedback",
        json={"model": "m", "request_id": "1", "score": 7},
        headers=ingest_headers,
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "score"
