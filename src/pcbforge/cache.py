"""Per-image results cached by content hash and the settings that shape them (incremental stages).

A stage that measures each image on its own keeps what it measured in a :class:`ResultCache`
(one Parquet file, a DVC ``persist`` out beside the stage's outputs) under ``(sha256, config)``:
``config`` names every setting that changes the result, and nothing else (thresholds applied
afterwards stay out of it, so changing them re-uses every entry). A re-run after new images
arrived then processes only those (:func:`map_cached`) and writes the same bytes as a full
rebuild, because a cached record is the JSON of what the function returned. The dedup stage's
:class:`pcbforge.clean.hashing.HashCache` is one with typed columns.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import pyarrow as pa
import pyarrow.parquet as pq

from pcbforge.io import atomic_path
from pcbforge.parallel import Executor, map_ordered

log = logging.getLogger(__name__)

CACHE_SCHEMA = pa.schema([("sha256", pa.string()), ("config", pa.string()), ("record", pa.string())])


class ResultCache:
    """JSON records keyed by ``(sha256, config)``, stored as one Parquet file.

    The key column is the first of :attr:`SCHEMA` (``sha256``); a subclass keyed by something
    else derived from content (e.g. a pair of sha256s) names its own.

    Only records without an ``error`` are kept: an error names the file it came from, and the
    same bytes may sit at another path next time. Entries of other configs stay, so switching a
    setting back and forth costs nothing.

    Example:
        >>> c = ResultCache()
        >>> c.put("ab12", "v1", {"blur": 3.5, "error": None})
        >>> c.get("ab12", "v1"), c.get("ab12", "v2")
        ({'blur': 3.5, 'error': None}, None)
    """

    def __init__(self, entries: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self.entries = entries or {}
        self.dirty = False

    #: The file's columns; a subclass with typed columns sets its own and the two row hooks.
    SCHEMA = CACHE_SCHEMA
    #: What the log calls the cache.
    KIND = "result cache"

    @staticmethod
    def _from_row(row: dict[str, Any]) -> dict[str, Any]:
        return json.loads(row["record"])

    @staticmethod
    def _to_row(record: dict[str, Any]) -> dict[str, Any]:
        return {"record": json.dumps(record, sort_keys=True)}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read the cache; a missing file gives an empty cache, an unreadable one too (logged)."""
        p = Path(path)
        if not p.is_file():
            return cls()
        try:
            table = pq.read_table(p)
            if table.schema.names != cls.SCHEMA.names:
                raise ValueError(f"unexpected columns {table.schema.names}")
            key = cls.SCHEMA.names[0]
            # to_pylist keeps nulls as None (pandas would turn them into NaN)
            entries = {(r[key], r["config"]): cls._from_row(r) for r in table.to_pylist()}
        except (OSError, ValueError, pa.ArrowInvalid) as exc:
            log.warning("%s %s unreadable (%s); rebuilding it", cls.KIND, p, exc)
            return cls()
        return cls(entries)

    def get(self, sha: str, config: str) -> dict[str, Any] | None:
        """The record of ``sha`` under ``config``, or None."""
        return self.entries.get((sha, config))

    def put(self, sha: str, config: str, record: dict[str, Any]) -> None:
        """Keep ``record`` unless it is an error (its text names a path)."""
        if record.get("error") is None:
            self.entries[(sha, config)] = record
            self.dirty = True

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically, rows sorted by (config, key), so the bytes are deterministic."""
        key = self.SCHEMA.names[0]
        rows = [
            {key: sha, "config": cfg, **self._to_row(rec)}
            for (sha, cfg), rec in sorted(self.entries.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ]
        with atomic_path(path) as tmp:
            pq.write_table(pa.Table.from_pylist(rows, schema=self.SCHEMA), tmp, compression="zstd")
        self.dirty = False
        return Path(path)


def map_cached(
    fn: Callable[[Any], dict[str, Any]],
    jobs: Sequence[tuple[str, Any]],
    cache: ResultCache,
    config: str,
    workers: int | Executor = 1,
    **map_options: Any,
) -> tuple[list[dict[str, Any]], int]:
    """``[fn(job) for sha256, job in jobs]``, taking each result of a ``sha256`` already seen
    under ``config`` from ``cache`` and running only the others (on ``workers``).

    Args:
        fn: A picklable function of one job returning a JSON-serialisable dict (with an
            ``error`` key, None when it worked); it must depend on the job's content and on
            the settings ``config`` names only.
        jobs: ``(sha256 of the input's bytes, job)``, in the order results are returned.
        cache: Read, and updated with every new record that is not an error.
        config: Names the settings that shape ``fn``'s result (and a version of ``fn``).
        workers: Where the misses run (see :func:`pcbforge.parallel.map_ordered`).
        **map_options: Passed on to :func:`pcbforge.parallel.map_ordered` (``desc``, ``progress``, ...).

    Returns:
        The results in the order of ``jobs``, and how many of them ``fn`` computed this time.
    """
    results: list[dict[str, Any] | None] = [cache.get(sha, config) for sha, _ in jobs]
    # A record is rebuilt from its JSON, so a hit and a fresh result are alike to the last bit.
    todo = [i for i, r in enumerate(results) if r is None]
    fresh = map_ordered(fn, [jobs[i][1] for i in todo], workers, **map_options)
    for i, rec in zip(todo, fresh, strict=True):
        rec = json.loads(json.dumps(rec, sort_keys=True))
        cache.put(jobs[i][0], config, rec)
        results[i] = rec
    return [r for r in results if r is not None], len(todo)
