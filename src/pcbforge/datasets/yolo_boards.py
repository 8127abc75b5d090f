"""The reviewed boards as one Ultralytics YOLO dataset (``pcbforge export --yolo-boards DIR``).

Every board of every board source (:func:`pcbforge.pipelines.crop.board_jobs`, as crop
reads them after ``annotate`` review) lands in one folder with the taxonomy's class names:

    DIR/data.yaml                       names: {index: taxonomy class}, train/val/test folders
    DIR/images/<split>/<board>.<ext>    the board image, byte for byte
    DIR/labels/<split>/<board>.txt      its good rows, class indices remapped to data.yaml

``<board>`` is crop's board name with ``/`` as ``__`` (unique across sources). A board's
split is the one its own dataset names in the image path (``train``, ``val``/``valid``,
``test``), else ``train``. Boxes of a class the source maps to nothing, and malformed rows,
are left out (counted); a board with no image, or one crop pairs with a problem, is skipped.
Coordinates are written with full precision, so the boxes read back exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import yaml

from pcbforge.annotate.yolo import YoloBox, format_labels, read_labels
from pcbforge.io import staged_dir, write_bytes, write_text

if TYPE_CHECKING:
    from pcbforge.config import Params
    from pcbforge.annotate.crops import BoardJob

#: Folder names a source may use for a split -> the split.
SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def board_split(image_name: str) -> str:
    """The split a dataset's own folders give an image (``images/valid/x.jpg`` -> ``val``), else ``train``."""
    for part in PurePosixPath(image_name).parts[:-1]:
        if part.lower() in SPLIT_FOLDERS:
            return SPLIT_FOLDERS[part.lower()]
    return "train"


def data_yaml(names: Sequence[str], splits: set[str]) -> str:
    """``data.yaml``: paths relative to its folder (Ultralytics' default with no ``path``), names by index.

    Ultralytics needs ``train`` and ``val``; a missing ``val`` points at ``train`` (a smoke run, said so in docs).
    """
    data: dict[str, object] = {"train": "images/train", "val": "images/val" if "val" in splits else "images/train"}
    if "test" in splits:
        data["test"] = "images/test"
    data |= {"nc": len(names), "names": dict(enumerate(names))}
    return yaml.safe_dump(data, sort_keys=False)


def export_boards(jobs: Sequence[BoardJob], names: Sequence[str], out: Path) -> dict[str, int]:
    """Write ``jobs`` as one YOLO dataset at ``out`` (built beside it, swapped in); return counts."""
    index = {n: i for i, n in enumerate(names)}
    counts: Counter[str] = Counter()
    splits: set[str] = set()
    with staged_dir(out) as tmp:
        for job in jobs:
            if job.image is None or job.problem:
                counts["boards_skipped"] += 1
                continue
            split = board_split(job.image_name)
            splits.add(split)
            stem = job.board.replace("/", "__")
            write_bytes(tmp / "images" / split / f"{stem}{job.image.suffix.lower()}", job.image.read_bytes())
            boxes: list[YoloBox] = []
            if job.labels is not None and job.labels.is_file():
                labels = read_labels(job.labels.read_text(encoding="utf-8"), len(job.classes))
                counts["rows_malformed"] += len(labels.issues)
                for _, b in labels.boxes:
                    cls = job.classes[b.cls]
                    if cls is None or cls not in index:
                        counts["boxes_unmapped"] += 1
                        continue
                    boxes.append(YoloBox(index[cls], b.cx, b.cy, b.w, b.h))
            write_text(tmp / "labels" / split / f"{stem}.txt", format_labels(boxes, precision=None))
            counts["boards"] += 1
            counts["boxes"] += len(boxes)
        write_text(tmp / "data.yaml", data_yaml(names, splits))
    return dict(sorted(counts.items()))


def run(params: Params, out: Path) -> str:
    """Export every board of the board sources to ``out``; returns a one-line summary.

    Raises:
        InputError: a board source crop cannot read (see :func:`~pcbforge.pipelines.crop.board_jobs`).
    """
    from pcbforge.pipelines.crop import board_jobs

    jobs = board_jobs(params)
    # Taxonomy order, plus classes a source adds under classes.unmapped: add (known to the jobs only).
    names = list(params.taxonomy().names())
    names += sorted({c for j in jobs for c in j.classes if c is not None and c not in names})
    counts = export_boards(jobs, names, out)
    return f"{counts.get('boards', 0)} boards, {counts.get('boxes', 0)} boxes, {len(names)} classes -> {out}; " + ", ".join(
        f"{k} {v}" for k, v in counts.items() if k not in ("boards", "boxes")
    )
