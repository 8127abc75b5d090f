"""Keep the original, not its upscaled or re-encoded copy; never merge a cross-class look-alike.

The real stage on catalog photos (tests/helpers/planted.py::source_and_copies): each original
has an upscaled + re-encoded copy and a same-size re-encoded copy, and a mirrored photo of
another class repainted to sit at the hash threshold. Figures in docs/dedup.md.
"""

from __future__ import annotations

import pandas as pd
import pytest

from pcbforge.pipelines import dedup
from tests.helpers.crawl_fixture import write_crawl
from tests.helpers.planted import source_and_copies

FAMILIES = 48


def _run(tmp_path_factory, mirror: bool):
    from tests.helpers.params import tiny_params

    root = tmp_path_factory.mktemp(f"orig-mirror{int(mirror)}")
    (root / "review").mkdir()
    params = tiny_params(root, {"dedup": {"mirror": mirror}})
    images, role = source_and_copies(FAMILIES, seed=3)
    crawl = write_crawl(params.path(params.crawl.out), images)
    dedup.run(params)
    out = pd.read_parquet(params.path(params.dedup.out) / "dedup.parquet")
    name = {r.id: r.image_url.rsplit("/", 1)[1] for r in crawl.itertuples()}
    return {name[r.id]: r for r in out.itertuples()}, role


@pytest.fixture(scope="module", params=[False, True], ids=["mirror-off", "mirror-on"])
def planted(request, tmp_path_factory):
    return _run(tmp_path_factory, request.param)


@pytest.mark.slow
def test_the_original_is_kept_over_upscaled_and_recompressed_copies(planted):
    rows, _ = planted
    kept = paired = 0
    for f in range(FAMILIES):
        orig = rows[f"s{f:04d}-orig"]
        for kind in ("up", "req"):
            copy = rows[f"s{f:04d}-{kind}"]
            if copy.cluster == orig.cluster and copy.dup_kind != "suspect":
                paired += 1
                kept += bool(orig.keep and not copy.keep)
                if not copy.keep:
                    assert copy.degraded and "marked as a degraded copy" in copy.error, copy.error
    print(f"original kept in {kept} of {paired} found pairs")
    assert paired >= 0.9 * 2 * FAMILIES
    assert kept >= 0.99 * paired


@pytest.mark.slow
def test_cross_class_lookalikes_at_threshold_are_never_merged(planted):
    rows, _ = planted
    for f in range(FAMILIES):
        alt, orig = rows[f"s{f:04d}-alt"], rows[f"s{f:04d}-orig"]
        assert alt.keep and alt.cluster != orig.cluster
        assert not any(r.keep is False and r.dup_of == alt.id for r in rows.values())
