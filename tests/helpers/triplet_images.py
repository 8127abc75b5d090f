"""Write a tiny triplets dataset in the real on-disk format (``triplets.parquet`` + PNGs).

Components are coloured shapes on a green board; positives are the anchor with a little
noise; negatives are easy to tell apart (another class, a gray patch, a 90-degree turn,
the part missing), so a few training steps already separate them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from pcbforge.datasets.manifest import ok_row, rejected_row
from pcbforge.io import stable_id, write_png
from pcbforge.rng import make_rng
from tests.helpers.fake_project import write_rows

#: Class -> (RGB colour, shape). Shapes are asymmetric so a 90-degree turn is visible.
CLASSES: dict[str, tuple[tuple[int, int, int], str]] = {
    "resistor": ((200, 160, 90), "bar"),
    "capacitor": ((40, 60, 160), "tall"),
    "diode": ((30, 30, 30), "bar"),
    "relay": ((220, 220, 220), "tall"),
    "crystal_oscillator": ((180, 180, 40), "bar"),
}
#: Default split of each class (unseen classes in val/test, as the split stage does).
CLASS_SPLIT = {"resistor": "train", "capacitor": "train", "diode": "train", "relay": "val",
               "crystal_oscillator": "test"}
KINDS = ("other_class", "gray_patch", "rotation", "missing")
BOARD = (20, 110, 50)


def component(cls: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One component view: the class shape with a small random offset and tint."""
    colour, shape = CLASSES[cls]
    img = np.empty((size, size, 3), np.float32)
    img[:] = BOARD
    cx, cy = size // 2 + int(rng.integers(-1, 2)), size // 2 + int(rng.integers(-1, 2))
    hw, hh = (size // 3, size // 8) if shape == "bar" else (size // 8, size // 3)
    img[cy - hh : cy + hh, cx - hw : cx + hw] = np.asarray(colour, np.float32) + rng.normal(0, 6, 3)
    # a pin-1 mark so rotations of symmetric-looking parts still differ
    img[cy - hh : cy - hh + max(2, size // 16), cx - hw : cx - hw + max(2, size // 16)] = (250, 40, 40)
    return img


def _png(arr: np.ndarray, rng: np.random.Generator) -> Image.Image:
    noisy = arr + rng.normal(0, 3, arr.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def write_triplets(
    out: Path,
    per_class: int = 6,
    size: int = 32,
    seed: int = 0,
    class_split: dict[str, str] | None = None,
    rejected: int = 1,
) -> Path:
    """Write ``out/images/*.png`` and ``out/triplets.parquet``; return ``out``.

    Args:
        out: the triplets directory (``triplets.out``).
        per_class: triplets per class; negative kinds cycle through :data:`KINDS`.
        size: image side in pixels.
        seed: drives every random choice.
        class_split: class -> split (default :data:`CLASS_SPLIT`); leave a split out to make it empty.
        rejected: extra rows with status ``rejected`` and no images (loaders must skip them).
    """
    class_split = dict(CLASS_SPLIT if class_split is None else class_split)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    classes = sorted(class_split)
    for cls in classes:
        for i in range(per_class):
            rng = make_rng(seed, "fixture", cls, i)
            anchor_id = stable_id("component", cls, i)
            tid = stable_id("triplet", cls, i)
            kind = KINDS[i % len(KINDS)]
            base = component(cls, size, rng)
            positive = component(cls, size, rng)
            neg_class = cls
            params: dict[str, object] = {}
            if kind == "other_class":
                neg_class = classes[(classes.index(cls) + 1 + i) % len(classes)]
                if neg_class == cls:
                    neg_class = classes[(classes.index(cls) + 1) % len(classes)]
                negative = component(neg_class, size, rng)
            elif kind == "gray_patch":
                negative = base.copy()
                s = size // 2
                negative[size // 4 : size // 4 + s, size // 4 : size // 4 + s] = 128
                params = {"box": [size // 4, size // 4, s, s]}
            elif kind == "rotation":
                negative = np.rot90(base).copy()
                params = {"angle": 90}
            else:  # missing
                negative = np.empty_like(base)
                negative[:] = BOARD
            paths = {}
            for role, arr in (("anchor", base), ("positive", positive), ("negative", negative)):
                rel = f"images/{tid}_{role}.png"
                write_png(out / rel, _png(arr, rng))
                paths[f"{role}_path"] = rel
            rows.append(ok_row(
                id=tid, split=class_split[cls], class_label=cls, anchor_id=anchor_id, **paths,
                negative_kind=kind, negative_class=neg_class, negative_mask_path=None,
                defect_params=json.dumps(params, sort_keys=True),
                source_url=f"http://127.0.0.1/product/{anchor_id}.html", licence="CC0-1.0",
            ))
    for j in range(rejected):
        rows.append(rejected_row(
            "anchor image too small", id=stable_id("rejected", j), split="train", class_label=classes[0],
            anchor_id=stable_id("component-rejected", j), anchor_path=None, positive_path=None,
            negative_path=None, negative_kind="gray_patch", negative_class=None, negative_mask_path=None,
            defect_params="{}", source_url=None, licence="CC0-1.0",
        ))
    write_rows("triplets", rows, out)
    return out
