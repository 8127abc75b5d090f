"""Dedup benchmark: hashing throughput and dedup total vs imagededup, and all-pairs search vs blockwise numpy.

Part 1 (images): a planted set (tests/helpers/planted.py) of shop-sized JPEG photos is written as
a real crawl output. We time our hashing on ``--workers`` processes (one reduced decode per
image) and the whole ``pcbforge dedup`` stage (fresh cache), then imagededup's
``PHash.encode_images`` + ``find_duplicates`` on the same files in the same run, and compare
pair recall/precision on the planted copies. imagededup runs in its own venv
(``--imagededup-python``, default ``<repo>/.venv-peers/bin/python`` as `make bench` builds it),
since it is not a pcbforge dependency.

Part 1b (siblings, ``--series``): the catalog sibling set (``tests/helpers/planted.py::series_set``:
catalog photos, each with six copies a crawl meets (resized, JPEG q35, cropped 3 %, brighter,
watermarked, mirrored) and two sibling products of its series (one printed value or colour band
changed)) plus the look-alike set above. The stage runs with the shipped defaults; precision and
recall of *true copy pairs* are printed for what it drops, and for what it drops or flags for
review, next to imagededup PHash (threshold 10) on the same files, and the time ratio.

Part 2 (all-pairs): random 64-bit hashes, threshold 10: multi-index hashing
(``pairs_mih``) vs a blockwise XOR + ``np.bitwise_count`` baseline on the same hashes. Up to
``--full-baseline-max`` (100k) the baseline runs whole and its pairs must equal MIH's; for
larger N it is timed on a sample of row blocks and extrapolated (it is exact and
uniform per row, so the cost is linear in rows scanned); the ratio is printed.

Usage:
    python benchmarks/bench_dedup.py --families 100 --sizes 100000 1000000 --workers 2
    python benchmarks/bench_dedup.py --series 30 --lookalikes 30 --families 0 --sizes --repeat 1   # siblings only
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pcbforge.clean.hashing import hash_files  # noqa: E402
from pcbforge.clean.neighbors import pairs_blockwise, pairs_mih  # noqa: E402
from tests.helpers.crawl_fixture import FakeImage, write_crawl  # noqa: E402
from tests.helpers.params import tiny_params  # noqa: E402
from tests.helpers.planted import pair_scores, planted_set, series_set  # noqa: E402

IMAGEDEDUP_SCRIPT = r"""
import json, sys, time, types
try:
    import torch  # noqa: F401
except ImportError:  # PHash never touches torch; imagededup imports it for its CNN only: stand-ins
    from unittest import mock
    import scipy.stats, sklearn.metrics.pairwise  # noqa: E401 (before the stand-ins: scipy probes torch)
    for m in ("torch", "torch.nn", "torch.utils", "torch.utils.data", "torchvision", "torchvision.transforms",
              "torchvision.models", "torchvision.models.vision_transformer"):
        sys.modules[m] = mock.MagicMock()
