"""Fake crop (+ split) outputs in the real on-disk format, for the triplets, simulate and export tests.

The one writer of a fake ``crop.out``: ``<crop.out>/components.parquet`` with ``crops/<id>.png``
(``size`` square views) and ``context/<id>.png`` + ``context_box``, and optionally
``<split.out>/split.parquet``, exactly as docs/stages.md describes them. Components are drawn
on a small synthetic board (solder mask texture, tinned pads with drill holes, silkscreen),
cut the way the crop stage cuts them: a square centred on the box, side = long side x
(1 + margin), and a context patch of ``context_scale`` x the box clipped to the board.
"""

from __future__ import annotations

import math
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from pcbforge.datasets.manifest import error_row, ok_row
from pcbforge.io import stable_id, write_png
from tests.helpers.fake_project import frame, write_rows

#: Body colour (RGB) and (length, width) in px per class drawn by the fixture.
STYLE: dict[str, tuple[tuple[int, int, int], tuple[int, int]]] = {
    "resistor": ((214, 190, 140), (34, 12)),
    "capacitor": ((40, 70, 160), (26, 26)),
    "diode": ((30, 30, 30), (28, 11)),
    "transistor": ((25, 25, 25), (22, 16)),
    "ceramic_capacitor": ((220, 150, 40), (18, 14)),
    "smd_capacitor": ((170, 140, 100), (16, 9)),
    "relay": ((30, 40, 120), (40, 30)),
    "crystal_oscillator": ((200, 200, 205), (30, 12)),
}


def board_texture(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Green solder mask with grain, a copper trace and a silkscreen line."""
    base = np.array([30, 110, 60], np.float32) + rng.normal(0, 4, size=(h, w, 1)).astype(np.float32)
    img = np.clip(base + rng.normal(0, 3, size=(h, w, 3)), 0, 255).astype(np.uint8)
    cv2.line(img, (0, h // 3), (w, h // 3 + 10), (60, 140, 70), 3)
    cv2.line(img, (w // 4, 0), (w // 4, h), (230, 230, 230), 1)
    return img


def draw_part(img: np.ndarray, cls: str, cx: float, cy: float, angle: float) -> tuple[float, float, float, float]:
    """Draw pads, leads and the body of ``cls``; return its axis-aligned box (x0, y0, x1, y1)."""
    color, (length, width) = STYLE[cls]
    rad = math.radians(angle)
    ux, uy = math.cos(rad), math.sin(rad)
    reach = length / 2 + 6
    ends = [(cx - ux * reach, cy - uy * reach), (cx + ux * reach, cy + uy * reach)]
    for ex, ey in ends:
        cv2.circle(img, (int(ex), int(ey)), 5, (200, 198, 190), -1, cv2.LINE_AA)
        cv2.circle(img, (int(ex), int(ey)), 2, (30, 28, 26), -1, cv2.LINE_AA)
        cv2.line(img, (int(cx), int(cy)), (int(ex), int(ey)), (175, 175, 180), 2, cv2.LINE_AA)
    pts = cv2.boxPoints(((cx, cy), (length, width), angle)).astype(np.int32)
    cv2.fillConvexPoly(img, pts, color, cv2.LINE_AA)
    # A polarity mark on one end so a 180-degree turn is visible.
    mx, my = cx + ux * length * 0.3, cy + uy * length * 0.3
    cv2.circle(img, (int(mx), int(my)), max(2, width // 5), (235, 235, 235), -1, cv2.LINE_AA)
    r = length / 2 + 12
    hx, hy = r * abs(ux) + width / 2, r * abs(uy) + width / 2
    return cx - hx, cy - hy, cx + hx, cy + hy


def _window(img: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    h, w = img.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    inner = img[cy0:cy1, cx0:cx1]
    return np.pad(inner, [(cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1), (0, 0)], mode="edge")


def cut_views(
    board: np.ndarray, box: tuple[float, float, float, float], size: int, margin: float, context_scale: float
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(crop, context, context_box) the way the crop stage cuts them."""
    h, w = board.shape[:2]
    x0, y0, x1, y1 = box
    side = max(1, math.ceil(max(x1 - x0, y1 - y0) * (1 + margin)))
    left = math.floor((x0 + x1) / 2 - side / 2 + 0.5)
    top = math.floor((y0 + y1) / 2 - side / 2 + 0.5)
    sq = _window(board, left, top, left + side, top + side)
    crop = np.asarray(Image.fromarray(sq).resize((size, size), Image.Resampling.LANCZOS))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) * context_scale / 2, (y1 - y0) * context_scale / 2
    px0, py0 = max(0, math.floor(cx - hw)), max(0, math.floor(cy - hh))
    px1, py1 = min(w, math.ceil(cx + hw)), min(h, math.ceil(cy + hh))
    bx0, by0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    bx1, by1 = min(w, math.ceil(x1)), min(h, math.ceil(y1))
    px0, py0, px1, py1 = min(px0, bx0), min(py0, by0), max(px1, bx1), max(py1, by1)
    return crop, np.ascontiguousarray(board[py0:py1, px0:px1]), [bx0 - px0, by0 - py0, bx1 - px0, by1 - py0]


