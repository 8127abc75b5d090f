"""``pcbforge crop``: YOLO-labelled boards and accepted web photos -> 128x128 component views.

Reads ``crop.boards`` (``images/``, ``labels/``, ``data.yaml``) and, when
``crop.include_web``, ``<review.out>/accepted.parquet`` (photo paths relative to
``crawl.out``). Writes ``crops/<id>.png``, ``context/<id>.png`` and
``components.parquet`` under ``crop.out``, built in a staged directory and swapped in
at the end. Every label row, board and photo is one manifest row; bad ones carry the
reason (``labels/x.txt:LINE: ...``) instead of stopping the batch.
"""

from __future__ import annotations

import logging
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

from pcbforge.annotate import crops
from pcbforge.annotate.yolo import class_map, parse_names, read_data_yaml
from pcbforge.config import CropParams, Params
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
from pcbforge.parallel import map_ordered
from pcbforge.rng import workers
from pcbforge.taxonomy import Taxonomy
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


def read_board_classes(root: Path, taxonomy: Taxonomy | None = None) -> tuple[list[str], dict[str, Any]]:
    """Check the YOLO root and read its ``data.yaml``: class per index and optional lineage.

    Raises:
        InputError: missing directory or data.yaml, bad YAML, bad or unknown names.
    """
    if not root.is_dir():
        raise InputError(f"boards directory not found: {root} (set crop.boards to a YOLO folder or run `pcbforge catalog`)")
    data_yaml = root / "data.yaml"
    if not data_yaml.is_file():
        raise InputError(f"{data_yaml}: missing (a YOLO folder needs data.yaml with the class 'names:')")
    try:
        text = data_yaml.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{data_yaml}: unreadable: {exc}") from exc
    data = read_data_yaml(text, str(data_yaml))
    classes = class_map(parse_names(data, str(data_yaml)), taxonomy, str(data_yaml))
    lineage = {k: (str(data[k]) if data.get(k) is not None else None) for k in LINEAGE_KEYS}
    return classes, lineage


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
    boards_root = params.boards_dir()
    classes, lineage = read_board_classes(boards_root, params.taxonomy())
    board_jobs = crops.scan_boards(
        boards_root, classes, lineage, source_root=shown_path(boards_root, params.root), project=params.root
    )
    if not board_jobs:
        log.warning("%s: no images or labels found", boards_root)
    web_jobs: list[crops.PhotoJob] = []
    skipped = 0
    if cfg.include_web:
        web_jobs, skipped = photo_jobs(params)
        if skipped:
            log.info("skipped %d accepted.parquet rows that review did not accept (their reasons stay there)", skipped)
    out = params.path(cfg.out)
    jobs: list[Any] = [*board_jobs, *web_jobs]
    with staged_dir(out) as tmp:
        (tmp / "crops").mkdir()
        (tmp / "context").mkdir()
        fn = partial(_run_job, out_dir=tmp, cfg=cfg, size=params.base.image_size)
        batches = map_ordered(fn, jobs, workers(params.base.workers), desc="crop", unit="img")
        rows = [r for batch in batches for r in batch]
        df = to_frame(rows, stage="crop")
        write_manifest(df, tmp / MANIFEST, stage="crop")
    bad = df[df["status"] != Status.OK.value]
    for row in bad.head(LOG_LIMIT).itertuples(index=False):
        log.info("%s %s: %s", row.status, row.id, row.error)
    if len(bad) > LOG_LIMIT:
        log.info("... and %d more not-ok rows (status/error columns of %s)", len(bad) - LOG_LIMIT, out / MANIFEST)
    by = Counter(zip(df["origin"], df["status"], strict=True))
    n_ok = int((df["status"] == Status.OK.value).sum())
    return (
        f"{n_ok} components ok ({by['board', 'ok']} from {len(board_jobs)} boards, {by['web', 'ok']} from "
        f"{len(web_jobs)} photos), {int((df['status'] == 'error').sum())} error, "
        f"{int((df['status'] == 'rejected').sum())} rejected -> {out / MANIFEST}"
    )
