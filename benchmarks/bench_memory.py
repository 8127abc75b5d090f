"""Memory benchmark: peak RSS of ``catalog`` and ``triplets`` at a small and a large size.

Each stage runs as the CLI runs it (``pipelines.<stage>.run``) in a fresh process; a sampler
here reads the resident memory of that process and of every pool worker it starts (psutil,
every ``--interval`` s) and keeps three peaks: the stage's main process, the largest single
worker, and the sum over all of them at one instant. The peer is the same stage at the
smaller size, measured in the same run: the figure is ``large / small`` of each peak (aim:
flat, about 1.0, while the item count grows 5-10x). What may grow is the rows a stage keeps
for its manifest (a few hundred bytes each, in the main process); images must not.

* ``catalog --sizes 20000 100000``: about that many shop images (products, duplicates, junk)
  plus ``--boards`` boards, at ``--photo-size`` px (the study's 256 by default; a smaller
  side makes the large size quicker and changes what an image weighs, not what is kept).
* ``triplets --sizes 10000 100000``: that many triplets (``per_component`` 2) from synthetic
  components: ``--distinct`` drawn parts (tests/helpers/components_fixture.py) repeated under
  new ids, so every component is its own manifest row and pool entry while the disk holds
  a few dozen crops; triplets are written at ``--crop-size`` px.

Usage:
    python benchmarks/bench_memory.py catalog --sizes 20000 100000 --workers 2
    python benchmarks/bench_memory.py triplets --sizes 10000 100000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

MB = 1 << 20


def _params(work: Path, over: dict[str, Any]) -> Path:
    from tests.helpers.params import deep_merge

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw = deep_merge(raw, over)
    path = work / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def prepare_catalog(work: Path, n: int, args: argparse.Namespace) -> tuple[Path, int]:
    """params.yaml for about ``n`` shop images; return it and the exact image count."""
    # Products per class p give 12 p products, 0.15 of them again as duplicates, plus junk.
    per_class = max(1, round(n / (12 * 1.15)))
    junk = max(6, n // 200)
    over = {
        "base": {"workers": args.workers},
        "catalog": {"products_per_class": per_class, "junk_images": junk, "boards": args.boards,
                    "photo_size": [args.photo_size, args.photo_size]},
    }
    images = 12 * per_class + round(0.15 * 12 * per_class) + junk + 2 + args.boards
    return _params(work, over), images


def prepare_triplets(work: Path, n: int, args: argparse.Namespace) -> tuple[Path, int]:
    """A fake crop + split output with ``n / 2`` components; params.yaml for 2 triplets each."""
    from pcbforge.io import stable_id
    from tests.helpers.components_fixture import CLASS_SPLIT, write_components
    from tests.helpers.fake_project import write_rows

    crop_out, split_out = work / "data/crop", work / "data/split"
    seed = write_components(crop_out, None, per_class=max(1, args.distinct // len(CLASS_SPLIT)), size=args.crop_size)
    seed_rows = seed.to_dict("records")
    comps, splits = [], []
    for k in range(n // 2):
        r = dict(seed_rows[k % len(seed_rows)])
        r["id"] = stable_id("bench-component", k)
        r["group"] = r["parent_id"] = f"board-{k // 8}"
        comps.append(r)
        splits.append({"id": r["id"], "class_label": r["class_label"], "group": r["group"],
                       "split": CLASS_SPLIT[r["class_label"]], "origin": "board", "status": "ok", "error": None})
    write_rows("crop", comps, crop_out)
    write_rows("split", splits, split_out)
    # Two triplets per component in every split (val/test get eval_per_component, 6, by default),
    # so that N triplets are N.
    over = {"base": {"workers": args.workers, "image_size": args.crop_size},
            "triplets": {"per_component": 2, "eval_per_component": None}}
    return _params(work, over), 2 * len(comps)


def pool_context(params: Path) -> dict[str, float]:
    """What a triplets worker receives once, whatever it then draws: the candidate pools.

    Measured without running the stage (cheap at any size): the pools' pickled size, and the
    resident memory they add to a fresh process that unpickles them (what each worker holds).
    """
    import pickle

    from pcbforge.config import load_params
    from pcbforge.datasets.triplets import pools_by_split
    from pcbforge.pipelines.triplets import load_components

    blob = params.parent / "pools.pickle"
    blob.write_bytes(pickle.dumps(pools_by_split(load_components(load_params(params)))))
    code = (
        "import pickle, sys, psutil; p = psutil.Process(); import pcbforge.datasets.triplets; "
        "r = p.memory_info().rss; x = pickle.loads(open(sys.argv[1], 'rb').read()); "
        "print((p.memory_info().rss - r) / 2**20)"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    held = float(subprocess.run([sys.executable, "-c", code, str(blob)], env=env, check=True,
                                capture_output=True, text=True).stdout)
    return {"pickled": blob.stat().st_size / MB, "held": held}


def measure(stage: str, params: Path, interval: float) -> dict[str, float]:
    """Run ``stage`` on ``params`` in a fresh process; its wall time and peak RSS (MB)."""
    code = (
        "import sys; from pcbforge.config import load_params; from pcbforge.logs import configure; "
        "import importlib; configure(30); "
        f"print(importlib.import_module('pcbforge.pipelines.{stage}').run(load_params(sys.argv[1]), progress=False))"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "PYTHONHASHSEED": "0"}
    t0 = time.perf_counter()
    proc = psutil.Popen([sys.executable, "-c", code, str(params)], cwd=params.parent, env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    main = worker = total = 0
    workers: set[int] = set()
    while proc.poll() is None:
        try:
            rss_main = proc.memory_info().rss
            kids = proc.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        s = rss_main
        for c in kids:
            try:
                r = c.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            workers.add(c.pid)
            worker, s = max(worker, r), s + r
        main, total = max(main, rss_main), max(total, s)
        time.sleep(interval)
    out = proc.stdout.read().strip() if proc.stdout else ""
    if proc.returncode:
        raise SystemExit(f"{stage} failed (exit {proc.returncode}); run it by hand on {params}")
    return {"seconds": time.perf_counter() - t0, "main": main / MB, "worker": worker / MB,
            "sum": total / MB, "workers": len(workers), "summary": out}  # type: ignore[dict-item]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["catalog", "triplets"])
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="images (catalog) or triplets")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--boards", type=int, default=20, help="catalog: boards at every size")
    ap.add_argument("--photo-size", type=int, default=256, help="catalog: photo side in px")
    ap.add_argument("--distinct", type=int, default=49, help="triplets: distinct drawn parts")
    ap.add_argument("--crop-size", type=int, default=64, help="triplets: crop side in px")
    ap.add_argument("--interval", type=float, default=0.05, help="RSS sampling period (s)")
    ap.add_argument("--pools-only", type=int, nargs="*", default=[],
                    help="triplets: at these sizes only measure the pools a worker holds (no stage run)")
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    sizes = args.sizes or ([20000, 100000] if args.stage == "catalog" else [10000, 100000])
    prepare = prepare_catalog if args.stage == "catalog" else prepare_triplets
    results = []
    for n in [] if args.pools_only and args.sizes is None else sizes:
        work = Path(tempfile.mkdtemp(prefix=f"bench-memory-{args.stage}-{n}-"))
        try:
            params, items = prepare(work, n, args)
            r = measure(args.stage, params, args.interval)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        r["items"] = items
        results.append(r)
        print(f"{args.stage} {items:>7} items: {r['seconds']:7.1f} s ({items / r['seconds']:6.1f}/s), "
              f"peak RSS main {r['main']:6.0f} MB, largest worker {r['worker']:6.0f} MB "
              f"({r['workers']} child processes: pool workers and multiprocessing's resource tracker), all processes {r['sum']:6.0f} MB  | {r['summary']}", flush=True)
    if args.stage == "triplets":
        for n in sorted({*sizes, *args.pools_only}):
            work = Path(tempfile.mkdtemp(prefix=f"bench-memory-pools-{n}-"))
            try:
                params, items = prepare(work, n, args)
                c = pool_context(params)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(f"pools for {items:>7} triplets ({items // 2} components): {c['pickled']:6.1f} MB pickled, "
                  f"{c['held']:6.1f} MB held by each worker ({c['held'] * MB / (items // 2) / 1024:.2f} KiB per component)",
                  flush=True)
    if not results:
        return
    small, large = results[0], results[-1]
    if len(results) > 1:
        grow = large["items"] / small["items"]
        print(f"{grow:.1f}x the items: peak RSS x{large['main'] / small['main']:.2f} main, "
              f"x{large['worker'] / max(small['worker'], 1):.2f} per worker, x{large['sum'] / small['sum']:.2f} summed")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
