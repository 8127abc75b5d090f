"""Box review, the pure part: YOLO rows <-> FiftyOne detections, and the label-file rewrite.

``pcbforge annotate`` shows every YOLO row of a board as a FiftyOne ``Detection`` and writes
what the annotators changed back into the label files. Everything here is pure (text and
numbers in, text and numbers out), so the rules are unit-tested without a database:

- :func:`to_fiftyone_box` / :func:`from_fiftyone_box`: YOLO ``cx cy w h`` <-> FiftyOne's
  relative ``[x, y, w, h]`` (top-left corner), both normalised to the image.
- :func:`label_index`: a reviewed label -> its ``data.yaml`` index.
- :func:`rewrite_labels`: the new label-file text. A row nobody changed keeps its bytes (its
  precision, spacing and line ending), a changed row is rewritten in place, a deleted one is
  removed, a new one appended; lines that were not imported (blank, malformed) stay as they are.
- :func:`max_ious`, :func:`rare_labels`, :func:`outside_taxonomy`: what the saved views select.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pcbforge.annotate.yolo import YoloBox, format_row
from pcbforge.taxonomy import Taxonomy, UnknownClassError, fold

#: Two boxes whose coordinates differ by at most this much are the same box. A box that went
#: YOLO -> FiftyOne -> YOLO untouched differs by float rounding only (~1e-16); an annotator's
#: smallest move in the App is a pixel, far more than this on any real image.
SAME_BOX_TOL = 1e-9


class UnknownLabelError(ValueError):
    """A reviewed label names no ``data.yaml`` class (the message lists the valid names)."""


def to_fiftyone_box(box: YoloBox) -> list[float]:
    """YOLO ``cx cy w h`` -> FiftyOne ``[x, y, w, h]`` (top-left corner, relative to the image).

    Example:
        >>> to_fiftyone_box(YoloBox(0, 0.5, 0.5, 0.25, 0.5))
        [0.375, 0.25, 0.25, 0.5]
    """
    return [box.cx - box.w / 2, box.cy - box.h / 2, box.w, box.h]


def from_fiftyone_box(cls: int, bbox: Sequence[float]) -> tuple[YoloBox, bool]:
    """FiftyOne ``[x, y, w, h]`` -> a YOLO box, clipped to the image.

    A box dragged past the image edge in the App is clipped (YOLO rows must stay inside it).

    Returns:
        The box and whether it had to be clipped.

    Raises:
        ValueError: the box has no area inside the image (or a non-finite coordinate).

    Example:
        >>> from_fiftyone_box(2, [0.375, 0.25, 0.25, 0.5])
        (YoloBox(cls=2, cx=0.5, cy=0.5, w=0.25, h=0.5), False)
        >>> from_fiftyone_box(2, [0.9, 0.0, 0.2, 0.5])[1]
        True
    """
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"bounding box {list(bbox)} has a non-finite coordinate")
    x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, 1.0), min(y + h, 1.0)
    clipped = (x0, y0, x1, y1) != (x, y, x + w, y + h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"bounding box {[round(v, 6) for v in bbox]} has no area inside the image")
    if not clipped:
        # Keep the reviewed numbers as they are: recomputing w from the corners would add rounding.
        return YoloBox(cls, x + w / 2, y + h / 2, w, h), False
    return YoloBox(cls, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), True


def same_box(a: YoloBox, b: YoloBox, tol: float = SAME_BOX_TOL) -> bool:
    """Same class and the same coordinates up to ``tol``.

    Example:
        >>> same_box(YoloBox(1, 0.5, 0.5, 0.2, 0.2), YoloBox(1, 0.5 + 1e-15, 0.5, 0.2, 0.2))
        True
    """
    return a.cls == b.cls and all(abs(p - q) <= tol for p, q in zip(a.as_list(), b.as_list(), strict=True))


def label_index(
    label: str, names: Sequence[str], taxonomy: Taxonomy | None = None, mapping: Mapping[str, str] | None = None
) -> int:
    """The ``data.yaml`` index of a reviewed label.

    Tried in order: the exact name; the name folded (``"Heat Sink"`` = ``heat_sink``); then
    the taxonomy class the label resolves to (class name, alias or the source's ``mapping``),
    when exactly one ``data.yaml`` name resolves to the same class. A label naming no
    ``data.yaml`` class is an error, not a new class: adding one changes what the dataset
    means, so it is a deliberate edit of ``data.yaml`` (and the ``classes`` taxonomy).

    Raises:
        UnknownLabelError: nothing matches, or the taxonomy class matches several names.

    Example:
        >>> label_index("Resistor", ["capacitor", "resistor"])
        1
        >>> label_index("electrolytic", ["Cap", "resistor"], Taxonomy.default(), {"Cap": "capacitor"})
        0
    """
    if label in names:
        return list(names).index(label)
    folded = [i for i, n in enumerate(names) if fold(n) == fold(label)]
    if len(folded) == 1:
        return folded[0]
    if taxonomy is not None:
        try:
            target = taxonomy.resolve(label, mapping)
        except (UnknownClassError, ValueError):
            target = None
        if target is not None:
            same = [i for i, n in enumerate(names) if _resolve(taxonomy, n, mapping) == target]
            if len(same) == 1:
                return same[0]
            if len(same) > 1:
                raise UnknownLabelError(
                    f"label {label!r} is class {target!r}, which data.yaml names "
                    f"{len(same)} times ({', '.join(repr(names[i]) for i in same)}); use one of those names"
                )
    raise UnknownLabelError(
        f"label {label!r} is not a data.yaml class ({', '.join(names)}); rename it in the App to one of "
        "them, or add it to data.yaml's names (and to params' classes taxonomy) and pull again"
    )


def _resolve(taxonomy: Taxonomy, name: str, mapping: Mapping[str, str] | None) -> str | None:
    try:
        return taxonomy.resolve(name, mapping)
    except (UnknownClassError, ValueError):
        return None


@dataclass(frozen=True)
class ReviewedBox:
    """One detection as the annotators left it.

    Attributes:
        line: 1-based line of the row it was imported from; None for a detection drawn in the App.
        box: the box and class index now.
    """

    line: int | None
    box: YoloBox


@dataclass
class LabelChanges:
    """What :func:`rewrite_labels` did to one file (line numbers of the old file)."""

    changed: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    added: int = 0
    unchanged: int = 0

    @property
    def any(self) -> bool:
        """Whether the file's text changes."""
        return bool(self.changed or self.deleted or self.added)


def _ending(line: str) -> str:
    stripped = line.rstrip("\r\n")
    return line[len(stripped) :]


def rewrite_labels(
    text: str, imported: Mapping[int, YoloBox], reviewed: Iterable[ReviewedBox], precision: int = 6
) -> tuple[str, LabelChanges]:
    """The label file after review, changed only where the annotators changed something.

    Args:
        text: the file as it was imported (``""`` for a board without a label file).
        imported: the rows that became detections, by 1-based line number.
        reviewed: the detections now, in their order in the App.
        precision: decimals of a rewritten or appended row.

    Returns:
        The new text and what changed. A detection whose ``line`` was seen already (a copy
        made in the App) or is not an imported row counts as new and is appended.

    Example:
        >>> old = "0 0.5 0.5 0.2 0.2\\n\\n1 0.3 0.3 0.1 0.1\\n"
        >>> rows = {1: YoloBox(0, 0.5, 0.5, 0.2, 0.2), 3: YoloBox(1, 0.3, 0.3, 0.1, 0.1)}
        >>> new, what = rewrite_labels(old, rows, [ReviewedBox(3, YoloBox(0, 0.3, 0.3, 0.1, 0.1))])
        >>> new, what.changed, what.deleted
        ('\\n0 0.300000 0.300000 0.100000 0.100000\\n', [3], [1])
    """
    lines = text.splitlines(keepends=True)
    out: dict[int, str | None] = {}  # line number -> replacement (None: delete)
    appended: list[str] = []
    changes = LabelChanges()
    for r in reviewed:
        old = imported.get(r.line) if r.line is not None else None
        if old is None or r.line in out:
            appended.append(format_row(r.box, precision))
            continue
        assert r.line is not None
        if same_box(old, r.box):
            out[r.line] = lines[r.line - 1]
            changes.unchanged += 1
        else:
            out[r.line] = format_row(r.box, precision) + _ending(lines[r.line - 1])
            changes.changed.append(r.line)
    for n in sorted(imported):
        if n not in out:
            out[n] = None
            changes.deleted.append(n)
    new = [out.get(i, line) for i, line in enumerate(lines, start=1)]
    body = "".join(x for x in new if x is not None)
    if appended:
        eol = next((_ending(x) for x in lines if _ending(x)), "\n")
        if body and not body.endswith(("\n", "\r")):
            body += eol
        body += "".join(row + eol for row in appended)
        changes.added = len(appended)
    changes.changed.sort()
    return body, changes


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = min(ax1, bx1) - max(a[0], b[0])
    ih = min(ay1, by1) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def max_ious(bboxes: Sequence[Sequence[float]]) -> list[float]:
    """Per box, its largest IoU with another box of the same image (0 when alone), any class.

    Boxes are FiftyOne ``[x, y, w, h]``; IoU is the same in relative and pixel coordinates
    (scaling an axis scales every area by the same factor).

    Example:
        >>> max_ious([[0, 0, 0.5, 0.5], [0.25, 0, 0.5, 0.5], [0.9, 0.9, 0.1, 0.1]])
        [0.3333333333333333, 0.3333333333333333, 0.0]
    """
    out = [0.0] * len(bboxes)
    for i in range(len(bboxes)):
        for j in range(i + 1, len(bboxes)):
            v = _iou(bboxes[i], bboxes[j])
            out[i], out[j] = max(out[i], v), max(out[j], v)
    return out


def rare_labels(labels: Iterable[str], below: int) -> list[str]:
    """Labels with fewer than ``below`` boxes in the dataset, sorted.

    Example:
        >>> rare_labels(["a", "a", "b", "c", "c", "c"], below=3)
        ['a', 'b']
    """
    return sorted(n for n, c in Counter(labels).items() if c < below)


def outside_taxonomy(
    labels: Iterable[str],
    taxonomy: Taxonomy,
    mapping: Mapping[str, str] | None = None,
    known: Mapping[str, str | None] | None = None,
) -> list[str]:
    """Labels that map onto no taxonomy class, sorted.

    Args:
        labels: the labels to check.
        taxonomy: the classes.
        mapping: a source's ``class_map``, tried before names and aliases.
        known: labels already mapped (``data.yaml`` name -> class, None: none); they are taken as they are.

    Example:
        >>> outside_taxonomy(["Resistor", "potentiometer", "xtal"], Taxonomy.default())
        ['potentiometer']
        >>> outside_taxonomy(["diode", "pot"], Taxonomy.default(), known={"diode": None, "pot": "resistor"})
        ['diode']
    """
    known = known or {}
    return sorted({n for n in labels if (known[n] is None if n in known else _resolve(taxonomy, n, mapping) is None)})
