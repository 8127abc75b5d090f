"""Train stage on a tiny triplets dataset in the real format: files, loss, reproducibility, dvclive."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from pcbforge.config import Params
from pcbforge.errors import InputError
from pcbforge.pipelines import train
from tests.helpers.params import tiny_params
from tests.helpers.tools import DVC
from tests.helpers.triplets_fixture import write_triplets

#: resnet10t at 32 px, 16-d embeddings: a couple of seconds per run on one core.
FAST = {"train": {"epochs": 3, "batch_size": 8, "input_size": 32, "backbone": "resnet10t", "embedding_dim": 16,
                  "threads": 1, "lr": 0.001}}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def project(tmp_path: Path) -> Params:
    params = tiny_params(tmp_path, FAST)
    write_triplets(params.path(params.triplets.out), per_class=6, size=32)
    return params


@pytest.mark.slow
def test_train_writes_model_log_and_dvclive_and_is_reproducible(project: Params) -> None:
    out = project.path(project.train.out)
    summary = train.run(project, progress=False)
    assert "model.pt" in summary

    log = json.loads((out / "train.json").read_text())
    # 3 train classes x 6 triplets; the rejected fixture row is not used.
    assert log["n_triplets"] == 18 and log["device"] == "cpu" and log["threads"] == 1
    losses = [e["loss"] for e in log["epochs"]]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0], losses
    assert all("seconds" not in e for e in log["epochs"]), "wall-clock time would break DVC determinism"

    # dvclive stays inside train.out: one DVC out, no dvc.yaml of its own.
    live = out / "dvclive"
    tsv = (live / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == ["step", "loss"] and len(tsv) == 4
    assert json.loads((live / "metrics.json").read_text())["train"]["loss"] == pytest.approx(losses[-1])
    assert not list(out.rglob("dvc.yaml"))
    assert not (project.root / "dvclive").exists()

    first = _sha(out / "model.pt")
    first_log = (out / "train.json").read_bytes()
    train.run(project, progress=False)
    assert _sha(out / "model.pt") == first
    assert (out / "train.json").read_bytes() == first_log
    assert [e["loss"] for e in json.loads((out / "train.json").read_text())["epochs"]] == losses
    assert not list(out.parent.glob(f".{out.name}.*")), "staging directories left behind"


def test_max_triplets_takes_a_seeded_subset(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, {**FAST, "train": {**FAST["train"], "epochs": 1, "max_triplets": 5}})
    write_triplets(params.path(params.triplets.out), per_class=3, size=32)
    train.run(params, progress=False)
    log = json.loads((params.path(params.train.out) / "train.json").read_text())
    assert log["n_triplets"] == 5 and log["n_train_available"] == 9


def test_max_val_triplets_calibrates_on_a_seeded_subset(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, {**FAST, "train": {**FAST["train"], "epochs": 1, "max_val_triplets": 2}})
    write_triplets(params.path(params.triplets.out), per_class=3, size=32)
    train.run(params, progress=False)
    cal = json.loads((params.path(params.train.out) / "train.json").read_text())["calibration"]
    assert cal["split"] == "val" and cal["n_triplets"] == 2 and cal["n_pairs"] == 4


def test_no_train_triplets_is_an_input_error(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, FAST)
    write_triplets(params.path(params.triplets.out), per_class=2, size=16,
                   class_split={"relay": "val", "crystal_oscillator": "test"})
    with pytest.raises(InputError, match="train triplets"):
        train.run(params, progress=False)
    assert not params.path(params.train.out).exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_dvclive_inside_a_dvc_repo_makes_no_commits_or_experiments(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, {**FAST, "train": {**FAST["train"], "epochs": 1}})
    write_triplets(params.path(params.triplets.out), per_class=2, size=32)
    root = params.root

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.invalid")
    git("config", "user.name", "test")
    subprocess.run([DVC, "init", "-q"], cwd=root, check=True)
    (root / ".gitignore").write_text("/data\n/models\n")
    git("add", "-A")
    git("commit", "-q", "-m", "init")
    head = git("rev-parse", "HEAD")
    refs = git("for-each-ref")

    train.run(params, progress=False)

    assert git("rev-parse", "HEAD") == head
    assert git("for-each-ref") == refs  # no refs/exps/... written by dvclive
    assert git("status", "--porcelain") == ""
    assert (params.path(params.train.out) / "dvclive" / "metrics.json").is_file()
