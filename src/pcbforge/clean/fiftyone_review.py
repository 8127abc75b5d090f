"""FiftyOne side of review: the candidates dataset, saved views, the App, and pulling tags.

Annotators tag samples in the App: ``reject``, ``relabel:<class>``, ``not-duplicate`` (and
``accept`` to keep an image despite an automatic drop). :func:`pull` turns those tags into
rows of the git-tracked decisions file, which is what the review stage applies
(:mod:`pcbforge.clean.review`); the database is a workspace, not the record.

The file may change behind the dataset's back (``git checkout`` of a reverted review, a
merge of a colleague's decisions). So the dataset remembers, in its ``info``
(:data:`SYNC_INFO`), for each checkout (host and decisions file, :func:`checkout_id`), the
decision tags it held when it last agreed with that checkout's file (at ``--build`` and
after each ``--pull``) and that file's sha256. A pull takes only the decision tags added
since its own checkout's last sync, merges them into the file as it is now, and resets the
dataset's tags to the result: a decision removed from the file is not written back. One
record per checkout, not per dataset: on a shared database each annotator pulls into the
file of their own checkout, and a decision another checkout pulled is still new to this one.

Database and App: :mod:`pcbforge.fiftyone_app` (shared with ``annotate``), re-exported here as
:func:`configure` and :func:`launch`; ``configure`` must run before anything connects.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm import tqdm

from pcbforge.clean.review import (
    Decision,
    DecisionRow,
    index_rows,
    merge_decisions,
    read_decisions,
    split_flags,
    write_decisions,
)
from pcbforge.datasets.manifest import cell_value
from pcbforge.errors import InputError
from pcbforge.fiftyone_app import configure, launch  # noqa: F401  (review's entry point calls them from here)
from pcbforge.taxonomy import Taxonomy
from pcbforge.vocab import Status

if TYPE_CHECKING:
    import fiftyone as fo

log = logging.getLogger(__name__)

#: Saved view names (what annotators pick in the App's view bar).
VIEW_CLUSTERS = "near-duplicate clusters to confirm"
VIEW_LOW_QUALITY = "low quality"
CLASS_VIEW_PREFIX = "class: "

RELABEL_PREFIX = "relabel:"

#: Key of ``dataset.info``: ``{"checkouts": {key: {"checkout": ..., "decisions_sha256": ...,
#: "tags": {pcb_id: [decision tags]}}}}``, per checkout (see :func:`checkout_id`; ``key`` is
#: a hash of it: MongoDB field names must not hold the dots of a path), what the dataset's
#: tags were when they last matched that checkout's decisions file.
SYNC_INFO = "pcbforge_review_sync"

_PLAIN_DECISION_TAGS = frozenset({Decision.REJECT.value, Decision.NOT_DUPLICATE.value, Decision.ACCEPT.value})


def class_view_name(name: str) -> str:
    """Saved view name for one class."""
    return f"{CLASS_VIEW_PREFIX}{name}"


def decision_tags(rows: Iterable[DecisionRow]) -> dict[str, list[str]]:
    """Decisions -> sample tags per image id (how annotators see earlier decisions)."""
    out: dict[str, list[str]] = {}
    for r in rows:
        tag = f"{RELABEL_PREFIX}{r.value}" if r.decision is Decision.RELABEL else r.decision.value
        out.setdefault(r.id, []).append(tag)
    return {k: sorted(v) for k, v in out.items()}


def is_decision_tag(tag: str) -> bool:
    """Whether ``tag`` states a decision (``reject``, ``accept``, ``not-duplicate``, ``relabel:*``).

    Example:
        >>> is_decision_tag("relabel:diode"), is_decision_tag("look-again")
        (True, False)
    """
    return tag in _PLAIN_DECISION_TAGS or tag.startswith(RELABEL_PREFIX)


def file_sha256(path: Path) -> str | None:
    """sha256 of the file at ``path``, or None when it does not exist."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def checkout_id(decisions_path: Path, host: str | None = None) -> str:
    """Which checkout a sync record belongs to: host name and resolved decisions file path.

    Two checkouts on one server differ in path, two machines in host name.

    Example:
        >>> checkout_id(Path("/srv/a/review/../review/decisions.csv"), host="lab1")
        'lab1:/srv/a/review/decisions.csv'
    """
    return f"{host or socket.gethostname()}:{Path(decisions_path).resolve()}"


