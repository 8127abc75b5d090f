"""Cut component views out of labelled boards and accepted web photos.

Two images per component:

* the **crop**: a square ``size x size`` view with the component centred and its aspect
  ratio preserved. The square is filled with the real surrounding board pixels; only
  where the square reaches past the image border are edge pixels replicated.
* the **context patch**: ``context_scale`` times the box, centred on it, clipped to the
  image and kept at native resolution (no resampling), with the box position inside it
  (``context_box``). Later stages shift, rotate or remove the part inside its real
  surroundings instead of on a synthetic background.

The image functions are pure (arrays in, arrays out). :func:`crop_board` and
:func:`crop_photo` are the per-item jobs a stage maps over workers: they take plain
values, write PNGs and return manifest rows; a bad item becomes an ``error`` row.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from pcbforge.annotate import layouts
from pcbforge.annotate.yolo import CLIP_TOLERANCE, YoloBox, read_labels, to_pixels
from pcbforge.config import CropParams
from pcbforge.datasets.manifest import LINEAGE_COLUMNS, error_row, error_text, ok_row, rejected_row, relative_message
from pcbforge.io import rgb_on_white, stable_id, write_png

log = logging.getLogger(__name__)

#: Image suffixes a YOLO ``images/`` folder may hold (lower-cased).
IMAGE_SUFFIXES = layouts.IMAGE_SUFFIXES
#: The reason a box of a skipped class gives (``classes.unmapped: skip`` or a null ``class_map`` target).
SKIPPED_CLASS = "not in classes.taxonomy, skipped (classes.unmapped: skip, or the source's class_map maps it to null)"

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ComponentViews:
    """The two images cut for one component."""

    crop: Image.Image
    context: Image.Image
    #: The component box inside ``context``, in its pixels: ``(x0, y0, x1, y1)``, x1/y1 exclusive.
    context_box: Box


def load_rgb(path: str | Path) -> Image.Image:
    """Decode an image fully to RGB, applying EXIF orientation and flattening alpha onto white.

    Raises:
        OSError / ValueError: the file is missing, truncated or not an image.
    """
    with Image.open(path) as im:
        im.load()
        return rgb_on_white(ImageOps.exif_transpose(im))


def pixel_box(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    """Round float corners outwards to whole pixels, clipped to the image."""
    # Labels carry ~6 decimals, so a corner meant to be on pixel 30 arrives as 30.00004:
    # a hundredth of a pixel of slack keeps it there instead of growing the box by one.
    eps = 0.01
    x0, y0, x1, y1 = box
    ix0, iy0 = math.floor(x0 + eps), math.floor(y0 + eps)
    return (
        max(0, ix0),
        max(0, iy0),
        min(width, max(math.ceil(x1 - eps), ix0 + 1)),
        min(height, max(math.ceil(y1 - eps), iy0 + 1)),
    )


def window(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Pixels of ``[y0:y1, x0:x1]``; parts outside the image replicate its edge pixels.

    Example:
        >>> window(np.arange(4, dtype=np.uint8).reshape(2, 2), -1, 0, 2, 2).tolist()
        [[0, 0, 1], [2, 2, 3]]
    """
    h, w = image.shape[:2]
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty window {x0},{y0},{x1},{y1}")
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError(f"window {x0},{y0},{x1},{y1} lies outside the {w}x{h} image")
    inner = image[cy0:cy1, cx0:cx1]
    pad = [(cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1)] + [(0, 0)] * (image.ndim - 2)
    if any(a or b for a, b in pad):
        inner = np.pad(inner, pad, mode="edge")
    return inner


def square_crop(image: np.ndarray, box: tuple[float, float, float, float], size: int, margin: float = 0.0) -> np.ndarray:
    """A ``size x size`` view centred on ``box``, aspect preserved.

    The square's side is the box's long side times ``1 + margin``; the short side is
    filled with the real pixels around the box (edge-replicated past the image border).

    Args:
        image: ``H x W x C`` uint8 array.
        box: ``(x0, y0, x1, y1)`` float pixel corners.
        size: Output side in pixels.
        margin: Extra context around the long side, as a fraction of it.
    """
    x0, y0, x1, y1 = box
    side = max(1, math.ceil(max(x1 - x0, y1 - y0) * (1 + margin)))
    # Integer origin chosen so the square's centre is the box centre to within half a pixel.
    left = math.floor((x0 + x1) / 2 - side / 2 + 0.5)
    top = math.floor((y0 + y1) / 2 - side / 2 + 0.5)
    patch = window(image, left, top, left + side, top + side)
    if side == size:
        return np.ascontiguousarray(patch)
    resized = Image.fromarray(np.ascontiguousarray(patch)).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(resized)


