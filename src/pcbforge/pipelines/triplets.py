"""``pcbforge triplets``: anchor/positive/negative triplets with synthetic defects.

Reads ``crop.out/components.parquet`` (crops, context patches) and
``split.out/split.parquet``, builds ``triplets.per_component`` triplets per ok component
(``eval_per_component`` in val and test; :mod:`pcbforge.datasets.triplets`), never drawing a
negative from another split, and writes ``triplets.out/images``, ``masks`` and ``triplets.parquet`` as one staged directory.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pcbforge.config import Params, TripletsParams
from pcbforge.datasets.manifest import (
    LINEAGE_COLUMNS,
    MANIFEST_NAMES,
    ManifestWriter,
    component_context,
    lineage_of,
    ok_only,
    read_manifest,
)
from pcbforge.datasets.split import join_splits
from pcbforge.datasets.triplets import (
    ClassPool,
    Component,
    Timings,
    build_anchor,
    pools_by_split,
)
from pcbforge.io import staged_dir
from pcbforge.parallel import executor, imap_ordered
from pcbforge.taxonomy import Taxonomy
from pcbforge.vocab import Status

log = logging.getLogger(__name__)

#: What every anchor's job reads: candidate pools by split, settings, the output directory
#: (handed to each pool worker once, see :func:`pcbforge.parallel.imap_ordered`).
#: Settings are (params.triplets, base.seed, project root, the class taxonomy).
_Context = tuple[dict[str, dict[str, ClassPool]], tuple[TripletsParams, int, Path, Taxonomy], Path]


def _job(context: _Context, anchor: Component) -> tuple[list[dict[str, Any]], Timings]:
    pools, (cfg, seed, root, taxonomy), out = context
    return build_anchor(anchor, pools[anchor.split], cfg, out, seed, root, taxonomy)


def load_components(params: Params) -> list[Component]:
    """Ok components that have an ok split row, as :class:`Component` (absolute paths), by id.

    Raises:
        InputError: a manifest is missing or lacks a required column.
    """
    return list(load_anchors(params))


def load_anchors(params: Params) -> ClassPool:
    """:func:`load_components` as one :class:`ClassPool`: columns, not an object per component,
    so the stage's main process stays small as the dataset grows (benchmarks/bench_memory.py).

    Raises:
        InputError: a manifest is missing or lacks a required column.
    """
    crop_out = params.path(params.crop.out)
    split_out = params.path(params.split.out)
    crop_manifest = crop_out / MANIFEST_NAMES["crop"]
    # Checked and joined on ids alone; the rest is read as Arrow and turned into Python a batch
    # at a time (at 50k components a frame of every column weighed ~1.5 KB a row).
    comps = read_manifest(crop_manifest, "crop", require=("id", "class_label", "crop_path", "status"), columns=())
    split = read_manifest(split_out / MANIFEST_NAMES["split"], "split", require=("id", "split", "status"),
                          columns=("error",))
    n_all = len(comps)
    comps = ok_only(comps)
    n_ok = len(comps)
    merged, unsplit = join_splits(comps[["id"]], split, Path(params.split.out) / MANIFEST_NAMES["split"])
    split_of = dict(zip(merged["id"].astype(str), merged["split"].astype(str), strict=True))
    del comps, split, merged
    if len(unsplit):
        first = unsplit.iloc[0]
        n = len(unsplit)
        log.warning("skipped %d ok components with no ok split row (e.g. %s: %s)", n, first["id"], first["reason"])
    if n_all - n_ok:
        log.info("skipped %d components whose crop status is not ok", n_all - n_ok)
    wanted = ("id", "class_label", "crop_path", "status", "context_path", "context_box", "origin", *LINEAGE_COLUMNS)
    present = set(pq.read_schema(crop_manifest).names)
    table = pq.read_table(crop_manifest, columns=[c for c in wanted if c in present])

    def components() -> Iterator[Component]:
        for batch in table.to_batches(max_chunksize=1024):
            for r in batch.to_pylist():
                split_name = split_of.get(str(r["id"])) if r["status"] == Status.OK.value else None
                if split_name is None:
                    continue
                context, box, margin = component_context(r, crop_out, params.crop.margin)
                yield Component(
                    id=str(r["id"]),
                    class_label=str(r["class_label"]),
                    split=split_name,
                    crop_path=crop_out / str(r["crop_path"]),
                    context_path=context,
                    context_box=box,
                    view_margin=margin,
                    origin="web" if r.get("origin") == "web" else "board",
                    **lineage_of(r),
                )

    return ClassPool(components())


def run(params: Params, **options: Any) -> str:
    """Build the triplets of every ok component; return a one-line summary."""
    t = params.triplets
    settings = (t, params.base.seed, params.root, params.taxonomy())
    anchors = load_anchors(params)
    pools = pools_by_split(anchors)
    out = params.path(t.out)
    ex = executor(params.base).at_most(len(anchors))
    counts: Counter[str] = Counter()
    total = Timings()
    with staged_dir(out) as tmp:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        # Streamed: images go to disk in the jobs, rows to Arrow columns here, so memory does not
        # grow with the images (benchmarks/bench_memory.py).
        manifest = ManifestWriter(tmp / MANIFEST_NAMES["triplets"], stage="triplets")
        try:
            results = imap_ordered(_job, anchors, ex, context=(pools, settings, tmp), desc="triplets", unit="part")
            for job_rows, timing in results:
                for row in job_rows:
                    manifest.add(row)
                    counts[row["status"]] += 1
                total.add(timing)
        except BaseException:
            manifest.discard()  # its spill file goes now, not when the writer is collected
            raise
        manifest.close()
    busy = total.read + total.generate + total.encode + total.write
    if busy > 0:
        log.info(
            "time (summed over workers): read %.1fs, generate %.1fs, PNG encode %.1fs, write %.1fs",
            total.read,
            total.generate,
            total.encode,
            total.write,
        )
    ok = counts["ok"]
    other = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()) if k != "ok")
    extra = f" ({other})" if other else ""
    return f"{ok} triplets from {len(anchors)} components{extra} -> {out / 'triplets.parquet'}"