def _checkout_key(checkout: str) -> str:
    return hashlib.sha256(checkout.encode()).hexdigest()[:16]


def sync_record(info: Any, checkout: str) -> tuple[dict[str, list[str]] | None, str | None]:
    """A checkout's sync record in ``info`` (the value of ``dataset.info[SYNC_INFO]``).

    Returns:
        Its decision tags per image id and its decisions file's sha256; ``(None, None)`` when
        this checkout never built or pulled this dataset (or the record is of an older format).

    Example:
        >>> info = with_sync_record(None, "lab1:/a/decisions.csv", {"x": ["reject"]}, "ab")
        >>> sync_record(info, "lab1:/a/decisions.csv"), sync_record(info, "lab1:/b/decisions.csv")
        (({'x': ['reject']}, 'ab'), (None, None))
    """
    checkouts = info.get("checkouts") if isinstance(info, dict) else None
    rec = checkouts.get(_checkout_key(checkout)) if isinstance(checkouts, dict) else None
    if not isinstance(rec, dict) or rec.get("checkout") != checkout:
        return None, None
    return {i: list(t) for i, t in (rec.get("tags") or {}).items()}, rec.get("decisions_sha256")


def with_sync_record(
    info: Any, checkout: str, tags: dict[str, Sequence[str]], decisions_sha256: str | None
) -> dict[str, Any]:
    """``info`` (the value of ``dataset.info[SYNC_INFO]``) with ``checkout``'s record set to
    the decision tags in ``tags`` and ``decisions_sha256``; other checkouts' records are kept.

    Example:
        >>> info = with_sync_record(None, "a", {"x": ["reject", "mine"], "y": ["mine"]}, "1")
        >>> info = with_sync_record(info, "b", {}, "2")
        >>> sync_record(info, "a"), sync_record(info, "b")
        (({'x': ['reject']}, '1'), ({}, '2'))
    """
    checkouts = dict(info.get("checkouts") or {}) if isinstance(info, dict) else {}
    decided = {i: sorted(t for t in v if is_decision_tag(t)) for i, v in sorted(tags.items())}
    checkouts[_checkout_key(checkout)] = {
        "checkout": checkout,
        "decisions_sha256": decisions_sha256,
        "tags": {i: v for i, v in decided.items() if v},
    }
    return {"checkouts": dict(sorted(checkouts.items()))}


def unsynced_tags(
    current: dict[str, Sequence[str]], synced: dict[str, Sequence[str]] | None
) -> dict[str, list[str]]:
    """Decision tags added in the App since the dataset last matched the decisions file.

    Args:
        current: the dataset's tags per image id.
        synced: its decision tags per id at this checkout's last sync, or None when this
            checkout has no record (it never built or pulled this dataset, or an older
            pcbforge did): then every decision tag counts as new.

    Example:
        >>> unsynced_tags({"a": ["reject", "mine"], "b": ["accept"]}, {"a": ["reject"]})
        {'b': ['accept']}
    """
    out: dict[str, list[str]] = {}
    for iid, tags in current.items():
        old = set(synced.get(iid, ())) if synced is not None else set()
        new = sorted({t for t in tags if is_decision_tag(t)} - old)
        if new:
            out[iid] = new
    return out


def synced_tags(
    current: dict[str, Sequence[str]], unsynced: dict[str, Sequence[str]], decisions: Iterable[DecisionRow]
) -> dict[str, list[str]]:
    """The tags each sample gets after a pull: the decisions file's, the annotators' own
    (non-decision) tags, and the decision tags just pulled (kept also when ignored, so the
    annotator still sees them). An older decision tag that the file no longer holds (a
    reverted or edited decision) is removed.

    Example:
        >>> from pcbforge.clean.review import Decision, DecisionRow
        >>> synced_tags({"a": ["reject", "mine"], "b": ["accept"]}, {"b": ["accept"]},
        ...             [DecisionRow("b", Decision.ACCEPT)])
        {'a': ['mine'], 'b': ['accept']}
    """
    from_file = decision_tags(decisions)
    out: dict[str, list[str]] = {}
    for iid, tags in current.items():
        keep = {t for t in tags if not is_decision_tag(t)} | set(unsynced.get(iid, ()))
        out[iid] = sorted(keep | set(from_file.get(iid, ())))
    return out


