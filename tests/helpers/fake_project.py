"""One writer of fake stage outputs, built on the declared manifest schemas (anomalib-style).

Every test fixture that writes a manifest goes through :func:`write_rows`: it dispatches by
stage to the manifest's file name (``MANIFEST_NAMES``) and declared schema
(:mod:`pcbforge.datasets.schemas`), fills each column a row leaves out with a typed null
(``status`` defaults to ``ok``) and writes through the real
:func:`~pcbforge.datasets.manifest.write_manifest`. So a fixture can never drift from what a
stage writes: an undeclared column or a wrong type fails the fixture, not a later assertion.

Example:
    >>> p = write_rows("split", [{"id": "c1", "class_label": "diode", "split": "train"}], tmp)  # doctest: +SKIP
    >>> read_manifest(p, "split")["error"].isna().all()  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pcbforge.config import Params
from pcbforge.datasets.manifest import MANIFEST_NAMES, manifest_path, write_manifest
from pcbforge.datasets.schemas import manifest_schema


def row(stage: str, **values: Any) -> dict[str, Any]:
    """A full row of ``stage``'s manifest: ``values``, every other declared column null, status ``ok``.

    Raises:
        KeyError: a value names a column the schema does not declare.
    """
    ms = manifest_schema(stage)
    unknown = sorted(set(values) - set(ms.names))
    if unknown:
        raise KeyError(f"{ms.file} declares no columns {unknown}")
    return {"status": "ok", **{n: None for n in ms.names if n != "status"}, **values}


def frame(stage: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """``rows`` completed by :func:`row`, as a frame with ``stage``'s columns in declared order."""
    return pd.DataFrame([row(stage, **r) for r in rows], columns=manifest_schema(stage).names)


def write_rows(stage: str, rows: Iterable[Mapping[str, Any]], where: Params | Path) -> Path:
    """Write ``rows`` as ``stage``'s manifest; return its path.

    Args:
        stage: The stage whose manifest this is (``crawl``, ``crop``, ``triplets``, ...).
        rows: Partial rows (see :func:`row`).
        where: The project's params (the file lands where the stage writes it) or a directory.
    """
    path = manifest_path(where, stage) if isinstance(where, Params) else Path(where) / MANIFEST_NAMES[stage]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_manifest(frame(stage, rows), path, stage=stage)
