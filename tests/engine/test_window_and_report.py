"""A whole window on real data, and a report that logged prompts cannot script."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.datasets import health_tweets
from app.engine import report as report_module
from app.engine.report import Headline, render_report
from app.engine.results import Status
from app.engine.window import BaselineProfile, evaluate_window


def frame(texts: pd.Series, labels: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(len(texts))],
            "prompt": texts.to_numpy(),
            "output": "Thanks, noted.",
            "prediction": labels.to_numpy(),
            "label": labels.to_numpy(),
            "perplexity": np.random.default_rng(len(texts)).gamma(5, 1, len(texts)),
        }
    )


@pytest.fixture(scope="module")
def tweets() -> pd.DataFrame:
    return health_tweets(without_urls=True).sample(frac=1, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def profile(tweets: pd.DataFrame) -> BaselineProfile:
    base = tweets.iloc[:3000]
    return BaselineProfile.build(frame(base.text, base.outlet))


def test_an_unshifted_window_of_real_traffic_is_ok(
    tweets: pd.DataFrame, profile: BaselineProfile
) -> None:
    win = tweets.iloc[3000:4500]
    result = evaluate_window(profile, frame(win.text, win.outlet))
    assert result.status is Status.OK, result.reasons
    expected = {
        "descriptor_drift", "text_drift", "embedding_drift", "long_tail", "quality",
        "perplexity", "data_quality", "prediction_drift", "label_drift",
    }  # fmt: skip
    assert expected <= set(result.checks)


def test_eight_rows_are_insufficient_data_never_ok(
    tweets: pd.DataFrame, profile: BaselineProfile
) -> None:
    win = tweets.iloc[3000:3008]
    result = evaluate_window(profile, frame(win.text, win.outlet))
    assert result.status is Status.INSUFFICIENT_DATA and result.checks == {}


def test_an_unknown_outlet_shows_as_label_drift_and_lower_quality(
    tweets: pd.DataFrame, profile: BaselineProfile
) -> None:
    known = set(profile.records["label"])
    win = tweets.iloc[3000:4500]
    new = tweets[~tweets.outlet.isin(known)].head(1)
    if new.empty:  # every outlet is in the baseline sample: invent one the model never saw
        new = tweets.iloc[[0]].assign(outlet="never-seen")
    shifted = pd.concat([win.iloc[:1200], tweets.iloc[5000:5300].assign(outlet=new.outlet.iloc[0])])
    w = frame(shifted.text, shifted.outlet)
    w["prediction"] = np.where(w["label"] == new.outlet.iloc[0], "nprhealth", w["label"])
    result = evaluate_window(profile, w)
    assert result.checks["label_drift"].status is Status.DRIFT
    assert new.outlet.iloc[0] in result.checks["label_drift"].summary
    assert result.checks["quality"].status is Status.DEGRADED
    assert result.status is Status.DEGRADED and result.retraining_recommended


PAYLOADS = [
    "</script><script>document.title='PWNED'</script>",
    "<img src=x onerror=\"document.title='PWNED'\">",
]


def scripted_report(tweets: pd.DataFrame, profile: BaselineProfile) -> str:
    win = tweets.iloc[3000:3400].copy()
    win.loc[win.index[:200], "text"] = [PAYLOADS[i % 2] + f" hello {i}" for i in range(200)]
    w = frame(win.text, win.outlet)
    result = evaluate_window(profile, w)
    assert result.descriptors is not None
    return render_report(profile, w, result.descriptors, Headline.of(result))


def test_report_holds_no_executable_copy_of_a_scripted_prompt(
    tweets: pd.DataFrame, profile: BaselineProfile
) -> None:
    html = scripted_report(tweets, profile)
    assert "<script>document.title" not in html and "<img src=x" not in html
    # Still readable: the look-alike brackets (JSON-escaped inside the report's data).
    assert "\\u2039/script\\u203a\\u2039script\\u203adocument.title" in html


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def page_title(html: str) -> str:
    """Open the HTML in headless Chromium, let scripts run, return the document title."""
    binary = chromium()
    assert binary
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html)
        out = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp}/profile", "--virtual-time-budget=5000", "--dump-dom",
             page.as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    return dom.split("<title>", 1)[1].split("</title>", 1)[0] if "<title>" in dom else ""


@pytest.mark.skipif(
    chromium() is None and not os.environ.get("CI"),
    reason="chromium not installed (apt-get install chromium); CI always runs this",
)
def test_in_a_real_browser_the_prompts_run_nothing(
    tweets: pd.DataFrame, profile: BaselineProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "PWNED" not in page_title(scripted_report(tweets, profile))
    # The same report without neutralising shows the attack is real (the test can fail).
    identity: Callable[[object], object] = lambda value: value  # noqa: E731
    monkeypatch.setattr(report_module, "neutralise", identity)
    assert "PWNED" in page_title(scripted_report(tweets, profile))
