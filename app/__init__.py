"""Driftline: self-hosted monitoring for fine-tuned LLMs."""

import os
import subprocess
from functools import lru_cache
from pathlib import Path

__version__ = "0.1.0"


@lru_cache
def build_commit() -> str:
    """The commit this code was built from: ``DRIFTLINE_BUILD_COMMIT`` (set by the image
    build), else the checkout's ``git`` HEAD, else ``unknown``."""
    if commit := os.environ.get("DRIFTLINE_BUILD_COMMIT"):
        return commit
    root = Path(__file__).resolve().parent.parent
    if (root / ".git").exists():
        try:
            out = subprocess.run(
                ["git", "rev-parse", "--short=12", "HEAD"],
                cwd=root, capture_output=True, text=True, timeout=5, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return "unknown"
