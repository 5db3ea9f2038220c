"""The on-call trail in a real browser: a window → its events (filters, search and paging give
what ``GET /v1/events`` gives) → an event; and the window's label queue answered with the
keyboard alone, stored as feedback under the signed-in name, and the window recomputed."""

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import text

from tests.jobs.test_monitoring_flow import HOUR, ORIGIN, work
from tests.ui.conftest import HOSTILE_PROMPT, Site, new_key, sign_in


def listed(page: Any) -> list[str]:
    """The request ids in the events table, in order."""
    ids: list[str] = page.locator("table.events tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.requestId)"
    )
    return ids


def api_ids(site: Site, **query: Any) -> tuple[list[str], str | None]:
    """``GET /v1/events`` for news-bot: the request ids and the next cursor."""
    answer = site.api("/v1/events?" + urlencode({"model": "news-bot", **query}, doseq=True))
    return [e["request_id"] for e in answer["events"]], answer["next_cursor"]


def unexpected(problems: list[str]) -> list[str]:
    """The console's complaints but the one a page answered with its own 422 (a refusal
    shown in words is the point there)."""
    return [p for p in problems if "status of 422" not in p]


def submit(page: Any) -> None:
    page.locator("form.event-filters button[type=submit]").click()
    page.wait_for_load_state("networkidle")


def test_a_windows_events_filter_search_and_page_as_the_api_does(
    site: Site, open_page: Any
) -> None:
    watched = open_page()
    page = watched.page
    sign_in(watched, site, site.read_key, f"/windows/{site.run_ids[-1]}")
    page.locator("#window-events").click()
    page.wait_for_load_state("networkidle")
    run = site.api(f"/v1/runs/{site.run_ids[-1]}")
    span = {"from": run["window_start"], "to": run["window_end"]}
    # The window's events, newest first, 50 a page, then the older ones.
    expected, cursor = api_ids(site, **span)
    assert len(expected) == 50 and cursor
    assert listed(page) == expected
    page.locator("a[rel=next]").click()
    page.wait_for_load_state("networkidle")
    assert listed(page) == api_ids(site, **span, cursor=cursor)[0]

    # A text search (case-insensitive, in prompt or output).
    page.fill("#f-q", "PARCEL")
    submit(page)
    found = listed(page)
    assert found == api_ids(site, **span, q="PARCEL")[0]
    assert found == ["h2-0"]  # the hostile prompt, shown as text
    assert page.locator("table.events td", has_text=HOSTILE_PROMPT).count() == 1
    assert page.title() != "PWNED"

    # Filters together: a class, labelled events only, a search that matches nothing.
    page.fill("#f-q", "")
    page.fill("#f-prediction", "other")
    page.select_option("#f-labelled", "yes")
    submit(page)
    expected = api_ids(site, **span, prediction="other", has_label="true")[0]
    assert expected and listed(page) == expected
    page.fill("#f-q", "no such words anywhere")
    submit(page)
    assert listed(page) == [] and page.locator("#no-events").count() == 1

    # An event from the list, then a range wider than a list may scan: said in words.
    page.fill("#f-q", "")
    submit(page)
    first = listed(page)[0]
    page.locator(f"tr[data-request-id='{first}'] a").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1 code").inner_text() == first
    page.go_back()
    page.fill("#f-from", "2026-01-01T00:00")
    submit(page)
    assert "at most 31 days" in page.locator("#events-error").inner_text()
    assert unexpected(watched.problems) == []


def test_the_events_page_shows_only_models_the_sign_in_sees(site: Site, open_page: Any) -> None:
    from app.auth.keys import create_key
    from app.auth.projects import create_project
    from app.db.session import make_sessionmaker, session_scope

    with session_scope(make_sessionmaker(site.engine)) as session:
        project = create_project(session, "elsewhere")
        _, key = create_key(session, name="elsewhere", scopes=["read"], project_id=project.id)
    watched = open_page()
    page = watched.page
    sign_in(watched, site, key, "/events?model=news-bot&from=2026-11-01T00:00&to=2026-11-02T00:00")
    assert page.locator("table.events").count() == 0
    assert "not found" in page.locator("main").inner_text().casefold()


