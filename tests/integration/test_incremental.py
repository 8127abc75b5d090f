"""Incremental re-runs: after 1 % more images, a stage processes only the new ones and writes
what a full rebuild writes.

The count is the stage's own (its summary line: ``N newly measured`` / ``N newly hashed``),
not a mock; the full rebuild runs in a second project that never saw the smaller crawl.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from pcbforge.config import Params
from pcbforge.pipelines import dedup, quality
from tests.helpers.crawl_fixture import FakeImage, write_crawl
from tests.helpers.params import tiny_params

N = 100


def _picture(seed: int) -> Image.Image:
    """A distinct 64x64 part photo: a coloured block on white, placed and sized by ``seed``."""
    rng = np.random.default_rng(seed)
    arr = np.full((64, 64, 3), 245, np.uint8)
    x, y = rng.integers(4, 28, 2)
    w, h = rng.integers(12, 32, 2)
    arr[y : y + h, x : x + w] = rng.integers(0, 200, 3, dtype=np.uint8)
    arr += rng.integers(0, 6, arr.shape, dtype=np.uint8)  # texture, so blur and hashes differ
    return Image.fromarray(arr)


def _images(n: int) -> list[FakeImage]:
    return [FakeImage(f"img{i:03d}", _picture(i), "PNG") for i in range(n)]


def _grown(n: int) -> list[FakeImage]:
    """``n`` images plus 1 %: new parts, and a resized copy of the first one (a near duplicate)."""
    extra = max(1, n // 100)
    copy = FakeImage("copy000", _picture(0).resize((56, 56), Image.Resampling.LANCZOS), "JPEG", quality=80)
    return [*_images(n), *(FakeImage(f"new{i:03d}", _picture(10_000 + i), "PNG") for i in range(extra - 1)), copy]


def _project(root: Path, images: list[FakeImage], overrides: dict[str, Any] | None = None) -> Params:
    params = tiny_params(root, overrides)
    write_crawl(params.path(params.crawl.out), images)
    return params


def _count(summary: str, what: str) -> int:
    """The number before ``what`` in a stage's summary line."""
    head = summary.split(what)[0]
    return int(head.rsplit(maxsplit=1)[-1].lstrip("("))


def test_quality_measures_only_new_images_and_equals_a_full_rebuild(tmp_path: Path) -> None:
    grown = _grown(N)
    added = len(grown) - N
    inc = _project(tmp_path / "inc", _images(N))
    assert _count(quality.run(inc), "newly measured") == N
    write_crawl(inc.path(inc.crawl.out), grown)
    assert _count(quality.run(inc), "newly measured") == added

    full = _project(tmp_path / "full", grown)
    assert _count(quality.run(full), "newly measured") == len(grown)
    manifest = Path(quality.MANIFEST_NAMES["quality"])
    assert (inc.path(inc.quality.out) / manifest).read_bytes() == (full.path(full.quality.out) / manifest).read_bytes()

    # A threshold is applied to cached measurements: nothing is measured again, the flags follow.
    strict = tiny_params(tmp_path / "inc", {"quality": {"min_blur": 1e9}})
    assert _count(quality.run(strict), "newly measured") == 0
    flags = pd.read_parquet(strict.path(strict.quality.out) / manifest)["flags"]
    assert flags.str.contains("blurry").all()
    # The measuring size shapes the measurements: every image is measured again.
    resized = tiny_params(tmp_path / "inc", {"quality": {"measure_size": 64}})
    assert _count(quality.run(resized), "newly measured") == len(grown)


def test_dedup_hashes_only_new_images_and_equals_a_full_rebuild(tmp_path: Path) -> None:
    grown = _grown(N)
    inc = _project(tmp_path / "inc", _images(N))
    first = dedup.run(inc)
    assert _count(first, "newly hashed") == N
    write_crawl(inc.path(inc.crawl.out), grown)
    summary = dedup.run(inc)
    assert _count(summary, "newly hashed") == len(grown) - N
    assert "1 near" in summary  # the added copy of img000 was found against the cached hashes
    # The aligned checks of pairs between old images came from the check cache: only pairs
    # with a new image (at least the copy and img000) were compared.
    added_pairs = _count(summary, "pairs newly compared")
    assert added_pairs >= 1
    assert _count(dedup.run(inc), "pairs newly compared") == 0  # nothing new: nothing compared

    full = _project(tmp_path / "full", grown)
    rebuilt = dedup.run(full)
    assert _count(rebuilt, "newly hashed") == len(grown)
    assert _count(rebuilt, "pairs newly compared") == _count(first, "pairs newly compared") + added_pairs
    manifest = Path(dedup.MANIFEST_NAMES["dedup"])
    assert (inc.path(inc.dedup.out) / manifest).read_bytes() == (full.path(full.dedup.out) / manifest).read_bytes()
