"""YOLO label codec: parse and format label rows and ``data.yaml`` names, convert boxes.

Pure functions only (no file I/O), in the manner of FiftyOne's ``utils/yolo.py``: the
caller reads the files and passes text in, so every rule here is unit-testable. The
conversion between normalised YOLO boxes (``cx cy w h`` in [0, 1]) and pixel corners
(``x0 y0 x1 y1``) lives in exactly one place: :func:`to_pixels` / :func:`from_pixels`.

Validation is strict on purpose: a malformed row is reported (with its 1-based line
number) rather than guessed at, because a silently shifted box becomes a wrong crop and
then a wrong training triplet.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from pcbforge.errors import InputError
from pcbforge.taxonomy import ClassInfo, Taxonomy, UnknownClassError, Unmapped, fold

#: Columns of a YOLO detection row: class index, then the normalised box.
ROW_COLUMNS = 5

_INT = re.compile(r"^[0-9]+$")

#: Largest overshoot past the image edge (image fractions) that crop clips with a note
#: instead of refusing: exporters that round to 3-4 decimals write edges like 1.0002.
CLIP_TOLERANCE = 1e-3
#: Half a millionth of slack: 6-decimal rounding of a box touching the border (taken as written).
ROUNDING_SLACK = 1e-6


class YoloRowError(ValueError):
    """One label row is malformed; the message says why (the caller adds ``file:line``)."""


@dataclass(frozen=True, slots=True)
class YoloBox:
    """One YOLO detection: class index and a box normalised to the image size.

    Attributes:
        cls: Class index into the ``data.yaml`` names.
        cx: Box centre x, as a fraction of the image width.
        cy: Box centre y, as a fraction of the image height.
        w: Box width, as a fraction of the image width.
        h: Box height, as a fraction of the image height.
    """

    cls: int
    cx: float
    cy: float
    w: float
    h: float

    def as_list(self) -> list[float]:
        """``[cx, cy, w, h]`` (what the ``box`` manifest column stores)."""
        return [self.cx, self.cy, self.w, self.h]


@dataclass(frozen=True, slots=True)
class LabelIssue:
    """A row of a label file that failed validation."""

    line: int
    reason: str


def _number(token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise YoloRowError(f"{what} {token!r} is not a number") from None
    if not math.isfinite(value):
        raise YoloRowError(f"{what} {token!r} is not a finite number")
    return value


def parse_row(line: str, num_classes: int, clip: float = 0.0) -> YoloBox:
    """Parse one ``cls cx cy w h`` row strictly.

    Args:
        line: The row text (surrounding whitespace is ignored).
        num_classes: Number of names in ``data.yaml``; valid indices are ``0..num_classes-1``.
        clip: How far (in image fractions) a box may overshoot [0, 1] and still be taken,
            clipped to the image (:data:`CLIP_TOLERANCE` for label files exported with
            rounding). 0: only the 6-decimal slack, and the box is returned as written.

    Returns:
        The parsed box (clipped to the image when it overshot by more than the 6-decimal
        slack and at most ``clip``).

    Raises:
        YoloRowError: wrong column count, non-numeric or non-finite value, non-integer or
            out-of-range class index, a coordinate outside [0, 1], a zero or negative
            size, or a box reaching outside the image (beyond ``clip``).

    Example:
        >>> parse_row("3 0.5 0.5 0.25 0.1", num_classes=12)
        YoloBox(cls=3, cx=0.5, cy=0.5, w=0.25, h=0.1)
        >>> round(parse_row("0 0.9 0.5 0.2004 0.1", num_classes=1, clip=1e-3).w, 6)  # right edge 1.0002
        0.2002
    """
    return _parse_row(line, num_classes, clip)[0]


def _parse_row(line: str, num_classes: int, clip: float) -> tuple[YoloBox, float]:
    """:func:`parse_row`, also returning how far the written box overshot the image (0 when inside)."""
    tokens = line.split()
    if len(tokens) != ROW_COLUMNS:
        raise YoloRowError(f"expected {ROW_COLUMNS} columns 'cls cx cy w h', got {len(tokens)}")
    cls_token = tokens[0]
    if not _INT.match(cls_token):
        # A float-looking class ("1.0") is refused too: it hints at a column mix-up.
        raise YoloRowError(f"class index {cls_token!r} is not a non-negative integer")
    cls = int(cls_token)
    if cls >= num_classes:
        raise YoloRowError(f"class index {cls} out of range 0..{num_classes - 1} (data.yaml has {num_classes} names)")
    cx, cy, w, h = (_number(t, n) for t, n in zip(tokens[1:], ("cx", "cy", "w", "h"), strict=True))
    for name, value in (("cx", cx), ("cy", cy), ("w", w), ("h", h)):
        if not -clip <= value <= 1.0 + clip:
            raise YoloRowError(f"{name}={value:g} outside [0, 1] (coordinates must be normalised)")
    if w <= 0 or h <= 0:
        raise YoloRowError(f"box size w={w:g} h={h:g} must be positive")
    x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    over = max(-x0, -y0, x1 - 1, y1 - 1, 0.0)
    if over <= ROUNDING_SLACK:
        return YoloBox(cls, cx, cy, w, h), 0.0
    if over > clip + ROUNDING_SLACK:
        raise YoloRowError(f"box cx={cx:g} cy={cy:g} w={w:g} h={h:g} reaches outside the image")
    x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, 1.0), min(y1, 1.0)
    if x1 <= x0 or y1 <= y0:
        raise YoloRowError(f"box cx={cx:g} cy={cy:g} w={w:g} h={h:g} lies outside the image")
    return YoloBox(cls, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), over


def format_row(box: YoloBox, precision: int | None = 6) -> str:
    """Format a box as a YOLO row (no newline).

    Args:
        box: The box to write.
        precision: Decimal places (6 is what most tools write); ``None`` writes the
            shortest text that parses back to exactly the same floats.

    Example:
        >>> format_row(YoloBox(3, 0.5, 0.5, 0.25, 0.1))
        '3 0.500000 0.500000 0.250000 0.100000'
    """
    if box.cls < 0:
        raise ValueError(f"class index must be non-negative, got {box.cls}")
    coords = box.cx, box.cy, box.w, box.h
    text = (repr(float(v)) for v in coords) if precision is None else (f"{v:.{precision}f}" for v in coords)
    return " ".join([str(box.cls), *text])


def parse_labels(text: str, num_classes: int) -> tuple[list[tuple[int, YoloBox]], list[LabelIssue]]:
    """Parse a whole label file; bad rows are collected, never fatal.

    Blank lines are skipped (they are harmless and common at the end of a file).

    Returns:
        ``(boxes, issues)``: ``boxes`` as ``(line_number, box)`` pairs and the rows that
        failed, both with 1-based line numbers.

    Example:
        >>> boxes, issues = parse_labels("0 0.5 0.5 0.2 0.2\\n9 0.5\\n", num_classes=2)
        >>> [n for n, _ in boxes], [(i.line, i.reason) for i in issues]
        ([1], [(2, "expected 5 columns 'cls cx cy w h', got 2")])
    """
    labels = read_labels(text, num_classes, clip=0.0)
    return labels.boxes, labels.issues


@dataclass(frozen=True)
class Labels:
    """A parsed label file (:func:`read_labels`)."""

    #: ``(line_number, box)`` of every good row (clipped boxes as clipped).
    boxes: list[tuple[int, YoloBox]]
    #: Rows that failed, with the reason.
    issues: list[LabelIssue]
    #: ``(line_number, overshoot)`` of boxes clipped to the image (overshoot in image fractions).
    clipped: list[tuple[int, float]]


def read_labels(text: str, num_classes: int, clip: float = CLIP_TOLERANCE) -> Labels:
    """Parse a whole label file like :func:`parse_labels`, clipping boxes that overshoot by at most ``clip``.

    Example:
        >>> labels = read_labels("0 0.5 0.5 0.2 0.2\\n0 0.9 0.5 0.2002 0.2\\n", num_classes=1)
        >>> [n for n, _ in labels.boxes], [n for n, _ in labels.clipped]
        ([1, 2], [2])
    """
    boxes: list[tuple[int, YoloBox]] = []
    issues: list[LabelIssue] = []
    clipped: list[tuple[int, float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            box, over = _parse_row(line, num_classes, clip)
        except YoloRowError as exc:
            issues.append(LabelIssue(number, str(exc)))
            continue
        boxes.append((number, box))
        if over:
            clipped.append((number, over))
    return Labels(boxes, issues, clipped)


def format_labels(boxes: Sequence[YoloBox], precision: int | None = 6) -> str:
    """Format boxes as a label file (one row per box, trailing newline when non-empty)."""
    return "".join(format_row(b, precision) + "\n" for b in boxes)


def to_pixels(box: YoloBox, width: int, height: int) -> tuple[float, float, float, float]:
    """Normalised ``cx cy w h`` -> pixel corners ``(x0, y0, x1, y1)`` (floats, x1/y1 exclusive).

    Example:
        >>> to_pixels(YoloBox(0, 0.5, 0.5, 0.25, 0.5), 200, 100)
        (75.0, 25.0, 125.0, 75.0)
    """
    half_w, half_h = box.w * width / 2, box.h * height / 2
    cx, cy = box.cx * width, box.cy * height
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def from_pixels(cls: int, x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> YoloBox:
    """Pixel corners -> a normalised :class:`YoloBox` (the inverse of :func:`to_pixels`).

    Example:
        >>> from_pixels(0, 75, 25, 125, 75, 200, 100)
        YoloBox(cls=0, cx=0.5, cy=0.5, w=0.25, h=0.5)
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return YoloBox(cls, (x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height)


def normalise_name(name: str) -> str:
    """Fold a class name the way annotation tools vary it: ``"Heat Sink"`` -> ``"heat_sink"`` (:func:`~pcbforge.taxonomy.fold`)."""
    return fold(name)


def parse_names(data: Any, source: str = "data.yaml") -> list[str]:
    """Read the ``names`` of a parsed ``data.yaml`` as a list in class-index order.

    Accepts both Ultralytics spellings: a list, or a ``{index: name}`` mapping whose
    keys are exactly ``0..n-1``. If ``nc`` is present it must match.

    Args:
        data: The parsed YAML document.
        source: Where it came from, for error messages.

    Raises:
        InputError: no ``names``, a gap or duplicate in the indices, or an ``nc`` mismatch.

    Example:
        >>> parse_names({"names": {0: "diode", 1: "relay"}})
        ['diode', 'relay']
    """
    if not isinstance(data, Mapping) or "names" not in data:
        raise InputError(f"{source}: no 'names:' key (expected a list or an {{index: name}} mapping of classes)")
    raw = data["names"]
    if isinstance(raw, Mapping):
        try:
            by_index = {int(k): v for k, v in raw.items()}
        except (TypeError, ValueError):
            raise InputError(f"{source}: 'names' keys must be class indices 0..n-1, got {sorted(map(str, raw))}") from None
        if sorted(by_index) != list(range(len(by_index))):
            raise InputError(f"{source}: 'names' indices must be exactly 0..{len(by_index) - 1}, got {sorted(by_index)}")
        names = [by_index[i] for i in range(len(by_index))]
    elif isinstance(raw, list):
        names = list(raw)
    else:
        raise InputError(f"{source}: 'names' must be a list or an {{index: name}} mapping, got {type(raw).__name__}")
    if not names:
        raise InputError(f"{source}: 'names' is empty")
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise InputError(f"{source}: every class name must be a non-empty string, got {names}")
    nc = data.get("nc")
    if nc is not None and nc != len(names):
        raise InputError(f"{source}: nc={nc} but 'names' lists {len(names)} classes")
    return names


@dataclass(frozen=True)
class ClassMapping:
    """``data.yaml`` names mapped onto a taxonomy under a ``classes.unmapped`` policy (:func:`map_classes`)."""

    #: Class name of each YOLO index; None: the name's boxes are skipped (rejected rows).
    classes: tuple[str | None, ...]
    #: The taxonomy with any classes ``add`` made.
    taxonomy: Taxonomy
    #: Names skipped (``skip``, or a ``class_map`` entry mapping to null), as written.
    skipped: tuple[str, ...] = ()
    #: Classes ``add`` made (folded names).
    added: tuple[str, ...] = ()


def map_classes(
    names: Sequence[str],
    taxonomy: Taxonomy,
    source: str = "data.yaml",
    mapping: Mapping[str, str | None] | None = None,
    unmapped: Unmapped = Unmapped.ERROR,
) -> ClassMapping:
    """Map ``data.yaml`` names onto the taxonomy, applying the ``classes.unmapped`` policy.

    A name matches through ``mapping`` (a source's ``class_map``; a null target skips the
    name) first, then the taxonomy's names and aliases, all folded. A name nothing matches
    is an error (``error``), skipped (``skip``: its boxes become rejected rows) or becomes a
    class with :meth:`~pcbforge.taxonomy.ClassInfo.conservative` facts (``add``).

    Raises:
        InputError: under ``error``, the names nothing maps (one line: index and name, the
            file, the valid names); a ``mapping`` target that is not a class.

    Example:
        >>> m = map_classes(["Resistor", "fuse", "bg"], Taxonomy.default(), mapping={"bg": None}, unmapped=Unmapped.ADD)
        >>> m.classes, m.added, m.skipped
        (('resistor', 'fuse', None), ('fuse',), ('bg',))
    """
    folded_nulls = {fold(k) for k, v in (mapping or {}).items() if v is None}
    real_map = {k: v for k, v in (mapping or {}).items() if v is not None}
    out: list[str | None] = []
    unknown: list[tuple[int, str]] = []
    skipped: list[str] = []
    for index, name in enumerate(names):
        if fold(name) in folded_nulls:
            out.append(None)
            skipped.append(name)
            continue
        try:
            out.append(taxonomy.resolve(name, real_map))
        except UnknownClassError:
            out.append(None)
            unknown.append((index, name))
        except ValueError as exc:
            raise InputError(f"{source}: {exc}") from exc
    if unknown and unmapped is Unmapped.ERROR:
        raise InputError(
            f"{source}: class names not in the classes taxonomy: {', '.join(f'{i}: {n!r}' for i, n in unknown)}; "
            f"use one of {', '.join(taxonomy.names())}, add an alias or a class in params' classes section, "
            "map them with the source's class_map, or set classes.unmapped to skip or add"
        )
    added: list[str] = []
    for index, name in unknown:
        if unmapped is Unmapped.SKIP:
            skipped.append(name)
            continue
        info = ClassInfo.conservative(name)
        taxonomy = taxonomy.with_class(info)
        out[index] = info.name
        if info.name not in added:
            added.append(info.name)
    return ClassMapping(tuple(out), taxonomy, tuple(skipped), tuple(added))


def class_map(
    names: Sequence[str],
    taxonomy: Taxonomy | None = None,
    source: str = "data.yaml",
    mapping: Mapping[str, str] | None = None,
) -> list[str]:
    """Map ``data.yaml`` names (by index) onto the taxonomy's class names, every name or an error.

    :func:`map_classes` under ``classes.unmapped: error``.

    Raises:
        InputError: names that map onto no class, listing the valid ones.
    """
    mapped = map_classes(names, taxonomy or Taxonomy.default(), source, mapping, Unmapped.ERROR)
    return [c for c in mapped.classes if c is not None]


#: The ``data.yaml`` keys naming image sets, in the order crop reads them (a board listed
#: under two keys is cropped once, under the first).
SPLIT_KEYS = ("train", "val", "test")


def split_entries(data: Mapping[str, Any], source: str = "data.yaml") -> dict[str, list[str]]:
    """The image folders / ``.txt`` lists ``data.yaml`` names per split, as written (not resolved).

    Each of ``train``, ``val``, ``test`` may be absent or null, a string, or a list of strings.

    Raises:
        InputError: a split key holding anything else.

    Example:
        >>> split_entries({"train": "../train/images", "val": ["a", "b"], "test": None})
        {'train': ['../train/images'], 'val': ['a', 'b']}
    """
    out: dict[str, list[str]] = {}
    for key in SPLIT_KEYS:
        value = data.get(key)
        if value is None or value == "":
            continue
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
            raise InputError(f"{source}: '{key}' must be a folder, a .txt file list or a list of them, got {value!r}")
        out[key] = list(items)
    return out


def read_data_yaml(text: str, source: str = "data.yaml") -> dict[str, Any]:
    """Parse ``data.yaml`` text to a mapping.

    Raises:
        InputError: invalid YAML (with ``source:line``) or a document that is not a mapping.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise InputError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping with 'names:', got {type(data).__name__}")
    return data


def load_data_yaml(text: str, source: str = "data.yaml", taxonomy: Taxonomy | None = None) -> list[str]:
    """Parse ``data.yaml`` text to the class of each YOLO index.

    Raises:
        InputError: invalid YAML, bad ``names`` or an unknown class name.
    """
    return class_map(parse_names(read_data_yaml(text, source), source), taxonomy, source)


def format_data_yaml(names: Sequence[str]) -> str:
    """A minimal ``data.yaml`` with ``nc`` and ``names`` as an ``{index: name}`` mapping."""
    values = [getattr(n, "value", n) for n in names]
    return yaml.safe_dump({"nc": len(values), "names": dict(enumerate(values))}, sort_keys=False)
