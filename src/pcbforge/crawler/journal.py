"""Item state of a crawl: an append-only JSON-lines journal of manifest rows.

Every row (stored or rejected) is appended and flushed as soon as its item leaves the
pipelines, after the file it names is in place. A crawl killed at any point (even
SIGKILL) therefore knows exactly which images are done; the next run skips their URLs
(no re-download) and the final manifest is built from the journals of all runs and all
workers. A torn last line (killed mid-write) is ignored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class Journal:
    """Append manifest rows to ``path``, one JSON object per line, flushed per row."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: each write lands at the end even if another run appended meanwhile.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # less the umask

    def append(self, row: dict[str, Any]) -> None:
        """Write one row (a single ``write`` so a line is never interleaved)."""
        os.write(self._fd, (json.dumps(row, sort_keys=True) + "\n").encode("utf-8"))

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_rows(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """All complete rows of the journals at ``paths`` (missing files are empty), in file order."""
    rows: list[dict[str, Any]] = []
    for p in sorted(Path(x) for x in paths):
        if not p.is_file():
            continue
        with open(p, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.endswith("\n"):
                    log.info("journal %s:%d: ignoring a torn last line (crawl was killed mid-write)", p, n)
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    log.warning("journal %s:%d: unreadable line skipped", p, n)
    return rows


def latest_by_url(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last row per image URL (a retried URL supersedes its earlier ``error`` row)."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        prev = out.get(row["image_url"])
        # A final answer (ok/rejected) is never replaced by a later transient error.
        if prev is not None and prev["status"] != "error" and row["status"] == "error":
            continue
        out[row["image_url"]] = row
    return out


def is_duplicate(row: dict[str, Any]) -> bool:
    """Whether ``row`` rejects its image as a copy (same sha256) of another one."""
    return row["status"] == "rejected" and str(row.get("error") or "").startswith("duplicate")


def answers(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """:func:`latest_by_url`, except that a duplicate of a file never stored is an ``error`` row.

    DedupPipeline claims a sha256 before StorePipeline writes the file, so a copy that
    arrives meanwhile is journaled as a duplicate; if that write then fails, no ``ok`` row
    has the sha256 and the duplicate names a file that does not exist. Its URL must be
    retried (``internal: store of <sha256> failed``), not counted as done. "Stored" is
    :func:`stored_shas`, what DedupPipeline of the next run drops copies of: a URL
    retried here is then stored, not dropped as a duplicate again.
    """
    rows = list(rows)
    stored = stored_shas(rows)
    out = latest_by_url(rows)
    for url, row in out.items():
        sha = row.get("sha256")
        if is_duplicate(row) and sha and sha not in stored:
            out[url] = {**row, "status": "error", "error": f"internal: store of {sha} failed"}
    return out


def done_urls(rows: Iterable[dict[str, Any]]) -> set[str]:
    """Image URLs with a final answer: not fetched again on resume (``error`` rows are retried)."""
    return {u for u, r in answers(rows).items() if r["status"] != "error"}


def stored_shas(rows: Iterable[dict[str, Any]]) -> set[str]:
    """sha256 of every file already stored."""
    return {r["sha256"] for r in rows if r["status"] == "ok" and r.get("sha256")}
