"""Tiny fake stage outputs in the real on-disk format (docs/stages.md) for train, evaluate, simulate and export tests.

- :func:`write_triplets` — the one writer of a ``triplets.out``: ``images/*.png`` (+ masks) and
  ``triplets.parquet``. Components are coloured shapes on a green board; positives are the
  anchor redrawn with a little noise; negatives are easy to tell apart (another class, a gray
  patch, a 90-degree turn, the part missing), so a few training steps already separate them.
- :func:`write_pairs` — a ``simulate.out``: ``template/``, ``defected/``, ``mask/`` and ``pairs.parquet``.

A fake ``crop.out`` comes from :func:`tests.helpers.components_fixture.write_components`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from pcbforge.augment.ssds import simulate_pair
from pcbforge.config import SimulateParams
from pcbforge.datasets.manifest import error_row, ok_row, rejected_row
from pcbforge.io import stable_id, write_png
from pcbforge.datasets.pairs import write_pair
from pcbforge.rng import make_rng
from pcbforge.vocab import SceneMode
from tests.helpers.components_fixture import board_lineage
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
               "crystal_oscillator": "test"}  # fmt: skip
KINDS = ("other_class", "gray_patch", "rotation", "missing")
BOARD = (20, 110, 50)
CC_BY_URL = "https://creativecommons.org/licenses/by/4.0/"


def photo_lineage(n: int) -> dict[str, str | None]:
    """Lineage of web photo ``n``: even ones CC-BY with a licence URL and a credit line (with a
    comma, so CSV quoting is exercised), odd ones CC0 with neither (null)."""
    url = f"http://127.0.0.1/img/{n}.jpg"
    credited = n % 2 == 0
    return {
        "source_url": url,
        "image_url": url,
        "licence": "CC-BY-4.0" if credited else "CC0-1.0",
        "licence_url": CC_BY_URL if credited else None,
        "author": f"author-{n}",
        "attribution": f"Photo: author-{n}, CC BY 4.0" if credited else None,
    }


def part_image(seed: int, size: int = 32) -> Image.Image:
    """A component-like RGB view: green board, a coloured body, two silver leads."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = (20, 90 + seed % 40, 40)
    q = size // 4
    img[q : size - q, q : size - q] = rng.integers(40, 220, 3)
    img[size // 2 - 1 : size // 2 + 1, : q] = 200
    img[size // 2 - 1 : size // 2 + 1, size - q :] = 200
    img = np.clip(img.astype(np.int16) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(img, "RGB")


def component(cls: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One component view: the class shape with a small random offset and tint (float, no noise yet)."""
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
    *,
    splits: Sequence[str] | None = None,
    class_split: Mapping[str, str] | None = None,
    per_class: int = 6,
    per_anchor: int = 1,
    size: int = 32,
    seed: int = 0,
    kinds: Sequence[str] = KINDS,
    rejected: int = 1,
    bad: int = 0,
) -> Path:
    """Write ``out/images/*.png`` and ``out/triplets.parquet``; return ``out``.

    Triplet ``t`` (in written order) has anchor ``a = t // per_anchor`` (id
    ``stable_id("component", a)``, from web photo ``a``: :func:`photo_lineage`) and negative kind
    ``kinds[t % len(kinds)]``. Defect negatives get a mask of the pixels the defect changed;
    ``other_class`` ones none, and their photo is ``50 + t`` (:func:`negative_lineage`).

    Args:
        out: the triplets directory (``triplets.out``).
        splits: one triplet per entry, with that split; classes cycle with the anchor.
            ``None``: ``per_class`` triplets of each class of ``class_split`` instead.
        class_split: class -> split (default :data:`CLASS_SPLIT`); leave a split out to make it empty.
        per_class: triplets per class (without ``splits``).
        per_anchor: consecutive triplets that share one anchor (and its photo).
        size: image side in pixels.
        seed: drives every random choice.
        kinds: the negative kinds to cycle through.
        rejected: extra rows with status ``rejected`` and no images (loaders must skip them).
        bad: extra rows with status ``error``.
    """
    class_split = dict(CLASS_SPLIT if class_split is None else class_split)
    classes = sorted(class_split)
    if splits is None:
        plan = [(class_split[c], c) for c in classes for _ in range(per_class)]
    else:
        plan = [(split, classes[(t // per_anchor) % len(classes)]) for t, split in enumerate(splits)]
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for t, (split, cls) in enumerate(plan):
        a = t // per_anchor
        rng = make_rng(seed, "fixture", t)
        anchor_rng = make_rng(seed, "anchor", a)  # a shared anchor is the same file, byte for byte
        base = component(cls, size, anchor_rng)
        anchor_png = _png(base, anchor_rng)
        positive = component(cls, size, rng)
        tid = stable_id("triplet", t)
        kind = kinds[t % len(kinds)]
        neg_class = cls
        params: dict[str, object] = {}
        if kind == "other_class":
            others = [c for c in classes if c != cls] or [cls]
            neg_class = others[t % len(others)]
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
        for role, png in (("anchor", anchor_png), ("positive", _png(positive, rng)), ("negative", _png(negative, rng))):
            rel = f"images/{tid}_{role}.png"
            write_png(out / rel, png)
            paths[f"{role}_path"] = rel
        mask_path = None
        if kind != "other_class":
            mask_path = f"images/{tid}_mask.png"
            changed = (negative != base).any(axis=2)
            write_png(out / mask_path, Image.fromarray(np.where(changed, 255, 0).astype(np.uint8), "L"))
        rows.append(
            ok_row(
                id=tid, split=split, class_label=cls, anchor_id=stable_id("component", a), **paths,
                negative_kind=kind, negative_class=neg_class, negative_mask_path=mask_path,
                defect_params=json.dumps(params, sort_keys=True),
                **photo_lineage(a),
                **{f"negative_{k}": v for k, v in negative_lineage(t, kind, per_anchor).items()},
            )
        )  # fmt: skip
    for j in range(rejected):
        rows.append(rejected_row(
            "anchor image too small", id=stable_id("rejected", j), split="train", class_label=classes[0],
            anchor_id=stable_id("component-rejected", j), negative_kind="gray_patch",
            defect_params="{}", licence="CC0-1.0",
        ))  # fmt: skip
    for j in range(bad):
        rows.append(error_row("defect rule: polarised part must not turn 180 degrees", id=stable_id("bad-triplet", j)))
    write_rows("triplets", rows, out)
    return out


def negative_lineage(t: int, kind: str, per_anchor: int = 1) -> dict[str, str | None]:
    """Lineage of triplet ``t``'s negative (see :func:`write_triplets`)."""
    return photo_lineage(50 + t) if kind == "other_class" else photo_lineage(t // per_anchor)


def write_pairs(
    out: Path,
    n: int = 3,
    size: int = 32,
    splits: tuple[str | None, ...] = ("train", "val", "test"),
    pose_only: bool = False,
) -> Path:
    """Write a simulate stage output with ``n`` pairs (made by the real generator); return the manifest.

    Pair ``i``'s parent is component ``i`` of :func:`tests.helpers.components_fixture.write_components`
    with ``per_board=2``, with its board's lineage,
    and its split is ``splits[i % len(splits)]`` (train, val, test in turn by default; ``(None,)``
    gives null splits, which the export refuses to place). ``pose_only`` makes every pair a
    defect-free pose-only pair (empty mask, ``defects`` = ``[]``).
    """
    sp = SimulateParams(mode=SceneMode.BOARD, preset="small", pose_only_fraction=1.0) if pose_only else None
    rows = []
    for i in range(n):
        pid = stable_id("pair", i)
        t, d, m, p = simulate_pair(np.asarray(part_image(i, size)), make_rng(0, "fixture-pair", i), sp)
        split = splits[i % len(splits)]
        rows.append(write_pair(out, pid, t, d, m, p, stable_id("component", i), board_lineage(i // 2), split=split))
    return write_rows("simulate", rows, out)
