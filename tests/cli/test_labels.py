"""`driftline labels import` refuses a damaged file with the line at fault, sending nothing."""

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy import text as sql
from typer.testing import CliRunner

from app.cli import app
from app.exports.label_queue import FORMULA_START, as_csv, read_csv, restore_cell


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"request_id": "a", "model": "m", "label": "x"}\n{"request_id": "b", "mo\n',
         "queue.jsonl:2: not a JSON line"),
        ('{"request_id": "a", "model": "m", "label": "x"}\n\n["b"]\n',
         "queue.jsonl:3: each line must be a JSON object"),
        ('{"request_id": "a", "model": "m", "label": ["a"]}\n',
         "queue.jsonl:1: label must be text, not a JSON list"),
        ('{"request_id": "a", "model": "m", "label": {"a": 1}}\n',
         "queue.jsonl:1: label must be text, not a JSON object"),
        ('{"request_id": "a", "model": "m", "label": true}\n',
         "queue.jsonl:1: label must be text, not a bool"),
    ],
)  # fmt: skip
def test_a_damaged_jsonl_names_its_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "queue.jsonl"
    path.write_text(content)
    # The address is never reached: the file is checked before anything is sent.
    result = CliRunner().invoke(
        app, ["labels", "import", str(path), "--url", "http://127.0.0.1:9", "--key", "k"]
    )
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


# What an end user may type, each a live formula in a spreadsheet if written as it is.
FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+2", "-2+3", "@SUM(A1)",
            "\tcmd", "'=already quoted"]  # fmt: skip


def test_no_csv_cell_starts_a_formula_and_the_import_undoes_the_quoting(
    tmp_path: Path, driftline: str, make_key: Callable[..., str], engine: Engine
) -> None:
    rows = [
        {"request_id": text, "model": "bot", "ts": "2026-12-01T00:00:00+00:00",
         "prompt": text, "output": text, "prediction": text, "confidence": 0.4,
         "priority": 0.9, "reasons": "novel", "label": ""}
        for text in FORMULAS
    ]  # fmt: skip
    exported = as_csv(rows)
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)], exported
    # An annotator fills in labels; one file saved by a spreadsheet (which drops the quote),
    # the other edited as text (which keeps it): both import onto the original request ids.
    filled = [{**row, "label": "fraud"} for row in csv.DictReader(io.StringIO(exported))]
    # (A value that itself starts with an apostrophe and a formula sign cannot survive a
    # spreadsheet's save: the file cannot say which apostrophe was ours. JSONL is exact.)
    saved_by_spreadsheet = [
        {k: v.removeprefix("'") for k, v in r.items()}
        for r in filled
        if not r["request_id"].startswith("''")
    ]
    key = make_key("ingest", "read")
    for name, content in (("as_text.csv", filled), ("from_excel.csv", saved_by_spreadsheet)):
        path = tmp_path / name
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(content[0]))
            writer.writeheader()
            writer.writerows(content)
        result = CliRunner().invoke(
            app, ["labels", "import", str(path), "--url", driftline, "--key", key]
        )
        assert result.exit_code == 0 and f"{len(content)} label(s) sent" in result.output
        with engine.connect() as conn:
            stored = {r.request_id for r in conn.execute(sql("SELECT request_id FROM feedback"))}
        assert stored == {restore_cell(r["request_id"]) for r in content}, (name, stored)
        assert stored <= set(FORMULAS), (name, stored)
        with engine.begin() as conn:
            conn.execute(sql("DELETE FROM feedback"))


def test_invalid_utf8_is_named_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "queue.csv"
    path.write_bytes(b"request_id,model,label\nr1,m,caf\xe9\n")  # Latin-1, not UTF-8
    result = CliRunner().invoke(
        app, ["labels", "import", str(path), "--url", "http://127.0.0.1:9", "--key", "k"]
    )
    assert result.exit_code == 1 and "not UTF-8 (byte" in result.output
    assert "Traceback" not in result.output


def test_a_prompt_far_past_the_csv_modules_field_limit_round_trips(tmp_path: Path) -> None:
    prompt = "x" * 300_000 + "\nline two, with a comma"
    rows = [{"request_id": "r1", "model": "m", "ts": "", "prompt": prompt, "output": "o",
             "prediction": "", "confidence": "", "priority": 0.5, "reasons": "",
             "label": ""}]  # fmt: skip
    exported = as_csv(rows)
    assert read_csv(exported)[0]["prompt"] == prompt
    path = tmp_path / "queue.csv"
    path.write_text(exported)
    result = CliRunner().invoke(
        app, ["labels", "import", str(path), "--url", "http://127.0.0.1:9", "--key", "k"]
    )
    assert result.exit_code == 0, result.output
    assert "0 label(s) sent; 1 row(s) without a label skipped" in result.output
