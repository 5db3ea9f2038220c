"""`driftline labels import` refuses a damaged file with the line at fault, sending nothing."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"request_id": "a", "model": "m", "label": "x"}\n{"request_id": "b", "mo\n',
         "queue.jsonl:2: not a JSON line"),
        ('{"request_id": "a", "model": "m", "label": "x"}\n\n["b"]\n',
         "queue.jsonl:3: each line must be a JSON object"),
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
