"""Bring your own boards: ``pcbforge crop`` on YOLO exports as labelling tools write them.

Every layout Ultralytics reads, several sources with their own lineage and class map, the
``classes.unmapped`` policies on a 16-name export, and the input that yields no box.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pcbforge.config import Params
from pcbforge.errors import InputError
from pcbforge.pipelines import crop
from pcbforge.taxonomy import ClassInfo
from tests.helpers.params import tiny_params, write_params
from tests.helpers.yolo_boards import (
    FOREIGN_CLASS_MAP,
    FOREIGN_CLASSES,
    FOREIGN_EXPECTED,
    FOREIGN_NAMES,
    Part,
    one_of_each,
    write_export,
)

RED, BLUE, GREY = (200, 30, 30), (30, 30, 200), (90, 90, 90)
NAMES = ("Resistor", "Diode", "Relay")
SPLITS = {
    "train": {
        "a": [Part("Resistor", (10, 10, 50, 30), RED), Part("Diode", (70, 40, 100, 90), BLUE)],
        "b": [Part("Relay", (20, 20, 80, 70), GREY)],
    },
    "val": {"c": [Part("Resistor", (100, 30, 140, 60), RED)]},
}
#: What every layout must give: (board, class, colour at the crop's centre).
EXPECTED = {("a", "resistor", RED), ("a", "diode", BLUE), ("b", "relay", GREY), ("c", "resistor", RED)}


def _run(root: Path, overrides: dict[str, Any]) -> tuple[Params, str, pd.DataFrame]:
    params = tiny_params(root, {"crop": {"include_web": False, **overrides.pop("crop", {})}, **overrides})
    summary = crop.run(params)
    return params, summary, pd.read_parquet(params.path(params.crop.out) / "components.parquet")


def _components(params: Params, df: pd.DataFrame) -> set[tuple[str, str, tuple[int, ...]]]:
    """(board's last name part, class, crop centre colour) of the ok rows."""
    out = params.path(params.crop.out)
    got = set()
    for row in df[df["status"] == "ok"].itertuples():
        centre = np.asarray(Image.open(out / row.crop_path))[64, 64]
        got.add((row.parent_id.rsplit("/", 1)[-1], row.class_label, tuple(int(v) for v in centre)))
    return got


SPLIT_BOARDS = {"train/a", "train/b", "val/c"}


@pytest.mark.parametrize(
    ("layout", "split_keys", "boards"),
    [
        ("images/<split>", True, SPLIT_BOARDS),
        ("images/<split>", False, SPLIT_BOARDS),
        ("<split>/images", True, SPLIT_BOARDS),
        ("<split>/images", False, SPLIT_BOARDS),
        ("roboflow", True, {"train/a", "train/b", "valid/c"}),  # data.yaml: ../train/images
        ("roboflow", False, {"train/a", "train/b", "valid/c"}),
        ("lists", True, {"a", "b", "c"}),  # train.txt / val.txt listing ./images/x.png
    ],
)
def test_every_split_layout_gives_the_expected_components(
    tmp_path: Path, layout: str, split_keys: bool, boards: set[str]
) -> None:
    """``split_keys``: data.yaml names the splits (else crop must find the layout itself)."""
    write_export(tmp_path / "export", layout, SPLITS, NAMES, split_keys=split_keys)
    if layout == "roboflow":
        (tmp_path / "export" / "README.roboflow.txt").write_text("exported from roboflow\n")
    params, summary, df = _run(tmp_path, {"crop": {"boards": "export"}})
    assert (df["status"] == "ok").all(), df["error"].dropna().tolist()
    assert set(df["parent_id"]) == boards
    assert _components(params, df) == EXPECTED
    assert summary.startswith("4 components ok (4 from 3 boards, 0 from 0 photos), 0 error, 0 rejected ->")
    # Errors and the source_url name files as the dataset does, relative to the project.
    assert all(u.startswith("export/") and "/images/" in u for u in df["source_url"]), df["source_url"].tolist()


def test_upper_case_suffixes_are_images_and_labels(tmp_path: Path) -> None:
    write_export(tmp_path / "export", "<split>/images", SPLITS, NAMES, suffix=".JPG", label_suffix=".TXT")
    params, _, df = _run(tmp_path, {"crop": {"boards": "export"}})
    assert (df["status"] == "ok").all() and set(df["parent_id"]) == {"train/a", "train/b", "val/c"}
    got = _components(params, df)
    for board, cls, colour in EXPECTED:  # JPEG: the colour within a few levels
        match = [c for b, k, c in got if (b, k) == (board, cls)]
        assert match and max(abs(x - y) for x, y in zip(match[0], colour, strict=True)) < 20, (board, cls, match)


@pytest.mark.parametrize("split_keys", [True, False], ids=["data.yaml-splits", "found"])
def test_symlinked_image_folder_is_followed(tmp_path: Path, split_keys: bool) -> None:
    export = write_export(tmp_path / "export", "images/<split>", SPLITS, NAMES, split_keys=split_keys)
    store = tmp_path / "store" / "train-images"
    store.parent.mkdir()
    shutil.move(export / "images" / "train", store)
    (export / "images" / "train").symlink_to(store, target_is_directory=True)
    params, _, df = _run(tmp_path, {"crop": {"boards": "export"}})
    assert set(df["parent_id"]) == {"train/a", "train/b", "val/c"}
    assert _components(params, df) == EXPECTED
    # The board keeps the name the dataset gives it, not the link target's.
    assert "export/images/train/a.png" in set(df["source_url"])


def test_an_image_listed_in_two_splits_is_cropped_once(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", "lists", SPLITS, NAMES)
    with (export / "val.txt").open("a") as f:
        f.write("./images/a.png\n")  # the same photo in val too
    params, _, df = _run(tmp_path, {"crop": {"boards": "export"}})
    assert df["id"].is_unique and len(df) == 4 and _components(params, df) == EXPECTED
    missing = export / "test.txt"
    missing.write_text("./images/gone.png\n")
    data = (export / "data.yaml").read_text() + "test: test.txt\n"
    (export / "data.yaml").write_text(data)
    _, _, df = _run(tmp_path, {"crop": {"boards": "export"}})
    gone = df[df["parent_id"] == "gone"]
    assert gone["status"].tolist() == ["error"] and gone["error"].iloc[0] == (
        "export/test.txt:1: listed image export/images/gone.png not found"
    )


def test_several_sources_with_their_own_lineage_and_class_map(tmp_path: Path) -> None:
    write_export(
        tmp_path / "sets" / "tht",
        "images/<split>",
        SPLITS,
        NAMES,
        extra={"licence": "CC-BY-4.0", "author": "From data.yaml", "source_url": "https://yaml.example/{board}"},
    )
    smd = {"train": {"s1": [Part("Diode", (10, 10, 30, 20), BLUE)]}, "val": {"s2": [Part("Diode", (40, 40, 60, 50), BLUE)]}}
    write_export(tmp_path / "sets" / "smd-export", "roboflow", smd, ["Diode"])
    sources = [
        {"path": "sets/tht", "author": "Params Author", "source_url": "https://boards.example/{board}"},
        {
            "path": "sets/smd-export/data.yaml",
            "name": "smd",
            "licence": "CC0-1.0",
            "attribution": "SMD set by X (CC0)",
            "licence_url": "https://creativecommons.org/publicdomain/zero/1.0/",
            "class_map": {"diode": "smd_diode"},
        },
    ]
    params, summary, df = _run(tmp_path, {"crop": {"sources": sources}})
    assert (df["status"] == "ok").all(), df["error"].dropna().tolist()
    assert set(df["parent_id"]) == {"tht/train/a", "tht/train/b", "tht/val/c", "smd/train/s1", "smd/valid/s2"}
    assert "6 components ok (6 from 5 boards" in summary
    tht, smd_rows = df[df["parent_id"].str.startswith("tht/")], df[df["parent_id"].str.startswith("smd/")]
    # The source's params override data.yaml's lineage key by key; {board} is the name inside the dataset.
    assert (tht["licence"] == "CC-BY-4.0").all() and (tht["author"] == "Params Author").all()
    assert set(tht["source_url"]) == {"https://boards.example/train/a", "https://boards.example/train/b", "https://boards.example/val/c"}
    assert set(tht["group"]) == {"tht/train/a", "tht/train/b", "tht/val/c"}
    assert (smd_rows["class_label"] == "smd_diode").all() and (smd_rows["licence"] == "CC0-1.0").all()
    assert (smd_rows["attribution"] == "SMD set by X (CC0)").all()
    assert smd_rows["source_url"].str.startswith("sets/smd-export/").all()
    # The one enumeration of boards the box review uses too.
    jobs = {j.board: j for j in crop.board_jobs(params)}
    job = jobs["smd/train/s1"]
    assert job.source == "smd" and tuple(job.names) == ("Diode",) and tuple(job.classes) == ("smd_diode",)
    assert job.image is not None and job.image.name == "s1.png" and job.labels is not None and job.labels.name == "s1.txt"


def _foreign(tmp_path: Path, unmapped: str) -> dict[str, Any]:
    write_export(tmp_path / "export", "images/<split>", {"train": {"all": one_of_each(FOREIGN_NAMES)}}, FOREIGN_NAMES, size=(320, 240))
    return {
        "classes": {"unmapped": unmapped, "taxonomy": FOREIGN_CLASSES},
        "crop": {"sources": [{"path": "export", "name": "mixed", "class_map": FOREIGN_CLASS_MAP}]},
    }


def test_sixteen_foreign_names_unmapped_error(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, _foreign(tmp_path, "error"))
    with pytest.raises(InputError) as exc:
        crop.board_jobs(params)
    msg = str(exc.value)
    assert msg.startswith("export/data.yaml: class names not in the classes taxonomy: 15: 'Buzzer';"), msg
    assert "\n" not in msg and "capacitor, ceramic_capacitor" in msg and "switch" in msg and "classes.unmapped" in msg


def test_sixteen_foreign_names_unmapped_skip(tmp_path: Path) -> None:
    params, summary, df = _run(tmp_path, _foreign(tmp_path, "skip"))
    ok = df[df["status"] == "ok"]
    assert dict(zip(ok["source_line"], ok["class_label"], strict=True)) == {
        i + 1: FOREIGN_EXPECTED[n] for i, n in enumerate(FOREIGN_NAMES) if n != "Buzzer"
    }
    (skipped,) = df[df["status"] == "rejected"].itertuples()
    assert skipped.source_line == 16 and pd.isna(skipped.class_label)
    assert skipped.error.startswith("export/labels/train/all.txt:16: class 'Buzzer' (index 15) not in classes.taxonomy, skipped")
    assert "15 components ok" in summary and "1 rejected (1 boxes of skipped classes)" in summary


def test_sixteen_foreign_names_unmapped_add(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pcbforge.pipelines.crop"):
        params, summary, df = _run(tmp_path, _foreign(tmp_path, "add"))
    assert (df["status"] == "ok").all() and len(df) == 16
    assert df.set_index("source_line").loc[16, "class_label"] == "buzzer"
    assert any("buzzer" in r.getMessage() and "conservative" in r.getMessage() for r in caplog.records)
    # Downstream stages read facts by name: an added class is conservative (every turn a defect, no pads).
    assert params.taxonomy().facts("buzzer") == ClassInfo.conservative("Buzzer")
    led = params.taxonomy()["led"]
    assert led.mount.value == "smd" and led.polarised and led.pads == 2


def test_rounding_overshoot_is_clipped_small_smd_boxes_kept_and_empty_boards_counted(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", "images/<split>", SPLITS, NAMES)
    (export / "labels" / "train" / "a.txt").write_text(
        "0 0.9 0.5 0.2004 0.1\n"  # right edge at 1.0002: rounding, clipped with a note
        "0 0.5 0.5 0.03125 0.04166\n"  # 5x5 px on 160x120: a small SMD part, kept
        "0 0.9 0.5 0.21 0.1\n"  # 0.005 past the edge: not rounding, refused
    )
    (export / "labels" / "val" / "c.txt").write_text("")  # a board with zero parts
    params, summary, df = _run(tmp_path, {"crop": {"boards": "export"}})
    a = df[df["parent_id"] == "train/a"].set_index("source_line")
    assert a.loc[1, "status"] == "ok" and a.loc[1, "box"][0] + a.loc[1, "box"][2] / 2 == pytest.approx(1.0)
    assert a.loc[2, "status"] == "ok" and params.crop.min_box_px == 4
    assert a.loc[3, "status"] == "error" and "reaches outside the image" in a.loc[3, "error"]
    assert "val/c" not in set(df["parent_id"])  # no rows: nothing to crop and nothing wrong
    assert "from 3 boards" in summary and "1 boards with zero parts" in summary and "1 boxes clipped" in summary


def test_zero_box_input_exits_2_naming_the_folder_and_the_layouts(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", "<split>/images", SPLITS, NAMES)
    for split in ("train", "val"):  # labels exported where no YOLO reader looks
        (export / split / "labels").rename(export / split / "annotations")
    write_params(tmp_path, {"crop": {"boards": "export", "include_web": False}})
    res = subprocess.run(
        [sys.executable, "-m", "pcbforge", "crop", "-p", str(tmp_path / "params.yaml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    line = lines[0]
    assert "export: no labelled box found (3 images, 0 label files" in line
    assert "train: train/images (2 images)" in line and "val: val/images (1 images)" in line
    assert not (tmp_path / "data" / "crop").exists()  # never an empty dataset downstream
    # Without split keys in data.yaml, the message lists the layouts looked for.
    (export / "data.yaml").write_text("names: [Resistor, Diode, Relay]\n")
    with pytest.raises(InputError, match=r"images/<split>/ \+ labels/<split>/; <split>/images/ \+ <split>/labels/") as exc:
        crop.run(tiny_params(tmp_path, {"crop": {"boards": "export", "include_web": False}}))
    assert "\n" not in str(exc.value)
