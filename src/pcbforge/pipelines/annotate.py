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

from pcbforge.annotate import crops
from pcbforge.annotate.fiftyone_boxes import LabelledBoard, Thresholds
from pcbforge.annotate.yolo import parse_names, read_data_yaml
from pcbforge.config import Params
from pcbforge.datasets.manifest import shown_path
from pcbforge.errors import InputError

log = logging.getLogger(__name__)


def _data_yaml_names(root: Path) -> list[str]:
    """The class names of ``root/data.yaml`` as written there (not mapped: a pull writes indices back)."""
    if not root.is_dir():
        raise InputError(f"boards directory not found: {root} (set crop.boards to a YOLO folder or run `pcbforge catalog`)")
    data_yaml = root / "data.yaml"
    try:
        text = data_yaml.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{data_yaml}: missing (a YOLO folder needs data.yaml with the class 'names:')") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{data_yaml}: unreadable: {exc}") from exc
    return parse_names(read_data_yaml(text, str(data_yaml)), str(data_yaml))


def labelled_boards(params: Params) -> list[LabelledBoard]:
    """Every board photo of the crop stage's input with its label file and ``data.yaml`` names.

    The one place box review learns which boards there are: it pairs files the way crop
    does (:func:`~pcbforge.annotate.crops.scan_boards`); when crop enumerates several board
    sources and layouts (``pipelines.crop.board_jobs``), this is what to point at it. A board
    without a photo (nothing to show) or with two photos (ambiguous) is left out with a
    warning; a photo without a label file is in (a pull creates the file when boxes are drawn).
    """
    root = params.boards_dir()
    names = tuple(_data_yaml_names(root))
    source = shown_path(root, params.root)
    out = []
    for job in crops.scan_boards(root, names, source_root=source, project=params.root):
        if job.image is None or job.problem:
            log.warning("box review skips board %s: %s", job.board, job.problem or f"no image for {job.where(job.labels_name)}")
            continue
        labels = job.labels or root / job.labels_name
        out.append(LabelledBoard(job.board, job.image, labels, names, source, job.where(job.labels_name)))
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