from imagededup.methods import PHash
d, workers = sys.argv[1], int(sys.argv[2])
ph = PHash(verbose=False)
t0 = time.perf_counter()
enc = ph.encode_images(image_dir=d, recursive=True, num_enc_workers=workers)
t1 = time.perf_counter()
dups = ph.find_duplicates(encoding_map=enc, max_distance_threshold=10, num_dist_workers=workers)
t2 = time.perf_counter()
json.dump({"encode_s": t1 - t0, "search_s": t2 - t1, "n": len(enc), "dups": dups}, sys.stdout)
"""


def planted_crawl(families: int, size: int, workers: int) -> tuple[Any, pd.DataFrame, dict[str, str]]:
    """A project in a temp dir whose crawl output holds the planted set as shop JPEGs.

    Returns ``(params, crawl manifest, family by image name)``.
    """
    root = Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    (root / "review").mkdir()
    params = tiny_params(root, {"base": {"workers": workers}})
    images, family = planted_set(families, seed=7, size=size)
    # Shops serve JPEG: re-encode originals and PNG copies as JPEG q90 so decode cost is realistic.
    images = [FakeImage(**{**im.__dict__, "fmt": "JPEG", "quality": im.quality if im.fmt == "JPEG" else 90})
              for im in images]
    return params, write_crawl(params.path(params.crawl.out), images), family


def bench_images(families: int, size: int, workers: int, idd_python: str, repeat: int) -> dict:
    """Time hashing and the whole stage against imagededup PHash on one planted set; print and return it.

    Returns:
        ``n`` images, ``files`` (sha256 -> path, kept on disk for further timings), the dedup
        ``cfg``, ours (``hash_s``, ``total_s``, ``recall``, ``precision``) and, when imagededup
        ran, ``idd`` (``encode_s``, ``core_s`` = encode + find_duplicates, ``recall``, ``precision``).
    """
    params, crawl, family = planted_crawl(families, size, workers)
    name = {r.id: r.image_url.rsplit("/", 1)[1] for r in crawl.itertuples()}
    files = {r.sha256: params.path(params.crawl.out) / r.path for r in crawl.itertuples()}
    n = len(files)
    print(f"images: {n} JPEG photos of {size}px ({families} families), workers={workers}")

    from pcbforge.pipelines import dedup

    # Best of ``repeat`` for every timing (ours and imagededup alike): the cores are shared.
    ours_hash = ours_total = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        hash_files(files, params.dedup, workers=workers, progress=False)  # what the stage hashes
        ours_hash = min(ours_hash, time.perf_counter() - t0)
        params.path(params.dedup.cache).unlink(missing_ok=True)  # the stage must hash everything again ...
        params.path(params.dedup.check_cache).unlink(missing_ok=True)  # ... and check every pair again
        t0 = time.perf_counter()
        dedup.run(params)
        ours_total = min(ours_total, time.perf_counter() - t0)
    out = pd.read_parquet(params.path(params.dedup.out) / "dedup.parquet")
    ours = pair_scores({name[r.id]: r.cluster for r in out.itertuples()}, family)
    print(f"pcbforge  hash {n / ours_hash:8.1f} img/s ({ours_hash:.2f} s)   dedup total {ours_total:.2f} s   "
          f"recall {ours['recall']:.3f} precision {ours['precision']:.3f}")
    result: dict = {"n": n, "files": files, "cfg": params.dedup, "hash_s": ours_hash, "total_s": ours_total,
                    "recall": ours["recall"], "precision": ours["precision"], "idd": None}

    if not Path(idd_python).exists():
        print(f"imagededup: {idd_python} not found (python3 -m venv /tmp/idd && /tmp/idd/bin/pip install imagededup)")
        return result
    res: dict = {}
    idd_total = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([idd_python, "-c", IMAGEDEDUP_SCRIPT, str(params.path(params.crawl.out) / "files"),
                               str(workers)], capture_output=True, text=True, check=False)
        idd_total = min(idd_total, time.perf_counter() - t0)
        if proc.returncode != 0:
            print("imagededup failed:", proc.stderr.strip().splitlines()[-1:])
            return result
        run = json.loads(proc.stdout)
        if not res or run["encode_s"] + run["search_s"] < res["encode_s"] + res["search_s"]:
            res = run
    # imagededup reports pairs within the threshold (no grouping): score those pairs directly.
    by_file = {Path(r.path).name: name[r.id] for r in crawl.itertuples()}
    by_file.update({str(Path(r.path).relative_to("files")): name[r.id] for r in crawl.itertuples()})
    pred = {tuple(sorted((by_file[a], by_file[b]))) for a, bs in res["dups"].items() for b in bs}
    truth = pair_scores(family, family)["truth_pairs"]
    true_pairs = {(a, b) for a in family for b in family if a < b and family[a] == family[b]}
    hit = len(pred & true_pairs)
    idd_recall, idd_precision = hit / max(1, truth), hit / max(1, len(pred))
    idd_core = res["encode_s"] + res["search_s"]
    print(f"imagededup hash {res['n'] / res['encode_s']:8.1f} img/s ({res['encode_s']:.2f} s)   "
          f"find_duplicates total {idd_core:.2f} s (process {idd_total:.2f} s)   "
          f"recall {idd_recall:.3f} precision {idd_precision:.3f}")
    print(f"ratio: hashing {res['encode_s'] / ours_hash:.2f}x faster, dedup total {idd_core / ours_total:.2f}x faster "
          f"(pcbforge total includes reading/writing manifests and the cache)")
    result["idd"] = {"encode_s": res["encode_s"], "core_s": idd_core, "process_s": idd_total,
                     "recall": idd_recall, "precision": idd_precision}
    return result


def _imagededup(idd_python: str, files_dir: Path, workers: int, repeat: int) -> dict | None:
    """Best of ``repeat`` imagededup PHash runs on ``files_dir`` (``None`` when unavailable)."""
    if not Path(idd_python).exists():
        print(f"imagededup: {idd_python} not found (python3 -m venv /tmp/idd && /tmp/idd/bin/pip install imagededup)")
        return None
    res: dict = {}
    for _ in range(repeat):
        proc = subprocess.run([idd_python, "-c", IMAGEDEDUP_SCRIPT, str(files_dir), str(workers)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print("imagededup failed:", proc.stderr.strip().splitlines()[-1:])
            return None
        run = json.loads(proc.stdout)
        if not res or run["encode_s"] + run["search_s"] < res["encode_s"] + res["search_s"]:
            res = run
    return res


def _pr(pred: set[tuple[str, str]], true_pairs: set[tuple[str, str]]) -> tuple[float, float]:
    hit = len(pred & true_pairs)
    return hit / max(1, len(true_pairs)), hit / max(1, len(pred))


def _cluster_pairs(groups: dict[str, str]) -> set[tuple[str, str]]:
    by: dict[str, list[str]] = {}
    for n in sorted(groups):
        by.setdefault(groups[n], []).append(n)
    return {(a, b) for m in by.values() for k, a in enumerate(m) for b in m[k + 1 :]}


def bench_series(series: int, families: int, workers: int, idd_python: str, repeat: int) -> None:
    """Sibling products + mirrored shots: P/R of true copy pairs, ours (drops; drops + flags) vs imagededup."""
    root = Path(tempfile.mkdtemp(prefix="bench-dedup-series-"))
    (root / "review").mkdir()
    params = tiny_params(root, {"base": {"workers": workers}})
    images, family = series_set(series, seed=3)
    if families:
        more, fam2 = planted_set(families, seed=7)
        images, family = images + more, {**family, **fam2}
    crawl = write_crawl(params.path(params.crawl.out), images)
    name = {r.id: r.image_url.rsplit("/", 1)[1] for r in crawl.itertuples()}
    true_pairs = {(a, b) for a in family for b in family if a < b and family[a] == family[b]}
    sib = sum("-sib" in n or "-alt-" in n for n in family)
    print(f"series set: {len(family)} images ({series} catalog series + {families} look-alike families; "
          f"{sib} siblings/look-alikes, {len(true_pairs)} true copy pairs), workers={workers}, shipped defaults")

    from pcbforge.pipelines import dedup

    ours_total = float("inf")
    for _ in range(repeat):
        params.path(params.dedup.cache).unlink(missing_ok=True)
        params.path(params.dedup.check_cache).unlink(missing_ok=True)
        t0 = time.perf_counter()
        dedup.run(params)
        ours_total = min(ours_total, time.perf_counter() - t0)
    out = pd.read_parquet(params.path(params.dedup.out) / "dedup.parquet")
    by_id = {r.id: r for r in out.itertuples()}
    dropped = _cluster_pairs({name[r.id]: r.cluster for r in out.itertuples()})
    found = _cluster_pairs({name[r.id]: (by_id[r.dup_of].cluster if r.dup_kind == "suspect" else r.cluster)
                            for r in out.itertuples()})
    flagged = int((out["dup_kind"] == "suspect").sum())
    r1, p1 = _pr(dropped, true_pairs)
    r2, p2 = _pr(found | dropped, true_pairs)
    print(f"pcbforge   dedup total {ours_total:7.2f} s   dropped: recall {r1:.3f} precision {p1:.3f}   "
          f"dropped or flagged ({flagged} flagged): recall {r2:.3f} precision {p2:.3f}")
    res = _imagededup(idd_python, params.path(params.crawl.out) / "files", workers, repeat)
    if res is None:
        return
    by_file = {Path(r.path).name: name[r.id] for r in crawl.itertuples()}
    by_file.update({str(Path(r.path).relative_to("files")): name[r.id] for r in crawl.itertuples()})
    pred = {tuple(sorted((by_file[a], by_file[b]))) for a, bs in res["dups"].items() for b in bs}
    r3, p3 = _pr(pred, true_pairs)
    idd_core = res["encode_s"] + res["search_s"]
    print(f"imagededup PHash t=10 {idd_core:7.2f} s   pairs within threshold: recall {r3:.3f} precision {p3:.3f}")
    print(f"time ratio pcbforge / imagededup: {ours_total / idd_core:.2f} (pcbforge runs the aligned pair check "
          f"on every candidate; imagededup only hashes)")


def _baseline_rows(args: tuple[np.ndarray, int, int, int]) -> float:
    h, start, stop, threshold = args
    t0 = time.perf_counter()
    pairs_blockwise(h[start:stop], h[start:], threshold=threshold)
    return time.perf_counter() - t0


def bench_pairs(n: int, threshold: int, workers: int, sample_rows: int, repeat: int, full_max: int) -> None:
    rng = np.random.default_rng(n)
    h = rng.integers(0, 2**64 - 1, size=(n, 1), dtype=np.uint64, endpoint=True)
    # Plant some near copies so there are real pairs to return.
    k = n // 100
    flips = rng.integers(0, 64, size=(k, 4))
    h[n - k :] = h[:k] ^ np.bitwise_or.reduce(np.uint64(1) << flips.astype(np.uint64), axis=1)[:, None]
    ours = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        i, j, d = pairs_mih(h, threshold=threshold, workers=workers)
        ours = min(ours, time.perf_counter() - t0)
    # Baseline: blockwise scan of the upper triangle. Up to ``full_max`` hashes it runs whole
    # (and must return MIH's pairs); above, row blocks spread evenly over the matrix (row r
    # scans n - r columns) are timed on ``sample_rows`` rows and scaled to all rows.
    if n <= max(sample_rows, full_max):
        t0 = time.perf_counter()
        bi, bj, bd = pairs_blockwise(h, threshold=threshold, block=512)
        base_1core = time.perf_counter() - t0
        if not (np.array_equal(bi, i) and np.array_equal(bj, j)):
            raise RuntimeError(f"n={n}: blockwise baseline and MIH return different pairs ({len(bi)} vs {len(i)})")
        how = "measured"
    else:
        starts = np.linspace(0, n - 512, max(1, sample_rows // 512)).astype(int)
        spent = min(sum(_baseline_rows((h, int(s), int(s) + 512, threshold)) for s in starts)
                    for _ in range(repeat))
        scanned = sum(n - int(s) for s in starts) * 512
        base_1core = spent * (n * (n - 1) / 2) / scanned
        how = f"extrapolated from {len(starts) * 512} rows"
    base = base_1core / workers  # credit the baseline with perfect scaling on the same cores
    print(f"all-pairs n={n:>9,} t={threshold}: MIH {ours:8.2f} s ({len(i)} pairs)   blockwise baseline "
          f"{base:9.2f} s on {workers} cores ({how})   ratio {base / ours:6.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", type=int, default=100, help="planted families (10 images each)")
    ap.add_argument("--size", type=int, default=800, help="photo side in pixels")
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000], help="random hash counts")
    ap.add_argument("--threshold", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample-rows", type=int, default=8192, help="baseline rows timed for large N")
    ap.add_argument("--full-baseline-max", type=int, default=100_000,
                    help="run the baseline whole (and compare its pairs) up to this many hashes")
    peers = ROOT / ".venv-peers" / "bin" / "python"
    ap.add_argument("--imagededup-python", default=os.environ.get("IMAGEDEDUP_PYTHON", str(peers)),
                    help="interpreter with imagededup installed (`make bench` builds .venv-peers)")
    ap.add_argument("--repeat", type=int, default=3, help="best-of-N timings (the 1M search runs once)")
    ap.add_argument("--skip-images", action="store_true")
    ap.add_argument("--series", type=int, default=40,
                    help="catalog series with siblings (Part 1b; 0 = skip)")
    ap.add_argument("--lookalikes", type=int, default=30, help="look-alike families added to the series set")
    args = ap.parse_args()
    if args.series:
        bench_series(args.series, args.lookalikes, args.workers, args.imagededup_python, args.repeat)
    if not args.skip_images and args.families:
        bench_images(args.families, args.size, args.workers, args.imagededup_python, args.repeat)
    for n in args.sizes:
        bench_pairs(n, args.threshold, args.workers, args.sample_rows, args.repeat if n <= 200_000 else 1,
                    args.full_baseline_max)


if __name__ == "__main__":
    multiprocessing.set_start_method("fork", force=True)
    main()
