"""``pcbforge annotate``: review the boards' YOLO boxes in the FiftyOne App, write fixes back.

Not a DVC stage (like ``review --launch``): it edits the crop stage's input, the YOLO label
files, which are versioned; ``dvc repro`` then re-crops what changed. ``--build`` (re)loads
the boards into the FiftyOne dataset ``annotate.dataset_name`` with its saved views,
``--launch`` builds and serves the App until Ctrl-C, ``--pull`` writes the reviewed boxes
and classes back into the label files (``--pull --launch``: pull, then reload and serve).
FiftyOne is imported only here, inside :func:`run`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pcbforge.annotate.fiftyone_boxes import LabelledBoard, Thresholds
from pcbforge.config import Params
from pcbforge.errors import InputError
from pcbforge.pipelines.crop import board_jobs
from pcbforge.taxonomy import Unmapped

log = logging.getLogger(__name__)


def labelled_boards(params: Params) -> list[LabelledBoard]:
    """Every board photo of the crop stage's sources with its label file and ``data.yaml`` names.

    The one place box review learns which boards there are: the crop stage's own
    :func:`~pcbforge.pipelines.crop.board_jobs` (every YOLO layout, every board source), with
    unmapped class names kept rather than refused (``classes.unmapped: skip`` here, whatever
    crop's policy): box review is where such names are found and fixed. A board without a
    photo (nothing to show) or with two photos (ambiguous) is left out with a warning; a photo
    without a label file is in (a pull creates the file when boxes are drawn).
    """
    every_name = params.model_copy(update={"classes": params.classes.model_copy(update={"unmapped": Unmapped.SKIP})})
    class_maps = {s.name or "": s.class_map for s in params.board_sources()}
    out = []
    for job in board_jobs(every_name):
        if job.image is None or job.problem:
            log.warning("box review skips board %s: %s", job.board, job.problem or f"no image for {job.where(job.labels_name)}")
            continue
        root = Path(job.source_root)
        labels = job.labels or (root if root.is_absolute() else params.root / root) / job.labels_name
        mapping = {k: v for k, v in class_maps.get(job.source, {}).items() if v is not None}
        out.append(
            LabelledBoard(
                board=job.board,
                image=job.image,
                labels=labels,
                names=tuple(job.names),
                source=job.source or job.source_root,
                labels_shown=job.where(job.labels_name),
                mapping=mapping or None,
                classes=tuple(job.classes),
            )
        )
    return out


def run(params: Params, build: bool = False, launch: bool = False, pull: bool = False, block: bool = True, **_: Any) -> str:
    """Load the boards' boxes into FiftyOne, serve the App, or pull the reviewed boxes back.

    Args:
        params: validated params.
        build: (re)load the dataset and its saved views from the label files.
        launch: build, then serve the App on ``annotate.address:annotate.port``.
        pull: first write the reviewed boxes back into the label files.
        block: with ``launch``, wait until Ctrl-C (tests pass False and close the App).

    Returns:
        A one-line summary.

    Raises:
        InputError: no option given, or what :func:`~pcbforge.annotate.fiftyone_boxes.build`
            and :func:`~pcbforge.annotate.fiftyone_boxes.pull` raise.
    """
    if not (build or launch or pull):
        raise InputError("say what to do: --launch (load the boxes and open the App), --build (load only) or --pull (write them back)")
    from pcbforge import fiftyone_app
    from pcbforge.annotate import fiftyone_boxes

    cfg = params.annotate
    fiftyone_app.configure(params.path(cfg.database_dir))
    boards = labelled_boards(params)
    taxonomy = params.taxonomy()
    thresholds = Thresholds(
        tiny_px=cfg.tiny_box_px if cfg.tiny_box_px is not None else float(params.crop.min_box_px),
        border_px=cfg.border_px,
        overlap_iou=cfg.overlap_iou,
        rare_below=cfg.rare_below,
    )
    parts: list[str] = []
    if pull:
        parts.append(fiftyone_boxes.pull(cfg.dataset_name, boards, thresholds, taxonomy).summary())
    if build or launch:
        dataset, built = fiftyone_boxes.build(cfg.dataset_name, boards, thresholds, taxonomy)
        parts.append(
            f"FiftyOne dataset {cfg.dataset_name!r}: {built.samples} boards, {built.boxes} boxes, "
            f"{len(dataset.list_saved_views())} saved views"
            + (f", {len(built.unreadable)} unreadable photo(s) skipped" if built.unreadable else "")
        )
        if launch:
            url = f"http://{cfg.address}:{cfg.port}/datasets/{cfg.dataset_name}"
            fiftyone_app.launch(dataset, cfg.address, cfg.port, block=block, section="annotate")
            parts.append(f"App was served at {url}" if block else f"App serving at {url}")
    return "; ".join(parts)
