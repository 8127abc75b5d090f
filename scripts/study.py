"""``make study``: the whole pipeline at the study's size in a workspace of its own, with a stage table.

The study this tool is built for: the built-in catalog scaled to ~18,400 crawled product
photos (``catalog.products_per_class`` 1450) and 100 boards (~16,700 components), training
capped at 4,000 triplets (``train.max_triplets``, the default). ``--scale`` shrinks the
catalog and the boards (0.1: a tenth, to check the command on a small machine).

The project's tracked files (and untracked ones git does not ignore) are copied to ``--dir``
(default ``build/study-<scale>``), made a git repository of their own with the study's
params.yaml, and every stage runs there with ``dvc repro --single-item <stage>``, in
``dvc.yaml`` order (each followed by ``dvc checkout --relink <stage>``), so your workspace,
its ``data/`` and its cache stay as they are. Per
stage the table gives its items (rows of its manifest, or triplets trained on), wall time
(DVC's hashing and caching included), items per second, peak resident memory summed over
the stage's processes (DVC, the stage, its pool workers; sampled every 0.2 s) and of its
largest process, the disk its outputs take, and the disk of the whole study after it
(``data/``, ``models/``, ``reports/`` and ``.dvc/cache``, a hard-linked file counted once).
The table is printed and written to ``<dir>/study.md``.

Usage:
    python scripts/study.py                # full study size (about half an hour on 2 cores)
    python scripts/study.py --scale 0.1    # a tenth
    python scripts/study.py --from triplets   # after changing params: re-run from a stage on
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pcbforge.config import load_params  # noqa: E402
from pcbforge.datasets.manifest import MANIFEST_NAMES  # noqa: E402

#: The study's size at ``--scale 1``.
STUDY = {"catalog": {"products_per_class": 1450, "boards": 100}}
#: Triplets per component in the study (not scaled). The shipped 2 (train) and 6 (val/test)
#: make ~66k triplets at study size, of which training takes 4,000 (``train.max_triplets``),
#: calibration 4,000 and evaluation 8,000: the rest cost 30 minutes and, with the WebDataset
#: shards that repeat them, ~5 GB of disk. One per component gives ~18.5k, every val/test one
#: of them scored (the study itself built 4,000 triplets from 18,303 photos).
STUDY_TRIPLETS = {"per_component": 1, "eval_per_component": 1}
MB = 1 << 20
ENV = {
    **os.environ,
    "FIFTYONE_DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "PYTHONHASHSEED": "0",
    "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "pcbforge-study"),
    "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "study@pcbforge.invalid"),
    "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "pcbforge-study"),
    "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "study@pcbforge.invalid"),
}


def study_params(scale: float) -> dict[str, Any]:
    """params.yaml of the study at ``scale``: the project's, with the catalog and boards scaled."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    cat = STUDY["catalog"]
    raw["catalog"]["products_per_class"] = max(2, round(cat["products_per_class"] * scale))
    raw["catalog"]["boards"] = max(2, round(cat["boards"] * scale))
    raw["triplets"].update(STUDY_TRIPLETS)
    return raw


def make_workspace(where: Path, params: dict[str, Any]) -> None:
    """Copy the project's files (not its data) to ``where`` as a fresh git + DVC repository."""
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file() and not rel.startswith(("data/", "models/", "reports/", "build/")):
            (where / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, where / rel)
    (where / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "study"]):
        subprocess.run(cmd, cwd=where, env=ENV, check=True, capture_output=True)


