"""Finding a YOLO dataset's boards (annotate/layouts.py) and the codec rules crop adds for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcbforge.annotate.layouts import find_boards, locate, scan
from pcbforge.annotate.yolo import map_classes, read_labels, split_entries
from pcbforge.errors import InputError
from pcbforge.taxonomy import Taxonomy, Unmapped


def _touch(root: Path, *names: str, text: str = "0 0.5 0.5 0.2 0.2\n") -> None:
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text if p.suffix.lower() == ".txt" else "not decoded here")


def test_colliding_short_names_keep_their_whole_path(tmp_path: Path) -> None:
    _touch(tmp_path, "images/train/x.jpg", "labels/train/x.txt", "train/images/x.jpg", "train/labels/x.txt")
    boards = {b.board: b for b in find_boards(tmp_path, {}).boards}
    assert sorted(boards) == ["images/train/x", "train/images/x"]
    assert boards["train/images/x"].labels_name == "train/labels/x.txt" and all(b.problem is None for b in boards.values())


def test_pairing_problems_and_strays_are_boards_with_a_problem(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "images/a.png", "labels/a.txt", "labels/a.TXT",  # two label files for one image
        "images/b.png", "images/b.JPG", "labels/b.txt",  # two images for one label file
        "labels/orphan.txt", "labels/classes.txt",  # no image; classes.txt is no board's labels
        "images/notes.md", ".cache/images/z.png", "preview.png",  # not an image, hidden, outside images/
    )  # fmt: skip
    found = find_boards(tmp_path, {})
    boards = {b.board: b for b in found.boards}
    assert sorted(boards) == ["a", "b", "orphan"]
    assert boards["a"].problem is not None and "several label files" in boards["a"].problem
    assert boards["b"].problem is not None and "several images for one board" in boards["b"].problem
    assert boards["orphan"].image is None and boards["orphan"].image_name == "images/orphan.*"
    assert any("notes.md: not an image suffix" in n for n in found.notes)
    assert "(1 images outside an images/ folder were not read)" in found.looked


def test_a_link_back_up_the_tree_is_followed_once(tmp_path: Path) -> None:
    _touch(tmp_path, "images/a.png", "labels/a.txt")
    (tmp_path / "images" / "loop").symlink_to(tmp_path / "images", target_is_directory=True)
    assert [b.board for b in find_boards(tmp_path, {}).boards] == ["a"]


def test_data_yaml_path_and_roboflow_parent_entries(tmp_path: Path) -> None:
    _touch(tmp_path, "set/train/images/a.png", "set/train/labels/a.txt")
    # The exporter's own path, not present here: the data.yaml folder is the root.
    (tmp_path / "set" / "data.yaml").write_text("path: /content/datasets/pcb\ntrain: ../train/images\nnames: [r]\n")
    data_yaml, root, _ = locate(tmp_path / "set")
    assert (data_yaml, root) == (tmp_path / "set" / "data.yaml", tmp_path / "set")
    assert [b.board for b in scan(tmp_path / "set").boards] == ["train/a"]
    # A relative path: against the data.yaml folder; the yaml may sit elsewhere and be named anyhow.
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "pcb.yaml").write_text("path: ../set\ntrain: train/images\nnames: [r]\n")
    found = scan(tmp_path / "cfg" / "pcb.yaml")
    assert found.root == tmp_path / "set" and [b.board for b in found.boards] == ["train/a"]


def test_txt_lists_resolve_like_ultralytics(tmp_path: Path) -> None:
    _touch(tmp_path, "images/a.png", "labels/a.txt", "images/b.png", "labels/b.txt")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train.txt").write_text(f"# comment\n../images/a.png\n{tmp_path}/images/b.png\n\nimages/notes.md\n")
    found = find_boards(tmp_path, {"train": ["lists/train.txt"]})
    assert [b.board for b in found.boards] == ["a", "b"]
    assert any("train.txt:5" in n and "not an image" in n for n in found.notes)


def test_locate_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="boards directory not found"):
        locate(tmp_path / "nope")
    with pytest.raises(InputError, match="data.yaml: missing"):
        locate(tmp_path)
    with pytest.raises(InputError, match="'val' must be a folder, a .txt file list or a list of them"):
        split_entries({"val": {"a": 1}})


def test_read_labels_clips_rounding_only() -> None:
    labels = read_labels("0 0.9 0.5 0.2004 0.1\n0 0.05 0.5 0.1 0.1\n0 0.9 0.5 0.21 0.1\n0 0.9999999 0.5 0.0000002 0.1\n", 1)
    assert [n for n, _ in labels.boxes] == [1, 2, 4] and [n for n, _ in labels.clipped] == [1]
    (n, box), over = labels.boxes[0], labels.clipped[0][1]
    assert box.cx + box.w / 2 == pytest.approx(1.0) and box.cx - box.w / 2 == pytest.approx(0.7998) and over == pytest.approx(2e-4)
    assert labels.boxes[1][1].as_list() == [0.05, 0.5, 0.1, 0.1]  # inside: as written
    assert labels.issues[0].line == 3 and "reaches outside the image" in labels.issues[0].reason


@pytest.mark.parametrize(
    ("policy", "classes", "added", "skipped"),
    [
        (Unmapped.SKIP, ("resistor", "smd_diode", None, None), (), ("background", "Buzzer")),
        (Unmapped.ADD, ("resistor", "smd_diode", None, "buzzer"), ("buzzer",), ("background",)),
    ],
)
def test_map_classes_policies(policy: Unmapped, classes: tuple, added: tuple, skipped: tuple) -> None:
    names = ["Resistor", "diode", "background", "Buzzer"]
    mapped = map_classes(names, Taxonomy.default(), "d.yaml", {"Diode": "smd_diode", "background": None}, policy)
    assert (mapped.classes, mapped.added, mapped.skipped) == (classes, added, skipped)
    assert ("buzzer" in mapped.taxonomy) is bool(added)
    with pytest.raises(InputError, match=r"^d.yaml: class names not in the classes taxonomy: 3: 'Buzzer'; use one of capacitor"):
        map_classes(names, Taxonomy.default(), "d.yaml", {"Diode": "smd_diode", "background": None}, Unmapped.ERROR)
