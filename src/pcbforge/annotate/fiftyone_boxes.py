"""FiftyOne side of box review: board photos as detections, saved views, and the pull back to YOLO.

One sample per board photo; one ``Detection`` per valid YOLO row, labelled with the row's
``data.yaml`` name. The label files are the record (git/DVC-tracked); the dataset is a
workspace. :func:`build` (re)loads it from the files, :func:`pull` writes what the
annotators changed back into them with :func:`~pcbforge.annotate.review_boxes.rewrite_labels`
and re-imports the boards it wrote.

Each sample remembers where its boxes came from: ``labels_path`` (the file), ``labels_sha256``
and ``labels_text`` (its bytes and text at import; ``None``: there was no file) and
``imported_lines``; each detection its ``line``. A file whose bytes changed on disk since the import (a ``git checkout``, an edit) is
never overwritten by a pull: the file stands, and the sample is re-imported from it unless it
holds edits of its own (then the pull reports the file and leaves both alone).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

from pcbforge.annotate.review_boxes import (
    LabelChanges,
    ReviewedBox,
    UnknownLabelError,
    from_fiftyone_box,
    label_index,
    max_ious,
    outside_taxonomy,
    rare_labels,
    rewrite_labels,
    to_fiftyone_box,
)
from pcbforge.annotate.yolo import YoloBox, parse_labels
from pcbforge.errors import InputError
from pcbforge.fiftyone_app import database_name
from pcbforge.io import write_bytes
from pcbforge.taxonomy import Taxonomy

if TYPE_CHECKING:
    import fiftyone as fo

log = logging.getLogger(__name__)

#: The detections field (what annotators edit in the App).
FIELD = "detections"

#: Saved view names (what annotators pick in the App's view bar).
VIEW_TINY = "tiny boxes"
VIEW_BORDER = "boxes touching the border"
VIEW_OVERLAP = "overlapping boxes"
VIEW_RARE = "rare classes"
VIEW_OUTSIDE = "classes outside the taxonomy"
VIEW_ISSUES = "label files with invalid rows"

#: EXIF orientations that swap width and height (crop applies them before reading the labels).
_TRANSPOSED = {5, 6, 7, 8}
_EXIF_ORIENTATION = 274


@dataclass(frozen=True)
class LabelledBoard:
    """One board photo and its YOLO label file, as box review sees it.

    Attributes:
        board: the board's name (image path under ``images/`` without suffix).
        image: the photo.
        labels: its label file (it may not exist yet: a board with no rows).
        names: the ``data.yaml`` class names, by index.
        source: where the board comes from (the YOLO folder as the project shows it).
        labels_shown: ``labels`` as messages show it (relative to the project).
        mapping: the source's ``class_map`` (foreign name -> taxonomy class), if any.
        classes: the taxonomy class of each index (None: it maps onto none).
    """

    board: str
    image: Path
    labels: Path
    names: tuple[str, ...]
    source: str
    labels_shown: str
    mapping: Mapping[str, str] | None = None
    classes: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    """What the saved views call tiny, touching the border, overlapping and rare."""

    tiny_px: float
    border_px: float
    overlap_iou: float
    rare_below: int


def _sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` as displayed, i.e. after the EXIF orientation (without decoding pixels)."""
    with Image.open(path) as im:
        w, h = im.size
        orientation = im.getexif().get(_EXIF_ORIENTATION)
    return (h, w) if orientation in _TRANSPOSED else (w, h)


def _detections(boxes: Sequence[tuple[int, YoloBox]], names: Sequence[str]) -> Any:
    import fiftyone as fo

    bboxes = [to_fiftyone_box(b) for _, b in boxes]
    return fo.Detections(
        detections=[
            fo.Detection(label=names[b.cls], bounding_box=bb, line=n, max_iou=iou)
            for (n, b), bb, iou in zip(boxes, bboxes, max_ious(bboxes), strict=True)
        ]
    )