def disk(paths: list[Path]) -> int:
    """Bytes allocated under ``paths``, each inode once (hard links are not counted twice)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top in paths:
        if not top.exists():
            continue
        for dirpath, _dirs, names in os.walk(top):
            for name in [".", *names]:
                st = os.lstat(os.path.join(dirpath, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def run_stage(where: Path, stage: str) -> dict[str, float]:
    """``dvc repro -s stage`` in ``where``: wall seconds and peak RSS (summed, largest) in MB."""
    t0 = time.perf_counter()
    log = (where / "study-logs" / f"{stage}.log").open("w")
    # --relink: DVC 3 leaves an output a copy when its bytes were in the cache already (a
    # crawled file is its catalog image); relinking stores it once (docs/install.md#disk).
    cmd = f"dvc repro --single-item {stage} && dvc checkout --relink --quiet {stage}"
    proc = psutil.Popen(["sh", "-c", cmd], cwd=where, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    peak_sum = peak_one = 0
    while proc.poll() is None:
        try:
            procs = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        rss = []
        for p in procs:
            try:
                rss.append(p.memory_info().rss)
            except psutil.NoSuchProcess:
                pass
        peak_sum, peak_one = max(peak_sum, sum(rss)), max(peak_one, max(rss, default=0))
        time.sleep(0.2)
    log.close()
    if proc.returncode:
        raise SystemExit(f"stage {stage} failed (exit {proc.returncode}): see {where / 'study-logs' / (stage + '.log')}")
    return {"seconds": time.perf_counter() - t0, "rss_sum": peak_sum / MB, "rss_max": peak_one / MB}


def items_of(where: Path, stage: str, out: Path) -> int | None:
    """What a stage made: rows of its manifest (triplets trained on, for train)."""
    import pyarrow.parquet as pq

    if stage == "train" and (out / "train.json").is_file():
        return int(json.loads((out / "train.json").read_text()).get("n_triplets", 0))
    name = MANIFEST_NAMES.get(stage)
    path = out / name if name else None
    return pq.ParquetFile(path).metadata.num_rows if path is not None and path.is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the study's catalog and boards")
    ap.add_argument("--dir", type=Path, default=None, help="the study's workspace (default build/study-<scale>)")
    ap.add_argument("--from", dest="start", default=None, metavar="STAGE",
                    help="keep the workspace and re-run from STAGE on with this checkout's study params "
                         "(earlier rows are taken from its study.md; the cache is garbage-collected after each stage)")
    args = ap.parse_args()
    where = (args.dir or ROOT / "build" / f"study-{args.scale:g}").resolve()
    kept: dict[str, str] = {}
    if args.start is None:
        make_workspace(where, study_params(args.scale))
        (where / "study-logs").mkdir()
    else:
        if not (where / "dvc.lock").is_file():
            raise SystemExit(f"--from {args.start}: {where} holds no study run (no dvc.lock); run without --from first")
        old = (where / "study.md").read_text() if (where / "study.md").is_file() else ""
        kept = {line.split("|")[1].strip(): line for line in old.splitlines() if line.startswith("| ") and "---" not in line}
        (where / "params.yaml").write_text(yaml.safe_dump(study_params(args.scale), sort_keys=False))
    params = load_params(where / "params.yaml")
    stages = list(yaml.safe_load((where / "dvc.yaml").read_text())["stages"])
    if args.start is not None and args.start not in stages:
        raise SystemExit(f"--from {args.start}: not a stage of dvc.yaml ({', '.join(stages)})")
    first = stages.index(args.start) if args.start is not None else 0
    tracked = [where / d for d in ("data", "models", "reports", ".dvc/cache")]
    cat = params.catalog
    lines = [
        f"Study at scale {args.scale:g}: catalog.products_per_class {cat.products_per_class}, "
        f"catalog.boards {cat.boards}, triplets.per_component {params.triplets.per_component} "
        f"(val/test {params.triplets.eval_per_component}), train.max_triplets {params.train.max_triplets}, "
        f"base.workers {params.base.workers} on {os.cpu_count()} cores; "
        f"cache.type {subprocess.run(['dvc', 'config', 'cache.type'], cwd=where, env=ENV, capture_output=True, text=True).stdout.strip() or 'default'}",
        "",
        "| stage | items | wall (s) | items/s | peak RSS, all processes (MB) | peak RSS, largest process (MB) | outputs on disk (MB) | study on disk after (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    if first:
        lines[0] += f"; stages from {stages[first]} on re-run in the same workspace (`--from {stages[first]}`)"
    print("\n".join(lines), flush=True)
    total = 0.0
    for stage in stages[:first]:
        if stage in kept:
            total += float(kept[stage].split("|")[3])
            lines.append(kept[stage])
            print(kept[stage], flush=True)
    for stage in stages[first:]:
        r = run_stage(where, stage)
        if first:
            # The outputs this stage replaced stay in the cache until collected.
            subprocess.run(["dvc", "gc", "--workspace", "--force", "--quiet"], cwd=where, env=ENV, check=True)
        total += r["seconds"]
        out = params.path(getattr(params, stage).out)
        n = items_of(where, stage, out)
        rate = f"{n / r['seconds']:.1f}" if n else "-"
        row = (f"| {stage} | {n if n is not None else '-'} | {r['seconds']:.1f} | {rate} | {r['rss_sum']:.0f} | "
               f"{r['rss_max']:.0f} | {disk([out]) / MB:.0f} | {disk(tracked) / MB:.0f} |")
        lines.append(row)
        print(row, flush=True)
    tail = f"\nall stages: {total:.0f} s; study on disk: {disk(tracked) / MB:.0f} MB (data/, models/, reports/, .dvc/cache)"
    lines.append(tail)
    print(tail)
    (where / "study.md").write_text("\n".join(lines) + "\n")
    print(f"table: {where / 'study.md'}")


if __name__ == "__main__":
    main()
