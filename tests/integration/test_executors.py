"""The same stage on the local process pool and on a real Dask cluster writes the same bytes.

The cluster is a Dask ``LocalCluster`` started here: a scheduler and two worker processes
(one thread each) on 127.0.0.1, reached by address exactly as a remote one would be
(``base.dask_scheduler``). Each test checks the work really ran on both Dask workers, so a
silent fallback to the local pool cannot pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from pcbforge.config import Params
from pcbforge.pipelines import crop, dedup, triplets
from tests.helpers.accepted_fixture import Photo, write_accepted
from tests.helpers.components_fixture import write_components
from tests.helpers.crawl_fixture import FakeImage, write_crawl
from tests.helpers.params import tiny_params
from tests.helpers.yolo_boards import two_boards

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real Dask cluster of 2 worker processes, and a client to ask it what ran where."""
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c,
        distributed.Client(c) as client,
    ):
        yield client


def _executed(client: Any) -> list[int]:
    """Tasks each Dask worker has run so far."""
    return sorted(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


def _pair(tmp_path: Path, client: Any, overrides: dict[str, Any] | None = None) -> tuple[Params, Params]:
    """Params of two projects: one on the local pool (2 processes), one on the cluster."""
    over = overrides or {}
    local = tiny_params(tmp_path / "local", {**over, "base": {"workers": 2, "executor": "local"}})
    address = client.scheduler.address
    on_dask = tiny_params(tmp_path / "dask", {**over, "base": {"workers": 2, "executor": "dask", "dask_scheduler": address}})
    return local, on_dask


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _run_both(stage: Any, local: Params, on_dask: Params, out: str, client: Any) -> None:
    before = _executed(client)
    stage.run(local)
    assert _executed(client) == before  # the local run did not touch the cluster
    stage.run(on_dask)
    after = _executed(client)
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)  # both Dask workers worked
    a, b = _tree(local.path(Path(out))), _tree(on_dask.path(Path(out)))
    assert a and a == b  # every file (manifest, crops, images) the same bytes


def test_crop_on_dask_equals_local_pool(tmp_path: Path, cluster: Any) -> None:
    local, on_dask = _pair(tmp_path, cluster)
    for p in (local, on_dask):
        two_boards(p.boards_dir())
        write_accepted(p, [Photo("relay"), Photo("diode"), Photo("diode", cluster="d"), Photo("capacitor", corrupt=True)])
    _run_both(crop, local, on_dask, str(local.crop.out), cluster)


def _photo(seed: int) -> Image.Image:
    im = Image.new("RGB", (128, 128), (250, 250, 250))
    d = ImageDraw.Draw(im)
    d.rectangle((10 + seed * 13 % 40, 30, 70 + seed * 7 % 40, 90), fill=(30 + seed * 40 % 200, 60, 120))
    return im


def test_dedup_on_dask_equals_local_pool(tmp_path: Path, cluster: Any) -> None:
    local, on_dask = _pair(tmp_path, cluster)
    for p in (local, on_dask):
        base = _photo(1)
        write_crawl(
            p.path(p.crawl.out),
            [
                FakeImage("orig", base, "PNG"),
                FakeImage("copy", base.resize((96, 96), Image.Resampling.LANCZOS), "JPEG", quality=70),
                *(FakeImage(f"part{i}", _photo(i), "PNG") for i in range(2, 8)),
                FakeImage("broken", data=b"\x89PNG\r\n\x1a\ntruncated", fmt="PNG"),
            ],
        )
    _run_both(dedup, local, on_dask, str(local.dedup.out), cluster)


@pytest.mark.slow
def test_triplets_on_dask_equals_local_pool(tmp_path: Path, cluster: Any) -> None:
    local, on_dask = _pair(tmp_path, cluster, {"triplets": {"strategy": "hybrid", "per_component": 2}})
    for p in (local, on_dask):
        write_components(p.path(p.crop.out), p.path(p.split.out), per_class=2,
                         classes={"resistor": "train", "diode": "train", "capacitor": "test", "relay": "test"})
    _run_both(triplets, local, on_dask, str(local.triplets.out), cluster)
