"""DVC stage ``quality``: measure every crawled image and flag junk, with the measured values.

Reads ``<crawl.out>/images.parquet`` and writes ``<quality.out>/quality.parquet``; measurements are
kept in ``quality.cache`` by content hash, so a re-run measures only new images. Flagged images
stay ``ok`` (the review stage decides which flags drop an image, ``review.drop_quality_flags``);
unreadable files are ``error``; crawl rejects stay, marked as such.
"""

from __future__ import annotations

import logging

from pcbforge.cache import ResultCache
from pcbforge.clean.quality import assess_with_cache
from pcbforge.config import Params
from pcbforge.datasets.manifest import MANIFEST_NAMES, read_manifest, to_frame, write_manifest
from pcbforge.io import staged_dir
from pcbforge.parallel import executor
from pcbforge.vocab import QualityFlag, Status

log = logging.getLogger(__name__)


def run(params: Params, **options: object) -> str:
    """Run the stage; return a one-line summary."""
    q = params.quality
    crawl_dir = params.path(params.crawl.out)
    manifest = crawl_dir / MANIFEST_NAMES["crawl"]
    df = read_manifest(manifest, "crawl", require=("id", "sha256", "path", "status"))
    ok = df[(df["status"] == Status.OK.value) & df["path"].notna()]
    files = {i: (sha, crawl_dir / str(path)) for i, sha, path in zip(ok["id"], ok["sha256"], ok["path"])}
    cache_path = params.path(q.cache)
    cache = ResultCache.load(cache_path)
    results, fresh = assess_with_cache(files, q, cache, workers=executor(params.base), root=params.root)
    if cache.dirty:
        cache.save(cache_path)
    log.info("measured %d new images, %d from cache %s", fresh, len(files) - fresh, cache_path)
    rows = []
    for r in df.to_dict("records"):
        if r["id"] in results:
            rec = results[r["id"]]
            if rec["error"] is not None:
                log.info("skipped %s: %s", r["id"], rec["error"])
                rows.append({"id": r["id"], **rec, "status": Status.ERROR.value})
            else:
                rows.append({"id": r["id"], **rec, "status": Status.OK.value})
        else:
            reason = r.get("error") or r["status"]
            if r["status"] == Status.OK.value:
                rows.append({"id": r["id"], "flags": QualityFlag.UNREADABLE.value, "status": Status.ERROR.value,
                             "error": "crawl row has no file path"})
            else:
                rows.append({"id": r["id"], "flags": "", "status": r["status"], "error": f"crawl: {reason}"})
    # Column types come from the declared schema.
    out_df = to_frame(rows, stage="quality")
    out = params.path(q.out)
    with staged_dir(out) as tmp:
        write_manifest(out_df, tmp / MANIFEST_NAMES["quality"], stage="quality")
    flagged = int((out_df["flags"].fillna("") != "").sum())
    counts = {}
    for f in out_df["flags"].fillna(""):
        for name in filter(None, f.split(",")):
            counts[name] = counts.get(name, 0) + 1
    detail = ", ".join(f"{k} {counts[k]}" for k in sorted(counts)) or "none"
    return f"{len(out_df)} images, {flagged} flagged ({detail}; {fresh} newly measured) -> {out / MANIFEST_NAMES['quality']}"