def _record_sync(ds: fo.Dataset, checkout: str, tags: dict[str, Sequence[str]], decisions_sha256: str | None) -> None:
    # Reload first: another checkout may have recorded its own sync since this one loaded
    # the dataset (a shared database), and saving writes the whole info dict.
    ds.reload()
    ds.info[SYNC_INFO] = with_sync_record(ds.info.get(SYNC_INFO), checkout, tags, decisions_sha256)
    ds.save()


def tags_to_decisions(
    id_tags: Iterable[tuple[str, Sequence[str]]], annotator: str, classes: Collection[str] | None = None
) -> tuple[list[DecisionRow], list[str]]:
    """Sample tags -> decision rows; unknown ``relabel:`` classes are reported, not applied.

    Tags that are not decisions (an annotator's own bookmarks) are left alone.

    Returns:
        The rows and one message per ignored tag.
    """
    classes = set(classes if classes is not None else Taxonomy.default().names())
    rows: list[DecisionRow] = []
    ignored: list[str] = []
    for iid, tags in id_tags:
        relabels = sorted(t[len(RELABEL_PREFIX) :] for t in tags if t.startswith(RELABEL_PREFIX))
        for t in sorted(set(tags)):
            if t in (Decision.REJECT.value, Decision.NOT_DUPLICATE.value, Decision.ACCEPT.value):
                rows.append(DecisionRow(iid, Decision(t), "", annotator, "fiftyone tag"))
        good = [c for c in relabels if c in classes]
        for c in relabels:
            if c not in classes:
                ignored.append(f"{iid}: unknown class in tag {RELABEL_PREFIX}{c}")
        if len(set(good)) > 1:
            ignored.append(f"{iid}: several relabel tags {', '.join(good)}")
        elif good:
            rows.append(DecisionRow(iid, Decision.RELABEL, good[0], annotator, "fiftyone tag"))
        if Decision.REJECT.value in tags and Decision.ACCEPT.value in tags:
            ignored.append(f"{iid}: both reject and accept tags, accept ignored")
            rows = [r for r in rows if not (r.id == iid and r.decision is Decision.ACCEPT)]
    return rows, ignored


def dedup_label(row: dict[str, Any]) -> str:
    """What a review tile shows of dedup's verdict: ``kept``, or ``dropped: <kind> of <kept id>``.

    Example:
        >>> dedup_label({"keep": True}), dedup_label({"keep": False, "dup_kind": "near", "dup_of": "a1"})
        ('kept', 'dropped: near of a1')
    """
    if cell_value(row.get("keep")):
        return "kept"
    return f"dropped: {cell_value(row.get('dup_kind')) or 'duplicate'} of {cell_value(row.get('dup_of'))}"


