"""Two crawl workers sharing a scrapy-redis queue on a real redis-server; one is SIGKILLed mid-way."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
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

        mark = len(server.log)  # the reference crawl's requests end here
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
        # The stage starts the sweep only after both workers have exited, and writes its config
        # before starting it: every request logged before that file's mtime is w0's or w1's.
        sweep_cfg = jobdir / "worker-sweep.json"
        while not sweep_cfg.exists():
            assert proc.poll() is None, "no sweep after a worker was killed"
            assert time.monotonic() - t0 < 120, "the surviving worker never finished"
            time.sleep(0.02)
        sweep_start = sweep_cfg.stat().st_mtime
        workers = {w: read_rows([jobdir / f"journal-{w}.jsonl"]) for w in ("w0", "w1")}  # final: both exited
        assert proc.wait(timeout=120) == 0
        before_sweep = [path for t, path in server.log[mark:] if t < sweep_start]

    # The final sweep would hide broken sharing (two workers each crawling everything, or a
    # sweep crawling it all, give the same union), so check the workers' own requests.
    # Bound: 0 images fetched twice before the sweep. Every page request goes through the
    # shared redis dupe filter, so each product page is parsed by one worker and each image
    # request is created once, pushed to the shared queue and popped by one worker. The killed
    # worker's in-flight requests (at most its `concurrency` of 2 downloads, plus fetched
    # responses still in its pipelines) are not re-queued: scrapy-redis pops without an
    # acknowledgement, so only the sweep fetches them again, after `sweep_start`. No request
    # here is retried (no 5xx, no timeouts). Without sharing, the survivor would fetch again
    # every image the victim had already stored (at least one: the kill waited for it).
    fetched = Counter(path for path in before_sweep if path.startswith("/img/"))
    assert fetched and not {p: n for p, n in fetched.items() if n > 1}, "an image was fetched twice"
    # The work really was shared: each worker stored images, and never the same one.
    stored = {w: {r["image_url"] for r in rows if r["status"] == "ok"} for w, rows in workers.items()}
    assert stored["w0"] and stored["w1"], {w: len(u) for w, u in stored.items()}
    assert not stored["w0"] & stored["w1"]

    out, ref = root / "data" / "raw", ref_root / "data" / "raw"
    assert (out / "images.parquet").read_bytes() == (ref / "images.parquet").read_bytes()
    files = {p.relative_to(out).as_posix() for p in (out / "files").rglob("*") if p.is_file()}
    assert len(files) == len(products)
    import redis

    assert not list(redis.Redis.from_url(redis_url).scan_iter("pcbforge:*"))  # shared keys cleaned up