def context_patch(image: np.ndarray, box: tuple[float, float, float, float], scale: float) -> tuple[np.ndarray, Box]:
    """``scale`` x the box around it, clipped to the image, and the box inside the patch.

    Only real pixels: near a border the patch is smaller on that side, and the box is
    then off-centre (``context_box`` says where).

    Returns:
        ``(patch, context_box)`` with ``context_box`` as whole pixels ``(x0, y0, x1, y1)``.
    """
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = (x1 - x0) * scale / 2, (y1 - y0) * scale / 2
    px0, py0, px1, py1 = pixel_box((cx - half_w, cy - half_h, cx + half_w, cy + half_h), w, h)
    bx0, by0, bx1, by1 = pixel_box(box, w, h)
    # The patch always covers the box: pixel_box rounds both outwards and scale >= 1.
    px0, py0, px1, py1 = min(px0, bx0), min(py0, by0), max(px1, bx1), max(py1, by1)
    patch = np.ascontiguousarray(image[py0:py1, px0:px1])
    return patch, (bx0 - px0, by0 - py0, bx1 - px0, by1 - py0)


def component_views(
    image: np.ndarray, box: tuple[float, float, float, float], size: int, context_scale: float, margin: float
) -> ComponentViews:
    """Both views of the component at float pixel ``box`` in ``image`` (``H x W x 3`` uint8)."""
    crop = square_crop(image, box, size, margin)
    patch, cbox = context_patch(image, box, context_scale)
    return ComponentViews(Image.fromarray(crop), Image.fromarray(patch), cbox)


def board_component_id(board: str, line: int) -> str:
    """Stable id of the component on ``line`` of ``labels/<board>.txt``."""
    return stable_id("board", board, line)


def board_id(board: str) -> str:
    """Stable id of a row about a whole board (missing label file, unreadable image)."""
    return stable_id("board", board)


def photo_component_id(parent_id: str) -> str:
    """Stable id of the component cut from accepted web photo ``parent_id``."""
    return stable_id("web", parent_id)


@dataclass(frozen=True)
class BoardJob:
    """One board: its image, its label file (``None`` if missing) and names relative to its dataset root.

    What a caller needs to read a board's labels: :attr:`image`, :attr:`labels`, the class
    of each YOLO index (:attr:`classes`, mapped onto the taxonomy; :attr:`names` as the
    dataset's data.yaml writes them) and the board source (:attr:`source`).
    """

    #: Unique across sources: ``<source>/<name in the dataset>`` (just the name for the unnamed ``crop.boards`` source).
    board: str
    image: Path | None
    labels: Path | None
    #: The image as the dataset names it (``images/train/x.jpg``).
    image_name: str
    #: The label file as the dataset names it (``labels/train/x.txt``), or the expected name when missing.
    labels_name: str
    #: Class name of each YOLO index (already mapped onto the taxonomy); None: boxes of that index are skipped.
    classes: Sequence[str | None]
    lineage: dict[str, Any] = field(default_factory=dict)
    #: A problem found while pairing files (e.g. two images with one name); the board is an error row.
    problem: str | None = None
    #: The dataset root as shown in manifests (relative to the project); the fallback ``source_url`` prefix.
    source_root: str = ""
    #: The project root: error messages name files relative to it, as every stage does (None: as they are).
    root: Path | None = None
    #: The board source's name (``crop.sources[].name``; empty for ``crop.boards``).
    source: str = ""
    #: data.yaml's names by YOLO index, as written (before mapping).
    names: Sequence[str] = ()

    def where(self, name: str) -> str:
        """``name`` (relative to the dataset root) as error rows show it: relative to the project.

        Example:
            >>> BoardJob("b1", None, None, "images/b1.png", "labels/b1.txt", (), source_root="data/boards").where("labels/b1.txt")
            'data/boards/labels/b1.txt'
        """
        return f"{self.source_root}/{name}" if self.source_root else name

    @property
    def name_in_source(self) -> str:
        """The board's name inside its dataset (``train/x``), without the source prefix."""
        return self.board.removeprefix(f"{self.source}/") if self.source else self.board

    def lineage_fields(self) -> dict[str, Any]:
        """The lineage columns (:data:`~pcbforge.datasets.manifest.LINEAGE_COLUMNS`) of this board's rows.

        They come from the source's params or data.yaml's optional keys (null when absent; a
        board has no crawled ``image_url``). ``source_url`` may hold ``{board}`` (the board's
        name inside its dataset, e.g. for a per-board page URL); without one it is the board
        image's path, so every crop still leads back to its pixels.
        """
        out = {k: self.lineage.get(k) for k in LINEAGE_COLUMNS}
        out["image_url"] = None
        url = out["source_url"]
        if url:
            out["source_url"] = str(url).replace("{board}", self.name_in_source)
        elif self.image is not None:
            out["source_url"] = self.where(self.image_name)
        return out


