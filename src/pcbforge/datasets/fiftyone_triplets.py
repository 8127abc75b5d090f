"""The triplets as a persistent FiftyOne dataset, for browsing (``pcbforge export --fiftyone``).

A grouped dataset: one group per triplet, one sample per image role (slices ``anchor``,
``positive``, ``negative``; the App opens on ``negative``). Every sample carries the
triplet's id, split (also as a tag), component class, negative kind, defect parameters and
the lineage of the source image its pixels come from; the negative carries the defect mask
as a ``fo.Segmentation`` (``defect``, mask pixels > 0 = the defect) and the negative kind
as a ``fo.Classification`` (``kind``), so the App can filter and colour by them.

Not a format of the export stage: it lives in a MongoDB (FiftyOne's bundled ``mongod`` in
``review.database_dir``, or ``FIFTYONE_DATABASE_URI``), not in files DVC can track. The
manifest stays the record: each run deletes the dataset of that name and loads it anew from
``triplets.parquet``, so it never holds anything the manifest does not. Samples point at the
files under ``triplets.out`` (absolute paths); nothing is copied.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pcbforge.datasets.export import Sample
from pcbforge.datasets.manifest import LINEAGE_COLUMNS

if TYPE_CHECKING:
    import fiftyone as fo

    from pcbforge.config import Params

log = logging.getLogger(__name__)

#: Default name of the dataset.
DATASET_NAME = "pcbforge-triplets"
#: Group slices, in the order a triplet lists its images; the App opens on the last.
ROLES = ("anchor", "positive", "negative")
DEFAULT_SLICE = "negative"
#: Label of the defect mask's non-zero pixels (masks are written 0 / 255).
MASK_TARGETS = {255: "defect"}


def _fields(sample: Sample, role: str) -> dict[str, Any]:
    meta = dict(sample.meta)
    fields: dict[str, Any] = {
        "triplet_id": sample.id,
        "role": role,
        "split": sample.split,
        "negative_kind": sample.anomaly,
        "class_label": meta.get("class_label"),
        "negative_class": meta.get("negative_class"),
        "anchor_id": meta.get("anchor_id"),
        # JSON text: defect params differ in keys per defect kind; one string field stays filterable.
        "defect_params": None if meta.get("defect_params") is None else json.dumps(meta["defect_params"], sort_keys=True),
    }
    lineage = sample.lineage.get(role) or {}
    fields.update({k: lineage.get(k) for k in LINEAGE_COLUMNS})
    return fields


def build(samples: Iterable[Sample], name: str = DATASET_NAME) -> fo.Dataset:
    """Load triplet samples into a new persistent grouped dataset ``name`` (replacing one of that name).

    Call :func:`pcbforge.fiftyone_app.configure` first.

    Args:
        samples: triplet samples (:func:`pcbforge.pipelines.export.triplet_samples`), in id order.
        name: dataset name.

    Returns:
        The dataset, persistent.
    """
    import fiftyone as fo

    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset = fo.Dataset(name)
    dataset.persistent = True
    dataset.add_group_field("group", default=DEFAULT_SLICE)
    dataset.mask_targets = {"defect": MASK_TARGETS}
    rows: list[fo.Sample] = []
    for s in samples:
        group = fo.Group()
        for role in ROLES:
            fs = fo.Sample(filepath=str(Path(s.images[role]).resolve()), group=group.element(role), tags=[str(s.split)])
            for k, v in _fields(s, role).items():
                fs[k] = v
            if role == "negative":
                fs["kind"] = fo.Classification(label=s.anomaly)
                if s.mask is not None:
                    fs["defect"] = fo.Segmentation(mask_path=str(Path(s.mask).resolve()))
            rows.append(fs)
    dataset.add_samples(rows)
    return dataset


def run(params: Params, name: str = DATASET_NAME) -> str:
    """Load the ok triplets of ``<triplets.out>/triplets.parquet`` as the FiftyOne dataset ``name``.

    Raises:
        InputError: the manifest is missing, unreadable or lacks a contract column.
    """
    from pcbforge import fiftyone_app
    from pcbforge.datasets.manifest import MANIFEST_NAMES, ok_only, read_manifest
    from pcbforge.pipelines.export import TRIPLET_COLUMNS, triplet_samples

    root = params.path(params.triplets.out)
    df = read_manifest(root / MANIFEST_NAMES["triplets"], "triplets", require=TRIPLET_COLUMNS)
    ok = ok_only(df)
    fiftyone_app.configure(params.path(params.review.database_dir))
    dataset = build(triplet_samples(ok, root), name)
    return (
        f"{len(ok)} triplets ({len(dataset.select_group_slices())} images) in the persistent FiftyOne "
        f"dataset {name!r} at {fiftyone_app.database_name()}; browse with `fiftyone app launch {name}`"
    )
