"""docs/stages.md describes every column of every declared manifest schema (docs follow the code)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pcbforge.datasets.schemas import SCHEMAS, columns

STAGES_MD = Path(__file__).resolve().parents[2] / "docs" / "stages.md"


def _sections() -> dict[str, str]:
    """``{manifest file name: text of its "### `<file>`" section}``."""
    text = STAGES_MD.read_text(encoding="utf-8")
    parts = re.split(r"^### `([^`]+)`.*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


@pytest.mark.parametrize("stage", sorted(SCHEMAS))
def test_stages_md_names_every_declared_column(stage: str) -> None:
    manifest = SCHEMAS[stage]
    sections = _sections()
    assert manifest.file in sections, f"docs/stages.md has no '### `{manifest.file}`' section"
    section = sections[manifest.file]
    named = set(re.findall(r"`([a-z_0-9]+)`", section))
    undocumented = [c for c in columns(stage) if c not in named]
    assert undocumented == [], f"docs/stages.md section {manifest.file} omits {undocumented}"
