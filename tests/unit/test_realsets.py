"""The vendored real board photos (``realsets/``) are well-formed, licensed and small.

These are data checks: every source has its licence, attribution and ``data.yaml``; every
image opens; every label file parses with the project's own YOLO codec and names a class of
its ``data.yaml``; every image has its label file and no label file is orphaned; the whole
folder stays within the 20 MB the repository allows for vendored photos.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.realsets import IMAGE_SUFFIXES, REALSETS, read_source, sources

#: Budget for all vendored photos and labels together.
MAX_BYTES = 20 * 1024 * 1024

SOURCES = sources()


def test_there_is_a_vendored_real_set() -> None:
    assert SOURCES, f"no source folder with a data.yaml under {REALSETS}"


def test_realsets_stay_within_the_size_budget() -> None:
    total = sum(p.stat().st_size for p in REALSETS.rglob("*") if p.is_file())
    assert total <= MAX_BYTES, f"realsets/ holds {total / 2**20:.1f} MB, more than {MAX_BYTES / 2**20:.0f} MB"


@pytest.mark.parametrize("folder", SOURCES, ids=[p.name for p in SOURCES])
def test_source_has_licence_and_attribution(folder: Path) -> None:
    licence = folder / "LICENSE"
    assert licence.is_file() and licence.stat().st_size > 500, f"{licence}: missing or not a licence text"
    attribution = (folder / "ATTRIBUTION.md").read_text()
    # The attribution names the licence, the source and the pinned commit it was taken at.
    assert "Licence" in attribution and "https://" in attribution
    assert re.search(r"\b[0-9a-f]{40}\b", attribution), f"{folder}/ATTRIBUTION.md names no 40-hex commit"
    assert folder.name in (REALSETS / "README.md").read_text(), f"realsets/README.md does not list {folder.name}"


@pytest.mark.parametrize("folder", SOURCES, ids=[p.name for p in SOURCES])
def test_every_label_parses_and_every_image_opens(folder: Path) -> None:
    rs = read_source(folder)
    assert rs.names, f"{folder}/data.yaml has no class names"
    assert rs.boards, f"{folder}: no images found in any images/ folder"
    problems = []
    for board in rs.boards:
        if board.labels is None:
            problems.append(f"{board.image}: no label file")
        problems += [f"{board.labels}:{i.line}: {i.reason}" for i in board.issues]
        with Image.open(board.image) as im:
            im.verify()  # a truncated or corrupt file raises here
    assert not problems, "\n".join(problems[:20])
    assert sum(len(b.boxes) for b in rs.boards) > 0
    used = {box.cls for b in rs.boards for _, box in b.boxes}
    assert used <= set(range(len(rs.names)))


@pytest.mark.parametrize("folder", SOURCES, ids=[p.name for p in SOURCES])
def test_no_orphan_label_files(folder: Path) -> None:
    rs = read_source(folder)
    paired = {b.labels for b in rs.boards if b.labels is not None}
    labels = {p for p in folder.rglob("*") if p.suffix.lower() == ".txt" and p.parent.name.lower() == "labels"}
    assert labels == paired, f"label files without an image: {sorted(map(str, labels - paired))[:5]}"
    images = {p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
    assert images == {b.image for b in rs.boards}, "an image lies outside an images/ folder"


def test_reader_pairs_both_split_layouts(tmp_path: Path) -> None:
    """The helper pairs images/<split> with labels/<split> and <split>/images with <split>/labels."""
    for layout in ("images/train", "valid/images"):
        img_dir = tmp_path / layout
        img_dir.mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(img_dir / "b1.JPG")
        lab_dir = tmp_path / layout.replace("images", "labels")
        lab_dir.mkdir(parents=True)
        (lab_dir / "b1.txt").write_text("1 0.5 0.5 0.25 0.25\n")
    (tmp_path / "data.yaml").write_text("names: [a, b]\n")
    rs = read_source(tmp_path)
    got = sorted((b.split, b.labels is not None, len(b.boxes)) for b in rs.boards)
    assert got == [("train", True, 1), ("valid", True, 1)]
