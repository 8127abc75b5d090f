"""Tiny fake stage outputs in the real on-disk format (docs/stages.md) for simulate and export tests.

- :func:`write_triplets` — a ``triplets.out``: ``images/*.png`` (+ masks) and ``triplets.parquet``.
- :func:`write_pairs` — a ``simulate.out``: ``template/``, ``defected/``, ``mask/`` and ``pairs.parquet``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from pcbforge.augment.ssds import simulate_pair
from pcbforge.datasets.manifest import error_row, ok_row
from pcbforge.io import stable_id, write_png
from pcbforge.datasets.pairs import write_pair
from pcbforge.rng import make_rng
from tests.helpers.components_fixture import board_lineage
from tests.helpers.fake_project import write_rows

CLASSES = ("resistor", "capacitor", "diode", "relay")
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


def _mask(size: int, seed: int) -> Image.Image:
    m = np.zeros((size, size), np.uint8)
    r = np.random.default_rng(seed)
    y, x = r.integers(2, size // 2, 2)
    m[y : y + size // 4, x : x + size // 4] = 255
    return Image.fromarray(m, "L")


def write_triplets(
    out: Path,
    splits: tuple[str, ...] = ("train", "train", "val", "test", "test", "test"),
    size: int = 32,
    kinds: tuple[str, ...] = ("gray_patch", "other_class", "missing"),
    bad: int = 0,
) -> Path:
    """Write a triplets stage output, one triplet per entry of ``splits``; return the manifest.

    Negative kinds cycle through ``kinds``; defect negatives get a mask, ``other_class`` ones do not.
    Triplet ``i`` has anchor ``i // 2`` from web photo ``i // 2`` (:func:`photo_lineage`); an
    ``other_class`` negative comes from photo ``50 + i``, a defect negative from the anchor's photo.
    """
    rows = []
    for i, split in enumerate(splits):
        tid = stable_id("triplet", i)
        anchor_id = stable_id("component", i // 2)
        kind = kinds[i % len(kinds)]
        paths = {role: f"images/{tid}_{role}.png" for role in ("anchor", "positive", "negative")}
        write_png(out / paths["anchor"], part_image(100 + i // 2, size))
        write_png(out / paths["positive"], part_image(100 + i // 2, size).rotate(0.5))
        write_png(out / paths["negative"], part_image(300 + i, size))
        mask_path = None
        if kind != "other_class":
            mask_path = f"images/{tid}_mask.png"
            write_png(out / mask_path, _mask(size, i))
        rows.append(
            ok_row(
                id=tid,
                split=split,
                class_label=CLASSES[i % len(CLASSES)],
                anchor_id=anchor_id,
                anchor_path=paths["anchor"],
                positive_path=paths["positive"],
                negative_path=paths["negative"],
                negative_kind=kind,
                negative_class=CLASSES[(i + 1) % len(CLASSES)] if kind == "other_class" else CLASSES[i % len(CLASSES)],
                negative_mask_path=mask_path,
                defect_params=json.dumps({"i": i}),
                **photo_lineage(i // 2),
                **{f"negative_{k}": v for k, v in negative_lineage(i, kind).items()},
            )
        )
    for i in range(bad):
        rows.append(error_row("defect rule: polarised part must not turn 180 degrees", id=stable_id("bad-triplet", i)))
    return write_rows("triplets", rows, out)


def negative_lineage(i: int, kind: str) -> dict[str, str | None]:
    """Lineage of triplet ``i``'s negative (see :func:`write_triplets`)."""
    return photo_lineage(50 + i) if kind == "other_class" else photo_lineage(i // 2)


def write_pairs(
    out: Path, n: int = 3, size: int = 32, splits: tuple[str | None, ...] = ("train", "val", "test")
) -> Path:
    """Write a simulate stage output with ``n`` pairs (made by the real generator); return the manifest.

    Pair ``i``'s parent is component ``i`` of :func:`tests.helpers.components_fixture.write_components`
    with ``per_board=2``, with its board's lineage,
    and its split is ``splits[i % len(splits)]`` (train, val, test in turn by default; ``(None,)``
    gives null splits, which the export refuses to place).
    """
    rows = []
    for i in range(n):
        pid = stable_id("pair", i)
        t, d, m, p = simulate_pair(np.asarray(part_image(i, size)), make_rng(0, "fixture-pair", i))
        split = splits[i % len(splits)]
        rows.append(write_pair(out, pid, t, d, m, p, stable_id("component", i), board_lineage(i // 2), split=split))
    return write_rows("simulate", rows, out)
