"""Training inside a git repository with no commits yet (what `git init && dvc repro` gives)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pcbforge.pipelines import train
from tests.helpers.params import tiny_params
from tests.helpers.tools import DVC
from tests.helpers.triplets_fixture import write_triplets


def test_train_runs_in_an_empty_git_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([DVC, "init", "-q"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    params = tiny_params(tmp_path, {"train": {"epochs": 1, "batch_size": 4, "input_size": 32}})
    write_triplets(params.path(params.triplets.out), per_class=2, size=32)
    train.run(params, progress=False)
    log = json.loads((params.path(params.train.out) / "train.json").read_text())
    assert len(log["epochs"]) == 1
