"""A small reader for the vendored real board photos under ``realsets/<source>/``.

Each source keeps the YOLO layout it was exported in (``data.yaml`` plus ``<split>/images`` +
``<split>/labels``, or ``images/<split>`` + ``labels/<split>``), so this reader takes every image
below a folder named ``images`` and pairs it with the file of the same stem in the folder at
the same place under ``labels`` (extensions in any case). It exists for the real-set tests and
``benchmarks/bench_masks.py`` only: the crop stage has its own reader (issue #9 teaches it every
common layout), and nothing in ``src/`` imports this.

Labels are parsed with the project's own codec (:func:`pcbforge.annotate.yolo.parse_labels`),
so a row the crop stage would refuse is reported here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from pcbforge.annotate.yolo import LabelIssue, YoloBox, parse_labels, parse_names

#: The repository's folder of vendored real sets.
REALSETS = Path(__file__).resolve().parents[2] / "realsets"

#: Image suffixes a YOLO export may use (compared in lower case).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

#: Roboflow renames ``12.jpg`` to ``12_jpg.rf.<hash>.jpg``: the uploader's photo name is the part before.
ROBOFLOW_STEM = re.compile(r"^(?P<photo>.+?)_(?:jpe?g|png)\.rf\.[0-9a-f]+$", re.IGNORECASE)


@dataclass(frozen=True)
class Board:
    """One board photo of a real set and its parsed label file."""

    source: str
    split: str
    image: Path
    labels: Path | None
    boxes: tuple[tuple[int, YoloBox], ...]
    issues: tuple[LabelIssue, ...]

    @property
    def photo(self) -> str:
        """The uploader's photo name (Roboflow's ``.rf.<hash>`` suffix removed)."""
        m = ROBOFLOW_STEM.match(self.image.stem)
        return m.group("photo") if m else self.image.stem


@dataclass(frozen=True)
class RealSet:
    """One vendored source: its folder, class names (as the source spells them) and boards."""

    name: str
    root: Path
    names: tuple[str, ...]
    boards: tuple[Board, ...]


def sources(root: Path = REALSETS) -> list[Path]:
    """Every source folder (one holding a ``data.yaml``) under ``root``, sorted."""
    return sorted(p.parent for p in root.glob("*/data.yaml"))


def _split_of(rel: Path) -> str:
    """The split a path inside a source belongs to: the first part that is not images/labels."""
    parts = [p for p in rel.parts[:-1] if p.lower() not in ("images", "labels")]
    return parts[0] if parts else ""


def _label_file(image: Path) -> Path | None:
    """The label file of ``image``: the last ``images`` part of its path turned into ``labels``, suffix ``.txt``
    (any case). None when there is none."""
    parts = list(image.parent.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].lower() == "images":
            parts[i] = "labels"
            break
    folder = Path(*parts)
    if not folder.is_dir():
        return None
    return next((p for p in sorted(folder.iterdir()) if p.stem == image.stem and p.suffix.lower() == ".txt"), None)


def read_source(folder: Path) -> RealSet:
    """Read one source folder: ``data.yaml`` names, and every image with its parsed labels."""
    names = tuple(parse_names(yaml.safe_load((folder / "data.yaml").read_text()), str(folder / "data.yaml")))
    boards: list[Board] = []
    for image in sorted(folder.rglob("*")):
        rel = image.relative_to(folder)
        if image.suffix.lower() not in IMAGE_SUFFIXES or not any(p.lower() == "images" for p in rel.parts[:-1]):
            continue
        lab = _label_file(image)
        boxes, issues = parse_labels(lab.read_text(), len(names)) if lab is not None else ([], [])
        boards.append(
            Board(
                source=folder.name,
                split=_split_of(rel),
                image=image,
                labels=lab,
                boxes=tuple(boxes),
                issues=tuple(issues),
            )
        )
    return RealSet(name=folder.name, root=folder, names=names, boards=tuple(boards))


def read_all(root: Path = REALSETS) -> Iterator[RealSet]:
    """:func:`read_source` for every source under ``root``."""
    for folder in sources(root):
        yield read_source(folder)
