"""DVC stage ``dedup``: hash crawled images (cached by sha256) and mark exact and near duplicates.

Reads ``<crawl.out>/images.parquet`` and writes ``<dedup.out>/dedup.parquet`` with one row per
crawl row: kept images are ``ok``; dropped duplicates are ``rejected`` with the image they
duplicate and the distances; unreadable files are ``error``; crawl rejects stay, marked as such.
"""

from __future__ import annotations

import logging

import pandas as pd

from pcbforge.clean.dedup import find_duplicates
from pcbforge.cache import map_cached
from pcbforge.clean.hashing import (
    COMPARE_SIDE,
    CheckCache,
    HashCache,
    compare_config,
    compare_record,
    hash_with_cache,
    inspect_config,
    inspect_file,
    pair_key,
)
from pcbforge.config import Params
from pcbforge.datasets.manifest import MANIFEST_NAMES, read_manifest, to_frame, write_manifest
from pcbforge.io import staged_dir
from pcbforge.parallel import executor
from pcbforge.vocab import Status

log = logging.getLogger(__name__)


def run(params: Params, **options: object) -> str:
    """Run the stage; return a one-line summary."""
    p = params.dedup
    kinds = [k.value for k in p.hashes]  # DedupParams checks there are two, none repeated
    crawl_dir = params.path(params.crawl.out)
    manifest = crawl_dir / MANIFEST_NAMES["crawl"]
    df = read_manifest(manifest, "crawl", require=("id", "sha256", "path", "status"))
    # Per-image work (hashes, full decodes, aligned checks) goes where base.executor says; the
    # pair search works on the hash arrays in memory and stays in this machine's pool.
    ex = executor(params.base)

    ok = df[df["status"] == Status.OK.value]
    files = {sha: crawl_dir / str(path) for sha, path in zip(ok["sha256"], ok["path"]) if isinstance(path, str)}
    cache_path = params.path(p.cache)
    cache = HashCache.load(cache_path)
    records, fresh = hash_with_cache(files, p, cache, workers=ex, root=params.root)
    if cache.dirty:
        cache.save(cache_path)
    log.info("hashed %d new images, %d from cache %s", fresh, len(files) - fresh, cache_path)

    rows: list[dict] = []
    good: list[dict] = []
    for r in df.to_dict("records"):
        base = {"id": r["id"], "sha256": r["sha256"], "width": r["width"], "height": r["height"]}
        if r["status"] != Status.OK.value:
            rows.append({**base, "keep": False, "status": r["status"],
                         "error": f"crawl: {r['error'] or r['status']}"})
            continue
        rec = records.get(r["sha256"]) if isinstance(r["path"], str) else None
        if rec is None or rec["error"] is not None:
            reason = rec["error"] if rec is not None else "crawl row has no file path"
            log.info("skipped %s: %s", r["id"], reason)
            rows.append({**base, "keep": False, "status": Status.ERROR.value, "error": reason})
            continue
        w = r["width"] if pd.notna(r["width"]) else rec["width"]
        h = r["height"] if pd.notna(r["height"]) else rec["height"]
        good.append({**r, "width": w, "height": h, **rec["hashes"]})

    gdf = pd.DataFrame(good)
    path_of = {r["id"]: str(crawl_dir / str(r["path"])) for r in good}
    sha_of = {r["id"]: r["sha256"] for r in good}
    # The costly per-pair work is cached by content too, so a re-run after new images arrived
    # compares only pairs with a new image and inspects only new images.
    check_path = params.path(p.check_cache)
    checks = CheckCache.load(check_path)
    fresh_checks = {"compared": 0, "inspected": 0}

    def details(ids: list[str]) -> dict:
        # Full decodes, only for the images of confirmed pairs (source or upscaled copy?).
        ids = sorted(ids)
        recs, n = map_cached(inspect_file, [(sha_of[i], path_of[i]) for i in ids], checks, inspect_config(),
                             workers=ex, desc="inspect", unit="img")
        fresh_checks["inspected"] += n
        return dict(zip(ids, recs, strict=True))

    def compare(pairs: list[tuple[str, str, bool]]) -> dict:
        # The aligned check on candidate pairs only: one picture, or two products of a series?
        # The local-change test only where the residual alone would drop the pair.
        local = p.aligned_threshold if p.local_excess is not None else None
        jobs = [(pair_key(sha_of[a], sha_of[b], m), (path_of[a], path_of[b], m, COMPARE_SIDE, local))
                for a, b, m in pairs]
        recs, n = map_cached(compare_record, jobs, checks, compare_config(COMPARE_SIDE, local),
                             workers=ex, desc="compare", unit="pair")
        fresh_checks["compared"] += n
        return {pair: rec["check"] for pair, rec in zip(pairs, recs, strict=True)}

    # A dict per id: a pandas .loc per row cost more than the whole pair search.
    decisions = {d.pop("id"): d for d in find_duplicates(gdf, p, workers=ex.workers, details=details,
                                                         compare=compare).to_dict("records")}
    if checks.dirty:
        checks.save(check_path)
    log.info("compared %d new pairs, inspected %d new images; the rest from %s",
             fresh_checks["compared"], fresh_checks["inspected"], check_path)
    for r in good:
        d = decisions[r["id"]]
        row = {"id": r["id"], "sha256": r["sha256"], "width": r["width"], "height": r["height"],
               **{k: r[k] for k in kinds}, **d}
        if d["keep"]:
            row.update(status=Status.OK.value, error=None)
        elif d["dup_kind"] == "exact":
            row.update(status=Status.REJECTED.value, error=f"exact duplicate of {d['dup_of']}")
        else:
            flip = " (mirrored)" if d["mirrored"] else ""
            row.update(status=Status.REJECTED.value,
                       error=f"near duplicate of {d['dup_of']}{flip}: {kinds[0]} {d['distance']} <= {p.threshold}, "
                       f"{kinds[1]} {d['confirm_distance']} <= {p.confirm_threshold}"
                       + (f", colour {d['color_distance']:.3f}" if p.color_threshold is not None else "")
                       + f"; {d['note']}")
        rows.append(row)

    # Column types come from the declared schema (hash kinds not computed stay null).
    out_df = to_frame(rows, stage="dedup")
    out = params.path(p.out)
    with staged_dir(out) as tmp:
        write_manifest(out_df, tmp / MANIFEST_NAMES["dedup"], stage="dedup")
    kept = int(out_df["keep"].sum())
    exact = int((out_df["dup_kind"] == "exact").sum())
    near = int((out_df["dup_kind"] == "near").sum())
    flagged = int((out_df["dup_kind"] == "suspect").sum())
    errors = int((out_df["status"] == Status.ERROR.value).sum())
    return (f"{len(out_df)} images: {kept} kept, {exact} exact + {near} near duplicates, {flagged} flagged for review, {errors} unreadable "
            f"({fresh} newly hashed, {fresh_checks['compared']} pairs newly compared) -> {out / MANIFEST_NAMES['dedup']}")
