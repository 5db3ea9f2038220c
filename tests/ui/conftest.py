"""A real Driftline with real windows, and a real Chromium driven by Playwright.

The site is built once per test run in a database of its own (the shared test database is
emptied before every test): a model with a baseline, a monitor, three computed hourly windows
(calm, then a new domain arriving; the middle one without labels), labels, training/validation
metrics, hostile text in prompts, labels and a model name; then ``driftline api`` serves it.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from app.auth.keys import create_key
from app.datasets import chatterbot, health_tweets
from app.db.session import make_sessionmaker, session_scope
from tests.conftest import auth
from tests.jobs.test_monitoring_flow import (
    HOUR,
    ORIGIN,
    make_monitor,
    post_window,
    upload_baseline,
    work,
)
from tests.pg import migrated_database
from tests.processes import as_slim_api, driftline_api, driftline_env, need

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# Shown as text everywhere, never run: in a model name, a prompt and a label.
HOSTILE_MODEL = "<img src=x onerror=\"document.title='PWNED'\">"
HOSTILE_PROMPT = "<script>document.title='PWNED'</script> where is my parcel?"
HOSTILE_LABEL = "<img src=x onerror=\"document.title='PWNED'\">"


def chromium_path() -> str:
    """Debian's Chromium (CI installs it)."""
    return need("chromium")


@dataclass
class Site:
    """The running Driftline and what the tests need to know about it."""

    base: str
    engine: Engine
    read_key: str
    ingest_key: str
    admin_key: str
    monitor_id: int
    run_ids: list[int]  # oldest window first

    def api(self, path: str) -> Any:
        """GET an API path with the admin key."""
        import httpx2 as httpx

        r = httpx.get(self.base + path, headers=auth(self.admin_key), timeout=30)
        assert r.status_code == 200, r.text
        return r.json()


def new_key(engine: Engine, *scopes: str) -> str:
    """A new key with these scopes on the site's database."""
    with session_scope(make_sessionmaker(engine)) as session:
        _, key = create_key(session, name=f"ui-{'-'.join(scopes)}", scopes=list(scopes))
    return key


@pytest.fixture(scope="session")
def site(pg_server_url: str) -> Iterator[Site]:
    """Driftline serving a model with three computed windows, in its own database. The api
    runs as the slim api image does (no engine libraries): every page and every write here
    proves that image serves them; the windows are computed in this process, as a worker."""
    import httpx2 as httpx

    with migrated_database(pg_server_url, prefix="driftline_ui") as url:
        engine = create_engine(url)
        admin_key = new_key(engine, "admin")
        admin = auth(admin_key)
        tweets = health_tweets(without_urls=True).sample(frac=1, random_state=1)
        tweets = tweets.reset_index(drop=True)
        env = as_slim_api(driftline_env(url, api_key_cache_seconds="0"))
        with driftline_api(env) as (base, _), httpx.Client(base_url=base, timeout=60) as http:
            client = cast(TestClient, http)  # the seeding helpers need only post/put
            baseline_id = upload_baseline(client, admin, tweets)
            monitor_id = make_monitor(client, admin, baseline_id)
            calm = tweets.iloc[600:900]
            post_window(client, admin, list(calm.text), list(calm.outlet), 0)
            chat = chatterbot().sample(300, random_state=0)
            for hour in (1, 2):
                texts = list(tweets.text[900 + 150 * hour : 1050 + 150 * hour])
                texts += list(chat.prompt[:150])
                texts[0] = HOSTILE_PROMPT
                outlets = list(tweets.outlet[900 + 150 * hour : 1050 + 150 * hour])
                # Hour 1 goes unlabelled: its window has a label queue to answer.
                post_window(client, admin, texts, outlets + ["other"] * 150, hour, labels=hour == 2)
            # One labelled event disagrees with a hostile label (a "mislabelled" example).
            fb = {"model": "news-bot", "request_id": "h2-0", "label": HOSTILE_LABEL}
            assert client.post("/v1/feedback", json=fb, headers=admin).status_code == 202
            r = client.put(
                "/v1/models/news-bot/metrics",
                json={"version": "", "training": {"f1": 0.97}, "validation": {"f1": 0.91}},
                headers=admin,
            )
            assert r.status_code == 200, r.text
            hostile = {"model": HOSTILE_MODEL, "prompt": HOSTILE_PROMPT, "output": "ok"}
            assert client.post("/v1/events", json=hostile, headers=admin).status_code == 202
            work(engine, ORIGIN + 3 * HOUR)
            read_key, ingest_key = new_key(engine, "read"), new_key(engine, "ingest")
            site = Site(base, engine, read_key, ingest_key, admin_key, monitor_id, [])
            runs = site.api(f"/v1/monitors/{monitor_id}/runs")["runs"]
            site.run_ids = [r["id"] for r in sorted(runs, key=lambda r: r["window_start"])]
            yield site
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's; Playwright downloads nothing). Module-scoped: Playwright's
    sync API holds an event loop on this thread while it is open, which later tests'
    ``asyncio.run`` would trip over."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=path,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """A browser page with everything it asked for and complained about."""

    page: Any
    requests: list[str]
    problems: list[str]


@pytest.fixture
def open_page(browser: Any, site: Site) -> Iterator[Callable[..., Watched]]:
    """``open_page(bypass_csp=False)`` → a fresh context's page whose requests and console
    errors are recorded."""
    contexts: list[Any] = []

    def make(*, bypass_csp: bool = False) -> Watched:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, bypass_csp=bypass_csp
        )
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page, [], [])
        page.on("request", lambda r: watched.requests.append(r.url))
        page.on(
            "console",
            lambda m: watched.problems.append(f"{m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: watched.problems.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: (watched.problems.append(f"dialog: {d.message}"), d.dismiss()))
        return watched

    yield make
    for context in contexts:
        context.close()


def sign_in(watched: Watched, site: Site, key: str, path: str = "/") -> None:
    """Go to ``path``, get sent to the login page, sign in with ``key``."""
    page = watched.page
    page.goto(site.base + path)
    assert page.url.startswith(site.base + "/login"), page.url
    page.fill("#key", key)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state("networkidle")
