"""Sign-in through a real OpenID Connect provider (oidc-provider-mock, served in the test)
into a real ``driftline api``: groups decide the project and scopes, logout ends the session,
another project's models stay invisible, and expired or forged answers are refused."""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import oidc_provider_mock
import pytest
from sqlalchemy import Engine

from app.auth.keys import create_key
from app.auth.projects import create_project
from app.db.session import make_sessionmaker, session_scope
from tests.conftest import auth
from tests.processes import driftline_api, driftline_env

pytestmark = pytest.mark.slow

GROUPS = {
    "team-a": {"project": "alpha", "scopes": ["read"]},
    "team-b": {"project": "beta", "scopes": ["read"]},
    "sre": {"scopes": ["read", "admin"]},
    "ingesters": {"project": "alpha", "scopes": ["ingest"]},
}
USERS = {
    "alice": {"email": "alice@example.com", "groups": ["team-a"]},
    "bob": {"email": "bob@example.com", "groups": ["team-b", "unrelated"]},
    "sam": {"email": "sam@example.com", "groups": ["sre"]},
    "carol": {"email": "carol@example.com", "groups": ["marketing"]},
    "ivan": {"email": "ivan@example.com", "groups": ["ingesters"]},
    "eve": {"email": "eve@example.com", "groups": ["team-a", "team-b"]},
}


@contextmanager
def provider(**options: object) -> Iterator[str]:
    """A real OIDC provider on a free port with our users; yields its issuer URL."""
    with oidc_provider_mock.run_server_in_thread(**options) as server:  # type: ignore[arg-type]
        issuer = f"http://127.0.0.1:{server.server_port}"
        for sub, claims in USERS.items():
            assert httpx.put(f"{issuer}/users/{sub}", json=claims).status_code == 204
        yield issuer


@contextmanager
def driftline_with(issuer: str, database_url: str) -> Iterator[str]:
    env = driftline_env(
        database_url, oidc_issuer=issuer, oidc_client_id="driftline",
        oidc_client_secret="s3cret", oidc_groups=json.dumps(GROUPS),
        oidc_provider_name="Example SSO",
    )  # fmt: skip
    with driftline_api(env) as (base, _):
        yield base


@pytest.fixture
def two_projects(engine: Engine, driftline_sso: str) -> dict[str, str]:
    """A model in project alpha and one in beta, each written by its project's key."""
    models = {}
    with session_scope(make_sessionmaker(engine)) as session:
        for name in ("alpha", "beta"):
            project = create_project(session, name)
            _, key = create_key(session, name=name, scopes=["ingest"], project_id=project.id)
            models[name] = (f"{name}-bot", key)
    for model, key in models.values():
        event = {"model": model, "prompt": "hi", "output": "hello"}
        r = httpx.post(f"{driftline_sso}/v1/events", json=event, headers=auth(key))
        assert r.status_code == 202, r.text
    return {name: model for name, (model, _) in models.items()}


@pytest.fixture
def issuer() -> Iterator[str]:
    with provider() as url:
        yield url


@pytest.fixture
def driftline_sso(issuer: str, database_url: str) -> Iterator[str]:
    with driftline_with(issuer, database_url) as base:
        yield base


def sign_in(base: str, sub: str, next_path: str = "/") -> tuple[httpx.Client, httpx.Response]:
    """The browser's round trip: Driftline → the provider's form (as ``sub``) → back."""
    browser = httpx.Client(base_url=base, timeout=30)
    start = browser.get("/login/oidc", params={"next": next_path})
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == [f"{base}/login/oidc/callback"]  # the public URL's
    answer = httpx.post(authorize, data={"sub": sub})  # the person signs in at the provider
    assert answer.status_code == 302, answer.text
    back = answer.headers["location"]
    assert back.startswith(f"{base}/login/oidc/callback?")
    return browser, browser.get(back.removeprefix(base))


def test_the_login_page_offers_the_provider(driftline_sso: str) -> None:
    page = httpx.get(f"{driftline_sso}/login?next=/models/x")
    assert page.status_code == 200
    assert 'href="/login/oidc?next=/models/x"' in page.text and "Example SSO" in page.text


def test_a_person_sees_their_groups_project_only_and_logs_out(
    driftline_sso: str, two_projects: dict[str, str]
) -> None:
    browser, landed = sign_in(driftline_sso, "alice", "/models/" + two_projects["alpha"])
    assert landed.status_code == 200, landed.text
    cookie = landed.headers["set-cookie"]
    assert "driftline_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert f"url=/models/{two_projects['alpha']}" in landed.text  # then on to where she was going
    fleet = browser.get("/")
    assert fleet.status_code == 200
    assert "alice@example.com" in fleet.text
    assert two_projects["alpha"] in fleet.text and two_projects["beta"] not in fleet.text
    assert browser.get(f"/models/{two_projects['beta']}").status_code == 404
    assert browser.get(f"/models/{two_projects['alpha']}").status_code == 200

    other, _ = sign_in(driftline_sso, "bob")  # beta's group, plus one Driftline ignores
    page = other.get("/").text
    assert two_projects["beta"] in page and two_projects["alpha"] not in page

    sre, _ = sign_in(driftline_sso, "sam")  # mapped to every project
    page = sre.get("/").text
    assert two_projects["alpha"] in page and two_projects["beta"] in page

    csrf = re.search(r'name="csrf" value="([^"]+)"', fleet.text)
    assert csrf
    out = browser.post("/logout", data={"csrf": csrf.group(1)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    browser.cookies.set("driftline_session", cookie.split(";")[0].split("=", 1)[1])
    assert browser.get("/").status_code == 303  # the session is gone on the server


@pytest.mark.parametrize(
    ("sub", "why"),
    [
        ("carol", "no group Driftline knows"),
        ("ivan", "no 'read' access"),
        ("eve", "several projects (alpha, beta)"),
    ],
)
def test_people_whose_groups_grant_no_single_readable_project_are_refused(
    driftline_sso: str, two_projects: dict[str, str], sub: str, why: str
) -> None:
    browser, landed = sign_in(driftline_sso, sub)
    assert landed.status_code == 403
    assert why in landed.text.replace("&#39;", "'")
    assert "driftline_session" not in landed.headers.get("set-cookie", "")
    assert browser.get("/").status_code == 303


def test_a_forged_or_replayed_answer_is_refused(driftline_sso: str) -> None:
    browser = httpx.Client(base_url=driftline_sso, timeout=30)
    start = browser.get("/login/oidc")
    answer = httpx.post(start.headers["location"], data={"sub": "alice"})
    back = urlsplit(answer.headers["location"])
    code = parse_qs(back.query)["code"][0]
    # Another browser (no attempt cookie), or this one with a state it never sent.
    stranger = httpx.get(f"{driftline_sso}/login/oidc/callback?{back.query}")
    assert stranger.status_code == 400 and "did not start in this browser" in stranger.text
    forged = browser.get("/login/oidc/callback", params={"code": code, "state": "forged"})
    assert forged.status_code == 403
    # The attempt is spent either way: the real answer now finds no attempt.
    replay = browser.get(f"/login/oidc/callback?{back.query}")
    assert replay.status_code == 400
    assert browser.get("/").status_code == 303


def test_an_expired_id_token_is_refused(database_url: str) -> None:
    with (
        provider(access_token_max_age=timedelta(seconds=-120)) as stale_issuer,
        driftline_with(stale_issuer, database_url) as base,
    ):
        browser, landed = sign_in(base, "alice")
        assert landed.status_code == 403
        assert "expired" in landed.text
        assert browser.get("/").status_code == 303
