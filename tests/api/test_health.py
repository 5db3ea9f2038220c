"""/healthz, /readyz (schema behind → not ready) and the OpenAPI document."""

from fastapi.testclient import TestClient

from app.config import Settings
from app.db.migrate import head_revision, upgrade
from app.main import create_app
from tests.pg import throwaway_database


def test_healthz_and_readyz_on_a_migrated_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"ready": True, "database": "ok", "revision": head_revision()}


def test_readyz_fails_while_the_schema_is_behind(pg_server_url: str) -> None:
    with throwaway_database(pg_server_url) as url, TestClient(create_app(url, Settings())) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["database"] == "behind" and r.json()["current"] is None
        assert "retry-after" in r.headers
        upgrade(url)
        assert c.get("/readyz").status_code == 200


def test_openapi_documents_the_ingest_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][0] == {"$ref": "#/components/schemas/EventIn"}
    assert "prompt" in spec["components"]["schemas"]["EventIn"]["properties"]
    assert "label" in spec["components"]["schemas"]["FeedbackIn"]["properties"]
    assert spec["paths"]["/v1/events"]["post"]["operationId"] == "events-ingest_events"
    assert client.get("/docs").status_code == 200
