"""One benchmark table: every per-image stage against the peer a user would otherwise pick.

Each row runs ours and the peer in this one run, on the same inputs, with the stage's own
benchmark script (reused, not copied):

* **dedup** vs imagededup ``PHash`` (``bench_dedup.bench_images``: a planted set of JPEG
  photos, the whole stage with a fresh cache vs ``encode_images`` + ``find_duplicates``;
  recall of the planted copy pairs must be equal or better);
* **hash, Dask 2 vs 1**: hashing the same photos on a local Dask cluster of two worker
  processes vs one (:func:`pcbforge.clean.hashing.hash_files` on ``base.executor: dask``);
* **triplets** (every defect kind) vs a bare albumentations loop (``bench_defects``);
* **crawl** vs a plain concurrent downloader (threads + requests) on the same 127.0.0.1
  site (``bench_crawl.url_pair``);
* **crop** vs bare decoding of the same board photos (``bench_crop.measure``).

Prints one table (stage, ours items/s, peer items/s, ratio, target, met?) and writes it with
versions and machine facts to ``reports/bench.md`` (and the numbers to ``reports/bench.json``).

``--scaling`` adds the scaling run: dedup and triplets at each ``--scaling-sizes`` N
(synthetic images), each stage in a fresh process, wall time and peak RSS of all its
processes (``bench_memory.measure``), and dedup's time against N log N. A run replaces
only the sections it measured; the other section of the report is kept as it was.

Usage:
    python benchmarks/bench_all.py                          # the table (make bench)
    python benchmarks/bench_all.py --quick                  # small inputs, one repeat (make bench BENCH_QUICK=1)
    python benchmarks/bench_all.py --scaling-only --scaling-sizes 1000 10000 100000   # make bench-scaling
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import itertools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

#: Issue 14's targets, as the least ratio ours / peer of items per second.
TARGETS = {"dedup": 5.0, "hash": 1.6, "triplets": 0.5, "crawl": 0.7, "crop": 1 / 1.5}
#: Triplet generation must stay under this peak (all processes) at 100k triplets.
TRIPLETS_PEAK_MB = 1536.0
VERSIONED = ("numpy", "pillow", "torch", "albumentations", "dask", "distributed")


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table: ours and the peer on the same inputs in the same run.

    Attributes:
        stage: what ran (with its item).
        peer: what it ran against.
        items: how many items each side processed.
        ours: our items per second.
        peer_rate: the peer's items per second (None: the peer could not run).
        target: the least ``ours / peer_rate`` that meets the target.
        also: a further condition of the target (e.g. recall), with whether it holds.
        note: what else a reader needs (inputs, workers, recall).
    """

    stage: str
    peer: str
    items: int
    ours: float
    peer_rate: float | None
    target: float
    also: tuple[str, bool] | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.peer_rate else self.ours / self.peer_rate

    @property
    def met(self) -> bool | None:
        """Whether the target holds; None when the peer did not run."""
        if self.ratio is None:
            return None
        return self.ratio >= self.target and (self.also is None or self.also[1])


@dataclasses.dataclass(frozen=True)
class ScalingRow:
    """One stage at one size: wall time and peak resident memory (MB) of all its processes."""

    stage: str
    n: int
    seconds: float
    peak_main_mb: float
    peak_sum_mb: float


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}" if x < 10 else f"{x:.1f}"


def format_table(rows: Sequence[Row]) -> str:
    """The benchmark table as Markdown (also what is printed).

    Example:
        >>> print(format_table([Row("dedup", "imagededup PHash", 100, 50.0, 10.0, 5.0)]))
        | stage | peer | items | ours items/s | peer items/s | ratio | target | met? | note |
        |---|---|---:|---:|---:|---:|---:|---|---|
        | dedup | imagededup PHash | 100 | 50.0 | 10.0 | 5.00 | >= 5.00 | yes |  |
    """
    out = ["| stage | peer | items | ours items/s | peer items/s | ratio | target | met? | note |",
           "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        target = f">= {r.target:.2f}" + (f" and {r.also[0]}" if r.also else "")
        met = {None: "n/a", True: "yes", False: "**no**"}[r.met]
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}"
        out.append(f"| {r.stage} | {r.peer} | {r.items} | {_fmt(r.ours)} | {_fmt(r.peer_rate)} | {ratio} | {target} "
                   f"| {met} | {r.note} |")
    return "\n".join(out)


def nlogn_ratio(n0: int, t0: float, n: int, t: float) -> float:
    """Growth of time from ``n0`` to ``n`` over the growth of ``N log N``: <= 1 is no worse than N log N.

    Example:
        >>> round(nlogn_ratio(10, 1.0, 100, 20.0), 3)
        1.0
    """
    return (t / t0) / ((n * math.log(n)) / (n0 * math.log(n0)))


