"""SSDS-style pairs: the per-pair job of the ``simulate`` stage, its writer and its replay.

Pair ``i`` uses its own generator ``make_rng(seed, "simulate", i)``, so outputs do not depend
on worker count. :func:`make_one` is the per-item job a stage maps over processes: it takes a
:class:`Job` of plain values, draws and renders the pair
(:func:`pcbforge.augment.ssds.simulate_shapes`, or :func:`~pcbforge.augment.ssds.simulate_pair`
over the ``i mod n``-th template component in ``board`` mode), writes the three PNGs
(:func:`write_pair`) and returns the manifest row (an unreadable crop becomes an error row).
The row holds the pair's whole recipe as JSON (:func:`recipe_columns`), and :func:`replay`
renders it again, byte for byte. :func:`attach_splits` gives each template component its
split, so the export never puts a training part into test data; :func:`contact_sheet` draws
a run's first pairs on one PNG. Used by the ``simulate`` stage (:mod:`pcbforge.pipelines.simulate`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from pcbforge.augment.scene import Scene
from pcbforge.augment.ssds import render_pair, simulate_pair, simulate_shapes
from pcbforge.config import SimulateParams
from pcbforge.datasets.manifest import LINEAGE_COLUMNS, error_row, error_text, lineage_of, ok_row, rejected_row
from pcbforge.datasets.split import join_splits
from pcbforge.io import stable_id, write_png
from pcbforge.rng import make_rng
from pcbforge.taxonomy import ClassInfo
from pcbforge.vocab import SceneMode

#: Recipe keys stored in their own JSON column of pairs.parquet; the rest go to ``scene``.
RECIPE_COLUMNS = ("shapes", "defects", "pose")
#: ``parent_id`` stand-in in the ids of ``shapes`` pairs (they come from no component).
SHAPES_PARENT = "shapes"


@dataclass(frozen=True)
class Template:
    """The component a ``board`` pair is made from, as plain values."""

    parent_id: str
    crop: Path
    #: Its context patch and the component box inside it (null when the crop stage kept none).
    context: Path | None = None
    context_box: tuple[float, float, float, float] | None = None
    #: ``crop.margin`` for a board crop, 0 for a web photo (see :class:`pcbforge.augment.scene.Scene`).
    view_margin: float = 0.0
    #: The parent component's lineage columns (null when components.parquet lacks them).
    lineage: Mapping[str, Any] = field(default_factory=dict)
    #: Its class and that class's facts in the project's taxonomy (``params.taxonomy()``),
    #: carried into its :class:`~pcbforge.augment.scene.Scene`. A board pair's pose turns the
    #: whole view (camera misalignment, not a part turned on its pads), so no recipe reads
    #: them today; they are there so nothing falls back to another taxonomy's facts.
    class_label: str = ""
    info: ClassInfo | None = None


@dataclass(frozen=True)
class Job:
    """One pair to make: everything a worker process needs, as plain values."""

    index: int
    #: The pair's split: its template component's in ``board`` mode, drawn in ``shapes`` mode.
    split: str
    #: The project root: error rows name ``crop`` relative to it, as params.yaml does.
    root: Path
    out: Path
    seed: int
    settings: SimulateParams
    #: ``board`` mode: the component, and the side its crops are read at (``base.image_size``).
    template: Template | None = None
    image_size: int = 128


def pair_id(parent_id: str, index: int) -> str:
    """Stable id of pair ``index`` made from component ``parent_id`` (``shapes`` for a shapes pair)."""
    return stable_id("simulate", parent_id, index)


def rejected_id(parent_id: str) -> str:
    """Stable id of the ``rejected`` row of a component that cannot be a template."""
    return stable_id("simulate", parent_id, "rejected")


def _load_rgb(path: Path, size: int | None = None) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8).copy()


def load_scene(t: Template, size: int) -> Scene:
    """The component's view (``size`` square) and, when its file is there, its context patch."""
    view = _load_rgb(t.crop, size)
    context = None
    if t.context is not None and t.context_box is not None and t.context.is_file():
        context = _load_rgb(t.context)
    return Scene(
        view=view,
        class_label=t.class_label,
        context=context,
        context_box=t.context_box if context is not None else None,
        view_margin=t.view_margin,
        info=t.info,
    )


