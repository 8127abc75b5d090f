"""SSDS-style pairs from component crops: the per-pair job of the ``simulate`` stage.

Pair ``i`` uses the ``i mod n``-th template component and its own generator
``make_rng(seed, "simulate", i)``, so outputs do not depend on worker count. :func:`make_one`
is the per-item job a stage maps over processes: it takes a :class:`Job` of plain values,
reads its crop, calls :func:`pcbforge.augment.ssds.simulate_pair`, writes the three PNGs
(:func:`write_pair`) and returns the manifest row (an unreadable crop becomes an error row).
:func:`attach_splits` gives each template component its split, so the export never puts a
training part into test data. Used by the ``simulate`` stage (:mod:`pcbforge.pipelines.simulate`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from pcbforge.augment.ssds import simulate_pair
from pcbforge.datasets.manifest import LINEAGE_COLUMNS, error_row, error_text, lineage_of, ok_row, rejected_row
from pcbforge.datasets.split import join_splits
from pcbforge.io import stable_id, write_png
from pcbforge.rng import make_rng


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
