"""Write tiny YOLO board folders (images/, labels/, data.yaml) in the real on-disk format.

Boards are a green background with solid coloured parts at known boxes, so a test can
check that a crop is centred on the part by looking at its pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pcbforge.annotate.yolo import YoloBox, format_data_yaml, format_row, from_pixels
from pcbforge.vocab import ComponentClass

BOARD_GREEN = (20, 110, 40)


@dataclass(frozen=True)
class Part:
    """A part drawn on a board: class and pixel corners (x1/y1 exclusive) and its fill colour."""

    cls: ComponentClass
    box: tuple[int, int, int, int]
    colour: tuple[int, int, int] = (230, 200, 40)


def draw_board(size: tuple[int, int], parts: Sequence[Part]) -> Image.Image:
    """A board image ``size=(w, h)`` with the parts painted as solid rectangles."""
    w, h = size
    arr = np.empty((h, w, 3), np.uint8)
    arr[:] = BOARD_GREEN
    # A faint gradient so crops of different places differ (and edge padding is visible).
    arr[..., 2] = (np.arange(w)[None, :] * 200 // max(1, w - 1)).astype(np.uint8)
    for p in parts:
        x0, y0, x1, y1 = p.box
        arr[y0:y1, x0:x1] = p.colour
    return Image.fromarray(arr)


def label_rows(size: tuple[int, int], parts: Sequence[Part], names: Sequence[ComponentClass]) -> list[str]:
    """YOLO rows for ``parts`` (class index = position of its class in ``names``)."""
    w, h = size
    return [format_row(from_pixels(list(names).index(p.cls), *p.box, w, h)) for p in parts]


def write_yolo_dir(
    root: Path,
    boards: dict[str, Sequence[Part]],
    names: Sequence[ComponentClass] | None = None,
    size: tuple[int, int] = (160, 120),
    suffix: str = ".png",
) -> Path:
    """Write a YOLO folder with one image + label file per board; return ``root``."""
    names = list(names or ComponentClass)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(format_data_yaml(names))
    for board, parts in boards.items():
        draw_board(size, parts).save(root / "images" / f"{board}{suffix}")
        (root / "labels" / f"{board}.txt").write_text("".join(r + "\n" for r in label_rows(size, parts, names)))
    return root


def two_boards(root: Path) -> Path:
    """Two clean boards, five parts in all (one touching the image border)."""
    C = ComponentClass
    return write_yolo_dir(
        root,
        {
            "board-a": [
                Part(C.RESISTOR, (10, 10, 50, 30)),
                Part(C.CAPACITOR, (70, 40, 100, 90), (200, 30, 30)),
                Part(C.DIODE, (120, 90, 160, 120), (40, 40, 40)),
            ],
            "board-b": [Part(C.RELAY, (20, 20, 80, 70), (30, 30, 200)), Part(C.TRANSISTOR, (100, 30, 130, 60))],
        },
    )


def boxes_of(text: str) -> list[YoloBox]:
    """Parse rows written by :func:`label_rows` (a tiny helper for assertions)."""
    out = []
    for line in text.splitlines():
        c, *v = line.split()
        out.append(YoloBox(int(c), *map(float, v)))
    return out
