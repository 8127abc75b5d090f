"""``pcbforge split``: ``<crop.out>/components.parquet`` -> ``<split.out>/split.parquet`` + ``split_report.json``.

First every board photo gets its photo group (:mod:`pcbforge.datasets.groups`): from
``split.groups.pattern``, ``split.groups.csv`` and near-identical photos (perceptual hashes of
the board images, through the dedup decode path). Then held-out classes go to val/test and
groups are never split (rules in :mod:`pcbforge.datasets.split`). The stage re-checks both
guarantees on its own output before swapping it in, so a violated guarantee is a crash,
never a silent leak.

The board image is found through the board rows' ``source_url``, which crop sets to the
image's project-relative path unless data.yaml gives a ``source_url`` of its own; a board
whose image cannot be found that way is not hashed (logged), and keeps its other sources.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from pcbforge.clean.hashing import hash_files
from pcbforge.clean.neighbors import hamming, pack_hex, pairs_within
from pcbforge.config import DedupParams, Params
from pcbforge.datasets import groups as photo
from pcbforge.datasets import split as splitting
from pcbforge.datasets.manifest import (
    MANIFEST_NAMES,
    cell_value,
    manifest_path,
    read_manifest,
    shown_path,
    write_manifest,
)
from pcbforge.io import staged_dir
from pcbforge.parallel import executor
from pcbforge.vocab import HashKind

log = logging.getLogger(__name__)

MANIFEST = MANIFEST_NAMES["split"]
REPORT = "split_report.json"

#: The hashes that decide "near-identical board photo": dedup's decode path and hash kinds,
#: fixed here (not read from params.dedup) so a dedup setting never moves a split.
BOARD_HASHES = DedupParams(hashes=[HashKind.PHASH, HashKind.DHASH], hash_size=8, mirror=False, color_threshold=None)
#: A hash-linked group holding more than this share of the board photos is worth a look.
LARGE_HASH_GROUP = 0.1
#: Fewer board photos than this are hashed inline: a board takes tens of ms at the reduced
#: decode, while a spawned pool pays seconds of imports per worker (demo: 0.7 s inline, 10 s pooled).
INLINE_BELOW = 200


def board_images(components: pd.DataFrame, root: Path) -> tuple[dict[str, Path], list[str]]:
    """``(board -> image file, boards without one)`` for the boards with at least one ok row."""
    rows = components[(components["origin"] == "board") & (components["status"] == "ok")]
    found: dict[str, Path] = {}
    lost: list[str] = []
    for board, urls in rows.groupby("parent_id", sort=True)["source_url"]:
        url = next((str(u) for u in urls if cell_value(u)), "")
        path = root / url if url and "://" not in url else None
        if path is not None and path.is_file():
            found[str(board)] = path
        else:
            lost.append(str(board))
    return found, lost


def near_identical(hashes: dict[str, dict[str, Any]], distance: int) -> list[dict[str, Any]]:
    """Pairs of boards within ``distance`` bits on phash (candidates) and dhash (confirmation), with both distances."""
    boards = sorted(b for b, rec in hashes.items() if rec.get("error") is None)
    if len(boards) < 2:
        return []
    phash = pack_hex([hashes[b]["hashes"][HashKind.PHASH.value] for b in boards])
    dhash = pack_hex([hashes[b]["hashes"][HashKind.DHASH.value] for b in boards])
    i, j, d = pairs_within(phash, threshold=distance)
    confirm = hamming(dhash[i], dhash[j]) if len(i) else np.zeros(0, dtype=np.int64)
    return [
        {"a": boards[a], "b": boards[b], "phash": int(pd_), "dhash": int(dd)}
        for a, b, pd_, dd in zip(i, j, d, confirm, strict=True)
        if dd <= distance
    ]


def photo_groups(params: Params, components: pd.DataFrame) -> tuple[dict[str, photo.PhotoGroup], dict[str, Any]]:
    """The photo group of every board photo and what the report says about them."""
    cfg = params.split.groups
    boards = sorted({str(b) for b in components.loc[components["origin"] == "board", "parent_id"].dropna()})
    keys: dict[str, dict[str, str]] = {}
    if cfg.pattern is not None:
        keys["pattern"] = photo.pattern_keys(boards, cfg.pattern)
    if cfg.csv is not None:
        path = params.path(cfg.csv)
        keys["csv"] = photo.read_group_csv(path, shown_path(path, params.root))
        unknown = sorted(set(keys["csv"]) - set(boards))
        if unknown:
            log.warning(
                "%d boards of split.groups.csv are not in components.parquet, e.g. %s",
                len(unknown),
                unknown[0],
            )
    links: list[dict[str, Any]] = []
    lost: list[str] = []
    if cfg.hash_distance is not None:
        files, lost = board_images(components, params.root)
        ex = executor(params.base) if len(files) >= INLINE_BELOW else 1
        hashes = hash_files(files, BOARD_HASHES, workers=ex, root=params.root)
        unreadable = sorted(b for b, rec in hashes.items() if rec.get("error") is not None)
        lost = sorted([*lost, *unreadable])
        links = near_identical(hashes, cfg.hash_distance)
        if lost:
            log.warning(
                "%d board photos not hashed (no readable image at their source_url, e.g. %s): near-identical "
                "copies of them are not grouped; split.groups.pattern or csv can group them",
                len(lost),
                lost[0],
            )
    groups = photo.photo_groups(boards, keys, [(link["a"], link["b"]) for link in links])
    sizes = Counter(g.group for g in groups.values())
    by = Counter(g.by for g in {g.group: g for g in groups.values()}.values())
    largest = max(sorted(sizes.items()), key=lambda kv: kv[1], default=("", 0))  # ties: the first name
    hash_sizes = Counter(g.group for g in groups.values() if photo.BY_HASH in g.by.split("+"))
    if hash_sizes:
        name, n = max(sorted(hash_sizes.items()), key=lambda kv: kv[1])
        if n > 2 and n > LARGE_HASH_GROUP * len(boards):
            log.warning(
                "near-identical board photos chained into group %s of %d of %d photos; if they are different "
                "boards, lower split.groups.hash_distance (links with distances in %s)",
                name,
                n,
                len(boards),
                REPORT,
            )
    summary = {
        "board_photos": len(boards),
        "photo_groups": len(sizes),
        "by": dict(sorted(by.items())),
        "largest": {"group": largest[0], "photos": largest[1]},
        "not_hashed": len(lost) if cfg.hash_distance is not None else None,
        "hash_links": links,
    }
    return groups, summary


def run(params: Params, **options: Any) -> str:
    """Assign train/val/test to every ok component; return a one-line summary with counts."""
    cfg = params.split
    source = manifest_path(params, "crop")
    components = read_manifest(
        source, "crop", require=("id", "class_label", "group", "origin", "parent_id", "source_url", "status", "error")
    )
    with tqdm(total=2, desc="split", unit="step", leave=False) as bar:
        board_groups, group_report = photo_groups(params, components)
        bar.update()
        df = splitting.assign(photo.apply_groups(components, board_groups), cfg, params.base.seed)
        bar.update()
    problems = splitting.check_split(df, cfg)
    if problems:  # a bug in the rules, not user input: refuse to write a leaking split
        raise RuntimeError(f"split guarantees violated: {'; '.join(problems)}")
    ok = df[df["status"] == "ok"]
    for cls in sorted(frozenset.union(*splitting.held_out(cfg))):
        if not (ok["class_label"] == cls).any():
            log.warning("held-out class %s has no ok components: it will not be evaluated", cls)
    cost, cost_groups = splitting.held_out_cost(df, cfg)
    if cost:
        if cfg.strict_boards:
            log.info(
                "%d seen-class components on %d groups with a held-out class left train with their group "
                "(split.strict_boards: true)",
                cost,
                cost_groups,
            )
        else:
            log.info(
                "%d seen-class components on %d groups with a held-out class stayed with their group "
                "(split.strict_boards: false); their context patches may show the held-out part",
                cost,
                cost_groups,
            )
    report = {**splitting.report(df, cfg), "groups": group_report}
    out = params.path(cfg.out)
    with staged_dir(out) as tmp:
        write_manifest(df, tmp / MANIFEST, stage="split")
        (tmp / REPORT).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    per = ", ".join(
        f"{s} {r['components']} ({r['groups']} groups; {r['seen']} seen, {r['unseen']} unseen)"
        for s, r in report["splits"].items()
    )
    g = group_report
    return (
        f"{len(ok)} components: {per}; {report['not_ok']} not ok (no split); {g['board_photos']} board photos in "
        f"{g['photo_groups']} photo groups -> {out / MANIFEST}"
    )