def _imported(data: bytes | None, names: Sequence[str]) -> tuple[str, list[tuple[int, YoloBox]], list[str]]:
    """The file's text (for the database: undecodable bytes replaced), its valid rows (line,
    box) and its invalid rows (``line: reason``)."""
    text = (data or b"").decode("utf-8", errors="replace")
    boxes, issues = parse_labels(text, len(names))
    return text, boxes, [f"{i.line}: {i.reason}" for i in issues]


def _provenance(board: LabelledBoard) -> tuple[dict[str, Any], Any]:
    """The sample fields that record where its boxes came from, and its detections."""
    data = _read(board.labels)
    text, boxes, issues = _imported(data, board.names)
    fields = {
        "labels_sha256": _sha256(data),
        # The file as imported: a pull tells App edits from edits on disk against it.
        "labels_text": None if data is None else text,
        "imported_lines": [n for n, _ in boxes],
        "label_issues": [f"{board.labels_shown}:{i}" for i in issues],
    }
    return fields, _detections(boxes, board.names)


def board_sample(board: LabelledBoard) -> fo.Sample:
    """A sample for ``board`` with its label file's rows as detections.

    Raises:
        OSError, UnidentifiedImageError: the photo cannot be read.
    """
    import fiftyone as fo

    w, h = image_size(board.image)
    fields, detections = _provenance(board)
    return fo.Sample(
        filepath=str(board.image.resolve()),
        metadata=fo.ImageMetadata(width=w, height=h),
        board=board.board,
        source=board.source,
        labels_path=str(board.labels.resolve()),
        labels_file=board.labels_shown,
        **fields,
        **{FIELD: detections},
    )


def _reimport(sample: Any, board: LabelledBoard) -> None:
    fields, detections = _provenance(board)
    for k, v in fields.items():
        sample[k] = v
    sample[FIELD] = detections
    sample.save()


@dataclass
class Plan:
    """What a pull would do to one board's label file."""

    board: LabelledBoard
    text: str = ""
    new_text: str = ""
    changes: LabelChanges = field(default_factory=LabelChanges)
    #: The file changed on disk since the import (it stands; the plan is not applied).
    stale: bool = False
    #: Detections that cannot be written (unknown label, no area): ``file: reason``.
    problems: list[str] = field(default_factory=list)
    clipped: int = 0

    @property
    def edited(self) -> bool:
        """The annotators changed something on this board (a change, a problem)."""
        return self.changes.any or bool(self.problems)


def plan(sample: Any, board: LabelledBoard, taxonomy: Taxonomy | None) -> Plan:
    """Compare a sample's detections with its label file as imported, and plan the rewrite.

    The rewrite applies to the file's bytes on disk when they are still the imported ones;
    otherwise (``stale``) the plan only says whether the App holds edits of this board.
    """
    data = _read(board.labels)
    out = Plan(board=board, stale=_sha256(data) != sample["labels_sha256"])
    # Not stale: the bytes on disk are the imported ones (surrogateescape keeps any byte as it is).
    # Stale: compare against the text as imported, to tell whether the App changed anything.
    text = (data or b"").decode("utf-8", "surrogateescape") if not out.stale else (sample["labels_text"] or "")
    keep = set(sample["imported_lines"] or [])
    imported = {n: b for n, b in parse_labels(text, len(board.names))[0] if n in keep}
    reviewed: list[ReviewedBox] = []
    dets = sample[FIELD].detections if sample[FIELD] is not None else []
    for d in dets:
        try:
            cls = label_index(str(d.label), board.names, taxonomy, board.mapping)
            box, clipped = from_fiftyone_box(cls, d.bounding_box)
        except (UnknownLabelError, ValueError) as exc:
            out.problems.append(f"{board.labels_shown}: {exc}")
            continue
        out.clipped += clipped
        line = d["line"] if d.has_field("line") else None
        reviewed.append(ReviewedBox(line if isinstance(line, int) else None, box))
    out.text = text
    out.new_text, out.changes = rewrite_labels(text, imported, reviewed)
    return out


def _boards_by_file(boards: Sequence[LabelledBoard]) -> dict[str, LabelledBoard]:
    return {str(b.labels.resolve()): b for b in boards}


