"""``pcbforge export --yolo-boards DIR``: the boards as one Ultralytics dataset, read back by crop's own reader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pcbforge.annotate.yolo import read_labels
from pcbforge.config import Params
from pcbforge.datasets import yolo_boards
from pcbforge.pipelines import crop
from tests.helpers.params import tiny_params
from tests.helpers.yolo_boards import Part, write_export

#: Foreign names, other order than the taxonomy's, and Roboflow's ``valid`` folder for val.
NAMES = ("Resistor", "Diode", "Relay")
SPLITS = {
    "train": {
        "a": [Part("Resistor", (10, 10, 50, 30)), Part("Diode", (70, 40, 100, 90), (30, 30, 200))],
        "b": [Part("Relay", (20, 20, 80, 70))],
    },
    "val": {"c": [Part("Resistor", (100, 30, 140, 60))]},
}


def boxes(params: Params) -> dict[str, set[tuple[str, float, float, float, float]]]:
    """Board name (without folders) -> its boxes as (taxonomy class, cx, cy, w, h), read as crop reads them."""
    out = {}
    for job in crop.board_jobs(params):
        assert job.labels is not None and job.image is not None
        labels = read_labels(job.labels.read_text(), len(job.classes))
        out[job.board.rsplit("/", 1)[-1].rsplit("__", 1)[-1]] = {
            (job.classes[b.cls], b.cx, b.cy, b.w, b.h) for _, b in labels.boxes
        }
    return out


@pytest.mark.parametrize("layout", ["images/<split>", "roboflow"])
def test_boards_round_trip_through_the_yolo_export(tmp_path: Path, layout: str) -> None:
    src = write_export(tmp_path / "src", layout, SPLITS, NAMES)
    params = tiny_params(tmp_path / "p", {"crop": {"include_web": False, "sources": [{"name": "mine", "path": str(src)}]}})
    out = tmp_path / "yolo"
    summary = yolo_boards.run(params, out)
    assert "3 boards, 4 boxes" in summary

    data = yaml.safe_load((out / "data.yaml").read_text())
    assert list(data["names"].values()) == params.taxonomy().names()
    assert (data["train"], data["val"]) == ("images/train", "images/val")
    val = [p.name for p in (out / "images" / "val").iterdir()]
    assert len(val) == 1 and val[0].startswith("mine__") and val[0].endswith("__c.png")
    assert len(list((out / "images" / "train").iterdir())) == 2
    # Same pixels, byte for byte.
    for img in (out / "images").rglob("*.png"):
        name = img.stem.split("__")[-1]
        originals = list(src.rglob(f"{name}.png"))
        assert len(originals) == 1 and originals[0].read_bytes() == img.read_bytes()

    # Read back with crop's reader, as a new board source: the same boxes and classes.
    back = tiny_params(tmp_path / "q", {"crop": {"include_web": False, "boards": str(out)}})
    want = boxes(params)
    assert want and boxes(back) == want
    assert {c for bs in want.values() for c, *_ in bs} == {"resistor", "diode", "relay"}


def test_board_split_reads_the_datasets_own_folders() -> None:
    assert yolo_boards.board_split("images/valid/x.jpg") == "val"
    assert yolo_boards.board_split("test/images/x.jpg") == "test"
    assert yolo_boards.board_split("images/x.jpg") == "train"
    assert yolo_boards.board_split("train.jpg") == "train"  # a file name is not a folder


def test_cli_option_writes_the_yolo_dataset(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pcbforge.cli import app

    src = write_export(tmp_path / "src", "images/<split>", SPLITS, NAMES)
    params = tiny_params(tmp_path / "p", {"crop": {"include_web": False, "boards": str(src)}})
    res = CliRunner().invoke(app, ["export", "-p", str(params.root / "params.yaml"), "--yolo-boards", str(tmp_path / "y")])
    assert res.exit_code == 0, res.output
    assert "3 boards, 4 boxes" in res.output
    assert (tmp_path / "y" / "data.yaml").is_file()
    assert not params.path(params.export.out).exists()  # the file export did not run
