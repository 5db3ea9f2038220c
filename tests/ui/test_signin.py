"""Browser sign-in over plain HTTP: what a page without a session gets, which keys may sign
in, what the cookie is, and the CSRF checks (tests/ui/test_pages.py drives a real browser)."""

import html
import re

import httpx2 as httpx
import pytest
from sqlalchemy import text

from app.api.ui.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from app.auth.keys import create_key, revoke_key
from app.db.session import make_sessionmaker, session_scope
from tests.ui.conftest import Site, new_key

PAGES = [
    "/",
    "/models/news-bot",
    "/windows/{run}",
    "/windows/{run}/report",
    "/windows/{run}/export",
]


def login(site: Site, key: str, *, client: httpx.Client | None = None) -> httpx.Response:
    """Fetch the form (for its CSRF token and cookie), then post the key."""
    c = client or httpx.Client(base_url=site.base)
    form = c.get("/login?next=/models/news-bot")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    return c.post("/login", data={"key": key, "csrf": token.group(1), "next": "/models/news-bot"})


def to_login(r: httpx.Response) -> bool:
    """The answer a page gives a browser without a (valid) session."""
    return r.status_code == 303 and r.headers["location"].startswith("/login")


def test_signed_out_every_page_redirects_to_the_login(site: Site) -> None:
    for path in PAGES:
        path = path.format(run=site.run_ids[-1])
        r = httpx.get(site.base + path, follow_redirects=False)
        assert r.status_code == 303, path
        expected = "/login" if path == "/" else f"/login?next={path}"
        assert r.headers["location"] == expected, r.headers
    # A forged cookie is no session.
    assert to_login(httpx.get(site.base + "/", cookies={SESSION_COOKIE: "x" * 43}))


def test_a_read_key_signs_in_with_a_strict_httponly_cookie_and_never_shows_the_key(
    site: Site,
) -> None:
    with httpx.Client(base_url=site.base) as c:
        r = login(site, site.read_key, client=c)
        assert r.status_code == 303 and r.headers["location"] == "/models/news-bot"
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
        flags = {f.strip().split("=")[0].lower() for f in cookie.split(";")}
        assert {"httponly", "max-age", "path"} <= flags
        assert "samesite=strict" in cookie.lower()
        assert "secure" not in flags  # plain HTTP here; HTTPS sets Secure
        assert site.read_key not in cookie
        page = c.get("/models/news-bot")
        assert page.status_code == 200 and "news-bot" in page.text
        assert site.read_key not in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        # Only the token's hash is stored.
        with site.engine.connect() as conn:
            stored = conn.execute(text("SELECT token_sha256 FROM browser_sessions")).scalars()
            assert c.cookies[SESSION_COOKIE] not in list(stored)


@pytest.mark.parametrize("which", ["ingest-only", "unknown", "revoked"])
def test_keys_that_may_not_read_cannot_sign_in(site: Site, which: str) -> None:
    key = {"ingest-only": site.ingest_key, "unknown": "dl_" + "0" * 55}.get(which)
    if which == "revoked":
        key = new_key(site.engine, "read")
        with session_scope(make_sessionmaker(site.engine)) as session:
            revoke_key(session, key_id_or_prefix=key[:15])
    assert key is not None
    r = login(site, key)
    assert r.status_code == 401
    assert ("lacks the 'read' scope" in html.unescape(r.text)) == (which == "ingest-only")
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")


