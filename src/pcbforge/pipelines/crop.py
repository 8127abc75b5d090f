"""``pcbforge crop``: YOLO-labelled boards and accepted web photos -> 128x128 component views.

Reads the board sources (``crop.sources``, or the one ``crop.boards`` folder: YOLO
datasets in every layout Ultralytics reads, see :mod:`pcbforge.annotate.layouts`) and, when
``crop.include_web``, ``<review.out>/accepted.parquet`` (photo paths relative to
``crawl.out``). :func:`board_jobs` is the one way to enumerate the boards (also for the
box review). Writes ``crops/<id>.png``, ``context/<id>.png`` and
``components.parquet`` under ``crop.out``, built in a staged directory and swapped in
at the end. Every label row, board and photo is one manifest row; bad ones carry the
reason (``labels/x.txt:LINE: ...``) instead of stopping the batch.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from pcbforge.annotate import crops, layouts
from pcbforge.annotate.yolo import map_classes, parse_names
from pcbforge.config import BoardSource, CropParams, Params
from pcbforge.datasets.manifest import (
    MANIFEST_NAMES,
    cell_value,
    manifest_path,
    read_manifest,
    shown_path,
    to_frame,
    write_manifest,
)
from pcbforge.errors import InputError
from pcbforge.io import staged_dir
from pcbforge.parallel import executor, map_ordered
from pcbforge.vocab import Status

log = logging.getLogger(__name__)

MANIFEST = MANIFEST_NAMES["crop"]
#: accepted.parquet columns this stage reads (the file's columns: schemas.SCHEMAS["review"]).
READS_ACCEPTED = (
    "id", "class_label", "path", "cluster", "licence", "author", "attribution", "licence_url", "image_url", "status",
)  # fmt: skip
#: Optional dataset-level lineage keys in data.yaml, copied onto every board component.
LINEAGE_KEYS = ("licence", "author", "attribution", "licence_url", "source_url")
#: Not-ok rows logged one by one; the rest are counted (all are in the manifest).
LOG_LIMIT = 20


def _lineage(data: Mapping[str, Any], source: BoardSource | None = None) -> dict[str, Any]:
    """data.yaml's lineage keys, each overridden by the source's params value when that is set."""
    out = {k: (str(data[k]) if data.get(k) is not None else None) for k in LINEAGE_KEYS}
    if source is not None:
        out.update({k: getattr(source, k) for k in LINEAGE_KEYS if getattr(source, k) is not None})
    return out


def _has_rows(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return any(line.strip() for line in f)
    except OSError:
        return False


def board_jobs(params: Params) -> list[crops.BoardJob]:
    """Every board of every board source (:meth:`Params.board_sources`), sorted by board name.

    Each job's classes are the source's data.yaml names mapped onto the taxonomy through
    the source's ``class_map`` and the aliases, under ``classes.unmapped`` (``skip``: None
    for that index; ``add``: a new class, with a warning). Sources are read in order; a
    class ``add`` makes is known to the sources after it.

    Raises:
        InputError: a missing source or data.yaml, bad names, an unmapped name under
            ``classes.unmapped: error``, or a source in which no label file holds a box
            (the message names the folder and the layouts looked for).
    """
    taxonomy = params.taxonomy()
    policy = params.classes.unmapped
    jobs: list[crops.BoardJob] = []
    for source in params.board_sources():

        def show(p: Path) -> str:
            return shown_path(p, params.root)

        dataset = layouts.scan(source.path, show)
        where = show(dataset.data_yaml)
        mapped = map_classes(parse_names(dataset.data, where), taxonomy, where, source.class_map, policy)
        taxonomy = mapped.taxonomy
        if mapped.added:
            log.warning(
                "%s: classes %s are not in classes.taxonomy; added with conservative facts (polarised, no symmetry, "
                "no pads drawn): describe them in params' classes section",
                where, ", ".join(mapped.added),
            )  # fmt: skip
        if mapped.skipped:
            log.info("%s: boxes of %s are skipped (rejected rows)", where, ", ".join(repr(n) for n in mapped.skipped))
        for note in dataset.notes[:LOG_LIMIT]:
            log.info("%s", note)
        if not any(b.image is not None and b.labels is not None and _has_rows(b.labels) for b in dataset.boards):
            raise InputError(
                f"{show(source.path)}: no labelled box found ({dataset.images} images, {dataset.label_files} label files "
                f"paired with them); looked for {dataset.looked}; point crop.sources/crop.boards at a YOLO export "
                "(docs/annotate.md, Bring your own boards)"
            )
        jobs += crops.scan_boards(
            dataset.root,
            mapped.classes,
            _lineage(dataset.data, source if source.name else None),
            source_root=show(dataset.root),
            project=params.root,
            source=source.name or "",
            names=parse_names(dataset.data, where),
            dataset=dataset,
        )
    return sorted(jobs, key=lambda j: j.board)


def photo_jobs(params: Params) -> tuple[list[crops.PhotoJob], int]:
    """Jobs for the ok rows of accepted.parquet, and how many rows were not ok (skipped).

    Raises:
        InputError: accepted.parquet missing, unreadable or without the needed columns.
    """
    path = manifest_path(params, "review")
    if not path.is_file():
        raise InputError(
            f"{path}: not found; crop.include_web needs the review stage's output "
            "(run `pcbforge review` first, or set crop.include_web: false)"
        )
    df = read_manifest(path, "review", require=READS_ACCEPTED)
    crawl_out = params.path(params.crawl.out)
    ok = df[df["status"] == Status.OK.value].sort_values("id", kind="mergesort")
    known = frozenset(params.taxonomy().names())
    jobs = []
    for row in ok.itertuples(index=False):
        rel = row.path if isinstance(row.path, str) and row.path else None
        cluster = row.cluster if isinstance(row.cluster, str) and row.cluster else row.id
        jobs.append(
            crops.PhotoJob(
                parent_id=str(row.id),
                image=crawl_out / rel if rel else None,
                image_name=shown_path(crawl_out / rel, params.root) if rel else "",
                class_label=str(row.class_label),
                group=str(cluster),
                licence=cell_value(row.licence),
                author=cell_value(row.author),
                attribution=cell_value(row.attribution),
                licence_url=cell_value(row.licence_url),
                # A web photo's source is the crawled file itself.
                source_url=cell_value(row.image_url),
                image_url=cell_value(row.image_url),
                root=params.root,
                known_classes=known,
            )
        )
    return jobs, len(df) - len(ok)


def _run_job(job: crops.BoardJob | crops.PhotoJob, out_dir: Path, cfg: CropParams, size: int) -> list[dict[str, Any]]:
    if isinstance(job, crops.BoardJob):
        return crops.crop_board(job, out_dir, cfg, size)
    return crops.crop_photo(job, out_dir, cfg, size)


def run(params: Params, **options: Any) -> str:
    """Crop every labelled board component and accepted web photo; return a one-line summary."""
    cfg = params.crop
    boards = board_jobs(params)
    web_jobs: list[crops.PhotoJob] = []
    skipped = 0
    if cfg.include_web:
        web_jobs, skipped = photo_jobs(params)
        if skipped:
            log.info("skipped %d accepted.parquet rows that review did not accept (their reasons stay there)", skipped)
    out = params.path(cfg.out)
    jobs: list[Any] = [*boards, *web_jobs]
    with staged_dir(out) as tmp:
        (tmp / "crops").mkdir()
        (tmp / "context").mkdir()
        fn = partial(_run_job, out_dir=tmp, cfg=cfg, size=params.base.image_size)
        batches = map_ordered(fn, jobs, executor(params.base), desc="crop", unit="img")
        rows = [r for batch in batches for r in batch]
        # A note (a clipped box) is said in the log and the summary, not a manifest column.
        notes = [r.pop("note") for r in rows if "note" in r]
        df = to_frame(rows, stage="crop")
        write_manifest(df, tmp / MANIFEST, stage="crop")
    bad = df[df["status"] != Status.OK.value]
    for row in bad.head(LOG_LIMIT).itertuples(index=False):
        log.info("%s %s: %s", row.status, row.id, row.error)
    if len(bad) > LOG_LIMIT:
        log.info("... and %d more not-ok rows (status/error columns of %s)", len(bad) - LOG_LIMIT, out / MANIFEST)
    for note in notes[:LOG_LIMIT]:
        log.info("note: %s", note)
    by = Counter(zip(df["origin"], df["status"], strict=True))
    n_ok = int((df["status"] == Status.OK.value).sum())
    with_rows = set(df.loc[df["origin"] == "board", "parent_id"])
    empty = sum(1 for j in boards if j.board not in with_rows)
    n_skipped = int(df["error"].fillna("").str.endswith(crops.SKIPPED_CLASS).sum())
    extra = [f"{n_skipped} boxes of skipped classes"] if n_skipped else []
    extra += [f"{empty} boards with zero parts"] if empty else []
    extra += [f"{len(notes)} boxes clipped to the image edge (notes in the log)"] if notes else []
    return (
        f"{n_ok} components ok ({by['board', 'ok']} from {len(boards)} boards, {by['web', 'ok']} from "
        f"{len(web_jobs)} photos), {int((df['status'] == 'error').sum())} error, "
        f"{int((df['status'] == 'rejected').sum())} rejected"
        + (f" ({'; '.join(extra)})" if extra else "")
        + f" -> {out / MANIFEST}"
    )
