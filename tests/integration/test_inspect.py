"""`pcbforge inspect`: a verdict from one reference and one sample, with the threshold stored in model.pt."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pcbforge.augment.functional import missing
from pcbforge.augment.scene import Scene
from pcbforge.config import Params
from pcbforge.pipelines import train
from pcbforge.train.model import model_bytes, read_model
from tests.helpers.params import tiny_params
from tests.helpers.triplets_fixture import CLASSES, component, write_triplets

pytestmark = pytest.mark.slow

FAST = {"train": {"epochs": 3, "batch_size": 8, "input_size": 32, "backbone": "resnet10t", "embedding_dim": 16,
                  "threads": 1}}
SIZE = 32


def pcbforge(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pcbforge", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Params:
    params = tiny_params(tmp_path_factory.mktemp("inspect"), FAST)
    write_triplets(params.path(params.triplets.out), per_class=6, size=SIZE)
    train.run(params, progress=False)
    return params


def _part(cls: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(component(cls, SIZE, rng), 0, 255).astype(np.uint8)


def _missing(view: np.ndarray) -> np.ndarray:
    """The part taken away by the augment layer's own missing-part defect (no pads: a bare board)."""
    img, mask, _ = missing(Scene(view=view, class_label="relay"), texture_offsets=[[0, 0]], pads=False)
    assert mask.any()
    return img


def _save(arr: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "RGB").save(path)
    return path


def test_model_file_carries_the_threshold_its_split_and_size(trained: Params) -> None:
    cal = read_model(trained.path(trained.train.out) / "model.pt").calibration
    assert cal is not None and cal["split"] == "val"
    # the fixture's val split: 6 relay triplets, 12 pairs
    assert cal["n_triplets"] == 6 and cal["n_pairs"] == 12 and cal["enough_pairs"] is False
    assert cal["threshold"] > 0
    assert cal["threshold_ci"]["low"] <= cal["threshold"] <= cal["threshold_ci"]["high"]


def test_same_image_conforms_and_missing_part_is_a_defect(trained: Params, tmp_path: Path) -> None:
    ref = _save(_part("relay", 1), tmp_path / "ref.png")
    same = pcbforge("inspect", ref, ref, "-p", trained.root / "params.yaml", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith("conform: distance 0.0000 <= threshold")

    gone = _save(_missing(_part("relay", 1)), tmp_path / "missing.png")
    res = pcbforge("inspect", ref, gone, "--model", trained.path(trained.train.out) / "model.pt", cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert res.stdout.startswith("defect: distance ")

    # --threshold overrides the stored one: above every possible distance, nothing is a defect.
    res = pcbforge("inspect", ref, gone, "--threshold", "2.5", "-p", trained.root / "params.yaml", cwd=tmp_path)
    assert res.returncode == 0 and "(--threshold;" in res.stdout


def _one_line_error(res: subprocess.CompletedProcess[str], needle: str) -> None:
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr


def test_unreadable_image_is_one_line_and_exit_2(trained: Params, tmp_path: Path) -> None:
    ref = _save(_part("relay", 1), tmp_path / "ref.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a PNG")
    _one_line_error(pcbforge("inspect", ref, broken, "-p", trained.root / "params.yaml", cwd=tmp_path),
                    "image unreadable: ")
    _one_line_error(pcbforge("inspect", ref, tmp_path / "nope.png", "-p", trained.root / "params.yaml",
                             cwd=tmp_path), "image not found: ")


def test_model_without_threshold_is_one_line_and_exit_2(trained: Params, tmp_path: Path) -> None:
    loaded = read_model(trained.path(trained.train.out) / "model.pt")
    bare = tmp_path / "bare.pt"
    bare.write_bytes(model_bytes(loaded.model, loaded.config))  # no calibration
    ref = _save(_part("relay", 1), tmp_path / "ref.png")
    _one_line_error(pcbforge("inspect", ref, ref, "--model", bare, cwd=tmp_path), "carries no calibrated threshold")
    # ... and with a threshold given, that model works
    assert pcbforge("inspect", ref, ref, "--model", bare, "-t", "0.5", cwd=tmp_path).returncode == 0


def test_folder_mode_writes_one_row_per_sample(trained: Params, tmp_path: Path) -> None:
    refs, samples = tmp_path / "refs", tmp_path / "samples"
    classes = ["relay", "diode"]
    for i, cls in enumerate(classes):
        view = _part(cls, 10 + i)
        _save(view, refs / f"{cls}.png")
        _save(view, samples / cls / "a_same.png")
        _save(_missing(view), samples / cls / "b_missing.png")
    assert set(CLASSES) >= set(classes)
    out = tmp_path / "verdicts.csv"
    res = pcbforge("inspect", refs, samples, "-o", out, "-p", trained.root / "params.yaml", cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr  # worst verdict: a defect
    assert "2 conform, 2 defect, 0 error" in res.stdout
    rows = list(csv.DictReader(out.open()))
    assert [r["sample"] for r in rows] == ["diode/a_same.png", "diode/b_missing.png", "relay/a_same.png",
                                           "relay/b_missing.png"]
    assert [r["verdict"] for r in rows] == ["conform", "defect", "conform", "defect"]
    assert all(r["reference"] == f"{r['class_label']}.png" for r in rows)

    # An unreadable sample or one without a reference is a row with a reason; the batch goes on.
    (samples / "relay" / "c_broken.png").write_bytes(b"junk")
    _save(_part("relay", 3), samples / "heat_sink" / "x.png")
    res = pcbforge("inspect", refs, samples, "-o", out, "-p", trained.root / "params.yaml", cwd=tmp_path)
    assert res.returncode == 2 and "2 error" in res.stdout
    errors = {r["sample"]: r["error"] for r in csv.DictReader(out.open()) if r["verdict"] == "error"}
    assert "image unreadable" in errors["relay/c_broken.png"]
    assert "no reference for class 'heat_sink'" in errors["heat_sink/x.png"]
