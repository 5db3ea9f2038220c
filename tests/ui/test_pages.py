"""The UI in a real browser (Debian's Chromium via Playwright): sign in, fleet → model →
window → report, charts that draw, untrusted text shown as text, nothing fetched from
anywhere else, accessibility (axe-core) and the API docs offline."""

from pathlib import Path
from typing import Any

from tests.ui.conftest import (
    AXE,
    HOSTILE_LABEL,
    HOSTILE_MODEL,
    HOSTILE_PROMPT,
    Site,
    Watched,
    new_key,
    sign_in,
)


def assert_stayed_home(watched: Watched, site: Site) -> None:
    """No console error, and every request the pages made went to Driftline itself."""
    assert watched.problems == []
    home = (site.base + "/", f"blob:{site.base}/")  # ReDoc's web worker is a same-origin blob
    outside = [u for u in watched.requests if not u.startswith(home)]
    assert outside == [], outside


def drawn_pixels(page: Any, figure: Any) -> int:
    """Non-transparent pixels on a chart's canvas (0: nothing drawn)."""
    handle = figure.locator("canvas").element_handle()
    return int(
        page.evaluate(
            """(c) => {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }""",
            handle,
        )
    )


def test_sign_in_and_click_through_fleet_model_window_report(site: Site, open_page: Any) -> None:
    watched = open_page()
    page = watched.page
    sign_in(watched, site, site.read_key)
    assert page.url == site.base + "/"
    status = site.api("/v1/models/news-bot/status")
    row = page.locator("tr[data-model='news-bot']")
    assert row.locator(".badge").inner_text() == status["verdict"].replace("_", " ")
    # Worst first: the drifting model sits above the one with no monitor.
    names = page.locator("table.fleet tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.model)"
    )
    assert names[0] == "news-bot" and HOSTILE_MODEL in names
    assert row.locator(".strip a").count() == len(site.run_ids)

    row.locator("th a").first.click()
    page.wait_for_load_state("networkidle")
    assert page.url == site.base + "/models/news-bot"
    assert page.locator("h1 .badge").inner_text() == status["verdict"].replace("_", " ")
    figures = page.locator("figure.chart")
    assert figures.count() >= 8
    for i in range(figures.count()):
        figure = figures.nth(i)
        assert figure.get_attribute("data-drawn") == "true"
        assert drawn_pixels(page, figure) > 500, figure.locator("figcaption").inner_text()
    f1 = page.locator("figure[data-chart$='-quality-f1']")
    legend = f1.locator(".u-legend").inner_text()
    assert "training f1" in legend and "validation f1" in legend and "baseline" in legend
    # The version table lines training, validation and production F1 up, as status does.
    scores = next(v for v in status["versions"] if v["version"] == "")
    cells = page.locator("table.versions tbody tr").first.locator("td").all_inner_texts()
    assert cells[1:3] == ["0.97", "0.91"], cells
    assert scores["production_f1"] is not None
    assert cells[3].startswith(f"{scores['production_f1']:.4g}"), cells

    newest = site.run_ids[-1]
    page.locator(f"table.windows a[href='/windows/{newest}']").click()
    page.wait_for_load_state("networkidle")
    run = site.api(f"/v1/runs/{newest}")
    assert page.locator("#verdict").inner_text() == run["verdict"].replace("_", " ")
    for reason in run["reasons"]:
        assert page.get_by_text(reason, exact=True).count() == 1
    for check, result in run["checks"].items():
        cells = page.locator("table.checks tr", has_text=check.replace("_", " "))
        assert result["status"].replace("_", " ") in cells.first.inner_text()
    assert page.locator("a[rel=next]").count() == 0
    page.locator("a[rel=prev]").click()
    page.wait_for_load_state("networkidle")
    assert page.url == f"{site.base}/windows/{site.run_ids[-2]}"
    page.locator("a[rel=next]").click()
    page.wait_for_load_state("networkidle")
    assert page.url == f"{site.base}/windows/{newest}"

    frame = page.locator("iframe.report")
    assert frame.get_attribute("sandbox") == "allow-scripts"
    frame.scroll_into_view_if_needed()
    report = page.frame_locator("iframe.report")
    report.locator("text=Evidently's per-column view").first.wait_for(timeout=30_000)
    body = report.locator("body").inner_text()
    assert run["verdict"] in body and "Dataset Drift is NOT detected" not in body

    with page.expect_download() as download:
        page.locator(f"a[href='/windows/{newest}/export']").click()
    assert download.value.suggested_filename.startswith("retraining-news-bot-")
    with page.expect_download() as download:
        page.locator(f"a[href='/windows/{newest}/label-queue.csv']").click()
    assert download.value.suggested_filename == f"label-queue-run-{newest}.csv"
    header = Path(download.value.path()).read_text().splitlines()[0]
    assert header.startswith("request_id,model,ts,prompt,output,prediction")
    assert_stayed_home(watched, site)


