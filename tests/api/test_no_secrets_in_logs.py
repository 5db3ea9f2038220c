"""No secret reaches a log: not an API key, not the database password, not a prompt."""

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.auth.keys import key_prefix
from app.config import Settings
from app.db.session import make_engine
from tests.conftest import auth
from tests.processes import driftline_api, driftline_env

DB_PASSWORD = "pw-SENTINEL-db-3f9a"
PROMPT = "PROMPT-SENTINEL my card is 4111 1111 1111 1111"


def test_a_database_error_does_not_carry_the_values_it_was_given(database_url: str) -> None:
    engine = make_engine(database_url, Settings())
    with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
        # fails for a reason unrelated to the value, as a bug in our SQL would
        conn.execute(text("SELECT CAST(:v AS text), 1 / 0"), {"v": PROMPT})
    engine.dispose()
    assert "PROMPT-SENTINEL" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)


def test_api_logs_hold_no_keys_passwords_or_prompts(
    database_url: str, make_key: Callable[..., str], tmp_path: Path
) -> None:
    url = make_url(database_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    good = make_key("ingest", "read")
    revoked = make_key("ingest", revoked=True)
    forged = good[:-6] + "zzzzzz"
    log_file = tmp_path / "api.log"
    env = driftline_env(url, log_level="debug")
    with (
        log_file.open("w") as out,
        driftline_api(env, stdout=out, stderr=subprocess.STDOUT) as (base, _),
    ):
        event = {"model": "m", "request_id": "r1", "prompt": PROMPT, "output": PROMPT}
        for key in (good, revoked, forged, "not-a-key"):
            httpx.post(f"{base}/v1/events", json=event, headers=auth(key))
        # invalid input echoes a field name back to the caller, never into the log
        httpx.post(f"{base}/v1/events", json={**event, "latency_ms": PROMPT}, headers=auth(good))
        httpx.get(f"{base}/v1/models", headers=auth(good))
    logged = log_file.read_text()
    assert "POST /v1/events" in logged, "the api logged nothing: the check would prove nothing"
    secret_part = good[len(key_prefix(good) or "") :]  # the prefix is an id, shown by `keys list`
    for secret in (good, revoked, forged, secret_part, DB_PASSWORD, "PROMPT-SENTINEL"):
        assert secret not in logged, f"{secret[:12]}… appears in the api log"
