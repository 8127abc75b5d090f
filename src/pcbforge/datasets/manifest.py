"""Parquet manifests: one row per sample with a stable ``id``, lineage and ``status``/``error``.

Every stage writes its manifest through :func:`write_manifest`, which checks the
shared contract, sorts rows by id (so row order never depends on thread timing)
and writes atomically. Readers use :func:`read_manifest`, which turns a missing or
unreadable file into a clear :class:`~pcbforge.errors.InputError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np  # noqa: F401  (used by the doctest)
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pcbforge.errors import InputError
from pcbforge.io import atomic_path
from pcbforge.vocab import Status

if TYPE_CHECKING:
    from pcbforge.config import Params

#: Columns every manifest carries.
REQUIRED_COLUMNS = ("id", "status", "error")

#: Lineage of a sample's pixels, carried from the crawl (via accepted.parquet) or a board's
#: data.yaml through components, triplets and pairs to the export's CREDITS.csv.
#: ``source_url`` identifies the source image (a web photo's URL, a board's page or file);
#: ``image_url`` is the crawled file's URL (null for boards); the rest are null when unknown.
LINEAGE_COLUMNS = ("source_url", "image_url", "licence", "licence_url", "author", "attribution")


def ok_row(**fields: Any) -> dict[str, Any]:
    """A manifest row for a good sample."""
    return {**fields, "status": Status.OK.value, "error": None}


def rejected_row(reason: str, **fields: Any) -> dict[str, Any]:
    """A manifest row for a sample dropped on purpose, with the reason."""
    return {**fields, "status": Status.REJECTED.value, "error": reason}


def error_row(reason: str, **fields: Any) -> dict[str, Any]:
    """A manifest row for a sample that could not be processed (unreadable, malformed)."""
    return {**fields, "status": Status.ERROR.value, "error": reason}


def cell_value(v: Any) -> Any:
    """A manifest cell as a plain Python value: NaN/NA/None -> None, numpy scalars -> Python.

    Example:
        >>> cell_value(float("nan")), cell_value(pd.NA), type(cell_value(np.int64(3))).__name__
        (None, None, 'int')
    """
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):  # lists and arrays have no single truth value
        pass
    return v.item() if hasattr(v, "item") else v


def shown_path(path: Path, root: Path) -> str:
    """``path`` as manifests and messages write it: relative to the project ``root`` when
    inside it (no machine-specific prefix in tracked outputs), else as it is.

    Example:
        >>> shown_path(Path("/p/data/crop/a.png"), Path("/p")), shown_path(Path("/elsewhere/x"), Path("/p"))
        ('data/crop/a.png', '/elsewhere/x')
    """
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def error_text(exc: BaseException, path: Path, root: Path | None, what: str = "") -> str:
    """The reason an error row gives for ``exc``, raised while handling ``path``.

    ``"<path>: <what>: <message>"`` (``"<path>: <message>"`` without ``what``), with ``path``
    as :func:`shown_path` writes it and every path under ``root`` in the exception's message
    made relative to ``root`` too, so the row does not depend on where the project is
    checked out. ``root`` None (library use outside a project) leaves paths as they are.

    Example:
        >>> exc = FileNotFoundError(2, "No such file or directory", "/p/data/a.png")
        >>> error_text(exc, Path("/p/data/a.png"), Path("/p"), "cannot decode image")
        "data/a.png: cannot decode image: [Errno 2] No such file or directory: 'data/a.png'"
    """
    shown = str(path) if root is None else shown_path(path, root)
    message = relative_message(exc, root)
    return f"{shown}: {what}: {message}" if what else f"{shown}: {message}"


def relative_message(exc: BaseException, root: Path | None) -> str:
    """``exc``'s message (its type name when empty) with paths under ``root`` made relative.

    Example:
        >>> relative_message(ValueError("bad pixels in /p/data/a.png"), Path("/p"))
        'bad pixels in data/a.png'
    """
    message = str(exc) or type(exc).__name__
    return message if root is None else message.replace(f"{root}{os.sep}", "")


def lineage_of(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The :data:`LINEAGE_COLUMNS` cells of a manifest row as plain values (null when absent).

    ``prefix`` reads another sample's lineage from the same row (``negative_`` in
    triplets.parquet); the keys returned are the plain column names either way.

    Example:
        >>> row = {"source_url": "http://x/a.png", "negative_licence": "CC0-1.0", "negative_author": float("nan")}
        >>> neg = lineage_of(row, "negative_")
        >>> lineage_of(row)["source_url"], neg["licence"], neg["author"]
        ('http://x/a.png', 'CC0-1.0', None)
    """
    return {k: cell_value(row.get(f"{prefix}{k}")) for k in LINEAGE_COLUMNS}


def to_frame(rows: Iterable[Mapping[str, Any]], columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Build a manifest frame from rows; ``columns`` fixes column order for empty inputs."""
    rows = list(rows)
    df = pd.DataFrame(rows, columns=list(columns) if columns is not None else None)
    for col in REQUIRED_COLUMNS:
        if col not in df.columns:
            df[col] = pd.Series(dtype="object")
    return df


def write_manifest(df: pd.DataFrame, path: str | os.PathLike[str], sort_by: str | list[str] = "id") -> Path:
    """Validate the contract, sort deterministically and write ``df`` as Parquet atomically.

    Raises:
        ValueError: if a required column is missing or ids are not unique (a bug, not user input).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"manifest for {path} lacks required columns {missing}")
    if df["id"].duplicated().any():
        dups = df.loc[df["id"].duplicated(), "id"].head(5).tolist()
        raise ValueError(f"manifest for {path} has duplicate ids, e.g. {dups}")
    bad_status = set(df["status"].dropna()) - {s.value for s in Status}
    if bad_status:
        raise ValueError(f"manifest for {path} has unknown status values {sorted(bad_status)}")
    out = df.sort_values(sort_by, kind="mergesort").reset_index(drop=True)
    table = pa.Table.from_pandas(out, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(path)


def read_manifest(path: str | os.PathLike[str], stage: str | None = None) -> pd.DataFrame:
    """Read a manifest, naming the producing stage in the error if it is missing.

    Example:
        >>> df = read_manifest("data/raw/images.parquet", stage="crawl")  # doctest: +SKIP
    """
    p = Path(path)
    hint = f" (run `pcbforge {stage}` or `dvc repro {stage}` first)" if stage else ""
    if not p.is_file():
        raise InputError(f"manifest not found: {p}{hint}")
    try:
        return pq.read_table(p).to_pandas()
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"manifest unreadable: {p}: {exc}{hint}") from exc


def ok_only(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with status ``ok``."""
    return df[df["status"] == Status.OK.value].reset_index(drop=True)


#: The manifest each stage writes inside its ``<stage>.out`` directory, named here once.
MANIFEST_NAMES: dict[str, str] = {
    "catalog": "catalog.parquet",
    "crawl": "images.parquet",
    "dedup": "dedup.parquet",
    "quality": "quality.parquet",
    "review": "accepted.parquet",
    "crop": "components.parquet",
    "split": "split.parquet",
    "triplets": "triplets.parquet",
    "simulate": "pairs.parquet",
    "export": "export.parquet",
}


def manifest_path(params: Params, stage: str) -> Path:
    """Where ``stage`` writes its manifest: ``<stage>.out`` resolved, plus its manifest name.

    Example:
        >>> manifest_path(load_params("params.yaml"), "crawl")  # doctest: +SKIP
        PosixPath('/project/data/raw/images.parquet')
    """
    return params.path(getattr(params, stage).out) / MANIFEST_NAMES[stage]
