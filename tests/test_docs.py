"""No stale docs: every `driftline …` command the docs show exists with the options shown,
and every relative link points at a file."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app as cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "sdk/python/README.md"]


def commands() -> list[tuple[str, str]]:
    """``driftline …`` lines inside fenced shell blocks (comments stripped)."""
    found = []
    for doc in DOCS:
        fence: str | None = None
        for raw in doc.read_text().splitlines():
            stripped = raw.strip()
            if stripped.startswith("```"):
                fence = None if fence is not None else stripped[3:]
                continue
            line = stripped.split(" #")[0].strip()
            if fence in ("bash", "sh", "") and line.startswith("driftline "):
                found.append((doc.name, line))
    return found


@pytest.mark.parametrize(("doc", "line"), commands())
def test_documented_command_exists(doc: str, line: str) -> None:
    argv = shlex.split(line)[1:]
    words = [a for a in argv if not a.startswith("-")]
    options = [a.split("=")[0] for a in argv if a.startswith("-")]
    # The command path is the leading words that are subcommands; --help proves it exists.
    path: list[str] = []
    for word in words:
        probe = CliRunner().invoke(cli, [*path, word, "--help"])
        if probe.exit_code != 0:
            break
        path.append(word)
    assert path, f"{doc}: `{line}` names no driftline command"
    help_text = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200).output
    for option in options:
        assert option in help_text, f"{doc}: `{line}`: {' '.join(path)} has no {option}"


def test_there_are_documented_commands_to_check() -> None:
    assert len(commands()) >= 10


def test_relative_links_resolve() -> None:
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#:]+)\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_the_committed_openapi_document_is_current() -> None:
    out = CliRunner().invoke(cli, ["openapi"])
    assert out.exit_code == 0
    committed = (ROOT / "docs/openapi.json").read_text()
    assert committed == out.output, (
        "docs/openapi.json is stale: driftline openapi > docs/openapi.json"
    )