@dataclass(frozen=True)
class PhotoJob:
    """One accepted single-component web photo."""

    parent_id: str
    image: Path | None
    image_name: str
    class_label: str
    group: str
    licence: Any = None
    author: Any = None
    source_url: Any = None
    attribution: Any = None
    licence_url: Any = None
    image_url: Any = None
    #: The project root: error rows name files relative to it, as ``image_name`` does (None: as they are).
    root: Path | None = None
    #: The taxonomy's class names (``classes.taxonomy``); empty: not checked.
    known_classes: frozenset[str] = frozenset()


def _write_views(out_dir: Path, cid: str, views: ComponentViews) -> dict[str, Any]:
    crop_rel, context_rel = f"crops/{cid}.png", f"context/{cid}.png"
    write_png(out_dir / crop_rel, views.crop)
    write_png(out_dir / context_rel, views.context)
    return {"crop_path": crop_rel, "context_path": context_rel, "context_box": list(views.context_box)}


def crop_board(job: BoardJob, out_dir: Path, cfg: CropParams, size: int) -> list[dict[str, Any]]:
    """Validate one board's labels and cut every good box; one manifest row per label row.

    Problems that concern the whole board (no label file, orphan label file, unreadable
    image or label file) give one row for the board; a bad label row gives an ``error``
    row naming ``<dataset>/labels/<board>.txt:LINE`` (relative to the project); a box of a
    skipped class a ``rejected`` row. An empty label file is a board with zero parts: no row.
    A box that overshoots the image by rounding (at most :data:`~pcbforge.annotate.yolo.CLIP_TOLERANCE`)
    is clipped; its ``ok`` row then carries a ``note`` key (not a manifest column: the stage
    logs and counts notes and drops the key).

    Args:
        job: the board's files.
        out_dir: where ``crops/`` and ``context/`` are written.
        cfg: ``params.crop`` (context scale, margin, smallest box).
        size: side of the square crop (``base.image_size``).
    """
    base = {"origin": "board", "group": job.board, "parent_id": job.board, **job.lineage_fields()}
    if job.problem is not None:
        return [error_row(job.problem, id=board_id(job.board), **base)]
    if job.image is None:
        return [error_row(f"{job.where(job.labels_name)}: label file has no image {job.where(job.image_name)}", id=board_id(job.board), **base)]
    if job.labels is None:
        return [
            error_row(
                f"{job.where(job.image_name)}: no label file {job.where(job.labels_name)} (add one; an empty file marks a board with no parts)",
                id=board_id(job.board),
                **base,
            )
        ]
    try:
        # utf-8-sig: label files saved by Windows tools may start with a byte-order mark.
        text = job.labels.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return [error_row(f"{job.where(job.labels_name)}: unreadable label file: {relative_message(exc, job.root)}", id=board_id(job.board), **base)]
    labels = read_labels(text, len(job.classes), CLIP_TOLERANCE)
    rows: list[dict[str, Any]] = [
        error_row(f"{job.where(job.labels_name)}:{i.line}: {i.reason}", id=board_component_id(job.board, i.line), source_line=i.line, **base)
        for i in labels.issues
    ]
    boxes = []
    for n, b in labels.boxes:
        if job.classes[b.cls] is None:
            name = job.names[b.cls] if b.cls < len(job.names) else str(b.cls)
            rows.append(
                rejected_row(
                    f"{job.where(job.labels_name)}:{n}: class {name!r} (index {b.cls}) {SKIPPED_CLASS}",
                    id=board_component_id(job.board, n),
                    box=b.as_list(),
                    source_line=n,
                    **base,
                )
            )
        else:
            boxes.append((n, b))
    if not boxes:
        return rows
    try:
        image = np.asarray(load_rgb(job.image))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        reason = error_text(exc, job.image, job.root, "cannot decode image")
        return rows + [
            error_row(
                reason,
                id=board_component_id(job.board, n),
                class_label=job.classes[b.cls],
                box=b.as_list(),
                source_line=n,
                **base,
            )
            for n, b in boxes
        ]
    height, width = image.shape[:2]
    clipped = dict(labels.clipped)
    for line, box in boxes:
        row = _board_row(job, line, box, image, width, height, out_dir, cfg, size, base)
        if line in clipped and row["status"] == "ok":
            row["note"] = f"{job.where(job.labels_name)}:{line}: box reached {clipped[line]:.2g} past the image edge; clipped to it"
        rows.append(row)
    return rows


