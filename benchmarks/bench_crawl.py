"""Benchmark: images stored per second by the Scrapy crawl vs a plain concurrent downloader.

Builds a loopback catalog site of N images (default 2,000; tests/helpers/sites.py, same
HTML contract as the built-in catalog), serves it from a separate process on 127.0.0.1,
and in the same run measures

* ``crawler``: the real crawl (pcbforge.crawler worker process: robots.txt, pages,
  validation pipelines, content-addressed store, journal), AutoThrottle off and on;
* ``baseline``: ThreadPoolExecutor + requests fetching the same image URL list directly
  (no pages, no validation) and writing each body to ``<sha256>.<ext>``.

It prints images/s for each and the ratio crawler/baseline (the figure of merit; the
issue's target is >= 200 images/s and >= 0.7 of the baseline with validation on).
Rates are over the whole run including process start ("wall") and over the storing phase
("steady", first to last file written).

Run: ``python benchmarks/bench_crawl.py [--images 2000] [--threads 16]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from pcbforge.config import CrawlParams  # noqa: E402
from pcbforge.crawler.journal import read_rows  # noqa: E402
from pcbforge.crawler.runner import CrawlJob  # noqa: E402
from tests.helpers.sites import make_site  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _steady(out: Path) -> float:
    times = sorted(p.stat().st_mtime for p in out.rglob("*") if p.is_file())
    return times[-1] - times[0] if len(times) > 1 else float("nan")


def bench_crawler(base: str, work: Path, concurrency: int, autothrottle: bool) -> tuple[int, float, float]:
    out, jobdir = work / f"crawl-{autothrottle}", work / f"job-{autothrottle}"
    crawl = CrawlParams(concurrency=concurrency, concurrency_per_domain=concurrency, autothrottle=autothrottle)
    source = {"name": "bench", "spider": "catalog", "start_urls": [base + "/index.html"], "allow_private": True,
              "allowed_domains": ["127.0.0.1"], "licence_allow": [], "class_map": {}, "selectors": {}, "sitemap": False}
    job = CrawlJob(out=out, jobdir=jobdir, crawl=crawl.model_dump(mode="json"), sources=[source])
    job.prepare()
    t0 = time.perf_counter()
    proc = job.start_worker("main", stderr=subprocess.DEVNULL)
    assert proc.wait() == 0
    wall = time.perf_counter() - t0
    n = sum(r["status"] == "ok" for r in read_rows(job.journals()))
    return n, wall, _steady(out / "files")


def bench_baseline(urls: list[str], work: Path, threads: int) -> tuple[int, float, float]:
    out = work / "baseline"
    out.mkdir()
    local = __import__("threading").local()

    def fetch(url: str) -> bool:
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        r = session.get(url, timeout=20)
        if r.status_code != 200:
            return False
        sha = hashlib.sha256(r.content).hexdigest()
        (out / f"{sha}.{url.rsplit('.', 1)[1]}").write_bytes(r.content)
        return True

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        n = sum(ex.map(fetch, urls))
    return n, time.perf_counter() - t0, _steady(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=16, help="baseline threads = crawler concurrency")
    args = ap.parse_args()
    classes = ("resistor", "diode", "relay", "transistor", "capacitor", "heat_sink", "converter", "smd_diode")
    per_class = -(-args.images // len(classes))
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        work = Path(tmp)
        site = work / "site"
        products = make_site(site, classes=classes, per_class=per_class, per_page=50)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(base + "/robots.txt", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        try:
            urls = [f"{base}/img/{p.file}" for p in products]
            results = {
                "baseline (threads+requests, no validation)": bench_baseline(urls, work, args.threads),
                "crawler (Scrapy, validation, autothrottle off)": bench_crawler(base, work, args.threads, False),
                "crawler (Scrapy, validation, autothrottle on)": bench_crawler(base, work, args.threads, True),
            }
        finally:
            server.terminate()
            server.wait()
    print(f"{len(products)} images, {os.cpu_count()} CPUs, concurrency {args.threads}")
    base_n, base_wall, base_steady = next(iter(results.values()))
    for name, (n, wall, steady) in results.items():
        print(f"  {name:48s} {n:5d} stored  {n / wall:7.1f} img/s wall  {n / steady:7.1f} img/s steady"
              f"  ratio {(n / wall) / (base_n / base_wall):.2f} (steady {(n / steady) / (base_n / base_steady):.2f})")
    print(json.dumps({k: {"stored": v[0], "wall_s": round(v[1], 2), "steady_s": round(v[2], 2)} for k, v in results.items()}))


if __name__ == "__main__":
    main()