def build(
    name: str,
    images: pd.DataFrame,
    dedup: pd.DataFrame,
    quality: pd.DataFrame,
    decisions_path: Path,
    crawl_out: Path,
    drop_quality_flags: Iterable[str] = (),
    classes: Sequence[str] | None = None,
) -> fo.Dataset:
    """(Re)build the persistent review dataset and its saved views.

    One sample per crawled image with a file. Tags come from the decisions file, plus the
    tags of the previous dataset of that name that the file does not hold yet (the
    annotators' own tags, and decision tags added since this checkout's last sync, not yet
    pulled), so a rebuild loses no annotator's work and does not bring back a reverted
    decision. The file's decisions and its sha256 are recorded as this checkout's sync
    (see :func:`pull`); other checkouts' records are kept.

    Returns:
        The dataset.
    """
    import fiftyone as fo
    from fiftyone import ViewField as F

    checkout = checkout_id(decisions_path)
    # Hashed before reading: should the file change in between, the next pull sees a changed
    # file and trusts it (the safe side).
    decisions_sha256 = file_sha256(decisions_path)
    classes = list(classes if classes is not None else Taxonomy.default().names())
    decisions = read_decisions(decisions_path, classes)
    previous: dict[str, list[str]] = {}
    sync_info: Any = None
    if fo.dataset_exists(name):
        old = fo.load_dataset(name)
        sync_info = old.info.get(SYNC_INFO)
        if old.has_sample_field("pcb_id"):
            current = {i: list(t) for i, t in zip(*old.values(["pcb_id", "tags"])) if t}
            added = unsynced_tags(current, sync_record(sync_info, checkout)[0])
            previous = {
                i: sorted({t for t in tags if not is_decision_tag(t)} | set(added.get(i, ())))
                for i, tags in current.items()
            }
        old.delete()
    seeded = decision_tags(decisions)
    drop = set(drop_quality_flags)

    ok = images[(images["status"] == Status.OK.value) & images["path"].notna()]
    dd = index_rows(dedup)
    qq = index_rows(quality)
    cluster_size = Counter(str(r["cluster"]) for r in dd.values() if cell_value(r.get("cluster")) is not None)
    near_clusters = {str(r["cluster"]) for r in dd.values() if r.get("dup_kind") in ("near", "suspect")}
    # A flagged image (dup_kind suspect) keeps its own cluster: review it with the image it looks like.
    near_clusters |= {str(r["dup_of"]) for r in dd.values() if r.get("dup_kind") == "suspect"}
    # Each cluster is as doubtful as its most doubtful match: the view shows those first.
    cluster_doubt: dict[str, float] = {}
    for r in dd.values():
        doubt = cell_value(r.get("doubt"))
        if doubt is not None:
            for c in {str(r.get("cluster")), str(r.get("dup_of"))}:
                cluster_doubt[c] = max(cluster_doubt.get(c, 0.0), float(doubt))

    # The measured values (width, height, aspect, std, blur, grayscale, ...), whatever quality writes.
    quality_values = [c for c in quality.columns if c not in ("id", "flags", "status", "error")]
    samples = []
    for img in tqdm(ok.sort_values("id").to_dict("records"), desc="review dataset", unit="img"):
        iid = str(img["id"])
        d = dd.get(iid, {})
        q = qq.get(iid, {})
        flags = split_flags(q.get("flags"))
        cluster = cell_value(d.get("cluster")) or iid
        cls = cell_value(img.get("class_label"))
        tags = sorted(set(seeded.get(iid, [])) | set(previous.get(iid, [])))
        s = fo.Sample(filepath=str((crawl_out / str(img["path"])).resolve()), tags=tags)
        s["pcb_id"] = iid
        s["class_label"] = cls
        s["ground_truth"] = fo.Classification(label=cls) if cls else None
        for col in ("source", "licence", "licence_url", "author", "attribution", "image_url", "page_url", "sha256",
                    "title", "mpn", "sku", "datasheet_url"):  # product metadata (crawl schema 2)
            s[col] = cell_value(img.get(col))
        for col in d:
            # Whatever hash kinds dedup.hashes lists (phash, dhash, ahash, whash, *_mirror).
            if "hash" in col and col not in ("sha256",):
                s[col] = cell_value(d.get(col))
        for col in ("dup_of", "dup_kind", "mirrored", "color_distance", "degraded", "note"):
            s[col] = cell_value(d.get(col))
        s["cluster"] = cluster
        s["cluster_size"] = cluster_size.get(cluster, 1)
        s["cluster_to_confirm"] = cluster in near_clusters
        s["doubt"] = cluster_doubt.get(cluster, cell_value(d.get("doubt")))
        s["keep"] = bool(cell_value(d.get("keep"))) if d else None
        # A label, not only a field: the App draws labels on grid tiles, so a reviewer sees
        # which member of a cluster dedup keeps without opening each image.
        s["dedup"] = fo.Classification(label=dedup_label(d)) if d else None
        s["dup_distance"] = cell_value(d.get("distance"))
        s["confirm_distance"] = cell_value(d.get("confirm_distance"))
        s["quality_flags"] = flags
        s["quality_drop"] = bool(set(flags) & drop)
        for col in quality_values:
            s[f"q_{col}"] = cell_value(q.get(col))
        samples.append(s)

    ds = fo.Dataset(name)
    ds.persistent = True
    ds.add_samples(samples, progress=False)
    # Only the file's decisions count as synced: carried-over tags are pulled next time.
    # Other checkouts' records stay valid: each says what that checkout's file agreed with.
    ds.info[SYNC_INFO] = with_sync_record(sync_info, checkout, seeded, decisions_sha256)
    ds.save()
    ds.save_view(
        VIEW_CLUSTERS,
        ds.match(F("cluster_to_confirm")).sort_by([("doubt", -1), ("cluster", 1), ("keep", -1), ("dup_distance", 1)]),
        description="Clusters with a near duplicate: tag `not-duplicate` on a wrongly dropped image",
    )
    ds.save_view(
        VIEW_LOW_QUALITY,
        ds.match(F("quality_flags").length() > 0).sort_by("q_blur"),
        description="Images with a quality flag: tag `reject`, or `accept` to keep a dropped one",
    )
    for c in classes:
        ds.save_view(
            class_view_name(c),
            ds.match(F("class_label") == c).sort_by("pcb_id"),
            description=f"Crawled as {c}: tag `reject` or `relabel:<class>`",
        )
    log.info("built FiftyOne dataset %r: %d samples", name, len(ds))
    return ds


