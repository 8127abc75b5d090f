"""Review decisions: read, validate, merge and apply the git-tracked decisions file.

Annotators work in the FiftyOne App (see :mod:`pcbforge.clean.fiftyone_review`), but what
they decide lands in a small CSV kept in git (``review.decisions``), so decisions are
versioned with the data and survive the database being wiped. This module is pure: it
never touches MongoDB, so the ``review`` DVC stage runs anywhere.

The file has the header ``id,decision,value,annotator,note`` and one row per decision:

=================  ==========================  ===============================================
decision           value                       effect on ``accepted.parquet``
=================  ==========================  ===============================================
``reject``         empty                       status ``rejected`` (reason names the annotator)
``relabel``        a taxonomy class name   ``class_label`` replaced
``not-duplicate``  empty                       kept although dedup dropped it; own cluster
``accept``         empty                       kept despite a duplicate or quality drop
=================  ==========================  ===============================================

One image may carry several decisions (e.g. ``relabel`` and ``not-duplicate``), but each
kind at most once, and never both ``reject`` and ``accept``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pandas as pd

from pcbforge.datasets.manifest import cell_value, error_row, ok_row, rejected_row, to_frame
from pcbforge.errors import InputError
from pcbforge.io import write_text
from pcbforge.taxonomy import Taxonomy
from pcbforge.vocab import QualityFlag, Status

log = logging.getLogger(__name__)

HEADER: tuple[str, ...] = ("id", "decision", "value", "annotator", "note")


class Decision(str, Enum):
    """A reviewer's decision on one image; the value is what the decisions file holds."""

    REJECT = "reject"
    RELABEL = "relabel"
    NOT_DUPLICATE = "not-duplicate"
    ACCEPT = "accept"


#: The ``decision`` column of accepted.parquet when no human decided anything.
AUTO = "auto"

# Which decision names a row in accepted.parquet when one image has several.
_PRIORITY = (Decision.REJECT, Decision.RELABEL, Decision.NOT_DUPLICATE, Decision.ACCEPT)


@dataclass(frozen=True, order=True)
class DecisionRow:
    """One row of the decisions file. ``line`` is its 1-based line (0 when not from a file)."""

    id: str
    decision: Decision
    value: str = ""
    annotator: str = ""
    note: str = ""
    line: int = 0

    @property
    def key(self) -> tuple[str, str]:
        """(id, decision): at most one row per key."""
        return (self.id, self.decision.value)


def _fail(source: str, line: int, what: str) -> InputError:
    return InputError(
        f"{source}:{line}: {what} (expected columns {','.join(HEADER)}; "
        f"decision one of {', '.join(d.value for d in Decision)})"
    )


def parse_decisions(text: str, source: str = "<decisions>", classes: Collection[str] | None = None) -> list[DecisionRow]:
    """Parse and validate the text of a decisions file.

    Args:
        text: the CSV text (header ``id,decision,value,annotator,note``).
        source: file name used in error messages.

    Returns:
        The rows in file order.

    Raises:
        InputError: naming ``source:line`` for a wrong header, a wrong number of fields,
            an empty id, an unknown decision, a relabel to a class outside
            the taxonomy (``classes``: the default taxonomy when None), a value on a decision that takes none,
            the same (id, decision) twice, or both ``reject`` and ``accept`` for one id.

    Example:
        >>> rows = parse_decisions("id,decision,value,annotator,note\\nab12,relabel,diode,ann,\\n")
        >>> rows[0].decision.value, rows[0].value
        ('relabel', 'diode')
    """
    classes = set(classes if classes is not None else Taxonomy.default().names())
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[DecisionRow] = []
    seen: dict[tuple[str, str], int] = {}
    header_seen = False
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if not header_seen:
            if tuple(f.strip() for f in fields) != HEADER:
                raise _fail(source, line, f"bad header {','.join(fields)!r}")
            header_seen = True
            continue
        if len(fields) != len(HEADER):
            raise _fail(source, line, f"{len(fields)} fields instead of {len(HEADER)}")
        rid, dec, value, annotator, note = (f.strip() for f in fields)
        if not rid or any(c.isspace() for c in rid):
            raise _fail(source, line, f"bad image id {rid!r}")
        try:
            decision = Decision(dec)
        except ValueError:
            raise _fail(source, line, f"unknown decision {dec!r}") from None
        if decision is Decision.RELABEL:
            if value not in classes:
                raise InputError(
                    f"{source}:{line}: relabel to unknown class {value!r}; "
                    f"known classes: {', '.join(sorted(classes))}"
                )
        elif value:
            raise _fail(source, line, f"decision {decision.value!r} takes no value, got {value!r}")
        key = (rid, decision.value)
        if key in seen:
            raise InputError(
                f"{source}:{line}: second {decision.value!r} decision for {rid} "
                f"(first at line {seen[key]}); keep one row per image and decision"
            )
        seen[key] = line
        rows.append(DecisionRow(rid, decision, value, annotator, note, line))
    for rid, dec in seen:
        if dec == Decision.REJECT.value and (rid, Decision.ACCEPT.value) in seen:
            first, second = sorted((seen[(rid, Decision.REJECT.value)], seen[(rid, Decision.ACCEPT.value)]))
            raise InputError(
                f"{source}:{second}: {rid} is both rejected and accepted (other row at line {first}); keep one"
            )
    if not header_seen:
        raise _fail(source, 1, "empty file, the header is missing")
    return rows


