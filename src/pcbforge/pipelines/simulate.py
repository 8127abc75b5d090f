"""DVC stage ``simulate``: SSDS-style template/defected/mask pairs.

Writes ``simulate.pairs`` pairs under ``<simulate.out>``: ``template/<id>.png``,
``defected/<id>.png``, ``mask/<id>.png``, ``pairs.parquet`` (each pair's whole recipe as JSON,
see :func:`pcbforge.datasets.pairs.replay`) and ``contact_sheet.png``. Pair ``i`` uses its own
generator ``make_rng(base.seed, "simulate", i)``, so outputs do not depend on worker count.

``simulate.mode: shapes`` (the SSDS paper's random scenes) reads nothing: pair ``i`` takes the
split ``make_rng(base.seed, "simulate-split", i)`` draws with ``split.val_fraction`` and
``split.test_fraction`` (a random scene shows no real part, so it cannot leak one).

``simulate.mode: board`` reads ``<crop.out>/components.parquet`` with its ``crops/<id>.png``
views and ``context/<id>.png`` patches, and ``<split.out>/split.parquet``: pair ``i`` uses the
``i mod n``-th template component (ok crop with an ok split row, sorted by id) and carries
its ``split`` (so the export never puts a training part into test data) and lineage columns.
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
from pcbforge.datasets.manifest import MANIFEST_NAMES, component_context, lineage_of, ok_only, read_manifest, to_frame, write_manifest
from pcbforge.datasets.pairs import Job, Template, attach_splits, contact_sheet, make_one
from pcbforge.errors import InputError
from pcbforge.io import staged_dir, write_png
from pcbforge.parallel import executor, map_ordered
from pcbforge.rng import make_rng
from pcbforge.vocab import SceneMode, Split

log = logging.getLogger(__name__)

#: Columns simulate needs from ``split.parquet``.
SPLIT_COLUMNS = ("id", "split", "status")
#: The contact sheet's file name under ``simulate.out``.
CONTACT_SHEET = "contact_sheet.png"


def shapes_split(seed: int, index: int, val_fraction: float, test_fraction: float) -> str:
    """The split of ``shapes`` pair ``index``: val / test with the split stage's fractions, else train."""
    u = float(make_rng(seed, "simulate-split", index).random())
    if u < val_fraction:
        return Split.VAL.value
    if u < val_fraction + test_fraction:
        return Split.TEST.value
    return Split.TRAIN.value


def board_jobs(params: Params) -> tuple[list[Job], list[dict[str, Any]], int]:
    """The jobs of ``board`` mode, the rejected rows of components with no split, and the template count.

    Raises:
        InputError: see :func:`run`.
    """
    sp = params.simulate
    crop_out = params.path(params.crop.out)
    split_path = params.path(params.split.out) / MANIFEST_NAMES["split"]
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
    taxonomy = params.taxonomy()
    templates = []
    for r in comps.to_dict("records"):
        context, box, margin = component_context(r, crop_out, params.crop.margin)
        templates.append(
            Template(
                parent_id=str(r["id"]),
                crop=crop_out / str(r["crop_path"]),
                context=context,
                context_box=box,
                view_margin=margin,
                lineage=lineage_of(r),
                class_label=str(r.get("class_label") or ""),
                info=taxonomy.facts(str(r.get("class_label") or "")),
            )
        )
    jobs = [
        Job(
            index=i,
            split=str(comps.at[i % len(comps), "split"]),
            root=params.root,
            out=Path(),  # filled in once the staging directory exists
            seed=params.base.seed,
            settings=sp,
            template=templates[i % len(comps)],
            image_size=params.base.image_size,
        )
        for i in range(sp.pairs)
    ]
    return jobs, rejected, len(comps)


def run(params: Params, **options: Any) -> str:
    """Run the stage; returns a one-line summary.

    Raises:
        InputError: ``board`` mode only: the crop or split manifest is missing/unreadable or
            lacks a contract column, or ``simulate.pairs > 0`` and no ok component has an ok split.
    """
    sp = params.simulate
    out = params.path(sp.out)
    if sp.mode is SceneMode.BOARD:
        jobs, rejected, n_templates = board_jobs(params)
        source = f"{n_templates} components"
    else:
        jobs = [
            Job(
                index=i,
                split=shapes_split(params.base.seed, i, params.split.val_fraction, params.split.test_fraction),
                root=params.root,
                out=Path(),
                seed=params.base.seed,
                settings=sp,
            )
            for i in range(sp.pairs)
        ]
        rejected, source = [], "random shape scenes"
    ex = executor(params.base).at_most(len(jobs) // 16)
    with staged_dir(out) as tmp:
        for sub in ("template", "defected", "mask"):
            (tmp / sub).mkdir()
        jobs = [Job(**{**j.__dict__, "out": tmp}) for j in jobs]
        rows = map_ordered(make_one, jobs, ex, desc="simulate", unit="pair")
        for row in rows:
            if row["status"] != "ok":
                log.warning("pair %s skipped: %s", row["id"], row["error"])
        write_manifest(to_frame([*rows, *rejected], stage="simulate"), tmp / MANIFEST_NAMES["simulate"], stage="simulate")
        sheet = contact_sheet(tmp, rows, sp.contact_sheet)
        if sheet is not None:
            write_png(tmp / CONTACT_SHEET, sheet)
    n_ok = sum(r["status"] == "ok" for r in rows)
    per = Counter(r["split"] for r in rows if r["status"] == "ok")
    splits = ", ".join(f"{s} {per[s]}" for s in (x.value for x in Split) if per[s])
    skipped = f"; {len(rejected)} component(s) with no split rejected" if rejected else ""
    return f"{n_ok}/{len(rows)} pairs from {source} ({splits or 'no pairs'}){skipped} -> {out}"