def test_sessions_end_on_expiry_on_revocation_and_on_sign_out(site: Site) -> None:
    key = new_key(site.engine, "read")
    clients = [httpx.Client(base_url=site.base) for _ in range(3)]
    for c in clients:
        assert login(site, key, client=c).status_code == 303
        assert c.get("/").status_code == 200
    expired, revoked, signed_out = clients
    with site.engine.begin() as conn:
        ended = conn.execute(
            text("UPDATE browser_sessions SET expires_at = now() - interval '1 second' "
                 "WHERE token_sha256 = encode(sha256(convert_to(:t, 'UTF8')), 'hex')"),
            {"t": expired.cookies[SESSION_COOKIE]},
        )  # fmt: skip
        assert ended.rowcount == 1
    assert to_login(expired.get("/"))
    # Sign-out needs the session's CSRF token: without it, nothing happens.
    page = signed_out.get("/").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    assert signed_out.post("/logout", data={}).status_code == 403
    assert signed_out.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert signed_out.get("/").status_code == 200
    r = signed_out.post("/logout", data={"csrf": csrf.group(1)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert to_login(signed_out.get("/"))
    with session_scope(make_sessionmaker(site.engine)) as session:
        revoke_key(session, key_id_or_prefix=key[:15])
    assert to_login(revoked.get("/"))
    for c in clients:
        c.close()


def test_a_cross_site_login_post_without_the_form_token_is_refused(site: Site) -> None:
    # What a hostile page's auto-submitting form sends: the fields, but not our cookie.
    r = httpx.post(site.base + "/login", data={"key": site.read_key, "csrf": "guess"})
    assert r.status_code == 403 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
    with httpx.Client(base_url=site.base) as c:
        c.get("/login")
        assert c.cookies.get(LOGIN_CSRF_COOKIE)
        r = c.post("/login", data={"key": site.read_key, "csrf": "guess"})
        assert r.status_code == 403
    # An open redirect is not on offer either.
    with httpx.Client(base_url=site.base) as c:
        form = c.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token
        r = c.post(
            "/login", data={"key": site.read_key, "csrf": token.group(1), "next": "//evil.example"}
        )
        assert r.status_code == 303 and r.headers["location"] == "/"


def test_an_oversized_login_body_is_refused_before_it_is_read(site: Site) -> None:
    r = httpx.post(site.base + "/login", content=b"key=" + b"a" * 100_000,
                   headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 413


def test_another_projects_model_and_windows_look_absent(site: Site) -> None:
    with site.engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (name) VALUES ('other') ON CONFLICT DO NOTHING"))
        project = conn.execute(text("SELECT id FROM projects WHERE name = 'other'")).scalar_one()
    with session_scope(make_sessionmaker(site.engine)) as session:
        _, key = create_key(session, name="other-team", scopes=["read"], project_id=project)
    with httpx.Client(base_url=site.base) as c:
        assert login(site, key, client=c).status_code == 303
        fleet = c.get("/").text
        assert "news-bot" not in fleet
        # Its fleet is empty, and says how to log a first event.
        assert "No models yet" in fleet and f"curl -X POST {site.base}/v1/events" in fleet
        assert c.get("/models/news-bot").status_code == 404
        assert c.get(f"/windows/{site.run_ids[-1]}").status_code == 404
        assert c.get(f"/windows/{site.run_ids[-1]}/report").status_code == 404
        assert c.get(f"/windows/{site.run_ids[-1]}/export").status_code == 404


def test_a_window_whose_report_is_still_due_says_so_instead_of_framing_it(site: Site) -> None:
    run = site.run_ids[-1]
    with httpx.Client(base_url=site.base) as c:
        assert login(site, site.read_key, client=c).status_code == 303
        assert 'iframe class="report"' in c.get(f"/windows/{run}").text
        with site.engine.begin() as conn:
            due = conn.execute(
                text("SELECT report_due_at FROM monitor_runs WHERE id = :id"), {"id": run}
            ).scalar_one()
            conn.execute(
                text("UPDATE monitor_runs SET report_due_at = now() + interval '1 hour' "
                     "WHERE id = :id"), {"id": run},
            )  # fmt: skip
        try:
            page = c.get(f"/windows/{run}").text
            assert "The report is being rendered" in page
            assert 'iframe class="report"' not in page
        finally:
            with site.engine.begin() as conn:
                conn.execute(text("UPDATE monitor_runs SET report_due_at = :d WHERE id = :id"),
                             {"d": due, "id": run})  # fmt: skip


def test_runbooks_are_pages_and_their_markdown_stays_available(site: Site) -> None:
    page = httpx.get(site.base + "/runbooks/drift-detected")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>DriftlineDriftDetected</h1>" in page.text
    assert "<strong>What it means.</strong>" in page.text
    raw = httpx.get(site.base + "/runbooks/drift-detected.md")
    assert raw.headers["content-type"].startswith("text/markdown") and raw.text.startswith("#")
    assert httpx.get(site.base + "/runbooks/nope").status_code == 404
    index = httpx.get(site.base + "/runbooks").text
    assert 'href="/runbooks/drift-detected"' in index