def _plans(ds: fo.Dataset, boards: Sequence[LabelledBoard], taxonomy: Taxonomy | None) -> tuple[list[tuple[Any, Plan]], list[str]]:
    by_file = _boards_by_file(boards)
    plans, gone = [], []
    for sample in ds.iter_samples(autosave=False):
        board = by_file.get(sample["labels_path"])
        if board is None:
            gone.append(str(sample["labels_file"]))
            continue
        plans.append((sample, plan(sample, board, taxonomy)))
    return plans, gone


def save_views(ds: fo.Dataset, thresholds: Thresholds, taxonomy: Taxonomy, boards: Sequence[LabelledBoard]) -> None:
    """(Re)create the saved views; rare and outside-taxonomy lists come from the labels now."""
    from fiftyone import ViewField as F

    for name in ds.list_saved_views():
        ds.delete_saved_view(name)
    width, height, bb = F("$metadata.width"), F("$metadata.height"), F("bounding_box")
    t, b = thresholds.tiny_px, thresholds.border_px
    labels = ds.values(f"{FIELD}.detections.label", unwind=True)
    # A data.yaml name counts as its source mapped it; any other label (typed in the App) by the taxonomy.
    known = {n: c for x in boards for n, c in zip(x.names, x.classes, strict=False)}
    views = [
        (VIEW_TINY, (bb[2] * width < t) | (bb[3] * height < t), f"Boxes under {t:g} px a side (crop refuses them)"),
        (
            VIEW_BORDER,
            (bb[0] * width <= b) | (bb[1] * height <= b) | ((bb[0] + bb[2]) * width >= width - b)
            | ((bb[1] + bb[3]) * height >= height - b),
            f"Boxes within {b:g} px of the image edge: a part cut off by the frame?",
        ),
        (VIEW_OVERLAP, F("max_iou") > thresholds.overlap_iou,
         f"Boxes overlapping another by IoU > {thresholds.overlap_iou:g} (at import): a duplicate row?"),
        (VIEW_RARE, F("label").is_in(rare_labels(labels, thresholds.rare_below)),
         f"Classes with fewer than {thresholds.rare_below} boxes: a typo or a mislabel?"),
        (VIEW_OUTSIDE, F("label").is_in(outside_taxonomy(labels, taxonomy, known=known)),
         "Labels no taxonomy class or alias matches: rename them, or extend the taxonomy"),
    ]  # fmt: skip
    for name, expr, description in views:
        ds.save_view(name, ds.filter_labels(FIELD, expr).sort_by("filepath"), description=description)
    ds.save_view(
        VIEW_ISSUES, ds.match(F("label_issues").length() > 0).sort_by("filepath"),
        description="Label files with rows the codec refused (kept as they are by a pull)",
    )  # fmt: skip


@dataclass
class BuildResult:
    """What :func:`build` loaded."""

    samples: int = 0
    boxes: int = 0
    unreadable: list[str] = field(default_factory=list)


def build(
    name: str, boards: Sequence[LabelledBoard], thresholds: Thresholds, taxonomy: Taxonomy
) -> tuple[fo.Dataset, BuildResult]:
    """(Re)build the persistent box-review dataset from the label files, with its saved views.

    Raises:
        InputError: the existing dataset of that name holds edits a pull would write (they
            would be lost). Edits of boards whose file changed on disk since the import
            (which no pull writes) are dropped with a warning.
    """
    import fiftyone as fo

    if fo.dataset_exists(name):
        old = fo.load_dataset(name)
        if old.has_sample_field("labels_path"):
            plans, _ = _plans(old, boards, taxonomy)
            pending = [p.board.labels_shown for _, p in plans if p.edited and not p.stale]
            for _, p in plans:
                if p.edited and p.stale:  # a pull refused them already: the file on disk stands
                    log.warning("%s changed on disk since the last import: its App edits are dropped", p.board.labels_shown)
            if pending:
                raise InputError(
                    f"FiftyOne dataset {name!r} holds box edits not pulled yet on {len(pending)} board(s) "
                    f"({', '.join(pending[:3])}{', ...' if len(pending) > 3 else ''}): run `pcbforge annotate --pull` "
                    f"first (or `--pull --launch`), or drop them with `fiftyone datasets delete {name}`"
                )
        old.delete()
    result = BuildResult()
    samples = []
    for board in boards:
        try:
            samples.append(board_sample(board))
        except (OSError, UnidentifiedImageError) as exc:
            log.warning("skipping board %s: image unreadable: %s", board.board, exc)
            result.unreadable.append(board.board)
    ds = fo.Dataset(name)
    ds.persistent = True
    ds.add_samples(samples, progress=False)
    result.samples = len(ds)
    result.boxes = int(ds.count(f"{FIELD}.detections"))
    save_views(ds, thresholds, taxonomy, boards)
    log.info("built FiftyOne dataset %r: %d boards, %d boxes", name, result.samples, result.boxes)
    return ds, result