def test_untrusted_text_renders_as_text_everywhere(site: Site, open_page: Any) -> None:
    watched = open_page()
    page = watched.page
    sign_in(watched, site, site.read_key)
    title = page.title()
    assert page.locator("table.fleet th a:first-child", has_text=HOSTILE_MODEL).count() == 1
    page.goto(f"{site.base}/windows/{site.run_ids[-1]}")
    page.wait_for_load_state("networkidle")
    mislabelled = page.locator("table.examples", has_text=HOSTILE_LABEL)
    assert mislabelled.count() == 1
    assert mislabelled.get_by_text(HOSTILE_PROMPT).count() == 1
    assert page.locator("img[src=x]").count() == 0 and page.title() != "PWNED"
    # Each example links to its event, where the same text is still only text.
    row = mislabelled.locator("tr", has_text=HOSTILE_PROMPT).first
    row.locator("a[href^='/events/']").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#prompt").inner_text() == HOSTILE_PROMPT
    assert page.locator("#label").inner_text() == HOSTILE_LABEL
    assert page.locator("img[src=x]").count() == 0 and page.title() != "PWNED"
    page.goto(f"{site.base}/models/{HOSTILE_MODEL}")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1", has_text=HOSTILE_MODEL).count() == 1
    assert page.title() == f"{HOSTILE_MODEL} · Driftline"  # the name, as text
    # No monitor yet: the page says how to create one.
    assert page.get_by_text("No monitor watches this model yet").count() == 1
    assert page.locator("img[src=x]").count() == 0 and page.title() != "PWNED"
    assert title == "Fleet · Driftline"
    assert_stayed_home(watched, site)


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page (the report's frame left out: it
    is Evidently's page, sandboxed)."""
    page.add_script_tag(path=str(AXE))
    found: list[str] = page.evaluate(
        "async () => (await axe.run(document, {exclude: [['iframe']]})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.nodes.length)"
    )
    return found


def test_pages_pass_axe_and_every_link_is_reachable_by_keyboard(site: Site, open_page: Any) -> None:
    # axe is injected as a script, which the pages' CSP rightly refuses: bypass it here only.
    watched = open_page(bypass_csp=True)
    page = watched.page
    page.goto(site.base + "/login")
    pages = ["/login", "/", "/models/news-bot", f"/windows/{site.run_ids[-1]}",
             "/runbooks/drift-detected",
             "/events?model=news-bot&from=2026-11-01T00:00&to=2026-11-02T00:00",
             f"/compare?a={site.run_ids[0]}&b={site.run_ids[-1]}",
             f"/compare/baseline/{site.run_ids[-1]}",
             f"/windows/{site.run_ids[1]}/label"]  # fmt: skip
    serious: dict[str, list[str]] = {}
    # A key that may label too, so that the labelling form itself is checked.
    labeller = new_key(site.engine, "read", "annotate")
    for i, path in enumerate(pages):
        if i == 1:
            sign_in(watched, site, labeller)
        page.goto(site.base + path)
        page.wait_for_load_state("networkidle")
        if found := serious_violations(page):
            serious[path] = found
        if path.startswith("/windows/"):  # and the first example's event page
            page.locator("a[href^='/events/']").first.click()
            page.wait_for_load_state("networkidle")
            if found := serious_violations(page):
                serious[page.url] = found
    assert serious == {}

    page.goto(f"{site.base}/windows/{site.run_ids[-2]}")
    page.wait_for_load_state("networkidle")
    links = set(page.locator("a[href]:visible").evaluate_all("as => as.map(a => a.href)"))
    reached: set[str] = set()
    for _ in range(len(links) + 20):
        page.keyboard.press("Tab")
        href = page.evaluate("() => document.activeElement && document.activeElement.href")
        if href:
            reached.add(href)
    assert links <= reached, links - reached


def test_api_docs_render_offline_with_an_authorize_button(site: Site, open_page: Any) -> None:
    watched = open_page()
    page = watched.page
    spec = site.api("/openapi.json")
    operations = sum(len(ops) for ops in spec["paths"].values())
    page.goto(site.base + "/docs")
    page.locator(".opblock").first.wait_for(timeout=30_000)
    assert page.locator(".opblock").count() == operations
    assert page.locator("button.authorize").count() == 1
    page.goto(site.base + "/redoc")
    page.locator("[data-section-id^='operation/']").first.wait_for(timeout=30_000)
    assert page.locator("[data-section-id^='operation/']").count() == operations
    assert_stayed_home(watched, site)
