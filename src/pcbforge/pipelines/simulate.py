"""DVC stage ``simulate``: SSDS-style template/defected/mask pairs from component crops.

Reads ``<crop.out>/components.parquet`` and its ``crops/<id>.png`` views, and
``<split.out>/split.parquet``, and writes ``simulate.pairs`` pairs under ``<simulate.out>``:
``template/<id>.png``, ``defected/<id>.png``, ``mask/<id>.png`` and ``pairs.parquet``.
Pair ``i`` uses the ``i mod n``-th template component (ok crop with an ok split row, sorted
by id) and its own generator ``make_rng(base.seed, "simulate", i)``, so outputs do not
depend on worker count. Each pair carries its template component's ``split`` (so the export
never puts a training part into test data) and lineage columns (source, licence, author, ...).
An ok component with no ok split row makes no pair: it gets a ``rejected`` row saying why.

This module reads params and manifests, maps :func:`pcbforge.datasets.pairs.make_one` over
the jobs and writes the outputs; the pair-making library is :mod:`pcbforge.datasets.pairs`.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from pcbforge.config import Params
from pcbforge.datasets.manifest import MANIFEST_NAMES, lineage_of, ok_only, read_manifest, to_frame, write_manifest
from pcbforge.datasets.pairs import Job, attach_splits, make_one
from pcbforge.errors import InputError
from pcbforge.io import staged_dir
from pcbforge.parallel import map_ordered
from pcbforge.rng import workers
from pcbforge.vocab import Split

log = logging.getLogger(__name__)

#: Columns simulate needs from ``split.parquet``.
SPLIT_COLUMNS = ("id", "split", "status")


def run(params: Params, **options: Any) -> str:
    """Run the stage; returns a one-line summary.

    Raises:
        InputError: the crop or split manifest is missing/unreadable or lacks a contract
            column, or ``simulate.pairs > 0`` and no ok component has an ok split.
    """
    sp = params.simulate
    crop_out = params.path(params.crop.out)
    split_path = params.path(params.split.out) / MANIFEST_NAMES["split"]
    out = params.path(sp.out)
    comps = ok_only(read_manifest(crop_out / MANIFEST_NAMES["crop"], "crop", require=("id", "crop_path", "status")))
    if sp.pairs > 0 and comps.empty:
        raise InputError(
            f"no ok components in {crop_out / MANIFEST_NAMES['crop']} to use as templates "
            "(check the crop stage's rejected rows, or set simulate.pairs: 0)"
        )
    split = read_manifest(split_path, "split", require=SPLIT_COLUMNS)
    comps = comps.sort_values("id", kind="mergesort").reset_index(drop=True)
    # The reasons name the path as params.yaml gives it: an absolute one would make the
    # manifest's bytes depend on where the project is checked out.
    comps, rejected = attach_splits(comps, split, Path(params.split.out) / MANIFEST_NAMES["split"])
    if rejected:
        first = rejected[0]
        log.warning("%d component(s) make no pair (e.g. %s: %s)", len(rejected), first["parent_id"], first["error"])
    if sp.pairs > 0 and comps.empty:
        raise InputError(
            f"no ok component of {crop_out / MANIFEST_NAMES['crop']} has an ok split in {split_path} "
            "(run `pcbforge split` on the current crops, or set simulate.pairs: 0)"
        )
    crops = [crop_out / str(c) for c in comps["crop_path"]]
    lineages = [lineage_of(r) for r in comps.to_dict("records")]
    jobs = [
        Job(
            index=i,
            parent_id=str(comps.at[i % len(comps), "id"]),
            split=str(comps.at[i % len(comps), "split"]),
            crop=crops[i % len(comps)],
            root=params.root,
            out=Path(),  # filled in below, once the staging directory exists
            seed=params.base.seed,
            image_size=params.base.image_size,
            max_shapes=sp.max_shapes,
            max_shift_px=sp.max_shift_px,
            max_rotation_deg=sp.max_rotation_deg,
            jitter_px=sp.jitter_px,
            lineage=lineages[i % len(comps)],
        )
        for i in range(sp.pairs)
    ]
    n_workers = min(workers(params.base.workers), max(1, len(jobs) // 16))
    with staged_dir(out) as tmp:
        for sub in ("template", "defected", "mask"):
            (tmp / sub).mkdir()
        jobs = [Job(**{**j.__dict__, "out": tmp}) for j in jobs]
        rows = map_ordered(make_one, jobs, n_workers, desc="simulate", unit="pair")
        for row in rows:
            if row["status"] != "ok":
                log.warning("pair %s skipped: %s", row["id"], row["error"])
        write_manifest(to_frame([*rows, *rejected], stage="simulate"), tmp / MANIFEST_NAMES["simulate"], stage="simulate")
    n_ok = sum(r["status"] == "ok" for r in rows)
    per = Counter(r["split"] for r in rows if r["status"] == "ok")
    splits = ", ".join(f"{s} {per[s]}" for s in (x.value for x in Split) if per[s])
    skipped = f"; {len(rejected)} component(s) with no split rejected" if rejected else ""
    return f"{n_ok}/{len(rows)} pairs from {len(comps)} components ({splits or 'no pairs'}){skipped} -> {out}"
