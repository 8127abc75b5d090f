"""params.yaml loading: defaults match the shipped file, errors name the key and file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pcbforge.config import Params, load_params
from pcbforge.errors import ConfigError
from tests.helpers.params import REPO_ROOT

STAGES = [
    "catalog", "crawl", "dedup", "quality", "review", "crop",
    "split", "triplets", "simulate", "train", "evaluate", "export",
]


def test_shipped_params_equal_model_defaults() -> None:
    """params.yaml and the pydantic defaults must not drift apart (paths are written once)."""
    shipped = load_params(REPO_ROOT / "params.yaml")
    defaults = Params(root=REPO_ROOT)
    for section in ["base", *STAGES]:
        if section == "crawl":  # the shipped file adds the built-in source's licence allow-list
            continue
        assert getattr(shipped, section) == getattr(defaults, section), section


def test_params_has_one_section_per_stage_plus_base() -> None:
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    assert list(raw) == ["base", *STAGES]


def test_paths_resolve_against_params_dir(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("crawl:\n  out: somewhere/raw\n")
    params = load_params(tmp_path / "params.yaml")
    assert params.path(params.crawl.out) == tmp_path.resolve() / "somewhere" / "raw"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("train:\n  epochs: 0\n", "train.epochs"),
        ("train:\n  epochz: 3\n", "train.epochz"),
        ("base: [1, 2\n", "params.yaml:2"),
        ("- just\n- a list\n", "mapping of sections"),
        ("split:\n  test_classes: [toaster]\n", "split.test_classes.0"),
    ],
)
def test_invalid_params_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_params(tmp_path / "params.yaml")
    assert needle in str(err.value)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