def make_one(job: Job) -> dict[str, Any]:
    """Make and write one pair; a missing or unreadable crop becomes an error row."""
    rng = make_rng(job.seed, "simulate", job.index)
    t = job.template
    if t is None:
        template, defected, mask, recipe = simulate_shapes(rng, job.settings)
        pid = pair_id(SHAPES_PARENT, job.index)
        return write_pair(job.out, pid, template, defected, mask, recipe, None, split=job.split)
    pid = pair_id(t.parent_id, job.index)
    try:
        scene = load_scene(t, job.image_size)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        reason = f"cannot read crop {error_text(exc, t.crop, job.root)}"
        return error_row(reason, id=pid, split=job.split, parent_id=t.parent_id, mode=SceneMode.BOARD.value, **t.lineage)
    template, defected, mask, recipe = simulate_pair(scene, rng, job.settings)
    return write_pair(job.out, pid, template, defected, mask, recipe, t.parent_id, t.lineage, split=job.split)


def recipe_columns(recipe: Mapping[str, Any]) -> dict[str, str]:
    """The manifest's JSON columns of a recipe: ``shapes``, ``defects``, ``pose`` and the rest as ``scene``."""
    rest = {k: v for k, v in recipe.items() if k not in RECIPE_COLUMNS}
    cols = {k: json.dumps(recipe.get(k, []), sort_keys=True) for k in RECIPE_COLUMNS}
    return {"mode": str(recipe["mode"]), "scene": json.dumps(rest, sort_keys=True), **cols}


def recipe_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """Put a pairs.parquet row's recipe back together (the inverse of :func:`recipe_columns`)."""
    recipe = json.loads(row["scene"])
    recipe.update({k: json.loads(row[k]) for k in RECIPE_COLUMNS})
    return recipe


def replay(row: Mapping[str, Any], scene: Scene | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render a pair again from its pairs.parquet row: ``(template, defected, mask)``, equal to the files.

    Args:
        row: the pair's manifest row (``scene``, ``shapes``, ``defects``, ``pose`` are read).
        scene: a ``board`` pair's component (:func:`load_scene` of its crop and context).

    Example:
        >>> from pcbforge.config import SimulateParams
        >>> t, d, m, recipe = simulate_shapes(make_rng(1, "doc"), SimulateParams(image_size=48))
        >>> all(np.array_equal(a, b) for a, b in zip(replay(recipe_columns(recipe)), (t, d, m)))
        True
    """
    return render_pair(recipe_of(row), scene)


def write_pair(
    out: Path,
    pid: str,
    template: np.ndarray,
    defected: np.ndarray,
    mask: np.ndarray,
    recipe: Mapping[str, Any],
    parent_id: str | None,
    lineage: Mapping[str, Any] | None = None,
    split: str | None = None,
) -> dict[str, Any]:
    """Write one pair's three PNGs under ``out`` and return its ok manifest row.

    Args:
        out: The stage's output directory (holding ``template/``, ``defected/``, ``mask/``).
        pid: The pair id (file stem).
        template, defected, mask: The rendered pair.
        recipe: Its recipe (stored as JSON columns, see :func:`recipe_columns`).
        parent_id: The component the template came from (null for a ``shapes`` pair).
        lineage: Its lineage columns (:data:`~pcbforge.datasets.manifest.LINEAGE_COLUMNS`); missing ones are null.
        split: The pair's split (the export places the pair by it).
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
        **recipe_columns(recipe),
        parent_id=parent_id,
        **{k: (lineage or {}).get(k) for k in LINEAGE_COLUMNS},
    )


def contact_sheet(out: Path, rows: Sequence[Mapping[str, Any]], n: int, tile: int = 128) -> Image.Image | None:
    """One image of the first ``n`` ok pairs: a row each of template | defected | mask over defected.

    The third tile tints the mask red over the defected view, so a reviewer sees at a glance
    that the mask sits on the defects in the defected frame. None when there is no ok pair.
    """
    ok = [r for r in rows if r["status"] == "ok"][:n]
    if not ok:
        return None
    sheet = Image.new("RGB", (3 * tile, len(ok) * tile), (0, 0, 0))
    for i, r in enumerate(ok):
        t = _load_rgb(out / r["template_path"], tile)
        d = _load_rgb(out / r["defected_path"], tile)
        with Image.open(out / r["mask_path"]) as im:
            m = np.asarray(im.convert("L").resize((tile, tile), Image.Resampling.NEAREST)) > 127
        overlay = d.copy()
        overlay[m] = (0.4 * overlay[m] + 0.6 * np.array([255, 0, 0])).astype(np.uint8)
        sheet.paste(Image.fromarray(np.hstack([t, d, overlay])), (0, i * tile))
    return sheet


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