def press_until_focused(page: Any, element_id: str) -> None:
    """Tab through the page until the element has the focus (keyboard only)."""
    for _ in range(60):
        if page.evaluate("() => document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


def test_keyboard_only_labelling_stores_feedback_and_recomputes_the_window(
    site: Site, open_page: Any
) -> None:
    unlabelled = site.run_ids[1]  # the window posted without labels
    before = site.api(f"/v1/runs/{unlabelled}")
    with site.engine.connect() as conn:
        queue = conn.execute(
            text("SELECT results->'label_queue' FROM monitor_runs WHERE id = :id"),
            {"id": unlabelled},
        ).scalar_one()
    picks = [p["request_id"] for p in queue]
    assert len(picks) >= 3

    # A read-only sign-in may look but not label.
    watched = open_page()
    sign_in(watched, site, site.read_key, f"/windows/{unlabelled}/label")
    assert watched.page.locator("#label-refused").count() == 1
    assert watched.page.locator("form.annotate").count() == 0

    key = new_key(site.engine, "read", "annotate")
    watched = open_page()
    page = watched.page
    # The on-call trail: the model page (where an alert's link lands) → the window → its
    # events flagged by a check → one of them → "label it".
    sign_in(watched, site, key, "/models/news-bot")
    page.locator(f"table.windows a[href='/windows/{unlabelled}']").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#label-here").count() == 1
    page.locator("#window-events").click()
    page.wait_for_load_state("networkidle")
    page.select_option("#f-flagged", "yes")
    submit(page)
    span = {"from": before["window_start"], "to": before["window_end"]}
    flagged = listed(page)
    assert flagged == api_ids(site, **span, flagged="true")[0] and picks[0] in set(
        api_ids(site, **span, flagged="true", limit=200)[0]
    )
    if picks[0] in flagged:
        page.locator(f"tr[data-request-id='{picks[0]}'] a").click()
        page.wait_for_load_state("networkidle")
    else:  # further down the list than its first page
        page.goto(f"{site.base}/events/news-bot/{picks[0]}")
    assert page.locator("#flags", has_text="picked for a human label").count() == 1
    page.locator("a.label-it").first.click()
    page.wait_for_load_state("networkidle")
    first = page.locator("input[name=request_id]").input_value()
    assert first == picks[0]
    # Tab to the classes (one stop), Space picks the focused one; Tab to the score, type it,
    # and Enter submits with the form's first button, "Save and next".
    press_until_focused(page, "choice-0")
    page.keyboard.press("Space")
    chosen = page.locator("input[name=choice]:checked").input_value()
    press_until_focused(page, "score")
    page.keyboard.type("0.25")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert first in page.locator("#label-saved").inner_text()
    second = page.locator("input[name=request_id]").input_value()
    assert second == picks[1]
    # Skip the second, type a label for the third.
    press_until_focused(page, "label-skip")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.locator("input[name=request_id]").input_value() == picks[2]
    press_until_focused(page, "label_text")
    page.keyboard.type("typed-class")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert picks[2] in page.locator("#label-saved").inner_text()
    # Nothing answered: said, and nothing stored.
    third_next = page.locator("input[name=request_id]").input_value()
    press_until_focused(page, "label-save")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert "pick a class" in page.locator("#label-error").inner_text()
    assert page.locator("input[name=request_id]").input_value() == third_next

    name = "ui-read-annotate"
    one = site.api(f"/v1/events/news-bot/{first}")
    assert (one["label"], one["score"], one["feedback_source"]) == (chosen, 0.25, name)
    assert site.api(f"/v1/events/news-bot/{picks[1]}")["label"] is None
    three = site.api(f"/v1/events/news-bot/{picks[2]}")
    assert (three["label"], three["feedback_source"]) == ("typed-class", name)

    # The labels reach the window like any late label: recomputed with them.
    work(site.engine, ORIGIN + 3 * HOUR)
    after = site.api(f"/v1/runs/{unlabelled}")
    assert after["n_labels"] == (before["n_labels"] or 0) + 2
    assert after["revision"] > before["revision"]
    assert unexpected(watched.problems) == []


def test_labelling_refuses_a_forged_or_stray_answer(site: Site, open_page: Any) -> None:
    unlabelled = site.run_ids[1]
    key = new_key(site.engine, "read", "annotate")
    watched = open_page()
    page = watched.page
    sign_in(watched, site, key, f"/windows/{unlabelled}/label")
    csrf = page.locator("form.annotate input[name=csrf]").input_value()
    url = f"{site.base}/windows/{unlabelled}/label"
    forged = page.request.post(url, form={"request_id": "h1-0", "label_text": "x"})
    assert forged.status == 403 and forged.headers["content-type"].startswith("text/html")
    assert 'id="label-error"' in forged.text() and "nothing was saved" in forged.text()
    stray = page.request.post(
        url, form={"csrf": csrf, "request_id": "not-in-the-queue", "label_text": "x"}
    )
    assert stray.status == 422 and stray.headers["content-type"].startswith("text/html")
    assert 'id="label-error"' in stray.text() and "label queue" in stray.text()
    # Someone else's window (or none): the not-found page, not the queue.
    elsewhere = page.request.post(
        f"{site.base}/windows/999999/label", form={"csrf": csrf, "request_id": "h1-0"}
    )
    assert elsewhere.status == 404 and elsewhere.headers["content-type"].startswith("text/html")
    with site.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM feedback WHERE label = 'x'")).scalar()
    assert stored == 0


def test_the_model_page_charts_a_time_range(site: Site, open_page: Any) -> None:
    watched = open_page()
    page = watched.page
    sign_in(watched, site, site.read_key, "/models/news-bot")
    assert page.locator("table.windows tbody tr").count() == len(site.run_ids)
    # The form: the middle hour only.
    page.fill("#m-from", (ORIGIN + HOUR).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#m-to", (ORIGIN + 2 * HOUR).strftime("%Y-%m-%dT%H:%M"))
    page.locator("#time-range button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    shown = page.locator("table.windows tbody tr a").evaluate_all("as => as.map(a => a.href)")
    assert shown == [f"{site.base}/windows/{site.run_ids[1]}"]
    xs = page.evaluate("() => JSON.parse(document.querySelector('.panel-data').textContent).x")
    assert xs == [(ORIGIN + HOUR).timestamp()]
    assert page.locator("figure.chart[data-drawn=true]").count() >= 1
    page.goto(f"{site.base}/models/news-bot?from=yesterday")
    assert "not a time" in page.locator("#range-error").inner_text()
    assert unexpected(watched.problems) == []


def test_a_long_range_is_charted_by_day_and_a_day_zooms_into_its_windows(
    site: Site, open_page: Any
) -> None:
    """More windows in the range than the chart's points: the page charts days (each the
    mean of its windows, the lowest and highest shaded) from the stored summaries, and a
    day's point leads to that day's windows."""
    watched = open_page()
    page = watched.page
    runs = [site.api(f"/v1/runs/{r}") for r in site.run_ids]
    start, end = (
        (ORIGIN - HOUR).strftime("%Y-%m-%dT%H:%M"),
        (ORIGIN + 5 * HOUR).strftime("%Y-%m-%dT%H:%M"),
    )
    # Six hours of hourly windows, in at most two points: by day.
    sign_in(watched, site, site.read_key, f"/models/news-bot?windows=2&from={start}&to={end}")
    assert "by day" in page.locator("section.monitor p.hint").first.inner_text()
    data = page.evaluate("() => JSON.parse(document.querySelector('.panel-data').textContent)")
    assert data["x"] == [ORIGIN.replace(hour=0).timestamp()]
    volume = next(c for c in data["charts"] if c["series"][0]["label"] == "events")
    assert volume["series"][0]["values"] == [sum(r["n_events"] for r in runs)]
    shift = [window_figures(r)[("embedding_drift", "centroid_shift")] for r in runs]
    chart = next(
        c for c in data["charts"] if c["series"][0]["label"] == "centroid_shift"
    )  # the mean of the day's windows, their lowest and highest as the band
    by_label = {line["label"]: line["values"] for line in chart["series"]}
    assert abs(by_label["centroid_shift"][0] - sum(shift) / len(shift)) < 1e-9
    assert (by_label["lowest window"], by_label["highest window"]) == ([min(shift)], [max(shift)])
    assert page.locator("figure.chart[data-drawn=true]").count() == len(data["charts"])
    # The table under the charts still lists the range's windows; the point zooms in.
    assert page.locator("table.windows tbody tr").count() == len(site.run_ids)
    page.goto(f"{site.base}/models/news-bot{data['links'][0]}")
    assert page.locator("table.windows tbody tr").count() == len(site.run_ids)
    zoomed = page.evaluate("() => JSON.parse(document.querySelector('.panel-data').textContent)")
    assert zoomed["runs"] == site.run_ids  # one day of hourly windows: the windows themselves
    assert unexpected(watched.problems) == []


def test_the_chart_resolution_keeps_a_range_within_its_points() -> None:
    from datetime import timedelta

    from app.api.ui.views.model import chart_resolution

    now = ORIGIN + 400 * 24 * HOUR
    minute, year = 60, ORIGIN - timedelta(days=365)
    assert chart_resolution(minute, None, None, 500, now) is None  # the newest windows
    assert chart_resolution(minute, now - 8 * HOUR, now, 500, now) is None  # 480 windows
    assert chart_resolution(minute, now - 9 * HOUR, now, 500, now) == 3600  # 540 → 9 hours
    assert chart_resolution(minute, year, None, 500, now) == 86400  # 400 days
    assert chart_resolution(3600, now - 30 * 24 * HOUR, now, 500, now) == 86400  # 720 hours
    assert chart_resolution(86400, year, now, 100, now) is None  # days: nothing coarser


def window_figures(run: dict[str, Any]) -> dict[tuple[str, str], float]:
    """A run's window-level numbers (no column's or class's), by check and name."""
    return {
        (check, m["name"]): m["value"]
        for check, result in run["checks"].items()
        for m in result.get("metrics", [])
        if m["feature"] is None and m["value"] is not None
    }


def test_two_windows_side_by_side(site: Site, open_page: Any) -> None:
    watched = open_page()
    page = watched.page
    newest, before = site.run_ids[-1], site.run_ids[-2]
    sign_in(watched, site, site.read_key, f"/windows/{newest}")
    page.locator("#compare-previous").click()
    page.wait_for_load_state("networkidle")
    assert page.url == f"{site.base}/compare?a={before}&b={newest}"
    a, b = site.api(f"/v1/runs/{before}"), site.api(f"/v1/runs/{newest}")
    verdicts = page.locator("#compare-summary td.verdict").all_inner_texts()
    assert verdicts == [a["verdict"].replace("_", " "), b["verdict"].replace("_", " ")]
    for name in set(a["checks"]) | set(b["checks"]):
        cells = page.locator(f"#compare-checks tr[data-check='{name}'] td").all_inner_texts()
        for cell, run in zip(cells, (a, b), strict=True):
            if name in run["checks"]:
                assert run["checks"][name]["status"].replace("_", " ") in cell
    # A figure of each, and the change between them, as the API has them.
    figures = [window_figures(run) for run in (a, b)]
    shared = sorted(set(figures[0]) & set(figures[1]))[0]
    values = {before: figures[0][shared], newest: figures[1][shared]}
    row = page.locator(f"#compare-figures tr[data-figure='{shared[0]}/{shared[1]}'] td")
    cells = row.all_inner_texts()
    assert cells[2] == f"{values[before]:.4g}" and cells[3] == f"{values[newest]:.4g}"
    # Any other window by number: the calm first one. The class mix shows the new class
    # "other" (half of the newest window) the calm window never predicted.
    page.goto(f"{site.base}/windows/{newest}")
    page.fill("#compare-a", str(site.run_ids[0]))
    page.locator("form[action='/compare'] button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert page.url == f"{site.base}/compare?b={newest}&a={site.run_ids[0]}"
    mix = page.locator("#compare-classes tbody tr", has_text="other").locator("td")
    assert mix.all_inner_texts()[:2] == ["0%", "50%"]
    # Another project's window, or none, is not found.
    page.goto(f"{site.base}/compare?a={before}&b=999999")
    assert "not found" in page.locator("main").inner_text().casefold()


def test_a_window_beside_its_baseline(site: Site, open_page: Any) -> None:
    watched = open_page()
    page = watched.page
    newest = site.run_ids[-1]
    sign_in(watched, site, site.read_key, f"/windows/{newest}")
    page.locator("#compare-baseline").click()
    page.wait_for_load_state("networkidle")
    assert page.url == f"{site.base}/compare/baseline/{newest}"
    run = site.api(f"/v1/runs/{newest}")
    quality = {m["name"]: m["value"] for m in run["checks"]["quality"]["metrics"]
               if m["feature"] is None}  # fmt: skip
    row = page.locator("#compare-figures tr[data-figure='quality/f1'] td").all_inner_texts()
    assert row[2:4] == [f"{quality['baseline_f1']:.4g}", f"{quality['f1']:.4g}"]
    assert page.locator("#compare-figures tr[data-figure='quality/baseline_f1']").count() == 0
    # The baseline's class mix from its records: the holdout never predicted "other".
    mix = page.locator("#compare-classes tbody tr", has_text="other").locator("td")
    assert mix.all_inner_texts()[:2] == ["0%", "50%"]
    assert unexpected(watched.problems) == []
