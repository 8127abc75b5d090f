"""Command-line tools of the test environment, found next to its interpreter (not on PATH)."""

from __future__ import annotations

import sys
from pathlib import Path

#: The venv's scripts directory (``dvc``, ``pcbforge``).
BIN = Path(sys.executable).parent
#: The venv's own ``dvc``: a bare ``dvc`` would depend on how pytest was started.
DVC = str(BIN / "dvc")