@dataclass
class PullResult:
    """What :func:`pull` did."""

    files: int = 0
    changed: int = 0
    deleted: int = 0
    added: int = 0
    clipped: int = 0
    #: Label files changed on disk since the import whose boards hold App edits: not written.
    stale: list[str] = field(default_factory=list)
    #: Samples whose label file is no longer among the boards (moved, renamed, deleted).
    gone: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI."""
        parts = [
            f"{self.files} label file(s) rewritten: {self.changed} row(s) changed, "
            f"{self.deleted} deleted, {self.added} added"
        ]
        if self.clipped:
            parts.append(f"{self.clipped} box(es) clipped to the image")
        if self.stale:
            parts.append(
                f"{len(self.stale)} file(s) changed on disk since the launch, their App edits NOT written "
                f"({', '.join(self.stale[:3])}): revert the file and pull again, or re-launch to re-import it (drops those edits)"
            )
        if self.gone:
            parts.append(f"{len(self.gone)} board(s) no longer in the boards folder ignored ({', '.join(self.gone[:3])})")
        return "; ".join(parts)


def pull(
    name: str, boards: Sequence[LabelledBoard], thresholds: Thresholds, taxonomy: Taxonomy
) -> PullResult:
    """Write the reviewed boxes and classes back to the YOLO label files (atomic writes).

    Every board is planned before anything is written: a label that names no ``data.yaml``
    class, or a box with no area in the image, stops the pull with nothing changed.
    Boards written are re-imported (new line numbers), and the saved views are re-made.

    Raises:
        InputError: no such dataset (launch first), or detections that cannot be written.
    """
    import fiftyone as fo

    if not fo.dataset_exists(name):
        raise InputError(
            f"FiftyOne dataset {name!r} not found (database: {database_name()}); run `pcbforge annotate --launch` first"
        )
    ds = fo.load_dataset(name)
    plans, gone = _plans(ds, boards, taxonomy)
    problems = [m for _, p in plans for m in p.problems]
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InputError(f"nothing pulled: {'; '.join(problems[:3])}{more}")
    result = PullResult(gone=gone)
    for sample, p in plans:
        if p.stale:
            if p.changes.any:
                log.warning("%s changed on disk since the launch: its App edits are not written", p.board.labels_shown)
                result.stale.append(p.board.labels_shown)
            else:
                _reimport(sample, p.board)  # nobody touched it in the App: the file's new rows stand
            continue
        if not p.changes.any:
            continue
        write_bytes(p.board.labels, p.new_text.encode("utf-8", "surrogateescape"))
        c = p.changes
        log.info(
            "%s: %d row(s) changed (lines %s), %d deleted (lines %s), %d added",
            p.board.labels_shown, len(c.changed), c.changed, len(c.deleted), c.deleted, c.added,
        )  # fmt: skip
        result.files += 1
        result.changed += len(c.changed)
        result.deleted += len(c.deleted)
        result.added += c.added
        result.clipped += p.clipped
        _reimport(sample, p.board)
    save_views(ds, thresholds, taxonomy, boards)
    return result
