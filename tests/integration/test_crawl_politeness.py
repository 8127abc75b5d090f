"""Politeness settings reach the real crawl: per-domain concurrency and retries with backoff.

Each test crawls a ``urls`` source against :class:`~tests.helpers.fault_server.ScriptedServer`
on 127.0.0.1, which counts the requests it is answering at once and times every request.
Timing assertions are lower bounds and ratios with slack (a loaded 2-core machine only
adds delay), never exact durations.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pcbforge.pipelines import crawl
from tests.helpers.fault_server import ScriptedServer
from tests.helpers.params import tiny_params
from tests.helpers.sites import photo_bytes

pytestmark = pytest.mark.slow


def _params(root: Path, urls: list[str], **crawl_params):
    source = {"name": "list", "spider": "urls", "start_urls": urls, "allow_private": True, "licence_allow": []}
    return tiny_params(root, {"crawl": {"sources": [source], **crawl_params}})


@pytest.mark.parametrize("per_domain", [2, 4])
def test_per_domain_concurrency_caps_in_flight_requests(tmp_path: Path, per_domain: int) -> None:
    files = {f"/img/p{i:02d}.png": ("image/png", photo_bytes(200 + i, "png")) for i in range(24)}
    with ScriptedServer(files, delay=0.05) as server:
        # Global concurrency far above the per-domain value: only the per-domain setting can hold it.
        params = _params(tmp_path, [server.url + p for p in files], concurrency=16,
                         concurrency_per_domain=per_domain, autothrottle=False)
        crawl.run(params)
        seen = server.max_in_flight
    df = pd.read_parquet(params.path(params.crawl.out) / "images.parquet")
    assert (df["status"] == "ok").sum() == len(files)
    assert seen == per_domain, f"max in-flight {seen}, concurrency_per_domain {per_domain}"


def test_retry_backoff_grows_and_gives_up_after_retries(tmp_path: Path) -> None:
    base = 0.25
    files = {"/img/flaky.png": ("image/png", photo_bytes(301, "png")),
             "/img/down.png": ("image/png", photo_bytes(302, "png"))}
    script = {"/img/flaky.png": [503, 503, 200], "/img/down.png": [500]}
    with ScriptedServer(files, script) as server:
        params = _params(tmp_path, [server.url + p for p in files], retries=3, retry_backoff=base,
                         autothrottle=False)
        crawl.run(params)
        flaky_gaps, down_gaps = server.gaps("/img/flaky.png"), server.gaps("/img/down.png")
        hits = {p: len(t) for p, t in server.hits.items()}
    df = pd.read_parquet(params.path(params.crawl.out) / "images.parquet").set_index("image_url")

    flaky = df.loc[server.url + "/img/flaky.png"]
    assert flaky["status"] == "ok" and pd.isna(flaky["error"])
    assert hits["/img/flaky.png"] == 3  # 503, 503, 200
    down = df.loc[server.url + "/img/down.png"]
    assert down["status"] == "error" and down["error"].startswith("http_500"), down["error"]
    assert hits["/img/down.png"] == 3 + 1  # the first try and crawl.retries retries

    # Backoff base * 2**(n-1) before retry n: every gap is at least its backoff ...
    for gaps in (flaky_gaps, down_gaps):
        for n, gap in enumerate(gaps, 1):
            assert gap >= 0.9 * base * 2 ** (n - 1), (n, gaps)
    # ... and the gaps grow (nominally x2; x1.4 leaves room for scheduling noise).
    for gaps in (flaky_gaps, down_gaps):
        assert all(b >= 1.4 * a for a, b in zip(gaps, gaps[1:])), gaps
