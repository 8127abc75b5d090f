"""DVC stage ``simulate``: SSDS-style template/defected/mask pairs from component crops.

Reads ``<crop.out>/components.parquet`` and its ``crops/<id>.png`` views, and
``<split.out>/split.parquet``, and writes ``simulate.pairs`` pairs under ``<simulate.out>``:
``template/<id>.png``, ``defected/<id>.png``, ``mask/<id>.png`` and ``pairs.parquet``.
Pair ``i`` uses the ``i mod n``-th template component (ok crop with an ok split row, sorted
by id) and its own generator ``make_rng(base.seed, "simulate", i)``, so outputs do not
depend on worker count. Each pair carries its template component's ``split`` (so the export
never puts a training part into test data) and lineage columns (source, licence, author, ...).
An ok component with no ok split row makes no pair: it gets a ``rejected`` row saying why.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from pcbforge.augment.ssds import simulate_pair
from pcbforge.config import Params
from pcbforge.datasets.manifest import (
    LINEAGE_COLUMNS,
    MANIFEST_NAMES,
    error_row,
    error_text,
    lineage_of,
    ok_only,
    ok_row,
    read_manifest,
    rejected_row,
    to_frame,
    write_manifest,
)
from pcbforge.datasets.split import join_splits
from pcbforge.errors import InputError
from pcbforge.io import stable_id, staged_dir, write_png
from pcbforge.parallel import map_ordered
from pcbforge.rng import make_rng, workers
from pcbforge.vocab import Split

log = logging.getLogger(__name__)

#: Columns simulate needs from ``split.parquet``.
SPLIT_COLUMNS = ("id", "split", "status")


@dataclass(frozen=True)
class Job:
    """One pair to make: everything a worker process needs, as plain values."""

    index: int
    parent_id: str
    #: The parent component's split (``train``/``val``/``test``), copied onto the pair.
    split: str
    crop: Path
    #: The project root: error rows name ``crop`` relative to it, as params.yaml does.
    root: Path
    out: Path
    seed: int
    image_size: int
    max_shapes: int
    max_shift_px: float
    max_rotation_deg: float
    jitter_px: float
    #: The parent component's lineage columns (null when components.parquet lacks them).
    lineage: Mapping[str, Any] = field(default_factory=dict)


def pair_id(parent_id: str, index: int) -> str:
    """Stable id of pair ``index`` made from component ``parent_id``."""
    return stable_id("simulate", parent_id, index)


def rejected_id(parent_id: str) -> str:
    """Stable id of the ``rejected`` row of a component that cannot be a template."""
    return stable_id("simulate", parent_id, "rejected")


def load_template(path: Path, size: int) -> np.ndarray:
    """Read a crop as ``(size, size, 3)`` uint8 RGB (resized if the crop stage used another size)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8).copy()


def make_one(job: Job) -> dict[str, Any]:
    """Make and write one pair; a missing or unreadable crop becomes an error row."""
    pid = pair_id(job.parent_id, job.index)
    try:
        template = load_template(job.crop, job.image_size)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        reason = f"cannot read crop {error_text(exc, job.crop, job.root)}"
        return error_row(reason, id=pid, split=job.split, parent_id=job.parent_id, **job.lineage)
    rng = make_rng(job.seed, "simulate", job.index)
    template, defected, mask, p = simulate_pair(
        template,
        rng,
        max_shapes=job.max_shapes,
        max_shift_px=job.max_shift_px,
        max_rotation_deg=job.max_rotation_deg,
        jitter_px=job.jitter_px,
    )
    return write_pair(job.out, pid, template, defected, mask, p, job.parent_id, job.lineage, split=job.split)


def write_pair(
    out: Path,
    pid: str,
    template: np.ndarray,
    defected: np.ndarray,
    mask: np.ndarray,
    p: dict[str, Any],
    parent_id: str,
    lineage: Mapping[str, Any] | None = None,
    split: str | None = None,
) -> dict[str, Any]:
    """Write one pair's three PNGs under ``out`` and return its ok manifest row.

    Args:
        out: The stage's output directory (holding ``template/``, ``defected/``, ``mask/``).
        pid: The pair id (file stem).
        template, defected, mask: What :func:`pcbforge.augment.ssds.simulate_pair` returned.
        p: Its parameters (``shapes`` and ``pose`` are stored as JSON).
        parent_id: The component the template came from.
        lineage: Its lineage columns (:data:`~pcbforge.datasets.manifest.LINEAGE_COLUMNS`); missing ones are null.
        split: Its split from ``split.parquet`` (the export places the pair by it).
    """
    paths = {k: f"{k}/{pid}.png" for k in ("template", "defected", "mask")}
    write_png(out / paths["template"], Image.fromarray(template, "RGB"))
    write_png(out / paths["defected"], Image.fromarray(defected, "RGB"))
    write_png(out / paths["mask"], Image.fromarray(mask, "L"))
    return ok_row(
        id=pid,
        split=split,
        template_path=paths["template"],
        defected_path=paths["defected"],
        mask_path=paths["mask"],
        shapes=json.dumps(p["shapes"], sort_keys=True),
        pose=json.dumps(p["pose"], sort_keys=True),
        parent_id=parent_id,
        **{k: (lineage or {}).get(k) for k in LINEAGE_COLUMNS},
    )


def attach_splits(comps: pd.DataFrame, split: pd.DataFrame, where: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Give each ok component its split; components without an ok one become rejected rows.

    Args:
        comps: Ok rows of ``components.parquet``.
        split: ``split.parquet`` (all rows; only ``ok`` ones with a known split count).
        where: Its path as params.yaml gives it, named in the reasons.

    Returns:
        ``comps`` with a ``split`` column, only the rows that have one, sorted by id; and one
        ``rejected`` row per other component, with the reason.
    """
    kept, unmatched = join_splits(comps, split, where)
    rejected = [
        rejected_row(
            f"{r['reason']}; it gets no split, so no pair",
            id=rejected_id(str(r["id"])),
            split=None,
            parent_id=str(r["id"]),
            **lineage_of(r),
        )
        for r in unmatched.to_dict("records")
    ]
    return kept.sort_values("id", kind="mergesort").reset_index(drop=True), rejected


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
