"""Crop geometry and per-board jobs on tiny in-code images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from pcbforge.annotate.crops import (
    BoardJob,
    PhotoJob,
    component_views,
    context_patch,
    crop_board,
    crop_photo,
    load_rgb,
    pixel_box,
    scan_boards,
    square_crop,
    window,
)
from pcbforge.annotate.yolo import format_row, from_pixels
from pcbforge.taxonomy import Taxonomy
from pcbforge.config import CropParams
from pcbforge.vocab import ComponentClass

C = ComponentClass


def board(w: int = 60, h: int = 40) -> np.ndarray:
    """Grey board with x encoded in red and y in green, so every pixel says where it came from."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.arange(w)[None, :]
    img[..., 1] = np.arange(h)[:, None]
    img[..., 2] = 100
    return img


def test_window_replicates_edges_only_outside() -> None:
    img = board(6, 4)
    patch = window(img, -2, -1, 3, 2)
    assert patch.shape == (3, 5, 3)
    assert patch[1:, 2:, 0].tolist() == [[0, 1, 2], [0, 1, 2]]  # real pixels kept
    assert patch[:, :2, 0].tolist() == [[0, 0]] * 3  # left padding repeats column 0
    assert patch[0, :, 1].tolist() == [0] * 5  # top padding repeats row 0
    with pytest.raises(ValueError, match="outside"):
        window(img, 10, 10, 12, 12)


def test_square_crop_uses_surrounding_pixels_and_centres_the_box() -> None:
    img = board()
    # A 10x4 box at (20..30, 18..22): the square is 10 px; its short side is real board.
    crop = square_crop(img, (20, 18, 30, 22), size=10, margin=0.0)
    assert crop.shape == (10, 10, 3)
    assert crop[:, :, 0][0].tolist() == list(range(20, 30))
    assert crop[:, 0, 1].tolist() == list(range(15, 25))  # rows 15..24: centred vertically


def test_square_crop_resizes_and_pads_at_border() -> None:
    img = board()
    crop = square_crop(img, (0, 0, 8, 4), size=32, margin=0.5)
    assert crop.shape == (32, 32, 3)
    # The square reaches left of x=0: replicated column 0 (red = 0) on the left edge.
    assert int(crop[16, 0, 0]) == 0


@given(
    st.integers(0, 50), st.integers(0, 30), st.integers(1, 10), st.integers(1, 10), st.floats(1.0, 4.0)
)
def test_context_patch_contains_the_box(x: int, y: int, bw: int, bh: int, scale: float) -> None:
    img = board()
    box = (float(x), float(y), float(min(60, x + bw)), float(min(40, y + bh)))
    patch, (cx0, cy0, cx1, cy1) = context_patch(img, box, scale)
    assert 0 <= cx0 < cx1 <= patch.shape[1] and 0 <= cy0 < cy1 <= patch.shape[0]
    # The box pixels inside the patch are the box pixels of the board.
    inner = patch[cy0:cy1, cx0:cx1]
    assert int(inner[0, 0, 0]) == x and int(inner[0, 0, 1]) == y
    assert inner.shape[:2] == (int(box[3]) - y, int(box[2]) - x)


def test_context_patch_is_scale_times_box_away_from_borders() -> None:
    patch, cbox = context_patch(board(), (20, 15, 30, 25), 2.0)
    assert patch.shape[:2] == (20, 20)
    assert cbox == (5, 5, 15, 15)


def test_pixel_box_tolerates_label_rounding() -> None:
    assert pixel_box((10.00004, 9.99996, 30.00004, 29.99996), 100, 100) == (10, 10, 30, 30)
    assert pixel_box((-3.0, 2.5, 200.0, 2.6), 100, 100) == (0, 2, 100, 3)


def test_component_views_sizes() -> None:
    v = component_views(board(), (20, 10, 40, 20), 16, 2.0, 0.1)
    assert v.crop.size == (16, 16) and v.crop.mode == "RGB"
    assert v.context.size == (40, 20)
    assert v.context_box == (10, 5, 30, 15)


