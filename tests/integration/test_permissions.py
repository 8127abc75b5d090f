"""Outputs honour the umask: under umask 022 every file a stage writes is 0644, every directory 0755.

A team on a shared server reads each other's datasets; ``mkstemp``-based writers used to
leave every output owner-only (0600). The stages run as their CLI in child processes
started with the umask set, as a shell or DVC would start them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.modes import modes_other_than
from tests.helpers.params import write_params

pytestmark = pytest.mark.slow

#: Stages that run offline on tiny params, in pipeline order (triplets: test_triplets_kill.py).
STAGES = ("catalog", "crawl", "dedup", "quality", "review", "crop", "split")


def test_every_output_of_the_offline_stages_is_world_readable_under_umask_022(tmp_path: Path) -> None:
    (tmp_path / "review").mkdir()
    (tmp_path / "review" / "decisions.csv").write_text("id,decision,value,annotator,note\n")
    params = write_params(tmp_path)
    for stage in STAGES:
        res = subprocess.run(
            [sys.executable, "-m", "pcbforge", stage, "--params", str(params)],
            cwd=tmp_path, capture_output=True, text=True, timeout=600, umask=0o022,
        )
        assert res.returncode == 0, f"{stage}: {res.stderr[-3000:]}"
    data = tmp_path / "data"
    assert sum(1 for p in data.rglob("*") if p.is_file()) > 50  # images, pages, boards, manifests, cache
    assert modes_other_than(data, 0o644, 0o755) == {}