@dataclass
class PullResult:
    """What :func:`pull` did."""

    changed: int = 0
    rows: list[DecisionRow] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    #: The decisions file had changed since the dataset's last sync (its tags now follow the file).
    file_changed: bool = False
    #: Samples whose tags were changed to match the file.
    retagged: int = 0


def pull(
    name: str, decisions_path: Path, annotator: str | None = None, classes: Collection[str] | None = None
) -> PullResult:
    """Merge the decision tags added in the App into the decisions file (atomic write).

    Only tags added since the dataset last matched this checkout's file (see the module
    docstring) are pulled, so a decision reverted in the file (``git checkout``) is not
    written back, and a decision another checkout pulled still reaches this file.
    Afterwards the dataset's tags are reset to the file's decisions (plus the annotators'
    own tags and the tags just pulled) and that state is recorded as this checkout's new
    sync point.

    Raises:
        InputError: the dataset does not exist (build it with ``pcbforge review --build``),
            or the decisions file is malformed.
    """
    import fiftyone as fo

    if not fo.dataset_exists(name):
        raise InputError(
            f"FiftyOne dataset {name!r} not found (database: "
            f"{fo.config.database_uri or fo.config.database_dir}); run `pcbforge review --build` first"
        )
    ds = fo.load_dataset(name)
    who = annotator or os.environ.get("USER") or "fiftyone"
    checkout = checkout_id(decisions_path)
    ids, tags = ds.values(["pcb_id", "tags"])
    current = {i: list(t) for i, t in zip(ids, tags)}
    synced, synced_sha = sync_record(ds.info.get(SYNC_INFO), checkout)
    file_changed = synced is not None and synced_sha != file_sha256(decisions_path)
    if file_changed:
        log.warning(
            "%s changed since this checkout last built or pulled dataset %r (a git checkout, merge or edit): "
            "the file stands; only tags added in the App since then are pulled", decisions_path, name
        )
    elif synced is None:
        log.info("first pull of dataset %r into %s: every decision tag is pulled", name, checkout)
    added = unsynced_tags(current, synced)
    pulled, ignored = tags_to_decisions(sorted(added.items()), who, classes)
    for msg in ignored:
        log.warning("tag ignored: %s", msg)
    existing = read_decisions(decisions_path, classes)
    merged, changed = merge_decisions(existing, pulled)
    if changed or not decisions_path.exists():
        write_decisions(decisions_path, merged)
    after = synced_tags(current, added, merged)
    new_tags = [after[i] for i in ids]
    retagged = sum(sorted(t) != n for t, n in zip(tags, new_tags))
    if retagged:
        ds.set_values("tags", new_tags)
    _record_sync(ds, checkout, after, file_sha256(decisions_path))
    return PullResult(changed=changed, rows=merged, ignored=ignored, file_changed=file_changed, retagged=retagged)
