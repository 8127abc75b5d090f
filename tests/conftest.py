"""Shared fixtures. Stages run on tiny params inside a temp project directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

from pcbforge.config import Params  # noqa: E402
from tests.helpers.params import tiny_params  # noqa: E402


@pytest.fixture()
def params(tmp_path: Path) -> Params:
    """Tiny params rooted in a fresh temp directory (review/decisions.csv created empty)."""
    (tmp_path / "review").mkdir()
    (tmp_path / "review" / "decisions.csv").write_text("id,decision,value,annotator,note\n")
    return tiny_params(tmp_path)
