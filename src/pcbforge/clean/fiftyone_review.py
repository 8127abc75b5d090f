"""FiftyOne side of review: the candidates dataset, saved views, the App, and pulling tags.

Annotators tag samples in the App: ``reject``, ``relabel:<class>``, ``not-duplicate`` (and
``accept`` to keep an image despite an automatic drop). :func:`pull` turns those tags into
rows of the git-tracked decisions file, which is what the review stage applies
(:mod:`pcbforge.clean.review`); the database is a workspace, not the record.

Database: by default FiftyOne's bundled ``mongod``, with its files in ``review.database_dir``;
when ``FIFTYONE_DATABASE_URI`` is set (a shared MongoDB for several annotators), that server.
:func:`configure` must run before anything connects to the database.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections import Counter
from collections.abc import Iterable, Sequence
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
from pcbforge.vocab import ComponentClass, Status

if TYPE_CHECKING:
    import fiftyone as fo

log = logging.getLogger(__name__)

#: Saved view names (what annotators pick in the App's view bar).
VIEW_CLUSTERS = "near-duplicate clusters to confirm"
VIEW_LOW_QUALITY = "low quality"
CLASS_VIEW_PREFIX = "class: "

RELABEL_PREFIX = "relabel:"


def class_view_name(name: str) -> str:
    """Saved view name for one class."""
    return f"{CLASS_VIEW_PREFIX}{name}"


def configure(database_dir: Path) -> None:
    """Point FiftyOne at its database; call before the first connection.

    With ``FIFTYONE_DATABASE_URI`` set, FiftyOne uses that MongoDB and ``database_dir`` is
    unused. Otherwise the bundled ``mongod`` keeps its files in ``database_dir``. The env
    variable matters as much as ``fo.config``: FiftyOne's database service and the App
    server run in subprocesses that read their config from the environment.
    """
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    uri = os.environ.get("FIFTYONE_DATABASE_URI") or None
    if uri is None:
        os.environ["FIFTYONE_DATABASE_DIR"] = str(database_dir)
    import fiftyone as fo

    fo.config.do_not_track = True
    if uri is None:
        fo.config.database_dir = str(database_dir)
    else:
        fo.config.database_uri = uri


def decision_tags(rows: Iterable[DecisionRow]) -> dict[str, list[str]]:
    """Decisions -> sample tags per image id (how annotators see earlier decisions)."""
    out: dict[str, list[str]] = {}
    for r in rows:
        tag = f"{RELABEL_PREFIX}{r.value}" if r.decision is Decision.RELABEL else r.decision.value
        out.setdefault(r.id, []).append(tag)
    return {k: sorted(v) for k, v in out.items()}


def tags_to_decisions(
    id_tags: Iterable[tuple[str, Sequence[str]]], annotator: str
) -> tuple[list[DecisionRow], list[str]]:
    """Sample tags -> decision rows; unknown ``relabel:`` classes are reported, not applied.

    Tags that are not decisions (an annotator's own bookmarks) are left alone.

    Returns:
        The rows and one message per ignored tag.
    """
    classes = set(ComponentClass.names())
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


def build(
    name: str,
    images: pd.DataFrame,
    dedup: pd.DataFrame,
    quality: pd.DataFrame,
    decisions: Sequence[DecisionRow],
    crawl_out: Path,
    drop_quality_flags: Iterable[str] = (),
) -> fo.Dataset:
    """(Re)build the persistent review dataset and its saved views.

    One sample per crawled image with a file. Tags come from the decisions file, plus any
    tags still on the previous dataset of that name (not yet pulled), so a rebuild loses
    no annotator's work.

    Returns:
        The dataset.
    """
    import fiftyone as fo
    from fiftyone import ViewField as F

    previous: dict[str, list[str]] = {}
    if fo.dataset_exists(name):
        old = fo.load_dataset(name)
        if old.has_sample_field("pcb_id"):
            previous = {i: list(t) for i, t in zip(*old.values(["pcb_id", "tags"])) if t}
        old.delete()
    seeded = decision_tags(decisions)
    drop = set(drop_quality_flags)

    ok = images[(images["status"] == Status.OK.value) & images["path"].notna()]
    dd = index_rows(dedup)
    qq = index_rows(quality)
    cluster_size = Counter(str(r["cluster"]) for r in dd.values() if cell_value(r.get("cluster")) is not None)
    near_clusters = {str(r["cluster"]) for r in dd.values() if r.get("dup_kind") == "near"}

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
        for col in ("source", "licence", "licence_url", "author", "attribution", "image_url", "page_url", "sha256"):
            s[col] = cell_value(img.get(col))
        for col in d:
            # Whatever hash kinds dedup.hashes lists (phash, dhash, ahash, whash, *_mirror).
            if "hash" in col and col not in ("sha256",):
                s[col] = cell_value(d.get(col))
        for col in ("dup_of", "dup_kind", "mirrored", "color_distance"):
            s[col] = cell_value(d.get(col))
        s["cluster"] = cluster
        s["cluster_size"] = cluster_size.get(cluster, 1)
        s["cluster_to_confirm"] = cluster in near_clusters
        s["keep"] = bool(cell_value(d.get("keep"))) if d else None
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
    ds.save_view(
        VIEW_CLUSTERS,
        ds.match(F("cluster_to_confirm")).sort_by([("cluster", 1), ("keep", -1), ("dup_distance", 1)]),
        description="Clusters with a near duplicate: tag `not-duplicate` on a wrongly dropped image",
    )
    ds.save_view(
        VIEW_LOW_QUALITY,
        ds.match(F("quality_flags").length() > 0).sort_by("q_blur"),
        description="Images with a quality flag: tag `reject`, or `accept` to keep a dropped one",
    )
    for c in ComponentClass.names():
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


def pull(name: str, decisions_path: Path, annotator: str | None = None) -> PullResult:
    """Merge the dataset's decision tags into the decisions file (atomic write).

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
    pulled, ignored = tags_to_decisions(zip(*ds.values(["pcb_id", "tags"])), who)
    for msg in ignored:
        log.warning("tag ignored: %s", msg)
    existing = read_decisions(decisions_path)
    merged, changed = merge_decisions(existing, pulled)
    if changed or not decisions_path.exists():
        write_decisions(decisions_path, merged)
    return PullResult(changed=changed, rows=merged, ignored=ignored)


def _check_port_free(address: str, port: int) -> None:
    """Fail fast on a busy port: FiftyOne would wait a minute, or silently reuse another App."""
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the App server does
        try:
            s.bind((address, port))
        except OSError as exc:
            raise InputError(
                f"cannot serve the App on {address}:{port}: {exc.strerror}; "
                "stop what runs there or set review.port / review.address in params.yaml"
            ) from exc


def launch(dataset: fo.Dataset, address: str, port: int, block: bool = True) -> Any:
    """Serve the App for ``dataset`` on ``address:port``; with ``block``, until Ctrl-C.

    Returns:
        The FiftyOne session (already closed when ``block``).
    """
    import fiftyone as fo

    _check_port_free(address, port)
    session = fo.launch_app(dataset, address=address, port=port, remote=True, auto=False)
    log.info("FiftyOne App serving %r at http://%s:%d (Ctrl-C to stop)", dataset.name, address, port)
    if block:
        # SIGTERM (a container or service manager stopping us) must close the App like Ctrl-C:
        # killed outright, Python skips the cleanup and the App server outlives us.
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            session.wait(-1)
        except KeyboardInterrupt:
            log.info("stopping the App")
        finally:
            signal.signal(signal.SIGTERM, previous)
            session.close()
    return session


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
