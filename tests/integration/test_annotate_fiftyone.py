"""Box review on a real mongod: launch, edit boxes through the FiftyOne API, pull, re-import.

FiftyOne's bundled ``mongod`` keeps its files in the run's shared ``db_dir`` (tests/conftest.py);
``--launch`` serves the real App server on a free loopback port without blocking, and the test
closes it. The label files are the record: every assertion on them is on their bytes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pcbforge.annotate.fiftyone_boxes import (
    VIEW_BORDER,
    VIEW_ISSUES,
    VIEW_OUTSIDE,
    VIEW_OVERLAP,
    VIEW_RARE,
    VIEW_TINY,
)
from pcbforge.config import Params
from pcbforge.errors import InputError
from pcbforge.pipelines import annotate
from tests.helpers.params import tiny_params
from tests.helpers.yolo_boards import Part, write_yolo_dir

pytestmark = pytest.mark.slow

#: data.yaml names: three taxonomy classes and one foreign name (no class, no alias).
NAMES = ["capacitor", "resistor", "diode", "potentiometer"]
SIZE = (160, 120)
BOARDS = {
    "board-a": [
        Part("resistor", (10, 10, 50, 30)),
        Part("capacitor", (70, 40, 100, 90), (200, 30, 30)),
        Part("diode", (120, 90, 160, 120), (40, 40, 40)),  # touches the right/bottom edge
    ],
    "board-b": [
        Part("resistor", (20, 20, 80, 70), (30, 30, 200)),
        Part("resistor", (22, 22, 80, 70), (30, 30, 200)),  # IoU 0.93 with the one above
        Part("capacitor", (100, 30, 103, 36)),  # 3x6 px: tiny
    ],
    "board-c": [
        Part("potentiometer", (30, 30, 60, 60)),
        Part("resistor", (70, 70, 100, 100)),
    ],
}
#: board-a's label file as a person wrote it: other precisions, a CRLF line, a blank line and a
#: malformed row (none of which a pull may touch unless that row was edited).
BOARD_A = (
    "1 0.1875 0.1666667 0.25 0.1666667\n"
    "0 0.531250 0.541667 0.187500 0.416667\r\n"
    "\n"
    "7 0.5 0.5\n"
    "2 0.875000 0.875000 0.250000 0.250000\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _project(tmp_path: Path, db_dir: Path, **annotate_params: Any) -> Params:
    boards = write_yolo_dir(tmp_path / "project" / "boards", BOARDS, names=NAMES, size=SIZE)
    (boards / "labels" / "board-a.txt").write_bytes(BOARD_A.encode())
    name = f"pcbforge-boxes-test-{tmp_path.name}"
    over = {"database_dir": str(db_dir), "dataset_name": name, "rare_below": 2, "port": _free_port(), **annotate_params}
    return tiny_params(tmp_path / "project", {"crop": {"boards": "boards"}, "annotate": over})


@pytest.fixture()
def fo_env(db_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # configure() exports the database dir for FiftyOne's subprocesses; undo that after the test.
    monkeypatch.setenv("FIFTYONE_DATABASE_DIR", str(db_dir))
    monkeypatch.setenv("FIFTYONE_DO_NOT_TRACK", "true")
    return db_dir


def _labels(params: Params) -> dict[str, bytes]:
    root = params.boards_dir() / "labels"
    return {p.stem: p.read_bytes() for p in sorted(root.glob("*.txt"))}


def _sample(ds: Any, board: str) -> Any:
    from fiftyone import ViewField as F

    return ds.match(F("board") == board).first()


def _by_line(sample: Any) -> dict[int, Any]:
    return {d["line"]: d for d in sample.detections.detections}


def _launch(params: Params) -> str:
    """``annotate --launch`` without blocking; check the App server answers, then close it."""
    import fiftyone as fo

    summary = annotate.run(params, launch=True, block=False)
    url = f"http://{params.annotate.address}:{params.annotate.port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"{url}/fiftyone", timeout=5) as r:
                    assert json.loads(r.read())["version"]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        # The App's own server lists the saved views for its view selector.
        query = f'query {{ dataset(name: "{params.annotate.dataset_name}") {{ savedViews {{ name }} }} }}'
        req = urllib.request.Request(
            f"{url}/graphql", json.dumps({"query": query}).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            views = {v["name"] for v in json.loads(r.read())["data"]["dataset"]["savedViews"]}
        assert VIEW_TINY in views and VIEW_OUTSIDE in views
    finally:
        fo.close_app()
    return summary


def test_move_relabel_delete_add_pull_and_reimport(tmp_path: Path, fo_env: Path) -> None:
    import fiftyone as fo

    params = _project(tmp_path, fo_env)
    name = params.annotate.dataset_name
    before = _labels(params)
    summary = _launch(params)
    assert f"FiftyOne dataset {name!r}: 3 boards, 8 boxes, 6 saved views" in summary
    assert f"App serving at http://127.0.0.1:{params.annotate.port}/datasets/{name}" in summary

    ds = fo.load_dataset(name)
    a = _sample(ds, "board-a")
    assert a.labels_path == str((params.boards_dir() / "labels" / "board-a.txt").resolve())
    assert a.labels_file == "boards/labels/board-a.txt" and a.imported_lines == [1, 2, 5]
    assert a.label_issues == ["boards/labels/board-a.txt:4: expected 5 columns 'cls cx cy w h', got 3"]
    assert (a.metadata.width, a.metadata.height) == SIZE
    rows = _by_line(a)
    assert [rows[n].label for n in (1, 2, 5)] == ["resistor", "capacitor", "diode"]
    assert rows[2].bounding_box == pytest.approx([0.4375, 0.333333, 0.1875, 0.416667], abs=1e-6)

    # An annotator moves the resistor 8 px right and makes the capacitor a diode.
    rows[1].bounding_box = [rows[1].bounding_box[0] + 8 / 160, *rows[1].bounding_box[1:]]
    rows[2].label = "diode"
    a.save()
    # ...deletes board-c's potentiometer and draws a new capacitor box there.
    c = _sample(ds, "board-c")
    c.detections.detections = [d for d in c.detections.detections if d.label != "potentiometer"]
    c.detections.detections.append(fo.Detection(label="capacitor", bounding_box=[0.5, 0.1, 0.125, 0.125]))
    c.save()

    # A launch now would throw that work away: it refuses.
    with pytest.raises(InputError, match=r"holds box edits not pulled yet on 2 board\(s\).*annotate --pull"):
        annotate.run(params, build=True)

    summary = annotate.run(params, pull=True)
    assert summary.startswith("2 label file(s) rewritten: 2 row(s) changed, 1 deleted, 1 added")
    after = _labels(params)
    assert after["board-b"] == before["board-b"]
    old_a, new_a = BOARD_A.encode().splitlines(keepends=True), after["board-a"].splitlines(keepends=True)
    assert new_a[0] == b"1 0.237500 0.166667 0.250000 0.166667\n"  # moved: cx + 8/160, rewritten in place
    assert new_a[1] == b"2 0.531250 0.541667 0.187500 0.416667\r\n"  # class 0 -> 2, box and CRLF kept
    assert new_a[2:] == old_a[2:]  # blank line, malformed row and the diode: byte-identical
    old_c = before["board-c"].splitlines(keepends=True)
    assert after["board-c"] == old_c[1] + b"0 0.562500 0.162500 0.125000 0.125000\n"

    # Pulling again changes nothing; re-importing (launch again) shows the edits.
    assert annotate.run(params, pull=True).startswith("0 label file(s) rewritten")
    assert _labels(params) == after
    params = _project_port(params)
    assert "3 boards, 8 boxes" in _launch(params)
    ds = fo.load_dataset(name)
    rows = _by_line(_sample(ds, "board-a"))
    assert rows[1].bounding_box[0] == pytest.approx(0.0625 + 8 / 160, abs=1e-6)
    assert rows[2].label == "diode"
    assert sorted(d.label for d in _sample(ds, "board-c").detections.detections) == ["capacitor", "resistor"]
    ds.delete()


def _project_port(params: Params) -> Params:
    # The first App server may still hold its port for a moment after closing.
    raw = params.model_dump(mode="json", exclude={"root"})
    raw["annotate"]["port"] = _free_port()
    return tiny_params(params.root, raw)


def test_saved_views_hold_the_expected_boxes(tmp_path: Path, fo_env: Path) -> None:
    import fiftyone as fo

    params = _project(tmp_path, fo_env)
    annotate.run(params, build=True)
    ds = fo.load_dataset(params.annotate.dataset_name)

    def shown(view_name: str) -> dict[str, list[str]]:
        view = ds.load_saved_view(view_name)
        return {s.board: sorted(d.label for d in s.detections.detections) for s in view}

    assert shown(VIEW_TINY) == {"board-b": ["capacitor"]}  # 3x6 px < crop.min_box_px (4)
    assert shown(VIEW_BORDER) == {"board-a": ["diode"]}
    assert shown(VIEW_OVERLAP) == {"board-b": ["resistor", "resistor"]}
    assert shown(VIEW_RARE) == {"board-a": ["diode"], "board-c": ["potentiometer"]}  # 1 box each, rare_below 2
    assert shown(VIEW_OUTSIDE) == {"board-c": ["potentiometer"]}
    assert [s.board for s in ds.load_saved_view(VIEW_ISSUES)] == ["board-a"]
    ds.delete()


def test_pull_refuses_unknown_labels_and_keeps_files_changed_on_disk(tmp_path: Path, fo_env: Path) -> None:
    import fiftyone as fo

    params = _project(tmp_path, fo_env)
    annotate.run(params, build=True)
    ds = fo.load_dataset(params.annotate.dataset_name)
    before = _labels(params)

    # A label data.yaml does not name: nothing is written, the message names the file and the choices.
    b = _sample(ds, "board-b")
    b.detections.detections[0].label = "fuse"
    b.save()
    with pytest.raises(InputError, match=r"boards/labels/board-b.txt: label 'fuse' is not a data.yaml class"):
        annotate.run(params, pull=True)
    assert _labels(params) == before

    # Fixed in the App; meanwhile board-b's file changed on disk (a git checkout): the file stands.
    b.detections.detections[0].label = "diode"
    b.save()
    edited_on_disk = before["board-b"] + b"0 0.1 0.1 0.1 0.1\n"
    (params.boards_dir() / "labels" / "board-b.txt").write_bytes(edited_on_disk)
    summary = annotate.run(params, pull=True)
    assert "0 label file(s) rewritten" in summary
    assert "1 file(s) changed on disk since the launch, their App edits NOT written (boards/labels/board-b.txt)" in summary
    assert _labels(params)["board-b"] == edited_on_disk
    ds.delete()


def test_nothing_to_do_and_missing_dataset_are_user_errors(tmp_path: Path, fo_env: Path) -> None:
    params = _project(tmp_path, fo_env)
    cli = [sys.executable, "-m", "pcbforge", "annotate"]
    assert "--pull" in subprocess.run([*cli, "--help"], capture_output=True, text=True, timeout=120).stdout
    done = subprocess.run([*cli, "-p", str(params.root / "params.yaml")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "pcbforge: error: say what to do: --launch" in done.stderr
    with pytest.raises(InputError, match=r"not found .*run `pcbforge annotate --launch` first"):
        annotate.run(params, pull=True)