CC_BY_URL = "https://creativecommons.org/licenses/by/4.0/"
#: The split of each class when a test names none: unseen classes in val/test, two classes per
#: split (other_class negatives need a second class there).
CLASS_SPLIT = {
    "resistor": "train",
    "capacitor": "train",
    "diode": "train",
    "transistor": "val",
    "relay": "val",
    "ceramic_capacitor": "test",
    "smd_capacitor": "test",
}


def board_lineage(board: int) -> dict[str, str | None]:
    """Lineage of fixture board ``board`` (no ``image_url``: boards are not crawled files).

    Even boards are CC BY with a licence URL and a credit line, odd ones CC0 with neither (null),
    so every test sees both a credited and a null lineage.
    """
    credited = board % 2 == 0
    return {
        "source_url": f"http://127.0.0.1/board-{board}.png",
        "image_url": None,
        "licence": "CC-BY-4.0" if credited else "CC0-1.0",
        "licence_url": CC_BY_URL if credited else None,
        "author": "fixture",
        "attribution": f"Board {board} by Fixture Lab" if credited else None,
    }


def write_components(
    crop_out: Path,
    split_out: Path | None = None,
    *,
    classes: Mapping[str, str] | Sequence[str] | None = None,
    per_class: int = 3,
    n: int | None = None,
    per_board: int = 1,
    size: int = 64,
    margin: float = 0.1,
    context_scale: float = 2.0,
    seed: int = 0,
    bad: int = 0,
    extra_rows: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Write a crop stage output (components.parquet + PNGs) and, given ``split_out``, its split.parquet.

    Component ``k`` has id ``stable_id("component", k)`` and sits on board ``k // per_board``
    (its ``group`` and ``parent_id`` ``board-<b>``, its lineage :func:`board_lineage`).

    Args:
        crop_out: The crop stage's directory (``crop.out``).
        split_out: The split stage's directory; ``None`` writes no split (tests that use
            :func:`tests.helpers.split_fixture.write_split` to choose splits by id).
        classes: class -> split (default :data:`CLASS_SPLIT`), or just class names when no split is written.
        per_class: components of each class, in sorted class order.
        n: instead of ``per_class``: ``n`` components cycling through the sorted classes.
        per_board: components that share a board (and its lineage).
        bad: rows with status ``error`` and no files (the stage must skip them).
        extra_rows: appended as-is (e.g. a rejected component that must be skipped).

    Returns:
        The components frame as written.
    """
    classes = CLASS_SPLIT if classes is None else classes
    split = dict(classes) if isinstance(classes, Mapping) else dict.fromkeys(classes, "train")
    names = sorted(split)
    order = [c for c in names for _ in range(per_class)] if n is None else [names[k % len(names)] for k in range(n)]
    rng = np.random.default_rng(seed)
    comp_rows: list[dict[str, Any]] = []
    for k, cls in enumerate(order):
        board_name = f"board-{k // per_board}"
        board = board_texture(160, 120, rng)
        angle = float(rng.choice([0.0, 90.0, 15.0]))
        box = draw_part(board, cls, 80 + rng.uniform(-8, 8), 60 + rng.uniform(-6, 6), angle)
        crop, ctx, cbox = cut_views(board, box, size, margin, context_scale)
        cid = stable_id("component", k)
        write_png(crop_out / "crops" / f"{cid}.png", Image.fromarray(crop))
        write_png(crop_out / "context" / f"{cid}.png", Image.fromarray(ctx))
        comp_rows.append(
            ok_row(
                id=cid,
                class_label=cls,
                origin="board",
                group=board_name,
                parent_id=board_name,
                box=[0.5, 0.5, 0.2, 0.2],
                crop_path=f"crops/{cid}.png",
                context_path=f"context/{cid}.png",
                context_box=cbox,
                **board_lineage(k // per_board),
            )
        )
    for i in range(bad):
        reason = "box outside image (labels/x.txt:3)"
        comp_rows.append(error_row(reason, id=stable_id("bad-component", i), class_label="diode"))
    comp_rows += extra_rows or []
    write_rows("crop", comp_rows, crop_out)
    if split_out is not None:
        split_rows = [
            {
                "id": r["id"],
                "class_label": r["class_label"],
                "group": r.get("group"),
                "split": split.get(r["class_label"], "train") if r["status"] == "ok" else "train",
                "status": r["status"],
                "error": r.get("error"),
            }
            for r in comp_rows
        ]
        write_rows("split", split_rows, split_out)
    return frame("crop", comp_rows)
