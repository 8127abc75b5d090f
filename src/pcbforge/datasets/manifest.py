"""Parquet manifests: one row per sample with a stable ``id``, lineage and ``status``/``error``.

Every stage writes its manifest through :func:`write_manifest`, which casts the frame to
the stage's declared schema (:mod:`pcbforge.datasets.schemas`), sorts rows by id (so row
order never depends on thread timing) and writes atomically, with the schema version in
the file metadata. Readers use :func:`read_manifest`, which turns a missing, unreadable,
too-new or incomplete file into one clear :class:`~pcbforge.errors.InputError`.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pcbforge.datasets import schemas
from pcbforge.errors import InputError
from pcbforge.io import atomic_path
from pcbforge.vocab import Status

if TYPE_CHECKING:
    from pcbforge.config import Params

#: Columns every manifest carries.
REQUIRED_COLUMNS = tuple(f.name for f in (schemas.ID, schemas.STATUS, schemas.ERROR))

#: Lineage of a sample's pixels (declared in :mod:`pcbforge.datasets.schemas`).
LINEAGE_COLUMNS = schemas.LINEAGE_COLUMNS


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


def component_context(
    row: Mapping[str, Any], crop_out: Path, crop_margin: float
) -> tuple[Path | None, tuple[float, float, float, float] | None, float]:
    """Where a ``components.parquet`` row's context patch is, the part's box inside it, and
    the board margin its square view was cut with (``crop.margin`` for a board crop, 0 for a
    web photo, which has no board around it: see annotate/crops.py).

    Example:
        >>> component_context({"context_path": "context/a.png", "context_box": [1, 2, 3, 4], "origin": "web"},
        ...                   Path("/p/data/crop"), 0.1)
        (PosixPath('/p/data/crop/context/a.png'), (1.0, 2.0, 3.0, 4.0), 0.0)
    """
    ctx = row.get("context_path")
    context = crop_out / str(ctx) if isinstance(ctx, str) and ctx else None
    try:  # a list/array cell; None or NaN (no context kept) is not iterable
        coords = tuple(float(v) for v in row.get("context_box"))  # type: ignore[union-attr]
    except (TypeError, ValueError):
        coords = ()
    box = coords if len(coords) == 4 else None
    margin = crop_margin if row.get("origin") in (None, "board") else 0.0
    return context, box, margin  # type: ignore[return-value]


def to_frame(
    rows: Iterable[Mapping[str, Any]], columns: Iterable[str] | None = None, *, stage: str | None = None
) -> pd.DataFrame:
    """Build a manifest frame from rows; ``columns`` (or every column of ``stage``'s schema)
    fixes the columns, so an empty input still has them.

    Raises:
        ValueError: with ``stage``, a row holds a key the stage's schema does not declare
            (a column computed but never added to :mod:`pcbforge.datasets.schemas` must not
            vanish silently).
    """
    rows = list(rows)
    if stage is not None:
        columns = schemas.columns(stage)
        declared = set(columns)
        unknown = sorted({k for r in rows for k in r} - declared)
        if unknown:
            raise ValueError(
                f"{schemas.manifest_schema(stage).file}: rows hold columns {unknown} not declared in the "
                f"{stage} schema (add them to pcbforge/datasets/schemas.py)"
            )
    df = pd.DataFrame(rows, columns=list(columns) if columns is not None else None)
    for col in REQUIRED_COLUMNS:
        if col not in df.columns:
            df[col] = pd.Series(dtype="object")
    return df


def conform(df: pd.DataFrame, stage: str, where: str | os.PathLike[str] | None = None) -> pa.Table:
    """``df`` cast to the declared schema of ``stage``'s manifest, with its file metadata.

    Columns come out in the declared order; a declared nullable column the frame lacks is
    written as typed nulls, so no manifest has a null-typed column (an all-null ``error``
    is a ``string`` column and two manifests of one stage always concatenate). Integer and
    boolean columns become pandas' nullable dtypes first, so a reader gets ``Int64`` /
    ``boolean`` (``int64`` / ``bool`` for non-nullable ones) whatever the writer held.

    Raises:
        ValueError: an undeclared column, a missing non-nullable column, a null in a
            non-nullable one or a value of the wrong type, naming the column and the
            manifest (a bug in the writer, not user input).

    Example:
        >>> t = conform(pd.DataFrame({"id": ["a"], "source": ["x"], "status": ["ok"]}), "export")
        >>> t.schema.field("error").type, t.column("formats").null_count
        (DataType(string), 1)
    """
    ms = schemas.manifest_schema(stage)
    what = f"{ms.file} ({where})" if where is not None else ms.file
    unknown = [c for c in df.columns if c not in ms.names]
    if unknown:
        raise ValueError(
            f"{what}: columns {unknown} are not declared in the {stage} schema (add them to pcbforge/datasets/schemas.py)"
        )
    missing = [f.name for f in ms.fields if not f.nullable and f.name not in df.columns]
    if missing:
        raise ValueError(f"{what}: lacks non-nullable columns {missing} of the {stage} schema")
    cols: dict[str, pd.Series] = {}
    for f in ms.fields:
        col = df[f.name] if f.name in df.columns else None
        if col is None or col.isna().all():
            # All null (or absent): typed nulls, never a null-typed or float NaN column.
            col = pd.Series([None] * len(df), index=df.index, dtype="object")
        elif pa.types.is_boolean(f.type) or pa.types.is_integer(f.type):
            nullable = "boolean" if pa.types.is_boolean(f.type) else "Int64"
            try:
                col = col.astype(nullable)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ValueError(f"{what}: column {f.name!r} is not {f.type}: {exc}") from exc
        elif pa.types.is_list(f.type) and pa.types.is_integer(f.type.value_type):
            # pyarrow truncates 1.5 to 1 when it casts a float list to int64: refuse instead.
            for v in col.dropna():
                if any(isinstance(x, float | np.floating) and not float(x).is_integer() for x in v):
                    raise ValueError(f"{what}: column {f.name!r} is {f.type} but holds a fraction: {list(v)}")
        if not f.nullable and col.isna().any():
            raise ValueError(f"{what}: column {f.name!r} is non-nullable but has {int(col.isna().sum())} null(s)")
        if not f.nullable and pa.types.is_integer(f.type):
            col = col.astype("int64")
        elif not f.nullable and pa.types.is_boolean(f.type):
            col = col.astype(bool)
        cols[f.name] = col
    frame = pd.DataFrame(cols, index=df.index)
    try:
        table = pa.Table.from_pandas(frame, schema=ms.schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
        for f in ms.fields:  # name the column (pyarrow's message names it only sometimes)
            try:
                pa.Array.from_pandas(frame[f.name], type=f.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as col_exc:
                raise ValueError(f"{what}: column {f.name!r} is not {f.type}: {col_exc}") from exc
        raise ValueError(f"{what}: does not fit the {stage} schema: {exc}") from exc
    info = json.dumps({"stage": stage, "schema_version": ms.version}, sort_keys=True)
    return table.replace_schema_metadata({**(table.schema.metadata or {}), schemas.METADATA_KEY: info.encode()})


def _check_status(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    if "status" in df.columns:
        bad_status = set(df["status"].dropna()) - {s.value for s in Status}
        if bad_status:
            raise ValueError(f"manifest for {path} has unknown status values {sorted(bad_status)}")


def _write_table(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(path)


def write_manifest(
    df: pd.DataFrame, path: str | os.PathLike[str], *, stage: str, sort_by: str | list[str] = "id"
) -> Path:
    """Cast ``df`` to ``stage``'s declared schema, sort deterministically and write it as Parquet atomically.

    Raises:
        ValueError: the frame does not fit the schema (see :func:`conform`), ids are not
            unique or a status is unknown (a bug, not user input).
    """
    if "id" in df.columns and df["id"].duplicated().any():
        dups = df.loc[df["id"].duplicated(), "id"].head(5).tolist()
        raise ValueError(f"manifest for {path} has duplicate ids, e.g. {dups}")
    _check_status(df, path)
    out = df.sort_values(sort_by, kind="mergesort").reset_index(drop=True) if len(df) else df.reset_index(drop=True)
    return _write_table(conform(out, stage, path), path)


class ManifestWriter:
    """Rows in, as a stage makes them; one manifest out, sorted by id, as :func:`write_manifest` writes it.

    For a stage whose rows outnumber what memory should hold (``catalog`` at 100k images: a
    row dict weighs ~0.7 KiB, the frame built from all of them at the end several times that):
    every ``chunk`` rows are conformed to the schema, sorted by id and spilled to an anonymous
    temporary file beside the manifest as one sorted run, and :meth:`close` merges the runs
    into the manifest, ``row_group`` rows at a time, atomically. Memory holds one chunk of rows
    plus one row group, whatever the number of rows (benchmarks/bench_memory.py).

    Up to ``row_group`` rows the file's bytes are those :func:`write_manifest` writes for the same
    rows; above it the file holds the same table in row groups of ``row_group`` rows (one
    group of up to 1Mi rows there). Either way, same rows, same bytes. A stage with float
    columns is refused: pandas' metadata names a float column's dtype as the whole column made it.

    Example:
        >>> w = ManifestWriter("x.parquet", stage="export")  # doctest: +SKIP
        >>> w.add({"id": "a", "source": "s", "status": "ok"}); w.close()  # doctest: +SKIP
    """

    #: Rows per batch in the spilled runs; the merge holds one batch of each unfinished run.
    SPILL_BATCH = 256

    def __init__(self, path: str | os.PathLike[str], *, stage: str, chunk: int = 4096, row_group: int = 4096) -> None:
        floats = [f.name for f in schemas.manifest_schema(stage).fields if pa.types.is_floating(f.type)]
        if floats:
            # pandas' metadata names a float column's dtype as the whole column made it (int64 for
            # whole numbers, float32 for numpy float32 values), which one row per column cannot tell.
            raise ValueError(f"ManifestWriter cannot promise write_manifest's bytes for {stage}: float columns {floats}")
        if chunk < 1 or row_group < 1:
            raise ValueError(f"ManifestWriter: chunk ({chunk}) and row_group ({row_group}) must be at least 1")
        self.path, self.stage, self.chunk, self.row_group = Path(path), stage, chunk, row_group
        self._closed = False
        self._rows: list[Mapping[str, Any]] = []
        self._empty: pa.Table | None = None  # the conformed empty table, for the schema
        self._spill: IO[bytes] | None = None
        self._ipc: pa.ipc.RecordBatchFileWriter | None = None
        self._runs: list[range] = []  # the spill file's batches, per sorted run
        self._batches = 0
        # The first row holding a value in each column: pandas' metadata in the file (a column's
        # ``numpy_type``) depends on whether the column holds any value at all, so it is taken
        # from these rows, as write_manifest would take it from all of them.
        self._witness: dict[str, Mapping[str, Any]] = {}

    def add(self, row: Mapping[str, Any]) -> None:
        if self._closed:
            raise ValueError(f"manifest {self.path} was already written or discarded")
        self._rows.append(row)
        for k, v in row.items():
            if k not in self._witness and not (v is None or (np.ndim(v) == 0 and pd.isna(v))):
                self._witness[k] = row
        if len(self._rows) >= self.chunk:
            self._flush()

    def _flush(self) -> None:
        if not self._rows and self._empty is not None:
            return
        df = to_frame(self._rows, stage=self.stage)
        _check_status(df, self.path)
        table = conform(df, self.stage, self.path).replace_schema_metadata(None)
        self._rows = []
        if self._empty is None:
            self._empty = table.schema.empty_table()
        if not len(table):
            return
        if self._ipc is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Unlinked at once (O_TMPFILE or its equivalent): a killed stage leaves nothing behind.
            self._spill = tempfile.TemporaryFile(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".spill")
            self._ipc = pa.ipc.new_file(pa.PythonFile(self._spill, mode="w"), table.schema)
        run = table.take(pc.sort_indices(table.column("id")))
        start = self._batches
        for batch in run.combine_chunks().to_batches(max_chunksize=self.SPILL_BATCH):
            self._ipc.write_batch(batch)
            self._batches += 1
        self._runs.append(range(start, self._batches))

    def close(self) -> Path:
        """Merge every row, sorted by id, into the manifest (atomically); the writer is then empty.

        Raises:
            ValueError: as :func:`write_manifest`; the manifest is then not written.
        """
        if self._closed:
            raise ValueError(f"manifest {self.path} was already written")
        self._closed = True
        try:
            return self._write()
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop every row and the spill file without writing (a stage that failed half-way);
        :meth:`close` calls it too. The writer cannot be used afterwards."""
        self._closed = True
        self._rows, self._witness = [], {}
        if self._ipc is not None:
            try:
                self._ipc.close()
            except (OSError, pa.ArrowException):
                pass
        if self._spill is not None:
            self._spill.close()
        self._spill = self._ipc = None

    def _write(self) -> Path:
        self._flush()
        witnesses = list({id(r): r for r in self._witness.values()}.values())
        self._witness = {}
        meta = conform(to_frame(witnesses, stage=self.stage), self.stage, self.path).schema.metadata
        assert self._empty is not None
        schema = self._empty.schema.with_metadata(meta)
        if self._ipc is None:
            return _write_table(self._empty.replace_schema_metadata(meta), self.path)
        self._ipc.close()
        self._ipc = None
        self._spill.seek(0)  # type: ignore[union-attr]
        reader = pa.ipc.open_file(pa.PythonFile(self._spill, mode="r"))
        dups: list[str] = []
        with atomic_path(self.path) as tmp:
            with pq.ParquetWriter(tmp, schema, compression="zstd") as out:
                for group in _merge_runs(reader, self._runs, self.row_group, dups):
                    out.write_table(group)
            if dups:  # a writer's bug, found as the runs merge: nothing is written
                raise ValueError(f"manifest for {self.path} has duplicate ids, e.g. {dups}")
        return self.path


def _merge_runs(
    reader: pa.ipc.RecordBatchFileReader, runs: list[range], row_group: int, dups: list[str]
) -> Iterator[pa.Table]:
    """The rows of sorted ``runs`` (batch ranges of ``reader``) merged by id, ``row_group`` at a time.

    Holds one batch per run and the batches the current group takes rows from. Ids seen twice
    are added to ``dups`` (up to five).
    """
    batches: dict[int, pa.RecordBatch] = {}  # batch index -> batch, while a run or the group needs it
    ids: dict[int, list[str]] = {}
    cursor = [(iter(run), -1, 0) for run in runs]  # per run: its batches left, current batch, next row
    heap: list[tuple[str, int]] = []

    def advance(r: int) -> None:
        left, b, row = cursor[r]
        if b < 0 or row >= len(ids[b]):
            b = next(left, -1)
            if b < 0:  # the run is done: its last batch is no longer current
                cursor[r] = (left, -1, 0)
                return
            batches[b] = reader.get_batch(b)
            ids[b] = batches[b].column("id").to_pylist()
            row = 0
        cursor[r] = (left, b, row)
        heapq.heappush(heap, (ids[b][row], r))

    for r in range(len(runs)):
        advance(r)
    taken: list[tuple[int, int]] = []
    last = None
    while heap:
        key, r = heapq.heappop(heap)
        if key == last and len(dups) < 5 and key not in dups:
            dups.append(key)
        last = key
        left, b, row = cursor[r]
        taken.append((b, row))
        cursor[r] = (left, b, row + 1)
        advance(r)
        if len(taken) == row_group or not heap:
            used = sorted({b for b, _ in taken})
            at = dict(zip(used, itertools.accumulate((len(ids[b]) for b in used), initial=0)))
            table = pa.Table.from_batches([batches[b] for b in used])
            yield table.take(pa.array([at[b] + row for b, row in taken], type=pa.int64())).combine_chunks()
            current = {c[1] for c in cursor}
            for b in used:
                if b not in current:
                    del batches[b], ids[b]
            taken = []


def manifest_info(schema: pa.Schema) -> dict[str, Any]:
    """The ``{"stage": ..., "schema_version": ...}`` a manifest's metadata holds (empty if none)."""
    raw = (schema.metadata or {}).get(schemas.METADATA_KEY)
    if raw is None:
        return {}
    try:
        info = json.loads(raw)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def read_manifest(
    path: str | os.PathLike[str],
    stage: str,
    require: Iterable[str] = ("id", "status"),
    columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read ``stage``'s manifest at ``path``, checking its schema version and the columns the reader needs.

    Args:
        path: The Parquet file.
        stage: The stage that writes it (a key of :data:`MANIFEST_NAMES`), named in every error.
        require: Columns the caller reads; each must be declared in the stage's schema.
        columns: Read only these (and ``require``), each declared in the stage's schema; None:
            every column. A large manifest read for a few columns then costs a few columns.

    Raises:
        InputError: the file is missing or unreadable, was written by a newer schema version
            or by another stage, or lacks a required column (one line: the file, the columns
            and the stage to re-run).
        ValueError: ``require`` names a column the schema does not declare (a bug).

    Example:
        >>> df = read_manifest("data/raw/images.parquet", "crawl", require=("id", "path"))  # doctest: +SKIP
    """
    ms = schemas.manifest_schema(stage)
    require = tuple(require)
    wanted = None if columns is None else [*require, *(c for c in columns if c not in require)]
    undeclared = [c for c in (wanted or require) if c not in ms.names]
    if undeclared:
        raise ValueError(f"read_manifest: {undeclared} are not columns of the {stage} schema ({ms.file})")
    p = Path(path)
    hint = f" (run `pcbforge {stage}` or `dvc repro {stage}` first)"
    if not p.is_file():
        raise InputError(f"manifest not found: {p}{hint}")
    try:
        if wanted is None:
            table = pq.read_table(p)
        else:  # the columns the file has; a declared one it lacks reads as nulls below
            present = set(pq.read_schema(p).names)
            table = pq.read_table(p, columns=[c for c in wanted if c in present])
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"manifest unreadable: {p}: {exc}{hint}") from exc
    info = manifest_info(table.schema)
    if info.get("stage", stage) != stage:
        raise InputError(f"{p} is a {info['stage']} manifest, not the {stage} one ({ms.file}); check the path")
    version = info.get("schema_version", 0)
    if not isinstance(version, int) or version > ms.version:
        raise InputError(
            f"{p}: {ms.file} schema version {version} is newer than this pcbforge reads ({ms.version}); "
            f"upgrade pcbforge or re-run `pcbforge {stage}`"
        )
    missing = [c for c in require if c not in table.column_names]
    if missing:
        raise InputError(f"{p} lacks columns {missing}: re-run `pcbforge {stage}` (see docs/stages.md, {ms.file})")
    df = table.to_pandas()
    # A file from an older schema version lacks columns declared since: they read as nulls,
    # so no reader checks for an optional column by hand.
    for f in ms.fields:
        if f.name not in df.columns and f.nullable and (wanted is None or f.name in wanted):
            df[f.name] = None
    return df


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
