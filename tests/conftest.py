"""Shared fixtures and collection hooks. Stages run on tiny params inside a temp project directory.

Collection:
- every test under ``tests/integration/`` gets the ``integration`` marker from its path (no
  hand-written ``pytestmark``), so ``-m "not integration"`` is exactly the unit tests;
- ``--shuffle SEED`` runs the collected tests in an order drawn from ``random.Random(SEED)``,
  to catch a test that depends on another's order or leftover state.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

from pcbforge.config import Params  # noqa: E402
from tests.helpers.params import tiny_params  # noqa: E402

#: Tests under this directory are integration tests, whatever their module says.
INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shuffle",
        type=int,
        default=None,
        metavar="SEED",
        help="run the collected tests in an order shuffled by random.Random(SEED) (order-independence check)",
    )


def is_integration(path: Path) -> bool:
    """Whether the test file at ``path`` lies under tests/integration/."""
    return Path(path).resolve().is_relative_to(INTEGRATION_DIR.resolve())


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: the marker must be on the items before pytest's own -m deselection runs.
    for item in items:
        if is_integration(item.path):
            item.add_marker(pytest.mark.integration)
    seed = config.getoption("--shuffle")
    if seed is not None:
        random.Random(seed).shuffle(items)


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.getoption("--shuffle")
    return None if seed is None else f"test order shuffled with --shuffle {seed}"


@pytest.fixture()
def params(tmp_path: Path) -> Params:
    """Tiny params rooted in a fresh temp directory (review/decisions.csv created empty)."""
    (tmp_path / "review").mkdir()
    (tmp_path / "review" / "decisions.csv").write_text("id,decision,value,annotator,note\n")
    return tiny_params(tmp_path)


@pytest.fixture(scope="session")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled mongod's database dir, for every FiftyOne test of the run (review, annotate)."""
    # Session, not module: FiftyOne starts its mongod once per process, in the first database
    # dir it is given. A module fixture is made anew whenever a shuffled run (--shuffle) comes
    # back to a module, and the mongod still running would not be using the new dir.
    return tmp_path_factory.mktemp("fiftyone-db")
