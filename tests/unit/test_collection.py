"""The test suite's own collection: the ``integration`` marker follows the path, ``--shuffle`` reorders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def collect(*args: str) -> list[str]:
    """Node ids ``pytest --collect-only`` selects with ``args`` (run in a subprocess from the repo root)."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)},
    )  # fmt: skip
    assert out.returncode in (0, 5), out.stdout + out.stderr  # 5: nothing selected
    return [line for line in out.stdout.splitlines() if "::" in line]


@pytest.mark.slow
def test_integration_marker_is_exactly_the_tests_under_tests_integration() -> None:
    integration = collect("-m", "integration", "tests")
    unit = collect("-m", "not integration", "tests")
    assert integration and all(i.startswith("tests/integration/") for i in integration)
    assert unit and not [i for i in unit if i.startswith("tests/integration/")]
    # -m X and -m "not X" partition the suite, so the second line also says: every test under
    # tests/integration is marked, and no other test is.


def test_shuffle_reorders_the_same_tests_reproducibly() -> None:
    plain = collect("tests/unit/test_io.py", "tests/unit/test_yolo.py")
    a, b = (collect("--shuffle", "7", "tests/unit/test_io.py", "tests/unit/test_yolo.py") for _ in range(2))
    other = collect("--shuffle", "8", "tests/unit/test_io.py", "tests/unit/test_yolo.py")
    assert a == b and sorted(a) == sorted(plain) == sorted(other)
    assert a != plain and a != other