def format_scaling(rows: Sequence[ScalingRow]) -> str:
    """The scaling run as Markdown: per stage and N, time, rate, peaks, and the targets' columns.

    Dedup's ``vs N log N`` is :func:`nlogn_ratio` against the stage's previous size (<= 1:
    no worse than N log N); triplets' ``peak`` check is the sum over processes against
    :data:`TRIPLETS_PEAK_MB`, and ``x smallest`` is its peak over the smallest N's (flat: ~1).

    Example:
        >>> print(format_scaling([ScalingRow("dedup", 1000, 2.0, 100, 150), ScalingRow("dedup", 10000, 30.0, 120, 170)]))
        | stage | N | seconds | items/s | peak main MB | peak all MB | x smallest | vs N log N | target met? |
        |---|---:|---:|---:|---:|---:|---:|---:|---|
        | dedup | 1000 | 2.00 | 500 | 100 | 150 | 1.00 |  |  |
        | dedup | 10000 | 30.0 | 333 | 120 | 170 | 1.13 | 1.12 | **no** |
    """
    out = ["| stage | N | seconds | items/s | peak main MB | peak all MB | x smallest | vs N log N | target met? |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    first: dict[str, ScalingRow] = {}
    prev: dict[str, ScalingRow] = {}
    for r in rows:
        base = first.setdefault(r.stage, r)
        growth, met = "", ""
        if r.stage == "dedup" and r.stage in prev:
            g = nlogn_ratio(prev[r.stage].n, prev[r.stage].seconds, r.n, r.seconds)
            growth, met = f"{g:.2f}", "yes" if g <= 1.0 else "**no**"
        if r.stage == "triplets":
            met = "yes" if r.peak_sum_mb <= TRIPLETS_PEAK_MB else "**no**"
        out.append(f"| {r.stage} | {r.n} | {_fmt(r.seconds)} | {r.n / r.seconds:,.0f} | {r.peak_main_mb:,.0f} "
                   f"| {r.peak_sum_mb:,.0f} | {r.peak_sum_mb / base.peak_sum_mb:.2f} | {growth} | {met} |")
        prev[r.stage] = r
    return "\n".join(out)


def render_report(doc: dict[str, Any]) -> str:
    """``reports/bench.md`` from what :func:`main` keeps in ``reports/bench.json``.

    ``doc`` has, each when measured, ``table`` and ``scaling``: ``{"rows": [...], "command": str,
    "when": str, "load": [start, end], "versions": {...}, "machine": {...}}`` (each section keeps
    the facts of the run that measured it: a later run of the other section does not change them).

    Example:
        >>> text = render_report({"table": {"rows": [dataclasses.asdict(Row("crop", "decode", 3, 1.0, 2.0, 0.5))],
        ...     "command": "make bench", "when": "today", "load": [1.0, 2.0], "versions": {"python": "3.11"},
        ...     "machine": {"cores": 2}}})
        >>> "| crop | decode | 3 | 1.00 | 2.00 | 0.50 | >= 0.50 | yes |  |" in text
        True
    """
    out = ["# Benchmarks", "", "Written by `benchmarks/bench_all.py` (docs/benchmarks.md says what each row measures)."]
    for key, title, fmt, cls in (("table", "Throughput against the peers", format_table, Row),
                                 ("scaling", "Scaling", format_scaling, ScalingRow)):
        sec = doc.get(key)
        if not sec:
            continue
        rows = [cls(**{k: tuple(v) if k == "also" and v else v for k, v in r.items()}) for r in sec["rows"]]
        out += ["", f"## {title}", "",
                f"`{sec['command']}`, {sec['when']}, load average (1 min) {sec['load'][0]:.1f} at start, "
                f"{sec['load'][1]:.1f} at end.", "",
                "Versions: " + ", ".join(f"{k} {v}" for k, v in sec["versions"].items()) + ".", "",
                "Machine: " + ", ".join(f"{k} {v}" for k, v in sec["machine"].items()) + ".", "", fmt(rows)]
    return "\n".join(out) + "\n"


# --- facts about the run ----------------------------------------------------------------------
def versions(idd_python: str | None) -> dict[str, str]:
    """Versions of Python, the libraries the rows use, and imagededup (from its own venv)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    out["imagededup"] = "absent"
    if idd_python and Path(idd_python).exists():
        proc = subprocess.run([idd_python, "-c", "from importlib.metadata import version; print(version('imagededup'))"],
                              capture_output=True, text=True, check=False)
        out["imagededup"] = proc.stdout.strip() or "absent"
    return out


def machine() -> dict[str, str]:
    import psutil

    cpu = platform.processor() or platform.machine()
    return {"cpu": cpu, "cores": str(os.cpu_count()), "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
            "os": platform.platform(terse=True)}


# --- the rows ---------------------------------------------------------------------------------
def dedup_rows(args: Namespace) -> tuple[list[Row], dict]:
    from benchmarks.bench_dedup import bench_images

    m = bench_images(args.families, args.photo_size, args.workers, args.imagededup_python, args.repeat)
    idd = m["idd"]
    also = None
    note = f"{args.photo_size}px JPEG, {args.workers} workers, fresh cache; recall {m['recall']:.3f}"
    if idd:
        also = (f"recall >= peer's {idd['recall']:.3f}", m["recall"] >= idd["recall"])
        note += f" vs {idd['recall']:.3f}, precision {m['precision']:.3f} vs {idd['precision']:.3f}"
    row = Row("dedup (whole stage)", "imagededup PHash (encode + find_duplicates)", m["n"], m["n"] / m["total_s"],
              m["n"] / idd["core_s"] if idd else None, TARGETS["dedup"], also, note)
    return [row], m


@contextlib.contextmanager
def _dask_cluster(n: int) -> Iterator[str]:
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def hash_row(files: dict[str, Path], cfg: Any, repeat: int) -> Row:
    """Hashing the same files on a running local Dask cluster of 2 worker processes vs 1."""
    from pcbforge.clean.hashing import hash_files
    from pcbforge.parallel import Executor
    from pcbforge.vocab import ExecutorKind

    rate: dict[int, float] = {}
    warm = dict(list(sorted(files.items()))[:8])
    for n in (1, 2):
        with _dask_cluster(n) as address:
            # workers=2 only keeps the map off the inline path: slots come from the cluster's threads.
            ex = Executor(ExecutorKind.DASK, 2, address)
            hash_files(warm, cfg, ex, progress=False)  # workers import pcbforge before the clock
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                hash_files(files, cfg, ex, progress=False)
                best = min(best, time.perf_counter() - t0)
            rate[n] = len(files) / best
    return Row("hash, Dask 2 workers", "the same, Dask 1 worker", len(files), rate[2], rate[1], TARGETS["hash"],
               note="running LocalCluster, 1 thread per worker; cluster start not timed")


def triplets_row(args: Namespace) -> Row:
    from benchmarks.bench_defects import measure

    m = measure(args.triplets, args.repeat, crop_size=128)
    return Row("triplets (every defect kind)", "albumentations CoarseDropout + Affine loop", m["triplets"],
               m["triplets"] / m["ours_s"], m["peer_items"] / m["peer_s"], TARGETS["triplets"],
               note=f"{m['kinds']} defect kinds drawn, 128px crops, 1 process each, same PNG encoder")


def crawl_row(args: Namespace) -> Row:
    from benchmarks.bench_crawl import url_pair

    m = url_pair(args.images, args.threads, args.repeat, workers=2)
    return Row("crawl (Scrapy, validation, 2 workers)", "threads + requests, no validation", m["images"],
               m["ours_rate"], m["peer_rate"], TARGETS["crawl"],
               note=f"127.0.0.1 site, {args.threads} concurrent requests, wall from process start, median; "
                    f"stored {m['ours_stored']} vs {m['peer_stored']}")


def crop_row(args: Namespace) -> Row:
    from benchmarks.bench_crop import measure, synthetic

    tmp = Path(tempfile.mkdtemp(prefix="bench-all-crop-"))
    try:
        src = synthetic(tmp / "boards", args.boards, (1920, 1080), 40)
        m = measure(src, tmp / "out", 128, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t, n = m["t"], m["boards"]
    return Row("crop (board photos)", "bare decoding (PIL open + load)", n, n / t["crop"], n / t["decode"],
               TARGETS["crop"], note=f"1920x1080 JPEG, 40 boxes a board, 1 process; decode + PIL crop/resize "
                                     f"of every box: {n / t['decode_cut']:.1f}/s")


# --- scaling ----------------------------------------------------------------------------------
def _synthetic_photos(n: int, size: int) -> Iterator[Any]:
    """``n`` distinct JPEG crawl images, made lazily, in groups of ten: one part photo with two
    near copies (resized, JPEG q30) and seven other parts (a crawl with a fifth near duplicates)."""
    import hashlib

    from tests.helpers.crawl_fixture import FakeImage, encode
    from tests.helpers.planted import planted_set

    seen: set[str] = set()
    for f in itertools.count():
        family, _ = planted_set(1, seed=f, size=size, copies=("resize", "jpeg30"), lookalikes=())
        others, _ = planted_set(7, seed=1_000_000 + f, size=size, copies=(), lookalikes=())
        for k, im in enumerate(family + others):
            data = encode(im.image, "JPEG", im.quality if im.fmt == "JPEG" else 90)
            sha = hashlib.sha256(data).hexdigest()
            if sha in seen:  # the crawl stores each content once
                continue
            seen.add(sha)
            yield FakeImage(**{**im.__dict__, "fmt": "JPEG", "data": data, "name": f"g{f:06d}-{k}-{im.name}"})
            if len(seen) == n:
                return


def scaling_rows(sizes: Sequence[int], workers: int, photo_size: int) -> list[ScalingRow]:
    """Dedup and triplets at each size, each a fresh process (``bench_memory.measure``)."""
    from benchmarks.bench_memory import measure, prepare_triplets
    from pcbforge.config import load_params
    from tests.helpers.crawl_fixture import write_crawl
    from tests.helpers.params import write_params

    rows: list[ScalingRow] = []
    for stage in ("dedup", "triplets"):
        for n in sizes:
            work = Path(tempfile.mkdtemp(prefix=f"bench-scaling-{stage}-{n}-"))
            try:
                if stage == "dedup":
                    (work / "review").mkdir()
                    params = write_params(work, {"base": {"workers": workers}})
                    crawl_out = load_params(params).path(load_params(params).crawl.out)
                    write_crawl(crawl_out, _synthetic_photos(n, photo_size))  # type: ignore[arg-type]
                else:
                    params, n = prepare_triplets(work, n, Namespace(distinct=49, crop_size=64, workers=workers))
                r = measure(stage, params, 0.05)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(f"scaling {stage} N={n}: {r['seconds']:.1f} s, peak main {r['main']:.0f} MB, all {r['sum']:.0f} MB"
                  f"  | {r['summary']}", flush=True)
            rows.append(ScalingRow(stage, n, r["seconds"], r["main"], r["sum"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small inputs and one repeat (a minute or two)")
    ap.add_argument("--workers", type=int, default=2, help="dedup's base.workers")
    ap.add_argument("--repeat", type=int, default=3, help="best (or median) of this many runs per side")
    ap.add_argument("--families", type=int, default=100, help="dedup: planted families of 10 photos")
    ap.add_argument("--photo-size", type=int, default=800, help="dedup: photo side (px)")
    ap.add_argument("--triplets", type=int, default=2000, help="triplets: how many")
    ap.add_argument("--images", type=int, default=2000, help="crawl: images on the site")
    ap.add_argument("--threads", type=int, default=16, help="crawl: concurrent requests on each side")
    ap.add_argument("--boards", type=int, default=20, help="crop: board photos")
    peers = ROOT / ".venv-peers" / "bin" / "python"
    ap.add_argument("--imagededup-python", default=os.environ.get("IMAGEDEDUP_PYTHON", str(peers)))
    ap.add_argument("--only", nargs="+", choices=sorted(TARGETS), default=sorted(TARGETS),
                    help="rows to measure (hash needs dedup's photos: it runs with dedup)")
    ap.add_argument("--scaling", action="store_true", help="also run the scaling section")
    ap.add_argument("--scaling-only", action="store_true", help="run only the scaling section")
    ap.add_argument("--scaling-sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--scaling-photo-size", type=int, default=256, help="dedup scaling: photo side (px)")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bench.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat, args.families, args.photo_size = 1, 20, 400
        args.triplets, args.images, args.boards = 200, 500, 4

    store = args.out.with_suffix(".json")
    doc = json.loads(store.read_text()) if store.exists() else {}
    facts = {"versions": versions(args.imagededup_python), "machine": machine()}
    command = " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])

    def now() -> str:
        return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")

    def section(rows: list[Any], started: str, load0: float) -> dict[str, Any]:
        return {"rows": [dataclasses.asdict(r) for r in rows], "command": command, "when": f"started {started}",
                "load": [load0, os.getloadavg()[0]], **facts}

    if not args.scaling_only:
        started, load0 = now(), os.getloadavg()[0]
        rows: list[Row] = []
        if "dedup" in args.only:
            dedup, m = dedup_rows(args)
            rows += dedup
        elif "hash" in args.only:  # the same photos, without running the dedup stage on them
            from benchmarks.bench_dedup import planted_crawl

            params, crawl, _ = planted_crawl(args.families, args.photo_size, args.workers)
            m = {"files": {r.sha256: params.path(params.crawl.out) / r.path for r in crawl.itertuples()},
                 "cfg": params.dedup}
        if "hash" in args.only:
            rows.append(hash_row(m["files"], m["cfg"], args.repeat))
        for key, fn in (("triplets", triplets_row), ("crawl", crawl_row), ("crop", crop_row)):
            if key in args.only:
                rows.append(fn(args))
        doc["table"] = section(rows, started, load0)
        print(format_table(rows))
    if args.scaling or args.scaling_only:
        started, load0 = now(), os.getloadavg()[0]
        srows = scaling_rows(args.scaling_sizes, args.workers, args.scaling_photo_size)
        doc["scaling"] = section(srows, started, load0)
        print(format_scaling(srows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(doc, indent=1) + "\n")
    args.out.write_text(render_report(doc))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
