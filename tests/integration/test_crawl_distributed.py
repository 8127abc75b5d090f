"""Two crawl workers sharing a scrapy-redis queue on a real redis-server; one is SIGKILLed mid-way."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcbforge.config import load_params
from pcbforge.crawler.journal import read_rows
from pcbforge.pipelines import crawl
from tests.helpers.params import write_params
from tests.helpers.sites import LoggingSite, make_site

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on a free loopback port, no persistence, stopped after the test."""
    import redis

    # A failure, not a skip: a green run must not hide an untested scale-out path.
    assert shutil.which("redis-server"), "install the Debian package redis-server (`make test` does)"
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _overrides(url: str, concurrency: int, **crawl_extra) -> dict:
    return {
        "crawl": {
            "sources": [{"name": "shop", "start_urls": [url + "/index.html"], "allow_private": True}],
            "autothrottle": False,
            "concurrency": concurrency,
            "concurrency_per_domain": concurrency,
            **crawl_extra,
        }
    }


def test_two_workers_one_killed_union_equals_single_crawl(tmp_path: Path, redis_url: str) -> None:
    site = tmp_path / "site"
    products = make_site(site, classes=("resistor", "diode", "relay", "transistor"), per_class=15, per_page=3)
    # Slow images: an idle worker polls the shared queue on Scrapy's 5 s heartbeat, so the
    # crawl must last long enough for the second worker to join before one is killed.
    with LoggingSite(site, delay=0.25) as server:
        ref_root, root = tmp_path / "single", tmp_path / "workers"
        crawl.run(load_params(write_params(ref_root, _overrides(server.url, 16))))

        params_path = write_params(root, _overrides(server.url, 2, redis_url=redis_url, workers=2, idle_close=1.0))
        params = load_params(params_path)
        jobdir = params.path(params.crawl.jobdir)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pcbforge", "crawl", "-p", str(params_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t0 = time.monotonic()
        killed = None
        while time.monotonic() - t0 < 90 and killed is None:
            rows = {p.name: len(read_rows([p])) for p in jobdir.glob("journal-w*.jsonl")}
            # Kill a worker once both have stored something: the queue is really shared.
            if len(rows) == 2 and min(rows.values()) >= 1:
                victim = min(rows, key=rows.get).removeprefix("journal-").removesuffix(".jsonl")
                os.kill(int((jobdir / f"running-{victim}").read_text()), signal.SIGKILL)
                killed = victim
            assert proc.poll() is None, "crawl ended before a worker could be killed"
            time.sleep(0.05)
        assert killed, "both workers never got work from the shared queue"
        assert proc.wait(timeout=120) == 0

    out, ref = root / "data" / "raw", ref_root / "data" / "raw"
    assert (out / "images.parquet").read_bytes() == (ref / "images.parquet").read_bytes()
    files = {p.relative_to(out).as_posix() for p in (out / "files").rglob("*") if p.is_file()}
    assert len(files) == len(products)
    import redis

    assert not list(redis.Redis.from_url(redis_url).scan_iter("pcbforge:*"))  # shared keys cleaned up
