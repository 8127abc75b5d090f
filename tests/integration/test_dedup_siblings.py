"""Dedup on catalog photos with sibling products of one series (see docs/dedup.md).

Runs the real stage, shipped defaults (mirror on, aligned pair check), on a fake crawl of
``series_set`` (tests/helpers/planted.py): per series an original catalog photo, six copies a
crawl meets (resized 5/8, JPEG q35, cropped 3 %, brighter, watermarked, mirrored) and two
sibling products (one printed value or one colour band changed, visibly). Floors are the
measured values minus a margin; what is still open is stated in docs/dedup.md.
"""

from __future__ import annotations

import pandas as pd
import pytest

from pcbforge.pipelines import dedup
from tests.helpers.crawl_fixture import write_crawl
from tests.helpers.planted import SERIES_COPY_KINDS, pair_scores, series_set

SERIES = 12
# Measured 2026-12-01 (seed 3, 12 series) with the resampling veto on the upscale mark and the
# mean-difference choice between representatives (docs/dedup.md): pair recall 0.929, precision
# 0.940 (before: 0.857 / 0.777); siblings dropped 1 of 24 (before: 8), 12 flagged for review;
# copies found resize 12, jpeg 11, crop 12, bright 10, watermark 12, flip 12 of 12. Floors =
# measured minus a margin.
PRECISION_FLOOR = 0.88
RECALL_FLOOR = 0.88
SIBLINGS_KEPT_FLOOR = 20  # of 24 (measured 23)
KIND_FLOOR = {"jpeg": 0.75, "bright": 0.75}  # others 0.9


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    from tests.helpers.params import tiny_params

    root = tmp_path_factory.mktemp("series")
    (root / "review").mkdir()
    params = tiny_params(root)
    images, family = series_set(SERIES, seed=3)
    crawl = write_crawl(params.path(params.crawl.out), images)
    dedup.run(params)
    out = pd.read_parquet(params.path(params.dedup.out) / "dedup.parquet")
    name = {r.id: r.image_url.rsplit("/", 1)[1] for r in crawl.itertuples()}
    return {name[r.id]: r for r in out.itertuples()}, family


@pytest.mark.slow
def test_copies_dropped_siblings_kept(series):
    rows, family = series
    # What the stage drops (flagged pairs are kept: the reviewer decides).
    scores = pair_scores({n: r.cluster for n, r in rows.items()}, family)
    print("series dedup (dropped):", scores)
    assert scores["precision"] >= PRECISION_FLOOR
    assert scores["recall"] >= RECALL_FLOOR
    # Sibling products kept apart (dropped ones are the open problem, docs/dedup.md).
    siblings = [n for n in rows if "-sib" in n]
    dropped = [n for n in siblings if not rows[n].keep]
    print("siblings dropped:", len(dropped), "/", len(siblings), dropped)
    assert len(siblings) - len(dropped) >= SIBLINGS_KEPT_FLOOR
    # A sibling flagged against its original sits in the review view (12 of 24 measured).
    flagged = sum(rows[n].dup_kind == "suspect" for n in siblings)
    print(f"siblings flagged for review: {flagged}/{len(siblings)}")
    assert flagged >= 8


@pytest.mark.slow
def test_every_copy_kind_found(series):
    rows, _ = series
    for kind in SERIES_COPY_KINDS:
        found = sum(rows[f"c{f:04d}-{kind}"].cluster == rows[f"c{f:04d}-orig"].cluster for f in range(SERIES))
        print(kind, found, "/", SERIES)
        assert found / SERIES >= KIND_FLOOR.get(kind, 0.9), (kind, found)