def _board_row(
    job: BoardJob,
    line: int,
    box: YoloBox,
    image: np.ndarray,
    width: int,
    height: int,
    out_dir: Path,
    cfg: CropParams,
    size: int,
    base: dict[str, Any],
) -> dict[str, Any]:
    cid = board_component_id(job.board, line)
    fields = {"id": cid, "class_label": job.classes[box.cls], "box": box.as_list(), "source_line": line, **base}
    corners = to_pixels(box, width, height)
    bw, bh = corners[2] - corners[0], corners[3] - corners[1]
    if bw < cfg.min_box_px or bh < cfg.min_box_px:
        return error_row(
            f"{job.where(job.labels_name)}:{line}: box {bw:.1f}x{bh:.1f} px on the {width}x{height} image "
            f"is smaller than crop.min_box_px={cfg.min_box_px}",
            **fields,
        )
    views = component_views(image, corners, size, cfg.context_scale, cfg.margin)
    return ok_row(**fields, **_write_views(out_dir, cid, views))


def crop_photo(job: PhotoJob, out_dir: Path, cfg: CropParams, size: int) -> list[dict[str, Any]]:
    """Cut one accepted single-component photo: the whole photo is the component box.

    Args are those of :func:`crop_board`.
    """
    cid = photo_component_id(job.parent_id)
    fields = {
        "id": cid,
        "class_label": job.class_label,
        "origin": "web",
        "group": job.group,
        "parent_id": job.parent_id,
        **{k: getattr(job, k) for k in LINEAGE_COLUMNS},
    }
    if job.image is None:
        return [error_row(f"accepted photo {job.parent_id}: no path in accepted.parquet", **fields)]
    if job.known_classes and job.class_label not in job.known_classes:
        return [
            error_row(
                f"accepted photo {job.parent_id}: class_label {job.class_label!r} is not in classes.taxonomy", **fields
            )
        ]
    try:
        image = np.asarray(load_rgb(job.image))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return [error_row(error_text(exc, job.image, job.root, "cannot decode image"), **fields)]
    height, width = image.shape[:2]
    # A product photo has no board around it: no margin, the padding replicates its background.
    views = component_views(image, (0.0, 0.0, float(width), float(height)), size, cfg.context_scale, 0.0)
    return [ok_row(**fields, **_write_views(out_dir, cid, views))]


def scan_boards(
    root: Path,
    classes: Sequence[str | None],
    lineage: dict[str, Any] | None = None,
    source_root: str = "",
    project: Path | None = None,
    *,
    source: str = "",
    names: Sequence[str] = (),
    dataset: layouts.Dataset | None = None,
) -> list[BoardJob]:
    """One :class:`BoardJob` per board of the YOLO dataset at ``root``, sorted by board.

    Boards are found by :func:`pcbforge.annotate.layouts.scan` (every layout Ultralytics
    reads). Unpaired files still give a job (it becomes an ``error`` row), so nothing
    vanishes. ``source_root`` is the dataset root as manifests show it and ``project`` the
    project root: error rows name files relative to it. A named ``source`` prefixes every
    board name (``<source>/train/x``) so boards of several sources never collide.
    ``dataset``: an already scanned ``root`` (saves a second walk).
    """
    def show(p: Path) -> str:
        if project is not None and p.is_relative_to(project):
            return p.relative_to(project).as_posix()
        return str(p)

    found = dataset if dataset is not None else layouts.find_boards(root, {}, show=show)
    return [
        BoardJob(
            board=f"{source}/{b.board}" if source else b.board,
            image=b.image,
            labels=b.labels,
            image_name=b.image_name,
            labels_name=b.labels_name,
            classes=tuple(classes),
            lineage=dict(lineage or {}),
            problem=b.problem,
            source_root=source_root,
            root=project,
            source=source,
            names=tuple(names),
        )
        for b in found.boards
    ]
