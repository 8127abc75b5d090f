"""A fake ``split.parquet`` (docs/stages.md) for the components of a fake crop output.

:func:`write_split` gives the components of an existing ``components.parquet`` (for example
one written by :func:`tests.helpers.components_fixture.write_components`) chosen splits, and
can leave some out or mark them not ok, so the simulate and export tests can check that
pairs follow their template's split and that an unsplit component makes no pair.
Unlike the real split stage it does not keep boards together: splits are given per component.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import pandas as pd

from pcbforge.datasets.manifest import ok_row, rejected_row
from tests.helpers.fake_project import write_rows


def write_split(
    out: Path,
    components: Path,
    splits: Sequence[str] = ("train", "val", "test"),
    absent: Collection[str] = (),
    not_ok: Collection[str] = (),
) -> Path:
    """Write ``<out>/split.parquet`` for ``components`` (a ``components.parquet``); return its path.

    Ok component ``k`` (in id order) gets ``splits[k % len(splits)]``; ids in ``absent`` get
    no row; ids in ``not_ok`` get a ``rejected`` row with no split. Components that are not
    ok in the crop manifest get a rejected row, as the real split stage gives them.
    """
    comps = pd.read_parquet(components).sort_values("id", kind="mergesort")
    rows, k = [], 0
    for r in comps.to_dict("records"):
        cid = str(r["id"])
        if cid in absent:
            continue
        keep = {"id": cid, "class_label": r.get("class_label"), "group": r.get("group"), "origin": r.get("origin")}
        if r["status"] != "ok":
            rows.append(rejected_row("component not ok in components.parquet", **keep, split=None))
        elif cid in not_ok:
            rows.append(rejected_row("fixture: held back by the split stage", **keep, split=None))
        else:
            rows.append(ok_row(**keep, split=splits[k % len(splits)]))
            k += 1
    return write_rows("split", rows, Path(out))


def split_of(split_manifest: Path) -> dict[str, str]:
    """``component id -> split`` of the ok rows of a ``split.parquet``."""
    df = pd.read_parquet(split_manifest)
    ok = df[df["status"] == "ok"]
    return dict(zip(ok["id"].astype(str), ok["split"].astype(str), strict=True))