def test_load_rgb_flattens_alpha_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert np.asarray(load_rgb(tmp_path / "a.png")).min() == 255


def _job(tmp_path: Path, rows: list[str] | None, image: bool = True, corrupt: bool = False) -> BoardJob:
    (tmp_path / "images").mkdir(parents=True, exist_ok=True)
    (tmp_path / "labels").mkdir(parents=True, exist_ok=True)
    img_path = tmp_path / "images" / "b.png"
    if image:
        if corrupt:
            img_path.write_bytes(b"not a png")
        else:
            Image.fromarray(board(100, 80)).save(img_path)
    lab_path = tmp_path / "labels" / "b.txt"
    if rows is not None:
        lab_path.write_text("".join(r + "\n" for r in rows))
    return BoardJob(
        board="b",
        image=img_path if image else None,
        labels=lab_path if rows is not None else None,
        image_name="images/b.png",
        labels_name="labels/b.txt",
        classes=tuple(ComponentClass),
        root=tmp_path,
    )


def test_crop_board_writes_views_and_reports_bad_rows(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rows = [
        format_row(from_pixels(7, 10, 10, 50, 30, 100, 80)),  # resistor, fine
        "3 0.5 0.5 0.2",  # wrong column count
        format_row(from_pixels(0, 60, 60, 64, 64, 100, 80)),  # 4 px: below min_box_px
        "99 0.5 0.5 0.1 0.1",  # class out of range
    ]
    result = crop_board(_job(tmp_path, rows), out, CropParams(min_box_px=8), 32)
    by_line = {r["source_line"]: r for r in result}
    assert sorted(by_line) == [1, 2, 3, 4]
    ok = by_line[1]
    assert ok["status"] == "ok" and ok["class_label"] == "resistor" and ok["group"] == "b"
    assert Image.open(out / ok["crop_path"]).size == (32, 32)
    ctx = Image.open(out / ok["context_path"])
    # 2x the 40x20 box centred on it would start at x=-10: clipped to the board (real pixels only).
    assert ok["context_box"] == [10, 10, 50, 30] and ctx.size == (70, 40)
    assert by_line[2]["status"] == "error" and by_line[2]["error"].startswith("labels/b.txt:2: expected 5 columns")
    assert by_line[3]["error"].startswith("labels/b.txt:3: box 4.0x4.0 px") and "min_box_px=8" in by_line[3]["error"]
    assert by_line[4]["error"].startswith("labels/b.txt:4: class index 99 out of range")
    assert len({r["id"] for r in result}) == 4


def test_crop_board_whole_board_problems(tmp_path: Path) -> None:
    settings, size = CropParams(), 16
    missing = crop_board(_job(tmp_path / "a", None), tmp_path / "o", settings, size)
    assert [r["status"] for r in missing] == ["error"] and "no label file labels/b.txt" in missing[0]["error"]
    orphan = crop_board(_job(tmp_path / "b", ["0 0.5 0.5 0.5 0.5"], image=False), tmp_path / "o", settings, size)
    assert "has no image" in orphan[0]["error"]
    # An empty label file is a board with zero parts: nothing to crop, nothing wrong (docs/annotate.md).
    assert crop_board(_job(tmp_path / "c", []), tmp_path / "o", settings, size) == []
    assert crop_board(_job(tmp_path / "e", ["", "  "]), tmp_path / "o", settings, size) == []
    corrupt = crop_board(_job(tmp_path / "d", ["0 0.5 0.5 0.5 0.5", "1 0.5 0.5 0.2 0.2"], corrupt=True), tmp_path / "o", settings, size)
    assert [r["status"] for r in corrupt] == ["error", "error"]
    assert all(r["error"].startswith("images/b.png: cannot decode image: ") for r in corrupt)
    assert not any(str(tmp_path) in r["error"] for r in corrupt), corrupt[0]["error"]


def test_crop_photo(tmp_path: Path) -> None:
    img = np.full((30, 60, 3), 250, np.uint8)
    img[10:20, 20:40] = 0
    Image.fromarray(img).save(tmp_path / "p.png")
    job = PhotoJob("pid", tmp_path / "p.png", "files/p.png", "diode", "cluster-1", "CC0-1.0", "me", "http://x/p.png")
    (row,) = crop_photo(job, tmp_path / "out", CropParams(), 24)
    assert row["status"] == "ok" and row["origin"] == "web" and row["group"] == "cluster-1"
    crop = np.asarray(Image.open(tmp_path / "out" / row["crop_path"]))
    assert crop.shape == (24, 24, 3)
    assert crop[12, 12].max() < 50 and crop[0, 0].min() > 200  # part centred, background padded
    assert row["context_box"] == [0, 0, 60, 30]
    known = frozenset(Taxonomy.default().names())
    bad = crop_photo(PhotoJob("q", tmp_path / "p.png", "p", "ic", "g", known_classes=known), tmp_path / "out", CropParams(), 128)
    assert bad[0]["status"] == "error" and "'ic'" in bad[0]["error"] and "classes.taxonomy" in bad[0]["error"]
    assert row["source_url"] == "http://x/p.png" and row["author"] == "me"
    assert row["attribution"] is None and row["licence_url"] is None and row["image_url"] is None


def test_crop_photo_rows_carry_attribution_even_when_they_fail(tmp_path: Path) -> None:
    lineage = {"attribution": "Photo: me, CC BY 4.0", "licence_url": "https://creativecommons.org/licenses/by/4.0/"}
    url = "http://x/p.png"
    job = PhotoJob("pid", None, "", "diode", "g", "CC-BY-4.0", "me", url, image_url=url, **lineage)
    (row,) = crop_photo(job, tmp_path, CropParams(), 128)
    assert row["status"] == "error"
    assert {k: row[k] for k in lineage} == lineage and row["image_url"] == "http://x/p.png"


def test_scan_boards_pairs_files_and_keeps_strays(tmp_path: Path) -> None:
    for d in ("images", "labels"):
        (tmp_path / d).mkdir()
    for name in ("a.png", "b.jpg", "b.png", "c.PNG", "notes.md"):
        (tmp_path / "images" / name).write_bytes(b"x")
    for name in ("a.txt", "d.txt"):
        (tmp_path / "labels" / name).write_text("")
    jobs = {j.board: j for j in scan_boards(tmp_path, [C.DIODE])}
    assert sorted(jobs) == ["a", "b", "c", "d"]
    assert jobs["a"].image is not None and jobs["a"].labels is not None and jobs["a"].problem is None
    assert jobs["b"].problem is not None and "several images" in jobs["b"].problem
    assert jobs["c"].labels is None
    assert jobs["d"].image is None


def test_scan_boards_follows_ultralytics_subfolders(tmp_path: Path) -> None:
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    Image.fromarray(board(100, 80)).save(tmp_path / "images" / "train" / "x.jpg")
    # A byte-order mark from a Windows editor must not break the first row.
    row_text = "\ufeff" + format_row(from_pixels(3, 10, 10, 50, 30, 100, 80)) + "\r\n"
    (tmp_path / "labels" / "train" / "x.txt").write_bytes(row_text.encode())
    (job,) = scan_boards(tmp_path, list(ComponentClass))
    assert job.board == "train/x" and job.image_name == "images/train/x.jpg" and job.labels_name == "labels/train/x.txt"
    (row,) = crop_board(job, tmp_path / "out", CropParams(), 16)
    assert row["status"] == "ok" and row["class_label"] == "diode" and row["group"] == "train/x"


def test_crop_photo_without_path_is_an_error_row(tmp_path: Path) -> None:
    (row,) = crop_photo(PhotoJob("pid", None, "", "diode", "g"), tmp_path, CropParams(), 128)
    assert row["status"] == "error" and "no path" in row["error"]
