"""What to label next, end to end: a window where a new domain arrives, unlabelled; its label
queue (JSONL and CSV) holds the new-domain events first, scrubbed, and shrinks as labels
come back through /v1/feedback."""

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from app import cli
from app.datasets import chatterbot
from tests.jobs.test_monitoring_flow import (
    HOUR,
    ORIGIN,
    admin,  # noqa: F401 (a fixture)
    make_monitor,
    post_window,
    tweets,  # noqa: F401 (a fixture)
    upload_baseline,
    work,
)

EMAIL = "jane.doe@example.com"


def test_the_label_queue_ranks_the_new_domain_first_and_takes_labels_back(
    client: TestClient,
    admin: dict[str, str],  # noqa: F811
    engine: Engine,
    driftline: str,
    make_key: Callable[..., str],
    tmp_path: Path,
    tweets: pd.DataFrame,  # noqa: F811
) -> None:
    monitor_id = make_monitor(client, admin, upload_baseline(client, admin, tweets))
    news = list(tweets.text[600:840])
    # Each ends in a newline, as pasted text does (quoted in the CSV: one record, two lines).
    chat = [p + "\n" for p in chatterbot().sample(60, random_state=0).prompt]
    chat[0] = f"my email is {EMAIL}, can you help"
    texts = news + chat  # 20% a new domain, no labels yet
    post_window(client, admin, texts, list(tweets.outlet[600:840]) + ["other"] * 60, 0,
                labels=False)  # fmt: skip
    work(engine, ORIGIN + HOUR)
    run = client.get(f"/v1/monitors/{monitor_id}/runs", headers=admin).json()["runs"][0]

    r = client.get(f"/v1/runs/{run['id']}/label-queue", headers=admin)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    queue = [json.loads(line) for line in r.text.splitlines()]
    assert len(queue) == 50  # the default budget
    new_domain = {f"h0-{i}" for i in range(240, 300)}
    top = [q["request_id"] for q in queue[:15]]
    # A random 15 would hold 3 of the new domain (20%); the queue's first 15 hold 8.
    assert sum(rid in new_domain for rid in top) >= 7, queue[:15]
    assert all(q["label"] == "" and q["priority"] <= 1 for q in queue)
    assert any("novel" in q["reasons"] for q in queue)
    assert EMAIL not in r.text  # scrubbed like every export

    table = client.get(f"/v1/runs/{run['id']}/label-queue?format=csv", headers=admin)
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [row["request_id"] for row in rows] == [q["request_id"] for q in queue]

    # The round trip an operator runs: export the CSV, an annotator fills in ten labels,
    # import it. The queue no longer offers them, and the window is recomputed with them.
    key = make_key("ingest", "read")
    exported = tmp_path / "queue.csv"
    out = CliRunner().invoke(cli.app, ["labels", "export", str(run["id"]), "-o", str(exported),
                                       "--url", driftline, "--key", key])  # fmt: skip
    assert out.exit_code == 0 and "50 event(s) to label" in out.output, out.output
    filled = list(csv.DictReader(io.StringIO(exported.read_text())))
    for row in filled[:10]:
        row["label"] = "other"
    with exported.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(filled[0]))
        writer.writeheader()
        writer.writerows(filled)
    out = CliRunner().invoke(cli.app, ["labels", "import", str(exported), "--url", driftline,
                                       "--key", key])  # fmt: skip
    assert out.exit_code == 0 and "10 label(s) sent; 40 row(s)" in out.output, out.output
    after = client.get(f"/v1/runs/{run['id']}/label-queue", headers=admin).text.splitlines()
    assert [json.loads(line)["request_id"] for line in after] == [
        q["request_id"] for q in queue[10:]
    ]
    work(engine, ORIGIN + HOUR)  # late labels re-queue the window
    rerun = client.get(f"/v1/runs/{run['id']}", headers=admin).json()
    assert rerun["n_labels"] == 10 and rerun["revision"] == 1, rerun
    bad = client.get(f"/v1/runs/{run['id']}/label-queue?format=xml", headers=admin)
    assert bad.status_code == 422
