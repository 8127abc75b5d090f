"""Benchmark: images stored per second by the Scrapy crawl vs a plain concurrent downloader.

Builds a loopback catalog site of N images (default 2,000 noise photos of 64x48 in
jpg/png/webp; tests/helpers/sites.py, the built-in catalog's HTML contract), serves it
from ONE separate server process on 127.0.0.1 that every contender uses, and measures in
the same run, each contender a fresh process (interpreter and imports included):

* ``baseline``: ThreadPoolExecutor + requests (keep-alive sessions) fetching the image
  URL list and writing each body to ``<sha256>.<ext>`` (no validation, no journal);
* ``crawler urls``: the real crawl (pcbforge.crawler worker: ``urls`` spider on the SAME
  URL list, robots.txt, private-address/offsite checks, retries, every validation pipeline,
  content-addressed atomic store, journal), AutoThrottle off and on;
* ``crawler urls, 2 workers``: the same with ``crawl.workers: 2`` (each worker process a
  fixed share of the list, half the concurrency each: one per core);
* ``site baseline``: a bare threaded crawler (ThreadPoolExecutor + requests + parsel, same
  thread count) doing the full catalog crawl's pages (index, categories, pagination,
  products, the default selectors) and its image validation (content type, max_bytes,
  Pillow open + max_pixels + full decode, min_side, sha256, duplicate drop), writing
  ``<sha[:2]>/<sha256>.<ext>``; no robots.txt, journal or manifest;
* ``crawler site, 1 worker``: the real full catalog crawl (``catalog`` spider, JOBDIR,
  AutoThrottle off), run right after the site baseline in every round.

The ratio crawler/baseline of images/s is the figure of merit (issue 3: >= 200 images/s
and >= 0.7 of the baseline with validation on). Each contender runs ``--repeat`` times,
interleaved; the median is printed. "wall" counts from process start to exit, "steady"
from the first to the last stored file.

The server (``--server fast``, default) is a small asyncio HTTP/1.1 keep-alive server with
the site in memory, so neither side is limited by the server; ``--server stdlib`` uses
``http.server`` (threaded, HTTP/1.0, a connection per request) instead.

The site pair is issue 15's figure: the median over rounds of (crawler site img/s) /
(site baseline img/s), each round's two runs back to back so they share that moment's
machine load; the last line says whether it is >= 0.5 ("target met"). ``--site-only``
runs just that pair, ``--no-site`` everything else.

The URL-list line checks the target for ``--target-workers`` (default 2, the setting for a
2-core machine): that contender's median images/s (wall) >= 200 and wall ratio >= 0.7,
printed as "target met" or "target NOT met" with the numbers.

Run: ``python benchmarks/bench_crawl.py [--images 2000] [--threads 16] [--repeat 3] [--target-workers 2]
[--site-only | --no-site]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import mimetypes
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLASSES = ("resistor", "diode", "relay", "transistor", "capacitor", "heat_sink", "converter", "smd_diode")

#: Issue 3's target, validation on: images stored per second (wall) and ratio to the baseline.
TARGET_RATE, TARGET_RATIO = 200.0, 0.7
#: The contender whose numbers the target is checked on, by crawl worker count (AutoThrottle
#: off), also its label in the printed table.
TARGET_CONTENDER = {1: "crawler urls (Scrapy, validation, AT off)", 2: "crawler urls, 2 workers (AT off)"}
URL_BASELINE = "baseline (threads+requests, no validation)"
#: Issue 15's target: the single-worker full-site crawl against a bare threaded crawler
#: fetching the same pages and images with the same image validation, wall-clock ratio.
SITE_TARGET_RATIO = 0.5
SITE_BASELINE = "site baseline (threads+requests+parsel, validation)"
SITE_CONTENDER = "crawler site, 1 worker (pages+images, AT off)"


def site_line(ratio: float, pairs: list[float]) -> str:
    """The verdict on issue 15's target: median over rounds of crawler site / site baseline (wall).

    Example:
        >>> site_line(0.61, [0.6, 0.61, 0.65])
        'site, 1 worker: wall ratio 0.61 (rounds 0.60 0.61 0.65) (>= 0.5): target met'
    """
    rounds = " ".join(f"{r:.2f}" for r in pairs)
    met = ratio >= SITE_TARGET_RATIO
    return (f"site, 1 worker: wall ratio {ratio:.2f} (rounds {rounds}) (>= {SITE_TARGET_RATIO:g}):"
            f" target {'met' if met else 'NOT met'}")


def target_line(workers: int, rate: float, ratio: float) -> str:
    """The verdict on issue 3's target for the contender with ``workers`` crawl workers.

    Example:
        >>> target_line(2, 512.3, 0.93)
        'workers 2: 512.3 img/s wall (>= 200) and wall ratio 0.93 (>= 0.7): target met'
        >>> target_line(1, 327.0, 0.59)
        'workers 1: 327.0 img/s wall (>= 200) and wall ratio 0.59 (>= 0.7): target NOT met'
    """
    met = rate >= TARGET_RATE and ratio >= TARGET_RATIO
    return (f"workers {workers}: {rate:.1f} img/s wall (>= {TARGET_RATE:g}) and wall ratio {ratio:.2f}"
            f" (>= {TARGET_RATIO:g}): target {'met' if met else 'NOT met'}")


# --- the server ------------------------------------------------------------------------------
def serve_fast(root: Path, port: int) -> None:
    """Serve every file under ``root`` from memory, HTTP/1.1 keep-alive, until killed."""
    files: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            body = p.read_bytes()
            ctype = "image/webp" if p.suffix == ".webp" else mimetypes.guess_type(p.name)[0] or "text/plain"
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
            files["/" + p.relative_to(root).as_posix()] = head.encode() + body
    missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                head, self.buf = self.buf[:end], self.buf[end + 4 :]
                line = head.split(b"\r\n", 1)[0].split(b" ")
                path = line[1].decode("latin-1").split("?", 1)[0] if len(line) > 1 else "/"
                self.t.write(files.get(path, missing))
                if b"connection: close" in head.lower() or line[-1] == b"HTTP/1.0":
                    self.t.close()
                    return

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Proto, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(main())


def start_server(kind: str, site: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if kind == "fast":
        cmd = [sys.executable, __file__, "--serve", str(site), "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, base
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("benchmark server did not start")


# --- contenders -------------------------------------------------------------------------------
def baseline_main(url_file: Path, out: Path, threads: int) -> None:
    """Body of the baseline process: fetch every URL, write ``<sha256>.<ext>``."""
    import threading

    import requests

    urls = url_file.read_text().split()
    out.mkdir(parents=True, exist_ok=True)
    local = threading.local()

    def fetch(url: str) -> bool:
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        r = session.get(url, timeout=20)
        if r.status_code != 200:
            return False
        sha = hashlib.sha256(r.content).hexdigest()
        (out / f"{sha}.{url.rsplit('.', 1)[1]}").write_bytes(r.content)
        return True

    with ThreadPoolExecutor(threads) as ex:
        n = sum(ex.map(fetch, urls))
    print(n)


def site_baseline_main(start: str, out: Path, threads: int, max_bytes: int, max_pixels: int, min_side: int) -> None:
    """Body of the bare site crawler: the catalog crawl's pages and image validation, no framework.

    ThreadPoolExecutor + requests (a keep-alive session per thread): breadth-first from
    ``start`` over category links, pagination and product links (parsel, the built-in
    catalog's default CSS selectors, each page once), then every product image once, with
    the crawl's validation: content type ``image/*``, ``max_bytes``, Pillow open restricted
    to the accepted formats, ``max_pixels`` from the header, full decode, ``min_side``,
    sha256, exact-duplicate drop; the file is written as ``<sha[:2]>/<sha256>.<ext>``.
    Prints the number of images stored. No robots.txt, no journal, no manifest row.
    """
    import io
    import threading
    from concurrent.futures import FIRST_COMPLETED, wait
    from urllib.parse import urljoin

    import requests
    from parsel import Selector
    from PIL import Image

    exts = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}
    local = threading.local()
    lock = threading.Lock()
    seen_sha: set[str] = set()
    made: set[Path] = set()

    def get(url: str) -> requests.Response:
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        return session.get(url, timeout=20)

    def page(url: str) -> list[tuple[str, str]]:
        r = get(url)
        if r.status_code != 200:
            return []
        sel = Selector(text=r.text)
        links = [(urljoin(url, h.strip()), "page") for key in ("a.category::attr(href)", "a[rel~=next]::attr(href)",
                                                              "a.product::attr(href)") for h in sel.css(key).getall()]
        imgs = [(urljoin(url, s.strip()), "image") for s in sel.css("img.product-image::attr(src)").getall()]
        # What the crawl reads besides the links: label and text fields of the product page.
        for key in ("span.category::attr(data-slug)", "span.licence::text, span.license::text", "span.author::text",
                    "h1.title::text, [itemprop=name]::text"):
            sel.css(key).get()
        return links + imgs

    def image(url: str) -> list[tuple[str, str]]:
        r = get(url)
        body = r.content
        ctype = r.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if r.status_code != 200 or not (ctype.startswith("image/") or ctype in ("", "application/octet-stream")):
            return []
        if len(body) > max_bytes:
            return []
        try:
            with Image.open(io.BytesIO(body), formats=tuple(exts)) as img:
                w, h = img.size
                if w * h > max_pixels:
                    return []
                img.load()
                fmt = img.format
        except Exception:
            return []
        if min(w, h) < min_side:
            return []
        sha = hashlib.sha256(body).hexdigest()
        with lock:
            if sha in seen_sha:
                return []
            seen_sha.add(sha)
        d = out / sha[:2]
        if d not in made:
            d.mkdir(parents=True, exist_ok=True)
            made.add(d)
        (d / f"{sha}.{exts[fmt]}").write_bytes(body)
        return [("", "stored")]

    seen = {start}
    stored = 0
    with ThreadPoolExecutor(threads) as ex:
        pending = {ex.submit(page, start)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                for url, kind in f.result():
                    if kind == "stored":
                        stored += 1
                    elif url not in seen:
                        seen.add(url)
                        pending.add(ex.submit(page if kind == "page" else image, url))
    print(stored)


def _steady(out: Path) -> float:
    times = sorted(p.stat().st_mtime for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    return times[-1] - times[0] if len(times) > 1 else float("nan")


def run_baseline(urls: list[str], work: Path, threads: int) -> tuple[int, float, float]:
    out = work / "baseline"
    shutil.rmtree(out, ignore_errors=True)
    url_file = work / "urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--baseline-worker", str(url_file), str(out), str(threads)],
                         check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    return int(res.stdout.split()[-1]), wall, _steady(out)


def run_site_baseline(start: str, work: Path, threads: int) -> tuple[int, float, float]:
    from pcbforge.config import CrawlParams

    out = work / "site-baseline"
    shutil.rmtree(out, ignore_errors=True)
    c = CrawlParams()
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--site-baseline-worker", start, str(out), str(threads),
                          str(c.max_bytes), str(c.max_pixels), str(c.min_side)],
                         check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    return int(res.stdout.split()[-1]), wall, _steady(out)


def run_crawler(source: dict, work: Path, concurrency: int, autothrottle: bool, workers: int = 1) -> tuple[int, float, float]:
    from pcbforge.config import CrawlParams
    from pcbforge.crawler.journal import read_rows
    from pcbforge.crawler.runner import CrawlJob, finalize_rows

    out, jobdir = work / "crawl", work / "job"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(jobdir, ignore_errors=True)
    crawl = CrawlParams(concurrency=concurrency, concurrency_per_domain=concurrency, autothrottle=autothrottle)
    job = CrawlJob(out=out, jobdir=jobdir, crawl=crawl.model_dump(mode="json"), sources=[source])
    job.prepare()
    t0 = time.perf_counter()
    shards = [None] if workers == 1 else [(i, workers) for i in range(workers)]
    procs = [job.start_worker(f"s{i}", shard=sh, stderr=subprocess.DEVNULL) for i, sh in enumerate(shards)]
    assert all(p.wait() == 0 for p in procs), "crawl worker failed"
    wall = time.perf_counter() - t0
    rows = finalize_rows(read_rows(job.journals()))
    n = sum(r["status"] == "ok" for r in rows)
    assert len(rows) == len(source["start_urls"]) or source["spider"] != "urls", "rows lost or duplicated"
    return n, wall, _steady(out / "files")


def url_pair(images: int, threads: int, repeat: int, workers: int = 2, server: str = "fast") -> dict[str, float]:
    """The URL-list pair alone: the plain downloader and the crawl (``workers`` processes, AT off).

    Same loopback site, same server, same URL list; the two run back to back in each of
    ``repeat`` rounds. Returns the images stored by each and their median images/s (wall).
    """
    from tests.helpers.sites import make_site

    per_class = -(-images // len(CLASSES))
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        work = Path(tmp)
        products = make_site(work / "site", classes=CLASSES, per_class=per_class, per_page=50)
        proc, base = start_server(server, work / "site")
        urls = [f"{base}/img/{p.file}" for p in products]
        src = {"name": "bench", "spider": "urls", "start_urls": urls, "allow_private": True,
               "allowed_domains": ["127.0.0.1"], "licence_allow": [], "class_map": {}, "selectors": {},
               "sitemap": False}
        ours, peer = [], []
        try:
            for _ in range(repeat):
                peer.append(run_baseline(urls, work, threads))
                ours.append(run_crawler(src, work, max(1, threads // workers), False, workers))
        finally:
            proc.terminate()
            proc.wait()
    return {"images": len(urls), "ours_stored": min(n for n, _, _ in ours), "peer_stored": min(n for n, _, _ in peer),
            "ours_rate": statistics.median(n / w for n, w, _ in ours),
            "peer_rate": statistics.median(n / w for n, w, _ in peer)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=16, help="baseline threads = crawler concurrency")
    ap.add_argument("--repeat", type=int, default=3, help="runs per contender (median reported)")
    ap.add_argument("--server", choices=("fast", "stdlib"), default="fast")
    ap.add_argument("--no-site", action="store_true", help="skip the full-site pair")
    ap.add_argument("--site-only", action="store_true", help="run only the full-site pair")
    ap.add_argument("--target-workers", type=int, choices=sorted(TARGET_CONTENDER), default=2,
                    help="crawl worker count whose contender the URL-list target check reports")
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--baseline-worker", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--site-baseline-worker", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve_fast(args.serve, args.port)
    if args.baseline_worker:
        f, o, t = args.baseline_worker
        return baseline_main(Path(f), Path(o), int(t))
    if args.site_baseline_worker:
        u, o, t, mb, mp, ms = args.site_baseline_worker
        return site_baseline_main(u, Path(o), int(t), int(mb), int(mp), int(ms))
    if args.no_site and args.site_only:
        ap.error("--no-site and --site-only exclude each other")

    from tests.helpers.sites import make_site

    per_class = -(-args.images // len(CLASSES))
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        work = Path(tmp)
        products = make_site(work / "site", classes=CLASSES, per_class=per_class, per_page=50)
        server, base = start_server(args.server, work / "site")
        common = {"allow_private": True, "allowed_domains": ["127.0.0.1"], "licence_allow": [], "class_map": {},
                  "selectors": {}, "sitemap": False}
        urls = [f"{base}/img/{p.file}" for p in products]
        url_src = {"name": "bench", "spider": "urls", "start_urls": urls, **common}
        site_src = {"name": "bench", "spider": "catalog", "start_urls": [base + "/index.html"], **common}
        contenders = {}
        if not args.site_only:
            contenders = {
                URL_BASELINE: lambda: run_baseline(urls, work, args.threads),
                TARGET_CONTENDER[1]: lambda: run_crawler(url_src, work, args.threads, False),
                "crawler urls (Scrapy, validation, AT on)": lambda: run_crawler(url_src, work, args.threads, True),
                TARGET_CONTENDER[2]: lambda: run_crawler(url_src, work, args.threads // 2, False, 2),
            }
        if not args.no_site:
            contenders[SITE_BASELINE] = lambda: run_site_baseline(base + "/index.html", work, args.threads)
            contenders[SITE_CONTENDER] = lambda: run_crawler(site_src, work, args.threads, False)
        runs: dict[str, list[tuple[int, float, float]]] = {k: [] for k in contenders}
        try:
            for _ in range(args.repeat):
                for name, fn in contenders.items():
                    runs[name].append(fn())
        finally:
            server.terminate()
            server.wait()
    print(f"{len(products)} images, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, concurrency {args.threads},"
          f" server {args.server}, median of {args.repeat}")
    med = {k: (min(n for n, _, _ in v), statistics.median(n / w for n, w, _ in v),
               statistics.median(n / s for n, _, s in v)) for k, v in runs.items()}
    for name, (n, wall, steady) in med.items():
        # Each contender against the baseline doing the same work: the URL list's or the site's.
        _, base_wall, base_steady = med[SITE_BASELINE if name.startswith(("site", "crawler site")) else URL_BASELINE]
        print(f"  {name:48s} {n:5d} stored  {wall:7.1f} img/s wall  {steady:7.1f} img/s steady"
              f"  ratio {wall / base_wall:.2f} (steady {steady / base_steady:.2f})")
    print(json.dumps({k: [[n, round(w, 2), round(s, 2)] for n, w, s in v] for k, v in runs.items()}))
    if not args.site_only:
        _, wall, _ = med[TARGET_CONTENDER[args.target_workers]]
        print(target_line(args.target_workers, wall, wall / med[URL_BASELINE][1]))
    if not args.no_site:
        assert med[SITE_CONTENDER][0] == med[SITE_BASELINE][0], "the site pair stored different numbers of images"
        # Rounds run the pair back to back, so each round's ratio shares that moment's load.
        pairs = [(c[0] / c[1]) / (b[0] / b[1]) for b, c in zip(runs[SITE_BASELINE], runs[SITE_CONTENDER])]
        print(site_line(statistics.median(pairs), pairs))


if __name__ == "__main__":
    main()