def read_decisions(path: str | os.PathLike[str], classes: Collection[str] | None = None) -> list[DecisionRow]:
    """Read and validate a decisions file; a missing file means no decisions yet.

    Raises:
        InputError: unreadable or malformed file (with ``file:line``).
    """
    p = Path(path)
    if not p.exists():
        log.warning("decisions file %s does not exist yet: applying no decisions", p)
        return []
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read decisions file {p}: {exc}") from exc
    return parse_decisions(text, source=str(p), classes=classes)


def format_decisions(rows: Iterable[DecisionRow]) -> str:
    """The CSV text of ``rows``, sorted by (id, decision) so diffs stay small and stable."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for r in sorted(rows, key=lambda r: r.key):
        writer.writerow([r.id, r.decision.value, r.value, r.annotator, r.note])
    return buf.getvalue()


def write_decisions(path: str | os.PathLike[str], rows: Iterable[DecisionRow]) -> Path:
    """Write the decisions file atomically (sorted, see :func:`format_decisions`)."""
    return write_text(path, format_decisions(rows))


def merge_decisions(
    existing: Sequence[DecisionRow], pulled: Sequence[DecisionRow]
) -> tuple[list[DecisionRow], int]:
    """Merge decisions pulled from the App into the file's rows.

    Pulling never deletes a decision (the file may hold decisions made elsewhere; undo by
    editing the file). A pulled row that already exists with the same value keeps the
    existing row (its annotator and note); a relabel to another class replaces it; a
    pulled ``reject`` replaces an ``accept`` of the same image and vice versa.

    Returns:
        The merged rows sorted by (id, decision), and how many rows were added or changed.
    """
    merged: dict[tuple[str, str], DecisionRow] = {r.key: r for r in existing}
    changed = 0
    for r in pulled:
        old = merged.get(r.key)
        if old is not None and old.value == r.value:
            continue
        opposite = {Decision.REJECT: Decision.ACCEPT, Decision.ACCEPT: Decision.REJECT}.get(r.decision)
        if opposite is not None:
            merged.pop((r.id, opposite.value), None)
        merged[r.key] = DecisionRow(r.id, r.decision, r.value, r.annotator, r.note)
        changed += 1
    return sorted(merged.values(), key=lambda r: r.key), changed


def decisions_by_id(rows: Iterable[DecisionRow]) -> dict[str, dict[Decision, DecisionRow]]:
    """Group decision rows by image id."""
    out: dict[str, dict[Decision, DecisionRow]] = {}
    for r in rows:
        out.setdefault(r.id, {})[r.decision] = r
    return out


def split_flags(flags: Any) -> list[str]:
    """Quality ``flags`` column value (comma-separated, maybe null) -> sorted list."""
    if flags is None or (isinstance(flags, float) and pd.isna(flags)):
        return []
    return sorted({f.strip() for f in str(flags).split(",") if f.strip()})


def index_rows(df: pd.DataFrame) -> dict[str, Mapping[str, Any]]:
    """Manifest rows keyed by ``id`` (as a string)."""
    return {str(r["id"]): r for r in df.to_dict("records")}


def apply_decisions(
    images: pd.DataFrame,
    dedup: pd.DataFrame,
    quality: pd.DataFrame,
    decisions: Sequence[DecisionRow],
    drop_quality_flags: Iterable[QualityFlag | str],
) -> tuple[pd.DataFrame, list[str]]:
    """Combine the automatic cleaning results with the reviewers' decisions.

    One output row per crawled image with status ``ok``. A row stays ``ok`` unless dedup
    dropped it as a duplicate (overridden by ``not-duplicate`` or ``accept``), quality
    flagged it with one of ``drop_quality_flags`` (overridden by ``accept``), or a reviewer
    rejected it; every reason found is kept, ``;``-separated. A missing or failed dedup or
    quality row makes the image ``error``. ``relabel`` replaces ``class_label``;
    ``not-duplicate`` makes the image its own cluster.

    Args:
        images: crawl ``images.parquet``.
        dedup: ``dedup.parquet``.
        quality: ``quality.parquet``.
        decisions: rows of the decisions file.
        drop_quality_flags: quality flags that drop an image.

    Returns:
        The ``accepted.parquet`` frame (its declared columns, not yet sorted)
        and the decision ids that match no crawled image (stale decisions, reported, ignored).
    """
    # Plain values: the manifest's flags are strings (a name outside QualityFlag is a ValueError).
    drop = {QualityFlag(f).value for f in drop_quality_flags}
    ok_images = images[images["status"] == Status.OK.value]
    dd, qq = index_rows(dedup), index_rows(quality)
    by_id = decisions_by_id(decisions)
    rows: list[dict[str, Any]] = []
    for img in ok_images.to_dict("records"):
        iid = str(img["id"])
        mine = by_id.get(iid, {})
        d, q = dd.get(iid), qq.get(iid)
        cls = cell_value(img.get("class_label"))
        if Decision.RELABEL in mine:
            cls = mine[Decision.RELABEL].value
        decision = next((k.value for k in _PRIORITY if k in mine), AUTO)
        cluster = cell_value(d.get("cluster")) if d is not None else None
        if Decision.NOT_DUPLICATE in mine:
            cluster = iid
        fields = {
            "id": iid,
            "class_label": cls,
            "path": cell_value(img.get("path")),
            "sha256": cell_value(img.get("sha256")),
            "source": cell_value(img.get("source")),
            "image_url": cell_value(img.get("image_url")),
            "page_url": cell_value(img.get("page_url")),
            "licence": cell_value(img.get("licence")),
            "author": cell_value(img.get("author")),
            # Null when the source gives none (or the crawl predates these columns).
            "attribution": cell_value(img.get("attribution")),
            "licence_url": cell_value(img.get("licence_url")),
            "cluster": cluster if cluster is not None else iid,
            "decision": decision,
        }
        errors = []
        if d is None:
            errors.append("no dedup row (re-run dedup)")
        elif d.get("status") == Status.ERROR.value:
            # A dropped duplicate may be "rejected" by dedup; only a failed hash is an error here.
            errors.append(f"dedup error: {cell_value(d.get('error'))}")
        if q is None:
            errors.append("no quality row (re-run quality)")
        elif q.get("status") == Status.ERROR.value and not split_flags(q.get("flags")):
            errors.append(f"quality error: {cell_value(q.get('error'))}")
        if errors:
            rows.append(error_row("; ".join(errors), **fields))
            continue
        reasons = []
        overridden = Decision.ACCEPT in mine
        if not cell_value(d.get("keep")) and Decision.NOT_DUPLICATE not in mine and not overridden:
            dist = cell_value(d.get("distance"))
            dist_s = f", distance {int(dist)}" if dist is not None else ""
            # dedup's own reason names the distances and thresholds; build one if it gave none.
            reasons.append(
                cell_value(d.get("error"))
                or f"duplicate of {cell_value(d.get('dup_of'))} ({cell_value(d.get('dup_kind'))}{dist_s})"
            )
        bad = [f for f in split_flags(q.get("flags")) if f in drop]
        if bad and not overridden:
            reasons.append(f"quality: {','.join(bad)}")
        if Decision.REJECT in mine:
            r = mine[Decision.REJECT]
            who = r.annotator or "a reviewer"
            reasons.append(f"rejected by {who}" + (f": {r.note}" if r.note else ""))
        rows.append(rejected_row("; ".join(reasons), **fields) if reasons else ok_row(**fields))
    known = set(ok_images["id"].astype(str))
    stale = sorted(set(by_id) - known)
    for sid in stale:
        log.warning("decision for %s ignored: no crawled image with that id", sid)
    return to_frame(rows, stage="review"), stale
