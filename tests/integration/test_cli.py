"""The installed `pcbforge` command: help on every stage, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_config import STAGES


def pcbforge(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pcbforge", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_every_stage_has_help() -> None:
    top = pcbforge("--help")
    assert top.returncode == 0
    for stage in STAGES:
        assert stage in top.stdout
        res = pcbforge(stage, "--help")
        assert res.returncode == 0, res.stderr
        assert "--params" in res.stdout


def _assert_one_line_error(res: subprocess.CompletedProcess[str], needle: str) -> None:
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert needle in lines[0]


def test_missing_params_file(tmp_path: Path) -> None:
    _assert_one_line_error(pcbforge("crop", cwd=tmp_path), "params file not found: params.yaml")


def test_unknown_option() -> None:
    _assert_one_line_error(pcbforge("dedup", "--frobnicate"), "No such option: --frobnicate")


def test_unknown_stage() -> None:
    _assert_one_line_error(pcbforge("polish"), "No such command")


def test_invalid_param_value(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("train:\n  margin: -1\n")
    _assert_one_line_error(pcbforge("train", "-p", str(tmp_path / "params.yaml")), "train.margin")


def test_typo_in_a_vocabulary_param(tmp_path: Path) -> None:
    """A misspelt quality flag would silently let too-small images through: it must stop the stage."""
    params = tmp_path / "params.yaml"
    params.write_text("review:\n  drop_quality_flags: [unreadable, too_smal, blank]\n")
    res = pcbforge("review", "-p", str(params))
    _assert_one_line_error(res, f"{params}: invalid value for 'review.drop_quality_flags.1': Input should be 'unreadable'")


@pytest.mark.parametrize(
    ("stage", "needle"),
    [
        ("dedup", "manifest not found: {root}/data/raw/images.parquet (run `pcbforge crawl`"),
        ("crop", "boards directory not found: {root}/no/such/boards"),
        ("train", "manifest not found: {root}/data/triplets/triplets.parquet (run `pcbforge triplets`"),
    ],
)
def test_unreadable_input_dir(tmp_path: Path, stage: str, needle: str) -> None:
    """A stage whose input is missing names the path and the stage that makes it."""
    (tmp_path / "params.yaml").write_text("crop:\n  boards: no/such/boards\n")
    res = pcbforge(stage, "-p", str(tmp_path / "params.yaml"))
    _assert_one_line_error(res, needle.format(root=tmp_path))


def test_corrupt_manifest(tmp_path: Path) -> None:
    """A truncated or foreign file where a manifest should be is a user error, not a traceback."""
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "images.parquet").write_bytes(b"PAR1 not really")
    res = pcbforge("dedup", "-p", str(tmp_path / "params.yaml"))
    _assert_one_line_error(res, f"manifest unreadable: {tmp_path}/data/raw/images.parquet")


def test_version() -> None:
    res = pcbforge("--version")
    assert res.returncode == 0 and res.stdout.startswith("pcbforge ")
