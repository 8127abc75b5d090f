"""Dedup quality on generated photos with planted copies and look-alike parts (see docs/dedup.md).

Runs the real stage on a fake crawl (real on-disk format) of 30 families: an original, six
planted copies (resized, JPEG q30, cropped 4 %, +25 % brightness, watermarked, mirrored) and
three different parts sharing its body (other marking, other colour band, other body colour).
Thresholds are the measured values minus a margin, justified in docs/dedup.md.

This measures what the hashes *find*: mirror on, and a pair counts as found when it is dropped
or flagged for review (``dup_kind == "suspect"``: mirrored and at-threshold matches are only
flagged since issue 15/16). What the shipped defaults drop is in docs/dedup.md.
"""

from __future__ import annotations

import pandas as pd
import pytest

from pcbforge.pipelines import dedup
from tests.helpers.crawl_fixture import write_crawl
from tests.helpers.planted import COPY_KINDS, pair_scores, planted_set

FAMILIES = 30


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    from tests.helpers.params import tiny_params

    root = tmp_path_factory.mktemp("planted")
    (root / "review").mkdir()
    params = tiny_params(root, {"dedup": {"mirror": True}})
    images, family = planted_set(FAMILIES, seed=1)
    crawl = write_crawl(params.path(params.crawl.out), images)
    dedup.run(params)
    out = pd.read_parquet(params.path(params.dedup.out) / "dedup.parquet")
    name = {r.id: r.image_url.rsplit("/", 1)[1] for r in crawl.itertuples()}
    # A flagged image is found too: it sits in the review view beside the image it looks like,
    # so its cluster is followed to that image's cluster.
    by_id = {r.id: r for r in out.itertuples()}

    def found(r):
        return by_id[r.dup_of].cluster if r.dup_kind == "suspect" else r.cluster

    rows = {name[r.id]: r._replace(cluster=found(r)) for r in out.itertuples()}
    # The group each image itself was put in (kept: its own), without following a flag: an
    # original flagged against its look-alike still holds the copies that joined it.
    own = {name[r.id]: r.cluster for r in out.itertuples()}
    return rows, family, params, own


@pytest.mark.slow
def test_pair_recall_and_precision(planted):
    rows, family, _, _ = planted
    scores = pair_scores({n: r.cluster for n, r in rows.items()}, family)
    print("planted dedup:", scores)
    assert scores["recall"] >= 0.85
    assert scores["precision"] >= 0.50
    # Without the look-alikes (truly different parts sharing a body), nothing unrelated is merged.
    plain = {n: r.cluster for n, r in rows.items() if "-alt-" not in n}
    assert pair_scores(plain, {n: family[n] for n in plain})["precision"] >= 0.99


@pytest.mark.slow
def test_recall_per_copy_kind(planted):
    """Each copy joins (dropped into, or flagged against a member of) its original's group.

    The original's group is the one it was put in itself: when the original is also flagged
    against a look-alike, following that flag would count every copy that did join the
    original as a miss (it did: 5-6 of 30 per kind before this measure).
    """
    rows, _, _, own = planted
    for kind in COPY_KINDS:
        found = sum(rows[f"f{f:04d}-{kind}"].cluster == own[f"f{f:04d}-orig"] for f in range(FAMILIES))
        floor = 0.6 if kind == "crop" else 0.9
        assert found / FAMILIES >= floor, (kind, found)


@pytest.mark.slow
def test_lookalikes_kept_apart(planted):
    rows, _, _, _ = planted

    def apart(kind: str) -> float:
        return sum(
            rows[f"f{f:04d}-alt-{kind}"].cluster != rows[f"f{f:04d}-orig"].cluster for f in range(FAMILIES)
        ) / FAMILIES

    print("look-alikes kept apart:", {k: apart(k) for k in ("colour", "band", "marking")})
    assert apart("colour") >= 0.9  # the colour signature separates them
    # A single changed band is partly visible to the hue histogram; different marking text is
    # below what 8x8 hashes can see: a known miss left to the reviewer (docs/dedup.md).
    assert apart("band") >= 0.05


@pytest.mark.slow
def test_every_drop_is_within_thresholds_of_its_kept_image(planted):
    rows, _, params, _ = planted
    by_id = {r.id: r for r in rows.values()}
    for r in rows.values():
        if not r.keep and r.dup_kind != "suspect":
            kept = by_id[r.dup_of]
            assert kept.keep and r.cluster == kept.id
            assert r.distance <= params.dedup.threshold
            assert r.confirm_distance <= params.dedup.confirm_threshold
            assert r.color_distance <= params.dedup.color_threshold
