"""Write tiny YOLO board folders (images/, labels/, data.yaml) in the real on-disk format.

Boards are a green background with solid coloured parts at known boxes, so a test can
check that a crop is centred on the part by looking at its pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from pcbforge.annotate.yolo import YoloBox, format_data_yaml, format_row, from_pixels
from pcbforge.vocab import ComponentClass

BOARD_GREEN = (20, 110, 40)


@dataclass(frozen=True)
class Part:
    """A part drawn on a board: class (a ComponentClass or a data.yaml name) and pixel corners (x1/y1 exclusive) and its fill colour."""

    cls: ComponentClass | str
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


def label_rows(size: tuple[int, int], parts: Sequence[Part], names: Sequence[ComponentClass | str]) -> list[str]:
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


#: The Ultralytics split-folder layouts :func:`write_export` can write.
LAYOUTS = ("images/<split>", "<split>/images", "roboflow", "lists")


def write_export(
    root: Path,
    layout: str,
    splits: dict[str, dict[str, Sequence[Part]]],
    names: Sequence[str],
    *,
    size: tuple[int, int] = (160, 120),
    suffix: str = ".png",
    label_suffix: str = ".txt",
    split_keys: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a YOLO export as a labelling tool would; return the folder holding data.yaml.

    Args:
        root: the export folder.
        layout: ``images/<split>`` (Ultralytics: ``images/train/x.png`` + ``labels/train/x.txt``),
            ``<split>/images`` (``train/images`` + ``train/labels``), ``roboflow`` (``<split>/images``
            with Roboflow's ``valid`` for val and data.yaml entries ``../train/images``), or
            ``lists`` (one ``images/`` + ``labels/`` folder, ``<split>.txt`` files listing ``./images/x.png``).
        splits: split (``train``/``val``/``test``) -> board -> parts.
        names: data.yaml names (a part's class is its index here).
        suffix, label_suffix: file suffixes as written (``.JPG``, ``.TXT`` to test case folding).
        split_keys: write data.yaml's train/val/test keys (False: names only; crop must find the layout).
        extra: more data.yaml keys (``path``, lineage).
    """
    root.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"nc": len(names), "names": list(names)}
    for split, boards in splits.items():
        folder = {"roboflow": "valid"}.get(layout, "val") if split == "val" else split
        if layout == "images/<split>":
            img_dir, lab_dir, entry = root / "images" / split, root / "labels" / split, f"images/{split}"
        elif layout in ("<split>/images", "roboflow"):
            img_dir, lab_dir = root / folder / "images", root / folder / "labels"
            entry = f"../{folder}/images" if layout == "roboflow" else f"{folder}/images"
        elif layout == "lists":
            img_dir, lab_dir, entry = root / "images", root / "labels", f"{split}.txt"
            listed = "".join(f"./images/{b}{suffix}\n" for b in boards)
            with (root / f"{split}.txt").open("a") as f:
                f.write(listed)
        else:
            raise ValueError(f"unknown layout {layout!r}; one of {LAYOUTS}")
        img_dir.mkdir(parents=True, exist_ok=True)
        lab_dir.mkdir(parents=True, exist_ok=True)
        data.setdefault(split, entry)
        for board, parts in boards.items():
            draw_board(size, parts).save(img_dir / f"{board}{suffix}", format="PNG" if suffix.lower() == ".png" else "JPEG")
            rows = label_rows(size, parts, names)
            (lab_dir / f"{board}{label_suffix}").write_text("".join(r + "\n" for r in rows))
    if not split_keys:
        data = {"nc": data["nc"], "names": data["names"]}
    data.update(extra or {})
    (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root


#: 16 class names as an Ultralytics export of a mixed THT/SMD board set writes them.
FOREIGN_NAMES = (
    "Capacitor", "Electrolytic-Capacitor", "Ceramic Capacitor", "Diode", "SMD Diode", "Resistor",
    "Transistor", "IC", "LED", "Connector", "Fuse", "Potentiometer", "Switch", "Push-Button", "Heatsink", "Buzzer",
)  # fmt: skip
#: Classes a project adds to params' taxonomy for that set (``classes.taxonomy``).
FOREIGN_CLASSES: dict[str, dict[str, Any]] = {
    "ic": {"mount": "smd", "polarised": True, "symmetry": "none", "pads": 8},
    "led": {"mount": "smd", "polarised": True, "symmetry": "180", "pads": 2},
    "connector": {"mount": "tht", "polarised": True, "symmetry": "none", "pads": 4},
    "fuse": {"mount": "tht", "polarised": False, "symmetry": "180", "pads": 2},
    "potentiometer": {"mount": "tht", "polarised": True, "symmetry": "none", "pads": 3},
    "switch": {"mount": "tht", "polarised": False, "symmetry": "180", "pads": 4},
}
#: The source's class_map for that set: spelling alone would make "Diode" the through-hole class.
FOREIGN_CLASS_MAP = {"Diode": "smd_diode", "Push-Button": "switch"}
#: What each foreign name becomes (Buzzer: nothing maps it; it follows classes.unmapped).
FOREIGN_EXPECTED = {
    "Capacitor": "capacitor", "Electrolytic-Capacitor": "capacitor", "Ceramic Capacitor": "ceramic_capacitor",
    "Diode": "smd_diode", "SMD Diode": "smd_diode", "Resistor": "resistor", "Transistor": "transistor",
    "IC": "ic", "LED": "led", "Connector": "connector", "Fuse": "fuse", "Potentiometer": "potentiometer",
    "Switch": "switch", "Push-Button": "switch", "Heatsink": "heat_sink",
}  # fmt: skip


def one_of_each(names: Sequence[str], size: tuple[int, int] = (320, 240), side: int = 20) -> list[Part]:
    """One part per class name, on a grid (``side`` px squares, 8 a row)."""
    return [
        Part(n, (10 + (i % 8) * 38, 10 + (i // 8) * 40, 10 + (i % 8) * 38 + side, 10 + (i // 8) * 40 + side), (200, 20 + 14 * i, 30))
        for i, n in enumerate(names)
    ]
